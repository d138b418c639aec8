/*
 * auth.h -- the shared secret and the peer handshake's proofs.
 *
 * A proof is HMAC-SHA256(secret, message) in lower-case hex, over a
 * message that names both servers and both fresh nonces, so a proof is
 * good for one handshake only.  Without a secret the proof is "-" and
 * peers are accepted over loopback only (protected mode).
 */
#ifndef HERD_AUTH_H
#define HERD_AUTH_H

#include <stddef.h>

#define AUTH_NONCE_HEX		32	/* 16 random bytes */
#define AUTH_PROOF_HEX		64	/* SHA-256 */
#define AUTH_SECRET_MIN		16	/* bytes */
#define AUTH_SECRET_MAX		4096

struct auth_secret {
	unsigned char	data[AUTH_SECRET_MAX];
	size_t		len;		/* 0 = no secret */
};

/* The secrets of a secret_file, one per line, the one to dial with
 * first (rotation: the new one, then the old one, both accepted). */
#define AUTH_KEYS_MAX		2
#define AUTH_KEY_ID_HEX		16	/* names a secret, reveals nothing */
struct auth_keys {
	struct auth_secret key[AUTH_KEYS_MAX];
	size_t		n;		/* 0 = no secret (protected mode) */
};

/* Read a secret file: it must be a regular file, not readable or
 * writable by group or others, holding AUTH_SECRET_MIN.. bytes (a
 * trailing newline is ignored).  -1 with a message in err. */
int	auth_load_secret(const char *path, struct auth_secret *,
	    char *err, size_t errsize);

/* A server's peer secrets: secret_file ([herd] secret_file), else
 * $HERD_SECRET_FILE (herdctl's generated one), else none (n 0:
 * protected mode).  -1 with a message in err as auth_load_secret(),
 * or when the file does not hold one or two lines of a secret each. */
int	auth_load_peer_keys(const char *secret_file, struct auth_keys *,
	    char *err, size_t errsize);
/* Split a secret file's content into its one or two secrets; -1 with
 * a message naming path in err otherwise. */
int	auth_split_keys(const struct auth_secret *raw, const char *path,
	    struct auth_keys *, char *err, size_t errsize);
/* True when a and b hold the same secrets in the same order. */
int	auth_keys_equal(const struct auth_keys *a, const struct auth_keys *b);
/* A secret's public name: hex HMAC of a fixed text under it, cut to
 * AUTH_KEY_ID_HEX digits (which secret a TLS peer dials with). */
void	auth_key_id(const struct auth_secret *, char out[AUTH_KEY_ID_HEX + 1]);

/* 1 when path is readable by group or others (for herdctl check). */
int	auth_secret_exposed(const char *path);

/* Write a fresh random secret to path (mode 0600); -1 on error. */
int	auth_generate_secret(const char *path);

/* A fresh nonce, AUTH_NONCE_HEX hex digits plus NUL. */
void	auth_nonce(char out[AUTH_NONCE_HEX + 1]);

/* The proof for role ("welcome" or "auth") of the handshake between
 * `from` (the prover) and `to`, over their nonces; "-" without secret. */
void	auth_proof(const struct auth_secret *, const char *role,
	    const char *from, const char *to, const char *nonce_from,
	    const char *nonce_to, char out[AUTH_PROOF_HEX + 1]);

/* Constant-time comparison of two proofs (NUL-terminated). */
int	auth_proof_ok(const char *expected, const char *got, size_t got_len);

#endif
