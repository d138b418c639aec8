/*
 * metrics.c -- a server's Prometheus metrics (see metrics.h): the text
 * exposition of a snapshot, and the bounded HTTP server that serves it.
 *
 * The server is a few lines of HTTP/1.x on bufferevents rather than
 * evhttp: libevent 2.1's evhttp cannot bound its connections, and its
 * timeouts are idle ones a slowloris resets byte by byte.  Here each
 * connection has one deadline for its whole life, a head size limit,
 * and the count of connections is capped.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "herd/listener.h"
#include "herd/log.h"
#include "herd/metrics.h"

const double metrics_bounds[METRICS_NBOUNDS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

const char *const metrics_places_status[METRICS_NPLACES] = {
	"OK", "ZERO_RESULTS", "OVER_QUERY_LIMIT", "REQUEST_DENIED",
	"INVALID_REQUEST", "UNKNOWN_ERROR", "other",
};

struct mconn {
	struct metrics_server	*srv;
	struct bufferevent	*bev;
	struct event		*deadline;
	int			 answered;	/* closing once written */
	size_t			 scanned;	/* head bytes searched for its end */
	LIST_ENTRY(mconn)	 entry;
};

struct metrics_server {
	struct event_base	*base;
	struct listener		*listener;
	metrics_fill_fn		 fill;
	void			*arg;
	LIST_HEAD(, mconn)	 conns;
	size_t			 nconns;
	uint64_t		 refused;
	time_t			 refused_logged;
};

static void	mconn_free(struct mconn *);
static void	mconn_read_cb(struct bufferevent *, void *);
static void	mconn_write_cb(struct bufferevent *, void *);
static void	mconn_event_cb(struct bufferevent *, short, void *);
static void	mconn_deadline_cb(evutil_socket_t, short, void *);
static void	accept_cb(void *, int, const struct sockaddr *);
static size_t	count_cb(void *);

/* --- formatting -------------------------------------------------------- */

/* Count one duration of seconds in h. */
void
metrics_hist_observe(struct metrics_hist *h, double seconds)
{
	size_t i;

	if (!(seconds >= 0))	/* NaN too */
		seconds = 0;
	for (i = 0; i < METRICS_NBOUNDS && seconds > metrics_bounds[i]; i++)
		;
	h->counts[i]++;
	h->count++;
	h->sum += seconds;
}

/* The label of a places status: itself when known, else "other". */
size_t
metrics_places_index(const char *status)
{
	size_t i;

	for (i = 0; i + 1 < METRICS_NPLACES; i++)
		if (strcmp(status, metrics_places_status[i]) == 0)
			return i;
	return METRICS_NPLACES - 1;
}

/* "# HELP" and "# TYPE" of a family. */
static void
family(struct evbuffer *o, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A family with one unlabelled sample. */
static void
single(struct evbuffer *o, const char *name, const char *type,
    const char *help, double v)
{
	family(o, name, type, help);
	evbuffer_add_printf(o, "%s %.17g\n", name, v);
}

/* A label value with \, " and newline escaped. */
static void
label_value(struct evbuffer *o, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(o, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(o, "\\n", 2);
		else
			evbuffer_add(o, v, 1);
	}
}

/* A histogram's cumulative buckets, +Inf, _sum and _count. */
static void
histogram(struct evbuffer *o, const char *name, const char *help,
    const struct metrics_hist *h)
{
	uint64_t cum = 0;
	size_t i;

	family(o, name, "histogram", help);
	for (i = 0; i < METRICS_NBOUNDS; i++) {
		cum += h->counts[i];
		evbuffer_add_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name,
		    metrics_bounds[i], (unsigned long long)cum);
	}
	cum += h->counts[METRICS_NBOUNDS];
	evbuffer_add_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n"
	    "%s_count %llu\n", name, (unsigned long long)cum, name, h->sum,
	    name, (unsigned long long)cum);
}

