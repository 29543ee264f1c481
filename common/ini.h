/*
 * ini.h - a small INI reader that keeps line numbers, because every error
 * about a configuration or schedule file must name file:line.
 *
 * Syntax: "[section]" or "[type name]" headers, "key = value" pairs,
 * comments starting with '#' or ';' at the start of a line (after
 * blanks), blank lines.  Leading/trailing blanks of keys and values are
 * trimmed; a value may be wrapped in double quotes to keep blanks.  No
 * continuation lines.  Lines longer than INI_LINE_MAX are an error.
 */
#ifndef SCHED_INI_H
#define SCHED_INI_H

#include <stddef.h>

#define INI_LINE_MAX 4096

/*
 * Called for every pair (section is "" before the first header) and, with
 * key == NULL and value == NULL, once for every section header.  Return 0
 * to go on, non-zero to stop; that value is returned by ini_parse_*.
 */
typedef int (*ini_handler)(void *arg, int line, const char *section,
			   const char *key, const char *value);

/*
 * Parse the file at path.  Returns 0, the handler's non-zero value, or
 * -EINVAL for a syntax error (reason and line in err/errline), or a
 * negative errno when the file cannot be read.
 */
int ini_parse_file(const char *path, ini_handler h, void *arg, char *err,
		   size_t errlen, int *errline);
int ini_parse_string(const char *text, ini_handler h, void *arg, char *err,
		     size_t errlen, int *errline);

/*
 * Read the regular file at path (at most 16 MiB) into a malloc'd buffer,
 * NUL-terminated, of *len bytes (the file may itself contain NUL bytes).
 * 0, or a negative errno (-EISDIR, -EFBIG, ...).  For callers that parse
 * the text in pieces, e.g. to go on after a syntax error.
 */
int ini_read_file(const char *path, char **text, size_t *len);

#endif
