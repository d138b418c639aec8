/*
 * client.c -- client sessions: accept, read lines, answer them in order,
 * stage the replies, flush them at the end of the turn, and close.
 *
 * A client session reads lines, answers each in order, and closes after
 * the last reply once the client has half-closed.
 *
 * Replies are staged per client during a loop turn and written by
 * clients_flush(), which the owner calls from its end-of-turn flush after
 * the floods, each with one write straight to its socket (a bufferevent
 * only takes what the kernel would not).  A busy turn costs one write per
 * connection.
 *
 * The first line of a connection may instead be a peer HELLO, in which
 * case the owner's hello callback takes the connection over, and a
 * first byte 0x16 (a TLS record) makes it a TLS peer for the owner's
 * peer_tls callback.  A
 * connection accepted beyond max_clients (or into the last
 * CLIENT_FD_RESERVE descriptors) is on probation: only a HELLO within
 * CLIENT_PROBATION_S keeps it, so clients at max_clients never lock
 * neighbours out.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>		/* INET6_ADDRSTRLEN */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "herd/client.h"
#include "herd/log.h"
#include "herd/net.h"
#include "herd/places.h"
#include "herd/proto.h"
#include "herd/tls_client.h"
#include "client_int.h"

#define CLIENT_LINGER_S		1	/* wait for EOF after our last reply */
#define CLIENT_PROBATION_MAX	16	/* connections past max_clients */
#define CLIENT_PROBATION_S	2	/* for their HELLO */
#define CLIENT_FD_RESERVE	8	/* descriptors kept for neighbours */
#define CLIENT_HANDSHAKE_S	5	/* for a TLS client's handshake */

/* Per-request and per-connection lines: only with log_requests. */
#define log_client(cl, ...) do {					\
	if ((cl)->h->log_requests && log_active())			\
		log_info(__VA_ARGS__);					\
} while (0)

static void	client_read_cb(struct bufferevent *, void *);
static void	client_event_cb(struct bufferevent *, short, void *);
static void	client_free(struct client *);
static void	client_refused(struct clients *);
static int	client_process(struct client *);
static int	client_line(struct client *, const char *, size_t);
static int	client_tls_peer(struct client *);
static void	client_invalid(struct client *, const struct proto_span *);
static void	client_iamat(struct client *, const struct proto_request *);
static void	client_whatsat(struct client *, const struct proto_request *);
static void	client_maybe_close(struct client *);
static void	whatsat_done(void *, const char *, size_t);
static time_t	now_s(void);
static int64_t	now_ms(void);

/* A node's session set, empty; fatal when out of memory at start. */
struct clients *
clients_new(struct event_base *base, const char *name,
    const struct herd_settings *h, long fd_limit, const struct store *store,
    struct places *places, const struct client_ops *ops, void *arg)
{
	struct clients *cl;

	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		fatal("calloc");
	cl->base = base;
	cl->name = name;
	cl->name_len = strlen(name);
	cl->store = store;
	cl->places = places;
	cl->ops = ops;
	cl->arg = arg;
	cl->fd_limit = fd_limit;
	TAILQ_INIT(&cl->all);
	TAILQ_INIT(&cl->probation);
	TAILQ_INIT(&cl->dirty);
	TAILQ_INIT(&cl->flushing);
	TAILQ_INIT(&cl->holding);
	if (clients_configure(cl, h) == -1)
		fatal("malloc");
	return cl;
}

/* Take settings h, growing the formatting buffer for its max_line. */
int
clients_configure(struct clients *cl, const struct herd_settings *h)
{
	size_t size = h->max_line + PROTO_AT_SLACK;
	char *ns;

	if (size > cl->scratch_size) {
		if ((ns = realloc(cl->scratch, size)) == NULL)
			return -1;
		cl->scratch = ns;
		cl->scratch_size = size;
	}
	cl->h = h;
	return 0;
}

/* Free every session, then cl. */
void
clients_free(struct clients *cl)
{
	if (cl == NULL)
		return;
	cl->freeing = 1;
	while (!TAILQ_EMPTY(&cl->all))
		client_free(TAILQ_FIRST(&cl->all));
	free(cl->scratch);
	free(cl);
}

/* The number of sessions, probation included. */
size_t
clients_count(const struct clients *cl)
{
	return cl->count;
}

/* The session counters. */
const struct client_stats *
clients_stats(const struct clients *cl)
{
	return &cl->stats;
}

