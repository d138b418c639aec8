/*
 * test_persist.c -- unit tests for the persistence engine
 * (src/persist.c) with real files in a temporary directory and a real
 * libevent loop: round trips, torn tails cut at every offset, damage in
 * the middle moved aside, refused directories, write errors (a file size
 * limit makes write() fail with EFBIG) with retry and recovery, the
 * always policy's durable-after-sync order, compaction with reload
 * equality and a stop at every step of it, and a 1,000,000-record load.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "herd/journal.h"
#include "herd/persist.h"
#include "herd/proto.h"
#include "herd/store.h"

/* One test's world: a directory, a loop, a store fed by the loader. */
struct world {
	char			 dir[256];
	struct event_base	*base;
	struct store		*store;
	struct persist		*p;
	int			 states;	/* state_changed calls */
	enum persist_state	 last_state;
	int			 last_err;
	uint64_t		 durable;	/* last durable(seq) */
	int			 durable_early;	/* durable before its sync */
};

static _Atomic uint64_t	synced_by_hook;
static struct rlimit	saved_fsize;	/* restored even if a test fails */

static int	rm_one(const char *, const struct stat *, int, struct FTW *);
static int	restore_fsize(void **);
static void	world_init(struct world *);
static void	world_done(struct world *);
static void	reopen(struct world *, enum herd_fsync);
static void	close_p(struct world *);
static int	on_record(void *, const char *, size_t,
		    const struct proto_at *);
static int	on_line(void *, const char *, size_t);
static void	on_durable(void *, uint64_t);
static void	on_state(void *, enum persist_state, int);
static size_t	on_live(void *);
static const char *on_next(void *, size_t *, size_t *);
static size_t	make_line(char *, size_t, int, int);
static void	put(struct world *, int, int);
static void	run_for(struct world *, int);
static char	*log_path(struct world *, char *, size_t);
static int	count_files(struct world *, const char *);

static const struct persist_ops ops = {
	on_durable, on_state, on_live, on_next,
};

