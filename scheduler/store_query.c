/*
 * store_query.c - reading the scheduler's store: one run, run listings,
 * task, node and event listings (see store.h).
 *
 * Listings read every row into memory first and only then call the
 * callback, so a callback may call any store function, writes included
 * (for example assign each unfinished run at start-up) without
 * disturbing a statement still being stepped.  A callback returns 0 to
 * go on; anything else stops the listing and is returned to the caller.
 */
#include <errno.h>
#include <string.h>

#include "store.h"
#include "store_int.h"

void store__read_run(sqlite3_stmt *s, struct store_run *out)
{
	char text[16];
	memset(out, 0, sizeof(*out));
	out->run_id = (uint64_t)sqlite3_column_int64(s, 0);
	store__col_text(s, 1, out->task, sizeof(out->task), false);
	out->token = (uint64_t)sqlite3_column_int64(s, 2);
	store__col_text(s, 3, text, sizeof(text), false);
	if (run_reason_parse(text, &out->reason) != 0)
		out->reason = 0;
	store__col_text(s, 4, text, sizeof(text), false);
	if (run_state_parse(text, &out->state) != 0)
		out->state = 0;
	out->attempt = sqlite3_column_int(s, 5);
	store__col_text(s, 6, out->node, sizeof(out->node), false);
	out->scheduled_for = sqlite3_column_int64(s, 7);
	out->created_ms = sqlite3_column_int64(s, 8);
	out->dispatched_ms = sqlite3_column_int64(s, 9);
	out->started_ms = sqlite3_column_int64(s, 10);
	out->finished_ms = sqlite3_column_int64(s, 11);
	out->exit_code = sqlite3_column_int(s, 12);
	out->signal = sqlite3_column_int(s, 13);
	out->cancel_requested = sqlite3_column_int(s, 14) != 0;
	store__col_text(s, 15, out->output_tail, sizeof(out->output_tail), true);
	store__col_text(s, 16, out->error, sizeof(out->error), false);
	store__col_text(s, 17, out->log_path, sizeof(out->log_path), false);
	out->not_before_ms = sqlite3_column_int64(s, 18);
	out->triggers = sqlite3_column_int(s, 19);
}

int store_run_get(struct store *st, uint64_t run_id, struct store_run *out)
{
	sqlite3_stmt *s = store__stmt(st, SQ_RUN_GET);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	if (rc != SQLITE_OK)
		return store__err(st, rc, "bind run");
	rc = store__row(st, s, "get run");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ENOENT;
	store__read_run(s, out);
	sqlite3_reset(s);
	return 0;
}

