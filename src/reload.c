/*
 * reload.c -- diff two configurations into per-server actions.
 *
 * A server must restart only when what it listens on changed, or its
 * fsync policy (one at a time: its records are on disk); a changed
 * neighbour list, a moved neighbour, or new [places]/[herd] settings are
 * applied live by the node on SIGHUP; anything else is left alone.  A
 * change of where the records are kept (data_dir, persist) is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd/reload.h"

static int	str_eq(const char *, const char *);
static int	links_equal(const struct herd_config *,
		    const struct herd_server *, const struct herd_config *,
		    const struct herd_server *);
static int	globals_equal(const struct herd_config *,
		    const struct herd_config *);
static int	add(struct reload_plan *, const char *, enum reload_action,
		    const char *);

/* Compare two strings that may be NULL; two NULLs are equal. */
static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Same neighbours, at the same addresses? */
static int
links_equal(const struct herd_config *oc, const struct herd_server *os,
    const struct herd_config *nc, const struct herd_server *ns)
{
	size_t i, j;

	if (os->nlinks != ns->nlinks)
		return 0;
	for (i = 0; i < os->nlinks; i++) {
		const struct herd_server *a = &oc->servers[os->links[i]];
		const struct herd_server *b = NULL;

		for (j = 0; j < ns->nlinks; j++) {
			b = &nc->servers[ns->links[j]];
			if (strcmp(a->name, b->name) == 0)
				break;
		}
		if (j == ns->nlinks || a->port != b->port ||
		    strcmp(a->host, b->host) != 0)
			return 0;
	}
	return 1;
}

/* Same [herd] and [places] settings (what a node applies live)? */
static int
globals_equal(const struct herd_config *a, const struct herd_config *b)
{
	return a->places.api == b->places.api &&
	    str_eq(a->places.key, b->places.key) &&
	    str_eq(a->places.url, b->places.url) &&
	    a->places.timeout_ms == b->places.timeout_ms &&
	    a->places.cache_ttl_s == b->places.cache_ttl_s &&
	    a->places.max_in_flight == b->places.max_in_flight &&
	    str_eq(a->places.user_agent, b->places.user_agent) &&
	    a->places.backoff_s == b->places.backoff_s &&
	    a->places.api_set == b->places.api_set &&
	    str_eq(a->places.geonames_file, b->places.geonames_file) &&
	    a->places.geonames_classes == b->places.geonames_classes &&
	    str_eq(a->herd.log_socket, b->herd.log_socket) &&
	    str_eq(a->herd.secret_file, b->herd.secret_file) &&
	    a->herd.max_clients == b->herd.max_clients &&
	    a->herd.max_records == b->herd.max_records &&
	    a->herd.output_timeout_s == b->herd.output_timeout_s &&
	    a->herd.idle_timeout_s == b->herd.idle_timeout_s &&
	    a->herd.line_timeout_s == b->herd.line_timeout_s &&
	    a->herd.reconcile_s == b->herd.reconcile_s &&
	    a->herd.log_requests == b->herd.log_requests &&
	    a->herd.max_line == b->herd.max_line &&
	    a->herd.max_output == b->herd.max_output &&
	    a->herd.peer_protocol == b->herd.peer_protocol &&
	    str_eq(a->herd.tls_cert, b->herd.tls_cert) &&
	    str_eq(a->herd.tls_key, b->herd.tls_key) &&
	    str_eq(a->herd.tls_client_ca, b->herd.tls_client_ca) &&
	    a->herd.peer_tls == b->herd.peer_tls;
}

/* Append an item (name, action, why) to the plan; -1 when out of memory. */
static int
add(struct reload_plan *p, const char *name, enum reload_action action,
    const char *why)
{
	struct reload_item *n;

	n = realloc(p->items, (p->count + 1) * sizeof(*n));
	if (n == NULL)
		return -1;
	p->items = n;
	memset(&n[p->count], 0, sizeof(n[p->count]));
	strncpy(n[p->count].name, name, HERD_NAME_MAX);
	n[p->count].action = action;
	n[p->count].why = why;
	p->count++;
	return 0;
}

