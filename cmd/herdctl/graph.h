/*
 * graph.h -- the topology of a config as Graphviz DOT.
 */
#ifndef HERDCTL_GRAPH_H
#define HERDCTL_GRAPH_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "herd/config.h"

/* Write cfg's servers and links to fp as "graph herd { ... }".  status is
 * the supervisor's status answer ({"servers":[...],"links":[...]}) or
 * NULL: with it, servers are coloured by state and links drawn solid when
 * up, dashed red when down. */
void	graph_print(FILE *fp, const struct herd_config *cfg,
	    const cJSON *status);

#endif
