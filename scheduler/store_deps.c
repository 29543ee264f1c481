/*
 * store_deps.c - the store's part of `after` (see store.h, "dependencies"):
 * finding a task's run in one schedule cycle, since when a task has its
 * definition, and skipping a pending run
 * whose dependency failed (never one that answers triggers).  The decisions are the scheduler's
 * (sched_deps.c); the store only reads and records.
 */
#include <errno.h>
#include <string.h>

#include "db.h"
#include "store.h"
#include "store_int.h"

int store_run_of_cycle(struct store *st, const char *task, int64_t scheduled_for,
		       struct store_run *out)
{
	if (!task || !task[0])
		return -EINVAL;
	sqlite3_stmt *s = store__stmt(st, SQ_RUN_OF_CYCLE);
	int rc = store__bind_text(s, 1, task, TASK_NAME_MAX, false);
	rc |= sqlite3_bind_int64(s, 2, scheduled_for);
	if (rc != SQLITE_OK)
		return store__err(st, rc, "bind cycle");
	rc = store__row(st, s, "find run of cycle");
	if (rc <= 0)
		return rc;
	store__read_run(s, out);
	sqlite3_reset(s);
	return 1;
}

static const char *const deps_sql[] = {
	"SELECT updated_ms FROM tasks WHERE name = ?1 AND removed = 0",
};

int store_task_defined_ms(struct store *st, const char *task, int64_t *out_ms)
{
	if (!task || !task[0])
		return -EINVAL;
	/* Rarely needed (a dependency's fire time without a row): prepared on
	 * first use, not at open with the shared statement table. */
	struct store__call q = STORE_CALL(st, STORE_MOD_DEPS, deps_sql);
	int ret = 0;
	sqlite3_stmt *s = store__call_stmt(&q, 0, &ret);
	if (!s)
		return ret;
	int rc = store__bind_text(s, 1, task, TASK_NAME_MAX, false);
	ret = rc != SQLITE_OK ? store__err(st, rc, "bind task")
			      : store__row(st, s, "read task definition time");
	if (ret == 1)
		*out_ms = sqlite3_column_int64(s, 0);
	store__call_end(&q);
	return ret < 0 ? ret : ret == 1 ? 0 : -ENOENT;
}

int store_run_skip_pending(struct store *st, uint64_t run_id, const char *why, int64_t now_ms)
{
	struct store_run r;
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	/* Read inside the transaction: nothing can move the run meanwhile. */
	ret = store_run_get(st, run_id, &r);
	if (ret)
		goto fail;
	if (r.state != RUN_PENDING) {
		ret = -ESTALE;
		goto fail;
	}
	if (r.triggers > 0) {
		ret = -EBUSY; /* it answers triggers: it runs whatever its cycle did */
		goto fail;
	}
	sqlite3_stmt *s = store__stmt(st, SQ_RUN_SUPERSEDE);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	rc |= sqlite3_bind_int64(s, 2, now_ms);
	rc |= store__bind_text(s, 3, why ? why : "", STORE_ERROR_MAX, false);
	ret = rc ? store__err(st, rc, "bind skip") : store__exec(st, s, "skip run");
	if (ret)
		goto fail;
	ret = store__event_add(st, now_ms, "skip", r.task, run_id, NULL, why ? why : "");
	if (ret)
		goto fail;
	return store__commit(st);
fail:
	db_rollback(st->db);
	return ret;
}