/* nftw callback: remove one entry. */
static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* A fresh temporary directory ("data" inside it is the data dir). */
static void
world_init(struct world *w)
{
	const char *t = getenv("TMPDIR");
	char tmpl[200];

	memset(w, 0, sizeof(*w));
	snprintf(tmpl, sizeof(tmpl), "%s/herd-persist-XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	assert_non_null(mkdtemp(tmpl));
	snprintf(w->dir, sizeof(w->dir), "%s/data/Hill", tmpl);
	assert_non_null(w->base = event_base_new());
	assert_non_null(w->store = store_new(1, 2));
}

/* Free everything and remove the directory tree. */
static void
world_done(struct world *w)
{
	char top[256];

	close_p(w);
	store_free(w->store);
	event_base_free(w->base);
	snprintf(top, sizeof(top), "%s", w->dir);
	*strstr(top, "/data/Hill") = '\0';
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Open and load the directory into a fresh store. */
static void
reopen(struct world *w, enum herd_fsync policy)
{
	struct persist_load_info info;
	char err[512];

	close_p(w);
	store_free(w->store);
	assert_non_null(w->store = store_new(1, 2));
	w->p = persist_open(w->base, w->dir, policy, &ops, w, err,
	    sizeof(err));
	if (w->p == NULL)
		fail_msg("persist_open: %s", err);
	if (persist_load(w->p, on_record, w, &info, err, sizeof(err)) == -1)
		fail_msg("persist_load: %s", err);
}

/* persist_free() if open. */
static void
close_p(struct world *w)
{
	persist_free(w->p);
	w->p = NULL;
}

/* Loader callback: merge a parsed AT line into the store. */
static int
on_record(void *arg, const char *line, size_t len, const struct proto_at *at)
{
	struct world *w = arg;
	const struct herd_record *r;

	return store_merge(w->store, at->client.p, at->client.len, &at->sent,
	    line, len, &r) == STORE_NOMEM ? -1 : 0;
}

/* on_record() for a line the test made. */
static int
on_line(void *arg, const char *line, size_t len)
{
	struct proto_at at;

	if (proto_parse_at(line, len, &at) == -1)
		return -1;
	return on_record(arg, line, len, &at);
}

/* durable(seq): must come after the hook saw a sync covering seq. */
static void
on_durable(void *arg, uint64_t seq)
{
	struct world *w = arg;

	if (seq > atomic_load(&synced_by_hook))
		w->durable_early = 1;
	w->durable = seq;
}

/* Count state changes. */
static void
on_state(void *arg, enum persist_state s, int err)
{
	struct world *w = arg;

	w->states++;
	w->last_state = s;
	w->last_err = err;
}

/* Live bytes: the store's records as snapshot entries (estimated). */
static size_t
on_live(void *arg)
{
	struct world *w = arg;

	return store_count(w->store) * 80;
}

/* Compaction iterator over the store. */
static const char *
on_next(void *arg, size_t *cursor, size_t *len)
{
	struct world *w = arg;
	const struct herd_record *r = store_next(w->store, cursor);

	if (r == NULL)
		return NULL;
	*len = r->line_len;
	return record_line(r);
}

/* The AT line of client i, version v. */
static size_t
make_line(char *out, size_t size, int i, int v)
{
	return (size_t)snprintf(out, size, "AT Hill +0.%09d client-%d"
	    " +34.068930-118.445127 %d.%09d", v, i, 1600000000 + v, i);
}

/* Store and stage record (i, v) as the node will. */
static void
put(struct world *w, int i, int v)
{
	char line[128];
	size_t n = make_line(line, sizeof(line), i, v);

	assert_int_equal(on_line(w, line, n), 0);
	assert_true(persist_append(w->p, line, n) > 0);
}

/* Run the loop for ms milliseconds. */
static void
run_for(struct world *w, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(w->base, &tv);
	event_base_dispatch(w->base);
}

/* The path of the only log file. */
static char *
log_path(struct world *w, char *out, size_t size)
{
	struct dirent *de;
	DIR *d = opendir(w->dir);

	assert_non_null(d);
	*out = '\0';
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "log-", 4) == 0 &&
		    strlen(de->d_name) == 20)
			snprintf(out, size, "%s/%s", w->dir, de->d_name);
	closedir(d);
	assert_true(*out != '\0');
	return out;
}

/* Files in the directory whose name contains what. */
static int
count_files(struct world *w, const char *what)
{
	struct dirent *de;
	DIR *d = opendir(w->dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, what) != NULL)
			n++;
	closedir(d);
	return n;
}

/* Append, write, close, load: the same records; a missing directory
 * is created mode 0700; persist = one write per batch. */
