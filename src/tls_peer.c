/*
 * tls_peer.c -- the TLS 1.3 context of peer links: external PSKs derived
 * from the herd secret per pair of names, (EC)DHE, no certificates, and
 * the hand-over of an accepted plain socket whose first bytes are
 * already read.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include "herd/auth.h"
#include "herd/config.h"
#include "herd/log.h"
#include "herd/tls_peer.h"

#define IDENTITY_PREFIX		"herd-tls/1 "
#define IDENTITY_MAX		(sizeof(IDENTITY_PREFIX) + 2 * HERD_NAME_MAX + \
				 AUTH_KEY_ID_HEX + 3)
/* Both suites hash with SHA-256, the hash of our PSKs. */
#define CIPHERSUITES		"TLS_AES_128_GCM_SHA256:" \
				"TLS_CHACHA20_POLY1305_SHA256"

struct tls_peer_ctx {
	SSL_CTX		*ctx;
};

/* What one connection's callbacks need; the SSL's ex_data, freed with it. */
struct tls_state {
	char			 identity[IDENTITY_MAX];	/* the dialer's */
	size_t			 idlen;
	const struct auth_secret *key;		/* dialled, or agreed */
	/* Acceptor only. */
	const char		*self;
	const struct auth_keys	*keys;
	tls_peer_neighbour_fn	 neighbour;
	void			*arg;
	char			 from[HERD_NAME_MAX + 1];
	char			 refusal[200];
};

/* Bytes read before the hand-over, served before the socket's. */
struct prefix {
	size_t		len, off;
	unsigned char	data[];
};

static const unsigned char sid_ctx[] = "herd-peer";	/* session context */
static int	state_index = -1;
static BIO_METHOD *prefix_method;

static void	state_free(void *, void *, CRYPTO_EX_DATA *, int, long,
		    void *);
static struct tls_state *state_of(SSL *);
static SSL_SESSION *psk_session(SSL *, const struct auth_secret *,
		    const char *, size_t);
static int	use_session_cb(SSL *, const EVP_MD *, const unsigned char **,
		    size_t *, SSL_SESSION **);
static int	find_session_cb(SSL *, const unsigned char *, size_t,
		    SSL_SESSION **);
static int	refuse_certificate(int, X509_STORE_CTX *);
static int	identity_split(const char *, size_t, const char **, size_t *,
		    const char **, size_t *, const char **, size_t *);
static BIO	*prefix_bio(const unsigned char *, size_t);
static int	prefix_read(BIO *, char *, int);
static int	prefix_write(BIO *, const char *, int);
static long	prefix_ctrl(BIO *, int, long, void *);
static int	prefix_create(BIO *);
static int	prefix_destroy(BIO *);

/* The peer links' context: TLS 1.3 only, PSK with (EC)DHE only (OpenSSL
 * refuses psk_ke without SSL_OP_ALLOW_NO_DHE_KEX), no tickets, and any
 * certificate refused. */
struct tls_peer_ctx *
tls_peer_ctx_new(void)
{
	struct tls_peer_ctx *t;

	if (state_index == -1 && (state_index = SSL_get_ex_new_index(0, NULL,
	    NULL, NULL, state_free)) == -1) {
		log_warnx("tls: SSL_get_ex_new_index failed");
		return NULL;
	}
	if (prefix_method == NULL) {
		prefix_method = BIO_meth_new(BIO_get_new_index() |
		    BIO_TYPE_FILTER, "herd prefix");
		if (prefix_method == NULL ||
		    !BIO_meth_set_read(prefix_method, prefix_read) ||
		    !BIO_meth_set_write(prefix_method, prefix_write) ||
		    !BIO_meth_set_ctrl(prefix_method, prefix_ctrl) ||
		    !BIO_meth_set_create(prefix_method, prefix_create) ||
		    !BIO_meth_set_destroy(prefix_method, prefix_destroy)) {
			log_warnx("tls: BIO_meth_new failed");
			return NULL;
		}
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->ctx = SSL_CTX_new(TLS_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(t->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(t->ctx, CIPHERSUITES) ||
	    !SSL_CTX_set_num_tickets(t->ctx, 0) ||
	    !SSL_CTX_set_session_id_context(t->ctx,
	    sid_ctx, sizeof(sid_ctx) - 1)) {
		log_warnx("tls: cannot set up the peer context: %s",
		    ERR_reason_error_string(ERR_get_error()));
		tls_peer_ctx_free(t);
		return NULL;
	}
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET);
	SSL_CTX_clear_options(t->ctx, SSL_OP_ALLOW_NO_DHE_KEX);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_max_early_data(t->ctx, 0);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, refuse_certificate);
	SSL_CTX_set_psk_use_session_callback(t->ctx, use_session_cb);
	SSL_CTX_set_psk_find_session_callback(t->ctx, find_session_cb);
	return t;
}

