/*
 * cron.c - schedule expressions and their next fire times (see cron.h).
 *
 * Parsing turns every form into bit sets (minutes, hours, days, months,
 * weekdays) or a period, so that evaluation never looks at text again.
 *
 * Finding the next fire time works on "wall seconds": a local wall-clock
 * time written as if it were UTC (W = timegm(local broken-down time)).
 * The search walks wall time forward field by field (skipping a whole
 * month, day or hour that cannot match, and jumping to the next set
 * minute bit), and maps each matching wall time W to the instant it
 * fires at, f(W):
 *   - W occurs once: that instant;
 *   - W occurs twice (clocks go back): the earlier instant;
 *   - W does not exist (clocks go forward): the instant the gap ends.
 * f never decreases as W grows, and every wall time up to the wall time
 * of `after` has f <= after, so the answer is the first matching W after
 * wall(after) whose f(W) > after.  A matching time whose first occurrence
 * is <= after is skipped even if its second occurrence is later (that
 * time already fired), and several non-existent times in one gap, plus a
 * real time at its end, all map to one instant, which fires once.
 *
 * f(W) is computed without mktime (whose tm_isdst = -1 guess is not the
 * rule we want): the UTC offsets in effect one day before, at and one day
 * after W give candidate instants W - offset; localtime_r tells which of
 * them really show W.  None does inside a gap; the gap end is then found
 * by binary search between the candidates.
 *
 * Time zones are applied with setenv("TZ") + tzset(), which affects the
 * whole process: this module is for the single-threaded daemons.  The
 * last zone set is remembered so that tzset() runs only when the zone
 * changes, and TZ is deliberately left set to the last zone used (nothing
 * is restored; nothing else in sched depends on TZ).  UTC never touches
 * the C library's zone state at all.
 */
#include "cron.h"

#include "clock.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY 86400
/* Supported instants: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define T_MIN (-62135596800LL)
#define T_MAX 253402300799LL
/* cron_next gives up after this many years: 8 so that "0 0 29 2 *" still
 * finds 2104-02-29 from 2097 (2100 is not a leap year). */
#define SEARCH_YEARS 8

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write a reason into err (if any) and return -EINVAL. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* ---- proleptic Gregorian calendar (H. Hinnant's algorithms) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
	static const int dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dim[m];
}

/* ---- time zones ---- */

static bool tz_is_utc(const char *tz)
{
	return !tz || !*tz || strcmp(tz, "UTC") == 0;
}

/*
 * True if name is an IANA zone installed on this host: a plain relative
 * name (no "..", no leading '/') of a readable regular TZif file under
 * $TZDIR or /usr/share/zoneinfo (the directory glibc reads).  The magic
 * check rejects the non-zone files there, such as zone.tab.
 */
