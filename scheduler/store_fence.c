/*
 * store_fence.c - the durable half of fencing (store.h "fencing",
 * schema/sched-002-fencing.sql, DESIGN rule 4).
 *
 * A fence request and the runs it holds change together: opening moves
 * the node's dispatched/running runs to fencing, confirming moves them
 * to lost, cancelling puts them back, each in the one BEGIN IMMEDIATE
 * transaction that also changes the request, so no crash can leave a
 * confirmed request with fencing runs or a lost run under an open one.
 * Triggers of schema 2 refuse those states whatever this file does.
 *
 * The runs a step moves are read first (into memory) and then updated
 * one by one, so no statement is stepped while the table changes under
 * it, and each moved run gets its own event.
 *
 * Statements: fencing is rare (a node dying), so this file prepares its
 * statements per call from its own table (fence_sql[]) and finalizes
 * them before returning, instead of adding them to store_sql[] in
 * store.c.  Every statement is exercised by tests/unit/test_store_fence.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store.h"
#include "store_int.h"

/* The columns read by read_fence(). */
#define FENCE_COLS                                                                 \
	"f.id, f.node, f.address, f.incarnation, f.reason, f.state, f.confirmed_by, " \
	"f.created_ms, f.updated_ms, f.closed_ms, f.attempts, f.next_attempt_ms, "     \
	"f.last_error, f.paused_by_storm, f.note, "                                    \
	"(SELECT count(*) FROM runs r WHERE r.fence_id = f.id AND r.state = 'fencing'), " \
	"(SELECT count(*) FROM runs r WHERE r.fence_id = f.id AND r.state = 'lost') "     \
	"FROM fence_requests f"

enum fq_id {
	FQ_OPEN_GET,       /* ?1 node -> FENCE_COLS */
	FQ_INSERT,         /* ?1 node, ?2 address, ?3 incarnation, ?4 reason, ?5 now_ms */
	FQ_NODE_ACTIVE,    /* ?1 node -> run_id, task, state of dispatched/running runs */
	FQ_NODE_FENCING,   /* ?1 node -> run_id, task, state of fencing runs */
	FQ_COUNT_FENCING,  /* ?1 node -> count */
	FQ_RUN_FENCE,      /* ?1 run_id, ?2 request id */
	FQ_RUN_LOSE,       /* ?1 run_id, ?2 now_ms, ?3 error */
	FQ_RUN_RESTORE,    /* ?1 run_id */
	FQ_CLOSE,          /* ?1 id, ?2 state, ?3 confirmed_by, ?4 now_ms, ?5 note;
			    * closed_ms is at least 1: 0 means open */
	FQ_REQ_PEEK,       /* ?1 id -> node, last_error, attempts, state */
	FQ_ATTEMPT_INSERT, /* ?1 request, ?2 started, ?3 finished, ?4 exit, ?5 signal,
			    * ?6 timed_out, ?7 output */
	FQ_ATTEMPT_NOTE,   /* ?1 id, ?2 last_error, ?3 next_attempt_ms, ?4 finished_ms */
	FQ_SET_PAUSED,     /* ?1 node or NULL, ?2 paused, ?3 now_ms */
	FQ_LIST,           /* ?1 closed limit -> FENCE_COLS */
	FQ_ATTEMPTS,       /* ?1 request, ?2 limit */
	FQ__COUNT
};

/* WHERE clauses on run states repeat the text of runs_unfinished in
 * schema/sched-001-init.sql verbatim, so the planner scans only the
 * unfinished runs for a node's runs. */
#define UNFINISHED "r.state IN ('pending', 'dispatched', 'running', 'fencing')"

