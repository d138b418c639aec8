/*
 * cmd_restart.c -- herdctl restart: restart workers one at a time, naming
 * those kept stopped.
 */
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "herdctl.h"

/* herdctl restart: ask the supervisor to restart these workers (or all);
 * name those kept stopped. */
int
cmd_restart(int argc, char **argv)
{
	cJSON *o, *h;
	int code;

	if ((o = request_names("restart", argc, argv, 1, 120000,
	    &code)) == NULL)
		return code == EXIT_NOSUP ? EXIT_FAIL : code;
	code = print_errors(o) ? EXIT_FAIL : EXIT_OK;
	if (code == EXIT_OK && json_int(o, "restarting") != 0)
		printf("restarted\n");
	cJSON_ArrayForEach(h, cJSON_GetObjectItem(o, "held"))
		if (cJSON_IsString(h))
			printf("%s: stopped by \"herdctl stop %s\", kept"
			    " stopped (herdctl start %s runs it)\n",
			    h->valuestring, h->valuestring, h->valuestring);
	cJSON_Delete(o);
	return code;
}
