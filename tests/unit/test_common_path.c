/*
 * test_common_path.c - unit tests of common/path.c: normalization rules and
 * their limits (exactly at and one past BFS_NAME_MAX and BFS_PATH_MAX - 1),
 * path_is_normalized, path_split, and a randomized comparison against a
 * simple left-to-right reference implementation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/path.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Normalize `in` and expect `want` (or the error `rc` when want is NULL). */
static void check_norm(const char *in, const char *want, int rc)
{
    char out[BFS_PATH_MAX];
    int n;

    memset(out, 'X', sizeof(out));
    n = path_normalize(in, out, sizeof(out));
    if (want == NULL) {
        assert_int_equal(n, rc);
        assert_int_equal(out[0], 'X'); /* untouched on failure */
        return;
    }
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(out, want);
    assert_true(path_is_normalized(out, (size_t)n));
}

static void test_basic(void **state)
{
    (void)state;
    check_norm("/", "/", 0);
    check_norm("/a", "/a", 0);
    check_norm("/a/b/c", "/a/b/c", 0);
    check_norm("//", "/", 0);
    check_norm("///a//b///", "/a/b", 0);
    check_norm("/a/", "/a", 0);
    check_norm("/a/b//", "/a/b", 0);
}

static void test_dots(void **state)
{
    (void)state;
    check_norm("/.", "/", 0);
    check_norm("/./", "/", 0);
    check_norm("/./a/./b/.", "/a/b", 0);
    check_norm("/..", "/", 0);
    check_norm("/../..", "/", 0);
    check_norm("/../../a", "/a", 0);
    check_norm("/a/..", "/", 0);
    check_norm("/a/../", "/", 0);
    check_norm("/a/../b", "/b", 0);
    check_norm("/a/b/../../c", "/c", 0);
    check_norm("/a/b/../c/./d/..", "/a/c", 0);
    check_norm("/a/../../b", "/b", 0);
    check_norm("/a/b/c/../../../..", "/", 0);
    check_norm("/a/./../b/.//c/..", "/b", 0);
    /* Names that only look like dots are ordinary names. */
    check_norm("/...", "/...", 0);
    check_norm("/.a", "/.a", 0);
    check_norm("/a.", "/a.", 0);
    check_norm("/..a/b..", "/..a/b..", 0);
    check_norm("/.../..", "/", 0);
}

static void test_invalid(void **state)
{
    char out[16];

    (void)state;
    check_norm("", NULL, -EINVAL);
    check_norm("a", NULL, -EINVAL);
    check_norm("a/b", NULL, -EINVAL);
    check_norm("./a", NULL, -EINVAL);
    check_norm("../a", NULL, -EINVAL);
    check_norm(" /a", NULL, -EINVAL);
    assert_int_equal(path_normalize(NULL, out, sizeof(out)), -EINVAL);
    assert_int_equal(path_normalize("/a", NULL, 16), -EINVAL);
}

static void test_any_byte_is_a_name_byte(void **state)
{
    (void)state;
    check_norm("/a\x01"
               "b/\t/\x7f\xff",
               "/a\x01"
               "b/\t/\x7f\xff",
               0);
    check_norm("/ /  ", "/ /  ", 0);
    check_norm("/a\\b", "/a\\b", 0);
}

/* A path of `n` components of `len` bytes each, the i-th made of letter 'a' + i % 26. */
static char *make_path(size_t n, size_t len)
{
    char *p = malloc(n * (len + 1) + 1), *q = p;
    size_t i;

    assert_non_null(p);
    for (i = 0; i < n; i++) {
        *q++ = '/';
        memset(q, 'a' + (int)(i % 26), len);
        q += len;
    }
    *q = '\0';
    return p;
}

static void test_component_limit(void **state)
{
    char *p;

    (void)state;
    p = make_path(1, BFS_NAME_MAX); /* exactly 255: fine */
    check_norm(p, p, 0);
    free(p);

    p = make_path(1, BFS_NAME_MAX + 1); /* 256: too long */
    check_norm(p, NULL, -ENAMETOOLONG);
    free(p);

    /* Also when a later ".." would remove it: every input component is checked. */
    p = make_path(1, BFS_NAME_MAX + 1);
    p = realloc(p, strlen(p) + 8);
    assert_non_null(p);
    strcat(p, "/..");
    check_norm(p, NULL, -ENAMETOOLONG);
    free(p);

    /* 255-byte components everywhere are fine (result 2 * 256 bytes). */
    p = make_path(2, BFS_NAME_MAX);
    check_norm(p, p, 0);
    free(p);
}

