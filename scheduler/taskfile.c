/*
 * taskfile.c - loading a directory of schedule files (see taskfile.h).
 *
 * Loading runs in three phases, so that one bad file never hides the
 * errors of another and the operator fixes everything in one round:
 *
 *   1. every file is read and fed to the INI reader; each "[task NAME]"
 *      section becomes a `struct loaded` (its task_def plus where it was),
 *      even when some of its keys were bad, so that phase 2 does not
 *      report a task with a bad key as unknown;
 *   2. the whole set is checked: duplicate names, `after` naming an
 *      unknown task, cycles through `after`;
 *   3. only when no error at all was found, the set is built, sorted by
 *      name (byte order).
 *
 * The INI reader stops at a syntax error, so we start it again on the line
 * after the bad one (adding the line offset back) and carry on in the same
 * section; after a broken section header its keys are skipped, since we do
 * not know which task they belong to.  Errors are kept with their file and
 * line and sorted at the end, so they read in file order whatever phase
 * found them.
 *
 * Return codes: -EINVAL for bad content; the negative errno of the first
 * directory or file that cannot be read (every error is still listed);
 * -ENOMEM when memory ran out (*errors may then be NULL).
 */
#include "taskfile.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"
#include "labels.h"
#include "taskfile_int.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define WHY_MAX 512
#define TASK_NAME_RULE \
	"1-63 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit"

static const char *const overlap_names[] = {
	[OVERLAP_SKIP] = "skip", [OVERLAP_QUEUE] = "queue"};
static const char *const catch_up_names[] = {
	[CATCH_UP_NONE] = "none", [CATCH_UP_LATEST] = "latest", [CATCH_UP_ALL] = "all"};

const char *task_overlap_name(enum task_overlap o)
{
	if ((unsigned)o < NELEM(overlap_names) && overlap_names[o])
		return overlap_names[o];
	return "?";
}

const char *task_catch_up_name(enum task_catch_up c)
{
	if ((unsigned)c < NELEM(catch_up_names) && catch_up_names[c])
		return catch_up_names[c];
	return "?";
}

/* Loader state: see taskfile_int.h. */

/* The array v of *cap elements with room for element n: v itself, a
 * larger copy (and *cap updated), or NULL when out of memory. */
static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return v;
	size_t ncap = *cap ? 2 * *cap : 16;
	void *nv = realloc(v, ncap * size);
	if (nv)
		*cap = ncap;
	return nv;
}

/* Record "PATH:LINE: KEY: message" (":LINE" and "KEY: " left out when
 * 0/NULL).  Out of memory is remembered in ld->oom. */
