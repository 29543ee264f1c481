/*
 * control.h - the schedctl command table served by the scheduler
 * (control.c handles transport and caching, control_cmds.c the commands).
 */
#ifndef SCHED_CONTROL_H
#define SCHED_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

struct sched;

struct ctl_args {
	int argc;                  /* arguments after the command name */
	const char *const *argv;
	bool json;
};

/* Returns the exit code for schedctl: 0 ok, 1 failure, 2 usage. */
typedef int (*ctl_fn)(struct sched *s, const struct ctl_args *a, struct strbuf *out);

struct ctl_command {
	const char *name;
	ctl_fn fn;
	const char *usage;
};

extern const struct ctl_command ctl_commands[];

/* RFC 3339 UTC of a millisecond time, "-" (or JSON null) for 0. */
void ctl_time(int64_t ms, char *buf, size_t len);
void ctl_json_time(struct strbuf *b, int64_t ms);

#endif
