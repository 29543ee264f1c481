/*
 * test_store_fence.c - scheduler/store_fence.c and schema version 2
 * (store.h "fencing"): opening a fence moves exactly the node's
 * dispatched and running runs to fencing, idempotently; fencing runs
 * still block their task; confirming loses them and frees the task for
 * a run with a higher token; cancelling restores them; hook calls are
 * recorded and listed; workers' late reports keep their meaning; the
 * database refuses fencing moves that bypass a request; a version-1
 * database migrates with its data, a version-3 one is refused.
 *
 * Each test opens a store in a fresh mkdtemp() directory that the
 * fixture removes.  Tests use SQL through a raw handle on the same file
 * to read what the API does not show and to try what the store never
 * would.
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

#define NOW_S 1700000000LL
#define NOW_MS (NOW_S * 1000)

static char dir[64];
static char path[128];
static struct store *st;

static struct task_def defs[16];
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
	snprintf(dir, sizeof(dir), "/tmp/test_store_fence.XXXXXX");
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

TestSuite(fence, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ----------------------------------------------------------- */

static int cmp_def(const void *a, const void *b)
{
	return strcmp(((const struct task_def *)a)->name, ((const struct task_def *)b)->name);
}

static void put_task(const char *name, enum task_overlap ov)
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
	cr_assert_lt(ndefs, 16);
	defs[ndefs++] = d;
	qsort(defs, ndefs, sizeof(defs[0]), cmp_def);

	struct store_sync_result res;
	char err[256] = "";
	struct task_set ts = {defs, ndefs};
	cr_assert_eq(store_sync_tasks(st, &ts, NOW_S, &res, err, sizeof(err)), 0, "%s", err);
}

static int create_rc(const char *task, enum task_overlap ov, struct store_run_created *out)
{
	struct store_run_new rn = {
		.task = task,
		.reason = REASON_SCHEDULE,
		.scheduled_for = NOW_S,
		.attempt = 1,
		.overlap = ov,
		.record_skip = false,
		.now_ms = NOW_MS,
	};
	return store_run_create(st, &rn, out);
}

static struct store_run_created new_pending(const char *task, enum task_overlap ov)
{
	struct store_run_created c;
	cr_assert_eq(create_rc(task, ov, &c), 0, "run of %s refused", task);
	cr_assert_eq(c.state, RUN_PENDING);
	return c;
}

/* A run of task dispatched to node (and started there if running). */
static struct store_run_created new_active(const char *task, enum task_overlap ov,
					   const char *node, bool running)
{
	struct store_run_created c = new_pending(task, ov);
	cr_assert_eq(store_run_assign(st, c.run_id, node, NOW_MS + 1), 0);
	if (running)
		cr_assert_eq(store_run_started(st, c.run_id, c.token, node, NOW_MS + 2), 0);
	return c;
}

static struct store_run get(uint64_t run_id)
{
	struct store_run r;
	cr_assert_eq(store_run_get(st, run_id, &r), 0, "run %llu", (unsigned long long)run_id);
	return r;
}

static int end_rc(uint64_t run_id, uint64_t token, const char *node, enum run_state state,
		  int exit_code, bool *already)
{
	struct store_run_end e = {
		.state = state,
		.exit_code = exit_code,
		.finished_ms = NOW_MS + 100,
		.tail = "late output",
	};
	return store_run_end(st, run_id, token, node, &e, already);
}

static sqlite3 *raw_open_at(const char *p)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 2000);
	return db;
}

static sqlite3 *raw_open(void)
{
	return raw_open_at(path);
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg ? msg : "");
	sqlite3_free(msg);
}

/* The first column of the first row of sql as an integer (-999 if NULL
 * or no row); raw_text: as text ("<null>", "<none>" if no row). */
static long long raw_int(const char *sql)
{
	sqlite3 *db = raw_open();
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(db));
	long long v = -999;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void raw_text(const char *sql, char *buf, size_t size)
{
	sqlite3 *db = raw_open();
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sql);
	snprintf(buf, size, "<none>");
	if (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		snprintf(buf, size, "%s", t ? (const char *)t : "<null>");
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void run_fence_cols(uint64_t run_id, char *from, size_t size, long long *fence_id)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT fenced_from FROM runs WHERE run_id = %llu",
		 (unsigned long long)run_id);
	raw_text(sql, from, size);
	snprintf(sql, sizeof(sql), "SELECT fence_id FROM runs WHERE run_id = %llu",
		 (unsigned long long)run_id);
	*fence_id = raw_int(sql);
}

static long long count_events(const char *kind)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE kind = '%s'", kind);
	return raw_int(sql);
}

static uint64_t fence_open(const char *node, int want_nruns)
{
	uint64_t id = 0;
	int n = -1;
	cr_assert_eq(store_fence_open(st, node, "10.0.0.9:7946", 7, "declared dead by gossip",
				      NOW_MS + 1000, &id, &n),
		     0);
	cr_assert_gt(id, 0);
	cr_assert_eq(n, want_nruns, "%s: %d runs fencing, want %d", node, n, want_nruns);
	return id;
}

struct fences_seen {
	size_t n;
	struct store_fence_row rows[16];
};

static int collect_fence(void *arg, const struct store_fence_row *r)
{
	struct fences_seen *s = arg;
	cr_assert_lt(s->n, 16);
	s->rows[s->n++] = *r;
	return 0;
}

struct attempts_seen {
	size_t n;
	struct store_fence_attempt_row rows[8];
};

static int collect_attempt(void *arg, const struct store_fence_attempt_row *a)
{
	struct attempts_seen *s = arg;
	cr_assert_lt(s->n, 8);
	s->rows[s->n++] = *a;
	return 0;
}

/* ---- open --------------------------------------------------------------- */

