/*
 * test_exec.c - worker/exec.c against real processes: exit status, output
 * to log and tail, the log cap, process groups, signal and descriptor
 * hygiene of the child, and /proc starttime parsing.
 *
 * Nothing sleeps for a fixed time: every wait polls for its condition and
 * gives up at a deadline, and each test has a Criterion timeout.
 */
#include "exec.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 8000

static char *const base_env[] = {"PATH=/usr/bin:/bin", NULL};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(void)
{
	struct timespec ts = {0, 5 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

static void start(struct exec_proc *p, const char *cmd, char *const *env,
		  const char *log_path, int64_t cap, const char *cwd)
{
	struct exec_spec spec = {
		.command = cmd, .env = env, .log_path = log_path, .log_cap = cap, .cwd = cwd,
	};
	int err = exec_start(&spec, p);
	cr_assert_eq(err, 0, "exec_start: %s", strerror(-err));
	cr_assert_gt(p->pid, 1);
	cr_assert_geq(p->out_fd, 0);
}

/* Reap children until `pid` is among them; others (orphans we adopted as
 * subreaper) are just collected.  false at the deadline. */
static bool reap_pid(pid_t pid, int *status, int64_t deadline)
{
	pid_t got;
	int st;

	while (now_ms() < deadline) {
		int err = exec_reap(&got, &st);
		if (err == 0 && got == pid) {
			*status = st;
			return true;
		}
		if (err == -EAGAIN)
			nap();
		else if (err != 0)
			return false;
	}
	return false;
}

/* Pump output until EOF and reap the child; returns its wait status. */
static int run_to_end(struct exec_proc *p)
{
	int64_t deadline = now_ms() + WAIT_MS;
	int r;

	while ((r = exec_pump(p)) == 0) {
		struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
		cr_assert_lt(now_ms(), deadline, "no EOF on the output pipe");
		poll(&pfd, 1, 50);
	}
	cr_assert_eq(r, 1, "exec_pump: %s", strerror(-r));
	cr_assert_eq(p->out_fd, -1);
	int status = 0;
	cr_assert(reap_pid(p->pid, &status, deadline), "child not reaped");
	return status;
}

static void run_cmd(struct exec_proc *p, const char *cmd, const char *log_path, int64_t cap,
		    int *status)
{
	start(p, cmd, base_env, log_path, cap, NULL);
	*status = run_to_end(p);
}

static void expect_exit(int status, int code)
{
	cr_assert(WIFEXITED(status), "status %#x is not an exit", status);
	cr_assert_eq(WEXITSTATUS(status), code);
}

static void expect_signal(int status, int sig)
{
	cr_assert(WIFSIGNALED(status), "status %#x is not a signal", status);
	cr_assert_eq(WTERMSIG(status), sig);
}

/* Whole file into buf (NUL-terminated); its size. */
static size_t slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return len;
}

static char tmpdir[64];

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/test_exec.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
			unlink(path);
		}
	}
	closedir(d);
	rmdir(tmpdir);
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* Wait until the process has exec'd into a program named comm. */
static void wait_comm(pid_t pid, const char *comm)
{
	int64_t deadline = now_ms() + WAIT_MS;
	char path[64], buf[64], want[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	snprintf(want, sizeof(want), "%s\n", comm);
	for (;;) {
		slurp(path, buf, sizeof(buf));
		if (strcmp(buf, want) == 0)
			return;
		cr_assert_lt(now_ms(), deadline, "comm is still %s", buf);
		nap();
	}
}

static void kill_and_reap(struct exec_proc *p, int *status)
{
	cr_assert_eq(exec_kill_group(p->pid, SIGKILL), 0);
	cr_assert(reap_pid(p->pid, status, now_ms() + WAIT_MS));
	exec_close(p);
}

TestSuite(exec, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 10);

Test(exec, exit_status_log_and_tail, .timeout = 10)
{
	struct exec_proc p;
	char log[256], buf[256], tail[64];
	int status;

	tmp_path(log, sizeof(log), "run.log");
	run_cmd(&p, "echo hi; echo err >&2; exit 3", log, 0, &status);
	expect_exit(status, 3);
	cr_assert_eq(slurp(log, buf, sizeof(buf)), 7);
	cr_assert_str_eq(buf, "hi\nerr\n");
	cr_assert_eq(exec_tail(&p, tail, sizeof(tail)), 7);
	cr_assert_str_eq(tail, "hi\nerr\n");
	cr_assert_eq(p.logged, 7);
	cr_assert_eq(p.dropped, 0);
	cr_assert_eq(exec_pump(&p), 1, "pump after EOF says EOF again");

	struct stat st;
	cr_assert_eq(stat(log, &st), 0);
	cr_assert_eq(st.st_mode & 0027, 0, "log mode %o is open to others", st.st_mode);
	exec_close(&p);
	cr_assert_eq(p.log_fd, -1);
}

Test(exec, environment_is_exactly_the_given_one, .timeout = 10)
{
	char *const env[] = {"PATH=/usr/bin:/bin", "SCHED_TASK=backup", NULL};
	struct exec_proc p;
	char tail[128];

	cr_assert_eq(setenv("EXEC_TEST_LEAK", "1", 1), 0);
	start(&p, "echo \"$SCHED_TASK|${EXEC_TEST_LEAK-unset}\"", env, NULL, 0, NULL);
	expect_exit(run_to_end(&p), 0);
	exec_tail(&p, tail, sizeof(tail));
	cr_assert_str_eq(tail, "backup|unset\n");
	exec_close(&p);
}

Test(exec, child_leads_its_own_group, .timeout = 10)
{
	struct exec_proc p;
	int status;

	start(&p, "exec sleep 30", base_env, NULL, 0, NULL);
	cr_assert_eq(getpgid(p.pid), p.pid);
	cr_assert_neq(getpgid(p.pid), getpgrp());
	cr_assert(exec_group_alive(p.pid));
	kill_and_reap(&p, &status);
	expect_signal(status, SIGKILL);
}

Test(exec, kill_group_reaches_grandchildren, .timeout = 10)
{
	struct exec_proc p;
	char tail[128];
	pid_t grandchild, got;
	int status = 0, st;
	bool reaped = false;

	/* Orphans come to us, so none lingers as a zombie of a PID 1 that
	 * never reaps (as in some containers) and keeps the group alive. */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	start(&p, "sleep 30 & echo $!; wait", base_env, NULL, 0, NULL);

	int64_t deadline = now_ms() + WAIT_MS;
	for (;;) {
		cr_assert_eq(exec_pump(&p), 0);
		exec_tail(&p, tail, sizeof(tail));
		if (strchr(tail, '\n'))
			break;
		cr_assert_lt(now_ms(), deadline, "no pid printed");
		struct pollfd pfd = {.fd = p.out_fd, .events = POLLIN};
		poll(&pfd, 1, 50);
	}
	grandchild = (pid_t)atoi(tail);
	cr_assert_gt(grandchild, 1, "bad pid in '%s'", tail);
	cr_assert_neq(grandchild, p.pid);
	cr_assert_eq(getpgid(grandchild), p.pid);

	cr_assert_eq(exec_kill_group(p.pid, SIGKILL), 0);
	deadline = now_ms() + WAIT_MS;
	while (!reaped || exec_group_alive(p.pid)) {
		cr_assert_lt(now_ms(), deadline, "group still alive");
		exec_pump(&p);
		int err = exec_reap(&got, &st);
		if (err == 0 && got == p.pid) {
			reaped = true;
			status = st;
		} else if (err != 0) {
			nap();
		}
	}
	expect_signal(status, SIGKILL);
	cr_assert_eq(kill(grandchild, 0), -1, "grandchild survived");
	cr_assert_eq(errno, ESRCH);
	cr_assert_eq(exec_kill_group(p.pid, SIGKILL), -ESRCH);
	exec_close(&p);
}

Test(exec, log_cap_truncates_with_one_note, .timeout = 10)
{
	static char buf[64 * 1024];
	struct exec_proc p;
	char log[256], note[80], line[128], tail[EXEC_TAIL_MAX];
	int status;

	/* 1024 distinct lines of 100 bytes: 102400 bytes. */
	tmp_path(log, sizeof(log), "big.log");
	run_cmd(&p, "i=0; while [ $i -lt 1024 ]; do printf '%099d\\n' $i; i=$((i+1)); done",
		log, 10240, &status);
	expect_exit(status, 0);
	snprintf(note, sizeof(note), "\n[sched: log truncated at 10240 bytes]\n");

	size_t len = slurp(log, buf, sizeof(buf));
	cr_assert_eq(len, 10240 + strlen(note));
	cr_assert_eq(p.logged, 10240);
	cr_assert_eq(p.dropped, 102400 - 10240);
	for (int i = 0; i < 102; i++) {
		snprintf(line, sizeof(line), "%099d\n", i);
		cr_assert_eq(memcmp(buf + i * 100, line, 100), 0, "line %d", i);
	}
	cr_assert_eq(memcmp(buf + 10200, line, 40), 0, "cut of line 102");
	cr_assert_str_eq(buf + 10240, note);

	/* The last 4095 bytes start inside line 983: the tail starts at 984. */
	cr_assert_eq(exec_tail(&p, tail, sizeof(tail)), 4000);
	snprintf(line, sizeof(line), "%099d\n", 984);
	cr_assert_eq(memcmp(tail, line, 100), 0);
	snprintf(line, sizeof(line), "%099d\n", 1023);
	cr_assert_str_eq(tail + 3900, line);
	exec_close(&p);
}

Test(exec, no_cap_logs_everything, .timeout = 10)
{
	static char buf[128 * 1024];
	struct exec_proc p;
	char log[256];
	int status;

	tmp_path(log, sizeof(log), "all.log");
	run_cmd(&p, "head -c 100000 /dev/zero", log, 0, &status);
	expect_exit(status, 0);
	cr_assert_eq(slurp(log, buf, sizeof(buf)), 100000);
	cr_assert_eq(p.logged, 100000);
	cr_assert_eq(p.dropped, 0);
	exec_close(&p);
}

Test(exec, tail_starts_at_a_line_boundary, .timeout = 10)
{
	struct exec_proc p;
	char tail[64];
	int status;

	run_cmd(&p, "printf 'line1\\nline2\\nline3\\n'", NULL, 0, &status);
	expect_exit(status, 0);
	/* Cut mid-line: skip to the next line. */
	cr_assert_eq(exec_tail(&p, tail, 12), 6);
	cr_assert_str_eq(tail, "line3\n");
	/* Cut exactly after a newline: nothing to skip. */
	cr_assert_eq(exec_tail(&p, tail, 13), 12);
	cr_assert_str_eq(tail, "line2\nline3\n");
	/* Everything fits: the first line is whole, keep it. */
	cr_assert_eq(exec_tail(&p, tail, sizeof(tail)), 18);
	cr_assert_str_eq(tail, "line1\nline2\nline3\n");
	cr_assert_eq(exec_tail(&p, tail, 1), 0);
	cr_assert_str_eq(tail, "");
	cr_assert_eq(exec_tail(&p, tail, 0), 0);
	exec_close(&p);

	/* A newline only late in the tail would lose too much: keep bytes. */
	run_cmd(&p, "printf 'abcdefgh\\nij'", NULL, 0, &status);
	cr_assert_eq(exec_tail(&p, tail, 8), 7);
	cr_assert_str_eq(tail, "efgh\nij");
	cr_assert_eq(exec_tail(&p, tail, 3), 2);
	cr_assert_str_eq(tail, "ij");
	exec_close(&p);

	/* A first line that is not newline-terminated is still the start. */
	run_cmd(&p, "printf 'xx\\nyyyyyyyy'", NULL, 0, &status);
	cr_assert_eq(exec_tail(&p, tail, sizeof(tail)), 11);
	cr_assert_str_eq(tail, "xx\nyyyyyyyy");
	exec_close(&p);
}

Test(exec, tail_is_safe_text, .timeout = 10)
{
	struct exec_proc p;
	char log[256], buf[64], tail[64];
	int status;

	/* NUL, a stray 0xff, a valid e-acute, a UTF-16 surrogate. */
	tmp_path(log, sizeof(log), "bin.log");
	run_cmd(&p, "printf 'a\\000b\\377c\\303\\251d\\355\\240\\200e\\n'", log, 0, &status);
	expect_exit(status, 0);
	cr_assert_eq(slurp(log, buf, sizeof(buf)), 13, "the log keeps raw bytes");
	cr_assert_eq(buf[1], '\0');
	cr_assert_eq(exec_tail(&p, tail, sizeof(tail)), 13);
	cr_assert_str_eq(tail, "a?b?c\303\251d???e\n");
	exec_close(&p);

	/* A cut inside a multibyte character skips its continuation. */
	run_cmd(&p, "printf 'xxxxxxxx\\303\\251abc'", NULL, 0, &status);
	cr_assert_eq(exec_tail(&p, tail, 5), 3);
	cr_assert_str_eq(tail, "abc");
	exec_close(&p);
}

Test(exec, unknown_command_exits_127, .timeout = 10)
{
	struct exec_proc p;
	int status;

	run_cmd(&p, "no-such-command-sched-test", NULL, 0, &status);
	expect_exit(status, 127);
	char tail[256];
	exec_tail(&p, tail, sizeof(tail));
	cr_assert_not_null(strstr(tail, "not found"), "tail: %s", tail);
	exec_close(&p);
}

Test(exec, cwd_is_applied_or_reported, .timeout = 10)
{
	struct exec_proc p;
	char missing[256], tail[512];

	start(&p, "pwd", base_env, NULL, 0, tmpdir);
	expect_exit(run_to_end(&p), 0);
	exec_tail(&p, tail, sizeof(tail));
	cr_assert_eq(strncmp(tail, tmpdir, strlen(tmpdir)), 0, "pwd says %s", tail);
	exec_close(&p);

	tmp_path(missing, sizeof(missing), "missing");
	start(&p, "echo ran", base_env, NULL, 0, missing);
	expect_exit(run_to_end(&p), 127);
	exec_tail(&p, tail, sizeof(tail));
	cr_assert_not_null(strstr(tail, "sched: chdir"), "tail: %s", tail);
	cr_assert_null(strstr(tail, "ran"));
	exec_close(&p);
}

Test(exec, unopenable_log_keeps_the_tail, .timeout = 10)
{
	struct exec_proc p;
	char log[256], tail[64];

	tmp_path(log, sizeof(log), "no/such/dir.log");
	start(&p, "echo still runs", base_env, log, 0, NULL);
	cr_assert_eq(p.log_fd, -1);
	expect_exit(run_to_end(&p), 0);
	exec_tail(&p, tail, sizeof(tail));
	cr_assert_str_eq(tail, "still runs\n");
	cr_assert_eq(p.logged, 0);
	cr_assert_eq(p.dropped, 11);
	exec_close(&p);
}

Test(exec, same_process_tracks_identity, .timeout = 10)
{
	struct exec_proc p;
	siginfo_t info;
	int status;

	start(&p, "exec sleep 30", base_env, NULL, 0, NULL);
	cr_assert_neq(p.proc_start, 0);
	cr_assert(exec_same_process(p.pid, p.proc_start));
	cr_assert_not(exec_same_process(p.pid, p.proc_start + 1));
	cr_assert_not(exec_same_process(0, p.proc_start));

	cr_assert_eq(exec_kill_group(p.pid, SIGKILL), 0);
	/* Wait for the exit without reaping: a zombie runs nothing. */
	cr_assert_eq(waitid(P_PID, (id_t)p.pid, &info, WEXITED | WNOWAIT), 0);
	cr_assert_eq(kill(p.pid, 0), 0, "still a zombie");
	cr_assert_not(exec_same_process(p.pid, p.proc_start));
	cr_assert(reap_pid(p.pid, &status, now_ms() + WAIT_MS));
	cr_assert_not(exec_same_process(p.pid, p.proc_start));
	exec_close(&p);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	ssize_t n;

	cr_assert(in >= 0 && out >= 0, "copy %s: %s", to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(write(out, buf, (size_t)n), n);
	cr_assert_eq(n, 0);
	close(in);
	close(out);
}

Test(exec, starttime_survives_parens_in_comm, .timeout = 10)
{
	struct exec_proc p;
	char prog[256], env_prog[300], path[64], stat[1024];
	uint64_t start_after;
	int status;

	tmp_path(prog, sizeof(prog), "a) (b");
	copy_file("/bin/sleep", prog, 0755);
	snprintf(env_prog, sizeof(env_prog), "PROG=%s", prog);
	char *const env[] = {"PATH=/usr/bin:/bin", env_prog, NULL};

	/* proc_start was read while comm was still ours. */
	start(&p, "exec \"$PROG\" 30", env, NULL, 0, NULL);
	wait_comm(p.pid, "a) (b");
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)p.pid);
	slurp(path, stat, sizeof(stat));
	cr_assert_not_null(strstr(stat, "(a) (b) "), "stat: %s", stat);

	cr_assert_eq(exec_proc_starttime(p.pid, &start_after), 0);
	cr_assert_eq(start_after, p.proc_start);
	cr_assert(exec_same_process(p.pid, p.proc_start));
	kill_and_reap(&p, &status);
	expect_signal(status, SIGKILL);
}

