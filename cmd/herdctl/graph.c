/*
 * graph.c -- herdctl graph: the configured topology, with live states when
 * a supervisor answers, as Graphviz DOT.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "graph.h"
#include "herd/config.h"

/* Fill colour per state; NULL state: no supervisor (configured only). */
static const char *
state_color(const char *state)
{
	static const struct { const char *state, *color; } colors[] = {
		{ "running",	"palegreen" },
		{ "starting",	"khaki" },
		{ "stopping",	"khaki" },
		{ "stopped",	"lightgrey" },
		{ "backoff",	"orange" },
		{ "fatal",	"tomato" },
	};
	size_t i;

	if (state == NULL)
		return "white";
	for (i = 0; i < sizeof(colors) / sizeof(colors[0]); i++)
		if (strcmp(state, colors[i].state) == 0)
			return colors[i].color;
	return "white";
}

/* Is host a loopback address (not worth a line in the picture)? */
static int
is_loopback(const char *host)
{
	return host[0] == '\0' || strncmp(host, "127.", 4) == 0 ||
	    strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0;
}

/* Write s to fp inside a DOT string, dropping quotes and backslashes
 * (config values, but printed into another language all the same). */
static void
put_dot(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++)
		if (*s != '"' && *s != '\\' && (unsigned char)*s >= ' ')
			fputc(*s, fp);
}

/* The state of server name in status, or NULL (not known to it). */
static const char *
server_state(const cJSON *status, const char *name)
{
	const cJSON *s;
	const char *n, *st;

	cJSON_ArrayForEach(s, cJSON_GetObjectItem(status, "servers")) {
		n = cJSON_GetStringValue(cJSON_GetObjectItem(s, "name"));
		st = cJSON_GetStringValue(cJSON_GetObjectItem(s, "state"));
		if (n != NULL && st != NULL && strcmp(n, name) == 0)
			return st;
	}
	return NULL;
}

/* Does status say the link from a to b is up?  -1: it does not say. */
static int
link_state(const cJSON *status, const char *a, const char *b)
{
	const cJSON *l;
	const char *from, *to;

	cJSON_ArrayForEach(l, cJSON_GetObjectItem(status, "links")) {
		from = cJSON_GetStringValue(cJSON_GetObjectItem(l, "from"));
		to = cJSON_GetStringValue(cJSON_GetObjectItem(l, "to"));
		if (from != NULL && to != NULL && strcmp(from, a) == 0 &&
		    strcmp(to, b) == 0)
			return cJSON_IsTrue(cJSON_GetObjectItem(l, "up"));
	}
	return -1;
}

void
graph_print(FILE *fp, const struct herd_config *cfg, const cJSON *status)
{
	const struct herd_server *s, *t;
	const char *state;
	size_t i, j;
	int ab, ba;

	fprintf(fp, "graph herd {\n\tnode [shape=box, style=\"rounded,filled\","
	    " fontname=\"sans-serif\"];\n");
	for (i = 0; i < cfg->nservers; i++) {
		s = &cfg->servers[i];
		state = status != NULL ? server_state(status, s->name) : NULL;
		fprintf(fp, "\t\"");
		put_dot(fp, s->name);
		fprintf(fp, "\" [label=\"");
		put_dot(fp, s->name);
		fprintf(fp, "\\n");
		if (!is_loopback(s->host)) {
			put_dot(fp, s->host);
			fprintf(fp, ":");
		}
		fprintf(fp, "%u", s->port);
		if (state != NULL) {
			fprintf(fp, "\\n");
			put_dot(fp, state);
		}
		fprintf(fp, "\", fillcolor=%s];\n", state_color(state));
	}
	for (i = 0; i < cfg->nservers; i++) {
		s = &cfg->servers[i];
		for (j = 0; j < s->nlinks; j++) {
			if (s->links[j] <= i)
				continue;	/* each link once */
			t = &cfg->servers[s->links[j]];
			fprintf(fp, "\t\"");
			put_dot(fp, s->name);
			fprintf(fp, "\" -- \"");
			put_dot(fp, t->name);
			fprintf(fp, "\"");
			if (status != NULL) {
				ab = link_state(status, s->name, t->name);
				ba = link_state(status, t->name, s->name);
				if (ab == 1 && ba == 1)
					fprintf(fp, " [style=solid,"
					    " color=black]");
				else
					fprintf(fp, " [style=dashed,"
					    " color=red]");
			}
			fprintf(fp, ";\n");
		}
	}
	fprintf(fp, "}\n");
}
