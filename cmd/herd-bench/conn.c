/*
 * conn.c -- herd-bench's pipelining engine: client connections that keep
 * requests in flight and check every reply, and a run of C of them
 * that make their requests with a mode's generator, with its report.
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

static void	conn_fail(struct conn *, const char *);
static void	conn_read_cb(evutil_socket_t, short, void *);
static void	conn_write_cb(evutil_socket_t, short, void *);

/* A pipelined connection number idx to host:port with up to cap
 * requests in flight; its replies count in st. */
struct conn *
conn_new(const char *host, int port, int idx, int cap, struct stats *st)
{
	struct conn *c;
	int fd;

	if ((fd = sock_connect(host, port, opt.tls ? 0 : 1)) == -1)
		bench_fatal("connect %s:%d: %s", host, port, strerror(errno));
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->slots = calloc((size_t)cap + 1, sizeof(*c->slots))) == NULL)
		bench_fatal("out of memory");
	c->fd = fd;
	if (opt.tls && (c->ssl = tls_connect(fd)) == NULL)
		bench_fatal("TLS handshake with %s:%d failed", host, port);
	c->idx = idx;
	c->cap = (unsigned)cap + 1;
	c->st = st;
	c->prefix = opt.prefix;
	c->ocap = (size_t)(cap + 1) * MAX_LINE;
	c->icap = 65536;
	if ((c->out = malloc(c->ocap)) == NULL ||
	    (c->in = malloc(c->icap)) == NULL)
		bench_fatal("out of memory");
	c->rng = opt.seed * 0x9E3779B97F4A7C15ULL + (uint64_t)idx * 7919 + 1;
	c->rev = event_new(bench.base, fd, EV_READ | EV_PERSIST, conn_read_cb,
	    c);
	c->wev = event_new(bench.base, fd, EV_WRITE, conn_write_cb, c);
	if (c->rev == NULL || c->wev == NULL)
		bench_fatal("event_new failed");
	event_add(c->rev, NULL);
	return c;
}

/* Close and free a connection. */
void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	tls_free(c->ssl);
	if (c->fd != -1)
		close(c->fd);
	free(c->slots);
	free(c->out);
	free(c->in);
	free(c);
}

/* The next free slot of c (the caller fills it, then conn_queue()). */
struct slot *
conn_push(struct conn *c, int kind)
{
	struct slot *s;

	if (c->count + 1 >= c->cap)
		return NULL;
	s = &c->slots[(c->head + c->count) % c->cap];
	s->kind = (uint8_t)kind;
	s->t = 0;
	return s;
}

/* Fill slot s with an IAMAT for c's client key (c's prefix, location
 * kind, random stream and clock). */
void
conn_iamat(struct conn *c, struct slot *s, uint64_t key)
{
	size_t exp;

	s->key = key;
	s->len = (uint16_t)req_iamat(s->line, sizeof(s->line), c->prefix, "",
	    key, c->fixed_loc, &c->rng, &c->last_rt, &exp);
	s->expect = s->line + exp;
	s->explen = (uint16_t)(s->len - exp - 1);
}

/* Append a filled slot's request to the output. */
void
conn_queue(struct conn *c, struct slot *s)
{
	if (c->olen + s->len > c->ocap) {
		c->ocap = (c->olen + s->len) * 2;
		if ((c->out = realloc(c->out, c->ocap)) == NULL)
			bench_fatal("out of memory");
	}
	memcpy(c->out + c->olen, s->line, s->len);
	c->olen += s->len;
	c->count++;
}

/* Write what is queued; wait for writability when the socket is full. */
void
conn_flush(struct conn *c)
{
	ssize_t n;

	while (c->ooff < c->olen) {
		n = c->ssl != NULL ? tls_write(c->ssl, c->out + c->ooff,
		    c->olen - c->ooff) : send(c->fd, c->out + c->ooff,
		    c->olen - c->ooff, MSG_NOSIGNAL);
		if (n > 0) {
			c->ooff += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->wev, NULL);
			return;
		}
		conn_fail(c, strerror(errno));
		return;
	}
	c->olen = c->ooff = 0;
}

