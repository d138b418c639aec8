/*
 * places.c -- WHATSAT answers from a places provider (Google Places, new
 * or legacy API) through libcurl's multi interface, driven by the node's
 * libevent loop; replies kept in request order per client.
 *
 * The wiring follows curl's multi-event/hiperfifo examples: curl tells us
 * which sockets to watch (socket callback) and when to wake it (timer
 * callback); libevent tells curl when either happens.  Nothing here
 * blocks: DNS runs in curl's resolver thread, connects and transfers are
 * non-blocking, and the multi handle keeps connections to the provider
 * alive for reuse.
 *
 * Identical queries in flight share one request (a query has a list of
 * waiting replies), and successful answers are cached for cache_ttl_s.
 * At most max_in_flight requests run at once; more wait, in arrival
 * order, in a queue of at most PLACES_WAITING_FACTOR * max_in_flight, and the
 * rest are answered OVER_QUERY_LIMIT at once.  A query nobody waits for
 * any more is abandoned.
 *
 * Out of memory for a reply that is owed is fatal (the node's policy:
 * log, exit 1, be restarted); an answer that cannot be built is replaced
 * by a static legacy-shaped UNKNOWN_ERROR, so no reply is ever dropped.
 */
#include <sys/queue.h>
#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "herd/log.h"
#include "herd/places.h"
#include "herd/places_json.h"

#define QUERY_KEY_MAX		128
#define RESPONSE_MAX		(4 * 1024 * 1024)
#define CONNECT_TIMEOUT_MS	3000
#define CACHE_BUCKETS		1024
#define CACHE_MAX		8192
/* The answer when not even an error answer can be allocated. */
#define OOM_JSON	"{\"html_attributions\":[],\"results\":[]," \
	"\"status\":\"UNKNOWN_ERROR\"}"

#define FIELD_MASK "places.id,places.displayName,places.formattedAddress," \
	"places.shortFormattedAddress,places.location,places.viewport," \
	"places.types,places.rating,places.userRatingCount," \
	"places.businessStatus,places.currentOpeningHours," \
	"places.regularOpeningHours,places.priceLevel,places.iconMaskBaseUri," \
	"places.iconBackgroundColor,places.plusCode,places.photos"

struct query;

/* One reply in a client's queue; waits on a query until it is ready. */
struct places_entry {
	TAILQ_ENTRY(places_entry)	 entry;		/* in the client queue */
	TAILQ_ENTRY(places_entry)	 wentry;	/* in query->waiters */
	struct places_queue		*queue;
	struct query			*query;		/* NULL once answered */
	int				 ready;
	char				*data;
	size_t				 len;
	size_t				 cap;
};

TAILQ_HEAD(waiter_list, places_entry);

/* One provider request, shared by every identical WHATSAT in flight. */
struct query {
	TAILQ_ENTRY(query)	 entry;
	struct places		*pl;
	char			 key[QUERY_KEY_MAX];
	enum places_api		 api;
	int			 max_results;
	char			 radius[64];	/* metres, for the log */
	CURL			*easy;
	struct curl_slist	*headers;
	char			*url_logged;	/* key redacted */
	char			*body;		/* response */
	size_t			 len;
	int			 too_big;
	struct timespec		 started;
	unsigned		 gen;		/* provider generation */
	int			 running;	/* in pl->queries, on curl */
	int			 waiting;	/* in pl->waiting */
	char			 errbuf[CURL_ERROR_SIZE];
	struct waiter_list	 waiters;
};

struct cache_item {
	TAILQ_ENTRY(cache_item)	 lru;		/* oldest first */
	struct cache_item	*next;		/* bucket chain */
	char			 key[QUERY_KEY_MAX];
	time_t			 expires;
	size_t			 len;
	char			 json[];
};

struct places {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	enum places_api		 api;
	char			*key;
	char			*url;
	long			 timeout_ms;
	long			 cache_ttl_s;
	long			 max_in_flight;
	unsigned		 gen;		/* bumped when the provider changes */
	int			 stopped;	/* shut down: no new requests */
	TAILQ_HEAD(, query)	 queries;	/* running on curl */
	TAILQ_HEAD(, query)	 waiting;	/* for a free slot, oldest first */
	size_t			 nrunning, nwaiting;
	struct cache_item	*buckets[CACHE_BUCKETS];
	TAILQ_HEAD(, cache_item) lru;
	size_t			 ncached;
	unsigned long		 requests, cache_hits, coalesced, refused;
	time_t			 refused_logged;
};

