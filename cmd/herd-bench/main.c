/*
 * herd-bench -- load generator and measuring tool for a herd.
 *
 * One mode per run, all on one libevent loop in one thread:
 *
 *   iamat        C connections, IAMAT in batches of D (pipelining)
 *   oneshot      a new TCP connection per IAMAT: one line, half-close
 *   whatsat      pipelined WHATSAT for clients stored beforehand
 *   load         store R new client ids once each; RSS cost per record
 *   propagation  IAMAT at one node, time until another node holds it,
 *                idle or under a paced background IAMAT load
 *   idle         K idle client connections; node RSS before and after
 *   recovery     load R records, kill -9 a node run by herdctl, time
 *                until its restarted self holds all R again
 *
 * Every reply is checked byte for byte against its request.  Latency
 * goes into a log-linear histogram (under 1% error, fixed memory).  The
 * server's CPU time is utime+stime of /proc/PID/stat read before and
 * after, reported per request: the figure that stays comparable on a
 * noisy machine.  Each run ends with one "RESULT key=value ..." line.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <cjson/cJSON.h>

#define EXIT_USAGE	64
#define MAX_LINE	200		/* longest request we build */
#define MAX_PREFIX	64
#define MAX_REPLY	(16 * 1024 * 1024)
#define FIXED_LOC	"+34.068930-118.445127"
#define HIST_SUB_BITS	7
#define HIST_SUB	(1U << HIST_SUB_BITS)
#define HIST_BUCKETS	((64 - HIST_SUB_BITS + 1) * HIST_SUB)
#define PACED_DEPTH	256		/* outstanding per background conn */
#define CONNECT_INFLIGHT 256		/* idle mode: connects at a time */
#define CHECK_BATCH	256		/* recovery: WHATSATs per round trip */
#define MAX_SERVERS	256
#define NS		UINT64_C(1000000000)

enum mode {
	M_IAMAT, M_ONESHOT, M_WHATSAT, M_LOAD, M_PROPAGATION, M_IDLE,
	M_RECOVERY
};

static const char *const mode_names[] = {
	"iamat", "oneshot", "whatsat", "load", "propagation", "idle",
	"recovery"
};

/* What a pipelined connection generates when it refills. */
enum gen {
	G_NONE,		/* requests are queued by a driver */
	G_IAMAT,	/* random key of its own partition */
	G_LOAD,		/* each key of its own partition once */
	G_WHATSAT,	/* random key among the preloaded ones */
};

/* The kind of a request in flight, which decides how its reply ends. */
enum kind {
	K_IAMAT,	/* one AT line */
	K_WHATSAT,	/* AT line, JSON, blank line; "?" is an error */
	K_POLL,		/* like K_WHATSAT, but "?" (unknown) is fine */
};

/* A log-linear latency histogram in nanoseconds; fixed size. */
struct hist {
	uint64_t	 n, min, max;
	double		 sum;
	uint64_t	 b[HIST_BUCKETS];
};

/* Counters of one stream of requests. */
struct stats {
	struct hist	*h;		/* NULL: latency not kept */
	uint64_t	 done, errors;
	uint64_t	 t_first, t_last;	/* monotonic ns of replies */
};

/* A request in flight on a pipelined connection. */
struct slot {
	uint64_t	 t;		/* monotonic ns when written */
	uint64_t	 key;
	const char	*expect;	/* expected "<id> <loc> <time>" */
	uint16_t	 explen;
	uint16_t	 len;
	uint8_t		 kind;
	char		 line[MAX_LINE];
};

/* A long-lived client connection with requests in flight. */
struct conn {
	int		 fd;
	int		 idx;
	int		 dead, finished;
	enum gen	 gen;
	int		 counted;	/* in bench.running */
	int		 fixed_loc;
	const char	*prefix;
	struct stats	*st;
	struct event	*rev, *wev;
	char		*out;
	size_t		 olen, ooff, ocap;
	char		*in;
	size_t		 ilen, icap;
	struct slot	*slots;
	unsigned	 head, count, cap;
	uint64_t	 nkeys, next;	/* keys idx, idx+C, ... < keyspace */
	uint64_t	 stride;
	uint64_t	 last_rt;	/* last time_sent used, ns */
	uint64_t	 rng;
	/* Called for every reply: held is 1 for a known client. */
	void		(*on_reply)(struct conn *, int ok, int held,
			    uint64_t t_sent, uint64_t now);
};

/* One connection of the oneshot or idle mode. */
struct sconn {
	int		 fd;
	int		 state;
	uint64_t	 t0;
	struct event	*ev;
	size_t		 rlen, explen, blen;
	char		 req[MAX_LINE];
	char		 buf[512];
};

enum { SC_FREE, SC_CONNECTING, SC_READING, SC_IDLE, SC_DEAD };

/* Command line. */
struct opts {
	enum mode	 mode;
	const char	*host;
	int		 port;
	int		 conns, depth;
	double		 secs;
	uint64_t	 nreq;
	uint64_t	 keyspace;
	const char	*prefix;
	pid_t		 pid;
	const char	*also_pids;
	const char	*to_host;
	int		 to_port;
	pid_t		 to_pid;
	double		 rate;
	int		 load_conns;
	uint64_t	 records;
	int		 idle;
	int		 touch;
	const char	*herdctl, *ini, *node;
	int		 sample;
	const char	*radius;
	int		 bound;
	const char	*expect_status;
	uint64_t	 seed;
	double		 timeout;
	int		 gap_us;
};

/* Process figures read from /proc. */
struct procsnap {
	int		 ok;
	uint64_t	 cpu_us;
	long		 rss_kb;
};

/* Replies read from a blocking socket, one at a time. */
struct rbuf {
	char		*b;
	size_t		 len, cap;
	size_t		 used;		/* bytes of the reply handed out */
};

/* A server as herdctl status --json reports it. */
struct server {
	char		 name[64];
	char		 state[16];
	pid_t		 pid;
	int		 port;
};

/* The state of the run. */
struct bench {
	struct event_base *base;
	struct stats	 st;		/* measured requests */
	struct stats	 bg;		/* background load (propagation) */
	struct stats	 aux;		/* probes' IAMATs */
	struct stats	 polls;		/* propagation: WHATSAT polls */
	uint64_t	 last_rt;	/* last time_sent of B.rng's requests */
	uint64_t	 issued, limit;
	int		 stopping, running;
	uint64_t	 t_start;
	char		 server[64];	/* name seen in AT replies */
	int		 printed;	/* error lines printed */
	struct conn	**conns;
	int		 nconns;
	char		**wsuf;		/* whatsat: expected suffix per key */
	uint64_t	 nwsuf;
	uint64_t	 rng;
	/* oneshot / idle */
	struct sconn	*sc;
	int		 nsc;
	uint64_t	 opened, established, sc_failed;
	int		 inflight;
	/* propagation */
	struct conn	*src, *dst;
	struct conn	**bgc;
	int		 nbgc, bgnext;
	int		 probe, probing;
	uint64_t	 t0, tpoll, t_bg_start, t_pace;
	double		 budget;
	uint64_t	 timeouts;
	char		 pexp[MAX_LINE];
	char		 probe_id[128];	/* the probe's client id */
	size_t		 pexplen;
	struct hist	*ph;
	struct event	*gap_ev, *pace_ev;
};

static struct opts	 opt;
static struct bench	 B;

static void	usage(FILE *, int) __attribute__((noreturn));
static void	fatalx(const char *, ...)
		    __attribute__((noreturn, format(printf, 1, 2)));
static void	bench_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static uint64_t	now_ns(void);
static uint64_t	rng_next(uint64_t *);
static unsigned	hist_index(uint64_t);
static uint64_t	hist_value(unsigned);
static void	hist_add(struct hist *, uint64_t);
static double	hist_us(const struct hist *, double);
static struct hist *hist_new(void);
static void	stats_add(struct stats *, int, uint64_t, uint64_t);
static int	proc_snap(pid_t, struct procsnap *);
static long	proc_fd_count(pid_t);
static long	proc_nofile_limit(pid_t);
static int	proc_alive(pid_t);
static pid_t	find_listener(int);
static uint64_t	pids_cpu_us(const char *, int *);
static int	tcp_connect(const char *, int, int);
static void	set_nonblock(int);
static int	fmt_loc(char *, size_t, uint64_t *);
static uint64_t	next_time(uint64_t *);
static size_t	build_iamat(char *, size_t, const char *, const char *,
		    uint64_t, int, uint64_t *, uint64_t *, size_t *);
static int	check_at(const char *, size_t, const char *, size_t);
static int	check_json(const char *, size_t, int);
static size_t	reply_len(int, const char *, size_t);
static struct conn *conn_new(int, int, enum gen, struct stats *);
static void	conn_free(struct conn *);
static struct slot *conn_push(struct conn *, int);
static void	conn_queue(struct conn *, struct slot *);
static void	conn_flush(struct conn *);
static void	conn_fail(struct conn *, const char *);
static void	conn_done(struct conn *);
static void	conn_fill(struct conn *);
static int	conn_gen(struct conn *);
static void	conn_reply(struct conn *, const char *, size_t, uint64_t);
static void	conn_read_cb(evutil_socket_t, short, void *);
static void	conn_write_cb(evutil_socket_t, short, void *);
static void	stop_cb(evutil_socket_t, short, void *);
static void	timeout_cb(evutil_socket_t, short, void *);
static int	run_pipelined(enum gen, const char *, int);
static int	preload_whatsat(void);
static void	oneshot_start(struct sconn *);
static void	oneshot_cb(evutil_socket_t, short, void *);
static void	oneshot_end(struct sconn *, int, const char *);
static void	idle_open_more(void);
static void	idle_cb(evutil_socket_t, short, void *);
static void	idle_end(struct sconn *, int, const char *);
static void	prop_probe(void);
static void	prop_gap_cb(evutil_socket_t, short, void *);
static void	prop_src_reply(struct conn *, int, int, uint64_t, uint64_t);
static void	prop_dst_reply(struct conn *, int, int, uint64_t, uint64_t);
static void	prop_pace_cb(evutil_socket_t, short, void *);
static int	rb_reply(int, struct rbuf *, int, char **, size_t *, int);
static int	write_all(int, const char *, size_t);
static long	check_held(int, struct rbuf *, const char *, const uint64_t *,
		    size_t, unsigned char *);
static int	herd_status(struct server *, int);
static int	wait_held(const char *, int, const char *, uint64_t,
		    double);
static void	print_latency(const char *, const struct hist *);
static void	raise_nofile(rlim_t);
static int	mode_pipelined(void);
static int	mode_oneshot(void);
static int	mode_idle(void);
static int	mode_propagation(void);
static int	mode_recovery(void);
static uint64_t	parse_u64(const char *, const char *);
static double	parse_double(const char *, const char *);

