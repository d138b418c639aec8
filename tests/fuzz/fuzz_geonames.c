/*
 * fuzz_geonames.c -- libFuzzer harness for GeoNames dump lines and
 * index images.
 *
 * The input is read twice.  As a dump: every line goes through
 * gn_parse_line(); the rows it accepts must be in range and are built
 * into an image, which gn_index_open() must accept and whose query at
 * each row's own place must find a feature at distance 0.  As an image:
 * gn_index_open() must refuse it or yield an index whose every query
 * stays in bounds, nearest first.  A broken promise is an abort().
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd/geonames_index.h"

#define check(e)	((e) ? (void)0 : failed(#e, __LINE__))
#define ROWS_MAX	64

int		LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	failed(const char *, int) __attribute__((noreturn));
static void	as_dump(const char *, size_t);
static void	as_image(const uint8_t *, size_t);
static void	check_query(const struct gn_index *, double, double, double,
		    size_t);

/* Report a broken promise and abort: a crash for libFuzzer. */
static void
failed(const char *what, int line)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
	abort();
}

/* A query's hits are within the radius, in the index, nearest first. */
static void
check_query(const struct gn_index *ix, double lat, double lon, double km,
    size_t max)
{
	struct gn_hit h[20];
	size_t n, i;

	n = gn_index_query(ix, lat, lon, km, h, max);
	check(n <= max);
	for (i = 0; i < n; i++) {
		check(h[i].feat < ix->nfeats);
		check(h[i].km >= 0 && h[i].km <= km);
		check(i == 0 || h[i - 1].km <= h[i].km);
		check(strlen(gn_feat_name(ix, h[i].feat)) <
		    ix->pool_size);
		(void)gn_types(ix->feats[h[i].feat].type);
	}
}

/* Lines -> rows -> an image that must open and find every row. */
static void
as_dump(const char *p, size_t len)
{
	struct gn_builder *b = gn_builder_new();
	struct gn_row row;
	struct gn_index ix;
	int32_t lat[ROWS_MAX], lon[ROWS_MAX];
	const char *end = p + len, *nl, *why;
	unsigned char *img;
	size_t size, n = 0, i;
	struct gn_hit h[1];

	check(b != NULL);
	for (; p < end && n < ROWS_MAX; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		why = NULL;
		switch (gn_parse_line(p, (size_t)(nl - p), 0xffffffffu, &row,
		    &why)) {
		case GN_ROW_OK:
			check(row.id > 0);
			check(row.lat_e7 >= -900000000 &&
			    row.lat_e7 <= 900000000);
			check(row.lon_e7 >= -1800000000 &&
			    row.lon_e7 <= 1800000000);
			check(row.name_len > 0 && row.name_len <= GN_NAME_MAX);
			check(gn_text_ok(row.name, row.name_len));
			check(gn_builder_add_row(b, &row) == 0);
			lat[n] = row.lat_e7;
			lon[n] = row.lon_e7;
			n++;
			break;
		case GN_ROW_BAD:
			check(why != NULL);
			break;
		case GN_ROW_SKIP:
			break;
		}
	}
	check(gn_builder_count(b) == n);
	check(gn_builder_finish(b, NULL, &img, &size) == 0);
	gn_builder_free(b);
	check(gn_index_open(&ix, img, size, &why) == 0);
	for (i = 0; i < n; i++) {
		check(gn_index_query(&ix, lat[i] / 1e7, lon[i] / 1e7, 0, h,
		    1) == 1);
		check(h[0].km == 0);
		check_query(&ix, lat[i] / 1e7, lon[i] / 1e7, 50, 20);
	}
	free(img);
}

/* Any bytes as an image: refused, or an index that queries safely. */
static void
as_image(const uint8_t *data, size_t len)
{
	struct gn_index ix;
	const char *why;
	uint64_t *copy;

	/* 8-byte aligned, as a mapping is. */
	if ((copy = malloc(len + 8)) == NULL)
		return;
	memcpy(copy, data, len);
	if (gn_index_open(&ix, copy, len, &why) == 0) {
		check_query(&ix, 0, 0, 50, 20);
		check_query(&ix, 90, 0, 50, 20);
		check_query(&ix, -10, 180, 50, 20);
	} else
		check(why != NULL);
	free(copy);
}

/* libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	as_dump((const char *)data, len);
	as_image(data, len);
	return 0;
}
