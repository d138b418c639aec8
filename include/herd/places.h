/*
 * places.h -- WHATSAT answers from a places provider, without blocking.
 *
 * A client owns a places_queue: the ordered list of its replies that
 * are still waiting for a places answer, plus any reply that came after
 * one of them (so replies leave in request order).  places_query()
 * appends a WHATSAT to the queue; whenever the head of the queue is
 * complete, the queue's done callback receives the bytes to write.
 * places_queue_cancel() detaches a departing client from requests still
 * in flight; a request no client waits for any more is abandoned.
 *
 * At most [places] max_in_flight provider requests run at once; up to
 * PLACES_WAITING_FACTOR times as many more wait for a slot, and beyond
 * that a WHATSAT is answered OVER_QUERY_LIMIT.  Every WHATSAT gets an
 * answer in order: out of memory for a reply is fatal, never a drop.
 */
#ifndef HERD_PLACES_H
#define HERD_PLACES_H

#include <sys/queue.h>

#include <stddef.h>

#include "herd/config.h"
#include "herd/metrics.h"
#include "herd/store.h"

/* Queries that may wait for a provider slot, per max_in_flight. */
#define PLACES_WAITING_FACTOR	4

struct event_base;
struct places;
struct places_entry;

typedef void (*places_done_cb)(void *arg, const char *p, size_t len);

struct places_queue {
	TAILQ_HEAD(places_entry_q, places_entry) entries;
	size_t				 bytes;		/* buffered reply bytes */
	places_done_cb			 done;
	void				*arg;
};

/* Where the built-in GeoNames set's index file is shared by the servers
 * of a machine (the data directory's root), or NULL; before places_new. */
void		 places_share_dir(const char *dir);
/* The places service of one node, driven by base. */
struct places	*places_new(struct event_base *base,
		    const struct herd_places *conf);
/* Apply a reloaded [places] section (requests in flight keep theirs). */
void		 places_configure(struct places *,
		    const struct herd_places *conf);
void		 places_free(struct places *);
/* The counters of /metrics: requests sent to the provider by the status
 * they produced (metrics_places_status), their durations, cache hits. */
struct places_stats {
	uint64_t		 by_status[METRICS_NPLACES];
	struct metrics_hist	 duration;
	uint64_t		 cache_hits;
};
void		 places_stats(const struct places *, struct places_stats *);
/* SIGTERM's grace is over: answer every query in flight, and every later
 * one, with UNKNOWN_ERROR "server shutting down". */
void		 places_shutdown(struct places *);

void		 places_queue_init(struct places_queue *, places_done_cb,
		    void *arg);
int		 places_queue_empty(const struct places_queue *);
size_t		 places_queue_bytes(const struct places_queue *);
/* Queue an immediate reply behind the pending ones. */
void		 places_queue_append(struct places_queue *, const char *,
		    size_t);
/* Forget every entry (a departing client); callbacks for them never run. */
void		 places_queue_cancel(struct places_queue *);

/* Answer "WHATSAT client radius bound" for rec into q. */
void		 places_query(struct places *, struct places_queue *q,
		    const struct herd_record *rec, double radius_km,
		    int max_results);

#endif
