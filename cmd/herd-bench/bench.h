/*
 * bench.h -- what the files of herd-bench share: the options, the modes'
 * entries, requests and reply checks, sockets, the pipelining engine,
 * the histogram and the /proc figures.  Private to cmd/herd-bench/.
 */
#ifndef HERD_BENCH_H
#define HERD_BENCH_H

#include <sys/types.h>
#include <sys/resource.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <event2/event.h>

#define EXIT_USAGE	64
#define MAX_LINE	200		/* longest request we build */
#define MAX_PREFIX	64
#define MAX_REPLY	(16 * 1024 * 1024)
#define FIXED_LOC	"+34.068930-118.445127"
#define HIST_SUB_BITS	7
#define HIST_SUB	(1U << HIST_SUB_BITS)
#define HIST_BUCKETS	((64 - HIST_SUB_BITS + 1) * HIST_SUB)
#define CHECK_BATCH	256		/* WHATSATs per blocking round trip */
#define NS		UINT64_C(1000000000)

/* The modes, in the order of the dispatch table in main.c. */
enum mode {
	M_IAMAT, M_ONESHOT, M_WHATSAT, M_LOAD, M_PROPAGATION, M_IDLE,
	M_RECOVERY, M_COUNT
};

/* The kind of a request in flight, which decides how its reply ends. */
enum kind {
	K_IAMAT,	/* one AT line */
	K_WHATSAT,	/* AT line, JSON, blank line; "?" is an error */
	K_POLL,		/* like K_WHATSAT, but "?" (unknown) is fine */
};

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
	int		 tls;		/* --tls: TLS to a tls_port */
};

/* What every mode of the run shares: the loop and what replies said. */
struct bench {
	struct event_base *base;
	char		 server[64];	/* name seen in the first AT reply */
	int		 printed;	/* error lines printed */
};

