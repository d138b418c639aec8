/*
 * tls_peer.h -- TLS 1.3 for peer links, keyed by the herd secret.
 *
 * No certificates: each connection is authenticated by an external
 * pre-shared key with (EC)DHE (psk_dhe_ke, so past sessions stay secret
 * when the secret leaks later).  The dialer's PSK identity is
 * "herd-tls/1 FROM TO KEYID" (KEYID: auth_key_id() of the secret it
 * dials with) and the key is HMAC-SHA256(secret, identity), so both
 * server names are bound into the handshake: an acceptor refuses an
 * identity not addressed to it, not from a configured neighbour, or
 * naming a secret it does not hold, and a changed name or a wrong
 * secret fails the handshake.  No tickets, no resumption, no early
 * data.
 *
 * Ownership: the owner (the peers) makes one context with
 * tls_peer_ctx_new() and frees it with tls_peer_ctx_free() after every
 * bufferevent made from it is freed.  The names, keys and callback
 * argument given to tls_peer_dial()/tls_peer_accept() must outlive the
 * bufferevent, which is the caller's (BEV_OPT_CLOSE_ON_FREE).
 */
#ifndef HERD_TLS_PEER_H
#define HERD_TLS_PEER_H

#include <stddef.h>

#include "herd/auth.h"

/* The first byte of a TLS handshake record: a classic line never starts
 * with it. */
#define TLS_PEER_RECORD		0x16

struct event_base;
struct bufferevent;
struct tls_peer_ctx;

/* The acceptor's question: is name (len bytes) a configured neighbour? */
typedef int	(*tls_peer_neighbour_fn)(void *arg, const char *name,
		    size_t len);

/* A context for dialling and accepting; NULL (logged) on failure. */
struct tls_peer_ctx	*tls_peer_ctx_new(void);
void			 tls_peer_ctx_free(struct tls_peer_ctx *);

/* An unconnected TLS bufferevent dialling `to` as `from` with key:
 * connect it with bufferevent_socket_connect(); BEV_EVENT_CONNECTED
 * comes once the handshake is done.  NULL on failure. */
struct bufferevent	*tls_peer_dial(struct tls_peer_ctx *,
			    struct event_base *, const char *from,
			    const char *to, const struct auth_secret *key);

/* Take over the plain socket bufferevent bev, whose input starts with a
 * TLS record: its socket, with the bytes already read, becomes a TLS
 * acceptor for self, accepting an identity from a neighbour (asked of
 * neighbour(arg, ...)) with one of keys.  bev is freed (its socket
 * kept); NULL (the socket closed) on failure. */
struct bufferevent	*tls_peer_accept(struct tls_peer_ctx *,
			    struct event_base *, struct bufferevent *bev,
			    const char *self, const struct auth_keys *keys,
			    tls_peer_neighbour_fn neighbour, void *arg);

/* After an accepted handshake: the neighbour its identity named, and
 * the secret it agreed on (NULL before). */
const char		*tls_peer_from(struct bufferevent *);
const struct auth_secret *tls_peer_key(struct bufferevent *);

/* True when bev is a TLS bufferevent. */
int			 tls_peer_is_tls(struct bufferevent *);
/* Why bev's TLS failed: the acceptor's refusal, else OpenSSL's errors,
 * else "" (a plain socket error or EOF); written to buf. */
const char		*tls_peer_error(struct bufferevent *, char *buf,
			    size_t len);
/* Send the TLS close_notify now (best effort; only on a healthy
 * connection). */
void			 tls_peer_close_notify(struct bufferevent *);

#endif
