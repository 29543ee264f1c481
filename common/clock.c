/*
 * clock.c - real clocks plus the test seam of clock.h.
 */
#include "clock.h"

#include <stddef.h>
#include <time.h>

static const struct clock_fake *clock_fake_hooks;

void clock_set_fake(const struct clock_fake *fake) { clock_fake_hooks = fake; }

static int64_t read_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
	if (clock_fake_hooks && clock_fake_hooks->mono_ms)
		return clock_fake_hooks->mono_ms(clock_fake_hooks->arg);
	return read_ms(CLOCK_MONOTONIC);
}

int64_t clock_wall_ms(void)
{
	if (clock_fake_hooks && clock_fake_hooks->wall_ms)
		return clock_fake_hooks->wall_ms(clock_fake_hooks->arg);
	return read_ms(CLOCK_REALTIME);
}