void taskfile__add_error(struct loader *ld, size_t file, int line, const char *key,
			 const char *fmt, ...)
{
	char where[16] = "", *msg, *text;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		ld->oom = true;
		return;
	}
	if (line > 0)
		snprintf(where, sizeof(where), ":%d", line);
	rc = asprintf(&text, "%s%s: %s%s%s", ld->paths[file], where, key ? key : "",
		      key ? ": " : "", msg);
	free(msg);
	if (rc < 0) {
		ld->oom = true;
		return;
	}
	struct err_entry *v = grow(ld->errs, &ld->errcap, ld->nerrs, sizeof(*v));
	if (!v) {
		free(text);
		ld->oom = true;
		return;
	}
	ld->errs = v;
	ld->errs[ld->nerrs] = (struct err_entry){file, line, ld->nerrs, text};
	ld->nerrs++;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool task_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > TASK_NAME_MAX || !is_alnum(s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* The name at p in a normalized list "a,b" into name; returns where the
 * next one starts (at the NUL after the last). */
const char *taskfile__next_name(const char *p, char name[static TASK_NAME_MAX + 1])
{
	size_t n = strcspn(p, ",");
	snprintf(name, TASK_NAME_MAX + 1, "%.*s", (int)n, p);
	return p + n + (p[n] == ',');
}

/* ---- key parsers ----------------------------------------------------- */

struct key_spec;
/* Parse value into the field of ld->cur; 0, or -EINVAL with a reason in
 * why (WHY_MAX bytes).  A parser writes its field only on success. */
typedef int (*key_parser)(struct loader *ld, const struct key_spec *k,
			  const char *value, char *why);

struct key_spec {
	const char *name;
	key_parser parse;
	size_t offset;            /* of the field in struct task_def */
	size_t size;              /* strings: buffer size */
	long long min, max;       /* integers; durations: min 0 allows "0" */
	const char *const *names; /* enums: names[1..nnames-1] */
	size_t nnames;
	bool required;
};

static int reject(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Put the reason in why (WHY_MAX bytes); returns -EINVAL. */
static int reject(char *why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, WHY_MAX, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void *field(struct loader *ld, const struct key_spec *k)
{
	return (char *)&ld->cur + k->offset;
}

static int parse_string(struct loader *ld, const struct key_spec *k,
			const char *value, char *why)
{
	size_t n = strlen(value);
	if (n == 0)
		return reject(why, "empty value");
	if (n >= k->size)
		return reject(why, "too long (%zu bytes, max %zu)", n, k->size - 1);
	memcpy(field(ld, k), value, n + 1);
	return 0;
}

static int parse_duration(struct loader *ld, const struct key_spec *k,
			  const char *value, char *why)
{
	char err[WHY_MAX - 64];
	int64_t ms = 0;

	if (!(k->min == 0 && strcmp(value, "0") == 0) &&
	    cron_parse_duration_ms(value, &ms, err, sizeof(err)) < 0) {
		/* cron.c may name the value itself; do not say it twice. */
		if (strstr(err, "duration"))
			return reject(why, "%s", err);
		return reject(why, "bad duration '%.32s': %s", value, err);
	}
	memcpy(field(ld, k), &ms, sizeof(ms));
	return 0;
}

static int parse_int(struct loader *ld, const struct key_spec *k,
		     const char *value, char *why)
{
	const char *digits = value + (*value == '-' || *value == '+');
	char *end;

	errno = 0;
	long long v = strtoll(value, &end, 10);
	if (*digits < '0' || *digits > '9' || *end != '\0')
		return reject(why, "bad integer '%.32s'", value);
	if (errno == ERANGE || v < k->min || v > k->max)
		return reject(why, "%.32s out of range %lld..%lld", value, k->min, k->max);
	int iv = (int)v;
	memcpy(field(ld, k), &iv, sizeof(iv));
	return 0;
}

_Static_assert(sizeof(enum task_overlap) == sizeof(int) &&
		       sizeof(enum task_catch_up) == sizeof(int),
	       "enum fields are written as int");

static int parse_enum(struct loader *ld, const struct key_spec *k,
		      const char *value, char *why)
{
	char valid[128] = "";
	size_t len = 0;

	for (size_t i = 1; i < k->nnames; i++) {
		if (strcmp(value, k->names[i]) == 0) {
			int iv = (int)i;
			memcpy(field(ld, k), &iv, sizeof(iv));
			return 0;
		}
		len += (size_t)snprintf(valid + len, sizeof(valid) - len, "%s%s",
					i > 1 ? ", " : "", k->names[i]);
	}
	return reject(why, "bad value '%.32s' (valid: %s)", value, valid);
}

static int parse_labels(struct loader *ld, const struct key_spec *k,
			const char *value, char *why)
{
	char out[TASK_LABELS_MAX + 1];
	int rc = labels_normalize(value, out, sizeof(out), why, WHY_MAX);
	if (rc == -ENOMEM)
		ld->oom = true;
	if (rc < 0)
		return -EINVAL;
	memcpy(field(ld, k), out, sizeof(out));
	return 0;
}

/* "a, b" into "a,b": valid names, none twice, not the task itself.
 * Whether they exist is known only once every file is loaded. */
static int parse_after(struct loader *ld, const struct key_spec *k,
		       const char *value, char *why)
{
	char out[TASK_AFTER_MAX + 1] = "", name[TASK_NAME_MAX + 1];
	const char *p = value, *end;
	size_t len = 0;

	for (; *value; p = end + 1) {
		end = p + strcspn(p, ",");
		const char *s = p + strspn(p, " \t"), *e = end;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		int n = (int)(e - s);
		if (n == 0)
			return reject(why, "empty task name (stray ',')");
		if (!task_name_valid(s, (size_t)n))
			return reject(why, "bad task name '%.*s' (%s)", n > 64 ? 64 : n, s,
				      TASK_NAME_RULE);
		if (strncmp(ld->cur.name, s, (size_t)n) == 0 && ld->cur.name[n] == '\0')
			return reject(why, "task '%s' cannot run after itself", ld->cur.name);
		for (const char *q = out; *q;) {
			q = taskfile__next_name(q, name);
			if (strncmp(name, s, (size_t)n) == 0 && name[n] == '\0')
				return reject(why, "'%s' listed twice", name);
		}
		if (len + (len > 0) + (size_t)n > TASK_AFTER_MAX)
			return reject(why, "too long (max %d bytes)", TASK_AFTER_MAX);
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%.*s", len ? "," : "",
					n, s);
		if (*end == '\0')
			break;
	}
	memcpy(field(ld, k), out, sizeof(out));
	return 0;
}

#define STR_FIELD(f) \
	.offset = offsetof(struct task_def, f), .size = sizeof(((struct task_def *)0)->f)
#define FIELD(f) .offset = offsetof(struct task_def, f)

static const struct key_spec keys[NKEYS] = {
	[K_COMMAND] = {"command", parse_string, STR_FIELD(command), .required = true},
	[K_SCHEDULE] = {"schedule", parse_string, STR_FIELD(schedule), .required = true},
	/* Kept where cron_parse() will put it; checked by finish_section(). */
	[K_TIMEZONE] = {"timezone", parse_string, STR_FIELD(cron.tz)},
	[K_TIMEOUT] = {"timeout", parse_duration, FIELD(timeout_ms), .min = 0},
	[K_OVERLAP] = {"overlap", parse_enum, FIELD(overlap), .names = overlap_names,
		       .nnames = NELEM(overlap_names)},
	[K_CATCH_UP] = {"catch_up", parse_enum, FIELD(catch_up), .names = catch_up_names,
			.nnames = NELEM(catch_up_names)},
	[K_RETRIES] = {"retries", parse_int, FIELD(retries), .min = 0, .max = 100},
	[K_RETRY_BACKOFF] = {"retry_backoff", parse_duration, FIELD(retry_backoff_ms), .min = 1},
	[K_PRIORITY] = {"priority", parse_int, FIELD(priority), .min = -1000, .max = 1000},
	[K_LABELS] = {"labels", parse_labels, STR_FIELD(labels)},
	[K_AFTER] = {"after", parse_after, STR_FIELD(after)},
	[K_DEBOUNCE] = {"debounce", parse_duration, FIELD(debounce_ms), .min = 0},
	[K_RETRY_BACKOFF_MAX] = {"retry_backoff_max", parse_duration,
				 FIELD(retry_backoff_max_ms), .min = 1},
};

/* ---- phase 1: sections and keys --------------------------------------- */

static void start_section(struct loader *ld, int line, const char *name)
{
	memset(&ld->cur, 0, sizeof(ld->cur));
	memset(ld->key_line, 0, sizeof(ld->key_line));
	snprintf(ld->cur.name, sizeof(ld->cur.name), "%s", name);
	snprintf(ld->cur.file, sizeof(ld->cur.file), "%s", ld->paths[ld->file]);
	ld->cur.line = line;
	ld->cur.overlap = OVERLAP_SKIP;
	ld->cur.catch_up = CATCH_UP_LATEST;
	ld->cur.retry_backoff_ms = 10 * 1000;
	ld->mode = MODE_TASK;
}

/* Close the current [task] section: required keys, the schedule parsed in
 * its time zone, and the task added to the loaded list. */
static void finish_section(struct loader *ld)
{
	struct task_def *d = &ld->cur;
	char why[WHY_MAX], tz[CRON_TZ_MAX] = "UTC";
	struct cron_expr probe;

	if (ld->mode != MODE_TASK)
		return;
	ld->mode = MODE_SKIP;
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].required && !ld->key_line[i])
			taskfile__add_error(ld, ld->file, d->line, keys[i].name, "missing required key");
	/* A bad zone is blamed on the timezone line, not on the schedule. */
	if (d->cron.tz[0]) {
		if (cron_parse("@daily", d->cron.tz, &probe, why, sizeof(why)) < 0)
			taskfile__add_error(ld, ld->file, ld->key_line[K_TIMEZONE], "timezone", "%s", why);
		else
			memcpy(tz, d->cron.tz, sizeof(tz));
	}
	if (d->schedule[0] && cron_parse(d->schedule, tz, &d->cron, why, sizeof(why)) < 0)
		taskfile__add_error(ld, ld->file, ld->key_line[K_SCHEDULE], "schedule",
			  "bad schedule '%.64s': %s", d->schedule, why);
	/* The cap of the exponential backoff (sched_retry.c): 32 x
	 * retry_backoff (5 doublings) unless set; never below retry_backoff. */
	if (!ld->key_line[K_RETRY_BACKOFF_MAX])
		d->retry_backoff_max_ms = d->retry_backoff_ms * 32;
	else if (d->retry_backoff_max_ms > 0 && d->retry_backoff_max_ms < d->retry_backoff_ms)
		taskfile__add_error(ld, ld->file, ld->key_line[K_RETRY_BACKOFF_MAX],
			  "retry_backoff_max", "must be at least retry_backoff (%lld ms), not %lld ms",
			  (long long)d->retry_backoff_ms, (long long)d->retry_backoff_max_ms);

	struct loaded *v = grow(ld->tasks, &ld->taskcap, ld->ntasks, sizeof(*v));
	if (!v) {
		ld->oom = true;
		return;
	}
	ld->tasks = v;
	ld->tasks[ld->ntasks] =
		(struct loaded){*d, ld->file, ld->ntasks, ld->key_line[K_AFTER]};
	ld->ntasks++;
}

