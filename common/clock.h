/*
 * clock.h - the only place that reads time.  Two clocks: monotonic for
 * timers, leases and timeouts (never jumps), wall for schedules and
 * history.  Tests install a fake so that time-dependent logic runs
 * deterministically without sleeping.
 */
#ifndef SCHED_CLOCK_H
#define SCHED_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC (shared by every process on the host). */
int64_t clock_mono_ms(void);
/* Milliseconds since the Unix epoch, UTC (CLOCK_REALTIME). */
int64_t clock_wall_ms(void);

/* Test seam: when set, both clocks read from the hooks instead. */
struct clock_fake {
	int64_t (*mono_ms)(void *arg);
	int64_t (*wall_ms)(void *arg);
	void *arg;
};
void clock_set_fake(const struct clock_fake *fake); /* NULL restores */

#endif
