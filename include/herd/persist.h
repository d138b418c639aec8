/*
 * persist.h -- the persistence engine: a server's records on disk, in
 * one directory, driven by the owner's libevent loop.
 *
 * Files in the directory (formats in journal.h):
 *	LOCK			flock()ed while a process uses the directory
 *	log-GGGGGGGGGGGGGGGG	append-only log of generation G (hex)
 *	snapshot-GGGGGGGGGGGGGGGG  every live record when log G was started
 *	*.damaged-TIMESTAMP	files moved aside by the loader (kept)
 * Loading takes the newest snapshot S and every log of generation >= S,
 * in order.  The loop stages entries (persist_append) and hands them to
 * the kernel in one write() per turn (persist_write, called before the
 * replies are written); a writer thread does the fdatasync()s and tells
 * the loop which sequence number is durable.  The loop never waits on
 * the disk except for that write().
 *
 * Ownership: persist_open() returns an object the caller frees with
 * persist_free(); lines passed in are copied; lines passed to callbacks
 * are valid only during the call.  No dependency on node/client/peer:
 * the owner supplies struct persist_ops.
 */
#ifndef HERD_PERSIST_H
#define HERD_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include "herd/config.h"
#include "herd/metrics.h"
#include "herd/proto.h"

#define PERSIST_COMPACT_MIN	(4u * 1024 * 1024) /* log bytes */
#define PERSIST_STAGE_MAX	(64u * 1024 * 1024) /* staged bytes */
#define PERSIST_RETRY_MS	1000	/* failed write retried after */

struct event_base;
struct persist;

enum persist_state {
	PERSIST_OK = 0,
	PERSIST_FAILING,	/* write or sync errors; retrying */
	PERSIST_OFF,		/* persistence disabled (status only) */
};

/* The owner's callbacks; any may be NULL except as noted. */
struct persist_ops {
	/* Entries up to seq are fdatasync'ed (every sync, any policy). */
	void		 (*durable)(void *arg, uint64_t seq);
	/* The state changed (err: the errno behind FAILING, else 0); the
	 * engine has logged the change already (one line per change). */
	void		 (*state_changed)(void *arg, enum persist_state, int err);
	/* Bytes the live records would take in a snapshot (for the
	 * compaction trigger); NULL disables automatic compaction. */
	size_t		 (*live_bytes)(void *arg);
	/* Compaction iterator: the next live AT line after *cursor (start
	 * at 0), or NULL at the end; must be resumable across loop turns
	 * (store_next() is).  NULL disables compaction. */
	const char	*(*next)(void *arg, size_t *cursor, size_t *len);
};

struct persist_load_info {
	size_t		 records;	/* entries passed to record() */
	size_t		 snapshot_entries;
	size_t		 log_entries;
	size_t		 files;		/* files read */
	size_t		 cut_entries;	/* dropped from torn tails */
	size_t		 cut_bytes;
	size_t		 damaged;	/* files moved aside */
	long		 elapsed_ms;
};

struct persist_status {
	enum persist_state state;
	const char	*fsync;		/* "always", "everysec", "no" */
	long		 lag_ms;	/* oldest written, unsynced entry (at
					 * most); 0 when none or fsync = no */
	uint64_t	 log_bytes;	/* log files since the snapshot */
	uint64_t	 live_bytes;	/* ops->live_bytes(), or 0 */
	uint64_t	 snapshot_bytes;
	uint64_t	 written_seq;	/* handed to the kernel */
	uint64_t	 durable_seq;	/* fdatasync'ed */
	uint64_t	 syncs;		/* fdatasync calls done */
	struct metrics_hist fsync_hist;	/* their durations */
	uint64_t	 write_errors;	/* failed write attempts */
	uint64_t	 compactions;	/* snapshots installed */
	int		 compacting;
	int		 frozen;	/* stopped by persist_test_compact_stop */
};

/*
 * Use directory dir (created with missing parents, mode 0700) and lock
 * it.  NULL with a message in err naming the path and what to fix when
 * it is not a directory, owned by another user, not writable, or locked
 * by another process.  Starts the writer thread.
 */
struct persist	*persist_open(struct event_base *, const char *dir,
		    enum herd_fsync, const struct persist_ops *, void *arg,
		    char *err, size_t errlen);

/* The loader's callback: one entry, its AT line (valid during the call)
 * and that line parsed (spans into it); non-zero aborts the load. */
typedef int (*persist_record_fn)(void *arg, const char *line, size_t len,
		    const struct proto_at *at);

/*
 * Read the snapshot and logs, calling record() for each entry in order
 * (the caller merges it into its store).  Torn tails are
 * cut (one warning with entries and bytes dropped), a file damaged in the
 * middle is renamed NAME.damaged-TIMESTAMP after its intact prefix was
 * loaded (and a compaction is due).  Then opens the log for appending.
 * Call once, before persist_append().  -1 with err on a fatal problem
 * (foreign or newer-version file, I/O error).
 */
int		 persist_load(struct persist *, persist_record_fn record,
		    void *arg, struct persist_load_info *, char *err,
		    size_t errlen);

/* Stage one AT line; returns its sequence number (1, 2, ...), or 0 when
 * it was not staged (too long, or the stage is full while failing). */
uint64_t	 persist_append(struct persist *, const char *line, size_t len);

/* One write() of everything staged (end of a loop turn, before replies
 * go out); 0, or -1 when the kernel refused it (the batch stays staged,
 * state FAILING, retried every PERSIST_RETRY_MS). */
int		 persist_write(struct persist *);

/* A reply waits until seq is durable: under fsync = always, the next
 * persist_write() has the writer sync at once.  Without a waiting reply
 * (records from neighbours only) always syncs on everysec's cadence. */
void		 persist_urge(struct persist *, uint64_t seq);

/* The last sequence number handed to the kernel. */
uint64_t	 persist_written_seq(const struct persist *);
/* The last sequence number fdatasync'ed. */
uint64_t	 persist_durable_seq(const struct persist *);

/* Fill st (a snapshot of the counters). */
void		 persist_status(struct persist *, struct persist_status *st);

/* Start a compaction now if none runs (0), else -1. */
int		 persist_compact(struct persist *);
/* Override PERSIST_COMPACT_MIN (also $HERD_PERSIST_COMPACT_MIN). */
void		 persist_set_compact_min(struct persist *, uint64_t bytes);

/* Write what is staged, final fdatasync (unless fsync = no), join the
 * writer thread, free everything.  A compaction in progress is dropped
 * (its temporary file is ignored at the next load). */
void		 persist_free(struct persist *);

/* Test hooks: freeze a compaction after step n (1 rotated, 2 first
 * chunk written, 3 temporary file synced, 4 renamed and directory
 * synced, old files not yet removed); 0 = run to the end. */
void		 persist_test_compact_stop(struct persist *, int step);
/* Test hook: called on the writer thread after every fdatasync of the
 * log with the sequence number it covered. */
void		 persist_test_sync_hook(struct persist *,
		    void (*)(void *, uint64_t), void *);

#endif
