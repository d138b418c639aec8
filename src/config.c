/*
 * config.c -- INI (inih) -> struct herd_config, with file:line errors.
 *
 * inih does the tokenising; we feed it lines through our own reader so
 * that we know the physical line number of every key and every section
 * header (inih only reports the first syntax error, and never tells the
 * handler about empty sections or line numbers).  Validation that needs
 * the whole file (neighbours, port clashes) runs after parsing.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "herd/config.h"
#include "herd/geonames_index.h"
#include "config_int.h"

#define CONFIG_MAX_BYTES	(4 * 1024 * 1024)
#define CONFIG_MAX_SERVERS	4096
#define READER_LINE_MAX		200	/* inih's compiled-in line buffer */

#define DEFAULT_MAX_LINE	8192
#define DEFAULT_MAX_OUTPUT	(1024 * 1024)
#define DEFAULT_MAX_CLIENTS	16384
#define DEFAULT_MAX_RECORDS	2000000
#define DEFAULT_OUTPUT_TIMEOUT_S 30
#define DEFAULT_IDLE_TIMEOUT_S	600
#define DEFAULT_LINE_TIMEOUT_S	10
#define DEFAULT_RECONCILE_S	60
#define DEFAULT_TIMEOUT_MS	8000
#define DEFAULT_CACHE_TTL_S	30
#define DEFAULT_MAX_IN_FLIGHT	32
#define OVERPASS_MAX_IN_FLIGHT	2	/* the public instances' rule */
#define DEFAULT_BACKOFF_S	30
#define DEFAULT_LOG_SOCKET	"/dev/log"

/* A key of a section, with the bit that detects duplicates. */
struct key_def {
	enum section	  sec;
	const char	 *name;
	int		(*set)(struct loader *, const char *);
};

static void	check_syntax(struct loader *);
static char	*reader(char *, int, void *);
static void	section_begin(struct loader *, const char *, size_t);
static int	handler(void *, const char *, const char *, const char *);
static void	finish_servers(struct loader *);
static void	resolve_links(struct loader *);
static void	check_ports(struct loader *);
static void	overpass_defaults(struct loader *);
static int	key_given(const struct loader *, enum section, const char *,
		    size_t);
static void	sort_errors(struct loader *);
static char	*read_file(const char *, size_t *, struct loader *);

static const struct key_def keys[] = {
	{ SEC_SERVER,	"port",		ckey_port },
	{ SEC_SERVER,	"host",		ckey_host },
	{ SEC_SERVER,	"bind",		ckey_bind },
	{ SEC_SERVER,	"neighbors",	ckey_neighbors },
	{ SEC_SERVER,	"neighbours",	ckey_neighbors },
	{ SEC_SERVER,	"tls_port",	ckey_tls_port },
	{ SEC_SERVER,	"metrics_port",	ckey_metrics_port },
	{ SEC_SERVER,	"metrics_bind",	ckey_metrics_bind },
	{ SEC_HERD,	"run_dir",	ckey_run_dir },
	{ SEC_HERD,	"log_socket",	ckey_log_socket },
	{ SEC_HERD,	"max_line",	ckey_max_line },
	{ SEC_HERD,	"max_output",	ckey_max_output },
	{ SEC_HERD,	"secret_file",	ckey_secret_file },
	{ SEC_HERD,	"max_clients",	ckey_max_clients },
	{ SEC_HERD,	"max_records",	ckey_max_records },
	{ SEC_HERD,	"output_timeout_s", ckey_output_timeout },
	{ SEC_HERD,	"idle_timeout_s", ckey_idle_timeout },
	{ SEC_HERD,	"line_timeout_s", ckey_line_timeout },
	{ SEC_HERD,	"reconcile_s",	ckey_reconcile },
	{ SEC_HERD,	"log_requests",	ckey_log_requests },
	{ SEC_HERD,	"data_dir",	ckey_data_dir },
	{ SEC_HERD,	"persist",	ckey_persist },
	{ SEC_HERD,	"fsync",	ckey_fsync },
	{ SEC_HERD,	"peer_protocol", ckey_peer_protocol },
	{ SEC_HERD,	"tls_cert",	ckey_tls_cert },
	{ SEC_HERD,	"tls_key",	ckey_tls_key },
	{ SEC_HERD,	"tls_client_ca", ckey_tls_client_ca },
	{ SEC_HERD,	"peer_tls",	ckey_peer_tls },
	{ SEC_HERD,	"http",		ckey_http },
	{ SEC_PLACES,	"api",		ckey_api },
	{ SEC_PLACES,	"key",		ckey_key },
	{ SEC_PLACES,	"url",		ckey_url },
	{ SEC_PLACES,	"timeout_ms",	ckey_timeout },
	{ SEC_PLACES,	"cache_ttl_s",	ckey_cache_ttl },
	{ SEC_PLACES,	"max_in_flight", ckey_max_in_flight },
	{ SEC_PLACES,	"user_agent",	ckey_user_agent },
	{ SEC_PLACES,	"backoff_s",	ckey_backoff },
	{ SEC_PLACES,	"geonames_file", ckey_geonames_file },
	{ SEC_PLACES,	"geonames_classes", ckey_geonames_classes },
};

