/*
 * runstate.c - names and predicates for run states (see runstate.h).
 */
#include "runstate.h"

#include <errno.h>
#include <string.h>

static const char *const state_names[] = {
	[RUN_PENDING] = "pending",     [RUN_DISPATCHED] = "dispatched",
	[RUN_RUNNING] = "running",     [RUN_SUCCEEDED] = "succeeded",
	[RUN_FAILED] = "failed",       [RUN_TIMED_OUT] = "timed_out",
	[RUN_CANCELLED] = "cancelled", [RUN_SKIPPED] = "skipped",
	[RUN_FENCING] = "fencing",     [RUN_LOST] = "lost",
};

static const char *const reason_names[] = {
	[REASON_SCHEDULE] = "schedule",
	[REASON_MANUAL] = "manual",
	[REASON_RETRY] = "retry",
	[REASON_CATCH_UP] = "catch_up",
	[REASON_TRIGGER] = "trigger",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *run_state_name(enum run_state s)
{
	if ((unsigned)s < NELEM(state_names) && state_names[s])
		return state_names[s];
	return "?";
}

const char *run_reason_name(enum run_reason r)
{
	if ((unsigned)r < NELEM(reason_names) && reason_names[r])
		return reason_names[r];
	return "?";
}

static int lookup(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(names[i], name) == 0)
			return (int)i;
	return -EINVAL;
}

int run_state_parse(const char *name, enum run_state *out)
{
	int v = lookup(state_names, NELEM(state_names), name);
	if (v < 0)
		return v;
	*out = (enum run_state)v;
	return 0;
}

int run_reason_parse(const char *name, enum run_reason *out)
{
	int v = lookup(reason_names, NELEM(reason_names), name);
	if (v < 0)
		return v;
	*out = (enum run_reason)v;
	return 0;
}

bool run_state_active(enum run_state s)
{
	return s == RUN_DISPATCHED || s == RUN_RUNNING || s == RUN_FENCING;
}

bool run_state_terminal(enum run_state s)
{
	return s == RUN_SUCCEEDED || s == RUN_FAILED || s == RUN_TIMED_OUT ||
	       s == RUN_CANCELLED || s == RUN_SKIPPED || s == RUN_LOST;
}
