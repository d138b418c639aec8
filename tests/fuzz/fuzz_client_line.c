/*
 * fuzz_client_line.c -- libFuzzer harness for the client line parser.
 *
 * The input is one client line.  Whatever proto_parse_request() makes of
 * it must stay inside the line and within the protocol's bounds; an
 * IAMAT is formatted into the AT line a node answers and floods, which
 * must parse back as an AT line carrying the very same client, location
 * and time bytes.  proto_trim(), proto_split() and the field parsers run
 * on the same bytes.  Any broken promise is an abort().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd/proto.h"

#define SERVER		"Hill"
#define SMALL_BUF	64	/* a buffer too short for most AT lines */

#define check(e)	((e) ? (void)0 : failed(#e, __LINE__))

int		LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	failed(const char *, int) __attribute__((noreturn));
static void	check_inside(struct proto_span, const char *, size_t);
static int	span_is(struct proto_span, const char *, size_t);
static void	check_trim(const char *, size_t);
static void	check_split(const char *, size_t, size_t);
static void	check_fields(const char *, size_t);
static void	check_time(const struct herd_time *);
static void	check_location(const struct herd_location *);
static void	check_at(const struct proto_request *,
		    const struct herd_time *);
static void	check_request(const char *, size_t);

/* Report a broken promise and abort: a crash for libFuzzer. */
static void
failed(const char *what, int line)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
	abort();
}

/* The span s must lie inside [p, p+len). */
static void
check_inside(struct proto_span s, const char *p, size_t len)
{
	check(s.p >= p && s.len <= len && (size_t)(s.p - p) <= len - s.len);
}

/* True when span s holds exactly the len bytes of b. */
static int
span_is(struct proto_span s, const char *b, size_t len)
{
	return s.len == len && (len == 0 || memcmp(s.p, b, len) == 0);
}

/* proto_trim() returns a sub-span with no whitespace at either end. */
static void
check_trim(const char *p, size_t len)
{
	struct proto_span t, u;
	size_t i;

	t = proto_trim(p, len);
	check_inside(t, p, len);
	if (t.len > 0) {
		check(!proto_is_space((unsigned char)t.p[0]));
		check(!proto_is_space((unsigned char)t.p[t.len - 1]));
	}
	/* Only whitespace was cut. */
	for (i = 0; i < (size_t)(t.p - p); i++)
		check(proto_is_space((unsigned char)p[i]));
	for (i = (size_t)(t.p - p) + t.len; i < len; i++)
		check(proto_is_space((unsigned char)p[i]));
	/* Trimming is idempotent. */
	u = proto_trim(t.p, t.len);
	check(u.p == t.p && u.len == t.len);
}

/* proto_split() yields ordered, non-empty, whitespace-free fields. */
static void
check_split(const char *p, size_t len, size_t max)
{
	struct proto_span f[PROTO_MAX_FIELDS + 1];
	const char *prev = p;
	size_t n, i, j;

	n = proto_split(p, len, f, max);
	check(n <= max + 1);
	for (i = 0; i < n && i < max; i++) {
		check_inside(f[i], p, len);
		check(f[i].len > 0 && f[i].p >= prev);
		for (j = 0; j < f[i].len; j++)
			check(!proto_is_space((unsigned char)f[i].p[j]));
		/* Fields are maximal runs: whitespace or the end around. */
		check(f[i].p == p || proto_is_space((unsigned char)f[i].p[-1]));
		check(f[i].p + f[i].len == p + len ||
		    proto_is_space((unsigned char)f[i].p[f[i].len]));
		prev = f[i].p + f[i].len;
	}
}

/* Run every field parser on every field, checking what they accept. */
static void
check_fields(const char *p, size_t len)
{
	struct proto_span f[PROTO_MAX_FIELDS];
	struct herd_location loc;
	struct herd_time t;
	double km;
	size_t n, i;
	int bound;

	n = proto_split(p, len, f, PROTO_MAX_FIELDS);
	if (n > PROTO_MAX_FIELDS)
		n = PROTO_MAX_FIELDS;
	for (i = 0; i < n; i++) {
		if (proto_parse_location(f[i].p, f[i].len, &loc) == 0)
			check_location(&loc);
		if (proto_parse_time(f[i].p, f[i].len, &t) == 0)
			check_time(&t);
		if (proto_parse_radius(f[i].p, f[i].len, &km) == 0)
			check(km > 0.0 && km <= 50.0);
		if (proto_parse_bound(f[i].p, f[i].len, &bound) == 0)
			check(bound >= 1 && bound <= 20);
	}
}

