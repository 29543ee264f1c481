/*
 * ini.c - the INI reader of ini.h.
 *
 * Why not libinih: every error we print must name file:line, and libinih
 * passes line numbers to its handler only when compiled with
 * INI_HANDLER_LINENO, which is off by default (so a distribution's shared
 * library cannot be relied on for it); the whole syntax below fits in a
 * page, so it is not worth a dependency.
 *
 * The reader works one line at a time on a copy of the line (at most
 * INI_LINE_MAX bytes plus a NUL), so it needs no allocation for a string and
 * one buffer for a file.  Beyond ini.h:
 *   - a UTF-8 byte order mark at the start of the text is skipped;
 *   - "\r\n" line ends are accepted;
 *   - inside a section header, runs of blanks collapse to one space, so
 *     "[task   nightly]" reaches the handler as "task nightly";
 *   - nothing but blanks may follow the closing ']';
 *   - a NUL byte in a file is a syntax error (a text file has none).
 * Comments are whole lines only, so a value such as "echo a # b" keeps its
 * '#'.
 */
#include "ini.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file larger than this is refused: configuration is small. */
#define INI_FILE_MAX (16 * 1024 * 1024)

#define STR_(x) #x
#define STR(x) STR_(x)

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Trim blanks at both ends of s in place; returns the new start. */
static char *trim(char *s)
{
	while (is_blank(*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int fail(char *err, size_t errlen, int *errline, int line,
		const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	if (errline)
		*errline = line;
	return -EINVAL;
}

/*
 * "[ ... ]" in s (already trimmed, starting with '[') into section, with
 * blank runs collapsed.  Returns NULL or a syntax error message.
 */
static const char *parse_header(char *s, char *section)
{
	char *close = strchr(s, ']');
	if (!close)
		return "unterminated section header (missing ']')";
	for (const char *p = close + 1; *p; p++)
		if (!is_blank(*p))
			return "unexpected text after section header";
	*close = '\0';
	size_t n = 0;
	bool blank = false;
	for (const char *p = trim(s + 1); *p; p++) {
		if (is_blank(*p)) {
			blank = true;
			continue;
		}
		if (blank)
			section[n++] = ' ';
		blank = false;
		section[n++] = *p;
	}
	section[n] = '\0';
	return n ? NULL : "empty section header";
}

/*
 * The reader proper, over text of len bytes; a NUL byte before len is a
 * syntax error.  Returns as ini_parse_string() does.
 */
static int parse_text(const char *text, size_t len, ini_handler h, void *arg,
		      char *err, size_t errlen, int *errline)
{
	char line[INI_LINE_MAX + 1];
	char section[INI_LINE_MAX + 1] = "";
	size_t pos = 0;
	int lineno = 0;

	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;
		pos += n + (nl ? 1 : 0);
		lineno++;

		if (n > 0 && start[n - 1] == '\r')
			n--;
		if (n > INI_LINE_MAX)
			return fail(err, errlen, errline, lineno,
				    "line too long (more than " STR(INI_LINE_MAX) " bytes)");
		if (memchr(start, '\0', n))
			return fail(err, errlen, errline, lineno,
				    "NUL byte in line");
		memcpy(line, start, n);
		line[n] = '\0';

		char *s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			const char *why = parse_header(s, section);
			if (why)
				return fail(err, errlen, errline, lineno, why);
			int rc = h(arg, lineno, section, NULL, NULL);
			if (rc)
				return rc;
			continue;
		}

		char *eq = strchr(s, '=');
		if (!eq)
			return fail(err, errlen, errline, lineno,
				    "expected 'key = value' (no '=' in line)");
		*eq = '\0';
		char *key = trim(s);
		char *value = trim(eq + 1);
		if (*key == '\0')
			return fail(err, errlen, errline, lineno,
				    "empty key before '='");
		if (*value == '"') {
			size_t vn = strlen(value);
			if (vn < 2 || value[vn - 1] != '"')
				return fail(err, errlen, errline, lineno,
					    "unterminated quoted value");
			value[vn - 1] = '\0';
			value++;
		}
		int rc = h(arg, lineno, section, key, value);
		if (rc)
			return rc;
	}
	return 0;
}

int ini_parse_string(const char *text, ini_handler h, void *arg, char *err,
		     size_t errlen, int *errline)
{
	return parse_text(text, strlen(text), h, arg, err, errlen, errline);
}

int ini_read_file(const char *path, char **out, size_t *outlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto err;
	}
	if (st.st_size > INI_FILE_MAX) {
		rc = -EFBIG;
		goto err;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto err;
	}
	/* The file may change under us: read to EOF, bounded by the buffer. */
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto err;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd);
	*out = buf;
	*outlen = len;
	return 0;
err:
	free(buf);
	close(fd);
	return rc;
}

int ini_parse_file(const char *path, ini_handler h, void *arg, char *err,
		   size_t errlen, int *errline)
{
	char *text = NULL;
	size_t len = 0;
	int rc = ini_read_file(path, &text, &len);

	if (rc < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s", strerror(-rc));
		if (errline)
			*errline = 0;
		return rc;
	}
	rc = parse_text(text, len, h, arg, err, errlen, errline);
	free(text);
	return rc;
}
