/*
 * test_db.c - common/db.c: opening, pragmas, migrations, refusals.
 *
 * Each test works in a fresh mkdtemp() directory that the fixture
 * removes.  Raw sqlite3 handles are used to prepare and inspect files:
 * tests may speak SQL, the code under test is what must not.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"

static char dir[64];
static char path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_db.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/db.sqlite", dir);
}

static void teardown(void)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		char p[512];
		while ((e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

TestSuite(db, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ----------------------------------------------------------- */

static int query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s: no row", sql);
	int v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void query_text(sqlite3 *db, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *s;
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	snprintf(buf, len, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
}

static sqlite3 *raw_open(void)
{
	sqlite3 *db;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
}

/* The whole file, malloc'd; *len its size. */
static unsigned char *slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	cr_assert_not_null(f, "%s", p);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static bool exists(const char *p)
{
	return access(p, F_OK) == 0;
}

static int newest(const struct db_migration *m, size_t n)
{
	return n ? m[n - 1].version : 0;
}

/* ---- the real schemas -------------------------------------------------- */

Test(db, scheduler_schema_from_empty_reaches_newest)
{
	sqlite3 *db = NULL;
	char err[256] = "";
	char mode[16];
	int v = -1;

	cr_assert_gt(db_sched_migrations_n, 0);
	cr_assert_eq(db_open(path, db_sched_migrations, db_sched_migrations_n, &db, err,
			     sizeof(err)),
		     0, "%s", err);
	cr_assert_not_null(db);
	cr_assert_eq(db_user_version(db, &v), 0);
	cr_assert_eq(v, newest(db_sched_migrations, db_sched_migrations_n));
	cr_assert_eq(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
				   "AND name IN ('tasks', 'runs', 'nodes', 'events')"),
		     4);
	cr_assert_eq(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
				   "AND name IN ('runs_one_active', 'runs_one_pending')"),
		     2);
	query_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
	cr_assert_str_eq(mode, "wal");
	cr_assert_eq(query_int(db, "PRAGMA synchronous"), 2, "synchronous is not FULL");
	cr_assert_eq(query_int(db, "PRAGMA foreign_keys"), 1);
	cr_assert_eq(query_int(db, "PRAGMA busy_timeout"), 5000);
	sqlite3_close(db);
}

