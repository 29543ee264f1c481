/*
 * store.c - the scheduler's database (see store.h): opening it, the one
 * table of every SQL statement the store runs, the helpers the other
 * store files share (store_int.h), and the task, node and event writes.
 * Task definitions are in store_tasks.c, run transitions in
 * store_runs.c, listings in store_query.c.
 *
 * Discipline, everywhere in the store: every write is one BEGIN
 * IMMEDIATE transaction, committed (synchronous=FULL, so durable) before
 * the function returns; any failure inside rolls the whole transaction
 * back, so a function either did everything it says or nothing.
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "store_int.h"

/* Every statement of the store.  WHERE clauses on run states repeat the
 * text of the partial indexes in schema/sched-001-init.sql verbatim, so
 * the planner uses them. */
static const char *const store_sql[SQ__COUNT] = {
	[SQ_TASK_GET] =
		"SELECT id, command, schedule, timezone, timeout_ms, overlap, catch_up, "
		"retries, retry_backoff_ms, priority, labels, after_tasks, debounce_ms, "
		"source_file, source_line, paused, removed, cursor_s, last_token "
		"FROM tasks WHERE name = ?1",
	[SQ_TASK_INSERT] =
		"INSERT INTO tasks (name, command, schedule, timezone, timeout_ms, overlap, "
		"catch_up, retries, retry_backoff_ms, priority, labels, after_tasks, "
		"debounce_ms, source_file, source_line, cursor_s, created_ms, updated_ms) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
		"?16, ?17, ?17)",
	[SQ_TASK_UPDATE] =
		"UPDATE tasks SET command = ?2, schedule = ?3, timezone = ?4, timeout_ms = ?5, "
		"overlap = ?6, catch_up = ?7, retries = ?8, retry_backoff_ms = ?9, "
		"priority = ?10, labels = ?11, after_tasks = ?12, debounce_ms = ?13, "
		"source_file = ?14, source_line = ?15, removed = 0, "
		"cursor_s = MAX(cursor_s, ?16), updated_ms = ?17 WHERE name = ?1",
	[SQ_TASK_LOCATE] =
		"UPDATE tasks SET source_file = ?2, source_line = ?3 WHERE name = ?1",
	[SQ_TASK_LIVE] = "SELECT id, name FROM tasks WHERE removed = 0 ORDER BY name",
	[SQ_TASK_REMOVE] = "UPDATE tasks SET removed = 1, updated_ms = ?2 WHERE id = ?1",
	[SQ_TASK_SET_PAUSED] = "UPDATE tasks SET paused = ?2 WHERE id = ?1",
	[SQ_TASK_SET_CURSOR] = "UPDATE tasks SET cursor_s = MAX(cursor_s, ?2) WHERE id = ?1",
	[SQ_TASK_SET_TOKEN] = "UPDATE tasks SET last_token = ?2 WHERE id = ?1",
	[SQ_RUN_ACTIVE_OF] =
		"SELECT run_id FROM runs WHERE task_id = ?1 "
		"AND state IN ('dispatched', 'running', 'fencing')",
	[SQ_RUN_PENDING_OF] =
		"SELECT run_id FROM runs WHERE task_id = ?1 AND state = 'pending'",
	[SQ_RUN_INSERT] =
		"INSERT INTO runs (task_id, token, reason, state, attempt, scheduled_for, "
		"created_ms, finished_ms, error, not_before_ms) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[SQ_RUN_PEEK] = "SELECT token, state, node, cancel_requested, task_id FROM runs WHERE run_id = ?1",
	[SQ_RUN_ASSIGN] =
		"UPDATE runs SET state = 'dispatched', node = ?2, dispatched_ms = ?3 "
		"WHERE run_id = ?1 AND state = 'pending'",
	[SQ_RUN_UNASSIGN] =
		"UPDATE runs SET state = 'pending', node = '', dispatched_ms = 0, "
		"error = ?2, token = (SELECT last_token FROM tasks WHERE id = runs.task_id) "
		"WHERE run_id = ?1",
	[SQ_TASK_BUMP_TOKEN] = "UPDATE tasks SET last_token = last_token + 1 WHERE id = ?1",
	[SQ_RUN_CANCEL_NOW] =
		"UPDATE runs SET state = 'cancelled', cancel_requested = 1, finished_ms = ?2, "
		"error = ?3 WHERE run_id = ?1",
	[SQ_RUN_SUPERSEDE] =
		"UPDATE runs SET state = 'skipped', finished_ms = ?2, error = ?3 "
		"WHERE run_id = ?1 AND state = 'pending'",
	[SQ_RUN_CANCEL_REQ] = "UPDATE runs SET cancel_requested = 1 WHERE run_id = ?1",
	[SQ_RUN_STARTED] =
		"UPDATE runs SET state = 'running', started_ms = ?2 WHERE run_id = ?1",
	[SQ_RUN_END] =
		"UPDATE runs SET state = ?2, exit_code = ?3, signal = ?4, "
		"started_ms = CASE WHEN ?5 > 0 THEN ?5 ELSE started_ms END, "
		"finished_ms = ?6, output_tail = COALESCE(?7, output_tail), "
		"error = COALESCE(?8, error), log_path = COALESCE(?9, log_path) "
		"WHERE run_id = ?1",
	[SQ_RUN_GET] = "SELECT " STORE_RUN_COLS " WHERE r.run_id = ?1",
	[SQ_RUN_FENCE_INC] = "SELECT f.incarnation FROM runs r JOIN fence_requests f "
			     "ON f.id = r.fence_id WHERE r.run_id = ?1",
	[SQ_RUNS_UNFINISHED] =
		"SELECT " STORE_RUN_COLS
		" WHERE r.state IN ('pending', 'dispatched', 'running', 'fencing') "
		"ORDER BY r.run_id",
	[SQ_RUNS_HISTORY] =
		"SELECT " STORE_RUN_COLS " WHERE r.task_id = ?1 ORDER BY r.run_id DESC LIMIT ?2",
	[SQ_TASKS_LIST] =
		"SELECT t.name, t.schedule, t.timezone, t.command, t.overlap, t.catch_up, "
		"t.labels, t.priority, t.retries, t.paused, t.removed, t.cursor_s, "
		"l.run_id, l.state, l.finished_ms, "
		"(SELECT a.run_id FROM runs a WHERE a.task_id = t.id "
		" AND a.state IN ('dispatched', 'running', 'fencing')) "
		"FROM tasks t LEFT JOIN runs l ON l.run_id = "
		"(SELECT MAX(m.run_id) FROM runs m WHERE m.task_id = t.id) "
		"WHERE ?1 OR t.removed = 0 ORDER BY t.name",
	[SQ_NODE_UPSERT] =
		"INSERT INTO nodes (name, addr, slots, labels, first_seen_ms, last_hello_ms, "
		"incarnation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (name) DO UPDATE SET "
		"addr = excluded.addr, slots = excluded.slots, labels = excluded.labels, "
		"last_hello_ms = excluded.last_hello_ms, incarnation = excluded.incarnation",
	[SQ_NODE_DRAIN] =
		"UPDATE nodes SET drained_ms = ?2 WHERE name = ?1",
	[SQ_NODES_LIST] =
		"SELECT name, addr, slots, labels, first_seen_ms, last_hello_ms, drained_ms, "
		"incarnation "
		"FROM nodes ORDER BY name",
	[SQ_EVENT_INSERT] =
		"INSERT INTO events (at_ms, kind, task, run_id, node, message) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[SQ_EVENTS_RECENT] =
		"SELECT id, at_ms, kind, task, run_id, node, message FROM events "
		"ORDER BY id DESC LIMIT ?1",
	/* Only runs the schedule made (and their retries) belong to a cycle:
	 * runs_history serves task_id, newest first.  A retry copies the
	 * scheduled_for of its first attempt, which for a manual or trigger
	 * run is only the time it was made: a retry counts if the cycle has
	 * a first attempt the schedule made before it. */
	[SQ_RUN_OF_CYCLE] =
		"SELECT " STORE_RUN_COLS " WHERE r.task_id = "
		"(SELECT id FROM tasks WHERE name = ?1) AND r.scheduled_for = ?2 "
		"AND (r.reason IN ('schedule', 'catch_up') OR (r.reason = 'retry' AND "
		"EXISTS (SELECT 1 FROM runs c WHERE c.task_id = r.task_id "
		"AND c.scheduled_for = r.scheduled_for AND c.attempt = 1 "
		"AND c.reason IN ('schedule', 'catch_up') AND c.run_id < r.run_id))) "
		"ORDER BY r.run_id DESC LIMIT 1",
};

