/*
 * sched_tasks.c - task definitions and their due times.
 *
 * Each task has a persistent cursor: the last fire time whose fate is
 * recorded (a run was created, or a skipped row says why not).  Fire times
 * after the cursor are due; they are processed in order and the cursor
 * moves in the same transaction as the run or skip row it produced
 * (store_run_create), so a crash at any point neither loses a fire time
 * nor creates a run twice.
 *
 * A fire time later than `catch_up_grace` behind the clock fell due while
 * the scheduler was down (or stopped), and the task's catch_up policy
 * decides:  none  - every missed time is recorded as skipped;
 *           latest - all but the newest are skipped, the newest runs;
 *           all   - each runs, one after another (the next is created when
 *                   the task has no unfinished run).
 * Skipped rows for one catch-up are capped (CATCH_UP_ROWS_MAX); the rest
 * are counted in one event, so a long outage cannot flood the history.
 *
 * A paused task keeps its cursor: on resume, the fire times it missed are
 * handled by the same catch-up policy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "sched.h"

#define CATCH_UP_ROWS_MAX 100

struct sched_task *sched_task_find(struct sched *s, const char *name)
{
	size_t lo = 0, hi = s->ntasks;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->tasks[mid].def.name, name);
		if (c == 0)
			return &s->tasks[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Heap entries carry the task index and a generation: re-arming bumps the
 * generation, which turns the older entry into a no-op. */
struct due_ref {
	size_t index;
	uint64_t gen;
};

void sched_task_rearm(struct sched *s, struct sched_task *t)
{
	t->heap_gen++;
	t->next_fire = 0;
	if (t->paused)
		return;
	int64_t next;
	if (cron_next(&t->def.cron, t->cursor, &next) < 0) {
		log_warnx("task %s: schedule '%s' has no future fire time", t->def.name,
			  t->def.schedule);
		return;
	}
	struct due_ref *ref = malloc(sizeof(*ref));
	if (!ref)
		fatalx("out of memory");
	ref->index = (size_t)(t - s->tasks);
	ref->gen = t->heap_gen;
	t->next_fire = next;
	if (heap_push(&s->due, next, ref) < 0)
		fatalx("out of memory");
}

static void due_clear(struct heap *h)
{
	struct heap_item it;
	while (heap_pop(h, &it) == 0)
		free(it.data);
}

void sched_tasks_free(struct sched *s)
{
	due_clear(&s->due);
	heap_free(&s->due);
	free(s->tasks);
	s->tasks = NULL;
	s->ntasks = 0;
}

static bool unfinished_run_of(struct sched *s, const char *task)
{
	for (size_t i = 0; i < s->nruns; i++)
		if (strcmp(s->runs[i].task, task) == 0)
			return true;
	return false;
}

/* A run the store just created: track it if it waits for dispatch, and
 * log what happened either way. */
void sched_track_created(struct sched *s, const struct store_run_new *rn,
			 const struct store_run_created *out)
{
	if (out->state == RUN_PENDING) {
		struct sched_run r = {
			.run_id = out->run_id,
			.token = out->token,
			.state = RUN_PENDING,
			.reason = rn->reason,
			.attempt = rn->attempt,
			.scheduled_for = rn->scheduled_for,
			.created_ms = rn->now_ms,
			.not_before_ms = rn->not_before_ms,
		};
		snprintf(r.task, sizeof(r.task), "%s", rn->task);
		if (sched_run_track(s, &r) < 0)
			fatalx("out of memory");
		log_info("task %s: run %llu created (%s, attempt %d, token %llu)", rn->task,
			 (unsigned long long)out->run_id, run_reason_name(rn->reason), rn->attempt,
			 (unsigned long long)out->token);
	} else {
		log_info("task %s: fire time %lld skipped (run %llu still unfinished, overlap=%s)",
			 rn->task, (long long)rn->scheduled_for,
			 (unsigned long long)out->blocking_run_id, task_overlap_name(rn->overlap));
	}
}

