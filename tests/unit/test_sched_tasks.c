/*
 * test_sched_tasks.c - the scheduler's fire and catch-up logic
 * (scheduler/sched_tasks.c) against a real store and a fake wall clock.
 *
 * A `struct sched` is built by hand with just what sched_tasks.c uses: the
 * store, the due heap, the unfinished runs and catch_up_grace_ms.  Task
 * definitions are filled by hand (schedules through cron_parse).  Each
 * test moves the fake clock and calls sched_fire_due(), then reads the
 * outcome back from the store (run history, task cursor, events): the
 * store is the truth, the in-memory cursor must agree with it.
 *
 * Times: T0 is a whole minute; tasks are applied at T0 + 30 s, so an
 * "every 60s" task is next due at T0 + 60.
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

#define T0 INT64_C(1699999980) /* 2023-11-14T22:13:00Z, a whole minute */
#define GRACE_MS 10000

static char dir[64];
static struct sched s;
static struct task_def defs[80];
static size_t ndefs;
static int64_t wall_ms;

static int64_t fake_wall(void *arg)
{
	(void)arg;
	return wall_ms;
}

static const struct clock_fake fake = {.mono_ms = fake_wall, .wall_ms = fake_wall};

static void set_now(int64_t unix_s) { wall_ms = unix_s * 1000; }

