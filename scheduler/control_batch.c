/*
 * control_batch.c - `schedctl run|pause|resume|cancel` on several tasks
 * (or runs) at once, or on the tasks a label selector picks: one store
 * transaction, all or nothing (store_batch_apply), and the answer names
 * the item that blocked it.
 *
 *   schedctl pause a b c          schedctl pause -l team=etl
 *   schedctl run a b              schedctl resume --selector team=etl,tier=1
 *   schedctl cancel 41 42 nightly schedctl cancel -l team=etl
 *
 * A selector is "k=v[,k=v...]" (the syntax of labels); it picks every
 * task whose `labels` carry all of its pairs.  Names and a selector are
 * not mixed; a name given twice counts once.  For cancel, an argument of
 * digits only is a run id, anything else a task (all its unfinished
 * runs).  What blocks a batch and what is merely "unchanged" is decided
 * by the store (store.h "batches") so that the rules are those of the
 * single commands.
 *
 * A request of one plain argument (`pause a`, `run a`, `cancel 42`) keeps
 * the single-item handler of control_cmds.c and its output; everything
 * else comes here.  Memory (paused flags, tracked runs, cancels sent to
 * workers) changes only after the store committed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "control.h"
#include "labels.h"
#include "log.h"
#include "sched.h"

static const char *const op_names[] = {
	[STORE_BATCH_PAUSE] = "pause",
	[STORE_BATCH_RESUME] = "resume",
	[STORE_BATCH_RUN] = "run",
	[STORE_BATCH_CANCEL] = "cancel",
};

static const char *const op_usage[] = {
	[STORE_BATCH_PAUSE] = "pause TASK... | pause -l k=v[,k=v...]",
	[STORE_BATCH_RESUME] = "resume TASK... | resume -l k=v[,k=v...]",
	[STORE_BATCH_RUN] = "run TASK... | run -l k=v[,k=v...]",
	[STORE_BATCH_CANCEL] = "cancel RUN_ID|TASK... | cancel -l k=v[,k=v...]",
};

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

bool ctl_batch_wanted(const struct ctl_args *a, enum store_batch_op op)
{
	if (a->argc != 1)
		return true; /* none (usage) or several */
	if (a->argv[0][0] == '-')
		return true;
	return op == STORE_BATCH_CANCEL && !all_digits(a->argv[0]);
}

/* What the operator asked for, before the store sees it. */
struct batch {
	enum store_batch_op op;
	struct store_batch_item *items;
	size_t n;
	char selector[TASK_LABELS_MAX + 1];
};

static int add_item(struct batch *b, struct sched *s, const char *arg)
{
	for (size_t i = 0; i < b->n; i++) /* a name given twice counts once */
		if (b->items[i].task
			    ? strcmp(b->items[i].task, arg) == 0
			    : all_digits(arg) && b->items[i].run_id == strtoull(arg, NULL, 10))
			return 0;
	struct store_batch_item *ni = realloc(b->items, (b->n + 1) * sizeof(*ni));
	if (!ni)
		return -ENOMEM;
	b->items = ni;
	struct store_batch_item *it = &b->items[b->n++];
	memset(it, 0, sizeof(*it));
	it->op = b->op;
	if (b->op == STORE_BATCH_CANCEL && all_digits(arg)) {
		errno = 0;
		it->run_id = strtoull(arg, NULL, 10);
		if (errno)
			it->run_id = UINT64_MAX; /* no such run: the store says so */
		return 0;
	}
	const struct sched_task *t = sched_task_find(s, arg);
	it->task = t ? t->def.name : arg; /* an unknown one: the store refuses it */
	if (b->op == STORE_BATCH_RUN)
		it->rn = (struct store_run_new){
			.task = it->task,
			.reason = REASON_MANUAL,
			.scheduled_for = clock_wall_ms() / 1000,
			.attempt = 1,
			.overlap = t ? t->def.overlap : OVERLAP_SKIP,
			.now_ms = clock_wall_ms(),
		};
	return 0;
}

/* Parse the arguments into b.  0, or the exit code with the message in
 * out (2: usage, 1: a selector that matches nothing). */
