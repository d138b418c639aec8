/*
 * peer_sync.c -- catch-up sync between neighbours: the whole store
 * streamed a chunk at a time, and the DIGEST exchange that restarts it
 * when two stores differ.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdint.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "herd/log.h"
#include "herd/peer.h"
#include "herd/store.h"
#include "peer_int.h"

/* Begin streaming every record to the peer on c (not while stopping). */
void
peer_sync_start(struct peer_conn *c)
{
	if (c->link->peers->stopping)
		return;
	c->syncing = 1;
	c->cursor = 0;
	c->synced = 0;
	peer_sync_fill(c);
}

/* Queue records until the output holds a chunk; resumed on drain. */
void
peer_sync_fill(struct peer_conn *c)
{
	const struct peers *ps = c->link->peers;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const struct herd_record *r;

	while (evbuffer_get_length(out) < SYNC_CHUNK_BYTES) {
		if ((r = store_next(ps->store, &c->cursor)) == NULL) {
			c->syncing = 0;
			evbuffer_add_printf(out, "SYNCED %zu\n", c->synced);
			log_info("peer %s: sync sent %zu records",
			    c->link->name, c->synced);
			return;
		}
		evbuffer_add(out, record_line(r), r->line_len);
		evbuffer_add(out, "\n", 1);
		c->synced++;
	}
}

/* A neighbour's DIGEST: same records on both sides, nothing to do;
 * otherwise send ours (the peer does the same, so both converge). */
void
peer_sync_digest(struct peer_link *l, unsigned long count, uint64_t digest)
{
	const struct peers *ps = l->peers;
	struct peer_conn *out;

	if (count != store_count(ps->store) ||
	    digest != store_digest(ps->store)) {
		log_info("peer %s: stores differ (%lu records there,"
		    " %zu here): re-sending ours", l->name, count,
		    store_count(ps->store));
		if ((out = peer_link_conn(l)) != NULL && !out->syncing)
			peer_sync_start(out);
	}
}

/* A neighbour's catch-up stream ended with SYNCED count: tell the owner. */
void
peer_sync_received(struct peer_link *l, unsigned long count)
{
	const struct peers *ps = l->peers;

	log_info("peer %s: sync received (%lu records sent; %zu held"
	    " here)", l->name, count, store_count(ps->store));
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
