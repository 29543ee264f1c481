/*
 * test_store.c - scheduler/store*.c: the database enforces one active
 * run per task; the overlap policy, tokens, cursor, worker reports,
 * cancel, unassign, task sync, listings, nodes and events follow the
 * contracts of store.h.
 *
 * Each test opens a store in a fresh mkdtemp() directory that the
 * fixture removes.  Task sets are filled by hand (sorted by name, as
 * taskfile.h promises).  Tests may use SQL through a raw handle on the
 * same file to try what the store itself never would.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

#define NOW_S 1700000000LL
#define NOW_MS (NOW_S * 1000)

static char dir[64];
static char path[128];
static struct store *st;

/* The current task set: kept sorted, synced by put_task/drop_task. */
static struct task_def defs[16];
static size_t ndefs;

static void setup(void)
{
	char err[256] = "";
	snprintf(dir, sizeof(dir), "/tmp/test_store.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sched.db", dir);
	cr_assert_eq(store_open(path, &st, err, sizeof(err)), 0, "%s", err);
	ndefs = 0;
}

static void teardown(void)
{
	store_close(st);
	st = NULL;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		char p[512];
		while ((e = readdir(d))) {
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				snprintf(p, sizeof(p), "%s/%s", dir, e->d_name), unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ----------------------------------------------------------- */

static struct task_def mkdef(const char *name, enum task_overlap ov)
{
	struct task_def d;
	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "%s", name);
	snprintf(d.command, sizeof(d.command), "echo %s", name);
	snprintf(d.schedule, sizeof(d.schedule), "@hourly");
	snprintf(d.cron.tz, sizeof(d.cron.tz), "UTC");
	d.timeout_ms = 60000;
	d.overlap = ov;
	d.catch_up = CATCH_UP_LATEST;
	d.retry_backoff_ms = 10000;
	snprintf(d.file, sizeof(d.file), "tasks/main.conf");
	d.line = 1;
	return d;
}

static int cmp_def(const void *a, const void *b)
{
	return strcmp(((const struct task_def *)a)->name, ((const struct task_def *)b)->name);
}

static struct store_sync_result sync_now(int64_t now_s)
{
	struct store_sync_result res;
	char err[256] = "";
	struct task_set ts = {defs, ndefs};
	qsort(defs, ndefs, sizeof(defs[0]), cmp_def);
	cr_assert_eq(store_sync_tasks(st, &ts, now_s, &res, err, sizeof(err)), 0, "%s", err);
	return res;
}

static struct task_def *find_def(const char *name)
{
	for (size_t i = 0; i < ndefs; i++)
		if (strcmp(defs[i].name, name) == 0)
			return &defs[i];
	return NULL;
}

static void put_task(const char *name, enum task_overlap ov)
{
	struct task_def *d = find_def(name);
	if (d)
		*d = mkdef(name, ov);
	else
		defs[ndefs++] = mkdef(name, ov);
	sync_now(NOW_S);
}

static void drop_task(const char *name)
{
	struct task_def *d = find_def(name);
	cr_assert_not_null(d);
	*d = defs[--ndefs];
	sync_now(NOW_S);
}

static int create_rc(const char *task, enum task_overlap ov, bool record_skip,
		     int64_t cursor_s, struct store_run_created *out)
{
	struct store_run_new rn = {
		.task = task,
		.reason = REASON_SCHEDULE,
		.scheduled_for = NOW_S,
		.attempt = 1,
		.overlap = ov,
		.record_skip = record_skip,
		.cursor_s = cursor_s,
		.now_ms = NOW_MS,
		.note = "overlap",
	};
	return store_run_create(st, &rn, out);
}

/* A new pending run of task; asserts it was not refused. */
static struct store_run_created new_pending(const char *task, enum task_overlap ov)
{
	struct store_run_created c;
	cr_assert_eq(create_rc(task, ov, true, 0, &c), 0);
	cr_assert_eq(c.state, RUN_PENDING, "run of %s was not created pending", task);
	cr_assert_gt(c.run_id, 0);
	return c;
}

/* A run of task dispatched to node; returns it. */
static struct store_run_created new_active(const char *task, enum task_overlap ov,
					   const char *node)
{
	struct store_run_created c = new_pending(task, ov);
	cr_assert_eq(store_run_assign(st, c.run_id, node, NOW_MS + 1), 0);
	return c;
}

static struct store_run get(uint64_t run_id)
{
	struct store_run r;
	cr_assert_eq(store_run_get(st, run_id, &r), 0, "run %llu", (unsigned long long)run_id);
	return r;
}

static struct store_task_state tstate(const char *task)
{
	struct store_task_state s;
	cr_assert_eq(store_task_state(st, task, &s), 0, "task %s", task);
	return s;
}

static int end_rc(uint64_t run_id, uint64_t token, const char *node, enum run_state state,
		  int exit_code, const char *tail, bool *already)
{
	struct store_run_end e = {
		.state = state,
		.exit_code = exit_code,
		.finished_ms = NOW_MS + 100,
		.tail = tail,
		.log_path = "/var/log/run.log",
	};
	return store_run_end(st, run_id, token, node, &e, already);
}

/* Collecting callbacks. */
struct runs_seen {
	size_t n;
	uint64_t ids[64];
	enum run_state states[64];
	int stop_after;  /* > 0: return 99 after that many */
};

static int collect_run(void *arg, const struct store_run *r)
{
	struct runs_seen *s = arg;
	cr_assert_lt(s->n, 64);
	s->ids[s->n] = r->run_id;
	s->states[s->n] = r->state;
	s->n++;
	return s->stop_after > 0 && (int)s->n >= s->stop_after ? 99 : 0;
}

static size_t history_count(const char *task)
{
	struct runs_seen s = {0};
	cr_assert_eq(store_runs_history(st, task, 1000, collect_run, &s), 0);
	return s.n;
}

static sqlite3 *raw_open(void)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 2000);
	return db;
}

/* ---- the invariant, in the database itself ----------------------------- */

