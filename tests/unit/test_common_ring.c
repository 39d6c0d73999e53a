/*
 * test_common_ring.c - unit tests of common/ring.c.
 *
 * Besides the API contract (natural order, lookups, errors, determinism,
 * pinned hash values that must never change), this measures the placement
 * requirement of docs/design.md#namespace-and-placement and PRINTS the numbers: max/mean load over
 * 1,000,000 IOR/mdtest-shaped names for 16 and 64 servers (must be <= 1.10),
 * and the fraction of keys that move when a server joins (~1/(n+1), all of
 * them to the new server) or leaves (only the leaver's keys). Construction
 * and lookup times are printed, not asserted (benchmarks print numbers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/ring.h"
#include "common/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS       1000000
#define MAX_SERVERS 128

/* The i-th benchmark-shaped key: a mix of IOR and mdtest file names. */
static size_t make_key(char *buf, size_t len, unsigned i)
{
    int n;

    switch (i % 3) {
    case 0: /* IOR file per process: one file per rank */
        n = snprintf(buf, len, "/out/ior_file_easy.%08u", i / 3);
        break;
    case 1: /* mdtest -u: per-rank directories, files numbered per rank */
        n = snprintf(buf, len, "/mdtest/dir.%u/file.mdtest.%u.%u", (i / 3) % 8, (i / 3) % 64,
                     i / 3 / 64);
        break;
    default: /* mdtest tree layout */
        n = snprintf(buf, len, "/mdtest/#test-dir.0-0/mdtest_tree.0/file.mdtest.%u.%u",
                     (i / 3) % 256, i / 3 / 256);
        break;
    }
    assert_true(n > 0 && (size_t)n < len);
    return (size_t)n;
}

/*
 * Ids shaped like "<prefix><i zero-padded to width><suffix>" for i < n, e.g.
 * "node_0" (a scheme "node_"), "nid000012" ("nid/6") or "server-07.ib"
 * ("server-/2/.ib"). Owned by the caller (free_ids).
 */
struct id_scheme {
    const char *prefix;
    int width;
    const char *suffix;
};

static const struct id_scheme NODE = {"node_", 0, ""};
static const struct id_scheme NID = {"nid", 6, ""};
static const struct id_scheme SERVER_IB = {"server-", 2, ".ib"};

static char **make_ids(struct id_scheme scheme, size_t n)
{
    char **ids = calloc(n, sizeof(*ids));
    size_t i;

    assert_non_null(ids);
    for (i = 0; i < n; i++) {
        ids[i] = malloc(32);
        assert_non_null(ids[i]);
        snprintf(ids[i], 32, "%s%0*u%s", scheme.prefix, scheme.width, (unsigned)i, scheme.suffix);
    }
    return ids;
}

