/*
 * places_json.c -- provider answers -> the legacy Nearby Search shape.
 *
 * Bodies come from the network and are treated as hostile: every field
 * is type-checked before use, absent or ill-typed fields are skipped
 * (never turned into null), and anything that is not the JSON object we
 * expect becomes an UNKNOWN_ERROR answer.  Output is printed with
 * cJSON_PrintUnformatted, which escapes every control character, so it
 * never holds a raw newline.  NULL is returned only when memory runs out.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herd/places_json.h"

#define MSG_MAX		512
#define STATUS_OK	"OK"
#define STATUS_ZERO	"ZERO_RESULTS"
#define STATUS_UNKNOWN	"UNKNOWN_ERROR"

/* The keys of a legacy answer, in the order Google prints them. */
enum legacy_key {
	LK_ERROR_MESSAGE,
	LK_HTML_ATTRIBUTIONS,
	LK_NEXT_PAGE_TOKEN,
	LK_RESULTS,
	LK_STATUS,
	LK_COUNT
};

static const char *const legacy_keys[LK_COUNT] = {
	"error_message", "html_attributions", "next_page_token", "results",
	"status"
};

static cJSON		*parse_body(const char *, size_t, int *);
static char		*print_free(cJSON *);
static cJSON		*legacy_shell(const char *, const char *);
static char		*malformed(long, const char *);
static const char	*error_status(long, const char *);
static const char	*status_hint(const char *);
static char		*http_error(long, const char *, const char *);
static const cJSON	*get(const cJSON *, const char *);
static const char	*get_string(const cJSON *, const char *);
static int		 get_number(const cJSON *, const char *, double *);
static int		 copy_string(cJSON *, const char *, const cJSON *,
			    const char *);
static int		 copy_number(cJSON *, const char *, const cJSON *,
			    const char *);
static int		 add_latlng(cJSON *, const char *, const cJSON *);
static int		 add_geometry(cJSON *, const cJSON *);
static int		 add_opening_hours(cJSON *, const cJSON *);
static int		 add_photos(cJSON *, const cJSON *);
static int		 add_plus_code(cJSON *, const cJSON *);
static int		 add_price_level(cJSON *, const cJSON *);
static int		 add_types(cJSON *, const cJSON *);
static int		 add_vicinity(cJSON *, const cJSON *);
static cJSON		*translate_place(const cJSON *);
static const cJSON	*find_new_error(const cJSON *);
static char		*new_error(const cJSON *, long);
static cJSON		*legacy_reshape(cJSON *, int);
static int		 is_legacy_status(const char *);
static int		 legacy_slot_ok(int, const cJSON *);

/* Parse len bytes of body; *oom is set when memory ran out. */
static cJSON *
parse_body(const char *body, size_t len, int *oom)
{
	const char *end = NULL;
	char *copy;
	cJSON *doc;
	size_t i;

	*oom = 0;
	if (body == NULL || len == 0 || len == (size_t)-1)
		return NULL;
	/* A terminated copy keeps cJSON inside the buffer whatever it does. */
	if ((copy = malloc(len + 1)) == NULL) {
		*oom = 1;
		return NULL;
	}
	memcpy(copy, body, len);
	copy[len] = '\0';
	doc = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
	if (doc != NULL) {
		/* Only whitespace may follow the value. */
		for (i = (size_t)(end - copy); i < len; i++) {
			if (copy[i] != ' ' && copy[i] != '\t' &&
			    copy[i] != '\r' && copy[i] != '\n') {
				cJSON_Delete(doc);
				doc = NULL;
				break;
			}
		}
	}
	free(copy);
	return doc;
}

/* See places_json.h. */
cJSON *
places_json_parse(const char *body, size_t len, int *oom)
{
	return parse_body(body, len, oom);
}

/* Print root compactly and free it; NULL only if memory ran out. */
static char *
print_free(cJSON *root)
{
	char *out;

	if (root == NULL)
		return NULL;
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}

