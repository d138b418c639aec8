/*
 * fuzz_peer_message.c -- libFuzzer harness for the peer line parsers.
 *
 * The input is what a peer (or anyone dialling a node) sends, split into
 * lines at '\n' as peer.c does (and once as a whole).  Every line goes
 * through each peer parser: AT, HELLO, WELCOME, AUTH, SYNCED and the
 * HELLO sniffer.  What a parser accepts must stay inside the line, be
 * well-formed and agree with the other parsers, and a proof it yields
 * must never pass auth_proof_ok() against the proof of the other mode
 * (secret vs none).  A broken promise is an abort().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd/auth.h"
#include "herd/proto.h"

#define SECRET		"fuzzing-secret-0123456789"
#define NONCE_A		"0123456789abcdef0123456789abcdef"
#define NONCE_B		"fedcba9876543210fedcba9876543210"

#define check(e)	((e) ? (void)0 : failed(#e, __LINE__))

int		LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	failed(const char *, int) __attribute__((noreturn));
static void	check_word(struct proto_span, const char *, size_t);
static int	first_field_is(const char *, size_t, const char *);
static void	check_at(const char *, size_t);
static void	check_hello(const char *, size_t);
static int	is_hex(struct proto_span, size_t);
static void	check_proof(struct proto_span, const char *);
static void	check_welcome(const char *, size_t);
static void	check_auth(const char *, size_t);
static void	check_synced(const char *, size_t);
static void	check_sync2(const char *, size_t);
static void	check_line(const char *, size_t);

/* Report a broken promise and abort: a crash for libFuzzer. */
static void
failed(const char *what, int line)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
	abort();
}

/* The span s is a non-empty whitespace-free field inside [p, p+len). */
static void
check_word(struct proto_span s, const char *p, size_t len)
{
	size_t i;

	check(s.p >= p && s.len > 0 && s.len <= len &&
	    (size_t)(s.p - p) <= len - s.len);
	for (i = 0; i < s.len; i++)
		check(!proto_is_space((unsigned char)s.p[i]));
	check(s.p == p || proto_is_space((unsigned char)s.p[-1]));
	check(s.p + s.len == p + len ||
	    proto_is_space((unsigned char)s.p[s.len]));
}

/* True when the first field of the line is exactly word. */
static int
first_field_is(const char *p, size_t len, const char *word)
{
	struct proto_span f[1];

	return proto_split(p, len, f, 1) >= 1 && f[0].len == strlen(word) &&
	    memcmp(f[0].p, word, f[0].len) == 0;
}

/* An accepted AT line has six ordered fields that parse on their own. */
static void
check_at(const char *p, size_t len)
{
	struct proto_at at;
	struct herd_location loc;
	struct herd_time t;

	if (proto_parse_at(p, len, &at) == -1)
		return;
	check(first_field_is(p, len, "AT"));
	check_word(at.server, p, len);
	check_word(at.time_diff, p, len);
	check_word(at.client, p, len);
	check_word(at.location, p, len);
	check_word(at.time_sent, p, len);
	check(at.server.p < at.time_diff.p && at.time_diff.p < at.client.p &&
	    at.client.p < at.location.p && at.location.p < at.time_sent.p);
	check(at.time_diff.len >= 2 &&
	    (at.time_diff.p[0] == '+' || at.time_diff.p[0] == '-'));

	/* The record peer.c stores ends with time_sent: nothing after. */
	check(proto_trim(at.time_sent.p + at.time_sent.len,
	    (size_t)(p + len - (at.time_sent.p + at.time_sent.len))).len == 0);

	check(at.sent.sec >= 0 && at.sent.nsec >= 0 &&
	    at.sent.nsec <= 999999999);
	check(proto_parse_location(at.location.p, at.location.len,
	    &loc) == 0);
	check(loc.lat >= -90.0 && loc.lat <= 90.0);
	check(loc.lon >= -180.0 && loc.lon <= 180.0);
	check(proto_parse_time(at.time_sent.p, at.time_sent.len, &t) == 0 &&
	    time_cmp(&t, &at.sent) == 0);
	check(!proto_is_hello(p, len));
}

/* True when s is exactly n lower-case hex digits. */
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

/* A proof is "-" or 64 hex digits, and only the mode's own may pass. */
static void
check_proof(struct proto_span proof, const char *role)
{
	static struct auth_secret secret, none;
	char expect[AUTH_PROOF_HEX + 1];
	int ok;

	check(proof.len == 1 ? proof.p[0] == '-' :
	    is_hex(proof, AUTH_PROOF_HEX));
	if (secret.len == 0) {
		memcpy(secret.data, SECRET, strlen(SECRET));
		secret.len = strlen(SECRET);
	}

	/* With a secret, "-" (a peer without one) never passes. */
	auth_proof(&secret, role, "Hill", "Smith", NONCE_A, NONCE_B, expect);
	check(strlen(expect) == AUTH_PROOF_HEX);
	ok = auth_proof_ok(expect, proof.p, proof.len);
	check(ok == (proof.len == AUTH_PROOF_HEX &&
	    memcmp(proof.p, expect, AUTH_PROOF_HEX) == 0));

	/* Without one, only "-" passes (protected mode, loopback). */
	auth_proof(&none, role, "Hill", "Smith", NONCE_A, NONCE_B, expect);
	check(strcmp(expect, "-") == 0);
	ok = auth_proof_ok(expect, proof.p, proof.len);
	check(ok == (proof.len == 1));
}