static bool tz_exists(const char *name)
{
	static char last_ok[CRON_TZ_MAX];
	size_t n = strlen(name);
	if (tz_is_utc(name) || strcmp(name, last_ok) == 0)
		return true;
	if (n >= CRON_TZ_MAX || name[0] == '/' || name[0] == '-' || strstr(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/_-+", *p))
			return false;

	const char *dir = getenv("TZDIR");
	char path[512], magic[4];
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		  read(fd, magic, sizeof magic) == (ssize_t)sizeof magic &&
		  memcmp(magic, "TZif", 4) == 0;
	close(fd);
	if (ok)
		memcpy(last_ok, name, n + 1);
	return ok;
}

/*
 * Make name the zone used by localtime_r.  *utc tells the callers to skip
 * the C library entirely.  tzset() runs only when TZ differs from what we
 * last set (someone else may have changed the environment meanwhile).
 */
static int tz_select(const char *name, bool *utc)
{
	static char current[CRON_TZ_MAX + 1];
	char want[CRON_TZ_MAX + 1];

	*utc = tz_is_utc(name);
	if (*utc)
		return 0;
	if (strlen(name) >= CRON_TZ_MAX)
		return -EINVAL;
	snprintf(want, sizeof want, ":%s", name); /* ':' = always a file */
	const char *cur = getenv("TZ");
	if (cur && strcmp(cur, want) == 0 && strcmp(current, want) == 0)
		return 0;
	if (setenv("TZ", want, 1) != 0)
		return -errno;
	tzset();
	memcpy(current, want, sizeof want);
	return 0;
}

/* UTC offset in seconds east, in effect at instant t in the selected zone. */
static int tz_offset(bool utc, int64_t t, int64_t *off)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (utc) {
		*off = 0;
		return 0;
	}
	if (!localtime_r(&tt, &tm))
		return -ERANGE;
	*off = tm.tm_gmtoff;
	return 0;
}

/* Wall seconds shown at instant t, or INT64_MIN if unknown. */
static int64_t wall_at(bool utc, int64_t t)
{
	int64_t off;
	return tz_offset(utc, t, &off) == 0 ? t + off : INT64_MIN;
}

/*
 * The instant wall time w fires at (see the top of this file): its first
 * occurrence, or the end of the gap it falls in.
 */
static int wall_to_instant(bool utc, int64_t w, int64_t *out)
{
	int64_t offs[3], best = INT64_MAX, lo = INT64_MAX, hi = INT64_MIN;
	int rc;

	if (utc) {
		*out = w;
		return 0;
	}
	if ((rc = tz_offset(utc, w - DAY, &offs[0])) < 0 ||
	    (rc = tz_offset(utc, w, &offs[1])) < 0 ||
	    (rc = tz_offset(utc, w + DAY, &offs[2])) < 0)
		return rc;
	for (int i = 0; i < 3; i++) {
		int64_t t = w - offs[i];
		if (t < lo)
			lo = t;
		if (t > hi)
			hi = t;
		if (t < best && (i == 0 || offs[i] != offs[i - 1]) && wall_at(utc, t) == w)
			best = t;
	}
	if (best != INT64_MAX) {
		*out = best;
		return 0;
	}
	/* In a gap: wall(lo) < w < wall(hi); find the first instant past it. */
	if (wall_at(utc, lo) >= w || wall_at(utc, hi) <= w)
		return -ERANGE; /* not a plain gap; cannot happen with real zones */
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (wall_at(utc, mid) < w)
			lo = mid;
		else
			hi = mid;
	}
	*out = hi;
	return 0;
}

/* ---- durations ---- */

/* Parse the n bytes at s as a duration; on error write why (no prefix). */
static int duration_parse(const char *s, size_t n, int64_t *out_ms, char *why, size_t whylen)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	const char *p = s, *end = s + n;
	int64_t total = 0;

	if (n == 0)
		return fail(why, whylen, "empty");
	if (*p == '-')
		return fail(why, whylen, "negative");
	while (p < end) {
		int64_t v = 0, mult = 0;
		const char *num = p;
		if (!isdigit((unsigned char)*p))
			return fail(why, whylen, "expected a number at '%.*s'", (int)(end - p), p);
		for (; p < end && isdigit((unsigned char)*p); p++)
			if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
				return fail(why, whylen, "too large");
		const char *u = p;
		while (p < end && isalpha((unsigned char)*p))
			p++;
		size_t ulen = (size_t)(p - u);
		if (ulen == 0 && num == s && u == end)
			mult = 1000; /* the whole string is a bare number: seconds */
		else if (ulen == 0)
			return fail(why, whylen, "missing unit after '%.*s'", (int)(u - s), s);
		for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
			if (ulen == strlen(units[i].name) && memcmp(u, units[i].name, ulen) == 0)
				mult = units[i].ms;
		if (mult == 0)
			return fail(why, whylen, "unknown unit '%.*s'", (int)ulen, u);
		if (__builtin_mul_overflow(v, mult, &v) || __builtin_add_overflow(total, v, &total))
			return fail(why, whylen, "too large");
	}
	if (total == 0)
		return fail(why, whylen, "must be greater than zero");
	*out_ms = total;
	return 0;
}

/* See cron.h.  *out_ms is written only on success. */
int cron_parse_duration_ms(const char *s, int64_t *out_ms, char *err, size_t errlen)
{
	char why[96];
	if (!s)
		s = "";
	if (duration_parse(s, strlen(s), out_ms, why, sizeof why) < 0)
		return fail(err, errlen, "bad duration '%s': %s", s, why);
	return 0;
}

/* ---- cron fields ---- */

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
					  "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct field {
	const char *name;           /* as used in error messages */
	int min, max;               /* accepted values */
	int star_max;               /* end of '*' and of "N/step" */
	const char *const *names;   /* three-letter names, or NULL */
	int nnames, name_base;      /* names[i] means name_base + i */
};

