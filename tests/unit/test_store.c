/*
 * test_store.c -- unit tests for the record store (src/store.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd/proto.h"
#include "herd/store.h"

#define MANY	200000

static enum store_result offer(struct store *, const char *, size_t,
		    int64_t, int32_t, const char *,
		    const struct herd_record **);
static void	assert_record(const struct herd_record *, const char *,
		    size_t, int64_t, int32_t, const char *);
static int	setup(void **);
static int	teardown(void **);

static int
setup(void **state)
{
	struct store *s;

	if ((s = store_new(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL)) ==
	    NULL)
		return -1;
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	store_free(*state);
	return 0;
}

/* Offer client with time sec.nsec and AT line. */
static enum store_result
offer(struct store *s, const char *client, size_t clen, int64_t sec,
    int32_t nsec, const char *line, const struct herd_record **out)
{
	struct herd_time t = { sec, nsec };

	return store_merge(s, client, clen, &t, line, strlen(line), out);
}

static void
assert_record(const struct herd_record *r, const char *client, size_t clen,
    int64_t sec, int32_t nsec, const char *line)
{
	assert_non_null(r);
	assert_int_equal(r->client_len, clen);
	assert_memory_equal(record_client(r), client, clen);
	assert_int_equal(r->sent.sec, sec);
	assert_int_equal(r->sent.nsec, nsec);
	assert_int_equal(r->line_len, strlen(line));
	assert_string_equal(record_line(r), line);
	/* NUL right after the line, inside the record. */
	assert_int_equal(record_line(r)[r->line_len], '\0');
}

static void
test_empty(void **state)
{
	struct store *s = *state;
	size_t cursor = 0;

	assert_int_equal(store_count(s), 0);
	assert_null(store_get(s, "a", 1));
	assert_null(store_get(s, "", 0));
	assert_null(store_next(s, &cursor));
	assert_null(store_next(s, &cursor));
	assert_true(store_bytes(s) >= 1024 * sizeof(void *));
}

static void
test_insert_get(void **state)
{
	struct store *s = *state;
	const struct herd_record *r = NULL, *g;
	const char *line = "AT Hill +0.263873386 kiwi.cs.ucla.edu "
	    "+34.068930-118.445127 1621464827.959498503";
	size_t before = store_bytes(s);

	assert_int_equal(offer(s, "kiwi.cs.ucla.edu", 16, 1621464827,
	    959498503, line, &r), STORE_CHANGED);
	assert_record(r, "kiwi.cs.ucla.edu", 16, 1621464827, 959498503, line);
	assert_int_equal(store_count(s), 1);
	g = store_get(s, "kiwi.cs.ucla.edu", 16);
	assert_ptr_equal(g, r);
	/* The store copies: the caller's buffers are not referenced. */
	assert_ptr_not_equal(record_line(g), line);
	/* Prefixes and extensions of the id are other clients. */
	assert_null(store_get(s, "kiwi.cs.ucla.ed", 15));
	assert_null(store_get(s, "kiwi.cs.ucla.edux", 17));
	assert_null(store_get(s, "KIWI.CS.UCLA.EDU", 16));
	assert_true(store_bytes(s) >= before + strlen(line) + 16 + 1);
	assert_true(store_bytes(s) < before + 1024);
}

static void
test_newer_wins(void **state)
{
	struct store *s = *state;
	const struct herd_record *r;
	size_t bytes;

	assert_int_equal(offer(s, "c", 1, 100, 5,
	    "AT A +0.1 c +1+1 100.000000005", &r), STORE_CHANGED);
	bytes = store_bytes(s);
	/* One nanosecond newer. */
	assert_int_equal(offer(s, "c", 1, 100, 6,
	    "AT B +0.2 c +2+2 100.000000006", &r), STORE_CHANGED);
	assert_record(r, "c", 1, 100, 6, "AT B +0.2 c +2+2 100.000000006");
	assert_ptr_equal(store_get(s, "c", 1), r);
	/* A whole second newer with a smaller nsec. */
	assert_int_equal(offer(s, "c", 1, 101, 0, "AT C +0.3 c +3+3 101", &r),
	    STORE_CHANGED);
	assert_record(store_get(s, "c", 1), "c", 1, 101, 0,
	    "AT C +0.3 c +3+3 101");
	assert_int_equal(store_count(s), 1);
	/* Replacing frees the old record's bytes: same-size lines. */
	assert_int_equal(offer(s, "c", 1, 102, 0, "AT D +0.3 c +3+3 102", &r),
	    STORE_CHANGED);
	assert_int_equal(store_bytes(s), bytes - 10);
}

