/*
 * store_int.h - internals shared by the files of the scheduler's store:
 * store.c (open/close, the statement table, nodes, events),
 * store_tasks.c (task definitions and per-task state), store_runs.c (run
 * creation and state transitions), store_query.c (listings) and
 * store_deps.c (runs of one schedule cycle, for `after`).  Nothing outside scheduler/store*.c includes this.
 *
 * The core SQL texts are in one table (store_sql[] in store.c), prepared
 * once by store_open() and finalized by store_close(), so a typo in any
 * statement fails at open, not in the middle of the night.  store_fence.c,
 * store_trigger.c, store_ckpt.c, store_deps.c and store_retry.c keep their
 * own tables, prepared on first use through store__call_stmt() and kept
 * until store_close().
 */
#ifndef SCHED_STORE_INT_H
#define SCHED_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Statement ids: index into store_sql[] and struct store.stmt[]. */
enum store_sq {
	SQ_TASK_GET,          /* ?1 name -> definition and state */
	SQ_TASK_INSERT,       /* ?1..?15 definition, ?16 cursor_s, ?17 now_ms */
	SQ_TASK_UPDATE,       /* same binding; cursor_s = MAX(cursor_s, ?16), removed = 0 */
	SQ_TASK_LOCATE,       /* ?1 name, ?2 file, ?3 line */
	SQ_TASK_LIVE,         /* id, name of tasks not removed */
	SQ_TASK_REMOVE,       /* ?1 id, ?2 now_ms */
	SQ_TASK_SET_PAUSED,   /* ?1 id, ?2 paused */
	SQ_TASK_SET_CURSOR,   /* ?1 id, ?2 cursor_s (never moves back) */
	SQ_TASK_SET_TOKEN,    /* ?1 id, ?2 last_token */
	SQ_RUN_ACTIVE_OF,     /* ?1 task_id -> run_id */
	SQ_RUN_PENDING_OF,    /* ?1 task_id -> run_id */
	SQ_RUN_INSERT,        /* see store_sql[] */
	SQ_RUN_PEEK,          /* ?1 run_id -> token, state, node, cancel_requested, task_id */
	SQ_RUN_ASSIGN,        /* ?1 run_id, ?2 node, ?3 now_ms */
	SQ_RUN_UNASSIGN,      /* ?1 run_id, ?2 why; takes the task's last_token */
	SQ_TASK_BUMP_TOKEN,   /* ?1 id */
	SQ_RUN_CANCEL_NOW,    /* ?1 run_id, ?2 now_ms, ?3 why */
	SQ_RUN_SUPERSEDE,     /* ?1 run_id, ?2 now_ms, ?3 why: pending -> skipped */
	SQ_RUN_CANCEL_REQ,    /* ?1 run_id */
	SQ_RUN_STARTED,       /* ?1 run_id, ?2 started_ms */
	SQ_RUN_END,           /* ?1 run_id, ?2 state, ... */
	SQ_RUN_GET,           /* ?1 run_id -> STORE_RUN_COLS */
	SQ_RUN_FENCE_INC,     /* ?1 run_id -> incarnation of the fence that took it */
	SQ_RUNS_UNFINISHED,   /* -> STORE_RUN_COLS */
	SQ_RUNS_HISTORY,      /* ?1 task_id, ?2 limit -> STORE_RUN_COLS */
	SQ_TASKS_LIST,        /* ?1 include_removed */
	SQ_NODE_UPSERT,
	SQ_NODE_DRAIN,
	SQ_NODES_LIST,
	SQ_EVENT_INSERT,
	SQ_EVENTS_RECENT,     /* ?1 limit */
	SQ_RUN_OF_CYCLE,      /* ?1 task name, ?2 scheduled_for -> STORE_RUN_COLS */
	SQ__COUNT
};

/* Modules with their own statement table (in their file), kept in
 * struct store.mod[] by store__call_stmt(). */
enum store_mod {
	STORE_MOD_FENCE,
	STORE_MOD_TRIGGER,
	STORE_MOD_CKPT,
	STORE_MOD_DEPS,
	STORE_MOD_RETRY,
	STORE_MOD__COUNT
};
#define STORE_MOD_STMT_MAX 24

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[SQ__COUNT];
	sqlite3_stmt *mod[STORE_MOD__COUNT][STORE_MOD_STMT_MAX];
};

/* What the store needs to know about a task inside a transaction. */
struct store__task {
	int64_t id;
	bool paused, removed;
	int64_t cursor_s;
	uint64_t last_token;
};

/* The statement id, reset and with its bindings cleared, ready to bind. */
sqlite3_stmt *store__stmt(struct store *st, enum store_sq id);

/*
 * One call of a module with its own statement table sql[n] (n at most
 * STORE_MOD_STMT_MAX): the statements are prepared on first use and kept
 * for the life of the store (finalized by store_close()); the call records
 * which ones it used so that store__call_end() resets them and none keeps
 * a read open between calls.  Set up with STORE_CALL(st, mod, sql_table).
 */
