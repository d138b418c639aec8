/*
 * places_cache.c -- the places answer cache: JSON answers by query key,
 * kept for a TTL in FNV-1a hash buckets, the oldest evicted when full.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "places_cache.h"

struct places_cache_item {
	TAILQ_ENTRY(places_cache_item)	 lru;		/* oldest first */
	struct places_cache_item	*next;		/* bucket chain */
	char				 key[PLACES_CACHE_KEY_MAX];
	time_t				 expires;
	size_t				 len;
	char				 json[];
};

static unsigned	cache_hash(const char *);
static void	cache_drop(struct places_cache *, struct places_cache_item *);

/* An empty cache. */
void
places_cache_init(struct places_cache *c)
{
	memset(c->buckets, 0, sizeof(c->buckets));
	TAILQ_INIT(&c->lru);
	c->n = 0;
}

/* FNV-1a hash of s, reduced to a bucket index. */
static unsigned
cache_hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % PLACES_CACHE_BUCKETS;
}

/* The unexpired cached answer for key, or NULL (always when TTL is 0). */
const char *
places_cache_get(struct places_cache *c, const char *key, long ttl_s,
    size_t *len)
{
	struct places_cache_item *ci;

	if (ttl_s <= 0)
		return NULL;
	for (ci = c->buckets[cache_hash(key)]; ci != NULL; ci = ci->next)
		if (strcmp(ci->key, key) == 0) {
			if (ci->expires <= time(NULL))
				return NULL;
			*len = ci->len;
			return ci->json;
		}
	return NULL;
}

/* Remove ci from its bucket chain and the LRU list, and free it. */
static void
cache_drop(struct places_cache *c, struct places_cache_item *ci)
{
	struct places_cache_item **pp = &c->buckets[cache_hash(ci->key)];

	while (*pp != ci)
		pp = &(*pp)->next;
	*pp = ci->next;
	TAILQ_REMOVE(&c->lru, ci, lru);
	c->n--;
	free(ci);
}

/*
 * Cache json under key for ttl_s, replacing an older copy and
 * evicting expired items, then the oldest ones when full.
 */
void
places_cache_put(struct places_cache *c, const char *key, const char *json,
    size_t len, long ttl_s)
{
	struct places_cache_item *ci;
	unsigned b = cache_hash(key);

	for (ci = c->buckets[b]; ci != NULL; ci = ci->next)
		if (strcmp(ci->key, key) == 0) {
			cache_drop(c, ci);
			break;
		}
	/* Oldest first: expired ones, then the oldest live one if full. */
	while ((ci = TAILQ_FIRST(&c->lru)) != NULL &&
	    (ci->expires <= time(NULL) || c->n >= PLACES_CACHE_MAX))
		cache_drop(c, ci);
	if ((ci = malloc(sizeof(*ci) + len + 1)) == NULL)
		return;
	snprintf(ci->key, sizeof(ci->key), "%s", key);
	ci->expires = time(NULL) + ttl_s;
	ci->len = len;
	memcpy(ci->json, json, len + 1);
	ci->next = c->buckets[b];
	c->buckets[b] = ci;
	TAILQ_INSERT_TAIL(&c->lru, ci, lru);
	c->n++;
}

/* Drop every cached answer. */
void
places_cache_clear(struct places_cache *c)
{
	struct places_cache_item *ci;

	while ((ci = TAILQ_FIRST(&c->lru)) != NULL)
		cache_drop(c, ci);
}
