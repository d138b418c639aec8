/*
 * node.c -- the herd server's event loop: listener, client sessions,
 * signals, and the merge-then-flood step every record goes through.
 *
 * A client session reads lines, answers each in order, and closes after
 * the last reply once the client has half-closed.
 *
 * Replies are staged per client during a loop turn and written by one
 * flush event at its end: first the floods to every neighbour, then each
 * client's replies, each with one write straight to its socket (a
 * bufferevent only takes what the kernel would not).  So a flood has
 * been handed to its link (the kernel, or the link's output queue when
 * that is not empty) before the reply that acknowledges it is written,
 * and on SIGTERM the node stays up, within the replies' grace period,
 * until those queues have reached the kernel.  A busy turn costs one
 * write per connection.
 *
 * The first line of a connection may instead be a peer HELLO, in which
 * case peer.c takes the connection over.  A connection accepted beyond
 * max_clients (or into the last NODE_FD_RESERVE descriptors) is on
 * probation: only a HELLO within NODE_PROBATION_S keeps it, so clients
 * at max_clients never lock neighbours out.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "herd/log.h"
#include "herd/node.h"
#include "herd/peer.h"
#include "herd/places.h"

#define CLIENT_LINGER_S		1	/* wait for EOF after our last reply */
#define STOP_GRACE_S		2	/* SIGTERM: WHATSATs in flight may finish */
#define STOP_WRITE_S		1	/* then their answers may be written */
#define NODE_PROBATION_MAX	16	/* connections past max_clients */
#define NODE_PROBATION_S	2	/* for their HELLO */
#define NODE_FD_RESERVE		8	/* descriptors kept for neighbours */

struct client {
	TAILQ_ENTRY(client)	 entry;
	struct node		*node;
	struct bufferevent	*bev;
	uint64_t		 id;
	char			 addr[INET6_ADDRSTRLEN + 8];
	int			 eof;		/* client half-closed */
	int			 closing;	/* close once output drains */
	int			 first_line;	/* may still be a peer HELLO */
	int			 probation;	/* on node->probation */
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
	TAILQ_ENTRY(client)	 dirty_entry;	/* in node->dirty */
	int			 dirty;		/* 1: in dirty, 2: in flushing */
};

/* Per-request and per-connection lines: only with log_requests. */
#define log_client(n, ...) do {						\
	if ((n)->cfg->herd.log_requests && log_active())		\
		log_info(__VA_ARGS__);					\
} while (0)

static void	accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	accept_error_cb(struct evconnlistener *, void *);
static void	client_read_cb(struct bufferevent *, void *);
static void	client_write_cb(struct bufferevent *, void *);
static void	client_event_cb(struct bufferevent *, short, void *);
static void	client_free(struct client *);
static void	client_refused(struct node *);
static int	client_process(struct client *);
static int	client_line(struct client *, const char *, size_t);
static void	client_reply(struct client *, const char *, size_t);
static void	client_invalid(struct client *, const struct proto_span *);
static void	client_iamat(struct client *, const struct proto_request *);
static void	client_whatsat(struct client *, const struct proto_request *);
static void	client_maybe_close(struct client *);
static void	whatsat_done(void *, const char *, size_t);
static void	signal_cb(evutil_socket_t, short, void *);
static void	node_stats_log(struct node *);
static int	node_listen(struct node *);
static void	node_apply_links(struct node *);
static void	sockaddr_str(const struct sockaddr *, char *, size_t);
static void	node_report(struct node *, const char *);
static time_t	now_s(void);
static int64_t	now_ms(void);
static void	client_stage(struct client *, const char *, size_t);
static void	client_flush(struct client *);
static void	flush_cb(evutil_socket_t, short, void *);
static void	sweep_cb(evutil_socket_t, short, void *);
static void	reconcile_cb(evutil_socket_t, short, void *);
static void	node_arm_reconcile(struct node *);
static void	raise_nofile(struct node *);
static void	resume_cb(evutil_socket_t, short, void *);
static void	stop_grace_cb(evutil_socket_t, short, void *);
static int	node_secret(const struct herd_config *, struct auth_secret *,
		    char *, size_t);

/* --- records ----------------------------------------------------------- */

/* Offer a record to the store; flood it (not back to from) when it changed
 * the store, and log a full store at most once a second. */