Test(exec, starttime_of_missing_process, .timeout = 10)
{
	char buf[32];
	uint64_t t = 0;

	/* pid_max itself is never a valid pid. */
	slurp("/proc/sys/kernel/pid_max", buf, sizeof(buf));
	pid_t pid_max = (pid_t)atoi(buf);
	cr_assert_gt(pid_max, 1);
	cr_assert_eq(exec_proc_starttime(pid_max, &t), -ESRCH);
	cr_assert_eq(exec_proc_starttime(0, &t), -EINVAL);
	cr_assert_eq(exec_proc_starttime(getpid(), &t), 0);
	cr_assert_gt(t, 0);
}

/* The SigBlk/SigIgn mask of pid from /proc/PID/status. */
static unsigned long long sig_mask(pid_t pid, const char *field)
{
	char path[64], buf[4096];
	const char *s;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	slurp(path, buf, sizeof(buf));
	s = strstr(buf, field);
	cr_assert_not_null(s, "%s missing", field);
	return strtoull(s + strlen(field), NULL, 16);
}

Test(exec, child_gets_default_signals, .timeout = 10)
{
	struct exec_proc p;
	sigset_t set;
	int status;

	/* As workerd does for signalfd, and worse: blocked and ignored. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);
	cr_assert_neq(signal(SIGTERM, SIG_IGN), SIG_ERR);
	cr_assert_neq(signal(SIGPIPE, SIG_IGN), SIG_ERR);

	start(&p, "exec sleep 30", base_env, NULL, 0, NULL);
	wait_comm(p.pid, "sleep");
	unsigned long long blk = sig_mask(p.pid, "SigBlk:"), ign = sig_mask(p.pid, "SigIgn:");
	/* Signals 32..SIGRTMIN-1 belong to libc (thread cancellation, setxid):
	 * sigaction() refuses to touch them, and some parents (make) leave
	 * them ignored.  Bit n-1 stands for signal n. */
	for (int sig = 32; sig < SIGRTMIN; sig++)
		ign &= ~(1ULL << (sig - 1));
	cr_assert_eq(blk, 0, "SigBlk %llx", blk);
	cr_assert_eq(ign, 0, "SigIgn %llx", ign);
	cr_assert_eq(exec_kill_group(p.pid, SIGTERM), 0);
	cr_assert(reap_pid(p.pid, &status, now_ms() + WAIT_MS), "SIGTERM did not stop it");
	expect_signal(status, SIGTERM);
	exec_close(&p);
}

