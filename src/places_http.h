/*
 * places_http.h -- private to the places files: a small HTTP fetch
 * engine, libcurl's multi interface driven by a libevent loop; a request
 * goes in, and its status and body come back through a callback.
 *
 * It knows nothing of places providers: the owner builds the URL, the
 * headers and the body, and decides what the answer means.  Nothing
 * blocks: DNS runs in curl's resolver thread, connects and transfers are
 * non-blocking, and connections are kept alive for reuse.
 */
#ifndef HERD_PLACES_HTTP_H
#define HERD_PLACES_HTTP_H

#include <stddef.h>

#define PLACES_HTTP_ERROR_MAX	256	/* an error text, NUL included */

struct event_base;
struct places_http;		/* the engine */
struct places_http_fetch;	/* one transfer */

/* What to fetch; only read by places_http_fetch_new(). */
struct places_http_request {
	const char		*url;
	const char *const	*headers;	/* NULL-terminated, or NULL */
	const char		*post;		/* a body to POST, or NULL: GET */
	long			 timeout_ms;	/* the whole transfer */
};

/* How a transfer ended; valid during the done callback only. */
struct places_http_result {
	int		 ok;		/* a complete answer (any status) */
	int		 timed_out;	/* timeout_ms passed */
	int		 too_big;	/* the body passed the engine's limit */
	long		 status;	/* HTTP status, 0 without one */
	const char	*body;		/* NUL-terminated, never NULL */
	size_t		 len;
	const char	*error;		/* why not ok ("" when ok) */
	long		 ms;		/* from start to end */
};

/* A transfer f ended; arg is places_http_fetch_new()'s.  The owner frees
 * f (here or later) with places_http_fetch_free(). */
typedef void (*places_http_done_cb)(void *arg,
		    const struct places_http_result *);

/* An engine on base whose answers hold at most body_max bytes; NULL on
 * failure. */
struct places_http *places_http_new(struct event_base *base,
		    size_t body_max);
/* Every fetch must be freed first. */
void		 places_http_free(struct places_http *);
/* At most conns connections, open or kept alive. */
void		 places_http_set_max(struct places_http *, long conns);
/* s URL-encoded, to free(); NULL when memory runs out. */
char		*places_http_escape(const char *s);

/* A transfer of req, not started; NULL on failure. */
struct places_http_fetch *places_http_fetch_new(struct places_http *,
		    const struct places_http_request *req,
		    places_http_done_cb done, void *arg);
/* Start f; -1 (logged) on failure. */
int		 places_http_fetch_start(struct places_http_fetch *);
/* Abandon f if it is running, and free it; done is never called after. */
void		 places_http_fetch_free(struct places_http_fetch *);

#endif /* HERD_PLACES_HTTP_H */
