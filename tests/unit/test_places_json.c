/*
 * test_places_json.c -- provider answers -> legacy Nearby Search JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herd/places_json.h"

#define S(lit)	(lit), (sizeof(lit) - 1)

static cJSON	*shape(char *);
static cJSON	*shape_status(char *, const char *);
static const cJSON *member(const cJSON *, const char *);
static const cJSON *path(const cJSON *, const char *);
static double	 num(const cJSON *, const char *);
static const char *str(const cJSON *, const char *);
static int	 nresults(const cJSON *);
static const char *errmsg(const cJSON *);
static char	*repeat_places(int, const char *);
static uint32_t	 rnd(uint32_t *);
static void	 fuzz_one(const char *, size_t);

/* A complete Places API (New) place, as Google sends it. */
static const char full_place[] =
    "{\"name\":\"places/ChIJ123\",\"id\":\"ChIJ123\","
    "\"types\":[\"cafe\",\"food\",7,\"point_of_interest\",null],"
    "\"formattedAddress\":\"1 Main St, Los Angeles, CA 90024, USA\","
    "\"shortFormattedAddress\":\"1 Main St, Los Angeles\","
    "\"location\":{\"latitude\":34.06893,\"longitude\":-118.445127},"
    "\"viewport\":{\"low\":{\"latitude\":34.0675,\"longitude\":-118.4465},"
    "\"high\":{\"latitude\":34.0702,\"longitude\":-118.4438}},"
    "\"rating\":4.5,\"userRatingCount\":1234,"
    "\"businessStatus\":\"OPERATIONAL\","
    "\"priceLevel\":\"PRICE_LEVEL_MODERATE\","
    "\"displayName\":{\"text\":\"Caf\\u00e9 \\\"Line\\nBreak\\\"\","
    "\"languageCode\":\"en\"},"
    "\"currentOpeningHours\":{\"openNow\":true},"
    "\"regularOpeningHours\":{\"openNow\":false},"
    "\"iconMaskBaseUri\":\"https://maps.gstatic.com/mapfiles/place_api/"
    "icons/v2/cafe_pinlet\","
    "\"iconBackgroundColor\":\"#FF9E67\","
    "\"plusCode\":{\"globalCode\":\"8553329W+H5\","
    "\"compoundCode\":\"329W+H5 Los Angeles, CA, USA\"},"
    "\"photos\":[{\"name\":\"places/ChIJ123/photos/P1\","
    "\"widthPx\":4032,\"heightPx\":3024,"
    "\"authorAttributions\":[{\"displayName\":\"Ann\","
    "\"uri\":\"//maps.google.com/maps/contrib/1\"},"
    "{\"uri\":\"x\"},{\"displayName\":\"Bob\"}]},"
    "{\"widthPx\":1},"
    "{\"name\":\"places/ChIJ123/photos/P2\",\"authorAttributions\":7}]}";

/* The legacy result full_place translates to, byte for byte. */
static const char full_result[] =
    "{\"business_status\":\"OPERATIONAL\","
    "\"geometry\":{\"location\":{\"lat\":34.06893,\"lng\":-118.445127},"
    "\"viewport\":{\"northeast\":{\"lat\":34.0702,\"lng\":-118.4438},"
    "\"southwest\":{\"lat\":34.0675,\"lng\":-118.4465}}},"
    "\"icon_background_color\":\"#FF9E67\","
    "\"icon_mask_base_uri\":\"https://maps.gstatic.com/mapfiles/place_api/"
    "icons/v2/cafe_pinlet\","
    "\"name\":\"Caf\xc3\xa9 \\\"Line\\nBreak\\\"\","
    "\"opening_hours\":{\"open_now\":true},"
    "\"photos\":[{\"height\":3024,\"html_attributions\":[\"Ann\",\"Bob\"],"
    "\"photo_reference\":\"places/ChIJ123/photos/P1\",\"width\":4032},"
    "{\"html_attributions\":[],"
    "\"photo_reference\":\"places/ChIJ123/photos/P2\"}],"
    "\"place_id\":\"ChIJ123\","
    "\"plus_code\":{\"compound_code\":\"329W+H5 Los Angeles, CA, USA\","
    "\"global_code\":\"8553329W+H5\"},"
    "\"price_level\":2,\"rating\":4.5,\"reference\":\"ChIJ123\","
    "\"types\":[\"cafe\",\"food\",\"point_of_interest\"],"
    "\"user_ratings_total\":1234,"
    "\"vicinity\":\"1 Main St, Los Angeles\"}";

/* A legacy Nearby Search answer, pretty-printed the way Google does. */
static const char legacy_body[] =
    "{\n"
    "   \"html_attributions\" : [],\n"
    "   \"next_page_token\" : \"AcJnTok\",\n"
    "   \"results\" : [\n"
    "      {\n"
    "         \"business_status\" : \"OPERATIONAL\",\n"
    "         \"geometry\" : {\n"
    "            \"location\" : { \"lat\" : 34.07, \"lng\" : -118.44 },\n"
    "            \"viewport\" : {\n"
    "               \"northeast\" : { \"lat\" : 34.08, \"lng\" : -118.43 },\n"
    "               \"southwest\" : { \"lat\" : 34.06, \"lng\" : -118.45 }\n"
    "            }\n"
    "         },\n"
    "         \"icon\" : \"https://maps.gstatic.com/x.png\",\n"
    "         \"name\" : \"First\",\n"
    "         \"opening_hours\" : { \"open_now\" : false },\n"
    "         \"place_id\" : \"P1\",\n"
    "         \"price_level\" : 1,\n"
    "         \"rating\" : 4.1,\n"
    "         \"reference\" : \"P1\",\n"
    "         \"scope\" : \"GOOGLE\",\n"
    "         \"types\" : [ \"lodging\", \"establishment\" ],\n"
    "         \"user_ratings_total\" : 10,\n"
    "         \"vicinity\" : \"Somewhere\",\n"
    "         \"unknown_future_field\" : { \"x\" : [ 1, null, true ] }\n"
    "      },\n"
    "      { \"name\" : \"Second\", \"place_id\" : \"P2\" },\n"
    "      { \"name\" : \"Third\", \"place_id\" : \"P3\" }\n"
    "   ],\n"
    "   \"status\" : \"OK\"\n"
    "}\n";

