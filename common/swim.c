/*
 * swim.c - SWIM membership with the Lifeguard refinements (see swim.h).
 *
 * SWIM (Das, Gupta, Motivala, 2002) splits membership into a failure
 * detector and a dissemination component, and makes both cost O(1)
 * messages per member per period whatever the cluster size.
 *
 * Failure detection.  Every probe period a member pings one other member.
 * The target is taken round-robin from a list that is reshuffled at the
 * start of every round, so each member is probed by each other member
 * once per round: the time to a first probe of a failed member is bounded
 * (at most 2n - 3 periods), unlike with independent random picks.  A
 * member that joins mid-round is inserted at a random place in the rest
 * of the round.  If no ack comes within the probe timeout, k helpers are
 * asked to ping the target on our behalf (ping-req) and relay its ack;
 * this separates "the target is down" from "the path between us is bad".
 * If no ack, direct or relayed, arrives by the end of the period, the
 * target is suspected, not declared dead: the suspicion is gossiped, and
 * a member that hears it is suspected refutes by raising its incarnation
 * and gossiping ALIVE.  Only a suspicion that outlives its timeout without
 * refutation makes the member DEAD, which is gossiped too.  DEAD is what
 * the scheduler fences on, so everything below is about never reaching it
 * for a member that is merely slow, far, or unlucky.  One addition of
 * ours: when a suspicion expires, the suspect gets one last direct ping
 * carrying the suspicion, and one probe timeout to refute in its ack, so
 * that a member whose refutation was lost on the way to us (every copy
 * of it: a few percent of cases with a handful of copies) is not buried
 * while we can still reach it.
 *
 * Lifeguard (Dadgar, Phillips, Currey, 2018) observed that most false
 * positives come from the accuser, not the accused: a member whose own
 * process or network is slow misses acks and blames the others.  It adds:
 *
 *  - Local health (LHM, 0..lhm_max).  A probe that fails while the
 *    helpers did not even send the nacks they owe us is evidence that we
 *    are the sick one: +1.  Having to refute a suspicion about ourselves:
 *    +1.  A successful probe: -1.  Probe interval and timeout are scaled by
 *    LHM + 1, so a sick member probes less often and waits longer before
 *    suspecting anybody.
 *  - Nacks.  A helper that cannot reach the target within the time the
 *    requester gave it answers "nack", so the requester can tell a dead
 *    target (nacks arrive) from its own deafness (nothing arrives).
 *  - Suspicion timeouts that start long and shrink as independent members
 *    confirm the suspicion (swim_members.c has the formula), so that one
 *    confused accuser cannot kill anybody quickly, while a member that is
 *    really gone is declared dead fast once several agree.
 *  - The buddy system: a ping to a member we suspect carries that
 *    suspicion first, so the accused learns of it at once and refutes.
 *
 * Dissemination piggybacks membership updates on the probe traffic (ping,
 * ack, ping-req, nack), so news spreads epidemically in O(log n) periods;
 * while there is news, it is also pushed to a few random members every
 * gossip interval, as memberlist does, because a refutation must outrun
 * the suspicion timeout.  Every update is sent a bounded number of times
 * either way, and swim_members.c chooses what to send.  Bounded gossip
 * can miss a member (every copy lost or sent elsewhere), so, as in
 * Tarantool, every message also carries one random member's full record
 * (anti-entropy), and every ping carries its sender's own record: a
 * member we probe learns of us within a probe round whatever happened to
 * our ALIVE.  A joining member asks its seeds for their whole member list
 * (JOIN, answered by SYNC pages), since gossip only carries recent
 * changes.  A member believed dead is pinged now and then (with its death
 * notice first), so that after a partition heals the two sides hear of
 * each other and the wrongly buried refute.
 *
 * As in Tarantool's SWIM, the protocol never touches a socket or a clock:
 * send, time and randomness are seams (struct swim_callbacks), which is
 * what makes the simulated clusters in tests/unit/test_swim.c
 * deterministic.  This file holds the instance, the message handlers and
 * the timers; swim_members.c the table, the incarnation rules and gossip;
 * swim_proto.c the payload codec.
 */