/* The socket can take more. */
static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

/* This connection is through: end the loop when it was its run's last. */
static void
conn_done(struct conn *c)
{
	if (c->finished)
		return;
	c->finished = 1;
	if (c->run != NULL && --c->run->running == 0)
		event_base_loopbreak(bench.base);
}

/* The connection broke: its requests in flight count as errors. */
static void
conn_fail(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	bench_error("connection %d: %s (%u requests in flight)", c->idx, why,
	    c->count);
	c->st->errors += c->count ? c->count : 1;
	c->count = 0;
	c->dead = 1;
	event_del(c->rev);
	event_del(c->wev);
	close(c->fd);
	c->fd = -1;
	conn_done(c);
	if (c->vital)
		event_base_loopbreak(bench.base);
}

/* Have the run's generator queue one request on c; 0 when none. */
static int
conn_gen(struct conn *c)
{
	struct run *r = c->run;
	struct slot *s;

	if (r == NULL || r->stopping || r->issued >= r->limit)
		return 0;
	if ((s = r->gen(c)) == NULL)
		return 0;
	r->issued++;
	conn_queue(c, s);
	return 1;
}

/* Send the next batch: depth requests, all stamped with the same time
 * just before the write (the way redis-benchmark -P counts). */
static void
conn_fill(struct conn *c)
{
	unsigned i, first = c->count;
	uint64_t t;
	int d;

	if (c->dead || c->finished)
		return;
	for (d = 0; d < opt.depth; d++)
		if (!conn_gen(c))
			break;
	if (c->count == 0) {
		conn_done(c);
		return;
	}
	t = now_ns();
	for (i = first; i < c->count; i++)
		c->slots[(c->head + i) % c->cap].t = t;
	conn_flush(c);
}

/* Check one complete reply to the head request and account for it. */
static void
conn_reply(struct conn *c, const char *p, size_t len, uint64_t now)
{
	struct slot *s = &c->slots[c->head];
	const char *nl;
	uint64_t t = s->t;
	int ok = 0, held = 0, kind = s->kind;
	size_t ll;

	nl = memchr(p, '\n', len);
	ll = (size_t)(nl - p);
	if (kind == K_IAMAT)
		ok = req_check_at(p, ll, s->expect, s->explen);
	else if (p[0] == '?') {
		ok = kind == K_POLL && ll > 10 &&
		    memcmp(p, "? WHATSAT ", 10) == 0;
	} else {
		held = 1;
		ok = len >= ll + 4 &&
		    req_check_at(p, ll, s->expect, s->explen) &&
		    req_check_json(nl + 1, len - ll - 3, kind == K_WHATSAT);
	}
	if (!ok)
		bench_error("bad reply to %.*s: %.*s", (int)s->len - 1,
		    s->line, (int)(len > 300 ? 300 : len - 1), p);
	c->head = (c->head + 1) % c->cap;
	c->count--;
	stats_add(c->st, ok, t, now);
	if (c->on_reply != NULL)
		c->on_reply(c, ok, held, t, now);
}

/* Replies arrived: check them, then send the next batch when all of
 * the current one is answered. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	size_t off = 0, r;
	uint64_t now;
	ssize_t n;

	(void)what;
	if (c->icap - c->ilen < 16384) {
		if (c->icap >= MAX_REPLY) {
			conn_fail(c, "reply too long");
			return;
		}
		c->icap *= 2;
		if ((c->in = realloc(c->in, c->icap)) == NULL)
			bench_fatal("out of memory");
	}
	n = c->ssl != NULL ? tls_read(c->ssl, c->in + c->ilen, c->icap -
	    c->ilen) : recv(fd, c->in + c->ilen, c->icap - c->ilen, 0);
	if (n == 0) {
		conn_fail(c, "closed by the server");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_fail(c, strerror(errno));
		return;
	}
	c->ilen += (size_t)n;
	now = now_ns();
	while (c->count > 0 && !c->dead) {
		r = req_reply_len(c->slots[c->head].kind, c->in + off,
		    c->ilen - off);
		if (r == 0)
			break;
		conn_reply(c, c->in + off, r, now);
		off += r;
	}
	if (c->dead)
		return;
	if (c->count == 0 && off < c->ilen) {
		bench_error("unexpected bytes from the server: %.*s",
		    (int)(c->ilen - off > 200 ? 200 : c->ilen - off),
		    c->in + off);
		conn_fail(c, "unexpected bytes");
		return;
	}
	memmove(c->in, c->in + off, c->ilen - off);
	c->ilen -= off;
	if (c->count == 0 && c->run != NULL)
		conn_fill(c);
	/* TLS may hold decrypted bytes the socket no longer signals. */
	if (c->ssl != NULL && !c->dead && tls_pending(c->ssl))
		event_active(c->rev, EV_READ, 0);
}

