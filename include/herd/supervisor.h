/*
 * supervisor.h -- herdctl's supervisor: one herd-node per local server.
 *
 * The supervisor owns a table of workers (name, pid, state, restarts,
 * backoff), forks and execs them, notices their exits through SIGCHLD on
 * its event loop, restarts crashed ones with backoff, applies reloads as
 * a diff (reload.h), answers herdctl over the control socket, and talks
 * to systemd (sdnotify.h).
 */
#ifndef HERD_SUPERVISOR_H
#define HERD_SUPERVISOR_H

#include <stddef.h>

#include "herd/config.h"

struct sv_options {
	const char	 *config_path;	/* absolute */
	int		  foreground;	/* log to stderr too; workers --stderr */
	char		**only;		/* --only NAME,...; NULL = by address */
	size_t		  nonly;
	int		  report_fd;	/* background start: result pipe, or -1 */
	int		  lock_fd;	/* run-directory lock, held */
	const char	 *run_dir;
};

/* Run the supervisor until it is stopped; takes cfg; returns the exit
 * code (0 after a clean stop, 1 when the initial start failed). */
int	 supervisor_run(const struct sv_options *, struct herd_config *cfg);

/* The run directory: [herd] run_dir, else /run/herd for root, else
 * $XDG_RUNTIME_DIR/herd, else /tmp/herd-UID.  Malloc'd. */
char	*supervisor_run_dir(const char *configured);

/* Create run_dir (0700, ours) and take its lock; -1 with a message in
 * err (another supervisor: *other_pid set). */
int	 supervisor_lock(const char *run_dir, int *lock_fd, long *other_pid,
	    char *err, size_t errsize);

/* True when the server should run on this machine. */
int	 supervisor_is_local(const struct herd_server *);

#endif
