/*
 * store_tasks.c - task definitions in the scheduler's store (see
 * store.h): syncing the table with a loaded task set, and the mutable
 * per-task state kept next to each definition (paused, cursor, token).
 *
 * A task is never deleted: one that leaves the schedule files is marked
 * removed, so its history stays and its last_token keeps growing if it
 * comes back (a token must never repeat for a task name).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store.h"
#include "store_int.h"

static const char *const overlap_names[] = {
	[OVERLAP_SKIP] = "skip",
	[OVERLAP_QUEUE] = "queue",
};
static const char *const catch_up_names[] = {
	[CATCH_UP_NONE] = "none",
	[CATCH_UP_LATEST] = "latest",
	[CATCH_UP_ALL] = "all",
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A task definition as the values bound to ?1..?15 of SQ_TASK_INSERT and
 * SQ_TASK_UPDATE.  Column p-1 of SQ_TASK_GET holds parameter p (p >= 2),
 * so binding and comparing are both one loop over this table.
 */
enum { DEF_FIRST_COMPARED = 2, DEF_LAST_COMPARED = 13, DEF_NPARAM = 15 };

struct def_val {
	const char *field;  /* for "changed: ..." messages */
	const char *text;   /* NULL: numeric */
	size_t max;         /* text length bound */
	int64_t num;
};

static int def_values(const struct task_def *d, struct def_val v[DEF_NPARAM + 1],
		      char *err, size_t errlen)
{
	if ((unsigned)d->overlap >= NELEM(overlap_names) || !overlap_names[d->overlap] ||
	    (unsigned)d->catch_up >= NELEM(catch_up_names) || !catch_up_names[d->catch_up]) {
		snprintf(err, errlen, "task %s: invalid overlap or catch_up value", d->name);
		return -EINVAL;
	}
	if (d->name[0] == '\0') {
		snprintf(err, errlen, "a task without a name");
		return -EINVAL;
	}
	const char *tz = d->cron.tz[0] ? d->cron.tz : "UTC";
	struct def_val t[DEF_NPARAM + 1] = {
		[1] = {"name", d->name, TASK_NAME_MAX, 0},
		[2] = {"command", d->command, TASK_COMMAND_MAX, 0},
		[3] = {"schedule", d->schedule, TASK_SCHEDULE_MAX, 0},
		[4] = {"timezone", tz, CRON_TZ_MAX - 1, 0},
		[5] = {"timeout", NULL, 0, d->timeout_ms},
		[6] = {"overlap", overlap_names[d->overlap], 7, 0},
		[7] = {"catch_up", catch_up_names[d->catch_up], 7, 0},
		[8] = {"retries", NULL, 0, d->retries},
		[9] = {"retry_backoff", NULL, 0, d->retry_backoff_ms},
		[10] = {"priority", NULL, 0, d->priority},
		[11] = {"labels", d->labels, TASK_LABELS_MAX, 0},
		[12] = {"after", d->after, TASK_AFTER_MAX, 0},
		[13] = {"debounce", NULL, 0, d->debounce_ms},
		[14] = {"file", d->file, TASK_PATH_MAX, 0},
		[15] = {"line", NULL, 0, d->line},
	};
	memcpy(v, t, sizeof(t));
	return 0;
}

static int def_bind(sqlite3_stmt *s, const struct def_val v[DEF_NPARAM + 1])
{
	int rc = SQLITE_OK;
	for (int p = 1; p <= DEF_NPARAM; p++)
		rc |= v[p].text ? store__bind_text(s, p, v[p].text, v[p].max, false)
				: sqlite3_bind_int64(s, p, v[p].num);
	return rc;
}

/* Append to buf the names of the definition fields that differ between
 * the SQ_TASK_GET row in s and v; returns how many differ. */
static int def_diff(sqlite3_stmt *s, const struct def_val v[DEF_NPARAM + 1], char *buf,
		    size_t len)
{
	int n = 0;
	size_t used = 0;
	buf[0] = '\0';
	for (int p = DEF_FIRST_COMPARED; p <= DEF_LAST_COMPARED; p++) {
		bool same;
		if (v[p].text) {
			const char *cur = (const char *)sqlite3_column_text(s, p - 1);
			size_t want = store__utf8_head(v[p].text, strlen(v[p].text), v[p].max);
			same = cur && strlen(cur) == want && memcmp(cur, v[p].text, want) == 0;
		} else {
			same = sqlite3_column_int64(s, p - 1) == v[p].num;
		}
		if (same)
			continue;
		if (used < len) {
			int w = snprintf(buf + used, len - used, "%s%s", n ? ", " : "",
					 v[p].field);
			used += w > 0 ? (size_t)w : 0;
		}
		n++;
	}
	return n;
}