enum store_result
node_merge(struct node *n, struct peer_link *from, const char *client,
    size_t clen, const struct herd_time *sent, const char *line, size_t llen,
    const struct herd_record **out)
{
	enum store_result r;

	r = store_merge(n->store, client, clen, sent, line, llen, out);
	switch (r) {
	case STORE_CHANGED:
		peer_flood(n, from, *out);
		break;
	case STORE_FULL:
		n->stats.store_full++;
		if (now_s() != n->full_logged) {
			n->full_logged = now_s();
			log_warnx("store full (max_records %zu): refused a new"
			    " client id (%llu so far)", store_count(n->store),
			    (unsigned long long)n->stats.store_full);
		}
		break;
	case STORE_NOMEM:
		log_warnx("out of memory storing a record");
		break;
	default:
		break;
	}
	return r;
}

/* --- client sessions --------------------------------------------------- */

/* Count a connection refused for max_clients; log at most once a second. */
static void
client_refused(struct node *n)
{
	n->stats.refused++;
	if (now_s() != n->refused_logged) {
		n->refused_logged = now_s();
		log_warnx("max_clients (%ld) reached: refused %llu"
		    " connections so far", n->cfg->herd.max_clients,
		    (unsigned long long)n->stats.refused);
	}
}

/* Set up a session for a new connection; past max_clients (or in the
 * descriptor reserve) it is on probation, evicting the oldest one on
 * probation when NODE_PROBATION_MAX are. */
static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct node *n = arg;
	struct client *c;
	struct timeval wto = { n->cfg->herd.output_timeout_s, 0 };
	int one = 1, probation;

	(void)l;
	(void)salen;
	/* Neighbour dials count as clients only if their first line is not
	 * a HELLO: past the limit, wait a moment for it. */
	probation = (long)(n->nclients - n->nprobation) >=
	    n->cfg->herd.max_clients || (long)fd >= n->fd_limit -
	    NODE_FD_RESERVE;
	if (probation && n->nprobation >= NODE_PROBATION_MAX) {
		client_refused(n);
		client_free(TAILQ_FIRST(&n->probation));
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("accept: calloc");
		evutil_closesocket(fd);
		return;
	}
	c->bev = bufferevent_socket_new(n->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx("accept: bufferevent_socket_new failed");
		evutil_closesocket(fd);
		free(c);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->node = n;
	c->id = ++n->next_client_id;
	c->first_line = 1;
	c->last_active = c->since = now_s();
	if ((c->staged = evbuffer_new()) == NULL) {
		log_warnx("accept: evbuffer_new failed");
		bufferevent_free(c->bev);
		free(c);
		return;
	}
	places_queue_init(&c->queue, whatsat_done, c);
	sockaddr_str(sa, c->addr, sizeof(c->addr));
	TAILQ_INSERT_TAIL(&n->clients, c, entry);
	n->nclients++;
	if (probation) {
		c->probation = 1;
		TAILQ_INSERT_TAIL(&n->probation, c, probation_entry);
		n->nprobation++;
	}
	n->stats.accepted++;
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb,
	    client_event_cb, c);
	bufferevent_set_timeouts(c->bev, NULL, &wto);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_client(c->node, "client %llu connected from %s", (unsigned long long)c->id,
	    c->addr);
}

/*
 * accept() failed.  Out of descriptors (EMFILE, ENFILE) the pending
 * connection stays readable and the listener would spin: pause it for
 * a moment instead, and log it once per pause.
 */
static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct node *n = arg;
	struct timeval pause = { 0, 100000 };
	int err = EVUTIL_SOCKET_ERROR();

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warnx("accept: %s", evutil_socket_error_to_string(err));
		return;
	}
	log_warnx("accept: %s (%zu clients): pausing new connections for"
	    " 100 ms", evutil_socket_error_to_string(err), n->nclients);
	evconnlistener_disable(l);
	evtimer_add(n->resume_ev, &pause);
}

/* Re-enable the listener after an accept-error pause, unless stopping. */
static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;

	(void)fd;
	(void)what;
	if (!n->stopping)
		evconnlistener_enable(n->listener);
}

/* Unlink and free c, cancelling its places queries; the last client gone
 * while stopping ends the loop. */
static void
client_free(struct client *c)
{
	struct node *n = c->node;

	log_client(c->node, "client %llu disconnected", (unsigned long long)c->id);
	places_queue_cancel(&c->queue);
	if (c->dirty == 1)
		TAILQ_REMOVE(&n->dirty, c, dirty_entry);
	else if (c->dirty == 2)
		TAILQ_REMOVE(&n->flushing, c, dirty_entry);
	evbuffer_free(c->staged);
	TAILQ_REMOVE(&n->clients, c, entry);
	n->nclients--;
	if (c->probation) {
		TAILQ_REMOVE(&n->probation, c, probation_entry);
		n->nprobation--;
	}
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
	if (n->stopping)
		node_stop_if_done(n);	/* every reply flushed */
}

