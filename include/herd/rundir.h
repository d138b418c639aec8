/*
 * rundir.h -- where the supervisor lives: its run directory and lock, the
 * data directory its servers persist into, and which servers are local.
 *
 * Used by herdctl (to find a running supervisor) and by the supervisor.
 */
#ifndef HERD_RUNDIR_H
#define HERD_RUNDIR_H

#include <sys/types.h>

#include <stddef.h>

#include "herd/config.h"

/* The run directory: [herd] run_dir, else $HERD_RUN_DIR (a relative one
 * against the working directory), else /run/herd for root, else
 * $XDG_RUNTIME_DIR/herd, else /tmp/herd-UID.  Malloc'd. */
char	*rundir_path(const char *configured);

/* Create run_dir (0700, ours) and take its lock; -1 with a message in
 * err (another supervisor: *other_pid set). */
int	 rundir_lock(const char *run_dir, int *lock_fd, long *other_pid,
	    char *err, size_t errsize);

/* Where the servers keep their files, decided from its inputs alone (a
 * pure function): the configured [herd] data_dir, else env
 * ($HERD_DATA_DIR; relative: against cwd), else /var/lib/herd for euid 0,
 * else xdg ($XDG_STATE_HOME, if absolute)/herd, else home/.local/state/herd.
 * Malloc'd, absolute; NULL when none can be made (no usable home). */
char	*rundir_data_dir(const char *configured, const char *env, uid_t euid,
	    const char *xdg, const char *home, const char *cwd);

/* True when the server's address is loopback or on a local interface. */
int	 rundir_is_local(const struct herd_server *);

/* This machine's addresses as "a, b, c" (malloc'd), for a message. */
char	*rundir_local_addrs(void);

#endif
