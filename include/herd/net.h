/*
 * net.h -- socket addresses and options shared by the listener, the
 * client sessions and the peer links.  No state, no event loop.
 */
#ifndef HERD_NET_H
#define HERD_NET_H

#include <sys/socket.h>

#include <stddef.h>

/* host (name or address; IPv6 without brackets) and port as text, as
 * "host:port" or "[host]:port", into text (size HERD_ADDR_MAX + 16 is
 * enough), and parsed into ss and sslen; -1 when it does not parse. */
int	net_parse_addr(const char *host, unsigned port,
	    struct sockaddr_storage *ss, int *sslen, char *text,
	    size_t textsize);
/* sa as "addr:port" ("[addr]:port" for IPv6) into buf, else "?". */
void	net_addr_str(const struct sockaddr *sa, char *buf, size_t size);
/* Is ss a loopback address (127/8, ::1, or 127/8 mapped into IPv6)? */
int	net_is_loopback(const struct sockaddr_storage *ss);
/* Is the connected socket's peer on the loopback network? */
int	net_peer_is_loopback(int fd);
/* TCP keepalive (idle 10 s, interval 5 s, 3 probes) and TCP_NODELAY. */
void	net_keepalive(int fd);

#endif
