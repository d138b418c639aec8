/*
 * net.c -- socket address formatting, parsing and classification, and
 * the socket options of long-lived connections.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include <event2/util.h>

#include "herd/net.h"

/* Format host and port as text and parse it into ss. */
int
net_parse_addr(const char *host, unsigned port, struct sockaddr_storage *ss,
    int *sslen, char *text, size_t textsize)
{
	if (strchr(host, ':') != NULL)
		snprintf(text, textsize, "[%s]:%u", host, port);
	else
		snprintf(text, textsize, "%s:%u", host, port);
	*sslen = sizeof(*ss);
	return evutil_parse_sockaddr_port(text, (struct sockaddr *)ss, sslen);
}

/* Format sa as "addr:port" ("[addr]:port" for IPv6) into buf, else "?". */
void
net_addr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)
		    (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, size, "%s:%u", a, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)
		    (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, size, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else
		snprintf(buf, size, "?");
}

/* Is ss a loopback address (127/8, ::1, or 127/8 mapped into IPv6)? */
int
net_is_loopback(const struct sockaddr_storage *ss)
{
	const struct in6_addr *a;

	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)ss)->
		    sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family != AF_INET6)
		return 0;
	a = &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) &&
	    a->s6_addr[12] == 127);
}

/* Is the socket's peer on the loopback network? */
int
net_peer_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	return net_is_loopback(&ss);
}

/* Set TCP keepalive (idle 10 s, interval 5 s, 3 probes) and TCP_NODELAY. */
void
net_keepalive(int fd)
{
	int on = 1, idle = 10, intvl = 5, cnt = 3;

	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
	    sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}
