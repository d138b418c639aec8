/*
 * supervisor.h -- herdctl's supervisor: one herd-node per local server.
 *
 * The supervisor owns a table of workers (worker.h) and the control
 * requests waiting on them (job.h); it notices exits through SIGCHLD on
 * its event loop, applies reloads as a diff (reload.h), answers herdctl
 * over the control socket (control.h), and talks to systemd (sdnotify.h).
 * Where it lives (run directory, lock) is rundir.h.
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
	const char	 *data_dir;	/* when [herd] sets none (rundir.h) */
};

/* Run the supervisor until it is stopped; takes cfg; returns the exit
 * code (0 after a clean stop, 1 when the initial start failed). */
int	 supervisor_run(const struct sv_options *, struct herd_config *cfg);

#endif