#include "swim_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t now_ms(struct swim *s)
{
	return s->cb.now_ms(s->cb.ctx);
}

static bool valid_str(const char *str, size_t max)
{
	return str && str[0] && strnlen(str, max + 1) <= max;
}

/* ---- sending ------------------------------------------------------------ */

static void transmit(struct swim *s, const char *to, struct swim_wbuf *w)
{
	if (w->overflow) { /* a bug: every field is bounded to fit */
		s->stats.send_errors++;
		return;
	}
	s->stats.sent++;
	if (s->cb.send(s->cb.ctx, to, w->buf, w->len) < 0)
		s->stats.send_errors++;
}

static struct swim_node *find_cstr(const struct swim *s, const char *name)
{
	return swim_table_find(s, name, strlen(name));
}

static struct swim_node *find_view(const struct swim *s, struct swim_str name)
{
	return swim_table_find(s, name.p, name.len);
}

/* PING seq to `to_addr`, meant for member `target` (node if known). */
static void send_ping(struct swim *s, const char *to_addr, const char *target, struct swim_node *nd,
		      uint32_t seq)
{
	struct swim_wbuf w;
	swim_enc_header(&w, s->txbuf, SWIM_MSG_PING, seq, s->self->m.name);
	swim_enc_str(&w, target);
	swim_piggyback(s, &w, nd, true);
	transmit(s, to_addr, &w);
}

/* ACK or NACK for seq, to a member known by address and maybe by name. */
static void send_reply(struct swim *s, uint8_t type, const char *to_addr, struct swim_node *to,
		       uint32_t seq)
{
	struct swim_wbuf w;
	swim_enc_header(&w, s->txbuf, type, seq, s->self->m.name);
	swim_piggyback(s, &w, to, false);
	transmit(s, to_addr, &w);
}

/* ---- failure detection -------------------------------------------------- */

static void probe_start(struct swim *s, int64_t t)
{
	int64_t scale = (int64_t)s->lhm + 1;
	s->next_probe_ms = t + (int64_t)s->cfg.probe_interval_ms * scale;
	struct swim_node *nd = swim_next_target(s);
	if (!nd)
		return;
	s->probe = (struct swim_probe){
		.active = true,
		.seq = ++s->seq,
		.target = nd,
		.timeout_at = t + (int64_t)s->cfg.probe_timeout_ms * scale,
		.deadline = s->next_probe_ms,
	};
	s->stats.probes++;
	send_ping(s, nd->m.addr, nd->m.name, nd, s->probe.seq);
}

/* No direct ack in time: ask k random live members to try. */
static void probe_indirect(struct swim *s, int64_t t)
{
	struct swim_probe *p = &s->probe;
	p->indirect_sent = true;
	size_t nc = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct swim_node *nd = s->nodes[i];
		if (!nd->is_self && nd != p->target && nd->m.state == SWIM_ALIVE)
			s->scratch[nc++] = nd;
	}
	/* The helpers' nacks must be back before our deadline: give them
	 * four fifths of what is left of the period. */
	int64_t window = (p->deadline - t) * 4 / 5;
	uint16_t timeout = window < 1 ? 1 : window > UINT16_MAX ? UINT16_MAX : (uint16_t)window;
	for (unsigned k = 0; k < s->cfg.indirect_k && nc > 0; k++) {
		size_t j = (size_t)(s->cb.random_u64(s->cb.ctx) % nc);
		struct swim_node *h = s->scratch[j];
		s->scratch[j] = s->scratch[--nc];

		struct swim_wbuf w;
		swim_enc_header(&w, s->txbuf, SWIM_MSG_PING_REQ, p->seq, s->self->m.name);
		swim_enc_str(&w, p->target->m.name);
		swim_enc_str(&w, p->target->m.addr);
		swim_enc_u16(&w, timeout);
		swim_piggyback(s, &w, h, false);
		transmit(s, h->m.addr, &w);
		p->helpers++;
		s->stats.ping_reqs++;
	}
}

