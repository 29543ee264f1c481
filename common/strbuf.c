/*
 * strbuf.c - growable text buffer and aligned tables (see strbuf.h).
 */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(struct strbuf *b) { memset(b, 0, sizeof(*b)); }

void strbuf_free(struct strbuf *b)
{
	free(b->s);
	strbuf_init(b);
}

void strbuf_reset(struct strbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

static bool reserve(struct strbuf *b, size_t extra)
{
	if (b->oom)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	size_t ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + extra + 1)
		ncap *= 2;
	char *ns = realloc(b->s, ncap);
	if (!ns) {
		b->oom = true;
		return false;
	}
	b->s = ns;
	b->cap = ncap;
	return true;
}

void strbuf_putn(struct strbuf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void strbuf_puts(struct strbuf *b, const char *s) { strbuf_putn(b, s, strlen(s)); }

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void strbuf_json_str(struct strbuf *b, const char *s)
{
	if (!s) {
		strbuf_puts(b, "null");
		return;
	}
	strbuf_putn(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': strbuf_puts(b, "\\\""); break;
		case '\\': strbuf_puts(b, "\\\\"); break;
		case '\n': strbuf_puts(b, "\\n"); break;
		case '\r': strbuf_puts(b, "\\r"); break;
		case '\t': strbuf_puts(b, "\\t"); break;
		default:
			if (*p < 0x20)
				strbuf_printf(b, "\\u%04x", *p);
			else
				strbuf_putn(b, (const char *)p, 1);
		}
	}
	strbuf_putn(b, "\"", 1);
}

bool strbuf_failed(const struct strbuf *b) { return b->oom; }

const char *strbuf_str(const struct strbuf *b) { return b->s ? b->s : ""; }

void table_init(struct table *t, size_t ncols, const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols < TABLE_COLS_MAX ? ncols : TABLE_COLS_MAX;
	table_row(t, headers);
}

void table_row(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		char **nc = realloc(t->cells, ncap * t->ncols * sizeof(*nc));
		if (!nc)
			return;
		t->cells = nc;
		t->cap = ncap;
	}
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = strdup(cells[i] ? cells[i] : "");
	t->nrows++;
}

void table_render(const struct table *t, struct strbuf *out)
{
	size_t width[TABLE_COLS_MAX] = {0};
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t w = s ? strlen(s) : 0;
			if (w > width[c])
				width[c] = w;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			if (!s)
				s = "";
			if (c + 1 == t->ncols)
				strbuf_puts(out, s);
			else
				strbuf_printf(out, "%-*s  ", (int)width[c], s);
		}
		strbuf_puts(out, "\n");
	}
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
