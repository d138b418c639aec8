/*
 * worker.h -- the table of workers: one herd-node process per local server.
 *
 * A worker is data (name, pid, state, restarts, backoff, what it last
 * reported); this module forks and execs them, reads their status pipes,
 * reaps them and restarts crashed ones with backoff.  It decides nothing
 * else: it tells its owner through struct worker_ops when something
 * changed, and the owner (the supervisor) moves its jobs on.
 *
 * Each worker gets a pipe as HERD_READY_FD: it writes READY once
 * listening, PEERS <up> <configured> whenever a link changes, RECORDS n,
 * PERSIST <ok|failing|off> <always|everysec|no> <lag_ms> when its
 * persistence changes, RELOADED ok|error why (its answer to SIGHUP), or
 * FAIL <reason> before exiting on a start-up error.  PR_SET_PDEATHSIG makes a worker exit if
 * the supervisor dies.
 *
 * Ownership: struct workers is the caller's (workers_init/workers_free);
 * worker_new() allocates a worker into the table, worker_free() (or
 * worker_exited for a removed one, or workers_free) frees it.
 */
#ifndef HERD_WORKER_H
#define HERD_WORKER_H

#include <sys/queue.h>
#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "herd/config.h"

#define WORKER_BACKOFF_MIN_MS	100
#define WORKER_STOP_TIMEOUT_S	5	/* SIGTERM, then SIGKILL */

enum worker_state {
	W_STOPPED,
	W_STARTING,	/* forked, not yet listening */
	W_RUNNING,
	W_BACKOFF,	/* crashed; restart timer armed */
	W_FATAL,	/* configuration error; not restarted */
	W_STOPPING,	/* SIGTERM sent */
};

/* A worker's persistence as its last PERSIST line said. */
struct worker_persist {
	char		 state[8];	/* ok, failing, off */
	char		 fsync[9];	/* always, everysec, no; "-": unknown */
	unsigned long	 lag_ms;	/* how far the disk is behind */
};

struct workers;
struct event;

/* One neighbour link as the worker reported it ("LINK name 0|1"). */
struct worker_link {
	char			 name[HERD_NAME_MAX + 1];
	int			 up;
};

struct worker {
	TAILQ_ENTRY(worker)	 entry;
	struct workers		*table;
	char			 name[HERD_NAME_MAX + 1];
	unsigned		 port;
	size_t			 peers;		/* configured links */
	size_t			 peers_up;
	struct worker_link	*links;		/* as its LINK lines said */
	size_t			 nlinks, links_cap;
	unsigned long		 records;	/* as last reported */
	unsigned long		 clients;	/* ... */
	unsigned long long	 requests;	/* client lines since start */
	struct worker_persist	 persist;	/* as last reported */
	int			 said_ready;	/* READY: 1 read, 2 acted on */
	enum worker_state	 state;
	pid_t			 pid;
	unsigned		 gen;		/* incarnations spawned */
	unsigned		 ready_gen;	/* last incarnation that was ready */
	unsigned		 failed_gen;	/* last that died before ready */
	int			 status_fd;
	struct event		*status_ev;
	char			 sbuf[512];
	size_t			 slen;
	struct event		*timer;		/* backoff or kill timeout */
	struct timespec		 started;	/* monotonic */
	unsigned		 restarts;	/* automatic restarts */
	unsigned		 backoff_ms;
	int			 have_exit;
	int			 last_status;	/* waitpid status */
	int			 held;		/* stopped on purpose */
	int			 removing;	/* gone from the config */
	int			 restart_pending;
	unsigned		 reloads;	/* RELOADED lines received */
	int			 reload_failed;	/* the last one was an error */
	char			 fail[256];	/* FAIL reason / exec error */
	char			 reload_err[256]; /* the last reload's error */
};

/* How the table reports to its owner. */
struct worker_ops {
	void	(*ready)(struct worker *, void *arg);	/* said READY */
	void	(*changed)(void *arg);	/* a state may have changed */
};

struct workers {
	TAILQ_HEAD(worker_list, worker)	 list;
	struct event_base	*base;
	const char		*config_path;	/* handed to every worker */
	const char		*data_dir;	/* --data-dir base, or NULL */
	int			 foreground;	/* workers get --stderr */
	int			 stopping;	/* set by the owner: exits are final */
	pid_t			 parent;	/* the supervisor's pid */
	char			 node_bin[PATH_MAX];
	const struct worker_ops	*ops;
	void			*arg;
};

/* Set up an empty table; finds the herd-node binary ($HERD_NODE_BIN, next
 * to our own binary, else PATH). */
void		 workers_init(struct workers *, struct event_base *,
		    const struct worker_ops *, void *arg);
/* Free every worker (at exit; processes are not signalled). */
void		 workers_free(struct workers *);
/* Reap exited children (SIGCHLD) and apply each exit. */
void		 workers_reap(struct workers *);

/* The worker named name, or NULL. */
struct worker	*worker_find(struct workers *, const char *name);
/* Add a stopped worker for server s to the table. */
struct worker	*worker_new(struct workers *, const struct herd_server *s);
/* Unlink w from its table and free it. */
void		 worker_free(struct worker *);
/* Copy s's port and link count into w. */
void		 worker_set_config(struct worker *, const struct herd_server *s);
/* Fork and exec herd-node for w (then STARTING, or in backoff). */
void		 worker_spawn(struct worker *);
/* Ask w to stop (SIGTERM, SIGKILL after WORKER_STOP_TIMEOUT_S); hold:
 * keep it stopped afterwards. */
void		 worker_stop(struct worker *, int hold);
/* w as a JSON object for status replies. */
cJSON		*worker_json(const struct worker *);
/* A waitpid status as text ("exit N", "signal N (NAME)"), in buf. */
char		*worker_exit_string(int status, char *buf, size_t size);
/* Parse "PERSIST <ok|failing|off> <always|everysec|no> <lag_ms>" into p
 * (pure); -1, p untouched, when line is not exactly such a line. */
int		 worker_parse_persist(const char *line, struct worker_persist *p);

/* The link from w to name as w last reported it: 1 up, 0 down, -1 not
 * reported (an older node, or not yet). */
int	worker_link_up(const struct worker *, const char *name);

#endif
