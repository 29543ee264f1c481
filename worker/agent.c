/*
 * agent.c - the worker's side of the protocol (docs/protocol.md).
 *
 *   HELLO until WELCOME, then HEARTBEAT every heartbeat interval listing the
 *   runs we hold; each LEASE answer extends the lease of the runs it
 *   confirms (from the time the heartbeat was SENT, so clock drift and
 *   delay only ever shorten a lease) and stops the runs it does not.
 *
 *   A LEASE verdict per run: OK extends it; CANCEL and UNKNOWN stop the
 *   run; HOLD (the scheduler is fencing this node) leaves the lease to run
 *   out, after which the run self-fences; LOST (the node was fenced) kills
 *   it at once and reports it lost.
 *
 *   DISPATCH: persist (accept or tombstone) before answering, then start.
 *   A run id seen before is answered from the database, never started
 *   twice.  STARTED, ENDED and REJECT are resent until acknowledged.
 *
 * GOSSIP from any member of the cluster (any authenticated sender) goes to
 * the membership layer; everything else is obeyed only from the
 * configured scheduler's sender id.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "clock.h"
#include "log.h"

static void send_sched(struct agent *a, const struct wire_msg *m, uint64_t *seq)
{
	int rc = net_send(a->net, &a->opt.scheduler, m, seq);
	if (rc < 0)
		log_debug("send %s: %s", wire_type_name(m->type), strerror(-rc));
}

static void send_hello(struct agent *a)
{
	struct wire_msg m = {.type = WIRE_HELLO};
	snprintf(m.u.hello.name, sizeof(m.u.hello.name), "%s", a->opt.name);
	m.u.hello.slots = a->stopping ? 0 : (uint32_t)a->opt.slots;
	snprintf(m.u.hello.labels, sizeof(m.u.hello.labels), "%s", a->opt.labels);
	m.u.hello.prev_incarnation = a->prev_incarnation;
	send_sched(a, &m, NULL);
	a->last_hello = clock_mono_ms();
}

static void send_heartbeat(struct agent *a)
{
	struct wire_msg m = {.type = WIRE_HEARTBEAT};
	struct wire_heartbeat *hb = &m.u.heartbeat;
	snprintf(hb->name, sizeof(hb->name), "%s", a->opt.name);
	hb->slots = a->stopping ? 0 : (uint32_t)a->opt.slots; /* 0: send nothing new */
	for (size_t i = 0; i < a->nruns && hb->nruns < WIRE_RUNS_MAX; i++) {
		const struct agent_run *r = &a->runs[i];
		if (r->w.phase != WRUN_ACCEPTED && r->w.phase != WRUN_RUNNING)
			continue;
		hb->runs[hb->nruns].run_id = r->w.run_id;
		hb->runs[hb->nruns].token = r->w.token;
		hb->runs[hb->nruns].state =
			r->w.phase == WRUN_RUNNING ? RUN_RUNNING : RUN_DISPATCHED;
		hb->nruns++;
	}
	uint64_t seq = 0;
	int64_t now = clock_mono_ms();
	send_sched(a, &m, &seq);
	a->hb_ring[a->hb_next % AGENT_HB_RING].seq = seq;
	a->hb_ring[a->hb_next % AGENT_HB_RING].sent = now;
	a->hb_next++;
	a->last_hb = now;
}

void agent_send_ended(struct agent *a, const struct agent_run *r)
{
	if (agent_ckpt_holds_end(r))
		return; /* sent once the final checkpoint has its verdict (ckpt.c) */
	struct wire_msg m = {.type = WIRE_ENDED};
	struct wire_ended *e = &m.u.ended;
	e->run_id = r->w.run_id;
	e->token = r->w.token;
	e->state = (uint8_t)r->w.end_state;
	e->exit_code = r->w.exit_code;
	e->signal = r->w.signal;
	e->started_at_ms = r->w.started_ms;
	e->finished_at_ms = r->w.finished_ms;
	snprintf(e->tail, sizeof(e->tail), "%s", r->w.tail);
	snprintf(e->error, sizeof(e->error), "%s", r->w.error);
	snprintf(e->log_path, sizeof(e->log_path), "%s", r->w.log_path);
	outbox_ack(a->outbox, WIRE_STARTED, r->w.run_id); /* ENDED implies it */
	outbox_put(a->outbox, a->opt.scheduler_name, &a->opt.scheduler, &m, r->w.run_id);
}

