/*
 * test_outbox.c - retransmission until acknowledged, over a real pair of
 * loopback endpoints with a fake monotonic clock driving outbox_tick:
 * immediate send, no resend before initial_ms, doubling backoff capped at
 * max_ms, ack stops it, (type, run_id) replaces, readdress resends to the
 * new address.
 *
 * Sends are counted twice: on the sender (net_get_stats()->sent, exact)
 * and as datagrams actually received and decoded by the peer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "net.h"
#include "outbox.h"
#include "wire.h"

static char dir[64];
static char err[256];
static struct auth_keyring keys;
static int64_t now_ms;

static int64_t fake_mono(void *arg)
{
	(void)arg;
	return now_ms;
}

static const struct clock_fake fake = {.mono_ms = fake_mono};

static void setup(void)
{
	cr_assert_eq(auth_init(), 0);
	strcpy(dir, "/tmp/test_outbox.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/keyring", dir);
	cr_assert_eq(auth_keyring_generate(path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(auth_keyring_load(path, &keys, err, sizeof(err)), 0, "%s", err);
	now_ms = 1000000;
	clock_set_fake(&fake);
}

static void teardown(void)
{
	clock_set_fake(NULL);
	auth_keyring_wipe(&keys);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(outbox, .init = setup, .fini = teardown, .timeout = 20);

static struct net_endpoint *open_ep(const char *name)
{
	struct net_config cfg = {
		.keys = &keys,
		.sender_id = auth_sender_id(name),
		.incarnation = 1,
		.max_skew_ms = 60000,
	};
	struct net_endpoint *ep = NULL;
	cr_assert_eq(net_open(&cfg, &ep, err, sizeof(err)), 0, "%s", err);
	return ep;
}

static struct net_addr addr_of(const struct net_endpoint *ep)
{
	struct net_addr a;
	net_local_addr(ep, &a);
	return a;
}

static uint64_t sent(const struct net_endpoint *ep) { return net_get_stats(ep)->sent; }

/*
 * Receive exactly `want` datagrams on ep (each awaited up to 2 s) into
 * out[] (may be NULL), then make sure no other one is queued.
 */
static void recv_n(struct net_endpoint *ep, size_t want, struct net_msg *out)
{
	for (size_t i = 0; i < want; i++) {
		struct pollfd p = {.fd = net_fd(ep), .events = POLLIN};
		cr_assert_eq(poll(&p, 1, 2000), 1, "datagram %zu of %zu never arrived", i + 1,
			     want);
		struct net_msg m;
		cr_assert_eq(net_recv(ep, &m), 0);
		if (out)
			out[i] = m;
	}
	struct pollfd p = {.fd = net_fd(ep), .events = POLLIN};
	if (poll(&p, 1, 10) == 1) {
		struct net_msg extra;
		int rc = net_recv(ep, &extra);
		cr_assert_fail("an extra datagram arrived (net_recv: %d, type %d)", rc,
			       rc == 0 ? extra.msg.type : -1);
	}
}

/* recv_n, each one being (type, run_id, token). */
static void expect_received(struct net_endpoint *ep, size_t want, uint8_t type,
			    uint64_t run_id, uint64_t token)
{
	struct net_msg got[32];
	cr_assert_leq(want, 32);
	recv_n(ep, want, got);
	for (size_t i = 0; i < want; i++) {
		const struct wire_msg *m = &got[i].msg;
		cr_assert_eq(m->type, type, "datagram %zu: type %d, want %d", i, m->type, type);
		uint64_t r = type == WIRE_DISPATCH ? m->u.dispatch.run_id : m->u.ref.run_id;
		uint64_t t = type == WIRE_DISPATCH ? m->u.dispatch.token : m->u.ref.token;
		cr_assert_eq(r, run_id, "datagram %zu: run %llu, want %llu", i,
			     (unsigned long long)r, (unsigned long long)run_id);
		cr_assert_eq(t, token, "datagram %zu: token %llu, want %llu", i,
			     (unsigned long long)t, (unsigned long long)token);
	}
}

static struct wire_msg dispatch(uint64_t run_id, uint64_t token)
{
	struct wire_msg m = {.type = WIRE_DISPATCH};
	m.u.dispatch.run_id = run_id;
	m.u.dispatch.token = token;
	m.u.dispatch.attempt = 1;
	strcpy(m.u.dispatch.task, "t");
	strcpy(m.u.dispatch.command, "true");
	return m;
}

static struct wire_msg accept_msg(uint64_t run_id, uint64_t token)
{
	struct wire_msg m = {.type = WIRE_ACCEPT};
	m.u.ref.run_id = run_id;
	m.u.ref.token = token;
	return m;
}

