/*
 * sched_dispatch.c - unfinished runs, choosing a worker, dispatching.
 *
 * Write-ahead (DESIGN rule 2): a run is assigned to a node in the store
 * (pending -> dispatched, committed) before the DISPATCH datagram leaves,
 * and the datagram is retransmitted until the worker answers.  A
 * dispatched run stays active until the worker reports that it ended or
 * that it never started (rule 3); nothing here ends a run on a timeout.
 *
 * Worker choice: alive (ALIVE in gossip, heard within node_timeout, said
 * HELLO to this scheduler), not drained, not being fenced, carries every label the task needs, has a free slot; the
 * least loaded (active runs / slots) wins, ties by name.  A run with an
 * `avoid` node (a retry: the node of its failed attempt; a run a worker
 * refused: that worker) goes there only when no other node has a free
 * slot for it now (sched_retry.c).  Pending runs are
 * served in sched_run_order (priority, then the work waiting behind them,
 * then age) once sched_run_ready (sched_deps.c) says they may go.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "labels.h"
#include "log.h"
#include "sched.h"

struct sched_run *sched_run_find(struct sched *s, uint64_t run_id)
{
	for (size_t i = 0; i < s->nruns; i++)
		if (s->runs[i].run_id == run_id)
			return &s->runs[i];
	return NULL;
}

int sched_run_track(struct sched *s, const struct sched_run *r)
{
	struct sched_run *nr = realloc(s->runs, (s->nruns + 1) * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	s->runs = nr;
	s->runs[s->nruns++] = *r;
	return 0;
}

void sched_run_forget(struct sched *s, uint64_t run_id)
{
	for (size_t i = 0; i < s->nruns; i++) {
		if (s->runs[i].run_id == run_id) {
			memmove(&s->runs[i], &s->runs[i + 1], (s->nruns - i - 1) * sizeof(s->runs[0]));
			s->nruns--;
			return;
		}
	}
}

static int load_one(void *arg, const struct store_run *sr)
{
	struct sched *s = arg;
	struct sched_run r = {
		.run_id = sr->run_id,
		.token = sr->token,
		.state = sr->state,
		.reason = sr->reason,
		.attempt = sr->attempt,
		.scheduled_for = sr->scheduled_for,
		.created_ms = sr->created_ms,
		.not_before_ms = sr->not_before_ms,
		.cancel_requested = sr->cancel_requested,
		.triggers = sr->triggers,
	};
	snprintf(r.task, sizeof(r.task), "%s", sr->task);
	snprintf(r.node, sizeof(r.node), "%s", sr->node);
	return sched_run_track(s, &r);
}

/* At start: every unfinished run from the store; dispatched ones resume
 * their retransmission as soon as their worker's address is known. */
int sched_runs_load(struct sched *s)
{
	int rc = store_runs_unfinished(s->store, load_one, s);
	if (rc < 0)
		return rc;
	sched_retry_avoid_load(s);
	log_info("recovered %zu unfinished run(s) from the store", s->nruns);
	return 0;
}

int sched_node_active_runs(const struct sched *s, const char *node)
{
	int n = 0;
	for (size_t i = 0; i < s->nruns; i++)
		if (run_state_active(s->runs[i].state) && strcmp(s->runs[i].node, node) == 0)
			n++;
	return n;
}

bool sched_worker_alive(const struct sched *s, const struct sched_worker *w)
{
	return w->hello && w->have_addr && w->last_heard &&
	       clock_mono_ms() - w->last_heard <= s->opt.node_timeout_ms &&
	       sched_member_alive(s, w->name);
}

/* May take new runs: alive, not drained, not being fenced. */
static bool worker_eligible(const struct sched *s, const struct sched_worker *w)
{
	return sched_worker_alive(s, w) && !w->drained_ms && w->slots > 0 &&
	       !sched_fence_find(s, w->name);
}

/* Resend CANCEL of r to its worker until the run ends (sched_peers.c acks
 * it away on ENDED or REJECT). */
