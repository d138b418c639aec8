/*
 * client_reply.c -- a session's replies: staged during a loop turn,
 * held in order while the entries they acknowledge are not yet durable
 * (fsync = always), and written by clients_flush() at the turn's end,
 * after the floods, each with one write straight to its socket.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "herd/client.h"
#include "herd/log.h"
#include "herd/places.h"
#include "herd/staged.h"
#include "client_int.h"

static void	client_release(struct client *, uint64_t);
static uint64_t	client_ack_seq(struct clients *);
static void	client_flush(struct client *);

/* Stage bytes for c that need nothing new on disk (they still wait
 * behind held ones). */
void
client_stage(struct client *c, const char *p, size_t len)
{
	client_stage_seq(c, p, len, 0);
}

/*
 * Stage bytes for c; the turn's flush writes them.  When they must wait
 * for entries up to seq to be durable, or replies before them are held,
 * they are held too (in order) until client_release().
 */
void
client_stage_seq(struct client *c, const char *p, size_t len, uint64_t seq)
{
	struct clients *cl = c->clients;
	struct hold_mark *m;

	if (seq <= cl->durable_seq)
		seq = 0;		/* durable meanwhile */
	if (seq != 0 || c->held != NULL) {
		if (c->held == NULL) {
			if ((c->held = evbuffer_new()) == NULL)
				fatalx("client %llu: out of memory for a"
				    " reply", (unsigned long long)c->id);
			TAILQ_INSERT_TAIL(&cl->holding, c, hold_entry);
		}
		if (evbuffer_add(c->held, p, len) == -1)
			fatalx("client %llu: out of memory for a reply",
			    (unsigned long long)c->id);
		m = c->nmarks ? &c->marks[c->nmarks - 1] : NULL;
		if (m != NULL && (seq == 0 || seq <= m->seq)) {
			m->bytes += len;	/* waits for the one before */
			return;
		}
		if (c->nmarks == c->marks_cap) {
			size_t cap = c->marks_cap ? c->marks_cap * 2 : 8;

			if ((m = reallocarray(c->marks, cap,
			    sizeof(*m))) == NULL)
				fatalx("client %llu: out of memory for a"
				    " reply", (unsigned long long)c->id);
			c->marks = m;
			c->marks_cap = cap;
		}
		c->marks[c->nmarks].bytes = len;
		c->marks[c->nmarks].seq = seq;
		c->nmarks++;
		return;
	}
	if (evbuffer_add(c->staged, p, len) == -1)
		fatalx("client %llu: out of memory for a reply",
		    (unsigned long long)c->id);	/* never drop one */
	if (!c->dirty) {
		c->dirty = 1;
		TAILQ_INSERT_TAIL(&cl->dirty, c, dirty_entry);
		cl->ops->flush_wanted(cl->arg);	/* once per turn */
	}
}

/* Move c's held replies whose entries are durable (up to seq) to its
 * staged ones, for the next flush. */
static void
client_release(struct client *c, uint64_t seq)
{
	struct clients *cl = c->clients;
	size_t i, bytes = 0;

	for (i = 0; i < c->nmarks && c->marks[i].seq <= seq; i++)
		bytes += c->marks[i].bytes;
	if (i == 0)
		return;
	if (evbuffer_remove_buffer(c->held, c->staged, bytes) != (int)bytes)
		fatalx("client %llu: out of memory for a reply",
		    (unsigned long long)c->id);
	memmove(c->marks, c->marks + i, (c->nmarks - i) * sizeof(*c->marks));
	c->nmarks -= i;
	if (c->nmarks == 0) {
		evbuffer_free(c->held);
		c->held = NULL;
		TAILQ_REMOVE(&cl->holding, c, hold_entry);
	}
	if (!c->dirty) {
		c->dirty = 1;
		TAILQ_INSERT_TAIL(&cl->dirty, c, dirty_entry);
		cl->ops->flush_wanted(cl->arg);
	}
}

/* Entries up to seq are durable: release what waited for them. */
void
clients_durable(struct clients *cl, uint64_t seq)
{
	struct client *c, *t;

	if (seq > cl->durable_seq)
		cl->durable_seq = seq;
	for (c = TAILQ_FIRST(&cl->holding); c != NULL; c = t) {
		t = TAILQ_NEXT(c, hold_entry);
		client_release(c, seq);
	}
}

/* The sequence number an acknowledgement must wait for, or 0. */
static uint64_t
client_ack_seq(struct clients *cl)
{
	return cl->ops->ack_seq != NULL ? cl->ops->ack_seq(cl->arg) : 0;
}

/* Stage an IAMAT reply for c (held until its entries are durable), or
 * queue it behind pending WHATSAT replies to keep the order (then the
 * queue's output waits for the same entries). */
void
client_reply(struct client *c, const char *p, size_t len)
{
	uint64_t seq = client_ack_seq(c->clients);

	c->clients->stats.replies++;
	if (!places_queue_empty(&c->queue)) {
		places_queue_append(&c->queue, p, len);	/* keep order */
		if (seq > c->queued_seq)
			c->queued_seq = seq;
	} else
		client_stage_seq(c, p, len, seq);
}

/* Write c's staged replies: straight to the socket when nothing is
 * queued before them, the rest through the bufferevent.  May free c. */
static void
client_flush(struct client *c)
{
	if (evbuffer_get_length(c->staged) == 0)
		return;
	/* TLS: the bufferevent encrypts (and calls back once drained). */
	if (staged_flush(c->staged, c->bev, c->tls))
		return;				/* the rest, later */
	/* All out, as the write callback would see it drained. */
	client_write_cb(c->bev, c);
}

/* The end of a loop turn, after the floods: write every session's
 * staged replies. */
void
clients_flush(struct clients *cl)
{
	struct client *c;

	/* Replies staged while flushing (a paused client resumed) wait
	 * for the next flush, after their floods. */
	TAILQ_FOREACH(c, &cl->dirty, dirty_entry)
		c->dirty = 2;
	TAILQ_CONCAT(&cl->flushing, &cl->dirty, dirty_entry);
	while ((c = TAILQ_FIRST(&cl->flushing)) != NULL) {
		TAILQ_REMOVE(&cl->flushing, c, dirty_entry);
		c->dirty = 0;
		client_flush(c);
	}
}