Test(fence, open_moves_only_that_nodes_dispatched_and_running_runs)
{
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	put_task("c", OVERLAP_SKIP);
	put_task("d", OVERLAP_SKIP);
	put_task("e", OVERLAP_SKIP);
	struct store_run_created a = new_active("a", OVERLAP_SKIP, "n1", false);
	struct store_run_created b = new_active("b", OVERLAP_SKIP, "n1", true);
	struct store_run_created c = new_active("c", OVERLAP_SKIP, "n2", true);
	struct store_run_created d = new_pending("d", OVERLAP_SKIP);
	struct store_run_created e = new_active("e", OVERLAP_SKIP, "n1", true);
	cr_assert_eq(end_rc(e.run_id, e.token, "n1", RUN_SUCCEEDED, 0, NULL), 0);

	uint64_t id = fence_open("n1", 2);
	cr_assert_eq(get(a.run_id).state, RUN_FENCING);
	cr_assert_eq(get(b.run_id).state, RUN_FENCING);
	cr_assert_eq(get(c.run_id).state, RUN_RUNNING, "another node's run was fenced");
	cr_assert_eq(get(d.run_id).state, RUN_PENDING);
	cr_assert_eq(get(e.run_id).state, RUN_SUCCEEDED, "a terminal run was touched");

	char from[32];
	long long fid;
	run_fence_cols(a.run_id, from, sizeof(from), &fid);
	cr_assert_str_eq(from, "dispatched");
	cr_assert_eq(fid, (long long)id);
	run_fence_cols(b.run_id, from, sizeof(from), &fid);
	cr_assert_str_eq(from, "running");
	cr_assert_eq(fid, (long long)id);
	run_fence_cols(c.run_id, from, sizeof(from), &fid);
	cr_assert_str_eq(from, "<null>");

	struct store_fence_row row;
	cr_assert_eq(store_fence_open_for(st, "n1", &row), 0);
	cr_assert_eq(row.id, id);
	cr_assert_eq(row.state, STORE_FENCE_OPEN);
	cr_assert_str_eq(row.node, "n1");
	cr_assert_str_eq(row.address, "10.0.0.9:7946");
	cr_assert_eq(row.incarnation, 7);
	cr_assert_str_eq(row.reason, "declared dead by gossip");
	cr_assert_eq(row.created_ms, NOW_MS + 1000);
	cr_assert_eq(row.closed_ms, 0);
	cr_assert_eq(row.attempts, 0);
	cr_assert_str_eq(row.confirmed_by, "");
	cr_assert_eq(row.runs_fencing, 2);
	cr_assert_eq(row.runs_lost, 0);
	cr_assert_eq(store_fence_open_for(st, "n2", &row), -ENOENT);

	cr_assert_eq(count_events("fence_open"), 1);
	cr_assert_eq(count_events("run_fencing"), 2);
}

Test(fence, open_is_idempotent_and_sweeps_runs_dispatched_later)
{
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	struct store_run_created a = new_active("a", OVERLAP_SKIP, "n1", true);
	uint64_t id = fence_open("n1", 1);

	/* The same call again: same request, nothing new. */
	uint64_t id2 = 0;
	int n = -1;
	cr_assert_eq(store_fence_open(st, "n1", "10.9.9.9:1", 99, "again", NOW_MS + 2000, &id2, &n),
		     0);
	cr_assert_eq(id2, id);
	cr_assert_eq(n, 1);
	cr_assert_eq(raw_int("SELECT count(*) FROM fence_requests"), 1);
	struct store_fence_row row;
	cr_assert_eq(store_fence_open_for(st, "n1", &row), 0);
	cr_assert_eq(row.incarnation, 7, "an existing request keeps its subject");
	cr_assert_str_eq(row.address, "10.0.0.9:7946");
	cr_assert_eq(get(a.run_id).state, RUN_FENCING);
	char from[32];
	long long fid;
	run_fence_cols(a.run_id, from, sizeof(from), &fid);
	cr_assert_str_eq(from, "running", "a second open overwrote fenced_from");

	/* A run dispatched to the node meanwhile is swept in by the next open. */
	struct store_run_created b = new_active("b", OVERLAP_SKIP, "n1", false);
	cr_assert_eq(store_fence_open(st, "n1", "x", 7, "again", NOW_MS + 3000, &id2, &n), 0);
	cr_assert_eq(id2, id);
	cr_assert_eq(n, 2);
	cr_assert_eq(get(b.run_id).state, RUN_FENCING);
	cr_assert_eq(count_events("fence_open"), 1, "an idempotent open logged a new fence");

	/* NULL outputs are allowed; a node with no runs still gets a request. */
	cr_assert_eq(store_fence_open(st, "n3", NULL, 1, NULL, NOW_MS, NULL, NULL), 0);
	cr_assert_eq(store_fence_open_for(st, "n3", &row), 0);
	cr_assert_eq(row.runs_fencing, 0);
}