/* End the loop once every client is gone and every flood reached the
 * kernel; the grace timer of signal_cb ends it otherwise. */
void
node_stop_if_done(struct node *n)
{
	if (n->nclients == 0 && peer_unsent(n) == 0)
		event_base_loopbreak(n->base);
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
	    evbuffer_get_length(out) != 0 || evbuffer_get_length(c->staged))
		return;
	if (c->eof) {
		client_free(c);
		return;
	}
	if (c->lingering)
		return;
	c->lingering = 1;
	(void)shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	bufferevent_set_timeouts(c->bev, &linger, NULL);
	bufferevent_enable(c->bev, EV_READ);
}

/* Stage bytes for c; the turn's flush writes them. */
static void
client_stage(struct client *c, const char *p, size_t len)
{
	struct node *n = c->node;

	if (evbuffer_add(c->staged, p, len) == -1)
		fatalx("client %llu: out of memory for a reply",
		    (unsigned long long)c->id);	/* never drop one */
	if (!c->dirty) {
		c->dirty = 1;
		TAILQ_INSERT_TAIL(&n->dirty, c, dirty_entry);
	}
	node_schedule_flush(n);
}

/* Stage a reply for c, or queue it behind pending WHATSAT replies to keep
 * the order. */
static void
client_reply(struct client *c, const char *p, size_t len)
{
	c->node->stats.replies++;
	if (!places_queue_empty(&c->queue))
		places_queue_append(&c->queue, p, len);	/* keep order */
	else
		client_stage(c, p, len);
}

/* Write c's staged replies: straight to the socket when nothing is
 * queued before them, the rest through the bufferevent.  May free c. */
static void
client_flush(struct client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (evbuffer_get_length(c->staged) == 0)
		return;
	if (evbuffer_get_length(out) == 0)
		(void)evbuffer_write(c->staged, bufferevent_getfd(c->bev));
	if (evbuffer_get_length(c->staged) > 0) {
		evbuffer_add_buffer(out, c->staged);	/* the rest, later */
		return;
	}
	/* All out, as the write callback would see it drained. */
	client_write_cb(c->bev, c);
}

/* The end of a loop turn: floods first, then the replies that
 * acknowledge them. */
static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	struct client *c;

	(void)fd;
	(void)what;
	n->flush_scheduled = 0;
	peer_flush(n);
	/* Replies staged while flushing (a paused client resumed) wait
	 * for the next flush, after their floods. */
	TAILQ_FOREACH(c, &n->dirty, dirty_entry)
		c->dirty = 2;
	TAILQ_CONCAT(&n->flushing, &n->dirty, dirty_entry);
	while ((c = TAILQ_FIRST(&n->flushing)) != NULL) {
		TAILQ_REMOVE(&n->flushing, c, dirty_entry);
		c->dirty = 0;
		client_flush(c);
	}
	if (n->stopping)
		node_stop_if_done(n);	/* the floods may all be out now */
}

/* Activate the end-of-turn flush event unless it is already pending. */
void
node_schedule_flush(struct node *n)
{
	if (!n->flush_scheduled) {
		n->flush_scheduled = 1;
		event_active(n->flush_ev, EV_WRITE, 0);
	}
}

/* Answer c with "? <line>", behind any pending WHATSAT replies. */
static void
client_invalid(struct client *c, const struct proto_span *line)
{
	char q[256];

	c->node->stats.invalid++;
	log_client(c->node, "client %llu: invalid: %s", (unsigned long long)c->id,
	    log_quote(q, sizeof(q), line->p, line->len));
	if (!places_queue_empty(&c->queue)) {
		places_queue_append(&c->queue, "? ", 2);
		places_queue_append(&c->queue, line->p, line->len);
		places_queue_append(&c->queue, "\n", 1);
		c->node->stats.replies++;
		return;
	}
	c->node->stats.replies++;
	client_stage(c, "? ", 2);
	client_stage(c, line->p, line->len);
	client_stage(c, "\n", 1);
}

/* Store an IAMAT as our AT line and echo that line, or the stored one when a
 * newer record is held; "?" when the store refuses it. */
