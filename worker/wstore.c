/*
 * wstore.c - the worker's own database (see wstore.h and
 * schema/worker-*.sql); the only worker code that speaks SQL.
 *
 * Same discipline as the scheduler's store: every statement is prepared
 * once at open, every write is one BEGIN IMMEDIATE transaction committed
 * (synchronous=FULL) before the function returns, and any failure rolls
 * the whole transaction back.  Each transition reads the row's phase and
 * decides inside the transaction that writes it.
 *
 * Error answers beyond those in wstore.h:
 *   wstore_accept      -EBUSY: another run of the same task is accepted
 *                      or running on this worker (unique index
 *                      wruns_one_live: a second wall behind the
 *                      scheduler's); -EINVAL: run id, token, task or
 *                      reason missing or invalid.
 *   wstore_set_running -ENOENT unknown run; -ESTALE not in ACCEPTED.
 *   wstore_set_ended   -ENOENT; -EALREADY already ENDED or DONE (the
 *                      first result stays); -ESTALE a REJECTED
 *                      tombstone; -EINVAL state not one of succeeded,
 *                      failed, timed_out, cancelled, lost.
 *   wstore_set_cancel  -ENOENT.
 *   wstore_set_done    -ENOENT (unknown or already purged); -ESTALE not
 *                      ENDED (nothing was reported, or a rejection).
 */
#include "wstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

enum ws_sq {
	WS_GET,
	WS_LIVE,
	WS_PHASE,
	WS_TOKEN_GET,
	WS_TOKEN_RAISE,
	WS_INSERT,
	WS_REJECT,
	WS_SET_RUNNING,
	WS_SET_ENDED,
	WS_SET_CANCEL,
	WS_SET_DONE,
	WS_PURGE,
	WS_DROP_REJECTED,
	WS_INCARNATION_GET,
	WS_INCARNATION_SET,
	WS__COUNT
};

#define WS_COLS                                                                \
	"run_id, token, task, command, attempt, scheduled_for, timeout_ms, "  \
	"reason, phase, pid, proc_start, accepted_ms, started_ms, "           \
	"finished_ms, end_state, exit_code, signal, cancel_requested, tail, " \
	"error, log_path FROM wruns "

static const char *const ws_sql[WS__COUNT] = {
	[WS_GET] = "SELECT " WS_COLS "WHERE run_id = ?1",
	[WS_LIVE] = "SELECT " WS_COLS "WHERE phase IN ('accepted', 'running', 'ended') "
		    "ORDER BY accepted_ms, run_id",
	[WS_PHASE] = "SELECT phase FROM wruns WHERE run_id = ?1",
	[WS_TOKEN_GET] = "SELECT max_token FROM task_tokens WHERE task = ?1",
	[WS_TOKEN_RAISE] =
		"INSERT INTO task_tokens (task, max_token) VALUES (?1, ?2) "
		"ON CONFLICT (task) DO UPDATE SET "
		"max_token = MAX(max_token, excluded.max_token)",
	[WS_INSERT] =
		"INSERT INTO wruns (run_id, token, task, command, attempt, scheduled_for, "
		"timeout_ms, reason, phase, accepted_ms, cancel_requested, log_path) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'accepted', ?9, ?10, ?11)",
	[WS_REJECT] =
		"INSERT INTO wruns (run_id, token, task, phase, accepted_ms, closed_ms, error) "
		"VALUES (?1, ?2, ?3, 'rejected', ?4, ?4, ?5)",
	[WS_SET_RUNNING] =
		"UPDATE wruns SET phase = 'running', pid = ?2, proc_start = ?3, "
		"started_ms = ?4, log_path = COALESCE(?5, log_path) WHERE run_id = ?1",
	[WS_SET_ENDED] =
		"UPDATE wruns SET phase = 'ended', end_state = ?2, exit_code = ?3, "
		"signal = ?4, finished_ms = ?5, tail = ?6, error = ?7 WHERE run_id = ?1",
	[WS_SET_CANCEL] = "UPDATE wruns SET cancel_requested = 1 WHERE run_id = ?1",
	[WS_SET_DONE] = "UPDATE wruns SET phase = 'done', closed_ms = ?2 WHERE run_id = ?1",
	[WS_PURGE] =
		"DELETE FROM wruns WHERE phase IN ('rejected', 'done') AND closed_ms < ?1",
	[WS_DROP_REJECTED] =
		"DELETE FROM wruns WHERE run_id = ?1 AND phase = 'rejected' AND token < ?2",
	[WS_INCARNATION_GET] = "SELECT incarnation FROM worker_identity WHERE id = 1",
	[WS_INCARNATION_SET] =
		"INSERT INTO worker_identity (id, incarnation) VALUES (1, ?1) "
		"ON CONFLICT (id) DO UPDATE SET incarnation = excluded.incarnation",
};

