/*
 * wstore.h - the worker's own database: what this worker accepted, ran
 * and still has to report.  Write-ahead (DESIGN rule 2): a run is
 * committed as accepted before fork/exec, its end is committed before it
 * is reported, and it is forgotten only after the scheduler acknowledged
 * the end.  Rejected dispatches leave a tombstone so a retransmitted
 * dispatch of the same run id is never started later; acknowledged runs
 * also stay as tombstones for a retention period for the same reason.
 * The worker also remembers the highest token it has seen per task and
 * refuses a dispatch with a lower one, and the last incarnation it used,
 * so that a restart always takes a higher one.
 */
#ifndef SCHED_WSTORE_H
#define SCHED_WSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runstate.h"

struct wstore;

#define WSTORE_NAME_MAX 63
#define WSTORE_COMMAND_MAX 1000
#define WSTORE_TAIL_MAX 400
#define WSTORE_ERROR_MAX 200
#define WSTORE_PATH_MAX 200

/* Worker-side life of a run. */
enum wrun_phase {
	WRUN_ACCEPTED = 1,  /* persisted, not yet forked */
	WRUN_RUNNING = 2,   /* process started */
	WRUN_ENDED = 3,     /* end persisted, not yet acknowledged */
	WRUN_REJECTED = 4,  /* tombstone: never started, never will */
	WRUN_DONE = 5,      /* tombstone: end acknowledged, forgotten */
};

struct wrun {
	uint64_t run_id;
	uint64_t token;
	char task[WSTORE_NAME_MAX + 1];
	char command[WSTORE_COMMAND_MAX + 1];
	uint32_t attempt;
	int64_t scheduled_for;  /* Unix seconds */
	int64_t timeout_ms;     /* 0: none */
	int reason;             /* enum run_reason */
	enum wrun_phase phase;
	pid_t pid;              /* process and group id once running */
	uint64_t proc_start;    /* /proc/PID/stat starttime, to recognise it */
	int64_t accepted_ms, started_ms, finished_ms;
	enum run_state end_state; /* when ENDED: terminal state reported */
	int exit_code;          /* -1: none */
	int signal;             /* 0: none */
	bool cancel_requested;
	char tail[WSTORE_TAIL_MAX + 1];
	char error[WSTORE_ERROR_MAX + 1];
	char log_path[WSTORE_PATH_MAX + 1];
};

int wstore_open(const char *path, struct wstore **out, char *err, size_t errlen);
void wstore_close(struct wstore *ws);

/*
 * Persist an accepted run (phase ACCEPTED) and raise the task's highest
 * token, in one transaction.  -EEXIST if the run id is already known (the
 * caller answers from wstore_get instead), except a rejection tombstone
 * with a lower token: the scheduler re-dispatches a rejected run with a
 * new token, and that replaces the tombstone.  -ESTALE if the task has
 * already seen a higher or equal token.
 */
int wstore_accept(struct wstore *ws, const struct wrun *r);

/* Persist a rejection tombstone (and raise the task's highest token).
 * -EEXIST if the run id is known, except a rejection tombstone with a
 * lower token, which is replaced. */
int wstore_reject(struct wstore *ws, uint64_t run_id, uint64_t token, const char *task,
		  const char *why, int64_t now_ms);

/* ACCEPTED -> RUNNING with pid, proc_start, started_ms, log_path. */
int wstore_set_running(struct wstore *ws, uint64_t run_id, pid_t pid, uint64_t proc_start,
		       int64_t started_ms, const char *log_path);

/* ACCEPTED | RUNNING -> ENDED with the result fields of r.  state is one
 * of succeeded, failed, timed_out, cancelled, or lost (the scheduler
 * fenced this node, LEASE_LOST). */
int wstore_set_ended(struct wstore *ws, uint64_t run_id, enum run_state state, int exit_code,
		     int signal, int64_t finished_ms, const char *tail, const char *error);

/* Remember that the operator cancelled it (survives a restart). */
int wstore_set_cancel(struct wstore *ws, uint64_t run_id);

/* ENDED -> DONE (the scheduler acknowledged the end).  Idempotent. */
int wstore_set_done(struct wstore *ws, uint64_t run_id, int64_t now_ms);

/* 0, or -ENOENT. */
int wstore_get(struct wstore *ws, uint64_t run_id, struct wrun *out);

typedef int (*wstore_cb)(void *arg, const struct wrun *r);
/* Runs in ACCEPTED, RUNNING or ENDED, oldest first. */
int wstore_list_live(struct wstore *ws, wstore_cb cb, void *arg);

/* Delete tombstones (REJECTED, DONE) older than before_ms; returns count. */
int wstore_purge(struct wstore *ws, int64_t before_ms);

/*
 * The incarnation for this start of the worker: max(wall_ms, last + 1),
 * committed before it returns, so it is strictly above every incarnation
 * this database handed out before even if the wall clock went back.
 * Call it once per start, before sending anything.  0 and *out, -EIO, or
 * -EOVERFLOW (the stored value cannot grow).
 */
int wstore_next_incarnation(struct wstore *ws, int64_t wall_ms, uint64_t *out)
	__attribute__((warn_unused_result));
/* The last incarnation handed out (0: none yet: a new database).  Read
 * before wstore_next_incarnation, it names the previous life of this
 * worker that used this very database. */
int wstore_last_incarnation(struct wstore *ws, uint64_t *out)
	__attribute__((warn_unused_result));

#endif