Test(store, raw_insert_of_second_active_run_violates_unique_index)
{
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	new_active("a", OVERLAP_SKIP, "n1");

	sqlite3 *db = raw_open();
	/* Honour the token trigger (a new run carries the raised last_token),
	 * so that only the unique index can refuse the insert. */
	const char *tmpl =
		"UPDATE tasks SET last_token = last_token + 1 WHERE name = '%s';"
		"INSERT INTO runs (task_id, token, reason, state, node, scheduled_for, "
		"created_ms) SELECT id, last_token, 'manual', '%s', 'n2', 0, 0 "
		"FROM tasks WHERE name = '%s';";
	char sql[512];

	for (int i = 0; i < 3; i++) {
		const char *state = i == 0 ? "running" : i == 1 ? "dispatched" : "fencing";
		snprintf(sql, sizeof(sql), tmpl, "a", state, "a");
		cr_assert_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
		int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		cr_assert_eq(rc, SQLITE_CONSTRAINT_UNIQUE, "%s: rc %d %s", state, rc,
			     sqlite3_errmsg(db));
		cr_assert_not_null(strstr(sqlite3_errmsg(db), "runs.task_id"), "%s",
				   sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}

	/* The same statement for a task without an active run is fine. */
	snprintf(sql, sizeof(sql), tmpl, "b", "running", "b");
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s",
		     sqlite3_errmsg(db));
	sqlite3_close(db);
}

Test(store, raw_update_to_second_active_and_second_pending_refused)
{
	put_task("a", OVERLAP_QUEUE);
	struct store_run_created r1 = new_active("a", OVERLAP_QUEUE, "n1");
	struct store_run_created r2 = new_pending("a", OVERLAP_QUEUE);
	cr_assert_neq(r1.run_id, r2.run_id);

	sqlite3 *db = raw_open();
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "UPDATE runs SET state = 'dispatched', node = 'n2' WHERE run_id = %llu",
		 (unsigned long long)r2.run_id);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT_UNIQUE);

	/* A second pending run: also one index entry too many. */
	snprintf(sql, sizeof(sql),
		 "UPDATE tasks SET last_token = last_token + 1 WHERE name = 'a';"
		 "INSERT INTO runs (task_id, token, reason, state, scheduled_for, created_ms) "
		 "SELECT id, last_token, 'manual', 'pending', 0, 0 FROM tasks WHERE name = 'a'");
	cr_assert_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT_UNIQUE);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	cr_assert_eq(get(r2.run_id).state, RUN_PENDING);
}

Test(store, triggers_guard_terminal_rows_and_tokens)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created r = new_active("a", OVERLAP_SKIP, "n1");
	cr_assert_eq(end_rc(r.run_id, r.token, "n1", RUN_SUCCEEDED, 0, NULL, NULL), 0);

	sqlite3 *db = raw_open();
	char sql[256];
	snprintf(sql, sizeof(sql), "UPDATE runs SET state = 'running' WHERE run_id = %llu",
		 (unsigned long long)r.run_id);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT_TRIGGER);
	cr_assert_eq(sqlite3_exec(db, "UPDATE tasks SET last_token = 0", NULL, NULL, NULL),
		     SQLITE_CONSTRAINT_TRIGGER);
	/* Inserting runs by hand: with the raised token it works (control),
	 * a token that skips ahead or repeats is refused. */
	const char *ins = "INSERT INTO runs (task_id, token, reason, state, scheduled_for, "
			  "created_ms) SELECT id, %s, 'manual', 'succeeded', 0, 0 "
			  "FROM tasks WHERE name = 'a'";
	snprintf(sql, sizeof(sql), ins, "last_token");
	cr_assert_eq(sqlite3_exec(db, "UPDATE tasks SET last_token = last_token + 1", NULL,
				  NULL, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "control: %s",
		     sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT_UNIQUE,
		     "a token was used twice");
	snprintf(sql, sizeof(sql), ins, "last_token + 5");
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT_TRIGGER);
	sqlite3_close(db);
	cr_assert_eq(get(r.run_id).state, RUN_SUCCEEDED);
}

/* ---- overlap policy ---------------------------------------------------- */

Test(store, skip_policy_records_skip_or_refuses)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created r1 = new_active("a", OVERLAP_SKIP, "n1");
	struct store_run_created c;

	cr_assert_eq(create_rc("a", OVERLAP_SKIP, true, 0, &c), 0);
	cr_assert_eq(c.state, RUN_SKIPPED);
	cr_assert_gt(c.run_id, r1.run_id);
	cr_assert_eq(c.token, 0);
	cr_assert_eq(c.blocking_run_id, r1.run_id);
	struct store_run s = get(c.run_id);
	cr_assert_eq(s.state, RUN_SKIPPED);
	cr_assert_eq(s.token, 0);
	cr_assert_str_eq(s.error, "overlap");
	cr_assert_eq(s.finished_ms, NOW_MS);

	size_t before = history_count("a");
	cr_assert_eq(create_rc("a", OVERLAP_SKIP, false, 0, &c), -EBUSY);
	cr_assert_eq(c.run_id, 0);
	cr_assert_eq(c.blocking_run_id, r1.run_id);
	cr_assert_eq(history_count("a"), before, "a refused run was written");
	cr_assert_eq(get(r1.run_id).state, RUN_DISPATCHED);
}

Test(store, skip_policy_pending_run_blocks_too)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created r1 = new_pending("a", OVERLAP_SKIP);
	struct store_run_created c;
	cr_assert_eq(create_rc("a", OVERLAP_SKIP, true, 0, &c), 0);
	cr_assert_eq(c.state, RUN_SKIPPED);
	cr_assert_eq(c.blocking_run_id, r1.run_id);
}

Test(store, queue_policy_allows_exactly_one_waiting)
{
	put_task("q", OVERLAP_QUEUE);
	struct store_run_created r1 = new_active("q", OVERLAP_QUEUE, "n1");
	struct store_run_created r2 = new_pending("q", OVERLAP_QUEUE);
	cr_assert_gt(r2.token, r1.token);
	cr_assert_eq(r2.blocking_run_id, 0);

	struct store_run_created c;
	cr_assert_eq(create_rc("q", OVERLAP_QUEUE, true, 0, &c), 0);
	cr_assert_eq(c.state, RUN_SKIPPED);
	cr_assert_eq(c.blocking_run_id, r2.run_id);
	cr_assert_eq(create_rc("q", OVERLAP_QUEUE, false, 0, &c), -EBUSY);
	cr_assert_eq(c.blocking_run_id, r2.run_id);

	/* The waiting run cannot start while the first is active: the
	 * unique index refuses, whatever the caller tries. */
	cr_assert_eq(store_run_assign(st, r2.run_id, "n2", NOW_MS), -EBUSY);
	cr_assert_eq(get(r2.run_id).state, RUN_PENDING);
	cr_assert_eq(end_rc(r1.run_id, r1.token, "n1", RUN_SUCCEEDED, 0, NULL, NULL), 0);
	cr_assert_eq(store_run_assign(st, r2.run_id, "n2", NOW_MS), 0);
	cr_assert_eq(get(r2.run_id).state, RUN_DISPATCHED);
}

