/*
 * test_proto.c -- unit tests for the client protocol (src/proto.c).
 *
 * Every expectation here is taken from README.md "The protocol".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "herd/proto.h"

static int	loc_ok(const char *);
static int	time_ok(const char *);
static int	radius_ok(const char *);
static int	bound_ok(const char *);
static void	parse(const char *, struct proto_request *);
static void	assert_span(struct proto_span, const char *);
static void	assert_invalid(const char *, const char *);
static void	diff_is(int64_t, int32_t, int64_t, int32_t, const char *);

static int
loc_ok(const char *s)
{
	struct herd_location l;

	return proto_parse_location(s, strlen(s), &l) == 0;
}

static int
time_ok(const char *s)
{
	struct herd_time t;

	return proto_parse_time(s, strlen(s), &t) == 0;
}

static int
radius_ok(const char *s)
{
	double km;

	return proto_parse_radius(s, strlen(s), &km) == 0;
}

static int
bound_ok(const char *s)
{
	int n;

	return proto_parse_bound(s, strlen(s), &n) == 0;
}

static void
parse(const char *s, struct proto_request *r)
{
	proto_parse_request(s, strlen(s), r);
}

static void
assert_span(struct proto_span sp, const char *want)
{
	size_t n = strlen(want);

	if (sp.len != n || (n > 0 && memcmp(sp.p, want, n) != 0))
		fail_msg("span '%.*s' (%zu bytes), want '%s' (%zu bytes)",
		    (int)sp.len, sp.p == NULL ? "" : sp.p, sp.len, want, n);
}

/* line must be PROTO_INVALID and echo trimmed as its "? " text. */
static void
assert_invalid(const char *line, const char *trimmed)
{
	struct proto_request r;

	parse(line, &r);
	if (r.kind != PROTO_INVALID)
		fail_msg("'%s': kind %d, want PROTO_INVALID", line, r.kind);
	assert_span(r.line, trimmed);
}

