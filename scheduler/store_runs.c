/*
 * store_runs.c - creating runs and moving them through their states (see
 * store.h and DESIGN.md "Run states").
 *
 * Each function reads the row it is about to change and decides inside
 * the same BEGIN IMMEDIATE transaction, so the decision and the write
 * cannot be separated by another writer.  Behind that, the database
 * refuses what must never happen whatever the C code decides: the
 * partial unique indexes refuse a second active or pending run of a task
 * (reported here as -EBUSY), and triggers refuse a state transition
 * outside the state machine and a token that does not grow.
 *
 * Reports from workers (started, end, never-started) are matched on run
 * id, token and node: a report that does not match is stale (-ESTALE),
 * and a report that matches but was already applied succeeds again
 * without changing anything, because workers retransmit until they are
 * acknowledged.
 *
 * Answers beyond those listed in store.h: -ENOENT for an unknown run id
 * (assign, unassign, started, end, cancel) and for a removed task
 * (run_skip); -EINVAL for an empty or over-long node name, an unknown
 * reason or overlap, or an end state other than succeeded, failed,
 * timed_out or cancelled (lost is the fence's verdict, not a worker's).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "store.h"
#include "store_int.h"

/* The fields of a run that transitions decide on. */
struct run_peek {
	uint64_t token;
	enum run_state state;
	char node[STORE_NODE_MAX + 1];
	bool cancel_requested;
	int64_t task_id;
};

/* 1 and *out if the run exists, 0 if not, negative errno on failure. */
static int run_peek(struct store *st, uint64_t run_id, struct run_peek *out)
{
	sqlite3_stmt *s = store__stmt(st, SQ_RUN_PEEK);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	if (rc != SQLITE_OK)
		return store__err(st, rc, "bind run");
	rc = store__row(st, s, "read run");
	if (rc <= 0)
		return rc;
	char state[16];
	out->token = (uint64_t)sqlite3_column_int64(s, 0);
	store__col_text(s, 1, state, sizeof(state), false);
	store__col_text(s, 2, out->node, sizeof(out->node), false);
	out->cancel_requested = sqlite3_column_int(s, 3) != 0;
	out->task_id = sqlite3_column_int64(s, 4);
	sqlite3_reset(s);
	if (run_state_parse(state, &out->state) != 0)
		return -EIO;  /* the CHECK constraint makes this impossible */
	return 1;
}

