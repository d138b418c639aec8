/*
 * persist.c -- the persistence engine (see persist.h): open, loading
 * with torn-tail cuts and damaged files moved aside, staging and one
 * write() per loop turn on the loop, status and free.
 *
 * The rest of the engine: persist_writer.c (the fdatasync() thread),
 * persist_compact.c (rotate, snapshot in chunks, install), persist_dir.c
 * (the directory: checks, lock, file names); their shared state is
 * struct persist in persist_int.h.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "herd/journal.h"
#include "herd/log.h"
#include "herd/persist.h"
#include "persist_int.h"

static int	load_file(struct persist *, const struct pfile *, int,
		    persist_record_fn, void *,
		    struct persist_load_info *, char *, size_t);
static int	load_header(struct persist *, const struct pfile *,
		    const char *, const unsigned char *, size_t,
		    struct persist_load_info *, char *, size_t);
static int	stage_reserve(struct persist *, size_t);
static void	hand_over(struct persist *);

/* Milliseconds on the monotonic clock. */
int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Open dir, check and lock it, start the writer thread. */
struct persist *
persist_open(struct event_base *base, const char *dir, enum herd_fsync policy,
    const struct persist_ops *ops, void *arg, char *err, size_t errlen)
{
	struct persist *p;
	const char *env = getenv("HERD_PERSIST_COMPACT_MIN");

	if (check_dir(dir, err, errlen) == -1)
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->dir = strdup(dir)) == NULL) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->base = base;
	p->policy = policy;
	if (ops != NULL)
		p->ops = *ops;
	p->arg = arg;
	p->dirfd = p->lockfd = p->logfd = p->tmpfd = p->efd = -1;
	p->t_fd = p->t_oldfd = p->t_install_fd = -1;
	p->compact_min = env != NULL && *env != '\0' ?
	    strtoull(env, NULL, 10) : PERSIST_COMPACT_MIN;
	if (lock_dir(p, err, errlen) == -1 ||
	    start_thread(p, err, errlen) == -1) {
		persist_free(p);
		return NULL;
	}
	return p;
}

/* Recompute the state and report a change once. */
void
set_state(struct persist *p)
{
	enum persist_state s;

	s = p->write_failing || p->sync_failing ? PERSIST_FAILING :
	    PERSIST_OK;
	if (s == p->state)
		return;
	p->state = s;
	if (s == PERSIST_FAILING)
		log_warnx("%s: persistence failing: %s (records are kept in"
		    " memory and retried)", p->dir, strerror(p->last_err));
	else
		log_info("%s: persistence recovered", p->dir);
	if (p->ops.state_changed != NULL)
		p->ops.state_changed(p->arg, s, s == PERSIST_FAILING ?
		    p->last_err : 0);
}

/* Load the snapshot and logs (see persist.h). */
int
persist_load(struct persist *p, persist_record_fn record, void *arg, struct persist_load_info *info, char *err, size_t errlen)
{
	struct pfile *files = NULL;
	int64_t t0 = now_ms();
	size_t n, i, first = 0;
	int r = 0, last_log_ok = 0;

	memset(info, 0, sizeof(*info));
	if (p->loaded) {
		snprintf(err, errlen, "%s: loaded already", p->dir);
		return -1;
	}
	if (scan_dir(p, &files, &n, err, errlen) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (files[i].gen > p->max_gen)
			p->max_gen = files[i].gen;
		if (files[i].kind == JOURNAL_SNAPSHOT)
			first = i;	/* the newest snapshot */
	}
	/* Logs before the newest snapshot are what it replaced. */
	if (n > 0 && files[first].kind == JOURNAL_SNAPSHOT)
		remove_old(p->dirfd, files[first].gen);
	for (i = first; i < n && r == 0; i++) {
		r = load_file(p, &files[i], i == n - 1, record, arg, info, err,
		    errlen);
		last_log_ok = r == 1;
		if (r == 1)
			r = 0;
	}
	free(files);
	if (r == -1)
		return -1;
	if (!last_log_ok && create_log(p, p->max_gen + 1, 1) == -1) {
		snprintf(err, errlen, "%s: cannot create a log: %s", p->dir,
		    strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&p->mu);
	p->t_fd = p->logfd;
	pthread_mutex_unlock(&p->mu);
	p->loaded = 1;
	info->elapsed_ms = (long)(now_ms() - t0);
	return 0;
}

/*
 * Check the header of file f (name, size bytes at map): 1 to read its
 * entries; 0 when it holds nothing (a torn header, removed) or was
 * moved aside as damaged; -1 (err) for a foreign or newer file.
 */
static int
load_header(struct persist *p, const struct pfile *f, const char *name,
    const unsigned char *map, size_t size, struct persist_load_info *info,
    char *err, size_t errlen)
{
	struct journal_header h;
	enum journal_hdr_result hr;
	char why[160];

	hr = journal_header_parse(map, size, &h, why, sizeof(why));
	if (hr == JOURNAL_HDR_OK && (h.kind != f->kind ||
	    h.generation != f->gen)) {
		hr = JOURNAL_HDR_CORRUPT;
		snprintf(why, sizeof(why), "header does not match the name");
	}
	if (hr == JOURNAL_HDR_OK)
		return 1;
	if (hr == JOURNAL_HDR_FOREIGN || hr == JOURNAL_HDR_VERSION) {
		snprintf(err, errlen, "%s/%s: %s: move it out of the data"
		    " directory or run a herd that reads it", p->dir, name, why);
		return -1;
	}
	/* A torn header (crash right after creation) is too short to hold
	 * any entry: nothing to keep. */
	if (hr == JOURNAL_HDR_SHORT && f->kind == JOURNAL_LOG &&
	    size < JOURNAL_HEADER_SIZE * 2) {
		log_warnx("%s/%s: %s: removed (it holds no entry)", p->dir,
		    name, why);
		unlinkat(p->dirfd, name, 0);
		return 0;
	}
	log_warnx("%s/%s: %s", p->dir, name, why);
	move_aside(p, name);
	info->damaged++;
	p->force_compact = 1;
	return 0;
}

/*
 * Read one file, handing its intact entries to record(); cut a torn log
 * tail, move a damaged file aside.  Returns 1 when it is the live log
 * (last, intact enough to append to: p->logfd is set), 0 when done with
 * it, -1 on a fatal error.
 */
static int
load_file(struct persist *p, const struct pfile *f, int last,
    persist_record_fn record, void *arg, struct persist_load_info *info,
    char *err, size_t errlen)
{
	char name[NAME_MAX_LEN];
	struct journal_reader rd;
	struct journal_end end;
	struct proto_at at;
	unsigned char *map = NULL;
	const char *line;
	size_t len, before;
	struct stat st;
	int fd, bad, r = 0;

	file_name(name, sizeof(name), f->kind, f->gen, "");
	if ((fd = openat(p->dirfd, name, O_RDWR | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s/%s: %s", p->dir, name,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (st.st_size > 0 && (map = mmap(NULL, (size_t)st.st_size,
	    PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
		snprintf(err, errlen, "%s/%s: %s", p->dir, name,
		    strerror(errno));
		close(fd);
		return -1;
	}
	if (map != NULL)
		madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	info->files++;
	if ((r = load_header(p, f, name, map, (size_t)st.st_size, info, err,
	    errlen)) != 1)
		goto done;
	r = 0;
	journal_reader_init(&rd, map, (size_t)st.st_size);
	before = info->records;
	while (journal_next(&rd, &line, &len, &at)) {
		if (record(arg, line, len, &at) != 0) {
			snprintf(err, errlen, "%s/%s: the store refused a"
			    " record", p->dir, name);
			r = -1;
			goto done;
		}
		info->records++;
	}
	if (f->kind == JOURNAL_SNAPSHOT)
		info->snapshot_entries += info->records - before;
	else
		info->log_entries += info->records - before;
	journal_reader_end(&rd, &end);
	bad = end.kind == JOURNAL_DAMAGED ||
	    (end.kind == JOURNAL_TORN && f->kind == JOURNAL_SNAPSHOT);
	if (bad) {
		move_aside(p, name);
		info->damaged++;
		p->force_compact = 1;
		goto done;
	}
	if (end.kind == JOURNAL_TORN) {
		log_warnx("%s/%s: torn tail cut at offset %zu: %zu %s"
		    " (%zu bytes) dropped", p->dir, name, end.cut,
		    end.entries_dropped, log_plural(end.entries_dropped,
		    "entry", "entries"), end.bytes_dropped);
		info->cut_entries += end.entries_dropped;
		info->cut_bytes += end.bytes_dropped;
		if (ftruncate(fd, (off_t)end.cut) == -1) {
			snprintf(err, errlen, "%s/%s: cannot cut the torn tail:"
			    " %s", p->dir, name, strerror(errno));
			r = -1;
			goto done;
		}
	}
	if (f->kind == JOURNAL_SNAPSHOT)
		p->snapshot_bytes = end.cut;
	else if (!last)
		p->old_log_bytes += end.cut;
	else {
		p->logfd = fd;
		p->log_gen = f->gen;
		p->log_size = end.cut;
		fd = -1;
		r = 1;
	}
done:
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
	if (fd != -1)
		close(fd);
	return r;
}

/* Create log generation gen with its header as the live log; at load
 * (sync) the header and the directory entry are synced at once, at a
 * rotation the writer thread's next sync covers them. */
int
create_log(struct persist *p, uint64_t gen, int sync)
{
	unsigned char hdr[JOURNAL_HEADER_SIZE];
	char name[NAME_MAX_LEN];
	int fd;

	file_name(name, sizeof(name), JOURNAL_LOG, gen, "");
	fd = openat(p->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return -1;
	journal_header_encode(hdr, JOURNAL_LOG, gen);
	if (pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    (sync && (fdatasync(fd) == -1 || fsync(p->dirfd) == -1))) {
		if (errno == 0)
			errno = EIO;
		close(fd);
		unlinkat(p->dirfd, name, 0);
		return -1;
	}
	if (p->logfd != -1)
		close(p->logfd);
	p->logfd = fd;
	p->log_gen = gen;
	p->log_size = sizeof(hdr);
	if (gen > p->max_gen)
		p->max_gen = gen;
	return 0;
}

/* Grow the stage to hold n more bytes. */
static int
stage_reserve(struct persist *p, size_t n)
{
	size_t cap = p->stage_cap ? p->stage_cap : 65536;
	unsigned char *s;

	if (p->stage_len + n <= p->stage_cap)
		return 0;
	while (cap < p->stage_len + n)
		cap *= 2;
	if ((s = realloc(p->stage, cap)) == NULL)
		return -1;
	p->stage = s;
	p->stage_cap = cap;
	return 0;
}

/* Stage one entry; its sequence number, or 0 (see persist.h). */
uint64_t
persist_append(struct persist *p, const char *line, size_t len)
{
	size_t n = journal_entry_size(len);

	if (!p->loaded || len == 0 || len > JOURNAL_ENTRY_MAX)
		return 0;
	if (p->stage_len + n > PERSIST_STAGE_MAX || stage_reserve(p, n) == -1) {
		/* The store still has it: a snapshot will, once writes
		 * work again. */
		p->force_compact = 1;
		return 0;
	}
	journal_entry_encode(p->stage + p->stage_len, line, len);
	p->stage_len += n;
	return ++p->appended_seq;
}

/* A reply waits for seq (see persist.h). */
void
persist_urge(struct persist *p, uint64_t seq)
{
	if (seq > p->urge_seq)
		p->urge_seq = seq;
}

/*
 * Tell the thread what is written and what replies wait for.  Wake it
 * only when it must sync now (a reply waits, under always) or sleeps
 * without a deadline (nothing was pending): a thread with work pending
 * already wakes at its due time, and a futex wake per loop turn costs
 * more than the write.
 */
static void
hand_over(struct persist *p)
{
	pthread_mutex_lock(&p->mu);
	if ((p->policy == HERD_FSYNC_ALWAYS && p->urge_seq > p->t_urge) ||
	    (p->policy != HERD_FSYNC_NO && p->t_want == p->t_synced &&
	    p->written_seq > p->t_want))
		pthread_cond_signal(&p->cv);
	p->t_want = p->written_seq;
	p->t_urge = p->urge_sent = p->urge_seq;
	pthread_mutex_unlock(&p->mu);
}

/* One write() of the staged batch (see persist.h). */
int
persist_write(struct persist *p)
{
	ssize_t w;

	if (!p->loaded)
		return 0;
	while (p->stage_off < p->stage_len) {
		w = pwrite(p->logfd, p->stage + p->stage_off,
		    p->stage_len - p->stage_off, (off_t)p->log_size);
		if (w <= 0) {
			p->last_err = w == 0 ? EIO : errno;
			if (p->last_err == EINTR)
				continue;
			p->write_errors++;
			p->write_failing = 1;
			set_state(p);
			if (!evtimer_pending(p->retry_ev, NULL)) {
				struct timeval tv = { PERSIST_RETRY_MS / 1000,
				    (PERSIST_RETRY_MS % 1000) * 1000 };

				evtimer_add(p->retry_ev, &tv);
			}
			return -1;
		}
		p->stage_off += (size_t)w;
		p->log_size += (uint64_t)w;
	}
	if (p->stage_len > 0) {
		p->stage_len = p->stage_off = 0;
		p->written_seq = p->appended_seq;
		if (p->pending_since_ms == 0 && p->policy != HERD_FSYNC_NO)
			p->pending_since_ms = now_ms();
		hand_over(p);
	} else if (p->urge_seq > p->urge_sent)
		hand_over(p);
	if (p->write_failing) {
		p->write_failing = 0;
		set_state(p);
	}
	maybe_compact(p);
	return 0;
}

/* Loop: retry a failed write. */
void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	persist_write(arg);
}

/* Last sequence number handed to the kernel. */
uint64_t
persist_written_seq(const struct persist *p)
{
	return p->written_seq;
}

/* Last sequence number fdatasync'ed. */
uint64_t
persist_durable_seq(const struct persist *p)
{
	return p->durable_seq;
}

/* Counters for herdctl status and metrics. */
void
persist_status(struct persist *p, struct persist_status *st)
{
	memset(st, 0, sizeof(*st));
	st->state = p->state;
	st->fsync = config_fsync_name(p->policy);
	st->lag_ms = p->pending_since_ms == 0 ? 0 :
	    (long)(now_ms() - p->pending_since_ms);
	st->log_bytes = p->old_log_bytes + p->log_size;
	st->live_bytes = p->ops.live_bytes != NULL ?
	    p->ops.live_bytes(p->arg) : 0;
	st->snapshot_bytes = p->snapshot_bytes;
	st->written_seq = p->written_seq;
	st->durable_seq = p->durable_seq;
	st->write_errors = p->write_errors;
	st->compactions = p->compactions;
	st->compacting = p->compacting;
	st->frozen = p->frozen;
	pthread_mutex_lock(&p->mu);
	st->syncs = p->t_syncs;
	st->fsync_hist = p->t_sync_hist;
	pthread_mutex_unlock(&p->mu);
}

/* Write what is staged, last sync per policy, join, free. */
void
persist_free(struct persist *p)
{
	if (p == NULL)
		return;
	p->closing = 1;
	if (p->loaded)
		persist_write(p);
	if (p->thread_started) {
		pthread_mutex_lock(&p->mu);
		p->t_quit = 1;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
	}
	if (p->t_install_fd != -1)
		close(p->t_install_fd);
	if (p->t_oldfd != -1)
		close(p->t_oldfd);
	if (p->tmpfd != -1)
		close(p->tmpfd);
	if (p->logfd != -1)
		close(p->logfd);
	if (p->notify_ev != NULL)
		event_free(p->notify_ev);
	if (p->retry_ev != NULL)
		event_free(p->retry_ev);
	if (p->compact_ev != NULL)
		event_free(p->compact_ev);
	if (p->efd != -1)
		close(p->efd);
	if (p->lockfd != -1)
		close(p->lockfd);
	if (p->dirfd != -1)
		close(p->dirfd);
	free(p->stage);
	free(p->chunk);
	free(p->dir);
	free(p);
}
