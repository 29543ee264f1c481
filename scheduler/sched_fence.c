/*
 * sched_fence.c - DESIGN rule 4 in the scheduler: fence a dead node, then
 * (only then) free its runs.
 *
 * A node that gossip declared dead (or that left, or never came back
 * after a scheduler restart) while it held dispatched or running runs gets
 * an open fence request: store_fence_open() moves its runs to `fencing`
 * in the same transaction, so they stay active and no other node can take
 * their tasks.  Then the configured hook runs as
 *
 *     HOOK NODE ADDRESS INCARNATION
 *
 * in its own process group, with stdin from /dev/null, its output
 * captured (the end of it is recorded with every attempt) and a timeout
 * after which the group is killed.  Exit 0 is the only "isolated": the
 * request is confirmed, the runs become `lost` and their retries are
 * created in that same transaction (store_fence_confirm).  Anything else
 * is recorded and retried with exponential backoff (1 s doubling to
 * fence_backoff_max), loudly: logs, `schedctl status`, `schedctl fence
 * list`.  `schedctl fence confirm NODE` is the operator's word instead of
 * the hook's.  Without a hook configured every request waits for it.
 *
 * A request is called off (store_fence_cancel, runs back to what they
 * were) only when the node shows that nothing happened to it: it
 * heartbeats again with the SAME process incarnation, gossip has it
 * ALIVE, and no hook call is in flight (a hook that may be powering the
 * node off right now gets to finish; if it succeeds, the fence stands).
 * A node that restarted (new incarnation) reports its old runs' ends
 * itself; once none of its runs is fencing any more, its request is
 * called off too: there is nothing left to fence.
 *
 * Storm guard (rule 7): sched_storm.c pauses every request when many
 * members die at once; a first hook call also waits while other members
 * are suspected, so that the first death of a storm is not fenced before
 * the storm shows (sched_fence_hook.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "sched.h"

struct sched_fence *sched_fence_find(const struct sched *s, const char *node)
{
	for (size_t i = 0; i < s->nfences; i++)
		if (strcmp(s->fences[i].node, node) == 0)
			return &s->fences[i];
	return NULL;
}

static struct sched_fence *fence_track(struct sched *s, const struct store_fence_row *row)
{
	struct sched_fence *f = sched_fence_find(s, row->node);
	if (f)
		return f;
	struct sched_fence *nf = realloc(s->fences, (s->nfences + 1) * sizeof(*nf));
	if (!nf)
		fatalx("out of memory");
	s->fences = nf;
	f = &s->fences[s->nfences++];
	memset(f, 0, sizeof(*f));
	snprintf(f->node, sizeof(f->node), "%s", row->node);
	snprintf(f->addr, sizeof(f->addr), "%s", row->address);
	f->request_id = row->id;
	f->incarnation = row->incarnation;
	f->attempts = row->attempts;
	f->next_attempt_ms = row->next_attempt_ms;
	f->paused = row->paused_by_storm;
	f->out_fd = -1;
	f->opened_mono = clock_mono_ms();
	return f;
}

static void fence_untrack(struct sched *s, struct sched_fence *f)
{
	size_t i = (size_t)(f - s->fences);
	memmove(&s->fences[i], &s->fences[i + 1], (s->nfences - i - 1) * sizeof(*f));
	s->nfences--;
}

static int load_open(void *arg, const struct store_fence_row *row)
{
	struct sched *s = arg;
	if (row->state == STORE_FENCE_OPEN) {
		struct sched_fence *f = fence_track(s, row);
		s->storm |= f->paused;
	}
	return 0;
}

/* At start: the requests a previous life left open; their hooks run again. */
int sched_fences_load(struct sched *s)
{
	int rc = store_fence_list(s->store, load_open, s);
	if (rc == 0 && s->nfences)
		log_warnx("%zu fence request(s) still open from before the restart%s", s->nfences,
			  s->storm ? "; fencing is paused (storm guard)" : "");
	return rc;
}

/* ---- opening -------------------------------------------------------------- */