/* One bit of struct loader's seen per key. */
_Static_assert(sizeof(keys) / sizeof(keys[0]) <= 64,
    "more keys than bits in struct loader's seen");

/* Record "path:line: message"; line 0 means the file as a whole. */
void
cerr(struct loader *ld, int line, const char *fmt, ...)
{
	char msg[512], *full, **n;
	va_list ap;
	int r, *l;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		r = asprintf(&full, "%s:%d: %s", ld->path, line, msg);
	else
		r = asprintf(&full, "%s: %s", ld->path, msg);
	if (r == -1)
		return;
	n = realloc(ld->errs->msgs, (ld->errs->count + 1) * sizeof(*n));
	if (n == NULL) {
		free(full);
		return;
	}
	ld->errs->msgs = n;
	l = realloc(ld->err_lines, (ld->errs->count + 1) * sizeof(*l));
	if (l == NULL) {
		free(full);
		return;
	}
	ld->err_lines = l;
	l[ld->errs->count] = line > 0 ? line : 0;
	n[ld->errs->count++] = full;
}

/* Put the errors in file order (stable: the whole file's first, then by
 * line, each line's in the order found). */
static void
sort_errors(struct loader *ld)
{
	char **m = ld->errs->msgs, *msg;
	size_t i, j;
	int line;

	for (i = 1; i < ld->errs->count; i++) {
		msg = m[i];
		line = ld->err_lines[i];
		for (j = i; j > 0 && ld->err_lines[j - 1] > line; j--) {
			m[j] = m[j - 1];
			ld->err_lines[j] = ld->err_lines[j - 1];
		}
		m[j] = msg;
		ld->err_lines[j] = line;
	}
}

/* True when an error was already recorded for line. */
int
reported(const struct loader *ld, int line)
{
	char prefix[32];
	size_t i, plen = strlen(ld->path);
	int n;

	n = snprintf(prefix, sizeof(prefix), ":%d: ", line);
	for (i = 0; i < ld->errs->count; i++)
		if (strncmp(ld->errs->msgs[i], ld->path, plen) == 0 &&
		    strncmp(ld->errs->msgs[i] + plen, prefix, (size_t)n) == 0)
			return 1;
	return 0;
}

/*
 * inih reports only the first syntax error.  A line that is not blank,
 * a comment or a section header must reach handler() (as key = value or
 * as a continuation); if the line just handed out did not, it is a
 * syntax error.  Called before each line and once at the end.
 */
static void
check_syntax(struct loader *ld)
{
	if (ld->want_key && !ld->got_key)
		cerr(ld, ld->lineno, "syntax error (expected [section],"
		    " key = value, or a ; comment)");
	ld->want_key = ld->got_key = 0;
}

/*
 * inih's line reader: hand out one physical line per call, count it, and
 * notice section headers before inih does, so empty sections and
 * duplicates are seen with their line numbers.
 */
