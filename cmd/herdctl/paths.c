/*
 * paths.c -- herdctl: the INI it works on (-c, $HERD_CONFIG or the default)
 * and what derives from it: its absolute path, its errors, the control
 * socket of its run directory; relative paths in the environment made
 * absolute.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "herd/config.h"
#include "herd/control.h"
#include "herd/rundir.h"
#include "herdctl.h"

const char *config_arg;	/* -c FILE, or NULL */

/* The config path as given (or default), made absolute. */
const char *
config_path(void)
{
	static char abs[PATH_MAX];
	const char *p = config_default_path(config_arg);

	if (realpath(p, abs) != NULL)
		return abs;
	return p;
}

/* The supervisor's control socket for this config. */
char *
socket_path(void)
{
	char *peek = config_peek_run_dir(config_path());
	char *dir = rundir_path(peek);
	char *path = NULL;

	free(peek);
	if (dir == NULL || asprintf(&path, "%s/%s", dir, CONTROL_SOCKET) == -1)
		path = NULL;
	free(dir);
	return path;
}

/* Print and free errs; returns EXIT_FAIL. */
int
print_config_errors(struct config_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->count; i++)
		fprintf(stderr, "herdctl: %s\n", errs->msgs[i]);
	config_errors_free(errs);
	return EXIT_FAIL;
}

/* Make $name absolute against the working directory when it is a relative
 * path (HERD_NODE_BIN without a slash is a PATH lookup: kept); -1 on error. */
int
absolute_env(const char *name)
{
	const char *v = getenv(name);
	char cwd[PATH_MAX], *abs;
	int rc;

	if (v == NULL || v[0] == '\0' || v[0] == '/' ||
	    (strcmp(name, "HERD_NODE_BIN") == 0 && strchr(v, '/') == NULL))
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    asprintf(&abs, "%s/%s", cwd, v) == -1)
		return -1;
	rc = setenv(name, abs, 1);
	free(abs);
	return rc;
}
