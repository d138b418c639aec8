/*
 * log.h -- one logging vocabulary for every herd process.
 *
 * Lines go to syslog as datagrams on a Unix socket (default /dev/log,
 * journald under systemd), sent without ever blocking: lines a busy
 * syslog cannot take yet wait in a bounded queue drained by the event
 * loop; an absent syslog, or a full queue, drops the line and counts it.
 * With log_init(..., 1) each line is also copied to stderr.  Every line
 * carries the object it is about (the server name) as prefix.
 * log_warn() appends strerror(errno), log_warnx() does not;
 * fatal()/fatalx() log at LOG_CRIT and exit.  Fatal errors (fatal(),
 * fatalx(), log_failx()) always reach stderr too, and a log socket that
 * cannot be reached when it is set is said once on stderr.
 */
#ifndef HERD_LOG_H
#define HERD_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_ATTR(a, b)	__attribute__((format(printf, a, b)))

/* ident: program name; to_stderr: copy lines to stderr too. */
void	log_init(const char *ident, int to_stderr);
/* The syslog socket path (NULL = /dev/log); unreachable: said on stderr
 * (once per path). */
void	log_set_socket(const char *path);
/* Is the syslog socket reachable now? */
int	log_socket_ok(void);
/* Prefix of every line, e.g. the server name. */
void	log_set_prefix(const char *prefix);
/* Log debug lines too. */
void	log_set_verbose(int);
struct event_base;
/* Queue lines syslog cannot take yet and send them from this loop. */
void	log_set_event_base(struct event_base *);
/* Before exit: wait up to timeout_ms for queued lines to go out. */
void	log_flush(int timeout_ms);
/* Would a line go anywhere (stderr, or a reachable syslog)?  Lets hot
 * paths skip formatting lines that would only be dropped. */
int	log_active(void);
/* Lines dropped because syslog was absent or full. */
unsigned long	log_dropped(void);

void	log_warn(const char *, ...) LOG_ATTR(1, 2);
void	log_warnx(const char *, ...) LOG_ATTR(1, 2);
void	log_info(const char *, ...) LOG_ATTR(1, 2);
void	log_debug(const char *, ...) LOG_ATTR(1, 2);
/* A fatal start-up error: logged, and on stderr even without --stderr. */
void	log_failx(const char *, ...) LOG_ATTR(1, 2);
void	vlog(int pri, const char *, va_list) LOG_ATTR(2, 0);
void	fatal(const char *, ...) LOG_ATTR(1, 2) __attribute__((noreturn));
void	fatalx(const char *, ...) LOG_ATTR(1, 2) __attribute__((noreturn));

/* Quote untrusted bytes for a log line: control bytes become \xHH and
 * the result is cut to fit; returns out. */
char	*log_quote(char *out, size_t size, const char *p, size_t len);

/* one when n is 1, else many: "%zu %s", n, log_plural(n, "entry",
 * "entries"). */
const char	*log_plural(unsigned long long n, const char *one,
		    const char *many);

#endif
