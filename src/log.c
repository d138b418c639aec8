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
 */
#include <sys/queue.h>
#include <sys/socket.h>
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
static int		 log_stderr;
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

static void	log_send(int, const char *, size_t);

/* Set the program name in lines and whether to copy them to stderr. */
void
log_init(const char *ident, int to_stderr)
{
	log_ident = ident;
	log_stderr = to_stderr;
}

/*
 * Use the syslog socket path (NULL = /dev/log); on a change, flush what
 * the old socket takes and reconnect on the next line.
 */
void
log_set_socket(const char *path)
{
	if (path == NULL)
		path = "/dev/log";
	if (strcmp(path, log_path) == 0)
		return;
	snprintf(log_path, sizeof(log_path), "%s", path);
	log_drain();
	if (log_fd != -1)
		close(log_fd);
	log_fd = -1;
	log_retry = 0;
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
		if (log_fd != -1)
			close(log_fd);
		log_fd = -1;
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

/* Format and send one message, queueing it when syslog is busy. */
static void
log_send(int pri, const char *msg, size_t len)
{
	char buf[LOG_LINE_MAX + 128], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (log_connect() == -1) {
		log_drops++;
		return;
	}
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	n = snprintf(buf, sizeof(buf), "<%d>%s %s[%ld]: %.*s",
	    FACILITY | pri, stamp, log_ident, (long)getpid(), (int)len, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (!STAILQ_EMPTY(&log_queue)) {
		log_enqueue(buf, (size_t)n);	/* keep the order */
		return;
	}
	if (send(log_fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			log_enqueue(buf, (size_t)n);
		else {
			/* receiver gone (syslog restarted): reconnect later */
			log_drops++;
			close(log_fd);
			log_fd = -1;
		}
	}
}

/*
 * Format a line with the prefix and send it to syslog at pri (debug only
 * when verbose), copying it to stderr if asked; errno is kept.
 */
void
vlog(int pri, const char *fmt, va_list ap)
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
	log_send(pri, msg, (size_t)n);
	if (log_stderr) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%ld]: %.*s\n", stamp,
		    ts.tv_nsec / 1000000, log_ident, (long)getpid(), n, msg);
	}
	errno = saved;
}

#define LOG_FN(fn, pri)					\
void								\
fn(const char *fmt, ...)					\
{								\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	vlog(pri, fmt, ap);					\
	va_end(ap);						\
}

LOG_FN(log_warnx, LOG_WARNING)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_debug, LOG_DEBUG)

/* Log at pri with ": strerror(errno)" appended. */
static void
vlog_errno(int pri, const char *fmt, va_list ap)
{
	char f[512];
	int saved = errno;

	snprintf(f, sizeof(f), "%s: %s", fmt, strerror(saved));
	vlog(pri, f, ap);
}

/* Log a warning with ": strerror(errno)" appended. */
void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, fmt, ap);
	va_end(ap);
}

/* Log at LOG_CRIT with ": strerror(errno)" appended, send what is queued,
 * and exit 1. */
void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	log_flush(1000);	/* the queue may hold this very line */
	exit(1);
}

/* Log at LOG_CRIT, send what is queued, and exit 1. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	log_flush(1000);	/* the queue may hold this very line */
	exit(1);
}
