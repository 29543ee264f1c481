/*
 * sched_trigger.c - `schedctl trigger TASK`: a run now, or after a
 * debounce window (docs/schedules.md "Triggers and debounce").
 *
 * The store decides and records every trigger (store_trigger: join the
 * open window, join the pending run, open a window, or create a run) in
 * one committed transaction before the caller hears about it, so an
 * acknowledged trigger survives a crash.  What lives here is the timer
 * that closes windows: one loop timer, set for the earliest window end
 * among all tasks.  The windows themselves are rows, so at start
 * (sched_triggers_start) the timer is set from the store, and a window
 * whose end passed while the scheduler was down closes at the first
 * turn of the loop.
 *
 * Times: window ends are wall-clock ms (they must mean the same thing
 * after a restart).  A wall clock set back makes a window last longer by
 * that much; one set forward closes it early.  Neither loses a trigger.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "sched.h"

/* When a store error stops windows from closing: try again after this. */
#define TRIGGER_RETRY_MS 1000

/* The triggers now on the tracked run the store answered them with:
 * sched_deps.c lets a run that answers triggers go without waiting for
 * its dependencies. */
static void note_triggers(struct sched *s, const struct store_trigger_result *r)
{
	struct sched_run *run = r->run_id ? sched_run_find(s, r->run_id) : NULL;
	if (run)
		run->triggers = r->count;
}

/* A run the store created for triggers: track it like any new run. */
static void track(struct sched *s, const char *task, const struct store_trigger_result *r,
		  int64_t now_ms)
{
	struct store_run_new rn = {
		.task = task,
		.reason = REASON_TRIGGER,
		.scheduled_for = r->scheduled_for,
		.attempt = 1,
		.overlap = OVERLAP_QUEUE,
		.now_ms = now_ms,
	};
	struct store_run_created cr = {
		.run_id = r->run_id,
		.token = r->token,
		.state = RUN_PENDING,
	};
	sched_track_created(s, &rn, &cr);
	note_triggers(s, r);
}

struct due_ctx {
	struct sched *s;
	int64_t now_ms;
	int64_t next_ms; /* earliest end still ahead, 0: none */
	int failed;	 /* a close failed: retry later */
};

/* Close one window if its end has passed, else note when it ends. */
static int close_one(void *arg, const struct store_trigger_window *w)
{
	struct due_ctx *c = arg;
	if (w->closes_ms > c->now_ms) {
		if (!c->next_ms || w->closes_ms < c->next_ms)
			c->next_ms = w->closes_ms;
		return 0;
	}
	struct store_trigger_result r;
	int rc = store_trigger_close(c->s->store, w->task, c->now_ms, &r);
	if (rc == -ENOENT || rc == -EAGAIN)
		return 0; /* nothing to close after all */
	if (rc < 0) {
		log_warnx("task %s: cannot close its trigger window: %s (retrying)", w->task,
			  strerror(-rc));
		c->failed = rc;
		return 0;
	}
	switch (r.outcome) {
	case STORE_TRIGGER_CREATED:
		track(c->s, w->task, &r, c->now_ms);
		log_info("task %s: trigger window closed (%d trigger(s), opened %lld ms ago): "
			 "run %llu%s",
			 w->task, r.count, (long long)(c->now_ms - w->opened_ms),
			 (unsigned long long)r.run_id,
			 r.active_run_id ? " waits behind the active run" : "");
		break;
	case STORE_TRIGGER_JOINED_RUN:
		note_triggers(c->s, &r);
		log_info("task %s: trigger window closed (%d trigger(s)): joined waiting run %llu",
			 w->task, w->count, (unsigned long long)r.run_id);
		break;
	default:
		log_info("task %s: trigger window dropped (%d trigger(s)): the task was removed",
			 w->task, w->count);
		break;
	}
	return 0;
}

/* Close every window that has ended; the earliest end still ahead (0:
 * none), or now + TRIGGER_RETRY_MS if something failed. */
static int64_t close_due(struct sched *s)
{
	struct due_ctx c = {.s = s, .now_ms = clock_wall_ms()};
	int rc = store_trigger_windows(s->store, close_one, &c);
	if (rc < 0) {
		log_warnx("cannot read trigger windows: %s (retrying)", strerror(-rc));
		c.failed = rc;
	}
	if (c.failed && (!c.next_ms || c.next_ms > c.now_ms + TRIGGER_RETRY_MS))
		c.next_ms = c.now_ms + TRIGGER_RETRY_MS;
	if (!s->stopping)
		sched_dispatch_pending(s);
	return c.next_ms;
}

static int64_t delay_to(int64_t at_ms)
{
	int64_t d = at_ms - clock_wall_ms();
	return d > 0 ? d : 0;
}

static int64_t on_timer(struct loop *l, void *arg)
{
	(void)l;
	struct sched *s = arg;
	int64_t next = close_due(s);
	s->trigger_at_ms = next;
	if (!next) {
		s->trigger_timer = NULL; /* freed by the loop after STOP */
		return LOOP_TIMER_STOP;
	}
	return delay_to(next);
}

/* Make sure the timer fires by at_ms (wall).  0 or -ENOMEM. */
static int arm(struct sched *s, int64_t at_ms)
{
	if (s->trigger_timer && s->trigger_at_ms <= at_ms)
		return 0;
	if (s->trigger_timer)
		loop_del_timer(s->loop, s->trigger_timer);
	s->trigger_timer = NULL;
	s->trigger_at_ms = 0;
	int rc = loop_add_timer(s->loop, delay_to(at_ms), on_timer, s, &s->trigger_timer);
	if (rc < 0)
		return rc;
	s->trigger_at_ms = at_ms;
	return 0;
}

int sched_trigger(struct sched *s, struct sched_task *t, struct store_trigger_result *out)
{
	int64_t now = clock_wall_ms();
	int rc = store_trigger(s->store, t->def.name, t->def.debounce_ms, now, out);
	if (rc < 0)
		return rc;
	switch (out->outcome) {
	case STORE_TRIGGER_CREATED:
		track(s, t->def.name, out, now);
		sched_dispatch_pending(s);
		break;
	case STORE_TRIGGER_JOINED_RUN:
		/* A scheduled run waiting for its dependencies goes now. */
		note_triggers(s, out);
		sched_dispatch_pending(s);
		break;
	case STORE_TRIGGER_OPENED:
		log_info("task %s: trigger opened a debounce window of %lld ms", t->def.name,
			 (long long)t->def.debounce_ms);
		/* FALLTHROUGH */
	case STORE_TRIGGER_JOINED_WINDOW:
		/* Committed: even if the timer cannot be set now, the window
		 * closes at the next start (or when another window's timer
		 * runs), so the trigger stays answered. */
		if (arm(s, out->closes_ms) < 0)
			log_warnx("task %s: out of memory setting the trigger timer", t->def.name);
		break;
	default:
		break;
	}
	return 0;
}

static int earliest(void *arg, const struct store_trigger_window *w)
{
	int64_t *at = arg;
	if (!*at || w->closes_ms < *at)
		*at = w->closes_ms;
	return 0;
}

int sched_triggers_start(struct sched *s)
{
	int64_t at = 0;
	int rc = store_trigger_windows(s->store, earliest, &at);
	if (rc < 0)
		return rc;
	if (!at)
		return 0;
	log_info("open trigger windows: the first closes in %lld ms", (long long)delay_to(at));
	return arm(s, at);
}