/* The period ended with no ack. */
static void probe_fail(struct swim *s, int64_t t)
{
	struct swim_probe *p = &s->probe;
	p->active = false;
	/* Gone meanwhile (left, declared dead, forgotten): nothing to learn. */
	if (!p->target || (p->target->m.state != SWIM_ALIVE && p->target->m.state != SWIM_SUSPECT))
		return;
	/* Every helper owes us an ack or a nack; hearing from fewer than we
	 * asked (or having nobody to ask) points at our own health. */
	if (p->helpers == 0 || p->nacks < p->helpers)
		swim_lhm_add(s, +1);
	swim_suspect(s, p->target, t);
}

static void probe_timers(struct swim *s, int64_t t)
{
	struct swim_probe *p = &s->probe;
	if (p->active && !p->indirect_sent && t >= p->timeout_at && t < p->deadline)
		probe_indirect(s, t);
	if (p->active && t >= p->deadline)
		probe_fail(s, t);
	if (t >= s->next_probe_ms)
		probe_start(s, t);
}

/*
 * A suspicion that expires is not acted on at once: the suspect first
 * gets one last direct ping, carrying the suspicion (the buddy rule), and
 * one probe timeout to answer.  A live suspect refutes in its ack; so a
 * member whose refutation merely failed to reach us (every copy of it
 * lost, which happens at a few percent with a handful of copies) is not
 * buried while it can still be reached.  A dead one costs one timeout
 * more.
 */
static void suspicion_timers(struct swim *s, int64_t t)
{
	for (size_t i = 0; i < s->n; i++) {
		struct swim_node *nd = s->nodes[i];
		if (nd->m.state != SWIM_SUSPECT || t < swim_susp_deadline(s, nd))
			continue;
		if (!nd->last_call) {
			nd->last_call = true;
			nd->last_call_until =
				t + (int64_t)s->cfg.probe_timeout_ms * ((int64_t)s->lhm + 1);
			send_ping(s, nd->m.addr, nd->m.name, nd, ++s->seq);
			continue;
		}
		if (t < nd->last_call_until)
			continue;
		snprintf(nd->from, sizeof(nd->from), "%s", s->self->m.name);
		swim_set_state(s, nd, SWIM_DEAD, t);
		swim_gossip(s, nd);
		s->stats.deaths++;
	}
}

/* Relays whose target did not answer in time owe the requester a nack. */
static void relay_timers(struct swim *s, int64_t t)
{
	for (size_t i = 0; i < SWIM_RELAY_MAX; i++) {
		struct swim_relay *r = &s->relay[i];
		if (!r->used || t < r->nack_at)
			continue;
		r->used = false;
		send_reply(s, SWIM_MSG_NACK, r->req_addr, find_cstr(s, r->req_name), r->req_seq);
	}
}

/* Ping one random DEAD member, its death notice first: if it is in fact
 * alive (a healed partition) it refutes and the cluster takes it back. */
static void dead_probe(struct swim *s, int64_t t)
{
	s->next_dead_probe_ms = t + s->cfg.dead_probe_ms;
	struct swim_node *pick = NULL;
	uint64_t seen = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct swim_node *nd = s->nodes[i];
		if (nd->m.state == SWIM_DEAD && s->cb.random_u64(s->cb.ctx) % ++seen == 0)
			pick = nd;
	}
	if (pick)
		send_ping(s, pick->m.addr, pick->m.name, pick, ++s->seq);
}

/* GOSSIP: updates only, no answer expected. */
static void send_gossip(struct swim *s, struct swim_node *to)
{
	struct swim_wbuf w;
	swim_enc_header(&w, s->txbuf, SWIM_MSG_GOSSIP, ++s->seq, s->self->m.name);
	swim_piggyback(s, &w, to, false);
	transmit(s, to->m.addr, &w);
}

