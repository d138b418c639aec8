/*
 * store.c -- client records in an open-addressing hash table.
 *
 * Linear probing over a power-of-two table of (hash, record) slots,
 * grown at 3/4 load; the hash sits in the slot so that a probe touches
 * a record only when the full 64-bit hash matches (profiling showed the
 * per-probe record dereference, a cache miss each, dominating).
 * Records are never deleted (a client id, once known, stays known), so
 * probing needs no tombstones.  A second array keeps records
 * in insertion order: iteration walks it, so a catch-up stream that
 * spans many event-loop turns sees every record exactly once even when
 * the table is rehashed meanwhile.  Keys are hashed with SipHash
 * and a per-process random seed so that hostile client ids cannot force
 * collisions.
 *
 * For anti-entropy by difference, every client id also falls into one
 * of STORE_BUCKETS buckets (SipHash under a fixed key: every server puts
 * a client in the same bucket), and each bucket keeps the sum of its
 * records' line hashes and a list of its records, linked through their
 * insertion-order indexes (a replaced record keeps its index, so the
 * links stay valid; a new one goes first, touching only the bucket and
 * itself: no cache miss elsewhere).  Both change only on merge, so a
 * digest exchange never scans the store; the cost is 8 bytes per record
 * (its bucket and link) plus a fixed table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "herd/store.h"

#define STORE_MIN_SLOTS	1024
/* The digest must agree across servers: a fixed key, not the seed. */
#define DIGEST_K0	0x68657264u
#define DIGEST_K1	0x64696765u

struct slot {
	uint64_t		 hash;
	struct herd_record	*r;		/* NULL: empty */
};

struct bucket {
	uint64_t		  sum;		/* of line hashes */
	uint32_t		  count;	/* records */
	uint32_t		  head;		/* order index + 1; 0: empty */
};

struct store {
	struct slot		 *slots;
	struct bucket		 *buckets;	/* STORE_BUCKETS */
	size_t			  nslots;	/* power of two */
	struct herd_record	**order;	/* by first insertion */
	size_t			  order_cap;
	size_t			  count;
	size_t			  limit;	/* 0 = unlimited */
	size_t			  record_bytes;
	uint64_t		  digest;	/* sum of line hashes */
	size_t			  line_bytes;	/* sum of line_len */
	uint64_t		  k0, k1;
};

static uint64_t	siphash(uint64_t, uint64_t, const void *, size_t);
static size_t	find_slot(const struct store *, const char *, size_t,
		    uint64_t);
static int	grow(struct store *);
static struct herd_record *record_new(const char *, size_t,
		    const struct herd_time *, const char *, size_t);

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

