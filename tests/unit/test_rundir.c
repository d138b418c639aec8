/*
 * test_rundir.c -- unit tests for the data directory's resolution order
 * (rundir_data_dir in src/rundir.c), a pure function of its inputs, and
 * for $HERD_RUN_DIR in rundir_path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* $HERD_RUN_DIR: absolute as is, relative against the working directory
 * (never ignored); [herd] run_dir wins. */
static void
test_run_dir_env(void **state)
{
	char cwd[PATH_MAX], want[PATH_MAX + 16], *got;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	setenv("HERD_RUN_DIR", "/abs/run", 1);
	got = rundir_path(NULL);
	assert_string_equal(got, "/abs/run");
	free(got);
	setenv("HERD_RUN_DIR", "build/run", 1);
	got = rundir_path(NULL);
	snprintf(want, sizeof(want), "%s/build/run", cwd);
	assert_string_equal(got, want);
	free(got);
	got = rundir_path("/conf/run");
	assert_string_equal(got, "/conf/run");
	free(got);
	unsetenv("HERD_RUN_DIR");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configured_first),
		cmocka_unit_test(test_env_second),
		cmocka_unit_test(test_root_default),
		cmocka_unit_test(test_user_default),
		cmocka_unit_test(test_run_dir_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
