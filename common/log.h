/*
 * log.h - one logging convention for every process, after the OpenBSD
 * daemons: log_warn() appends strerror(errno), log_warnx() does not;
 * fatal()/fatalx() log and exit(1).  Lines go to stderr with a timestamp,
 * the program name and a level, so a demo or a test can read them.
 */
#ifndef SCHED_LOG_H
#define SCHED_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Set the name printed on every line and the most verbose level shown. */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
/* Parse "error", "warn", "info" or "debug"; 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Something an operator must act on, the process goes on (fatalx exits). */
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
