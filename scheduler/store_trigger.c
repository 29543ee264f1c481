/*
 * store_trigger.c - the durable half of `schedctl trigger` and debounce
 * (store.h "triggers and debounce", schema/sched-004-triggers.sql).
 *
 * A trigger is answered in one BEGIN IMMEDIATE transaction that reads
 * what the task has (an open window, a pending run) and writes the one
 * consequence, so two triggers can never both open a window or both
 * create a run: the second sees what the first committed.  A new run is
 * created by store__run_create_tx, the function every other run goes
 * through, so the unique indexes and the overlap rule apply unchanged;
 * triggers ask for overlap = queue (one run may wait behind the active
 * one), and because a pending run is joined rather than doubled, the
 * queue never refuses them.
 *
 * Statements: like store_fence.c, this file prepares its statements per
 * call from its own table (trigger_sql[]) and finalizes them before
 * returning, so the shared statement table in store.c stays as it was.
 * Every statement is exercised by tests/unit/test_store_trigger.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store.h"
#include "store_int.h"

enum tq_id {
	TQ_WINDOW_GET,	  /* ?1 task_id -> opened_ms, closes_ms, last_ms, count */
	TQ_WINDOW_JOIN,	  /* ?1 task_id, ?2 now_ms */
	TQ_WINDOW_OPEN,	  /* ?1 task_id, ?2 now_ms, ?3 closes_ms */
	TQ_WINDOW_DELETE, /* ?1 task_id */
	TQ_PENDING_OF,	  /* ?1 task_id -> run_id, triggers */
	TQ_ACTIVE_OF,	  /* ?1 task_id -> run_id */
	TQ_RUN_ADD,	  /* ?1 run_id, ?2 count: triggers += count */
	TQ_RUN_TAKE,	  /* ?1 run_id -> triggers */
	TQ_WINDOWS,	  /* -> task, opened_ms, closes_ms, last_ms, count */
	TQ__COUNT
};

static const char *const trigger_sql[TQ__COUNT] = {
	[TQ_WINDOW_GET] = "SELECT opened_ms, closes_ms, last_ms, count FROM trigger_windows WHERE "
			  "task_id = ?1",
	[TQ_WINDOW_JOIN] =
		"UPDATE trigger_windows SET count = count + 1, last_ms = MAX(last_ms, ?2) "
		"WHERE task_id = ?1",
	[TQ_WINDOW_OPEN] =
		"INSERT INTO trigger_windows (task_id, opened_ms, closes_ms, last_ms, count) "
		"VALUES (?1, ?2, ?3, ?2, 1)",
	[TQ_WINDOW_DELETE] = "DELETE FROM trigger_windows WHERE task_id = ?1",
	/* The WHERE texts repeat the partial indexes' verbatim (planner). */
	[TQ_PENDING_OF] = "SELECT run_id, triggers FROM runs WHERE task_id = ?1 AND "
			  "state = 'pending'",
	[TQ_ACTIVE_OF] = "SELECT run_id FROM runs WHERE task_id = ?1 AND "
			 "state IN ('dispatched', 'running', 'fencing')",
	[TQ_RUN_ADD] = "UPDATE runs SET triggers = triggers + ?2 WHERE run_id = ?1",
	[TQ_RUN_TAKE] = "SELECT triggers FROM runs WHERE run_id = ?1",
	[TQ_WINDOWS] = "SELECT t.name, w.opened_ms, w.closes_ms, w.last_ms, w.count "
		       "FROM trigger_windows w JOIN tasks t ON t.id = w.task_id "
		       "ORDER BY w.closes_ms, t.name",
};

_Static_assert(TQ__COUNT <= STORE_MOD_STMT_MAX, "raise STORE_MOD_STMT_MAX");

