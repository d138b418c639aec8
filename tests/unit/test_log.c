/*
 * test_log.c -- unit tests for the syslog writer (src/log.c).
 *
 * A child process logs to a Unix datagram socket the test owns, which
 * reads nothing until told to: the kernel queue fills, lines wait in
 * log.c's own queue, and what the child says last must still arrive.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "herd/log.h"

#define BURST	3000	/* lines: far more than a datagram queue holds */

static void	child_logs_then_dies(const char *, int)
		    __attribute__((noreturn));

/* In the child: log a burst nobody reads yet, tell the parent, die by
 * fatalx() with the line that must not be lost. */
static void
child_logs_then_dies(const char *path, int tell)
{
	static struct event_base *base;	/* reachable at exit: no leak */
	int i;

	base = event_base_new();
	log_init("test_log", 0);
	log_set_socket(path);
	log_set_event_base(base);
	for (i = 0; i < BURST; i++)
		log_info("filler line %d", i);
	(void)write(tell, "x", 1);
	fatalx("the last words");
}

/* fatalx() sends the queue, its own line included, before it exits. */
static void
test_fatal_flushes_the_queue(void **state)
{
	struct sockaddr_un sun;
	char buf[8192], dir[] = "/tmp/herd-log-XXXXXX";
	struct pollfd pfd;
	int s, tell[2], status, got_last = 0, lines = 0;
	pid_t pid;
	ssize_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/log.sock", dir);
	assert_true((s = socket(AF_UNIX, SOCK_DGRAM, 0)) != -1);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(pipe(tell), 0);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		close(tell[0]);
		child_logs_then_dies(sun.sun_path, tell[1]);
	}
	close(tell[1]);
	assert_int_equal(read(tell[0], buf, 1), 1);
	/* Now read everything until the child is gone and nothing is left. */
	pfd.fd = s;
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, 2000) <= 0)
			break;
		if ((n = recv(s, buf, sizeof(buf) - 1, 0)) <= 0)
			break;
		buf[n] = '\0';
		lines++;
		if (strstr(buf, "the last words") != NULL)
			got_last = 1;
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	close(s);
	close(tell[0]);
	unlink(sun.sun_path);
	rmdir(dir);
	if (!got_last)
		fail_msg("fatalx's line lost (%d lines received)", lines);
	assert_int_equal(lines, BURST + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fatal_flushes_the_queue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
