/*
 * log.c -- syslog datagrams (never blocking) and an optional stderr copy.
 *
 * We speak the syslog(3) wire format ourselves instead of calling
 * syslog(3) because syslog(3) blocks when the receiver is slow and cannot
 * be pointed at another socket (tests bind their own receiver; operators
 * may run a relay).  The format is the one glibc sends to /dev/log:
 * "<PRI>Mmm dd hh:mm:ss ident[pid]: message".
 *
 * The kernel queues only a handful of datagrams per receiver
 * (net.unix.max_dgram_qlen, often 10), so a burst of lines would be lost.
 * Lines that do not fit wait in a bounded queue that the event loop
 * drains when the socket becomes writable; only past that bound (or
 * without an event loop) is a line dropped, and drops are counted.
 *
 * Nothing must fail silently where no syslog listens (containers, minimal
 * machines): a socket that cannot be reached when it is set is said once
 * on stderr, and fatal errors always reach stderr too.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <poll.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "herd/log.h"

#define LOG_LINE_MAX	4096
#define FACILITY	LOG_DAEMON

static const char	*log_ident = "herd";
static char		 log_prefix[80];
static char		 log_path[108] = "/dev/log";
static int		 log_path_set;	/* log_set_socket() was called */
static int		 log_stderr;
static int		 log_stderr_journal;	/* stderr is the journal */
static int		 log_verbose;
static int		 log_fd = -1;
static time_t		 log_retry;	/* next reconnect attempt */
static unsigned long	 log_drops;

#define LOG_QUEUE_MAX	(4 * 1024 * 1024)	/* bytes waiting for syslog */

struct log_msg {
	STAILQ_ENTRY(log_msg)	 entry;
	size_t			 len;
	char			 data[];
};
static STAILQ_HEAD(, log_msg)	 log_queue = STAILQ_HEAD_INITIALIZER(log_queue);
static size_t			 log_queued;
static struct event_base	*log_base;
static struct event		*log_ev;

static int	log_connect(void);
static void	log_enqueue(const char *, size_t);
static void	log_drain(void);
static void	log_writable(evutil_socket_t, short, void *);

static int	log_send(int, const char *, size_t);
static void	vlog_to(int, int, const char *, va_list) LOG_ATTR(3, 0);
static void	log_stderr_line(const char *, int);

