/*
 * test_taskfile.c - loading schedule files.
 *
 * Golden directories under tests/data/taskfiles/ (run from the repository
 * root): good/ must load with every field right, bad/ must fail with
 * exactly the errors of bad/errors.golden.  Every other error case writes
 * its files into a fresh temporary directory, so the input sits next to
 * the assertion; each error is checked with its full "file:line: key:"
 * prefix.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "taskfile.h"

#define GOOD_DIR "tests/data/taskfiles/good"
#define BAD_DIR "tests/data/taskfiles/bad"

/* ---- a scratch directory per test ------------------------------------ */

static char tmpdir[64];
static char tmpfiles[16][128];
static size_t ntmpfiles;

static void scratch_init(void)
{
	strcpy(tmpdir, "/tmp/test_taskfile.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	ntmpfiles = 0;
}

static void scratch_fini(void)
{
	while (ntmpfiles > 0) {
		const char *p = tmpfiles[--ntmpfiles];
		if (unlink(p) < 0)
			rmdir(p);
	}
	rmdir(tmpdir);
}

TestSuite(taskfile, .init = scratch_init, .fini = scratch_fini);

/* Write name (inside the scratch directory) with text. */
static void put(const char *name, const char *text)
{
	cr_assert_lt(ntmpfiles, 16);
	char *path = tmpfiles[ntmpfiles++];
	snprintf(path, sizeof(tmpfiles[0]), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* Load the scratch directory, which must fail with -EINVAL and no set;
 * returns the error text (caller frees). */
static char *load_bad(void)
{
	struct task_set ts = {(void *)1, 99};
	char *errors = (void *)1;
	int rc = taskfile_load_dir(tmpdir, &ts, &errors);
	cr_assert_eq(rc, -EINVAL, "rc %d", rc);
	cr_assert_null(ts.tasks);
	cr_assert_eq(ts.n, 0);
	cr_assert_not_null(errors);
	return errors;
}

/* Whether some line of errors starts with "<tmpdir>/" + want. */
static bool has_error(const char *errors, const char *want)
{
	size_t dl = strlen(tmpdir);
	for (const char *p = errors; *p;) {
		if (strncmp(p, tmpdir, dl) == 0 && p[dl] == '/' &&
		    strncmp(p + dl + 1, want, strlen(want)) == 0)
			return true;
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return false;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* One file, one expected error: the whole error text is that one line. */
static void expect_only(const char *text, const char *want)
{
	put("t.conf", text);
	char *errors = load_bad();
	cr_assert(has_error(errors, want), "want '%s' in:\n%s", want, errors);
	cr_assert_eq(count_lines(errors), 1, "more than one error:\n%s", errors);
	free(errors);
}

#define TASK_HEAD "[task t]\ncommand = true\nschedule = @hourly\n"

/* ---- the good directory ---------------------------------------------- */

Test(taskfile, good_directory_loads_every_field)
{
	struct task_set ts;
	char *errors = NULL;
	int rc = taskfile_load_dir(GOOD_DIR, &ts, &errors);
	cr_assert_eq(rc, 0, "%s", errors ? errors : "");
	cr_assert_null(errors);
	/* .hidden.conf, README.txt and 30-old.conf.bak are not read. */
	cr_assert_eq(ts.n, 4);
	cr_assert_str_eq(ts.tasks[0].name, "backup");
	cr_assert_str_eq(ts.tasks[1].name, "db.vacuum");
	cr_assert_str_eq(ts.tasks[2].name, "ping_1");
	cr_assert_str_eq(ts.tasks[3].name, "rotate-logs");

	const struct task_def *b = task_set_find(&ts, "backup");
	cr_assert_eq(b, &ts.tasks[0]);
	cr_assert_str_eq(b->command, "/usr/local/bin/backup --all \"/srv/data\"");
	cr_assert_str_eq(b->schedule, "30 2 * * mon-fri");
	cr_assert_str_eq(b->cron.tz, "Europe/Berlin");
	cr_assert_not(b->cron.every);
	cr_assert_eq(b->timeout_ms, 90 * 60 * 1000);
	cr_assert_eq(b->overlap, OVERLAP_QUEUE);
	cr_assert_eq(b->catch_up, CATCH_UP_ALL);
	cr_assert_eq(b->retries, 3);
	cr_assert_eq(b->retry_backoff_ms, 120 * 1000);
	cr_assert_eq(b->priority, -5);
	cr_assert_str_eq(b->labels, "disk=ssd,zone=eu");
	cr_assert_str_eq(b->after, "rotate-logs,db.vacuum");
	cr_assert_eq(b->debounce_ms, 500);
	cr_assert_str_eq(b->file, GOOD_DIR "/10-backup.conf");
	cr_assert_eq(b->line, 4);

	const struct task_def *v = task_set_find(&ts, "db.vacuum");
	cr_assert_not_null(v);
	cr_assert_str_eq(v->command, "  psql -c 'vacuum'  ");
	cr_assert(v->cron.every);
	cr_assert_eq(v->cron.every_s, 900);
	cr_assert_eq(v->priority, 1000);
	cr_assert_str_eq(v->after, "rotate-logs");
	cr_assert_str_eq(v->file, GOOD_DIR "/20-web.ini");
	cr_assert_eq(v->line, 2);

	const struct task_def *p = task_set_find(&ts, "ping_1");
	cr_assert_not_null(p);
	cr_assert_str_eq(p->command, "curl -fsS http://localhost/health # not a comment");
	cr_assert_eq(p->timeout_ms, 0);
	cr_assert_eq(p->overlap, OVERLAP_SKIP);
	cr_assert_eq(p->catch_up, CATCH_UP_NONE);
	cr_assert_eq(p->retries, 100);
	cr_assert_str_eq(p->labels, "");
	cr_assert_eq(p->cron.minutes, 0x84210842108421ULL); /* 0,5,...,55 */

	cr_assert_null(task_set_find(&ts, "hidden"));
	cr_assert_null(task_set_find(&ts, "nope"));
	task_set_free(&ts);
	cr_assert_null(ts.tasks);
	cr_assert_eq(ts.n, 0);
}

Test(taskfile, defaults_apply)
{
	put("t.conf", "[task t]\ncommand = true\nschedule = 0 * * * *\n");
	struct task_set ts;
	char *errors = NULL;
	cr_assert_eq(taskfile_load_dir(tmpdir, &ts, &errors), 0, "%s", errors);
	cr_assert_eq(ts.n, 1);
	const struct task_def *t = &ts.tasks[0];
	cr_assert_str_eq(t->cron.tz, "UTC");
	cr_assert_eq(t->timeout_ms, 0);
	cr_assert_eq(t->overlap, OVERLAP_SKIP);
	cr_assert_eq(t->catch_up, CATCH_UP_LATEST);
	cr_assert_eq(t->retries, 0);
	cr_assert_eq(t->retry_backoff_ms, 10 * 1000);
	cr_assert_eq(t->retry_backoff_max_ms, 32 * 10 * 1000);
	cr_assert_eq(t->priority, 0);
	cr_assert_str_eq(t->labels, "");
	cr_assert_str_eq(t->after, "");
	cr_assert_eq(t->debounce_ms, 0);
	cr_assert_str_eq(task_overlap_name(t->overlap), "skip");
	cr_assert_str_eq(task_catch_up_name(t->catch_up), "latest");
	cr_assert_str_eq(task_catch_up_name(CATCH_UP_ALL), "all");
	cr_assert_str_eq(task_overlap_name((enum task_overlap)0), "?");
	task_set_free(&ts);
}

Test(taskfile, empty_directory_is_an_empty_set)
{
	struct task_set ts;
	char *errors = NULL;
	put("notes.txt", "whatever\n");
	cr_assert_eq(taskfile_load_dir(tmpdir, &ts, &errors), 0);
	cr_assert_null(errors);
	cr_assert_eq(ts.n, 0);
	cr_assert_null(task_set_find(&ts, "x"));
	task_set_free(&ts);
}

Test(taskfile, load_one_file)
{
	struct task_set ts;
	char *errors = NULL;
	int rc = taskfile_load_file(GOOD_DIR "/10-backup.conf", &ts, &errors);
	/* backup runs after db.vacuum, which lives in the other file. */
	cr_assert_eq(rc, -EINVAL);
	cr_assert_str_eq(errors, GOOD_DIR "/10-backup.conf:15: after: unknown task 'db.vacuum'\n");
	free(errors);

	put("one.txt", TASK_HEAD);
	char path[128];
	snprintf(path, sizeof(path), "%s/one.txt", tmpdir);
	cr_assert_eq(taskfile_load_file(path, &ts, &errors), 0);
	cr_assert_eq(ts.n, 1);
	cr_assert_str_eq(ts.tasks[0].file, path);
	task_set_free(&ts);

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	cr_assert_eq(taskfile_load_file(path, &ts, &errors), -ENOENT);
	cr_assert_null(ts.tasks);
	cr_assert(strstr(errors, "missing.conf: cannot read: No such file"), "%s", errors);
	free(errors);
}

/* ---- unreadable input ------------------------------------------------- */

Test(taskfile, missing_directory)
{
	struct task_set ts;
	char *errors = NULL;
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/nope", tmpdir);
	cr_assert_eq(taskfile_load_dir(dir, &ts, &errors), -ENOENT);
	cr_assert_null(ts.tasks);
	cr_assert_eq(ts.n, 0);
	cr_assert_not_null(errors);
	cr_assert(strstr(errors, "/nope: cannot read directory: No such file or directory\n"),
		  "%s", errors);
	free(errors);
}

Test(taskfile, directory_named_like_a_task_file)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/sub.conf", tmpdir);
	cr_assert_eq(mkdir(path, 0755), 0);
	strcpy(tmpfiles[ntmpfiles++], path);
	put("ok.conf", TASK_HEAD);

	struct task_set ts;
	char *errors = NULL;
	cr_assert_eq(taskfile_load_dir(tmpdir, &ts, &errors), -EISDIR);
	cr_assert_null(ts.tasks);
	cr_assert(has_error(errors, "sub.conf: cannot read: Is a directory"), "%s", errors);
	free(errors);
}

/* ---- one test per error kind, each with its file:line: key: prefix ----- */

Test(taskfile, unknown_key)
{
	expect_only(TASK_HEAD "colour = blue\n", "t.conf:4: colour: unknown key");
}

Test(taskfile, bad_cron_field_includes_the_cron_message)
{
	put("t.conf", "[task t]\ncommand = true\nschedule = 61 * * * *\n");
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:3: schedule: bad schedule '61 * * * *': "), "%s", errors);
	cr_assert(strstr(errors, "minute field"), "%s", errors);
	cr_assert_eq(count_lines(errors), 1);
	free(errors);
}

Test(taskfile, bad_timezone_is_blamed_on_its_own_line)
{
	put("t.conf", "[task t]\ncommand = true\nschedule = @daily\ntimezone = Mars/Base\n");
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:4: timezone: unknown time zone 'Mars/Base'"), "%s", errors);
	cr_assert_eq(count_lines(errors), 1, "%s", errors);
	free(errors);
}

Test(taskfile, bad_durations)
{
	put("t.conf", TASK_HEAD "timeout = 5 minutes\nretry_backoff = 0\ndebounce = -1s\n");
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:4: timeout: "), "%s", errors);
	cr_assert(has_error(errors, "t.conf:5: retry_backoff: "), "%s", errors);
	cr_assert(has_error(errors, "t.conf:6: debounce: "), "%s", errors);
	cr_assert(strstr(errors, "bad duration '5 minutes'"), "%s", errors);
	cr_assert_eq(count_lines(errors), 3, "%s", errors);
	free(errors);
}

Test(taskfile, bad_integers_and_ranges)
{
	put("t.conf", TASK_HEAD "retries = many\npriority = 1001\n"
			       "[task u]\ncommand = true\nschedule = @daily\n"
			       "retries = 101\npriority = -1001\n"
			       "[task v]\ncommand = true\nschedule = @daily\n"
			       "retries = 3x\npriority = 99999999999999999999\n");
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:4: retries: bad integer 'many'\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:5: priority: 1001 out of range -1000..1000\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:9: retries: 101 out of range 0..100\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:10: priority: -1001 out of range -1000..1000\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:14: retries: bad integer '3x'\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:15: priority: 99999999999999999999 out of range"), "%s", errors);
	cr_assert_eq(count_lines(errors), 6, "%s", errors);
	free(errors);
}

Test(taskfile, bad_enum_values_list_the_valid_ones)
{
	put("t.conf", TASK_HEAD "overlap = parallel\ncatch_up = LATEST\n");
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:4: overlap: bad value 'parallel' (valid: skip, queue)\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:5: catch_up: bad value 'LATEST' (valid: none, latest, all)\n"), "%s", errors);
	free(errors);
}

Test(taskfile, missing_required_keys_point_at_the_header)
{
	put("t.conf", "# comment\n\n[task t]\npriority = 1\n");
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:3: command: missing required key\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:3: schedule: missing required key\n"), "%s", errors);
	cr_assert_eq(count_lines(errors), 2, "%s", errors);
	free(errors);
}

Test(taskfile, duplicate_task_names_the_first_definition)
{
	put("a.conf", "\n\n[task x]\ncommand = true\nschedule = @daily\n");
	put("b.conf", "[task x]\ncommand = false\nschedule = @daily\n"
		      "[task x]\ncommand = false\nschedule = @daily\n");
	char *errors = load_bad();
	char want[256];
	snprintf(want, sizeof(want), "b.conf:1: duplicate task 'x' (first defined at %s/a.conf:3)\n", tmpdir);
	cr_assert(has_error(errors, want), "%s", errors);
	snprintf(want, sizeof(want), "b.conf:4: duplicate task 'x' (first defined at %s/a.conf:3)\n", tmpdir);
	cr_assert(has_error(errors, want), "%s", errors);
	cr_assert_eq(count_lines(errors), 2, "%s", errors);
	free(errors);
}

Test(taskfile, duplicate_key)
{
	expect_only(TASK_HEAD "\ncommand = false\n",
		    "t.conf:5: command: duplicate key (first set at line 2)\n");
}

Test(taskfile, unknown_dependency)
{
	expect_only(TASK_HEAD "after = nope\n", "t.conf:4: after: unknown task 'nope'\n");
}

Test(taskfile, cycle_is_reported_with_its_path)
{
	put("a.conf", "[task a]\ncommand = true\nschedule = @daily\nafter = c\n");
	put("b.conf", "[task b]\ncommand = true\nschedule = @daily\nafter = a\n"
		      "[task c]\ncommand = true\nschedule = @daily\nafter = b\n"
		      "[task d]\ncommand = true\nschedule = @daily\nafter = c, a\n");
	char *errors = load_bad();
	cr_assert(has_error(errors, "a.conf:4: after: cycle a -> c -> b -> a\n"), "%s", errors);
	cr_assert_eq(count_lines(errors), 1, "%s", errors);
	free(errors);
}

Test(taskfile, two_task_cycle)
{
	expect_only("[task a]\ncommand = true\nschedule = @daily\nafter = b\n"
		    "[task b]\ncommand = true\nschedule = @daily\nafter = a\n",
		    "t.conf:4: after: cycle a -> b -> a\n");
}

Test(taskfile, bad_after_lists)
{
	put("t.conf", TASK_HEAD "after = t\n"
			       "[task u]\ncommand = true\nschedule = @daily\nafter = t, t\n"
			       "[task v]\ncommand = true\nschedule = @daily\nafter = t,,u\n"
			       "[task w]\ncommand = true\nschedule = @daily\nafter = -x\n");
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:4: after: task 't' cannot run after itself\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:8: after: 't' listed twice\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:12: after: empty task name (stray ',')\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:16: after: bad task name '-x'"), "%s", errors);
	cr_assert_eq(count_lines(errors), 4, "%s", errors);
	free(errors);
}

Test(taskfile, syntax_error_line_without_equals)
{
	expect_only(TASK_HEAD "just words\n",
		    "t.conf:4: expected 'key = value' (no '=' in line)\n");
}

Test(taskfile, syntax_error_unterminated_header_skips_its_keys)
{
	/* The keys of the broken section are not blamed on task t. */
	expect_only(TASK_HEAD "[task u\ncommand = x\nbogus = 1\n",
		    "t.conf:4: unterminated section header (missing ']')\n");
}

Test(taskfile, syntax_error_overlong_line)
{
	char *text = malloc(8192);
	strcpy(text, TASK_HEAD "labels = ");
	size_t n = strlen(text);
	memset(text + n, 'x', 5000);
	strcpy(text + n + 5000, "\n");
	put("t.conf", text);
	free(text);
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:4: line too long (more than 4096 bytes)\n"), "%s", errors);
	cr_assert_eq(count_lines(errors), 1, "%s", errors);
	free(errors);
}

Test(taskfile, parsing_goes_on_after_a_syntax_error)
{
	put("t.conf", TASK_HEAD "oops\ncolour = red\noops again\npriority = high\n"
			       "[task u]\nschedule = @daily\n");
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:4: expected 'key = value'"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:5: colour: unknown key\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:6: expected 'key = value'"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:7: priority: bad integer 'high'\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:8: command: missing required key\n"), "%s", errors);
	cr_assert_eq(count_lines(errors), 5, "%s", errors);
	free(errors);
}

Test(taskfile, command_too_long_or_empty)
{
	char *text = malloc(2048);
	strcpy(text, "[task t]\nschedule = @daily\ncommand = ");
	size_t n = strlen(text);
	memset(text + n, 'x', TASK_COMMAND_MAX + 1);
	strcpy(text + n + TASK_COMMAND_MAX + 1, "\n[task u]\nschedule = @daily\ncommand = \"\"\n");
	put("t.conf", text);
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:3: command: too long (901 bytes, max 900)\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:6: command: empty value\n"), "%s", errors);
	cr_assert_eq(count_lines(errors), 2, "%s", errors);
	free(errors);

	/* Exactly TASK_COMMAND_MAX bytes fits. */
	scratch_fini();
	scratch_init();
	strcpy(text + n + TASK_COMMAND_MAX, "\n");
	put("t.conf", text);
	struct task_set ts;
	cr_assert_eq(taskfile_load_dir(tmpdir, &ts, &errors), 0, "%s", errors);
	cr_assert_eq(strlen(ts.tasks[0].command), TASK_COMMAND_MAX);
	task_set_free(&ts);
	free(text);
}

Test(taskfile, sections_and_names)
{
	put("t.conf", "command = true\n"
		      "[tasks]\nx = 1\n"
		      "[task]\n"
		      "[task -bad]\n"
		      "[task way_too_long_0123456789012345678901234567890123456789012345678901]\n"
		      "[task ok.name-1]\ncommand = true\nschedule = @daily\n");
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:1: command: key outside a '[task NAME]' section\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:2: unknown section '[tasks]' (expected '[task NAME]')\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:4: missing task name in '[task NAME]'\n"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:5: bad task name '-bad'"), "%s", errors);
	cr_assert(has_error(errors, "t.conf:6: bad task name 'way_too_long"), "%s", errors);
	cr_assert_eq(count_lines(errors), 5, "%s", errors);
	free(errors);
}

Test(taskfile, bad_labels)
{
	expect_only(TASK_HEAD "labels = zone=eu, zone=us\n",
		    "t.conf:4: labels: duplicate label key 'zone'\n");
}

Test(taskfile, nul_byte)
{
	put("t.conf", TASK_HEAD);
	FILE *f = fopen(tmpfiles[0], "a");
	fwrite("x=\0\n", 1, 4, f);
	fclose(f);
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:4: NUL byte"), "%s", errors);
	free(errors);
}

/* ---- the whole picture ------------------------------------------------ */

Test(taskfile, golden_bad_directory_reports_every_error_in_order)
{
	struct task_set ts;
	char *errors = NULL;
	int rc = taskfile_load_dir(BAD_DIR, &ts, &errors);
	cr_assert_eq(rc, -EINVAL);
	cr_assert_null(ts.tasks);

	FILE *f = fopen(BAD_DIR "/errors.golden", "r");
	cr_assert_not_null(f, "run the tests from the repository root");
	char want[4096];
	size_t n = fread(want, 1, sizeof(want) - 1, f);
	want[n] = '\0';
	fclose(f);
	cr_assert_str_eq(errors, want);
	free(errors);
}

Test(taskfile, failed_load_leaves_the_previous_set_alone)
{
	struct task_set a, b;
	char *errors = NULL;

	cr_assert_eq(taskfile_load_dir(GOOD_DIR, &a, &errors), 0);
	struct task_def before = a.tasks[0];

	/* One bad file among good ones: nothing at all is loaded. */
	put("1-good.conf", TASK_HEAD);
	put("2-bad.conf", "[task u]\ncommand = true\nschedule = @daily\ntimeout = soon\n");
	cr_assert_eq(taskfile_load_dir(tmpdir, &b, &errors), -EINVAL);
	cr_assert_null(b.tasks);
	cr_assert_eq(b.n, 0);
	cr_assert(has_error(errors, "2-bad.conf:4: timeout: "), "%s", errors);
	free(errors);

	/* The old set is untouched and still usable. */
	cr_assert_eq(a.n, 4);
	cr_assert_eq(memcmp(&a.tasks[0], &before, sizeof(before)), 0);
	const struct task_def *t = task_set_find(&a, "rotate-logs");
	cr_assert_not_null(t);
	cr_assert_str_eq(t->schedule, "@daily");
	task_set_free(&a);
}

Test(taskfile, trailing_slash_in_directory)
{
	put("t.conf", TASK_HEAD "colour = 1\n");
	char dir[80], *errors = NULL;
	struct task_set ts;
	snprintf(dir, sizeof(dir), "%s/", tmpdir);
	cr_assert_eq(taskfile_load_dir(dir, &ts, &errors), -EINVAL);
	cr_assert(has_error(errors, "t.conf:4: colour: unknown key"), "%s", errors);
	cr_assert_null(strstr(errors, "//"));
	free(errors);
}

/* retry_backoff_max: 32 x retry_backoff unless set, a duration, never
 * below retry_backoff (blamed on its own line). */
Test(taskfile, retry_backoff_max)
{
	put("a.conf", "[task a]\ncommand = true\nschedule = @hourly\nretry_backoff = 2s\n"
		      "[task b]\ncommand = true\nschedule = @hourly\nretry_backoff = 2s\n"
		      "retry_backoff_max = 1m\n");
	struct task_set ts;
	char *errors = NULL;
	cr_assert_eq(taskfile_load_dir(tmpdir, &ts, &errors), 0, "%s", errors);
	cr_assert_eq(ts.n, 2);
	cr_assert_eq(ts.tasks[0].retry_backoff_max_ms, 64 * 1000);
	cr_assert_eq(ts.tasks[1].retry_backoff_max_ms, 60 * 1000);
	task_set_free(&ts);
}

Test(taskfile, bad_retry_backoff_max)
{
	put("t.conf", TASK_HEAD "retry_backoff = 1m\nretry_backoff_max = 30s\n"
		      "[task u]\ncommand = true\nschedule = @hourly\nretry_backoff_max = soon\n");
	char *errors = load_bad();
	cr_assert(has_error(errors, "t.conf:5: retry_backoff_max: must be at least retry_backoff"),
		  "%s", errors);
	cr_assert(has_error(errors, "t.conf:9: retry_backoff_max: "), "%s", errors);
	cr_assert_eq(count_lines(errors), 2, "%s", errors);
	free(errors);
}
