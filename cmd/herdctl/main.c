/*
 * herdctl -- run and control a herd: argv -> command.
 *
 * "start" without names becomes the supervisor (in the foreground, or
 * as a daemon whose outcome we wait for); every other command is a
 * request to the running supervisor over its control socket.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "graph.h"
#include "herd/auth.h"
#include "herd/config.h"
#include "herd/control.h"
#include "herd/log.h"
#include "herd/rundir.h"
#include "herd/supervisor.h"
#include "herd/tls_client.h"

#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2
#define EXIT_NOTALL	3	/* status: some worker not running */
#define EXIT_NOSUP	4	/* status: no supervisor answers */

#define START_TIMEOUT_S	30

struct command {
	const char	*name;
	int		(*run)(int, char **);
	const char	*usage;
	const char	*help;
};

static int	cmd_check(int, char **);
static int	check_tls(const struct herd_config *, char *, size_t);
static int	cmd_start(int, char **);
static int	cmd_stop(int, char **);
static int	cmd_restart(int, char **);
static int	cmd_reload(int, char **);
static int	cmd_status(int, char **);
static int	cmd_graph(int, char **);
static int	process_gone(pid_t);
static void	usage(FILE *) __attribute__((noreturn));
static int	wants_help(int, char **, const struct command *);

static const char *config_arg;

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
	  "worker, then why those fatal or backing off are (--json:\n"
	  "{\"servers\":[...],\"log\":\"ok\"}, the reason in \"error\"); a last\n"
	  "line says when the log socket is missing (\"log\": \"socket\n"
	  "missing\").  Exit 0 when every worker runs, 3 when some do not, 4\n"
	  "when no supervisor answers.\n" },
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
	    " --only name); status: 3 not all\nrunning, 4 no supervisor.\n");
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

/* The config path as given (or default), made absolute. */
static const char *
config_path(void)
{
	static char abs[PATH_MAX];
	const char *p = config_default_path(config_arg);

	if (realpath(p, abs) != NULL)
		return abs;
	return p;
}

/* The supervisor's control socket for this config. */
static char *
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

/* Send a request; parse the answer.  NULL (reported) when none. */
static cJSON *
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

/* o's string member key, or dflt when it is missing or not a string (the
 * answer comes from another process: trust nothing in it). */
static const char *
json_str(const cJSON *o, const char *key, const char *dflt)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return v != NULL ? v : dflt;
}

/* o's number member key as an int, or -1 when missing or not a number. */
static int
json_int(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < INT_MIN ||
	    v->valuedouble > INT_MAX)
		return -1;
	return (int)v->valuedouble;
}

/* Does o's array member key hold the string name? */
static int
json_has(const cJSON *o, const char *key, const char *name)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, key))
		if (cJSON_IsString(e) && strcmp(e->valuestring, name) == 0)
			return 1;
	return 0;
}

/* Print the answer's error(s); returns 1 if it was not ok. */
static int
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

/* Say that opt is no option of this command. */
static void
unknown_option(const char *opt)
{
	fprintf(stderr, "herdctl: unknown option '%s' (herdctl COMMAND --help"
	    " lists a command's options)\n", opt);
}

/* For a command that takes no arguments: 0, else the error said (an unknown
 * option, or a stray argument) and -1. */
static int
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
static char *
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

/* Print and free errs; returns EXIT_FAIL. */
static int
print_config_errors(struct config_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->count; i++)
		fprintf(stderr, "herdctl: %s\n", errs->msgs[i]);
	config_errors_free(errs);
	return EXIT_FAIL;
}

