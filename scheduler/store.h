/*
 * store.h - the scheduler's database; the only scheduler code that speaks
 * SQL.  Every write is one BEGIN IMMEDIATE transaction committed with
 * synchronous=FULL before the function returns, so a caller may send a
 * message that depends on it right after.  The database itself enforces
 * the safety rule: a partial unique index allows at most one run of a
 * task in an active state (dispatched, running, fencing) and another at
 * most one pending run per task ("at most one waits").
 *
 * Times: *_ms are milliseconds since the Unix epoch (UTC); scheduled_for
 * is Unix seconds.  Strings in out-structs are copied into fixed arrays;
 * the caller owns everything it passes and receives.
 */
#ifndef SCHED_STORE_H
#define SCHED_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runstate.h"
#include "taskfile.h"

struct store;

#define STORE_TAIL_MAX 4096
#define STORE_ERROR_MAX 512
#define STORE_NODE_MAX 63
#define STORE_ADDR_MAX 63

int store_open(const char *path, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);

/* ---- tasks ------------------------------------------------------------ */

struct store_sync_result {
	int added, changed, removed, unchanged;
};

/*
 * Make the tasks table match ts in one transaction: insert new tasks,
 * update changed definitions, mark tasks absent from ts as removed (their
 * rows and history stay; a task that reappears is un-removed).  Paused
 * flags, tokens and cursors survive.  A new task's cursor is now_s (no
 * catch-up for times before it existed).  Writes one event per change.
 */
int store_sync_tasks(struct store *st, const struct task_set *ts, int64_t now_s,
		     struct store_sync_result *res, char *err, size_t errlen);

/* Mutable per-task state kept next to the definition. */
struct store_task_state {
	bool paused;
	bool removed;
	int64_t cursor_s;        /* last scheduled fire time accounted for */
	uint64_t last_token;     /* highest token ever given to a run of it */
};

/* -ENOENT if the task was never known. */
int store_task_state(struct store *st, const char *task, struct store_task_state *out);

/* Pause/resume: 0, -ENOENT (unknown or removed task), -EALREADY (no change). */
int store_task_set_paused(struct store *st, const char *task, bool paused);

/* Advance the cursor without creating a run (e.g. while paused). */
int store_task_set_cursor(struct store *st, const char *task, int64_t cursor_s);
/* The same, with an event (kind, message) in the same transaction: the
 * record of what the cursor moved over cannot be lost or doubled. */
int store_task_set_cursor_noted(struct store *st, const char *task, int64_t cursor_s,
				int64_t now_ms, const char *kind, const char *message);

/* A task row for listings: definition summary, state and last run. */
struct store_task_row {
	char name[TASK_NAME_MAX + 1];
	char schedule[TASK_SCHEDULE_MAX + 1];
	char timezone[CRON_TZ_MAX];
	char command[TASK_COMMAND_MAX + 1];
	char overlap[8];
	char catch_up[8];
	char labels[TASK_LABELS_MAX + 1];
	int priority;
	int retries;
	bool paused;
	bool removed;
	int64_t cursor_s;
	uint64_t last_run_id;    /* 0: never ran */
	enum run_state last_state;
	int64_t last_finished_ms;
	uint64_t active_run_id;  /* 0: none */
};

typedef int (*store_task_cb)(void *arg, const struct store_task_row *row);
/* All tasks by name (removed ones only if include_removed). */
int store_tasks_list(struct store *st, bool include_removed, store_task_cb cb, void *arg);

/* ---- runs ------------------------------------------------------------- */

struct store_run {
	uint64_t run_id;
	char task[TASK_NAME_MAX + 1];
	uint64_t token;          /* 0 for skipped rows (never executable) */
	enum run_reason reason;
	enum run_state state;
	int attempt;             /* 1 for the first attempt */
	char node[STORE_NODE_MAX + 1];  /* "" until dispatched */
	int64_t scheduled_for;   /* Unix seconds */
	int64_t created_ms, dispatched_ms, started_ms, finished_ms; /* 0: not yet */
	int64_t not_before_ms;   /* a retry is not dispatched before this (0: any time) */
	int exit_code;           /* -1: none */
	int signal;              /* 0: none */
	bool cancel_requested;
	char output_tail[STORE_TAIL_MAX + 1];
	char error[STORE_ERROR_MAX + 1];
	char log_path[256];
	int triggers;            /* `schedctl trigger` requests it answers (0: none) */
};

