/*
 * control.c -- request/answer over a Unix stream socket.
 *
 * Server side runs on the supervisor's libevent loop; client side is a
 * plain blocking call with a deadline (herdctl has nothing else to do).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "herd/control.h"
#include "herd/log.h"

#define REQUEST_MAX	4096
#define REQUEST_TIMEOUT_S 5

struct control_conn;

struct control {
	TAILQ_HEAD(, control_conn) conns;
	struct evconnlistener	*listener;
	struct event_base	*base;
	char			 path[108];
	control_cb		 cb;
	void			*arg;
};

struct control_conn {
	TAILQ_ENTRY(control_conn) entry;
	struct control		*ctl;
	struct bufferevent	*bev;
	int			 answered;	/* request dispatched */
	int			 gone;		/* peer left; free on reply */
	int			 closing;	/* reply written, flushing */
};

static void	accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_free(struct control_conn *);
static int	split_words(char *, char **, int);

/*
 * Listen on the Unix socket path (replacing an old one, mode 0600) and
 * hand each request to cb; NULL with errno on failure.
 */
struct control *
control_listen(struct event_base *base, const char *path, control_cb cb,
    void *arg)
{
	struct control *ctl;
	struct sockaddr_un sun;
	mode_t old;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return NULL;
	TAILQ_INIT(&ctl->conns);
	ctl->base = base;
	ctl->cb = cb;
	ctl->arg = arg;
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	(void)unlink(path);	/* the caller holds the run-directory lock */
	old = umask(0077);
	ctl->listener = evconnlistener_new_bind(base, accept_cb, ctl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
	    (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (ctl->listener == NULL) {
		free(ctl);
		return NULL;
	}
	(void)chmod(path, 0600);
	return ctl;
}

/* Drop every connection, stop listening, unlink the socket, free ctl. */
void
control_close(struct control *ctl)
{
	if (ctl == NULL)
		return;
	while (!TAILQ_EMPTY(&ctl->conns))
		conn_free(TAILQ_FIRST(&ctl->conns));
	evconnlistener_free(ctl->listener);
	(void)unlink(ctl->path);
	free(ctl);
}

/*
 * Accept a client running as our uid or root and wait, with a deadline,
 * for its request.
 */
static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct control *ctl = arg;
	struct control_conn *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct timeval to = { REQUEST_TIMEOUT_S, 0 };

	(void)l;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("control: refused a connection: SO_PEERCRED");
		close(fd);
		return;
	}
	if (cred.uid != geteuid() && cred.uid != 0) {
		log_warnx("control: refused a connection from uid %ld",
		    (long)cred.uid);
		close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&ctl->conns, c, entry);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_set_timeouts(c->bev, &to, NULL);
	bufferevent_enable(c->bev, EV_READ);
}

/* Split s in place on spaces; returns the word count (at most max). */
static int
split_words(char *s, char **argv, int max)
{
	int argc = 0;

	while (*s != '\0' && argc < max) {
		while (*s == ' ' || *s == '\t' || *s == '\r')
			*s++ = '\0';
		if (*s == '\0')
			break;
		argv[argc++] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r')
			s++;
	}
	return argc;
}

/*
 * Split the first request line into words and dispatch it; drop the
 * connection if more than REQUEST_MAX bytes come without a newline.
 */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line, *argv[CONTROL_MAX_ARGS];
	size_t len;
	int argc;

	if (c->answered)
		return;
	if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) == NULL) {
		if (evbuffer_get_length(in) > REQUEST_MAX)
			conn_free(c);
		return;
	}
	c->answered = 1;
	bufferevent_set_timeouts(bev, NULL, NULL);
	argc = split_words(line, argv, CONTROL_MAX_ARGS);
	if (argc == 0)
		control_reply(c, "{\"ok\":false,\"error\":\"empty request\"}");
	else
		c->ctl->cb(c, argc, argv, c->ctl->arg);
	free(line);
}

/* Free the connection once its reply has been written. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn *c = arg;

	(void)bev;
	if (c->closing)
		conn_free(c);
}

/* On EOF, error or timeout free c, or mark it gone if an answer is due. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn *c = arg;

	(void)what;
	if (!c->answered || c->closing) {
		conn_free(c);
		return;
	}
	/* Waiting for an answer: keep c until control_reply() frees it. */
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	c->gone = 1;
}

/* Unlink c from its control, close its socket and free it. */
static void
conn_free(struct control_conn *c)
{
	TAILQ_REMOVE(&c->ctl->conns, c, entry);
	bufferevent_free(c->bev);
	free(c);
}

/*
 * Send json and a newline on c and close it once written; if c is gone,
 * just free it.
 */
void
control_reply(struct control_conn *c, const char *json)
{
	if (c->gone) {
		conn_free(c);
		return;
	}
	c->closing = 1;
	bufferevent_write(c->bev, json, strlen(json));
	bufferevent_write(c->bev, "\n", 1);
	bufferevent_enable(c->bev, EV_WRITE);
}

/* True when the client left before its answer. */
int
control_conn_gone(const struct control_conn *c)
{
	return c->gone;
}

/*
 * Send request to the socket path and read the answer until EOF, for at
 * most timeout_ms; malloc'd, or NULL with errno set.
 */
char *
control_call(const char *path, const char *request, int timeout_ms)
{
	struct sockaddr_un sun;
	struct pollfd pfd;
	struct timespec start, now;
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	struct iovec iov[2];
	struct msghdr msg;
	ssize_t n;
	int fd, left, saved;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		goto fail;
	/* One message, without SIGPIPE: a supervisor that went away (or
	 * answered and closed already) must cost an error, not our life. */
	iov[0].iov_base = (void *)(uintptr_t)request;
	iov[0].iov_len = strlen(request);
	iov[1].iov_base = (void *)(uintptr_t)"\n";
	iov[1].iov_len = 1;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)(iov[0].iov_len + 1) &&
	    errno != EPIPE)
		goto fail;	/* EPIPE: an answer may still be waiting */
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if ((nb = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nb;
		}
		if ((n = read(fd, buf + len, cap - len - 1)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf == NULL || len == 0) {
		free(buf);
		errno = ECONNRESET;
		return NULL;
	}
	buf[len] = '\0';
	return buf;
fail:
	saved = errno;
	close(fd);
	free(buf);
	errno = saved;
	return NULL;
}