static void test_path_limit(void **state)
{
    char out[BFS_PATH_MAX + 64];
    char *p, *q;
    int n;

    (void)state;
    /* 15 components of "/" + 255 bytes = 3840, plus "/" + 254 = 4095 bytes exactly. */
    p = make_path(15, BFS_NAME_MAX);
    q = malloc(BFS_PATH_MAX + 16); /* room for the "/.." appended below */
    assert_non_null(q);
    snprintf(q, BFS_PATH_MAX + 2, "%s/%0254d", p, 7);
    assert_int_equal(strlen(q), BFS_PATH_MAX - 1);
    check_norm(q, q, 0);

    /* One byte more: 4096 bytes does not fit BFS_PATH_MAX with its NUL. */
    snprintf(q, BFS_PATH_MAX + 2, "%s/%0255d", p, 7);
    assert_int_equal(strlen(q), BFS_PATH_MAX);
    check_norm(q, NULL, -ENAMETOOLONG);

    /* A larger out buffer does not raise the limit. */
    memset(out, 'X', sizeof(out));
    assert_int_equal(path_normalize(q, out, sizeof(out)), -ENAMETOOLONG);
    assert_int_equal(out[0], 'X');

    /* The limit is on the result: the same input with a final ".." fits. */
    strcat(q, "/..");
    n = path_normalize(q, out, sizeof(out));
    assert_int_equal(n, 15 * (BFS_NAME_MAX + 1));
    assert_memory_equal(out, p, (size_t)n + 1);
    free(q);
    free(p);
}

static void test_outlen(void **state)
{
    char out[8];

    (void)state;
    /* "/abcde" needs 7 bytes with the NUL. */
    memset(out, 'X', sizeof(out));
    assert_int_equal(path_normalize("/abcde", out, 6), -ENAMETOOLONG);
    assert_int_equal(out[0], 'X');
    assert_int_equal(path_normalize("/abcde", out, 7), 6);
    assert_string_equal(out, "/abcde");
    assert_int_equal(path_normalize("/", out, 1), -ENAMETOOLONG);
    assert_int_equal(path_normalize("/", out, 0), -ENAMETOOLONG);
    assert_int_equal(path_normalize("/", out, 2), 1);
    assert_string_equal(out, "/");
    assert_int_equal(path_normalize("/a/../", out, 2), 1);
}

static void test_long_input_short_result(void **state)
{
    size_t reps = 20000, i;
    char *p = malloc(reps * 5 + 16), *q = p;
    char out[BFS_PATH_MAX];

    (void)state;
    assert_non_null(p);
    for (i = 0; i < reps; i++) {
        memcpy(q, "/a/..", 5);
        q += 5;
    }
    strcpy(q, "//x/");
    assert_int_equal(path_normalize(p, out, sizeof(out)), 2);
    assert_string_equal(out, "/x");

    /* Many ".." first, then names: cannot climb above the root. */
    for (i = 0, q = p; i < reps; i++) {
        memcpy(q, "/..", 3);
        q += 3;
    }
    strcpy(q, "/y");
    assert_int_equal(path_normalize(p, out, sizeof(out)), 2);
    assert_string_equal(out, "/y");
    free(p);
}

static void test_is_normalized(void **state)
{
    char *p;

    (void)state;
    assert_true(path_is_normalized("/", 1));
    assert_true(path_is_normalized("/a", 2));
    assert_true(path_is_normalized("/a/b", 4));
    assert_true(path_is_normalized("/...", 4));
    assert_true(path_is_normalized("/.a/b.", 6));
    assert_true(path_is_normalized("/ab/c", 3)); /* only the first 3 bytes count */

    assert_false(path_is_normalized(NULL, 1));
    assert_false(path_is_normalized("", 0));
    assert_false(path_is_normalized("a", 1));
    assert_false(path_is_normalized("//", 2));
    assert_false(path_is_normalized("/a/", 3));
    assert_false(path_is_normalized("/a//b", 5));
    assert_false(path_is_normalized("/.", 2));
    assert_false(path_is_normalized("/..", 3));
    assert_false(path_is_normalized("/a/./b", 6));
    assert_false(path_is_normalized("/a/..", 5));
    assert_false(path_is_normalized("/a/../b", 7));
    assert_false(path_is_normalized("/a\0b", 4));
    assert_false(path_is_normalized("/a\0", 3));

    p = make_path(1, BFS_NAME_MAX);
    assert_true(path_is_normalized(p, strlen(p)));
    free(p);
    p = make_path(1, BFS_NAME_MAX + 1);
    assert_false(path_is_normalized(p, strlen(p)));
    free(p);

    /* Length: 4095 is the longest normalized path, 4096 is too long. */
    p = make_path(16, BFS_NAME_MAX); /* 4096 bytes */
    assert_int_equal(strlen(p), BFS_PATH_MAX);
    assert_false(path_is_normalized(p, BFS_PATH_MAX));
    p[BFS_PATH_MAX - 1] = '\0';
    assert_true(path_is_normalized(p, BFS_PATH_MAX - 1));
    free(p);
}

