/*
 * test_loop.c - the event loop: timers by deadline (FIFO on ties),
 * repeating timers, LOOP_TIMER_STOP, loop_del_timer, descriptor callbacks
 * on a pipe, loop_stop, and signals delivered through the signalfd.
 *
 * Real delays are a few milliseconds at most.  Every loop also arms a
 * guard timer that stops it after a bound and marks the test failed, so a
 * broken loop fails rather than hangs (and .timeout bounds the rest).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "loop.h"

#define GUARD_MS 2000

struct rec {
	int order[64];
	int n;
	bool guard_fired;
};

static int64_t guard_cb(struct loop *l, void *arg)
{
	struct rec *r = arg;
	r->guard_fired = true;
	loop_stop(l);
	return LOOP_TIMER_STOP;
}

static struct loop *new_loop(struct rec *r)
{
	struct loop *l = NULL;
	cr_assert_eq(loop_new(&l), 0);
	cr_assert_not_null(l);
	cr_assert_eq(loop_add_timer(l, GUARD_MS, guard_cb, r, NULL), 0);
	return l;
}

static void run(struct loop *l, struct rec *r)
{
	cr_assert_eq(loop_run(l), 0);
	cr_assert_not(r->guard_fired, "the loop only stopped at the guard timer");
}

/* A one-shot timer that appends its tag. */
struct tag {
	struct rec *r;
	int id;
	bool stop; /* stop the loop after recording */
};

static int64_t tag_cb(struct loop *l, void *arg)
{
	struct tag *t = arg;
	if (t->r->n < 64)
		t->r->order[t->r->n++] = t->id;
	if (t->stop)
		loop_stop(l);
	return LOOP_TIMER_STOP;
}

Test(loop, new_and_free_empty, .timeout = 5)
{
	struct loop *l = NULL;
	cr_assert_eq(loop_new(&l), 0);
	cr_assert_not_null(l);
	loop_free(l);
	loop_free(NULL);
}

Test(loop, timers_fire_in_deadline_order, .timeout = 5)
{
	struct rec r = {0};
	struct loop *l = new_loop(&r);
	struct tag t[] = {{&r, 6, false}, {&r, 2, false}, {&r, 4, false},
			  {&r, 0, false}, {&r, 8, true}};
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(loop_add_timer(l, t[i].id, tag_cb, &t[i], NULL), 0);
	int64_t t0 = clock_mono_ms();
	run(l, &r);
	int64_t took = clock_mono_ms() - t0;
	cr_assert_eq(r.n, 5);
	int want[] = {0, 2, 4, 6, 8};
	for (int i = 0; i < 5; i++)
		cr_assert_eq(r.order[i], want[i], "fire %d was timer %d, want %d", i,
			     r.order[i], want[i]);
	cr_assert_geq(took, 8, "the 8 ms timer fired after %lld ms", (long long)took);
	loop_free(l);
}

/* With a frozen fake clock, every timer is due at once: the loop must
 * still run them by deadline, then FIFO among equal deadlines. */
static int64_t fake_now;
static int64_t fake_mono(void *arg)
{
	(void)arg;
	return fake_now;
}

Test(loop, due_timers_run_by_deadline_then_fifo, .timeout = 5)
{
	static const struct clock_fake fake = {.mono_ms = fake_mono};
	fake_now = 1000000;
	clock_set_fake(&fake);
	struct rec r = {0};
	struct loop *l = new_loop(&r);
	struct tag t[] = {{&r, 30, false}, {&r, 10, false}, {&r, 21, false},
			  {&r, 22, false}, {&r, 20, false}, {&r, 99, true}};
	int64_t delay[] = {30, 10, 20, 20, 15, 50};
	for (size_t i = 0; i < 6; i++)
		cr_assert_eq(loop_add_timer(l, delay[i], tag_cb, &t[i], NULL), 0);
	fake_now += 100; /* everything (but the guard) is overdue */
	run(l, &r);
	cr_assert_eq(r.n, 6);
	int want[] = {10, 20, 21, 22, 30, 99};
	for (int i = 0; i < 6; i++)
		cr_assert_eq(r.order[i], want[i], "fire %d was timer %d, want %d", i,
			     r.order[i], want[i]);
	loop_free(l);
	clock_set_fake(NULL);
}

/* Repeats every `interval` ms until it has run `limit` times. */
struct rep {
	int calls, limit;
	int64_t interval;
	int64_t last, min_gap;
	bool stop_loop_at_limit;
};

static int64_t rep_cb(struct loop *l, void *arg)
{
	struct rep *p = arg;
	int64_t now = clock_mono_ms();
	if (p->calls > 0 && now - p->last < p->min_gap)
		p->min_gap = now - p->last;
	p->last = now;
	if (++p->calls >= p->limit) {
		if (p->stop_loop_at_limit)
			loop_stop(l);
		return LOOP_TIMER_STOP;
	}
	return p->interval;
}

