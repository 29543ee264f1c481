/*
 * sched.h - the scheduler daemon's state, shared by its files:
 *
 *   schedd.c       process role: configuration, start-up, signals, loop
 *   sched_tasks.c  task definitions, due times, catch-up, run creation
 *   sched_dispatch.c  choosing workers, dispatching
 *   sched_retry.c  retries: backoff with jitter, another node first
 *   sched_deps.c   `after` and `priority`: readiness, skips, dispatch order
 *   sched_peers.c  messages from workers (hello, heartbeat/lease, run reports)
 *   sched_members.c  gossip membership: who is alive, who must be fenced
 *   sched_ckpt.c   task checkpoints: uploads assembled and stored, downloads served
 *   sched_fence.c  fence requests; sched_fence_hook.c the hook;
 *                  sched_storm.c  the storm guard
 *   sched_trigger.c  schedctl trigger: debounce windows and their timer
 *   control.c      requests from schedctl
 *
 * The database is the truth (DESIGN rule 1): what is here is a cache of
 * unfinished runs and task state, rebuilt from the store at start, and
 * every change is committed to the store before the matching message is
 * sent.  Worker liveness comes from gossip (SWIM, common/gossip.h); the
 * direct heartbeats only renew leases and carry slots.  Liveness and
 * addresses are memory-only; drains and fence requests are in the store.
 */
#ifndef SCHED_SCHED_H
#define SCHED_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "gossip.h"
#include "heap.h"
#include "loop.h"
#include "net.h"
#include "outbox.h"
#include "runstate.h"
#include "store.h"
#include "taskfile.h"

struct sched_task {
	struct task_def def;
	bool paused;
	int64_t cursor;          /* last fire time accounted for (Unix s) */
	int64_t next_fire;       /* next fire time, 0: none */
	uint64_t heap_gen;       /* matches the live heap entry */
	int dep_chain;           /* longest chain of dependants below it (sched_deps.c) */
	int dep_total;           /* tasks that depend on it, directly or not */
};

struct sched_worker {
	char name[WIRE_NAME_MAX + 1];
	uint64_t sender_id;
	struct net_addr addr;
	bool have_addr;
	bool hello;              /* said HELLO to this scheduler incarnation */
	int slots;
	char labels[WIRE_LABELS_MAX + 1];
	uint64_t incarnation;
	int64_t last_heard;      /* monotonic ms of its last HELLO/heartbeat, 0: never */
	int64_t last_datagram;   /* monotonic ms of anything from it, gossip too */
	bool dead_but_heard;     /* logged: gossip says dead, we still hear it */
	int64_t last_hello_ms;   /* wall ms */
	int64_t drained_ms;      /* schedctl drain: no new runs (0: not drained) */
	bool grace_fenced;       /* not back after our restart: fenced once */
};

/* An open fence request and the hook call in flight for it. */
struct sched_fence {
	char node[WIRE_NAME_MAX + 1];
	char addr[NET_ADDR_STRLEN];
	uint64_t request_id;
	uint64_t incarnation;    /* the node's process incarnation when fenced */
	int attempts;
	int64_t next_attempt_ms; /* wall ms */
	bool paused;             /* storm guard */
	int64_t opened_mono;     /* when this life of schedd took it up */
	pid_t pid;               /* hook running, 0: none */
	int out_fd;              /* its output, -1: closed */
	bool timed_out;
	int64_t started_ms;      /* wall */
	int64_t deadline;        /* monotonic */
	char out[4096];          /* the end of its output */
	size_t outlen;
};

#define SCHED_DEATHS_RING 64
struct sched_death {
	int64_t at;              /* monotonic ms */
	bool resolved;           /* confirmed by an operator since */
	char node[WIRE_NAME_MAX + 1];
};

struct sched_run {
	uint64_t run_id;
	uint64_t token;
	char task[TASK_NAME_MAX + 1];
	enum run_state state;
	enum run_reason reason;
	char node[WIRE_NAME_MAX + 1];
	int attempt;
	int64_t scheduled_for;
	int64_t created_ms;
	int64_t not_before_ms;   /* retries wait for their backoff */
	bool cancel_requested;
	char avoid[WIRE_NAME_MAX + 1]; /* refused it or ran the failed attempt: others
					* first (a retry's is derived again at load) */
	bool deps_met;           /* its cycle's dependencies succeeded (memory only) */
	int triggers;            /* `schedctl trigger` requests it answers (runs.triggers):
				  * such a run does not wait for dependencies */
	char wait[320];          /* pending: why not dispatched yet, set by each
				  * dispatch pass ("" before the first one) */
	bool unsent;		 /* dispatched, but its DISPATCH could not be
				  * built (checkpoint unreadable): the next
				  * dispatch pass builds it again */
};

