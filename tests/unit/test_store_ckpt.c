/*
 * test_store_ckpt.c - task checkpoints in the scheduler's store: stored
 * only from the run holding the task's current token while it is active
 * on the shipping node; a stale token, an ended run, another node or an
 * older version of the same run is refused with an event and leaves the
 * stored one as it was; one checkpoint per task; clear.
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
static struct task_def defs[4];
static size_t ndefs;

static void setup(void)
{
	char err[256] = "";
	snprintf(dir, sizeof(dir), "/tmp/test_store_ckpt.XXXXXX");
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
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				snprintf(p, sizeof(p), "%s/%s", dir, e->d_name), unlink(p);
		closedir(d);
	}
	rmdir(dir);
}

TestSuite(ckpt, .init = setup, .fini = teardown, .timeout = 60);

static int cmp_def(const void *a, const void *b)
{
	return strcmp(((const struct task_def *)a)->name, ((const struct task_def *)b)->name);
}

static void put_task(const char *name)
{
	struct task_def d;
	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "%s", name);
	snprintf(d.command, sizeof(d.command), "echo %s", name);
	snprintf(d.schedule, sizeof(d.schedule), "@hourly");
	snprintf(d.cron.tz, sizeof(d.cron.tz), "UTC");
	d.overlap = OVERLAP_SKIP;
	d.catch_up = CATCH_UP_LATEST;
	snprintf(d.file, sizeof(d.file), "tasks/main.conf");
	d.line = 1;
	defs[ndefs++] = d;
	qsort(defs, ndefs, sizeof(defs[0]), cmp_def);
	struct store_sync_result res;
	char err[256] = "";
	struct task_set ts = {defs, ndefs};
	cr_assert_eq(store_sync_tasks(st, &ts, NOW_S, &res, err, sizeof(err)), 0, "%s", err);
}

/* A run of task dispatched to node and running there. */
static struct store_run_created pending(const char *task)
{
	struct store_run_new rn = {.task = task,
				   .reason = REASON_MANUAL,
				   .scheduled_for = NOW_S,
				   .attempt = 1,
				   .overlap = OVERLAP_QUEUE,
				   .now_ms = NOW_MS};
	struct store_run_created c;
	cr_assert_eq(store_run_create(st, &rn, &c), 0);
	cr_assert_eq(c.state, RUN_PENDING);
	return c;
}

static struct store_run_created running(const char *task, const char *node)
{
	struct store_run_created c = pending(task);
	cr_assert_eq(store_run_assign(st, c.run_id, node, NOW_MS + 1), 0);
	cr_assert_eq(store_run_started(st, c.run_id, c.token, node, NOW_MS + 2), 0);
	return c;
}

static void end(const struct store_run_created *c, const char *node, enum run_state state)
{
	struct store_run_end e = {.state = state, .exit_code = 1, .finished_ms = NOW_MS + 50};
	bool already = false;
	cr_assert_eq(store_run_end(st, c->run_id, c->token, node, &e, &already), 0);
}

static void hash_of(const char *s, uint8_t h[STORE_CKPT_HASH])
{
	/* Any 16 bytes will do for the store: it does not hash. */
	memset(h, 0, STORE_CKPT_HASH);
	for (size_t i = 0; s[i]; i++)
		h[i % STORE_CKPT_HASH] ^= (uint8_t)(s[i] + i);
}

static int put(const struct store_run_created *c, uint64_t token, const char *node, uint64_t seq,
	       const char *text, char *why, size_t whylen)
{
	uint8_t h[STORE_CKPT_HASH];
	hash_of(text, h);
	return store_ckpt_put(st, c->run_id, token, node, seq, text, strlen(text), h, NOW_MS + 10,
			      why, whylen);
}

