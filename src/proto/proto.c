/*
 * proto.c - pack, unpack and check BenchFS wire messages.
 *
 * Everything here is a pure function of its input bytes: no allocation, no
 * global state, so the fuzz target (tests/fuzz/fuzz_proto_msg.c) can drive it
 * with arbitrary input. Field-by-field code is generated from proto_msgs.def.
 */
#include "proto/proto.h"

#include <errno.h>
#include <string.h>

#include "common/path.h"

#define PROTO_ATTR_FIELD_SIZE(type, field) +PROTO_WIRE_##type
_Static_assert((0 PROTO_FIELDS_attr(PROTO_ATTR_FIELD_SIZE)) == PROTO_WIRE_attr,
               "proto_attr wire size changed");
_Static_assert(PROTO_SIZE_empty == 0, "empty body");
_Static_assert(PROTO_SIZE_ping_req == 8, "ping_req");
_Static_assert(PROTO_SIZE_path_req == 8, "path_req");
_Static_assert(PROTO_SIZE_create_req == 32, "create_req");
_Static_assert(PROTO_SIZE_create_rep == 88, "create_rep");
_Static_assert(PROTO_SIZE_rename_rep == 136, "rename_rep");
_Static_assert(PROTO_SIZE_chunk_io_req == 32, "chunk_io_req");
_Static_assert(PROTO_SIZE_hello_req == 32, "hello_req");
_Static_assert(PROTO_SIZE_status_rep == 128, "status_rep");
_Static_assert(PROTO_SIZE_setattr_req == 56, "setattr_req");
_Static_assert(PROTO_SIZE_put_req == 24, "put_req");
_Static_assert(PROTO_SIZE_put_rep == 8, "put_rep");
_Static_assert(PROTO_SIZE_get_req == 16, "get_req");
_Static_assert(PROTO_SIZE_get_rep == 8, "get_rep");
_Static_assert(PROTO_GETFILE_ENTRY == 16 + PROTO_WIRE_attr, "GET reply entry");

