/*
 * places_entry.h -- private to the places files: one reply in a
 * client's places_queue, and the primitives that fill and hand on the
 * replies in request order.  places.c owns the queries an entry waits
 * on; this part knows nothing of them but the pointer.
 */
#ifndef HERD_PLACES_ENTRY_H
#define HERD_PLACES_ENTRY_H

#include <sys/queue.h>

#include <stddef.h>

#include "herd/places.h"

/* The answer when not even an error answer can be allocated. */
#define OOM_JSON	"{\"html_attributions\":[],\"results\":[]," \
	"\"status\":\"UNKNOWN_ERROR\"}"

struct query;

/* One reply in a client's queue; waits on a query until it is ready. */
struct places_entry {
	TAILQ_ENTRY(places_entry)	 entry;		/* in the client queue */
	TAILQ_ENTRY(places_entry)	 wentry;	/* in query->waiters */
	struct places_queue		*queue;
	struct query			*query;		/* NULL once answered */
	int				 ready;
	char				*data;
	size_t				 len;
	size_t				 cap;
};

/* Append len bytes of p to e, counting them in its queue; out of memory
 * is fatal (a reply is owed). */
void	entry_add(struct places_entry *e, const char *p, size_t len);
/* Complete e with its JSON (and the blank line), and flush its queue. */
void	entry_answer(struct places_entry *e, const char *json, size_t len);
/* Complete e with a legacy-shaped error answer. */
void	entry_fail(struct places_entry *e, const char *status,
	    const char *message);
/* Hand every complete entry at the head of q to its done callback. */
void	queue_flush(struct places_queue *q);

#endif /* HERD_PLACES_ENTRY_H */