/* Count a connection refused for max_clients; log at most once a second. */
static void
client_refused(struct clients *cl)
{
	cl->stats.refused++;
	if (now_s() != cl->refused_logged) {
		cl->refused_logged = now_s();
		log_warnx("max_clients (%ld) reached: refused %llu %s so"
		    " far", cl->h->max_clients,
		    (unsigned long long)cl->stats.refused,
		    log_plural(cl->stats.refused, "connection",
		    "connections"));
	}
}

/* Set up a session for a new connection; past max_clients (or in the
 * descriptor reserve) it is on probation, evicting the oldest one on
 * probation when CLIENT_PROBATION_MAX are. */
void
clients_accept(struct clients *cl, int fd, const struct sockaddr *sa,
    struct tls_client *tls)
{
	struct client *c;
	struct timeval wto = { cl->h->output_timeout_s, 0 };
	int one = 1, probation;

	/* Neighbour dials count as clients only if their first line is not
	 * a HELLO: past the limit, wait a moment for it. */
	probation = (long)(cl->count - cl->nprobation) >=
	    cl->h->max_clients || (long)fd >= cl->fd_limit -
	    CLIENT_FD_RESERVE;
	if (probation && tls != NULL) {
		/* No neighbour comes by the TLS port: refused at once. */
		client_refused(cl);
		evutil_closesocket(fd);
		return;
	}
	if (probation && cl->nprobation >= CLIENT_PROBATION_MAX) {
		client_refused(cl);
		client_free(TAILQ_FIRST(&cl->probation));
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("accept: calloc");
		evutil_closesocket(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tls != NULL)
		c->bev = tls_client_bufferevent(tls, cl->base, fd);
	else if ((c->bev = bufferevent_socket_new(cl->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		evutil_closesocket(fd);
	if (c->bev == NULL) {
		log_warnx("accept: out of memory for a bufferevent");
		free(c);
		return;
	}
	c->clients = cl;
	c->id = ++cl->next_id;
	/* A HELLO may only come by the plain port. */
	c->first_line = tls == NULL;
	c->tls = c->handshaking = tls != NULL;
	c->last_active = c->since = now_s();
	if ((c->staged = evbuffer_new()) == NULL) {
		log_warnx("accept: evbuffer_new failed");
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	places_queue_init(&c->queue, whatsat_done, c);
	net_addr_str(sa, c->addr, sizeof(c->addr));
	TAILQ_INSERT_TAIL(&cl->all, c, entry);
	cl->count++;
	if (probation) {
		c->probation = 1;
		TAILQ_INSERT_TAIL(&cl->probation, c, probation_entry);
		cl->nprobation++;
	}
	cl->stats.accepted++;
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb,
	    client_event_cb, c);
	bufferevent_set_timeouts(c->bev, NULL, &wto);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_client(cl, "client %llu connected from %s%s",
	    (unsigned long long)c->id, c->addr, c->tls ? " (TLS)" : "");
}

/* Unlink and free c, cancelling its places queries; while stopping, tell
 * the owner (the last client gone may end its loop). */
static void
client_free(struct client *c)
{
	struct clients *cl = c->clients;

	if (!c->became_peer)
		log_client(cl, "client %llu disconnected",
		    (unsigned long long)c->id);
	places_queue_cancel(&c->queue);
	if (c->dirty == 1)
		TAILQ_REMOVE(&cl->dirty, c, dirty_entry);
	else if (c->dirty == 2)
		TAILQ_REMOVE(&cl->flushing, c, dirty_entry);
	evbuffer_free(c->staged);
	if (c->held != NULL) {
		evbuffer_free(c->held);
		TAILQ_REMOVE(&cl->holding, c, hold_entry);
	}
	free(c->marks);
	TAILQ_REMOVE(&cl->all, c, entry);
	cl->count--;
	if (c->probation) {
		TAILQ_REMOVE(&cl->probation, c, probation_entry);
		cl->nprobation--;
	}
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
	if (cl->stopping && !cl->freeing)
		cl->ops->drained(cl->arg);	/* every reply flushed */
}

/*
 * Close when the client half-closed and every reply has been written.
 * When we close first (line too long, shutdown), shut our side and read
 * and discard until the client's EOF: closing a socket with unread input
 * sends a reset, which can destroy replies still in flight.
 */
static void
client_maybe_close(struct client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct timeval linger = { CLIENT_LINGER_S, 0 };

	if (!(c->eof || c->closing) || !places_queue_empty(&c->queue) ||
	    evbuffer_get_length(out) != 0 || evbuffer_get_length(c->staged) ||
	    c->held != NULL)
		return;
	if (c->eof || c->handshaking) {
		client_free(c);
		return;
	}
	if (c->lingering)
		return;
	c->lingering = 1;
	if (c->tls)
		tls_client_close_notify(c->bev);
	(void)shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	bufferevent_set_timeouts(c->bev, &linger, NULL);
	bufferevent_enable(c->bev, EV_READ);
}

/* Answer c with "? <line>", behind any pending WHATSAT replies. */
static void
client_invalid(struct client *c, const struct proto_span *line)
{
	char q[256];

	c->clients->stats.invalid++;
	log_client(c->clients, "client %llu: invalid: %s",
	    (unsigned long long)c->id, log_quote(q, sizeof(q), line->p,
	    line->len));
	if (!places_queue_empty(&c->queue)) {
		places_queue_append(&c->queue, "? ", 2);
		places_queue_append(&c->queue, line->p, line->len);
		places_queue_append(&c->queue, "\n", 1);
		c->clients->stats.replies++;
		return;
	}
	c->clients->stats.replies++;
	client_stage(c, "? ", 2);
	client_stage(c, line->p, line->len);
	client_stage(c, "\n", 1);
}

/* Store an IAMAT as our AT line and echo that line, or the stored one when a
 * newer record is held; "?" when the store refuses it. */
static void
client_iamat(struct client *c, const struct proto_request *req)
{
	struct clients *cl = c->clients;
	const struct herd_record *rec;
	struct herd_time now;
	struct timespec ts;
	char diff[PROTO_TIME_DIFF_MAX], q[256];
	size_t dlen, len;
	enum store_result r;

	clock_gettime(CLOCK_REALTIME, &ts);
	now.sec = ts.tv_sec;
	now.nsec = (int32_t)ts.tv_nsec;
	dlen = proto_format_diff(&now, &req->sent, diff, sizeof(diff));
	len = proto_format_at(cl->scratch, cl->scratch_size - 1, cl->name,
	    cl->name_len, diff, dlen, req);
	r = cl->ops->record(cl->arg, req->client.p, req->client.len,
	    &req->sent, cl->scratch, len, &rec);
	if (r == STORE_FULL || r == STORE_NOMEM) {
		client_invalid(c, &req->line);
		return;
	}
	if (r == STORE_STALE && time_cmp(&rec->sent, &req->sent) > 0) {
		/* A newer record is held: answer with it; nothing stored. */
		log_client(cl, "client %llu: stale IAMAT, replying with newer:"
		    " %s", (unsigned long long)c->id, log_quote(q, sizeof(q),
		    record_line(rec), rec->line_len));
		len = rec->line_len;
		memcpy(cl->scratch, record_line(rec), len);
	} else
		log_client(cl, "client %llu: %s", (unsigned long long)c->id,
		    log_quote(q, sizeof(q), cl->scratch, len));
	cl->stats.iamat++;
	cl->scratch[len] = '\n';
	client_reply(c, cl->scratch, len + 1);
}

/* Query places around the client's stored location; "?" if it is unknown. */
static void
client_whatsat(struct client *c, const struct proto_request *req)
{
	struct clients *cl = c->clients;
	const struct herd_record *rec;

	rec = store_get(cl->store, req->client.p, req->client.len);
	if (rec == NULL) {
		client_invalid(c, &req->line);
		return;
	}
	cl->stats.replies++;
	cl->stats.whatsat++;
	places_query(cl->places, &c->queue, rec, req->radius_km,
	    req->max_results);
}

/* The places queue of c has replies ready at its head: write them. */
static void
whatsat_done(void *arg, const char *p, size_t len)
{
	struct client *c = arg;

	const char *nl = memchr(p, '\n', len);
	char q[256];

	log_client(c->clients, "client %llu: reply %s",
	    (unsigned long long)c->id, log_quote(q, sizeof(q), p,
	    nl ? (size_t)(nl - p) : len));
	/* An IAMAT reply queued behind a WHATSAT may be in this output. */
	client_stage_seq(c, p, len, c->queued_seq);
	if (places_queue_empty(&c->queue))
		c->queued_seq = 0;
}

/* The first byte is a TLS handshake record (0x16, never the start of a
 * classic line): a TLS peer, handed to the owner before any line is
 * parsed, or closed when refused.  Always -1: c is gone. */
static int
client_tls_peer(struct client *c)
{
	struct clients *cl = c->clients;

	c->first_line = 0;
	bufferevent_disable(c->bev, EV_READ);
	if (cl->ops->peer_tls != NULL &&
	    cl->ops->peer_tls(cl->arg, c->bev, c->addr) == 0) {
		c->bev = NULL;
		c->became_peer = 1;
		log_client(cl, "connection %llu from %s became a peer link"
		    " (TLS handshake)", (unsigned long long)c->id, c->addr);
	}
	client_free(c);
	return -1;
}

/* Handle one line (without its newline); -1 when the client was freed
 * or must not be read further. */
static int
client_line(struct client *c, const char *p, size_t len)
{
	struct clients *cl = c->clients;
	struct proto_request req;
	char q[256];

	cl->stats.lines_in++;
	if (c->first_line) {
		c->first_line = 0;
		if (proto_is_hello(p, len)) {
			struct bufferevent *bev = c->bev;
			struct proto_hello h;
			char from[HERD_NAME_MAX + 1] = "?";

			/* The line is gone once the peers took it. */
			if (proto_parse_hello(p, len, &h) == 0)
				log_quote(from, sizeof(from), h.from.p,
				    h.from.len);
			/* Hand it to the owner (the peers), or refuse it. */
			bufferevent_disable(bev, EV_READ);
			if (cl->ops->hello(cl->arg, bev, p, len, c->addr) == 0) {
				c->bev = NULL;
				c->became_peer = 1;
				log_client(cl, "connection %llu from %s became"
				    " the link from %s",
				    (unsigned long long)c->id, c->addr, from);
				client_free(c);
				return -1;
			}
			req.line = proto_trim(p, len);
			client_invalid(c, &req.line);
			c->closing = 1;
			return -1;
		}
		if (c->probation) {
			/* A client past max_clients: refused. */
			client_refused(cl);
			client_free(c);
			return -1;
		}
	}
	proto_parse_request(p, len, &req);
	log_client(cl, "client %llu: received %s", (unsigned long long)c->id,
	    log_quote(q, sizeof(q), req.line.p, req.line.len));
	switch (req.kind) {
	case PROTO_IAMAT:
		client_iamat(c, &req);
		break;
	case PROTO_WHATSAT:
		client_whatsat(c, &req);
		break;
	default:
		client_invalid(c, &req.line);
		break;
	}
	return 0;
}

/*
 * Answer every complete line in the input buffer.  Stops early when the
 * client's unsent output passes max_output (reading resumes from the
 * write callback) or when a line is too long (answered, then closed).
 */
static int
client_process(struct client *c)
{
	struct clients *cl = c->clients;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_ptr eol;
	size_t max = cl->h->max_line, avail, len;
	struct proto_span line;
	const char *p;

	if (c->lingering) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return 0;
	}
	while (!c->closing) {
		/* Stopping, the lines already read are answered anyway. */
		if (!cl->stopping && evbuffer_get_length(out) +
		    evbuffer_get_length(c->staged) +
		    places_queue_bytes(&c->queue) > cl->h->max_output) {
			if (!c->paused)
				c->paused_since = now_s();
			c->paused = 1;
			bufferevent_disable(c->bev, EV_READ);
			return 0;
		}
		avail = evbuffer_get_length(in);
		if (avail == 0) {
			c->partial_since = 0;
			return 0;
		}
		if (c->first_line && *evbuffer_pullup(in, 1) == 0x16)
			return client_tls_peer(c);
		eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
		if (eol.pos == -1 && !c->eof) {
			if (avail <= max) {
				/* Wait for the rest, but not forever. */
				if (c->partial_since == 0)
					c->partial_since = now_ms();
				return 0;
			}
			len = avail;
		} else
			len = eol.pos == -1 ? avail : (size_t)eol.pos;
		if (len > max) {
			/* Too long: answer "?" with the line cut, then close. */
			p = (const char *)evbuffer_pullup(in, (ev_ssize_t)max);
			line = proto_trim(p, max);
			log_warnx("client %llu: line longer than %zu bytes,"
			    " closing", (unsigned long long)c->id, max);
			client_invalid(c, &line);
			c->closing = 1;
			bufferevent_disable(c->bev, EV_READ);
			evbuffer_drain(in, avail);
			return 0;
		}
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
		if (eol.pos == -1 && proto_trim(p, len).len == 0) {
			/* Whitespace after the last newline is not a line. */
			evbuffer_drain(in, len);
			return 0;
		}
		if (client_line(c, p, len) == -1)
			return -1;
		evbuffer_drain(in, eol.pos == -1 ? len : len + 1);
		/* What follows is a new line: its deadline starts when it
		 * is seen incomplete, not when the buffer last ran empty. */
		c->partial_since = 0;
	}
	return 0;
}

/* Note activity, answer the complete lines read, then close c if it is done. */
static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	(void)bev;
	c->last_active = now_s();
	if (client_process(c) == 0)
		client_maybe_close(c);
}

/* Output drained: resume reading if paused, then close c if it is done. */
void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->paused) {
		c->paused = 0;
		bufferevent_enable(bev, EV_READ);
		if (client_process(c) == -1)
			return;
	}
	client_maybe_close(c);
}