Test(db, worker_schema_from_empty_reaches_newest)
{
	sqlite3 *db = NULL;
	char err[256] = "";
	int v = -1;

	cr_assert_gt(db_worker_migrations_n, 0);
	cr_assert_eq(db_open(path, db_worker_migrations, db_worker_migrations_n, &db, err,
			     sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(db_user_version(db, &v), 0);
	cr_assert_eq(v, newest(db_worker_migrations, db_worker_migrations_n));
	cr_assert_eq(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
				   "AND name IN ('wruns', 'task_tokens')"),
		     2);
	sqlite3_close(db);
}

Test(db, reopen_is_idempotent_and_keeps_data)
{
	sqlite3 *db = NULL;
	char err[256] = "";
	int v = -1;

	cr_assert_eq(db_open(path, db_sched_migrations, db_sched_migrations_n, &db, err,
			     sizeof(err)),
		     0, "%s", err);
	raw_exec(db, "INSERT INTO nodes (name, addr, slots, first_seen_ms, last_hello_ms) "
		     "VALUES ('n1', '127.0.0.1:1', 2, 1, 1)");
	int objects = query_int(db, "SELECT count(*) FROM sqlite_master");
	sqlite3_close(db);

	for (int i = 0; i < 2; i++) {
		db = NULL;
		cr_assert_eq(db_open(path, db_sched_migrations, db_sched_migrations_n, &db, err,
				     sizeof(err)),
			     0, "reopen %d: %s", i, err);
		cr_assert_eq(db_user_version(db, &v), 0);
		cr_assert_eq(v, newest(db_sched_migrations, db_sched_migrations_n));
		cr_assert_eq(query_int(db, "SELECT count(*) FROM sqlite_master"), objects);
		cr_assert_eq(query_int(db, "SELECT count(*) FROM nodes WHERE name = 'n1'"), 1);
		sqlite3_close(db);
	}
}

Test(db, newer_database_is_refused_and_left_unchanged)
{
	int future = newest(db_sched_migrations, db_sched_migrations_n) + 6;
	char sql[128], want[128], err[512] = "";
	sqlite3 *db = raw_open();
	snprintf(sql, sizeof(sql), "CREATE TABLE future (x); PRAGMA user_version = %d", future);
	raw_exec(db, sql);
	sqlite3_close(db);

	size_t n0, n1;
	unsigned char *before = slurp(path, &n0);
	db = (sqlite3 *)1;  /* must be reset to NULL */
	int rc = db_open(path, db_sched_migrations, db_sched_migrations_n, &db, err,
			 sizeof(err));
	cr_assert_eq(rc, -EPROTO, "rc %d: %s", rc, err);
	cr_assert_null(db);
	snprintf(want, sizeof(want), "schema version %d", future);
	cr_assert_not_null(strstr(err, want), "message lacks '%s': %s", want, err);
	snprintf(want, sizeof(want), "(newest %d)",
		 newest(db_sched_migrations, db_sched_migrations_n));
	cr_assert_not_null(strstr(err, want), "message lacks '%s': %s", want, err);
	cr_assert_not_null(strstr(err, path), "message lacks the path: %s", err);

	unsigned char *after = slurp(path, &n1);
	cr_assert_eq(n0, n1, "file size changed");
	cr_assert_eq(memcmp(before, after, n0), 0, "file content changed");
	free(before);
	free(after);
	char wal[160];
	snprintf(wal, sizeof(wal), "%s-wal", path);
	cr_assert(!exists(wal), "WAL was switched on in a refused database");

	db = raw_open();
	cr_assert_eq(query_int(db, "PRAGMA user_version"), future);
	sqlite3_close(db);
}

Test(db, negative_version_is_refused)
{
	char err[256] = "";
	sqlite3 *db = raw_open();
	raw_exec(db, "PRAGMA user_version = -3");
	sqlite3_close(db);
	db = NULL;
	cr_assert_eq(db_open(path, db_sched_migrations, db_sched_migrations_n, &db, err,
			     sizeof(err)),
		     -EPROTO);
	cr_assert_null(db);
}

Test(db, non_database_file_is_refused_and_left_unchanged)
{
	char err[256] = "";
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 200; i++)
		fprintf(f, "this is a text file, line %d, certainly not a database\n", i);
	fclose(f);

	size_t n0, n1;
	unsigned char *before = slurp(path, &n0);
	sqlite3 *db = NULL;
	int rc = db_open(path, db_sched_migrations, db_sched_migrations_n, &db, err,
			 sizeof(err));
	cr_assert_lt(rc, 0);
	cr_assert_eq(rc, -EINVAL, "rc %d: %s", rc, err);
	cr_assert_null(db);
	cr_assert_not_null(strstr(err, "not a SQLite database"), "%s", err);
	unsigned char *after = slurp(path, &n1);
	cr_assert_eq(n0, n1);
	cr_assert_eq(memcmp(before, after, n0), 0);
	free(before);
	free(after);
}

Test(db, missing_directory_is_an_error)
{
	char err[256] = "", p[200];
	sqlite3 *db = NULL;
	snprintf(p, sizeof(p), "%s/no/such/dir/db.sqlite", dir);
	int rc = db_open(p, db_sched_migrations, db_sched_migrations_n, &db, err, sizeof(err));
	cr_assert_lt(rc, 0);
	cr_assert_null(db);
	cr_assert_not_null(strstr(err, p), "%s", err);
}

/* ---- migration mechanics, with made-up steps --------------------------- */

static const struct db_migration steps[] = {
	{1, "t-001-a.sql", "CREATE TABLE a (x INTEGER);"},
	{2, "t-002-b.sql", "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (42);"},
	{3, "t-003-bad.sql", "CREATE TABLE c (z INTEGER); THIS IS NOT SQL;"},
};