static void
test_round_trip(void **state)
{
	struct persist_status st;
	struct world w;
	struct stat sb;
	int i;

	(void)state;
	world_init(&w);
	reopen(&w, HERD_FSYNC_EVERYSEC);
	assert_int_equal(stat(w.dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	for (i = 0; i < 1000; i++)
		put(&w, i, 1);
	assert_int_equal(persist_write(w.p), 0);
	assert_int_equal(persist_written_seq(w.p), 1000);
	persist_status(w.p, &st);
	assert_int_equal(st.state, PERSIST_OK);
	assert_string_equal(st.fsync, "everysec");
	assert_true(st.log_bytes > 1000 * 60);
	reopen(&w, HERD_FSYNC_EVERYSEC);
	assert_int_equal(store_count(w.store), 1000);
	put(&w, 5, 2);
	close_p(&w);	/* persist_free writes what is staged */
	reopen(&w, HERD_FSYNC_NO);
	assert_int_equal(store_count(w.store), 1000);
	assert_true(store_get(w.store, "client-5", 8)->sent.sec ==
	    1600000002);
	world_done(&w);
}

/* A log cut at every byte offset of its last entry loads the entries
 * before it, cuts the file to them, and appends after the cut. */
static void
test_torn_tail_every_offset(void **state)
{
	struct persist_load_info info;
	char path[512], err[256];
	struct world w;
	struct stat sb;
	off_t end2, end3, cut;
	int i;

	(void)state;
	world_init(&w);
	reopen(&w, HERD_FSYNC_NO);
	for (i = 0; i < 2; i++)
		put(&w, i, 1);
	assert_int_equal(persist_write(w.p), 0);
	close_p(&w);
	assert_int_equal(stat(log_path(&w, path, sizeof(path)), &sb), 0);
	end2 = sb.st_size;
	reopen(&w, HERD_FSYNC_NO);
	put(&w, 2, 1);
	close_p(&w);
	assert_int_equal(stat(path, &sb), 0);
	end3 = sb.st_size;
	for (cut = end3 - 1; cut > end2; cut--) {
		assert_int_equal(truncate(path, cut), 0);
		store_free(w.store);
		w.store = store_new(1, 2);
		w.p = persist_open(w.base, w.dir, HERD_FSYNC_NO, &ops, &w,
		    err, sizeof(err));
		assert_non_null(w.p);
		assert_int_equal(persist_load(w.p, on_record, &w, &info, err,
		    sizeof(err)), 0);
		assert_int_equal(info.records, 2);
		assert_int_equal(info.cut_entries, 1);
		assert_int_equal(info.cut_bytes, (size_t)(cut - end2));
		assert_int_equal(info.damaged, 0);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_size, end2);
		put(&w, 2, 1);	/* the lost entry again, after the cut */
		close_p(&w);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_size, end3);
	}
	reopen(&w, HERD_FSYNC_NO);
	assert_int_equal(store_count(w.store), 3);
	world_done(&w);
}

/* A flipped bit in the middle: what came before is loaded, the file is
 * moved aside (kept), a fresh log takes appends, and the forced
 * compaction saves what was loaded. */
static void
test_middle_damage(void **state)
{
	struct persist_load_info info;
	struct persist_status st;
	char path[512], err[256];
	struct world w;
	int fd, i;

	(void)state;
	world_init(&w);
	reopen(&w, HERD_FSYNC_NO);
	for (i = 0; i < 10; i++)
		put(&w, i, 1);
	close_p(&w);
	log_path(&w, path, sizeof(path));
	assert_true((fd = open(path, O_RDWR)) != -1);
	/* A byte inside entry 4's payload (entries are 8 + 76 bytes). */
	assert_int_equal(pwrite(fd, "#", 1, JOURNAL_HEADER_SIZE + 4 * 84 +
	    40), 1);
	close(fd);
	store_free(w.store);
	w.store = store_new(1, 2);
	w.p = persist_open(w.base, w.dir, HERD_FSYNC_NO, &ops, &w, err,
	    sizeof(err));
	assert_non_null(w.p);
	assert_int_equal(persist_load(w.p, on_record, &w, &info, err,
	    sizeof(err)), 0);
	assert_int_equal(info.records, 4);
	assert_int_equal(info.damaged, 1);
	assert_int_equal(count_files(&w, ".damaged-"), 1);
	assert_int_equal(access(path, F_OK), -1);
	put(&w, 10, 1);
	assert_int_equal(persist_write(w.p), 0);	/* starts compaction */
	for (i = 0; i < 100; i++) {
		persist_status(w.p, &st);
		if (st.compactions == 1)
			break;
		run_for(&w, 20);
	}
	assert_int_equal(st.compactions, 1);
	reopen(&w, HERD_FSYNC_NO);
	assert_int_equal(store_count(w.store), 5);
	assert_int_equal(count_files(&w, ".damaged-"), 1);
	world_done(&w);
}

