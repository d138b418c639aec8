/*
 * sdnotify.c -- the sd_notify(3) protocol, spoken directly.
 *
 * systemd passes $NOTIFY_SOCKET to services of Type=notify; a service
 * reports its state by sending "KEY=VALUE\n..." datagrams there.  The
 * receiver checks the sender's pid (NotifyAccess=main), which the kernel
 * attaches to every datagram, so nothing but the bytes is needed.  We
 * never block: a full receiver queue is an error (EAGAIN) for the caller
 * to ignore or retry, not a stall of the supervisor's event loop.
 *
 * An abstract name "@foo" is the address "\0foo" whose length counts
 * exactly the bytes of the name: abstract addresses are compared with
 * their length, so one trailing NUL too many names another socket.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "herd/sdnotify.h"

#define SDNOTIFY_STACK_MAX	512	/* sdnotifyf() bytes before malloc */

static int	sdnotify_addr(const char *, struct sockaddr_un *, socklen_t *);
static int	sdnotify_parse_u64(const char *, uint64_t *);

/* Send state to $NOTIFY_SOCKET as one datagram, without blocking. */
int
sdnotify(const char *state)
{
	struct sockaddr_un sun;
	socklen_t sunlen;
	const char *path;
	size_t len;
	ssize_t n;
	int fd, saved;

	if ((path = getenv("NOTIFY_SOCKET")) == NULL || *path == '\0')
		return 1;
	if (state == NULL || (len = strlen(state)) == 0) {
		errno = EINVAL;
		return -1;
	}
	if (sdnotify_addr(path, &sun, &sunlen) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	do {
		n = sendto(fd, state, len, MSG_NOSIGNAL | MSG_DONTWAIT,
		    (struct sockaddr *)&sun, sunlen);
	} while (n == -1 && errno == EINTR);
	saved = errno;
	close(fd);
	if (n == -1) {
		errno = saved;
		return -1;
	}
	if ((size_t)n != len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/* Format a state printf-style and send it with sdnotify(). */
int
sdnotifyf(const char *fmt, ...)
{
	char stackbuf[SDNOTIFY_STACK_MAX], *buf = stackbuf;
	const char *path;
	va_list ap;
	int len, rc, saved;

	if ((path = getenv("NOTIFY_SOCKET")) == NULL || *path == '\0')
		return 1;
	va_start(ap, fmt);
	len = vsnprintf(stackbuf, sizeof(stackbuf), fmt, ap);
	va_end(ap);
	if (len < 0)
		return -1;
	if ((size_t)len >= sizeof(stackbuf)) {
		if ((buf = malloc((size_t)len + 1)) == NULL)
			return -1;
		va_start(ap, fmt);
		len = vsnprintf(buf, (size_t)len + 1, fmt, ap);
		va_end(ap);
		if (len < 0) {
			saved = errno;
			free(buf);
			errno = saved;
			return -1;
		}
	}
	rc = sdnotify(buf);
	if (buf != stackbuf) {
		saved = errno;
		free(buf);
		errno = saved;
	}
	return rc;
}

/* The watchdog interval systemd expects pings at, if it is ours. */
int
sdnotify_watchdog_usec(uint64_t *usec)
{
	const char *s;
	uint64_t val, pid;

	if ((s = getenv("WATCHDOG_USEC")) == NULL ||
	    sdnotify_parse_u64(s, &val) == -1 || val == 0)
		return 0;
	if ((s = getenv("WATCHDOG_PID")) != NULL) {
		if (sdnotify_parse_u64(s, &pid) == -1 || pid == 0 ||
		    pid != (uint64_t)getpid())
			return 0;
	}
	if (usec != NULL)
		*usec = val;
	return 1;
}

/* CLOCK_MONOTONIC in microseconds, the clock MONOTONIC_USEC= expects. */
uint64_t
sdnotify_monotonic_usec(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Fill sun and its exact length from a $NOTIFY_SOCKET value. */
static int
sdnotify_addr(const char *path, struct sockaddr_un *sun, socklen_t *sunlen)
{
	size_t len = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (path[0] == '@') {
		/* "@name" -> "\0name", length without any trailing NUL. */
		if (len < 2 || len > sizeof(sun->sun_path)) {
			errno = len < 2 ? EINVAL : ENAMETOOLONG;
			return -1;
		}
		memcpy(sun->sun_path + 1, path + 1, len - 1);
		*sunlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    len);
	} else if (path[0] == '/') {
		/* A filesystem path, NUL-terminated inside sun_path. */
		if (len >= sizeof(sun->sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(sun->sun_path, path, len);
		*sunlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    len + 1);
	} else {
		/* Relative paths and vsock: addresses are not supported. */
		errno = EAFNOSUPPORT;
		return -1;
	}
	return 0;
}

/* Parse a plain unsigned decimal (digits only, no overflow). */
static int
sdnotify_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}
