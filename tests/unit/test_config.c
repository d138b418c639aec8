/*
 * test_config.c -- unit tests for the INI loader (src/config.c).
 *
 * Each test writes a temporary INI file (mkstemp under $TMPDIR or /tmp,
 * removed right after loading) and checks the loaded configuration or
 * the exact "file:line: message" errors.  The shipped etc/herd.ini is
 * found under HERD_TOP_DIR (default: the current directory, which is the
 * repository root under "make unit").
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "herd/config.h"
#include "herd/geonames_index.h"

#ifndef HERD_TOP_DIR
#define HERD_TOP_DIR	"."
#endif

#define SHIPPED_INI	HERD_TOP_DIR "/etc/herd.ini"

static char	 path[256];	/* the last temporary file */

static struct herd_config *load(const char *, struct config_errors *);
static struct herd_config *load_ok(const char *);
static void	expect_errors(const char *, ...);
static size_t	server_index(const struct herd_config *, const char *);
static void	assert_links(const struct herd_config *, const char *,
		    const char *const *);

/* Write text to a fresh temporary file, load it, remove the file. */
static struct herd_config *
load(const char *text, struct config_errors *errs)
{
	const char *dir = getenv("TMPDIR");
	struct herd_config *cfg;
	size_t len = strlen(text);
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	assert_true((size_t)snprintf(path, sizeof(path),
	    "%s/herd-test-XXXXXX", dir) < sizeof(path));
	if ((fd = mkstemp(path)) == -1)
		fail_msg("mkstemp %s", path);
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		fail_msg("write %s", path);
	}
	close(fd);
	cfg = config_load(path, errs);
	unlink(path);
	return cfg;
}

static struct herd_config *
load_ok(const char *text)
{
	struct config_errors errs;
	struct herd_config *cfg;
	size_t i, n;

	cfg = load(text, &errs);
	n = errs.count;
	for (i = 0; i < n; i++)
		print_error("unexpected: %s\n", errs.msgs[i]);
	config_errors_free(&errs);
	assert_int_equal(n, 0);
	assert_non_null(cfg);
	return cfg;
}

/*
 * Load text and expect exactly the given errors, in order, each written
 * as it follows the file name (":3: bad port ..." or ": no ...").  The
 * list ends with NULL.
 */
static void
expect_errors(const char *text, ...)
{
	struct config_errors errs;
	struct herd_config *cfg;
	const char *want;
	char full[1024];
	size_t n = 0, i;
	va_list ap;
	int bad = 0;

	cfg = load(text, &errs);
	va_start(ap, text);
	while ((want = va_arg(ap, const char *)) != NULL) {
		snprintf(full, sizeof(full), "%s%s", path, want);
		if (n >= errs.count) {
			print_error("missing error: %s\n", full);
			bad = 1;
		} else if (strcmp(errs.msgs[n], full) != 0) {
			print_error("error %zu:\n  got:  %s\n  want: %s\n", n,
			    errs.msgs[n], full);
			bad = 1;
		}
		n++;
	}
	va_end(ap);
	for (i = n; i < errs.count; i++) {
		print_error("extra error: %s\n", errs.msgs[i]);
		bad = 1;
	}
	if (cfg != NULL) {
		print_error("config_load returned a config\n");
		bad = 1;
	}
	config_free(cfg);
	config_errors_free(&errs);
	if (bad)
		fail_msg("errors differ for:\n%s", text);
}

static size_t
server_index(const struct herd_config *cfg, const char *name)
{
	const struct herd_server *s = config_server(cfg, name);

	assert_non_null(s);
	return (size_t)(s - cfg->servers);
}

/* name's links are exactly want (NULL-terminated), in index order. */
static void
assert_links(const struct herd_config *cfg, const char *name,
    const char *const *want)
{
	const struct herd_server *s = config_server(cfg, name);
	size_t n, i, j, self;

	assert_non_null(s);
	self = (size_t)(s - cfg->servers);
	for (n = 0; want[n] != NULL; n++)
		;
	assert_int_equal(s->nlinks, n);
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(cfg->servers[s->links[i]].name,
			    want[j]) == 0)
				break;
		if (j == n)
			fail_msg("%s: unexpected link to %s", name,
			    cfg->servers[s->links[i]].name);
		if (i > 0)
			assert_true(s->links[i - 1] < s->links[i]);
		assert_true(config_linked(cfg, self, s->links[i]));
		assert_true(config_linked(cfg, s->links[i], self));
	}
}

/* ---- the shipped topology ---- */

static void
test_shipped(void **state)
{
	static const char *const names[] = {
		"Hill", "Jaquez", "Smith", "Campbell", "Singleton",
	};
	/* README.md "Quick start" table; links are undirected. */
	static const char *const hill[] = { "Jaquez", "Smith", NULL };
	static const char *const jaquez[] = { "Hill", "Singleton", NULL };
	static const char *const smith[] = { "Hill", "Campbell", "Singleton",
	    NULL };
	static const char *const campbell[] = { "Smith", "Singleton", NULL };
	static const char *const singleton[] = { "Jaquez", "Smith",
	    "Campbell", NULL };
	static const int linked[5][5] = {
		/* Hill Jaq Smi Cam Sin */
		{ 0, 1, 1, 0, 0 },
		{ 1, 0, 0, 0, 1 },
		{ 1, 0, 0, 1, 1 },
		{ 0, 0, 1, 0, 1 },
		{ 0, 1, 1, 1, 0 },
	};
	struct config_errors errs;
	struct herd_config *cfg;
	size_t i, j;

	(void)state;
	cfg = config_load(SHIPPED_INI, &errs);
	for (i = 0; i < errs.count; i++)
		print_error("%s\n", errs.msgs[i]);
	assert_int_equal(errs.count, 0);
	assert_non_null(cfg);
	assert_string_equal(cfg->path, SHIPPED_INI);
	assert_int_equal(cfg->nservers, 5);
	assert_int_equal(cfg->nlinks, 6);
	for (i = 0; i < 5; i++) {
		const struct herd_server *s = &cfg->servers[i];

		assert_string_equal(s->name, names[i]);
		assert_int_equal(s->port, 12000 + i);
		assert_string_equal(s->host, "127.0.0.1");
		assert_string_equal(s->bind, "127.0.0.1");
		assert_ptr_equal(config_server(cfg, names[i]), s);
		for (j = 0; j < 5; j++)
			assert_int_equal(config_linked(cfg, i, j),
			    linked[i][j]);
	}
	assert_links(cfg, "Hill", hill);
	assert_links(cfg, "Jaquez", jaquez);
	assert_links(cfg, "Smith", smith);
	assert_links(cfg, "Campbell", campbell);
	assert_links(cfg, "Singleton", singleton);
	assert_null(config_server(cfg, "hill"));
	assert_null(config_server(cfg, "Nobody"));
	/* Defaults: everything in [herd] and [places] is commented out. */
	assert_null(cfg->herd.run_dir);
	assert_string_equal(cfg->herd.log_socket, "/dev/log");
	assert_int_equal(cfg->herd.max_line, 8192);
	assert_int_equal(cfg->herd.max_output, 1048576);
	assert_int_equal(cfg->places.api, PLACES_API_NEW);
	assert_null(cfg->places.key);
	assert_null(cfg->places.url);
	assert_int_equal(cfg->places.timeout_ms, 8000);
	assert_int_equal(cfg->places.cache_ttl_s, 30);
	config_free(cfg);
	config_errors_free(&errs);
}