static void free_ids(char **ids, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

static struct ring *make_ring(struct id_scheme scheme, size_t n)
{
    char **ids = make_ids(scheme, n);
    struct ring *r = NULL;

    assert_int_equal(ring_create((const char *const *)ids, n, 0, &r), 0);
    free_ids(ids, n);
    return r;
}

static void test_create_errors(void **state)
{
    const char *dup[] = {"node_1", "node_0", "node_1"};
    const char *empty[] = {"node_0", ""};
    const char *null[] = {"node_0", NULL};
    const char *one[] = {"node_0"};
    struct ring *r = (struct ring *)0x1;

    (void)state;
    assert_int_equal(ring_create(one, 0, 0, &r), -EINVAL);
    assert_int_equal(ring_create(NULL, 1, 0, &r), -EINVAL);
    assert_int_equal(ring_create(dup, 3, 0, &r), -EINVAL);
    assert_int_equal(ring_create(empty, 2, 0, &r), -EINVAL);
    assert_int_equal(ring_create(null, 2, 0, &r), -EINVAL);
    assert_int_equal(ring_create(one, 1, 65537, &r), -EINVAL);
    assert_ptr_equal(r, (struct ring *)0x1); /* untouched on failure */
    ring_destroy(NULL);
}

/* The owner of h by a plain lower-bound search over all the points. */
static size_t reference_owner(const uint64_t *hashes, const uint32_t *owners, size_t np, uint64_t h)
{
    size_t lo = 0, hi = np;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (hashes[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return owners[lo == np ? 0 : lo];
}

/* The bucketed lookup answers as a search over the whole circle: at every
 * point and beside it, at the ends, at bucket edges and at random hashes,
 * for rings from one point to 64 x 2048. */
static void test_lookup_matches_search(void **state)
{
    static const struct {
        size_t n;
        unsigned vnodes;
    } shapes[] = {{1, 1}, {1, 2}, {2, 1}, {3, 7}, {1, 0}, {5, 100}, {64, 0}};
    uint64_t rnd = 0x9e3779b97f4a7c15ull;

    (void)state;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        char **ids = make_ids(NODE, shapes[s].n);
        const uint64_t *hashes;
        const uint32_t *owners;
        struct ring *r = NULL;
        size_t np, i;

        assert_int_equal(ring_create((const char *const *)ids, shapes[s].n, shapes[s].vnodes, &r),
                         0);
        free_ids(ids, shapes[s].n);
        np = ring_points(r, &hashes, &owners);
        assert_true(np >= 1);
        for (i = 0; i < np; i++) {
            uint64_t h = hashes[i];

            assert_int_equal(ring_owner_hash(r, h), owners[i]);
            assert_int_equal(ring_owner_hash(r, h - 1), reference_owner(hashes, owners, np, h - 1));
            assert_int_equal(ring_owner_hash(r, h + 1), reference_owner(hashes, owners, np, h + 1));
        }
        assert_int_equal(ring_owner_hash(r, 0), reference_owner(hashes, owners, np, 0));
        assert_int_equal(ring_owner_hash(r, UINT64_MAX),
                         reference_owner(hashes, owners, np, UINT64_MAX));
        for (unsigned bits = 1; bits <= 17; bits++)
            for (uint64_t k = 1; k < 64; k++) {
                uint64_t edge = k << (64 - bits);

                assert_int_equal(ring_owner_hash(r, edge),
                                 reference_owner(hashes, owners, np, edge));
                assert_int_equal(ring_owner_hash(r, edge - 1),
                                 reference_owner(hashes, owners, np, edge - 1));
            }
        for (i = 0; i < 200000; i++) {
            rnd ^= rnd << 13;
            rnd ^= rnd >> 7;
            rnd ^= rnd << 17;
            assert_int_equal(ring_owner_hash(r, rnd), reference_owner(hashes, owners, np, rnd));
        }
        /* ring_owner is ring_owner_hash of the key's hash. */
        assert_int_equal(ring_owner(r, "/a", 2), ring_owner_hash(r, ring_hash("/a", 2)));
        ring_destroy(r);
    }
}

static void test_natural_cmp(void **state)
{
    (void)state;
    assert_true(ring_node_id_cmp("node_2", "node_10") < 0);
    assert_true(ring_node_id_cmp("node_10", "node_2") > 0);
    assert_int_equal(ring_node_id_cmp("node_7", "node_7"), 0);
    assert_true(ring_node_id_cmp("node", "node_0") < 0);
    assert_true(ring_node_id_cmp("a", "b") < 0);
    assert_true(ring_node_id_cmp("a1b2", "a1b10") < 0);
    assert_true(ring_node_id_cmp("a2b1", "a10b0") < 0);
    assert_true(ring_node_id_cmp("x9", "x10") < 0);
    assert_true(ring_node_id_cmp("x99999999999999999999999", "x100000000000000000000000") < 0);
    assert_true(ring_node_id_cmp("x18446744073709551616", "x18446744073709551615") > 0);
    /* Equal as numbers but different strings: never 0, and antisymmetric. */
    assert_true(ring_node_id_cmp("n01", "n1") != 0);
    assert_int_equal(ring_node_id_cmp("n01", "n1"), -ring_node_id_cmp("n1", "n01"));
    assert_true(ring_node_id_cmp("n01", "n2") < 0);
    /* Digits against other bytes: as bytes ('-' < '0' < '9' < 'a'). */
    assert_true(ring_node_id_cmp("n-", "n0") < 0);
    assert_true(ring_node_id_cmp("na", "n9") > 0);
    /* Bytes above 0x7f compare unsigned. */
    assert_true(ring_node_id_cmp("n\xff", "nz") > 0);
}

static int qsort_cmp(const void *a, const void *b)
{
    return ring_node_id_cmp(*(const char *const *)a, *(const char *const *)b);
}

/* The comparison must be a total order, or sorting and ring_find break. */
static void test_natural_cmp_total_order(void **state)
{
    static const char alphabet[] = "0019a_-";
    char *ids[300];
    unsigned seed = 7;
    size_t i, j, n = sizeof(ids) / sizeof(ids[0]);

    (void)state;
    for (i = 0; i < n; i++) {
        size_t len, k;

        seed = seed * 1103515245u + 12345u;
        len = 1 + (seed >> 16) % 6;
        ids[i] = malloc(len + 1);
        assert_non_null(ids[i]);
        for (k = 0; k < len; k++) {
            seed = seed * 1103515245u + 12345u;
            ids[i][k] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
        }
        ids[i][len] = '\0';
    }
    qsort(ids, n, sizeof(ids[0]), qsort_cmp);
    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            int c = ring_node_id_cmp(ids[i], ids[j]);

            assert_int_equal(c, -ring_node_id_cmp(ids[j], ids[i]));
            assert_int_equal(c == 0, strcmp(ids[i], ids[j]) == 0);
            /* Sorted order agrees with every pairwise comparison (transitivity). */
            if (i < j)
                assert_true(c <= 0);
        }
    }
    for (i = 0; i < n; i++)
        free(ids[i]);
}