static const char *const fence_sql[FQ__COUNT] = {
	[FQ_OPEN_GET] = "SELECT " FENCE_COLS " WHERE f.node = ?1 AND f.state = 'open'",
	[FQ_INSERT] =
		"INSERT INTO fence_requests (node, address, incarnation, reason, created_ms, "
		"updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
	[FQ_NODE_ACTIVE] =
		"SELECT r.run_id, t.name, r.state FROM runs r JOIN tasks t ON t.id = r.task_id "
		"WHERE " UNFINISHED " AND r.state IN ('dispatched', 'running') AND r.node = ?1 "
		"ORDER BY r.run_id",
	[FQ_NODE_FENCING] =
		"SELECT r.run_id, t.name, r.state FROM runs r JOIN tasks t ON t.id = r.task_id "
		"WHERE " UNFINISHED " AND r.state = 'fencing' AND r.node = ?1 ORDER BY r.run_id",
	[FQ_COUNT_FENCING] =
		"SELECT count(*) FROM runs r WHERE " UNFINISHED " AND r.state = 'fencing' "
		"AND r.node = ?1",
	/* SET reads the old row: fenced_from takes the state being left. */
	[FQ_RUN_FENCE] =
		"UPDATE runs SET state = 'fencing', fenced_from = state, fence_id = ?2 "
		"WHERE run_id = ?1 AND state IN ('dispatched', 'running')",
	[FQ_RUN_LOSE] =
		"UPDATE runs SET state = 'lost', finished_ms = ?2, error = ?3 "
		"WHERE run_id = ?1 AND state = 'fencing'",
	[FQ_RUN_RESTORE] =
		"UPDATE runs SET state = fenced_from WHERE run_id = ?1 AND state = 'fencing'",
	[FQ_CLOSE] =
		"UPDATE fence_requests SET state = ?2, confirmed_by = ?3, closed_ms = MAX(?4, 1), "
		"updated_ms = ?4, note = ?5, next_attempt_ms = 0, paused_by_storm = 0 "
		"WHERE id = ?1 AND state = 'open'",
	[FQ_REQ_PEEK] =
		"SELECT node, last_error, attempts, state FROM fence_requests WHERE id = ?1",
	[FQ_ATTEMPT_INSERT] =
		"INSERT INTO fence_attempts (request_id, started_ms, finished_ms, exit_code, "
		"signal, timed_out, output_tail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[FQ_ATTEMPT_NOTE] =
		"UPDATE fence_requests SET attempts = attempts + 1, last_error = ?2, "
		"next_attempt_ms = CASE WHEN state = 'open' THEN ?3 ELSE 0 END, "
		"updated_ms = MAX(updated_ms, ?4) WHERE id = ?1",
	[FQ_SET_PAUSED] =
		"UPDATE fence_requests SET paused_by_storm = ?2, updated_ms = ?3 "
		"WHERE state = 'open' AND (?1 IS NULL OR node = ?1) AND paused_by_storm <> ?2",
	/* Open ones oldest first, then the most recently closed. */
	[FQ_LIST] =
		"SELECT " FENCE_COLS " WHERE f.state = 'open' OR f.id IN "
		"(SELECT id FROM fence_requests WHERE state <> 'open' "
		" ORDER BY closed_ms DESC, id DESC LIMIT ?1) "
		"ORDER BY f.state <> 'open', CASE WHEN f.state = 'open' THEN f.id ELSE 0 END, "
		"f.closed_ms DESC, f.id DESC",
	[FQ_ATTEMPTS] =
		"SELECT id, request_id, started_ms, finished_ms, exit_code, signal, timed_out, "
		"output_tail FROM (SELECT * FROM fence_attempts WHERE request_id = ?1 "
		"ORDER BY id DESC LIMIT ?2) ORDER BY id",
};

_Static_assert(FQ__COUNT <= STORE_MOD_STMT_MAX, "raise STORE_MOD_STMT_MAX");

