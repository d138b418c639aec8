/*
 * persist_int.h -- private to the persistence engine (persist.c,
 * persist_writer.c, persist_compact.c, persist_dir.c): struct persist
 * and the helpers its files share.
 *
 * Threads: the loop owns everything but the fields marked (mu), which
 * the writer thread shares; the thread never logs and never touches
 * libevent, it wakes the loop through an eventfd.  Files are named by
 * generation so that a kill -9 at any step leaves a loadable directory:
 * the newest complete snapshot plus every log at or after it.
 */
#ifndef HERD_PERSIST_INT_H
#define HERD_PERSIST_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

#include "herd/config.h"
#include "herd/journal.h"
#include "herd/persist.h"

#define NAME_MAX_LEN	64

struct event;
struct event_base;

/* A file of the directory, by kind and generation. */
struct pfile {
	enum journal_kind	 kind;
	uint64_t		 gen;
};

struct persist {
	struct event_base	*base;
	char			*dir;
	int			 dirfd;
	int			 lockfd;
	enum herd_fsync		 policy;
	struct persist_ops	 ops;
	void			*arg;
	struct event		*notify_ev;	/* eventfd from the thread */
	struct event		*retry_ev;	/* failed write retry */
	struct event		*compact_ev;	/* next snapshot chunk */

	int			 loaded;
	int			 closing;	/* in persist_free() */
	int			 logfd;		/* live log */
	uint64_t		 log_gen;
	uint64_t		 log_size;	/* bytes of the live log */
	uint64_t		 old_log_bytes;	/* older logs since snapshot */
	uint64_t		 snapshot_bytes;
	uint64_t		 max_gen;	/* highest generation seen */

	unsigned char		*stage;
	size_t			 stage_len, stage_cap;
	size_t			 stage_off;	/* already written */
	uint64_t		 appended_seq, written_seq, durable_seq;
	int			 write_failing, sync_failing, last_err;
	enum persist_state	 state;
	uint64_t		 write_errors, compactions;
	int64_t			 pending_since_ms;

	uint64_t		 compact_min;
	int			 force_compact;
	int64_t			 compact_after_ms;
	int			 compacting;
	int			 stop_step, frozen;
	int			 tmpfd;
	uint64_t		 new_gen;
	size_t			 cursor;
	uint64_t		 tmp_size;
	uint64_t		 rotated_bytes;	/* old_log_bytes at rotation */
	unsigned char		*chunk;

	pthread_t		 thread;
	int			 thread_started;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	int			 efd;
	int			 t_fd;		/* (mu) log to sync */
	int			 t_oldfd;	/* (mu) retired log: sync, close */
	uint64_t		 t_want;	/* (mu) written seq */
	uint64_t		 t_synced;	/* (mu) synced seq */
	uint64_t		 t_urge;	/* (mu) a reply waits for it */
	uint64_t		 urge_seq;	/* (loop) the same, this turn */
	uint64_t		 urge_sent;	/* (loop) urge_seq as handed over */
	int64_t			 t_sync_start_ms; /* (mu) last sync began */
	int64_t			 t_last_sync_ms;  /* (mu) */
	int			 t_err;		/* (mu) last sync errno, 0 ok */
	uint64_t		 t_syncs;	/* (mu) */
	struct metrics_hist	 t_sync_hist;	/* (mu) their durations */
	int			 t_quit;	/* (mu) */
	int			 t_install;	/* (mu) job: install tmpfd */
	int			 t_install_fd;	/* (mu) */
	int			 t_install_done; /* (mu) 1 done, -1 failed */
	int			 t_install_err;	/* (mu) */
	void			(*t_hook)(void *, uint64_t);
	void			*t_hook_arg;
};

/* persist.c */
int64_t	now_ms(void);
void	set_state(struct persist *);
int	create_log(struct persist *, uint64_t, int);
void	retry_cb(evutil_socket_t, short, void *);

/* persist_writer.c */
int	start_thread(struct persist *, char *, size_t);

/* persist_compact.c */
void	maybe_compact(struct persist *);
void	compact_abort(struct persist *, const char *);
void	compact_cb(evutil_socket_t, short, void *);

/* persist_dir.c */
int	check_dir(const char *, char *, size_t);
int	lock_dir(struct persist *, char *, size_t);
void	file_name(char *, size_t, enum journal_kind, uint64_t,
	    const char *);
int	scan_dir(struct persist *, struct pfile **, size_t *, char *,
	    size_t);
void	move_aside(struct persist *, const char *);
void	remove_old(int, uint64_t);

#endif /* HERD_PERSIST_INT_H */
