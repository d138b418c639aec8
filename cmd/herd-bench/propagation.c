/*
 * propagation.c -- herd-bench's propagation mode: probes IAMAT at one
 * node and polls another with WHATSAT until it holds the client, idle
 * or under a paced background IAMAT load at the first.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "bench.h"

#define PACED_DEPTH	256		/* outstanding per background conn */

/* The mode's state. */
struct prop {
	struct conn	*src, *dst;	/* probe IAMATs, WHATSAT polls */
	struct conn	**bgc;		/* background load */
	int		 nbgc, bgnext;
	int		 probe, probing;
	uint64_t	 t0, tpoll;	/* probe written, last poll written */
	uint64_t	 t_pace;
	double		 budget;	/* background IAMATs due */
	uint64_t	 timeouts;
	char		 pexp[MAX_LINE];
	size_t		 pexplen;
	char		 probe_id[128];	/* the probe's client id */
	struct hist	*ph;		/* propagation latency */
	struct event	*gap_ev, *pace_ev;
	struct stats	 st;		/* timeouts */
	struct stats	 bg;		/* background load */
	struct stats	 aux;		/* probes' IAMATs */
	struct stats	 polls;		/* WHATSAT polls */
	uint64_t	 rng;
};

static struct prop pr;

/* Queue a WHATSAT poll for the probe's client on c; the caller stamps
 * and writes it. */
static struct slot *
prop_poll(struct conn *c)
{
	struct slot *p;

	if ((p = conn_push(c, K_POLL)) == NULL)
		bench_fatal("propagation: destination connection busy");
	p->len = (uint16_t)snprintf(p->line, sizeof(p->line),
	    "WHATSAT %s 1 1\n", pr.probe_id);
	p->expect = pr.pexp;
	p->explen = (uint16_t)pr.pexplen;
	conn_queue(c, p);
	return p;
}

/* Send probe pr.probe: IAMAT at the source, then the first WHATSAT at
 * the destination right away. */
static void
prop_probe(void)
{
	struct slot *s, *p;

	if ((s = conn_push(pr.src, K_IAMAT)) == NULL)
		bench_fatal("propagation: source connection busy");
	conn_iamat(pr.src, s, (uint64_t)pr.probe);
	memcpy(pr.pexp, s->expect, s->explen);
	pr.pexplen = s->explen;
	snprintf(pr.probe_id, sizeof(pr.probe_id), "%.*s",
	    (int)strcspn(s->expect, " "), s->expect);
	conn_queue(pr.src, s);
	p = prop_poll(pr.dst);
	pr.t0 = now_ns();
	s->t = pr.t0;
	conn_flush(pr.src);
	pr.tpoll = p->t = now_ns();
	conn_flush(pr.dst);
}

/* The pause between probes is over: next probe, or the end. */
static void
prop_gap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (!pr.probing) {
		/* Warm-up of the background load done. */
		pr.probing = 1;
		prop_probe();
		return;
	}
	if (++pr.probe >= (int)opt.nreq || pr.src->dead || pr.dst->dead) {
		event_base_loopbreak(bench.base);
		return;
	}
	prop_probe();
}

/* The destination answered a poll: poll again until it knows the
 * client; the latency is from the IAMAT's write to the write of the
 * first poll that found it (the record arrived between the previous
 * poll and this one: one round trip of resolution). */
static void
prop_dst_reply(struct conn *c, int ok, int held, uint64_t t, uint64_t now)
{
	struct slot *p;
	struct timeval tv;
	uint64_t gap;

	(void)t;
	if (ok && !held && now - pr.t0 < (uint64_t)(opt.timeout * 1e9)) {
		p = prop_poll(c);
		pr.tpoll = p->t = now_ns();
		conn_flush(c);
		return;
	}
	if (ok && held)
		hist_add(pr.ph, pr.tpoll - pr.t0);
	else if (ok) {
		bench_error("probe %d not seen after %.1f s", pr.probe,
		    opt.timeout);
		pr.timeouts++;
		pr.st.errors++;
	}
	gap = (uint64_t)opt.gap_us + rng_next(&pr.rng) %
	    ((uint64_t)opt.gap_us / 2 + 1);
	tv.tv_sec = (time_t)(gap / 1000000);
	tv.tv_usec = (suseconds_t)(gap % 1000000);
	evtimer_add(pr.gap_ev, &tv);
}