static void
diff_is(int64_t now_s, int32_t now_ns, int64_t sent_s, int32_t sent_ns,
    const char *want)
{
	struct herd_time now = { now_s, now_ns }, sent = { sent_s, sent_ns };
	char buf[PROTO_TIME_DIFF_MAX];
	size_t n;

	memset(buf, 'X', sizeof(buf));
	n = proto_format_diff(&now, &sent, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

/* ---- location ---- */

static void
test_location_valid(void **state)
{
	struct herd_location l;
	const char *s = "+34.068930-118.445127";

	(void)state;
	assert_int_equal(proto_parse_location(s, strlen(s), &l), 0);
	assert_true(l.lat > 34.06892999 && l.lat < 34.06893001);
	assert_true(l.lon < -118.44512699 && l.lon > -118.44512701);

	s = "-33.8670522+151.1957362";
	assert_int_equal(proto_parse_location(s, strlen(s), &l), 0);
	assert_true(l.lat < -33.86705 && l.lat > -33.86706);
	assert_true(l.lon > 151.19573 && l.lon < 151.19574);

	s = "+0-0";
	assert_int_equal(proto_parse_location(s, strlen(s), &l), 0);
	assert_true(l.lat == 0.0 && l.lon == 0.0);
	assert_true(loc_ok("-0+0"));
	assert_true(loc_ok("+1+2"));
	assert_true(loc_ok("-1.5-2.25"));
}

static void
test_location_bounds(void **state)
{
	struct herd_location l;
	const char *s;

	(void)state;
	s = "+90-180";
	assert_int_equal(proto_parse_location(s, strlen(s), &l), 0);
	assert_true(l.lat == 90.0 && l.lon == -180.0);
	s = "-90+180";
	assert_int_equal(proto_parse_location(s, strlen(s), &l), 0);
	assert_true(l.lat == -90.0 && l.lon == 180.0);
	assert_true(loc_ok("+90.0000000+180.000"));
	assert_true(loc_ok("-90.0-180.0"));
	assert_true(loc_ok("+89.9999999999+179.99999999999"));
	/* Just outside, including beyond double precision. */
	assert_false(loc_ok("+90.0000001+0"));
	assert_false(loc_ok("-90.0000001+0"));
	assert_false(loc_ok("+90.00000000000000000001+0"));
	assert_false(loc_ok("+0+180.0000001"));
	assert_false(loc_ok("+0-180.0000001"));
	assert_false(loc_ok("+0+180.00000000000000000001"));
	assert_false(loc_ok("+91+0"));
	assert_false(loc_ok("+0+181"));
	assert_false(loc_ok("+100+0"));
	assert_false(loc_ok("+0+1000"));
	assert_false(loc_ok("+999999999999999999999999+0"));
	assert_false(loc_ok("+0+18446744073709551796"));
}

static void
test_location_digits(void **state)
{
	struct herd_location l;
	const char *s;

	(void)state;
	/* Any number of fraction digits. */
	assert_true(loc_ok("+34-118"));
	assert_true(loc_ok("+34.0-118.4"));
	s = "+34.06893000000000000000000000000000000000000001"
	    "-118.44512700000000000000000000000000000000000000000000";
	assert_int_equal(proto_parse_location(s, strlen(s), &l), 0);
	assert_true(l.lat > 34.0689299 && l.lat < 34.0689301);
	assert_true(l.lon < -118.4451269 && l.lon > -118.4451271);
	/* Leading zeros. */
	s = "+0034.5-00118.25";
	assert_int_equal(proto_parse_location(s, strlen(s), &l), 0);
	assert_true(l.lat == 34.5 && l.lon == -118.25);
	assert_true(loc_ok("+000000000000000000000000000090-0000000000000180"));
	assert_false(loc_ok("+000000000000000000000000000091+0"));
	assert_true(loc_ok("+00.5+000.5"));
}

static void
test_location_invalid(void **state)
{
	struct herd_location l;

	(void)state;
	assert_false(loc_ok(""));
	assert_int_equal(proto_parse_location("", 0, &l), -1);
	assert_int_equal(proto_parse_location(NULL, 0, &l), -1);
	/* Signs required on both. */
	assert_false(loc_ok("34.068930-118.445127"));
	assert_false(loc_ok("+34.068930118.445127"));
	assert_false(loc_ok("34-118"));
	assert_false(loc_ok("+34"));
	assert_false(loc_ok("-34"));
	assert_false(loc_ok("+34.5"));
	assert_false(loc_ok("+"));
	assert_false(loc_ok("+-"));
	assert_false(loc_ok("++"));
	assert_false(loc_ok("+1+"));
	assert_false(loc_ok("+1-"));
	assert_false(loc_ok("+-1"));
	assert_false(loc_ok("++1"));
	assert_false(loc_ok("+-1.0"));
	/* "." without digits on either side. */
	assert_false(loc_ok("+.+1"));
	assert_false(loc_ok("+.5+1"));
	assert_false(loc_ok("+1.+1"));
	assert_false(loc_ok("+1+1."));
	assert_false(loc_ok("+1+.5"));
	assert_false(loc_ok("+1.5+."));
	assert_false(loc_ok("+1..5+1"));
	assert_false(loc_ok("+1.5.5+1"));
	/* Junk and extra characters. */
	assert_false(loc_ok("+1+1+1"));
	assert_false(loc_ok("+1-1-1"));
	assert_false(loc_ok("+1+1x"));
	assert_false(loc_ok("+1x+1"));
	assert_false(loc_ok("x+1+1"));
	assert_false(loc_ok("+1+1 "));
	assert_false(loc_ok(" +1+1"));
	assert_false(loc_ok("+1 +1"));
	assert_false(loc_ok("+1e1+1"));
	assert_false(loc_ok("+1+1e1"));
	assert_false(loc_ok("+1,5+1"));
	assert_false(loc_ok("+0x1+1"));
	assert_false(loc_ok("+inf+1"));
	assert_false(loc_ok("+nan+nan"));
	assert_false(loc_ok("+34.068930-118.445127/"));
	/* A NUL inside the span is not a digit. */
	assert_int_equal(proto_parse_location("+1+1\0", 5, &l), -1);
	assert_int_equal(proto_parse_location("+1\0+1", 5, &l), -1);
	/* Only the given length is read. */
	assert_int_equal(proto_parse_location("+1+2junk", 4, &l), 0);
	assert_true(l.lat == 1.0 && l.lon == 2.0);
}

/* ---- time ---- */

static void
test_time_valid(void **state)
{
	struct herd_time t;
	const char *s;

	(void)state;
	s = "1621464827.959498503";
	assert_int_equal(proto_parse_time(s, strlen(s), &t), 0);
	assert_int_equal(t.sec, 1621464827);
	assert_int_equal(t.nsec, 959498503);
	s = "1621464827";
	assert_int_equal(proto_parse_time(s, strlen(s), &t), 0);
	assert_int_equal(t.sec, 1621464827);
	assert_int_equal(t.nsec, 0);
	s = "0";
	assert_int_equal(proto_parse_time(s, strlen(s), &t), 0);
	assert_int_equal(t.sec, 0);
	assert_int_equal(t.nsec, 0);
	s = "0.000000001";
	assert_int_equal(proto_parse_time(s, strlen(s), &t), 0);
	assert_int_equal(t.sec, 0);
	assert_int_equal(t.nsec, 1);
	s = "00012.5";
	assert_int_equal(proto_parse_time(s, strlen(s), &t), 0);
	assert_int_equal(t.sec, 12);
	assert_int_equal(t.nsec, 500000000);
	s = "999999999999999999.999999999";
	assert_int_equal(proto_parse_time(s, strlen(s), &t), 0);
	assert_true(t.sec == INT64_C(999999999999999999));
	assert_int_equal(t.nsec, 999999999);
	/* Leading zeros do not count against the digit limit. */
	s = "0000000000000000000000000000001.1";
	assert_int_equal(proto_parse_time(s, strlen(s), &t), 0);
	assert_int_equal(t.sec, 1);
	assert_int_equal(t.nsec, 100000000);
}

static void
test_time_fraction_digits(void **state)
{
	static const struct {
		const char	*s;
		int32_t		 nsec;
	} c[] = {
		{ "7.1",		100000000 },
		{ "7.12",		120000000 },
		{ "7.123",		123000000 },
		{ "7.1234",		123400000 },
		{ "7.12345",		123450000 },
		{ "7.123456",		123456000 },
		{ "7.1234567",		123456700 },
		{ "7.12345678",		123456780 },
		{ "7.123456789",	123456789 },
		{ "7.000000000",	0 },
		{ "7.000000010",	10 },
		{ "7.9",		900000000 },
	};
	struct herd_time t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		t.sec = -1;
		t.nsec = -1;
		assert_int_equal(proto_parse_time(c[i].s, strlen(c[i].s), &t),
		    0);
		assert_int_equal(t.sec, 7);
		assert_int_equal(t.nsec, c[i].nsec);
	}
	assert_false(time_ok("7.1234567890"));
	assert_false(time_ok("7.0000000000"));
	assert_false(time_ok("1621464827.9594985030"));
}

static void
test_time_invalid(void **state)
{
	(void)state;
	assert_false(time_ok(""));
	assert_false(time_ok("-1"));
	assert_false(time_ok("-0"));
	assert_false(time_ok("-1621464827.959498503"));
	assert_false(time_ok("+1621464827.959498503"));
	assert_false(time_ok("1e9"));
	assert_false(time_ok("1.5e9"));
	assert_false(time_ok("1E9"));
	assert_false(time_ok("."));
	assert_false(time_ok("1."));
	assert_false(time_ok(".5"));
	assert_false(time_ok("1.2.3"));
	assert_false(time_ok("0x10"));
	assert_false(time_ok("12a"));
	assert_false(time_ok("a12"));
	assert_false(time_ok(" 12"));
	assert_false(time_ok("12 "));
	assert_false(time_ok("1,5"));
	assert_false(time_ok("inf"));
	assert_false(time_ok("nan"));
	/* Huge: more seconds than int64_t arithmetic can safely hold. */
	assert_false(time_ok("9999999999999999999"));
	assert_false(time_ok("9223372036854775807"));
	assert_false(time_ok("9223372036854775808"));
	assert_false(time_ok("18446744073709551617"));
	assert_false(time_ok("1000000000000000000000000000000.5"));
}

static void
test_time_cmp(void **state)
{
	struct herd_time a, b;
	const char *sa = "1621464827.959498503", *sb = "1621464827.959498504";

	(void)state;
	assert_int_equal(proto_parse_time(sa, strlen(sa), &a), 0);
	assert_int_equal(proto_parse_time(sb, strlen(sb), &b), 0);
	assert_true(time_cmp(&a, &b) < 0);
	assert_true(time_cmp(&b, &a) > 0);
	assert_int_equal(time_cmp(&a, &a), 0);

	/* Same instant written differently compares equal. */
	assert_int_equal(proto_parse_time("5.5", 3, &a), 0);
	assert_int_equal(proto_parse_time("005.500000000", 13, &b), 0);
	assert_int_equal(time_cmp(&a, &b), 0);

	/* Seconds dominate nanoseconds. */
	a.sec = 10; a.nsec = 999999999;
	b.sec = 11; b.nsec = 0;
	assert_true(time_cmp(&a, &b) < 0);
	assert_true(time_cmp(&b, &a) > 0);
}

/* ---- radius and bound ---- */

static void
test_radius(void **state)
{
	double km;

	(void)state;
	assert_int_equal(proto_parse_radius("50", 2, &km), 0);
	assert_true(km == 50.0);
	assert_int_equal(proto_parse_radius("50.0", 4, &km), 0);
	assert_true(km == 50.0);
	assert_int_equal(proto_parse_radius("50.000000000000", 15, &km), 0);
	assert_int_equal(proto_parse_radius("0.001", 5, &km), 0);
	assert_true(km == 0.001);
	assert_int_equal(proto_parse_radius("10", 2, &km), 0);
	assert_true(km == 10.0);
	assert_int_equal(proto_parse_radius("007.5", 5, &km), 0);
	assert_true(km == 7.5);
	assert_true(radius_ok("49.999999999999999999999"));
	assert_true(radius_ok("0.000000000000000000001"));
	/* Positive however small: more than 30 fraction digits deep. */
	assert_int_equal(proto_parse_radius(
	    "0.0000000000000000000000000000001", 33, &km), 0);
	assert_true(km > 0.0 && km < 1e-30);
	assert_int_equal(proto_parse_radius("0.000123", 8, &km), 0);
	assert_true(km == 0.000123);

	assert_false(radius_ok("0"));
	assert_false(radius_ok("0.0"));
	assert_false(radius_ok("000.000000"));
	assert_false(radius_ok("50.0001"));
	assert_false(radius_ok("50.00000000000000000001"));
	assert_false(radius_ok("51"));
	assert_false(radius_ok("100"));
	assert_false(radius_ok("-1"));
	assert_false(radius_ok("-0.5"));
	assert_false(radius_ok("+10"));
	assert_false(radius_ok(""));
	assert_false(radius_ok("."));
	assert_false(radius_ok("10."));
	assert_false(radius_ok(".5"));
	assert_false(radius_ok("1e1"));
	assert_false(radius_ok("ten"));
	assert_false(radius_ok("10km"));
	assert_false(radius_ok("inf"));
	assert_false(radius_ok("nan"));
}

static void
test_bound(void **state)
{
	int n;

	(void)state;
	assert_int_equal(proto_parse_bound("1", 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(proto_parse_bound("20", 2, &n), 0);
	assert_int_equal(n, 20);
	assert_int_equal(proto_parse_bound("5", 1, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(proto_parse_bound("007", 3, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(proto_parse_bound("0020", 4, &n), 0);
	assert_int_equal(n, 20);
	assert_int_equal(proto_parse_bound(
	    "000000000000000000000000000000000000000000000000000013", 54, &n),
	    0);
	assert_int_equal(n, 13);

	assert_false(bound_ok("0"));
	assert_false(bound_ok("00"));
	assert_false(bound_ok("21"));
	assert_false(bound_ok("100"));
	assert_false(bound_ok("4294967297"));
	assert_false(bound_ok("18446744073709551617"));
	assert_false(bound_ok("1.0"));
	assert_false(bound_ok("1.5"));
	assert_false(bound_ok("1."));
	assert_false(bound_ok("-1"));
	assert_false(bound_ok("+1"));
	assert_false(bound_ok(""));
	assert_false(bound_ok("x"));
	assert_false(bound_ok("5x"));
	assert_false(bound_ok("1e1"));
}

/* ---- time_diff ---- */

static void
test_format_diff(void **state)
{
	(void)state;
	/* The example in README.md "Quick start". */
	diff_is(1621464828, 223372889, 1621464827, 959498503, "+0.263874386");
	diff_is(1621464827, 959498503, 1621464827, 959618503, "-0.000120000");
	/* Exact zero is positive. */
	diff_is(100, 0, 100, 0, "+0.000000000");
	diff_is(1621464827, 959498503, 1621464827, 959498503, "+0.000000000");
	/* Between -1 and 0. */
	diff_is(100, 200000000, 100, 500000000, "-0.300000000");
	diff_is(100, 0, 100, 1, "-0.000000001");
	diff_is(100, 0, 100, 999999999, "-0.999999999");
	diff_is(99, 999999999, 100, 0, "-0.000000001");
	/* Nanosecond borrow, both signs. */
	diff_is(101, 0, 100, 500000000, "+0.500000000");
	diff_is(101, 100000000, 100, 900000000, "+0.200000000");
	diff_is(100, 500000000, 101, 0, "-0.500000000");
	diff_is(100, 900000000, 102, 100000000, "-1.200000000");
	diff_is(102, 100000000, 100, 900000000, "+1.200000000");
	diff_is(101, 0, 100, 1, "+0.999999999");
	diff_is(100, 0, 101, 0, "-1.000000000");
	diff_is(100, 0, 102, 0, "-2.000000000");
	diff_is(105, 0, 100, 0, "+5.000000000");
	diff_is(105, 3, 100, 2, "+5.000000001");
	diff_is(100, 2, 105, 3, "-5.000000001");
	/* Large values, never exponent notation. */
	diff_is(1621464827, 0, 0, 0, "+1621464827.000000000");
	diff_is(0, 0, 1621464827, 1, "-1621464827.000000001");
	diff_is(1700000000, 0, INT64_C(999999999999999999), 999999999,
	    "-999999998299999999.999999999");
	diff_is(INT64_C(999999999999999999), 999999999, 0, 0,
	    "+999999999999999999.999999999");
}

static void
test_format_diff_truncates(void **state)
{
	struct herd_time now = { 1621464827, 0 }, sent = { 0, 0 };
	char buf[8];

	(void)state;
	/* Like snprintf: the full length, a NUL-terminated prefix. */
	assert_int_equal(proto_format_diff(&now, &sent, buf, sizeof(buf)),
	    strlen("+1621464827.000000000"));
	assert_string_equal(buf, "+162146");
}

/* ---- proto_parse_request ---- */

static void
test_request_iamat(void **state)
{
	struct proto_request r;

	(void)state;
	parse("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 "
	    "1621464827.959498503", &r);
	assert_int_equal(r.kind, PROTO_IAMAT);
	assert_span(r.client, "kiwi.cs.ucla.edu");
	assert_span(r.location, "+34.068930-118.445127");
	assert_span(r.time_sent, "1621464827.959498503");
	assert_span(r.line, "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 "
	    "1621464827.959498503");
	assert_int_equal(r.sent.sec, 1621464827);
	assert_int_equal(r.sent.nsec, 959498503);
}

static void
test_request_whatsat(void **state)
{
	struct proto_request r;

	(void)state;
	parse("WHATSAT kiwi.cs.ucla.edu 10 5", &r);
	assert_int_equal(r.kind, PROTO_WHATSAT);
	assert_span(r.client, "kiwi.cs.ucla.edu");
	assert_true(r.radius_km == 10.0);
	assert_int_equal(r.max_results, 5);
	assert_span(r.line, "WHATSAT kiwi.cs.ucla.edu 10 5");

	parse("WHATSAT x 50 20", &r);
	assert_int_equal(r.kind, PROTO_WHATSAT);
	assert_true(r.radius_km == 50.0);
	assert_int_equal(r.max_results, 20);
	parse("WHATSAT x 0.001 1", &r);
	assert_int_equal(r.kind, PROTO_WHATSAT);
	assert_true(r.radius_km == 0.001);
	assert_int_equal(r.max_results, 1);
}

static void
test_request_invalid(void **state)
{
	(void)state;
	/* Unknown command, wrong case. */
	assert_invalid("HELLO a b c", "HELLO a b c");
	assert_invalid("iamat a +1+1 1", "iamat a +1+1 1");
	assert_invalid("Iamat a +1+1 1", "Iamat a +1+1 1");
	assert_invalid("whatsat a 10 5", "whatsat a 10 5");
	assert_invalid("AT a +0.1 b +1+1 1", "AT a +0.1 b +1+1 1");
	assert_invalid("IAMATX a +1+1 1", "IAMATX a +1+1 1");
	assert_invalid("IAMA a +1+1 1", "IAMA a +1+1 1");
	assert_invalid("garbage", "garbage");
	/* Wrong field counts. */
	assert_invalid("IAMAT", "IAMAT");
	assert_invalid("IAMAT a", "IAMAT a");
	assert_invalid("IAMAT a +1+1", "IAMAT a +1+1");
	assert_invalid("IAMAT a +1+1 1 extra", "IAMAT a +1+1 1 extra");
	assert_invalid("IAMAT a b +1+1 1", "IAMAT a b +1+1 1");
	assert_invalid("WHATSAT a 10", "WHATSAT a 10");
	assert_invalid("WHATSAT a 10 5 5", "WHATSAT a 10 5 5");
	assert_invalid("WHATSAT", "WHATSAT");
	assert_invalid("IAMAT a +1+1 1 2 3 4 5 6 7 8 9 10",
	    "IAMAT a +1+1 1 2 3 4 5 6 7 8 9 10");
	/* Bad location or time. */
	assert_invalid("IAMAT a 34.068930-118.445127 1",
	    "IAMAT a 34.068930-118.445127 1");
	assert_invalid("IAMAT a +91-118 1", "IAMAT a +91-118 1");
	assert_invalid("IAMAT a +34-181 1", "IAMAT a +34-181 1");
	assert_invalid("IAMAT a +34-118 -1", "IAMAT a +34-118 -1");
	assert_invalid("IAMAT a +34-118 +1", "IAMAT a +34-118 +1");
	assert_invalid("IAMAT a +34-118 1e9", "IAMAT a +34-118 1e9");
	assert_invalid("IAMAT a +34-118 1.1234567890",
	    "IAMAT a +34-118 1.1234567890");
	assert_invalid("IAMAT a +34-118 abc", "IAMAT a +34-118 abc");
	/* Location and time swapped. */
	assert_invalid("IAMAT a 1621464827 +34-118",
	    "IAMAT a 1621464827 +34-118");
	/* Out-of-range or malformed radius and bound. */
	assert_invalid("WHATSAT a 0 5", "WHATSAT a 0 5");
	assert_invalid("WHATSAT a 0.0 5", "WHATSAT a 0.0 5");
	assert_invalid("WHATSAT a 51 5", "WHATSAT a 51 5");
	assert_invalid("WHATSAT a 50.0001 5", "WHATSAT a 50.0001 5");
	assert_invalid("WHATSAT a -5 5", "WHATSAT a -5 5");
	assert_invalid("WHATSAT a x 5", "WHATSAT a x 5");
	assert_invalid("WHATSAT a 10 0", "WHATSAT a 10 0");
	assert_invalid("WHATSAT a 10 21", "WHATSAT a 10 21");
	assert_invalid("WHATSAT a 10 1.0", "WHATSAT a 10 1.0");
	assert_invalid("WHATSAT a 10 -1", "WHATSAT a 10 -1");
	assert_invalid("WHATSAT a 10 x", "WHATSAT a 10 x");
	/* The echo keeps inner whitespace as received, trims the ends. */
	assert_invalid("  WHATSAT \t a  10\f21 \r\n", "WHATSAT \t a  10\f21");
}

static void
test_request_empty(void **state)
{
	struct proto_request r;

	(void)state;
	proto_parse_request("", 0, &r);
	assert_int_equal(r.kind, PROTO_EMPTY);
	assert_int_equal(r.line.len, 0);
	parse(" ", &r);
	assert_int_equal(r.kind, PROTO_EMPTY);
	parse(" \t\r\n\f\v", &r);
	assert_int_equal(r.kind, PROTO_EMPTY);
	assert_int_equal(r.line.len, 0);
	parse("\r", &r);
	assert_int_equal(r.kind, PROTO_EMPTY);
	/* A NUL byte is not whitespace: the line is not empty. */
	proto_parse_request("\0", 1, &r);
	assert_int_equal(r.kind, PROTO_INVALID);
	assert_int_equal(r.line.len, 1);
	proto_parse_request(" \0 ", 3, &r);
	assert_int_equal(r.kind, PROTO_INVALID);
	assert_int_equal(r.line.len, 1);
	assert_int_equal(r.line.p[0], '\0');
	/* Nor is a non-breaking space. */
	parse("\xa0", &r);
	assert_int_equal(r.kind, PROTO_INVALID);
	assert_span(r.line, "\xa0");
}

static void
test_request_whitespace(void **state)
{
	static const char ws[] = " \t\r\n\f\v";
	struct proto_request r;
	char line[128], want[128];
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(ws) - 1; i++) {
		char c = ws[i];

		/* One whitespace byte as separator and at both ends. */
		snprintf(line, sizeof(line), "%cIAMAT%cc%c+1-2%c3.5%c", c, c,
		    c, c, c);
		parse(line, &r);
		assert_int_equal(r.kind, PROTO_IAMAT);
		assert_span(r.client, "c");
		assert_span(r.location, "+1-2");
		assert_span(r.time_sent, "3.5");
		assert_ptr_equal(r.line.p, line + 1);
		assert_int_equal(r.line.len, strlen(line) - 2);

		/* Runs of it. */
		snprintf(line, sizeof(line), "%c%cWHATSAT%c%cc%c10%c%c7%c%c",
		    c, c, c, c, c, c, c, c, c);
		parse(line, &r);
		assert_int_equal(r.kind, PROTO_WHATSAT);
		assert_span(r.client, "c");
		assert_true(r.radius_km == 10.0);
		assert_int_equal(r.max_results, 7);
		snprintf(want, sizeof(want), "WHATSAT%c%cc%c10%c%c7", c, c, c,
		    c, c);
		assert_span(r.line, want);

		/* The same byte cannot be part of a field. */
		for (j = 0; j < sizeof(ws) - 1; j++) {
			snprintf(line, sizeof(line), "IAMAT a%cb +1+1 1",
			    ws[j]);
			parse(line, &r);
			assert_int_equal(r.kind, PROTO_INVALID);
		}
	}

	/* All six mixed, as one separator. */
	parse(" \t\r\n\f\vIAMAT \t\r\n\f\vc \t\r\n\f\v+1-2 \t\r\n\f\v3"
	    " \t\r\n\f\v", &r);
	assert_int_equal(r.kind, PROTO_IAMAT);
	assert_span(r.client, "c");
	assert_span(r.time_sent, "3");
	assert_span(r.line, "IAMAT \t\r\n\f\vc \t\r\n\f\v+1-2 \t\r\n\f\v3");
}

static void
test_request_not_whitespace(void **state)
{
	struct proto_request r;
	static const char nul[] = "IAMAT a\0b +1+1 1";
	static const char nul_sep[] = "IAMAT\0a +1+1 1";
	static const char nul_end[] = "IAMAT a +1+1 1\0";

	(void)state;
	/* NUL is an ordinary byte of a client id. */
	proto_parse_request(nul, sizeof(nul) - 1, &r);
	assert_int_equal(r.kind, PROTO_IAMAT);
	assert_int_equal(r.client.len, 3);
	assert_memory_equal(r.client.p, "a\0b", 3);
	/* ... so it does not separate fields ... */
	proto_parse_request(nul_sep, sizeof(nul_sep) - 1, &r);
	assert_int_equal(r.kind, PROTO_INVALID);
	assert_int_equal(r.line.len, sizeof(nul_sep) - 1);
	/* ... nor is it trimmed. */
	proto_parse_request(nul_end, sizeof(nul_end) - 1, &r);
	assert_int_equal(r.kind, PROTO_INVALID);
	assert_int_equal(r.line.len, sizeof(nul_end) - 1);

	/* U+00A0 (0xA0, and C2 A0 in UTF-8) is not whitespace either. */
	parse("IAMAT a\xa0" "b +1+1 1", &r);
	assert_int_equal(r.kind, PROTO_IAMAT);
	assert_span(r.client, "a\xa0" "b");
	parse("IAMAT a\xc2\xa0" "b +1+1 1", &r);
	assert_int_equal(r.kind, PROTO_IAMAT);
	assert_span(r.client, "a\xc2\xa0" "b");
	parse("\xa0IAMAT a +1+1 1", &r);
	assert_int_equal(r.kind, PROTO_INVALID);
	assert_span(r.line, "\xa0IAMAT a +1+1 1");
	parse("IAMAT a +1+1 1\xa0", &r);
	assert_int_equal(r.kind, PROTO_INVALID);
	/* Nor are other control bytes. */
	parse("IAMAT a\x1c" "b +1+1 1", &r);
	assert_int_equal(r.kind, PROTO_IAMAT);
	assert_span(r.client, "a\x1c" "b");
	parse("IAMAT\x1f" "a +1+1 1", &r);
	assert_int_equal(r.kind, PROTO_INVALID);

	assert_true(proto_is_space(' '));
	assert_true(proto_is_space('\t'));
	assert_true(proto_is_space('\r'));
	assert_true(proto_is_space('\n'));
	assert_true(proto_is_space('\f'));
	assert_true(proto_is_space('\v'));
	assert_false(proto_is_space('\0'));
	assert_false(proto_is_space(0xa0));
	assert_false(proto_is_space(0x85));
	assert_false(proto_is_space(0x1c));
	assert_false(proto_is_space(0x7f));
	assert_false(proto_is_space('a'));
}

static void
test_request_utf8_client(void **state)
{
	struct proto_request r;

	(void)state;
	parse("IAMAT \xf0\x9f\x90\xa2\xe6\x97\xa5\xe6\x9c\xac"
	    " +34.068930-118.445127 1621464827.959498503", &r);
	assert_int_equal(r.kind, PROTO_IAMAT);
	assert_span(r.client, "\xf0\x9f\x90\xa2\xe6\x97\xa5\xe6\x9c\xac");
	parse("WHATSAT \xf0\x9f\x90\xa2 10 5", &r);
	assert_int_equal(r.kind, PROTO_WHATSAT);
	assert_span(r.client, "\xf0\x9f\x90\xa2");
	/* Invalid UTF-8 is still just bytes. */
	parse("IAMAT \xff\xfe\x80 +1+1 1", &r);
	assert_int_equal(r.kind, PROTO_IAMAT);
	assert_span(r.client, "\xff\xfe\x80");
	/* A client id that looks like a command or number. */
	parse("IAMAT IAMAT +1+1 1", &r);
	assert_int_equal(r.kind, PROTO_IAMAT);
	assert_span(r.client, "IAMAT");
	parse("WHATSAT +1+1 1 1", &r);
	assert_int_equal(r.kind, PROTO_WHATSAT);
	assert_span(r.client, "+1+1");
}

static void
test_trim_split(void **state)
{
	struct proto_span f[4], s;
	const char *p = "  a bb\t\tccc  dddd ";

	(void)state;
	s = proto_trim(p, strlen(p));
	assert_span(s, "a bb\t\tccc  dddd");
	s = proto_trim("   ", 3);
	assert_int_equal(s.len, 0);
	s = proto_trim("", 0);
	assert_int_equal(s.len, 0);
	assert_int_equal(proto_split(p, strlen(p), f, 3), 4);
	assert_int_equal(proto_split(p, strlen(p), f, 4), 4);
	assert_span(f[3], "dddd");
	assert_int_equal(proto_split(p, strlen(p), f, 0), 1);
	assert_int_equal(proto_split("a bb ccc", 8, f, 3), 3);
	assert_span(f[0], "a");
	assert_span(f[1], "bb");
	assert_span(f[2], "ccc");
	assert_int_equal(proto_split("   ", 3, f, 3), 0);
	assert_int_equal(proto_split("", 0, f, 3), 0);
}

/* ---- the AT line ---- */

static void
test_format_at(void **state)
{
	static const char want[] = "AT Hill +0.263873386 kiwi.cs.ucla.edu "
	    "+34.068930-118.445127 1621464827.959498503";
	struct proto_request r;
	char buf[256];
	size_t n;

	(void)state;
	parse("  IAMAT\tkiwi.cs.ucla.edu   +34.068930-118.445127\v"
	    "1621464827.959498503\r\n", &r);
	assert_int_equal(r.kind, PROTO_IAMAT);
	memset(buf, 'X', sizeof(buf));
	n = proto_format_at(buf, sizeof(buf), "Hill", 4, "+0.263873386", 12,
	    &r);
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want));	/* with the NUL */

	/* Lengths bound the server and diff, not their NULs. */
	n = proto_format_at(buf, sizeof(buf), "HillXYZ", 4,
	    "+0.263873386junk", 12, &r);
	assert_int_equal(n, sizeof(want) - 1);
	assert_string_equal(buf, want);

	/* Too small: the needed length, a truncated NUL-terminated copy. */
	memset(buf, 'X', sizeof(buf));
	n = proto_format_at(buf, 10, "Hill", 4, "+0.263873386", 12, &r);
	assert_int_equal(n, sizeof(want) - 1);
	assert_string_equal(buf, "AT Hill +");
	assert_int_equal(buf[10], 'X');

	/* A NUL byte in a client id is copied like any other byte. */
	{
		static const char line[] = "IAMAT ab\0cd +1+2 3";
		static const char at[] = "AT S +0.1 ab\0cd +1+2 3";
		struct proto_at pa;

		proto_parse_request(line, sizeof(line) - 1, &r);
		assert_int_equal(r.kind, PROTO_IAMAT);
		assert_int_equal(r.client.len, 5);
		n = proto_format_at(buf, sizeof(buf), "S", 1, "+0.1", 4, &r);
		assert_int_equal(n, sizeof(at) - 1);
		assert_memory_equal(buf, at, sizeof(at));
		assert_int_equal(proto_parse_at(buf, n, &pa), 0);
		assert_int_equal(pa.client.len, 5);
		assert_memory_equal(pa.client.p, "ab\0cd", 5);
	}

	/* Client, location and time are byte-for-byte copies. */
	parse("IAMAT \xf0\x9f\x90\xa2 +00090.000-000.5 000123.100", &r);
	assert_int_equal(r.kind, PROTO_IAMAT);
	n = proto_format_at(buf, sizeof(buf), "S", 1, "-0.000120000", 12, &r);
	assert_string_equal(buf, "AT S -0.000120000 \xf0\x9f\x90\xa2 "
	    "+00090.000-000.5 000123.100");
	assert_int_equal(n, strlen(buf));
}

static void
test_parse_at(void **state)
{
	struct proto_at at;
	const char *s;

	(void)state;
	s = "AT Hill +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 "
	    "1621464827.959498503";
	memset(&at, 0, sizeof(at));
	assert_int_equal(proto_parse_at(s, strlen(s), &at), 0);
	assert_span(at.server, "Hill");
	assert_span(at.time_diff, "+0.263873386");
	assert_span(at.client, "kiwi.cs.ucla.edu");
	assert_span(at.location, "+34.068930-118.445127");
	assert_span(at.time_sent, "1621464827.959498503");
	assert_int_equal(at.sent.sec, 1621464827);
	assert_int_equal(at.sent.nsec, 959498503);

	s = "\tAT  S -1621464827.000000001 \xf0\x9f\x90\xa2 -90+180 0 \r\n";
	assert_int_equal(proto_parse_at(s, strlen(s), &at), 0);
	assert_span(at.server, "S");
	assert_span(at.time_diff, "-1621464827.000000001");
	assert_span(at.client, "\xf0\x9f\x90\xa2");
	assert_int_equal(at.sent.sec, 0);

	/* What proto_format_at produces, proto_parse_at accepts. */
	{
		struct proto_request r;
		char buf[256];

		parse("IAMAT c +1-2 3.25", &r);
		proto_format_at(buf, sizeof(buf), "Smith", 5, "+0.500000000",
		    12, &r);
		assert_int_equal(proto_parse_at(buf, strlen(buf), &at), 0);
		assert_span(at.server, "Smith");
		assert_int_equal(at.sent.sec, 3);
		assert_int_equal(at.sent.nsec, 250000000);
	}
}

static void
test_parse_at_invalid(void **state)
{
	static const char *bad[] = {
		"",
		"AT",
		/* 5 and 7 fields */
		"AT Hill +0.1 c +1+1",
		"AT Hill +0.1 c +1+1 1 extra",
		"AT Hill c +1+1 1",
		/* not AT */
		"at Hill +0.1 c +1+1 1",
		"IAMAT Hill +0.1 c +1+1 1",
		"ATX Hill +0.1 c +1+1 1",
		/* bad time_diff */
		"AT Hill 0.1 c +1+1 1",
		"AT Hill +1 c +1+1 1",
		"AT Hill +0. c +1+1 1",
		"AT Hill +.5 c +1+1 1",
		"AT Hill + c +1+1 1",
		"AT Hill +-0.1 c +1+1 1",
		"AT Hill +1e3 c +1+1 1",
		"AT Hill +0.1x c +1+1 1",
		"AT Hill x c +1+1 1",
		/* bad location */
		"AT Hill +0.1 c 1+1 1",
		"AT Hill +0.1 c +91+1 1",
		"AT Hill +0.1 c +1+181 1",
		"AT Hill +0.1 c +1 1",
		/* bad time */
		"AT Hill +0.1 c +1+1 -1",
		"AT Hill +0.1 c +1+1 1.1234567890",
		"AT Hill +0.1 c +1+1 x",
		"AT Hill +0.1 c +1+1 1e9",
	};
	struct proto_at at;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (proto_parse_at(bad[i], strlen(bad[i]), &at) != -1)
			fail_msg("accepted '%s'", bad[i]);
}

/* ---- the peer handshake ---- */

#define NONCE	"0123456789abcdef0123456789abcdef"
#define PROOF	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
test_hello(void **state)
{
	struct proto_hello h;
	const char *s;

	(void)state;
	s = "HELLO herd/1 Hill Smith " NONCE;
	assert_int_equal(proto_parse_hello(s, strlen(s), &h), 0);
	assert_span(h.from, "Hill");
	assert_span(h.to, "Smith");
	assert_span(h.nonce, NONCE);
	s = " HELLO\therd/1  Jaquez Singleton " NONCE "\r\n";
	assert_int_equal(proto_parse_hello(s, strlen(s), &h), 0);
	assert_span(h.from, "Jaquez");
	assert_span(h.to, "Singleton");

	assert_int_equal(h.version, 1);
	s = "HELLO herd/2 Hill Smith " NONCE;
	assert_int_equal(proto_parse_hello(s, strlen(s), &h), 0);
	assert_int_equal(h.version, 2);
	s = "HELLO herd/3 Hill Smith " NONCE;
	assert_int_equal(proto_parse_hello(s, strlen(s), &h), -1);
	s = "HELLO herd/22 Hill Smith " NONCE;
	assert_int_equal(proto_parse_hello(s, strlen(s), &h), -1);
	s = "HELLO herd/1 Hill Smith";
	assert_int_equal(proto_parse_hello(s, strlen(s), &h), -1);
	s = "HELLO herd/1 Hill Smith " NONCE " x";
	assert_int_equal(proto_parse_hello(s, strlen(s), &h), -1);
	s = "HELLO herd/1 Hill Smith 0123456789abcdef0123456789abcdeF";
	assert_int_equal(proto_parse_hello(s, strlen(s), &h), -1);
	s = "HELLO herd/1 Hill Smith 0123456789abcdef0123456789abcde";
	assert_int_equal(proto_parse_hello(s, strlen(s), &h), -1);
	s = "hello herd/1 Hill Smith " NONCE;
	assert_int_equal(proto_parse_hello(s, strlen(s), &h), -1);
	s = "WELCOME herd/1 Hill Smith " NONCE;
	assert_int_equal(proto_parse_hello(s, strlen(s), &h), -1);
	assert_int_equal(proto_parse_hello("", 0, &h), -1);
}

static void
test_welcome(void **state)
{
	struct proto_welcome w;
	struct proto_span proof;
	const char *s;

	(void)state;
	s = "WELCOME herd/1 Smith " NONCE " " PROOF;
	assert_int_equal(proto_parse_welcome(s, strlen(s), &w), 0);
	assert_span(w.from, "Smith");
	assert_span(w.nonce, NONCE);
	assert_span(w.proof, PROOF);
	assert_int_equal(w.version, 1);
	s = "WELCOME herd/2 Smith " NONCE " " PROOF;
	assert_int_equal(proto_parse_welcome(s, strlen(s), &w), 0);
	assert_int_equal(w.version, 2);
	s = "\vWELCOME \f herd/1 Campbell " NONCE " -\n";
	assert_int_equal(proto_parse_welcome(s, strlen(s), &w), 0);
	assert_span(w.from, "Campbell");
	assert_span(w.proof, "-");

	s = "WELCOME herd/1 Smith " NONCE;
	assert_int_equal(proto_parse_welcome(s, strlen(s), &w), -1);
	s = "WELCOME herd/1 Smith " NONCE " x";
	assert_int_equal(proto_parse_welcome(s, strlen(s), &w), -1);
	s = "WELCOME herd/0 Smith " NONCE " -";
	assert_int_equal(proto_parse_welcome(s, strlen(s), &w), -1);
	s = "HELLO herd/1 Smith " NONCE " -";
	assert_int_equal(proto_parse_welcome(s, strlen(s), &w), -1);
	assert_int_equal(proto_parse_welcome("", 0, &w), -1);

	s = "AUTH " PROOF;
	assert_int_equal(proto_parse_auth(s, strlen(s), &proof), 0);
	assert_span(proof, PROOF);
	s = " AUTH - ";
	assert_int_equal(proto_parse_auth(s, strlen(s), &proof), 0);
	assert_span(proof, "-");
	s = "AUTH";
	assert_int_equal(proto_parse_auth(s, strlen(s), &proof), -1);
	s = "AUTH - -";
	assert_int_equal(proto_parse_auth(s, strlen(s), &proof), -1);
	s = "AUTH 0123";
	assert_int_equal(proto_parse_auth(s, strlen(s), &proof), -1);
}

static void
test_sync_messages(void **state)
{
	unsigned long n;
	uint64_t d;
	const char *s;

	(void)state;
	s = "SYNCED 100000";
	assert_int_equal(proto_parse_synced(s, strlen(s), &n), 0);
	assert_int_equal(n, 100000);
	assert_int_equal(proto_parse_synced("SYNCED", 6, &n), -1);
	assert_int_equal(proto_parse_synced("SYNCED -1", 9, &n), -1);
	assert_int_equal(proto_parse_synced("SYNCED 1234567890123", 20, &n),
	    -1);
	s = "DIGEST 7 00000000deadbeef";
	assert_int_equal(proto_parse_digest(s, strlen(s), &n, &d), 0);
	assert_int_equal(n, 7);
	assert_true(d == 0xdeadbeefULL);
	s = "DIGEST 7 00000000DEADBEEF";
	assert_int_equal(proto_parse_digest(s, strlen(s), &n, &d), -1);
	s = "DIGEST 7 deadbeef";
	assert_int_equal(proto_parse_digest(s, strlen(s), &n, &d), -1);
	s = "DIGEST x 00000000deadbeef";
	assert_int_equal(proto_parse_digest(s, strlen(s), &n, &d), -1);
}

static void
test_is_hello(void **state)
{
	(void)state;
	assert_true(proto_is_hello("HELLO", 5));
	assert_true(proto_is_hello("HELLO herd/1 A B", 16));
	assert_true(proto_is_hello("  HELLO x", 9));
	assert_true(proto_is_hello("HELLO garbage garbage garbage", 29));
	assert_false(proto_is_hello("HELLOX a", 8));
	assert_false(proto_is_hello("hello", 5));
	assert_false(proto_is_hello("HELL", 4));
	assert_false(proto_is_hello("HELLO", 4));
	assert_false(proto_is_hello("IAMAT HELLO +1+1 1", 18));
	assert_false(proto_is_hello("", 0));
	assert_false(proto_is_hello("   ", 3));
}

#define H16 " 0123456789abcdef"
#define H16x4 H16 H16 H16 H16

/* SUMS: formatted lines parse back; every field is checked exactly. */
static void
test_sums(void **state)
{
	struct proto_sums a, b;
	char buf[PROTO_SYNC_LINE_MAX];
	size_t n, i;
	const char *s;

	(void)state;
	a.level = 2;
	a.index = 255;
	for (i = 0; i < PROTO_FANOUT; i++)
		a.sum[i] = i * 0x1111111111111111ull ^ (i << 60);
	n = proto_format_sums(buf, sizeof(buf), &a);
	assert_true(n < sizeof(buf));
	assert_int_equal(buf[n - 1], '\n');
	assert_int_equal(proto_parse_sums(buf, n, &b), 0);
	assert_int_equal(b.level, 2);
	assert_int_equal(b.index, 255);
	assert_memory_equal(a.sum, b.sum, sizeof(a.sum));
	/* Too small a buffer: the length it needs, like snprintf. */
	assert_int_equal(proto_format_sums(buf, 10, &a), n);

	s = "SUMS 0 0" H16x4 H16x4 H16x4 H16x4;
	assert_int_equal(proto_parse_sums(s, strlen(s), &b), 0);
	assert_int_equal(b.sum[15], 0x0123456789abcdefull);
	s = "SUMS 1 15" H16x4 H16x4 H16x4 H16x4;
	assert_int_equal(proto_parse_sums(s, strlen(s), &b), 0);
	s = "SUMS 1 16" H16x4 H16x4 H16x4 H16x4;	/* index too big */
	assert_int_equal(proto_parse_sums(s, strlen(s), &b), -1);
	s = "SUMS 0 1" H16x4 H16x4 H16x4 H16x4;
	assert_int_equal(proto_parse_sums(s, strlen(s), &b), -1);
	s = "SUMS 3 0" H16x4 H16x4 H16x4 H16x4;	/* no level 3 */
	assert_int_equal(proto_parse_sums(s, strlen(s), &b), -1);
	s = "SUMS 1 01" H16x4 H16x4 H16x4 H16x4;	/* leading zero */
	assert_int_equal(proto_parse_sums(s, strlen(s), &b), -1);
	s = "SUMS 0 0" H16x4 H16x4 H16x4 H16 H16 H16;	/* 15 sums */
	assert_int_equal(proto_parse_sums(s, strlen(s), &b), -1);
	s = "SUMS 0 0" H16x4 H16x4 H16x4 H16x4 H16;	/* 17 */
	assert_int_equal(proto_parse_sums(s, strlen(s), &b), -1);
	s = "SUMS 0 0" H16x4 H16x4 H16x4 H16 H16 H16 " 0123456789ABCDEF";
	assert_int_equal(proto_parse_sums(s, strlen(s), &b), -1);
	s = "SUMS 0 0" H16x4 H16x4 H16x4 H16 H16 H16 " 0123456789abcde";
	assert_int_equal(proto_parse_sums(s, strlen(s), &b), -1);
	s = "sums 0 0" H16x4 H16x4 H16x4 H16x4;
	assert_int_equal(proto_parse_sums(s, strlen(s), &b), -1);
	assert_int_equal(proto_parse_sums("", 0, &b), -1);
}

/* PRINTS: round trips, bounds, exact fields. */
static void
test_prints(void **state)
{
	struct proto_prints a, b;
	char buf[PROTO_SYNC_LINE_MAX];
	size_t n, i;
	const char *s;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.bucket = 4095;
	a.total = 40;
	a.n = PROTO_FANOUT;
	for (i = 0; i < a.n; i++)
		a.fp[i] = ~(uint64_t)i;
	n = proto_format_prints(buf, sizeof(buf), &a);
	assert_true(n < sizeof(buf));
	assert_int_equal(proto_parse_prints(buf, n, &b), 0);
	assert_int_equal(b.bucket, 4095);
	assert_int_equal(b.total, 40);
	assert_int_equal(b.n, PROTO_FANOUT);
	assert_memory_equal(a.fp, b.fp, sizeof(a.fp));
	a.n = 1;
	n = proto_format_prints(buf, sizeof(buf), &a);
	assert_int_equal(proto_parse_prints(buf, n, &b), 0);
	assert_int_equal(b.n, 1);
	assert_int_equal(b.fp[0], ~(uint64_t)0);

	s = "PRINTS 7 0";				/* an empty bucket */
	assert_int_equal(proto_parse_prints(s, strlen(s), &b), 0);
	assert_int_equal(b.n, 0);
	s = "PRINTS 4096 1" H16;			/* no such bucket */
	assert_int_equal(proto_parse_prints(s, strlen(s), &b), -1);
	s = "PRINTS 7";
	assert_int_equal(proto_parse_prints(s, strlen(s), &b), -1);
	s = "PRINTS 7 01" H16;
	assert_int_equal(proto_parse_prints(s, strlen(s), &b), -1);
	s = "PRINTS 7 17" H16x4 H16x4 H16x4 H16x4 H16;	/* 17 on a line */
	assert_int_equal(proto_parse_prints(s, strlen(s), &b), -1);
	s = "PRINTS 7 16" H16x4 H16x4 H16x4 H16x4;
	assert_int_equal(proto_parse_prints(s, strlen(s), &b), 0);
	s = "PRINTS 7 1 0123456789abcdeg";
	assert_int_equal(proto_parse_prints(s, strlen(s), &b), -1);
	s = "PRINT 7 1" H16;
	assert_int_equal(proto_parse_prints(s, strlen(s), &b), -1);
	assert_int_equal(proto_parse_prints("", 0, &b), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_location_valid),
		cmocka_unit_test(test_location_bounds),
		cmocka_unit_test(test_location_digits),
		cmocka_unit_test(test_location_invalid),
		cmocka_unit_test(test_time_valid),
		cmocka_unit_test(test_time_fraction_digits),
		cmocka_unit_test(test_time_invalid),
		cmocka_unit_test(test_time_cmp),
		cmocka_unit_test(test_radius),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_format_diff),
		cmocka_unit_test(test_format_diff_truncates),
		cmocka_unit_test(test_request_iamat),
		cmocka_unit_test(test_request_whatsat),
		cmocka_unit_test(test_request_invalid),
		cmocka_unit_test(test_request_empty),
		cmocka_unit_test(test_request_whitespace),
		cmocka_unit_test(test_request_not_whitespace),
		cmocka_unit_test(test_request_utf8_client),
		cmocka_unit_test(test_trim_split),
		cmocka_unit_test(test_format_at),
		cmocka_unit_test(test_sync_messages),
		cmocka_unit_test(test_parse_at),
		cmocka_unit_test(test_parse_at_invalid),
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_welcome),
		cmocka_unit_test(test_sums),
		cmocka_unit_test(test_prints),
		cmocka_unit_test(test_is_hello),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