/* How a new run meets an existing one (DESIGN: overlap policy). */
struct store_run_new {
	const char *task;
	enum run_reason reason;
	int64_t scheduled_for;
	int attempt;
	enum task_overlap overlap;
	/* true: a run refused by the overlap policy is recorded as a skipped
	 * row (schedule, catch-up); false: nothing is written and -EBUSY is
	 * returned (manual runs refused with a message). */
	bool record_skip;
	/* > 0: set the task's cursor to this value in the same transaction. */
	int64_t cursor_s;
	int64_t now_ms;
	int64_t not_before_ms;   /* stored on the run; 0: dispatch at once */
	const char *note;        /* stored in error for skipped rows, may be NULL */
};

struct store_run_created {
	uint64_t run_id;         /* 0 if refused */
	uint64_t token;
	enum run_state state;    /* RUN_PENDING or RUN_SKIPPED */
	uint64_t blocking_run_id; /* the active/pending run that caused a skip */
};

/*
 * Create a run under the overlap policy, atomically with the cursor move:
 *   no active and no pending run       -> pending, new token
 *   overlap=skip, one active or pending -> skipped row (or -EBUSY)
 *   overlap=queue, active but no pending -> pending (it waits)
 *   overlap=queue, a pending one exists  -> skipped row (or -EBUSY)
 * Returns 0, -EBUSY (refused, record_skip false), -ENOENT (unknown or
 * removed task), -EIO.
 */
int store_run_create(struct store *st, const struct store_run_new *rn,
		     struct store_run_created *out);

/* Record a skipped row without touching policy (catch_up=none/latest). */
int store_run_skip(struct store *st, const char *task, enum run_reason reason,
		   int64_t scheduled_for, int64_t cursor_s, int64_t now_ms, const char *why,
		   uint64_t *run_id);

/*
 * pending -> dispatched on node.  Returns 0, -ESTALE if the run is no
 * longer pending, -EBUSY if the unique index refuses (another run of the
 * task is active: a bug elsewhere, logged loudly by the caller).
 */
int store_run_assign(struct store *st, uint64_t run_id, const char *node, int64_t now_ms);

/*
 * The worker said it never started and never will: dispatched -> pending,
 * node cleared, with a NEW token (the task's next), so it can be
 * dispatched again and any late copy of the old dispatch stays stale.
 * With cancel requested it ends as cancelled instead.  *new_token (may be
 * NULL) receives the run's token afterwards.  If the task already had a
 * pending run, that newer run is superseded (skipped, its triggers move to
 * run_id: only one run may wait) and *superseded (may be NULL) receives
 * its id, else 0.  Idempotent: 0 if already pending or terminal.  -ESTALE
 * if token or node do not match.
 */
int store_run_unassign(struct store *st, uint64_t run_id, uint64_t token, const char *node,
		       const char *why, int64_t now_ms, uint64_t *new_token, uint64_t *superseded);

/*
 * dispatched -> running.  Idempotent (0 if already running or ended).
 * -ESTALE if the run is not this node's or the token differs.
 */
int store_run_started(struct store *st, uint64_t run_id, uint64_t token,
		      const char *node, int64_t started_ms);

struct store_run_end {
	enum run_state state;    /* terminal */
	int exit_code;
	int signal;
	int64_t started_ms;      /* 0: keep what is stored */
	int64_t finished_ms;
	const char *tail;        /* may be NULL */
	const char *error;       /* may be NULL */
	const char *log_path;    /* may be NULL */
	/* Optional: a run to create in the same transaction (a retry), under
	 * the same rules as store_run_create; its result in *retry_out. */
	const struct store_run_new *retry;
	struct store_run_created *retry_out;
};

/*
 * dispatched | running | fencing -> terminal.  Idempotent: 0 and
 * *already = true if the run had already ended (the caller acks again).
 * -ESTALE if node or token do not match (a stale report, refused).
 */
int store_run_end(struct store *st, uint64_t run_id, uint64_t token, const char *node,
		  const struct store_run_end *end, bool *already);

/*
 * Operator cancel.  pending -> cancelled at once (*state_out = cancelled);
 * dispatched/running -> cancel_requested set, state unchanged (the caller
 * tells the worker; the run ends when the worker says so).  -EALREADY if
 * terminal, -ENOENT if unknown.
 */
