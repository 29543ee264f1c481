/*
 * exec.c - starting and watching a task process (see exec.h).
 *
 * The child side of exec_start() runs between fork() and execve() in a
 * copy of the daemon, so it only makes async-signal-safe calls and never
 * returns: every failure there writes one line into the output pipe (so
 * it ends up in the run's log and tail) and exits 127, as a shell does for
 * a command it cannot run.
 *
 * What the child must not inherit from workerd:
 *   - its process group: the task gets its own, so that a kill reaches
 *     every process the task forked (setpgid in both parent and child, so
 *     the group exists whichever runs first);
 *   - its signal state: workerd blocks SIGCHLD/SIGTERM/... for signalfd and
 *     may ignore SIGPIPE; a blocked or ignored disposition survives execve,
 *     and a task that ignores SIGTERM could not be stopped politely;
 *   - its descriptors: sockets, the database, other runs' pipes and logs.
 *     Everything above stderr is closed, whatever its close-on-exec flag.
 *
 * The parent side never blocks: the output pipe is non-blocking, exec_pump
 * drains what is there, and children are reaped by the caller on SIGCHLD.
 */
#include "exec.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Upper bound of bytes one exec_pump() call reads, so that a task writing
 * without pause cannot keep the event loop inside one call. */
#define PUMP_MAX_PER_CALL (1024 * 1024)

#define TRUNC_NOTE_FMT "\n[sched: log truncated at %" PRId64 " bytes]\n"

/* ---- child side (async-signal-safe only) ---- */

static void child_puts(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Report why the task could not start, into the task's own output. */
static _Noreturn void child_fail(int fd, const char *what, const char *arg, int err)
{
	child_puts(fd, "sched: ");
	child_puts(fd, what);
	if (arg) {
		child_puts(fd, " ");
		child_puts(fd, arg);
	}
	child_puts(fd, ": ");
	child_puts(fd, strerror(err));
	child_puts(fd, "\n");
	_exit(127);
}

/* Close every descriptor >= lowfd.  close_range(2) when the kernel has it
 * (5.9+); otherwise every number up to the descriptor limit. */
static void child_close_from(int lowfd)
{
	struct rlimit rl;
	long max = 65536;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
		return;
#endif
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		max = (long)rl.rlim_cur;
	for (long fd = lowfd; fd < max; fd++)
		close((int)fd);
}

static _Noreturn void child_run(const struct exec_spec *spec, int null_fd, int pipe_fd)
{
	static char *const empty_env[] = {NULL};
	struct sigaction sa;
	sigset_t none;
	char *argv[4];
	int in_fd, out_fd;

	if (setpgid(0, 0) < 0)
		child_fail(pipe_fd, "setpgid", NULL, errno);

	/* Defaults first, then unblock: a signal that was pending while
	 * blocked is then delivered with its default action. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL); /* EINVAL for KILL, STOP, libc's own */
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		child_fail(pipe_fd, "sigprocmask", NULL, errno);

	/* Lift both descriptors above 2 first, so that dup2 onto 0-2 cannot
	 * clobber one with the other when workerd runs with 0-2 closed. */
	out_fd = fcntl(pipe_fd, F_DUPFD_CLOEXEC, 3);
	if (out_fd < 0)
		child_fail(pipe_fd, "dup", NULL, errno);
	in_fd = fcntl(null_fd, F_DUPFD_CLOEXEC, 3);
	if (in_fd < 0)
		child_fail(out_fd, "dup", NULL, errno);
	if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(out_fd, STDERR_FILENO) < 0)
		child_fail(out_fd, "dup2", NULL, errno);
	child_close_from(3);

	if (spec->cwd && chdir(spec->cwd) < 0)
		child_fail(STDERR_FILENO, "chdir", spec->cwd, errno);

	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = (char *)spec->command;
	argv[3] = NULL;
	execve("/bin/sh", argv, spec->env ? spec->env : empty_env);
	child_fail(STDERR_FILENO, "exec", "/bin/sh", errno);
}

/* ---- parent side ---- */

