/*
 * sched_storm.c - no fence storms (DESIGN rule 7).
 *
 * When at least fence_storm_min distinct members, and more than
 * fence_storm_share of the members, are declared dead within
 * fence_storm_window, the likeliest cause is the scheduler's own network:
 * fencing them all would power off a healthy cluster.  Fencing pauses,
 * loudly: every open request is marked paused (in the store too) and no
 * hook is started for it, and so is every request opened while the pause
 * lasts.  (A hook call already running is let finish.)
 *
 * The members that made the storm, or died during it, are remembered.  The
 * pause lifts by itself once each of them is resolved, that is, back in
 * gossip (ALIVE or LEFT) or confirmed by an operator, and no paused request
 * is left; or at once with `schedctl fence resume`.
 *
 * The share is taken of the members that could die in the window: ALIVE,
 * SUSPECT, or DEAD since the window began (long-dead members linger in
 * gossip for reclaim_ms and must not dilute a new storm).
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "sched.h"

static size_t storm_members(const struct sched *s, int64_t now)
{
	if (!s->gossip)
		return 0;
	const struct swim *sw = gossip_swim(s->gossip);
	size_t n = 0;
	for (size_t i = 0; i < swim_member_count(sw); i++) {
		const struct swim_member *m = swim_member_at(sw, i);
		if (m == swim_self(sw) || m->state == SWIM_LEFT)
			continue;
		if (m->state != SWIM_DEAD || now - m->state_changed_ms <= s->opt.storm_window_ms)
			n++;
	}
	return n;
}

static void storm_pause(struct sched *s, size_t deaths, size_t members)
{
	if (!s->storm) {
		log_errorx("FENCING PAUSED: %zu of %zu member(s) declared dead within %lld ms; this "
			   "looks like the scheduler's own network.  Nodes come back by themselves, "
			   "or: schedctl fence confirm NODE (each), or schedctl fence resume",
			   deaths, members, (long long)s->opt.storm_window_ms);
		s->storm_since = clock_mono_ms();
	}
	s->storm = true;
	if (store_fence_set_paused(s->store, NULL, true, clock_wall_ms(), NULL) < 0)
		log_warnx("could not record the fencing pause");
	for (size_t i = 0; i < s->nfences; i++)
		s->fences[i].paused = true;
}

/* A member was declared dead (or did not come back after our restart).
 * A storm is many distinct members: one that dies again counts once. */
void sched_fence_note_death(struct sched *s, const char *node, size_t extra)
{
	int64_t now = clock_mono_ms();
	struct sched_death *d = &s->deaths[s->ndeaths++ % SCHED_DEATHS_RING];
	d->at = now;
	d->resolved = false;
	snprintf(d->node, sizeof(d->node), "%s", node);
	size_t recent = 0, n = s->ndeaths < SCHED_DEATHS_RING ? s->ndeaths : SCHED_DEATHS_RING;
	for (size_t i = 0; i < n; i++) {
		if (now - s->deaths[i].at > s->opt.storm_window_ms)
			continue;
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = now - s->deaths[k].at <= s->opt.storm_window_ms &&
			       strcmp(s->deaths[k].node, s->deaths[i].node) == 0;
		recent += !seen;
	}
	size_t members = storm_members(s, now) + extra;
	if (members < recent)
		members = recent;
	if (recent >= (size_t)s->opt.storm_min && recent > s->opt.storm_share * (double)members)
		storm_pause(s, recent, members);
}

/* An operator confirmed node: it counts as resolved for the storm. */
void sched_storm_resolved(struct sched *s, const char *node)
{
	for (size_t i = 0; i < SCHED_DEATHS_RING && i < s->ndeaths; i++)
		if (strcmp(s->deaths[i].node, node) == 0)
			s->deaths[i].resolved = true;
}

void sched_fence_resume(struct sched *s, const char *why)
{
	if (!s->storm)
		return;
	s->storm = false;
	s->ndeaths = 0;
	store_fence_set_paused(s->store, NULL, false, clock_wall_ms(), NULL);
	for (size_t i = 0; i < s->nfences; i++)
		s->fences[i].paused = false;
	log_warnx("fencing resumed: %s", why);
}

/* Every tick while paused: lift the pause once the storm is resolved. */
void sched_storm_tick(struct sched *s)
{
	if (!s->storm)
		return;
	for (size_t i = 0; i < s->nfences; i++)
		if (s->fences[i].paused)
			return;
	int64_t from = s->storm_since - s->opt.storm_window_ms;
	for (size_t i = 0; i < SCHED_DEATHS_RING && i < s->ndeaths; i++) {
		const struct sched_death *d = &s->deaths[i];
		if (d->resolved || d->at < from)
			continue;
		const struct swim_member *m = sched_member(s, d->node);
		if (!m || m->state == SWIM_DEAD || m->state == SWIM_SUSPECT)
			return; /* still gone, nobody vouched for it */
	}
	sched_fence_resume(s, "every member of the storm is back or confirmed");
}
