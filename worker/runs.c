/*
 * runs.c - the worker's task processes: start, drain output, enforce the
 * timeout and the lease, reap, and reconcile after a restart.
 *
 * When the process that workerd started (the group leader) exits, any
 * other process still in its group is killed: the run is over, and a
 * leftover background process must never overlap the task's next run.
 *
 * Restart policy (documented in docs/operations.md): runs found in the
 * database after a workerd restart are never adopted.  workerd cannot
 * recover the output pipe or the exit status of a process it did not
 * start in this life, and a crash-looping agent must not leave unseen
 * processes behind, so a surviving process group is killed and the run is
 * reported as failed with the reason.  A pid is only signalled if its
 * /proc start time matches the one recorded at spawn, so a recycled pid
 * is never hit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "clock.h"
#include "cron.h"
#include "log.h"

extern char **environ;

static int kill_by_env(struct agent *a, const struct wrun *w, pid_t pgid, pid_t *pgid_out);

struct agent_run *agent_run_find(struct agent *a, uint64_t run_id)
{
	for (size_t i = 0; i < a->nruns; i++)
		if (a->runs[i].w.run_id == run_id)
			return &a->runs[i];
	return NULL;
}

struct agent_run *agent_run_add(struct agent *a, const struct wrun *w)
{
	struct agent_run *nr = realloc(a->runs, (a->nruns + 1) * sizeof(*nr));
	if (!nr)
		fatalx("out of memory");
	a->runs = nr;
	struct agent_run *r = &a->runs[a->nruns++];
	memset(r, 0, sizeof(*r));
	r->w = *w;
	r->proc.out_fd = r->proc.log_fd = -1;
	r->lease_until = clock_mono_ms() + a->lease_ms;
	return r;
}

void agent_run_remove(struct agent *a, uint64_t run_id)
{
	for (size_t i = 0; i < a->nruns; i++) {
		if (a->runs[i].w.run_id != run_id)
			continue;
		if (a->runs[i].proc.out_fd >= 0)
			loop_del_fd(a->loop, a->runs[i].proc.out_fd);
		exec_close(&a->runs[i].proc);
		agent_ckpt_free(&a->runs[i]);
		memmove(&a->runs[i], &a->runs[i + 1], (a->nruns - i - 1) * sizeof(a->runs[0]));
		a->nruns--;
		return;
	}
}

/* Runs that occupy a slot: accepted or running (not yet ended). */
int agent_live_runs(const struct agent *a)
{
	int n = 0;
	for (size_t i = 0; i < a->nruns; i++)
		if (a->runs[i].w.phase == WRUN_ACCEPTED || a->runs[i].w.phase == WRUN_RUNNING)
			n++;
	return n;
}

static void on_output(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)events;
	struct agent *a = arg;
	for (size_t i = 0; i < a->nruns; i++) {
		struct agent_run *r = &a->runs[i];
		if (r->proc.out_fd != fd)
			continue;
		if (exec_pump(&r->proc) != 0) {
			loop_del_fd(l, fd);
			if (r->proc.out_fd >= 0) {
				close(r->proc.out_fd);
				r->proc.out_fd = -1;
			}
		}
		return;
	}
	loop_del_fd(l, fd); /* not ours any more */
}

int agent_mkdirs(const char *path)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The task environment of DESIGN.md on top of workerd's own. */
static char **task_env(const struct agent *a, const struct wrun *w, const char *ckpt)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 8, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	char when[40];
	cron_format_time(w->scheduled_for, "UTC", when, sizeof(when));
	char buf[600];
#define ADD(fmt, ...) (snprintf(buf, sizeof(buf), fmt, __VA_ARGS__), env[k++] = strdup(buf))
	ADD("SCHED_TASK=%s", w->task);
	ADD("SCHED_RUN_ID=%llu", (unsigned long long)w->run_id);
	ADD("SCHED_FENCE_TOKEN=%llu", (unsigned long long)w->token);
	ADD("SCHED_ATTEMPT=%u", w->attempt);
	ADD("SCHED_SCHEDULED_FOR=%s", when);
	ADD("SCHED_NODE=%s", a->opt.name);
	ADD("SCHED_CHECKPOINT_FILE=%s", ckpt);
