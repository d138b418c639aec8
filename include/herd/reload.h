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
	RELOAD_RESTART,		/* port, host or bind changed; fsync
				   changed (rolling: one at a time) */
	RELOAD_SIGNAL,		/* neighbours, [places]/[herd] or the secret
				   changed: SIGHUP, answered RELOADED */
};

struct reload_item {
	char			 name[HERD_NAME_MAX + 1];
	enum reload_action	 action;
	const char		*why;		/* static text for logs */
	int			 rolling;	/* restart after the previous
						   rolling one is ready */
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
/* The base directory cfg's servers keep their records in: [herd]
 * data_dir, else fallback (herdctl's default); NULL when persist = no. */
const char	*reload_data_dir(const struct herd_config *cfg,
		    const char *fallback);
/* Whether reload can go from old to new: 0, or -1 with err saying why
 * not (where the records are kept changed: a restart must move them). */
int		 reload_check_data_dir(const char *old, const char *new,
		    char *err, size_t errlen);
const char	*reload_action_name(enum reload_action);

#endif
