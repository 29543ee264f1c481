/*
 * sched-interval.c - run a test task's command and record its execution
 * interval, for the fault lab's checker (tests/lab/check.py, CHECKER.md).
 *
 *   sched-interval LOG LOCKDIR -- CMD [ARGS...]
 *
 * A task whose command is wrapped in sched-interval leaves one record per
 * event in LOG, a file per host (the checker reads several):
 *
 *   START      the lock was taken; the execution begins
 *   END        CMD ended (exit status or signal); the lock is released next
 *   VIOLATION  the lock was held by another execution of the same task:
 *              an overlap, caught the moment it happens; CMD is not run
 *
 * One line = one record: the record's kind, then whitespace-separated
 * key=value fields (values percent-encoded, "-" for an unset variable).
 * Each line is a single write(2) on an O_APPEND descriptor, so writers on
 * one host never interleave.
 *
 * The lock is flock(LOCK_EX | LOCK_NB) on LOCKDIR/TASK.lock, a directory
 * every host shares.  The descriptor is inherited by CMD and everything it
 * forks, on purpose: a flock belongs to the open file description, so the
 * lock is free only once every process holding it has exited or closed it.
 * When sched-interval itself is SIGKILLed (no END line), a START that later
 * gets the lock proves that the killed execution's processes were all gone;
 * the checker bounds an interval without END by that START.
 *
 * Times are read with the clock_gettime system call, not the C library
 * (whose vDSO entry libfaketime replaces): CLOCK_MONOTONIC is shared by
 * every network namespace of the machine, so intervals from all hosts
 * compare; CLOCK_REALTIME is recorded for people and the report.
 *
 * Exit status: CMD's (a CMD killed by a signal is re-raised on this
 * process), 99 on a violation, 2 on usage errors, 125 when the log or the
 * lock cannot be used, 126/127 when CMD cannot be executed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_VIOLATION 99
#define EXIT_USAGE     2
#define EXIT_SETUP     125
#define LINE_MAX_LEN   4096
#define VALUE_MAX      256  /* bytes of one value kept before encoding */

/* The task's environment, as workerd sets it (DESIGN "External interface"). */
struct task_env {
	const char *task, *run, *token, *attempt, *node, *sched_for;
};

/* The running CMD, for the signal handler; 0 before fork and after wait. */
static volatile sig_atomic_t child_pid;

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
#define NFORWARDED ((int)(sizeof(forwarded) / sizeof(forwarded[0])))

static void forward(int sig)
{
	pid_t p = (pid_t)child_pid;
	if (p > 0)
		kill(p, sig);
}