static void
client_iamat(struct client *c, const struct proto_request *req)
{
	struct node *n = c->node;
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
	len = proto_format_at(n->scratch, n->scratch_size - 1, n->name,
	    n->name_len, diff, dlen, req);
	r = node_merge(n, NULL, req->client.p, req->client.len, &req->sent,
	    n->scratch, len, &rec);
	if (r == STORE_FULL || r == STORE_NOMEM) {
		client_invalid(c, &req->line);
		return;
	}
	if (r == STORE_STALE && time_cmp(&rec->sent, &req->sent) > 0) {
		/* A newer record is held: answer with it; nothing stored. */
		log_client(n, "client %llu: stale IAMAT, replying with newer:"
		    " %s", (unsigned long long)c->id, log_quote(q, sizeof(q),
		    record_line(rec), rec->line_len));
		len = rec->line_len;
		memcpy(n->scratch, record_line(rec), len);
	} else
		log_client(n, "client %llu: %s", (unsigned long long)c->id,
		    log_quote(q, sizeof(q), n->scratch, len));
	n->scratch[len] = '\n';
	client_reply(c, n->scratch, len + 1);
}

/* Query places around the client's stored location; "?" if it is unknown. */
static void
client_whatsat(struct client *c, const struct proto_request *req)
{
	struct node *n = c->node;
	const struct herd_record *rec;

	rec = store_get(n->store, req->client.p, req->client.len);
	if (rec == NULL) {
		client_invalid(c, &req->line);
		return;
	}
	n->stats.replies++;
	places_query(n->places, &c->queue, rec, req->radius_km,
	    req->max_results);
}

/* The places queue of c has replies ready at its head: write them. */
static void
whatsat_done(void *arg, const char *p, size_t len)
{
	struct client *c = arg;

	const char *nl = memchr(p, '\n', len);
	char q[256];

	log_client(c->node, "client %llu: reply %s",
	    (unsigned long long)c->id, log_quote(q, sizeof(q), p,
	    nl ? (size_t)(nl - p) : len));
	client_stage(c, p, len);
}

/* Handle one line (without its newline); -1 when the client was freed
 * or must not be read further. */
static int
client_line(struct client *c, const char *p, size_t len)
{
	struct node *n = c->node;
	struct proto_request req;
	char q[256];

	n->stats.lines_in++;
	if (c->first_line) {
		c->first_line = 0;
		if (proto_is_hello(p, len)) {
			struct bufferevent *bev = c->bev;

			/* Hand the connection to peer.c, or refuse it. */
			bufferevent_disable(bev, EV_READ);
			if (peer_accept(n, bev, p, len, c->addr) == 0) {
				c->bev = NULL;
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
			client_refused(n);
			client_free(c);
			return -1;
		}
	}
	proto_parse_request(p, len, &req);
	log_client(c->node, "client %llu: received %s", (unsigned long long)c->id,
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
	struct node *n = c->node;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_ptr eol;
	size_t max = n->cfg->herd.max_line, avail, len;
	struct proto_span line;
	const char *p;

	if (c->lingering) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return 0;
	}
	while (!c->closing) {
		/* Stopping, the lines already read are answered anyway. */
		if (!n->stopping && evbuffer_get_length(out) +
		    evbuffer_get_length(c->staged) +
		    places_queue_bytes(&c->queue) > n->cfg->herd.max_output) {
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
static void
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

	(void)bev;
	if (c->lingering) {
		client_free(c);		/* EOF, error or linger timeout */
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

/*
 * Once a second: tell the supervisor the record count, and drop
 * clients past a deadline -- a partial line older
 * than line_timeout_s (slowloris), no traffic for idle_timeout_s, or
 * replies unread for output_timeout_s.
 */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	const struct herd_settings *h = &n->cfg->herd;
	struct client *c, *next;
	time_t now = now_s();
	const char *why;

	(void)fd;
	(void)what;
	node_records_changed(n);
	while ((c = TAILQ_FIRST(&n->probation)) != NULL &&
	    now - c->since >= NODE_PROBATION_S) {
		client_refused(n);	/* past max_clients, and no HELLO */
		client_free(c);
	}
	for (c = TAILQ_FIRST(&n->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		why = NULL;
		if (c->lingering)
			continue;
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
			n->stats.dropped++;
			client_free(c);
		}
	}
}

/* Every reconcile_s: re-send the store on every link (anti-entropy). */
static void
reconcile_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;

	(void)fd;
	(void)what;
	peer_reconcile(n);
	node_arm_reconcile(n);
}

/* Arm the reconcile timer for reconcile_s seconds, or disarm it when
 * reconcile_s is not positive. */
static void
node_arm_reconcile(struct node *n)
{
	struct timeval tv = { n->cfg->herd.reconcile_s, 0 };

	if (n->cfg->herd.reconcile_s > 0)
		evtimer_add(n->reconcile_ev, &tv);
	else
		evtimer_del(n->reconcile_ev);
}

/* Allow as many descriptors as the hard limit does. */
static void
raise_nofile(struct node *n)
{
	struct rlimit rl;

	n->fd_limit = LONG_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE)");
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)LONG_MAX)
		n->fd_limit = (long)rl.rlim_cur;
	/* Peers, the listener, curl and logging need descriptors too. */
	if (rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)n->cfg->herd.max_clients + 64 > rl.rlim_cur)
		log_warnx("max_clients %ld is above what the descriptor limit"
		    " (%llu) allows; connections past it are paused, not"
		    " refused: raise LimitNOFILE / ulimit -n",
		    n->cfg->herd.max_clients, (unsigned long long)rl.rlim_cur);
}

