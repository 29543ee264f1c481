/*
 * test_store_batch.c - store_batch_apply (scheduler/store_batch.c): a
 * batch applies in one transaction or not at all; a blocker in the middle
 * leaves the database byte-for-byte as it was (every table that a batch
 * can touch is fingerprinted through a raw handle); what blocks and what
 * is merely "unchanged" follows store.h; store_run_previous_node.
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

#define NOW_S  1700000000LL
#define NOW_MS (NOW_S * 1000)

static char dir[64];
static char path[128];
static struct store *st;

static void setup(void)
{
	char err[256] = "";
	snprintf(dir, sizeof(dir), "/tmp/test_store_batch.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sched.db", dir);
	cr_assert_eq(store_open(path, &st, err, sizeof(err)), 0, "%s", err);
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

TestSuite(store_batch, .init = setup, .fini = teardown, .timeout = 60);

static struct task_def mkdef(const char *name, enum task_overlap ov)
{
	struct task_def d;
	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "%s", name);
	snprintf(d.command, sizeof(d.command), "echo %s", name);
	snprintf(d.schedule, sizeof(d.schedule), "@hourly");
	snprintf(d.cron.tz, sizeof(d.cron.tz), "UTC");
	d.overlap = ov;
	d.catch_up = CATCH_UP_LATEST;
	d.retry_backoff_ms = 10000;
	snprintf(d.file, sizeof(d.file), "tasks/main.conf");
	d.line = 1;
	return d;
}

/* Tasks a, b, c, d (overlap skip) and q (overlap queue). */
static void five_tasks(void)
{
	static struct task_def defs[5];
	const char *names[] = {"a", "b", "c", "d", "q"};
	for (size_t i = 0; i < 5; i++)
		defs[i] = mkdef(names[i], i == 4 ? OVERLAP_QUEUE : OVERLAP_SKIP);
	struct task_set ts = {defs, 5};
	struct store_sync_result res;
	char err[256] = "";
	cr_assert_eq(store_sync_tasks(st, &ts, NOW_S, &res, err, sizeof(err)), 0, "%s", err);
}

static struct store_run_new rn_of(const char *task, enum task_overlap ov)
{
	return (struct store_run_new){.task = task,
				      .reason = REASON_MANUAL,
				      .scheduled_for = NOW_S,
				      .attempt = 1,
				      .overlap = ov,
				      .now_ms = NOW_MS};
}

static uint64_t new_run(const char *task, const char *node)
{
	struct store_run_new rn = rn_of(task, OVERLAP_SKIP);
	struct store_run_created c;
	cr_assert_eq(store_run_create(st, &rn, &c), 0);
	cr_assert_eq(c.state, RUN_PENDING);
	if (node)
		cr_assert_eq(store_run_assign(st, c.run_id, node, NOW_MS + 1), 0);
	return c.run_id;
}

/* Everything a batch could change, as one string (malloc'd). */
static char *fingerprint(void)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *s;
	const char *sql =
		"SELECT (SELECT group_concat(x, ';') FROM (SELECT name || ':' || paused || ':' || "
		"last_token || ':' || cursor_s AS x FROM tasks ORDER BY id)) || '|' || "
		"(SELECT group_concat(x, ';') FROM (SELECT run_id || ':' || state || ':' || "
		"cancel_requested || ':' || token || ':' || error AS x FROM runs ORDER BY run_id)) "
		"|| '|' || (SELECT count(*) FROM events) || '|' || "
		"(SELECT seq FROM sqlite_sequence WHERE name = 'runs')";
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s",
		     sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	const unsigned char *t = sqlite3_column_text(s, 0);
	char *out = strdup(t ? (const char *)t : "(null)");
	sqlite3_finalize(s);
	sqlite3_close(db);
	return out;
}

static bool paused(const char *task)
{
	struct store_task_state ts;
	cr_assert_eq(store_task_state(st, task, &ts), 0);
	return ts.paused;
}

static enum run_state state_of(uint64_t run_id)
{
	struct store_run r;
	cr_assert_eq(store_run_get(st, run_id, &r), 0);
	return r.state;
}

