/*
 * persist_writer.c -- the persistence engine's writer thread: it
 * fdatasync()s the log per policy, closes retired logs and installs
 * finished snapshots, and wakes the loop through an eventfd (notify_cb).
 *
 * The thread shares only the fields of struct persist marked (mu); it
 * never logs and never touches libevent.
 */
#include <sys/types.h>
#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "herd/journal.h"
#include "herd/persist.h"
#include "persist_int.h"

static void	*writer_main(void *);
static int	writer_has_work(struct persist *, int64_t *);
static void	writer_sync(struct persist *);
static void	writer_install(struct persist *);
static void	writer_wake_loop(struct persist *);
static void	notify_cb(evutil_socket_t, short, void *);

/* The eventfd, the loop's events and the writer thread. */
int
start_thread(struct persist *p, char *err, size_t errlen)
{
	pthread_condattr_t ca;

	if ((p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (p->notify_ev = event_new(p->base, p->efd, EV_READ | EV_PERSIST,
	    notify_cb, p)) == NULL ||
	    (p->retry_ev = evtimer_new(p->base, retry_cb, p)) == NULL ||
	    (p->compact_ev = evtimer_new(p->base, compact_cb, p)) == NULL ||
	    event_add(p->notify_ev, NULL) == -1) {
		snprintf(err, errlen, "persistence: cannot set up events: %s",
		    strerror(errno));
		return -1;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	p->t_last_sync_ms = now_ms();
	if ((errno = pthread_create(&p->thread, NULL, writer_main, p)) != 0) {
		snprintf(err, errlen, "persistence: cannot start the writer"
		    " thread: %s", strerror(errno));
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		return -1;
	}
	p->thread_started = 1;
	return 0;
}

/* Writer thread: sync the log per policy, close retired logs, install
 * snapshots, until told to quit (after a last sync, per policy). */
static void *
writer_main(void *v)
{
	struct persist *p = v;
	struct timespec ts;
	int64_t wake;
	int w;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		w = writer_has_work(p, &wake);
		if (w) {
			if (p->t_install)
				writer_install(p);
			else
				writer_sync(p);
			continue;
		}
		if (p->t_quit)
			break;
		if (wake > 0) {
			ts.tv_sec = wake / 1000;
			ts.tv_nsec = (wake % 1000) * 1000000;
			pthread_cond_timedwait(&p->cv, &p->mu, &ts);
		} else
			pthread_cond_wait(&p->cv, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* (mu held) True when a job is due now; else *wake is when one will be
 * (monotonic ms), or 0 for "when signalled". */
static int
writer_has_work(struct persist *p, int64_t *wake)
{
	/* always syncs at once only for what a reply waits for. */
	int64_t due = p->t_last_sync_ms + (p->t_err != 0 ||
	    p->policy == HERD_FSYNC_EVERYSEC || (p->policy ==
	    HERD_FSYNC_ALWAYS && p->t_urge <= p->t_synced) ?
	    PERSIST_RETRY_MS : 0);
	int pending = p->t_want > p->t_synced || p->t_oldfd != -1;

	*wake = 0;
	if (p->t_install)
		return 1;
	if (!pending || (p->policy == HERD_FSYNC_NO && p->t_oldfd == -1))
		return 0;
	if (p->policy == HERD_FSYNC_NO || p->t_quit || now_ms() >= due)
		return 1;
	*wake = due;
	return 0;
}

/* (mu held, dropped meanwhile) fdatasync a retired log and the live
 * one, then publish the sequence number they cover. */
static void
writer_sync(struct persist *p)
{
	int fd = p->t_fd, oldfd = p->t_oldfd, r = 0, e = 0;
	uint64_t target = p->t_want;
	void (*hook)(void *, uint64_t) = p->t_hook;
	void *hook_arg = p->t_hook_arg;
	struct timespec t0, t1;

	p->t_oldfd = -1;
	p->t_sync_start_ms = now_ms();
	pthread_mutex_unlock(&p->mu);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (oldfd != -1) {
		if (p->policy != HERD_FSYNC_NO && fdatasync(oldfd) == -1) {
			r = -1;
			e = errno;
		}
		close(oldfd);
	}
	if (p->policy != HERD_FSYNC_NO && fd != -1 && fdatasync(fd) == -1 &&
	    r == 0) {
		r = -1;
		e = errno;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r == 0 && p->policy != HERD_FSYNC_NO && hook != NULL)
		hook(hook_arg, target);
	pthread_mutex_lock(&p->mu);
	p->t_last_sync_ms = now_ms();
	p->t_err = e;
	if (p->policy != HERD_FSYNC_NO) {
		p->t_syncs++;
		metrics_hist_observe(&p->t_sync_hist, (double)(t1.tv_sec -
		    t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	if (r == 0 && p->policy != HERD_FSYNC_NO && target > p->t_synced)
		p->t_synced = target;
	writer_wake_loop(p);
}

/* (mu held, dropped meanwhile) Install the finished snapshot: fsync the
 * temporary file, rename it into place, fsync the directory, remove the
 * files it replaces.  The test hook may freeze it after steps 3 or 4. */
static void
writer_install(struct persist *p)
{
	char tmp[NAME_MAX_LEN], fin[NAME_MAX_LEN];
	int fd = p->t_install_fd, stop = p->stop_step, e = 0;
	uint64_t gen = p->new_gen;

	pthread_mutex_unlock(&p->mu);
	file_name(tmp, sizeof(tmp), JOURNAL_SNAPSHOT, gen, ".tmp");
	file_name(fin, sizeof(fin), JOURNAL_SNAPSHOT, gen, "");
	if (fsync(fd) == -1)
		e = errno;
	close(fd);
	if (e == 0 && stop != 3) {
		if (renameat(p->dirfd, tmp, p->dirfd, fin) == -1 ||
		    fsync(p->dirfd) == -1)
			e = errno;
		else if (stop != 4)
			remove_old(p->dirfd, gen);
	}
	pthread_mutex_lock(&p->mu);
	p->t_install = 0;
	p->t_install_fd = -1;
	p->t_install_err = e;
	p->t_install_done = e != 0 ? -1 : (stop == 3 || stop == 4) ? 2 : 1;
	writer_wake_loop(p);
}

/* (any thread) Wake the loop's notify_cb. */
static void
writer_wake_loop(struct persist *p)
{
	uint64_t one = 1;

	if (write(p->efd, &one, sizeof(one)) == -1) {
		/* EAGAIN: the counter is already set; the loop will look. */
	}
}

/* Loop: the thread finished a sync or an installation. */
static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct persist *p = arg;
	uint64_t v, synced;
	int64_t started;
	int done, ierr;

	(void)what;
	if (read(fd, &v, sizeof(v)) == -1) {
		/* EAGAIN: spurious wake-up. */
	}
	pthread_mutex_lock(&p->mu);
	synced = p->t_synced;
	started = p->t_sync_start_ms;
	p->sync_failing = p->t_err != 0;
	if (p->t_err != 0)
		p->last_err = p->t_err;
	done = p->t_install_done;
	ierr = p->t_install_err;
	p->t_install_done = 0;
	pthread_mutex_unlock(&p->mu);
	set_state(p);
	if (synced > p->durable_seq) {
		p->durable_seq = synced;
		p->pending_since_ms = synced >= p->written_seq ? 0 : started;
		if (p->ops.durable != NULL && p->policy != HERD_FSYNC_NO)
			p->ops.durable(p->arg, synced);
	}
	if (done == 1) {
		p->compacting = 0;
		p->compactions++;
		p->old_log_bytes -= p->rotated_bytes;
		p->snapshot_bytes = p->tmp_size;
	} else if (done == 2)
		p->frozen = 1;
	else if (done == -1) {
		errno = ierr;
		compact_abort(p, "cannot install the snapshot");
	}
}

/* Test hook: observe every successful fdatasync on the writer thread. */
void
persist_test_sync_hook(struct persist *p, void (*fn)(void *, uint64_t),
    void *arg)
{
	pthread_mutex_lock(&p->mu);
	p->t_hook = fn;
	p->t_hook_arg = arg;
	pthread_mutex_unlock(&p->mu);
}