static const struct field fields[5] = {
	{"minute", 0, 59, 59, NULL, 0, 0},
	{"hour", 0, 23, 23, NULL, 0, 0},
	{"day-of-month", 1, 31, 31, NULL, 0, 0},
	{"month", 1, 12, 12, month_names, 12, 1},
	{"day-of-week", 0, 7, 6, dow_names, 7, 0}, /* 7 = Sunday, stored as 0 */
};

/* One value (number or name) of field f at *pp, which stops before end. */
static int parse_value(const struct field *f, const char **pp, const char *end,
		       int *v, bool *named, char *err, size_t errlen)
{
	const char *p = *pp, *s = p;
	*named = false;
	if (p == end || *p == ',')
		return fail(err, errlen, "%s field: missing value", f->name);
	if (isdigit((unsigned char)*p)) {
		long n = 0;
		for (; p < end && isdigit((unsigned char)*p); p++)
			if (n < 100000)
				n = n * 10 + (*p - '0');
		if (n < f->min || n > f->max)
			return fail(err, errlen, "%s field: %.*s out of range %d-%d", f->name,
				    (int)(p - s), s, f->min, f->max);
		*v = (int)n;
	} else if (isalpha((unsigned char)*p)) {
		while (p < end && isalpha((unsigned char)*p))
			p++;
		int i = 0;
		while (i < f->nnames && !(p - s == 3 && strncasecmp(s, f->names[i], 3) == 0))
			i++;
		if (i == f->nnames)
			return fail(err, errlen, "%s field: unknown name '%.*s'", f->name,
				    (int)(p - s), s);
		*v = f->name_base + i;
		*named = true;
	} else {
		return fail(err, errlen, "%s field: unexpected '%c'", f->name, *p);
	}
	*pp = p;
	return 0;
}

/*
 * Parse one field, the n bytes at s: a comma list of '*', N, N-M, each
 * optionally followed by /STEP ("N/STEP" means N-max/STEP).
 */
