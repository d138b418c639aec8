/*
 * status_http.h -- the supervisor's status page: a small GET-only HTTP
 * server on the supervisor's event loop ([herd] http = ADDR:PORT).
 *
 * "/" is one self-contained HTML page (status_page.c) that fetches
 * "/status.json" every second; "/status.json" is the owner's JSON.  Each
 * connection answers one request and closes.  Bounded: request head
 * STATUS_HTTP_MAX_HEAD bytes, sent within STATUS_HTTP_TIMEOUT_S seconds
 * (however slowly it trickles in; bytes still trickling after the answer
 * past that end the connection too), each read or write idle at most that
 * long, at most STATUS_HTTP_MAX_CONNS connections (the excess is closed
 * at once).
 *
 * Ownership: status_http_new() returns an object the owner frees with
 * status_http_free(), which closes the socket and every connection.
 */
#ifndef HERD_STATUS_HTTP_H
#define HERD_STATUS_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct status_http;

#define STATUS_HTTP_MAX_HEAD	8192
#define STATUS_HTTP_TIMEOUT_S	10
#define STATUS_HTTP_MAX_CONNS	1024

/* The owner's JSON for /status.json, malloc'd (NULL: out of memory). */
typedef char	*(*status_http_json_fn)(void *arg);

/* Listen on addr:port; NULL with the reason in err. */
struct status_http	*status_http_new(struct event_base *,
			    const char *addr, uint16_t port,
			    status_http_json_fn, void *arg, char *err,
			    size_t errlen);
void			 status_http_free(struct status_http *);

/* The page served at "/" (status_page.c). */
extern const char	 status_page_html[];

#endif
