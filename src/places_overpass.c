/*
 * places_overpass.c -- OpenStreetMap's Overpass API -> the legacy Nearby
 * Search shape.
 *
 * The request is one Overpass QL union of amenity, tourism, shop and
 * leisure nodes and ways around the point, "out center" so that a way
 * comes with its centre.  The answer is hostile input like any other
 * (places_json.c): every field is type-checked, and an element without a
 * name, a known type, a positive integer id or a valid position is
 * skipped.  Overpass returns elements in id order, so they are sorted
 * here, nearest first by great-circle distance, and cut to the bound (an
 * element the answer repeats counts once).
 *
 * Types: each of the element's amenity, shop, tourism and leisure tags
 * (in that order) whose value is 1..64 of a-z 0-9 _ (and not "yes")
 * gives that value as a type, a shop tag adds "store", and every result
 * ends with "point_of_interest", "establishment": amenity=cafe ->
 * ["cafe","point_of_interest","establishment"].
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herd/geonames_index.h"
#include "herd/places_json.h"
#include "herd/places_overpass.h"

#define ID_MAX		9007199254740992.0	/* 2^53: exact in a double */
#define TYPE_MAX	64
#define REMARK_MAX	200
#define ST_OK		"OK"
#define ST_ZERO		"ZERO_RESULTS"
#define ST_LIMIT	"OVER_QUERY_LIMIT"
#define ST_UNKNOWN	"UNKNOWN_ERROR"
#define RATE_LIMITED	"rate_limited"
#define LIMIT_MSG	"the Overpass server is rate limiting this address" \
	" (HTTP %ld%s); herd sends it nothing for [places] backoff_s"

/* The tags whose values become types, in order, and the class each adds. */
static const struct {
	const char	*key;
	const char	*extra;		/* a type it adds, or NULL */
} type_tags[] = {
	{ "amenity",	NULL },
	{ "shop",	"store" },
	{ "tourism",	NULL },
	{ "leisure",	NULL },
};

/* A named element with a position, and its distance from the query. */
struct candidate {
	const cJSON	*el;
	const cJSON	*tags;
	const char	*type;		/* "node", "way", "relation" */
	double		 id;
	double		 lat, lon;
	double		 dist;
};

static int		 has(const char *, size_t, const char *);
static const char	*str(const cJSON *, const char *);
static int		 num(const cJSON *, const char *, double *);
static int		 position(const cJSON *, const char *, double *,
			    double *);
static int		 candidate_of(const cJSON *, double, double,
			    struct candidate *);
static int		 by_distance(const void *, const void *);
static int		 type_ok(const char *);
static int		 add_type(cJSON *, const char *);
static int		 add_types(cJSON *, const cJSON *);
static int		 add_vicinity(cJSON *, const cJSON *);
static cJSON		*result_of(const struct candidate *);
static int		 seen_before(const struct candidate *, size_t,
			    const struct candidate *);
static char		*answer(struct candidate *, size_t, int);
static char		*from_doc(const cJSON *, long, double, double, int);

/* See places_overpass.h. */
int
places_overpass_fetch_count(int bound)
{
	if (bound < 0)
		bound = 0;
	if (bound > OVERPASS_FETCH_MIN)	/* no overflow below */
		return OVERPASS_FETCH_FACTOR * bound;
	return OVERPASS_FETCH_FACTOR * bound > OVERPASS_FETCH_MIN ?
	    OVERPASS_FETCH_FACTOR * bound : OVERPASS_FETCH_MIN;
}

/* Append one ring to out (len so far, cap its size): the eight
 * statements within radius (a decimal string) and its output. */
static size_t
ql_ring(char *out, size_t len, size_t cap, const char *radius, double lat,
    double lon, int fetch)
{
	static const char *const keys[] = {
		"amenity", "tourism", "shop", "leisure"
	};
	size_t i;

	len += (size_t)snprintf(out + len, cap - len, "(");
	for (i = 0; i < 8; i++)
		len += (size_t)snprintf(out + len, cap - len,
		    "%s[%s](around:%s,%.6f,%.6f);", i % 2 ? "way" : "node",
		    keys[i / 2], radius, lat, lon);
	len += (size_t)snprintf(out + len, cap - len, ");out center %d;",
	    fetch);
	return len;
}

