/*
 * test_wstore.c - worker/wstore.c: the worker's write-ahead record of
 * what it accepted, ran and still has to report; rejection tombstones;
 * per-task fencing tokens; purge; durability across close/reopen; the
 * worker's incarnation (strictly increasing, whatever the wall clock
 * does); runs ended as lost; the migration from a version-1 database.
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
#include "wstore.h"

#define NOW_MS 1700000000000LL

static char dir[64];
static char path[128];
static struct wstore *ws;

static void setup(void)
{
	char err[256] = "";
	snprintf(dir, sizeof(dir), "/tmp/test_wstore.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/worker.db", dir);
	cr_assert_eq(wstore_open(path, &ws, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	wstore_close(ws);
	ws = NULL;
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

TestSuite(wstore, .init = setup, .fini = teardown, .timeout = 30);

static void reopen(void)
{
	char err[256] = "";
	wstore_close(ws);
	ws = NULL;
	cr_assert_eq(wstore_open(path, &ws, err, sizeof(err)), 0, "%s", err);
}

static struct wrun mkrun(uint64_t run_id, uint64_t token, const char *task)
{
	struct wrun r;
	memset(&r, 0, sizeof(r));
	r.run_id = run_id;
	r.token = token;
	snprintf(r.task, sizeof(r.task), "%s", task);
	snprintf(r.command, sizeof(r.command), "sleep 1; echo %s", task);
	r.attempt = 2;
	r.scheduled_for = 1700000000;
	r.timeout_ms = 30000;
	r.reason = REASON_RETRY;
	r.phase = WRUN_RUNNING;  /* ignored by accept */
	r.accepted_ms = NOW_MS + (int64_t)run_id;
	r.exit_code = -1;
	return r;
}

static struct wrun get(uint64_t run_id)
{
	struct wrun r;
	cr_assert_eq(wstore_get(ws, run_id, &r), 0, "run %llu", (unsigned long long)run_id);
	return r;
}

/* accept + running + ended: a run that frees its task on this worker. */
static void run_to_end(uint64_t run_id, uint64_t token, const char *task)
{
	struct wrun r = mkrun(run_id, token, task);
	cr_assert_eq(wstore_accept(ws, &r), 0);
	cr_assert_eq(wstore_set_running(ws, run_id, 100, 5, NOW_MS, NULL), 0);
	cr_assert_eq(wstore_set_ended(ws, run_id, RUN_SUCCEEDED, 0, 0, NOW_MS, "", NULL), 0);
}

struct seen {
	size_t n;
	uint64_t ids[16];
	enum wrun_phase phases[16];
};

static int collect(void *arg, const struct wrun *r)
{
	struct seen *s = arg;
	cr_assert_lt(s->n, 16);
	s->ids[s->n] = r->run_id;
	s->phases[s->n] = r->phase;
	s->n++;
	return 0;
}

Test(wstore, lifecycle_accept_running_ended_done)
{
	struct wrun in = mkrun(10, 3, "backup");
	snprintf(in.log_path, sizeof(in.log_path), "/var/lib/sched/10.log");
	cr_assert_eq(wstore_accept(ws, &in), 0);
	struct wrun r = get(10);
	cr_assert_eq(r.phase, WRUN_ACCEPTED, "accept must persist phase ACCEPTED");
	cr_assert_eq(r.token, 3);
	cr_assert_str_eq(r.task, "backup");
	cr_assert_str_eq(r.command, in.command);
	cr_assert_eq(r.attempt, 2);
	cr_assert_eq(r.scheduled_for, 1700000000);
	cr_assert_eq(r.timeout_ms, 30000);
	cr_assert_eq(r.reason, REASON_RETRY);
	cr_assert_eq(r.accepted_ms, NOW_MS + 10);
	cr_assert_eq(r.pid, 0);
	cr_assert_eq(r.exit_code, -1);
	cr_assert_eq(r.end_state, 0);
	cr_assert_str_eq(r.log_path, "/var/lib/sched/10.log");

	cr_assert_eq(wstore_set_running(ws, 10, 4242, 987654, NOW_MS + 20, "/tmp/10.log"), 0);
	r = get(10);
	cr_assert_eq(r.phase, WRUN_RUNNING);
	cr_assert_eq(r.pid, 4242);
	cr_assert_eq(r.proc_start, 987654);
	cr_assert_eq(r.started_ms, NOW_MS + 20);
	cr_assert_str_eq(r.log_path, "/tmp/10.log");
	cr_assert_eq(wstore_set_running(ws, 10, 1, 1, NOW_MS, NULL), -ESTALE);
	cr_assert_eq(get(10).pid, 4242);

	cr_assert_eq(wstore_set_done(ws, 10, NOW_MS), -ESTALE, "done before the end");
	cr_assert_eq(wstore_set_ended(ws, 10, RUN_FAILED, 2, 0, NOW_MS + 30, "oops\n", "exit 2"),
		     0);
	r = get(10);
	cr_assert_eq(r.phase, WRUN_ENDED);
	cr_assert_eq(r.end_state, RUN_FAILED);
	cr_assert_eq(r.exit_code, 2);
	cr_assert_eq(r.signal, 0);
	cr_assert_eq(r.finished_ms, NOW_MS + 30);
	cr_assert_str_eq(r.tail, "oops\n");
	cr_assert_str_eq(r.error, "exit 2");
	cr_assert_eq(wstore_set_ended(ws, 10, RUN_SUCCEEDED, 0, 0, NOW_MS, "", NULL), -EALREADY);
	cr_assert_eq(get(10).end_state, RUN_FAILED, "a second end overwrote the first");

	cr_assert_eq(wstore_set_done(ws, 10, NOW_MS + 40), 0);
	cr_assert_eq(get(10).phase, WRUN_DONE);
	cr_assert_eq(wstore_set_done(ws, 10, NOW_MS + 50), 0, "done is idempotent");
	cr_assert_eq(get(10).end_state, RUN_FAILED);
	cr_assert_eq(wstore_set_ended(ws, 10, RUN_SUCCEEDED, 0, 0, NOW_MS, "", NULL), -EALREADY);
}

Test(wstore, ended_straight_from_accepted)
{
	struct wrun in = mkrun(11, 1, "t");
	cr_assert_eq(wstore_accept(ws, &in), 0);
	cr_assert_eq(wstore_set_ended(ws, 11, RUN_CANCELLED, -1, 15, NOW_MS, NULL, "cancelled"),
		     0);
	struct wrun r = get(11);
	cr_assert_eq(r.phase, WRUN_ENDED);
	cr_assert_eq(r.end_state, RUN_CANCELLED);
	cr_assert_eq(r.signal, 15);
	cr_assert_eq(wstore_set_ended(ws, 12, RUN_FAILED, 1, 0, NOW_MS, NULL, NULL), -ENOENT);
	cr_assert_eq(wstore_set_ended(ws, 11, RUN_SKIPPED, 1, 0, NOW_MS, NULL, NULL), -EINVAL);
	cr_assert_eq(wstore_set_running(ws, 12, 1, 1, NOW_MS, NULL), -ENOENT);
	cr_assert_eq(wstore_set_done(ws, 12, NOW_MS), -ENOENT);
	cr_assert_eq(wstore_set_cancel(ws, 12), -ENOENT);
	struct wrun none;
	cr_assert_eq(wstore_get(ws, 12, &none), -ENOENT);
}