/* Free the context (NULL is fine). */
void
tls_peer_ctx_free(struct tls_peer_ctx *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

/* The ex_data destructor: wipe and free a connection's state. */
static void
state_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr == NULL)
		return;
	OPENSSL_cleanse(ptr, sizeof(struct tls_state));
	free(ptr);
}

/* The state of ssl (never NULL for our connections). */
static struct tls_state *
state_of(SSL *ssl)
{
	return SSL_get_ex_data(ssl, state_index);
}

/* A new SSL with a fresh state attached; NULL on failure. */
static SSL *
ssl_new(struct tls_peer_ctx *t, struct tls_state **out)
{
	struct tls_state *st;
	SSL *ssl;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	if ((ssl = SSL_new(t->ctx)) == NULL ||
	    !SSL_set_ex_data(ssl, state_index, st)) {
		SSL_free(ssl);
		free(st);
		return NULL;
	}
	*out = st;
	return ssl;
}

/* Dial side: an SSL whose PSK identity names from, to and key. */
struct bufferevent *
tls_peer_dial(struct tls_peer_ctx *t, struct event_base *base,
    const char *from, const char *to, const struct auth_secret *key)
{
	struct tls_state *st;
	struct bufferevent *bev;
	char id[AUTH_KEY_ID_HEX + 1];
	SSL *ssl;
	int n;

	if ((ssl = ssl_new(t, &st)) == NULL)
		return NULL;
	auth_key_id(key, id);
	n = snprintf(st->identity, sizeof(st->identity), "%s%s %s %s",
	    IDENTITY_PREFIX, from, to, id);
	if (n < 0 || (size_t)n >= sizeof(st->identity)) {
		SSL_free(ssl);
		return NULL;
	}
	st->idlen = (size_t)n;
	st->key = key;
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	return bev;		/* it freed ssl on failure */
}

/* Accept side: the socket of bev, behind the bytes bev read already. */
struct bufferevent *
tls_peer_accept(struct tls_peer_ctx *t, struct event_base *base,
    struct bufferevent *plain, const char *self, const struct auth_keys *keys,
    tls_peer_neighbour_fn neighbour, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(plain);
	evutil_socket_t fd = bufferevent_getfd(plain);
	size_t len = evbuffer_get_length(in);
	struct tls_state *st;
	BIO *sock = NULL, *rbio = NULL;
	SSL *ssl;

	/* The socket is ours now; bev lets go of it. */
	bufferevent_setfd(plain, -1);
	rbio = prefix_bio(evbuffer_pullup(in, (ev_ssize_t)len), len);
	bufferevent_free(plain);
	if (rbio == NULL || (ssl = ssl_new(t, &st)) == NULL) {
		BIO_free(rbio);
		evutil_closesocket(fd);
		return NULL;
	}
	st->self = self;
	st->keys = keys;
	st->neighbour = neighbour;
	st->arg = arg;
	if ((sock = BIO_new_socket((int)fd, BIO_NOCLOSE)) == NULL ||
	    !BIO_up_ref(sock)) {
		BIO_free(sock);
		BIO_free(rbio);
		SSL_free(ssl);
		evutil_closesocket(fd);
		return NULL;
	}
	/* Reads: the prefix, then the socket; writes: the socket. */
	BIO_push(rbio, sock);
	SSL_set_bio(ssl, rbio, sock);
	return bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* The SSL of bev, or NULL for a plain bufferevent. */
int
tls_peer_is_tls(struct bufferevent *bev)
{
	return bufferevent_openssl_get_ssl(bev) != NULL;
}

/* The neighbour an accepted identity named ("" before the handshake). */
const char *
tls_peer_from(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl != NULL && state_of(ssl) != NULL ? state_of(ssl)->from : "";
}

/* The secret the handshake agreed on, or NULL. */
const struct auth_secret *
tls_peer_key(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	return ssl != NULL && state_of(ssl) != NULL ? state_of(ssl)->key : NULL;
}

/* The refusal, else the first OpenSSL errors libevent kept, else "". */
const char *
tls_peer_error(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e;
	const char *r;
	size_t used = 0;
	int n;

	buf[0] = '\0';
	if (ssl != NULL && state_of(ssl) != NULL &&
	    state_of(ssl)->refusal[0] != '\0') {
		snprintf(buf, len, "%s", state_of(ssl)->refusal);
		while (bufferevent_get_openssl_error(bev) != 0)
			;
		return buf;
	}
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if (used + 3 >= len)
			continue;
		if ((r = ERR_reason_error_string(e)) == NULL)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? "; " : "",
		    r);
		if (n > 0)
			used += (size_t)n < len - used ? (size_t)n : len - used - 1;
	}
	return buf;
}