static void on_header(struct loader *ld, int line, const char *section)
{
	finish_section(ld);
	ld->mode = MODE_SKIP;
	if (strncmp(section, "task", 4) != 0 || (section[4] != ' ' && section[4] != '\0'))
		taskfile__add_error(ld, ld->file, line, NULL,
			  "unknown section '[%.64s]' (expected '[task NAME]')", section);
	else if (section[4] == '\0')
		taskfile__add_error(ld, ld->file, line, NULL, "missing task name in '[task NAME]'");
	else if (!task_name_valid(section + 5, strlen(section + 5)))
		taskfile__add_error(ld, ld->file, line, NULL, "bad task name '%.64s' (%s)",
			  section + 5, TASK_NAME_RULE);
	else
		start_section(ld, line, section + 5);
}

static void on_key(struct loader *ld, int line, const char *key, const char *value)
{
	char why[WHY_MAX];
	size_t i = 0;

	if (ld->mode == MODE_SKIP)
		return;
	if (ld->mode == MODE_NONE) {
		taskfile__add_error(ld, ld->file, line, key, "key outside a '[task NAME]' section");
		return;
	}
	while (i < NKEYS && strcmp(keys[i].name, key) != 0)
		i++;
	if (i == NKEYS) {
		taskfile__add_error(ld, ld->file, line, key, "unknown key");
		return;
	}
	if (ld->key_line[i]) {
		taskfile__add_error(ld, ld->file, line, key, "duplicate key (first set at line %d)",
			  ld->key_line[i]);
		return;
	}
	ld->key_line[i] = line;
	if (keys[i].parse(ld, &keys[i], value, why) < 0)
		taskfile__add_error(ld, ld->file, line, key, "%s", why);
}