static bool def_moved(sqlite3_stmt *s, const struct def_val v[DEF_NPARAM + 1])
{
	const char *file = (const char *)sqlite3_column_text(s, 13);
	return !file || strcmp(file, v[14].text) != 0 || sqlite3_column_int64(s, 14) != v[15].num;
}

static int cmp_def_name(const void *key, const void *elem)
{
	return strcmp((const char *)key, ((const struct task_def *)elem)->name);
}

/* The set must be sorted by name without duplicates (taskfile.h
 * promises it); the removal pass below relies on it. */
static int check_sorted(const struct task_set *ts, char *err, size_t errlen)
{
	for (size_t i = 1; i < ts->n; i++) {
		if (strcmp(ts->tasks[i - 1].name, ts->tasks[i].name) >= 0) {
			snprintf(err, errlen, "task set not sorted or duplicate task '%s'",
				 ts->tasks[i].name);
			return -EINVAL;
		}
	}
	return 0;
}

/* Bring one task of the set into the table; counts it in res. */
static int sync_one(struct store *st, const struct task_def *d, int64_t now_s,
		    struct store_sync_result *res, char *err, size_t errlen)
{
	struct def_val v[DEF_NPARAM + 1];
	char changed[160], msg[600];
	int64_t now_ms = now_s * 1000;
	bool removed;
	int ret = def_values(d, v, err, errlen);
	if (ret)
		return ret;

	sqlite3_stmt *s = store__stmt(st, SQ_TASK_GET);
	if (store__bind_text(s, 1, d->name, TASK_NAME_MAX, false) != SQLITE_OK)
		return -ENOMEM;
	int found = store__row(st, s, "find task");
	if (found < 0)
		return found;
	if (!found) {
		sqlite3_stmt *ins = store__stmt(st, SQ_TASK_INSERT);
		int rc = def_bind(ins, v);
		rc |= sqlite3_bind_int64(ins, 16, now_s);
		rc |= sqlite3_bind_int64(ins, 17, now_ms);
		ret = rc ? store__err(st, rc, "bind task") : store__exec(st, ins, "insert task");
		if (ret)
			return ret;
		snprintf(msg, sizeof(msg), "added (%s:%d)", d->file, d->line);
		res->added++;
		return store__event_add(st, now_ms, "task_added", d->name, 0, NULL, msg);
	}

	removed = sqlite3_column_int(s, 16) != 0;
	int ndiff = def_diff(s, v, changed, sizeof(changed));
	bool moved = def_moved(s, v);
	sqlite3_reset(s);
	if (!removed && ndiff == 0) {
		res->unchanged++;
		if (!moved)
			return 0;
		/* Only its place in the files changed: not worth an event. */
		s = store__stmt(st, SQ_TASK_LOCATE);
		int rc = store__bind_text(s, 1, d->name, TASK_NAME_MAX, false);
		rc |= store__bind_text(s, 2, d->file, TASK_PATH_MAX, false);
		rc |= sqlite3_bind_int(s, 3, d->line);
		return rc ? store__err(st, rc, "bind task") : store__exec(st, s, "locate task");
	}

	/* A task that comes back did not exist meanwhile: like a new task,
	 * it owes no catch-up for that time, so its cursor moves to now. */
	sqlite3_stmt *up = store__stmt(st, SQ_TASK_UPDATE);
	int rc = def_bind(up, v);
	rc |= sqlite3_bind_int64(up, 16, removed ? now_s : 0);
	rc |= sqlite3_bind_int64(up, 17, now_ms);
	ret = rc ? store__err(st, rc, "bind task") : store__exec(st, up, "update task");
	if (ret)
		return ret;
	if (removed) {
		snprintf(msg, sizeof(msg), "added again (%s:%d); its history is kept", d->file,
			 d->line);
		res->added++;
		return store__event_add(st, now_ms, "task_added", d->name, 0, NULL, msg);
	}
	snprintf(msg, sizeof(msg), "changed: %s (%s:%d)", changed, d->file, d->line);
	res->changed++;
	return store__event_add(st, now_ms, "task_changed", d->name, 0, NULL, msg);
}

struct live_task {
	int64_t id;
	char name[TASK_NAME_MAX + 1];
};

/* Mark every task not in ts as removed. */
static int sync_removed(struct store *st, const struct task_set *ts, int64_t now_s,
			struct store_sync_result *res)
{
	struct store__vec live = {.size = sizeof(struct live_task)};
	int64_t now_ms = now_s * 1000;
	int ret = 0;