Test(wstore, duplicate_accept_is_eexist)
{
	struct wrun in = mkrun(20, 5, "t");
	cr_assert_eq(wstore_accept(ws, &in), 0);
	cr_assert_eq(wstore_accept(ws, &in), -EEXIST);
	/* Even when it has ended and been acknowledged. */
	cr_assert_eq(wstore_set_ended(ws, 20, RUN_SUCCEEDED, 0, 0, NOW_MS, NULL, NULL), 0);
	cr_assert_eq(wstore_set_done(ws, 20, NOW_MS), 0);
	cr_assert_eq(wstore_accept(ws, &in), -EEXIST);
	cr_assert_eq(wstore_reject(ws, 20, 5, "t", "dup", NOW_MS), -EEXIST);
	cr_assert_eq(get(20).phase, WRUN_DONE);
}

Test(wstore, reject_tombstone_blocks_later_accept)
{
	cr_assert_eq(wstore_reject(ws, 30, 7, "t", "no free slot", NOW_MS), 0);
	struct wrun r = get(30);
	cr_assert_eq(r.phase, WRUN_REJECTED);
	cr_assert_str_eq(r.error, "no free slot");
	struct wrun in = mkrun(30, 7, "t");
	cr_assert_eq(wstore_accept(ws, &in), -EEXIST);
	cr_assert_eq(wstore_reject(ws, 30, 7, "t", "again", NOW_MS), -EEXIST);
	cr_assert_eq(get(30).phase, WRUN_REJECTED);
	cr_assert_eq(wstore_set_running(ws, 30, 1, 1, NOW_MS, NULL), -ESTALE);
	cr_assert_eq(wstore_set_ended(ws, 30, RUN_FAILED, 1, 0, NOW_MS, NULL, NULL), -ESTALE);
	cr_assert_eq(wstore_set_done(ws, 30, NOW_MS), -ESTALE);
	cr_assert_eq(get(30).phase, WRUN_REJECTED);

	/* The rejected token counts as seen: a different run with it is stale. */
	struct wrun other = mkrun(31, 7, "t");
	cr_assert_eq(wstore_accept(ws, &other), -ESTALE);
	other.token = 8;
	cr_assert_eq(wstore_accept(ws, &other), 0);
}

/* The scheduler re-dispatches a refused run with a new token: the
 * tombstone of the old token gives way, a late copy of the old dispatch
 * does not, and a finished run's id is never accepted again. */
Test(wstore, redispatch_with_new_token_replaces_rejection)
{
	cr_assert_eq(wstore_reject(ws, 50, 7, "t", "no free slot", NOW_MS), 0);
	struct wrun old = mkrun(50, 7, "t");
	cr_assert_eq(wstore_accept(ws, &old), -EEXIST);
	struct wrun again = mkrun(50, 9, "t");
	cr_assert_eq(wstore_accept(ws, &again), 0);
	struct wrun g = get(50);
	cr_assert_eq(g.phase, WRUN_ACCEPTED);
	cr_assert_eq(g.token, 9);
	cr_assert_eq(wstore_accept(ws, &old), -EEXIST, "the old dispatch stays refused");

	/* Refused again with a newer token: the tombstone moves up with it. */
	cr_assert_eq(wstore_reject(ws, 70, 20, "v", "no free slot", NOW_MS), 0);
	cr_assert_eq(wstore_reject(ws, 70, 21, "v", "stopping", NOW_MS), 0);
	cr_assert_eq(get(70).token, 21);
	cr_assert_eq(wstore_reject(ws, 70, 21, "v", "again", NOW_MS), -EEXIST);
	struct wrun late = mkrun(70, 21, "v");
	cr_assert_eq(wstore_accept(ws, &late), -EEXIST, "the newer refused dispatch stays refused");
	struct wrun stale_other = mkrun(71, 21, "v");
	cr_assert_eq(wstore_accept(ws, &stale_other), -ESTALE, "the task saw token 21");
	run_to_end(60, 12, "u");
	struct wrun done_again = mkrun(60, 13, "u");
	cr_assert_eq(wstore_accept(ws, &done_again), -EEXIST, "only tombstones give way");
}