static void
test_older_stale(void **state)
{
	struct store *s = *state;
	const struct herd_record *r, *held;
	const char *line = "AT Hill +0.5 c +1+1 200.5";

	assert_int_equal(offer(s, "c", 1, 200, 500000000, line, &held),
	    STORE_CHANGED);
	r = NULL;
	assert_int_equal(offer(s, "c", 1, 200, 499999999,
	    "AT Smith +0.1 c +2+2 200.499999999", &r), STORE_STALE);
	/* *out is the stored (newer) record, unchanged. */
	assert_ptr_equal(r, held);
	assert_record(r, "c", 1, 200, 500000000, line);
	assert_int_equal(offer(s, "c", 1, 199, 999999999,
	    "AT Z +0.1 c +2+2 199.999999999", &r), STORE_STALE);
	assert_ptr_equal(r, held);
	assert_int_equal(offer(s, "c", 1, 0, 0, "ZZZZZZZZZ", &r), STORE_STALE);
	assert_record(store_get(s, "c", 1), "c", 1, 200, 500000000, line);
	assert_int_equal(store_count(s), 1);
}

static void
test_identical_kept(void **state)
{
	struct store *s = *state;
	const struct herd_record *first, *r = NULL;
	const char *line = "AT Hill +0.5 c +1+1 300";
	char copy[64];
	size_t bytes;

	assert_int_equal(offer(s, "c", 1, 300, 0, line, &first),
	    STORE_CHANGED);
	bytes = store_bytes(s);
	strcpy(copy, line);
	assert_int_equal(offer(s, "c", 1, 300, 0, copy, &r), STORE_KEPT);
	assert_ptr_equal(r, first);
	assert_ptr_equal(store_get(s, "c", 1), first);
	assert_int_equal(store_bytes(s), bytes);
	assert_int_equal(store_count(s), 1);
}

static void
test_tie_break(void **state)
{
	static const char *lines[] = {
		"AT Hill +0.1 c +1+1 400",
		"AT Hill +0.1 c +1+1 400 ",	/* longer, same prefix */
		"AT Hill +0.2 c +1+1 400",
		"AT Smith -0.1 c +1+1 400",
		"AT Campbell +9.9 c +5+5 400",
		"AT Hill +0.1 c +1+1 400\xff",	/* unsigned bytes */
	};
	const size_t n = sizeof(lines) / sizeof(lines[0]);
	const char *winner = lines[0];
	size_t i, j;

	(void)state;
	/* The expected winner: the largest line, bytes as unsigned. */
	for (i = 1; i < n; i++) {
		size_t a = strlen(lines[i]), b = strlen(winner);
		int c = memcmp(lines[i], winner, a < b ? a : b);

		if (c > 0 || (c == 0 && a > b))
			winner = lines[i];
	}
	assert_string_equal(winner, "AT Smith -0.1 c +1+1 400");

	/* Every pair, both orders, in two independent stores. */
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			struct store *s1, *s2;
			const struct herd_record *r1, *r2;
			enum store_result x, y;

			if (i == j)
				continue;
			s1 = store_new(1, 2);
			s2 = store_new(3, 4);
			assert_non_null(s1);
			assert_non_null(s2);
			offer(s1, "c", 1, 400, 0, lines[i], &r1);
			x = offer(s1, "c", 1, 400, 0, lines[j], &r1);
			offer(s2, "c", 1, 400, 0, lines[j], &r2);
			y = offer(s2, "c", 1, 400, 0, lines[i], &r2);
			/* Exactly one order changes the record. */
			assert_true((x == STORE_CHANGED && y == STORE_STALE) ||
			    (x == STORE_STALE && y == STORE_CHANGED));
			r1 = store_get(s1, "c", 1);
			r2 = store_get(s2, "c", 1);
			assert_string_equal(record_line(r1), record_line(r2));
			assert_int_equal(r1->line_len, r2->line_len);
			store_free(s1);
			store_free(s2);
		}
	}

	/* All of them in forward and reverse order end on the winner. */
	{
		struct store *f = store_new(5, 6), *b = store_new(7, 8);
		const struct herd_record *r;

		for (i = 0; i < n; i++) {
			offer(f, "c", 1, 400, 0, lines[i], &r);
			offer(b, "c", 1, 400, 0, lines[n - 1 - i], &r);
		}
		assert_string_equal(record_line(store_get(f, "c", 1)), winner);
		assert_string_equal(record_line(store_get(b, "c", 1)), winner);
		store_free(f);
		store_free(b);
	}
}

