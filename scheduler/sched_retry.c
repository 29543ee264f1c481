/*
 * sched_retry.c - retries: which ended attempt is owed another one, how
 * long it waits, and where it should not go.
 *
 * Backoff: the wait before attempt n+1 (after attempt n failed or timed
 * out) starts from the task's retry_backoff and doubles per attempt, up
 * to retry_backoff_max:  d(n) = min(retry_backoff * 2^(n-1), max).  The
 * wait is "equal jitter": half of d fixed, the other half random,
 * uniformly in [d/2, d).  The fixed half keeps the growth visible (the
 * wait before attempt n+2 is never shorter than the one before n+1,
 * until the cap), the random half keeps tasks that failed together from
 * retrying in lockstep.  A lost attempt (its node was fenced) counts as
 * an attempt but did not fail: its retry goes at once.
 *
 * Placement: a retry prefers any other node than the one the previous
 * attempt ran on (failed, timed out or lost there); pick_worker() in
 * sched_dispatch.c falls back to that node only when no other node can
 * take it now.  The node is remembered in memory (sched_run.avoid) when
 * the retry is created and derived again from the previous attempt's run
 * row when schedd starts (sched_retry_avoid_load), so a restart does not
 * forget it.
 *
 * Every retry is created by the store under the same overlap rule as
 * scheduled, catch-up and manual runs (store_run_create's rules, in the
 * transaction that records the end of the failed attempt).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"
#include "log.h"
#include "sched.h"

int64_t sched_retry_backoff_ms(int64_t base_ms, int64_t max_ms, int failed_attempt, uint32_t rnd)
{
	if (base_ms <= 0)
		return 0;
	if (max_ms < base_ms)
		max_ms = base_ms;
	int64_t d = base_ms;
	for (int i = 1; i < failed_attempt && d < max_ms; i++)
		d = d > max_ms / 2 ? max_ms : d * 2;
	if (d > max_ms)
		d = max_ms;
	int64_t half = d / 2;
	return (d - half) + (int64_t)(((uint64_t)half * rnd) >> 32);
}

/* The jitter's random source: the kernel's, or a fixed value if that
 * fails (the wait is then d/2 + d/4: still within its bounds). */
static uint32_t retry_random(void)
{
	uint32_t v;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		return UINT32_MAX / 2;
	return v;
}

bool sched_retry_of(struct sched *s, const struct sched_run *r, enum run_state state,
		    struct store_run_new *rn)
{
	if ((state != RUN_FAILED && state != RUN_TIMED_OUT && state != RUN_LOST) ||
	    r->cancel_requested)
		return false; /* an operator's cancel is not a failure to retry */
	struct sched_task *t = sched_task_find(s, r->task);
	if (!t || r->attempt > t->def.retries)
		return false;
	int64_t now = clock_wall_ms();
	int64_t wait = state == RUN_LOST ? 0
					 : sched_retry_backoff_ms(t->def.retry_backoff_ms,
								  t->def.retry_backoff_max_ms,
								  r->attempt, retry_random());
	*rn = (struct store_run_new){
		.task = t->def.name,
		.reason = REASON_RETRY,
		.scheduled_for = r->scheduled_for,
		.attempt = r->attempt + 1,
		.overlap = t->def.overlap,
		.record_skip = true,
		.now_ms = now,
		.not_before_ms = wait ? now + wait : 0,
	};
	return true;
}

void sched_retry_created(struct sched *s, const struct store_run_new *rn,
			 const struct store_run_created *cr, const char *failed_node)
{
	sched_track_created(s, rn, cr);
	struct sched_run *nr = cr->run_id ? sched_run_find(s, cr->run_id) : NULL;
	if (nr && failed_node) {
		snprintf(nr->avoid, sizeof(nr->avoid), "%s", failed_node);
		log_info("run %llu of %s (attempt %d) waits %lld ms; other nodes than %s first",
			 (unsigned long long)nr->run_id, nr->task, nr->attempt,
			 (long long)(nr->not_before_ms ? nr->not_before_ms - rn->now_ms : 0),
			 failed_node);
	}
}

void sched_retry_avoid_load(struct sched *s)
{
	for (size_t i = 0; i < s->nruns; i++) {
		struct sched_run *r = &s->runs[i];
		if (r->state != RUN_PENDING || r->reason != REASON_RETRY || r->attempt < 2)
			continue;
		char node[STORE_NODE_MAX + 1];
		int rc = store_run_previous_node(s->store, r->run_id, node, sizeof(node));
		if (rc == 0 && node[0])
			snprintf(r->avoid, sizeof(r->avoid), "%s", node);
		else if (rc < 0 && rc != -ENOENT)
			log_warnx("run %llu: could not read its previous attempt: %s",
				  (unsigned long long)r->run_id, strerror(-rc));
	}
}
