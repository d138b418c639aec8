/*
 * tls.c -- herd-bench's TLS client (--tls): one OpenSSL client context,
 * a blocking handshake per connection, then non-blocking reads and
 * writes with recv/send's conventions.  It measures; it does not check
 * the server's certificate.
 */
#include <sys/types.h>

#include <errno.h>
#include <stddef.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench.h"

static SSL_CTX	*tls_ctx;

static ssize_t	tls_result(SSL *, int);

/* A TLS session over the connected blocking socket fd, made
 * non-blocking once the handshake is done; NULL if it failed. */
void *
tls_connect(int fd)
{
	SSL *ssl;

	if (tls_ctx == NULL) {
		if ((tls_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
			return NULL;
		SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	if ((ssl = SSL_new(tls_ctx)) == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
		ERR_print_errors_fp(stderr);
		SSL_free(ssl);
		return NULL;
	}
	sock_nonblock(fd);
	return ssl;
}

/* recv/send's result for SSL_read/SSL_write's r. */
static ssize_t
tls_result(SSL *ssl, int r)
{
	if (r > 0)
		return r;
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		if (errno == 0 || errno == EAGAIN)
			errno = EIO;
		return r == 0 ? 0 : -1;
	}
}

/* Like recv(): decrypted bytes, 0 at the end, -1 (errno). */
ssize_t
tls_read(void *ssl, void *buf, size_t len)
{
	errno = 0;
	return tls_result(ssl, SSL_read(ssl, buf, len > 1 << 30 ? 1 << 30 :
	    (int)len));
}

/* Like send(): bytes taken, -1 (errno; EAGAIN: retry with them). */
ssize_t
tls_write(void *ssl, const void *buf, size_t len)
{
	errno = 0;
	return tls_result(ssl, SSL_write(ssl, buf, len > 1 << 30 ? 1 << 30 :
	    (int)len));
}

/* Bytes decrypted and not read yet. */
int
tls_pending(void *ssl)
{
	return SSL_pending(ssl) > 0;
}

/* Free a session (its socket is the caller's). */
void
tls_free(void *ssl)
{
	SSL_free(ssl);
}
