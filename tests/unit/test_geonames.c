/*
 * test_geonames.c -- GeoNames dump lines, the grid image and its query.
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

#include "herd/geonames_index.h"

#define S(lit)	(lit), (sizeof(lit) - 1)

struct pt {
	const char	*name;
	double		 lat, lon;
};

static unsigned char	*build(const struct pt *, size_t, size_t *);
static enum gn_parse	 parse(const char *, struct gn_row *, const char **);
static char		*dump_line(const char *id, const char *name,
			    const char *lat, const char *lon, const char *cls,
			    const char *code);

/* An image of the points pts (ids 1..n, type 0). */
static unsigned char *
build(const struct pt *pts, size_t n, size_t *size)
{
	struct gn_builder *b = gn_builder_new();
	unsigned char *img;
	size_t i;

	assert_non_null(b);
	for (i = 0; i < n; i++)
		assert_int_equal(gn_builder_add(b, (uint32_t)i + 1,
		    (int32_t)lrint(pts[i].lat * 1e7),
		    (int32_t)lrint(pts[i].lon * 1e7), pts[i].name,
		    strlen(pts[i].name), "", 0, 0), 0);
	assert_int_equal(gn_builder_finish(b, NULL, &img, size), 0);
	gn_builder_free(b);
	return img;
}

/* gn_parse_line on a NUL-ended line with the default classes. */
static enum gn_parse
parse(const char *line, struct gn_row *row, const char **why)
{
	return gn_parse_line(line, strlen(line), GN_CLASSES_DEFAULT, row, why);
}

/* A 19-field dump line (malloc'd) with the given fields. */
static char *
dump_line(const char *id, const char *name, const char *lat,
    const char *lon, const char *cls, const char *code)
{
	char *s;

	assert_true(asprintf(&s, "%s\t%s\t%s\talt1,alt2\t%s\t%s\t%s\t%s\tUS\t"
	    "\tCA\t037\t\t\t3900000\t89\t115\tAmerica/Los_Angeles\t"
	    "2023-01-01", id, name, name, lat, lon, cls, code) > 0);
	return s;
}

static void
test_haversine(void **state)
{
	(void)state;
	assert_true(gn_haversine_km(34.06893, -118.445127, 34.06893,
	    -118.445127) == 0.0);
	/* UCLA to Beverly Hills: about 4.2 km. */
	assert_true(fabs(gn_haversine_km(34.06893, -118.445127, 34.07362,
	    -118.40036) - 4.16) < 0.05);
	/* Pole to pole, and antipodes: half the circumference. */
	assert_true(fabs(gn_haversine_km(90, 0, -90, 0) - M_PI *
	    GN_EARTH_KM) < 1e-6);
	assert_true(fabs(gn_haversine_km(0, 0, 0, 180) - M_PI *
	    GN_EARTH_KM) < 1e-6);
	/* Across the antimeridian: 0.02 degree on the equator. */
	assert_true(fabs(gn_haversine_km(0, 179.99, 0, -179.99) -
	    0.02 * M_PI / 180 * GN_EARTH_KM) < 1e-6);
	/* At a pole, longitude does not matter. */
	assert_true(gn_haversine_km(90, 10, 90, -170) < 1e-9);
}

static void
test_classes(void **state)
{
	uint32_t m;

	(void)state;
	assert_int_equal(gn_classes_parse("P S L T H", &m), 0);
	assert_int_equal(m, GN_CLASSES_DEFAULT);
	assert_int_equal(gn_classes_parse("P,S", &m), 0);
	assert_int_equal(m, GN_CLASS('P') | GN_CLASS('S'));
	assert_int_equal(gn_classes_parse("AHLPRSTUV", &m), 0);
	assert_int_equal(gn_classes_parse("", &m), -1);
	assert_int_equal(gn_classes_parse("  ", &m), -1);
	assert_int_equal(gn_classes_parse("PX", &m), -1);
	assert_int_equal(gn_classes_parse("p", &m), -1);
	assert_int_equal(gn_classes_parse("P;S", &m), -1);
}

