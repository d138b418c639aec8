/*
 * persist_compact.c -- the persistence engine's compaction: rotate to a
 * new log generation, write the snapshot in chunks from the loop, hand
 * it to the writer thread for installation (fsync, rename, fsync of the
 * directory, removal of old files); and its test hooks.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "herd/journal.h"
#include "herd/log.h"
#include "herd/persist.h"
#include "persist_int.h"

#define CHUNK_RECORDS	8192		/* snapshot records per loop turn */
#define CHUNK_BYTES	(1024 * 1024)
#define COMPACT_BACKOFF_MS 60000	/* after a failed compaction */

/* Start a compaction when the log outgrew the live data (or one is due
 * after damage or dropped stages). */
void
maybe_compact(struct persist *p)
{
	uint64_t log = p->old_log_bytes + p->log_size;

	if (p->compacting || p->closing || p->ops.next == NULL ||
	    p->write_failing ||
	    now_ms() < p->compact_after_ms)
		return;
	if (!p->force_compact && (p->ops.live_bytes == NULL ||
	    log <= p->compact_min || log <= 2 * (uint64_t)p->ops.live_bytes(
	    p->arg)))
		return;
	persist_compact(p);
}

/* Rotate to a new log generation and start writing the snapshot. */
int
persist_compact(struct persist *p)
{
	unsigned char hdr[JOURNAL_HEADER_SIZE];
	char tmp[NAME_MAX_LEN];
	struct timeval now = { 0, 0 };
	int oldfd = p->logfd, busy;

	if (!p->loaded || p->compacting || p->ops.next == NULL ||
	    p->stage_len > 0)
		return -1;
	pthread_mutex_lock(&p->mu);
	busy = p->t_oldfd != -1;
	pthread_mutex_unlock(&p->mu);
	if (busy)
		return -1;
	p->force_compact = 0;
	p->new_gen = p->max_gen + 1;
	p->rotated_bytes = p->old_log_bytes + p->log_size;
	p->logfd = -1;		/* create_log() must not close it */
	if (create_log(p, p->new_gen, 0) == -1) {
		p->logfd = oldfd;
		compact_abort(p, "cannot rotate the log");
		return -1;
	}
	p->old_log_bytes = p->rotated_bytes;
	/* The thread syncs and closes the old log, then syncs the new. */
	pthread_mutex_lock(&p->mu);
	p->t_oldfd = oldfd;
	p->t_fd = p->logfd;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	p->compacting = 1;
	if (p->stop_step == 1) {
		p->frozen = 1;
		return 0;
	}
	file_name(tmp, sizeof(tmp), JOURNAL_SNAPSHOT, p->new_gen, ".tmp");
	p->tmpfd = openat(p->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600);
	journal_header_encode(hdr, JOURNAL_SNAPSHOT, p->new_gen);
	if (p->tmpfd == -1 || pwrite(p->tmpfd, hdr, sizeof(hdr), 0) !=
	    (ssize_t)sizeof(hdr)) {
		compact_abort(p, "cannot write a snapshot");
		return -1;
	}
	p->tmp_size = sizeof(hdr);
	p->cursor = 0;
	evtimer_add(p->compact_ev, &now);
	return 0;
}

/* Loop: write the next chunk of the snapshot; at the end hand it to
 * the writer thread for installation. */
void
compact_cb(evutil_socket_t fd, short what, void *arg)
{
	struct persist *p = arg;
	struct timeval now = { 0, 0 };
	const char *line;
	size_t len, n = 0, used = 0;
	int records = 0, end = 0;

	(void)fd;
	(void)what;
	if (p->chunk == NULL && (p->chunk = malloc(CHUNK_BYTES +
	    journal_entry_size(JOURNAL_ENTRY_MAX))) == NULL) {
		compact_abort(p, "out of memory");
		return;
	}
	while (records < CHUNK_RECORDS && used < CHUNK_BYTES) {
		if ((line = p->ops.next(p->arg, &p->cursor, &len)) == NULL) {
			end = 1;
			break;
		}
		if (journal_entry_encode(p->chunk + used, line, len) == -1)
			continue;
		used += journal_entry_size(len);
		records++;
	}
	while (n < used) {
		ssize_t w = pwrite(p->tmpfd, p->chunk + n, used - n,
		    (off_t)(p->tmp_size + n));

		if (w <= 0 && errno != EINTR) {
			if (w == 0)
				errno = EIO;
			compact_abort(p, "cannot write the snapshot");
			return;
		}
		if (w > 0)
			n += (size_t)w;
	}
	p->tmp_size += used;
	if (p->stop_step == 2) {
		p->frozen = 1;
		return;
	}
	if (!end) {
		evtimer_add(p->compact_ev, &now);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->t_install = 1;
	p->t_install_fd = p->tmpfd;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	p->tmpfd = -1;
}

/* Give up the running compaction (the new log stays: it is simply one
 * more generation) and try again later. */
void
compact_abort(struct persist *p, const char *what)
{
	char tmp[NAME_MAX_LEN];

	log_warn("%s: compaction: %s", p->dir, what);
	if (p->tmpfd != -1) {
		close(p->tmpfd);
		p->tmpfd = -1;
		file_name(tmp, sizeof(tmp), JOURNAL_SNAPSHOT, p->new_gen,
		    ".tmp");
		unlinkat(p->dirfd, tmp, 0);
	}
	p->compacting = 0;
	p->compact_after_ms = now_ms() + COMPACT_BACKOFF_MS;
}

/* Override the minimum log size for automatic compaction. */
void
persist_set_compact_min(struct persist *p, uint64_t bytes)
{
	p->compact_min = bytes;
}

/* Test hook: freeze compactions after step n. */
void
persist_test_compact_stop(struct persist *p, int step)
{
	p->stop_step = step;
}
