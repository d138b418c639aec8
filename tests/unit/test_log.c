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

/* Counts in log lines and herdctl output: "1 record", "2 records". */
static void
test_plural(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(log_plural(1, "record", "records"), "record");
	assert_string_equal(log_plural(0, "record", "records"), "records");
	assert_string_equal(log_plural(2, "entry", "entries"), "entries");
	assert_string_equal(log_plural(11, "link", "links"), "links");
	assert_string_equal(log_plural(~0ULL, "link", "links"), "links");
	snprintf(buf, sizeof(buf), "%d %s", 1, log_plural(1, "neighbour",
	    "neighbours"));
	assert_string_equal(buf, "1 neighbour");
}

/* In a child with stderr on a pipe and no --stderr: run fn, return what
 * it wrote to stderr (exit status in *status). */
static char *
child_stderr(void (*fn)(const char *), const char *arg, int *status)
{
	static char out[4096];
	size_t got = 0;
	ssize_t n;
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		unsetenv("JOURNAL_STREAM");
		log_init("test_log", 0);
		fn(arg);
		exit(0);
	}
	close(p[1]);
	while (got < sizeof(out) - 1 &&
	    (n = read(p[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return out;
}

/* A missing socket, set twice and then a line logged: said once. */
static void
set_missing_socket(const char *path)
{
	log_set_prefix("Hill");
	log_set_socket(path);
	log_set_socket(path);
	log_info("a line nobody gets");
	log_failx("cannot listen on 127.0.0.1:1: Address already in use");
}

/* fatalx() without --stderr and with no syslog. */
static void
die_silently(const char *path)
{
	log_set_socket(path);
	fatalx("the last words");
}

/* Where no syslog listens, the missing socket is said once on stderr and
 * fatal errors reach stderr even without --stderr; other lines do not. */
static void
test_missing_socket_said_on_stderr(void **state)
{
	const char *p = "/nonexistent-herd-dir/log.sock";
	char *out, *first;
	int status;

	(void)state;
	out = child_stderr(set_missing_socket, p, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	first = strstr(out, "Hill: cannot reach the log socket "
	    "/nonexistent-herd-dir/log.sock (No such file or directory):"
	    " log lines are lost (--stderr copies them to stderr)\n");
	if (first == NULL)
		fail_msg("no notice on stderr: %s", out);
	assert_null(strstr(first + 12, "cannot reach the log socket"));
	assert_null(strstr(out, "a line nobody gets"));
	assert_non_null(strstr(out, "test_log["));
	assert_non_null(strstr(out, "Hill: cannot listen on 127.0.0.1:1:"
	    " Address already in use\n"));
	out = child_stderr(die_silently, p, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	assert_non_null(strstr(out, ": the last words\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fatal_flushes_the_queue),
		cmocka_unit_test(test_plural),
		cmocka_unit_test(test_missing_socket_said_on_stderr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