int sched_run_create(struct sched *s, struct sched_task *t, enum run_reason reason,
		     int64_t scheduled_for, int attempt, bool record_skip, int64_t cursor,
		     int64_t not_before_ms, struct store_run_created *out)
{
	struct store_run_new rn = {
		.task = t->def.name,
		.reason = reason,
		.scheduled_for = scheduled_for,
		.attempt = attempt,
		.overlap = t->def.overlap,
		.record_skip = record_skip,
		.cursor_s = cursor,
		.now_ms = clock_wall_ms(),
		.not_before_ms = not_before_ms,
	};
	int rc = store_run_create(s->store, &rn, out);
	if (rc < 0)
		return rc;
	if (cursor > 0)
		t->cursor = cursor;
	sched_track_created(s, &rn, out);
	return 0;
}

/* Fire times in (t->cursor, limit], counted, with the last one in *last.
 * Stops counting at `cap` + 1 for cron (each step is a search). */
static int64_t count_missed(const struct sched_task *t, int64_t limit, int64_t *last,
			    int64_t *first)
{
	const struct cron_expr *e = &t->def.cron;
	int64_t f;
	*last = *first = 0;
	if (cron_next(e, t->cursor, &f) < 0 || f > limit)
		return 0;
	*first = f;
	if (e->every) {
		int64_t n = (limit - f) / e->every_s + 1;
		*last = f + (n - 1) * e->every_s;
		return n;
	}
	int64_t n = 0;
	while (f <= limit) {
		n++;
		*last = f;
		if (cron_next(e, f, &f) < 0)
			break;
	}
	return n;
}

/*
 * Record the `count` missed fire times in (cursor, upto] as skipped: the
 * newest CATCH_UP_ROWS_MAX get a row each, the older ones one event.  Each
 * row moves the cursor with it (store_run_skip); if a write fails, the
 * cursor stays at the last time recorded and the rest is retried later.
 */
static void skip_missed(struct sched *s, struct sched_task *t, int64_t upto, int64_t count,
			const char *why)
{
	int64_t f = t->cursor, now_ms = clock_wall_ms();
	int64_t rows = count < CATCH_UP_ROWS_MAX ? count : CATCH_UP_ROWS_MAX;
	int64_t skip_first = count - rows;
	/* Walk to the first time that gets a row; the ones before it are
	 * accounted for by an event, written first. */
	int64_t first_f = 0, last_unrowed = t->cursor;
	for (int64_t i = 0; i < skip_first; i++) {
		if (t->def.cron.every) {
			cron_next(&t->def.cron, f, &first_f);
			last_unrowed = first_f + (skip_first - 1) * t->def.cron.every_s;
			break;
		}
		if (cron_next(&t->def.cron, f, &f) < 0)
			break;
		if (i == 0)
			first_f = f;
		last_unrowed = f;
	}
	if (skip_first > 0) {
		char a[40], b[40];
		cron_format_time(first_f, "UTC", a, sizeof(a));
		cron_format_time(last_unrowed, "UTC", b, sizeof(b));
		char msg[512];
		snprintf(msg, sizeof(msg),
			 "%lld more fire times, from %s to %s, were missed (%s); the %lld after "
			 "them are recorded as skipped runs",
			 (long long)skip_first, a, b, why, (long long)rows);
		if (store_task_set_cursor_noted(s->store, t->def.name, last_unrowed, now_ms,
						"catch_up", msg) < 0)
			return; /* nothing written: retried later */
		t->cursor = last_unrowed;
	}
	for (f = t->cursor; cron_next(&t->def.cron, f, &f) == 0 && f <= upto;) {
		uint64_t id;
		if (store_run_skip(s->store, t->def.name, REASON_SCHEDULE, f, f, now_ms, why,
				   &id) < 0) {
			log_warnx("task %s: could not record skipped fire time %lld; retrying",
				  t->def.name, (long long)f);
			return;
		}
		t->cursor = f;
	}
}

/*
 * The task's next fire time is older than the grace period.  none: skip
 * every fire time up to now - grace (later ones are on time);  latest: the
 * newest fire time up to now runs, all older ones are skipped;  all: the
 * oldest runs, when the task has no unfinished run.
 */
