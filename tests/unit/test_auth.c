/*
 * test_auth.c -- unit tests for the secret file's content (src/auth.c):
 * one secret or two (rotation) per file, what is refused, and the key id
 * that names a secret in a TLS identity.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "herd/auth.h"

static int	split(const char *, struct auth_keys *);

/* Split text as if it were a secret file's content (trailing newlines
 * already cut, as auth_load_secret() does); the return of
 * auth_split_keys(). */
static int
split(const char *text, struct auth_keys *k)
{
	static struct auth_secret raw;
	char err[256];

	raw.len = strlen(text);
	memcpy(raw.data, text, raw.len);
	return auth_split_keys(&raw, "/x", k, err, sizeof(err));
}

/* One line is one secret; two lines are the new and the old one, CR LF
 * too; the order is kept. */
static void
test_one_or_two_secrets(void **state)
{
	static struct auth_keys k;

	(void)state;
	assert_int_equal(split("0123456789abcdef0123", &k), 0);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.key[0].len, 20);
	assert_int_equal(split("new-secret-0123456789\r\nold-secret-0123456789",
	    &k), 0);
	assert_int_equal(k.n, 2);
	assert_memory_equal(k.key[0].data, "new-secret-0123456789", 21);
	assert_int_equal(k.key[0].len, 21);
	assert_memory_equal(k.key[1].data, "old-secret-0123456789", 21);
}

/* Three secrets, an empty or short line: refused, nothing kept. */
static void
test_bad_files_refused(void **state)
{
	static struct auth_keys k;

	(void)state;
	assert_int_equal(split("aaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbb\n"
	    "cccccccccccccccc", &k), -1);
	assert_int_equal(k.n, 0);
	assert_int_equal(split("aaaaaaaaaaaaaaaa\n\nbbbbbbbbbbbbbbbb", &k), -1);
	assert_int_equal(split("aaaaaaaaaaaaaaaa\nshort", &k), -1);
	assert_int_equal(k.n, 0);
}

/* The key id is 16 hex digits, the same for the same secret, different
 * for another, and never the secret's own bytes. */
static void
test_key_id(void **state)
{
	static struct auth_keys k;
	char a[AUTH_KEY_ID_HEX + 1], b[AUTH_KEY_ID_HEX + 1];
	char c[AUTH_KEY_ID_HEX + 1];

	(void)state;
	assert_int_equal(split("0123456789abcdef0123\nfedcba98765432100123",
	    &k), 0);
	auth_key_id(&k.key[0], a);
	auth_key_id(&k.key[0], b);
	auth_key_id(&k.key[1], c);
	assert_int_equal(strlen(a), AUTH_KEY_ID_HEX);
	assert_string_equal(a, b);
	/* HMAC-SHA256(secret, "herd-tls/1 key id"), as the tests compute. */
	assert_string_equal(a, "3bd5bfc6902df097");
	assert_string_not_equal(a, c);
	assert_null(strstr("0123456789abcdef0123", a));
	assert_true(auth_keys_equal(&k, &k));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_or_two_secrets),
		cmocka_unit_test(test_bad_files_refused),
		cmocka_unit_test(test_key_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
