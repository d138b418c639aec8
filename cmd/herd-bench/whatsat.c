/*
 * whatsat.c -- herd-bench's whatsat mode: K clients are stored and the
 * node's places cache warmed first, then C connections send pipelined
 * WHATSAT for random ones of them and check the AT line and the JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* The mode's state: the expected AT suffix of each stored client. */
struct whatsat {
	char		**suffix;	/* "<id> <loc> <time>" per key */
	uint64_t	 n;
};

/* The next WHATSAT of c: a random key among the stored ones. */
static struct slot *
whatsat_gen(struct conn *c)
{
	struct whatsat *w = c->run->arg;
	struct slot *s;
	uint64_t key;

	if ((s = conn_push(c, K_WHATSAT)) == NULL)
		return NULL;
	key = rng_next(&c->rng) % w->n;
	s->key = key;
	s->len = (uint16_t)snprintf(s->line, sizeof(s->line), "WHATSAT %s%"
	    PRIu64 " %s %d\n", c->prefix, key, opt.radius, opt.bound);
	s->expect = w->suffix[key];
	s->explen = (uint16_t)strlen(w->suffix[key]);
	return s;
}

/* Store K clients (random locations) and warm the node's places cache
 * with one WHATSAT each; remember each AT suffix in w. */
static void
whatsat_preload(struct whatsat *w)
{
	struct rbuf rb = { NULL, 0, 0, 0 };
	char *buf, *p;
	size_t blen, exp, len, i, k, first;
	uint64_t last = 0, rng = opt.seed + 77;
	char line[MAX_LINE];
	int fd, tmo = (int)(opt.timeout * 1000);

	if ((w->suffix = calloc(opt.keyspace, sizeof(*w->suffix))) == NULL ||
	    (buf = malloc(CHECK_BATCH * MAX_LINE)) == NULL)
		bench_fatal("out of memory");
	w->n = opt.keyspace;
	if ((fd = sock_connect(opt.host, opt.port, 0)) == -1)
		bench_fatal("connect %s:%d: %s", opt.host, opt.port,
		    strerror(errno));
	for (first = 0; first < opt.keyspace; first += CHECK_BATCH) {
		k = opt.keyspace - first < CHECK_BATCH ?
		    opt.keyspace - first : CHECK_BATCH;
		blen = 0;
		for (i = 0; i < k; i++) {
			len = req_iamat(line, sizeof(line), opt.prefix, "",
			    first + i, 0, &rng, &last, &exp);
			if ((w->suffix[first + i] = strndup(line + exp,
			    len - exp - 1)) == NULL)
				bench_fatal("out of memory");
			memcpy(buf + blen, line, len);
			blen += len;
		}
		if (sock_write_all(fd, buf, blen) == -1)
			bench_fatal("preload: write: %s", strerror(errno));
		for (i = 0; i < k; i++) {
			if (sock_reply(fd, &rb, K_IAMAT, &p, &len, tmo) == -1)
				bench_fatal("preload: no reply");
			if (!req_check_at(p, len - 1, w->suffix[first + i],
			    strlen(w->suffix[first + i])))
				bench_fatal("preload: bad reply %.*s", (int)len,
				    p);
		}
		blen = 0;
		for (i = 0; i < k; i++)
			blen += (size_t)snprintf(buf + blen, MAX_LINE,
			    "WHATSAT %s%zu %s %d\n", opt.prefix, first + i,
			    opt.radius, opt.bound);
		if (sock_write_all(fd, buf, blen) == -1)
			bench_fatal("preload: write: %s", strerror(errno));
		for (i = 0; i < k; i++)
			if (sock_reply(fd, &rb, K_WHATSAT, &p, &len, tmo) ==
			    -1)
				bench_fatal("preload: no WHATSAT reply");
	}
	close(fd);
	free(buf);
	free(rb.b);
}

/* Run the whatsat mode. */
static int
whatsat_run(void)
{
	struct whatsat w = { NULL, 0 };
	struct run r = { .gen = whatsat_gen, .arg = &w, .shared_keys = 1 };
	uint64_t i;
	int rc;

	whatsat_preload(&w);
	rc = conn_report(&r, "whatsat", 0);
	for (i = 0; i < w.n; i++)
		free(w.suffix[i]);
	free(w.suffix);
	return rc;
}

const struct bench_mode mode_whatsat = {
	"whatsat",
"usage: herd-bench whatsat -p PORT [options]\n"
"\n"
"Stores K clients (one IAMAT each, random locations) and warms the\n"
"node's places cache with one WHATSAT each; then C connections send\n"
"WHATSAT for random ones of them in batches of D.  Every reply is\n"
"checked: the stored AT line byte for byte, then one line of legacy\n"
"Nearby Search JSON with the expected status, then a blank line.\n"
"\n"
"Options:\n"
HELP_PIPELINED
"  -k KEYSPACE        clients stored first (default 100)\n"
HELP_PREFIX
"  --radius KM        WHATSAT radius (default 10)\n"
"  --bound N          WHATSAT bound (default 5)\n"
"  --expect-status S  required JSON status (default OK; 'any')\n"
HELP_MEASURE
HELP_RESULT_PIPE("whatsat")
HELP_EXIT,
	whatsat_run
};
