/*
 * test_places_overpass.c -- api = overpass: the QL request, Overpass
 * answers -> legacy Nearby Search JSON, and its [places] keys.
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

#include "herd/config.h"
#include "herd/places_overpass.h"

#define S(lit)	(lit), (sizeof(lit) - 1)
#define LAT	34.06893
#define LON	-118.445127

static cJSON	*legacy(const char *, size_t, long, int);
static const char *status(const cJSON *);
static const char *errmsg(const cJSON *);
static const cJSON *result(const cJSON *, int);
static const char *rstr(const cJSON *, int, const char *);
static char	*types_of(const cJSON *, int);
static struct herd_config *parse(const char *, struct config_errors *);
static void	 expect_error(const char *, const char *);

/* Translate body and parse the answer (which must be a legacy object). */
static cJSON *
legacy(const char *body, size_t len, long http, int max)
{
	char *out = places_overpass_to_legacy(body, len, http, LAT, LON, max);
	cJSON *j;

	assert_non_null(out);
	assert_null(strchr(out, '\n'));
	j = cJSON_Parse(out);
	free(out);
	assert_non_null(j);
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "results")));
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(j,
	    "html_attributions")));
	return j;
}

static const char *
status(const cJSON *j)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(j, "status"));
}

static const char *
errmsg(const cJSON *j)
{
	const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "error_message"));

	assert_non_null(m);
	return m;
}

static const cJSON *
result(const cJSON *j, int i)
{
	return cJSON_GetArrayItem(cJSON_GetObjectItem(j, "results"), i);
}

static const char *
rstr(const cJSON *j, int i, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(result(j, i), key));
}

/* The types of result i joined with commas (static buffer). */
static char *
types_of(const cJSON *j, int i)
{
	static char buf[256];
	const cJSON *t;

	buf[0] = '\0';
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(result(j, i), "types")) {
		if (buf[0] != '\0')
			strcat(buf, ",");
		strcat(buf, t->valuestring);
	}
	return buf;
}

static void
test_fetch_count(void **state)
{
	(void)state;
	assert_int_equal(places_overpass_fetch_count(1), 50);
	assert_int_equal(places_overpass_fetch_count(10), 50);
	assert_int_equal(places_overpass_fetch_count(11), 55);
	assert_int_equal(places_overpass_fetch_count(20), 100);
	assert_int_equal(places_overpass_fetch_count(0), 50);
}

/* How many times needle occurs in s. */
static int
count(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s++;
	}
	return n;
}

static void
test_ql_and_body(void **state)
{
	char *ql, *body;

	(void)state;
	/* Under 20 m, one ring: the radius itself. */
	ql = places_overpass_ql(LAT, LON, "19.5", 7, 8000);
	assert_string_equal(ql, "[out:json][timeout:8];("
	    "node[amenity](around:19.5,34.068930,-118.445127);"
	    "way[amenity](around:19.5,34.068930,-118.445127);"
	    "node[tourism](around:19.5,34.068930,-118.445127);"
	    "way[tourism](around:19.5,34.068930,-118.445127);"
	    "node[shop](around:19.5,34.068930,-118.445127);"
	    "way[shop](around:19.5,34.068930,-118.445127);"
	    "node[leisure](around:19.5,34.068930,-118.445127);"
	    "way[leisure](around:19.5,34.068930,-118.445127);"
	    ");out center 50;");
	free(ql);
	/* 2500 m: six rings, halving, smallest first, each with its out. */
	ql = places_overpass_ql(LAT, LON, "2500", 7, 8000);
	assert_true(strncmp(ql, "[out:json][timeout:8];(node[amenity]"
	    "(around:78,34.068930,-118.445127);", 57) == 0);
	assert_non_null(strstr(ql, ");out center 50;(node[amenity](around:"
	    "156,"));
	assert_non_null(strstr(ql, "way[leisure](around:2500,34.068930,"
	    "-118.445127););out center 50;"));
	assert_int_equal(count(ql, "out center 50;"), 6);
	assert_int_equal(count(ql, "(around:"), 48);
	free(ql);
	/* 50 km, the largest: six rings, the smallest 1562 m. */
	ql = places_overpass_ql(LAT, LON, "50000", 20, 8000);
	assert_non_null(strstr(ql, "(around:1562,"));
	assert_int_equal(count(ql, "out center 100;"), 6);
	free(ql);
	/* Timeout in whole seconds, at least 1. */
	ql = places_overpass_ql(-1.5, 2.25, "0.5", 20, 100);
	assert_non_null(strstr(ql, "[timeout:1];"));
	assert_non_null(strstr(ql, "(around:0.5,-1.500000,2.250000);"));
	assert_non_null(strstr(ql, "out center 100;"));
	free(ql);
	body = places_overpass_body(LAT, LON, "10", 1, 8000);
	assert_true(strncmp(body, "data=%5Bout%3Ajson%5D%5Btimeout%3A8%5D%3B"
	    "%28node%5Bamenity%5D%28around%3A10%2C34.068930%2C-118.445127"
	    "%29%3B", 96) == 0);
	assert_null(strpbrk(body + 5, "[]();:,= &+"));
	free(body);
}

