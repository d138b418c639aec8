/*
 * config_keys.c -- the value setters of the configuration keys: each
 * parses and checks one key = value and stores it in struct herd_config
 * (ckey_KEY, called from config.c's key table; the rest is static).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "herd/config.h"
#include "herd/geonames_index.h"
#include "config_int.h"

#define USER_AGENT_MAX	200	/* bytes of [places] user_agent */

static int	parse_long(const char *, long, long, long *);
static int	parse_addr(const char *, char *, int);
static int	parse_bool(const char *);
static int	set_port(struct loader *, const char *, const char *,
		    uint16_t *);

/* Strict decimal in [min, max]. */
static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A numeric IPv4/IPv6 address, normalised into out. */
static int
parse_addr(const char *s, char *out, int allow_any)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (allow_any && strcmp(s, "*") == 0)
		s = "0.0.0.0";
	if (inet_pton(AF_INET, s, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, HERD_ADDR_MAX) ? 0 : -1;
	if (inet_pton(AF_INET6, s, &a6) == 1)
		return inet_ntop(AF_INET6, &a6, out, HERD_ADDR_MAX) ? 0 : -1;
	return -1;
}

/* True when s (len bytes) is 1..HERD_NAME_MAX of A-Z a-z 0-9 . _ -. */
int
ckey_valid_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > HERD_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

#define CUR(ld)	(&(ld)->cfg->servers[(ld)->cur])

/* Set *out from v (1..65535) for key; -1 (reported) if bad. */
static int
set_port(struct loader *ld, const char *key, const char *v, uint16_t *out)
{
	long port;

	if (parse_long(v, 1, 65535, &port) == -1) {
		cerr(ld, ld->lineno, "bad %s '%s' (expected 1..65535)", key,
		    v);
		return -1;
	}
	*out = (uint16_t)port;
	return 0;
}

/* Set [server:NAME] port from v (1..65535); -1 (reported) if bad. */
int
ckey_port(struct loader *ld, const char *v)
{
	return set_port(ld, "port", v, &CUR(ld)->port);
}

/* Set [server:NAME] tls_port from v (1..65535); -1 (reported) if bad. */
int
ckey_tls_port(struct loader *ld, const char *v)
{
	return set_port(ld, "tls_port", v, &CUR(ld)->tls_port);
}

/* Set [server:NAME] metrics_port from v (1..65535); -1 (reported) if
 * bad. */
int
ckey_metrics_port(struct loader *ld, const char *v)
{
	return set_port(ld, "metrics_port", v, &CUR(ld)->metrics_port);
}

/* Set [server:NAME] metrics_bind from v (numeric or *); -1 (reported)
 * if bad. */
int
ckey_metrics_bind(struct loader *ld, const char *v)
{
	if (parse_addr(v, CUR(ld)->metrics_bind, 1) == -1) {
		cerr(ld, ld->lineno, "bad metrics_bind '%s' (expected a"
		    " numeric IPv4 or IPv6 address, or *)", v);
		return -1;
	}
	return 0;
}

/* Set [server:NAME] host from the numeric address v; -1 (reported) if bad. */
int
ckey_host(struct loader *ld, const char *v)
{
	if (parse_addr(v, CUR(ld)->host, 0) == -1) {
		cerr(ld, ld->lineno, "bad host '%s' (expected a numeric IPv4"
		    " or IPv6 address)", v);
		return -1;
	}
	return 0;
}

/* Set [server:NAME] bind from v (numeric or *); -1 (reported) if bad. */
int
ckey_bind(struct loader *ld, const char *v)
{
	if (parse_addr(v, CUR(ld)->bind, 1) == -1) {
		cerr(ld, ld->lineno, "bad bind '%s' (expected a numeric IPv4"
		    " or IPv6 address, or *)", v);
		return -1;
	}
	return 0;
}

/*
 * Add the names in v (separated by blanks or commas) to [server:NAME]'s
 * declared neighbours with their line; bad or repeated names are reported
 * and skipped, -1 only when memory runs out.
 */
