/*
 * tls_client.c -- TLS for clients (see tls_client.h): OpenSSL server
 * context from tls_cert / tls_key / tls_client_ca, and libevent's
 * bufferevent_openssl over each socket accepted on a tls_port.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "herd/tls_client.h"

#define TLS_KEY_MAX	(64 * 1024)	/* bytes of a PEM private key */

struct tls_client {
	SSL_CTX		*ctx;
};

static int	load_key(SSL_CTX *, const char *, char *, size_t);
static void	ssl_error(char *, size_t, const char *, const char *);

/* "what path: <OpenSSL's reason>" into err, emptying the error queue. */
static void
ssl_error(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char reason[256];

	if (e == 0)
		snprintf(reason, sizeof(reason), "unusable");
	else
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	snprintf(err, errlen, "%s %s: %s", what, path, reason);
}

/*
 * Load the private key at path into ctx, refusing it (like secret_file)
 * unless it is a regular file that group and others cannot read; -1
 * with the reason in err.
 */
static int
load_key(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t len = 0;
	EVP_PKEY *key;
	BIO *bio;
	int fd, r = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errlen, "tls_key %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "tls_key %s: not a regular file", path);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "tls_key %s is accessible to group or"
		    " others (mode %03o): run chmod 600 %s", path,
		    (unsigned)(st.st_mode & 0777), path);
		close(fd);
		return -1;
	}
	if ((buf = malloc(TLS_KEY_MAX)) == NULL) {
		snprintf(err, errlen, "tls_key %s: out of memory", path);
		close(fd);
		return -1;
	}
	while (len < TLS_KEY_MAX &&
	    (n = read(fd, buf + len, TLS_KEY_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len == TLS_KEY_MAX)
		snprintf(err, errlen, "tls_key %s: larger than %d bytes", path,
		    TLS_KEY_MAX);
	else if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL)
		ssl_error(err, errlen, "tls_key", path);
	else {
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		BIO_free(bio);
		if (key == NULL)
			ssl_error(err, errlen, "tls_key", path);
		else if (SSL_CTX_use_PrivateKey(ctx, key) != 1)
			ssl_error(err, errlen, "tls_key does not match tls_cert:",
			    path);
		else
			r = 0;
		EVP_PKEY_free(key);
	}
	OPENSSL_cleanse(buf, TLS_KEY_MAX);
	free(buf);
	return r;
}

/* A server context for h's certificate, key and client CA; NULL with
 * the reason in err. */
struct tls_client *
tls_client_new(const struct herd_settings *h, char *err, size_t errlen)
{
	struct tls_client *t;
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx;

	if (h->tls_cert == NULL || h->tls_key == NULL) {
		snprintf(err, errlen, "client TLS needs tls_cert and tls_key"
		    " in [herd]");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		ssl_error(err, errlen, "SSL_CTX_new", "");
		return NULL;
	}
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, h->tls_cert) != 1) {
		ssl_error(err, errlen, "tls_cert", h->tls_cert);
		goto fail;
	}
	if (load_key(ctx, h->tls_key, err, errlen) == -1)
		goto fail;
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, errlen, "tls_key does not match tls_cert",
		    h->tls_key);
		goto fail;
	}
	if (h->tls_client_ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, h->tls_client_ca,
		    NULL) != 1 ||
		    (names = SSL_load_client_CA_file(h->tls_client_ca)) ==
		    NULL) {
			ssl_error(err, errlen, "tls_client_ca",
			    h->tls_client_ca);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	t->ctx = ctx;
	return t;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Free t; connections opened with it keep their reference. */
void
tls_client_free(struct tls_client *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

/* The server side of a TLS connection on fd, handshake pending. */
struct bufferevent *
tls_client_bufferevent(struct tls_client *t, struct event_base *base, int fd)
{
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(t->ctx)) == NULL) {
		ERR_clear_error();
		evutil_closesocket(fd);
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		return NULL;
	}
	/* A client that closes without close_notify has just left. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* Why bev's TLS failed: OpenSSL's reasons, the certificate check's
 * verdict, or the socket error. */
void
tls_client_error(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e;
	size_t off = 0;
	long vr;
	char one[256];
	int first = 1;

	buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		ERR_error_string_n(e, one, sizeof(one));
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0,
		    "%s%s", first ? "" : "; ", one);
		first = 0;
		if (off >= len)
			break;
	}
	if (ssl != NULL && (vr = SSL_get_verify_result(ssl)) != X509_V_OK &&
	    off < len) {
		snprintf(buf + off, len - off, "%sclient certificate: %s",
		    first ? "" : "; ", X509_verify_cert_error_string(vr));
		first = 0;
	}
	if (first)
		snprintf(buf, len, "%s", EVUTIL_SOCKET_ERROR() != 0 ?
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()) :
		    "connection closed");
}

/* Our last reply is out: say so in TLS before the TCP half-close. */
void
tls_client_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl != NULL && SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
}
