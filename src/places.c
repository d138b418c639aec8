/*
 * places.c -- WHATSAT answers from a places provider (Google Places, new
 * or legacy API, or OpenStreetMap's Overpass API): the places object,
 * its queries and the replies kept in request order per client.  The
 * HTTP transfers run on the fetch engine of places_http.c (libcurl
 * multi on the node's libevent loop, nothing blocks); the answers are
 * cached by places_cache.c.
 *
 * Identical queries in flight share one request (a query has a list of
 * waiting replies), and successful answers are cached for cache_ttl_s.
 * At most max_in_flight requests run at once; more wait, in arrival
 * order, in a queue of at most PLACES_WAITING_FACTOR * max_in_flight,
 * and the rest are answered OVER_QUERY_LIMIT at once.  A query nobody waits for
 * any more is abandoned.  After an Overpass server's 429 (or rate_limited
 * page) nothing is sent to it for backoff_s: new and waiting queries are
 * answered OVER_QUERY_LIMIT at once.
 *
 * Out of memory for a reply that is owed is fatal (the node's policy:
 * log, exit 1, be restarted); an answer that cannot be built is replaced
 * by a static legacy-shaped UNKNOWN_ERROR, so no reply is ever dropped.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "herd/log.h"
#include "herd/places.h"
#include "herd/places_json.h"
#include "herd/places_overpass.h"
#include "places_cache.h"
#include "places_entry.h"
#include "places_geonames.h"
#include "places_http.h"

#define QUERY_KEY_MAX		PLACES_CACHE_KEY_MAX
#define RESPONSE_MAX		(4 * 1024 * 1024)

#define FIELD_MASK "places.id,places.displayName,places.formattedAddress," \
	"places.shortFormattedAddress,places.location,places.viewport," \
	"places.types,places.rating,places.userRatingCount," \
	"places.businessStatus,places.currentOpeningHours," \
	"places.regularOpeningHours,places.priceLevel,places.iconMaskBaseUri," \
	"places.iconBackgroundColor,places.plusCode,places.photos"

TAILQ_HEAD(waiter_list, places_entry);

/* One provider request, shared by every identical WHATSAT in flight. */
struct query {
	TAILQ_ENTRY(query)	 entry;
	struct places		*pl;
	char			 key[QUERY_KEY_MAX];
	enum places_api		 api;
	int			 max_results;
	double			 lat, lon;	/* the query point */
	char			 radius[64];	/* metres, for the log */
	struct places_http_fetch *fetch;
	char			*url_logged;	/* key redacted */
	unsigned		 gen;		/* provider generation */
	int			 running;	/* in pl->queries, on curl */
	int			 waiting;	/* in pl->waiting */
	struct waiter_list	 waiters;
};

struct places {
	struct places_http	*http;
	enum places_api		 api;
	char			*key;
	char			*url;
	long			 timeout_ms;
	long			 cache_ttl_s;
	long			 max_in_flight;
	char			*user_agent;	/* overpass */
	long			 backoff_s;	/* overpass: quiet after a 429 */
	struct timespec		 backoff_until;	/* monotonic; 0: none */
	unsigned		 gen;		/* bumped when the provider changes */
	int			 stopped;	/* shut down: no new requests */
	TAILQ_HEAD(, query)	 queries;	/* running on curl */
	TAILQ_HEAD(, query)	 waiting;	/* for a free slot, oldest first */
	size_t			 nrunning, nwaiting;
	struct places_cache	 cache;
	unsigned long		 requests, cache_hits, coalesced, refused;
	struct places_stats	 stats;		/* for /metrics */
	time_t			 refused_logged;
	struct places_geonames	*gn;		/* api geonames: its data */
	char			*gn_file;	/* ... loaded from (NULL: built-in) */
	uint32_t		 gn_classes;
	struct places_geonames_loader *gn_loader;	/* reloads */
	int			 gn_async;	/* started: load in the back */
};

static void	query_finish(void *, const struct places_http_result *);
static void	query_free(struct query *);
static void	query_fail_all(struct query *, const char *, const char *);
static struct query *query_find(struct places *, const char *);
static struct query *query_new(struct places *, const char *,
		    const struct herd_location *, double, int);