/* Print the usage and exit with code. */
static void
usage(FILE *fp, int code)
{
	fprintf(fp,
"usage: herd-bench MODE [options]\n"
"\n"
"Modes:\n"
"  iamat        C connections send IAMAT in batches of D (pipelining)\n"
"  oneshot      a new connection per IAMAT: one line, half-close, read EOF\n"
"  whatsat      pipelined WHATSAT for K clients stored first (cache warm)\n"
"  load         store R new client ids, each once; RSS cost per record\n"
"  propagation  IAMAT at -p, time until --to-port holds it; --rate adds\n"
"               a paced background IAMAT load at -p\n"
"  idle         open --idle K idle connections; node RSS before/after\n"
"  recovery     load R records at --node, kill -9 it, time until its\n"
"               restarted self (herdctl restarts it) holds all R again\n"
"\n"
"Target and load:\n"
"  -h HOST            node address (default 127.0.0.1)\n"
"  -p PORT            node port (recovery: default from herdctl status)\n"
"  -c CONNS           connections (default 10)\n"
"  -d DEPTH           pipelining: a connection writes DEPTH requests, reads\n"
"                     all DEPTH replies, then writes the next batch, as\n"
"                     redis-benchmark -P does; latency counts from the\n"
"                     batch's write (default 1)\n"
"  -t SECONDS         run time (default 5 unless -n is given)\n"
"  -n REQUESTS        stop after this many requests (propagation: probes)\n"
"  -k KEYSPACE        distinct client ids (iamat 100000, whatsat 100)\n"
"  --prefix STR       client id prefix (default bench- ; load and\n"
"                     recovery: r<pid>- so the records are new)\n"
"  --seed N           random seed\n"
"Measuring:\n"
"  --pid PID          node whose CPU/RSS is read (default: the process\n"
"                     listening on PORT, found via /proc/net/tcp)\n"
"  --also-pids LIST   comma-separated PIDs whose CPU is added up with\n"
"                     --pid's into herd_cpu_us_per_req (the whole herd)\n"
"Propagation:\n"
"  --to-host HOST --to-port PORT [--to-pid PID]   the node polled\n"
"  --rate R           background IAMAT/s at -p during the probes (0)\n"
"  --load-conns L     connections of the background load (default 10)\n"
"  --gap-us N         pause between probes (default 2000)\n"
"WHATSAT:\n"
"  --radius KM --bound N   (default 10 and 5)\n"
"  --expect-status S  required JSON status (default OK; 'any')\n"
"Idle, load, recovery:\n"
"  --idle K           connections to open (raises RLIMIT_NOFILE)\n"
"  --no-touch         idle: do not send one IAMAT on each connection\n"
"  --records R        load/recovery: records to store\n"
"  --herdctl PATH -C INI --node NAME   recovery: the herd and the node\n"
"  --sample S         recovery: random keys polled until held (1000)\n"
"  --timeout SECONDS  give up waiting (default 30)\n"
"\n"
"Output: a summary, then one line\n"
"  RESULT mode=... conns=... depth=... reqs=... secs=... rps=...\n"
"         p50_us=... p99_us=... p999_us=... cpu_us_per_req=... ...\n"
"Exit status: 0 no errors, 1 errors or failure, 64 usage.\n");
	exit(code);
}

/* Print a message and exit 1. */
static void
fatalx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "herd-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* Report a checking error (the first few only; all are counted). */
static void
bench_error(const char *fmt, ...)
{
	va_list ap;

	if (B.printed++ >= 10) {
		if (B.printed == 11)
			fprintf(stderr, "herd-bench: (more errors not shown)\n");
		return;
	}
	fprintf(stderr, "herd-bench: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* CLOCK_MONOTONIC in nanoseconds. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, good enough to pick keys and locations. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* --- histogram ------------------------------------------------------------ */

/* The bucket of v: exact below HIST_SUB, then HIST_SUB per power of 2. */
static unsigned
hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	msb = 63 - (unsigned)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	return shift * HIST_SUB + (unsigned)(v >> shift);
}

/* The middle of bucket i. */
static uint64_t
hist_value(unsigned i)
{
	unsigned shift;
	uint64_t m;

	if (i < HIST_SUB)
		return i;
	shift = i / HIST_SUB - 1;
	m = i - shift * HIST_SUB;
	return (m << shift) + ((1ULL << shift) >> 1);
}

/* Count one latency of ns nanoseconds. */
static void
hist_add(struct hist *h, uint64_t ns)
{
	if (h->n == 0 || ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	h->n++;
	h->sum += (double)ns;
	h->b[hist_index(ns)]++;
}

/* The q-quantile (0..1) in microseconds, 0 when empty. */
static double
hist_us(const struct hist *h, double q)
{
	uint64_t want, seen = 0, v;
	unsigned i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n);
	if ((double)want < q * (double)h->n)
		want++;
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			v = hist_value(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return (double)v / 1000.0;
		}
	}
	return (double)h->max / 1000.0;
}

/* A new empty histogram. */
static struct hist *
hist_new(void)
{
	struct hist *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatalx("out of memory");
	return h;
}

/* Count one reply of a stream; latency kept when the stream has one. */
static void
stats_add(struct stats *st, int ok, uint64_t t_sent, uint64_t now)
{
	if (!ok) {
		st->errors++;
		return;
	}
	if (st->done++ == 0)
		st->t_first = now;
	st->t_last = now;
	if (st->h != NULL && now >= t_sent)
		hist_add(st->h, now - t_sent);
}

/* --- /proc ---------------------------------------------------------------- */

/* utime+stime (microseconds) and VmRSS (kB) of pid. */
static int
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
static long
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
static long
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
static int
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
	return p[2] != 'Z' && p[2] != 'X';
}

/* The process listening on TCP port (/proc/net/tcp + /proc/PID/fd). */
static pid_t
find_listener(int port)
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
static uint64_t
pids_cpu_us(const char *list, int *n)
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

/* --- sockets -------------------------------------------------------------- */

/* Connect to host:port (IPv4 or IPv6 literal); blocking connect, then
 * non-blocking if asked.  Returns the socket or -1 (errno set). */
static int
tcp_connect(const char *host, int port, int nonblock)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1, e;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		errno = EINVAL;
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    (nonblock == 2 ? SOCK_NONBLOCK : 0), 0)) == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sl) == -1 &&
	    !(nonblock == 2 && errno == EINPROGRESS)) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (nonblock == 1)
		set_nonblock(fd);
	return fd;
}

/* Make fd non-blocking. */
static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl != -1)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Write all of p to a blocking fd. */
static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* --- requests and replies ------------------------------------------------- */

/* A random valid ISO 6709 location, six fraction digits. */
static int
fmt_loc(char *buf, size_t size, uint64_t *rng)
{
	long lat = (long)(rng_next(rng) % 180000001ULL) - 90000000L;
	long lng = (long)(rng_next(rng) % 360000001ULL) - 180000000L;

	return snprintf(buf, size, "%c%ld.%06ld%c%ld.%06ld",
	    lat < 0 ? '-' : '+', labs(lat) / 1000000, labs(lat) % 1000000,
	    lng < 0 ? '-' : '+', labs(lng) / 1000000, labs(lng) % 1000000);
}

/* The wall clock in ns, strictly after *last (so that, per connection,
 * every IAMAT of a client id is newer than the one before). */
static uint64_t
next_time(uint64_t *last)
{
	struct timespec ts;
	uint64_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
	if (t <= *last)
		t = *last + 1;
	*last = t;
	return t;
}

/*
 * Build "IAMAT <prefix><key><tag> <loc> <time>\n" into buf; *exp gets
 * the offset of "<id> <loc> <time>", the part the AT reply must copy.
 * Returns the length.
 */
static size_t
build_iamat(char *buf, size_t size, const char *prefix, const char *tag,
    uint64_t key, int fixed, uint64_t *rng, uint64_t *last, size_t *exp)
{
	char loc[48];
	uint64_t t = next_time(last);
	int n;

	if (fixed)
		snprintf(loc, sizeof(loc), "%s", FIXED_LOC);
	else
		fmt_loc(loc, sizeof(loc), rng);
	n = snprintf(buf, size, "IAMAT %s%" PRIu64 "%s %s %" PRIu64
	    ".%09" PRIu64 "\n", prefix, key, tag, loc, t / NS, t % NS);
	if (n < 0 || (size_t)n >= size)
		fatalx("request line too long");
	*exp = 6;
	return (size_t)n;
}

/* Is l[0..len) "AT <server> <+|-diff> " followed exactly by exp? */
static int
check_at(const char *l, size_t len, const char *exp, size_t explen)
{
	const char *end = l + len, *p, *q;

	if (len < 3 || memcmp(l, "AT ", 3) != 0)
		return 0;
	p = l + 3;
	if ((q = memchr(p, ' ', (size_t)(end - p))) == NULL || q == p)
		return 0;
	if (B.server[0] == '\0' && (size_t)(q - p) < sizeof(B.server)) {
		memcpy(B.server, p, (size_t)(q - p));
		B.server[q - p] = '\0';
	}
	p = q + 1;
	if (p >= end || (*p != '+' && *p != '-'))
		return 0;
	for (q = ++p; q < end && isdigit((unsigned char)*q); q++)
		;
	if (q == p || q >= end || *q != '.')
		return 0;
	for (p = ++q; q < end && isdigit((unsigned char)*q); q++)
		;
	if (q - p != 9 || q >= end || *q != ' ')
		return 0;
	q++;
	return (size_t)(end - q) == explen && memcmp(q, exp, explen) == 0;
}

/* Is j[0..len) one line of legacy-shaped JSON (with the wanted status
 * when status is set)? */
static int
check_json(const char *j, size_t len, int status)
{
	char want[64];

	if (len < 2 || j[0] != '{' || j[len - 1] != '}' ||
	    memchr(j, '\n', len) != NULL)
		return 0;
	if (memmem(j, len, "\"results\":", 10) == NULL)
		return 0;
	if (!status || strcmp(opt.expect_status, "any") == 0)
		return 1;
	snprintf(want, sizeof(want), "\"status\":\"%s\"", opt.expect_status);
	return memmem(j, len, want, strlen(want)) != NULL;
}

/* Bytes of the complete reply at p for a request of kind, or 0. */
static size_t
reply_len(int kind, const char *p, size_t len)
{
	const char *q;

	if (len == 0)
		return 0;
	if (kind == K_IAMAT || p[0] != 'A') {
		q = memchr(p, '\n', len);
		return q == NULL ? 0 : (size_t)(q - p) + 1;
	}
	q = memmem(p, len, "\n\n", 2);
	return q == NULL ? 0 : (size_t)(q - p) + 2;
}

/* --- pipelined connections ------------------------------------------------ */

/* A connected pipelined connection number idx with up to cap requests
 * in flight; gen says how it makes new ones. */
static struct conn *
conn_new(int idx, int cap, enum gen gen, struct stats *st)
{
	struct conn *c;
	int fd;

	if ((fd = tcp_connect(opt.host, opt.port, 1)) == -1)
		fatalx("connect %s:%d: %s", opt.host, opt.port,
		    strerror(errno));
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->slots = calloc((size_t)cap + 1, sizeof(*c->slots))) == NULL)
		fatalx("out of memory");
	c->fd = fd;
	c->idx = idx;
	c->cap = (unsigned)cap + 1;
	c->gen = gen;
	c->st = st;
	c->prefix = opt.prefix;
	c->ocap = (size_t)(cap + 1) * MAX_LINE;
	c->icap = 65536;
	if ((c->out = malloc(c->ocap)) == NULL ||
	    (c->in = malloc(c->icap)) == NULL)
		fatalx("out of memory");
	c->rng = opt.seed * 0x9E3779B97F4A7C15ULL + (uint64_t)idx * 7919 + 1;
	c->rev = event_new(B.base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->wev = event_new(B.base, fd, EV_WRITE, conn_write_cb, c);
	if (c->rev == NULL || c->wev == NULL)
		fatalx("event_new failed");
	event_add(c->rev, NULL);
	return c;
}

