/*
 * metrics.h -- a server's Prometheus metrics: the snapshot the node
 * fills, its text exposition (format 0.0.4), histograms, and the small
 * HTTP server of [server:NAME] metrics_port (GET /metrics, /healthz).
 *
 * metrics_format() is pure formatting of a snapshot, separate from any
 * I/O, so it is unit-tested on its own.  The server runs on the node's
 * libevent loop: it accepts at most METRICS_MAX_CONNS connections (the
 * excess is closed at once), reads a request head of at most
 * METRICS_MAX_HEAD bytes within METRICS_DEADLINE_S seconds, answers
 * once and closes (no keep-alive, no request body is ever read).
 *
 * Ownership: metrics_server_new() returns an object the owner frees
 * with metrics_server_free(); the fill callback is asked for a fresh
 * snapshot on every GET /metrics.
 */
#ifndef HERD_METRICS_H
#define HERD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "herd/config.h"

#ifndef HERD_VERSION
#define HERD_VERSION		"0.1"
#endif

#define METRICS_MAX_CONNS	1024	/* open at once; more: closed */
#define METRICS_MAX_HEAD	8192	/* request line and headers */
#define METRICS_DEADLINE_S	5	/* to send the head, and to read
					 * the answer */

/* Histogram bucket upper bounds, in seconds (Prometheus's defaults). */
#define METRICS_NBOUNDS		11
extern const double metrics_bounds[METRICS_NBOUNDS];

/* A histogram of durations: counts[i] observations <= metrics_bounds[i]
 * and above the bound before (not cumulative); counts[METRICS_NBOUNDS]
 * the ones above every bound. */
struct metrics_hist {
	uint64_t	counts[METRICS_NBOUNDS + 1];
	uint64_t	count;
	double		sum;		/* seconds */
};
void	metrics_hist_observe(struct metrics_hist *, double seconds);

/* The statuses of places requests, as labels; the last is "other". */
#define METRICS_NPLACES		7
extern const char *const metrics_places_status[METRICS_NPLACES];
/* The index of a status string in metrics_places_status. */
size_t	metrics_places_index(const char *status);

struct metrics_peer {
	char		name[HERD_NAME_MAX + 1];
	int		up;
};

/* What GET /metrics shows, as the node saw it just now. */
struct metrics_snapshot {
	double		 start_time_s;	/* Unix time the process started */
	uint64_t	 rss_bytes;
	long		 open_fds;	/* -1: unknown (not shown) */
	uint64_t	 iamat, whatsat, invalid;	/* client lines */
	uint64_t	 records, clients;
	const struct metrics_peer *peers;
	size_t		 npeers;
	uint64_t	 flood_in, flood_out;
	uint64_t	 places[METRICS_NPLACES];	/* by status */
	struct metrics_hist places_duration;
	uint64_t	 places_cache_hits;
	uint64_t	 log_dropped;
	const char	*persist_state;	/* "ok", "failing" or "off" */
	double		 persist_lag_s;
	struct metrics_hist fsync_duration;
	int		 stopping;	/* SIGTERM's grace: /healthz is 503 */
	int		 health_only;	/* in: only stopping is wanted (for
					 * /healthz: no /proc walk per probe) */
};

struct evbuffer;
struct event_base;
struct metrics_server;

/* Append the exposition of s to out; 0, or -1 when out of memory. */
int	metrics_format(struct evbuffer *out, const struct metrics_snapshot *s);

/* Fill s (zeroed by the caller, but for health_only) for a scrape; with
 * s->health_only set, only s->stopping is needed. */
typedef void	(*metrics_fill_fn)(void *arg, struct metrics_snapshot *s);

/* Listen on bind:port; NULL with err set (and logged) on failure. */
struct metrics_server *metrics_server_new(struct event_base *,
		    const char *bind, unsigned port, metrics_fill_fn,
		    void *arg, char *err, size_t errlen);
/* Close every connection and the socket, free (NULL is fine). */
void	metrics_server_free(struct metrics_server *);
/* Connections open now. */
size_t	metrics_server_count(const struct metrics_server *);

#endif
