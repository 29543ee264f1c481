/*
 * control_cmds.c - the commands schedctl sends to the scheduler: tasks,
 * history, run, cancel, pause, resume, reload, status, logs (run, cancel,
 * pause and resume of several items: control_batch.c).  Each writes
 * a table (people) or JSON (programs, --json) into `out` and returns the
 * exit code.  Mutations go through the store first, like everything else.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "control.h"
#include "log.h"
#include "sched.h"

static int usage(struct strbuf *out, const char *u)
{
	strbuf_printf(out, "usage: schedctl %s\n", u);
	return 2;
}

int ctl_result(struct strbuf *out, bool json, int code, const char *extra, const char *fmt,
		  ...)
{
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!json) {
		strbuf_printf(out, "%s\n", msg);
		return code;
	}
	strbuf_printf(out, "{\"ok\": %s, \"message\": ", code == 0 ? "true" : "false");
	strbuf_json_str(out, msg);
	strbuf_printf(out, "%s}\n", extra);
	return code;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno)
		return false;
	*out = v;
	return true;
}

/* ---- tasks ------------------------------------------------------------ */

struct list_ctx {
	struct sched *s;
	struct strbuf *out;
	struct table tab;
	bool json;
	int n;
};

/* The task's pending run (the one that waits), or NULL. */
static const struct sched_run *pending_of(const struct sched *s, const char *task)
{
	for (size_t i = 0; i < s->nruns; i++)
		if (s->runs[i].state == RUN_PENDING && strcmp(s->runs[i].task, task) == 0)
			return &s->runs[i];
	return NULL;
}

static int task_row(void *arg, const struct store_task_row *row)
{
	struct list_ctx *c = arg;
	const struct sched_task *t = sched_task_find(c->s, row->name);
	const struct sched_run *p = pending_of(c->s, row->name);
	/* Why it waits, as the last dispatch pass saw it (sched_deps.c). */
	const char *waiting = p ? (p->wait[0] ? p->wait : "not considered yet") : NULL;
	char next[40] = "-", last[40] = "-";
	if (t && t->next_fire && !row->paused)
		cron_format_time(t->next_fire, "UTC", next, sizeof(next));
	if (row->last_run_id)
		snprintf(last, sizeof(last), "%llu %s", (unsigned long long)row->last_run_id,
			 run_state_name(row->last_state));
	const char *state = row->removed ? "removed" : row->paused ? "paused" : "active";
	if (c->json) {
		strbuf_puts(c->out, c->n++ ? ",\n  {" : "\n  {");
		strbuf_puts(c->out, "\"name\": ");
		strbuf_json_str(c->out, row->name);
		strbuf_puts(c->out, ", \"schedule\": ");
		strbuf_json_str(c->out, row->schedule);
		strbuf_puts(c->out, ", \"timezone\": ");
		strbuf_json_str(c->out, row->timezone);
		strbuf_puts(c->out, ", \"command\": ");
		strbuf_json_str(c->out, row->command);
		strbuf_printf(c->out, ", \"state\": \"%s\", \"overlap\": ", state);
		strbuf_json_str(c->out, row->overlap);
		strbuf_puts(c->out, ", \"catch_up\": ");
		strbuf_json_str(c->out, row->catch_up);
		strbuf_puts(c->out, ", \"labels\": ");
		strbuf_json_str(c->out, row->labels);
		strbuf_printf(c->out, ", \"priority\": %d, \"retries\": %d, \"next_run\": ",
			      row->priority, row->retries);
		if (t && t->next_fire && !row->paused)
			strbuf_json_str(c->out, next);
		else
			strbuf_puts(c->out, "null");
		strbuf_printf(c->out, ", \"last_run_id\": %llu, \"last_state\": ",
			      (unsigned long long)row->last_run_id);
		strbuf_json_str(c->out, row->last_run_id ? run_state_name(row->last_state) : NULL);
		strbuf_printf(c->out, ", \"active_run_id\": %llu, \"pending_run_id\": %llu, "
			      "\"waiting\": ", (unsigned long long)row->active_run_id,
			      (unsigned long long)(p ? p->run_id : 0));
		strbuf_json_str(c->out, waiting);
		strbuf_puts(c->out, "}");
	} else {
		char active[24] = "-";
		if (row->active_run_id)
			snprintf(active, sizeof(active), "%llu", (unsigned long long)row->active_run_id);
		const char *cells[] = {row->name, state, row->schedule, next, last, active,
				       waiting ? waiting : "-"};
		table_row(&c->tab, cells);
	}
	return 0;
}