int
ckey_neighbors(struct loader *ld, const char *v)
{
	struct herd_server *s = CUR(ld);
	const char *p = v, *start;
	size_t len, i;
	char **d;
	int *dl;

	if (s->nbr_line == 0)
		s->nbr_line = ld->lineno;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			return 0;
		start = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')
			p++;
		len = (size_t)(p - start);
		if (!ckey_valid_name(start, len)) {
			cerr(ld, ld->lineno, "invalid neighbour name '%.*s'",
			    (int)len, start);
			continue;
		}
		for (i = 0; i < s->ndeclared; i++)
			if (strlen(s->declared[i]) == len &&
			    memcmp(s->declared[i], start, len) == 0)
				break;
		if (i < s->ndeclared) {
			cerr(ld, ld->lineno, "neighbour '%.*s' listed twice",
			    (int)len, start);
			continue;
		}
		dl = realloc(s->declared_line, (s->ndeclared + 1) *
		    sizeof(*dl));
		if (dl != NULL)
			s->declared_line = dl;
		d = realloc(s->declared, (s->ndeclared + 1) * sizeof(*d));
		if (d != NULL)
			s->declared = d;
		if (dl == NULL || d == NULL ||
		    (d[s->ndeclared] = strndup(start, len)) == NULL) {
			cerr(ld, ld->lineno, "out of memory");
			return -1;
		}
		/* Continuation lines: report each name at its own line. */
		dl[s->ndeclared] = ld->lineno;
		s->ndeclared++;
	}
}

/* Replace *slot with a copy of v; -1 on failure (reported). */
static int
set_string(struct loader *ld, char **slot, const char *v)
{
	char *c;

	if ((c = strdup(v)) == NULL) {
		cerr(ld, ld->lineno, "out of memory");
		return -1;
	}
	free(*slot);
	*slot = c;
	return 0;
}

/* set_string() for key, whose value v must be an absolute path. */
static int
set_path(struct loader *ld, char **slot, const char *key, const char *v)
{
	if (v[0] != '/') {
		cerr(ld, ld->lineno, "%s must be an absolute path", key);
		return -1;
	}
	return set_string(ld, slot, v);
}

/* Set [herd] run_dir from v (absolute path); -1 (reported) if bad. */
int
ckey_run_dir(struct loader *ld, const char *v)
{
	return set_path(ld, &ld->cfg->herd.run_dir, "run_dir", v);
}

/* Set [herd] log_socket from v (absolute path); -1 (reported) if bad. */
int
ckey_log_socket(struct loader *ld, const char *v)
{
	return set_path(ld, &ld->cfg->herd.log_socket, "log_socket", v);
}

/* Set [herd] max_line from v (256..1048576); -1 (reported) if bad. */
int
ckey_max_line(struct loader *ld, const char *v)
{
	long n;

	if (parse_long(v, 256, 1024 * 1024, &n) == -1) {
		cerr(ld, ld->lineno, "bad max_line '%s' (expected bytes,"
		    " 256..1048576)", v);
		return -1;
	}
	ld->cfg->herd.max_line = (size_t)n;
	return 0;
}

/* Set [herd] max_output from v (4096..1073741824); -1 (reported) if bad. */
int
ckey_max_output(struct loader *ld, const char *v)
{
	long n;

	if (parse_long(v, 4096, 1024L * 1024 * 1024, &n) == -1) {
		cerr(ld, ld->lineno, "bad max_output '%s' (expected bytes,"
		    " 4096..1073741824)", v);
		return -1;
	}
	ld->cfg->herd.max_output = (size_t)n;
	return 0;
}

/* Set [herd] secret_file from v (absolute path); -1 (reported) if bad. */
int
ckey_secret_file(struct loader *ld, const char *v)
{
	return set_path(ld, &ld->cfg->herd.secret_file, "secret_file", v);
}

/* Set [herd] tls_cert from v (absolute path); -1 (reported) if bad. */
int
ckey_tls_cert(struct loader *ld, const char *v)
{
	return set_path(ld, &ld->cfg->herd.tls_cert, "tls_cert", v);
}