int store__run_of_task(struct store *st, enum store_sq which, int64_t task_id,
		       uint64_t *run_id)
{
	sqlite3_stmt *s = store__stmt(st, which);
	int rc = sqlite3_bind_int64(s, 1, task_id);
	if (rc != SQLITE_OK)
		return store__err(st, rc, "bind task");
	*run_id = 0;
	rc = store__row(st, s, "find run of task");
	if (rc <= 0)
		return rc;
	*run_id = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

struct run_row {
	int64_t task_id;
	uint64_t token;          /* 0 for a skipped row */
	enum run_reason reason;
	enum run_state state;    /* RUN_PENDING or RUN_SKIPPED */
	int attempt;
	int64_t scheduled_for;
	int64_t now_ms;
	int64_t not_before_ms;   /* pending rows only */
	const char *error;
};

static int run_insert(struct store *st, const struct run_row *r, uint64_t *run_id)
{
	sqlite3_stmt *s = store__stmt(st, SQ_RUN_INSERT);
	int rc = sqlite3_bind_int64(s, 1, r->task_id);
	rc |= sqlite3_bind_int64(s, 2, (sqlite3_int64)r->token);
	rc |= sqlite3_bind_text(s, 3, run_reason_name(r->reason), -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(s, 4, run_state_name(r->state), -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int(s, 5, r->attempt > 0 ? r->attempt : 1);
	rc |= sqlite3_bind_int64(s, 6, r->scheduled_for);
	rc |= sqlite3_bind_int64(s, 7, r->now_ms);
	/* A skipped row is terminal the moment it is written. */
	rc |= sqlite3_bind_int64(s, 8, r->state == RUN_SKIPPED ? r->now_ms : 0);
	rc |= store__bind_text(s, 9, r->error ? r->error : "", STORE_ERROR_MAX, false);
	rc |= sqlite3_bind_int64(s, 10, r->state == RUN_PENDING && r->not_before_ms > 0
						? r->not_before_ms : 0);
	if (rc != SQLITE_OK)
		return store__err(st, rc, "bind run");
	rc = store__exec(st, s, "insert run");
	if (rc)
		return rc;
	*run_id = (uint64_t)sqlite3_last_insert_rowid(st->db);
	return 0;
}

static int set_cursor(struct store *st, int64_t task_id, int64_t cursor_s)
{
	if (cursor_s <= 0)
		return 0;
	sqlite3_stmt *s = store__stmt(st, SQ_TASK_SET_CURSOR);
	int rc = sqlite3_bind_int64(s, 1, task_id);
	rc |= sqlite3_bind_int64(s, 2, cursor_s);
	return rc ? store__err(st, rc, "bind cursor") : store__exec(st, s, "set cursor");
}

static bool reason_valid(enum run_reason r)
{
	return strcmp(run_reason_name(r), "?") != 0;
}

/* A live (known, not removed) task inside the open transaction. */
static int live_task(struct store *st, const char *name, struct store__task *t)
{
	int rc = store__task_find(st, name, t);
	if (rc < 0)
		return rc;
	return rc == 0 || t->removed ? -ENOENT : 0;
}

int store__run_create_tx(struct store *st, const struct store_run_new *rn,
			 struct store_run_created *out)
{
	struct store__task t;
	uint64_t active = 0, pending = 0, blocking;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!rn->task || !reason_valid(rn->reason) ||
	    (rn->overlap != OVERLAP_SKIP && rn->overlap != OVERLAP_QUEUE))
		return -EINVAL;
	ret = live_task(st, rn->task, &t);
	if (ret)
		goto fail;
	ret = store__run_of_task(st, SQ_RUN_ACTIVE_OF, t.id, &active);
	if (ret)
		goto fail;
	ret = store__run_of_task(st, SQ_RUN_PENDING_OF, t.id, &pending);
	if (ret)
		goto fail;

	/* The overlap policy: skip allows nothing next to an active or
	 * pending run; queue lets exactly one run wait behind an active one. */
	if (rn->overlap == OVERLAP_QUEUE)
		blocking = pending;
	else
		blocking = active ? active : pending;

	char note[128];
	struct run_row row = {
		.task_id = t.id,
		.reason = rn->reason,
		.attempt = rn->attempt,
		.scheduled_for = rn->scheduled_for,
		.now_ms = rn->now_ms,
		.not_before_ms = rn->not_before_ms,
	};
	if (blocking) {
		out->blocking_run_id = blocking;
		if (!rn->record_skip) {
			ret = -EBUSY;
			goto fail;
		}
		row.state = RUN_SKIPPED;
		row.error = rn->note;
		if (!row.error) {
			snprintf(note, sizeof(note), "run %llu of this task was %s (overlap=%s)",
				 (unsigned long long)blocking,
				 blocking == active ? "still unfinished" : "already waiting",
				 rn->overlap == OVERLAP_QUEUE ? "queue" : "skip");
			row.error = note;
		}
	} else {
		/* Tokens: one more than any token the task ever had, kept on
		 * the task row so that it survives removal and re-adding. */
		row.state = RUN_PENDING;
		row.token = t.last_token + 1;
		sqlite3_stmt *s = store__stmt(st, SQ_TASK_SET_TOKEN);
		int rc = sqlite3_bind_int64(s, 1, t.id);
		rc |= sqlite3_bind_int64(s, 2, (sqlite3_int64)row.token);
		ret = rc ? store__err(st, rc, "bind token") : store__exec(st, s, "raise token");
		if (ret)
			goto fail;
	}
	ret = run_insert(st, &row, &out->run_id);
	if (ret)
		goto fail;
	ret = set_cursor(st, t.id, rn->cursor_s);
	if (ret)
		goto fail;
	out->token = row.token;
	out->state = row.state;
	return 0;
fail:
	out->run_id = 0;
	out->token = 0;
	return ret;
}

int store_run_create(struct store *st, const struct store_run_new *rn,
		     struct store_run_created *out)
{
	memset(out, 0, sizeof(*out));
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = store__run_create_tx(st, rn, out);
	if (ret == 0)
		ret = store__commit(st);
	if (ret) {
		db_rollback(st->db);
		out->run_id = 0;
		out->token = 0;
	}
	return ret;
}

int store_run_skip(struct store *st, const char *task, enum run_reason reason,
		   int64_t scheduled_for, int64_t cursor_s, int64_t now_ms, const char *why,
		   uint64_t *run_id)
{
	struct store__task t;
	uint64_t id = 0;
	int ret;

	if (!task || !reason_valid(reason))
		return -EINVAL;
	ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = live_task(st, task, &t);
	if (ret)
		goto fail;
	struct run_row row = {
		.task_id = t.id,
		.reason = reason,
		.state = RUN_SKIPPED,
		.attempt = 1,
		.scheduled_for = scheduled_for,
		.now_ms = now_ms,
		.error = why,
	};
	ret = run_insert(st, &row, &id);
	if (ret)
		goto fail;
	ret = set_cursor(st, t.id, cursor_s);
	if (ret)
		goto fail;
	ret = store__commit(st);
	if (ret)
		goto fail;
	if (run_id)
		*run_id = id;
	return 0;
fail:
	db_rollback(st->db);
	return ret;
}

int store_run_assign(struct store *st, uint64_t run_id, const char *node, int64_t now_ms)
{
	struct run_peek p;
	if (!node || !node[0] || strlen(node) > STORE_NODE_MAX)
		return -EINVAL;
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = run_peek(st, run_id, &p);
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto fail;
	if (p.state != RUN_PENDING) {
		ret = -ESTALE;
		goto fail;
	}
	sqlite3_stmt *s = store__stmt(st, SQ_RUN_ASSIGN);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	rc |= store__bind_text(s, 2, node, STORE_NODE_MAX, false);
	rc |= sqlite3_bind_int64(s, 3, now_ms);
	/* -EBUSY here is runs_one_active refusing a second active run. */
	ret = rc ? store__err(st, rc, "bind assign") : store__exec(st, s, "assign run");
	if (ret)
		goto fail;
	return store__commit(st);
fail:
	db_rollback(st->db);
	return ret;
}

/* Does a worker's report about p come from the node and carry the token
 * the run was given? */
static bool report_matches(const struct run_peek *p, uint64_t token, const char *node)
{
	return p->token != 0 && p->token == token && node && strcmp(p->node, node) == 0;
}

/*
 * The worker persisted "never started, never will".  dispatched or
 * fencing -> pending (its fence is no longer needed: nothing runs), or
 * -> cancelled if the operator already asked to cancel it: a run the
 * operator cancelled must not be dispatched again.
 *
 * With overlap = queue another run may already wait behind this one.
 * Only one may wait (runs_one_pending), and this one is older, so the
 * newer waiting run is recorded as skipped ("superseded") in the same
 * transaction: both runs stay accounted for.
 */
int store_run_unassign(struct store *st, uint64_t run_id, uint64_t token, const char *node,
		       const char *why, int64_t now_ms, uint64_t *new_token, uint64_t *superseded)
{
	struct run_peek p;
	uint64_t waiting = 0;
	if (superseded)
		*superseded = 0;
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = run_peek(st, run_id, &p);
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto fail;
	if (p.state == RUN_PENDING || run_state_terminal(p.state)) {
		db_rollback(st->db);  /* nothing to do: a retransmission */
		if (new_token)
			*new_token = p.token;
		return 0;
	}
	if (p.token != token) {
		ret = -ESTALE;
		goto fail;
	}
	if (!report_matches(&p, token, node) || p.state == RUN_RUNNING) {
		/* Another node's run, or one this node said it started. */
		ret = -ESTALE;
		goto fail;
	}

	sqlite3_stmt *s;
	int rc;
	if (p.cancel_requested) {
		s = store__stmt(st, SQ_RUN_CANCEL_NOW);
		rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
		rc |= sqlite3_bind_int64(s, 2, now_ms);
		rc |= store__bind_text(s, 3, "cancelled before it started", STORE_ERROR_MAX,
				       false);
	} else {
		ret = store__run_of_task(st, SQ_RUN_PENDING_OF, p.task_id, &waiting);
		if (ret)
			goto fail;
		if (waiting) {
			char why2[96];
			snprintf(why2, sizeof(why2), "superseded: run %llu went back to the queue",
				 (unsigned long long)run_id);
			s = store__stmt(st, SQ_RUN_SUPERSEDE);
			rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)waiting);
			rc |= sqlite3_bind_int64(s, 2, now_ms);
			rc |= store__bind_text(s, 3, why2, STORE_ERROR_MAX, false);
			ret = rc ? store__err(st, rc, "bind supersede")
				 : store__exec(st, s, "supersede run");
			if (ret == 0)  /* the older run answers its triggers now */
				ret = store__trigger_inherit(st, waiting, run_id);
			if (ret)
				goto fail;
		}
		/* A new token: the worker that refused keeps a tombstone for the
		 * old one, and a late copy of the old dispatch must stay stale
		 * everywhere (DESIGN rule 5). */
		s = store__stmt(st, SQ_TASK_BUMP_TOKEN);
		rc = sqlite3_bind_int64(s, 1, p.task_id);
		ret = rc ? store__err(st, rc, "bind task") : store__exec(st, s, "raise token");
		if (ret)
			goto fail;
		s = store__stmt(st, SQ_RUN_UNASSIGN);
		rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
		rc |= store__bind_text(s, 2, why ? why : "", STORE_ERROR_MAX, false);
	}
	ret = rc ? store__err(st, rc, "bind unassign") : store__exec(st, s, "unassign run");
	if (ret)
		goto fail;
	if (new_token) {
		ret = run_peek(st, run_id, &p);
		if (ret < 0)
			goto fail;
		*new_token = p.token;
	}
	ret = store__commit(st);
	if (ret == 0 && superseded)
		*superseded = waiting;
	return ret;
fail:
	db_rollback(st->db);
	return ret;
}

