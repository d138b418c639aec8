/*
 * links.c -- each configured link's up state: as its server reported it
 * ("LINK name 0|1"), else inferred from the workers' counts.
 */
#include <stddef.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herd/config.h"
#include "herd/links.h"
#include "herd/worker.h"

/* Does server s run?  One this supervisor does not run is taken to. */
static int
runs(struct workers *ws, const struct herd_server *s)
{
	struct worker *w = worker_find(ws, s->name);

	return w == NULL || w->state == W_RUNNING;
}

/* Is the link from s to its neighbour t up, as s sees it? */
static int
link_up(const struct herd_config *cfg, struct workers *ws,
    const struct herd_server *s, const struct herd_server *t)
{
	struct worker *w = worker_find(ws, s->name);
	size_t i, down = 0;
	int reported;

	if (!runs(ws, s) || !runs(ws, t))
		return 0;
	if (w != NULL && (reported = worker_link_up(w, t->name)) != -1)
		return reported;	/* as s said on its status pipe */
	if (w == NULL && (w = worker_find(ws, t->name)) != NULL &&
	    (reported = worker_link_up(w, s->name)) != -1)
		return reported;	/* s is elsewhere: as t sees it */
	w = worker_find(ws, s->name);
	if (w == NULL || w->peers_up >= w->peers)
		return 1;
	for (i = 0; i < s->nlinks; i++)
		down += runs(ws, &cfg->servers[s->links[i]]) ? 0 : 1;
	/* Missing links beyond the stopped neighbours: which ones is
	 * unknown, so none of s's links is claimed up. */
	return w->peers - w->peers_up <= down;
}

/* The links as a JSON array (see links.h). */
cJSON *
links_json(const struct herd_config *cfg, struct workers *ws)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	const struct herd_server *s, *t;
	size_t i, j;

	if (arr == NULL)
		return NULL;
	for (i = 0; i < cfg->nservers; i++) {
		s = &cfg->servers[i];
		for (j = 0; j < s->nlinks; j++) {
			t = &cfg->servers[s->links[j]];
			if ((o = cJSON_CreateObject()) == NULL ||
			    !cJSON_AddItemToArray(arr, o)) {
				cJSON_Delete(o);
				cJSON_Delete(arr);
				return NULL;
			}
			if (cJSON_AddStringToObject(o, "from", s->name) == NULL ||
			    cJSON_AddStringToObject(o, "to", t->name) == NULL ||
			    cJSON_AddBoolToObject(o, "up",
			    link_up(cfg, ws, s, t)) == NULL) {
				cJSON_Delete(arr);
				return NULL;
			}
		}
	}
	return arr;
}
