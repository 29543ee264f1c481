/*
 * test_store_trigger.c - scheduler/store_trigger.c and schema
 * sched-004-triggers.sql (store.h "triggers and debounce"): without
 * debounce a trigger creates a run (reason trigger, count 1); with
 * debounce the first trigger opens a window, later ones join it, and
 * closing it creates one run with the window's count; a trigger or a
 * closing window while the task has an active run queues exactly one
 * follow-up whatever the overlap, and further triggers join it; a window
 * and its count survive reopening the store; a removed task's window is
 * dropped; the rebuilt runs table keeps every index and trigger of a
 * version-3 database, its rows and its run id counter.
 *
 * Each test opens a store in a fresh mkdtemp() directory that the
 * fixture removes.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "store.h"

#define NOW_S  1700000000LL
#define NOW_MS (NOW_S * 1000)

static char dir[64];
static char path[128];
static struct store *st;

static struct task_def defs[8];
static size_t ndefs;

static void rm_dir(void)
{
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

static void setup(void)
{
	char err[256] = "";
	snprintf(dir, sizeof(dir), "/tmp/test_store_trigger.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sched.db", dir);
	cr_assert_eq(store_open(path, &st, err, sizeof(err)), 0, "%s", err);
	ndefs = 0;
}

static void teardown(void)
{
	store_close(st);
	st = NULL;
	rm_dir();
}

TestSuite(trigger, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ----------------------------------------------------------- */

static int cmp_def(const void *a, const void *b)
{
	return strcmp(((const struct task_def *)a)->name, ((const struct task_def *)b)->name);
}

static void sync_defs(void)
{
	struct store_sync_result res;
	char err[256] = "";
	struct task_set ts = {defs, ndefs};
	cr_assert_eq(store_sync_tasks(st, &ts, NOW_S, &res, err, sizeof(err)), 0, "%s", err);
}

static void put_task(const char *name, enum task_overlap ov, int64_t debounce_ms)
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
	d.debounce_ms = debounce_ms;
	snprintf(d.file, sizeof(d.file), "tasks/main.conf");
	d.line = 1;
	cr_assert_lt(ndefs, 8);
	defs[ndefs++] = d;
	qsort(defs, ndefs, sizeof(defs[0]), cmp_def);
	sync_defs();
}

static struct store_run get(uint64_t run_id)
{
	struct store_run r;
	cr_assert_eq(store_run_get(st, run_id, &r), 0, "run %llu", (unsigned long long)run_id);
	return r;
}

static struct store_trigger_result trig(const char *task, int64_t debounce_ms, int64_t at)
{
	struct store_trigger_result r;
	int rc = store_trigger(st, task, debounce_ms, at, &r);
	cr_assert_eq(rc, 0, "trigger %s: %s", task, strerror(-rc));
	return r;
}

static struct store_trigger_result close_at(const char *task, int64_t at)
{
	struct store_trigger_result r;
	int rc = store_trigger_close(st, task, at, &r);
	cr_assert_eq(rc, 0, "close %s: %s", task, strerror(-rc));
	return r;
}

struct wins {
	struct store_trigger_window w[8];
	size_t n;
};

static int win_cb(void *arg, const struct store_trigger_window *w)
{
	struct wins *ws = arg;
	cr_assert_lt(ws->n, 8);
	ws->w[ws->n++] = *w;
	return 0;
}

static struct wins windows(void)
{
	struct wins ws = {.n = 0};
	cr_assert_eq(store_trigger_windows(st, win_cb, &ws), 0);
	return ws;
}

/* Start run_id on node (pending -> dispatched -> running). */
static void start(uint64_t run_id, const char *node)
{
	struct store_run r = get(run_id);
	cr_assert_eq(store_run_assign(st, run_id, node, NOW_MS + 1), 0);
	cr_assert_eq(store_run_started(st, run_id, r.token, node, NOW_MS + 2), 0);
}

static void finish(uint64_t run_id, const char *node)
{
	struct store_run r = get(run_id);
	bool already = false;
	struct store_run_end e = {.state = RUN_SUCCEEDED, .finished_ms = NOW_MS + 3};
	cr_assert_eq(store_run_end(st, run_id, r.token, node, &e, &already), 0);
}