/* SipHash-2-4 of buf under the key (k0, k1). */
static uint64_t
siphash(uint64_t k0, uint64_t k1, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, tail = len & 7;

	for (; len >= 8; len -= 8, p += 8) {
		m = 0;
		for (i = 0; i < 8; i++)
			m |= (uint64_t)p[i] << (8 * i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < tail; i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Allocate an empty store of STORE_MIN_SLOTS slots, hashing keys under
 * (seed0, seed1); NULL when out of memory. */
struct store *
store_new(uint64_t seed0, uint64_t seed1)
{
	struct store *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->nslots = STORE_MIN_SLOTS;
	s->order_cap = STORE_MIN_SLOTS;
	if ((s->slots = calloc(s->nslots, sizeof(*s->slots))) == NULL ||
	    (s->order = calloc(s->order_cap, sizeof(*s->order))) == NULL ||
	    (s->buckets = calloc(STORE_BUCKETS, sizeof(*s->buckets))) ==
	    NULL) {
		free(s->order);
		free(s->slots);
		free(s);
		return NULL;
	}
	s->k0 = seed0;
	s->k1 = seed1;
	return s;
}

/* Free every record, both arrays and s itself; NULL is ignored. */
void
store_free(struct store *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->count; i++)
		free(s->order[i]);
	free(s->buckets);
	free(s->order);
	free(s->slots);
	free(s);
}

/* Set how many client ids s accepts before STORE_FULL (0: no limit). */
void
store_set_limit(struct store *s, size_t max_records)
{
	s->limit = max_records;
}

/* Return the number of records (distinct client ids) held. */
size_t
store_count(const struct store *s)
{
	return s->count;
}

/* Return the sum of every stored AT line's SipHash under a fixed key. */
uint64_t
store_digest(const struct store *s)
{
	return s->digest;
}

/* Approximate bytes held: struct, slot and order arrays, and records. */
size_t
store_bytes(const struct store *s)
{
	return sizeof(*s) + s->nslots * sizeof(*s->slots) +
	    s->order_cap * sizeof(*s->order) + s->record_bytes +
	    STORE_BUCKETS * sizeof(*s->buckets);
}

/* The sum of every record's AT line length. */
size_t
store_line_bytes(const struct store *s)
{
	return s->line_bytes;
}

/* The bucket of a client id: the same on every server. */
uint32_t
store_bucket_of(const char *client, size_t len)
{
	return (uint32_t)(siphash(DIGEST_K0, DIGEST_K1, client, len) >>
	    (64 - STORE_BUCKET_BITS));
}

/* The sum of bucket b's line hashes (0 when empty), and its count. */
uint64_t
store_bucket_sum(const struct store *s, uint32_t b, uint32_t *count)
{
	const struct bucket *k = &s->buckets[b % STORE_BUCKETS];

	if (count != NULL)
		*count = k->count;
	return k->sum;
}

/* The sum over buckets [first, first + n) (a range of the digest tree). */
uint64_t
store_range_sum(const struct store *s, uint32_t first, uint32_t n)
{
	uint64_t sum = 0;
	uint32_t b;

	for (b = first; b < first + n && b < STORE_BUCKETS; b++)
		sum += s->buckets[b].sum;
	return sum;
}

/* The next record of bucket b from *cursor (0 to start), or NULL at its
 * end; *cursor is the next record's order index + 1, SIZE_MAX at the
 * end.  Resumable across merges: a replaced record keeps its place. */
const struct herd_record *
store_bucket_next(const struct store *s, uint32_t b, size_t *cursor)
{
	const struct herd_record *r;
	size_t at = *cursor == 0 ? s->buckets[b % STORE_BUCKETS].head :
	    *cursor;

	if (*cursor == SIZE_MAX || at == 0) {
		*cursor = SIZE_MAX;
		return NULL;
	}
	r = s->order[at - 1];
	*cursor = r->bnext != 0 ? r->bnext : SIZE_MAX;
	return r;
}

/* The SipHash of a record's AT line under the fixed digest key: what
 * the digests sum, and the record's fingerprint in a bucket exchange. */
uint64_t
store_line_hash(const char *line, size_t len)
{
	return siphash(DIGEST_K0, DIGEST_K1, line, len);
}

/* The slot holding client, or the empty slot where it would go. */
static size_t
find_slot(const struct store *s, const char *client, size_t len, uint64_t h)
{
	size_t mask = s->nslots - 1, i = (size_t)h & mask;
	const struct slot *sl;

	while ((sl = &s->slots[i])->r != NULL) {
		if (sl->hash == h && sl->r->client_len == len &&
		    memcmp(record_client(sl->r), client, len) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

/* Double the table; -1 when out of memory (the old table stays). */
static int
grow(struct store *s)
{
	struct slot *old = s->slots, *nslots;
	size_t oldn = s->nslots, i, j, mask;

	if ((nslots = calloc(oldn * 2, sizeof(*nslots))) == NULL)
		return -1;
	mask = oldn * 2 - 1;
	for (i = 0; i < oldn; i++) {
		if (old[i].r == NULL)
			continue;
		j = (size_t)old[i].hash & mask;
		while (nslots[j].r != NULL)
			j = (j + 1) & mask;
		nslots[j] = old[i];
	}
	s->slots = nslots;
	s->nslots = oldn * 2;
	free(old);
	return 0;
}

/* Return the record held for client, or NULL. */
const struct herd_record *
store_get(const struct store *s, const char *client, size_t len)
{
	uint64_t h = siphash(s->k0, s->k1, client, len);

	return s->slots[find_slot(s, client, len, h)].r;
}

/* Compare two versions: the later time_sent wins, then the AT line that
 * sorts after byte-wise (a prefix first); <0 when a loses. */
int
store_order(const struct herd_time *a_sent, const char *a_line, size_t a_len,
    const struct herd_time *b_sent, const char *b_line, size_t b_len)
{
	int c;

	if ((c = time_cmp(a_sent, b_sent)) != 0)
		return c;
	c = memcmp(a_line, b_line, a_len < b_len ? a_len : b_len);
	if (c != 0)
		return c;
	return a_len < b_len ? -1 : a_len > b_len;
}

/* Allocate a record: client id, then the AT line and a NUL, in one block. */
static struct herd_record *
record_new(const char *client, size_t clen, const struct herd_time *sent,
    const char *line, size_t llen)
{
	struct herd_record *r;

	if ((r = malloc(sizeof(*r) + clen + llen + 1)) == NULL)
		return NULL;
	r->sent = *sent;
	r->client_len = (uint32_t)clen;
	r->line_len = (uint32_t)llen;
	memcpy(r->data, client, clen);
	memcpy(r->data + clen, line, llen);
	r->data[clen + llen] = '\0';
	return r;
}

/*
 * Insert client's record or replace it when the offered version wins,
 * keeping the digest, byte count and insertion order; refused when full or
 * out of memory.
 */
enum store_result
store_merge(struct store *s, const char *client, size_t clen,
    const struct herd_time *sent, const char *line, size_t llen,
    const struct herd_record **out)
{
	uint64_t h = siphash(s->k0, s->k1, client, clen), lh;
	size_t i = find_slot(s, client, clen, h);
	struct herd_record *old = s->slots[i].r, *r;
	struct bucket *k;
	uint32_t b;
	int c;

	*out = old;
	if (old != NULL) {
		c = store_order(sent, line, llen, &old->sent,
		    record_line(old), old->line_len);
		if (c == 0)
			return STORE_KEPT;
		if (c < 0)
			return STORE_STALE;
	} else {
		if (s->limit != 0 && s->count >= s->limit)
			return STORE_FULL;
		/* Grow before inserting; a failed grow only makes the table
		 * fuller, but it must keep one empty slot for probing. */
		if ((s->count + 1) * 4 > s->nslots * 3) {
			if (grow(s) == 0)
				i = find_slot(s, client, clen, h);
			else if (s->count + 2 >= s->nslots)
				return STORE_NOMEM;
		}
		if (s->count == s->order_cap) {
			size_t cap = s->order_cap * 2;
			struct herd_record **o;

			if ((o = realloc(s->order, cap * sizeof(*o))) == NULL)
				return STORE_NOMEM;
			s->order = o;
			s->order_cap = cap;
		}
	}
	b = old != NULL ? old->bucket : store_bucket_of(client, clen);
	k = &s->buckets[b];
	if ((r = record_new(client, clen, sent, line, llen)) == NULL)
		return STORE_NOMEM;
	r->bucket = b;
	if (old != NULL) {
		r->order = old->order;
		r->bnext = old->bnext;
		lh = store_line_hash(record_line(old), old->line_len);
		s->digest -= lh;
		k->sum -= lh;
		s->record_bytes -= sizeof(*old) + old->client_len +
		    old->line_len + 1;
		s->line_bytes -= old->line_len;
		free(old);
	} else {
		r->order = (uint32_t)s->count++;
		r->bnext = k->head;
		k->head = r->order + 1;
		k->count++;
	}
	lh = store_line_hash(line, llen);
	s->digest += lh;
	k->sum += lh;
	s->order[r->order] = r;
	s->record_bytes += sizeof(*r) + clen + llen + 1;
	s->line_bytes += llen;
	s->slots[i].hash = h;
	s->slots[i].r = r;
	*out = r;
	return STORE_CHANGED;
}

/* Return the next record in insertion order, advancing *cursor; NULL at end. */
const struct herd_record *
store_next(const struct store *s, size_t *cursor)
{
	if (*cursor >= s->count)
		return NULL;
	return s->order[(*cursor)++];
}