/* A log of another format version (or another program) is refused,
 * untouched; a log whose header is only zeros (torn at creation) holds
 * nothing and is replaced. */
static void
test_foreign_and_torn_headers(void **state)
{
	unsigned char hdr[JOURNAL_HEADER_SIZE];
	struct persist_load_info info;
	char path[512], err[512];
	struct world w;
	struct stat sb;
	int fd;

	(void)state;
	world_init(&w);
	reopen(&w, HERD_FSYNC_NO);
	put(&w, 1, 1);
	close_p(&w);
	log_path(&w, path, sizeof(path));
	assert_true((fd = open(path, O_RDWR)) != -1);
	assert_int_equal(pread(fd, hdr, sizeof(hdr), 0), sizeof(hdr));
	hdr[8] = 2;	/* format version 2 */
	assert_int_equal(pwrite(fd, hdr, sizeof(hdr), 0), sizeof(hdr));
	close(fd);
	assert_int_equal(stat(path, &sb), 0);
	w.p = persist_open(w.base, w.dir, HERD_FSYNC_NO, &ops, &w, err,
	    sizeof(err));
	assert_non_null(w.p);
	assert_int_equal(persist_load(w.p, on_record, &w, &info, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "format version 2"));
	assert_non_null(strstr(err, path));
	close_p(&w);
	assert_int_equal(access(path, F_OK), 0);	/* not moved */
	assert_true((fd = open(path, O_WRONLY | O_TRUNC)) != -1);
	memset(hdr, 0, sizeof(hdr));
	assert_int_equal(write(fd, hdr, sizeof(hdr)), sizeof(hdr));
	close(fd);
	reopen(&w, HERD_FSYNC_NO);
	assert_int_equal(store_count(w.store), 0);
	assert_int_equal(count_files(&w, ".damaged-"), 0);
	put(&w, 2, 1);
	reopen(&w, HERD_FSYNC_NO);
	assert_int_equal(store_count(w.store), 1);
	world_done(&w);
}

/* Not a directory, owned by someone else, or in use: refused with a
 * message naming the path and what to fix. */
static void
test_refused_dirs(void **state)
{
	struct persist *p;
	char err[512], file[300];
	struct world w;
	int fd;

	(void)state;
	world_init(&w);
	reopen(&w, HERD_FSYNC_NO);
	p = persist_open(w.base, w.dir, HERD_FSYNC_NO, &ops, &w, err,
	    sizeof(err));
	assert_null(p);
	assert_non_null(strstr(err, "in use by another process"));
	assert_non_null(strstr(err, w.dir));
	close_p(&w);
	snprintf(file, sizeof(file), "%s/plainfile", w.dir);
	assert_true((fd = open(file, O_CREAT | O_WRONLY, 0600)) != -1);
	close(fd);
	assert_null(persist_open(w.base, file, HERD_FSYNC_NO, &ops, &w, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "is not a directory"));
	assert_non_null(strstr(err, file));
	if (geteuid() == 0) {
		assert_int_equal(chown(w.dir, 12345, 12345), 0);
		assert_null(persist_open(w.base, w.dir, HERD_FSYNC_NO, &ops,
		    &w, err, sizeof(err)));
		assert_non_null(strstr(err, "owned by uid 12345"));
		assert_int_equal(chown(w.dir, 0, 0), 0);
	} else {
		assert_int_equal(chmod(w.dir, 0500), 0);
		assert_null(persist_open(w.base, w.dir, HERD_FSYNC_NO, &ops,
		    &w, err, sizeof(err)));
		assert_non_null(strstr(err, "not writable"));
		assert_int_equal(chmod(w.dir, 0700), 0);
	}
	world_done(&w);
}

/* write() failing (EFBIG under a file size limit, as ENOSPC would):
 * FAILING once, the batch kept and retried every second, OK once writes
 * work again, and every record on disk. */
