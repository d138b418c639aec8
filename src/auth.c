/*
 * auth.c -- shared-secret handling and HMAC-SHA256 handshake proofs
 * (OpenSSL libcrypto, which libcurl brings in anyway).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "herd/auth.h"

static void	hex(const unsigned char *, size_t, char *);

/* Write len bytes of p to out as lower-case hex, NUL-terminated. */
static void
hex(const unsigned char *p, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

/*
 * Load the secret at path into s without trailing newlines; -1 with a
 * message in err unless it is a private regular file of the right size.
 */
int
auth_load_secret(const char *path, struct auth_secret *s, char *err,
    size_t errsize)
{
	struct stat st;
	ssize_t n;
	int fd;

	s->len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errsize, "secret_file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "secret_file %s: not a regular file",
		    path);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errsize, "secret_file %s is accessible to group"
		    " or others (mode %03o): run chmod 600 %s", path,
		    (unsigned)(st.st_mode & 0777), path);
		close(fd);
		return -1;
	}
	n = read(fd, s->data, sizeof(s->data));
	close(fd);
	if (n < 0) {
		snprintf(err, errsize, "secret_file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (n > 0 && (s->data[n - 1] == '\n' || s->data[n - 1] == '\r'))
		n--;
	if (n < AUTH_SECRET_MIN || (size_t)n >= sizeof(s->data)) {
		snprintf(err, errsize, "secret_file %s must hold %d to %d"
		    " bytes (e.g. openssl rand -hex 32 > %s)", path,
		    AUTH_SECRET_MIN, AUTH_SECRET_MAX - 1, path);
		s->len = 0;
		return -1;
	}
	s->len = (size_t)n;
	return 0;
}

/* Load the peer secrets: [herd] secret_file, else $HERD_SECRET_FILE
 * (herdctl's generated one), else none (protected mode). */
int
auth_load_peer_keys(const char *secret_file, struct auth_keys *out,
    char *err, size_t errsize)
{
	const char *path = secret_file;
	struct auth_secret *raw;
	int rc;

	out->n = 0;
	if (path == NULL)
		path = getenv("HERD_SECRET_FILE");
	if (path == NULL || *path == '\0')
		return 0;
	if ((raw = malloc(sizeof(*raw))) == NULL) {
		snprintf(err, errsize, "secret_file %s: out of memory", path);
		return -1;
	}
	rc = auth_load_secret(path, raw, err, errsize);
	if (rc == 0)
		rc = auth_split_keys(raw, path, out, err, errsize);
	OPENSSL_cleanse(raw, sizeof(*raw));
	free(raw);
	return rc;
}

/* One secret per line (CR LF too), one or two lines, each of
 * AUTH_SECRET_MIN bytes at least. */
int
auth_split_keys(const struct auth_secret *raw, const char *path,
    struct auth_keys *out, char *err, size_t errsize)
{
	const unsigned char *p = raw->data, *end = raw->data + raw->len, *nl;
	size_t len;

	out->n = 0;
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (out->n == AUTH_KEYS_MAX || len < AUTH_SECRET_MIN) {
			snprintf(err, errsize, "secret_file %s must hold one"
			    " secret, or two (the new one first) on two lines,"
			    " of %d bytes at least each", path,
			    AUTH_SECRET_MIN);
			OPENSSL_cleanse(out, sizeof(*out));
			out->n = 0;
			return -1;
		}
		memcpy(out->key[out->n].data, p, len);
		out->key[out->n].len = len;
		out->n++;
		p = nl + 1;
	}
	return 0;
}

/* Same count, and each secret the same bytes (constant time each). */
int
auth_keys_equal(const struct auth_keys *a, const struct auth_keys *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (a->key[i].len != b->key[i].len || CRYPTO_memcmp(
		    a->key[i].data, b->key[i].data, a->key[i].len) != 0)
			return 0;
	return 1;
}

/* The first AUTH_KEY_ID_HEX hex digits of HMAC-SHA256(s, a fixed text). */
void
auth_key_id(const struct auth_secret *s, char out[AUTH_KEY_ID_HEX + 1])
{
	static const char text[] = "herd-tls/1 key id";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (HMAC(EVP_sha256(), s->data, (int)s->len,
	    (const unsigned char *)text, sizeof(text) - 1, md, &mdlen) == NULL)
		memset(md, 0, sizeof(md));
	hex(md, AUTH_KEY_ID_HEX / 2, out);
}

/* True when path exists and is accessible to group or others. */
int
auth_secret_exposed(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && (st.st_mode & 077) != 0;
}

/* Replace path with a new 0600 file of 64 random hex digits; -1 on error. */
int
auth_generate_secret(const char *path)
{
	unsigned char raw[32];
	char text[2 * sizeof(raw) + 2];
	int fd, saved;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	hex(raw, sizeof(raw), text);
	strcat(text, "\n");
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return close(fd);
}

/* Fill out with a random hex nonce; abort without randomness. */
void
auth_nonce(char out[AUTH_NONCE_HEX + 1])
{
	unsigned char raw[AUTH_NONCE_HEX / 2];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		abort();	/* no randomness: nothing safe to do */
	hex(raw, sizeof(raw), out);
}

/*
 * Write to out the hex HMAC-SHA256 under s of "herd/1 role from to
 * nonce_from nonce_to"; "-" without a secret, "!" (never a match) on
 * error.
 */
void
auth_proof(const struct auth_secret *s, const char *role, const char *from,
    const char *to, const char *nonce_from, const char *nonce_to,
    char out[AUTH_PROOF_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char msg[512];
	int n;

	if (s == NULL || s->len == 0) {
		strcpy(out, "-");
		return;
	}
	n = snprintf(msg, sizeof(msg), "herd/1 %s %s %s %s %s", role, from, to,
	    nonce_from, nonce_to);
	if (n < 0 || (size_t)n >= sizeof(msg) ||
	    HMAC(EVP_sha256(), s->data, (int)s->len, (unsigned char *)msg,
	    (size_t)n, md, &mdlen) == NULL || mdlen * 2 != AUTH_PROOF_HEX) {
		strcpy(out, "!");	/* never matches a real proof */
		return;
	}
	hex(md, mdlen, out);
}

/* True when got (got_len bytes) equals expected, in constant time. */
int
auth_proof_ok(const char *expected, const char *got, size_t got_len)
{
	size_t len = strlen(expected);

	if (got_len != len)
		return 0;
	return CRYPTO_memcmp(expected, got, len) == 0;
}
