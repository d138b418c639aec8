/*
 * proto.h -- the client wire protocol and the peer AT line, as pure
 * functions: bytes in, structs out; structs in, bytes out.  No I/O, no
 * clock, no allocation.  See README.md "The protocol".
 */
#ifndef HERD_PROTO_H
#define HERD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAX_FIELDS	8
#define PROTO_TIME_DIFF_MAX	48	/* bytes for a formatted time_diff */
/* An AT line made from a client line of max_line bytes (server name and
 * time_diff added) fits in max_line + this: the node's formatting buffer
 * and the peer line limit. */
#define PROTO_AT_SLACK		256

/* A byte range inside a caller-owned buffer; never NUL-terminated. */
struct proto_span {
	const char	*p;
	size_t		 len;
};

/* An exact POSIX time: seconds plus nanoseconds, never a double. */
struct herd_time {
	int64_t		 sec;
	int32_t		 nsec;		/* 0..999999999 */
};

/* A parsed ISO 6709 location; the text itself stays in the line. */
struct herd_location {
	double		 lat;
	double		 lon;
};

enum proto_kind {
	PROTO_INVALID = 0,	/* reply "? <line>" */
	PROTO_EMPTY,		/* nothing but whitespace */
	PROTO_IAMAT,
	PROTO_WHATSAT,
};

/* One parsed client line; spans point into the caller's line. */
struct proto_request {
	enum proto_kind		 kind;
	struct proto_span	 line;		/* trimmed line, for "? " replies */
	struct proto_span	 client;
	struct proto_span	 location;	/* IAMAT */
	struct proto_span	 time_sent;	/* IAMAT */
	struct herd_time	 sent;		/* IAMAT */
	double			 radius_km;	/* WHATSAT */
	int			 max_results;	/* WHATSAT */
};

/* A parsed "AT server diff client location time" line (peer flood). */
struct proto_at {
	struct proto_span	 server;
	struct proto_span	 time_diff;
	struct proto_span	 client;
	struct proto_span	 location;
	struct proto_span	 time_sent;
	struct herd_time	 sent;
};

/* True for the six protocol whitespace bytes: space \t \r \n \f \v. */
int	proto_is_space(unsigned char c);

/* Strip protocol whitespace from both ends of [p, p+len). */
struct proto_span proto_trim(const char *p, size_t len);

/* Split into at most max fields; returns the field count, or max+1 when
 * there are more fields than max. */
size_t	proto_split(const char *p, size_t len, struct proto_span *f,
	    size_t max);

/* Parse "+34.068930-118.445127"; 0 on success, -1 if invalid.  out may
 * be NULL to validate only (the hot paths do: coordinates are computed
 * when a WHATSAT needs them). */
int	proto_parse_location(const char *p, size_t len,
	    struct herd_location *out);

/* Parse "1621464827.959498503" (non-negative, <= 9 fraction digits). */
int	proto_parse_time(const char *p, size_t len, struct herd_time *out);

/* Parse a WHATSAT radius: a decimal number in (0, 50]. */
int	proto_parse_radius(const char *p, size_t len, double *km);

/* Parse a WHATSAT bound: a decimal integer in 1..20. */
int	proto_parse_bound(const char *p, size_t len, int *n);

/* Parse one client line (without its newline) into req. */
void	proto_parse_request(const char *p, size_t len,
	    struct proto_request *req);

/* Parse a peer AT line (exactly six fields, all validated). */
int	proto_parse_at(const char *p, size_t len, struct proto_at *out);

/*
 * The peer handshake (see peer.c):
 *	dialer:   HELLO herd/1 FROM TO NONCE
 *	acceptor: WELCOME herd/1 FROM NONCE PROOF
 *	dialer:   AUTH PROOF
 * NONCE is 32 hex digits; PROOF is 64 hex digits, or "-" without secret.
 * The version is herd/1 (catch-up sends the whole store) or herd/2
 * (catch-up by difference: SUMS and PRINTS below); the acceptor
 * answers in the version it was greeted with.
 */