/* close_notify, written straight to the socket (ignored if it fails). */
void
tls_peer_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl != NULL && SSL_is_init_finished(ssl)) {
		(void)SSL_shutdown(ssl);
		ERR_clear_error();
	}
}

/* A TLS 1.3 session holding the PSK HMAC-SHA256(key, identity), for the
 * SHA-256 suites; NULL on failure. */
static SSL_SESSION *
psk_session(SSL *ssl, const struct auth_secret *key, const char *identity,
    size_t idlen)
{
	static const unsigned char aes128gcmsha256[] = { 0x13, 0x01 };
	unsigned char psk[EVP_MAX_MD_SIZE];
	unsigned int psklen = 0;
	const SSL_CIPHER *cipher;
	SSL_SESSION *s;

	if ((cipher = SSL_CIPHER_find(ssl, aes128gcmsha256)) == NULL ||
	    HMAC(EVP_sha256(), key->data, (int)key->len,
	    (const unsigned char *)identity, idlen, psk, &psklen) == NULL)
		return NULL;
	if ((s = SSL_SESSION_new()) == NULL ||
	    !SSL_SESSION_set1_master_key(s, psk, psklen) ||
	    !SSL_SESSION_set_cipher(s, cipher) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) ||
	    !SSL_SESSION_set1_id_context(s, sid_ctx, sizeof(sid_ctx) - 1)) {
		SSL_SESSION_free(s);
		s = NULL;
	}
	OPENSSL_cleanse(psk, sizeof(psk));
	return s;
}

/* Dialer: offer our identity and its PSK (for SHA-256 only). */
static int
use_session_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
    size_t *idlen, SSL_SESSION **sess)
{
	struct tls_state *st = state_of(ssl);

	*sess = NULL;
	if (st == NULL || st->key == NULL)
		return 0;
	if (md != NULL && EVP_MD_get_type(md) != NID_sha256)
		return 1;	/* after a HelloRetryRequest for another hash */
	if ((*sess = psk_session(ssl, st->key, st->identity,
	    st->idlen)) == NULL)
		return 0;
	*id = (const unsigned char *)st->identity;
	*idlen = st->idlen;
	return 1;
}

/*
 * Acceptor: the identity must be "herd-tls/1 FROM TO KEYID" with TO our
 * name, FROM a neighbour and KEYID one of our secrets; anything else
 * aborts the handshake, the reason kept for the log.
 */
static int
find_session_cb(SSL *ssl, const unsigned char *identity, size_t len,
    SSL_SESSION **sess)
{
	struct tls_state *st = state_of(ssl);
	const char *from, *to, *kid;
	size_t flen, tlen, klen, i;
	char id[AUTH_KEY_ID_HEX + 1], q[IDENTITY_MAX + 8];

	*sess = NULL;
	if (st == NULL || st->keys == NULL)
		return 0;
	if (identity_split((const char *)identity, len, &from, &flen, &to,
	    &tlen, &kid, &klen) == -1) {
		snprintf(st->refusal, sizeof(st->refusal), "not a herd PSK"
		    " identity: %s", log_quote(q, sizeof(q),
		    (const char *)identity, len < 80 ? len : 80));
		return 0;
	}
	if (tlen != strlen(st->self) || memcmp(to, st->self, tlen) != 0) {
		snprintf(st->refusal, sizeof(st->refusal), "addressed to %.*s,"
		    " not us", (int)tlen, to);
		return 0;
	}
	if (!st->neighbour(st->arg, from, flen)) {
		snprintf(st->refusal, sizeof(st->refusal), "%.*s is not a"
		    " neighbour", (int)flen, from);
		return 0;
	}
	for (i = 0; i < st->keys->n; i++) {
		auth_key_id(&st->keys->key[i], id);
		if (klen == AUTH_KEY_ID_HEX && CRYPTO_memcmp(id, kid, klen) == 0)
			break;
	}
	if (i == st->keys->n) {
		snprintf(st->refusal, sizeof(st->refusal), "%.*s dials with a"
		    " secret we do not hold (key id %.*s): a different"
		    " secret_file?", (int)flen, from, (int)klen, kid);
		return 0;
	}
	memcpy(st->from, from, flen);
	st->from[flen] = '\0';
	st->key = &st->keys->key[i];
	if ((*sess = psk_session(ssl, st->key, (const char *)identity,
	    len)) == NULL)
		return 0;
	return 1;
}