static int parse(struct sched *s, const struct ctl_args *a, struct batch *b, struct strbuf *out)
{
	const char *sel = NULL;
	int nnames = 0;
	char err[128];
	for (int i = 0; i < a->argc; i++) {
		const char *arg = a->argv[i];
		if (strcmp(arg, "-l") == 0 || strcmp(arg, "--selector") == 0) {
			if (i + 1 >= a->argc || sel) {
				strbuf_printf(out, "%s: %s\nusage: schedctl %s\n", op_names[b->op],
					      sel ? "one selector only" : "-l needs k=v[,k=v...]",
					      op_usage[b->op]);
				return 2;
			}
			sel = a->argv[++i];
		} else if (arg[0] == '-') {
			strbuf_printf(out, "%s: unknown option '%s'\nusage: schedctl %s\n",
				      op_names[b->op], arg, op_usage[b->op]);
			return 2;
		} else {
			nnames++;
		}
	}
	if ((sel && nnames) || (!sel && !nnames)) {
		strbuf_printf(out, "%s: %s\nusage: schedctl %s\n", op_names[b->op],
			      sel ? "give tasks or a selector, not both" : "nothing to do",
			      op_usage[b->op]);
		return 2;
	}
	if (sel) {
		int rc = labels_normalize(sel, b->selector, sizeof(b->selector), err, sizeof(err));
		if (rc < 0 || !b->selector[0]) {
			strbuf_printf(out, "%s: bad selector '%s': %s\n", op_names[b->op], sel,
				      rc == -ENAMETOOLONG ? "too long"
				      : rc < 0		  ? err
							  : "empty (it would pick every task)");
			return 2;
		}
		for (size_t i = 0; i < s->ntasks; i++)
			if (labels_match(b->selector, s->tasks[i].def.labels) &&
			    add_item(b, s, s->tasks[i].def.name) < 0)
				goto oom;
		if (b->n == 0) {
			strbuf_printf(out, "%s: no task matches the selector %s; nothing changed\n",
				      op_names[b->op], b->selector);
			return 1;
		}
		return 0;
	}
	for (int i = 0; i < a->argc; i++)
		if (add_item(b, s, a->argv[i]) < 0)
			goto oom;
	return 0;
oom:
	strbuf_printf(out, "%s: out of memory\n", op_names[b->op]);
	return 1;
}

/* The item as the operator named it: "a", or "run 42". */
static void item_name(const struct store_batch_item *it, char *buf, size_t len)
{
	if (it->task)
		snprintf(buf, len, "%s", it->task);
	else
		snprintf(buf, len, "run %llu", (unsigned long long)it->run_id);
}

/* Why the blocker blocked, in words. */
static void blocker_reason(struct sched *s, const struct store_batch_item *it, int rc, char *buf,
			   size_t len)
{
	const struct sched_task *t = it->task ? sched_task_find(s, it->task) : NULL;
	if (rc == -ENOENT) {
		snprintf(buf, len, it->task ? "unknown task" : "no such run");
	} else if (rc == -EALREADY) {
		snprintf(buf, len, "has already finished");
	} else if (rc == -EBUSY && it->op == STORE_BATCH_RUN) {
		const struct sched_run *r = sched_run_find(s, it->created.blocking_run_id);
		bool queue = t && t->def.overlap == OVERLAP_QUEUE;
		snprintf(buf, len, "%s (run %llu%s%s; overlap = %s)",
			 queue ? "already has a run waiting in its queue"
			 : r && run_state_active(r->state) ? "already running"
							   : "already has a run waiting",
			 (unsigned long long)it->created.blocking_run_id, r ? ", " : "",
			 r ? run_state_name(r->state) : "", queue ? "queue" : "skip");
	} else {
		snprintf(buf, len, "%s", strerror(-rc));
	}
}

