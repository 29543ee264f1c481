/*
 * test_agent_fence.c - worker/agent_fence.c: what a worker does with a
 * run whose lease ran out (DESIGN rule 6).
 *
 *   - agent_fence_decide() on a table of cases: keep the run only when
 *     the scheduler is not alive in our view and a strict majority of the
 *     other members are alive; self-fence in every other case;
 *   - agent_fence_view() on real gossip: four members on loopback (us,
 *     the scheduler, two workers) driven by one event loop, so the
 *     counting (self and scheduler apart, LEFT not counted, SUSPECT and
 *     DEAD not alive) is checked on a membership view SWIM really built.
 *     Real time, but every wait is for a condition with a bound.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent.h"
#include "auth.h"
#include "clock.h"
#include "gossip.h"
#include "loop.h"
#include "net.h"

/* ---- the rule -------------------------------------------------------------- */

static const struct {
	enum swim_state scheduler;
	unsigned others, alive;
	enum agent_fence_verdict want;
	const char *why;
} cases[] = {
	/* the scheduler is alive for gossip: it is us it does not reach */
	{SWIM_ALIVE, 0, 0, FENCE_CUT_OFF, "alone with a live scheduler"},
	{SWIM_ALIVE, 3, 3, FENCE_CUT_OFF, "everyone alive, scheduler too"},
	{SWIM_ALIVE, 4, 1, FENCE_CUT_OFF, "scheduler alive, peers mostly gone"},
	/* nobody to compare with: cannot tell an outage from isolation */
	{SWIM_UNKNOWN, 0, 0, FENCE_ALONE, "one worker, scheduler never heard of"},
	{SWIM_SUSPECT, 0, 0, FENCE_ALONE, "one worker, scheduler suspect"},
	{SWIM_DEAD, 0, 0, FENCE_ALONE, "one worker, scheduler dead"},
	{SWIM_LEFT, 0, 0, FENCE_ALONE, "one worker, scheduler left"},
	/* most others not alive: we are the isolated one */
	{SWIM_DEAD, 1, 0, FENCE_ISOLATED, "the only peer is not alive"},
	{SWIM_DEAD, 2, 1, FENCE_ISOLATED, "half is not a strict majority"},
	{SWIM_SUSPECT, 4, 2, FENCE_ISOLATED, "half of four"},
	{SWIM_DEAD, 5, 2, FENCE_ISOLATED, "a minority of five"},
	{SWIM_UNKNOWN, 3, 0, FENCE_ISOLATED, "no peer alive"},
	/* the scheduler is down for everyone: keep the run */
	{SWIM_DEAD, 1, 1, FENCE_KEEP, "the only peer is alive"},
	{SWIM_SUSPECT, 3, 2, FENCE_KEEP, "two of three alive, scheduler suspect"},
	{SWIM_LEFT, 2, 2, FENCE_KEEP, "scheduler left, peers alive"},
	{SWIM_UNKNOWN, 5, 3, FENCE_KEEP, "three of five, scheduler never seen"},
	{SWIM_DEAD, 100, 51, FENCE_KEEP, "a bare majority of a hundred"},
};

Test(agent_fence, decide_table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum agent_fence_verdict got =
			agent_fence_decide(cases[i].scheduler, cases[i].others, cases[i].alive);
		cr_expect_eq(got, cases[i].want, "%s (scheduler %s, %u of %u alive): got %s",
			     cases[i].why, swim_state_name(cases[i].scheduler), cases[i].alive,
			     cases[i].others, agent_fence_verdict_text(got));
	}
}

Test(agent_fence, every_verdict_has_words)
{
	for (int v = FENCE_KEEP; v <= FENCE_ISOLATED; v++)
		cr_assert_str_neq(agent_fence_verdict_text((enum agent_fence_verdict)v), "?");
	cr_assert_str_eq(agent_fence_verdict_text((enum agent_fence_verdict)99), "?");
}

/* Without a gossip instance there is nobody to ask: self-fence. */
Test(agent_fence, no_gossip_means_alone)
{
	struct agent a = {.opt.scheduler_name = "schedd"};
	struct agent_fence_view v;
	agent_fence_view(&a, &v);
	cr_assert_eq(v.scheduler, SWIM_UNKNOWN);
	cr_assert_eq(v.others, 0);
	cr_assert_eq(agent_fence_decide(v.scheduler, v.others, v.others_alive), FENCE_ALONE);
}

/* ---- the view, on real gossip ---------------------------------------------- */

#define N 4 /* w0 (us), schedd, w1, w2 */

static const char *const names[N] = {"w0", "schedd", "w1", "w2"};
static char dir[64];
static struct auth_keyring keys;
static struct loop *lp;
static struct node {
	struct net_endpoint *ep;
	struct gossip *g;
	char addr[NET_ADDR_STRLEN];
	bool deaf; /* drops all it receives */
} nodes[N];
static struct agent us; /* only .gossip and .opt.scheduler_name are read */

static void on_readable(struct loop *l, int fd, uint32_t ev, void *arg)
{
	(void)l;
	(void)fd;
	(void)ev;
	struct node *n = arg;
	struct net_msg *m = malloc(sizeof(*m));
	cr_assert_not_null(m);
	while (net_recv(n->ep, m) != -EAGAIN)
		if (!n->deaf && m->msg.type == WIRE_GOSSIP)
			gossip_on_message(n->g, m);
	free(m);
}

