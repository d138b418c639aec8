/*
 * config.h -- the herd topology and settings, loaded from an INI file.
 *
 * config_load() parses and validates the whole file and returns either a
 * complete configuration or NULL with every error found, each formatted
 * "file:line: message".  The caller owns both and frees them with
 * config_free() / config_errors_free().  herd-node and herdctl share it.
 */
#ifndef HERD_CONFIG_H
#define HERD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define HERD_NAME_MAX		63
#define HERD_ADDR_MAX		64
#define HERD_DEFAULT_CONFIG	"/etc/herd/herd.ini"

struct herd_server {
	char		  name[HERD_NAME_MAX + 1];
	char		  host[HERD_ADDR_MAX];	/* address neighbours dial */
	char		  bind[HERD_ADDR_MAX];	/* address to listen on */
	uint16_t	  port;
	uint16_t	  tls_port;	/* client TLS, or 0 */
	uint16_t	  metrics_port;	/* Prometheus /metrics, or 0 */
	char		  metrics_bind[HERD_ADDR_MAX];	/* its address */
	int		  line;		/* line of the [server:NAME] header */
	int		  nbr_line;	/* line of the first neighbors key, or 0 */
	char		**declared;	/* neighbour names as written */
	int		 *declared_line; /* line of each declared name */
	size_t		  ndeclared;
	size_t		 *links;	/* linked servers (indices), sorted */
	size_t		  nlinks;
};

enum places_api {
	PLACES_API_NEW = 0,	/* Places API (New) searchNearby */
	PLACES_API_LEGACY,	/* Nearby Search (legacy) */
	PLACES_API_OVERPASS,	/* OpenStreetMap's Overpass API, keyless */
	PLACES_API_GEONAMES,	/* offline GeoNames, in process */
};

struct herd_places {
	enum places_api	  api;
	int		  api_set;	/* api given; else geonames without a key */
	char		 *geonames_file; /* GeoNames dump, NULL = built-in */
	uint32_t	  geonames_classes; /* feature classes, GN_CLASS() */
	char		 *key;		/* NULL when unset */
	char		 *url;		/* NULL = Google's default */
	long		  timeout_ms;
	long		  cache_ttl_s;
	long		  max_in_flight; /* provider requests at once */
	char		 *user_agent;	/* overpass: NULL = herd/VERSION */
	long		  backoff_s;	/* overpass: quiet after a 429 */
};

/* [herd] fsync: when the persistence log is fdatasync'ed. */
enum herd_fsync {
	HERD_FSYNC_EVERYSEC = 0,	/* about once a second (default) */
	HERD_FSYNC_ALWAYS,		/* before every acknowledgement */
	HERD_FSYNC_NO,			/* never; the kernel decides */
};

/* [herd]: process-wide settings with documented defaults. */
struct herd_settings {
	char		*run_dir;	/* NULL = per-user default */
	char		*log_socket;	/* syslog datagram socket */
	char		*secret_file;	/* shared peer secret, or NULL */
	size_t		 max_line;	/* bytes in one client line */
	size_t		 max_output;	/* unsent reply bytes per client */
	long		 max_clients;	/* client connections per node */
	long		 max_records;	/* client records per node; 0 = any */
	long		 output_timeout_s; /* paused client dropped after */
	long		 idle_timeout_s;   /* 0 = never */
	long		 line_timeout_s;   /* deadline for a partial line */
	long		 reconcile_s;	   /* periodic anti-entropy; 0 = off */
	int		 log_requests;	   /* a line per request/connection */
	char		*data_dir;	   /* persistence root, or NULL */
	int		 persist;	   /* keep records on disk (yes) */
	enum herd_fsync	 fsync;		   /* log sync policy */
	int		 peer_protocol;	   /* highest herd/N spoken: 1, 2 */
	char		*tls_cert;	   /* client TLS: PEM chain, or NULL */
	char		*tls_key;	   /* ... its private key (mode 600) */
	char		*tls_client_ca;	   /* required client certs' CA */
	int		 peer_tls;	   /* with a secret: links in TLS */
	char		 http_addr[HERD_ADDR_MAX]; /* status page; "": off */
	uint16_t	 http_port;
};

struct herd_config {
	char			*path;
	struct herd_server	*servers;
	size_t			 nservers;
	size_t			 nlinks;	/* undirected links */
	struct herd_settings	 herd;
	struct herd_places	 places;
};

struct config_errors {
	char		**msgs;		/* "file:line: message" */
	size_t		  count;
};

/* Load and validate path; NULL on any error (all of them in errs). */
struct herd_config	*config_load(const char *path, struct config_errors *errs);
/* The same for INI text in memory (name is used in messages). */
struct herd_config	*config_parse(const char *name, const char *data,
			    size_t len, struct config_errors *errs);
void			 config_free(struct herd_config *);
void			 config_errors_free(struct config_errors *);

/* The server called name, or NULL. */
const struct herd_server *config_server(const struct herd_config *,
			    const char *name);

/* True when servers a and b (indices) are linked. */
int			 config_linked(const struct herd_config *, size_t a,
			    size_t b);

/* The config file to use: -c argument, else $HERD_CONFIG, else default. */
const char		*config_default_path(const char *arg);

/* [herd] run_dir of a file that may not load (NULL if absent); for
 * finding a running supervisor whatever state its INI is in. */
char			*config_peek_run_dir(const char *path);

/* "always", "everysec" or "no". */
const char		*config_fsync_name(enum herd_fsync);

/* The default endpoint URL for an api. */
const char		*config_places_default_url(enum places_api);

#endif
