/*
 * cmd_graph.c -- herdctl graph: the topology as DOT (graph.c), live when a
 * supervisor answers.
 */
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "graph.h"
#include "herd/config.h"
#include "herd/control.h"
#include "herdctl.h"

/* herdctl graph: the topology as DOT, live when a supervisor answers. */
int
cmd_graph(int argc, char **argv)
{
	struct config_errors errs;
	struct herd_config *cfg;
	char *path, *ans = NULL;
	cJSON *o = NULL;

	if (no_arguments(argc, argv) == -1)
		return EXIT_USAGE;
	if ((cfg = config_load(config_path(), &errs)) == NULL)
		return print_config_errors(&errs);
	/* No supervisor is no error here: the configured topology, then. */
	if ((path = socket_path()) != NULL)
		ans = control_call(path, "status", 5000);
	free(path);
	if (ans != NULL && ((o = cJSON_Parse(ans)) == NULL ||
	    !cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")))) {
		fprintf(stderr, "herdctl: malformed answer from the supervisor;"
		    " showing the configured topology\n");
		cJSON_Delete(o);
		o = NULL;
	}
	free(ans);
	graph_print(stdout, cfg, o);
	cJSON_Delete(o);
	config_free(cfg);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}
