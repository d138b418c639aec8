/*
 * peer.c -- neighbour links: the link table, dial and redial, each
 * connection's life, floods and the stop; the handshake is in
 * peer_handshake.c, the catch-up sync in peer_sync.c.
 *
 * The peer protocol is line based, on the same port as clients:
 *
 *	dialer:   HELLO herd/1 <from> <to> <nonce_d>
 *	acceptor: WELCOME herd/1 <from> <nonce_a> <proof_a>
 *	dialer:   AUTH <proof_d>
 *	then, both ways: AT <server> <time_diff> <client> <location> <time>
 *	                 SYNCED <count>   (end of a catch-up stream)
 *	                 DIGEST <count> <hex64>   (every reconcile_s)
 *
 * Each proof is an HMAC of the shared secret over both names and both
 * fresh nonces (auth.c), so each side proves it knows the secret without
 * sending it, and no handshake can be replayed.  With a secret (and
 * peer_tls = yes, the default) every link is TLS 1.3 keyed by the secret
 * (tls_peer.c) and the lines above run inside it; an accepted TLS peer
 * is told from a client by its first byte.  Without a secret both
 * proofs are "-" and only loopback peers are dialled or accepted, in
 * plain text.  A
 * connection is a peer only after the handshake with a configured
 * neighbour; an ordinary client that sends AT lines gets "?".  When a
 * link comes up, each side streams its whole store to the other from
 * the write callback, a chunk at a time, so the loop keeps serving.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "herd/auth.h"
#include "herd/log.h"
#include "herd/net.h"
#include "herd/peer.h"
#include "herd/staged.h"
#include "herd/tls_peer.h"
#include "peer_int.h"

#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		5000
#define PEER_WRITE_TIMEOUT_S	30
#define PEER_MAX_OUTPUT		(64 * 1024 * 1024)

static struct peer_link *peer_link_new(struct peers *,
		    const struct herd_server *);
static void	peer_link_free(struct peer_link *);
static void	peer_link_update(struct peer_link *,
		    const struct herd_server *);
static int	peer_link_is_up(const struct peer_link *);
static void	dial(struct peer_link *);
static void	redial_cb(evutil_socket_t, short, void *);
static void	schedule_redial(struct peer_link *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static int	conn_line(struct peer_conn *, const char *, size_t);
static void	stop_check(struct peers *);
static void	conn_linger(struct peer_conn *);
static void	link_changed(struct peer_link *);

/* A node's peer set, without links yet. */
struct peers *
peers_new(struct event_base *base, const char *self,
    const struct auth_keys *keys, const struct store *store,
    const struct peer_ops *ops, void *arg)
{
	struct peers *ps;

	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		fatal("calloc");
	if ((ps->tls_ctx = tls_peer_ctx_new()) == NULL)
		fatalx("cannot set up TLS for peer links");
	ps->base = base;
	snprintf(ps->name, sizeof(ps->name), "%s", self);
	ps->name_len = strlen(ps->name);
	ps->keys = keys;
	ps->tls = 1;
	TAILQ_INIT(&ps->tls_pending);
	ps->store = store;
	ps->ops = ops;
	ps->arg = arg;
	return ps;
}

/* Free every link of ps, then ps. */
void
peers_free(struct peers *ps)
{
	size_t i;

	if (ps == NULL)
		return;
	while (!TAILQ_EMPTY(&ps->tls_pending))
		peer_tls_accept_free(TAILQ_FIRST(&ps->tls_pending), NULL);
	for (i = 0; i < ps->nlinks; i++)
		peer_link_free(ps->links[i]);
	free(ps->links);
	tls_peer_ctx_free(ps->tls_ctx);
	free(ps);
}

/* Make the set of links match self's neighbours in cfg, keeping the
 * links (and connections) of neighbours still listed. */