int store_run_cancel(struct store *st, uint64_t run_id, int64_t now_ms,
		     enum run_state *state_out);

int store_run_get(struct store *st, uint64_t run_id, struct store_run *out);

typedef int (*store_run_cb)(void *arg, const struct store_run *run);
/* Runs in pending, dispatched, running or fencing, oldest first. */
int store_runs_unfinished(struct store *st, store_run_cb cb, void *arg);
/* History of a task, newest first, at most limit rows (limit <= 0: 20). */
int store_runs_history(struct store *st, const char *task, int limit, store_run_cb cb, void *arg);

/* ---- triggers and debounce (store_trigger.c, schema 4) ---------------
 *
 * A trigger asks for a run of a task now.  Every answer below is committed
 * (one BEGIN IMMEDIATE transaction) before the function returns, so a
 * trigger acknowledged to its caller survives a crash.  In order:
 *   1. the task has an open debounce window: the trigger joins it
 *      (count + 1);
 *   2. the task has a pending run (of any reason): the trigger joins it
 *      (runs.triggers + 1): a run that has not started answers every
 *      trigger before it, and only one run may wait (runs_one_pending);
 *   3. debounce_ms > 0: a window opens, closing at now + debounce_ms;
 *   4. otherwise a run with reason trigger and triggers = 1 is created
 *      through store_run_create's rules with overlap = queue: it is
 *      dispatched at once, or waits behind the task's active run (the
 *      follow-up run), whatever the task's own overlap setting.
 * Closing a window does 2 or 4 with the window's count, in the
 * transaction that deletes it.
 */
enum store_trigger_outcome {
	STORE_TRIGGER_CREATED = 1,   /* a new run (run_id; pending) */
	STORE_TRIGGER_JOINED_RUN,    /* added to the task's pending run */
	STORE_TRIGGER_OPENED,        /* opened a debounce window */
	STORE_TRIGGER_JOINED_WINDOW, /* joined the open window */
	STORE_TRIGGER_DROPPED,       /* (close only) the task was removed: window dropped */
};

/* "created", "joined_run", "opened_window", "joined_window", "dropped". */
const char *store_trigger_outcome_name(enum store_trigger_outcome o);

struct store_trigger_result {
	enum store_trigger_outcome outcome;
	uint64_t run_id;          /* the run created or joined; 0 for a window */
	uint64_t token;           /* CREATED: the new run's token */
	uint64_t active_run_id;   /* run outcomes: the active run it waits behind (0: none) */
	int count;                /* triggers now on the run or in the window */
	int64_t opened_ms, closes_ms; /* window outcomes: the window */
	int64_t scheduled_for;    /* CREATED: the run's scheduled_for (Unix s) */
};

/*
 * Record one trigger of task at now_ms (see above).  -ENOENT: unknown or
 * removed task; -EINVAL: bad arguments; -EIO.
 */
int store_trigger(struct store *st, const char *task, int64_t debounce_ms, int64_t now_ms,
		  struct store_trigger_result *out);

/*
 * Close task's window if it closes at or before now_ms: in one
 * transaction the window row goes and its count joins the pending run or
 * becomes a new run (outcome JOINED_RUN or CREATED).  A removed task's
 * window is dropped with a "trigger_dropped" event (DROPPED).  -ENOENT:
 * no window; -EAGAIN: the window is still open at now_ms.
 */
int store_trigger_close(struct store *st, const char *task, int64_t now_ms,
			struct store_trigger_result *out);

struct store_trigger_window {
	char task[TASK_NAME_MAX + 1];
	int64_t opened_ms, closes_ms, last_ms;
	int count;
};
typedef int (*store_trigger_window_cb)(void *arg, const struct store_trigger_window *w);
/* Every open window, the one closing first first. */
int store_trigger_windows(struct store *st, store_trigger_window_cb cb, void *arg);
/* store_retry.c: the node of the attempt before run_id's (the newest
 * earlier run of its task with attempt - 1 that ran on a node and failed,
 * timed out or was lost) into node[size].  -ENOENT: none. */
int store_run_previous_node(struct store *st, uint64_t run_id, char *node, size_t size);

