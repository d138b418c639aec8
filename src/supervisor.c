/*
 * supervisor.c -- fork/exec workers, SIGCHLD, backoff, reload, control.
 *
 * Workers are a table (struct worker), not a set of special cases: every
 * event -- a worker ready, a worker exit, a timer, a control request --
 * changes a worker's state and then re-evaluates the pending jobs (the
 * control requests waiting for workers to become ready or to go away).
 *
 * Each worker gets a pipe as HERD_READY_FD: it writes READY once
 * listening, PEERS <up> <configured> whenever a link changes, or FAIL
 * <reason> before exiting on a start-up error.  PR_SET_PDEATHSIG makes a
 * worker exit if the supervisor dies.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "herd/auth.h"
#include "herd/control.h"
#include "herd/log.h"
#include "herd/reload.h"
#include "herd/sdnotify.h"
#include "herd/supervisor.h"

#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		30000
#define BACKOFF_RESET_S		10	/* up this long: next crash is "first" */
#define STOP_TIMEOUT_S		5	/* SIGTERM, then SIGKILL */
#define READY_TIMEOUT_S		10	/* a job gives up waiting */
#define EXIT_CONFIG		78

enum wstate {
	W_STOPPED,
	W_STARTING,	/* forked, not yet listening */
	W_RUNNING,
	W_BACKOFF,	/* crashed; restart timer armed */
	W_FATAL,	/* configuration error; not restarted */
	W_STOPPING,	/* SIGTERM sent */
};

static const char *state_names[] = {
	"stopped", "starting", "running", "backoff", "fatal", "stopping"
};

struct worker {
	TAILQ_ENTRY(worker)	 entry;
	struct supervisor	*sv;
	char			 name[HERD_NAME_MAX + 1];
	unsigned		 port;
	size_t			 peers;		/* configured links */
	size_t			 peers_up;
	unsigned long		 records;	/* as last reported */
	enum wstate		 state;
	pid_t			 pid;
	unsigned		 gen;		/* incarnations spawned */
	unsigned		 ready_gen;	/* last incarnation that was ready */
	unsigned		 failed_gen;	/* last that died before ready */
	int			 status_fd;
	struct event		*status_ev;
	char			 sbuf[512];
	size_t			 slen;
	struct event		*timer;		/* backoff or kill timeout */
	struct timespec		 started;	/* monotonic */
	unsigned		 restarts;	/* automatic restarts */
	unsigned		 backoff_ms;
	int			 have_exit;
	int			 last_status;	/* waitpid status */
	int			 held;		/* stopped on purpose */
	int			 removing;	/* gone from the config */
	int			 restart_pending;
	unsigned		 reloads;	/* RELOADED lines received */
	int			 reload_failed;	/* the last one was an error */
	char			 fail[256];	/* FAIL reason / exec error */
	char			 reload_err[256]; /* the last reload's error */
};

enum job_kind {
	JOB_INITIAL,	/* supervisor start: all ready, or give up */
	JOB_READY,	/* start NAME / reload: these ready */
	JOB_GONE,	/* stop NAME: these exited */
	JOB_RESTART,	/* restart: one at a time */
	JOB_STOP_ALL,	/* stop: everything, then exit */
};

struct job_item {
	char		 name[HERD_NAME_MAX + 1];
	unsigned	 gen;		/* incarnation before the job */
	int		 done;
	int		 started;	/* restart: step begun */
	int		 reload;	/* reload: wait for RELOADED */
	unsigned	 reloads;	/* ... beyond this count */
	int		 gone;		/* reload: wait for it to exit */
};

struct job {
	TAILQ_ENTRY(job)	 entry;
	enum job_kind		 kind;
	struct control_conn	*conn;
	struct job_item		*items;
	size_t			 nitems;
	cJSON			*reply;		/* built up, sent when done */
	int			 failed;
	struct timespec		 deadline;
	int			 sd_ready;	/* send READY=1 when done */
};

struct supervisor {
	struct event_base	*base;
	const struct sv_options	*opt;
	struct herd_config	*cfg;
	char			 node_bin[PATH_MAX];
	TAILQ_HEAD(, worker)	 workers;
	TAILQ_HEAD(, job)	 jobs;
	struct control		*ctl;
	struct event		*sig_ev[6];
	struct event		*watchdog;
	struct event		*tick;		/* job deadlines */
	int			 stopping;
	int			 exit_code;
	int			 report_fd;
	pid_t			 pid;
	int			 polling;	/* in jobs_poll */
	int			 repoll;	/* ... and asked again */
	struct auth_secret	 secret;	/* secret_file's content */
	int			 secret_ok;	/* ... when it could be read */
};

static struct worker *worker_find(struct supervisor *, const char *);
static struct worker *worker_new(struct supervisor *,
		    const struct herd_server *);
static void	worker_free(struct worker *);
static void	worker_spawn(struct worker *);
static void	worker_child(struct supervisor *, int, const char **)
		    __attribute__((noreturn));
static void	worker_backoff(struct worker *, const char *, long);
static void	worker_stop(struct worker *, int);
static void	worker_exited(struct worker *, int);
static void	worker_timer_cb(evutil_socket_t, short, void *);
static void	worker_status_cb(evutil_socket_t, short, void *);
static void	worker_line(struct worker *, char *);
static void	worker_set_config(struct worker *, const struct herd_server *);
static char	*exit_string(int, char *, size_t);
static cJSON	*worker_json(struct worker *);
static struct job *job_new(struct supervisor *, enum job_kind,
		    struct control_conn *);
static int	job_add(struct job *, struct worker *);
static void	jobs_poll(struct supervisor *);
static int	job_poll(struct supervisor *, struct job *);
static void	job_finish(struct supervisor *, struct job *);
static void	tick_cb(evutil_socket_t, short, void *);
static void	signal_cb(evutil_socket_t, short, void *);
static void	watchdog_cb(evutil_socket_t, short, void *);
static void	control_request(struct control_conn *, int, char **, void *);
static void	cmd_status(struct supervisor *, struct control_conn *, int,
		    char **);
static void	cmd_start(struct supervisor *, struct control_conn *, int,
		    char **);
static void	cmd_stop(struct supervisor *, struct control_conn *, int,
		    char **);
static void	cmd_restart(struct supervisor *, struct control_conn *, int,
		    char **);
