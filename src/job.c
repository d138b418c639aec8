/*
 * job.c -- control requests waiting for workers to become ready, to go
 * away, or to restart one at a time, each with a deadline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "herd/job.h"
#include "herd/log.h"

#define READY_TIMEOUT_S		10	/* a job gives up waiting */

static void	job_fail(struct job *, struct worker *, const char *);
static int	item_ready(struct job *, struct job_item *, struct worker *);
static void	item_restart(struct job *, struct job_item *, struct worker *);
static int	job_poll(struct jobs *, struct job *);
static void	job_finish(struct jobs *, struct job *);
static void	job_free(struct job *);

/* Set up an empty list of jobs over wt, reporting to ops. */
void
jobs_init(struct jobs *js, struct workers *wt, const struct job_ops *ops,
    void *arg)
{
	memset(js, 0, sizeof(*js));
	TAILQ_INIT(&js->list);
	js->workers = wt;
	js->ops = ops;
	js->arg = arg;
}

/* Free every pending job without answering it. */
void
jobs_free(struct jobs *js)
{
	struct job *j;

	while ((j = TAILQ_FIRST(&js->list)) != NULL) {
		TAILQ_REMOVE(&js->list, j, entry);
		job_free(j);
	}
}

/* True when no job is pending. */
int
jobs_empty(const struct jobs *js)
{
	return TAILQ_EMPTY(&js->list);
}

/* Free j (already out of the list) with its reply and items. */
static void
job_free(struct job *j)
{
	cJSON_Delete(j->reply);
	free(j->items);
	free(j);
}

/* Queue a job of kind for c (NULL: none) with a READY_TIMEOUT_S deadline. */
struct job *
job_new(struct jobs *js, enum job_kind kind, struct control_conn *c)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("calloc");
	j->kind = kind;
	j->conn = c;
	j->reply = cJSON_CreateObject();
	clock_gettime(CLOCK_MONOTONIC, &j->deadline);
	j->deadline.tv_sec += READY_TIMEOUT_S;
	TAILQ_INSERT_TAIL(&js->list, j, entry);
	return j;
}

/* Append w to j's items with its current incarnation. */
void
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
		    w->have_exit ? worker_exit_string(w->last_status, how,
		    sizeof(how)) : "no exit", w->fail[0] ? ": " : "", w->fail);
		job_fail(j, w, msg);
		return -1;
	}
	if (now.tv_sec >= j->deadline.tv_sec) {
		/* Still retrying a spawn (no pipe, no fork): say why. */
		snprintf(msg, sizeof(msg), "not ready in time%s%s%s",
		    w->fail[0] ? " (" : "", w->fail, w->fail[0] ? ")" : "");
		job_fail(j, w, msg);
		return -1;
	}
	return 0;
}

/* Begin restarting the item's worker, with a deadline of its own (done at
 * once when it is gone). */
static void
item_restart(struct job *j, struct job_item *it, struct worker *w)
{
	it->started = 1;
	it->gen = w ? w->gen : 0;
	clock_gettime(CLOCK_MONOTONIC, &j->deadline);
	j->deadline.tv_sec += READY_TIMEOUT_S + WORKER_STOP_TIMEOUT_S;
	if (w == NULL) {
		it->done = 1;
		return;
	}
	w->held = 0;
	if (w->pid != 0) {
		w->restart_pending = 1;
		worker_stop(w, 0);
	} else
		worker_spawn(w);
}

/* Advance a job; 1 when it is complete. */
static int
job_poll(struct jobs *js, struct job *j)
{
	struct worker *w;
	size_t i;
	int r, pending = 0, rolling = 0;

	switch (j->kind) {
	case JOB_INITIAL:
	case JOB_READY:
		for (i = 0; i < j->nitems; i++) {
			struct job_item *it = &j->items[i];

			if (it->done || (it->rolling && rolling))
				continue;	/* its turn comes later */
			w = worker_find(js->workers, it->name);
			if (it->rolling && !it->started)
				item_restart(j, it, w);
			r = it->done ? 1 : item_ready(j, it, w);
			if (r == 0) {
				pending = 1;
				rolling |= it->rolling;
			} else
				it->done = 1;
		}
		return !pending;
	case JOB_GONE:
	case JOB_STOP_ALL:
		if (j->kind == JOB_STOP_ALL) {
			TAILQ_FOREACH(w, &js->workers->list, entry)
				if (w->pid != 0)
					return 0;
			return 1;
		}
		for (i = 0; i < j->nitems; i++)
			if ((w = worker_find(js->workers, j->items[i].name)) != NULL &&
			    w->pid != 0)
				return 0;
		return 1;
	case JOB_RESTART:
		/* One at a time: the next starts once the last is ready. */
		for (i = 0; i < j->nitems; i++) {
			struct job_item *it = &j->items[i];

			if (it->done)
				continue;
			w = worker_find(js->workers, it->name);
			if (!it->started) {
				item_restart(j, it, w);
				if (it->done)
					continue;
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

/* Complete j: set "ok", hand it to the owner (who answers it), free it. */
static void
job_finish(struct jobs *js, struct job *j)
{
	TAILQ_REMOVE(&js->list, j, entry);
	cJSON_AddBoolToObject(j->reply, "ok", !j->failed);
	js->ops->finished(j, js->arg);
	job_free(j);
}

/*
 * Advance every pending job and finish those that are complete.  Finishing
 * a job may add or finish others (a failed start stops everything), so a
 * nested call only asks for another pass, and every pass after a finish
 * starts again from the head: no pointer into the list outlives a finish.
 */
void
jobs_poll(struct jobs *js)
{
	struct job *j;

	if (js->polling) {
		js->repoll = 1;
		return;
	}
	js->polling = 1;
	do {
		js->repoll = 0;
		TAILQ_FOREACH(j, &js->list, entry) {
			if (job_poll(js, j)) {
				job_finish(js, j);
				js->repoll = 1;
				break;
			}
		}
	} while (js->repoll);
	js->polling = 0;
}
