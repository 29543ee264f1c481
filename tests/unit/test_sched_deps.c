/*
 * test_sched_deps.c - `after` and `priority` (scheduler/sched_deps.c,
 * scheduler/store_deps.c) against a real store and a fake wall clock.
 *
 * A `struct sched` is built by hand as in test_sched_tasks.c, without any
 * worker: a dispatch pass then settles dependencies (waits, skips) and
 * leaves every ready run pending with "no worker alive with a slot".  A
 * run "ends" through the store (assign, end), then is forgotten as the
 * scheduler does when a worker reports the end.
 *
 * Times: T0 is a whole minute (and T0 + 60 a multiple of 120); tasks are
 * applied at T0 + 30, so "every 60s" tasks first fall due at T0 + 60.
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

#define T0	  INT64_C(1699999980) /* 2023-11-14T22:13:00Z */
#define NO_WORKER "no worker alive with a slot"

static char dir[64];
static struct sched s;
static struct task_def defs[16];
static size_t ndefs;
static int64_t wall_ms;

static int64_t fake_wall(void *arg)
{
	(void)arg;
	return wall_ms;
}

static const struct clock_fake fake = {.mono_ms = fake_wall, .wall_ms = fake_wall};

static void set_now(int64_t unix_s)
{
	wall_ms = unix_s * 1000;
}

static void setup(void)
{
	char err[256] = "";
	char path[128];
	log_set_level(LOG_LVL_WARN);
	snprintf(dir, sizeof(dir), "/tmp/test_sched_deps.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sched.db", dir);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(store_open(path, &s.store, err, sizeof(err)), 0, "%s", err);
	s.opt.catch_up_grace_ms = 10000;
	heap_init(&s.due);
	ndefs = 0;
	set_now(T0 + 30);
	clock_set_fake(&fake);
}