/* ---- shared helpers (store_int.h) -------------------------------------- */

sqlite3_stmt *store__stmt(struct store *st, enum store_sq id)
{
	assert(id < SQ__COUNT && st->stmt[id]);
	sqlite3_stmt *s = st->stmt[id];
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static const char *const store_mod_names[STORE_MOD__COUNT] = {
	[STORE_MOD_FENCE] = "fence",
	[STORE_MOD_TRIGGER] = "trigger",
	[STORE_MOD_CKPT] = "checkpoint",
	[STORE_MOD_DEPS] = "dependency",
	[STORE_MOD_RETRY] = "retry",
};

sqlite3_stmt *store__call_stmt(struct store__call *c, int id, int *ret)
{
	assert(c->mod < STORE_MOD__COUNT && c->n <= STORE_MOD_STMT_MAX && c->n <= 32);
	assert(id >= 0 && id < c->n);
	sqlite3_stmt **slot = &c->st->mod[c->mod][id];
	if (*slot) {
		sqlite3_reset(*slot);
		sqlite3_clear_bindings(*slot);
	} else {
		int rc = sqlite3_prepare_v2(c->st->db, c->sql[id], -1, slot, NULL);
		if (rc != SQLITE_OK) {
			log_warnx("store: prepare %s statement %d: %s", store_mod_names[c->mod],
				  id, sqlite3_errmsg(c->st->db));
			sqlite3_finalize(*slot);
			*slot = NULL;
			*ret = (rc & 0xff) == SQLITE_NOMEM ? -ENOMEM : -EIO;
			return NULL;
		}
	}
	c->used |= UINT32_C(1) << id;
	return *slot;
}

void store__call_end(struct store__call *c)
{
	for (int i = 0; i < c->n; i++)
		if (c->used & (UINT32_C(1) << i)) {
			/* Also drop bindings: some point at the caller's memory
			 * (SQLITE_STATIC) and the statement outlives the call. */
			sqlite3_reset(c->st->mod[c->mod][i]);
			sqlite3_clear_bindings(c->st->mod[c->mod][i]);
		}
	c->used = 0;
}

int store__err(struct store *st, int rc, const char *what)
{
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return -EBUSY;
	log_warnx("store: %s: %s (%s)", what, sqlite3_errmsg(st->db), sqlite3_errstr(rc));
	return (rc & 0xff) == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

int store__exec(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return 0;
	/* sqlite3_step() reports the extended code when extended result
	 * codes are on (db_open turns them on). */
	return store__err(st, rc, what);
}

int store__row(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return 0;
	return store__err(st, rc, what);
}

size_t store__utf8_head(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t len = max;
	while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
		len--;
	return len;
}

/* Offset of the last at most max bytes of s[0..n), at a boundary. */
static size_t utf8_tail_start(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return 0;
	size_t start = n - max;
	while (start < n && ((unsigned char)s[start] & 0xC0) == 0x80)
		start++;
	return start;
}

int store__bind_text(sqlite3_stmt *s, int idx, const char *txt, size_t max, bool keep_end)
{
	if (!txt)
		return sqlite3_bind_null(s, idx);
	size_t n = strlen(txt), start = 0, len;
	if (keep_end) {
		start = utf8_tail_start(txt, n, max);
		len = n - start;
	} else {
		len = store__utf8_head(txt, n, max);
	}
	return sqlite3_bind_text(s, idx, txt + start, (int)len, SQLITE_TRANSIENT);
}

void store__col_text(sqlite3_stmt *s, int col, char *buf, size_t size, bool keep_end)
{
	const char *t = (const char *)sqlite3_column_text(s, col);
	size_t n = (size_t)sqlite3_column_bytes(s, col), start = 0, len;
	if (!t || size == 0) {
		if (size)
			buf[0] = '\0';
		return;
	}
	if (keep_end) {
		start = utf8_tail_start(t, n, size - 1);
		len = n - start;
	} else {
		len = store__utf8_head(t, n, size - 1);
	}
	memcpy(buf, t + start, len);
	buf[len] = '\0';
}

int store__task_find(struct store *st, const char *name, struct store__task *out)
{
	/* Never truncate a name into another task's name. */
	if (!name || strlen(name) > TASK_NAME_MAX)
		return 0;
	sqlite3_stmt *s = store__stmt(st, SQ_TASK_GET);
	if (store__bind_text(s, 1, name, TASK_NAME_MAX, false) != SQLITE_OK)
		return -ENOMEM;
	int rc = store__row(st, s, "find task");
	if (rc <= 0)
		return rc;
	out->id = sqlite3_column_int64(s, 0);
	out->paused = sqlite3_column_int(s, 15) != 0;
	out->removed = sqlite3_column_int(s, 16) != 0;
	out->cursor_s = sqlite3_column_int64(s, 17);
	out->last_token = (uint64_t)sqlite3_column_int64(s, 18);
	sqlite3_reset(s);
	return 1;
}

int store__event_add(struct store *st, int64_t at_ms, const char *kind, const char *task,
		     uint64_t run_id, const char *node, const char *msg)
{
	sqlite3_stmt *s = store__stmt(st, SQ_EVENT_INSERT);
	int rc = sqlite3_bind_int64(s, 1, at_ms);
	rc |= store__bind_text(s, 2, kind ? kind : "", 31, false);
	rc |= store__bind_text(s, 3, task, TASK_NAME_MAX, false);
	rc |= run_id ? sqlite3_bind_int64(s, 4, (sqlite3_int64)run_id) : sqlite3_bind_null(s, 4);
	rc |= store__bind_text(s, 5, node, STORE_NODE_MAX, false);
	rc |= store__bind_text(s, 6, msg ? msg : "", 511, false);
	if (rc != SQLITE_OK)
		return store__err(st, rc, "bind event");
	return store__exec(st, s, "insert event");
}

int store__commit(struct store *st)
{
	if (db_commit(st->db) == 0)
		return 0;
	db_rollback(st->db);
	return -EIO;
}

void *store__vec_push(struct store__vec *v)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		void *p = realloc(v->items, cap * v->size);
		if (!p)
			return NULL;
		v->items = p;
		v->cap = cap;
	}
	void *slot = (char *)v->items + v->n * v->size;
	memset(slot, 0, v->size);
	v->n++;
	return slot;
}