/* Ways with centres, unnamed and broken elements, sorted, cut. */
static const char answer[] =
    "{\"version\":0.6,\"elements\":["
    /* 1: far (about 1.1 km north) */
    "{\"type\":\"node\",\"id\":1,\"lat\":34.07893,\"lon\":-118.445127,"
    "\"tags\":{\"name\":\"Far Cafe\",\"amenity\":\"cafe\"}},"
    /* unnamed, nearest of all: skipped */
    "{\"type\":\"node\",\"id\":2,\"lat\":34.06893,\"lon\":-118.445127,"
    "\"tags\":{\"amenity\":\"bench\"}},"
    /* empty name, no tags, bad ids, bad positions: skipped */
    "{\"type\":\"node\",\"id\":3,\"lat\":34.06893,\"lon\":-118.445127,"
    "\"tags\":{\"name\":\"\"}},"
    "{\"type\":\"node\",\"id\":4,\"lat\":34.06893,\"lon\":-118.445127},"
    "{\"type\":\"node\",\"id\":-5,\"lat\":34.06893,\"lon\":-118.445127,"
    "\"tags\":{\"name\":\"Negative\"}},"
    "{\"type\":\"node\",\"id\":6.5,\"lat\":34.06893,\"lon\":-118.445127,"
    "\"tags\":{\"name\":\"Fraction\"}},"
    "{\"type\":\"node\",\"id\":\"7\",\"lat\":34.06893,\"lon\":-118.445127,"
    "\"tags\":{\"name\":\"String id\"}},"
    "{\"type\":\"node\",\"id\":8,\"lat\":91,\"lon\":-118.445127,"
    "\"tags\":{\"name\":\"Off the globe\"}},"
    "{\"type\":\"node\",\"id\":9,\"center\":{\"lat\":34.06893,"
    "\"lon\":-118.445127},\"tags\":{\"name\":\"Node with a center\"}},"
    "{\"type\":\"area\",\"id\":10,\"lat\":34.06893,\"lon\":-118.445127,"
    "\"tags\":{\"name\":\"Unknown type\"}},"
    "7,null,\"x\","
    /* 11: nearest named (about 110 m east) */
    "{\"type\":\"node\",\"id\":11,\"lat\":34.06893,\"lon\":-118.443927,"
    "\"tags\":{\"name\":\"Near \\\"Shop\\\"\",\"shop\":\"bakery\","
    "\"amenity\":\"cafe\",\"addr:housenumber\":\"10\","
    "\"addr:street\":\"Main St\",\"addr:city\":\"Westwood\"}},"
    /* way 45 with a centre, about 550 m south */
    "{\"type\":\"way\",\"id\":45,\"center\":{\"lat\":34.06393,"
    "\"lon\":-118.445127},\"nodes\":[1,2],\"tags\":{\"name\":\"Park\","
    "\"leisure\":\"park\",\"addr:city\":\"Los Angeles\"}},"
    /* a way without centre: skipped */
    "{\"type\":\"way\",\"id\":46,\"tags\":{\"name\":\"No centre\"}},"
    /* relation with a centre, about 330 m west; odd tag values */
    "{\"type\":\"relation\",\"id\":9007199254740992,\"center\":"
    "{\"lat\":34.06893,\"lon\":-118.448727},\"tags\":{\"name\":\"Rel\","
    "\"tourism\":\"Museum!\",\"amenity\":\"yes\",\"shop\":\"yes\","
    "\"addr:housenumber\":\"5\"}}"
    "]}";

