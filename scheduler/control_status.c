/*
 * control_status.c - `schedctl status`: the scheduler, its workers (with
 * their gossip state, drains and fences) and every unfinished run, with a
 * note saying why it waits.  A fence that is not confirmed is shown with
 * its last error: its runs stay blocked until the hook or an operator
 * confirms (DESIGN rule 4).
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "control.h"
#include "sched.h"

static const char *worker_state(const struct sched *s, const struct sched_worker *w)
{
	const struct sched_fence *f = sched_fence_find(s, w->name);
	if (f)
		return f->paused ? "fencing-paused" : "fencing";
	const struct swim_member *m = sched_member(s, w->name);
	if (m && m->state != SWIM_ALIVE)
		return swim_state_name(m->state);
	if (!w->last_heard || !m)
		return "unknown";
	if (!sched_worker_alive(s, w))
		return "unreachable";
	return w->drained_ms ? "drained" : "alive";
}

static const char *run_note(const struct sched *s, const struct sched_run *r)
{
	if (r->state == RUN_PENDING) {
		if (r->not_before_ms > clock_wall_ms())
			return "retry waiting for its backoff";
		const struct sched_task *t = NULL;
		for (size_t i = 0; i < s->ntasks; i++)
			if (strcmp(s->tasks[i].def.name, r->task) == 0)
				t = &s->tasks[i];
		if (!t)
			return "task removed from the schedule files; cancel it or restore the task";
		if (t->paused)
			return "task paused";
		for (size_t i = 0; i < s->nruns; i++)
			if (&s->runs[i] != r && s->runs[i].state != RUN_PENDING &&
			    strcmp(s->runs[i].task, r->task) == 0)
				return "queued: starts when the task's unfinished run ends (overlap = queue)";
		return "waiting for a worker with a free slot and the task's labels";
	}
	if (r->state == RUN_FENCING) {
		const struct sched_fence *f = sched_fence_find(s, r->node);
		if (f && f->paused)
			return "node being fenced; fencing PAUSED (storm guard): schedctl fence "
			       "confirm NODE or fence resume";
		if (f && f->attempts && !f->pid)
			return "node being fenced; the hook has NOT confirmed yet (see schedctl fence "
			       "list; schedctl fence confirm NODE)";
		return "node being fenced: blocked until the fence is confirmed";
	}
	for (size_t i = 0; i < s->nworkers; i++) {
		const struct sched_worker *w = &s->workers[i];
		if (strcmp(w->name, r->node) == 0 && !sched_worker_alive(s, w))
			return "worker unreachable: the run stays active until the worker reports "
			       "or gossip declares it dead (then it is fenced)";
	}
	return r->cancel_requested ? "cancel requested" : "";
}

int ctl_cmd_status(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	if (a->argc != 0) {
		strbuf_puts(out, "usage: schedctl status\n");
		return 2;
	}
	int64_t now = clock_mono_ms();
	const struct net_stats *ns = net_get_stats(s->net);
	uint64_t refused = ns->auth.short_packet + ns->auth.oversized + ns->auth.bad_magic +
			   ns->auth.bad_version + ns->auth.unknown_key + ns->auth.bad_tag +
			   ns->auth.replayed + ns->auth.stale_incarnation + ns->auth.not_fresh +
			   ns->decode_errors;
	char started[40];
	ctl_time(s->started_ms, started, sizeof(started));
	if (a->json) {
		strbuf_puts(out, "{\"scheduler\": {\"name\": ");
		strbuf_json_str(out, s->opt.name);
		strbuf_printf(out, ", \"incarnation\": %llu, \"started_at\": ",
			      (unsigned long long)s->incarnation);
		strbuf_json_str(out, started);
		strbuf_printf(out, ", \"tasks\": %zu, \"reloads\": %llu, \"reload_failures\": %llu, "
				   "\"last_reload_error\": ",
			      s->ntasks, (unsigned long long)s->reloads,
			      (unsigned long long)s->reload_failures);
		strbuf_json_str(out, s->last_reload_error[0] ? s->last_reload_error : NULL);
		strbuf_printf(out, ", \"datagrams_refused\": %llu, \"unacknowledged\": %zu, "
				   "\"fences_open\": %zu, \"fencing_paused\": %s},\n",
			      (unsigned long long)refused, outbox_count(s->outbox), s->nfences,
			      s->storm ? "true" : "false");
		strbuf_puts(out, " \"workers\": [");
		for (size_t i = 0; i < s->nworkers; i++) {
			const struct sched_worker *w = &s->workers[i];
			char addr[NET_ADDR_STRLEN] = "";
			if (w->have_addr)
				net_addr_format(&w->addr, addr, sizeof(addr));
			strbuf_puts(out, i ? ",\n  {\"name\": " : "\n  {\"name\": ");
			strbuf_json_str(out, w->name);
			strbuf_printf(out, ", \"state\": \"%s\", \"address\": ", worker_state(s, w));
			strbuf_json_str(out, addr[0] ? addr : NULL);
			strbuf_printf(out, ", \"slots\": %d, \"active_runs\": %d, \"labels\": ",
				      w->slots, sched_node_active_runs(s, w->name));
			strbuf_json_str(out, w->labels);
			if (w->last_heard)
				strbuf_printf(out, ", \"last_heard_ms_ago\": %lld}",
					      (long long)(now - w->last_heard));
			else
				strbuf_puts(out, ", \"last_heard_ms_ago\": null}");
		}
		strbuf_puts(out, s->nworkers ? "\n ],\n \"runs\": [" : "],\n \"runs\": [");
		for (size_t i = 0; i < s->nruns; i++) {
			const struct sched_run *r = &s->runs[i];
			strbuf_printf(out, "%s{\"run_id\": %llu, \"task\": ", i ? ",\n  " : "\n  ",
				      (unsigned long long)r->run_id);
			strbuf_json_str(out, r->task);
			strbuf_printf(out, ", \"state\": \"%s\", \"token\": %llu, \"node\": ",
				      run_state_name(r->state), (unsigned long long)r->token);
			strbuf_json_str(out, r->node[0] ? r->node : NULL);
			strbuf_puts(out, ", \"note\": ");
			strbuf_json_str(out, run_note(s, r));
			strbuf_puts(out, "}");
		}
		strbuf_puts(out, s->nruns ? "\n ]}\n" : "]}\n");
		return 0;
	}
	strbuf_printf(out, "scheduler %s (incarnation %llu) up since %s; %zu task(s); "
			   "%zu unacknowledged message(s); %llu datagram(s) refused\n",
		      s->opt.name, (unsigned long long)s->incarnation, started, s->ntasks,
		      outbox_count(s->outbox), (unsigned long long)refused);
	if (s->last_reload_error[0])
		strbuf_printf(out, "last reload failed (old tasks kept):\n%s\n", s->last_reload_error);
	if (s->storm)
		strbuf_puts(out, "FENCING IS PAUSED (storm guard): many members died at once; "
				 "schedctl fence confirm NODE, or schedctl fence resume\n");
	for (size_t i = 0; i < s->nfences; i++) {
		const struct sched_fence *f = &s->fences[i];
		strbuf_printf(out, "fencing %s: %d hook call(s)%s%s\n", f->node, f->attempts,
			      f->pid ? ", one running" : "",
			      !s->opt.fence_hook[0] ? "; no hook configured: schedctl fence confirm"
			      : f->attempts && !f->pid ? "; NOT CONFIRMED yet (schedctl fence list)"
						       : "");
	}
	struct table t;
	static const char *const whdr[] = {"WORKER", "STATE", "ADDRESS", "SLOTS",
					   "ACTIVE", "LABELS", "LAST HEARD"};
	table_init(&t, 7, whdr);
	for (size_t i = 0; i < s->nworkers; i++) {
		const struct sched_worker *w = &s->workers[i];
		char addr[NET_ADDR_STRLEN] = "-", slots[16], active[16], heard[32] = "never";
		if (w->have_addr)
			net_addr_format(&w->addr, addr, sizeof(addr));
		snprintf(slots, sizeof(slots), "%d", w->slots);
		snprintf(active, sizeof(active), "%d", sched_node_active_runs(s, w->name));
		if (w->last_heard)
			snprintf(heard, sizeof(heard), "%.1fs ago", (now - w->last_heard) / 1000.0);
		const char *cells[] = {w->name, worker_state(s, w), addr, slots, active,
				       w->labels[0] ? w->labels : "-", heard};
		table_row(&t, cells);
	}
	strbuf_puts(out, "\n");
	table_render(&t, out);
	table_free(&t);
	static const char *const rhdr[] = {"RUN", "TASK", "STATE", "TOKEN", "NODE", "NOTE"};
	table_init(&t, 6, rhdr);
	for (size_t i = 0; i < s->nruns; i++) {
		const struct sched_run *r = &s->runs[i];
		char id[24], tok[24];
		snprintf(id, sizeof(id), "%llu", (unsigned long long)r->run_id);
		snprintf(tok, sizeof(tok), "%llu", (unsigned long long)r->token);
		const char *cells[] = {id, r->task, run_state_name(r->state), tok,
				       r->node[0] ? r->node : "-", run_note(s, r)};
		table_row(&t, cells);
	}
	strbuf_puts(out, "\n");
	table_render(&t, out);
	table_free(&t);
	return 0;
}
