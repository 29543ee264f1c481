/*
 * heap.c - binary min-heap (see heap.h).
 */
#include "heap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

void heap_init(struct heap *h)
{
	h->items = NULL;
	h->n = h->cap = 0;
	h->next_seq = 0;
}

void heap_free(struct heap *h)
{
	free(h->items);
	heap_init(h);
}

static bool less(const struct heap_item *a, const struct heap_item *b)
{
	return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void swap(struct heap_item *a, struct heap_item *b)
{
	struct heap_item t = *a;
	*a = *b;
	*b = t;
}

int heap_push(struct heap *h, int64_t key, void *data)
{
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 16;
		struct heap_item *ni = realloc(h->items, ncap * sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		h->items = ni;
		h->cap = ncap;
	}
	size_t i = h->n++;
	h->items[i] = (struct heap_item){key, h->next_seq++, data};
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!less(&h->items[i], &h->items[parent]))
			break;
		swap(&h->items[i], &h->items[parent]);
		i = parent;
	}
	return 0;
}

const struct heap_item *heap_peek(const struct heap *h)
{
	return h->n ? &h->items[0] : NULL;
}

int heap_pop(struct heap *h, struct heap_item *out)
{
	if (h->n == 0)
		return -ENOENT;
	*out = h->items[0];
	h->items[0] = h->items[--h->n];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && less(&h->items[l], &h->items[m]))
			m = l;
		if (r < h->n && less(&h->items[r], &h->items[m]))
			m = r;
		if (m == i)
			break;
		swap(&h->items[i], &h->items[m]);
		i = m;
	}
	return 0;
}
