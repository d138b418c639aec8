/*
 * supervisor.c -- herdctl's supervisor: its entry point and lifecycle, the
 * signals, systemd's watchdog and readiness, and the report to a waiting
 * "herdctl start"; the control requests are in supervisor_control.c, the
 * reload in supervisor_reload.c, the status in supervisor_status.c.
 *
 * Every event -- a worker ready, a worker exit, a timer, a control
 * request -- changes a worker's state (worker.c) and then re-evaluates the
 * pending jobs (job.c: the control requests waiting for workers to become
 * ready or to go away).
 */
#include <sys/types.h>
#include <sys/resource.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
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
#include "herd/log.h"
#include "herd/sdnotify.h"
#include "herd/status_http.h"
#include "herd/supervisor.h"
#include "herd/worker.h"
#include "supervisor_int.h"

static void	sv_worker_ready(struct worker *, void *);
static void	sv_worker_changed(void *);
static void	sv_job_finished(struct job *, void *);
static void	tick_cb(evutil_socket_t, short, void *);
static void	signal_cb(evutil_socket_t, short, void *);
static void	watchdog_cb(evutil_socket_t, short, void *);
static void	report(struct supervisor *, const char *);
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
	sv_sd_status(arg);
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
			sv_stop_all(sv, NULL);
		} else {
			log_info("all workers ready");
			report(sv, NULL);
			sdnotify("READY=1");
			sv_sd_status(sv);
		}
	} else if (j->sd_ready) {
		sdnotify("READY=1");
		sv_sd_status(sv);
	}
	if (j->conn != NULL)
		sv_reply_json(j->conn, j->reply);
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
		sv_sd_status(sv);
		jobs_poll(&sv->jobs);
		break;
	case SIGHUP:
		if (!sv->stopping)	/* no one to answer: drop a refusal */
			cJSON_Delete(sv_reload(sv, NULL));
		break;
	case SIGTERM:
	case SIGINT:
		log_info("received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		if (!sv->stopping)
			sv_stop_all(sv, NULL);
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
	if ((sv.ctl = control_listen(sv.base, path, sv_control_request, &sv)) ==
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