Test(store, queue_policy_pending_without_active_blocks)
{
	put_task("q", OVERLAP_QUEUE);
	struct store_run_created r1 = new_pending("q", OVERLAP_QUEUE);
	struct store_run_created c;
	cr_assert_eq(create_rc("q", OVERLAP_QUEUE, true, 0, &c), 0);
	cr_assert_eq(c.state, RUN_SKIPPED);
	cr_assert_eq(c.blocking_run_id, r1.run_id);
}

Test(store, create_for_unknown_or_removed_task)
{
	struct store_run_created c;
	cr_assert_eq(create_rc("nosuch", OVERLAP_SKIP, true, 0, &c), -ENOENT);
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	drop_task("a");
	cr_assert_eq(create_rc("a", OVERLAP_SKIP, true, 0, &c), -ENOENT);
	cr_assert_eq(create_rc("b", OVERLAP_SKIP, true, 0, &c), 0);
	struct store_run_new bad = {.task = "b", .reason = 77, .overlap = OVERLAP_SKIP};
	cr_assert_eq(store_run_create(st, &bad, &c), -EINVAL);

	/* A name longer than any task name never matches a task by its
	 * first TASK_NAME_MAX bytes. */
	char name[TASK_NAME_MAX + 1], longer[TASK_NAME_MAX + 8];
	memset(name, 'x', TASK_NAME_MAX);
	name[TASK_NAME_MAX] = '\0';
	snprintf(longer, sizeof(longer), "%s%s", name, "yyy");
	put_task(name, OVERLAP_SKIP);
	cr_assert_eq(create_rc(name, OVERLAP_SKIP, true, 0, &c), 0);
	cr_assert_eq(create_rc(longer, OVERLAP_SKIP, true, 0, &c), -ENOENT);
}

Test(store, retry_not_before_is_stored_on_pending_runs_only)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_new rn = {
		.task = "a", .reason = REASON_RETRY, .scheduled_for = NOW_S, .attempt = 2,
		.overlap = OVERLAP_SKIP, .record_skip = true, .now_ms = NOW_MS,
		.not_before_ms = NOW_MS + 10000,
	};
	struct store_run_created c;
	cr_assert_eq(store_run_create(st, &rn, &c), 0);
	cr_assert_eq(c.state, RUN_PENDING);
	struct store_run g = get(c.run_id);
	cr_assert_eq(g.not_before_ms, NOW_MS + 10000);
	cr_assert_eq(g.attempt, 2);
	cr_assert_eq(g.reason, REASON_RETRY);
	cr_assert_eq(store_run_create(st, &rn, &c), 0);
	cr_assert_eq(c.state, RUN_SKIPPED);
	cr_assert_eq(get(c.run_id).not_before_ms, 0);
}

/* ---- tokens and cursor ------------------------------------------------- */

Test(store, tokens_strictly_increase_even_across_removal)
{
	put_task("a", OVERLAP_SKIP);
	put_task("other", OVERLAP_SKIP);
	uint64_t last = 0;
	for (int i = 0; i < 4; i++) {
		struct store_run_created r = new_active("a", OVERLAP_SKIP, "n1");
		cr_assert_gt(r.token, last, "token %llu after %llu", (unsigned long long)r.token,
			     (unsigned long long)last);
		/* A skipped row takes no token. */
		struct store_run_created s;
		cr_assert_eq(create_rc("a", OVERLAP_SKIP, true, 0, &s), 0);
		cr_assert_eq(s.state, RUN_SKIPPED);
		cr_assert_eq(end_rc(r.run_id, r.token, "n1", RUN_SUCCEEDED, 0, NULL, NULL), 0);
		last = r.token;
	}
	cr_assert_eq(tstate("a").last_token, last);
	cr_assert_eq(last, 4, "tokens should be consecutive");

	drop_task("a");
	cr_assert(tstate("a").removed);
	put_task("a", OVERLAP_SKIP);
	cr_assert(!tstate("a").removed);
	struct store_run_created r = new_pending("a", OVERLAP_SKIP);
	cr_assert_eq(r.token, last + 1, "re-added task restarted its tokens");
	cr_assert_eq(get(r.run_id).token, r.token);

	/* Tokens are per task. */
	cr_assert_eq(new_pending("other", OVERLAP_SKIP).token, 1);
}

Test(store, cursor_moves_with_run_creation_only_when_written)
{
	put_task("a", OVERLAP_SKIP);
	cr_assert_eq(tstate("a").cursor_s, NOW_S, "a new task's cursor is now");
	struct store_run_created c;
	cr_assert_eq(create_rc("a", OVERLAP_SKIP, true, NOW_S + 3600, &c), 0);
	cr_assert_eq(c.state, RUN_PENDING);
	cr_assert_eq(tstate("a").cursor_s, NOW_S + 3600);

	cr_assert_eq(create_rc("a", OVERLAP_SKIP, false, NOW_S + 7200, &c), -EBUSY);
	cr_assert_eq(tstate("a").cursor_s, NOW_S + 3600, "a refused run moved the cursor");

	cr_assert_eq(create_rc("a", OVERLAP_SKIP, true, NOW_S + 7200, &c), 0);
	cr_assert_eq(c.state, RUN_SKIPPED);
	cr_assert_eq(tstate("a").cursor_s, NOW_S + 7200);

	cr_assert_eq(create_rc("a", OVERLAP_SKIP, true, 0, &c), 0);
	cr_assert_eq(tstate("a").cursor_s, NOW_S + 7200, "cursor_s 0 moved the cursor");

	cr_assert_eq(store_task_set_cursor(st, "a", NOW_S + 9000), 0);
	cr_assert_eq(tstate("a").cursor_s, NOW_S + 9000);
	cr_assert_eq(store_task_set_cursor(st, "a", NOW_S), 0);
	cr_assert_eq(tstate("a").cursor_s, NOW_S + 9000, "the cursor moved back");
	cr_assert_eq(store_task_set_cursor(st, "nosuch", NOW_S), -ENOENT);
}