void
peers_configure(struct peers *ps, const struct herd_config *cfg,
    const struct herd_server *self)
{
	struct peer_link **nl;
	size_t i, k;

	ps->line_max = cfg->herd.max_line + PROTO_AT_SLACK;
	ps->tls = cfg->herd.peer_tls;	/* new dials; live ones keep theirs */
	if (ps->version != cfg->herd.peer_protocol) {
		/* New dials offer it; live connections keep theirs. */
		ps->version = cfg->herd.peer_protocol;
		for (i = 0; i < ps->nlinks; i++)
			if (ps->links[i] != NULL)
				ps->links[i]->dial_version = ps->version;
	}
	nl = calloc(self->nlinks ? self->nlinks : 1, sizeof(*nl));
	if (nl == NULL)
		fatal("calloc");
	for (k = 0; k < self->nlinks; k++) {
		const struct herd_server *nb = &cfg->servers[self->links[k]];

		for (i = 0; i < ps->nlinks; i++) {
			if (ps->links[i] != NULL &&
			    strcmp(ps->links[i]->name, nb->name) == 0)
				break;
		}
		if (i < ps->nlinks) {
			nl[k] = ps->links[i];
			ps->links[i] = NULL;
			peer_link_update(nl[k], nb);
		} else
			nl[k] = peer_link_new(ps, nb);
	}
	for (i = 0; i < ps->nlinks; i++) {
		if (ps->links[i] != NULL) {
			log_info("neighbour %s removed", ps->links[i]->name);
			peer_link_free(ps->links[i]);
		}
	}
	free(ps->links);
	ps->links = nl;
	ps->nlinks = self->nlinks;
}

/* The number of neighbour links configured. */
size_t
peers_count(const struct peers *ps)
{
	return ps->nlinks;
}

/* Count the neighbour links that are up. */
size_t
peers_up(const struct peers *ps)
{
	size_t i, up = 0;

	for (i = 0; i < ps->nlinks; i++)	/* NULL while rebuilt */
		up += ps->links[i] && peer_link_is_up(ps->links[i]) ? 1 : 0;
	return up;
}

/* Each configured link's name and whether it is up, in order. */
void
peers_each(const struct peers *ps, peers_each_fn fn, void *arg)
{
	size_t i;

	for (i = 0; i < ps->nlinks; i++)	/* NULL while rebuilt */
		if (ps->links[i] != NULL)
			fn(arg, ps->links[i]->name,
			    peer_link_is_up(ps->links[i]));
}

/* The flood counters. */
const struct peer_stats *
peers_stats(const struct peers *ps)
{
	return &ps->stats;
}

/* Create the link to neighbour srv and start dialling it. */
static struct peer_link *
peer_link_new(struct peers *ps, const struct herd_server *srv)
{
	struct peer_link *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("calloc");
	l->peers = ps;
	snprintf(l->name, sizeof(l->name), "%s", srv->name);
	snprintf(l->host, sizeof(l->host), "%s", srv->host);
	l->port = srv->port;
	l->out.link = l->in.link = l;
	l->out.outbound = 1;
	TAILQ_INIT(&l->pending);
	l->backoff_ms = BACKOFF_MIN_MS;
	l->dial_version = ps->version;
	if ((l->redial = evtimer_new(ps->base, redial_cb, l)) == NULL ||
	    (l->staged = evbuffer_new()) == NULL)
		fatalx("evtimer_new failed");
	log_info("neighbour %s at %s port %u", l->name, l->host, l->port);
	dial(l);
	return l;
}

/* Close every connection of l and free it (logging it down if it was up). */
static void
peer_link_free(struct peer_link *l)
{
	while (!TAILQ_EMPTY(&l->pending))
		peer_pending_free(TAILQ_FIRST(&l->pending), NULL);
	peer_conn_close(&l->out, NULL);
	peer_conn_close(&l->in, NULL);
	if (l->up)
		log_info("peer %s down", l->name);
	/* The caller reports the new link count (the set is changing). */
	event_free(l->redial);
	evbuffer_free(l->staged);
	free(l);
}

/* If srv moves l to a new host or port, drop our connection and redial now. */
static void
peer_link_update(struct peer_link *l, const struct herd_server *srv)
{
	if (strcmp(l->host, srv->host) == 0 && l->port == srv->port)
		return;
	log_info("neighbour %s moved to %s port %u", l->name, srv->host,
	    srv->port);
	snprintf(l->host, sizeof(l->host), "%s", srv->host);
	l->port = srv->port;
	peer_conn_close(&l->out, "address changed");
	evtimer_del(l->redial);
	l->backoff_ms = BACKOFF_MIN_MS;
	dial(l);
	link_changed(l);
}