static void setup(void)
{
	char err[256] = "";
	char path[128];
	cr_assert_eq(T0 % 60, 0);
	log_set_level(LOG_LVL_WARN);
	snprintf(dir, sizeof(dir), "/tmp/test_sched_tasks.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sched.db", dir);
	memset(&s, 0, sizeof(s));
	cr_assert_eq(store_open(path, &s.store, err, sizeof(err)), 0, "%s", err);
	s.opt.catch_up_grace_ms = GRACE_MS;
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

TestSuite(sched_tasks, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ----------------------------------------------------------- */

static void add_task(const char *name, const char *schedule, enum task_overlap ov,
		     enum task_catch_up cu)
{
	cr_assert_lt(ndefs, sizeof(defs) / sizeof(defs[0]));
	struct task_def *d = &defs[ndefs++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->command, sizeof(d->command), "echo %s", name);
	snprintf(d->schedule, sizeof(d->schedule), "%s", schedule);
	char err[128] = "";
	cr_assert_eq(cron_parse(schedule, "UTC", &d->cron, err, sizeof(err)), 0, "%s", err);
	d->timeout_ms = 60000;
	d->overlap = ov;
	d->catch_up = cu;
	d->retry_backoff_ms = 10000;
	snprintf(d->file, sizeof(d->file), "tasks/test.conf");
	d->line = (int)ndefs;
	/* names are added in order, so the set stays sorted */
	if (ndefs > 1)
		cr_assert_lt(strcmp(defs[ndefs - 2].name, name), 0, "add tasks in name order");
}

/* Start-up and reload apply definitions the same way. */
static void apply(void)
{
	char err[256] = "";
	struct task_set ts = {defs, ndefs};
	cr_assert_eq(sched_tasks_apply(&s, &ts, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(s.ntasks, ndefs);
}

static struct sched_task *task(const char *name)
{
	struct sched_task *t = sched_task_find(&s, name);
	cr_assert_not_null(t, "task %s not loaded", name);
	return t;
}

/* The cursor in the store, checked against the one in memory. */
static int64_t cursor(const char *name)
{
	struct store_task_state st;
	cr_assert_eq(store_task_state(s.store, name, &st), 0);
	cr_assert_eq(task(name)->cursor, st.cursor_s,
		     "task %s: cursor %lld in memory, %lld in the store", name,
		     (long long)task(name)->cursor, (long long)st.cursor_s);
	return st.cursor_s;
}

/* Run history, oldest first. */
struct hist {
	struct store_run *r;
	size_t n, cap;
};

static int hist_add(void *arg, const struct store_run *run)
{
	struct hist *h = arg;
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->r = realloc(h->r, h->cap * sizeof(*h->r));
		cr_assert_not_null(h->r);
	}
	h->r[h->n++] = *run;
	return 0;
}

static struct hist history(const char *name)
{
	struct hist h = {0};
	cr_assert_eq(store_runs_history(s.store, name, 100000, hist_add, &h), 0);
	/* newest first from the store: reverse */
	for (size_t i = 0; i < h.n / 2; i++) {
		struct store_run tmp = h.r[i];
		h.r[i] = h.r[h.n - 1 - i];
		h.r[h.n - 1 - i] = tmp;
	}
	return h;
}

static size_t count_state(const struct hist *h, enum run_state st)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n; i++)
		n += h->r[i].state == st;
	return n;
}

static void expect_row(const struct hist *h, size_t i, enum run_state st, enum run_reason why,
		       int64_t scheduled_for)
{
	cr_assert_lt(i, h->n, "row %zu of %zu", i, h->n);
	const struct store_run *r = &h->r[i];
	cr_assert_eq(r->state, st, "row %zu: state %s, want %s", i, run_state_name(r->state),
		     run_state_name(st));
	cr_assert_eq(r->reason, why, "row %zu: reason %s, want %s", i, run_reason_name(r->reason),
		     run_reason_name(why));
	cr_assert_eq(r->scheduled_for, scheduled_for, "row %zu: scheduled for T0%+lld, want T0%+lld",
		     i, (long long)(r->scheduled_for - T0), (long long)(scheduled_for - T0));
	if (st == RUN_SKIPPED)
		cr_assert_eq(r->token, 0, "row %zu: a skipped row has a token", i);
	else
		cr_assert_gt(r->token, 0);
}

/* The worker ran it: pending -> dispatched -> succeeded, then forgotten
 * as the scheduler does when a run ends. */
static void finish_run(uint64_t run_id)
{
	struct store_run r;
	cr_assert_eq(store_run_get(s.store, run_id, &r), 0);
	cr_assert_eq(store_run_assign(s.store, run_id, "n1", wall_ms), 0);
	struct store_run_end end = {
		.state = RUN_SUCCEEDED,
		.exit_code = 0,
		.started_ms = wall_ms,
		.finished_ms = wall_ms,
	};
	bool already = true;
	cr_assert_eq(store_run_end(s.store, run_id, r.token, "n1", &end, &already), 0);
	cr_assert_not(already);
	cr_assert_not_null(sched_run_find(&s, run_id), "run %llu was not tracked",
			   (unsigned long long)run_id);
	sched_run_forget(&s, run_id);
}

static void fire_at(int64_t unix_s)
{
	set_now(unix_s);
	sched_fire_due(&s);
}

/* Events of a kind for a task, newest first, into buf (joined by '\n'). */
struct evq {
	const char *kind, *task;
	char buf[4096];
	int n;
};

static int ev_add(void *arg, const struct store_event_row *ev)
{
	struct evq *q = arg;
	if (strcmp(ev->kind, q->kind) == 0 && strcmp(ev->task, q->task) == 0) {
		q->n++;
		size_t l = strlen(q->buf);
		snprintf(q->buf + l, sizeof(q->buf) - l, "%s\n", ev->message);
	}
	return 0;
}

static struct evq events(const char *kind, const char *taskname)
{
	struct evq q = {.kind = kind, .task = taskname};
	cr_assert_eq(store_events_recent(s.store, 1000, ev_add, &q), 0);
	return q;
}

/* ---- (a) normal fires ---------------------------------------------------- */

Test(sched_tasks, apply_sets_cursor_and_next_fire)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();
	cr_assert_eq(cursor("a"), T0 + 30, "a new task counts from now");
	cr_assert_eq(task("a")->next_fire, T0 + 60);
	cr_assert_not(task("a")->paused);
	cr_assert_null(sched_task_find(&s, "b"));
	fire_at(T0 + 59);
	struct hist h = history("a");
	cr_assert_eq(h.n, 0, "fired before its time");
	cr_assert_eq(cursor("a"), T0 + 30);
	free(h.r);
}