Test(store, run_skip_records_without_policy)
{
	put_task("a", OVERLAP_SKIP);
	uint64_t id = 0;
	cr_assert_eq(store_run_skip(st, "a", REASON_CATCH_UP, NOW_S - 3600, NOW_S - 3600 + 1,
				    NOW_MS, "catch_up = latest", &id),
		     0);
	cr_assert_gt(id, 0);
	struct store_run r = get(id);
	cr_assert_eq(r.state, RUN_SKIPPED);
	cr_assert_eq(r.reason, REASON_CATCH_UP);
	cr_assert_eq(r.scheduled_for, NOW_S - 3600);
	cr_assert_str_eq(r.error, "catch_up = latest");
	cr_assert_eq(r.token, 0);
	/* The cursor never moves back. */
	cr_assert_eq(tstate("a").cursor_s, NOW_S);
	cr_assert_eq(store_run_skip(st, "a", REASON_SCHEDULE, NOW_S, NOW_S + 60, NOW_MS, NULL,
				    &id),
		     0);
	cr_assert_eq(tstate("a").cursor_s, NOW_S + 60);
	cr_assert_eq(store_run_skip(st, "nosuch", REASON_SCHEDULE, 0, 0, NOW_MS, NULL, &id),
		     -ENOENT);
	cr_assert_eq(tstate("a").last_token, 0, "a skipped row used a token");
}

/* ---- worker reports ---------------------------------------------------- */

Test(store, assign_only_pending)
{
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	struct store_run_created r = new_pending("a", OVERLAP_SKIP);
	cr_assert_eq(store_run_assign(st, r.run_id, "", NOW_MS), -EINVAL);
	cr_assert_eq(store_run_assign(st, r.run_id, "n1", NOW_MS + 5), 0);
	struct store_run g = get(r.run_id);
	cr_assert_eq(g.state, RUN_DISPATCHED);
	cr_assert_str_eq(g.node, "n1");
	cr_assert_eq(g.dispatched_ms, NOW_MS + 5);
	cr_assert_eq(store_run_assign(st, r.run_id, "n2", NOW_MS), -ESTALE);
	cr_assert_str_eq(get(r.run_id).node, "n1");
	cr_assert_eq(store_run_assign(st, 9999, "n2", NOW_MS), -ENOENT);

	/* A node name that would not fit is refused, not cut. */
	char longnode[STORE_NODE_MAX + 10];
	memset(longnode, 'n', sizeof(longnode) - 1);
	longnode[sizeof(longnode) - 1] = '\0';
	struct store_run_created r2 = new_pending("b", OVERLAP_SKIP);
	cr_assert_eq(store_run_assign(st, r2.run_id, longnode, NOW_MS), -EINVAL);
	cr_assert_eq(get(r2.run_id).state, RUN_PENDING);
}

Test(store, started_and_end_are_idempotent_and_refuse_stale)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created r = new_active("a", OVERLAP_SKIP, "n1");
	bool already = true;

	cr_assert_eq(store_run_started(st, r.run_id, r.token + 1, "n1", NOW_MS + 10), -ESTALE);
	cr_assert_eq(store_run_started(st, r.run_id, r.token, "n2", NOW_MS + 10), -ESTALE);
	cr_assert_eq(get(r.run_id).state, RUN_DISPATCHED);
	cr_assert_eq(store_run_started(st, r.run_id, r.token, "n1", NOW_MS + 10), 0);
	cr_assert_eq(get(r.run_id).state, RUN_RUNNING);
	cr_assert_eq(get(r.run_id).started_ms, NOW_MS + 10);
	cr_assert_eq(store_run_started(st, r.run_id, r.token, "n1", NOW_MS + 20), 0);
	cr_assert_eq(get(r.run_id).started_ms, NOW_MS + 10, "a retransmission changed it");

	cr_assert_eq(end_rc(r.run_id, r.token - 1, "n1", RUN_SUCCEEDED, 0, NULL, &already),
		     -ESTALE);
	cr_assert_eq(end_rc(r.run_id, r.token, "n9", RUN_SUCCEEDED, 0, NULL, &already),
		     -ESTALE);
	cr_assert_eq(get(r.run_id).state, RUN_RUNNING);

	cr_assert_eq(end_rc(r.run_id, r.token, "n1", RUN_FAILED, 3, "boom\n", &already), 0);
	cr_assert(!already);
	struct store_run g = get(r.run_id);
	cr_assert_eq(g.state, RUN_FAILED);
	cr_assert_eq(g.exit_code, 3);
	cr_assert_eq(g.finished_ms, NOW_MS + 100);
	cr_assert_eq(g.started_ms, NOW_MS + 10, "started_ms 0 in the end must keep it");
	cr_assert_str_eq(g.output_tail, "boom\n");
	cr_assert_str_eq(g.log_path, "/var/log/run.log");

	cr_assert_eq(end_rc(r.run_id, r.token, "n1", RUN_SUCCEEDED, 0, "other", &already), 0);
	cr_assert(already);
	g = get(r.run_id);
	cr_assert_eq(g.state, RUN_FAILED, "a duplicate end overwrote the first");
	cr_assert_eq(g.exit_code, 3);
	cr_assert_str_eq(g.output_tail, "boom\n");

	/* A late "started" after the end changes nothing. */
	cr_assert_eq(store_run_started(st, r.run_id, r.token, "n1", NOW_MS + 30), 0);
	cr_assert_eq(get(r.run_id).state, RUN_FAILED);

	cr_assert_eq(store_run_started(st, 4242, 1, "n1", NOW_MS), -ENOENT);
	cr_assert_eq(end_rc(4242, 1, "n1", RUN_SUCCEEDED, 0, NULL, &already), -ENOENT);
}

Test(store, end_straight_from_dispatched_and_bad_states)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created r = new_active("a", OVERLAP_SKIP, "n1");
	bool already;
	cr_assert_eq(end_rc(r.run_id, r.token, "n1", RUN_SKIPPED, 0, NULL, &already), -EINVAL);
	cr_assert_eq(end_rc(r.run_id, r.token, "n1", RUN_RUNNING, 0, NULL, &already), -EINVAL);
	cr_assert_eq(end_rc(r.run_id, r.token, "n1", RUN_LOST, 0, NULL, &already), -EINVAL);
	struct store_run_end e = {.state = RUN_TIMED_OUT, .signal = 9,
				  .started_ms = NOW_MS + 7, .finished_ms = NOW_MS + 8};
	cr_assert_eq(store_run_end(st, r.run_id, r.token, "n1", &e, &already), 0);
	struct store_run g = get(r.run_id);
	cr_assert_eq(g.state, RUN_TIMED_OUT);
	cr_assert_eq(g.signal, 9);
	cr_assert_eq(g.exit_code, 0);
	cr_assert_eq(g.started_ms, NOW_MS + 7);
}

