/*
 * peer_handshake.c -- the peer handshake: HELLO, WELCOME and AUTH, each
 * side proving the shared secret; an inbound connection waits on its
 * link's bounded pending list until its proof checks out.  An inbound
 * TLS connection waits on the peers' own bounded list until its TLS
 * handshake names the neighbour and its HELLO (inside) arrives.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "herd/auth.h"
#include "herd/log.h"
#include "herd/net.h"
#include "herd/peer.h"
#include "herd/tls_peer.h"
#include "peer_int.h"

/* Inbound handshakes not yet proven, per link: a flood of HELLOs evicts
 * the oldest of them, never an authenticated connection. */
#define PEER_PENDING_MAX	8
/* Inbound TLS handshakes of no link yet, for the whole node. */
#define PEER_TLS_PENDING_MAX	32
#define PEER_HELLO_MAX		512	/* bytes of a HELLO line in TLS */

static int	accept_hello(struct peers *, struct bufferevent *,
		    const char *, size_t, const char *, const char *,
		    const struct auth_secret *);
static int	is_neighbour(void *, const char *, size_t);
static void	tls_accept_read_cb(struct bufferevent *, void *);
static void	tls_accept_event_cb(struct bufferevent *, short, void *);
static void	conn_promote(struct peer_conn *, size_t);
static int	welcome_proof_ok(struct peer_conn *, const char *, size_t);
static int	handshake_failed(struct peer_conn *, const char *,
		    const char *, size_t);

/*
 * The pending inbound handshake c has proven the secret (its AUTH line is
 * linelen bytes long): it becomes the link's inbound connection, replacing
 * the old one, and c is freed.  Lines after the AUTH are read at once.
 */
static void
conn_promote(struct peer_conn *c, size_t linelen)
{
	struct peer_link *l = c->link;
	struct bufferevent *bev = c->bev;
	struct evbuffer *in = bufferevent_get_input(bev);
	int version = c->version;
	const struct auth_secret *key = c->key;
	char addr[sizeof(c->addr)];

	memcpy(addr, c->addr, sizeof(addr));

	evbuffer_drain(in, linelen + 1);
	TAILQ_REMOVE(&l->pending, c, entry);
	l->npending--;
	free(c);
	if (l->in.bev != NULL) {
		l->in.syncing = 0;	/* the new connection gets its own */
		peer_conn_close(&l->in, "replaced by a newly authenticated"
		    " connection");
	}
	peer_conn_attach(&l->in, bev);
	l->in.version = version;
	l->in.key = key;
	memcpy(l->in.addr, addr, sizeof(addr));
	if (version == 2)
		l->dial_version = 2;	/* it speaks herd/2 now */
	peer_conn_up(&l->in);
	if (l->in.bev != NULL && evbuffer_get_length(in) > 0)
		peer_conn_read_cb(bev, &l->in);
}

/* Close and free the pending inbound handshake c (why: logged, or NULL). */
void
peer_pending_free(struct peer_conn *c, const char *why)
{
	struct peer_link *l = c->link;

	if (why != NULL)
		log_info("peer %s: inbound handshake closed: %s (%s)", l->name,
		    why, c->addr);
	TAILQ_REMOVE(&l->pending, c, entry);
	l->npending--;
	bufferevent_free(c->bev);
	free(c);
}

/* A plain-text HELLO from a client connection: refused when peer links
 * use TLS (a secret and peer_tls = yes), else accept_hello(). */
int
peers_accept(struct peers *ps, struct bufferevent *bev, const char *line,
    size_t len, const char *addr)
{
	if (ps->keys->n > 0 && ps->tls) {
		log_warnx("peer handshake from %s refused: a plain-text HELLO,"
		    " but peer links use TLS (peer_tls = yes)", addr);
		return -1;
	}
	return accept_hello(ps, bev, line, len, addr, NULL,
	    ps->keys->n > 0 ? &ps->keys->key[0] : NULL);
}

