/*
 * test_common_list.c - unit tests of common/list.h (header only, tested
 * through the common library's test binary): insertion order, removal,
 * repeated removal, pop, list_entry and removal while iterating.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/list.h"

struct item {
    int value;
    struct list_node link;
};

/* Values of the list in order, into out[]; returns how many. */
static int collect(struct list_node *head, int *out, int max)
{
    struct list_node *pos, *tmp;
    int n = 0;

    list_for_each_safe(pos, tmp, head)
    {
        assert_true(n < max);
        out[n++] = list_entry(pos, struct item, link)->value;
    }
    return n;
}

static void test_empty(void **state)
{
    struct list_node head;

    (void)state;
    list_init(&head);
    assert_true(list_empty(&head));
    assert_null(list_pop_front(&head));
    assert_ptr_equal(head.next, &head);
    assert_ptr_equal(head.prev, &head);
}

static void test_push_order(void **state)
{
    struct item items[4] = {
        {1, {NULL, NULL}}, {2, {NULL, NULL}}, {3, {NULL, NULL}}, {4, {NULL, NULL}}};
    struct list_node head;
    int got[8];

    (void)state;
    list_init(&head);
    list_push_back(&head, &items[1].link);  /* 2 */
    list_push_front(&head, &items[0].link); /* 1 2 */
    list_push_back(&head, &items[2].link);  /* 1 2 3 */
    list_push_back(&head, &items[3].link);  /* 1 2 3 4 */
    assert_false(list_empty(&head));
    assert_int_equal(collect(&head, got, 8), 4);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[1], 2);
    assert_int_equal(got[2], 3);
    assert_int_equal(got[3], 4);
    /* Links are consistent both ways. */
    assert_ptr_equal(head.prev, &items[3].link);
    assert_ptr_equal(items[2].link.prev, &items[1].link);
}

static void test_remove_and_pop(void **state)
{
    struct item items[3] = {{1, {NULL, NULL}}, {2, {NULL, NULL}}, {3, {NULL, NULL}}};
    struct list_node head, *n;
    int got[8], i;

    (void)state;
    list_init(&head);
    for (i = 0; i < 3; i++)
        list_push_back(&head, &items[i].link);
    list_remove(&items[1].link);
    assert_ptr_equal(items[1].link.next, &items[1].link); /* self-linked */
    list_remove(&items[1].link);                          /* harmless */
    assert_int_equal(collect(&head, got, 8), 2);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[1], 3);

    n = list_pop_front(&head);
    assert_ptr_equal(list_entry(n, struct item, link), &items[0]);
    n = list_pop_front(&head);
    assert_ptr_equal(list_entry(n, struct item, link), &items[2]);
    assert_null(list_pop_front(&head));
    assert_true(list_empty(&head));
}

static void test_remove_while_iterating(void **state)
{
    struct item items[10];
    struct list_node head, *pos, *tmp;
    int got[16], i, n;

    (void)state;
    list_init(&head);
    for (i = 0; i < 10; i++) {
        items[i].value = i;
        list_push_back(&head, &items[i].link);
    }
    list_for_each_safe(pos, tmp, &head)
    {
        if (list_entry(pos, struct item, link)->value % 2 == 0)
            list_remove(pos);
    }
    n = collect(&head, got, 16);
    assert_int_equal(n, 5);
    for (i = 0; i < n; i++)
        assert_int_equal(got[i], 2 * i + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_push_order),
        cmocka_unit_test(test_remove_and_pop),
        cmocka_unit_test(test_remove_while_iterating),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
