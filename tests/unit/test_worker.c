/*
 * test_worker.c -- unit tests for the PERSIST status line parser
 * (worker_parse_persist in src/worker.c): the line comes from another
 * process, so every malformed variant must leave the old state alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "herd/worker.h"

/* Every state and policy the node may report is taken as is. */
static void
test_parse_good(void **state)
{
	static const char *states[] = { "ok", "failing", "off" };
	static const char *policies[] = { "always", "everysec", "no" };
	struct worker_persist p;
	char line[64];
	size_t i, j;

	(void)state;
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++) {
			snprintf(line, sizeof(line), "PERSIST %s %s %zu",
			    states[i], policies[j], i * 1000 + j);
			memset(&p, 0x55, sizeof(p));
			assert_int_equal(worker_parse_persist(line, &p), 0);
			assert_string_equal(p.state, states[i]);
			assert_string_equal(p.fsync, policies[j]);
			assert_int_equal(p.lag_ms, i * 1000 + j);
		}
	assert_int_equal(worker_parse_persist("PERSIST ok everysec 0", &p), 0);
	assert_int_equal(p.lag_ms, 0);
	assert_int_equal(worker_parse_persist(
	    "PERSIST failing always 4294967296", &p), 0);
	assert_true(p.lag_ms == 4294967296UL);
}

/* Anything else is refused and leaves p untouched. */
static void
test_parse_bad(void **state)
{
	static const char *bad[] = {
		"", "PERSIST", "PERSIST ", "PERSIST ok", "PERSIST ok everysec",
		"PERSIST ok everysec ", "PERSIST ok everysec -1",
		"PERSIST ok everysec +1", "PERSIST ok everysec 1x",
		"PERSIST ok everysec 1 2", "PERSIST ok everysec 1 ",
		"PERSIST good everysec 1", "PERSIST ok sometimes 1",
		"PERSIST OK everysec 1", "PERSIST okeverysec 1",
		"PERSIST  ok everysec 1", "persist ok everysec 1",
		"PERSISTok everysec 1", "PERSIST failingfailing no 1",
		"PERSIST ok everysec 99999999999999999999999999",
		"RECORDS 5",
	};
	struct worker_persist p, before;
	size_t i;

	(void)state;
	memset(&before, 0, sizeof(before));
	strcpy(before.state, "ok");
	strcpy(before.fsync, "no");
	before.lag_ms = 7;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = before;
		if (worker_parse_persist(bad[i], &p) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_memory_equal(&p, &before, sizeof(p));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