static int	query_run(struct query *);
static void	run_waiting(struct places *);
static void	format_radius(char *, size_t, double);
static const char *api_name(enum places_api);
static long	backoff_left(const struct places *);
static void	backoff_start(struct places *);
static void	configure_geonames(struct places *, const struct herd_places *);
static void	answer_geonames(struct places *, struct places_entry *,
		    const struct herd_location *, double, int);
static void	geonames_loaded(void *, struct places_geonames *,
		    const char *, uint32_t);

/* --- lifecycle ----------------------------------------------------------- */

/* Create the places service of a node on base from conf; NULL on error. */
/* See places.h. */
void
places_share_dir(const char *dir)
{
	places_geonames_share_dir(dir);
}

struct places *
places_new(struct event_base *base, const struct herd_places *conf)
{
	struct places *pl;

	if ((pl = calloc(1, sizeof(*pl))) == NULL)
		return NULL;
	TAILQ_INIT(&pl->queries);
	TAILQ_INIT(&pl->waiting);
	places_cache_init(&pl->cache);
	if ((pl->http = places_http_new(base, RESPONSE_MAX)) == NULL ||
	    (pl->gn_loader = places_geonames_loader_new(base,
	    geonames_loaded, pl)) == NULL) {
		places_free(pl);
		return NULL;
	}
	places_configure(pl, conf);	/* before serving: loads in place */
	pl->gn_async = 1;
	return pl;
}

/* See places.h. */
void
places_stats(const struct places *pl, struct places_stats *st)
{
	*st = pl->stats;
}

/*
 * Apply conf (with $HERD_PLACES_KEY over its key) and log it; another
 * api, endpoint or key empties the cache.  Without an api and a key,
 * the api is geonames (the embedded default).
 */
void
places_configure(struct places *pl, const struct herd_places *conf)
{
	const char *env = getenv("HERD_PLACES_KEY");
	const char *key = (env != NULL && *env != '\0') ? env : conf->key;
	enum places_api api = conf->api_set || key != NULL ? conf->api :
	    PLACES_API_GEONAMES;
	const char *url = conf->url ? conf->url :
	    config_places_default_url(api);
	int changed;

	changed = pl->api != api || pl->url == NULL ||
	    strcmp(pl->url, url) != 0 || (pl->key == NULL) != (key == NULL) ||
	    (key != NULL && strcmp(pl->key, key) != 0);
	/* Another Overpass server owes us no quiet; the same one does. */
	if (changed && (pl->url == NULL || strcmp(pl->url, url) != 0 ||
	    api != PLACES_API_OVERPASS))
		memset(&pl->backoff_until, 0, sizeof(pl->backoff_until));
	free(pl->key);
	free(pl->url);
	free(pl->user_agent);
	pl->key = key ? strdup(key) : NULL;
	pl->url = strdup(url);
	if (asprintf(&pl->user_agent, "User-Agent: %s", conf->user_agent ?
	    conf->user_agent : "herd/" HERD_VERSION) == -1)
		pl->user_agent = NULL;	/* then curl's own; logged below */
	pl->backoff_s = conf->backoff_s;
	pl->api = api;
	pl->timeout_ms = conf->timeout_ms;
	pl->cache_ttl_s = conf->cache_ttl_s;
	pl->max_in_flight = conf->max_in_flight > 0 ? conf->max_in_flight : 1;
	/* Our own limit keeps curl below this; it bounds sockets anyway. */
	places_http_set_max(pl->http, pl->max_in_flight);
	if (changed) {
		/* Answers from another provider: neither cached nor shared
		 * with new queries (those in flight still answer theirs). */
		places_cache_clear(&pl->cache);
		pl->gen++;
	}
	if (api == PLACES_API_GEONAMES)
		configure_geonames(pl, conf);
	else {
		places_geonames_loader_cancel(pl->gn_loader);
		places_geonames_free(pl->gn);
		pl->gn = NULL;
		if (pl->api == PLACES_API_OVERPASS)
			log_info("places: api overpass, endpoint %s, %s,"
			    " timeout %ld ms, cache %ld s, max_in_flight %ld,"
			    " backoff %ld s", pl->url ? pl->url : "?",
			    pl->user_agent ? pl->user_agent :
			    "User-Agent: NOT SET (out of memory)",
			    pl->timeout_ms, pl->cache_ttl_s, pl->max_in_flight,
			    pl->backoff_s);
		else
			log_info("places: api %s, endpoint %s, key %s, timeout"
			    " %ld ms, cache %ld s, max_in_flight %ld",
			    api_name(pl->api), pl->url ? pl->url : "?",
			    pl->key ? "set" : "NOT SET", pl->timeout_ms,
			    pl->cache_ttl_s, pl->max_in_flight);
	}
	run_waiting(pl);	/* the limit may have grown */
}

