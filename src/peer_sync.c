/*
 * peer_sync.c -- catch-up between neighbours.  herd/1 streams the whole
 * store a chunk at a time.  herd/2 sends only what differs: the two
 * sides walk the tree of digest buckets down from the root (SUMS), a
 * level per round trip, compare the fingerprints of each bucket that
 * differs (PRINTS), and each sends the records the other lacks; a
 * subtree empty on one side is streamed whole to it.  Fingerprints and
 * whole buckets are queued (bitmaps of buckets) and sent a chunk at a
 * time behind live floods, like the herd/1 stream.  DIGEST, every reconcile_s, restarts either when
 * the stores differ.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "herd/log.h"
#include "herd/peer.h"
#include "herd/proto.h"
#include "herd/store.h"
#include "peer_int.h"

_Static_assert(PROTO_BUCKETS == STORE_BUCKETS, "one bucket numbering");

/* A bucket with more records than this is sent whole, not compared
 * record by record (the fingerprints would cost as much). */
#define PRINTS_MAX	65536

/* "record" or "records" after a count. */
#define RECORDS(n)	log_plural((n), "record", "records")

/* The neighbour's fingerprints of one bucket, as its PRINTS lines come. */
struct sync_prints {
	uint32_t	 bucket;
	unsigned long	 total;
	unsigned long	 got;
	int		 whole;		/* too many: send the bucket whole */
	uint64_t	 fp[];
};

static void	full_fill(struct peer_conn *);
static void	push_fill(struct peer_conn *);
static void	push_mark(struct peer_conn *, uint32_t, uint32_t);
static void	ask_mark(struct peer_conn *, uint32_t);
static void	queue_started(struct peer_conn *, uint32_t);
static int	bit_set(unsigned char *, uint32_t);
static int	bit_clear(unsigned char *, uint32_t);
static void	send_line(struct peer_conn *, const char *, size_t);
static void	send_record(struct peer_conn *, const struct herd_record *);
static void	send_sums(struct peer_conn *, unsigned, unsigned long);
static void	send_prints(struct peer_conn *, uint32_t);
static void	on_sums(struct peer_conn *, const struct proto_sums *);
static int	on_prints(struct peer_conn *, const struct proto_prints *);
static void	answer_prints(struct peer_conn *, struct sync_prints *);
static int	cmp_u64(const void *, const void *);

/* Forget any catch-up state of c (a new or closed connection). */
void
peer_sync_reset(struct peer_conn *c)
{
	c->syncing = 0;
	c->cursor = 0;
	c->synced = 0;
	c->sent_root = 0;
	c->pushed = 0;
	memset(c->push, 0, sizeof(c->push));
	c->push_left = 0;
	c->push_bucket = 0;
	memset(c->ask, 0, sizeof(c->ask));
	c->ask_left = 0;
	c->ask_bucket = 0;
	peer_sync_reset_prints(c);
}

/* Drop the half-received PRINTS of c, if any. */
void
peer_sync_reset_prints(struct peer_conn *c)
{
	free(c->prints);
	c->prints = NULL;
}

/* Begin a catch-up on c (not while stopping): herd/1 streams every
 * record; herd/2 sends the root of its digest tree. */
void
peer_sync_start(struct peer_conn *c)
{
	if (c->link->peers->stopping)
		return;
	if (c->version == 2) {
		send_sums(c, 0, 0);
		c->sent_root = 1;
		return;
	}
	c->syncing = 1;
	c->cursor = 0;
	c->synced = 0;
	peer_sync_fill(c);
}

/* Queue records until the output holds a chunk; resumed on drain. */
void
peer_sync_fill(struct peer_conn *c)
{
	if (c->version == 2)
		push_fill(c);
	else
		full_fill(c);
}

/* herd/1: the next chunk of the whole store, then SYNCED. */
static void
full_fill(struct peer_conn *c)
{
	const struct peers *ps = c->link->peers;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const struct herd_record *r;

	while (evbuffer_get_length(out) < SYNC_CHUNK_BYTES) {
		if ((r = store_next(ps->store, &c->cursor)) == NULL) {
			c->syncing = 0;
			evbuffer_add_printf(out, "SYNCED %zu\n", c->synced);
			log_info("peer %s: sync sent %zu %s",
			    c->link->name, c->synced, RECORDS(c->synced));
			return;
		}
		send_record(c, r);
		c->synced++;
	}
}

