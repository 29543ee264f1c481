/*
 * swim_members.c - the member table of swim.c, the incarnation rules that
 * decide which claim about a member wins, the Lifeguard suspicion timer,
 * and the choice of updates to piggyback.
 *
 * Incarnation rules.  A claim about a member is a pair (incarnation,
 * state); claims are ordered by incarnation, then by state rank ALIVE <
 * SUSPECT < DEAD < LEFT, and the larger one wins.  That single total order
 * gives exactly the SWIM rules: ALIVE(i) beats SUSPECT(j) only if i > j;
 * SUSPECT(i) beats ALIVE(j) if i >= j; DEAD(i) beats both for the same
 * incarnation; a member that comes back after being declared dead must
 * present a higher incarnation.  Because every node keeps the maximum
 * claim it has seen, views converge whatever the order in which gossip
 * arrives.  Only the member itself raises its incarnation: when it hears
 * an accusation (SUSPECT, DEAD, LEFT) at or above its own incarnation, or
 * an ALIVE above it (a previous life), it jumps past it and gossips ALIVE.
 *
 * The table is an array of individually allocated nodes (so a struct
 * swim_member pointer survives growth) with an open-addressing index by
 * name hash.  Memory grows with the membership only; receiving a datagram
 * allocates nothing.
 *
 * Dissemination keeps one update per member: its current state.  A newer
 * claim replaces the update in place and restarts its count, so stale
 * news is never sent after fresher news about the same member.  Each
 * update is piggybacked at most retransmit_mult * ceil(log10(n + 1))
 * times, least-sent first, then most recent first.  Two updates jump the
 * queue whatever their count: our own LEFT after swim_leave(), and, on a
 * message to a member we suspect or believe dead, that suspicion (the
 * Lifeguard "buddy system": tell the accused first, so it can refute).
 * Last comes one random member's full record (anti-entropy, as in
 * Tarantool), which repairs the rare member that missed every copy of an
 * update.
 */
#include "swim_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- table -------------------------------------------------------------- */

