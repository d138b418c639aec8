/*
 * staged.c -- a loop turn's bytes for one connection, handed on at the
 * end of the turn (see staged.h).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "herd/staged.h"

int
staged_flush(struct evbuffer *staged, struct bufferevent *bev, int tls)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	if (tls)
		(void)evbuffer_pullup(staged, -1);
	else if (evbuffer_get_length(out) == 0)
		(void)evbuffer_write(staged, bufferevent_getfd(bev));
	if (evbuffer_get_length(staged) == 0)
		return 0;
	evbuffer_add_buffer(out, staged);
	return 1;
}
