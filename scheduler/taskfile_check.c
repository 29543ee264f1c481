/*
 * taskfile_check.c - phases 2 and 3 of loading schedule files (see
 * taskfile.c): the set as a whole.  Duplicate names, `after` naming an
 * unknown task and cycles through `after` are reported with file:line;
 * only a set without any error is built, sorted by name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taskfile_int.h"

static int cmp_loaded(const void *pa, const void *pb)
{
	const struct loaded *a = *(const struct loaded *const *)pa;
	const struct loaded *b = *(const struct loaded *const *)pb;
	int c = strcmp(a->def.name, b->def.name);
	return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

static int cmp_name_loaded(const void *key, const void *elem)
{
	return strcmp(key, (*(const struct loaded *const *)elem)->def.name);
}

/* Index in uniq (sorted by name) of the task called name, or -1. */
static long find_task(struct loaded **uniq, size_t n, const char *name)
{
	struct loaded **t = bsearch(name, uniq, n, sizeof(*uniq), cmp_name_loaded);
	return t ? (long)(t - uniq) : -1;
}

/* Report a cycle: stack[from..top], then back to stack[from]. */
static void report_cycle(struct loader *ld, struct loaded **uniq, const size_t *stack,
			 size_t from, size_t top)
{
	size_t cap = (top - from + 2) * (TASK_NAME_MAX + 4) + 1, len = 0;
	char *path = malloc(cap);

	if (!path) {
		ld->oom = true;
		return;
	}
	for (size_t i = from; i <= top + 1; i++)
		len += (size_t)snprintf(path + len, cap - len, "%s%s", i > from ? " -> " : "",
					uniq[stack[i > top ? from : i]]->def.name);
	const struct loaded *t = uniq[stack[from]];
	taskfile__add_error(ld, t->file, t->after_line, "after", "cycle %s", path);
	free(path);
}

/*
 * Depth-first search over `after` edges, iterative so that a long chain
 * cannot overflow the C stack.  color: 0 new, 1 on the stack, 2 done;
 * next[u]: where u's `after` list resumes; depth[u]: u's stack slot.
 */
static void check_cycles(struct loader *ld, struct loaded **uniq, size_t n)
{
	unsigned char *color = calloc(n + 1, 1);
	const char **next = calloc(n + 1, sizeof(*next));
	size_t *stack = calloc(n + 1, sizeof(*stack));
	size_t *depth = calloc(n + 1, sizeof(*depth));
	char name[TASK_NAME_MAX + 1];

	if (!color || !next || !stack || !depth) {
		ld->oom = true;
		goto out;
	}
	for (size_t root = 0; root < n; root++) {
		size_t top = 0;
		if (color[root])
			continue;
		stack[0] = root;
		color[root] = 1;
		next[root] = uniq[root]->def.after;
		while (color[root] != 2) {
			size_t u = stack[top];
			if (*next[u] == '\0') {
				color[u] = 2;
				top -= top > 0;
				continue;
			}
			next[u] = taskfile__next_name(next[u], name);
			long v = find_task(uniq, n, name);
			if (v < 0) /* reported by check_after() */
				continue;
			if (color[v] == 1) {
				report_cycle(ld, uniq, stack, depth[v], top);
			} else if (color[v] == 0) {
				stack[++top] = (size_t)v;
				depth[v] = top;
				color[v] = 1;
				next[v] = uniq[v]->def.after;
			}
		}
	}
out:
	free(depth);
	free(stack);
	free(next);
	free(color);
}

/* See taskfile_int.h. */
int taskfile__check_and_build(struct loader *ld, struct task_set *out)
{
	struct loaded **all = calloc(ld->ntasks + 1, sizeof(*all));
	char name[TASK_NAME_MAX + 1];
	size_t n = 0;
	int rc = 0;

	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < ld->ntasks; i++)
		all[i] = &ld->tasks[i];
	qsort(all, ld->ntasks, sizeof(*all), cmp_loaded);
	for (size_t i = 0; i < ld->ntasks; i++) {
		const struct loaded *first = n ? all[n - 1] : NULL;
		if (first && strcmp(first->def.name, all[i]->def.name) == 0)
			taskfile__add_error(ld, all[i]->file, all[i]->def.line, NULL,
				  "duplicate task '%s' (first defined at %s:%d)",
				  all[i]->def.name, ld->paths[first->file], first->def.line);
		else
			all[n++] = all[i];
	}
	for (size_t i = 0; i < ld->ntasks; i++) {
		const struct loaded *t = &ld->tasks[i];
		for (const char *p = t->def.after; *p;) {
			p = taskfile__next_name(p, name);
			if (find_task(all, n, name) < 0)
				taskfile__add_error(ld, t->file, t->after_line, "after",
					  "unknown task '%s'", name);
		}
	}
	check_cycles(ld, all, n);
	if (ld->oom || ld->nerrs > 0)
		goto out;
	out->tasks = calloc(n + 1, sizeof(*out->tasks));
	if (!out->tasks) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		out->tasks[i] = all[i]->def;
	out->n = n;
out:
	free(all);
	return rc;
}