static void catch_up(struct sched *s, struct sched_task *t, int64_t now, int64_t grace)
{
	int64_t limit = t->def.catch_up == CATCH_UP_LATEST ? now : now - grace;
	int64_t first, last;
	int64_t n = count_missed(t, limit, &last, &first);
	if (n == 0)
		return;
	struct store_run_created out;
	char why[128];
	switch (t->def.catch_up) {
	case CATCH_UP_NONE:
		snprintf(why, sizeof(why), "missed while the scheduler was not running (catch_up=none)");
		log_info("task %s: %lld missed fire time(s) recorded as skipped", t->def.name,
			 (long long)n);
		skip_missed(s, t, last, n, why);
		break;
	case CATCH_UP_LATEST:
		if (n > 1) {
			int64_t before_last = last - t->def.cron.every_s, f = t->cursor;
			if (!t->def.cron.every)
				for (int64_t i = 0; i < n - 1 && cron_next(&t->def.cron, f, &f) == 0; i++)
					before_last = f;
			snprintf(why, sizeof(why),
				 "missed while the scheduler was not running (catch_up=latest runs only the newest)");
			skip_missed(s, t, before_last, n - 1, why);
			if (t->cursor != before_last)
				return; /* a write failed: retried later */
		}
		log_info("task %s: catching up the newest missed fire time", t->def.name);
		if (sched_run_create(s, t, REASON_CATCH_UP, last, 1, true, last, 0, &out) < 0)
			log_warnx("task %s: could not create catch-up run", t->def.name);
		break;
	case CATCH_UP_ALL:
		/* One at a time: the next missed time waits for this run to end. */
		if (unfinished_run_of(s, t->def.name))
			return;
		if (sched_run_create(s, t, REASON_CATCH_UP, first, 1, true, first, 0, &out) < 0)
			log_warnx("task %s: could not create catch-up run", t->def.name);
		break;
	}
}

/* Look at t again at `when` (Unix s) without moving its cursor: it waits
 * (catch_up=all behind an unfinished run) or its fire failed to record. */
static void defer(struct sched *s, struct sched_task *t, int64_t when)
{
	t->heap_gen++;
	struct due_ref *ref = malloc(sizeof(*ref));
	if (!ref)
		fatalx("out of memory");
	ref->index = (size_t)(t - s->tasks);
	ref->gen = t->heap_gen;
	if (heap_push(&s->due, when, ref) < 0)
		fatalx("out of memory");
}

void sched_fire_due(struct sched *s)
{
	int64_t now = clock_wall_ms() / 1000;
	int64_t grace = s->opt.catch_up_grace_ms / 1000;
	struct heap_item it;
	const struct heap_item *top;
	/* Deferred entries are keyed now + 1, so this loop never sees them
	 * again in the same pass. */
	while ((top = heap_peek(&s->due)) && top->key <= now) {
		heap_pop(&s->due, &it);
		struct due_ref *ref = it.data;
		struct sched_task *t = ref->index < s->ntasks ? &s->tasks[ref->index] : NULL;
		bool live = t && ref->gen == t->heap_gen && !t->paused;
		free(ref);
		if (!live)
			continue;
		if (now - t->next_fire > grace) {
			int64_t before = t->cursor;
			catch_up(s, t, now, grace);
			if (t->cursor == before) {
				defer(s, t, now + 1);
				continue;
			}
		} else {
			struct store_run_created out;
			int64_t f = t->next_fire;
			if (sched_run_create(s, t, REASON_SCHEDULE, f, 1, true, f, 0, &out) < 0) {
				log_warnx("task %s: could not record fire time %lld; retrying",
					  t->def.name, (long long)f);
				defer(s, t, now + 1);
				continue;
			}
		}
		sched_task_rearm(s, t);
	}
}

/* Tasks of ts whose schedule or time zone differs from what the store
 * has: fire times after their cursor belong to the old expression. */
struct changed_ctx {
	const struct task_set *ts;
	bool *changed;  /* indexed like ts->tasks */
};

static int mark_changed(void *arg, const struct store_task_row *row)
{
	struct changed_ctx *c = arg;
	const struct task_def *d = task_set_find(c->ts, row->name);
	if (d && !row->removed &&
	    (strcmp(d->schedule, row->schedule) != 0 || strcmp(d->cron.tz, row->timezone) != 0))
		c->changed[d - c->ts->tasks] = true;
	return 0;
}