static int on_ini(void *arg, int line, const char *section, const char *key,
		  const char *value)
{
	struct loader *ld = arg;

	if (!key)
		on_header(ld, ld->line_base + line, section);
	else
		on_key(ld, ld->line_base + line, key, value);
	return ld->oom ? 1 : 0;
}

/* Whether line (in file text) is a section header, UTF-8 BOM or not. */
static bool is_header_line(const char *line)
{
	if (strncmp(line, "\xEF\xBB\xBF", 3) == 0)
		line += 3;
	return line[strspn(line, " \t")] == '[';
}

/* Feed text to the INI reader, resuming after each syntax error. */
static void parse_text(struct loader *ld, const char *text)
{
	const char *p = text;
	char why[WHY_MAX];
	int eline = 0;

	ld->mode = MODE_NONE;
	ld->line_base = 0;
	while (ini_parse_string(p, on_ini, ld, why, sizeof(why), &eline) == -EINVAL &&
	       !ld->oom) {
		taskfile__add_error(ld, ld->file, ld->line_base + eline, NULL, "%s", why);
		const char *bad = p;
		for (int i = 1; i < eline && bad; i++)
			if ((bad = strchr(bad, '\n')))
				bad++;
		if (!bad)
			break;
		/* "[task x" without ']': its keys belong to no known task. */
		if (is_header_line(bad)) {
			finish_section(ld);
			ld->mode = MODE_SKIP;
		}
		if (!(p = strchr(bad, '\n')))
			break;
		p++;
		ld->line_base += eline;
	}
	finish_section(ld);
}