static int cmd_tasks(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	bool all = a->argc == 1 && strcmp(a->argv[0], "--all") == 0;
	if (a->argc > 1 || (a->argc == 1 && !all))
		return usage(out, "tasks [--all]");
	struct list_ctx c = {.s = s, .out = out, .json = a->json};
	static const char *const hdr[] = {"TASK", "STATE", "SCHEDULE", "NEXT", "LAST", "ACTIVE",
					  "WAITING"};
	if (a->json)
		strbuf_puts(out, "[");
	else
		table_init(&c.tab, 7, hdr);
	int rc = store_tasks_list(s->store, all, task_row, &c);
	if (a->json) {
		strbuf_puts(out, c.n ? "\n]\n" : "]\n");
	} else {
		table_render(&c.tab, out);
		table_free(&c.tab);
	}
	return rc < 0 ? 1 : 0;
}

/* ---- history ---------------------------------------------------------- */

void ctl_run_json(struct strbuf *o, const struct store_run *r)
{
	char sched_for[40];
	cron_format_time(r->scheduled_for, "UTC", sched_for, sizeof(sched_for));
	strbuf_printf(o, "{\"run_id\": %llu, \"task\": ", (unsigned long long)r->run_id);
	strbuf_json_str(o, r->task);
	strbuf_printf(o, ", \"token\": %llu, \"reason\": \"%s\", \"state\": \"%s\", \"attempt\": %d, "
			 "\"node\": ",
		      (unsigned long long)r->token, run_reason_name(r->reason),
		      run_state_name(r->state), r->attempt);
	strbuf_json_str(o, r->node[0] ? r->node : NULL);
	strbuf_puts(o, ", \"scheduled_for\": ");
	strbuf_json_str(o, sched_for);
	strbuf_puts(o, ", \"created_at\": ");
	ctl_json_time(o, r->created_ms);
	strbuf_puts(o, ", \"started_at\": ");
	ctl_json_time(o, r->started_ms);
	strbuf_puts(o, ", \"finished_at\": ");
	ctl_json_time(o, r->finished_ms);
	strbuf_puts(o, ", \"not_before\": ");
	ctl_json_time(o, r->not_before_ms);
	/* Milliseconds too: a retry's wait (not_before - created) is exact. */
	strbuf_printf(o, ", \"created_ms\": %lld, \"not_before_ms\": %lld",
		      (long long)r->created_ms, (long long)r->not_before_ms);
	if (r->exit_code >= 0)
		strbuf_printf(o, ", \"exit_code\": %d", r->exit_code);
	else
		strbuf_puts(o, ", \"exit_code\": null");
	if (r->signal > 0)
		strbuf_printf(o, ", \"signal\": %d", r->signal);
	else
		strbuf_puts(o, ", \"signal\": null");
	strbuf_puts(o, ", \"error\": ");
	strbuf_json_str(o, r->error[0] ? r->error : NULL);
	strbuf_printf(o, ", \"triggers\": %d}", r->triggers);
}

/* The columns of `schedctl history`; history_row fills one cell each. */
static const char *const history_hdr[] = {"RUN",      "STATE", "REASON",    "ATTEMPT",
					  "TOKEN",    "NODE",  "SCHEDULED", "STARTED",
					  "FINISHED", "EXIT",  "TRIGGERS",  "ERROR"};
#define HISTORY_NCOLS (sizeof(history_hdr) / sizeof(history_hdr[0]))

