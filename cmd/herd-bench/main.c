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
 *
 * This file holds the options and the dispatch; each mode has its own
 * file (iamat.c, oneshot.c, ...); conn.c is the pipelining engine,
 * req.c builds requests and checks replies, sock.c has the sockets,
 * hist.c the histogram, proc.c the /proc figures.  bench.h is the map.
 */
#include <sys/types.h>
#include <sys/resource.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench.h"

struct opts	 opt;
struct bench	 bench;

/* The modes, indexed by enum mode. */
static const struct bench_mode *const modes[M_COUNT] = {
	&mode_iamat, &mode_oneshot, &mode_whatsat, &mode_load,
	&mode_propagation, &mode_idle, &mode_recovery
};

static void	usage(FILE *, int) __attribute__((noreturn));

/* Print the overview of every mode and option, and exit with code. */
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
HELP_HOST
"  -p PORT            node port (recovery: default from herdctl status)\n"
HELP_CONNS
HELP_DEPTH
HELP_SECS
"  -n REQUESTS        stop after this many requests (propagation: probes)\n"
"  -k KEYSPACE        distinct client ids (iamat 100000, whatsat 100)\n"
HELP_TLS
"  --prefix STR       client id prefix (default bench-; load and\n"
"                     recovery: r<pid>-, propagation: p<pid>-, so\n"
"                     the records are new)\n"
HELP_SEED
"Measuring:\n"
HELP_PID
HELP_ALSO
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
HELP_TIMEOUT
"\n"
"Output: a summary, then one line\n"
"  RESULT mode=... conns=... depth=... reqs=... secs=... rps=...\n"
"         p50_us=... p99_us=... p999_us=... cpu_us_per_req=... ...\n"
HELP_EXIT
"The options of one mode: herd-bench MODE --help\n");
	exit(code);
}

/* Print the help of one mode and exit with code. */
static void __attribute__((noreturn))
mode_usage(const struct bench_mode *m, FILE *fp, int code)
{
	fputs(m->help, fp);
	exit(code);
}

