/*
 * journal.h -- the on-disk framing of the persistence files, as pure
 * functions over byte buffers: no I/O, no clock, no allocation.
 *
 * A file is a 32-byte header followed by entries:
 *
 *	header:	"HERDJRNL" | u32 version | u32 kind | u64 generation |
 *		u32 crc32c(previous 24 bytes) | u32 zero
 *	entry:	u32 length | u32 crc32c(length bytes, payload) | payload
 *
 * All integers are little-endian.  A payload is one record's AT line
 * (no newline); an entry whose payload does not parse as an AT line
 * (proto_parse_at) is corrupt.  length is 1..JOURNAL_ENTRY_MAX; any other
 * value is corruption, never an allocation.  persist.c does the I/O.
 */
#ifndef HERD_JOURNAL_H
#define HERD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "herd/proto.h"

#define JOURNAL_MAGIC		"HERDJRNL"
#define JOURNAL_VERSION		1
#define JOURNAL_HEADER_SIZE	32
#define JOURNAL_ENTRY_HEAD	8		/* length + checksum */
#define JOURNAL_ENTRY_MAX	(2u * 1024 * 1024) /* payload bytes */

enum journal_kind {
	JOURNAL_LOG = 1,	/* append-only log of one generation */
	JOURNAL_SNAPSHOT = 2,	/* compacted live records */
};

struct journal_header {
	uint32_t		 version;
	enum journal_kind	 kind;
	uint64_t		 generation;
};

enum journal_hdr_result {
	JOURNAL_HDR_OK = 0,
	JOURNAL_HDR_SHORT,	/* shorter than a header, or all zeros: torn */
	JOURNAL_HDR_FOREIGN,	/* not our magic: not a herd file */
	JOURNAL_HDR_VERSION,	/* our magic, a version we do not read */
	JOURNAL_HDR_CORRUPT,	/* checksum or kind wrong: damaged */
};

/* How a scanned buffer ends (see journal_reader). */
enum journal_end_kind {
	JOURNAL_CLEAN = 0,	/* every byte was an intact entry */
	JOURNAL_TORN,		/* bad tail with nothing valid after it */
	JOURNAL_DAMAGED,	/* a bad entry with valid entries after it */
};

struct journal_end {
	enum journal_end_kind	 kind;
	size_t			 cut;		/* offset of the first bad byte */
	size_t			 bytes_dropped;	/* len - cut */
	size_t			 entries_dropped; /* bad one + valid after it */
};

/* Iterates the entries of a caller-owned buffer (a whole file). */
struct journal_reader {
	const unsigned char	*buf;
	size_t			 len;
	size_t			 off;		/* next entry */
	size_t			 entries;	/* intact entries returned */
};

/* CRC32C (Castagnoli) of [p, p+len), continuing from crc (start at 0). */
uint32_t	journal_crc32c(uint32_t crc, const void *p, size_t len);
/* The portable table version on the raw (not inverted) CRC register;
 * journal_crc32c uses the CPU's crc32 instruction when it has one, and
 * the unit tests check both agree. */
uint32_t	journal_crc32c_sw(uint32_t reg, const void *p, size_t len);

/* Write a header into out (JOURNAL_HEADER_SIZE bytes). */
void		journal_header_encode(unsigned char *out, enum journal_kind,
		    uint64_t generation);
/* Parse the header at the start of [buf, buf+len); a message saying
 * what is wrong goes to err unless the result is OK. */
enum journal_hdr_result journal_header_parse(const void *buf, size_t len,
		    struct journal_header *, char *err, size_t errlen);

/* Bytes one entry of a len-byte payload takes on disk. */
#define journal_entry_size(len)	((size_t)JOURNAL_ENTRY_HEAD + (len))
/* Frame payload into out (journal_entry_size(len) bytes); -1 when len
 * is 0 or above JOURNAL_ENTRY_MAX. */
int		journal_entry_encode(unsigned char *out, const char *payload,
		    size_t len);

/* Start reading the entries of a file buffer after its header. */
void		journal_reader_init(struct journal_reader *, const void *buf,
		    size_t len);
/* The next intact entry's payload (pointing into the buffer) and, when
 * at is not NULL, the payload parsed as an AT line: 1, or 0 at the end
 * or at the first bad entry (see journal_reader_end()). */
int		journal_next(struct journal_reader *, const char **payload,
		    size_t *len, struct proto_at *at);
/* After journal_next() returned 0: classify what follows r->off. */
void		journal_reader_end(const struct journal_reader *,
		    struct journal_end *);
/* True when an intact entry starts at off of [buf, buf+len); its size
 * goes to *entry_len and its parsed payload to *at (if not NULL). */
int		journal_entry_at(const unsigned char *buf, size_t len,
		    size_t off, size_t *entry_len, struct proto_at *at);

#endif
