/*
 * herd-node -- one server of the herd, in the foreground.
 *
 * argv -> config -> node_run().  Everything else lives in src/.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd/config.h"
#include "herd/log.h"
#include "herd/node.h"

static void	usage(FILE *, int) __attribute__((noreturn));

/* Print the usage to fp and exit with code. */
static void
usage(FILE *fp, int code)
{
	fprintf(fp,
"usage: herd-node [-c FILE] [-d DIR] [--stderr] [--verbose] NAME\n"
"\n"
"Run the server NAME of the herd topology in the foreground.\n"
"\n"
"  -c, --config FILE   topology INI (default: $HERD_CONFIG, else %s)\n"
"  -d, --data-dir DIR  keep the records on disk in DIR/NAME (created,\n"
"                      mode 0700; default: [herd] data_dir, else none:\n"
"                      records in memory only); [herd] persist = no\n"
"                      turns it off, [herd] fsync sets the sync policy\n"
"  -s, --stderr        copy log lines to stderr as well as syslog (why\n"
"                      it cannot start, and a log socket it cannot reach,\n"
"                      go to stderr anyway)\n"
"  -v, --verbose       log debug lines too\n"
"  -h, --help          show this help\n"
"\n"
"Signals: TERM/INT stop gracefully, HUP re-reads the INI (neighbours,\n"
"places), USR1 logs a stats line.\n"
"Environment: HERD_CONFIG (config path), HERD_READY_FD (write READY\n"
"there once listening), HERD_PLACES_KEY (Google places API key,\n"
"overrides the INI; with neither it nor [places] api/key, WHATSAT uses\n"
"built-in GeoNames data), HERD_SECRET_FILE (peer secret when the INI\n"
"has no secret_file; herdctl sets it), HERD_PERSIST_COMPACT_MIN (log\n"
"bytes below which no compaction starts; default 4 MiB, for tests).\n"
"Exit status: 0 stopped by signal, 64 usage, 69 cannot listen,\n"
"78 configuration error (also a bad or locked data directory),\n"
"1 other fatal error.\n", HERD_DEFAULT_CONFIG);
	exit(code);
}

/* Parse the options and HERD_READY_FD, then run server NAME until stopped. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ "data-dir",	required_argument,	NULL, 'd' },
		{ "stderr",	no_argument,		NULL, 's' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	const char *config = NULL, *data_dir = NULL, *env;
	struct node *n;
	int ch, to_stderr = 0, verbose = 0, ready_fd = -1, code;
	char *end;

	while ((ch = getopt_long(argc, argv, "c:d:svh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 's':
			to_stderr = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout, 0);
		default:
			usage(stderr, HERD_EXIT_USAGE);
		}
	}
	if (argc - optind != 1)
		usage(stderr, HERD_EXIT_USAGE);
	if ((env = getenv("HERD_READY_FD")) != NULL && *env != '\0') {
		ready_fd = (int)strtol(env, &end, 10);
		if (*end != '\0' || ready_fd < 0)
			ready_fd = -1;
		unsetenv("HERD_READY_FD");
	}
	log_init("herd-node", to_stderr);
	log_set_verbose(verbose);
	n = node_new(config_default_path(config), argv[optind], data_dir,
	    ready_fd,
	    &code);
	if (n == NULL)
		return code;
	code = node_run(n);
	node_free(n);
	return code;
}