Test(store, output_tail_keeps_the_end)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created r = new_active("a", OVERLAP_SKIP, "n1");
	size_t n = STORE_TAIL_MAX + 1000;
	char *big = malloc(n + 1);
	cr_assert_not_null(big);
	memset(big, 'x', n);
	memcpy(big, "HEAD", 4);
	memcpy(big + n - 3, "END", 3);
	big[n] = '\0';
	cr_assert_eq(end_rc(r.run_id, r.token, "n1", RUN_SUCCEEDED, 0, big, NULL), 0);
	free(big);
	struct store_run g = get(r.run_id);
	cr_assert_eq(strlen(g.output_tail), STORE_TAIL_MAX);
	cr_assert_eq(strcmp(g.output_tail + STORE_TAIL_MAX - 3, "END"), 0);
	cr_assert_null(strstr(g.output_tail, "HEAD"));
}

Test(store, unassign_returns_run_to_pending)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created r = new_active("a", OVERLAP_SKIP, "n1");
	cr_assert_eq(store_run_unassign(st, r.run_id, r.token, "n2", "busy", NOW_MS, NULL, NULL),
		     -ESTALE);
	cr_assert_eq(
		store_run_unassign(st, r.run_id, r.token + 1, "n1", "busy", NOW_MS, NULL, NULL),
		-ESTALE);
	cr_assert_eq(get(r.run_id).state, RUN_DISPATCHED);

	uint64_t tok = 0;
	cr_assert_eq(
		store_run_unassign(st, r.run_id, r.token, "n1", "no free slot", NOW_MS, &tok, NULL),
		0);
	struct store_run g = get(r.run_id);
	cr_assert_eq(g.state, RUN_PENDING);
	cr_assert_str_eq(g.node, "");
	cr_assert_eq(g.dispatched_ms, 0);
	cr_assert_eq(g.token, r.token + 1, "a refused dispatch comes back with a new token");
	cr_assert_eq(tok, g.token);
	cr_assert_str_eq(g.error, "no free slot");
	/* A retransmitted rejection (old token) changes nothing. */
	cr_assert_eq(
		store_run_unassign(st, r.run_id, r.token, "n1", "no free slot", NOW_MS, &tok, NULL),
		0);
	cr_assert_eq(get(r.run_id).state, RUN_PENDING);
	cr_assert_eq(get(r.run_id).token, r.token + 1);
	r.token = g.token;

	cr_assert_eq(store_run_assign(st, r.run_id, "n2", NOW_MS), 0);
	/* Now it is n2's: n1's late rejection is stale. */
	cr_assert_eq(store_run_unassign(st, r.run_id, r.token, "n1", "late", NOW_MS, NULL, NULL),
		     -ESTALE);
	cr_assert_eq(store_run_started(st, r.run_id, r.token, "n2", NOW_MS), 0);
	/* It started: "never started" is a lie now. */
	cr_assert_eq(store_run_unassign(st, r.run_id, r.token, "n2", "?", NOW_MS, NULL, NULL),
		     -ESTALE);
	cr_assert_eq(get(r.run_id).state, RUN_RUNNING);
	cr_assert_eq(end_rc(r.run_id, r.token, "n2", RUN_SUCCEEDED, 0, NULL, NULL), 0);
	cr_assert_eq(store_run_unassign(st, r.run_id, r.token, "n2", "?", NOW_MS, NULL, NULL), 0);
	cr_assert_eq(get(r.run_id).state, RUN_SUCCEEDED);
}

Test(store, unassign_of_cancelled_run_cancels_it)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created r = new_active("a", OVERLAP_SKIP, "n1");
	enum run_state s;
	cr_assert_eq(store_run_cancel(st, r.run_id, NOW_MS, &s), 0);
	cr_assert_eq(s, RUN_DISPATCHED);
	cr_assert_eq(store_run_unassign(st, r.run_id, r.token, "n1", "cancelled", NOW_MS + 1, NULL,
					NULL),
		     0);
	struct store_run g = get(r.run_id);
	cr_assert_eq(g.state, RUN_CANCELLED);
	cr_assert_eq(g.finished_ms, NOW_MS + 1);
}

Test(store, unassign_with_a_queued_run_supersedes_the_newer)
{
	put_task("q", OVERLAP_QUEUE);
	struct store_run_created r1 = new_active("q", OVERLAP_QUEUE, "n1");
	struct store_run_created r2 = new_pending("q", OVERLAP_QUEUE);
	cr_assert_eq(store_run_unassign(st, r1.run_id, r1.token, "n1", "full", NOW_MS, NULL, NULL),
		     0);
	cr_assert_eq(get(r1.run_id).state, RUN_PENDING);
	struct store_run g = get(r2.run_id);
	cr_assert_eq(g.state, RUN_SKIPPED);
	cr_assert_not_null(strstr(g.error, "superseded"), "%s", g.error);
}

Test(store, cancel_pending_vs_running)
{
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	struct store_run_created p = new_pending("a", OVERLAP_SKIP);
	enum run_state s = RUN_PENDING;
	cr_assert_eq(store_run_cancel(st, p.run_id, NOW_MS + 50, &s), 0);
	cr_assert_eq(s, RUN_CANCELLED);
	struct store_run g = get(p.run_id);
	cr_assert_eq(g.state, RUN_CANCELLED);
	cr_assert_eq(g.finished_ms, NOW_MS + 50);
	cr_assert_eq(store_run_cancel(st, p.run_id, NOW_MS, &s), -EALREADY);
	/* The cancelled pending run no longer blocks the task. */
	new_pending("a", OVERLAP_SKIP);

	struct store_run_created r = new_active("b", OVERLAP_SKIP, "n1");
	cr_assert_eq(store_run_started(st, r.run_id, r.token, "n1", NOW_MS), 0);
	cr_assert_eq(store_run_cancel(st, r.run_id, NOW_MS, &s), 0);
	cr_assert_eq(s, RUN_RUNNING);
	g = get(r.run_id);
	cr_assert_eq(g.state, RUN_RUNNING, "a running run ends only when its worker says so");
	cr_assert(g.cancel_requested);
	cr_assert_eq(store_run_cancel(st, r.run_id, NOW_MS, &s), 0, "repeat cancel");
	cr_assert_eq(end_rc(r.run_id, r.token, "n1", RUN_CANCELLED, -1, NULL, NULL), 0);
	cr_assert_eq(get(r.run_id).state, RUN_CANCELLED);
	cr_assert_eq(store_run_cancel(st, r.run_id, NOW_MS, &s), -EALREADY);
	cr_assert_eq(store_run_cancel(st, 777777, NOW_MS, &s), -ENOENT);
}

/* ---- tasks ------------------------------------------------------------- */

struct events_seen {
	size_t n;
	struct store_event_row ev[32];
};

