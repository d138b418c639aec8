/*
 * status_http.c -- the supervisor's status page server: one GET per
 * connection, bounded in size, time and connections.
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
#include "herd/status_http.h"

struct http_conn {
	LIST_ENTRY(http_conn)	 entry;
	struct status_http	*srv;
	struct bufferevent	*bev;
	int			 answered;	/* the answer is queued */
	size_t			 scanned;	/* head bytes searched for its end */
	struct timespec		 deadline;	/* for the whole connection */
};

struct status_http {
	struct event_base	*base;
	struct listener		*listener;
	LIST_HEAD(, http_conn)	 conns;
	size_t			 nconns;
	unsigned long		 refused;	/* over the connection bound */
	time_t			 refused_logged;
	status_http_json_fn	 json;
	void			*arg;
};

/* Close c and forget it. */
static void
conn_free(struct http_conn *c)
{
	LIST_REMOVE(c, entry);
	c->srv->nconns--;
	bufferevent_free(c->bev);
	free(c);
}

/* Queue an answer with status, type and body; close once it is out. */
static void
answer(struct http_conn *c, const char *status, const char *type,
    const char *body, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Content-Security-Policy: default-src 'none'; script-src"
	    " 'unsafe-inline'; style-src 'unsafe-inline'; connect-src"
	    " 'self'\r\n%sConnection: close\r\n\r\n", status, type, len,
	    strncmp(status, "405 ", 4) == 0 ? "Allow: GET\r\n" : "");
	evbuffer_add(out, body, len);
	c->answered = 1;
}

/* An error answer whose body is its status line. */
static void
answer_error(struct http_conn *c, const char *status)
{
	answer(c, status, "text/plain; charset=utf-8", status, strlen(status));
}

/* Answer the request whose head is head (NUL-terminated). */
static void
serve(struct http_conn *c, char *head)
{
	char *sp1, *sp2, *q;
	char *json;
	const char *path;
	size_t len;

	if ((sp1 = strchr(head, ' ')) == NULL ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		answer_error(c, "400 Bad Request");
		return;
	}
	*sp1 = *sp2 = '\0';
	if (strcmp(head, "GET") != 0) {
		answer_error(c, "405 Method Not Allowed");
		return;
	}
	if ((q = strchr(sp1 + 1, '?')) != NULL)
		*q = '\0';
	len = strlen(sp1 + 1);
	path = listener_http_path(sp1 + 1, &len);
	if (len == 1 && path[0] == '/')
		answer(c, "200 OK", "text/html; charset=utf-8",
		    status_page_html, strlen(status_page_html));
	else if (len == 12 && memcmp(path, "/status.json", 12) == 0) {
		if ((json = c->srv->json(c->srv->arg)) == NULL) {
			answer_error(c, "503 Service Unavailable");
			return;
		}
		answer(c, "200 OK", "application/json", json, strlen(json));
		free(json);
	} else
		answer_error(c, "404 Not Found");
}

/* Bytes arrived: answer once the head is complete, refuse a huge one. */
static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end, from;
	struct timespec now;
	size_t len;
	char *head;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > c->deadline.tv_sec) {	/* a byte at a time, or
						 * trickled after the answer */
		conn_free(c);
		return;
	}
	if (c->answered) {	/* what follows the head: discarded */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	/* Only the new bytes (and 3 before them) are searched: a head sent
	 * a byte at a time must not cost its length squared. */
	evbuffer_ptr_set(in, &from, c->scanned > 3 ? c->scanned - 3 : 0,
	    EVBUFFER_PTR_SET);
	c->scanned = evbuffer_get_length(in);
	end = evbuffer_search(in, "\r\n\r\n", 4, &from);
	if (end.pos == -1)
		end = evbuffer_search(in, "\n\n", 2, &from);
	if (end.pos == -1) {
		if (evbuffer_get_length(in) > STATUS_HTTP_MAX_HEAD)
			answer_error(c, "431 Request Header Fields Too Large");
		return;
	}
	len = (size_t)end.pos;
	if (len > STATUS_HTTP_MAX_HEAD) {
		answer_error(c, "431 Request Header Fields Too Large");
		return;
	}
	if ((head = malloc(len + 1)) == NULL) {
		conn_free(c);
		return;
	}
	evbuffer_remove(in, head, len);
	head[len] = '\0';
	if (memchr(head, '\0', len) != NULL)
		answer_error(c, "400 Bad Request");
	else {
		head[strcspn(head, "\r\n")] = '\0';	/* the request line */
		serve(c, head);
	}
	free(head);
	evbuffer_drain(in, evbuffer_get_length(in));
}

/* The answer is out: send FIN, then close at the client's EOF (or the
 * timeout), reading and discarding what it still sends, so that unread
 * bytes (a big head or body) do not turn the close into a reset that
 * could destroy the answer. */
static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;

	if (c->answered)
		shutdown(bufferevent_getfd(bev), SHUT_WR);
}

/* EOF, error or timeout: close. */
static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_free(arg);
}

/* A connection: serve it, or close it at once past the bound. */
static void
accept_fd(void *arg, int fd, const struct sockaddr *sa)
{
	struct status_http *s = arg;
	struct timeval tv = { STATUS_HTTP_TIMEOUT_S, 0 };
	struct http_conn *c;
	time_t now;

	(void)sa;
	if (s->nconns >= STATUS_HTTP_MAX_CONNS ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		s->refused++;
		if ((now = time(NULL)) != s->refused_logged) {
			s->refused_logged = now;
			log_warnx("status page: %zu %s open, refused"
			    " %lu so far", s->nconns, log_plural(s->nconns,
			    "connection", "connections"), s->refused);
		}
		return;
	}
	if ((c->bev = bufferevent_socket_new(s->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		free(c);
		return;
	}
	c->srv = s;
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += STATUS_HTTP_TIMEOUT_S;
	LIST_INSERT_HEAD(&s->conns, c, entry);
	s->nconns++;
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_setwatermark(c->bev, EV_READ, 0, STATUS_HTTP_MAX_HEAD + 4);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* Connections open now. */
static size_t
count_conns(void *arg)
{
	return ((struct status_http *)arg)->nconns;
}

struct status_http *
status_http_new(struct event_base *base, const char *addr, uint16_t port,
    status_http_json_fn json, void *arg, char *err, size_t errlen)
{
	static const struct listener_ops ops = { accept_fd, count_conns };
	struct status_http *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->base = base;
	s->json = json;
	s->arg = arg;
	LIST_INIT(&s->conns);
	snprintf(err, errlen, "cannot listen on %s:%u", addr, port);
	if ((s->listener = listener_new(base, addr, port, &ops, s, err,
	    errlen)) == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void
status_http_free(struct status_http *s)
{
	if (s == NULL)
		return;
	while (!LIST_EMPTY(&s->conns))
		conn_free(LIST_FIRST(&s->conns));
	listener_free(s->listener);
	free(s);
}