/* True while either connection of l has completed its handshake. */
static int
peer_link_is_up(const struct peer_link *l)
{
	return l->out.state == CONN_UP || l->in.state == CONN_UP;
}

/* The connection records go out on: the one that came up last, else any
 * up.  A neighbour that dials again while our dial to it still looks
 * alive has usually lost that connection (reboot, silent partition). */
struct peer_conn *
peer_link_conn(struct peer_link *l)
{
	if (l->tx != NULL && l->tx->state == CONN_UP)
		return l->tx;
	if (l->out.state == CONN_UP)
		return &l->out;
	if (l->in.state == CONN_UP)
		return &l->in;
	return NULL;
}

/* Log up/down transitions and tell the node. */
static void
link_changed(struct peer_link *l)
{
	struct peer_conn *c = peer_link_conn(l);

	if (c != NULL && !l->up) {
		l->up = 1;
		log_info("peer %s up", l->name);
		l->peers->ops->links_changed(l->peers->arg);
	} else if (c == NULL && l->up) {
		l->up = 0;
		log_info("peer %s down", l->name);
		l->peers->ops->links_changed(l->peers->arg);
	}
}

/* Start a non-blocking connect to the neighbour. */
static void
dial(struct peer_link *l)
{
	struct peers *ps = l->peers;
	struct sockaddr_storage ss;
	int sslen;
	struct bufferevent *bev;
	struct timeval hto = { HANDSHAKE_TIMEOUT_S, 0 };
	char addr[HERD_ADDR_MAX + 16];

	if (ps->stopping)
		return;		/* no new connections while stopping */
	if (net_parse_addr(l->host, l->port, &ss, &sslen, addr,
	    sizeof(addr)) == -1) {
		log_warnx("peer %s: bad address %s", l->name, addr);
		return;
	}
	if (ps->keys->n == 0 && !net_is_loopback(&ss)) {
		log_warnx("peer %s: not dialling %s: no secret_file is"
		    " configured, so only loopback peers are used", l->name,
		    addr);
		return;
	}
	if (l->dial_key >= ps->keys->n)
		l->dial_key = 0;	/* the file changed: its first secret */
	if (ps->keys->n > 0 && ps->tls)
		bev = tls_peer_dial(ps->tls_ctx, ps->base, ps->name, l->name,
		    &ps->keys->key[l->dial_key]);
	else
		bev = bufferevent_socket_new(ps->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warnx("peer %s: cannot make a connection", l->name);
		schedule_redial(l);
		return;
	}
	peer_conn_attach(&l->out, bev);
	l->out.state = CONN_CONNECTING;
	l->out.key = ps->keys->n > 0 ? &ps->keys->key[l->dial_key] : NULL;
	snprintf(l->out.addr, sizeof(l->out.addr), "%s", addr);
	bufferevent_set_timeouts(bev, &hto, &hto);
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss,
	    sslen) == -1) {
		peer_conn_drop(&l->out, "connect failed");
		return;
	}
	log_debug("peer %s: dialling %s", l->name, addr);
}

/* The redial timer fired: dial the link again. */
static void
redial_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dial(arg);
}

/* Retry later: exponential backoff with +-25% jitter, capped. */
static void
schedule_redial(struct peer_link *l)
{
	struct timeval tv;
	unsigned ms = l->backoff_ms, r;

	evutil_secure_rng_get_bytes(&r, sizeof(r));
	ms = ms * 3 / 4 + r % (ms / 2 + 1);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(l->redial, &tv);
	if (l->backoff_ms < BACKOFF_MAX_MS)
		l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ?
		    BACKOFF_MAX_MS : l->backoff_ms * 2;
}

/* Give bev to c with a fresh sync state, its callbacks and the write
 * low-water mark that resumes a sync. */