/* ---- batches (store_batch.c) -------------------------------------------
 *
 * Several operator actions applied in ONE transaction, or none of them
 * (schedctl run/pause/resume/cancel with several tasks or a selector).
 * Items are tried in order with the rules of the single-item functions;
 * the first item that cannot be applied (its rc is a "blocker") rolls the
 * whole batch back, and *blocker receives its index.  What is a blocker:
 *   pause/resume: unknown or removed task (-ENOENT).  Already paused /
 *     active is not: rc -EALREADY, "unchanged".
 *   run: unknown or removed task (-ENOENT); refused by the task's overlap
 *     rule (-EBUSY, blocking_run_id the run in the way), exactly as
 *     store_run_create with record_skip false.
 *   cancel of a run (task NULL): no such run (-ENOENT), already finished
 *     (-EALREADY: a blocker here, as for store_run_cancel).  A run an
 *     earlier item of the batch cancelled (or asked to cancel) is not:
 *     rc -EALREADY with cancelled_before, "unchanged".
 *   cancel of a task: unknown or removed task (-ENOENT).  A task without
 *     an unfinished run or open trigger window is not: rc -EALREADY,
 *     "unchanged".  Otherwise its active and its pending run (at most one
 *     each; not those an earlier item cancelled) are cancelled as by
 *     store_run_cancel, and its open debounce window is dropped with a
 *     "trigger_dropped" event (dropped_triggers), so that no run comes of
 *     triggers sent before the cancel.
 * Pause and resume write a "pause"/"resume" event each, in the same
 * transaction.  Any other failure (-EIO, -ENOMEM) also rolls back and
 * names the item it happened on.  Items after a blocker are not tried
 * (their rc stays 1: "not tried"); the rc of items before it says what
 * they would have done, but no created or cancelled run is reported.
 */
enum store_batch_op {
	STORE_BATCH_PAUSE = 1,
	STORE_BATCH_RESUME,
	STORE_BATCH_RUN,
	STORE_BATCH_CANCEL,
};

struct store_batch_item {
	enum store_batch_op op;
	const char *task;             /* NULL only for the cancel of one run */
	uint64_t run_id;              /* cancel: the run when task is NULL */
	struct store_run_new rn;      /* run: the run to create (rn.task = task;
				       * record_skip is ignored: always false) */
	/* Results: */
	int rc;                       /* 0 applied, -EALREADY unchanged, 1 not
				       * tried, else the reason it blocked */
	struct store_run_created created; /* run: the new run, or blocking_run_id */
	size_t ncancelled;            /* cancel: runs cancelled (0..2) */
	uint64_t cancelled[2];
	enum run_state cancel_state[2]; /* cancelled, or still active (requested) */
	int dropped_triggers;		/* cancel of a task: triggers of its open
					 * debounce window dropped (0: none) */
	bool cancelled_before;		/* cancel of a run: rc -EALREADY because an
					 * earlier item cancelled it ("unchanged") */
};

/* 0: every item applied (or unchanged) and committed; else the blocker's
 * rc (negative), nothing changed, and *blocker its index. */
int store_batch_apply(struct store *st, struct store_batch_item *items, size_t n,
		      int64_t now_ms, size_t *blocker);
/* ---- dependencies (store_deps.c) ---------------------------------------
 *
 * A schedule cycle is the set of runs that fall due for one instant
 * (scheduled_for).  Its runs are those the schedule or a catch-up made and
 * their retries; manual and trigger runs belong to no cycle, nor do their
 * retries (a retry counts when the cycle has a first attempt the schedule
 * made before it). */

/*
 * The newest run of task in the cycle `scheduled_for` (the last attempt
 * so far) into *out.  Returns 1, 0 if the task has no run in that cycle,
 * or a negative errno.
 */
int store_run_of_cycle(struct store *st, const char *task, int64_t scheduled_for,
		       struct store_run *out);

/*
 * When the live task's definition took its present form (wall ms): its
 * creation, its last change on a reload, or its return after a removal
 * (tasks.updated_ms; pause, resume and the cursor leave it).  A fire time
 * after it was one of the definition as it is now.  0 and *out_ms,
 * -ENOENT for an unknown or removed task, or a negative errno.
 */
int store_task_defined_ms(struct store *st, const char *task, int64_t *out_ms);

/*
 * A pending run that can never run (a dependency of its cycle failed):
 * pending -> skipped with `why` as its error text and a "skip" event, in
 * one transaction.  -ESTALE if the run is no longer pending (it was
 * dispatched or cancelled meanwhile), -EBUSY if it answers triggers
 * (runs.triggers > 0: it is not skipped), -ENOENT if unknown.
 */
