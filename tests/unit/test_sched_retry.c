/*
 * test_sched_retry.c - the retry backoff (sched_retry.c): exponential
 * from retry_backoff, capped at retry_backoff_max, equal jitter, with the
 * random source fixed by the test.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "sched.h"

#define LOW  0u
#define MID  (UINT32_MAX / 2 + 1)
#define HIGH UINT32_MAX

/* The lowest draw gives exactly half of d, the highest just under d. */
Test(sched_retry, equal_jitter_bounds)
{
	cr_assert_eq(sched_retry_backoff_ms(1000, 60000, 1, LOW), 500);
	cr_assert_eq(sched_retry_backoff_ms(1000, 60000, 1, MID), 750);
	int64_t hi = sched_retry_backoff_ms(1000, 60000, 1, HIGH);
	cr_assert(hi >= 999 && hi < 1000, "%lld", (long long)hi);
}

/* d doubles per failed attempt: 1s, 2s, 4s, 8s ... */
Test(sched_retry, doubles_per_attempt)
{
	for (int n = 1; n <= 6; n++) {
		int64_t d = 1000LL << (n - 1);
		cr_assert_eq(sched_retry_backoff_ms(1000, 3600000, n, LOW), d / 2, "attempt %d", n);
		cr_assert_eq(sched_retry_backoff_ms(1000, 3600000, n, MID), d / 2 + d / 4,
			     "attempt %d", n);
	}
	/* Whatever the draws, a later attempt never waits less than the
	 * lowest wait of the one before times two, until the cap. */
	for (int n = 1; n < 6; n++)
		cr_assert_geq(sched_retry_backoff_ms(1000, 3600000, n + 1, LOW),
			      sched_retry_backoff_ms(1000, 3600000, n, HIGH));
}

/* The cap holds for huge attempt numbers (no overflow) and an odd cap. */
Test(sched_retry, capped)
{
	cr_assert_eq(sched_retry_backoff_ms(1000, 5000, 3, LOW), 2000); /* d = 4s */
	cr_assert_eq(sched_retry_backoff_ms(1000, 5000, 4, LOW), 2500); /* d = 5s, not 8s */
	cr_assert_eq(sched_retry_backoff_ms(1000, 5000, 100, LOW), 2500);
	int64_t hi = sched_retry_backoff_ms(1000, 5000, 100, HIGH);
	cr_assert(hi >= 4999 && hi < 5000, "%lld", (long long)hi);
	int64_t big = INT64_MAX / 4;
	int64_t w = sched_retry_backoff_ms(big / 64, big, 1000, HIGH);
	cr_assert(w > big / 2 && w <= big, "%lld", (long long)w);
	/* The default cap, 32 x: attempt 6 is the first to reach it. */
	cr_assert_eq(sched_retry_backoff_ms(10000, 320000, 6, LOW), 160000);
	cr_assert_eq(sched_retry_backoff_ms(10000, 320000, 7, LOW), 160000);
}

/* No backoff configured, or a cap below the base. */
Test(sched_retry, degenerate)
{
	cr_assert_eq(sched_retry_backoff_ms(0, 0, 3, HIGH), 0);
	cr_assert_eq(sched_retry_backoff_ms(1000, 10, 1, LOW), 500);
	cr_assert_eq(sched_retry_backoff_ms(1000, 10, 9, LOW), 500);
	cr_assert_eq(sched_retry_backoff_ms(1, 1, 1, LOW), 1);
	cr_assert_eq(sched_retry_backoff_ms(1000, 60000, 0, LOW), 500);
}