void
peer_conn_attach(struct peer_conn *c, struct bufferevent *bev)
{
	c->bev = bev;
	c->version = 1;
	c->tls = tls_peer_is_tls(bev);
	c->broken = 0;
	peer_sync_reset(c);
	bufferevent_setcb(bev, peer_conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(bev, EV_WRITE, SYNC_LOW_WATER, 0);
}

/* A connection failed: close it, redial if it was ours, and update the
 * link's up/down state (why: logged, or NULL to stay quiet).  A failed
 * inbound handshake is simply freed: the link never depended on it. */
void
peer_conn_drop(struct peer_conn *c, const char *why)
{
	struct peer_link *l = c->link;

	if (c->pending) {
		peer_pending_free(c, why);
		return;
	}
	peer_conn_close(c, why);
	if (c->outbound)
		schedule_redial(l);
	link_changed(l);
}

/* Drop a connection (why: logged, or NULL to stay quiet). */
void
peer_conn_close(struct peer_conn *c, const char *why)
{
	struct peer_link *l = c->link;
	struct peer_conn *other;

	if (c->bev == NULL)
		return;
	if (why != NULL)
		log_info("peer %s: %s connection closed: %s (%s)", l->name,
		    c->outbound ? "outbound" : "inbound", why, c->addr);
	if (c->tls && !c->broken && c->state != CONN_LINGER)
		tls_peer_close_notify(c->bev);
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->state = CONN_IDLE;
	peer_sync_reset_prints(c);
	if (l->tx == c)
		l->tx = NULL;
	/* A sync cut short continues on the other connection. */
	other = c->outbound ? &l->in : &l->out;
	if (c->syncing && other->state == CONN_UP && !other->syncing)
		peer_sync_start(other);
	c->syncing = 0;
}

/*
 * Mark c up after its handshake: 30 s write timeout, no read timeout, dial
 * backoff reset if ours.  Floods now go out on c, and c gets the whole
 * store (catch-up) whether or not the link was up already: the peer may
 * have lost everything sent on the other connection.
 */
void
peer_conn_up(struct peer_conn *c)
{
	struct peer_link *l = c->link;
	struct timeval wto = { PEER_WRITE_TIMEOUT_S, 0 };

	c->state = CONN_UP;
	bufferevent_set_timeouts(c->bev, NULL, &wto);
	if (c->outbound)
		l->backoff_ms = BACKOFF_MIN_MS;
	log_info("peer %s: %s connection established (herd/%d%s)", l->name,
	    c->outbound ? "outbound" : "inbound", c->version,
	    c->tls ? ", TLS 1.3" : "");
	l->tx = c;
	/* One catch-up per neighbour is enough: c's replaces the other's. */
	(c->outbound ? &l->in : &l->out)->syncing = 0;
	link_changed(l);
	peer_sync_start(c);
}


/* One line from a peer; -1 when the connection was closed. */
static int
conn_line(struct peer_conn *c, const char *p, size_t len)
{
	struct peer_link *l = c->link;
	struct peers *ps = l->peers;
	struct proto_at at;
	unsigned long count;
	uint64_t digest;
	char q[128];

	if (c->state == CONN_HANDSHAKE)
		return peer_conn_handshake(c, p, len);
	if (proto_parse_digest(p, len, &count, &digest) == 0) {
		peer_sync_digest(l, count, digest);
		return 0;
	}
	if (proto_parse_synced(p, len, &count) == 0) {
		peer_sync_received(l, count);
		return 0;
	}
	switch (peer_sync_line(c, p, len)) {
	case 1:
		return 0;
	case -1:
		return -1;
	}
	if (proto_parse_at(p, len, &at) == -1) {
		log_warnx("peer %s: invalid message: %s", l->name,
		    log_quote(q, sizeof(q), p, len));
		peer_conn_drop(c, "protocol error");
		return -1;
	}
	ps->stats.flood_in++;
	ps->ops->record(ps->arg, l, at.client.p, at.client.len, &at.sent, p,
	    (size_t)(at.time_sent.p + at.time_sent.len - p));
	return 0;
}

/* Handle each complete line from the peer; a line over the peers' limit
 * (max_line + PROTO_AT_SLACK bytes) closes c (redialling if ours). */
void
peer_conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct peer_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	size_t max = c->link->peers->line_max;
	const char *p;

	if (c->state == CONN_LINGER) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while (c->bev != NULL) {
		eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) > max)
				peer_conn_drop(c, "line too long");
			return;
		}
		if ((size_t)eol.pos > max) {
			peer_conn_drop(c, "line too long");
			return;
		}
		p = (const char *)evbuffer_pullup(in, eol.pos + 1);
		if (conn_line(c, p, (size_t)eol.pos) == -1)
			return;
		evbuffer_drain(in, (size_t)eol.pos + 1);
	}
}