static char *
reader(char *out, int num, void *stream)
{
	struct loader *ld = stream;
	const char *p, *nl, *q;
	size_t len, n;

	check_syntax(ld);
	if (ld->off >= ld->len)
		return NULL;
	p = ld->buf + ld->off;
	nl = memchr(p, '\n', ld->len - ld->off);
	len = nl ? (size_t)(nl - p) + 1 : ld->len - ld->off;
	ld->off += len;
	ld->lineno++;
	q = p;
	/* inih skips a UTF-8 byte order mark on the first line. */
	if (ld->lineno == 1 && len >= 3 && memcmp(q, "\xef\xbb\xbf", 3) == 0)
		q += 3;
	for (; q < p + len && (*q == ' ' || *q == '\t' || *q == '\r' ||
	    *q == '\n' || *q == '\f' || *q == '\v'); q++)
		;
	/* The length without "\n" or "\r\n" must fit with them. */
	n = len;
	if (n > 0 && p[n - 1] == '\n')
		n--;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n > (size_t)num - 3) {
		cerr(ld, ld->lineno, "line too long (more than %d bytes)",
		    num - 3);
		if (q < p + len && *q == '[')
			ld->sec = SEC_BAD;	/* skip its keys */
		/* inih sees a blank line: no half-parsed key, and no
		 * unterminated line for it to skip the rest of. */
		memcpy(out, "\n", 2);
		return out;
	}
	memcpy(out, p, len);
	out[len] = '\0';

	if (q < p + len && *q == '[') {
		const char *end = memchr(q, ']', (size_t)(p + len - q));

		if (end == NULL) {
			cerr(ld, ld->lineno, "section header without ']'");
			ld->sec = SEC_BAD;	/* skip its keys */
		} else
			section_begin(ld, q + 1, (size_t)(end - q - 1));
	} else if (q < p + len && *q != ';' && *q != '#')
		ld->want_key = 1;
	return out;
}

/* A new [section] starts at the current line. */
static void
section_begin(struct loader *ld, const char *name, size_t len)
{
	struct herd_config *cfg = ld->cfg;
	struct herd_server *s;
	uint64_t *seen;
	size_t i;

	/* [herd] and [places] keep their keys' bits when the header repeats,
	 * so a key set twice in two copies of a section is still caught;
	 * each [server:NAME] is a new section and starts clean. */
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].sec == SEC_SERVER)
			ld->seen &= ~((uint64_t)1 << i);
	ld->sec = SEC_BAD;
	if (len == 4 && memcmp(name, "herd", 4) == 0) {
		ld->sec = SEC_HERD;
		return;
	}
	if (len == 6 && memcmp(name, "places", 6) == 0) {
		ld->sec = SEC_PLACES;
		return;
	}
	if (len < 7 || memcmp(name, "server:", 7) != 0) {
		cerr(ld, ld->lineno, "unknown section [%.*s] (expected [herd],"
		    " [places] or [server:NAME])", (int)len, name);
		return;
	}
	name += 7;
	len -= 7;
	if (!ckey_valid_name(name, len)) {
		cerr(ld, ld->lineno, "invalid server name '%.*s' (1 to %d of"
		    " A-Z a-z 0-9 . _ -)", (int)len, name, HERD_NAME_MAX);
		ld->bad_server = 1;
		return;
	}
	for (i = 0; i < cfg->nservers; i++) {
		if (strlen(cfg->servers[i].name) == len &&
		    memcmp(cfg->servers[i].name, name, len) == 0) {
			cerr(ld, ld->lineno, "duplicate server '%.*s' (first"
			    " defined at line %d)", (int)len, name,
			    cfg->servers[i].line);
			return;
		}
	}
	if (cfg->nservers >= CONFIG_MAX_SERVERS) {
		cerr(ld, ld->lineno, "too many servers (at most %d)",
		    CONFIG_MAX_SERVERS);
		return;
	}
	s = realloc(cfg->servers, (cfg->nservers + 1) * sizeof(*s));
	if (s == NULL) {
		cerr(ld, ld->lineno, "out of memory");
		return;
	}
	cfg->servers = s;
	if ((seen = realloc(ld->server_seen, (cfg->nservers + 1) *
	    sizeof(*seen))) == NULL) {
		cerr(ld, ld->lineno, "out of memory");
		return;
	}
	ld->server_seen = seen;
	seen[cfg->nservers] = 0;
	s = &cfg->servers[cfg->nservers];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, name, len);
	s->line = ld->lineno;
	ld->cur = (long)cfg->nservers++;
	ld->sec = SEC_SERVER;
}

