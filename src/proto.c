/*
 * proto.c -- parse and format the client protocol and the AT line.
 *
 * Everything here is exact: numbers are checked digit by digit against
 * their bounds (so "90.0000000000000001" is out of range even though it
 * rounds to 90.0 as a double) and times stay integers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd/proto.h"

#define NSEC_PER_SEC	1000000000L
#define MAX_SEC_DIGITS	18	/* keeps seconds well inside int64_t */

/* A validated unsigned decimal "[0-9]+(\.[0-9]+)?" split into parts. */
struct decimal {
	const char	*ip;	/* integer digits */
	size_t		 ilen;
	const char	*fp;	/* fraction digits (may be empty) */
	size_t		 flen;
};

static int	scan_decimal(const char *, size_t, struct decimal *);
static int	decimal_int_cmp(const struct decimal *, unsigned long);
static int	decimal_frac_zero(const struct decimal *);
static double	decimal_value(const struct decimal *, int);
static int	within(const struct decimal *, unsigned long);
static int	span_eq(struct proto_span, const char *);
static int	peer_version(struct proto_span);
static int	parse_hex64(struct proto_span, uint64_t *);
static int	parse_below(struct proto_span, unsigned long,
		    unsigned long *);
static int	parse_diff(const char *, size_t);
static int	is_hex(struct proto_span, size_t);
static int	is_proof(struct proto_span);
static size_t	put(char *, size_t, size_t, const char *, size_t);
static int	proto_parse_synced_count(struct proto_span, unsigned long *);

/* True for the six protocol whitespace bytes: space \t \r \n \f \v. */
int
proto_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
	    c == '\f' || c == '\v';
}

/* Return the span of [p, p+len) without leading and trailing whitespace. */
struct proto_span
proto_trim(const char *p, size_t len)
{
	struct proto_span s;

	while (len > 0 && proto_is_space((unsigned char)*p)) {
		p++;
		len--;
	}
	while (len > 0 && proto_is_space((unsigned char)p[len - 1]))
		len--;
	s.p = p;
	s.len = len;
	return s;
}

/* Split on whitespace into at most max spans in f; returns the field count,
 * or max+1 when there are more. */
size_t
proto_split(const char *p, size_t len, struct proto_span *f, size_t max)
{
	size_t i = 0, n = 0, start;

	for (;;) {
		while (i < len && proto_is_space((unsigned char)p[i]))
			i++;
		if (i == len)
			return n;
		if (n == max)
			return max + 1;
		start = i;
		while (i < len && !proto_is_space((unsigned char)p[i]))
			i++;
		f[n].p = p + start;
		f[n].len = i - start;
		n++;
	}
}

