/*
 * sched_members.c - the scheduler as a gossip member (common/gossip.h):
 * who may get new runs, and who must be fenced.
 *
 * Liveness is gossip's: a worker takes new runs only while gossip has it
 * ALIVE (and it said HELLO and heartbeats, sched_dispatch.c).  A node
 * that holds dispatched or running runs is fenced (sched_fence.c) when
 *   - gossip declares it DEAD (a suspicion nobody refuted), or
 *   - it LEFT while still holding runs (a graceful leave comes after the
 *     worker reported every end, so this means reports were lost), or
 *   - after a scheduler restart it has not appeared in gossip within
 *     node_grace (the scheduler may have been down when it died).
 * The sweep runs every tick, so a run dispatched just before its node's
 * death is swept in as well.
 *
 * A DEAD verdict can be gossip from another member, not our own finding:
 * a member that was cut off declares everybody dead, and when it heals it
 * spreads those claims before the accused refute them.  So a node we
 * still hear from (any datagram, heartbeat or gossip, within the last
 * heartbeat interval or second) is not fenced yet; it refutes within a
 * moment, and if it is really gone its silence soon makes the verdict ours.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "sched.h"

const struct swim_member *sched_member(const struct sched *s, const char *name)
{
	return s->gossip ? swim_member_get(gossip_swim(s->gossip), name) : NULL;
}

bool sched_member_alive(const struct sched *s, const char *name)
{
	const struct swim_member *m = sched_member(s, name);
	return m && m->state == SWIM_ALIVE;
}

static int holds_runs(const struct sched *s, const char *node)
{
	int n = 0;
	for (size_t i = 0; i < s->nruns; i++)
		if ((s->runs[i].state == RUN_DISPATCHED || s->runs[i].state == RUN_RUNNING) &&
		    strcmp(s->runs[i].node, node) == 0)
			n++;
	return n;
}

/* Heard from node within the evidence window (see the file comment). */
static bool heard_recently(struct sched *s, const struct sched_worker *w)
{
	int64_t window = s->opt.heartbeat_ms > 1000 ? s->opt.heartbeat_ms : 1000;
	return w && w->last_datagram && clock_mono_ms() - w->last_datagram <= window;
}

static void on_change(void *ctx, const struct swim_member *m, enum swim_state old)
{
	struct sched *s = ctx;
	if (m->state == old)
		return;
	/* A death we watched happen counts for the storm guard; one we only
	 * learn of (joining, old UNKNOWN) is history, not a storm, and one we
	 * do not believe (we still hear the node) is no death at all. */
	if (m->state == SWIM_DEAD && (old == SWIM_ALIVE || old == SWIM_SUSPECT) &&
	    !heard_recently(s, sched_worker_find(s, m->name)))
		sched_fence_note_death(s, m->name, 0);
	/* Fencing itself is the sweep's (next tick), after the evidence check. */
	if (m->state == SWIM_LEFT && !holds_runs(s, m->name))
		log_info("worker %s left the cluster (graceful: no fence needed)", m->name);
}

/* The same, for the sweep: says once that it waits. */
static bool still_heard(struct sched *s, const char *node)
{
	struct sched_worker *w = sched_worker_find(s, node);
	if (!heard_recently(s, w)) {
		if (w)
			w->dead_but_heard = false;
		return false;
	}
	if (!w->dead_but_heard)
		log_info("gossip says %s is gone, but it was heard %lld ms ago: not fencing it "
			 "unless it falls silent", node,
			 (long long)(clock_mono_ms() - w->last_datagram));
	w->dead_but_heard = true;
	return true;
}

void sched_members_sweep(struct sched *s)
{
	bool grace_over = clock_mono_ms() - s->started_mono > s->opt.node_grace_ms;
	char to_fence[8][WIRE_NAME_MAX + 1];
	const char *why[8];
	size_t n = 0;
	for (size_t i = 0; i < s->nruns && n < 8; i++) {
		const struct sched_run *r = &s->runs[i];
		if (r->state != RUN_DISPATCHED && r->state != RUN_RUNNING)
			continue;
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup |= strcmp(to_fence[k], r->node) == 0;
		const struct swim_member *m = sched_member(s, r->node);
		if (dup || (m && m->state != SWIM_DEAD && m->state != SWIM_LEFT) ||
		    (!m && !grace_over) || still_heard(s, r->node))
			continue;
		snprintf(to_fence[n], sizeof(to_fence[n]), "%s", r->node);
		why[n++] = !m			    ? "has not been seen since the scheduler started"
			   : m->state == SWIM_DEAD ? "is dead (gossip)"
						   : "left the cluster";
		struct sched_worker *w = sched_worker_find(s, r->node);
		if (!m && w && !w->grace_fenced) {
			w->grace_fenced = true;
			sched_fence_note_death(s, r->node, 1); /* not a member: count it */
		}
	}
	/* Fencing changes s->runs: names were copied first. */
	for (size_t k = 0; k < n; k++)
		sched_fence_node(s, to_fence[k], why[k]);
}

int sched_gossip_start(struct sched *s)
{
	struct gossip_config gc = {
		.net = s->net,
		.loop = s->loop,
		.name = s->opt.name,
		.addr = s->opt.advertise,
		.incarnation = s->incarnation,
		.swim = &s->opt.swim,
		.on_change = on_change,
		.ctx = s,
	};
	int rc = gossip_new(&gc, &s->gossip);
	if (rc < 0)
		return rc;
	/* Seeds: the configured ones, then the nodes we knew (a restarted
	 * scheduler finds the cluster again without any configuration). */
	char seeds[4096];
	size_t len = (size_t)snprintf(seeds, sizeof(seeds), "%s", s->opt.seeds ? s->opt.seeds : "");
	if (len >= sizeof(seeds))
		return -EINVAL;
	for (size_t i = 0, n = 0; i < s->nworkers && n < SWIM_SEEDS_MAX / 2; i++) {
		char addr[NET_ADDR_STRLEN];
		if (!s->workers[i].have_addr)
			continue;
		net_addr_format(&s->workers[i].addr, addr, sizeof(addr));
		if (len + strlen(addr) + 2 >= sizeof(seeds))
			break;
		len += (size_t)snprintf(seeds + len, sizeof(seeds) - len, "%s%s", len ? "," : "", addr);
		n++;
	}
	return gossip_join(s->gossip, seeds);
}
