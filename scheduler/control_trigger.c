/*
 * control_trigger.c - `schedctl trigger TASK`: ask for a run of TASK now
 * (sched_trigger.c decides; docs/operations.md describes the answers).
 *
 * Programs trigger the same way: run schedctl, or send the same CTL_REQ
 * (argv "trigger", TASK) with the cluster key (docs/protocol.md).  The
 * reply is sent only after the store committed the trigger, and the
 * request cache of control.c answers a retransmitted request with the
 * first reply, so one request is one trigger however often it is sent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "control.h"
#include "sched.h"

#define TRIGGER_USAGE "trigger TASK"

/* ", \"key\": value" members for the JSON reply, into b. */
static void json_extra(struct strbuf *b, const struct sched_task *t,
		       const struct store_trigger_result *r)
{
	strbuf_puts(b, ", \"task\": ");
	strbuf_json_str(b, t->def.name);
	strbuf_printf(b, ", \"outcome\": \"%s\", \"count\": %d",
		      store_trigger_outcome_name(r->outcome), r->count);
	if (r->run_id)
		strbuf_printf(b, ", \"run_id\": %llu", (unsigned long long)r->run_id);
	else
		strbuf_puts(b, ", \"run_id\": null");
	if (r->outcome == STORE_TRIGGER_CREATED)
		strbuf_printf(b, ", \"token\": %llu", (unsigned long long)r->token);
	else
		strbuf_puts(b, ", \"token\": null");
	if (r->active_run_id)
		strbuf_printf(b, ", \"waits_for_run_id\": %llu",
			      (unsigned long long)r->active_run_id);
	else
		strbuf_puts(b, ", \"waits_for_run_id\": null");
	bool window =
		r->outcome == STORE_TRIGGER_OPENED || r->outcome == STORE_TRIGGER_JOINED_WINDOW;
	strbuf_puts(b, ", \"window_closes_at\": ");
	ctl_json_time(b, window ? r->closes_ms : 0);
	if (window)
		strbuf_printf(b, ", \"window_closes_ms\": %lld", (long long)r->closes_ms);
	else
		strbuf_puts(b, ", \"window_closes_ms\": null");
	strbuf_printf(b, ", \"paused\": %s", t->paused ? "true" : "false");
}

int ctl_cmd_trigger(struct sched *s, const struct ctl_args *a, struct strbuf *out)
{
	if (a->argc != 1 || a->argv[0][0] == '-' || a->argv[0][0] == '\0') {
		strbuf_printf(out, "usage: schedctl %s  (one task name%s%s%s)\n", TRIGGER_USAGE,
			      a->argc == 1 ? "; got '" : "", a->argc == 1 ? a->argv[0] : "",
			      a->argc == 1 ? "'" : "");
		return 2;
	}
	const char *name = a->argv[0];
	struct sched_task *t = sched_task_find(s, name);
	struct store_trigger_result r;
	int rc = t ? sched_trigger(s, t, &r) : -ENOENT;
	if (rc == -ENOENT)
		return ctl_result(out, a->json, 1, "",
				  "unknown task '%s' (not in the schedule files)", name);
	if (rc < 0)
		return ctl_result(out, a->json, 1, "", "task %s: could not record the trigger: %s",
				  t->def.name, strerror(-rc));

	char when[40], msg[512];
	ctl_time(r.closes_ms, when, sizeof(when));
	long long left = (long long)(r.closes_ms - clock_wall_ms());
	if (left < 0)
		left = 0;
	switch (r.outcome) {
	case STORE_TRIGGER_CREATED:
		if (r.active_run_id)
			snprintf(msg, sizeof(msg),
				 "task %s triggered: run %llu queued behind active run %llu",
				 t->def.name, (unsigned long long)r.run_id,
				 (unsigned long long)r.active_run_id);
		else
			snprintf(msg, sizeof(msg),
				 "task %s triggered: run %llu created (token %llu)", t->def.name,
				 (unsigned long long)r.run_id, (unsigned long long)r.token);
		break;
	case STORE_TRIGGER_JOINED_RUN:
		snprintf(msg, sizeof(msg),
			 "task %s triggered: joined run %llu, which has not started yet "
			 "(%d trigger(s) on it)",
			 t->def.name, (unsigned long long)r.run_id, r.count);
		break;
	case STORE_TRIGGER_OPENED:
		snprintf(msg, sizeof(msg),
			 "task %s triggered: debounce window opened; the run is created at %s "
			 "(in %lld ms)",
			 t->def.name, when, left);
		break;
	default:
		snprintf(msg, sizeof(msg),
			 "task %s triggered: joined the open debounce window (%d trigger(s)); "
			 "the run is created at %s (in %lld ms)",
			 t->def.name, r.count, when, left);
		break;
	}
	struct strbuf extra;
	strbuf_init(&extra);
	if (a->json)
		json_extra(&extra, t, &r);
	int code = ctl_result(out, a->json, 0, extra.s && !strbuf_failed(&extra) ? extra.s : "",
			      "%s%s", msg,
			      t->paused ? "; the task is paused: its run waits until "
					  "`schedctl resume`"
					: "");
	strbuf_free(&extra);
	return code;
}
