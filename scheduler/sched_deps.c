/*
 * sched_deps.c - `after` and `priority`: when a pending run may go, which
 * runs can never go, and in which order ready runs take free slots.
 *
 * A schedule cycle is the set of runs that fall due for one instant (their
 * scheduled_for).  A run the schedule or a catch-up made for task B, with
 * `after = A`, waits until A's run of the same cycle has succeeded,
 * finally: A's newest attempt in the cycle decides (a failed attempt whose
 * retry is owed already has its retry run, created in the transaction that
 * recorded the failure, so "the newest attempt" is always the truth).
 *
 *   A's newest run in the cycle       B's run
 *   pending or active                 waits
 *   succeeded                         A holds it no longer
 *   failed, timed_out, cancelled,     skipped, "dependency A failed (run N)",
 *   lost, skipped                     (and so on down: C after B is skipped
 *                                     in the same dispatch pass)
 *   none, A not due at that instant   A does not hold it
 *   none, A due but its cursor is     waits ("A (not fired yet)", or
 *     before the instant              "A (paused)": resumed, A's catch-up
 *                                     policy decides its run or skip row)
 *   none, A due, cursor past it,      skipped, "dependency A missed (fire
 *     A defined as now before it      time not run)": A's cursor moved over
 *                                     the instant without a row (a catch-up
 *                                     past CATCH_UP_ROWS_MAX counts the
 *                                     older times in one event)
 *   none, A due, cursor past it,      A does not hold it (A was added, or
 *     A defined (changed) after it    changed, after the instant)
 *
 * Manual runs, triggered runs and retries do not wait: a retry continues
 * an attempt whose dependencies were met (or a manual run's), and a
 * manual or triggered run is someone saying "now".  That includes a
 * scheduled run a trigger joined while it waited (runs.triggers > 0,
 * kept in sched_run.triggers): it answers an acknowledged trigger, so it
 * goes as soon as it may and is never skipped for a dependency (the
 * store refuses that skip too, store_run_skip_pending).  Nothing here
 * creates a run; a skip is the store's pending -> skipped transition.  Whether a run's dependencies
 * are met is memory only and derived again from the store's runs after a
 * restart (deps_met starts false and the first pass re-reads).
 *
 * Order (sched_run_order): higher priority first; then the run of the task
 * with the longest chain of dependants below it, then the most dependants
 * (directly or not); then the oldest run.  The metrics are computed once
 * per task set (sched_deps_rebuild), not per dispatch.
 *
 * Every pending run carries in `wait` why it has not been dispatched in
 * the last pass (paused, behind the active run, retry backoff,
 * dependencies, labels, slots); `schedctl tasks` shows it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "sched.h"

/* Copy the next name of a normalized "a,b" list into name; returns where
 * the rest starts ("" at the end). */
static const char *next_name(const char *p, char name[static TASK_NAME_MAX + 1])
{
	size_t n = strcspn(p, ",");
	size_t k = n > TASK_NAME_MAX ? TASK_NAME_MAX : n;
	memcpy(name, p, k);
	name[k] = '\0';
	return p[n] == ',' ? p + n + 1 : p + n;
}

/* ---- graph metrics ------------------------------------------------------ */

/*
 * Fill dep_chain and dep_total of every task from the `after` graph of
 * the current set.  The loader refused cycles; should one get here anyway
 * its tasks keep 0 (order falls back to priority and age).  Out of
 * memory leaves every metric 0 and says so: dispatch stays correct, only
 * the tie-break is lost.
 */