/* herdctl check: validate the INI and its secret file; print a summary. */
static int
cmd_check(int argc, char **argv)
{
	struct config_errors errs;
	struct herd_config *cfg;
	struct auth_secret secret;
	struct auth_keys *keys;
	char err[512];
	const char *path = config_default_path(config_arg);
	int bad;

	if (no_arguments(argc, argv) == -1)
		return EXIT_USAGE;
	if ((cfg = config_load(path, &errs)) == NULL)
		return print_config_errors(&errs);
	if (cfg->herd.secret_file != NULL &&
	    auth_load_secret(cfg->herd.secret_file, &secret, err,
	    sizeof(err)) == 0) {
		/* One secret, or two for a rotation. */
		if ((keys = malloc(sizeof(*keys))) == NULL)
			bad = 1, snprintf(err, sizeof(err), "out of memory");
		else
			bad = auth_split_keys(&secret, cfg->herd.secret_file,
			    keys, err, sizeof(err)) == -1;
		free(keys);
		if (bad) {
			fprintf(stderr, "herdctl: %s: error: %s\n", path, err);
			config_free(cfg);
			return EXIT_FAIL;
		}
	} else if (cfg->herd.secret_file != NULL) {
		fprintf(stderr, "herdctl: %s: %s: %s\n", path,
		    auth_secret_exposed(cfg->herd.secret_file) ? "warning" :
		    "error", err);
		config_free(cfg);
		return EXIT_FAIL;
	}
	if (check_tls(cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "herdctl: %s: error: %s\n", path, err);
		config_free(cfg);
		return EXIT_FAIL;
	}
	printf("%s: ok (%zu %s, %zu %s)\n", path, cfg->nservers,
	    log_plural(cfg->nservers, "server", "servers"), cfg->nlinks,
	    log_plural(cfg->nlinks, "link", "links"));
	config_free(cfg);
	return EXIT_OK;
}

/* With a tls_port anywhere, load tls_cert, tls_key and tls_client_ca
 * as a server would; -1 with the reason in err. */
static int
check_tls(const struct herd_config *cfg, char *err, size_t errlen)
{
	struct tls_client *tls;
	size_t i;

	for (i = 0; i < cfg->nservers; i++)
		if (cfg->servers[i].tls_port != 0)
			break;
	if (i == cfg->nservers)
		return 0;
	if ((tls = tls_client_new(&cfg->herd, err, errlen)) == NULL)
		return -1;
	tls_client_free(tls);
	return 0;
}

/* Split "a,b,c" into a NULL-terminated array (malloc'd). */
static char **
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

/* EXIT_OK when every name of the --only list is a server of cfg, else
 * EXIT_USAGE with the unknown ones named. */
static int
check_only(const struct herd_config *cfg, const char *path, const char *only)
{
	char **names;
	size_t i, n;
	int bad = 0;

	if ((names = split_list(only, &n)) == NULL || n == 0) {
		fprintf(stderr, "herdctl: --only names no server\n");
		free(names);
		return EXIT_USAGE;
	}
	for (i = 0; i < n; i++) {
		if (names[i] != NULL && config_server(cfg, names[i]) == NULL)
			fprintf(stderr, "%s%s", bad++ ? ", " : "herdctl: --only:"
			    " no such server: ", names[i]);
		free(names[i]);
	}
	free(names);
	if (bad)
		fprintf(stderr, " (not in %s)\n", path);
	return bad ? EXIT_USAGE : EXIT_OK;
}

/* EXIT_OK when some server of cfg is local; else say which addresses the
 * INI has and which this machine has, and EXIT_FAIL. */
static int
check_local(const struct herd_config *cfg, const char *path)
{
	const struct herd_server *s;
	char *addrs;
	size_t i;

	for (i = 0; i < cfg->nservers; i++)
		if (rundir_is_local(&cfg->servers[i]))
			return EXIT_OK;
	fprintf(stderr, "herdctl: no server of %s is on this machine; its"
	    " servers:", path);
	for (i = 0; i < cfg->nservers; i++) {
		s = &cfg->servers[i];
		fprintf(stderr, "%s %s %s", i ? "," : "", s->name,
		    strcmp(s->bind, "0.0.0.0") == 0 || strcmp(s->bind,
		    "::") == 0 ? s->host : s->bind);
	}
	addrs = rundir_local_addrs();
	fprintf(stderr, "; this machine's addresses: %s (herdctl start --only"
	    " NAME,... runs servers here anyway)\n", addrs ? addrs :
	    "unknown");
	free(addrs);
	return EXIT_FAIL;
}

/* Background start: wait for the daemon's verdict on the report pipe. */
static int
await_start(int fd, const char *run_dir)
{
	char buf[4096], *line, *nl;
	size_t len = 0;
	struct pollfd pfd = { fd, POLLIN, 0 };
	ssize_t n;
	int ok = 0, failed = 0;

	for (;;) {
		if (poll(&pfd, 1, START_TIMEOUT_S * 1000) <= 0) {
			fprintf(stderr, "herdctl: no answer from the supervisor"
			    " in %d s\n", START_TIMEOUT_S);
			return EXIT_FAIL;
		}
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			if (strncmp(line, "OK ", 3) == 0) {
				printf("herd started (supervisor pid %s, run"
				    " directory %s)\n", line + 3, run_dir);
				ok = 1;
			} else if (strncmp(line, "FAIL ", 5) == 0) {
				fprintf(stderr, "herdctl: start failed: %s\n",
				    line + 5);
				failed = 1;
			}
			line = nl + 1;
		}
		len -= (size_t)(line - buf);
		memmove(buf, line, len);
		if (ok)
			return EXIT_OK;
	}
	if (!failed)
		fprintf(stderr, "herdctl: the supervisor exited during start"
		    " (see syslog)\n");
	return EXIT_FAIL;
}

/* Become a daemon running the supervisor; the parent waits. */
static int
daemonize(struct sv_options *opt, struct herd_config *cfg)
{
	int fds[2], null, status, code;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		perror("herdctl: pipe");
		return EXIT_FAIL;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		perror("herdctl: fork");
		return EXIT_FAIL;
	}
	if (pid == 0) {
		close(fds[0]);
		setsid();
		if ((pid = fork()) != 0)
			_exit(pid == -1 ? EXIT_FAIL : EXIT_OK);
		if ((null = open("/dev/null", O_RDWR)) != -1) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		if (chdir("/") == -1)
			_exit(EXIT_FAIL);
		opt->report_fd = fds[1];
		code = supervisor_run(opt, cfg);
		exit(code);
	}
	close(fds[1]);
	close(opt->lock_fd);	/* the daemon holds the lock now */
	config_free(cfg);
	(void)waitpid(pid, &status, 0);
	code = await_start(fds[0], opt->run_dir);
	close(fds[0]);
	return code;
}

/* herdctl start: with names, ask the supervisor to start them; else lock the
 * run directory and run the supervisor, in the foreground or as a daemon. */
static int
cmd_start(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground",	no_argument,		NULL, 'f' },
		{ "only",	required_argument,	NULL, 'o' },
		{ NULL,		0,			NULL, 0 }
	};
	struct sv_options opt;
	struct config_errors errs;
	struct herd_config *cfg;
	char err[PATH_MAX + 128], cwd[PATH_MAX], *run_dir, *data_dir, *req;
	cJSON *o;
	long other;
	size_t i;
	int ch, fg = 0, code, nosup, journal;
	const char *only = NULL;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:fo:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			fg = 1;
			break;
		case 'o':
			only = optarg;
			break;
		case ':':
			fprintf(stderr, "herdctl: option '%s' needs a value\n",
			    argv[optind - 1]);
			return EXIT_USAGE;
		default:
			unknown_option(argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		/* start NAME...: a request to the running supervisor. */
		if (fg || only) {
			fprintf(stderr, "herdctl: --foreground/--only start"
			    " the supervisor; they take no names\n");
			return EXIT_USAGE;
		}
		if ((req = join_request("start", argc, argv, optind)) == NULL)
			return EXIT_USAGE;
		o = request(req, 30000, &nosup);
		free(req);
		if (o == NULL)
			return EXIT_FAIL;
		code = print_errors(o) ? EXIT_FAIL : EXIT_OK;
		for (; code == EXIT_OK && optind < argc; optind++)
			printf("%s %s\n", argv[optind], json_has(o,
			    "already_running", argv[optind]) ?
			    "already running" : "started");
		cJSON_Delete(o);
		return code;
	}

	memset(&opt, 0, sizeof(opt));
	opt.config_path = config_path();
	opt.foreground = fg;
	opt.report_fd = -1;
	if ((cfg = config_load(opt.config_path, &errs)) == NULL)
		return print_config_errors(&errs);
	if ((code = only ? check_only(cfg, opt.config_path, only) :
	    check_local(cfg, opt.config_path)) != EXIT_OK) {
		config_free(cfg);
		return code;
	}
	if ((run_dir = rundir_path(cfg->herd.run_dir)) == NULL) {
		fprintf(stderr, "herdctl: out of memory\n");
		config_free(cfg);
		return EXIT_FAIL;
	}
	opt.run_dir = run_dir;
	/* Resolved here, before a daemon's chdir("/"): relative to us. */
	data_dir = rundir_data_dir(NULL, getenv("HERD_DATA_DIR"), geteuid(),
	    getenv("XDG_STATE_HOME"), getenv("HOME"),
	    getcwd(cwd, sizeof(cwd)));
	opt.data_dir = data_dir;
	if (rundir_lock(run_dir, &opt.lock_fd, &other, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "herdctl: %s\n", err);
		config_free(cfg);
		free(run_dir);
		free(data_dir);
		return EXIT_FAIL;
	}
	if (only != NULL)
		opt.only = split_list(only, &opt.nonly);
	/* Under systemd stderr is the journal already: log once, by syslog. */
	journal = getenv("JOURNAL_STREAM") != NULL;
	opt.foreground = fg && !journal;
	log_init("herdctl", fg && !journal);
	log_set_prefix("supervisor");
	log_set_socket(cfg->herd.log_socket);
	if (fg) {
		code = supervisor_run(&opt, cfg);
		close(opt.lock_fd);
	} else
		code = daemonize(&opt, cfg);
	for (i = 0; i < opt.nonly; i++)
		free(opt.only[i]);
	free(opt.only);
	free(run_dir);
	free(data_dir);
	return code;
}