Test(loop, interval_repeats_and_stop_ends_it, .timeout = 5)
{
	struct rec r = {0};
	struct loop *l = new_loop(&r);
	struct rep a = {.limit = 3, .interval = 2, .min_gap = INT64_MAX};
	struct rep b = {.limit = 15, .interval = 1, .min_gap = INT64_MAX,
			.stop_loop_at_limit = true};
	cr_assert_eq(loop_add_timer(l, 0, rep_cb, &a, NULL), 0);
	cr_assert_eq(loop_add_timer(l, 0, rep_cb, &b, NULL), 0);
	run(l, &r);
	/* b ran ~15 ms: a would have run far more than 3 times had STOP not
	 * removed it */
	cr_assert_eq(a.calls, 3, "a ran %d times", a.calls);
	cr_assert_eq(b.calls, 15);
	cr_assert_geq(a.min_gap, 2, "a repeated after %lld ms, interval 2",
		      (long long)a.min_gap);
	cr_assert_geq(b.min_gap, 1);
	loop_free(l);
}

Test(loop, del_timer_before_run_cancels, .timeout = 5)
{
	struct rec r = {0};
	struct loop *l = new_loop(&r);
	struct tag x = {&r, 1, false}, y = {&r, 2, true};
	struct loop_timer *h = NULL;
	cr_assert_eq(loop_add_timer(l, 1, tag_cb, &x, &h), 0);
	cr_assert_not_null(h);
	cr_assert_eq(loop_add_timer(l, 3, tag_cb, &y, NULL), 0);
	loop_del_timer(l, h);
	run(l, &r);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.order[0], 2, "the cancelled timer fired");
	loop_free(l);
}

struct canceller {
	struct loop_timer *victim;
	int calls;
};

static int64_t cancel_cb(struct loop *l, void *arg)
{
	struct canceller *c = arg;
	c->calls++;
	loop_del_timer(l, c->victim);
	return LOOP_TIMER_STOP;
}

Test(loop, del_timer_from_a_callback_cancels_a_repeating_timer, .timeout = 5)
{
	struct rec r = {0};
	struct loop *l = new_loop(&r);
	struct rep p = {.limit = 1000, .interval = 1, .min_gap = INT64_MAX};
	struct canceller c = {0};
	struct tag end = {&r, 9, true};
	cr_assert_eq(loop_add_timer(l, 0, rep_cb, &p, &c.victim), 0);
	cr_assert_eq(loop_add_timer(l, 3, cancel_cb, &c, NULL), 0);
	cr_assert_eq(loop_add_timer(l, 10, tag_cb, &end, NULL), 0);
	run(l, &r);
	cr_assert_eq(c.calls, 1);
	cr_assert_geq(p.calls, 1);
	/* ~3 ms of 1 ms repeats before the cancel; 10 ms would give ~10 */
	cr_assert_leq(p.calls, 5, "cancelled timer kept running (%d calls)", p.calls);
	cr_assert_eq(r.n, 1);
	loop_free(l);
}

/* A timer that cancels itself and still returns an interval must not
 * be re-armed. */
struct self {
	struct loop_timer *me;
	int calls;
};

static int64_t self_cancel_cb(struct loop *l, void *arg)
{
	struct self *s = arg;
	s->calls++;
	loop_del_timer(l, s->me);
	return 1;
}

Test(loop, timer_cancelling_itself_is_not_rearmed, .timeout = 5)
{
	struct rec r = {0};
	struct loop *l = new_loop(&r);
	struct self s = {0};
	struct tag end = {&r, 1, true};
	cr_assert_eq(loop_add_timer(l, 0, self_cancel_cb, &s, &s.me), 0);
	cr_assert_eq(loop_add_timer(l, 8, tag_cb, &end, NULL), 0);
	run(l, &r);
	cr_assert_eq(s.calls, 1, "self-cancelled timer ran %d times", s.calls);
	loop_free(l);
}

/* Descriptors: a pipe whose read end is watched. */
struct piper {
	int rfd, wfd;
	int calls;
	uint32_t events;
	char got[16];
	size_t len;
};

static void pipe_read_cb(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct piper *p = arg;
	cr_assert_eq(fd, p->rfd);
	p->calls++;
	p->events |= events;
	ssize_t n = read(fd, p->got + p->len, sizeof(p->got) - 1 - p->len);
	if (n > 0)
		p->len += (size_t)n;
	loop_stop(l);
}

static int64_t pipe_write_cb(struct loop *l, void *arg)
{
	(void)l;
	struct piper *p = arg;
	cr_assert_eq(write(p->wfd, "ping", 4), 4);
	return LOOP_TIMER_STOP;
}

