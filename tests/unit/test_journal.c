/*
 * test_journal.c -- unit tests for the on-disk framing (src/journal.c):
 * CRC32C vectors, header checks, and the loader's classification of a
 * file cut at every byte, with flipped bits, zeros and absurd lengths.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd/journal.h"

#define NENTRIES	5

static size_t	build(unsigned char *, size_t, size_t *);
static size_t	count_entries(const unsigned char *, size_t,
		    struct journal_end *);
static void	line_of(int, char *, size_t);

/* The AT line of record i. */
static void
line_of(int i, char *out, size_t size)
{
	snprintf(out, size, "AT Hill +0.%09d client-%d +34.068930-118.445127"
	    " 1621464827.%09d", i, i, i);
}

/* A log file of NENTRIES entries in buf; ends[i] = end of entry i. */
static size_t
build(unsigned char *buf, size_t size, size_t *ends)
{
	char line[128];
	size_t off = JOURNAL_HEADER_SIZE, n;
	int i;

	journal_header_encode(buf, JOURNAL_LOG, 7);
	for (i = 0; i < NENTRIES; i++) {
		line_of(i, line, sizeof(line));
		n = strlen(line);
		assert_true(off + journal_entry_size(n) <= size);
		assert_int_equal(journal_entry_encode(buf + off, line, n), 0);
		off += journal_entry_size(n);
		ends[i] = off;
	}
	return off;
}

/* Intact entries of [buf, buf+len) (checking their payloads), and how
 * the scan ended. */
static size_t
count_entries(const unsigned char *buf, size_t len, struct journal_end *e)
{
	struct journal_reader r;
	struct proto_at at;
	const char *p;
	char line[128];
	size_t n;

	journal_reader_init(&r, buf, len);
	while (journal_next(&r, &p, &n, r.entries % 2 ? &at : NULL)) {
		line_of((int)r.entries - 1, line, sizeof(line));
		assert_int_equal(n, strlen(line));
		assert_memory_equal(p, line, n);
		if (r.entries % 2 == 0)	/* parsed into at (odd before) */
			assert_true(at.sent.nsec == (int32_t)r.entries - 1);
	}
	journal_reader_end(&r, e);
	return r.entries;
}

