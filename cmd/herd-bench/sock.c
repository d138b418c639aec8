/*
 * sock.c -- herd-bench's sockets: connecting, and the blocking writes
 * and reply reads of the preloads and of the recovery checks.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* Make fd non-blocking. */
void
sock_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl != -1)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Connect to host:port (IPv4 or IPv6 literal); blocking connect, then
 * non-blocking if nonblock is 1; a non-blocking connect if it is 2.
 * Returns the socket or -1 (errno set). */
static int	sock_self_connected(int);

int
sock_connect(const char *host, int port, int nonblock)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1, e;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		errno = EINVAL;
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    (nonblock == 2 ? SOCK_NONBLOCK : 0), 0)) == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sl) == -1 &&
	    !(nonblock == 2 && errno == EINPROGRESS)) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (nonblock != 2 && sock_self_connected(fd)) {
		close(fd);
		errno = ECONNREFUSED;
		return -1;
	}
	if (nonblock == 1)
		sock_nonblock(fd);
	return fd;
}

/*
 * Did a connect to a closed local port connect the socket to itself?
 * Polling a port that is down (a node restarting) walks the ephemeral
 * ports, and TCP's simultaneous open lets one of them reach itself.
 */
static int
sock_self_connected(int fd)
{
	struct sockaddr_storage a, b;
	socklen_t al = sizeof(a), bl = sizeof(b);

	if (getsockname(fd, (struct sockaddr *)&a, &al) == -1 ||
	    getpeername(fd, (struct sockaddr *)&b, &bl) == -1)
		return 0;
	return al == bl && memcmp(&a, &b, al) == 0;
}

/* The outcome of a non-blocking connect on fd: 0 or an errno. */
int
sock_error(int fd)
{
	socklen_t sl = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
		err = errno;
	return err;
}

/* Write all of p to a blocking fd. */
int
sock_write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read the next complete reply of kind from fd into rb; *p and *plen
 * get it, final newline(s) included, valid until the next call.
 * -1 on timeout, EOF or error.
 */
int
sock_reply(int fd, struct rbuf *rb, int kind, char **p, size_t *plen,
    int timeout_ms)
{
	struct pollfd pfd;
	size_t r;
	ssize_t n;

	/* Drop the reply handed out last time. */
	if (rb->used > 0) {
		memmove(rb->b, rb->b + rb->used, rb->len - rb->used);
		rb->len -= rb->used;
		rb->used = 0;
	}
	for (;;) {
		if ((r = req_reply_len(kind, rb->b, rb->len)) > 0) {
			*p = rb->b;
			*plen = r;
			rb->used = r;
			return 0;
		}
		if (rb->cap - rb->len < 16384) {
			rb->cap = rb->cap ? rb->cap * 2 : 65536;
			if ((rb->b = realloc(rb->b, rb->cap)) == NULL)
				bench_fatal("out of memory");
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		n = recv(fd, rb->b + rb->len, rb->cap - rb->len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		rb->len += (size_t)n;
	}
}

/*
 * Ask fd (pipelined WHATSAT, CHECK_BATCH at a time) which of the keys
 * it holds: held[i] = 1 or 0.  Returns how many are held, -1 on error.
 */
long
sock_check_held(int fd, struct rbuf *rb, const char *prefix,
    const uint64_t *keys, size_t n, unsigned char *held)
{
	char out[CHECK_BATCH * 128], *p;
	size_t i, k, first, olen, plen;
	long count = 0;

	for (first = 0; first < n; first += CHECK_BATCH) {
		k = n - first < CHECK_BATCH ? n - first : CHECK_BATCH;
		olen = 0;
		for (i = 0; i < k; i++)
			olen += (size_t)snprintf(out + olen, sizeof(out) - olen,
			    "WHATSAT %s%" PRIu64 " 1 1\n", prefix,
			    keys[first + i]);
		if (sock_write_all(fd, out, olen) == -1)
			return -1;
		for (i = 0; i < k; i++) {
			if (sock_reply(fd, rb, K_POLL, &p, &plen,
			    (int)(opt.timeout * 1000)) == -1)
				return -1;
			held[first + i] = p[0] == 'A';
			count += p[0] == 'A';
		}
	}
	return count;
}

/* Poll host:port until it knows client prefix<key>, up to secs. */
int
sock_wait_held(const char *host, int port, const char *prefix, uint64_t key,
    double secs)
{
	uint64_t deadline = now_ns() + (uint64_t)(secs * 1e9);
	struct rbuf rb = { NULL, 0, 0, 0 };
	unsigned char held = 0;
	int fd, rc = -1;

	if ((fd = sock_connect(host, port, 0)) == -1)
		return -1;
	while (now_ns() < deadline) {
		if (sock_check_held(fd, &rb, prefix, &key, 1, &held) == -1)
			break;
		if (held) {
			rc = 0;
			break;
		}
		usleep(1000);
	}
	close(fd);
	free(rb.b);
	return rc;
}
