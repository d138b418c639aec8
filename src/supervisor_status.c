/*
 * supervisor_status.c -- what the supervisor says about its workers: the
 * status JSON (control "status", the status page's /status.json), the
 * status page opened on [herd] http (status_http.c serves it), and
 * systemd's one-line STATUS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herd/links.h"
#include "herd/log.h"
#include "herd/sdnotify.h"
#include "herd/status_http.h"
#include "herd/worker.h"
#include "supervisor_int.h"

/* Add "servers" (the named ones, or all) to o and, for all, "links". */
void
sv_add_status(struct supervisor *sv, cJSON *o, int argc, char **argv)
{
	cJSON *arr;
	struct worker *w;
	int i;

	arr = cJSON_AddArrayToObject(o, "servers");
	TAILQ_FOREACH(w, &sv->workers.list, entry) {
		if (argc > 1) {
			for (i = 1; i < argc; i++)
				if (strcmp(argv[i], w->name) == 0)
					break;
			if (i == argc)
				continue;
		}
		cJSON_AddItemToArray(arr, worker_json(w));
	}
	if (argc == 1)
		cJSON_AddItemToObject(o, "links", links_json(sv->cfg,
		    &sv->workers));
}

/* The status page's /status.json: every server and every link. */
static char *
http_status_json(void *arg)
{
	cJSON *o = cJSON_CreateObject();
	char *js;

	if (o == NULL)
		return NULL;
	sv_add_status(arg, o, 1, NULL);
	js = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return js;
}

/* (Re)open the status page when [herd] http names another address than
 * the one served; -1 with the reason in err when it cannot listen. */
int
sv_http_update(struct supervisor *sv, char *err, size_t errlen)
{
	const struct herd_settings *h = &sv->cfg->herd;
	const char *a = sv->http_addr;

	if (sv->http != NULL && sv->http_port == h->http_port &&
	    strcmp(a, h->http_addr) == 0)
		return 0;
	status_http_free(sv->http);
	sv->http = NULL;
	if (h->http_port == 0)
		return 0;
	if ((sv->http = status_http_new(sv->base, h->http_addr, h->http_port,
	    http_status_json, sv, err, errlen)) == NULL)
		return -1;
	snprintf(sv->http_addr, sizeof(sv->http_addr), "%s", h->http_addr);
	sv->http_port = h->http_port;
	log_info("status page on http://%s%s%s:%u/", strchr(a, ':') ? "[" : "",
	    a, strchr(a, ':') ? "]" : "", sv->http_port);
	return 0;
}

/* One-line summary for systemctl status. */
void
sv_sd_status(struct supervisor *sv)
{
	struct worker *w;
	size_t n = 0, up = 0;

	TAILQ_FOREACH(w, &sv->workers.list, entry) {
		n++;
		up += w->state == W_RUNNING;
	}
	sdnotifyf("STATUS=%zu of %zu %s running", up, n,
	    log_plural(n, "worker", "workers"));
}
