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
 *
 * Ownership: the owner (the node) allocates struct peers with peers_new()
 * and frees it, with every link and connection, with peers_free().  The
 * peers never change the store: records that arrive go to the owner's
 * record callback, which decides (merges) and floods back through
 * peers_flood().  The owner's name, secrets and store must outlive the
 * peers; the secrets may change in place (reload).  With a secret (and
 * [herd] peer_tls = yes) every connection is TLS 1.3 keyed by it
 * (tls_peer.h) and a plain-text HELLO is refused.
 */
#ifndef HERD_PEER_H
#define HERD_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "herd/auth.h"
#include "herd/config.h"
#include "herd/proto.h"
#include "herd/store.h"

struct event_base;
struct bufferevent;
struct peers;
struct peer_link;	/* one neighbour; opaque: names a record's source */

/* What the peers tell their owner; arg is peers_new()'s. */
struct peer_ops {
	/* An AT line from neighbour `from`: merge it, and flood it (not
	 * back to from) with peers_flood() if it changed the store. */
	void	(*record)(void *arg, struct peer_link *from,
		    const char *client, size_t client_len,
		    const struct herd_time *sent, const char *line,
		    size_t line_len);
	/* A link went up or down, or the set of links changed. */
	void	(*links_changed)(void *arg);
	/* A neighbour's catch-up stream ended (SYNCED). */
	void	(*synced)(void *arg);
	/* Floods were staged: have the end-of-turn flush run. */
	void	(*flush_wanted)(void *arg);
	/* Stopping: some output drained or a connection closed, so the
	 * owner may check whether everything is out. */
	void	(*drained)(void *arg);
};

/* Flood counters (for the SIGUSR1 stats line). */
struct peer_stats {
	uint64_t	flood_in;	/* AT lines received from peers */
	uint64_t	flood_out;	/* AT lines sent to peers */
	uint64_t	sync_out;	/* records sent by catch-ups */
	uint64_t	sync_bytes_out;	/* catch-up bytes: records, sums */
};

/* No links yet: peers_configure() makes them. */
struct peers	*peers_new(struct event_base *, const char *self,
		    const struct auth_keys *, const struct store *,
		    const struct peer_ops *, void *arg);
/* Close every connection and free every link and p. */
void		 peers_free(struct peers *);

/* Make the links match self's neighbours in cfg: new ones dial, removed
 * ones close, moved ones redial; the line limit follows cfg's max_line.
 * cfg is only read during the call. */
void		 peers_configure(struct peers *, const struct herd_config *cfg,
		    const struct herd_server *self);

/* Neighbour links configured, and how many of them are up. */
size_t		 peers_count(const struct peers *);
size_t		 peers_up(const struct peers *);
const struct peer_stats *peers_stats(const struct peers *);
/* Call fn with each configured neighbour's name and 1 when its link is
 * up, else 0 (read only: fn must not change the peers). */
typedef void	(*peers_each_fn)(void *arg, const char *name, int up);
void		 peers_each(const struct peers *, peers_each_fn, void *arg);

/* Stage a changed record for every link up, except `except`; the
 * end-of-turn flush (peers_flush) writes them. */
void		 peers_flood(struct peers *, struct peer_link *except,
		    const struct herd_record *);

/* Hand this turn's floods to each link (one write per link), before the
 * client replies that acknowledge them: straight to the kernel when the
 * link's output is empty, else queued behind what is (a sync chunk, or
 * bytes the kernel would not take). */
void		 peers_flush(struct peers *);

/* SIGTERM: stop queueing catch-up chunks; queued floods still drain,
 * and ops->drained is called as they do. */
void		 peers_stop(struct peers *);

/* Bytes of floods (and sync chunks) not yet handed to the kernel, and
 * while stopping also 1 per connection not yet closed: each connection
 * whose output is out sends FIN and reads until the neighbour's EOF (no
 * reset).  The node stays up (within its grace period) until this is 0. */
size_t		 peers_unsent(const struct peers *);

/* Anti-entropy: send every neighbour our store's digest (DIGEST count
 * hash); a neighbour whose store differs answers by streaming its whole
 * store, and so do we when its digest differs from ours. */
void		 peers_reconcile(struct peers *);

/* A client connection whose first line is HELLO: take it over as an
 * inbound peer connection.  0 = taken (bev now belongs to the link);
 * -1 = refused (logged; the caller answers "?" and closes). */
int		 peers_accept(struct peers *, struct bufferevent *bev,
		    const char *line, size_t len, const char *addr);
/* A client connection whose first byte starts a TLS record: take it
 * over (its socket and the bytes read) as an inbound TLS peer.  0 =
 * taken (bev is freed, now or later); -1 = refused without a secret
 * (logged; the caller closes bev). */
int		 peers_accept_tls(struct peers *, struct bufferevent *bev,
		    const char *addr);

#endif