#undef ADD
	/* workerd's own environment after ours: a restarted workerd finds a
	 * task's processes by the SCHED_ variables, first in /proc/PID/environ. */
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "SCHED_", 6) != 0)
			env[k++] = strdup(environ[i]);
	env[k] = NULL;
	return env;
}

static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

static void end_run(struct agent *a, struct agent_run *r, enum run_state state, int exit_code,
		    int sig, const char *error)
{
	char tail[WSTORE_TAIL_MAX + 1] = "";
	if (r->has_proc) {
		exec_tail(&r->proc, tail, sizeof(tail));
		exec_close(&r->proc);
		r->has_proc = false;
	}
	r->draining = false;
	/* The final checkpoint goes before the end is reported (agent_send_ended
	 * waits for it); never for a lost run: the scheduler refuses it. */
	char note[WSTORE_ERROR_MAX + 1] = "", err[WSTORE_ERROR_MAX + 1];
	if (r->w.started_ms > 0 && state != RUN_LOST)
		agent_ckpt_final(a, r, note, sizeof(note));
	snprintf(err, sizeof(err), "%s%s%s", error ? error : "", error && error[0] && note[0] ? "; " : "",
		 note);
	error = err;
	int64_t now = clock_wall_ms();
	int rc = wstore_set_ended(a->ws, r->w.run_id, state, exit_code, sig, now, tail, error);
	if (rc < 0)
		log_warnx("run %llu: could not persist its end (%s); reporting anyway",
			  (unsigned long long)r->w.run_id, strerror(-rc));
	r->w.phase = WRUN_ENDED;
	r->w.end_state = state;
	r->w.exit_code = exit_code;
	r->w.signal = sig;
	r->w.finished_ms = now;
	snprintf(r->w.tail, sizeof(r->w.tail), "%s", tail);
	snprintf(r->w.error, sizeof(r->w.error), "%s", error ? error : "");
	log_info("run %llu of %s ended: %s (exit %d, signal %d)%s%s",
		 (unsigned long long)r->w.run_id, r->w.task, run_state_name(state), exit_code, sig,
		 error && error[0] ? ": " : "", error ? error : "");
	agent_send_ended(a, r);
}

/*
 * End the run once process group pgid is gone: at once if it already is,
 * else after SIGKILL has done its work (agent_check_runs looks every tick).
 * pgid must be known to be this run's group.
 */
static void end_when_gone(struct agent *a, struct agent_run *r, pid_t pgid,
			  enum run_state state, int code, int sig, const char *error)
{
	if (pgid <= 1 || !exec_group_alive(pgid)) {
		end_run(a, r, state, code, sig, error);
		return;
	}
	exec_kill_group(pgid, SIGKILL);
	r->draining = true;
	r->drain_pgid = pgid;
	r->pend_state = state;
	r->pend_code = code;
	r->pend_sig = sig;
	snprintf(r->pend_error, sizeof(r->pend_error), "%s", error ? error : "");
	log_info("run %llu of %s: waiting for the rest of its process group to die",
		 (unsigned long long)r->w.run_id, r->w.task);
}