/* Check out is a complete legacy answer without newline; free it. */
static cJSON *
shape(char *out)
{
	cJSON *doc;

	assert_non_null(out);
	assert_null(strchr(out, '\n'));
	assert_null(strchr(out, '\r'));
	doc = cJSON_Parse(out);
	assert_non_null(doc);
	assert_true(cJSON_IsObject(doc));
	assert_true(cJSON_IsArray(member(doc, "html_attributions")));
	assert_true(cJSON_IsArray(member(doc, "results")));
	assert_true(cJSON_IsString(member(doc, "status")));
	if (member(doc, "error_message") != NULL) {
		assert_true(cJSON_IsString(member(doc, "error_message")));
		assert_string_equal(doc->child->string, "error_message");
	} else
		assert_string_equal(doc->child->string, "html_attributions");
	free(out);
	return doc;
}

/* shape() and check the status is st. */
static cJSON *
shape_status(char *out, const char *st)
{
	cJSON *doc;

	doc = shape(out);
	assert_string_equal(str(doc, "status"), st);
	return doc;
}

/* The member key of o (case-sensitive). */
static const cJSON *
member(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* Follow a dotted path ("geometry.location.lat", "results.0"). */
static const cJSON *
path(const cJSON *o, const char *p)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", p);
	for (tok = strtok_r(buf, ".", &save); tok != NULL && o != NULL;
	    tok = strtok_r(NULL, ".", &save)) {
		if (cJSON_IsArray(o))
			o = cJSON_GetArrayItem(o, atoi(tok));
		else
			o = member(o, tok);
	}
	return o;
}