struct pair {
	struct net_endpoint *a, *b;
	struct net_addr to_b;
	struct outbox *ob;
};

static void pair_open(struct pair *p, const struct outbox_config *cfg)
{
	p->a = open_ep("sched");
	p->b = open_ep("w1");
	p->to_b = addr_of(p->b);
	cr_assert_eq(outbox_new(p->a, cfg, &p->ob), 0);
	cr_assert_not_null(p->ob);
}

static void pair_close(struct pair *p)
{
	outbox_free(p->ob);
	net_close(p->a);
	net_close(p->b);
}

Test(outbox, put_sends_immediately_and_not_again_before_initial)
{
	struct pair p;
	struct outbox_config cfg = {.initial_ms = 100, .max_ms = 800};
	pair_open(&p, &cfg);
	struct wire_msg m = dispatch(5, 50);
	cr_assert_eq(outbox_count(p.ob), 0);
	cr_assert_not(outbox_pending(p.ob, WIRE_DISPATCH, 5));
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &m, 5), 0);
	cr_assert_eq(sent(p.a), 1, "put did not send at once");
	expect_received(p.b, 1, WIRE_DISPATCH, 5, 50);
	cr_assert_eq(outbox_count(p.ob), 1);
	cr_assert(outbox_pending(p.ob, WIRE_DISPATCH, 5));
	cr_assert_not(outbox_pending(p.ob, WIRE_ACCEPT, 5));
	cr_assert_not(outbox_pending(p.ob, WIRE_DISPATCH, 6));

	int64_t t0 = now_ms;
	for (int64_t d = 0; d < 100; d++) {
		now_ms = t0 + d;
		int64_t next = outbox_tick(p.ob, now_ms);
		cr_assert_eq(next, 100 - d, "at +%lld: next in %lld", (long long)d,
			     (long long)next);
	}
	cr_assert_eq(sent(p.a), 1, "resent before initial_ms");
	expect_received(p.b, 0, WIRE_DISPATCH, 5, 50);
	now_ms = t0 + 100;
	outbox_tick(p.ob, now_ms);
	cr_assert_eq(sent(p.a), 2, "not resent at initial_ms");
	expect_received(p.b, 1, WIRE_DISPATCH, 5, 50);
	pair_close(&p);
}

Test(outbox, backoff_doubles_up_to_max)
{
	struct pair p;
	struct outbox_config cfg = {.initial_ms = 100, .max_ms = 800};
	pair_open(&p, &cfg);
	struct wire_msg m = dispatch(7, 70);
	int64_t t0 = now_ms;
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &m, 7), 0);

	/* step the clock 1 ms at a time and note when each resend went out */
	int64_t at[16];
	size_t n = 0;
	uint64_t before = sent(p.a);
	for (int64_t d = 1; d <= 4000 && n < 16; d++) {
		now_ms = t0 + d;
		outbox_tick(p.ob, now_ms);
		uint64_t s = sent(p.a);
		cr_assert_leq(s - before, 1, "two sends in one tick at +%lld", (long long)d);
		if (s != before)
			at[n++] = d;
		before = s;
	}
	/* +100, +300 (200 later), +700 (400), +1500 (800 = cap), +2300, +3100,
	 * +3900 */
	int64_t want[] = {100, 300, 700, 1500, 2300, 3100, 3900};
	size_t nwant = sizeof(want) / sizeof(want[0]);
	cr_assert_eq(n, nwant, "%zu resends in 4 s, want %zu", n, nwant);
	for (size_t i = 0; i < nwant; i++)
		cr_assert_eq(at[i], want[i], "resend %zu at +%lld ms, want +%lld", i + 1,
			     (long long)at[i], (long long)want[i]);
	cr_assert_eq(sent(p.a), 1 + nwant);
	expect_received(p.b, 1 + nwant, WIRE_DISPATCH, 7, 70);
	pair_close(&p);
}

Test(outbox, late_tick_sends_once_and_backs_off_from_then)
{
	struct pair p;
	struct outbox_config cfg = {.initial_ms = 100, .max_ms = 800};
	pair_open(&p, &cfg);
	struct wire_msg m = dispatch(7, 70);
	int64_t t0 = now_ms;
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &m, 7), 0);
	/* the loop was busy for 10 s: one resend, not a burst */
	now_ms = t0 + 10000;
	int64_t next = outbox_tick(p.ob, now_ms);
	cr_assert_eq(sent(p.a), 2);
	cr_assert_eq(next, 200, "next resend in %lld ms", (long long)next);
	expect_received(p.b, 2, WIRE_DISPATCH, 7, 70);
	pair_close(&p);
}

