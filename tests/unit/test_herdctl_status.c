/*
 * test_herdctl_status.c -- unit tests for herdctl status's rendering
 * (cmd/herdctl/status.c): the uptime format, the table with its notes,
 * the JSON and the "all running" verdict, from status answers as the
 * supervisor sends them (and malformed ones: trust nothing).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../cmd/herdctl/herdctl.h"

#define HEADER	"NAME             STATE     PID      PORT   UPTIME   RESTARTS" \
		" LAST EXIT        PEERS\n"

/* What render(fp, answer) writes for the answer JSON text js. */
static char *
rendered(const char *js, int json)
{
	cJSON *o = cJSON_Parse(js);
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(o);
	assert_non_null(fp);
	if (json)
		status_print_json(fp, o);
	else
		status_print_table(fp, o);
	assert_int_equal(fclose(fp), 0);
	cJSON_Delete(o);
	return buf;
}

/* Assert the table of answer js is want. */
static void
expect_table(const char *js, const char *want)
{
	char *got = rendered(js, 0);

	assert_string_equal(got, want);
	free(got);
}

/* Seconds, minutes, hours and days, each with its smaller unit. */
static void
test_uptime(void **state)
{
	static const struct { double s; const char *want; } cases[] = {
		{ 0, "0s" }, { 59, "59s" }, { 60, "1m00s" }, { 187, "3m07s" },
		{ 3599, "59m59s" }, { 3600, "1h00m" }, { 7500, "2h05m" },
		{ 86399, "23h59m" }, { 86400, "1d00h" }, { 97200, "1d03h" },
	};
	char buf[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		format_uptime(cases[i].s, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
}

/* A running and a stopped worker: pid and uptime only for the running. */
static void
test_table_rows(void **state)
{
	(void)state;
	expect_table("{\"ok\":true,\"log\":\"ok\",\"servers\":["
	    "{\"name\":\"Bailey\",\"state\":\"running\",\"pid\":4242,"
	    "\"port\":12001,\"uptime_s\":187,\"restarts\":0,"
	    "\"peers_up\":2,\"peers\":2},"
	    "{\"name\":\"Jaquez\",\"state\":\"stopped\",\"pid\":0,"
	    "\"port\":12002,\"uptime_s\":5,\"restarts\":3,"
	    "\"last_exit\":\"exit 1\",\"peers_up\":0,\"peers\":1}]}",
	    HEADER
	    "Bailey           running   4242     12001  3m07s    0        -"
	    "                2/2\n"
	    "Jaquez           stopped   -        12002  -        3        exit 1"
	    "           0/1\n");
}

/* Fatal with and without a reason, links down, persistence failing, and a
 * missing log socket: one note line each, under the table. */
static void
test_table_notes(void **state)
{
	(void)state;
	expect_table("{\"log\":\"socket missing\",\"log_socket\":\"/dev/log\","
	    "\"servers\":["
	    "{\"name\":\"A\",\"state\":\"fatal\",\"error\":\"port in use\"},"
	    "{\"name\":\"B\",\"state\":\"fatal\",\"last_exit\":\"signal 9\"},"
	    "{\"name\":\"C\",\"state\":\"running\",\"pid\":7,\"uptime_s\":1,"
	    "\"links\":{\"A\":false,\"B\":true,\"D\":false},"
	    "\"persist\":{\"state\":\"failing\",\"fsync\":\"EIO\","
	    "\"lag_ms\":1500}}]}",
	    HEADER
	    "A                fatal     -        -1     -        -1       -"
	    "                -1/-1\n"
	    "B                fatal     -        -1     -        -1       "
	    "signal 9         -1/-1\n"
	    "C                running   7        -1     1s       -1       -"
	    "                -1/-1\n"
	    "A: fatal: port in use\n"
	    "B: fatal: signal 9, no reason reported (see its log lines)\n"
	    "C: links down: A, D\n"
	    "C: persistence failing (fsync EIO, 1500 ms behind)\n"
	    "log: /dev/log socket missing: log lines are lost\n");
}

/* Members of the wrong type render as missing ones do. */
static void
test_table_hostile(void **state)
{
	(void)state;
	expect_table("{\"log\":7,\"servers\":[{\"name\":5,\"state\":[],"
	    "\"pid\":\"x\",\"port\":1e300,\"restarts\":-1e300}]}",
	    HEADER
	    "?                ?         -        -1     -        -1       -"
	    "                -1/-1\n");
}

/* --json: the servers and the log state, nothing else of the answer. */
static void
test_json(void **state)
{
	char *got;

	(void)state;
	got = rendered("{\"ok\":true,\"supervisor_pid\":1,\"log\":\"ok\","
	    "\"servers\":[{\"name\":\"A\"}],\"links\":[]}", 1);
	assert_string_equal(got, "{\"servers\":[{\"name\":\"A\"}],"
	    "\"log\":\"ok\"}\n");
	free(got);
	got = rendered("{\"servers\":[]}", 1);
	assert_string_equal(got, "{\"servers\":[]}\n");
	free(got);
}

/* All running unless one is not, or its persistence is failing. */
static void
test_all_running(void **state)
{
	static const struct { const char *js; int want; } cases[] = {
		{ "[]", 1 },
		{ "[{\"state\":\"running\"},{\"state\":\"running\","
		  "\"persist\":{\"state\":\"ok\"}}]", 1 },
		{ "[{\"state\":\"running\"},{\"state\":\"backoff\"}]", 0 },
		{ "[{\"state\":\"running\",\"persist\":{\"state\":"
		  "\"failing\"}}]", 0 },
		{ "[{\"name\":\"no state\"}]", 0 },
	};
	cJSON *a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_non_null(a = cJSON_Parse(cases[i].js));
		assert_int_equal(status_all_running(a), cases[i].want);
		cJSON_Delete(a);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uptime),
		cmocka_unit_test(test_table_rows),
		cmocka_unit_test(test_table_notes),
		cmocka_unit_test(test_table_hostile),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_all_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