void sched_deps_rebuild(struct sched *s)
{
	size_t n = s->ntasks, nedges = 0;
	char name[TASK_NAME_MAX + 1];

	for (size_t i = 0; i < n; i++) {
		s->tasks[i].dep_chain = 0;
		s->tasks[i].dep_total = 0;
		for (const char *p = s->tasks[i].def.after; *p;) {
			p = next_name(p, name);
			nedges += sched_task_find(s, name) != NULL;
		}
	}
	if (nedges == 0)
		return;
	/* Dependants of j: down[start[j] .. start[j + 1]). */
	size_t *start = calloc(n + 1, sizeof(*start));
	size_t *down = calloc(nedges, sizeof(*down));
	size_t *fill = calloc(n + 1, sizeof(*fill));
	size_t *indeg = calloc(n + 1, sizeof(*indeg));
	size_t *order = calloc(n + 1, sizeof(*order));
	size_t *stamp = calloc(n + 1, sizeof(*stamp));
	if (!start || !down || !fill || !indeg || !order || !stamp) {
		log_warnx("out of memory ordering tasks by their dependants");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		for (const char *p = s->tasks[i].def.after; *p;) {
			p = next_name(p, name);
			struct sched_task *d = sched_task_find(s, name);
			if (d) {
				start[(size_t)(d - s->tasks) + 1]++;
				indeg[i]++;
			}
		}
	}
	for (size_t j = 0; j < n; j++)
		start[j + 1] += start[j];
	for (size_t i = 0; i < n; i++) {
		for (const char *p = s->tasks[i].def.after; *p;) {
			p = next_name(p, name);
			struct sched_task *d = sched_task_find(s, name);
			if (d) {
				size_t j = (size_t)(d - s->tasks);
				down[start[j] + fill[j]++] = i;
			}
		}
	}
	/* Dependencies before dependants (Kahn); then the chains bottom up. */
	size_t head = 0, tail = 0;
	for (size_t i = 0; i < n; i++)
		if (indeg[i] == 0)
			order[tail++] = i;
	while (head < tail) {
		size_t u = order[head++];
		for (size_t k = start[u]; k < start[u + 1]; k++)
			if (--indeg[down[k]] == 0)
				order[tail++] = down[k];
	}
	for (size_t o = tail; o-- > 0;) {
		size_t u = order[o];
		for (size_t k = start[u]; k < start[u + 1]; k++)
			if (s->tasks[down[k]].dep_chain + 1 > s->tasks[u].dep_chain)
				s->tasks[u].dep_chain = s->tasks[down[k]].dep_chain + 1;
	}
	/* Transitive dependants: a walk from each task, marks stamped u + 1
	 * (order[] is free again and serves as the walk's stack). */
	for (size_t u = 0; u < n; u++) {
		size_t top = 0;
		int count = 0;
		order[top++] = u;
		stamp[u] = u + 1;
		while (top > 0) {
			size_t v = order[--top];
			for (size_t k = start[v]; k < start[v + 1]; k++) {
				size_t w = down[k];
				if (stamp[w] == u + 1)
					continue;
				stamp[w] = u + 1;
				count++;
				order[top++] = w;
			}
		}
		s->tasks[u].dep_total = count;
	}
out:
	free(stamp);
	free(order);
	free(indeg);
	free(fill);
	free(down);
	free(start);
}

/* ---- dependencies of one run ------------------------------------------- */

enum dep_verdict { DEP_MET, DEP_WAIT, DEP_SKIP };

/* Only runs the schedule made wait for their cycle's dependencies, and
 * not once a trigger joined them: a run that answers a trigger goes as
 * soon as it may (and is never skipped for a dependency). */
static bool waits_for_deps(const struct sched_task *t, const struct sched_run *r)
{
	return t && t->def.after[0] && r->triggers == 0 &&
	       (r->reason == REASON_SCHEDULE || r->reason == REASON_CATCH_UP);
}

/* Is the tracked run r task's run of the cycle scheduled_for?  A retry
 * is only if it continues a run the schedule made (it copies the
 * scheduled_for of a manual or trigger run too): the store decides that,
 * as for finished runs (store_run_of_cycle). */
static bool in_cycle(struct sched *s, const struct sched_run *r, const char *task,
		     int64_t scheduled_for)
{
	if (r->scheduled_for != scheduled_for || strcmp(r->task, task) != 0)
		return false;
	if (r->reason == REASON_SCHEDULE || r->reason == REASON_CATCH_UP)
		return true;
	if (r->reason != REASON_RETRY)
		return false;
	struct store_run sr;
	int rc = store_run_of_cycle(s->store, task, scheduled_for, &sr);
	return rc != 0 && (rc < 0 || sr.run_id == r->run_id); /* unreadable: it holds */
}

/* Append "name (what)" (fmt: prefix, name, what) to a list; a list too
 * long for buf is cut, which is fine for a text shown to people.
 * Returns whether it fitted whole. */
static bool append(char *buf, size_t len, const char *fmt, const char *name, const char *what)
{
	size_t l = strlen(buf);
	if (l + 1 >= len)
		return false;
	int n = snprintf(buf + l, len - l, fmt, l ? ", " : "", name, what);
	return n >= 0 && (size_t)n < len - l;
}