void agent_spawn(struct agent *a, struct agent_run *r)
{
	char dir[160], log_path[WSTORE_PATH_MAX + 1], ckpt[WSTORE_PATH_MAX + 1];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", a->opt.log_dir, r->w.task) >= sizeof(dir)) {
		end_run(a, r, RUN_FAILED, -1, 0, "log_dir path too long");
		return;
	}
	snprintf(log_path, sizeof(log_path), "%s/%llu.log", dir,
		 (unsigned long long)r->w.run_id);
	snprintf(ckpt, sizeof(ckpt), "%s/checkpoint", dir);
	int rc = agent_mkdirs(dir);
	char **env = task_env(a, &r->w, ckpt);
	struct exec_spec spec = {
		.command = r->w.command,
		.env = env,
		.log_path = log_path,
		.log_cap = a->opt.log_cap,
	};
	if (rc == 0 && env)
		rc = exec_start(&spec, &r->proc);
	else if (rc == 0)
		rc = -ENOMEM;
	free_env(env);
	if (rc < 0) {
		char why[200];
		snprintf(why, sizeof(why), "could not start the command: %s", strerror(-rc));
		end_run(a, r, RUN_FAILED, -1, 0, why);
		return;
	}
	r->has_proc = true;
	r->started_mono = clock_mono_ms();
	int64_t now = clock_wall_ms();
	if (wstore_set_running(a->ws, r->w.run_id, r->proc.pid, r->proc.proc_start, now,
			       log_path) < 0)
		log_warnx("run %llu: could not persist its pid", (unsigned long long)r->w.run_id);
	r->w.phase = WRUN_RUNNING;
	r->w.pid = r->proc.pid;
	r->w.started_ms = now;
	snprintf(r->w.log_path, sizeof(r->w.log_path), "%s", log_path);
	if (loop_add_fd(a->loop, r->proc.out_fd, EPOLLIN, on_output, a) < 0)
		log_warnx("run %llu: cannot watch its output", (unsigned long long)r->w.run_id);
	log_info("run %llu of %s started (pid %d, token %llu)", (unsigned long long)r->w.run_id,
		 r->w.task, (int)r->proc.pid, (unsigned long long)r->w.token);
	struct wire_msg m = {.type = WIRE_STARTED};
	m.u.started.run_id = r->w.run_id;
	m.u.started.token = r->w.token;
	m.u.started.started_at_ms = now;
	m.u.started.pid = (uint32_t)r->proc.pid;
	outbox_put(a->outbox, a->opt.scheduler_name, &a->opt.scheduler, &m, r->w.run_id);
}

/*
 * Stop a run: record why (the state it will end in), signal its group.
 * SIGTERM starts the grace period after which agent_check_runs sends
 * SIGKILL.  A run that has not started yet ends at once.
 */
void agent_kill(struct agent *a, struct agent_run *r, enum run_state state, const char *why,
		int sig)
{
	if (r->w.phase == WRUN_ACCEPTED) {
		end_run(a, r, state, -1, 0, why);
		return;
	}
	if (r->w.phase != WRUN_RUNNING || !r->has_proc)
		return;
	if (!r->kill_state) {
		r->kill_state = state;
		snprintf(r->kill_reason, sizeof(r->kill_reason), "%s", why);
		log_info("run %llu of %s: %s; sending %s to its process group",
			 (unsigned long long)r->w.run_id, r->w.task, why, strsignal(sig));
	}
	if (sig == SIGTERM && r->term_sent)
		return;
	if (sig == SIGTERM)
		r->term_sent = clock_mono_ms();
	exec_kill_group(r->proc.pid, sig);
}

static void finish_exited(struct agent *a, struct agent_run *r)
{
	if (r->proc.out_fd >= 0) {
		exec_pump(&r->proc);
		loop_del_fd(a->loop, r->proc.out_fd);
		close(r->proc.out_fd);
		r->proc.out_fd = -1;
	}
	int st = r->wait_status, code = -1, sig = 0;
	if (WIFEXITED(st))
		code = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		sig = WTERMSIG(st);
	enum run_state state = r->kill_state ? r->kill_state
			       : (code == 0)  ? RUN_SUCCEEDED
					      : RUN_FAILED;
	/* Leftovers of the group must not outlive the run. */
	end_when_gone(a, r, r->proc.pid, state, code, sig, r->kill_state ? r->kill_reason : NULL);
}

void agent_reap(struct agent *a)
{
	pid_t pid;
	int status;
	while (exec_reap(&pid, &status) == 0) {
		for (size_t i = 0; i < a->nruns; i++) {
			struct agent_run *r = &a->runs[i];
			if (r->has_proc && r->proc.pid == pid && !r->exited) {
				r->exited = true;
				r->wait_status = status;
				finish_exited(a, r);
				break;
			}
		}
	}
}

