/*
 * fuzz_config.c -- libFuzzer harness for the INI configuration parser.
 *
 * The input is the text of a herd.ini.  config_parse() must either
 * return a configuration with no errors, whose servers, links and
 * settings hold together, or NULL with at least one error, each a
 * single line starting with the file name; everything is freed after.
 * A broken promise is an abort().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd/config.h"

#define NAME	"fuzz.ini"

#define check(e)	((e) ? (void)0 : failed(#e, __LINE__))

int		LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	failed(const char *, int) __attribute__((noreturn));
static void	check_errors(const struct config_errors *);
static void	check_server(const struct herd_config *, size_t);
static void	check_config(const struct herd_config *);

/* Report a broken promise and abort: a crash for libFuzzer. */
static void
failed(const char *what, int line)
{
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
	abort();
}

/* Every message is one line, "fuzz.ini:line: ..." or "fuzz.ini: ...". */
static void
check_errors(const struct config_errors *errs)
{
	size_t i, n = strlen(NAME);

	check(errs->count > 0 && errs->msgs != NULL);
	for (i = 0; i < errs->count; i++) {
		check(errs->msgs[i] != NULL);
		check(strncmp(errs->msgs[i], NAME ":", n + 1) == 0);
		check(strchr(errs->msgs[i], '\n') == NULL);
	}
}

/* Server i has a name, a port, addresses and sane symmetric links. */
static void
check_server(const struct herd_config *cfg, size_t i)
{
	const struct herd_server *s = &cfg->servers[i];
	size_t k, len;

	len = strnlen(s->name, sizeof(s->name));
	check(len > 0 && len <= HERD_NAME_MAX);
	check(config_server(cfg, s->name) == s);
	check(s->port != 0 && s->line > 0);
	check(strnlen(s->host, sizeof(s->host)) > 0 &&
	    strnlen(s->host, sizeof(s->host)) < sizeof(s->host));
	check(strnlen(s->bind, sizeof(s->bind)) > 0 &&
	    strnlen(s->bind, sizeof(s->bind)) < sizeof(s->bind));
	check(s->nlinks == 0 || s->links != NULL);
	for (k = 0; k < s->nlinks; k++) {
		check(s->links[k] < cfg->nservers && s->links[k] != i);
		check(k == 0 || s->links[k - 1] < s->links[k]);
		check(config_linked(cfg, i, s->links[k]));
		check(config_linked(cfg, s->links[k], i));
	}
	for (k = 0; k < s->ndeclared; k++)
		check(config_server(cfg, s->declared[k]) != NULL);
}

/* A configuration without errors is complete and consistent. */
static void
check_config(const struct herd_config *cfg)
{
	size_t i, half = 0;

	check(cfg->path != NULL && strcmp(cfg->path, NAME) == 0);
	check(cfg->nservers > 0 && cfg->servers != NULL);
	check(cfg->herd.log_socket != NULL && cfg->herd.log_socket[0] == '/');
	check(cfg->herd.run_dir == NULL || cfg->herd.run_dir[0] == '/');
	check(cfg->herd.max_line >= 256 && cfg->herd.max_line <= 1024 * 1024);
	check(cfg->herd.max_output >= 4096);
	check(cfg->places.api == PLACES_API_NEW ||
	    cfg->places.api == PLACES_API_LEGACY ||
	    cfg->places.api == PLACES_API_GEONAMES);
	check(cfg->places.geonames_classes != 0);
	check(cfg->places.geonames_file == NULL ||
	    cfg->places.geonames_file[0] == '/');
	check(cfg->places.timeout_ms >= 100 &&
	    cfg->places.timeout_ms <= 600000);
	check(cfg->places.cache_ttl_s >= 0 && cfg->places.cache_ttl_s <= 86400);
	check(cfg->places.key == NULL || cfg->places.key[0] != '\0');
	check(cfg->places.url == NULL ||
	    strncmp(cfg->places.url, "http://", 7) == 0 ||
	    strncmp(cfg->places.url, "https://", 8) == 0);
	for (i = 0; i < cfg->nservers; i++) {
		check_server(cfg, i);
		half += cfg->servers[i].nlinks;
	}
	check(half == 2 * cfg->nlinks);
}

/* libFuzzer entry point: the input is the text of an INI file. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs;
	struct herd_config *cfg;

	cfg = config_parse(NAME, (const char *)data, size, &errs);
	if (cfg != NULL) {
		check(errs.count == 0);
		check_config(cfg);
	} else
		check_errors(&errs);
	config_free(cfg);
	config_errors_free(&errs);
	return 0;
}