static void
test_store_order(void **state)
{
	struct herd_time t1 = { 10, 0 }, t2 = { 10, 1 };

	(void)state;
	assert_true(store_order(&t2, "A", 1, &t1, "Z", 1) > 0);
	assert_true(store_order(&t1, "Z", 1, &t2, "A", 1) < 0);
	assert_true(store_order(&t1, "B", 1, &t1, "A", 1) > 0);
	assert_true(store_order(&t1, "A", 1, &t1, "B", 1) < 0);
	assert_int_equal(store_order(&t1, "AB", 2, &t1, "AB", 2), 0);
	assert_true(store_order(&t1, "AB", 2, &t1, "A", 1) > 0);
	assert_true(store_order(&t1, "A", 1, &t1, "AB", 2) < 0);
	assert_true(store_order(&t1, "\x80", 1, &t1, "\x7f", 1) > 0);
	assert_int_equal(store_order(&t1, "", 0, &t1, "", 0), 0);
}

static void
test_distinct_clients(void **state)
{
	struct store *s = *state;
	const struct herd_record *r;

	assert_int_equal(offer(s, "a", 1, 10, 0, "AT S +0.1 a +1+1 10", &r),
	    STORE_CHANGED);
	assert_int_equal(offer(s, "b", 1, 5, 0, "AT S +0.1 b +1+1 5", &r),
	    STORE_CHANGED);
	/* b is older than a, but b is another client. */
	assert_int_equal(offer(s, "b", 1, 6, 0, "AT S +0.1 b +1+1 6", &r),
	    STORE_CHANGED);
	assert_int_equal(offer(s, "a", 1, 9, 0, "AT S +0.1 a +1+1 9", &r),
	    STORE_STALE);
	assert_record(store_get(s, "a", 1), "a", 1, 10, 0,
	    "AT S +0.1 a +1+1 10");
	assert_record(store_get(s, "b", 1), "b", 1, 6, 0,
	    "AT S +0.1 b +1+1 6");
	assert_int_equal(store_count(s), 2);
}

