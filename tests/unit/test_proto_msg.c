/*
 * test_proto_msg.c - the wire format: sizes, little-endian layout, round
 * trips of every op, and rejection of malformed input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/proto.h"

static struct proto_hdr mkhdr(unsigned op, uint32_t flags, uint32_t data_len)
{
    struct proto_hdr h;

    memset(&h, 0, sizeof(h));
    h.op = (uint16_t)op;
    h.flags = flags;
    h.req_id = 0x1122334455667788ull;
    h.data_len = data_len;
    for (int i = 0; i < PROTO_COOKIE_LEN; i++)
        h.cookie[i] = (uint8_t)(0xa0 + i);
    return h;
}

static void test_header_layout(void **state)
{
    struct proto_hdr h = mkhdr(PROTO_OP_STAT, 0, 5), back;
    union proto_body b;
    uint8_t buf[PROTO_MSG_MAX];
    int n;

    memset(&b, 0, sizeof(b));
    b.path_req.path_len = 5;
    n = proto_msg_pack(&h, &b, buf, sizeof(buf));
    assert_int_equal(n, PROTO_HDR_SIZE + PROTO_SIZE_path_req);
    /* little-endian at fixed offsets */
    assert_int_equal(buf[0], 0x42);
    assert_int_equal(buf[1], 0x46);
    assert_int_equal(buf[2], 0x53);
    assert_int_equal(buf[3], 0x31);
    assert_int_equal(buf[6], PROTO_OP_STAT);
    assert_int_equal(buf[16], 0x88);
    assert_int_equal(buf[23], 0x11);
    assert_int_equal(buf[24], PROTO_SIZE_path_req);
    assert_int_equal(buf[28], 5);
    assert_int_equal(buf[32], 0xa0);
    assert_int_equal(buf[PROTO_HDR_SIZE], 5); /* path_len */
    assert_int_equal(proto_hdr_unpack(buf, (size_t)n, &back), 0);
    assert_int_equal(back.req_id, h.req_id);
    assert_int_equal(back.body_len, PROTO_SIZE_path_req);
    assert_memory_equal(back.cookie, h.cookie, PROTO_COOKIE_LEN);
}

static void test_every_op_round_trips(void **state)
{
    for (unsigned op = 1; op < PROTO_OP_COUNT; op++) {
        for (int reply = 0; reply <= 1; reply++) {
            struct proto_hdr h = mkhdr(op, reply ? PROTO_FLAG_REPLY : 0, 0), back;
            union proto_body b, b2;
            uint8_t buf[PROTO_MSG_MAX];
            int n;

            /* fill the body with a pattern so every field is exercised */
            memset(&b, 0, sizeof(b));
            for (size_t i = 0; i < sizeof(b); i++)
                ((uint8_t *)&b)[i] = (uint8_t)(i * 13 + op);
            n = proto_msg_pack(&h, &b, buf, sizeof(buf));
            assert_true(n >= PROTO_HDR_SIZE);
            assert_int_equal(n, PROTO_HDR_SIZE + (reply ? proto_rep_size(op) : proto_req_size(op)));
            assert_int_equal(proto_hdr_unpack(buf, (size_t)n, &back), 0);
            assert_int_equal(proto_body_unpack(op, reply, buf + PROTO_HDR_SIZE, back.body_len, &b2),
                             0);
            /* pack again: identical bytes */
            {
                uint8_t buf2[PROTO_MSG_MAX];
                int n2 = proto_msg_pack(&back, &b2, buf2, sizeof(buf2));

                assert_int_equal(n, n2);
                assert_memory_equal(buf, buf2, (size_t)n);
            }
        }
        assert_string_not_equal(proto_op_name(op), "?");
    }
    assert_string_equal(proto_op_name(PROTO_OP_COUNT), "?");
    assert_int_equal(proto_req_size(0), -EOPNOTSUPP);
}

