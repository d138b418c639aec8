/*
 * recovery.c -- herd-bench's recovery mode: load R records at a node run
 * by herdctl, kill -9 it, and time until its restarted self (the
 * supervisor restarts it) holds all R again.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench.h"

#define MAX_SERVERS	256

/* A server as herdctl status --json reports it. */
struct server {
	char		 name[64];
	char		 state[16];
	pid_t		 pid;
	int		 port;
};

/* The mode's state: what was measured, step by step. */
struct rec {
	struct run	 load;		/* the loading run; errors after it */
	uint64_t	 load_done;
	double		 load_secs, load_rps;
	pid_t		 old_pid, new_pid;
	uint64_t	 t_kill, t_listen, t_sampled, t_done, t_check;
	uint64_t	 deadline;
	size_t		 nsample, late, nmiss;
	int		 rounds;
	struct procsnap	 ps;		/* restarted node, at the sample */
};

/* Read herdctl's output on fd to EOF; a NUL-terminated string or NULL. */
static char *
rec_read_all(int fd)
{
	char *out = NULL;
	size_t len = 0, cap = 0;
	ssize_t r;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if ((out = realloc(out, cap)) == NULL)
				bench_fatal("out of memory");
		}
		r = read(fd, out + len, cap - len - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (out != NULL)
		out[len] = '\0';
	return out;
}

/* Copy the string member key of o into buf, if it is one. */
static void
rec_json_str(const cJSON *o, const char *key, char *buf, size_t size)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	if (v != NULL && cJSON_IsString(v))
		snprintf(buf, size, "%s", v->valuestring);
}