/* See places_overpass.h. */
char *
places_overpass_ql(double lat, double lon, const char *radius_m, int bound,
    long timeout_ms)
{
	char radius[OVERPASS_RINGS][32], *out;
	double r = strtod(radius_m, NULL);
	size_t len, cap;
	long secs = timeout_ms / 1000;
	int n = 0, k, fetch = places_overpass_fetch_count(bound);

	if (secs < 1)
		secs = 1;
	/* The inner rings, smallest first; the outer one is radius_m. */
	for (k = OVERPASS_RINGS - 1; k > 0; k--)
		if (r / (double)(1 << k) >= OVERPASS_RING_MIN_M)
			snprintf(radius[n++], sizeof(radius[0]), "%.0f",
			    r / (double)(1 << k));
	snprintf(radius[n++], sizeof(radius[0]), "%s", radius_m);
	cap = 64 + (size_t)n * (8 * (strlen(radius_m) + 64) + 64);
	if ((out = malloc(cap)) == NULL)
		return NULL;
	len = (size_t)snprintf(out, cap, "[out:json][timeout:%ld];", secs);
	for (k = 0; k < n; k++)
		len = ql_ring(out, len, cap, radius[k], lat, lon, fetch);
	return out;
}

/* See places_overpass.h. */
char *
places_overpass_body(double lat, double lon, const char *radius_m, int bound,
    long timeout_ms)
{
	static const char hex[] = "0123456789ABCDEF";
	char *ql, *out, *o;
	const unsigned char *s;

	if ((ql = places_overpass_ql(lat, lon, radius_m, bound,
	    timeout_ms)) == NULL)
		return NULL;
	if ((out = malloc(5 + 3 * strlen(ql) + 1)) == NULL) {
		free(ql);
		return NULL;
	}
	memcpy(out, "data=", 5);
	o = out + 5;
	for (s = (const unsigned char *)ql; *s != '\0'; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' ||
		    *s == '_' || *s == '~')
			*o++ = (char)*s;
		else {
			*o++ = '%';
			*o++ = hex[*s >> 4];
			*o++ = hex[*s & 15];
		}
	}
	*o = '\0';
	free(ql);
	return out;
}

/* See places_overpass.h: the GeoNames provider's haversine, in metres. */
double
places_overpass_distance(double lat1, double lon1, double lat2, double lon2)
{
	return 1000.0 * gn_haversine_km(lat1, lon1, lat2, lon2);
}

/* True when the len bytes at p hold needle. */
static int
has(const char *p, size_t len, const char *needle)
{
	return p != NULL && memmem(p, len, needle, strlen(needle)) != NULL;
}

/* The string member key of obj, or NULL. */
static const char *
str(const cJSON *obj, const char *key)
{
	const cJSON *v;

	if (!cJSON_IsObject(obj))
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The finite number member key of obj into *out; 0 if there is none. */
static int
num(const cJSON *obj, const char *key, double *out)
{
	const cJSON *v;

	if (!cJSON_IsObject(obj))
		return 0;
	v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return 0;
	*out = v->valuedouble;
	return 1;
}

/* The position of an element: lat/lon, else (ways, relations) center;
 * 0 when there is none or it is off the globe. */
static int
position(const cJSON *el, const char *type, double *lat, double *lon)
{
	const cJSON *c;

	if (!num(el, "lat", lat) || !num(el, "lon", lon)) {
		if (strcmp(type, "node") == 0)
			return 0;
		c = cJSON_GetObjectItemCaseSensitive(el, "center");
		if (!num(c, "lat", lat) || !num(c, "lon", lon))
			return 0;
	}
	return *lat >= -90.0 && *lat <= 90.0 && *lon >= -180.0 &&
	    *lon <= 180.0;
}

/* Fill c from element el if it is a named node, way or relation with an
 * id and a position; 0 to skip it. */
static int
candidate_of(const cJSON *el, double lat, double lon, struct candidate *c)
{
	const char *type = str(el, "type"), *name;

	if (type == NULL || (strcmp(type, "node") != 0 &&
	    strcmp(type, "way") != 0 && strcmp(type, "relation") != 0))
		return 0;
	c->el = el;
	c->type = type;
	c->tags = cJSON_GetObjectItemCaseSensitive(el, "tags");
	if (!num(el, "id", &c->id) || c->id < 1 || c->id > ID_MAX ||
	    c->id != floor(c->id))
		return 0;
	if ((name = str(c->tags, "name")) == NULL || name[0] == '\0')
		return 0;
	if (!position(el, type, &c->lat, &c->lon))
		return 0;
	c->dist = places_overpass_distance(lat, lon, c->lat, c->lon);
	return 1;
}

/* qsort: nearest first; ties by type name, then id (a total order). */
static int
by_distance(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	int t;

	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	if ((t = strcmp(x->type, y->type)) != 0)
		return t;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* True when tag value v may be a type: 1..TYPE_MAX of a-z 0-9 _, not
 * "yes". */
static int
type_ok(const char *v)
{
	size_t i;

	if (v == NULL || strcmp(v, "yes") == 0)
		return 0;
	for (i = 0; v[i] != '\0'; i++)
		if (i >= TYPE_MAX || !((v[i] >= 'a' && v[i] <= 'z') ||
		    (v[i] >= '0' && v[i] <= '9') || v[i] == '_'))
			return 0;
	return i > 0;
}

/* Append t to the string array types unless it is there; -1 on OOM. */
static int
add_type(cJSON *types, const char *t)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, types)
		if (strcmp(s->valuestring, t) == 0)
			return 0;
	return places_json_append(types, t);
}

