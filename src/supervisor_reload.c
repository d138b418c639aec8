/*
 * supervisor_reload.c -- the supervisor's reload: the INI re-read, its
 * difference (reload.c) turned into worker actions, and what a reload
 * re-reads besides: which servers are local, the data directory, the
 * peer secret.
 */
#include <sys/types.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herd/auth.h"
#include "herd/job.h"
#include "herd/log.h"
#include "herd/reload.h"
#include "herd/rundir.h"
#include "herd/sdnotify.h"
#include "herd/worker.h"
#include "supervisor_int.h"

/* Should s run here: listed in --only when given, else local by address? */
int
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

/* Apply a reload's action act to server s (in the new INI) and its worker w
 * (NULL when there is none yet), adding what must settle to job j. */
static void
reload_apply(struct supervisor *sv, struct job *j, struct worker *w,
    const struct herd_server *s, enum reload_action act, int rolling)
{
	switch (act) {
	case RELOAD_START:
		if (w != NULL) {
			/* Still stopping from an earlier reload: keep its
			 * entry and start it again once it exited (its port
			 * is free only then). */
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
		if (rolling) {
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

/* The answer to a reload that changed nothing: {"ok":false,"error":why}
 * and, from an invalid INI, its "errors" (logged). */
static cJSON *
reload_refused(const char *why, const struct config_errors *errs)
{
	cJSON *o = cJSON_CreateObject(), *earr;
	size_t i;

	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "error", why);
	if (errs == NULL) {
		log_warnx("reload: %s", why);
		return o;
	}
	earr = cJSON_AddArrayToObject(o, "errors");
	for (i = 0; i < errs->count; i++) {
		log_warnx("reload: %s", errs->msgs[i]);
		cJSON_AddItemToArray(earr, cJSON_CreateString(errs->msgs[i]));
	}
	return o;
}

/*
 * Re-read the INI and apply the difference, for the control client c (NULL
 * on SIGHUP): NULL when a job now answers c once the workers settled, else
 * the answer saying why nothing changed (the caller sends and frees it).
 */
cJSON *
sv_reload(struct supervisor *sv, struct control_conn *c)
{
	struct config_errors errs;
	struct herd_config *cfg;
	struct reload_plan plan;
	struct worker *w;
	struct job *j;
	cJSON *actions, *a, *o;
	char why[1024];
	size_t i;

	log_info("reloading %s", sv->opt->config_path);
	if ((cfg = config_load(sv->opt->config_path, &errs)) == NULL) {
		o = reload_refused("invalid configuration; nothing changed",
		    &errs);
		config_errors_free(&errs);
		return o;
	}
	if (reload_check_data_dir(sv->workers.data_dir, reload_data_dir(cfg,
	    sv->opt->data_dir), why, sizeof(why)) == -1) {
		config_free(cfg);
		return reload_refused(why, NULL);
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
		reload_apply(sv, j, w, s, act, it->rolling);
	}
	reload_plan_free(&plan);
	jobs_poll(&sv->jobs);
	return NULL;
}

/* The data directory the workers get: [herd] data_dir, else the default
 * herdctl resolved at start; none when persist = no. */
void
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
int
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