static void	cmd_reload(struct supervisor *, struct control_conn *);
static void	stop_all(struct supervisor *, struct control_conn *);
static void	reply_error(struct control_conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	reply_json(struct control_conn *, cJSON *);
static void	report(struct supervisor *, const char *);
static void	sd_status(struct supervisor *);
static int	find_node_bin(char *, size_t);
static int	sv_is_local(struct supervisor *, const struct herd_server *);
static int	sv_secret_changed(struct supervisor *,
		    const struct herd_config *);

/* --- where things are ------------------------------------------------- */

/* Return (malloc'd) the configured run directory, else $HERD_RUN_DIR if
 * absolute, else /run/herd for root, $XDG_RUNTIME_DIR/herd or /tmp/herd-UID. */
char *
supervisor_run_dir(const char *configured)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *env = getenv("HERD_RUN_DIR");
	char *dir = NULL;

	if (configured != NULL)
		return strdup(configured);
	if (env != NULL && env[0] == '/')
		return strdup(env);
	if (geteuid() == 0)
		return strdup("/run/herd");
	if (xdg != NULL && xdg[0] == '/') {
		if (asprintf(&dir, "%s/herd", xdg) == -1)
			return NULL;
		return dir;
	}
	if (asprintf(&dir, "/tmp/herd-%ld", (long)geteuid()) == -1)
		return NULL;
	return dir;
}

/* Create run_dir (0700, ours) and flock its pid file; -1 with err set, and
 * *other_pid read from the file when another supervisor holds it. */
int
supervisor_lock(const char *run_dir, int *lock_fd, long *other_pid,
    char *err, size_t errsize)
{
	char path[PATH_MAX], buf[32];
	struct stat st;
	ssize_t n;
	int fd, dfd;

	*other_pid = 0;
	if (mkdir(run_dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errsize, "cannot create run directory %s: %s",
		    run_dir, strerror(errno));
		return -1;
	}
	/* Never follow a symlink: in /tmp anyone may have planted one. */
	if (lstat(run_dir, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    (dfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		snprintf(err, errsize, "run directory %s is not a directory"
		    " (or is a symbolic link)", run_dir);
		return -1;
	}
	if (fstat(dfd, &st) == -1 || st.st_uid != geteuid()) {
		snprintf(err, errsize, "run directory %s belongs to uid %ld,"
		    " not to us", run_dir, (long)st.st_uid);
		close(dfd);
		return -1;
	}
	if ((st.st_mode & 077) != 0 && fchmod(dfd, 0700) == -1) {
		snprintf(err, errsize, "cannot restrict %s to its owner: %s",
		    run_dir, strerror(errno));
		close(dfd);
		return -1;
	}
	close(dfd);
	snprintf(path, sizeof(path), "%s/%s", run_dir, CONTROL_PIDFILE);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errsize, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			*other_pid = strtol(buf, NULL, 10);
		}
		snprintf(err, errsize, "another supervisor (pid %ld) is running"
		    " on %s", *other_pid, run_dir);
		close(fd);
		return -1;
	}
	*lock_fd = fd;
	return 0;
}

/* Is addr (numeric) one of this machine's addresses? */
static int
addr_is_local(const char *addr, struct ifaddrs *ifs)
{
	struct in_addr a4;
	struct in6_addr a6;
	struct ifaddrs *i;

	if (inet_pton(AF_INET, addr, &a4) == 1) {
		if ((ntohl(a4.s_addr) >> 24) == 127)
			return 1;
		for (i = ifs; i != NULL; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
			    ((struct sockaddr_in *)(void *)i->ifa_addr)->
			    sin_addr.s_addr == a4.s_addr)
				return 1;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return 1;
		for (i = ifs; i != NULL; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 &&
			    memcmp(&((struct sockaddr_in6 *)(void *)
			    i->ifa_addr)->sin6_addr, &a6, sizeof(a6)) == 0)
				return 1;
	}
	return 0;
}

/* True when s's bind address, or its host when bound to a wildcard, is
 * loopback or on a local interface. */
int
supervisor_is_local(const struct herd_server *s)
{
	struct ifaddrs *ifs = NULL;
	int local;

	if (getifaddrs(&ifs) == -1) {
		log_warn("getifaddrs (only loopback counts as local)");
		ifs = NULL;
	}
	if (strcmp(s->bind, "0.0.0.0") == 0 || strcmp(s->bind, "::") == 0)
		local = addr_is_local(s->host, ifs);
	else
		local = addr_is_local(s->bind, ifs);
	if (ifs != NULL)
		freeifaddrs(ifs);
	return local;
}

/* Should s run here: listed in --only when given, else local by address? */
static int
sv_is_local(struct supervisor *sv, const struct herd_server *s)
{
	size_t i;

	if (sv->opt->only == NULL)
		return supervisor_is_local(s);
	for (i = 0; i < sv->opt->nonly; i++)
		if (strcmp(sv->opt->only[i], s->name) == 0)
			return 1;
	return 0;
}

/* $HERD_NODE_BIN, else herd-node next to our own binary, else PATH. */
static int
find_node_bin(char *out, size_t size)
{
	const char *env = getenv("HERD_NODE_BIN");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env != NULL && *env != '\0') {
		snprintf(out, size, "%s", env);
		return 0;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(out, size, "%.*s/herd-node",
			    (int)(size - 16), self) < size &&
			    access(out, X_OK) == 0)
				return 0;
		}
	}
	snprintf(out, size, "herd-node");
	return 0;
}

/* --- workers ------------------------------------------------------------- */

/* Return the worker named name, or NULL. */
static struct worker *
worker_find(struct supervisor *sv, const char *name)
{
	struct worker *w;

	TAILQ_FOREACH(w, &sv->workers, entry)
		if (strcmp(w->name, name) == 0)
			return w;
	return NULL;
}

/* Copy s's port and link count into w, capping peers_up. */
static void
worker_set_config(struct worker *w, const struct herd_server *s)
{
	w->port = s->port;
	w->peers = s->nlinks;
	if (w->peers_up > w->peers)
		w->peers_up = w->peers;
}

