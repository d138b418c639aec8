/*
 * idle.c -- herd-bench's idle mode: K client connections that stay open
 * (each after one IAMAT, unless --no-touch); the node's RSS and open
 * files before, with them, and after they closed.
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

#define CONNECT_INFLIGHT 256		/* connects at a time */

/* The mode's state. */
struct idle {
	struct sconn	*sc;
	int		 nsc;
	uint64_t	 opened, established, failed;
	int		 inflight;
	struct stats	 st;		/* setup of each connection */
	uint64_t	 rng, last_rt;
};

static struct idle idl;

static void	idle_cb(evutil_socket_t, short, void *);
static void	idle_end(struct sconn *, int, const char *);

/* Open connections until K are open, CONNECT_INFLIGHT at a time. */
static void
idle_open_more(void)
{
	struct sconn *o;
	int fd;

	while (idl.inflight < CONNECT_INFLIGHT &&
	    idl.opened < (uint64_t)idl.nsc) {
		o = &idl.sc[idl.opened++];
		o->t0 = now_ns();
		if ((fd = sock_connect(opt.host, opt.port, 2)) == -1) {
			o->fd = -1;
			idl.inflight++;
			idle_end(o, 0, strerror(errno));
			continue;
		}
		o->fd = fd;
		o->state = SC_CONNECTING;
		if ((o->ev = event_new(bench.base, fd, EV_WRITE, idle_cb, o)) ==
		    NULL)
			bench_fatal("event_new failed");
		event_add(o->ev, NULL);
		idl.inflight++;
	}
}

/* An idle connection the server closed or wrote to: an error. */
static void
idle_lost(struct sconn *o, ssize_t n)
{
	bench_error("idle connection %ld: %s", (long)(o - idl.sc),
	    n == 0 ? "closed by the server" : n < 0 ? strerror(errno) :
	    "unexpected bytes");
	idl.st.errors++;
	event_del(o->ev);
	close(o->fd);
	o->fd = -1;
	o->state = SC_DEAD;
}

/* Connect done, touch reply, or (once idle) an unexpected close. */
static void
idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *o = arg;
	ssize_t n;
	char *nl;
	int err;

	(void)what;
	if (o->state == SC_CONNECTING) {
		if ((err = sock_error(fd)) != 0) {
			idle_end(o, 0, strerror(err));
			return;
		}
		event_free(o->ev);
		o->ev = event_new(bench.base, fd, EV_READ | EV_PERSIST,
		    idle_cb, o);
		event_add(o->ev, NULL);
		if (!opt.touch) {
			idle_end(o, 1, NULL);
			return;
		}
		o->rlen = req_iamat(o->req, sizeof(o->req), opt.prefix, "i",
		    (uint64_t)(o - idl.sc), 0, &idl.rng, &idl.last_rt,
		    &o->explen);
		if (send(fd, o->req, o->rlen, MSG_NOSIGNAL) !=
		    (ssize_t)o->rlen) {
			idle_end(o, 0, "write failed");
			return;
		}
		o->state = SC_READING;
		return;
	}
	n = recv(fd, o->buf + o->blen, sizeof(o->buf) - o->blen, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || o->state != SC_READING) {
		if (o->state == SC_IDLE) {
			idle_lost(o, n);
			return;
		}
		idle_end(o, 0, n == 0 ? "closed by the server" :
		    strerror(errno));
		return;
	}
	o->blen += (size_t)n;
	if ((nl = memchr(o->buf, '\n', o->blen)) == NULL) {
		if (o->blen == sizeof(o->buf))
			idle_end(o, 0, "reply too long");
		return;
	}
	idle_end(o, (size_t)(nl - o->buf) + 1 == o->blen &&
	    req_check_at(o->buf, o->blen - 1, o->req + o->explen,
	    o->rlen - o->explen - 1), "bad reply");
}

/* A connection is set up (ok) or failed; open more or end the loop. */
static void
idle_end(struct sconn *o, int ok, const char *why)
{
	idl.inflight--;
	if (ok) {
		o->state = SC_IDLE;
		idl.established++;
	} else {
		bench_error("idle connection %ld: %s", (long)(o - idl.sc),
		    why);
		if (o->ev != NULL)
			event_del(o->ev);
		if (o->fd != -1)
			close(o->fd);
		o->fd = -1;
		o->state = SC_DEAD;
		idl.failed++;
	}
	stats_add(&idl.st, ok, o->t0, now_ns());
	idle_open_more();
	if (idl.established + idl.failed == (uint64_t)idl.nsc)
		event_base_loopbreak(bench.base);
}

/* Wait up to secs until pid's open files are at least want (or, with
 * down, at most want); polls every 10 ms. */
static void
idle_wait_fds(long want, int down, double secs)
{
	uint64_t deadline = now_ns() + (uint64_t)(secs * 1e9);
	long n;

	while (want >= 0 && now_ns() < deadline) {
		n = proc_fd_count(opt.pid);
		if (down ? n <= want : n >= want)
			break;
		usleep(10000);
	}
}