int exec_start(const struct exec_spec *spec, struct exec_proc *p)
{
	int pipefd[2] = {-1, -1};
	int null_fd = -1, log_fd = -1, err, flags;
	pid_t pid;

	if (!spec->command || spec->log_cap < 0)
		return -EINVAL;

	if (spec->log_path) {
		log_fd = open(spec->log_path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0640);
		if (log_fd < 0)
			log_warn("exec: log %s", spec->log_path);
	}
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0) {
		err = -errno;
		goto err;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		err = -errno;
		goto err;
	}
	/* Only our end is non-blocking: the task sees an ordinary pipe. */
	flags = fcntl(pipefd[0], F_GETFL);
	if (flags < 0 || fcntl(pipefd[0], F_SETFL, flags | O_NONBLOCK) < 0) {
		err = -errno;
		goto err;
	}

	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto err;
	}
	if (pid == 0)
		child_run(spec, null_fd, pipefd[1]);

	/* EACCES when the child has already exec'd: it did it itself. */
	(void)setpgid(pid, pid);
	close(pipefd[1]);
	close(null_fd);

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->out_fd = pipefd[0];
	p->log_fd = log_fd;
	p->log_cap = spec->log_cap;
	err = exec_proc_starttime(pid, &p->proc_start);
	if (err < 0) {
		/* Without a starttime a restarted workerd could not tell this
		 * process from a recycled pid: do not run it at all. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		exec_close(p);
		return err;
	}
	return 0;

err:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (null_fd >= 0)
		close(null_fd);
	if (log_fd >= 0)
		close(log_fd);
	return err;
}

/* Write all of buf; *done says how much went out.  0 or -errno. */
static int write_all(int fd, const char *buf, size_t len, size_t *done)
{
	*done = 0;
	while (*done < len) {
		ssize_t w = write(fd, buf + *done, len - *done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		*done += (size_t)w;
	}
	return 0;
}

/* A log that fails to write (disk full, I/O error) is given up: the run
 * goes on, the rest of its output is counted as dropped. */
static void log_give_up(struct exec_proc *p, int err)
{
	errno = -err;
	log_warn("exec: pid %d: log write", (int)p->pid);
	close(p->log_fd);
	p->log_fd = -1;
}

static void log_append(struct exec_proc *p, const char *data, size_t n)
{
	size_t keep = n, done;
	int err;

	if (p->log_fd < 0) {
		p->dropped += (int64_t)n;
		return;
	}
	if (p->log_cap > 0 && (int64_t)n > p->log_cap - p->logged)
		keep = (size_t)(p->log_cap - p->logged);
	if (keep > 0) {
		err = write_all(p->log_fd, data, keep, &done);
		p->logged += (int64_t)done;
		if (err < 0) {
			p->dropped += (int64_t)(n - done);
			log_give_up(p, err);
			return;
		}
	}
	if (keep == n)
		return;
	/* While the log is open, bytes are only ever dropped at the cap, so
	 * dropped == 0 means this is the first overflow. */
	if (p->dropped == 0) {
		char note[80];
		int len = snprintf(note, sizeof(note), TRUNC_NOTE_FMT, p->log_cap);
		err = write_all(p->log_fd, note, (size_t)len, &done);
		if (err < 0)
			log_give_up(p, err);
	}
	p->dropped += (int64_t)(n - keep);
}

static void tail_append(struct exec_proc *p, const char *data, size_t n)
{
	size_t first;

	if (n > EXEC_TAIL_MAX) {
		data += n - EXEC_TAIL_MAX;
		n = EXEC_TAIL_MAX;
	}
	first = EXEC_TAIL_MAX - p->tail_pos;
	if (first > n)
		first = n;
	memcpy(p->tail + p->tail_pos, data, first);
	memcpy(p->tail, data + first, n - first);
	p->tail_pos = (p->tail_pos + n) % EXEC_TAIL_MAX;
	p->tail_len = p->tail_len + n > EXEC_TAIL_MAX ? EXEC_TAIL_MAX : p->tail_len + n;
}

int exec_pump(struct exec_proc *p)
{
	char buf[16384];
	size_t total = 0;

	if (p->out_fd < 0)
		return 1;
	while (total < PUMP_MAX_PER_CALL) {
		ssize_t n = read(p->out_fd, buf, sizeof(buf));
		if (n > 0) {
			log_append(p, buf, (size_t)n);
			tail_append(p, buf, (size_t)n);
			total += (size_t)n;
			continue;
		}
		if (n == 0) {
			close(p->out_fd);
			p->out_fd = -1;
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
	return 0;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when s starts with
 * NUL, an invalid byte, an overlong or surrogate form, or a sequence cut
 * by the end of the buffer. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t need;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c == 0xE0)
		need = 2, lo = 0xA0;
	else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
		need = 2;
	else if (c == 0xED)
		need = 2, hi = 0x9F;
	else if (c == 0xF0)
		need = 3, lo = 0x90;
	else if (c >= 0xF1 && c <= 0xF3)
		need = 3;
	else if (c == 0xF4)
		need = 3, hi = 0x8F;
	else
		return 0;
	if (n <= need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return need + 1;
}

/* Make buf safe to store and print as text: every byte that is not part
 * of a valid UTF-8 sequence, and every NUL, becomes '?'. */
static void text_sanitize(char *buf, size_t n)
{
	unsigned char *s = (unsigned char *)buf;
	size_t i = 0;

	while (i < n) {
		size_t l = utf8_len(s + i, n - i);
		if (l == 0) {
			s[i++] = '?';
			continue;
		}
		i += l;
	}
}

size_t exec_tail(const struct exec_proc *p, char *buf, size_t len)
{
	size_t n, start, first, skip = 0;

	if (len == 0)
		return 0;
	n = p->tail_len < len - 1 ? p->tail_len : len - 1;
	start = (p->tail_pos + EXEC_TAIL_MAX - n) % EXEC_TAIL_MAX;
	first = EXEC_TAIL_MAX - start;
	if (first > n)
		first = n;
	memcpy(buf, p->tail + start, first);
	memcpy(buf + first, p->tail, n - first);

	/* Every byte read is either logged or dropped, so this tells whether
	 * the copy starts in the middle of the output; the byte before it,
	 * when the ring still has it, whether that is mid-line. */
	if ((int64_t)n < p->logged + p->dropped &&
	    !(n < p->tail_len && p->tail[(start + EXEC_TAIL_MAX - 1) % EXEC_TAIL_MAX] == '\n')) {
		/* Start after a newline, unless that loses more than half. */
		char *nl = memchr(buf, '\n', n / 2);
		if (nl) {
			skip = (size_t)(nl - buf) + 1;
		} else {
			/* At least do not start inside a UTF-8 character. */
			while (skip < 3 && skip < n && ((unsigned char)buf[skip] & 0xC0) == 0x80)
				skip++;
		}
		memmove(buf, buf + skip, n - skip);
		n -= skip;
	}
	text_sanitize(buf, n);
	buf[n] = '\0';
	return n;
}

void exec_close(struct exec_proc *p)
{
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->log_fd >= 0)
		close(p->log_fd);
	p->out_fd = -1;
	p->log_fd = -1;
}

int exec_reap(pid_t *pid, int *status)
{
	pid_t r;

	do
		r = waitpid(-1, status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -EAGAIN;
	*pid = r;
	return 0;
}

int exec_kill_group(pid_t pgid, int sig)
{
	/* kill(0, ...) and kill(-1, ...) would hit workerd's own group or
	 * every process it may signal: never let a bad pid get there. */
	if (pgid <= 1)
		return -EINVAL;
	return kill(-pgid, sig) == 0 ? 0 : -errno;
}

bool exec_group_alive(pid_t pgid)
{
	if (pgid <= 1)
		return false;
	return kill(-pgid, 0) == 0 || errno == EPERM;
}

/*
 * Parse the text of /proc/PID/stat: "pid (comm) state ppid ...".  comm is
 * whatever the process named itself and may hold spaces and parentheses,
 * but nothing after it can hold ')', so the fields start after the last
 * one.  0 or -EINVAL.
 */
static int stat_parse(const char *text, char *state, uint64_t *starttime)
{
	const char *s = strrchr(text, ')');
	char *end;

	if (!s || s[1] != ' ' || !s[2])
		return -EINVAL;
	s += 2;
	*state = *s;
	/* Field 3 is the state; starttime is field 22, 19 fields further. */
	for (int field = 3; field < 22; field++) {
		s = strchr(s, ' ');
		if (!s)
			return -EINVAL;
		s++;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*starttime = strtoull(s, &end, 10);
	if (errno || (*end != ' ' && *end != '\n' && *end != '\0'))
		return -EINVAL;
	return 0;
}

static int proc_stat(pid_t pid, char *state, uint64_t *starttime)
{
	char path[64], buf[1024];
	size_t len = 0;
	int fd, err = 0;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* The process went away between open and read. */
			err = errno == ESRCH ? -ESRCH : -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	err = stat_parse(buf, state, starttime);
out:
	close(fd);
	return err;
}

int exec_proc_starttime(pid_t pid, uint64_t *out)
{
	char state;

	return proc_stat(pid, &state, out);
}

bool exec_same_process(pid_t pid, uint64_t proc_start)
{
	uint64_t start;
	char state;

	if (proc_stat(pid, &state, &start) < 0)
		return false;
	/* A zombie has its /proc entry until reaped, but runs nothing. */
	return start == proc_start && state != 'Z' && state != 'X';
}
