/*
 * tls_client.h -- TLS for clients on a server's tls_port: the server
 * certificate, its key and the optional client CA, loaded into one
 * context; the sessions get a TLS bufferevent per accepted socket.
 *
 * Ownership: the node makes one with tls_client_new() and frees it with
 * tls_client_free(); a reload makes a new one and frees the old (the
 * connections already open keep what they were accepted with).
 */
#ifndef HERD_TLS_CLIENT_H
#define HERD_TLS_CLIENT_H

#include <stddef.h>

#include "herd/config.h"

struct bufferevent;
struct event_base;
struct tls_client;

/* Load tls_cert, tls_key (refused if group or others may read it) and
 * tls_client_ca of h; NULL with the reason in err. */
struct tls_client *tls_client_new(const struct herd_settings *h, char *err,
		    size_t errlen);
void		 tls_client_free(struct tls_client *);

/* A bufferevent that runs the server side of a TLS handshake on fd
 * (closed with it); NULL when out of memory (fd is then closed). */
struct bufferevent *tls_client_bufferevent(struct tls_client *,
		    struct event_base *, int fd);

/* Why the TLS connection of bev failed, as one line in buf. */
void		 tls_client_error(struct bufferevent *bev, char *buf,
		    size_t len);

/* Send a TLS close_notify on bev (its output is empty). */
void		 tls_client_close_notify(struct bufferevent *bev);

#endif
