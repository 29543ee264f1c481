/*
 * drain.c - how workerd stops: a graceful drain, then a leave.
 *
 * A worker is stopped for maintenance far more often than it fails, and
 * stopping must neither kill work that could have finished nor cost a
 * fence.  So the first SIGTERM/SIGINT starts a drain:
 *
 *   1. refuse new dispatches (REJECT_SHUTTING_DOWN) and advertise 0 slots,
 *      while heartbeats and lease renewals go on as usual;
 *   2. let the running runs finish, up to worker.drain_timeout (progress
 *      logged every 10 s); at the deadline, or on a second signal, stop
 *      what still runs as before (SIGTERM, kill_grace, SIGKILL; failed,
 *      "workerd stopped: ...");
 *   3. once no run holds a process and the scheduler acknowledged every
 *      end (and every refusal), announce LEFT in gossip and keep the loop going for a few
 *      probe periods so the news outlives lost datagrams; then exit.  A
 *      node that left needs no fence (DESIGN, Membership).
 *
 * If the ends stay unacknowledged (the scheduler is unreachable) for
 * kill_grace + 5 s after the last process is gone, workerd exits WITHOUT
 * leaving: leaving would tell the cluster we are gone cleanly while the
 * scheduler has not heard how our runs ended.  The ends stay in the
 * database and are reported at the next start, and the scheduler may
 * fence this node meanwhile, which is what it should do.
 */
#include <signal.h>
#include <string.h>

#include "agent.h"
#include "clock.h"
#include "log.h"

#define DRAIN_LOG_EVERY_MS 10000
#define ACK_WAIT_MS(a) ((a)->opt.kill_grace_ms + 5000)

/* Stop every run that still holds a process, for reason why. */
static void kill_remaining(struct agent *a, const char *why)
{
	int64_t now = clock_mono_ms();
	a->drain_killing = true;
	a->kill_started = now;
	int n = agent_live_runs(a);
	if (n)
		log_warnx("%s: stopping %d run(s)", why, n);
	for (size_t i = 0; i < a->nruns; i++)
		agent_kill(a, &a->runs[i], RUN_FAILED, why, SIGTERM);
}

/*
 * A stop signal.  The first starts the drain (or, with drain_timeout 0,
 * stops the runs at once as workerd always did); a second one during the
 * drain cuts it short; later ones change nothing.
 */
void agent_drain_signal(struct agent *a, int signo)
{
	int64_t now = clock_mono_ms();
	if (a->stopping) {
		if (!a->drain_killing && !a->left) {
			log_info("%s again: ending the drain now", strsignal(signo));
			kill_remaining(a, "workerd stopped: drain cut short by a second signal");
		}
		return;
	}
	a->stopping = true;
	a->drain_started = a->drain_logged = now;
	a->drain_deadline = now + a->opt.drain_timeout_ms;
	if (a->opt.drain_timeout_ms == 0) {
		log_info("%s: refusing new runs; drain_timeout is 0, so no drain", strsignal(signo));
		kill_remaining(a, "workerd stopped: drain deadline reached");
		return;
	}
	log_info("%s: draining: refusing new runs, letting %d running run(s) finish within %llds "
		 "(a second signal stops them now)",
		 strsignal(signo), agent_live_runs(a), (long long)(a->opt.drain_timeout_ms / 1000));
}

/* Every run ended and every report acknowledged: leave, exit after the linger. */
static void leave(struct agent *a, int64_t now)
{
	log_info("drained: every run ended and the scheduler acknowledged every report; "
		 "leaving the cluster");
	if (a->gossip && gossip_leave(a->gossip) < 0)
		log_warnx("could not announce the leave to gossip; the scheduler may fence this node");
	a->left = now;
}

/* No process left; reports not yet acknowledged.  Give up after the wait. */
static void wait_acks(struct agent *a, int64_t now)
{
	if (!a->procs_gone)
		a->procs_gone = now;
	if (now - a->procs_gone < ACK_WAIT_MS(a))
		return;
	log_warnx("stopping with %zu end(s) and %zu report(s) the scheduler has not acknowledged "
		  "after %llds; not leaving the cluster, so the scheduler will fence this node; "
		  "the ends stay in %s and are reported at the next start",
		  a->nruns, outbox_count(a->outbox), (long long)(ACK_WAIT_MS(a) / 1000),
		  a->opt.db_path);
	loop_stop(a->loop);
}

/* Runs still hold processes: log progress, enforce the deadline. */
static void wait_runs(struct agent *a, int live, int64_t now)
{
	a->procs_gone = 0;
	if (a->drain_killing) {
		/* SIGKILL is sent kill_grace after SIGTERM; a process that
		 * outlives it by more is stuck in the kernel. */
		if (now - a->kill_started > 2 * a->opt.kill_grace_ms + 5000) {
			log_warnx("stopping with %d run(s) whose processes did not die after "
				  "SIGKILL; not leaving the cluster", live);
			loop_stop(a->loop);
		}
		return;
	}
	if (now >= a->drain_deadline) {
		kill_remaining(a, "workerd stopped: drain deadline reached");
		return;
	}
	if (now - a->drain_logged >= DRAIN_LOG_EVERY_MS) {
		log_info("draining: %d run(s) left, %llds of the %llds deadline", live,
			 (long long)((now - a->drain_started) / 1000),
			 (long long)(a->opt.drain_timeout_ms / 1000));
		a->drain_logged = now;
	}
}

/* From the tick, while stopping: move the drain along; stop the loop at the end. */
void agent_drain_tick(struct agent *a)
{
	if (!a->stopping)
		return;
	int64_t now = clock_mono_ms();
	if (a->left) {
		if (now - a->left >= a->leave_linger_ms) {
			log_info("left the cluster; exiting");
			loop_stop(a->loop);
		}
		return;
	}
	/* Refusals (REJECT) must be acknowledged too: the scheduler may only
	 * hand a refused run to someone else once it knows. */
	int live = agent_live_runs(a);
	if (live)
		wait_runs(a, live, now);
	else if (a->nruns || outbox_count(a->outbox))
		wait_acks(a, now);
	else
		leave(a, now);
}