/* True when name (len bytes) is one of our neighbours. */
static int
is_neighbour(void *arg, const char *name, size_t len)
{
	struct peers *ps = arg;
	size_t i;

	for (i = 0; i < ps->nlinks; i++)
		if (ps->links[i] != NULL && strlen(ps->links[i]->name) == len &&
		    memcmp(ps->links[i]->name, name, len) == 0)
			return 1;
	return 0;
}

/* A client connection whose first byte starts a TLS record: take it
 * over as a TLS acceptor on the peers' pending list (evicting the
 * oldest past PEER_TLS_PENDING_MAX).  -1 (bev untouched) without a
 * secret: TLS needs one. */
int
peers_accept_tls(struct peers *ps, struct bufferevent *bev, const char *addr)
{
	struct timeval hto = { HANDSHAKE_TIMEOUT_S, 0 };
	struct tls_accept *ta;

	if (ps->keys->n == 0) {
		log_warnx("peer TLS handshake from %s refused: no secret_file"
		    " is configured", addr);
		return -1;
	}
	if (ps->stopping || (ta = calloc(1, sizeof(*ta))) == NULL) {
		bufferevent_free(bev);
		return 0;
	}
	if (ps->ntls_pending >= PEER_TLS_PENDING_MAX)
		peer_tls_accept_free(TAILQ_FIRST(&ps->tls_pending), "too many"
		    " unfinished TLS handshakes, closed the oldest");
	ta->peers = ps;
	snprintf(ta->addr, sizeof(ta->addr), "%s", addr);
	ta->bev = tls_peer_accept(ps->tls_ctx, ps->base, bev, ps->name,
	    ps->keys, is_neighbour, ps);
	if (ta->bev == NULL) {
		log_warnx("peer TLS handshake from %s: cannot set up TLS",
		    addr);
		free(ta);
		return 0;
	}
	TAILQ_INSERT_TAIL(&ps->tls_pending, ta, entry);
	ps->ntls_pending++;
	bufferevent_setcb(ta->bev, tls_accept_read_cb, NULL,
	    tls_accept_event_cb, ta);
	bufferevent_set_timeouts(ta->bev, &hto, &hto);
	bufferevent_enable(ta->bev, EV_READ | EV_WRITE);
	return 0;
}

/* Close and free a pending TLS accept (why: logged, or NULL). */
void
peer_tls_accept_free(struct tls_accept *ta, const char *why)
{
	struct peers *ps = ta->peers;

	if (why != NULL)
		log_warnx("peer TLS handshake from %s: %s", ta->addr, why);
	TAILQ_REMOVE(&ps->tls_pending, ta, entry);
	ps->ntls_pending--;
	if (ta->bev != NULL)
		bufferevent_free(ta->bev);
	free(ta);
}

/* TLS is up: the first line inside must be the HELLO of the neighbour
 * the TLS identity named; it goes on as a plain one would. */
static void
tls_accept_read_cb(struct bufferevent *bev, void *arg)
{
	struct tls_accept *ta = arg;
	struct peers *ps = ta->peers;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	const char *p;
	char addr[sizeof(ta->addr)];

	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		if (evbuffer_get_length(in) > PEER_HELLO_MAX)
			peer_tls_accept_free(ta, "first line too long");
		return;
	}
	p = (const char *)evbuffer_pullup(in, eol.pos + 1);
	/* bev moves to the link, or is freed: ta goes either way. */
	ta->bev = NULL;
	memcpy(addr, ta->addr, sizeof(addr));
	peer_tls_accept_free(ta, NULL);
	if (accept_hello(ps, bev, p, (size_t)eol.pos, addr, tls_peer_from(bev),
	    tls_peer_key(bev)) == -1)
		bufferevent_free(bev);
}

/* The TLS handshake finished (wait for the HELLO) or failed: log why. */
static void
tls_accept_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tls_accept *ta = arg;
	char why[256], msg[320];

	if (what & BEV_EVENT_CONNECTED) {
		log_debug("peer TLS handshake from %s (%s) done", ta->addr,
		    tls_peer_from(bev));
		return;
	}
	peer_bev_error(bev, what, 0, why, sizeof(why));
	snprintf(msg, sizeof(msg), "refused: %s", why);
	peer_tls_accept_free(ta, msg);
}