/* Print the summary and the RESULT line of the idle mode. */
static void
idle_print(double secs, long fds_before, long fds_with,
    const struct procsnap *before, const struct procsnap *with,
    const struct procsnap *closed)
{
	const struct hist *h = idl.st.h;
	uint64_t k = idl.established;
	long grow = with->rss_kb - before->rss_kb;

	printf("idle: %d connections%s to %s:%d (pid %ld)\n", opt.idle,
	    opt.touch ? " (one IAMAT each, then idle)" : "", opt.host,
	    opt.port, (long)opt.pid);
	printf("  %" PRIu64 " established in %.3f s, %" PRIu64 " failed;"
	    " node fds %ld -> %ld\n", k, secs, idl.failed, fds_before,
	    fds_with);
	hist_print("setup", h);
	printf("  node RSS %ld kB -> %ld kB with them (+%.1f MB, %.0f bytes"
	    " per connection) -> %ld kB after closing\n", before->rss_kb,
	    with->rss_kb, (double)grow / 1024,
	    k ? (double)grow * 1024 / (double)k : 0, closed->rss_kb);
	printf("RESULT mode=idle conns=%d depth=1 reqs=%" PRIu64
	    " secs=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f"
	    " max_us=%.1f errors=%" PRIu64 " cpu_us_per_req=%.3f"
	    " rss_before_kb=%ld rss_after_kb=%ld rss_growth_kb=%ld"
	    " bytes_per_conn=%.0f rss_closed_kb=%ld fds_before=%ld"
	    " fds_after=%ld\n", opt.idle, k, secs,
	    secs > 0 ? (double)k / secs : 0, hist_us(h, 0.5),
	    hist_us(h, 0.99), hist_us(h, 0.999), (double)h->max / 1000,
	    idl.st.errors, k && with->ok && before->ok ?
	    (double)(with->cpu_us - before->cpu_us) / (double)k : 0,
	    before->rss_kb, with->rss_kb, grow,
	    k ? (double)grow * 1024 / (double)k : 0, closed->rss_kb,
	    fds_before, fds_with);
}

/* Run the idle mode. */
static int
idle_run(void)
{
	struct procsnap before, with, closed;
	struct event *tmo;
	long fds_before, fds_with, lim;
	uint64_t t_start;
	double secs;
	int i, rc;

	proc_raise_nofile((rlim_t)opt.idle + 64);
	if ((lim = proc_nofile_limit(opt.pid)) > 0 && lim < opt.idle + 32)
		fprintf(stderr, "herd-bench: warning: the node may open only"
		    " %ld files (RLIMIT_NOFILE)\n", lim);
	idl.st.h = hist_new();
	idl.rng = bench_rng_seed();
	if ((idl.sc = calloc((size_t)opt.idle, sizeof(*idl.sc))) == NULL)
		bench_fatal("out of memory");
	idl.nsc = opt.idle;
	for (i = 0; i < idl.nsc; i++)
		idl.sc[i].fd = -1;
	fds_before = proc_fd_count(opt.pid);
	proc_snap(opt.pid, &before);
	tmo = conn_deadline(opt.timeout, &idl.st);
	t_start = now_ns();
	idle_open_more();
	if (idl.established + idl.failed < (uint64_t)idl.nsc)
		event_base_dispatch(bench.base);
	secs = (double)(now_ns() - t_start) / 1e9;
	event_free(tmo);
	/* Wait until the node has accepted them all, then let it settle. */
	idle_wait_fds(fds_before < 0 ? -1 : fds_before +
	    (long)idl.established, 0, opt.timeout);
	usleep(200000);
	/* Idle connections the server dropped meanwhile are errors. */
	event_base_loop(bench.base, EVLOOP_NONBLOCK);
	fds_with = proc_fd_count(opt.pid);
	proc_snap(opt.pid, &with);
	for (i = 0; i < idl.nsc; i++) {
		if (idl.sc[i].ev != NULL)
			event_free(idl.sc[i].ev);
		if (idl.sc[i].fd != -1)
			close(idl.sc[i].fd);
	}
	idle_wait_fds(fds_before, 1, 5);
	usleep(200000);
	proc_snap(opt.pid, &closed);
	idle_print(secs, fds_before, fds_with, &before, &with, &closed);
	rc = idl.st.errors == 0 && idl.established == (uint64_t)opt.idle ?
	    0 : 1;
	free(idl.sc);
	free(idl.st.h);
	return rc;
}

const struct bench_mode mode_idle = {
	"idle",
"usage: herd-bench idle -p PORT --idle K [options]\n"
"\n"
"Opens K client connections (256 connects at a time), sends one IAMAT\n"
"on each and checks its reply, then leaves them idle; the node's RSS\n"
"and open files before, with them, and after they closed.  An idle\n"
"connection the node closes or writes to is an error.  Raises\n"
"RLIMIT_NOFILE as needed.\n"
"\n"
"Options:\n"
HELP_HOST
HELP_PORT
"  --idle K           connections to open\n"
"  --no-touch         do not send one IAMAT on each connection\n"
HELP_PREFIX
HELP_SEED
HELP_PID
HELP_TIMEOUT
"\n"
"Output: a summary, then one line\n"
"  RESULT mode=idle conns=... depth=1 reqs=... secs=... rps=... p50_us=...\n"
"         p99_us=... p999_us=... max_us=... errors=... cpu_us_per_req=...\n"
"         rss_before_kb=... rss_after_kb=... rss_growth_kb=...\n"
"         bytes_per_conn=... rss_closed_kb=... fds_before=... fds_after=...\n"
HELP_EXIT,
	idle_run
};