/* The number at path p of o (the test fails if there is none). */
static double
num(const cJSON *o, const char *p)
{
	const cJSON *v;

	v = path(o, p);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

/* The string at path p of o (the test fails if there is none). */
static const char *
str(const cJSON *o, const char *p)
{
	const cJSON *v;

	v = path(o, p);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

/* How many results doc holds. */
static int
nresults(const cJSON *doc)
{
	return cJSON_GetArraySize(member(doc, "results"));
}

/* The error_message of doc (the test fails if there is none). */
static const char *
errmsg(const cJSON *doc)
{
	return str(doc, "error_message");
}

/* {"places":[place, place, ...]} with n copies; caller frees. */
static char *
repeat_places(int n, const char *place)
{
	size_t plen = strlen(place), len = 16 + (size_t)n * (plen + 1);
	char *b, *p;
	int i;

	b = p = malloc(len);
	assert_non_null(b);
	p += sprintf(p, "{\"places\":[");
	for (i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, place, plen);
		p += plen;
	}
	strcpy(p, "]}");
	return b;
}

/* xorshift32: deterministic pseudo-random numbers for the fuzz test. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Feed one input to every entry point and check each answer's shape. */
static void
fuzz_one(const char *b, size_t len)
{
	static const long https[] = { 200, 403, 500 };
	char buf[32];
	size_t i;
	char *out;

	for (i = 0; i < sizeof(https) / sizeof(https[0]); i++) {
		cJSON_Delete(shape(places_json_from_new(b, len, https[i], 5)));
		cJSON_Delete(shape(places_json_from_legacy(b, len, https[i],
		    5)));
	}
	out = malloc(len + 1);
	assert_non_null(out);
	memcpy(out, b, len);
	out[len] = '\0';
	assert_non_null(places_json_status_of(out, buf, sizeof(buf)));
	free(out);
}

/* places_json_error: exact bytes, NULL arguments, escaping. */
static void
test_error(void **state)
{
	cJSON *doc;
	char *out;

	(void)state;
	out = places_json_error("REQUEST_DENIED", "no key");
	assert_string_equal(out, "{\"error_message\":\"no key\","
	    "\"html_attributions\":[],\"results\":[],"
	    "\"status\":\"REQUEST_DENIED\"}");
	free(out);

	out = places_json_error("OK", NULL);
	assert_string_equal(out,
	    "{\"html_attributions\":[],\"results\":[],\"status\":\"OK\"}");
	free(out);

	doc = shape_status(places_json_error(NULL, "a\nb\r\n\"c\"\\"),
	    "UNKNOWN_ERROR");
	assert_string_equal(errmsg(doc), "a\nb\r\n\"c\"\\");
	cJSON_Delete(doc);
}

/* places_json_status: every Google status and HTTP fallback. */
static void
test_status(void **state)
{
	static const struct {
		long		 http;
		const char	*google;
		const char	*want;
	} t[] = {
		{ 200, "OK", "OK" },
		{ 200, "ZERO_RESULTS", "ZERO_RESULTS" },
		{ 200, "INVALID_REQUEST", "INVALID_REQUEST" },
		{ 200, "OVER_QUERY_LIMIT", "OVER_QUERY_LIMIT" },
		{ 200, "REQUEST_DENIED", "REQUEST_DENIED" },
		{ 200, "UNKNOWN_ERROR", "UNKNOWN_ERROR" },
		{ 500, "OK", "OK" },
		{ 403, "PERMISSION_DENIED", "REQUEST_DENIED" },
		{ 401, "UNAUTHENTICATED", "REQUEST_DENIED" },
		{ 400, "INVALID_ARGUMENT", "INVALID_REQUEST" },
		{ 400, "FAILED_PRECONDITION", "INVALID_REQUEST" },
		{ 400, "OUT_OF_RANGE", "INVALID_REQUEST" },
		{ 404, "NOT_FOUND", "INVALID_REQUEST" },
		{ 429, "RESOURCE_EXHAUSTED", "OVER_QUERY_LIMIT" },
		{ 500, "RESOURCE_EXHAUSTED", "OVER_QUERY_LIMIT" },
		{ 400, NULL, "INVALID_REQUEST" },
		{ 401, NULL, "REQUEST_DENIED" },
		{ 403, NULL, "REQUEST_DENIED" },
		{ 429, NULL, "OVER_QUERY_LIMIT" },
		{ 500, NULL, "UNKNOWN_ERROR" },
		{ 503, "UNAVAILABLE", "UNKNOWN_ERROR" },
		{ 0, NULL, "UNKNOWN_ERROR" },
		{ 200, NULL, "UNKNOWN_ERROR" },
		{ 403, "INTERNAL", "REQUEST_DENIED" },
		{ 429, "ok", "OVER_QUERY_LIMIT" },
		{ 400, "", "INVALID_REQUEST" },
		{ -1, "garbage", "UNKNOWN_ERROR" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_string_equal(places_json_status(t[i].http, t[i].google),
		    t[i].want);
}

/* places_json_status_of: found, missing, truncated, sanitised. */
static void
test_status_of(void **state)
{
	char buf[32], tiny[4];
	char *out;

	(void)state;
	out = places_json_error("OVER_QUERY_LIMIT", "x");
	assert_string_equal(places_json_status_of(out, buf, sizeof(buf)),
	    "OVER_QUERY_LIMIT");
	assert_string_equal(places_json_status_of(out, tiny, sizeof(tiny)),
	    "OVE");
	free(out);
	assert_string_equal(places_json_status_of("{}", buf, sizeof(buf)),
	    "?");
	assert_string_equal(places_json_status_of(NULL, buf, sizeof(buf)),
	    "?");
	assert_string_equal(places_json_status_of("garbage", buf,
	    sizeof(buf)), "?");
	assert_string_equal(places_json_status_of("{\"status\":7}", buf,
	    sizeof(buf)), "?");
	assert_string_equal(places_json_status_of("[\"status\"]", buf,
	    sizeof(buf)), "?");
	assert_string_equal(places_json_status_of("{\"status\":\"\"}", buf,
	    sizeof(buf)), "?");
	assert_string_equal(places_json_status_of(
	    "{\"status\":\"A\\nB\\u0007\"}", buf, sizeof(buf)), "A?B?");
	assert_string_equal(places_json_status_of("{}", NULL, 0), "?");
	assert_string_equal(places_json_status_of("{}", buf, 0), "?");
}

/* A complete New place maps to every legacy field, byte for byte. */
static void
test_new_full(void **state)
{
	char exact[sizeof(full_result) + 64];
	char *body, *out;
	cJSON *doc, *want;

	(void)state;
	body = repeat_places(1, full_place);
	out = places_json_from_new(body, strlen(body), 200, 20);
	free(body);
	assert_non_null(out);
	assert_null(strchr(out, '\n'));
	/* Exact bytes: key order, number format, escapes. */
	snprintf(exact, sizeof(exact), "{\"html_attributions\":[],"
	    "\"results\":[%s],\"status\":\"OK\"}", full_result);
	assert_string_equal(out, exact);
	doc = shape_status(out, "OK");
	assert_int_equal(nresults(doc), 1);
	want = cJSON_Parse(full_result);
	assert_non_null(want);
	assert_true(cJSON_Compare(path(doc, "results.0"), want, 1));
	cJSON_Delete(want);

	/* Field by field, the mapping of the brief. */
	assert_string_equal(str(doc, "results.0.place_id"), "ChIJ123");
	assert_string_equal(str(doc, "results.0.reference"), "ChIJ123");
	assert_string_equal(str(doc, "results.0.name"),
	    "Caf\xc3\xa9 \"Line\nBreak\"");
	assert_true(num(doc, "results.0.geometry.location.lat") == 34.06893);
	assert_true(num(doc, "results.0.geometry.location.lng") ==
	    -118.445127);
	assert_true(num(doc, "results.0.geometry.viewport.southwest.lat") ==
	    34.0675);
	assert_true(num(doc, "results.0.geometry.viewport.northeast.lng") ==
	    -118.4438);
	assert_string_equal(str(doc, "results.0.vicinity"),
	    "1 Main St, Los Angeles");
	assert_int_equal(cJSON_GetArraySize(path(doc, "results.0.types")), 3);
	assert_true(num(doc, "results.0.rating") == 4.5);
	assert_true(num(doc, "results.0.user_ratings_total") == 1234);
	assert_string_equal(str(doc, "results.0.business_status"),
	    "OPERATIONAL");
	assert_true(cJSON_IsTrue(path(doc,
	    "results.0.opening_hours.open_now")));
	assert_true(num(doc, "results.0.price_level") == 2);
	assert_string_equal(str(doc, "results.0.icon_background_color"),
	    "#FF9E67");
	assert_string_equal(str(doc, "results.0.plus_code.global_code"),
	    "8553329W+H5");
	assert_string_equal(str(doc, "results.0.photos.0.photo_reference"),
	    "places/ChIJ123/photos/P1");
	assert_true(num(doc, "results.0.photos.0.height") == 3024);
	assert_true(num(doc, "results.0.photos.0.width") == 4032);
	assert_string_equal(str(doc, "results.0.photos.0.html_attributions.1"),
	    "Bob");
	cJSON_Delete(doc);
}

/* A minimal New answer gives exactly the expected bytes. */
static void
test_new_exact(void **state)
{
	static const char body[] = "{\"places\":[{\"id\":\"X\","
	    "\"displayName\":{\"text\":\"N\"},\"rating\":3}]}";
	char *out;

	(void)state;
	out = places_json_from_new(S(body), 200, 20);
	assert_string_equal(out, "{\"html_attributions\":[],\"results\":["
	    "{\"name\":\"N\",\"place_id\":\"X\",\"rating\":3,"
	    "\"reference\":\"X\"}],\"status\":\"OK\"}");
	free(out);
}

/* formattedAddress and regularOpeningHours stand in when needed. */
static void
test_new_fallbacks(void **state)
{
	static const char body[] = "{\"places\":[{"
	    "\"formattedAddress\":\"Long address\","
	    "\"shortFormattedAddress\":5,"
	    "\"currentOpeningHours\":{\"openNow\":\"yes\"},"
	    "\"regularOpeningHours\":{\"openNow\":false},"
	    "\"plusCode\":{\"globalCode\":\"G\"}},"
	    "{\"formattedAddress\":\"Long\",\"currentOpeningHours\":[],"
	    "\"regularOpeningHours\":{\"openNow\":true}}]}";
	cJSON *doc;

	(void)state;
	doc = shape_status(places_json_from_new(S(body), 200, 20), "OK");
	assert_string_equal(str(doc, "results.0.vicinity"), "Long address");
	assert_true(cJSON_IsFalse(path(doc,
	    "results.0.opening_hours.open_now")));
	assert_string_equal(str(doc, "results.0.plus_code.global_code"), "G");
	assert_null(path(doc, "results.0.plus_code.compound_code"));
	assert_true(cJSON_IsTrue(path(doc,
	    "results.1.opening_hours.open_now")));
	cJSON_Delete(doc);
}

/* Each PRICE_LEVEL_* maps to 0..4; others are skipped. */
static void
test_new_price_levels(void **state)
{
	static const char *const lv[] = {
		"PRICE_LEVEL_FREE", "PRICE_LEVEL_INEXPENSIVE",
		"PRICE_LEVEL_MODERATE", "PRICE_LEVEL_EXPENSIVE",
		"PRICE_LEVEL_VERY_EXPENSIVE", "PRICE_LEVEL_UNSPECIFIED",
		"price_level_free", ""
	};
	char body[128];
	cJSON *doc;
	int i, n;

	(void)state;
	for (i = 0; i < (int)(sizeof(lv) / sizeof(lv[0])); i++) {
		n = snprintf(body, sizeof(body),
		    "{\"places\":[{\"priceLevel\":\"%s\"}]}", lv[i]);
		doc = shape_status(places_json_from_new(body, (size_t)n, 200,
		    1), "OK");
		if (i <= 4)
			assert_true(num(doc, "results.0.price_level") == i);
		else
			assert_null(path(doc, "results.0.price_level"));
		cJSON_Delete(doc);
	}
	doc = shape_status(places_json_from_new(
	    S("{\"places\":[{\"priceLevel\":2}]}"), 200, 1), "OK");
	assert_null(path(doc, "results.0.price_level"));
	cJSON_Delete(doc);
}

/* Ill-typed New fields are skipped, never emitted as null. */
static void
test_new_ill_typed(void **state)
{
	/* Every field present with the wrong type: nothing comes out. */
	static const char body[] = "{\"places\":[{"
	    "\"id\":1,\"displayName\":\"str\",\"location\":[1,2],"
	    "\"viewport\":{\"low\":{\"latitude\":1,\"longitude\":2},"
	    "\"high\":{\"latitude\":\"3\",\"longitude\":4}},"
	    "\"shortFormattedAddress\":null,\"formattedAddress\":{},"
	    "\"types\":\"cafe\",\"rating\":\"4.5\",\"userRatingCount\":true,"
	    "\"businessStatus\":[],\"currentOpeningHours\":true,"
	    "\"regularOpeningHours\":{\"openNow\":1},\"priceLevel\":null,"
	    "\"iconMaskBaseUri\":0,\"iconBackgroundColor\":false,"
	    "\"plusCode\":\"x\",\"photos\":{\"name\":\"p\"}},"
	    "{\"location\":{\"latitude\":1e999,\"longitude\":2},"
	    "\"rating\":-1e400,\"displayName\":{\"text\":null},"
	    "\"plusCode\":{\"globalCode\":1,\"compoundCode\":[]}},"
	    "{\"location\":{\"latitude\":1},\"types\":[1,{},[],null],"
	    "\"photos\":[1,\"x\",{\"name\":2},null,[]]}]}";
	char *out;

	(void)state;
	out = places_json_from_new(S(body), 200, 20);
	assert_string_equal(out, "{\"html_attributions\":[],\"results\":["
	    "{},{},{\"photos\":[],\"types\":[]}],\"status\":\"OK\"}");
	free(out);
}

/* Location and viewport are emitted only when complete. */
static void
test_new_geometry_partial(void **state)
{
	static const char body[] = "{\"places\":["
	    "{\"viewport\":{\"low\":{\"latitude\":1,\"longitude\":2},"
	    "\"high\":{\"latitude\":3,\"longitude\":4}}},"
	    "{\"location\":{\"latitude\":-90,\"longitude\":180},"
	    "\"viewport\":{\"low\":{\"latitude\":1,\"longitude\":2}}}]}";
	cJSON *doc;

	(void)state;
	doc = shape_status(places_json_from_new(S(body), 200, 20), "OK");
	assert_null(path(doc, "results.0.geometry.location"));
	assert_true(num(doc, "results.0.geometry.viewport.northeast.lat") == 3);
	assert_true(num(doc, "results.0.geometry.viewport.southwest.lng") == 2);
	assert_true(num(doc, "results.1.geometry.location.lat") == -90);
	assert_null(path(doc, "results.1.geometry.viewport"));
	cJSON_Delete(doc);
}

/* No places (or no usable ones) is ZERO_RESULTS. */
static void
test_new_zero(void **state)
{
	cJSON *doc;

	(void)state;
	doc = shape_status(places_json_from_new(S("{}"), 200, 5),
	    "ZERO_RESULTS");
	assert_int_equal(nresults(doc), 0);
	assert_null(member(doc, "error_message"));
	cJSON_Delete(doc);
	doc = shape_status(places_json_from_new(S(" {\"places\":[]}\n"),
	    200, 5), "ZERO_RESULTS");
	cJSON_Delete(doc);
	/* Entries that are not objects are no places. */
	doc = shape_status(places_json_from_new(
	    S("{\"places\":[1,\"a\",null,[],true]}"), 200, 5),
	    "ZERO_RESULTS");
	assert_int_equal(nresults(doc), 0);
	cJSON_Delete(doc);
	/* 204 is a success too. */
	doc = shape_status(places_json_from_new(S("{\"places\":null}"),
	    204, 5), "ZERO_RESULTS");
	cJSON_Delete(doc);
}

/* Results are cut to max, counting only emitted places. */
static void
test_new_max(void **state)
{
	char *body;
	cJSON *doc;
	int i;

	(void)state;
	body = repeat_places(25, "{\"id\":\"A\"}");
	for (i = 1; i <= 20; i++) {
		doc = shape_status(places_json_from_new(body, strlen(body),
		    200, i), "OK");
		assert_int_equal(nresults(doc), i);
		cJSON_Delete(doc);
	}
	free(body);
	/* Skipped entries do not count. */
	doc = shape_status(places_json_from_new(
	    S("{\"places\":[1,{\"id\":\"a\"},2,{\"id\":\"b\"},"
	    "{\"id\":\"c\"}]}"),
	    200, 2), "OK");
	assert_int_equal(nresults(doc), 2);
	assert_string_equal(str(doc, "results.1.place_id"), "b");
	cJSON_Delete(doc);
	/* Degenerate bounds never emit anything. */
	doc = shape_status(places_json_from_new(S("{\"places\":[{}]}"), 200,
	    0), "ZERO_RESULTS");
	cJSON_Delete(doc);
	doc = shape_status(places_json_from_new(S("{\"places\":[{}]}"), 200,
	    -3), "ZERO_RESULTS");
	cJSON_Delete(doc);
}

/* A huge answer is cut to max. */
static void
test_new_big(void **state)
{
	char *body;
	cJSON *doc;

	(void)state;
	body = repeat_places(20000, full_place);
	doc = shape_status(places_json_from_new(body, strlen(body), 200, 20),
	    "OK");
	assert_int_equal(nresults(doc), 20);
	cJSON_Delete(doc);
	free(body);
}

/* Google error objects keep their message and map their status. */
static void
test_new_google_errors(void **state)
{
	static const struct {
		long		 http;
		const char	*body;
		const char	*status;
		const char	*msg;
	} t[] = {
		{ 403, "{\"error\":{\"code\":403,\"message\":\"API key not "
		    "valid. Please pass a valid API key.\",\"status\":"
		    "\"PERMISSION_DENIED\"}}", "REQUEST_DENIED",
		    "API key not valid. Please pass a valid API key." },
		{ 400, "{\"error\":{\"code\":400,\"message\":\"FieldMask is "
		    "a required parameter.\",\"status\":\"INVALID_ARGUMENT\"}}",
		    "INVALID_REQUEST", "FieldMask is a required parameter." },
		{ 429, "{\"error\":{\"code\":429,\"message\":\"Quota\","
		    "\"status\":\"RESOURCE_EXHAUSTED\"}}", "OVER_QUERY_LIMIT",
		    "Quota" },
		{ 401, "{\"error\":{\"code\":401,\"message\":\"auth\","
		    "\"status\":\"UNAUTHENTICATED\"}}", "REQUEST_DENIED",
		    "auth" },
		{ 404, "{\"error\":{\"message\":\"nf\",\"status\":"
		    "\"NOT_FOUND\"}}", "INVALID_REQUEST", "nf" },
		{ 500, "{\"error\":{\"code\":500,\"message\":\"Internal error "
		    "encountered.\",\"status\":\"INTERNAL\"}}", "UNKNOWN_ERROR",
		    "Internal error encountered." },
		/* Old Google front ends wrap the error in an array. */
		{ 403, "[{\"error\":{\"code\":403,\"message\":\"denied\","
		    "\"status\":\"PERMISSION_DENIED\"}}]", "REQUEST_DENIED",
		    "denied" },
		/* An error object wins even on HTTP 200. */
		{ 200, "{\"error\":{\"message\":\"odd\",\"status\":"
		    "\"FAILED_PRECONDITION\"},\"places\":[{}]}",
		    "INVALID_REQUEST", "odd" },
		/* A failure is never OK, whatever the body claims. */
		{ 500, "{\"error\":{\"message\":\"m\",\"status\":\"OK\"}}",
		    "UNKNOWN_ERROR", "m" },
		{ 403, "{\"error\":{\"message\":\"m\",\"status\":"
		    "\"ZERO_RESULTS\"}}", "REQUEST_DENIED", "m" },
		{ 200, "{\"error\":{\"status\":\"OK\"}}", "UNKNOWN_ERROR",
		    NULL },
		/* A successful-looking body on a failed call. */
		{ 500, "{\"places\":[{\"id\":\"x\"}]}", "UNKNOWN_ERROR", NULL },
	};
	size_t i;
	cJSON *doc;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		doc = shape_status(places_json_from_new(t[i].body,
		    strlen(t[i].body), t[i].http, 20), t[i].status);
		assert_int_equal(nresults(doc), 0);
		if (t[i].msg != NULL)
			assert_string_equal(errmsg(doc), t[i].msg);
		else
			assert_non_null(strstr(errmsg(doc), "HTTP"));
		cJSON_Delete(doc);
	}
}

/* HTTP failures without a usable error object name the status. */
static void
test_new_http_errors(void **state)
{
	static const struct {
		long		 http;
		const char	*body;
		const char	*status;
	} t[] = {
		{ 500, "", "UNKNOWN_ERROR" },
		{ 502, "<html>Bad Gateway</html>", "UNKNOWN_ERROR" },
		{ 403, "{\"error\":\"string\"}", "REQUEST_DENIED" },
		{ 401, "{\"error\":{\"message\":7,\"status\":[]}}",
		    "REQUEST_DENIED" },
		{ 400, "{\"error\":{\"message\":\"\"}}", "INVALID_REQUEST" },
		{ 429, "null", "OVER_QUERY_LIMIT" },
		{ 404, "[]", "UNKNOWN_ERROR" },
		{ 0, "", "UNKNOWN_ERROR" },
		{ 199, "{\"places\":[]}", "UNKNOWN_ERROR" },
		{ 300, "{\"places\":[]}", "UNKNOWN_ERROR" },
	};
	char want[64];
	size_t i;
	cJSON *doc;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		doc = shape_status(places_json_from_new(t[i].body,
		    strlen(t[i].body), t[i].http, 20), t[i].status);
		snprintf(want, sizeof(want), "HTTP %ld", t[i].http);
		assert_non_null(strstr(errmsg(doc), want));
		cJSON_Delete(doc);
	}
	doc = shape_status(places_json_from_new(S(
	    "{\"error\":{\"status\":\"PERMISSION_DENIED\"}}"), 403, 1),
	    "REQUEST_DENIED");
	assert_non_null(strstr(errmsg(doc), "PERMISSION_DENIED"));
	assert_non_null(strstr(errmsg(doc), "key"));
	cJSON_Delete(doc);
}

/* Anything but the JSON object we expect is UNKNOWN_ERROR. */
static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"", " ", "garbage", "{", "{\"places\":[", "[1,2]", "\"str\"",
		"42", "null", "true", "{\"places\":[]} trailing",
		"{\"places\":[]}{}", "{'places':[]}", "{\"places\":[],}",
		"\xff\xfe{}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\",
	};
	char nul[] = "{\"places\":[]}\0{}";
	char *deep;
	size_t i;
	cJSON *doc;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		doc = shape_status(places_json_from_new(bad[i],
		    strlen(bad[i]), 200, 20), "UNKNOWN_ERROR");
		assert_non_null(strstr(errmsg(doc), "malformed JSON"));
		assert_non_null(strstr(errmsg(doc), "HTTP 200"));
		cJSON_Delete(doc);
		doc = shape_status(places_json_from_legacy(bad[i],
		    strlen(bad[i]), 200, 20), "UNKNOWN_ERROR");
		assert_non_null(strstr(errmsg(doc), "malformed JSON"));
		cJSON_Delete(doc);
	}
	doc = shape_status(places_json_from_new(nul, sizeof(nul) - 1, 200,
	    20), "UNKNOWN_ERROR");
	cJSON_Delete(doc);
	doc = shape_status(places_json_from_new(NULL, 0, 200, 20),
	    "UNKNOWN_ERROR");
	cJSON_Delete(doc);
	doc = shape_status(places_json_from_legacy(NULL, 10, 200, 20),
	    "UNKNOWN_ERROR");
	cJSON_Delete(doc);
	/* Not NUL-terminated: only len bytes are read. */
	doc = shape_status(places_json_from_new("{}xxxx", 2, 200, 20),
	    "ZERO_RESULTS");
	cJSON_Delete(doc);
	/* Nesting far beyond cJSON's limit. */
	deep = malloc(200001);
	assert_non_null(deep);
	memset(deep, '[', 100000);
	memset(deep + 100000, ']', 100000);
	deep[200000] = '\0';
	doc = shape_status(places_json_from_new(deep, 200000, 200, 20),
	    "UNKNOWN_ERROR");
	cJSON_Delete(doc);
	free(deep);
	/* Wrong container types. */
	doc = shape_status(places_json_from_new(
	    S("{\"places\":\"many\"}"), 200, 20), "UNKNOWN_ERROR");
	assert_non_null(strstr(errmsg(doc), "places"));
	cJSON_Delete(doc);
	doc = shape_status(places_json_from_new(S("{\"places\":{}}"), 200,
	    20), "UNKNOWN_ERROR");
	cJSON_Delete(doc);
	doc = shape_status(places_json_from_legacy(
	    S("{\"results\":\"many\",\"status\":\"OK\"}"), 200, 20),
	    "UNKNOWN_ERROR");
	assert_non_null(strstr(errmsg(doc), "results"));
	cJSON_Delete(doc);
}