static int collect_event(void *arg, const struct store_event_row *e)
{
	struct events_seen *s = arg;
	if (s->n < 32)
		s->ev[s->n++] = *e;
	return 0;
}

static size_t count_events(const char *kind, const char *task)
{
	struct events_seen s = {0};
	cr_assert_eq(store_events_recent(st, 1000, collect_event, &s), 0);
	size_t n = 0;
	for (size_t i = 0; i < s.n; i++)
		if (strcmp(s.ev[i].kind, kind) == 0 && (!task || strcmp(s.ev[i].task, task) == 0))
			n++;
	return n;
}

struct tasks_seen {
	size_t n;
	struct store_task_row rows[8];
};

static int collect_task(void *arg, const struct store_task_row *t)
{
	struct tasks_seen *s = arg;
	cr_assert_lt(s->n, 8);
	s->rows[s->n++] = *t;
	return 0;
}

Test(store, sync_add_change_remove_and_return)
{
	struct store_sync_result res;
	defs[ndefs++] = mkdef("beta", OVERLAP_SKIP);
	defs[ndefs++] = mkdef("alpha", OVERLAP_QUEUE);
	res = sync_now(NOW_S);
	cr_assert_eq(res.added, 2);
	cr_assert_eq(res.changed + res.removed + res.unchanged, 0);
	cr_assert_eq(count_events("task_added", NULL), 2);

	res = sync_now(NOW_S + 10);
	cr_assert_eq(res.unchanged, 2);
	cr_assert_eq(res.added + res.changed + res.removed, 0);
	cr_assert_eq(count_events("task_added", NULL), 2, "an unchanged sync wrote events");

	/* A change of definition; only the file position: not a change. */
	cr_assert_eq(store_task_set_paused(st, "alpha", true), 0);
	snprintf(find_def("alpha")->command, TASK_COMMAND_MAX, "echo changed");
	find_def("alpha")->timeout_ms = 5;
	find_def("beta")->line = 40;
	res = sync_now(NOW_S + 20);
	cr_assert_eq(res.changed, 1);
	cr_assert_eq(res.unchanged, 1);
	cr_assert_eq(count_events("task_changed", "alpha"), 1);
	cr_assert_eq(count_events("task_changed", "beta"), 0);
	struct events_seen ev = {0};
	cr_assert_eq(store_events_recent(st, 1, collect_event, &ev), 0);
	cr_assert_eq(ev.n, 1);
	cr_assert_str_eq(ev.ev[0].kind, "task_changed");
	cr_assert_not_null(strstr(ev.ev[0].message, "command"), "%s", ev.ev[0].message);
	cr_assert_not_null(strstr(ev.ev[0].message, "timeout"), "%s", ev.ev[0].message);
	cr_assert_null(strstr(ev.ev[0].message, "schedule"), "%s", ev.ev[0].message);
	cr_assert(tstate("alpha").paused, "a definition change lost the paused flag");
	cr_assert_eq(tstate("alpha").cursor_s, NOW_S, "a change moved the cursor");

	struct tasks_seen ts = {0};
	cr_assert_eq(store_tasks_list(st, false, collect_task, &ts), 0);
	cr_assert_eq(ts.n, 2);
	cr_assert_str_eq(ts.rows[0].name, "alpha");
	cr_assert_str_eq(ts.rows[0].command, "echo changed");
	cr_assert_str_eq(ts.rows[0].overlap, "queue");
	cr_assert_str_eq(ts.rows[0].catch_up, "latest");
	cr_assert_str_eq(ts.rows[0].timezone, "UTC");
	cr_assert(ts.rows[0].paused);

	/* Remove beta after it ran once. */
	struct store_run_created r = new_active("beta", OVERLAP_SKIP, "n1");
	cr_assert_eq(end_rc(r.run_id, r.token, "n1", RUN_SUCCEEDED, 0, NULL, NULL), 0);
	drop_task("beta");
	cr_assert_eq(count_events("task_removed", "beta"), 1);
	cr_assert(tstate("beta").removed);
	cr_assert_eq(history_count("beta"), 1, "history of a removed task is gone");
	cr_assert_eq(store_task_set_paused(st, "beta", true), -ENOENT);
	memset(&ts, 0, sizeof(ts));
	cr_assert_eq(store_tasks_list(st, false, collect_task, &ts), 0);
	cr_assert_eq(ts.n, 1);
	cr_assert_str_eq(ts.rows[0].name, "alpha");
	memset(&ts, 0, sizeof(ts));
	cr_assert_eq(store_tasks_list(st, true, collect_task, &ts), 0);
	cr_assert_eq(ts.n, 2);
	cr_assert(ts.rows[1].removed);

	/* It returns later: un-removed, counted as added, history kept, and
	 * no catch-up owed for the time it was gone. */
	defs[ndefs++] = mkdef("beta", OVERLAP_SKIP);
	res = sync_now(NOW_S + 5000);
	cr_assert_eq(res.added, 1);
	cr_assert_eq(res.unchanged, 1);
	cr_assert(!tstate("beta").removed);
	cr_assert_eq(tstate("beta").cursor_s, NOW_S + 5000);
	cr_assert_eq(history_count("beta"), 1);
	cr_assert_eq(new_pending("beta", OVERLAP_SKIP).token, r.token + 1);
}