static void test_order_and_find(void **state)
{
    const char *ids[] = {"node_10", "node_2", "node_1", "node_0", "node_11", "node_3"};
    const char *want[] = {"node_0", "node_1", "node_2", "node_3", "node_10", "node_11"};
    struct ring *r;
    size_t i;

    (void)state;
    assert_int_equal(ring_create(ids, 6, 64, &r), 0);
    assert_int_equal(ring_size(r), 6);
    for (i = 0; i < 6; i++) {
        assert_string_equal(ring_node_id(r, i), want[i]);
        assert_int_equal(ring_find(r, want[i]), (int)i);
    }
    assert_null(ring_node_id(r, 6));
    assert_int_equal(ring_find(r, "node_4"), -ENOENT);
    assert_int_equal(ring_find(r, "node_02"), -ENOENT);
    assert_int_equal(ring_find(r, ""), -ENOENT);
    assert_int_equal(ring_find(r, NULL), -ENOENT);
    ring_destroy(r);
}

/* Placement depends on the set of ids only, not on the order they are given in. */
static void test_deterministic(void **state)
{
    const char *a[] = {"s3", "s1", "s10", "s2", "s20"};
    const char *b[] = {"s20", "s10", "s3", "s2", "s1"};
    struct ring *ra, *rb;
    char key[128];
    unsigned i;

    (void)state;
    assert_int_equal(ring_create(a, 5, 0, &ra), 0);
    assert_int_equal(ring_create(b, 5, 0, &rb), 0);
    for (i = 0; i < 100000; i++) {
        size_t len = make_key(key, sizeof(key), i);

        assert_int_equal(ring_owner(ra, key, len), ring_owner(rb, key, len));
        assert_int_equal(ring_owner_path(ra, key), ring_owner(ra, key, len));
        assert_int_equal(ring_owner_chunk(ra, i, i * 7), ring_owner_chunk(rb, i, i * 7));
    }
    ring_destroy(ra);
    ring_destroy(rb);
}

static void test_single_server(void **state)
{
    const char *one[] = {"only"};
    struct ring *r;
    unsigned i;

    (void)state;
    assert_int_equal(ring_create(one, 1, 1, &r), 0);
    for (i = 0; i < 1000; i++)
        assert_int_equal(ring_owner(r, &i, sizeof(i)), 0);
    ring_destroy(r);
}

/*
 * Pinned values. These define where every existing file lives: if one of
 * them changes, a new client can no longer find data written by an old one.
 */
static void test_pinned_values(void **state)
{
    const char *ids[] = {"node_0", "node_1", "node_2", "node_3"};
    unsigned char le[16] = {0x2a, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
    struct ring *r;

    (void)state;
    static const struct {
        const char *path;
        size_t owner;
    } paths[] = {
        {"/", 0},
        {"/a", 2},
        {"/b", 2},
        {"/c", 0},
        {"/d", 2},
        {"/e", 3},
        {"/f", 3},
        {"/g", 0},
        {"/out/ior_file_easy.00000042", 1},
        {"/mdtest/dir.0/file.mdtest.3.1771", 0},
    };
    static const size_t chunk_owner[8] = {3, 3, 2, 2, 2, 0, 1, 0};
    size_t i;

    assert_true(ring_hash("", 0) == UINT64_C(0xc61ede20c18c9a5b));
    assert_true(ring_hash("node_0", 6) == UINT64_C(0x38b7d87a3b5308df));
    assert_true(ring_node_tag("node_0") == UINT32_C(0x3b5308df));
    assert_true(ring_node_tag("node_1") == (uint32_t)ring_hash("node_1", 6));

    assert_int_equal(ring_create(ids, 4, 0, &r), 0);
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        assert_int_equal(ring_owner_path(r, paths[i].path), paths[i].owner);
    for (i = 0; i < 8; i++)
        assert_int_equal(ring_owner_chunk(r, 42, i), chunk_owner[i]);
    /* Chunk keys are le64(ino) || le64(index). */
    assert_int_equal(ring_owner_chunk(r, 42, 7), ring_owner(r, le, sizeof(le)));
    ring_destroy(r);
}

/* Per-server key counts over the NKEYS benchmark-shaped keys. */
static void count_keys(const struct ring *r, size_t *counts)
{
    char key[128];
    unsigned i;

    memset(counts, 0, ring_size(r) * sizeof(*counts));
    for (i = 0; i < NKEYS; i++) {
        size_t len = make_key(key, sizeof(key), i);

        counts[ring_owner(r, key, len)]++;
    }
}

/* Returns max/mean and prints one line of statistics. */
static double report_balance(const char *what, const size_t *counts, size_t n, size_t total)
{
    double mean = (double)total / (double)n, max = 0, min = (double)total;
    size_t i;

    for (i = 0; i < n; i++) {
        if ((double)counts[i] > max)
            max = (double)counts[i];
        if ((double)counts[i] < min)
            min = (double)counts[i];
    }
    printf("ring: %-34s servers %3zu  max/mean %.4f  min/mean %.4f\n", what, n, max / mean,
           min / mean);
    return max / mean;
}

static void check_balance(struct id_scheme scheme, size_t n)
{
    size_t counts[MAX_SERVERS];
    char what[64], first[32];
    uint64_t t0, t1;
    struct ring *r;
    double ratio;
    unsigned i;

    t0 = time_mono_ns();
    r = make_ring(scheme, n);
    t1 = time_mono_ns();
    snprintf(first, sizeof(first), "%s...", ring_node_id(r, 0));
    printf("ring: build %zu servers x %u vnodes (%s): %.2f ms\n", n, RING_DEFAULT_VNODES, first,
           (double)(t1 - t0) / 1e6);

    t0 = time_mono_ns();
    count_keys(r, counts);
    t1 = time_mono_ns();
    printf("ring: %d lookups incl. key formatting: %.0f ns each\n", NKEYS,
           (double)(t1 - t0) / NKEYS);
    snprintf(what, sizeof(what), "IOR/mdtest paths (%s)", first);
    ratio = report_balance(what, counts, n, NKEYS);
    assert_true(ratio <= 1.10);

    /* Chunks of 1000 files x 1000 chunks, inode numbers carrying server tags. */
    memset(counts, 0, sizeof(counts));
    for (i = 0; i < NKEYS; i++) {
        uint64_t ino = (uint64_t)ring_node_tag(ring_node_id(r, (i / 1000) % n)) << 32 | i / 1000;

        counts[ring_owner_chunk(r, ino, i % 1000)]++;
    }
    snprintf(what, sizeof(what), "chunks (%s)", first);
    ratio = report_balance(what, counts, n, NKEYS);
    assert_true(ratio <= 1.10);
    ring_destroy(r);
}

static void test_balance_16(void **state)
{
    (void)state;
    check_balance(NODE, 16);
}

static void test_balance_64(void **state)
{
    (void)state;
    check_balance(NODE, 64);
}

/* Other naming schemes (hostnames, zero padding) must balance as well. */
static void test_balance_other_names(void **state)
{
    (void)state;
    check_balance(NID, 16);
    check_balance(NID, 64);
    check_balance(SERVER_IB, 64);
}

/* One server joins: ~1/(n+1) of the keys move, every one of them to the newcomer. */
static void check_join(size_t n)
{
    struct ring *before = make_ring(NODE, n), *after = make_ring(NODE, n + 1);
    char key[128], newcomer[32];
    size_t moved = 0;
    unsigned i;
    double frac;

    snprintf(newcomer, sizeof(newcomer), "node_%zu", n);
    for (i = 0; i < NKEYS; i++) {
        size_t len = make_key(key, sizeof(key), i);
        const char *a = ring_node_id(before, ring_owner(before, key, len));
        const char *b = ring_node_id(after, ring_owner(after, key, len));

        if (strcmp(a, b) != 0) {
            assert_string_equal(b, newcomer);
            moved++;
        }
    }
    frac = (double)moved / NKEYS;
    printf("ring: join %3zu -> %3zu servers: %.4f of keys moved (ideal 1/(n+1) = %.4f, "
           "x%.2f)\n",
           n, n + 1, frac, 1.0 / (double)(n + 1), frac * (double)(n + 1));
    assert_true(frac < 1.5 / (double)n);
    assert_true(frac > 0.5 / (double)(n + 1));
    ring_destroy(before);
    ring_destroy(after);
}

static void test_join_moves_few_keys(void **state)
{
    (void)state;
    check_join(16);
    check_join(64);
}

/* One server leaves: only its keys move. */
static void test_leave_moves_only_its_keys(void **state)
{
    char **ids = make_ids(NODE, 64);
    struct ring *all, *less;
    char key[128];
    size_t moved = 0;
    unsigned i;

    (void)state;
    assert_int_equal(ring_create((const char *const *)ids, 64, 0, &all), 0);
    /* Drop node_17 by moving the last id into its slot. */
    free(ids[17]);
    ids[17] = ids[63];
    assert_int_equal(ring_create((const char *const *)ids, 63, 0, &less), 0);
    for (i = 0; i < NKEYS; i++) {
        size_t len = make_key(key, sizeof(key), i);
        const char *a = ring_node_id(all, ring_owner(all, key, len));
        const char *b = ring_node_id(less, ring_owner(less, key, len));

        if (strcmp(a, b) != 0) {
            assert_string_equal(a, "node_17");
            moved++;
        }
    }
    printf("ring: leave 64 -> 63 servers: %.4f of keys moved (ideal 1/64 = %.4f)\n",
           (double)moved / NKEYS, 1.0 / 64);
    assert_true(moved > 0);
    ring_destroy(all);
    ring_destroy(less);
    free_ids(ids, 63);
}

/* Fewer vnodes work too (and the balance is then visibly worse, as expected). */
static void test_custom_vnodes(void **state)
{
    char **ids = make_ids(NODE, 16);
    size_t counts[16];
    struct ring *r;

    (void)state;
    assert_int_equal(ring_create((const char *const *)ids, 16, 16, &r), 0);
    count_keys(r, counts);
    report_balance("16 vnodes (for comparison)", counts, 16, NKEYS);
    ring_destroy(r);
    free_ids(ids, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_natural_cmp),
        cmocka_unit_test(test_natural_cmp_total_order),
        cmocka_unit_test(test_order_and_find),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_single_server),
        cmocka_unit_test(test_pinned_values),
        cmocka_unit_test(test_lookup_matches_search),
        cmocka_unit_test(test_balance_16),
        cmocka_unit_test(test_balance_64),
        cmocka_unit_test(test_balance_other_names),
        cmocka_unit_test(test_join_moves_few_keys),
        cmocka_unit_test(test_leave_moves_only_its_keys),
        cmocka_unit_test(test_custom_vnodes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