static void die(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("sched-interval: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(status);
}

/* Nanoseconds of clock id, through the system call (see the top). */
static int64_t now_ns(clockid_t id)
{
	struct timespec ts;
	if (syscall(SYS_clock_gettime, id, &ts) != 0 && clock_gettime(id, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- records ---------------------------------------------------------- */

struct line {
	char buf[LINE_MAX_LEN];
	size_t len;
	int overflow;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (l->len + n >= sizeof(l->buf)) {
		l->overflow = 1;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/*
 * " key=value" with value percent-encoded: every byte that is not a
 * printable ASCII character other than '%' and '=' becomes %XX, so a value
 * can never split a field or a line.  NULL or "" is written as "-".
 */
static void field(struct line *l, const char *key, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	put(l, " ", 1);
	put(l, key, strlen(key));
	put(l, "=", 1);
	if (!value || !*value) {
		put(l, "-", 1);
		return;
	}
	size_t n = strnlen(value, VALUE_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c > ' ' && c < 0x7f && c != '%' && c != '=') {
			put(l, (const char *)&c, 1);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
			put(l, esc, 3);
		}
	}
}

static void field_i64(struct line *l, const char *key, int64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "%" PRId64, v);
	field(l, key, b);
}

static void begin(struct line *l, const char *kind, const struct task_env *e)
{
	l->len = 0;
	l->overflow = 0;
	put(l, kind, strlen(kind));
	field(l, "task", e->task);
	field(l, "run", e->run);
	field(l, "token", e->token);
	field(l, "node", e->node);
}

/* Append the line with one write(2); 0 or -errno.  The log is O_APPEND,
 * so the kernel puts the whole line at the end in one step. */
static int emit(int log_fd, struct line *l)
{
	if (l->overflow)
		return -EMSGSIZE; /* cannot happen: values are bounded */
	l->buf[l->len++] = '\n';
	for (;;) {
		ssize_t w = write(log_fd, l->buf, l->len);
		if (w == (ssize_t)l->len)
			return 0;
		if (w < 0 && errno == EINTR)
			continue;
		return w < 0 ? -errno : -EIO; /* a short write: disk full */
	}
}

/* "DEV:INO" of the lock file: the checker verifies that every execution of
 * a task locked the same file, else the lock excluded nothing. */
static void lock_identity(int fd, char *buf, size_t len)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
}

/* ---- the lock --------------------------------------------------------- */

/* Task names become file names: the scheduler's rule ([A-Za-z0-9_.-],
 * starting with a letter or digit, at most 63 bytes) keeps them inside
 * LOCKDIR. */
static int task_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
				  (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* Who holds the lock now, as its holder wrote it into the lock file (for
 * the VIOLATION record; it may be stale or partial, which is fine for a
 * diagnostic). */
static void read_holder(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

static void write_holder(int fd, const struct task_env *e, int64_t mono)
{
	char b[512];
	int n = snprintf(b, sizeof(b), "run=%s token=%s node=%s pid=%ld mono_ns=%" PRId64 "\n",
			 e->run ? e->run : "-", e->token ? e->token : "-", e->node ? e->node : "-",
			 (long)getpid(), mono);
	if (n < 0 || (size_t)n >= sizeof(b))
		return;
	if (ftruncate(fd, 0) == 0 && pwrite(fd, b, (size_t)n, 0) < 0)
		return; /* diagnostic only */
}

/* ---- main ------------------------------------------------------------- */

static void usage(void)
{
	fputs("usage: sched-interval LOG LOCKDIR -- CMD [ARGS...]\n"
	      "  Runs CMD under an exclusive flock on LOCKDIR/$SCHED_TASK.lock and appends\n"
	      "  START/END records (or VIOLATION, exit 99, when the lock is held) to LOG.\n",
	      stderr);
	exit(EXIT_USAGE);
}

static void getenv_all(struct task_env *e)
{
	e->task = getenv("SCHED_TASK");
	e->run = getenv("SCHED_RUN_ID");
	e->token = getenv("SCHED_FENCE_TOKEN");
	e->attempt = getenv("SCHED_ATTEMPT");
	e->node = getenv("SCHED_NODE");
	e->sched_for = getenv("SCHED_SCHEDULED_FOR");
}

/* Fork and exec CMD with the signals this process forwards blocked until
 * child_pid is set, so that a SIGTERM arriving around fork() is forwarded
 * rather than lost.  The child gets default dispositions back. */
static pid_t spawn(char **cmd)
{
	sigset_t block, old;
	sigemptyset(&block);
	for (int i = 0; i < NFORWARDED; i++)
		sigaddset(&block, forwarded[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < NFORWARDED; i++)
			signal(forwarded[i], SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(cmd[0], cmd);
		int err = errno;
		dprintf(2, "sched-interval: cannot execute %s: %s\n", cmd[0], strerror(err));
		_exit(err == ENOENT ? 127 : 126);
	}
	if (pid > 0)
		child_pid = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pid;
}

int main(int argc, char **argv)
{
	if (argc < 5 || strcmp(argv[3], "--") != 0)
		usage();
	const char *log_path = argv[1], *lockdir = argv[2];
	char **cmd = argv + 4;
	struct task_env e;
	getenv_all(&e);
	if (!e.task || !task_name_ok(e.task))
		die(EXIT_USAGE, "SCHED_TASK is %s; a task name is needed for the lock file",
		    e.task ? "not a valid task name" : "not set");

	int log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (log_fd < 0)
		die(EXIT_SETUP, "%s: %s", log_path, strerror(errno));
	char lock_path[PATH_MAX];
	if (snprintf(lock_path, sizeof(lock_path), "%s/%s.lock", lockdir, e.task) >=
	    (int)sizeof(lock_path))
		die(EXIT_SETUP, "%s: path too long", lockdir);
	/* Not close-on-exec: CMD and its children hold the lock too. */
	int lock_fd = open(lock_path, O_RDWR | O_CREAT, 0644);
	if (lock_fd < 0)
		die(EXIT_SETUP, "%s: %s", lock_path, strerror(errno));
	char lock_id[64], host[256] = "";
	lock_identity(lock_fd, lock_id, sizeof(lock_id));
	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';

	struct line l;
	int rc;
	while ((rc = flock(lock_fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
		;
	if (rc != 0) {
		if (errno != EWOULDBLOCK)
			die(EXIT_SETUP, "flock %s: %s", lock_path, strerror(errno));
		char holder[VALUE_MAX];
		read_holder(lock_fd, holder, sizeof(holder));
		begin(&l, "VIOLATION", &e);
		field(&l, "attempt", e.attempt);
		field(&l, "sched_for", e.sched_for);
		field_i64(&l, "pid", getpid());
		field(&l, "host", host);
		field(&l, "lock", lock_id);
		field_i64(&l, "mono_ns", now_ns(CLOCK_MONOTONIC));
		field_i64(&l, "real_ns", now_ns(CLOCK_REALTIME));
		field(&l, "holder", holder);
		if ((rc = emit(log_fd, &l)) < 0)
			fprintf(stderr, "sched-interval: %s: %s\n", log_path, strerror(-rc));
		fprintf(stderr, "sched-interval: VIOLATION: %s is held by another execution (%s)\n",
			lock_path, holder[0] ? holder : "holder unknown");
		return EXIT_VIOLATION;
	}

	int64_t start = now_ns(CLOCK_MONOTONIC);
	write_holder(lock_fd, &e, start);
	begin(&l, "START", &e);
	field(&l, "attempt", e.attempt);
	field(&l, "sched_for", e.sched_for);
	field_i64(&l, "pid", getpid());
	field(&l, "host", host);
	field(&l, "lock", lock_id);
	field_i64(&l, "mono_ns", start);
	field_i64(&l, "real_ns", now_ns(CLOCK_REALTIME));
	/* No START on record, no execution: refuse to run CMD unrecorded. */
	if ((rc = emit(log_fd, &l)) < 0)
		die(EXIT_SETUP, "%s: %s", log_path, strerror(-rc));

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < NFORWARDED; i++)
		sigaction(forwarded[i], &sa, NULL);

	pid_t pid = spawn(cmd);
	int status = 0;
	if (pid < 0) {
		fprintf(stderr, "sched-interval: fork: %s\n", strerror(errno));
		status = EXIT_SETUP << 8; /* as if CMD had exited 125 */
	} else {
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR) {
				fprintf(stderr, "sched-interval: waitpid: %s\n", strerror(errno));
				status = EXIT_SETUP << 8;
				break;
			}
		child_pid = 0;
	}

	/* END while the lock is still ours: the next START comes after it. */
	int64_t end = now_ns(CLOCK_MONOTONIC);
	char st[32];
	if (WIFSIGNALED(status))
		snprintf(st, sizeof(st), "signal:%d", WTERMSIG(status));
	else
		snprintf(st, sizeof(st), "exit:%d", WEXITSTATUS(status));
	begin(&l, "END", &e);
	field_i64(&l, "pid", getpid());
	field(&l, "status", st);
	field_i64(&l, "mono_ns", end);
	field_i64(&l, "real_ns", now_ns(CLOCK_REALTIME));
	field_i64(&l, "dur_ns", end - start);
	if ((rc = emit(log_fd, &l)) < 0)
		fprintf(stderr, "sched-interval: %s: %s\n", log_path, strerror(-rc));
	close(lock_fd);
	close(log_fd);

	if (WIFSIGNALED(status)) {
		/* End the way CMD ended, so workerd sees the same signal. */
		int sig = WTERMSIG(status);
		sigset_t s;
		signal(sig, SIG_DFL);
		sigemptyset(&s);
		sigaddset(&s, sig);
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		raise(sig);
		return 128 + sig;
	}
	return WEXITSTATUS(status);
}
