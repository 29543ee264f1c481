/*
 * sched_fence_hook.c - calling the fence hook (sched_fence.c has the
 * policy): one call per open request at a time, never blocking the loop.
 *
 * The hook runs as `HOOK NODE ADDRESS INCARNATION` in a process group of
 * its own (so a timeout kills whatever it started), stdin /dev/null,
 * stdout and stderr into one pipe that the loop reads (the end of it is
 * kept).  It ends when it exits; it is killed at fence_timeout.  Each
 * call is recorded (store_fence_attempt) with its output; exit 0 confirms
 * the request it was started for, and nothing else.
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

static void keep_output(struct sched_fence *f, const char *buf, size_t n)
{
	if (n >= sizeof(f->out) - 1) {
		buf += n - (sizeof(f->out) - 1);
		n = sizeof(f->out) - 1;
	}
	if (f->outlen + n > sizeof(f->out) - 1) {
		size_t drop = f->outlen + n - (sizeof(f->out) - 1);
		memmove(f->out, f->out + drop, f->outlen - drop);
		f->outlen -= drop;
	}
	memcpy(f->out + f->outlen, buf, n);
	f->outlen += n;
	f->out[f->outlen] = '\0';
}

static void on_output(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)events;
	struct sched *s = arg;
	struct sched_fence *f = NULL;
	for (size_t i = 0; i < s->nfences; i++)
		if (s->fences[i].out_fd == fd)
			f = &s->fences[i];
	char buf[1024];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n > 0) {
		if (f)
			keep_output(f, buf, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	loop_del_fd(l, fd); /* EOF: the hook (and all it started) closed it */
	close(fd);
	if (f)
		f->out_fd = -1;
	sched_fence_reap(s);
}

static int spawn(struct sched *s, struct sched_fence *f)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	char inc[32];
	snprintf(inc, sizeof(inc), "%llu", (unsigned long long)f->incarnation);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return -e;
	}
	if (pid == 0) {
		setpgid(0, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL); /* the loop blocks some */
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, 0); /* the copy on 0 is not close-on-exec */
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl(s->opt.fence_hook, s->opt.fence_hook, f->node, f->addr[0] ? f->addr : "-", inc,
		      (char *)NULL);
		dprintf(2, "cannot run %s: %s\n", s->opt.fence_hook, strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no race with a timeout kill */
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	if (loop_add_fd(s->loop, p[0], EPOLLIN, on_output, s) < 0) {
		close(p[0]);
		p[0] = -1;
	}
	f->pid = pid;
	f->out_fd = p[0];
	f->outlen = 0;
	f->out[0] = '\0';
	f->timed_out = false;
	f->started_ms = clock_wall_ms();
	f->deadline = clock_mono_ms() + s->opt.fence_timeout_ms;
	log_info("fence hook for %s: %s %s %s %s (attempt %d)", f->node, s->opt.fence_hook,
		 f->node, f->addr[0] ? f->addr : "-", inc, f->attempts + 1);
	return 0;
}

static int64_t backoff_ms(const struct sched *s, int attempts)
{
	int64_t b = 1000;
	for (int i = 1; i < attempts && b < s->opt.fence_backoff_max_ms; i++)
		b *= 2;
	return b < s->opt.fence_backoff_max_ms ? b : s->opt.fence_backoff_max_ms;
}

/* The hook call of f ended with wait status st (or timed out). */
static void finish(struct sched *s, struct sched_fence *f, int st)
{
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	bool ok = code == 0 && !f->timed_out;
	f->attempts++;
	int64_t now = clock_wall_ms();
	f->next_attempt_ms = ok ? 0 : now + backoff_ms(s, f->attempts);
	if (store_fence_attempt(s->store, f->request_id, f->started_ms, now, code, sig,
				f->timed_out, f->out, f->next_attempt_ms) < 0)
		log_warnx("fence hook for %s: could not record the attempt", f->node);
	/* Last line of output, for the log. */
	char *last = f->out;
	while (f->outlen && f->out[f->outlen - 1] == '\n')
		f->out[--f->outlen] = '\0';
	char *nl = strrchr(f->out, '\n');
	if (nl)
		last = nl + 1;
	if (ok) {
		struct store_fence_row row;
		char node[sizeof(f->node)];
		snprintf(node, sizeof(node), "%s", f->node);
		if (store_fence_open_for(s->store, node, &row) == 0 && row.id == f->request_id)
			sched_fence_confirm(s, node, "hook", NULL);
		return;
	}
	char why[64];
	if (f->timed_out)
		snprintf(why, sizeof(why), "timed out after %lld ms",
			 (long long)s->opt.fence_timeout_ms);
	else if (sig)
		snprintf(why, sizeof(why), "killed by signal %d", sig);
	else
		snprintf(why, sizeof(why), "exit %d", code);
	log_errorx("FENCE NOT CONFIRMED for %s (attempt %d): hook %s%s%s; its runs stay blocked; "
		   "next attempt in %lld ms, or: schedctl fence confirm %s",
		   f->node, f->attempts, why, last[0] ? ": " : "", last,
		   (long long)(f->next_attempt_ms - now), f->node);
}

