/*
 * test_sched_trigger.c - the scheduler's half of triggers
 * (scheduler/sched_trigger.c) against a real store and a real event loop:
 * a created run is tracked for dispatch once (a joined one is not added
 * again); the window timer is set for the earliest window end of all
 * tasks and closes exactly the windows that ended; at start, a window
 * whose end passed while the scheduler was down closes at the first turn
 * of the loop.
 *
 * A `struct sched` is built by hand with what sched_trigger.c and the
 * dispatcher use (store, loop, tasks, no workers: nothing is dispatched).
 * The loop runs until a condition holds, bounded by a few seconds; window
 * ends are placed in the past or a few ms ahead so no test waits long.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cron.h"
#include "log.h"
#include "sched.h"
#include "store.h"

static char dir[64];
static char path[128];
static struct sched s;
static struct task_def defs[4];
static size_t ndefs;

static void open_sched(void)
{
	char err[256] = "";
	memset(&s, 0, sizeof(s));
	cr_assert_eq(store_open(path, &s.store, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(loop_new(&s.loop), 0);
	heap_init(&s.due);
	struct task_set ts = {defs, ndefs};
	cr_assert_eq(sched_tasks_apply(&s, &ts, err, sizeof(err)), 0, "%s", err);
}

static void close_sched(void)
{
	loop_free(s.loop);
	sched_tasks_free(&s);
	free(s.runs);
	store_close(s.store);
	memset(&s, 0, sizeof(s));
}

static void setup(void)
{
	log_set_level(LOG_LVL_WARN);
	snprintf(dir, sizeof(dir), "/tmp/test_sched_trigger.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sched.db", dir);
	ndefs = 0;
}

static void teardown(void)
{
	close_sched();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(sched_trigger, .init = setup, .fini = teardown, .timeout = 30);

/* Add tasks in name order (the set must be sorted). */
static void add_task(const char *name, int64_t debounce_ms)
{
	cr_assert_lt(ndefs, sizeof(defs) / sizeof(defs[0]));
	struct task_def *d = &defs[ndefs++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->command, sizeof(d->command), "echo %s", name);
	snprintf(d->schedule, sizeof(d->schedule), "@yearly");
	char err[128] = "";
	cr_assert_eq(cron_parse("@yearly", "UTC", &d->cron, err, sizeof(err)), 0, "%s", err);
	d->overlap = OVERLAP_SKIP;
	d->catch_up = CATCH_UP_LATEST;
	d->debounce_ms = debounce_ms;
	snprintf(d->file, sizeof(d->file), "tasks/test.conf");
	d->line = (int)ndefs;
}

static struct store_trigger_result trigger(const char *name)
{
	struct sched_task *t = sched_task_find(&s, name);
	cr_assert_not_null(t, "task %s", name);
	struct store_trigger_result r;
	int rc = sched_trigger(&s, t, &r);
	cr_assert_eq(rc, 0, "trigger %s: %s", name, strerror(-rc));
	return r;
}

/* Run the loop until s.nruns reaches n, at most 5 s. */
struct until {
	size_t n;
	int64_t deadline;
};

static int64_t watch(struct loop *l, void *arg)
{
	struct until *u = arg;
	if (s.nruns >= u->n || clock_mono_ms() > u->deadline) {
		loop_stop(l);
		return LOOP_TIMER_STOP;
	}
	return 5;
}

static void run_until_runs(size_t n)
{
	struct until u = {.n = n, .deadline = clock_mono_ms() + 5000};
	cr_assert_eq(loop_add_timer(s.loop, 0, watch, &u, NULL), 0);
	cr_assert_eq(loop_run(s.loop), 0);
	cr_assert_geq(s.nruns, n, "only %zu tracked run(s) after 5 s, want %zu", s.nruns, n);
}

static int count_windows(void *arg, const struct store_trigger_window *w)
{
	(void)w;
	(*(int *)arg)++;
	return 0;
}

