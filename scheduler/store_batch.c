/*
 * store_batch.c - operator actions on several tasks or runs in one
 * transaction, all or nothing (store.h "batches").
 *
 * Each item is applied with the in-transaction half of its single-item
 * function (store__task_set_paused_tx, store__run_create_tx,
 * store__run_cancel_tx), so a batch follows exactly the rules of the
 * single commands: the overlap rule and the unique indexes for runs, the
 * same answers for unknown, removed or finished things.  The first item
 * that blocks rolls everything back; nothing a batch did is visible
 * until its COMMIT.
 */
#include <errno.h>
#include <string.h>

#include "db.h"
#include "store.h"
#include "store_int.h"

/* Whether an item before items[i] cancelled (or asked to cancel) run_id:
 * for a later item the run is then unchanged, not finished and not a
 * second cancel. */
static bool cancelled_before(const struct store_batch_item *items, size_t i, uint64_t run_id)
{
	for (size_t j = 0; j < i; j++)
		for (size_t k = 0; k < items[j].ncancelled; k++)
			if (items[j].cancelled[k] == run_id)
				return true;
	return false;
}

/* Cancel the unfinished runs of a task: its active one, then its pending
 * one, and drop its open debounce window (whose triggers would make a run
 * later).  Runs an earlier item already cancelled are left to that item.
 * -EALREADY when there was nothing to do. */
static int cancel_task(struct store *st, struct store_batch_item *items, size_t i, int64_t now_ms)
{
	struct store_batch_item *it = &items[i];
	struct store__task t;
	int ret = store__task_find(st, it->task, &t);
	if (ret < 0)
		return ret;
	if (ret == 0 || t.removed)
		return -ENOENT;
	static const enum store_sq which[2] = {SQ_RUN_ACTIVE_OF, SQ_RUN_PENDING_OF};
	for (size_t k = 0; k < 2; k++) {
		uint64_t run_id = 0;
		ret = store__run_of_task(st, which[k], t.id, &run_id);
		if (ret < 0)
			return ret;
		if (!run_id || cancelled_before(items, i, run_id))
			continue;
		ret = store__run_cancel_tx(st, run_id, now_ms, &it->cancel_state[it->ncancelled]);
		if (ret < 0)
			return ret == -EALREADY ? -EIO : ret; /* it was unfinished a moment ago */
		it->cancelled[it->ncancelled++] = run_id;
	}
	ret = store__trigger_drop_tx(st, t.id, it->task, "cancelled by the operator", now_ms,
				     &it->dropped_triggers);
	if (ret < 0)
		return ret;
	return it->ncancelled || it->dropped_triggers ? 0 : -EALREADY;
}

static int apply_one(struct store *st, struct store_batch_item *items, size_t i, int64_t now_ms)
{
	struct store_batch_item *it = &items[i];
	int ret;
	switch (it->op) {
	case STORE_BATCH_PAUSE:
	case STORE_BATCH_RESUME: {
		bool pause = it->op == STORE_BATCH_PAUSE;
		if (!it->task)
			return -EINVAL;
		ret = store__task_set_paused_tx(st, it->task, pause);
		if (ret == 0)
			ret = store__event_add(st, now_ms, pause ? "pause" : "resume", it->task, 0,
					       NULL, "by operator (batch)");
		return ret;
	}
	case STORE_BATCH_RUN: {
		if (!it->task || !it->rn.task || strcmp(it->task, it->rn.task) != 0)
			return -EINVAL;
		struct store_run_new rn = it->rn;
		rn.record_skip = false;
		return store__run_create_tx(st, &rn, &it->created);
	}
	case STORE_BATCH_CANCEL:
		if (it->task)
			return cancel_task(st, items, i, now_ms);
		if (cancelled_before(items, i, it->run_id)) {
			it->cancelled_before = true;
			return -EALREADY;
		}
		ret = store__run_cancel_tx(st, it->run_id, now_ms, &it->cancel_state[0]);
		if (ret == 0) {
			it->cancelled[0] = it->run_id;
			it->ncancelled = 1;
		}
		return ret;
	}
	return -EINVAL;
}

/* -EALREADY means "unchanged" except for the cancel of a single run,
 * where it means the run has finished: a blocker, as in store_run_cancel,
 * unless an earlier item of this batch is what cancelled it. */
static bool blocks(const struct store_batch_item *it)
{
	if (it->rc == 0)
		return false;
	return !(it->rc == -EALREADY &&
		 (it->op != STORE_BATCH_CANCEL || it->task || it->cancelled_before));
}

int store_batch_apply(struct store *st, struct store_batch_item *items, size_t n, int64_t now_ms,
		      size_t *blocker)
{
	for (size_t i = 0; i < n; i++) {
		items[i].rc = 1;
		items[i].ncancelled = 0;
		items[i].dropped_triggers = 0;
		items[i].cancelled_before = false;
		memset(&items[i].created, 0, sizeof(items[i].created));
	}
	int ret = db_begin(st->db);
	if (ret) {
		*blocker = 0;
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].rc = apply_one(st, items, i, now_ms);
		if (blocks(&items[i])) {
			*blocker = i;
			ret = items[i].rc;
			goto fail;
		}
	}
	ret = store__commit(st);
	if (ret == 0)
		return 0;
	*blocker = n ? n - 1 : 0;
fail:
	db_rollback(st->db);
	/* Nothing was applied: no run may look created or cancelled (the
	 * blocker keeps blocking_run_id; rc of earlier items still says what
	 * they would have done). */
	for (size_t i = 0; i < n; i++) {
		items[i].ncancelled = 0;
		items[i].dropped_triggers = 0;
		items[i].created.run_id = 0;
		items[i].created.token = 0;
	}
	return ret;
}
