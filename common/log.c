/*
 * log.c - stderr logging with levels (see log.h).
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "sched";
static enum log_level log_max = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_max = level;
}

void log_set_level(enum log_level level) { log_max = level; }

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void log_vwrite(enum log_level lvl, int errnum, const char *fmt, va_list ap)
{
	if (lvl > log_max)
		return;
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (errnum)
		fprintf(stderr, "%s.%03ldZ %s[%d] %s: %s: %s\n", when, ts.tv_nsec / 1000000L,
			log_prog, (int)getpid(), level_names[lvl], msg, strerror(errnum));
	else
		fprintf(stderr, "%s.%03ldZ %s[%d] %s: %s\n", when, ts.tv_nsec / 1000000L,
			log_prog, (int)getpid(), level_names[lvl], msg);
}

#define LOG_BODY(lvl, errnum)                                                  \
	do {                                                                   \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vwrite(lvl, errnum, fmt, ap);                              \
		va_end(ap);                                                    \
	} while (0)

void log_warn(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_LVL_WARN, e);
}
void log_errorx(const char *fmt, ...) { LOG_BODY(LOG_LVL_ERROR, 0); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_LVL_WARN, 0); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_LVL_INFO, 0); }
void log_debug(const char *fmt, ...) { LOG_BODY(LOG_LVL_DEBUG, 0); }

void fatal(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_LVL_ERROR, e);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERROR, 0);
	exit(1);
}
