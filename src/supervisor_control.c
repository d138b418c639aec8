/*
 * supervisor_control.c -- the supervisor's control requests: status,
 * start, stop, restart, reload and ping, each answered on its connection
 * (at once, or by the job it starts once the workers are there).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herd/control.h"
#include "herd/job.h"
#include "herd/log.h"
#include "herd/sdnotify.h"
#include "herd/worker.h"
#include "supervisor_int.h"

static void	reply_error(struct control_conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* Send o, unformatted, as the reply to c. */
void
sv_reply_json(struct control_conn *c, cJSON *o)
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
	sv_reply_json(c, o);
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
	sv_add_status(sv, o, argc, argv);
	sv_reply_json(c, o);
	cJSON_Delete(o);
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
		sv_stop_all(sv, c);
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
	sv_sd_status(sv);
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

/* Stop every worker, then the supervisor. */
void
sv_stop_all(struct supervisor *sv, struct control_conn *c)
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
void
sv_control_request(struct control_conn *c, int argc, char **argv, void *arg)
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
	else if (strcmp(argv[0], "reload") == 0 && argc == 1) {
		if ((o = sv_reload(sv, c)) != NULL)
			sv_reply_json(c, o);
		cJSON_Delete(o);
	}
	else if (strcmp(argv[0], "ping") == 0) {
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "ok", 1);
		cJSON_AddNumberToObject(o, "supervisor_pid", sv->pid);
		cJSON_AddStringToObject(o, "config", sv->opt->config_path);
		sv_reply_json(c, o);
		cJSON_Delete(o);
	} else
		reply_error(c, "unknown request '%s'", argv[0]);
}