/* See metrics.h. */
int
metrics_format(struct evbuffer *o, const struct metrics_snapshot *s)
{
	static const char *const states[] = { "ok", "failing", "off" };
	size_t i;

	family(o, "herd_requests_total", "counter", "Client lines handled,"
	    " by command (invalid: every line answered with ?).");
	evbuffer_add_printf(o, "herd_requests_total{command=\"IAMAT\"} %llu\n"
	    "herd_requests_total{command=\"WHATSAT\"} %llu\n"
	    "herd_requests_total{command=\"invalid\"} %llu\n",
	    (unsigned long long)s->iamat, (unsigned long long)s->whatsat,
	    (unsigned long long)s->invalid);
	single(o, "herd_records", "gauge", "Client records held.",
	    (double)s->records);
	single(o, "herd_clients_connected", "gauge", "Client connections"
	    " open.", (double)s->clients);
	family(o, "herd_peer_up", "gauge", "1 while the link to a"
	    " configured neighbour is up, else 0.");
	for (i = 0; i < s->npeers; i++) {
		evbuffer_add_printf(o, "herd_peer_up{peer=\"");
		label_value(o, s->peers[i].name);
		evbuffer_add_printf(o, "\"} %d\n", s->peers[i].up ? 1 : 0);
	}
	single(o, "herd_flood_received_total", "counter", "AT lines"
	    " received from neighbours.", (double)s->flood_in);
	single(o, "herd_flood_sent_total", "counter", "AT lines sent to"
	    " neighbours.", (double)s->flood_out);
	family(o, "herd_places_requests_total", "counter", "Requests sent"
	    " to the places provider, by the status they produced.");
	for (i = 0; i < METRICS_NPLACES; i++)
		evbuffer_add_printf(o, "herd_places_requests_total{status="
		    "\"%s\"} %llu\n", metrics_places_status[i],
		    (unsigned long long)s->places[i]);
	histogram(o, "herd_places_request_duration_seconds", "Duration of"
	    " the requests sent to the places provider.",
	    &s->places_duration);
	single(o, "herd_places_cache_hits_total", "counter", "WHATSATs"
	    " answered from the places cache.", (double)s->places_cache_hits);
	single(o, "herd_log_dropped_total", "counter", "Log lines dropped"
	    " (syslog absent or full).", (double)s->log_dropped);
	family(o, "herd_persist_state", "gauge", "1 for the persistence"
	    " state the server is in (ok, failing, off).");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		evbuffer_add_printf(o, "herd_persist_state{state=\"%s\"} %d\n",
		    states[i], s->persist_state != NULL &&
		    strcmp(s->persist_state, states[i]) == 0);
	single(o, "herd_persist_lag_seconds", "gauge", "Age of the oldest"
	    " written entry not yet fdatasync'ed.", s->persist_lag_s);
	histogram(o, "herd_persist_fsync_duration_seconds", "Duration of"
	    " the log's fdatasync calls.", &s->fsync_duration);
	family(o, "herd_build_info", "gauge", "The version of herd.");
	evbuffer_add_printf(o, "herd_build_info{version=\"");
	label_value(o, HERD_VERSION);
	evbuffer_add_printf(o, "\"} 1\n");
	single(o, "process_start_time_seconds", "gauge", "Start time of"
	    " the process since the Unix epoch.", s->start_time_s);
	single(o, "process_resident_memory_bytes", "gauge", "Resident"
	    " memory size.", (double)s->rss_bytes);
	if (s->open_fds >= 0)
		single(o, "process_open_fds", "gauge", "Open file"
		    " descriptors.", (double)s->open_fds);
	return evbuffer_get_length(o) > 0 ? 0 : -1;
}

/* --- the HTTP server --------------------------------------------------- */

/* See metrics.h. */
struct metrics_server *
metrics_server_new(struct event_base *base, const char *bind,
    unsigned port, metrics_fill_fn fill, void *arg, char *err,
    size_t errlen)
{
	static const struct listener_ops ops = {
		.accept = accept_cb,
		.count = count_cb,
	};
	struct metrics_server *m;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->base = base;
	m->fill = fill;
	m->arg = arg;
	LIST_INIT(&m->conns);
	m->listener = listener_new(base, bind, port, &ops, m, err, errlen);
	if (m->listener == NULL) {
		free(m);
		return NULL;
	}
	log_info("metrics on %s port %u", bind, port);
	return m;
}

/* See metrics.h. */
void
metrics_server_free(struct metrics_server *m)
{
	if (m == NULL)
		return;
	while (!LIST_EMPTY(&m->conns))
		mconn_free(LIST_FIRST(&m->conns));
	listener_free(m->listener);
	free(m);
}

/* See metrics.h. */
size_t
metrics_server_count(const struct metrics_server *m)
{
	return m->nconns;
}

/* The listener's count callback. */
static size_t
count_cb(void *arg)
{
	return ((struct metrics_server *)arg)->nconns;
}

/* A scraper connected: serve it, or close it at once past the cap. */
static void
accept_cb(void *arg, int fd, const struct sockaddr *sa)
{
	struct metrics_server *m = arg;
	struct timeval tv = { METRICS_DEADLINE_S, 0 };
	struct mconn *c;
	time_t now;

	(void)sa;
	if (m->nconns >= METRICS_MAX_CONNS ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		m->refused++;
		if ((now = time(NULL)) != m->refused_logged) {
			m->refused_logged = now;
			log_warnx("metrics: %zu %s open, closed a new"
			    " one (%llu so far)", m->nconns,
			    log_plural(m->nconns, "connection", "connections"),
			    (unsigned long long)m->refused);
		}
		return;
	}
	c->srv = m;
	c->bev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(m->base, mconn_deadline_cb, c);
	if (c->bev == NULL || c->deadline == NULL) {
		if (c->bev == NULL)
			close(fd);
		else
			bufferevent_free(c->bev);
		if (c->deadline != NULL)
			event_free(c->deadline);
		free(c);
		return;
	}
	LIST_INSERT_HEAD(&m->conns, c, entry);
	m->nconns++;
	bufferevent_setcb(c->bev, mconn_read_cb, mconn_write_cb,
	    mconn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, METRICS_MAX_HEAD + 1);
	evtimer_add(c->deadline, &tv);
	bufferevent_enable(c->bev, EV_READ);
}