static void test_malformed_headers(void **state)
{
    struct proto_hdr h = mkhdr(PROTO_OP_PING, 0, 0), back;
    union proto_body b;
    uint8_t buf[PROTO_MSG_MAX];
    int n;

    memset(&b, 0, sizeof(b));
    n = proto_msg_pack(&h, &b, buf, sizeof(buf));
    assert_int_equal(proto_hdr_unpack(buf, 10, &back), -EPROTO);            /* short */
    assert_int_equal(proto_hdr_unpack(buf, (size_t)n - 1, &back), -EPROTO); /* body cut */
    assert_int_equal(proto_hdr_unpack(buf, (size_t)n + 1, &back), -EPROTO); /* trailing */
    buf[0] ^= 1;
    assert_int_equal(proto_hdr_unpack(buf, (size_t)n, &back), -EPROTO); /* magic */
    buf[0] ^= 1;
    buf[4] = 9;
    assert_int_equal(proto_hdr_unpack(buf, (size_t)n, &back), -EPROTO); /* version */
    buf[4] = PROTO_VERSION;
    proto_put_u32(buf + 28, PROTO_DATA_MAX + 1);
    assert_int_equal(proto_hdr_unpack(buf, (size_t)n, &back), -EPROTO); /* data too large */
    proto_put_u32(buf + 28, 0);
    proto_put_u16(buf + 6, 4242);
    assert_int_equal(proto_hdr_unpack(buf, (size_t)n, &back), -EOPNOTSUPP);
    assert_int_equal(back.op, 4242); /* still filled so the server can answer */
    proto_put_u16(buf + 6, PROTO_OP_PING);
    proto_put_u32(buf + 24, 99);
    assert_int_equal(proto_hdr_unpack(buf, (size_t)n, &back), -EPROTO); /* body_len */
    assert_int_equal(proto_body_unpack(PROTO_OP_PING, false, buf, 3, &b), -EPROTO);
}

static void test_error_reply_has_no_body(void **state)
{
    struct proto_hdr h = mkhdr(PROTO_OP_CREATE, PROTO_FLAG_REPLY, 0), back;
    union proto_body b;
    uint8_t buf[PROTO_MSG_MAX];
    int n;

    memset(&b, 0, sizeof(b));
    h.status = -ENOENT;
    n = proto_msg_pack(&h, &b, buf, sizeof(buf));
    assert_int_equal(n, PROTO_HDR_SIZE);
    assert_int_equal(proto_hdr_unpack(buf, (size_t)n, &back), 0);
    assert_int_equal(back.status, -ENOENT);
    assert_int_equal(back.body_len, 0);
}