Test(fence, open_refuses_bad_arguments)
{
	char longnode[STORE_NODE_MAX + 10], longaddr[STORE_ADDR_MAX + 10];
	memset(longnode, 'n', sizeof(longnode) - 1);
	longnode[sizeof(longnode) - 1] = '\0';
	memset(longaddr, '1', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	cr_assert_eq(store_fence_open(st, "", "a", 1, "r", NOW_MS, NULL, NULL), -EINVAL);
	cr_assert_eq(store_fence_open(st, NULL, "a", 1, "r", NOW_MS, NULL, NULL), -EINVAL);
	cr_assert_eq(store_fence_open(st, longnode, "a", 1, "r", NOW_MS, NULL, NULL), -EINVAL);
	cr_assert_eq(store_fence_open(st, "n1", longaddr, 1, "r", NOW_MS, NULL, NULL), -EINVAL);
	cr_assert_eq(raw_int("SELECT count(*) FROM fence_requests"), 0);
	/* Control: the same call with fitting values works. */
	cr_assert_eq(store_fence_open(st, "n1", "a", 1, "r", NOW_MS, NULL, NULL), 0);
}

/* ---- the invariant while fencing --------------------------------------- */

Test(fence, fencing_run_still_blocks_its_task)
{
	put_task("q", OVERLAP_QUEUE);
	put_task("s", OVERLAP_SKIP);
	struct store_run_created q1 = new_active("q", OVERLAP_QUEUE, "n1", true);
	struct store_run_created s1 = new_active("s", OVERLAP_SKIP, "n1", true);
	struct store_run_created q2 = new_pending("q", OVERLAP_QUEUE);
	fence_open("n1", 2);
	cr_assert_eq(get(q1.run_id).state, RUN_FENCING);

	/* The waiting run cannot be assigned anywhere while q1 is fencing. */
	cr_assert_eq(store_run_assign(st, q2.run_id, "n2", NOW_MS + 5), -EBUSY);
	cr_assert_eq(get(q2.run_id).state, RUN_PENDING);
	/* overlap=skip: no new run at all next to a fencing one. */
	struct store_run_created c;
	cr_assert_eq(create_rc("s", OVERLAP_SKIP, &c), -EBUSY);
	cr_assert_eq(c.blocking_run_id, s1.run_id);
}

/* ---- confirm ------------------------------------------------------------ */

Test(fence, confirm_loses_fencing_runs_and_frees_the_task)
{
	put_task("q", OVERLAP_QUEUE);
	put_task("s", OVERLAP_SKIP);
	put_task("o", OVERLAP_SKIP);
	struct store_run_created q1 = new_active("q", OVERLAP_QUEUE, "n1", true);
	struct store_run_created s1 = new_active("s", OVERLAP_SKIP, "n1", false);
	struct store_run_created o1 = new_active("o", OVERLAP_SKIP, "n2", true);
	struct store_run_created q2 = new_pending("q", OVERLAP_QUEUE);
	uint64_t id = fence_open("n1", 2);

	int nlost = -1;
	cr_assert_eq(store_fence_confirm(st, "n1", "hook", NOW_MS + 5000, NULL, 0, &nlost), 0);
	cr_assert_eq(nlost, 2);
	struct store_run g = get(q1.run_id);
	cr_assert_eq(g.state, RUN_LOST);
	cr_assert_eq(g.finished_ms, NOW_MS + 5000);
	cr_assert_str_eq(g.error, "fenced: node n1 confirmed isolated by hook");
	cr_assert_eq(get(s1.run_id).state, RUN_LOST);
	cr_assert_str_eq(get(o1.run_id).node, "n2");
	cr_assert_eq(get(o1.run_id).state, RUN_RUNNING, "another node's run was lost");
	char from[32];
	long long fid;
	run_fence_cols(q1.run_id, from, sizeof(from), &fid);
	cr_assert_str_eq(from, "running", "a lost run forgot where it was");
	cr_assert_eq(fid, (long long)id);

	/* The queued run can go now, and it has a higher token. */
	cr_assert_eq(store_run_assign(st, q2.run_id, "n2", NOW_MS + 6000), 0);
	cr_assert_gt(get(q2.run_id).token, q1.token);
	/* A new run of the skip task is allowed and carries a higher token. */
	struct store_run_created s2 = new_pending("s", OVERLAP_SKIP);
	cr_assert_gt(s2.token, s1.token);
	cr_assert_eq(store_run_assign(st, s2.run_id, "n3", NOW_MS + 6000), 0);

	struct store_fence_row row;
	cr_assert_eq(store_fence_open_for(st, "n1", &row), -ENOENT);
	struct fences_seen seen = {0};
	cr_assert_eq(store_fence_list(st, collect_fence, &seen), 0);
	cr_assert_eq(seen.n, 1);
	cr_assert_eq(seen.rows[0].id, id);
	cr_assert_eq(seen.rows[0].state, STORE_FENCE_CONFIRMED);
	cr_assert_str_eq(seen.rows[0].confirmed_by, "hook");
	cr_assert_eq(seen.rows[0].closed_ms, NOW_MS + 5000);
	cr_assert_eq(seen.rows[0].runs_lost, 2);
	cr_assert_eq(seen.rows[0].runs_fencing, 0);

	cr_assert_eq(count_events("fence_confirm"), 1);
	cr_assert_eq(count_events("run_lost"), 2);
	cr_assert_eq(raw_int("SELECT count(*) FROM events WHERE kind = 'run_lost' AND task = 'q'"),
		     1);

	/* Confirmed once: a second confirm has nothing to confirm. */
	cr_assert_eq(store_fence_confirm(st, "n1", "operator", NOW_MS + 7000, NULL, 0, &nlost), -ENOENT);
	/* A new fence of the same node is a new request. */
	uint64_t id2 = fence_open("n1", 0);
	cr_assert_neq(id2, id);
}

Test(fence, confirm_by_operator_and_bad_arguments)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created a = new_active("a", OVERLAP_SKIP, "n1", true);
	cr_assert_eq(store_fence_confirm(st, "n1", "operator", NOW_MS, NULL, 0, NULL), -ENOENT,
		     "confirm without an open request");
	cr_assert_eq(get(a.run_id).state, RUN_RUNNING);

	fence_open("n1", 1);
	cr_assert_eq(store_fence_confirm(st, "n1", "gossip", NOW_MS, NULL, 0, NULL), -EINVAL);
	cr_assert_eq(store_fence_confirm(st, "n1", NULL, NOW_MS, NULL, 0, NULL), -EINVAL);
	cr_assert_eq(store_fence_confirm(st, "", "hook", NOW_MS, NULL, 0, NULL), -EINVAL);
	cr_assert_eq(store_fence_confirm(st, "n2", "hook", NOW_MS, NULL, 0, NULL), -ENOENT);
	cr_assert_eq(get(a.run_id).state, RUN_FENCING);

	cr_assert_eq(store_fence_confirm(st, "n1", "operator", NOW_MS + 9, NULL, 0, NULL), 0);
	struct store_run g = get(a.run_id);
	cr_assert_eq(g.state, RUN_LOST);
	cr_assert_str_eq(g.error, "fenced: node n1 confirmed isolated by operator");
	char by[32];
	raw_text("SELECT confirmed_by FROM fence_requests", by, sizeof(by));
	cr_assert_str_eq(by, "operator");
}

/* ---- cancel ------------------------------------------------------------- */

Test(fence, cancel_restores_dispatched_and_running)
{
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	struct store_run_created a = new_active("a", OVERLAP_SKIP, "n1", false);
	struct store_run_created b = new_active("b", OVERLAP_SKIP, "n1", true);
	uint64_t id = fence_open("n1", 2);

	cr_assert_eq(store_fence_cancel(st, "n2", "back", NOW_MS, NULL), -ENOENT);
	int n = -1;
	cr_assert_eq(store_fence_cancel(st, "n1", "rejoined with incarnation 7", NOW_MS + 3000, &n),
		     0);
	cr_assert_eq(n, 2);
	cr_assert_eq(get(a.run_id).state, RUN_DISPATCHED);
	cr_assert_eq(get(b.run_id).state, RUN_RUNNING);
	cr_assert_str_eq(get(b.run_id).node, "n1");
	cr_assert_eq(get(b.run_id).finished_ms, 0);
	char from[32];
	long long fid;
	run_fence_cols(a.run_id, from, sizeof(from), &fid);
	cr_assert_str_eq(from, "<null>");
	cr_assert_eq(fid, -999, "a restored run still names its fence");

	struct fences_seen seen = {0};
	cr_assert_eq(store_fence_list(st, collect_fence, &seen), 0);
	cr_assert_eq(seen.n, 1);
	cr_assert_eq(seen.rows[0].id, id);
	cr_assert_eq(seen.rows[0].state, STORE_FENCE_CANCELLED);
	cr_assert_str_eq(seen.rows[0].note, "rejoined with incarnation 7");
	cr_assert_str_eq(seen.rows[0].confirmed_by, "");
	cr_assert_eq(seen.rows[0].closed_ms, NOW_MS + 3000);
	cr_assert_eq(store_fence_cancel(st, "n1", "again", NOW_MS, NULL), -ENOENT);
	cr_assert_eq(store_fence_confirm(st, "n1", "hook", NOW_MS, NULL, 0, NULL), -ENOENT,
		     "a cancelled fence was confirmed");
	cr_assert_eq(count_events("fence_cancel"), 1);

	/* The restored runs carry on as before. */
	cr_assert_eq(store_run_started(st, a.run_id, a.token, "n1", NOW_MS + 4000), 0);
	cr_assert_eq(get(a.run_id).state, RUN_RUNNING);
	cr_assert_eq(end_rc(b.run_id, b.token, "n1", RUN_SUCCEEDED, 0, NULL), 0);
	cr_assert_eq(get(b.run_id).state, RUN_SUCCEEDED);

	/* And can be fenced again, remembering their new state. */
	uint64_t id2 = fence_open("n1", 1);
	cr_assert_neq(id2, id);
	run_fence_cols(a.run_id, from, sizeof(from), &fid);
	cr_assert_str_eq(from, "running");
	cr_assert_eq(fid, (long long)id2);
}

