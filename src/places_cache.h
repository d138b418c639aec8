/*
 * places_cache.h -- private to the places files: the answer cache, JSON
 * answers by query key for a TTL, in hash buckets with LRU eviction.
 */
#ifndef HERD_PLACES_CACHE_H
#define HERD_PLACES_CACHE_H

#include <sys/queue.h>

#include <stddef.h>

#define PLACES_CACHE_KEY_MAX	128	/* longer keys are cut */
#define PLACES_CACHE_BUCKETS	1024
#define PLACES_CACHE_MAX	8192	/* answers kept at most */

struct places_cache_item;

/* Embedded in its owner; places_cache_init() before use. */
struct places_cache {
	struct places_cache_item	*buckets[PLACES_CACHE_BUCKETS];
	TAILQ_HEAD(, places_cache_item)	 lru;		/* oldest first */
	size_t				 n;
};

void	 places_cache_init(struct places_cache *);
/* The unexpired answer for key (its length in *len), or NULL; always
 * NULL when ttl_s <= 0. */
const char *places_cache_get(struct places_cache *, const char *key,
	    long ttl_s, size_t *len);
/* Keep json (len bytes, NUL-terminated) under key for ttl_s seconds;
 * silently not kept when memory runs out. */
void	 places_cache_put(struct places_cache *, const char *key,
	    const char *json, size_t len, long ttl_s);
/* Drop every answer. */
void	 places_cache_clear(struct places_cache *);

#endif /* HERD_PLACES_CACHE_H */