/* Add "types" from tags to r (the rule in the header comment). */
static int
add_types(cJSON *r, const cJSON *tags)
{
	cJSON *types;
	const char *v;
	size_t i;

	if ((types = cJSON_AddArrayToObject(r, "types")) == NULL)
		return -1;
	for (i = 0; i < sizeof(type_tags) / sizeof(type_tags[0]); i++) {
		v = str(tags, type_tags[i].key);
		if (type_ok(v) && add_type(types, v) == -1)
			return -1;
		if (v != NULL && type_tags[i].extra != NULL &&
		    add_type(types, type_tags[i].extra) == -1)
			return -1;
	}
	if (add_type(types, "point_of_interest") == -1 ||
	    add_type(types, "establishment") == -1)
		return -1;
	return 0;
}

/* Add "vicinity" "HOUSENUMBER STREET, CITY" from the addr:* tags, with
 * whatever of them is present; nothing without street and city. */
static int
add_vicinity(cJSON *r, const cJSON *tags)
{
	const char *num_ = str(tags, "addr:housenumber");
	const char *street = str(tags, "addr:street");
	const char *city = str(tags, "addr:city");
	char *v;
	int n;

	if (street != NULL && street[0] == '\0')
		street = NULL;
	if (city != NULL && city[0] == '\0')
		city = NULL;
	if (num_ != NULL && (num_[0] == '\0' || street == NULL))
		num_ = NULL;
	if (street == NULL && city == NULL)
		return 0;
	n = asprintf(&v, "%s%s%s%s%s", num_ ? num_ : "", num_ ? " " : "",
	    street ? street : "", street && city ? ", " : "",
	    city ? city : "");
	if (n == -1)
		return -1;
	n = cJSON_AddStringToObject(r, "vicinity", v) == NULL ? -1 : 0;
	free(v);
	return n;
}

/* The legacy result of candidate c; NULL on OOM. */
static cJSON *
result_of(const struct candidate *c)
{
	cJSON *r, *g, *loc;
	char id[64];

	snprintf(id, sizeof(id), "osm:%s/%.0f", c->type, c->id);
	if ((r = cJSON_CreateObject()) == NULL ||
	    (g = cJSON_AddObjectToObject(r, "geometry")) == NULL ||
	    (loc = cJSON_AddObjectToObject(g, "location")) == NULL ||
	    cJSON_AddNumberToObject(loc, "lat", c->lat) == NULL ||
	    cJSON_AddNumberToObject(loc, "lng", c->lon) == NULL ||
	    cJSON_AddStringToObject(r, "name", str(c->tags, "name")) == NULL ||
	    cJSON_AddStringToObject(r, "place_id", id) == NULL ||
	    add_types(r, c->tags) == -1 || add_vicinity(r, c->tags) == -1) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

/* True when one of the n candidates at c is the element of x. */
static int
seen_before(const struct candidate *c, size_t n, const struct candidate *x)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i].id == x->id && strcmp(c[i].type, x->type) == 0)
			return 1;
	return 0;
}

