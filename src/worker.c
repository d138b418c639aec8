/*
 * worker.c -- the table of workers: fork/exec herd-node, read its status
 * pipe, reap it, and restart a crashed one with backoff.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "herd/log.h"
#include "herd/worker.h"

#define BACKOFF_MAX_MS		30000
#define BACKOFF_RESET_S		10	/* up this long: next crash is "first" */
#define EXIT_CONFIG		78

static const char *state_names[] = {
	"stopped", "starting", "running", "backoff", "fatal", "stopping"
};

static int	node_bin_find(char *, size_t);
static void	worker_child(struct workers *, int, const char **)
		    __attribute__((noreturn));
static void	worker_backoff(struct worker *, const char *, long);
static void	worker_exited(struct worker *, int);
static void	worker_timer_cb(evutil_socket_t, short, void *);
static void	worker_status_cb(evutil_socket_t, short, void *);
static void	worker_line(struct worker *, char *);
static void	worker_link_line(struct worker *, const char *);
static void	worker_persist_off(struct worker *);
static void	worker_ready(struct worker *);

/* Set up an empty table reporting to ops; see worker.h. */
void
workers_init(struct workers *wt, struct event_base *base,
    const struct worker_ops *ops, void *arg)
{
	memset(wt, 0, sizeof(*wt));
	TAILQ_INIT(&wt->list);
	wt->base = base;
	wt->ops = ops;
	wt->arg = arg;
	wt->parent = getpid();
	node_bin_find(wt->node_bin, sizeof(wt->node_bin));
}

/* Free every worker of the table. */
void
workers_free(struct workers *wt)
{
	struct worker *w;

	while ((w = TAILQ_FIRST(&wt->list)) != NULL)
		worker_free(w);
}

/* Reap every exited child; a worker's exit is applied to its entry. */
void
workers_reap(struct workers *wt)
{
	struct worker *w;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		TAILQ_FOREACH(w, &wt->list, entry)
			if (w->pid == pid)
				break;
		if (w != NULL)
			worker_exited(w, status);
	}
}

/* $HERD_NODE_BIN, else herd-node next to our own binary, else PATH. */
static int
node_bin_find(char *out, size_t size)
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

/* Return the worker named name, or NULL. */
struct worker *
worker_find(struct workers *wt, const char *name)
{
	struct worker *w;

	TAILQ_FOREACH(w, &wt->list, entry)
		if (strcmp(w->name, name) == 0)
			return w;
	return NULL;
}

/* Copy s's port and link count into w, capping peers_up. */
void
worker_set_config(struct worker *w, const struct herd_server *s)
{
	w->port = s->port;
	w->peers = s->nlinks;
	if (w->peers_up > w->peers)
		w->peers_up = w->peers;
}

/* Add a stopped worker for server s to the table. */
struct worker *
worker_new(struct workers *wt, const struct herd_server *s)
{
	struct worker *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("calloc");
	w->table = wt;
	snprintf(w->name, sizeof(w->name), "%s", s->name);
	worker_set_config(w, s);
	w->status_fd = -1;
	w->backoff_ms = WORKER_BACKOFF_MIN_MS;
	worker_persist_off(w);
	if ((w->timer = evtimer_new(wt->base, worker_timer_cb, w)) == NULL)
		fatalx("evtimer_new failed");
	TAILQ_INSERT_TAIL(&wt->list, w, entry);
	return w;
}

/* Unlink w from the table and free it with its status pipe and timer. */
void
worker_free(struct worker *w)
{
	TAILQ_REMOVE(&w->table->list, w, entry);
	if (w->status_ev != NULL)
		event_free(w->status_ev);
	if (w->status_fd != -1)
		close(w->status_fd);
	event_free(w->timer);
	free(w->links);
	free(w);
}

/* Fork and exec herd-node for w, its status pipe passed as HERD_READY_FD; w
 * is then STARTING, or in backoff (retried) when pipe or fork failed. */