static int count_runs(const char *task)
{
	int n = 0;
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT count(*) FROM runs r JOIN tasks t ON "
					"t.id = r.task_id WHERE t.name = ?1",
					-1, &s, NULL),
		     SQLITE_OK);
	sqlite3_bind_text(s, 1, task, -1, SQLITE_STATIC);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

/* ---- without debounce --------------------------------------------------- */

Test(trigger, no_debounce_creates_a_run_at_once)
{
	put_task("a", OVERLAP_SKIP, 0);
	struct store_trigger_result r = trig("a", 0, NOW_MS);
	cr_assert_eq(r.outcome, STORE_TRIGGER_CREATED);
	cr_assert_neq(r.run_id, 0);
	cr_assert_eq(r.count, 1);
	cr_assert_eq(r.active_run_id, 0);
	struct store_run g = get(r.run_id);
	cr_assert_eq(g.reason, REASON_TRIGGER);
	cr_assert_str_eq(run_reason_name(g.reason), "trigger");
	cr_assert_eq(g.state, RUN_PENDING);
	cr_assert_eq(g.triggers, 1);
	cr_assert_eq(g.token, r.token);
	cr_assert_eq(g.scheduled_for, NOW_S);
	cr_assert_eq(windows().n, 0);

	/* A second trigger before it starts joins it: still one run. */
	r = trig("a", 0, NOW_MS + 10);
	cr_assert_eq(r.outcome, STORE_TRIGGER_JOINED_RUN);
	cr_assert_eq(r.run_id, g.run_id);
	cr_assert_eq(r.count, 2);
	cr_assert_eq(get(g.run_id).triggers, 2);
	cr_assert_eq(count_runs("a"), 1);
}

Test(trigger, follow_up_waits_behind_active_run_whatever_the_overlap)
{
	put_task("a", OVERLAP_SKIP, 0);
	struct store_trigger_result r = trig("a", 0, NOW_MS);
	start(r.run_id, "n1");

	/* overlap = skip, yet the trigger is not lost: one follow-up waits. */
	struct store_trigger_result f = trig("a", 0, NOW_MS + 100);
	cr_assert_eq(f.outcome, STORE_TRIGGER_CREATED);
	cr_assert_eq(f.active_run_id, r.run_id);
	cr_assert_eq(get(f.run_id).state, RUN_PENDING);
	cr_assert_eq(get(f.run_id).triggers, 1);

	/* Further triggers join the follow-up; there is never a second one. */
	for (int i = 0; i < 3; i++) {
		struct store_trigger_result j = trig("a", 0, NOW_MS + 200 + i);
		cr_assert_eq(j.outcome, STORE_TRIGGER_JOINED_RUN);
		cr_assert_eq(j.run_id, f.run_id);
		cr_assert_eq(j.active_run_id, r.run_id);
		cr_assert_eq(j.count, 2 + i);
	}
	cr_assert_eq(get(f.run_id).triggers, 4);
	cr_assert_eq(count_runs("a"), 2);

	/* The active run ends; the follow-up is an ordinary pending run. */
	finish(r.run_id, "n1");
	start(f.run_id, "n2");
	cr_assert_eq(get(f.run_id).state, RUN_RUNNING);
}

Test(trigger, joins_a_pending_run_of_another_reason)
{
	put_task("a", OVERLAP_QUEUE, 5000);
	struct store_run_new rn = {
		.task = "a",
		.reason = REASON_SCHEDULE,
		.scheduled_for = NOW_S,
		.attempt = 1,
		.overlap = OVERLAP_QUEUE,
		.now_ms = NOW_MS,
	};
	struct store_run_created c;
	cr_assert_eq(store_run_create(st, &rn, &c), 0);
	/* Even with debounce: a run that has not started answers it. */
	struct store_trigger_result r = trig("a", 5000, NOW_MS + 1);
	cr_assert_eq(r.outcome, STORE_TRIGGER_JOINED_RUN);
	cr_assert_eq(r.run_id, c.run_id);
	struct store_run g = get(c.run_id);
	cr_assert_eq(g.reason, REASON_SCHEDULE);
	cr_assert_eq(g.triggers, 1);
	cr_assert_eq(windows().n, 0);
}

