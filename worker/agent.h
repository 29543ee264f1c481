/*
 * agent.h - the worker daemon's state, shared by its files:
 *
 *   workerd.c      process role: configuration, start-up, signals, loop
 *   agent.c        messages from the scheduler and gossip, hello/heartbeat/lease
 *   runs.c         starting, watching, ending and reconciling task processes
 *   agent_fence.c  at lease expiry: self-fence, or keep the run (rule 6)
 *   ckpt.c         the run's checkpoint file: fetched before the start, shipped
 *   ckpt_file.c    that file on disk, whatever a task left at its path
 *   drain.c        stopping: drain, deadline, leave the cluster, exit
 *
 * Write-ahead (DESIGN rule 2): a dispatch is persisted as accepted before
 * fork/exec; an end is persisted before it is reported, and reported until
 * acknowledged; only then is the run forgotten.
 *
 * Leases (rule 6): every run has a lease, renewed by the scheduler's
 * LEASE answers to our heartbeats.  When it runs out, the run's process
 * group is killed (self-fencing) unless our gossip view says the
 * scheduler is down for everyone (agent_fence.c).  A LEASE_HOLD answer
 * (the scheduler is fencing this node) stops renewing without killing;
 * LEASE_LOST (the node was fenced) kills at once and reports the run
 * lost.  A run still fetching its checkpoint is never started once its
 * lease is over or on hold (ckpt.c).
 *
 * Membership: workerd is a gossip (SWIM) member on its own endpoint, under
 * its persisted incarnation.  SIGTERM drains: no new runs, running ones
 * finish (up to worker.drain_timeout), their ends are acknowledged, then
 * the worker leaves the cluster, which needs no fence.
 */
#ifndef SCHED_AGENT_H
#define SCHED_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "exec.h"
#include "gossip.h"
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
	int64_t drain_timeout_ms;   /* SIGTERM to killing what still runs; 0: at once */
	int64_t checkpoint_max;     /* bytes; a larger checkpoint file is not shipped */
};

struct agent_ckpt;

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
	uint64_t hold_seq;       /* heartbeat put on LEASE_HOLD (not renewed,
				    self-fence at its end); 0: not on hold */
	int64_t hold_at;         /* monotonic ms the last HOLD arrived */
	bool kept;               /* lease over, kept running (rule 6); logged once */
	int64_t cut_since;       /* monotonic ms the view first said "cut off" (0: not) */
	bool self_fenced;        /* SIGKILLed at lease end */
	/* The run is over but processes of its group live on: it is reported
	 * only once the group is gone (a leftover must never overlap the next
	 * run), with the result kept here meanwhile. */
	bool draining;
	pid_t drain_pgid;
	enum run_state pend_state;
	int pend_code, pend_sig;
	char pend_error[WSTORE_ERROR_MAX + 1];
	struct agent_ckpt *ckpt;  /* checkpoint transfers (ckpt.c), NULL: none yet */
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
	uint64_t prev_incarnation;   /* our previous life on this database, 0: none */
	uint64_t sched_sender;
	uint64_t sched_incarnation;  /* from WELCOME */
	bool welcomed;
	int64_t last_hello, last_hb, last_purge;
	int64_t last_lease;          /* monotonic ms of the last LEASE answer */
	int64_t last_ckpt_poll;      /* monotonic ms checkpoint files were last looked at */
	int64_t heartbeat_ms, lease_ms;
	struct {
		uint64_t seq;
		int64_t sent;
	} hb_ring[AGENT_HB_RING];
	unsigned hb_next;
	struct agent_run *runs;
	size_t nruns;
	struct gossip *gossip;
	int64_t leave_linger_ms;     /* after gossip_leave, before exit */
	/* Stopping (drain.c).  All times monotonic ms, 0: not yet. */
	bool stopping;               /* refuse new runs, advertise 0 slots */
	bool drain_killing;          /* what still ran was told to stop */
	int64_t drain_started, drain_deadline, drain_logged;
	int64_t kill_started;
	int64_t procs_gone;          /* first moment no run held a process */
	int64_t left;                /* gossip_leave was sent */
};

/* agent_fence.c: the verdict at lease expiry (DESIGN rule 6). */
enum agent_fence_verdict {
	FENCE_KEEP = 0,     /* the scheduler is down for everyone: keep running */
	FENCE_CUT_OFF = 1,  /* the scheduler is alive in gossip: we are cut off */
	FENCE_ALONE = 2,    /* no other member to compare with */
	FENCE_ISOLATED = 3, /* most other members are not alive: we are isolated */
};