/* Add a stopped worker for server s to the table. */
static struct worker *
worker_new(struct supervisor *sv, const struct herd_server *s)
{
	struct worker *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("calloc");
	w->sv = sv;
	snprintf(w->name, sizeof(w->name), "%s", s->name);
	worker_set_config(w, s);
	w->status_fd = -1;
	w->backoff_ms = BACKOFF_MIN_MS;
	if ((w->timer = evtimer_new(sv->base, worker_timer_cb, w)) == NULL)
		fatalx("evtimer_new failed");
	TAILQ_INSERT_TAIL(&sv->workers, w, entry);
	return w;
}

/* Unlink w from the table and free it with its status pipe and timer. */
static void
worker_free(struct worker *w)
{
	TAILQ_REMOVE(&w->sv->workers, w, entry);
	if (w->status_ev != NULL)
		event_free(w->status_ev);
	if (w->status_fd != -1)
		close(w->status_fd);
	event_free(w->timer);
	free(w);
}

/* Fork and exec herd-node for w, its status pipe passed as HERD_READY_FD; w
 * is then STARTING, or in backoff (retried) when pipe or fork failed. */
static void
worker_spawn(struct worker *w)
{
	struct supervisor *sv = w->sv;
	int fds[2];
	const char *argv[8];
	int argc = 0;
	pid_t pid;

	evtimer_del(w->timer);
	if (pipe2(fds, O_CLOEXEC) == -1) {
		worker_backoff(w, "cannot create its status pipe", -1);
		return;
	}
	argv[argc++] = "herd-node";
	argv[argc++] = "-c";
	argv[argc++] = sv->opt->config_path;
	if (sv->opt->foreground)
		argv[argc++] = "--stderr";
	argv[argc++] = w->name;
	argv[argc] = NULL;

	if ((pid = fork()) == -1) {
		worker_backoff(w, "cannot fork", -1);
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		worker_child(sv, fds[1], argv);
	}
	close(fds[1]);
	(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	if (w->status_ev != NULL)
		event_free(w->status_ev);
	if (w->status_fd != -1)
		close(w->status_fd);
	w->status_fd = fds[0];
	w->slen = 0;
	w->status_ev = event_new(sv->base, fds[0], EV_READ | EV_PERSIST,
	    worker_status_cb, w);
	event_add(w->status_ev, NULL);
	w->pid = pid;
	w->gen++;
	w->state = W_STARTING;
	w->peers_up = 0;
	w->records = 0;
	w->fail[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &w->started);
	log_info("%s: started pid %ld", w->name, (long)pid);
}

/*
 * In the forked child: die with the supervisor, give the new program a
 * clean process (default signal dispositions, nothing blocked, no
 * descriptor but stdio and the status pipe, as fd 3), and exec herd-node.
 */
static void
worker_child(struct supervisor *sv, int fd, const char **argv)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != sv->pid)
		_exit(1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);	/* KILL, STOP: EINVAL */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (fd != 3) {
		if (dup2(fd, 3) == -1)
			_exit(127);
		close(fd);
	}
	(void)fcntl(3, F_SETFD, 0);
	if (close_range(4, ~0U, 0) == -1)
		for (fd = 4; fd < 1024; fd++)
			(void)close(fd);
	setenv("HERD_READY_FD", "3", 1);
	/* systemd talks to the supervisor, not to its workers. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	execvp(sv->node_bin, (char *const *)(uintptr_t)argv);
	dprintf(3, "FAIL cannot execute %s: %s\n", sv->node_bin,
	    strerror(errno));
	_exit(127);
}

/* Put w in backoff: log why (with errno when up < 0: not started at all),
 * arm the restart timer and double the next delay. */
static void
worker_backoff(struct worker *w, const char *why, long up)
{
	struct timeval tv;

	w->state = W_BACKOFF;
	tv.tv_sec = w->backoff_ms / 1000;
	tv.tv_usec = (w->backoff_ms % 1000) * 1000;
	evtimer_add(w->timer, &tv);
	if (up < 0) {
		snprintf(w->fail, sizeof(w->fail), "%s: %s", why,
		    strerror(errno));
		log_warnx("%s: %s; retrying in %u ms", w->name, w->fail,
		    w->backoff_ms);
	} else
		log_warnx("%s: pid exited (%s)%s%s after %ld s; restarting in"
		    " %u ms", w->name, why, w->fail[0] ? ": " : "", w->fail,
		    up, w->backoff_ms);
	w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ?
	    BACKOFF_MAX_MS : w->backoff_ms * 2;
}

/* Ask a worker to stop; hold: keep it stopped afterwards. */
static void
worker_stop(struct worker *w, int hold)
{
	struct timeval tv = { STOP_TIMEOUT_S, 0 };

	if (hold)
		w->held = 1;
	if (w->pid == 0) {
		if (w->state == W_BACKOFF || w->state == W_FATAL)
			evtimer_del(w->timer);
		if (w->state != W_FATAL || hold)
			w->state = W_STOPPED;
		return;
	}
	if (w->state != W_STOPPING) {
		kill(w->pid, SIGTERM);
		w->state = W_STOPPING;
		evtimer_add(w->timer, &tv);
		log_info("%s: stopping pid %ld", w->name, (long)w->pid);
	}
}

/* SIGKILL a worker still stopping after STOP_TIMEOUT_S, or respawn one whose
 * backoff ended. */
static void
worker_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	if (w->state == W_STOPPING && w->pid != 0) {
		log_warnx("%s: pid %ld did not stop in %d s, killing",
		    w->name, (long)w->pid, STOP_TIMEOUT_S);
		kill(w->pid, SIGKILL);
	} else if (w->state == W_BACKOFF && !w->held) {
		w->restarts++;
		worker_spawn(w);
		jobs_poll(w->sv);
	}
}

/* Describe a waitpid status ("exit N", "signal N (NAME)") in buf, returned. */
static char *
exit_string(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "signal %d (%s)", WTERMSIG(status),
		    sigabbrev_np(WTERMSIG(status)) ?
		    sigabbrev_np(WTERMSIG(status)) : "?");
	else
		snprintf(buf, size, "status %d", status);
	return buf;
}

/* Record w's exit, then free it if removed, respawn a pending restart, or
 * set it stopped, fatal (exit 78) or in backoff for a restart. */