Test(exec, no_descriptor_leaks_into_the_child, .timeout = 10)
{
	struct exec_proc p;
	char tail[256];
	int fd, fds[2];

	/* Inheritable descriptors: a file at 50, a pipe wherever. */
	fd = open("/dev/null", O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dup2(fd, 50), 50);
	cr_assert_eq(pipe(fds), 0);

	/* The shell's own descriptors, listed by a plain command: a pipeline
	 * would make the shell hold pipe ends for a moment. */
	start(&p, "[ -e /proc/$$/fd/50 ] && echo leak50; ls /proc/$$/fd; readlink /proc/$$/fd/0",
	      base_env, NULL, 0, NULL);
	expect_exit(run_to_end(&p), 0);
	exec_tail(&p, tail, sizeof(tail));
	cr_assert_str_eq(tail, "0\n1\n2\n/dev/null\n");
	exec_close(&p);
	close(fd);
	close(50);
	close(fds[0]);
	close(fds[1]);
}

Test(exec, reap_and_kill_edge_cases, .timeout = 10)
{
	struct exec_proc p;
	pid_t pid;
	int status;

	cr_assert_eq(exec_reap(&pid, &status), -ECHILD);
	start(&p, "exec sleep 30", base_env, NULL, 0, NULL);
	cr_assert_eq(exec_reap(&pid, &status), -EAGAIN);
	cr_assert_eq(exec_pump(&p), 0, "open pipe, nothing to read");
	/* 0 and 1 would mean our own group or every process. */
	cr_assert_eq(exec_kill_group(0, 0), -EINVAL);
	cr_assert_eq(exec_kill_group(1, 0), -EINVAL);
	cr_assert_not(exec_group_alive(0));
	kill_and_reap(&p, &status);
	expect_signal(status, SIGKILL);
	cr_assert_eq(exec_reap(&pid, &status), -ECHILD);

	struct exec_spec bad = {.command = NULL, .env = base_env};
	cr_assert_eq(exec_start(&bad, &p), -EINVAL);
}