/* Accept exactly "[0-9]+(\.[0-9]+)?"; fill d; 0 or -1. */
static int
scan_decimal(const char *p, size_t len, struct decimal *d)
{
	size_t i = 0;

	d->ip = p;
	while (i < len && p[i] >= '0' && p[i] <= '9')
		i++;
	d->ilen = i;
	d->fp = p + len;
	d->flen = 0;
	if (d->ilen == 0)
		return -1;
	if (i == len)
		return 0;
	if (p[i] != '.')
		return -1;
	d->fp = p + i + 1;
	for (i++; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return -1;
	d->flen = len - (size_t)(d->fp - p);
	return d->flen > 0 ? 0 : -1;
}

/* Compare the integer part of d with v exactly (leading zeros allowed). */
static int
decimal_int_cmp(const struct decimal *d, unsigned long v)
{
	size_t i = 0;
	unsigned long acc = 0;

	while (i < d->ilen && d->ip[i] == '0')
		i++;
	if (d->ilen - i > 18)
		return 1;
	for (; i < d->ilen; i++)
		acc = acc * 10 + (unsigned long)(d->ip[i] - '0');
	return acc < v ? -1 : acc > v;
}

/* True when every fraction digit of d is 0 (or there are none). */
static int
decimal_frac_zero(const struct decimal *d)
{
	size_t i;

	for (i = 0; i < d->flen; i++)
		if (d->fp[i] != '0')
			return 0;
	return 1;
}

/* True when |d| <= bound, exactly. */
static int
within(const struct decimal *d, unsigned long bound)
{
	int c = decimal_int_cmp(d, bound);

	return c < 0 || (c == 0 && decimal_frac_zero(d));
}

/*
 * The double nearest to the decimal.  Leading zeros are skipped so that
 * the 30 significant fraction digits kept are real ones: 1e-31 written
 * out in full stays 1e-31, not 0.
 */
static double
decimal_value(const struct decimal *d, int negative)
{
	char buf[128];
	const char *ip = d->ip, *fp = d->fp;
	size_t ilen = d->ilen, flen = d->flen, z = 0;

	while (ilen > 1 && *ip == '0') {
		ip++;
		ilen--;
	}
	if (ilen > 40)
		ilen = 40;	/* unreachable within the range checks */
	if (ilen == 1 && *ip == '0')
		while (z < flen && fp[z] == '0')
			z++;
	flen -= z;
	if (flen > 30)
		flen = 30;
	snprintf(buf, sizeof(buf), "%s%.*s.%.*s0e-%zu", negative ? "-" : "",
	    (int)ilen, ip, (int)flen, fp + z, z);
	return strtod(buf, NULL);
}

/* Parse "+lat-lon" (both signs required) with |lat| <= 90 and |lon| <= 180
 * checked exactly; out may be NULL to validate only. */
int
proto_parse_location(const char *p, size_t len, struct herd_location *out)
{
	struct decimal lat, lon;
	size_t i;

	if (len < 4 || (p[0] != '+' && p[0] != '-'))
		return -1;
	/* The longitude starts at the second sign. */
	for (i = 1; i < len; i++)
		if (p[i] == '+' || p[i] == '-')
			break;
	if (i == len)
		return -1;
	if (scan_decimal(p + 1, i - 1, &lat) == -1 ||
	    scan_decimal(p + i + 1, len - i - 1, &lon) == -1)
		return -1;
	if (!within(&lat, 90) || !within(&lon, 180))
		return -1;
	if (out != NULL) {
		out->lat = decimal_value(&lat, p[0] == '-');
		out->lon = decimal_value(&lon, p[i] == '-');
	}
	return 0;
}

/* Parse a non-negative decimal time (at most 18 significant integer digits,
 * 9 fraction digits) into out, exactly. */
int
proto_parse_time(const char *p, size_t len, struct herd_time *out)
{
	struct decimal d;
	size_t i;
	int64_t sec = 0;
	int32_t nsec = 0;

	if (scan_decimal(p, len, &d) == -1 || d.flen > 9)
		return -1;
	for (i = 0; i < d.ilen && d.ip[i] == '0'; i++)
		;
	if (d.ilen - i > MAX_SEC_DIGITS)
		return -1;
	for (; i < d.ilen; i++)
		sec = sec * 10 + (d.ip[i] - '0');
	for (i = 0; i < 9; i++)
		nsec = nsec * 10 + (i < d.flen ? d.fp[i] - '0' : 0);
	out->sec = sec;
	out->nsec = nsec;
	return 0;
}

/* Parse a WHATSAT radius in (0, 50] km into *km; -1 otherwise. */
int
proto_parse_radius(const char *p, size_t len, double *km)
{
	struct decimal d;

	if (scan_decimal(p, len, &d) == -1 || !within(&d, 50))
		return -1;
	if (decimal_int_cmp(&d, 0) == 0 && decimal_frac_zero(&d))
		return -1;	/* zero */
	*km = decimal_value(&d, 0);
	return *km > 0.0 ? 0 : -1;	/* below what a double holds */
}

/* Parse a WHATSAT bound, an integer from 1 to 20, into *n; -1 otherwise. */
int
proto_parse_bound(const char *p, size_t len, int *n)
{
	struct decimal d;

	if (scan_decimal(p, len, &d) == -1 || d.flen != 0)
		return -1;
	if (decimal_int_cmp(&d, 1) < 0 || decimal_int_cmp(&d, 20) > 0)
		return -1;
	*n = (int)decimal_value(&d, 0);
	return 0;
}

/* True when s holds exactly the string lit. */
static int
span_eq(struct proto_span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && memcmp(s.p, lit, n) == 0;
}

/* Parse a client line into req: IAMAT or WHATSAT with every field validated,
 * EMPTY, or else INVALID. */
void
proto_parse_request(const char *p, size_t len, struct proto_request *req)
{
	struct proto_span f[PROTO_MAX_FIELDS];
	size_t n;

	memset(req, 0, sizeof(*req));
	req->line = proto_trim(p, len);
	req->kind = PROTO_INVALID;
	if (req->line.len == 0) {
		req->kind = PROTO_EMPTY;
		return;
	}
	n = proto_split(req->line.p, req->line.len, f, PROTO_MAX_FIELDS);
	if (n != 4)
		return;
	req->client = f[1];
	if (span_eq(f[0], "IAMAT")) {
		if (proto_parse_location(f[2].p, f[2].len, NULL) == -1 ||
		    proto_parse_time(f[3].p, f[3].len, &req->sent) == -1)
			return;
		req->location = f[2];
		req->time_sent = f[3];
		req->kind = PROTO_IAMAT;
	} else if (span_eq(f[0], "WHATSAT")) {
		if (proto_parse_radius(f[2].p, f[2].len, &req->radius_km) == -1 ||
		    proto_parse_bound(f[3].p, f[3].len, &req->max_results) == -1)
			return;
		req->kind = PROTO_WHATSAT;
	}
}

/* Accept a time_diff as we print it: "[+-][0-9]+\.[0-9]+". */
static int
parse_diff(const char *p, size_t len)
{
	struct decimal d;

	if (len < 2 || (p[0] != '+' && p[0] != '-'))
		return -1;
	if (scan_decimal(p + 1, len - 1, &d) == -1 || d.flen == 0)
		return -1;
	return 0;
}

/* Split a peer AT line into its six fields and validate diff, location and
 * time; 0 or -1. */
int
proto_parse_at(const char *p, size_t len, struct proto_at *at)
{
	struct proto_span f[PROTO_MAX_FIELDS];

	if (proto_split(p, len, f, PROTO_MAX_FIELDS) != 6 ||
	    !span_eq(f[0], "AT"))
		return -1;
	at->server = f[1];
	at->time_diff = f[2];
	at->client = f[3];
	at->location = f[4];
	at->time_sent = f[5];
	if (parse_diff(f[2].p, f[2].len) == -1 ||
	    proto_parse_location(f[4].p, f[4].len, NULL) == -1 ||
	    proto_parse_time(f[5].p, f[5].len, &at->sent) == -1)
		return -1;
	return 0;
}

/* True when the line's first field is HELLO. */
int
proto_is_hello(const char *p, size_t len)
{
	struct proto_span f[1];

	return proto_split(p, len, f, 1) >= 1 && span_eq(f[0], "HELLO");
}

/* Exactly n lower-case hex digits? */
static int
is_hex(struct proto_span s, size_t n)
{
	size_t i;

	if (s.len != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s.p[i] >= '0' && s.p[i] <= '9') ||
		    (s.p[i] >= 'a' && s.p[i] <= 'f')))
			return 0;
	return 1;
}

