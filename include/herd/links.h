/*
 * links.h -- each configured link's up state, as its servers see it.
 *
 * A node reports only how many of its links are up (PEERS up total), so
 * the state of one link is inferred: a link from A to B is up when A and B
 * both run and A's missing links are all explained by neighbours that do
 * not run.  A server this supervisor does not run counts as running.
 */
#ifndef HERD_LINKS_H
#define HERD_LINKS_H

#include <cjson/cJSON.h>

#include "herd/config.h"
#include "herd/worker.h"

/* [{"from":A,"to":B,"up":bool}, ...]: one entry per server of cfg and
 * configured neighbour, in config order; NULL when out of memory. */
cJSON	*links_json(const struct herd_config *cfg, struct workers *ws);

#endif
