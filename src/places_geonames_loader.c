/*
 * places_geonames_loader.c -- loading GeoNames data on a worker thread,
 * so that a reload never blocks the loop (see places_geonames.h): one
 * load at a time, the latest wins, the result and the thread's log
 * lines handed back to the loop through an eventfd.  The loading itself
 * is places_geonames_load() (places_geonames.c), which logs and checks
 * for cancellation through gn_log() and gn_canceled() from here.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "herd/log.h"
#include "places_geonames.h"
#include "places_geonames_int.h"

/* The log lines of a load on the worker thread, replayed by the loop
 * (the log is the loop's); past JOB_LOG_LINES they are counted. */
#define JOB_LOG_LINES	48
#define JOB_LOG_LEN	1024
/* How long freeing a loader waits for a load stuck in a read (a FIFO,
 * a dead NFS server) before leaving the thread to free it. */
#define JOIN_WAIT_MS	1000

enum { LOAD_RUNNING, LOAD_DONE, LOAD_ORPHANED };

struct gn_job_log {
	int		 info[JOB_LOG_LINES];	/* log_info, else log_warnx */
	char		 line[JOB_LOG_LINES][JOB_LOG_LEN];
	int		 n;
	unsigned long	 lost;
};

/* See places_geonames.h.  The thread reads file, classes and cancel and
 * writes result and log; the loop reads them after the join. */
struct places_geonames_loader {
	struct event_base	*base;
	int			 efd;
	struct event		*ev;
	places_geonames_done_cb	 done;
	void			*arg;
	pthread_t		 thread;
	int			 running;
	atomic_int		 cancel;
	atomic_int		 state;		/* LOAD_* */
	char			*file;		/* NULL: the built-in set */
	uint32_t		 classes;
	struct places_geonames	*result;
	struct gn_job_log	*log;
	int			 pending;	/* a later load, after this one */
	char			*next_file;
	uint32_t		 next_classes;
};

/* Set on the worker thread: its log buffer and cancel flag. */
static _Thread_local struct places_geonames_loader *gn_self;

static void	*loader_main(void *);
static void	loader_ready(evutil_socket_t, short, void *);
static int	loader_launch(struct places_geonames_loader *, const char *,
		    uint32_t);
static void	loader_drop(struct places_geonames_loader *);

/*
 * Log as log_info (info) or log_warnx/log_warn (err: with errno's
 * text); on a loader's thread the line is kept for the loop instead.
 */
void
gn_log(int info, int err, const char *fmt, ...)
{
	struct gn_job_log *l;
	char buf[JOB_LOG_LEN];
	va_list ap;
	int saved = errno, n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (err && n >= 0 && (size_t)n < sizeof(buf))
		snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s",
		    strerror(saved));
	if (gn_self == NULL) {
		if (info)
			log_info("%s", buf);
		else
			log_warnx("%s", buf);
	} else if ((l = gn_self->log) != NULL) {
		if (l->n < JOB_LOG_LINES) {
			l->info[l->n] = info;
			memcpy(l->line[l->n++], buf, sizeof(buf));
		} else
			l->lost++;
	}
	errno = saved;
}

/* Whether the load running on this thread was abandoned. */
int
gn_canceled(void)
{
	return gn_self != NULL && atomic_load(&gn_self->cancel);
}

