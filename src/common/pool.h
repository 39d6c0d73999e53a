/*
 * pool.h - fixed-size object pool: `count` objects of `obj_size` bytes carved
 * from one allocation, handed out and returned in O(1) without touching
 * malloc. Used to bound the number of in-flight requests and buffers.
 */
#ifndef BENCHFS_COMMON_POOL_H
#define BENCHFS_COMMON_POOL_H

#include <stddef.h>

struct pool;

/*
 * Create a pool. `align` is the alignment of every object (power of two,
 * 0 = alignof(max_align_t)); objects are zeroed at creation only and lie
 * round_up(obj_size, align) bytes apart. Returns 0 and *pool_p, or -EINVAL
 * (obj_size or count 0, align not a power of two) / -ENOMEM.
 */
int pool_create(size_t obj_size, size_t count, size_t align, struct pool **pool_p);

/* Free the pool and all its objects, handed out or not. NULL is a no-op. */
void pool_destroy(struct pool *pool);

/* Take an object, or NULL when all are in use. The most recently returned comes first. */
void *pool_get(struct pool *pool);

/*
 * Return an object taken from this pool. A pointer that is not an object of
 * this pool, or an object that is already free, is logged and ignored.
 */
void pool_put(struct pool *pool, void *obj);

/* True when `obj` points at the start of an object of this pool (free or not). */
int pool_owns(const struct pool *pool, const void *obj);

/* Objects free right now, and objects in the pool. */
size_t pool_available(const struct pool *pool);
size_t pool_capacity(const struct pool *pool);

/* Base address and total bytes of the backing memory (for registration). */
void *pool_base(const struct pool *pool);
size_t pool_bytes(const struct pool *pool);

#endif