/*
 * Plan each server of nc: start if new, restart if its listen address
 * changed, signal if its neighbours, the globals or (secret_changed, read
 * by the caller: this module touches no file) the secret's content
 * changed, else keep; then stop each server of oc gone from nc.  -1 (p
 * freed) when out of memory.
 */
int
reload_plan(const struct herd_config *oc, const struct herd_config *nc,
    int secret_changed, struct reload_plan *p)
{
	int same_globals = globals_equal(oc, nc);
	size_t i;
	int r = 0;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < nc->nservers && r == 0; i++) {
		const struct herd_server *ns = &nc->servers[i];
		const struct herd_server *os = config_server(oc, ns->name);

		if (os == NULL)
			r = add(p, ns->name, RELOAD_START, "new server");
		else if (os->port != ns->port || os->tls_port != ns->tls_port ||
		    strcmp(os->host, ns->host) || strcmp(os->bind, ns->bind))
			r = add(p, ns->name, RELOAD_RESTART,
			    "listen address changed");
		else if (nc->herd.persist && oc->herd.fsync != nc->herd.fsync) {
			r = add(p, ns->name, RELOAD_RESTART, "fsync changed:"
			    " restarted one at a time, records on disk");
			if (r == 0)
				p->items[p->count - 1].rolling = 1;
		} else if (!links_equal(oc, os, nc, ns))
			r = add(p, ns->name, RELOAD_SIGNAL,
			    "neighbours changed");
		else if (os->metrics_port != ns->metrics_port ||
		    strcmp(os->metrics_bind, ns->metrics_bind) != 0)
			r = add(p, ns->name, RELOAD_SIGNAL,
			    "metrics_port or metrics_bind changed: rebinds");
		else if (!same_globals)
			r = add(p, ns->name, RELOAD_SIGNAL,
			    "[herd] or [places] changed");
		else if (secret_changed)
			r = add(p, ns->name, RELOAD_SIGNAL,
			    "the secret_file's content changed");
		else if (ns->tls_port != 0)
			r = add(p, ns->name, RELOAD_SIGNAL,
			    "TLS certificate and key re-read");
		else
			r = add(p, ns->name, RELOAD_KEEP, "unchanged");
	}
	for (i = 0; i < oc->nservers && r == 0; i++)
		if (config_server(nc, oc->servers[i].name) == NULL)
			r = add(p, oc->servers[i].name, RELOAD_STOP,
			    "server removed");
	if (r == -1)
		reload_plan_free(p);
	return r;
}

/* See reload.h. */
const char *
reload_data_dir(const struct herd_config *cfg, const char *fallback)
{
	if (!cfg->herd.persist)
		return NULL;
	return cfg->herd.data_dir != NULL ? cfg->herd.data_dir : fallback;
}

/* See reload.h. */
int
reload_check_data_dir(const char *old, const char *new, char *err,
    size_t errlen)
{
	if (str_eq(old, new))
		return 0;
	if (old == NULL)
		snprintf(err, errlen, "persistence turned on (records in %s):"
		    " a reload cannot do that; nothing changed: run herdctl"
		    " stop, then herdctl start", new);
	else if (new == NULL)
		snprintf(err, errlen, "persistence turned off (records in"
		    " %s): a reload cannot do that; nothing changed: run"
		    " herdctl stop, then herdctl start", old);
	else
		snprintf(err, errlen, "data_dir changed from %s to %s: the"
		    " records are in %s; a reload cannot move them; nothing"
		    " changed: run herdctl stop, move the server directories"
		    " of %s to %s, then herdctl start", old, new, old, old,
		    new);
	return -1;
}

/* Free the plan's items and leave it empty. */
void
reload_plan_free(struct reload_plan *p)
{
	free(p->items);
	p->items = NULL;
	p->count = 0;
}

/* Return the lower-case name of an action, for logs and replies. */
const char *
reload_action_name(enum reload_action a)
{
	switch (a) {
	case RELOAD_KEEP:
		return "keep";
	case RELOAD_START:
		return "start";
	case RELOAD_STOP:
		return "stop";
	case RELOAD_RESTART:
		return "restart";
	case RELOAD_SIGNAL:
		return "signal";
	}
	return "?";
}