Test(store, sync_is_all_or_nothing)
{
	char err[256] = "";
	struct store_sync_result res;
	put_task("keep", OVERLAP_SKIP);
	defs[ndefs++] = mkdef("new1", OVERLAP_SKIP);
	defs[ndefs++] = mkdef("zbad", OVERLAP_SKIP);
	defs[ndefs - 1].overlap = 0;  /* invalid */
	struct task_set ts = {defs, ndefs};
	qsort(defs, ndefs, sizeof(defs[0]), cmp_def);
	cr_assert_eq(store_sync_tasks(st, &ts, NOW_S, &res, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "zbad"), "%s", err);
	struct store_task_state s;
	cr_assert_eq(store_task_state(st, "new1", &s), -ENOENT, "half a sync was kept");
	cr_assert(!tstate("keep").removed);

	/* Not sorted: refused before anything is written. */
	struct task_def two[2] = {mkdef("b2", OVERLAP_SKIP), mkdef("a2", OVERLAP_SKIP)};
	struct task_set bad = {two, 2};
	cr_assert_eq(store_sync_tasks(st, &bad, NOW_S, &res, err, sizeof(err)), -EINVAL);
	cr_assert_eq(store_task_state(st, "a2", &s), -ENOENT);

	/* The empty set removes everything (and is valid). */
	struct task_set none = {NULL, 0};
	cr_assert_eq(store_sync_tasks(st, &none, NOW_S, &res, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(res.removed, 1);
	cr_assert(tstate("keep").removed);
}

Test(store, pause_and_resume)
{
	put_task("a", OVERLAP_SKIP);
	cr_assert(!tstate("a").paused);
	cr_assert_eq(store_task_set_paused(st, "a", false), -EALREADY);
	cr_assert_eq(store_task_set_paused(st, "a", true), 0);
	cr_assert(tstate("a").paused);
	cr_assert_eq(store_task_set_paused(st, "a", true), -EALREADY);
	cr_assert_eq(store_task_set_paused(st, "a", false), 0);
	cr_assert(!tstate("a").paused);
	cr_assert_eq(store_task_set_paused(st, "nosuch", true), -ENOENT);
	struct store_task_state s;
	cr_assert_eq(store_task_state(st, "nosuch", &s), -ENOENT);
}

Test(store, task_list_shows_last_and_active_run)
{
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	struct store_run_created r1 = new_active("a", OVERLAP_SKIP, "n1");
	cr_assert_eq(end_rc(r1.run_id, r1.token, "n1", RUN_FAILED, 1, NULL, NULL), 0);
	struct store_run_created r2 = new_active("a", OVERLAP_SKIP, "n1");

	struct tasks_seen ts = {0};
	cr_assert_eq(store_tasks_list(st, false, collect_task, &ts), 0);
	cr_assert_eq(ts.n, 2);
	cr_assert_eq(ts.rows[0].last_run_id, r2.run_id);
	cr_assert_eq(ts.rows[0].last_state, RUN_DISPATCHED);
	cr_assert_eq(ts.rows[0].active_run_id, r2.run_id);
	cr_assert_eq(ts.rows[1].last_run_id, 0);
	cr_assert_eq(ts.rows[1].active_run_id, 0);

	cr_assert_eq(end_rc(r2.run_id, r2.token, "n1", RUN_SUCCEEDED, 0, NULL, NULL), 0);
	memset(&ts, 0, sizeof(ts));
	cr_assert_eq(store_tasks_list(st, false, collect_task, &ts), 0);
	cr_assert_eq(ts.rows[0].last_state, RUN_SUCCEEDED);
	cr_assert_eq(ts.rows[0].last_finished_ms, NOW_MS + 100);
	cr_assert_eq(ts.rows[0].active_run_id, 0);
}

/* ---- listings ---------------------------------------------------------- */

Test(store, history_newest_first_with_limit)
{
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	uint64_t ids[5];
	for (int i = 0; i < 5; i++) {
		struct store_run_created r = new_active("a", OVERLAP_SKIP, "n1");
		cr_assert_eq(end_rc(r.run_id, r.token, "n1", RUN_SUCCEEDED, 0, NULL, NULL), 0);
		ids[i] = r.run_id;
		struct store_run_created c;  /* interleaved rows of another task */
		cr_assert_eq(create_rc("b", OVERLAP_SKIP, true, 0, &c), 0);
	}
	struct runs_seen s = {0};
	cr_assert_eq(store_runs_history(st, "a", 3, collect_run, &s), 0);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.ids[0], ids[4]);
	cr_assert_eq(s.ids[1], ids[3]);
	cr_assert_eq(s.ids[2], ids[2]);

	memset(&s, 0, sizeof(s));
	cr_assert_eq(store_runs_history(st, "a", 0, collect_run, &s), 0);
	cr_assert_eq(s.n, 5);
	for (size_t i = 1; i < s.n; i++)
		cr_assert_gt(s.ids[i - 1], s.ids[i]);

	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	cr_assert_eq(store_runs_history(st, "a", 10, collect_run, &s), 99);
	cr_assert_eq(s.n, 2);

	memset(&s, 0, sizeof(s));
	cr_assert_eq(store_runs_history(st, "nosuch", 10, collect_run, &s), -ENOENT);
}

static int assign_in_callback(void *arg, const struct store_run *r)
{
	int *n = arg;
	if (r->state == RUN_PENDING)
		cr_assert_eq(store_run_assign(st, r->run_id, "n7", NOW_MS), 0);
	(*n)++;
	return 0;
}

Test(store, unfinished_runs_oldest_first)
{
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	put_task("c", OVERLAP_SKIP);
	put_task("d", OVERLAP_SKIP);
	struct store_run_created done = new_active("a", OVERLAP_SKIP, "n1");
	cr_assert_eq(end_rc(done.run_id, done.token, "n1", RUN_SUCCEEDED, 0, NULL, NULL), 0);
	struct store_run_created skipped;
	struct store_run_created running = new_active("b", OVERLAP_SKIP, "n1");
	cr_assert_eq(store_run_started(st, running.run_id, running.token, "n1", NOW_MS), 0);
	create_rc("b", OVERLAP_SKIP, true, 0, &skipped);
	cr_assert_eq(skipped.state, RUN_SKIPPED);
	struct store_run_created dispatched = new_active("c", OVERLAP_SKIP, "n2");
	struct store_run_created pending = new_pending("d", OVERLAP_SKIP);

	struct runs_seen s = {0};
	cr_assert_eq(store_runs_unfinished(st, collect_run, &s), 0);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.ids[0], running.run_id);
	cr_assert_eq(s.states[0], RUN_RUNNING);
	cr_assert_eq(s.ids[1], dispatched.run_id);
	cr_assert_eq(s.ids[2], pending.run_id);
	cr_assert_eq(s.states[2], RUN_PENDING);

	/* A callback may write to the store. */
	int n = 0;
	cr_assert_eq(store_runs_unfinished(st, assign_in_callback, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(get(pending.run_id).state, RUN_DISPATCHED);
	cr_assert_str_eq(get(pending.run_id).node, "n7");
}

/* ---- nodes and events -------------------------------------------------- */

struct nodes_seen {
	size_t n;
	struct store_node nodes[8];
};

static int collect_node(void *arg, const struct store_node *n)
{
	struct nodes_seen *s = arg;
	cr_assert_lt(s->n, 8);
	s->nodes[s->n++] = *n;
	return 0;
}

Test(store, nodes_upsert_and_list)
{
	struct store_node n2 = {.name = "w2", .addr = "127.0.0.1:7002", .slots = 2,
				.labels = "zone=b", .first_seen_ms = 100, .last_hello_ms = 100};
	struct store_node n1 = {.name = "w1", .addr = "127.0.0.1:7001", .slots = 4,
				.labels = "", .first_seen_ms = 200, .last_hello_ms = 200};
	cr_assert_eq(store_node_upsert(st, &n2), 0);
	cr_assert_eq(store_node_upsert(st, &n1), 0);
	struct store_node again = n2;
	snprintf(again.addr, sizeof(again.addr), "127.0.0.1:7999");
	again.slots = 8;
	again.first_seen_ms = 999;  /* ignored: first seen stays */
	again.last_hello_ms = 500;
	again.incarnation = 77;
	cr_assert_eq(store_node_upsert(st, &again), 0);
	struct store_node empty = {0};
	cr_assert_eq(store_node_upsert(st, &empty), -EINVAL);

	struct nodes_seen s = {0};
	cr_assert_eq(store_nodes_list(st, collect_node, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.nodes[0].name, "w1");
	cr_assert_str_eq(s.nodes[1].name, "w2");
	cr_assert_str_eq(s.nodes[1].addr, "127.0.0.1:7999");
	cr_assert_eq(s.nodes[1].slots, 8);
	cr_assert_str_eq(s.nodes[1].labels, "zone=b");
	cr_assert_eq(s.nodes[1].first_seen_ms, 100);
	cr_assert_eq(s.nodes[1].last_hello_ms, 500);
	cr_assert_eq(s.nodes[1].drained_ms, 0);
	cr_assert_eq(s.nodes[1].incarnation, 77, "the node's incarnation was not kept");
	cr_assert_eq(s.nodes[0].incarnation, 0);
}

Test(store, drain_survives_hello_until_undrain)
{
	struct store_node n = {.name = "w1", .addr = "127.0.0.1:7001", .slots = 4,
			       .first_seen_ms = 100, .last_hello_ms = 100};
	cr_assert_eq(store_node_upsert(st, &n), 0);
	cr_assert_eq(store_node_set_drained(st, "w1", 5000, 5000), 0);
	cr_assert_eq(store_node_set_drained(st, "nobody", 5000, 5000), -ENOENT);
	cr_assert_eq(store_node_set_drained(st, "w1", -1, 5000), -EINVAL);
	n.last_hello_ms = 6000; /* the node says HELLO again: still drained */
	cr_assert_eq(store_node_upsert(st, &n), 0);
	struct nodes_seen s = {0};
	cr_assert_eq(store_nodes_list(st, collect_node, &s), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.nodes[0].drained_ms, 5000);
	cr_assert_eq(store_node_set_drained(st, "w1", 0, 7000), 0);
	s.n = 0;
	cr_assert_eq(store_nodes_list(st, collect_node, &s), 0);
	cr_assert_eq(s.nodes[0].drained_ms, 0);
}

Test(store, events_newest_first)
{
	store_event(st, 1000, "dispatch", "a", 7, "w1", "run %d to %s", 7, "w1");
	store_event(st, 2000, "reload", NULL, 0, NULL, "3 tasks");
	store_event(st, 3000, "skip", "b", 9, NULL, "overlap");
	struct events_seen s = {0};
	cr_assert_eq(store_events_recent(st, 2, collect_event, &s), 0);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.ev[0].kind, "skip");
	cr_assert_eq(s.ev[0].at_ms, 3000);
	cr_assert_str_eq(s.ev[0].task, "b");
	cr_assert_eq(s.ev[0].run_id, 9);
	cr_assert_str_eq(s.ev[0].node, "");
	cr_assert_str_eq(s.ev[1].kind, "reload");
	cr_assert_str_eq(s.ev[1].task, "");
	cr_assert_gt(s.ev[0].id, s.ev[1].id);

	memset(&s, 0, sizeof(s));
	cr_assert_eq(store_events_recent(st, 0, collect_event, &s), 0);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.ev[2].message, "run 7 to w1");
	cr_assert_str_eq(s.ev[2].node, "w1");
}

/* ---- durability -------------------------------------------------------- */

Test(store, state_survives_reopen)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created r = new_active("a", OVERLAP_SKIP, "n1");
	cr_assert_eq(store_task_set_paused(st, "a", true), 0);
	store_close(st);
	st = NULL;

	char err[256] = "";
	cr_assert_eq(store_open(path, &st, err, sizeof(err)), 0, "%s", err);
	struct store_run g = get(r.run_id);
	cr_assert_eq(g.state, RUN_DISPATCHED);
	cr_assert_str_eq(g.node, "n1");
	cr_assert_eq(g.token, r.token);
	cr_assert_eq(g.reason, REASON_SCHEDULE);
	cr_assert_str_eq(g.task, "a");
	cr_assert(tstate("a").paused);
	cr_assert_eq(tstate("a").last_token, r.token);
	/* The invariant still holds after a restart. */
	struct store_run_created c;
	cr_assert_eq(create_rc("a", OVERLAP_SKIP, false, 0, &c), -EBUSY);
}