/* Close and free a connection. */
static void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	event_free(c->rev);
	event_free(c->wev);
	if (c->fd != -1)
		close(c->fd);
	free(c->slots);
	free(c->out);
	free(c->in);
	free(c);
}

/* The next free slot of c (the caller fills it, then conn_queue()). */
static struct slot *
conn_push(struct conn *c, int kind)
{
	struct slot *s;

	if (c->count + 1 >= c->cap)
		return NULL;
	s = &c->slots[(c->head + c->count) % c->cap];
	s->kind = (uint8_t)kind;
	s->t = 0;
	return s;
}

/* Append a filled slot's request to the output. */
static void
conn_queue(struct conn *c, struct slot *s)
{
	if (c->olen + s->len > c->ocap) {
		c->ocap = (c->olen + s->len) * 2;
		if ((c->out = realloc(c->out, c->ocap)) == NULL)
			fatalx("out of memory");
	}
	memcpy(c->out + c->olen, s->line, s->len);
	c->olen += s->len;
	c->count++;
}

/* Write what is queued; wait for writability when the socket is full. */
static void
conn_flush(struct conn *c)
{
	ssize_t n;

	while (c->ooff < c->olen) {
		n = send(c->fd, c->out + c->ooff, c->olen - c->ooff,
		    MSG_NOSIGNAL);
		if (n > 0) {
			c->ooff += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->wev, NULL);
			return;
		}
		conn_fail(c, strerror(errno));
		return;
	}
	c->olen = c->ooff = 0;
}

/* The socket can take more. */
static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

/* The connection broke: its requests in flight count as errors. */
static void
conn_fail(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	bench_error("connection %d: %s (%u requests in flight)", c->idx, why,
	    c->count);
	c->st->errors += c->count ? c->count : 1;
	c->count = 0;
	c->dead = 1;
	event_del(c->rev);
	event_del(c->wev);
	close(c->fd);
	c->fd = -1;
	conn_done(c);
	if (c == B.src || c == B.dst)
		event_base_loopbreak(B.base);	/* no more probes */
}

/* This connection is through: end the loop when it was the last one. */
static void
conn_done(struct conn *c)
{
	if (c->finished)
		return;
	c->finished = 1;
	if (c->counted && --B.running == 0)
		event_base_loopbreak(B.base);
}

/* Generate one request into c's next slot; 0 when there is none. */
static int
conn_gen(struct conn *c)
{
	struct slot *s;
	uint64_t key;
	size_t exp;
	int n;

	if (c->gen == G_NONE || B.stopping || B.issued >= B.limit)
		return 0;
	if (c->gen == G_LOAD && c->next >= c->nkeys)
		return 0;
	if ((s = conn_push(c, c->gen == G_WHATSAT ? K_WHATSAT : K_IAMAT)) ==
	    NULL)
		return 0;
	switch (c->gen) {
	case G_IAMAT:
		key = (uint64_t)c->idx + c->stride *
		    (rng_next(&c->rng) % c->nkeys);
		break;
	case G_LOAD:
		key = (uint64_t)c->idx + c->stride * c->next++;
		break;
	default:
		key = rng_next(&c->rng) % B.nwsuf;
		break;
	}
	s->key = key;
	if (c->gen == G_WHATSAT) {
		n = snprintf(s->line, sizeof(s->line), "WHATSAT %s%" PRIu64
		    " %s %d\n", c->prefix, key, opt.radius, opt.bound);
		s->len = (uint16_t)n;
		s->expect = B.wsuf[key];
		s->explen = (uint16_t)strlen(B.wsuf[key]);
	} else {
		s->len = (uint16_t)build_iamat(s->line, sizeof(s->line),
		    c->prefix, "", key, c->fixed_loc, &c->rng, &c->last_rt,
		    &exp);
		s->expect = s->line + exp;
		s->explen = (uint16_t)(s->len - exp - 1);
	}
	B.issued++;
	conn_queue(c, s);
	return 1;
}

/* Send the next batch: depth requests, all stamped with the same time
 * just before the write (the way redis-benchmark -P counts). */
static void
conn_fill(struct conn *c)
{
	unsigned i, first = c->count;
	uint64_t t;
	int d;

	if (c->dead || c->finished)
		return;
	for (d = 0; d < opt.depth; d++)
		if (!conn_gen(c))
			break;
	if (c->count == 0) {
		conn_done(c);
		return;
	}
	t = now_ns();
	for (i = first; i < c->count; i++)
		c->slots[(c->head + i) % c->cap].t = t;
	conn_flush(c);
}

/* Check one complete reply to the head request and account for it. */
static void
conn_reply(struct conn *c, const char *p, size_t len, uint64_t now)
{
	struct slot *s = &c->slots[c->head];
	const char *nl;
	uint64_t t = s->t;
	int ok = 0, held = 0, kind = s->kind;
	size_t ll;

	nl = memchr(p, '\n', len);
	ll = (size_t)(nl - p);
	if (kind == K_IAMAT)
		ok = check_at(p, ll, s->expect, s->explen);
	else if (p[0] == '?') {
		ok = kind == K_POLL && ll > 10 &&
		    memcmp(p, "? WHATSAT ", 10) == 0;
	} else {
		held = 1;
		ok = len >= ll + 4 && check_at(p, ll, s->expect, s->explen) &&
		    check_json(nl + 1, len - ll - 3, kind == K_WHATSAT);
	}
	if (!ok)
		bench_error("bad reply to %.*s: %.*s", (int)s->len - 1,
		    s->line, (int)(len > 300 ? 300 : len - 1), p);
	c->head = (c->head + 1) % c->cap;
	c->count--;
	stats_add(c->st, ok, t, now);
	if (c->on_reply != NULL)
		c->on_reply(c, ok, held, t, now);
}

/* Replies arrived: check them, then send the next batch when all of
 * the current one is answered. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	size_t off = 0, r;
	uint64_t now;
	ssize_t n;

	(void)what;
	if (c->icap - c->ilen < 16384) {
		if (c->icap >= MAX_REPLY) {
			conn_fail(c, "reply too long");
			return;
		}
		c->icap *= 2;
		if ((c->in = realloc(c->in, c->icap)) == NULL)
			fatalx("out of memory");
	}
	n = recv(fd, c->in + c->ilen, c->icap - c->ilen, 0);
	if (n == 0) {
		conn_fail(c, "closed by the server");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_fail(c, strerror(errno));
		return;
	}
	c->ilen += (size_t)n;
	now = now_ns();
	while (c->count > 0 && !c->dead) {
		r = reply_len(c->slots[c->head].kind, c->in + off,
		    c->ilen - off);
		if (r == 0)
			break;
		conn_reply(c, c->in + off, r, now);
		off += r;
	}
	if (c->dead)
		return;
	if (c->count == 0 && off < c->ilen) {
		bench_error("unexpected bytes from the server: %.*s",
		    (int)(c->ilen - off > 200 ? 200 : c->ilen - off),
		    c->in + off);
		conn_fail(c, "unexpected bytes");
		return;
	}
	memmove(c->in, c->in + off, c->ilen - off);
	c->ilen -= off;
	if (c->count == 0 && c->gen != G_NONE)
		conn_fill(c);
}

/* -t expired: no new batches; the loop ends when all are answered. */
static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	int i;

	(void)fd;
	(void)what;
	(void)arg;
	B.stopping = 1;
	for (i = 0; i < B.nconns; i++)
		if (B.conns[i]->count == 0)
			conn_done(B.conns[i]);
}

/* Nothing finished in time: count what is outstanding as errors. */
static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	bench_error("timed out after %.1f s", opt.timeout);
	B.st.errors++;
	event_base_loopbreak(B.base);
}

/*
 * C connections generating requests with gen until -t/-n (or, for
 * G_LOAD, until each key < keyspace is stored).  Fills B.st.
 * Returns 0, or -1 if the run timed out.
 */
static int
run_pipelined(enum gen gen, const char *prefix, int fixed_loc)
{
	struct timeval tv;
	struct event *stop = NULL, *tmo;
	int i;

	if (gen != G_WHATSAT && opt.keyspace < (uint64_t)opt.conns) {
		fprintf(stderr, "herd-bench: keyspace %" PRIu64 " < %d"
		    " connections; using %d\n", opt.keyspace, opt.conns,
		    opt.conns);
		opt.keyspace = (uint64_t)opt.conns;
	}
	if ((B.conns = calloc((size_t)opt.conns, sizeof(*B.conns))) == NULL)
		fatalx("out of memory");
	B.nconns = opt.conns;
	for (i = 0; i < opt.conns; i++) {
		B.conns[i] = conn_new(i, opt.depth, gen, &B.st);
		B.conns[i]->prefix = prefix;
		B.conns[i]->fixed_loc = fixed_loc;
		B.conns[i]->counted = 1;
		B.conns[i]->stride = (uint64_t)opt.conns;
		B.conns[i]->nkeys = (uint64_t)i < opt.keyspace ?
		    (opt.keyspace - (uint64_t)i + (uint64_t)opt.conns - 1) /
		    (uint64_t)opt.conns : 0;
		if (B.conns[i]->nkeys == 0 && gen == G_IAMAT)
			B.conns[i]->nkeys = 1;
	}
	B.running = opt.conns;
	B.limit = opt.nreq ? opt.nreq : UINT64_MAX;
	B.stopping = 0;
	B.issued = 0;
	if (opt.secs > 0 && gen != G_LOAD) {
		stop = evtimer_new(B.base, stop_cb, NULL);
		tv.tv_sec = (time_t)opt.secs;
		tv.tv_usec = (suseconds_t)((opt.secs - (double)tv.tv_sec) *
		    1e6);
		evtimer_add(stop, &tv);
	}
	tmo = evtimer_new(B.base, timeout_cb, NULL);
	tv.tv_sec = (time_t)(opt.timeout + opt.secs + (gen == G_LOAD ?
	    (double)opt.keyspace / 5000 : 0));
	tv.tv_usec = 0;
	evtimer_add(tmo, &tv);
	B.t_start = now_ns();
	for (i = 0; i < opt.conns; i++)
		conn_fill(B.conns[i]);
	if (B.running > 0)
		event_base_dispatch(B.base);
	if (stop != NULL)
		event_free(stop);
	event_free(tmo);
	for (i = 0; i < opt.conns; i++)
		B.st.errors += B.conns[i]->count;
	return B.running > 0 ? -1 : 0;
}

/* whatsat: store K clients (random locations) and warm the node's
 * places cache with one WHATSAT each; remember each AT suffix. */