uint64_t swim_name_hash(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void index_put(uint32_t *index, size_t index_cap, uint64_t h, size_t pos)
{
	size_t mask = index_cap - 1;
	size_t j = (size_t)h & mask;
	while (index[j])
		j = (j + 1) & mask;
	index[j] = (uint32_t)(pos + 1);
}

static void index_rebuild(struct swim *s)
{
	memset(s->index, 0, s->index_cap * sizeof(*s->index));
	for (size_t i = 0; i < s->n; i++)
		index_put(s->index, s->index_cap, s->nodes[i]->hash, i);
}

struct swim_node *swim_table_find(const struct swim *s, const void *name, size_t len)
{
	if (!s->index_cap)
		return NULL;
	uint64_t h = swim_name_hash(name, len);
	size_t mask = s->index_cap - 1;
	for (size_t j = (size_t)h & mask; s->index[j]; j = (j + 1) & mask) {
		struct swim_node *nd = s->nodes[s->index[j] - 1];
		if (nd->hash == h && strlen(nd->m.name) == len &&
		    memcmp(nd->m.name, name, len) == 0)
			return nd;
	}
	return NULL;
}

/* Double every array indexed by member; all or nothing. */
static int table_grow(struct swim *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 8;
	size_t icap = s->index_cap ? s->index_cap : 16;
	while (icap < 2 * ncap)
		icap *= 2;
	struct swim_node **nodes = calloc(ncap, sizeof(*nodes));
	struct swim_node **order = calloc(ncap, sizeof(*order));
	struct swim_node **scratch = calloc(ncap, sizeof(*scratch));
	uint32_t *index = calloc(icap, sizeof(*index));
	if (!nodes || !order || !scratch || !index)
		goto fail;
	if (s->n)
		memcpy(nodes, s->nodes, s->n * sizeof(*nodes));
	if (s->order_n)
		memcpy(order, s->order, s->order_n * sizeof(*order));
	free(s->nodes);
	free(s->order);
	free(s->scratch);
	free(s->index);
	s->nodes = nodes;
	s->order = order;
	s->scratch = scratch;
	s->index = index;
	s->cap = ncap;
	s->index_cap = icap;
	index_rebuild(s);
	return 0;
fail:
	free(index);
	free(scratch);
	free(order);
	free(nodes);
	return -1;
}

struct swim_node *swim_table_add(struct swim *s, const char *name, const char *addr)
{
	if (s->n == s->cap && table_grow(s) < 0)
		return NULL;
	struct swim_node *nd = calloc(1, sizeof(*nd));
	if (!nd)
		return NULL;
	snprintf(nd->m.name, sizeof(nd->m.name), "%s", name);
	snprintf(nd->m.addr, sizeof(nd->m.addr), "%s", addr);
	nd->m.state = SWIM_UNKNOWN;
	nd->hash = swim_name_hash(nd->m.name, strlen(nd->m.name));
	nd->tx = UINT32_MAX;
	s->nodes[s->n] = nd;
	index_put(s->index, s->index_cap, nd->hash, s->n);
	s->n++;
	return nd;
}

static void order_remove(struct swim *s, struct swim_node *nd)
{
	for (size_t i = 0; i < s->order_n; i++) {
		if (s->order[i] != nd)
			continue;
		memmove(&s->order[i], &s->order[i + 1], (s->order_n - i - 1) * sizeof(*s->order));
		s->order_n--;
		if (s->order_pos > i)
			s->order_pos--;
		break;
	}
	nd->in_order = false;
}

void swim_table_reclaim(struct swim *s, int64_t now)
{
	if (!s->cfg.reclaim_ms)
		return;
	bool removed = false;
	for (size_t i = 0; i < s->n;) {
		struct swim_node *nd = s->nodes[i];
		bool gone = nd->m.state == SWIM_DEAD || nd->m.state == SWIM_LEFT;
		if (nd->is_self || !gone ||
		    now - nd->m.state_changed_ms < (int64_t)s->cfg.reclaim_ms) {
			i++;
			continue;
		}
		order_remove(s, nd);
		if (s->probe.target == nd) {
			s->probe.active = false;
			s->probe.target = NULL;
		}
		free(nd);
		s->nodes[i] = s->nodes[--s->n];
		removed = true;
	}
	if (removed)
		index_rebuild(s);
}

static bool is_live(const struct swim_node *nd)
{
	return nd->m.state == SWIM_ALIVE || nd->m.state == SWIM_SUSPECT;
}

static uint64_t below(struct swim *s, uint64_t n)
{
	return n ? s->cb.random_u64(s->cb.ctx) % n : 0;
}

/* A member that became live joins the current round at a random place
 * among those not yet probed, so it is probed within this round. */
static void order_insert(struct swim *s, struct swim_node *nd)
{
	if (nd->in_order || nd->is_self)
		return;
	size_t span = s->order_n - s->order_pos + 1;
	size_t j = s->order_pos + (size_t)below(s, span);
	s->order[s->order_n++] = s->order[j];
	s->order[j] = nd;
	nd->in_order = true;
}

static void reshuffle(struct swim *s)
{
	s->order_n = 0;
	s->order_pos = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct swim_node *nd = s->nodes[i];
		nd->in_order = !nd->is_self && is_live(nd);
		if (nd->in_order)
			s->order[s->order_n++] = nd;
	}
	for (size_t i = s->order_n; i > 1; i--) { /* Fisher-Yates */
		size_t j = (size_t)below(s, i);
		struct swim_node *t = s->order[i - 1];
		s->order[i - 1] = s->order[j];
		s->order[j] = t;
	}
}

struct swim_node *swim_next_target(struct swim *s)
{
	for (int pass = 0; pass < 2; pass++) {
		while (s->order_pos < s->order_n) {
			struct swim_node *nd = s->order[s->order_pos++];
			if (is_live(nd))
				return nd;
		}
		reshuffle(s);
	}
	return NULL;
}