/* Set [herd] tls_key from v (absolute path); -1 (reported) if bad. */
int
ckey_tls_key(struct loader *ld, const char *v)
{
	return set_path(ld, &ld->cfg->herd.tls_key, "tls_key", v);
}

/* Set [herd] tls_client_ca from v (absolute path); -1 (reported) if bad. */
int
ckey_tls_client_ca(struct loader *ld, const char *v)
{
	return set_path(ld, &ld->cfg->herd.tls_client_ca, "tls_client_ca",
	    v);
}

/* A bounded integer setting: "bad KEY 'v' (expected WHAT, MIN..MAX)". */
static int
set_bounded(struct loader *ld, const char *key, const char *what,
    const char *v, long min, long max, long *out)
{
	if (parse_long(v, min, max, out) == -1) {
		cerr(ld, ld->lineno, "bad %s '%s' (expected %s, %ld..%ld)",
		    key, v, what, min, max);
		return -1;
	}
	return 0;
}

/* Set [herd] max_clients from v (1..1000000); -1 (reported) if bad. */
int
ckey_max_clients(struct loader *ld, const char *v)
{
	return set_bounded(ld, "max_clients", "connections", v, 1, 1000000,
	    &ld->cfg->herd.max_clients);
}

/*
 * Set [herd] max_records from v (0..1000000000, 0 = no limit); -1
 * (reported) if bad.
 */
int
ckey_max_records(struct loader *ld, const char *v)
{
	return set_bounded(ld, "max_records", "records, 0 = no limit", v, 0,
	    1000000000L, &ld->cfg->herd.max_records);
}

/* Set [herd] output_timeout_s from v (1..86400); -1 (reported) if bad. */
int
ckey_output_timeout(struct loader *ld, const char *v)
{
	return set_bounded(ld, "output_timeout_s", "seconds", v, 1, 86400,
	    &ld->cfg->herd.output_timeout_s);
}

/*
 * Set [herd] idle_timeout_s from v (0..604800, 0 = never); -1 (reported)
 * if bad.
 */
int
ckey_idle_timeout(struct loader *ld, const char *v)
{
	return set_bounded(ld, "idle_timeout_s", "seconds, 0 = never", v, 0,
	    604800, &ld->cfg->herd.idle_timeout_s);
}

/* Set [herd] line_timeout_s from v (1..3600); -1 (reported) if bad. */
int
ckey_line_timeout(struct loader *ld, const char *v)
{
	return set_bounded(ld, "line_timeout_s", "seconds", v, 1, 3600,
	    &ld->cfg->herd.line_timeout_s);
}

/* Set [herd] reconcile_s from v (0..86400, 0 = off); -1 (reported) if bad. */
int
ckey_reconcile(struct loader *ld, const char *v)
{
	return set_bounded(ld, "reconcile_s", "seconds, 0 = off", v, 0, 86400,
	    &ld->cfg->herd.reconcile_s);
}

/* 1 for yes/true/on/1, 0 for no/false/off/0, -1 otherwise. */
static int
parse_bool(const char *v)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "on") == 0 || strcmp(v, "1") == 0)
		return 1;
	if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
	    strcmp(v, "off") == 0 || strcmp(v, "0") == 0)
		return 0;
	return -1;
}

/*
 * Set [herd] log_requests from yes/true/on/1 or no/false/off/0; -1
 * (reported) otherwise.
 */
int
ckey_log_requests(struct loader *ld, const char *v)
{
	int b = parse_bool(v);

	if (b == -1) {
		cerr(ld, ld->lineno, "bad log_requests '%s' (expected yes or"
		    " no)", v);
		return -1;
	}
	ld->cfg->herd.log_requests = b;
	return 0;
}

/* Set [herd] data_dir from v (absolute path); -1 (reported) if bad. */
int
ckey_data_dir(struct loader *ld, const char *v)
{
	return set_path(ld, &ld->cfg->herd.data_dir, "data_dir", v);
}