static void test_request_checks(void **state)
{
    union proto_body b;

    memset(&b, 0, sizeof(b));
    b.path_req.path_len = 4;
    assert_int_equal(proto_req_check(PROTO_OP_STAT, &b, 4, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_STAT, &b, 5, 1 << 20), -EPROTO);
    b.path_req.path_len = 0;
    assert_int_equal(proto_req_check(PROTO_OP_STAT, &b, 0, 1 << 20), -EPROTO);
    b.path_req.path_len = 4096;
    assert_int_equal(proto_req_check(PROTO_OP_STAT, &b, 4096, 1 << 20), -ENAMETOOLONG);
    b.path_req.path_len = 4095;
    assert_int_equal(proto_req_check(PROTO_OP_STAT, &b, 4095, 1 << 20), 0);

    memset(&b, 0, sizeof(b));
    b.rename_req.path_len = 3;
    b.rename_req.path2_len = 4;
    assert_int_equal(proto_req_check(PROTO_OP_RENAME, &b, 7, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_RENAME, &b, 6, 1 << 20), -EPROTO);
    b.rename_req.path2_len = 0xffffffffu; /* no overflow in the sum */
    assert_int_equal(proto_req_check(PROTO_OP_RENAME, &b, 2, 1 << 20), -ENAMETOOLONG);

    memset(&b, 0, sizeof(b));
    b.chunk_io_req.length = 4096;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_WRITE, &b, 4096, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_WRITE, &b, 4095, 1 << 20), -EPROTO);
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_READ, &b, 0, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_READ, &b, 0, 1024), -EPROTO);
    b.chunk_io_req.offset = 0xfffffff0u;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_READ, &b, 0, 1 << 20), -EPROTO);
    b.chunk_io_req.offset = 0;
    b.chunk_io_req.length = 0;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_READ, &b, 0, 1 << 20), -EPROTO);

    /* A chunk-0 write that publishes the size: the path follows the data. */
    memset(&b, 0, sizeof(b));
    b.chunk_io_req.length = 4096;
    b.chunk_io_req.flags = PROTO_CHUNK_SETSIZE;
    b.chunk_io_req.path_len = 5;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_WRITE, &b, 4101, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_WRITE, &b, 4096, 1 << 20), -EPROTO);
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_WRITE, &b, 4101, 4100), -EPROTO);
    b.chunk_io_req.index = 1; /* chunk 0 only */
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_WRITE, &b, 4101, 1 << 20), -EPROTO);
    b.chunk_io_req.index = 0;
    b.chunk_io_req.path_len = 0; /* a named record needs its path */
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_WRITE, &b, 4096, 1 << 20), -EPROTO);
    b.chunk_io_req.flags |= PROTO_CHUNK_SETSIZE_ORPHAN; /* an orphan has none */
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_WRITE, &b, 4096, 1 << 20), 0);
    b.chunk_io_req.path_len = 5;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_WRITE, &b, 4101, 1 << 20), -EPROTO);
    b.chunk_io_req.path_len = 0;
    b.chunk_io_req.flags = 0x4; /* unknown flag */
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_WRITE, &b, 4096, 1 << 20), -EPROTO);
    b.chunk_io_req.flags = 0;
    b.chunk_io_req.path_len = 5; /* a path without the flag */
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_WRITE, &b, 4101, 1 << 20), -EPROTO);
    b.chunk_io_req.path_len = 0;
    b.chunk_io_req.flags = PROTO_CHUNK_SETSIZE; /* reads never publish */
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_READ, &b, 0, 1 << 20), -EPROTO);

    memset(&b, 0, sizeof(b));
    b.chunk_rep.length = 10;
    b.chunk_rep.flags = PROTO_CHUNK_REP_SIZE_SET | PROTO_CHUNK_REP_DURABLE;
    assert_int_equal(proto_rep_check(PROTO_OP_CHUNK_WRITE, &b, 0), 0);
    b.chunk_rep.flags = 0x4;
    assert_int_equal(proto_rep_check(PROTO_OP_CHUNK_WRITE, &b, 0), -EPROTO);

    /* Read at open: STAT may ask for a small file's bytes; all or nothing. */
    memset(&b, 0, sizeof(b));
    b.path_req.path_len = 4;
    b.path_req.flags = PROTO_STAT_HEAD;
    assert_int_equal(proto_req_check(PROTO_OP_STAT, &b, 4, 1 << 20), 0);
    b.path_req.flags = 0x2;
    assert_int_equal(proto_req_check(PROTO_OP_STAT, &b, 4, 1 << 20), -EPROTO);
    memset(&b, 0, sizeof(b));
    b.attr_rep.attr.size = 3901;
    assert_int_equal(proto_rep_check(PROTO_OP_STAT, &b, 0), 0);
    assert_int_equal(proto_rep_check(PROTO_OP_STAT, &b, 3901), 0);
    assert_int_equal(proto_rep_check(PROTO_OP_STAT, &b, 3900), -EPROTO);
    b.attr_rep.attr.size = PROTO_STAT_HEAD_MAX + 1;
    assert_int_equal(proto_rep_check(PROTO_OP_STAT, &b, PROTO_STAT_HEAD_MAX + 1), -EPROTO);

    memset(&b, 0, sizeof(b));
    b.readdir_req.path_len = 2;
    b.readdir_req.cursor_len = 3;
    b.readdir_req.max_entries = 10;
    b.readdir_req.max_bytes = 65536;
    assert_int_equal(proto_req_check(PROTO_OP_READDIR, &b, 5, 1 << 20), 0);
    b.readdir_req.cursor_len = 256;
    assert_int_equal(proto_req_check(PROTO_OP_READDIR, &b, 258, 1 << 20), -EPROTO);
    b.readdir_req.cursor_len = 3;
    b.readdir_req.max_entries = 0;
    assert_int_equal(proto_req_check(PROTO_OP_READDIR, &b, 5, 1 << 20), -EPROTO);

    memset(&b, 0, sizeof(b));
    b.hello_req.addr_len = 300;
    assert_int_equal(proto_req_check(PROTO_OP_HELLO, &b, 300, 1 << 20), 0);
    b.hello_req.flags = PROTO_HELLO_PEER_FAILURE;
    assert_int_equal(proto_req_check(PROTO_OP_HELLO, &b, 300, 1 << 20), 0);
    b.hello_req.flags = 0x2;
    assert_int_equal(proto_req_check(PROTO_OP_HELLO, &b, 300, 1 << 20), -EPROTO);
    b.hello_req.flags = 0;
    b.hello_req.addr_len = PROTO_HELLO_ADDR_MAX + 1;
    assert_int_equal(proto_req_check(PROTO_OP_HELLO, &b, PROTO_HELLO_ADDR_MAX + 1, 1 << 20),
                     -EPROTO);
    assert_int_equal(proto_req_check(PROTO_OP_PING, &b, 1, 1 << 20), -EPROTO);
    assert_int_equal(proto_req_check(999, &b, 0, 1 << 20), -EOPNOTSUPP);

    /* by-inode ops: one path, and an inode number */
    memset(&b, 0, sizeof(b));
    b.ino_req.path_len = 2;
    b.ino_req.ino = 42;
    assert_int_equal(proto_req_check(PROTO_OP_ISTAT, &b, 2, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_ITRUNCATE, &b, 2, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_RELEASE, &b, 2, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_ISTAT, &b, 3, 1 << 20), -EPROTO);
    b.ino_req.path_len = 0;
    assert_int_equal(proto_req_check(PROTO_OP_RELEASE, &b, 0, 1 << 20), -EPROTO);
    b.ino_req.path_len = 2;
    b.ino_req.ino = 0;
    assert_int_equal(proto_req_check(PROTO_OP_ITRUNCATE, &b, 2, 1 << 20), -EPROTO);

    /* SETATTR: one path; ino 0 is "any" unless the orphan flag needs one */
    memset(&b, 0, sizeof(b));
    b.setattr_req.path_len = 2;
    b.setattr_req.valid = 0xffffffffu; /* the store's to judge */
    assert_int_equal(proto_req_check(PROTO_OP_SETATTR, &b, 2, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_SETATTR, &b, 3, 1 << 20), -EPROTO);
    b.setattr_req.flags = PROTO_INO_ORPHAN;
    assert_int_equal(proto_req_check(PROTO_OP_SETATTR, &b, 2, 1 << 20), -EPROTO);
    b.setattr_req.ino = 42;
    assert_int_equal(proto_req_check(PROTO_OP_SETATTR, &b, 2, 1 << 20), 0);
    b.setattr_req.flags = 0x2;
    assert_int_equal(proto_req_check(PROTO_OP_SETATTR, &b, 2, 1 << 20), -EPROTO);
    b.setattr_req.flags = 0;
    b.setattr_req.path_len = 0;
    assert_int_equal(proto_req_check(PROTO_OP_SETATTR, &b, 0, 1 << 20), -EPROTO);
    assert_int_equal(proto_req_size(PROTO_OP_SETATTR), 56);
    assert_int_equal(proto_rep_size(PROTO_OP_SETATTR), PROTO_SIZE_attr_rep);
}