static void want_stored(const char *task, const char *text, uint64_t run_id)
{
	struct store_ckpt m;
	void *data = NULL;
	cr_assert_eq(store_ckpt_get(st, task, &m, &data), 0);
	cr_assert_eq(m.size, strlen(text));
	cr_assert_eq(m.run_id, run_id);
	cr_assert_str_eq(m.task, task);
	cr_assert(memcmp(data, text, m.size) == 0, "stored '%.*s', want '%s'", (int)m.size,
		  (char *)data, text);
	uint8_t h[STORE_CKPT_HASH];
	hash_of(text, h);
	cr_assert_arr_eq(m.hash, h, STORE_CKPT_HASH);
	free(data);
}

static long long events(const char *kind)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	char sql[128];
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE kind = '%s'", kind);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	long long n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

/* The store keeps its statements prepared between calls: none may keep a
 * read open then.  A TRUNCATE checkpoint from another connection cannot
 * finish while a reader holds a snapshot. */
static void want_no_read_open(void)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &s, NULL),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	int busy = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	cr_assert_eq(busy, 0, "a statement of the store keeps a read open between calls");
}

Test(ckpt, statements_kept_between_calls_hold_no_read)
{
	put_task("a");
	struct store_run_created r = running("a", "w1");
	cr_assert_eq(put(&r, r.token, "w1", 1, "step 1", NULL, 0), 0);
	want_no_read_open();
	char why[256];
	cr_assert_eq(put(&r, r.token + 1, "w1", 2, "stale", why, sizeof(why)), -ESTALE);
	want_no_read_open();
	want_stored("a", "step 1", r.run_id);
	want_no_read_open();
	struct store_ckpt m;
	cr_assert_eq(store_ckpt_get(st, "nosuch", &m, NULL), -ENOENT);
	want_no_read_open();
	/* Used again after a kept statement: same answers. */
	cr_assert_eq(put(&r, r.token, "w1", 2, "step 2", NULL, 0), 0);
	want_stored("a", "step 2", r.run_id);
	cr_assert_eq(store_ckpt_clear(st, "a", "test", NOW_MS + 20), 0);
	want_no_read_open();
	cr_assert_eq(store_ckpt_get(st, "a", &m, NULL), -ENOENT);
}

Test(ckpt, none_until_stored_then_replaced_by_newer_versions)
{
	put_task("a");
	struct store_ckpt m;
	void *data = (void *)1;
	cr_assert_eq(store_ckpt_get(st, "a", &m, &data), -ENOENT);
	cr_assert_null(data);
	cr_assert_eq(store_ckpt_get(st, "nosuch", &m, NULL), -ENOENT);

	struct store_run_created r = running("a", "w1");
	cr_assert_eq(put(&r, r.token, "w1", 1, "step 1", NULL, 0), 0);
	want_stored("a", "step 1", r.run_id);
	cr_assert_eq(put(&r, r.token, "w1", 2, "step 2", NULL, 0), 0);
	want_stored("a", "step 2", r.run_id);
	/* The same content again: idempotent. */
	cr_assert_eq(put(&r, r.token, "w1", 2, "step 2", NULL, 0), 0);
	/* A late copy of an older version never goes back. */
	char why[256];
	cr_assert_eq(put(&r, r.token, "w1", 1, "step 1", why, sizeof(why)), -ESTALE);
	cr_assert(strstr(why, "newer"), "%s", why);
	want_stored("a", "step 2", r.run_id);
	cr_assert_eq(store_ckpt_get(st, "a", &m, NULL), 0);
	cr_assert_eq(m.token, r.token);
	cr_assert_eq(m.seq, 2);
	cr_assert_eq(m.updated_ms, NOW_MS + 10);
}