static void send_reject(struct agent *a, uint64_t run_id, uint64_t token, uint8_t code,
			const char *why)
{
	struct wire_msg m = {.type = WIRE_REJECT};
	m.u.reject.run_id = run_id;
	m.u.reject.token = token;
	m.u.reject.code = code;
	snprintf(m.u.reject.reason, sizeof(m.u.reject.reason), "%s", why);
	outbox_put(a->outbox, a->opt.scheduler_name, &a->opt.scheduler, &m, run_id);
}

static void reject_new(struct agent *a, const struct wire_dispatch *d, uint8_t code,
		       const char *why)
{
	int rc = wstore_reject(a->ws, d->run_id, d->token, d->task, why, clock_wall_ms());
	struct wrun known;
	if (rc == -EEXIST && (wstore_get(a->ws, d->run_id, &known) < 0 ||
			      known.phase != WRUN_REJECTED || known.token < d->token)) {
		log_warnx("run %llu: refusing a dispatch of a run we hold; not answering",
			  (unsigned long long)d->run_id);
		return;
	}
	if (rc < 0 && rc != -EEXIST) {
		/* Without a tombstone we must not promise "never": stay silent,
		 * the scheduler retransmits and we try again. */
		log_warnx("run %llu: could not persist the rejection (%s)",
			  (unsigned long long)d->run_id, strerror(-rc));
		return;
	}
	log_info("run %llu of %s rejected: %s", (unsigned long long)d->run_id, d->task, why);
	send_reject(a, d->run_id, d->token, code, why);
}

/* A dispatch for a run id we already know: answer from what we recorded. */
static void answer_known(struct agent *a, const struct wrun *w)
{
	struct agent_run *r = agent_run_find(a, w->run_id);
	struct wire_msg m = {.type = WIRE_ACCEPT};
	switch (w->phase) {
	case WRUN_ACCEPTED:
	case WRUN_RUNNING:
		m.u.ref.run_id = w->run_id;
		m.u.ref.token = w->token;
		send_sched(a, &m, NULL);
		break;
	case WRUN_ENDED:
		if (r)
			agent_send_ended(a, r);
		break;
	case WRUN_REJECTED:
		send_reject(a, w->run_id, w->token, REJECT_INTERNAL,
			    w->error[0] ? w->error : "rejected earlier");
		break;
	case WRUN_DONE:
		break; /* the scheduler already has its end */
	}
}

