/*
 * store_retry.c - what the scheduler reads back about retries after a
 * restart: the node of a retry's previous attempt (sched_retry.c), so a
 * retry keeps preferring another node without a column of its own.
 *
 * Rare (once per pending retry at start), so the statement is prepared on
 * first use (store__call_stmt) instead of at open with store_sql[].
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "store_int.h"

/* The newest earlier run of the same task with the attempt before this
 * one's, that ran somewhere and ended without success. */
static const char *const retry_sql[] = {
	"SELECT p.node FROM runs r JOIN runs p ON p.task_id = r.task_id "
	"WHERE r.run_id = ?1 AND p.run_id < r.run_id AND p.attempt = r.attempt - 1 "
	"AND p.node <> '' AND p.state IN ('failed', 'timed_out', 'lost') "
	"ORDER BY p.run_id DESC LIMIT 1",
};

int store_run_previous_node(struct store *st, uint64_t run_id, char *node, size_t size)
{
	struct store__call q = STORE_CALL(st, STORE_MOD_RETRY, retry_sql);
	int ret = 0;
	sqlite3_stmt *s = store__call_stmt(&q, 0, &ret);
	if (!s)
		return ret;
	int rc = sqlite3_bind_int64(s, 1, (sqlite3_int64)run_id);
	ret = rc ? store__err(st, rc, "bind previous attempt")
		 : store__row(st, s, "previous attempt");
	if (ret == 1) {
		store__col_text(s, 0, node, size, false);
		ret = 0;
	} else if (ret == 0) {
		ret = -ENOENT;
	}
	store__call_end(&q);
	return ret;
}
