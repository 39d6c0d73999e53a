/*
 * pool.c - the fixed-size object pool of pool.h.
 *
 * Objects sit back to back in one aligned allocation, `stride` bytes apart
 * (the object size rounded up to the alignment). The free list is a stack of
 * object indices kept outside the objects: a returned object's bytes are left
 * as they are (objects may be registered memory that a NIC is still reading),
 * a fresh pool really is all zeros, and a stray write into a free object
 * cannot corrupt the allocator. The stack is LIFO so a hot object is reused
 * while it is still in cache. A bitmap of objects in use turns a double put
 * or a foreign pointer into a logged error instead of a corrupted pool.
 */
#include "common/pool.h"

#include "common/log.h"

#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pool {
    char *base;         /* count * stride bytes, aligned to `align` */
    size_t stride;      /* distance between objects */
    size_t count;       /* objects in the pool */
    size_t nfree;       /* entries in free_stack */
    size_t *free_stack; /* indices of free objects; top is free_stack[nfree - 1] */
    uint64_t *in_use;   /* bit i set while object i is handed out */
};

#define POOL_WORD_BITS 64

static bool pool_bit_test(const struct pool *pool, size_t i)
{
    return (pool->in_use[i / POOL_WORD_BITS] >> (i % POOL_WORD_BITS)) & 1;
}

static void pool_bit_flip(struct pool *pool, size_t i)
{
    pool->in_use[i / POOL_WORD_BITS] ^= UINT64_C(1) << (i % POOL_WORD_BITS);
}

int pool_create(size_t obj_size, size_t count, size_t align, struct pool **pool_p)
{
    struct pool *pool;
    size_t stride, bytes, words, i;
    void *base;
    int rc;

    if (align == 0)
        align = alignof(max_align_t);
    if (obj_size == 0 || count == 0 || (align & (align - 1)) != 0)
        return -EINVAL;
    /* posix_memalign wants a multiple of sizeof(void *); a larger one is as good. */
    if (align < sizeof(void *))
        align = sizeof(void *);
    if (obj_size > SIZE_MAX - (align - 1))
        return -ENOMEM;
    stride = (obj_size + align - 1) & ~(align - 1);
    if (count > SIZE_MAX / stride || count > SIZE_MAX / sizeof(size_t))
        return -ENOMEM;
    bytes = count * stride;
    words = count / POOL_WORD_BITS + 1;

    pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return -ENOMEM;
    pool->free_stack = malloc(count * sizeof(size_t));
    if (pool->free_stack == NULL) {
        rc = -ENOMEM;
        goto err_free_pool;
    }
    pool->in_use = calloc(words, sizeof(uint64_t));
    if (pool->in_use == NULL) {
        rc = -ENOMEM;
        goto err_free_stack;
    }
    rc = -posix_memalign(&base, align, bytes);
    if (rc != 0)
        goto err_free_bitmap;
    memset(base, 0, bytes);

    pool->base = base;
    pool->stride = stride;
    pool->count = count;
    /* Highest index at the bottom so that the first get returns object 0. */
    for (i = 0; i < count; i++)
        pool->free_stack[i] = count - 1 - i;
    pool->nfree = count;
    *pool_p = pool;
    return 0;

err_free_bitmap:
    free(pool->in_use);
err_free_stack:
    free(pool->free_stack);
err_free_pool:
    free(pool);
    return rc;
}

void pool_destroy(struct pool *pool)
{
    if (pool == NULL)
        return;
    free(pool->base);
    free(pool->in_use);
    free(pool->free_stack);
    free(pool);
}

void *pool_get(struct pool *pool)
{
    size_t i;

    if (pool->nfree == 0)
        return NULL;
    i = pool->free_stack[--pool->nfree];
    pool_bit_flip(pool, i);
    return pool->base + i * pool->stride;
}

/* Index of `obj` in the pool, or SIZE_MAX when it is not one of its objects. */
static size_t pool_index(const struct pool *pool, const void *obj)
{
    /* Compare addresses as integers: relational operators on unrelated pointers are UB. */
    uintptr_t p = (uintptr_t)obj, b = (uintptr_t)pool->base;

    if (p < b || p - b >= pool->count * pool->stride || (p - b) % pool->stride != 0)
        return SIZE_MAX;
    return (p - b) / pool->stride;
}

void pool_put(struct pool *pool, void *obj)
{
    size_t i = pool_index(pool, obj);

    if (i == SIZE_MAX) {
        log_error("pool_put: %p is not an object of pool %p", obj, (void *)pool);
        return;
    }
    if (!pool_bit_test(pool, i)) {
        log_error("pool_put: object %zu of pool %p returned twice", i, (void *)pool);
        return;
    }
    pool_bit_flip(pool, i);
    pool->free_stack[pool->nfree++] = i;
}

int pool_owns(const struct pool *pool, const void *obj)
{
    return pool_index(pool, obj) != SIZE_MAX;
}

size_t pool_available(const struct pool *pool)
{
    return pool->nfree;
}

size_t pool_capacity(const struct pool *pool)
{
    return pool->count;
}

void *pool_base(const struct pool *pool)
{
    return pool->base;
}

size_t pool_bytes(const struct pool *pool)
{
    return pool->count * pool->stride;
}