struct sched_opts {
	const char *name;
	const char *db_path;
	const char *tasks_dir;
	struct net_addr listen;
	int64_t lease_ms;
	int64_t heartbeat_ms;
	int64_t node_timeout_ms;
	int64_t catch_up_grace_ms;
	int64_t max_skew_ms;
	char advertise[NET_ADDR_STRLEN]; /* gossip address */
	const char *seeds;
	struct swim_config swim;
	char fence_hook[512];    /* "": operator confirms every fence */
	int64_t fence_timeout_ms;
	int64_t fence_backoff_max_ms;
	double storm_share;
	long storm_min;
	int64_t storm_window_ms;
	int64_t node_grace_ms;   /* after start: nodes with runs must be back */
	int64_t checkpoint_max;  /* bytes; larger checkpoints are refused */
};

struct ctl_cache;
struct sched_ckpt;

struct sched {
	struct sched_opts opt;
	struct store *store;
	struct loop *loop;
	struct net_endpoint *net;
	struct outbox *outbox;
	struct auth_keyring keys;
	uint64_t incarnation;
	int64_t started_ms;

	struct sched_task *tasks;   /* sorted by name */
	size_t ntasks;
	struct heap due;            /* (next_fire, task index + gen) */

	struct sched_worker *workers;
	size_t nworkers;

	struct sched_run *runs;     /* unfinished runs */
	size_t nruns;

	struct gossip *gossip;
	int64_t started_mono;
	struct sched_fence *fences; /* open fence requests */
	size_t nfences;
	bool storm;                 /* fencing paused (DESIGN rule 7) */
	int64_t storm_since;        /* monotonic */
	pid_t orphan_hooks[16];     /* killed hook calls not reaped yet */
	size_t norphans;
	bool stopping;              /* SIGTERM: leaving the cluster */
	int64_t stop_at;            /* monotonic */
	struct sched_death deaths[SCHED_DEATHS_RING]; /* recent deaths */
	size_t ndeaths;

	struct loop_timer *trigger_timer; /* closes debounce windows (sched_trigger.c) */
	int64_t trigger_at_ms;      /* wall ms it is set for, 0: not set */

	struct ctl_cache *ctl;
	struct sched_ckpt *ckpt;
	uint64_t reloads, reload_failures;
	char last_reload_error[512];
};

/* sched_tasks.c */
int sched_tasks_apply(struct sched *s, const struct task_set *ts, char *err, size_t errlen);
int sched_reload(struct sched *s, char *msg, size_t msglen);
void sched_fire_due(struct sched *s);
struct sched_task *sched_task_find(struct sched *s, const char *name);
void sched_task_rearm(struct sched *s, struct sched_task *t);
void sched_tasks_free(struct sched *s);
int sched_run_create(struct sched *s, struct sched_task *t, enum run_reason reason,
		     int64_t scheduled_for, int attempt, bool record_skip, int64_t cursor,
		     int64_t not_before_ms, struct store_run_created *out);

/* sched_dispatch.c */
int sched_runs_load(struct sched *s);
struct sched_run *sched_run_find(struct sched *s, uint64_t run_id);
void sched_run_forget(struct sched *s, uint64_t run_id);
int sched_run_track(struct sched *s, const struct sched_run *r);
void sched_dispatch_pending(struct sched *s);
void sched_send_dispatch(struct sched *s, struct sched_run *r);
void sched_send_cancel(struct sched *s, const struct sched_run *r);
int sched_node_active_runs(const struct sched *s, const char *node);
bool sched_worker_alive(const struct sched *s, const struct sched_worker *w);
void sched_track_created(struct sched *s, const struct store_run_new *rn,
			 const struct store_run_created *cr);

/* sched_retry.c */
/*
 * The wait before the attempt after `failed_attempt` (1 for the first):
 * d = min(base_ms * 2^(failed_attempt-1), max_ms) (max_ms below base_ms
 * counts as base_ms), and the result is d/2 + (d/2 scaled by rnd / 2^32),
 * so in [d/2, d) ("equal jitter").  Pure: rnd is the random source.
 * base_ms <= 0 gives 0.
 */
int64_t sched_retry_backoff_ms(int64_t base_ms, int64_t max_ms, int failed_attempt,
			       uint32_t rnd);
/*
 * The retry owed when r ends in `state`: a failed, timed-out or lost
 * (fenced) attempt within its task's `retries` (an operator's cancel
 * excluded) gets a new run: reason retry, next attempt, same scheduled
 * time, not dispatched before its backoff (a lost one at once).  Fills
 * *rn and returns true if one is owed; the caller has the store create it
 * in the transaction that records the end, so a crash cannot separate
 * the two.
 */
