/*
 * supervisor.c -- herdctl's supervisor: answers control requests, handles
 * signals and talks to systemd, over the worker table and its jobs.
 *
 * Every event -- a worker ready, a worker exit, a timer, a control
 * request -- changes a worker's state (worker.c) and then re-evaluates the
 * pending jobs (job.c: the control requests waiting for workers to become
 * ready or to go away).  Reload is a diff of two configurations
 * (reload.c) turned into worker actions here.
 */
#include <sys/types.h>
#include <sys/resource.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "herd/auth.h"
#include "herd/control.h"
#include "herd/job.h"
#include "herd/links.h"
#include "herd/log.h"
#include "herd/reload.h"
#include "herd/rundir.h"
#include "herd/sdnotify.h"
#include "herd/status_http.h"
#include "herd/supervisor.h"
#include "herd/worker.h"

struct supervisor {
	struct event_base	*base;
	const struct sv_options	*opt;
	struct herd_config	*cfg;
	struct workers		 workers;
	struct jobs		 jobs;
	struct control		*ctl;
	struct status_http	*http;		/* [herd] http, or NULL */
	char			 http_addr[HERD_ADDR_MAX]; /* ... served on */
	uint16_t		 http_port;
	struct event		*sig_ev[6];
	struct event		*watchdog;
	struct event		*tick;		/* job deadlines */
	int			 stopping;
	int			 exit_code;
	int			 report_fd;
	pid_t			 pid;
	struct auth_secret	 secret;	/* secret_file's content */
	int			 secret_ok;	/* ... when it could be read */
};

static void	sv_worker_ready(struct worker *, void *);
static void	sv_worker_changed(void *);
static void	sv_job_finished(struct job *, void *);
static void	tick_cb(evutil_socket_t, short, void *);
static void	signal_cb(evutil_socket_t, short, void *);
static void	watchdog_cb(evutil_socket_t, short, void *);
static void	control_request(struct control_conn *, int, char **, void *);
static void	add_status(struct supervisor *, cJSON *, int, char **);
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
static int	sv_is_local(struct supervisor *, const struct herd_server *);
static void	sv_set_data_dir(struct supervisor *);
static int	sv_secret_changed(struct supervisor *,
		    const struct herd_config *);
static void	sv_raise_nofile(size_t);

static const struct worker_ops sv_worker_ops = {
	sv_worker_ready, sv_worker_changed
};
static const struct job_ops sv_job_ops = { sv_job_finished };

/* --- what workers and jobs report ------------------------------------ */

/* A worker said READY: systemd's status line changes. */
static void
sv_worker_ready(struct worker *w, void *arg)
{
	(void)w;
	sd_status(arg);
}

/* A worker's state may have changed: the jobs may move on. */
static void
sv_worker_changed(void *arg)
{
	struct supervisor *sv = arg;

	jobs_poll(&sv->jobs);
}

/* A job is complete: for the initial start report success (READY=1) or
 * stop everything; reply to its client, and end the loop when stopping. */
static void
sv_job_finished(struct job *j, void *arg)
{
	struct supervisor *sv = arg;

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
	if (sv->stopping && jobs_empty(&sv->jobs)) {
		struct timeval flush = { 0, 100000 };	/* replies go out */

		event_base_loopexit(sv->base, &flush);
	}
}

