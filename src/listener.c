/*
 * listener.c -- a server's TCP listening socket (see listener.h): the
 * descriptor limit, the bind, and the pause after accept() ran out of
 * descriptors.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "herd/config.h"
#include "herd/listener.h"
#include "herd/log.h"
#include "herd/net.h"

struct listener {
	struct evconnlistener	*evl;
	struct event		*resume_ev;	/* paused on EMFILE */
	int			 stopped;
	struct listener_ops	 ops;
	void			*arg;
};

static void	accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	accept_error_cb(struct evconnlistener *, void *);
static void	resume_cb(evutil_socket_t, short, void *);

/* Allow as many descriptors as the hard limit does. */
long
listener_raise_nofile(long max_clients)
{
	struct rlimit rl;
	long fd_limit = LONG_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return fd_limit;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE)");
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)LONG_MAX)
		fd_limit = (long)rl.rlim_cur;
	/* Peers, the listener, curl and logging need descriptors too. */
	if (rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)max_clients + 64 > rl.rlim_cur)
		log_warnx("max_clients %ld is above what the descriptor limit"
		    " (%llu) allows; connections past it are paused, not"
		    " refused: raise LimitNOFILE / ulimit -n",
		    max_clients, (unsigned long long)rl.rlim_cur);
	return fd_limit;
}

/* Listen on bind:port; NULL with the reason in err on failure (the caller
 * logs it). */
struct listener *
listener_new(struct event_base *base, const char *bind, unsigned port,
    const struct listener_ops *ops, void *arg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen;
	char addr[HERD_ADDR_MAX + 16];
	struct listener *l;

	if (net_parse_addr(bind, port, &ss, &sslen, addr,
	    sizeof(addr)) == -1) {
		snprintf(err, errlen, "cannot parse listen address %s", addr);
		return NULL;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("calloc");
	l->ops = *ops;
	l->arg = arg;
	if ((l->resume_ev = evtimer_new(base, resume_cb, l)) == NULL)
		fatalx("event_new failed");
	l->evl = evconnlistener_new_bind(base, accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, (struct sockaddr *)&ss, sslen);
	if (l->evl == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr,
		    strerror(errno));
		listener_free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->evl, accept_error_cb);
	log_info("listening on %s", addr);
	return l;
}

/* No more accepts: the resume timer leaves it disabled too. */
void
listener_stop(struct listener *l)
{
	l->stopped = 1;
	evconnlistener_disable(l->evl);
}

/* Close the socket, free the timer and l. */
void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	if (l->evl != NULL)
		evconnlistener_free(l->evl);
	if (l->resume_ev != NULL)
		event_free(l->resume_ev);
	free(l);
}

/* The listener accepted a connection: the owner takes it. */
static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listener *l = arg;

	(void)evl;
	(void)salen;
	l->ops.accept(l->arg, fd, sa);
}

/*
 * accept() failed.  Out of descriptors (EMFILE, ENFILE) the pending
 * connection stays readable and the listener would spin: pause it for
 * a moment instead, and log it once per pause.
 */
static void
accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	struct timeval pause = { 0, 100000 };
	int err = EVUTIL_SOCKET_ERROR();

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warnx("accept: %s", evutil_socket_error_to_string(err));
		return;
	}
	log_warnx("accept: %s (%zu %s): pausing new connections for"
	    " 100 ms", evutil_socket_error_to_string(err),
	    l->ops.count(l->arg), log_plural(l->ops.count(l->arg), "client",
	    "clients"));
	evconnlistener_disable(evl);
	evtimer_add(l->resume_ev, &pause);
}

/* Re-enable the listener after an accept-error pause, unless stopped. */
static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	if (!l->stopped)
		evconnlistener_enable(l->evl);
}

/* See listener.h. */
const char *
listener_http_path(const char *target, size_t *len)
{
	size_t skip;
	const char *slash;

	if (*len >= 7 && strncasecmp(target, "http://", 7) == 0)
		skip = 7;
	else if (*len >= 8 && strncasecmp(target, "https://", 8) == 0)
		skip = 8;
	else
		return target;
	if ((slash = memchr(target + skip, '/', *len - skip)) == NULL) {
		*len = 1;	/* "http://host": the root */
		return "/";
	}
	*len -= (size_t)(slash - target);
	return slash;
}