struct agent_fence_view {
	enum swim_state scheduler; /* SWIM_UNKNOWN: never heard of it */
	unsigned others;           /* members but self and the scheduler, not LEFT */
	unsigned others_alive;     /* of those, ALIVE */
	int64_t scheduler_since;   /* monotonic ms of the scheduler's last state change */
};

/* The rule alone: others_alive <= others.  Pure. */
enum agent_fence_verdict agent_fence_decide(enum swim_state scheduler, unsigned others,
					    unsigned others_alive);
const char *agent_fence_verdict_text(enum agent_fence_verdict v);
/* Our gossip view, counted for agent_fence_decide. */
void agent_fence_view(struct agent *a, struct agent_fence_view *v);

/* agent.c */
void agent_on_message(struct agent *a, const struct net_msg *m);
void agent_tick(struct agent *a);
void agent_on_member(void *ctx, const struct swim_member *m, enum swim_state old);
void agent_send_ended(struct agent *a, const struct agent_run *r);

/* runs.c */
struct agent_run *agent_run_find(struct agent *a, uint64_t run_id);
struct agent_run *agent_run_add(struct agent *a, const struct wrun *w);
void agent_run_remove(struct agent *a, uint64_t run_id);
int agent_live_runs(const struct agent *a);
void agent_spawn(struct agent *a, struct agent_run *r);
void agent_kill(struct agent *a, struct agent_run *r, enum run_state state, const char *why,
		int sig);
void agent_lose(struct agent *a, struct agent_run *r);
void agent_reap(struct agent *a);
void agent_check_runs(struct agent *a);
int agent_reconcile(struct agent *a);
void agent_purge_logs(struct agent *a);
int agent_mkdirs(const char *path);

/* ckpt.c */
/* LOG_DIR/TASK/checkpoint into buf; -ENAMETOOLONG. */
int agent_ckpt_path(const struct agent *a, const char *task, char *buf, size_t len);
/* Before r's start, as its DISPATCH d says: 1: start it now; 0: it is
 * started once its checkpoint has been fetched; <0: it could not be
 * prepared and has been ended (failed). */
int agent_ckpt_prepare(struct agent *a, struct agent_run *r, const struct wire_dispatch *d);
/* Every heartbeat: ship new content of running runs' files. */
void agent_ckpt_poll(struct agent *a);
/* At r's end: ship the file's final content; note (may be NULL) says why
 * nothing was shipped if it was over the cap. */
void agent_ckpt_final(struct agent *a, struct agent_run *r, char *note, size_t len);
/* An upload of r is in flight: its ENDED waits for it (sent by ckpt.c). */
bool agent_ckpt_holds_end(const struct agent_run *r);
void agent_ckpt_on_data(struct agent *a, const struct net_msg *nm);
void agent_ckpt_on_ack(struct agent *a, const struct net_msg *nm);
/* Retransmissions and stalled downloads; from the tick. */
void agent_ckpt_tick(struct agent *a);
void agent_ckpt_free(struct agent_run *r);

/* ckpt_file.c: the file itself.  Never blocks, whatever is at the path. */
/* Read the regular file at path (at most max bytes) into a malloc'd
 * *data: 0 and *size; -ENOENT if there is none; -EFBIG (with *size) if it
 * is larger than max; -EINVAL if it is not a regular file (*st says what it
 * is); -EAGAIN if it changed while read; else a negative errno.  *st
 * receives its stat. */
int agent_ckpt_read(const char *path, size_t max, uint8_t **data, size_t *size, struct stat *st);
/* Replace path by data through a fresh temporary file (path.part, what was
 * there removed first), fsync'd: the task never sees half. */
int agent_ckpt_write(const char *path, const uint8_t *data, size_t len);
/* Remove path if there is one (not a directory). */
int agent_ckpt_remove(const char *path);
/* A directory at path (a task made one; neither unlink nor rename
 * replaces it): moved aside to path.moved-RUN_ID, logged.  0 if there is
 * none or it was moved. */
int agent_ckpt_clear_dir(const char *path, uint64_t run_id, const char *task);
/* What a file of this mode is, in words ("a FIFO"). */
const char *agent_ckpt_kind(mode_t mode);

/* drain.c */
void agent_drain_signal(struct agent *a, int signo);
void agent_drain_tick(struct agent *a);

#endif