/* Legacy answers keep every field; only results are cut. */
static void
test_legacy_passthrough(void **state)
{
	cJSON *doc, *orig;
	char *out;
	int i;

	(void)state;
	orig = cJSON_Parse(legacy_body);
	assert_non_null(orig);
	out = places_json_from_legacy(S(legacy_body), 200, 20);
	assert_non_null(out);
	/* Compaction: no newline, no indentation left. */
	assert_null(strstr(out, "  "));
	doc = shape_status(out, "OK");
	/* Everything kept, byte-for-byte equal as JSON. */
	assert_true(cJSON_Compare(doc, orig, 1));
	assert_string_equal(str(doc, "next_page_token"), "AcJnTok");
	assert_true(cJSON_IsTrue(path(doc,
	    "results.0.unknown_future_field.x.2")));
	assert_true(cJSON_IsNull(path(doc,
	    "results.0.unknown_future_field.x.1")));
	cJSON_Delete(doc);

	for (i = 1; i <= 3; i++) {
		doc = shape_status(places_json_from_legacy(S(legacy_body),
		    200, i), "OK");
		assert_int_equal(nresults(doc), i);
		assert_string_equal(str(doc, "results.0.name"), "First");
		assert_true(cJSON_Compare(path(doc, "results.0"),
		    path(orig, "results.0"), 1));
		cJSON_Delete(doc);
	}
	cJSON_Delete(orig);
}

