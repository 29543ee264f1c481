/*
 * test_gossip.c - swim on the real transport: three members on loopback,
 * each with its own authenticated endpoint, all driven by one event loop
 * in this process.  They converge through a seed, notice a member that
 * stops answering (DEAD) and one that leaves (LEFT).  Real time, but
 * every wait is for a condition with a bound.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "gossip.h"
#include "loop.h"
#include "net.h"

#define N 3

static char dir[64];
static struct auth_keyring keys;
static struct loop *lp;
static struct node {
	struct net_endpoint *ep;
	struct gossip *g;
	char name[16];
	char addr[NET_ADDR_STRLEN];
	bool deaf;     /* drops everything it receives and sends nothing new */
	int changes;   /* on_change calls seen */
} nodes[N];

static void on_change(void *ctx, const struct swim_member *m, enum swim_state old)
{
	(void)m;
	(void)old;
	((struct node *)ctx)->changes++;
}

static void on_readable(struct loop *l, int fd, uint32_t ev, void *arg)
{
	(void)l;
	(void)fd;
	(void)ev;
	struct node *n = arg;
	struct net_msg *m = malloc(sizeof(*m));
	cr_assert_not_null(m);
	for (;;) {
		int rc = net_recv(n->ep, m);
		if (rc == -EAGAIN)
			break;
		if (rc == 0 && !n->deaf && m->msg.type == WIRE_GOSSIP)
			gossip_on_message(n->g, m);
	}
	free(m);
}

