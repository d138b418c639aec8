/*
 * test_reload.c -- unit tests for the reload planner (src/reload.c).
 *
 * Each test parses two INI texts in memory (config_parse) and checks the
 * action planned for every server: keep, start, stop, restart or signal,
 * in the planner's order (servers of the new file, then the removed ones).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "herd/config.h"
#include "herd/reload.h"

#define BASE	"[herd]\nmax_clients = 100\n" \
		"[server:A]\nport = 1\nneighbors = B\n" \
		"[server:B]\nport = 2\n" \
		"[server:C]\nport = 3\nneighbors = B\n"

static struct herd_config *parse(const char *);
static void	expect_plan(const char *, const char *, int, const char *);

/* Parse text, failing the test with its errors if it does not load. */
static struct herd_config *
parse(const char *text)
{
	struct config_errors errs;
	struct herd_config *cfg;
	size_t i;

	cfg = config_parse("test.ini", text, strlen(text), &errs);
	for (i = 0; cfg == NULL && i < errs.count; i++)
		print_error("%s\n", errs.msgs[i]);
	config_errors_free(&errs);
	assert_non_null(cfg);
	return cfg;
}

/*
 * Plan old -> new and compare with want, written "A=keep B=signal ..." in
 * the planner's order ("A=restart/rolling": one at a time).
 */
static void
expect_plan(const char *old, const char *new, int secret_changed,
    const char *want)
{
	struct herd_config *oc = parse(old), *nc = parse(new);
	struct reload_plan plan;
	char got[512] = "";
	size_t i, off = 0;

	assert_int_equal(reload_plan(oc, nc, secret_changed, &plan), 0);
	for (i = 0; i < plan.count; i++) {
		off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s=%s%s",
		    i ? " " : "", plan.items[i].name,
		    reload_action_name(plan.items[i].action),
		    plan.items[i].rolling ? "/rolling" : "");
		assert_non_null(plan.items[i].why);
		assert_true(off < sizeof(got));
	}
	if (strcmp(got, want) != 0)
		fail_msg("plan\n  got:  %s\n  want: %s", got, want);
	reload_plan_free(&plan);
	assert_null(plan.items);
	assert_int_equal(plan.count, 0);
	config_free(oc);
	config_free(nc);
}

/* The same file keeps every server. */
static void
test_unchanged_keeps_all(void **state)
{
	(void)state;
	expect_plan(BASE, BASE, 0, "A=keep B=keep C=keep");
}

/* A new section starts; a removed one stops (listed after the rest) and
 * its neighbour B, which lost a link, re-reads the file. */
static void
test_added_and_removed(void **state)
{
	(void)state;
	expect_plan(BASE, "[herd]\nmax_clients = 100\n"
	    "[server:A]\nport = 1\nneighbors = B\n[server:B]\nport = 2\n"
	    "[server:D]\nport = 4\n",
	    0, "A=keep B=signal D=start C=stop");
}

/* port, host or bind changed: restart, and only that server. */
static void
test_listen_address_restarts(void **state)
{
	(void)state;
	expect_plan(BASE, "[herd]\nmax_clients = 100\n"
	    "[server:A]\nport = 11\nneighbors = B\n[server:B]\nport = 2\n"
	    "[server:C]\nport = 3\nneighbors = B\n",
	    0, "A=restart B=signal C=keep");
	expect_plan(BASE, "[herd]\nmax_clients = 100\n"
	    "[server:A]\nport = 1\nbind = 0.0.0.0\nneighbors = B\n"
	    "[server:B]\nport = 2\n[server:C]\nport = 3\nneighbors = B\n",
	    0, "A=restart B=keep C=keep");
}

/* A tls_port added restarts its server; afterwards every reload signals
 * it, so that it re-reads its certificate and key. */