static int history_row(void *arg, const struct store_run *r)
{
	struct list_ctx *c = arg;
	if (c->json) {
		strbuf_puts(c->out, c->n++ ? ",\n  " : "\n  ");
		ctl_run_json(c->out, r);
		return 0;
	}
	char id[24], att[16], tok[24], sf[40], st[40], fin[40], ex[24], trig[16];
	snprintf(id, sizeof(id), "%llu", (unsigned long long)r->run_id);
	snprintf(att, sizeof(att), "%d", r->attempt);
	snprintf(tok, sizeof(tok), "%llu", (unsigned long long)r->token);
	cron_format_time(r->scheduled_for, "UTC", sf, sizeof(sf));
	ctl_time(r->started_ms, st, sizeof(st));
	ctl_time(r->finished_ms, fin, sizeof(fin));
	if (r->signal > 0)
		snprintf(ex, sizeof(ex), "sig %d", r->signal);
	else if (r->exit_code >= 0)
		snprintf(ex, sizeof(ex), "%d", r->exit_code);
	else
		snprintf(ex, sizeof(ex), "-");
	snprintf(trig, sizeof(trig), "%d", r->triggers);
	const char *cells[] = {id,  run_state_name(r->state), run_reason_name(r->reason),
			       att, tok, r->node[0] ? r->node : "-", sf, st, fin, ex,
			       r->triggers ? trig : "-", r->error};
	_Static_assert(sizeof(cells) / sizeof(cells[0]) == HISTORY_NCOLS,
		       "one cell per history column");
	table_row(&c->tab, cells);
	return 0;
}

static int cmd_history(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	const char *task = NULL;
	uint64_t limit = 20;
	for (int i = 0; i < a->argc; i++) {
		if (strcmp(a->argv[i], "--limit") == 0 && i + 1 < a->argc) {
			if (!parse_u64(a->argv[++i], &limit) || limit == 0 || limit > 100000)
				return usage(out, "history TASK [--limit N]  (N: 1..100000)");
		} else if (!task && a->argv[i][0] != '-') {
			task = a->argv[i];
		} else {
			return usage(out, "history TASK [--limit N]");
		}
	}
	if (!task)
		return usage(out, "history TASK [--limit N]");
	struct store_task_state ts;
	if (store_task_state(s->store, task, &ts) < 0) {
		strbuf_printf(out, "unknown task '%s'\n", task);
		return 1;
	}
	struct list_ctx c = {.s = s, .out = out, .json = a->json};
	if (a->json)
		strbuf_puts(out, "[");
	else
		table_init(&c.tab, HISTORY_NCOLS, history_hdr);
	int rc = store_runs_history(s->store, task, (int)limit, history_row, &c);
	if (a->json) {
		strbuf_puts(out, c.n ? "\n]\n" : "]\n");
	} else {
		table_render(&c.tab, out);
		table_free(&c.tab);
	}
	return rc < 0 ? 1 : 0;
}

/* ---- run / cancel / pause / resume ------------------------------------ */

static int cmd_run(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	if (ctl_batch_wanted(a, STORE_BATCH_RUN))
		return ctl_batch(s, a, out, STORE_BATCH_RUN);
	if (a->argc != 1)
		return usage(out, "run TASK");
	struct sched_task *t = sched_task_find(s, a->argv[0]);
	if (!t) {
		strbuf_printf(out, "unknown task '%s'\n", a->argv[0]);
		return 1;
	}
	struct store_run_created cr;
	int rc = sched_run_create(s, t, REASON_MANUAL, clock_wall_ms() / 1000, 1, false, 0, 0,
				  &cr);
	if (rc == -EBUSY) {
		struct sched_run *blocking = NULL;
		for (size_t i = 0; i < s->nruns; i++)
			if (strcmp(s->runs[i].task, t->def.name) == 0)
				blocking = &s->runs[i];
		strbuf_printf(out,
			      "task %s already has %s (overlap = %s); not started. "
			      "Cancel it first or wait.\n",
			      t->def.name,
			      t->def.overlap == OVERLAP_QUEUE ? "a run waiting in its queue"
							      : "an unfinished run",
			      task_overlap_name(t->def.overlap));
		if (blocking)
			strbuf_printf(out, "blocking run: %llu (%s)\n",
				      (unsigned long long)blocking->run_id,
				      run_state_name(blocking->state));
		return 1;
	}
	if (rc < 0) {
		strbuf_printf(out, "could not create the run: %s\n", strerror(-rc));
		return 1;
	}
	sched_dispatch_pending(s);
	if (a->json) {
		strbuf_printf(out, "{\"run_id\": %llu, \"token\": %llu, \"queued\": %s}\n",
			      (unsigned long long)cr.run_id, (unsigned long long)cr.token,
			      sched_run_find(s, cr.run_id) &&
				      sched_run_find(s, cr.run_id)->state == RUN_PENDING
				  ? "true"
				  : "false");
	} else {
		strbuf_printf(out, "run %llu of %s created (token %llu)%s\n",
			      (unsigned long long)cr.run_id, t->def.name, (unsigned long long)cr.token,
			      t->paused ? "; the task is paused: the run waits until `schedctl resume`"
					: "");
	}
	return 0;
}

