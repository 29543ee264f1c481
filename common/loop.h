/*
 * loop.h - the event loop every daemon runs: epoll for descriptors, a
 * timer heap on the monotonic clock, and signals delivered through a
 * signalfd so that handlers run in the loop, never asynchronously.
 * Single-threaded by design (DESIGN: no thread per worker or per run).
 */
#ifndef SCHED_LOOP_H
#define SCHED_LOOP_H

#include <signal.h>
#include <stdint.h>

struct loop;
struct loop_timer;

#define LOOP_TIMER_STOP (-1)

/* Called with the epoll events that fired. */
typedef void (*loop_fd_cb)(struct loop *l, int fd, uint32_t events, void *arg);
/* Return the delay in ms until the next call, or LOOP_TIMER_STOP; after
 * STOP the timer is freed and its handle must not be used again. */
typedef int64_t (*loop_timer_cb)(struct loop *l, void *arg);
typedef void (*loop_signal_cb)(struct loop *l, int signo, void *arg);

int loop_new(struct loop **out) __attribute__((warn_unused_result));
void loop_free(struct loop *l);

/* Watch fd for events (EPOLLIN...).  0 or -errno. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_del_fd(struct loop *l, int fd);

/* Call cb after delay_ms (>= 0).  *out (may be NULL) is the handle. */
int loop_add_timer(struct loop *l, int64_t delay_ms, loop_timer_cb cb, void *arg,
		   struct loop_timer **out);
/* Cancel a pending timer (must not be called after it returned STOP). */
void loop_del_timer(struct loop *l, struct loop_timer *t);

/*
 * Block the signals in *set for the whole process and deliver them to cb
 * through a signalfd.  Call once, before starting children (exec resets
 * the mask in children).
 */
int loop_watch_signals(struct loop *l, const sigset_t *set, loop_signal_cb cb, void *arg);

/* Run until loop_stop(); 0, or -errno if epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