/* Output below the low-water mark: queue the next sync chunk, if syncing;
 * when stopping, the node may exit once every flood is written. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct peer_conn *c = arg;

	(void)bev;
	if (c->syncing)
		peer_sync_fill(c);
	else
		stop_check(c->link->peers);
}

/* Why bev's connection ended (what: its event), into buf: the TLS
 * error or refusal when there is one. */
const char *
peer_bev_error(struct bufferevent *bev, short what, int up, char *buf,
    size_t len)
{
	char tls[200];

	if (tls_peer_is_tls(bev) && *tls_peer_error(bev, tls,
	    sizeof(tls)) != '\0') {
		snprintf(buf, len, "TLS: %s", tls);
		return buf;
	}
	if (what & BEV_EVENT_EOF)
		snprintf(buf, len, "closed by peer");
	else if (what & BEV_EVENT_TIMEOUT)
		snprintf(buf, len, "%s", up ? "peer not reading" : "timed out");
	else
		snprintf(buf, len, "%s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	return buf;
}

/* On connect (after the TLS handshake, if TLS) send HELLO with a fresh
 * nonce; on EOF, timeout or error close c, redial if ours, and update
 * the link.  A TLS handshake of ours that fails is logged, and with two
 * secrets the next dial tries the other one. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct peer_conn *c = arg;
	struct peer_link *l = c->link;
	struct peers *ps = l->peers;
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		net_keepalive(bufferevent_getfd(bev));
		c->state = CONN_HANDSHAKE;
		auth_nonce(c->nonce);
		c->version = l->dial_version;
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "HELLO %s %s %s %s\n", c->version == 2 ?
		    PROTO_PEER_VERSION2 : PROTO_PEER_VERSION, ps->name,
		    l->name, c->nonce);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
		return;
	}
	if (what & BEV_EVENT_ERROR)
		c->broken = 1;
	if (c->state == CONN_LINGER) {
		peer_conn_close(c, NULL);	/* their EOF (or an error): done */
		stop_check(ps);
		return;
	}
	peer_bev_error(bev, what, c->state == CONN_UP, why, sizeof(why));
	if (c->outbound && c->state == CONN_CONNECTING && c->tls &&
	    strncmp(why, "TLS: ", 5) == 0) {
		log_warnx("peer %s: TLS handshake with %s failed: %s", l->name,
		    c->addr, why + 5);
		if (ps->keys->n > 1) {
			l->dial_key = (l->dial_key + 1) % ps->keys->n;
			log_info("peer %s: the next dial uses secret %zu of"
			    " secret_file", l->name, l->dial_key + 1);
		}
	} else if (c->outbound && c->state != CONN_UP)
		log_debug("peer %s: dial failed: %s", l->name, why);
	if (c->outbound && c->state == CONN_HANDSHAKE &&
	    (what & BEV_EVENT_EOF) && ps->version == 2) {
		/* A herd/1 server closes on "HELLO herd/2": offer herd/1
		 * next (and herd/2 again after a herd/1 refusal). */
		l->dial_version = c->version == 2 ? 1 : 2;
		log_info("peer %s: closed during a herd/%d handshake; the"
		    " next dial offers herd/%d", l->name, c->version,
		    l->dial_version);
	}
	peer_conn_drop(c, c->state == CONN_UP || c->pending ? why : NULL);
	stop_check(ps);
}

/* While stopping, end the loop once clients and floods are all out. */
static void
stop_check(struct peers *ps)
{
	struct peer_link *l;
	size_t i;

	if (!ps->stopping)
		return;
	while (!TAILQ_EMPTY(&ps->tls_pending))
		peer_tls_accept_free(TAILQ_FIRST(&ps->tls_pending), NULL);
	for (i = 0; i < ps->nlinks; i++) {
		if ((l = ps->links[i]) == NULL)	/* being rebuilt */
			continue;
		while (!TAILQ_EMPTY(&l->pending))
			peer_pending_free(TAILQ_FIRST(&l->pending), NULL);
		if (evbuffer_get_length(l->staged) != 0)
			continue;
		conn_linger(&l->out);
		conn_linger(&l->in);
		link_changed(l);
	}
	ps->ops->drained(ps->arg);
}