static int cmd_cancel(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	uint64_t id;
	if (ctl_batch_wanted(a, STORE_BATCH_CANCEL))
		return ctl_batch(s, a, out, STORE_BATCH_CANCEL);
	if (a->argc != 1 || !parse_u64(a->argv[0], &id))
		return usage(out, "cancel RUN_ID");
	enum run_state st;
	int rc = store_run_cancel(s->store, id, clock_wall_ms(), &st);
	char extra[64];
	snprintf(extra, sizeof(extra), ", \"run_id\": %llu", (unsigned long long)id);
	if (rc == -ENOENT)
		return ctl_result(out, a->json, 1, extra, "no run %llu", (unsigned long long)id);
	if (rc == -EALREADY)
		return ctl_result(out, a->json, 1, extra, "run %llu has already finished",
			      (unsigned long long)id);
	if (rc < 0)
		return ctl_result(out, a->json, 1, extra, "could not cancel run %llu: %s",
			      (unsigned long long)id, strerror(-rc));
	snprintf(extra, sizeof(extra), ", \"run_id\": %llu, \"state\": \"%s\"",
		 (unsigned long long)id, run_state_name(st));
	struct sched_run *r = sched_run_find(s, id);
	if (st == RUN_CANCELLED) {
		sched_run_forget(s, id);
		return ctl_result(out, a->json, 0, extra, "run %llu cancelled (it had not started)",
			      (unsigned long long)id);
	}
	if (r) {
		r->cancel_requested = true;
		/* No more DISPATCH: the CANCEL makes the worker refuse or stop it. */
		outbox_ack(s->outbox, WIRE_DISPATCH, r->run_id);
		sched_send_cancel(s, r);
	}
	return ctl_result(out, a->json, 0, extra,
		      "cancel of run %llu requested; it stays %s until %s reports its end",
		      (unsigned long long)id, run_state_name(st), r ? r->node : "its worker");
}

static int set_paused(struct sched *s, const struct ctl_args *a, struct strbuf *out, bool pause)
{
	if (ctl_batch_wanted(a, pause ? STORE_BATCH_PAUSE : STORE_BATCH_RESUME))
		return ctl_batch(s, a, out, pause ? STORE_BATCH_PAUSE : STORE_BATCH_RESUME);
	if (a->argc != 1)
		return usage(out, pause ? "pause TASK" : "resume TASK");
	struct sched_task *t = sched_task_find(s, a->argv[0]);
	int rc = t ? store_task_set_paused(s->store, t->def.name, pause) : -ENOENT;
	char extra[128];
	snprintf(extra, sizeof(extra), ", \"task\": \"%s\", \"paused\": %s",
		 t ? t->def.name : "", pause ? "true" : "false");
	if (rc == -ENOENT)
		return ctl_result(out, a->json, 1, "", "unknown task '%s'", a->argv[0]);
	if (rc == -EALREADY)
		return ctl_result(out, a->json, 0, extra, "task %s is already %s", t->def.name,
			      pause ? "paused" : "active");
	if (rc < 0)
		return ctl_result(out, a->json, 1, extra, "could not change task %s: %s", t->def.name,
			      strerror(-rc));
	t->paused = pause;
	sched_task_rearm(s, t);
	store_event(s->store, clock_wall_ms(), pause ? "pause" : "resume", t->def.name, 0, NULL,
		    "by operator");
	return ctl_result(out, a->json, 0, extra, "task %s %s", t->def.name,
		      pause ? "paused" : "resumed");
}

