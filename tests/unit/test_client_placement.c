/*
 * test_client_placement.c - unit tests of src/client/placement.c: the tag
 * table, chunk and metadata placement, piece splitting and chunk removal
 * plans. Pure functions over a ring: no servers needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/placement.h"
#include "common/ring.h"
#include "proto/proto.h"

#define MiB (1ull << 20)

struct fixture {
    struct ring *ring;
    struct placement p;
    size_t n;
};

static void fixture_make(struct fixture *f, size_t n, uint64_t xfer)
{
    char names[64][32];
    const char *ids[64];
    size_t i;

    assert_true(n <= 64);
    for (i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "node_%zu", i);
        ids[i] = names[i];
    }
    assert_int_equal(ring_create(ids, n, 0, &f->ring), 0);
    assert_int_equal(placement_init(&f->p, f->ring, xfer, NULL, NULL), 0);
    f->n = n;
}

static void fixture_free(struct fixture *f)
{
    placement_cleanup(&f->p);
    ring_destroy(f->ring);
}

/* An inode number allocated by server idx. */
static uint64_t ino_of(const struct fixture *f, size_t idx, uint32_t counter)
{
    return ((uint64_t)ring_node_tag(ring_node_id(f->ring, idx)) << 32) | counter;
}

static void test_tags(void **state)
{
    struct fixture f;
    size_t i;

    (void)state;
    fixture_make(&f, 16, MiB);
    for (i = 0; i < f.n; i++) {
        uint32_t tag = ring_node_tag(ring_node_id(f.ring, i));

        assert_int_equal(placement_tag_server(&f.p, tag), (int)i);
    }
    /* A tag no server has. */
    for (i = 0; i < 1000; i++) {
        uint32_t tag = (uint32_t)(i * 2654435761u);
        int s = placement_tag_server(&f.p, tag);

        if (s >= 0)
            assert_int_equal(ring_node_tag(ring_node_id(f.ring, (size_t)s)), tag);
        else
            assert_int_equal(s, -ENOENT);
    }
    fixture_free(&f);
}

static void test_chunk_zero_with_allocator(void **state)
{
    struct fixture f;
    size_t i;
    uint64_t idx;

    (void)state;
    fixture_make(&f, 8, MiB);
    for (i = 0; i < f.n; i++) {
        uint64_t ino = ino_of(&f, i, 42);

        /* Chunk 0 always lives with the allocating server... */
        assert_int_equal(placement_chunk(&f.p, ino, 0), i);
        /* ...the others follow the ring. */
        for (idx = 1; idx < 64; idx++)
            assert_int_equal(placement_chunk(&f.p, ino, idx), ring_owner_chunk(f.ring, ino, idx));
    }
    /* Unknown allocator: the ring decides chunk 0 too. */
    assert_int_equal(placement_chunk(&f.p, 0x1234ull, 0), ring_owner_chunk(f.ring, 0x1234ull, 0));
    fixture_free(&f);
}

static void test_metadata_placement(void **state)
{
    struct fixture f;
    const char *p = "/dir/file.0001";

    (void)state;
    fixture_make(&f, 5, MiB);
    assert_int_equal(placement_path(&f.p, p, strlen(p)), ring_owner_path(f.ring, p));
    fixture_free(&f);
}

/* Walk the pieces of [off, off+len) and check they tile it correctly. */
static uint64_t check_pieces(const struct fixture *f, uint64_t ino, uint64_t cs, uint64_t off,
                             uint64_t len)
{
    uint64_t pos = off, end = off + len, count = 0;
    struct piece pc;

    while (pos < end) {
        placement_piece(&f->p, ino, cs, pos, end, &pc);
        assert_true(pc.length > 0);
        assert_int_equal(pc.file_off, pos);
        assert_int_equal(pc.index, pos / cs);
        assert_int_equal(pc.offset, pos % cs);
        /* Never crosses a chunk boundary, never exceeds the server's max_xfer. */
        assert_true((uint64_t)pc.offset + pc.length <= cs);
        assert_true(pc.length <= f->p.max_xfer[pc.server]);
        assert_int_equal(pc.server, placement_chunk(&f->p, ino, pc.index));
        pos += pc.length;
        count++;
    }
    assert_int_equal(pos, end);
    assert_int_equal(count, placement_piece_count(&f->p, ino, cs, off, len));
    return count;
}

static void test_pieces(void **state)
{
    struct fixture f;
    uint64_t ino;

    (void)state;
    fixture_make(&f, 4, MiB);
    ino = ino_of(&f, 1, 7);
    /* Aligned: 4 MiB chunks cut into 1 MiB transfers. */
    assert_int_equal(check_pieces(&f, ino, 4 * MiB, 0, 10 * MiB), 10);
    /* Unaligned start and end, crossing chunk boundaries. */
    check_pieces(&f, ino, 4 * MiB, 4 * MiB - 100, 200);
    assert_int_equal(check_pieces(&f, ino, 4 * MiB, 4 * MiB - 100, 200), 2);
    check_pieces(&f, ino, 4 * MiB, 12345, 47008 * 33);
    /* Chunks smaller than max_xfer: one piece per chunk. */
    assert_int_equal(check_pieces(&f, ino, 64 * 1024, 0, 1 * MiB), 16);
    /* One byte. */
    assert_int_equal(check_pieces(&f, ino, 4 * MiB, 123456789, 1), 1);
    /* Per-server transfer limits differ. */
    placement_set_max_xfer(&f.p, 0, 4096);
    placement_set_max_xfer(&f.p, 2, 3 * MiB);
    check_pieces(&f, ino, 4 * MiB, 1000, 40 * MiB);
    fixture_free(&f);
}