/* herdctl stop: stop the named workers, or everything, then wait up to 10 s
 * for the supervisor to exit. */
static int
cmd_stop(int argc, char **argv)
{
	cJSON *o;
	char *req;
	double pid;
	int nosup, i, code;

	if ((req = join_request("stop", argc, argv, 1)) == NULL)
		return EXIT_USAGE;
	o = request(req, 60000, &nosup);
	free(req);
	if (o == NULL)
		return EXIT_FAIL;
	if (print_errors(o)) {
		cJSON_Delete(o);
		return EXIT_FAIL;
	}
	pid = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "supervisor_pid"));
	if (argc == 1 && pid > 0) {
		/* Return only when the supervisor itself is gone. */
		for (i = 0; i < 1000 && !process_gone((pid_t)pid); i++)
			usleep(10000);
		printf("herd stopped\n");
	} else {
		for (i = 1; i < argc; i++)
			printf("%s stopped\n", argv[i]);
	}
	code = EXIT_OK;
	cJSON_Delete(o);
	return code;
}

/* Has pid exited?  A zombie has: its parent (init, once herdctl start
 * detached it) may take a second or more to reap it. */
static int
process_gone(pid_t pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold anything, the state follows the
	 * last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 0;
	return p[2] == 'Z' || p[2] == 'X';
}

/* herdctl restart: ask the supervisor to restart these workers (or all);
 * name those kept stopped. */