/* In-memory runs of node: fencing ones follow the store after a change. */
static void runs_reread(struct sched *s, const char *node)
{
	for (size_t i = s->nruns; i-- > 0;) {
		struct sched_run *r = &s->runs[i];
		if (strcmp(r->node, node) != 0 || !run_state_active(r->state))
			continue;
		struct store_run sr;
		if (store_run_get(s->store, r->run_id, &sr) < 0)
			continue;
		r->state = sr.state;
		r->token = sr.token;
		if (sr.state == RUN_PENDING)
			r->node[0] = '\0';
		if (r->state == RUN_FENCING || run_state_terminal(r->state) ||
		    r->state == RUN_PENDING)
			outbox_ack(s->outbox, WIRE_DISPATCH, r->run_id); /* no resending */
		if (run_state_terminal(r->state))
			sched_run_forget(s, r->run_id);
	}
}

/* Fence node (idempotent): open the request, move its runs to fencing. */
void sched_fence_node(struct sched *s, const char *node, const char *why)
{
	const struct sched_worker *w = sched_worker_find(s, node);
	char addr[NET_ADDR_STRLEN] = "";
	if (w && w->have_addr)
		net_addr_format(&w->addr, addr, sizeof(addr));
	uint64_t id = 0;
	int nruns = 0;
	bool known = sched_fence_find(s, node) != NULL;
	int rc = store_fence_open(s->store, node, addr, w ? w->incarnation : 0, why,
				  clock_wall_ms(), &id, &nruns);
	if (rc < 0) {
		log_warnx("node %s: could not open a fence request: %s", node, strerror(-rc));
		return;
	}
	struct store_fence_row row;
	if (store_fence_open_for(s->store, node, &row) < 0)
		return;
	struct sched_fence *f = fence_track(s, &row);
	if (s->storm && !f->paused) {
		f->paused = true;
		store_fence_set_paused(s->store, node, true, clock_wall_ms(), NULL);
	}
	runs_reread(s, node);
	if (!known)
		log_warnx("node %s (%s, incarnation %llu) %s while holding %d run(s): fencing it%s",
			  node, addr[0] ? addr : "no address", (unsigned long long)f->incarnation,
			  why, nruns,
			  f->paused ? " (paused: storm guard)"
			  : s->opt.fence_hook[0] ? "" : " (no fence hook: waiting for schedctl fence "
							 "confirm)");
}

/* ---- confirming and cancelling -------------------------------------------- */

/* Confirm node's open request (by "hook" or "operator"): its fencing runs
 * become lost and their retries are created, all in one transaction. */