static void test_max_xfer_clamp(void **state)
{
    struct fixture f;

    (void)state;
    fixture_make(&f, 2, MiB);
    placement_set_max_xfer(&f.p, 0, 0); /* 0 keeps the old value */
    assert_int_equal(f.p.max_xfer[0], MiB);
    placement_set_max_xfer(&f.p, 1, 1ull << 40);
    assert_int_equal(f.p.max_xfer[1], PROTO_DATA_MAX);
    placement_set_max_xfer(&f.p, 5, 4096); /* out of range: ignored */
    fixture_free(&f);
}

/* Every chunk of [new, old) is in its holder's range; keep only for the cut chunk. */
static void check_plan(const struct fixture *f, uint64_t ino, uint64_t cs, uint64_t new_size,
                       uint64_t old_size)
{
    struct remove_range r[64];
    size_t n = 0, i, j;
    uint64_t idx, first, last;

    assert_int_equal(placement_remove_plan(&f->p, ino, cs, new_size, old_size, r, &n), 0);
    if (old_size <= new_size) {
        assert_int_equal(n, 0);
        return;
    }
    assert_true(n >= 1 && n <= f->n);
    for (i = 0; i < n; i++) {
        assert_true(r[i].first <= r[i].last);
        for (j = i + 1; j < n; j++)
            assert_true(r[i].server != r[j].server);
        if (r[i].keep > 0) {
            assert_int_equal(r[i].keep, new_size % cs);
            assert_int_equal(r[i].first, new_size / cs);
            assert_int_equal(r[i].server, placement_chunk(&f->p, ino, new_size / cs));
        }
    }
    first = new_size / cs;
    last = (old_size - 1) / cs;
    for (idx = first; idx <= last; idx++) {
        size_t holder = placement_chunk(&f->p, ino, idx);
        bool found = false;

        for (i = 0; i < n; i++) {
            if (r[i].server == holder && r[i].first <= idx && idx <= r[i].last)
                found = true;
        }
        assert_true(found);
    }
    /* Chunks before the cut are never touched. */
    for (i = 0; i < n; i++)
        assert_true(r[i].first >= first);
    /* With an aligned cut nothing is kept. */
    if (new_size % cs == 0) {
        for (i = 0; i < n; i++)
            assert_int_equal(r[i].keep, 0);
    }
}

static void test_remove_plan(void **state)
{
    struct fixture f;
    struct remove_range r[8];
    uint64_t ino, cs = 4 * MiB;
    size_t n;

    (void)state;
    fixture_make(&f, 5, MiB);
    ino = ino_of(&f, 3, 99);
    check_plan(&f, ino, cs, 0, 0);
    check_plan(&f, ino, cs, 100, 50);
    check_plan(&f, ino, cs, 0, 1);
    check_plan(&f, ino, cs, 0, 256 * MiB);
    check_plan(&f, ino, cs, 10, 100);
    check_plan(&f, ino, cs, cs, 3 * cs + 1);
    check_plan(&f, ino, cs, cs + 7, 40 * cs);
    check_plan(&f, ino, 4096, 4095, 4096 * 1000 + 3);

    /* Small file removal: one server, the allocator, chunk 0 only. */
    assert_int_equal(placement_remove_plan(&f.p, ino, cs, 0, 3901, r, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].server, 3);
    assert_int_equal(r[0].first, 0);
    assert_int_equal(r[0].last, 0);
    assert_int_equal(r[0].keep, 0);

    /* A huge sparse range: every server gets the whole range. */
    assert_int_equal(placement_remove_plan(&f.p, ino, 4096, 4096 + 5, 1ull << 50, r, &n), 0);
    assert_int_equal(n, f.n);
    assert_int_equal(placement_remove_plan(&f.p, ino, 0, 0, 10, r, &n), -EINVAL);
    fixture_free(&f);
}

/* A 256 MiB file in 4 MiB chunks touches every one of 4 servers. */
static void test_spread(void **state)
{
    struct fixture f;
    unsigned hits[4] = {0};
    uint64_t ino, idx;
    size_t i;

    (void)state;
    fixture_make(&f, 4, MiB);
    ino = ino_of(&f, 0, 1);
    for (idx = 0; idx < 64; idx++)
        hits[placement_chunk(&f.p, ino, idx)]++;
    for (i = 0; i < 4; i++) {
        printf("server %zu: %u of 64 chunks\n", i, hits[i]);
        assert_true(hits[i] >= 4);
    }
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_chunk_zero_with_allocator),
        cmocka_unit_test(test_metadata_placement),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_max_xfer_clamp),
        cmocka_unit_test(test_remove_plan),
        cmocka_unit_test(test_spread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