static void
test_binary_ids(void **state)
{
	struct store *s = *state;
	static const char id1[] = "ab\0cd", id2[] = "ab\0ce", id3[] = "ab";
	static const char emoji[] = "\xf0\x9f\x90\xa2";
	const struct herd_record *r;

	assert_int_equal(offer(s, id1, 5, 1, 0, "L1", &r), STORE_CHANGED);
	assert_int_equal(offer(s, id2, 5, 1, 0, "L2", &r), STORE_CHANGED);
	assert_int_equal(offer(s, id3, 2, 1, 0, "L3", &r), STORE_CHANGED);
	assert_int_equal(offer(s, id1, 3, 1, 0, "L4", &r), STORE_CHANGED);
	assert_int_equal(offer(s, emoji, 4, 1, 0, "L5", &r), STORE_CHANGED);
	assert_int_equal(offer(s, "", 0, 1, 0, "L6", &r), STORE_CHANGED);
	assert_int_equal(store_count(s), 6);
	assert_record(store_get(s, id1, 5), id1, 5, 1, 0, "L1");
	assert_record(store_get(s, id2, 5), id2, 5, 1, 0, "L2");
	assert_record(store_get(s, id3, 2), id3, 2, 1, 0, "L3");
	assert_record(store_get(s, "ab\0", 3), "ab\0", 3, 1, 0, "L4");
	assert_record(store_get(s, emoji, 4), emoji, 4, 1, 0, "L5");
	assert_record(store_get(s, "", 0), "", 0, 1, 0, "L6");
	assert_null(store_get(s, "ab\0cf", 5));
	assert_null(store_get(s, "\xf0\x9f\x90\xa3", 4));
	assert_null(store_get(s, "ab\0c", 4));
	/* Updating one does not touch its near twin. */
	assert_int_equal(offer(s, id2, 5, 2, 0, "L2b", &r), STORE_CHANGED);
	assert_record(store_get(s, id1, 5), id1, 5, 1, 0, "L1");
	assert_record(store_get(s, id2, 5), id2, 5, 2, 0, "L2b");
}

static void
test_many(void **state)
{
	struct store *s = *state;
	const struct herd_record *r;
	char id[32], line[96];
	unsigned char *seen;
	size_t i, n, cursor;

	for (i = 0; i < MANY; i++) {
		n = (size_t)snprintf(id, sizeof(id), "client-%zu", i);
		snprintf(line, sizeof(line), "AT S +0.1 %s +1+1 %zu", id, i);
		if (offer(s, id, n, (int64_t)i, 0, line, &r) != STORE_CHANGED)
			fail_msg("insert %zu", i);
	}
	assert_int_equal(store_count(s), MANY);
	/* Table at most 3/4 full, plus the records themselves. */
	assert_true(store_bytes(s) >= (size_t)MANY * 4 / 3 * sizeof(void *));
	assert_true(store_bytes(s) > (size_t)MANY * 30);
	assert_true(store_bytes(s) < (size_t)MANY * 200);
	for (i = 0; i < MANY; i++) {
		n = (size_t)snprintf(id, sizeof(id), "client-%zu", i);
		snprintf(line, sizeof(line), "AT S +0.1 %s +1+1 %zu", id, i);
		r = store_get(s, id, n);
		if (r == NULL || strcmp(record_line(r), line) != 0 ||
		    r->sent.sec != (int64_t)i)
			fail_msg("lookup %zu", i);
	}
	assert_null(store_get(s, "client-200000", 13));

	/* Iteration sees every record exactly once. */
	assert_non_null(seen = calloc(MANY, 1));
	cursor = 0;
	n = 0;
	while ((r = store_next(s, &cursor)) != NULL) {
		i = (size_t)r->sent.sec;
		assert_true(i < MANY);
		if (seen[i]++ != 0)
			fail_msg("record %zu seen twice", i);
		n++;
	}
	assert_int_equal(n, MANY);
	assert_null(store_next(s, &cursor));
	free(seen);

	/* Updates after growth still land on the same record. */
	for (i = 0; i < MANY; i += 997) {
		n = (size_t)snprintf(id, sizeof(id), "client-%zu", i);
		assert_int_equal(offer(s, id, n, (int64_t)i + 1, 0, "new", &r),
		    STORE_CHANGED);
	}
	assert_int_equal(store_count(s), MANY);
	assert_record(store_get(s, "client-997", 10), "client-997", 10, 998,
	    0, "new");
}

static void
test_next_small(void **state)
{
	struct store *s = *state;
	const struct herd_record *r;
	unsigned seen = 0;
	size_t cursor = 0, n = 0;
	int i;

	for (i = 0; i < 10; i++) {
		char id[2] = { (char)('a' + i), '\0' };

		offer(s, id, 1, i, 0, id, &r);
	}
	/* An update in place is not a second record. */
	offer(s, "c", 1, 99, 0, "c", &r);
	while ((r = store_next(s, &cursor)) != NULL) {
		i = record_client(r)[0] - 'a';
		assert_true(i >= 0 && i < 10);
		assert_false(seen & (1u << i));
		seen |= 1u << i;
		n++;
	}
	assert_int_equal(n, 10);
	assert_int_equal(seen, 0x3ff);
}