Test(db, older_database_is_migrated_step_by_step)
{
	sqlite3 *db = NULL;
	char err[256] = "";
	int v = -1;

	cr_assert_eq(db_open(path, steps, 1, &db, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(db_user_version(db, &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(query_int(db, "SELECT count(*) FROM a"), 0);
	sqlite3_close(db);

	db = NULL;
	cr_assert_eq(db_open(path, steps, 2, &db, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(db_user_version(db, &v), 0);
	cr_assert_eq(v, 2);
	cr_assert_eq(query_int(db, "SELECT x FROM a"), 42);
	cr_assert_eq(query_int(db, "SELECT count(*) FROM b"), 0);
	sqlite3_close(db);
}

Test(db, failing_step_changes_nothing)
{
	sqlite3 *db = NULL;
	char err[256] = "";

	cr_assert_eq(db_open(path, steps, 2, &db, err, sizeof(err)), 0, "%s", err);
	sqlite3_close(db);
	db = NULL;
	int rc = db_open(path, steps, 3, &db, err, sizeof(err));
	cr_assert_eq(rc, -EIO, "rc %d", rc);
	cr_assert_null(db);
	cr_assert_not_null(strstr(err, "t-003-bad.sql"), "%s", err);

	db = raw_open();
	cr_assert_eq(query_int(db, "PRAGMA user_version"), 2);
	cr_assert_eq(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'c'"), 0,
		     "half of a failed step was kept");
	sqlite3_close(db);
}

Test(db, gap_in_migration_list_is_refused)
{
	static const struct db_migration gap[] = {
		{1, "t-001-a.sql", "CREATE TABLE a (x);"},
		{3, "t-003-c.sql", "CREATE TABLE c (x);"},
	};
	sqlite3 *db = NULL;
	char err[256] = "";
	cr_assert_eq(db_open(path, gap, 2, &db, err, sizeof(err)), -EINVAL);
	cr_assert_null(db);
	cr_assert(!exists(path), "a refused open created the file");
}

/* ---- transactions and statements --------------------------------------- */

Test(db, begin_commit_rollback)
{
	sqlite3 *db = NULL;
	char err[256] = "";
	cr_assert_eq(db_open(path, steps, 1, &db, err, sizeof(err)), 0, "%s", err);

	cr_assert_eq(db_begin(db), 0);
	cr_assert_eq(db_begin(db), -EIO, "nested BEGIN accepted");
	raw_exec(db, "INSERT INTO a VALUES (1)");
	db_rollback(db);
	cr_assert_eq(query_int(db, "SELECT count(*) FROM a"), 0);
	cr_assert(sqlite3_get_autocommit(db));

	cr_assert_eq(db_begin(db), 0);
	raw_exec(db, "INSERT INTO a VALUES (2)");
	cr_assert_eq(db_commit(db), 0);
	cr_assert_eq(query_int(db, "SELECT count(*) FROM a"), 1);
	cr_assert_eq(db_commit(db), -EIO, "COMMIT outside a transaction accepted");
	db_rollback(db);  /* outside a transaction: harmless */

	/* The transaction is IMMEDIATE: the write lock is held from BEGIN on,
	 * so another connection cannot start writing meanwhile. */
	cr_assert_eq(db_begin(db), 0);
	sqlite3 *other = raw_open();
	sqlite3_busy_timeout(other, 0);
	cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_BUSY);
	sqlite3_close(other);
	db_rollback(db);
	sqlite3_close(db);
}

Test(db, prepare)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = (sqlite3_stmt *)1;
	char err[256] = "";
	cr_assert_eq(db_open(path, steps, 1, &db, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(db_prepare(db, "SELECT nonsense FROM nowhere", &s), -EIO);
	cr_assert_null(s);
	cr_assert_eq(db_prepare(db, "SELECT count(*) FROM a", &s), 0);
	cr_assert_not_null(s);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	sqlite3_finalize(s);
	sqlite3_close(db);
}