static void on_dispatch(struct agent *a, const struct net_msg *nm)
{
	const struct wire_dispatch *d = &nm->msg.u.dispatch;
	struct wrun w;
	if (strcmp(d->node, a->opt.name) != 0) {
		/* Meant for a worker that had our address before us. */
		log_debug("DISPATCH of run %llu is for worker '%s', not us; dropped",
			  (unsigned long long)d->run_id, d->node);
		return;
	}
	if (d->incarnation != a->incarnation) {
		/* Sent to an earlier life of ours (before a restart, or before a
		 * fence): the scheduler resends it to this one after our HELLO. */
		log_debug("DISPATCH of run %llu is for incarnation %llu, we are %llu; dropped",
			 (unsigned long long)d->run_id, (unsigned long long)d->incarnation,
			 (unsigned long long)a->incarnation);
		return;
	}
	if (wstore_get(a->ws, d->run_id, &w) == 0 &&
	    !(w.phase == WRUN_REJECTED && d->token > w.token)) {
		answer_known(a, &w);
		return;
	}
	if (a->stopping) {
		reject_new(a, d, REJECT_SHUTTING_DOWN, "worker is shutting down");
		return;
	}
	if (agent_live_runs(a) >= a->opt.slots) {
		reject_new(a, d, REJECT_NO_SLOT, "no free slot");
		return;
	}
	memset(&w, 0, sizeof(w));
	w.run_id = d->run_id;
	w.token = d->token;
	snprintf(w.task, sizeof(w.task), "%s", d->task);
	snprintf(w.command, sizeof(w.command), "%s", d->command);
	w.attempt = d->attempt;
	w.scheduled_for = d->scheduled_for;
	w.timeout_ms = d->timeout_ms;
	w.reason = d->reason;
	w.phase = WRUN_ACCEPTED;
	w.accepted_ms = clock_wall_ms();
	w.exit_code = -1;
	int rc = wstore_accept(a->ws, &w);
	if (rc == -ESTALE) {
		reject_new(a, d, REJECT_STALE_TOKEN, "a newer token of this task was already seen");
		return;
	}
	if (rc == -EBUSY || rc == -EINVAL) {
		reject_new(a, d, REJECT_INTERNAL,
			   rc == -EBUSY ? "another run of this task is active on this worker"
					: "invalid dispatch");
		return;
	}
	if (rc < 0) {
		log_warnx("run %llu: could not persist the acceptance (%s); not answering",
			  (unsigned long long)d->run_id, strerror(-rc));
		return;
	}
	struct agent_run *r = agent_run_add(a, &w);
	r->lease_until = clock_mono_ms() + (d->lease_ms ? d->lease_ms : a->lease_ms);
	struct wire_msg m = {.type = WIRE_ACCEPT};
	m.u.ref.run_id = d->run_id;
	m.u.ref.token = d->token;
	send_sched(a, &m, NULL);
	if (agent_ckpt_prepare(a, r, d) > 0)
		agent_spawn(a, r);
}

static void on_cancel(struct agent *a, const struct net_msg *nm)
{
	const struct wire_run_ref *c = &nm->msg.u.ref;
	struct agent_run *r = agent_run_find(a, c->run_id);
	if (r && r->w.token == c->token) {
		if (r->w.phase == WRUN_ENDED) {
			agent_send_ended(a, r);
			return;
		}
		wstore_set_cancel(a->ws, c->run_id);
		agent_kill(a, r, RUN_CANCELLED, "cancelled by operator", SIGTERM);
		return;
	}
	struct wrun w;
	struct wire_dispatch d = {.run_id = c->run_id, .token = c->token};
	snprintf(d.task, sizeof(d.task), "?");
	if (wstore_get(a->ws, c->run_id, &w) == 0) {
		if (w.phase != WRUN_REJECTED)
			return; /* finished earlier; its end was acknowledged */
		if (w.token >= c->token) {
			answer_known(a, &w); /* refused already: say so again */
			return;
		}
		/* Refused under an older token: the tombstone moves up below. */
		snprintf(d.task, sizeof(d.task), "%s", w.task);
	}
	/* Make sure a late DISPATCH of it is never started. */
	reject_new(a, &d, REJECT_CANCELLED, "cancelled before it arrived");
}

static void on_ack(struct agent *a, const struct net_msg *nm)
{
	const struct wire_ack *k = &nm->msg.u.ack;
	outbox_ack(a->outbox, k->acked_type, k->run_id);
	if (k->acked_type != WIRE_ENDED)
		return;
	struct agent_run *r = agent_run_find(a, k->run_id);
	if (!r || r->w.token != k->token || r->w.phase != WRUN_ENDED)
		return;
	if (wstore_set_done(a->ws, k->run_id, clock_wall_ms()) < 0) {
		log_warnx("run %llu: could not record the acknowledgement",
			  (unsigned long long)k->run_id);
		return;
	}
	agent_run_remove(a, k->run_id);
}

