/*
 * hist.c -- herd-bench's latency histogram (log-linear, under 1% error,
 * fixed memory) and the counters of one stream of requests.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

/* The bucket of v: exact below HIST_SUB, then HIST_SUB per power of 2. */
static unsigned
hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	msb = 63 - (unsigned)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	return shift * HIST_SUB + (unsigned)(v >> shift);
}

/* The middle of bucket i. */
static uint64_t
hist_value(unsigned i)
{
	unsigned shift;
	uint64_t m;

	if (i < HIST_SUB)
		return i;
	shift = i / HIST_SUB - 1;
	m = i - shift * HIST_SUB;
	return (m << shift) + ((1ULL << shift) >> 1);
}

/* Count one latency of ns nanoseconds. */
void
hist_add(struct hist *h, uint64_t ns)
{
	if (h->n == 0 || ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	h->n++;
	h->sum += (double)ns;
	h->b[hist_index(ns)]++;
}

/* The q-quantile (0..1) in microseconds, 0 when empty. */
double
hist_us(const struct hist *h, double q)
{
	uint64_t want, seen = 0, v;
	unsigned i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n);
	if ((double)want < q * (double)h->n)
		want++;
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			v = hist_value(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return (double)v / 1000.0;
		}
	}
	return (double)h->max / 1000.0;
}

/* A new empty histogram. */
struct hist *
hist_new(void)
{
	struct hist *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		bench_fatal("out of memory");
	return h;
}

/* One summary line of latency figures. */
void
hist_print(const char *what, const struct hist *h)
{
	if (h->n == 0) {
		printf("  %-12s no samples\n", what);
		return;
	}
	printf("  %-12s min %.1f  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f"
	    "  mean %.1f us (%" PRIu64 " samples)\n", what,
	    (double)h->min / 1000, hist_us(h, 0.50), hist_us(h, 0.99),
	    hist_us(h, 0.999), (double)h->max / 1000,
	    h->sum / (double)h->n / 1000, h->n);
}

/* Count one reply of a stream; latency kept when the stream has one. */
void
stats_add(struct stats *st, int ok, uint64_t t_sent, uint64_t now)
{
	if (!ok) {
		st->errors++;
		return;
	}
	if (st->done++ == 0)
		st->t_first = now;
	st->t_last = now;
	if (st->h != NULL && now >= t_sent)
		hist_add(st->h, now - t_sent);
}