static void
test_types(void **state)
{
	(void)state;
	assert_string_equal(gn_types(gn_type_of('P', "PPLA"))[0], "locality");
	assert_string_equal(gn_types(gn_type_of('P', "PPL"))[1], "political");
	assert_null(gn_types(gn_type_of('P', "PPL"))[2]);
	assert_string_equal(gn_types(gn_type_of('S', "MUS"))[0], "museum");
	assert_string_equal(gn_types(gn_type_of('L', "PRK"))[0], "park");
	assert_string_equal(gn_types(gn_type_of('S', "SCHC"))[0], "school");
	assert_string_equal(gn_types(gn_type_of('S', "HSPC"))[0], "hospital");
	assert_string_equal(gn_types(gn_type_of('S', "AIRP"))[0], "airport");
	assert_string_equal(gn_types(gn_type_of('S', "CH"))[0], "church");
	assert_string_equal(gn_types(gn_type_of('T', "MT"))[0],
	    "natural_feature");
	assert_string_equal(gn_types(gn_type_of('H', "LK"))[0],
	    "natural_feature");
	assert_string_equal(gn_types(gn_type_of('H', "STM"))[0],
	    "natural_feature");
	/* MUS is a museum only as a spot; unknown codes get their class's. */
	assert_string_equal(gn_types(gn_type_of('S', "MUSX"))[0],
	    "point_of_interest");
	assert_string_equal(gn_types(gn_type_of('S', "MUSX"))[1],
	    "establishment");
	assert_string_equal(gn_types(gn_type_of('Q', "XYZ"))[0],
	    "point_of_interest");
	assert_int_equal(gn_type_of('Q', "XYZ"), 0);
	assert_null(gn_types(100000)[0]);
}

static void
test_parse_good(void **state)
{
	struct gn_row r;
	const char *why = NULL;
	char *l;

	(void)state;
	l = dump_line("5368361", "Los Angeles", "34.05223", "-118.24368", "P",
	    "PPLA2");
	assert_int_equal(parse(l, &r, &why), GN_ROW_OK);
	assert_int_equal(r.id, 5368361);
	assert_int_equal(r.lat_e7, 340522300);
	assert_int_equal(r.lon_e7, -1182436800);
	assert_int_equal(r.name_len, 11);
	assert_memory_equal(r.name, "Los Angeles", 11);
	assert_int_equal(r.fclass, 'P');
	assert_string_equal(r.fcode, "PPLA2");
	assert_int_equal(r.cc_len, 2);
	assert_memory_equal(r.cc, "US", 2);
	assert_int_equal(r.admin1_len, 2);
	assert_memory_equal(r.admin1, "CA", 2);
	free(l);
	/* Bounds, integers, CRLF, rounding at the 8th decimal. */
	l = dump_line("4294967295", "Pole", "-90", "180.00000005\r", "T", "MT");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);	/* CR mid-line */
	free(l);
	l = dump_line("4294967295", "Pole", "-90", "180", "T", "MT");
	assert_int_equal(parse(l, &r, &why), GN_ROW_OK);
	assert_int_equal(r.id, 4294967295u);
	assert_int_equal(r.lat_e7, -900000000);
	assert_int_equal(r.lon_e7, 1800000000);
	free(l);
	l = dump_line("7", "Near", "1.23456785", "-0.00000004", "H", "LK");
	assert_int_equal(parse(l, &r, &why), GN_ROW_OK);
	assert_int_equal(r.lat_e7, 12345679);
	assert_int_equal(r.lon_e7, 0);
	free(l);
	assert_int_equal(parse("", &r, &why), GN_ROW_SKIP);
	assert_int_equal(parse("\r", &r, &why), GN_ROW_SKIP);
}

static void
test_parse_crlf(void **state)
{
	struct gn_row r;
	const char *why;
	char *l, *l2;

	(void)state;
	l = dump_line("8", "Crlf", "1", "2", "P", "PPL");
	assert_true(asprintf(&l2, "%s\r", l) > 0);
	assert_int_equal(parse(l2, &r, &why), GN_ROW_OK);
	assert_int_equal(r.id, 8);
	free(l);
	free(l2);
}