static int parse_field(const struct field *f, const char *s, size_t n, uint64_t *bits,
		       char *err, size_t errlen)
{
	const char *p = s, *end = s + n;
	bool named;
	int rc;

	*bits = 0;
	for (;;) {
		int lo, hi, step = 1;
		if (p < end && *p == '*') {
			p++;
			lo = f->min;
			hi = f->star_max;
		} else {
			if ((rc = parse_value(f, &p, end, &lo, &named, err, errlen)) < 0)
				return rc;
			hi = lo;
			if (p < end && *p == '-') {
				p++;
				if ((rc = parse_value(f, &p, end, &hi, &named, err, errlen)) < 0)
					return rc;
				if (f->names == dow_names && named && hi == 0)
					hi = 7; /* "fri-sun" */
				if (hi < lo)
					return fail(err, errlen, "%s field: range %d-%d is backwards",
						    f->name, lo, hi);
			} else if (p < end && *p == '/') {
				hi = lo > f->star_max ? lo : f->star_max;
			}
		}
		if (p < end && *p == '/') {
			const char *q = ++p;
			long v = 0;
			for (; p < end && isdigit((unsigned char)*p); p++)
				if (v < 100000)
					v = v * 10 + (*p - '0');
			if (p == q)
				return fail(err, errlen, "%s field: missing step after '/'", f->name);
			if (v < 1 || v > f->max)
				return fail(err, errlen, "%s field: step %.*s out of range 1-%d",
					    f->name, (int)(p - q), q, f->max);
			step = (int)v;
		}
		for (int v = lo; v <= hi; v += step)
			*bits |= 1ULL << (f->names == dow_names ? v % 7 : v);
		if (p == end)
			return 0;
		if (*p != ',')
			return fail(err, errlen, "%s field: unexpected '%c' in '%.*s'", f->name, *p,
				    (int)n, s);
		p++;
	}
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The five fields of s into e. */
static int parse_fields(const char *s, struct cron_expr *e, char *err, size_t errlen)
{
	const char *start[5];
	size_t len[5];
	uint64_t bits[5];
	int count = 0, rc;

	for (const char *p = s; *p;) {
		while (is_space(*p))
			p++;
		if (!*p)
			break;
		const char *q = p;
		while (*p && !is_space(*p))
			p++;
		if (count < 5) {
			start[count] = q;
			len[count] = (size_t)(p - q);
		}
		count++;
	}
	if (count != 5)
		return fail(err, errlen, "expected 5 fields, got %d", count);
	for (int i = 0; i < 5; i++)
		if ((rc = parse_field(&fields[i], start[i], len[i], &bits[i], err, errlen)) < 0)
			return rc;
	e->minutes = bits[0];
	e->hours = (uint32_t)bits[1];
	e->doms = (uint32_t)bits[2];
	e->months = (uint16_t)bits[3];
	e->dows = (uint8_t)bits[4];
	e->dom_star = start[2][0] == '*';
	e->dow_star = start[4][0] == '*';
	return 0;
}

static const struct {
	const char *name, *fields;
} macros[] = {
	{"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
	{"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
};

/* See cron.h.  *out is written only on success; surrounding blanks are ignored. */
int cron_parse(const char *expr, const char *tz, struct cron_expr *out, char *err,
	       size_t errlen)
{
	struct cron_expr e;
	const char *p = expr ? expr : "";
	int rc;

	memset(&e, 0, sizeof e);
	while (is_space(*p))
		p++;
	size_t n = strlen(p);
	while (n > 0 && is_space(p[n - 1]))
		n--;
	if (n == 0)
		return fail(err, errlen, "empty expression");

	if (p[0] == '@') {
		size_t i = 0, count = sizeof macros / sizeof macros[0];
		while (i < count && !(strlen(macros[i].name) == n && strncasecmp(p, macros[i].name, n) == 0))
			i++;
		if (i == count)
			return fail(err, errlen, "unknown macro '%.*s'", (int)n, p);
		if ((rc = parse_fields(macros[i].fields, &e, err, errlen)) < 0)
			return rc;
	} else if (n >= 5 && strncasecmp(p, "every", 5) == 0 && (n == 5 || is_space(p[5]))) {
		const char *d = p + 5;
		char why[96];
		int64_t ms;
		while (d < p + n && is_space(*d))
			d++;
		int dn = (int)(p + n - d);
		if (duration_parse(d, (size_t)dn, &ms, why, sizeof why) < 0)
			return fail(err, errlen, "every: bad duration '%.*s': %s", dn, d, why);
		if (ms % 1000 != 0)
			return fail(err, errlen, "every: bad duration '%.*s': not whole seconds",
				    dn, d);
		e.every = true;
		e.every_s = ms / 1000;
	} else if ((rc = parse_fields(p, &e, err, errlen)) < 0) {
		return rc;
	}

	const char *zone = tz && *tz ? tz : "UTC";
	if (!tz_exists(zone))
		return fail(err, errlen, "unknown time zone '%s'", zone);
	memcpy(e.tz, zone, strlen(zone) + 1);
	*out = e;
	return 0;
}

/* ---- next fire time ---- */

static bool day_matches(const struct cron_expr *e, int y, int m, int d)
{
	int dow = (int)((days_from_civil(y, m, d) % 7 + 11) % 7); /* 1970-01-01: Thu */
	bool dom_ok = e->doms >> d & 1, dow_ok = e->dows >> dow & 1;
	if (!e->dom_star && !e->dow_star)
		return dom_ok || dow_ok;
	return dom_ok && dow_ok;
}

/* Lowest set bit >= from in bits, or -1. */
static int next_bit(uint64_t bits, int from)
{
	if (from > 63)
		return -1;
	bits &= ~0ULL << from;
	return bits ? __builtin_ctzll(bits) : -1;
}

/*
 * See cron.h and the top of this file.  Gives up with -ERANGE after
 * SEARCH_YEARS years of wall time or past year 9999; *out is written only
 * on success.  Selects e->tz as the process time zone.
 */
int cron_next(const struct cron_expr *e, int64_t after, int64_t *out)
{
	int y, m, d, h, mi, rc;
	int64_t off;
	bool utc;

	if (e->every) {
		int64_t p = e->every_s, q;
		if (p <= 0)
			return -EINVAL;
		q = floor_div(after, p);
		if (q >= INT64_MAX / p)
			return -ERANGE;
		*out = (q + 1) * p;
		return 0;
	}
	if (after < T_MIN || after > T_MAX)
		return -ERANGE;
	if ((rc = tz_select(e->tz, &utc)) < 0 || (rc = tz_offset(utc, after, &off)) < 0)
		return rc;

	/* Start at the first whole minute after the wall time of `after`. */
	int64_t w = floor_div(after + off, 60) * 60 + 60;
	civil_from_days(floor_div(w, DAY), &y, &m, &d);
	h = (int)(w - floor_div(w, DAY) * DAY) / 3600;
	mi = (int)(w - floor_div(w, 60 * 60) * 3600) / 60;
	int last_year = y + SEARCH_YEARS;

	while (y <= last_year && y <= 9999) {
		if (!(e->months >> m & 1)) {
			d = 1, h = 0, mi = 0;
			if (++m > 12)
				m = 1, y++;
			continue;
		}
		int nh = next_bit(e->hours, h);
		if (!day_matches(e, y, m, d) || nh < 0) {
			h = 0, mi = 0;
			if (++d > days_in_month(y, m)) {
				d = 1;
				if (++m > 12)
					m = 1, y++;
			}
			continue;
		}
		if (nh != h)
			h = nh, mi = 0;
		int nm = next_bit(e->minutes, mi);
		if (nm < 0) {
			mi = 0, h++; /* h == 24 falls to the next day above */
			continue;
		}
		mi = nm;
		int64_t t, wall = days_from_civil(y, m, d) * DAY + h * 3600 + mi * 60;
		if ((rc = wall_to_instant(utc, wall, &t)) < 0)
			return rc;
		if (t > after) {
			*out = t;
			return 0;
		}
		mi++; /* first occurrence already past: try the next minute */
		if (mi == 60)
			mi = 0, h++;
	}
	return -ERANGE;
}

/* ---- RFC 3339 ---- */

/*
 * See cron.h.  -EINVAL for an unknown zone, -ERANGE outside years
 * 0000-9999, -ENOSPC if buf is too small (26 bytes always suffice).
 */
int cron_format_time(int64_t t, const char *tz, char *buf, size_t len)
{
	int64_t off = 0;
	int y, m, d, rc;
	bool utc = tz_is_utc(tz);

	if (t < T_MIN || t > T_MAX)
		return -ERANGE;
	if (!utc) {
		if (!tz_exists(tz))
			return -EINVAL;
		if ((rc = tz_select(tz, &utc)) < 0 || (rc = tz_offset(utc, t, &off)) < 0)
			return rc;
		if (off % 60 != 0)
			utc = true, off = 0; /* local mean time: RFC 3339 has no seconds */
	}
	int64_t w = t + off, days = floor_div(w, DAY), sod = w - days * DAY;
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return -ERANGE;
	char zone[8] = "Z";
	if (!utc) {
		int64_t a = off < 0 ? -off : off;
		snprintf(zone, sizeof zone, "%c%02d:%02d", off < 0 ? '-' : '+',
			 (int)(a / 3600 % 100), (int)(a / 60 % 60));
	}
	int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%s", y, m, d, (int)(sod / 3600),
			 (int)(sod / 60 % 60), (int)(sod % 60), zone);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* Exactly n digits at *pp into *v. */
static bool digits(const char **pp, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*pp)++) {
		if (!isdigit((unsigned char)**pp))
			return false;
		*v = *v * 10 + (**pp - '0');
	}
	return true;
}

/*
 * See cron.h.  Accepts 'T', 't' or ' ' between date and time, 'Z' or 'z',
 * and drops fractions of a second.  tz is used (and must exist) only when
 * the text has no offset.  *out is written only on success.
 */
int cron_parse_time(const char *s, const char *tz, int64_t *out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh, om, rc;
	bool utc;

	if (!s)
		return -EINVAL;
	if (strcmp(s, "now") == 0) {
		*out = floor_div(clock_wall_ms(), 1000);
		return 0;
	}
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -EINVAL;
	if (*p) {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return -EINVAL;
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || h > 23 || mi > 59)
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &sec) || sec > 59)
				return -EINVAL;
		}
		if (*p == '.' && isdigit((unsigned char)p[1]))
			for (p++; isdigit((unsigned char)*p); p++)
				; /* fractions of a second are dropped */
	}
	int64_t w = days_from_civil(y, mo, d) * DAY + h * 3600 + mi * 60 + sec;
	if (*p == 'Z' || *p == 'z') {
		if (p[1])
			return -EINVAL;
		*out = w;
		return 0;
	}
	if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;
		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || *p || oh > 23 ||
		    om > 59)
			return -EINVAL;
		*out = w - sign * (oh * 3600 + om * 60);
		return 0;
	}
	if (*p)
		return -EINVAL;
	if (!tz_exists(tz ? tz : "UTC"))
		return -EINVAL;
	if ((rc = tz_select(tz, &utc)) < 0)
		return rc;
	return wall_to_instant(utc, w, out);
}