void sched_send_cancel(struct sched *s, const struct sched_run *r)
{
	struct sched_worker *w = sched_worker_find(s, r->node);
	if (!w || !w->have_addr)
		return; /* resent when the worker says HELLO */
	struct wire_msg c = {.type = WIRE_CANCEL};
	c.u.ref.run_id = r->run_id;
	c.u.ref.token = r->token;
	if (outbox_put(s->outbox, w->name, &w->addr, &c, r->run_id) < 0)
		log_warnx("run %llu: out of memory queueing cancel", (unsigned long long)r->run_id);
}

void sched_send_dispatch(struct sched *s, struct sched_run *r)
{
	struct sched_worker *w = sched_worker_find(s, r->node);
	struct sched_task *t = sched_task_find(s, r->task);
	if (!w || !w->have_addr || !t)
		return; /* resent once the worker says HELLO (sched_peers.c) */
	if (r->cancel_requested) {
		/* Cancelled before the worker answered: tell it to refuse the run
		 * rather than to start it (it leaves a tombstone and a REJECT). */
		r->unsent = false;
		outbox_ack(s->outbox, WIRE_DISPATCH, r->run_id);
		sched_send_cancel(s, r);
		return;
	}
	struct wire_msg m = {.type = WIRE_DISPATCH};
	struct wire_dispatch *d = &m.u.dispatch;
	d->run_id = r->run_id;
	d->token = r->token;
	d->attempt = (uint32_t)r->attempt;
	d->scheduled_for = r->scheduled_for;
	d->timeout_ms = (uint32_t)t->def.timeout_ms;
	d->lease_ms = (uint32_t)s->opt.lease_ms;
	/* Workers store the reason under a CHECK that predates 'trigger'
	 * (worker schema 2): a trigger run travels as manual, which is what
	 * it is to the worker (docs/protocol.md, DISPATCH). */
	d->reason = (uint8_t)(r->reason == REASON_TRIGGER ? REASON_MANUAL : r->reason);
	snprintf(d->task, sizeof(d->task), "%s", r->task);
	snprintf(d->command, sizeof(d->command), "%s", t->def.command);
	snprintf(d->node, sizeof(d->node), "%s", w->name);
	d->incarnation = w->incarnation;
	int rc = sched_ckpt_fill_dispatch(s, r, d);
	if (rc < 0) {
		/* The store has it dispatched: it must go out, but not without
		 * its checkpoint.  sched_dispatch_pending tries again. */
		if (!r->unsent)
			log_warnx("run %llu of %s: cannot read the task's checkpoint (%s); its "
				  "dispatch waits until it can be read",
				  (unsigned long long)r->run_id, r->task, strerror(-rc));
		r->unsent = true;
		return;
	}
	r->unsent = false;
	if (outbox_put(s->outbox, w->name, &w->addr, &m, r->run_id) < 0)
		log_warnx("run %llu: out of memory queueing dispatch", (unsigned long long)r->run_id);
}

static struct sched_worker *pick_worker(struct sched *s, const struct sched_task *t,
				       const char *avoid)
{
	struct sched_worker *best = NULL, *avoided = NULL;
	double best_load = 2.0;
	for (size_t i = 0; i < s->nworkers; i++) {
		struct sched_worker *w = &s->workers[i];
		if (!worker_eligible(s, w))
			continue;
		if (avoid[0] && strcmp(w->name, avoid) == 0) {
			avoided = w;
			continue;
		}
		if (!labels_match(t->def.labels, w->labels))
			continue;
		int active = sched_node_active_runs(s, w->name);
		if (active >= w->slots)
			continue;
		double load = (double)active / w->slots;
		if (load < best_load) {
			best = w;
			best_load = load;
		}
	}
	if (!best && avoided && sched_node_active_runs(s, avoided->name) < avoided->slots &&
	    labels_match(t->def.labels, avoided->labels))
		best = avoided; /* the only one that fits */
	return best;
}

/* Why no worker took r (its wait text): none alive, none with its labels,
 * or every one that fits is busy. */