/* The socket-watch state curl asks us to keep per socket. */
struct sock_watch {
	struct event	*ev;
	struct places	*pl;
};

static void	entry_add(struct places_entry *, const char *, size_t);
static void	entry_answer(struct places_entry *, const char *, size_t);
static void	entry_fail(struct places_entry *, const char *, const char *);
static void	queue_flush(struct places_queue *);
static int	socket_cb(CURL *, curl_socket_t, int, void *, void *);
static int	timer_cb(CURLM *, long, void *);
static void	event_cb(evutil_socket_t, short, void *);
static void	timeout_cb(evutil_socket_t, short, void *);
static void	check_done(struct places *);
static void	query_finish(struct query *, CURLcode);
static void	query_free(struct query *);
static void	query_fail_all(struct query *, const char *);
static struct query *query_find(struct places *, const char *);
static struct query *query_new(struct places *, const char *,
		    const struct herd_location *, double, int);
static int	query_run(struct query *);
static void	run_waiting(struct places *);
static size_t	write_cb(char *, size_t, size_t, void *);
static void	format_radius(char *, size_t, double);
static unsigned	cache_hash(const char *);
static const struct cache_item *cache_get(struct places *, const char *);
static void	cache_put(struct places *, const char *, const char *, size_t);
static void	cache_clear(struct places *);
static void	cache_drop(struct places *, struct cache_item *);

/* --- lifecycle ----------------------------------------------------------- */