/* A proof: 64 hex digits, or "-" (no secret). */
static int
is_proof(struct proto_span s)
{
	return span_eq(s, "-") || is_hex(s, 64);
}

/* 1 for herd/1, 2 for herd/2, else 0. */
static int
peer_version(struct proto_span s)
{
	if (span_eq(s, PROTO_PEER_VERSION))
		return 1;
	if (span_eq(s, PROTO_PEER_VERSION2))
		return 2;
	return 0;
}

/* Parse "HELLO herd/N FROM TO NONCE" (32 hex digits) into h; 0 or -1. */
int
proto_parse_hello(const char *p, size_t len, struct proto_hello *h)
{
	struct proto_span f[PROTO_MAX_FIELDS];

	if (proto_split(p, len, f, PROTO_MAX_FIELDS) != 5 ||
	    !span_eq(f[0], "HELLO") || (h->version = peer_version(f[1])) == 0 ||
	    !is_hex(f[4], 32))
		return -1;
	h->from = f[2];
	h->to = f[3];
	h->nonce = f[4];
	return 0;
}

/* Parse "WELCOME herd/N FROM NONCE PROOF" into w; 0 or -1. */
int
proto_parse_welcome(const char *p, size_t len, struct proto_welcome *w)
{
	struct proto_span f[PROTO_MAX_FIELDS];

	if (proto_split(p, len, f, PROTO_MAX_FIELDS) != 5 ||
	    !span_eq(f[0], "WELCOME") ||
	    (w->version = peer_version(f[1])) == 0 ||
	    !is_hex(f[3], 32) || !is_proof(f[4]))
		return -1;
	w->from = f[2];
	w->nonce = f[3];
	w->proof = f[4];
	return 0;
}

