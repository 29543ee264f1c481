/*
 * control.h - the schedctl command table served by the scheduler
 * (control.c handles transport and caching, control_cmds.c the commands).
 */
#ifndef SCHED_CONTROL_H
#define SCHED_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
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

/*
 * The reply of a command that changes something: one line for people, or
 * {"ok": ..., "message": ..., EXTRA} with --json (extra: more members,
 * starting with a comma, or "").  Returns code.
 */
int ctl_result(struct strbuf *out, bool json, int code, const char *extra, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Commands of control_fence.c: members, fence, drain, undrain. */
int ctl_cmd_members(struct sched *s, const struct ctl_args *a, struct strbuf *out);
int ctl_cmd_fence(struct sched *s, const struct ctl_args *a, struct strbuf *out);
int ctl_cmd_drain(struct sched *s, const struct ctl_args *a, struct strbuf *out);
int ctl_cmd_undrain(struct sched *s, const struct ctl_args *a, struct strbuf *out);

/* control_trigger.c: trigger TASK. */
int ctl_cmd_trigger(struct sched *s, const struct ctl_args *a, struct strbuf *out);
/* control_batch.c: run/pause/resume/cancel of several items or a label
 * selector, in one store transaction.  ctl_batch_wanted: the arguments
 * are not the one plain item of the single-item handler. */
bool ctl_batch_wanted(const struct ctl_args *a, enum store_batch_op op);
int ctl_batch(struct sched *s, const struct ctl_args *a, struct strbuf *out,
	      enum store_batch_op op);
/* control_ckpt.c: checkpoint TASK [--clear | --raw]. */
int ctl_cmd_checkpoint(struct sched *s, const struct ctl_args *a, struct strbuf *out);

/* RFC 3339 UTC of a millisecond time, "-" (or JSON null) for 0. */
void ctl_time(int64_t ms, char *buf, size_t len);
void ctl_json_time(struct strbuf *b, int64_t ms);

#endif
