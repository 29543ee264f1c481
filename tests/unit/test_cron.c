/*
 * test_cron.c - unit tests for common/cron.c: parsing, next fire times
 * (calendar edges, the DOM/DOW rule, daylight-saving transitions),
 * durations and RFC 3339 times.
 *
 * Expected instants are written as UTC strings and converted with the C
 * library's timegm(), never with cron.c itself, so a bug in the code under
 * test cannot also produce the expected value.  DST rows were checked with
 * `TZ=Europe/Berlin date -d @...`.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "cron.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAXSEQ 10

/* "YYYY-MM-DDTHH:MM:SSZ" or "YYYY-MM-DD" (UTC) -> Unix seconds. */
static int64_t utc(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	int n = sscanf(s, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		       &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
	cr_assert(n == 6 || (n == 3 && strlen(s) == 10), "bad test time '%s'", s);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* Unix seconds -> UTC string for messages (libc, not cron.c). */
static const char *show(int64_t t, char buf[static 32])
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, 32, "@%lld", (long long)t);
	return buf;
}

/*
 * A row: parse expr in tz, then next(from) must be want[0],
 * next(want[0]) must be want[1], and so on.
 */
struct next_row {
	const char *expr, *tz, *from;
	const char *want[MAXSEQ];
};

static void check_next(const char *table, const struct next_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct next_row *r = &rows[i];
		struct cron_expr e;
		char err[128] = "", b1[32], b2[32];
		int rc = cron_parse(r->expr, r->tz, &e, err, sizeof err);
		cr_assert_eq(rc, 0, "%s row %zu '%s': parse failed: %s", table, i, r->expr, err);
		int64_t t = utc(r->from);
		for (int j = 0; j < MAXSEQ && r->want[j]; j++) {
			int64_t got = 0, want = utc(r->want[j]);
			rc = cron_next(&e, t, &got);
			cr_expect_eq(rc, 0, "%s row %zu '%s' [%s] step %d: rc %d", table, i, r->expr,
				     r->tz ? r->tz : "UTC", j, rc);
			cr_expect_eq(got, want, "%s row %zu '%s' [%s] after %s: got %s, want %s",
				     table, i, r->expr, r->tz ? r->tz : "UTC", show(t, b1),
				     show(got, b2), r->want[j]);
			t = want;
		}
	}
}

Test(cron_next, every)
{
	static const struct next_row rows[] = {
		{"every 5s", NULL, "2026-01-01T00:00:03Z",
		 {"2026-01-01T00:00:05Z", "2026-01-01T00:00:10Z", "2026-01-01T00:00:15Z"}},
		{"every 15m", "Europe/Berlin", "2026-01-01T10:07:00Z",
		 {"2026-01-01T10:15:00Z", "2026-01-01T10:30:00Z", "2026-01-01T10:45:00Z",
		  "2026-01-01T11:00:00Z"}},
		{"every 15m", NULL, "2026-01-01T10:15:00Z", {"2026-01-01T10:30:00Z"}},
		{"every 1h30m", NULL, "1970-01-01T00:00:00Z",
		 {"1970-01-01T01:30:00Z", "1970-01-01T03:00:00Z"}},
		{"every 1h", NULL, "1969-12-31T22:30:00Z",
		 {"1969-12-31T23:00:00Z", "1970-01-01T00:00:00Z", "1970-01-01T01:00:00Z"}},
		{"every 7s", NULL, "1969-12-31T23:59:52Z",
		 {"1969-12-31T23:59:53Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:07Z"}},
		{"every 1d", "Europe/Berlin", "2026-03-29T12:00:00Z", {"2026-03-30T00:00:00Z"}},
		{"EVERY 2000ms", NULL, "2026-01-01T00:00:01Z", {"2026-01-01T00:00:02Z"}},
	};
	check_next("every", rows, NELEM(rows));
}