void swim_set_state(struct swim *s, struct swim_node *nd, enum swim_state st, int64_t now)
{
	enum swim_state old = nd->m.state;
	if (old == st)
		return;
	bool was_live = is_live(nd);
	nd->m.state = st;
	nd->m.state_changed_ms = now;
	if (was_live && !is_live(nd))
		s->n_live--;
	else if (!was_live && is_live(nd)) {
		s->n_live++;
		order_insert(s, nd);
	}
	if (!nd->is_self && s->cb.on_change)
		s->cb.on_change(s->cb.ctx, &nd->m, old);
}

/* ---- dissemination ------------------------------------------------------ */

unsigned swim_retransmit_limit(const struct swim *s)
{
	unsigned digits = 0; /* ceil(log10(n + 1)) without floating point */
	for (uint64_t p = 1; p < (uint64_t)s->n + 1; p *= 10)
		digits++;
	return s->cfg.retransmit_mult * (digits ? digits : 1);
}

void swim_gossip(struct swim *s, struct swim_node *nd)
{
	nd->tx = 0;
	nd->useq = ++s->useq;
}

void swim_node_rec(const struct swim_node *nd, bool full, struct swim_rec_src *r)
{
	r->state = nd->m.state;
	r->inc = nd->m.incarnation;
	r->name = nd->m.name;
	r->addr = nd->m.addr;
	bool accused = nd->m.state == SWIM_SUSPECT || nd->m.state == SWIM_DEAD;
	r->from = accused ? nd->from : "";
	bool meta = full || nd->m.state == SWIM_ALIVE;
	r->meta = nd->m.meta;
	r->meta_len = meta ? nd->m.meta_len : 0;
}

static bool put_update(struct swim *s, struct swim_wbuf *w, struct swim_node *nd)
{
	struct swim_rec_src r;
	swim_node_rec(nd, false, &r);
	if (!swim_enc_record(w, &r))
		return false;
	if (nd->tx < UINT32_MAX)
		nd->tx++;
	s->stats.updates_sent++;
	return true;
}

/* Send order: least sent first, then most recent first. */
static bool sends_before(const struct swim_node *x, const struct swim_node *y)
{
	return x->tx != y->tx ? x->tx < y->tx : x->useq > y->useq;
}

static void sift_down(struct swim_node **a, size_t i, size_t n)
{
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && sends_before(a[c], a[c + 1]))
			c++;
		if (!sends_before(a[i], a[c]))
			return;
		struct swim_node *t = a[i];
		a[i] = a[c];
		a[c] = t;
		i = c;
	}
}

/* In place (glibc's qsort may allocate, and this runs per datagram). */
static void sort_for_sending(struct swim_node **a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (size_t end = n; end > 1; end--) {
		struct swim_node *t = a[0];
		a[0] = a[end - 1];
		a[end - 1] = t;
		sift_down(a, 0, end - 1);
	}
}