static void
test_translate_sorted_and_mapped(void **state)
{
	cJSON *j;
	const cJSON *loc, *attr;

	(void)state;
	j = legacy(S(answer), 200, 20);
	assert_string_equal(status(j), "OK");
	attr = cJSON_GetObjectItem(j, "html_attributions");
	assert_int_equal(cJSON_GetArraySize(attr), 1);
	assert_string_equal(cJSON_GetArrayItem(attr, 0)->valuestring,
	    "\xc2\xa9 OpenStreetMap contributors");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j,
	    "results")), 4);
	assert_string_equal(rstr(j, 0, "name"), "Near \"Shop\"");
	assert_string_equal(rstr(j, 0, "place_id"), "osm:node/11");
	assert_string_equal(rstr(j, 0, "vicinity"), "10 Main St, Westwood");
	assert_string_equal(types_of(j, 0),
	    "cafe,bakery,store,point_of_interest,establishment");
	loc = cJSON_GetObjectItem(cJSON_GetObjectItem(result(j, 0),
	    "geometry"), "location");
	assert_true(cJSON_GetObjectItem(loc, "lat")->valuedouble == 34.06893);
	assert_true(cJSON_GetObjectItem(loc, "lng")->valuedouble ==
	    -118.443927);
	assert_string_equal(rstr(j, 1, "place_id"),
	    "osm:relation/9007199254740992");
	assert_null(rstr(j, 1, "vicinity"));	/* a number is no address */
	/* Invalid tourism value, amenity=yes; shop=yes still says store. */
	assert_string_equal(types_of(j, 1),
	    "store,point_of_interest,establishment");
	assert_string_equal(rstr(j, 2, "place_id"), "osm:way/45");
	assert_string_equal(rstr(j, 2, "vicinity"), "Los Angeles");
	assert_string_equal(types_of(j, 2),
	    "park,point_of_interest,establishment");
	loc = cJSON_GetObjectItem(cJSON_GetObjectItem(result(j, 2),
	    "geometry"), "location");
	assert_true(cJSON_GetObjectItem(loc, "lat")->valuedouble == 34.06393);
	assert_string_equal(rstr(j, 3, "place_id"), "osm:node/1");
	cJSON_Delete(j);
	/* Cut to the bound after sorting: the nearest ones stay. */
	j = legacy(S(answer), 200, 2);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j,
	    "results")), 2);
	assert_string_equal(rstr(j, 0, "place_id"), "osm:node/11");
	assert_string_equal(rstr(j, 1, "place_id"),
	    "osm:relation/9007199254740992");
	cJSON_Delete(j);
}

static void
test_translate_zero_results(void **state)
{
	cJSON *j;

	(void)state;
	j = legacy(S("{\"elements\":[]}"), 200, 5);
	assert_string_equal(status(j), "ZERO_RESULTS");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j,
	    "html_attributions")), 1);
	cJSON_Delete(j);
	j = legacy(S("{\"elements\":[{\"type\":\"node\",\"id\":1,\"lat\":1,"
	    "\"lon\":1,\"tags\":{\"amenity\":\"cafe\"}}]}"), 200, 5);
	assert_string_equal(status(j), "ZERO_RESULTS");
	cJSON_Delete(j);
}