static void
worker_exited(struct worker *w, int status)
{
	struct supervisor *sv = w->sv;
	struct timespec now;
	char how[64];
	long up;
	int was_ready = w->state == W_RUNNING || (w->state == W_STOPPING &&
	    w->ready_gen == w->gen);

	clock_gettime(CLOCK_MONOTONIC, &now);
	up = now.tv_sec - w->started.tv_sec;
	w->pid = 0;
	w->have_exit = 1;
	w->last_status = status;
	w->peers_up = 0;
	w->records = 0;
	evtimer_del(w->timer);
	if (w->status_ev != NULL) {
		/* Read a FAIL line still in the pipe before closing it. */
		worker_status_cb(w->status_fd, EV_READ, w);
		event_free(w->status_ev);
		w->status_ev = NULL;
	}
	if (w->status_fd != -1) {
		close(w->status_fd);
		w->status_fd = -1;
	}
	if (!was_ready && w->ready_gen != w->gen)
		w->failed_gen = w->gen;
	exit_string(status, how, sizeof(how));
	if (w->removing) {
		log_info("%s: stopped (%s), removed", w->name, how);
		worker_free(w);
		return;
	}
	if (w->restart_pending && !sv->stopping) {
		w->restart_pending = 0;
		log_info("%s: stopped (%s), restarting", w->name, how);
		worker_spawn(w);
		return;
	}
	if (w->held || sv->stopping) {
		w->state = W_STOPPED;
		log_info("%s: stopped (%s)", w->name, how);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_CONFIG) {
		w->state = W_FATAL;
		log_warnx("%s: configuration error (%s)%s%s; not restarting"
		    " until asked", w->name, how, w->fail[0] ? ": " : "",
		    w->fail);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		w->state = W_STOPPED;
		log_info("%s: exited cleanly; not restarting (herdctl start"
		    " %s)", w->name, w->name);
	} else {
		if (up >= BACKOFF_RESET_S)
			w->backoff_ms = BACKOFF_MIN_MS;
		worker_backoff(w, how, up);
	}
}

/* Apply a status line from w: READY, PEERS up total, RECORDS n, FAIL why,
 * or RELOADED ok|error why (its answer to SIGHUP). */
static void
worker_line(struct worker *w, char *line)
{
	unsigned long up, total;

	if (strcmp(line, "READY") == 0) {
		if (w->state == W_STARTING)
			w->state = W_RUNNING;
		w->ready_gen = w->gen;
		log_info("%s: ready (pid %ld)", w->name, (long)w->pid);
		sd_status(w->sv);
	} else if (sscanf(line, "PEERS %lu %lu", &up, &total) == 2) {
		w->peers_up = up;
	} else if (sscanf(line, "RECORDS %lu", &up) == 1) {
		w->records = up;
	} else if (strncmp(line, "FAIL ", 5) == 0) {
		snprintf(w->fail, sizeof(w->fail), "%s", line + 5);
	} else if (strcmp(line, "RELOADED ok") == 0) {
		w->reloads++;
		w->reload_failed = 0;
	} else if (strncmp(line, "RELOADED error ", 15) == 0) {
		w->reloads++;
		w->reload_failed = 1;
		snprintf(w->reload_err, sizeof(w->reload_err), "%s",
		    line + 15);
		log_warnx("%s: rejected the new configuration: %s", w->name,
		    w->reload_err);
	}
}

/* Read w's status pipe, apply each complete line, stop watching at EOF, then
 * poll the jobs. */
static void
worker_status_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	char *nl, *p;
	ssize_t n;

	(void)what;
	for (;;) {
		if (w->slen == sizeof(w->sbuf) - 1)
			w->slen = 0;		/* no such long lines: reset */
		n = read(fd, w->sbuf + w->slen, sizeof(w->sbuf) - 1 - w->slen);
		if (n <= 0)
			break;
		w->slen += (size_t)n;
		w->sbuf[w->slen] = '\0';
		p = w->sbuf;
		while ((nl = strchr(p, '\n')) != NULL) {
			*nl = '\0';
			worker_line(w, p);
			p = nl + 1;
		}
		w->slen -= (size_t)(p - w->sbuf);
		memmove(w->sbuf, p, w->slen);
	}
	if (n == 0 && w->status_ev != NULL) {
		/* EOF: the worker is exiting; SIGCHLD tells the rest. */
		event_del(w->status_ev);
	}
	jobs_poll(w->sv);
}

/* Describe w as a JSON object for status replies. */
static cJSON *
worker_json(struct worker *w)
{
	cJSON *o = cJSON_CreateObject();
	struct timespec now;
	char how[64];

	clock_gettime(CLOCK_MONOTONIC, &now);
	cJSON_AddStringToObject(o, "name", w->name);
	cJSON_AddStringToObject(o, "state", state_names[w->state]);
	if (w->pid != 0)
		cJSON_AddNumberToObject(o, "pid", w->pid);
	else
		cJSON_AddNullToObject(o, "pid");
	cJSON_AddNumberToObject(o, "port", w->port);
	cJSON_AddNumberToObject(o, "uptime_s", w->pid != 0 ?
	    (double)(now.tv_sec - w->started.tv_sec) : 0);
	cJSON_AddNumberToObject(o, "restarts", w->restarts);
	if (w->have_exit)
		cJSON_AddStringToObject(o, "last_exit", exit_string(
		    w->last_status, how, sizeof(how)));
	else
		cJSON_AddNullToObject(o, "last_exit");
	cJSON_AddNumberToObject(o, "peers_up", (double)w->peers_up);
	cJSON_AddNumberToObject(o, "peers", (double)w->peers);
	cJSON_AddNumberToObject(o, "records", (double)w->records);
	if (w->fail[0] != '\0')
		cJSON_AddStringToObject(o, "error", w->fail);
	return o;
}

/* --- jobs: control requests waiting on workers ------------------------ */

/* Queue a job of kind for c (NULL: none) with a READY_TIMEOUT_S deadline. */
static struct job *
job_new(struct supervisor *sv, enum job_kind kind, struct control_conn *c)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("calloc");
	j->kind = kind;
	j->conn = c;
	j->reply = cJSON_CreateObject();
	clock_gettime(CLOCK_MONOTONIC, &j->deadline);
	j->deadline.tv_sec += READY_TIMEOUT_S;
	TAILQ_INSERT_TAIL(&sv->jobs, j, entry);
	return j;
}

/* Append w to j's items with its current incarnation. */
static int
job_add(struct job *j, struct worker *w)
{
	struct job_item *n;

	n = realloc(j->items, (j->nitems + 1) * sizeof(*n));
	if (n == NULL)
		fatal("realloc");
	j->items = n;
	memset(&n[j->nitems], 0, sizeof(n[j->nitems]));
	snprintf(n[j->nitems].name, sizeof(n[j->nitems].name), "%s", w->name);
	n[j->nitems].gen = w->gen;
	j->nitems++;
	return 0;
}