void swim_piggyback(struct swim *s, struct swim_wbuf *w, struct swim_node *to, bool with_self)
{
	size_t count_off = swim_enc_records_begin(w);
	unsigned count = 0;
	struct swim_node *first[2] = {NULL, NULL};
	if (s->left)
		first[0] = s->self;
	if (to && !to->is_self && (to->m.state == SWIM_SUSPECT || to->m.state == SWIM_DEAD))
		first[1] = to;
	for (int i = 0; i < 2; i++)
		if (first[i] && put_update(s, w, first[i]))
			count++;
	bool self_in = first[0] != NULL;

	unsigned limit = swim_retransmit_limit(s);
	size_t nc = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct swim_node *nd = s->nodes[i];
		if (nd->tx < limit && nd != first[0] && nd != first[1])
			s->scratch[nc++] = nd;
	}
	sort_for_sending(s->scratch, nc);
	/* A record that does not fit is skipped; a smaller one may. */
	for (size_t i = 0; i < nc && count < SWIM_UPDATES_MAX; i++) {
		if (put_update(s, w, s->scratch[i])) {
			count++;
			self_in |= s->scratch[i] == s->self;
		}
	}

	/* A ping always introduces its sender: whoever we probe learns of
	 * us within a probe round even if every copy of our ALIVE was lost
	 * on the way to it.  Not counted as a retransmission. */
	struct swim_rec_src r;
	if (with_self && !self_in && count < SWIM_UPDATES_MAX) {
		swim_node_rec(s->self, false, &r);
		if (swim_enc_record(w, &r))
			count++;
	}

	/* Anti-entropy: one random member's full record, whatever its age,
	 * so that a member that missed an update (every copy of it lost)
	 * still learns it within about n messages.  Not counted as a
	 * retransmission.  (It cannot teach a reclaimed member back:
	 * swim_apply() adds unknown members from ALIVE records only.) */
	struct swim_node *ae = s->n ? s->nodes[below(s, s->n)] : NULL;
	if (ae && count < SWIM_UPDATES_MAX) {
		swim_node_rec(ae, true, &r);
		if (swim_enc_record(w, &r))
			count++;
	}
	swim_enc_records_end(w, count_off, count);
}

size_t swim_pending_updates(const struct swim *s)
{
	unsigned limit = swim_retransmit_limit(s);
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++)
		k += s->nodes[i]->tx < limit;
	return k;
}

/* ---- Lifeguard: local health and suspicion ------------------------------ */

void swim_lhm_add(struct swim *s, int delta)
{
	if (delta > 0 && s->lhm < s->cfg.lhm_max)
		s->lhm++;
	else if (delta < 0 && s->lhm > 0)
		s->lhm--;
}

void swim_suspicion_bounds(const struct swim *s, int64_t *min_ms, int64_t *max_ms)
{
	double f = log10((double)(s->n_live ? s->n_live : 1));
	if (f < 1.0)
		f = 1.0;
	int64_t min = (int64_t)(s->cfg.suspicion_mult * f * s->cfg.probe_interval_ms);
	*min_ms = min;
	*max_ms = min * s->cfg.suspicion_max_mult;
}

/*
 * Lifeguard's shrinking timeout: it starts at max when the first
 * accusation arrives and moves toward min as k independent accusers
 * confirm, timeout = max - (max - min) * log(c + 1) / log(k + 1), always
 * measured from the first accusation.  k is capped by the members that
 * could confirm at all (everyone but the suspect and the first accuser),
 * and with nobody left to confirm the timeout is simply min.
 */
int64_t swim_susp_deadline(const struct swim *s, const struct swim_node *nd)
{
	int64_t min, max;
	swim_suspicion_bounds(s, &min, &max);
	int64_t k = s->cfg.suspicion_k;
	if (k > (int64_t)s->n_live - 2)
		k = (int64_t)s->n_live - 2;
	if (k < 1)
		return nd->susp_start_ms + min;
	int64_t c = nd->susp_nby ? (int64_t)nd->susp_nby - 1 : 0;
	if (c > k)
		c = k;
	double frac = log((double)c + 1.0) / log((double)k + 1.0);
	int64_t t = max - (int64_t)((double)(max - min) * frac);
	if (t < min)
		t = min;
	return nd->susp_start_ms + t;
}

static void susp_begin(struct swim_node *nd, uint64_t by, int64_t now)
{
	nd->susp_start_ms = now;
	nd->last_call = false;
	nd->susp_by[0] = by;
	nd->susp_nby = 1;
}

