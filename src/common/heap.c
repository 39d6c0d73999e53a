/*
 * heap.c - the intrusive binary min-heap of heap.h (timer deadlines).
 *
 * slots[0] is the smallest key; the children of slot i are 2i+1 and 2i+2.
 * Every move of a node through the array also updates node->index, which is
 * what makes heap_remove of an arbitrary node O(log n): the node knows where
 * it is, the last node takes its place, and that node sifts up or down.
 */
#include "common/heap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static void heap_place(struct heap *h, size_t i, struct heap_node *n)
{
    h->slots[i] = n;
    n->index = i;
}

/* Move `n`, logically at slot i, up towards the root; stores it at its slot. */
static void heap_sift_up(struct heap *h, size_t i, struct heap_node *n)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (h->slots[parent]->key <= n->key)
            break;
        heap_place(h, i, h->slots[parent]);
        i = parent;
    }
    heap_place(h, i, n);
}

/* Move `n`, logically at slot i, down towards the leaves. */
static void heap_sift_down(struct heap *h, size_t i, struct heap_node *n)
{
    for (;;) {
        size_t child = 2 * i + 1;

        if (child >= h->count)
            break;
        if (child + 1 < h->count && h->slots[child + 1]->key < h->slots[child]->key)
            child++;
        if (n->key <= h->slots[child]->key)
            break;
        heap_place(h, i, h->slots[child]);
        i = child;
    }
    heap_place(h, i, n);
}

int heap_init(struct heap *h, size_t capacity)
{
    h->slots = NULL;
    h->count = 0;
    h->capacity = 0;
    if (capacity == 0)
        return 0;
    if (capacity > SIZE_MAX / sizeof(*h->slots))
        return -ENOMEM;
    h->slots = malloc(capacity * sizeof(*h->slots));
    if (h->slots == NULL)
        return -ENOMEM;
    h->capacity = capacity;
    return 0;
}

void heap_cleanup(struct heap *h)
{
    size_t i;

    /* Nodes still queued become "not queued" so their owners may reuse them. */
    for (i = 0; i < h->count; i++)
        h->slots[i]->index = SIZE_MAX;
    free(h->slots);
    h->slots = NULL;
    h->count = 0;
    h->capacity = 0;
}

int heap_push(struct heap *h, struct heap_node *n)
{
    if (n->index != SIZE_MAX)
        return -EINVAL;
    if (h->count == h->capacity)
        return -ENOSPC;
    h->count++;
    heap_sift_up(h, h->count - 1, n);
    return 0;
}

struct heap_node *heap_peek(const struct heap *h)
{
    return h->count > 0 ? h->slots[0] : NULL;
}

struct heap_node *heap_pop(struct heap *h)
{
    struct heap_node *top;

    if (h->count == 0)
        return NULL;
    top = h->slots[0];
    heap_remove(h, top);
    return top;
}

void heap_remove(struct heap *h, struct heap_node *n)
{
    struct heap_node *last;
    size_t i = n->index;

    /* Not queued, or queued in another heap: nothing to do here. */
    if (i >= h->count || h->slots[i] != n)
        return;
    n->index = SIZE_MAX;
    last = h->slots[--h->count];
    if (last == n)
        return;
    /* `last` fills the hole; it may belong above or below it. */
    if (i > 0 && last->key < h->slots[(i - 1) / 2]->key)
        heap_sift_up(h, i, last);
    else
        heap_sift_down(h, i, last);
}