void
worker_spawn(struct worker *w)
{
	struct workers *wt = w->table;
	int fds[2];
	const char *argv[10];
	int argc = 0;
	pid_t pid;

	evtimer_del(w->timer);
	if (pipe2(fds, O_CLOEXEC) == -1) {
		worker_backoff(w, "cannot create its status pipe", -1);
		return;
	}
	argv[argc++] = "herd-node";
	argv[argc++] = "-c";
	argv[argc++] = wt->config_path;
	if (wt->foreground)
		argv[argc++] = "--stderr";
	if (wt->data_dir != NULL) {	/* the node uses DIR/NAME */
		argv[argc++] = "--data-dir";
		argv[argc++] = wt->data_dir;
	}
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
		worker_child(wt, fds[1], argv);
	}
	close(fds[1]);
	(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	if (w->status_ev != NULL)
		event_free(w->status_ev);
	if (w->status_fd != -1)
		close(w->status_fd);
	w->status_fd = fds[0];
	w->slen = 0;
	w->status_ev = event_new(wt->base, fds[0], EV_READ | EV_PERSIST,
	    worker_status_cb, w);
	event_add(w->status_ev, NULL);
	w->pid = pid;
	w->gen++;
	w->state = W_STARTING;
	w->peers_up = 0;
	w->nlinks = 0;
	w->records = 0;
	w->clients = 0;
	w->requests = 0;
	worker_persist_off(w);
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
worker_child(struct workers *wt, int fd, const char **argv)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != wt->parent)
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
	execvp(wt->node_bin, (char *const *)(uintptr_t)argv);
	dprintf(3, "FAIL cannot execute %s: %s\n", wt->node_bin,
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
void
worker_stop(struct worker *w, int hold)
{
	struct timeval tv = { WORKER_STOP_TIMEOUT_S, 0 };

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

/* SIGKILL a worker still stopping after WORKER_STOP_TIMEOUT_S, or respawn one whose
 * backoff ended. */
static void
worker_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	if (w->state == W_STOPPING && w->pid != 0) {
		log_warnx("%s: pid %ld did not stop in %d s, killing",
		    w->name, (long)w->pid, WORKER_STOP_TIMEOUT_S);
		kill(w->pid, SIGKILL);
	} else if (w->state == W_BACKOFF && !w->held) {
		w->restarts++;
		worker_spawn(w);
		w->table->ops->changed(w->table->arg);
	}
}

/* Describe a waitpid status ("exit N", "signal N (NAME)") in buf, returned. */
char *
worker_exit_string(int status, char *buf, size_t size)
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
	struct workers *wt = w->table;
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
	w->nlinks = 0;
	w->records = 0;
	w->clients = 0;
	w->requests = 0;
	worker_persist_off(w);
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
	worker_exit_string(status, how, sizeof(how));
	if (w->removing) {
		log_info("%s: stopped (%s), removed", w->name, how);
		worker_free(w);
		return;
	}
	if (w->restart_pending && !wt->stopping) {
		w->restart_pending = 0;
		log_info("%s: stopped (%s), restarting", w->name, how);
		worker_spawn(w);
		return;
	}
	if (w->held || wt->stopping) {
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
			w->backoff_ms = WORKER_BACKOFF_MIN_MS;
		worker_backoff(w, how, up);
	}
}

/* "LINK name 0|1": remember the state of w's link to name. */
static void
worker_link_line(struct worker *w, const char *p)
{
	char name[HERD_NAME_MAX + 1];
	struct worker_link *l;
	size_t i;
	int up;

	if (sscanf(p, "%63s %d", name, &up) != 2 || (up != 0 && up != 1)) {
		log_warnx("%s: bad status line 'LINK %.64s'", w->name, p);
		return;
	}
	for (i = 0; i < w->nlinks; i++)
		if (strcmp(w->links[i].name, name) == 0) {
			w->links[i].up = up;
			return;
		}
	if (w->nlinks == w->links_cap) {
		size_t cap = w->links_cap ? w->links_cap * 2 : 8;

		if ((l = reallocarray(w->links, cap, sizeof(*l))) == NULL)
			return;		/* status shows it as unreported */
		w->links = l;
		w->links_cap = cap;
	}
	snprintf(w->links[w->nlinks].name, sizeof(w->links[0].name), "%s",
	    name);
	w->links[w->nlinks++].up = up;
}

/* The link from w to name as last reported: 1, 0, or -1 (unknown). */
int
worker_link_up(const struct worker *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->nlinks; i++)
		if (strcmp(w->links[i].name, name) == 0)
			return w->links[i].up;
	return -1;
}

/*
 * w said READY.  Acted on only once every line of the same read is
 * applied: a node writes READY and its PERSIST line in one write, so a
 * `herdctl start` answered from here is followed by a status showing
 * the persistence state, not "off".
 */
static void
worker_ready(struct worker *w)
{
	if (w->state == W_STARTING)
		w->state = W_RUNNING;
	w->ready_gen = w->gen;
	log_info("%s: ready (pid %ld)", w->name, (long)w->pid);
	w->table->ops->ready(w, w->table->arg);
}

/* Apply a status line from w: READY, PEERS up total, RECORDS n, LOAD
 * clients lines, FAIL why, or RELOADED ok|error why (its answer to SIGHUP). */