/* ---- what loads ---- */

static void
test_minimal_defaults(void **state)
{
	struct herd_config *cfg;
	const struct herd_server *s;

	(void)state;
	cfg = load_ok("[server:A]\nport = 1\n");
	assert_string_equal(cfg->path, path);
	assert_int_equal(cfg->nservers, 1);
	assert_int_equal(cfg->nlinks, 0);
	s = &cfg->servers[0];
	assert_string_equal(s->name, "A");
	assert_int_equal(s->port, 1);
	assert_string_equal(s->host, "127.0.0.1");
	assert_string_equal(s->bind, "127.0.0.1");
	assert_int_equal(s->line, 1);
	assert_int_equal(s->nbr_line, 0);
	assert_int_equal(s->ndeclared, 0);
	assert_int_equal(s->nlinks, 0);
	assert_null(cfg->herd.run_dir);
	assert_string_equal(cfg->herd.log_socket, "/dev/log");
	assert_int_equal(cfg->herd.max_line, 8192);
	assert_int_equal(cfg->herd.max_output, 1024 * 1024);
	assert_int_equal(cfg->places.api, PLACES_API_NEW);
	assert_null(cfg->places.key);
	assert_null(cfg->places.url);
	assert_int_equal(cfg->places.timeout_ms, 8000);
	assert_int_equal(cfg->places.cache_ttl_s, 30);
	config_free(cfg);
}

static void
test_host_bind(void **state)
{
	struct herd_config *cfg;

	(void)state;
	cfg = load_ok(
	    "[server:A]\nport = 1\nhost = 10.1.2.3\n"
	    "[server:B]\nport = 6\nhost = 10.1.2.4\nbind = *\n"
	    "[server:C]\nport = 2\nhost = 0:0:0:0:0:0:0:1\n"
	    "[server:D]\nport = 3\nhost = 10.0.0.1\nbind = 0::\n"
	    "[server:E]\nport = 4\nbind = 192.168.1.1\n");
	assert_int_equal(cfg->nservers, 5);
	/* bind defaults to host. */
	assert_string_equal(cfg->servers[0].host, "10.1.2.3");
	assert_string_equal(cfg->servers[0].bind, "10.1.2.3");
	/* "*" is the IPv4 any address. */
	assert_string_equal(cfg->servers[1].host, "10.1.2.4");
	assert_string_equal(cfg->servers[1].bind, "0.0.0.0");
	/* IPv6 is normalised. */
	assert_string_equal(cfg->servers[2].host, "::1");
	assert_string_equal(cfg->servers[2].bind, "::1");
	assert_string_equal(cfg->servers[3].bind, "::");
	assert_string_equal(cfg->servers[4].host, "127.0.0.1");
	assert_string_equal(cfg->servers[4].bind, "192.168.1.1");
	config_free(cfg);
}

/* tls_port, tls_cert, tls_key, tls_client_ca: stored, required
 * together, and their ports checked against every other port. */
static void
test_tls(void **state)
{
	struct herd_config *cfg;
	const struct herd_server *a;

	(void)state;
	cfg = load_ok("[herd]\ntls_cert = /c.pem\ntls_key = /k.pem\n"
	    "tls_client_ca = /ca.pem\n[server:A]\nport = 1\n"
	    "tls_port = 2\n[server:B]\nport = 3\n");
	a = config_server(cfg, "A");
	assert_int_equal(a->tls_port, 2);
	assert_int_equal(config_server(cfg, "B")->tls_port, 0);
	assert_string_equal(cfg->herd.tls_cert, "/c.pem");
	assert_string_equal(cfg->herd.tls_key, "/k.pem");
	assert_string_equal(cfg->herd.tls_client_ca, "/ca.pem");
	config_free(cfg);
	expect_errors("[server:A]\nport = 1\ntls_port = 2\n",
	    ":1: server 'A' has a tls_port but [herd] has no tls_cert and"
	    " tls_key", NULL);
	expect_errors("[herd]\ntls_cert = c.pem\ntls_key = /k\n"
	    "[server:A]\nport = 1\ntls_port = 0\n",
	    ":2: tls_cert must be an absolute path",
	    ":6: bad tls_port '0' (expected 1..65535)", NULL);
	expect_errors("[herd]\ntls_cert = /c\ntls_key = /k\n"
	    "[server:A]\nport = 1\ntls_port = 1\n",
	    ":4: server 'A': tls_port 1 is its port too", NULL);
	expect_errors("[herd]\ntls_cert = /c\ntls_key = /k\n"
	    "[server:A]\nport = 1\ntls_port = 2\n"
	    "[server:B]\nport = 3\ntls_port = 2\n"
	    "[server:C]\nport = 2\n",
	    ":7: server 'B': tls_port 2 on 127.0.0.1 is already used by"
	    " server 'A' (line 4)",
	    ":10: server 'C': port 2 on 127.0.0.1 is already used by server"
	    " 'A' (line 4)", NULL);
}

/* metrics_port and metrics_bind: off and 127.0.0.1 by default, stored,
 * checked, and never one of the server's own ports. */
static void
test_metrics_keys(void **state)
{
	struct herd_config *cfg;
	const struct herd_server *a, *b;

	(void)state;
	cfg = load_ok("[server:A]\nport = 1\nmetrics_port = 9100\n"
	    "metrics_bind = *\n[server:B]\nport = 3\n");
	a = config_server(cfg, "A");
	b = config_server(cfg, "B");
	assert_int_equal(a->metrics_port, 9100);
	assert_string_equal(a->metrics_bind, "0.0.0.0");
	assert_int_equal(b->metrics_port, 0);
	assert_string_equal(b->metrics_bind, "127.0.0.1");
	config_free(cfg);
	expect_errors("[server:A]\nport = 1\nmetrics_port = 70000\n"
	    "metrics_bind = host\n",
	    ":3: bad metrics_port '70000' (expected 1..65535)",
	    ":4: bad metrics_bind 'host' (expected a numeric IPv4 or IPv6"
	    " address, or *)", NULL);
	expect_errors("[server:A]\nport = 1\nmetrics_port = 1\n",
	    ":1: server 'A': metrics_port 1 is also its port or tls_port",
	    NULL);
}