/* A new, independent accuser?  Stops counting past suspicion_k. */
static bool susp_confirm(const struct swim *s, struct swim_node *nd, uint64_t by)
{
	if (nd->susp_nby >= s->cfg.suspicion_k + 1 || nd->susp_nby >= SWIM_K_MAX + 1)
		return false;
	for (unsigned i = 0; i < nd->susp_nby; i++)
		if (nd->susp_by[i] == by)
			return false;
	nd->susp_by[nd->susp_nby++] = by;
	return true;
}

void swim_suspect(struct swim *s, struct swim_node *nd, int64_t now)
{
	const char *me = s->self->m.name;
	uint64_t by = s->self->hash;
	if (nd->m.state == SWIM_ALIVE) {
		susp_begin(nd, by, now);
		snprintf(nd->from, sizeof(nd->from), "%s", me);
		swim_set_state(s, nd, SWIM_SUSPECT, now);
		swim_gossip(s, nd);
		s->stats.suspicions++;
	} else if (nd->m.state == SWIM_SUSPECT && susp_confirm(s, nd, by)) {
		snprintf(nd->from, sizeof(nd->from), "%s", me);
		swim_gossip(s, nd);
	}
}

/* ---- read-only accessors (swim.h) --------------------------------------- */

size_t swim_member_count(const struct swim *s)
{
	return s->n;
}

const struct swim_member *swim_member_at(const struct swim *s, size_t i)
{
	return i < s->n ? &s->nodes[i]->m : NULL;
}

const struct swim_member *swim_member_get(const struct swim *s, const char *name)
{
	if (!name)
		return NULL;
	const struct swim_node *nd = swim_table_find(s, name, strlen(name));
	return nd ? &nd->m : NULL;
}

const struct swim_member *swim_self(const struct swim *s)
{
	return &s->self->m;
}

unsigned swim_lhm(const struct swim *s)
{
	return s->lhm;
}

void swim_get_stats(const struct swim *s, struct swim_stats *out)
{
	*out = s->stats;
}

const char *swim_state_name(enum swim_state st)
{
	switch (st) {
	case SWIM_ALIVE:
		return "alive";
	case SWIM_SUSPECT:
		return "suspect";
	case SWIM_DEAD:
		return "dead";
	case SWIM_LEFT:
		return "left";
	default:
		return "unknown";
	}
}

/* ---- the incarnation rules ---------------------------------------------- */

static int rank(unsigned st)
{
	return st == SWIM_ALIVE ? 0 : st == SWIM_SUSPECT ? 1 : st == SWIM_DEAD ? 2 : 3;
}

/* >0: the claim (inc, st) beats what nd says; 0: same; <0: older. */
static int compare(uint64_t inc, unsigned st, const struct swim_node *nd)
{
	if (inc != nd->m.incarnation)
		return inc > nd->m.incarnation ? 1 : -1;
	return rank(st) - rank(nd->m.state);
}

/* Someone has older news than ours: spread ours again (if it is not
 * already spreading), so the correction reaches whoever still gossips the
 * stale claim.  This is what stops a lagging member from declaring dead a
 * member that refuted or left while its own updates were lost. */
static void correct_stale(struct swim *s, struct swim_node *nd)
{
	if (nd->tx >= swim_retransmit_limit(s))
		swim_gossip(s, nd);
}

/* A claim about ourselves. */
static void apply_self(struct swim *s, const struct swim_rec *r)
{
	struct swim_node *me = s->self;
	int c = compare(r->inc, r->state, me);
	/* Our own ALIVE at our incarnation but with other contents comes
	 * from a previous life that reused the incarnation: outdo it too. */
	if (c == 0 && r->state == SWIM_ALIVE &&
	    (!swim_str_eq(r->addr, me->m.addr) || r->meta.len != me->m.meta_len ||
	     (r->meta.len && memcmp(r->meta.p, me->m.meta, r->meta.len) != 0)))
		c = 1;
	if (s->left || c <= 0) {
		if (c < 0 && (s->left || r->state != SWIM_ALIVE))
			correct_stale(s, me);
		return;
	}
	/* A newer claim: an accusation (SUSPECT/DEAD/LEFT at >= our
	 * incarnation) or an ALIVE from a previous life.  Jump past it. */
	me->m.incarnation = r->inc + 1;
	swim_gossip(s, me);
	if (r->state != SWIM_ALIVE) {
		s->stats.refutations++;
		swim_lhm_add(s, +1);
		/* A refutation races the accusers' timers: push it now rather
		 * than at the next gossip tick. */
		s->next_gossip_ms = s->cb.now_ms(s->cb.ctx);
	}
}

