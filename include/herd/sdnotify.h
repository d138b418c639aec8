/*
 * sdnotify.h -- sd_notify(3) without libsystemd: datagrams to
 * $NOTIFY_SOCKET.
 *
 * Pure libc, no event loop: each call opens a datagram socket, sends one
 * message without ever blocking, and closes it.  $NOTIFY_SOCKET may be a
 * filesystem path ("/run/systemd/notify") or an abstract socket name
 * ("@name").  Nothing here allocates memory that outlives a call.
 */
#ifndef HERD_SDNOTIFY_H
#define HERD_SDNOTIFY_H

#include <stdint.h>

/* Send state (e.g. "READY=1\nSTATUS=..."): 0 sent, 1 no $NOTIFY_SOCKET,
 * -1 error (errno set; EAGAIN when the receiver's queue is full). */
int		 sdnotify(const char *state);
/* sdnotify() of a printf-formatted state. */
int		 sdnotifyf(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
/* 1 and *usec when $WATCHDOG_USEC is set (a positive decimal) and
 * $WATCHDOG_PID is unset or equals getpid(); else 0, *usec untouched. */
int		 sdnotify_watchdog_usec(uint64_t *usec);
/* CLOCK_MONOTONIC in microseconds, for RELOADING=1 + MONOTONIC_USEC=. */
uint64_t	 sdnotify_monotonic_usec(void);

#endif
