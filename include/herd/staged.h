/*
 * staged.h -- a loop turn's bytes for one connection (client replies or
 * a link's floods), handed on in one piece at the end of the turn.
 */
#ifndef HERD_STAGED_H
#define HERD_STAGED_H

struct bufferevent;
struct evbuffer;

/*
 * Move staged to bev: straight to the kernel when nothing is queued
 * before it (plain sockets only), and what the kernel did not take onto
 * bev's output.  Under TLS the bufferevent seals one record per chain,
 * so staged is made one chain first: a turn's lines, one record.
 * Returns 1 when bytes were queued on bev, 0 when all went out now.
 */
int	staged_flush(struct evbuffer *staged, struct bufferevent *bev,
	    int tls);

#endif /* HERD_STAGED_H */