Test(sched_tasks, normal_fires_create_one_run_each_and_move_the_cursor)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();

	fire_at(T0 + 60);
	struct hist h = history("a");
	cr_assert_eq(h.n, 1);
	expect_row(&h, 0, RUN_PENDING, REASON_SCHEDULE, T0 + 60);
	cr_assert_eq(h.r[0].attempt, 1);
	cr_assert_eq(cursor("a"), T0 + 60);
	cr_assert_eq(s.nruns, 1);
	cr_assert_eq(s.runs[0].run_id, h.r[0].run_id);
	cr_assert_eq(s.runs[0].token, h.r[0].token);
	cr_assert_str_eq(s.runs[0].task, "a");
	cr_assert_eq(task("a")->next_fire, T0 + 120);
	uint64_t first = h.r[0].run_id, tok = h.r[0].token;
	free(h.r);

	/* calling again at the same instant changes nothing */
	fire_at(T0 + 60);
	fire_at(T0 + 119);
	h = history("a");
	cr_assert_eq(h.n, 1, "%zu rows after re-firing the same time", h.n);
	free(h.r);

	/* the run ends; the next fire time (a few seconds late, inside the
	 * grace) makes a second ordinary run with a greater token */
	finish_run(first);
	fire_at(T0 + 125);
	h = history("a");
	cr_assert_eq(h.n, 2);
	expect_row(&h, 0, RUN_SUCCEEDED, REASON_SCHEDULE, T0 + 60);
	expect_row(&h, 1, RUN_PENDING, REASON_SCHEDULE, T0 + 120);
	cr_assert_gt(h.r[1].token, tok);
	cr_assert_eq(cursor("a"), T0 + 120);
	cr_assert_eq(s.nruns, 1);
	free(h.r);
}

Test(sched_tasks, fire_while_unfinished_with_overlap_skip_records_a_skip)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();
	fire_at(T0 + 60);
	struct hist h = history("a");
	cr_assert_eq(h.n, 1);
	uint64_t run = h.r[0].run_id;
	free(h.r);

	/* still pending */
	fire_at(T0 + 120);
	h = history("a");
	cr_assert_eq(h.n, 2);
	expect_row(&h, 0, RUN_PENDING, REASON_SCHEDULE, T0 + 60);
	expect_row(&h, 1, RUN_SKIPPED, REASON_SCHEDULE, T0 + 120);
	cr_assert_eq(cursor("a"), T0 + 120);
	cr_assert_eq(s.nruns, 1, "a skipped row is not an unfinished run");
	free(h.r);

	/* dispatched (active) */
	cr_assert_eq(store_run_assign(s.store, run, "n1", wall_ms), 0);
	fire_at(T0 + 180);
	h = history("a");
	cr_assert_eq(h.n, 3);
	expect_row(&h, 2, RUN_SKIPPED, REASON_SCHEDULE, T0 + 180);
	char id[32];
	snprintf(id, sizeof(id), "%llu", (unsigned long long)run);
	cr_assert(strstr(h.r[2].error, id), "skip reason does not name run %s: %s", id,
		  h.r[2].error);
	cr_assert_eq(cursor("a"), T0 + 180);
	cr_assert_eq(count_state(&h, RUN_PENDING) + count_state(&h, RUN_DISPATCHED), 1);
	free(h.r);
}