static int
preload_whatsat(void)
{
	struct rbuf rb = { NULL, 0, 0, 0 };
	char *buf, *p;
	size_t blen, exp, len, i, k, first;
	uint64_t last = 0, rng = opt.seed + 77;
	char line[MAX_LINE];
	int fd;

	if ((B.wsuf = calloc(opt.keyspace, sizeof(*B.wsuf))) == NULL ||
	    (buf = malloc(CHECK_BATCH * MAX_LINE)) == NULL)
		fatalx("out of memory");
	B.nwsuf = opt.keyspace;
	if ((fd = tcp_connect(opt.host, opt.port, 0)) == -1)
		fatalx("connect %s:%d: %s", opt.host, opt.port,
		    strerror(errno));
	for (first = 0; first < opt.keyspace; first += CHECK_BATCH) {
		k = opt.keyspace - first < CHECK_BATCH ?
		    opt.keyspace - first : CHECK_BATCH;
		blen = 0;
		for (i = 0; i < k; i++) {
			len = build_iamat(line, sizeof(line), opt.prefix, "",
			    first + i, 0, &rng, &last, &exp);
			if ((B.wsuf[first + i] = strndup(line + exp,
			    len - exp - 1)) == NULL)
				fatalx("out of memory");
			memcpy(buf + blen, line, len);
			blen += len;
		}
		if (write_all(fd, buf, blen) == -1)
			fatalx("preload: write: %s", strerror(errno));
		for (i = 0; i < k; i++) {
			if (rb_reply(fd, &rb, K_IAMAT, &p, &len,
			    (int)(opt.timeout * 1000)) == -1)
				fatalx("preload: no reply");
			if (!check_at(p, len - 1, B.wsuf[first + i],
			    strlen(B.wsuf[first + i])))
				fatalx("preload: bad reply %.*s", (int)len, p);
		}
		blen = 0;
		for (i = 0; i < k; i++)
			blen += (size_t)snprintf(buf + blen, MAX_LINE,
			    "WHATSAT %s%zu %s %d\n", opt.prefix, first + i,
			    opt.radius, opt.bound);
		if (write_all(fd, buf, blen) == -1)
			fatalx("preload: write: %s", strerror(errno));
		for (i = 0; i < k; i++)
			if (rb_reply(fd, &rb, K_WHATSAT, &p, &len,
			    (int)(opt.timeout * 1000)) == -1)
				fatalx("preload: no WHATSAT reply");
	}
	close(fd);
	free(buf);
	free(rb.b);
	return 0;
}

/* --- oneshot -------------------------------------------------------------- */

/* Start the next one-request connection in slot o, if any is left. */
static void
oneshot_start(struct sconn *o)
{
	uint64_t key;
	int fd;

	if (B.stopping || B.issued >= B.limit) {
		o->state = SC_FREE;
		if (--B.running == 0)
			event_base_loopbreak(B.base);
		return;
	}
	B.issued++;
	key = rng_next(&B.rng) % opt.keyspace;
	o->rlen = build_iamat(o->req, sizeof(o->req), opt.prefix, "o", key,
	    0, &B.rng, &B.last_rt, &o->explen);
	o->blen = 0;
	o->t0 = now_ns();
	if ((fd = tcp_connect(opt.host, opt.port, 2)) == -1) {
		o->fd = -1;
		oneshot_end(o, 0, strerror(errno));
		return;
	}
	o->fd = fd;
	o->state = SC_CONNECTING;
	event_assign(o->ev, B.base, fd, EV_WRITE, oneshot_cb, o);
	event_add(o->ev, NULL);
}

/* Connected: send the line and half-close; then read to EOF. */
static void
oneshot_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *o = arg;
	socklen_t sl = sizeof(int);
	int err = 0;
	ssize_t n;

	(void)what;
	if (o->state == SC_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
			err = errno;
		if (err != 0) {
			oneshot_end(o, 0, strerror(err));
			return;
		}
		if (send(fd, o->req, o->rlen, MSG_NOSIGNAL) != (ssize_t)o->rlen
		    || shutdown(fd, SHUT_WR) == -1) {
			oneshot_end(o, 0, "write failed");
			return;
		}
		o->state = SC_READING;
		event_assign(o->ev, B.base, fd, EV_READ | EV_PERSIST,
		    oneshot_cb, o);
		event_add(o->ev, NULL);
		return;
	}
	n = recv(fd, o->buf + o->blen, sizeof(o->buf) - o->blen, 0);
	if (n > 0) {
		o->blen += (size_t)n;
		if (o->blen == sizeof(o->buf))
			oneshot_end(o, 0, "reply too long");
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1) {
		oneshot_end(o, 0, strerror(errno));
		return;
	}
	/* EOF: exactly one AT line. */
	if (o->blen == 0 || o->buf[o->blen - 1] != '\n' ||
	    memchr(o->buf, '\n', o->blen) != o->buf + o->blen - 1 ||
	    !check_at(o->buf, o->blen - 1, o->req + o->explen,
	    o->rlen - o->explen - 1)) {
		oneshot_end(o, 0, "bad reply");
		return;
	}
	oneshot_end(o, 1, NULL);
}

/* One request is over: account for it and start the next. */
static void
oneshot_end(struct sconn *o, int ok, const char *why)
{
	if (!ok)
		bench_error("oneshot: %s: %.*s -> %.*s", why, (int)o->rlen - 1,
		    o->req, (int)o->blen, o->buf);
	if (o->fd != -1) {
		event_del(o->ev);
		close(o->fd);
		o->fd = -1;
	}
	stats_add(&B.st, ok, o->t0, now_ns());
	if (B.st.errors > 1000) {
		B.stopping = 1;
	}
	oneshot_start(o);
}

/* --- idle ----------------------------------------------------------------- */

/* Open connections until K are open, CONNECT_INFLIGHT at a time. */
static void
idle_open_more(void)
{
	struct sconn *o;
	int fd;

	while (B.inflight < CONNECT_INFLIGHT && B.opened < (uint64_t)B.nsc) {
		o = &B.sc[B.opened++];
		o->t0 = now_ns();
		if ((fd = tcp_connect(opt.host, opt.port, 2)) == -1) {
			o->fd = -1;
			B.inflight++;
			idle_end(o, 0, strerror(errno));
			continue;
		}
		o->fd = fd;
		o->state = SC_CONNECTING;
		if ((o->ev = event_new(B.base, fd, EV_WRITE, idle_cb, o)) ==
		    NULL)
			fatalx("event_new failed");
		event_add(o->ev, NULL);
		B.inflight++;
	}
}

/* Connect done, touch reply, or (once idle) an unexpected close. */
static void
idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sconn *o = arg;
	socklen_t sl = sizeof(int);
	int err = 0;
	ssize_t n;
	char *nl;

	(void)what;
	if (o->state == SC_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
			err = errno;
		if (err != 0) {
			idle_end(o, 0, strerror(err));
			return;
		}
		event_free(o->ev);
		o->ev = event_new(B.base, fd, EV_READ | EV_PERSIST, idle_cb,
		    o);
		event_add(o->ev, NULL);
		if (!opt.touch) {
			idle_end(o, 1, NULL);
			return;
		}
		o->rlen = build_iamat(o->req, sizeof(o->req), opt.prefix, "i",
		    (uint64_t)(o - B.sc), 0, &B.rng, &B.last_rt, &o->explen);
		if (send(fd, o->req, o->rlen, MSG_NOSIGNAL) !=
		    (ssize_t)o->rlen) {
			idle_end(o, 0, "write failed");
			return;
		}
		o->state = SC_READING;
		return;
	}
	n = recv(fd, o->buf + o->blen, sizeof(o->buf) - o->blen, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || o->state != SC_READING) {
		if (o->state == SC_IDLE) {
			/* An idle connection the server closed or wrote to. */
			bench_error("idle connection %ld: %s",
			    (long)(o - B.sc), n == 0 ? "closed by the server" :
			    n < 0 ? strerror(errno) : "unexpected bytes");
			B.st.errors++;
			event_del(o->ev);
			close(o->fd);
			o->fd = -1;
			o->state = SC_DEAD;
			return;
		}
		idle_end(o, 0, n == 0 ? "closed by the server" :
		    strerror(errno));
		return;
	}
	o->blen += (size_t)n;
	if ((nl = memchr(o->buf, '\n', o->blen)) == NULL) {
		if (o->blen == sizeof(o->buf))
			idle_end(o, 0, "reply too long");
		return;
	}
	idle_end(o, (size_t)(nl - o->buf) + 1 == o->blen &&
	    check_at(o->buf, o->blen - 1, o->req + o->explen,
	    o->rlen - o->explen - 1), "bad reply");
}

/* A connection is set up (ok) or failed; open more or end the loop. */
static void
idle_end(struct sconn *o, int ok, const char *why)
{
	B.inflight--;
	if (ok) {
		o->state = SC_IDLE;
		B.established++;
	} else {
		bench_error("idle connection %ld: %s", (long)(o - B.sc), why);
		if (o->ev != NULL)
			event_del(o->ev);
		if (o->fd != -1)
			close(o->fd);
		o->fd = -1;
		o->state = SC_DEAD;
		B.sc_failed++;
	}
	stats_add(&B.st, ok, o->t0, now_ns());
	idle_open_more();
	if (B.established + B.sc_failed == (uint64_t)B.nsc)
		event_base_loopbreak(B.base);
}

/* --- propagation ---------------------------------------------------------- */

/* Send probe B.probe: IAMAT at the source, then the first WHATSAT at
 * the destination right away. */
static void
prop_probe(void)
{
	struct slot *s, *p;
	size_t exp;

	if ((s = conn_push(B.src, K_IAMAT)) == NULL)
		fatalx("propagation: source connection busy");
	s->len = (uint16_t)build_iamat(s->line, sizeof(s->line), opt.prefix,
	    "", (uint64_t)B.probe, 1, &B.rng, &B.last_rt, &exp);
	s->expect = s->line + exp;
	s->explen = (uint16_t)(s->len - exp - 1);
	memcpy(B.pexp, s->expect, s->explen);
	B.pexplen = s->explen;
	snprintf(B.probe_id, sizeof(B.probe_id), "%.*s",
	    (int)strcspn(s->expect, " "), s->expect);
	conn_queue(B.src, s);
	if ((p = conn_push(B.dst, K_POLL)) == NULL)
		fatalx("propagation: destination connection busy");
	p->len = (uint16_t)snprintf(p->line, sizeof(p->line),
	    "WHATSAT %s 1 1\n", B.probe_id);
	p->expect = B.pexp;
	p->explen = (uint16_t)B.pexplen;
	conn_queue(B.dst, p);
	B.t0 = now_ns();
	s->t = B.t0;
	conn_flush(B.src);
	B.tpoll = p->t = now_ns();
	conn_flush(B.dst);
}

/* The pause between probes is over: next probe, or the end. */
static void
prop_gap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (!B.probing) {
		/* Warm-up of the background load done. */
		B.probing = 1;
		prop_probe();
		return;
	}
	if (++B.probe >= (int)opt.nreq || B.src->dead || B.dst->dead) {
		event_base_loopbreak(B.base);
		return;
	}
	prop_probe();
}

/* The source answered a probe's IAMAT (checked by conn_reply). */
static void
prop_src_reply(struct conn *c, int ok, int held, uint64_t t, uint64_t now)
{
	(void)c;
	(void)ok;
	(void)held;
	(void)t;
	(void)now;
}

/* The destination answered a poll: poll again until it knows the
 * client; the latency is from the IAMAT's write to the write of the
 * first poll that found it (the record arrived between the previous
 * poll and this one: one round trip of resolution). */