static void
test_settings(void **state)
{
	struct herd_config *cfg;

	(void)state;
	cfg = load_ok(
	    "[herd]\n"
	    "run_dir = /run/herd\n"
	    "log_socket = /tmp/log.sock\n"
	    "max_line = 256\n"
	    "max_output = 4096\n"
	    "[places]\n"
	    "api = legacy\n"
	    "key = AIza-secret ; inline comment\n"
	    "url = http://127.0.0.1:9/x?y=1\n"
	    "timeout_ms = 100\n"
	    "cache_ttl_s = 0\n"
	    "[server:A]\n"
	    "port = 65535\n");
	assert_string_equal(cfg->herd.run_dir, "/run/herd");
	assert_string_equal(cfg->herd.log_socket, "/tmp/log.sock");
	assert_int_equal(cfg->herd.max_line, 256);
	assert_int_equal(cfg->herd.max_output, 4096);
	assert_int_equal(cfg->places.api, PLACES_API_LEGACY);
	assert_string_equal(cfg->places.key, "AIza-secret");
	assert_string_equal(cfg->places.url, "http://127.0.0.1:9/x?y=1");
	assert_int_equal(cfg->places.timeout_ms, 100);
	assert_int_equal(cfg->places.cache_ttl_s, 0);
	assert_int_equal(cfg->servers[0].port, 65535);
	config_free(cfg);

	cfg = load_ok(
	    "[places]\napi = new\nkey =\nurl =\n"
	    "timeout_ms = 600000\ncache_ttl_s = 86400\n"
	    "[herd]\nmax_line = 1048576\nmax_output = 1073741824\n"
	    "[server:A]\nport = 00080\n");
	assert_int_equal(cfg->places.api, PLACES_API_NEW);
	assert_null(cfg->places.key);
	assert_null(cfg->places.url);
	assert_int_equal(cfg->places.timeout_ms, 600000);
	assert_int_equal(cfg->places.cache_ttl_s, 86400);
	assert_int_equal(cfg->herd.max_line, 1048576);
	assert_int_equal(cfg->herd.max_output, 1073741824);
	assert_int_equal(cfg->servers[0].port, 80);
	config_free(cfg);
}

static void
test_links_undirected(void **state)
{
	static const char *const a[] = { "B", NULL };
	static const char *const b[] = { "A", "C", NULL };
	static const char *const c[] = { "B", NULL };
	struct herd_config *cfg;
	size_t ia, ib, ic;

	(void)state;
	/* A lists B only; B and C list each other. */
	cfg = load_ok(
	    "[server:A]\nport = 1\nneighbors = B\n"
	    "[server:B]\nport = 2\nneighbors = C\n"
	    "[server:C]\nport = 3\nneighbors = B\n");
	ia = server_index(cfg, "A");
	ib = server_index(cfg, "B");
	ic = server_index(cfg, "C");
	assert_true(config_linked(cfg, ia, ib));
	assert_true(config_linked(cfg, ib, ia));
	assert_true(config_linked(cfg, ib, ic));
	assert_true(config_linked(cfg, ic, ib));
	assert_false(config_linked(cfg, ia, ic));
	assert_false(config_linked(cfg, ic, ia));
	assert_false(config_linked(cfg, ia, ia));
	assert_int_equal(cfg->nlinks, 2);
	assert_links(cfg, "A", a);
	assert_links(cfg, "B", b);
	assert_links(cfg, "C", c);
	/* Declared names are kept as written, per server. */
	assert_int_equal(cfg->servers[ia].ndeclared, 1);
	assert_string_equal(cfg->servers[ia].declared[0], "B");
	assert_int_equal(cfg->servers[ia].nbr_line, 3);
	assert_int_equal(cfg->servers[ic].nbr_line, 9);
	config_free(cfg);
}

static void
test_neighbor_lists(void **state)
{
	static const char *const a[] = { "B", "C", "D", "E", "F", NULL };
	struct herd_config *cfg;
	const struct herd_server *s;

	(void)state;
	/* Commas, spaces, tabs, a continuation line, British spelling. */
	cfg = load_ok(
	    "[server:A]\n"
	    "port = 1\n"
	    "neighbors = B, C,D  ,\t,  \n"
	    "\tE\n"
	    "  ; a comment between\n"
	    "[server:B]\nport = 2\n"
	    "[server:C]\nport = 3\n"
	    "[server:D]\nport = 4\n"
	    "[server:E]\nport = 5\n"
	    "[server:F]\nport = 6\nneighbours = A\n");
	s = config_server(cfg, "A");
	assert_non_null(s);
	assert_int_equal(s->ndeclared, 4);
	assert_string_equal(s->declared[0], "B");
	assert_string_equal(s->declared[1], "C");
	assert_string_equal(s->declared[2], "D");
	assert_string_equal(s->declared[3], "E");
	assert_int_equal(s->nbr_line, 3);
	assert_links(cfg, "A", a);
	assert_int_equal(cfg->nlinks, 5);
	config_free(cfg);

	/* A continuation of several lines, and an empty list. */
	cfg = load_ok(
	    "[server:A]\nport = 1\nneighbors =\n  B\n  C, D\n"
	    "[server:B]\nport = 2\nneighbors =\n"
	    "[server:C]\nport = 3\n[server:D]\nport = 4\n");
	s = config_server(cfg, "A");
	assert_int_equal(s->ndeclared, 3);
	assert_string_equal(s->declared[2], "D");
	assert_int_equal(cfg->nlinks, 3);
	assert_int_equal(config_server(cfg, "B")->ndeclared, 0);
	config_free(cfg);
}