Test(loop, fd_callback_on_a_pipe, .timeout = 5)
{
	struct rec r = {0};
	struct loop *l = new_loop(&r);
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	struct piper p = {.rfd = fds[0], .wfd = fds[1]};
	cr_assert_eq(loop_add_fd(l, p.rfd, EPOLLIN, pipe_read_cb, &p), 0);
	cr_assert_eq(loop_add_timer(l, 1, pipe_write_cb, &p, NULL), 0);
	run(l, &r);
	cr_assert_eq(p.calls, 1);
	cr_assert(p.events & EPOLLIN, "events 0x%x", p.events);
	cr_assert_str_eq(p.got, "ping");

	/* adding the same fd twice fails; deleting it stops callbacks */
	cr_assert_lt(loop_add_fd(l, p.rfd, EPOLLIN, pipe_read_cb, &p), 0);
	cr_assert_eq(loop_del_fd(l, p.rfd), 0);
	cr_assert_eq(loop_del_fd(l, p.rfd), -ENOENT);
	cr_assert_eq(write(p.wfd, "x", 1), 1);
	struct tag end = {&r, 1, true};
	cr_assert_eq(loop_add_timer(l, 5, tag_cb, &end, NULL), 0);
	run(l, &r);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(p.calls, 1, "callback ran after loop_del_fd");
	loop_free(l);
	close(fds[0]);
	close(fds[1]);
}

Test(loop, fd_errors, .timeout = 5)
{
	struct loop *l = NULL;
	cr_assert_eq(loop_new(&l), 0);
	struct piper p = {0};
	cr_assert_eq(loop_add_fd(l, -1, EPOLLIN, pipe_read_cb, &p), -EBADF);
	cr_assert_eq(loop_del_fd(l, -1), -ENOENT);
	cr_assert_eq(loop_del_fd(l, 5), -ENOENT);
	cr_assert_eq(loop_del_fd(l, 100000), -ENOENT);
	/* a descriptor that is not open */
	cr_assert_eq(loop_add_fd(l, 1000, EPOLLIN, pipe_read_cb, &p), -EBADF);
	loop_free(l);
}

/* loop_stop from a timer: loop_run returns 0 right away, later timers do
 * not run, and a second loop_run resumes with them. */
Test(loop, stop_returns_and_run_resumes, .timeout = 5)
{
	struct rec r = {0};
	struct loop *l = new_loop(&r);
	struct tag a = {&r, 1, true}, b = {&r, 2, true};
	cr_assert_eq(loop_add_timer(l, 0, tag_cb, &a, NULL), 0);
	cr_assert_eq(loop_add_timer(l, 0, tag_cb, &b, NULL), 0);
	run(l, &r);
	cr_assert_eq(r.n, 1, "a timer ran after loop_stop");
	cr_assert_eq(r.order[0], 1);
	run(l, &r);
	cr_assert_eq(r.n, 2);
	cr_assert_eq(r.order[1], 2);
	loop_free(l);
}

/* Signals: blocked for the process, read from the signalfd in the loop. */
struct sigrec {
	int signos[8];
	int n;
	int stop_after;
};

static void sig_cb(struct loop *l, int signo, void *arg)
{
	struct sigrec *s = arg;
	if (s->n < 8)
		s->signos[s->n++] = signo;
	if (s->n >= s->stop_after)
		loop_stop(l);
}

Test(loop, signals_are_delivered_in_the_loop, .timeout = 5)
{
	struct rec r = {0};
	struct loop *l = new_loop(&r);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	struct sigrec s = {.stop_after = 2};
	cr_assert_eq(loop_watch_signals(l, &set, sig_cb, &s), 0);

	/* now blocked: raising must not kill the process */
	sigset_t cur;
	cr_assert_eq(sigprocmask(SIG_BLOCK, NULL, &cur), 0);
	cr_assert(sigismember(&cur, SIGUSR1));
	cr_assert_eq(raise(SIGUSR1), 0);
	cr_assert_eq(raise(SIGUSR2), 0);
	cr_assert_eq(s.n, 0, "handler ran outside the loop");
	run(l, &r);
	cr_assert_eq(s.n, 2);
	bool u1 = false, u2 = false;
	for (int i = 0; i < s.n; i++) {
		u1 |= s.signos[i] == SIGUSR1;
		u2 |= s.signos[i] == SIGUSR2;
	}
	cr_assert(u1 && u2, "got signals %d, %d", s.signos[0], s.signos[1]);
	loop_free(l);
}

static int64_t raise_cb(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
	raise(SIGUSR1);
	return LOOP_TIMER_STOP;
}

Test(loop, signal_raised_while_running, .timeout = 5)
{
	struct rec r = {0};
	struct loop *l = new_loop(&r);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	struct sigrec s = {.stop_after = 1};
	cr_assert_eq(loop_watch_signals(l, &set, sig_cb, &s), 0);
	cr_assert_eq(loop_add_timer(l, 1, raise_cb, NULL, NULL), 0);
	run(l, &r);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.signos[0], SIGUSR1);
	loop_free(l);
}
