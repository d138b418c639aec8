/*
 * control.h -- the control socket between herdctl and its supervisor.
 *
 * A Unix stream socket in the run directory, mode 0600.  The client
 * sends one request line ("status Hill", "reload", ...); the server
 * answers one JSON object and closes.  Only the socket's owner (or root)
 * is served (SO_PEERCRED).  Server side: a control_conn stays open until
 * control_reply() is called, which may be long after the request (a
 * reload answers once the new workers are ready).
 */
#ifndef HERD_CONTROL_H
#define HERD_CONTROL_H

#include <stddef.h>

#define CONTROL_SOCKET	"herd.sock"
#define CONTROL_PIDFILE	"herd.pid"
#define CONTROL_MAX_ARGS 64

struct event_base;
struct control;
struct control_conn;

/* A request: argv[0] is the command. */
typedef void (*control_cb)(struct control_conn *, int argc, char **argv,
    void *arg);

/* Listen on path (replacing a stale socket); NULL on error (errno). */
struct control	*control_listen(struct event_base *, const char *path,
		    control_cb, void *arg);
void		 control_close(struct control *);

/* Answer a request with a JSON object (copied) and close it. */
void		 control_reply(struct control_conn *, const char *json);
/* The connection went away before the answer: replying is a no-op. */
int		 control_conn_gone(const struct control_conn *);

/*
 * Client: send request, return the answer (malloc'd, NUL-terminated) or
 * NULL with errno set (ENOENT/ECONNREFUSED: no supervisor).
 */
char		*control_call(const char *path, const char *request,
		    int timeout_ms);

#endif
