/*
 * cmd_reload.c -- herdctl reload: have the supervisor re-read its INI (the
 * one named here, else refused) and print what changed.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herdctl.h"

/* 0 when the supervisor that answers runs our INI; else -1, said: reload
 * re-reads the supervisor's own file, never the one named here. */
static int
same_config(void)
{
	const char *mine = config_path(), *its;
	cJSON *o;
	int nosup, rc = 0;

	if ((o = request("ping", 5000, &nosup)) == NULL)
		return -1;
	its = json_str(o, "config", NULL);
	if (its != NULL && strcmp(its, mine) != 0) {
		fprintf(stderr, "herdctl: the supervisor runs %s, not %s;"
		    " nothing reloaded (reload re-reads the supervisor's own"
		    " file: edit that one, or \"herdctl stop\" and start"
		    " with -c %s)\n", its, mine, mine);
		rc = -1;
	}
	cJSON_Delete(o);
	return rc;
}

/* herdctl reload: ask the supervisor to reload; print each action but keep. */
int
cmd_reload(int argc, char **argv)
{
	cJSON *o, *a;
	int nosup, code;

	if (no_arguments(argc, argv) == -1)
		return EXIT_USAGE;
	if (same_config() == -1)
		return EXIT_FAIL;
	o = request("reload", 60000, &nosup);
	if (o == NULL)
		return EXIT_FAIL;
	code = print_errors(o) ? EXIT_FAIL : EXIT_OK;
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(o, "actions")) {
		const char *act = cJSON_GetStringValue(
		    cJSON_GetObjectItem(a, "action"));

		if (act != NULL && strcmp(act, "keep") != 0)
			printf("%s: %s\n", json_str(a, "name", "?"), act);
	}
	if (code == EXIT_OK)
		printf("reloaded\n");
	cJSON_Delete(o);
	return code;
}