static void
test_write_errors_retry(void **state)
{
	struct persist_status st;
	struct rlimit lim;
	struct world w;
	int i;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	world_init(&w);
	reopen(&w, HERD_FSYNC_EVERYSEC);
	for (i = 0; i < 10; i++)
		put(&w, i, 1);
	assert_int_equal(persist_write(w.p), 0);
	persist_status(w.p, &st);
	lim = saved_fsize;
	lim.rlim_cur = st.log_bytes + 100;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (i = 10; i < 110; i++)
		put(&w, i, 1);
	assert_int_equal(persist_write(w.p), -1);
	assert_int_equal(w.states, 1);
	assert_int_equal(w.last_state, PERSIST_FAILING);
	assert_int_equal(w.last_err, EFBIG);
	assert_int_equal(persist_written_seq(w.p), 10);
	run_for(&w, 2300);
	persist_status(w.p, &st);
	assert_int_equal(st.state, PERSIST_FAILING);
	assert_true(st.write_errors >= 3);	/* retried each second */
	assert_int_equal(w.states, 1);		/* one line per change */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved_fsize), 0);
	for (i = 0; i < 30 && w.last_state != PERSIST_OK; i++)
		run_for(&w, 100);
	assert_int_equal(w.states, 2);
	assert_int_equal(w.last_state, PERSIST_OK);
	assert_int_equal(persist_written_seq(w.p), 110);
	reopen(&w, HERD_FSYNC_NO);
	assert_int_equal(store_count(w.store), 110);
	world_done(&w);
	signal(SIGXFSZ, SIG_DFL);
}

/* Teardown of test_write_errors_retry: lift the file size limit. */
static int
restore_fsize(void **state)
{
	(void)state;
	signal(SIGXFSZ, SIG_DFL);
	return setrlimit(RLIMIT_FSIZE, &saved_fsize);
}

/* The writer thread's hook: a slow fdatasync, then record what it
 * covered. */
static void
slow_sync(void *arg, uint64_t seq)
{
	(void)arg;
	usleep(20000);
	if (seq > atomic_load(&synced_by_hook))
		atomic_store(&synced_by_hook, seq);
}

/* always: every batch a reply waits for is synced at once, durable(seq)
 * arrives only after the fdatasync that covered seq, batches written
 * during a sync share the next one (group commit). */
static void
test_always_durable_after_sync(void **state)
{
	struct persist_status st;
	struct world w;
	int i, b;

	(void)state;
	atomic_store(&synced_by_hook, 0);
	world_init(&w);
	reopen(&w, HERD_FSYNC_ALWAYS);
	persist_test_sync_hook(w.p, slow_sync, NULL);
	for (b = 0; b < 20; b++) {
		for (i = 0; i < 5; i++)
			put(&w, b * 5 + i, 1);
		persist_urge(w.p, (uint64_t)b * 5 + 5);
		assert_int_equal(persist_write(w.p), 0);
		assert_true(persist_durable_seq(w.p) < persist_written_seq(
		    w.p));
		persist_status(w.p, &st);
		if (b % 4 == 0)
			run_for(&w, 5);
	}
	/* Well before everysec's cadence would have synced it. */
	for (i = 0; i < 25 && w.durable < 100; i++)
		run_for(&w, 20);
	assert_int_equal(w.durable, 100);
	assert_int_equal(persist_durable_seq(w.p), 100);
	assert_false(w.durable_early);
	persist_status(w.p, &st);
	assert_true(st.syncs >= 1);
	assert_true(st.syncs < 20);	/* group commit */
	assert_int_equal(st.lag_ms, 0);
	close_p(&w);
	world_done(&w);
}

/* always without a waiting reply (records from neighbours only): no
 * sync at once, but within everysec's cadence; a reply that then waits
 * makes the next write sync at once. */