static void
test_tls_port(void **state)
{
#define TLS_BASE "[herd]\nmax_clients = 100\ntls_cert = /c.pem\n" \
	"tls_key = /k.pem\n[server:A]\nport = 1\nneighbors = B\n" \
	"[server:B]\nport = 2\n[server:C]\nport = 3\nneighbors = B\n"
#define TLS_ON "[herd]\nmax_clients = 100\ntls_cert = /c.pem\n" \
	"tls_key = /k.pem\n[server:A]\nport = 1\ntls_port = 5\n" \
	"neighbors = B\n[server:B]\nport = 2\n[server:C]\nport = 3\n" \
	"neighbors = B\n"
	(void)state;
	expect_plan(TLS_BASE, TLS_ON, 0, "A=restart B=keep C=keep");
	expect_plan(TLS_ON, TLS_ON, 0, "A=signal B=keep C=keep");
#undef TLS_BASE
#undef TLS_ON
}

/* A metrics_port added, moved or rebound signals only its server, which
 * rebinds it in place. */
static void
test_metrics_port_signals(void **state)
{
	(void)state;
	expect_plan(BASE, "[herd]\nmax_clients = 100\n"
	    "[server:A]\nport = 1\nneighbors = B\nmetrics_port = 9\n"
	    "[server:B]\nport = 2\n[server:C]\nport = 3\nneighbors = B\n",
	    0, "A=signal B=keep C=keep");
	expect_plan("[server:A]\nport = 1\nmetrics_port = 9\n",
	    "[server:A]\nport = 1\nmetrics_port = 9\nmetrics_bind = *\n",
	    0, "A=signal");
}

/* A neighbour's moved port signals the servers linked to it; a link
 * added signals both of its ends. */
static void
test_neighbours_signal(void **state)
{
	(void)state;
	/* B moved: B restarts, A and C (its neighbours) re-dial. */
	expect_plan(BASE, "[herd]\nmax_clients = 100\n"
	    "[server:A]\nport = 1\nneighbors = B\n[server:B]\nport = 22\n"
	    "[server:C]\nport = 3\nneighbors = B\n",
	    0, "A=signal B=restart C=signal");
	/* A-C added. */
	expect_plan(BASE, "[herd]\nmax_clients = 100\n"
	    "[server:A]\nport = 1\nneighbors = B C\n[server:B]\nport = 2\n"
	    "[server:C]\nport = 3\nneighbors = B\n",
	    0, "A=signal B=keep C=signal");
	/* B's neighbour list removed: links A-B and C-B still exist,
	 * declared from the other end. */
	expect_plan(BASE, "[herd]\nmax_clients = 100\n"
	    "[server:A]\nport = 1\n[server:B]\nport = 2\nneighbors = A C\n"
	    "[server:C]\nport = 3\n",
	    0, "A=keep B=keep C=keep");
}

/* A changed [herd] or [places] setting signals every server. */
static void
test_globals_signal_everyone(void **state)
{
	(void)state;
	expect_plan(BASE, "[herd]\nmax_clients = 200\n"
	    "[server:A]\nport = 1\nneighbors = B\n[server:B]\nport = 2\n"
	    "[server:C]\nport = 3\nneighbors = B\n",
	    0, "A=signal B=signal C=signal");
	expect_plan(BASE, BASE "[places]\nkey = k\n", 0,
	    "A=signal B=signal C=signal");
	expect_plan(BASE "[places]\ntimeout_ms = 900\n",
	    BASE "[places]\ntimeout_ms = 901\n", 0,
	    "A=signal B=signal C=signal");
	expect_plan(BASE, "[herd]\nmax_clients = 100\nsecret_file = /s\n"
	    "[server:A]\nport = 1\nneighbors = B\n[server:B]\nport = 2\n"
	    "[server:C]\nport = 3\nneighbors = B\n",
	    0, "A=signal B=signal C=signal");
}

/* run_dir is the supervisor's alone: no server is disturbed. */
static void
test_run_dir_is_not_a_node_setting(void **state)
{
	(void)state;
	expect_plan(BASE, BASE "[herd]\nrun_dir = /tmp/elsewhere\n", 0,
	    "A=keep B=keep C=keep");
}

/* The same secret_file path with a new content signals everyone, and
 * a restart wins over the signal. */
