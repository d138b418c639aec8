/*
 * config_int.h -- private to config.c and config_keys.c: the loader state
 * shared by the INI walk (config.c) and the key setters (config_keys.c).
 */
#ifndef HERD_CONFIG_INT_H
#define HERD_CONFIG_INT_H

#include <stddef.h>

#include "herd/config.h"

enum section {
	SEC_NONE,	/* before the first header */
	SEC_HERD,
	SEC_PLACES,
	SEC_SERVER,
	SEC_BAD,	/* unknown or invalid: its keys are skipped */
};

struct loader {
	const char		*path;
	char			*buf;		/* whole file, NUL-terminated */
	size_t			 len;
	size_t			 off;
	int			 lineno;
	int			 want_key;	/* a key line is due */
	int			 got_key;	/* ... and it did */
	enum section		 sec;
	long			 cur;		/* current server index */
	uint64_t	 seen;		/* keys seen in this section (in
					 * every copy of [herd]/[places]) */
	uint64_t		*server_seen;	/* per server: its keys given
						 * (valid or not) */
	struct herd_config	*cfg;
	struct config_errors	*errs;
	int			*err_lines;	/* line of each error (0:
						 * the file as a whole) */
	int			 bad_server;	/* a [server:...] header was
						 * refused (reported) */
};

/* config.c: errors as file:line. */
void	cerr(struct loader *, int, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
int	reported(const struct loader *, int);

/* config_keys.c: a valid server name, and one setter per key (ckey_KEY:
 * parse and check the value, store it; 0, or -1 when reported). */
int	ckey_valid_name(const char *, size_t);
int	ckey_port(struct loader *, const char *);
int	ckey_host(struct loader *, const char *);
int	ckey_bind(struct loader *, const char *);
int	ckey_neighbors(struct loader *, const char *);
int	ckey_run_dir(struct loader *, const char *);
int	ckey_log_socket(struct loader *, const char *);
int	ckey_max_line(struct loader *, const char *);
int	ckey_max_output(struct loader *, const char *);
int	ckey_secret_file(struct loader *, const char *);
int	ckey_max_clients(struct loader *, const char *);
int	ckey_max_records(struct loader *, const char *);
int	ckey_output_timeout(struct loader *, const char *);
int	ckey_idle_timeout(struct loader *, const char *);
int	ckey_line_timeout(struct loader *, const char *);
int	ckey_reconcile(struct loader *, const char *);
int	ckey_log_requests(struct loader *, const char *);
int	ckey_data_dir(struct loader *, const char *);
int	ckey_geonames_file(struct loader *, const char *);
int	ckey_geonames_classes(struct loader *, const char *);
int	ckey_persist(struct loader *, const char *);
int	ckey_peer_tls(struct loader *, const char *);
int	ckey_fsync(struct loader *, const char *);
int	ckey_peer_protocol(struct loader *, const char *);
int	ckey_tls_port(struct loader *, const char *);
int	ckey_metrics_port(struct loader *, const char *);
int	ckey_metrics_bind(struct loader *, const char *);
int	ckey_tls_cert(struct loader *, const char *);
int	ckey_tls_key(struct loader *, const char *);
int	ckey_tls_client_ca(struct loader *, const char *);
int	ckey_http(struct loader *, const char *);
int	ckey_api(struct loader *, const char *);
int	ckey_key(struct loader *, const char *);
int	ckey_url(struct loader *, const char *);
int	ckey_timeout(struct loader *, const char *);
int	ckey_cache_ttl(struct loader *, const char *);
int	ckey_max_in_flight(struct loader *, const char *);
int	ckey_user_agent(struct loader *, const char *);
int	ckey_backoff(struct loader *, const char *);

#endif /* HERD_CONFIG_INT_H */