/* Take g (the data of file with classes) in place of the data in use. */
static void
geonames_take(struct places *pl, struct places_geonames *g, const char *file,
    uint32_t classes)
{
	char *copy = NULL;

	if (file != NULL && (copy = strdup(file)) == NULL)
		fatal("places: geonames_file");
	places_geonames_free(pl->gn);
	free(pl->gn_file);
	pl->gn = g;
	pl->gn_file = copy;
	pl->gn_classes = classes;
}

/* Log the provider in one line, saying when it is the embedded default. */
static void
geonames_log(const struct places *pl, int api_set)
{
	if (pl->gn == NULL)
		log_warnx("places: api geonames: no data loaded; WHATSAT"
		    " answers UNKNOWN_ERROR");
	else
		log_info("places: api geonames%s: %u places from %s, in"
		    " process", api_set ? "" : " (the embedded default:"
		    " no [places] api and no key configured)",
		    places_geonames_count(pl->gn),
		    places_geonames_what(pl->gn));
}

/*
 * Load the GeoNames data of conf unless it is loaded already; when it
 * cannot be loaded the data in use (if any) stays.  At start it loads in
 * place (nothing is served yet); on a reload on the loader's thread,
 * WHATSAT answering from the data in use until geonames_loaded swaps.
 */
static void
configure_geonames(struct places *pl, const struct herd_places *conf)
{
	const char *file = conf->geonames_file;
	struct places_geonames *g;

	if (pl->gn != NULL && pl->gn_classes == conf->geonames_classes &&
	    (pl->gn_file == NULL) == (file == NULL) &&
	    (file == NULL || strcmp(pl->gn_file, file) == 0)) {
		places_geonames_loader_cancel(pl->gn_loader);	/* back */
	} else if (pl->gn_async) {
		if (places_geonames_loader_start(pl->gn_loader, file,
		    conf->geonames_classes) == 0) {
			log_info("places: api geonames: loading %s in the"
			    " background; WHATSAT answers from %s meanwhile",
			    file ? file : "the built-in set", pl->gn ?
			    places_geonames_what(pl->gn) : "no data (an"
			    " error)");
			return;
		}
		if (pl->gn != NULL)
			log_warnx("places: geonames: keeping %s",
			    places_geonames_what(pl->gn));
	} else if ((g = places_geonames_load(file,
	    conf->geonames_classes)) != NULL)
		geonames_take(pl, g, file, conf->geonames_classes);
	geonames_log(pl, conf->api_set);
}

/* The loader's result (see places_geonames_done_cb): swap it in. */
static void
geonames_loaded(void *arg, struct places_geonames *g, const char *file,
    uint32_t classes)
{
	struct places *pl = arg;

	if (g != NULL)
		geonames_take(pl, g, file, classes);
	else {
		if (pl->gn != NULL)
			log_warnx("places: geonames: keeping %s: %s could not"
			    " be loaded", places_geonames_what(pl->gn),
			    file ? file : "the built-in set");
	}
	geonames_log(pl, 1);
}