/* Known CRC32C vectors (RFC 3720 B.4 and the classic check value). */
static void
test_crc32c_vectors(void **state)
{
	unsigned char b[32];
	size_t i;

	(void)state;
	assert_int_equal(journal_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(journal_crc32c(0, "", 0), 0);
	memset(b, 0, sizeof(b));
	assert_int_equal(journal_crc32c(0, b, 32), 0x8A9136AAu);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(journal_crc32c(0, b, 32), 0x62A8AB43u);
	for (i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	assert_int_equal(journal_crc32c(0, b, 32), 0x46DD794Eu);
	/* Incremental equals one-shot, at every split point. */
	for (i = 0; i <= 32; i++)
		assert_int_equal(journal_crc32c(journal_crc32c(0, b, i),
		    b + i, 32 - i), 0x46DD794Eu);
}

/* The CPU's crc32 instruction and the portable tables agree on every
 * length and alignment (the vectors above run whichever is in use). */
static void
test_crc32c_hw_matches_tables(void **state)
{
	unsigned char b[1100];
	uint32_t x = 2463534242u;
	size_t i, off, len;

	(void)state;
	for (i = 0; i < sizeof(b); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
	assert_int_equal(~journal_crc32c_sw(~0u, "123456789", 9),
	    0xE3069283u);
	for (off = 0; off < 8; off++)
		for (len = 0; len + off <= sizeof(b); len += 1 + len / 3)
			assert_int_equal(journal_crc32c(0, b + off, len),
			    ~journal_crc32c_sw(~0u, b + off, len));
}

/* A header round-trips; foreign magic, other versions, damage refused. */
static void
test_header(void **state)
{
	unsigned char b[JOURNAL_HEADER_SIZE];
	struct journal_header h;
	char err[128];

	(void)state;
	journal_header_encode(b, JOURNAL_SNAPSHOT, 0x123456789aULL);
	assert_int_equal(journal_header_parse(b, sizeof(b), &h, err,
	    sizeof(err)), JOURNAL_HDR_OK);
	assert_int_equal(h.kind, JOURNAL_SNAPSHOT);
	assert_int_equal(h.version, JOURNAL_VERSION);
	assert_true(h.generation == 0x123456789aULL);
	assert_int_equal(journal_header_parse(b, 31, &h, err, sizeof(err)),
	    JOURNAL_HDR_SHORT);
	b[8] = 2;	/* version 2 */
	assert_int_equal(journal_header_parse(b, sizeof(b), &h, err,
	    sizeof(err)), JOURNAL_HDR_VERSION);
	assert_string_equal(err, "format version 2, this herd reads version"
	    " 1 only");
	b[8] = 1;
	b[20] ^= 1;	/* generation bit flip */
	assert_int_equal(journal_header_parse(b, sizeof(b), &h, err,
	    sizeof(err)), JOURNAL_HDR_CORRUPT);
	memcpy(b, "REDIS000", 8);
	assert_int_equal(journal_header_parse(b, sizeof(b), &h, err,
	    sizeof(err)), JOURNAL_HDR_FOREIGN);
	memset(b, 0, sizeof(b));
	assert_int_equal(journal_header_parse(b, sizeof(b), &h, err,
	    sizeof(err)), JOURNAL_HDR_SHORT);
}

/* A whole file reads clean; a file cut at every byte offset of its last
 * two entries keeps exactly the complete entries and reports the rest. */
static void
test_cut_everywhere(void **state)
{
	unsigned char buf[4096];
	size_t ends[NENTRIES], len, cut, want;
	struct journal_end e;

	(void)state;
	len = build(buf, sizeof(buf), ends);
	assert_int_equal(count_entries(buf, len, &e), NENTRIES);
	assert_int_equal(e.kind, JOURNAL_CLEAN);
	for (cut = ends[NENTRIES - 3]; cut <= len; cut++) {
		want = cut >= ends[NENTRIES - 1] ? NENTRIES :
		    cut >= ends[NENTRIES - 2] ? NENTRIES - 1 : NENTRIES - 2;
		assert_int_equal(count_entries(buf, cut, &e), want);
		if (cut == ends[want - 1]) {
			assert_int_equal(e.kind, JOURNAL_CLEAN);
			continue;
		}
		assert_int_equal(e.kind, JOURNAL_TORN);
		assert_int_equal(e.cut, ends[want - 1]);
		assert_int_equal(e.bytes_dropped, cut - ends[want - 1]);
		assert_int_equal(e.entries_dropped, 1);
	}
}

/* Zeros after the last entry (a crash after the size grew) are a torn
 * tail with no entry dropped. */
static void
test_zeros_at_end(void **state)
{
	unsigned char buf[4096];
	size_t ends[NENTRIES], len;
	struct journal_end e;

	(void)state;
	len = build(buf, sizeof(buf), ends);
	memset(buf + len, 0, 1000);
	assert_int_equal(count_entries(buf, len + 1000, &e), NENTRIES);
	assert_int_equal(e.kind, JOURNAL_TORN);
	assert_int_equal(e.cut, len);
	assert_int_equal(e.bytes_dropped, 1000);
	assert_int_equal(e.entries_dropped, 0);
}

/* A bit flipped anywhere in entry 1 (of 5) is middle damage: entry 0 is
 * kept and the three valid entries after it are counted as dropped; the
 * same flip in the last entry is a torn tail. */
static void
test_flipped_bit(void **state)
{
	unsigned char buf[4096];
	size_t ends[NENTRIES], len, off;
	struct journal_end e;
	int bit;

	(void)state;
	len = build(buf, sizeof(buf), ends);
	for (off = ends[0]; off < ends[1]; off++) {
		for (bit = 0; bit < 8; bit++) {
			buf[off] ^= (unsigned char)(1 << bit);
			assert_int_equal(count_entries(buf, len, &e), 1);
			assert_int_equal(e.kind, JOURNAL_DAMAGED);
			assert_int_equal(e.cut, ends[0]);
			assert_int_equal(e.entries_dropped, 4);
			buf[off] ^= (unsigned char)(1 << bit);
		}
	}
	buf[ends[NENTRIES - 1] - 3] ^= 0x10;
	assert_int_equal(count_entries(buf, len, &e), NENTRIES - 1);
	assert_int_equal(e.kind, JOURNAL_TORN);
	assert_int_equal(e.cut, ends[NENTRIES - 2]);
}

/* An absurd length is corruption, never an allocation; a payload with a
 * good checksum that is not an AT line is corrupt too. */
static void
test_absurd_length_and_payload(void **state)
{
	unsigned char buf[4096];
	size_t ends[NENTRIES], len;
	struct journal_end e;

	(void)state;
	len = build(buf, sizeof(buf), ends);
	buf[ends[1] + 3] = 0x7f;	/* entry 2 claims ~2 GiB */
	assert_int_equal(count_entries(buf, len, &e), 2);
	assert_int_equal(e.kind, JOURNAL_DAMAGED);
	assert_int_equal(e.entries_dropped, 3);
	assert_int_equal(journal_entry_encode(buf, "x", 0), -1);
	assert_int_equal(journal_entry_encode(buf + JOURNAL_HEADER_SIZE,
	    "HELLO there", 11), 0);
	assert_int_equal(count_entries(buf, JOURNAL_HEADER_SIZE +
	    journal_entry_size(11), &e), 0);
	assert_int_equal(e.kind, JOURNAL_TORN);
	assert_int_equal(e.cut, JOURNAL_HEADER_SIZE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_crc32c_hw_matches_tables),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_cut_everywhere),
		cmocka_unit_test(test_zeros_at_end),
		cmocka_unit_test(test_flipped_bit),
		cmocka_unit_test(test_absurd_length_and_payload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