/* See places_geonames.h. */
struct places_geonames_loader *
places_geonames_loader_new(struct event_base *base,
    places_geonames_done_cb done, void *arg)
{
	struct places_geonames_loader *ld;

	if ((ld = calloc(1, sizeof(*ld))) == NULL) {
		log_warnx("places: geonames: out of memory");
		return NULL;
	}
	ld->base = base;
	ld->done = done;
	ld->arg = arg;
	atomic_init(&ld->cancel, 0);
	if ((ld->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (ld->ev = event_new(base, ld->efd, EV_READ | EV_PERSIST,
	    loader_ready, ld)) == NULL || event_add(ld->ev, NULL) == -1) {
		log_warn("places: geonames: eventfd");
		if (ld->ev != NULL)
			event_free(ld->ev);
		if (ld->efd != -1)
			close(ld->efd);
		free(ld);
		return NULL;
	}
	return ld;
}

/* Start the thread loading file; -1 (logged) when it cannot. */
static int
loader_launch(struct places_geonames_loader *ld, const char *file,
    uint32_t classes)
{
	sigset_t all, old;
	int e;

	ld->file = NULL;
	if ((file != NULL && (ld->file = strdup(file)) == NULL) ||
	    (ld->log = calloc(1, sizeof(*ld->log))) == NULL) {
		free(ld->file);
		ld->file = NULL;
		log_warnx("places: geonames: out of memory");
		return -1;
	}
	ld->classes = classes;
	ld->result = NULL;
	atomic_store(&ld->cancel, 0);
	atomic_store(&ld->state, LOAD_RUNNING);
	/* Signals are the loop's: the thread takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&ld->thread, NULL, loader_main, ld);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		errno = e;
		log_warn("places: geonames: pthread_create");
		free(ld->file);
		ld->file = NULL;
		free(ld->log);
		ld->log = NULL;
		return -1;
	}
	ld->running = 1;
	return 0;
}

/* The worker thread: load, then wake the loop. */
static void *
loader_main(void *arg)
{
	struct places_geonames_loader *ld = arg;
	uint64_t one = 1;

	gn_self = ld;
	ld->result = places_geonames_load(ld->file, ld->classes);
	gn_self = NULL;
	if (atomic_exchange(&ld->state, LOAD_DONE) == LOAD_ORPHANED) {
		loader_drop(ld);	/* the loop has gone: ours to free */
		return NULL;
	}
	while (write(ld->efd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
	return NULL;
}

/* The loop: a load finished; replay its log, hand its result over
 * (unless abandoned) and start the one queued behind it. */
static void
loader_ready(evutil_socket_t fd, short what, void *arg)
{
	struct places_geonames_loader *ld = arg;
	struct places_geonames *g;
	uint64_t v;
	int i;

	(void)what;
	if (read(fd, &v, sizeof(v)) == -1 || !ld->running)
		return;
	pthread_join(ld->thread, NULL);		/* it has finished */
	ld->running = 0;
	g = ld->result;
	ld->result = NULL;
	for (i = 0; i < ld->log->n; i++) {
		if (ld->log->info[i])
			log_info("%s", ld->log->line[i]);
		else
			log_warnx("%s", ld->log->line[i]);
	}
	if (ld->log->lost > 0)
		log_warnx("places: geonames: %lu more log lines of the load"
		    " dropped", ld->log->lost);
	free(ld->log);
	ld->log = NULL;
	if (atomic_load(&ld->cancel)) {
		log_info("places: geonames: the load of %s abandoned: a"
		    " later reload wins", ld->file ? ld->file :
		    "the built-in set");
		places_geonames_free(g);
	} else
		ld->done(ld->arg, g, ld->file, ld->classes);
	free(ld->file);
	ld->file = NULL;
	if (ld->pending) {
		ld->pending = 0;
		if (loader_launch(ld, ld->next_file, ld->next_classes) == -1)
			ld->done(ld->arg, NULL, ld->next_file,
			    ld->next_classes);
		free(ld->next_file);
		ld->next_file = NULL;
	}
}

/* See places_geonames.h. */
int
places_geonames_loader_start(struct places_geonames_loader *ld,
    const char *file, uint32_t classes)
{
	char *copy = NULL;

	if (!ld->running)
		return loader_launch(ld, file, classes);
	if (file != NULL && (copy = strdup(file)) == NULL) {
		log_warnx("places: geonames: out of memory");
		return -1;
	}
	free(ld->next_file);
	ld->pending = 0;
	ld->next_file = NULL;
	if (!atomic_load(&ld->cancel) && ld->classes == classes &&
	    (ld->file == NULL) == (file == NULL) &&
	    (file == NULL || strcmp(ld->file, file) == 0)) {
		free(copy);	/* that very load runs: let it finish */
		return 0;
	}
	atomic_store(&ld->cancel, 1);
	ld->pending = 1;
	ld->next_file = copy;
	ld->next_classes = classes;
	return 0;
}

/* See places_geonames.h. */
void
places_geonames_loader_cancel(struct places_geonames_loader *ld)
{
	if (ld->running)
		atomic_store(&ld->cancel, 1);
	ld->pending = 0;
	free(ld->next_file);
	ld->next_file = NULL;
}

/* See places_geonames.h. */
int
places_geonames_loader_busy(const struct places_geonames_loader *ld)
{
	return ld->running || ld->pending;
}

/* See places_geonames.h. */
void
places_geonames_loader_free(struct places_geonames_loader *ld)
{
	struct timespec ts;

	if (ld == NULL)
		return;
	places_geonames_loader_cancel(ld);
	event_free(ld->ev);
	if (ld->running) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += JOIN_WAIT_MS / 1000;
		ts.tv_nsec += (JOIN_WAIT_MS % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(ld->thread, NULL, &ts) != 0) {
			if (atomic_exchange(&ld->state, LOAD_ORPHANED) ==
			    LOAD_RUNNING) {
				log_warnx("places: geonames: the load of %s"
				    " is stuck; leaving it behind", ld->file ?
				    ld->file : "the built-in set");
				pthread_detach(ld->thread);
				return;		/* the thread frees ld */
			}
			/* It finished just now: it is returning. */
			pthread_join(ld->thread, NULL);
		}
	}
	loader_drop(ld);
}

/* Free ld and what its last load left (the thread has finished). */
static void
loader_drop(struct places_geonames_loader *ld)
{
	places_geonames_free(ld->result);
	free(ld->file);
	free(ld->log);
	free(ld->next_file);
	close(ld->efd);
	free(ld);
}