#define PROTO_PEER_VERSION	"herd/1"
#define PROTO_PEER_VERSION2	"herd/2"

struct proto_hello {
	struct proto_span	 from;
	struct proto_span	 to;
	struct proto_span	 nonce;
	int			 version;	/* 1 or 2 */
};

struct proto_welcome {
	struct proto_span	 from;
	struct proto_span	 nonce;
	struct proto_span	 proof;
	int			 version;	/* 1 or 2 */
};

/*
 * herd/2 catch-up by difference.  The store's 4096 digest buckets are
 * the leaves of a tree of fanout 16 and depth 3: node (level L, index
 * I) covers buckets [I * 4096 / 16^L, (I + 1) * 4096 / 16^L).
 *	SUMS L I S0 .. S15	the sums of node (L, I)'s 16 children
 *	PRINTS B N F..		fingerprints (line hashes) of bucket B's
 *				N records, at most 16 a line, in order:
 *				send me those of yours not among them
 * Sums and fingerprints are 16 lower-case hex digits.
 */
#define PROTO_FANOUT		16
#define PROTO_SUM_LEVELS	3
#define PROTO_BUCKETS		4096	/* PROTO_FANOUT ^ PROTO_SUM_LEVELS */

struct proto_sums {
	unsigned		 level;		/* 0 .. PROTO_SUM_LEVELS-1 */
	unsigned long		 index;		/* < PROTO_FANOUT ^ level */
	uint64_t		 sum[PROTO_FANOUT];
};

struct proto_prints {
	unsigned long		 bucket;	/* < PROTO_BUCKETS */
	unsigned long		 total;		/* the bucket's record count */
	size_t			 n;		/* fingerprints on this line */
	uint64_t		 fp[PROTO_FANOUT];
};

/* Parse a SUMS line; 0 or -1. */
int	proto_parse_sums(const char *p, size_t len, struct proto_sums *);
/* Parse a PRINTS line (0..16 fingerprints); 0 or -1. */
int	proto_parse_prints(const char *p, size_t len, struct proto_prints *);
/* Format as a line with its newline into buf; the length it needs, like
 * snprintf (at most PROTO_SYNC_LINE_MAX). */
#define PROTO_SYNC_LINE_MAX	320
size_t	proto_format_sums(char *buf, size_t size, const struct proto_sums *);
size_t	proto_format_prints(char *buf, size_t size,
	    const struct proto_prints *);

int	proto_parse_hello(const char *p, size_t len, struct proto_hello *);
int	proto_parse_welcome(const char *p, size_t len, struct proto_welcome *);
int	proto_parse_auth(const char *p, size_t len, struct proto_span *proof);
/* "DIGEST <count> <16 hex digits>": a peer's store summary (anti-entropy). */
int	proto_parse_digest(const char *p, size_t len, unsigned long *count,
	    uint64_t *digest);
/* "SYNCED <count>": the end of a catch-up stream of count records. */
int	proto_parse_synced(const char *p, size_t len, unsigned long *count);
/* True when the line's first field is HELLO (a peer, not a client). */
int	proto_is_hello(const char *p, size_t len);

/* Compare two times: <0, 0, >0. */
int	time_cmp(const struct herd_time *a, const struct herd_time *b);

/* Format now - sent as "+S.NNNNNNNNN" / "-S.NNNNNNNNN"; returns length. */
size_t	proto_format_diff(const struct herd_time *now,
	    const struct herd_time *sent, char *buf, size_t size);

/* Format an AT line (no newline) into buf; returns the length it needs
 * (which may be >= size, like snprintf). */
size_t	proto_format_at(char *buf, size_t size, const char *server,
	    size_t server_len, const char *diff, size_t diff_len,
	    const struct proto_request *req);

#endif
