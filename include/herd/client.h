/*
 * client.h -- client sessions: accepted connections, their lines, staged
 * replies, deadlines and limits.
 *
 * A session reads lines, answers each in order (IAMAT through the owner's
 * record callback, WHATSAT through places), and closes after the last
 * reply once the client has half-closed.  Replies are staged per client
 * during a loop turn and written by clients_flush(), which the owner
 * calls from its end-of-turn flush after the floods.  Under fsync =
 * always a reply that acknowledges records not yet durable is held, with
 * every reply behind it on its connection, until clients_durable()
 * releases it.  A connection whose first line is a peer HELLO goes to
 * the owner's hello callback, one whose first byte starts a TLS record
 * to its peer_tls callback.
 *
 * Ownership: the owner (the node) allocates struct clients with
 * clients_new() and frees it, with every session, with clients_free().
 * The listener is the owner's: it hands each accepted socket to
 * clients_accept().  The name, settings, store (read only) and places
 * must outlive the clients; settings change with clients_configure().
 */
#ifndef HERD_CLIENT_H
#define HERD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "herd/config.h"
#include "herd/store.h"

struct event_base;
struct bufferevent;
struct sockaddr;
struct places;
struct clients;
struct tls_client;

/* What the sessions ask of their owner; arg is clients_new()'s. */
struct client_ops {
	/* Merge our AT line for an IAMAT (and flood it if it changed the
	 * store); *out is the record held for that client afterwards. */
	enum store_result (*record)(void *arg, const char *client,
		    size_t client_len, const struct herd_time *sent,
		    const char *line, size_t line_len,
		    const struct herd_record **out);
	/* The first line is a peer HELLO: 0 = the owner took bev over,
	 * -1 = refused (the session answers "?" and closes). */
	int	(*hello)(void *arg, struct bufferevent *bev, const char *line,
		    size_t len, const char *addr);
	/* The first byte starts a TLS record (a TLS peer): 0 = the owner
	 * took bev over, -1 = refused (the session closes).  NULL:
	 * refused. */
	int	(*peer_tls)(void *arg, struct bufferevent *bev,
		    const char *addr);
	/* Replies were staged: have the end-of-turn flush run. */
	void	(*flush_wanted)(void *arg);
	/* Stopping: a session ended, so the owner may check whether
	 * everything is out. */
	void	(*drained)(void *arg);
	/* The sequence number a reply acknowledging the store as it is
	 * now must wait for (fsync = always: durable on disk), or 0 when
	 * it may leave at once.  NULL: replies never wait. */
	uint64_t (*ack_seq)(void *arg);
};

/* Counters for the SIGUSR1 stats line. */
struct client_stats {
	uint64_t	lines_in;	/* client lines received */
	uint64_t	replies;	/* replies sent (AT, WHATSAT, ?) */
	uint64_t	invalid;	/* "?" replies */
	uint64_t	iamat;		/* IAMATs answered with AT */
	uint64_t	whatsat;	/* WHATSATs sent to places */
	uint64_t	accepted;	/* client connections accepted */
	uint64_t	refused;	/* refused: max_clients reached */
	uint64_t	dropped;	/* dropped by a timeout */
};

/* No sessions yet.  name: the server's (AT lines); fd_limit: the
 * descriptor limit, whose last few are kept for neighbours. */
struct clients	*clients_new(struct event_base *, const char *name,
		    const struct herd_settings *, long fd_limit,
		    const struct store *, struct places *,
		    const struct client_ops *, void *arg);
/* Close every session (without ops->drained) and free cl. */
void		 clients_free(struct clients *);
/* Use reloaded settings; -1 (out of memory) keeps the old ones. */
int		 clients_configure(struct clients *,
		    const struct herd_settings *);

/* A connection the listener accepted: start its session (on probation
 * past max_clients or in the descriptor reserve: a HELLO or leave).
 * With tls (the tls_port's), the session runs inside TLS: it must
 * finish its handshake within 5 s, never hands over to a peer, and
 * past max_clients is refused at once. */
void		 clients_accept(struct clients *, int fd,
		    const struct sockaddr *sa, struct tls_client *tls);
/* Entries up to seq are durable: release the replies held for them
 * (they go out with the next flush, in order). */
void		 clients_durable(struct clients *, uint64_t seq);
/* Write every session's staged replies (after the turn's floods). */
void		 clients_flush(struct clients *);
/* Once a second: end probations and drop sessions past a deadline. */
void		 clients_sweep(struct clients *);
/* SIGTERM: answer the lines read, then close each session once its
 * replies are out; ops->drained is called as sessions end. */
void		 clients_stop(struct clients *);

/* Sessions open (probation included). */
size_t		 clients_count(const struct clients *);
const struct client_stats *clients_stats(const struct clients *);

#endif
