/*
 * mini_store.c - chained hash table (FNV-1a 64) of path -> mini_obj, doubling
 * when the load factor passes 1. See mini_store.h.
 */
#include "mini/mini_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct store_entry {
    struct store_entry *next;
    uint64_t hash;
    struct mini_obj *obj;
    char path[]; /* NUL-terminated */
};

struct mini_store {
    struct store_entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    uint64_t bytes;
};

#define STORE_INITIAL_BUCKETS 64

static uint64_t store_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s != '\0'; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

int mini_store_create(struct mini_store **store_p)
{
    struct mini_store *store = calloc(1, sizeof(*store));

    if (store == NULL)
        goto err;
    store->buckets = calloc(STORE_INITIAL_BUCKETS, sizeof(*store->buckets));
    if (store->buckets == NULL)
        goto err_free_store;
    store->nbuckets = STORE_INITIAL_BUCKETS;
    *store_p = store;
    return 0;

err_free_store:
    free(store);
err:
    return -ENOMEM;
}

void mini_obj_unref(struct mini_obj *obj)
{
    if (obj == NULL || --obj->refs > 0)
        return;
    free(obj->data);
    free(obj);
}

void mini_store_destroy(struct mini_store *store)
{
    if (store == NULL)
        return;
    for (size_t i = 0; i < store->nbuckets; i++) {
        struct store_entry *e = store->buckets[i];
        while (e != NULL) {
            struct store_entry *next = e->next;
            mini_obj_unref(e->obj);
            free(e);
            e = next;
        }
    }
    free(store->buckets);
    free(store);
}

/* Double the table. Failure is harmless: chains just get longer. */
static void store_grow(struct mini_store *store)
{
    size_t n = store->nbuckets * 2;
    struct store_entry **b = calloc(n, sizeof(*b));

    if (b == NULL)
        return;
    for (size_t i = 0; i < store->nbuckets; i++) {
        struct store_entry *e = store->buckets[i];
        while (e != NULL) {
            struct store_entry *next = e->next;
            size_t j = e->hash & (n - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(store->buckets);
    store->buckets = b;
    store->nbuckets = n;
}

static struct store_entry *store_find(struct mini_store *store, const char *path, uint64_t hash)
{
    struct store_entry *e = store->buckets[hash & (store->nbuckets - 1)];

    for (; e != NULL; e = e->next) {
        if (e->hash == hash && strcmp(e->path, path) == 0)
            return e;
    }
    return NULL;
}

int mini_store_put(struct mini_store *store, const char *path, uint8_t *data, size_t len)
{
    uint64_t hash = store_hash(path);
    struct store_entry *e = store_find(store, path, hash);
    struct mini_obj *obj = malloc(sizeof(*obj));
    size_t plen;

    if (obj == NULL)
        goto err;
    obj->refs = 1;
    obj->len = len;
    obj->data = data;
    if (e != NULL) {
        store->bytes -= e->obj->len;
        mini_obj_unref(e->obj);
        e->obj = obj;
        store->bytes += len;
        return 0;
    }

    plen = strlen(path);
    e = malloc(sizeof(*e) + plen + 1);
    if (e == NULL)
        goto err_free_obj;
    memcpy(e->path, path, plen + 1);
    e->hash = hash;
    e->obj = obj;
    if (store->count >= store->nbuckets)
        store_grow(store);
    e->next = store->buckets[hash & (store->nbuckets - 1)];
    store->buckets[hash & (store->nbuckets - 1)] = e;
    store->count++;
    store->bytes += len;
    return 0;

err_free_obj:
    free(obj);
err:
    return -ENOMEM;
}

struct mini_obj *mini_store_get(struct mini_store *store, const char *path)
{
    struct store_entry *e = store_find(store, path, store_hash(path));

    if (e == NULL)
        return NULL;
    e->obj->refs++;
    return e->obj;
}

size_t mini_store_count(const struct mini_store *store)
{
    return store->count;
}

uint64_t mini_store_bytes(const struct mini_store *store)
{
    return store->bytes;
}
