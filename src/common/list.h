/*
 * list.h - intrusive circular doubly linked list (header only).
 * Embed a `struct list_node` in your struct and use list_entry() to get back.
 */
#ifndef BENCHFS_COMMON_LIST_H
#define BENCHFS_COMMON_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
    struct list_node *prev, *next;
};

#define list_entry(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

static inline void list_init(struct list_node *head)
{
    head->prev = head->next = head;
}

static inline bool list_empty(const struct list_node *head)
{
    return head->next == head;
}

static inline void list_insert_between(struct list_node *n, struct list_node *prev,
                                       struct list_node *next)
{
    n->prev = prev;
    n->next = next;
    prev->next = n;
    next->prev = n;
}

static inline void list_push_back(struct list_node *head, struct list_node *n)
{
    list_insert_between(n, head->prev, head);
}

static inline void list_push_front(struct list_node *head, struct list_node *n)
{
    list_insert_between(n, head, head->next);
}

/* Unlink `n`; it is left self-linked so a second removal is harmless. */
static inline void list_remove(struct list_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

/* Move every node of `from` (left empty) into `to` (made anew). */
static inline void list_take_all(struct list_node *to, struct list_node *from)
{
    list_init(to);
    if (list_empty(from))
        return;
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    list_init(from);
}

/* Remove and return the first node, or NULL when empty. */
static inline struct list_node *list_pop_front(struct list_node *head)
{
    struct list_node *n;

    if (list_empty(head))
        return NULL;
    n = head->next;
    list_remove(n);
    return n;
}

#define list_for_each_safe(pos, tmp, head)                           \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif
