/*
 * cmd_check.c -- herdctl check: validate the INI, its secret file and its
 * TLS files; print a summary.
 */
#include <stdio.h>
#include <stdlib.h>

#include "herd/auth.h"
#include "herd/config.h"
#include "herd/log.h"
#include "herd/tls_client.h"
#include "herdctl.h"

static int	check_tls(const struct herd_config *, char *, size_t);

/* herdctl check: validate the INI and its secret file; print a summary. */
int
cmd_check(int argc, char **argv)
{
	struct config_errors errs;
	struct herd_config *cfg;
	struct auth_secret secret;
	struct auth_keys *keys;
	char err[512];
	const char *path = config_default_path(config_arg);
	int bad;

	if (no_arguments(argc, argv) == -1)
		return EXIT_USAGE;
	if ((cfg = config_load(path, &errs)) == NULL)
		return print_config_errors(&errs);
	if (cfg->herd.secret_file != NULL &&
	    auth_load_secret(cfg->herd.secret_file, &secret, err,
	    sizeof(err)) == 0) {
		/* One secret, or two for a rotation. */
		if ((keys = malloc(sizeof(*keys))) == NULL)
			bad = 1, snprintf(err, sizeof(err), "out of memory");
		else
			bad = auth_split_keys(&secret, cfg->herd.secret_file,
			    keys, err, sizeof(err)) == -1;
		free(keys);
		if (bad) {
			fprintf(stderr, "herdctl: %s: error: %s\n", path, err);
			config_free(cfg);
			return EXIT_FAIL;
		}
	} else if (cfg->herd.secret_file != NULL) {
		fprintf(stderr, "herdctl: %s: %s: %s\n", path,
		    auth_secret_exposed(cfg->herd.secret_file) ? "warning" :
		    "error", err);
		config_free(cfg);
		return EXIT_FAIL;
	}
	if (check_tls(cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "herdctl: %s: error: %s\n", path, err);
		config_free(cfg);
		return EXIT_FAIL;
	}
	printf("%s: ok (%zu %s, %zu %s)\n", path, cfg->nservers,
	    log_plural(cfg->nservers, "server", "servers"), cfg->nlinks,
	    log_plural(cfg->nlinks, "link", "links"));
	config_free(cfg);
	return EXIT_OK;
}

/* With a tls_port anywhere, load tls_cert, tls_key and tls_client_ca
 * as a server would; -1 with the reason in err. */
static int
check_tls(const struct herd_config *cfg, char *err, size_t errlen)
{
	struct tls_client *tls;
	size_t i;

	for (i = 0; i < cfg->nservers; i++)
		if (cfg->servers[i].tls_port != 0)
			break;
	if (i == cfg->nservers)
		return 0;
	if ((tls = tls_client_new(&cfg->herd, err, errlen)) == NULL)
		return -1;
	tls_client_free(tls);
	return 0;
}