/*
 * Open the write transaction for a worker's report about run_id and read
 * the run.  0 with the transaction open and *p filled; otherwise the
 * transaction is already rolled back: -ENOENT (no such run), -ESTALE (not
 * this node's run or not this token), or another -errno.
 */
static int begin_report(struct store *st, uint64_t run_id, uint64_t token, const char *node,
			struct run_peek *p)
{
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = run_peek(st, run_id, p);
	if (ret == 0)
		ret = -ENOENT;
	else if (ret > 0)
		ret = report_matches(p, token, node) ? 0 : -ESTALE;
	if (ret)
		db_rollback(st->db);
	return ret;
}

int store_run_started(struct store *st, uint64_t run_id, uint64_t token, const char *node,
		      int64_t started_ms)
{
	struct run_peek p;
	int ret = begin_report(st, run_id, token, node, &p);
	if (ret)
		return ret;
	if (p.state != RUN_DISPATCHED) {
		/* Already running or ended (a retransmission), or being fenced:
		 * the fence decides, not a late "started". */
		db_rollback(st->db);
		return 0;
	}
	sqlite3_stmt *s = store__stmt(st, SQ_RUN_STARTED);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	rc |= sqlite3_bind_int64(s, 2, started_ms);
	ret = rc ? store__err(st, rc, "bind started") : store__exec(st, s, "run started");
	if (ret)
		goto fail;
	return store__commit(st);
fail:
	db_rollback(st->db);
	return ret;
}