	sqlite3_stmt *s = store__stmt(st, SQ_TASK_LIVE);
	while ((ret = store__row(st, s, "list live tasks")) == 1) {
		struct live_task *lt = store__vec_push(&live);
		if (!lt) {
			sqlite3_reset(s);
			ret = -ENOMEM;
			goto out;
		}
		lt->id = sqlite3_column_int64(s, 0);
		store__col_text(s, 1, lt->name, sizeof(lt->name), false);
	}
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < live.n; i++) {
		const struct live_task *lt = (const struct live_task *)live.items + i;
		if (ts->n && bsearch(lt->name, ts->tasks, ts->n, sizeof(ts->tasks[0]),
				     cmp_def_name))
			continue;
		s = store__stmt(st, SQ_TASK_REMOVE);
		int rc = sqlite3_bind_int64(s, 1, lt->id);
		rc |= sqlite3_bind_int64(s, 2, now_ms);
		ret = rc ? store__err(st, rc, "bind task") : store__exec(st, s, "remove task");
		if (ret)
			goto out;
		ret = store__event_add(st, now_ms, "task_removed", lt->name, 0, NULL,
				       "removed from the schedule files; its history is kept");
		if (ret)
			goto out;
		res->removed++;
	}
out:
	store__vec_free(&live);
	return ret;
}

int store_sync_tasks(struct store *st, const struct task_set *ts, int64_t now_s,
		     struct store_sync_result *res, char *err, size_t errlen)
{
	struct store_sync_result r = {0};
	char dummy[1];
	int ret;

	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	ret = check_sorted(ts, err, errlen);
	if (ret)
		return ret;
	ret = db_begin(st->db);
	if (ret) {
		snprintf(err, errlen, "cannot start a transaction");
		return ret;
	}
	for (size_t i = 0; i < ts->n; i++) {
		ret = sync_one(st, &ts->tasks[i], now_s, &r, err, errlen);
		if (ret)
			goto fail;
	}
	ret = sync_removed(st, ts, now_s, &r);
	if (ret)
		goto fail;
	ret = db_commit(st->db);
	if (ret)
		goto fail;
	if (res)
		*res = r;
	return 0;
fail:
	db_rollback(st->db);
	if (!err[0])
		snprintf(err, errlen, "database error (%s); nothing was changed",
			 strerror(-ret));
	return ret;
}

int store_task_state(struct store *st, const char *task, struct store_task_state *out)
{
	struct store__task t;
	int rc = store__task_find(st, task, &t);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ENOENT;
	out->paused = t.paused;
	out->removed = t.removed;
	out->cursor_s = t.cursor_s;
	out->last_token = t.last_token;
	return 0;
}

int store__task_set_paused_tx(struct store *st, const char *task, bool paused)
{
	struct store__task t;
	int ret = store__task_find(st, task, &t);
	if (ret == 0 || (ret == 1 && t.removed))
		return -ENOENT;
	if (ret < 0)
		return ret;
	if (t.paused == paused)
		return -EALREADY;
	sqlite3_stmt *s = store__stmt(st, SQ_TASK_SET_PAUSED);
	int rc = sqlite3_bind_int64(s, 1, t.id);
	rc |= sqlite3_bind_int(s, 2, paused ? 1 : 0);
	return rc ? store__err(st, rc, "bind pause") : store__exec(st, s, "pause task");
}

int store_task_set_paused(struct store *st, const char *task, bool paused)
{
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = store__task_set_paused_tx(st, task, paused);
	if (ret == 0)
		return store__commit(st);
	db_rollback(st->db);
	return ret;
}

/* The cursor never moves back: a time once accounted for (run, skipped
 * or passed over while paused) must never be scheduled again. */
int store_task_set_cursor(struct store *st, const char *task, int64_t cursor_s)
{
	return store_task_set_cursor_noted(st, task, cursor_s, 0, NULL, NULL);
}

int store_task_set_cursor_noted(struct store *st, const char *task, int64_t cursor_s,
				int64_t now_ms, const char *kind, const char *message)
{
	struct store__task t;
	int ret = db_begin(st->db);
	if (ret)
		return ret;
	ret = store__task_find(st, task, &t);
	if (ret == 0)
		ret = -ENOENT;
	if (ret < 0)
		goto fail;
	sqlite3_stmt *s = store__stmt(st, SQ_TASK_SET_CURSOR);
	int rc = sqlite3_bind_int64(s, 1, t.id);
	rc |= sqlite3_bind_int64(s, 2, cursor_s);
	ret = rc ? store__err(st, rc, "bind cursor") : store__exec(st, s, "set cursor");
	if (ret == 0 && kind)
		ret = store__event_add(st, now_ms, kind, task, 0, NULL, message);
	if (ret)
		goto fail;
	return store__commit(st);
fail:
	db_rollback(st->db);
	return ret;
}