static void load_file(struct loader *ld, size_t file)
{
	const char *path = ld->paths[file];
	char *text = NULL;
	size_t len = 0;
	int rc;

	ld->file = file;
	if (strlen(path) > TASK_PATH_MAX) {
		taskfile__add_error(ld, file, 0, NULL, "path longer than %d bytes", TASK_PATH_MAX);
		return;
	}
	rc = ini_read_file(path, &text, &len);
	if (rc == -ENOMEM) {
		ld->oom = true;
	} else if (rc < 0) {
		taskfile__add_error(ld, file, 0, NULL, "cannot read: %s", strerror(-rc));
		if (!ld->io_error)
			ld->io_error = rc;
	} else if (strlen(text) != len) {
		int line = 1;
		for (const char *p = text; *p; p++)
			line += *p == '\n';
		taskfile__add_error(ld, file, line, NULL, "NUL byte (not a text file?)");
	} else {
		parse_text(ld, text);
	}
	free(text);
}

/* ---- entry points ---------------------------------------------------- */

static int cmp_err(const void *pa, const void *pb)
{
	const struct err_entry *a = pa, *b = pb;
	if (a->file != b->file)
		return a->file < b->file ? -1 : 1;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

/* Every error, sorted, one per line, in one malloc'd string (or NULL). */
static char *join_errors(struct loader *ld)
{
	size_t len = 1;
	char *s, *p;

	qsort(ld->errs, ld->nerrs, sizeof(*ld->errs), cmp_err);
	for (size_t i = 0; i < ld->nerrs; i++)
		len += strlen(ld->errs[i].text) + 1;
	if (!(s = p = malloc(len)))
		return NULL;
	*p = '\0';
	for (size_t i = 0; i < ld->nerrs; i++)
		p = stpcpy(stpcpy(p, ld->errs[i].text), "\n");
	return s;
}

static void loader_free(struct loader *ld)
{
	for (size_t i = 0; i < ld->nerrs; i++)
		free(ld->errs[i].text);
	free(ld->errs);
	for (size_t i = 0; i < ld->npaths; i++)
		free(ld->paths[i]);
	free(ld->paths);
	free(ld->tasks);
}

/* Phases 1-3 over ld->paths, then the result as taskfile.h says. */
static int load_paths(struct loader *ld, struct task_set *out, char **errors)
{
	int rc = 0;

	for (size_t i = 0; i < ld->npaths && !ld->oom; i++)
		load_file(ld, i);
	if (!ld->oom)
		rc = taskfile__check_and_build(ld, out);
	if (ld->oom)
		rc = -ENOMEM;
	else if (rc == 0 && ld->nerrs > 0)
		rc = ld->io_error ? ld->io_error : -EINVAL;
	if (ld->nerrs > 0 && !(*errors = join_errors(ld)))
		rc = -ENOMEM;
	if (rc < 0)
		task_set_free(out);
	loader_free(ld);
	return rc;
}

/* "*.conf" and "*.ini", but no dot-file (editor and VCS leftovers). */
static int is_task_file(const struct dirent *e)
{
	const char *name = e->d_name;
	size_t n = strlen(name);
	return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".conf") == 0) ||
				  (n > 4 && strcmp(name + n - 4, ".ini") == 0));
}