/* Legacy keys come out in Google's order. */
static void
test_legacy_exact(void **state)
{
	char *out;

	(void)state;
	/* Google's key order, whatever order the keys came in. */
	out = places_json_from_legacy(S("{\"status\":\"OK\",\"results\":"
	    "[{\"a\":1},{\"b\":2}],\"zzz\":[1],\"next_page_token\":\"T\","
	    "\"info_messages\":[\"i\"],\"html_attributions\":[\"h\"],"
	    "\"error_message\":\"e\"}"), 200, 1);
	assert_string_equal(out, "{\"error_message\":\"e\","
	    "\"html_attributions\":[\"h\"],\"zzz\":[1],"
	    "\"info_messages\":[\"i\"],\"next_page_token\":\"T\","
	    "\"results\":[{\"a\":1}],\"status\":\"OK\"}");
	free(out);
}

/* Missing or ill-typed legacy keys get their defaults. */
static void
test_legacy_defaults(void **state)
{
	static const struct {
		const char	*body;
		const char	*want;
	} t[] = {
		{ "{}", "{\"html_attributions\":[],\"results\":[],"
		    "\"status\":\"ZERO_RESULTS\"}" },
		{ "{\"results\":[{}]}", "{\"html_attributions\":[],"
		    "\"results\":[{}],\"status\":\"OK\"}" },
		{ "{\"results\":[],\"status\":\"OK\"}",
		    "{\"html_attributions\":[],\"results\":[],"
		    "\"status\":\"OK\"}" },
		/* Ill-typed known keys get their defaults. */
		{ "{\"html_attributions\":\"x\",\"results\":[1],"
		    "\"status\":5,\"error_message\":[],\"next_page_token\":0}",
		    "{\"html_attributions\":[],\"results\":[1],"
		    "\"status\":\"OK\"}" },
		{ "{\"status\":\"\",\"results\":null}",
		    "{\"html_attributions\":[],\"results\":[],"
		    "\"status\":\"ZERO_RESULTS\"}" },
		/* Duplicate keys: the first one wins, the rest go. */
		{ "{\"results\":[1],\"results\":[2],\"status\":\"OK\","
		    "\"status\":\"X\",\"x\":1,\"x\":2}",
		    "{\"html_attributions\":[],\"x\":1,\"x\":2,"
		    "\"results\":[1],\"status\":\"OK\"}" },
		/* Keys are case-sensitive. */
		{ "{\"Results\":5,\"STATUS\":\"OK\"}",
		    "{\"html_attributions\":[],\"Results\":5,"
		    "\"STATUS\":\"OK\",\"results\":[],"
		    "\"status\":\"ZERO_RESULTS\"}" },
		/* Google's own errors on HTTP 200 pass through. */
		{ "{\n   \"error_message\" : \"The provided API key is "
		    "invalid. \",\n   \"html_attributions\" : [],\n   "
		    "\"results\" : [],\n   \"status\" : "
		    "\"REQUEST_DENIED\"\n}\n",
		    "{\"error_message\":\"The provided API key is invalid. \","
		    "\"html_attributions\":[],\"results\":[],"
		    "\"status\":\"REQUEST_DENIED\"}" },
		{ "{\"html_attributions\":[],\"results\":[],"
		    "\"status\":\"INVALID_REQUEST\"}",
		    "{\"html_attributions\":[],\"results\":[],"
		    "\"status\":\"INVALID_REQUEST\"}" },
	};
	size_t i;
	char *out;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		out = places_json_from_legacy(t[i].body, strlen(t[i].body),
		    200, 20);
		assert_non_null(out);
		assert_string_equal(out, t[i].want);
		cJSON_Delete(shape(out));
	}
}