/* After the commit: memory follows the store. */
static void apply_memory(struct sched *s, struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct store_batch_item *it = &b->items[i];
		if (it->rc != 0)
			continue;
		if (it->op == STORE_BATCH_PAUSE || it->op == STORE_BATCH_RESUME) {
			struct sched_task *t = sched_task_find(s, it->task);
			if (t) {
				t->paused = it->op == STORE_BATCH_PAUSE;
				sched_task_rearm(s, t);
			}
		} else if (it->op == STORE_BATCH_RUN) {
			sched_track_created(s, &it->rn, &it->created);
		}
		for (size_t k = 0; k < it->ncancelled; k++) {
			uint64_t id = it->cancelled[k];
			struct sched_run *r = sched_run_find(s, id);
			if (it->cancel_state[k] == RUN_CANCELLED) {
				sched_run_forget(s, id);
			} else if (r) {
				r->cancel_requested = true;
				outbox_ack(s->outbox, WIRE_DISPATCH, id);
				sched_send_cancel(s, r);
			}
		}
	}
	if (b->op == STORE_BATCH_RUN || b->op == STORE_BATCH_RESUME)
		sched_dispatch_pending(s);
}

static const char *item_result(const struct store_batch_item *it)
{
	if (it->rc == -EALREADY)
		return "unchanged";
	switch (it->op) {
	case STORE_BATCH_PAUSE:
		return "paused";
	case STORE_BATCH_RESUME:
		return "resumed";
	case STORE_BATCH_RUN:
		return "created";
	case STORE_BATCH_CANCEL:
		for (size_t k = 0; k < it->ncancelled; k++)
			if (it->cancel_state[k] != RUN_CANCELLED)
				return "cancel_requested";
		return "cancelled";
	}
	return "?";
}

/* One line per item of an applied batch. */
static void item_text(struct sched *s, const struct store_batch_item *it, struct strbuf *out)
{
	char name[64];
	item_name(it, name, sizeof(name));
	const struct sched_task *t = it->task ? sched_task_find(s, it->task) : NULL;
	switch (it->op) {
	case STORE_BATCH_PAUSE:
	case STORE_BATCH_RESUME:
		if (it->rc == -EALREADY)
			strbuf_printf(out, "task %s is already %s (unchanged)\n", name,
				      it->op == STORE_BATCH_PAUSE ? "paused" : "active");
		else
			strbuf_printf(out, "task %s %s\n", name,
				      it->op == STORE_BATCH_PAUSE ? "paused" : "resumed");
		return;
	case STORE_BATCH_RUN:
		strbuf_printf(out, "run %llu of %s created (token %llu)%s\n",
			      (unsigned long long)it->created.run_id, name,
			      (unsigned long long)it->created.token,
			      t && t->paused
				      ? "; the task is paused: the run waits until `schedctl "
					"resume`"
				      : "");
		return;
	case STORE_BATCH_CANCEL:
		if (it->rc == -EALREADY && it->cancelled_before) {
			strbuf_printf(out, "%s: cancelled by an earlier item (unchanged)\n", name);
			return;
		}
		if (it->rc == -EALREADY) {
			strbuf_printf(out, "task %s has no unfinished run (unchanged)\n", name);
			return;
		}
		if (it->dropped_triggers)
			strbuf_printf(out, "%s: its open trigger window dropped (%d trigger(s))\n",
				      name, it->dropped_triggers);
		for (size_t k = 0; k < it->ncancelled; k++) {
			const struct sched_run *r = sched_run_find(s, it->cancelled[k]);
			if (it->cancel_state[k] == RUN_CANCELLED)
				strbuf_printf(out, "%s%srun %llu cancelled (it had not started)\n",
					      it->task ? name : "", it->task ? ": " : "",
					      (unsigned long long)it->cancelled[k]);
			else
				strbuf_printf(out,
					      "%s%scancel of run %llu requested; it stays %s until "
					      "%s reports its end\n",
					      it->task ? name : "", it->task ? ": " : "",
					      (unsigned long long)it->cancelled[k],
					      run_state_name(it->cancel_state[k]),
					      r && r->node[0] ? r->node : "its worker");
		}
		return;
	}
}