/* Collect hooks that exited (SIGCHLD, EOF on their output, or the tick). */
void sched_fence_reap(struct sched *s)
{
	for (size_t i = 0; i < s->norphans;) {
		if (waitpid(s->orphan_hooks[i], NULL, WNOHANG) != 0)
			s->orphan_hooks[i] = s->orphan_hooks[--s->norphans];
		else
			i++;
	}
	for (size_t i = 0; i < s->nfences; i++) {
		struct sched_fence *f = &s->fences[i];
		int st;
		if (f->pid <= 0 || waitpid(f->pid, &st, WNOHANG) != f->pid)
			continue;
		kill(-f->pid, SIGKILL); /* whatever it left behind in its group */
		f->pid = 0;
		/* Drain what is left in the pipe before recording. */
		char buf[1024];
		ssize_t n;
		while (f->out_fd >= 0 && (n = read(f->out_fd, buf, sizeof(buf))) > 0)
			keep_output(f, buf, (size_t)n);
		if (f->out_fd >= 0) {
			loop_del_fd(s->loop, f->out_fd);
			close(f->out_fd);
			f->out_fd = -1;
		}
		finish(s, f, st);
		i = (size_t)-1; /* finish may have changed s->fences: start over */
	}
}

/*
 * Storm guard, first half: members that fail together are not declared
 * dead together (each waits for its own probe and suspicion), so the
 * first death of a storm would be fenced before the storm is seen.  A
 * first hook call therefore waits while another member is under
 * suspicion (it may be the next death), for at most the longest
 * suspicion timeout plus a probe period.  A lone failure has nobody
 * else suspected and is fenced at once.
 */
static bool storm_may_follow(struct sched *s, const struct sched_fence *f, int64_t mono)
{
	if (f->attempts || !s->gossip)
		return false;
	const struct swim *sw = gossip_swim(s->gossip);
	int64_t min_ms, max_ms;
	swim_suspicion_bounds(sw, &min_ms, &max_ms);
	if (mono - f->opened_mono > max_ms + s->opt.swim.probe_interval_ms)
		return false;
	for (size_t i = 0; i < swim_member_count(sw); i++) {
		const struct swim_member *m = swim_member_at(sw, i);
		if (m->state == SWIM_SUSPECT && strcmp(m->name, f->node) != 0)
			return true;
	}
	return false;
}

/* Start due hook calls and enforce timeouts; every loop tick. */
void sched_fence_tick(struct sched *s)
{
	int64_t now = clock_wall_ms(), mono = clock_mono_ms();
	sched_fence_reap(s);
	for (size_t i = 0; i < s->nfences; i++) {
		struct sched_fence *f = &s->fences[i];
		if (f->pid > 0) {
			if (mono >= f->deadline && !f->timed_out) {
				f->timed_out = true;
				kill(-f->pid, SIGKILL);
				log_warnx("fence hook for %s timed out; killed", f->node);
			}
			continue;
		}
		if (f->paused || !s->opt.fence_hook[0] || now < f->next_attempt_ms ||
		    storm_may_follow(s, f, mono))
			continue;
		int rc = spawn(s, f);
		if (rc < 0) {
			log_warnx("fence hook for %s: cannot start it: %s", f->node, strerror(-rc));
			f->next_attempt_ms = now + backoff_ms(s, ++f->attempts);
		}
	}
}
