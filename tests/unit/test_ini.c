/*
 * test_ini.c - the INI reader: what the handler sees (with line numbers),
 * and every syntax error with its line.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ini.h"

/* Every callback as "LINE [SECTION] KEY=VALUE\n" or "LINE [SECTION]\n". */
struct trace {
	char buf[8192];
	size_t len;
	int stop_at; /* return 7 from the callback at this line */
};

static int record(void *arg, int line, const char *section, const char *key,
		  const char *value)
{
	struct trace *t = arg;
	if (key)
		t->len += (size_t)snprintf(t->buf + t->len, sizeof(t->buf) - t->len,
					   "%d [%s] %s=%s\n", line, section, key, value);
	else
		t->len += (size_t)snprintf(t->buf + t->len, sizeof(t->buf) - t->len,
					   "%d [%s]\n", line, section);
	return line == t->stop_at ? 7 : 0;
}

/* Parse text; on a syntax error, *err gets "LINE: message". */
static int parse(const char *text, struct trace *t, char *err, size_t errlen)
{
	char why[256] = "";
	int line = -1;
	memset(t, 0, sizeof(*t));
	int rc = ini_parse_string(text, record, t, why, sizeof(why), &line);
	if (err)
		snprintf(err, errlen, "%d: %s", line, why);
	return rc;
}

Test(ini, pairs_sections_and_line_numbers)
{
	struct trace t;
	int rc = parse("# comment\n"
		       "top = 1\n"
		       "\n"
		       "  ; another comment\n"
		       "[task a]\n"
		       "command = echo hi # not a comment\n"
		       "  key2=v2  \n"
		       "[ task   b ]\n"
		       "empty =\n",
		       &t, NULL, 0);
	cr_assert_eq(rc, 0);
	cr_assert_str_eq(t.buf, "2 [] top=1\n"
				"5 [task a]\n"
				"6 [task a] command=echo hi # not a comment\n"
				"7 [task a] key2=v2\n"
				"8 [task b]\n"
				"9 [task b] empty=\n");
}

Test(ini, quotes_keep_blanks_and_equals_in_values)
{
	struct trace t;
	cr_assert_eq(parse("a = \"  x = y  \"\nb = say \"hi\"\nc = \"\"\n", &t,
			   NULL, 0),
		     0);
	cr_assert_str_eq(t.buf, "1 [] a=  x = y  \n2 [] b=say \"hi\"\n3 [] c=\n");
}

Test(ini, crlf_bom_and_missing_final_newline)
{
	struct trace t;
	cr_assert_eq(parse("\xEF\xBB\xBF[s]\r\nk = v\r\nlast=1", &t, NULL, 0), 0);
	cr_assert_str_eq(t.buf, "1 [s]\n2 [s] k=v\n3 [s] last=1\n");
}

Test(ini, empty_text)
{
	struct trace t;
	cr_assert_eq(parse("", &t, NULL, 0), 0);
	cr_assert_str_eq(t.buf, "");
}

Test(ini, handler_stops_the_parse)
{
	struct trace t;
	char why[64];
	int line = 0;
	memset(&t, 0, sizeof(t));
	t.stop_at = 2;
	int rc = ini_parse_string("a=1\nb=2\nc=3\n", record, &t, why, sizeof(why),
				  &line);
	cr_assert_eq(rc, 7);
	cr_assert_str_eq(t.buf, "1 [] a=1\n2 [] b=2\n");
}

/* Each syntax error: the text, the line and a word of the message. */
static const struct {
	const char *text;
	const char *err; /* "LINE: message" prefix */
} syntax_errors[] = {
	{"[task a]\ncommand\n", "2: expected 'key = value'"},
	{"a=1\n\n[task a\n", "3: unterminated section header"},
	{"[task a] x\n", "1: unexpected text after section header"},
	{"[   ]\n", "1: empty section header"},
	{"= value\n", "1: empty key"},
	{"a=1\nb = \"open\n", "2: unterminated quoted value"},
	{"a = \"\n", "1: unterminated quoted value"},
};