static const char *const fence_state_names[] = {
	[STORE_FENCE_OPEN] = "open",
	[STORE_FENCE_CONFIRMED] = "confirmed",
	[STORE_FENCE_CANCELLED] = "cancelled",
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *store_fence_state_name(enum store_fence_state s)
{
	if ((unsigned)s < NELEM(fence_state_names) && fence_state_names[s])
		return fence_state_names[s];
	return "?";
}

static enum store_fence_state fence_state_parse(const char *name)
{
	for (size_t i = 0; i < NELEM(fence_state_names); i++)
		if (fence_state_names[i] && strcmp(fence_state_names[i], name) == 0)
			return (enum store_fence_state)i;
	return 0;
}

static bool node_valid(const char *node)
{
	return node && node[0] && strlen(node) <= STORE_NODE_MAX;
}

static void read_fence(sqlite3_stmt *s, struct store_fence_row *out)
{
	char state[16];
	memset(out, 0, sizeof(*out));
	out->id = (uint64_t)sqlite3_column_int64(s, 0);
	store__col_text(s, 1, out->node, sizeof(out->node), false);
	store__col_text(s, 2, out->address, sizeof(out->address), false);
	out->incarnation = (uint64_t)sqlite3_column_int64(s, 3);
	store__col_text(s, 4, out->reason, sizeof(out->reason), false);
	store__col_text(s, 5, state, sizeof(state), false);
	out->state = fence_state_parse(state);
	store__col_text(s, 6, out->confirmed_by, sizeof(out->confirmed_by), false);
	out->created_ms = sqlite3_column_int64(s, 7);
	out->updated_ms = sqlite3_column_int64(s, 8);
	out->closed_ms = sqlite3_column_int64(s, 9);
	out->attempts = sqlite3_column_int(s, 10);
	out->next_attempt_ms = sqlite3_column_int64(s, 11);
	store__col_text(s, 12, out->last_error, sizeof(out->last_error), false);
	out->paused_by_storm = sqlite3_column_int(s, 13) != 0;
	store__col_text(s, 14, out->note, sizeof(out->note), false);
	out->runs_fencing = sqlite3_column_int(s, 15);
	out->runs_lost = sqlite3_column_int(s, 16);
}

/* node's open request: 1 and *out, 0 if none, negative errno. */
static int open_get(struct store__call *q, const char *node, struct store_fence_row *out)
{
	int ret = 0;
	sqlite3_stmt *s = store__call_stmt(q, FQ_OPEN_GET, &ret);
	if (!s)
		return ret;
	int rc = store__bind_text(s, 1, node, STORE_NODE_MAX, false);
	if (rc != SQLITE_OK)
		return store__err(q->st, rc, "bind fence node");
	rc = store__row(q->st, s, "find open fence");
	if (rc <= 0)
		return rc;
	read_fence(s, out);
	sqlite3_reset(s);
	return 1;
}

/* A run a fence step moves. */
struct fence_run {
	uint64_t run_id;
	char task[TASK_NAME_MAX + 1];
	char state[16];
};

/* The runs of node that `which` selects, into v. */
static int node_runs(struct store__call *q, enum fq_id which, const char *node,
		     struct store__vec *v)
{
	int ret = 0;
	sqlite3_stmt *s = store__call_stmt(q, which, &ret);
	if (!s)
		return ret;
	int rc = store__bind_text(s, 1, node, STORE_NODE_MAX, false);
	if (rc != SQLITE_OK)
		return store__err(q->st, rc, "bind fence node");
	while ((rc = store__row(q->st, s, "list runs of node")) == 1) {
		struct fence_run *r = store__vec_push(v);
		if (!r) {
			sqlite3_reset(s);
			return -ENOMEM;
		}
		r->run_id = (uint64_t)sqlite3_column_int64(s, 0);
		store__col_text(s, 1, r->task, sizeof(r->task), false);
		store__col_text(s, 2, r->state, sizeof(r->state), false);
	}
	return rc;
}

/* Step an UPDATE of exactly one run (bound); -EIO if it matched none,
 * which the caller's own read in the same transaction rules out. */
static int exec_one(struct store__call *q, sqlite3_stmt *s, const char *what)
{
	int ret = store__exec(q->st, s, what);
	if (ret)
		return ret;
	if (sqlite3_changes(q->st->db) != 1) {
		log_warnx("store: %s: the run was not in the state just read", what);
		return -EIO;
	}
	return 0;
}

static int count_fencing(struct store__call *q, const char *node, int *n)
{
	int ret = 0;
	sqlite3_stmt *s = store__call_stmt(q, FQ_COUNT_FENCING, &ret);
	if (!s)
		return ret;
	int rc = store__bind_text(s, 1, node, STORE_NODE_MAX, false);
	if (rc != SQLITE_OK)
		return store__err(q->st, rc, "bind fence node");
	rc = store__row(q->st, s, "count fencing runs");
	if (rc <= 0)
		return rc < 0 ? rc : -EIO;
	*n = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	return 0;
}

/* ---- open --------------------------------------------------------------- */

int store_fence_open(struct store *st, const char *node, const char *address,
		     uint64_t incarnation, const char *reason, int64_t now_ms,
		     uint64_t *request_id, int *nruns)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_FENCE, fence_sql);
	struct store__vec v = {.size = sizeof(struct fence_run)};
	struct store_fence_row req;
	bool created = false;
	char msg[1024];
	int ret, rc, total = 0;
	sqlite3_stmt *s;

	if (!node_valid(node) || (address && strlen(address) > STORE_ADDR_MAX))
		return -EINVAL;
	ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = open_get(&q, node, &req);
	if (ret < 0)
		goto fail;
	if (ret == 0) {
		if (!(s = store__call_stmt(&q, FQ_INSERT, &ret)))
			goto fail;
		rc = store__bind_text(s, 1, node, STORE_NODE_MAX, false);
		rc |= store__bind_text(s, 2, address ? address : "", STORE_ADDR_MAX, false);
		rc |= sqlite3_bind_int64(s, 3, (sqlite3_int64)incarnation);
		rc |= store__bind_text(s, 4, reason ? reason : "", STORE_FENCE_REASON_MAX, false);
		rc |= sqlite3_bind_int64(s, 5, now_ms);
		ret = rc ? store__err(st, rc, "bind fence") : store__exec(st, s, "open fence");
		if (ret)
			goto fail;
		req.id = (uint64_t)sqlite3_last_insert_rowid(st->db);
		created = true;
	}

	ret = node_runs(&q, FQ_NODE_ACTIVE, node, &v);
	if (ret)
		goto fail;
	for (size_t i = 0; i < v.n; i++) {
		const struct fence_run *r = (const struct fence_run *)v.items + i;
		if (!(s = store__call_stmt(&q, FQ_RUN_FENCE, &ret)))
			goto fail;
		rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)r->run_id);
		rc |= sqlite3_bind_int64(s, 2, (sqlite3_int64)req.id);
		ret = rc ? store__err(st, rc, "bind fence run") : exec_one(&q, s, "fence run");
		if (ret)
			goto fail;
		snprintf(msg, sizeof(msg), "was %s on %s; held until the fence of %s is "
			 "confirmed or called off", r->state, node, node);
		ret = store__event_add(st, now_ms, "run_fencing", r->task, r->run_id, node, msg);
		if (ret)
			goto fail;
	}
	ret = count_fencing(&q, node, &total);
	if (ret)
		goto fail;
	if (created) {
		snprintf(msg, sizeof(msg), "fence requested for %s (%s, incarnation %llu): %s; "
			 "%d runs fencing", node, address ? address : "",
			 (unsigned long long)incarnation, reason ? reason : "", total);
		ret = store__event_add(st, now_ms, "fence_open", NULL, 0, node, msg);
		if (ret)
			goto fail;
	}
	ret = store__commit(st);
	if (ret)
		goto fail;
	store__vec_free(&v);
	store__call_end(&q);
	if (request_id)
		*request_id = req.id;
	if (nruns)
		*nruns = total;
	return 0;
