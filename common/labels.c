/*
 * labels.c - label sets "k=v,k=v" (see labels.h).
 *
 * Everything downstream (the store, the wire, worker selection) compares
 * label sets as strings, so there is exactly one spelling of a set: items
 * sorted by key (byte order, not locale order), no blanks, one item per
 * key.  labels_normalize() is the only way in; labels_match() assumes its
 * inputs came out of it.
 */
#include "labels.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_PART_MAX 63

struct label {
	const char *key;
	size_t klen;
	const char *val;
	size_t vlen;
};

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static bool is_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
	       c == '/';
}

/* Byte-order comparison of two counted strings. */
static int cmp_counted(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c)
		return c;
	return (alen > blen) - (alen < blen);
}

static int cmp_label(const void *pa, const void *pb)
{
	const struct label *a = pa, *b = pb;
	return cmp_counted(a->key, a->klen, b->key, b->klen);
}

/* Check one key or value; 0 or -EINVAL with a reason. */
static int check_part(const char *what, const char *s, size_t n, char *err,
		      size_t errlen)
{
	if (n == 0) {
		snprintf(err, errlen, "empty label %s", what);
		return -EINVAL;
	}
	if (n > LABEL_PART_MAX) {
		snprintf(err, errlen, "label %s '%.*s...' longer than %d bytes",
			 what, 16, s, LABEL_PART_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_label_char(s[i])) {
			snprintf(err, errlen,
				 "bad character '%c' in label %s '%.*s' "
				 "(allowed: A-Z a-z 0-9 _ . - /)",
				 s[i], what, (int)n, s);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Parse one item [start, end) of the input, blanks included, into *l.
 * 0 or -EINVAL with a reason.
 */
static int parse_item(const char *start, const char *end, struct label *l,
		      char *err, size_t errlen)
{
	while (start < end && is_blank(*start))
		start++;
	while (end > start && is_blank(end[-1]))
		end--;
	if (start == end) {
		snprintf(err, errlen, "empty label (stray ',')");
		return -EINVAL;
	}
	const char *eq = memchr(start, '=', (size_t)(end - start));
	if (!eq) {
		snprintf(err, errlen, "label '%.*s' is not key=value",
			 (int)(end - start), start);
		return -EINVAL;
	}
	const char *kend = eq, *vstart = eq + 1;
	while (kend > start && is_blank(kend[-1]))
		kend--;
	while (vstart < end && is_blank(*vstart))
		vstart++;
	l->key = start;
	l->klen = (size_t)(kend - start);
	l->val = vstart;
	l->vlen = (size_t)(end - vstart);
	int rc = check_part("key", l->key, l->klen, err, errlen);
	if (rc == 0)
		rc = check_part("value", l->val, l->vlen, err, errlen);
	return rc;
}

int labels_normalize(const char *in, char *out, size_t outlen, char *err,
		     size_t errlen)
{
	struct label *items = NULL;
	size_t n = 0, cap = 1;
	int rc = 0;
	const char *p;

	for (p = in; *p; p++)
		if (*p == ',')
			cap++;
	for (p = in; is_blank(*p); p++)
		;
	if (*p == '\0') {
		if (outlen == 0)
			return -ENAMETOOLONG;
		out[0] = '\0';
		return 0;
	}
	items = calloc(cap, sizeof(*items));
	if (!items) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (p = in;; p++) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		rc = parse_item(p, end, &items[n++], err, errlen);
		if (rc < 0)
			goto out;
		if (!comma)
			break;
		p = comma;
	}
	qsort(items, n, sizeof(*items), cmp_label);
	for (size_t i = 1; i < n; i++) {
		if (cmp_label(&items[i - 1], &items[i]) == 0) {
			snprintf(err, errlen, "duplicate label key '%.*s'",
				 (int)items[i].klen, items[i].key);
			rc = -EINVAL;
			goto out;
		}
	}
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		char *dst = len < outlen ? out + len : NULL;
		int w = snprintf(dst, len < outlen ? outlen - len : 0,
				 "%s%.*s=%.*s", i ? "," : "", (int)items[i].klen,
				 items[i].key, (int)items[i].vlen, items[i].val);
		len += (size_t)w;
	}
	if (len >= outlen) {
		snprintf(err, errlen, "labels too long (%zu bytes, max %zu)",
			 len, outlen ? outlen - 1 : 0);
		rc = -ENAMETOOLONG;
	}
out:
	if (rc < 0 && outlen)
		out[0] = '\0';
	free(items);
	return rc;
}

/* The item of a normalized set starting at s: its length up to ',' or NUL. */
static size_t item_len(const char *s) { return strcspn(s, ","); }

static bool set_has(const char *set, const char *item, size_t n)
{
	while (*set) {
		size_t m = item_len(set);
		if (cmp_counted(set, m, item, n) == 0)
			return true;
		set += m;
		if (*set == ',')
			set++;
	}
	return false;
}

bool labels_match(const char *required, const char *carried)
{
	if (!required)
		return true;
	if (!carried)
		carried = "";
	while (*required) {
		size_t n = item_len(required);
		if (n && !set_has(carried, required, n))
			return false;
		required += n;
		if (*required == ',')
			required++;
	}
	return true;
}