/* Print a message and exit 1. */
void
bench_fatal(const char *fmt, ...)
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
void
bench_error(const char *fmt, ...)
{
	va_list ap;

	if (bench.printed++ >= 10) {
		if (bench.printed == 11)
			fprintf(stderr, "herd-bench: (more errors not shown)\n");
		return;
	}
	fprintf(stderr, "herd-bench: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* A timer on the loop that calls cb(arg) once, secs from now. */
struct event *
bench_timer(double secs, event_callback_fn cb, void *arg)
{
	struct timeval tv;
	struct event *ev;

	if ((ev = evtimer_new(bench.base, cb, arg)) == NULL)
		bench_fatal("event_new failed");
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	evtimer_add(ev, &tv);
	return ev;
}

/* The seed of a mode's own random stream (from --seed). */
uint64_t
bench_rng_seed(void)
{
	return opt.seed * 0x9E3779B97F4A7C15ULL + 12345;
}
/* A non-negative integer option, or usage error. */
static uint64_t
bench_parse_u64(const char *what, const char *s)
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
bench_parse_double(const char *what, const char *s)
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

/* Parse the options of mode m (argv[0] is the mode); 1 when -k was
 * given. */
static int
bench_getopt(int argc, char *argv[], const struct bench_mode *m)
{
	enum {
		O_PID = 256, O_ALSO, O_TOHOST, O_TOPORT, O_TOPID, O_RATE,
		O_LCONNS, O_RECORDS, O_IDLE, O_NOTOUCH, O_HERDCTL, O_NODE,
		O_SAMPLE, O_RADIUS, O_BOUND, O_STATUS, O_SEED, O_TIMEOUT,
		O_PREFIX, O_GAP, O_TLS, O_HELP
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
		{ "tls",	no_argument,		NULL, O_TLS },
		{ "help",	no_argument,		NULL, O_HELP },
		{ NULL,		0,			NULL, 0 }
	};
	int ch, keyspace_set = 0;

	while ((ch = getopt_long(argc, argv, "h:p:c:d:t:n:k:C:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'h':
			opt.host = optarg;
			break;
		case 'p':
			opt.port = (int)bench_parse_u64("port", optarg);
			break;
		case 'c':
			opt.conns = (int)bench_parse_u64("connections", optarg);
			break;
		case 'd':
			opt.depth = (int)bench_parse_u64("depth", optarg);
			break;
		case 't':
			opt.secs = bench_parse_double("seconds", optarg);
			break;
		case 'n':
			opt.nreq = bench_parse_u64("requests", optarg);
			break;
		case 'k':
			opt.keyspace = bench_parse_u64("keyspace", optarg);
			keyspace_set = 1;
			break;
		case 'C':
			opt.ini = optarg;
			break;
		case O_PID:
			opt.pid = (pid_t)bench_parse_u64("pid", optarg);
			break;
		case O_ALSO:
			opt.also_pids = optarg;
			break;
		case O_TOHOST:
			opt.to_host = optarg;
			break;
		case O_TOPORT:
			opt.to_port = (int)bench_parse_u64("port", optarg);
			break;
		case O_TOPID:
			opt.to_pid = (pid_t)bench_parse_u64("pid", optarg);
			break;
		case O_RATE:
			opt.rate = bench_parse_double("rate", optarg);
			break;
		case O_LCONNS:
			opt.load_conns = (int)bench_parse_u64("connections",
			    optarg);
			break;
		case O_RECORDS:
			opt.records = bench_parse_u64("records", optarg);
			break;
		case O_IDLE:
			opt.idle = (int)bench_parse_u64("connections", optarg);
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
			opt.sample = (int)bench_parse_u64("sample", optarg);
			break;
		case O_RADIUS:
			opt.radius = optarg;
			break;
		case O_BOUND:
			opt.bound = (int)bench_parse_u64("bound", optarg);
			break;
		case O_STATUS:
			opt.expect_status = optarg;
			break;
		case O_SEED:
			opt.seed = bench_parse_u64("seed", optarg);
			break;
		case O_TIMEOUT:
			opt.timeout = bench_parse_double("timeout", optarg);
			break;
		case O_PREFIX:
			opt.prefix = optarg;
			break;
		case O_GAP:
			opt.gap_us = (int)bench_parse_u64("gap", optarg);
			break;
		case O_TLS:
			opt.tls = 1;
			break;
		case O_HELP:
			mode_usage(m, stdout, 0);
		default:
			mode_usage(m, stderr, EXIT_USAGE);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "herd-bench: unexpected argument %s\n",
		    argv[optind]);
		mode_usage(m, stderr, EXIT_USAGE);
	}
	return keyspace_set;
}

/* Check the options together and fill in the defaults that depend on
 * the mode. */
static void
bench_check(int keyspace_set)
{
	static char prefix[MAX_PREFIX + 1];

	if (opt.conns < 1 || opt.conns > 100000 || opt.depth < 1 ||
	    opt.depth > 4096 || opt.load_conns < 1 || opt.load_conns > 10000)
		bench_fatal("-c, -d or --load-conns out of range");
	if (opt.port == 0 && opt.mode != M_RECOVERY)
		bench_fatal("-p PORT is required");
	if (opt.port > 65535 || opt.to_port > 65535)
		bench_fatal("port out of range");
	if (opt.mode == M_WHATSAT && !keyspace_set)
		opt.keyspace = 100;
	if (opt.keyspace == 0)
		bench_fatal("-k must be at least 1");
	if (opt.secs == 0 && opt.nreq == 0 && opt.mode != M_PROPAGATION)
		opt.secs = 5;
	if (opt.mode == M_PROPAGATION) {
		if (opt.to_port == 0)
			bench_fatal("propagation needs --to-port");
		if (opt.to_host == NULL)
			opt.to_host = opt.host;
		if (opt.nreq == 0)
			opt.nreq = 200;
		if (opt.to_pid == 0)
			opt.to_pid = proc_listener(opt.to_port);
	}
	if ((opt.mode == M_LOAD || opt.mode == M_RECOVERY) &&
	    opt.records == 0) {
		if (opt.nreq == 0)
			bench_fatal("%s needs --records R",
			    modes[opt.mode]->name);
		opt.records = opt.nreq;
	}
	if (opt.mode == M_LOAD || opt.mode == M_RECOVERY)
		opt.nreq = 0;
	if (opt.mode == M_IDLE && opt.idle < 1)
		bench_fatal("idle needs --idle K");
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
		bench_fatal("--prefix: at most %d bytes, no whitespace",
		    MAX_PREFIX);
	if (strlen(opt.radius) > 16 || strpbrk(opt.radius, " \t\r\n\f\v"))
		bench_fatal("bad --radius");
	if (opt.pid == 0 && opt.port != 0 && opt.mode != M_RECOVERY)
		opt.pid = proc_listener(opt.port);
	if (opt.pid == 0 && opt.mode != M_RECOVERY)
		fprintf(stderr, "herd-bench: warning: no process found"
		    " listening on port %d; no CPU/RSS figures (use --pid)\n",
		    opt.port);
}

/* Parse the command line, then run one mode. */
int
main(int argc, char *argv[])
{
	size_t m;
	int rc;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0))
		usage(stdout, 0);
	if (argc < 2 || argv[1][0] == '-')
		usage(stderr, EXIT_USAGE);
	for (m = 0; m < M_COUNT; m++)
		if (strcmp(argv[1], modes[m]->name) == 0)
			break;
	if (m == M_COUNT) {
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
	bench_check(bench_getopt(argc - 1, argv + 1, modes[m]));
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((bench.base = event_base_new()) == NULL)
		bench_fatal("event_base_new failed");
	if (opt.mode != M_IDLE && opt.conns + 64 > 1024)
		proc_raise_nofile((rlim_t)opt.conns + 64);
	rc = modes[opt.mode]->run();
	event_base_free(bench.base);
	return rc;
}