/*
 * Stopping: once c's output is all in the kernel, send our FIN after it
 * and read and discard until the neighbour's EOF.  Closing with its
 * floods unread in our receive buffer would send a reset, and a reset
 * discards our own unsent data too.  A connection not up owes nothing
 * and just closes.
 */
static void
conn_linger(struct peer_conn *c)
{
	if (c->bev == NULL || c->state == CONN_LINGER)
		return;
	if (c->state != CONN_UP) {
		peer_conn_close(c, NULL);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		return;
	c->state = CONN_LINGER;
	if (c->link->tx == c)
		c->link->tx = NULL;
	if (c->tls)
		tls_peer_close_notify(c->bev);
	(void)shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	bufferevent_disable(c->bev, EV_WRITE);
	bufferevent_enable(c->bev, EV_READ);
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
}


/* Write each link's staged floods on its up connection; drop them when the
 * link is down, and drop a connection whose output passed PEER_MAX_OUTPUT. */
void
peers_flush(struct peers *ps)
{
	struct peer_link *l;
	struct peer_conn *c;
	struct evbuffer *out;
	size_t i;

	for (i = 0; i < ps->nlinks; i++) {
		l = ps->links[i];
		if (evbuffer_get_length(l->staged) == 0)
			continue;
		if ((c = peer_link_conn(l)) == NULL) {
			/* Down since: the catch-up at link-up covers these. */
			evbuffer_drain(l->staged, evbuffer_get_length(l->staged));
			continue;
		}
		out = bufferevent_get_output(c->bev);
		if (evbuffer_get_length(out) > PEER_MAX_OUTPUT) {
			/* It will catch up by sync when it reconnects. */
			evbuffer_drain(l->staged, evbuffer_get_length(l->staged));
			peer_conn_drop(c, "too far behind");
			continue;
		}
		/* Straight to the kernel unless a sync chunk is queued (or
		 * TLS must seal it: the bufferevent writes it next turn). */
		(void)staged_flush(l->staged, c->bev, c->tls);
	}
	if (ps->stopping)
		stop_check(ps);		/* what went straight out may linger now */
}


/* Stage r's AT line for every up link but except, and schedule the flush. */
void
peers_flood(struct peers *ps, struct peer_link *except,
    const struct herd_record *r)
{
	struct peer_link *l;
	size_t i;

	for (i = 0; i < ps->nlinks; i++) {
		l = ps->links[i];
		if (l == except || peer_link_conn(l) == NULL)
			continue;
		evbuffer_add(l->staged, record_line(r), r->line_len);
		evbuffer_add(l->staged, "\n", 1);
		ps->stats.flood_out++;
	}
	ps->ops->flush_wanted(ps->arg);
}

/* Stop every catch-up stream (SIGTERM): what is queued, floods included,
 * still drains; nothing new is queued behind it. */
void
peers_stop(struct peers *ps)
{
	size_t i;

	ps->stopping = 1;
	for (i = 0; i < ps->nlinks; i++)
		if (ps->links[i] != NULL)	/* NULL while links are rebuilt */
			ps->links[i]->out.syncing = ps->links[i]->in.syncing = 0;
	stop_check(ps);
}

/* Bytes of floods not yet handed to the kernel: staged, or queued on a
 * link's up connections; while stopping, plus one per connection still
 * open (lingering until the neighbour's EOF). */
size_t
peers_unsent(const struct peers *ps)
{
	const struct peer_link *l;
	size_t i, len = 0;

	for (i = 0; i < ps->nlinks; i++) {
		if ((l = ps->links[i]) == NULL)	/* being rebuilt */
			continue;
		len += evbuffer_get_length(l->staged);
		if (l->out.state == CONN_UP)
			len += evbuffer_get_length(
			    bufferevent_get_output(l->out.bev));
		if (l->in.state == CONN_UP)
			len += evbuffer_get_length(
			    bufferevent_get_output(l->in.bev));
		if (ps->stopping)
			len += (l->out.bev != NULL) + (l->in.bev != NULL);
	}
	return len;
}