/* Every body must fit the fixed AM header budget. */
#define PROTO_ASSERT_BODY(name) \
    _Static_assert(PROTO_SIZE_##name <= PROTO_BODY_MAX, #name " too large");
PROTO_MSGS(PROTO_ASSERT_BODY)
#undef PROTO_ASSERT_BODY

static const char *const proto_op_names[PROTO_OP_COUNT] = {[PROTO_OP_NONE] = "NONE",
#define PROTO_NAME_ENTRY(name, req, rep) [PROTO_OP_##name] = #name,
                                                           PROTO_OPS(PROTO_NAME_ENTRY)
#undef PROTO_NAME_ENTRY
};

static const int proto_req_sizes[PROTO_OP_COUNT] = {
#define PROTO_REQ_ENTRY(name, req, rep) [PROTO_OP_##name] = PROTO_SIZE_##req,
    PROTO_OPS(PROTO_REQ_ENTRY)
#undef PROTO_REQ_ENTRY
};

static const int proto_rep_sizes[PROTO_OP_COUNT] = {
#define PROTO_REP_ENTRY(name, req, rep) [PROTO_OP_##name] = PROTO_SIZE_##rep,
    PROTO_OPS(PROTO_REP_ENTRY)
#undef PROTO_REP_ENTRY
};

static bool proto_op_valid(unsigned op)
{
    return op > PROTO_OP_NONE && op < PROTO_OP_COUNT;
}

const char *proto_op_name(unsigned op)
{
    return proto_op_valid(op) ? proto_op_names[op] : "?";
}

int proto_req_size(unsigned op)
{
    return proto_op_valid(op) ? proto_req_sizes[op] : -EOPNOTSUPP;
}

int proto_rep_size(unsigned op)
{
    return proto_op_valid(op) ? proto_rep_sizes[op] : -EOPNOTSUPP;
}

void proto_hdr_pack(const struct proto_hdr *hdr, void *buf)
{
    uint8_t *p = buf;

    proto_put_u32(p + 0, hdr->magic);
    proto_put_u16(p + 4, hdr->version);
    proto_put_u16(p + 6, hdr->op);
    proto_put_u32(p + 8, hdr->flags);
    proto_put_u32(p + 12, (uint32_t)hdr->status);
    proto_put_u64(p + 16, hdr->req_id);
    proto_put_u32(p + 24, hdr->body_len);
    proto_put_u32(p + 28, hdr->data_len);
    memcpy(p + 32, hdr->cookie, PROTO_COOKIE_LEN);
}

int proto_hdr_unpack(const void *buf, size_t len, struct proto_hdr *hdr_p)
{
    const uint8_t *p = buf;
    struct proto_hdr h;
    int expect;

    if (len < PROTO_HDR_SIZE)
        return -EPROTO;
    h.magic = proto_get_u32(p + 0);
    h.version = proto_get_u16(p + 4);
    h.op = proto_get_u16(p + 6);
    h.flags = proto_get_u32(p + 8);
    h.status = (int32_t)proto_get_u32(p + 12);
    h.req_id = proto_get_u64(p + 16);
    h.body_len = proto_get_u32(p + 24);
    h.data_len = proto_get_u32(p + 28);
    memcpy(h.cookie, p + 32, PROTO_COOKIE_LEN);

    if (h.magic != PROTO_MAGIC || h.version != PROTO_VERSION)
        return -EPROTO;
    if (h.data_len > PROTO_DATA_MAX)
        return -EPROTO;
    if (!proto_op_valid(h.op)) {
        *hdr_p = h;
        return -EOPNOTSUPP;
    }
    /* An error reply may omit the body: the status says everything. */
    expect = (h.flags & PROTO_FLAG_REPLY) ? proto_rep_sizes[h.op] : proto_req_sizes[h.op];
    if ((h.flags & PROTO_FLAG_REPLY) && h.status < 0 && h.body_len == 0)
        expect = 0;
    if (h.body_len != (uint32_t)expect || len != PROTO_HDR_SIZE + (size_t)h.body_len)
        return -EPROTO;
    *hdr_p = h;
    return 0;
}

/* Field codecs generated for every message. */
static uint8_t *proto_put_attr(uint8_t *p, const proto_attr_t *a);
static const uint8_t *proto_get_attr(const uint8_t *p, proto_attr_t *a);

#define PROTO_PUT_FIELD_u16(p, v)  (proto_put_u16((p), (v)), (p) + 2)
#define PROTO_PUT_FIELD_u32(p, v)  (proto_put_u32((p), (v)), (p) + 4)
#define PROTO_PUT_FIELD_u64(p, v)  (proto_put_u64((p), (v)), (p) + 8)
#define PROTO_PUT_FIELD_i32(p, v)  (proto_put_u32((p), (uint32_t)(v)), (p) + 4)
#define PROTO_PUT_FIELD_i64(p, v)  (proto_put_u64((p), (uint64_t)(v)), (p) + 8)
#define PROTO_PUT_FIELD_attr(p, v) proto_put_attr((p), &(v))
#define PROTO_GET_FIELD_u16(p, v)  ((v) = proto_get_u16(p), (p) + 2)
#define PROTO_GET_FIELD_u32(p, v)  ((v) = proto_get_u32(p), (p) + 4)
#define PROTO_GET_FIELD_u64(p, v)  ((v) = proto_get_u64(p), (p) + 8)
#define PROTO_GET_FIELD_i32(p, v)  ((v) = (int32_t)proto_get_u32(p), (p) + 4)
#define PROTO_GET_FIELD_i64(p, v)  ((v) = (int64_t)proto_get_u64(p), (p) + 8)
#define PROTO_GET_FIELD_attr(p, v) proto_get_attr((p), &(v))

#define PROTO_PUT_ONE(type, field) p = PROTO_PUT_FIELD_##type(p, m->field);
#define PROTO_GET_ONE(type, field) p = PROTO_GET_FIELD_##type(p, m->field);

static uint8_t *proto_put_attr(uint8_t *p, const proto_attr_t *m)
{
    PROTO_FIELDS_attr(PROTO_PUT_ONE) return p;
}

static const uint8_t *proto_get_attr(const uint8_t *p, proto_attr_t *m)
{
    PROTO_FIELDS_attr(PROTO_GET_ONE) return p;
}

#define PROTO_CODEC(name)                                                     \
    static void proto_pack_##name(const struct proto_##name *m, uint8_t *p)   \
    {                                                                         \
        (void)m;                                                              \
        PROTO_FIELDS_##name(PROTO_PUT_ONE)(void) p;                           \
    }                                                                         \
    static void proto_unpack_##name(const uint8_t *p, struct proto_##name *m) \
    {                                                                         \
        memset(m, 0, sizeof(*m));                                             \
        PROTO_FIELDS_##name(PROTO_GET_ONE)(void) p;                           \
    }
PROTO_MSGS(PROTO_CODEC)
#undef PROTO_CODEC

int proto_body_pack(unsigned op, bool reply, const union proto_body *body, void *buf, size_t len)
{
    int need = reply ? proto_rep_size(op) : proto_req_size(op);

    if (need < 0)
        return need;
    if (len < (size_t)need)
        return -EINVAL;
    switch (op) {
#define PROTO_PACK_CASE(name, req, rep)        \
    case PROTO_OP_##name:                      \
        if (reply)                             \
            proto_pack_##rep(&body->rep, buf); \
        else                                   \
            proto_pack_##req(&body->req, buf); \
        break;
        PROTO_OPS(PROTO_PACK_CASE)
#undef PROTO_PACK_CASE
    }
    return need;
}

int proto_body_unpack(unsigned op, bool reply, const void *buf, size_t len,
                      union proto_body *body_p)
{
    int need = reply ? proto_rep_size(op) : proto_req_size(op);

    if (need < 0)
        return need;
    if (len != (size_t)need)
        return -EPROTO;
    switch (op) {
#define PROTO_UNPACK_CASE(name, req, rep)          \
    case PROTO_OP_##name:                          \
        if (reply)                                 \
            proto_unpack_##rep(buf, &body_p->rep); \
        else                                       \
            proto_unpack_##req(buf, &body_p->req); \
        break;
        PROTO_OPS(PROTO_UNPACK_CASE)
#undef PROTO_UNPACK_CASE
    }
    return 0;
}

int proto_msg_pack(const struct proto_hdr *hdr, const union proto_body *body, void *buf, size_t cap)
{
    struct proto_hdr h = *hdr;
    bool reply = (h.flags & PROTO_FLAG_REPLY) != 0;
    int n;

    if (!proto_op_valid(h.op))
        return -EOPNOTSUPP;
    h.magic = PROTO_MAGIC;
    h.version = PROTO_VERSION;
    /* A failed reply carries no body: the peer must not read stale fields. */
    if (reply && h.status < 0) {
        h.body_len = 0;
        if (cap < PROTO_HDR_SIZE)
            return -EINVAL;
        proto_hdr_pack(&h, buf);
        return PROTO_HDR_SIZE;
    }
    n = reply ? proto_rep_size(h.op) : proto_req_size(h.op);
    if (cap < PROTO_HDR_SIZE + (size_t)n)
        return -EINVAL;
    h.body_len = (uint32_t)n;
    proto_hdr_pack(&h, buf);
    n = proto_body_pack(h.op, reply, body, (uint8_t *)buf + PROTO_HDR_SIZE, cap - PROTO_HDR_SIZE);
    if (n < 0)
        return n;
    return PROTO_HDR_SIZE + n;
}

/* A path length as sent: 1..BFS_PATH_MAX-1 bytes. */
static int proto_check_path_len(uint32_t len)
{
    if (len == 0)
        return -EPROTO;
    if (len >= BFS_PATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

static int proto_check_one_path(uint32_t path_len, uint32_t data_len)
{
    int rc = proto_check_path_len(path_len);

    if (rc < 0)
        return rc;
    return path_len == data_len ? 0 : -EPROTO;
}

int proto_req_check(unsigned op, const union proto_body *b, uint32_t data_len, uint32_t max_xfer)
{
    int rc;

    switch (op) {
    case PROTO_OP_PING:
    case PROTO_OP_STATUS:
    case PROTO_OP_STATFS:
    case PROTO_OP_SHUTDOWN:
    case PROTO_OP_CHUNK_REMOVE:
    case PROTO_OP_FSYNC:
        return data_len == 0 ? 0 : -EPROTO;
    case PROTO_OP_CHUNK_TRUNC: {
        const struct proto_chunk_trunc_req *t = &b->chunk_trunc_req;

        if ((t->flags & ~(PROTO_CHUNK_TRUNC_GONE | PROTO_CHUNK_TRUNC_SPREAD)) != 0 ||
            t->reserved != 0)
            return -EPROTO;
        if ((t->flags & PROTO_CHUNK_TRUNC_SPREAD) &&
            (t->flags != PROTO_CHUNK_TRUNC_SPREAD || t->first != 0 || t->keep_bytes != 0))
            return -EPROTO;
        if ((t->flags & PROTO_CHUNK_TRUNC_GONE) && (t->first != 0 || t->keep_bytes != 0))
            return -EPROTO;
        return data_len == 0 ? 0 : -EPROTO;
    }
        return data_len == 0 ? 0 : -EPROTO;
    case PROTO_OP_CHUNK_LIST:
        if (b->chunk_list_req.max == 0 || b->chunk_list_req.max > PROTO_LIST_MAX ||
            b->chunk_list_req.flags != 0)
            return -EPROTO;
        return data_len == 0 ? 0 : -EPROTO;
    case PROTO_OP_ORPHAN_LIST:
        if (b->chunk_list_req.max == 0 || b->chunk_list_req.max > PROTO_LIST_MAX ||
            b->chunk_list_req.flags != 0)
            return -EPROTO;
        return data_len == 0 ? 0 : -EPROTO;
    case PROTO_OP_ORPHAN_FREE:
        if (b->ino_req.ino == 0 || b->ino_req.path_len != 0 ||
            (b->ino_req.flags & ~PROTO_ORPHAN_FREE_UNKNOWN) != 0 || b->ino_req.size != 0)
            return -EPROTO;
        return data_len == 0 ? 0 : -EPROTO;
    case PROTO_OP_INODE_LIST:
        if (b->inode_list_req.max == 0 || b->inode_list_req.max > PROTO_LIST_MAX ||
            (b->inode_list_req.flags & ~PROTO_INODE_LIST_START) != 0)
            return -EPROTO;
        return data_len == 0 ? 0 : -EPROTO;
    case PROTO_OP_STAT:
        if ((b->path_req.flags & ~PROTO_STAT_HEAD) != 0)
            return -EPROTO;
        return proto_check_one_path(b->path_req.path_len, data_len);
    case PROTO_OP_RMDIR_PREPARE:
    case PROTO_OP_RMDIR_COMMIT:
    case PROTO_OP_RMDIR_ABORT:
    case PROTO_OP_UNLINK:
        return proto_check_one_path(b->path_req.path_len, data_len);
    case PROTO_OP_CREATE:
        return proto_check_one_path(b->create_req.path_len, data_len);
    case PROTO_OP_MKDIR:
        return proto_check_one_path(b->mkdir_req.path_len, data_len);
    case PROTO_OP_INODE_PUT:
        return proto_check_one_path(b->inode_put_req.path_len, data_len);
    case PROTO_OP_INODE_DEL:
        return proto_check_one_path(b->inode_del_req.path_len, data_len);
    case PROTO_OP_TRUNCATE:
        return proto_check_one_path(b->truncate_req.path_len, data_len);
    case PROTO_OP_SETSIZE:
        return proto_check_one_path(b->setsize_req.path_len, data_len);
    case PROTO_OP_ISTAT:
    case PROTO_OP_ITRUNCATE:
    case PROTO_OP_RELEASE:
        if (b->ino_req.ino == 0)
            return -EPROTO;
        return proto_check_one_path(b->ino_req.path_len, data_len);
    case PROTO_OP_SETATTR:
        /* The mask and the values are the store's to judge (-EINVAL). */
        if ((b->setattr_req.flags & ~PROTO_INO_ORPHAN) != 0 ||
            ((b->setattr_req.flags & PROTO_INO_ORPHAN) && b->setattr_req.ino == 0))
            return -EPROTO;
        return proto_check_one_path(b->setattr_req.path_len, data_len);
    case PROTO_OP_HELLO:
        if (b->hello_req.addr_len == 0 || b->hello_req.addr_len > PROTO_HELLO_ADDR_MAX ||
            (b->hello_req.flags & ~PROTO_HELLO_PEER_FAILURE) != 0)
            return -EPROTO;
        return b->hello_req.addr_len == data_len ? 0 : -EPROTO;
    case PROTO_OP_READDIR:
        rc = proto_check_path_len(b->readdir_req.path_len);
        if (rc < 0)
            return rc;
        if (b->readdir_req.cursor_len > BFS_NAME_MAX || b->readdir_req.max_entries == 0 ||
            b->readdir_req.max_bytes < PROTO_DIRENT_FIXED + BFS_NAME_MAX ||
            b->readdir_req.max_bytes > PROTO_DATA_MAX)
            return -EPROTO;
        return (uint64_t)b->readdir_req.path_len + b->readdir_req.cursor_len == data_len ? 0
                                                                                         : -EPROTO;
    case PROTO_OP_RENAME:
        rc = proto_check_path_len(b->rename_req.path_len);
        if (rc == 0)
            rc = proto_check_path_len(b->rename_req.path2_len);
        if (rc < 0)
            return rc;
        return (uint64_t)b->rename_req.path_len + b->rename_req.path2_len == data_len ? 0 : -EPROTO;
    case PROTO_OP_PUT:
        /* The table and the files in it: proto_putfile_parse, on the data. */
        if (b->put_req.count == 0 || b->put_req.count > PROTO_PUTFILE_MAX || b->put_req.flags != 0)
            return -EPROTO;
        if ((uint64_t)b->put_req.count * PROTO_PUTFILE_ENTRY > data_len || data_len > max_xfer)
            return -EPROTO;
        return 0;
    case PROTO_OP_GET:
        /* The lengths and the paths: the receiver's, on the data. */
        if (b->get_req.count == 0 || b->get_req.count > PROTO_GETFILE_MAX ||
            b->get_req.flags != 0 || b->get_req.reserved != 0 ||
            b->get_req.max_bytes > PROTO_DATA_MAX)
            return -EPROTO;
        if ((uint64_t)b->get_req.count * 4 > data_len || data_len > max_xfer)
            return -EPROTO;
        return 0;
    case PROTO_OP_CHUNK_WRITE:
    case PROTO_OP_CHUNK_READ: {
        const struct proto_chunk_io_req *c = &b->chunk_io_req;
        uint32_t want = op == PROTO_OP_CHUNK_WRITE ? c->length : 0;

        if (c->length == 0 || c->length > max_xfer)
            return -EPROTO;
        if (op == PROTO_OP_CHUNK_WRITE && (c->flags & PROTO_CHUNK_SETSIZE)) {
            /* chunk 0 only; a path, or none for an orphan; all in one buffer */
            if ((c->flags & ~(PROTO_CHUNK_SETSIZE | PROTO_CHUNK_SETSIZE_ORPHAN)) != 0 ||
                c->index != 0 ||
                (c->path_len == 0) != ((c->flags & PROTO_CHUNK_SETSIZE_ORPHAN) != 0))
                return -EPROTO;
            if (c->path_len > 0 && proto_check_path_len(c->path_len) < 0)
                return -EPROTO;
            if ((uint64_t)c->length + c->path_len > max_xfer)
                return -EPROTO;
            want += c->path_len;
        } else if (c->flags != 0 || c->path_len != 0) {
            return -EPROTO;
        }
        if (data_len != want)
            return -EPROTO;
        /* offset + length stays inside a 32-bit chunk offset space */
        if ((uint64_t)c->offset + c->length > UINT32_MAX)
            return -EPROTO;
        return 0;
    }
    default:
        return -EOPNOTSUPP;
    }
}

int proto_rep_check(unsigned op, const union proto_body *b, uint32_t data_len)
{
    switch (op) {
    case PROTO_OP_CHUNK_READ:
        return b->chunk_rep.length == data_len ? 0 : -EPROTO;
    case PROTO_OP_STAT:
        /* read at open: all of a small file, or nothing */
        return data_len == 0 ||
                       (data_len <= PROTO_STAT_HEAD_MAX && data_len == b->attr_rep.attr.size)
                   ? 0
                   : -EPROTO;
    case PROTO_OP_CHUNK_WRITE:
        if ((b->chunk_rep.flags & ~(PROTO_CHUNK_REP_SIZE_SET | PROTO_CHUNK_REP_DURABLE)) != 0)
            return -EPROTO;
        return data_len == 0 ? 0 : -EPROTO;
    case PROTO_OP_CHUNK_LIST:
        if (b->list_rep.count > PROTO_LIST_MAX || b->list_rep.done > 1)
            return -EPROTO;
        return (uint64_t)b->list_rep.count * PROTO_CHUNK_LIST_ENTRY == data_len ? 0 : -EPROTO;
    case PROTO_OP_ORPHAN_LIST:
        if (b->list_rep.count > PROTO_LIST_MAX || b->list_rep.done > 1)
            return -EPROTO;
        return (uint64_t)b->list_rep.count * PROTO_ORPHAN_LIST_ENTRY == data_len ? 0 : -EPROTO;
    case PROTO_OP_INODE_LIST:
        if (b->inode_list_rep.count > PROTO_LIST_MAX || b->inode_list_rep.done > 1)
            return -EPROTO;
        return (uint64_t)b->inode_list_rep.count * 8 == data_len ? 0 : -EPROTO;
    case PROTO_OP_PUT:
        if (b->put_rep.count == 0 || b->put_rep.count > PROTO_PUTFILE_MAX ||
            b->put_rep.reserved != 0)
            return -EPROTO;
        return (uint64_t)b->put_rep.count * 4 == data_len ? 0 : -EPROTO;
    case PROTO_OP_GET:
        /* entries are checked by proto_getfile_parse */
        if (b->get_rep.count == 0 || b->get_rep.count > PROTO_GETFILE_MAX ||
            b->get_rep.reserved != 0)
            return -EPROTO;
        return (uint64_t)b->get_rep.count * PROTO_GETFILE_ENTRY <= data_len ? 0 : -EPROTO;
    case PROTO_OP_READDIR:
        /* entries are checked one by one by proto_dirent_next */
        return (b->readdir_rep.count == 0) == (data_len == 0) ? 0 : -EPROTO;
    default:
        return proto_op_valid(op) ? (data_len == 0 ? 0 : -EPROTO) : -EOPNOTSUPP;
    }
}

void proto_getfile_pack(void *table, uint32_t k, const struct proto_getfile *f)
{
    uint8_t *p = (uint8_t *)table + (size_t)k * PROTO_GETFILE_ENTRY;

    proto_put_u32(p, (uint32_t)f->status);
    proto_put_u32(p + 4, f->data_len);
    proto_put_u32(p + 8, f->data_off);
    proto_put_u32(p + 12, 0);
    proto_put_attr(p + 16, &f->attr);
}

int proto_getfile_parse(const void *data, uint32_t data_len, uint32_t count,
                        struct proto_getfile *files)
{
    const uint8_t *p = data;
    uint64_t table = (uint64_t)count * PROTO_GETFILE_ENTRY;

    if (count == 0 || count > PROTO_GETFILE_MAX || table > data_len)
        return -EPROTO;
    for (uint32_t k = 0; k < count; k++) {
        const uint8_t *e = p + (size_t)k * PROTO_GETFILE_ENTRY;
        struct proto_getfile *f = &files[k];

        f->status = (int32_t)proto_get_u32(e);
        f->data_len = proto_get_u32(e + 4);
        f->data_off = proto_get_u32(e + 8);
        proto_get_attr(e + 16, &f->attr);
        if (f->status > 0 || proto_get_u32(e + 12) != 0)
            return -EPROTO;
        if (f->data_len > 0 &&
            (f->status != 0 || f->data_len != f->attr.size || f->data_off < table ||
             (uint64_t)f->data_off + f->data_len > data_len))
            return -EPROTO;
    }
    return 0;
}

void proto_putfile_pack(void *table, uint32_t k, const struct proto_putfile *f)
{
    uint8_t *p = (uint8_t *)table + (size_t)k * PROTO_PUTFILE_ENTRY;

    proto_put_u32(p, f->length);
    proto_put_u32(p + 4, f->path_len);
    proto_put_u32(p + 8, f->mode);
    proto_put_u32(p + 12, f->flags);
    proto_put_u64(p + 16, f->mtime_ns);
    proto_put_u64(p + 24, 0);
}

int proto_putfile_parse(const void *data, uint32_t data_len, uint32_t count,
                        struct proto_putfile *files)
{
    const uint8_t *p = data;
    uint64_t off = (uint64_t)count * PROTO_PUTFILE_ENTRY;

    if (count == 0 || count > PROTO_PUTFILE_MAX || off > data_len)
        return -EPROTO;
    for (uint32_t k = 0; k < count; k++) {
        const uint8_t *e = p + (size_t)k * PROTO_PUTFILE_ENTRY;
        struct proto_putfile *f = &files[k];

        f->length = proto_get_u32(e);
        f->path_len = proto_get_u32(e + 4);
        f->mode = proto_get_u32(e + 8);
        f->flags = proto_get_u32(e + 12);
        f->mtime_ns = proto_get_u64(e + 16);
        if (proto_get_u64(e + 24) != 0 || (f->flags & ~PROTO_PUTFILE_MTIME) != 0 ||
            (f->mode & ~07777u) != 0 || proto_check_path_len(f->path_len) < 0)
            return -EPROTO;
        if ((uint64_t)f->length + f->path_len > data_len - off)
            return -EPROTO;
        f->data = (const char *)p + off;
        f->path = (const char *)p + off + f->length;
        off += (uint64_t)f->length + f->path_len;
    }
    return off == data_len ? 0 : -EPROTO;
}

int proto_dirent_pack(void *buf, size_t cap, size_t *off, uint64_t ino, uint64_t size,
                      uint32_t mode, const char *name, size_t name_len)
{
    uint8_t *p = (uint8_t *)buf + *off;

    if (name_len == 0 || name_len > BFS_NAME_MAX)
        return -EINVAL;
    if (*off > cap || cap - *off < PROTO_DIRENT_FIXED + name_len)
        return -ENOSPC;
    proto_put_u64(p, ino);
    proto_put_u64(p + 8, size);
    proto_put_u32(p + 16, mode);
    proto_put_u16(p + 20, (uint16_t)name_len);
    proto_put_u16(p + 22, 0);
    memcpy(p + PROTO_DIRENT_FIXED, name, name_len);
    *off += PROTO_DIRENT_FIXED + name_len;
    return 0;
}

int proto_dirent_next(const void *buf, size_t len, size_t *off, struct proto_dirent *ent_p)
{
    const uint8_t *p = (const uint8_t *)buf + *off;
    struct proto_dirent e;

    if (*off == len)
        return 0;
    if (*off > len || len - *off < PROTO_DIRENT_FIXED)
        return -EPROTO;
    e.ino = proto_get_u64(p);
    e.size = proto_get_u64(p + 8);
    e.mode = proto_get_u32(p + 16);
    e.name_len = proto_get_u16(p + 20);
    if (e.name_len == 0 || e.name_len > BFS_NAME_MAX ||
        len - *off - PROTO_DIRENT_FIXED < e.name_len)
        return -EPROTO;
    e.name = (const char *)p + PROTO_DIRENT_FIXED;
    if (memchr(e.name, '/', e.name_len) || memchr(e.name, '\0', e.name_len))
        return -EPROTO;
    *off += PROTO_DIRENT_FIXED + e.name_len;
    *ent_p = e;
    return 1;
}
