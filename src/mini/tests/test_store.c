/*
 * test_store.c - unit test of the in-memory store: put/get/replace, the
 * reference that keeps a replaced object alive, and growth to many keys.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mini/mini_store.h"
#include "mini_test.h"

static uint8_t *dup_bytes(const char *s)
{
    uint8_t *p = malloc(strlen(s));

    MT_CHECK(p != NULL);
    memcpy(p, s, strlen(s));
    return p;
}

int main(void)
{
    struct mini_store *store;
    struct mini_obj *obj, *old;
    char key[64];

    MT_CHECK_EQ(mini_store_create(&store), 0);
    MT_CHECK(mini_store_get(store, "/none") == NULL);

    MT_CHECK_EQ(mini_store_put(store, "/a", dup_bytes("hello"), 5), 0);
    obj = mini_store_get(store, "/a");
    MT_CHECK(obj != NULL && obj->len == 5 && memcmp(obj->data, "hello", 5) == 0);

    /* Replacing keeps the old object valid for its holder. */
    old = obj;
    MT_CHECK_EQ(mini_store_put(store, "/a", dup_bytes("xy"), 2), 0);
    MT_CHECK(memcmp(old->data, "hello", 5) == 0);
    mini_obj_unref(old);
    obj = mini_store_get(store, "/a");
    MT_CHECK(obj != NULL && obj->len == 2 && memcmp(obj->data, "xy", 2) == 0);
    mini_obj_unref(obj);
    MT_CHECK_EQ(mini_store_count(store), 1);
    MT_CHECK_EQ(mini_store_bytes(store), 2);

    /* Empty objects exist and are distinct from absent ones. */
    MT_CHECK_EQ(mini_store_put(store, "/empty", NULL, 0), 0);
    obj = mini_store_get(store, "/empty");
    MT_CHECK(obj != NULL && obj->len == 0);
    mini_obj_unref(obj);

    /* Many keys: the table grows and every key stays reachable. */
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "/k/%d", i);
        MT_CHECK_EQ(mini_store_put(store, key, dup_bytes(key), strlen(key)), 0);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "/k/%d", i);
        obj = mini_store_get(store, key);
        MT_CHECK(obj != NULL && obj->len == strlen(key) && memcmp(obj->data, key, obj->len) == 0);
        mini_obj_unref(obj);
    }
    MT_CHECK_EQ(mini_store_count(store), 5002);

    /* A reference taken before destroy outlives the store. */
    obj = mini_store_get(store, "/a");
    mini_store_destroy(store);
    MT_CHECK(obj->len == 2 && memcmp(obj->data, "xy", 2) == 0);
    mini_obj_unref(obj);
    mt_pass();
}