/* ---- debounce windows --------------------------------------------------- */

Test(trigger, window_opens_joins_and_closes_into_one_run)
{
	put_task("a", OVERLAP_SKIP, 2000);
	struct store_trigger_result r = trig("a", 2000, NOW_MS);
	cr_assert_eq(r.outcome, STORE_TRIGGER_OPENED);
	cr_assert_eq(r.run_id, 0);
	cr_assert_eq(r.count, 1);
	cr_assert_eq(r.opened_ms, NOW_MS);
	cr_assert_eq(r.closes_ms, NOW_MS + 2000);
	cr_assert_eq(count_runs("a"), 0);

	/* Triggers during the window join it; the end does not move. */
	r = trig("a", 2000, NOW_MS + 500);
	cr_assert_eq(r.outcome, STORE_TRIGGER_JOINED_WINDOW);
	cr_assert_eq(r.count, 2);
	r = trig("a", 2000, NOW_MS + 1999);
	cr_assert_eq(r.outcome, STORE_TRIGGER_JOINED_WINDOW);
	cr_assert_eq(r.count, 3);
	cr_assert_eq(r.closes_ms, NOW_MS + 2000);
	struct wins ws = windows();
	cr_assert_eq(ws.n, 1);
	cr_assert_str_eq(ws.w[0].task, "a");
	cr_assert_eq(ws.w[0].count, 3);
	cr_assert_eq(ws.w[0].opened_ms, NOW_MS);
	cr_assert_eq(ws.w[0].last_ms, NOW_MS + 1999);
	cr_assert_eq(ws.w[0].closes_ms, NOW_MS + 2000);

	/* Not before its end. */
	struct store_trigger_result c;
	cr_assert_eq(store_trigger_close(st, "a", NOW_MS + 1999, &c), -EAGAIN);
	cr_assert_eq(count_runs("a"), 0);

	c = close_at("a", NOW_MS + 2000);
	cr_assert_eq(c.outcome, STORE_TRIGGER_CREATED);
	cr_assert_eq(c.count, 3);
	struct store_run g = get(c.run_id);
	cr_assert_eq(g.reason, REASON_TRIGGER);
	cr_assert_eq(g.state, RUN_PENDING);
	cr_assert_eq(g.triggers, 3);
	cr_assert_eq(g.created_ms, NOW_MS + 2000);
	cr_assert_eq(windows().n, 0);
	cr_assert_eq(store_trigger_close(st, "a", NOW_MS + 3000, &c), -ENOENT);
	cr_assert_eq(count_runs("a"), 1);

	/* After the window: the next trigger joins the pending run... */
	r = trig("a", 2000, NOW_MS + 2100);
	cr_assert_eq(r.outcome, STORE_TRIGGER_JOINED_RUN);
	cr_assert_eq(get(g.run_id).triggers, 4);
	/* ...and once that run started, it opens a new window. */
	start(g.run_id, "n1");
	r = trig("a", 2000, NOW_MS + 3000);
	cr_assert_eq(r.outcome, STORE_TRIGGER_OPENED);
	cr_assert_eq(r.closes_ms, NOW_MS + 5000);
}

