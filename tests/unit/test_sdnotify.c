/*
 * test_sdnotify.c -- unit tests for the sd_notify client (src/sdnotify.c).
 *
 * Each test binds its own datagram socket -- a path inside a fresh
 * mkdtemp directory, or an abstract name unique to this process --
 * points $NOTIFY_SOCKET at it, sends, and reads back the exact bytes.
 * Watchdog tests only set and unset environment variables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "herd/sdnotify.h"

struct receiver {
	int		 fd;
	char		 dir[256];	/* mkdtemp directory, or "" */
	char		 env[128];	/* the $NOTIFY_SOCKET value */
};

static void	recv_path(struct receiver *);
static void	recv_abstract(struct receiver *);
static void	recv_close(struct receiver *);
static void	expect_datagram(const struct receiver *, const char *,
		    size_t);
static void	expect_nothing(const struct receiver *);
static int	next_fd(void);
static void	clear_env(void);
static int	setup(void **);
static int	teardown(void **);

/* Bind a datagram socket at a path in a fresh temporary directory. */
static void
recv_path(struct receiver *r)
{
	const char *tmp = getenv("TMPDIR");
	struct sockaddr_un sun;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	assert_true((size_t)snprintf(r->dir, sizeof(r->dir),
	    "%s/herd-sdnotify-XXXXXX", tmp) < sizeof(r->dir));
	if (mkdtemp(r->dir) == NULL)
		fail_msg("mkdtemp %s: %s", r->dir, strerror(errno));
	assert_true((size_t)snprintf(r->env, sizeof(r->env), "%s/notify",
	    r->dir) < sizeof(r->env));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(strlen(r->env) < sizeof(sun.sun_path));
	strcpy(sun.sun_path, r->env);
	r->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(r->fd >= 0);
	if (bind(r->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fail_msg("bind %s: %s", r->env, strerror(errno));
	assert_int_equal(setenv("NOTIFY_SOCKET", r->env, 1), 0);
}

/* Bind a datagram socket at an abstract name bound with its exact length. */
static void
recv_abstract(struct receiver *r)
{
	struct sockaddr_un sun;
	size_t len;

	r->dir[0] = '\0';
	snprintf(r->env, sizeof(r->env), "@herd-sdnotify-test/%ld/%ld",
	    (long)getpid(), (long)time(NULL));
	len = strlen(r->env);		/* '@' stands for the leading NUL */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, r->env + 1, len - 1);
	r->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(r->fd >= 0);
	if (bind(r->fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) == -1)
		fail_msg("bind %s: %s", r->env, strerror(errno));
	assert_int_equal(setenv("NOTIFY_SOCKET", r->env, 1), 0);
}

/* Close the receiver and remove its socket file and directory. */
static void
recv_close(struct receiver *r)
{
	close(r->fd);
	r->fd = -1;
	if (r->dir[0] != '\0') {
		unlink(r->env);
		rmdir(r->dir);
	}
	unsetenv("NOTIFY_SOCKET");
}

/* Read one datagram and compare it with the expected bytes exactly. */
static void
expect_datagram(const struct receiver *r, const char *want, size_t len)
{
	static char buf[65536];
	ssize_t n;

	n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
	if (n == -1)
		fail_msg("recv: %s", strerror(errno));
	assert_int_equal((size_t)n, len);
	assert_memory_equal(buf, want, len);
}

/* Assert that no datagram is waiting. */
static void
expect_nothing(const struct receiver *r)
{
	char c;

	assert_int_equal(recv(r->fd, &c, 1, MSG_DONTWAIT), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The lowest free descriptor number (to detect leaked descriptors). */
static int
next_fd(void)
{
	int fd = dup(0);

	assert_true(fd >= 0);
	close(fd);
	return fd;
}

/* Remove every variable the module reads. */
static void
clear_env(void)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/* Start every test from a clean environment. */
static int
setup(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

/* Leave a clean environment behind. */
static int
teardown(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

/* A filesystem socket receives the state byte for byte. */
static void
test_path_socket(void **state)
{
	struct receiver r;
	const char *msg = "READY=1\nSTATUS=5 servers running";
	int fd0;

	(void)state;
	recv_path(&r);
	fd0 = next_fd();
	assert_int_equal(sdnotify(msg), 0);
	expect_datagram(&r, msg, strlen(msg));
	expect_nothing(&r);
	assert_int_equal(next_fd(), fd0);
	recv_close(&r);
}

/* An abstract socket ("@name") is reached with the exact address length. */
static void
test_abstract_socket(void **state)
{
	struct receiver r;
	int fd0;

	(void)state;
	recv_abstract(&r);
	fd0 = next_fd();
	assert_int_equal(sdnotify("WATCHDOG=1"), 0);
	expect_datagram(&r, "WATCHDOG=1", 10);
	assert_int_equal(sdnotify("STOPPING=1"), 0);
	expect_datagram(&r, "STOPPING=1", 10);
	expect_nothing(&r);
	assert_int_equal(next_fd(), fd0);
	recv_close(&r);
}

/* sdnotifyf() formats, both into its stack buffer and beyond it. */
static void
test_sdnotifyf(void **state)
{
	struct receiver r;
	char *big, *want;
	size_t i, n = 5000;

	(void)state;
	recv_path(&r);
	assert_int_equal(sdnotifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
	    12345678901ULL), 0);
	expect_datagram(&r, "RELOADING=1\nMONOTONIC_USEC=12345678901", 38);
	assert_int_equal(sdnotifyf("STATUS=%d/%d up, %s", 4, 5,
	    "Smith restarting"), 0);
	expect_datagram(&r, "STATUS=4/5 up, Smith restarting", 31);

	big = malloc(n + 1);
	want = malloc(n + 8);
	assert_non_null(big);
	assert_non_null(want);
	for (i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	big[n] = '\0';
	snprintf(want, n + 8, "STATUS=%s", big);
	assert_int_equal(sdnotifyf("STATUS=%s", big), 0);
	expect_datagram(&r, want, n + 7);
	free(big);
	free(want);
	recv_close(&r);
}

/* The abstract socket also works through sdnotifyf(). */
static void
test_sdnotifyf_abstract(void **state)
{
	struct receiver r;

	(void)state;
	recv_abstract(&r);
	assert_int_equal(sdnotifyf("READY=1\nMAINPID=%ld", 4242L), 0);
	expect_datagram(&r, "READY=1\nMAINPID=4242", 20);
	recv_close(&r);
}

/* Without $NOTIFY_SOCKET (or with it empty) nothing is sent: 1. */
static void
test_unset(void **state)
{
	int fd0;

	(void)state;
	fd0 = next_fd();
	assert_int_equal(sdnotify("READY=1"), 1);
	assert_int_equal(sdnotifyf("STATUS=%s", "x"), 1);
	assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
	assert_int_equal(sdnotify("READY=1"), 1);
	assert_int_equal(sdnotifyf("READY=%d", 1), 1);
	assert_int_equal(next_fd(), fd0);
}

/* Bad addresses and bad states fail with errno and leak nothing. */
static void
test_errors(void **state)
{
	char longpath[200];
	char dir[256];
	const char *tmp = getenv("TMPDIR");
	int fd0;

	(void)state;
	fd0 = next_fd();

	assert_int_equal(setenv("NOTIFY_SOCKET", "relative/notify", 1), 0);
	errno = 0;
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, EAFNOSUPPORT);

	assert_int_equal(setenv("NOTIFY_SOCKET", "@", 1), 0);
	errno = 0;
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, EINVAL);

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", longpath, 1), 0);
	errno = 0;
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	longpath[0] = '@';
	assert_int_equal(setenv("NOTIFY_SOCKET", longpath, 1), 0);
	errno = 0;
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, ENAMETOOLONG);

	/* Nobody listens at this path. */
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	assert_true((size_t)snprintf(dir, sizeof(dir),
	    "%s/herd-sdnotify-XXXXXX", tmp) < sizeof(dir));
	assert_non_null(mkdtemp(dir));
	assert_true((size_t)snprintf(longpath, sizeof(longpath), "%s/absent",
	    dir) < sizeof(longpath));
	assert_int_equal(setenv("NOTIFY_SOCKET", longpath, 1), 0);
	errno = 0;
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, ENOENT);
	rmdir(dir);

	/* Nobody listens at this abstract name. */
	snprintf(longpath, sizeof(longpath), "@herd-sdnotify-absent/%ld",
	    (long)getpid());
	assert_int_equal(setenv("NOTIFY_SOCKET", longpath, 1), 0);
	errno = 0;
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, ECONNREFUSED);

	/* An empty or missing state is refused before any socket. */
	assert_int_equal(setenv("NOTIFY_SOCKET", "@x", 1), 0);
	errno = 0;
	assert_int_equal(sdnotify(""), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(sdnotify(NULL), -1);
	assert_int_equal(errno, EINVAL);

	assert_int_equal(next_fd(), fd0);
}

/* A receiver that stops reading makes sends fail with EAGAIN, not block. */
static void
test_never_blocks(void **state)
{
	struct receiver r;
	int i, rc = 0, fd0;

	(void)state;
	recv_abstract(&r);
	fd0 = next_fd();
	alarm(20);		/* a blocking send would hang here */
	for (i = 0; i < 100000; i++)
		if ((rc = sdnotify("WATCHDOG=1")) != 0)
			break;
	alarm(0);
	assert_int_equal(rc, -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_true(i > 0);
	assert_int_equal(next_fd(), fd0);
	/* What was queued is intact. */
	expect_datagram(&r, "WATCHDOG=1", 10);
	recv_close(&r);
}

/* WATCHDOG_USEC alone enables the watchdog; its value is returned. */
static void
test_watchdog_usec(void **state)
{
	uint64_t usec = 7;

	(void)state;
	assert_int_equal(sdnotify_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 7);

	assert_int_equal(setenv("WATCHDOG_USEC", "30000000", 1), 0);
	assert_int_equal(sdnotify_watchdog_usec(&usec), 1);
	assert_int_equal(usec, 30000000);

	assert_int_equal(setenv("WATCHDOG_USEC", "18446744073709551615", 1),
	    0);
	assert_int_equal(sdnotify_watchdog_usec(&usec), 1);
	assert_true(usec == UINT64_MAX);

	assert_int_equal(setenv("WATCHDOG_USEC", "1", 1), 0);
	assert_int_equal(sdnotify_watchdog_usec(NULL), 1);
}

/* WATCHDOG_PID must name this process when it is set. */
static void
test_watchdog_pid(void **state)
{
	char pid[32];
	uint64_t usec = 7;

	(void)state;
	assert_int_equal(setenv("WATCHDOG_USEC", "5000000", 1), 0);

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	assert_int_equal(sdnotify_watchdog_usec(&usec), 1);
	assert_int_equal(usec, 5000000);

	usec = 7;
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	assert_int_equal(sdnotify_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 7);

	snprintf(pid, sizeof(pid), "%ld", (long)getppid());
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	assert_int_equal(sdnotify_watchdog_usec(&usec), 0);
}

/* Garbage in either variable disables the watchdog. */
static void
test_watchdog_garbage(void **state)
{
	static const char *bad_usec[] = {
		"", "0", "abc", "12abc", "-5", "+5", " 5", "5 ", "5\n",
		"0x10", "1e6", "3.5", "18446744073709551616",
		"99999999999999999999999",
	};
	static const char *bad_pid[] = {
		"", "0", "x", "-1", "+1", " 1", "1 ",
		"99999999999999999999999",
	};
	char pid[40];
	uint64_t usec = 7;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_usec) / sizeof(bad_usec[0]); i++) {
		assert_int_equal(setenv("WATCHDOG_USEC", bad_usec[i], 1), 0);
		if (sdnotify_watchdog_usec(&usec) != 0)
			fail_msg("WATCHDOG_USEC='%s' accepted", bad_usec[i]);
		assert_int_equal(usec, 7);
	}
	assert_int_equal(setenv("WATCHDOG_USEC", "1000", 1), 0);
	for (i = 0; i < sizeof(bad_pid) / sizeof(bad_pid[0]); i++) {
		assert_int_equal(setenv("WATCHDOG_PID", bad_pid[i], 1), 0);
		if (sdnotify_watchdog_usec(&usec) != 0)
			fail_msg("WATCHDOG_PID='%s' accepted", bad_pid[i]);
		assert_int_equal(usec, 7);
	}
	/* Our pid followed by junk is still junk. */
	snprintf(pid, sizeof(pid), "%ldx", (long)getpid());
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	assert_int_equal(sdnotify_watchdog_usec(&usec), 0);
}

/* The monotonic clock in microseconds agrees with clock_gettime(). */
static void
test_monotonic(void **state)
{
	struct timespec ts;
	uint64_t a, b, c;

	(void)state;
	a = sdnotify_monotonic_usec();
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	b = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	c = sdnotify_monotonic_usec();
	assert_true(a > 0);
	assert_true(a <= b);
	assert_true(b <= c);
	assert_true(c - a < 1000000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_path_socket, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abstract_socket, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sdnotifyf, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sdnotifyf_abstract, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_blocks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_usec, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_pid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_garbage, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_monotonic, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
