/*
 * iamat.c -- herd-bench's iamat mode: C connections send IAMAT for
 * random client ids of their own share of the keyspace, in batches of D.
 */
#include <stddef.h>
#include <stdint.h>

#include "bench.h"

/* The next IAMAT of c: a random key of its own partition. */
static struct slot *
iamat_gen(struct conn *c)
{
	struct slot *s;

	if ((s = conn_push(c, K_IAMAT)) == NULL)
		return NULL;
	conn_iamat(c, s, (uint64_t)c->idx + c->stride *
	    (rng_next(&c->rng) % c->nkeys));
	return s;
}

/* Run the iamat mode. */
static int
iamat_run(void)
{
	struct run r = { .gen = iamat_gen };

	return conn_report(&r, "iamat", 0);
}

const struct bench_mode mode_iamat = {
	"iamat",
"usage: herd-bench iamat -p PORT [options]\n"
"\n"
"C connections send IAMAT for random client ids (each connection its\n"
"own share of the keyspace, a random location each time), in batches\n"
"of D; every AT reply is checked byte for byte.\n"
"\n"
"Options:\n"
HELP_PIPELINED
HELP_KEYS
HELP_PREFIX
HELP_MEASURE
HELP_RESULT_PIPE("iamat")
HELP_EXIT,
	iamat_run
};