/* Legacy HTTP failures keep Google's message when present. */
static void
test_legacy_http_errors(void **state)
{
	static const struct {
		long		 http;
		const char	*body;
		const char	*status;
		const char	*msg;	/* NULL: ours, naming the HTTP status */
	} t[] = {
		{ 403, "{\"error_message\":\"denied\",\"results\":[],"
		    "\"status\":\"REQUEST_DENIED\"}", "REQUEST_DENIED",
		    "denied" },
		{ 500, "{\"status\":\"OVER_QUERY_LIMIT\"}", "OVER_QUERY_LIMIT",
		    NULL },
		{ 500, "{\"status\":\"OK\",\"results\":[{}]}", "UNKNOWN_ERROR",
		    NULL },
		{ 400, "{\"status\":\"ZERO_RESULTS\"}", "INVALID_REQUEST",
		    NULL },
		{ 403, "{\"status\":\"PERMISSION_DENIED\"}", "REQUEST_DENIED",
		    NULL },
		{ 429, "", "OVER_QUERY_LIMIT", NULL },
		{ 401, "oops", "REQUEST_DENIED", NULL },
		{ 503, "{\"error_message\":5,\"status\":[]}", "UNKNOWN_ERROR",
		    NULL },
		{ 404, "{\"error\":{\"message\":\"x\"}}", "UNKNOWN_ERROR",
		    NULL },
	};
	char want[64];
	size_t i;
	cJSON *doc;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		doc = shape_status(places_json_from_legacy(t[i].body,
		    strlen(t[i].body), t[i].http, 20), t[i].status);
		assert_int_equal(nresults(doc), 0);
		snprintf(want, sizeof(want), "HTTP %ld", t[i].http);
		if (t[i].msg != NULL)
			assert_string_equal(errmsg(doc), t[i].msg);
		else
			assert_non_null(strstr(errmsg(doc), want));
		cJSON_Delete(doc);
	}
}