/* CHUNK_TRUNC, CHUNK_LIST, INODE_LIST: requests and replies validated. */
static void test_fsck_and_trunc_checks(void **state)
{
    union proto_body b;

    (void)state;
    memset(&b, 0, sizeof(b));
    b.chunk_trunc_req.ino = 5;
    b.chunk_trunc_req.first = 3;
    b.chunk_trunc_req.keep_bytes = 100;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_TRUNC, &b, 0, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_TRUNC, &b, 1, 1 << 20), -EPROTO);
    /* GONE means the whole inode: first and keep_bytes must be 0. */
    b.chunk_trunc_req.flags = PROTO_CHUNK_TRUNC_GONE;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_TRUNC, &b, 0, 1 << 20), -EPROTO);
    b.chunk_trunc_req.first = b.chunk_trunc_req.keep_bytes = 0;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_TRUNC, &b, 0, 1 << 20), 0);
    /* SPREAD alone, on the whole inode: a mark, nothing removed. */
    b.chunk_trunc_req.flags = PROTO_CHUNK_TRUNC_SPREAD;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_TRUNC, &b, 0, 1 << 20), 0);
    b.chunk_trunc_req.flags = PROTO_CHUNK_TRUNC_SPREAD | PROTO_CHUNK_TRUNC_GONE;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_TRUNC, &b, 0, 1 << 20), -EPROTO);
    b.chunk_trunc_req.flags = PROTO_CHUNK_TRUNC_SPREAD;
    b.chunk_trunc_req.first = 1;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_TRUNC, &b, 0, 1 << 20), -EPROTO);
    b.chunk_trunc_req.first = 0;
    b.chunk_trunc_req.flags = 0x4;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_TRUNC, &b, 0, 1 << 20), -EPROTO);
    b.chunk_trunc_req.flags = 0;
    b.chunk_trunc_req.reserved = 1;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_TRUNC, &b, 0, 1 << 20), -EPROTO);

    memset(&b, 0, sizeof(b));
    b.chunk_list_req.max = PROTO_LIST_MAX;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_LIST, &b, 0, 1 << 20), 0);
    b.chunk_list_req.max = PROTO_LIST_MAX + 1;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_LIST, &b, 0, 1 << 20), -EPROTO);
    b.chunk_list_req.max = 0;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_LIST, &b, 0, 1 << 20), -EPROTO);
    b.chunk_list_req.max = 1;
    b.chunk_list_req.flags = 1;
    assert_int_equal(proto_req_check(PROTO_OP_CHUNK_LIST, &b, 0, 1 << 20), -EPROTO);

    memset(&b, 0, sizeof(b));
    b.inode_list_req.max = 10;
    b.inode_list_req.flags = PROTO_INODE_LIST_START;
    assert_int_equal(proto_req_check(PROTO_OP_INODE_LIST, &b, 0, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_INODE_LIST, &b, 8, 1 << 20), -EPROTO);
    b.inode_list_req.flags = 0x4;
    assert_int_equal(proto_req_check(PROTO_OP_INODE_LIST, &b, 0, 1 << 20), -EPROTO);

    /* ORPHAN_LIST is paged like CHUNK_LIST; ORPHAN_FREE names an inode only. */
    memset(&b, 0, sizeof(b));
    b.chunk_list_req.max = 10;
    assert_int_equal(proto_req_check(PROTO_OP_ORPHAN_LIST, &b, 0, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_ORPHAN_LIST, &b, 8, 1 << 20), -EPROTO);
    b.chunk_list_req.max = PROTO_LIST_MAX + 1;
    assert_int_equal(proto_req_check(PROTO_OP_ORPHAN_LIST, &b, 0, 1 << 20), -EPROTO);
    b.chunk_list_req.max = 10;
    b.chunk_list_req.flags = 1;
    assert_int_equal(proto_req_check(PROTO_OP_ORPHAN_LIST, &b, 0, 1 << 20), -EPROTO);
    memset(&b, 0, sizeof(b));
    b.ino_req.ino = 42;
    assert_int_equal(proto_req_check(PROTO_OP_ORPHAN_FREE, &b, 0, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_ORPHAN_FREE, &b, 2, 1 << 20), -EPROTO);
    b.ino_req.path_len = 2;
    assert_int_equal(proto_req_check(PROTO_OP_ORPHAN_FREE, &b, 2, 1 << 20), -EPROTO);
    b.ino_req.path_len = 0;
    b.ino_req.flags = PROTO_ORPHAN_FREE_UNKNOWN;
    assert_int_equal(proto_req_check(PROTO_OP_ORPHAN_FREE, &b, 0, 1 << 20), 0);
    b.ino_req.flags = 0x2;
    assert_int_equal(proto_req_check(PROTO_OP_ORPHAN_FREE, &b, 0, 1 << 20), -EPROTO);
    b.ino_req.flags = 0;
    b.ino_req.size = 1;
    assert_int_equal(proto_req_check(PROTO_OP_ORPHAN_FREE, &b, 0, 1 << 20), -EPROTO);
    b.ino_req.size = 0;
    b.ino_req.ino = 0;
    assert_int_equal(proto_req_check(PROTO_OP_ORPHAN_FREE, &b, 0, 1 << 20), -EPROTO);
    memset(&b, 0, sizeof(b));
    b.list_rep.count = 2;
    assert_int_equal(proto_rep_check(PROTO_OP_ORPHAN_LIST, &b, 2 * PROTO_ORPHAN_LIST_ENTRY), 0);
    assert_int_equal(proto_rep_check(PROTO_OP_ORPHAN_LIST, &b, 2 * PROTO_CHUNK_LIST_ENTRY),
                     -EPROTO);

    /* Replies: the data part is exactly count entries. */
    memset(&b, 0, sizeof(b));
    b.list_rep.count = 3;
    b.list_rep.done = 1;
    assert_int_equal(proto_rep_check(PROTO_OP_CHUNK_LIST, &b, 3 * PROTO_CHUNK_LIST_ENTRY), 0);
    assert_int_equal(proto_rep_check(PROTO_OP_CHUNK_LIST, &b, 3 * PROTO_CHUNK_LIST_ENTRY - 1),
                     -EPROTO);
    b.list_rep.done = 2;
    assert_int_equal(proto_rep_check(PROTO_OP_CHUNK_LIST, &b, 3 * PROTO_CHUNK_LIST_ENTRY), -EPROTO);
    b.list_rep.done = 0;
    b.list_rep.count = PROTO_LIST_MAX + 1;
    assert_int_equal(
        proto_rep_check(PROTO_OP_CHUNK_LIST, &b, (PROTO_LIST_MAX + 1) * PROTO_CHUNK_LIST_ENTRY),
        -EPROTO);
    memset(&b, 0, sizeof(b));
    b.inode_list_rep.count = 2;
    assert_int_equal(proto_rep_check(PROTO_OP_INODE_LIST, &b, 16), 0);
    assert_int_equal(proto_rep_check(PROTO_OP_INODE_LIST, &b, 24), -EPROTO);
    assert_int_equal(proto_rep_check(PROTO_OP_CHUNK_TRUNC, &b, 0), 0);
}

