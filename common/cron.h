/*
 * cron.h - schedule expressions and their next fire times.
 *
 * Three forms are accepted:
 *   - 5-field cron "MIN HOUR DOM MON DOW" as in crontab(5): lists (1,5),
 *     ranges (1-5), steps (10-40/5, or a star then /15), month names (jan..dec) and day
 *     names (sun..sat, 0 and 7 both Sunday), case-insensitive, and the
 *     crontab(5) rule that when both DOM and DOW are restricted (neither
 *     starts with '*') a day matches if EITHER matches;
 *   - "@hourly", "@daily" (= "@midnight"), "@weekly", "@monthly",
 *     "@yearly" (= "@annually"), expanded to their 5-field meaning;
 *   - "every DURATION" (e.g. "every 5s", "every 15m", "every 1h30m"):
 *     fires at every multiple of DURATION since the Unix epoch, so
 *     "every 15m" fires at :00, :15, :30, :45 whatever the start time.
 *     Time zones do not apply to "every".
 *
 * Cron forms are evaluated in a named time zone (IANA name, e.g.
 * "Europe/Berlin"; "UTC" by default).  Daylight-saving rule, chosen so
 * that a run is never doubled and never dropped:
 *   - a matching wall-clock time that occurs twice (clocks go back) fires
 *     once, at its first occurrence;
 *   - a matching wall-clock time that does not exist (clocks go forward)
 *     fires once, at the instant the gap ends; several skipped times
 *     collapse into that one fire.
 */
#ifndef SCHED_CRON_H
#define SCHED_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRON_TZ_MAX 64

struct cron_expr {
	bool every;             /* "every DURATION" form */
	int64_t every_s;        /* period in seconds when every */
	uint64_t minutes;       /* bit m set: minute m (0-59) matches */
	uint32_t hours;         /* bits 0-23 */
	uint32_t doms;          /* bits 1-31 */
	uint16_t months;        /* bits 1-12 */
	uint8_t dows;           /* bits 0-6, Sunday = 0 */
	bool dom_star;          /* DOM field started with '*' */
	bool dow_star;          /* DOW field started with '*' */
	char tz[CRON_TZ_MAX];   /* IANA zone name, "UTC" by default */
};

/*
 * Parse expr into *out with time zone tz (NULL or "" means "UTC").
 * Returns 0, or -EINVAL with a human-readable reason in err (e.g.
 * "minute field: 61 out of range 0-59", "unknown time zone 'Mars/Base'").
 */
int cron_parse(const char *expr, const char *tz, struct cron_expr *out,
	       char *err, size_t errlen);

/*
 * Parse a duration such as "5s", "15m", "1h30m", "2d", "500ms" into
 * milliseconds.  Units: ms, s, m, h, d; a bare number is seconds.
 * Returns 0, or -EINVAL with a reason in err.  The result is > 0.
 */
int cron_parse_duration_ms(const char *s, int64_t *out_ms, char *err, size_t errlen);

/*
 * The first fire time strictly after `after` (Unix seconds, UTC), in
 * Unix seconds.  Returns 0, or -ERANGE if none exists within ~8 years
 * (e.g. "0 0 31 2 *"; 8 so that Feb 29 is found across 2100, which is
 * not a leap year).
 */
int cron_next(const struct cron_expr *e, int64_t after, int64_t *out);

/* Format t (Unix seconds) as RFC 3339 in zone tz ("UTC" gives a 'Z'
 * suffix, else a numeric offset).  buf needs 32 bytes. */
int cron_format_time(int64_t t, const char *tz, char *buf, size_t len);

/* Parse RFC 3339 / "YYYY-MM-DD HH:MM[:SS]" (interpreted in tz when no
 * offset is given) or "now" into Unix seconds.  0 or -EINVAL. */
int cron_parse_time(const char *s, const char *tz, int64_t *out);

#endif