/* Complete e with the GeoNames answer for loc. */
static void
answer_geonames(struct places *pl, struct places_entry *e,
    const struct herd_location *loc, double radius_km, int max_results)
{
	char *json, st[32];

	if (pl->gn == NULL) {
		entry_fail(e, "UNKNOWN_ERROR", places_geonames_loader_busy(
		    pl->gn_loader) ? "the GeoNames data is being loaded" :
		    "the GeoNames data could not be loaded (see the server's"
		    " log)");
		return;
	}
	if ((json = places_geonames_answer(pl->gn, loc->lat, loc->lon,
	    radius_km, max_results)) == NULL)
		fatal("places: geonames answer");	/* a reply is owed */
	pl->stats.by_status[metrics_places_index(places_json_status_of(json,
	    st, sizeof(st)))]++;
	entry_answer(e, json, strlen(json));
	free(json);
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
	places_cache_clear(&pl->cache);
	if (pl->http != NULL)
		places_http_free(pl->http);
	free(pl->key);
	free(pl->url);
	free(pl->user_agent);
	places_geonames_loader_free(pl->gn_loader);
	places_geonames_free(pl->gn);
	free(pl->gn_file);
	free(pl);
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
		query_fail_all(q, "UNKNOWN_ERROR", "server shutting down");
		query_free(q);
	}
	if (n > 0)
		log_info("places: shutting down: %zu %s in flight"
		    " answered UNKNOWN_ERROR", n, log_plural(n, "query",
		    "queries"));
}

