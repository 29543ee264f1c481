/*
 * agent.h - the worker daemon's state, shared by its files:
 *
 *   workerd.c   process role: configuration, start-up, signals, loop
 *   agent.c     messages from the scheduler, hello/heartbeat/lease
 *   runs.c      starting, watching, ending and reconciling task processes
 *
 * Write-ahead (DESIGN rule 2): a dispatch is persisted as accepted before
 * fork/exec; an end is persisted before it is reported, and reported until
 * acknowledged; only then is the run forgotten.  Self-fencing (rule 6):
 * every run has a lease, renewed by the scheduler's LEASE answers to our
 * heartbeats; when it runs out, the run's process group is killed and the
 * run ends as failed with the reason recorded.
 */
#ifndef SCHED_AGENT_H
#define SCHED_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "exec.h"
#include "loop.h"
#include "net.h"
#include "outbox.h"
#include "wstore.h"

struct agent_opts {
	const char *name;
	struct net_addr listen;
	struct net_addr scheduler;
	const char *scheduler_name;
	const char *db_path;
	const char *log_dir;
	int slots;
	char labels[WIRE_LABELS_MAX + 1];
	int64_t log_cap;
	int64_t log_retention_ms;   /* per-run log files older than this go */
	int64_t kill_grace_ms;
	int64_t max_skew_ms;
};

struct agent_run {
	struct wrun w;           /* as persisted */
	struct exec_proc proc;
	bool has_proc;           /* proc holds a live child of ours */
	bool exited;             /* reaped; wait_status valid */
	int wait_status;
	int64_t lease_until;     /* monotonic ms */
	int64_t started_mono;
	int64_t term_sent;       /* monotonic ms of SIGTERM, 0: none */
	enum run_state kill_state; /* state to report when we killed it, 0: none */
	char kill_reason[WSTORE_ERROR_MAX + 1];
	/* The run is over but processes of its group live on: it is reported
	 * only once the group is gone (a leftover must never overlap the next
	 * run), with the result kept here meanwhile. */
	bool draining;
	pid_t drain_pgid;
	enum run_state pend_state;
	int pend_code, pend_sig;
	char pend_error[WSTORE_ERROR_MAX + 1];
};

#define AGENT_HB_RING 16

struct agent {
	struct agent_opts opt;
	struct wstore *ws;
	struct loop *loop;
	struct net_endpoint *net;
	struct outbox *outbox;
	struct auth_keyring keys;
	uint64_t incarnation;
	uint64_t sched_sender;
	uint64_t sched_incarnation;  /* from WELCOME */
	bool welcomed;
	int64_t last_hello, last_hb, last_purge;
	int64_t last_lease;          /* monotonic ms of the last LEASE answer */
	int64_t heartbeat_ms, lease_ms;
	struct {
		uint64_t seq;
		int64_t sent;
	} hb_ring[AGENT_HB_RING];
	unsigned hb_next;
	struct agent_run *runs;
	size_t nruns;
	bool stopping;
	int64_t stop_deadline;
};

/* agent.c */
void agent_on_message(struct agent *a, const struct net_msg *m);
void agent_tick(struct agent *a);
void agent_send_ended(struct agent *a, const struct agent_run *r);

/* runs.c */
struct agent_run *agent_run_find(struct agent *a, uint64_t run_id);
struct agent_run *agent_run_add(struct agent *a, const struct wrun *w);
void agent_run_remove(struct agent *a, uint64_t run_id);
int agent_live_runs(const struct agent *a);
void agent_spawn(struct agent *a, struct agent_run *r);
void agent_kill(struct agent *a, struct agent_run *r, enum run_state state, const char *why,
		int sig);
void agent_reap(struct agent *a);
void agent_check_runs(struct agent *a);
int agent_reconcile(struct agent *a);
void agent_purge_logs(struct agent *a);

#endif
