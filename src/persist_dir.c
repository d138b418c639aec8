/*
 * persist_dir.c -- the persistence engine's data directory: create,
 * check and lock it, name, list and sort its files, move damaged ones
 * aside and remove the ones a snapshot replaced.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "herd/journal.h"
#include "herd/log.h"
#include "herd/persist.h"
#include "persist_int.h"

static int	mkdirs(const char *);
static int	parse_name(const char *, struct pfile *);
static int	cmp_pfile(const void *, const void *);

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
int
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
int
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

/* "log-GGGGGGGGGGGGGGGG" or "snapshot-..." plus suffix. */
void
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
int
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
void
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

/* (any thread) Remove logs and snapshots older than generation gen. */
void
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