int sched_fence_confirm(struct sched *s, const char *node, const char *by, int *nlost)
{
	struct sched_fence *f = sched_fence_find(s, node);
	size_t n = 0;
	struct store_fence_retry *rt = calloc(s->nruns ? s->nruns : 1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	for (size_t i = 0; i < s->nruns; i++) {
		const struct sched_run *r = &s->runs[i];
		if (r->state == RUN_FENCING && strcmp(r->node, node) == 0 &&
		    sched_retry_of(s, r, RUN_LOST, &rt[n].rn))
			rt[n++].run_id = r->run_id;
	}
	int lost = 0;
	int rc = store_fence_confirm(s->store, node, by, clock_wall_ms(), rt, n, &lost);
	if (rc == 0) {
		log_warnx("node %s fenced: isolation confirmed by %s; %d run(s) lost", node, by,
			  lost);
		runs_reread(s, node);
		for (size_t k = 0; k < n; k++) {
			if (!rt[k].out.run_id)
				continue;
			sched_retry_created(s, &rt[k].rn, &rt[k].out, node);
		}
		sched_storm_resolved(s, node);
		if (f)
			sched_fence_forget(s, f);
		if (nlost)
			*nlost = lost;
	}
	free(rt);
	return rc;
}

/* Cancel f (the node showed there is nothing to fence): its runs go back
 * to what they were, in the store and here.  false if the store refused. */
static bool call_off(struct sched *s, struct sched_fence *f, const char *why)
{
	char node[sizeof(f->node)];
	snprintf(node, sizeof(node), "%s", f->node);
	int restored = 0;
	if (store_fence_cancel(s->store, node, why, clock_wall_ms(), &restored) < 0) {
		log_warnx("node %s: could not call its fence off", node);
		return false;
	}
	log_warnx("node %s: fence called off: %s; %d run(s) back", node, why, restored);
	runs_reread(s, node);
	sched_fence_forget(s, f);
	return true;
}

/* The node showed it is alive: call the fence off when that is safe. */
void sched_fence_node_back(struct sched *s, const struct sched_worker *w, uint64_t incarnation)
{
	struct sched_fence *f = sched_fence_find(s, w->name);
	if (!f || f->pid > 0 || !sched_member_alive(s, w->name))
		return;
	bool same = incarnation == f->incarnation;
	int fencing = 0;
	for (size_t i = 0; i < s->nruns; i++)
		if (s->runs[i].state == RUN_FENCING && strcmp(s->runs[i].node, w->name) == 0)
			fencing++;
	if (!same && fencing)
		return; /* restarted: its old runs end through its reports or the fence */
	if (!call_off(s, f, same ? "the node is back with the same incarnation (false suspicion)"
				 : "the node restarted and reported every run it held"))
		return;
	/* Dispatches that were never answered go out again (the node may
	 * never have received them: that is often why it looked dead). */
	for (size_t i = 0; i < s->nruns; i++)
		if (s->runs[i].state == RUN_DISPATCHED && strcmp(s->runs[i].node, w->name) == 0)
			sched_send_dispatch(s, &s->runs[i]);
}

/*
 * The node says HELLO as a new life started on the very database of the
 * life we are fencing (its prev_incarnation is the fenced incarnation, and
 * workerd locks its database).  That database knows every run the fenced
 * life accepted (accept is persisted before fork/exec), and the new life
 * reports each one as ended after killing whatever was left of it; a run
 * it does not know was never started.  So nothing is left to fence: the
 * request is called off and the runs go back to what they were; their
 * ends arrive from the new life, and dispatches it never answered are
 * sent to it again (it answers from its database, or runs them: for the
 * first time).
 */
void sched_fence_node_restarted(struct sched *s, const struct sched_worker *w, uint64_t prev)
{
	struct sched_fence *f = sched_fence_find(s, w->name);
	if (!f || f->pid > 0 || !prev || prev != f->incarnation)
		return;
	call_off(s, f, "the node restarted on the fenced life's own database");
}

void sched_fence_forget(struct sched *s, struct sched_fence *f)
{
	if (f->out_fd >= 0) {
		loop_del_fd(s->loop, f->out_fd);
		close(f->out_fd);
	}
	if (f->pid > 0) {
		/* The request was closed under a running hook call (an operator
		 * was faster): stop it, record it, reap it later. */
		kill(-f->pid, SIGKILL);
		if (store_fence_attempt(s->store, f->request_id, f->started_ms, clock_wall_ms(), -1,
					SIGKILL, false, "interrupted: the request was closed", 0) < 0)
			log_warnx("fence hook for %s: could not record the interrupted call", f->node);
		if (waitpid(f->pid, NULL, WNOHANG) == 0 &&
		    s->norphans < sizeof(s->orphan_hooks) / sizeof(s->orphan_hooks[0]))
			s->orphan_hooks[s->norphans++] = f->pid;
	}
	fence_untrack(s, f);
}

void sched_fences_free(struct sched *s)
{
	for (size_t i = 0; i < s->nfences; i++) {
		struct sched_fence *f = &s->fences[i];
		if (f->pid > 0) { /* the next start calls it again */
			kill(-f->pid, SIGKILL);
			waitpid(f->pid, NULL, 0);
		}
		if (f->out_fd >= 0)
			close(f->out_fd);
	}
	free(s->fences);
	s->fences = NULL;
	s->nfences = 0;
	for (size_t i = 0; i < s->norphans; i++)
		waitpid(s->orphan_hooks[i], NULL, 0);
	s->norphans = 0;
}