/* A table filled to just below its growth point, under several seeds
 * (so that the first and last slots are occupied for some), iterated in
 * two halves with updates and inserts in between. */
static void
test_next_dense(void **state)
{
	enum { N = 767 };	/* one more would grow the 1024 slots */
	const struct herd_record *r;
	unsigned char seen[N];
	char id[16];
	size_t cursor, n, i, len;
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 8; seed++) {
		struct store *s = store_new(seed, ~seed);

		assert_non_null(s);
		for (i = 0; i < N - 100; i++) {
			len = (size_t)snprintf(id, sizeof(id), "%zu", i);
			assert_int_equal(offer(s, id, len, (int64_t)i, 0, id,
			    &r), STORE_CHANGED);
		}
		memset(seen, 0, sizeof(seen));
		cursor = 0;
		n = 0;
		while (n < (N - 100) / 2 && (r = store_next(s, &cursor)) !=
		    NULL) {
			assert_int_equal(seen[r->sent.sec]++, 0);
			n++;
		}
		/* Updates in place and new ids while iterating. */
		for (i = 0; i < N; i++) {
			len = (size_t)snprintf(id, sizeof(id), "%zu", i);
			offer(s, id, len, (int64_t)i, 1, id, &r);
		}
		assert_int_equal(store_count(s), N);
		while ((r = store_next(s, &cursor)) != NULL) {
			assert_int_equal(seen[r->sent.sec]++, 0);
			n++;
		}
		/* Every record held before the first call was seen. */
		for (i = 0; i < N - 100; i++)
			assert_int_equal(seen[i], 1);
		assert_true(n >= N - 100 && n <= N);
		/* A fresh pass sees exactly the N records. */
		cursor = 0;
		for (n = 0; store_next(s, &cursor) != NULL; n++)
			;
		assert_int_equal(n, N);
		store_free(s);
	}
}

static void
test_limit(void **state)
{
	struct store *s = *state;
	const struct herd_record *r;

	store_set_limit(s, 3);
	assert_int_equal(offer(s, "a", 1, 1, 0, "a1", &r), STORE_CHANGED);
	assert_int_equal(offer(s, "b", 1, 1, 0, "b1", &r), STORE_CHANGED);
	assert_int_equal(offer(s, "c", 1, 1, 0, "c1", &r), STORE_CHANGED);
	r = (const void *)&r;
	assert_int_equal(offer(s, "d", 1, 1, 0, "d1", &r), STORE_FULL);
	assert_null(r);
	assert_null(store_get(s, "d", 1));
	assert_int_equal(store_count(s), 3);
	/* Existing ids: updates, stale and identical still work. */
	assert_int_equal(offer(s, "b", 1, 2, 0, "b2", &r), STORE_CHANGED);
	assert_record(r, "b", 1, 2, 0, "b2");
	assert_int_equal(offer(s, "b", 1, 1, 0, "b1", &r), STORE_STALE);
	assert_record(r, "b", 1, 2, 0, "b2");
	assert_int_equal(offer(s, "b", 1, 2, 0, "b2", &r), STORE_KEPT);
	assert_int_equal(offer(s, "e", 1, 9, 0, "e9", &r), STORE_FULL);
	assert_int_equal(store_count(s), 3);
	/* Raising the limit admits new ids again; 0 means none. */
	store_set_limit(s, 4);
	assert_int_equal(offer(s, "d", 1, 1, 0, "d1", &r), STORE_CHANGED);
	assert_int_equal(offer(s, "e", 1, 1, 0, "e1", &r), STORE_FULL);
	store_set_limit(s, 0);
	assert_int_equal(offer(s, "e", 1, 1, 0, "e1", &r), STORE_CHANGED);
	assert_int_equal(store_count(s), 5);
	/* Lowering below the count refuses new ids, keeps old ones. */
	store_set_limit(s, 1);
	assert_int_equal(offer(s, "f", 1, 1, 0, "f1", &r), STORE_FULL);
	assert_int_equal(offer(s, "a", 1, 5, 0, "a5", &r), STORE_CHANGED);
	assert_record(store_get(s, "a", 1), "a", 1, 5, 0, "a5");
}