Test(wstore, lower_or_equal_token_is_stale)
{
	run_to_end(40, 5, "t");
	struct wrun same = mkrun(41, 5, "t");
	cr_assert_eq(wstore_accept(ws, &same), -ESTALE);
	struct wrun lower = mkrun(42, 2, "t");
	cr_assert_eq(wstore_accept(ws, &lower), -ESTALE);
	struct wrun x;
	cr_assert_eq(wstore_get(ws, 41, &x), -ENOENT, "a stale dispatch was recorded");
	cr_assert_eq(wstore_get(ws, 42, &x), -ENOENT);
	/* Tokens are per task. */
	struct wrun other = mkrun(43, 1, "u");
	cr_assert_eq(wstore_accept(ws, &other), 0);
	struct wrun higher = mkrun(44, 6, "t");
	cr_assert_eq(wstore_accept(ws, &higher), 0);
	struct wrun bad = mkrun(45, 0, "t");
	cr_assert_eq(wstore_accept(ws, &bad), -EINVAL);
	bad = mkrun(45, 9, "t");
	bad.reason = 99;
	cr_assert_eq(wstore_accept(ws, &bad), -EINVAL);
}

Test(wstore, one_live_run_per_task)
{
	struct wrun a = mkrun(50, 1, "t");
	struct wrun b = mkrun(51, 2, "t");
	cr_assert_eq(wstore_accept(ws, &a), 0);
	cr_assert_eq(wstore_accept(ws, &b), -EBUSY);
	cr_assert_eq(wstore_set_running(ws, 50, 9, 9, NOW_MS, NULL), 0);
	cr_assert_eq(wstore_accept(ws, &b), -EBUSY);
	/* Once ended (even unacknowledged) the task is free on this worker. */
	cr_assert_eq(wstore_set_ended(ws, 50, RUN_SUCCEEDED, 0, 0, NOW_MS, NULL, NULL), 0);
	cr_assert_eq(wstore_accept(ws, &b), 0);
}

Test(wstore, list_live)
{
	struct wrun r;
	r = mkrun(60, 1, "a");
	cr_assert_eq(wstore_accept(ws, &r), 0);            /* accepted */
	r = mkrun(61, 1, "b");
	cr_assert_eq(wstore_accept(ws, &r), 0);
	cr_assert_eq(wstore_set_running(ws, 61, 1, 1, NOW_MS, NULL), 0);  /* running */
	run_to_end(62, 1, "c");                            /* ended */
	run_to_end(63, 1, "d");
	cr_assert_eq(wstore_set_done(ws, 63, NOW_MS), 0);  /* done */
	cr_assert_eq(wstore_reject(ws, 64, 1, "e", "no", NOW_MS), 0);  /* rejected */

	struct seen s = {0};
	cr_assert_eq(wstore_list_live(ws, collect, &s), 0);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.ids[0], 60);
	cr_assert_eq(s.phases[0], WRUN_ACCEPTED);
	cr_assert_eq(s.ids[1], 61);
	cr_assert_eq(s.phases[1], WRUN_RUNNING);
	cr_assert_eq(s.ids[2], 62);
	cr_assert_eq(s.phases[2], WRUN_ENDED);
}

static int end_in_callback(void *arg, const struct wrun *r)
{
	(void)arg;
	if (r->phase != WRUN_ENDED)
		cr_assert_eq(wstore_set_ended(ws, r->run_id, RUN_FAILED, -1, 9, NOW_MS, NULL,
					      "worker restarted"),
			     0);
	return 0;
}

static int stop_at_first(void *arg, const struct wrun *r)
{
	(void)r;
	(*(int *)arg)++;
	return -ECANCELED;
}