static void
test_syntax_variants(void **state)
{
	struct herd_config *cfg;

	(void)state;
	/* CRLF line ends, comments of both kinds, ':' as separator, no
	 * newline at the end, indented keys right after a header. */
	cfg = load_ok(
	    "; comment\r\n# comment\r\n\r\n[server:A]\r\n"
	    "  port: 7 ; seven\r\nhost = 127.0.0.2\r\n"
	    "[server:B] ; trailing\r\nport=7");
	assert_int_equal(cfg->nservers, 2);
	assert_int_equal(cfg->servers[0].port, 7);
	assert_string_equal(cfg->servers[0].host, "127.0.0.2");
	assert_int_equal(cfg->servers[0].line, 4);
	assert_int_equal(cfg->servers[1].port, 7);
	assert_int_equal(cfg->servers[1].line, 7);
	config_free(cfg);

	/* A UTF-8 byte order mark before the first header. */
	cfg = load_ok("\xef\xbb\xbf[server:A]\nport = 9\n");
	assert_int_equal(cfg->nservers, 1);
	assert_int_equal(cfg->servers[0].port, 9);
	config_free(cfg);

	/* Server names: letters, digits, '.', '_', '-', up to 63. */
	cfg = load_ok("[server:a.B_c-9]\nport = 1\n"
	    "[server:x23456789012345678901234567890123456789012345678901234"
	    "567890123]\nport = 2\n");
	assert_string_equal(cfg->servers[0].name, "a.B_c-9");
	assert_int_equal(strlen(cfg->servers[1].name), 63);
	config_free(cfg);
}

static void
test_line_length(void **state)
{
	char text[1024], url[256];
	struct herd_config *cfg;
	size_t n;

	(void)state;
	/* "url = " + url is exactly 197 bytes: accepted, LF or CRLF. */
	n = 197 - strlen("url = ");
	memset(url, 'u', sizeof(url));
	memcpy(url, "http://", 7);
	url[n] = '\0';
	snprintf(text, sizeof(text), "[places]\nurl = %s\n[server:A]\n"
	    "port = 1\n", url);
	cfg = load_ok(text);
	assert_string_equal(cfg->places.url, url);
	config_free(cfg);
	snprintf(text, sizeof(text), "[places]\r\nurl = %s\r\n[server:A]\r\n"
	    "port = 1\r\n", url);
	cfg = load_ok(text);
	assert_string_equal(cfg->places.url, url);
	config_free(cfg);
	snprintf(text, sizeof(text), "[server:A]\nport = 1\n[places]\n"
	    "url = %s", url);
	cfg = load_ok(text);
	assert_string_equal(cfg->places.url, url);
	config_free(cfg);

	/* One more byte is too long, whatever ends the line. */
	url[n] = 'u';
	url[n + 1] = '\0';
	snprintf(text, sizeof(text), "[places]\nurl = %s\n[server:A]\n"
	    "port = 1\n", url);
	expect_errors(text, ":2: line too long (more than 197 bytes)", NULL);
	snprintf(text, sizeof(text), "[places]\r\nurl = %s\r\n[server:A]\r\n"
	    "port = 1\r\n", url);
	expect_errors(text, ":2: line too long (more than 197 bytes)", NULL);
	snprintf(text, sizeof(text), "[server:A]\nport = 1\n[places]\n"
	    "url = %s", url);
	expect_errors(text, ":4: line too long (more than 197 bytes)", NULL);
}

static void
test_line_too_long(void **state)
{
	char text[2048], pad[600];

	(void)state;
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	/* A long comment, then errors on the following lines keep their
	 * numbers and nothing of the long line is parsed. */
	snprintf(text, sizeof(text), "[server:A]\nport = 1\n; %s\n"
	    "host = nope\n%s = 5\nbind = nope\n", pad, pad);
	expect_errors(text,
	    ":3: line too long (more than 197 bytes)",
	    ":4: bad host 'nope' (expected a numeric IPv4 or IPv6 address)",
	    ":5: line too long (more than 197 bytes)",
	    ":6: bad bind 'nope' (expected a numeric IPv4 or IPv6 address,"
	    " or *)",
	    NULL);
	/* A section header with a long comment: its keys are skipped, not
	 * charged to the section before it. */
	snprintf(text, sizeof(text), "[server:A]\nport = 1\n"
	    "[server:B] ; %s\nport = 2\nhost = nope\n", pad);
	expect_errors(text, ":3: line too long (more than 197 bytes)", NULL);
}

/* ---- errors, one kind at a time ---- */

static void
test_err_unknown_section(void **state)
{
	(void)state;
	expect_errors("[server:A]\nport = 1\n\n[colours]\nred = 1\nblue = 2\n",
	    ":4: unknown section [colours] (expected [herd], [places] or"
	    " [server:NAME])", NULL);
	expect_errors("[server:A]\nport = 1\n[Herd]\n",
	    ":3: unknown section [Herd] (expected [herd], [places] or"
	    " [server:NAME])", NULL);
	expect_errors("[server:A]\nport = 1\n[server]\nport = 2\n",
	    ":3: unknown section [server] (expected [herd], [places] or"
	    " [server:NAME])", NULL);
	expect_errors("[server:A]\nport = 1\n[server:]\nport = 2\n",
	    ":3: invalid server name '' (1 to 63 of A-Z a-z 0-9 . _ -)",
	    NULL);
	expect_errors("[server:A]\nport = 1\n[server:a b]\nport = 2\n",
	    ":3: invalid server name 'a b' (1 to 63 of A-Z a-z 0-9 . _ -)",
	    NULL);
	expect_errors("[server:A]\nport = 1\n"
	    "[server:x234567890123456789012345678901234567890123456789012345"
	    "6789012345]\n",
	    ":3: invalid server name 'x2345678901234567890123456789012345678"
	    "901234567890123456789012345' (1 to 63 of A-Z a-z 0-9 . _ -)",
	    NULL);
}

static void
test_err_section_without_bracket(void **state)
{
	(void)state;
	/* Its keys are not charged to the previous section. */
	expect_errors("[server:A]\nport = 1\n[server:B\nport = 2\n",
	    ":3: section header without ']'", NULL);
}

static void
test_err_unknown_key(void **state)
{
	(void)state;
	expect_errors("[server:A]\nport = 1\ncolour = red\n",
	    ":3: unknown key 'colour' in [server:A]", NULL);
	expect_errors("[herd]\nport = 1\n[server:A]\nport = 1\n",
	    ":2: unknown key 'port' in [herd]", NULL);
	expect_errors("[places]\ntimeout = 5\n[server:A]\nport = 1\n",
	    ":2: unknown key 'timeout' in [places]", NULL);
	expect_errors("[server:A]\nPort = 1\nport = 1\n",
	    ":2: unknown key 'Port' in [server:A]", NULL);
}

static void
test_err_key_outside_section(void **state)
{
	(void)state;
	expect_errors("\n; top\nport = 1\n[server:A]\nport = 1\n",
	    ":3: key 'port' outside any section", NULL);
}

static void
test_err_duplicate_server(void **state)
{
	(void)state;
	/* The duplicate's keys are skipped, not merged. */
	expect_errors("[server:A]\nport = 1\n\n[server:A]\nport = 2\n"
	    "bogus = 1\n",
	    ":4: duplicate server 'A' (first defined at line 1)", NULL);
}