/* Split "herd-tls/1 FROM TO KEYID" (printable, single spaces); -1 if it
 * is not one. */
static int
identity_split(const char *p, size_t len, const char **from, size_t *flen,
    const char **to, size_t *tlen, const char **kid, size_t *klen)
{
	const char *f[3], *s, *sp, *end = p + len;
	size_t fl[3], i, k, plen = sizeof(IDENTITY_PREFIX) - 1;

	if (len <= plen || len >= IDENTITY_MAX ||
	    memcmp(p, IDENTITY_PREFIX, plen) != 0)
		return -1;
	for (i = plen; i < len; i++)
		if ((p[i] < 0x21 && p[i] != ' ') || (unsigned char)p[i] > 0x7e)
			return -1;
	for (k = 0, s = p + plen; k < 3; k++) {
		if ((sp = memchr(s, ' ', (size_t)(end - s))) == NULL)
			sp = end;
		f[k] = s;
		fl[k] = (size_t)(sp - s);
		if (fl[k] == 0 || fl[k] > HERD_NAME_MAX ||
		    (k < 2 && sp == end) || (k == 2 && sp != end))
			return -1;
		s = sp + 1;
	}
	*from = f[0], *flen = fl[0];
	*to = f[1], *tlen = fl[1];
	*kid = f[2], *klen = fl[2];
	return 0;
}

/* A filter BIO that serves a copy of p (len bytes) before its next BIO. */
static BIO *
prefix_bio(const unsigned char *p, size_t len)
{
	struct prefix *pre;
	BIO *b;

	if ((pre = malloc(sizeof(*pre) + len + 1)) == NULL)
		return NULL;
	pre->len = len;
	pre->off = 0;
	if (len > 0)
		memcpy(pre->data, p, len);
	if ((b = BIO_new(prefix_method)) == NULL) {
		free(pre);
		return NULL;
	}
	BIO_set_data(b, pre);
	return b;
}

/* Read: what is left of the prefix, else from the next BIO. */
static int
prefix_read(BIO *b, char *out, int outl)
{
	struct prefix *pre = BIO_get_data(b);
	size_t n;
	int r;

	BIO_clear_retry_flags(b);
	if (outl <= 0)
		return 0;
	if (pre != NULL && pre->off < pre->len) {
		n = pre->len - pre->off;
		if (n > (size_t)outl)
			n = (size_t)outl;
		memcpy(out, pre->data + pre->off, n);
		pre->off += n;
		return (int)n;
	}
	if (BIO_next(b) == NULL)
		return 0;
	r = BIO_read(BIO_next(b), out, outl);
	BIO_copy_next_retry(b);
	return r;
}

/* Write: straight to the next BIO (never used: writes go to the socket). */
static int
prefix_write(BIO *b, const char *in, int inl)
{
	int r;

	BIO_clear_retry_flags(b);
	if (BIO_next(b) == NULL)
		return 0;
	r = BIO_write(BIO_next(b), in, inl);
	BIO_copy_next_retry(b);
	return r;
}

/* Control: pending bytes include the prefix; the rest is the next BIO's. */
static long
prefix_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct prefix *pre = BIO_get_data(b);
	long next;

	if (BIO_next(b) == NULL)
		return 0;
	next = BIO_ctrl(BIO_next(b), cmd, num, ptr);
	if (cmd == BIO_CTRL_PENDING && pre != NULL)
		next += (long)(pre->len - pre->off);
	return next;
}

/* A new prefix BIO is ready at once. */
static int
prefix_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* Free the prefix with its BIO. */
static int
prefix_destroy(BIO *b)
{
	struct prefix *pre = BIO_get_data(b);

	if (pre != NULL) {
		OPENSSL_cleanse(pre->data, pre->len);
		free(pre);
	}
	BIO_set_data(b, NULL);
	return 1;
}

/* Any certificate is refused: peers authenticate by their PSK alone. */
static int
refuse_certificate(int ok, X509_STORE_CTX *store)
{
	(void)ok;
	(void)store;
	return 0;
}