/* Take over a connection that sent HELLO as a pending inbound handshake
 * of the neighbour's link, answering WELCOME with our nonce and proof
 * under key; -1 when refused.  tls_from: the neighbour a TLS identity
 * named, which the HELLO must name too (NULL: plain text).  The link's
 * live connections are not touched. */
static int
accept_hello(struct peers *ps, struct bufferevent *bev, const char *line,
    size_t len, const char *addr, const char *tls_from,
    const struct auth_secret *key)
{
	struct proto_hello h;
	struct peer_link *l = NULL;
	struct peer_conn *c;
	struct evbuffer *in;
	struct evbuffer_ptr eol;
	struct timeval hto = { HANDSHAKE_TIMEOUT_S, 0 };
	char q[128], proof[AUTH_PROOF_HEX + 1];
	size_t i;

	if (proto_parse_hello(line, len, &h) == -1) {
		log_warnx("peer handshake from %s: malformed HELLO: %s", addr,
		    log_quote(q, sizeof(q), line, len));
		return -1;
	}
	if (h.to.len != ps->name_len || memcmp(h.to.p, ps->name, h.to.len)) {
		log_warnx("peer handshake from %s: addressed to %s, not us",
		    addr, log_quote(q, sizeof(q), h.to.p, h.to.len));
		return -1;
	}
	for (i = 0; i < ps->nlinks; i++) {
		if (strlen(ps->links[i]->name) == h.from.len &&
		    memcmp(ps->links[i]->name, h.from.p, h.from.len) == 0) {
			l = ps->links[i];
			break;
		}
	}
	if (l == NULL) {
		log_warnx("peer handshake from %s: %s is not a neighbour",
		    addr, log_quote(q, sizeof(q), h.from.p, h.from.len));
		return -1;
	}
	if (tls_from != NULL && strcmp(tls_from, l->name) != 0) {
		log_warnx("peer handshake from %s: HELLO from %s inside the TLS"
		    " session of %s", addr, l->name, tls_from);
		return -1;
	}
	if (ps->keys->n == 0 &&
	    !net_peer_is_loopback(bufferevent_getfd(bev))) {
		log_warnx("peer handshake from %s (%s) refused: no secret_file"
		    " is configured, so only loopback peers are accepted",
		    addr, l->name);
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("peer handshake from %s: calloc", addr);
		return -1;
	}
	if (l->npending >= PEER_PENDING_MAX)
		peer_pending_free(TAILQ_FIRST(&l->pending), "too many unfinished"
		    " handshakes, closed the oldest");
	c->link = l;
	c->pending = 1;
	c->key = key;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	TAILQ_INSERT_TAIL(&l->pending, c, entry);
	l->npending++;
	/* The HELLO line is ours to consume now. */
	in = bufferevent_get_input(bev);
	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	peer_conn_attach(c, bev);
	c->key = key;
	memcpy(c->peer_nonce, h.nonce.p, AUTH_NONCE_HEX);
	c->peer_nonce[AUTH_NONCE_HEX] = '\0';
	evbuffer_drain(in, eol.pos == -1 ? evbuffer_get_length(in) :
	    (size_t)eol.pos + 1);
	auth_nonce(c->nonce);
	auth_proof(c->key, "welcome", ps->name, l->name, c->nonce,
	    c->peer_nonce, proof);
	net_keepalive(bufferevent_getfd(bev));
	/* Answer in the version greeted with, or the highest we speak. */
	c->version = h.version < ps->version ? h.version : ps->version;
	evbuffer_add_printf(bufferevent_get_output(bev), "WELCOME %s %s %s %s\n",
	    c->version == 2 ? PROTO_PEER_VERSION2 : PROTO_PEER_VERSION,
	    ps->name, c->nonce, proof);
	c->state = CONN_HANDSHAKE;
	bufferevent_set_timeouts(bev, &hto, &hto);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	log_info("peer %s: %shandshake from %s, awaiting its proof", l->name,
	    c->tls ? "TLS " : "", addr);
	if (evbuffer_get_length(in) > 0)
		peer_conn_read_cb(bev, c);
	return 0;
}