struct wstore {
	sqlite3 *db;
	sqlite3_stmt *stmt[WS__COUNT];
};

static const char *const phase_names[] = {
	[WRUN_ACCEPTED] = "accepted", [WRUN_RUNNING] = "running", [WRUN_ENDED] = "ended",
	[WRUN_REJECTED] = "rejected", [WRUN_DONE] = "done",
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static enum wrun_phase phase_parse(const char *s)
{
	for (size_t i = 0; i < NELEM(phase_names); i++)
		if (phase_names[i] && s && strcmp(phase_names[i], s) == 0)
			return (enum wrun_phase)i;
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static sqlite3_stmt *ws_stmt(struct wstore *ws, enum ws_sq id)
{
	sqlite3_stmt *s = ws->stmt[id];
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

/* SQLITE_CONSTRAINT_UNIQUE (wruns_one_live) is -EBUSY; others are logged. */
static int ws_err(struct wstore *ws, int rc, const char *what)
{
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return -EBUSY;
	log_warnx("wstore: %s: %s (%s)", what, sqlite3_errmsg(ws->db), sqlite3_errstr(rc));
	return (rc & 0xff) == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

static int ws_exec(struct wstore *ws, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : ws_err(ws, rc, what);
}

/* 1: a row (reset it after reading), 0: none, <0: error. */
static int ws_row(struct wstore *ws, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : ws_err(ws, rc, what);
}

static int ws_commit(struct wstore *ws)
{
	if (db_commit(ws->db) == 0)
		return 0;
	db_rollback(ws->db);
	return -EIO;
}

/* Bind at most max bytes of txt, cut at a UTF-8 boundary; keep_end keeps
 * the last bytes (output tails).  NULL binds NULL. */
static int bind_text(sqlite3_stmt *s, int idx, const char *txt, size_t max, bool keep_end)
{
	if (!txt)
		return sqlite3_bind_null(s, idx);
	size_t n = strlen(txt), start = 0, len = n;
	if (n > max && keep_end) {
		start = n - max;
		while (start < n && ((unsigned char)txt[start] & 0xC0) == 0x80)
			start++;
		len = n - start;
	} else if (n > max) {
		len = max;
		while (len > 0 && ((unsigned char)txt[len] & 0xC0) == 0x80)
			len--;
	}
	return sqlite3_bind_text(s, idx, txt + start, (int)len, SQLITE_TRANSIENT);
}

static void col_text(sqlite3_stmt *s, int col, char *buf, size_t size)
{
	const char *t = (const char *)sqlite3_column_text(s, col);
	size_t n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
	if (n > size - 1) {  /* longer than the writes allow: cut cleanly */
		n = size - 1;
		while (n > 0 && ((unsigned char)t[n] & 0xC0) == 0x80)
			n--;
	}
	if (n)
		memcpy(buf, t, n);
	buf[n] = '\0';
}

static void read_wrun(sqlite3_stmt *s, struct wrun *r)
{
	char text[16];
	memset(r, 0, sizeof(*r));
	r->run_id = (uint64_t)sqlite3_column_int64(s, 0);
	r->token = (uint64_t)sqlite3_column_int64(s, 1);
	col_text(s, 2, r->task, sizeof(r->task));
	col_text(s, 3, r->command, sizeof(r->command));
	r->attempt = (uint32_t)sqlite3_column_int64(s, 4);
	r->scheduled_for = sqlite3_column_int64(s, 5);
	r->timeout_ms = sqlite3_column_int64(s, 6);
	enum run_reason reason = 0;
	col_text(s, 7, text, sizeof(text));
	r->reason = run_reason_parse(text, &reason) == 0 ? (int)reason : 0;
	col_text(s, 8, text, sizeof(text));
	r->phase = phase_parse(text);
	r->pid = (pid_t)sqlite3_column_int64(s, 9);
	r->proc_start = (uint64_t)sqlite3_column_int64(s, 10);
	r->accepted_ms = sqlite3_column_int64(s, 11);
	r->started_ms = sqlite3_column_int64(s, 12);
	r->finished_ms = sqlite3_column_int64(s, 13);
	enum run_state es = 0;
	col_text(s, 14, text, sizeof(text));  /* NULL until ended */
	r->end_state = text[0] && run_state_parse(text, &es) == 0 ? es : 0;
	r->exit_code = sqlite3_column_int(s, 15);
	r->signal = sqlite3_column_int(s, 16);
	r->cancel_requested = sqlite3_column_int(s, 17) != 0;
	col_text(s, 18, r->tail, sizeof(r->tail));
	col_text(s, 19, r->error, sizeof(r->error));
	col_text(s, 20, r->log_path, sizeof(r->log_path));
}

/* The phase of run_id: 1 and *out, 0 if unknown, <0 on error. */
static int ws_phase(struct wstore *ws, uint64_t run_id, enum wrun_phase *out)
{
	sqlite3_stmt *s = ws_stmt(ws, WS_PHASE);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	if (rc != SQLITE_OK)
		return ws_err(ws, rc, "bind run");
	rc = ws_row(ws, s, "read phase");
	if (rc <= 0)
		return rc;
	*out = phase_parse((const char *)sqlite3_column_text(s, 0));
	sqlite3_reset(s);
	return 1;
}

static int raise_token(struct wstore *ws, const char *task, uint64_t token)
{
	sqlite3_stmt *s = ws_stmt(ws, WS_TOKEN_RAISE);
	int rc = bind_text(s, 1, task, WSTORE_NAME_MAX, false);
	rc |= sqlite3_bind_int64(s, 2, (sqlite3_int64)token);
	return rc ? ws_err(ws, rc, "bind token") : ws_exec(ws, s, "raise token");
}

/*
 * The run id is known (in `phase`): delete its rejection tombstone if it
 * carries a token lower than `token`.  0 when it was deleted, -EEXIST when
 * the known row stays (any other phase, or a token as new), or -errno.
 */
static int drop_older_tombstone(struct wstore *ws, enum wrun_phase phase, uint64_t run_id,
				uint64_t token)
{
	if (phase != WRUN_REJECTED)
		return -EEXIST;
	sqlite3_stmt *d = ws_stmt(ws, WS_DROP_REJECTED);
	int rc = sqlite3_bind_int64(d, 1, (sqlite3_int64)run_id);
	rc |= sqlite3_bind_int64(d, 2, (sqlite3_int64)token);
	int ret = rc ? ws_err(ws, rc, "bind run") : ws_exec(ws, d, "drop tombstone");
	if (ret)
		return ret;
	return sqlite3_changes(ws->db) == 1 ? 0 : -EEXIST;
}

/* ---- open / close ------------------------------------------------------ */

int wstore_open(const char *path, struct wstore **out, char *err, size_t errlen)
{
	struct wstore *ws = calloc(1, sizeof(*ws));
	int ret;

	*out = NULL;
	if (!ws) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	ret = db_open(path, db_worker_migrations, db_worker_migrations_n, &ws->db, err,
		      errlen);
	if (ret)
		goto fail;
	for (int i = 0; i < WS__COUNT; i++) {
		ret = db_prepare(ws->db, ws_sql[i], &ws->stmt[i]);
		if (ret) {
			snprintf(err, errlen, "%s: cannot prepare statement %d: %s", path, i,
				 sqlite3_errmsg(ws->db));
			goto fail;
		}
	}
	*out = ws;
	return 0;
fail:
	wstore_close(ws);
	return ret;
}

void wstore_close(struct wstore *ws)
{
	if (!ws)
		return;
	for (int i = 0; i < WS__COUNT; i++)
		sqlite3_finalize(ws->stmt[i]);
	if (ws->db && sqlite3_close(ws->db) != SQLITE_OK)
		log_warnx("wstore: close: %s", sqlite3_errmsg(ws->db));
	free(ws);
}

/* ---- writes ------------------------------------------------------------ */

static bool reason_valid(int reason)
{
	return strcmp(run_reason_name((enum run_reason)reason), "?") != 0;
}

int wstore_accept(struct wstore *ws, const struct wrun *r)
{
	enum wrun_phase phase;
	if (!r->run_id || !r->token || !r->task[0] || !reason_valid(r->reason))
		return -EINVAL;
	int ret = db_begin(ws->db);
	if (ret)
		return ret;
	ret = ws_phase(ws, r->run_id, &phase);
	if (ret < 0)
		goto fail;
	if (ret == 1) {
		/* A run this worker rejected comes back with a new token when the
		 * scheduler dispatches it again: the tombstone of the older token
		 * gives way.  A late copy of the old dispatch still carries the
		 * old token and is refused below as stale. */
		ret = drop_older_tombstone(ws, phase, r->run_id, r->token);
		if (ret)
			goto fail;
	}

	/* Fencing tokens: a dispatch older than one this worker has seen for
	 * the task is stale, whatever its run id (DESIGN rule 5). */
	sqlite3_stmt *s = ws_stmt(ws, WS_TOKEN_GET);
	int rc = bind_text(s, 1, r->task, WSTORE_NAME_MAX, false);
	if (rc != SQLITE_OK) {
		ret = ws_err(ws, rc, "bind task");
		goto fail;
	}
	ret = ws_row(ws, s, "read token");
	if (ret < 0)
		goto fail;
	if (ret == 1) {
		uint64_t max = (uint64_t)sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		if (r->token <= max) {
			ret = -ESTALE;
			goto fail;
		}
	}

	s = ws_stmt(ws, WS_INSERT);
	rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)r->run_id);
	rc |= sqlite3_bind_int64(s, 2, (sqlite3_int64)r->token);
	rc |= bind_text(s, 3, r->task, WSTORE_NAME_MAX, false);
	rc |= bind_text(s, 4, r->command, WSTORE_COMMAND_MAX, false);
	rc |= sqlite3_bind_int64(s, 5, r->attempt ? r->attempt : 1);
	rc |= sqlite3_bind_int64(s, 6, r->scheduled_for);
	rc |= sqlite3_bind_int64(s, 7, r->timeout_ms > 0 ? r->timeout_ms : 0);
	rc |= sqlite3_bind_text(s, 8, run_reason_name((enum run_reason)r->reason), -1,
				SQLITE_STATIC);
	rc |= sqlite3_bind_int64(s, 9, r->accepted_ms);
	rc |= sqlite3_bind_int(s, 10, r->cancel_requested ? 1 : 0);
	rc |= bind_text(s, 11, r->log_path, WSTORE_PATH_MAX, false);
	ret = rc ? ws_err(ws, rc, "bind run") : ws_exec(ws, s, "accept run");
	if (ret)
		goto fail;
	ret = raise_token(ws, r->task, r->token);
	if (ret)
		goto fail;
	return ws_commit(ws);
fail:
	db_rollback(ws->db);
	return ret;
}

/* The rejection also counts as having seen the token: it can only raise
 * the task's highest token, never refuse anything. */
int wstore_reject(struct wstore *ws, uint64_t run_id, uint64_t token, const char *task,
		  const char *why, int64_t now_ms)
{
	enum wrun_phase phase;
	if (!run_id || !task)
		return -EINVAL;
	int ret = db_begin(ws->db);
	if (ret)
		return ret;
	ret = ws_phase(ws, run_id, &phase);
	if (ret < 0)
		goto fail;
	if (ret == 1) {
		/* Refused again with a newer token: the tombstone moves up, so a
		 * late copy of this dispatch stays refused too. */
		ret = drop_older_tombstone(ws, phase, run_id, token);
		if (ret)
			goto fail;
	}
	sqlite3_stmt *s = ws_stmt(ws, WS_REJECT);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	rc |= sqlite3_bind_int64(s, 2, (sqlite3_int64)token);
	rc |= bind_text(s, 3, task, WSTORE_NAME_MAX, false);
	rc |= sqlite3_bind_int64(s, 4, now_ms);
	rc |= bind_text(s, 5, why ? why : "", WSTORE_ERROR_MAX, false);
	ret = rc ? ws_err(ws, rc, "bind reject") : ws_exec(ws, s, "reject run");
	if (ret)
		goto fail;
	if (task[0]) {
		ret = raise_token(ws, task, token);
		if (ret)
			goto fail;
	}
	return ws_commit(ws);
fail:
	db_rollback(ws->db);
	return ret;
}

/*
 * Shared shape of the phase transitions: in one transaction, read the
 * phase, let decide() map it to 0 (go on), 1 (nothing to do, succeed)
 * or a negative errno, then run the bound statement s.
 */
static int ws_transition(struct wstore *ws, uint64_t run_id, int (*decide)(enum wrun_phase),
			 enum ws_sq id, int (*bind)(sqlite3_stmt *, const void *),
			 const void *arg, const char *what)
{
	enum wrun_phase phase;
	int ret = db_begin(ws->db);
	if (ret)
		return ret;
	ret = ws_phase(ws, run_id, &phase);
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto fail;
	ret = decide(phase);
	if (ret == 1) {
		db_rollback(ws->db);
		return 0;
	}
	if (ret < 0)
		goto fail;
	sqlite3_stmt *s = ws_stmt(ws, id);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	rc |= bind(s, arg);
	ret = rc ? ws_err(ws, rc, what) : ws_exec(ws, s, what);
	if (ret)
		goto fail;
	return ws_commit(ws);
fail:
	db_rollback(ws->db);
	return ret;
}

struct running_args {
	pid_t pid;
	uint64_t proc_start;
	int64_t started_ms;
	const char *log_path;
};

static int decide_running(enum wrun_phase p)
{
	return p == WRUN_ACCEPTED ? 0 : -ESTALE;
}

static int bind_running(sqlite3_stmt *s, const void *arg)
{
	const struct running_args *a = arg;
	int rc = sqlite3_bind_int64(s, 2, a->pid);
	rc |= sqlite3_bind_int64(s, 3, (sqlite3_int64)a->proc_start);
	rc |= sqlite3_bind_int64(s, 4, a->started_ms);
	rc |= bind_text(s, 5, a->log_path, WSTORE_PATH_MAX, false);
	return rc;
}

int wstore_set_running(struct wstore *ws, uint64_t run_id, pid_t pid, uint64_t proc_start,
		       int64_t started_ms, const char *log_path)
{
	struct running_args a = {pid, proc_start, started_ms, log_path};
	return ws_transition(ws, run_id, decide_running, WS_SET_RUNNING, bind_running, &a,
			     "set running");
}

struct ended_args {
	enum run_state state;
	int exit_code, signal;
	int64_t finished_ms;
	const char *tail, *error;
};

static int decide_ended(enum wrun_phase p)
{
	if (p == WRUN_ACCEPTED || p == WRUN_RUNNING)
		return 0;
	return p == WRUN_ENDED || p == WRUN_DONE ? -EALREADY : -ESTALE;
}

static int bind_ended(sqlite3_stmt *s, const void *arg)
{
	const struct ended_args *a = arg;
	int rc = sqlite3_bind_text(s, 2, run_state_name(a->state), -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int(s, 3, a->exit_code);
	rc |= sqlite3_bind_int(s, 4, a->signal);
	rc |= sqlite3_bind_int64(s, 5, a->finished_ms);
	rc |= bind_text(s, 6, a->tail ? a->tail : "", WSTORE_TAIL_MAX, true);
	rc |= bind_text(s, 7, a->error ? a->error : "", WSTORE_ERROR_MAX, false);
	return rc;
}

int wstore_set_ended(struct wstore *ws, uint64_t run_id, enum run_state state, int exit_code,
		     int signal, int64_t finished_ms, const char *tail, const char *error)
{
	if (state != RUN_SUCCEEDED && state != RUN_FAILED && state != RUN_TIMED_OUT &&
	    state != RUN_CANCELLED && state != RUN_LOST)
		return -EINVAL;
	struct ended_args a = {state, exit_code, signal, finished_ms, tail, error};
	return ws_transition(ws, run_id, decide_ended, WS_SET_ENDED, bind_ended, &a,
			     "set ended");
}

static int decide_any(enum wrun_phase p)
{
	(void)p;
	return 0;
}

static int bind_nothing(sqlite3_stmt *s, const void *arg)
{
	(void)s;
	(void)arg;
	return SQLITE_OK;
}

int wstore_set_cancel(struct wstore *ws, uint64_t run_id)
{
	return ws_transition(ws, run_id, decide_any, WS_SET_CANCEL, bind_nothing, NULL,
			     "set cancel");
}

static int decide_done(enum wrun_phase p)
{
	if (p == WRUN_ENDED)
		return 0;
	return p == WRUN_DONE ? 1 : -ESTALE;
}

static int bind_now(sqlite3_stmt *s, const void *arg)
{
	return sqlite3_bind_int64(s, 2, *(const int64_t *)arg);
}

int wstore_set_done(struct wstore *ws, uint64_t run_id, int64_t now_ms)
{
	return ws_transition(ws, run_id, decide_done, WS_SET_DONE, bind_now, &now_ms,
			     "set done");
}

int wstore_purge(struct wstore *ws, int64_t before_ms)
{
	int ret = db_begin(ws->db);
	if (ret)
		return ret;
	sqlite3_stmt *s = ws_stmt(ws, WS_PURGE);
	int rc = sqlite3_bind_int64(s, 1, before_ms);
	ret = rc ? ws_err(ws, rc, "bind purge") : ws_exec(ws, s, "purge");
	if (ret)
		goto fail;
	int n = sqlite3_changes(ws->db);
	ret = ws_commit(ws);
	return ret ? ret : n;
fail:
	db_rollback(ws->db);
	return ret;
}

/*
 * Read the last incarnation and write the next in one transaction, so
 * two starts of the same database can never hand out the same number.
 * The trigger worker_identity_never_decreases is the second wall.
 */
int wstore_last_incarnation(struct wstore *ws, uint64_t *out)
{
	sqlite3_stmt *s = ws_stmt(ws, WS_INCARNATION_GET);
	int ret = ws_row(ws, s, "read incarnation");
	*out = ret == 1 ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return ret < 0 ? ret : 0;
}

int wstore_next_incarnation(struct wstore *ws, int64_t wall_ms, uint64_t *out)
{
	int ret = db_begin(ws->db);
	if (ret)
		return ret;
	uint64_t next = wall_ms > 0 ? (uint64_t)wall_ms : 1;
	sqlite3_stmt *s = ws_stmt(ws, WS_INCARNATION_GET);
	ret = ws_row(ws, s, "read incarnation");
	if (ret < 0)
		goto fail;
	if (ret == 1) {
		uint64_t last = (uint64_t)sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		if (last >= (uint64_t)INT64_MAX) {
			ret = -EOVERFLOW;
			goto fail;
		}
		if (last + 1 > next)
			next = last + 1;
	}
	s = ws_stmt(ws, WS_INCARNATION_SET);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)next);
	ret = rc ? ws_err(ws, rc, "bind incarnation") : ws_exec(ws, s, "write incarnation");
	if (ret)
		goto fail;
	ret = ws_commit(ws);
	if (ret == 0)
		*out = next;
	return ret;
fail:
	db_rollback(ws->db);
	return ret;
}

/* ---- reads ------------------------------------------------------------- */

int wstore_get(struct wstore *ws, uint64_t run_id, struct wrun *out)
{
	sqlite3_stmt *s = ws_stmt(ws, WS_GET);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	if (rc != SQLITE_OK)
		return ws_err(ws, rc, "bind run");
	rc = ws_row(ws, s, "get run");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ENOENT;
	read_wrun(s, out);
	sqlite3_reset(s);
	return 0;
}

/*
 * All rows are read before the first callback, so a callback may change
 * the store (e.g. mark a run ended while reconciling at start).  The
 * callback returns 0 to go on; anything else stops and is returned.
 */
int wstore_list_live(struct wstore *ws, wstore_cb cb, void *arg)
{
	struct wrun *runs = NULL;
	size_t n = 0, cap = 0;
	int ret;
	sqlite3_stmt *s = ws_stmt(ws, WS_LIVE);
	while ((ret = ws_row(ws, s, "list live runs")) == 1) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct wrun *p = realloc(runs, ncap * sizeof(*runs));
			if (!p) {
				sqlite3_reset(s);
				ret = -ENOMEM;
				goto out;
			}
			runs = p;
			cap = ncap;
		}
		read_wrun(s, &runs[n++]);
	}
	for (size_t i = 0; ret == 0 && i < n; i++)
		ret = cb(arg, &runs[i]);
out:
	free(runs);
	return ret;
}