/* inih callback: one key = value in the current section. */
static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	size_t i;

	(void)section;		/* we track sections ourselves */
	ld->got_key = 1;
	if (ld->sec == SEC_BAD)
		return 1;
	if (ld->sec == SEC_NONE) {
		cerr(ld, ld->lineno, "key '%s' outside any section", name);
		return 1;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].sec != ld->sec || strcmp(keys[i].name, name) != 0)
			continue;
		/* neighbors may continue on indented lines or repeat. */
		if ((ld->seen & ((uint64_t)1 << i)) && keys[i].set != ckey_neighbors) {
			cerr(ld, ld->lineno, "duplicate key '%s'", name);
			return 1;
		}
		ld->seen |= (uint64_t)1 << i;
		if (ld->sec == SEC_SERVER)
			ld->server_seen[ld->cur] |= (uint64_t)1 << i;
		if (keys[i].set(ld, value) == -1)
			return 1;
		return 1;
	}
	cerr(ld, ld->lineno, "unknown key '%s' in [%s]", name, section);
	return 1;
}

/*
 * True when key name of sec was written, valid or not: in any [herd] or
 * [places] section, or in server srv's own section (SEC_SERVER).  A
 * key with a bad value was reported where it stands; it is not missing.
 */
static int
key_given(const struct loader *ld, enum section sec, const char *name,
    size_t srv)
{
	uint64_t seen = sec == SEC_SERVER ? ld->server_seen[srv] : ld->seen;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].sec == sec && strcmp(keys[i].name, name) == 0)
			return (seen & ((uint64_t)1 << i)) != 0;
	return 0;
}

/* Defaults and required keys of every server (a key given with a bad
 * value is not reported again as missing). */
static void
finish_servers(struct loader *ld)
{
	struct herd_config *cfg = ld->cfg;
	size_t i;

	if (cfg->nservers == 0 && !ld->bad_server)	/* one error a fault */
		cerr(ld, 0, "no [server:NAME] section");
	for (i = 0; i < cfg->nservers; i++) {
		struct herd_server *s = &cfg->servers[i];

		if (s->port == 0 && !key_given(ld, SEC_SERVER, "port", i))
			cerr(ld, s->line, "server '%s' has no port", s->name);
		if (s->host[0] == '\0')
			strcpy(s->host, "127.0.0.1");
		if (s->bind[0] == '\0')
			strcpy(s->bind, s->host);
		if (s->metrics_bind[0] == '\0')
			strcpy(s->metrics_bind, "127.0.0.1");
		if (s->tls_port != 0 && ((cfg->herd.tls_cert == NULL &&
		    !key_given(ld, SEC_HERD, "tls_cert", i)) ||
		    (cfg->herd.tls_key == NULL &&
		    !key_given(ld, SEC_HERD, "tls_key", i))))
			cerr(ld, s->line, "server '%s' has a tls_port but [herd]"
			    " has no tls_cert and tls_key", s->name);
		if (s->tls_port != 0 && s->tls_port == s->port)
			cerr(ld, s->line, "server '%s': tls_port %u is its"
			    " port too", s->name, s->port);
		if (s->metrics_port != 0 && (s->metrics_port == s->port ||
		    s->metrics_port == s->tls_port))
			cerr(ld, s->line, "server '%s': metrics_port %u is"
			    " also its port or tls_port", s->name,
			    s->metrics_port);
	}
}