/* Newlines in any string are escaped in the output. */
static void
test_no_newline(void **state)
{
	static const char body[] = "{\"places\":[{\"id\":\"a\\nb\\r\\n\","
	    "\"displayName\":{\"text\":\"x\\n\\n\\ny\\u2028\\u0000z\"},"
	    "\"types\":[\"\\n\"]}]}";
	char *out;

	(void)state;
	out = places_json_from_new(S(body), 200, 20);
	assert_non_null(out);
	assert_null(strchr(out, '\n'));
	assert_non_null(strstr(out, "a\\nb\\r\\n"));
	free(out);
	out = places_json_from_legacy(S("{\"results\":[\"\\n\\n\"],"
	    "\"status\":\"a\\nb\",\"k\\n\":\"v\\n\"}"), 200, 20);
	assert_non_null(out);
	assert_null(strchr(out, '\n'));
	free(out);
	out = places_json_error("X\n", "\n\n");
	assert_null(strchr(out, '\n'));
	free(out);
	out = places_json_from_new(S("{\"error\":{\"message\":\"l1\\nl2\"}}"),
	    403, 1);
	assert_null(strchr(out, '\n'));
	free(out);
}

/* Mutated and random inputs always give a complete legacy answer. */
static void
test_fuzz(void **state)
{
	static const char *const seeds[] = {
		full_place, legacy_body,
		"{\"places\":[{\"id\":\"a\",\"location\":{\"latitude\":1,"
		    "\"longitude\":2},\"photos\":[{\"name\":\"n\","
		    "\"authorAttributions\":[{\"displayName\":\"d\"}]}]}]}",
		"{\"error\":{\"code\":403,\"message\":\"m\",\"status\":"
		    "\"PERMISSION_DENIED\"}}",
		"{\"html_attributions\":[],\"results\":[{},{}],"
		    "\"status\":\"OK\"}",
	};
	static const char alphabet[] = "{}[]\",:0123456789.-+eE \n\\u"
	    "truefalsenull\x01\xff";
	char buf[4096];
	uint32_t seed = 2463534242u;
	const char *s;
	size_t i, len, k, n;
	int iter;

	(void)state;
	for (iter = 0; iter < 20000; iter++) {
		s = seeds[iter % (sizeof(seeds) / sizeof(seeds[0]))];
		len = strlen(s);
		if (len > sizeof(buf))
			len = sizeof(buf);
		memcpy(buf, s, len);
		n = 1 + rnd(&seed) % 8;
		for (k = 0; k < n && len > 0; k++) {
			i = rnd(&seed) % len;
			switch (rnd(&seed) % 3) {
			case 0:		/* replace */
				buf[i] = alphabet[rnd(&seed) %
				    (sizeof(alphabet) - 1)];
				break;
			case 1:		/* truncate */
				len = i;
				break;
			default:	/* delete */
				memmove(buf + i, buf + i + 1, len - i - 1);
				len--;
				break;
			}
		}
		fuzz_one(buf, len);
	}
	/* Pure noise. */
	for (iter = 0; iter < 2000; iter++) {
		len = rnd(&seed) % 64;
		for (i = 0; i < len; i++)
			buf[i] = alphabet[rnd(&seed) % (sizeof(alphabet) - 1)];
		fuzz_one(buf, len);
	}
}

/* Run every test. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_status_of),
		cmocka_unit_test(test_new_full),
		cmocka_unit_test(test_new_exact),
		cmocka_unit_test(test_new_fallbacks),
		cmocka_unit_test(test_new_price_levels),
		cmocka_unit_test(test_new_ill_typed),
		cmocka_unit_test(test_new_geometry_partial),
		cmocka_unit_test(test_new_zero),
		cmocka_unit_test(test_new_max),
		cmocka_unit_test(test_new_big),
		cmocka_unit_test(test_new_google_errors),
		cmocka_unit_test(test_new_http_errors),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_legacy_passthrough),
		cmocka_unit_test(test_legacy_exact),
		cmocka_unit_test(test_legacy_defaults),
		cmocka_unit_test(test_legacy_http_errors),
		cmocka_unit_test(test_no_newline),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