Test(outbox, ack_stops_resending)
{
	struct pair p;
	struct outbox_config cfg = {.initial_ms = 100, .max_ms = 800};
	pair_open(&p, &cfg);
	struct wire_msg m1 = dispatch(1, 10), m2 = dispatch(2, 20);
	int64_t t0 = now_ms;
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &m1, 1), 0);
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &m2, 2), 0);
	cr_assert_eq(outbox_count(p.ob), 2);
	struct net_msg got[2];
	recv_n(p.b, 2, got);
	cr_assert_eq(got[0].msg.u.dispatch.run_id + got[1].msg.u.dispatch.run_id, 3);

	/* unknown keys: nothing removed */
	cr_assert_eq(outbox_ack(p.ob, WIRE_DISPATCH, 3), 0);
	cr_assert_eq(outbox_ack(p.ob, WIRE_ACCEPT, 1), 0, "acked across types");
	cr_assert_eq(outbox_count(p.ob), 2);

	cr_assert_eq(outbox_ack(p.ob, WIRE_DISPATCH, 1), 1);
	cr_assert_eq(outbox_count(p.ob), 1);
	cr_assert_not(outbox_pending(p.ob, WIRE_DISPATCH, 1));
	cr_assert(outbox_pending(p.ob, WIRE_DISPATCH, 2));
	cr_assert_eq(outbox_ack(p.ob, WIRE_DISPATCH, 1), 0, "second ack removed something");

	/* only run 2 is resent from now on */
	uint64_t s0 = sent(p.a);
	for (int64_t d = 1; d <= 1000; d++) {
		now_ms = t0 + d;
		outbox_tick(p.ob, now_ms);
	}
	/* +100, +300, +700 */
	cr_assert_eq(sent(p.a) - s0, 3);
	expect_received(p.b, 3, WIRE_DISPATCH, 2, 20);

	cr_assert_eq(outbox_ack(p.ob, WIRE_DISPATCH, 2), 1);
	cr_assert_eq(outbox_count(p.ob), 0);
	s0 = sent(p.a);
	for (int64_t d = 1001; d <= 20000; d += 7) {
		now_ms = t0 + d;
		cr_assert_eq(outbox_tick(p.ob, now_ms), 800, "empty outbox: next is max_ms");
	}
	cr_assert_eq(sent(p.a), s0, "resent after the ack");
	recv_n(p.b, 0, NULL);
	pair_close(&p);
}

Test(outbox, same_type_and_run_replaces)
{
	struct pair p;
	struct outbox_config cfg = {.initial_ms = 100, .max_ms = 800};
	pair_open(&p, &cfg);
	struct wire_msg old = dispatch(4, 40), newer = dispatch(4, 41);
	int64_t t0 = now_ms;
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &old, 4), 0);
	expect_received(p.b, 1, WIRE_DISPATCH, 4, 40);
	/* let the first back off a little */
	now_ms = t0 + 100;
	outbox_tick(p.ob, now_ms);
	expect_received(p.b, 1, WIRE_DISPATCH, 4, 40);

	now_ms = t0 + 150;
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &newer, 4), 0);
	cr_assert_eq(outbox_count(p.ob), 1, "same key kept two entries");
	expect_received(p.b, 1, WIRE_DISPATCH, 4, 41);

	/* the replacement starts its own backoff: next at +100 from the put */
	now_ms = t0 + 249;
	outbox_tick(p.ob, now_ms);
	recv_n(p.b, 0, NULL);
	now_ms = t0 + 250;
	outbox_tick(p.ob, now_ms);
	expect_received(p.b, 1, WIRE_DISPATCH, 4, 41);

	/* another type for the same run is another entry */
	struct wire_msg acc = accept_msg(4, 41);
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &acc, 4), 0);
	cr_assert_eq(outbox_count(p.ob), 2);
	expect_received(p.b, 1, WIRE_ACCEPT, 4, 41);
	cr_assert_eq(outbox_ack(p.ob, WIRE_DISPATCH, 4), 1);
	cr_assert(outbox_pending(p.ob, WIRE_ACCEPT, 4));
	cr_assert_eq(outbox_count(p.ob), 1);
	pair_close(&p);
}