/* --- node lifecycle ---------------------------------------------------- */

/* Format sa as "addr:port" ("[addr]:port" for IPv6) into buf, else "?". */
static void
sockaddr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)
		    (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, size, "%s:%u", a, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)
		    (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, size, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else
		snprintf(buf, size, "?");
}

/* Listen on self's bind address and port; -1 (logged) on failure. */
static int
node_listen(struct node *n)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char addr[HERD_ADDR_MAX + 16];

	if (strchr(n->self->bind, ':') != NULL)
		snprintf(addr, sizeof(addr), "[%s]:%u", n->self->bind,
		    n->self->port);
	else
		snprintf(addr, sizeof(addr), "%s:%u", n->self->bind,
		    n->self->port);
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss,
	    &sslen) == -1) {
		log_warnx("cannot parse listen address %s", addr);
		return -1;
	}
	n->listener = evconnlistener_new_bind(n->base, accept_cb, n,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, (struct sockaddr *)&ss, sslen);
	if (n->listener == NULL) {
		snprintf(n->failure, sizeof(n->failure), "cannot listen on %s:"
		    " %s", addr, strerror(errno));
		log_warnx("%s", n->failure);
		return -1;
	}
	evconnlistener_set_error_cb(n->listener, accept_error_cb);
	log_info("listening on %s", addr);
	return 0;
}

/* Make the set of peer links match self's neighbours in n->cfg. */
static void
node_apply_links(struct node *n)
{
	const struct herd_server *self = n->self;
	struct peer_link **nl;
	size_t i, k;

	nl = calloc(self->nlinks ? self->nlinks : 1, sizeof(*nl));
	if (nl == NULL)
		fatal("calloc");
	for (k = 0; k < self->nlinks; k++) {
		const struct herd_server *nb = &n->cfg->servers[self->links[k]];

		for (i = 0; i < n->nlinks; i++) {
			if (n->links[i] != NULL &&
			    strcmp(peer_link_name(n->links[i]), nb->name) == 0)
				break;
		}
		if (i < n->nlinks) {
			nl[k] = n->links[i];
			n->links[i] = NULL;
			peer_link_update(nl[k], nb);
		} else
			nl[k] = peer_link_new(n, nb);
	}
	for (i = 0; i < n->nlinks; i++) {
		if (n->links[i] != NULL) {
			log_info("neighbour %s removed",
			    peer_link_name(n->links[i]));
			peer_link_free(n->links[i]);
		}
	}
	free(n->links);
	n->links = nl;
	n->nlinks = self->nlinks;
}

/* Count the neighbour links that are up. */
size_t
node_links_up(const struct node *n)
{
	size_t i, up = 0;

	for (i = 0; i < n->nlinks; i++)	/* NULL while links are rebuilt */
		up += n->links[i] && peer_link_is_up(n->links[i]) ? 1 : 0;
	return up;
}

/* Load the peer secret: [herd] secret_file, else $HERD_SECRET_FILE
 * (herdctl's generated one), else none (protected mode). */
static int
node_secret(const struct herd_config *cfg, struct auth_secret *out,
    char *err, size_t errsize)
{
	const char *path = cfg->herd.secret_file;

	if (path == NULL)
		path = getenv("HERD_SECRET_FILE");
	if (path == NULL || *path == '\0') {
		out->len = 0;
		return 0;
	}
	return auth_load_secret(path, out, err, errsize);
}