/* Byte order, not alphasort(): the order must not depend on the locale. */
static int cmp_dirent(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Fill ld->paths with dir's task files, sorted by name.  0 or -errno. */
static int list_dir(struct loader *ld, const char *dir)
{
	size_t dlen = strlen(dir);
	const char *sep = dlen && dir[dlen - 1] == '/' ? "" : "/";
	struct dirent **names;
	int n = scandir(dir, &names, is_task_file, cmp_dirent);
	int rc = 0;

	if (n < 0)
		return -errno;
	ld->paths = calloc((size_t)n + 1, sizeof(*ld->paths));
	for (int i = 0; i < n; i++) {
		if (!ld->paths || asprintf(&ld->paths[ld->npaths], "%s%s%s", dir, sep,
					   names[i]->d_name) < 0)
			rc = -ENOMEM;
		else
			ld->npaths++;
		free(names[i]);
	}
	free(names);
	return ld->paths ? rc : -ENOMEM;
}

int taskfile_load_dir(const char *dir, struct task_set *out, char **errors)
{
	struct loader ld = {0};
	int rc;

	*out = (struct task_set){NULL, 0};
	*errors = NULL;
	rc = list_dir(&ld, dir);
	if (rc < 0) {
		if (rc != -ENOMEM &&
		    asprintf(errors, "%s: cannot read directory: %s\n", dir, strerror(-rc)) < 0)
			*errors = NULL;
		loader_free(&ld);
		return rc;
	}
	return load_paths(&ld, out, errors);
}

int taskfile_load_file(const char *path, struct task_set *out, char **errors)
{
	struct loader ld = {0};

	*out = (struct task_set){NULL, 0};
	*errors = NULL;
	if (!(ld.paths = malloc(sizeof(*ld.paths))) || !(ld.paths[0] = strdup(path))) {
		free(ld.paths);
		return -ENOMEM;
	}
	ld.npaths = 1;
	return load_paths(&ld, out, errors);
}

void task_set_free(struct task_set *ts)
{
	if (!ts)
		return;
	free(ts->tasks);
	ts->tasks = NULL;
	ts->n = 0;
}

static int cmp_name_def(const void *key, const void *elem)
{
	return strcmp(key, ((const struct task_def *)elem)->name);
}

const struct task_def *task_set_find(const struct task_set *ts, const char *name)
{
	if (!ts || ts->n == 0)
		return NULL;
	return bsearch(name, ts->tasks, ts->n, sizeof(*ts->tasks), cmp_name_def);
}
