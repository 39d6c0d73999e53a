/*
 * proto.h - the BenchFS wire format (docs/design.md#rpc-over-ucx).
 *
 * Every RPC is one UCX active message whose AM header is
 *     proto_hdr (48 bytes) || body (the op's fixed request or reply struct)
 * and whose AM data part carries the variable bytes: paths, readdir entries,
 * or bulk chunk data. All integers are fixed-width little-endian; nothing that
 * depends on the host (pointers, off_t, mode_t, timespec) is ever sent.
 *
 * Receivers call, in order:
 *   proto_hdr_unpack   magic, version, op, sizes
 *   proto_body_unpack  the op's fixed struct
 *   proto_req_check    lengths inside the body against the data length
 * and every function rejects bad input with -EPROTO (malformed) or
 * -EOPNOTSUPP (unknown op) instead of trusting it.
 */
#ifndef BENCHFS_PROTO_PROTO_H
#define BENCHFS_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto_msgs.def"

#define PROTO_MAGIC      0x31534642u /* "BFS1" little-endian */
#define PROTO_VERSION    2
#define PROTO_HDR_SIZE   48
#define PROTO_COOKIE_LEN 16

/* Largest data part of any message (bulk chunk data or a readdir page). */
#define PROTO_DATA_MAX (64u << 20)
/* Largest fixed body; AM headers stay far below UCX's limit. */
#define PROTO_BODY_MAX 256
#define PROTO_MSG_MAX  (PROTO_HDR_SIZE + PROTO_BODY_MAX)

/* Header flags. */
#define PROTO_FLAG_REPLY 0x1u

/* CREATE flags. */
#define PROTO_CREATE_EXCL  0x1u /* fail with EEXIST if it exists */
#define PROTO_CREATE_TRUNC 0x2u /* truncate to 0 if it exists */
/* MKDIR / RMDIR_* flags. */
#define PROTO_MKDIR_OWNER      0x1u /* receiver owns the child entry in the parent */
#define PROTO_MKDIR_PARENTS_OK 0x2u /* EEXIST on an existing dir is success (mkdir -p) */
/* SETSIZE flags. */
#define PROTO_SETSIZE_SYNC   0x1u /* make metadata durable before replying (close/fsync) */
#define PROTO_SETSIZE_EXACT  0x2u /* set, don't max (internal use) */
#define PROTO_SETSIZE_ORPHAN 0x4u /* ino's orphan record, not the path's */

/* CHUNK_LIST / INODE_LIST: entries per page at most; a CHUNK_LIST entry is
 * ino, chunks, bytes (u64 each); INODE_LIST_START: the first page. */
#define PROTO_LIST_MAX         4096u
#define PROTO_CHUNK_LIST_ENTRY 24u
#define PROTO_INODE_LIST_START 0x1u
/* ORPHAN_LIST: an entry is ino, size, holder session, pid, host id, state
 * (u64 each); the state of the holder of an orphan record, as its owner
 * sees it (docs/semantics.md#unlink-and-rename-over-an-open-file). */
#define PROTO_ORPHAN_LIST_ENTRY 48u
#define PROTO_HOLDER_LIVE       1u /* connected, or its process runs on the owner's host */
#define PROTO_HOLDER_GONE       2u /* its process is gone: the record may be freed */
#define PROTO_HOLDER_UNKNOWN    3u /* not connected, on another host (or none recorded) */
/* ORPHAN_FREE flags (ino_req.flags). */
#define PROTO_ORPHAN_FREE_UNKNOWN 0x1u /* also when the holder is unknown (never when live) */
/* CHUNK_TRUNC flags. */
#define PROTO_CHUNK_TRUNC_GONE   0x1u /* the inode is deleted: free all, refuse its writes */
#define PROTO_CHUNK_TRUNC_SPREAD 0x2u /* alone: mark the inode spread, remove nothing */
/* UNLINK (attr_rep.flags) and CHUNK_TRUNC (trunc_rep.flags) reply flags,
 * from chunk 0's server of the inode (docs/semantics.md#where-chunks-are):
 * KNOWN: it answered (it holds chunk 0); SPREAD: chunks past chunk 0 may
 * exist on other servers (without it, only chunk 0's server has any). */