static void
prop_dst_reply(struct conn *c, int ok, int held, uint64_t t, uint64_t now)
{
	struct slot *p;
	struct timeval tv;
	uint64_t gap;

	(void)t;
	if (ok && !held && now - B.t0 < (uint64_t)(opt.timeout * 1e9)) {
		p = conn_push(c, K_POLL);
		p->len = (uint16_t)snprintf(p->line, sizeof(p->line),
		    "WHATSAT %s 1 1\n", B.probe_id);
		p->expect = B.pexp;
		p->explen = (uint16_t)B.pexplen;
		conn_queue(c, p);
		B.tpoll = p->t = now_ns();
		conn_flush(c);
		return;
	}
	if (ok && held)
		hist_add(B.ph, B.tpoll - B.t0);
	else if (ok) {
		bench_error("probe %d not seen after %.1f s", B.probe,
		    opt.timeout);
		B.timeouts++;
		B.st.errors++;
	}
	gap = (uint64_t)opt.gap_us + rng_next(&B.rng) %
	    ((uint64_t)opt.gap_us / 2 + 1);
	tv.tv_sec = (time_t)(gap / 1000000);
	tv.tv_usec = (suseconds_t)(gap % 1000000);
	evtimer_add(B.gap_ev, &tv);
}

/* Every millisecond: send the background IAMATs due by now. */
static void
prop_pace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = NULL;
	struct slot *s;
	uint64_t now = now_ns(), t;
	unsigned i, first;
	size_t exp;
	int tries, k;

	(void)fd;
	(void)what;
	(void)arg;
	B.budget += opt.rate * (double)(now - B.t_pace) / 1e9;
	B.t_pace = now;
	if (B.budget > opt.rate / 100 + 1)
		B.budget = opt.rate / 100 + 1;		/* no bursts >10 ms */
	for (k = 0; k < B.nbgc; k++)
		B.bgc[k]->next = B.bgc[k]->count;	/* first new slot */
	while (B.budget >= 1) {
		for (tries = 0; tries < B.nbgc; tries++) {
			c = B.bgc[B.bgnext++ % B.nbgc];
			if (!c->dead && c->count + 1 < c->cap)
				break;
		}
		if (tries == B.nbgc)
			break;
		s = conn_push(c, K_IAMAT);
		s->len = (uint16_t)build_iamat(s->line, sizeof(s->line),
		    c->prefix, "", (uint64_t)c->idx + c->stride *
		    (rng_next(&c->rng) % c->nkeys), 0, &c->rng, &c->last_rt,
		    &exp);
		s->expect = s->line + exp;
		s->explen = (uint16_t)(s->len - exp - 1);
		conn_queue(c, s);
		B.budget -= 1;
	}
	t = now_ns();
	for (k = 0; k < B.nbgc; k++) {
		c = B.bgc[k];
		first = (unsigned)c->next;
		for (i = first; i < c->count; i++)
			c->slots[(c->head + i) % c->cap].t = t;
		if (c->olen > 0 && !c->dead)
			conn_flush(c);
	}
}

/* --- blocking helpers (preload, recovery) --------------------------------- */

/*
 * Read the next complete reply of kind from fd into rb; *p and *plen
 * get it, final newline(s) included, valid until the next call.
 * -1 on timeout, EOF or error.
 */