/* Note a failed item in the reply. */
static void
job_fail(struct job *j, struct worker *w, const char *why)
{
	cJSON *errs = cJSON_GetObjectItem(j->reply, "errors");
	char msg[512];

	if (errs == NULL)
		errs = cJSON_AddArrayToObject(j->reply, "errors");
	snprintf(msg, sizeof(msg), "%s: %s", w ? w->name : "?", why);
	cJSON_AddItemToArray(errs, cJSON_CreateString(msg));
	j->failed = 1;
}

/* Has the item's worker become ready (or, for a reload, confirmed the new
 * file, or exited when removed) since the job began?  1 yes, 0 not yet, -1
 * it failed. */
static int
item_ready(struct job *j, struct job_item *it, struct worker *w)
{
	char how[64], msg[400];
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (it->gone) {
		/* Removed: done once that incarnation exited (a later reload
		 * may have started it again). */
		if (w == NULL || w->pid == 0 || w->gen != it->gen)
			return 1;
		if (now.tv_sec >= j->deadline.tv_sec) {
			job_fail(j, w, "did not stop in time");
			return -1;
		}
		return 0;
	}
	if (w == NULL)
		return -1;
	if (it->reload && w->gen == it->gen) {
		/* Signalled: wait for its answer (a respawn reads the new
		 * file anyway, so then readiness is enough). */
		if (w->reloads != it->reloads && w->reload_failed) {
			snprintf(msg, sizeof(msg), "rejected the new"
			    " configuration: %s", w->reload_err);
			job_fail(j, w, msg);
			return -1;
		}
		if (w->reloads != it->reloads)
			return 1;
		if (now.tv_sec >= j->deadline.tv_sec) {
			job_fail(j, w, "did not confirm the reload in time");
			return -1;
		}
		return 0;
	}
	if (w->ready_gen > it->gen && w->state == W_RUNNING)
		return 1;
	if (w->failed_gen > it->gen || w->state == W_FATAL) {
		snprintf(msg, sizeof(msg), "did not start (%s)%s%s",
		    w->have_exit ? exit_string(w->last_status, how,
		    sizeof(how)) : "no exit", w->fail[0] ? ": " : "", w->fail);
		job_fail(j, w, msg);
		return -1;
	}
	if (now.tv_sec >= j->deadline.tv_sec) {
		job_fail(j, w, "not ready in time");
		return -1;
	}
	return 0;
}

/* Advance a job; 1 when it is complete. */
static int
job_poll(struct supervisor *sv, struct job *j)
{
	struct worker *w;
	size_t i;
	int r, pending = 0;

	switch (j->kind) {
	case JOB_INITIAL:
	case JOB_READY:
		for (i = 0; i < j->nitems; i++) {
			if (j->items[i].done)
				continue;
			r = item_ready(j, &j->items[i],
			    worker_find(sv, j->items[i].name));
			if (r == 0)
				pending = 1;
			else
				j->items[i].done = 1;
		}
		return !pending;
	case JOB_GONE:
	case JOB_STOP_ALL:
		if (j->kind == JOB_STOP_ALL) {
			TAILQ_FOREACH(w, &sv->workers, entry)
				if (w->pid != 0)
					return 0;
			return 1;
		}
		for (i = 0; i < j->nitems; i++)
			if ((w = worker_find(sv, j->items[i].name)) != NULL &&
			    w->pid != 0)
				return 0;
		return 1;
	case JOB_RESTART:
		/* One at a time: the next starts once the last is ready. */
		for (i = 0; i < j->nitems; i++) {
			struct job_item *it = &j->items[i];

			if (it->done)
				continue;
			w = worker_find(sv, it->name);
			if (!it->started) {
				it->started = 1;
				it->gen = w ? w->gen : 0;
				clock_gettime(CLOCK_MONOTONIC, &j->deadline);
				j->deadline.tv_sec += READY_TIMEOUT_S +
				    STOP_TIMEOUT_S;
				if (w == NULL) {
					it->done = 1;
					continue;
				}
				w->held = 0;
				if (w->pid != 0) {
					w->restart_pending = 1;
					worker_stop(w, 0);
				} else
					worker_spawn(w);
			}
			r = item_ready(j, it, w);
			if (r == 0)
				return 0;
			it->done = 1;
		}
		return 1;
	}
	return 1;
}

/* Complete j: for the initial start report success (READY=1) or stop
 * everything; reply to its client, free it, and end the loop when stopping. */
static void
job_finish(struct supervisor *sv, struct job *j)
{
	TAILQ_REMOVE(&sv->jobs, j, entry);
	cJSON_AddBoolToObject(j->reply, "ok", !j->failed);
	if (j->kind == JOB_INITIAL) {
		if (j->failed) {
			cJSON *errs = cJSON_GetObjectItem(j->reply, "errors");
			cJSON *e;

			cJSON_ArrayForEach(e, errs) {
				log_warnx("start failed: %s", e->valuestring);
				report(sv, e->valuestring);
			}
			sv->exit_code = 1;
			stop_all(sv, NULL);
		} else {
			log_info("all workers ready");
			report(sv, NULL);
			sdnotify("READY=1");
			sd_status(sv);
		}
	} else if (j->sd_ready) {
		sdnotify("READY=1");
		sd_status(sv);
	}
	if (j->conn != NULL)
		reply_json(j->conn, j->reply);
	cJSON_Delete(j->reply);
	free(j->items);
	free(j);
	if (sv->stopping && TAILQ_EMPTY(&sv->jobs)) {
		struct timeval flush = { 0, 100000 };	/* replies go out */

		event_base_loopexit(sv->base, &flush);
	}
}

/*
 * Advance every pending job and finish those that are complete.  Finishing
 * a job may add or finish others (a failed start stops everything), so a
 * nested call only asks for another pass, and every pass after a finish
 * starts again from the head: no pointer into the list outlives a finish.
 */
