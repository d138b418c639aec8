/*
 * reload.h -- what a configuration change means for each server.
 *
 * Pure: compares two loaded configurations and lists one action per
 * server name found in either.  The supervisor carries the actions out.
 * The plan owns its items; free it with reload_plan_free().
 */
#ifndef HERD_RELOAD_H
#define HERD_RELOAD_H

#include <stddef.h>

#include "herd/config.h"

enum reload_action {
	RELOAD_KEEP,		/* untouched: same PID, same connections */
	RELOAD_START,		/* new server section */
	RELOAD_STOP,		/* section removed */
	RELOAD_RESTART,		/* port, host or bind changed */
	RELOAD_SIGNAL,		/* neighbours, [places]/[herd] or the secret
				   changed: SIGHUP, answered RELOADED */
};

struct reload_item {
	char			 name[HERD_NAME_MAX + 1];
	enum reload_action	 action;
	const char		*why;		/* static text for logs */
};

struct reload_plan {
	struct reload_item	*items;
	size_t			 count;
};

/* Build the plan from old to new; secret_changed: the secret_file's
 * content differs (the caller reads it); -1 on out of memory. */
int		 reload_plan(const struct herd_config *old,
		    const struct herd_config *new, int secret_changed,
		    struct reload_plan *plan);
void		 reload_plan_free(struct reload_plan *);
const char	*reload_action_name(enum reload_action);

#endif
