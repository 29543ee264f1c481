/*
 * sched_peers.c - messages from workers.
 *
 * Gossip (WIRE_GOSSIP, from any member) goes to the membership layer.
 * Workers also announce themselves (HELLO: slots, labels) and send
 * heartbeats (HEARTBEAT) straight to the scheduler; a heartbeat lists the
 * runs the worker holds and the LEASE reply renews the lease of each one
 * the store says is still active on that worker, holds it (not renewed,
 * not stopped) while the worker's node is being fenced, says "lost" for
 * one the fence declared lost, and tells the worker to stop any other
 * (DESIGN rule 6).  A heartbeat is also how a node we are fencing shows
 * that it is alive (sched_fence_node_back).
 *
 * Run reports are applied to the store first and acknowledged after the
 * commit (rule 2).  Every handler is idempotent: a duplicate report finds
 * the run already in that state and is simply acknowledged again.  A
 * report whose token or node does not match the store is stale: it is
 * refused (not recorded) but acknowledged, so the worker stops resending.
 * Messages from senders that are not known workers are counted and
 * dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "labels.h"
#include "log.h"
#include "sched.h"

struct sched_worker *sched_worker_find(struct sched *s, const char *name)
{
	for (size_t i = 0; i < s->nworkers; i++)
		if (strcmp(s->workers[i].name, name) == 0)
			return &s->workers[i];
	return NULL;
}

static struct sched_worker *worker_by_sender(struct sched *s, uint64_t sender)
{
	for (size_t i = 0; i < s->nworkers; i++)
		if (s->workers[i].sender_id == sender)
			return &s->workers[i];
	return NULL;
}

static struct sched_worker *worker_add(struct sched *s, const char *name)
{
	struct sched_worker *nw = realloc(s->workers, (s->nworkers + 1) * sizeof(*nw));
	if (!nw)
		fatalx("out of memory");
	s->workers = nw;
	struct sched_worker *w = &s->workers[s->nworkers++];
	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->sender_id = auth_sender_id(name);
	return w;
}

static int load_node(void *arg, const struct store_node *n)
{
	struct sched *s = arg;
	struct sched_worker *w = worker_add(s, n->name);
	w->slots = n->slots;
	snprintf(w->labels, sizeof(w->labels), "%s", n->labels);
	w->last_hello_ms = n->last_hello_ms;
	w->drained_ms = n->drained_ms;
	w->incarnation = n->incarnation;
	char err[128];
	if (net_addr_parse(n->addr, &w->addr, err, sizeof(err)) == 0)
		w->have_addr = true;
	return 0;
}

/* Known nodes from the store: their run reports are accepted after a
 * scheduler restart even before they say HELLO again. */
int sched_workers_load(struct sched *s) { return store_nodes_list(s->store, load_node, s); }

static void send_to(struct sched *s, const struct net_addr *to, const struct wire_msg *m)
{
	int rc = net_send(s->net, to, m, NULL);
	if (rc < 0)
		log_debug("send %s: %s", wire_type_name(m->type), strerror(-rc));
}

static void send_ack(struct sched *s, const struct net_addr *to, uint8_t type, uint64_t run_id,
		     uint64_t token)
{
	struct wire_msg m = {.type = WIRE_ACK};
	m.u.ack.acked_type = type;
	m.u.ack.run_id = run_id;
	m.u.ack.token = token;
	send_to(s, to, &m);
}

