/*
 * store.h -- the record store: one record per client id, newest wins.
 *
 * Pure: no I/O, no clock.  A record is one allocation holding the client
 * id and the AT line that announced it; the store owns every record and
 * frees it when replaced or when the store is freed.  Pointers returned
 * by lookups stay valid until the next store_merge() of the same client.
 */
#ifndef HERD_STORE_H
#define HERD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "herd/proto.h"

struct herd_record {
	struct herd_time	 sent;
	uint32_t		 client_len;
	uint32_t		 line_len;
	uint32_t		 order;		/* position in insertion order */
	uint32_t		 bucket;	/* see store_bucket_of() */
	uint32_t		 bnext;		/* its bucket's next: order + 1 */
	char			 data[];	/* client id, then AT line + NUL */
};

/* The client id of a record (not NUL-terminated; see client_len). */
#define record_client(r)	((r)->data)
/* The AT line of a record, NUL-terminated, without newline. */
#define record_line(r)		((r)->data + (r)->client_len)

enum store_result {
	STORE_CHANGED,		/* new client, or newer than what we held */
	STORE_KEPT,		/* identical to the stored record */
	STORE_STALE,		/* the stored record wins; nothing changed */
	STORE_FULL,		/* new client id refused: store at its limit */
	STORE_NOMEM,
};

struct store;

/* A new empty store; seed keys the hash against collision floods. */
struct store	*store_new(uint64_t seed0, uint64_t seed1);
void		 store_free(struct store *);

/* Refuse new client ids once this many are held (0 = no limit). */
void		 store_set_limit(struct store *, size_t max_records);

size_t		 store_count(const struct store *);

/* An order-independent digest of every record's AT line: two stores
 * with the same records (keyed alike) have the same digest. */
uint64_t	 store_digest(const struct store *);

/*
 * Digest buckets, for anti-entropy by difference: a client id's bucket
 * depends on the id alone (a fixed key), so every server puts it in the
 * same one; each bucket's sum of line hashes is kept on every merge.
 * Two stores with equal bucket sums hold the same records there.
 */
#define STORE_BUCKET_BITS	12
#define STORE_BUCKETS		(1u << STORE_BUCKET_BITS)

uint32_t	 store_bucket_of(const char *client, size_t client_len);
/* Bucket b's sum of line hashes; *count (if not NULL) its records. */
uint64_t	 store_bucket_sum(const struct store *, uint32_t b,
		    uint32_t *count);
/* The sum of buckets [first, first + n). */
uint64_t	 store_range_sum(const struct store *, uint32_t first,
		    uint32_t n);
/* Iterate bucket b's records, newest client first: *cursor = 0 to
 * start; NULL at its end.  Resumable across merges (a record added
 * meanwhile may be missed: it goes first). */
const struct herd_record *store_bucket_next(const struct store *,
		    uint32_t b, size_t *cursor);
/* A line's hash under the fixed digest key (what the sums add up). */
uint64_t	 store_line_hash(const char *line, size_t len);

/* The sum of every stored AT line's length (kept on merge). */
size_t		 store_line_bytes(const struct store *);

/* Approximate bytes held by the store (table plus records). */
size_t		 store_bytes(const struct store *);

/* The record for a client id, or NULL. */
const struct herd_record *store_get(const struct store *, const char *client,
		    size_t client_len);

/*
 * Offer a record.  It wins over the stored one when its time_sent is
 * newer, or on equal time_sent when its AT line sorts after the stored
 * one's (a total order, so every server converges on the same record).
 * *out is set to the record held afterwards (NULL on FULL/NOMEM).
 */
enum store_result store_merge(struct store *, const char *client,
		    size_t client_len, const struct herd_time *sent,
		    const char *line, size_t line_len,
		    const struct herd_record **out);

/* Which of two (time, line) versions wins: <0 if a loses, 0 same, >0. */
int		 store_order(const struct herd_time *a_sent, const char *a_line,
		    size_t a_len, const struct herd_time *b_sent,
		    const char *b_line, size_t b_len);

/* Iterate in insertion order: start with *cursor = 0; returns NULL
 * when done.  Safe to resume across event-loop turns and merges: every
 * record present at the start is seen exactly once (in its newest
 * version), and records added meanwhile are seen too. */
const struct herd_record *store_next(const struct store *, size_t *cursor);

#endif