static int
rb_reply(int fd, struct rbuf *rb, int kind, char **p, size_t *plen,
    int timeout_ms)
{
	struct pollfd pfd;
	size_t r;
	ssize_t n;

	/* Drop the reply handed out last time. */
	if (rb->used > 0) {
		memmove(rb->b, rb->b + rb->used, rb->len - rb->used);
		rb->len -= rb->used;
		rb->used = 0;
	}
	for (;;) {
		if ((r = reply_len(kind, rb->b, rb->len)) > 0) {
			*p = rb->b;
			*plen = r;
			rb->used = r;
			return 0;
		}
		if (rb->cap - rb->len < 16384) {
			rb->cap = rb->cap ? rb->cap * 2 : 65536;
			if ((rb->b = realloc(rb->b, rb->cap)) == NULL)
				fatalx("out of memory");
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		n = recv(fd, rb->b + rb->len, rb->cap - rb->len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		rb->len += (size_t)n;
	}
}

/*
 * Ask fd (pipelined WHATSAT, CHECK_BATCH at a time) which of the keys
 * it holds: held[i] = 1 or 0.  Returns how many are held, -1 on error.
 */
static long
check_held(int fd, struct rbuf *rb, const char *prefix, const uint64_t *keys,
    size_t n, unsigned char *held)
{
	char out[CHECK_BATCH * 128], *p;
	size_t i, k, first, olen, plen;
	long count = 0;

	for (first = 0; first < n; first += CHECK_BATCH) {
		k = n - first < CHECK_BATCH ? n - first : CHECK_BATCH;
		olen = 0;
		for (i = 0; i < k; i++)
			olen += (size_t)snprintf(out + olen, sizeof(out) - olen,
			    "WHATSAT %s%" PRIu64 " 1 1\n", prefix,
			    keys[first + i]);
		if (write_all(fd, out, olen) == -1)
			return -1;
		for (i = 0; i < k; i++) {
			if (rb_reply(fd, rb, K_POLL, &p, &plen,
			    (int)(opt.timeout * 1000)) == -1)
				return -1;
			held[first + i] = p[0] == 'A';
			count += p[0] == 'A';
		}
	}
	return count;
}

/* Fill srv[] from `herdctl -c INI status --json`; returns the count. */
static int
herd_status(struct server *srv, int max)
{
	char *argv[] = { NULL, (char *)(uintptr_t)"-c", NULL,
	    (char *)(uintptr_t)"status", (char *)(uintptr_t)"--json", NULL };
	char *out = NULL;
	size_t len = 0, cap = 0;
	cJSON *o, *s, *v;
	int fds[2], status, n = 0;
	pid_t pid;
	ssize_t r;

	argv[0] = (char *)(uintptr_t)opt.herdctl;
	argv[2] = (char *)(uintptr_t)opt.ini;
	if (pipe(fds) == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(opt.herdctl, argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if ((out = realloc(out, cap)) == NULL)
				fatalx("out of memory");
		}
		r = read(fds[0], out + len, cap - len - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (out == NULL)
		return -1;
	out[len] = '\0';
	o = cJSON_Parse(out);
	free(out);
	if (o == NULL)
		return -1;
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(o, "servers")) {
		if (n == max)
			break;
		memset(&srv[n], 0, sizeof(srv[n]));
		if ((v = cJSON_GetObjectItem(s, "name")) != NULL &&
		    cJSON_IsString(v))
			snprintf(srv[n].name, sizeof(srv[n].name), "%s",
			    v->valuestring);
		if ((v = cJSON_GetObjectItem(s, "state")) != NULL &&
		    cJSON_IsString(v))
			snprintf(srv[n].state, sizeof(srv[n].state), "%s",
			    v->valuestring);
		if ((v = cJSON_GetObjectItem(s, "pid")) != NULL &&
		    cJSON_IsNumber(v))
			srv[n].pid = (pid_t)v->valueint;
		if ((v = cJSON_GetObjectItem(s, "port")) != NULL &&
		    cJSON_IsNumber(v))
			srv[n].port = v->valueint;
		n++;
	}
	cJSON_Delete(o);
	return n;
}

/* Poll host:port until it knows client prefix<key>, up to secs. */
static int
wait_held(const char *host, int port, const char *prefix, uint64_t key,
    double secs)
{
	uint64_t deadline = now_ns() + (uint64_t)(secs * 1e9);
	struct rbuf rb = { NULL, 0, 0, 0 };
	unsigned char held = 0;
	int fd, rc = -1;

	if ((fd = tcp_connect(host, port, 0)) == -1)
		return -1;
	while (now_ns() < deadline) {
		if (check_held(fd, &rb, prefix, &key, 1, &held) == -1)
			break;
		if (held) {
			rc = 0;
			break;
		}
		usleep(1000);
	}
	close(fd);
	free(rb.b);
	return rc;
}

/* --- output --------------------------------------------------------------- */

/* One summary line of latency figures. */
static void
print_latency(const char *what, const struct hist *h)
{
	if (h->n == 0) {
		printf("  %-12s no samples\n", what);
		return;
	}
	printf("  %-12s min %.1f  p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f"
	    "  mean %.1f us (%" PRIu64 " samples)\n", what,
	    (double)h->min / 1000, hist_us(h, 0.50), hist_us(h, 0.99),
	    hist_us(h, 0.999), (double)h->max / 1000,
	    h->sum / (double)h->n / 1000, h->n);
}

/* Raise RLIMIT_NOFILE to want (the hard limit too when allowed). */
static void
raise_nofile(rlim_t want)
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
		fatalx("need %lu file descriptors; the hard limit is %lu (run"
		    " as root or raise ulimit -Hn)", (unsigned long)want,
		    (unsigned long)rl.rlim_max);
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatalx("setrlimit: %s", strerror(errno));
}

/* --- modes ---------------------------------------------------------------- */

/* iamat, whatsat and load: C pipelined connections. */
static int
mode_pipelined(void)
{
	struct procsnap before, after;
	uint64_t herd_before = 0, herd_after = 0, cpu;
	enum gen gen;
	double secs, rps;
	int nherd = 0, timed_out;
	char herd[64] = "";

	gen = opt.mode == M_IAMAT ? G_IAMAT : opt.mode == M_LOAD ? G_LOAD :
	    G_WHATSAT;
	if (opt.mode == M_LOAD)
		opt.keyspace = opt.records;
	if (opt.mode == M_WHATSAT)
		preload_whatsat();
	B.st.h = hist_new();
	proc_snap(opt.pid, &before);
	if (opt.also_pids != NULL)
		herd_before = pids_cpu_us(opt.also_pids, &nherd);
	timed_out = run_pipelined(gen, opt.prefix, 0);
	proc_snap(opt.pid, &after);
	if (opt.mode == M_LOAD && after.ok) {
		/* Let the node settle (flood buffers drain) before RSS. */
		usleep(300000);
		proc_snap(opt.pid, &after);
	}
	if (opt.also_pids != NULL)
		herd_after = pids_cpu_us(opt.also_pids, &nherd);
	secs = (double)(B.st.t_last - B.t_start) / 1e9;
	rps = secs > 0 ? (double)B.st.done / secs : 0;
	cpu = after.ok && before.ok ? after.cpu_us - before.cpu_us : 0;

	printf("%s: %d connections, depth %d, %s %" PRIu64 ", server %s"
	    " (pid %ld)\n", mode_names[opt.mode], opt.conns, opt.depth,
	    opt.mode == M_LOAD ? "records" : "keyspace", opt.keyspace,
	    B.server[0] ? B.server : "?", (long)opt.pid);
	printf("  %" PRIu64 " requests in %.3f s: %.0f requests/s, %" PRIu64
	    " errors%s\n", B.st.done, secs, rps, B.st.errors,
	    timed_out ? " (timed out)" : "");
	print_latency("latency", B.st.h);
	if (before.ok && after.ok)
		printf("  server CPU %.3f s: %.2f us per request; RSS %ld ->"
		    " %ld kB\n", (double)cpu / 1e6, B.st.done ?
		    (double)cpu / (double)B.st.done : 0, before.rss_kb,
		    after.rss_kb);
	if (nherd > 0) {
		snprintf(herd, sizeof(herd), " herd_cpu_us_per_req=%.3f",
		    B.st.done ? (double)(herd_after + cpu - herd_before) /
		    (double)B.st.done : 0);
		printf("  herd CPU (%d more processes): %.2f us per request\n",
		    nherd, B.st.done ? (double)(herd_after + cpu -
		    herd_before) / (double)B.st.done : 0);
	}
	if (opt.mode == M_LOAD && before.ok && after.ok && B.st.done > 0)
		printf("  RSS growth %.1f MB: %.0f bytes per record\n",
		    (double)(after.rss_kb - before.rss_kb) / 1024,
		    (double)(after.rss_kb - before.rss_kb) * 1024 /
		    (double)B.st.done);
	printf("RESULT mode=%s conns=%d depth=%d keyspace=%" PRIu64
	    " reqs=%" PRIu64 " secs=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f"
	    " p999_us=%.1f max_us=%.1f errors=%" PRIu64
	    " cpu_us_per_req=%.3f%s rss_before_kb=%ld rss_after_kb=%ld"
	    " pid=%ld", mode_names[opt.mode], opt.conns, opt.depth,
	    opt.keyspace,
	    B.st.done, secs, rps, hist_us(B.st.h, 0.5), hist_us(B.st.h, 0.99),
	    hist_us(B.st.h, 0.999), (double)B.st.h->max / 1000, B.st.errors,
	    B.st.done ? (double)cpu / (double)B.st.done : 0, herd,
	    before.rss_kb, after.rss_kb, (long)opt.pid);
	if (opt.mode == M_LOAD)
		printf(" records=%" PRIu64 " bytes_per_record=%.0f",
		    B.st.done, B.st.done ? (double)(after.rss_kb -
		    before.rss_kb) * 1024 / (double)B.st.done : 0);
	printf("\n");
	return B.st.errors == 0 && !timed_out ? 0 : 1;
}

/* oneshot: C at a time, a new connection per IAMAT. */
static int
mode_oneshot(void)
{
	struct procsnap before, after;
	struct event *stop = NULL;
	struct timeval tv;
	uint64_t cpu;
	double secs, rps;
	int i;

	B.st.h = hist_new();
	if ((B.sc = calloc((size_t)opt.conns, sizeof(*B.sc))) == NULL)
		fatalx("out of memory");
	B.nsc = opt.conns;
	B.limit = opt.nreq ? opt.nreq : UINT64_MAX;
	for (i = 0; i < opt.conns; i++) {
		B.sc[i].fd = -1;
		if ((B.sc[i].ev = malloc(event_get_struct_event_size())) ==
		    NULL)
			fatalx("out of memory");
	}
	if (opt.secs > 0) {
		stop = evtimer_new(B.base, stop_cb, NULL);
		tv.tv_sec = (time_t)opt.secs;
		tv.tv_usec = (suseconds_t)((opt.secs - (double)tv.tv_sec) *
		    1e6);
		evtimer_add(stop, &tv);
	}
	proc_snap(opt.pid, &before);
	B.running = opt.conns;
	B.t_start = now_ns();
	for (i = 0; i < opt.conns; i++)
		oneshot_start(&B.sc[i]);
	if (B.running > 0)
		event_base_dispatch(B.base);
	proc_snap(opt.pid, &after);
	if (stop != NULL)
		event_free(stop);
	secs = (double)(B.st.t_last - B.t_start) / 1e9;
	rps = secs > 0 ? (double)B.st.done / secs : 0;
	cpu = after.ok && before.ok ? after.cpu_us - before.cpu_us : 0;
	printf("oneshot: %d concurrent, one connection per IAMAT, server %s"
	    " (pid %ld)\n", opt.conns, B.server[0] ? B.server : "?",
	    (long)opt.pid);
	printf("  %" PRIu64 " requests in %.3f s: %.0f requests/s, %" PRIu64
	    " errors\n", B.st.done, secs, rps, B.st.errors);
	print_latency("latency", B.st.h);
	if (before.ok && after.ok)
		printf("  server CPU %.3f s: %.2f us per request\n",
		    (double)cpu / 1e6, B.st.done ? (double)cpu /
		    (double)B.st.done : 0);
	printf("RESULT mode=oneshot conns=%d depth=1 keyspace=%" PRIu64
	    " reqs=%" PRIu64 " secs=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f"
	    " p999_us=%.1f max_us=%.1f errors=%" PRIu64 " cpu_us_per_req=%.3f"
	    " rss_before_kb=%ld rss_after_kb=%ld pid=%ld\n", opt.conns,
	    opt.keyspace,
	    B.st.done, secs, rps, hist_us(B.st.h, 0.5), hist_us(B.st.h, 0.99),
	    hist_us(B.st.h, 0.999), (double)B.st.h->max / 1000, B.st.errors,
	    B.st.done ? (double)cpu / (double)B.st.done : 0, before.rss_kb,
	    after.rss_kb, (long)opt.pid);
	return B.st.errors == 0 ? 0 : 1;
}

/* idle: K connections that stay open; node RSS before, with, after. */
static int
mode_idle(void)
{
	struct procsnap before, with, closed;
	struct event *tmo;
	struct timeval tv;
	long fds_before, fds_with = -1, lim;
	uint64_t deadline;
	double secs;
	int i;

	raise_nofile((rlim_t)opt.idle + 64);
	if ((lim = proc_nofile_limit(opt.pid)) > 0 && lim < opt.idle + 32)
		fprintf(stderr, "herd-bench: warning: the node may open only"
		    " %ld files (RLIMIT_NOFILE)\n", lim);
	B.st.h = hist_new();
	if ((B.sc = calloc((size_t)opt.idle, sizeof(*B.sc))) == NULL)
		fatalx("out of memory");
	B.nsc = opt.idle;
	for (i = 0; i < B.nsc; i++)
		B.sc[i].fd = -1;
	fds_before = proc_fd_count(opt.pid);
	proc_snap(opt.pid, &before);
	tmo = evtimer_new(B.base, timeout_cb, NULL);
	tv.tv_sec = (time_t)opt.timeout;
	tv.tv_usec = 0;
	evtimer_add(tmo, &tv);
	B.t_start = now_ns();
	idle_open_more();
	if (B.established + B.sc_failed < (uint64_t)B.nsc)
		event_base_dispatch(B.base);
	secs = (double)(now_ns() - B.t_start) / 1e9;
	event_free(tmo);
	/* Wait until the node has accepted them all, then let it settle. */
	deadline = now_ns() + (uint64_t)(opt.timeout * 1e9);
	while (fds_before >= 0 && now_ns() < deadline) {
		fds_with = proc_fd_count(opt.pid);
		if (fds_with >= fds_before + (long)B.established)
			break;
		usleep(10000);
	}
	usleep(200000);
	/* Idle connections the server dropped meanwhile are errors. */
	event_base_loop(B.base, EVLOOP_NONBLOCK);
	fds_with = proc_fd_count(opt.pid);
	proc_snap(opt.pid, &with);
	for (i = 0; i < B.nsc; i++) {
		if (B.sc[i].ev != NULL)
			event_free(B.sc[i].ev);
		if (B.sc[i].fd != -1)
			close(B.sc[i].fd);
	}
	deadline = now_ns() + 5 * NS;
	while (fds_before >= 0 && now_ns() < deadline &&
	    proc_fd_count(opt.pid) > fds_before)
		usleep(10000);
	usleep(200000);
	proc_snap(opt.pid, &closed);
	printf("idle: %d connections%s to %s:%d (pid %ld)\n", opt.idle,
	    opt.touch ? " (one IAMAT each, then idle)" : "", opt.host,
	    opt.port, (long)opt.pid);
	printf("  %" PRIu64 " established in %.3f s, %" PRIu64 " failed;"
	    " node fds %ld -> %ld\n", B.established, secs, B.sc_failed,
	    fds_before, fds_with);
	print_latency("setup", B.st.h);
	printf("  node RSS %ld kB -> %ld kB with them (+%.1f MB, %.0f bytes"
	    " per connection) -> %ld kB after closing\n", before.rss_kb,
	    with.rss_kb, (double)(with.rss_kb - before.rss_kb) / 1024,
	    B.established ? (double)(with.rss_kb - before.rss_kb) * 1024 /
	    (double)B.established : 0, closed.rss_kb);
	printf("RESULT mode=idle conns=%d depth=1 reqs=%" PRIu64
	    " secs=%.3f rps=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f"
	    " max_us=%.1f errors=%" PRIu64 " cpu_us_per_req=%.3f"
	    " rss_before_kb=%ld rss_after_kb=%ld rss_growth_kb=%ld"
	    " bytes_per_conn=%.0f rss_closed_kb=%ld fds_before=%ld"
	    " fds_after=%ld\n", opt.idle, B.established, secs,
	    secs > 0 ? (double)B.established / secs : 0, hist_us(B.st.h, 0.5),
	    hist_us(B.st.h, 0.99), hist_us(B.st.h, 0.999),
	    (double)B.st.h->max / 1000, B.st.errors,
	    B.established && with.ok && before.ok ? (double)(with.cpu_us -
	    before.cpu_us) / (double)B.established : 0, before.rss_kb,
	    with.rss_kb, with.rss_kb - before.rss_kb, B.established ?
	    (double)(with.rss_kb - before.rss_kb) * 1024 /
	    (double)B.established : 0, closed.rss_kb, fds_before, fds_with);
	return B.st.errors == 0 && B.established == (uint64_t)opt.idle ? 0 :
	    1;
}

/* propagation: probes IAMAT at -p, polls --to-port; optional load. */
static int
mode_propagation(void)
{
	struct procsnap sb, sa, db, da;
	struct timeval tv;
	struct event *tmo;
	uint64_t t_end, sent;
	double bg_secs, bg_rps;
	const char *host = opt.host;
	int port = opt.port, i;
	static char bgprefix[MAX_PREFIX + 8];

	snprintf(bgprefix, sizeof(bgprefix), "%sl", opt.prefix);
	B.ph = hist_new();
	B.bg.h = hist_new();
	B.src = conn_new(0, 4, G_NONE, &B.aux);
	B.src->on_reply = prop_src_reply;
	opt.host = opt.to_host;
	opt.port = opt.to_port;
	B.dst = conn_new(1, 4, G_NONE, &B.polls);
	B.dst->on_reply = prop_dst_reply;
	opt.host = host;
	opt.port = port;
	if (opt.rate > 0) {
		if ((B.bgc = calloc((size_t)opt.load_conns, sizeof(*B.bgc))) ==
		    NULL)
			fatalx("out of memory");
		B.nbgc = opt.load_conns;
		if (opt.keyspace < (uint64_t)B.nbgc)
			opt.keyspace = (uint64_t)B.nbgc;
		for (i = 0; i < B.nbgc; i++) {
			B.bgc[i] = conn_new(i, PACED_DEPTH, G_NONE, &B.bg);
			B.bgc[i]->prefix = bgprefix;
			B.bgc[i]->stride = (uint64_t)B.nbgc;
			B.bgc[i]->nkeys = (opt.keyspace - (uint64_t)i +
			    (uint64_t)B.nbgc - 1) / (uint64_t)B.nbgc;
		}
	}
	B.gap_ev = evtimer_new(B.base, prop_gap_cb, NULL);
	proc_snap(opt.pid, &sb);
	proc_snap(opt.to_pid, &db);
	B.t_start = B.t_bg_start = B.t_pace = now_ns();
	if (opt.rate > 0) {
		B.pace_ev = event_new(B.base, -1, EV_PERSIST, prop_pace_cb,
		    NULL);
		tv.tv_sec = 0;
		tv.tv_usec = 1000;
		event_add(B.pace_ev, &tv);
		tv.tv_usec = 500000;		/* load warm-up */
	} else
		tv.tv_usec = 1000;
	tv.tv_sec = 0;
	evtimer_add(B.gap_ev, &tv);
	tmo = evtimer_new(B.base, timeout_cb, NULL);
	tv.tv_sec = (time_t)(opt.timeout + (double)opt.nreq * 0.05);
	tv.tv_usec = 0;
	evtimer_add(tmo, &tv);
	event_base_dispatch(B.base);
	t_end = now_ns();
	proc_snap(opt.pid, &sa);
	proc_snap(opt.to_pid, &da);
	if (B.pace_ev != NULL)
		event_free(B.pace_ev);
	event_free(B.gap_ev);
	event_free(tmo);
	bg_secs = (double)(t_end - B.t_bg_start) / 1e9;
	bg_rps = bg_secs > 0 ? (double)B.bg.done / bg_secs : 0;
	sent = B.bg.done + B.aux.done;
	if (sent == 0)
		sent = 1;
	B.st.errors += B.bg.errors + B.aux.errors + B.polls.errors;
	printf("propagation: IAMAT at %s:%d, polled at %s:%d, %" PRIu64
	    " probes\n", opt.host, opt.port, opt.to_host, opt.to_port,
	    B.ph->n);
	print_latency("propagation", B.ph);
	if (opt.rate > 0) {
		printf("  background: %.0f IAMAT/s asked, %.0f achieved over"
		    " %d connections, %" PRIu64 " errors\n", opt.rate, bg_rps,
		    B.nbgc, B.bg.errors);
		print_latency("background", B.bg.h);
	}
	if (sa.ok && sb.ok)
		printf("  source CPU %.3f s (%.2f us per IAMAT), destination"
		    " CPU %.3f s\n", (double)(sa.cpu_us - sb.cpu_us) / 1e6,
		    (double)(sa.cpu_us - sb.cpu_us) / (double)sent,
		    (double)(da.cpu_us - db.cpu_us) / 1e6);
	printf("RESULT mode=propagation conns=%d depth=1 reqs=%" PRIu64
	    " secs=%.3f rps=%.0f rate=%.0f p50_us=%.1f p99_us=%.1f"
	    " p999_us=%.1f max_us=%.1f timeouts=%" PRIu64 " errors=%" PRIu64
	    " load_p99_us=%.1f cpu_us_per_req=%.3f to_cpu_us_per_req=%.3f"
	    " rss_before_kb=%ld rss_after_kb=%ld\n", B.nbgc, B.ph->n,
	    bg_secs, bg_rps, opt.rate, hist_us(B.ph, 0.5), hist_us(B.ph, 0.99),
	    hist_us(B.ph, 0.999), (double)B.ph->max / 1000, B.timeouts,
	    B.st.errors, hist_us(B.bg.h, 0.99), sa.ok && sb.ok ?
	    (double)(sa.cpu_us - sb.cpu_us) / (double)sent : 0,
	    da.ok && db.ok ? (double)(da.cpu_us - db.cpu_us) / (double)sent :
	    0, sb.rss_kb, sa.rss_kb);
	return B.st.errors == 0 && B.ph->n == opt.nreq ? 0 : 1;
}

/* recovery: load R records at --node, kill -9 it, time the catch-up. */
static int
mode_recovery(void)
{
	struct server srv[MAX_SERVERS];
	struct procsnap ps;
	uint64_t t_kill, t_listen, t_sampled, t_done, *keys, *missing;
	uint64_t deadline, last_key, load_done, t_check;
	unsigned char *held;
	struct rbuf rb = { NULL, 0, 0, 0 };
	size_t nmiss, i, k, nsample, late;
	double load_secs, load_rps;
	pid_t old_pid = 0, new_pid = 0;
	int n, me = -1, fd = -1, rounds = 0, rc = 0;

	if (opt.herdctl == NULL || opt.ini == NULL || opt.node == NULL)
		fatalx("recovery needs --herdctl PATH -C INI --node NAME");
	if ((n = herd_status(srv, MAX_SERVERS)) <= 0)
		fatalx("cannot read `%s -c %s status --json`", opt.herdctl,
		    opt.ini);
	for (i = 0; i < (size_t)n; i++)
		if (strcmp(srv[i].name, opt.node) == 0)
			me = (int)i;
	if (me == -1 || srv[me].pid <= 0)
		fatalx("node %s is not running under herdctl", opt.node);
	old_pid = srv[me].pid;
	if (opt.port == 0)
		opt.port = srv[me].port;
	opt.keyspace = opt.records;

	/* 1. Load R records (one location, so WHATSAT hits the cache). */
	B.st.h = hist_new();
	if (run_pipelined(G_LOAD, opt.prefix, 1) == -1 || B.st.errors > 0)
		fatalx("recovery: loading failed (%" PRIu64 " errors)",
		    B.st.errors);
	load_done = B.st.done;
	load_secs = (double)(B.st.t_last - B.t_start) / 1e9;
	load_rps = load_secs > 0 ? (double)load_done / load_secs : 0;
	for (i = 0; i < (size_t)B.nconns; i++)
		conn_free(B.conns[i]);
	B.nconns = 0;
	/* The last key of connection 0 was written last on its stream. */
	last_key = opt.records - 1;
	/* 2. Wait until every other node holds the last records. */
	for (i = 0; i < (size_t)n; i++) {
		if ((int)i == me || strcmp(srv[i].state, "running") != 0)
			continue;
		for (k = 0; k < (size_t)opt.conns && k < opt.records; k++)
			if (wait_held(opt.host, srv[i].port, opt.prefix,
			    opt.records - 1 - k, opt.timeout) == -1)
				fatalx("recovery: %s never got record %" PRIu64,
				    srv[i].name, opt.records - 1 - k);
	}
	/* 3. kill -9, then wait until the restarted node listens. */
	if (kill(old_pid, SIGKILL) == -1)
		fatalx("kill %ld: %s", (long)old_pid, strerror(errno));
	t_kill = now_ns();
	deadline = t_kill + (uint64_t)(opt.timeout * 1e9);
	/* Its sockets close when it is dead (a zombie until reaped). */
	while (now_ns() < deadline && proc_alive(old_pid))
		usleep(200);
	while (now_ns() < deadline) {
		if ((fd = tcp_connect(opt.host, opt.port, 0)) != -1)
			break;
		usleep(500);
	}
	t_listen = now_ns();
	if (fd == -1)
		fatalx("recovery: %s did not come back within %.0f s",
		    opt.node, opt.timeout);
	/*
	 * 4. A fixed random sample of S keys plus the last one: poll the
	 * ones not yet seen until all are held.  Records are never
	 * dropped, so each key costs one found WHATSAT; the ones still
	 * missing answer "?", which is cheap.  With S = 1000, all of the
	 * sample is held only once nearly all R are (the chance that the
	 * last 1% all miss the sample is e^-10).
	 */
	nsample = (size_t)opt.sample < opt.records ? (size_t)opt.sample + 1 :
	    (size_t)opt.records;
	if ((keys = calloc(opt.records, sizeof(*keys))) == NULL ||
	    (held = calloc(opt.records, 1)) == NULL)
		fatalx("out of memory");
	keys[0] = last_key;
	for (i = 1; i < nsample; i++)
		keys[i] = nsample == opt.records ? i - 1 :
		    rng_next(&B.rng) % opt.records;
	nmiss = nsample;
	for (;;) {
		rounds++;
		if (check_held(fd, &rb, opt.prefix, keys, nmiss, held) == -1)
			fatalx("recovery: lost the connection to %s",
			    opt.node);
		for (k = 0, i = 0; i < nmiss; i++)
			if (!held[i])
				keys[k++] = keys[i];
		nmiss = k;
		if (nmiss == 0)
			break;
		if (now_ns() > deadline) {
			B.st.errors++;
			break;
		}
		usleep(1000);
	}
	t_sampled = t_done = now_ns();
	/* The restarted node's CPU so far: catching up, plus the polls. */
	if ((n = herd_status(srv, MAX_SERVERS)) > 0)
		for (i = 0; i < (size_t)n; i++)
			if (strcmp(srv[i].name, opt.node) == 0)
				new_pid = srv[i].pid;
	memset(&ps, 0, sizeof(ps));
	proc_snap(new_pid, &ps);
	/*
	 * 5. Verify every key (not timed).  Should some be missing after
	 * all, poll them until held: recover_ms then becomes that time,
	 * an upper bound that includes this verification pass.
	 */
	t_check = now_ns();
	for (i = 0; i < opt.records; i++)
		keys[i] = i;
	if (check_held(fd, &rb, opt.prefix, keys, opt.records, held) == -1)
		fatalx("recovery: lost the connection to %s", opt.node);
	t_check = now_ns() - t_check;
	missing = keys;
	for (nmiss = 0, i = 0; i < opt.records; i++)
		if (!held[i])
			missing[nmiss++] = i;
	late = nmiss;
	while (nmiss > 0 && now_ns() < deadline) {
		usleep(1000);
		if (check_held(fd, &rb, opt.prefix, missing, nmiss,
		    held) == -1)
			break;
		for (k = 0, i = 0; i < nmiss; i++)
			if (!held[i])
				missing[k++] = missing[i];
		nmiss = k;
		t_done = now_ns();
	}
	if (nmiss > 0) {
		bench_error("%zu of %" PRIu64 " records still missing",
		    nmiss, opt.records);
		B.st.errors++;
		rc = 1;
	}
	close(fd);
	if (new_pid == old_pid || new_pid == 0) {
		bench_error("%s: no new pid (was %ld)", opt.node,
		    (long)old_pid);
		rc = 1;
	}
	printf("recovery: %" PRIu64 " records loaded at %s (port %d) in %.3f"
	    " s (%.0f/s); kill -9 pid %ld\n", load_done, opt.node, opt.port,
	    load_secs, load_rps, (long)old_pid);
	printf("  listening again after %.1f ms (pid %ld)\n",
	    (double)(t_listen - t_kill) / 1e6, (long)new_pid);
	printf("  sample of %zu held after %.1f ms from listening (%d"
	    " rounds)\n", nsample, (double)(t_sampled - t_listen) / 1e6,
	    rounds);
	printf("  verification of all %" PRIu64 " took %.1f ms: %zu were"
	    " still missing%s; %" PRIu64 " held after %.1f ms\n",
	    opt.records, (double)t_check / 1e6, late, late ? " (sample too"
	    " small: recover_ms is an upper bound)" : "", opt.records - nmiss,
	    (double)(t_done - t_listen) / 1e6);
	if (ps.ok)
		printf("  restarted node at the sample: CPU %.3f s (%.2f us"
		    " per record, polls included), RSS %ld kB\n", (double)ps.cpu_us / 1e6,
		    (double)ps.cpu_us / (double)opt.records, ps.rss_kb);
	printf("RESULT mode=recovery conns=%d depth=%d reqs=%" PRIu64
	    " records=%" PRIu64 " load_rps=%.0f kill_to_listen_ms=%.1f"
	    " sample_ms=%.1f recover_ms=%.1f secs=%.3f late=%zu held=%" PRIu64
	    " errors=%" PRIu64 " cpu_us_per_req=%.3f rss_after_kb=%ld\n",
	    opt.conns, opt.depth, load_done, opt.records, load_rps,
	    (double)(t_listen - t_kill) / 1e6,
	    (double)(t_sampled - t_listen) / 1e6,
	    (double)(t_done - t_listen) / 1e6,
	    (double)(t_done - t_listen) / 1e9, late, opt.records - nmiss,
	    B.st.errors, ps.ok ? (double)ps.cpu_us / (double)opt.records : 0,
	    ps.rss_kb);
	free(keys);
	free(held);
	free(rb.b);
	return rc || B.st.errors ? 1 : 0;
}

/* --- main ----------------------------------------------------------------- */

/* A non-negative integer option, or usage error. */
static uint64_t
parse_u64(const char *what, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
		fprintf(stderr, "herd-bench: bad %s: %s\n", what, s);
		exit(EXIT_USAGE);
	}
	return (uint64_t)v;
}

/* A non-negative number option, or usage error. */
static double
parse_double(const char *what, const char *s)
{
	char *end;
	double v;

	v = strtod(s, &end);
	if (end == s || *end != '\0' || !(v >= 0) || !isfinite(v)) {
		fprintf(stderr, "herd-bench: bad %s: %s\n", what, s);
		exit(EXIT_USAGE);
	}
	return v;
}

/* Parse the command line, then run one mode. */
int
main(int argc, char *argv[])
{
	enum {
		O_PID = 256, O_ALSO, O_TOHOST, O_TOPORT, O_TOPID, O_RATE,
		O_LCONNS, O_RECORDS, O_IDLE, O_NOTOUCH, O_HERDCTL, O_NODE,
		O_SAMPLE, O_RADIUS, O_BOUND, O_STATUS, O_SEED, O_TIMEOUT,
		O_PREFIX, O_GAP, O_HELP
	};
	static const struct option longopts[] = {
		{ "pid",	required_argument,	NULL, O_PID },
		{ "also-pids",	required_argument,	NULL, O_ALSO },
		{ "to-host",	required_argument,	NULL, O_TOHOST },
		{ "to-port",	required_argument,	NULL, O_TOPORT },
		{ "to-pid",	required_argument,	NULL, O_TOPID },
		{ "rate",	required_argument,	NULL, O_RATE },
		{ "load-conns",	required_argument,	NULL, O_LCONNS },
		{ "records",	required_argument,	NULL, O_RECORDS },
		{ "idle",	required_argument,	NULL, O_IDLE },
		{ "no-touch",	no_argument,		NULL, O_NOTOUCH },
		{ "herdctl",	required_argument,	NULL, O_HERDCTL },
		{ "node",	required_argument,	NULL, O_NODE },
		{ "sample",	required_argument,	NULL, O_SAMPLE },
		{ "radius",	required_argument,	NULL, O_RADIUS },
		{ "bound",	required_argument,	NULL, O_BOUND },
		{ "expect-status", required_argument,	NULL, O_STATUS },
		{ "seed",	required_argument,	NULL, O_SEED },
		{ "timeout",	required_argument,	NULL, O_TIMEOUT },
		{ "prefix",	required_argument,	NULL, O_PREFIX },
		{ "gap-us",	required_argument,	NULL, O_GAP },
		{ "help",	no_argument,		NULL, O_HELP },
		{ NULL,		0,			NULL, 0 }
	};
	static char prefix[MAX_PREFIX + 1];
	int ch, keyspace_set = 0, rc;
	size_t m;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0))
		usage(stdout, 0);
	if (argc < 2 || argv[1][0] == '-')
		usage(stderr, EXIT_USAGE);
	for (m = 0; m < sizeof(mode_names) / sizeof(mode_names[0]); m++)
		if (strcmp(argv[1], mode_names[m]) == 0)
			break;
	if (m == sizeof(mode_names) / sizeof(mode_names[0])) {
		fprintf(stderr, "herd-bench: unknown mode %s\n", argv[1]);
		usage(stderr, EXIT_USAGE);
	}
	opt.mode = (enum mode)m;
	opt.host = "127.0.0.1";
	opt.to_host = NULL;
	opt.conns = 10;
	opt.depth = 1;
	opt.keyspace = 100000;
	opt.load_conns = 10;
	opt.touch = 1;
	opt.sample = 1000;
	opt.radius = "10";
	opt.bound = 5;
	opt.expect_status = "OK";
	opt.seed = (uint64_t)getpid() ^ (uint64_t)time(NULL);
	opt.timeout = 30;
	opt.gap_us = 2000;
	argv++;
	argc--;
	while ((ch = getopt_long(argc, argv, "h:p:c:d:t:n:k:C:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'h':
			opt.host = optarg;
			break;
		case 'p':
			opt.port = (int)parse_u64("port", optarg);
			break;
		case 'c':
			opt.conns = (int)parse_u64("connections", optarg);
			break;
		case 'd':
			opt.depth = (int)parse_u64("depth", optarg);
			break;
		case 't':
			opt.secs = parse_double("seconds", optarg);
			break;
		case 'n':
			opt.nreq = parse_u64("requests", optarg);
			break;
		case 'k':
			opt.keyspace = parse_u64("keyspace", optarg);
			keyspace_set = 1;
			break;
		case 'C':
			opt.ini = optarg;
			break;
		case O_PID:
			opt.pid = (pid_t)parse_u64("pid", optarg);
			break;
		case O_ALSO:
			opt.also_pids = optarg;
			break;
		case O_TOHOST:
			opt.to_host = optarg;
			break;
		case O_TOPORT:
			opt.to_port = (int)parse_u64("port", optarg);
			break;
		case O_TOPID:
			opt.to_pid = (pid_t)parse_u64("pid", optarg);
			break;
		case O_RATE:
			opt.rate = parse_double("rate", optarg);
			break;
		case O_LCONNS:
			opt.load_conns = (int)parse_u64("connections", optarg);
			break;
		case O_RECORDS:
			opt.records = parse_u64("records", optarg);
			break;
		case O_IDLE:
			opt.idle = (int)parse_u64("connections", optarg);
			break;
		case O_NOTOUCH:
			opt.touch = 0;
			break;
		case O_HERDCTL:
			opt.herdctl = optarg;
			break;
		case O_NODE:
			opt.node = optarg;
			break;
		case O_SAMPLE:
			opt.sample = (int)parse_u64("sample", optarg);
			break;
		case O_RADIUS:
			opt.radius = optarg;
			break;
		case O_BOUND:
			opt.bound = (int)parse_u64("bound", optarg);
			break;
		case O_STATUS:
			opt.expect_status = optarg;
			break;
		case O_SEED:
			opt.seed = parse_u64("seed", optarg);
			break;
		case O_TIMEOUT:
			opt.timeout = parse_double("timeout", optarg);
			break;
		case O_PREFIX:
			opt.prefix = optarg;
			break;
		case O_GAP:
			opt.gap_us = (int)parse_u64("gap", optarg);
			break;
		case O_HELP:
			usage(stdout, 0);
		default:
			usage(stderr, EXIT_USAGE);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "herd-bench: unexpected argument %s\n",
		    argv[optind]);
		usage(stderr, EXIT_USAGE);
	}
	if (opt.conns < 1 || opt.conns > 100000 || opt.depth < 1 ||
	    opt.depth > 4096 || opt.load_conns < 1 || opt.load_conns > 10000)
		fatalx("-c, -d or --load-conns out of range");
	if (opt.port == 0 && opt.mode != M_RECOVERY)
		fatalx("-p PORT is required");
	if (opt.port > 65535 || opt.to_port > 65535)
		fatalx("port out of range");
	if (opt.mode == M_WHATSAT && !keyspace_set)
		opt.keyspace = 100;
	if (opt.keyspace == 0)
		fatalx("-k must be at least 1");
	if (opt.secs == 0 && opt.nreq == 0 && opt.mode != M_PROPAGATION)
		opt.secs = 5;
	if (opt.mode == M_PROPAGATION) {
		if (opt.to_port == 0)
			fatalx("propagation needs --to-port");
		if (opt.to_host == NULL)
			opt.to_host = opt.host;
		if (opt.nreq == 0)
			opt.nreq = 200;
		if (opt.to_pid == 0)
			opt.to_pid = find_listener(opt.to_port);
	}
	if ((opt.mode == M_LOAD || opt.mode == M_RECOVERY) &&
	    opt.records == 0) {
		if (opt.nreq == 0)
			fatalx("%s needs --records R", mode_names[opt.mode]);
		opt.records = opt.nreq;
	}
	if (opt.mode == M_LOAD || opt.mode == M_RECOVERY)
		opt.nreq = 0;
	if (opt.mode == M_IDLE && opt.idle < 1)
		fatalx("idle needs --idle K");
	if (opt.prefix == NULL) {
		if (opt.mode == M_LOAD || opt.mode == M_RECOVERY ||
		    opt.mode == M_PROPAGATION)
			snprintf(prefix, sizeof(prefix), "%s%ld-",
			    opt.mode == M_PROPAGATION ? "p" : "r",
			    (long)getpid());
		else
			snprintf(prefix, sizeof(prefix), "bench-");
		opt.prefix = prefix;
	}
	if (strlen(opt.prefix) > MAX_PREFIX || strpbrk(opt.prefix,
	    " \t\r\n\f\v") != NULL)
		fatalx("--prefix: at most %d bytes, no whitespace", MAX_PREFIX);
	if (strlen(opt.radius) > 16 || strpbrk(opt.radius, " \t\r\n\f\v"))
		fatalx("bad --radius");
	if (opt.pid == 0 && opt.port != 0 && opt.mode != M_RECOVERY)
		opt.pid = find_listener(opt.port);
	if (opt.pid == 0 && opt.mode != M_RECOVERY)
		fprintf(stderr, "herd-bench: warning: no process found"
		    " listening on port %d; no CPU/RSS figures (use --pid)\n",
		    opt.port);

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	B.rng = opt.seed * 0x9E3779B97F4A7C15ULL + 12345;
	if ((B.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (opt.mode != M_IDLE && opt.conns + 64 > 1024)
		raise_nofile((rlim_t)opt.conns + 64);
	switch (opt.mode) {
	case M_IAMAT:
	case M_WHATSAT:
	case M_LOAD:
		rc = mode_pipelined();
		break;
	case M_ONESHOT:
		rc = mode_oneshot();
		break;
	case M_IDLE:
		rc = mode_idle();
		break;
	case M_PROPAGATION:
		rc = mode_propagation();
		break;
	default:
		rc = mode_recovery();
		break;
	}
	return rc;
}