fail:
	db_rollback(st->db);
	store__vec_free(&v);
	store__call_end(&q);
	return ret;
}

/* ---- attempts ----------------------------------------------------------- */

/* The last non-empty line of out, trimmed, into buf. */
static void last_line(const char *out, char *buf, size_t size)
{
	buf[0] = '\0';
	if (!out)
		return;
	size_t end = strlen(out);
	while (end > 0 && (out[end - 1] == '\n' || out[end - 1] == '\r' ||
			   out[end - 1] == ' ' || out[end - 1] == '\t'))
		end--;
	size_t start = end;
	while (start > 0 && out[start - 1] != '\n')
		start--;
	while (start < end && (out[start] == ' ' || out[start] == '\t'))
		start++;
	size_t len = store__utf8_head(out + start, end - start, size - 1);
	memcpy(buf, out + start, len);
	buf[len] = '\0';
}

/* What a hook call says about confirmation: "" for exit 0. */
static void attempt_error(int exit_code, int sig, bool timed_out, const char *output,
			  char *buf, size_t size)
{
	char what[64], line[256];
	if (timed_out)
		snprintf(what, sizeof(what), "timed out");
	else if (sig)
		snprintf(what, sizeof(what), "killed by signal %d", sig);
	else if (exit_code != 0)
		snprintf(what, sizeof(what), "exit %d", exit_code);
	else {
		buf[0] = '\0';
		return;
	}
	last_line(output, line, sizeof(line));
	if (line[0])
		snprintf(buf, size, "%s: %s", what, line);
	else
		snprintf(buf, size, "%s", what);
}

