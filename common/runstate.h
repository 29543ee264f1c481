/*
 * runstate.h - run states and run reasons, shared by the scheduler, the
 * worker, the store and the wire codec.  The numeric values travel on
 * the wire and are stored as text in SQLite; never renumber, only add.
 *
 *   pending -> dispatched -> running -> succeeded | failed | timed_out | cancelled
 *   dispatched | running -> fencing -> lost
 *   pending -> skipped | cancelled
 */
#ifndef SCHED_RUNSTATE_H
#define SCHED_RUNSTATE_H

#include <stdbool.h>

enum run_state {
	RUN_PENDING = 1,
	RUN_DISPATCHED = 2,
	RUN_RUNNING = 3,
	RUN_SUCCEEDED = 4,
	RUN_FAILED = 5,
	RUN_TIMED_OUT = 6,
	RUN_CANCELLED = 7,
	RUN_SKIPPED = 8,
	RUN_FENCING = 9,
	RUN_LOST = 10,
};

enum run_reason {
	REASON_SCHEDULE = 1,
	REASON_MANUAL = 2,
	REASON_RETRY = 3,
	REASON_CATCH_UP = 4,
	REASON_TRIGGER = 5,      /* schedctl trigger (or a debounce window closing) */
};

/* Stable lower-case names ("pending", "timed_out", ...); "?" if unknown. */
const char *run_state_name(enum run_state s);
const char *run_reason_name(enum run_reason r);
/* 0 and the value, or -EINVAL for an unknown name. */
int run_state_parse(const char *name, enum run_state *out);
int run_reason_parse(const char *name, enum run_reason *out);

/* dispatched, running or fencing: the run may be executing somewhere. */
bool run_state_active(enum run_state s);
/* succeeded, failed, timed_out, cancelled, skipped, lost. */
bool run_state_terminal(enum run_state s);

#endif