static const char *const outcome_names[] = {
	[STORE_TRIGGER_CREATED] = "created",	  [STORE_TRIGGER_JOINED_RUN] = "joined_run",
	[STORE_TRIGGER_OPENED] = "opened_window", [STORE_TRIGGER_JOINED_WINDOW] = "joined_window",
	[STORE_TRIGGER_DROPPED] = "dropped",
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *store_trigger_outcome_name(enum store_trigger_outcome o)
{
	if ((unsigned)o < NELEM(outcome_names) && outcome_names[o])
		return outcome_names[o];
	return "?";
}

/* Bind ints ?1.. and step a statement that returns no rows. */
static int exec3(struct store__call *q, enum tq_id id, int64_t a, int64_t b, int64_t c, int nargs,
		 const char *what)
{
	int ret = 0;
	sqlite3_stmt *s = store__call_stmt(q, id, &ret);
	if (!s)
		return ret;
	int64_t v[3] = {a, b, c};
	int rc = SQLITE_OK;
	for (int i = 0; i < nargs; i++)
		rc |= sqlite3_bind_int64(s, i + 1, v[i]);
	return rc ? store__err(q->st, rc, what) : store__exec(q->st, s, what);
}

/* The task's window: 1 and *w, 0 if none, negative errno. */
static int window_get(struct store__call *q, int64_t task_id, struct store_trigger_window *w)
{
	int ret = 0;
	sqlite3_stmt *s = store__call_stmt(q, TQ_WINDOW_GET, &ret);
	if (!s)
		return ret;
	int rc = sqlite3_bind_int64(s, 1, task_id);
	if (rc != SQLITE_OK)
		return store__err(q->st, rc, "bind window");
	rc = store__row(q->st, s, "read window");
	if (rc <= 0)
		return rc;
	w->opened_ms = sqlite3_column_int64(s, 0);
	w->closes_ms = sqlite3_column_int64(s, 1);
	w->last_ms = sqlite3_column_int64(s, 2);
	w->count = sqlite3_column_int(s, 3);
	sqlite3_reset(s);
	return 1;
}

/* The run id (and its triggers) found by TQ_PENDING_OF / TQ_ACTIVE_OF; 0
 * if none. */
static int run_of(struct store__call *q, enum tq_id id, int64_t task_id, uint64_t *run_id,
		  int *triggers)
{
	int ret = 0;
	*run_id = 0;
	sqlite3_stmt *s = store__call_stmt(q, id, &ret);
	if (!s)
		return ret;
	int rc = sqlite3_bind_int64(s, 1, task_id);
	if (rc != SQLITE_OK)
		return store__err(q->st, rc, "bind task");
	rc = store__row(q->st, s, "find run of task");
	if (rc <= 0)
		return rc;
	*run_id = (uint64_t)sqlite3_column_int64(s, 0);
	if (triggers)
		*triggers = sqlite3_column_int(s, 1);
	sqlite3_reset(s);
	return 0;
}

/*
 * count triggers of task want a run, inside the open transaction: join
 * the pending run, or create one (reason trigger, overlap queue).  Fills
 * out's run fields and outcome.
 */
static int answer_with_run(struct store__call *q, const char *task, int64_t task_id, int count,
			   int64_t now_ms, struct store_trigger_result *out)
{
	uint64_t pending = 0;
	int had = 0;
	int ret = run_of(q, TQ_ACTIVE_OF, task_id, &out->active_run_id, NULL);
	if (ret == 0)
		ret = run_of(q, TQ_PENDING_OF, task_id, &pending, &had);
	if (ret)
		return ret;
	if (pending) {
		ret = exec3(q, TQ_RUN_ADD, (int64_t)pending, count, 0, 2, "join pending run");
		if (ret)
			return ret;
		out->outcome = STORE_TRIGGER_JOINED_RUN;
		out->run_id = pending;
		out->count = had + count;
		return 0;
	}
	struct store_run_new rn = {
		.task = task,
		.reason = REASON_TRIGGER,
		.scheduled_for = now_ms / 1000,
		.attempt = 1,
		.overlap = OVERLAP_QUEUE,
		.record_skip = false,
		.now_ms = now_ms,
	};
	struct store_run_created cr;
	ret = store__run_create_tx(q->st, &rn, &cr);
	if (ret)
		return ret; /* -EBUSY cannot happen: no pending run (checked above) */
	ret = exec3(q, TQ_RUN_ADD, (int64_t)cr.run_id, count, 0, 2, "count triggers");
	if (ret)
		return ret;
	out->outcome = STORE_TRIGGER_CREATED;
	out->run_id = cr.run_id;
	out->token = cr.token;
	out->count = count;
	out->scheduled_for = rn.scheduled_for;
	return 0;
}

static bool task_name_valid(const char *task)
{
	return task && task[0] && strlen(task) <= TASK_NAME_MAX;
}

/* The live task inside the open transaction: 0, -ENOENT, or an error. */
static int live_task(struct store *st, const char *task, struct store__task *t)
{
	int rc = store__task_find(st, task, t);
	if (rc < 0)
		return rc;
	return rc == 0 || t->removed ? -ENOENT : 0;
}

int store_trigger(struct store *st, const char *task, int64_t debounce_ms, int64_t now_ms,
		  struct store_trigger_result *out)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_TRIGGER, trigger_sql);
	struct store__task t;
	struct store_trigger_window w;

	memset(out, 0, sizeof(*out));
	if (!task_name_valid(task) || debounce_ms < 0 || now_ms <= 0)
		return -EINVAL;
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = live_task(st, task, &t);
	if (ret)
		goto fail;
	ret = window_get(&q, t.id, &w);
	if (ret < 0)
		goto fail;
	if (ret == 1) {
		ret = exec3(&q, TQ_WINDOW_JOIN, t.id, now_ms, 0, 2, "join window");
		if (ret)
			goto fail;
		out->outcome = STORE_TRIGGER_JOINED_WINDOW;
		out->count = w.count + 1;
		out->opened_ms = w.opened_ms;
		out->closes_ms = w.closes_ms;
	} else {
		uint64_t pending = 0;
		ret = run_of(&q, TQ_PENDING_OF, t.id, &pending, NULL);
		if (ret)
			goto fail;
		if (debounce_ms > 0 && !pending) {
			ret = exec3(&q, TQ_WINDOW_OPEN, t.id, now_ms, now_ms + debounce_ms, 3,
				    "open window");
			if (ret)
				goto fail;
			out->outcome = STORE_TRIGGER_OPENED;
			out->count = 1;
			out->opened_ms = now_ms;
			out->closes_ms = now_ms + debounce_ms;
		} else {
			ret = answer_with_run(&q, task, t.id, 1, now_ms, out);
			if (ret)
				goto fail;
		}
	}
	ret = store__event_add(st, now_ms, "trigger", task, out->run_id, NULL,
			       store_trigger_outcome_name(out->outcome));
	if (ret)
		goto fail;
	ret = store__commit(st); /* rolls back itself when it fails */
	if (ret)
		goto fail_committed;
	store__call_end(&q);
	return 0;
