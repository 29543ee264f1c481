/*
 * loop.c - epoll + timer heap + signalfd (see loop.h).
 *
 * Timers live in a min-heap keyed by their monotonic deadline.  A
 * cancelled timer is only marked; it is freed when it reaches the top,
 * which keeps cancellation O(1) and the heap free of back-pointers.
 * Descriptors are kept in a small array indexed by fd.
 */
#include "loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "clock.h"
#include "heap.h"
#include "log.h"

struct loop_timer {
	loop_timer_cb cb;
	void *arg;
	bool cancelled;
};

struct fd_watch {
	loop_fd_cb cb;
	void *arg;
	bool used;
};

struct loop {
	int epfd;
	bool stop;
	struct heap timers;
	struct fd_watch *fds;    /* indexed by fd */
	int nfds;
	int sigfd;
	loop_signal_cb sig_cb;
	void *sig_arg;
};

int loop_new(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int e = -errno;
		free(l);
		return e;
	}
	l->sigfd = -1;
	heap_init(&l->timers);
	*out = l;
	return 0;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	struct heap_item it;
	while (heap_pop(&l->timers, &it) == 0)
		free(it.data);
	heap_free(&l->timers);
	if (l->sigfd >= 0)
		close(l->sigfd);
	close(l->epfd);
	free(l->fds);
	free(l);
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
	if (fd < 0)
		return -EBADF;
	if (fd >= l->nfds) {
		int n = fd + 16;
		struct fd_watch *nf = realloc(l->fds, (size_t)n * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		memset(nf + l->nfds, 0, (size_t)(n - l->nfds) * sizeof(*nf));
		l->fds = nf;
		l->nfds = n;
	}
	struct epoll_event ev = {.events = events, .data.fd = fd};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->fds[fd] = (struct fd_watch){cb, arg, true};
	return 0;
}

int loop_del_fd(struct loop *l, int fd)
{
	if (fd < 0 || fd >= l->nfds || !l->fds[fd].used)
		return -ENOENT;
	l->fds[fd].used = false;
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
		return -errno;
	return 0;
}

int loop_add_timer(struct loop *l, int64_t delay_ms, loop_timer_cb cb, void *arg,
		   struct loop_timer **out)
{
	struct loop_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cb = cb;
	t->arg = arg;
	int rc = heap_push(&l->timers, clock_mono_ms() + (delay_ms > 0 ? delay_ms : 0), t);
	if (rc < 0) {
		free(t);
		return rc;
	}
	if (out)
		*out = t;
	return 0;
}

void loop_del_timer(struct loop *l, struct loop_timer *t)
{
	(void)l;
	if (t)
		t->cancelled = true;
}

static void on_signalfd(struct loop *l, int fd, uint32_t events, void *arg)
{
	(void)events;
	(void)arg;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		l->sig_cb(l, (int)si.ssi_signo, l->sig_arg);
}

int loop_watch_signals(struct loop *l, const sigset_t *set, loop_signal_cb cb, void *arg)
{
	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		return -errno;
	l->sigfd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->sigfd < 0)
		return -errno;
	l->sig_cb = cb;
	l->sig_arg = arg;
	return loop_add_fd(l, l->sigfd, EPOLLIN, on_signalfd, NULL);
}

/* Run every timer whose deadline has passed; return ms until the next
 * one (-1: none). */
static int run_timers(struct loop *l)
{
	for (;;) {
		const struct heap_item *top = heap_peek(&l->timers);
		if (!top)
			return -1;
		struct loop_timer *t = top->data;
		int64_t now = clock_mono_ms();
		if (!t->cancelled && top->key > now) {
			int64_t d = top->key - now;
			return d > 60000 ? 60000 : (int)d;
		}
		struct heap_item it;
		heap_pop(&l->timers, &it);
		if (t->cancelled) {
			free(t);
			continue;
		}
		int64_t next = t->cb(l, t->arg);
		if (next == LOOP_TIMER_STOP || t->cancelled || l->stop) {
			free(t);
		} else if (heap_push(&l->timers, clock_mono_ms() + (next > 0 ? next : 0), t) < 0) {
			log_warnx("loop: out of memory re-arming a timer");
			free(t);
		}
		if (l->stop)
			return 0;
	}
}

int loop_run(struct loop *l)
{
	l->stop = false;
	while (!l->stop) {
		int timeout = run_timers(l);
		if (l->stop)
			break;
		struct epoll_event evs[32];
		int n = epoll_wait(l->epfd, evs, 32, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !l->stop; i++) {
			int fd = evs[i].data.fd;
			if (fd < l->nfds && l->fds[fd].used)
				l->fds[fd].cb(l, fd, evs[i].events, l->fds[fd].arg);
		}
	}
	return 0;
}

void loop_stop(struct loop *l) { l->stop = true; }
