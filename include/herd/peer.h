/*
 * peer.h -- links to neighbour servers: dial, handshake, flood, sync.
 *
 * Every node dials every neighbour and also accepts the neighbour's own
 * dial, so a link has up to two connections; it is up while either is.
 * Records go out on one of them (the one authenticated last).  Each
 * connection that completes its handshake gets the whole store, streamed
 * in chunks, even when the link was up already, so a restarted or
 * reconnected node catches up by itself however its old connection ended.
 * An inbound handshake replaces the link's inbound connection only once
 * its proof checks out; until then it waits on a bounded list of its own.
 */
#ifndef HERD_PEER_H
#define HERD_PEER_H

#include <stddef.h>

#include "herd/config.h"
#include "herd/store.h"

struct node;
struct peer_link;
struct bufferevent;

/* A link to neighbour srv; starts dialling at once. */
struct peer_link *peer_link_new(struct node *, const struct herd_server *srv);
/* Close both connections and free the link. */
void		 peer_link_free(struct peer_link *);
/* Apply a reloaded neighbour entry (redials if its address changed). */
void		 peer_link_update(struct peer_link *,
		    const struct herd_server *srv);
const char	*peer_link_name(const struct peer_link *);
int		 peer_link_is_up(const struct peer_link *);

/* Stage a changed record for every link up, except `except`; the
 * end-of-turn flush (node_schedule_flush) writes them. */
void		 peer_flood(struct node *, struct peer_link *except,
		    const struct herd_record *);

/* Hand this turn's floods to each link (one write per link), before the
 * client replies that acknowledge them: straight to the kernel when the
 * link's output is empty, else queued behind what is (a sync chunk, or
 * bytes the kernel would not take). */
void		 peer_flush(struct node *);

/* SIGTERM: stop queueing catch-up chunks; queued floods still drain. */
void		 peer_stop(struct node *);

/* Bytes of floods (and sync chunks) not yet handed to the kernel; the
 * node stays up (within its grace period) until this is 0. */
size_t		 peer_unsent(const struct node *);

/* Anti-entropy: send every neighbour our store's digest (DIGEST count
 * hash); a neighbour whose store differs answers by streaming its whole
 * store, and so do we when its digest differs from ours. */
void		 peer_reconcile(struct node *);

/* A client connection whose first line is HELLO: take it over as an
 * inbound peer connection.  0 = taken (bev now belongs to the link);
 * -1 = refused (logged; the caller answers "?" and closes). */
int		 peer_accept(struct node *, struct bufferevent *bev,
		    const char *line, size_t len, const char *addr);

#endif
