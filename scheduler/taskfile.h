/*
 * taskfile.h - schedule files: a directory of INI files, one
 * "[task NAME]" section per task, loaded all at once into a task_set.
 *
 * Loading is all-or-nothing: either every file parses and the whole set
 * validates (no duplicate task, every `after` names a known task, no
 * cycle), or the caller gets every error found, one per line, each naming
 * "file:line: key: message", and no set.  The caller keeps running with its
 * previous set in that case.
 */
#ifndef SCHED_TASKFILE_H
#define SCHED_TASKFILE_H

#include <stddef.h>
#include <stdint.h>

#include "cron.h"

#define TASK_NAME_MAX 63       /* [A-Za-z0-9_.-], first char alnum */
#define TASK_COMMAND_MAX 900   /* a DISPATCH must fit a 1200-byte datagram */
#define TASK_SCHEDULE_MAX 127
#define TASK_LABELS_MAX 255    /* normalized "k=v,k=v", sorted by key */
#define TASK_AFTER_MAX 255     /* normalized "a,b", in file order */
#define TASK_PATH_MAX 255

enum task_overlap { OVERLAP_SKIP = 1, OVERLAP_QUEUE = 2 };
enum task_catch_up { CATCH_UP_NONE = 1, CATCH_UP_LATEST = 2, CATCH_UP_ALL = 3 };

struct task_def {
	char name[TASK_NAME_MAX + 1];
	char command[TASK_COMMAND_MAX + 1];
	char schedule[TASK_SCHEDULE_MAX + 1]; /* as written */
	struct cron_expr cron;                /* parsed, with timezone */
	int64_t timeout_ms;                   /* 0: none */
	enum task_overlap overlap;            /* default skip */
	enum task_catch_up catch_up;          /* default latest */
	int retries;                          /* default 0, max 100 */
	int64_t retry_backoff_ms;             /* default 10s */
	int64_t retry_backoff_max_ms;         /* default 32 x retry_backoff; >= it */
	int priority;                         /* default 0, -1000..1000 */
	char labels[TASK_LABELS_MAX + 1];     /* default "" */
	char after[TASK_AFTER_MAX + 1];       /* default "" */
	int64_t debounce_ms;                  /* default 0 */
	char file[TASK_PATH_MAX + 1];         /* where it was defined */
	int line;                             /* line of the [task] header */
};

struct task_set {
	struct task_def *tasks; /* sorted by name */
	size_t n;
};

/*
 * Load every "*.conf" and "*.ini" file of dir (sorted by name; other files
 * and dot-files are ignored).  On success returns 0 and fills *out (free
 * with task_set_free).  On failure returns -EINVAL (bad content) or a
 * negative errno (unreadable directory), leaves *out empty, and sets
 * *errors to a malloc'd text of one error per line (caller frees).
 * A directory without task files is a valid, empty set.
 */
int taskfile_load_dir(const char *dir, struct task_set *out, char **errors);

/* Same for one file (used by tests and by `schedd -n FILE`). */
int taskfile_load_file(const char *path, struct task_set *out, char **errors);

void task_set_free(struct task_set *ts);

/* The task called name, or NULL. */
const struct task_def *task_set_find(const struct task_set *ts, const char *name);

const char *task_overlap_name(enum task_overlap o);
const char *task_catch_up_name(enum task_catch_up c);

#endif
