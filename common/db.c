/*
 * db.c - opening a SQLite database the way the safety argument needs it,
 * and bringing its schema up to date (see db.h).
 *
 * Order of work in db_open() matters:
 *   1. open (creating an empty file if there is none) and set the busy
 *      timeout, so a concurrent writer makes us wait instead of fail;
 *   2. read user_version.  This is the first read of the file, so a file
 *      that is not a database is refused here, and a database newer than
 *      this program is refused here, before anything could write to it
 *      (switching to WAL rewrites the header, and an older program must
 *      leave a newer database exactly as it found it);
 *   3. set journal_mode=WAL, synchronous=FULL (a COMMIT is on disk before
 *      it returns, so a message that depends on it may be sent), and
 *      foreign_keys=ON;
 *   4. apply each migration newer than user_version, one BEGIN IMMEDIATE
 *      transaction per step that also sets user_version, re-reading the
 *      version inside the transaction so that two processes opening the
 *      same file at once cannot both apply a step.
 */
#include "db.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define DB_BUSY_TIMEOUT_MS 5000

static void db_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void db_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A negative errno for a failed sqlite3_open_v2(), from the OS error when
 * there is one (missing directory, permissions). */
static int db_open_errno(sqlite3 *db, int rc)
{
	int sys = db ? sqlite3_system_errno(db) : 0;
	if (sys > 0)
		return -sys;
	return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

/* Run one pragma that returns a single text row, into val. */
static int db_pragma_text(sqlite3 *db, const char *sql, char *val, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);
		snprintf(val, len, "%s", t ? (const char *)t : "");
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		val[0] = '\0';
		rc = SQLITE_OK;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* user_version as a raw SQLite result code (SQLITE_NOTADB for junk). */
static int db_read_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* The migration list must be versions 1, 2, 3, ... in order: a gap or a
 * duplicate is a build mistake that would otherwise skip a step. */
static int db_check_migrations(const struct db_migration *migs, size_t nmigs,
			       char *err, size_t errlen)
{
	for (size_t i = 0; i < nmigs; i++) {
		if (migs[i].version != (int)i + 1 || !migs[i].sql) {
			db_seterr(err, errlen,
				  "schema step %zu (%s) has version %d, expected %zu",
				  i + 1, migs[i].name ? migs[i].name : "?",
				  migs[i].version, i + 1);
			return -EINVAL;
		}
	}
	return 0;
}

/* Apply migs[i] unless a concurrent opener already did. */
static int db_migrate_step(sqlite3 *db, const char *path, const struct db_migration *m,
			   char *err, size_t errlen)
{
	char *msg = NULL;
	char sql[64];
	int cur = 0;
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto fail;
	rc = db_read_version(db, &cur);
	if (rc != SQLITE_OK)
		goto fail;
	if (cur >= m->version) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return 0;
	}
	if (cur != m->version - 1) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		db_seterr(err, errlen, "%s: schema version %d cannot take step %s", path, cur,
			  m->name);
		return -EPROTO;
	}
	rc = sqlite3_exec(db, m->sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto fail;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", m->version);
	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto fail;
	log_info("%s: schema migrated to version %d (%s)", path, m->version, m->name);
	return 0;
fail:
	db_seterr(err, errlen, "%s: schema step %s failed: %s", path, m->name,
		  msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -EIO;
}

int db_open(const char *path, const struct db_migration *migs, size_t nmigs,
	    sqlite3 **out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	char mode[32];
	int version = 0;
	int newest = nmigs ? migs[nmigs - 1].version : 0;
	int ret = 0;

	*out = NULL;
	ret = db_check_migrations(migs, nmigs, err, errlen);
	if (ret)
		return ret;

	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		ret = db_open_errno(db, rc);
		db_seterr(err, errlen, "%s: cannot open: %s", path,
			  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, DB_BUSY_TIMEOUT_MS);

	rc = db_read_version(db, &version);
	if ((rc & 0xff) == SQLITE_NOTADB) {
		db_seterr(err, errlen, "%s: not a SQLite database; refusing to open it", path);
		ret = -EINVAL;
		goto fail;
	}
	if (rc != SQLITE_OK) {
		db_seterr(err, errlen, "%s: cannot read schema version: %s", path,
			  sqlite3_errmsg(db));
		ret = (rc & 0xff) == SQLITE_BUSY ? -EBUSY : -EIO;
		goto fail;
	}
	if (version < 0) {
		db_seterr(err, errlen, "%s: schema version %d is not one of sched's; "
			  "refusing to open it", path, version);
		ret = -EPROTO;
		goto fail;
	}
	if (version > newest) {
		db_seterr(err, errlen,
			  "%s: schema version %d is newer than this program understands "
			  "(newest %d); refusing to open it -- use a newer sched",
			  path, version, newest);
		ret = -EPROTO;
		goto fail;
	}

	rc = db_pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode));
	if (rc != SQLITE_OK || strcmp(mode, "wal") != 0) {
		db_seterr(err, errlen, "%s: cannot switch to WAL journal mode: %s", path,
			  rc != SQLITE_OK ? sqlite3_errmsg(db) : mode);
		ret = -EIO;
		goto fail;
	}
	rc = sqlite3_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL,
			  NULL, NULL);
	if (rc != SQLITE_OK) {
		db_seterr(err, errlen, "%s: cannot set pragmas: %s", path, sqlite3_errmsg(db));
		ret = -EIO;
		goto fail;
	}

	for (size_t i = (size_t)version; i < nmigs; i++) {
		ret = db_migrate_step(db, path, &migs[i], err, errlen);
		if (ret)
			goto fail;
	}
	*out = db;
	return 0;
fail:
	sqlite3_close(db);  /* harmless on NULL */
	return ret;
}

int db_begin(sqlite3 *db)
{
	char *msg = NULL;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("db: BEGIN IMMEDIATE: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

int db_commit(sqlite3 *db)
{
	char *msg = NULL;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("db: COMMIT: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* SQLite may already have rolled back on its own (e.g. SQLITE_FULL), so
 * only roll back while a transaction is really open. */
void db_rollback(sqlite3 *db)
{
	if (sqlite3_get_autocommit(db))
		return;
	char *msg = NULL;
	if (sqlite3_exec(db, "ROLLBACK", NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("db: ROLLBACK: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
	}
}

int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
	*out = NULL;
	int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
	if (rc != SQLITE_OK) {
		log_warnx("db: prepare failed: %s: %s", sqlite3_errmsg(db), sql);
		sqlite3_finalize(*out);
		*out = NULL;
		return -EIO;
	}
	return 0;
}

int db_user_version(sqlite3 *db, int *out)
{
	if (db_read_version(db, out) != SQLITE_OK) {
		log_warnx("db: PRAGMA user_version: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}