Test(wstore, list_live_callback_may_write_and_stop)
{
	struct wrun r = mkrun(70, 1, "a");
	cr_assert_eq(wstore_accept(ws, &r), 0);
	r = mkrun(71, 1, "b");
	cr_assert_eq(wstore_accept(ws, &r), 0);
	int calls = 0;
	cr_assert_eq(wstore_list_live(ws, stop_at_first, &calls), -ECANCELED);
	cr_assert_eq(calls, 1);
	cr_assert_eq(wstore_list_live(ws, end_in_callback, NULL), 0);
	cr_assert_eq(get(70).phase, WRUN_ENDED);
	cr_assert_eq(get(71).phase, WRUN_ENDED);
}

Test(wstore, purge_removes_only_old_tombstones)
{
	cr_assert_eq(wstore_reject(ws, 80, 1, "a", "old", NOW_MS - 10000), 0);
	run_to_end(81, 1, "b");
	cr_assert_eq(wstore_set_done(ws, 81, NOW_MS - 5000), 0);
	cr_assert_eq(wstore_reject(ws, 82, 2, "a", "new", NOW_MS + 10000), 0);
	run_to_end(83, 1, "c");                      /* ended, not acknowledged */
	struct wrun r = mkrun(84, 1, "d");
	r.accepted_ms = NOW_MS - 99999;              /* old but live */
	cr_assert_eq(wstore_accept(ws, &r), 0);

	cr_assert_eq(wstore_purge(ws, NOW_MS), 2);
	struct wrun x;
	cr_assert_eq(wstore_get(ws, 80, &x), -ENOENT);
	cr_assert_eq(wstore_get(ws, 81, &x), -ENOENT);
	cr_assert_eq(get(82).phase, WRUN_REJECTED);
	cr_assert_eq(get(83).phase, WRUN_ENDED);
	cr_assert_eq(get(84).phase, WRUN_ACCEPTED);
	cr_assert_eq(wstore_purge(ws, NOW_MS), 0);

	/* Token memory outlives the purged tombstones. */
	struct wrun stale = mkrun(85, 1, "b");
	cr_assert_eq(wstore_accept(ws, &stale), -ESTALE);
}

Test(wstore, survives_close_and_reopen)
{
	struct wrun in = mkrun(90, 12, "t");
	cr_assert_eq(wstore_accept(ws, &in), 0);
	cr_assert_eq(wstore_set_running(ws, 90, 777, 123, NOW_MS + 1, "/l/90"), 0);
	cr_assert_eq(wstore_set_cancel(ws, 90), 0);
	cr_assert_eq(wstore_reject(ws, 91, 3, "u", "full", NOW_MS), 0);
	reopen();

	struct wrun r = get(90);
	cr_assert_eq(r.phase, WRUN_RUNNING);
	cr_assert_eq(r.pid, 777);
	cr_assert_eq(r.proc_start, 123);
	cr_assert(r.cancel_requested, "cancel did not survive a restart");
	cr_assert_str_eq(r.log_path, "/l/90");
	cr_assert_eq(get(91).phase, WRUN_REJECTED);
	struct wrun again = mkrun(91, 3, "u");
	cr_assert_eq(wstore_accept(ws, &again), -EEXIST);
	struct wrun stale = mkrun(92, 12, "t");
	cr_assert_eq(wstore_accept(ws, &stale), -ESTALE);

	cr_assert_eq(wstore_set_ended(ws, 90, RUN_CANCELLED, -1, 15, NOW_MS + 2, "bye", NULL), 0);
	reopen();
	r = get(90);
	cr_assert_eq(r.phase, WRUN_ENDED);
	cr_assert_eq(r.end_state, RUN_CANCELLED);
	cr_assert_str_eq(r.tail, "bye");
}