/*
 * What dependency `name` says about the run r of cycle T: DEP_MET (it
 * does not hold r), DEP_WAIT (appends "name (why)" to why) or DEP_SKIP
 * (why = "dependency name failed (run N)").
 */
static enum dep_verdict dep_state(struct sched *s, const struct sched_run *r, const char *name,
				  char *why, size_t len)
{
	int64_t T = r->scheduled_for;
	struct sched_task *a = sched_task_find(s, name);
	char what[64];
	if (!a)
		return DEP_MET; /* not in the set (the loader refuses this) */
	for (size_t i = 0; i < s->nruns; i++) {
		const struct sched_run *x = &s->runs[i];
		if (run_state_terminal(x->state) || !in_cycle(s, x, name, T))
			continue;
		if (a->paused && x->state == RUN_PENDING)
			snprintf(what, sizeof(what), "paused");
		else
			snprintf(what, sizeof(what), "run %llu %s", (unsigned long long)x->run_id,
				 run_state_name(x->state));
		append(why, len, "%s%s (%s)", name, what);
		return DEP_WAIT;
	}
	struct store_run sr;
	int rc = store_run_of_cycle(s->store, name, T, &sr);
	if (rc < 0) {
		append(why, len, "%s%s (%s)", name, "store unreadable");
		return DEP_WAIT;
	}
	if (rc == 1) {
		if (sr.state == RUN_SUCCEEDED)
			return DEP_MET;
		if (!run_state_terminal(sr.state)) {
			snprintf(what, sizeof(what), "run %llu %s", (unsigned long long)sr.run_id,
				 run_state_name(sr.state));
			append(why, len, "%s%s (%s)", name, what);
			return DEP_WAIT;
		}
		snprintf(why, len, "dependency %s %s (run %llu)", name,
			 sr.state == RUN_SKIPPED ? "skipped" : run_state_name(sr.state),
			 (unsigned long long)sr.run_id);
		return DEP_SKIP;
	}
	int64_t f;
	bool due = cron_next(&a->def.cron, T - 1, &f) == 0 && f == T;
	if (!due)
		return DEP_MET;
	if (a->cursor < T) {
		append(why, len, "%s%s (%s)", name, a->paused ? "paused" : "not fired yet");
		return DEP_WAIT;
	}
	/* A's cursor is past T and T has no row of A.  If A had its present
	 * definition before T, T was one of its fire times and was passed
	 * over (counted in a catch-up event, not run): the cycle's A never
	 * ran.  If A was added or changed since, its cursor started after T
	 * and T was never A's (any change counts: when only the command
	 * changed, such a T is let go, as before). */
	int64_t since_ms;
	rc = store_task_defined_ms(s->store, name, &since_ms);
	if (rc < 0 && rc != -ENOENT) {
		append(why, len, "%s%s (%s)", name, "store unreadable");
		return DEP_WAIT;
	}
	if (rc == 0 && since_ms < T * 1000) {
		snprintf(why, len, "dependency %s missed (fire time not run)", name);
		return DEP_SKIP;
	}
	return DEP_MET;
}

static enum dep_verdict deps_of(struct sched *s, const struct sched_task *t,
				const struct sched_run *r, char *why, size_t len)
{
	char name[TASK_NAME_MAX + 1];
	enum dep_verdict v = DEP_MET;
	why[0] = '\0';
	for (const char *p = t->def.after; *p;) {
		p = next_name(p, name);
		char one[128];
		one[0] = '\0';
		switch (dep_state(s, r, name, one, sizeof(one))) {
		case DEP_SKIP:
			snprintf(why, len, "%s", one);
			return DEP_SKIP;
		case DEP_WAIT:
			append(why, len, "%s%s%s", "", one);
			v = DEP_WAIT;
			break;
		case DEP_MET:
			break;
		}
	}
	return v;
}

/*
 * Settle the dependencies of every pending run that waits for them: mark
 * the ones whose dependencies all succeeded (deps_met), record why the
 * others wait (in wait), and skip in the store those with a failed or
 * skipped dependency.  A skip can doom runs that depend on the skipped
 * one, so this repeats until a pass skips nothing (each repeat skips at
 * least one run, so it ends).  Skipped runs are left in s->runs with
 * state RUN_SKIPPED for the caller to forget.
 */