static void teardown(void)
{
	clock_set_fake(NULL);
	sched_tasks_free(&s);
	free(s.runs);
	store_close(s.store);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(sched_deps, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ----------------------------------------------------------- */

/* Add tasks in name order (the set is sorted by name). */
static struct task_def *add_task(const char *name, const char *schedule, const char *after)
{
	cr_assert_lt(ndefs, sizeof(defs) / sizeof(defs[0]));
	struct task_def *d = &defs[ndefs++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->command, sizeof(d->command), "echo %s", name);
	snprintf(d->schedule, sizeof(d->schedule), "%s", schedule);
	snprintf(d->after, sizeof(d->after), "%s", after);
	char err[128] = "";
	cr_assert_eq(cron_parse(schedule, "UTC", &d->cron, err, sizeof(err)), 0, "%s", err);
	d->overlap = OVERLAP_SKIP;
	d->catch_up = CATCH_UP_LATEST;
	d->retry_backoff_ms = 10000;
	snprintf(d->file, sizeof(d->file), "tasks/test.conf");
	d->line = (int)ndefs;
	if (ndefs > 1)
		cr_assert_lt(strcmp(defs[ndefs - 2].name, name), 0, "add tasks in name order");
	return d;
}

static void apply(void)
{
	char err[256] = "";
	struct task_set ts = {defs, ndefs};
	cr_assert_eq(sched_tasks_apply(&s, &ts, err, sizeof(err)), 0, "%s", err);
}

static struct sched_task *task(const char *name)
{
	struct sched_task *t = sched_task_find(&s, name);
	cr_assert_not_null(t, "task %s not loaded", name);
	return t;
}

static void fire_and_dispatch(int64_t unix_s)
{
	set_now(unix_s);
	sched_fire_due(&s);
	sched_dispatch_pending(&s);
}

/* The task's run of cycle T, from the store (must exist). */
static struct store_run cycle_run(const char *name, int64_t T)
{
	struct store_run r;
	int rc = store_run_of_cycle(s.store, name, T, &r);
	cr_assert_eq(rc, 1, "task %s has no run for T0%+lld (%d)", name, (long long)(T - T0), rc);
	return r;
}

/* The tracked (pending) run of a task, or NULL. */
static struct sched_run *tracked(const char *name)
{
	for (size_t i = 0; i < s.nruns; i++)
		if (strcmp(s.runs[i].task, name) == 0)
			return &s.runs[i];
	return NULL;
}

static void expect_wait(const char *name, const char *want)
{
	struct sched_run *r = tracked(name);
	cr_assert_not_null(r, "task %s has no pending run", name);
	cr_assert_eq(r->state, RUN_PENDING);
	cr_assert_str_eq(r->wait, want, "task %s", name);
}

/*
 * The worker ran it and it ended in `state`; with `retry`, the retry the
 * scheduler owes is created in the same transaction (as sched_peers.c
 * does).  The run is forgotten and the retry tracked.
 */
static void end_run(uint64_t run_id, enum run_state state, bool retry)
{
	struct store_run r;
	cr_assert_eq(store_run_get(s.store, run_id, &r), 0);
	cr_assert_eq(store_run_assign(s.store, run_id, "n1", wall_ms), 0);
	struct sched_run *sr = sched_run_find(&s, run_id);
	cr_assert_not_null(sr);
	struct store_run_new rn;
	struct store_run_created rc = {0};
	bool owed = retry && sched_retry_of(&s, sr, state, &rn);
	cr_assert_eq(owed, retry);
	struct store_run_end end = {
		.state = state,
		.exit_code = state == RUN_SUCCEEDED ? 0 : 1,
		.started_ms = wall_ms,
		.finished_ms = wall_ms,
		.retry = owed ? &rn : NULL,
		.retry_out = owed ? &rc : NULL,
	};
	bool already = true;
	cr_assert_eq(store_run_end(s.store, run_id, r.token, "n1", &end, &already), 0);
	cr_assert_not(already);
	sched_run_forget(&s, run_id);
	if (owed)
		sched_track_created(&s, &rn, &rc);
}

static uint64_t pending_id(const char *name)
{
	struct sched_run *r = tracked(name);
	cr_assert_not_null(r, "task %s has no pending run", name);
	return r->run_id;
}

/* ---- graph metrics and order --------------------------------------------- */

Test(sched_deps, metrics_count_the_work_waiting_below)
{
	/* a <- b <- c, a <- d; x <- y, x <- z, y <- z (a diamond); e alone */
	add_task("a", "every 60s", "");
	add_task("b", "every 60s", "a");
	add_task("c", "every 60s", "b");
	add_task("d", "every 60s", "a");
	add_task("e", "every 60s", "");
	add_task("x", "every 60s", "");
	add_task("y", "every 60s", "x");
	add_task("z", "every 60s", "x,y");
	apply();
	struct {
		const char *name;
		int chain, total;
	} want[] = {{"a", 2, 3}, {"b", 1, 1}, {"c", 0, 0}, {"d", 0, 0},
		    {"e", 0, 0}, {"x", 2, 2}, {"y", 1, 1}, {"z", 0, 0}};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_expect_eq(task(want[i].name)->dep_chain, want[i].chain, "%s chain %d",
			     want[i].name, task(want[i].name)->dep_chain);
		cr_expect_eq(task(want[i].name)->dep_total, want[i].total, "%s total %d",
			     want[i].name, task(want[i].name)->dep_total);
	}
	/* A reload with another graph recomputes them. */
	snprintf(defs[1].after, sizeof(defs[1].after), "%s", "");
	apply();
	cr_assert_eq(task("a")->dep_chain, 1);
	cr_assert_eq(task("a")->dep_total, 1);
	cr_assert_eq(task("b")->dep_chain, 1);
	cr_assert_eq(task("b")->dep_total, 1);
}

static int cmp(const struct sched_run *x, const struct sched_run *y)
{
	return sched_run_order(&x, &y, &s);
}

Test(sched_deps, order_priority_then_chain_then_dependants_then_age)
{
	/* long <- l1 <- l2 (chain 2); wide <- w1, w2, w3 (chain 1, total 3) */
	add_task("hi", "every 60s", "");
	add_task("l1", "every 60s", "long");
	add_task("l2", "every 60s", "l1");
	add_task("lone", "every 60s", "");
	add_task("long", "every 60s", "");
	add_task("w1", "every 60s", "wide");
	add_task("w2", "every 60s", "wide");
	add_task("w3", "every 60s", "wide,long");
	add_task("wide", "every 60s", "");
	defs[0].priority = 5;
	apply();
	struct sched_run hi = {.run_id = 9, .task = "hi"}, lng = {.run_id = 8, .task = "long"},
			 wide = {.run_id = 7, .task = "wide"}, lone = {.run_id = 1, .task = "lone"},
			 lone2 = {.run_id = 2, .task = "lone"};
	cr_assert_lt(cmp(&hi, &lng), 0, "priority first");
	cr_assert_lt(cmp(&hi, &lone), 0, "priority before age");
	cr_assert_lt(cmp(&lng, &wide), 0, "the longer chain first");
	cr_assert_lt(cmp(&wide, &lone), 0, "dependants before age");
	cr_assert_gt(cmp(&lone, &wide), 0);
	cr_assert_lt(cmp(&lone, &lone2), 0, "then the oldest");
	cr_assert_eq(cmp(&lone, &lone), 0);
	/* wide (chain 1, total 3) before a task with chain 1 and fewer: l1 */
	struct sched_run l1 = {.run_id = 3, .task = "l1"};
	cr_assert_lt(cmp(&wide, &l1), 0, "more dependants first");
}

/* ---- waiting, going, skipping --------------------------------------------- */

Test(sched_deps, dependent_waits_for_its_cycle_then_goes)
{
	add_task("a", "every 60s", "");
	add_task("b", "every 60s", "a");
	apply();
	fire_and_dispatch(T0 + 60);
	uint64_t a = pending_id("a");
	char want[128];
	snprintf(want, sizeof(want), "waiting for a (run %llu pending)", (unsigned long long)a);
	expect_wait("b", want);
	expect_wait("a", NO_WORKER);
	cr_assert_not(tracked("b")->deps_met);

	end_run(a, RUN_SUCCEEDED, false);
	sched_dispatch_pending(&s);
	cr_assert(tracked("b")->deps_met);
	expect_wait("b", NO_WORKER);
}

Test(sched_deps, failure_skips_the_chain_below_in_one_pass)
{
	add_task("a", "every 60s", "");
	add_task("b", "every 60s", "a");
	add_task("c", "every 60s", "b");
	apply();
	fire_and_dispatch(T0 + 60);
	uint64_t a = pending_id("a"), b = pending_id("b"), c = pending_id("c");
	end_run(a, RUN_FAILED, false);
	sched_dispatch_pending(&s);
	cr_assert_null(tracked("b"), "b still tracked");
	cr_assert_null(tracked("c"), "c still tracked");
	char want[96];
	struct store_run r = cycle_run("b", T0 + 60);
	cr_assert_eq(r.run_id, b);
	cr_assert_eq(r.state, RUN_SKIPPED);
	snprintf(want, sizeof(want), "dependency a failed (run %llu)", (unsigned long long)a);
	cr_assert_str_eq(r.error, want);
	r = cycle_run("c", T0 + 60);
	cr_assert_eq(r.run_id, c);
	cr_assert_eq(r.state, RUN_SKIPPED);
	snprintf(want, sizeof(want), "dependency b skipped (run %llu)", (unsigned long long)b);
	cr_assert_str_eq(r.error, want);
	/* The next cycle starts afresh. */
	fire_and_dispatch(T0 + 120);
	snprintf(want, sizeof(want), "waiting for a (run %llu pending)",
		 (unsigned long long)pending_id("a"));
	expect_wait("b", want);
}

Test(sched_deps, a_retry_keeps_the_dependent_waiting_until_it_succeeds)
{
	add_task("a", "every 60s", "")->retries = 1;
	add_task("b", "every 60s", "a");
	apply();
	fire_and_dispatch(T0 + 60);
	end_run(pending_id("a"), RUN_FAILED, true);
	uint64_t retry = pending_id("a");
	sched_dispatch_pending(&s);
	char want[128];
	snprintf(want, sizeof(want), "waiting for a (run %llu pending)", (unsigned long long)retry);
	expect_wait("b", want);
	/* The backoff has jitter (sched_retry.c): only its form is fixed here. */
	struct sched_run *ra = tracked("a");
	cr_assert_not_null(ra);
	cr_assert(strncmp(ra->wait, "retry backoff until 2023-11-14T22:14:", 37) == 0, "a: %s",
		  ra->wait);
	set_now(T0 + 75);
	end_run(retry, RUN_SUCCEEDED, false);
	sched_dispatch_pending(&s);
	cr_assert(tracked("b")->deps_met);
	expect_wait("b", NO_WORKER);
}

Test(sched_deps, waiting_for_two_names_both)
{
	add_task("a", "every 60s", "");
	add_task("b", "every 60s", "");
	add_task("c", "every 60s", "a,b");
	apply();
	fire_and_dispatch(T0 + 60);
	uint64_t a = pending_id("a"), b = pending_id("b");
	char want[128];
	snprintf(want, sizeof(want), "waiting for a (run %llu pending), b (run %llu pending)",
		 (unsigned long long)a, (unsigned long long)b);
	expect_wait("c", want);
	end_run(b, RUN_SUCCEEDED, false);
	sched_dispatch_pending(&s);
	snprintf(want, sizeof(want), "waiting for a (run %llu pending)", (unsigned long long)a);
	expect_wait("c", want);
	end_run(a, RUN_SUCCEEDED, false);
	sched_dispatch_pending(&s);
	expect_wait("c", NO_WORKER);
}

Test(sched_deps, a_dependency_not_due_at_that_instant_does_not_hold)
{
	add_task("a", "every 120s", "");
	add_task("b", "every 60s", "a");
	apply();
	cr_assert_eq((T0 + 60) % 120, 0);
	fire_and_dispatch(T0 + 60);
	end_run(pending_id("a"), RUN_SUCCEEDED, false);
	end_run(pending_id("b"), RUN_SUCCEEDED, false);
	fire_and_dispatch(T0 + 120); /* b only */
	cr_assert_null(tracked("a"));
	expect_wait("b", NO_WORKER);
}

Test(sched_deps, a_paused_dependency_holds_until_resumed_and_run)
{
	add_task("a", "every 60s", "");
	add_task("b", "every 60s", "a");
	apply();
	task("a")->paused = true;
	cr_assert_eq(store_task_set_paused(s.store, "a", true), 0);
	sched_task_rearm(&s, task("a"));
	fire_and_dispatch(T0 + 60);
	cr_assert_null(tracked("a"));
	expect_wait("b", "waiting for a (paused)");

	task("a")->paused = false;
	cr_assert_eq(store_task_set_paused(s.store, "a", false), 0);
	sched_task_rearm(&s, task("a"));
	fire_and_dispatch(T0 + 62);
	uint64_t a = pending_id("a");
	char want[128];
	snprintf(want, sizeof(want), "waiting for a (run %llu pending)", (unsigned long long)a);
	expect_wait("b", want);
	end_run(a, RUN_SUCCEEDED, false);
	sched_dispatch_pending(&s);
	expect_wait("b", NO_WORKER);
}

Test(sched_deps, a_paused_dependency_with_a_waiting_run_says_paused)
{
	add_task("a", "every 60s", "");
	add_task("b", "every 60s", "a");
	apply();
	fire_and_dispatch(T0 + 60);
	task("a")->paused = true;
	sched_dispatch_pending(&s);
	expect_wait("b", "waiting for a (paused)");
	expect_wait("a", "paused");
}

static void pause_task(const char *name, bool paused)
{
	cr_assert_eq(store_task_set_paused(s.store, name, paused), 0);
	task(name)->paused = paused;
	sched_task_rearm(&s, task(name));
}

/* a paused for 130 fire times: on resume its catch-up writes rows for the
 * newest 100 only and counts the older ones in an event.  b's run of the
 * first of them waited for a; a never ran that cycle, so it is skipped. */
Test(sched_deps, a_dependency_whose_fire_time_was_passed_over_skips_the_run)
{
	add_task("a", "every 60s", "");
	add_task("b", "every 60s", "a");
	apply();
	pause_task("a", true);
	for (int i = 1; i <= 130; i++)
		fire_and_dispatch(T0 + 60 * i);
	uint64_t b = pending_id("b");
	cr_assert_eq(tracked("b")->scheduled_for, T0 + 60);
	expect_wait("b", "waiting for a (paused)");
	pause_task("a", false);
	fire_and_dispatch(T0 + 60 * 130 + 5);
	struct store_run r;
	cr_assert_eq(store_run_of_cycle(s.store, "a", T0 + 60, &r), 0, "a has a row for T0+60");
	cr_assert_eq(store_run_get(s.store, b, &r), 0);
	cr_assert_eq(r.state, RUN_SKIPPED, "b's run is %s", run_state_name(r.state));
	cr_assert_str_eq(r.error, "dependency a missed (fire time not run)");
	cr_assert_null(tracked("b"));
}

/* A whose schedule changed after the instant: its cursor starts after it,
 * the instant was never A's, and it does not hold the run. */
Test(sched_deps, a_dependency_changed_after_the_instant_does_not_hold)
{
	add_task("a", "every 60s", "");
	add_task("b", "every 60s", "a");
	apply();
	pause_task("a", true);
	fire_and_dispatch(T0 + 60);
	expect_wait("b", "waiting for a (paused)");
	set_now(T0 + 90);
	snprintf(defs[0].schedule, sizeof(defs[0].schedule), "every 30s");
	char err[128] = "";
	cr_assert_eq(cron_parse("every 30s", "UTC", &defs[0].cron, err, sizeof(err)), 0, "%s", err);
	apply();
	cr_assert(task("a")->paused);
	sched_dispatch_pending(&s);
	expect_wait("b", NO_WORKER);
}

Test(sched_deps, manual_runs_do_not_wait)
{
	add_task("a", "every 60s", "");
	add_task("b", "every 60s", "a");
	apply();
	struct store_run_created out;
	cr_assert_eq(sched_run_create(&s, task("b"), REASON_MANUAL, T0 + 30, 1, false, 0, 0, &out),
		     0);
	sched_dispatch_pending(&s);
	expect_wait("b", NO_WORKER);
}

/* A trigger joined b's scheduled run while it waited for a: the run
 * answers an acknowledged trigger, so it goes at once and a's failure
 * does not skip it (nor after a restart, from runs.triggers). */
Test(sched_deps, a_triggered_run_does_not_wait_and_is_never_dependency_skipped)
{
	add_task("a", "every 60s", "");
	add_task("b", "every 60s", "a");
	apply();
	fire_and_dispatch(T0 + 60);
	uint64_t a = pending_id("a"), b = pending_id("b");
	char want[128];
	snprintf(want, sizeof(want), "waiting for a (run %llu pending)", (unsigned long long)a);
	expect_wait("b", want);
	struct store_trigger_result tr;
	cr_assert_eq(sched_trigger(&s, task("b"), &tr), 0);
	cr_assert_eq(tr.outcome, STORE_TRIGGER_JOINED_RUN);
	cr_assert_eq(tr.run_id, b);
	cr_assert_eq(tracked("b")->triggers, 1);
	expect_wait("b", NO_WORKER); /* sched_trigger ran a dispatch pass */

	/* The store refuses the dependency skip of a run that answers triggers. */
	cr_assert_eq(store_run_skip_pending(s.store, b, "dependency a failed", wall_ms), -EBUSY);

	end_run(a, RUN_FAILED, false);
	sched_dispatch_pending(&s);
	cr_assert_eq(pending_id("b"), b, "b's run was dropped");
	expect_wait("b", NO_WORKER);
	struct store_run r;
	cr_assert_eq(store_run_get(s.store, b, &r), 0);
	cr_assert_eq(r.state, RUN_PENDING);
	cr_assert_eq(r.triggers, 1);

	/* After a restart the count comes from the store. */
	free(s.runs);
	s.runs = NULL;
	s.nruns = 0;
	apply();
	cr_assert_eq(sched_runs_load(&s), 0);
	cr_assert_eq(tracked("b")->triggers, 1);
	sched_dispatch_pending(&s);
	expect_wait("b", NO_WORKER);
	cr_assert_eq(store_run_get(s.store, b, &r), 0);
	cr_assert_eq(r.state, RUN_PENDING);
}

/* A retry copies its first attempt's scheduled_for: that of a manual run
 * is the time it was made, which may be an instant of b's cycle.  The
 * retry still belongs to no cycle and does not hold b. */
Test(sched_deps, a_retry_of_a_manual_run_belongs_to_no_cycle)
{
	add_task("a", "every 3600s", "")->retries = 1;
	add_task("b", "every 60s", "a");
	apply();
	set_now(T0 + 60);
	struct store_run_created out;
	cr_assert_eq(sched_run_create(&s, task("a"), REASON_MANUAL, T0 + 60, 1, false, 0, 0, &out),
		     0);
	end_run(out.run_id, RUN_FAILED, true);
	struct sched_run *retry = tracked("a");
	cr_assert_not_null(retry);
	cr_assert_eq(retry->reason, REASON_RETRY);
	cr_assert_eq(retry->scheduled_for, T0 + 60);
	struct store_run r;
	cr_assert_eq(store_run_of_cycle(s.store, "a", T0 + 60, &r), 0, "run %llu in the cycle",
		     (unsigned long long)r.run_id);
	fire_and_dispatch(T0 + 60); /* b only: a is not due */
	expect_wait("b", NO_WORKER);
}

Test(sched_deps, waiting_is_derived_again_after_a_restart)
{
	add_task("a", "every 60s", "");
	add_task("b", "every 60s", "a");
	add_task("c", "every 60s", "a");
	apply();
	fire_and_dispatch(T0 + 60);
	uint64_t b = pending_id("b");
	end_run(pending_id("a"), RUN_SUCCEEDED, false);
	/* A restart before any pass saw a end: memory rebuilt from the store. */
	free(s.runs);
	s.runs = NULL;
	s.nruns = 0;
	apply();
	cr_assert_eq(sched_runs_load(&s), 0);
	cr_assert_not(tracked("b")->deps_met);
	sched_dispatch_pending(&s);
	cr_assert_eq(pending_id("b"), b);
	cr_assert(tracked("b")->deps_met);
	expect_wait("b", NO_WORKER);
	expect_wait("c", NO_WORKER);
}

/* ---- store functions ------------------------------------------------------ */

Test(sched_deps, store_run_of_cycle_is_the_newest_attempt_and_ignores_manual_runs)
{
	add_task("a", "every 60s", "")->retries = 2;
	apply();
	struct store_run r;
	cr_assert_eq(store_run_of_cycle(s.store, "a", T0 + 60, &r), 0);
	cr_assert_eq(store_run_of_cycle(s.store, "nosuch", T0 + 60, &r), 0);
	cr_assert_eq(store_run_of_cycle(s.store, "", T0 + 60, &r), -EINVAL);
	fire_and_dispatch(T0 + 60);
	uint64_t first = pending_id("a");
	end_run(first, RUN_FAILED, true);
	uint64_t retry = pending_id("a");
	cr_assert_neq(first, retry);
	r = cycle_run("a", T0 + 60);
	cr_assert_eq(r.run_id, retry);
	cr_assert_eq(r.attempt, 2);
	end_run(retry, RUN_SUCCEEDED, false);
	struct store_run_created out;
	cr_assert_eq(sched_run_create(&s, task("a"), REASON_MANUAL, T0 + 60, 1, false, 0, 0, &out),
		     0);
	r = cycle_run("a", T0 + 60);
	cr_assert_eq(r.run_id, retry, "a manual run joined the cycle");
	cr_assert_eq(r.state, RUN_SUCCEEDED);
}

Test(sched_deps, store_run_skip_pending_only_skips_pending_runs)
{
	add_task("a", "every 60s", "");
	apply();
	fire_and_dispatch(T0 + 60);
	uint64_t a = pending_id("a");
	cr_assert_eq(store_run_skip_pending(s.store, 999, "x", wall_ms), -ENOENT);
	cr_assert_eq(store_run_assign(s.store, a, "n1", wall_ms), 0);
	cr_assert_eq(store_run_skip_pending(s.store, a, "x", wall_ms), -ESTALE);
	struct store_run r;
	cr_assert_eq(store_run_get(s.store, a, &r), 0);
	cr_assert_eq(r.state, RUN_DISPATCHED, "a refused skip changed the run");
	sched_run_forget(&s, a);

	fire_and_dispatch(T0 + 120); /* overlap = skip: a skipped row */
	struct store_run_created out;
	set_now(T0 + 130);
	cr_assert_eq(sched_run_create(&s, task("a"), REASON_MANUAL, T0 + 130, 1, false, 0, 0, &out),
		     -EBUSY);
	cr_assert_eq(
		store_run_end(s.store, a, r.token, "n1",
			      &(struct store_run_end){.state = RUN_SUCCEEDED, .finished_ms = 1},
			      &(bool){false}),
		0);
	cr_assert_eq(sched_run_create(&s, task("a"), REASON_MANUAL, T0 + 130, 1, false, 0, 0, &out),
		     0);
	cr_assert_eq(
		store_run_skip_pending(s.store, out.run_id, "dependency z failed (run 1)", wall_ms),
		0);
	cr_assert_eq(store_run_get(s.store, out.run_id, &r), 0);
	cr_assert_eq(r.state, RUN_SKIPPED);
	cr_assert_str_eq(r.error, "dependency z failed (run 1)");
	cr_assert_eq(r.finished_ms, wall_ms);
	cr_assert_eq(store_run_skip_pending(s.store, out.run_id, "again", wall_ms), -ESTALE);
}

/* ---- cycles are refused at load ------------------------------------------- */

Test(sched_deps, a_cycle_reached_from_outside_is_reported_as_the_cycle_only)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/etl.ini", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("[task a]\ncommand = true\nschedule = @daily\nafter = b\n\n"
	      "[task b]\ncommand = true\nschedule = @daily\nafter = c\n\n"
	      "[task c]\ncommand = true\nschedule = @daily\nafter = a\n\n"
	      "[task x]\ncommand = true\nschedule = @daily\nafter = a\n",
	      f);
	fclose(f);
	struct task_set ts = {0};
	char *errors = NULL;
	cr_assert_eq(taskfile_load_file(path, &ts, &errors), -EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "%s:4: after: cycle a -> b -> c -> a\n", path);
	cr_assert_str_eq(errors, want);
	cr_assert_eq(ts.n, 0);
	free(errors);
}