/*
 * Make run r lost: the scheduler fenced this node (LEASE_LOST) and holds
 * the run as lost, so it must stop now (SIGKILL, no grace: someone else
 * may already run the task) and is reported lost, never resumed.  A run
 * whose process already exited but whose group is still being killed
 * (draining) is reported lost too: the scheduler's verdict stands.
 */
void agent_lose(struct agent *a, struct agent_run *r)
{
	static const char why[] =
		"fenced: the scheduler declared this node dead and fenced it; not resumed";
	if (r->w.phase == WRUN_ENDED)
		return;
	if (r->draining) {
		r->pend_state = RUN_LOST;
		snprintf(r->pend_error, sizeof(r->pend_error), "%s", why);
		exec_kill_group(r->drain_pgid, SIGKILL);
		return;
	}
	if (r->kill_state != RUN_LOST)
		r->kill_state = 0; /* the fence's verdict wins over a timeout or cancel */
	agent_kill(a, r, RUN_LOST, why, SIGKILL);
}

/*
 * The lease of r is over (DESIGN rule 6).  Self-fence (SIGKILL, failed)
 * unless our gossip view says the scheduler is down for everyone
 * (agent_fence.c); then keep it, look again every tick, and say so once.
 * A run the scheduler put on HOLD always self-fences: the HOLD shows the
 * scheduler is up and reaches us, whatever our gossip view says.  A run
 * whose scheduler has just come back in gossip gets a short grace to be
 * renewed before the scheduler's silence counts as our isolation.  *view is read once
 * per tick, on first need.
 */
static void lease_over(struct agent *a, struct agent_run *r, struct agent_fence_view *view,
		       bool *have_view)
{
	if (!*have_view) {
		agent_fence_view(a, view);
		*have_view = true;
	}
	enum agent_fence_verdict v =
		r->hold_seq ? FENCE_CUT_OFF
			: agent_fence_decide(view->scheduler, view->others, view->others_alive);
	if (v == FENCE_KEEP) {
		r->cut_since = 0;
		if (!r->kept)
			log_warnx("run %llu of %s: lease expired without renewal; kept running: the "
				  "scheduler is %s in gossip while %u of %u other members are alive, "
				  "so it is down for everyone",
				  (unsigned long long)r->w.run_id, r->w.task,
				  swim_state_name(view->scheduler), view->others_alive, view->others);
		r->kept = true;
		return;
	}
	/* The scheduler came back in gossip only just now (after a restart, or
	 * being down for everyone): give it the time of a HELLO and a
	 * heartbeat to renew (or to say HOLD, LOST or UNKNOWN) before reading
	 * its silence as our isolation.  Counted from its return, so it ends
	 * whatever happens.  A HOLD already is its answer: no grace then. */
	int64_t back_until = view->scheduler_since + 3 * a->heartbeat_ms + 1000;
	if (v == FENCE_CUT_OFF && !r->hold_seq && view->scheduler == SWIM_ALIVE &&
	    clock_mono_ms() < back_until) {
		if (r->lease_until < back_until)
			log_info("run %llu of %s: the scheduler is back in gossip; until %lld ms from "
				 "now for it to renew the lease", (unsigned long long)r->w.run_id,
				 r->w.task, (long long)(back_until - clock_mono_ms()));
		r->kept = false;
		r->cut_since = 0;
		r->lease_until = back_until;
		return;
	}
	/* Gossip claims arrive stale (a member that was cut off spreads the
	 * deaths it saw, and they are refuted within milliseconds): a view
	 * that says "isolated" must hold for a second before it kills. */
	int64_t now = clock_mono_ms();
	if (!r->hold_seq && (!r->cut_since || now - r->cut_since < 1000)) {
		if (!r->cut_since)
			r->cut_since = now;
		return;
	}
	char why[WSTORE_ERROR_MAX + 1];
	snprintf(why, sizeof(why), "self-fenced: lease expired without renewal; %s",
		 r->hold_seq ? "the scheduler is fencing this node" : agent_fence_verdict_text(v));
	r->self_fenced = true;
	r->kill_state = 0; /* no grace, the lease is a safety wall */
	agent_kill(a, r, RUN_FAILED, why, SIGKILL);
}