/* A parsed time_sent is non-negative with nanoseconds in range. */
static void
check_time(const struct herd_time *t)
{
	check(t->sec >= 0 && t->nsec >= 0 && t->nsec <= 999999999);
}

/* A parsed location is within [-90, 90] x [-180, 180]. */
static void
check_location(const struct herd_location *l)
{
	check(l->lat >= -90.0 && l->lat <= 90.0);
	check(l->lon >= -180.0 && l->lon <= 180.0);
}

/* Format the AT reply to IAMAT req at now and parse it back. */
static void
check_at(const struct proto_request *req, const struct herd_time *now)
{
	struct proto_at at;
	char diff[PROTO_TIME_DIFF_MAX], small[SMALL_BUF], *buf;
	size_t dlen, need, n, cut;

	dlen = proto_format_diff(now, &req->sent, diff, sizeof(diff));
	check(dlen > 2 && dlen < sizeof(diff) && strlen(diff) == dlen);
	check(diff[0] == (time_cmp(now, &req->sent) < 0 ? '-' : '+'));

	/* Like snprintf: the length it needs, whatever the size. */
	need = proto_format_at(NULL, 0, SERVER, strlen(SERVER), diff, dlen,
	    req);
	n = proto_format_at(small, sizeof(small), SERVER, strlen(SERVER),
	    diff, dlen, req);
	cut = need < sizeof(small) ? need : sizeof(small) - 1;
	check(n == need && small[cut] == '\0');

	/* An exact-size heap buffer, so ASan sees any overrun. */
	if ((buf = malloc(need + 1)) == NULL)
		return;
	n = proto_format_at(buf, need + 1, SERVER, strlen(SERVER), diff,
	    dlen, req);
	check(n == need && buf[need] == '\0');
	check(memcmp(buf, small, cut) == 0);

	/* The line floods to peers: it must parse, byte for byte. */
	check(proto_parse_at(buf, need, &at) == 0);
	check(span_is(at.server, SERVER, strlen(SERVER)));
	check(span_is(at.time_diff, diff, dlen));
	check(span_is(at.client, req->client.p, req->client.len));
	check(span_is(at.location, req->location.p, req->location.len));
	check(span_is(at.time_sent, req->time_sent.p, req->time_sent.len));
	check(time_cmp(&at.sent, &req->sent) == 0);
	check(need == strlen("AT ") + strlen(SERVER) + 1 + dlen + 1 +
	    req->client.len + 1 + req->location.len + 1 + req->time_sent.len);
	free(buf);
}

/* Parse p as a client line and check the result. */
static void
check_request(const char *p, size_t len)
{
	struct proto_request req;
	struct proto_span t;
	struct herd_time now;

	proto_parse_request(p, len, &req);
	t = proto_trim(p, len);
	check(req.line.p == t.p && req.line.len == t.len);
	check((req.kind == PROTO_EMPTY) == (t.len == 0));
	switch (req.kind) {
	case PROTO_INVALID:
	case PROTO_EMPTY:
		break;
	case PROTO_IAMAT:
		check_inside(req.client, req.line.p, req.line.len);
		check_inside(req.location, req.line.p, req.line.len);
		check_inside(req.time_sent, req.line.p, req.line.len);
		check(req.client.len > 0 && req.location.len > 0 &&
		    req.time_sent.len > 0);
		check(req.line.len > 5 && memcmp(req.line.p, "IAMAT", 5) == 0);
		{
			struct herd_location where;

			check(proto_parse_location(req.location.p,
			    req.location.len, &where) == 0);
			check_location(&where);
		}
		check_time(&req.sent);

		/* A fixed now, then now around the sent time itself. */
		now.sec = 1621464828;
		now.nsec = 223372036;
		check_at(&req, &now);
		now = req.sent;
		now.sec += (int64_t)(len % 3) - 1;
		check_at(&req, &now);
		break;
	case PROTO_WHATSAT:
		check_inside(req.client, req.line.p, req.line.len);
		check(req.client.len > 0);
		check(req.line.len > 7 &&
		    memcmp(req.line.p, "WHATSAT", 7) == 0);
		check(req.radius_km > 0.0 && req.radius_km <= 50.0);
		check(req.max_results >= 1 && req.max_results <= 20);
		break;
	default:
		failed("unknown request kind", __LINE__);
	}
}

/* libFuzzer entry point: the input is one client line. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libFuzzer hands us an exact-size heap copy: ASan sees over-reads. */
	const char *p = (const char *)data;

	check_trim(p, size);
	check_split(p, size, 0);
	check_split(p, size, 1);
	check_split(p, size, 4);
	check_split(p, size, PROTO_MAX_FIELDS);
	check_fields(p, size);
	check_request(p, size);
	return 0;
}