/* Close c and forget it. */
static void
mconn_free(struct mconn *c)
{
	LIST_REMOVE(c, entry);
	c->srv->nconns--;
	event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

/* Send one answer and close once it is written (the deadline still
 * bounds a reader that never reads it). */
static void
mconn_answer(struct mconn *c, int code, const char *reason,
    const char *ctype, struct evbuffer *body)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	c->answered = 1;
	bufferevent_disable(c->bev, EV_READ);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", code,
	    reason, ctype, evbuffer_get_length(body),
	    code == 405 ? "Allow: GET\r\n" : "");
	evbuffer_add_buffer(out, body);
}

/* Answer a plain text body. */
static void
mconn_text(struct mconn *c, int code, const char *reason, const char *text)
{
	struct evbuffer *body = evbuffer_new();

	if (body == NULL) {
		mconn_free(c);
		return;
	}
	evbuffer_add(body, text, strlen(text));
	mconn_answer(c, code, reason, "text/plain; charset=utf-8", body);
	evbuffer_free(body);
}

/* Route a complete request line "METHOD TARGET VERSION". */
static void
mconn_route(struct mconn *c, const char *line)
{
	struct metrics_server *m = c->srv;
	struct metrics_snapshot s;
	struct evbuffer *body;
	const char *sp, *target, *end;
	size_t tlen;

	if ((sp = strchr(line, ' ')) == NULL) {
		mconn_text(c, 400, "Bad Request", "bad request\n");
		return;
	}
	target = sp + 1;
	end = strchr(target, ' ');
	tlen = end != NULL ? (size_t)(end - target) : strlen(target);
	target = listener_http_path(target, &tlen);
	if (memchr(target, '?', tlen) != NULL)
		tlen = (size_t)((const char *)memchr(target, '?', tlen) -
		    target);
	if ((size_t)(sp - line) != 3 || memcmp(line, "GET", 3) != 0) {
		mconn_text(c, 405, "Method Not Allowed", "GET only\n");
		return;
	}
	memset(&s, 0, sizeof(s));
	s.open_fds = -1;
	s.health_only = tlen == 8 && memcmp(target, "/healthz", 8) == 0;
	if (s.health_only || (tlen == 8 && memcmp(target, "/metrics", 8) == 0))
		m->fill(m->arg, &s);
	if (s.health_only) {
		/* Stopping: a load balancer should send no one new here. */
		if (s.stopping)
			mconn_text(c, 503, "Service Unavailable", "stopping\n");
		else
			mconn_text(c, 200, "OK", "ok");
		return;
	}
	if (tlen != 8 || memcmp(target, "/metrics", 8) != 0) {
		mconn_text(c, 404, "Not Found", "not found\n");
		return;
	}
	if ((body = evbuffer_new()) == NULL || metrics_format(body, &s) == -1) {
		if (body != NULL)
			evbuffer_free(body);
		mconn_text(c, 500, "Internal Server Error", "out of memory\n");
		return;
	}
	mconn_answer(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
	    body);
	evbuffer_free(body);
}

/* Bytes arrived: once the head is complete, answer; too big: 431. */
static void
mconn_read_cb(struct bufferevent *bev, void *arg)
{
	struct mconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr crlf, lf, from;
	char *line;
	size_t len;

	if (c->answered)
		return;
	/* Only the new bytes (and 3 before them) are searched: a head sent
	 * a byte at a time must not cost its length squared. */
	evbuffer_ptr_set(in, &from, c->scanned > 3 ? c->scanned - 3 : 0,
	    EVBUFFER_PTR_SET);
	c->scanned = evbuffer_get_length(in);
	crlf = evbuffer_search(in, "\r\n\r\n", 4, &from);
	lf = evbuffer_search(in, "\n\n", 2, &from);
	if (crlf.pos == -1 && lf.pos == -1) {
		if (evbuffer_get_length(in) > METRICS_MAX_HEAD)
			mconn_text(c, 431, "Request Header Fields Too Large",
			    "request head too large\n");
		return;
	}
	line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
	/* A NUL would cut the line that strchr() sees: refused. */
	if (line == NULL || memchr(line, '\0', len) != NULL) {
		free(line);
		mconn_text(c, 400, "Bad Request", "bad request\n");
		return;
	}
	mconn_route(c, line);
	free(line);
}

/* The answer is out: close. */
static void
mconn_write_cb(struct bufferevent *bev, void *arg)
{
	struct mconn *c = arg;

	(void)bev;
	if (c->answered)
		mconn_free(c);
}

/* EOF or an error: close. */
static void
mconn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	mconn_free(arg);
}

/* The connection outlived its deadline (slow head or slow reader). */
static void
mconn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	mconn_free(arg);
}