fail:
	db_rollback(st->db);
fail_committed: /* not a rollback: store__commit did it */
	store__call_end(&q);
	memset(out, 0, sizeof(*out));
	return ret;
}

int store_trigger_close(struct store *st, const char *task, int64_t now_ms,
			struct store_trigger_result *out)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_TRIGGER, trigger_sql);
	struct store__task t;
	struct store_trigger_window w;
	char msg[96];

	memset(out, 0, sizeof(*out));
	if (!task_name_valid(task))
		return -EINVAL;
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = store__task_find(st, task, &t);
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto fail;
	ret = window_get(&q, t.id, &w);
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto fail;
	if (w.closes_ms > now_ms) {
		ret = -EAGAIN;
		goto fail;
	}
	ret = exec3(&q, TQ_WINDOW_DELETE, t.id, 0, 0, 1, "close window");
	if (ret)
		goto fail;
	out->opened_ms = w.opened_ms;
	out->closes_ms = w.closes_ms;
	if (t.removed) {
		out->outcome = STORE_TRIGGER_DROPPED;
		out->count = w.count;
		snprintf(msg, sizeof(msg), "%d trigger(s) dropped: the task was removed", w.count);
		ret = store__event_add(st, now_ms, "trigger_dropped", task, 0, NULL, msg);
	} else {
		ret = answer_with_run(&q, task, t.id, w.count, now_ms, out);
		if (ret)
			goto fail;
		snprintf(msg, sizeof(msg), "window closed: %d trigger(s), %s", w.count,
			 store_trigger_outcome_name(out->outcome));
		ret = store__event_add(st, now_ms, "trigger_window", task, out->run_id, NULL, msg);
	}
	if (ret)
		goto fail;
	ret = store__commit(st); /* rolls back itself when it fails */
	if (ret)
		goto fail_committed;
	store__call_end(&q);
	return 0;