/*
 * Piggybacking alone moves news one hop per probe period, which is slow
 * next to a suspicion timeout of a few periods: a refutation would reach
 * the last member after it had already declared the refuter dead.  So,
 * as memberlist does, while there are updates to spread they are also
 * pushed to gossip_fanout random members every gossip_interval_ms.  The
 * number of copies of each update stays bounded by the retransmit limit;
 * a quiet cluster sends nothing extra.
 */
static void gossip_timer(struct swim *s, int64_t t)
{
	s->next_gossip_ms = t + s->cfg.gossip_interval_ms;
	if (!s->cfg.gossip_fanout || !swim_pending_updates(s))
		return;
	size_t nc = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct swim_node *nd = s->nodes[i];
		if (!nd->is_self && (nd->m.state == SWIM_ALIVE || nd->m.state == SWIM_SUSPECT))
			s->scratch[nc++] = nd;
	}
	for (unsigned k = 0; k < s->cfg.gossip_fanout && nc > 0; k++) {
		size_t j = (size_t)(s->cb.random_u64(s->cb.ctx) % nc);
		struct swim_node *to = s->scratch[j];
		s->scratch[j] = s->scratch[--nc];
		send_gossip(s, to);
	}
}

/* ---- join --------------------------------------------------------------- */

static void send_joins(struct swim *s, int64_t t)
{
	s->join_seq = ++s->seq;
	s->join_next_ms = t + s->cfg.join_retry_ms;
	s->sync_got = 0;
	struct swim_rec_src r;
	swim_node_rec(s->self, true, &r);
	for (size_t i = 0; i < s->nseeds; i++) {
		struct swim_wbuf w;
		swim_enc_header(&w, s->txbuf, SWIM_MSG_JOIN, s->join_seq, s->self->m.name);
		size_t off = swim_enc_records_begin(&w);
		swim_enc_records_end(&w, off, swim_enc_record(&w, &r) ? 1 : 0);
		transmit(s, s->seeds[i], &w);
	}
}

/* Encode members [i, ...) into a SYNC page; returns the next index. */
static size_t sync_page(struct swim *s, struct swim_wbuf *w, uint32_t seq, size_t i, unsigned page,
			unsigned pages)
{
	swim_enc_header(w, s->txbuf, SWIM_MSG_SYNC, seq, s->self->m.name);
	swim_enc_u16(w, (uint16_t)page);
	swim_enc_u16(w, (uint16_t)pages);
	size_t off = swim_enc_records_begin(w);
	unsigned count = 0;
	for (; i < s->n && count < SWIM_UPDATES_MAX; i++, count++) {
		struct swim_rec_src r;
		swim_node_rec(s->nodes[i], true, &r);
		if (!swim_enc_record(w, &r))
			break;
	}
	swim_enc_records_end(w, off, count);
	return i;
}

/* Push our whole member list to a joiner, in as many pages as it takes
 * (at most SWIM_SYNC_PAGES_MAX; gossip brings the rest in time). */
static void send_sync(struct swim *s, const char *to, uint32_t seq)
{
	struct swim_wbuf w;
	unsigned pages = 0;
	for (size_t i = 0, next; i < s->n && pages < SWIM_SYNC_PAGES_MAX; pages++, i = next)
		if ((next = sync_page(s, &w, seq, i, 0, 1)) == i)
			break; /* cannot happen: any record fits an empty page */
	size_t i = 0;
	for (unsigned page = 0; page < pages; page++) {
		i = sync_page(s, &w, seq, i, page, pages);
		transmit(s, to, &w);
	}
}

/* ---- message handlers --------------------------------------------------- */

static void on_ping(struct swim *s, const char *from, const struct swim_msg *m, int64_t t)
{
	(void)t;
	/* The address may now belong to somebody else: answer only for us. */
	if (!swim_str_eq(m->target, s->self->m.name))
		return;
	send_reply(s, SWIM_MSG_ACK, from, find_view(s, m->sender), m->seq);
}

