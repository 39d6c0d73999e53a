/*
 * test_common_pool.c - unit tests of common/pool.c: argument checks,
 * alignment and layout, zeroed objects, exhaustion, LIFO reuse, pool_owns on
 * every kind of pointer, and double or foreign puts (logged, ignored).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/pool.h"

#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_bad_arguments(void **state)
{
    struct pool *p = (struct pool *)0x1;

    (void)state;
    assert_int_equal(pool_create(0, 4, 0, &p), -EINVAL);
    assert_int_equal(pool_create(8, 0, 0, &p), -EINVAL);
    assert_int_equal(pool_create(8, 4, 3, &p), -EINVAL);
    assert_int_equal(pool_create(8, 4, 48, &p), -EINVAL);
    assert_int_equal(pool_create(SIZE_MAX, 2, 0, &p), -ENOMEM);
    assert_int_equal(pool_create(64, SIZE_MAX / 32, 0, &p), -ENOMEM);
    assert_ptr_equal(p, (struct pool *)0x1); /* untouched on failure */
    pool_destroy(NULL);
}

static void check_layout(size_t obj_size, size_t count, size_t align, size_t want_stride)
{
    struct pool *p;
    size_t i;

    assert_int_equal(pool_create(obj_size, count, align, &p), 0);
    assert_int_equal(pool_capacity(p), count);
    assert_int_equal(pool_available(p), count);
    assert_int_equal(pool_bytes(p), count * want_stride);
    assert_int_equal((uintptr_t)pool_base(p) % (align ? align : alignof(max_align_t)), 0);
    for (i = 0; i < count; i++) {
        unsigned char *o = pool_get(p), zero[4096] = {0};

        assert_non_null(o);
        /* Objects are handed out in address order first, and start zeroed. */
        assert_ptr_equal(o, (unsigned char *)pool_base(p) + i * want_stride);
        assert_int_equal((uintptr_t)o % (align ? align : alignof(max_align_t)), 0);
        assert_memory_equal(o, zero, obj_size < sizeof(zero) ? obj_size : sizeof(zero));
        memset(o, 0xab, obj_size); /* must not disturb the pool */
    }
    assert_null(pool_get(p));
    assert_int_equal(pool_available(p), 0);
    pool_destroy(p);
}

static void test_layout(void **state)
{
    (void)state;
    check_layout(1, 7, 0, alignof(max_align_t));
    check_layout(24, 5, 8, 24);
    check_layout(24, 5, 16, 32);
    check_layout(100, 3, 64, 128);
    check_layout(4096, 4, 4096, 4096);
    check_layout(5000, 2, 4096, 8192);
    check_layout(3, 100, 1, 8); /* alignment below sizeof(void *) is raised to it */
}

static void test_get_put_lifo(void **state)
{
    struct pool *p;
    void *a, *b, *c;

    (void)state;
    assert_int_equal(pool_create(32, 3, 0, &p), 0);
    a = pool_get(p);
    b = pool_get(p);
    c = pool_get(p);
    assert_non_null(c);
    assert_null(pool_get(p));
    pool_put(p, b);
    pool_put(p, a);
    assert_int_equal(pool_available(p), 2);
    /* The most recently returned object comes back first. */
    assert_ptr_equal(pool_get(p), a);
    assert_ptr_equal(pool_get(p), b);
    assert_int_equal(pool_available(p), 0);
    pool_put(p, a);
    pool_put(p, b);
    pool_put(p, c);
    assert_int_equal(pool_available(p), 3);
    pool_destroy(p);
}

static void test_owns(void **state)
{
    struct pool *p, *q;
    char *base;
    int local;

    (void)state;
    assert_int_equal(pool_create(48, 4, 16, &p), 0);
    assert_int_equal(pool_create(48, 4, 16, &q), 0);
    base = pool_base(p);
    assert_true(pool_owns(p, base));
    assert_true(pool_owns(p, base + 48));
    assert_true(pool_owns(p, base + 3 * 48));
    assert_false(pool_owns(p, base + 1));      /* inside an object */
    assert_false(pool_owns(p, base + 4 * 48)); /* one past the end */
    assert_false(pool_owns(p, base - 48));
    assert_false(pool_owns(p, NULL));
    assert_false(pool_owns(p, &local));
    assert_false(pool_owns(p, pool_base(q)));
    pool_destroy(p);
    pool_destroy(q);
}

/* Run `fn(pool, obj)` with stderr captured; returns what it wrote (static buffer). */
static const char *capture_stderr(void (*fn)(struct pool *, void *), struct pool *pool, void *obj)
{
    static char buf[4096];
    int fds[2], saved;
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    fn(pool, obj);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_bad_puts_are_ignored(void **state)
{
    struct pool *p;
    void *a, *b;
    int local;

    (void)state;
    assert_int_equal(pool_create(16, 2, 0, &p), 0);
    a = pool_get(p);
    assert_non_null(a);
    pool_put(p, a);
    assert_non_null(strstr(capture_stderr(pool_put, p, a), "returned twice"));
    assert_int_equal(pool_available(p), 2);
    assert_non_null(strstr(capture_stderr(pool_put, p, &local), "is not an object of pool"));
    assert_non_null(strstr(capture_stderr(pool_put, p, (char *)a + 1), "is not an object"));
    assert_int_equal(pool_available(p), 2);
    /* The pool still works: two distinct objects, then none. */
    a = pool_get(p);
    b = pool_get(p);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_null(pool_get(p));
    pool_destroy(p);
}

/* Objects are zeroed at creation only: a returned object keeps its bytes. */
static void test_not_rezeroed(void **state)
{
    struct pool *p;
    unsigned char *o;

    (void)state;
    assert_int_equal(pool_create(8, 1, 0, &p), 0);
    o = pool_get(p);
    memset(o, 0x5a, 8);
    pool_put(p, o);
    o = pool_get(p);
    assert_int_equal(o[0], 0x5a);
    assert_int_equal(o[7], 0x5a);
    pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_get_put_lifo),         cmocka_unit_test(test_owns),
        cmocka_unit_test(test_bad_puts_are_ignored), cmocka_unit_test(test_not_rezeroed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