Test(ini, syntax_errors_name_their_line)
{
	for (size_t i = 0; i < sizeof(syntax_errors) / sizeof(syntax_errors[0]); i++) {
		struct trace t;
		char err[300];
		int rc = parse(syntax_errors[i].text, &t, err, sizeof(err));
		cr_assert_eq(rc, -EINVAL, "case %zu", i);
		cr_assert(strncmp(err, syntax_errors[i].err,
				  strlen(syntax_errors[i].err)) == 0,
			  "case %zu: got '%s', want '%s'", i, err,
			  syntax_errors[i].err);
	}
}

Test(ini, pairs_before_a_syntax_error_are_delivered)
{
	struct trace t;
	cr_assert_eq(parse("a=1\noops\nb=2\n", &t, NULL, 0), -EINVAL);
	cr_assert_str_eq(t.buf, "1 [] a=1\n");
}

Test(ini, line_length_limit)
{
	/* "k=" plus padding: exactly INI_LINE_MAX bytes is fine, one more not. */
	char *text = malloc(2 * INI_LINE_MAX + 16);
	char err[300];
	struct trace *t = malloc(sizeof(*t));
	cr_assert(text && t);

	strcpy(text, "ok=1\nk=");
	memset(text + 7, 'x', INI_LINE_MAX - 2);
	strcpy(text + 7 + INI_LINE_MAX - 2, "\n");
	cr_assert_eq(parse(text, t, err, sizeof(err)), 0);

	strcpy(text, "ok=1\nk=");
	memset(text + 7, 'x', INI_LINE_MAX - 1);
	strcpy(text + 7 + INI_LINE_MAX - 1, "\r\n");
	cr_assert_eq(parse(text, t, err, sizeof(err)), -EINVAL);
	cr_assert(strncmp(err, "2: line too long", 16) == 0, "%s", err);
	free(text);
	free(t);
}

Test(ini, file_errors_and_nul_bytes)
{
	char dir[] = "/tmp/test_ini.XXXXXX", path[64], why[128];
	int line = -1;
	struct trace t;

	cr_assert_not_null(mkdtemp(dir));
	memset(&t, 0, sizeof(t));
	snprintf(path, sizeof(path), "%s/missing.ini", dir);
	cr_assert_eq(ini_parse_file(path, record, &t, why, sizeof(why), &line),
		     -ENOENT);
	cr_assert_eq(ini_parse_file(dir, record, &t, why, sizeof(why), &line),
		     -EISDIR);

	snprintf(path, sizeof(path), "%s/x.ini", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fwrite("[s]\nk=v\nbad=\0x\n", 1, 15, f);
	fclose(f);
	cr_assert_eq(ini_parse_file(path, record, &t, why, sizeof(why), &line),
		     -EINVAL);
	cr_assert_eq(line, 3);
	cr_assert_str_eq(why, "NUL byte in line");
	cr_assert_str_eq(t.buf, "1 [s]\n2 [s] k=v\n");

	/* ini_read_file() gives the bytes as they are, NUL included. */
	char *text = NULL;
	size_t len = 0;
	cr_assert_eq(ini_read_file(path, &text, &len), 0);
	cr_assert_eq(len, 15);
	cr_assert_eq(memcmp(text, "[s]\nk=v\nbad=\0x\n", 16), 0);
	free(text);
	cr_assert_eq(ini_read_file(dir, &text, &len), -EISDIR);

	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("[s]\nk = v\n", f);
	fclose(f);
	memset(&t, 0, sizeof(t));
	cr_assert_eq(ini_parse_file(path, record, &t, why, sizeof(why), &line), 0);
	cr_assert_str_eq(t.buf, "1 [s]\n2 [s] k=v\n");
	unlink(path);
	rmdir(dir);
}