static void test_dirents(void **state)
{
    uint8_t buf[256];
    size_t off = 0, roff = 0;
    struct proto_dirent e;

    assert_int_equal(proto_dirent_pack(buf, sizeof(buf), &off, 7, 100, 0100644, "a", 1), 0);
    assert_int_equal(proto_dirent_pack(buf, sizeof(buf), &off, 8, 0, 040755, "dir", 3), 0);
    assert_int_equal(proto_dirent_pack(buf, 60, &off, 9, 0, 0, "zzzzzzzzzzzzzzzzzzzz", 20),
                     -ENOSPC);
    assert_int_equal(proto_dirent_pack(buf, sizeof(buf), &off, 9, 0, 0, "x", 0), -EINVAL);
    assert_int_equal(proto_dirent_next(buf, off, &roff, &e), 1);
    assert_int_equal(e.ino, 7);
    assert_int_equal(e.size, 100);
    assert_int_equal(e.name_len, 1);
    assert_int_equal(proto_dirent_next(buf, off, &roff, &e), 1);
    assert_memory_equal(e.name, "dir", 3);
    assert_int_equal(proto_dirent_next(buf, off, &roff, &e), 0);
    /* truncated entry and a name with '/' are malformed */
    roff = 0;
    assert_int_equal(proto_dirent_next(buf, 30, &roff, &e), 1);
    assert_int_equal(proto_dirent_next(buf, 30, &roff, &e), -EPROTO);
    buf[PROTO_DIRENT_FIXED] = '/';
    roff = 0;
    assert_int_equal(proto_dirent_next(buf, off, &roff, &e), -EPROTO);
}