static void
test_err_duplicate_key(void **state)
{
	(void)state;
	expect_errors("[server:A]\nport = 1\nhost = 127.0.0.1\nport = 2\n",
	    ":4: duplicate key 'port'", NULL);
	expect_errors("[places]\napi = new\napi = new\n[server:A]\nport = 1\n",
	    ":3: duplicate key 'api'", NULL);
	expect_errors("[herd]\nmax_line = 300\nmax_line = 300\n"
	    "[server:A]\nport = 1\n",
	    ":3: duplicate key 'max_line'", NULL);
}

/* A repeated [herd] or [places] header continues the section: a key set
 * in both copies is still a duplicate. */
static void
test_err_duplicate_key_repeated_header(void **state)
{
	(void)state;
	expect_errors("[herd]\nmax_line = 300\n[server:A]\nport = 1\n"
	    "[herd]\nmax_line = 400\n",
	    ":6: duplicate key 'max_line'", NULL);
	expect_errors("[places]\napi = new\n[places]\napi = legacy\n"
	    "[server:A]\nport = 1\n",
	    ":4: duplicate key 'api'", NULL);
	/* a port in each of two servers is not a duplicate */
	expect_errors("[server:A]\nport = 1\n[server:B]\nport = 2\n"
	    "[server:B]\nport = 3\n",
	    ":5: duplicate server 'B' (first defined at line 3)", NULL);
}

static void
test_err_bad_port(void **state)
{
	static const char *const bad[] = {
		"0", "65536", "abc", "-1", "12x", "+5", "0x10", "1e3",
		"99999999999999999999999", "1 2", "",
	};
	char text[256], want[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[server:A]\nport = %s\n",
		    bad[i]);
		snprintf(want, sizeof(want), ":2: bad port '%s' (expected"
		    " 1..65535)", bad[i]);
		/* One error per fault: a bad port is not also missing. */
		expect_errors(text, want, NULL);
	}
}

/* herdctl check's case: one error per fault, in file order, although
 * "has no port" is found after the whole file was read. */
static void
test_err_one_per_fault(void **state)
{
	(void)state;
	expect_errors("[server:Good]\nport = 12000\n"	/* 1-2 */
	    "[server:Bad]\nport = 99999\n"		/* 3-4 */
	    "[server:None]\nhost = 127.0.0.1\n"		/* 5-6 */
	    "[server:Late]\nneighbors = Ghost\nport = x\n", /* 7-9 */
	    ":4: bad port '99999' (expected 1..65535)",
	    ":5: server 'None' has no port",
	    ":8: server 'Late': unknown neighbour 'Ghost'",
	    ":9: bad port 'x' (expected 1..65535)",
	    NULL);
	/* A refused server header is not also "no [server:NAME] section". */
	expect_errors("[server:a/b]\nport = 1\n",
	    ":1: invalid server name 'a/b' (1 to 63 of A-Z a-z 0-9 . _ -)",
	    NULL);
	/* A bad tls_cert is reported where it stands, not as missing. */
	expect_errors("[herd]\ntls_cert = relative.pem\n"
	    "tls_key = /k.pem\n[server:A]\nport = 1\ntls_port = 2\n",
	    ":2: tls_cert must be an absolute path",
	    NULL);
	expect_errors("[herd]\ntls_key = /k.pem\n"
	    "[server:A]\nport = 1\ntls_port = 2\n",
	    ":3: server 'A' has a tls_port but [herd] has no tls_cert and"
	    " tls_key", NULL);
}

static void
test_err_missing_port(void **state)
{
	(void)state;
	expect_errors("[server:A]\nport = 1\n\n[server:B]\nhost = 127.0.0.1\n"
	    "neighbors = A\n",
	    ":4: server 'B' has no port", NULL);
}

static void
test_err_neighbours(void **state)
{
	(void)state;
	expect_errors("[server:A]\nport = 1\nneighbors = B Nobody\n"
	    "[server:B]\nport = 2\n",
	    ":3: server 'A': unknown neighbour 'Nobody'", NULL);
	/* Names are case-sensitive. */
	expect_errors("[server:A]\nport = 1\nneighbors = b\n"
	    "[server:B]\nport = 2\n",
	    ":3: server 'A': unknown neighbour 'b'", NULL);
	expect_errors("[server:A]\nport = 1\nneighbors = B, A\n"
	    "[server:B]\nport = 2\n",
	    ":3: server 'A' lists itself as a neighbour", NULL);
	/* Errors in continuation lines are at their own line. */
	expect_errors("[server:A]\nport = 1\nneighbors = B\n  Nobody\n"
	    "  C\n  A\n[server:B]\nport = 2\n[server:C]\nport = 3\n",
	    ":4: server 'A': unknown neighbour 'Nobody'",
	    ":6: server 'A' lists itself as a neighbour", NULL);
	expect_errors("[server:A]\nport = 1\nneighbors = B B\n"
	    "[server:B]\nport = 2\n",
	    ":3: neighbour 'B' listed twice", NULL);
	expect_errors("[server:A]\nport = 1\nneighbors = B\nneighbours = B\n"
	    "[server:B]\nport = 2\n",
	    ":4: neighbour 'B' listed twice", NULL);
	expect_errors("[server:A]\nport = 1\nneighbors = B, C!\n"
	    "[server:B]\nport = 2\n",
	    ":3: invalid neighbour name 'C!'", NULL);
}

static void
test_err_port_clash(void **state)
{
	(void)state;
	expect_errors("[server:A]\nport = 5\n[server:B]\nport = 5\n",
	    ":3: server 'B': port 5 on 127.0.0.1 is already used by server"
	    " 'A' (line 1)", NULL);
	/* The address is compared normalised. */
	expect_errors("[server:A]\nport = 5\nhost = ::1\n"
	    "[server:B]\nport = 5\nhost = 0::0:1\n",
	    ":4: server 'B': port 5 on ::1 is already used by server"
	    " 'A' (line 1)", NULL);
	/* bind = * takes the port on every address of its host. */
	expect_errors("[server:A]\nport = 5\nbind = *\n"
	    "[server:B]\nport = 5\n",
	    ":4: server 'B': port 5 on 127.0.0.1 is already used by server"
	    " 'A' (line 1)", NULL);
	expect_errors("[server:A]\nport = 5\nhost = 10.0.0.2\n"
	    "[server:B]\nport = 5\nhost = 10.0.0.2\nbind = *\n",
	    ":4: server 'B': port 5 on 0.0.0.0 is already used by server"
	    " 'A' (line 1)", NULL);
	expect_errors("[server:A]\nport = 5\nhost = 10.0.0.2\nbind = *\n"
	    "[server:B]\nport = 5\nhost = 10.0.0.2\nbind = *\n",
	    ":5: server 'B': port 5 on 0.0.0.0 is already used by server"
	    " 'A' (line 1)", NULL);
	/* One error per clashing server, naming the first holder. */
	expect_errors("[server:A]\nport = 5\n[server:B]\nport = 5\n"
	    "[server:C]\nport = 5\n",
	    ":3: server 'B': port 5 on 127.0.0.1 is already used by server"
	    " 'A' (line 1)",
	    ":5: server 'C': port 5 on 127.0.0.1 is already used by server"
	    " 'A' (line 1)", NULL);
}