static void
jobs_poll(struct supervisor *sv)
{
	struct job *j;

	if (sv->polling) {
		sv->repoll = 1;
		return;
	}
	sv->polling = 1;
	do {
		sv->repoll = 0;
		TAILQ_FOREACH(j, &sv->jobs, entry) {
			if (job_poll(sv, j)) {
				job_finish(sv, j);
				sv->repoll = 1;
				break;
			}
		}
	} while (sv->repoll);
	sv->polling = 0;
}

/* Once a second: poll the jobs, so that their deadlines pass. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	jobs_poll(arg);
}

/* --- control requests ------------------------------------------------- */

/* Send o, unformatted, as the reply to c. */
static void
reply_json(struct control_conn *c, cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	control_reply(c, s ? s : "{\"ok\":false,\"error\":\"out of memory\"}");
	free(s);
}

/* Reply to c with {"ok":false,"error":...}, formatted printf-style. */
static void
reply_error(struct control_conn *c, const char *fmt, ...)
{
	cJSON *o = cJSON_CreateObject();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", msg);
	reply_json(c, o);
	cJSON_Delete(o);
}

/* Check every NAME argument names a worker; reply and -1 if not. */
static int
check_names(struct supervisor *sv, struct control_conn *c, int argc,
    char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (worker_find(sv, argv[i]) != NULL)
			continue;
		if (config_server(sv->cfg, argv[i]) != NULL)
			reply_error(c, "%s runs on another machine (not"
			    " supervised here)", argv[i]);
		else
			reply_error(c, "no server named %s in %s", argv[i],
			    sv->opt->config_path);
		return -1;
	}
	return 0;
}

/* Reply with the supervisor's pid, config path and the status of each named
 * (or every) worker. */
static void
cmd_status(struct supervisor *sv, struct control_conn *c, int argc,
    char **argv)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	struct worker *w;
	int i;

	if (check_names(sv, c, argc, argv) == -1) {
		cJSON_Delete(o);
		return;
	}
	cJSON_AddBoolToObject(o, "ok", 1);
	cJSON_AddNumberToObject(o, "supervisor_pid", sv->pid);
	cJSON_AddStringToObject(o, "config", sv->opt->config_path);
	arr = cJSON_AddArrayToObject(o, "servers");
	TAILQ_FOREACH(w, &sv->workers, entry) {
		if (argc > 1) {
			for (i = 1; i < argc; i++)
				if (strcmp(argv[i], w->name) == 0)
					break;
			if (i == argc)
				continue;
		}
		cJSON_AddItemToArray(arr, worker_json(w));
	}
	reply_json(c, o);
	cJSON_Delete(o);
}

/* Start the named workers, clearing their hold; reply once all are ready. */
static void
cmd_start(struct supervisor *sv, struct control_conn *c, int argc,
    char **argv)
{
	struct job *j;
	struct worker *w;
	int i;

	if (argc < 2) {
		reply_error(c, "the supervisor is already running (pid %ld)",
		    (long)sv->pid);
		return;
	}
	if (check_names(sv, c, argc, argv) == -1)
		return;
	j = job_new(sv, JOB_READY, c);
	for (i = 1; i < argc; i++) {
		w = worker_find(sv, argv[i]);
		job_add(j, w);
		w->held = 0;
		if (w->pid == 0) {
			w->backoff_ms = BACKOFF_MIN_MS;
			worker_spawn(w);
		} else if (w->state == W_RUNNING) {
			/* Already up: count it as ready now. */
			j->items[j->nitems - 1].gen = w->ready_gen - 1;
		} else if (w->state == W_STARTING) {
			/* Starting now: this incarnation's READY or failure
			 * answers, not the next one's (which may never come). */
			j->items[j->nitems - 1].gen = w->gen - 1;
		}
	}
	jobs_poll(sv);
}

/* Stop and hold the named workers, replying once they exited; no names stops
 * everything. */
static void
cmd_stop(struct supervisor *sv, struct control_conn *c, int argc,
    char **argv)
{
	struct job *j;
	struct worker *w;
	int i;

	if (argc < 2) {
		stop_all(sv, c);
		return;
	}
	if (check_names(sv, c, argc, argv) == -1)
		return;
	j = job_new(sv, JOB_GONE, c);
	for (i = 1; i < argc; i++) {
		w = worker_find(sv, argv[i]);
		job_add(j, w);
		w->restart_pending = 0;
		worker_stop(w, 1);
	}
	sd_status(sv);
	jobs_poll(sv);
}

/* Restart the named workers (all if none) one at a time, replying when done. */
static void
cmd_restart(struct supervisor *sv, struct control_conn *c, int argc,
    char **argv)
{
	struct job *j;
	struct worker *w;
	int i;

	if (check_names(sv, c, argc, argv) == -1)
		return;
	j = job_new(sv, JOB_RESTART, c);
	if (argc < 2) {
		TAILQ_FOREACH(w, &sv->workers, entry)
			job_add(j, w);
	} else
		for (i = 1; i < argc; i++)
			job_add(j, worker_find(sv, argv[i]));
	jobs_poll(sv);
}