static void
test_translate_failures(void **state)
{
	static const char page[] = "<html><body><p><strong>Error</strong>:"
	    " runtime error: open64: 0 Success /osm3s_osm_base"
	    " Dispatcher_Client::request_read_and_idx::rate_limited. Please"
	    " check /api/status for the quota of your IP address.</p>";
	cJSON *j;

	(void)state;
	j = legacy(S(page), 429, 5);
	assert_string_equal(status(j), "OVER_QUERY_LIMIT");
	assert_non_null(strstr(errmsg(j), "HTTP 429"));
	cJSON_Delete(j);
	j = legacy(S("Too Many Requests"), 429, 5);
	assert_string_equal(status(j), "OVER_QUERY_LIMIT");
	cJSON_Delete(j);
	j = legacy(S(page), 200, 5);		/* the page with a 200 */
	assert_string_equal(status(j), "OVER_QUERY_LIMIT");
	assert_non_null(strstr(errmsg(j), "rate_limited"));
	cJSON_Delete(j);
	j = legacy(S(page), 503, 5);
	assert_string_equal(status(j), "OVER_QUERY_LIMIT");
	cJSON_Delete(j);
	j = legacy(S("{\"elements\":[],\"remark\":\"runtime error: open64:"
	    " rate_limited\"}"), 200, 5);
	assert_string_equal(status(j), "OVER_QUERY_LIMIT");
	cJSON_Delete(j);
	j = legacy(S("<html>504 Gateway Timeout</html>"), 504, 5);
	assert_string_equal(status(j), "UNKNOWN_ERROR");
	assert_non_null(strstr(errmsg(j), "HTTP 504"));
	cJSON_Delete(j);
	j = legacy(S("{\"elements\":[]}"), 500, 5);
	assert_string_equal(status(j), "UNKNOWN_ERROR");
	cJSON_Delete(j);
	j = legacy(S("{\"elements\":[],\"remark\":\"runtime error: Query"
	    " timed out in \\\"query\\\" at line 1 after 2 seconds.\"}"),
	    200, 5);
	assert_string_equal(status(j), "UNKNOWN_ERROR");
	assert_non_null(strstr(errmsg(j), "Query timed out"));
	cJSON_Delete(j);
	j = legacy(S("{\"elements\":[{\"type\":\"node\",\"id\":1,\"lat\":"),
	    200, 5);
	assert_string_equal(status(j), "UNKNOWN_ERROR");
	assert_non_null(strstr(errmsg(j), "not JSON"));
	cJSON_Delete(j);
	j = legacy(S("{\"elements\":{}}"), 200, 5);
	assert_string_equal(status(j), "UNKNOWN_ERROR");
	cJSON_Delete(j);
	j = legacy(S("[]"), 200, 5);
	assert_string_equal(status(j), "UNKNOWN_ERROR");
	cJSON_Delete(j);
	j = legacy(S("{\"elements\":[]} x"), 200, 5);
	assert_string_equal(status(j), "UNKNOWN_ERROR");
	cJSON_Delete(j);
	j = legacy("", 0, 200, 5);
	assert_string_equal(status(j), "UNKNOWN_ERROR");
	cJSON_Delete(j);
}

/* Every prefix of a real answer yields a legacy object, never a crash. */
static void
test_translate_prefixes(void **state)
{
	size_t n;
	cJSON *j;

	(void)state;
	for (n = 0; n <= sizeof(answer) - 1; n++) {
		j = legacy(answer, n, 200, 5);
		assert_non_null(status(j));
		cJSON_Delete(j);
	}
}

/* A lying server that sends one element twice (or the same id at two
 * places) gives it once: the nearest copy, and the bound still filled. */
static void
test_translate_duplicates_once(void **state)
{
	static const char dup[] = "{\"elements\":["
	    "{\"type\":\"node\",\"id\":1,\"lat\":34.06893,"
	    "\"lon\":-118.443927,\"tags\":{\"name\":\"A\"}},"
	    "{\"type\":\"node\",\"id\":1,\"lat\":34.06893,"
	    "\"lon\":-118.443927,\"tags\":{\"name\":\"A\"}},"
	    "{\"type\":\"node\",\"id\":1,\"lat\":34.06894,"
	    "\"lon\":-118.443927,\"tags\":{\"name\":\"A moved\"}},"
	    "{\"type\":\"way\",\"id\":1,\"center\":{\"lat\":34.07,"
	    "\"lon\":-118.445127},\"tags\":{\"name\":\"Way 1\"}},"
	    "{\"type\":\"node\",\"id\":2,\"lat\":34.08,"
	    "\"lon\":-118.445127,\"tags\":{\"name\":\"B\"}}]}";
	cJSON *j;

	(void)state;
	j = legacy(S(dup), 200, 3);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j,
	    "results")), 3);
	assert_string_equal(rstr(j, 0, "place_id"), "osm:node/1");
	assert_string_equal(rstr(j, 0, "name"), "A");
	assert_string_equal(rstr(j, 1, "place_id"), "osm:way/1");
	assert_string_equal(rstr(j, 2, "place_id"), "osm:node/2");
	cJSON_Delete(j);
}

static void
test_distance(void **state)
{
	(void)state;
	assert_true(places_overpass_distance(LAT, LON, LAT, LON) == 0.0);
	/* One degree of latitude is about 111.2 km. */
	assert_true(fabs(places_overpass_distance(0, 0, 1, 0) - 111195.0) <
	    10.0);
	/* Antipodes: half the circumference, no NaN. */
	assert_true(fabs(places_overpass_distance(0, 0, 0, 180) -
	    20015087.0) < 100.0);
	/* Across the antimeridian it is short. */
	assert_true(places_overpass_distance(0, 179.9, 0, -179.9) < 23000.0);
}

