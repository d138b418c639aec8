/*
 * cmd_start.c -- herdctl start: with names, a request to the running
 * supervisor; without, the checks (--only names, a local server), the
 * run directory's lock, and the supervisor run in the foreground or as a
 * daemon whose verdict we wait for.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "herd/config.h"
#include "herd/log.h"
#include "herd/rundir.h"
#include "herd/supervisor.h"
#include "herdctl.h"

#define START_TIMEOUT_S	30

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
int
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
	char err[PATH_MAX + 128], cwd[PATH_MAX], *run_dir, *data_dir;
	cJSON *o;
	long other;
	size_t i;
	int ch, fg = 0, code, journal;
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
		default:
			return bad_option(ch, argv[optind - 1], "value");
		}
	}
	if (optind < argc) {
		/* start NAME...: a request to the running supervisor. */
		if (fg || only) {
			fprintf(stderr, "herdctl: --foreground/--only start"
			    " the supervisor; they take no names\n");
			return EXIT_USAGE;
		}
		if ((o = request_names("start", argc, argv, optind, 30000,
		    &code)) == NULL)
			return code == EXIT_NOSUP ? EXIT_FAIL : code;
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