static void
test_rotated_secret_signals(void **state)
{
	(void)state;
	expect_plan(BASE, BASE, 1, "A=signal B=signal C=signal");
	expect_plan(BASE, "[herd]\nmax_clients = 100\n"
	    "[server:A]\nport = 11\nneighbors = B\n[server:B]\nport = 2\n"
	    "[server:C]\nport = 3\nneighbors = B\n",
	    1, "A=restart B=signal C=signal");
}

/* A new fsync restarts every server in turn (records are on disk); a
 * moved server restarts at once; without persistence fsync is moot. */
static void
test_fsync_restarts_in_turn(void **state)
{
	(void)state;
	expect_plan(BASE, BASE "[herd]\nfsync = always\n", 0,
	    "A=restart/rolling B=restart/rolling C=restart/rolling");
	expect_plan(BASE, "[herd]\nmax_clients = 100\nfsync = no\n"
	    "[server:A]\nport = 11\nneighbors = B\n[server:B]\nport = 2\n"
	    "[server:C]\nport = 3\nneighbors = B\n",
	    0, "A=restart B=restart/rolling C=restart/rolling");
	expect_plan(BASE "[herd]\npersist = no\n",
	    BASE "[herd]\npersist = no\nfsync = always\n", 0,
	    "A=keep B=keep C=keep");
}

/* Where records are kept: data_dir, else the fallback, none without
 * persistence; a reload that would move them is refused, saying why. */
static void
test_data_dir_change_refused(void **state)
{
	struct herd_config *a = parse(BASE), *b = parse(BASE
	    "[herd]\ndata_dir = /srv/herd\n"), *c = parse(BASE
	    "[herd]\npersist = no\ndata_dir = /srv/herd\n");
	char err[512] = "";

	(void)state;
	assert_string_equal(reload_data_dir(a, "/var/lib/herd"),
	    "/var/lib/herd");
	assert_null(reload_data_dir(a, NULL));
	assert_string_equal(reload_data_dir(b, "/var/lib/herd"), "/srv/herd");
	assert_null(reload_data_dir(c, "/var/lib/herd"));
	assert_int_equal(reload_check_data_dir("/srv/herd", "/srv/herd", err,
	    sizeof(err)), 0);
	assert_int_equal(reload_check_data_dir(NULL, NULL, err, sizeof(err)),
	    0);
	assert_int_equal(reload_check_data_dir("/var/lib/herd", "/srv/herd",
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "data_dir changed from /var/lib/herd to"
	    " /srv/herd"));
	assert_non_null(strstr(err, "nothing changed"));
	assert_int_equal(reload_check_data_dir("/srv/herd", NULL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "persistence turned off"));
	assert_int_equal(reload_check_data_dir(NULL, "/srv/herd", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "persistence turned on"));
	config_free(a);
	config_free(b);
	config_free(c);
}

/* Every action has its lower-case name; an unknown one is "?". */
static void
test_action_names(void **state)
{
	(void)state;
	assert_string_equal(reload_action_name(RELOAD_KEEP), "keep");
	assert_string_equal(reload_action_name(RELOAD_START), "start");
	assert_string_equal(reload_action_name(RELOAD_STOP), "stop");
	assert_string_equal(reload_action_name(RELOAD_RESTART), "restart");
	assert_string_equal(reload_action_name(RELOAD_SIGNAL), "signal");
	assert_string_equal(reload_action_name((enum reload_action)99), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unchanged_keeps_all),
		cmocka_unit_test(test_tls_port),
		cmocka_unit_test(test_metrics_port_signals),
		cmocka_unit_test(test_added_and_removed),
		cmocka_unit_test(test_listen_address_restarts),
		cmocka_unit_test(test_neighbours_signal),
		cmocka_unit_test(test_globals_signal_everyone),
		cmocka_unit_test(test_run_dir_is_not_a_node_setting),
		cmocka_unit_test(test_rotated_secret_signals),
		cmocka_unit_test(test_fsync_restarts_in_turn),
		cmocka_unit_test(test_data_dir_change_refused),
		cmocka_unit_test(test_action_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
