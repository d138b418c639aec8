/*
 * req.c -- the requests herd-bench builds and how it checks the replies:
 * AT lines through libherd's proto_parse_at, byte for byte against the
 * request, and the legacy-shaped WHATSAT JSON.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "herd/proto.h"

#include "bench.h"

/* A random valid ISO 6709 location, six fraction digits. */
static int
req_loc(char *buf, size_t size, uint64_t *rng)
{
	long lat = (long)(rng_next(rng) % 180000001ULL) - 90000000L;
	long lng = (long)(rng_next(rng) % 360000001ULL) - 180000000L;

	return snprintf(buf, size, "%c%ld.%06ld%c%ld.%06ld",
	    lat < 0 ? '-' : '+', labs(lat) / 1000000, labs(lat) % 1000000,
	    lng < 0 ? '-' : '+', labs(lng) / 1000000, labs(lng) % 1000000);
}

/* The wall clock in ns, strictly after *last (so that, per connection,
 * every IAMAT of a client id is newer than the one before). */
static uint64_t
req_time(uint64_t *last)
{
	struct timespec ts;
	uint64_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
	if (t <= *last)
		t = *last + 1;
	*last = t;
	return t;
}

/*
 * Build "IAMAT <prefix><key><tag> <loc> <time>\n" into buf; *exp gets
 * the offset of "<id> <loc> <time>", the part the AT reply must copy.
 * Returns the length.
 */
size_t
req_iamat(char *buf, size_t size, const char *prefix, const char *tag,
    uint64_t key, int fixed, uint64_t *rng, uint64_t *last, size_t *exp)
{
	char loc[48];
	uint64_t t = req_time(last);
	int n;

	if (fixed)
		snprintf(loc, sizeof(loc), "%s", FIXED_LOC);
	else
		req_loc(loc, sizeof(loc), rng);
	n = snprintf(buf, size, "IAMAT %s%" PRIu64 "%s %s %" PRIu64
	    ".%09" PRIu64 "\n", prefix, key, tag, loc, t / NS, t % NS);
	if (n < 0 || (size_t)n >= size)
		bench_fatal("request line too long");
	*exp = 6;
	return (size_t)n;
}

/*
 * Is l[0..len) the AT line a node writes for exp ("<id> <loc> <time>")?
 * proto_parse_at validates the fields; a node also writes them one space
 * apart, with a time_diff of exactly nine fraction digits, and copies
 * the last three byte for byte.  The first server name seen is kept.
 */
int
req_check_at(const char *l, size_t len, const char *exp, size_t explen)
{
	struct proto_at at;
	const struct proto_span *d = &at.time_diff;

	if (proto_parse_at(l, len, &at) == -1 || at.server.p != l + 3 ||
	    d->p != at.server.p + at.server.len + 1 ||
	    at.client.p != d->p + d->len + 1)
		return 0;
	if (bench.server[0] == '\0' && at.server.len < sizeof(bench.server)) {
		memcpy(bench.server, at.server.p, at.server.len);
		bench.server[at.server.len] = '\0';
	}
	if (d->len < 12 || d->p[d->len - 10] != '.')
		return 0;
	return (size_t)(l + len - at.client.p) == explen &&
	    memcmp(at.client.p, exp, explen) == 0;
}

/* Is j[0..len) one line of legacy-shaped JSON (with the wanted status
 * when status is set)? */
int
req_check_json(const char *j, size_t len, int status)
{
	char want[64];

	if (len < 2 || j[0] != '{' || j[len - 1] != '}' ||
	    memchr(j, '\n', len) != NULL)
		return 0;
	if (memmem(j, len, "\"results\":", 10) == NULL)
		return 0;
	if (!status || strcmp(opt.expect_status, "any") == 0)
		return 1;
	snprintf(want, sizeof(want), "\"status\":\"%s\"", opt.expect_status);
	return memmem(j, len, want, strlen(want)) != NULL;
}

/* Bytes of the complete reply at p for a request of kind, or 0. */
size_t
req_reply_len(int kind, const char *p, size_t len)
{
	const char *q;

	if (len == 0)
		return 0;
	if (kind == K_IAMAT || p[0] != 'A') {
		q = memchr(p, '\n', len);
		return q == NULL ? 0 : (size_t)(q - p) + 1;
	}
	q = memmem(p, len, "\n\n", 2);
	return q == NULL ? 0 : (size_t)(q - p) + 2;
}