static void
test_parse_classes(void **state)
{
	struct gn_row r;
	const char *why;
	char *l;

	(void)state;
	l = dump_line("9", "Road", "1", "2", "R", "RD");
	assert_int_equal(parse(l, &r, &why), GN_ROW_SKIP);
	assert_int_equal(gn_parse_line(l, strlen(l), GN_CLASS('R'), &r, &why),
	    GN_ROW_OK);
	free(l);
	l = dump_line("9", "Unclassed", "1", "2", "", "");
	assert_int_equal(parse(l, &r, &why), GN_ROW_SKIP);
	free(l);
	l = dump_line("9", "Spot", "1", "2", "S", "MUS");
	assert_int_equal(gn_parse_line(l, strlen(l), GN_CLASS('P'), &r, &why),
	    GN_ROW_SKIP);
	free(l);
}

static void
test_parse_bad(void **state)
{
	static const char *const ids[] = { "0", "007", "4294967296", "-1",
	    "1a", "", "12345678901" };
	static const char *const coords[] = { "90.0000001", "-90.00000001",
	    "1.", ".5", "+1", "1e3", "", "1.2.3", "0x10", "1000", "-",
	    " 1", "nan", "inf" };
	struct gn_row r;
	const char *why;
	char *l, name[GN_NAME_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		l = dump_line(ids[i], "X", "1", "2", "P", "PPL");
		why = NULL;
		assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
		assert_non_null(strstr(why, "geonameid"));
		free(l);
	}
	for (i = 0; i < sizeof(coords) / sizeof(coords[0]); i++) {
		l = dump_line("1", "X", coords[i], "2", "P", "PPL");
		assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
		free(l);
		if (i < 2)	/* a longitude may exceed 90 */
			continue;
		l = dump_line("1", "X", "2", coords[i], "P", "PPL");
		assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
		free(l);
	}
	l = dump_line("1", "X", "1", "180.0000001", "P", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
	free(l);
	/* Names: empty, too long, bad UTF-8, control characters. */
	memset(name, 'n', sizeof(name));
	name[GN_NAME_MAX + 1] = '\0';
	l = dump_line("1", name, "1", "2", "P", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
	free(l);
	name[GN_NAME_MAX] = '\0';
	l = dump_line("1", name, "1", "2", "P", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_OK);
	free(l);
	l = dump_line("1", "", "1", "2", "P", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
	free(l);
	l = dump_line("1", "Bad\xc3(", "1", "2", "P", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
	free(l);
	l = dump_line("1", "Overlong\xc0\xaf", "1", "2", "P", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
	free(l);
	l = dump_line("1", "Surrogate\xed\xa0\x80", "1", "2", "P", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
	free(l);
	l = dump_line("1", "Cut\xe2\x82", "1", "2", "P", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
	free(l);
	l = dump_line("1", "Bell\a", "1", "2", "P", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
	free(l);
	l = dump_line("1", "Z\xc3\xbcrich \xe2\x82\xac \xf0\x9f\x97\xba", "1",
	    "2", "P", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_OK);
	free(l);
	/* Class and code. */
	l = dump_line("1", "X", "1", "2", "PP", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
	free(l);
	l = dump_line("1", "X", "1", "2", "p", "PPL");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
	free(l);
	l = dump_line("1", "X", "1", "2", "P", "PPLXXXXXXXXXXX");
	assert_int_equal(parse(l, &r, &why), GN_ROW_BAD);
	free(l);
	/* Field counts. */
	assert_int_equal(gn_parse_line(S("1\tX\tX\t\t1\t2\tP\tPPL\tUS\t\tCA\t"
	    "\t\t\t0\t\t0\tUTC"), GN_CLASSES_DEFAULT, &r, &why), GN_ROW_BAD);
	assert_non_null(strstr(why, "fewer"));
	assert_int_equal(gn_parse_line(S("1\tX\tX\t\t1\t2\tP\tPPL\tUS\t\tCA\t"
	    "\t\t\t0\t\t0\tUTC\t2020\textra"), GN_CLASSES_DEFAULT, &r, &why),
	    GN_ROW_BAD);
	assert_non_null(strstr(why, "more"));
	assert_int_equal(gn_parse_line(S("garbage"), GN_CLASSES_DEFAULT, &r,
	    &why), GN_ROW_BAD);
	/* A NUL inside a field. */
	assert_int_equal(gn_parse_line(S("1\tA\0B\tX\t\t1\t2\tP\tPPL\tUS\t\tCA"
	    "\t\t\t\t0\t\t0\tUTC\t2020"), GN_CLASSES_DEFAULT, &r, &why),
	    GN_ROW_BAD);
}

static void
test_query_order_radius_bound(void **state)
{
	static const struct pt pts[] = {
		{ "Los Angeles", 34.05223, -118.24368 },	/* 18.7 km */
		{ "West Hollywood", 34.09001, -118.36174 },	/* 8.0 */
		{ "Beverly Hills", 34.07362, -118.40036 },	/* 4.2 */
		{ "Santa Monica", 34.01949, -118.49138 },	/* 6.9 */
		{ "Culver City", 34.02112, -118.39647 },	/* 6.8 */
		{ "Sydney", -33.86785, 151.20732 },
	};
	struct gn_index ix;
	struct gn_hit h[8];
	unsigned char *img;
	const char *why;
	size_t size, n, i;

	(void)state;
	img = build(pts, 6, &size);
	assert_int_equal(gn_index_open(&ix, img, size, &why), 0);
	assert_int_equal(ix.nfeats, 6);
	n = gn_index_query(&ix, 34.06893, -118.445127, 10, h, 8);
	assert_int_equal(n, 4);
	assert_string_equal(gn_feat_name(&ix, h[0].feat), "Beverly Hills");
	assert_string_equal(gn_feat_name(&ix, h[1].feat), "Culver City");
	assert_string_equal(gn_feat_name(&ix, h[2].feat), "Santa Monica");
	assert_string_equal(gn_feat_name(&ix, h[3].feat), "West Hollywood");
	for (i = 1; i < n; i++)
		assert_true(h[i - 1].km <= h[i].km);
	assert_true(h[3].km <= 10);
	assert_int_equal(gn_index_query(&ix, 34.06893, -118.445127, 10, h, 2),
	    2);
	assert_string_equal(gn_feat_name(&ix, h[1].feat), "Culver City");
	assert_int_equal(gn_index_query(&ix, 34.06893, -118.445127, 50, h, 8),
	    5);
	assert_string_equal(gn_feat_name(&ix, h[4].feat), "Los Angeles");
	assert_int_equal(gn_index_query(&ix, 34.06893, -118.445127, 1, h, 8),
	    0);
	assert_int_equal(gn_index_query(&ix, 0, -150, 50, h, 8), 0);
	assert_int_equal(gn_index_query(&ix, 34.06893, -118.445127, 10, h, 0),
	    0);
	/* Radius 0: only the very place. */
	n = gn_index_query(&ix, 34.07362, -118.40036, 0, h, 8);
	assert_int_equal(n, 1);
	assert_true(h[0].km == 0.0);
	assert_int_equal(gn_index_query(&ix, NAN, 0, 10, h, 8), 0);
	assert_int_equal(gn_index_query(&ix, 0, 0, -1, h, 8), 0);
	free(img);
}

static void
test_query_radius_edge(void **state)
{
	/* 0.45 degree of latitude is 50.04 km; 0.449 is 49.93 km. */
	static const struct pt pts[] = {
		{ "in", 10.449, 20 }, { "out", 9.55, 20 }, { "far", 12, 20 },
	};
	struct gn_index ix;
	struct gn_hit h[4];
	unsigned char *img;
	const char *why;
	size_t size;

	(void)state;
	img = build(pts, 3, &size);
	assert_int_equal(gn_index_open(&ix, img, size, &why), 0);
	assert_int_equal(gn_index_query(&ix, 10, 20, 50, h, 4), 1);
	assert_string_equal(gn_feat_name(&ix, h[0].feat), "in");
	assert_true(h[0].km > 49.9 && h[0].km <= 50);
	assert_int_equal(gn_index_query(&ix, 10, 20, 50.1, h, 4), 2);
	free(img);
}

static void
test_query_poles_antimeridian(void **state)
{
	static const struct pt pts[] = {
		{ "east", 0, 179.99 }, { "west", 0, -179.99 },
		{ "edge", 0, 180 }, { "edge2", 0, -180 },
		{ "np0", 89.99, 0 }, { "np90", 89.99, 90 },
		{ "np180", 89.99, 180 }, { "npm90", 89.99, -90 },
		{ "pole", 90, 45 }, { "sp", -89.995, -135 },
		{ "arctic", 85, 0 },
	};
	struct gn_index ix;
	struct gn_hit h[16];
	unsigned char *img;
	const char *why;
	size_t size, n;

	(void)state;
	img = build(pts, sizeof(pts) / sizeof(pts[0]), &size);
	assert_int_equal(gn_index_open(&ix, img, size, &why), 0);
	/* Both sides of the antimeridian, from either side. */
	n = gn_index_query(&ix, 0, 180, 5, h, 16);
	assert_int_equal(n, 4);
	n = gn_index_query(&ix, 0, -179.993, 5, h, 16);
	assert_int_equal(n, 4);
	assert_string_equal(gn_feat_name(&ix, h[0].feat), "west");
	n = gn_index_query(&ix, 0.01, 179.999, 2, h, 16);
	assert_int_equal(n, 4);
	/* Every longitude near the north pole; not the arctic town. */
	n = gn_index_query(&ix, 90, 0, 5, h, 16);
	assert_int_equal(n, 5);
	assert_string_equal(gn_feat_name(&ix, h[0].feat), "pole");
	n = gn_index_query(&ix, 89.99, -90, 3, h, 16);
	assert_int_equal(n, 5);
	assert_string_equal(gn_feat_name(&ix, h[0].feat), "npm90");
	n = gn_index_query(&ix, -90, 77, 1, h, 16);
	assert_int_equal(n, 1);
	assert_string_equal(gn_feat_name(&ix, h[0].feat), "sp");
	free(img);
}

static void
test_ties_and_many(void **state)
{
	struct gn_builder *b = gn_builder_new();
	struct gn_index ix;
	struct gn_hit h[20];
	unsigned char *img;
	const char *why;
	char name[32];
	size_t size, n, i;

	(void)state;
	/* 1000 places on one spot: the first 20 in order of addition. */
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "p%zu", i);
		assert_int_equal(gn_builder_add(b, (uint32_t)i, 100000000,
		    200000000, name, strlen(name), "Reg, CC", 7, 1), 0);
	}
	assert_int_equal(gn_builder_count(b), 1000);
	assert_int_equal(gn_builder_finish(b, NULL, &img, &size), 0);
	gn_builder_free(b);
	assert_int_equal(gn_index_open(&ix, img, size, &why), 0);
	n = gn_index_query(&ix, 10, 20, 1, h, 20);
	assert_int_equal(n, 20);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "p%zu", i);
		assert_string_equal(gn_feat_name(&ix, h[i].feat), name);
		assert_string_equal(gn_feat_vicinity(&ix, h[i].feat),
		    "Reg, CC");
		assert_int_equal(ix.feats[h[i].feat].id, i);
	}
	free(img);
}

static void
test_row_vicinity(void **state)
{
	struct gn_builder *b = gn_builder_new();
	struct gn_index ix;
	struct gn_hit h[4];
	struct gn_row r;
	unsigned char *img;
	const char *why;
	char *l;
	size_t size;

	(void)state;
	l = dump_line("42", "Getty Center", "34.0775", "-118.475", "S", "MUS");
	assert_int_equal(parse(l, &r, &why), GN_ROW_OK);
	assert_int_equal(gn_builder_add_row(b, &r), 0);
	free(l);
	assert_int_equal(gn_builder_finish(b, NULL, &img, &size), 0);
	gn_builder_free(b);
	assert_int_equal(gn_index_open(&ix, img, size, &why), 0);
	assert_int_equal(gn_index_query(&ix, 34.07, -118.47, 5, h, 4), 1);
	assert_string_equal(gn_feat_vicinity(&ix, h[0].feat), "CA, US");
	assert_int_equal(ix.feats[h[0].feat].id, 42);
	assert_string_equal(gn_types(ix.feats[h[0].feat].type)[0], "museum");
	free(img);
}

static void
test_image_hostile(void **state)
{
	static const struct pt pts[] = {
		{ "a", 1, 2 }, { "b", -3, 4 }, { "c", 50, -60 },
	};
	struct gn_source src = { 123, 456, GN_CLASSES_DEFAULT };
	struct gn_builder *b = gn_builder_new();
	struct gn_index ix;
	unsigned char *img, *copy;
	const char *why;
	size_t size, i, step;

	(void)state;
	for (i = 0; i < 3; i++)
		assert_int_equal(gn_builder_add(b, 1, (int32_t)(pts[i].lat * 1e7),
		    (int32_t)(pts[i].lon * 1e7), pts[i].name, 1, "", 0, 0), 0);
	assert_int_equal(gn_builder_finish(b, &src, &img, &size), 0);
	gn_builder_free(b);
	assert_int_equal(gn_index_open(&ix, img, size, &why), 0);
	assert_int_equal(ix.source.size, 123);
	assert_int_equal(ix.source.mtime_ns, 456);
	assert_int_equal(ix.source.classes, GN_CLASSES_DEFAULT);
	/* Truncated anywhere, or one byte longer. */
	for (i = 0; i < size; i += 997)
		assert_int_equal(gn_index_open(&ix, img, i, &why), -1);
	assert_int_equal(gn_index_open(&ix, img, size - 8, &why), -1);
	copy = calloc(1, size + 8);
	memcpy(copy, img, size);
	assert_int_equal(gn_index_open(&ix, copy, size + 8, &why), -1);
	/* Any flipped byte, header or body, is refused. */
	step = size / 4000 + 1;
	for (i = 0; i < size; i += (i < 128 ? 1 : step)) {
		memcpy(copy, img, size);
		copy[i] ^= 0x5a;
		assert_int_equal(gn_index_open(&ix, copy, size, &why), -1);
		assert_non_null(why);
	}
	memcpy(copy, img, size);
	copy[0] = 'X';
	assert_int_equal(gn_index_open(&ix, copy, size, &why), -1);
	assert_non_null(strstr(why, "not a herd"));
	free(copy);
	free(img);
}

static void
test_empty_index(void **state)
{
	struct gn_builder *b = gn_builder_new();
	struct gn_index ix;
	struct gn_hit h[2];
	unsigned char *img;
	const char *why;
	size_t size;

	(void)state;
	assert_int_equal(gn_builder_finish(b, NULL, &img, &size), 0);
	gn_builder_free(b);
	assert_int_equal(gn_index_open(&ix, img, size, &why), 0);
	assert_int_equal(gn_index_query(&ix, 0, 0, 50, h, 2), 0);
	free(img);
	/* A NUL inside a name is refused by the builder. */
	b = gn_builder_new();
	assert_int_equal(gn_builder_add(b, 1, 0, 0, "a\0b", 3, "", 0, 0), -1);
	assert_int_equal(gn_builder_finish(b, NULL, &img, &size), -1);
	gn_builder_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_haversine),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_crlf),
		cmocka_unit_test(test_parse_classes),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_query_order_radius_bound),
		cmocka_unit_test(test_query_radius_edge),
		cmocka_unit_test(test_query_poles_antimeridian),
		cmocka_unit_test(test_ties_and_many),
		cmocka_unit_test(test_row_vicinity),
		cmocka_unit_test(test_image_hostile),
		cmocka_unit_test(test_empty_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