static void on_hello(struct sched *s, const struct net_msg *nm)
{
	const struct wire_hello *h = &nm->msg.u.hello;
	char addr[NET_ADDR_STRLEN], labels[WIRE_LABELS_MAX + 1], err[128];
	net_addr_format(&nm->from, addr, sizeof(addr));
	if (auth_sender_id(h->name) != nm->hdr.sender) {
		log_warnx("HELLO from %s claims name '%s' that does not match its sender id; dropped",
			  addr, h->name);
		return;
	}
	if (labels_normalize(h->labels, labels, sizeof(labels), err, sizeof(err)) < 0) {
		log_warnx("HELLO from %s (%s): bad labels '%s': %s; dropped", h->name, addr,
			  h->labels, err);
		return;
	}
	struct sched_worker *w = sched_worker_find(s, h->name);
	if (!w)
		w = worker_add(s, h->name);
	bool restarted = w->incarnation && w->incarnation != nm->hdr.incarnation;
	bool moved = w->have_addr && !net_addr_equal(&w->addr, &nm->from);
	bool news = !w->hello || restarted || moved || w->slots != (int)h->slots ||
		    strcmp(w->labels, labels) != 0;
	w->addr = nm->from;
	w->have_addr = true;
	w->slots = (int)h->slots;
	snprintf(w->labels, sizeof(w->labels), "%s", labels);
	w->incarnation = nm->hdr.incarnation;
	w->last_heard = w->last_datagram = clock_mono_ms();
	w->hello = true;
	if (news) {
		w->last_hello_ms = clock_wall_ms();
		struct store_node n = {.slots = w->slots, .last_hello_ms = w->last_hello_ms,
				       .first_seen_ms = w->last_hello_ms,
				       .incarnation = w->incarnation};
		snprintf(n.name, sizeof(n.name), "%s", w->name);
		snprintf(n.addr, sizeof(n.addr), "%s", addr);
		snprintf(n.labels, sizeof(n.labels), "%s", labels);
		if (store_node_upsert(s->store, &n) < 0)
			log_warnx("node %s: could not record it", w->name);
		store_event(s->store, w->last_hello_ms, restarted ? "node_restart" : "node_hello",
			    NULL, 0, w->name, "%s slots=%d labels=%s", addr, w->slots, labels);
		log_info("worker %s at %s: %d slot(s), labels '%s'%s", w->name, addr, w->slots,
			 labels, restarted ? " (restarted)" : "");
	}
	if (restarted)
		sched_fence_node_restarted(s, w, h->prev_incarnation);
	/* Messages waiting for this worker go to its address now; dispatches
	 * are written anew for this incarnation (a worker drops a DISPATCH
	 * meant for an earlier life of itself). */
	outbox_readdress(s->outbox, w->name, &w->addr);
	for (size_t i = 0; i < s->nruns; i++)
		if (s->runs[i].state == RUN_DISPATCHED && strcmp(s->runs[i].node, w->name) == 0)
			sched_send_dispatch(s, &s->runs[i]);
	struct wire_msg m = {.type = WIRE_WELCOME};
	m.u.welcome.sched_incarnation = s->incarnation;
	m.u.welcome.heartbeat_ms = (uint32_t)s->opt.heartbeat_ms;
	m.u.welcome.lease_ms = (uint32_t)s->opt.lease_ms;
	send_to(s, &nm->from, &m);
}

/* Verdict for one run a worker says it holds. */
static uint8_t lease_verdict(struct sched *s, const struct sched_worker *w,
			     const struct wire_run_entry *e)
{
	const struct sched_run *r = sched_run_find(s, e->run_id);
	struct store_run sr;
	if (!r && store_run_get(s->store, e->run_id, &sr) == 0 && sr.state == RUN_LOST &&
	    sr.token == e->token && strcmp(sr.node, w->name) == 0)
		return LEASE_LOST;
	if (!r || r->token != e->token || strcmp(r->node, w->name) != 0 ||
	    !run_state_active(r->state))
		return LEASE_UNKNOWN;
	if (r->state == RUN_FENCING)
		return LEASE_HOLD;
	return r->cancel_requested ? LEASE_CANCEL : LEASE_OK;
}

