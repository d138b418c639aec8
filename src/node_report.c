/*
 * node_report.c -- what a node tells about itself (see node_report.h):
 * the status pipe's lines, the SIGUSR1 stats line and the /metrics
 * snapshot, read from the store,
 * the client sessions, the links, places and persistence, plus the
 * process facts /proc gives.
 */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "herd/client.h"
#include "herd/config.h"
#include "herd/durable.h"
#include "herd/log.h"
#include "herd/metrics.h"
#include "herd/node_report.h"
#include "herd/peer.h"
#include "herd/persist.h"
#include "herd/places.h"
#include "herd/store.h"

static void	link_cb(void *, const char *, int);
static void	link_line_cb(void *, const char *, int);
static uint64_t	proc_rss(void);
static long	proc_open_fds(void);

/* Send one line; a supervisor that is gone closes the pipe. */
void
node_pipe_send(struct node_pipe *p, const char *line)
{
	if (p->fd == -1)
		return;
	if (write(p->fd, line, strlen(line)) == -1 && errno != EAGAIN) {
		close(p->fd);
		p->fd = -1;
	}
}

/* "RECORDS n" if the count changed since the last one sent. */
void
node_pipe_records(struct node_pipe *p, size_t records)
{
	char line[64];

	if (p->fd == -1 || records == p->records)
		return;
	p->records = records;
	snprintf(line, sizeof(line), "RECORDS %zu\n", records);
	node_pipe_send(p, line);
}

/* "LOAD clients lines" (connected clients, client lines received since
 * start) if either changed since the last one sent. */
void
node_pipe_load(struct node_pipe *p, size_t clients, uint64_t lines)
{
	char line[64];

	if (p->fd == -1 || (clients == p->clients && lines == p->lines))
		return;
	p->clients = clients;
	p->lines = lines;
	snprintf(line, sizeof(line), "LOAD %zu %llu\n", clients,
	    (unsigned long long)lines);
	node_pipe_send(p, line);
}

/* peers_each(): one "LINK name 0|1" line. */
static void
link_line_cb(void *arg, const char *name, int up)
{
	char line[HERD_NAME_MAX + 16];

	snprintf(line, sizeof(line), "LINK %s %d\n", name, up ? 1 : 0);
	node_pipe_send(arg, line);
}

/* "PEERS up total", then each link's state (herdctl status and the
 * status page show which links are down). */
void
node_pipe_peers(struct node_pipe *p, const struct peers *ps)
{
	char line[64];

	snprintf(line, sizeof(line), "PEERS %zu %zu\n", peers_up(ps),
	    peers_count(ps));
	node_pipe_send(p, line);
	if (p->fd != -1)
		peers_each(ps, link_line_cb, p);
}

/* peers_each(): add one link to the scrape's list. */
static void
link_cb(void *arg, const char *name, int up)
{
	struct node_report_links *l = arg;
	struct metrics_peer *p;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;

		if ((p = reallocarray(l->v, cap, sizeof(*p))) == NULL)
			return;		/* the scrape shows fewer */
		l->v = p;
		l->cap = cap;
	}
	p = &l->v[l->n++];
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->up = up;
}

/* Resident memory in bytes from /proc/self/statm, or 0. */
static uint64_t
proc_rss(void)
{
	unsigned long size, rss;
	FILE *f;
	int ok;

	if ((f = fopen("/proc/self/statm", "r")) == NULL)
		return 0;
	ok = fscanf(f, "%lu %lu", &size, &rss) == 2;
	fclose(f);
	return ok ? (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Open descriptors (entries of /proc/self/fd but its own), or -1. */
static long
proc_open_fds(void)
{
	struct dirent *de;
	DIR *d;
	long count = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			count++;
	closedir(d);
	return count - 1;
}

/* A scrape: the counters as they are now. */
void
node_report_metrics(const struct node_parts *n, struct node_report_links *l,
    struct metrics_snapshot *s)
{
	static time_t proc_at;		/* when the /proc figures were read */
	static uint64_t rss;
	static long fds;
	const struct client_stats *cs = clients_stats(n->clients);
	const struct peer_stats *ps = peers_stats(n->peers);
	struct places_stats pls;
	struct persist_status st;
	struct timespec now;

	/* Walking /proc/self/fd costs about 1 us a descriptor (16 ms with
	 * 16,384 clients): once a second at most, however fast the scrapes. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (proc_at == 0 || now.tv_sec != proc_at) {
		proc_at = now.tv_sec;
		rss = proc_rss();
		fds = proc_open_fds();
	}
	s->start_time_s = n->start_time_s;
	s->rss_bytes = rss;
	s->open_fds = fds;
	s->iamat = cs->iamat;
	s->whatsat = cs->whatsat;
	s->invalid = cs->invalid;
	s->records = store_count(n->store);
	s->clients = clients_count(n->clients);
	l->n = 0;
	peers_each(n->peers, link_cb, l);
	s->peers = l->v;
	s->npeers = l->n;
	s->flood_in = ps->flood_in;
	s->flood_out = ps->flood_out;
	places_stats(n->places, &pls);
	memcpy(s->places, pls.by_status, sizeof(s->places));
	s->places_duration = pls.duration;
	s->places_cache_hits = pls.cache_hits;
	s->log_dropped = log_dropped();
	durable_status(n->durable, &st);
	s->persist_state = durable_state_name(n->durable);
	s->persist_lag_s = (double)st.lag_ms / 1000.0;
	s->fsync_duration = st.fsync_hist;
}

/* Log one stats line: records, clients, links, traffic and store memory. */
void
node_report_stats(const struct node_parts *n)
{
	const struct client_stats *cs = clients_stats(n->clients);
	const struct peer_stats *ps = peers_stats(n->peers);
	struct persist_status st;

	durable_status(n->durable, &st);
	log_info("stats: records=%zu clients=%zu peers_up=%zu/%zu lines_in=%llu"
	    " replies=%llu invalid=%llu flood_in=%llu flood_out=%llu"
	    " sync_out=%llu sync_bytes_out=%llu accepted=%llu refused=%llu"
	    " dropped=%llu log_dropped=%lu store_bytes=%zu persist=%s"
	    " fsync=%s persist_lag_ms=%ld log_bytes=%llu",
	    store_count(n->store), clients_count(n->clients),
	    peers_up(n->peers), peers_count(n->peers),
	    (unsigned long long)cs->lines_in,
	    (unsigned long long)cs->replies,
	    (unsigned long long)cs->invalid,
	    (unsigned long long)ps->flood_in,
	    (unsigned long long)ps->flood_out,
	    (unsigned long long)ps->sync_out,
	    (unsigned long long)ps->sync_bytes_out,
	    (unsigned long long)cs->accepted,
	    (unsigned long long)cs->refused,
	    (unsigned long long)cs->dropped, log_dropped(),
	    store_bytes(n->store), durable_state_name(n->durable),
	    durable_fsync_name(n->durable), st.lag_ms,
	    (unsigned long long)st.log_bytes);
}