static void
test_always_syncs_at_once_only_for_replies(void **state)
{
	struct persist_status st;
	struct world w;
	int i;

	(void)state;
	atomic_store(&synced_by_hook, (uint64_t)-1);	/* not checked */
	world_init(&w);
	reopen(&w, HERD_FSYNC_ALWAYS);
	put(&w, 0, 1);			/* the first sync is due at once */
	assert_int_equal(persist_write(w.p), 0);
	for (i = 0; i < 50 && persist_durable_seq(w.p) < 1; i++)
		run_for(&w, 20);
	assert_int_equal(persist_durable_seq(w.p), 1);
	put(&w, 1, 1);			/* nobody waits: everysec's cadence */
	assert_int_equal(persist_write(w.p), 0);
	run_for(&w, 300);
	assert_int_equal(persist_durable_seq(w.p), 1);
	for (i = 0; i < 150 && persist_durable_seq(w.p) < 2; i++)
		run_for(&w, 20);
	assert_int_equal(persist_durable_seq(w.p), 2);
	put(&w, 2, 1);			/* a reply waits: at once */
	persist_urge(w.p, 3);
	assert_int_equal(persist_write(w.p), 0);
	for (i = 0; i < 10 && persist_durable_seq(w.p) < 3; i++)
		run_for(&w, 20);
	assert_int_equal(persist_durable_seq(w.p), 3);
	persist_status(w.p, &st);
	assert_int_equal(st.lag_ms, 0);
	close_p(&w);
	world_done(&w);
}

/* everysec: batches written every 20 ms share about one sync a second,
 * lag_ms shows unsynced data meanwhile, and durable() catches up; no:
 * never a sync, nothing reported durable. */
static void
test_everysec_and_no(void **state)
{
	struct persist_status st;
	struct world w;
	long lag = 0;
	int b;

	(void)state;
	atomic_store(&synced_by_hook, (uint64_t)-1);	/* not checked */
	world_init(&w);
	reopen(&w, HERD_FSYNC_EVERYSEC);
	for (b = 0; b < 100; b++) {
		put(&w, b, 1);
		assert_int_equal(persist_write(w.p), 0);
		run_for(&w, 20);
		persist_status(w.p, &st);
		if (st.lag_ms > lag)
			lag = st.lag_ms;
	}
	for (b = 0; b < 200 && w.durable < 100; b++)
		run_for(&w, 20);
	persist_status(w.p, &st);
	assert_int_equal(w.durable, 100);
	assert_true(st.syncs >= 1);
	assert_true(st.syncs <= 100 / 4);	/* far fewer than batches */
	assert_true(lag > 0);
	reopen(&w, HERD_FSYNC_NO);
	w.durable = 0;
	for (b = 0; b < 10; b++) {
		put(&w, 200 + b, 1);
		assert_int_equal(persist_write(w.p), 0);
		run_for(&w, 20);
	}
	persist_status(w.p, &st);
	assert_int_equal(st.syncs, 0);
	assert_int_equal(st.lag_ms, 0);
	assert_int_equal(persist_durable_seq(w.p), 0);
	assert_int_equal(persist_written_seq(w.p), 10);
	assert_int_equal(w.durable, 0);
	world_done(&w);
}

/* 100,000 records updated twice: the log outgrows twice the live data,
 * compaction runs, and a reload holds exactly the same store; the old
 * log and snapshot are gone. */
static void
test_compaction_reload(void **state)
{
	struct persist_status st;
	struct world w;
	uint64_t digest;
	int i, v;

	(void)state;
	world_init(&w);
	reopen(&w, HERD_FSYNC_NO);
	persist_set_compact_min(w.p, 1024 * 1024);
	for (v = 1; v <= 3; v++)
		for (i = 0; i < 100000; i++) {
			put(&w, i, v);
			if (i % 1000 == 999)
				assert_int_equal(persist_write(w.p), 0);
		}
	for (i = 0; i < 500; i++) {
		persist_status(w.p, &st);
		if (st.compactions >= 1 && !st.compacting)
			break;
		run_for(&w, 10);
	}
	assert_true(st.compactions >= 1);
	/* Less on disk than the 300,000 entries written. */
	assert_true(st.log_bytes + st.snapshot_bytes < 300000 * 84);
	digest = store_digest(w.store);
	reopen(&w, HERD_FSYNC_NO);
	assert_int_equal(store_count(w.store), 100000);
	assert_true(store_digest(w.store) == digest);
	assert_int_equal(count_files(&w, "snapshot-"), 1);
	assert_int_equal(count_files(&w, "log-"), 1);
	world_done(&w);
}