/* ---- hook calls --------------------------------------------------------- */

Test(fence, attempts_are_recorded_and_listed)
{
	put_task("a", OVERLAP_SKIP);
	new_active("a", OVERLAP_SKIP, "n1", true);
	uint64_t id = fence_open("n1", 1);

	cr_assert_eq(store_fence_attempt(st, id + 100, NOW_MS, NOW_MS, 0, 0, false, "", 0),
		     -ENOENT);
	cr_assert_eq(store_fence_attempt(st, id, NOW_MS + 10, NOW_MS + 20, 1, 0, false,
					 "fence_ipmilan: trying\n"
					 "  Failed: connection refused  \n\n",
					 NOW_MS + 1020),
		     0);
	struct store_fence_row row;
	cr_assert_eq(store_fence_open_for(st, "n1", &row), 0);
	cr_assert_eq(row.attempts, 1);
	cr_assert_str_eq(row.last_error, "exit 1: Failed: connection refused");
	cr_assert_eq(row.next_attempt_ms, NOW_MS + 1020);

	/* The same failure again is not a new event; a timeout is. */
	cr_assert_eq(store_fence_attempt(st, id, NOW_MS + 1100, NOW_MS + 1200, 1, 0, false,
					 "Failed: connection refused\n", NOW_MS + 3200),
		     0);
	cr_assert_eq(count_events("fence_attempt"), 1);
	cr_assert_eq(store_fence_attempt(st, id, NOW_MS + 3300, NOW_MS + 8300, -1, 9, true, NULL,
					 NOW_MS + 12300),
		     0);
	cr_assert_eq(store_fence_open_for(st, "n1", &row), 0);
	cr_assert_eq(row.attempts, 3);
	cr_assert_str_eq(row.last_error, "timed out");
	cr_assert_eq(row.next_attempt_ms, NOW_MS + 12300);
	cr_assert_eq(store_fence_attempt(st, id, NOW_MS + 12300, NOW_MS + 12400, -1, 15, false,
					 "", NOW_MS + 20000),
		     0);
	cr_assert_eq(store_fence_open_for(st, "n1", &row), 0);
	cr_assert_str_eq(row.last_error, "killed by signal 15");
	cr_assert_eq(store_fence_attempt(st, id, NOW_MS + 20000, NOW_MS + 20100, 0, 0, false,
					 "off\nstatus: OFF\n", 0),
		     0);
	cr_assert_eq(store_fence_open_for(st, "n1", &row), 0);
	cr_assert_eq(row.attempts, 5);
	cr_assert_str_eq(row.last_error, "", "exit 0 still shows an error");
	cr_assert_eq(row.state, STORE_FENCE_OPEN, "an attempt alone confirmed the fence");
	cr_assert_eq(count_events("fence_attempt"), 4);

	struct attempts_seen seen = {0};
	cr_assert_eq(store_fence_attempts(st, id, collect_attempt, &seen), 0);
	cr_assert_eq(seen.n, 5);
	for (size_t i = 1; i < seen.n; i++)
		cr_assert_gt(seen.rows[i].id, seen.rows[i - 1].id, "not oldest first");
	cr_assert_eq(seen.rows[0].request_id, id);
	cr_assert_eq(seen.rows[0].started_ms, NOW_MS + 10);
	cr_assert_eq(seen.rows[0].finished_ms, NOW_MS + 20);
	cr_assert_eq(seen.rows[0].exit_code, 1);
	cr_assert_str_eq(seen.rows[0].output,
			 "fence_ipmilan: trying\n  Failed: connection refused  \n\n");
	cr_assert(seen.rows[2].timed_out);
	cr_assert(!seen.rows[0].timed_out);
	cr_assert_eq(seen.rows[2].signal, 9);
	cr_assert_eq(seen.rows[2].exit_code, -1);
	cr_assert_str_eq(seen.rows[2].output, "");
	cr_assert_str_eq(seen.rows[4].output, "off\nstatus: OFF\n");
	cr_assert_eq(store_fence_attempts(st, id + 100, collect_attempt, &seen), -ENOENT);

	/* A hook call that ends after the operator confirmed is still
	 * recorded, with nothing scheduled. */
	cr_assert_eq(store_fence_confirm(st, "n1", "operator", NOW_MS + 30000, NULL, 0, NULL), 0);
	cr_assert_eq(store_fence_attempt(st, id, NOW_MS + 29000, NOW_MS + 31000, 2, 0, false,
					 "late", NOW_MS + 40000),
		     0);
	struct fences_seen fs = {0};
	cr_assert_eq(store_fence_list(st, collect_fence, &fs), 0);
	cr_assert_eq(fs.n, 1);
	cr_assert_eq(fs.rows[0].attempts, 6);
	cr_assert_eq(fs.rows[0].next_attempt_ms, 0);
	cr_assert_eq(fs.rows[0].state, STORE_FENCE_CONFIRMED);
}