static void on_ack(struct swim *s, const char *from, const struct swim_msg *m, int64_t t)
{
	(void)from;
	(void)t;
	if (s->probe.active && m->seq == s->probe.seq) {
		s->probe.active = false;
		s->stats.acks++;
		swim_lhm_add(s, -1);
		return;
	}
	for (size_t i = 0; i < SWIM_RELAY_MAX; i++) {
		struct swim_relay *r = &s->relay[i];
		if (r->used && r->my_seq == m->seq) {
			r->used = false;
			send_reply(s, SWIM_MSG_ACK, r->req_addr, find_cstr(s, r->req_name),
				   r->req_seq);
			return;
		}
	}
}

static void on_ping_req(struct swim *s, const char *from, const struct swim_msg *m, int64_t t)
{
	if (swim_str_eq(m->target, s->self->m.name))
		return; /* asked to ping ourselves: nonsense, let it nack-less fail */
	struct swim_relay *r = NULL;
	for (size_t i = 0; i < SWIM_RELAY_MAX && !r; i++)
		if (!s->relay[i].used)
			r = &s->relay[i];
	if (!r) {
		s->stats.relays_dropped++;
		return;
	}
	*r = (struct swim_relay){
		.used = true,
		.my_seq = ++s->seq,
		.req_seq = m->seq,
		.nack_at = t + m->timeout_ms,
	};
	snprintf(r->req_addr, sizeof(r->req_addr), "%s", from);
	swim_str_copy(r->req_name, sizeof(r->req_name), m->sender);
	char target[SWIM_NAME_MAX + 1], addr[SWIM_ADDR_MAX + 1];
	swim_str_copy(target, sizeof(target), m->target);
	swim_str_copy(addr, sizeof(addr), m->target_addr);
	send_ping(s, addr, target, find_view(s, m->target), r->my_seq);
}

static void on_nack(struct swim *s, const char *from, const struct swim_msg *m, int64_t t)
{
	(void)from;
	(void)t;
	if (s->probe.active && m->seq == s->probe.seq) {
		s->probe.nacks++;
		s->stats.nacks++;
	}
}

static void on_gossip(struct swim *s, const char *from, const struct swim_msg *m, int64_t t)
{
	(void)s;
	(void)from;
	(void)m;
	(void)t; /* the records were all there was */
}

static void on_join(struct swim *s, const char *from, const struct swim_msg *m, int64_t t)
{
	(void)t;
	send_sync(s, from, m->seq);
}

/* The join is complete once every page of one seed's push has arrived. */
static void on_sync(struct swim *s, const char *from, const struct swim_msg *m, int64_t t)
{
	(void)from;
	(void)t;
	if (!s->joining || m->seq != s->join_seq)
		return;
	uint64_t h = swim_name_hash(m->sender.p, m->sender.len);
	if (s->sync_got == 0) {
		s->sync_from = h;
		s->sync_pages = m->pages;
		memset(s->sync_seen, 0, sizeof(s->sync_seen));
	} else if (h != s->sync_from || m->pages != s->sync_pages) {
		return;
	}
	uint64_t bit = 1ULL << (m->page % 64);
	if (s->sync_seen[m->page / 64] & bit)
		return;
	s->sync_seen[m->page / 64] |= bit;
	if (++s->sync_got == s->sync_pages)
		s->joining = false;
}

typedef void (*swim_handler)(struct swim *, const char *, const struct swim_msg *, int64_t);

/* clang-format off */
static const swim_handler handlers[SWIM_MSG_TYPE_MAX + 1] = {
	[SWIM_MSG_PING]     = on_ping,
	[SWIM_MSG_ACK]      = on_ack,
	[SWIM_MSG_PING_REQ] = on_ping_req,
	[SWIM_MSG_NACK]     = on_nack,
	[SWIM_MSG_JOIN]     = on_join,
	[SWIM_MSG_SYNC]     = on_sync,
	[SWIM_MSG_GOSSIP]   = on_gossip,
};
/* clang-format on */

/* ---- public API --------------------------------------------------------- */