void sched_deps_settle(struct sched *s, int64_t now_ms)
{
	bool again = true;
	while (again) {
		again = false;
		for (size_t i = 0; i < s->nruns; i++) {
			struct sched_run *r = &s->runs[i];
			if (r->state != RUN_PENDING || r->deps_met)
				continue;
			struct sched_task *t = sched_task_find(s, r->task);
			if (!waits_for_deps(t, r))
				continue;
			char why[256];
			switch (deps_of(s, t, r, why, sizeof(why))) {
			case DEP_MET:
				r->deps_met = true;
				break;
			case DEP_WAIT:
				snprintf(r->wait, sizeof(r->wait), "waiting for %s", why);
				break;
			case DEP_SKIP: {
				int rc = store_run_skip_pending(s->store, r->run_id, why, now_ms);
				struct store_run sr;
				if (rc == 0) {
					log_info("run %llu of %s skipped: %s",
						 (unsigned long long)r->run_id, r->task, why);
					r->state = RUN_SKIPPED;
					again = true;
				} else if ((rc == -ESTALE || rc == -EBUSY) &&
					   store_run_get(s->store, r->run_id, &sr) == 0) {
					/* moved on meanwhile, or a trigger joined it */
					r->state = sr.state;
					r->triggers = sr.triggers;
				} else {
					log_warnx("run %llu of %s: could not record its skip (%s)",
						  (unsigned long long)r->run_id, r->task,
						  strerror(-rc));
					snprintf(r->wait, sizeof(r->wait), "%s; skip not recorded",
						 why);
				}
				break;
			}
			}
		}
	}
}

/* ---- readiness and order ------------------------------------------------ */

static const struct sched_run *active_of(const struct sched *s, const char *task)
{
	for (size_t i = 0; i < s->nruns; i++)
		if (run_state_active(s->runs[i].state) && strcmp(s->runs[i].task, task) == 0)
			return &s->runs[i];
	return NULL;
}

/*
 * May the pending run r be dispatched now, slots and labels aside?  If
 * not, r->wait says why (the dependency text was set by
 * sched_deps_settle earlier in the same pass).  A ready run gets an
 * empty wait; the dispatcher fills it if no worker takes the run.
 */
bool sched_run_ready(struct sched *s, struct sched_run *r, int64_t now_ms)
{
	struct sched_task *t = sched_task_find(s, r->task);
	const struct sched_run *act;
	if (!t) {
		snprintf(r->wait, sizeof(r->wait), "task removed (schedctl cancel drops the run)");
		return false; /* operators can cancel it */
	}
	if (t->paused) {
		snprintf(r->wait, sizeof(r->wait), "paused");
		return false;
	}
	if ((act = active_of(s, r->task)) != NULL) {
		/* queued behind the task's active run (overlap = queue) */
		snprintf(r->wait, sizeof(r->wait), "behind the active run %llu",
			 (unsigned long long)act->run_id);
		return false;
	}
	if (r->not_before_ms > now_ms) {
		char at[40];
		cron_format_time((r->not_before_ms + 999) / 1000, "UTC", at, sizeof(at));
		snprintf(r->wait, sizeof(r->wait), "retry backoff until %s", at);
		return false;
	}
	if (waits_for_deps(t, r) && !r->deps_met)
		return false;
	r->wait[0] = '\0';
	return true;
}

/* qsort_r comparator over struct sched_run *: the dispatch order. */
int sched_run_order(const void *a, const void *b, void *arg)
{
	struct sched *s = arg;
	const struct sched_run *x = *(const struct sched_run *const *)a;
	const struct sched_run *y = *(const struct sched_run *const *)b;
	const struct sched_task *tx = sched_task_find(s, x->task);
	const struct sched_task *ty = sched_task_find(s, y->task);
	int px = tx ? tx->def.priority : 0, py = ty ? ty->def.priority : 0;
	if (px != py)
		return py - px;
	int cx = tx ? tx->dep_chain : 0, cy = ty ? ty->dep_chain : 0;
	if (cx != cy)
		return cy - cx;
	int nx = tx ? tx->dep_total : 0, ny = ty ? ty->dep_total : 0;
	if (nx != ny)
		return ny - nx;
	return x->run_id < y->run_id ? -1 : x->run_id > y->run_id;
}