/* Parse "AUTH PROOF" and point proof at the proof; 0 or -1. */
int
proto_parse_auth(const char *p, size_t len, struct proto_span *proof)
{
	struct proto_span f[PROTO_MAX_FIELDS];

	if (proto_split(p, len, f, PROTO_MAX_FIELDS) != 2 ||
	    !span_eq(f[0], "AUTH") || !is_proof(f[1]))
		return -1;
	*proof = f[1];
	return 0;
}

/* Parse "DIGEST <count> <16 hex digits>" into count and digest; 0 or -1. */
int
proto_parse_digest(const char *p, size_t len, unsigned long *count,
    uint64_t *digest)
{
	struct proto_span f[PROTO_MAX_FIELDS];

	if (proto_split(p, len, f, PROTO_MAX_FIELDS) != 3 ||
	    !span_eq(f[0], "DIGEST") || parse_hex64(f[2], digest) == -1 ||
	    proto_parse_synced_count(f[1], count) == -1)
		return -1;
	return 0;
}

/* Exactly 16 lower-case hex digits into *v; 0 or -1. */
static int
parse_hex64(struct proto_span s, uint64_t *v)
{
	uint64_t d = 0;
	size_t i;

	if (!is_hex(s, 16))
		return -1;
	for (i = 0; i < 16; i++)
		d = d << 4 | (uint64_t)(s.p[i] <= '9' ? s.p[i] - '0' :
		    s.p[i] - 'a' + 10);
	*v = d;
	return 0;
}

/* A decimal below max without leading zeros into *v; 0 or -1. */
static int
parse_below(struct proto_span s, unsigned long max, unsigned long *v)
{
	if (proto_parse_synced_count(s, v) == -1 || *v >= max ||
	    (s.len > 1 && s.p[0] == '0'))
		return -1;
	return 0;
}

/* Parse "SUMS L I S0 .. S15" into out; 0 or -1. */
int
proto_parse_sums(const char *p, size_t len, struct proto_sums *out)
{
	struct proto_span f[3 + PROTO_FANOUT];
	unsigned long level, nodes = 1, i;

	if (proto_split(p, len, f, 3 + PROTO_FANOUT) != 3 + PROTO_FANOUT ||
	    !span_eq(f[0], "SUMS") ||
	    parse_below(f[1], PROTO_SUM_LEVELS, &level) == -1)
		return -1;
	for (i = 0; i < level; i++)
		nodes *= PROTO_FANOUT;
	if (parse_below(f[2], nodes, &out->index) == -1)
		return -1;
	out->level = (unsigned)level;
	for (i = 0; i < PROTO_FANOUT; i++)
		if (parse_hex64(f[3 + i], &out->sum[i]) == -1)
			return -1;
	return 0;
}

/* Parse "PRINTS B N F.." into out; 0 or -1. */
int
proto_parse_prints(const char *p, size_t len, struct proto_prints *out)
{
	struct proto_span f[3 + PROTO_FANOUT];
	size_t n, i;

	n = proto_split(p, len, f, 3 + PROTO_FANOUT);
	if (n < 3 || n > 3 + PROTO_FANOUT || !span_eq(f[0], "PRINTS") ||
	    parse_below(f[1], PROTO_BUCKETS, &out->bucket) == -1 ||
	    proto_parse_synced_count(f[2], &out->total) == -1 ||
	    (f[2].len > 1 && f[2].p[0] == '0'))
		return -1;
	out->n = n - 3;
	for (i = 0; i < out->n; i++)
		if (parse_hex64(f[3 + i], &out->fp[i]) == -1)
			return -1;
	return 0;
}

/* Append " %016llx" for each of n values at buf + len (bounded). */
static size_t
format_hex_list(char *buf, size_t size, size_t len, const uint64_t *v,
    size_t n)
{
	size_t i;
	int w;

	for (i = 0; i < n; i++) {
		w = snprintf(len < size ? buf + len : NULL,
		    len < size ? size - len : 0, " %016llx",
		    (unsigned long long)v[i]);
		len += (size_t)w;
	}
	w = snprintf(len < size ? buf + len : NULL, len < size ? size - len :
	    0, "\n");
	return len + (size_t)w;
}

/* Format "SUMS L I S0 .. S15\n" (see proto.h). */
size_t
proto_format_sums(char *buf, size_t size, const struct proto_sums *s)
{
	int w = snprintf(buf, size, "SUMS %u %lu", s->level, s->index);

	return format_hex_list(buf, size, (size_t)w, s->sum, PROTO_FANOUT);
}

