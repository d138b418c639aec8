/*
 * journal.c -- framing, checksums and damage classification of the
 * persistence files (see journal.h), over caller-owned byte buffers.
 *
 * The checksum is CRC32C (Castagnoli, reflected 0x82F63B78): the SSE4.2
 * crc32 instruction where the CPU has it (the checksum is a few per cent
 * of a node's CPU under load otherwise), else slicing-by-8 from tables
 * built once at program start.  A length that
 * is out of bounds, a checksum mismatch, or a payload that is not an AT
 * line all mean "bad entry"; what follows decides whether the file was
 * torn at its tail (nothing valid after it) or damaged in the middle.
 */
#include <stdio.h>
#include <string.h>

#include "herd/journal.h"

#define CRC32C_POLY	0x82F63B78u

static uint32_t	crc_table[8][256];
static uint32_t	(*crc_impl)(uint32_t, const void *, size_t);

static void	crc_init(void) __attribute__((constructor));
static uint32_t	crc_hw(uint32_t, const void *, size_t);
static uint32_t	get32(const unsigned char *);
static uint64_t	get64(const unsigned char *);
static void	put32(unsigned char *, uint32_t);
static void	put64(unsigned char *, uint64_t);
static int	all_zero(const unsigned char *, size_t);

/* Build the eight slicing tables (runs before main). */
static void
crc_init(void)
{
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (k = 1; k < 8; k++)
			crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^
			    crc_table[0][crc_table[k - 1][i] & 0xff];
	crc_impl = journal_crc32c_sw;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc_impl = crc_hw;
#endif
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The SSE4.2 crc32 instruction, 8 bytes at a time (memcpy: no
 * alignment assumed). */
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t c = crc, w;

	for (; len >= 8; b += 8, len -= 8) {
		memcpy(&w, b, 8);
		c = __builtin_ia32_crc32di(c, w);
	}
	crc = (uint32_t)c;
	while (len-- > 0)
		crc = __builtin_ia32_crc32qi(crc, *b++);
	return crc;
}
#else
static uint32_t
crc_hw(uint32_t crc, const void *p, size_t len)
{
	return journal_crc32c_sw(crc, p, len);
}
#endif

/* CRC32C of [p, p+len) continuing crc; journal_crc32c(0, "123456789",
 * 9) is 0xE3069283. */
uint32_t
journal_crc32c(uint32_t crc, const void *p, size_t len)
{
	return ~crc_impl(~crc, p, len);
}

/* Slicing-by-8 over the pre- and post-inverted crc (see journal.h). */
uint32_t
journal_crc32c_sw(uint32_t crc, const void *p, size_t len)
{
	const unsigned char *b = p;
	uint32_t lo, hi;

	while (len >= 8) {
		lo = get32(b) ^ crc;
		hi = get32(b + 4);
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		b += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *b++) & 0xff];
	return crc;
}

/* Little-endian u32 at b. */
static uint32_t
get32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
}

/* Little-endian u64 at b. */
static uint64_t
get64(const unsigned char *b)
{
	return (uint64_t)get32(b) | (uint64_t)get32(b + 4) << 32;
}

/* Store v little-endian at b. */
static void
put32(unsigned char *b, uint32_t v)
{
	b[0] = (unsigned char)v;
	b[1] = (unsigned char)(v >> 8);
	b[2] = (unsigned char)(v >> 16);
	b[3] = (unsigned char)(v >> 24);
}

/* Store v little-endian at b. */
static void
put64(unsigned char *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b + 4, (uint32_t)(v >> 32));
}