/* A metrics_port is a socket like the others: another server's port,
 * tls_port or metrics_port on the same address is refused at load, and
 * so is [herd] http's port (every supervisor serves it). */
static void
test_err_metrics_and_http_clash(void **state)
{
	struct herd_config *cfg;

	(void)state;
	expect_errors("[server:A]\nport = 5\n"
	    "[server:B]\nport = 6\nmetrics_port = 5\n",
	    ":3: server 'B': metrics_port 5 on 127.0.0.1 is already used by"
	    " server 'A' (line 1)", NULL);
	expect_errors("[server:A]\nport = 5\nmetrics_port = 9100\n"
	    "[server:B]\nport = 6\nmetrics_port = 9100\n",
	    ":4: server 'B': metrics_port 9100 on 127.0.0.1 is already used"
	    " by server 'A' (line 1)", NULL);
	expect_errors("[server:A]\nport = 5\nmetrics_port = 9100\n"
	    "metrics_bind = *\n[server:B]\nport = 9100\n",
	    ":5: server 'B': port 9100 on 127.0.0.1 is already used by"
	    " server 'A' (line 1)", NULL);
	expect_errors("[herd]\nhttp = 127.0.0.1:7\n"
	    "[server:A]\nport = 5\nmetrics_port = 7\n",
	    ":3: server 'A': metrics_port 7 on 127.0.0.1 is also [herd]"
	    " http's", NULL);
	expect_errors("[herd]\nhttp = 0.0.0.0:7\n"
	    "[server:A]\nport = 7\nhost = 10.0.0.1\n",
	    ":3: server 'A': port 7 on 10.0.0.1 is also [herd] http's", NULL);
	expect_errors("[herd]\nhttp = 127.0.0.1:7\n"
	    "[server:A]\nport = 7\nhost = 10.0.0.1\nbind = *\n",
	    ":3: server 'A': port 7 on 0.0.0.0 is also [herd] http's", NULL);
	/* Apart: other machines, other addresses, other ports. */
	cfg = load_ok("[herd]\nhttp = 127.0.0.1:7\n"
	    "[server:A]\nport = 7\nhost = 10.0.0.1\nmetrics_port = 9100\n"
	    "[server:B]\nport = 8\nhost = 10.0.0.2\nmetrics_port = 9100\n"
	    "metrics_bind = 10.0.0.2\n[server:C]\nport = 9\n"
	    "metrics_port = 9100\n");
	config_free(cfg);
}

static void
test_port_no_clash(void **state)
{
	struct herd_config *cfg;

	(void)state;
	/* Same port on different addresses is fine. */
	cfg = load_ok("[server:A]\nport = 5\nhost = 10.0.0.1\n"
	    "[server:B]\nport = 5\nhost = 10.0.0.2\n"
	    "[server:C]\nport = 5\nhost = 10.0.0.3\nbind = 10.0.0.4\n");
	assert_int_equal(cfg->nservers, 3);
	config_free(cfg);
	/* Wildcard binds on different hosts (machines) are fine too. */
	cfg = load_ok("[server:A]\nport = 5\nhost = 10.0.0.1\nbind = *\n"
	    "[server:B]\nport = 5\nhost = 10.0.0.2\nbind = *\n"
	    "[server:C]\nport = 5\nhost = 10.0.0.3\n");
	assert_int_equal(cfg->nservers, 3);
	config_free(cfg);
}

static void
test_err_bad_values(void **state)
{
	(void)state;
	expect_errors("[server:A]\nport = 1\nhost = localhost\n",
	    ":3: bad host 'localhost' (expected a numeric IPv4 or IPv6"
	    " address)", NULL);
	expect_errors("[server:A]\nport = 1\nhost = *\n",
	    ":3: bad host '*' (expected a numeric IPv4 or IPv6 address)",
	    NULL);
	expect_errors("[server:A]\nport = 1\nhost = 256.0.0.1\n",
	    ":3: bad host '256.0.0.1' (expected a numeric IPv4 or IPv6"
	    " address)", NULL);
	expect_errors("[server:A]\nport = 1\nbind = example.com\n",
	    ":3: bad bind 'example.com' (expected a numeric IPv4 or IPv6"
	    " address, or *)", NULL);
	expect_errors("[places]\napi = old\n[server:A]\nport = 1\n",
	    ":2: bad api 'old' (expected new, legacy, overpass or"
	    " geonames)", NULL);
	expect_errors("[places]\napi = New\n[server:A]\nport = 1\n",
	    ":2: bad api 'New' (expected new, legacy, overpass or"
	    " geonames)", NULL);
	expect_errors("[places]\nurl = ftp://example.com/\n[server:A]\n"
	    "port = 1\n",
	    ":2: bad url 'ftp://example.com/' (expected http:// or"
	    " https://)", NULL);
	expect_errors("[places]\nurl = example.com\n[server:A]\nport = 1\n",
	    ":2: bad url 'example.com' (expected http:// or https://)",
	    NULL);
	expect_errors("[places]\ntimeout_ms = 99\n[server:A]\nport = 1\n",
	    ":2: bad timeout_ms '99' (expected 100..600000)", NULL);
	expect_errors("[places]\ncache_ttl_s = -1\n[server:A]\nport = 1\n",
	    ":2: bad cache_ttl_s '-1' (expected 0..86400)", NULL);
	expect_errors("[herd]\nmax_line = 255\n[server:A]\nport = 1\n",
	    ":2: bad max_line '255' (expected bytes, 256..1048576)", NULL);
	expect_errors("[herd]\nmax_output = 1k\n[server:A]\nport = 1\n",
	    ":2: bad max_output '1k' (expected bytes, 4096..1073741824)",
	    NULL);
	expect_errors("[herd]\nrun_dir = run/herd\n[server:A]\nport = 1\n",
	    ":2: run_dir must be an absolute path", NULL);
	expect_errors("[herd]\nlog_socket = dev/log\n[server:A]\nport = 1\n",
	    ":2: log_socket must be an absolute path", NULL);
}