static void on_welcome(struct agent *a, const struct net_msg *nm)
{
	const struct wire_welcome *w = &nm->msg.u.welcome;
	if (a->welcomed && a->sched_incarnation == w->sched_incarnation)
		return;
	a->welcomed = true;
	a->last_lease = clock_mono_ms();
	a->sched_incarnation = w->sched_incarnation;
	if (w->heartbeat_ms)
		a->heartbeat_ms = w->heartbeat_ms;
	if (w->lease_ms)
		a->lease_ms = w->lease_ms;
	log_info("scheduler %s (incarnation %llu) welcomed us; heartbeat %lld ms, lease %lld ms",
		 a->opt.scheduler_name, (unsigned long long)w->sched_incarnation,
		 (long long)a->heartbeat_ms, (long long)a->lease_ms);
	send_heartbeat(a);
}

/* LEASE_OK for a heartbeat sent at `sent`: extend r's lease to until
 * (never shorten it).  While on HOLD, only an OK to a heartbeat sent
 * after the HOLD arrived means the scheduler called the fence off: the
 * scheduler answers heartbeats in the order they reach it, so an OK to
 * an earlier one may have been decided before the fence began. */
static void renew(struct agent_run *r, int64_t sent, int64_t until)
{
	if (r->hold_seq && sent <= r->hold_at)
		return;
	if (r->hold_seq)
		log_info("run %llu of %s: the scheduler renews its lease again (fence called off)",
			 (unsigned long long)r->w.run_id, r->w.task);
	r->hold_seq = 0;
	r->cut_since = 0;
	if (until <= r->lease_until)
		return;
	if (r->kept && until > clock_mono_ms()) {
		log_info("run %llu of %s: the scheduler renewed its lease again",
			 (unsigned long long)r->w.run_id, r->w.task);
		r->kept = false;
	}
	r->lease_until = until;
}

static void on_lease(struct agent *a, const struct net_msg *nm)
{
	const struct wire_lease *l = &nm->msg.u.lease;
	int64_t sent = 0;
	for (unsigned i = 0; i < AGENT_HB_RING; i++)
		if (a->hb_ring[i].seq == l->hb_seq && l->hb_seq)
			sent = a->hb_ring[i].sent;
	if (!sent)
		return; /* too old to know when it was sent: ignore */
	a->last_lease = clock_mono_ms();
	for (uint32_t i = 0; i < l->nruns; i++) {
		struct agent_run *r = agent_run_find(a, l->runs[i].run_id);
		if (!r || r->w.token != l->runs[i].token || r->w.phase == WRUN_ENDED)
			continue;
		switch (l->runs[i].state) {
		case LEASE_OK:
			renew(r, sent, sent + (int64_t)l->lease_ms);
			break;
		case LEASE_HOLD:
			if (!r->hold_seq)
				log_warnx("run %llu of %s: the scheduler is fencing this node; the "
					  "lease is not renewed and the run is killed when it ends",
					  (unsigned long long)r->w.run_id, r->w.task);
			if (!r->hold_seq && r->lease_until < clock_mono_ms() + 3 * a->heartbeat_ms + 1000) {
				/* Its lease ran out already (kept through a scheduler
				 * outage) or nearly: the time of a few heartbeats for the
				 * scheduler to call a false suspicion off, as it does when
				 * it hears us; a confirmed fence says LOST at once. */
				r->lease_until = clock_mono_ms() + 3 * a->heartbeat_ms + 1000;
			}
			if (l->hb_seq > r->hold_seq)
				r->hold_seq = l->hb_seq;
			r->hold_at = clock_mono_ms();
			break;
		case LEASE_LOST:
			agent_lose(a, r);
			break;
		case LEASE_CANCEL:
			wstore_set_cancel(a->ws, r->w.run_id);
			agent_kill(a, r, RUN_CANCELLED, "cancelled by operator", SIGTERM);
			break;
		default:
			agent_kill(a, r, RUN_FAILED,
				   "the scheduler does not know this run as active on this worker",
				   SIGKILL);
			break;
		}
	}
}