static void
test_limit_large(void **state)
{
	struct store *s = *state;
	const struct herd_record *r;
	char id[32];
	size_t i, n;

	/* The limit holds across table growth. */
	store_set_limit(s, 5000);
	for (i = 0; i < 5000; i++) {
		n = (size_t)snprintf(id, sizeof(id), "%zu", i);
		assert_int_equal(offer(s, id, n, 1, 0, id, &r), STORE_CHANGED);
	}
	assert_int_equal(offer(s, "x", 1, 1, 0, "x", &r), STORE_FULL);
	assert_int_equal(offer(s, "4999", 4, 2, 0, "y", &r), STORE_CHANGED);
	assert_int_equal(store_count(s), 5000);
}

static void
test_line_nul(void **state)
{
	struct store *s = *state;
	const struct herd_record *r;
	struct herd_time t = { 1, 0 };
	/* The caller's line is not NUL-terminated. */
	char buf[] = { 'A', 'T', ' ', 'x', 'Y', 'Y', 'Y' };

	assert_int_equal(store_merge(s, "k", 1, &t, buf, 4, &r),
	    STORE_CHANGED);
	assert_int_equal(r->line_len, 4);
	assert_string_equal(record_line(r), "AT x");
	assert_memory_equal(record_client(r), "k", 1);
	/* Empty line. */
	assert_int_equal(store_merge(s, "e", 1, &t, "", 0, &r),
	    STORE_CHANGED);
	assert_int_equal(r->line_len, 0);
	assert_string_equal(record_line(r), "");
}

/* The digest depends on the records, not on seeds or arrival order. */
static void
test_digest(void **state)
{
	struct store *a = *state, *b = store_new(99, 7);
	const struct herd_record *r;
	uint64_t empty;

	assert_non_null(b);
	empty = store_digest(b);
	assert_int_equal(store_digest(a), empty);
	offer(a, "x", 1, 1, 0, "AT S +0.1 x +1+1 1", &r);
	offer(a, "y", 1, 2, 0, "AT S +0.1 y +1+1 2", &r);
	assert_int_not_equal(store_digest(a), empty);
	offer(b, "y", 1, 2, 0, "AT S +0.1 y +1+1 2", &r);
	assert_int_not_equal(store_digest(a), store_digest(b));
	offer(b, "x", 1, 1, 0, "AT S +0.1 x +1+1 1", &r);
	assert_int_equal(store_digest(a), store_digest(b));
	/* A replaced record changes it; stale offers do not. */
	offer(a, "x", 1, 3, 0, "AT S +0.1 x +1+1 3", &r);
	assert_int_not_equal(store_digest(a), store_digest(b));
	offer(b, "x", 1, 3, 0, "AT S +0.1 x +1+1 3", &r);
	offer(b, "x", 1, 2, 0, "AT S +0.1 x +1+1 2", &r);
	assert_int_equal(store_digest(a), store_digest(b));
	store_free(b);
}

/* Fill s with n clients "c<i>", each at time t0 + i (its line says so). */
static void
fill(struct store *s, int n, int64_t t0, int from)
{
	const struct herd_record *r;
	char id[32], line[96];
	int i, len;

	for (i = from; i < from + n; i++) {
		len = snprintf(id, sizeof(id), "c%d", i);
		snprintf(line, sizeof(line), "AT S +0.1 c%d +1+1 %lld", i,
		    (long long)(t0 + i));
		assert_int_equal(offer(s, id, (size_t)len, t0 + i, 0, line,
		    &r), STORE_CHANGED);
	}
}

/* Bucket sums add up to the digest, agree across stores that hold the
 * same records in any order, and a changed record moves exactly one. */