static void item_json(struct sched *s, const struct store_batch_item *it, bool committed,
		      bool is_blocker, struct strbuf *out)
{
	char name[64];
	item_name(it, name, sizeof(name));
	strbuf_puts(out, "{\"item\": ");
	strbuf_json_str(out, name);
	strbuf_puts(out, ", \"task\": ");
	strbuf_json_str(out, it->task);
	if (!it->task)
		strbuf_printf(out, ", \"run_id\": %llu", (unsigned long long)it->run_id);
	strbuf_puts(out, ", \"result\": ");
	if (is_blocker) {
		char why[160];
		blocker_reason(s, it, it->rc, why, sizeof(why));
		strbuf_puts(out, "\"blocked\", \"error\": ");
		strbuf_json_str(out, why);
		if (it->created.blocking_run_id)
			strbuf_printf(out, ", \"blocking_run_id\": %llu",
				      (unsigned long long)it->created.blocking_run_id);
	} else if (!committed) {
		strbuf_puts(out, "\"not_applied\"");
	} else {
		strbuf_json_str(out, item_result(it));
		if (it->op == STORE_BATCH_RUN)
			strbuf_printf(out, ", \"run_id\": %llu, \"token\": %llu",
				      (unsigned long long)it->created.run_id,
				      (unsigned long long)it->created.token);
		if (it->op == STORE_BATCH_CANCEL) {
			strbuf_puts(out, ", \"runs\": [");
			for (size_t k = 0; k < it->ncancelled; k++)
				strbuf_printf(out, "%s{\"run_id\": %llu, \"state\": \"%s\"}",
					      k ? ", " : "", (unsigned long long)it->cancelled[k],
					      run_state_name(it->cancel_state[k]));
			strbuf_puts(out, "]");
			if (it->task)
				strbuf_printf(out, ", \"dropped_triggers\": %d",
					      it->dropped_triggers);
		}
	}
	strbuf_puts(out, "}");
}

static int report(struct sched *s, const struct ctl_args *a, struct batch *b, int rc,
		  size_t blocker, struct strbuf *out)
{
	bool committed = rc == 0;
	char msg[512], name[64], why[160];
	if (committed) {
		size_t changed = 0;
		for (size_t i = 0; i < b->n; i++)
			changed += b->items[i].rc == 0;
		snprintf(msg, sizeof(msg), "%s: %zu item(s), %zu changed, %zu unchanged",
			 op_names[b->op], b->n, changed, b->n - changed);
	} else {
		item_name(&b->items[blocker], name, sizeof(name));
		blocker_reason(s, &b->items[blocker], rc, why, sizeof(why));
		snprintf(msg, sizeof(msg), "%s: %s; nothing changed (%zu item(s), all or nothing)",
			 name, why, b->n);
	}
	if (!a->json) {
		if (committed)
			for (size_t i = 0; i < b->n; i++)
				item_text(s, &b->items[i], out);
		else
			strbuf_printf(out, "%s\n", msg);
		return committed ? 0 : 1;
	}
	strbuf_printf(out, "{\"ok\": %s, \"message\": ", committed ? "true" : "false");
	strbuf_json_str(out, msg);
	strbuf_puts(out, ", \"selector\": ");
	strbuf_json_str(out, b->selector[0] ? b->selector : NULL);
	strbuf_puts(out, ", \"blocked_by\": ");
	if (committed)
		strbuf_puts(out, "null");
	else
		strbuf_json_str(out, name);
	strbuf_puts(out, ", \"items\": [");
	for (size_t i = 0; i < b->n; i++) {
		strbuf_puts(out, i ? ",\n  " : "\n  ");
		item_json(s, &b->items[i], committed, !committed && i == blocker, out);
	}
	strbuf_puts(out, b->n ? "\n]}\n" : "]}\n");
	return committed ? 0 : 1;
}

int ctl_batch(struct sched *s, const struct ctl_args *a, struct strbuf *out, enum store_batch_op op)
{
	struct batch b = {.op = op};
	int code = parse(s, a, &b, out);
	if (code == 0) {
		size_t blocker = 0;
		int rc = store_batch_apply(s->store, b.items, b.n, clock_wall_ms(), &blocker);
		if (rc == 0)
			apply_memory(s, &b);
		else
			log_info("schedctl %s of %zu item(s) refused at item %zu: %s", op_names[op],
				 b.n, blocker + 1, strerror(-rc));
		code = report(s, a, &b, rc, blocker, out);
	}
	free(b.items);
	return code;
}