Test(fence, attempt_output_keeps_the_end)
{
	uint64_t id = fence_open("n1", 0);
	size_t n = STORE_TAIL_MAX + 1000;
	char *big = malloc(n + 1);
	cr_assert_not_null(big);
	memset(big, 'x', n);
	memcpy(big, "HEAD", 4);
	memcpy(big + n - 4, "END\n", 4);
	big[n] = '\0';
	cr_assert_eq(store_fence_attempt(st, id, NOW_MS, NOW_MS, 3, 0, false, big, 0), 0);
	free(big);
	struct attempts_seen seen = {0};
	cr_assert_eq(store_fence_attempts(st, id, collect_attempt, &seen), 0);
	cr_assert_eq(seen.n, 1);
	cr_assert_eq(strlen(seen.rows[0].output), STORE_TAIL_MAX);
	cr_assert_eq(strcmp(seen.rows[0].output + STORE_TAIL_MAX - 4, "END\n"), 0);
	cr_assert_null(strstr(seen.rows[0].output, "HEAD"));
	struct store_fence_row row;
	cr_assert_eq(store_fence_open_for(st, "n1", &row), 0);
	cr_assert_lt(strlen(row.last_error), 300, "the whole output went into last_error");
	/* last_error is the start of the last line. */
	cr_assert_eq(strncmp(row.last_error, "exit 3: HEADxxx", 15), 0, "%s", row.last_error);
}

/* ---- listing ------------------------------------------------------------ */

struct fence_count {
	size_t n, open;
	char first_closed[STORE_NODE_MAX + 1];
};

static int count_fence(void *arg, const struct store_fence_row *r)
{
	struct fence_count *c = arg;
	c->n++;
	if (r->state == STORE_FENCE_OPEN) {
		cr_assert_eq(c->n, c->open + 1, "an open request after a closed one");
		c->open++;
	} else if (c->n == c->open + 1) {
		snprintf(c->first_closed, sizeof(c->first_closed), "%s", r->node);
	}
	return 0;
}

/* Confirms the request it is shown (a write inside a listing), then stops. */
static int confirm_and_stop(void *arg, const struct store_fence_row *r)
{
	int *calls = arg;
	(*calls)++;
	cr_assert_eq(store_fence_confirm(st, r->node, "operator", NOW_MS, NULL, 0, NULL), 0);
	return 42;
}

Test(fence, list_shows_open_first_then_recent_closed)
{
	cr_assert_eq(store_fence_open(st, "n1", "a1", 1, "r", NOW_MS + 1, NULL, NULL), 0);
	cr_assert_eq(store_fence_open(st, "n2", "a2", 1, "r", NOW_MS + 2, NULL, NULL), 0);
	cr_assert_eq(store_fence_open(st, "n3", "a3", 1, "r", NOW_MS + 3, NULL, NULL), 0);
	cr_assert_eq(store_fence_open(st, "n4", "a4", 1, "r", NOW_MS + 4, NULL, NULL), 0);
	cr_assert_eq(store_fence_confirm(st, "n2", "hook", NOW_MS + 10, NULL, 0, NULL), 0);
	cr_assert_eq(store_fence_cancel(st, "n3", "back", NOW_MS + 20, NULL), 0);

	struct fences_seen seen = {0};
	cr_assert_eq(store_fence_list(st, collect_fence, &seen), 0);
	cr_assert_eq(seen.n, 4);
	cr_assert_str_eq(seen.rows[0].node, "n1");
	cr_assert_str_eq(seen.rows[1].node, "n4");
	cr_assert_str_eq(seen.rows[2].node, "n3", "the most recently closed comes first");
	cr_assert_str_eq(seen.rows[3].node, "n2");
	cr_assert_eq(seen.rows[0].state, STORE_FENCE_OPEN);
	cr_assert_eq(seen.rows[3].state, STORE_FENCE_CONFIRMED);
	cr_assert_str_eq(store_fence_state_name(seen.rows[2].state), "cancelled");
	cr_assert_str_eq(store_fence_state_name(0), "?");

	/* Closed requests are bounded; open ones are all shown, first. */
	char node[16];
	for (int i = 0; i < STORE_FENCE_LIST_CLOSED + 5; i++) {
		snprintf(node, sizeof(node), "c%d", i);
		cr_assert_eq(store_fence_open(st, node, "a", 1, "r", NOW_MS + 100 + i, NULL, NULL),
			     0);
		cr_assert_eq(store_fence_cancel(st, node, "back", NOW_MS + 100 + i, NULL), 0);
	}
	struct fence_count cnt = {0};
	cr_assert_eq(store_fence_list(st, count_fence, &cnt), 0);
	cr_assert_eq(cnt.open, 2);
	cr_assert_eq(cnt.n, 2 + STORE_FENCE_LIST_CLOSED);
	snprintf(node, sizeof(node), "c%d", STORE_FENCE_LIST_CLOSED + 4);
	cr_assert_str_eq(cnt.first_closed, node, "the newest closed one is not first");
}

Test(fence, list_callback_may_stop_and_may_write)
{
	cr_assert_eq(store_fence_open(st, "n1", "a1", 1, "r", NOW_MS, NULL, NULL), 0);
	cr_assert_eq(store_fence_open(st, "n2", "a2", 1, "r", NOW_MS, NULL, NULL), 0);
	int calls = 0;
	cr_assert_eq(store_fence_list(st, confirm_and_stop, &calls), 42);
	cr_assert_eq(calls, 1);
	cr_assert_eq(raw_int("SELECT count(*) FROM fence_requests WHERE state = 'confirmed'"), 1);
	cr_assert_eq(raw_int("SELECT count(*) FROM fence_requests WHERE state = 'open'"), 1);
}

/* ---- storm guard -------------------------------------------------------- */