/* [places] max_in_flight: default 32, 1..1024, else file:line error. */
static void
test_places_max_in_flight(void **state)
{
	struct herd_config *cfg;

	(void)state;
	cfg = load_ok("[server:A]\nport = 1\n");
	assert_int_equal(cfg->places.max_in_flight, 32);
	config_free(cfg);
	cfg = load_ok("[places]\nmax_in_flight = 1\n[server:A]\nport = 1\n");
	assert_int_equal(cfg->places.max_in_flight, 1);
	config_free(cfg);
	cfg = load_ok("[places]\nmax_in_flight = 1024\n[server:A]\n"
	    "port = 1\n");
	assert_int_equal(cfg->places.max_in_flight, 1024);
	config_free(cfg);
	expect_errors("[places]\nmax_in_flight = 0\n[server:A]\nport = 1\n",
	    ":2: bad max_in_flight '0' (expected requests, 1..1024)", NULL);
	expect_errors("[server:A]\nport = 1\n[places]\n\nmax_in_flight ="
	    " 1025\n", ":5: bad max_in_flight '1025' (expected requests, 1..1024)",
	    NULL);
	expect_errors("[places]\nmax_in_flight = -3\n[server:A]\nport = 1\n",
	    ":2: bad max_in_flight '-3' (expected requests, 1..1024)", NULL);
	expect_errors("[places]\nmax_in_flight = 8x\n[server:A]\nport = 1\n",
	    ":2: bad max_in_flight '8x' (expected requests, 1..1024)", NULL);
	expect_errors("[herd]\nmax_in_flight = 8\n[server:A]\nport = 1\n",
	    ":2: unknown key 'max_in_flight' in [herd]", NULL);
}

static void
test_places_geonames_keys(void **state)
{
	struct herd_config *cfg;

	(void)state;
	cfg = load_ok("[server:A]\nport = 1\n");
	assert_int_equal(cfg->places.api_set, 0);
	assert_null(cfg->places.geonames_file);
	assert_int_equal(cfg->places.geonames_classes, GN_CLASSES_DEFAULT);
	config_free(cfg);
	cfg = load_ok("[places]\napi = geonames\ngeonames_file = /d/a.txt\n"
	    "geonames_classes = S,P\n[server:A]\nport = 1\n");
	assert_int_equal(cfg->places.api, PLACES_API_GEONAMES);
	assert_int_equal(cfg->places.api_set, 1);
	assert_string_equal(cfg->places.geonames_file, "/d/a.txt");
	assert_int_equal(cfg->places.geonames_classes,
	    GN_CLASS('S') | GN_CLASS('P'));
	config_free(cfg);
	cfg = load_ok("[places]\napi = new\n[server:A]\nport = 1\n");
	assert_int_equal(cfg->places.api_set, 1);
	config_free(cfg);
	expect_errors("[places]\ngeonames_classes = P Q\n[server:A]\n"
	    "port = 1\n", ":2: bad geonames_classes 'P Q' (expected feature"
	    " class letters among A H L P R S T U V, such as P S L T H)", NULL);
	expect_errors("[places]\ngeonames_file = rel.txt\n[server:A]\n"
	    "port = 1\n", ":2: geonames_file must be an absolute path", NULL);
}

static void
test_err_syntax(void **state)
{
	(void)state;
	expect_errors("[server:A]\nport = 1\nthis is not ini\n",
	    ":3: syntax error (expected [section], key = value, or a ;"
	    " comment)", NULL);
	/* "; " starts an inline comment, so this has no '='. */
	expect_errors("[server:A]\nport = 1\nhost ; = 1\n",
	    ":3: syntax error (expected [section], key = value, or a ;"
	    " comment)", NULL);
	/* Every syntax error is reported, not just the first. */
	expect_errors("garbage\n[server:A]\nport = 1\nmore garbage\n\n"
	    "  ; fine\nstill garbage",
	    ":1: syntax error (expected [section], key = value, or a ;"
	    " comment)",
	    ":4: syntax error (expected [section], key = value, or a ;"
	    " comment)",
	    ":7: syntax error (expected [section], key = value, or a ;"
	    " comment)", NULL);
}

static void
test_err_empty(void **state)
{
	(void)state;
	expect_errors("", ": no [server:NAME] section", NULL);
	expect_errors("; nothing\n[herd]\n[places]\n",
	    ": no [server:NAME] section", NULL);
}

static void
test_err_many(void **state)
{
	(void)state;
	/* Every error of the file, in one load, each at its line. */
	expect_errors(
	    "stray = 1\n"				/* 1 */
	    "[herd]\n"					/* 2 */
	    "max_line = 10\n"				/* 3 */
	    "[places]\n"				/* 4 */
	    "api = classic\n"				/* 5 */
	    "url = gopher://x\n"			/* 6 */
	    "[server:A]\n"				/* 7 */
	    "port = 70000\n"				/* 8 */
	    "neighbors = B Ghost\n"			/* 9 */
	    "wat\n"					/* 10 */
	    "[server:B]\n"				/* 11 */
	    "port = 12000\n"				/* 12 */
	    "host = my.host\n"				/* 13 */
	    "port = 12001\n"				/* 14 */
	    "[server:B]\n"				/* 15 */
	    "[server:C]\n"				/* 16 */
	    "neighbors = C\n"				/* 17 */
	    "[server:D]\n"				/* 18 */
	    "port = 12000\n"				/* 19 */
	    "[mystery]\n",				/* 20 */
	    ":1: key 'stray' outside any section",
	    ":3: bad max_line '10' (expected bytes, 256..1048576)",
	    ":5: bad api 'classic' (expected new, legacy, overpass or"
	    " geonames)",
	    ":6: bad url 'gopher://x' (expected http:// or https://)",
	    ":8: bad port '70000' (expected 1..65535)",
	    ":9: server 'A': unknown neighbour 'Ghost'",
	    ":10: syntax error (expected [section], key = value, or a ;"
	    " comment)",
	    ":13: bad host 'my.host' (expected a numeric IPv4 or IPv6"
	    " address)",
	    ":14: duplicate key 'port'",
	    ":15: duplicate server 'B' (first defined at line 11)",
	    ":16: server 'C' has no port",
	    ":17: server 'C' lists itself as a neighbour",
	    ":18: server 'D': port 12000 on 127.0.0.1 is already used by"
	    " server 'B' (line 11)",
	    ":20: unknown section [mystery] (expected [herd], [places] or"
	    " [server:NAME])",
	    NULL);
}

