/*
 * proc.c -- what herd-bench reads about processes from /proc (CPU time,
 * RSS, open files, the listener of a port) and its own file limit.
 */
#include <sys/types.h>
#include <sys/resource.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* utime+stime (microseconds) and VmRSS (kB) of pid. */
int
proc_snap(pid_t pid, struct procsnap *ps)
{
	char path[64], buf[4096], *p;
	unsigned long long ut, st;
	long tck = sysconf(_SC_CLK_TCK);
	FILE *fp;
	size_t n;

	memset(ps, 0, sizeof(*ps));
	ps->rss_kb = -1;
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* Fields after the command name: 3 state ... 14 utime 15 stime. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &ut, &st) != 2)
		return -1;
	ps->cpu_us = (uint64_t)(ut + st) * 1000000ULL / (uint64_t)tck;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((fp = fopen(path, "r")) != NULL) {
		while (fgets(buf, sizeof(buf), fp) != NULL)
			if (strncmp(buf, "VmRSS:", 6) == 0)
				ps->rss_kb = strtol(buf + 6, NULL, 10);
		fclose(fp);
	}
	ps->ok = 1;
	return 0;
}

/* Open file descriptors of pid, or -1. */
long
proc_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	long n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The soft RLIMIT_NOFILE of pid, or -1. */
long
proc_nofile_limit(pid_t pid)
{
	char path[64], buf[256];
	FILE *fp;
	long v = -1;

	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(buf, sizeof(buf), fp) != NULL)
		if (strncmp(buf, "Max open files", 14) == 0)
			v = strtol(buf + 14, NULL, 10);
	fclose(fp);
	return v;
}

/* Does pid exist and is it not a zombie? */
static long	proc_threads(pid_t);

int
proc_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
		return 0;
	if (p[2] != 'Z' && p[2] != 'X')
		return 1;
	/* A killed process's main thread turns zombie before its other
	 * threads (herd-node's disk writer) have exited, and its sockets
	 * close only with the last one. */
	return proc_threads(pid) > 1;
}

/* The number of threads /proc says pid still has (0 if unknown). */
static long
proc_threads(pid_t pid)
{
	char path[64], line[128];
	long n = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	fclose(fp);
	return n;
}

/* The process listening on TCP port (/proc/net/tcp + /proc/PID/fd). */
pid_t
proc_listener(int port)
{
	static const char *const tables[] = { "/proc/net/tcp",
	    "/proc/net/tcp6" };
	unsigned long inodes[16], ino;
	unsigned lport, st;
	char buf[512], path[600], link[64], want[64];
	struct dirent *pe, *fe;
	DIR *pd, *fd;
	FILE *fp;
	size_t t, ninodes = 0, i;
	pid_t found = 0;
	ssize_t n;

	for (t = 0; t < 2; t++) {
		if ((fp = fopen(tables[t], "r")) == NULL)
			continue;
		while (fgets(buf, sizeof(buf), fp) != NULL) {
			if (sscanf(buf, " %*s %*[0-9A-Fa-f]:%x %*s %x %*s %*s"
			    " %*s %*s %*s %lu", &lport, &st, &ino) != 3)
				continue;
			if ((int)lport == port && st == 0x0A && ino != 0 &&
			    ninodes < 16)
				inodes[ninodes++] = ino;
		}
		fclose(fp);
	}
	if (ninodes == 0 || (pd = opendir("/proc")) == NULL)
		return 0;
	while (found == 0 && (pe = readdir(pd)) != NULL) {
		if (!isdigit((unsigned char)pe->d_name[0]) ||
		    atol(pe->d_name) == (long)getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		if ((fd = opendir(path)) == NULL)
			continue;
		while (found == 0 && (fe = readdir(fd)) != NULL) {
			if (fe->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fd/%s",
			    pe->d_name, fe->d_name);
			if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
				continue;
			link[n] = '\0';
			for (i = 0; i < ninodes; i++) {
				snprintf(want, sizeof(want), "socket:[%lu]",
				    inodes[i]);
				if (strcmp(link, want) == 0)
					found = (pid_t)atol(pe->d_name);
			}
		}
		closedir(fd);
	}
	closedir(pd);
	return found;
}

/* Sum of the CPU time of a comma-separated PID list (--pid's own left
 * out, it is counted apart); *n gets the count. */
uint64_t
proc_cpu_us_list(const char *list, int *n)
{
	struct procsnap ps;
	const char *p = list;
	uint64_t sum = 0;
	char *end;
	long v;

	*n = 0;
	while (p != NULL && *p != '\0') {
		v = strtol(p, &end, 10);
		if (end == p)
			break;
		if ((pid_t)v != opt.pid && proc_snap((pid_t)v, &ps) == 0) {
			sum += ps.cpu_us;
			(*n)++;
		}
		p = *end == ',' ? end + 1 : NULL;
	}
	return sum;
}

/* Raise our RLIMIT_NOFILE to want (the hard limit too when allowed). */
void
proc_raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want) {
		rl.rlim_max = want;
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return;
		getrlimit(RLIMIT_NOFILE, &rl);
		bench_fatal("need %lu file descriptors; the hard limit is %lu"
		    " (run as root or raise ulimit -Hn)", (unsigned long)want,
		    (unsigned long)rl.rlim_max);
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		bench_fatal("setrlimit: %s", strerror(errno));
}
