/*
 * cmd_status.c -- herdctl status: ask the supervisor, print the workers
 * (status.c) and exit by whether all run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herdctl.h"

/* herdctl status: print the workers as a table or JSON; exit 3 if some are
 * not running or cannot persist, 4 without a supervisor. */
int
cmd_status(int argc, char **argv)
{
	cJSON *o;
	int code, json = 0, i, all, n = 1;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else
			argv[n++] = argv[i];
	argc = n;
	if ((o = request_names("status", argc, argv, 1, 5000, &code)) == NULL)
		return code;
	if (print_errors(o)) {
		cJSON_Delete(o);
		return EXIT_FAIL;
	}
	if (!cJSON_IsArray(cJSON_GetObjectItem(o, "servers"))) {
		fprintf(stderr, "herdctl: malformed answer from the"
		    " supervisor (no servers)\n");
		cJSON_Delete(o);
		return EXIT_FAIL;
	}
	all = status_all_running(cJSON_GetObjectItem(o, "servers"));
	if (json)
		status_print_json(stdout, o);
	else
		status_print_table(stdout, o);
	cJSON_Delete(o);
	return all ? EXIT_OK : EXIT_NOTALL;
}
