/*
 * taskfile_int.h - the schedule-file loader's state, shared by its two
 * files: taskfile.c (phase 1, files and keys) and taskfile_check.c
 * (phases 2 and 3, the set as a whole).  Not an interface: see taskfile.h.
 */
#ifndef SCHED_TASKFILE_INT_H
#define SCHED_TASKFILE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "taskfile.h"

enum key_id { K_COMMAND, K_SCHEDULE, K_TIMEZONE, K_TIMEOUT, K_OVERLAP,
	      K_CATCH_UP, K_RETRIES, K_RETRY_BACKOFF, K_PRIORITY, K_LABELS,
	      K_AFTER, K_DEBOUNCE, K_RETRY_BACKOFF_MAX, NKEYS };

struct err_entry {
	size_t file; /* index in loader.paths */
	int line;    /* 0: about the whole file */
	size_t seq;  /* keeps the order of errors found on one line */
	char *text;  /* "FILE:LINE: KEY: message" */
};

/* A task as parsed, with what the set-wide checks need. */
struct loaded {
	struct task_def def;
	size_t file, seq; /* seq: load order; the first definition wins */
	int after_line;
};

enum mode { MODE_NONE /* before any header */, MODE_TASK, MODE_SKIP /* bad header */ };

struct loader {
	char **paths; /* files in load order, as opened */
	size_t npaths;
	struct loaded *tasks;
	size_t ntasks, taskcap;
	struct err_entry *errs;
	size_t nerrs, errcap;
	int io_error; /* first negative errno of a read, or 0 */
	bool oom;

	/* The file and section being parsed. */
	size_t file;
	int line_base; /* lines before the text given to the INI reader */
	enum mode mode;
	struct task_def cur;
	int key_line[NKEYS]; /* 0: not seen yet */
};

/* Record "PATH:LINE: KEY: message" (":LINE" and "KEY: " left out when
 * 0/NULL).  Out of memory is remembered in ld->oom. */
void taskfile__add_error(struct loader *ld, size_t file, int line, const char *key,
			 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Copy the next name of a normalized "a,b" list into name; returns where
 * the rest of the list starts. */
const char *taskfile__next_name(const char *p, char name[static TASK_NAME_MAX + 1]);

/*
 * Check the loaded tasks as a set (every definition's `after` must name a
 * task; a name is defined once; no cycle) and, when no error at all was
 * found, build *out.  Returns 0 or -ENOMEM.
 */
int taskfile__check_and_build(struct loader *ld, struct task_set *out);

#endif