/* herd/2: the next chunk of what is queued: fingerprints first (small,
 * and the neighbour's answers depend on them), then the buckets to be
 * sent whole; SYNCED once nothing is left. */
static void
push_fill(struct peer_conn *c)
{
	const struct peers *ps = c->link->peers;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const struct herd_record *r;
	uint32_t b;

	while (evbuffer_get_length(out) < SYNC_CHUNK_BYTES) {
		if (c->ask_left > 0) {
			b = c->ask_bucket;
			c->ask_bucket = (b + 1) % PROTO_BUCKETS;
			if (bit_clear(c->ask, b)) {
				c->ask_left--;
				send_prints(c, b);
			}
			continue;
		}
		if (c->push_left == 0)
			break;
		b = c->push_bucket;
		if (!(c->push[b / 8] & (1u << (b % 8)))) {
			c->push_bucket = (b + 1) % PROTO_BUCKETS;
			c->cursor = 0;
			continue;
		}
		if ((r = store_bucket_next(ps->store, b, &c->cursor)) !=
		    NULL) {
			send_record(c, r);
			c->synced++;
			continue;
		}
		(void)bit_clear(c->push, b);
		c->push_left--;
	}
	if (c->push_left == 0 && c->ask_left == 0 && c->syncing) {
		/* A stream of whole buckets ends like herd/1's; the many
		 * small exchanges of fingerprints do not clutter the log. */
		c->syncing = 0;
		if (c->pushed) {
			evbuffer_add_printf(out, "SYNCED %zu\n", c->synced);
			log_info("peer %s: sync sent %zu %s (by"
			    " difference)", c->link->name, c->synced,
			    RECORDS(c->synced));
		} else
			log_debug("peer %s: sync sent %zu %s (by"
			    " difference)", c->link->name, c->synced,
			    RECORDS(c->synced));
		c->synced = 0;
		c->pushed = 0;
	}
}

/* Set bit b of map; 1 when it was clear. */
static int
bit_set(unsigned char *map, uint32_t b)
{
	if (map[b / 8] & (1u << (b % 8)))
		return 0;
	map[b / 8] |= (unsigned char)(1u << (b % 8));
	return 1;
}

/* Clear bit b of map; 1 when it was set. */
static int
bit_clear(unsigned char *map, uint32_t b)
{
	if (!(map[b / 8] & (1u << (b % 8))))
		return 0;
	map[b / 8] &= (unsigned char)~(1u << (b % 8));
	return 1;
}

/* Note that c has catch-up work queued (fill sends it). */
static void
queue_started(struct peer_conn *c, uint32_t first)
{
	if (c->syncing)
		return;
	c->syncing = 1;
	c->synced = 0;
	c->cursor = 0;
	c->push_bucket = first;
}

/* Mark buckets [first, first + n) to be sent whole. */
static void
push_mark(struct peer_conn *c, uint32_t first, uint32_t n)
{
	uint32_t b;

	queue_started(c, first);
	c->pushed = 1;
	for (b = first; b < first + n; b++)
		if (bit_set(c->push, b))
			c->push_left++;
}

/* Queue our fingerprints of bucket b. */
static void
ask_mark(struct peer_conn *c, uint32_t b)
{
	queue_started(c, b);
	if (bit_set(c->ask, b))
		c->ask_left++;
}

/* Queue one catch-up line (sums or prints), counted. */
static void
send_line(struct peer_conn *c, const char *p, size_t len)
{
	struct peers *ps = c->link->peers;

	evbuffer_add(bufferevent_get_output(c->bev), p, len);
	ps->stats.sync_bytes_out += len;
}

/* Queue one record's AT line, counted. */
static void
send_record(struct peer_conn *c, const struct herd_record *r)
{
	struct peers *ps = c->link->peers;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add(out, record_line(r), r->line_len);
	evbuffer_add(out, "\n", 1);
	ps->stats.sync_out++;
	ps->stats.sync_bytes_out += r->line_len + 1;
}

/* Buckets under one child of a node at level (16^-(level+1) of all). */
static uint32_t
child_width(unsigned level)
{
	uint32_t w = PROTO_BUCKETS;
	unsigned i;

	for (i = 0; i <= level; i++)
		w /= PROTO_FANOUT;
	return w;
}

/* Send "SUMS level index": our sums of that node's 16 children. */
static void
send_sums(struct peer_conn *c, unsigned level, unsigned long index)
{
	const struct store *st = c->link->peers->store;
	struct proto_sums s;
	char buf[PROTO_SYNC_LINE_MAX];
	uint32_t w = child_width(level), i;
	size_t n;

	s.level = level;
	s.index = index;
	for (i = 0; i < PROTO_FANOUT; i++)
		s.sum[i] = store_range_sum(st, (uint32_t)(index *
		    PROTO_FANOUT + i) * w, w);
	n = proto_format_sums(buf, sizeof(buf), &s);
	send_line(c, buf, n);
}

/* Send PRINTS lines: the fingerprints of our records in bucket b. */
static void
send_prints(struct peer_conn *c, uint32_t b)
{
	const struct store *st = c->link->peers->store;
	const struct herd_record *r;
	struct proto_prints pr;
	char buf[PROTO_SYNC_LINE_MAX];
	uint32_t count;
	size_t cur = 0;

	(void)store_bucket_sum(st, b, &count);
	pr.bucket = b;
	pr.total = count;
	pr.n = 0;
	while ((r = store_bucket_next(st, b, &cur)) != NULL) {
		pr.fp[pr.n++] = store_line_hash(record_line(r), r->line_len);
		if (pr.n == PROTO_FANOUT) {
			send_line(c, buf, proto_format_prints(buf, sizeof(buf),
			    &pr));
			pr.n = 0;
		}
	}
	if (pr.n > 0 || count == 0)
		send_line(c, buf, proto_format_prints(buf, sizeof(buf), &pr));
}

/*
 * Their sums of node (level, index)'s children against ours.  Equal:
 * nothing to do.  Empty here: they send it to us.  Empty there: we send
 * it whole.  Else descend (our SUMS of the child), or at a bucket
 * compare fingerprints (our PRINTS).  The root is answered with our
 * root first, unless it answers ours: so both sides always descend.
 */
static void
on_sums(struct peer_conn *c, const struct proto_sums *s)
{
	const struct store *st = c->link->peers->store;
	uint32_t w = child_width(s->level), first, i;
	uint64_t ours;

	if (s->level == 0) {
		if (!c->sent_root)
			send_sums(c, 0, 0);
		c->sent_root = 0;
	}
	for (i = 0; i < PROTO_FANOUT; i++) {
		first = (uint32_t)(s->index * PROTO_FANOUT + i) * w;
		ours = store_range_sum(st, first, w);
		if (ours == s->sum[i] || ours == 0)
			continue;
		if (s->sum[i] == 0)
			push_mark(c, first, w);
		else if (s->level + 1 < PROTO_SUM_LEVELS)
			send_sums(c, s->level + 1, s->index * PROTO_FANOUT + i);
		else
			ask_mark(c, first);
	}
	if (c->syncing)
		push_fill(c);
}

/* One PRINTS line: gather a bucket's fingerprints, then answer; -1 on a
 * line that does not continue what came before. */
static int
on_prints(struct peer_conn *c, const struct proto_prints *pr)
{
	struct sync_prints *sp = c->prints;
	size_t n;

	if (sp != NULL && (sp->bucket != pr->bucket || sp->total != pr->total))
		return -1;
	if (sp == NULL) {
		n = pr->total > PRINTS_MAX ? 0 : pr->total;
		if ((sp = calloc(1, sizeof(*sp) + n * sizeof(sp->fp[0]))) ==
		    NULL) {
			log_warn("peer %s: calloc", c->link->name);
			return -1;
		}
		sp->bucket = (uint32_t)pr->bucket;
		sp->total = pr->total;
		sp->whole = pr->total > PRINTS_MAX;
		c->prints = sp;
	}
	if (pr->n > sp->total - sp->got)
		return -1;
	if (!sp->whole)
		memcpy(sp->fp + sp->got, pr->fp, pr->n * sizeof(pr->fp[0]));
	sp->got += pr->n;
	if (sp->got == sp->total) {
		c->prints = NULL;
		answer_prints(c, sp);
		free(sp);
	}
	return 0;
}

/* Send our records of the bucket whose fingerprints they lack. */
static void
answer_prints(struct peer_conn *c, struct sync_prints *sp)
{
	const struct store *st = c->link->peers->store;
	const struct herd_record *r;
	uint64_t fp;
	size_t cur = 0;

	if (sp->whole) {
		push_mark(c, sp->bucket, 1);
		push_fill(c);
		return;
	}
	qsort(sp->fp, sp->total, sizeof(sp->fp[0]), cmp_u64);
	while ((r = store_bucket_next(st, sp->bucket, &cur)) != NULL) {
		fp = store_line_hash(record_line(r), r->line_len);
		if (bsearch(&fp, sp->fp, sp->total, sizeof(fp), cmp_u64) ==
		    NULL) {
			send_record(c, r);
			c->synced++;
		}
	}
}

/* qsort/bsearch order of two u64. */
static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A SUMS or PRINTS line from the neighbour on c: 1 when handled, 0 when
 * it is neither, -1 when c was dropped (herd/2 lines on a herd/1
 * connection, or PRINTS that do not add up). */
int
peer_sync_line(struct peer_conn *c, const char *p, size_t len)
{
	struct proto_sums s;
	struct proto_prints pr;
	int is_sums;

	if ((is_sums = proto_parse_sums(p, len, &s) == 0) == 0 &&
	    proto_parse_prints(p, len, &pr) == -1)
		return 0;
	if (c->version != 2) {
		log_warnx("peer %s: herd/2 catch-up line on a herd/1"
		    " connection", c->link->name);
		peer_conn_drop(c, "protocol error");
		return -1;
	}
	if (c->link->peers->stopping)
		return 1;
	if (is_sums) {
		peer_sync_reset_prints(c);
		on_sums(c, &s);
	} else if (on_prints(c, &pr) == -1) {
		log_warnx("peer %s: PRINTS for bucket %lu do not add up",
		    c->link->name, pr.bucket);
		peer_conn_drop(c, "protocol error");
		return -1;
	}
	return 1;
}

/* A neighbour's DIGEST: same records on both sides, nothing to do;
 * otherwise catch up (the peer does the same, so both converge). */
void
peer_sync_digest(struct peer_link *l, unsigned long count, uint64_t digest)
{
	const struct peers *ps = l->peers;
	struct peer_conn *out;

	if (count != store_count(ps->store) ||
	    digest != store_digest(ps->store)) {
		if ((out = peer_link_conn(l)) == NULL || out->syncing)
			return;
		log_info("peer %s: stores differ (%lu %s there,"
		    " %zu here): %s", l->name, count, RECORDS(count),
		    store_count(ps->store),
		    out->version == 2 ? "comparing digests" :
		    "re-sending ours");
		peer_sync_start(out);
	}
}

/* A neighbour's catch-up stream ended with SYNCED count: tell the owner. */
void
peer_sync_received(struct peer_link *l, unsigned long count)
{
	const struct peers *ps = l->peers;

	log_info("peer %s: sync received (%lu %s sent; %zu held"
	    " here)", l->name, count, RECORDS(count), store_count(ps->store));
	ps->ops->synced(ps->arg);
}

/* Send our store's "DIGEST count hash" on every up link not syncing. */
void
peers_reconcile(struct peers *ps)
{
	struct peer_conn *c;
	size_t i;

	for (i = 0; i < ps->nlinks; i++)
		if ((c = peer_link_conn(ps->links[i])) != NULL && !c->syncing)
			evbuffer_add_printf(bufferevent_get_output(c->bev),
			    "DIGEST %zu %016llx\n", store_count(ps->store),
			    (unsigned long long)store_digest(ps->store));
}