void swim_config_default(struct swim_config *cfg)
{
	*cfg = (struct swim_config){
		.probe_interval_ms = 200,
		.probe_timeout_ms = 100,
		.indirect_k = 3,
		.suspicion_mult = 4,
		.suspicion_max_mult = 6,
		.suspicion_k = 3,
		.retransmit_mult = 4,
		.gossip_interval_ms = 100,
		.gossip_fanout = 3,
		.lhm_max = 8,
		.join_retry_ms = 1000,
		.dead_probe_ms = 2000,
		.reclaim_ms = 3600000,
	};
}

static bool config_ok(const struct swim_config *c)
{
	return c->probe_interval_ms > 0 && c->probe_timeout_ms > 0 &&
	       c->probe_timeout_ms < c->probe_interval_ms && c->probe_interval_ms <= 60000 &&
	       c->indirect_k <= SWIM_K_MAX && c->suspicion_mult >= 1 && c->suspicion_mult <= 100 &&
	       c->suspicion_max_mult >= 1 && c->suspicion_max_mult <= 100 &&
	       c->suspicion_k <= SWIM_K_MAX && c->retransmit_mult >= 1 &&
	       c->retransmit_mult <= 100 && c->lhm_max <= 64 && c->join_retry_ms > 0 &&
	       c->gossip_interval_ms > 0 && c->gossip_fanout <= 16;
}

int swim_new(const struct swim_config *cfg, const struct swim_callbacks *cb, const char *name,
	     const char *addr, uint64_t incarnation, const uint8_t *meta, size_t meta_len,
	     struct swim **out)
{
	struct swim_config def;
	if (!cfg) {
		swim_config_default(&def);
		cfg = &def;
	}
	if (!out || !cb || !cb->send || !cb->now_ms || !cb->random_u64 || !config_ok(cfg) ||
	    !valid_str(name, SWIM_NAME_MAX) || !valid_str(addr, SWIM_ADDR_MAX) ||
	    meta_len > SWIM_META_MAX || (meta_len && !meta))
		return -EINVAL;
	struct swim *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->cb = *cb;
	struct swim_node *me = swim_table_add(s, name, addr);
	if (!me) {
		swim_free(s);
		return -ENOMEM;
	}
	me->is_self = true;
	me->m.incarnation = incarnation;
	if (meta_len)
		memcpy(me->m.meta, meta, meta_len);
	me->m.meta_len = (uint16_t)meta_len;
	s->self = me;
	int64_t t = now_ms(s);
	swim_set_state(s, me, SWIM_ALIVE, t);
	swim_gossip(s, me);
	s->next_probe_ms = t;
	s->next_dead_probe_ms = t + s->cfg.dead_probe_ms;
	*out = s;
	return 0;
}

void swim_free(struct swim *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->nodes[i]);
	free(s->nodes);
	free(s->order);
	free(s->scratch);
	free(s->index);
	free(s);
}

int swim_add_seed(struct swim *s, const char *addr)
{
	if (!valid_str(addr, SWIM_ADDR_MAX))
		return -EINVAL;
	if (strcmp(addr, s->self->m.addr) == 0)
		return 0;
	for (size_t i = 0; i < s->nseeds; i++)
		if (strcmp(s->seeds[i], addr) == 0)
			return 0;
	if (s->nseeds == SWIM_SEEDS_MAX)
		return -ENOSPC;
	snprintf(s->seeds[s->nseeds++], SWIM_ADDR_MAX + 1, "%s", addr);
	return 0;
}

int swim_join(struct swim *s)
{
	if (s->busy)
		return -EBUSY;
	if (s->left)
		return -EINVAL;
	if (!s->nseeds)
		return 0;
	s->joining = true;
	send_joins(s, now_ms(s));
	return 0;
}

