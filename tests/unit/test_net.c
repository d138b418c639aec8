/*
 * test_net.c -- unit tests for the socket address helpers (src/net.c):
 * the "[host]:port" text the listener and the peer links log, the
 * loopback test that protected mode (no secret) relies on, and the
 * "addr:port" of an accepted connection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "herd/net.h"

static int	parse(const char *, unsigned, struct sockaddr_storage *,
		    char *, size_t);

/* Parse host:port into ss and text; the return of net_parse_addr(). */
static int
parse(const char *host, unsigned port, struct sockaddr_storage *ss,
    char *text, size_t size)
{
	int len;

	memset(ss, 0, sizeof(*ss));
	return net_parse_addr(host, port, ss, &len, text, size);
}

/* IPv4 and IPv6 addresses parse; IPv6 is bracketed in the text. */
static void
test_parse_addr(void **state)
{
	struct sockaddr_storage ss;
	char text[80];

	(void)state;
	assert_int_equal(parse("127.0.0.1", 12000, &ss, text, sizeof(text)),
	    0);
	assert_string_equal(text, "127.0.0.1:12000");
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port),
	    12000);
	assert_int_equal(parse("::1", 7, &ss, text, sizeof(text)), 0);
	assert_string_equal(text, "[::1]:7");
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(parse("not an address", 1, &ss, text, sizeof(text)),
	    -1);
}

/* 127/8, ::1 and IPv4-mapped 127/8 are loopback; nothing else is. */
static void
test_loopback(void **state)
{
	static const char *const yes[] = { "127.0.0.1", "127.255.0.9",
	    "::1", "::ffff:127.0.0.2" };
	static const char *const no[] = { "10.0.0.1", "128.0.0.1", "::2",
	    "::ffff:10.0.0.1", "0.0.0.0" };
	struct sockaddr_storage ss;
	char text[80];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		assert_int_equal(parse(yes[i], 1, &ss, text, sizeof(text)), 0);
		assert_true(net_is_loopback(&ss));
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_int_equal(parse(no[i], 1, &ss, text, sizeof(text)), 0);
		assert_false(net_is_loopback(&ss));
	}
	/* Not a socket: never loopback. */
	assert_false(net_peer_is_loopback(-1));
}

/* An accepted peer address prints as addr:port, [addr]:port, or "?". */
static void
test_addr_str(void **state)
{
	struct sockaddr_storage ss;
	char text[80], buf[64];

	(void)state;
	assert_int_equal(parse("192.0.2.1", 4242, &ss, text, sizeof(text)), 0);
	net_addr_str((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.1:4242");
	assert_int_equal(parse("2001:db8::5", 80, &ss, text, sizeof(text)), 0);
	net_addr_str((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::5]:80");
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	net_addr_str((struct sockaddr *)&ss, buf, sizeof(buf));
	assert_string_equal(buf, "?");
}

/* Run the net tests. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_addr_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