/* Set [herd] persist from a yes/no value; -1 (reported) otherwise. */
int
ckey_persist(struct loader *ld, const char *v)
{
	int b = parse_bool(v);

	if (b == -1) {
		cerr(ld, ld->lineno, "bad persist '%s' (expected yes or no)",
		    v);
		return -1;
	}
	ld->cfg->herd.persist = b;
	return 0;
}

/* Set [herd] peer_tls from a yes/no value; -1 (reported) otherwise. */
int
ckey_peer_tls(struct loader *ld, const char *v)
{
	int b = parse_bool(v);

	if (b == -1) {
		cerr(ld, ld->lineno, "bad peer_tls '%s' (expected yes or no)",
		    v);
		return -1;
	}
	ld->cfg->herd.peer_tls = b;
	return 0;
}

/* Set [herd] fsync from always/everysec/no; -1 (reported) otherwise. */
int
ckey_fsync(struct loader *ld, const char *v)
{
	if (strcmp(v, "always") == 0)
		ld->cfg->herd.fsync = HERD_FSYNC_ALWAYS;
	else if (strcmp(v, "everysec") == 0)
		ld->cfg->herd.fsync = HERD_FSYNC_EVERYSEC;
	else if (strcmp(v, "no") == 0)
		ld->cfg->herd.fsync = HERD_FSYNC_NO;
	else {
		cerr(ld, ld->lineno, "bad fsync '%s' (expected always,"
		    " everysec or no)", v);
		return -1;
	}
	return 0;
}

/* Set [herd] peer_protocol from 1 or 2; -1 (reported) otherwise. */
int
ckey_peer_protocol(struct loader *ld, const char *v)
{
	if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0) {
		cerr(ld, ld->lineno, "bad peer_protocol '%s' (expected 1 or"
		    " 2)", v);
		return -1;
	}
	ld->cfg->herd.peer_protocol = v[0] - '0';
	return 0;
}

/* Set [places] api from "new", "legacy", "overpass" or "geonames"; -1
 * (reported) otherwise. */
int
ckey_api(struct loader *ld, const char *v)
{
	if (strcmp(v, "new") == 0)
		ld->cfg->places.api = PLACES_API_NEW;
	else if (strcmp(v, "legacy") == 0)
		ld->cfg->places.api = PLACES_API_LEGACY;
	else if (strcmp(v, "geonames") == 0)
		ld->cfg->places.api = PLACES_API_GEONAMES;
	else if (strcmp(v, "overpass") == 0)
		ld->cfg->places.api = PLACES_API_OVERPASS;
	else {
		cerr(ld, ld->lineno, "bad api '%s' (expected new, legacy,"
		    " overpass or geonames)", v);
		return -1;
	}
	ld->cfg->places.api_set = 1;
	return 0;
}

/* Set [places] geonames_file from v (absolute path); -1 (reported) if
 * bad. */
int
ckey_geonames_file(struct loader *ld, const char *v)
{
	return set_path(ld, &ld->cfg->places.geonames_file, "geonames_file",
	    v);
}

/* Set [places] geonames_classes from letters of GeoNames feature
 * classes; -1 (reported) if bad. */
int
ckey_geonames_classes(struct loader *ld, const char *v)
{
	if (gn_classes_parse(v, &ld->cfg->places.geonames_classes) == -1) {
		cerr(ld, ld->lineno, "bad geonames_classes '%s' (expected"
		    " feature class letters among A H L P R S T U V, such"
		    " as P S L T H)", v);
		return -1;
	}
	return 0;
}

/* Set [places] key from v; an empty v leaves it unset. */
int
ckey_key(struct loader *ld, const char *v)
{
	if (*v == '\0')
		return 0;	/* "key =" means unset */
	return set_string(ld, &ld->cfg->places.key, v);
}

/*
 * Set [places] url from v (http:// or https://); an empty v keeps the
 * default, -1 (reported) if bad.
 */
int
ckey_url(struct loader *ld, const char *v)
{
	if (*v == '\0')
		return 0;
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
		cerr(ld, ld->lineno, "bad url '%s' (expected http:// or"
		    " https://)", v);
		return -1;
	}
	return set_string(ld, &ld->cfg->places.url, v);
}