/* Re-read the config and apply it live (secret, log socket, limits,
 * reconcile timer, places, links); on any error keep the running one.
 * The supervisor gets "RELOADED ok" or "RELOADED error <why>". */
void
node_reload(struct node *n)
{
	struct config_errors errs;
	struct herd_config *cfg;
	const struct herd_server *self;
	struct auth_secret secret;
	char err[512], line[400];
	size_t i;

	log_info("reloading %s", n->config_path);
	if ((cfg = config_load(n->config_path, &errs)) == NULL) {
		for (i = 0; i < errs.count; i++)
			log_warnx("reload: %s", errs.msgs[i]);
		log_warnx("reload failed: keeping the running configuration");
		snprintf(err, sizeof(err), "%s", errs.count ? errs.msgs[0] :
		    "configuration error");
		config_errors_free(&errs);
		goto fail;
	}
	if ((self = config_server(cfg, n->name)) == NULL) {
		log_warnx("reload: server %s is no longer in %s: keeping the"
		    " running configuration", n->name, n->config_path);
		snprintf(err, sizeof(err), "no [server:%s] in %s", n->name,
		    n->config_path);
		config_free(cfg);
		goto fail;
	}
	if (node_secret(cfg, &secret, err, sizeof(err)) == -1) {
		log_warnx("reload: %s; keeping the running configuration", err);
		config_free(cfg);
		goto fail;
	}
	if (self->port != n->self->port || strcmp(self->bind,
	    n->self->bind) != 0)
		log_warnx("reload: the listen address changed; it takes"
		    " effect only after a restart");
	if (cfg->herd.max_line + 256 > n->scratch_size) {
		char *ns = realloc(n->scratch, cfg->herd.max_line + 256);

		if (ns == NULL) {
			log_warnx("reload: out of memory; keeping the running"
			    " configuration");
			snprintf(err, sizeof(err), "out of memory");
			config_free(cfg);
			goto fail;
		}
		n->scratch = ns;
		n->scratch_size = cfg->herd.max_line + 256;
	}
	config_free(n->cfg);
	n->cfg = cfg;
	n->self = self;
	if (secret.len != n->secret.len || memcmp(secret.data,
	    n->secret.data, secret.len) != 0)
		log_info("reload: the peer secret changed; links re-authenticate"
		    " as they reconnect");
	n->secret = secret;
	log_set_socket(cfg->herd.log_socket);
	store_set_limit(n->store, (size_t)cfg->herd.max_records);
	node_arm_reconcile(n);
	places_configure(n->places, &cfg->places);
	node_apply_links(n);
	node_peers_changed(n);
	log_info("reloaded: %zu neighbours", n->nlinks);
	node_report(n, "RELOADED ok\n");
	return;
fail:
	/* One line on the status pipe: no newline inside, bounded. */
	for (i = 0; err[i] != '\0'; i++)
		if (err[i] == '\n' || err[i] == '\r')
			err[i] = ' ';
	snprintf(line, sizeof(line), "RELOADED error %.300s\n", err);
	node_report(n, line);
}

/* Log one stats line: records, clients, links, traffic and store memory. */
static void
node_stats_log(struct node *n)
{
	log_info("stats: records=%zu clients=%zu peers_up=%zu/%zu lines_in=%llu"
	    " replies=%llu invalid=%llu flood_in=%llu flood_out=%llu"
	    " accepted=%llu refused=%llu dropped=%llu log_dropped=%lu"
	    " store_bytes=%zu", store_count(n->store),
	    n->nclients, node_links_up(n), n->nlinks,
	    (unsigned long long)n->stats.lines_in,
	    (unsigned long long)n->stats.replies,
	    (unsigned long long)n->stats.invalid,
	    (unsigned long long)n->stats.flood_in,
	    (unsigned long long)n->stats.flood_out,
	    (unsigned long long)n->stats.accepted,
	    (unsigned long long)n->stats.refused,
	    (unsigned long long)n->stats.dropped, log_dropped(),
	    store_bytes(n->store));
}

/*
 * HUP reloads, USR1 logs stats; TERM/INT stop accepting, answer every
 * line already read, close every client once its replies are out, and
 * exit once the floods queued on the links have reached the kernel too.
 * WHATSATs in flight get STOP_GRACE_S (then stop_grace_cb answers them);
 * floods get the same grace.
 */