static void setup(void)
{
	char err[256], path[128];
	cr_assert_eq(auth_init(), 0);
	strcpy(dir, "/tmp/test_gossip.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/keys", dir);
	cr_assert_eq(auth_keyring_generate(path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(auth_keyring_load(path, &keys, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(loop_new(&lp), 0);
	for (int i = 0; i < N; i++) {
		struct node *n = &nodes[i];
		memset(n, 0, sizeof(*n));
		snprintf(n->name, sizeof(n->name), "m%d", i);
		struct net_config nc = {.keys = &keys,
					.sender_id = auth_sender_id(n->name),
					.incarnation = 1,
					.max_skew_ms = 60000,
					.replay_senders = 16};
		cr_assert_eq(net_open(&nc, &n->ep, err, sizeof(err)), 0, "%s", err);
		struct net_addr a;
		net_local_addr(n->ep, &a);
		net_addr_format(&a, n->addr, sizeof(n->addr));
		struct gossip_config gc = {.net = n->ep, .loop = lp, .name = n->name,
					   .addr = n->addr, .incarnation = 1,
					   .on_change = on_change, .ctx = n};
		cr_assert_eq(gossip_new(&gc, &n->g), 0);
		cr_assert_eq(loop_add_fd(lp, net_fd(n->ep), EPOLLIN, on_readable, n), 0);
	}
}

static void teardown(void)
{
	for (int i = 0; i < N; i++) {
		gossip_free(nodes[i].g);
		net_close(nodes[i].ep);
	}
	loop_free(lp);
	auth_keyring_wipe(&keys);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(gossip, .init = setup, .fini = teardown, .timeout = 30);

/* How many members node i sees in state st (itself included). */
static int count(int i, enum swim_state st)
{
	struct swim *s = gossip_swim(nodes[i].g);
	int c = 0;
	for (size_t k = 0; k < swim_member_count(s); k++)
		c += swim_member_at(s, k)->state == st;
	return c;
}

static enum swim_state state_of(int i, const char *name)
{
	const struct swim_member *m = swim_member_get(gossip_swim(nodes[i].g), name);
	return m ? m->state : SWIM_UNKNOWN;
}

typedef bool (*cond_fn)(void);
static cond_fn waiting_for;
static int64_t deadline;

static int64_t check(struct loop *l, void *arg)
{
	(void)arg;
	if (waiting_for() || clock_mono_ms() > deadline) {
		loop_stop(l);
		return LOOP_TIMER_STOP;
	}
	return 10;
}

/* Run the loop until c() holds or ms pass; returns c(). */
static bool run_until(cond_fn c, int64_t ms)
{
	waiting_for = c;
	deadline = clock_mono_ms() + ms;
	cr_assert_eq(loop_add_timer(lp, 0, check, NULL, NULL), 0);
	cr_assert_eq(loop_run(lp), 0);
	return c();
}

static bool all_alive(void)
{
	for (int i = 0; i < N; i++)
		if (count(i, SWIM_ALIVE) != N)
			return false;
	return true;
}

static void join_all(void)
{
	cr_assert_eq(gossip_join(nodes[0].g, ""), 0);
	for (int i = 1; i < N; i++)
		cr_assert_eq(gossip_join(nodes[i].g, nodes[0].addr), 0);
	cr_assert(run_until(all_alive, 5000), "not converged: %d %d %d alive", count(0, SWIM_ALIVE),
		  count(1, SWIM_ALIVE), count(2, SWIM_ALIVE));
}

Test(gossip, members_converge_through_a_seed)
{
	join_all();
	for (int i = 0; i < N; i++) {
		cr_assert_gt(nodes[i].changes, 0, "no on_change at %s", nodes[i].name);
		for (int k = 0; k < N; k++)
			cr_assert_eq(state_of(i, nodes[k].name), SWIM_ALIVE);
	}
	struct swim_stats st;
	swim_get_stats(gossip_swim(nodes[1].g), &st);
	cr_assert_gt(st.received, 0);
	cr_assert_eq(st.malformed, 0);
}

static bool m2_dead_for_both(void)
{
	return state_of(0, "m2") == SWIM_DEAD && state_of(1, "m2") == SWIM_DEAD;
}

Test(gossip, a_silent_member_is_declared_dead)
{
	join_all();
	nodes[2].deaf = true;
	loop_del_fd(lp, net_fd(nodes[2].ep));
	gossip_free(nodes[2].g); /* no more probes or answers from m2 */
	struct gossip_config gc = {.net = nodes[2].ep, .loop = lp, .name = "m2",
				   .addr = nodes[2].addr, .incarnation = 1};
	cr_assert_eq(gossip_new(&gc, &nodes[2].g), 0); /* for teardown; never joins */
	int64_t t0 = clock_mono_ms();
	cr_assert(run_until(m2_dead_for_both, 10000), "m2 is %s at m0 and %s at m1",
		  swim_state_name(state_of(0, "m2")), swim_state_name(state_of(1, "m2")));
	int64_t took = clock_mono_ms() - t0;
	cr_assert_lt(took, 10000);
	cr_assert_eq(state_of(0, "m1"), SWIM_ALIVE, "a healthy member was accused");
	cr_assert_eq(state_of(1, "m0"), SWIM_ALIVE, "a healthy member was accused");
}

static bool m1_left_for_both(void)
{
	return state_of(0, "m1") == SWIM_LEFT && state_of(2, "m1") == SWIM_LEFT;
}

Test(gossip, a_leaving_member_is_left_not_dead)
{
	join_all();
	cr_assert_eq(gossip_leave(nodes[1].g), 0);
	cr_assert(run_until(m1_left_for_both, 5000), "m1 is %s at m0 and %s at m2",
		  swim_state_name(state_of(0, "m1")), swim_state_name(state_of(2, "m1")));
}

Test(gossip, a_non_gossip_message_is_refused)
{
	struct net_msg m = {.msg.type = WIRE_HELLO};
	cr_assert_eq(gossip_on_message(nodes[0].g, &m), -EINVAL);
	struct net_msg bad = {.msg.type = WIRE_GOSSIP};
	bad.msg.u.gossip.len = 3;
	memcpy(bad.msg.u.gossip.data, "\xff\xff\xff", 3);
	cr_assert_eq(gossip_on_message(nodes[0].g, &bad), -EBADMSG);
	struct swim_stats st;
	swim_get_stats(gossip_swim(nodes[0].g), &st);
	cr_assert_eq(st.malformed, 1);
}