int store_run_fence_incarnation(struct store *st, uint64_t run_id, uint64_t *out)
{
	sqlite3_stmt *s = store__stmt(st, SQ_RUN_FENCE_INC);
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	if (rc != SQLITE_OK)
		return store__err(st, rc, "bind run");
	rc = store__row(st, s, "fence of run");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ENOENT;
	*out = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

/* Read every row of s (bound, ready) with read() into v. */
static int collect(struct store *st, sqlite3_stmt *s, struct store__vec *v,
		   void (*read)(sqlite3_stmt *, void *), const char *what)
{
	int rc;
	while ((rc = store__row(st, s, what)) == 1) {
		void *slot = store__vec_push(v);
		if (!slot) {
			sqlite3_reset(s);
			return -ENOMEM;
		}
		read(s, slot);
	}
	return rc;
}

static void read_run(sqlite3_stmt *s, void *slot)
{
	store__read_run(s, slot);
}

static int runs_list(struct store *st, sqlite3_stmt *s, store_run_cb cb, void *arg)
{
	struct store__vec v = {.size = sizeof(struct store_run)};
	int ret = collect(st, s, &v, read_run, "list runs");
	for (size_t i = 0; ret == 0 && i < v.n; i++)
		ret = cb(arg, (const struct store_run *)v.items + i);
	store__vec_free(&v);
	return ret;
}

int store_runs_unfinished(struct store *st, store_run_cb cb, void *arg)
{
	return runs_list(st, store__stmt(st, SQ_RUNS_UNFINISHED), cb, arg);
}

/* -ENOENT if the task was never known. */
int store_runs_history(struct store *st, const char *task, int limit, store_run_cb cb,
		       void *arg)
{
	struct store__task t;
	int rc = store__task_find(st, task, &t);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return -ENOENT;
	sqlite3_stmt *s = store__stmt(st, SQ_RUNS_HISTORY);
	rc = sqlite3_bind_int64(s, 1, t.id);
	rc |= sqlite3_bind_int(s, 2, limit > 0 ? limit : 20);
	if (rc != SQLITE_OK)
		return store__err(st, rc, "bind history");
	return runs_list(st, s, cb, arg);
}

/* ---- tasks ------------------------------------------------------------- */

/* last_*: the task's newest run row, whatever its state (a skipped row
 * is a run accounted for); active_run_id: its dispatched, running or
 * fencing run. */
static void read_task(sqlite3_stmt *s, void *slot)
{
	struct store_task_row *t = slot;
	char state[16];
	store__col_text(s, 0, t->name, sizeof(t->name), false);
	store__col_text(s, 1, t->schedule, sizeof(t->schedule), false);
	store__col_text(s, 2, t->timezone, sizeof(t->timezone), false);
	store__col_text(s, 3, t->command, sizeof(t->command), false);
	store__col_text(s, 4, t->overlap, sizeof(t->overlap), false);
	store__col_text(s, 5, t->catch_up, sizeof(t->catch_up), false);
	store__col_text(s, 6, t->labels, sizeof(t->labels), false);
	t->priority = sqlite3_column_int(s, 7);
	t->retries = sqlite3_column_int(s, 8);
	t->paused = sqlite3_column_int(s, 9) != 0;
	t->removed = sqlite3_column_int(s, 10) != 0;
	t->cursor_s = sqlite3_column_int64(s, 11);
	t->last_run_id = (uint64_t)sqlite3_column_int64(s, 12);  /* NULL reads 0 */
	store__col_text(s, 13, state, sizeof(state), false);
	if (!t->last_run_id || run_state_parse(state, &t->last_state) != 0)
		t->last_state = 0;
	t->last_finished_ms = sqlite3_column_int64(s, 14);
	t->active_run_id = (uint64_t)sqlite3_column_int64(s, 15);
}

int store_tasks_list(struct store *st, bool include_removed, store_task_cb cb, void *arg)
{
	struct store__vec v = {.size = sizeof(struct store_task_row)};
	sqlite3_stmt *s = store__stmt(st, SQ_TASKS_LIST);
	int ret = sqlite3_bind_int(s, 1, include_removed ? 1 : 0);
	if (ret != SQLITE_OK)
		return store__err(st, ret, "bind tasks");
	ret = collect(st, s, &v, read_task, "list tasks");
	for (size_t i = 0; ret == 0 && i < v.n; i++)
		ret = cb(arg, (const struct store_task_row *)v.items + i);
	store__vec_free(&v);
	return ret;
}

/* ---- nodes ------------------------------------------------------------- */

static void read_node(sqlite3_stmt *s, void *slot)
{
	struct store_node *n = slot;
	store__col_text(s, 0, n->name, sizeof(n->name), false);
	store__col_text(s, 1, n->addr, sizeof(n->addr), false);
	n->slots = sqlite3_column_int(s, 2);
	store__col_text(s, 3, n->labels, sizeof(n->labels), false);
	n->first_seen_ms = sqlite3_column_int64(s, 4);
	n->last_hello_ms = sqlite3_column_int64(s, 5);
	n->drained_ms = sqlite3_column_int64(s, 6);
	n->incarnation = (uint64_t)sqlite3_column_int64(s, 7);
}

/* Every node ever seen, by name. */
int store_nodes_list(struct store *st, store_node_cb cb, void *arg)
{
	struct store__vec v = {.size = sizeof(struct store_node)};
	int ret = collect(st, store__stmt(st, SQ_NODES_LIST), &v, read_node, "list nodes");
	for (size_t i = 0; ret == 0 && i < v.n; i++)
		ret = cb(arg, (const struct store_node *)v.items + i);
	store__vec_free(&v);
	return ret;
}

/* ---- events ------------------------------------------------------------ */

static void read_event(sqlite3_stmt *s, void *slot)
{
	struct store_event_row *e = slot;
	e->id = (uint64_t)sqlite3_column_int64(s, 0);
	e->at_ms = sqlite3_column_int64(s, 1);
	store__col_text(s, 2, e->kind, sizeof(e->kind), false);
	store__col_text(s, 3, e->task, sizeof(e->task), false);
	e->run_id = (uint64_t)sqlite3_column_int64(s, 4);
	store__col_text(s, 5, e->node, sizeof(e->node), false);
	store__col_text(s, 6, e->message, sizeof(e->message), false);
}

/* limit <= 0: 20. */
int store_events_recent(struct store *st, int limit, store_event_cb cb, void *arg)
{
	struct store__vec v = {.size = sizeof(struct store_event_row)};
	sqlite3_stmt *s = store__stmt(st, SQ_EVENTS_RECENT);
	int ret = sqlite3_bind_int(s, 1, limit > 0 ? limit : 20);
	if (ret != SQLITE_OK)
		return store__err(st, ret, "bind events");
	ret = collect(st, s, &v, read_event, "list events");
	for (size_t i = 0; ret == 0 && i < v.n; i++)
		ret = cb(arg, (const struct store_event_row *)v.items + i);
	store__vec_free(&v);
	return ret;
}