Test(cron_next, month_ends_and_leap_years)
{
	static const struct next_row rows[] = {
		{"0 0 31 * *", NULL, "2026-01-31T00:00:00Z",
		 {"2026-03-31", "2026-05-31", "2026-07-31", "2026-08-31", "2026-10-31",
		  "2026-12-31", "2027-01-31"}},
		{"0 12 30 * *", NULL, "2026-01-30T12:00:00Z",
		 {"2026-03-30T12:00:00Z", "2026-04-30T12:00:00Z"}},
		{"0 0 29 2 *", NULL, "2026-01-01", {"2028-02-29", "2032-02-29", "2036-02-29"}},
		{"0 0 29 2 *", NULL, "2028-02-28T23:59:59Z", {"2028-02-29"}},
		/* 2100 is not a leap year: seven years to wait */
		{"0 0 29 2 *", NULL, "2097-01-01", {"2104-02-29"}},
		{"0 0 * 2 *", NULL, "2027-02-27", {"2027-02-28", "2028-02-01"}},
		{"0 0 * 2 *", NULL, "2028-02-28", {"2028-02-29", "2029-02-01"}},
		{"59 23 31 12 *", NULL, "2026-06-01",
		 {"2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"}},
	};
	check_next("month_ends", rows, NELEM(rows));
}

Test(cron_next, dom_dow_rule)
{
	static const struct next_row rows[] = {
		/* both restricted: the 13th OR a Friday (2026-04-13 is a Monday) */
		{"0 0 13 * fri", NULL, "2026-04-01",
		 {"2026-04-03", "2026-04-10", "2026-04-13", "2026-04-17", "2026-04-24",
		  "2026-05-01", "2026-05-08", "2026-05-13", "2026-05-15"}},
		{"0 0 * * fri", NULL, "2026-04-01", {"2026-04-03", "2026-04-10", "2026-04-17"}},
		{"0 0 13 * *", NULL, "2026-04-01", {"2026-04-13", "2026-05-13", "2026-06-13"}},
		/* DOM starts with '*': both must match (odd days that are Mondays) */
		{"0 0 */2 * mon", NULL, "2026-02-01", {"2026-02-09", "2026-02-23", "2026-03-09"}},
	};
	check_next("dom_dow", rows, NELEM(rows));
}

Test(cron_next, names_ranges_steps)
{
	static const struct next_row rows[] = {
		{"0 9 * * mon-fri", NULL, "2026-01-02T09:00:00Z", /* a Friday */
		 {"2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"}},
		{"0 9 * * SAT,Sun", NULL, "2026-01-02T09:00:00Z",
		 {"2026-01-03T09:00:00Z", "2026-01-04T09:00:00Z", "2026-01-10T09:00:00Z"}},
		{"0 0 1 jan,jul *", NULL, "2026-01-01", {"2026-07-01", "2027-01-01", "2027-07-01"}},
		{"0 0 1 JUN-aug *", NULL, "2026-01-01",
		 {"2026-06-01", "2026-07-01", "2026-08-01", "2027-06-01"}},
		{"0 0 * * 7", NULL, "2026-01-01", {"2026-01-04", "2026-01-11"}},
		{"0 0 * * fri-sun", NULL, "2026-01-01",
		 {"2026-01-02", "2026-01-03", "2026-01-04", "2026-01-09"}},
		{"0 0 * * 5-7", NULL, "2026-01-01",
		 {"2026-01-02", "2026-01-03", "2026-01-04", "2026-01-09"}},
		{"*/15 * * * *", NULL, "2026-01-01T10:07:00Z",
		 {"2026-01-01T10:15:00Z", "2026-01-01T10:30:00Z", "2026-01-01T10:45:00Z",
		  "2026-01-01T11:00:00Z"}},
		{"10-40/10 * * * *", NULL, "2026-01-01T10:00:00Z",
		 {"2026-01-01T10:10:00Z", "2026-01-01T10:20:00Z", "2026-01-01T10:30:00Z",
		  "2026-01-01T10:40:00Z", "2026-01-01T11:10:00Z"}},
		{"5/20 * * * *", NULL, "2026-01-01T10:00:00Z",
		 {"2026-01-01T10:05:00Z", "2026-01-01T10:25:00Z", "2026-01-01T10:45:00Z",
		  "2026-01-01T11:05:00Z"}},
		{"0 */6 * * *", NULL, "2026-01-01T05:59:59Z",
		 {"2026-01-01T06:00:00Z", "2026-01-01T12:00:00Z", "2026-01-01T18:00:00Z",
		  "2026-01-02T00:00:00Z"}},
		{"30 8-17/3 * * *", NULL, "2026-01-01",
		 {"2026-01-01T08:30:00Z", "2026-01-01T11:30:00Z", "2026-01-01T14:30:00Z",
		  "2026-01-01T17:30:00Z", "2026-01-02T08:30:00Z"}},
		{"* * * * *", NULL, "2026-01-01T00:00:30Z",
		 {"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"}},
		{"0 0 1-31/10 * *", NULL, "2026-01-01",
		 {"2026-01-11", "2026-01-21", "2026-01-31", "2026-02-01"}},
		{"0,30 9,17 * * *", NULL, "2026-01-01",
		 {"2026-01-01T09:00:00Z", "2026-01-01T09:30:00Z", "2026-01-01T17:00:00Z",
		  "2026-01-01T17:30:00Z", "2026-01-02T09:00:00Z"}},
	};
	check_next("names_ranges_steps", rows, NELEM(rows));
}