/* Fill srv[] from `herdctl -c INI status --json`; returns the count. */
static int
rec_status(struct server *srv, int max)
{
	char *argv[] = { NULL, (char *)(uintptr_t)"-c", NULL,
	    (char *)(uintptr_t)"status", (char *)(uintptr_t)"--json", NULL };
	char *out;
	cJSON *o, *s, *v;
	int fds[2], status, n = 0;
	pid_t pid;

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
	out = rec_read_all(fds[0]);
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (out == NULL)
		return -1;
	o = cJSON_Parse(out);
	free(out);
	if (o == NULL)
		return -1;
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(o, "servers")) {
		if (n == max)
			break;
		memset(&srv[n], 0, sizeof(srv[n]));
		rec_json_str(s, "name", srv[n].name, sizeof(srv[n].name));
		rec_json_str(s, "state", srv[n].state, sizeof(srv[n].state));
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

/* 1. Load R records (one location, so WHATSAT hits the cache); then
 * 2. wait until every other running node holds the last records. */
static void
rec_load(struct rec *rc, const struct server *srv, int n, int me)
{
	struct run *r = &rc->load;
	size_t i, k;

	r->gen = load_gen;
	r->once = 1;
	r->st.h = hist_new();
	if (conn_run(r, opt.prefix, 1) == -1 || r->st.errors > 0)
		bench_fatal("recovery: loading failed (%" PRIu64 " errors)",
		    r->st.errors);
	rc->load_done = r->st.done;
	rc->load_secs = (double)(r->st.t_last - r->t_start) / 1e9;
	rc->load_rps = rc->load_secs > 0 ? (double)rc->load_done /
	    rc->load_secs : 0;
	conn_run_free(r);
	/* The last keys of each connection were written last. */
	for (i = 0; i < (size_t)n; i++) {
		if ((int)i == me || strcmp(srv[i].state, "running") != 0)
			continue;
		for (k = 0; k < (size_t)opt.conns && k < opt.records; k++)
			if (sock_wait_held(opt.host, srv[i].port, opt.prefix,
			    opt.records - 1 - k, opt.timeout) == -1)
				bench_fatal("recovery: %s never got record %"
				    PRIu64, srv[i].name, opt.records - 1 - k);
	}
}

/* 3. kill -9, then wait until the restarted node listens; its socket. */
static int
rec_kill(struct rec *rc)
{
	int fd = -1;

	if (kill(rc->old_pid, SIGKILL) == -1)
		bench_fatal("kill %ld: %s", (long)rc->old_pid,
		    strerror(errno));
	rc->t_kill = now_ns();
	rc->deadline = rc->t_kill + (uint64_t)(opt.timeout * 1e9);
	/* Its sockets close when it is dead (a zombie until reaped). */
	while (now_ns() < rc->deadline && proc_alive(rc->old_pid))
		usleep(200);
	while (now_ns() < rc->deadline) {
		if ((fd = sock_connect(opt.host, opt.port, 0)) != -1)
			break;
		usleep(500);
	}
	rc->t_listen = now_ns();
	if (fd == -1)
		bench_fatal("recovery: %s did not come back within %.0f s",
		    opt.node, opt.timeout);
	return fd;
}

/* Ask fd about the first n keys; keep those still missing at the front
 * of keys; the count of those. */
static size_t
rec_poll(int fd, struct rbuf *rb, uint64_t *keys, size_t n,
    unsigned char *held)
{
	size_t i, k;

	if (sock_check_held(fd, rb, opt.prefix, keys, n, held) == -1)
		return (size_t)-1;
	for (k = 0, i = 0; i < n; i++)
		if (!held[i])
			keys[k++] = keys[i];
	return k;
}

/*
 * 4. A fixed random sample of S keys plus the last one: poll the ones
 * not yet seen until all are held.  Records are never dropped, so each
 * key costs one found WHATSAT; the ones still missing answer "?",
 * which is cheap.  With S = 1000, all of the sample is held only once
 * nearly all R are (the chance that the last 1% all miss the sample is
 * e^-10).
 */
static void
rec_sample(struct rec *rc, int fd, struct rbuf *rb, uint64_t *keys,
    unsigned char *held)
{
	uint64_t rng = bench_rng_seed();
	size_t i, nmiss;

	rc->nsample = (size_t)opt.sample < opt.records ?
	    (size_t)opt.sample + 1 : (size_t)opt.records;
	keys[0] = opt.records - 1;
	for (i = 1; i < rc->nsample; i++)
		keys[i] = rc->nsample == opt.records ? i - 1 :
		    rng_next(&rng) % opt.records;
	nmiss = rc->nsample;
	for (;;) {
		rc->rounds++;
		if ((nmiss = rec_poll(fd, rb, keys, nmiss, held)) ==
		    (size_t)-1)
			bench_fatal("recovery: lost the connection to %s",
			    opt.node);
		if (nmiss == 0)
			break;
		if (now_ns() > rc->deadline) {
			rc->load.st.errors++;
			break;
		}
		usleep(1000);
	}
	rc->t_sampled = rc->t_done = now_ns();
}

/*
 * 5. Verify every key (not timed).  Should some be missing after all,
 * poll them until held: recover_ms then becomes that time, an upper
 * bound that includes this verification pass.
 */
static void
rec_verify(struct rec *rc, int fd, struct rbuf *rb, uint64_t *keys,
    unsigned char *held)
{
	size_t i, nmiss;

	rc->t_check = now_ns();
	for (i = 0; i < opt.records; i++)
		keys[i] = i;
	if ((nmiss = rec_poll(fd, rb, keys, opt.records, held)) ==
	    (size_t)-1)
		bench_fatal("recovery: lost the connection to %s", opt.node);
	rc->t_check = now_ns() - rc->t_check;
	rc->late = nmiss;
	while (nmiss > 0 && now_ns() < rc->deadline) {
		usleep(1000);
		if ((i = rec_poll(fd, rb, keys, nmiss, held)) == (size_t)-1)
			break;
		nmiss = i;
		rc->t_done = now_ns();
	}
	rc->nmiss = nmiss;
}

/* Print the summary and the RESULT line of the recovery mode. */
static void
rec_print(const struct rec *rc)
{
	double listen_ms = (double)(rc->t_listen - rc->t_kill) / 1e6;
	double sample_ms = (double)(rc->t_sampled - rc->t_listen) / 1e6;
	double done_ms = (double)(rc->t_done - rc->t_listen) / 1e6;

	printf("recovery: %" PRIu64 " records loaded at %s (port %d) in %.3f"
	    " s (%.0f/s); kill -9 pid %ld\n", rc->load_done, opt.node,
	    opt.port, rc->load_secs, rc->load_rps, (long)rc->old_pid);
	printf("  listening again after %.1f ms (pid %ld)\n", listen_ms,
	    (long)rc->new_pid);
	printf("  sample of %zu held after %.1f ms from listening (%d"
	    " rounds)\n", rc->nsample, sample_ms, rc->rounds);
	printf("  verification of all %" PRIu64 " took %.1f ms: %zu were"
	    " still missing%s; %" PRIu64 " held after %.1f ms\n",
	    opt.records, (double)rc->t_check / 1e6, rc->late, rc->late ?
	    " (sample too small: recover_ms is an upper bound)" : "",
	    opt.records - rc->nmiss, done_ms);
	if (rc->ps.ok)
		printf("  restarted node at the sample: CPU %.3f s (%.2f us"
		    " per record, polls included), RSS %ld kB\n",
		    (double)rc->ps.cpu_us / 1e6,
		    (double)rc->ps.cpu_us / (double)opt.records,
		    rc->ps.rss_kb);
	printf("RESULT mode=recovery conns=%d depth=%d reqs=%" PRIu64
	    " records=%" PRIu64 " load_rps=%.0f kill_to_listen_ms=%.1f"
	    " sample_ms=%.1f recover_ms=%.1f secs=%.3f late=%zu held=%" PRIu64
	    " errors=%" PRIu64 " cpu_us_per_req=%.3f rss_after_kb=%ld\n",
	    opt.conns, opt.depth, rc->load_done, opt.records, rc->load_rps,
	    listen_ms, sample_ms, done_ms, done_ms / 1e3, rc->late,
	    opt.records - rc->nmiss, rc->load.st.errors, rc->ps.ok ?
	    (double)rc->ps.cpu_us / (double)opt.records : 0, rc->ps.rss_kb);
}

/* The pid of opt.node in srv[0..n), or 0. */
static pid_t
rec_pid(const struct server *srv, int n, int *me)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(srv[i].name, opt.node) == 0) {
			if (me != NULL)
				*me = i;
			return srv[i].pid;
		}
	return 0;
}

