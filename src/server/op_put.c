/*
 * op_put.c - PUT: a whole small file in one request (docs/protocol.md).
 *
 * The request carries the file's bytes, its name, mode, owner and mtime.
 * The receiver is the name's owner; it allocates the inode (so chunk 0 is
 * here, placement.h), writes the bytes as chunk 0 and only then inserts the
 * record, with its final size, mode and mtime, in the pass's metadata
 * transaction. So the name appears with all of its bytes or not at all:
 * a failed write or insert (the name taken meanwhile, the parent gone, a
 * full map) removes the chunk again and answers the error, and a commit
 * that fails does the same in server_flush_replies. Only a server that
 * dies between the write and the commit leaves a chunk without a record
 * (fsck lists it). A file staged this way costs one round trip instead of
 * CREATE, CHUNK_WRITE and SETATTR.
 *
 * States: the data is received like a CHUNK_WRITE's (request.c); then
 * put_start (checks, inode number, write) -> SREQ_IO -> put_finish.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/path.h"
#include "common/timeutil.h"
#include "server/server_int.h"

static const char *put_bytes(const struct sreq *r)
{
    return r->eager_copy != NULL ? r->eager_copy : r->iobuf;
}

/* The inode's chunk goes again when its record could not be made. */
static void put_fail(struct sreq *r, int rc)
{
    uint64_t ino = r->rep.attr_rep.attr.ino;

    if (ino != 0 && r->body.put_req.length > 0 && chunk_remove_inode(r->srv->chunks, ino) != 0)
        log_warn("put of %s: the chunk of inode %016llx was not removed", r->data,
                 (unsigned long long)ino);
    sreq_finish(r, rc);
}

/* Data in hand: check, take an inode number, write the bytes. */
static void put_start(struct sreq *r)
{
    const struct proto_put_req *q = &r->body.put_req;
    struct server *srv = r->srv;
    uint64_t chunk_size = q->chunk_size ? q->chunk_size : (uint64_t)srv->cfg.chunk_size;
    const char *path = put_bytes(r) + q->length;
    uint64_t ino = r->rep.attr_rep.attr.ino;
    int rc;

    if (ino == 0) {
        /* First step (not a retry after a full ring): the path follows
         * the bytes in the buffer; keep a copy for logs and the insert. */
        if (!path_is_normalized(path, q->path_len)) {
            srv->stats.bad_requests++;
            sreq_finish(r, -EINVAL);
            return;
        }
        memcpy(r->data, path, q->path_len);
        r->data[q->path_len] = '\0';
        /* As CREATE: every client must compute the same chunk boundaries. */
        if (chunk_size < 4096 || chunk_size > (1ull << 30) || (chunk_size & (chunk_size - 1)) ||
            q->length > chunk_size) {
            sreq_finish(r, -EINVAL);
            return;
        }
        /* Taken already: fail before writing anything. */
        if (q->path_len == 1 || meta_lookup(srv->meta, r->data, q->path_len, NULL) == 0) {
            sreq_finish(r, -EEXIST);
            return;
        }
        rc = meta_ino_alloc(srv->meta, &ino);
        if (rc < 0) {
            sreq_finish(r, rc);
            return;
        }
        r->rep.attr_rep.attr.ino = ino;
        r->rep.attr_rep.attr.chunk_size = chunk_size;
    }
    r->state = SREQ_IO;
    if (q->length == 0) {
        server_io_done(r, 0); /* an empty file has no chunk */
        return;
    }
    rc = chunk_write(srv->chunks, ino, 0, 0, (void *)put_bytes(r), q->length, server_io_done, r);
    if (rc == -EAGAIN) {
        /* Ring or op pool full: retry on the next pass, after reaping. */
        r->state = SREQ_RECV_DONE;
        sreq_queue(r);
    } else if (rc < 0) {
        put_fail(r, rc);
    }
}

/* The bytes are written: make the name. */
static void put_finish(struct sreq *r)
{
    const struct proto_put_req *q = &r->body.put_req;
    struct server *srv = r->srv;
    struct meta_attr a;
    uint64_t now = time_real_ns();
    int rc;

    if (r->io_result >= 0 && (uint32_t)r->io_result != q->length) {
        log_error("put of %s: short chunk write %d of %u bytes", r->data, r->io_result, q->length);
        r->io_result = -EIO;
    }
    if (r->io_result < 0) {
        put_fail(r, r->io_result);
        return;
    }
    memset(&a, 0, sizeof(a));
    a.ino = r->rep.attr_rep.attr.ino;
    a.size = q->length;
    a.chunk_size = r->rep.attr_rep.attr.chunk_size;
    a.mode = S_IFREG | q->mode;
    a.nlink = 1;
    a.uid = q->uid;
    a.gid = q->gid;
    a.atime_ns = a.ctime_ns = now;
    a.mtime_ns = (q->flags & PROTO_PUT_MTIME) ? q->mtime_ns : now;
    rc = meta_inode_put(srv->meta, r->data, q->path_len, &a, true, NULL, NULL);
    if (rc < 0) {
        put_fail(r, rc == -EISDIR ? -EEXIST : rc);
        return;
    }
    if (q->length > 0)
        srv->stats.chunk_writes++;
    if (srv->cfg.durability == DURABILITY_ALWAYS)
        srv->meta_sync = true;
    server_attr_to_wire(&a, &r->rep.attr_rep.attr);
    sreq_finish(r, 0);
}

void server_op_PUT(struct sreq *r)
{
    /* Reached only with eager data held in eager_copy (no buffer was free
     * on receipt), like CHUNK_WRITE. */
    if (r->eager_copy == NULL && r->iobuf == NULL) {
        sreq_finish(r, -EIO);
        return;
    }
    put_start(r);
}

void server_put_continue(struct sreq *r)
{
    if (r->state == SREQ_RECV_DONE)
        put_start(r);
    else
        put_finish(r);
}