Test(sched_tasks, overlap_queue_lets_one_run_wait)
{
	add_task("q", "every 60s", OVERLAP_QUEUE, CATCH_UP_LATEST);
	apply();
	fire_at(T0 + 60);
	struct hist h = history("q");
	uint64_t run = h.r[0].run_id;
	free(h.r);
	cr_assert_eq(store_run_assign(s.store, run, "n1", wall_ms), 0);
	fire_at(T0 + 120); /* waits behind the active one */
	fire_at(T0 + 180); /* one is already waiting: skipped */
	h = history("q");
	cr_assert_eq(h.n, 3);
	expect_row(&h, 0, RUN_DISPATCHED, REASON_SCHEDULE, T0 + 60);
	expect_row(&h, 1, RUN_PENDING, REASON_SCHEDULE, T0 + 120);
	expect_row(&h, 2, RUN_SKIPPED, REASON_SCHEDULE, T0 + 180);
	cr_assert_eq(s.nruns, 2);
	cr_assert_eq(cursor("q"), T0 + 180);
	free(h.r);
}

/* The grace boundary: a fire time at most catch_up_grace behind the clock
 * is an ordinary fire; one further behind is a catch-up. */
Test(sched_tasks, late_by_exactly_the_grace_is_an_ordinary_fire)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_NONE);
	apply();
	fire_at(T0 + 60 + GRACE_MS / 1000);
	struct hist h = history("a");
	cr_assert_eq(h.n, 1);
	expect_row(&h, 0, RUN_PENDING, REASON_SCHEDULE, T0 + 60);
	free(h.r);
}

Test(sched_tasks, late_by_more_than_the_grace_is_a_catch_up)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();
	fire_at(T0 + 60 + GRACE_MS / 1000 + 1);
	struct hist h = history("a");
	cr_assert_eq(h.n, 1);
	expect_row(&h, 0, RUN_PENDING, REASON_CATCH_UP, T0 + 60);
	cr_assert_eq(cursor("a"), T0 + 60);
	free(h.r);
}

/* ---- (b) an outage of 10 minutes --------------------------------------- */

/* Applied at T0+30, the clock jumps to T0+630: T0+60 .. T0+600 (10 fire
 * times) were missed, all older than the grace. */
#define OUTAGE_END (T0 + 630)

Test(sched_tasks, outage_catch_up_none_skips_every_missed_time)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_NONE);
	apply();
	fire_at(OUTAGE_END);
	struct hist h = history("a");
	cr_assert_eq(h.n, 10, "%zu rows", h.n);
	for (size_t i = 0; i < 10; i++)
		expect_row(&h, i, RUN_SKIPPED, REASON_SCHEDULE, T0 + 60 * (int64_t)(i + 1));
	cr_assert(strstr(h.r[0].error, "catch_up=none"), "why: %s", h.r[0].error);
	cr_assert_eq(s.nruns, 0, "a run was created");
	cr_assert_eq(cursor("a"), T0 + 600);
	cr_assert_eq(task("a")->next_fire, T0 + 660);
	free(h.r);

	/* and the schedule goes on normally */
	fire_at(T0 + 660);
	h = history("a");
	cr_assert_eq(h.n, 11);
	expect_row(&h, 10, RUN_PENDING, REASON_SCHEDULE, T0 + 660);
	free(h.r);
}

Test(sched_tasks, outage_catch_up_latest_runs_only_the_newest)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();
	fire_at(OUTAGE_END);
	struct hist h = history("a");
	cr_assert_eq(h.n, 10, "%zu rows", h.n);
	for (size_t i = 0; i < 9; i++)
		expect_row(&h, i, RUN_SKIPPED, REASON_SCHEDULE, T0 + 60 * (int64_t)(i + 1));
	expect_row(&h, 9, RUN_PENDING, REASON_CATCH_UP, T0 + 600);
	cr_assert_eq(count_state(&h, RUN_PENDING), 1);
	cr_assert_eq(s.nruns, 1);
	cr_assert_eq(s.runs[0].reason, REASON_CATCH_UP);
	cr_assert_eq(s.runs[0].scheduled_for, T0 + 600);
	cr_assert_eq(cursor("a"), T0 + 600);
	cr_assert_eq(task("a")->next_fire, T0 + 660);
	free(h.r);

	/* nothing more until the next real fire time */
	fire_at(OUTAGE_END + 5);
	h = history("a");
	cr_assert_eq(h.n, 10);
	free(h.r);
}