/* The deadline passed: count it as an error in st and end the loop. */
static void
conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stats *st = arg;

	(void)fd;
	(void)what;
	bench_error("timed out after %.1f s", opt.timeout);
	st->errors++;
	event_base_loopbreak(bench.base);
}

/* A timer of whole secs that ends the loop with an error in st. */
struct event *
conn_deadline(double secs, struct stats *st)
{
	return bench_timer((double)(time_t)secs, conn_deadline_cb, st);
}

/* -t expired: no new batches; the loop ends when all are answered. */
static void
conn_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	int i;

	(void)fd;
	(void)what;
	r->stopping = 1;
	for (i = 0; i < r->nconns; i++)
		if (r->conns[i]->count == 0)
			conn_done(r->conns[i]);
}

/*
 * C connections making requests with r->gen until -t/-n (or, with
 * r->once, until the generator has no more).  Fills r->st.  Returns 0,
 * or -1 if the run timed out.
 */
int
conn_run(struct run *r, const char *prefix, int fixed_loc)
{
	struct event *stop = NULL, *tmo;
	struct conn *c;
	uint64_t n = (uint64_t)opt.conns;
	int i;

	if (!r->shared_keys && opt.keyspace < n) {
		fprintf(stderr, "herd-bench: keyspace %" PRIu64 " < %d"
		    " connections; using %d\n", opt.keyspace, opt.conns,
		    opt.conns);
		opt.keyspace = n;
	}
	if ((r->conns = calloc((size_t)opt.conns, sizeof(*r->conns))) == NULL)
		bench_fatal("out of memory");
	r->nconns = opt.conns;
	for (i = 0; i < opt.conns; i++) {
		c = r->conns[i] = conn_new(opt.host, opt.port, i, opt.depth,
		    &r->st);
		c->run = r;
		c->prefix = prefix;
		c->fixed_loc = fixed_loc;
		c->stride = n;
		c->nkeys = (uint64_t)i < opt.keyspace ?
		    (opt.keyspace - (uint64_t)i + n - 1) / n : 0;
	}
	r->running = opt.conns;
	r->limit = opt.nreq ? opt.nreq : UINT64_MAX;
	r->stopping = 0;
	r->issued = 0;
	if (opt.secs > 0 && !r->once)
		stop = bench_timer(opt.secs, conn_stop_cb, r);
	tmo = conn_deadline(opt.timeout + opt.secs + (r->once ?
	    (double)opt.keyspace / 5000 : 0), &r->st);
	r->t_start = now_ns();
	for (i = 0; i < opt.conns; i++)
		conn_fill(r->conns[i]);
	if (r->running > 0)
		event_base_dispatch(bench.base);
	if (stop != NULL)
		event_free(stop);
	event_free(tmo);
	for (i = 0; i < opt.conns; i++)
		r->st.errors += r->conns[i]->count;
	return r->running > 0 ? -1 : 0;
}

/* Free the connections and the histogram of a run. */
void
conn_run_free(struct run *r)
{
	int i;

	for (i = 0; i < r->nconns; i++)
		conn_free(r->conns[i]);
	free(r->conns);
	r->conns = NULL;
	r->nconns = 0;
	free(r->st.h);
	r->st.h = NULL;
}

