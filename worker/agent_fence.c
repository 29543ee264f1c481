/*
 * agent_fence.c - what a worker does with a run whose lease ran out
 * (DESIGN rule 6): kill it (self-fencing) or keep it running.
 *
 * A lease that is not renewed means one of two things, and they need
 * opposite answers:
 *
 *   - this worker is cut off (from the scheduler, or from most of the
 *     cluster).  The scheduler may declare it dead, fence it and run its
 *     tasks elsewhere; the local copies must be gone by then, so they are
 *     killed when the lease ends.  The fence hook is the first wall, this
 *     is the second.
 *
 *   - the scheduler is down for everyone (a crash, a restart, an
 *     upgrade).  Then nobody can declare anything dead or reassign a run,
 *     so killing healthy work would only lose it.  The runs go on and are
 *     reported when the scheduler is back.
 *
 * Gossip tells them apart: the scheduler is a member too.  We keep a run
 * only when our view says "the scheduler is not alive, and a strict
 * majority of the other members are" (so the outage is the scheduler's,
 * and we are on the healthy side).  Every doubt self-fences: no other
 * member to compare with, a scheduler gossip still sees alive (so it is
 * us it does not reach), or a minority of alive peers (so we are the one
 * isolated).  SUSPECT peers do not count as alive: a worker on the wrong
 * side of a partition sees its peers turn SUSPECT first.
 *
 * agent_fence_decide() is the rule alone, on three numbers, so it is
 * tested on a table; agent_fence_check() reads our gossip view into it.
 */
#include <assert.h>
#include <string.h>

#include "agent.h"
#include "gossip.h"

enum agent_fence_verdict agent_fence_decide(enum swim_state scheduler, unsigned others,
					    unsigned others_alive)
{
	assert(others_alive <= others);
	if (scheduler == SWIM_ALIVE)
		return FENCE_CUT_OFF;
	if (others == 0)
		return FENCE_ALONE;
	if (2 * others_alive <= others)
		return FENCE_ISOLATED;
	return FENCE_KEEP;
}

/* Why, in the words of the run's error or of the log line. */
static const char *const verdict_text[] = {
	[FENCE_KEEP] = "the scheduler is down for everyone: the run is kept",
	[FENCE_CUT_OFF] = "the scheduler is alive in gossip, so this worker is cut off from it",
	[FENCE_ALONE] = "no other member to tell a scheduler outage from our isolation",
	[FENCE_ISOLATED] = "most other members are not alive, so this worker is isolated",
};

const char *agent_fence_verdict_text(enum agent_fence_verdict v)
{
	return v < sizeof(verdict_text) / sizeof(verdict_text[0]) && verdict_text[v]
		       ? verdict_text[v]
		       : "?";
}

/*
 * Count, in our view: the scheduler's state (SWIM_UNKNOWN if gossip has
 * never heard of it), the other members, and how many of them are ALIVE.
 * Members that LEFT announced a graceful departure: they are no longer
 * part of the cluster, so they count neither way.  DEAD ones do count
 * (as not alive): we cannot tell a dead peer from one we are cut off
 * from, and the doubt must self-fence.
 */
void agent_fence_view(struct agent *a, struct agent_fence_view *v)
{
	memset(v, 0, sizeof(*v));
	v->scheduler = SWIM_UNKNOWN;
	if (!a->gossip)
		return;
	struct swim *s = gossip_swim(a->gossip);
	const struct swim_member *self = swim_self(s);
	for (size_t i = 0; i < swim_member_count(s); i++) {
		const struct swim_member *m = swim_member_at(s, i);
		if (m == self || strcmp(m->name, self->name) == 0)
			continue;
		if (strcmp(m->name, a->opt.scheduler_name) == 0) {
			v->scheduler = m->state;
			v->scheduler_since = m->state_changed_ms;
			continue;
		}
		if (m->state == SWIM_LEFT)
			continue;
		v->others++;
		if (m->state == SWIM_ALIVE)
			v->others_alive++;
	}
}
