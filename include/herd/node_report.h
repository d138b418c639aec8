/*
 * node_report.h -- what a node tells about itself: the SIGUSR1 stats
 * line and the snapshot a /metrics scrape shows, read from the modules
 * the node is made of (node.c wires them; this file never sees struct
 * node).
 */
#ifndef HERD_NODE_REPORT_H
#define HERD_NODE_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "herd/metrics.h"

struct store;
struct clients;
struct peers;
struct places;
struct durable;

/* The modules a report reads (none is changed). */
struct node_parts {
	const struct store	*store;
	const struct clients	*clients;
	const struct peers	*peers;
	const struct places	*places;
	struct durable		*durable;	/* its status takes a lock */
	double			 start_time_s;	/* Unix time the node began */
};

/* A scrape's list of links, kept between scrapes (freed by the owner). */
struct node_report_links {
	struct metrics_peer	*v;
	size_t			 n, cap;
};

/* The status pipe to the supervisor, one line per report ("READY",
 * "RECORDS n", "LOAD clients lines", "PEERS up total", "PERSIST ...",
 * "RELOADED ..."); what was last sent, so unchanged counts are not. */
struct node_pipe {
	int			 fd;		/* -1: none (or it closed) */
	size_t			 records;
	size_t			 clients;
	uint64_t		 lines;
};

/* Send a line; a supervisor that is gone closes the pipe. */
void	node_pipe_send(struct node_pipe *, const char *line);
/* "RECORDS n" when n changed since the last. */
void	node_pipe_records(struct node_pipe *, size_t records);
/* "LOAD clients lines" when either changed since the last. */
void	node_pipe_load(struct node_pipe *, size_t clients, uint64_t lines);
/* "PEERS up total", then "LINK name 0|1" for every link. */
void	node_pipe_peers(struct node_pipe *, const struct peers *);

/* Log one stats line: records, clients, links, traffic, store memory,
 * persistence. */
void	node_report_stats(const struct node_parts *);
/* Fill a /metrics snapshot (its peers point into links). */
void	node_report_metrics(const struct node_parts *,
	    struct node_report_links *links, struct metrics_snapshot *);

#endif /* HERD_NODE_REPORT_H */