/* Run the recovery mode. */
static int
rec_run(void)
{
	struct server srv[MAX_SERVERS];
	struct rec rc;
	struct rbuf rb = { NULL, 0, 0, 0 };
	uint64_t *keys;
	unsigned char *held;
	int n, me = -1, fd, bad = 0;

	memset(&rc, 0, sizeof(rc));
	if (opt.herdctl == NULL || opt.ini == NULL || opt.node == NULL)
		bench_fatal("recovery needs --herdctl PATH -C INI --node NAME");
	if ((n = rec_status(srv, MAX_SERVERS)) <= 0)
		bench_fatal("cannot read `%s -c %s status --json`",
		    opt.herdctl, opt.ini);
	if ((rc.old_pid = rec_pid(srv, n, &me)) <= 0)
		bench_fatal("node %s is not running under herdctl", opt.node);
	if (opt.port == 0)
		opt.port = srv[me].port;
	opt.keyspace = opt.records;
	rec_load(&rc, srv, n, me);
	fd = rec_kill(&rc);
	if ((keys = calloc(opt.records, sizeof(*keys))) == NULL ||
	    (held = calloc(opt.records, 1)) == NULL)
		bench_fatal("out of memory");
	rec_sample(&rc, fd, &rb, keys, held);
	/* The restarted node's CPU so far: catching up, plus the polls. */
	if ((n = rec_status(srv, MAX_SERVERS)) > 0)
		rc.new_pid = rec_pid(srv, n, NULL);
	proc_snap(rc.new_pid, &rc.ps);
	rec_verify(&rc, fd, &rb, keys, held);
	if (rc.nmiss > 0) {
		bench_error("%zu of %" PRIu64 " records still missing",
		    rc.nmiss, opt.records);
		rc.load.st.errors++;
		bad = 1;
	}
	close(fd);
	if (rc.new_pid == rc.old_pid || rc.new_pid == 0) {
		bench_error("%s: no new pid (was %ld)", opt.node,
		    (long)rc.old_pid);
		bad = 1;
	}
	rec_print(&rc);
	free(keys);
	free(held);
	free(rb.b);
	return bad || rc.load.st.errors ? 1 : 0;
}

const struct bench_mode mode_recovery = {
	"recovery",
"usage: herd-bench recovery --herdctl PATH -C INI --node NAME --records R\n"
"                           [options]\n"
"\n"
"Loads R new records at NAME (a node of the herd that herdctl runs from\n"
"INI), waits until the other running nodes hold the last ones, kills\n"
"NAME with SIGKILL, and times until the supervisor has it listening\n"
"again and until it holds a random sample of S records plus the last\n"
"one; then checks all R (not timed).\n"
"\n"
"Options:\n"
"  --herdctl PATH     the herdctl program\n"
"  -C INI             the herd's configuration\n"
"  --node NAME        the node to kill\n"
"  --records R        records to load (or -n R)\n"
"  --sample S         random keys polled until held (default 1000)\n"
HELP_HOST
"  -p PORT            node port (default from herdctl status)\n"
HELP_CONNS
HELP_DEPTH
"  --prefix STR       client id prefix (default r<pid>-, so the records\n"
"                     are new)\n"
HELP_SEED
HELP_TIMEOUT
"\n"
"Output: a summary, then one line\n"
"  RESULT mode=recovery conns=... depth=... reqs=... records=...\n"
"         load_rps=... kill_to_listen_ms=... sample_ms=... recover_ms=...\n"
"         secs=... late=... held=... errors=... cpu_us_per_req=...\n"
"         rss_after_kb=...\n"
HELP_EXIT,
	rec_run
};