/* Re-read the INI and apply the difference; c may be NULL (SIGHUP). */
static void
cmd_reload(struct supervisor *sv, struct control_conn *c)
{
	struct config_errors errs;
	struct herd_config *cfg;
	struct reload_plan plan;
	struct worker *w;
	struct job *j;
	cJSON *actions, *a, *earr;
	size_t i;

	log_info("reloading %s", sv->opt->config_path);
	if ((cfg = config_load(sv->opt->config_path, &errs)) == NULL) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddBoolToObject(o, "ok", 0);
		cJSON_AddStringToObject(o, "error", "invalid configuration;"
		    " nothing changed");
		earr = cJSON_AddArrayToObject(o, "errors");
		for (i = 0; i < errs.count; i++) {
			log_warnx("reload: %s", errs.msgs[i]);
			cJSON_AddItemToArray(earr,
			    cJSON_CreateString(errs.msgs[i]));
		}
		config_errors_free(&errs);
		if (c != NULL)
			reply_json(c, o);
		cJSON_Delete(o);
		return;
	}
	if (reload_plan(sv->cfg, cfg, sv_secret_changed(sv, cfg), &plan) == -1)
		fatal("reload_plan");
	sdnotifyf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    (unsigned long long)sdnotify_monotonic_usec());
	config_free(sv->cfg);
	sv->cfg = cfg;

	j = job_new(sv, JOB_READY, c);
	j->sd_ready = 1;
	actions = cJSON_AddArrayToObject(j->reply, "actions");
	for (i = 0; i < plan.count; i++) {
		const struct reload_item *it = &plan.items[i];
		const struct herd_server *s = config_server(cfg, it->name);
		enum reload_action act = it->action;
		int local = s != NULL && sv_is_local(sv, s);

		w = worker_find(sv, it->name);
		/* Moving onto or off this machine starts or stops it. */
		if ((w == NULL || w->removing) && local && act != RELOAD_STOP)
			act = RELOAD_START;
		else if (w != NULL && !local)
			act = RELOAD_STOP;
		else if (w == NULL)
			continue;
		if (act != RELOAD_KEEP)
			log_info("reload: %s: %s (%s)", it->name,
			    reload_action_name(act), it->why);
		a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "name", it->name);
		cJSON_AddStringToObject(a, "action", reload_action_name(act));
		cJSON_AddItemToArray(actions, a);
		switch (act) {
		case RELOAD_START:
			if (w != NULL) {
				/* Still stopping from an earlier reload: keep
				 * its entry and start it again once it exited
				 * (its port is free only then). */
				w->removing = 0;
				w->held = 0;
				w->restart_pending = 1;
				worker_set_config(w, s);
				job_add(j, w);
				break;
			}
			w = worker_new(sv, s);
			job_add(j, w);
			worker_spawn(w);
			break;
		case RELOAD_STOP:
			w->removing = 1;
			w->restart_pending = 0;
			if (w->pid == 0)
				worker_free(w);
			else {
				job_add(j, w);
				j->items[j->nitems - 1].gone = 1;
				worker_stop(w, 1);
			}
			break;
		case RELOAD_RESTART:
			worker_set_config(w, s);
			if (w->pid != 0) {
				job_add(j, w);
				w->restart_pending = 1;
				worker_stop(w, 0);
			} else if (!w->held) {
				/* in backoff or fatal: try the new settings */
				job_add(j, w);
				worker_spawn(w);
			}
			break;
		case RELOAD_SIGNAL:
			worker_set_config(w, s);
			if (w->pid != 0 && w->state == W_STOPPING &&
			    w->restart_pending) {
				job_add(j, w);	/* restarts with the new file */
			} else if (w->pid != 0 && w->state != W_STOPPING) {
				job_add(j, w);
				j->items[j->nitems - 1].reload = 1;
				j->items[j->nitems - 1].reloads = w->reloads;
				kill(w->pid, SIGHUP);
			}
			break;
		case RELOAD_KEEP:
			break;
		}
	}
	reload_plan_free(&plan);
	jobs_poll(sv);
}

/*
 * Read cfg's secret_file and say whether its content differs from the one
 * read last (or its readability changed), remembering the new one: a
 * rotated secret must reach every node even when the path stayed.
 */
static int
sv_secret_changed(struct supervisor *sv, const struct herd_config *cfg)
{
	struct auth_secret *now;
	char err[512];
	int ok, changed;

	if (cfg->herd.secret_file == NULL) {
		changed = sv->secret_ok;	/* dropped: path differs too */
		sv->secret_ok = 0;
		return changed;
	}
	if ((now = malloc(sizeof(*now))) == NULL)
		return 1;			/* cannot tell: signal */
	ok = auth_load_secret(cfg->herd.secret_file, now, err,
	    sizeof(err)) == 0;
	changed = !ok || !sv->secret_ok || now->len != sv->secret.len ||
	    memcmp(now->data, sv->secret.data, now->len) != 0;
	if (ok)
		memcpy(&sv->secret, now, sizeof(*now));
	sv->secret_ok = ok;
	explicit_bzero(now, sizeof(*now));
	free(now);
	return changed;
}

/* Stop every worker, then the supervisor. */
static void
stop_all(struct supervisor *sv, struct control_conn *c)
{
	struct worker *w;
	struct job *j;

	if (!sv->stopping) {
		log_info("stopping all workers");
		sdnotify("STOPPING=1\nSTATUS=stopping");
	}
	sv->stopping = 1;
	TAILQ_FOREACH(w, &sv->workers, entry)
		worker_stop(w, 1);
	j = job_new(sv, JOB_STOP_ALL, c);
	cJSON_AddNumberToObject(j->reply, "supervisor_pid", sv->pid);
	jobs_poll(sv);
}

/* Dispatch a control request: status, start, stop, restart, reload or ping. */
static void
control_request(struct control_conn *c, int argc, char **argv, void *arg)
{
	struct supervisor *sv = arg;
	cJSON *o;

	if (sv->stopping) {
		reply_error(c, "the supervisor is stopping");
		return;
	}
	if (strcmp(argv[0], "status") == 0)
		cmd_status(sv, c, argc, argv);
	else if (strcmp(argv[0], "start") == 0)
		cmd_start(sv, c, argc, argv);
	else if (strcmp(argv[0], "stop") == 0)
		cmd_stop(sv, c, argc, argv);
	else if (strcmp(argv[0], "restart") == 0)
		cmd_restart(sv, c, argc, argv);
	else if (strcmp(argv[0], "reload") == 0 && argc == 1)
		cmd_reload(sv, c);
	else if (strcmp(argv[0], "ping") == 0) {
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "ok", 1);
		cJSON_AddNumberToObject(o, "supervisor_pid", sv->pid);
		reply_json(c, o);
		cJSON_Delete(o);
	} else
		reply_error(c, "unknown request '%s'", argv[0]);
}

/* --- signals, systemd, reporting ---------------------------------------- */

/* CHLD reaps workers, HUP reloads, TERM/INT stop everything, USR1/USR2 go on
 * to the workers. */
static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct supervisor *sv = arg;
	struct worker *w;
	pid_t pid;
	int status;

	(void)what;
	switch (sig) {
	case SIGCHLD:
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			TAILQ_FOREACH(w, &sv->workers, entry)
				if (w->pid == pid)
					break;
			if (w != NULL)
				worker_exited(w, status);
		}
		sd_status(sv);
		jobs_poll(sv);
		break;
	case SIGHUP:
		if (!sv->stopping)
			cmd_reload(sv, NULL);
		break;
	case SIGTERM:
	case SIGINT:
		log_info("received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		if (!sv->stopping)
			stop_all(sv, NULL);
		break;
	case SIGUSR1:
	case SIGUSR2:
		TAILQ_FOREACH(w, &sv->workers, entry)
			if (w->pid != 0)
				kill(w->pid, (int)sig);
		break;
	}
}

