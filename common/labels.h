/*
 * labels.h - node labels ("k=v,k=v") and task label requirements.
 * A worker carries labels; a task lists the labels a worker must carry.
 */
#ifndef SCHED_LABELS_H
#define SCHED_LABELS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Normalize "k=v, k2 = v2" into "k=v,k2=v2" sorted by key.  Keys and
 * values are [A-Za-z0-9_.-/]+, at most 63 bytes each; a key may appear
 * once.  An empty string is a valid, empty set.  Returns 0, or -EINVAL
 * with a reason in err, or -ENAMETOOLONG if the result does not fit.
 */
int labels_normalize(const char *in, char *out, size_t outlen, char *err, size_t errlen);

/* True when every k=v of `required` (normalized) is in `carried`
 * (normalized).  An empty requirement matches every worker. */
bool labels_match(const char *required, const char *carried);

#endif
