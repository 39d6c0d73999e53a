/*
 * test_common_heap.c - unit tests of common/heap.c: ordering, capacity,
 * removal of arbitrary nodes, the slot/index invariant after every
 * operation, and a randomized run against a brute-force reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/heap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* Every node knows its slot and no child is smaller than its parent. */
static void check_invariant(const struct heap *h)
{
    size_t i;

    assert_true(h->count <= h->capacity);
    for (i = 0; i < h->count; i++) {
        assert_int_equal(h->slots[i]->index, i);
        if (i > 0)
            assert_true(h->slots[(i - 1) / 2]->key <= h->slots[i]->key);
    }
}

static void test_empty_and_zero_capacity(void **state)
{
    struct heap h;
    struct heap_node n;

    (void)state;
    assert_int_equal(heap_init(&h, 0), 0);
    heap_node_init(&n);
    assert_null(heap_peek(&h));
    assert_null(heap_pop(&h));
    assert_int_equal(heap_push(&h, &n), -ENOSPC);
    assert_int_equal(n.index, SIZE_MAX);
    heap_remove(&h, &n); /* not queued: no-op */
    heap_cleanup(&h);
}

static void test_order(void **state)
{
    static const uint64_t keys[] = {50, 10, 40, 10, 30, 0, UINT64_MAX, 20, 60, 5};
    struct heap_node nodes[10];
    struct heap h;
    uint64_t last = 0;
    size_t i;

    (void)state;
    assert_int_equal(heap_init(&h, 10), 0);
    for (i = 0; i < 10; i++) {
        heap_node_init(&nodes[i]);
        nodes[i].key = keys[i];
        assert_int_equal(heap_push(&h, &nodes[i]), 0);
        check_invariant(&h);
    }
    assert_int_equal(h.count, 10);
    assert_ptr_equal(heap_peek(&h), &nodes[5]);
    for (i = 0; i < 10; i++) {
        struct heap_node *n = heap_pop(&h);

        assert_non_null(n);
        assert_true(n->key >= last);
        assert_int_equal(n->index, SIZE_MAX);
        last = n->key;
        check_invariant(&h);
    }
    assert_int_equal(last, UINT64_MAX);
    assert_null(heap_pop(&h));
    heap_cleanup(&h);
}

static void test_full_and_double_push(void **state)
{
    struct heap_node a, b, c;
    struct heap h;

    (void)state;
    assert_int_equal(heap_init(&h, 2), 0);
    heap_node_init(&a);
    heap_node_init(&b);
    heap_node_init(&c);
    assert_int_equal(heap_push(&h, &a), 0);
    assert_int_equal(heap_push(&h, &a), -EINVAL); /* already queued */
    assert_int_equal(heap_push(&h, &b), 0);
    assert_int_equal(heap_push(&h, &c), -ENOSPC);
    assert_int_equal(c.index, SIZE_MAX);
    assert_int_equal(h.count, 2);
    heap_cleanup(&h);
    /* Cleanup leaves the nodes reusable. */
    assert_int_equal(a.index, SIZE_MAX);
    assert_int_equal(b.index, SIZE_MAX);
    assert_null(h.slots);
    assert_int_equal(h.count, 0);
}

static void test_remove(void **state)
{
    struct heap_node nodes[8];
    struct heap h, other;
    size_t i;

    (void)state;
    assert_int_equal(heap_init(&h, 8), 0);
    assert_int_equal(heap_init(&other, 1), 0);
    for (i = 0; i < 8; i++) {
        heap_node_init(&nodes[i]);
        nodes[i].key = 100 - 10 * i;
        assert_int_equal(heap_push(&h, &nodes[i]), 0);
    }
    /* Remove the minimum, a leaf, an inner node, then the same one again. */
    heap_remove(&h, &nodes[7]);
    check_invariant(&h);
    assert_int_equal(nodes[7].index, SIZE_MAX);
    heap_remove(&h, &nodes[0]);
    check_invariant(&h);
    heap_remove(&h, &nodes[3]);
    check_invariant(&h);
    heap_remove(&h, &nodes[3]);
    assert_int_equal(h.count, 5);
    /* A node of another heap is left alone. */
    assert_int_equal(heap_push(&other, &nodes[7]), 0);
    heap_remove(&h, &nodes[7]);
    assert_int_equal(h.count, 5);
    assert_int_equal(nodes[7].index, 0);
    assert_ptr_equal(heap_peek(&h), &nodes[6]);
    /* Re-push a removed node with a new key. */
    nodes[3].key = 1;
    assert_int_equal(heap_push(&h, &nodes[3]), 0);
    assert_ptr_equal(heap_peek(&h), &nodes[3]);
    check_invariant(&h);
    heap_cleanup(&other);
    heap_cleanup(&h);
}

/* Random push / pop / remove against a brute-force minimum over a flag array. */
static void test_random_against_reference(void **state)
{
    enum { N = 512 };
    struct heap_node *nodes = calloc(N, sizeof(*nodes));
    bool queued[N] = {false};
    unsigned seed = 99;
    struct heap h;
    size_t i, nqueued = 0;
    int iter;

    (void)state;
    assert_non_null(nodes);
    assert_int_equal(heap_init(&h, N), 0);
    for (i = 0; i < N; i++)
        heap_node_init(&nodes[i]);
    for (iter = 0; iter < 200000; iter++) {
        unsigned r;

        seed = seed * 1103515245u + 12345u;
        r = seed >> 8;
        i = r % N;
        switch ((r >> 12) % 3) {
        case 0: /* push */
            if (!queued[i]) {
                nodes[i].key = (seed >> 4) % 1000; /* many equal keys */
                assert_int_equal(heap_push(&h, &nodes[i]), 0);
                queued[i] = true;
                nqueued++;
            } else {
                assert_int_equal(heap_push(&h, &nodes[i]), -EINVAL);
            }
            break;
        case 1: { /* pop: must be a node with the smallest key */
            struct heap_node *n = heap_pop(&h);
            uint64_t min = UINT64_MAX;
            size_t j;

            for (j = 0; j < N; j++) {
                if (queued[j] && nodes[j].key < min)
                    min = nodes[j].key;
            }
            if (nqueued == 0) {
                assert_null(n);
                break;
            }
            assert_non_null(n);
            assert_int_equal(n->key, min);
            assert_true(queued[n - nodes]);
            queued[n - nodes] = false;
            nqueued--;
            break;
        }
        default: /* remove */
            heap_remove(&h, &nodes[i]);
            if (queued[i]) {
                queued[i] = false;
                nqueued--;
            }
            assert_int_equal(nodes[i].index, SIZE_MAX);
            break;
        }
        assert_int_equal(h.count, nqueued);
        if (iter % 64 == 0)
            check_invariant(&h);
    }
    heap_cleanup(&h);
    free(nodes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_zero_capacity),  cmocka_unit_test(test_order),
        cmocka_unit_test(test_full_and_double_push),     cmocka_unit_test(test_remove),
        cmocka_unit_test(test_random_against_reference),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