static void on_heartbeat(struct sched *s, struct sched_worker *w, const struct net_msg *nm)
{
	const struct wire_heartbeat *hb = &nm->msg.u.heartbeat;
	w->last_heard = clock_mono_ms();
	w->slots = (int)hb->slots; /* 0 while the worker is stopping */
	if (!net_addr_equal(&w->addr, &nm->from)) {
		w->addr = nm->from;
		w->have_addr = true;
		outbox_readdress(s->outbox, w->name, &w->addr);
	}
	struct wire_msg m = {.type = WIRE_LEASE};
	struct wire_lease *l = &m.u.lease;
	l->hb_seq = nm->hdr.seq;
	l->lease_ms = (uint32_t)s->opt.lease_ms;
	l->nruns = hb->nruns;
	for (uint32_t i = 0; i < hb->nruns; i++) {
		l->runs[i].run_id = hb->runs[i].run_id;
		l->runs[i].token = hb->runs[i].token;
		l->runs[i].state = lease_verdict(s, w, &hb->runs[i]);
		if (l->runs[i].state == LEASE_UNKNOWN || l->runs[i].state == LEASE_LOST)
			log_warnx("worker %s holds run %llu (token %llu) that is %s; telling it to "
				  "stop", w->name, (unsigned long long)hb->runs[i].run_id,
				  (unsigned long long)hb->runs[i].token,
				  l->runs[i].state == LEASE_LOST ? "lost (its node was fenced)"
								 : "not active on it here");
	}
	if (sched_fence_find(s, w->name))
		sched_fence_node_back(s, w, nm->hdr.incarnation);
	/* A worker that has not said HELLO to this incarnation sees our new
	 * incarnation in this LEASE and re-announces itself. */
	send_to(s, &nm->from, &m);
}

/* The run a report refers to, if it is this worker's with this token. */
static struct sched_run *report_run(struct sched *s, const struct sched_worker *w,
				    uint64_t run_id, uint64_t token, const char *what)
{
	struct sched_run *r = sched_run_find(s, run_id);
	if (r && (r->token != token || strcmp(r->node, w->name) != 0)) {
		log_warnx("stale %s for run %llu from %s (token %llu, expected %llu on %s); refused",
			  what, (unsigned long long)run_id, w->name, (unsigned long long)token,
			  (unsigned long long)r->token, r->node[0] ? r->node : "no node");
		return NULL;
	}
	return r;
}

static void on_accept(struct sched *s, struct sched_worker *w, const struct net_msg *nm)
{
	const struct wire_run_ref *a = &nm->msg.u.ref;
	if (report_run(s, w, a->run_id, a->token, "ACCEPT"))
		outbox_ack(s->outbox, WIRE_DISPATCH, a->run_id);
}

static void on_reject(struct sched *s, struct sched_worker *w, const struct net_msg *nm)
{
	const struct wire_reject *rj = &nm->msg.u.reject;
	struct sched_run *r = report_run(s, w, rj->run_id, rj->token, "REJECT");
	if (r && (r->state == RUN_DISPATCHED || r->state == RUN_FENCING)) {
		int rc;
		if (r->cancel_requested) {
			struct store_run_end end = {.state = RUN_CANCELLED, .exit_code = -1,
						    .finished_ms = clock_wall_ms(),
						    .error = "cancelled before it started"};
			bool already;
			rc = store_run_end(s->store, r->run_id, r->token, w->name, &end, &already);
			if (rc == 0) {
				outbox_ack(s->outbox, WIRE_CANCEL, r->run_id);
				sched_run_forget(s, r->run_id);
			}
		} else {
			uint64_t token = r->token, superseded = 0;
			rc = store_run_unassign(s->store, r->run_id, r->token, w->name, rj->reason,
						clock_wall_ms(), &token, &superseded);
			if (rc == 0) {
				log_info("run %llu refused by %s (%s); back to pending with token %llu",
					 (unsigned long long)r->run_id, w->name, rj->reason,
					 (unsigned long long)token);
				r->state = RUN_PENDING;
				r->token = token;
				/* Not straight back to the same worker, and not at
				 * network speed: another worker first, a second later. */
				snprintf(r->avoid, sizeof(r->avoid), "%s", w->name);
				r->not_before_ms = clock_wall_ms() + 1000;
				r->node[0] = '\0';
			}
			if (rc == 0 && superseded) {
				/* Skipped in the store: it must not stay pending here.
				 * (Last: forgetting a run moves the others, r too.) */
				log_info("run %llu superseded: run %llu went back to the queue",
					 (unsigned long long)superseded,
					 (unsigned long long)rj->run_id);
				sched_run_forget(s, superseded);
			}
		}
		if (rc < 0) {
			log_warnx("run %llu: could not record the rejection: %s",
				  (unsigned long long)rj->run_id, strerror(-rc));
			return; /* no ack: the worker resends */
		}
		outbox_ack(s->outbox, WIRE_DISPATCH, rj->run_id);
	}
	send_ack(s, &nm->from, WIRE_REJECT, rj->run_id, rj->token);
}