static void
test_bucket_sums(void **state)
{
	struct store *a = *state, *b = store_new(5, 6);
	const struct herd_record *r;
	uint64_t total = 0;
	uint32_t k, n, diff = 0, kx;

	assert_non_null(b);
	fill(a, 5000, 100, 0);
	fill(b, 2500, 100, 2500);	/* the same records, other order */
	fill(b, 2500, 100, 0);
	for (k = 0; k < STORE_BUCKETS; k++) {
		total += store_bucket_sum(a, k, &n);
		assert_int_equal(store_bucket_sum(a, k, NULL),
		    store_bucket_sum(b, k, NULL));
	}
	assert_int_equal(total, store_digest(a));
	assert_int_equal(store_range_sum(a, 0, STORE_BUCKETS),
	    store_digest(a));
	assert_int_equal(store_range_sum(a, 64, 64), store_range_sum(b, 64,
	    64));
	/* c7 newer in a: only its bucket differs; stale offers change none. */
	assert_int_equal(offer(a, "c7", 2, 9999, 0, "AT S +0.1 c7 +1+1 9999",
	    &r), STORE_CHANGED);
	assert_int_equal(offer(a, "c8", 2, 1, 0, "AT S +0.1 c8 +1+1 1", &r),
	    STORE_STALE);
	kx = store_bucket_of("c7", 2);
	for (k = 0; k < STORE_BUCKETS; k++)
		if (store_bucket_sum(a, k, NULL) != store_bucket_sum(b, k,
		    NULL)) {
			diff++;
			assert_int_equal(k, kx);
		}
	assert_int_equal(diff, 1);
	assert_int_equal(store_range_sum(a, 0, STORE_BUCKETS),
	    store_digest(a));
	/* b catches up: equal again. */
	assert_int_equal(offer(b, "c7", 2, 9999, 0, "AT S +0.1 c7 +1+1 9999",
	    &r), STORE_CHANGED);
	assert_int_equal(store_bucket_sum(a, kx, NULL),
	    store_bucket_sum(b, kx, NULL));
	store_free(b);
}

/* A bucket's iteration yields its records, each once, newest version;
 * and client ids spread over the buckets. */
static void
test_bucket_next(void **state)
{
	struct store *s = *state;
	const struct herd_record *r;
	size_t cur, total;
	uint32_t k, n, seen = 0, most = 0;
	int newest = 0;

	fill(s, 20000, 100, 0);
	assert_int_equal(offer(s, "c42", 3, 50000, 0,
	    "AT S +0.1 c42 +1+1 50000", &r), STORE_CHANGED);
	for (k = 0; k < STORE_BUCKETS; k++) {
		(void)store_bucket_sum(s, k, &n);
		most = n > most ? n : most;
		cur = 0;
		while ((r = store_bucket_next(s, k, &cur)) != NULL) {
			assert_int_equal(r->bucket, k);
			assert_int_equal(store_bucket_of(record_client(r),
			    r->client_len), k);
			assert_ptr_equal(store_get(s, record_client(r),
			    r->client_len), r);
			if (r->client_len == 3 &&
			    memcmp(record_client(r), "c42", 3) == 0)
				newest = r->sent.sec == 50000;
			seen++;
			n--;
		}
		assert_int_equal(n, 0);
	}
	assert_int_equal(seen, 20000);
	assert_true(newest);
	/* The line byte count follows replacements (compaction's trigger). */
	cur = 0;
	total = 0;
	while ((r = store_next(s, &cur)) != NULL)
		total += r->line_len;
	assert_int_equal(store_line_bytes(s), total);
	/* About 4.9 per bucket; a bad hash would pile them up. */
	assert_true(most < 25);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bucket_sums, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bucket_next, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_insert_get, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_newer_wins, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_older_stale, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_identical_kept, setup,
		    teardown),
		cmocka_unit_test(test_tie_break),
		cmocka_unit_test(test_store_order),
		cmocka_unit_test_setup_teardown(test_distinct_clients, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_binary_ids, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_small, setup,
		    teardown),
		cmocka_unit_test(test_next_dense),
		cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_large, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_line_nul, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