/* Timeouts, kill grace periods and leases; called from the tick. */
void agent_check_runs(struct agent *a)
{
	int64_t now = clock_mono_ms();
	struct agent_fence_view view;
	bool have_view = false;
	for (size_t i = 0; i < a->nruns; i++) {
		struct agent_run *r = &a->runs[i];
		if (r->draining) {
			/* Only processes that carry this run's environment count
			 * (zombies have none, and the group id may be reused once
			 * it is empty): kill them; none left, the run is over. */
			if (!exec_group_alive(r->drain_pgid) ||
			    kill_by_env(a, &r->w, r->drain_pgid, NULL) == 0)
				end_run(a, r, r->pend_state, r->pend_code, r->pend_sig, r->pend_error);
			continue;
		}
		if (r->w.phase != WRUN_RUNNING || !r->has_proc || r->exited)
			continue;
		if (r->term_sent && now - r->term_sent >= a->opt.kill_grace_ms) {
			exec_kill_group(r->proc.pid, SIGKILL);
			r->term_sent = now; /* repeat every grace period until reaped */
		}
		if (r->w.timeout_ms > 0 && now - r->started_mono >= r->w.timeout_ms && !r->kill_state) {
			char why[100];
			snprintf(why, sizeof(why), "timeout of %lld ms reached",
				 (long long)r->w.timeout_ms);
			agent_kill(a, r, RUN_TIMED_OUT, why, SIGTERM);
		}
		if (now > r->lease_until && !r->self_fenced && r->kill_state != RUN_LOST)
			lease_over(a, r, &view, &have_view);
	}
}

/* Find processes started for run w on this node by their environment
 * (used when workerd died between fork and recording the pid, or when the
 * group leader is gone but the group lives on).  Run ids and node names
 * repeat across clusters sharing a host, so the checkpoint path (log_dir
 * and task, as agent_spawn sets it) must match too; pgid > 0 also
 * requires that process group. */
static int kill_by_env(struct agent *a, const struct wrun *w, pid_t pgid, pid_t *pgid_out)
{
	size_t envcap = 16384;
	char *envbuf = malloc(envcap);
	if (!envbuf)
		return 0;
	char want_run[64], want_node[128], want_ckpt[WSTORE_PATH_MAX + 64];
	snprintf(want_run, sizeof(want_run), "SCHED_RUN_ID=%llu", (unsigned long long)w->run_id);
	snprintf(want_node, sizeof(want_node), "SCHED_NODE=%s", a->opt.name);
	snprintf(want_ckpt, sizeof(want_ckpt), "SCHED_CHECKPOINT_FILE=%s/%s/checkpoint",
		 a->opt.log_dir, w->task);
	DIR *d = opendir("/proc");
	if (!d) {
		free(envbuf);
		return 0;
	}
	int killed = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || (pgid > 0 && getpgid((pid_t)pid) != pgid))
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* The whole environment: shells reorder it, so our variables
		 * are not always first in the processes a task starts. */
		ssize_t n = 0, got;
		while ((got = read(fd, envbuf + n, envcap - 1 - (size_t)n)) > 0) {
			n += got;
			if ((size_t)n + 1 >= envcap) {
				char *nb = envcap < (1u << 24) ? realloc(envbuf, envcap * 2) : NULL;
				if (!nb)
					break;
				envbuf = nb;
				envcap *= 2;
			}
		}
		close(fd);
		if (n <= 0)
			continue;
		char *env = envbuf;
		bool run = false, node = false, ckpt = false;
		for (ssize_t off = 0; off < n; off += (ssize_t)strlen(env + off) + 1) {
			env[n] = '\0';
			run |= strcmp(env + off, want_run) == 0;
			node |= strcmp(env + off, want_node) == 0;
			ckpt |= strcmp(env + off, want_ckpt) == 0;
		}
		if (run && node && ckpt) {
			if (pgid_out && *pgid_out <= 0)
				*pgid_out = getpgid((pid_t)pid);
			kill((pid_t)pid, SIGKILL);
			killed++;
		}
	}
	closedir(d);
	free(envbuf);
	return killed;
}

