/*
 * mini_store.h - the in-memory object store of a BenchFS Mini server.
 *
 * A hash table from path to an immutable, reference-counted object. A WRITE
 * replaces the object of its path; a READ takes a reference and sends from
 * the object's bytes, so a concurrent overwrite of the same path cannot free
 * data that a reply is still sending. Single-threaded: only the server
 * thread touches a store.
 */
#ifndef BENCHFS_MINI_STORE_H
#define BENCHFS_MINI_STORE_H

#include <stddef.h>
#include <stdint.h>

struct mini_obj {
    unsigned refs;
    size_t len;
    uint8_t *data; /* NULL when len == 0 */
};

struct mini_store;

/* Create an empty store. Returns 0 or -ENOMEM; *store_p is set on success. */
int mini_store_create(struct mini_store **store_p);

/* Drop every object (objects still referenced live until their last unref). */
void mini_store_destroy(struct mini_store *store);

/*
 * Store `data` (malloc'ed, `len` bytes, NULL if len is 0) under `path`,
 * replacing the previous object. On success the store owns `data`; on
 * failure (-ENOMEM) the caller still does.
 */
int mini_store_put(struct mini_store *store, const char *path, uint8_t *data, size_t len);

/* The object at `path` with one more reference, or NULL if absent. */
struct mini_obj *mini_store_get(struct mini_store *store, const char *path);

/* Release a reference from mini_store_get(). */
void mini_obj_unref(struct mini_obj *obj);

/* Number of objects and bytes held, for logs and tests. */
size_t mini_store_count(const struct mini_store *store);
uint64_t mini_store_bytes(const struct mini_store *store);

#endif