/* Create the places service of a node on base from conf; NULL on error. */
struct places *
places_new(struct event_base *base, const struct herd_places *conf)
{
	struct places *pl;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	if ((pl = calloc(1, sizeof(*pl))) == NULL)
		return NULL;
	pl->base = base;
	TAILQ_INIT(&pl->queries);
	TAILQ_INIT(&pl->waiting);
	TAILQ_INIT(&pl->lru);
	if ((pl->multi = curl_multi_init()) == NULL ||
	    (pl->timer = evtimer_new(base, timeout_cb, pl)) == NULL) {
		places_free(pl);
		return NULL;
	}
	curl_multi_setopt(pl->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(pl->multi, CURLMOPT_SOCKETDATA, pl);
	curl_multi_setopt(pl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(pl->multi, CURLMOPT_TIMERDATA, pl);
	places_configure(pl, conf);
	return pl;
}

/*
 * Apply conf (with $HERD_PLACES_KEY over its key) and log it; another
 * api, endpoint or key empties the cache.
 */
void
places_configure(struct places *pl, const struct herd_places *conf)
{
	const char *env = getenv("HERD_PLACES_KEY");
	const char *key = (env != NULL && *env != '\0') ? env : conf->key;
	const char *url = conf->url ? conf->url :
	    config_places_default_url(conf->api);
	int changed;

	changed = pl->api != conf->api || pl->url == NULL ||
	    strcmp(pl->url, url) != 0 || (pl->key == NULL) != (key == NULL) ||
	    (key != NULL && strcmp(pl->key, key) != 0);
	free(pl->key);
	free(pl->url);
	pl->key = key ? strdup(key) : NULL;
	pl->url = strdup(url);
	pl->api = conf->api;
	pl->timeout_ms = conf->timeout_ms;
	pl->cache_ttl_s = conf->cache_ttl_s;
	pl->max_in_flight = conf->max_in_flight > 0 ? conf->max_in_flight : 1;
	/* Our own limit keeps curl below this; it bounds sockets anyway. */
	curl_multi_setopt(pl->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    pl->max_in_flight);
	curl_multi_setopt(pl->multi, CURLMOPT_MAXCONNECTS, pl->max_in_flight);
	if (changed) {
		/* Answers from another provider: neither cached nor shared
		 * with new queries (those in flight still answer theirs). */
		cache_clear(pl);
		pl->gen++;
	}
	log_info("places: api %s, endpoint %s, key %s, timeout %ld ms,"
	    " cache %ld s, max_in_flight %ld",
	    pl->api == PLACES_API_NEW ? "new" : "legacy",
	    pl->url ? pl->url : "?", pl->key ? "set" : "NOT SET",
	    pl->timeout_ms, pl->cache_ttl_s, pl->max_in_flight);
	run_waiting(pl);	/* the limit may have grown */
}

/* Abandon the queries in flight, empty the cache and free pl. */
void
places_free(struct places *pl)
{
	struct query *q;

	pl->stopped = 1;	/* freeing one must not start another */
	while ((q = TAILQ_FIRST(&pl->queries)) != NULL)
		query_free(q);
	while ((q = TAILQ_FIRST(&pl->waiting)) != NULL)
		query_free(q);
	cache_clear(pl);
	if (pl->multi != NULL)
		curl_multi_cleanup(pl->multi);
	if (pl->timer != NULL)
		event_free(pl->timer);
	free(pl->key);
	free(pl->url);
	free(pl);
	curl_global_cleanup();
}

/*
 * Stop asking the provider: every query running or waiting is answered
 * with a legacy-shaped UNKNOWN_ERROR "server shutting down" (in order,
 * in each client's queue), and so is every later WHATSAT.
 */
void
places_shutdown(struct places *pl)
{
	struct query *q;
	size_t n = pl->nrunning + pl->nwaiting;

	pl->stopped = 1;
	while ((q = TAILQ_FIRST(&pl->queries)) != NULL ||
	    (q = TAILQ_FIRST(&pl->waiting)) != NULL) {
		query_fail_all(q, "server shutting down");
		query_free(q);
	}
	if (n > 0)
		log_info("places: shutting down: %zu queries in flight"
		    " answered UNKNOWN_ERROR", n);
}

/* --- per-client reply queue ----------------------------------------------- */

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
static void
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

/*
 * Free every entry of q, detaching those still waiting on a query; a
 * query left with no waiter is abandoned, so a departed client holds
 * no provider slot.  Newest first: a slot freed by an older query must
 * not start a younger one of the same client.
 */
void
places_queue_cancel(struct places_queue *q)
{
	struct places_entry *e;
	struct query *qu;

	while ((e = TAILQ_LAST(&q->entries, places_entry_q)) != NULL) {
		TAILQ_REMOVE(&q->entries, e, entry);
		if ((qu = e->query) != NULL) {
			TAILQ_REMOVE(&qu->waiters, e, wentry);
			if (TAILQ_EMPTY(&qu->waiters)) {
				log_info("places: %s abandoned: its clients"
				    " are gone", qu->url_logged);
				query_free(qu);
			}
		}
		free(e->data);
		free(e);
	}
	q->bytes = 0;
}

/* Complete a WHATSAT entry with a legacy-shaped error answer. */
static void
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
static void
entry_answer(struct places_entry *e, const char *json, size_t len)
{
	entry_add(e, json, len);
	entry_add(e, "\n\n", 2);
	e->ready = 1;
	e->query = NULL;
	queue_flush(e->queue);
}

/* --- queries --------------------------------------------------------- */

/*
 * Queue the WHATSAT reply for rec: its record line, then the answer from
 * the cache, from an identical query running or waiting, or from a new
 * query, run now or queued for a slot (errors, and a full waiting
 * queue, are answered at once).
 */
void
places_query(struct places *pl, struct places_queue *q,
    const struct herd_record *rec, double radius_km, int max_results)
{
	struct places_entry *e;
	const struct cache_item *ci;
	struct query *qu;
	struct proto_at at;
	struct herd_location where, *loc = &where;
	char key[QUERY_KEY_MAX];

	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("places_query");		/* a reply is owed */
	e->queue = q;
	TAILQ_INSERT_TAIL(&q->entries, e, entry);
	entry_add(e, record_line(rec), rec->line_len);
	entry_add(e, "\n", 1);

	if (pl->stopped) {
		entry_fail(e, "UNKNOWN_ERROR", "server shutting down");
		return;
	}
	if (pl->key == NULL) {
		entry_fail(e, "REQUEST_DENIED", "no places API key"
		    " is configured: set key in the [places] section of"
		    " herd.ini or the HERD_PLACES_KEY environment variable");
		return;
	}
	/* Coordinates are computed here, not on every IAMAT. */
	if (proto_parse_at(record_line(rec), rec->line_len, &at) == -1 ||
	    proto_parse_location(at.location.p, at.location.len, loc) == -1) {
		entry_fail(e, "UNKNOWN_ERROR", "the stored record"
		    " cannot be read");
		return;
	}
	snprintf(key, sizeof(key), "%d|%.6f|%.6f|%.3f|%d", pl->api,
	    loc->lat, loc->lon, radius_km * 1000.0, max_results);
	if ((ci = cache_get(pl, key)) != NULL) {
		pl->cache_hits++;
		log_info("places: cache hit for %s", key);
		entry_answer(e, ci->json, ci->len);
		return;
	}
	if ((qu = query_find(pl, key)) != NULL)
		pl->coalesced++;
	else if (pl->nrunning >= (size_t)pl->max_in_flight &&
	    pl->nwaiting >= (size_t)(PLACES_WAITING_FACTOR * pl->max_in_flight)) {
		pl->refused++;
		if (time(NULL) != pl->refused_logged) {
			pl->refused_logged = time(NULL);
			log_warnx("places: max_in_flight (%ld) and %ld waiting:"
			    " refused %lu queries so far", pl->max_in_flight,
			    PLACES_WAITING_FACTOR * pl->max_in_flight, pl->refused);
		}
		entry_fail(e, "OVER_QUERY_LIMIT", "too many places queries"
		    " in flight");
		return;
	} else if ((qu = query_new(pl, key, loc, radius_km, max_results)) ==
	    NULL || (pl->nrunning < (size_t)pl->max_in_flight &&
	    query_run(qu) == -1)) {
		if (qu != NULL)
			query_free(qu);
		entry_fail(e, "UNKNOWN_ERROR", "the server could not"
		    " start a places request (out of resources); try again");
		return;
	} else if (!qu->running) {
		TAILQ_INSERT_TAIL(&pl->waiting, qu, entry);
		qu->waiting = 1;
		pl->nwaiting++;
	}
	e->query = qu;
	TAILQ_INSERT_TAIL(&qu->waiters, e, wentry);
}

/* The query for key from the current provider, running or waiting. */
static struct query *
query_find(struct places *pl, const char *key)
{
	struct query *qu;

	TAILQ_FOREACH(qu, &pl->queries, entry)
		if (qu->gen == pl->gen && strcmp(qu->key, key) == 0)
			return qu;
	TAILQ_FOREACH(qu, &pl->waiting, entry)
		if (qu->gen == pl->gen && strcmp(qu->key, key) == 0)
			return qu;
	return NULL;
}

/* "10000" for 10 km, "0.5" for 0.0005 km: metres without exponent,
 * at least 1 mm (a provider wants a positive radius). */
static void
format_radius(char *buf, size_t size, double km)
{
	double m = km * 1000.0;
	size_t n;

	snprintf(buf, size, "%.3f", m < 0.001 ? 0.001 : m);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
}

/*
 * Build the provider request for key around loc (GET for the legacy api,
 * POST for the new one), not yet started and in no list; NULL on
 * failure.
 */
static struct query *
query_new(struct places *pl, const char *key,
    const struct herd_location *loc, double radius_km, int max_results)
{
	struct query *q;
	char radius[64], *url = NULL, *esc = NULL, hdr[512];
	const char *sep;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->pl = pl;
	snprintf(q->key, sizeof(q->key), "%s", key);
	q->api = pl->api;
	q->gen = pl->gen;
	q->max_results = max_results;
	TAILQ_INIT(&q->waiters);
	if ((q->easy = curl_easy_init()) == NULL)
		goto fail;
	format_radius(radius, sizeof(radius), radius_km);
	snprintf(q->radius, sizeof(q->radius), "%s", radius);

	if (pl->api == PLACES_API_LEGACY) {
		sep = strchr(pl->url, '?') ? "&" : "?";
		if ((esc = curl_easy_escape(q->easy, pl->key, 0)) == NULL ||
		    asprintf(&url, "%s%slocation=%.6f,%.6f&radius=%s&key=%s",
		    pl->url, sep, loc->lat, loc->lon, radius, esc) == -1 ||
		    asprintf(&q->url_logged, "GET %s%slocation=%.6f,%.6f&radius=%s"
		    "&key=REDACTED", pl->url, sep, loc->lat, loc->lon,
		    radius) == -1)
			goto fail;
		curl_easy_setopt(q->easy, CURLOPT_HTTPGET, 1L);
	} else {
		char body[512];

		snprintf(body, sizeof(body), "{\"locationRestriction\":"
		    "{\"circle\":{\"center\":{\"latitude\":%.6f,"
		    "\"longitude\":%.6f},\"radius\":%s}},"
		    "\"maxResultCount\":%d}", loc->lat, loc->lon,
		    radius, max_results);
		if ((url = strdup(pl->url)) == NULL ||
		    asprintf(&q->url_logged, "POST %s", pl->url) == -1)
			goto fail;
		snprintf(hdr, sizeof(hdr), "X-Goog-Api-Key: %s", pl->key);
		q->headers = curl_slist_append(q->headers, hdr);
		q->headers = curl_slist_append(q->headers,
		    "X-Goog-FieldMask: " FIELD_MASK);
		q->headers = curl_slist_append(q->headers,
		    "Content-Type: application/json");
		if (q->headers == NULL)
			goto fail;
		curl_easy_setopt(q->easy, CURLOPT_HTTPHEADER, q->headers);
		curl_easy_setopt(q->easy, CURLOPT_COPYPOSTFIELDS, body);
	}
	curl_easy_setopt(q->easy, CURLOPT_URL, url);
	curl_easy_setopt(q->easy, CURLOPT_PRIVATE, q);
	curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->easy, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(q->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->easy, CURLOPT_TIMEOUT_MS, pl->timeout_ms);
	curl_easy_setopt(q->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    pl->timeout_ms < CONNECT_TIMEOUT_MS ? pl->timeout_ms :
	    CONNECT_TIMEOUT_MS);
	curl_easy_setopt(q->easy, CURLOPT_USERAGENT, "herd/1");
	curl_easy_setopt(q->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(q->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_free(esc);
	free(url);
	return q;
fail:
	curl_free(esc);
	free(url);
	if (q->easy != NULL)
		curl_easy_cleanup(q->easy);
	curl_slist_free_all(q->headers);
	free(q->url_logged);
	free(q);
	return NULL;
}

/* Hand q to curl and count it running; -1 (logged) on failure, q then
 * being in no list. */
static int
query_run(struct query *q)
{
	struct places *pl = q->pl;
	CURLMcode mc;

	clock_gettime(CLOCK_MONOTONIC, &q->started);
	if ((mc = curl_multi_add_handle(pl->multi, q->easy)) != CURLM_OK) {
		log_warnx("places: curl_multi_add_handle: %s",
		    curl_multi_strerror(mc));
		return -1;
	}
	q->running = 1;
	TAILQ_INSERT_TAIL(&pl->queries, q, entry);
	pl->nrunning++;
	pl->requests++;
	log_info("places: %s (radius %s m, max %d)", q->url_logged, q->radius,
	    q->max_results);
	return 0;
}

/* Start waiting queries, oldest first, while slots are free. */
static void
run_waiting(struct places *pl)
{
	struct query *q;

	while (!pl->stopped && pl->nrunning < (size_t)pl->max_in_flight &&
	    (q = TAILQ_FIRST(&pl->waiting)) != NULL) {
		TAILQ_REMOVE(&pl->waiting, q, entry);
		q->waiting = 0;
		pl->nwaiting--;
		if (query_run(q) == -1) {
			query_fail_all(q, "the server could not start a"
			    " places request (out of resources); try again");
			query_free(q);
		}
	}
}

/* Answer every waiter of q with a legacy-shaped UNKNOWN_ERROR. */
static void
query_fail_all(struct query *q, const char *message)
{
	struct places_entry *e;

	/* Answering may flush client queues; detach each waiter first. */
	while ((e = TAILQ_FIRST(&q->waiters)) != NULL) {
		TAILQ_REMOVE(&q->waiters, e, wentry);
		entry_fail(e, "UNKNOWN_ERROR", message);
	}
}

/*
 * CURLOPT_WRITEFUNCTION: append to the body; 0 (abort) past RESPONSE_MAX
 * or when memory runs out.
 */
static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct query *q = arg;
	size_t len = size * n;
	char *b;

	if (q->len + len > RESPONSE_MAX) {
		q->too_big = 1;
		return 0;	/* aborts the transfer */
	}
	if ((b = realloc(q->body, q->len + len + 1)) == NULL)
		return 0;
	q->body = b;
	memcpy(q->body + q->len, p, len);
	q->len += len;
	q->body[q->len] = '\0';
	return len;
}

/*
 * Unlink a query (running, waiting or in no list) from its list and
 * curl, and free it (waiters must be gone); a freed slot starts the
 * next waiting query.
 */
static void
query_free(struct query *q)
{
	struct places *pl = q->pl;
	struct places_entry *e;
	int was_running = q->running;

	while ((e = TAILQ_FIRST(&q->waiters)) != NULL) {
		TAILQ_REMOVE(&q->waiters, e, wentry);
		e->query = NULL;
	}
	if (q->running) {
		TAILQ_REMOVE(&pl->queries, q, entry);
		pl->nrunning--;
		curl_multi_remove_handle(pl->multi, q->easy);
	} else if (q->waiting) {
		TAILQ_REMOVE(&pl->waiting, q, entry);
		pl->nwaiting--;
	}
	curl_easy_cleanup(q->easy);
	curl_slist_free_all(q->headers);
	free(q->url_logged);
	free(q->body);
	free(q);
	if (was_running)
		run_waiting(pl);
}

/* Turn a finished transfer into legacy JSON for every waiter. */
static void
query_finish(struct query *q, CURLcode rc)
{
	struct places *pl = q->pl;
	struct places_entry *e;
	struct timespec now;
	long http = 0, ms;
	char *json, msg[CURL_ERROR_SIZE + 128], st[32];
	const char *status;
	size_t len;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - q->started.tv_sec) * 1000 +
	    (now.tv_nsec - q->started.tv_nsec) / 1000000;
	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &http);
	if (rc == CURLE_OK) {
		json = q->api == PLACES_API_NEW ?
		    places_json_from_new(q->body ? q->body : "", q->len, http,
		    q->max_results) :
		    places_json_from_legacy(q->body ? q->body : "", q->len,
		    http, q->max_results);
	} else {
		if (q->too_big)
			snprintf(msg, sizeof(msg), "the places provider's"
			    " answer is larger than %d bytes", RESPONSE_MAX);
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			snprintf(msg, sizeof(msg), "the places provider did not"
			    " answer within %ld ms", pl->timeout_ms);
		else
			snprintf(msg, sizeof(msg), "cannot reach the places"
			    " provider: %s", q->errbuf[0] ? q->errbuf :
			    curl_easy_strerror(rc));
		json = places_json_error("UNKNOWN_ERROR", msg);
	}
	if (json == NULL) {
		log_warnx("places: out of memory");
		json = strdup(OOM_JSON);
		if (json == NULL)
			fatal("strdup");
	}
	len = strlen(json);
	status = places_json_status_of(json, st, sizeof(st));
	if (rc == CURLE_OK)
		log_info("places: %s -> HTTP %ld, %s, %zu bytes in %ld ms",
		    q->url_logged, http, status, q->len, ms);
	else
		log_warnx("places: %s -> HTTP %ld, %s: %s (%ld ms)",
		    q->url_logged, http, status, q->errbuf[0] ? q->errbuf :
		    curl_easy_strerror(rc), ms);
	if (pl->cache_ttl_s > 0 && (strcmp(status, "OK") == 0 ||
	    strcmp(status, "ZERO_RESULTS") == 0) && q->gen == pl->gen)
		cache_put(pl, q->key, json, len);
	/* Answering may flush client queues; detach each waiter first. */
	while ((e = TAILQ_FIRST(&q->waiters)) != NULL) {
		TAILQ_REMOVE(&q->waiters, e, wentry);
		entry_answer(e, json, len);
	}
	free(json);
	query_free(q);
}

/* --- curl <-> libevent ---------------------------------------------------- */

/* Finish every query whose transfer curl reports done. */
static void
check_done(struct places *pl)
{
	CURLMsg *m;
	int left;
	struct query *q;

	while ((m = curl_multi_info_read(pl->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		q = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &q);
		if (q != NULL)
			query_finish(q, m->data.result);
	}
}

/*
 * Tell curl that socket fd is ready and finish the transfers that are
 * done; with none left running, the timer is cancelled.
 */
static void
event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct places *pl = arg;
	int action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(pl->multi, fd, action, &running);
	check_done(pl);
	/* Nothing left: cancel curl's timer.  Our count, not curl's
	 * running, which predates queries check_done started. */
	if (pl->nrunning == 0 && evtimer_pending(pl->timer, NULL))
		evtimer_del(pl->timer);
}

/* curl's timer expired: let it act on timeouts and finish what is done. */
static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct places *pl = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(pl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(pl);
}

/* CURLMOPT_TIMERFUNCTION: curl wants a wake-up in ms (-1: none). */
static int
timer_cb(CURLM *multi, long ms, void *arg)
{
	struct places *pl = arg;
	struct timeval tv;

	(void)multi;
	if (ms < 0) {
		evtimer_del(pl->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(pl->timer, &tv);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget a socket. */
static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct places *pl = arg;
	struct sock_watch *w = sockp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (w != NULL) {
			event_free(w->ev);
			free(w);
			curl_multi_assign(pl->multi, s, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (w == NULL) {
		if ((w = calloc(1, sizeof(*w))) == NULL)
			return -1;
		w->pl = pl;
		curl_multi_assign(pl->multi, s, w);
	} else
		event_free(w->ev);
	w->ev = event_new(pl->base, s, kind, event_cb, pl);
	if (w->ev == NULL)
		return -1;
	event_add(w->ev, NULL);
	return 0;
}

/* --- cache ----------------------------------------------------------- */

/* FNV-1a hash of s, reduced to a bucket index. */
static unsigned
cache_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % CACHE_BUCKETS;
}

/* The unexpired cached answer for key, or NULL (always when TTL is 0). */
static const struct cache_item *
cache_get(struct places *pl, const char *key)
{
	struct cache_item *ci;

	if (pl->cache_ttl_s <= 0)
		return NULL;
	for (ci = pl->buckets[cache_hash(key)]; ci != NULL; ci = ci->next)
		if (strcmp(ci->key, key) == 0)
			return ci->expires > time(NULL) ? ci : NULL;
	return NULL;
}

/* Remove ci from its bucket chain and the LRU list, and free it. */
static void
cache_drop(struct places *pl, struct cache_item *ci)
{
	struct cache_item **pp = &pl->buckets[cache_hash(ci->key)];

	while (*pp != ci)
		pp = &(*pp)->next;
	*pp = ci->next;
	TAILQ_REMOVE(&pl->lru, ci, lru);
	pl->ncached--;
	free(ci);
}

/*
 * Cache json under key for cache_ttl_s, replacing an older copy and
 * evicting expired items, then the oldest ones when full.
 */
static void
cache_put(struct places *pl, const char *key, const char *json, size_t len)
{
	struct cache_item *ci;
	unsigned b = cache_hash(key);

	for (ci = pl->buckets[b]; ci != NULL; ci = ci->next)
		if (strcmp(ci->key, key) == 0) {
			cache_drop(pl, ci);
			break;
		}
	/* Oldest first: expired ones, then the oldest live one if full. */
	while ((ci = TAILQ_FIRST(&pl->lru)) != NULL &&
	    (ci->expires <= time(NULL) || pl->ncached >= CACHE_MAX))
		cache_drop(pl, ci);
	if ((ci = malloc(sizeof(*ci) + len + 1)) == NULL)
		return;
	snprintf(ci->key, sizeof(ci->key), "%s", key);
	ci->expires = time(NULL) + pl->cache_ttl_s;
	ci->len = len;
	memcpy(ci->json, json, len + 1);
	ci->next = pl->buckets[b];
	pl->buckets[b] = ci;
	TAILQ_INSERT_TAIL(&pl->lru, ci, lru);
	pl->ncached++;
}

/* Drop every cached answer. */
static void
cache_clear(struct places *pl)
{
	struct cache_item *ci;

	while ((ci = TAILQ_FIRST(&pl->lru)) != NULL)
		cache_drop(pl, ci);
}