Test(fence, pause_and_resume_open_requests)
{
	cr_assert_eq(store_fence_open(st, "n1", "a1", 1, "r", NOW_MS, NULL, NULL), 0);
	cr_assert_eq(store_fence_open(st, "n2", "a2", 1, "r", NOW_MS, NULL, NULL), 0);
	cr_assert_eq(store_fence_open(st, "n3", "a3", 1, "r", NOW_MS, NULL, NULL), 0);
	cr_assert_eq(store_fence_confirm(st, "n3", "hook", NOW_MS, NULL, 0, NULL), 0);
	int n = -1;
	cr_assert_eq(store_fence_set_paused(st, NULL, true, NOW_MS + 1, &n), 0);
	cr_assert_eq(n, 2, "paused %d", n);
	cr_assert_eq(raw_int("SELECT count(*) FROM fence_requests WHERE paused_by_storm = 1"), 2);
	cr_assert_eq(store_fence_set_paused(st, NULL, true, NOW_MS + 2, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(count_events("fence_paused"), 1);

	cr_assert_eq(store_fence_set_paused(st, "n1", false, NOW_MS + 3, &n), 0);
	cr_assert_eq(n, 1);
	struct store_fence_row row;
	cr_assert_eq(store_fence_open_for(st, "n1", &row), 0);
	cr_assert(!row.paused_by_storm);
	cr_assert_eq(store_fence_open_for(st, "n2", &row), 0);
	cr_assert(row.paused_by_storm);
	cr_assert_eq(store_fence_set_paused(st, "n3", false, NOW_MS, &n), -ENOENT);
	cr_assert_eq(store_fence_set_paused(st, "", false, NOW_MS, &n), -EINVAL);

	/* Closing clears the flag. */
	cr_assert_eq(store_fence_confirm(st, "n2", "operator", NOW_MS + 4, NULL, 0, NULL), 0);
	cr_assert_eq(raw_int("SELECT paused_by_storm FROM fence_requests WHERE node = 'n2'"), 0);
}

/* ---- workers' reports while fencing and after lost ---------------------- */

Test(fence, end_report_for_fencing_run_still_works)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created a = new_active("a", OVERLAP_SKIP, "n1", true);
	fence_open("n1", 1);
	/* A late "started" for a fencing run changes nothing. */
	cr_assert_eq(store_run_started(st, a.run_id, a.token, "n1", NOW_MS + 50), 0);
	cr_assert_eq(get(a.run_id).state, RUN_FENCING);

	bool already = true;
	cr_assert_eq(end_rc(a.run_id, a.token, "n9", RUN_SUCCEEDED, 0, &already), -ESTALE);
	cr_assert_eq(end_rc(a.run_id, a.token, "n1", RUN_SUCCEEDED, 0, &already), 0);
	cr_assert(!already);
	struct store_run g = get(a.run_id);
	cr_assert_eq(g.state, RUN_SUCCEEDED);
	cr_assert_str_eq(g.output_tail, "late output");

	/* The request stays open (the node may still be dead); confirming
	 * it later loses nothing that already ended. */
	struct store_fence_row row;
	cr_assert_eq(store_fence_open_for(st, "n1", &row), 0);
	cr_assert_eq(row.runs_fencing, 0);
	int nlost = -1;
	cr_assert_eq(store_fence_confirm(st, "n1", "hook", NOW_MS + 500, NULL, 0, &nlost), 0);
	cr_assert_eq(nlost, 0);
	cr_assert_eq(get(a.run_id).state, RUN_SUCCEEDED);
}

Test(fence, report_after_lost_does_not_resurrect)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created a = new_active("a", OVERLAP_SKIP, "n1", true);
	fence_open("n1", 1);
	cr_assert_eq(store_fence_confirm(st, "n1", "hook", NOW_MS + 500, NULL, 0, NULL), 0);
	struct store_run before = get(a.run_id);
	cr_assert_eq(before.state, RUN_LOST);

	/* Decision: "already ended" -- 0 and *already, nothing changes. */
	bool already = false;
	cr_assert_eq(end_rc(a.run_id, a.token, "n1", RUN_SUCCEEDED, 0, &already), 0);
	cr_assert(already);
	struct store_run g = get(a.run_id);
	cr_assert_eq(g.state, RUN_LOST);
	cr_assert_eq(g.exit_code, before.exit_code);
	cr_assert_eq(g.finished_ms, NOW_MS + 500);
	cr_assert_str_eq(g.output_tail, "");
	cr_assert_str_eq(g.error, before.error);

	cr_assert_eq(store_run_started(st, a.run_id, a.token, "n1", NOW_MS + 600), 0);
	cr_assert_eq(get(a.run_id).state, RUN_LOST);
	uint64_t tok = 0;
	cr_assert_eq(store_run_unassign(st, a.run_id, a.token, "n1", "never", NOW_MS, &tok, NULL),
		     0);
	cr_assert_eq(get(a.run_id).state, RUN_LOST);
	cr_assert_eq(get(a.run_id).token, a.token);
	enum run_state s;
	cr_assert_eq(store_run_cancel(st, a.run_id, NOW_MS, &s), -EALREADY);

	/* The task goes on with a new run meanwhile, untouched by the report. */
	struct store_run_created a2 = new_pending("a", OVERLAP_SKIP);
	cr_assert_eq(store_run_assign(st, a2.run_id, "n2", NOW_MS + 700), 0);
	cr_assert_eq(end_rc(a.run_id, a.token, "n1", RUN_FAILED, 1, &already), 0);
	cr_assert_eq(get(a2.run_id).state, RUN_DISPATCHED);
}

Test(fence, never_started_report_sends_fencing_run_back_to_pending)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created a = new_active("a", OVERLAP_SKIP, "n1", false);
	fence_open("n1", 1);
	uint64_t tok = 0;
	cr_assert_eq(store_run_unassign(st, a.run_id, a.token, "n1", "never started", NOW_MS + 50,
					&tok, NULL),
		     0, "schema 2 must allow fencing -> pending with a new token");
	struct store_run g = get(a.run_id);
	cr_assert_eq(g.state, RUN_PENDING);
	cr_assert_str_eq(g.node, "");
	cr_assert_gt(g.token, a.token);
	cr_assert_eq(tok, g.token);
	char from[32];
	long long fid;
	run_fence_cols(a.run_id, from, sizeof(from), &fid);
	cr_assert_str_eq(from, "<null>");
	cr_assert_eq(fid, -999);

	/* Confirming the fence later does not touch it. */
	int nlost = -1;
	cr_assert_eq(store_fence_confirm(st, "n1", "hook", NOW_MS + 500, NULL, 0, &nlost), 0);
	cr_assert_eq(nlost, 0);
	cr_assert_eq(get(a.run_id).state, RUN_PENDING);
	cr_assert_eq(store_run_assign(st, a.run_id, "n2", NOW_MS + 600), 0);
}

/* ---- walls in the database ---------------------------------------------- */

