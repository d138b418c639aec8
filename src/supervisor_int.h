/*
 * supervisor_int.h -- the supervisor's state, shared by its files:
 * supervisor.c (the entry point: lifecycle, signals, systemd; it calls
 * down into) supervisor_control.c (the control requests), which calls
 * supervisor_reload.c (reload), which calls supervisor_status.c (status
 * JSON, status page, systemd STATUS).  Nothing calls up.
 */
#ifndef HERD_SUPERVISOR_INT_H
#define HERD_SUPERVISOR_INT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "herd/auth.h"
#include "herd/config.h"
#include "herd/control.h"
#include "herd/job.h"
#include "herd/supervisor.h"
#include "herd/worker.h"

struct status_http;

struct supervisor {
	struct event_base	*base;
	const struct sv_options	*opt;
	struct herd_config	*cfg;
	struct workers		 workers;
	struct jobs		 jobs;
	struct control		*ctl;
	struct status_http	*http;		/* [herd] http, or NULL */
	char			 http_addr[HERD_ADDR_MAX]; /* ... served on */
	uint16_t		 http_port;
	struct event		*sig_ev[6];
	struct event		*watchdog;
	struct event		*tick;		/* job deadlines */
	int			 stopping;
	int			 exit_code;
	int			 report_fd;
	pid_t			 pid;
	struct auth_secret	 secret;	/* secret_file's content */
	int			 secret_ok;	/* ... when it could be read */
};

/* supervisor_control.c */
void	sv_control_request(struct control_conn *, int, char **, void *);
void	sv_reply_json(struct control_conn *, cJSON *);
void	sv_stop_all(struct supervisor *, struct control_conn *);

/* supervisor_reload.c */
cJSON	*sv_reload(struct supervisor *, struct control_conn *);
int	 sv_is_local(struct supervisor *, const struct herd_server *);
void	 sv_set_data_dir(struct supervisor *);
int	 sv_secret_changed(struct supervisor *, const struct herd_config *);

/* supervisor_status.c */
void	sv_add_status(struct supervisor *, cJSON *, int, char **);
int	sv_http_update(struct supervisor *, char *, size_t);
void	sv_sd_status(struct supervisor *);

#endif
