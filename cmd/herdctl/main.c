/*
 * herdctl -- run and control a herd: argv -> command.
 *
 * "start" without names becomes the supervisor (in the foreground, or
 * as a daemon whose outcome we wait for); every other command is a
 * request to the running supervisor over its control socket.  main.c
 * holds the options, the command table and the dispatch; each command is
 * in its cmd_NAME.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd/config.h"
#include "herd/log.h"
#include "herdctl.h"

struct command {
	const char	*name;
	int		(*run)(int, char **);
	const char	*usage;
	const char	*help;
};

static void	usage(FILE *) __attribute__((noreturn));
static int	wants_help(int, char **, const struct command *);

static const struct command commands[] = {
	{ "check", cmd_check, "check",
	  "Parse and validate the INI; print \"FILE: ok (N servers, M links)\"\n"
	  "or every error as file:line: message.  Exit 0 when valid, else 1.\n" },
	{ "start", cmd_start,
	  "start [--foreground] [--only NAME,...] | start NAME...",
	  "Without names: start the supervisor, which runs one herd-node per\n"
	  "server of this machine (those whose host or bind address is local,\n"
	  "or the --only list).  Returns once every worker listens; if one\n"
	  "cannot start, prints why and leaves nothing running (exit 1).\n"
	  "No server local: says so, naming the INI's and this machine's\n"
	  "addresses (exit 1).\n"
	  "  --foreground  stay in the foreground, log to stderr too (systemd,\n"
	  "                make run)\n"
	  "  --only LIST   run exactly these servers (comma-separated; a name\n"
	  "                not in the INI: exit 2)\n"
	  "With names: ask the running supervisor to start those workers\n"
	  "(\"NAME started\", or \"NAME already running\": exit 0).\n" },
	{ "stop", cmd_stop, "stop [NAME...]",
	  "Without names: stop every worker (SIGTERM, SIGKILL after 5 s), then\n"
	  "the supervisor; returns when all are gone.  With names: stop those\n"
	  "workers and keep them stopped until \"herdctl start NAME\".\n" },
	{ "restart", cmd_restart, "restart [NAME...]",
	  "Restart those workers (all if none named), one at a time, each\n"
	  "waiting for the previous one to listen again.  Those stopped with\n"
	  "\"herdctl stop NAME\" stay stopped (and are named).\n" },
	{ "reload", cmd_reload, "reload",
	  "Re-read the INI and apply the difference: new servers start,\n"
	  "removed ones stop, a changed port/host/bind restarts that server,\n"
	  "changed neighbours or [places]/[herd] settings are applied live\n"
	  "(SIGHUP; same PID, connections kept), the rest is untouched.  An\n"
	  "invalid INI changes nothing: the errors are printed, exit 1.  The\n"
	  "supervisor re-reads its own INI: -c naming another file is refused\n"
	  "(exit 1), naming the file it runs.\n" },
	{ "status", cmd_status, "status [--json] [NAME...]",
	  "Show NAME STATE PID PORT UPTIME RESTARTS LAST-EXIT PEERS for each\n"
	  "worker, then a line for each that needs a look: why it is fatal\n"
	  "or backing off, its links down, its persistence failing (--json:\n"
	  "{\"servers\":[...],\"log\":\"ok\"}, the reason in \"error\"); a last\n"
	  "line says when the log socket is missing (\"log\": \"socket\n"
	  "missing\").  Exit 0 when every worker runs, 3 when some do not\n"
	  "(or their persistence is failing), 4 when no supervisor answers.\n" },
	{ "graph", cmd_graph, "graph",
	  "Print the topology as Graphviz DOT (herdctl graph | dot -Tsvg >\n"
	  "herd.svg): every server a node, every link an edge.  With a\n"
	  "supervisor answering, servers are coloured by state and links are\n"
	  "solid when up, dashed red when down; without one, the configured\n"
	  "topology.\n" },
};

/* Print the usage and command list to fp; exit 0 for stdout, else 2. */
static void
usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: herdctl [-c FILE] COMMAND [ARGS]\n\n"
	    "Run and control a herd of herd-node servers.\n\n"
	    "  -c, --config FILE  topology INI (default: $HERD_CONFIG, else"
	    " %s)\n  -h, --help         this help; COMMAND --help for one"
	    " command\n\nCommands:\n", HERD_DEFAULT_CONFIG);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "  %s\n", commands[i].usage);
	fprintf(fp, "\n-c may also follow the command (herdctl check -c"
	    " FILE).\n\n"
	    "Environment: HERD_CONFIG (the INI without -c), HERD_RUN_DIR"
	    " (run directory\n"
	    "when the INI sets no run_dir), HERD_DATA_DIR (data directory"
	    " when it sets no\n"
	    "data_dir), HERD_NODE_BIN (the herd-node to run); XDG_RUNTIME_DIR,\n"
	    "XDG_STATE_HOME, HOME (per-user defaults). A relative path there"
	    " or in -c is\n"
	    "the working directory's; the INI's path keys must be absolute."
	    " Without\n"
	    "secret_file the servers get HERD_SECRET_FILE=RUN_DIR/secret.\n");
	fprintf(fp, "\nExit status: 0 success, 1 failure (start: also when"
	    " no server is on this\nmachine), 2 usage error (also an unknown"
	    " --only name); status: 3 not all\nrunning (or persistence failing),"
	    " 4 no supervisor.\n");
	exit(fp == stdout ? EXIT_OK : EXIT_USAGE);
}

/* Print c's usage and help and return 1 when an argument is --help or -h. */
static int
wants_help(int argc, char **argv, const struct command *c)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: herdctl [-c FILE] %s\n\n%s", c->usage,
			    c->help);
			return 1;
		}
	return 0;
}

/*
 * Take "-c FILE", "-cFILE", "--config FILE" and "--config=FILE" out of a
 * command's arguments (argv[0] is the command), so that "herdctl check -c
 * my.ini" works as "herdctl -c my.ini check" does; -1 (said) when the FILE
 * is missing.
 */
static int
take_config(int *argc, char **argv)
{
	int i, n = 1;

	for (i = 1; i < *argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 == *argc) {
				fprintf(stderr, "herdctl: option '%s' needs a"
				    " FILE\n", a);
				return -1;
			}
			config_arg = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0)
			config_arg = a + 9;
		else if (strncmp(a, "-c", 2) == 0)
			config_arg = a + 2;
		else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	*argc = n;
	return 0;
}

/* Parse the global options and run the named command. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	static const char *const env_paths[] = { "HERD_CONFIG", "HERD_RUN_DIR",
	    "HERD_DATA_DIR", "HERD_NODE_BIN" };
	size_t i;
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_arg = optarg;
			break;
		case 'h':
			usage(stdout);
		default:
			return bad_option(ch, argv[optind - 1], "FILE");
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		fprintf(stderr, "herdctl: no command given\n");
		usage(stderr);
	}
	if (take_config(&argc, argv) == -1)
		return EXIT_USAGE;
	/* The supervisor runs from "/": a relative path means ours. */
	for (i = 0; i < sizeof(env_paths) / sizeof(env_paths[0]); i++)
		if (absolute_env(env_paths[i]) == -1) {
			fprintf(stderr, "herdctl: $%s: %s\n", env_paths[i],
			    strerror(errno));
			return EXIT_FAIL;
		}
	log_init("herdctl", 1);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[0], commands[i].name) != 0)
			continue;
		if (wants_help(argc, argv, &commands[i]))
			return EXIT_OK;
		return commands[i].run(argc, argv);
	}
	fprintf(stderr, "herdctl: unknown command '%s'\n", argv[0]);
	usage(stderr);
}
