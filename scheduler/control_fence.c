/*
 * control_fence.c - schedctl commands about nodes: members (the gossip
 * view joined with what workers told us), fence list / confirm / resume,
 * drain and undrain.  Mutations go through the store first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "control.h"
#include "log.h"
#include "sched.h"

/* ---- members --------------------------------------------------------------- */

static const char *member_role(const struct sched *s, const struct swim_member *m)
{
	return strcmp(m->name, s->opt.name) == 0 ? "scheduler" : "worker";
}

int ctl_cmd_members(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	if (a->argc != 0) {
		strbuf_puts(out, "usage: schedctl members\n");
		return 2;
	}
	const struct swim *sw = gossip_swim(s->gossip);
	int64_t now = clock_mono_ms();
	struct table t;
	static const char *const hdr[] = {"MEMBER", "ROLE",   "STATE",   "INCARNATION", "ADDRESS",
					  "LABELS", "SLOTS", "RUNNING", "SINCE",	"NOTE"};
	table_init(&t, 10, hdr);
	if (a->json)
		strbuf_puts(out, "{\"members\": [");
	for (size_t i = 0; i < swim_member_count(sw); i++) {
		const struct swim_member *m = swim_member_at(sw, i);
		const struct sched_worker *w = sched_worker_find(s, m->name);
		const struct sched_fence *f = sched_fence_find(s, m->name);
		int running = sched_node_active_runs(s, m->name);
		char inc[24], slots[16] = "-", run[16], since[32];
		snprintf(inc, sizeof(inc), "%llu", (unsigned long long)m->incarnation);
		if (w)
			snprintf(slots, sizeof(slots), "%d", w->slots);
		snprintf(run, sizeof(run), "%d", running);
		snprintf(since, sizeof(since), "%.1fs ago", (now - m->state_changed_ms) / 1000.0);
		const char *note = f ? (f->paused ? "fencing (paused: storm)" : "fencing")
			       : w && w->drained_ms ? "drained"
						    : "";
		if (a->json) {
			strbuf_puts(out, i ? ",\n  {\"name\": " : "\n  {\"name\": ");
			strbuf_json_str(out, m->name);
			strbuf_printf(out, ", \"role\": \"%s\", \"state\": \"%s\", \"incarnation\": %llu, "
					   "\"address\": ",
				      member_role(s, m), swim_state_name(m->state),
				      (unsigned long long)m->incarnation);
			strbuf_json_str(out, m->addr);
			strbuf_puts(out, ", \"labels\": ");
			strbuf_json_str(out, w ? w->labels : NULL);
			strbuf_printf(out, ", \"slots\": %d, \"running\": %d, \"since_ms_ago\": %lld, "
					   "\"fencing\": %s, \"drained\": %s}",
				      w ? w->slots : 0, running, (long long)(now - m->state_changed_ms),
				      f ? "true" : "false", w && w->drained_ms ? "true" : "false");
			continue;
		}
		const char *cells[] = {m->name, member_role(s, m), swim_state_name(m->state), inc,
				       m->addr, w && w->labels[0] ? w->labels : "-", slots, run,
				       since, note};
		table_row(&t, cells);
	}
	if (a->json)
		strbuf_printf(out, "%s], \"fencing_paused\": %s}\n", swim_member_count(sw) ? "\n " : "",
			      s->storm ? "true" : "false");
	else
		table_render(&t, out);
	table_free(&t);
	return 0;
}

/* ---- fence ----------------------------------------------------------------- */

struct fence_list_ctx {
	struct strbuf *out;
	struct table tab;
	bool json;
	int n;
};