static int reconcile_one(void *arg, const struct wrun *w)
{
	struct agent *a = arg;
	struct agent_run *r = agent_run_add(a, w);
	if (w->phase == WRUN_ENDED) {
		/* The end may have been recorded just before a crash that lost
		 * the final checkpoint's upload: ship the file again first. */
		if (w->started_ms > 0 && w->end_state != RUN_LOST)
			agent_ckpt_final(a, r, NULL, 0);
		agent_send_ended(a, r);
		return 0;
	}
	char why[WSTORE_ERROR_MAX + 1];
	int sig = 0;
	if (w->phase == WRUN_ACCEPTED) {
		pid_t found_pgid = 0;
		int n = kill_by_env(a, w, 0, &found_pgid);
		snprintf(why, sizeof(why),
			 "workerd restarted between accepting and recording the start; %s",
			 n ? "its processes were killed" : "whether the command ran is unknown");
		if (n && found_pgid > 1) {
			/* A process of the run holds that group: it is ours. */
			log_warnx("run %llu of %s: %s", (unsigned long long)w->run_id, w->task, why);
			end_when_gone(a, r, found_pgid, RUN_FAILED, -1, 0, why);
			return 0;
		}
	} else if (w->pid > 0 && exec_same_process(w->pid, w->proc_start)) {
		/* The leader is ours, so is its group: end once it is gone. */
		log_warnx("run %llu of %s: killing it, workerd restarted while it ran",
			  (unsigned long long)w->run_id, w->task);
		end_when_gone(a, r, w->pid, RUN_FAILED, -1, SIGKILL,
			      "killed: workerd restarted while the task ran");
		return 0;
	} else {
		/* The group leader ended while we were away, but the rest of its
		 * group (a background process) may live on; it must not overlap
		 * the task's next run.  The pgid alone could have been reused, so
		 * only processes of that group with the run's environment go. */
		int n = w->phase == WRUN_RUNNING && w->pid > 1 ? kill_by_env(a, w, w->pid, NULL) : 0;
		snprintf(why, sizeof(why),
			 "exit status unknown: the task ended while workerd was not running%s",
			 n ? "; processes it left behind were killed at the restart" : "");
		if (n) {
			/* Those processes hold the group: it cannot have been reused. */
			log_warnx("run %llu of %s: %s", (unsigned long long)w->run_id, w->task, why);
			end_when_gone(a, r, w->pid, RUN_FAILED, -1, 0, why);
			return 0;
		}
	}
	log_warnx("run %llu of %s: %s", (unsigned long long)w->run_id, w->task, why);
	end_run(a, r, RUN_FAILED, -1, sig, why);
	return 0;
}

/*
 * Delete per-run log files (LOG_DIR/TASK/RUN_ID.log) last written more
 * than log_retention ago; the run's tail stays in the scheduler's history.
 */
void agent_purge_logs(struct agent *a)
{
	DIR *top = opendir(a->opt.log_dir);
	if (!top)
		return;
	time_t cutoff = (time_t)((clock_wall_ms() - a->opt.log_retention_ms) / 1000);
	int removed = 0;
	struct dirent *t;
	while ((t = readdir(top))) {
		if (t->d_name[0] == '.')
			continue;
		char dir[512];
		snprintf(dir, sizeof(dir), "%s/%s", a->opt.log_dir, t->d_name);
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *f;
		while ((f = readdir(d))) {
			/* Only our own files, RUN_ID.log, and never a live run's. */
			char *end;
			unsigned long long id = strtoull(f->d_name, &end, 10);
			if (end == f->d_name || strcmp(end, ".log") != 0 || agent_run_find(a, id))
				continue;
			struct stat st;
			if (fstatat(dirfd(d), f->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode) && st.st_mtime < cutoff &&
			    unlinkat(dirfd(d), f->d_name, 0) == 0)
				removed++;
		}
		closedir(d);
	}
	closedir(top);
	if (removed)
		log_info("removed %d run log(s) older than the log retention", removed);
}

/* At start: end and report every run a previous life left unfinished. */
int agent_reconcile(struct agent *a) { return wstore_list_live(a->ws, reconcile_one, a); }