Test(ckpt, stale_token_refused_and_recorded)
{
	put_task("a");
	struct store_run_created old = running("a", "w1");
	cr_assert_eq(put(&old, old.token, "w1", 1, "old run", NULL, 0), 0);
	end(&old, "w1", RUN_FAILED);
	/* The ended run may not write any more. */
	char why[256];
	cr_assert_eq(put(&old, old.token, "w1", 2, "old run, late", why, sizeof(why)), -ESTALE);
	cr_assert(strstr(why, "no longer active"), "%s", why);

	struct store_run_created next = running("a", "w2");
	cr_assert_gt(next.token, old.token);
	cr_assert_eq(put(&next, next.token, "w2", 1, "new run", NULL, 0), 0);
	/* The old token, shipped for the new run id or the old: refused. */
	cr_assert_eq(put(&next, old.token, "w2", 9, "forged", why, sizeof(why)), -ESTALE);
	cr_assert(strstr(why, "not the run's token"), "%s", why);
	cr_assert_eq(put(&old, old.token, "w1", 9, "zombie", why, sizeof(why)), -ESTALE);
	cr_assert(strstr(why, "no longer active"), "%s", why);
	/* Another node than the run's. */
	cr_assert_eq(put(&next, next.token, "w1", 2, "wrong node", why, sizeof(why)), -ESTALE);
	cr_assert(strstr(why, "not on w1"), "%s", why);
	want_stored("a", "new run", next.run_id);
	cr_assert_eq(events("checkpoint_stale"), 4);
	cr_assert_eq(store_ckpt_put(st, 999, 1, "w1", 1, "x", 1, (uint8_t[16]){0}, NOW_MS, NULL, 0),
		     -ENOENT);
}

/* overlap = queue: the run waiting behind the active one already holds
 * a newer token (tasks.last_token), but it has not run: the active run's
 * checkpoints still count, up to its end; then the queued run's do, and
 * the finished run's no longer. */
Test(ckpt, queued_run_does_not_make_the_active_one_stale)
{
	put_task("a");
	struct store_run_created act = running("a", "w1");
	struct store_run_created queued = pending("a");
	cr_assert_gt(queued.token, act.token);
	struct store_task_state ts;
	cr_assert_eq(store_task_state(st, "a", &ts), 0);
	cr_assert_eq(ts.last_token, queued.token);
	cr_assert_eq(put(&act, act.token, "w1", 1, "active, queued behind", NULL, 0), 0);
	want_stored("a", "active, queued behind", act.run_id);
	end(&act, "w1", RUN_SUCCEEDED);
	cr_assert_eq(store_run_assign(st, queued.run_id, "w2", NOW_MS + 60), 0);
	char why[256];
	cr_assert_eq(put(&queued, queued.token, "w2", 1, "the queued run", NULL, 0), 0);
	cr_assert_eq(put(&act, act.token, "w1", 2, "too late", why, sizeof(why)), -ESTALE);
	want_stored("a", "the queued run", queued.run_id);
}

Test(ckpt, one_per_task_and_empty_checkpoints)
{
	put_task("a");
	put_task("b");
	struct store_run_created ra = running("a", "w1");
	struct store_run_created rb = running("b", "w1");
	cr_assert_eq(put(&ra, ra.token, "w1", 1, "A", NULL, 0), 0);
	cr_assert_eq(put(&rb, rb.token, "w1", 1, "", NULL, 0), 0);
	want_stored("a", "A", ra.run_id);
	struct store_ckpt m;
	void *data = NULL;
	cr_assert_eq(store_ckpt_get(st, "b", &m, &data), 0);
	cr_assert_eq(m.size, 0);
	cr_assert_not_null(data);
	free(data);
}

Test(ckpt, clear)
{
	put_task("a");
	struct store_run_created r = running("a", "w1");
	cr_assert_eq(put(&r, r.token, "w1", 1, "progress", NULL, 0), 0);
	cr_assert_eq(store_ckpt_clear(st, "a", "operator", NOW_MS + 20), 0);
	struct store_ckpt m;
	cr_assert_eq(store_ckpt_get(st, "a", &m, NULL), -ENOENT);
	cr_assert_eq(store_ckpt_clear(st, "a", "operator", NOW_MS + 21), -EALREADY);
	cr_assert_eq(store_ckpt_clear(st, "nosuch", "operator", NOW_MS + 21), -ENOENT);
	cr_assert_eq(events("checkpoint_clear"), 1);
	/* The run that still holds the current token may store again. */
	cr_assert_eq(put(&r, r.token, "w1", 2, "after clear", NULL, 0), 0);
	want_stored("a", "after clear", r.run_id);
}
