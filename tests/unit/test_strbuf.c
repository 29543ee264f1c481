/*
 * test_strbuf.c - the growable buffer (printf past the first 256 bytes),
 * JSON string escaping, and aligned tables.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "strbuf.h"

Test(strbuf, empty_is_empty_string, .timeout = 5)
{
	struct strbuf b;
	strbuf_init(&b);
	cr_assert_str_eq(strbuf_str(&b), "");
	cr_assert_eq(b.len, 0);
	cr_assert_not(strbuf_failed(&b));
	strbuf_reset(&b);
	cr_assert_str_eq(strbuf_str(&b), "");
	strbuf_free(&b);
}

Test(strbuf, printf_grows_past_256, .timeout = 5)
{
	struct strbuf b;
	strbuf_init(&b);
	char want[4096] = "";
	size_t wlen = 0;
	for (int i = 0; i < 300; i++) {
		strbuf_printf(&b, "%d,", i);
		wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen, "%d,", i);
	}
	cr_assert_gt(wlen, 256);
	cr_assert_eq(b.len, wlen);
	cr_assert_str_eq(strbuf_str(&b), want);
	cr_assert_gt(b.cap, b.len, "no room for the NUL");
	cr_assert_not(strbuf_failed(&b));

	/* one printf much bigger than the buffer */
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	strbuf_reset(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_str_eq(strbuf_str(&b), "");
	strbuf_printf(&b, "<%s|%05d>", big, 42);
	cr_assert_eq(b.len, 1 + 2999 + 7);
	cr_assert_eq(strncmp(b.s, "<xxx", 4), 0);
	cr_assert_str_eq(b.s + 1 + 2999, "|00042>");
	cr_assert_eq(strlen(strbuf_str(&b)), b.len);
	strbuf_free(&b);
	cr_assert_null(b.s);
	cr_assert_eq(b.len, 0);
}

Test(strbuf, puts_and_putn, .timeout = 5)
{
	struct strbuf b;
	strbuf_init(&b);
	strbuf_puts(&b, "abc");
	strbuf_putn(&b, "defgh", 2);
	strbuf_puts(&b, "");
	strbuf_printf(&b, "%s", "");
	cr_assert_str_eq(strbuf_str(&b), "abcde");
	cr_assert_eq(b.len, 5);
	/* exactly at the first capacity boundary */
	strbuf_reset(&b);
	char chunk[256];
	memset(chunk, 'y', 255);
	chunk[255] = '\0';
	strbuf_puts(&b, chunk);
	cr_assert_eq(b.len, 255);
	strbuf_puts(&b, "z");
	cr_assert_eq(b.len, 256);
	cr_assert_eq(b.s[255], 'z');
	cr_assert_eq(b.s[256], '\0');
	strbuf_free(&b);
}

static void expect_json(const char *in, const char *want)
{
	struct strbuf b;
	strbuf_init(&b);
	strbuf_json_str(&b, in);
	cr_assert_str_eq(strbuf_str(&b), want, "json(%s) = %s, want %s", in ? in : "NULL",
			 strbuf_str(&b), want);
	strbuf_free(&b);
}

Test(strbuf, json_escaping, .timeout = 5)
{
	expect_json(NULL, "null");
	expect_json("", "\"\"");
	expect_json("plain text", "\"plain text\"");
	expect_json("say \"hi\"", "\"say \\\"hi\\\"\"");
	expect_json("C:\\dir\\", "\"C:\\\\dir\\\\\"");
	expect_json("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
	expect_json("\x01", "\"\\u0001\"");
	expect_json("x\x1fy\x08z\x0c", "\"x\\u001fy\\u0008z\\u000c\"");
	/* bytes >= 0x20 (UTF-8 included) pass through */
	expect_json("caf\xc3\xa9 / ok", "\"caf\xc3\xa9 / ok\"");
}

Test(strbuf, json_appends_to_existing_text, .timeout = 5)
{
	struct strbuf b;
	strbuf_init(&b);
	strbuf_puts(&b, "{\"task\":");
	strbuf_json_str(&b, "a\"b");
	strbuf_puts(&b, ",\"err\":");
	strbuf_json_str(&b, NULL);
	strbuf_puts(&b, "}");
	cr_assert_str_eq(strbuf_str(&b), "{\"task\":\"a\\\"b\",\"err\":null}");
	strbuf_free(&b);
}

Test(strbuf, table_alignment, .timeout = 5)
{
	struct table t;
	const char *hdr[] = {"TASK", "STATE", "NEXT"};
	table_init(&t, 3, hdr);
	const char *r1[] = {"backup-nightly", "ok", "2024-01-01T00:00:00Z"};
	const char *r2[] = {"x", "running-long", "-"};
	const char *r3[] = {"mid", NULL, "soon"};
	table_row(&t, r1);
	table_row(&t, r2);
	table_row(&t, r3);
	cr_assert_eq(t.nrows, 4);
	struct strbuf b;
	strbuf_init(&b);
	table_render(&t, &b);
	/* column 1 is 14 wide, column 2 is 12 wide, two blanks between;
	 * the last column is never padded (no trailing blanks) */
	const char *want = "TASK            STATE         NEXT\n"
			   "backup-nightly  ok            2024-01-01T00:00:00Z\n"
			   "x               running-long  -\n"
			   "mid                           soon\n";
	cr_assert_str_eq(strbuf_str(&b), want, "got:\n%s", strbuf_str(&b));
	table_free(&t);
	strbuf_free(&b);
}

Test(strbuf, table_header_wider_than_cells, .timeout = 5)
{
	struct table t;
	const char *hdr[] = {"IDENTIFIER", "N"};
	table_init(&t, 2, hdr);
	for (int i = 0; i < 40; i++) { /* past the first 16 rows of capacity */
		char id[8], n[8];
		snprintf(id, sizeof(id), "r%d", i);
		snprintf(n, sizeof(n), "%d", i * 3);
		const char *row[] = {id, n};
		table_row(&t, row);
	}
	cr_assert_eq(t.nrows, 41);
	struct strbuf b;
	strbuf_init(&b);
	table_render(&t, &b);
	const char *s = strbuf_str(&b);
	cr_assert_eq(strncmp(s, "IDENTIFIER  N\nr0          0\nr1          3\n", 42), 0, "got:\n%s",
		     s);
	cr_assert(strstr(s, "\nr39         117\n"), "got:\n%s", s);
	/* every line: no trailing blank */
	for (const char *p = strchr(s, '\n'); p; p = strchr(p + 1, '\n'))
		cr_assert_neq(p[-1], ' ', "trailing blank before offset %td", p - s);
	table_free(&t);
	strbuf_free(&b);
}

Test(strbuf, table_single_column_is_never_padded, .timeout = 5)
{
	struct table t;
	const char *hdr[] = {"NAME"};
	table_init(&t, 1, hdr);
	const char *r1[] = {"a-much-longer-name"};
	const char *r2[] = {"b"};
	table_row(&t, r1);
	table_row(&t, r2);
	struct strbuf b;
	strbuf_init(&b);
	table_render(&t, &b);
	cr_assert_str_eq(strbuf_str(&b), "NAME\na-much-longer-name\nb\n");
	table_free(&t);
	strbuf_free(&b);
}
