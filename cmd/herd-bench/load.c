/*
 * load.c -- herd-bench's load mode: C connections store R new client ids
 * once each (pipelined IAMAT), and the node's RSS growth per record is
 * reported.  Its generator also loads the records of the recovery mode.
 */
#include <stddef.h>
#include <stdint.h>

#include "bench.h"

/* The next IAMAT of c: each key of its own partition once, or NULL. */
struct slot *
load_gen(struct conn *c)
{
	struct slot *s;

	if (c->next >= c->nkeys || (s = conn_push(c, K_IAMAT)) == NULL)
		return NULL;
	conn_iamat(c, s, (uint64_t)c->idx + c->stride * c->next++);
	return s;
}

/* Run the load mode. */
static int
load_run(void)
{
	struct run r = { .gen = load_gen, .once = 1 };

	opt.keyspace = opt.records;
	return conn_report(&r, "load", 1);
}

const struct bench_mode mode_load = {
	"load",
"usage: herd-bench load -p PORT --records R [options]\n"
"\n"
"C connections store R new client ids, each once (IAMAT in batches of\n"
"D, random locations); the node's RSS before and after, settled, gives\n"
"the memory cost of a record.\n"
"\n"
"Options:\n"
HELP_HOST
HELP_PORT
"  --records R        records to store (or -n R)\n"
HELP_CONNS
HELP_DEPTH
"  --prefix STR       client id prefix (default r<pid>-, so the records\n"
"                     are new)\n"
HELP_MEASURE
HELP_RESULT_PIPE("load")
"         records=... bytes_per_record=...\n"
HELP_EXIT,
	load_run
};