static void
test_err_nonexistent(void **state)
{
	struct config_errors errs;
	struct herd_config *cfg;
	const char *p = "/nonexistent-herd-dir/herd.ini";

	(void)state;
	errs.count = 99;
	cfg = config_load(p, &errs);
	assert_null(cfg);
	assert_int_equal(errs.count, 1);
	assert_string_equal(errs.msgs[0], "/nonexistent-herd-dir/herd.ini:"
	    " cannot open: No such file or directory");
	config_errors_free(&errs);
	assert_int_equal(errs.count, 0);
	assert_null(errs.msgs);
	config_errors_free(&errs);	/* twice is harmless */
}

static void
test_err_nul_byte(void **state)
{
	struct config_errors errs;
	char tmpl[256], want[512];
	const char *dir = getenv("TMPDIR");
	int fd;

	(void)state;
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	assert_true((size_t)snprintf(tmpl, sizeof(tmpl), "%s/herd-test-XXXXXX",
	    dir) < sizeof(tmpl));
	assert_true((fd = mkstemp(tmpl)) != -1);
	assert_int_equal(write(fd, "[server:A]\nport = 1\0\n", 21), 21);
	close(fd);
	assert_null(config_load(tmpl, &errs));
	unlink(tmpl);
	assert_int_equal(errs.count, 1);
	snprintf(want, sizeof(want), "%s: file contains a NUL byte", tmpl);
	assert_string_equal(errs.msgs[0], want);
	config_errors_free(&errs);
}

/* [herd] data_dir, persist and fsync: defaults, values, errors. */
static void
test_persist_keys(void **state)
{
	struct herd_config *cfg;

	(void)state;
	cfg = load_ok("[server:A]\nport = 1\n");
	assert_null(cfg->herd.data_dir);
	assert_int_equal(cfg->herd.persist, 1);
	assert_int_equal(cfg->herd.fsync, HERD_FSYNC_EVERYSEC);
	config_free(cfg);
	cfg = load_ok("[herd]\ndata_dir = /var/lib/herd\npersist = no\n"
	    "fsync = always\n[server:A]\nport = 1\n");
	assert_string_equal(cfg->herd.data_dir, "/var/lib/herd");
	assert_int_equal(cfg->herd.persist, 0);
	assert_int_equal(cfg->herd.fsync, HERD_FSYNC_ALWAYS);
	config_free(cfg);
	cfg = load_ok("[herd]\npersist = yes\nfsync = no\n"
	    "[server:A]\nport = 1\n");
	assert_int_equal(cfg->herd.persist, 1);
	assert_int_equal(cfg->herd.fsync, HERD_FSYNC_NO);
	config_free(cfg);
	assert_string_equal(config_fsync_name(HERD_FSYNC_ALWAYS), "always");
	assert_string_equal(config_fsync_name(HERD_FSYNC_EVERYSEC),
	    "everysec");
	assert_string_equal(config_fsync_name(HERD_FSYNC_NO), "no");
	expect_errors("[herd]\ndata_dir = rel/dir\npersist = maybe\n"
	    "fsync = sometimes\nfsync = no\n[server:A]\nport = 1\n",
	    ":2: data_dir must be an absolute path",
	    ":3: bad persist 'maybe' (expected yes or no)",
	    ":4: bad fsync 'sometimes' (expected always, everysec or no)",
	    ":5: duplicate key 'fsync'", NULL);
}

/* [herd] peer_protocol: 2 by default, 1 pins herd/1, nothing else. */
static void
test_peer_protocol(void **state)
{
	struct herd_config *cfg;

	(void)state;
	cfg = load_ok("[server:A]\nport = 1\n");
	assert_int_equal(cfg->herd.peer_protocol, 2);
	config_free(cfg);
	cfg = load_ok("[herd]\npeer_protocol = 1\n[server:A]\nport = 1\n");
	assert_int_equal(cfg->herd.peer_protocol, 1);
	config_free(cfg);
	expect_errors("[herd]\npeer_protocol = 3\n[server:A]\nport = 1\n",
	    ":2: bad peer_protocol '3' (expected 1 or 2)", NULL);
	expect_errors("[herd]\npeer_protocol = 02\n[server:A]\nport = 1\n",
	    ":2: bad peer_protocol '02' (expected 1 or 2)", NULL);
}

/* ---- helpers ---- */

static void
test_default_path(void **state)
{
	(void)state;
	assert_string_equal(config_default_path("/x.ini"), "/x.ini");
	assert_int_equal(setenv("HERD_CONFIG", "/env.ini", 1), 0);
	assert_string_equal(config_default_path("/x.ini"), "/x.ini");
	assert_string_equal(config_default_path(NULL), "/env.ini");
	assert_int_equal(setenv("HERD_CONFIG", "", 1), 0);
	assert_string_equal(config_default_path(NULL), "/etc/herd/herd.ini");
	assert_int_equal(unsetenv("HERD_CONFIG"), 0);
	assert_string_equal(config_default_path(NULL), HERD_DEFAULT_CONFIG);
	assert_string_equal(config_places_default_url(PLACES_API_NEW),
	    "https://places.googleapis.com/v1/places:searchNearby");
	assert_string_equal(config_places_default_url(PLACES_API_LEGACY),
	    "https://maps.googleapis.com/maps/api/place/nearbysearch/json");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped),
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_host_bind),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_metrics_keys),
		cmocka_unit_test(test_links_undirected),
		cmocka_unit_test(test_neighbor_lists),
		cmocka_unit_test(test_syntax_variants),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_err_unknown_section),
		cmocka_unit_test(test_err_section_without_bracket),
		cmocka_unit_test(test_err_unknown_key),
		cmocka_unit_test(test_err_key_outside_section),
		cmocka_unit_test(test_err_duplicate_server),
		cmocka_unit_test(test_err_duplicate_key_repeated_header),
		cmocka_unit_test(test_err_duplicate_key),
		cmocka_unit_test(test_err_bad_port),
		cmocka_unit_test(test_err_missing_port),
		cmocka_unit_test(test_err_one_per_fault),
		cmocka_unit_test(test_err_neighbours),
		cmocka_unit_test(test_err_port_clash),
		cmocka_unit_test(test_err_metrics_and_http_clash),
		cmocka_unit_test(test_port_no_clash),
		cmocka_unit_test(test_err_bad_values),
		cmocka_unit_test(test_places_max_in_flight),
		cmocka_unit_test(test_places_geonames_keys),
		cmocka_unit_test(test_err_syntax),
		cmocka_unit_test(test_err_empty),
		cmocka_unit_test(test_err_many),
		cmocka_unit_test(test_err_nonexistent),
		cmocka_unit_test(test_err_nul_byte),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_persist_keys),
		cmocka_unit_test(test_peer_protocol),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