Test(store_batch, pause_all_or_nothing)
{
	five_tasks();
	struct store_batch_item it[3] = {
		{.op = STORE_BATCH_PAUSE, .task = "a"},
		{.op = STORE_BATCH_PAUSE, .task = "nope"},
		{.op = STORE_BATCH_PAUSE, .task = "c"},
	};
	char *before = fingerprint();
	size_t blocker = 99;
	cr_assert_eq(store_batch_apply(st, it, 3, NOW_MS, &blocker), -ENOENT);
	cr_assert_eq(blocker, 1);
	cr_assert_eq(it[0].rc, 0); /* would have applied */
	cr_assert_eq(it[2].rc, 1); /* not tried */
	char *after = fingerprint();
	cr_assert_str_eq(after, before);
	cr_assert(!paused("a") && !paused("c"));
	free(before);
	free(after);

	it[1].task = "b";
	cr_assert_eq(store_batch_apply(st, it, 3, NOW_MS, &blocker), 0);
	cr_assert(paused("a") && paused("b") && paused("c") && !paused("d"));
	/* Again, and d: a b c are unchanged (not blockers), d is paused. */
	struct store_batch_item again[2] = {{.op = STORE_BATCH_PAUSE, .task = "a"},
					    {.op = STORE_BATCH_PAUSE, .task = "d"}};
	cr_assert_eq(store_batch_apply(st, again, 2, NOW_MS, &blocker), 0);
	cr_assert_eq(again[0].rc, -EALREADY);
	cr_assert_eq(again[1].rc, 0);
	cr_assert(paused("d"));
	struct store_batch_item res[2] = {{.op = STORE_BATCH_RESUME, .task = "a"},
					  {.op = STORE_BATCH_RESUME, .task = "d"}};
	cr_assert_eq(store_batch_apply(st, res, 2, NOW_MS, &blocker), 0);
	cr_assert(!paused("a") && paused("b") && !paused("d"));
}

/* run a b c where b already has an active run: nothing is created, no
 * token is used up, b's run is named. */
Test(store_batch, run_blocked_in_the_middle_changes_nothing)
{
	five_tasks();
	uint64_t rb = new_run("b", "n1");
	struct store_batch_item it[3] = {
		{.op = STORE_BATCH_RUN, .task = "a", .rn = rn_of("a", OVERLAP_SKIP)},
		{.op = STORE_BATCH_RUN, .task = "b", .rn = rn_of("b", OVERLAP_SKIP)},
		{.op = STORE_BATCH_RUN, .task = "c", .rn = rn_of("c", OVERLAP_SKIP)},
	};
	char *before = fingerprint();
	size_t blocker = 99;
	cr_assert_eq(store_batch_apply(st, it, 3, NOW_MS, &blocker), -EBUSY);
	cr_assert_eq(blocker, 1);
	cr_assert_eq(it[1].created.blocking_run_id, rb);
	cr_assert_eq(it[0].created.run_id, 0, "a rolled-back run must not look created");
	char *after = fingerprint();
	cr_assert_str_eq(after, before);
	free(before);
	free(after);

	/* Without b: both created, pending, with tokens. */
	it[1] = it[2];
	cr_assert_eq(store_batch_apply(st, it, 2, NOW_MS, &blocker), 0);
	cr_assert_gt(it[0].created.run_id, 0);
	cr_assert_gt(it[1].created.run_id, 0);
	cr_assert_eq(state_of(it[0].created.run_id), RUN_PENDING);
	cr_assert_eq(state_of(it[1].created.run_id), RUN_PENDING);
	/* overlap = queue: one may wait behind the active one, not two. */
	new_run("q", "n1");
	struct store_batch_item q = {
		.op = STORE_BATCH_RUN, .task = "q", .rn = rn_of("q", OVERLAP_QUEUE)};
	cr_assert_eq(store_batch_apply(st, &q, 1, NOW_MS, &blocker), 0);
	cr_assert_eq(store_batch_apply(st, &q, 1, NOW_MS, &blocker), -EBUSY);
}