Test(sched_tasks, outage_catch_up_all_runs_each_one_after_another)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_ALL);
	apply();
	fire_at(OUTAGE_END);
	struct hist h = history("a");
	cr_assert_eq(h.n, 1, "%zu rows: catch_up=all must create one run at a time", h.n);
	expect_row(&h, 0, RUN_PENDING, REASON_CATCH_UP, T0 + 60);
	cr_assert_eq(cursor("a"), T0 + 60);
	cr_assert_eq(s.nruns, 1);
	free(h.r);

	/* no second one while the first is unfinished, at once or later */
	fire_at(OUTAGE_END);
	fire_at(OUTAGE_END + 1);
	fire_at(OUTAGE_END + 2);
	h = history("a");
	cr_assert_eq(h.n, 1, "%zu rows while the first catch-up run is unfinished", h.n);
	cr_assert_eq(cursor("a"), T0 + 60);
	free(h.r);

	/* each end lets the next missed time run, in order */
	int64_t now = OUTAGE_END + 2;
	for (int k = 2; k <= 10; k++) {
		h = history("a");
		uint64_t last = h.r[h.n - 1].run_id;
		free(h.r);
		finish_run(last);
		now += 1;
		fire_at(now);
		h = history("a");
		cr_assert_eq(h.n, (size_t)k, "after %d ends: %zu rows", k - 1, h.n);
		expect_row(&h, (size_t)k - 1, RUN_PENDING, REASON_CATCH_UP, T0 + 60 * k);
		cr_assert_eq(cursor("a"), T0 + 60 * k);
		cr_assert_eq(s.nruns, 1);
		free(h.r);
	}
	/* all 10 caught up, none skipped; the next one is the real T0+660 */
	h = history("a");
	finish_run(h.r[h.n - 1].run_id);
	free(h.r);
	fire_at(now + 1);
	h = history("a");
	cr_assert_eq(h.n, 10);
	cr_assert_eq(count_state(&h, RUN_SKIPPED), 0);
	cr_assert_eq(count_state(&h, RUN_SUCCEEDED), 10);
	free(h.r);
	fire_at(T0 + 660);
	h = history("a");
	cr_assert_eq(h.n, 11);
	expect_row(&h, 10, RUN_PENDING, REASON_SCHEDULE, T0 + 660);
	free(h.r);
}

/* ---- (c) a long outage: skipped rows are capped -------------------------- */

static void expect_capped_skips(const char *name, const int64_t *times, size_t ntimes)
{
	struct hist h = history(name);
	cr_assert_eq(h.n, 100, "%zu skipped rows, want 100", h.n);
	cr_assert_eq(count_state(&h, RUN_SKIPPED), 100);
	/* the newest 100 are the ones kept */
	for (size_t i = 0; i < 100; i++)
		expect_row(&h, i, RUN_SKIPPED, REASON_SCHEDULE, times[ntimes - 100 + i]);
	cr_assert_eq(s.nruns, 0);
	cr_assert_eq(cursor(name), times[ntimes - 1]);
	free(h.r);

	struct evq q = events("catch_up", name);
	cr_assert_eq(q.n, 1, "%d catch_up events for %s:\n%s", q.n, name, q.buf);
	char more[32];
	snprintf(more, sizeof(more), "%zu more", ntimes - 100);
	cr_assert(strstr(q.buf, more), "event does not count the %zu unrecorded times: %s",
		  ntimes - 100, q.buf);
	cr_assert(strstr(q.buf, "100"), "event: %s", q.buf);
}

Test(sched_tasks, more_than_100_missed_every_form)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_NONE);
	apply();
	int64_t times[150];
	for (int i = 0; i < 150; i++)
		times[i] = T0 + 60 * (i + 1);
	fire_at(times[149] + 30);
	expect_capped_skips("a", times, 150);
}

