/*
 * store_ckpt.c - task checkpoints in the scheduler's store (store.h
 * "checkpoints", schema/sched-005-checkpoints.sql).
 *
 * A checkpoint is accepted only from the run that holds the task's
 * current token while it is active on the node that ships it.  The
 * current token is the newest one any run of the task went out with
 * (dispatched): a run queued behind the active one (overlap = queue, a
 * trigger's follow-up) already holds a newer token in tasks.last_token,
 * but it has not run, and the active run's checkpoints must still count.
 * The check and the write are one BEGIN IMMEDIATE transaction, so a run that lost
 * its token (fenced, replaced by a retry) can never overwrite the newer
 * run's checkpoint, whatever the order its datagrams arrive in.
 *
 * Statements: checkpoints are written at most once per heartbeat per
 * running task, so, like store_fence.c, this file prepares its statements
 * per call from its own table and finalizes them before returning.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store.h"
#include "store_int.h"

enum cq_id {
	CQ_RUN,	   /* ?1 run_id -> task_id, token, state, node, task name */
	CQ_NEWER,  /* ?1 task_id, ?2 token -> run_id, token of a run dispatched with a newer one */
	CQ_CUR,	   /* ?1 task_id -> run_id, seq, hash */
	CQ_UPSERT, /* ?1 task_id, ?2 token, ?3 run_id, ?4 seq, ?5 size, ?6 hash, ?7 data, ?8 now */
	CQ_GET,	   /* ?1 task name -> name, token, run_id, seq, size, hash, updated_ms, data */
	CQ_DELETE, /* ?1 task_id */
	CQ__COUNT
};

static const char *const ckpt_sql[CQ__COUNT] = {
	[CQ_RUN] = "SELECT r.task_id, r.token, r.state, r.node, t.name "
		   "FROM runs r JOIN tasks t ON t.id = r.task_id WHERE r.run_id = ?1",
	/* token > 0 lets the planner use runs_token; a run sent back to
	 * pending (REJECT) has dispatched_ms 0 again. */
	[CQ_NEWER] = "SELECT run_id, token FROM runs WHERE task_id = ?1 AND token > 0 "
		     "AND token > ?2 AND dispatched_ms > 0 ORDER BY token DESC LIMIT 1",
	[CQ_CUR] = "SELECT run_id, seq, hash FROM checkpoints WHERE task_id = ?1",
	[CQ_UPSERT] = "INSERT INTO checkpoints (task_id, token, run_id, seq, size, hash, data, "
		      "updated_ms) "
		      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (task_id) DO UPDATE SET "
		      "token = excluded.token, run_id = excluded.run_id, seq = excluded.seq, "
		      "size = excluded.size, hash = excluded.hash, data = excluded.data, "
		      "updated_ms = excluded.updated_ms",
	[CQ_GET] = "SELECT t.name, c.token, c.run_id, c.seq, c.size, c.hash, c.updated_ms, c.data "
		   "FROM checkpoints c JOIN tasks t ON t.id = c.task_id WHERE t.name = ?1",
	[CQ_DELETE] = "DELETE FROM checkpoints WHERE task_id = ?1",
};

_Static_assert(CQ__COUNT <= STORE_MOD_STMT_MAX, "raise STORE_MOD_STMT_MAX");

struct ckpt_run {
	int64_t task_id;
	uint64_t token;
	char state[16];
	char node[STORE_NODE_MAX + 1];
	char task[TASK_NAME_MAX + 1];
};

/* 1 and *out, 0 if no such run, <0 error. */
static int read_run(struct store__call *q, uint64_t run_id, struct ckpt_run *out)
{
	int ret = 0;
	sqlite3_stmt *s = store__call_stmt(q, CQ_RUN, &ret);
	if (!s)
		return ret;
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	if (rc)
		return store__err(q->st, rc, "bind checkpoint run");
	ret = store__row(q->st, s, "checkpoint run");
	if (ret <= 0)
		return ret;
	out->task_id = sqlite3_column_int64(s, 0);
	out->token = (uint64_t)sqlite3_column_int64(s, 1);
	store__col_text(s, 2, out->state, sizeof(out->state), false);
	store__col_text(s, 3, out->node, sizeof(out->node), false);
	store__col_text(s, 4, out->task, sizeof(out->task), false);
	sqlite3_reset(s);
	return 1;
}

/* Why run r (per the store) may not store a checkpoint shipped with
 * token by node at version seq, into why; "" if it may.  *same is set
 * when this very content is stored already. */