Test(store_batch, cancel_runs_and_tasks)
{
	five_tasks();
	uint64_t ra = new_run("a", "n1"); /* active */
	uint64_t rb = new_run("b", NULL); /* pending */
	uint64_t rc = new_run("c", "n1");
	struct store_batch_item done = {.op = STORE_BATCH_CANCEL, .run_id = rb};
	size_t blocker;
	cr_assert_eq(store_batch_apply(st, &done, 1, NOW_MS, &blocker), 0);
	cr_assert_eq(state_of(rb), RUN_CANCELLED);

	/* A finished run blocks; an unknown run blocks; nothing changes. */
	struct store_batch_item it[3] = {
		{.op = STORE_BATCH_CANCEL, .run_id = ra},
		{.op = STORE_BATCH_CANCEL, .run_id = rb},
		{.op = STORE_BATCH_CANCEL, .task = "c"},
	};
	char *before = fingerprint();
	cr_assert_eq(store_batch_apply(st, it, 3, NOW_MS, &blocker), -EALREADY);
	cr_assert_eq(blocker, 1);
	it[1].run_id = 424242;
	cr_assert_eq(store_batch_apply(st, it, 3, NOW_MS, &blocker), -ENOENT);
	cr_assert_eq(blocker, 1);
	char *after = fingerprint();
	cr_assert_str_eq(after, before);
	free(before);
	free(after);

	/* By task: c's active run is asked to stop; d has nothing (unchanged);
	 * an unknown task blocks. */
	struct store_batch_item bad[2] = {{.op = STORE_BATCH_CANCEL, .task = "c"},
					  {.op = STORE_BATCH_CANCEL, .task = "zz"}};
	cr_assert_eq(store_batch_apply(st, bad, 2, NOW_MS, &blocker), -ENOENT);
	struct store_run r;
	cr_assert_eq(store_run_get(st, rc, &r), 0);
	cr_assert(!r.cancel_requested);
	it[1] = (struct store_batch_item){.op = STORE_BATCH_CANCEL, .task = "d"};
	cr_assert_eq(store_batch_apply(st, it, 3, NOW_MS, &blocker), 0);
	cr_assert_eq(it[1].rc, -EALREADY);
	cr_assert_eq(it[2].ncancelled, 1);
	cr_assert_eq(it[2].cancelled[0], rc);
	cr_assert_eq(it[2].cancel_state[0],
		     RUN_RUNNING == state_of(rc) ? RUN_RUNNING : RUN_DISPATCHED);
	cr_assert_eq(store_run_get(st, rc, &r), 0);
	cr_assert(r.cancel_requested);
	cr_assert_eq(store_run_get(st, ra, &r), 0);
	cr_assert(r.cancel_requested);
}

/* A task with an active and a pending run (overlap = queue): both go. */
Test(store_batch, cancel_task_takes_active_and_pending)
{
	five_tasks();
	uint64_t act = new_run("q", "n1");
	struct store_run_new rn = rn_of("q", OVERLAP_QUEUE);
	struct store_run_created c;
	cr_assert_eq(store_run_create(st, &rn, &c), 0);
	cr_assert_eq(c.state, RUN_PENDING);
	struct store_batch_item it = {.op = STORE_BATCH_CANCEL, .task = "q"};
	size_t blocker;
	cr_assert_eq(store_batch_apply(st, &it, 1, NOW_MS, &blocker), 0);
	cr_assert_eq(it.ncancelled, 2);
	cr_assert_eq(it.cancelled[0], act);
	cr_assert_eq(it.cancelled[1], c.run_id);
	cr_assert_eq(it.cancel_state[1], RUN_CANCELLED);
	cr_assert_eq(state_of(c.run_id), RUN_CANCELLED);
	cr_assert_eq(state_of(act), RUN_DISPATCHED);
}

/* `cancel q 42 41` where 42 is q's pending run and 41 its active one: the
 * task item cancels both first; the later run items are unchanged, not
 * blockers ("has already finished") and not a second cancel. */
Test(store_batch, cancel_task_then_its_runs_is_not_blocked)
{
	five_tasks();
	uint64_t act = new_run("q", "n1");
	struct store_run_new rn = rn_of("q", OVERLAP_QUEUE);
	struct store_run_created c;
	cr_assert_eq(store_run_create(st, &rn, &c), 0);
	struct store_batch_item it[3] = {
		{.op = STORE_BATCH_CANCEL, .task = "q"},
		{.op = STORE_BATCH_CANCEL, .run_id = c.run_id},
		{.op = STORE_BATCH_CANCEL, .run_id = act},
	};
	size_t blocker = 99;
	cr_assert_eq(store_batch_apply(st, it, 3, NOW_MS, &blocker), 0, "blocked at %zu", blocker);
	cr_assert_eq(it[0].rc, 0);
	cr_assert_eq(it[0].ncancelled, 2);
	cr_assert_eq(it[1].rc, -EALREADY);
	cr_assert(it[1].cancelled_before);
	cr_assert_eq(it[1].ncancelled, 0);
	cr_assert_eq(it[2].rc, -EALREADY);
	cr_assert(it[2].cancelled_before);
	cr_assert_eq(state_of(c.run_id), RUN_CANCELLED);

	/* The other order: the run items first, then the task, which has
	 * nothing left of its own to do (unchanged); a run finished before
	 * the batch still blocks. */
	uint64_t act2 = new_run("a", "n1");
	struct store_batch_item rev[2] = {
		{.op = STORE_BATCH_CANCEL, .run_id = act2},
		{.op = STORE_BATCH_CANCEL, .task = "a"},
	};
	cr_assert_eq(store_batch_apply(st, rev, 2, NOW_MS, &blocker), 0);
	cr_assert_eq(rev[0].ncancelled, 1);
	cr_assert_eq(rev[1].rc, -EALREADY);
	cr_assert_eq(rev[1].ncancelled, 0);
	struct store_batch_item fin = {.op = STORE_BATCH_CANCEL, .run_id = c.run_id};
	cr_assert_eq(store_batch_apply(st, &fin, 1, NOW_MS, &blocker), -EALREADY);
	cr_assert(!fin.cancelled_before);
}