/* Format "PRINTS B N F..\n" (see proto.h). */
size_t
proto_format_prints(char *buf, size_t size, const struct proto_prints *pr)
{
	int w = snprintf(buf, size, "PRINTS %lu %lu", pr->bucket, pr->total);

	return format_hex_list(buf, size, (size_t)w, pr->fp,
	    pr->n < PROTO_FANOUT ? pr->n : PROTO_FANOUT);
}

/* A record count: 1 to 12 decimal digits. */
static int
proto_parse_synced_count(struct proto_span s, unsigned long *count)
{
	unsigned long v = 0;
	size_t i;

	if (s.len == 0 || s.len > 12)
		return -1;
	for (i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s.p[i] - '0');
	}
	*count = v;
	return 0;
}

/* Parse "SYNCED <count>" into count; 0 or -1. */
int
proto_parse_synced(const char *p, size_t len, unsigned long *count)
{
	struct proto_span f[PROTO_MAX_FIELDS];

	if (proto_split(p, len, f, PROTO_MAX_FIELDS) != 2 ||
	    !span_eq(f[0], "SYNCED"))
		return -1;
	return proto_parse_synced_count(f[1], count);
}

/* Compare two times by seconds, then nanoseconds: -1, 0 or 1. */
int
time_cmp(const struct herd_time *a, const struct herd_time *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->nsec != b->nsec)
		return a->nsec < b->nsec ? -1 : 1;
	return 0;
}

/* Format now - sent exactly as "+S.NNNNNNNNN" or "-S.NNNNNNNNN" into buf
 * (truncated to size); returns the full length. */
size_t
proto_format_diff(const struct herd_time *now, const struct herd_time *sent,
    char *buf, size_t size)
{
	int64_t s = now->sec - sent->sec;
	long ns = (long)now->nsec - (long)sent->nsec;
	char tmp[PROTO_TIME_DIFF_MAX], *p = tmp + sizeof(tmp);
	uint64_t secs;
	size_t len;
	int i;

	if (ns < 0) {
		ns += NSEC_PER_SEC;
		s--;
	}
	secs = (uint64_t)s;
	if (s < 0) {
		/* Negative: magnitude of s + ns/1e9 without a double. */
		if (ns > 0) {
			secs = (uint64_t)(-(s + 1));
			ns = NSEC_PER_SEC - ns;
		} else
			secs = (uint64_t)0 - (uint64_t)s;
	}
	/* "%c%llu.%09ld" by hand: this runs once per IAMAT. */
	for (i = 0; i < 9; i++, ns /= 10)
		*--p = (char)('0' + ns % 10);
	*--p = '.';
	do {
		*--p = (char)('0' + secs % 10);
		secs /= 10;
	} while (secs != 0);
	*--p = s < 0 ? '-' : '+';
	len = (size_t)(tmp + sizeof(tmp) - p);
	if (size > 0) {
		memcpy(buf, p, len < size ? len : size - 1);
		buf[len < size ? len : size - 1] = '\0';
	}
	return len;
}

/* Copy len bytes at offset off of buf, as far as size allows; returns
 * the offset after them (which may pass size, like snprintf). */
static size_t
put(char *buf, size_t size, size_t off, const char *p, size_t len)
{
	if (off < size)
		memcpy(buf + off, p, len < size - off ? len : size - off);
	return off + len;
}

/* Byte for byte (a client id may hold any non-whitespace byte, NUL
 * included, which printf's %.*s would stop at). */
size_t
proto_format_at(char *buf, size_t size, const char *server, size_t server_len,
    const char *diff, size_t diff_len, const struct proto_request *req)
{
	size_t n = 0;

	n = put(buf, size, n, "AT ", 3);
	n = put(buf, size, n, server, server_len);
	n = put(buf, size, n, " ", 1);
	n = put(buf, size, n, diff, diff_len);
	n = put(buf, size, n, " ", 1);
	n = put(buf, size, n, req->client.p, req->client.len);
	n = put(buf, size, n, " ", 1);
	n = put(buf, size, n, req->location.p, req->location.len);
	n = put(buf, size, n, " ", 1);
	n = put(buf, size, n, req->time_sent.p, req->time_sent.len);
	if (size > 0)
		buf[n < size ? n : size - 1] = '\0';
	return n;
}