/* PUT: the body's checks, the table packed and parsed back, and every way
 * a table and its data can disagree. */
static void test_put_table(void **state)
{
    struct proto_putfile in[3] = {
        {.length = 5, .path_len = 2, .mode = 0640, .flags = PROTO_PUTFILE_MTIME, .mtime_ns = 77},
        {.length = 0, .path_len = 3, .mode = 0600},
        {.length = 4, .path_len = 4, .mode = 07777},
    };
    const char *bytes[3] = {"hello", "", "abcd"}, *paths[3] = {"/a", "/bb", "/ccc"};
    struct proto_putfile out[3];
    union proto_body b;
    uint8_t data[3 * PROTO_PUTFILE_ENTRY + 32];
    uint32_t len = 3 * PROTO_PUTFILE_ENTRY;

    for (uint32_t k = 0; k < 3; k++) {
        proto_putfile_pack(data, k, &in[k]);
        memcpy(data + len, bytes[k], in[k].length);
        memcpy(data + len + in[k].length, paths[k], in[k].path_len);
        len += in[k].length + in[k].path_len;
    }
    assert_int_equal(proto_putfile_parse(data, len, 3, out), 0);
    for (uint32_t k = 0; k < 3; k++) {
        assert_int_equal(out[k].length, in[k].length);
        assert_int_equal(out[k].path_len, in[k].path_len);
        assert_int_equal(out[k].mode, in[k].mode);
        assert_int_equal(out[k].flags, in[k].flags);
        assert_int_equal(out[k].mtime_ns, in[k].mtime_ns);
        assert_memory_equal(out[k].data, bytes[k], in[k].length);
        assert_memory_equal(out[k].path, paths[k], in[k].path_len);
    }
    /* the data must end exactly where the last file does */
    assert_int_equal(proto_putfile_parse(data, len - 1, 3, out), -EPROTO);
    assert_int_equal(proto_putfile_parse(data, len + 1, 3, out), -EPROTO);
    assert_int_equal(proto_putfile_parse(data, len, 2, out), -EPROTO);
    assert_int_equal(proto_putfile_parse(data, 2 * PROTO_PUTFILE_ENTRY, 3, out), -EPROTO);
    assert_int_equal(proto_putfile_parse(data, len, 0, out), -EPROTO);
    /* an entry's unknown flag, mode bits, reserved word, empty or long path */
    data[12] = 0x2;
    assert_int_equal(proto_putfile_parse(data, len, 3, out), -EPROTO);
    data[12] = PROTO_PUTFILE_MTIME;
    data[PROTO_PUTFILE_ENTRY + 9] = 0x10; /* mode 010000 */
    assert_int_equal(proto_putfile_parse(data, len, 3, out), -EPROTO);
    data[PROTO_PUTFILE_ENTRY + 9] = 0x01;
    data[24] = 1;
    assert_int_equal(proto_putfile_parse(data, len, 3, out), -EPROTO);
    data[24] = 0;
    assert_int_equal(proto_putfile_parse(data, len, 3, out), 0);
    proto_putfile_pack(data, 1, &(struct proto_putfile){.path_len = 0});
    assert_int_equal(proto_putfile_parse(data, len, 3, out), -EPROTO);
    proto_putfile_pack(data, 1, &(struct proto_putfile){.length = 0, .path_len = 0xffffffffu});
    assert_int_equal(proto_putfile_parse(data, len, 3, out), -EPROTO);

    /* the body: count 1..PROTO_PUTFILE_MAX, flags 0, the table inside the
     * data, all of it within one transfer */
    memset(&b, 0, sizeof(b));
    b.put_req.count = 3;
    assert_int_equal(proto_req_check(PROTO_OP_PUT, &b, len, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_PUT, &b, len, len - 1), -EPROTO);
    assert_int_equal(proto_req_check(PROTO_OP_PUT, &b, 3 * PROTO_PUTFILE_ENTRY - 1, 1 << 20),
                     -EPROTO);
    b.put_req.flags = 1;
    assert_int_equal(proto_req_check(PROTO_OP_PUT, &b, len, 1 << 20), -EPROTO);
    b.put_req.flags = 0;
    b.put_req.count = 0;
    assert_int_equal(proto_req_check(PROTO_OP_PUT, &b, len, 1 << 20), -EPROTO);
    b.put_req.count = PROTO_PUTFILE_MAX + 1;
    assert_int_equal(proto_req_check(PROTO_OP_PUT, &b, 64u << 20, 128u << 20), -EPROTO);
    /* the reply: a status per file */
    memset(&b, 0, sizeof(b));
    b.put_rep.count = 3;
    assert_int_equal(proto_rep_check(PROTO_OP_PUT, &b, 12), 0);
    assert_int_equal(proto_rep_check(PROTO_OP_PUT, &b, 8), -EPROTO);
    b.put_rep.count = 0;
    assert_int_equal(proto_rep_check(PROTO_OP_PUT, &b, 0), -EPROTO);
}

