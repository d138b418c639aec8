/*
 * listener.h -- a server's TCP listening socket on libevent: the
 * descriptor limit it needs, the bind, each accepted connection handed
 * to the owner, and a short pause when accept() runs out of descriptors.
 *
 * Ownership: listener_new() returns an object the owner frees with
 * listener_free() (which closes the socket).  No dependency on the
 * node: the owner supplies struct listener_ops.
 */
#ifndef HERD_LISTENER_H
#define HERD_LISTENER_H

#include <sys/socket.h>

#include <stddef.h>

struct event_base;
struct listener;

/* The owner's callbacks (none may be NULL). */
struct listener_ops {
	/* A connection was accepted: the owner takes fd. */
	void	(*accept)(void *arg, int fd, const struct sockaddr *sa);
	/* Connections open now (for the log line of a pause). */
	size_t	(*count)(void *arg);
};

/* Raise RLIMIT_NOFILE's soft limit to the hard one; warn when
 * max_clients cannot fit.  Returns the limit (LONG_MAX: none). */
long		 listener_raise_nofile(long max_clients);

/* Listen on bind:port; NULL when the address does not parse (logged)
 * or the bind fails (err says why, logged too). */
struct listener	*listener_new(struct event_base *, const char *bind,
		    unsigned port, const struct listener_ops *, void *arg,
		    char *err, size_t errlen);
/* Accept no more connections, for good (SIGTERM). */
void		 listener_stop(struct listener *);
/* Close the socket and free (NULL is fine). */
void		 listener_free(struct listener *);

/* The origin-form path of an HTTP request target of len bytes (len is
 * updated): "http://host:port/metrics" -> "/metrics" (RFC 9112 3.2.2:
 * a server accepts the absolute form too), anything else unchanged. */
const char	*listener_http_path(const char *target, size_t *len);

#endif
