/*
 * test_rundir.c -- unit tests for the data directory's resolution order
 * (rundir_data_dir in src/rundir.c), a pure function of its inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "herd/rundir.h"

/* Assert that rundir_data_dir(...) gives want (NULL: none). */
static void
expect_dir(const char *want, const char *configured, const char *env,
    uid_t euid, const char *xdg, const char *home, const char *cwd)
{
	char *got = rundir_data_dir(configured, env, euid, xdg, home, cwd);

	if (want == NULL)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
	free(got);
}

/* [herd] data_dir wins over everything else, for root and for users. */
static void
test_configured_first(void **state)
{
	(void)state;
	expect_dir("/srv/herd", "/srv/herd", "/env", 0, "/xdg", "/home/u",
	    "/cwd");
	expect_dir("/srv/herd", "/srv/herd", "/env", 1000, "/xdg", "/home/u",
	    "/cwd");
}

/* Then $HERD_DATA_DIR: absolute as is, relative against the cwd. */
static void
test_env_second(void **state)
{
	(void)state;
	expect_dir("/env", NULL, "/env", 0, "/xdg", "/home/u", "/cwd");
	expect_dir("/env", NULL, "/env", 1000, "/xdg", "/home/u", "/cwd");
	expect_dir("/work/tree/build/run/data", NULL, "build/run/data", 1000,
	    "/xdg", "/home/u", "/work/tree");
	/* Relative, and no working directory to resolve it against. */
	expect_dir(NULL, NULL, "data", 1000, "/xdg", "/home/u", NULL);
	/* Empty counts as unset. */
	expect_dir("/var/lib/herd", "", "", 0, NULL, NULL, "/cwd");
}

/* Then /var/lib/herd for root, whatever XDG and HOME say. */
static void
test_root_default(void **state)
{
	(void)state;
	expect_dir("/var/lib/herd", NULL, NULL, 0, "/xdg", "/root", "/cwd");
}

/* Users: $XDG_STATE_HOME/herd (if absolute), else ~/.local/state/herd. */
static void
test_user_default(void **state)
{
	(void)state;
	expect_dir("/xdg/herd", NULL, NULL, 1000, "/xdg", "/home/u", "/cwd");
	expect_dir("/home/u/.local/state/herd", NULL, NULL, 1000, NULL,
	    "/home/u", "/cwd");
	/* A relative $XDG_STATE_HOME is invalid (XDG spec): ignored. */
	expect_dir("/home/u/.local/state/herd", NULL, NULL, 1000, "rel",
	    "/home/u", "/cwd");
	expect_dir(NULL, NULL, NULL, 1000, NULL, NULL, "/cwd");
	expect_dir(NULL, NULL, NULL, 1000, "", "relative", "/cwd");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configured_first),
		cmocka_unit_test(test_env_second),
		cmocka_unit_test(test_root_default),
		cmocka_unit_test(test_user_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