/* Every millisecond: send the background IAMATs due by now. */
static void
prop_pace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = NULL;
	struct slot *s;
	uint64_t now = now_ns(), t;
	unsigned i, first;
	int tries, k;

	(void)fd;
	(void)what;
	(void)arg;
	pr.budget += opt.rate * (double)(now - pr.t_pace) / 1e9;
	pr.t_pace = now;
	if (pr.budget > opt.rate / 100 + 1)
		pr.budget = opt.rate / 100 + 1;		/* no bursts >10 ms */
	for (k = 0; k < pr.nbgc; k++)
		pr.bgc[k]->next = pr.bgc[k]->count;	/* first new slot */
	while (pr.budget >= 1) {
		for (tries = 0; tries < pr.nbgc; tries++) {
			c = pr.bgc[pr.bgnext++ % pr.nbgc];
			if (!c->dead && c->count + 1 < c->cap)
				break;
		}
		if (tries == pr.nbgc)
			break;
		s = conn_push(c, K_IAMAT);
		conn_iamat(c, s, (uint64_t)c->idx + c->stride *
		    (rng_next(&c->rng) % c->nkeys));
		conn_queue(c, s);
		pr.budget -= 1;
	}
	t = now_ns();
	for (k = 0; k < pr.nbgc; k++) {
		c = pr.bgc[k];
		first = (unsigned)c->next;
		for (i = first; i < c->count; i++)
			c->slots[(c->head + i) % c->cap].t = t;
		if (c->olen > 0 && !c->dead)
			conn_flush(c);
	}
}

/* Open the --load-conns background connections at -p. */
static void
prop_background(void)
{
	static char bgprefix[MAX_PREFIX + 8];
	uint64_t n;
	int i;

	snprintf(bgprefix, sizeof(bgprefix), "%sl", opt.prefix);
	if ((pr.bgc = calloc((size_t)opt.load_conns, sizeof(*pr.bgc))) ==
	    NULL)
		bench_fatal("out of memory");
	pr.nbgc = opt.load_conns;
	n = (uint64_t)pr.nbgc;
	if (opt.keyspace < n)
		opt.keyspace = n;
	for (i = 0; i < pr.nbgc; i++) {
		pr.bgc[i] = conn_new(opt.host, opt.port, i, PACED_DEPTH,
		    &pr.bg);
		pr.bgc[i]->prefix = bgprefix;
		pr.bgc[i]->stride = n;
		pr.bgc[i]->nkeys = (opt.keyspace - (uint64_t)i + n - 1) / n;
	}
}

/* Print the summary and the RESULT line of the propagation mode. */
static void
prop_print(double bg_secs, uint64_t sent, const struct procsnap *sb,
    const struct procsnap *sa, const struct procsnap *db,
    const struct procsnap *da)
{
	double bg_rps = bg_secs > 0 ? (double)pr.bg.done / bg_secs : 0;
	const struct hist *h = pr.ph;

	printf("propagation: IAMAT at %s:%d, polled at %s:%d, %" PRIu64
	    " probes\n", opt.host, opt.port, opt.to_host, opt.to_port, h->n);
	hist_print("propagation", h);
	if (opt.rate > 0) {
		printf("  background: %.0f IAMAT/s asked, %.0f achieved over"
		    " %d connections, %" PRIu64 " errors\n", opt.rate, bg_rps,
		    pr.nbgc, pr.bg.errors);
		hist_print("background", pr.bg.h);
	}
	if (sa->ok && sb->ok)
		printf("  source CPU %.3f s (%.2f us per IAMAT), destination"
		    " CPU %.3f s\n", (double)(sa->cpu_us - sb->cpu_us) / 1e6,
		    (double)(sa->cpu_us - sb->cpu_us) / (double)sent,
		    (double)(da->cpu_us - db->cpu_us) / 1e6);
	printf("RESULT mode=propagation conns=%d depth=1 reqs=%" PRIu64
	    " secs=%.3f rps=%.0f rate=%.0f p50_us=%.1f p99_us=%.1f"
	    " p999_us=%.1f max_us=%.1f timeouts=%" PRIu64 " errors=%" PRIu64
	    " load_p99_us=%.1f cpu_us_per_req=%.3f to_cpu_us_per_req=%.3f"
	    " rss_before_kb=%ld rss_after_kb=%ld\n", pr.nbgc, h->n,
	    bg_secs, bg_rps, opt.rate, hist_us(h, 0.5), hist_us(h, 0.99),
	    hist_us(h, 0.999), (double)h->max / 1000, pr.timeouts,
	    pr.st.errors, hist_us(pr.bg.h, 0.99), sa->ok && sb->ok ?
	    (double)(sa->cpu_us - sb->cpu_us) / (double)sent : 0,
	    da->ok && db->ok ? (double)(da->cpu_us - db->cpu_us) /
	    (double)sent : 0, sb->rss_kb, sa->rss_kb);
}