Test(trigger, window_closing_during_a_run_queues_one_follow_up)
{
	put_task("a", OVERLAP_SKIP, 2000);
	struct store_trigger_result r = trig("a", 2000, NOW_MS);
	struct store_trigger_result first = close_at("a", NOW_MS + 2000);
	start(first.run_id, "n1");

	/* A window during the run closes into one follow-up behind it. */
	r = trig("a", 2000, NOW_MS + 2500);
	cr_assert_eq(r.outcome, STORE_TRIGGER_OPENED);
	r = trig("a", 2000, NOW_MS + 2600);
	cr_assert_eq(r.outcome, STORE_TRIGGER_JOINED_WINDOW);
	struct store_trigger_result f = close_at("a", NOW_MS + 4500);
	cr_assert_eq(f.outcome, STORE_TRIGGER_CREATED);
	cr_assert_eq(f.active_run_id, first.run_id);
	cr_assert_eq(f.count, 2);
	cr_assert_eq(get(f.run_id).state, RUN_PENDING);

	/* More triggers while it waits join it (no window, no second run). */
	r = trig("a", 2000, NOW_MS + 4600);
	cr_assert_eq(r.outcome, STORE_TRIGGER_JOINED_RUN);
	cr_assert_eq(r.run_id, f.run_id);
	cr_assert_eq(r.count, 3);
	cr_assert_eq(windows().n, 0);

	/* A window that closes while a pending run waits joins it too. */
	cr_assert_eq(count_runs("a"), 2);
}

Test(trigger, window_closing_joins_a_run_pending_meanwhile)
{
	put_task("a", OVERLAP_QUEUE, 2000);
	trig("a", 2000, NOW_MS);
	trig("a", 2000, NOW_MS + 1);
	struct store_run_new rn = {
		.task = "a",
		.reason = REASON_MANUAL,
		.scheduled_for = NOW_S,
		.attempt = 1,
		.overlap = OVERLAP_QUEUE,
		.now_ms = NOW_MS + 2,
	};
	struct store_run_created c;
	cr_assert_eq(store_run_create(st, &rn, &c), 0);
	struct store_trigger_result r = close_at("a", NOW_MS + 2000);
	cr_assert_eq(r.outcome, STORE_TRIGGER_JOINED_RUN);
	cr_assert_eq(r.run_id, c.run_id);
	cr_assert_eq(r.count, 2);
	cr_assert_eq(get(c.run_id).triggers, 2);
	cr_assert_eq(count_runs("a"), 1);
}

Test(trigger, open_window_survives_reopening_the_store)
{
	put_task("a", OVERLAP_SKIP, 2000);
	put_task("b", OVERLAP_SKIP, 500);
	trig("a", 2000, NOW_MS);
	trig("a", 2000, NOW_MS + 100);
	trig("b", 500, NOW_MS + 200);
	store_close(st);
	st = NULL;
	char err[256] = "";
	cr_assert_eq(store_open(path, &st, err, sizeof(err)), 0, "%s", err);

	/* Both windows are there, the one closing first first. */
	struct wins ws = windows();
	cr_assert_eq(ws.n, 2);
	cr_assert_str_eq(ws.w[0].task, "b");
	cr_assert_eq(ws.w[0].closes_ms, NOW_MS + 700);
	cr_assert_str_eq(ws.w[1].task, "a");
	cr_assert_eq(ws.w[1].count, 2);
	cr_assert_eq(ws.w[1].closes_ms, NOW_MS + 2000);

	/* Long after its end (the scheduler was down): closes at once. */
	struct store_trigger_result r = close_at("a", NOW_MS + 60000);
	cr_assert_eq(r.outcome, STORE_TRIGGER_CREATED);
	cr_assert_eq(get(r.run_id).triggers, 2);
	cr_assert_eq(windows().n, 1);
}

Test(trigger, removed_task_is_refused_and_its_window_dropped)
{
	put_task("a", OVERLAP_SKIP, 2000);
	put_task("b", OVERLAP_SKIP, 0);
	trig("a", 2000, NOW_MS);

	/* Reload without a: it is removed. */
	struct task_def keep = defs[1];
	defs[0] = keep;
	ndefs = 1;
	sync_defs();
	struct store_trigger_result r;
	cr_assert_eq(store_trigger(st, "a", 2000, NOW_MS + 1, &r), -ENOENT);
	cr_assert_eq(store_trigger(st, "nosuch", 0, NOW_MS + 1, &r), -ENOENT);
	cr_assert_eq(store_trigger(st, "", 0, NOW_MS + 1, &r), -EINVAL);
	cr_assert_eq(store_trigger(st, NULL, 0, NOW_MS + 1, &r), -EINVAL);
	cr_assert_eq(store_trigger(st, "b", -1, NOW_MS + 1, &r), -EINVAL);

	r = close_at("a", NOW_MS + 2000);
	cr_assert_eq(r.outcome, STORE_TRIGGER_DROPPED);
	cr_assert_eq(r.count, 1);
	cr_assert_eq(r.run_id, 0);
	cr_assert_eq(windows().n, 0);
	cr_assert_eq(count_runs("a"), 0);
}