static struct herd_config *
parse(const char *text, struct config_errors *errs)
{
	return config_parse("t.ini", text, strlen(text), errs);
}

/* text fails to load with exactly the one error want. */
static void
expect_error(const char *text, const char *want)
{
	struct config_errors errs;
	struct herd_config *cfg = parse(text, &errs);

	assert_null(cfg);
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.msgs[0], want);
	config_errors_free(&errs);
}

static void
test_config_keys(void **state)
{
	struct config_errors errs;
	struct herd_config *cfg;

	(void)state;
	cfg = parse("[places]\napi = overpass\n[server:A]\nport = 1\n", &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->places.api, PLACES_API_OVERPASS);
	assert_int_equal(cfg->places.max_in_flight, 2);
	assert_int_equal(cfg->places.backoff_s, 30);
	assert_null(cfg->places.user_agent);
	assert_null(cfg->places.key);
	assert_string_equal(config_places_default_url(cfg->places.api),
	    "https://overpass-api.de/api/interpreter");
	config_free(cfg);
	/* An explicit max_in_flight is kept, before or after api. */
	cfg = parse("[places]\nmax_in_flight = 32\napi = overpass\n"
	    "user_agent = herd-example/1.0 (ops@example.org)\n"
	    "backoff_s = 0\n[server:A]\nport = 1\n", &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->places.max_in_flight, 32);
	assert_int_equal(cfg->places.backoff_s, 0);
	assert_string_equal(cfg->places.user_agent,
	    "herd-example/1.0 (ops@example.org)");
	config_free(cfg);
	/* Google keeps its default of 32. */
	cfg = parse("[places]\napi = new\n[server:A]\nport = 1\n", &errs);
	assert_int_equal(cfg->places.max_in_flight, 32);
	config_free(cfg);
	expect_error("[places]\napi = overpass\nuser_agent = curl/8.1.2\n"
	    "[server:A]\nport = 1\n", "t.ini:3: user_agent 'curl/8.1.2' is a"
	    " stock agent (curl); the public Overpass instances want one"
	    " that names this service and a contact, such as"
	    " herd-example/1.0 (ops@example.org)");
	expect_error("[places]\nuser_agent = Python-Requests/2.31\n"
	    "[server:A]\nport = 1\n", "t.ini:2: user_agent"
	    " 'Python-Requests/2.31' is a stock agent (python-requests); the"
	    " public Overpass instances want one that names this service"
	    " and a contact, such as herd-example/1.0 (ops@example.org)");
	expect_error("[places]\n\nuser_agent = Wget\n[server:A]\nport = 1\n",
	    "t.ini:3: user_agent 'Wget' is a stock agent (wget); the public"
	    " Overpass instances want one that names this service and a"
	    " contact, such as herd-example/1.0 (ops@example.org)");
	expect_error("[places]\nuser_agent =\n[server:A]\nport = 1\n",
	    "t.ini:2: bad user_agent '' (expected 1..200 printable ASCII"
	    " characters naming this service, such as herd-example/1.0"
	    " (ops@example.org))");
	expect_error("[places]\nuser_agent = caf\xc3\xa9/1\n[server:A]\n"
	    "port = 1\n", "t.ini:2: bad user_agent 'caf\xc3\xa9/1' (expected"
	    " 1..200 printable ASCII characters naming this service, such as"
	    " herd-example/1.0 (ops@example.org))");
	/* curly-app is not curl. */
	cfg = parse("[places]\nuser_agent = curly-app/1\n[server:A]\n"
	    "port = 1\n", &errs);
	assert_non_null(cfg);
	config_free(cfg);
	expect_error("[places]\nbackoff_s = 3601\n[server:A]\nport = 1\n",
	    "t.ini:2: bad backoff_s '3601' (expected seconds, 0 = none,"
	    " 0..3600)");
	expect_error("[places]\napi = osm\n[server:A]\nport = 1\n",
	    "t.ini:2: bad api 'osm' (expected new, legacy, overpass or"
	    " geonames)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_count),
		cmocka_unit_test(test_ql_and_body),
		cmocka_unit_test(test_translate_sorted_and_mapped),
		cmocka_unit_test(test_translate_zero_results),
		cmocka_unit_test(test_translate_failures),
		cmocka_unit_test(test_translate_prefixes),
		cmocka_unit_test(test_translate_duplicates_once),
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_config_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