/* A retry is created in the transaction that records the failure: after
 * store_run_end returns, the retry exists (pending, next token, its
 * backoff), and a duplicate end report creates nothing more. */
Test(store, end_with_retry_creates_it_atomically)
{
	put_task("r", OVERLAP_SKIP);
	struct store_run_created a = new_active("r", OVERLAP_SKIP, "n1");
	struct store_run_new retry = {
		.task = "r", .reason = REASON_RETRY, .scheduled_for = NOW_S, .attempt = 2,
		.overlap = OVERLAP_SKIP, .record_skip = true, .now_ms = NOW_MS + 200,
		.not_before_ms = NOW_MS + 5000,
	};
	struct store_run_created out = {0};
	struct store_run_end end = {.state = RUN_FAILED, .exit_code = 3, .finished_ms = NOW_MS + 100,
				    .retry = &retry, .retry_out = &out};
	bool already = true;
	cr_assert_eq(store_run_end(st, a.run_id, a.token, "n1", &end, &already), 0);
	cr_assert_not(already);
	cr_assert_eq(out.state, RUN_PENDING);
	cr_assert_gt(out.token, a.token);
	struct store_run g = get(out.run_id);
	cr_assert_eq(g.state, RUN_PENDING);
	cr_assert_eq(g.reason, REASON_RETRY);
	cr_assert_eq(g.attempt, 2);
	cr_assert_eq(g.not_before_ms, NOW_MS + 5000);
	cr_assert_eq(get(a.run_id).state, RUN_FAILED);

	struct store_run_created again = {0};
	end.retry_out = &again;
	cr_assert_eq(store_run_end(st, a.run_id, a.token, "n1", &end, &already), 0);
	cr_assert(already);
	cr_assert_eq(again.run_id, 0, "a duplicate report created a second retry");
}