Test(sched_tasks, more_than_100_missed_cron_form)
{
	add_task("c", "*/2 * * * *", OVERLAP_SKIP, CATCH_UP_NONE);
	apply();
	int64_t times[130];
	struct cron_expr e;
	char err[128];
	cr_assert_eq(cron_parse("*/2 * * * *", "UTC", &e, err, sizeof(err)), 0);
	int64_t f = T0 + 30;
	for (int i = 0; i < 130; i++) {
		cr_assert_eq(cron_next(&e, f, &f), 0);
		times[i] = f;
	}
	fire_at(times[129] + 30);
	expect_capped_skips("c", times, 130);
}

Test(sched_tasks, exactly_100_missed_needs_no_event)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_NONE);
	apply();
	fire_at(T0 + 6000 + 30);
	struct hist h = history("a");
	cr_assert_eq(h.n, 100);
	expect_row(&h, 0, RUN_SKIPPED, REASON_SCHEDULE, T0 + 60);
	expect_row(&h, 99, RUN_SKIPPED, REASON_SCHEDULE, T0 + 6000);
	free(h.r);
	struct evq q = events("catch_up", "a");
	cr_assert_eq(q.n, 0, "%s", q.buf);
}

Test(sched_tasks, more_than_100_missed_with_latest)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();
	fire_at(T0 + 60 * 150 + 30);
	struct hist h = history("a");
	cr_assert_eq(h.n, 101, "%zu rows", h.n);
	cr_assert_eq(count_state(&h, RUN_SKIPPED), 100);
	/* the newest 100 before the last are skipped, the last runs */
	expect_row(&h, 0, RUN_SKIPPED, REASON_SCHEDULE, T0 + 60 * 50);
	expect_row(&h, 99, RUN_SKIPPED, REASON_SCHEDULE, T0 + 60 * 149);
	expect_row(&h, 100, RUN_PENDING, REASON_CATCH_UP, T0 + 60 * 150);
	cr_assert_eq(cursor("a"), T0 + 60 * 150);
	free(h.r);
	struct evq q = events("catch_up", "a");
	cr_assert_eq(q.n, 1);
	cr_assert(strstr(q.buf, "49 more"), "event: %s", q.buf);
}

/* ---- (d) paused tasks ----------------------------------------------------- */

static void set_paused(const char *name, bool paused)
{
	struct sched_task *t = task(name);
	t->paused = paused;
	cr_assert_eq(store_task_set_paused(s.store, name, paused), 0);
	sched_task_rearm(&s, t);
}

Test(sched_tasks, paused_task_fires_nothing_then_catches_up_on_resume)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();
	set_paused("a", true);
	cr_assert_eq(task("a")->next_fire, 0);
	for (int64_t t = T0 + 60; t <= OUTAGE_END; t += 60)
		fire_at(t);
	struct hist h = history("a");
	cr_assert_eq(h.n, 0, "%zu rows while paused", h.n);
	cr_assert_eq(s.nruns, 0);
	cr_assert_eq(cursor("a"), T0 + 30, "cursor moved while paused");
	free(h.r);

	set_paused("a", false);
	cr_assert_eq(task("a")->next_fire, T0 + 60);
	fire_at(OUTAGE_END);
	h = history("a");
	cr_assert_eq(h.n, 10, "%zu rows after resume", h.n);
	cr_assert_eq(count_state(&h, RUN_SKIPPED), 9);
	expect_row(&h, 0, RUN_SKIPPED, REASON_SCHEDULE, T0 + 60);
	expect_row(&h, 9, RUN_PENDING, REASON_CATCH_UP, T0 + 600);
	cr_assert_eq(cursor("a"), T0 + 600);
	free(h.r);
}