/* The terminal states a worker may report.  skipped is never executed
 * and lost is the fence's verdict, not a worker's. */
static bool end_state_valid(enum run_state s)
{
	return s == RUN_SUCCEEDED || s == RUN_FAILED || s == RUN_TIMED_OUT ||
	       s == RUN_CANCELLED;
}

int store_run_end(struct store *st, uint64_t run_id, uint64_t token, const char *node,
		  const struct store_run_end *end, bool *already)
{
	struct run_peek p;
	bool dummy;
	if (!already)
		already = &dummy;
	*already = false;
	/* A fenced worker that comes back reports its runs lost (LEASE_LOST):
	 * acknowledged when the run is lost already, never recorded. */
	if (!end_state_valid(end->state) && end->state != RUN_LOST)
		return -EINVAL;
	int ret = begin_report(st, run_id, token, node, &p);
	if (ret)
		return ret;
	if (run_state_terminal(p.state)) {
		*already = true;
		db_rollback(st->db);
		return 0;
	}
	if (end->state == RUN_LOST) {
		ret = -EINVAL;
		goto fail;
	}
	if (!run_state_active(p.state)) {  /* pending with a node: impossible */
		ret = -ESTALE;
		goto fail;
	}
	sqlite3_stmt *s = store__stmt(st, SQ_RUN_END);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	rc |= sqlite3_bind_text(s, 2, run_state_name(end->state), -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int(s, 3, end->exit_code);
	rc |= sqlite3_bind_int(s, 4, end->signal);
	rc |= sqlite3_bind_int64(s, 5, end->started_ms);
	rc |= sqlite3_bind_int64(s, 6, end->finished_ms);
	rc |= store__bind_text(s, 7, end->tail, STORE_TAIL_MAX, true);
	rc |= store__bind_text(s, 8, end->error, STORE_ERROR_MAX, false);
	rc |= store__bind_text(s, 9, end->log_path, 255, false);
	ret = rc ? store__err(st, rc, "bind end") : store__exec(st, s, "end run");
	if (ret)
		goto fail;
	if (end->retry) {
		/* The retry exists as soon as the failure does: no crash between. */
		ret = store__run_create_tx(st, end->retry, end->retry_out);
		if (ret)
			goto fail;
	}
	return store__commit(st);
fail:
	db_rollback(st->db);
	return ret;
}

int store__run_cancel_tx(struct store *st, uint64_t run_id, int64_t now_ms,
			 enum run_state *state_out)
{
	struct run_peek p;
	int ret = run_peek(st, run_id, &p);
	if (ret == 0)
		return -ENOENT;
	if (ret < 0)
		return ret;
	if (run_state_terminal(p.state))
		return -EALREADY;
	sqlite3_stmt *s;
	int rc;
	if (p.state == RUN_PENDING) {
		s = store__stmt(st, SQ_RUN_CANCEL_NOW);
		rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
		rc |= sqlite3_bind_int64(s, 2, now_ms);
		rc |= store__bind_text(s, 3, "cancelled by the operator", STORE_ERROR_MAX,
				       false);
		p.state = RUN_CANCELLED;
	} else {
		/* The worker ends it and says so; until then it stays active. */
		s = store__stmt(st, SQ_RUN_CANCEL_REQ);
		rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	}
	ret = rc ? store__err(st, rc, "bind cancel") : store__exec(st, s, "cancel run");
	if (ret)
		return ret;
	if (state_out)
		*state_out = p.state;
	return 0;
}

int store_run_cancel(struct store *st, uint64_t run_id, int64_t now_ms,
		     enum run_state *state_out)
{
	enum run_state state;
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = store__run_cancel_tx(st, run_id, now_ms, &state);
	if (ret == 0)
		ret = store__commit(st);
	if (ret) {
		db_rollback(st->db);
		return ret;
	}
	if (state_out)
		*state_out = state;
	return 0;
}