static void on_started(struct sched *s, struct sched_worker *w, const struct net_msg *nm)
{
	const struct wire_started *st = &nm->msg.u.started;
	struct sched_run *r = report_run(s, w, st->run_id, st->token, "STARTED");
	if (r && r->state == RUN_DISPATCHED) {
		int rc = store_run_started(s->store, r->run_id, r->token, w->name, st->started_at_ms);
		if (rc < 0) {
			log_warnx("run %llu: could not record its start: %s",
				  (unsigned long long)r->run_id, strerror(-rc));
			return;
		}
		r->state = RUN_RUNNING;
		log_info("run %llu of %s started on %s (pid %u)", (unsigned long long)r->run_id,
			 r->task, w->name, st->pid);
	}
	if (r)
		outbox_ack(s->outbox, WIRE_DISPATCH, st->run_id);
	send_ack(s, &nm->from, WIRE_STARTED, st->run_id, st->token);
}

/* The end of a run its fence declared lost: acknowledged, never recorded.
 * A run that went on after the confirmation means the node was not
 * isolated: the one piece of evidence that a fence did not hold. */
static void late_end_of_lost(struct sched *s, const struct sched_worker *w,
			     const struct net_msg *nm)
{
	const struct wire_ended *e = &nm->msg.u.ended;
	struct store_run sr;
	uint64_t fenced_life = 0;
	if (store_run_get(s->store, e->run_id, &sr) < 0 || sr.state != RUN_LOST ||
	    sr.token != e->token || strcmp(sr.node, w->name) != 0)
		return;
	/* Only the life that was fenced can tell that the run went on: a
	 * later life reports the time it found the run ended (its restart). */
	bool same_life = store_run_fence_incarnation(s->store, e->run_id, &fenced_life) == 0 &&
			 fenced_life == nm->hdr.incarnation;
	if (same_life && e->state != RUN_LOST && e->finished_at_ms > sr.finished_ms)
		log_errorx("run %llu of %s on %s was declared lost (fence confirmed at %lld) but "
			   "its worker reports it ran until %lld and ended %s: THE FENCE DID NOT "
			   "ISOLATE %s; check the hook (or the operator's confirmation)",
			   (unsigned long long)e->run_id, sr.task, w->name, (long long)sr.finished_ms,
			   (long long)e->finished_at_ms, run_state_name((enum run_state)e->state),
			   w->name);
	else
		log_info("run %llu of %s: %s reports it %s; it stays lost", (unsigned long long)e->run_id,
			 sr.task, w->name, run_state_name((enum run_state)e->state));
}