static int cmd_pause(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	return set_paused(s, a, out, true);
}

static int cmd_resume(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	return set_paused(s, a, out, false);
}

static int cmd_reload(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	if (a->argc != 0)
		return usage(out, "reload");
	char msg[4000], extra[48];
	int rc = sched_reload(s, msg, sizeof(msg));
	snprintf(extra, sizeof(extra), ", \"tasks\": %zu", s->ntasks);
	return ctl_result(out, a->json, rc < 0 ? 1 : 0, extra, "%s", msg);
}

/* ---- logs ------------------------------------------------------------- */

static int cmd_logs(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	uint64_t id;
	if (a->argc != 1 || !parse_u64(a->argv[0], &id))
		return usage(out, "logs RUN_ID");
	struct store_run *r = malloc(sizeof(*r));
	if (!r)
		return 1;
	int rc = store_run_get(s->store, id, r);
	if (rc < 0) {
		strbuf_printf(out, "no run %llu\n", (unsigned long long)id);
		free(r);
		return 1;
	}
	if (a->json) {
		ctl_run_json(out, r);
		out->len--; /* reopen the object for two more fields */
		strbuf_puts(out, ", \"output_tail\": ");
		strbuf_json_str(out, r->output_tail);
		strbuf_puts(out, ", \"log_path\": ");
		strbuf_json_str(out, r->log_path[0] ? r->log_path : NULL);
		strbuf_puts(out, "}\n");
	} else if (!run_state_terminal(r->state)) {
		strbuf_printf(out,
			      "run %llu of %s is %s%s%s; its output is collected on that node and "
			      "its tail arrives here when it ends\n",
			      (unsigned long long)id, r->task, run_state_name(r->state),
			      r->node[0] ? " on " : "", r->node);
	} else {
		strbuf_printf(out, "run %llu of %s: %s", (unsigned long long)id, r->task,
			      run_state_name(r->state));
		if (r->log_path[0])
			strbuf_printf(out, " (full log on %s: %s)", r->node, r->log_path);
		strbuf_puts(out, "\n");
		if (r->error[0])
			strbuf_printf(out, "error: %s\n", r->error);
		strbuf_puts(out, "--- last output ---\n");
		strbuf_puts(out, r->output_tail);
		if (r->output_tail[0] && r->output_tail[strlen(r->output_tail) - 1] != '\n')
			strbuf_puts(out, "\n");
	}
	free(r);
	return 0;
}

int ctl_cmd_status(struct sched *s, const struct ctl_args *a, struct strbuf *out);

const struct ctl_command ctl_commands[] = {
	{"tasks", cmd_tasks, "tasks [--all]"},
	{"history", cmd_history, "history TASK [--limit N]"},
	{"run", cmd_run, "run TASK... | run -l k=v[,k=v...]"},
	{"trigger", ctl_cmd_trigger, "trigger TASK"},
	{"cancel", cmd_cancel, "cancel RUN_ID|TASK... | cancel -l k=v[,k=v...]"},
	{"pause", cmd_pause, "pause TASK... | pause -l k=v[,k=v...]"},
	{"resume", cmd_resume, "resume TASK... | resume -l k=v[,k=v...]"},
	{"reload", cmd_reload, "reload"},
	{"status", ctl_cmd_status, "status"},
	{"logs", cmd_logs, "logs RUN_ID"},
	{"members", ctl_cmd_members, "members"},
	{"fence", ctl_cmd_fence,
	 "fence list | fence show ID | fence confirm NODE [--force] | fence resume"},
	{"drain", ctl_cmd_drain, "drain NODE"},
	{"undrain", ctl_cmd_undrain, "undrain NODE"},
	{"checkpoint", ctl_cmd_checkpoint, "checkpoint TASK [--clear | --out FILE]"},
	{NULL, NULL, NULL},
};