fail:
	db_rollback(st->db);
fail_committed: /* not a rollback: store__commit did it */
	store__call_end(&q);
	memset(out, 0, sizeof(*out));
	return ret;
}

int store__trigger_drop_tx(struct store *st, int64_t task_id, const char *task, const char *why,
			   int64_t now_ms, int *count)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_TRIGGER, trigger_sql);
	struct store_trigger_window w;
	char msg[128];
	*count = 0;
	int ret = window_get(&q, task_id, &w);
	if (ret <= 0)
		goto out;
	ret = exec3(&q, TQ_WINDOW_DELETE, task_id, 0, 0, 1, "drop window");
	if (ret)
		goto out;
	snprintf(msg, sizeof(msg), "%d trigger(s) dropped: %s", w.count, why);
	ret = store__event_add(st, now_ms, "trigger_dropped", task, 0, NULL, msg);
	if (ret == 0)
		*count = w.count;
out:
	store__call_end(&q);
	return ret;
}

int store_trigger_windows(struct store *st, store_trigger_window_cb cb, void *arg)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_TRIGGER, trigger_sql);
	struct store__vec v = {.size = sizeof(struct store_trigger_window)};
	int ret = 0, rc;
	sqlite3_stmt *s = store__call_stmt(&q, TQ_WINDOWS, &ret);
	if (!s)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_trigger_window *w = store__vec_push(&v);
		if (!w) {
			ret = -ENOMEM;
			goto out;
		}
		store__col_text(s, 0, w->task, sizeof(w->task), false);
		w->opened_ms = sqlite3_column_int64(s, 1);
		w->closes_ms = sqlite3_column_int64(s, 2);
		w->last_ms = sqlite3_column_int64(s, 3);
		w->count = sqlite3_column_int(s, 4);
	}
	if (rc != SQLITE_DONE) {
		ret = store__err(st, rc, "list windows");
		goto out;
	}
	store__call_end(&q);
	for (size_t i = 0; i < v.n && ret == 0; i++)
		ret = cb(arg, (struct store_trigger_window *)v.items + i);
out:
	store__call_end(&q);
	store__vec_free(&v);
	return ret;
}

int store__trigger_inherit(struct store *st, uint64_t from, uint64_t to)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_TRIGGER, trigger_sql);
	int ret = 0;
	sqlite3_stmt *s = store__call_stmt(&q, TQ_RUN_TAKE, &ret);
	if (!s)
		goto out;
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)from);
	if (rc != SQLITE_OK) {
		ret = store__err(st, rc, "bind run");
		goto out;
	}
	rc = store__row(st, s, "read triggers");
	if (rc <= 0) {
		ret = rc;
		goto out;
	}
	int n = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	if (n > 0)
		ret = exec3(&q, TQ_RUN_ADD, (int64_t)to, n, 0, 2, "inherit triggers");
out:
	store__call_end(&q);
	return ret;
}