static int
cmd_restart(int argc, char **argv)
{
	cJSON *o, *h;
	char *req;
	int nosup, code;

	if ((req = join_request("restart", argc, argv, 1)) == NULL)
		return EXIT_USAGE;
	o = request(req, 120000, &nosup);
	free(req);
	if (o == NULL)
		return EXIT_FAIL;
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
static int
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

/* Format s seconds compactly: "42s", "3m07s", "2h05m" or "1d03h". */
static void
format_uptime(double s, char *buf, size_t size)
{
	long t = (long)s;

	if (t < 60)
		snprintf(buf, size, "%lds", t);
	else if (t < 3600)
		snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
	else
		snprintf(buf, size, "%ldd%02ldh", t / 86400, t / 3600 % 24);
}

/* The state of server s's persistence ("ok", "failing", "off"). */
static const char *
persist_state(const cJSON *s)
{
	return json_str(cJSON_GetObjectItem(s, "persist"), "state", "off");
}

/* Under the table, one line per server that needs a look: why it is
 * fatal or backing off, and persistence that is failing. */
static void
print_down_links(const cJSON *s)
{
	const cJSON *l;
	int n = 0;

	cJSON_ArrayForEach(l, cJSON_GetObjectItem(s, "links")) {
		if (!cJSON_IsFalse(l))
			continue;
		if (n++ == 0)
			printf("%s: links down: %s", json_str(s, "name", "?"),
			    l->string);
		else
			printf(", %s", l->string);
	}
	if (n > 0)
		printf("\n");
}

static void
print_notes(const cJSON *servers)
{
	const cJSON *s, *p;
	const char *state;

	cJSON_ArrayForEach(s, servers) {
		state = json_str(s, "state", "?");
		if ((strcmp(state, "fatal") == 0 ||
		    strcmp(state, "backoff") == 0) &&
		    cJSON_IsString(cJSON_GetObjectItem(s, "error")))
			printf("%s: %s: %s\n", json_str(s, "name", "?"), state,
			    json_str(s, "error", "?"));
		else if (strcmp(state, "fatal") == 0)
			printf("%s: fatal: %s, no reason reported (see its log"
			    " lines)\n", json_str(s, "name", "?"),
			    json_str(s, "last_exit", "no exit"));
		print_down_links(s);
		if (strcmp(persist_state(s), "failing") == 0) {
			p = cJSON_GetObjectItem(s, "persist");
			printf("%s: persistence failing (fsync %s, %d ms"
			    " behind)\n", json_str(s, "name", "?"),
			    json_str(p, "fsync", "-"), json_int(p, "lag_ms"));
		}
	}
}

/* herdctl status: print the workers as a table or JSON; exit 3 if some are
 * not running or cannot persist, 4 without a supervisor. */
static int
cmd_status(int argc, char **argv)
{
	cJSON *o, *servers, *s, *out;
	char *req, pid[16], up[32], *js;
	int nosup, json = 0, i, all = 1, n = 1;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else
			argv[n++] = argv[i];
	argc = n;
	if ((req = join_request("status", argc, argv, 1)) == NULL)
		return EXIT_USAGE;
	o = request(req, 5000, &nosup);
	free(req);
	if (o == NULL)
		return nosup ? EXIT_NOSUP : EXIT_FAIL;
	if (print_errors(o)) {
		cJSON_Delete(o);
		return EXIT_FAIL;
	}
	servers = cJSON_GetObjectItem(o, "servers");
	if (!cJSON_IsArray(servers)) {
		fprintf(stderr, "herdctl: malformed answer from the"
		    " supervisor (no servers)\n");
		cJSON_Delete(o);
		return EXIT_FAIL;
	}
	cJSON_ArrayForEach(s, servers)
		if (strcmp(json_str(s, "state", "?"), "running") != 0 ||
		    strcmp(persist_state(s), "failing") == 0)
			all = 0;
	if (json) {
		out = cJSON_CreateObject();
		cJSON_AddItemReferenceToObject(out, "servers", servers);
		if (cJSON_IsString(cJSON_GetObjectItem(o, "log")))
			cJSON_AddStringToObject(out, "log", json_str(o, "log",
			    "?"));
		js = cJSON_PrintUnformatted(out);
		printf("%s\n", js);
		free(js);
		cJSON_Delete(out);
	} else {
		printf("%-16s %-9s %-8s %-6s %-8s %-8s %-16s %s\n", "NAME",
		    "STATE", "PID", "PORT", "UPTIME", "RESTARTS", "LAST EXIT",
		    "PEERS");
		cJSON_ArrayForEach(s, servers) {
			int p = json_int(s, "pid"), t = json_int(s, "uptime_s");

			if (p > 0)
				snprintf(pid, sizeof(pid), "%d", p);
			else
				snprintf(pid, sizeof(pid), "-");
			if (p > 0 && t >= 0)
				format_uptime(t, up, sizeof(up));
			else
				snprintf(up, sizeof(up), "-");
			printf("%-16s %-9s %-8s %-6d %-8s %-8d %-16s %d/%d\n",
			    json_str(s, "name", "?"), json_str(s, "state", "?"),
			    pid, json_int(s, "port"), up,
			    json_int(s, "restarts"),
			    json_str(s, "last_exit", "-"),
			    json_int(s, "peers_up"), json_int(s, "peers"));
		}
		print_notes(servers);
		if (strcmp(json_str(o, "log", "ok"), "ok") != 0)
			printf("log: %s %s: log lines are lost\n",
			    json_str(o, "log_socket", "?"),
			    json_str(o, "log", "?"));
	}
	cJSON_Delete(o);
	return all ? EXIT_OK : EXIT_NOTALL;
}

/* herdctl graph: the topology as DOT, live when a supervisor answers. */
static int
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

/* Make $name absolute against the working directory when it is a relative
 * path (HERD_NODE_BIN without a slash is a PATH lookup: kept); -1 on error. */
static int
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
		case ':':
			fprintf(stderr, "herdctl: option '%s' needs a FILE\n",
			    argv[optind - 1]);
			return EXIT_USAGE;
		default:
			unknown_option(argv[optind - 1]);
			return EXIT_USAGE;
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
