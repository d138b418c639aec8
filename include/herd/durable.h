/*
 * durable.h -- a server's records made durable: the persistence engine
 * (persist.h) wired to the store, for the node.
 *
 * It opens and loads DATA_DIR/NAME, appends each record that changed
 * the store, writes the turn's entries at the end-of-turn flush, tells
 * which sequence number a reply must wait for under fsync = always and
 * reports through callbacks when entries became durable or the log
 * started or stopped failing.  It reads the store (never writes it: the
 * loaded entries go to the owner's load callback) and never sees the
 * node: the owner supplies struct durable_ops.
 *
 * Ownership: durable_new() returns an object the owner frees with
 * durable_free(); the store must outlive it.
 */
#ifndef HERD_DURABLE_H
#define HERD_DURABLE_H

#include <stddef.h>
#include <stdint.h>

#include "herd/config.h"
#include "herd/persist.h"
#include "herd/proto.h"

struct event_base;
struct store;
struct durable;

/* The owner's callbacks (none may be NULL). */
struct durable_ops {
	/* Entries up to seq are fdatasync'ed: release the replies that
	 * waited for them. */
	void	(*durable)(void *arg, uint64_t seq);
	/* The log started or stopped failing (the engine logged it). */
	void	(*state_changed)(void *arg);
	/* An entry was staged: the end-of-turn flush must write it. */
	void	(*flush_wanted)(void *arg);
};

/* Persistence off (state "off") until durable_open() turns it on; the
 * fsync policy is fixed for the process's life. */
struct durable	*durable_new(const struct store *, enum herd_fsync,
		    const struct durable_ops *, void *arg);
/*
 * Persistence is on when persist = yes and a data directory is given
 * (data_dir, the --data-dir option, wins over herd->data_dir): open
 * DIR/NAME, hand every entry to load() (which merges it into the
 * store), and open the log.  0 (also when off), or -1 with err on a bad
 * directory or a failed load.
 */
int		 durable_open(struct durable *, struct event_base *,
		    const struct herd_settings *herd, const char *data_dir,
		    const char *name, persist_record_fn load, void *load_arg,
		    char *err, size_t errlen);
/* Write what is staged, final sync per policy, free (NULL is fine). */
void		 durable_free(struct durable *);

/* True when fsync = always, the log is failing, and the record would
 * change the store: it cannot be acknowledged, so it is not taken. */
int		 durable_refuses(const struct durable *, const char *client,
		    size_t clen, const struct herd_time *sent,
		    const char *line, size_t llen);
/* After a merge that changed the store: stage line in the log and ask
 * for the flush. */
void		 durable_changed(struct durable *, const char *line,
		    size_t llen);
/* What a reply acknowledging the store now waits for (0: nothing). */
uint64_t	 durable_ack_seq(struct durable *);
/* The end of a loop turn: one write() of the staged entries. */
void		 durable_write(struct durable *);

/* The engine's counters (zero when off). */
void		 durable_status(struct durable *, struct persist_status *);
/* "ok", "failing" or "off"; the fsync policy's name. */
const char	*durable_state_name(const struct durable *);
const char	*durable_fsync_name(const struct durable *);
/* The supervisor's "PERSIST state fsync lag_ms\n" line; the lag it
 * reports is remembered for durable_lag_changed(). */
void		 durable_report_line(struct durable *, char *, size_t);
/* True when on and the lag differs from the one last reported. */
int		 durable_lag_changed(struct durable *);

#endif
