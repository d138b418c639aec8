/*
 * oneshot.c -- herd-bench's oneshot mode: C at a time, a new TCP
 * connection per IAMAT (one line, half-close, read to EOF), the way
 * classic graders talk to a server.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"

/* The mode's state. */
struct oneshot {
	struct sconn	*sc;		/* one per concurrent request */
	struct stats	 st;
	int		 running, stopping;
	uint64_t	 issued, limit;
	uint64_t	 t_start;
	uint64_t	 rng, last_rt;
};

static struct oneshot one;

static void	oneshot_cb(evutil_socket_t, short, void *);
static void	oneshot_end(struct sconn *, int, const char *);

/* Start the next one-request connection in slot o, if any is left. */
static void
oneshot_start(struct sconn *o)
{
	uint64_t key, slot;
	int fd;

	if (one.stopping || one.issued >= one.limit) {
		o->state = SC_FREE;
		if (--one.running == 0)
			event_base_loopbreak(bench.base);
		return;
	}
	one.issued++;
	/* Each slot its own share of the keyspace (ids = slot mod conns),
	 * as in iamat mode: two requests in flight for one id could see
	 * each other's newer record in their replies. */
	slot = (uint64_t)(o - one.sc);
	key = rng_next(&one.rng) % (opt.keyspace / (uint64_t)opt.conns > 0 ?
	    opt.keyspace / (uint64_t)opt.conns : 1) * (uint64_t)opt.conns + slot;
	o->rlen = req_iamat(o->req, sizeof(o->req), opt.prefix, "o", key, 0,
	    &one.rng, &one.last_rt, &o->explen);
	o->blen = 0;
	o->t0 = now_ns();
	if ((fd = sock_connect(opt.host, opt.port, 2)) == -1) {
		o->fd = -1;
		oneshot_end(o, 0, strerror(errno));
		return;
	}
	o->fd = fd;
	o->state = SC_CONNECTING;
	event_assign(o->ev, bench.base, fd, EV_WRITE, oneshot_cb, o);
	event_add(o->ev, NULL);
}

/* Connected: send the line and half-close; then read to EOF. */
static void
oneshot_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *o = arg;
	ssize_t n;
	int err;

	(void)what;
	if (o->state == SC_CONNECTING) {
		if ((err = sock_error(fd)) != 0) {
			oneshot_end(o, 0, strerror(err));
			return;
		}
		if (send(fd, o->req, o->rlen, MSG_NOSIGNAL) != (ssize_t)o->rlen
		    || shutdown(fd, SHUT_WR) == -1) {
			oneshot_end(o, 0, "write failed");
			return;
		}
		o->state = SC_READING;
		event_assign(o->ev, bench.base, fd, EV_READ | EV_PERSIST,
		    oneshot_cb, o);
		event_add(o->ev, NULL);
		return;
	}
	n = recv(fd, o->buf + o->blen, sizeof(o->buf) - o->blen, 0);
	if (n > 0) {
		o->blen += (size_t)n;
		if (o->blen == sizeof(o->buf))
			oneshot_end(o, 0, "reply too long");
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1) {
		oneshot_end(o, 0, strerror(errno));
		return;
	}
	/* EOF: exactly one AT line. */
	if (o->blen == 0 || o->buf[o->blen - 1] != '\n' ||
	    memchr(o->buf, '\n', o->blen) != o->buf + o->blen - 1 ||
	    !req_check_at(o->buf, o->blen - 1, o->req + o->explen,
	    o->rlen - o->explen - 1)) {
		oneshot_end(o, 0, "bad reply");
		return;
	}
	oneshot_end(o, 1, NULL);
}

/* One request is over: account for it and start the next. */
static void
oneshot_end(struct sconn *o, int ok, const char *why)
{
	if (!ok)
		bench_error("oneshot: %s: %.*s -> %.*s", why, (int)o->rlen - 1,
		    o->req, (int)o->blen, o->buf);
	if (o->fd != -1) {
		event_del(o->ev);
		close(o->fd);
		o->fd = -1;
	}
	stats_add(&one.st, ok, o->t0, now_ns());
	if (one.st.errors > 1000)
		one.stopping = 1;
	oneshot_start(o);
}