int swim_leave(struct swim *s)
{
	if (s->busy)
		return -EBUSY;
	if (s->left)
		return 0;
	int64_t t = now_ms(s);
	s->busy = true;
	s->left = true;
	s->joining = false;
	s->probe.active = false;
	s->self->m.incarnation++;
	swim_set_state(s, s->self, SWIM_LEFT, t);
	swim_gossip(s, s->self);
	/* Tell everybody now, rather than waiting for gossip: a member that
	 * misses the news would suspect us, and LEFT needs no fence. */
	for (size_t i = 0; i < s->n; i++) {
		struct swim_node *nd = s->nodes[i];
		if (!nd->is_self && (nd->m.state == SWIM_ALIVE || nd->m.state == SWIM_SUSPECT))
			send_gossip(s, nd);
	}
	s->busy = false;
	return 0;
}

int swim_set_meta(struct swim *s, const uint8_t *meta, size_t len)
{
	if (s->busy)
		return -EBUSY;
	if (len > SWIM_META_MAX || (len && !meta))
		return -EINVAL;
	struct swim_node *me = s->self;
	if (len)
		memcpy(me->m.meta, meta, len);
	me->m.meta_len = (uint16_t)len;
	if (!s->left) {
		me->m.incarnation++;
		swim_gossip(s, me);
	}
	return 0;
}

int swim_receive(struct swim *s, const char *from_addr, const uint8_t *buf, size_t len)
{
	if (s->busy)
		return -EBUSY;
	if (!valid_str(from_addr, SWIM_ADDR_MAX))
		return -EINVAL;
	struct swim_msg *m = &s->rx;
	if (swim_decode(buf, len, m) < 0) {
		s->stats.malformed++;
		return -EBADMSG;
	}
	/* Our own name as sender: a looped-back datagram or a name clash. */
	if (swim_str_eq(m->sender, s->self->m.name))
		return 0;
	s->busy = true;
	s->stats.received++;
	int64_t t = now_ms(s);
	for (size_t i = 0; i < m->nrec; i++)
		swim_apply(s, &m->rec[i], m->type == SWIM_MSG_SYNC, t);
	handlers[m->type](s, from_addr, m, t);
	s->busy = false;
	return 0;
}

void swim_tick(struct swim *s)
{
	if (s->busy)
		return;
	s->busy = true;
	int64_t t = now_ms(s);
	relay_timers(s, t);
	if (t >= s->next_gossip_ms)
		gossip_timer(s, t);
	if (!s->left) {
		probe_timers(s, t);
		suspicion_timers(s, t);
		if (s->cfg.dead_probe_ms && t >= s->next_dead_probe_ms)
			dead_probe(s, t);
		if (s->joining && t >= s->join_next_ms)
			send_joins(s, t);
	}
	swim_table_reclaim(s, t);
	s->busy = false;
}

static void earliest(int64_t *d, int64_t t)
{
	if (t < *d)
		*d = t;
}

int64_t swim_next_deadline(const struct swim *s)
{
	int64_t d = INT64_MAX;
	for (size_t i = 0; i < SWIM_RELAY_MAX; i++)
		if (s->relay[i].used)
			earliest(&d, s->relay[i].nack_at);
	bool any_dead = false;
	for (size_t i = 0; i < s->n; i++) {
		const struct swim_node *nd = s->nodes[i];
		enum swim_state st = nd->m.state;
		if (st == SWIM_SUSPECT && !s->left)
			earliest(&d,
				 nd->last_call ? nd->last_call_until : swim_susp_deadline(s, nd));
		if ((st == SWIM_DEAD || st == SWIM_LEFT) && !nd->is_self && s->cfg.reclaim_ms)
			earliest(&d, nd->m.state_changed_ms + s->cfg.reclaim_ms);
		any_dead |= st == SWIM_DEAD;
	}
	if (swim_pending_updates(s))
		earliest(&d, s->next_gossip_ms);
	if (s->left)
		return d;
	earliest(&d, s->next_probe_ms);
	if (s->probe.active) {
		if (!s->probe.indirect_sent)
			earliest(&d, s->probe.timeout_at);
		earliest(&d, s->probe.deadline);
	}
	if (any_dead && s->cfg.dead_probe_ms)
		earliest(&d, s->next_dead_probe_ms);
	if (s->joining)
		earliest(&d, s->join_next_ms);
	return d;
}
