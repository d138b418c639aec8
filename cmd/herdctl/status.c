/*
 * status.c -- herdctl status's rendering of the supervisor's answer: the
 * table with its notes, or the JSON; pure (writes to the FILE it is
 * given, nothing else), unit-tested in tests/unit/test_herdctl_status.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "herdctl.h"

/* Format s seconds compactly: "42s", "3m07s", "2h05m" or "1d03h". */
void
format_uptime(double s, char *buf, size_t size)
{
	long t = (long)s;

	if (t < 60)
		snprintf(buf, size, "%lds", t);
	else if (t < 3600)
		snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
	else
		snprintf(buf, size, "%ldd%02ldh", t / 86400, t / 3600 % 24);
}

/* The state of server s's persistence ("ok", "failing", "off"). */
static const char *
persist_state(const cJSON *s)
{
	return json_str(cJSON_GetObjectItem(s, "persist"), "state", "off");
}

/* The note for server s whose links are down, naming them. */
static void
print_down_links(FILE *fp, const cJSON *s)
{
	const cJSON *l;
	int n = 0;

	cJSON_ArrayForEach(l, cJSON_GetObjectItem(s, "links")) {
		if (!cJSON_IsFalse(l))
			continue;
		if (n++ == 0)
			fprintf(fp, "%s: links down: %s",
			    json_str(s, "name", "?"), l->string);
		else
			fprintf(fp, ", %s", l->string);
	}
	if (n > 0)
		fprintf(fp, "\n");
}

/* Under the table, one line per server that needs a look: why it is
 * fatal or backing off, its links down, and persistence that is failing. */
static void
print_notes(FILE *fp, const cJSON *servers)
{
	const cJSON *s, *p;
	const char *state;

	cJSON_ArrayForEach(s, servers) {
		state = json_str(s, "state", "?");
		if ((strcmp(state, "fatal") == 0 ||
		    strcmp(state, "backoff") == 0) &&
		    cJSON_IsString(cJSON_GetObjectItem(s, "error")))
			fprintf(fp, "%s: %s: %s\n", json_str(s, "name", "?"),
			    state, json_str(s, "error", "?"));
		else if (strcmp(state, "fatal") == 0)
			fprintf(fp, "%s: fatal: %s, no reason reported (see"
			    " its log lines)\n", json_str(s, "name", "?"),
			    json_str(s, "last_exit", "no exit"));
		print_down_links(fp, s);
		if (strcmp(persist_state(s), "failing") == 0) {
			p = cJSON_GetObjectItem(s, "persist");
			fprintf(fp, "%s: persistence failing (fsync %s, %d"
			    " ms behind)\n", json_str(s, "name", "?"),
			    json_str(p, "fsync", "-"), json_int(p, "lag_ms"));
		}
	}
}

/* Does every server of servers run, persisting when it persists? */
int
status_all_running(const cJSON *servers)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, servers)
		if (strcmp(json_str(s, "state", "?"), "running") != 0 ||
		    strcmp(persist_state(s), "failing") == 0)
			return 0;
	return 1;
}

/* herdctl status --json: {"servers":[...]} of the answer o, with its "log"
 * when it has one, on one line. */
void
status_print_json(FILE *fp, cJSON *o)
{
	cJSON *out = cJSON_CreateObject();
	char *js;

	cJSON_AddItemReferenceToObject(out, "servers",
	    cJSON_GetObjectItem(o, "servers"));
	if (cJSON_IsString(cJSON_GetObjectItem(o, "log")))
		cJSON_AddStringToObject(out, "log", json_str(o, "log", "?"));
	js = cJSON_PrintUnformatted(out);
	fprintf(fp, "%s\n", js);
	free(js);
	cJSON_Delete(out);
}

/* herdctl status: the answer o's servers as a table, then the notes, then
 * whether log lines are lost. */
void
status_print_table(FILE *fp, const cJSON *o)
{
	const cJSON *s, *servers = cJSON_GetObjectItem(o, "servers");
	char pid[16], up[32];

	fprintf(fp, "%-16s %-9s %-8s %-6s %-8s %-8s %-16s %s\n", "NAME",
	    "STATE", "PID", "PORT", "UPTIME", "RESTARTS", "LAST EXIT",
	    "PEERS");
	cJSON_ArrayForEach(s, servers) {
		int p = json_int(s, "pid"), t = json_int(s, "uptime_s");

		if (p > 0)
			snprintf(pid, sizeof(pid), "%d", p);
		else
			snprintf(pid, sizeof(pid), "-");
		if (p > 0 && t >= 0)
			format_uptime(t, up, sizeof(up));
		else
			snprintf(up, sizeof(up), "-");
		fprintf(fp, "%-16s %-9s %-8s %-6d %-8s %-8d %-16s %d/%d\n",
		    json_str(s, "name", "?"), json_str(s, "state", "?"),
		    pid, json_int(s, "port"), up, json_int(s, "restarts"),
		    json_str(s, "last_exit", "-"), json_int(s, "peers_up"),
		    json_int(s, "peers"));
	}
	print_notes(fp, servers);
	if (strcmp(json_str(o, "log", "ok"), "ok") != 0)
		fprintf(fp, "log: %s %s: log lines are lost\n",
		    json_str(o, "log_socket", "?"), json_str(o, "log", "?"));
}