/* Set the program name in lines and whether to copy them to stderr. */
void
log_init(const char *ident, int to_stderr)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_ident = ident;
	log_stderr = to_stderr;
	/* Under systemd stderr may be the journal that syslog feeds too. */
	log_stderr_journal = js != NULL && sscanf(js, "%llu:%llu", &dev,
	    &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/*
 * Use the syslog socket path (NULL = /dev/log); on a change, flush what
 * the old socket takes and connect to the new one.  When it cannot be
 * reached, say so once on stderr: lines sent there would be lost.
 */
void
log_set_socket(const char *path)
{
	char msg[300];
	int err;

	if (path == NULL)
		path = "/dev/log";
	if (log_path_set && strcmp(path, log_path) == 0)
		return;
	log_path_set = 1;
	snprintf(log_path, sizeof(log_path), "%s", path);
	log_drain();
	if (log_fd != -1)
		close(log_fd);
	log_fd = -1;
	log_retry = 0;
	if (log_connect() == 0)
		return;
	err = errno;
	snprintf(msg, sizeof(msg), "%s%scannot reach the log socket %s (%s):"
	    " %s", log_prefix, log_prefix[0] != '\0' ? ": " : "", log_path,
	    strerror(err), log_stderr ? "log lines go to stderr only" :
	    "log lines are lost (--stderr copies them to stderr)");
	log_stderr_line(msg, (int)strlen(msg));
}

/* True when the syslog socket is reachable now (for status reports). */
int
log_socket_ok(void)
{
	return log_connect() == 0;
}

/*
 * "one" when n is 1, else "many": "%zu %s", n, log_plural(n, "record",
 * "records") writes "1 record", "0 records", "2 records".
 */
const char *
log_plural(unsigned long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* Set the prefix of every line (NULL = none). */
void
log_set_prefix(const char *prefix)
{
	snprintf(log_prefix, sizeof(log_prefix), "%s", prefix ? prefix : "");
}

/* Turn debug lines on or off. */
void
log_set_verbose(int v)
{
	log_verbose = v;
}

/* True when a line would go somewhere: stderr or a reachable syslog. */
int
log_active(void)
{
	return log_stderr || log_connect() == 0;
}

/* The number of lines dropped so far. */
unsigned long
log_dropped(void)
{
	return log_drops;
}

/*
 * Copy len bytes of p into out with control bytes, DEL and backslash as
 * \xHH, cut to fit size; returns out.
 */
char *
log_quote(char *out, size_t size, const char *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (size == 0)
		return out;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c == 0x7f || c == '\\') {
			if (o + 4 >= size)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			if (o + 1 >= size)
				break;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}

/* Open the syslog socket if needed; -1 when it cannot be reached. */
static int
log_connect(void)
{
	struct sockaddr_un sun;
	time_t now = time(NULL);

	if (log_fd != -1)
		return 0;
	if (now < log_retry)
		return -1;
	log_retry = now + 1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, log_path, strlen(log_path));
	log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (log_fd == -1 || connect(log_fd, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1) {
		int err = errno;

		if (log_fd != -1)
			close(log_fd);
		log_fd = -1;
		errno = err;
		return -1;
	}
	if (log_ev != NULL)
		event_free(log_ev);
	log_ev = NULL;
	if (log_base != NULL)
		log_ev = event_new(log_base, log_fd, EV_WRITE, log_writable,
		    NULL);
	return 0;
}

/* Queue lines syslog cannot take yet and drain them from base (NULL: drop). */
void
log_set_event_base(struct event_base *base)
{
	log_base = base;
	if (log_ev != NULL)
		event_free(log_ev);
	log_ev = NULL;
	if (base != NULL && log_fd != -1)
		log_ev = event_new(base, log_fd, EV_WRITE, log_writable, NULL);
}

/* Keep a line that syslog could not take yet (bounded). */
static void
log_enqueue(const char *buf, size_t len)
{
	struct log_msg *m;

	if (log_ev == NULL || log_queued + len > LOG_QUEUE_MAX ||
	    (m = malloc(sizeof(*m) + len)) == NULL) {
		log_drops++;
		return;
	}
	m->len = len;
	memcpy(m->data, buf, len);
	STAILQ_INSERT_TAIL(&log_queue, m, entry);
	log_queued += len;
	event_add(log_ev, NULL);
}

/* Send queued lines until syslog is full again. */
static void
log_drain(void)
{
	struct log_msg *m;

	while ((m = STAILQ_FIRST(&log_queue)) != NULL) {
		if (log_fd == -1 || send(log_fd, m->data, m->len,
		    MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
			if (log_fd != -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK || errno == ENOBUFS)) {
				if (log_ev != NULL)
					event_add(log_ev, NULL);
				return;
			}
			log_drops++;	/* receiver gone: drop this one */
		}
		STAILQ_REMOVE_HEAD(&log_queue, entry);
		log_queued -= m->len;
		free(m);
	}
}

/* The syslog socket is writable again: send what is queued. */
static void
log_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_drain();
}

/*
 * Send queued lines, waiting up to timeout_ms for each chance to write,
 * then drop (and count) the rest and detach from the event loop.
 */
void
log_flush(int timeout_ms)
{
	struct pollfd pfd;

	while (!STAILQ_EMPTY(&log_queue) && log_fd != -1) {
		pfd.fd = log_fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_ms) <= 0)
			break;
		log_drain();
	}
	while (!STAILQ_EMPTY(&log_queue)) {
		struct log_msg *m = STAILQ_FIRST(&log_queue);

		STAILQ_REMOVE_HEAD(&log_queue, entry);
		log_drops++;
		free(m);
	}
	log_queued = 0;
	if (log_ev != NULL)
		event_free(log_ev);
	log_ev = NULL;
	log_base = NULL;
}