/* Set [places] timeout_ms from v (100..600000); -1 (reported) if bad. */
int
ckey_timeout(struct loader *ld, const char *v)
{
	if (parse_long(v, 100, 600000, &ld->cfg->places.timeout_ms) == -1) {
		cerr(ld, ld->lineno, "bad timeout_ms '%s' (expected"
		    " 100..600000)", v);
		return -1;
	}
	return 0;
}

/* Set [places] cache_ttl_s from v (0..86400); -1 (reported) if bad. */
int
ckey_cache_ttl(struct loader *ld, const char *v)
{
	if (parse_long(v, 0, 86400, &ld->cfg->places.cache_ttl_s) == -1) {
		cerr(ld, ld->lineno, "bad cache_ttl_s '%s' (expected"
		    " 0..86400)", v);
		return -1;
	}
	return 0;
}

/* Set [places] max_in_flight from v (1..1024); -1 (reported) if bad. */
int
ckey_max_in_flight(struct loader *ld, const char *v)
{
	return set_bounded(ld, "max_in_flight", "requests", v, 1, 1024,
	    &ld->cfg->places.max_in_flight);
}

/*
 * Set [places] user_agent from v: 1..USER_AGENT_MAX printable ASCII
 * characters, not the stock agent of an HTTP library or tool (the
 * public Overpass instances block those); -1 (reported) if bad.
 */
int
ckey_user_agent(struct loader *ld, const char *v)
{
	static const char *const stock[] = {
		"curl", "libcurl", "wget", "python-requests", "python-urllib",
		"python-httpx", "aiohttp", "go-http-client", "java",
		"okhttp", "axios", "node-fetch", "undici", "libwww-perl",
		"http.rb", "guzzlehttp",
	};
	size_t i, n = strcspn(v, "/ ");

	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			break;
	if (*v == '\0' || v[i] != '\0' || i > USER_AGENT_MAX) {
		cerr(ld, ld->lineno, "bad user_agent '%s' (expected 1..%d"
		    " printable ASCII characters naming this service, such"
		    " as herd-example/1.0 (ops@example.org))", v,
		    USER_AGENT_MAX);
		return -1;
	}
	for (i = 0; i < sizeof(stock) / sizeof(stock[0]); i++) {
		if (strlen(stock[i]) == n && strncasecmp(v, stock[i], n) == 0) {
			cerr(ld, ld->lineno, "user_agent '%s' is a stock agent"
			    " (%s); the public Overpass instances want one"
			    " that names this service and a contact, such as"
			    " herd-example/1.0 (ops@example.org)", v,
			    stock[i]);
			return -1;
		}
	}
	return set_string(ld, &ld->cfg->places.user_agent, v);
}

/* Set [places] backoff_s from v (0..3600); -1 (reported) if bad. */
int
ckey_backoff(struct loader *ld, const char *v)
{
	return set_bounded(ld, "backoff_s", "seconds, 0 = none", v, 0, 3600,
	    &ld->cfg->places.backoff_s);
}

/* Set [herd] http from v, "ADDR:PORT" (numeric address, [v6]:PORT for
 * IPv6, port 1..65535); -1 (reported) if bad. */
int
ckey_http(struct loader *ld, const char *v)
{
	char addr[HERD_ADDR_MAX];
	const char *colon = strrchr(v, ':'), *a = v;
	size_t len;
	long port;

	if (colon == NULL || parse_long(colon + 1, 1, 65535, &port) == -1)
		goto bad;
	len = (size_t)(colon - v);
	if (len > 1 && v[0] == '[' && v[len - 1] == ']') {
		a = v + 1;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(addr))
		goto bad;
	memcpy(addr, a, len);
	addr[len] = '\0';
	if (parse_addr(addr, ld->cfg->herd.http_addr, 0) == -1)
		goto bad;
	ld->cfg->herd.http_port = (uint16_t)port;
	return 0;
bad:
	cerr(ld, ld->lineno, "bad http '%s' (expected ADDR:PORT, a numeric"
	    " address such as 127.0.0.1:12080 or [::1]:12080)", v);
	return -1;
}