/*
 * Make ts the live definitions: sync the store (one transaction), then
 * rebuild the in-memory table and the due heap from the stored state.
 * Fire times missed while down are left for the catch-up rule; but a task
 * whose schedule changed (on reload, or while the scheduler was down)
 * counts from now: the old expression's times never existed under the new.
 */
int sched_tasks_apply(struct sched *s, const struct task_set *ts, char *err, size_t errlen)
{
	int64_t now_ms = clock_wall_ms();
	struct changed_ctx cc = {ts, calloc(ts->n ? ts->n : 1, sizeof(bool))};
	struct sched_task *nt = calloc(ts->n ? ts->n : 1, sizeof(*nt));
	if (!cc.changed || !nt) {
		free(cc.changed);
		free(nt);
		return -ENOMEM;
	}
	struct store_sync_result res;
	int rc = store_tasks_list(s->store, true, mark_changed, &cc);
	if (rc == 0)
		rc = store_sync_tasks(s->store, ts, now_ms / 1000, &res, err, errlen);
	if (rc < 0) {
		free(cc.changed);
		free(nt);
		return rc;
	}
	for (size_t i = 0; i < ts->n; i++) {
		struct sched_task *t = &nt[i];
		t->def = ts->tasks[i];
		struct store_task_state st;
		if (store_task_state(s->store, t->def.name, &st) == 0) {
			t->paused = st.paused;
			t->cursor = st.cursor_s;
		} else {
			t->cursor = now_ms / 1000;
		}
		if (cc.changed[i] && t->cursor < now_ms / 1000) {
			t->cursor = now_ms / 1000;
			store_task_set_cursor(s->store, t->def.name, t->cursor);
		}
	}
	free(cc.changed);
	sched_tasks_free(s);
	heap_init(&s->due);
	s->tasks = nt;
	s->ntasks = ts->n;
	for (size_t i = 0; i < s->ntasks; i++)
		sched_task_rearm(s, &s->tasks[i]);
	sched_deps_rebuild(s); /* dispatch order follows the new `after` graph */
	log_info("tasks: %d added, %d changed, %d removed, %d unchanged", res.added, res.changed,
		 res.removed, res.unchanged);
	return 0;
}

int sched_reload(struct sched *s, char *msg, size_t msglen)
{
	struct task_set ts = {0};
	char *errors = NULL;
	int rc = taskfile_load_dir(s->opt.tasks_dir, &ts, &errors);
	if (rc < 0) {
		/* one error per line; no trailing newline in status and replies */
		for (size_t n = errors ? strlen(errors) : 0; n > 0 && errors[n - 1] == '\n'; n--)
			errors[n - 1] = '\0';
		s->reload_failures++;
		snprintf(s->last_reload_error, sizeof(s->last_reload_error), "%s",
			 errors ? errors : strerror(-rc));
		snprintf(msg, msglen, "reload refused, nothing changed:\n%s",
			 errors ? errors : strerror(-rc));
		log_warnx("reload of %s refused, the previous tasks keep running:\n%s",
			  s->opt.tasks_dir, errors ? errors : strerror(-rc));
		store_event(s->store, clock_wall_ms(), "reload_failed", NULL, 0, NULL, "%s",
			    errors ? errors : strerror(-rc));
		free(errors);
		return -EINVAL;
	}
	char err[256] = "";
	rc = sched_tasks_apply(s, &ts, err, sizeof(err));
	task_set_free(&ts);
	if (rc < 0) {
		s->reload_failures++;
		snprintf(msg, msglen, "reload failed, nothing changed: %s", err);
		log_warnx("reload failed, nothing changed: %s", err);
		return rc;
	}
	s->reloads++;
	s->last_reload_error[0] = '\0';
	snprintf(msg, msglen, "reloaded %zu task(s) from %s", s->ntasks, s->opt.tasks_dir);
	store_event(s->store, clock_wall_ms(), "reload", NULL, 0, NULL, "%zu tasks", s->ntasks);
	return 0;
}