static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct node *n = arg;
	struct client *c, *t;

	(void)what;
	switch (sig) {
	case SIGHUP:
		node_reload(n);
		break;
	case SIGUSR1:
		node_stats_log(n);
		break;
	case SIGTERM:
	case SIGINT:
		if (n->stopping)
			break;
		log_info("received %s, stopping", sig == SIGTERM ? "SIGTERM" :
		    "SIGINT");
		n->stopping = 1;
		evconnlistener_disable(n->listener);
		peer_stop(n);	/* queued floods drain like replies */
		/* Let pending replies flush, then exit the loop. */
		for (c = TAILQ_FIRST(&n->clients); c != NULL; c = t) {
			t = TAILQ_NEXT(c, entry);
			if (!c->closing && client_process(c) == -1)
				continue;	/* handed over or closing */
			c->closing = 1;
			bufferevent_disable(c->bev, EV_READ);
			client_maybe_close(c);
		}
		if (n->nclients == 0 && peer_unsent(n) == 0)
			event_base_loopbreak(n->base);
		else {
			struct timeval grace = { STOP_GRACE_S, 0 };

			if (event_base_once(n->base, -1, EV_TIMEOUT,
			    stop_grace_cb, n, &grace) == -1)
				stop_grace_cb(-1, EV_TIMEOUT, n);
		}
		break;
	}
}

/*
 * SIGTERM's grace is over: WHATSATs still in flight are answered
 * "server shutting down" (in order); their clients get STOP_WRITE_S more
 * to read it all, then the loop ends anyway.
 */
static void
stop_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct node *n = arg;
	struct timeval last = { STOP_WRITE_S, 0 };

	(void)fd;
	(void)what;
	places_shutdown(n->places);
	event_base_loopexit(n->base, &last);
}

/*
 * Load the config, listen, set up store, timers, places, signals and links,
 * and write READY to ready_fd; on failure write "FAIL why" there, set *code
 * and return NULL.
 */
struct node *
node_new(const char *config_path, const char *name, int ready_fd, int *code)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 };
	struct config_errors errs;
	struct node *n;
	uint64_t seed[2];
	size_t i;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		fatal("calloc");
	n->status_fd = -1;
	TAILQ_INIT(&n->clients);
	TAILQ_INIT(&n->probation);
	TAILQ_INIT(&n->dirty);
	TAILQ_INIT(&n->flushing);
	if ((n->config_path = strdup(config_path)) == NULL)
		fatal("strdup");
	if ((n->cfg = config_load(config_path, &errs)) == NULL) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		snprintf(n->failure, sizeof(n->failure), "%s%s", errs.count ?
		    errs.msgs[0] : "configuration error", errs.count > 1 ?
		    " (and more)" : "");
		config_errors_free(&errs);
		*code = HERD_EXIT_CONFIG;
		goto fail;
	}
	if ((n->self = config_server(n->cfg, name)) == NULL) {
		snprintf(n->failure, sizeof(n->failure), "%s: no [server:%s]"
		    " section", config_path, name);
		fprintf(stderr, "%s\n", n->failure);
		*code = HERD_EXIT_CONFIG;
		goto fail;
	}
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->name_len = strlen(n->name);
	log_set_prefix(n->name);
	log_set_socket(n->cfg->herd.log_socket);
	if (node_secret(n->cfg, &n->secret, n->failure,
	    sizeof(n->failure)) == -1) {
		fprintf(stderr, "%s\n", n->failure);
		log_warnx("%s", n->failure);
		*code = HERD_EXIT_CONFIG;
		goto fail;
	}
	if (n->secret.len == 0)
		log_warnx("no secret_file is configured: peer links are"
		    " accepted and dialled over loopback only (protected"
		    " mode); set secret_file in [herd] to a file holding a"
		    " shared secret (mode 600) for a herd on several machines");

	/* A client that vanishes must cost an EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(n);
	if ((n->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	log_set_event_base(n->base);
	/* Signals before the listener: whoever sees the port open may send
	 * SIGTERM at once and must get a clean stop, not the default death. */
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		n->sig_ev[i] = evsignal_new(n->base, sigs[i], signal_cb, n);
		if (n->sig_ev[i] == NULL || evsignal_add(n->sig_ev[i], NULL))
			fatalx("evsignal_new failed");
	}
	if (node_listen(n) == -1) {
		*code = HERD_EXIT_UNAVAILABLE;
		goto fail;
	}

	n->scratch_size = n->cfg->herd.max_line + 256;
	if ((n->scratch = malloc(n->scratch_size)) == NULL)
		fatal("malloc");
	evutil_secure_rng_get_bytes(seed, sizeof(seed));
	if ((n->store = store_new(seed[0], seed[1])) == NULL)
		fatal("store_new");
	store_set_limit(n->store, (size_t)n->cfg->herd.max_records);
	{
		struct timeval one = { 1, 0 };

		n->flush_ev = event_new(n->base, -1, 0, flush_cb, n);
		n->resume_ev = evtimer_new(n->base, resume_cb, n);
		n->sweep_ev = event_new(n->base, -1, EV_PERSIST, sweep_cb, n);
		n->reconcile_ev = evtimer_new(n->base, reconcile_cb, n);
		if (n->sweep_ev == NULL || n->reconcile_ev == NULL ||
		    n->flush_ev == NULL || n->resume_ev == NULL)
			fatalx("event_new failed");
		event_add(n->sweep_ev, &one);
		node_arm_reconcile(n);
	}
	if ((n->places = places_new(n->base, &n->cfg->places)) == NULL)
		fatalx("places_new failed");
	node_apply_links(n);
	log_info("started: %zu neighbours, config %s", n->nlinks,
	    config_path);
	if (ready_fd >= 0) {
		/* Ready only now that signals are handled.  Keep the pipe:
		 * link and record counts are reported on it. */
		(void)fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
		(void)fcntl(ready_fd, F_SETFL, O_NONBLOCK);
		n->status_fd = ready_fd;
		node_report(n, "READY\n");
	}
	node_peers_changed(n);
	return n;