static int refusal(struct store__call *q, const struct ckpt_run *r, uint64_t run_id, uint64_t token,
		   const char *node, uint64_t seq, const uint8_t *hash, char *why, size_t len,
		   bool *same)
{
	*same = false;
	why[0] = '\0';
	if (r->token != token) {
		snprintf(why, len, "token %llu is not the run's token %llu",
			 (unsigned long long)token, (unsigned long long)r->token);
		return 0;
	}
	if (strcmp(r->state, "dispatched") != 0 && strcmp(r->state, "running") != 0 &&
	    strcmp(r->state, "fencing") != 0) {
		snprintf(why, len, "the run is %s, no longer active", r->state);
		return 0;
	}
	if (strcmp(r->node, node) != 0) {
		snprintf(why, len, "the run is on %s, not on %s", r->node[0] ? r->node : "no node",
			 node);
		return 0;
	}
	/* The current token: no run of the task went out with a newer one.
	 * (A run queued behind this one holds a newer token but has not run;
	 * the unique index already keeps a second run from being active, this
	 * is the second wall.) */
	int ret = 0;
	sqlite3_stmt *s = store__call_stmt(q, CQ_NEWER, &ret);
	if (!s)
		return ret;
	int rc = sqlite3_bind_int64(s, 1, r->task_id);
	rc |= sqlite3_bind_int64(s, 2, (sqlite3_int64)token);
	if (rc)
		return store__err(q->st, rc, "bind checkpoint newer");
	ret = store__row(q->st, s, "checkpoint newer");
	if (ret < 0)
		return ret;
	if (ret == 1) {
		snprintf(why, len,
			 "token %llu is not the task's current token: run %llu went out "
			 "with token %llu",
			 (unsigned long long)token, (unsigned long long)sqlite3_column_int64(s, 0),
			 (unsigned long long)sqlite3_column_int64(s, 1));
		sqlite3_reset(s);
		return 0;
	}
	s = store__call_stmt(q, CQ_CUR, &ret);
	if (!s)
		return ret;
	rc = sqlite3_bind_int64(s, 1, r->task_id);
	if (rc)
		return store__err(q->st, rc, "bind checkpoint current");
	ret = store__row(q->st, s, "checkpoint current");
	if (ret <= 0)
		return ret;
	uint64_t cur_run = (uint64_t)sqlite3_column_int64(s, 0);
	uint64_t cur_seq = (uint64_t)sqlite3_column_int64(s, 1);
	const void *cur_hash = sqlite3_column_blob(s, 2);
	bool hash_eq = cur_hash && sqlite3_column_bytes(s, 2) == STORE_CKPT_HASH &&
		       memcmp(cur_hash, hash, STORE_CKPT_HASH) == 0;
	sqlite3_reset(s);
	if (cur_run == run_id && cur_seq == seq && hash_eq)
		*same = true;
	else if (cur_run == run_id && cur_seq >= seq)
		snprintf(why, len,
			 "version %llu of the run's checkpoint is stored already, newer "
			 "than %llu",
			 (unsigned long long)cur_seq, (unsigned long long)seq);
	return 0;
}

int store_ckpt_put(struct store *st, uint64_t run_id, uint64_t token, const char *node,
		   uint64_t seq, const void *data, size_t size, const uint8_t hash[STORE_CKPT_HASH],
		   int64_t now_ms, char *why, size_t whylen)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_CKPT, ckpt_sql);
	struct ckpt_run r;
	char reason[256], msg[512];
	bool same;
	int ret, rc;

	if (why && whylen)
		why[0] = '\0';
	if (!node || !hash || (size && !data) || size > INT32_MAX)
		return -EINVAL;
	ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = read_run(&q, run_id, &r);
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto fail;
	ret = refusal(&q, &r, run_id, token, node, seq, hash, reason, sizeof(reason), &same);
	if (ret < 0)
		goto fail;
	if (same) {
		db_rollback(st->db);
		store__call_end(&q);
		return 0;
	}
	if (reason[0]) {
		snprintf(msg, sizeof(msg),
			 "checkpoint of %zu bytes from %s (token %llu) refused: %s", size, node,
			 (unsigned long long)token, reason);
		ret = store__event_add(st, now_ms, "checkpoint_stale", r.task, run_id, node, msg);
		if (ret == 0)
			ret = store__commit(st);
		if (ret)
			goto fail;
		store__call_end(&q);
		if (why && whylen)
			snprintf(why, whylen, "%s", reason);
		return -ESTALE;
	}
	sqlite3_stmt *s = store__call_stmt(&q, CQ_UPSERT, &ret);
	if (!s)
		goto fail;
	rc = sqlite3_bind_int64(s, 1, r.task_id);
	rc |= sqlite3_bind_int64(s, 2, (sqlite3_int64)token);
	rc |= sqlite3_bind_int64(s, 3, (sqlite3_int64)run_id);
	rc |= sqlite3_bind_int64(s, 4, (sqlite3_int64)seq);
	rc |= sqlite3_bind_int64(s, 5, (sqlite3_int64)size);
	rc |= sqlite3_bind_blob(s, 6, hash, STORE_CKPT_HASH, SQLITE_TRANSIENT);
	/* A zero-length blob, never NULL, for an empty checkpoint. */
	rc |= size ? sqlite3_bind_blob(s, 7, data, (int)size, SQLITE_STATIC)
		   : sqlite3_bind_zeroblob(s, 7, 0);
	rc |= sqlite3_bind_int64(s, 8, now_ms);
	ret = rc ? store__err(st, rc, "bind checkpoint") : store__exec(st, s, "store checkpoint");
	if (ret)
		goto fail;
	ret = store__commit(st);
	if (ret)
		goto fail;
	store__call_end(&q);
	return 0;