Test(wstore, tail_keeps_the_end_and_fits)
{
	struct wrun in = mkrun(100, 1, "t");
	cr_assert_eq(wstore_accept(ws, &in), 0);
	char big[WSTORE_TAIL_MAX * 3];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "FIRST", 5);
	memcpy(big + sizeof(big) - 5, "LAST", 4);
	cr_assert_eq(wstore_set_ended(ws, 100, RUN_SUCCEEDED, 0, 0, NOW_MS, big, NULL), 0);
	struct wrun r = get(100);
	cr_assert_eq(strlen(r.tail), WSTORE_TAIL_MAX);
	cr_assert_eq(strcmp(r.tail + WSTORE_TAIL_MAX - 4, "LAST"), 0);
	cr_assert_null(strstr(r.tail, "FIRST"));
}

Test(wstore, newer_database_is_refused)
{
	wstore_close(ws);
	ws = NULL;
	/* A database from a future worker: user_version far ahead. */
	char cmd[256], err[256] = "";
	snprintf(cmd, sizeof(cmd), "%s/future.db", dir);
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(cmd, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct wstore *w = (struct wstore *)1;
	cr_assert_eq(wstore_open(cmd, &w, err, sizeof(err)), -EPROTO);
	cr_assert_null(w);
	cr_assert_not_null(strstr(err, "99"), "%s", err);
	reopen();  /* leave a store for teardown */
}

/* ---- incarnation --------------------------------------------------------- */

Test(wstore, first_incarnation_is_the_wall_clock)
{
	uint64_t inc = 0, last = 99;
	cr_assert_eq(wstore_last_incarnation(ws, &last), 0);
	cr_assert_eq(last, 0, "a new database has no previous life");
	cr_assert_eq(wstore_next_incarnation(ws, NOW_MS, &inc), 0);
	cr_assert_eq(inc, (uint64_t)NOW_MS);
	cr_assert_eq(wstore_last_incarnation(ws, &last), 0);
	cr_assert_eq(last, inc, "the last incarnation is the one handed out");
}

Test(wstore, incarnation_follows_a_clock_that_moves_on)
{
	uint64_t a = 0, b = 0;
	cr_assert_eq(wstore_next_incarnation(ws, NOW_MS, &a), 0);
	cr_assert_eq(wstore_next_incarnation(ws, NOW_MS + 5000, &b), 0);
	cr_assert_eq(b, (uint64_t)NOW_MS + 5000);
}

/* Same millisecond, or a clock set back by a day: still above the last. */
Test(wstore, incarnation_rises_when_the_clock_does_not)
{
	uint64_t a = 0, b = 0, c = 0;
	cr_assert_eq(wstore_next_incarnation(ws, NOW_MS, &a), 0);
	cr_assert_eq(wstore_next_incarnation(ws, NOW_MS, &b), 0);
	cr_assert_eq(b, a + 1);
	cr_assert_eq(wstore_next_incarnation(ws, NOW_MS - 86400000LL, &c), 0);
	cr_assert_eq(c, b + 1);
}

Test(wstore, incarnation_survives_close_and_reopen)
{
	uint64_t a = 0, b = 0;
	cr_assert_eq(wstore_next_incarnation(ws, NOW_MS, &a), 0);
	reopen();
	cr_assert_eq(wstore_next_incarnation(ws, NOW_MS - 1000, &b), 0);
	cr_assert_gt(b, a);
}

/* A clock at (or before) the epoch still gives a usable incarnation. */
Test(wstore, incarnation_is_never_zero)
{
	uint64_t a = 0;
	cr_assert_eq(wstore_next_incarnation(ws, 0, &a), 0);
	cr_assert_gt(a, 0);
}

/* The table refuses to go back, whoever writes it. */
Test(wstore, stored_incarnation_never_decreases)
{
	uint64_t a = 0;
	cr_assert_eq(wstore_next_incarnation(ws, NOW_MS, &a), 0);
	wstore_close(ws);
	ws = NULL;
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_neq(sqlite3_exec(db, "UPDATE worker_identity SET incarnation = 5", NULL, NULL,
				   NULL),
		      SQLITE_OK);
	sqlite3_close(db);
	reopen();
	uint64_t b = 0;
	cr_assert_eq(wstore_next_incarnation(ws, 5, &b), 0);
	cr_assert_eq(b, a + 1);
}

/* ---- lost ---------------------------------------------------------------- */

Test(wstore, a_fenced_run_ends_lost)
{
	struct wrun in = mkrun(30, 1, "t");
	cr_assert_eq(wstore_accept(ws, &in), 0);
	cr_assert_eq(wstore_set_running(ws, 30, 100, 5, NOW_MS, NULL), 0);
	cr_assert_eq(wstore_set_ended(ws, 30, RUN_LOST, -1, 9, NOW_MS, "", "fenced"), 0);
	reopen();
	struct wrun r = get(30);
	cr_assert_eq(r.phase, WRUN_ENDED);
	cr_assert_eq(r.end_state, RUN_LOST);
	cr_assert_str_eq(r.error, "fenced");
	cr_assert_eq(wstore_set_done(ws, 30, NOW_MS), 0);
	cr_assert_eq(get(30).phase, WRUN_DONE);
}

/* ---- migration from version 1 -------------------------------------------- */

/* A database written by a version-1 worker (worker-001 only), with an
 * unacknowledged end, a running run and a tombstone: version 2 keeps
 * them all, with the one-live-run-per-task wall, and adds what is new. */
Test(wstore, version_1_database_is_migrated)
{
	char v1[128], err[256] = "";
	snprintf(v1, sizeof(v1), "%s/v1.db", dir);
	sqlite3 *db;
	cr_assert_geq(db_worker_migrations_n, 2);
	cr_assert_eq(db_open(v1, db_worker_migrations, 1, &db, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sqlite3_exec(db,
				  "INSERT INTO wruns (run_id, token, task, phase, end_state, error) "
				  "VALUES (1, 7, 'a', 'ended', 'failed', 'boom');"
				  "INSERT INTO wruns (run_id, token, task, phase, pid) "
				  "VALUES (2, 8, 'b', 'running', 4242);"
				  "INSERT INTO wruns (run_id, token, task, phase, closed_ms) "
				  "VALUES (3, 9, 'c', 'rejected', 1);"
				  "INSERT INTO task_tokens VALUES ('b', 8);",
				  NULL, NULL, NULL),
		     SQLITE_OK);
	sqlite3_close(db);

	struct wstore *w = NULL;
	cr_assert_eq(wstore_open(v1, &w, err, sizeof(err)), 0, "%s", err);
	struct wrun r;
	cr_assert_eq(wstore_get(w, 1, &r), 0);
	cr_assert_eq(r.end_state, RUN_FAILED);
	cr_assert_str_eq(r.error, "boom");
	cr_assert_eq(wstore_get(w, 2, &r), 0);
	cr_assert_eq(r.phase, WRUN_RUNNING);
	cr_assert_eq(r.pid, 4242);
	cr_assert_eq(wstore_get(w, 3, &r), 0);
	cr_assert_eq(r.phase, WRUN_REJECTED);
	/* The indexes came back: a second live run of b is refused. */
	struct wrun again = mkrun(4, 20, "b");
	cr_assert_eq(wstore_accept(w, &again), -EBUSY);
	cr_assert_eq(wstore_set_ended(w, 2, RUN_LOST, -1, 9, NOW_MS, "", "fenced"), 0);
	uint64_t inc = 0;
	cr_assert_eq(wstore_next_incarnation(w, NOW_MS, &inc), 0);
	cr_assert_eq(inc, (uint64_t)NOW_MS);
	wstore_close(w);

	cr_assert_eq(sqlite3_open(v1, &db), SQLITE_OK);
	/* The tombstone trigger came back too. */
	cr_assert_neq(sqlite3_exec(db, "UPDATE wruns SET phase = 'running' WHERE run_id = 3",
				   NULL, NULL, NULL),
		      SQLITE_OK);
	sqlite3_close(db);
}