/* A legacy object with empty arrays, status and optional error_message. */
static cJSON *
legacy_shell(const char *status, const char *message)
{
	cJSON *root;

	if ((root = cJSON_CreateObject()) == NULL)
		return NULL;
	if (message != NULL &&
	    cJSON_AddStringToObject(root, "error_message", message) == NULL)
		goto fail;
	if (cJSON_AddArrayToObject(root, "html_attributions") == NULL ||
	    cJSON_AddArrayToObject(root, "results") == NULL ||
	    cJSON_AddStringToObject(root, "status",
	    status != NULL ? status : STATUS_UNKNOWN) == NULL)
		goto fail;
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

/* A legacy answer carrying only a status and an error message. */
char *
places_json_error(const char *status, const char *message)
{
	return print_free(legacy_shell(status, message));
}

/* See places_json.h. */
char *
places_json_errorf(const char *status, const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return places_json_error(status, msg);
}

/* The UNKNOWN_ERROR answer for a body that is not what we expect. */
static char *
malformed(long http, const char *what)
{
	return places_json_errorf(STATUS_UNKNOWN,
	    "places provider returned malformed JSON (HTTP %ld%s%s); "
	    "check the places endpoint URL", http,
	    what != NULL ? ": " : "", what != NULL ? what : "");
}

/* Is s one of the statuses a legacy Nearby Search answer may carry? */
static int
is_legacy_status(const char *s)
{
	static const char *const st[] = {
		"OK", "ZERO_RESULTS", "INVALID_REQUEST", "OVER_QUERY_LIMIT",
		"REQUEST_DENIED", "UNKNOWN_ERROR"
	};
	size_t i;

	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		if (strcmp(s, st[i]) == 0)
			return 1;
	return 0;
}

/* The legacy status for an HTTP status and a Google status string. */
const char *
places_json_status(long http, const char *google_status)
{
	static const struct {
		const char	*google;
		const char	*legacy;
	} map[] = {
		{ "OK",			"OK" },
		{ "ZERO_RESULTS",	"ZERO_RESULTS" },
		{ "INVALID_REQUEST",	"INVALID_REQUEST" },
		{ "OVER_QUERY_LIMIT",	"OVER_QUERY_LIMIT" },
		{ "REQUEST_DENIED",	"REQUEST_DENIED" },
		{ "UNKNOWN_ERROR",	"UNKNOWN_ERROR" },
		{ "PERMISSION_DENIED",	"REQUEST_DENIED" },
		{ "UNAUTHENTICATED",	"REQUEST_DENIED" },
		{ "INVALID_ARGUMENT",	"INVALID_REQUEST" },
		{ "FAILED_PRECONDITION", "INVALID_REQUEST" },
		{ "OUT_OF_RANGE",	"INVALID_REQUEST" },
		{ "NOT_FOUND",		"INVALID_REQUEST" },
		{ "RESOURCE_EXHAUSTED",	"OVER_QUERY_LIMIT" },
	};
	size_t i;

	if (google_status != NULL)
		for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (strcmp(google_status, map[i].google) == 0)
				return map[i].legacy;
	switch (http) {
	case 400:
		return "INVALID_REQUEST";
	case 401:
	case 403:
		return "REQUEST_DENIED";
	case 429:
		return "OVER_QUERY_LIMIT";
	default:
		return STATUS_UNKNOWN;
	}
}

/* The legacy status of a failed call; never OK nor ZERO_RESULTS. */
static const char *
error_status(long http, const char *google_status)
{
	const char *st;

	st = places_json_status(http, google_status);
	if (strcmp(st, STATUS_OK) == 0 || strcmp(st, STATUS_ZERO) == 0)
		st = places_json_status(http, NULL);
	return st;
}

/* What an operator should do about a legacy error status. */
static const char *
status_hint(const char *status)
{
	if (strcmp(status, "REQUEST_DENIED") == 0)
		return "; check the places API key and that the API is "
		    "enabled for it";
	if (strcmp(status, "OVER_QUERY_LIMIT") == 0)
		return "; the places quota is exhausted, retry later";
	if (strcmp(status, "INVALID_REQUEST") == 0)
		return "; the places request was rejected";
	return "";
}

/* The error answer for a failed call, with Google's message if any. */
static char *
http_error(long http, const char *google_status, const char *message)
{
	const char *st;

	st = error_status(http, google_status);
	if (message != NULL && message[0] != '\0')
		return places_json_error(st, message);
	return places_json_errorf(st, "places provider returned HTTP %ld%s%s%s%s",
	    http, google_status != NULL ? " (" : "",
	    google_status != NULL ? google_status : "",
	    google_status != NULL ? ")" : "", status_hint(st));
}

/* Member key of obj, case-sensitively; NULL if obj is no object. */
static const cJSON *
get(const cJSON *obj, const char *key)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* The string member key of obj, or NULL if absent or not a string. */
static const char *
get_string(const cJSON *obj, const char *key)
{
	const cJSON *v;

	v = get(obj, key);
	if (v == NULL || !cJSON_IsString(v) || v->valuestring == NULL)
		return NULL;
	return v->valuestring;
}

/* Store the finite number member key of obj in *out; 0 if there is none. */
static int
get_number(const cJSON *obj, const char *key, double *out)
{
	const cJSON *v;

	v = get(obj, key);
	if (v == NULL || !cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return 0;
	*out = v->valuedouble;
	return 1;
}

/* Copy string member from of src to key of dst if present; -1 on OOM. */
static int
copy_string(cJSON *dst, const char *key, const cJSON *src, const char *from)
{
	const char *s;

	if ((s = get_string(src, from)) == NULL)
		return 0;
	return cJSON_AddStringToObject(dst, key, s) == NULL ? -1 : 0;
}

/* Copy number member from of src to key of dst if present; -1 on OOM. */
static int
copy_number(cJSON *dst, const char *key, const cJSON *src, const char *from)
{
	double d;

	if (!get_number(src, from, &d))
		return 0;
	return cJSON_AddNumberToObject(dst, key, d) == NULL ? -1 : 0;
}

/* Add {"lat","lng"} from a New LatLng ll as key of dst; 0 if ll is bad. */
static int
add_latlng(cJSON *dst, const char *key, const cJSON *ll)
{
	cJSON *o;
	double lat, lng;

	if (!get_number(ll, "latitude", &lat) ||
	    !get_number(ll, "longitude", &lng))
		return 0;
	if ((o = cJSON_AddObjectToObject(dst, key)) == NULL ||
	    cJSON_AddNumberToObject(o, "lat", lat) == NULL ||
	    cJSON_AddNumberToObject(o, "lng", lng) == NULL)
		return -1;
	return 1;
}

/* Add geometry {location, viewport} from place p to r. */
static int
add_geometry(cJSON *r, const cJSON *p)
{
	const cJSON *loc, *vp, *low, *high;
	cJSON *g, *v;
	double d;
	int ok_loc, ok_vp;

	loc = get(p, "location");
	vp = get(p, "viewport");
	low = get(vp, "low");
	high = get(vp, "high");
	ok_loc = get_number(loc, "latitude", &d) &&
	    get_number(loc, "longitude", &d);
	ok_vp = get_number(low, "latitude", &d) &&
	    get_number(low, "longitude", &d) &&
	    get_number(high, "latitude", &d) &&
	    get_number(high, "longitude", &d);
	if (!ok_loc && !ok_vp)
		return 0;
	if ((g = cJSON_AddObjectToObject(r, "geometry")) == NULL)
		return -1;
	if (ok_loc && add_latlng(g, "location", loc) == -1)
		return -1;
	if (ok_vp) {
		if ((v = cJSON_AddObjectToObject(g, "viewport")) == NULL ||
		    add_latlng(v, "northeast", high) == -1 ||
		    add_latlng(v, "southwest", low) == -1)
			return -1;
	}
	return 0;
}

/* Add opening_hours.open_now from current, else regular, hours of p. */
static int
add_opening_hours(cJSON *r, const cJSON *p)
{
	const cJSON *open;
	cJSON *oh;

	open = get(get(p, "currentOpeningHours"), "openNow");
	if (!cJSON_IsBool(open))
		open = get(get(p, "regularOpeningHours"), "openNow");
	if (!cJSON_IsBool(open))
		return 0;
	if ((oh = cJSON_AddObjectToObject(r, "opening_hours")) == NULL ||
	    cJSON_AddBoolToObject(oh, "open_now", cJSON_IsTrue(open)) == NULL)
		return -1;
	return 0;
}

/* Add photos [{height, html_attributions, photo_reference, width}]. */
static int
add_photos(cJSON *r, const cJSON *p)
{
	const cJSON *photos, *ph, *aa, *a;
	cJSON *out, *o, *attr, *s;
	const char *name, *dn;

	photos = get(p, "photos");
	if (!cJSON_IsArray(photos))
		return 0;
	if ((out = cJSON_AddArrayToObject(r, "photos")) == NULL)
		return -1;
	cJSON_ArrayForEach(ph, photos) {
		if ((name = get_string(ph, "name")) == NULL)
			continue;
		if ((o = cJSON_CreateObject()) == NULL)
			return -1;
		if (!cJSON_AddItemToArray(out, o)) {
			cJSON_Delete(o);
			return -1;
		}
		if (copy_number(o, "height", ph, "heightPx") == -1 ||
		    (attr = cJSON_AddArrayToObject(o,
		    "html_attributions")) == NULL)
			return -1;
		aa = get(ph, "authorAttributions");
		if (cJSON_IsArray(aa)) {
			cJSON_ArrayForEach(a, aa) {
				if ((dn = get_string(a, "displayName")) == NULL)
					continue;
				if ((s = cJSON_CreateString(dn)) == NULL)
					return -1;
				if (!cJSON_AddItemToArray(attr, s)) {
					cJSON_Delete(s);
					return -1;
				}
			}
		}
		if (cJSON_AddStringToObject(o, "photo_reference", name) ==
		    NULL || copy_number(o, "width", ph, "widthPx") == -1)
			return -1;
	}
	return 0;
}

/* Add plus_code {compound_code, global_code} if p has either. */
static int
add_plus_code(cJSON *r, const cJSON *p)
{
	const cJSON *pc;
	cJSON *o;

	pc = get(p, "plusCode");
	if (get_string(pc, "compoundCode") == NULL &&
	    get_string(pc, "globalCode") == NULL)
		return 0;
	if ((o = cJSON_AddObjectToObject(r, "plus_code")) == NULL ||
	    copy_string(o, "compound_code", pc, "compoundCode") == -1 ||
	    copy_string(o, "global_code", pc, "globalCode") == -1)
		return -1;
	return 0;
}

/* Add price_level 0..4 from the PRICE_LEVEL_* enum of p. */
static int
add_price_level(cJSON *r, const cJSON *p)
{
	static const char *const levels[] = {
		"PRICE_LEVEL_FREE", "PRICE_LEVEL_INEXPENSIVE",
		"PRICE_LEVEL_MODERATE", "PRICE_LEVEL_EXPENSIVE",
		"PRICE_LEVEL_VERY_EXPENSIVE"
	};
	const char *s;
	size_t i;

	if ((s = get_string(p, "priceLevel")) == NULL)
		return 0;
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(s, levels[i]) == 0)
			return cJSON_AddNumberToObject(r, "price_level",
			    (double)i) == NULL ? -1 : 0;
	return 0;
}

/* Add types, keeping only the strings of p's types array. */
static int
add_types(cJSON *r, const cJSON *p)
{
	const cJSON *types, *t;
	cJSON *out;

	types = get(p, "types");
	if (!cJSON_IsArray(types))
		return 0;
	if ((out = cJSON_AddArrayToObject(r, "types")) == NULL)
		return -1;
	cJSON_ArrayForEach(t, types) {
		if (!cJSON_IsString(t) || t->valuestring == NULL)
			continue;
		if (places_json_append(out, t->valuestring) == -1)
			return -1;
	}
	return 0;
}

/* See places_json.h. */
int
places_json_append(cJSON *array, const char *s)
{
	cJSON *n;

	if ((n = cJSON_CreateString(s)) == NULL)
		return -1;
	if (!cJSON_AddItemToArray(array, n)) {
		cJSON_Delete(n);
		return -1;
	}
	return 0;
}

/* Add vicinity from shortFormattedAddress, else formattedAddress. */
static int
add_vicinity(cJSON *r, const cJSON *p)
{
	if (get_string(p, "shortFormattedAddress") != NULL)
		return copy_string(r, "vicinity", p, "shortFormattedAddress");
	return copy_string(r, "vicinity", p, "formattedAddress");
}

/* One Places API (New) place as a legacy result; NULL on OOM. */
static cJSON *
translate_place(const cJSON *p)
{
	cJSON *r;

	if ((r = cJSON_CreateObject()) == NULL)
		return NULL;
	/* Keys in the alphabetical order of Google's legacy answers. */
	if (copy_string(r, "business_status", p, "businessStatus") == -1 ||
	    add_geometry(r, p) == -1 ||
	    copy_string(r, "icon_background_color", p,
	    "iconBackgroundColor") == -1 ||
	    copy_string(r, "icon_mask_base_uri", p, "iconMaskBaseUri") == -1 ||
	    copy_string(r, "name", get(p, "displayName"), "text") == -1 ||
	    add_opening_hours(r, p) == -1 ||
	    add_photos(r, p) == -1 ||
	    copy_string(r, "place_id", p, "id") == -1 ||
	    add_plus_code(r, p) == -1 ||
	    add_price_level(r, p) == -1 ||
	    copy_number(r, "rating", p, "rating") == -1 ||
	    copy_string(r, "reference", p, "id") == -1 ||
	    add_types(r, p) == -1 ||
	    copy_number(r, "user_ratings_total", p, "userRatingCount") == -1 ||
	    add_vicinity(r, p) == -1) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

/* Google's error object in doc ({"error":...} or [{"error":...}]). */
static const cJSON *
find_new_error(const cJSON *doc)
{
	const cJSON *e;

	if (cJSON_IsArray(doc))
		doc = cJSON_GetArrayItem(doc, 0);
	e = get(doc, "error");
	return cJSON_IsObject(e) ? e : NULL;
}

/* The error answer for a failed Places API (New) call. */
static char *
new_error(const cJSON *doc, long http)
{
	const cJSON *e;

	e = find_new_error(doc);
	return http_error(http, get_string(e, "status"),
	    get_string(e, "message"));
}

/* Translate a Places API (New) searchNearby answer to the legacy shape. */
char *
places_json_from_new(const char *body, size_t len, long http, int max)
{
	const cJSON *places, *p;
	cJSON *doc, *root, *results, *r, *st;
	char *out;
	int oom, n = 0;

	doc = parse_body(body, len, &oom);
	if (oom)
		return NULL;
	if (http < 200 || http > 299 || find_new_error(doc) != NULL) {
		out = new_error(doc, http);
		cJSON_Delete(doc);
		return out;
	}
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return malformed(http, NULL);
	}
	places = get(doc, "places");
	if (places != NULL && !cJSON_IsArray(places) &&
	    !cJSON_IsNull(places)) {
		cJSON_Delete(doc);
		return malformed(http, "\"places\" is not an array");
	}
	if ((root = legacy_shell(STATUS_ZERO, NULL)) == NULL)
		goto oom;
	results = cJSON_GetObjectItemCaseSensitive(root, "results");
	cJSON_ArrayForEach(p, places) {
		if (n >= max)
			break;
		if (!cJSON_IsObject(p))
			continue;
		if ((r = translate_place(p)) == NULL)
			goto oom;
		if (!cJSON_AddItemToArray(results, r)) {
			cJSON_Delete(r);
			goto oom;
		}
		n++;
	}
	if (n > 0) {
		if ((st = cJSON_CreateString(STATUS_OK)) == NULL)
			goto oom;
		if (!cJSON_ReplaceItemInObjectCaseSensitive(root, "status",
		    st)) {
			cJSON_Delete(st);
			goto oom;
		}
	}
	cJSON_Delete(doc);
	return print_free(root);
oom:
	cJSON_Delete(root);
	cJSON_Delete(doc);
	return NULL;
}

/* Has item the type that legacy key number i must have? */
static int
legacy_slot_ok(int i, const cJSON *item)
{
	switch (i) {
	case LK_HTML_ATTRIBUTIONS:
	case LK_RESULTS:
		return cJSON_IsArray(item);
	case LK_STATUS:
		return cJSON_IsString(item) && item->valuestring != NULL &&
		    item->valuestring[0] != '\0';
	default:
		return cJSON_IsString(item) && item->valuestring != NULL;
	}
}

/*
 * Rebuild the legacy object doc (consumed) in Google's key order:
 * error_message, html_attributions, other keys, next_page_token, results,
 * status, with results cut to max and defaults for what is missing.
 * NULL on OOM; a results member that is not an array is left to the
 * caller, which checks it first.
 */
static cJSON *
legacy_reshape(cJSON *doc, int max)
{
	cJSON *slot[LK_COUNT] = { NULL };
	cJSON *root = NULL, *item, *next, *results;
	const char *key;
	int i, n;

	/* Take out the known keys, dropping duplicates and ill-typed ones. */
	for (item = doc->child; item != NULL; item = next) {
		next = item->next;
		key = item->string != NULL ? item->string : "";
		for (i = 0; i < LK_COUNT; i++)
			if (strcmp(key, legacy_keys[i]) == 0)
				break;
		if (i < LK_COUNT) {
			cJSON_DetachItemViaPointer(doc, item);
			if (slot[i] == NULL && legacy_slot_ok(i, item))
				slot[i] = item;
			else
				cJSON_Delete(item);
		}
	}
	/* Cut results to max: move the first max items to a new array. */
	if ((results = cJSON_CreateArray()) == NULL)
		goto fail;
	for (n = 0; n < max && slot[LK_RESULTS] != NULL &&
	    slot[LK_RESULTS]->child != NULL; n++) {
		item = cJSON_DetachItemViaPointer(slot[LK_RESULTS],
		    slot[LK_RESULTS]->child);
		cJSON_AddItemToArray(results, item);
	}
	cJSON_Delete(slot[LK_RESULTS]);
	slot[LK_RESULTS] = results;
	if (slot[LK_HTML_ATTRIBUTIONS] == NULL &&
	    (slot[LK_HTML_ATTRIBUTIONS] = cJSON_CreateArray()) == NULL)
		goto fail;
	if (slot[LK_STATUS] == NULL && (slot[LK_STATUS] =
	    cJSON_CreateString(n > 0 ? STATUS_OK : STATUS_ZERO)) == NULL)
		goto fail;

	if ((root = cJSON_CreateObject()) == NULL)
		goto fail;
	for (i = 0; i <= LK_HTML_ATTRIBUTIONS; i++) {
		if (slot[i] == NULL)
			continue;
		if (!cJSON_AddItemToObject(root, legacy_keys[i], slot[i]))
			goto fail;
		slot[i] = NULL;
	}
	while (doc->child != NULL) {
		item = cJSON_DetachItemViaPointer(doc, doc->child);
		if (!cJSON_AddItemToObject(root, item->string, item)) {
			cJSON_Delete(item);
			goto fail;
		}
	}
	for (i = LK_NEXT_PAGE_TOKEN; i < LK_COUNT; i++) {
		if (slot[i] == NULL)
			continue;
		if (!cJSON_AddItemToObject(root, legacy_keys[i], slot[i]))
			goto fail;
		slot[i] = NULL;
	}
	cJSON_Delete(doc);
	return root;
fail:
	for (i = 0; i < LK_COUNT; i++)
		cJSON_Delete(slot[i]);
	cJSON_Delete(root);
	cJSON_Delete(doc);
	return NULL;
}

/* Check a Nearby Search (legacy) answer and cut its results to max. */
char *
places_json_from_legacy(const char *body, size_t len, long http, int max)
{
	const cJSON *results;
	const char *st;
	cJSON *doc;
	char *out;
	int oom;

	doc = parse_body(body, len, &oom);
	if (oom)
		return NULL;
	if (http < 200 || http > 299) {
		st = get_string(doc, "status");
		/* A failed call is no success, whatever the body says. */
		if (st != NULL && !is_legacy_status(st))
			st = NULL;
		out = http_error(http, st, get_string(doc, "error_message"));
		cJSON_Delete(doc);
		return out;
	}
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return malformed(http, NULL);
	}
	results = get(doc, "results");
	if (results != NULL && !cJSON_IsArray(results) &&
	    !cJSON_IsNull(results)) {
		cJSON_Delete(doc);
		return malformed(http, "\"results\" is not an array");
	}
	return print_free(legacy_reshape(doc, max));
}

/* Copy the status of a legacy answer into buf for logging. */
const char *
places_json_status_of(const char *json, char *buf, size_t size)
{
	const char *s;
	cJSON *doc;
	char *p;

	if (buf == NULL || size == 0)
		return "?";
	doc = json != NULL ? cJSON_Parse(json) : NULL;
	s = get_string(doc, "status");
	snprintf(buf, size, "%s", s != NULL && s[0] != '\0' ? s : "?");
	cJSON_Delete(doc);
	/* The status ends up in a log line: keep it printable. */
	for (p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
	return buf;
}