Test(sched_tasks, paused_task_resumed_with_catch_up_none)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_NONE);
	apply();
	set_paused("a", true);
	fire_at(OUTAGE_END);
	struct hist h = history("a");
	cr_assert_eq(h.n, 0);
	free(h.r);
	set_paused("a", false);
	fire_at(OUTAGE_END);
	h = history("a");
	cr_assert_eq(h.n, 10);
	cr_assert_eq(count_state(&h, RUN_SKIPPED), 10);
	cr_assert_eq(s.nruns, 0);
	cr_assert_eq(cursor("a"), T0 + 600);
	free(h.r);
}

Test(sched_tasks, paused_in_the_store_stays_paused_at_start)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();
	cr_assert_eq(store_task_set_paused(s.store, "a", true), 0);
	/* a restart: the table is rebuilt from the store */
	apply();
	cr_assert(task("a")->paused);
	cr_assert_eq(task("a")->next_fire, 0);
	fire_at(OUTAGE_END);
	struct hist h = history("a");
	cr_assert_eq(h.n, 0);
	cr_assert_eq(cursor("a"), T0 + 30);
	free(h.r);
}

Test(sched_tasks, short_pause_within_grace_fires_normally_on_resume)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_NONE);
	apply();
	set_paused("a", true);
	fire_at(T0 + 60);
	fire_at(T0 + 65);
	struct hist h = history("a");
	cr_assert_eq(h.n, 0);
	free(h.r);
	set_paused("a", false);
	fire_at(T0 + 65);
	h = history("a");
	cr_assert_eq(h.n, 1);
	expect_row(&h, 0, RUN_PENDING, REASON_SCHEDULE, T0 + 60);
	free(h.r);
}

/* ---- restarts and reloads ---------------------------------------------- */

Test(sched_tasks, restart_keeps_the_cursor_and_catches_up)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();
	fire_at(T0 + 60);
	struct hist h = history("a");
	finish_run(h.r[0].run_id);
	free(h.r);
	/* down from T0+61 to T0+630: a restart re-applies from the store */
	set_now(OUTAGE_END);
	apply();
	cr_assert_eq(cursor("a"), T0 + 60);
	cr_assert_eq(task("a")->next_fire, T0 + 120);
	sched_fire_due(&s);
	h = history("a");
	cr_assert_eq(h.n, 10);
	expect_row(&h, 1, RUN_SKIPPED, REASON_SCHEDULE, T0 + 120);
	expect_row(&h, 8, RUN_SKIPPED, REASON_SCHEDULE, T0 + 540);
	expect_row(&h, 9, RUN_PENDING, REASON_CATCH_UP, T0 + 600);
	free(h.r);
}

Test(sched_tasks, reload_with_a_new_schedule_counts_from_now)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	add_task("b", "every 60s", OVERLAP_SKIP, CATCH_UP_NONE);
	apply();
	set_now(OUTAGE_END);
	/* a changes its schedule, b does not */
	snprintf(defs[0].schedule, sizeof(defs[0].schedule), "every 120s");
	char err[128];
	cr_assert_eq(cron_parse("every 120s", "UTC", &defs[0].cron, err, sizeof(err)), 0);
	apply();
	cr_assert_eq(cursor("a"), OUTAGE_END);
	cr_assert_eq(task("a")->next_fire, T0 + 660); /* multiples of 120 s since the epoch */
	cr_assert_eq(cursor("b"), T0 + 30, "an unchanged task kept its cursor");
	sched_fire_due(&s);
	struct hist ha = history("a"), hb = history("b");
	cr_assert_eq(ha.n, 0, "the old schedule's times were caught up");
	cr_assert_eq(hb.n, 10);
	free(ha.r);
	free(hb.r);
}