/* -t expired: no new connections; the loop ends when all are done. */
static void
oneshot_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	one.stopping = 1;
}

/* Run the oneshot mode. */
static int
oneshot_run(void)
{
	struct procsnap before, after;
	struct event *stop = NULL;
	struct stats *st = &one.st;
	uint64_t cpu;
	double secs, rps;
	int i, rc;

	st->h = hist_new();
	one.rng = bench_rng_seed();
	if ((one.sc = calloc((size_t)opt.conns, sizeof(*one.sc))) == NULL)
		bench_fatal("out of memory");
	one.limit = opt.nreq ? opt.nreq : UINT64_MAX;
	for (i = 0; i < opt.conns; i++) {
		one.sc[i].fd = -1;
		if ((one.sc[i].ev = malloc(event_get_struct_event_size())) ==
		    NULL)
			bench_fatal("out of memory");
	}
	if (opt.secs > 0)
		stop = bench_timer(opt.secs, oneshot_stop_cb, NULL);
	proc_snap(opt.pid, &before);
	one.running = opt.conns;
	one.t_start = now_ns();
	for (i = 0; i < opt.conns; i++)
		oneshot_start(&one.sc[i]);
	if (one.running > 0)
		event_base_dispatch(bench.base);
	proc_snap(opt.pid, &after);
	if (stop != NULL)
		event_free(stop);
	secs = (double)(st->t_last - one.t_start) / 1e9;
	rps = secs > 0 ? (double)st->done / secs : 0;
	cpu = after.ok && before.ok ? after.cpu_us - before.cpu_us : 0;
	printf("oneshot: %d concurrent, one connection per IAMAT, server %s"
	    " (pid %ld)\n", opt.conns, bench.server[0] ? bench.server : "?",
	    (long)opt.pid);
	printf("  %" PRIu64 " requests in %.3f s: %.0f requests/s, %" PRIu64
	    " errors\n", st->done, secs, rps, st->errors);
	hist_print("latency", st->h);
	if (before.ok && after.ok)
		printf("  server CPU %.3f s: %.2f us per request\n",
		    (double)cpu / 1e6, st->done ? (double)cpu /
		    (double)st->done : 0);
	printf("RESULT mode=oneshot conns=%d depth=1 keyspace=%" PRIu64
	    " reqs=%" PRIu64 " secs=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f"
	    " p999_us=%.1f max_us=%.1f errors=%" PRIu64 " cpu_us_per_req=%.3f"
	    " rss_before_kb=%ld rss_after_kb=%ld pid=%ld\n", opt.conns,
	    opt.keyspace, st->done, secs, rps, hist_us(st->h, 0.5),
	    hist_us(st->h, 0.99), hist_us(st->h, 0.999),
	    (double)st->h->max / 1000, st->errors, st->done ? (double)cpu /
	    (double)st->done : 0, before.rss_kb, after.rss_kb, (long)opt.pid);
	rc = st->errors == 0 ? 0 : 1;
	for (i = 0; i < opt.conns; i++)
		free(one.sc[i].ev);
	free(one.sc);
	free(st->h);
	return rc;
}

const struct bench_mode mode_oneshot = {
	"oneshot",
"usage: herd-bench oneshot -p PORT [options]\n"
"\n"
"C requests at a time, each on a new connection: connect, write one\n"
"IAMAT, half-close, read the AT line to EOF (as classic graders talk to\n"
"a server); latency counts from the connect.\n"
"\n"
"Options:\n"
HELP_HOST
HELP_PORT
"  -c CONNS           requests at a time (default 10)\n"
HELP_SECS
HELP_NREQ
HELP_KEYS
HELP_PREFIX
HELP_SEED
HELP_PID
"\n"
"Output: a summary, then one line\n"
"  RESULT mode=oneshot conns=... depth=1 keyspace=... reqs=... secs=...\n"
"         rps=... p50_us=... p99_us=... p999_us=... max_us=... errors=...\n"
"         cpu_us_per_req=... rss_before_kb=... rss_after_kb=... pid=...\n"
HELP_EXIT,
	oneshot_run
};
