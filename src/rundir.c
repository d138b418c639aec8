/*
 * rundir.c -- the run directory and its lock, the data directory, and
 * whether a server's address belongs to this machine.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "herd/control.h"
#include "herd/log.h"
#include "herd/rundir.h"

/* Join a and b with a slash (malloc'd), or NULL. */
static char *
path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) == -1)
		return NULL;
	return p;
}

/* Return (malloc'd) the configured run directory, else $HERD_RUN_DIR
 * (relative: against the working directory), else /run/herd for root,
 * $XDG_RUNTIME_DIR/herd or /tmp/herd-UID. */
char *
rundir_path(const char *configured)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *env = getenv("HERD_RUN_DIR");
	char *dir = NULL, cwd[PATH_MAX];

	if (configured != NULL)
		return strdup(configured);
	if (env != NULL && env[0] == '/')
		return strdup(env);
	if (env != NULL && env[0] != '\0') {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return NULL;
		return path_join(cwd, env);
	}
	if (geteuid() == 0)
		return strdup("/run/herd");
	if (xdg != NULL && xdg[0] == '/') {
		if (asprintf(&dir, "%s/herd", xdg) == -1)
			return NULL;
		return dir;
	}
	if (asprintf(&dir, "/tmp/herd-%ld", (long)geteuid()) == -1)
		return NULL;
	return dir;
}

/* Create run_dir (0700, ours) and flock its pid file; -1 with err set, and
 * *other_pid read from the file when another supervisor holds it. */
int
rundir_lock(const char *run_dir, int *lock_fd, long *other_pid,
    char *err, size_t errsize)
{
	char path[PATH_MAX], buf[32];
	struct stat st;
	ssize_t n;
	int fd, dfd;

	*other_pid = 0;
	if (mkdir(run_dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errsize, "cannot create run directory %s: %s",
		    run_dir, strerror(errno));
		return -1;
	}
	/* Never follow a symlink: in /tmp anyone may have planted one. */
	if (lstat(run_dir, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    (dfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		snprintf(err, errsize, "run directory %s is not a directory"
		    " (or is a symbolic link)", run_dir);
		return -1;
	}
	if (fstat(dfd, &st) == -1 || st.st_uid != geteuid()) {
		snprintf(err, errsize, "run directory %s belongs to uid %ld,"
		    " not to us", run_dir, (long)st.st_uid);
		close(dfd);
		return -1;
	}
	if ((st.st_mode & 077) != 0 && fchmod(dfd, 0700) == -1) {
		snprintf(err, errsize, "cannot restrict %s to its owner: %s",
		    run_dir, strerror(errno));
		close(dfd);
		return -1;
	}
	close(dfd);
	snprintf(path, sizeof(path), "%s/%s", run_dir, CONTROL_PIDFILE);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errsize, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			*other_pid = strtol(buf, NULL, 10);
		}
		snprintf(err, errsize, "another supervisor (pid %ld) is running"
		    " on %s", *other_pid, run_dir);
		close(fd);
		return -1;
	}
	*lock_fd = fd;
	return 0;
}

/* The servers' data directory from explicit inputs only, so that a unit
 * test can walk the whole order; see rundir.h. */
char *
rundir_data_dir(const char *configured, const char *env, uid_t euid,
    const char *xdg, const char *home, const char *cwd)
{
	if (configured != NULL && configured[0] != '\0')
		return strdup(configured);
	if (env != NULL && env[0] != '\0') {
		if (env[0] == '/')
			return strdup(env);
		return cwd != NULL && cwd[0] == '/' ? path_join(cwd, env) :
		    NULL;
	}
	if (euid == 0)
		return strdup("/var/lib/herd");
	/* XDG: a relative $XDG_STATE_HOME is invalid and ignored. */
	if (xdg != NULL && xdg[0] == '/')
		return path_join(xdg, "herd");
	if (home != NULL && home[0] == '/')
		return path_join(home, ".local/state/herd");
	return NULL;
}

/* Is addr (numeric) one of this machine's addresses? */
static int
addr_is_local(const char *addr, struct ifaddrs *ifs)
{
	struct in_addr a4;
	struct in6_addr a6;
	struct ifaddrs *i;

	if (inet_pton(AF_INET, addr, &a4) == 1) {
		if ((ntohl(a4.s_addr) >> 24) == 127)
			return 1;
		for (i = ifs; i != NULL; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
			    ((struct sockaddr_in *)(void *)i->ifa_addr)->
			    sin_addr.s_addr == a4.s_addr)
				return 1;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return 1;
		for (i = ifs; i != NULL; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 &&
			    memcmp(&((struct sockaddr_in6 *)(void *)
			    i->ifa_addr)->sin6_addr, &a6, sizeof(a6)) == 0)
				return 1;
	}
	return 0;
}

/* True when s's bind address, or its host when bound to a wildcard, is
 * loopback or on a local interface. */
int
rundir_is_local(const struct herd_server *s)
{
	struct ifaddrs *ifs = NULL;
	int local;

	if (getifaddrs(&ifs) == -1) {
		log_warn("getifaddrs (only loopback counts as local)");
		ifs = NULL;
	}
	if (strcmp(s->bind, "0.0.0.0") == 0 || strcmp(s->bind, "::") == 0)
		local = addr_is_local(s->host, ifs);
	else
		local = addr_is_local(s->bind, ifs);
	if (ifs != NULL)
		freeifaddrs(ifs);
	return local;
}

/* Is a one of the entries of list ("x, y, z")? */
static int
addr_listed(const char *list, const char *a)
{
	size_t n = strlen(a);
	const char *p;

	for (p = list; (p = strstr(p, a)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' ||
		    p[n] == ','))
			return 1;
	return 0;
}

/* This machine's addresses, "127.0.0.1, ::1, 192.0.2.7" (malloc'd; each
 * once, in interface order), or NULL when getifaddrs fails. */
char *
rundir_local_addrs(void)
{
	struct ifaddrs *ifs = NULL, *i;
	char a[INET6_ADDRSTRLEN], *out = NULL, *n;
	size_t len = 0;
	const void *src;

	if (getifaddrs(&ifs) == -1)
		return NULL;
	for (i = ifs; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			src = &((struct sockaddr_in *)(void *)i->ifa_addr)->
			    sin_addr;
		else if (i->ifa_addr->sa_family == AF_INET6)
			src = &((struct sockaddr_in6 *)(void *)i->ifa_addr)->
			    sin6_addr;
		else
			continue;
		if (inet_ntop(i->ifa_addr->sa_family, src, a, sizeof(a)) ==
		    NULL || (out != NULL && addr_listed(out, a)))
			continue;
		if ((n = realloc(out, len + strlen(a) + 3)) == NULL)
			break;
		out = n;
		len += (size_t)sprintf(out + len, "%s%s", len ? ", " : "", a);
	}
	freeifaddrs(ifs);
	return out != NULL ? out : strdup("none");
}
