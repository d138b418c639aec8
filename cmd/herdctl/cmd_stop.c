/*
 * cmd_stop.c -- herdctl stop: stop the named workers, or everything and
 * then wait for the supervisor to be gone.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "herdctl.h"

static int	process_gone(pid_t);

/* herdctl stop: stop the named workers, or everything, then wait up to 10 s
 * for the supervisor to exit. */
int
cmd_stop(int argc, char **argv)
{
	cJSON *o;
	double pid;
	int i, code;

	if ((o = request_names("stop", argc, argv, 1, 60000, &code)) == NULL)
		return code == EXIT_NOSUP ? EXIT_FAIL : code;
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