static void no_worker(const struct sched *s, const struct sched_task *t, struct sched_run *r)
{
	bool any = false, fits = false;
	for (size_t i = 0; i < s->nworkers; i++) {
		const struct sched_worker *w = &s->workers[i];
		if (!worker_eligible(s, w))
			continue;
		any = true;
		fits = fits || labels_match(t->def.labels, w->labels);
	}
	if (!any)
		snprintf(r->wait, sizeof(r->wait), "no worker alive with a slot");
	else if (!fits)
		snprintf(r->wait, sizeof(r->wait), "labels: no alive worker carries %s",
			 t->def.labels);
	else
		snprintf(r->wait, sizeof(r->wait), "waiting for a free slot");
}

/* Assign ready pending runs to workers and send the dispatches
 * (readiness, dependency skips and order: sched_deps.c). */
void sched_dispatch_pending(struct sched *s)
{
	int64_t now_ms = clock_wall_ms();
	struct sched_run **ready = NULL;
	size_t nready = 0;
	sched_deps_settle(s, now_ms);
	for (size_t i = 0; i < s->nruns; i++) {
		struct sched_run *r = &s->runs[i];
		if (r->state == RUN_DISPATCHED && r->unsent)
			sched_send_dispatch(s, r); /* its checkpoint was unreadable */
		if (r->state != RUN_PENDING || !sched_run_ready(s, r, now_ms))
			continue;
		struct sched_run **nr = realloc(ready, (nready + 1) * sizeof(*nr));
		if (!nr)
			break;
		ready = nr;
		ready[nready++] = r;
	}
	if (nready > 1)
		qsort_r(ready, nready, sizeof(*ready), sched_run_order, s);
	/* The pointers stay valid: nothing below adds or removes runs. */
	for (size_t i = 0; i < nready; i++) {
		struct sched_run *r = ready[i];
		struct sched_task *t = sched_task_find(s, r->task);
		struct sched_worker *w = pick_worker(s, t, r->avoid);
		if (!w) {
			no_worker(s, t, r);
			continue;
		}
		/* Its DISPATCH names the task's checkpoint: if the store cannot
		 * say what it is now, the run waits (and is not recorded as
		 * dispatched) rather than start without it. */
		int crc = sched_ckpt_readable(s, r->task);
		if (crc < 0) {
			if (!strstr(r->wait, "checkpoint"))
				log_warnx("run %llu of %s: cannot read the task's checkpoint (%s); "
					  "it waits",
					  (unsigned long long)r->run_id, r->task, strerror(-crc));
			snprintf(r->wait, sizeof(r->wait),
				 "cannot read the task's checkpoint: %s (retried)", strerror(-crc));
			continue;
		}
		int rc = store_run_assign(s->store, r->run_id, w->name, now_ms);
		if (rc == -EBUSY) {
			log_warnx("run %llu of %s: the store refused a second active run of the task; "
				  "it waits", (unsigned long long)r->run_id, r->task);
			continue;
		}
		if (rc == -ESTALE) {
			/* The store moved it on (e.g. superseded): take its word. */
			struct store_run sr;
			if (store_run_get(s->store, r->run_id, &sr) == 0 && sr.state != RUN_PENDING) {
				log_info("run %llu is %s in the store; dropping it from the queue",
					 (unsigned long long)r->run_id, run_state_name(sr.state));
				r->state = sr.state; /* removed below, after the loop */
			}
			continue;
		}
		if (rc < 0) {
			log_warnx("run %llu: could not record the dispatch (%s); not sent",
				  (unsigned long long)r->run_id, strerror(-rc));
			continue;
		}
		r->state = RUN_DISPATCHED;
		r->avoid[0] = '\0';
		snprintf(r->node, sizeof(r->node), "%s", w->name);
		log_info("run %llu of %s (token %llu) dispatched to %s",
			 (unsigned long long)r->run_id, r->task, (unsigned long long)r->token, w->name);
		sched_send_dispatch(s, r);
	}
	free(ready);
	/* Forget runs the store says are finished (see -ESTALE above). */
	for (size_t i = s->nruns; i-- > 0;)
		if (run_state_terminal(s->runs[i].state))
			sched_run_forget(s, s->runs[i].run_id);
}