int store_run_skip_pending(struct store *st, uint64_t run_id, const char *why, int64_t now_ms);

/* ---- nodes ------------------------------------------------------------ */

struct store_node {
	char name[STORE_NODE_MAX + 1];
	char addr[STORE_ADDR_MAX + 1];  /* "ip:port" */
	int slots;
	char labels[TASK_LABELS_MAX + 1];
	int64_t first_seen_ms, last_hello_ms;
	int64_t drained_ms;      /* when `schedctl drain` took it out; 0: not drained */
	uint64_t incarnation;    /* its process incarnation at the last HELLO */
};

/* Insert or update a node on HELLO (drained_ms is left as it was). */
int store_node_upsert(struct store *st, const struct store_node *n);
/* Drain (drained_ms > 0: since then) or undrain (0) a known node, with a
 * "node_drain"/"node_undrain" event.  -ENOENT: no such node. */
int store_node_set_drained(struct store *st, const char *name, int64_t drained_ms,
			   int64_t now_ms);
typedef int (*store_node_cb)(void *arg, const struct store_node *n);
int store_nodes_list(struct store *st, store_node_cb cb, void *arg);

/* ---- events ----------------------------------------------------------- */

/* Append to the event log (kind: "reload", "skip", "dispatch", ...).
 * task/node may be NULL, run_id 0.  Failures are logged, not returned. */
