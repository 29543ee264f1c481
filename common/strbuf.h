/*
 * strbuf.h - a growable text buffer for building replies, JSON and
 * tables.  Out-of-memory is sticky (strbuf_failed) so call sites can
 * append freely and check once.
 */
#ifndef SCHED_STRBUF_H
#define SCHED_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *s;      /* always NUL-terminated once anything was appended */
	size_t len, cap;
	bool oom;
};

void strbuf_init(struct strbuf *b);
void strbuf_free(struct strbuf *b);
void strbuf_reset(struct strbuf *b);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_putn(struct strbuf *b, const char *s, size_t n);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal (quoted, escaped; NULL gives null). */
void strbuf_json_str(struct strbuf *b, const char *s);
bool strbuf_failed(const struct strbuf *b);
/* The text ("" when empty). */
const char *strbuf_str(const struct strbuf *b);

/*
 * Aligned plain-text tables: collect rows, then render with each column
 * as wide as its widest cell.
 */
#define TABLE_COLS_MAX 12
struct table {
	size_t ncols;
	size_t nrows;
	char **cells;            /* nrows * ncols, row 0 is the header */
	size_t cap;
};

void table_init(struct table *t, size_t ncols, const char *const *headers);
void table_row(struct table *t, const char *const *cells);
void table_render(const struct table *t, struct strbuf *out);
void table_free(struct table *t);

#endif