#define PROTO_REP_KNOWN  0x1u
#define PROTO_REP_SPREAD 0x2u
/* CHUNK_WRITE request flags (chunk_io_req.flags). */
#define PROTO_CHUNK_SETSIZE        0x1u /* also publish the size: path follows the data */
#define PROTO_CHUNK_SETSIZE_ORPHAN 0x2u /* with SETSIZE: ino's orphan record, no path */
/* CHUNK_WRITE reply flags (chunk_rep.flags). */
#define PROTO_CHUNK_REP_SIZE_SET 0x1u /* the owner's size covers this write now */
#define PROTO_CHUNK_REP_DURABLE  0x2u /* and needs no sync at close (durability none/tmpfs) */
/* STAT flags (path_req.flags). */
#define PROTO_STAT_HEAD 0x1u /* a file of at most PROTO_STAT_HEAD_MAX: its bytes too */
/* Largest file whose bytes a STAT reply carries (read at open). */
#define PROTO_STAT_HEAD_MAX (16u << 10)
/* INODE_PUT flags. */
#define PROTO_PUT_NOREPLACE 0x1u
#define PROTO_PUT_KEEP      0x2u /* a replaced file becomes an orphan (client has it open) */
/* PUT: files per request at most, bytes of one table entry, entry flags. */
#define PROTO_PUTFILE_MAX   1024u
#define PROTO_PUTFILE_ENTRY 32u
#define PROTO_PUTFILE_MTIME 0x1u /* mtime_ns as given (else the receiver's clock) */
/* GET: paths per request at most, bytes of one reply entry. */
#define PROTO_GETFILE_MAX   1024u
#define PROTO_GETFILE_ENTRY 80u
/* UNLINK flags (path_req.flags). */
#define PROTO_UNLINK_KEEP 0x1u /* the file becomes an orphan: the client has it open */
#define PROTO_UNLINK_FREE 0x2u /* also free the chunks the owner holds of the file (gone) */
/* RENAME flags. */
#define PROTO_RENAME_KEEP 0x1u /* a replaced file becomes an orphan */
/* ISTAT / ITRUNCATE / RELEASE flags (ino_req), and SETATTR's. */
#define PROTO_INO_ORPHAN 0x1u /* act on ino's orphan record (RELEASE always does) */

/* SETATTR: which fields of setattr_req apply (valid). */
#define PROTO_SETATTR_MODE      0x01u /* mode: permission bits (07777) */
#define PROTO_SETATTR_UID       0x02u
#define PROTO_SETATTR_GID       0x04u
#define PROTO_SETATTR_ATIME     0x08u /* atime_ns */
#define PROTO_SETATTR_MTIME     0x10u /* mtime_ns */
#define PROTO_SETATTR_ATIME_NOW 0x20u /* atime = the receiver's clock */
#define PROTO_SETATTR_MTIME_NOW 0x40u /* mtime = the receiver's clock */
#define PROTO_SETATTR_CTIME     0x80u /* ctime_ns as given instead of now */
#define PROTO_SETATTR_ALL       0xffu

/* Readdir: one packed entry is 24 bytes + name. */
#define PROTO_DIRENT_FIXED 24

/* Largest client worker address a HELLO may carry. */
#define PROTO_HELLO_ADDR_MAX 8000
/* HELLO: the client's endpoint to this server has UCX peer-failure handling
 * (else none); the server's endpoint back must use the same (net.h). */
#define PROTO_HELLO_PEER_FAILURE 0x1u

enum proto_op {
    PROTO_OP_NONE = 0,
#define PROTO_OP_ENUM(name, req, rep) PROTO_OP_##name,
    PROTO_OPS(PROTO_OP_ENUM)
#undef PROTO_OP_ENUM
        PROTO_OP_COUNT
};

struct proto_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t op;
    uint32_t flags;
    int32_t status; /* 0 or -errno; meaningful in replies */
    uint64_t req_id;
    uint32_t body_len;
    uint32_t data_len;
    uint8_t cookie[PROTO_COOKIE_LEN];
};

/* Generated C structs: struct proto_<name> { fields... }; */
typedef uint16_t proto_u16_t;
typedef uint32_t proto_u32_t;
typedef uint64_t proto_u64_t;
typedef int32_t proto_i32_t;
typedef int64_t proto_i64_t;

#define PROTO_FIELD_DECL(type, field) proto_##type##_t field;
typedef struct proto_attr {
    PROTO_FIELDS_attr(PROTO_FIELD_DECL)
} proto_attr_t;
#define PROTO_STRUCT_DECL(name)                             \
    struct proto_##name {                                   \
        PROTO_FIELDS_##name(PROTO_FIELD_DECL) char unused_; \
    };
PROTO_MSGS(PROTO_STRUCT_DECL)
#undef PROTO_STRUCT_DECL

/* Wire sizes: PROTO_SIZE_<name>. */
#define PROTO_WIRE_u16                2
#define PROTO_WIRE_u32                4
#define PROTO_WIRE_u64                8
#define PROTO_WIRE_i32                4
#define PROTO_WIRE_i64                8
#define PROTO_FIELD_SIZE(type, field) +PROTO_WIRE_##type
/* Nested attr: a literal (a macro cannot expand itself); proto.c checks it. */
#define PROTO_WIRE_attr 64
enum proto_sizes {
#define PROTO_SIZE_ENUM(name) PROTO_SIZE_##name = 0 PROTO_FIELDS_##name(PROTO_FIELD_SIZE),
    PROTO_MSGS(PROTO_SIZE_ENUM)
#undef PROTO_SIZE_ENUM
};