/* Turn declared neighbour names into undirected links. */
static void
resolve_links(struct loader *ld)
{
	struct herd_config *cfg = ld->cfg;
	size_t n = cfg->nservers, i, j, k;
	unsigned char *adj;

	if (n == 0 || (adj = calloc(n, n)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		struct herd_server *s = &cfg->servers[i];

		for (k = 0; k < s->ndeclared; k++) {
			for (j = 0; j < n; j++)
				if (strcmp(cfg->servers[j].name,
				    s->declared[k]) == 0)
					break;
			if (j == n)
				cerr(ld, s->declared_line[k], "server '%s':"
				    " unknown neighbour '%s'", s->name,
				    s->declared[k]);
			else if (j == i)
				cerr(ld, s->declared_line[k], "server '%s'"
				    " lists itself as a neighbour", s->name);
			else
				adj[i * n + j] = adj[j * n + i] = 1;
		}
	}
	for (i = 0; i < n; i++) {
		struct herd_server *s = &cfg->servers[i];

		for (j = 0; j < n; j++)
			if (adj[i * n + j])
				s->nlinks++;
		if (s->nlinks == 0)
			continue;
		if ((s->links = calloc(s->nlinks, sizeof(*s->links))) == NULL) {
			cerr(ld, s->line, "out of memory");
			s->nlinks = 0;
			continue;
		}
		for (j = 0, k = 0; j < n; j++)
			if (adj[i * n + j])
				s->links[k++] = j;
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			cfg->nlinks += adj[i * n + j];
	free(adj);
}

/* True when addr is the IPv4 or IPv6 wildcard address. */
static int
is_any(const char *addr)
{
	return strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0;
}

/* One listening socket a config asks for: which key, on which address
 * of which machine. */
struct listen_at {
	const char	*key;
	const char	*bind;		/* address bound, maybe a wildcard */
	const char	*host;		/* the machine it is on */
	unsigned	 port;
};

/* The sockets server s listens on (port, tls_port, metrics_port) into
 * out[3]; how many. */
static size_t
server_listens(const struct herd_server *s, struct listen_at *out)
{
	size_t n = 0;

	if (s->port != 0)	/* no port: reported as such */
		out[n++] = (struct listen_at){ "port", s->bind, s->host,
		    s->port };
	if (s->tls_port != 0)
		out[n++] = (struct listen_at){ "tls_port", s->bind, s->host,
		    s->tls_port };
	if (s->metrics_port != 0)
		out[n++] = (struct listen_at){ "metrics_port",
		    s->metrics_bind, s->host, s->metrics_port };
	return n;
}

/* True when addr is a loopback address: one per machine. */
static int
is_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

/* True when a and b listen on the same addresses of the same machine (a
 * wildcard bind holds the port on every address of its machine, which
 * host names; a loopback address exists on every machine). */
static int
same_addrs(const struct listen_at *a, const struct listen_at *b)
{
	if (is_any(a->bind) || is_any(b->bind))
		return strcmp(a->host, b->host) == 0;
	return strcmp(a->bind, b->bind) == 0 &&
	    (!is_loopback(a->bind) || strcmp(a->host, b->host) == 0);
}

/* Report the first of server j's sockets that a server before it
 * already listens on (same port, same address); 1 if one did. */
static int
port_clash(struct loader *ld, size_t j)
{
	struct herd_config *cfg = ld->cfg;
	struct listen_at bl[3], al[3];
	size_t nb = server_listens(&cfg->servers[j], bl), na, i, x, y;

	for (y = 0; y < nb; y++)
		for (i = 0; i < j; i++) {
			na = server_listens(&cfg->servers[i], al);
			for (x = 0; x < na; x++) {
				if (al[x].port != bl[y].port ||
				    !same_addrs(&al[x], &bl[y]))
					continue;
				cerr(ld, cfg->servers[j].line, "server '%s':"
				    " %s %u on %s is already used by server"
				    " '%s' (line %d)", cfg->servers[j].name,
				    bl[y].key, bl[y].port, bl[y].bind,
				    cfg->servers[i].name,
				    cfg->servers[i].line);
				return 1;
			}
		}
	return 0;
}

/* Report the first socket of server j on [herd] http's port and address.
 * Every machine's supervisor serves http, so a wildcard http address
 * meets every server's sockets. */
static void
http_clash(struct loader *ld, size_t j)
{
	const struct herd_settings *h = &ld->cfg->herd;
	struct listen_at l[3];
	size_t n = server_listens(&ld->cfg->servers[j], l), y;

	for (y = 0; y < n; y++) {
		if (l[y].port != h->http_port || !(is_any(h->http_addr) ||
		    strcmp(h->http_addr, l[y].bind) == 0 ||
		    (is_any(l[y].bind) && (is_loopback(h->http_addr) ||
		    strcmp(h->http_addr, l[y].host) == 0))))
			continue;
		cerr(ld, ld->cfg->servers[j].line, "server '%s': %s %u on %s"
		    " is also [herd] http's", ld->cfg->servers[j].name,
		    l[y].key, l[y].port, l[y].bind);
		return;
	}
}

/* No two sockets of the herd on the same port of the same address:
 * servers' plain, TLS and metrics ports, and the status page's. */
static void
check_ports(struct loader *ld)
{
	size_t j;

	for (j = 0; j < ld->cfg->nservers; j++) {
		(void)port_clash(ld, j);
		if (ld->cfg->herd.http_port != 0)
			http_clash(ld, j);
	}
}

/* api = overpass without max_in_flight: the public instances' limit of
 * OVERPASS_MAX_IN_FLIGHT requests at once. */
static void
overpass_defaults(struct loader *ld)
{
	size_t i;

	if (ld->cfg->places.api != PLACES_API_OVERPASS)
		return;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].set == ckey_max_in_flight &&
		    (ld->seen & ((uint64_t)1 << i)))
			return;
	ld->cfg->places.max_in_flight = OVERPASS_MAX_IN_FLIGHT;
}