static void on_ended(struct sched *s, struct sched_worker *w, const struct net_msg *nm)
{
	const struct wire_ended *e = &nm->msg.u.ended;
	struct sched_run *r = report_run(s, w, e->run_id, e->token, "ENDED");
	if (!r && !sched_run_find(s, e->run_id))
		late_end_of_lost(s, w, nm);
	if (r) {
		if (!run_state_terminal((enum run_state)e->state)) {
			log_warnx("ENDED for run %llu from %s with non-final state %u; dropped",
				  (unsigned long long)e->run_id, w->name, e->state);
			return;
		}
		enum run_state state = (enum run_state)e->state;
		if (state == RUN_LOST) {
			/* Only a fence declares a run lost; this one is still active
			 * here, so the worker ended it on its own: a failure. */
			log_warnx("run %llu: %s reports it lost, but it was not fenced; recorded as "
				  "failed", (unsigned long long)e->run_id, w->name);
			state = RUN_FAILED;
		}
		struct store_run_end end = {
			.state = state,
			.exit_code = e->exit_code,
			.signal = e->signal,
			.started_ms = e->started_at_ms,
			.finished_ms = e->finished_at_ms,
			.tail = e->tail,
			.error = e->error,
			.log_path = e->log_path,
		};
		struct store_run_new retry;
		struct store_run_created retry_out = {0};
		if (sched_retry_of(s, r, state, &retry)) {
			end.retry = &retry;
			end.retry_out = &retry_out;
		}
		bool already = false;
		int rc = store_run_end(s->store, e->run_id, e->token, w->name, &end, &already);
		if (rc < 0 && rc != -ESTALE) {
			log_warnx("run %llu: could not record its end: %s; not acknowledged",
				  (unsigned long long)e->run_id, strerror(-rc));
			return;
		}
		if (rc == 0) {
			log_info("run %llu of %s ended on %s: %s (exit %d, signal %d)",
				 (unsigned long long)e->run_id, r->task, w->name,
				 run_state_name((enum run_state)e->state), e->exit_code, e->signal);
			outbox_ack(s->outbox, WIRE_DISPATCH, e->run_id);
			outbox_ack(s->outbox, WIRE_CANCEL, e->run_id);
			sched_run_forget(s, e->run_id);
			if (!already && end.retry)
				sched_retry_created(s, &retry, &retry_out, w->name);
		}
	}
	send_ack(s, &nm->from, WIRE_ENDED, e->run_id, e->token);
}

typedef void (*peer_handler)(struct sched *, struct sched_worker *, const struct net_msg *);

static const peer_handler peer_handlers[WIRE_TYPE_MAX + 1] = {
	[WIRE_HEARTBEAT] = on_heartbeat, [WIRE_ACCEPT] = on_accept,
	[WIRE_REJECT] = on_reject,	 [WIRE_STARTED] = on_started,
	[WIRE_ENDED] = on_ended,	 [WIRE_CKPT_PUT] = sched_ckpt_on_put,
	[WIRE_CKPT_ACK] = sched_ckpt_on_ack,
};

void sched_on_message(struct sched *s, const struct net_msg *nm)
{
	uint8_t type = nm->msg.type;
	if (type == WIRE_CTL_REQ) {
		sched_on_ctl(s, nm);
		return;
	}
	if (type == WIRE_HELLO) {
		on_hello(s, nm);
		return;
	}
	if (type == WIRE_GOSSIP) {
		struct sched_worker *gw = worker_by_sender(s, nm->hdr.sender);
		if (gw)
			gw->last_datagram = clock_mono_ms();
		if (s->gossip && gossip_on_message(s->gossip, nm) < 0)
			log_debug("gossip payload refused");
		return;
	}
	struct sched_worker *w = worker_by_sender(s, nm->hdr.sender);
	if (w)
		w->last_datagram = clock_mono_ms();
	if (!w || type > WIRE_TYPE_MAX || !peer_handlers[type]) {
		char addr[NET_ADDR_STRLEN];
		net_addr_format(&nm->from, addr, sizeof(addr));
		log_debug("%s from %s: %s; dropped", wire_type_name(type), addr,
			  w ? "not expected by the scheduler" : "unknown sender");
		return;
	}
	if (w->incarnation && nm->hdr.incarnation != w->incarnation && w->hello) {
		/* It restarted: make it re-announce before anything else. */
		w->hello = false;
	}
	peer_handlers[type](s, w, nm);
}