int store_fence_attempt(struct store *st, uint64_t request_id, int64_t started_ms,
			int64_t finished_ms, int exit_code, int signal, bool timed_out,
			const char *output, int64_t next_attempt_ms)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_FENCE, fence_sql);
	char node[STORE_NODE_MAX + 1], prev[STORE_ERROR_MAX + 1], state[16];
	char err[STORE_ERROR_MAX + 1], msg[1024];
	int attempts, ret, rc;
	sqlite3_stmt *s;

	attempt_error(exit_code, signal, timed_out, output, err, sizeof(err));
	ret = db_begin(st->db);
	if (ret)
		return ret;
	if (!(s = store__call_stmt(&q, FQ_REQ_PEEK, &ret)))
		goto fail;
	rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)request_id);
	if (rc != SQLITE_OK) {
		ret = store__err(st, rc, "bind fence");
		goto fail;
	}
	ret = store__row(st, s, "read fence");
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto fail;
	store__col_text(s, 0, node, sizeof(node), false);
	store__col_text(s, 1, prev, sizeof(prev), false);
	attempts = sqlite3_column_int(s, 2);
	store__col_text(s, 3, state, sizeof(state), false);
	sqlite3_reset(s);

	if (!(s = store__call_stmt(&q, FQ_ATTEMPT_INSERT, &ret)))
		goto fail;
	rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)request_id);
	rc |= sqlite3_bind_int64(s, 2, started_ms);
	rc |= sqlite3_bind_int64(s, 3, finished_ms);
	rc |= sqlite3_bind_int(s, 4, exit_code);
	rc |= sqlite3_bind_int(s, 5, signal);
	rc |= sqlite3_bind_int(s, 6, timed_out ? 1 : 0);
	rc |= store__bind_text(s, 7, output ? output : "", STORE_TAIL_MAX, true);
	ret = rc ? store__err(st, rc, "bind attempt") : store__exec(st, s, "record attempt");
	if (ret)
		goto fail;

	if (!(s = store__call_stmt(&q, FQ_ATTEMPT_NOTE, &ret)))
		goto fail;
	rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)request_id);
	rc |= store__bind_text(s, 2, err, STORE_ERROR_MAX, false);
	rc |= sqlite3_bind_int64(s, 3, next_attempt_ms);
	rc |= sqlite3_bind_int64(s, 4, finished_ms);
	ret = rc ? store__err(st, rc, "bind attempt") : store__exec(st, s, "note attempt");
	if (ret)
		goto fail;

	/* The event log says when the outcome changes (first failure, a new
	 * kind of failure, success), not every retry of the same failure. */
	if (attempts == 0 || strcmp(prev, err) != 0) {
		if (err[0])
			snprintf(msg, sizeof(msg), "fence hook for %s failed (attempt %d%s): %s",
				 node, attempts + 1,
				 strcmp(state, "open") ? ", request closed" : "", err);
		else
			snprintf(msg, sizeof(msg), "fence hook for %s exited 0 (attempt %d)", node,
				 attempts + 1);
		ret = store__event_add(st, finished_ms, "fence_attempt", NULL, 0, node, msg);
		if (ret)
			goto fail;
	}
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