/* One mode: its name, its help and how to run it. */
struct bench_mode {
	const char	*name;
	const char	*help;		/* herd-bench NAME --help */
	int		(*run)(void);	/* exit status */
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

struct conn;

/* A run of C pipelined connections that make their own requests. */
struct run {
	struct stats	 st;		/* measured requests */
	struct conn	**conns;
	int		 nconns;
	int		 running, stopping;
	uint64_t	 issued, limit;
	uint64_t	 t_start;
	int		 shared_keys;	/* all connections draw from all keys */
	int		 once;		/* each key once: no -t, longer wait */
	/* The mode's next request on c (from conn_push), or NULL. */
	struct slot	*(*gen)(struct conn *c);
	void		*arg;		/* the mode's state, for gen */
};

/* A long-lived client connection with requests in flight. */
struct conn {
	int		 fd;
	void		*ssl;		/* SSL *, with --tls */
	int		 idx;
	int		 dead, finished;
	int		 vital;		/* its failure ends the loop */
	int		 fixed_loc;
	struct run	*run;		/* NULL: a driver queues requests */
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

extern struct opts	opt;
extern struct bench	bench;

extern const struct bench_mode mode_iamat, mode_oneshot, mode_whatsat,
		    mode_load, mode_propagation, mode_idle, mode_recovery;

/* tls.c: a TLS client on a connected blocking socket (then made
 * non-blocking); reads and writes like recv/send (-1 with EAGAIN when
 * TLS must wait). */
void		*tls_connect(int fd);
ssize_t		 tls_read(void *ssl, void *buf, size_t len);
ssize_t		 tls_write(void *ssl, const void *buf, size_t len);
int		 tls_pending(void *ssl);
void		 tls_free(void *ssl);

/* main.c */
void		 bench_fatal(const char *, ...)
		    __attribute__((noreturn, format(printf, 1, 2)));
void		 bench_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
struct event	*bench_timer(double, event_callback_fn, void *);
uint64_t	 bench_rng_seed(void);

/* hist.c */
struct hist	*hist_new(void);
void		 hist_add(struct hist *, uint64_t);
double		 hist_us(const struct hist *, double);
void		 hist_print(const char *, const struct hist *);
void		 stats_add(struct stats *, int, uint64_t, uint64_t);

/* proc.c */
int		 proc_snap(pid_t, struct procsnap *);
long		 proc_fd_count(pid_t);
long		 proc_nofile_limit(pid_t);
int		 proc_alive(pid_t);
pid_t		 proc_listener(int);
uint64_t	 proc_cpu_us_list(const char *, int *);
void		 proc_raise_nofile(rlim_t);

/* req.c */
size_t		 req_iamat(char *, size_t, const char *, const char *,
		    uint64_t, int, uint64_t *, uint64_t *, size_t *);
int		 req_check_at(const char *, size_t, const char *, size_t);
int		 req_check_json(const char *, size_t, int);
size_t		 req_reply_len(int, const char *, size_t);

/* sock.c */
int		 sock_connect(const char *, int, int);
void		 sock_nonblock(int);
int		 sock_error(int);
int		 sock_write_all(int, const char *, size_t);
int		 sock_reply(int, struct rbuf *, int, char **, size_t *, int);
long		 sock_check_held(int, struct rbuf *, const char *,
		    const uint64_t *, size_t, unsigned char *);
int		 sock_wait_held(const char *, int, const char *, uint64_t,
		    double);

/* conn.c */
struct conn	*conn_new(const char *, int, int, int, struct stats *);
void		 conn_free(struct conn *);
struct slot	*conn_push(struct conn *, int);
void		 conn_iamat(struct conn *, struct slot *, uint64_t);
void		 conn_queue(struct conn *, struct slot *);
void		 conn_flush(struct conn *);
struct event	*conn_deadline(double, struct stats *);
int		 conn_run(struct run *, const char *, int);
void		 conn_run_free(struct run *);
int		 conn_report(struct run *, const char *, int);

/* load.c: also recovery's loader */
struct slot	*load_gen(struct conn *);

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, good enough to pick keys and locations. */
static inline uint64_t
rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Option lines that several modes' help texts share. */
#define HELP_HOST \
"  -h HOST            node address (default 127.0.0.1)\n"
#define HELP_PORT \
"  -p PORT            node port\n"
#define HELP_NREQ \
"  -n REQUESTS        stop after this many requests\n"
#define HELP_KEYS \
"  -k KEYSPACE        distinct client ids (default 100000)\n"
#define HELP_PREFIX \
"  --prefix STR       client id prefix (default bench-)\n"
#define HELP_CONNS \
"  -c CONNS           connections (default 10)\n"
#define HELP_DEPTH \
"  -d DEPTH           pipelining: a connection writes DEPTH requests, reads\n" \
"                     all DEPTH replies, then writes the next batch, as\n" \
"                     redis-benchmark -P does; latency counts from the\n" \
"                     batch's write (default 1)\n"
#define HELP_SECS \
"  -t SECONDS         run time (default 5 unless -n is given)\n"
#define HELP_SEED \
"  --seed N           random seed\n"
#define HELP_PID \
"  --pid PID          node whose CPU/RSS is read (default: the process\n" \
"                     listening on PORT, found via /proc/net/tcp)\n"
#define HELP_ALSO \
"  --also-pids LIST   comma-separated PIDs whose CPU is added up with\n" \
"                     --pid's into herd_cpu_us_per_req (the whole herd)\n"
#define HELP_TIMEOUT \
"  --timeout SECONDS  give up waiting (default 30)\n"
/* The target and load options of iamat and whatsat. */
#define HELP_TLS \
"  --tls              speak TLS (the node's tls_port; no certificate check)\n"
#define HELP_PIPELINED \
	HELP_HOST HELP_PORT HELP_CONNS HELP_DEPTH HELP_SECS HELP_NREQ HELP_TLS
/* The measuring options of iamat, whatsat and load. */
#define HELP_MEASURE \
	HELP_SEED HELP_PID HELP_ALSO HELP_TIMEOUT
#define HELP_RESULT_PIPE(mode) \
"\n" \
"Output: a summary, then one line\n" \
"  RESULT mode=" mode " conns=... depth=... keyspace=... reqs=... secs=...\n" \
"         rps=... p50_us=... p99_us=... p999_us=... max_us=... errors=...\n" \
"         cpu_us_per_req=... [herd_cpu_us_per_req=...] rss_before_kb=...\n" \
"         rss_after_kb=... pid=...\n"
#define HELP_EXIT \
"Exit status: 0 no errors, 1 errors or failure, 64 usage.\n"

#endif
