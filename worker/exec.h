/*
 * exec.h - starting and watching a task process.
 *
 * A task runs as `/bin/sh -c COMMAND` in its own process group (its pid is
 * the group id), with stdin from /dev/null and stdout+stderr into a pipe
 * that workerd drains into the per-run log file up to a size cap, keeping
 * the last bytes as a tail for the result.  Killing always targets the
 * whole group.  No waiting happens here: the caller reaps children on
 * SIGCHLD with exec_reap().
 */
#ifndef SCHED_EXEC_H
#define SCHED_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EXEC_TAIL_MAX 4096

struct exec_spec {
	const char *command;     /* given to /bin/sh -c */
	char *const *env;        /* NULL-terminated "K=V" list: the whole environment */
	const char *log_path;    /* created/truncated, mode 0640 */
	int64_t log_cap;         /* bytes kept in the log file; 0: unlimited */
	const char *cwd;         /* NULL: inherit */
};

struct exec_proc {
	pid_t pid;               /* also the process group id */
	uint64_t proc_start;     /* starttime from /proc/PID/stat */
	int out_fd;              /* read end of the output pipe, O_NONBLOCK; -1 at EOF */
	int log_fd;              /* -1 if the log could not be opened */
	int64_t log_cap;
	int64_t logged;          /* output bytes written to the log (not the note) */
	int64_t dropped;         /* output bytes not written: past the cap, or no log */
	char tail[EXEC_TAIL_MAX];/* ring buffer of the last bytes */
	size_t tail_pos, tail_len;
};

/*
 * Fork and exec.  The child puts itself in a new process group, resets
 * signal dispositions and mask, and execs /bin/sh.  Returns 0 with *p
 * filled, or a negative errno (nothing is left running on failure).
 * A log that cannot be opened is not a failure (log_fd = -1).  When the
 * child cannot chdir or exec, it says why in its output and exits 127.
 */
int exec_start(const struct exec_spec *spec, struct exec_proc *p)
	__attribute__((warn_unused_result));

/*
 * Drain what the pipe holds now: append to the log (up to the cap; past it
 * count dropped bytes and write one truncation note) and to the tail.
 * Returns 0 while the pipe is open, 1 at EOF (out_fd closed), or -errno.
 * Reads at most 1 MiB per call, so a chatty task cannot hold the loop:
 * poll out_fd level-triggered.  A log write error closes the log (logged
 * with log_warn) and the rest counts as dropped; the run goes on.
 */
int exec_pump(struct exec_proc *p);

/* Copy the last at most len-1 bytes of output into buf, NUL-terminated,
 * starting at a line boundary when possible.  NUL and bytes that are not
 * valid UTF-8 become '?', so the result is safe text.  Returns bytes
 * copied. */
size_t exec_tail(const struct exec_proc *p, char *buf, size_t len);

/* Close descriptors of p (after exit and final pump). */
void exec_close(struct exec_proc *p);

/*
 * Non-blocking reap of any exited child: 0 and *pid, *status (waitpid
 * status) when one was reaped, -ECHILD/-EAGAIN when none is ready.
 */
int exec_reap(pid_t *pid, int *status);

/* Signal the whole group; 0 or -errno (-ESRCH: group gone; -EINVAL:
 * pgid <= 1, which kill() would take as our own group or everyone). */
int exec_kill_group(pid_t pgid, int sig);

/* Is any process of the group alive? */
bool exec_group_alive(pid_t pgid);

/* Read starttime (field 22) of /proc/PID/stat.  0 or -errno (-ESRCH: no
 * such process). */
int exec_proc_starttime(pid_t pid, uint64_t *out);

/*
 * Is pid still the process we started (alive and same starttime)?  Used
 * after a workerd restart so that a recycled pid is never killed.  A
 * zombie is not alive.
 */
bool exec_same_process(pid_t pid, uint64_t proc_start);

#endif