/* ---- confirm / cancel --------------------------------------------------- */

static int close_request(struct store__call *q, uint64_t id, const char *state, const char *by,
			 int64_t now_ms, const char *note)
{
	int ret = 0;
	sqlite3_stmt *s = store__call_stmt(q, FQ_CLOSE, &ret);
	if (!s)
		return ret;
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
	rc |= sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	rc |= by ? sqlite3_bind_text(s, 3, by, -1, SQLITE_STATIC) : sqlite3_bind_null(s, 3);
	rc |= sqlite3_bind_int64(s, 4, now_ms);
	rc |= store__bind_text(s, 5, note ? note : "", STORE_ERROR_MAX, false);
	if (rc != SQLITE_OK)
		return store__err(q->st, rc, "bind fence close");
	ret = store__exec(q->st, s, "close fence");
	if (ret == 0 && sqlite3_changes(q->st->db) != 1)
		ret = -EIO;  /* read as open in this transaction: impossible */
	return ret;
}

int store_fence_confirm(struct store *st, const char *node, const char *by, int64_t now_ms,
			struct store_fence_retry *retries, size_t nretries, int *nlost)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_FENCE, fence_sql);
	struct store__vec v = {.size = sizeof(struct fence_run)};
	struct store_fence_row req;
	char err[STORE_ERROR_MAX + 1], msg[1024];
	int ret, rc;

	if (!node_valid(node) || !by || (strcmp(by, "hook") != 0 && strcmp(by, "operator") != 0))
		return -EINVAL;
	ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = open_get(&q, node, &req);
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto fail;
	snprintf(err, sizeof(err), "fenced: node %s confirmed isolated by %s", node, by);
	/* The request first: runs_lost_needs_confirmed_fence checks it. */
	ret = close_request(&q, req.id, "confirmed", by, now_ms, err);
	if (ret)
		goto fail;
	ret = node_runs(&q, FQ_NODE_FENCING, node, &v);
	if (ret)
		goto fail;
	for (size_t i = 0; i < v.n; i++) {
		const struct fence_run *r = (const struct fence_run *)v.items + i;
		sqlite3_stmt *s = store__call_stmt(&q, FQ_RUN_LOSE, &ret);
		if (!s)
			goto fail;
		rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)r->run_id);
		rc |= sqlite3_bind_int64(s, 2, now_ms);
		rc |= store__bind_text(s, 3, err, STORE_ERROR_MAX, false);
		ret = rc ? store__err(st, rc, "bind lose run") : exec_one(&q, s, "lose run");
		if (ret)
			goto fail;
		ret = store__event_add(st, now_ms, "run_lost", r->task, r->run_id, node, err);
		if (ret)
			goto fail;
		/* Its retry exists as soon as the loss does: no crash between. */
		for (size_t k = 0; k < nretries; k++)
			if (retries[k].run_id == r->run_id) {
				ret = store__run_create_tx(st, &retries[k].rn, &retries[k].out);
				if (ret)
					goto fail;
			}
	}
	snprintf(msg, sizeof(msg), "%s confirmed isolated by %s after %d hook calls; %zu runs lost",
		 node, by, req.attempts, v.n);
	ret = store__event_add(st, now_ms, "fence_confirm", NULL, 0, node, msg);
	if (ret)
		goto fail;
	ret = store__commit(st);
	if (ret)
		goto fail;
	if (nlost)
		*nlost = (int)v.n;
	store__vec_free(&v);
	store__call_end(&q);
	return 0;
