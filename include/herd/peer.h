/*
 * peer.h -- links to neighbour servers: dial, handshake, flood, sync.
 *
 * Every node dials every neighbour and also accepts the neighbour's own
 * dial, so a link has up to two connections; it is up while either is.
 * Records go out on one of them (outbound preferred).  When a link comes
 * up, each side streams its whole store to the other in chunks, so a
 * restarted or reconnected node catches up by itself.
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

/* Write this turn's floods (one write per link), before the client
 * replies that acknowledge them: an acknowledged record has left this
 * process even if it is killed the next instant. */
void		 peer_flush(struct node *);

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