Test(outbox, readdress_resends_to_the_new_address)
{
	struct pair p;
	struct outbox_config cfg = {.initial_ms = 100, .max_ms = 800};
	pair_open(&p, &cfg);
	struct net_endpoint *b2 = open_ep("w1-restarted");
	struct net_endpoint *c = open_ep("w2");
	struct net_addr to_b2 = addr_of(b2), to_c = addr_of(c);

	struct wire_msg m1 = dispatch(1, 10), m2 = dispatch(2, 20), m3 = dispatch(3, 30);
	int64_t t0 = now_ms;
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &m1, 1), 0);
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &m2, 2), 0);
	cr_assert_eq(outbox_put(p.ob, "w2", &to_c, &m3, 3), 0);
	recv_n(p.b, 2, NULL);
	expect_received(c, 1, WIRE_DISPATCH, 3, 30);

	/* let them back off: resends at +100 and +300 */
	for (int64_t d = 1; d <= 350; d++) {
		now_ms = t0 + d;
		outbox_tick(p.ob, now_ms);
	}
	recv_n(p.b, 4, NULL);
	expect_received(c, 2, WIRE_DISPATCH, 3, 30);

	/* w1 comes back elsewhere: both of its entries go there at once */
	uint64_t s0 = sent(p.a);
	outbox_readdress(p.ob, "w1", &to_b2);
	cr_assert_eq(sent(p.a) - s0, 2, "readdress did not resend at once");
	struct net_msg got[2];
	recv_n(b2, 2, got);
	cr_assert_eq(got[0].msg.u.dispatch.run_id + got[1].msg.u.dispatch.run_id, 3);
	recv_n(p.b, 0, NULL);
	recv_n(c, 0, NULL); /* w2 untouched */
	cr_assert_eq(outbox_count(p.ob), 3);

	/* and their backoff restarted at initial_ms: next at +100 from now */
	int64_t t1 = now_ms;
	now_ms = t1 + 99;
	outbox_tick(p.ob, now_ms);
	recv_n(b2, 0, NULL);
	now_ms = t1 + 100;
	outbox_tick(p.ob, now_ms);
	recv_n(b2, 2, NULL);
	recv_n(p.b, 0, NULL);

	/* readdressing an unknown peer changes nothing */
	s0 = sent(p.a);
	outbox_readdress(p.ob, "nobody", &to_c);
	cr_assert_eq(sent(p.a), s0);
	net_close(b2);
	net_close(c);
	pair_close(&p);
}

Test(outbox, defaults_and_next_due)
{
	struct pair p;
	pair_open(&p, NULL);
	int64_t t0 = now_ms;
	cr_assert_eq(outbox_tick(p.ob, now_ms), 4000, "empty: default max_ms");
	struct wire_msg m1 = dispatch(1, 10), m2 = dispatch(2, 20);
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &m1, 1), 0);
	now_ms = t0 + 100;
	cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &m2, 2), 0);
	recv_n(p.b, 2, NULL);
	/* default initial 250: run 1 due at +250, run 2 at +350 */
	cr_assert_eq(outbox_tick(p.ob, now_ms), 150);
	now_ms = t0 + 249;
	cr_assert_eq(outbox_tick(p.ob, now_ms), 1);
	recv_n(p.b, 0, NULL);
	now_ms = t0 + 250;
	cr_assert_eq(outbox_tick(p.ob, now_ms), 100, "next is run 2 at +350");
	expect_received(p.b, 1, WIRE_DISPATCH, 1, 10);
	now_ms = t0 + 350;
	/* run 2 resent; run 1 is next at +750 */
	cr_assert_eq(outbox_tick(p.ob, now_ms), 400);
	expect_received(p.b, 1, WIRE_DISPATCH, 2, 20);
	pair_close(&p);
}

Test(outbox, many_entries_grow_the_array)
{
	struct pair p;
	struct outbox_config cfg = {.initial_ms = 100, .max_ms = 800};
	pair_open(&p, &cfg);
	for (uint64_t r = 1; r <= 40; r++) {
		struct wire_msg m = dispatch(r, r * 10);
		cr_assert_eq(outbox_put(p.ob, "w1", &p.to_b, &m, r), 0);
	}
	cr_assert_eq(outbox_count(p.ob), 40);
	for (uint64_t r = 1; r <= 40; r++)
		cr_assert(outbox_pending(p.ob, WIRE_DISPATCH, r), "run %llu lost",
			  (unsigned long long)r);
	for (uint64_t r = 40; r >= 1; r -= 2)
		cr_assert_eq(outbox_ack(p.ob, WIRE_DISPATCH, r), 1);
	cr_assert_eq(outbox_count(p.ob), 20);
	for (uint64_t r = 1; r <= 40; r++)
		cr_assert_eq(outbox_pending(p.ob, WIRE_DISPATCH, r), r % 2 == 1,
			     "run %llu", (unsigned long long)r);
	recv_n(p.b, 40, NULL);
	pair_close(&p);
}