/* Run the propagation mode. */
static int
prop_run(void)
{
	struct procsnap sb, sa, db, da;
	struct timeval tv;
	struct event *tmo;
	uint64_t t_bg_start, t_end, sent;
	int i, rc;

	pr.rng = bench_rng_seed();
	pr.ph = hist_new();
	pr.bg.h = hist_new();
	pr.src = conn_new(opt.host, opt.port, 0, 4, &pr.aux);
	pr.src->fixed_loc = 1;
	pr.src->vital = 1;
	pr.dst = conn_new(opt.to_host, opt.to_port, 1, 4, &pr.polls);
	pr.dst->on_reply = prop_dst_reply;
	pr.dst->vital = 1;
	if (opt.rate > 0)
		prop_background();
	pr.gap_ev = evtimer_new(bench.base, prop_gap_cb, NULL);
	proc_snap(opt.pid, &sb);
	proc_snap(opt.to_pid, &db);
	t_bg_start = pr.t_pace = now_ns();
	if (opt.rate > 0) {
		pr.pace_ev = event_new(bench.base, -1, EV_PERSIST,
		    prop_pace_cb, NULL);
		tv.tv_sec = 0;
		tv.tv_usec = 1000;
		event_add(pr.pace_ev, &tv);
		tv.tv_usec = 500000;		/* load warm-up */
	} else
		tv.tv_usec = 1000;
	tv.tv_sec = 0;
	evtimer_add(pr.gap_ev, &tv);
	tmo = conn_deadline(opt.timeout + (double)opt.nreq * 0.05, &pr.st);
	event_base_dispatch(bench.base);
	t_end = now_ns();
	proc_snap(opt.pid, &sa);
	proc_snap(opt.to_pid, &da);
	if (pr.pace_ev != NULL)
		event_free(pr.pace_ev);
	event_free(pr.gap_ev);
	event_free(tmo);
	sent = pr.bg.done + pr.aux.done;
	if (sent == 0)
		sent = 1;
	pr.st.errors += pr.bg.errors + pr.aux.errors + pr.polls.errors;
	prop_print((double)(t_end - t_bg_start) / 1e9, sent, &sb, &sa,
	    &db, &da);
	rc = pr.st.errors == 0 && pr.ph->n == opt.nreq ? 0 : 1;
	conn_free(pr.src);
	conn_free(pr.dst);
	for (i = 0; i < pr.nbgc; i++)
		conn_free(pr.bgc[i]);
	free(pr.bgc);
	free(pr.ph);
	free(pr.bg.h);
	return rc;
}

const struct bench_mode mode_propagation = {
	"propagation",
"usage: herd-bench propagation -p PORT --to-port PORT [options]\n"
"\n"
"Probes: an IAMAT for a new client at -p, then WHATSAT polls back to\n"
"back at --to-port until that node holds the client; the latency runs\n"
"from the IAMAT's write to the write of the first poll that finds it.\n"
"With --rate, a paced background IAMAT load runs at -p meanwhile\n"
"(after a 0.5 s warm-up).\n"
"\n"
"Options:\n"
HELP_HOST
"  -p PORT            the node that gets the IAMATs\n"
"  --to-host HOST     the node polled (default: -h)\n"
"  --to-port PORT     its port\n"
"  --to-pid PID       its process, for its CPU (default: found via\n"
"                     /proc/net/tcp)\n"
"  -n PROBES          probes (default 200)\n"
"  --gap-us N         pause between probes (default 2000, plus up to\n"
"                     half of it at random)\n"
"  --rate R           background IAMAT/s at -p during the probes (0)\n"
"  --load-conns L     connections of the background load (default 10)\n"
"  -k KEYSPACE        distinct client ids of the background load\n"
"                     (default 100000)\n"
"  --prefix STR       client id prefix (default p<pid>-)\n"
HELP_SEED
HELP_PID
HELP_TIMEOUT
"\n"
"Output: a summary, then one line\n"
"  RESULT mode=propagation conns=... depth=1 reqs=... secs=... rps=...\n"
"         rate=... p50_us=... p99_us=... p999_us=... max_us=...\n"
"         timeouts=... errors=... load_p99_us=... cpu_us_per_req=...\n"
"         to_cpu_us_per_req=... rss_before_kb=... rss_after_kb=...\n"
HELP_EXIT,
	prop_run
};