fail:
	db_rollback(st->db);
	store__vec_free(&v);
	store__call_end(&q);
	return ret;
}

int store_fence_cancel(struct store *st, const char *node, const char *why, int64_t now_ms,
		       int *nrestored)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_FENCE, fence_sql);
	struct store__vec v = {.size = sizeof(struct fence_run)};
	struct store_fence_row req;
	char msg[1024];
	int ret, rc;

	if (!node_valid(node))
		return -EINVAL;
	ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = open_get(&q, node, &req);
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto fail;
	/* The request first: runs_unfence_restores wants it cancelled. */
	ret = close_request(&q, req.id, "cancelled", NULL, now_ms, why ? why : "cancelled");
	if (ret)
		goto fail;
	ret = node_runs(&q, FQ_NODE_FENCING, node, &v);
	if (ret)
		goto fail;
	for (size_t i = 0; i < v.n; i++) {
		const struct fence_run *r = (const struct fence_run *)v.items + i;
		sqlite3_stmt *s = store__call_stmt(&q, FQ_RUN_RESTORE, &ret);
		if (!s)
			goto fail;
		rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)r->run_id);
		ret = rc ? store__err(st, rc, "bind restore run") : exec_one(&q, s, "restore run");
		if (ret)
			goto fail;
	}
	snprintf(msg, sizeof(msg), "fence of %s called off (%s); %zu runs restored", node,
		 why ? why : "", v.n);
	ret = store__event_add(st, now_ms, "fence_cancel", NULL, 0, node, msg);
	if (ret)
		goto fail;
	ret = store__commit(st);
	if (ret)
		goto fail;
	if (nrestored)
		*nrestored = (int)v.n;
	store__vec_free(&v);
	store__call_end(&q);
	return 0;
fail:
	db_rollback(st->db);
	store__vec_free(&v);
	store__call_end(&q);
	return ret;
}

/* ---- storm guard -------------------------------------------------------- */

int store_fence_set_paused(struct store *st, const char *node, bool paused, int64_t now_ms,
			   int *nchanged)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_FENCE, fence_sql);
	struct store_fence_row req;
	char msg[128];
	int ret, rc, n;
	sqlite3_stmt *s;

	if (node && !node_valid(node))
		return -EINVAL;
	ret = db_begin(st->db);
	if (ret)
		return ret;
	if (node) {
		ret = open_get(&q, node, &req);
		if (ret == 0)
			ret = -ENOENT;
		if (ret < 0)
			goto fail;
	}
	if (!(s = store__call_stmt(&q, FQ_SET_PAUSED, &ret)))
		goto fail;
	rc = node ? store__bind_text(s, 1, node, STORE_NODE_MAX, false) : sqlite3_bind_null(s, 1);
	rc |= sqlite3_bind_int(s, 2, paused ? 1 : 0);
	rc |= sqlite3_bind_int64(s, 3, now_ms);
	ret = rc ? store__err(st, rc, "bind pause") : store__exec(st, s, "pause fences");
	if (ret)
		goto fail;
	n = sqlite3_changes(st->db);
	if (n > 0) {
		snprintf(msg, sizeof(msg), "%s %d fence requests (storm guard)",
			 paused ? "paused" : "resumed", n);
		ret = store__event_add(st, now_ms, paused ? "fence_paused" : "fence_resumed", NULL,
				       0, node, msg);
		if (ret)
			goto fail;
	}
	ret = store__commit(st);
	if (ret)
		goto fail;
	store__call_end(&q);
	if (nchanged)
		*nchanged = n;
	return 0;