static int count_windows(void *arg, const struct store_trigger_window *w)
{
	(void)w;
	(*(int *)arg)++;
	return 0;
}

/* Cancelling a task drops its open debounce window in the same
 * transaction: closing it later makes no run. */
Test(store_batch, cancel_task_drops_its_trigger_window)
{
	five_tasks();
	struct store_trigger_result tr;
	cr_assert_eq(store_trigger(st, "a", 5000, NOW_MS, &tr), 0);
	cr_assert_eq(tr.outcome, STORE_TRIGGER_OPENED);
	cr_assert_eq(store_trigger(st, "a", 5000, NOW_MS + 1, &tr), 0);
	cr_assert_eq(tr.outcome, STORE_TRIGGER_JOINED_WINDOW);

	/* A blocked batch leaves the window. */
	struct store_batch_item bad[2] = {{.op = STORE_BATCH_CANCEL, .task = "a"},
					  {.op = STORE_BATCH_CANCEL, .task = "zz"}};
	size_t blocker;
	cr_assert_eq(store_batch_apply(st, bad, 2, NOW_MS + 2, &blocker), -ENOENT);
	cr_assert_eq(bad[0].dropped_triggers, 0);
	int n = 0;
	cr_assert_eq(store_trigger_windows(st, count_windows, &n), 0);
	cr_assert_eq(n, 1);

	struct store_batch_item it = {.op = STORE_BATCH_CANCEL, .task = "a"};
	cr_assert_eq(store_batch_apply(st, &it, 1, NOW_MS + 2, &blocker), 0);
	cr_assert_eq(it.rc, 0, "a task with only a window is not unchanged");
	cr_assert_eq(it.ncancelled, 0);
	cr_assert_eq(it.dropped_triggers, 2);
	n = 0;
	cr_assert_eq(store_trigger_windows(st, count_windows, &n), 0);
	cr_assert_eq(n, 0);
	/* The window timer finds nothing to close: no run. */
	cr_assert_eq(store_trigger_close(st, "a", NOW_MS + 10000, &tr), -ENOENT);
	/* Again: nothing left, unchanged. */
	cr_assert_eq(store_batch_apply(st, &it, 1, NOW_MS + 3, &blocker), 0);
	cr_assert_eq(it.rc, -EALREADY);

	/* The event says why. */
	sqlite3 *db;
	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *s;
	cr_assert_eq(
		sqlite3_prepare_v2(db,
				   "SELECT count(*) FROM events WHERE kind = 'trigger_dropped' "
				   "AND message LIKE '2 trigger(s) dropped: cancelled by%'",
				   -1, &s, NULL),
		SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_assert_eq(sqlite3_column_int(s, 0), 1);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* store_retry.c: the previous attempt's node, for a retry after restart. */
Test(store_batch, previous_attempt_node)
{
	five_tasks();
	uint64_t r1 = new_run("a", "n7");
	struct store_run r;
	cr_assert_eq(store_run_get(st, r1, &r), 0);
	struct store_run_new retry = rn_of("a", OVERLAP_SKIP);
	retry.reason = REASON_RETRY;
	retry.attempt = 2;
	retry.record_skip = true;
	struct store_run_created rc = {0};
	struct store_run_end end = {.state = RUN_FAILED,
				    .exit_code = 1,
				    .finished_ms = NOW_MS + 5,
				    .retry = &retry,
				    .retry_out = &rc};
	bool already;
	cr_assert_eq(store_run_end(st, r1, r.token, "n7", &end, &already), 0);
	cr_assert_eq(rc.state, RUN_PENDING);
	char node[64] = "";
	cr_assert_eq(store_run_previous_node(st, rc.run_id, node, sizeof(node)), 0);
	cr_assert_str_eq(node, "n7");
	cr_assert_eq(store_run_previous_node(st, r1, node, sizeof(node)), -ENOENT);
	cr_assert_eq(store_run_previous_node(st, 999, node, sizeof(node)), -ENOENT);
}
