/*
 * places.c -- WHATSAT answers, kept in request order per client.
 *
 * No provider is wired in yet: every WHATSAT for a known client answers
 * its AT line and a legacy-shaped REQUEST_DENIED saying so (never a fake
 * result).  The queue machinery is what an asynchronous provider needs.
 */
#include <stdlib.h>
#include <string.h>

#include "herd/log.h"
#include "herd/places.h"
#include "herd/places_json.h"

struct places_entry {
	TAILQ_ENTRY(places_entry)	 entry;
	int				 ready;
	char				*data;
	size_t				 len;
	size_t				 cap;
};

struct places {
	struct event_base	*base;
	struct herd_places	 conf;
};

static int	entry_add(struct places_entry *, const char *, size_t);
static void	queue_flush(struct places_queue *);

struct places *
places_new(struct event_base *base, const struct herd_places *conf)
{
	struct places *pl;

	if ((pl = calloc(1, sizeof(*pl))) == NULL)
		return NULL;
	pl->base = base;
	places_configure(pl, conf);
	return pl;
}

void
places_configure(struct places *pl, const struct herd_places *conf)
{
	pl->conf.api = conf->api;
	pl->conf.timeout_ms = conf->timeout_ms;
	pl->conf.cache_ttl_s = conf->cache_ttl_s;
}

void
places_free(struct places *pl)
{
	free(pl);
}

void
places_queue_init(struct places_queue *q, places_done_cb done, void *arg)
{
	TAILQ_INIT(&q->entries);
	q->bytes = 0;
	q->done = done;
	q->arg = arg;
}

int
places_queue_empty(const struct places_queue *q)
{
	return TAILQ_EMPTY(&q->entries);
}

size_t
places_queue_bytes(const struct places_queue *q)
{
	return q->bytes;
}

static int
entry_add(struct places_entry *e, const char *p, size_t len)
{
	char *d;
	size_t cap;

	if (e->len + len > e->cap) {
		cap = e->cap ? e->cap : 256;
		while (cap < e->len + len)
			cap *= 2;
		if ((d = realloc(e->data, cap)) == NULL)
			return -1;
		e->data = d;
		e->cap = cap;
	}
	memcpy(e->data + e->len, p, len);
	e->len += len;
	return 0;
}

void
places_queue_append(struct places_queue *q, const char *p, size_t len)
{
	struct places_entry *e = TAILQ_LAST(&q->entries, places_entry_q);

	if (e == NULL || !e->ready) {
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			log_warn("places_queue_append");
			return;
		}
		e->ready = 1;
		TAILQ_INSERT_TAIL(&q->entries, e, entry);
	}
	if (entry_add(e, p, len) == -1)
		log_warn("places_queue_append");
	else
		q->bytes += len;
}

/* Hand every complete entry at the head to the done callback. */
static void
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

void
places_queue_cancel(struct places_queue *q)
{
	struct places_entry *e;

	while ((e = TAILQ_FIRST(&q->entries)) != NULL) {
		TAILQ_REMOVE(&q->entries, e, entry);
		free(e->data);
		free(e);
	}
	q->bytes = 0;
}

void
places_query(struct places *pl, struct places_queue *q,
    const struct herd_record *rec, double radius_km, int max_results)
{
	struct places_entry *e;
	char *json;

	(void)pl;
	(void)radius_km;
	(void)max_results;
	json = places_json_error("REQUEST_DENIED", "no places backend is"
	    " configured on this server");
	if ((e = calloc(1, sizeof(*e))) == NULL || json == NULL) {
		free(e);
		free(json);
		log_warn("places_query");
		return;
	}
	TAILQ_INSERT_TAIL(&q->entries, e, entry);
	if (entry_add(e, record_line(rec), rec->line_len) == -1 ||
	    entry_add(e, "\n", 1) == -1 ||
	    entry_add(e, json, strlen(json)) == -1 ||
	    entry_add(e, "\n\n", 2) == -1)
		log_warn("places_query");
	free(json);
	q->bytes += e->len;
	e->ready = 1;
	queue_flush(q);
}