static int raw_rc(sqlite3 *db, const char *fmt, unsigned long long id)
{
	char sql[256];
	snprintf(sql, sizeof(sql), fmt, id);
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

Test(fence, database_refuses_fencing_moves_without_a_request)
{
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	struct store_run_created a = new_active("a", OVERLAP_SKIP, "n1", true);
	struct store_run_created b = new_active("b", OVERLAP_SKIP, "n2", true);
	sqlite3 *db = raw_open();

	/* No request at all. */
	cr_assert_eq(raw_rc(db, "UPDATE runs SET state = 'fencing', fenced_from = 'running' "
				"WHERE run_id = %llu", a.run_id),
		     SQLITE_CONSTRAINT_TRIGGER);
	sqlite3_close(db);
	uint64_t id = fence_open("n1", 1);
	db = raw_open();
	/* A request of another node does not cover n2's run. */
	char sql[256];
	snprintf(sql, sizeof(sql), "UPDATE runs SET state = 'fencing', fenced_from = 'running', "
		 "fence_id = %llu WHERE run_id = %llu", (unsigned long long)id,
		 (unsigned long long)b.run_id);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_CONSTRAINT_TRIGGER);
	/* Lost while the request is open: refused (rule 4). */
	cr_assert_eq(raw_rc(db, "UPDATE runs SET state = 'lost' WHERE run_id = %llu", a.run_id),
		     SQLITE_CONSTRAINT_TRIGGER);
	/* Back to running while the request is open: refused. */
	cr_assert_eq(raw_rc(db, "UPDATE runs SET state = 'running' WHERE run_id = %llu",
			    a.run_id),
		     SQLITE_CONSTRAINT_TRIGGER);
	/* A second open request for the node. */
	cr_assert_eq(sqlite3_exec(db, "INSERT INTO fence_requests (node, created_ms, updated_ms) "
				      "VALUES ('n1', 0, 0)", NULL, NULL, NULL),
		     SQLITE_CONSTRAINT_UNIQUE);
	/* Control: another node's request is fine. */
	cr_assert_eq(sqlite3_exec(db, "INSERT INTO fence_requests (node, created_ms, updated_ms) "
				      "VALUES ('n7', 0, 0)", NULL, NULL, NULL),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	cr_assert_eq(get(a.run_id).state, RUN_FENCING);
	cr_assert_eq(get(b.run_id).state, RUN_RUNNING);

	cr_assert_eq(store_fence_confirm(st, "n1", "hook", NOW_MS, NULL, 0, NULL), 0);
	db = raw_open();
	/* A closed request never changes state again. */
	cr_assert_eq(raw_rc(db, "UPDATE fence_requests SET state = 'open', closed_ms = 0, "
				"confirmed_by = NULL WHERE id = %llu", id),
		     SQLITE_CONSTRAINT_TRIGGER);
	cr_assert_eq(raw_rc(db, "UPDATE fence_requests SET confirmed_by = 'operator' "
				"WHERE id = %llu", id),
		     SQLITE_CONSTRAINT_TRIGGER);
	/* Lost is terminal. */
	cr_assert_eq(raw_rc(db, "UPDATE runs SET state = 'running' WHERE run_id = %llu",
			    a.run_id),
		     SQLITE_CONSTRAINT_TRIGGER);
	sqlite3_close(db);
	cr_assert_eq(get(a.run_id).state, RUN_LOST);
}

Test(fence, database_restores_only_the_remembered_state)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created a = new_active("a", OVERLAP_SKIP, "n1", false);
	uint64_t id = fence_open("n1", 1);
	sqlite3 *db = raw_open();
	/* Close the request by hand (as cancel does first), then try to
	 * restore a dispatched run as running: refused; as dispatched: fine. */
	raw_exec(db, "BEGIN IMMEDIATE");
	char sql[160];
	snprintf(sql, sizeof(sql), "UPDATE fence_requests SET state = 'cancelled', closed_ms = 1 "
		 "WHERE id = %llu", (unsigned long long)id);
	raw_exec(db, sql);
	cr_assert_eq(raw_rc(db, "UPDATE runs SET state = 'running' WHERE run_id = %llu",
			    a.run_id),
		     SQLITE_CONSTRAINT_TRIGGER);
	cr_assert_eq(raw_rc(db, "UPDATE runs SET state = 'dispatched' WHERE run_id = %llu",
			    a.run_id),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	raw_exec(db, "COMMIT");
	sqlite3_close(db);
	cr_assert_eq(get(a.run_id).state, RUN_DISPATCHED);
}

/* ---- migration ---------------------------------------------------------- */

Test(fence, version_1_database_migrates_keeping_runs)
{
	char v1[160], err[256] = "";
	snprintf(v1, sizeof(v1), "%s/v1.db", dir);
	cr_assert_geq(db_sched_migrations_n, 2);
	cr_assert_str_eq(db_sched_migrations[1].name, "sched-002-fencing.sql");

	/* A database as version 1 of sched left it, with runs in it. */
	sqlite3 *db = NULL;
	cr_assert_eq(db_open(v1, db_sched_migrations, 1, &db, err, sizeof(err)), 0, "%s", err);
	raw_exec(db, "INSERT INTO tasks (name, command, schedule, last_token, created_ms, "
		     "updated_ms) VALUES ('a', 'true', '@hourly', 2, 1, 1)");
	raw_exec(db, "INSERT INTO runs (task_id, token, reason, state, scheduled_for, created_ms, "
		     "finished_ms, exit_code) "
		     "VALUES (1, 2, 'schedule', 'succeeded', 10, 11, 12, 0)");
	raw_exec(db, "UPDATE tasks SET last_token = 3");
	raw_exec(db, "INSERT INTO runs (task_id, token, reason, state, scheduled_for, created_ms) "
		     "VALUES (1, 3, 'schedule', 'pending', 20, 21)");
	raw_exec(db, "UPDATE runs SET state = 'dispatched', node = 'n1', dispatched_ms = 22 "
		     "WHERE token = 3");
	raw_exec(db, "INSERT INTO events (at_ms, kind, message) VALUES (5, 'old', 'kept')");
	int v = 0;
	cr_assert_eq(db_user_version(db, &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(sqlite3_exec(db, "SELECT fenced_from FROM runs", NULL, NULL, NULL),
		     SQLITE_ERROR, "version 1 already had fenced_from?");
	sqlite3_close(db);

	store_close(st);
	st = NULL;
	cr_assert_eq(store_open(v1, &st, err, sizeof(err)), 0, "%s", err);
	db = raw_open_at(v1);
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_assert_eq(sqlite3_column_int(s, 0), db_sched_migrations[db_sched_migrations_n - 1].version,
		     "not migrated to the newest version");
	sqlite3_finalize(s);
	cr_assert_eq(sqlite3_exec(db, "SELECT drained_ms FROM nodes", NULL, NULL, NULL), SQLITE_OK,
		     "version 3 (drain) not applied");
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE kind = 'old'", -1,
					&s, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_assert_eq(sqlite3_column_int(s, 0), 1);
	sqlite3_finalize(s);
	sqlite3_close(db);

	struct store_run g = get(1);
	cr_assert_eq(g.state, RUN_SUCCEEDED);
	cr_assert_eq(g.token, 2);
	cr_assert_eq(g.finished_ms, 12);
	g = get(2);
	cr_assert_eq(g.state, RUN_DISPATCHED);
	cr_assert_str_eq(g.node, "n1");
	cr_assert_eq(g.dispatched_ms, 22);

	/* The migrated run fences, loses and frees its task like any other. */
	uint64_t id = 0;
	int n = -1;
	cr_assert_eq(store_fence_open(st, "n1", "x", 1, "r", NOW_MS, &id, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(get(2).state, RUN_FENCING);
	cr_assert_eq(store_fence_confirm(st, "n1", "operator", NOW_MS + 1, NULL, 0, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(get(2).state, RUN_LOST);
	struct store_run_created c;
	cr_assert_eq(create_rc("a", OVERLAP_SKIP, &c), 0);
	cr_assert_eq(c.token, 4);

	/* Reopening is a no-op: still the newest version, data still there. */
	store_close(st);
	st = NULL;
	cr_assert_eq(store_open(v1, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(get(2).state, RUN_LOST);
}

/* One version past this build's newest (whatever later migrations add). */
Test(fence, version_4_database_is_refused)
{
	/* "4": one above the newest schema when this test was written; now
	 * whatever is one above the newest. */
	int future = db_sched_migrations[db_sched_migrations_n - 1].version + 1;
	char v4[160], err[256] = "", sql[96], want[64];
	snprintf(v4, sizeof(v4), "%s/v4.db", dir);
	sqlite3 *db = raw_open_at(v4);
	snprintf(sql, sizeof(sql), "CREATE TABLE future (x); PRAGMA user_version = %d", future);
	raw_exec(db, sql);
	sqlite3_close(db);

	struct store *st4 = (struct store *)0x1;
	int rc = store_open(v4, &st4, err, sizeof(err));
	cr_assert_eq(rc, -EPROTO, "rc %d: %s", rc, err);
	cr_assert_null(st4);
	snprintf(want, sizeof(want), "schema version %d", future);
	cr_assert_not_null(strstr(err, want), "%s", err);
	snprintf(want, sizeof(want), "newest %d", future - 1);
	cr_assert_not_null(strstr(err, want), "%s", err);

	db = raw_open_at(v4);
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_assert_eq(sqlite3_column_int(s, 0), future, "a refused database was changed");
	sqlite3_finalize(s);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master "
					    "WHERE name = 'fence_requests'",
					-1, &s, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_assert_eq(sqlite3_column_int(s, 0), 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

Test(fence, open_fence_survives_reopen)
{
	put_task("a", OVERLAP_SKIP);
	struct store_run_created a = new_active("a", OVERLAP_SKIP, "n1", true);
	uint64_t id = fence_open("n1", 1);
	cr_assert_eq(store_fence_attempt(st, id, NOW_MS, NOW_MS + 1, 1, 0, false, "no", NOW_MS + 9),
		     0);
	store_close(st);
	st = NULL;
	char err[256] = "";
	cr_assert_eq(store_open(path, &st, err, sizeof(err)), 0, "%s", err);
	struct store_fence_row row;
	cr_assert_eq(store_fence_open_for(st, "n1", &row), 0);
	cr_assert_eq(row.id, id);
	cr_assert_eq(row.attempts, 1);
	cr_assert_eq(row.next_attempt_ms, NOW_MS + 9);
	cr_assert_eq(row.runs_fencing, 1);
	cr_assert_eq(get(a.run_id).state, RUN_FENCING);
	struct store_run_created c;
	cr_assert_eq(create_rc("a", OVERLAP_SKIP, &c), -EBUSY, "a restart freed a fencing task");
}

/* ---- confirm with retries, and late reports of lost runs ----------------- */

Test(fence, confirm_creates_retries_of_lost_runs_in_the_same_transaction)
{
	put_task("a", OVERLAP_SKIP);
	put_task("b", OVERLAP_SKIP);
	struct store_run_created a1 = new_active("a", OVERLAP_SKIP, "n1", true);
	struct store_run_created b1 = new_active("b", OVERLAP_SKIP, "n2", true);
	fence_open("n1", 1);
	struct store_fence_retry rt[2] = {
		{.run_id = a1.run_id,
		 .rn = {.task = "a", .reason = REASON_RETRY, .scheduled_for = 100, .attempt = 2,
			.overlap = OVERLAP_SKIP, .record_skip = true, .now_ms = NOW_MS + 1}},
		/* b1 is on another node: it is not lost, so no retry for it */
		{.run_id = b1.run_id,
		 .rn = {.task = "b", .reason = REASON_RETRY, .scheduled_for = 100, .attempt = 2,
			.overlap = OVERLAP_SKIP, .record_skip = true, .now_ms = NOW_MS + 1}},
	};
	int nlost = -1;
	uint64_t inc = 0;
	cr_assert_eq(store_run_fence_incarnation(st, b1.run_id, &inc), -ENOENT,
		     "a run no fence took has no fence incarnation");
	cr_assert_eq(store_fence_confirm(st, "n1", "hook", NOW_MS + 1, rt, 2, &nlost), 0);
	cr_assert_eq(nlost, 1);
	cr_assert_eq(store_run_fence_incarnation(st, a1.run_id, &inc), 0);
	cr_assert_eq(inc, 7, "the lost run names the incarnation its fence took");
	cr_assert_neq(rt[0].out.run_id, 0, "no retry for the lost run");
	cr_assert_eq(rt[0].out.state, RUN_PENDING);
	cr_assert_gt(rt[0].out.token, a1.token, "the retry must carry a higher token");
	cr_assert_eq(get(rt[0].out.run_id).attempt, 2);
	cr_assert_eq(rt[1].out.run_id, 0, "a retry was created for a run that was not lost");
	cr_assert_eq(get(b1.run_id).state, RUN_RUNNING);

	/* The fenced worker comes back and reports a1 lost: acknowledged
	 * (already), nothing changes; the same report for a live run is
	 * refused: lost is the fence's verdict. */
	struct store_run_end end = {.state = RUN_LOST, .exit_code = -1,
				    .finished_ms = NOW_MS + 9, .error = "fenced"};
	bool already = false;
	cr_assert_eq(store_run_end(st, a1.run_id, a1.token, "n1", &end, &already), 0);
	cr_assert(already);
	cr_assert_eq(get(a1.run_id).state, RUN_LOST);
	cr_assert_eq(store_run_end(st, b1.run_id, b1.token, "n2", &end, &already), -EINVAL);
	cr_assert_eq(get(b1.run_id).state, RUN_RUNNING);
}