/* On EOF answer a last unterminated line and close when done; on a write
 * timeout or error, or while lingering, free c. */
static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	char why[512];

	if (what & BEV_EVENT_CONNECTED) {
		c->handshaking = 0;	/* TLS is up */
		log_client(c->clients, "client %llu: TLS handshake done",
		    (unsigned long long)c->id);
		return;
	}
	if (c->lingering) {
		client_free(c);		/* EOF, error or linger timeout */
		return;
	}
	if (c->tls && (what & BEV_EVENT_ERROR)) {
		/* A refused handshake is worth a warning; a session that
		 * breaks later is as ordinary as a plain one. */
		tls_client_error(bev, why, sizeof(why));
		if (c->handshaking)
			log_warnx("client %llu from %s: TLS handshake failed:"
			    " %s, closed", (unsigned long long)c->id, c->addr,
			    why);
		else
			log_info("client %llu: TLS: %s, closed",
			    (unsigned long long)c->id, why);
		client_free(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* Half-close: the last line may lack its newline. */
		c->eof = 1;
		if (client_process(c) == 0)
			client_maybe_close(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_warnx("client %llu: not reading its replies, dropped",
		    (unsigned long long)c->id);
	else if (what & BEV_EVENT_ERROR)
		log_info("client %llu: %s", (unsigned long long)c->id,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	client_free(c);
}

/*
 * Once a second: refuse the sessions whose probation is over, and drop
 * clients past a deadline -- a partial line older
 * than line_timeout_s (slowloris), no traffic for idle_timeout_s, or
 * replies unread for output_timeout_s.
 */
void
clients_sweep(struct clients *cl)
{
	const struct herd_settings *h = cl->h;
	struct client *c, *next;
	time_t now = now_s();
	const char *why;

	while ((c = TAILQ_FIRST(&cl->probation)) != NULL &&
	    now - c->since >= CLIENT_PROBATION_S) {
		client_refused(cl);	/* past max_clients, and no HELLO */
		client_free(c);
	}
	for (c = TAILQ_FIRST(&cl->all); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		why = NULL;
		if (c->lingering)
			continue;
		if (c->handshaking &&
		    now - c->since >= CLIENT_HANDSHAKE_S) {
			log_warnx("client %llu from %s: TLS handshake not"
			    " finished within %d s, closed",
			    (unsigned long long)c->id, c->addr,
			    CLIENT_HANDSHAKE_S);
			cl->stats.dropped++;
			client_free(c);
			continue;
		}
		/* Paused, we do not read: a partial line is not its delay. */
		if (c->partial_since != 0 && !c->paused &&
		    now_ms() - c->partial_since >= h->line_timeout_s * 1000)
			why = "partial line deadline passed";
		else if (c->paused &&
		    now - c->paused_since >= h->output_timeout_s)
			why = "not reading its replies";
		else if (h->idle_timeout_s > 0 &&
		    now - c->last_active >= h->idle_timeout_s &&
		    places_queue_empty(&c->queue) &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			why = "idle timeout";
		if (why != NULL) {
			log_info("client %llu: %s, dropped",
			    (unsigned long long)c->id, why);
			cl->stats.dropped++;
			client_free(c);
		}
	}
}

/* SIGTERM: stop reading, answer every line already read, and close each
 * session once its replies are out. */
void
clients_stop(struct clients *cl)
{
	struct client *c, *t;

	cl->stopping = 1;
	for (c = TAILQ_FIRST(&cl->all); c != NULL; c = t) {
		t = TAILQ_NEXT(c, entry);
		if (!c->closing && client_process(c) == -1)
			continue;	/* handed over or closing */
		c->closing = 1;
		bufferevent_disable(c->bev, EV_READ);
		client_maybe_close(c);
	}
}

/* Seconds on a coarse monotonic clock (cheap; for timeouts only). */
static time_t
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec;
}

/* Milliseconds on the coarse monotonic clock (never 0 once booted). */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