/* A stop (as kill -9) after every step of a compaction loses nothing:
 * rotated; first chunk written; temporary file synced; renamed. */
static void
test_compaction_stop_each_step(void **state)
{
	struct persist_status st;
	struct world w;
	uint64_t digest;
	int step, i, k;

	(void)state;
	for (step = 1; step <= 4; step++) {
		world_init(&w);
		reopen(&w, HERD_FSYNC_NO);
		for (i = 0; i < 20000; i++)
			put(&w, i, 1);
		assert_int_equal(persist_write(w.p), 0);
		persist_test_compact_stop(w.p, step);
		assert_int_equal(persist_compact(w.p), 0);
		for (k = 0; k < 200; k++) {
			persist_status(w.p, &st);
			if (st.frozen)
				break;
			run_for(&w, 10);
		}
		assert_true(st.frozen);
		/* Appends after the rotation go to the new log. */
		for (i = 0; i < 20000; i += 7)
			put(&w, i, 2);
		put(&w, 30000, 1);
		assert_int_equal(persist_write(w.p), 0);
		digest = store_digest(w.store);
		close_p(&w);
		reopen(&w, HERD_FSYNC_NO);
		assert_int_equal(store_count(w.store), 20001);
		assert_true(store_digest(w.store) == digest);
		assert_int_equal(count_files(&w, ".tmp"), 0);
		world_done(&w);
	}
}

/* 1,000,000 records: load time printed, not asserted. */
static void
test_million_load_time(void **state)
{
	struct persist_load_info info;
	char err[256];
	struct world w;
	struct timespec t0, t1;
	int i;

	(void)state;
	world_init(&w);
	reopen(&w, HERD_FSYNC_NO);
	for (i = 0; i < 1000000; i++) {
		put(&w, i, 1);
		if (i % 10000 == 9999)
			assert_int_equal(persist_write(w.p), 0);
	}
	close_p(&w);
	store_free(w.store);
	w.store = store_new(1, 2);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	w.p = persist_open(w.base, w.dir, HERD_FSYNC_NO, &ops, &w, err,
	    sizeof(err));
	assert_non_null(w.p);
	assert_int_equal(persist_load(w.p, on_record, &w, &info, err,
	    sizeof(err)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(info.records, 1000000);
	assert_int_equal(store_count(w.store), 1000000);
	print_message("loaded %zu records (%zu log entries) in %ld ms"
	    " (open+load+merge %.0f ms)\n", info.records, info.log_entries,
	    info.elapsed_ms, (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	world_done(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_torn_tail_every_offset),
		cmocka_unit_test(test_middle_damage),
		cmocka_unit_test(test_foreign_and_torn_headers),
		cmocka_unit_test(test_refused_dirs),
		cmocka_unit_test_teardown(test_write_errors_retry,
		    restore_fsize),
		cmocka_unit_test(test_always_durable_after_sync),
		cmocka_unit_test(test_always_syncs_at_once_only_for_replies),
		cmocka_unit_test(test_everysec_and_no),
		cmocka_unit_test(test_compaction_reload),
		cmocka_unit_test(test_compaction_stop_each_step),
		cmocka_unit_test(test_million_load_time),
	};

	if (getrlimit(RLIMIT_FSIZE, &saved_fsize) == -1)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