/* Once a second: poll the jobs, so that their deadlines pass. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor *sv = arg;

	(void)fd;
	(void)what;
	jobs_poll(&sv->jobs);
}

/* Should s run here: listed in --only when given, else local by address? */
static int
sv_is_local(struct supervisor *sv, const struct herd_server *s)
{
	size_t i;

	if (sv->opt->only == NULL)
		return rundir_is_local(s);
	for (i = 0; i < sv->opt->nonly; i++)
		if (strcmp(sv->opt->only[i], s->name) == 0)
			return 1;
	return 0;
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
		if (worker_find(&sv->workers, argv[i]) != NULL)
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
 * (or every) worker; without names also every link's state. */
static void
cmd_status(struct supervisor *sv, struct control_conn *c, int argc,
    char **argv)
{
	cJSON *o;

	if (check_names(sv, c, argc, argv) == -1)
		return;
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", 1);
	cJSON_AddNumberToObject(o, "supervisor_pid", sv->pid);
	cJSON_AddStringToObject(o, "config", sv->opt->config_path);
	/* Where the log lines go: "socket missing" means nowhere. */
	cJSON_AddStringToObject(o, "log_socket", sv->cfg->herd.log_socket);
	cJSON_AddStringToObject(o, "log", log_socket_ok() ? "ok" :
	    "socket missing");
	add_status(sv, o, argc, argv);
	reply_json(c, o);
	cJSON_Delete(o);
}

/* The status page's /status.json: every server and every link. */
static char *
http_status_json(void *arg)
{
	cJSON *o = cJSON_CreateObject();
	char *js;

	if (o == NULL)
		return NULL;
	add_status(arg, o, 1, NULL);
	js = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return js;
}

/* (Re)open the status page when [herd] http names another address than
 * the one served; -1 with the reason in err when it cannot listen. */
static int
sv_http_update(struct supervisor *sv, char *err, size_t errlen)
{
	const struct herd_settings *h = &sv->cfg->herd;
	const char *a = sv->http_addr;

	if (sv->http != NULL && sv->http_port == h->http_port &&
	    strcmp(a, h->http_addr) == 0)
		return 0;
	status_http_free(sv->http);
	sv->http = NULL;
	if (h->http_port == 0)
		return 0;
	if ((sv->http = status_http_new(sv->base, h->http_addr, h->http_port,
	    http_status_json, sv, err, errlen)) == NULL)
		return -1;
	snprintf(sv->http_addr, sizeof(sv->http_addr), "%s", h->http_addr);
	sv->http_port = h->http_port;
	log_info("status page on http://%s%s%s:%u/", strchr(a, ':') ? "[" : "",
	    a, strchr(a, ':') ? "]" : "", sv->http_port);
	return 0;
}

/* Add "servers" (the named ones, or all) to o and, for all, "links". */
static void
add_status(struct supervisor *sv, cJSON *o, int argc, char **argv)
{
	cJSON *arr;
	struct worker *w;
	int i;

	arr = cJSON_AddArrayToObject(o, "servers");
	TAILQ_FOREACH(w, &sv->workers.list, entry) {
		if (argc > 1) {
			for (i = 1; i < argc; i++)
				if (strcmp(argv[i], w->name) == 0)
					break;
			if (i == argc)
				continue;
		}
		cJSON_AddItemToArray(arr, worker_json(w));
	}
	if (argc == 1)
		cJSON_AddItemToObject(o, "links", links_json(sv->cfg,
		    &sv->workers));
}

/* Start the named workers, clearing their hold; reply once all are ready,
 * naming in "already_running" those that ran before. */
static void
cmd_start(struct supervisor *sv, struct control_conn *c, int argc,
    char **argv)
{
	struct job *j;
	struct worker *w;
	cJSON *already;
	int i;

	if (argc < 2) {
		reply_error(c, "the supervisor is already running (pid %ld)",
		    (long)sv->pid);
		return;
	}
	if (check_names(sv, c, argc, argv) == -1)
		return;
	j = job_new(&sv->jobs, JOB_READY, c);
	already = cJSON_AddArrayToObject(j->reply, "already_running");
	for (i = 1; i < argc; i++) {
		w = worker_find(&sv->workers, argv[i]);
		job_add(j, w);
		w->held = 0;
		if (w->pid == 0) {
			w->backoff_ms = WORKER_BACKOFF_MIN_MS;
			worker_spawn(w);
		} else if (w->state == W_RUNNING) {
			/* Already up: count it as ready now. */
			j->items[j->nitems - 1].gen = w->ready_gen - 1;
			cJSON_AddItemToArray(already,
			    cJSON_CreateString(w->name));
		} else if (w->state == W_STARTING) {
			/* Starting now: this incarnation's READY or failure
			 * answers, not the next one's (which may never come). */
			j->items[j->nitems - 1].gen = w->gen - 1;
		}
	}
	jobs_poll(&sv->jobs);
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
	j = job_new(&sv->jobs, JOB_GONE, c);
	for (i = 1; i < argc; i++) {
		w = worker_find(&sv->workers, argv[i]);
		job_add(j, w);
		w->restart_pending = 0;
		worker_stop(w, 1);
	}
	sd_status(sv);
	jobs_poll(&sv->jobs);
}

/* Add w to restart job j, unless "herdctl stop NAME" holds it: then it
 * stays stopped and is named in held. */
static void
restart_add(struct job *j, struct worker *w, cJSON *held)
{
	if (w->held)
		cJSON_AddItemToArray(held, cJSON_CreateString(w->name));
	else
		job_add(j, w);
}

/* Restart the named workers (all if none) one at a time, replying when done;
 * the held ones stay stopped (the reply's "held", the others' count is
 * "restarting"). */
static void
cmd_restart(struct supervisor *sv, struct control_conn *c, int argc,
    char **argv)
{
	struct job *j;
	struct worker *w;
	cJSON *held;
	int i;

	if (check_names(sv, c, argc, argv) == -1)
		return;
	j = job_new(&sv->jobs, JOB_RESTART, c);
	held = cJSON_AddArrayToObject(j->reply, "held");
	if (argc < 2) {
		TAILQ_FOREACH(w, &sv->workers.list, entry)
			restart_add(j, w, held);
	} else
		for (i = 1; i < argc; i++)
			restart_add(j, worker_find(&sv->workers, argv[i]),
			    held);
	cJSON_AddNumberToObject(j->reply, "restarting", (double)j->nitems);
	jobs_poll(&sv->jobs);
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
	char why[1024];
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
	if (reload_check_data_dir(sv->workers.data_dir, reload_data_dir(cfg,
	    sv->opt->data_dir), why, sizeof(why)) == -1) {
		cJSON *o = cJSON_CreateObject();

		log_warnx("reload: %s", why);
		cJSON_AddBoolToObject(o, "ok", 0);
		cJSON_AddStringToObject(o, "error", why);
		config_free(cfg);
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
	log_set_socket(cfg->herd.log_socket);	/* as the workers do */
	sv_set_data_dir(sv);
	if (sv_http_update(sv, why, sizeof(why)) == -1)
		log_warnx("reload: status page off: %s", why);

	j = job_new(&sv->jobs, JOB_READY, c);
	j->sd_ready = 1;
	actions = cJSON_AddArrayToObject(j->reply, "actions");
	for (i = 0; i < plan.count; i++) {
		const struct reload_item *it = &plan.items[i];
		const struct herd_server *s = config_server(cfg, it->name);
		enum reload_action act = it->action;
		int local = s != NULL && sv_is_local(sv, s);

		w = worker_find(&sv->workers, it->name);
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
			w = worker_new(&sv->workers, s);
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
			if (it->rolling) {
				/* the job restarts them in turn */
				if (!w->held) {
					job_add(j, w);
					j->items[j->nitems - 1].rolling = 1;
				}
			} else if (w->pid != 0) {
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
	jobs_poll(&sv->jobs);
}

/* The data directory the workers get: [herd] data_dir, else the default
 * herdctl resolved at start; none when persist = no. */
static void
sv_set_data_dir(struct supervisor *sv)
{
	const char *dir = reload_data_dir(sv->cfg, sv->opt->data_dir);

	if (sv->cfg->herd.persist && dir == NULL)
		log_warnx("no data directory (set data_dir, $HERD_DATA_DIR or"
		    " $HOME): records are kept in memory only");
	sv->workers.data_dir = dir;
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

/*
 * Allow as many descriptors as the hard limit does: the supervisor holds a
 * status pipe per worker (plus the control socket and its clients), so a
 * soft limit of a few dozen would leave the last workers of a large herd
 * unstartable.  Warn when even the hard limit is short for nservers.
 */
static void
sv_raise_nofile(size_t nservers)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)nservers + 64;	/* control, log, libevent */

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE)");
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warnx("the descriptor limit (%llu) is too low for %zu"
		    " %s (a status pipe each): raise LimitNOFILE /"
		    " ulimit -n to at least %llu",
		    (unsigned long long)rl.rlim_cur, nservers,
		    log_plural(nservers, "server", "servers"),
		    (unsigned long long)want);
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
	sv->workers.stopping = 1;
	TAILQ_FOREACH(w, &sv->workers.list, entry)
		worker_stop(w, 1);
	j = job_new(&sv->jobs, JOB_STOP_ALL, c);
	cJSON_AddNumberToObject(j->reply, "supervisor_pid", sv->pid);
	jobs_poll(&sv->jobs);
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
		cJSON_AddStringToObject(o, "config", sv->opt->config_path);
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

	(void)what;
	switch (sig) {
	case SIGCHLD:
		workers_reap(&sv->workers);
		sd_status(sv);
		jobs_poll(&sv->jobs);
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
		TAILQ_FOREACH(w, &sv->workers.list, entry)
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

	TAILQ_FOREACH(w, &sv->workers.list, entry) {
		n++;
		up += w->state == W_RUNNING;
	}
	sdnotifyf("STATUS=%zu of %zu %s running", up, n,
	    log_plural(n, "worker", "workers"));
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
	workers_init(&sv.workers, sv.base, &sv_worker_ops, &sv);
	sv.workers.config_path = opt->config_path;
	sv.workers.foreground = opt->foreground;
	jobs_init(&sv.jobs, &sv.workers, &sv_job_ops, &sv);
	sv_set_data_dir(&sv);
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
		log_failx("%s", msg);
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
			log_failx("%s", msg);
			report(&sv, msg);
			code = 1;
			goto out;
		}
		setenv("HERD_SECRET_FILE", path, 1);
		log_info("generated the peer secret %s", path);
	}
	if (sv_http_update(&sv, path, sizeof(path)) == -1) {
		log_failx("status page: %s", path);
		report(&sv, path);
		code = 1;
		goto out;
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
	    " data directory %s, node %s", (long)sv.pid, opt->config_path,
	    opt->run_dir, sv.workers.data_dir ? sv.workers.data_dir : "none",
	    sv.workers.node_bin);

	sv_raise_nofile(cfg->nservers);
	j = job_new(&sv.jobs, JOB_INITIAL, NULL);
	for (i = 0; i < cfg->nservers; i++) {
		if (!sv_is_local(&sv, &cfg->servers[i])) {
			log_info("%s: remote (%s), not started here",
			    cfg->servers[i].name, cfg->servers[i].host);
			continue;
		}
		w = worker_new(&sv.workers, &cfg->servers[i]);
		job_add(j, w);
		worker_spawn(w);
	}
	if (j->nitems == 0)
		log_warnx("no server of %s runs on this machine",
		    opt->config_path);
	jobs_poll(&sv.jobs);
	event_base_dispatch(sv.base);
	code = sv.exit_code;
	log_info("supervisor stopped");
out:
	/* The socket goes first: once "herdctl start" sees EOF below, a
	 * status must find no supervisor, not a listener nobody serves. */
	control_close(sv.ctl);
	status_http_free(sv.http);
	if (sv.report_fd != -1)
		close(sv.report_fd);	/* EOF without OK: start failed */
	jobs_free(&sv.jobs);
	workers_free(&sv.workers);
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