/* An accepted HELLO names two peers, has a nonce, is seen as a HELLO. */
static void
check_hello(const char *p, size_t len)
{
	struct proto_hello h;
	int sniffed;

	sniffed = proto_is_hello(p, len);
	check(sniffed == first_field_is(p, len, "HELLO"));
	if (proto_parse_hello(p, len, &h) == -1)
		return;
	check(sniffed);
	check_word(h.from, p, len);
	check_word(h.to, p, len);
	check_word(h.nonce, p, len);
	check(h.from.p < h.to.p && h.to.p < h.nonce.p);
	check(is_hex(h.nonce, AUTH_NONCE_HEX));
}

/* An accepted WELCOME names the peer that answered, with its proof. */
static void
check_welcome(const char *p, size_t len)
{
	struct proto_welcome w;

	if (proto_parse_welcome(p, len, &w) == -1)
		return;
	check(first_field_is(p, len, "WELCOME"));
	check(!proto_is_hello(p, len));
	check_word(w.from, p, len);
	check_word(w.nonce, p, len);
	check_word(w.proof, p, len);
	check(w.from.p < w.nonce.p && w.nonce.p < w.proof.p);
	check(is_hex(w.nonce, AUTH_NONCE_HEX));
	check_proof(w.proof, "welcome");
}

/* An accepted AUTH carries one proof. */
static void
check_auth(const char *p, size_t len)
{
	struct proto_span proof;

	if (proto_parse_auth(p, len, &proof) == -1)
		return;
	check(first_field_is(p, len, "AUTH"));
	check(!proto_is_hello(p, len));
	check_word(proof, p, len);
	check_proof(proof, "auth");
}

/* An accepted SYNCED carries the decimal count written in it. */
static void
check_synced(const char *p, size_t len)
{
	struct proto_span f[3];
	unsigned long count, v = 0;
	size_t i;

	if (proto_parse_synced(p, len, &count) == -1)
		return;
	check(proto_split(p, len, f, 2) == 2);
	check(f[0].len == 6 && memcmp(f[0].p, "SYNCED", 6) == 0);
	check(f[1].len >= 1 && f[1].len <= 12);
	for (i = 0; i < f[1].len; i++) {
		check(f[1].p[i] >= '0' && f[1].p[i] <= '9');
		v = v * 10 + (unsigned long)(f[1].p[i] - '0');
	}
	check(v == count && count <= 999999999999UL);
	check(!proto_is_hello(p, len));
}

/* An accepted SUMS or PRINTS formats back to a line that parses
 * to the same values, and its indexes are in range. */
static void
check_sync2(const char *p, size_t len)
{
	struct proto_sums s, s2;
	struct proto_prints pr, pr2;
	char buf[PROTO_SYNC_LINE_MAX];
	unsigned long nodes = 1;
	unsigned i;
	size_t n;

	if (proto_parse_sums(p, len, &s) == 0) {
		check(s.level < PROTO_SUM_LEVELS);
		for (i = 0; i < s.level; i++)
			nodes *= PROTO_FANOUT;
		check(s.index < nodes);
		n = proto_format_sums(buf, sizeof(buf), &s);
		check(n < sizeof(buf));
		check(proto_parse_sums(buf, n, &s2) == 0);
		check(s2.level == s.level && s2.index == s.index &&
		    memcmp(s2.sum, s.sum, sizeof(s.sum)) == 0);
		check(proto_parse_prints(p, len, &pr) == -1);
	}
	if (proto_parse_prints(p, len, &pr) == 0) {
		check(pr.bucket < PROTO_BUCKETS && pr.n <= PROTO_FANOUT);
		n = proto_format_prints(buf, sizeof(buf), &pr);
		check(n < sizeof(buf));
		check(proto_parse_prints(buf, n, &pr2) == 0);
		check(pr2.bucket == pr.bucket &&
		    pr2.total == pr.total && pr2.n == pr.n &&
		    memcmp(pr2.fp, pr.fp, pr.n * sizeof(pr.fp[0])) == 0);
		check(!proto_is_hello(p, len));
	}
}

/* Run every peer parser on one line (without its newline). */
static void
check_line(const char *p, size_t len)
{
	char *copy;

	/* An exact-size heap copy, so ASan sees reads past the line. */
	if ((copy = malloc(len > 0 ? len : 1)) == NULL)
		return;
	if (len > 0)
		memcpy(copy, p, len);
	check_at(copy, len);
	check_hello(copy, len);
	check_welcome(copy, len);
	check_auth(copy, len);
	check_synced(copy, len);
	check_sync2(copy, len);
	free(copy);
}

/* libFuzzer entry point: the input is a peer stream of lines. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;

	/* The whole input as one line, then line by line. */
	check_line(p, size);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		check_line(p, (size_t)((nl != NULL ? nl : end) - p));
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return 0;
}