/* Any body, for code that handles every op. */
union proto_body {
#define PROTO_UNION_MEMBER(name) struct proto_##name name;
    PROTO_MSGS(PROTO_UNION_MEMBER)
#undef PROTO_UNION_MEMBER
};

/* One readdir entry as unpacked (name points into the message). */
struct proto_dirent {
    uint64_t ino;
    uint64_t size;
    uint32_t mode;
    uint16_t name_len;
    const char *name;
};

/* Name of an op for logs ("CREATE"), "?" when unknown. */
const char *proto_op_name(unsigned op);

/* Wire size of the request / reply body of `op`, or -EOPNOTSUPP. */
int proto_req_size(unsigned op);
int proto_rep_size(unsigned op);

/* Write the 48-byte header to buf. */
void proto_hdr_pack(const struct proto_hdr *hdr, void *buf);

/*
 * Parse and check a header from the first `len` bytes of an AM header:
 * -EPROTO for a short buffer, bad magic or version, a body_len that is not
 * the op's body size or does not match `len`, data_len > PROTO_DATA_MAX;
 * -EOPNOTSUPP for an unknown op (hdr_p is still filled so the caller can
 * reply). `hdr_p` is written on 0 and on -EOPNOTSUPP.
 */
int proto_hdr_unpack(const void *buf, size_t len, struct proto_hdr *hdr_p);

/*
 * Pack / unpack the body of `op` (request, or reply when `reply`) from/to
 * exactly proto_req_size/proto_rep_size bytes. Unpack returns -EPROTO when
 * len differs from the expected size.
 */
int proto_body_pack(unsigned op, bool reply, const union proto_body *body, void *buf, size_t len);
int proto_body_unpack(unsigned op, bool reply, const void *buf, size_t len,
                      union proto_body *body_p);

/*
 * Build header + body into `buf` (capacity `cap` >= PROTO_MSG_MAX is always
 * enough). Returns the number of bytes or -EINVAL / -EOPNOTSUPP.
 */
int proto_msg_pack(const struct proto_hdr *hdr, const union proto_body *body, void *buf,
                   size_t cap);

/* One file of a PUT (proto_msgs.def): its table entry, and where its bytes
 * and its path are in the data part. */
struct proto_putfile {
    uint32_t length, path_len, mode, flags;
    uint64_t mtime_ns;
    const char *data, *path;
};

/* One file of a GET's reply: its status, attributes, and where its bytes
 * are in the reply's data part (data_len 0: not carried). */
struct proto_getfile {
    int32_t status;
    uint32_t data_len, data_off;
    proto_attr_t attr;
};

/* Write reply entry k of a GET at table + k * PROTO_GETFILE_ENTRY. */
void proto_getfile_pack(void *table, uint32_t k, const struct proto_getfile *f);

/* Read the reply data of a GET of `count` files (data_len bytes) into
 * files[count]: every entry's bytes inside the data after the table, a
 * carried file's data_len equal to its size, a status 0 or negative. 0 or
 * -EPROTO. */
int proto_getfile_parse(const void *data, uint32_t data_len, uint32_t count,
                        struct proto_getfile *files);

/* Write the table entry of f (not its bytes or path) as entry k of the
 * table at `table`. */
void proto_putfile_pack(void *table, uint32_t k, const struct proto_putfile *f);

/* Read the data part of a PUT of `count` files (count within
 * 1..PROTO_PUTFILE_MAX, checked by proto_req_check) into files[count]: every
 * entry's lengths must add up to data_len exactly, each path be 1 ..
 * BFS_PATH_MAX - 1 bytes, flags and mode bits known. Pointers go into
 * data. 0 or -EPROTO (paths are not checked for normal form here). */
int proto_putfile_parse(const void *data, uint32_t data_len, uint32_t count,
                        struct proto_putfile *files);

/*
 * Semantic checks of a request body against its data length: path lengths
 * within limits and adding up to data_len, chunk lengths within max_xfer,
 * readdir limits. Returns 0 or -EPROTO / -ENAMETOOLONG. Path contents are
 * checked separately (path_is_normalized) by the server.
 */
int proto_req_check(unsigned op, const union proto_body *body, uint32_t data_len,
                    uint32_t max_xfer);

/* Same for replies received by a client: data_len consistent with the body. */
int proto_rep_check(unsigned op, const union proto_body *body, uint32_t data_len);

/*
 * Readdir entries: pack one at buf[*off], advancing *off; -ENOSPC when it does
 * not fit in cap. next: read the entry at *off; 1 = got one, 0 = end of
 * buffer, -EPROTO = malformed.
 */
int proto_dirent_pack(void *buf, size_t cap, size_t *off, uint64_t ino, uint64_t size,
                      uint32_t mode, const char *name, size_t name_len);
int proto_dirent_next(const void *buf, size_t len, size_t *off, struct proto_dirent *ent_p);

/* Little-endian helpers. */
static inline void proto_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void proto_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void proto_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t proto_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t proto_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline uint64_t proto_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif
