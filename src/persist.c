/*
 * persist.c -- the persistence engine (see persist.h): staging and one
 * write() per loop turn on the loop, fdatasync() on a writer thread,
 * loading with torn-tail cuts and damaged files moved aside, and
 * compaction (rotate, snapshot in chunks from the loop, install on the
 * thread: fsync, rename, fsync of the directory, removal of old files).
 *
 * Threads: the loop owns everything but the fields marked (mu), which
 * the writer thread shares; the thread never logs and never touches
 * libevent, it wakes the loop through an eventfd.  Files are named by
 * generation so that a kill -9 at any step leaves a loadable directory:
 * the newest complete snapshot plus every log at or after it.
 */
#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#define NAME_MAX_LEN	64
#define CHUNK_RECORDS	8192		/* snapshot records per loop turn */
#define CHUNK_BYTES	(1024 * 1024)
#define COMPACT_BACKOFF_MS 60000	/* after a failed compaction */

/* A file of the directory, by kind and generation. */
struct pfile {
	enum journal_kind	 kind;
	uint64_t		 gen;
};

struct persist {
	struct event_base	*base;
	char			*dir;
	int			 dirfd;
	int			 lockfd;
	enum herd_fsync		 policy;
	struct persist_ops	 ops;
	void			*arg;
	struct event		*notify_ev;	/* eventfd from the thread */
	struct event		*retry_ev;	/* failed write retry */
	struct event		*compact_ev;	/* next snapshot chunk */

	int			 loaded;
	int			 closing;	/* in persist_free() */
	int			 logfd;		/* live log */
	uint64_t		 log_gen;
	uint64_t		 log_size;	/* bytes of the live log */
	uint64_t		 old_log_bytes;	/* older logs since snapshot */
	uint64_t		 snapshot_bytes;
	uint64_t		 max_gen;	/* highest generation seen */

	unsigned char		*stage;
	size_t			 stage_len, stage_cap;
	size_t			 stage_off;	/* already written */
	uint64_t		 appended_seq, written_seq, durable_seq;
	int			 write_failing, sync_failing, last_err;
	enum persist_state	 state;
	uint64_t		 write_errors, compactions;
	int64_t			 pending_since_ms;

	uint64_t		 compact_min;
	int			 force_compact;
	int64_t			 compact_after_ms;
	int			 compacting;
	int			 stop_step, frozen;
	int			 tmpfd;
	uint64_t		 new_gen;
	size_t			 cursor;
	uint64_t		 tmp_size;
	uint64_t		 rotated_bytes;	/* old_log_bytes at rotation */
	unsigned char		*chunk;

	pthread_t		 thread;
	int			 thread_started;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	int			 efd;
	int			 t_fd;		/* (mu) log to sync */
	int			 t_oldfd;	/* (mu) retired log: sync, close */
	uint64_t		 t_want;	/* (mu) written seq */
	uint64_t		 t_synced;	/* (mu) synced seq */
	int64_t			 t_sync_start_ms; /* (mu) last sync began */
	int64_t			 t_last_sync_ms;  /* (mu) */
	int			 t_err;		/* (mu) last sync errno, 0 ok */
	uint64_t		 t_syncs;	/* (mu) */
	int			 t_quit;	/* (mu) */
	int			 t_install;	/* (mu) job: install tmpfd */
	int			 t_install_fd;	/* (mu) */
	int			 t_install_done; /* (mu) 1 done, -1 failed */
	int			 t_install_err;	/* (mu) */
	void			(*t_hook)(void *, uint64_t);
	void			*t_hook_arg;
};

static int64_t	now_ms(void);
static int	mkdirs(const char *);
static int	check_dir(const char *, char *, size_t);
static int	lock_dir(struct persist *, char *, size_t);
static int	start_thread(struct persist *, char *, size_t);
static void	*writer_main(void *);
static int	writer_has_work(struct persist *, int64_t *);
static void	writer_sync(struct persist *);
static void	writer_install(struct persist *);
static void	writer_wake_loop(struct persist *);
static void	notify_cb(evutil_socket_t, short, void *);
static void	retry_cb(evutil_socket_t, short, void *);
static void	compact_cb(evutil_socket_t, short, void *);
static void	set_state(struct persist *);
static int	parse_name(const char *, struct pfile *);
static void	file_name(char *, size_t, enum journal_kind, uint64_t,
		    const char *);
static int	scan_dir(struct persist *, struct pfile **, size_t *,
		    char *, size_t);
static int	cmp_pfile(const void *, const void *);
static void	move_aside(struct persist *, const char *);
static int	load_file(struct persist *, const struct pfile *, int,
		    persist_record_fn, void *,
		    struct persist_load_info *, char *, size_t);
static int	load_header(struct persist *, const struct pfile *,
		    const char *, const unsigned char *, size_t,
		    struct persist_load_info *, char *, size_t);
static int	create_log(struct persist *, uint64_t, int);
static void	remove_old(int, uint64_t);
static void	maybe_compact(struct persist *);
static void	compact_abort(struct persist *, const char *);
static int	stage_reserve(struct persist *, size_t);

/* Milliseconds on the monotonic clock. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* mkdir -p path with mode 0700 for every directory created. */
static int
mkdirs(const char *path)
{
	char buf[4096];
	size_t i, len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) == -1 && errno != EEXIST)
			return -1;
		buf[i] = i == len ? '\0' : '/';
	}
	return 0;
}

/* Refuse a path that is not a directory of ours we can write. */
static int
check_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdirs(dir) == -1 && errno != ENOTDIR) {
		snprintf(err, errlen, "data directory %s: cannot create it: %s",
		    dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1) {
		snprintf(err, errlen, "data directory %s: %s (set data_dir"
		    " to a directory this user can create)", dir,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "data directory %s is not a directory"
		    " (move it away or set another data_dir)", dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "data directory %s is owned by uid %u,"
		    " not by this user (uid %u): chown it or set another"
		    " data_dir", dir, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (access(dir, W_OK | X_OK) == -1) {
		snprintf(err, errlen, "data directory %s is not writable: %s"
		    " (chmod u+rwx it)", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Open the directory and take its lock (two processes never share). */
static int
lock_dir(struct persist *p, char *err, size_t errlen)
{
	if ((p->dirfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
	    == -1) {
		snprintf(err, errlen, "data directory %s: %s", p->dir,
		    strerror(errno));
		return -1;
	}
	p->lockfd = openat(p->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC,
	    0600);
	if (p->lockfd == -1) {
		snprintf(err, errlen, "%s/LOCK: %s", p->dir, strerror(errno));
		return -1;
	}
	if (flock(p->lockfd, LOCK_EX | LOCK_NB) == -1) {
		snprintf(err, errlen, "data directory %s is in use by another"
		    " process (%s/LOCK is locked): stop it or give this server"
		    " another data_dir", p->dir, p->dir);
		return -1;
	}
	return 0;
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

/* The eventfd, the loop's events and the writer thread. */
static int
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
	int64_t due = p->t_last_sync_ms + (p->t_err != 0 ||
	    p->policy == HERD_FSYNC_EVERYSEC ? PERSIST_RETRY_MS : 0);
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

	p->t_oldfd = -1;
	p->t_sync_start_ms = now_ms();
	pthread_mutex_unlock(&p->mu);
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
	if (r == 0 && p->policy != HERD_FSYNC_NO && hook != NULL)
		hook(hook_arg, target);
	pthread_mutex_lock(&p->mu);
	p->t_last_sync_ms = now_ms();
	p->t_err = e;
	if (p->policy != HERD_FSYNC_NO)
		p->t_syncs++;
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

/* Recompute the state and report a change once. */
static void
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

/* "log-GGGGGGGGGGGGGGGG" or "snapshot-..." plus suffix. */
static void
file_name(char *out, size_t size, enum journal_kind kind, uint64_t gen,
    const char *suffix)
{
	snprintf(out, size, "%s-%016" PRIx64 "%s", kind == JOURNAL_LOG ?
	    "log" : "snapshot", gen, suffix);
}

/* Parse a file name of ours (exactly 16 lower-case hex digits). */
static int
parse_name(const char *name, struct pfile *f)
{
	const char *h;
	size_t i;

	if (strncmp(name, "log-", 4) == 0) {
		f->kind = JOURNAL_LOG;
		h = name + 4;
	} else if (strncmp(name, "snapshot-", 9) == 0) {
		f->kind = JOURNAL_SNAPSHOT;
		h = name + 9;
	} else
		return -1;
	if (strlen(h) != 16)
		return -1;
	for (i = 0; i < 16; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' &&
		    h[i] <= 'f')))
			return -1;
	f->gen = strtoull(h, NULL, 16);
	return 0;
}

/* Order: by generation, the snapshot before the log of its generation. */
static int
cmp_pfile(const void *a, const void *b)
{
	const struct pfile *x = a, *y = b;

	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	return x->kind == y->kind ? 0 : x->kind == JOURNAL_SNAPSHOT ? -1 : 1;
}

/* List our files, sorted; leftover temporary snapshots are removed (a
 * complete log always holds what they held). */
static int
scan_dir(struct persist *p, struct pfile **out, size_t *n, char *err,
    size_t errlen)
{
	struct pfile f, *v = NULL, *nv;
	struct dirent *de;
	size_t len;
	DIR *d;
	int fd;

	*n = 0;
	if ((fd = dup(p->dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		snprintf(err, errlen, "%s: %s", p->dir, strerror(errno));
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (strncmp(de->d_name, "snapshot-", 9) == 0 && len == 29 &&
		    strcmp(de->d_name + 25, ".tmp") == 0) {
			unlinkat(p->dirfd, de->d_name, 0);
			continue;
		}
		if (parse_name(de->d_name, &f) == -1)
			continue;
		if ((nv = realloc(v, (*n + 1) * sizeof(*v))) == NULL) {
			free(v);
			closedir(d);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		v = nv;
		v[(*n)++] = f;
	}
	closedir(d);
	if (*n > 0)
		qsort(v, *n, sizeof(*v), cmp_pfile);
	*out = v;
	return 0;
}

/* Rename a damaged file NAME.damaged-TIMESTAMP (never delete data). */
static void
move_aside(struct persist *p, const char *name)
{
	char to[NAME_MAX_LEN + 40], ts[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(to, sizeof(to), "%s.damaged-%s", name, ts);
	if (renameat(p->dirfd, name, p->dirfd, to) == -1)
		log_warn("%s/%s: cannot move the damaged file aside", p->dir,
		    name);
	else
		log_warnx("%s/%s: DAMAGED in the middle: moved aside to %s;"
		    " the records before the damage were loaded, neighbours"
		    " will resend the rest", p->dir, name, to);
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
		log_warnx("%s/%s: torn tail cut at offset %zu: %zu entries"
		    " (%zu bytes) dropped", p->dir, name, end.cut,
		    end.entries_dropped, end.bytes_dropped);
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
static int
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

/* (any thread) Remove logs and snapshots older than generation gen. */
static void
remove_old(int dirfd, uint64_t gen)
{
	struct dirent *de;
	struct pfile f;
	DIR *d;
	int fd;

	if ((fd = dup(dirfd)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (parse_name(de->d_name, &f) == 0 && f.gen < gen)
			unlinkat(dirfd, de->d_name, 0);
	closedir(d);
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
		pthread_mutex_lock(&p->mu);
		p->t_want = p->written_seq;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	if (p->write_failing) {
		p->write_failing = 0;
		set_state(p);
	}
	maybe_compact(p);
	return 0;
}

/* Loop: retry a failed write. */
static void
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
	pthread_mutex_unlock(&p->mu);
}

/* Start a compaction when the log outgrew the live data (or one is due
 * after damage or dropped stages). */
static void
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
static void
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
static void
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
