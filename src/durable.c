/*
 * durable.c -- the persistence engine wired to the store for the node
 * (see durable.h): load, append what changed the store, hold replies
 * until durable under fsync = always, report the log's state.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd/durable.h"
#include "herd/journal.h"
#include "herd/log.h"
#include "herd/persist.h"
#include "herd/store.h"

struct durable {
	struct persist		*persist;	/* NULL: persistence off */
	const struct store	*store;
	enum persist_state	 state;
	enum herd_fsync		 fsync;
	uint64_t		 last_seq;	/* last entry appended */
	long			 reported_lag;	/* PERSIST lag last sent */
	struct durable_ops	 ops;
	void			*arg;
};

static void	durable_cb(void *, uint64_t);
static void	persist_state_cb(void *, enum persist_state, int);
static size_t	live_bytes_cb(void *);
static const char *next_record_cb(void *, size_t *, size_t *);

/* What the persistence engine tells and asks us. */
static const struct persist_ops durable_persist_ops = {
	.durable = durable_cb,
	.state_changed = persist_state_cb,
	.live_bytes = live_bytes_cb,
	.next = next_record_cb,
};

/* Persistence off, with the policy it would use. */
struct durable *
durable_new(const struct store *store, enum herd_fsync fsync,
    const struct durable_ops *ops, void *arg)
{
	struct durable *d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->store = store;
	d->fsync = fsync;
	d->state = PERSIST_OFF;
	d->ops = *ops;
	d->arg = arg;
	return d;
}

/*
 * Persistence is on when persist = yes and a data directory is given
 * (--data-dir wins over data_dir): open DIR/NAME, load it into the
 * store, and open the log.  -1 with err set on a bad directory.
 */
int
durable_open(struct durable *d, struct event_base *base,
    const struct herd_settings *herd, const char *data_dir, const char *name,
    persist_record_fn load, void *load_arg, char *err, size_t errlen)
{
	const char *top = data_dir != NULL ? data_dir : herd->data_dir;
	struct persist_load_info info;
	char dir[4096];

	if (!herd->persist || top == NULL || *top == '\0')
		return 0;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", top, name) >=
	    sizeof(dir)) {
		snprintf(err, errlen, "data directory %s/%s:"
		    " path too long (set a shorter data_dir)", top, name);
		return -1;
	}
	d->persist = persist_open(base, dir, d->fsync, &durable_persist_ops,
	    d, err, errlen);
	if (d->persist == NULL ||
	    persist_load(d->persist, load, load_arg, &info, err, errlen) == -1)
		return -1;
	d->state = PERSIST_OK;
	log_info("loaded %zu %s (%zu log %s) in %ld ms",
	    store_count(d->store), log_plural(store_count(d->store), "record",
	    "records"), info.log_entries, log_plural(info.log_entries,
	    "entry", "entries"), info.elapsed_ms);
	return 0;
}

/* The staged entries reach the disk (synced per policy), then free. */
void
durable_free(struct durable *d)
{
	if (d == NULL)
		return;
	persist_free(d->persist);
	free(d);
}

/* True when fsync = always, the log is failing, and the record would
 * change the store: it cannot be acknowledged, so it is not taken. */
int
durable_refuses(const struct durable *d, const char *client, size_t clen,
    const struct herd_time *sent, const char *line, size_t llen)
{
	const struct herd_record *old;

	if (d->persist == NULL || d->fsync != HERD_FSYNC_ALWAYS ||
	    d->state != PERSIST_FAILING)
		return 0;
	old = store_get(d->store, client, clen);
	return old == NULL || store_order(sent, line, llen, &old->sent,
	    record_line(old), old->line_len) > 0;
}

/* The merge changed the store: append the record, written this turn. */
void
durable_changed(struct durable *d, const char *line, size_t llen)
{
	uint64_t seq;

	if (d->persist == NULL)
		return;
	seq = persist_append(d->persist, line, llen);
	if (seq != 0)
		d->last_seq = seq;
	d->ops.flush_wanted(d->arg);
}

/* What a reply acknowledging the store now waits for: under fsync =
 * always the last entry appended, unless it is durable already. */
uint64_t
durable_ack_seq(struct durable *d)
{
	if (d->persist == NULL || d->fsync != HERD_FSYNC_ALWAYS ||
	    d->last_seq <= persist_durable_seq(d->persist))
		return 0;
	persist_urge(d->persist, d->last_seq);	/* sync it at once */
	return d->last_seq;
}

/* One write() of what the turn staged (failing: retried). */
void
durable_write(struct durable *d)
{
	if (d->persist != NULL)
		(void)persist_write(d->persist);
}

/* The engine's counters, or zeros when off. */
void
durable_status(struct durable *d, struct persist_status *st)
{
	memset(st, 0, sizeof(*st));
	if (d->persist != NULL)
		persist_status(d->persist, st);
}

/* "ok", "failing" or "off". */
const char *
durable_state_name(const struct durable *d)
{
	return d->state == PERSIST_OK ? "ok" :
	    d->state == PERSIST_FAILING ? "failing" : "off";
}

/* The fsync policy's name. */
const char *
durable_fsync_name(const struct durable *d)
{
	return config_fsync_name(d->fsync);
}

/* "PERSIST state fsync lag_ms" for the supervisor. */
void
durable_report_line(struct durable *d, char *line, size_t size)
{
	struct persist_status st;

	durable_status(d, &st);
	d->reported_lag = st.lag_ms;
	snprintf(line, size, "PERSIST %s %s %ld\n", durable_state_name(d),
	    durable_fsync_name(d), st.lag_ms);
}

/* True when the lag moved since the last report. */
int
durable_lag_changed(struct durable *d)
{
	struct persist_status st;

	if (d->persist == NULL)
		return 0;
	persist_status(d->persist, &st);
	return st.lag_ms != d->reported_lag;
}

/* The writer thread synced entries up to seq: release the replies that
 * waited for them. */
static void
durable_cb(void *arg, uint64_t seq)
{
	struct durable *d = arg;

	d->ops.durable(d->arg, seq);
}

/* The log started or stopped failing (the engine logged it): tell the
 * owner. */
static void
persist_state_cb(void *arg, enum persist_state state, int err)
{
	struct durable *d = arg;

	(void)err;
	d->state = state;
	d->ops.state_changed(d->arg);
}

/* The live records' size as log entries (the compaction trigger). */
static size_t
live_bytes_cb(void *arg)
{
	struct durable *d = arg;

	/* From the store's own sums: no lookup per merge. */
	return store_line_bytes(d->store) + store_count(d->store) *
	    journal_entry_size(0);
}

/* The compaction's iterator: the next record's AT line after *cursor. */
static const char *
next_record_cb(void *arg, size_t *cursor, size_t *len)
{
	struct durable *d = arg;
	const struct herd_record *r;

	if ((r = store_next(d->store, cursor)) == NULL)
		return NULL;
	*len = r->line_len;
	return record_line(r);
}