/* --- per-client reply queue ----------------------------------------------- */

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
	const char *cached;
	size_t cached_len;
	struct query *qu;
	struct proto_at at;
	struct herd_location where, *loc = &where;
	char key[QUERY_KEY_MAX], msg[256];
	long left;

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
	/* Coordinates are computed here, not on every IAMAT. */
	if (proto_parse_at(record_line(rec), rec->line_len, &at) == -1 ||
	    proto_parse_location(at.location.p, at.location.len, loc) == -1) {
		entry_fail(e, "UNKNOWN_ERROR", "the stored record"
		    " cannot be read");
		return;
	}
	if (pl->api == PLACES_API_GEONAMES) {
		answer_geonames(pl, e, loc, radius_km, max_results);
		return;
	}
	if (pl->key == NULL && pl->api != PLACES_API_OVERPASS) {
		entry_fail(e, "REQUEST_DENIED", "no places API key"
		    " is configured: set key in the [places] section of"
		    " herd.ini or the HERD_PLACES_KEY environment variable");
		return;
	}
	snprintf(key, sizeof(key), "%d|%.6f|%.6f|%.3f|%d", pl->api,
	    loc->lat, loc->lon, radius_km * 1000.0, max_results);
	if ((cached = places_cache_get(&pl->cache, key, pl->cache_ttl_s,
	    &cached_len)) != NULL) {
		pl->cache_hits++;
		pl->stats.cache_hits++;
		log_info("places: cache hit for %s", key);
		entry_answer(e, cached, cached_len);
		return;
	}
	if ((qu = query_find(pl, key)) != NULL)
		pl->coalesced++;
	else if ((left = backoff_left(pl)) > 0) {
		pl->refused++;
		snprintf(msg, sizeof(msg), "the Overpass server is rate"
		    " limiting this address: no request for another %ld s"
		    " ([places] backoff_s after its HTTP 429 or rate_limited"
		    " answer); try again later", left);
		entry_fail(e, "OVER_QUERY_LIMIT", msg);
		return;
	} else if (pl->nrunning >= (size_t)pl->max_in_flight &&
	    pl->nwaiting >= (size_t)(PLACES_WAITING_FACTOR * pl->max_in_flight)) {
		pl->refused++;
		if (time(NULL) != pl->refused_logged) {
			pl->refused_logged = time(NULL);
			log_warnx("places: max_in_flight (%ld) and %ld waiting:"
			    " refused %lu %s so far", pl->max_in_flight,
			    PLACES_WAITING_FACTOR * pl->max_in_flight, pl->refused,
			    log_plural(pl->refused, "query", "queries"));
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

/* The [places] api keyword of api. */
static const char *
api_name(enum places_api api)
{
	switch (api) {
	case PLACES_API_LEGACY:
		return "legacy";
	case PLACES_API_OVERPASS:
		return "overpass";
	case PLACES_API_GEONAMES:
		return "geonames";
	case PLACES_API_NEW:
	default:
		return "new";
	}
}

/* Whole seconds (rounded up) left of the Overpass quiet, or 0. */
static long
backoff_left(const struct places *pl)
{
	struct timespec now;
	long ns;

	if (pl->api != PLACES_API_OVERPASS || (pl->backoff_until.tv_sec == 0 &&
	    pl->backoff_until.tv_nsec == 0))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (long)(pl->backoff_until.tv_sec - now.tv_sec) * 1000000000L +
	    (pl->backoff_until.tv_nsec - now.tv_nsec);
	return ns > 0 ? (ns + 999999999L) / 1000000000L : 0;
}

/* The Overpass server said 429 / rate_limited: no request for
 * backoff_s from now (a later one extends the quiet). */
static void
backoff_start(struct places *pl)
{
	if (pl->backoff_s <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &pl->backoff_until);
	pl->backoff_until.tv_sec += pl->backoff_s;
	log_warnx("places: the Overpass server is rate limiting us: no"
	    " request for %ld s (backoff_s)", pl->backoff_s);
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
	struct places_http_request req;
	char radius[64], *url = NULL, *esc = NULL, hdr[512], body[512];
	char *form = NULL;
	const char *sep, *headers[4];

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->pl = pl;
	snprintf(q->key, sizeof(q->key), "%s", key);
	q->api = pl->api;
	q->gen = pl->gen;
	q->max_results = max_results;
	q->lat = loc->lat;
	q->lon = loc->lon;
	TAILQ_INIT(&q->waiters);
	format_radius(radius, sizeof(radius), radius_km);
	snprintf(q->radius, sizeof(q->radius), "%s", radius);
	memset(&req, 0, sizeof(req));

	if (pl->api == PLACES_API_LEGACY) {
		sep = strchr(pl->url, '?') ? "&" : "?";
		if ((esc = places_http_escape(pl->key)) == NULL ||
		    asprintf(&url, "%s%slocation=%.6f,%.6f&radius=%s&key=%s",
		    pl->url, sep, loc->lat, loc->lon, radius, esc) == -1 ||
		    asprintf(&q->url_logged, "GET %s%slocation=%.6f,%.6f&radius=%s"
		    "&key=REDACTED", pl->url, sep, loc->lat, loc->lon,
		    radius) == -1)
			goto fail;
	} else if (pl->api == PLACES_API_OVERPASS) {
		if ((form = places_overpass_body(loc->lat, loc->lon, radius,
		    max_results, pl->timeout_ms)) == NULL ||
		    (url = strdup(pl->url)) == NULL ||
		    asprintf(&q->url_logged, "POST %s", pl->url) == -1)
			goto fail;
		headers[0] = "Content-Type: application/x-www-form-urlencoded";
		headers[1] = pl->user_agent;	/* NULL: curl's own */
		headers[2] = NULL;
		req.headers = headers;
		req.post = form;
	} else {
		snprintf(body, sizeof(body), "{\"locationRestriction\":"
		    "{\"circle\":{\"center\":{\"latitude\":%.6f,"
		    "\"longitude\":%.6f},\"radius\":%s}},"
		    "\"maxResultCount\":%d}", loc->lat, loc->lon,
		    radius, max_results);
		if ((url = strdup(pl->url)) == NULL ||
		    asprintf(&q->url_logged, "POST %s", pl->url) == -1)
			goto fail;
		snprintf(hdr, sizeof(hdr), "X-Goog-Api-Key: %s", pl->key);
		headers[0] = hdr;
		headers[1] = "X-Goog-FieldMask: " FIELD_MASK;
		headers[2] = "Content-Type: application/json";
		headers[3] = NULL;
		req.headers = headers;
		req.post = body;
	}
	req.url = url;
	req.timeout_ms = pl->timeout_ms;
	if ((q->fetch = places_http_fetch_new(pl->http, &req, query_finish,
	    q)) == NULL)
		goto fail;
	free(esc);
	free(url);
	free(form);
	return q;
fail:
	free(esc);
	free(url);
	free(form);
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

	if (places_http_fetch_start(q->fetch) == -1)
		return -1;
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
		if (q->api == PLACES_API_OVERPASS && backoff_left(pl) > 0) {
			/* Queued before the 429: not sent in the quiet. */
			query_fail_all(q, "OVER_QUERY_LIMIT", "the Overpass"
			    " server is rate limiting this address: no"
			    " request for [places] backoff_s; try again"
			    " later");
			query_free(q);
		} else if (query_run(q) == -1) {
			query_fail_all(q, "UNKNOWN_ERROR", "the server could"
			    " not start a places request (out of resources);"
			    " try again");
			query_free(q);
		}
	}
}

/* Answer every waiter of q with a legacy-shaped error status. */
static void
query_fail_all(struct query *q, const char *status, const char *message)
{
	struct places_entry *e;

	/* Answering may flush client queues; detach each waiter first. */
	while ((e = TAILQ_FIRST(&q->waiters)) != NULL) {
		TAILQ_REMOVE(&q->waiters, e, wentry);
		entry_fail(e, status, message);
	}
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
	} else if (q->waiting) {
		TAILQ_REMOVE(&pl->waiting, q, entry);
		pl->nwaiting--;
	}
	places_http_fetch_free(q->fetch);	/* off curl if running */
	free(q->url_logged);
	free(q);
	if (was_running)
		run_waiting(pl);
}