/* The legacy answer of the n sorted candidates cut to max, each element
 * once (its nearest copy: a lying server may repeat one); NULL on OOM. */
static char *
answer(struct candidate *c, size_t n, int max)
{
	cJSON *root, *attr, *results, *r;
	size_t i, kept = 0;
	char *out;

	if (max < 0)
		max = 0;
	if ((root = cJSON_CreateObject()) == NULL ||
	    (attr = cJSON_AddArrayToObject(root, "html_attributions")) ==
	    NULL || places_json_append(attr, OVERPASS_ATTRIBUTION) == -1 ||
	    (results = cJSON_AddArrayToObject(root, "results")) == NULL)
		goto fail;
	for (i = 0; i < n && kept < (size_t)max; i++) {
		if (seen_before(c, kept, &c[i]))
			continue;
		c[kept++] = c[i];	/* c[0..kept): those answered */
		if ((r = result_of(&c[kept - 1])) == NULL)
			goto fail;
		if (!cJSON_AddItemToArray(results, r)) {
			cJSON_Delete(r);
			goto fail;
		}
	}
	if (cJSON_AddStringToObject(root, "status", kept > 0 ? ST_OK :
	    ST_ZERO) == NULL)
		goto fail;
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
fail:
	cJSON_Delete(root);
	return NULL;
}

/* The answer for a parsed 200 document doc. */
static char *
from_doc(const cJSON *doc, long http, double lat, double lon, int max)
{
	const cJSON *els, *el;
	const char *remark = str(doc, "remark");
	struct candidate *c;
	size_t n = 0;
	int count;
	char *out;

	els = cJSON_IsObject(doc) ?
	    cJSON_GetObjectItemCaseSensitive(doc, "elements") : NULL;
	if (remark != NULL && strstr(remark, RATE_LIMITED) != NULL)
		return places_json_errorf(ST_LIMIT, LIMIT_MSG, http, ", rate_limited");
	if (remark != NULL && strstr(remark, "runtime error") != NULL)
		return places_json_errorf(ST_UNKNOWN, "the Overpass server failed the"
		    " query: %.*s", REMARK_MAX, remark);
	if (!cJSON_IsArray(els))
		return places_json_errorf(ST_UNKNOWN, "the Overpass server's answer"
		    " is not Overpass JSON (HTTP %ld: no elements array);"
		    " check the places endpoint URL", http);
	count = cJSON_GetArraySize(els);
	if ((c = calloc(count > 0 ? (size_t)count : 1, sizeof(*c))) == NULL)
		return NULL;
	cJSON_ArrayForEach(el, els)
		if (n < (size_t)count && candidate_of(el, lat, lon, &c[n]))
			n++;
	qsort(c, n, sizeof(*c), by_distance);
	out = answer(c, n, max);
	free(c);
	return out;
}

/* See places_overpass.h. */
char *
places_overpass_to_legacy(const char *body, size_t len, long http,
    double lat, double lon, int max)
{
	cJSON *doc;
	char *out;
	int oom;

	if (http == 429 || (http != 200 && has(body, len, RATE_LIMITED)))
		return places_json_errorf(ST_LIMIT, LIMIT_MSG, http,
		    has(body, len, RATE_LIMITED) ? ", rate_limited" : "");
	if (http == 504)
		return places_json_errorf(ST_UNKNOWN, "the Overpass server is too busy"
		    " or the query timed out (HTTP 504); try again later");
	if (http != 200)
		return places_json_errorf(ST_UNKNOWN, "the Overpass server returned"
		    " HTTP %ld", http);
	if ((doc = places_json_parse(body, len, &oom)) == NULL) {
		if (oom)
			return NULL;
		if (has(body, len, RATE_LIMITED))
			return places_json_errorf(ST_LIMIT, LIMIT_MSG, http,
			    ", rate_limited");
		return places_json_errorf(ST_UNKNOWN, "the Overpass server's answer"
		    " is not JSON (HTTP %ld); check the places endpoint URL",
		    http);
	}
	out = from_doc(doc, http, lat, lon, max);
	cJSON_Delete(doc);
	return out;
}