static int windows(void)
{
	int n = 0;
	cr_assert_eq(store_trigger_windows(s.store, count_windows, &n), 0);
	return n;
}

Test(sched_trigger, created_run_is_tracked_once)
{
	add_task("a", 0);
	open_sched();
	struct store_trigger_result r = trigger("a");
	cr_assert_eq(r.outcome, STORE_TRIGGER_CREATED);
	cr_assert_eq(s.nruns, 1);
	cr_assert_eq(s.runs[0].run_id, r.run_id);
	cr_assert_eq(s.runs[0].reason, REASON_TRIGGER);
	cr_assert_eq(s.runs[0].state, RUN_PENDING);
	cr_assert_eq(s.runs[0].token, r.token);
	cr_assert_null(s.trigger_timer, "no window, no timer");

	r = trigger("a");
	cr_assert_eq(r.outcome, STORE_TRIGGER_JOINED_RUN);
	cr_assert_eq(s.nruns, 1, "a joined run was tracked twice");
}

Test(sched_trigger, timer_follows_the_earliest_window_and_closes_only_ended_ones)
{
	add_task("a", 60000);
	add_task("b", 30);
	open_sched();
	struct store_trigger_result ra = trigger("a");
	cr_assert_eq(ra.outcome, STORE_TRIGGER_OPENED);
	cr_assert_not_null(s.trigger_timer);
	cr_assert_eq(s.trigger_at_ms, ra.closes_ms);
	struct store_trigger_result rb = trigger("b");
	cr_assert_eq(rb.outcome, STORE_TRIGGER_OPENED);
	cr_assert_eq(s.trigger_at_ms, rb.closes_ms, "not re-armed for the earlier end");
	trigger("b");
	cr_assert_eq(s.trigger_at_ms, rb.closes_ms);
	cr_assert_eq(s.nruns, 0);

	run_until_runs(1);
	cr_assert_str_eq(s.runs[0].task, "b");
	struct store_run g;
	cr_assert_eq(store_run_get(s.store, s.runs[0].run_id, &g), 0);
	cr_assert_eq(g.triggers, 2);
	cr_assert_geq(g.created_ms, rb.closes_ms);
	/* a's window is still open, and the timer now waits for it. */
	cr_assert_eq(windows(), 1);
	cr_assert_not_null(s.trigger_timer);
	cr_assert_eq(s.trigger_at_ms, ra.closes_ms);
}

Test(sched_trigger, window_ended_while_down_closes_at_start)
{
	add_task("a", 2000);
	add_task("b", 2000);
	open_sched();
	/* Windows opened 10 s ago (a) and just now (b), then a "restart". */
	int64_t now = clock_wall_ms();
	struct store_trigger_result r;
	cr_assert_eq(store_trigger(s.store, "a", 2000, now - 10000, &r), 0);
	cr_assert_eq(store_trigger(s.store, "a", 2000, now - 9000, &r), 0);
	cr_assert_eq(store_trigger(s.store, "b", 60000, now, &r), 0);
	close_sched();
	open_sched();
	cr_assert_null(s.trigger_timer);
	cr_assert_eq(sched_triggers_start(&s), 0);
	cr_assert_not_null(s.trigger_timer);
	cr_assert_eq(s.trigger_at_ms, now - 8000);

	run_until_runs(1);
	cr_assert_str_eq(s.runs[0].task, "a");
	cr_assert_eq(s.runs[0].reason, REASON_TRIGGER);
	struct store_run g;
	cr_assert_eq(store_run_get(s.store, s.runs[0].run_id, &g), 0);
	cr_assert_eq(g.triggers, 2);
	cr_assert_eq(windows(), 1, "b's window (60 s) closed early");
	cr_assert_eq(s.trigger_at_ms, now + 60000);
}

Test(sched_trigger, start_without_windows_sets_no_timer)
{
	add_task("a", 2000);
	open_sched();
	cr_assert_eq(sched_triggers_start(&s), 0);
	cr_assert_null(s.trigger_timer);
	cr_assert_eq(s.trigger_at_ms, 0);
}