void store_event(struct store *st, int64_t now_ms, const char *kind, const char *task,
		 uint64_t run_id, const char *node, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

struct store_event_row {
	uint64_t id;
	int64_t at_ms;
	char kind[32];
	char task[TASK_NAME_MAX + 1];
	uint64_t run_id;
	char node[STORE_NODE_MAX + 1];
	char message[512];
};
typedef int (*store_event_cb)(void *arg, const struct store_event_row *ev);
/* The newest `limit` events, newest first. */
int store_events_recent(struct store *st, int limit, store_event_cb cb, void *arg);

/* ---- checkpoints ------------------------------------------------------
 *
 * One stored checkpoint per task (store_ckpt.c, schema "checkpoints"):
 * the last one shipped by a run of the task that held the task's current
 * token.  The next run of the task starts with it.
 */

#define STORE_CKPT_HASH 16

struct store_ckpt {
	char task[TASK_NAME_MAX + 1];
	uint64_t token;          /* of the run that shipped it */
	uint64_t run_id;
	uint64_t seq;            /* that run's version of its content */
	uint32_t size;
	uint8_t hash[STORE_CKPT_HASH];
	int64_t updated_ms;
};

/*
 * Store data (size bytes, hashing to hash) as the checkpoint of run
 * run_id's task, in one transaction, only if: the run exists, carries
 * token, is active (dispatched, running or fencing) on node, no run of
 * the task has been dispatched with a newer token (a pending run queued
 * behind it may hold one: it has not run), and the stored checkpoint is
 * not a newer version of the same run (seq).  The same content again (same run, seq and hash) is
 * 0.  Otherwise -ESTALE with the reason in why (may be NULL), and a
 * "checkpoint_stale" event is recorded.  -ENOENT: no such run.
 */
int store_ckpt_put(struct store *st, uint64_t run_id, uint64_t token, const char *node,
		   uint64_t seq, const void *data, size_t size,
		   const uint8_t hash[STORE_CKPT_HASH], int64_t now_ms, char *why, size_t whylen);

/*
 * The stored checkpoint of task into *meta and, if data is not NULL, its
 * bytes into a malloc'd *data (the caller frees it; never NULL on
 * success, even for 0 bytes).  -ENOENT: none stored (or unknown task).
 */
int store_ckpt_get(struct store *st, const char *task, struct store_ckpt *meta, void **data);

/*
 * Delete task's checkpoint, with a "checkpoint_clear" event naming by.
 * -ENOENT: unknown task; -EALREADY: none stored.
 */
int store_ckpt_clear(struct store *st, const char *task, const char *by, int64_t now_ms);

/* ---- fencing ----------------------------------------------------------
 *
 * The durable half of DESIGN rule 4 (store_fence.c, schema version 2).
 * When gossip declares a node dead while it holds active runs, the
 * scheduler opens a fence request for it: in the same transaction the
 * node's dispatched and running runs become `fencing`.  They stay active
 * (the unique index still counts them, so the task cannot be assigned
 * elsewhere) until the request is
 *   confirmed (the hook exited 0, or an operator vouched): every fencing
 *     run of the node becomes `lost` (terminal; finished_ms = now; error
 *     "fenced: node N confirmed isolated by hook|operator"), which frees
 *     the task for a retry or its next scheduled run, with a higher token;
 *   cancelled (the node came back with the SAME incarnation before any
 *     confirmation: the suspicion was false): every fencing run of the
 *     node returns to the state it had (dispatched or running).
 * A node that rejoins with a NEW incarnation restarted: whatever it ran
 * is gone or is being killed by it, and it will never resume those runs.
 * Its request must NOT be cancelled while any of its runs is fencing
 * (that would put dead runs back to running); it stays open until the
 * hook or an operator confirms it, and those runs end as lost.  (Once the
 * restarted node has reported the end of every one of them, nothing is
 * left to restore and the scheduler cancels it.)  The store cannot tell the two cases apart: the
 * caller decides which incarnation counts as "the same" (note that a
 * SWIM refutation raises the gossip incarnation without any restart).
 *
 * While fencing, workers' reports keep their store.h meaning:
 *   store_run_end on a fencing run ends it normally (the worker was alive
 *     after all; the run leaves `fencing`, the request stays open);
 *   store_run_unassign on a fencing run ("never started, never will")
 *     sends it back to pending with a new token (schema 2 allows that);
 *   store_run_started on a fencing run changes nothing (0);
 *   store_run_end on a LOST run returns 0 with *already = true and changes
 *     nothing: the run stays lost, the late report is acknowledged (so the
 *     worker stops resending) but not recorded.  When *already is set
 *     the caller should read the run: if it is `lost`, log the late
 *     report (one that says the run went on after the confirmation means
 *     the node was not isolated: alert) and never apply retry policy to
 *     the reported outcome (the task may already have a new run).
 * The scheduler should stop resending DISPATCH for a fencing run and must
 * not dispatch new runs to a node with an open request: confirm only
 * loses runs that are `fencing`; a run dispatched to the node after the
 * request opened stays dispatched (open again, which is idempotent, to
 * sweep it in).
 *
 * The database refuses, whatever the C code does: a run entering
 * fencing without an open request of its node, a run becoming lost
 * without a confirmed one, a fencing run resuming other than its own
 * state after a cancel, and a second open request for a node.
 *
 * Every write below is one BEGIN IMMEDIATE transaction.  Besides the
 * answers listed: -EINVAL for a NULL/empty/over-long node, an over-long
 * address (never cut: the hook needs it whole) or a bad `by`; -ENOMEM;
 * -EIO (a trigger refusing is logged and reported as -EIO). */

enum store_fence_state {
	STORE_FENCE_OPEN = 1,
	STORE_FENCE_CONFIRMED = 2,
	STORE_FENCE_CANCELLED = 3,
};

/* "open", "confirmed", "cancelled"; "?" if unknown. */
const char *store_fence_state_name(enum store_fence_state s);

#define STORE_FENCE_REASON_MAX 255
/* store_fence_list shows every open request and at most this many closed. */
#define STORE_FENCE_LIST_CLOSED 50
/* store_fence_attempts shows at most this many, the newest ones. */
#define STORE_FENCE_ATTEMPTS_MAX 100

struct store_fence_row {
	uint64_t id;
	char node[STORE_NODE_MAX + 1];
	char address[STORE_ADDR_MAX + 1];
	uint64_t incarnation;
	char reason[STORE_FENCE_REASON_MAX + 1];
	enum store_fence_state state;
	char confirmed_by[12];   /* "hook" | "operator" when confirmed, else "" */
	int64_t created_ms, updated_ms;
	int64_t closed_ms;       /* 0 while open */
	int attempts;            /* hook calls recorded */
	int64_t next_attempt_ms; /* when to call the hook again (open only) */
	char last_error[STORE_ERROR_MAX + 1];  /* "" after exit 0 or before any call */
	bool paused_by_storm;
	char note[STORE_ERROR_MAX + 1];        /* how it was closed */
	int runs_fencing;        /* its runs now in fencing */
	int runs_lost;           /* its runs declared lost */
};

struct store_fence_attempt_row {
	uint64_t id;
	uint64_t request_id;
	int64_t started_ms, finished_ms;
	int exit_code;           /* -1: none */
	int signal;              /* 0: none */
	bool timed_out;
	char output[STORE_TAIL_MAX + 1];  /* the end of the hook's output */
};

/*
 * Open a fence request for node (or take the open one: idempotent) and,
 * in the same transaction, move every run of node in dispatched or
 * running to fencing, remembering that state.  *request_id (may be NULL)
 * receives the open request's id, *nruns (may be NULL) how many runs of
 * node are fencing now (those moved by earlier calls included).  An
 * existing open request keeps its address, incarnation and reason.  A
 * request is opened even when the node holds no active run (nruns 0).
 * Writes a "fence_open" event for a new request and a "run_fencing"
 * event per run moved.
 */
int store_fence_open(struct store *st, const char *node, const char *address,
		     uint64_t incarnation, const char *reason, int64_t now_ms,
		     uint64_t *request_id, int *nruns);

/*
 * Record one call of the hook for request_id: attempts + 1, last_error
 * ("" for exit 0, else e.g. "exit 1: <last output line>", "killed by
 * signal 9", "timed out"), next_attempt_ms (kept only while the request
 * is open; 0 otherwise).  A call that finishes after the request was
 * closed is still recorded.  Exit 0 does not confirm: the caller then
 * calls store_fence_confirm(..., "hook", ...).  output may be NULL; only
 * its last STORE_TAIL_MAX bytes are kept.  -ENOENT: unknown request.
 */
int store_fence_attempt(struct store *st, uint64_t request_id, int64_t started_ms,
			int64_t finished_ms, int exit_code, int signal, bool timed_out,
			const char *output, int64_t next_attempt_ms);

/*
 * The node is confirmed isolated, by "hook" (exit 0) or "operator"
 * (schedctl fence confirm): in one transaction the open request becomes
 * confirmed and every fencing run of node becomes lost, and for each lost
 * run listed in retries (may be NULL) its retry is created under the
 * rules of store_run_create (the result in retries[k].out).  *nlost (may be
 * NULL) receives how many.  Writes a "fence_confirm" event and a
 * "run_lost" event per run.  -ENOENT: no open request for node.
 */
struct store_fence_retry {
	uint64_t run_id;                /* a run of the node, fencing now */
	struct store_run_new rn;        /* created if that run becomes lost */
	struct store_run_created out;   /* run_id 0: not created (not lost) */
};
int store_fence_confirm(struct store *st, const char *node, const char *by, int64_t now_ms,
			struct store_fence_retry *retries, size_t nretries, int *nlost);

/*
 * Call the fence off: node came back with the SAME incarnation before
 * the request was confirmed (a false suspicion; see above, never for a
 * new incarnation).  In one transaction the request becomes cancelled
 * (note = why) and every fencing run of node returns to the state it had
 * (dispatched or running).  *nrestored (may be NULL) receives how many.
 * Writes a "fence_cancel" event.  -ENOENT: no open request for node.
 */
int store_fence_cancel(struct store *st, const char *node, const char *why, int64_t now_ms,
		       int *nrestored);

/*
 * Storm guard (DESIGN rule 7): set or clear paused_by_storm on node's
 * open request, or on every open request when node is NULL.  *nchanged
 * (may be NULL) receives how many rows changed.  Writes one
 * "fence_paused" or "fence_resumed" event when any did.  -ENOENT: node
 * given and no open request for it.
 */
int store_fence_set_paused(struct store *st, const char *node, bool paused, int64_t now_ms,
			   int *nchanged);

/* The node incarnation recorded by the fence that took run_id (fencing or
 * lost); -ENOENT if no fence ever took it. */
int store_run_fence_incarnation(struct store *st, uint64_t run_id, uint64_t *out);

/* node's open request into *out; -ENOENT if none. */
int store_fence_open_for(struct store *st, const char *node, struct store_fence_row *out);

typedef int (*store_fence_cb)(void *arg, const struct store_fence_row *row);
/* Every open request (oldest first), then at most STORE_FENCE_LIST_CLOSED
 * closed ones (most recently closed first). */
int store_fence_list(struct store *st, store_fence_cb cb, void *arg);

typedef int (*store_fence_attempt_cb)(void *arg, const struct store_fence_attempt_row *a);
/* The hook calls of a request, oldest first (at most the newest
 * STORE_FENCE_ATTEMPTS_MAX).  -ENOENT: unknown request. */
int store_fence_attempts(struct store *st, uint64_t request_id, store_fence_attempt_cb cb,
			 void *arg);

#endif
