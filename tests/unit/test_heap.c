/*
 * test_heap.c - the binary min-heap: pops come out by key, equal keys in
 * insertion order (FIFO), an empty heap says -ENOENT, and a large random
 * load pops sorted.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "heap.h"

Test(heap, empty_peek_and_pop, .timeout = 10)
{
	struct heap h;
	heap_init(&h);
	cr_assert_null(heap_peek(&h));
	struct heap_item it = {.key = 42, .seq = 7, .data = &h};
	cr_assert_eq(heap_pop(&h, &it), -ENOENT);
	/* out is untouched on failure */
	cr_assert_eq(it.key, 42);
	cr_assert_eq(it.data, &h);
	heap_free(&h);
}

Test(heap, pops_in_key_order, .timeout = 10)
{
	struct heap h;
	heap_init(&h);
	int64_t keys[] = {50, -3, 7, 1000, 0, 7 + 1, INT64_MAX, INT64_MIN, 12};
	size_t n = sizeof(keys) / sizeof(keys[0]);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(heap_push(&h, keys[i], &keys[i]), 0);
	cr_assert_eq(h.n, n);

	const struct heap_item *top = heap_peek(&h);
	cr_assert_not_null(top);
	cr_assert_eq(top->key, INT64_MIN);
	cr_assert_eq(h.n, n, "peek must not remove");

	int64_t want[] = {INT64_MIN, -3, 0, 7, 8, 12, 50, 1000, INT64_MAX};
	for (size_t i = 0; i < n; i++) {
		struct heap_item it;
		cr_assert_eq(heap_pop(&h, &it), 0);
		cr_assert_eq(it.key, want[i], "pop %zu: key %lld, want %lld", i,
			     (long long)it.key, (long long)want[i]);
		/* the data pointer travels with its key */
		cr_assert_eq(*(int64_t *)it.data, it.key);
	}
	struct heap_item it;
	cr_assert_eq(heap_pop(&h, &it), -ENOENT);
	cr_assert_null(heap_peek(&h));
	heap_free(&h);
}

Test(heap, equal_keys_are_fifo, .timeout = 10)
{
	struct heap h;
	heap_init(&h);
	int tags[40];
	/* interleave two keys so ties are spread through the tree */
	for (int i = 0; i < 40; i++) {
		tags[i] = i;
		cr_assert_eq(heap_push(&h, (i % 2) ? 5 : 9, &tags[i]), 0);
	}
	int last5 = -1, last9 = -1;
	for (int i = 0; i < 40; i++) {
		struct heap_item it;
		cr_assert_eq(heap_pop(&h, &it), 0);
		int tag = *(int *)it.data;
		if (i < 20) {
			cr_assert_eq(it.key, 5, "pop %d: key %lld", i, (long long)it.key);
			cr_assert_gt(tag, last5, "FIFO broken for key 5: %d after %d", tag,
				     last5);
			last5 = tag;
		} else {
			cr_assert_eq(it.key, 9);
			cr_assert_gt(tag, last9, "FIFO broken for key 9: %d after %d", tag,
				     last9);
			last9 = tag;
		}
	}
	heap_free(&h);
}

Test(heap, fifo_ties_survive_interleaved_pops, .timeout = 10)
{
	struct heap h;
	heap_init(&h);
	int a = 1, b = 2, c = 3, d = 4;
	cr_assert_eq(heap_push(&h, 10, &a), 0);
	cr_assert_eq(heap_push(&h, 10, &b), 0);
	struct heap_item it;
	cr_assert_eq(heap_pop(&h, &it), 0);
	cr_assert_eq(it.data, &a);
	cr_assert_eq(heap_push(&h, 10, &c), 0);
	cr_assert_eq(heap_push(&h, 1, &d), 0);
	cr_assert_eq(heap_pop(&h, &it), 0);
	cr_assert_eq(it.data, &d);
	cr_assert_eq(heap_pop(&h, &it), 0);
	cr_assert_eq(it.data, &b, "older tie must come first");
	cr_assert_eq(heap_pop(&h, &it), 0);
	cr_assert_eq(it.data, &c);
	heap_free(&h);
}

Test(heap, many_random_pushes_pop_sorted, .timeout = 10)
{
	enum { N = 20000 };
	struct heap h;
	heap_init(&h);
	srand(12345);
	static uint32_t order[N]; /* insertion index, to check FIFO on ties */
	for (uint32_t i = 0; i < N; i++) {
		order[i] = i;
		/* a small key range guarantees many ties */
		int64_t key = (int64_t)(rand() % 500) - 250;
		cr_assert_eq(heap_push(&h, key, &order[i]), 0);
	}
	cr_assert_eq(h.n, (size_t)N);
	cr_assert_geq(h.cap, h.n);

	struct heap_item prev;
	cr_assert_eq(heap_pop(&h, &prev), 0);
	size_t popped = 1;
	struct heap_item it;
	while (heap_pop(&h, &it) == 0) {
		cr_assert_leq(prev.key, it.key, "unsorted at %zu: %lld then %lld", popped,
			      (long long)prev.key, (long long)it.key);
		if (prev.key == it.key)
			cr_assert_lt(*(uint32_t *)prev.data, *(uint32_t *)it.data,
				     "tie not FIFO at %zu", popped);
		prev = it;
		popped++;
	}
	cr_assert_eq(popped, (size_t)N);
	cr_assert_eq(h.n, 0);
	heap_free(&h);
	cr_assert_null(h.items);
	cr_assert_eq(h.cap, 0);
}
