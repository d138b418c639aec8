/*
 * places_entry.c -- a client's WHATSAT replies in request order: the
 * per-client places_queue, its entries filled by places.c (from the
 * cache, a provider answer, an error) and handed to the client's done
 * callback as soon as the head is complete.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "herd/log.h"
#include "herd/places.h"
#include "herd/places_json.h"
#include "places_entry.h"

/* Start q empty, handing each complete reply to done(arg, ...). */
void
places_queue_init(struct places_queue *q, places_done_cb done, void *arg)
{
	TAILQ_INIT(&q->entries);
	q->bytes = 0;
	q->done = done;
	q->arg = arg;
}

/* True when q holds no reply. */
int
places_queue_empty(const struct places_queue *q)
{
	return TAILQ_EMPTY(&q->entries);
}

/* The reply bytes q holds. */
size_t
places_queue_bytes(const struct places_queue *q)
{
	return q->bytes;
}

/* Append len bytes of p to e, counting them in its queue; out of memory
 * is fatal. */
void
entry_add(struct places_entry *e, const char *p, size_t len)
{
	char *d;
	size_t cap;

	if (e->len + len > e->cap) {
		cap = e->cap ? e->cap : 256;
		while (cap < e->len + len)
			cap *= 2;
		if ((d = realloc(e->data, cap)) == NULL)
			fatal("places: reply");	/* a reply is owed */
		e->data = d;
		e->cap = cap;
	}
	memcpy(e->data + e->len, p, len);
	e->len += len;
	if (e->queue != NULL)
		e->queue->bytes += len;
}

/*
 * Queue p behind the pending replies, in the last entry if it is
 * complete, else in a new one; the queue is not flushed here.
 */
void
places_queue_append(struct places_queue *q, const char *p, size_t len)
{
	struct places_entry *e = TAILQ_LAST(&q->entries, places_entry_q);

	if (e == NULL || !e->ready) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			fatal("places_queue_append");	/* a reply is owed */
		e->ready = 1;
		e->queue = q;
		TAILQ_INSERT_TAIL(&q->entries, e, entry);
	}
	entry_add(e, p, len);
}

/* Hand every complete entry at the head to the done callback. */
void
queue_flush(struct places_queue *q)
{
	struct places_entry *e;

	while ((e = TAILQ_FIRST(&q->entries)) != NULL && e->ready) {
		TAILQ_REMOVE(&q->entries, e, entry);
		q->bytes -= e->len;
		q->done(q->arg, e->data, e->len);
		free(e->data);
		free(e);
	}
}

/* Complete a WHATSAT entry with a legacy-shaped error answer. */
void
entry_fail(struct places_entry *e, const char *status, const char *message)
{
	char *json = places_json_error(status, message);

	if (json == NULL) {
		entry_answer(e, OOM_JSON, strlen(OOM_JSON));
		return;
	}
	entry_answer(e, json, strlen(json));
	free(json);
}

/* Complete a WHATSAT entry with its JSON and flush its queue. */
void
entry_answer(struct places_entry *e, const char *json, size_t len)
{
	entry_add(e, json, len);
	entry_add(e, "\n\n", 2);
	e->ready = 1;
	e->query = NULL;
	queue_flush(e->queue);
}

