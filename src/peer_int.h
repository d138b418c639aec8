/*
 * peer_int.h -- private to the peer link files (peer.c, peer_handshake.c,
 * peer_sync.c): the link table, its connections and the calls between them.
 */
#ifndef HERD_PEER_INT_H
#define HERD_PEER_INT_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "herd/auth.h"
#include "herd/config.h"
#include "herd/peer.h"
#include "herd/proto.h"
#include "herd/tls_peer.h"

#define HANDSHAKE_TIMEOUT_S	5
/* A catch-up stream is queued a chunk at a time behind live floods, so
 * a flood waits for at most one chunk. */
#define SYNC_CHUNK_BYTES	(64 * 1024)
#define SYNC_LOW_WATER		(16 * 1024)

enum conn_state {
	CONN_IDLE,
	CONN_CONNECTING,
	CONN_HANDSHAKE,		/* dialer: waiting for WELCOME;
				 * acceptor: waiting for AUTH */
	CONN_UP,
	CONN_LINGER,		/* stopping: our FIN sent, reading to their EOF */
};

/*
 * One connection of a link.  out and in are part of the link; an inbound
 * handshake lives in its own peer_conn on link->pending (allocated by
 * peers_accept, freed by peer_pending_free) until its AUTH proves the secret;
 * only then does its socket move into link->in, replacing the old one.
 */
struct peer_conn {
	struct peer_link	*link;
	struct bufferevent	*bev;
	enum conn_state		 state;
	int			 outbound;
	int			 pending;	/* on link->pending */
	int			 tls;		/* bev speaks TLS */
	int			 broken;	/* TLS failed: no close_notify */
	const struct auth_secret *key;		/* proofs; NULL: no secret */
	char			 addr[HERD_ADDR_MAX + 16];	/* for logs */
	TAILQ_ENTRY(peer_conn)	 entry;
	char			 nonce[AUTH_NONCE_HEX + 1];	/* ours */
	char			 peer_nonce[AUTH_NONCE_HEX + 1];
	int			 version;	/* 1 or 2: as agreed */
	int			 syncing;	/* streaming records */
	size_t			 cursor;	/* store_next() position */
	size_t			 synced;	/* records sent by the sync */
	/* herd/2 (peer_sync.c): the catch-up by difference. */
	int			 sent_root;	/* our SUMS 0 0 awaits theirs */
	unsigned char		 push[PROTO_BUCKETS / 8]; /* send whole */
	unsigned		 push_left;	/* bits set in push */
	int			 pushed;	/* whole buckets since SYNCED */
	uint32_t		 push_bucket;	/* the one being sent */
	unsigned char		 ask[PROTO_BUCKETS / 8]; /* PRINTS to send */
	unsigned		 ask_left;	/* bits set in ask */
	uint32_t		 ask_bucket;	/* where the next search starts */
	struct sync_prints	*prints;	/* theirs, being received */
};

/* An accepted TLS connection whose handshake (or first line) is not done
 * yet: its identity names the link only once the handshake is over. */
struct tls_accept {
	struct peers		*peers;
	struct bufferevent	*bev;
	char			 addr[HERD_ADDR_MAX + 16];
	TAILQ_ENTRY(tls_accept)	 entry;
};

/* The links of one node, in the order of its config's neighbours. */
struct peers {
	struct event_base	*base;
	char			 name[HERD_NAME_MAX + 1];	/* ours */
	size_t			 name_len;
	const struct auth_keys	*keys;		/* the owner's; n 0: none */
	struct tls_peer_ctx	*tls_ctx;
	int			 tls;		/* peer_tls: dial TLS, no plain */
	TAILQ_HEAD(, tls_accept) tls_pending;	/* handshakes of no link yet */
	size_t			 ntls_pending;
	const struct store	*store;		/* the owner's, read only */
	const struct peer_ops	*ops;
	void			*arg;
	struct peer_link	**links;	/* one per neighbour */
	size_t			  nlinks;
	size_t			  line_max;	/* longest peer line */
	int			  version;	/* highest we speak: 1 or 2 */
	int			  stopping;	/* peers_stop() was called */
	struct peer_stats	  stats;
};

struct peer_link {
	struct peers		*peers;
	char			 name[HERD_NAME_MAX + 1];
	char			 host[HERD_ADDR_MAX];
	uint16_t		 port;
	struct peer_conn	 out;		/* our dial */
	struct peer_conn	 in;		/* their dial */
	struct peer_conn	*tx;		/* &out or &in: the last one up */
	TAILQ_HEAD(, peer_conn)	 pending;	/* unproven inbound handshakes */
	size_t			 npending;
	struct event		*redial;
	struct evbuffer		*staged;	/* floods of this loop turn */
	unsigned		 backoff_ms;
	int			 dial_version;	/* what the next dial offers */
	size_t			 dial_key;	/* the secret it dials with */
	int			 up;		/* as last logged */
};

/* peer.c: the links and their connections. */
struct peer_conn *peer_link_conn(struct peer_link *);
void	peer_conn_attach(struct peer_conn *, struct bufferevent *);
void	peer_conn_close(struct peer_conn *, const char *);
void	peer_conn_drop(struct peer_conn *, const char *);
void	peer_conn_up(struct peer_conn *);
void	peer_conn_read_cb(struct bufferevent *, void *);

/* peer_handshake.c: HELLO / WELCOME / AUTH, and TLS accepts. */
int	peer_conn_handshake(struct peer_conn *, const char *, size_t);
void	peer_pending_free(struct peer_conn *, const char *);
void	peer_tls_accept_free(struct tls_accept *, const char *);
const char *peer_bev_error(struct bufferevent *, short, int, char *, size_t);

/* peer_sync.c: catch-up streams and digests. */
void	peer_sync_start(struct peer_conn *);
void	peer_sync_fill(struct peer_conn *);
void	peer_sync_digest(struct peer_link *, unsigned long, uint64_t);
void	peer_sync_received(struct peer_link *, unsigned long);
int	peer_sync_line(struct peer_conn *, const char *, size_t);
void	peer_sync_reset(struct peer_conn *);
void	peer_sync_reset_prints(struct peer_conn *);

#endif /* HERD_PEER_INT_H */