/* The fetch engine's done callback: turn a finished transfer into
 * legacy JSON for every waiter of the query arg. */
static void
query_finish(void *arg, const struct places_http_result *res)
{
	struct query *q = arg;
	struct places *pl = q->pl;
	struct places_entry *e;
	char *json, msg[PLACES_HTTP_ERROR_MAX + 128], st[32];
	const char *status;
	size_t len;

	if (res->ok && q->api == PLACES_API_OVERPASS)
		json = places_overpass_to_legacy(res->body, res->len,
		    res->status, q->lat, q->lon, q->max_results);
	else if (res->ok) {
		json = q->api == PLACES_API_NEW ?
		    places_json_from_new(res->body, res->len, res->status,
		    q->max_results) :
		    places_json_from_legacy(res->body, res->len,
		    res->status, q->max_results);
	} else {
		if (res->too_big)
			snprintf(msg, sizeof(msg), "the places provider's"
			    " answer is larger than %d bytes", RESPONSE_MAX);
		else if (res->timed_out)
			snprintf(msg, sizeof(msg), "the places provider did not"
			    " answer within %ld ms", pl->timeout_ms);
		else
			snprintf(msg, sizeof(msg), "cannot reach the places"
			    " provider: %s", res->error);
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
	pl->stats.by_status[metrics_places_index(status)]++;
	metrics_hist_observe(&pl->stats.duration, (double)res->ms / 1000.0);
	if (res->ok)
		log_info("places: %s -> HTTP %ld, %s, %zu bytes in %ld ms",
		    q->url_logged, res->status, status, res->len, res->ms);
	else
		log_warnx("places: %s -> HTTP %ld, %s: %s (%ld ms)",
		    q->url_logged, res->status, status, res->error, res->ms);
	if (q->api == PLACES_API_OVERPASS && q->gen == pl->gen &&
	    strcmp(status, "OVER_QUERY_LIMIT") == 0)
		backoff_start(pl);
	if (pl->cache_ttl_s > 0 && (strcmp(status, "OK") == 0 ||
	    strcmp(status, "ZERO_RESULTS") == 0) && q->gen == pl->gen)
		places_cache_put(&pl->cache, q->key, json, len,
		    pl->cache_ttl_s);
	/* Answering may flush client queues; detach each waiter first. */
	while ((e = TAILQ_FIRST(&q->waiters)) != NULL) {
		TAILQ_REMOVE(&q->waiters, e, wentry);
		entry_answer(e, json, len);
	}
	free(json);
	query_free(q);
}