struct store__call {
	struct store *st;
	enum store_mod mod;
	const char *const *sql;
	int n;
	uint32_t used;
};
#define STORE_CALL(st_, mod_, sql_)                                            \
	{ .st = (st_), .mod = (mod_), .sql = (sql_),                           \
	  .n = (int)(sizeof(sql_) / sizeof((sql_)[0])) }

/* Statement id of the call's table, reset and with its bindings cleared,
 * ready to bind; or NULL with *ret set (-ENOMEM or -EIO, logged). */
sqlite3_stmt *store__call_stmt(struct store__call *c, int id, int *ret);

/* Reset every statement the call used (and clear its bindings). */
void store__call_end(struct store__call *c);

/*
 * A negative errno for a failed SQLite call: SQLITE_CONSTRAINT_UNIQUE is
 * -EBUSY (the unique indexes refuse a second active or pending run),
 * SQLITE_NOMEM -ENOMEM, anything else -EIO.  Everything but the unique
 * case is logged with what and the SQLite message.
 */
int store__err(struct store *st, int rc, const char *what);

/* COMMIT; if that fails, ROLLBACK and -EIO. */
int store__commit(struct store *st);

/* Step a statement that returns no rows to the end and reset it. */
int store__exec(struct store *st, sqlite3_stmt *s, const char *what);

/*
 * Step s for at most one row.  1: a row is there (read it, then reset);
 * 0: no row (already reset); negative errno on failure (reset).
 */
int store__row(struct store *st, sqlite3_stmt *s, const char *what);

/* Length of the first at most max bytes of s[0..n) that end on a UTF-8
 * character boundary. */
size_t store__utf8_head(const char *s, size_t n, size_t max);

/* Bind text, at most max bytes (cut at a UTF-8 boundary).  keep_end keeps
 * the last bytes instead of the first (output tails).  NULL binds NULL. */
int store__bind_text(sqlite3_stmt *s, int idx, const char *txt, size_t max, bool keep_end);

/* Copy a text column into buf[size], NUL-terminated, cut like above. */
void store__col_text(sqlite3_stmt *s, int col, char *buf, size_t size, bool keep_end);

/* The task called name: 1 and *out if known, 0 if never known, <0 error. */
int store__task_find(struct store *st, const char *name, struct store__task *out);

/* Append an event inside the caller's transaction. */
int store__event_add(struct store *st, int64_t at_ms, const char *kind, const char *task,
		     uint64_t run_id, const char *node, const char *msg);

/* A growing array of fixed-size items, so that listings read every row
 * first and call back afterwards: a callback may then call any store
 * function (even a write) without disturbing a statement in flight. */
struct store__vec {
	void *items;
	size_t n, cap, size;
};

/* A new zeroed slot, or NULL when out of memory. */
void *store__vec_push(struct store__vec *v);
void store__vec_free(struct store__vec *v);

/* The columns read by store__read_run(), and the run row reader. */
#define STORE_RUN_COLS                                                         \
	"r.run_id, t.name, r.token, r.reason, r.state, r.attempt, r.node, "    \
	"r.scheduled_for, r.created_ms, r.dispatched_ms, r.started_ms, "      \
	"r.finished_ms, r.exit_code, r.signal, r.cancel_requested, "          \
	"r.output_tail, r.error, r.log_path, r.not_before_ms, r.triggers "     \
	"FROM runs r JOIN tasks t ON t.id = r.task_id"

void store__read_run(sqlite3_stmt *s, struct store_run *out);

/* store_run_create inside a transaction the caller opened (and commits or
 * rolls back on error). */
int store__run_create_tx(struct store *st, const struct store_run_new *rn,
			 struct store_run_created *out);

/*
 * store_trigger.c: add the trigger count of run `from` to run `to`,
 * inside the caller's transaction.  store_run_unassign uses it when the
 * waiting run is superseded by an older run going back to the queue: the
 * older run now answers those triggers.
 */
int store__trigger_inherit(struct store *st, uint64_t from, uint64_t to);
/*
 * store_trigger.c, inside an open transaction: drop the open debounce
 * window of task (id task_id) with a "trigger_dropped" event saying
 * "N trigger(s) dropped: <why>"; *count receives N (0: it had no window,
 * nothing written).  0 or a negative errno.
 */
int store__trigger_drop_tx(struct store *st, int64_t task_id, const char *task, const char *why,
			   int64_t now_ms, int *count);
/* Inside a transaction the caller opened (and commits, or rolls back on
 * any error), with the answers of the public function of the same name:
 * store_run_cancel, store_task_set_paused. */
int store__run_cancel_tx(struct store *st, uint64_t run_id, int64_t now_ms,
			 enum run_state *state_out);
int store__task_set_paused_tx(struct store *st, const char *task, bool paused);

/* The run_id of the task's run found by `which` (SQ_RUN_ACTIVE_OF or
 * SQ_RUN_PENDING_OF) into *run_id, 0 if none; 0 or negative errno. */
int store__run_of_task(struct store *st, enum store_sq which, int64_t task_id,
		       uint64_t *run_id);

#endif