fail:
	db_rollback(st->db);
	store__call_end(&q);
	return ret;
}

/* ---- reading ------------------------------------------------------------ */

int store_fence_open_for(struct store *st, const char *node, struct store_fence_row *out)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_FENCE, fence_sql);
	if (!node_valid(node))
		return -EINVAL;
	int ret = open_get(&q, node, out);
	store__call_end(&q);
	return ret < 0 ? ret : ret == 0 ? -ENOENT : 0;
}

/* Rows are read into memory first, then called back, so a callback may
 * call any store function (as in store_query.c). */
int store_fence_list(struct store *st, store_fence_cb cb, void *arg)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_FENCE, fence_sql);
	struct store__vec v = {.size = sizeof(struct store_fence_row)};
	int ret = 0, rc;
	sqlite3_stmt *s = store__call_stmt(&q, FQ_LIST, &ret);
	if (!s)
		goto out;
	rc = sqlite3_bind_int(s, 1, STORE_FENCE_LIST_CLOSED);
	if (rc != SQLITE_OK) {
		ret = store__err(st, rc, "bind fence list");
		goto out;
	}
	while ((ret = store__row(st, s, "list fences")) == 1) {
		struct store_fence_row *row = store__vec_push(&v);
		if (!row) {
			sqlite3_reset(s);
			ret = -ENOMEM;
			goto out;
		}
		read_fence(s, row);
	}
	store__call_end(&q);  /* nothing stepped while the callbacks run */
	for (size_t i = 0; ret == 0 && i < v.n; i++)
		ret = cb(arg, (const struct store_fence_row *)v.items + i);
out:
	store__call_end(&q);
	store__vec_free(&v);
	return ret;
}

int store_fence_attempts(struct store *st, uint64_t request_id, store_fence_attempt_cb cb,
			 void *arg)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_FENCE, fence_sql);
	struct store__vec v = {.size = sizeof(struct store_fence_attempt_row)};
	int ret = 0, rc;
	sqlite3_stmt *s = store__call_stmt(&q, FQ_REQ_PEEK, &ret);
	if (!s)
		goto out;
	rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)request_id);
	if (rc != SQLITE_OK) {
		ret = store__err(st, rc, "bind fence");
		goto out;
	}
	ret = store__row(st, s, "read fence");
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto out;
	sqlite3_reset(s);

	if (!(s = store__call_stmt(&q, FQ_ATTEMPTS, &ret)))
		goto out;
	rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)request_id);
	rc |= sqlite3_bind_int(s, 2, STORE_FENCE_ATTEMPTS_MAX);
	if (rc != SQLITE_OK) {
		ret = store__err(st, rc, "bind attempts");
		goto out;
	}
	while ((ret = store__row(st, s, "list attempts")) == 1) {
		struct store_fence_attempt_row *a = store__vec_push(&v);
		if (!a) {
			sqlite3_reset(s);
			ret = -ENOMEM;
			goto out;
		}
		a->id = (uint64_t)sqlite3_column_int64(s, 0);
		a->request_id = (uint64_t)sqlite3_column_int64(s, 1);
		a->started_ms = sqlite3_column_int64(s, 2);
		a->finished_ms = sqlite3_column_int64(s, 3);
		a->exit_code = sqlite3_column_int(s, 4);
		a->signal = sqlite3_column_int(s, 5);
		a->timed_out = sqlite3_column_int(s, 6) != 0;
		store__col_text(s, 7, a->output, sizeof(a->output), true);
	}
	store__call_end(&q);
	for (size_t i = 0; ret == 0 && i < v.n; i++)
		ret = cb(arg, (const struct store_fence_attempt_row *)v.items + i);
out:
	store__call_end(&q);
	store__vec_free(&v);
	return ret;
}
