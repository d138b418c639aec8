/*
 * ctl.c -- herdctl: one request to the running supervisor over its control
 * socket, its answer parsed, its errors printed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herd/control.h"
#include "herdctl.h"

/* Send a request; parse the answer.  NULL (reported) when none. */
cJSON *
request(const char *req, int timeout_ms, int *nosup)
{
	char *path = socket_path(), *ans;
	cJSON *o;

	*nosup = 0;
	if (path == NULL) {
		fprintf(stderr, "herdctl: out of memory\n");
		return NULL;
	}
	if ((ans = control_call(path, req, timeout_ms)) == NULL) {
		if (errno == ENOENT || errno == ECONNREFUSED) {
			*nosup = 1;
			fprintf(stderr, "herdctl: no supervisor is running"
			    " (no answer on %s)\n", path);
		} else
			fprintf(stderr, "herdctl: %s: %s\n", path,
			    strerror(errno));
		free(path);
		return NULL;
	}
	free(path);
	if ((o = cJSON_Parse(ans)) == NULL)
		fprintf(stderr, "herdctl: malformed answer from the"
		    " supervisor\n");
	free(ans);
	return o;
}

/* Send cmd with the server names argv[from..] and parse the answer; NULL
 * (said) when there is none, with *code the exit status: EXIT_USAGE for an
 * option or a bad name, EXIT_NOSUP when no supervisor runs, else
 * EXIT_FAIL. */
cJSON *
request_names(const char *cmd, int argc, char **argv, int from,
    int timeout_ms, int *code)
{
	char *req;
	cJSON *o;
	int nosup;

	if ((req = join_request(cmd, argc, argv, from)) == NULL) {
		*code = EXIT_USAGE;
		return NULL;
	}
	o = request(req, timeout_ms, &nosup);
	free(req);
	if (o == NULL)
		*code = nosup ? EXIT_NOSUP : EXIT_FAIL;
	return o;
}

/* Print the answer's error(s); returns 1 if it was not ok. */
int
print_errors(cJSON *o)
{
	cJSON *e, *errs = cJSON_GetObjectItem(o, "errors");
	const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(o, "error"));

	if (cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")))
		return 0;
	if (err != NULL)
		fprintf(stderr, "herdctl: %s\n", err);
	cJSON_ArrayForEach(e, errs)
		if (cJSON_IsString(e))
			fprintf(stderr, "herdctl: %s\n", e->valuestring);
	return 1;
}