/* True when [b, b+len) holds only zero bytes. */
static int
all_zero(const unsigned char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* Write a header of kind and generation into out. */
void
journal_header_encode(unsigned char *out, enum journal_kind kind,
    uint64_t generation)
{
	memcpy(out, JOURNAL_MAGIC, 8);
	put32(out + 8, JOURNAL_VERSION);
	put32(out + 12, (uint32_t)kind);
	put64(out + 16, generation);
	put32(out + 24, journal_crc32c(0, out, 24));
	put32(out + 28, 0);
}

/* Parse and check the header at buf; err says what is wrong. */
enum journal_hdr_result
journal_header_parse(const void *buf, size_t len, struct journal_header *h,
    char *err, size_t errlen)
{
	const unsigned char *b = buf;
	uint32_t kind;

	if (len < JOURNAL_HEADER_SIZE || all_zero(b, JOURNAL_HEADER_SIZE)) {
		snprintf(err, errlen, "incomplete header (%zu bytes)",
		    len < JOURNAL_HEADER_SIZE ? len : 0);
		return JOURNAL_HDR_SHORT;
	}
	if (memcmp(b, JOURNAL_MAGIC, 8) != 0) {
		snprintf(err, errlen, "not a herd data file (bad magic)");
		return JOURNAL_HDR_FOREIGN;
	}
	h->version = get32(b + 8);
	if (h->version != JOURNAL_VERSION) {
		snprintf(err, errlen, "format version %u, this herd reads"
		    " version %u only", (unsigned)h->version, JOURNAL_VERSION);
		return JOURNAL_HDR_VERSION;
	}
	kind = get32(b + 12);
	if (get32(b + 24) != journal_crc32c(0, b, 24) ||
	    (kind != JOURNAL_LOG && kind != JOURNAL_SNAPSHOT)) {
		snprintf(err, errlen, "damaged header (checksum mismatch)");
		return JOURNAL_HDR_CORRUPT;
	}
	h->kind = (enum journal_kind)kind;
	h->generation = get64(b + 16);
	return JOURNAL_HDR_OK;
}

/* Frame one payload into out; -1 for an empty or oversized payload. */
int
journal_entry_encode(unsigned char *out, const char *payload, size_t len)
{
	uint32_t crc;

	if (len == 0 || len > JOURNAL_ENTRY_MAX)
		return -1;
	put32(out, (uint32_t)len);
	crc = journal_crc32c(0, out, 4);
	put32(out + 4, journal_crc32c(crc, payload, len));
	memcpy(out + JOURNAL_ENTRY_HEAD, payload, len);
	return 0;
}

/* Position r at the first entry of a file buffer (after the header). */
void
journal_reader_init(struct journal_reader *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->off = len < JOURNAL_HEADER_SIZE ? len : JOURNAL_HEADER_SIZE;
	r->entries = 0;
}

/* True when an intact entry (bounded length, checksum, AT payload)
 * starts at off; its total size goes to *entry_len, the parsed AT line
 * to *out unless NULL. */
int
journal_entry_at(const unsigned char *buf, size_t len, size_t off,
    size_t *entry_len, struct proto_at *out)
{
	struct proto_at local, *at = out != NULL ? out : &local;
	uint32_t n, crc;

	if (off > len || len - off < JOURNAL_ENTRY_HEAD)
		return 0;
	n = get32(buf + off);
	if (n == 0 || n > JOURNAL_ENTRY_MAX ||
	    len - off - JOURNAL_ENTRY_HEAD < n)
		return 0;
	crc = journal_crc32c(0, buf + off, 4);
	crc = journal_crc32c(crc, buf + off + JOURNAL_ENTRY_HEAD, n);
	if (crc != get32(buf + off + 4))
		return 0;
	if (proto_parse_at((const char *)buf + off + JOURNAL_ENTRY_HEAD, n,
	    at) == -1)
		return 0;
	*entry_len = journal_entry_size(n);
	return 1;
}

/* Return the next intact entry, or 0 at the end or the first bad one. */
int
journal_next(struct journal_reader *r, const char **payload, size_t *len,
    struct proto_at *at)
{
	size_t n;

	if (!journal_entry_at(r->buf, r->len, r->off, &n, at))
		return 0;
	*payload = (const char *)r->buf + r->off + JOURNAL_ENTRY_HEAD;
	*len = n - JOURNAL_ENTRY_HEAD;
	r->off += n;
	r->entries++;
	return 1;
}

/*
 * Classify the bytes from r->off on: clean when there are none; else
 * scan every later offset for an intact entry.  None means a torn tail
 * (a partial write, zeros, a bad checksum at the end); one means damage
 * in the middle, and the valid entries after it are counted as dropped.
 */
void
journal_reader_end(const struct journal_reader *r, struct journal_end *e)
{
	size_t off, n, valid = 0;

	memset(e, 0, sizeof(*e));
	e->cut = r->off;
	e->bytes_dropped = r->len - r->off;
	if (e->bytes_dropped == 0)
		return;
	e->kind = JOURNAL_TORN;
	for (off = r->off + 1; off < r->len; off++) {
		if (!journal_entry_at(r->buf, r->len, off, &n, NULL))
			continue;
		e->kind = JOURNAL_DAMAGED;
		/* Count the run of valid entries that follows. */
		for (valid = 0; journal_entry_at(r->buf, r->len, off, &n, NULL);
		    off += n)
			valid++;
		break;
	}
	e->entries_dropped = (all_zero(r->buf + r->off, e->bytes_dropped) ?
	    0 : 1) + valid;
}