/*
 * Read all of path into a malloc'd, NUL-terminated buffer (length in
 * *lenp); NULL (reported) if unreadable, too large or holding a NUL.
 */
static char *
read_file(const char *path, size_t *lenp, struct loader *ld)
{
	FILE *fp;
	char *buf;
	size_t len;

	if ((fp = fopen(path, "r")) == NULL) {
		cerr(ld, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if ((buf = malloc(CONFIG_MAX_BYTES + 1)) == NULL) {
		fclose(fp);
		cerr(ld, 0, "out of memory");
		return NULL;
	}
	len = fread(buf, 1, CONFIG_MAX_BYTES + 1, fp);
	if (ferror(fp)) {
		cerr(ld, 0, "read error: %s", strerror(errno));
		len = 0;
		free(buf);
		buf = NULL;
	} else if (len > CONFIG_MAX_BYTES) {
		cerr(ld, 0, "file larger than %d bytes", CONFIG_MAX_BYTES);
		free(buf);
		buf = NULL;
	} else if (memchr(buf, '\0', len) != NULL) {
		cerr(ld, 0, "file contains a NUL byte");
		free(buf);
		buf = NULL;
	} else
		buf[len] = '\0';
	fclose(fp);
	*lenp = len;
	return buf;
}

/* Parse buf (NUL-terminated, owned by us now) as the file called path. */
static struct herd_config *
load(const char *path, char *buf, size_t len, int read_it,
    struct config_errors *errs)
{
	struct loader ld;
	struct herd_config *cfg;
	int r;

	memset(errs, 0, sizeof(*errs));
	memset(&ld, 0, sizeof(ld));
	ld.path = path;
	ld.errs = errs;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->path = strdup(path)) == NULL) {
		free(cfg);
		free(buf);
		cerr(&ld, 0, "out of memory");
		free(ld.err_lines);
		return NULL;
	}
	cfg->herd.max_line = DEFAULT_MAX_LINE;
	cfg->herd.max_output = DEFAULT_MAX_OUTPUT;
	cfg->herd.max_clients = DEFAULT_MAX_CLIENTS;
	cfg->herd.max_records = DEFAULT_MAX_RECORDS;
	cfg->herd.output_timeout_s = DEFAULT_OUTPUT_TIMEOUT_S;
	cfg->herd.idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;
	cfg->herd.line_timeout_s = DEFAULT_LINE_TIMEOUT_S;
	cfg->herd.reconcile_s = DEFAULT_RECONCILE_S;
	cfg->herd.log_requests = 1;
	cfg->herd.persist = 1;
	cfg->herd.fsync = HERD_FSYNC_EVERYSEC;
	cfg->herd.peer_protocol = 2;
	cfg->herd.peer_tls = 1;
	cfg->places.api = PLACES_API_NEW;
	cfg->places.timeout_ms = DEFAULT_TIMEOUT_MS;
	cfg->places.cache_ttl_s = DEFAULT_CACHE_TTL_S;
	cfg->places.max_in_flight = DEFAULT_MAX_IN_FLIGHT;
	cfg->places.backoff_s = DEFAULT_BACKOFF_S;
	cfg->places.geonames_classes = GN_CLASSES_DEFAULT;
	ld.cfg = cfg;
	if (read_it)
		buf = read_file(path, &len, &ld);
	else if (buf != NULL && memchr(buf, '\0', len) != NULL) {
		cerr(&ld, 0, "file contains a NUL byte");
		free(buf);
		buf = NULL;
	}
	if ((ld.buf = buf) != NULL) {
		ld.len = len;
		r = ini_parse_stream(reader, &ld, handler, &ld);
		check_syntax(&ld);
		if (r > 0 && !reported(&ld, r))
			cerr(&ld, r, "syntax error (expected [section],"
			    " key = value, or a ; comment)");
		free(ld.buf);
		finish_servers(&ld);
		resolve_links(&ld);
		check_ports(&ld);
		overpass_defaults(&ld);
	}
	if (cfg->herd.log_socket == NULL && errs->count == 0 &&
	    (cfg->herd.log_socket = strdup(DEFAULT_LOG_SOCKET)) == NULL)
		cerr(&ld, 0, "out of memory");
	sort_errors(&ld);
	free(ld.err_lines);
	free(ld.server_seen);
	if (errs->count > 0) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Load and validate the file path; NULL with every error in errs. */
struct herd_config *
config_load(const char *path, struct config_errors *errs)
{
	return load(path, NULL, 0, 1, errs);
}

/*
 * Load and validate a copy of len bytes of INI text, called name in
 * messages; NULL with every error in errs.
 */
struct herd_config *
config_parse(const char *name, const char *data, size_t len,
    struct config_errors *errs)
{
	char *buf;

	if (len > CONFIG_MAX_BYTES || (buf = malloc(len + 1)) == NULL) {
		memset(errs, 0, sizeof(*errs));
		buf = NULL;
	} else {
		memcpy(buf, data, len);
		buf[len] = '\0';
	}
	if (buf == NULL) {
		/* Report through the normal path: an empty, failed load. */
		struct herd_config *cfg = load(name, strdup(""), 0, 0, errs);

		config_free(cfg);
		return NULL;
	}
	return load(name, buf, len, 0, errs);
}

/* Free cfg and everything it owns; NULL is allowed. */
void
config_free(struct herd_config *cfg)
{
	size_t i, k;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nservers; i++) {
		for (k = 0; k < cfg->servers[i].ndeclared; k++)
			free(cfg->servers[i].declared[k]);
		free(cfg->servers[i].declared);
		free(cfg->servers[i].declared_line);
		free(cfg->servers[i].links);
	}
	free(cfg->servers);
	free(cfg->herd.run_dir);
	free(cfg->herd.log_socket);
	free(cfg->herd.secret_file);
	free(cfg->herd.data_dir);
	free(cfg->herd.tls_cert);
	free(cfg->herd.tls_key);
	free(cfg->herd.tls_client_ca);
	free(cfg->places.key);
	free(cfg->places.url);
	free(cfg->places.user_agent);
	free(cfg->places.geonames_file);
	free(cfg->path);
	free(cfg);
}