bool sched_retry_of(struct sched *s, const struct sched_run *r, enum run_state state,
		    struct store_run_new *rn);
/* After the store created (or skipped) the retry: track it, and make its
 * dispatch prefer other nodes than failed_node (may be NULL). */
void sched_retry_created(struct sched *s, const struct store_run_new *rn,
			 const struct store_run_created *cr, const char *failed_node);
/* At start, after sched_runs_load: pending retries avoid the node of
 * their previous attempt again (from its run row). */
void sched_retry_avoid_load(struct sched *s);
/* sched_deps.c */
void sched_deps_rebuild(struct sched *s);
void sched_deps_settle(struct sched *s, int64_t now_ms);
bool sched_run_ready(struct sched *s, struct sched_run *r, int64_t now_ms);
int sched_run_order(const void *a, const void *b, void *arg);

/* sched_peers.c */
void sched_on_message(struct sched *s, const struct net_msg *m);
struct sched_worker *sched_worker_find(struct sched *s, const char *name);
int sched_workers_load(struct sched *s);

/* sched_ckpt.c */
struct sched_ckpt_counters {
	uint64_t stored;         /* checkpoints stored */
	uint64_t stale;          /* refused: stale token, or the run not active there */
	uint64_t too_big;        /* refused: over checkpoint_max */
	uint64_t bad;            /* refused: the chunks did not match the hash */
	uint64_t served;         /* chunks sent to starting runs */
};
int sched_ckpt_new(struct sched_ckpt **out);
void sched_ckpt_free(struct sched_ckpt *c);
void sched_ckpt_counters(const struct sched *s, struct sched_ckpt_counters *out);
/* The task's checkpoint changed in the store (e.g. cleared): drop what
 * this file cached of it. */
void sched_ckpt_forget_task(struct sched *s, const char *task);
/* BLAKE2b-128 of data, the hash of the protocol. */
void sched_ckpt_hash(const void *data, size_t len, uint8_t out[WIRE_CKPT_HASH]);
/* Name the task's stored checkpoint (if any) in r's DISPATCH.  0, or a
 * negative errno if the store could not say (a read error, not "none"):
 * then the DISPATCH must not go out, or the run would start without its
 * checkpoint and the worker would delete its own copy. */
int sched_ckpt_fill_dispatch(struct sched *s, const struct sched_run *r, struct wire_dispatch *d);
/* 0 if the task's checkpoint (or its absence) can be read now, else the
 * store's negative errno: a run is not dispatched until it can. */
int sched_ckpt_readable(struct sched *s, const char *task);
void sched_ckpt_on_put(struct sched *s, struct sched_worker *w, const struct net_msg *nm);
/* Each scheduler tick: forget uploads that received no chunk for two
 * leases (and verdicts kept long enough). */
void sched_ckpt_tick(struct sched *s);
void sched_ckpt_on_ack(struct sched *s, struct sched_worker *w, const struct net_msg *nm);

/* sched_members.c */
int sched_gossip_start(struct sched *s);
bool sched_member_alive(const struct sched *s, const char *name);
const struct swim_member *sched_member(const struct sched *s, const char *name);
void sched_members_sweep(struct sched *s);

/* sched_fence.c, sched_fence_hook.c */
int sched_fences_load(struct sched *s);
struct sched_fence *sched_fence_find(const struct sched *s, const char *node);
void sched_fence_node(struct sched *s, const char *node, const char *why);
int sched_fence_confirm(struct sched *s, const char *node, const char *by, int *nlost);
void sched_fence_node_back(struct sched *s, const struct sched_worker *w, uint64_t incarnation);
void sched_fence_node_restarted(struct sched *s, const struct sched_worker *w, uint64_t prev);
void sched_fence_forget(struct sched *s, struct sched_fence *f);

/* sched_storm.c */
void sched_fence_note_death(struct sched *s, const char *node, size_t extra_members);
void sched_fence_resume(struct sched *s, const char *why);
void sched_storm_resolved(struct sched *s, const char *node);
void sched_storm_tick(struct sched *s);

void sched_fence_tick(struct sched *s);
void sched_fence_reap(struct sched *s);
void sched_fences_free(struct sched *s);

/* sched_trigger.c */
int sched_trigger(struct sched *s, struct sched_task *t, struct store_trigger_result *out);
int sched_triggers_start(struct sched *s);

/* control.c */
int ctl_cache_new(struct ctl_cache **out);
void ctl_cache_free(struct ctl_cache *c);
void sched_on_ctl(struct sched *s, const struct net_msg *m);

#endif