Test(trigger, paused_task_records_the_trigger)
{
	put_task("a", OVERLAP_SKIP, 0);
	cr_assert_eq(store_task_set_paused(st, "a", true), 0);
	struct store_trigger_result r = trig("a", 0, NOW_MS);
	cr_assert_eq(r.outcome, STORE_TRIGGER_CREATED);
	cr_assert_eq(get(r.run_id).state, RUN_PENDING);
}

Test(trigger, superseded_waiting_run_hands_its_triggers_to_the_older_run)
{
	put_task("a", OVERLAP_SKIP, 0);
	struct store_trigger_result r = trig("a", 0, NOW_MS);
	struct store_run g = get(r.run_id);
	cr_assert_eq(store_run_assign(st, g.run_id, "n1", NOW_MS + 1), 0);
	struct store_trigger_result f = trig("a", 0, NOW_MS + 2);
	trig("a", 0, NOW_MS + 3);
	cr_assert_eq(get(f.run_id).triggers, 2);
	/* The worker refuses the first: it goes back to the queue, the
	 * follow-up is superseded, and the older run answers all three. */
	uint64_t sup = 99, tok = 0;
	cr_assert_eq(
		store_run_unassign(st, g.run_id, g.token, "n1", "no slot", NOW_MS + 4, &tok, &sup),
		0);
	cr_assert_eq(get(f.run_id).state, RUN_SKIPPED);
	cr_assert_eq(sup, f.run_id, "the caller must learn which run was superseded");
	cr_assert_eq(get(g.run_id).state, RUN_PENDING);
	cr_assert_eq(get(g.run_id).triggers, 3);
	/* Refused again with nothing waiting behind it: none superseded. */
	cr_assert_eq(store_run_assign(st, g.run_id, "n2", NOW_MS + 5), 0);
	cr_assert_eq(store_run_unassign(st, g.run_id, tok, "n2", "no slot", NOW_MS + 6, NULL, &sup),
		     0);
	cr_assert_eq(sup, 0);
	/* A retransmission (already pending): none either. */
	sup = 99;
	cr_assert_eq(store_run_unassign(st, g.run_id, tok, "n2", "no slot", NOW_MS + 7, NULL, &sup),
		     0);
	cr_assert_eq(sup, 0);
}

Test(trigger, outcome_names)
{
	cr_assert_str_eq(store_trigger_outcome_name(STORE_TRIGGER_CREATED), "created");
	cr_assert_str_eq(store_trigger_outcome_name(STORE_TRIGGER_JOINED_RUN), "joined_run");
	cr_assert_str_eq(store_trigger_outcome_name(STORE_TRIGGER_OPENED), "opened_window");
	cr_assert_str_eq(store_trigger_outcome_name(STORE_TRIGGER_JOINED_WINDOW), "joined_window");
	cr_assert_str_eq(store_trigger_outcome_name(STORE_TRIGGER_DROPPED), "dropped");
	cr_assert_str_eq(store_trigger_outcome_name(0), "?");
	enum run_reason rr;
	cr_assert_eq(run_reason_parse("trigger", &rr), 0);
	cr_assert_eq(rr, REASON_TRIGGER);
}

/* ---- the migration ------------------------------------------------------- */

