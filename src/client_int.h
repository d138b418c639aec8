/*
 * client_int.h -- private to the client session files (client.c,
 * client_reply.c): a session, the session set, and the calls between
 * them.
 */
#ifndef HERD_CLIENT_INT_H
#define HERD_CLIENT_INT_H

#include <sys/queue.h>
#include <arpa/inet.h>		/* INET6_ADDRSTRLEN */

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "herd/client.h"
#include "herd/places.h"

/* The next bytes of a client's held replies, which wait until entries
 * up to seq are durable. */
struct hold_mark {
	size_t			 bytes;
	uint64_t		 seq;
};

struct client {
	TAILQ_ENTRY(client)	 entry;
	struct clients		*clients;
	struct bufferevent	*bev;
	uint64_t		 id;
	char			 addr[INET6_ADDRSTRLEN + 8];
	int			 eof;		/* client half-closed */
	int			 closing;	/* close once output drains */
	int			 first_line;	/* may still be a peer HELLO */
	int			 became_peer;	/* handed to the peers: its
						 * end is the link's, not ours */
	int			 tls;		/* on the tls_port */
	int			 handshaking;	/* TLS handshake not done */
	int			 probation;	/* on clients->probation */
	time_t			 since;		/* accepted, monotonic s */
	TAILQ_ENTRY(client)	 probation_entry;
	int			 paused;	/* reading stopped: output full */
	int			 lingering;	/* our side shut, draining theirs */
	time_t			 last_active;	/* monotonic s of the last read */
	int64_t			 partial_since;	/* monotonic ms since the same
						   partial line waits, or 0 */
	time_t			 paused_since;
	struct places_queue	 queue;		/* replies waiting for places */
	struct evbuffer		*staged;	/* replies of this loop turn */
	TAILQ_ENTRY(client)	 dirty_entry;	/* in clients->dirty */
	int			 dirty;		/* 1: in dirty, 2: in flushing */
	struct evbuffer		*held;		/* replies waiting for a sync */
	struct hold_mark	*marks;		/* held bytes per sequence */
	size_t			 nmarks, marks_cap;
	uint64_t		 queued_seq;	/* an IAMAT reply behind a
						   WHATSAT waits for this */
	TAILQ_ENTRY(client)	 hold_entry;	/* in clients->holding */
};

TAILQ_HEAD(client_list, client);

/* Every session of one node. */
struct clients {
	struct event_base	*base;
	const char		*name;		/* the owner's */
	size_t			 name_len;
	const struct herd_settings *h;		/* the owner's config */
	const struct store	*store;		/* the owner's, read only */
	struct places		*places;	/* the owner's */
	const struct client_ops	*ops;
	void			*arg;

	struct client_list	 all;
	size_t			 count;		/* probation included */
	struct client_list	 probation;	/* over max_clients, oldest
						 * first: HELLO or leave */
	size_t			 nprobation;
	long			 fd_limit;	/* RLIMIT_NOFILE */
	uint64_t		 next_id;
	struct client_list	 dirty;		/* with staged replies */
	struct client_list	 flushing;	/* being flushed right now */
	struct client_list	 holding;	/* with held replies */
	uint64_t		 durable_seq;	/* clients_durable()'s last */

	char			*scratch;	/* formatting buffer */
	size_t			 scratch_size;
	time_t			 refused_logged;
	int			 stopping;
	int			 freeing;	/* clients_free: no callbacks */
	struct client_stats	 stats;
};

/* client_reply.c: staging, holding and flushing replies. */
void	client_stage(struct client *, const char *, size_t);
void	client_stage_seq(struct client *, const char *, size_t, uint64_t);
void	client_reply(struct client *, const char *, size_t);

/* client.c: a session's output drained. */
void	client_write_cb(struct bufferevent *, void *);

#endif /* HERD_CLIENT_INT_H */