fail:
	db_rollback(st->db);
	store__call_end(&q);
	return ret;
}

int store_ckpt_get(struct store *st, const char *task, struct store_ckpt *meta, void **data)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_CKPT, ckpt_sql);
	int ret = 0;

	if (data)
		*data = NULL;
	if (!task || strlen(task) > TASK_NAME_MAX)
		return -ENOENT;
	sqlite3_stmt *s = store__call_stmt(&q, CQ_GET, &ret);
	if (!s)
		return ret;
	int rc = store__bind_text(s, 1, task, TASK_NAME_MAX, false);
	if (rc) {
		ret = store__err(st, rc, "bind checkpoint task");
		goto out;
	}
	ret = store__row(st, s, "read checkpoint");
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto out;
	memset(meta, 0, sizeof(*meta));
	store__col_text(s, 0, meta->task, sizeof(meta->task), false);
	meta->token = (uint64_t)sqlite3_column_int64(s, 1);
	meta->run_id = (uint64_t)sqlite3_column_int64(s, 2);
	meta->seq = (uint64_t)sqlite3_column_int64(s, 3);
	meta->size = (uint32_t)sqlite3_column_int64(s, 4);
	if (sqlite3_column_bytes(s, 5) == STORE_CKPT_HASH)
		memcpy(meta->hash, sqlite3_column_blob(s, 5), STORE_CKPT_HASH);
	meta->updated_ms = sqlite3_column_int64(s, 6);
	ret = 0;
	if (data) {
		const void *blob = sqlite3_column_blob(s, 7);
		int n = sqlite3_column_bytes(s, 7);
		if (n < 0 || (uint32_t)n != meta->size) {
			log_warnx("store: checkpoint of %s: %d bytes stored, %u recorded", task, n,
				  meta->size);
			ret = -EIO;
			goto out;
		}
		*data = malloc(meta->size ? meta->size : 1);
		if (!*data) {
			ret = -ENOMEM;
			goto out;
		}
		if (n)
			memcpy(*data, blob, (size_t)n);
	}
out:
	if (s)
		sqlite3_reset(s);
	store__call_end(&q);
	return ret;
}

int store_ckpt_clear(struct store *st, const char *task, const char *by, int64_t now_ms)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_CKPT, ckpt_sql);
	struct store__task t;
	char msg[256];
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = store__task_find(st, task, &t);
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto fail;
	sqlite3_stmt *s = store__call_stmt(&q, CQ_DELETE, &ret);
	if (!s)
		goto fail;
	int rc = sqlite3_bind_int64(s, 1, t.id);
	ret = rc ? store__err(st, rc, "bind checkpoint clear")
		 : store__exec(st, s, "clear checkpoint");
	if (ret)
		goto fail;
	if (sqlite3_changes(st->db) == 0) {
		ret = -EALREADY;
		goto fail;
	}
	snprintf(msg, sizeof(msg), "checkpoint cleared by %s", by ? by : "?");
	ret = store__event_add(st, now_ms, "checkpoint_clear", task, 0, NULL, msg);
	if (ret == 0)
		ret = store__commit(st);
	if (ret)
		goto fail;
	store__call_end(&q);
	return 0;
fail:
	db_rollback(st->db);
	store__call_end(&q);
	return ret;
}