/* Format and send one message, queueing it when syslog is busy; -1 when
 * it is dropped. */
static int
log_send(int pri, const char *msg, size_t len)
{
	char buf[LOG_LINE_MAX + 128], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (log_connect() == -1) {
		log_drops++;
		return -1;
	}
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	n = snprintf(buf, sizeof(buf), "<%d>%s %s[%ld]: %.*s",
	    FACILITY | pri, stamp, log_ident, (long)getpid(), (int)len, msg);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (!STAILQ_EMPTY(&log_queue)) {
		log_enqueue(buf, (size_t)n);	/* keep the order */
		return 0;
	}
	if (send(log_fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			log_enqueue(buf, (size_t)n);
		else {
			/* receiver gone (syslog restarted): reconnect later */
			log_drops++;
			close(log_fd);
			log_fd = -1;
			return -1;
		}
	}
	return 0;
}

/* Write one line of n bytes to stderr, stamped like syslog's. */
static void
log_stderr_line(const char *msg, int n)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s[%ld]: %.*s\n", stamp,
	    ts.tv_nsec / 1000000, log_ident, (long)getpid(), n, msg);
}

/*
 * Format a line with the prefix and send it to syslog at pri (debug only
 * when verbose), copying it to stderr if asked; errno is kept.
 */
void
vlog(int pri, const char *fmt, va_list ap)
{
	vlog_to(pri, log_stderr, fmt, ap);
}

/* vlog(), to stderr as well when to_stderr (1: always; 2: unless syslog
 * took the line and stderr is the journal, which would show it twice). */
static void
vlog_to(int pri, int to_stderr, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	int n, off = 0;
	int saved = errno;

	if (pri == LOG_DEBUG && !log_verbose)
		return;
	if (log_prefix[0] != '\0')
		off = snprintf(msg, sizeof(msg), "%s: ", log_prefix);
	n = vsnprintf(msg + off, sizeof(msg) - (size_t)off, fmt, ap);
	if (n < 0)
		n = 0;
	n += off;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (log_send(pri, msg, (size_t)n) == 0 && to_stderr == 2 &&
	    log_stderr_journal && !log_stderr)
		to_stderr = 0;
	if (to_stderr)
		log_stderr_line(msg, n);
	errno = saved;
}

/* fn(fmt, ...): a line at pri, also on stderr as to_stderr says. */
#define LOG_FN(fn, pri, to_stderr)				\
void								\
fn(const char *fmt, ...)					\
{								\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	vlog_to(pri, to_stderr, fmt, ap);			\
	va_end(ap);						\
}

LOG_FN(log_warnx, LOG_WARNING, log_stderr)
LOG_FN(log_info, LOG_INFO, log_stderr)
LOG_FN(log_debug, LOG_DEBUG, log_stderr)
/*
 * log_failx(): a fatal error (the process stops, or will not start),
 * logged as a warning and written to stderr even without --stderr, so
 * that it is seen where no syslog listens.
 */
LOG_FN(log_failx, LOG_WARNING, 2)

/* Log at pri with ": strerror(errno)" appended (to stderr too when
 * to_stderr). */
static void
vlog_errno(int pri, int to_stderr, const char *fmt, va_list ap)
{
	char f[512];
	int saved = errno;

	snprintf(f, sizeof(f), "%s: %s", fmt, strerror(saved));
	vlog_to(pri, to_stderr, f, ap);
}

/* Log a warning with ": strerror(errno)" appended. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, log_stderr, fmt, ap);
	va_end(ap);
}

/* Log at LOG_CRIT with ": strerror(errno)" appended (on stderr too), send
 * what is queued, and exit 1. */
void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, 2, fmt, ap);
	va_end(ap);
	log_flush(1000);	/* the queue may hold this very line */
	exit(1);
}

/* Log at LOG_CRIT (on stderr too), send what is queued, and exit 1. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_to(LOG_CRIT, 2, fmt, ap);
	va_end(ap);
	log_flush(1000);	/* the queue may hold this very line */
	exit(1);
}
