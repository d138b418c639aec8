/*
 * job.h -- control requests waiting on workers.
 *
 * A job is a request that is answered once workers have reached a state:
 * all ready (start, reload, the initial start), gone (stop NAME, stop),
 * or restarted one at a time.  Every event that may change a worker calls
 * jobs_poll(); a job that is complete is handed to the owner's finished()
 * callback (which answers it), then freed.  Jobs read and drive the
 * worker table (worker.h); they know nothing of their owner.
 *
 * Ownership: struct jobs is the caller's (jobs_init/jobs_free); job_new()
 * allocates a job into it, freed after finished() returns.
 */
#ifndef HERD_JOB_H
#define HERD_JOB_H

#include <sys/queue.h>

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "herd/config.h"
#include "herd/worker.h"

struct control_conn;

enum job_kind {
	JOB_INITIAL,	/* supervisor start: all ready, or give up */
	JOB_READY,	/* start NAME / reload: these ready */
	JOB_GONE,	/* stop NAME: these exited */
	JOB_RESTART,	/* restart: one at a time */
	JOB_STOP_ALL,	/* stop: everything, then exit */
};

struct job_item {
	char		 name[HERD_NAME_MAX + 1];
	unsigned	 gen;		/* incarnation before the job */
	int		 done;
	int		 started;	/* restart: step begun */
	int		 reload;	/* reload: wait for RELOADED */
	unsigned	 reloads;	/* ... beyond this count */
	int		 gone;		/* reload: wait for it to exit */
	int		 rolling;	/* reload: restart it once the
					   rolling items before it are ready */
};

struct job {
	TAILQ_ENTRY(job)	 entry;
	enum job_kind		 kind;
	struct control_conn	*conn;		/* who asked, or NULL */
	struct job_item		*items;
	size_t			 nitems;
	cJSON			*reply;		/* built up, sent when done */
	int			 failed;
	struct timespec		 deadline;
	int			 sd_ready;	/* send READY=1 when done */
};

/* How jobs report to their owner: j is complete ("ok" set in its reply)
 * and already out of the list; it is freed when this returns. */
struct job_ops {
	void	(*finished)(struct job *j, void *arg);
};

struct jobs {
	TAILQ_HEAD(job_list, job)	 list;
	struct workers		*workers;
	const struct job_ops	*ops;
	void			*arg;
	int			 polling;	/* in jobs_poll */
	int			 repoll;	/* ... and asked again */
};

/* Set up an empty list of jobs over the worker table wt. */
void		 jobs_init(struct jobs *, struct workers *wt,
		    const struct job_ops *, void *arg);
/* Free every pending job unanswered (at exit). */
void		 jobs_free(struct jobs *);
/* True when no job is pending. */
int		 jobs_empty(const struct jobs *);
/* Advance every job; finish those that are complete. */
void		 jobs_poll(struct jobs *);

/* Queue a job of kind for c (NULL: none), due within a deadline. */
struct job	*job_new(struct jobs *, enum job_kind, struct control_conn *c);
/* Append w to j's items with its current incarnation. */
void		 job_add(struct job *, struct worker *w);

#endif
