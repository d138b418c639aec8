/*
 * fuzz_places_json.c -- libFuzzer harness for the places answer
 * translators.
 *
 * The first input byte picks max_results (1..20) and the HTTP status;
 * the rest is the body a places provider answered.  The three
 * translators (Places API (New), legacy Nearby Search, Overpass) must
 * return compact JSON
 * with no newline that is a legacy-shaped object: html_attributions and
 * results arrays (at most max results) and a status string, never a
 * success status for a failed call.  Overpass results must also be
 * nearest first from the query point, each named, with an osm: id given
 * once.  places_json_error() gets the body as its message.  A broken
 * promise is an abort().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herd/places_json.h"
#include "herd/places_overpass.h"

#define QLAT	34.068930	/* the query point of the Overpass call */
#define QLON	-118.445127

#define check(e)	((e) ? (void)0 : failed(#e, __LINE__))

int		LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const long http_codes[] = { 200, 400, 403, 429, 500 };

static void	failed(const char *, int) __attribute__((noreturn));
static void	check_answer(char *, long, int);
static void	check_overpass(char *, long, int);

/* Report a broken promise and abort: a crash for libFuzzer. */
static void
failed(const char *what, int line)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
	abort();
}

/* Check and free one translated answer for a call of status http. */
static void
check_answer(char *out, long http, int max)
{
	const cJSON *ha, *res, *st;
	const char *end = NULL;
	cJSON *doc;
	char buf[64];

	check(out != NULL);
	check(strchr(out, '\n') == NULL);
	doc = cJSON_ParseWithOpts(out, &end, 1);
	check(doc != NULL && cJSON_IsObject(doc));
	ha = cJSON_GetObjectItemCaseSensitive(doc, "html_attributions");
	res = cJSON_GetObjectItemCaseSensitive(doc, "results");
	st = cJSON_GetObjectItemCaseSensitive(doc, "status");
	check(cJSON_IsArray(ha));
	check(cJSON_IsArray(res) && cJSON_GetArraySize(res) <= max);
	check(cJSON_IsString(st) && st->valuestring != NULL &&
	    st->valuestring[0] != '\0');
	if (http < 200 || http > 299) {
		check(strcmp(st->valuestring, "OK") != 0 &&
		    strcmp(st->valuestring, "ZERO_RESULTS") != 0);
		check(cJSON_GetArraySize(res) == 0);
	}
	/* The status for the logs is the same one, kept printable. */
	places_json_status_of(out, buf, sizeof(buf));
	check(strncmp(buf, st->valuestring, sizeof(buf) - 1) == 0 ||
	    strpbrk(st->valuestring, "\x01\x02\x03\x04\x05\x06\x07\x08\t\n"
	    "\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19"
	    "\x1a\x1b\x1c\x1d\x1e\x1f\x7f") != NULL);
	cJSON_Delete(doc);
	free(out);
}

/* Check and free an Overpass translation: the common promises, then
 * named results nearest first, no osm: id twice. */
static void
check_overpass(char *out, long http, int max)
{
	const cJSON *res, *r, *loc, *lat, *lng, *name, *id, *o;
	cJSON *doc;
	double d, last = -1.0;

	doc = cJSON_Parse(out);
	check(doc != NULL);
	res = cJSON_GetObjectItemCaseSensitive(doc, "results");
	cJSON_ArrayForEach(r, res) {
		name = cJSON_GetObjectItemCaseSensitive(r, "name");
		id = cJSON_GetObjectItemCaseSensitive(r, "place_id");
		loc = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(r, "geometry"), "location");
		lat = cJSON_GetObjectItemCaseSensitive(loc, "lat");
		lng = cJSON_GetObjectItemCaseSensitive(loc, "lng");
		check(cJSON_IsString(name) && name->valuestring[0] != '\0');
		check(cJSON_IsString(id) &&
		    strncmp(id->valuestring, "osm:", 4) == 0);
		check(cJSON_IsNumber(lat) && cJSON_IsNumber(lng));
		d = places_overpass_distance(QLAT, QLON, lat->valuedouble,
		    lng->valuedouble);
		check(d >= last);
		last = d;
		for (o = res->child; o != r; o = o->next)
			check(strcmp(cJSON_GetObjectItemCaseSensitive(o,
			    "place_id")->valuestring, id->valuestring) != 0);
	}
	cJSON_Delete(doc);
	check_answer(out, http, max);
}

/* libFuzzer entry point: a selector byte, then a provider's body. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	char *msg;
	size_t len;
	long http;
	int max;

	if (size < 1)
		return 0;
	max = 1 + (data[0] & 0x1f) % 20;
	http = http_codes[(data[0] >> 5) % 5];
	body = (const char *)data + 1;
	len = size - 1;

	check_answer(places_json_from_new(body, len, http, max), http, max);
	check_answer(places_json_from_legacy(body, len, http, max), http,
	    max);
	check_overpass(places_overpass_to_legacy(body, len, http, QLAT, QLON,
	    max), http, max);

	/* Any bytes as an error message (the body up to a NUL). */
	if ((msg = malloc(len + 1)) == NULL)
		return 0;
	memcpy(msg, body, len);
	msg[len] = '\0';
	check_answer(places_json_error("UNKNOWN_ERROR", msg), 500, max);
	free(msg);
	return 0;
}