/* GET: the body's checks, and the reply table packed and parsed back with
 * every way an entry can disagree with the data. */
static void test_get_table(void **state)
{
    struct proto_getfile in[3] = {
        {.status = 0, .data_len = 5, .attr = {.ino = 7, .size = 5, .mode = 0100640, .mtime_ns = 9}},
        {.status = -ENOENT},
        {.status = 0, .attr = {.ino = 8, .size = 1 << 20, .mode = 0100600}},
    };
    struct proto_getfile out[3];
    union proto_body b;
    uint8_t data[3 * PROTO_GETFILE_ENTRY + 5];
    uint32_t len = sizeof(data);

    in[0].data_off = 3 * PROTO_GETFILE_ENTRY;
    for (uint32_t k = 0; k < 3; k++)
        proto_getfile_pack(data, k, &in[k]);
    memcpy(data + in[0].data_off, "hello", 5);
    assert_int_equal(proto_getfile_parse(data, len, 3, out), 0);
    for (uint32_t k = 0; k < 3; k++) {
        assert_int_equal(out[k].status, in[k].status);
        assert_int_equal(out[k].data_len, in[k].data_len);
        assert_int_equal(out[k].attr.ino, in[k].attr.ino);
        assert_int_equal(out[k].attr.size, in[k].attr.size);
        assert_int_equal(out[k].attr.mode, in[k].attr.mode);
        assert_int_equal(out[k].attr.mtime_ns, in[k].attr.mtime_ns);
    }
    assert_int_equal(out[0].data_off, in[0].data_off);
    /* bytes past the data, inside the table, of another length than the
     * size, with a failed status; a positive status; a short table */
    assert_int_equal(proto_getfile_parse(data, len - 1, 3, out), -EPROTO);
    assert_int_equal(proto_getfile_parse(data, len, 4, out), -EPROTO);
    in[0].data_off = 8;
    proto_getfile_pack(data, 0, &in[0]);
    assert_int_equal(proto_getfile_parse(data, len, 3, out), -EPROTO);
    in[0].data_off = 3 * PROTO_GETFILE_ENTRY;
    in[0].data_len = 4;
    proto_getfile_pack(data, 0, &in[0]);
    assert_int_equal(proto_getfile_parse(data, len, 3, out), -EPROTO);
    in[0].data_len = 5;
    in[0].status = -EIO;
    proto_getfile_pack(data, 0, &in[0]);
    assert_int_equal(proto_getfile_parse(data, len, 3, out), -EPROTO);
    in[0].status = 3;
    in[0].data_len = 0;
    proto_getfile_pack(data, 0, &in[0]);
    assert_int_equal(proto_getfile_parse(data, len, 3, out), -EPROTO);
    in[0].status = 0;
    in[0].data_len = 5;
    proto_getfile_pack(data, 0, &in[0]);
    assert_int_equal(proto_getfile_parse(data, len, 3, out), 0);

    /* the request: count 1..PROTO_GETFILE_MAX, flags and reserved 0, a
     * length per path inside the data, the room within a message */
    memset(&b, 0, sizeof(b));
    b.get_req.count = 2;
    b.get_req.max_bytes = 1 << 20;
    assert_int_equal(proto_req_check(PROTO_OP_GET, &b, 8 + 4, 1 << 20), 0);
    assert_int_equal(proto_req_check(PROTO_OP_GET, &b, 7, 1 << 20), -EPROTO);
    assert_int_equal(proto_req_check(PROTO_OP_GET, &b, 8 + 4, 8), -EPROTO);
    b.get_req.max_bytes = PROTO_DATA_MAX + 1;
    assert_int_equal(proto_req_check(PROTO_OP_GET, &b, 8 + 4, 1 << 20), -EPROTO);
    b.get_req.max_bytes = 0;
    b.get_req.flags = 1;
    assert_int_equal(proto_req_check(PROTO_OP_GET, &b, 8 + 4, 1 << 20), -EPROTO);
    b.get_req.flags = 0;
    b.get_req.count = 0;
    assert_int_equal(proto_req_check(PROTO_OP_GET, &b, 8 + 4, 1 << 20), -EPROTO);
    /* the reply: at least the table */
    memset(&b, 0, sizeof(b));
    b.get_rep.count = 3;
    assert_int_equal(proto_rep_check(PROTO_OP_GET, &b, len), 0);
    assert_int_equal(proto_rep_check(PROTO_OP_GET, &b, 3 * PROTO_GETFILE_ENTRY - 1), -EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_every_op_round_trips),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_error_reply_has_no_body),
        cmocka_unit_test(test_request_checks),
        cmocka_unit_test(test_dirents),
        cmocka_unit_test(test_fsck_and_trunc_checks),
        cmocka_unit_test(test_put_table),
        cmocka_unit_test(test_get_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