typedef void (*agent_handler)(struct agent *, const struct net_msg *);

static const agent_handler agent_handlers[WIRE_TYPE_MAX + 1] = {
	[WIRE_WELCOME] = on_welcome, [WIRE_LEASE] = on_lease, [WIRE_DISPATCH] = on_dispatch,
	[WIRE_CANCEL] = on_cancel,   [WIRE_ACK] = on_ack,
	[WIRE_CKPT_DATA] = agent_ckpt_on_data, [WIRE_CKPT_ACK] = agent_ckpt_on_ack,
};

void agent_on_message(struct agent *a, const struct net_msg *nm)
{
	uint8_t type = nm->msg.type;
	if (type == WIRE_GOSSIP) {
		if (a->gossip && gossip_on_message(a->gossip, nm) < 0)
			log_debug("GOSSIP payload refused by the membership decoder");
		return;
	}
	if (nm->hdr.sender != a->sched_sender) {
		char addr[NET_ADDR_STRLEN];
		net_addr_format(&nm->from, addr, sizeof(addr));
		log_debug("%s from %s: not our scheduler; dropped", wire_type_name(type), addr);
		return;
	}
	if (type > WIRE_TYPE_MAX || !agent_handlers[type]) {
		log_debug("%s from the scheduler: not expected by a worker; dropped",
			  wire_type_name(type));
		return;
	}
	/* A new scheduler incarnation has not heard our HELLO yet. */
	if (a->welcomed && type != WIRE_WELCOME && nm->hdr.incarnation != a->sched_incarnation) {
		a->welcomed = false;
		send_hello(a);
	}
	agent_handlers[type](a, nm);
}

/* Gossip: the scheduler is back (restarted, or reachable again): say
 * HELLO at the next tick rather than within the next second, so that it
 * renews our leases before they run out. */
void agent_on_member(void *ctx, const struct swim_member *m, enum swim_state old)
{
	struct agent *a = ctx;
	if (m->state == SWIM_ALIVE && old != SWIM_ALIVE &&
	    strcmp(m->name, a->opt.scheduler_name) == 0) {
		a->welcomed = false;
		a->last_hello = 0;
	}
}

void agent_tick(struct agent *a)
{
	int64_t now = clock_mono_ms();
	/* No answer to three heartbeats: the scheduler may have restarted
	 * without knowing us (e.g. a new database); announce ourselves again. */
	if (a->welcomed && now - a->last_lease > 3 * a->heartbeat_ms + 1000) {
		a->welcomed = false;
		log_info("no lease answer from the scheduler for %lld ms; saying HELLO again",
			 (long long)(now - a->last_lease));
	}
	if (!a->welcomed && now - a->last_hello >= 1000)
		send_hello(a);
	if (a->welcomed && now - a->last_hb >= a->heartbeat_ms)
		send_heartbeat(a);
	/* Every heartbeat interval, welcomed or not: what a run wrote while
	 * we could not talk is shipped as soon as we can (and judged then). */
	if (now - a->last_ckpt_poll >= a->heartbeat_ms) {
		agent_ckpt_poll(a);
		a->last_ckpt_poll = now;
	}
	agent_reap(a);
	agent_check_runs(a);
	agent_ckpt_tick(a);
	outbox_tick(a->outbox, now);
	if (now - a->last_purge > 600000) {
		/* Tombstones outlive any datagram's freshness bound many times. */
		int64_t keep = 24 * 3600 * 1000LL;
		wstore_purge(a->ws, clock_wall_ms() - keep);
		agent_purge_logs(a);
		a->last_purge = now;
	}
}
