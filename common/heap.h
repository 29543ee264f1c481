/*
 * heap.h - a binary min-heap of (key, seq, data) items.  Ties on key are
 * broken by insertion order (seq), so equal deadlines fire first-in,
 * first-out.  Used by the event loop's timers and the scheduler's due
 * times.  The heap owns only its array; data pointers are the caller's.
 */
#ifndef SCHED_HEAP_H
#define SCHED_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct heap_item {
	int64_t key;
	uint64_t seq;
	void *data;
};

struct heap {
	struct heap_item *items;
	size_t n, cap;
	uint64_t next_seq;
};

void heap_init(struct heap *h);
void heap_free(struct heap *h);
/* 0 or -ENOMEM. */
int heap_push(struct heap *h, int64_t key, void *data) __attribute__((warn_unused_result));
/* The smallest item, or NULL when empty (stays in the heap). */
const struct heap_item *heap_peek(const struct heap *h);
/* Remove the smallest item into *out; 0 or -ENOENT when empty. */
int heap_pop(struct heap *h, struct heap_item *out);

#endif