static void set_meta(struct swim_node *nd, struct swim_str meta)
{
	memcpy(nd->m.meta, meta.p ? meta.p : (const uint8_t *)"", meta.len);
	nd->m.meta_len = meta.len;
}

void swim_apply(struct swim *s, const struct swim_rec *r, bool from_sync, int64_t now)
{
	struct swim_node *nd = swim_table_find(s, r->name.p, r->name.len);
	if (nd && nd->is_self) {
		apply_self(s, r);
		return;
	}
	bool accused = r->state == SWIM_SUSPECT || r->state == SWIM_DEAD;
	int c;
	if (!nd) {
		/* As in memberlist, only an ALIVE record introduces a member:
		 * news of the suspicion, death or departure of a member we
		 * never knew (or already forgot, see swim_table_reclaim) is
		 * of no use, and re-adding it would resurrect the forgotten.
		 * A joiner's SYNC is the exception: a restarted scheduler must
		 * learn who died while it was away. */
		if (r->state != SWIM_ALIVE && !from_sync)
			return;
		char name[SWIM_NAME_MAX + 1], addr[SWIM_ADDR_MAX + 1];
		swim_str_copy(name, sizeof(name), r->name);
		swim_str_copy(addr, sizeof(addr), r->addr);
		nd = swim_table_add(s, name, addr);
		if (!nd)
			return; /* out of memory: the news will come again */
		c = 1;
	} else {
		c = compare(r->inc, r->state, nd);
	}

	if (c > 0) {
		enum swim_state old = nd->m.state;
		bool changed = false;
		nd->m.incarnation = r->inc;
		if (r->state == SWIM_ALIVE || old == SWIM_UNKNOWN) {
			changed = !swim_str_eq(r->addr, nd->m.addr) ||
				  r->meta.len != nd->m.meta_len ||
				  (r->meta.len && memcmp(r->meta.p, nd->m.meta, r->meta.len) != 0);
			swim_str_copy(nd->m.addr, sizeof(nd->m.addr), r->addr);
			set_meta(nd, r->meta);
		}
		if (accused)
			swim_str_copy(nd->from, sizeof(nd->from), r->from);
		if (r->state == SWIM_SUSPECT)
			susp_begin(nd, swim_name_hash(r->from.p, r->from.len), now);
		if (old != r->state)
			swim_set_state(s, nd, r->state, now);
		else if (changed && s->cb.on_change)
			s->cb.on_change(s->cb.ctx, &nd->m, old); /* new metadata or address */
		if (from_sync)
			nd->tx = UINT32_MAX; /* the cluster knows; nothing to spread */
		else
			swim_gossip(s, nd);
	} else if (from_sync) {
		return;
	} else if (c == 0 && r->state == SWIM_SUSPECT) {
		/* Another accuser of the same suspicion: the timer shrinks, and
		 * the confirmation is passed on so that others count it too. */
		if (susp_confirm(s, nd, swim_name_hash(r->from.p, r->from.len))) {
			swim_str_copy(nd->from, sizeof(nd->from), r->from);
			swim_gossip(s, nd);
		}
	} else if (c < 0 && (accused || nd->m.state == SWIM_DEAD || nd->m.state == SWIM_LEFT)) {
		/* Only wrong accusations and missed departures are corrected;
		 * an old ALIVE is mere lag, repaired by anti-entropy. */
		correct_stale(s, nd);
	}
}