/* Free the messages of errs and leave it empty. */
void
config_errors_free(struct config_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->count; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->count = 0;
}

/* The server of cfg called name, or NULL. */
const struct herd_server *
config_server(const struct herd_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nservers; i++)
		if (strcmp(cfg->servers[i].name, name) == 0)
			return &cfg->servers[i];
	return NULL;
}

/* True when server b (an index) is among the links of server a. */
int
config_linked(const struct herd_config *cfg, size_t a, size_t b)
{
	const struct herd_server *s = &cfg->servers[a];
	size_t k;

	for (k = 0; k < s->nlinks; k++)
		if (s->links[k] == b)
			return 1;
	return 0;
}

/*
 * The config file to use: arg, else a non-empty $HERD_CONFIG, else
 * HERD_DEFAULT_CONFIG.
 */
const char *
config_default_path(const char *arg)
{
	const char *env;

	if (arg != NULL)
		return arg;
	if ((env = getenv("HERD_CONFIG")) != NULL && *env != '\0')
		return env;
	return HERD_DEFAULT_CONFIG;
}

/* inih callback of config_peek_run_dir(): keep [herd] run_dir only. */
static int
peek_handler(void *user, const char *section, const char *name,
    const char *value)
{
	char **out = user;

	if (strcmp(section, "herd") == 0 && strcmp(name, "run_dir") == 0 &&
	    value[0] == '/') {
		free(*out);
		*out = strdup(value);
	}
	return 1;
}

/*
 * The absolute [herd] run_dir of path (malloc'd), or NULL; errors in the
 * file are ignored.
 */
char *
config_peek_run_dir(const char *path)
{
	char *dir = NULL;

	(void)ini_parse(path, peek_handler, &dir);
	return dir;
}

/* The [herd] fsync keyword of policy f. */
const char *
config_fsync_name(enum herd_fsync f)
{
	switch (f) {
	case HERD_FSYNC_ALWAYS:
		return "always";
	case HERD_FSYNC_NO:
		return "no";
	case HERD_FSYNC_EVERYSEC:
	default:
		return "everysec";
	}
}

/* The default endpoint URL for api. */
const char *
config_places_default_url(enum places_api api)
{
	if (api == PLACES_API_OVERPASS)
		return "https://overpass-api.de/api/interpreter";
	if (api == PLACES_API_LEGACY)
		return "https://maps.googleapis.com/maps/api/place/nearbysearch/json";
	return "https://places.googleapis.com/v1/places:searchNearby";
}