static int fence_row(void *arg, const struct store_fence_row *r)
{
	struct fence_list_ctx *c = arg;
	char created[40], closed[40], id[24], inc[24], att[16], runs[32];
	ctl_time(r->created_ms, created, sizeof(created));
	ctl_time(r->closed_ms, closed, sizeof(closed));
	if (c->json) {
		strbuf_printf(c->out, "%s{\"id\": %llu, \"node\": ", c->n++ ? ",\n  " : "\n  ",
			      (unsigned long long)r->id);
		strbuf_json_str(c->out, r->node);
		strbuf_puts(c->out, ", \"address\": ");
		strbuf_json_str(c->out, r->address);
		strbuf_printf(c->out, ", \"incarnation\": %llu, \"state\": \"%s\", \"confirmed_by\": ",
			      (unsigned long long)r->incarnation, store_fence_state_name(r->state));
		strbuf_json_str(c->out, r->confirmed_by[0] ? r->confirmed_by : NULL);
		strbuf_printf(c->out, ", \"attempts\": %d, \"paused\": %s, \"runs_fencing\": %d, "
				      "\"runs_lost\": %d, \"reason\": ",
			      r->attempts, r->paused_by_storm ? "true" : "false", r->runs_fencing,
			      r->runs_lost);
		strbuf_json_str(c->out, r->reason);
		strbuf_puts(c->out, ", \"last_error\": ");
		strbuf_json_str(c->out, r->last_error);
		strbuf_puts(c->out, ", \"note\": ");
		strbuf_json_str(c->out, r->note);
		strbuf_puts(c->out, ", \"created_at\": ");
		ctl_json_time(c->out, r->created_ms);
		strbuf_puts(c->out, ", \"closed_at\": ");
		ctl_json_time(c->out, r->closed_ms);
		strbuf_puts(c->out, "}");
		return 0;
	}
	snprintf(id, sizeof(id), "%llu", (unsigned long long)r->id);
	snprintf(inc, sizeof(inc), "%llu", (unsigned long long)r->incarnation);
	snprintf(att, sizeof(att), "%d", r->attempts);
	snprintf(runs, sizeof(runs), "%d/%d", r->runs_fencing, r->runs_lost);
	char state[48];
	snprintf(state, sizeof(state), "%s%s%s", store_fence_state_name(r->state),
		 r->confirmed_by[0] ? " by " : "", r->confirmed_by);
	if (r->paused_by_storm && r->state == STORE_FENCE_OPEN)
		snprintf(state, sizeof(state), "open (paused: storm)");
	const char *cells[] = {id,    r->node, state, inc, att, runs, created,
			       r->state == STORE_FENCE_OPEN ? "-" : closed,
			       r->last_error[0] ? r->last_error : r->note[0] ? r->note : "-"};
	table_row(&c->tab, cells);
	return 0;
}

static int fence_list(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	struct fence_list_ctx c = {.out = out, .json = a->json};
	static const char *const hdr[] = {"ID",	     "NODE",	"STATE",  "INCARNATION", "ATTEMPTS",
					  "FENCING/LOST", "OPENED", "CLOSED", "LAST ERROR / NOTE"};
	table_init(&c.tab, 9, hdr);
	if (a->json)
		strbuf_puts(out, "{\"fences\": [");
	int rc = store_fence_list(s->store, fence_row, &c);
	if (a->json)
		strbuf_printf(out, "%s], \"paused\": %s}\n", c.n ? "\n " : "",
			      s->storm ? "true" : "false");
	else {
		if (s->storm)
			strbuf_puts(out, "FENCING IS PAUSED (storm guard): confirm nodes one by one "
					 "or run `schedctl fence resume`\n");
		table_render(&c.tab, out);
	}
	table_free(&c.tab);
	return rc < 0 ? 1 : 0;
}

struct attempts_ctx {
	struct strbuf *out;
	bool json;
	int n;
};

static int attempt_row(void *arg, const struct store_fence_attempt_row *r)
{
	struct attempts_ctx *c = arg;
	char started[40];
	ctl_time(r->started_ms, started, sizeof(started));
	if (c->json) {
		strbuf_printf(c->out, "%s{\"id\": %llu, \"started_at\": ", c->n++ ? ",\n  " : "\n  ",
			      (unsigned long long)r->id);
		ctl_json_time(c->out, r->started_ms);
		strbuf_printf(c->out, ", \"duration_ms\": %lld, \"exit_code\": %d, \"signal\": %d, "
				      "\"timed_out\": %s, \"output\": ",
			      (long long)(r->finished_ms - r->started_ms), r->exit_code, r->signal,
			      r->timed_out ? "true" : "false");
		strbuf_json_str(c->out, r->output);
		strbuf_puts(c->out, "}");
		return 0;
	}
	strbuf_printf(c->out, "attempt %llu at %s, %lld ms: %s", (unsigned long long)r->id, started,
		      (long long)(r->finished_ms - r->started_ms),
		      r->timed_out ? "timed out" : r->signal ? "killed by a signal" : "");
	if (!r->timed_out && !r->signal)
		strbuf_printf(c->out, "exit %d", r->exit_code);
	strbuf_printf(c->out, "\n%s%s", r->output, r->output[0] ? "\n" : "");
	return 0;
}

/* fence show ID: a request's hook calls with their output. */
static int fence_show(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	char *end;
	unsigned long long id = strtoull(a->argv[1], &end, 10);
	if (!a->argv[1][0] || *end) {
		strbuf_puts(out, "usage: schedctl fence show REQUEST_ID\n");
		return 2;
	}
	struct attempts_ctx c = {.out = out, .json = a->json};
	if (a->json)
		strbuf_printf(out, "{\"request_id\": %llu, \"attempts\": [", id);
	int rc = store_fence_attempts(s->store, id, attempt_row, &c);
	if (rc == -ENOENT) {
		strbuf_reset(out);
		return ctl_result(out, a->json, 1, "", "no fence request %llu", id);
	}
	if (a->json)
		strbuf_puts(out, c.n ? "\n ]}\n" : "]}\n");
	else if (!c.n)
		strbuf_puts(out, "no hook call recorded for this request\n");
	return rc < 0 ? 1 : 0;
}