/*
 * iamat, whatsat and load: run r, measuring the server's CPU and RSS
 * (and the herd's CPU with --also-pids), and print the summary and the
 * RESULT line.  records: load's figures per record.  Exit status.
 */
int
conn_report(struct run *r, const char *mode, int records)
{
	struct procsnap before, after;
	struct stats *st = &r->st;
	uint64_t herd_before = 0, herd_after = 0, cpu;
	double secs, rps;
	int nherd = 0, timed_out, rc;
	char herd[64] = "";

	st->h = hist_new();
	proc_snap(opt.pid, &before);
	if (opt.also_pids != NULL)
		herd_before = proc_cpu_us_list(opt.also_pids, &nherd);
	timed_out = conn_run(r, opt.prefix, 0);
	proc_snap(opt.pid, &after);
	if (records && after.ok) {
		/* Let the node settle (flood buffers drain) before RSS. */
		usleep(300000);
		proc_snap(opt.pid, &after);
	}
	if (opt.also_pids != NULL)
		herd_after = proc_cpu_us_list(opt.also_pids, &nherd);
	secs = (double)(st->t_last - r->t_start) / 1e9;
	rps = secs > 0 ? (double)st->done / secs : 0;
	cpu = after.ok && before.ok ? after.cpu_us - before.cpu_us : 0;

	printf("%s: %d connections, depth %d, %s %" PRIu64 ", server %s"
	    " (pid %ld)\n", mode, opt.conns, opt.depth,
	    records ? "records" : "keyspace", opt.keyspace,
	    bench.server[0] ? bench.server : "?", (long)opt.pid);
	printf("  %" PRIu64 " requests in %.3f s: %.0f requests/s, %" PRIu64
	    " errors%s\n", st->done, secs, rps, st->errors,
	    timed_out ? " (timed out)" : "");
	hist_print("latency", st->h);
	if (before.ok && after.ok)
		printf("  server CPU %.3f s: %.2f us per request; RSS %ld ->"
		    " %ld kB\n", (double)cpu / 1e6, st->done ?
		    (double)cpu / (double)st->done : 0, before.rss_kb,
		    after.rss_kb);
	if (nherd > 0) {
		snprintf(herd, sizeof(herd), " herd_cpu_us_per_req=%.3f",
		    st->done ? (double)(herd_after + cpu - herd_before) /
		    (double)st->done : 0);
		printf("  herd CPU (%d more processes): %.2f us per request\n",
		    nherd, st->done ? (double)(herd_after + cpu -
		    herd_before) / (double)st->done : 0);
	}
	if (records && before.ok && after.ok && st->done > 0)
		printf("  RSS growth %.1f MB: %.0f bytes per record\n",
		    (double)(after.rss_kb - before.rss_kb) / 1024,
		    (double)(after.rss_kb - before.rss_kb) * 1024 /
		    (double)st->done);
	printf("RESULT mode=%s conns=%d depth=%d keyspace=%" PRIu64
	    " reqs=%" PRIu64 " secs=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f"
	    " p999_us=%.1f max_us=%.1f errors=%" PRIu64
	    " cpu_us_per_req=%.3f%s rss_before_kb=%ld rss_after_kb=%ld"
	    " pid=%ld", mode, opt.conns, opt.depth, opt.keyspace,
	    st->done, secs, rps, hist_us(st->h, 0.5), hist_us(st->h, 0.99),
	    hist_us(st->h, 0.999), (double)st->h->max / 1000, st->errors,
	    st->done ? (double)cpu / (double)st->done : 0, herd,
	    before.rss_kb, after.rss_kb, (long)opt.pid);
	if (records)
		printf(" records=%" PRIu64 " bytes_per_record=%.0f",
		    st->done, st->done ? (double)(after.rss_kb -
		    before.rss_kb) * 1024 / (double)st->done : 0);
	printf("\n");
	rc = st->errors == 0 && !timed_out ? 0 : 1;
	conn_run_free(r);
	return rc;
}
