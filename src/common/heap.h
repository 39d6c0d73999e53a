/*
 * heap.h - binary min-heap of timer nodes keyed by a 64-bit deadline.
 * Nodes are intrusive (embed `struct heap_node`) and know their slot, so
 * removal of an arbitrary node is O(log n). The heap never allocates after
 * heap_init: push fails with -ENOSPC when full.
 */
#ifndef BENCHFS_COMMON_HEAP_H
#define BENCHFS_COMMON_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct heap_node {
    uint64_t key; /* deadline; smallest first */
    size_t index; /* slot in the heap, SIZE_MAX when not queued */
};

struct heap {
    struct heap_node **slots;
    size_t count;
    size_t capacity;
};

/* Allocate room for `capacity` nodes (0 is allowed: every push fails). 0 or -ENOMEM. */
int heap_init(struct heap *h, size_t capacity);

/* Free the slot array. Nodes still queued are marked not queued; they are not freed. */
void heap_cleanup(struct heap *h);

/*
 * Insert `n` (initialized with heap_node_init, n->key set by the caller).
 * 0, -ENOSPC when full, -EINVAL when `n` is already queued. To change the key
 * of a queued node, heap_remove it first. Nodes with equal keys come out in
 * no particular order.
 */
int heap_push(struct heap *h, struct heap_node *n);

/* Smallest node or NULL when empty; heap_pop also removes it (index = SIZE_MAX). */
struct heap_node *heap_peek(const struct heap *h);
struct heap_node *heap_pop(struct heap *h);

/* Remove `n` if queued in this heap (no-op otherwise). */
void heap_remove(struct heap *h, struct heap_node *n);

static inline void heap_node_init(struct heap_node *n)
{
    n->key = 0;
    n->index = SIZE_MAX;
}

#endif