static void test_split(void **state)
{
    const char *name = "untouched";
    size_t parent = 99;

    (void)state;
    assert_int_equal(path_split("/a/b", 4, &parent, &name), 0);
    assert_int_equal(parent, 2);
    assert_string_equal(name, "b");

    assert_int_equal(path_split("/a", 2, &parent, &name), 0);
    assert_int_equal(parent, 1);
    assert_string_equal(name, "a");

    assert_int_equal(path_split("/abc/def/ghi", 12, &parent, &name), 0);
    assert_int_equal(parent, 8);
    assert_string_equal(name, "ghi");

    parent = 99;
    name = "untouched";
    assert_int_equal(path_split("/", 1, &parent, &name), -EINVAL);
    assert_int_equal(path_split("/a/", 3, &parent, &name), -EINVAL);
    assert_int_equal(path_split("a/b", 3, &parent, &name), -EINVAL);
    assert_int_equal(path_split("/a/..", 5, &parent, &name), -EINVAL);
    assert_int_equal(path_split("", 0, &parent, &name), -EINVAL);
    assert_int_equal(parent, 99);
    assert_string_equal(name, "untouched");
}

/*
 * Reference: split on '/', keep a stack of components, check limits on the
 * way. Returns the length or the error, like path_normalize.
 */
static int ref_normalize(const char *in, char *out, size_t outlen)
{
    const char *stack[4096];
    size_t lens[4096], depth = 0, i, n = 0;
    const char *p = in;

    if (in[0] != '/')
        return -EINVAL;
    while (*p != '\0') {
        const char *s;

        while (*p == '/')
            p++;
        s = p;
        while (*p != '\0' && *p != '/')
            p++;
        if (p == s)
            break;
        if ((size_t)(p - s) > BFS_NAME_MAX)
            return -ENAMETOOLONG;
        if (p - s == 1 && s[0] == '.')
            continue;
        if (p - s == 2 && s[0] == '.' && s[1] == '.') {
            if (depth > 0)
                depth--;
            continue;
        }
        stack[depth] = s;
        lens[depth++] = (size_t)(p - s);
    }
    for (i = 0; i < depth; i++)
        n += 1 + lens[i];
    if (n == 0)
        n = 1;
    if (n + 1 > outlen || n + 1 > BFS_PATH_MAX)
        return -ENAMETOOLONG;
    out[0] = '/';
    for (i = 0, n = 0; i < depth; i++) {
        out[n++] = '/';
        memcpy(out + n, stack[i], lens[i]);
        n += lens[i];
    }
    if (n == 0)
        n = 1;
    out[n] = '\0';
    return (int)n;
}

static void test_random_against_reference(void **state)
{
    static const char *const atoms[] = {"/", "//", ".", "..", "a", "bc", "...", ".x", "/."};
    char in[256], got[64], want[64];
    unsigned seed = 12345;
    int iter;

    (void)state;
    for (iter = 0; iter < 200000; iter++) {
        size_t len = 0;
        int natoms, j, rg, rw;

        seed = seed * 1103515245u + 12345u;
        natoms = (int)(seed >> 16) % 12;
        in[len++] = '/';
        for (j = 0; j < natoms; j++) {
            const char *a;

            seed = seed * 1103515245u + 12345u;
            a = atoms[(seed >> 16) % (sizeof(atoms) / sizeof(atoms[0]))];
            memcpy(in + len, a, strlen(a));
            len += strlen(a);
        }
        in[len] = '\0';
        /* A small out buffer also exercises the length limit. */
        rg = path_normalize(in, got, 12);
        rw = ref_normalize(in, want, 12);
        assert_int_equal(rg, rw);
        if (rg >= 0) {
            assert_string_equal(got, want);
            assert_true(path_is_normalized(got, (size_t)rg));
            /* Normalizing a normalized path gives it back unchanged. */
            assert_int_equal(path_normalize(got, want, sizeof(want)), rg);
            assert_string_equal(got, want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_dots),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_any_byte_is_a_name_byte),
        cmocka_unit_test(test_component_limit),
        cmocka_unit_test(test_path_limit),
        cmocka_unit_test(test_outlen),
        cmocka_unit_test(test_long_input_short_result),
        cmocka_unit_test(test_is_normalized),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_random_against_reference),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