Test(sched_tasks, restart_with_a_new_schedule_counts_from_now)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();
	/* the file changed while the scheduler was down */
	set_now(OUTAGE_END);
	snprintf(defs[0].schedule, sizeof(defs[0].schedule), "every 120s");
	char err[128];
	cr_assert_eq(cron_parse("every 120s", "UTC", &defs[0].cron, err, sizeof(err)), 0);
	apply();
	cr_assert_eq(cursor("a"), OUTAGE_END);
	sched_fire_due(&s);
	struct hist h = history("a");
	cr_assert_eq(h.n, 0, "times of the old expression were caught up");
	free(h.r);
}

Test(sched_tasks, removed_and_added_again_owes_no_catch_up)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	add_task("b", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();
	/* a leaves the files for 10 minutes */
	struct task_def a = defs[0];
	defs[0] = defs[1];
	ndefs = 1;
	apply();
	cr_assert_null(sched_task_find(&s, "a"));
	set_now(OUTAGE_END);
	sched_fire_due(&s);
	/* and comes back */
	defs[1] = defs[0];
	defs[0] = a;
	ndefs = 2;
	apply();
	cr_assert_eq(cursor("a"), OUTAGE_END);
	sched_fire_due(&s);
	struct hist h = history("a");
	cr_assert_eq(h.n, 0, "%zu rows for the time a did not exist", h.n);
	free(h.r);
	fire_at(T0 + 660);
	h = history("a");
	cr_assert_eq(h.n, 1);
	expect_row(&h, 0, RUN_PENDING, REASON_SCHEDULE, T0 + 660);
	free(h.r);
}

/*
 * catch_up=latest runs the newest fire time up to now, even one that is
 * still inside the grace period: an outage ending 5 s after T0+600 skips
 * T0+60..T0+540 and runs T0+600 (not T0+540, which would then make T0+600
 * a skipped overlap).
 */
Test(sched_tasks, latest_after_an_outage_ending_inside_the_grace)
{
	add_task("a", "every 60s", OVERLAP_SKIP, CATCH_UP_LATEST);
	apply();
	fire_at(T0 + 605);
	struct hist h = history("a");
	cr_assert_eq(h.n, 10, "%zu rows", h.n);
	for (size_t i = 0; i < 9; i++)
		cr_assert_eq(h.r[i].state, RUN_SKIPPED, "T0%+lld was not skipped",
			     (long long)(h.r[i].scheduled_for - T0));
	cr_assert_eq(h.r[9].scheduled_for, T0 + 600);
	cr_assert_eq(h.r[9].state, RUN_PENDING, "the newest time T0+600 did not run");
	free(h.r);
}

/* ---- many tasks waiting at once ------------------------------------------ */

/* Any number of tasks can wait under catch_up=all in one pass (each is
 * looked at again a second later) and the pass returns. */
Test(sched_tasks, more_than_64_tasks_waiting_for_catch_up_all)
{
	char name[16];
	for (int i = 0; i < 65; i++) {
		snprintf(name, sizeof(name), "t%02d", i);
		add_task(name, "every 60s", OVERLAP_SKIP, CATCH_UP_ALL);
	}
	apply();
	fire_at(OUTAGE_END);
	cr_assert_eq(s.nruns, 65);
	for (int i = 0; i < 65; i++) {
		snprintf(name, sizeof(name), "t%02d", i);
		struct hist h = history(name);
		cr_assert_eq(h.n, 1);
		expect_row(&h, 0, RUN_PENDING, REASON_CATCH_UP, T0 + 60);
		free(h.r);
	}
}

Test(sched_tasks, up_to_64_tasks_waiting_for_catch_up_all)
{
	char name[16];
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "t%02d", i);
		add_task(name, "every 60s", OVERLAP_SKIP, CATCH_UP_ALL);
	}
	apply();
	fire_at(OUTAGE_END);
	cr_assert_eq(s.nruns, 64);
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "t%02d", i);
		struct hist h = history(name);
		cr_assert_eq(h.n, 1);
		expect_row(&h, 0, RUN_PENDING, REASON_CATCH_UP, T0 + 60);
		cr_assert_eq(cursor(name), T0 + 60);
		free(h.r);
	}
}
