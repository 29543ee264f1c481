/*
 * db.h - SQLite helpers shared by the scheduler's and the worker's stores:
 * open with the pragmas the safety argument needs (WAL, synchronous=FULL
 * so a commit is durable before any message depending on it is sent,
 * foreign keys, busy timeout), versioned migrations, and write
 * transactions that always start with BEGIN IMMEDIATE.
 *
 * Only store code (scheduler/store*.c, worker/wstore.c) includes this.
 */
#ifndef SCHED_DB_H
#define SCHED_DB_H

#include <sqlite3.h>
#include <stddef.h>

/* One schema step: applying `sql` moves user_version from version-1 to version. */
struct db_migration {
	int version;
	const char *name;   /* file name, for messages */
	const char *sql;
};

/* Generated at build time from schema/ (see scripts/embed-sql.sh). */
extern const struct db_migration db_sched_migrations[];
extern const size_t db_sched_migrations_n;
extern const struct db_migration db_worker_migrations[];
extern const size_t db_worker_migrations_n;

/*
 * Open (creating if needed) the database at path, set pragmas, and bring
 * its schema to the newest of migs[] in one transaction per step.  A
 * database whose user_version is newer than the newest migration is
 * refused (-EPROTO) with a message naming both versions.  On failure,
 * returns a negative errno with a reason in err and *out is NULL.
 */
int db_open(const char *path, const struct db_migration *migs, size_t nmigs,
	    sqlite3 **out, char *err, size_t errlen);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK: 0 or -EIO (logged). */
int db_begin(sqlite3 *db);
int db_commit(sqlite3 *db);
void db_rollback(sqlite3 *db);

/* Prepare once; 0 or -EIO with the SQLite message logged. */
int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out);

/* The schema version of an open database (PRAGMA user_version). */
int db_user_version(sqlite3 *db, int *out);

#endif