static void
worker_line(struct worker *w, char *line)
{
	unsigned long up, total;
	unsigned long long lines;

	if (strcmp(line, "READY") == 0) {
		if (!w->said_ready)
			w->said_ready = 1;	/* acted on after the read */
	} else if (sscanf(line, "PEERS %lu %lu", &up, &total) == 2) {
		w->peers_up = up;
	} else if (strncmp(line, "LINK ", 5) == 0) {
		worker_link_line(w, line + 5);
	} else if (sscanf(line, "RECORDS %lu", &up) == 1) {
		w->records = up;
	} else if (sscanf(line, "LOAD %lu %llu", &up, &lines) == 2) {
		w->clients = up;
		w->requests = lines;
	} else if (strncmp(line, "PERSIST ", 8) == 0) {
		struct worker_persist p;

		if (worker_parse_persist(line, &p) == -1)
			log_warnx("%s: bad status line '%.64s'", w->name, line);
		else {
			if (strcmp(p.state, w->persist.state) != 0 &&
			    strcmp(p.state, "failing") == 0)
				log_warnx("%s: persistence failing", w->name);
			else if (strcmp(w->persist.state, "failing") == 0 &&
			    strcmp(p.state, "failing") != 0)
				log_info("%s: persistence %s again", w->name,
				    p.state);
			w->persist = p;
		}
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
	if (w->said_ready == 1) {
		w->said_ready = 2;
		worker_ready(w);
	}
	if (n == 0 && w->status_ev != NULL) {
		/* EOF: the worker is exiting; SIGCHLD tells the rest. */
		event_del(w->status_ev);
	}
	w->table->ops->changed(w->table->arg);
}

/* Describe w as a JSON object for status replies. */
cJSON *
worker_json(const struct worker *w)
{
	cJSON *o = cJSON_CreateObject(), *p;
	struct timespec now;
	char how[64], dir[PATH_MAX];
	size_t i;

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
		cJSON_AddStringToObject(o, "last_exit", worker_exit_string(
		    w->last_status, how, sizeof(how)));
	else
		cJSON_AddNullToObject(o, "last_exit");
	cJSON_AddNumberToObject(o, "peers_up", (double)w->peers_up);
	cJSON_AddNumberToObject(o, "peers", (double)w->peers);
	if ((p = cJSON_AddObjectToObject(o, "links")) != NULL)
		for (i = 0; i < w->nlinks; i++)
			cJSON_AddBoolToObject(p, w->links[i].name,
			    w->links[i].up);
	cJSON_AddNumberToObject(o, "records", (double)w->records);
	cJSON_AddNumberToObject(o, "clients", (double)w->clients);
	cJSON_AddNumberToObject(o, "requests", (double)w->requests);
	if (w->table->data_dir != NULL) {
		snprintf(dir, sizeof(dir), "%s/%s", w->table->data_dir,
		    w->name);
		cJSON_AddStringToObject(o, "data_dir", dir);
	} else
		cJSON_AddNullToObject(o, "data_dir");
	p = cJSON_AddObjectToObject(o, "persist");
	cJSON_AddStringToObject(p, "state", w->persist.state);
	cJSON_AddStringToObject(p, "fsync", w->persist.fsync);
	cJSON_AddNumberToObject(p, "lag_ms", (double)w->persist.lag_ms);
	if (w->fail[0] != '\0')
		cJSON_AddStringToObject(o, "error", w->fail);
	return o;
}

/* No persistence known (yet): "off", fsync "-", lag 0; nothing said. */
static void
worker_persist_off(struct worker *w)
{
	snprintf(w->persist.state, sizeof(w->persist.state), "off");
	snprintf(w->persist.fsync, sizeof(w->persist.fsync), "-");
	w->persist.lag_ms = 0;
	w->said_ready = 0;	/* a new incarnation's READY is to come */
}

/* Parse a PERSIST status line into p; the words and the number are
 * checked exactly, since the line comes from another process. */
int
worker_parse_persist(const char *line, struct worker_persist *p)
{
	static const char *states[] = { "ok", "failing", "off" };
	static const char *policies[] = { "always", "everysec", "no" };
	struct worker_persist n;
	char state[16], fsync[16];
	unsigned long lag;
	size_t i, j, k;
	int end = -1;

	if (strncmp(line, "PERSIST ", 8) != 0 ||
	    sscanf(line + 8, "%15[a-z] %15[a-z] %n", state, fsync, &end) != 2 ||
	    end == -1 || line[8 + end] < '0' || line[8 + end] > '9')
		return -1;
	lag = 0;
	for (j = 8 + (size_t)end; line[j] >= '0' && line[j] <= '9'; j++) {
		if (lag > (ULONG_MAX - 9) / 10)
			return -1;
		lag = lag * 10 + (unsigned long)(line[j] - '0');
	}
	if (line[j] != '\0')
		return -1;
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(state, states[i]) == 0)
			break;
	for (k = 0; k < sizeof(policies) / sizeof(policies[0]); k++)
		if (strcmp(fsync, policies[k]) == 0)
			break;
	if (i == sizeof(states) / sizeof(states[0]) ||
	    k == sizeof(policies) / sizeof(policies[0]))
		return -1;
	memset(&n, 0, sizeof(n));
	/* The table's words, which fit the fields. */
	memcpy(n.state, states[i], strlen(states[i]) + 1);
	memcpy(n.fsync, policies[k], strlen(policies[k]) + 1);
	n.lag_ms = lag;
	*p = n;
	return 0;
}