/* "type name sql" of every index and trigger of runs, one per line. */
static char *runs_schema(sqlite3 *db)
{
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_prepare_v2(db,
					"SELECT type || ' ' || name || ' ' || sql "
					"FROM sqlite_master WHERE tbl_name = 'runs' "
					"AND type IN ('index', 'trigger') AND sql IS NOT NULL "
					"ORDER BY type, name",
					-1, &s, NULL),
		     SQLITE_OK);
	size_t cap = 65536, len = 0;
	char *buf = calloc(1, cap);
	cr_assert_not_null(buf);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		int n = snprintf(buf + len, cap - len, "%s\n", t);
		cr_assert(n > 0 && (size_t)n < cap - len);
		len += (size_t)n;
	}
	sqlite3_finalize(s);
	return buf;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *e = NULL;
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &e), SQLITE_OK, "%s: %s", sql, e);
}

Test(trigger, version_3_database_migrates_keeping_runs_indexes_and_triggers)
{
	char v3[160], err[256] = "";
	snprintf(v3, sizeof(v3), "%s/v3.db", dir);
	size_t n3 = 0;
	while (n3 < db_sched_migrations_n &&
	       strcmp(db_sched_migrations[n3].name, "sched-004-triggers.sql") != 0)
		n3++;
	cr_assert_lt(n3, db_sched_migrations_n, "sched-004-triggers.sql is not embedded");

	/* A database as the version before this migration left it. */
	sqlite3 *db = NULL;
	cr_assert_eq(db_open(v3, db_sched_migrations, n3, &db, err, sizeof(err)), 0, "%s", err);
	raw_exec(db, "INSERT INTO tasks (name, command, schedule, last_token, created_ms, "
		     "updated_ms) VALUES ('a', 'true', '@hourly', 1, 1, 1)");
	raw_exec(db, "INSERT INTO runs (task_id, token, reason, state, scheduled_for, created_ms, "
		     "finished_ms, exit_code) VALUES (1, 1, 'manual', 'succeeded', 10, 11, 12, 0)");
	raw_exec(db, "UPDATE tasks SET last_token = 3");
	raw_exec(db, "INSERT INTO runs (task_id, token, reason, state, scheduled_for, created_ms) "
		     "VALUES (1, 3, 'schedule', 'pending', 20, 21)");
	raw_exec(db, "INSERT INTO runs (task_id, token, reason, state, scheduled_for, created_ms) "
		     "VALUES (1, 0, 'schedule', 'skipped', 30, 31)");
	raw_exec(db, "DELETE FROM runs WHERE run_id = 3"); /* the counter stays at 3 */
	char *before = runs_schema(db);
	sqlite3_close(db);

	store_close(st);
	st = NULL;
	cr_assert_eq(store_open(v3, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sqlite3_open(v3, &db), SQLITE_OK);
	char *after = runs_schema(db);
	cr_assert_str_eq(after, before,
			 "the rebuilt runs table lost or changed an index or trigger");
	cr_assert_geq(strlen(before), 500, "too few indexes/triggers read: %s", before);
	sqlite3_close(db);
	free(before);
	free(after);

	struct store_run g = get(1);
	cr_assert_eq(g.state, RUN_SUCCEEDED);
	cr_assert_eq(g.reason, REASON_MANUAL);
	cr_assert_eq(g.triggers, 0);
	cr_assert_eq(g.finished_ms, 12);
	g = get(2);
	cr_assert_eq(g.state, RUN_PENDING);
	cr_assert_eq(g.token, 3);

	/* The unique indexes still hold, and run ids are never reused. */
	struct store_run_new rn = {
		.task = "a",
		.reason = REASON_MANUAL,
		.scheduled_for = NOW_S,
		.attempt = 1,
		.overlap = OVERLAP_QUEUE,
		.now_ms = NOW_MS,
	};
	struct store_run_created c;
	cr_assert_eq(store_run_create(st, &rn, &c), -EBUSY);
	cr_assert_eq(store_run_assign(st, 2, "n1", NOW_MS), 0);
	struct store_trigger_result r = trig("a", 0, NOW_MS);
	cr_assert_eq(r.outcome, STORE_TRIGGER_CREATED);
	cr_assert_eq(r.run_id, 4, "run id %llu reused a deleted one", (unsigned long long)r.run_id);
	cr_assert_eq(r.token, 4);
	cr_assert_eq(store_run_assign(st, r.run_id, "n2", NOW_MS), -EBUSY);
}