fail:
	if (ready_fd >= 0) {
		char msg[300];
		int len;

		len = snprintf(msg, sizeof(msg), "FAIL %s\n", n->failure);
		(void)write(ready_fd, msg, (size_t)len < sizeof(msg) ?
		    (size_t)len : sizeof(msg) - 1);
		close(ready_fd);
	}
	node_free(n);
	return NULL;
}

/* Send one status line to the supervisor, if there is one. */
static void
node_report(struct node *n, const char *line)
{
	if (n->status_fd == -1)
		return;
	if (write(n->status_fd, line, strlen(line)) == -1 && errno != EAGAIN) {
		close(n->status_fd);	/* supervisor gone */
		n->status_fd = -1;
	}
}

/* Report "RECORDS n" to the supervisor if the count changed since last time. */
void
node_records_changed(struct node *n)
{
	char line[64];

	if (n->status_fd == -1 || store_count(n->store) == n->reported)
		return;
	n->reported = store_count(n->store);
	snprintf(line, sizeof(line), "RECORDS %zu\n", n->reported);
	node_report(n, line);
}

/* Report "PEERS up total" to the supervisor. */
void
node_peers_changed(struct node *n)
{
	char line[64];

	snprintf(line, sizeof(line), "PEERS %zu %zu\n", node_links_up(n),
	    n->nlinks);
	node_report(n, line);
}

/* Run the event loop until stopped, log final stats, return the exit code. */
int
node_run(struct node *n)
{
	event_base_dispatch(n->base);
	node_stats_log(n);
	log_info("stopped");
	return n->exit_code;
}

/* Free the node and all it owns: clients, links, events, places, listener,
 * store and config. */
void
node_free(struct node *n)
{
	struct client *c;
	size_t i;

	while ((c = TAILQ_FIRST(&n->clients)) != NULL)
		client_free(c);
	for (i = 0; i < n->nlinks; i++)
		peer_link_free(n->links[i]);
	free(n->links);
	for (i = 0; i < sizeof(n->sig_ev) / sizeof(n->sig_ev[0]); i++)
		if (n->sig_ev[i] != NULL)
			event_free(n->sig_ev[i]);
	if (n->sweep_ev != NULL)
		event_free(n->sweep_ev);
	if (n->flush_ev != NULL)
		event_free(n->flush_ev);
	if (n->resume_ev != NULL)
		event_free(n->resume_ev);
	if (n->reconcile_ev != NULL)
		event_free(n->reconcile_ev);
	if (n->places != NULL)
		places_free(n->places);
	if (n->listener != NULL)
		evconnlistener_free(n->listener);
	store_free(n->store);
	free(n->scratch);
	config_free(n->cfg);
	free(n->config_path);
	if (n->status_fd != -1)
		close(n->status_fd);
	log_flush(1000);
	if (n->base != NULL)
		event_base_free(n->base);
	free(n);
}