static void setup(void)
{
	char err[256], path[128];
	cr_assert_eq(auth_init(), 0);
	strcpy(dir, "/tmp/test_agent_fence.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/keys", dir);
	cr_assert_eq(auth_keyring_generate(path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(auth_keyring_load(path, &keys, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(loop_new(&lp), 0);
	for (int i = 0; i < N; i++) {
		struct node *n = &nodes[i];
		memset(n, 0, sizeof(*n));
		struct net_config nc = {.keys = &keys,
					.sender_id = auth_sender_id(names[i]),
					.incarnation = 1,
					.max_skew_ms = 60000,
					.replay_senders = 16};
		cr_assert_eq(net_open(&nc, &n->ep, err, sizeof(err)), 0, "%s", err);
		struct net_addr a;
		net_local_addr(n->ep, &a);
		net_addr_format(&a, n->addr, sizeof(n->addr));
		struct gossip_config gc = {.net = n->ep, .loop = lp, .name = names[i],
					   .addr = n->addr, .incarnation = 1};
		cr_assert_eq(gossip_new(&gc, &n->g), 0);
		cr_assert_eq(loop_add_fd(lp, net_fd(n->ep), EPOLLIN, on_readable, n), 0);
	}
	memset(&us, 0, sizeof(us));
	us.opt.scheduler_name = "schedd";
	us.gossip = nodes[0].g;
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

TestSuite(agent_fence_view, .init = setup, .fini = teardown, .timeout = 30);

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

static bool run_until(cond_fn c, int64_t ms)
{
	waiting_for = c;
	deadline = clock_mono_ms() + ms;
	cr_assert_eq(loop_add_timer(lp, 0, check, NULL, NULL), 0);
	cr_assert_eq(loop_run(lp), 0);
	return c();
}

static enum swim_state seen_by_us(const char *name)
{
	const struct swim_member *m = swim_member_get(gossip_swim(us.gossip), name);
	return m ? m->state : SWIM_UNKNOWN;
}

static bool all_alive_to_us(void)
{
	for (int i = 1; i < N; i++)
		if (seen_by_us(names[i]) != SWIM_ALIVE)
			return false;
	return true;
}

static bool scheduler_dead_to_us(void) { return seen_by_us("schedd") == SWIM_DEAD; }
static bool w2_left_to_us(void) { return seen_by_us("w2") == SWIM_LEFT; }
static bool w1_not_alive_to_us(void)
{
	return seen_by_us("w1") == SWIM_SUSPECT || seen_by_us("w1") == SWIM_DEAD;
}

static void join_all(void)
{
	cr_assert_eq(gossip_join(nodes[1].g, ""), 0); /* through the scheduler, as workerd does */
	for (int i = 0; i < N; i++)
		if (i != 1)
			cr_assert_eq(gossip_join(nodes[i].g, nodes[1].addr), 0);
	cr_assert(run_until(all_alive_to_us, 5000), "not converged");
}

static void expect_view(enum swim_state sched, unsigned others, unsigned alive,
			enum agent_fence_verdict want)
{
	struct agent_fence_view v;
	agent_fence_view(&us, &v);
	cr_assert_eq(v.scheduler, sched, "scheduler %s, want %s", swim_state_name(v.scheduler),
		     swim_state_name(sched));
	cr_assert_eq(v.others, others, "others %u, want %u", v.others, others);
	cr_assert_eq(v.others_alive, alive, "alive %u, want %u", v.others_alive, alive);
	cr_assert_eq(agent_fence_decide(v.scheduler, v.others, v.others_alive), want);
}

/* All up: the scheduler is alive, so an unrenewed lease means we are cut off. */
Test(agent_fence_view, scheduler_alive_means_cut_off)
{
	join_all();
	expect_view(SWIM_ALIVE, 2, 2, FENCE_CUT_OFF);
}

/* The scheduler stops answering everyone; the workers still see each
 * other: the run is kept.  A worker that then leaves counts neither way. */
Test(agent_fence_view, scheduler_down_for_everyone_keeps_the_run)
{
	join_all();
	nodes[1].deaf = true;
	loop_del_fd(lp, net_fd(nodes[1].ep));
	gossip_free(nodes[1].g);
	struct gossip_config gc = {.net = nodes[1].ep, .loop = lp, .name = "schedd",
				   .addr = nodes[1].addr, .incarnation = 1};
	cr_assert_eq(gossip_new(&gc, &nodes[1].g), 0); /* for teardown; never joins */
	cr_assert(run_until(scheduler_dead_to_us, 10000), "scheduler is %s to us",
		  swim_state_name(seen_by_us("schedd")));
	expect_view(SWIM_DEAD, 2, 2, FENCE_KEEP);
	cr_assert_eq(gossip_leave(nodes[3].g), 0);
	cr_assert(run_until(w2_left_to_us, 5000), "w2 is %s to us",
		  swim_state_name(seen_by_us("w2")));
	expect_view(SWIM_DEAD, 1, 1, FENCE_KEEP);
}

/* A peer that stops answering is not alive: with the scheduler silent
 * too, one of two peers alive is no majority, so we self-fence. */
Test(agent_fence_view, silent_peers_are_not_alive)
{
	join_all();
	for (int i = 1; i <= 2; i++) {
		nodes[i].deaf = true;
		loop_del_fd(lp, net_fd(nodes[i].ep));
		gossip_free(nodes[i].g);
		struct gossip_config gc = {.net = nodes[i].ep, .loop = lp, .name = names[i],
					   .addr = nodes[i].addr, .incarnation = 1};
		cr_assert_eq(gossip_new(&gc, &nodes[i].g), 0);
	}
	cr_assert(run_until(w1_not_alive_to_us, 10000), "w1 is %s to us",
		  swim_state_name(seen_by_us("w1")));
	struct agent_fence_view v;
	agent_fence_view(&us, &v);
	cr_assert_eq(v.others, 2);
	cr_assert_leq(v.others_alive, 1);
	cr_assert_neq(agent_fence_decide(v.scheduler, v.others, v.others_alive), FENCE_KEEP);
}