/* Drop a connection whose handshake failed; redial if it was ours. */
static int
handshake_failed(struct peer_conn *c, const char *why, const char *p,
    size_t len)
{
	struct peer_link *l = c->link;
	char q[128];

	log_warnx("peer %s: %s handshake failed: %s: %s", l->name,
	    c->outbound ? "outbound" : "inbound", why,
	    log_quote(q, sizeof(q), p, len));
	peer_conn_drop(c, "handshake failed");
	return -1;
}

/* The dialer checks the WELCOME's proof: under the secret TLS agreed
 * on, or in plain text under any of ours (the acceptor proves with its
 * first), which c then uses. */
static int
welcome_proof_ok(struct peer_conn *c, const char *got, size_t len)
{
	struct peer_link *l = c->link;
	struct peers *ps = l->peers;
	char expect[AUTH_PROOF_HEX + 1];
	size_t i, n = c->tls || c->key == NULL ? 1 : ps->keys->n;

	for (i = 0; i < n; i++) {
		const struct auth_secret *k = c->tls || c->key == NULL ?
		    c->key : &ps->keys->key[i];

		auth_proof(k, "welcome", l->name, ps->name, c->peer_nonce,
		    c->nonce, expect);
		if (auth_proof_ok(expect, got, len)) {
			c->key = k;
			return 1;
		}
	}
	return 0;
}

/* The handshake line for c's current state; -1 when c was closed or
 * (promoted) freed. */
int
peer_conn_handshake(struct peer_conn *c, const char *p, size_t len)
{
	struct peer_link *l = c->link;
	struct peers *ps = l->peers;
	struct proto_welcome w;
	struct proto_span proof;
	char expect[AUTH_PROOF_HEX + 1];

	if (!c->outbound) {
		/* Acceptor: the dialer's AUTH must prove the secret. */
		if (proto_parse_auth(p, len, &proof) == -1)
			return handshake_failed(c, "expected AUTH", p, len);
		auth_proof(c->key, "auth", l->name, ps->name,
		    c->peer_nonce, c->nonce, expect);
		if (!auth_proof_ok(expect, proof.p, proof.len))
			return handshake_failed(c, c->key != NULL ? "wrong"
			    " proof (different secret?)" : "the peer uses a"
			    " secret and we have none", p, len);
		conn_promote(c, len);
		return -1;	/* c is gone; the link's in has the rest */
	}
	if (c->version == 2 && len >= 2 && p[0] == '?' && p[1] == ' ' &&
	    ps->version == 2) {
		/* A herd/1 server answers "HELLO herd/2" like a client's
		 * bad line: offer it herd/1 from now on. */
		l->dial_version = 1;
		log_info("peer %s: speaks herd/1 only (an older version?);"
		    " the next dial offers herd/1", l->name);
	}
	if (proto_parse_welcome(p, len, &w) == -1 ||
	    w.from.len != strlen(l->name) ||
	    memcmp(w.from.p, l->name, w.from.len) != 0 ||
	    w.version > c->version)
		return handshake_failed(c, "bad WELCOME", p, len);
	c->version = w.version;
	memcpy(c->peer_nonce, w.nonce.p, AUTH_NONCE_HEX);
	c->peer_nonce[AUTH_NONCE_HEX] = '\0';
	if (!welcome_proof_ok(c, w.proof.p, w.proof.len))
		return handshake_failed(c, c->key != NULL ? "wrong proof"
		    " (different secret?)" : "the peer uses a secret and we"
		    " have none", p, len);
	auth_proof(c->key, "auth", ps->name, l->name, c->nonce,
	    c->peer_nonce, expect);
	evbuffer_add_printf(bufferevent_get_output(c->bev), "AUTH %s\n",
	    expect);
	peer_conn_up(c);
	return 0;
}