/* Ping the systemd watchdog. */
static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sdnotify("WATCHDOG=1");
}

/* One-line summary for systemctl status. */
static void
sd_status(struct supervisor *sv)
{
	struct worker *w;
	size_t n = 0, up = 0;

	TAILQ_FOREACH(w, &sv->workers, entry) {
		n++;
		up += w->state == W_RUNNING;
	}
	sdnotifyf("STATUS=%zu of %zu workers running", up, n);
}

/* Tell a waiting "herdctl start" about a failure (one line each). */
static void
report(struct supervisor *sv, const char *error)
{
	char buf[600];
	int n;

	if (sv->report_fd == -1)
		return;
	if (error != NULL)
		n = snprintf(buf, sizeof(buf), "FAIL %s\n", error);
	else
		n = snprintf(buf, sizeof(buf), "OK %ld\n", (long)sv->pid);
	(void)write(sv->report_fd, buf, (size_t)n < sizeof(buf) ?
	    (size_t)n : sizeof(buf) - 1);
	if (error == NULL) {
		close(sv->report_fd);
		sv->report_fd = -1;
	}
}

/* --- entry point ----------------------------------------------------- */

/* Listen on the control socket, generate a secret if none is configured,
 * spawn the local workers, and loop until stopped; returns the exit code. */
int
supervisor_run(const struct sv_options *opt, struct herd_config *cfg)
{
	static const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGUSR1,
	    SIGUSR2 };
	struct supervisor sv;
	struct worker *w;
	struct job *j;
	struct timeval tv = { 1, 0 };
	char path[PATH_MAX];
	uint64_t wd;
	sigset_t mask;
	size_t i;
	int code;

	memset(&sv, 0, sizeof(sv));
	sv.opt = opt;
	sv.cfg = cfg;
	sv.pid = getpid();
	sv.report_fd = opt->report_fd;
	TAILQ_INIT(&sv.workers);
	TAILQ_INIT(&sv.jobs);
	find_node_bin(sv.node_bin, sizeof(sv.node_bin));
	if (ftruncate(opt->lock_fd, 0) == 0)
		dprintf(opt->lock_fd, "%ld\n", (long)sv.pid);
	signal(SIGPIPE, SIG_IGN);
	/* Whoever started us may have blocked what we handle (SIGTERM
	 * under a careless parent): unblock it, or we would never see it. */
	sigemptyset(&mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&mask, sigs[i]);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	(void)sv_secret_changed(&sv, cfg);
	if ((sv.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	log_set_event_base(sv.base);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sv.sig_ev[i] = evsignal_new(sv.base, sigs[i], signal_cb, &sv);
		if (sv.sig_ev[i] == NULL || evsignal_add(sv.sig_ev[i], NULL))
			fatalx("evsignal_new failed");
	}
	snprintf(path, sizeof(path), "%s/%s", opt->run_dir, CONTROL_SOCKET);
	if ((sv.ctl = control_listen(sv.base, path, control_request, &sv)) ==
	    NULL) {
		char msg[PATH_MAX + 64];

		snprintf(msg, sizeof(msg), "cannot listen on %s: %s", path,
		    strerror(errno));
		log_warnx("%s", msg);
		report(&sv, msg);
		code = 1;
		goto out;
	}
	if (cfg->herd.secret_file == NULL) {
		/* Zero configuration: a fresh secret for this herd's links. */
		snprintf(path, sizeof(path), "%s/secret", opt->run_dir);
		if (auth_generate_secret(path) == -1) {
			char msg[PATH_MAX + 64];

			snprintf(msg, sizeof(msg), "cannot write %s: %s", path,
			    strerror(errno));
			log_warnx("%s", msg);
			report(&sv, msg);
			code = 1;
			goto out;
		}
		setenv("HERD_SECRET_FILE", path, 1);
		log_info("generated the peer secret %s", path);
	}
	sv.tick = event_new(sv.base, -1, EV_PERSIST, tick_cb, &sv);
	event_add(sv.tick, &tv);
	if (sdnotify_watchdog_usec(&wd) == 1 && wd > 0) {
		tv.tv_sec = (time_t)(wd / 2 / 1000000);
		tv.tv_usec = (suseconds_t)(wd / 2 % 1000000);
		sv.watchdog = event_new(sv.base, -1, EV_PERSIST, watchdog_cb,
		    &sv);
		event_add(sv.watchdog, &tv);
	}
	log_info("supervisor started (pid %ld), config %s, run directory %s,"
	    " node %s", (long)sv.pid, opt->config_path, opt->run_dir,
	    sv.node_bin);

	j = job_new(&sv, JOB_INITIAL, NULL);
	for (i = 0; i < cfg->nservers; i++) {
		if (!sv_is_local(&sv, &cfg->servers[i])) {
			log_info("%s: remote (%s), not started here",
			    cfg->servers[i].name, cfg->servers[i].host);
			continue;
		}
		w = worker_new(&sv, &cfg->servers[i]);
		job_add(j, w);
		worker_spawn(w);
	}
	if (j->nitems == 0)
		log_warnx("no server of %s runs on this machine",
		    opt->config_path);
	jobs_poll(&sv);
	event_base_dispatch(sv.base);
	code = sv.exit_code;
	log_info("supervisor stopped");
out:
	/* The socket goes first: once "herdctl start" sees EOF below, a
	 * status must find no supervisor, not a listener nobody serves. */
	control_close(sv.ctl);
	if (sv.report_fd != -1)
		close(sv.report_fd);	/* EOF without OK: start failed */
	while ((j = TAILQ_FIRST(&sv.jobs)) != NULL) {
		TAILQ_REMOVE(&sv.jobs, j, entry);
		cJSON_Delete(j->reply);
		free(j->items);
		free(j);
	}
	while ((w = TAILQ_FIRST(&sv.workers)) != NULL)
		worker_free(w);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sv.sig_ev[i] != NULL)
			event_free(sv.sig_ev[i]);
	if (sv.tick != NULL)
		event_free(sv.tick);
	if (sv.watchdog != NULL)
		event_free(sv.watchdog);
	config_free(sv.cfg);
	explicit_bzero(&sv.secret, sizeof(sv.secret));
	log_flush(1000);
	event_base_free(sv.base);
	return code;
}
