/*
 * args.c -- herdctl: a command's arguments: unknown options, stray
 * arguments, server names joined into a request line, comma lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herdctl.h"

/* Say that opt is no option of this command. */
void
unknown_option(const char *opt)
{
	fprintf(stderr, "herdctl: unknown option '%s' (herdctl COMMAND --help"
	    " lists a command's options)\n", opt);
}

/* Say what is wrong with option opt, for which getopt returned ch: its
 * value (what) is missing (':'), or it is unknown; returns EXIT_USAGE. */
int
bad_option(int ch, const char *opt, const char *what)
{
	if (ch == ':')
		fprintf(stderr, "herdctl: option '%s' needs a %s\n", opt, what);
	else
		unknown_option(opt);
	return EXIT_USAGE;
}

/* For a command that takes no arguments: 0, else the error said (an unknown
 * option, or a stray argument) and -1. */
int
no_arguments(int argc, char **argv)
{
	if (argc == 1)
		return 0;
	if (argv[1][0] == '-')
		unknown_option(argv[1]);
	else
		fprintf(stderr, "herdctl: %s takes no arguments (got '%s')\n",
		    argv[0], argv[1]);
	return -1;
}

/* "a b c" from argv[from..] for a request line; NULL (said) when one is an
 * option or no server name. */
char *
join_request(const char *cmd, int argc, char **argv, int from)
{
	size_t len = strlen(cmd) + 1;
	char *s;
	int i;

	for (i = from; i < argc; i++)
		len += strlen(argv[i]) + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	strcpy(s, cmd);
	for (i = from; i < argc; i++) {
		if (argv[i][0] == '-') {
			unknown_option(argv[i]);
			free(s);
			return NULL;
		}
		if (strchr(argv[i], ' ') != NULL ||
		    strchr(argv[i], '\n') != NULL) {
			fprintf(stderr, "herdctl: bad server name '%s'\n",
			    argv[i]);
			free(s);
			return NULL;
		}
		strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/* Split "a,b,c" into a NULL-terminated array (malloc'd). */
char **
split_list(const char *list, size_t *n)
{
	char *copy = strdup(list), *tok, *save = NULL, **v = NULL, **nv;

	*n = 0;
	if (copy == NULL)
		return NULL;
	for (tok = strtok_r(copy, ", ", &save); tok != NULL;
	    tok = strtok_r(NULL, ", ", &save)) {
		if ((nv = realloc(v, (*n + 2) * sizeof(*v))) == NULL)
			break;
		v = nv;
		v[(*n)++] = strdup(tok);
		v[*n] = NULL;
	}
	free(copy);
	return v;
}