int ctl_cmd_fence(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	const char *sub = a->argc ? a->argv[0] : "";
	if (a->argc == 1 && strcmp(sub, "list") == 0)
		return fence_list(s, a, out);
	if (a->argc == 2 && strcmp(sub, "show") == 0)
		return fence_show(s, a, out);
	if (a->argc == 1 && strcmp(sub, "resume") == 0) {
		if (!s->storm)
			return ctl_result(out, a->json, 0, "", "fencing is not paused");
		sched_fence_resume(s, "lifted by an operator (schedctl fence resume)");
		return ctl_result(out, a->json, 0, "", "fencing resumed: hooks run again");
	}
	bool force = a->argc == 3 && strcmp(a->argv[2], "--force") == 0;
	if ((a->argc == 2 || force) && strcmp(sub, "confirm") == 0) {
		const char *node = a->argv[1];
		char extra[160];
		snprintf(extra, sizeof(extra), ", \"node\": \"%.63s\"", node);
		const struct sched_fence *f = sched_fence_find(s, node);
		const struct sched_worker *w = sched_worker_find(s, node);
		if (!force && f && w && sched_worker_alive(s, w) && w->incarnation == f->incarnation)
			return ctl_result(out, a->json, 1, extra,
					  "%s is alive and heartbeating as the life being fenced: its "
					  "runs may still execute there, and confirming would start them "
					  "elsewhere too.  Isolate it first; if you are sure, add --force",
					  node);
		int lost = 0;
		int rc = sched_fence_confirm(s, node, "operator", &lost);
		if (rc == -ENOENT)
			return ctl_result(out, a->json, 1, extra, "no open fence request for %s", node);
		if (rc < 0)
			return ctl_result(out, a->json, 1, extra, "could not confirm %s: %s", node,
					  strerror(-rc));
		log_warnx("operator confirmed that node %s is isolated", node);
		snprintf(extra, sizeof(extra), ", \"node\": \"%.63s\", \"runs_lost\": %d", node, lost);
		return ctl_result(out, a->json, 0, extra,
				  "%s confirmed isolated (by operator); %d run(s) lost, their tasks "
				  "may run elsewhere",
				  node, lost);
	}
	strbuf_puts(out, "usage: schedctl fence list | fence show ID | fence confirm NODE [--force] "
			 "| fence resume\n");
	return 2;
}

/* ---- drain ----------------------------------------------------------------- */

static int set_drained(struct sched *s, const struct ctl_args *a, struct strbuf *out, bool on)
{
	if (a->argc != 1) {
		strbuf_printf(out, "usage: schedctl %s NODE\n", on ? "drain" : "undrain");
		return 2;
	}
	const char *node = a->argv[0];
	struct sched_worker *w = sched_worker_find(s, node);
	char extra[200];
	snprintf(extra, sizeof(extra), ", \"node\": \"%.63s\"", node);
	if (!w)
		return ctl_result(out, a->json, 1, extra, "no worker named %s", node);
	int64_t now = clock_wall_ms();
	if (on != (w->drained_ms != 0)) {
		int rc = store_node_set_drained(s->store, node, on ? now : 0, now);
		if (rc < 0)
			return ctl_result(out, a->json, 1, extra, "could not %s %s: %s",
					  on ? "drain" : "undrain", node, strerror(-rc));
		w->drained_ms = on ? now : 0;
		log_info("node %s %s by an operator", node, on ? "drained" : "undrained");
	}
	int left = sched_node_active_runs(s, node);
	snprintf(extra, sizeof(extra),
		 ", \"node\": \"%.63s\", \"drained\": %s, \"runs_left\": %d, \"drained_for_ms\": %lld",
		 node, on ? "true" : "false", left, on ? (long long)(now - w->drained_ms) : 0LL);
	if (!on)
		return ctl_result(out, a->json, 0, extra, "%s takes new runs again", node);
	if (left == 0)
		return ctl_result(out, a->json, 0, extra,
				  "%s is drained and holds no runs: safe to stop", node);
	return ctl_result(out, a->json, 0, extra,
			  "%s is drained: no new runs; %d run(s) left, drained %.0fs ago", node, left,
			  (now - w->drained_ms) / 1000.0);
}

int ctl_cmd_drain(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	return set_drained(s, a, out, true);
}

int ctl_cmd_undrain(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	return set_drained(s, a, out, false);
}