Test(cron_next, macros)
{
	static const struct next_row rows[] = {
		{"@hourly", NULL, "2026-01-01T10:30:00Z",
		 {"2026-01-01T11:00:00Z", "2026-01-01T12:00:00Z"}},
		{"@daily", NULL, "2026-01-01", {"2026-01-02", "2026-01-03"}},
		{"@midnight", NULL, "2026-01-01T12:00:00Z", {"2026-01-02", "2026-01-03"}},
		{"@weekly", NULL, "2026-01-01", {"2026-01-04", "2026-01-11"}}, /* Sundays */
		{"@monthly", NULL, "2026-01-15", {"2026-02-01", "2026-03-01"}},
		{"@yearly", NULL, "2026-06-01", {"2027-01-01", "2028-01-01"}},
		{"@ANNUALLY", NULL, "2026-06-01", {"2027-01-01"}},
		{"@daily", "Europe/Berlin", "2026-01-01",
		 {"2026-01-01T23:00:00Z", "2026-01-02T23:00:00Z"}},
	};
	check_next("macros", rows, NELEM(rows));
}

Test(cron_next, dst_europe_berlin)
{
#define b "Europe/Berlin"
	static const struct next_row rows[] = {
		/* spring forward 2026-03-29 01:00Z: 02:00 CET -> 03:00 CEST */
		{"30 2 * * *", b, "2026-03-27T12:00:00Z",
		 {"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"0 * * * *", b, "2026-03-28T23:30:00Z",
		 {"2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"}},
		{"*/20 2 * * *", b, "2026-03-29T00:00:00Z",
		 {"2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", "2026-03-30T00:20:00Z",
		  "2026-03-30T00:40:00Z", "2026-03-31T00:00:00Z"}},
		{"0 3 * * *", b, "2026-03-28T12:00:00Z",
		 {"2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"}},
		/* 02:00, 02:30 (missing) and 03:00 (real) are one instant */
		{"0,30 2,3 * * *", b, "2026-03-29T00:00:00Z",
		 {"2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:00:00Z"}},
		{"30 2 * * *", b, "2026-03-29T00:59:59Z", {"2026-03-29T01:00:00Z"}},
		/* fall back 2026-10-25 01:00Z: 03:00 CEST -> 02:00 CET */
		{"30 2 * * *", b, "2026-10-24T12:00:00Z",
		 {"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"0 * * * *", b, "2026-10-24T23:30:00Z",
		 {"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"}},
		/* from inside the second 02:xx: 02:30 already fired at 00:30Z */
		{"30 2 * * *", b, "2026-10-25T01:10:00Z", {"2026-10-26T01:30:00Z"}},
		{"*/30 * * * *", b, "2026-10-25T00:00:00Z",
		 {"2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z", "2026-10-25T02:30:00Z"}},
		{"30 2 * * *", b, "2026-10-25T00:29:59Z", {"2026-10-25T00:30:00Z"}},
	};
	check_next("berlin", rows, NELEM(rows));
#undef b
}

Test(cron_next, dst_other_zones)
{
#define ny "America/New_York"
#define lh "Australia/Lord_Howe"
	static const struct next_row rows[] = {
		/* 2026-03-08 07:00Z: 02:00 EST -> 03:00 EDT */
		{"30 2 * * *", ny, "2026-03-07T12:00:00Z",
		 {"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"0 * * * *", ny, "2026-03-08T05:30:00Z",
		 {"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}},
		/* 2026-11-01 06:00Z: 02:00 EDT -> 01:00 EST */
		{"30 1 * * *", ny, "2026-10-31T12:00:00Z",
		 {"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"0 * * * *", ny, "2026-11-01T04:30:00Z",
		 {"2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"}},
		{"0 9 * * *", "Asia/Kolkata", "2026-01-01",
		 {"2026-01-01T03:30:00Z", "2026-01-02T03:30:00Z"}},
		/* half-hour DST: 2026-10-04 02:00 -> 02:30, 2026-04-05 02:00 -> 01:30 */
		{"15 2 * * *", lh, "2026-10-03T00:00:00Z",
		 {"2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"}},
		{"45 1 * * *", lh, "2026-04-04T00:00:00Z",
		 {"2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"}},
	};
	check_next("other_zones", rows, NELEM(rows));
#undef ny
#undef lh
}

Test(cron_next, impossible_is_erange)
{
	static const char *exprs[] = {"0 0 30 2 *", "0 0 31 2 *", "0 0 31 4,6,9,11 *"};
	for (size_t i = 0; i < NELEM(exprs); i++) {
		struct cron_expr e;
		int64_t got = 42;
		cr_assert_eq(cron_parse(exprs[i], "Europe/Berlin", &e, NULL, 0), 0, "%s", exprs[i]);
		cr_expect_eq(cron_next(&e, utc("2026-01-01"), &got), -ERANGE, "'%s'", exprs[i]);
		cr_expect_eq(got, 42, "'%s' wrote a result", exprs[i]);
	}
	struct cron_expr e;
	int64_t got;
	cr_assert_eq(cron_parse("* * * * *", NULL, &e, NULL, 0), 0);
	cr_expect_eq(cron_next(&e, utc("9999-12-31T23:59:00Z"), &got), -ERANGE);
}

/*
 * Walk [from, to]: fires must strictly increase, be `step` apart except
 * for the listed odd intervals (in order), and number want_count.
 */
static void walk(const char *expr, const char *tz, int64_t from, int64_t to, int want_count,
		 int64_t step, const int64_t *odd, int nodd)
{
	struct cron_expr e;
	int count = 0, seen = 0;
	int64_t t = from, next;
	cr_assert_eq(cron_parse(expr, tz, &e, NULL, 0), 0);
	while (cron_next(&e, t, &next) == 0 && next <= to) {
		cr_assert_gt(next, t, "%s [%s]: not increasing", expr, tz);
		if (count > 0 && next - t != step) {
			cr_expect(seen < nodd && next - t == odd[seen],
				  "%s [%s]: unexpected interval %lld s after %lld", expr, tz,
				  (long long)(next - t), (long long)t);
			seen++;
		}
		count++;
		t = next;
	}
	cr_expect_eq(count, want_count, "%s [%s]: %d fires", expr, tz, count);
	cr_expect_eq(seen, nodd, "%s [%s]: %d odd intervals", expr, tz, seen);
}

Test(cron_next, whole_year)
{
	/* 2026 in Berlin: local midnight to local midnight */
	int64_t from = utc("2025-12-31T23:00:00Z") - 1, to = utc("2026-12-31T23:00:00Z") - 1;
	/* the gap loses 02:00..02:45 (03:00 still fires) and the second 02:xx
	 * never fires: 02:45 CEST -> 03:00 CET is 75 minutes */
	static const int64_t q[] = {4500};
	walk("*/15 * * * *", "Europe/Berlin", from, to, 365 * 96 - 4, 900, q, 1);
	walk("*/15 * * * *", NULL, utc("2026-01-01") - 1, utc("2027-01-01") - 1, 365 * 96, 900,
	     NULL, 0);
	/* daily 02:00: the gap day fires at 03:00 CEST (01:00Z, 24 h after the
	 * day before), the next day 23 h later; fall back gives one 25 h day */
	static const int64_t d[] = {82800, 90000};
	walk("0 2 * * *", "Europe/Berlin", from, to, 365, 86400, d, 2);
	/* hourly: every hour of the year that exists, once */
	walk("0 * * * *", "Europe/Berlin", from, to, 365 * 24 - 1, 3600, (const int64_t[]){7200},
	     1);
}

Test(cron_next, daily_at_2_around_dst)
{
	static const struct next_row rows[] = {
		{"0 2 * * *", "Europe/Berlin", "2026-03-28T01:00:00Z",
		 {"2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"}},
		{"0 2 * * *", "Europe/Berlin", "2026-10-24T00:00:00Z",
		 {"2026-10-25T00:00:00Z", "2026-10-26T01:00:00Z"}},
	};
	check_next("daily_2", rows, NELEM(rows));
}

Test(cron_parse, fields)
{
	struct cron_expr e;
	char err[128] = "";

	cr_assert_eq(cron_parse("*/15 * * * *", NULL, &e, err, sizeof err), 0, "%s", err);
	cr_expect_eq(e.minutes, 1ULL << 0 | 1ULL << 15 | 1ULL << 30 | 1ULL << 45);
	cr_expect_eq(e.hours, 0xffffffu);
	cr_expect_eq(e.doms, 0xfffffffeu);
	cr_expect_eq(e.months, 0x1ffe);
	cr_expect_eq(e.dows, 0x7f);
	cr_expect(e.dom_star && e.dow_star && !e.every);
	cr_expect_str_eq(e.tz, "UTC");

	cr_assert_eq(cron_parse("  0\t0 1,15 * 7 ", "Europe/Berlin", &e, err, sizeof err), 0);
	cr_expect_eq(e.doms, 1u << 1 | 1u << 15);
	cr_expect_eq(e.dows, 1);
	cr_expect(!e.dom_star && !e.dow_star);
	cr_expect_str_eq(e.tz, "Europe/Berlin");

	cr_assert_eq(cron_parse("0 0 */2 * mon-fri", "", &e, err, sizeof err), 0);
	cr_expect_eq(e.dows, 0x3e);
	cr_expect(e.dom_star && !e.dow_star);

	/* "N/step" runs to the field's end; for day-of-week that is Saturday */
	cr_assert_eq(cron_parse("0 0 * * 1/2", NULL, &e, err, sizeof err), 0);
	cr_expect_eq(e.dows, 1u << 1 | 1u << 3 | 1u << 5);
	cr_assert_eq(cron_parse("5/20 0 * * 1-7/2", NULL, &e, err, sizeof err), 0);
	cr_expect_eq(e.minutes, 1ULL << 5 | 1ULL << 25 | 1ULL << 45);
	cr_expect_eq(e.dows, 1u << 0 | 1u << 1 | 1u << 3 | 1u << 5);
	cr_expect_str_eq(e.tz, "UTC");

	cr_assert_eq(cron_parse("every 1h30m", NULL, &e, err, sizeof err), 0);
	cr_expect(e.every);
	cr_expect_eq(e.every_s, 5400);
}

Test(cron_parse, errors)
{
	static const struct {
		const char *expr, *tz, *want;
	} rows[] = {
		{"61 * * * *", NULL, "minute field: 61 out of range 0-59"},
		{"* 24 * * *", NULL, "hour field: 24 out of range 0-23"},
		{"* * 0 * *", NULL, "day-of-month field: 0 out of range 1-31"},
		{"* * 32 * *", NULL, "day-of-month field: 32 out of range 1-31"},
		{"* * * 13 *", NULL, "month field: 13 out of range 1-12"},
		{"* * * foo *", NULL, "month field: unknown name 'foo'"},
		{"* * * jan-foo *", NULL, "month field: unknown name 'foo'"},
		{"* * * * fry", NULL, "day-of-week field: unknown name 'fry'"},
		{"* * * * 8", NULL, "day-of-week field: 8 out of range 0-7"},
		{"* * * * jan", NULL, "day-of-week field: unknown name 'jan'"},
		{"* * * *", NULL, "expected 5 fields, got 4"},
		{"* * * * * *", NULL, "expected 5 fields, got 6"},
		{"", NULL, "empty expression"},
		{"   ", NULL, "empty expression"},
		{"*/0 * * * *", NULL, "minute field: step 0"},
		{"* */24 * * *", NULL, "hour field: step 24"},
		{"*/ * * * *", NULL, "minute field: missing step"},
		{"40-10 * * * *", NULL, "minute field: range 40-10 is backwards"},
		{"1,,2 * * * *", NULL, "minute field: missing value"},
		{"1, * * * *", NULL, "minute field: missing value"},
		{"1- * * * *", NULL, "minute field: missing value"},
		{"5x * * * *", NULL, "minute field: unexpected 'x'"},
		{"* -1 * * *", NULL, "hour field: unexpected '-'"},
		{"* * * * mon-sun-tue", NULL, "day-of-week field: unexpected '-'"},
		{"abc * * * *", NULL, "minute field: unknown name 'abc'"},
		{"99999999999 * * * *", NULL, "minute field: 99999999999 out of range"},
		{"every 5x", NULL, "every: bad duration '5x'"},
		{"every 500ms", NULL, "every: bad duration '500ms'"},
		{"every 1500ms", NULL, "every: bad duration '1500ms'"},
		{"every", NULL, "every: bad duration ''"},
		{"every 0s", NULL, "every: bad duration '0s'"},
		{"every -5s", NULL, "every: bad duration '-5s'"},
		{"@often", NULL, "unknown macro '@often'"},
		{"@reboot", NULL, "unknown macro '@reboot'"},
		{"@daily 1", NULL, "unknown macro"},
		{"* * * * *", "Mars/Base", "unknown time zone 'Mars/Base'"},
		{"* * * * *", "../../../etc/passwd", "unknown time zone"},
		{"* * * * *", "/etc/localtime", "unknown time zone"},
		{"* * * * *", "zone.tab", "unknown time zone 'zone.tab'"},
		{"* * * * *", "America", "unknown time zone 'America'"},
		{"* * * * *", "leapseconds", "unknown time zone 'leapseconds'"},
		{"every 5s", "Nowhere", "unknown time zone"},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		struct cron_expr e;
		char err[160] = "";
		memset(&e, 0xa5, sizeof e);
		int rc = cron_parse(rows[i].expr, rows[i].tz, &e, err, sizeof err);
		cr_expect_eq(rc, -EINVAL, "row %zu '%s': rc %d", i, rows[i].expr, rc);
		cr_expect(strstr(err, rows[i].want) != NULL, "row %zu '%s': got \"%s\", want \"%s\"",
			  i, rows[i].expr, err, rows[i].want);
		cr_expect_eq(e.minutes, 0xa5a5a5a5a5a5a5a5ULL, "row %zu: output was changed", i);
	}
	/* a NULL error buffer is allowed */
	struct cron_expr e;
	cr_expect_eq(cron_parse("61 * * * *", NULL, &e, NULL, 0), -EINVAL);
	cr_expect_eq(cron_parse(NULL, NULL, &e, NULL, 0), -EINVAL);
}

Test(cron_duration, table)
{
	static const struct {
		const char *s;
		int64_t ms;      /* 0: must fail */
		const char *why; /* substring of the error */
	} rows[] = {
		{"5s", 5000, NULL},
		{"15m", 900000, NULL},
		{"1h30m", 5400000, NULL},
		{"2d", 172800000, NULL},
		{"500ms", 500, NULL},
		{"1s500ms", 1500, NULL},
		{"90", 90000, NULL},
		{"1m30s", 90000, NULL},
		{"1d2h3m4s5ms", 93784005, NULL},
		{"", 0, "empty"},
		{"-5s", 0, "negative"},
		{"5x", 0, "unknown unit 'x'"},
		{"5S", 0, "unknown unit 'S'"},
		{"5sec", 0, "unknown unit 'sec'"},
		{"0s", 0, "greater than zero"},
		{"0", 0, "greater than zero"},
		{"0h0m", 0, "greater than zero"},
		{"1h30", 0, "missing unit"},
		{"0m5", 0, "missing unit"},
		{"s", 0, "expected a number"},
		{"1.5h", 0, "missing unit"},
		{"5 s", 0, "bad duration '5 s'"},
		{"99999999999999999999s", 0, "too large"},
		{"9223372036854775807s", 0, "too large"},
		{"106751991168d", 0, "too large"},
		{"106751991167d", 9223372036828800000, NULL},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		int64_t ms = -1;
		char err[128] = "";
		int rc = cron_parse_duration_ms(rows[i].s, &ms, err, sizeof err);
		if (rows[i].ms) {
			cr_expect_eq(rc, 0, "row %zu '%s': rc %d (%s)", i, rows[i].s, rc, err);
			cr_expect_eq(ms, rows[i].ms, "row %zu '%s': got %lld", i, rows[i].s,
				     (long long)ms);
		} else {
			cr_expect_eq(rc, -EINVAL, "row %zu '%s': rc %d", i, rows[i].s, rc);
			cr_expect(strstr(err, rows[i].why) != NULL, "row %zu '%s': got \"%s\"", i,
				  rows[i].s, err);
			cr_expect_eq(ms, -1, "row %zu '%s': output changed", i, rows[i].s);
		}
	}
}

Test(cron_time, format)
{
	static const struct {
		const char *t, *tz, *want;
	} rows[] = {
		{"1970-01-01T00:00:00Z", NULL, "1970-01-01T00:00:00Z"},
		{"1969-12-31T23:59:59Z", "UTC", "1969-12-31T23:59:59Z"},
		{"2026-03-29T01:00:00Z", "", "2026-03-29T01:00:00Z"},
		{"2026-03-29T01:00:00Z", "Europe/Berlin", "2026-03-29T03:00:00+02:00"},
		{"2026-03-29T00:59:59Z", "Europe/Berlin", "2026-03-29T01:59:59+01:00"},
		{"2026-10-25T00:30:00Z", "Europe/Berlin", "2026-10-25T02:30:00+02:00"},
		{"2026-10-25T01:30:00Z", "Europe/Berlin", "2026-10-25T02:30:00+01:00"},
		{"2026-01-15T12:00:00Z", "America/New_York", "2026-01-15T07:00:00-05:00"},
		{"2026-01-01T00:00:00Z", "Asia/Kolkata", "2026-01-01T05:30:00+05:30"},
		{"2000-02-29T23:59:59Z", "Etc/UTC", "2000-02-29T23:59:59+00:00"},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		char buf[32] = "";
		int rc = cron_format_time(utc(rows[i].t), rows[i].tz, buf, sizeof buf);
		cr_expect_eq(rc, 0, "row %zu: rc %d", i, rc);
		cr_expect_str_eq(buf, rows[i].want, "row %zu: got %s", i, buf);
	}
	char small[25];
	cr_expect_eq(cron_format_time(0, "Europe/Berlin", small, sizeof small), -ENOSPC);
	char buf[32];
	cr_expect_eq(cron_format_time(0, "Mars/Base", buf, sizeof buf), -EINVAL);
	cr_expect_eq(cron_format_time(INT64_MAX, NULL, buf, sizeof buf), -ERANGE);
	/* year 10000 in Berlin has no RFC 3339 form */
	cr_expect_eq(cron_format_time(utc("9999-12-31T23:59:59Z"), "Europe/Berlin", buf, sizeof buf),
		     -ERANGE);
}

Test(cron_time, parse)
{
	static const struct {
		const char *s, *tz, *want; /* want NULL: must fail */
	} rows[] = {
		{"2026-03-29T03:00:00+02:00", NULL, "2026-03-29T01:00:00Z"},
		{"2026-03-29T01:00:00Z", "Europe/Berlin", "2026-03-29T01:00:00Z"},
		{"2026-03-29t01:00:00z", NULL, "2026-03-29T01:00:00Z"},
		{"2026-01-15T07:00:00-05:00", NULL, "2026-01-15T12:00:00Z"},
		{"2026-01-15T07:00:00.750-05:00", NULL, "2026-01-15T12:00:00Z"},
		{"2026-01-01 05:30", "Asia/Kolkata", "2026-01-01T00:00:00Z"},
		{"2026-01-01T10:00", NULL, "2026-01-01T10:00:00Z"},
		{"2026-01-01 10:00:07", "", "2026-01-01T10:00:07Z"},
		{"2026-07-01 12:00", "Europe/Berlin", "2026-07-01T10:00:00Z"},
		{"2026-03-29 02:30", "Europe/Berlin", "2026-03-29T01:00:00Z"}, /* gap end */
		{"2026-10-25 02:30", "Europe/Berlin", "2026-10-25T00:30:00Z"}, /* first */
		{"2026-10-25", "Europe/Berlin", "2026-10-24T22:00:00Z"},
		{"2026-11-01 01:30", "America/New_York", "2026-11-01T05:30:00Z"},
		{"1969-12-31", NULL, "1969-12-31T00:00:00Z"},
		{"2028-02-29", NULL, "2028-02-29"},
		{"2026-02-29", NULL, NULL},
		{"2026-13-01", NULL, NULL},
		{"2026-1-01", NULL, NULL},
		{"2026-01-01T24:00:00Z", NULL, NULL},
		{"2026-01-01T10:60:00Z", NULL, NULL},
		{"2026-01-01T10:00:60Z", NULL, NULL},
		{"2026-01-01T10:00:00+24:00", NULL, NULL},
		{"2026-01-01T10:00:00+0200", NULL, NULL},
		{"2026-01-01T10:00:00Zjunk", NULL, NULL},
		{"2026-01-01Z", NULL, NULL},
		{"2026-01-01 10", NULL, NULL},
		{"garbage", NULL, NULL},
		{"", NULL, NULL},
		{"Now", NULL, NULL},
		{"2026-01-01 10:00", "Mars/Base", NULL},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		int64_t t = -42;
		int rc = cron_parse_time(rows[i].s, rows[i].tz, &t);
		if (rows[i].want) {
			char b[32];
			cr_expect_eq(rc, 0, "row %zu '%s': rc %d", i, rows[i].s, rc);
			cr_expect_eq(t, utc(rows[i].want), "row %zu '%s': got %s", i, rows[i].s,
				     show(t, b));
		} else {
			cr_expect_eq(rc, -EINVAL, "row %zu '%s' accepted", i, rows[i].s);
			cr_expect_eq(t, -42, "row %zu '%s': output changed", i, rows[i].s);
		}
	}
}

static int64_t fake_wall(void *arg)
{
	return *(int64_t *)arg;
}

Test(cron_time, now_reads_the_clock_seam)
{
	int64_t ms = 1774746000999, t = 0;
	struct clock_fake fake = {.wall_ms = fake_wall, .arg = &ms};
	clock_set_fake(&fake);
	cr_expect_eq(cron_parse_time("now", "Europe/Berlin", &t), 0);
	cr_expect_eq(t, 1774746000);
	ms = -1500; /* before the epoch: round down, not toward zero */
	cr_expect_eq(cron_parse_time("now", NULL, &t), 0);
	cr_expect_eq(t, -2);
	clock_set_fake(NULL);
}

Test(cron_time, round_trip)
{
	static const char *zones[] = {"UTC", "Europe/Berlin", "America/New_York",
				      "Asia/Kolkata", "Australia/Lord_Howe"};
	static const char *times[] = {
		"1970-01-01T00:00:00Z", "1969-07-20T20:17:40Z", "2026-03-29T00:59:59Z",
		"2026-03-29T01:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z",
		"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2038-01-19T03:14:08Z",
		"9999-12-31T12:00:00Z",
	};
	for (size_t z = 0; z < NELEM(zones); z++)
		for (size_t i = 0; i < NELEM(times); i++) {
			char buf[32];
			int64_t t = utc(times[i]), back = 0;
			cr_assert_eq(cron_format_time(t, zones[z], buf, sizeof buf), 0, "%s %s",
				     zones[z], times[i]);
			cr_expect_eq(cron_parse_time(buf, "America/New_York", &back), 0, "%s", buf);
			cr_expect_eq(back, t, "%s in %s -> %s -> %lld", times[i], zones[z], buf,
				     (long long)back);
		}
}