void store__vec_free(struct store__vec *v)
{
	free(v->items);
	v->items = NULL;
	v->n = v->cap = 0;
}

/* ---- open / close ------------------------------------------------------ */

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	int ret;

	*out = NULL;
	if (!st) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	ret = db_open(path, db_sched_migrations, db_sched_migrations_n, &st->db, err, errlen);
	if (ret)
		goto fail;
	for (int i = 0; i < SQ__COUNT; i++) {
		ret = db_prepare(st->db, store_sql[i], &st->stmt[i]);
		if (ret) {
			snprintf(err, errlen, "%s: cannot prepare statement %d: %s", path, i,
				 sqlite3_errmsg(st->db));
			goto fail;
		}
	}
	*out = st;
	return 0;
fail:
	store_close(st);
	return ret;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (int i = 0; i < SQ__COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	for (int m = 0; m < STORE_MOD__COUNT; m++)
		for (int i = 0; i < STORE_MOD_STMT_MAX; i++)
			sqlite3_finalize(st->mod[m][i]);
	if (st->db && sqlite3_close(st->db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(st->db));
	free(st);
}

/* ---- nodes ------------------------------------------------------------- */

int store_node_upsert(struct store *st, const struct store_node *n)
{
	if (!n->name[0] || strnlen(n->name, sizeof(n->name)) > STORE_NODE_MAX)
		return -EINVAL;
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	sqlite3_stmt *s = store__stmt(st, SQ_NODE_UPSERT);
	int rc = store__bind_text(s, 1, n->name, STORE_NODE_MAX, false);
	rc |= store__bind_text(s, 2, n->addr, STORE_ADDR_MAX, false);
	rc |= sqlite3_bind_int(s, 3, n->slots < 0 ? 0 : n->slots);
	rc |= store__bind_text(s, 4, n->labels, TASK_LABELS_MAX, false);
	rc |= sqlite3_bind_int64(s, 5, n->first_seen_ms ? n->first_seen_ms : n->last_hello_ms);
	rc |= sqlite3_bind_int64(s, 6, n->last_hello_ms);
	rc |= sqlite3_bind_int64(s, 7, (sqlite3_int64)n->incarnation);
	ret = rc ? store__err(st, rc, "bind node") : store__exec(st, s, "upsert node");
	if (ret)
		goto fail;
	return store__commit(st);
fail:
	db_rollback(st->db);
	return ret;
}

int store_node_set_drained(struct store *st, const char *name, int64_t drained_ms,
			   int64_t now_ms)
{
	if (!name || !name[0] || strlen(name) > STORE_NODE_MAX || drained_ms < 0)
		return -EINVAL;
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	sqlite3_stmt *s = store__stmt(st, SQ_NODE_DRAIN);
	int rc = store__bind_text(s, 1, name, STORE_NODE_MAX, false);
	rc |= sqlite3_bind_int64(s, 2, drained_ms);
	ret = rc ? store__err(st, rc, "bind drain") : store__exec(st, s, "drain node");
	if (ret == 0 && sqlite3_changes(st->db) == 0)
		ret = -ENOENT;
	if (ret == 0)
		ret = store__event_add(st, now_ms, drained_ms ? "node_drain" : "node_undrain", NULL,
				       0, name, drained_ms ? "no new runs go to it" : "takes runs again");
	if (ret)
		goto fail;
	return store__commit(st);
fail:
	db_rollback(st->db);
	return ret;
}

/* ---- events ------------------------------------------------------------ */

void store_event(struct store *st, int64_t now_ms, const char *kind, const char *task,
		 uint64_t run_id, const char *node, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (db_begin(st->db) != 0)
		goto lost;
	if (store__event_add(st, now_ms, kind, task, run_id, node, msg) != 0) {
		db_rollback(st->db);
		goto lost;
	}
	if (db_commit(st->db) != 0) {
		db_rollback(st->db);
		goto lost;
	}
	return;
lost:
	log_warnx("store: event not recorded: %s %s: %s", kind, task ? task : "-", msg);
}
