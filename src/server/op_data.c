/*
 * op_data.c - handlers of data ops: CHUNK_WRITE, CHUNK_READ, CHUNK_REMOVE,
 * CHUNK_TRUNC, FSYNC.
 *
 * A chunk write goes: data received (eager copy or rendezvous straight into
 * a registered buffer) -> io_uring write -> reply. A chunk read goes: buffer
 * -> io_uring read -> reply sent from that same buffer. Requests that find
 * no free buffer wait in the server's wait_buf queue; storage completions
 * only record the result and queue the request (thin adapters).
 */
#include <errno.h>

#include "common/log.h"
#include "common/path.h"
#include "common/timeutil.h"
#include "server/server_int.h"

void server_io_done(void *arg, int result)
{
    struct sreq *r = arg;

    r->io_result = result;
    r->state = SREQ_IO_DONE;
    sreq_queue(r);
}

/* Start the storage write of a request whose data is in hand. */
static void data_submit_write(struct sreq *r)
{
    const struct proto_chunk_io_req *q = &r->body.chunk_io_req;
    void *src = r->eager_copy != NULL ? r->eager_copy : r->iobuf;
    int rc;

    r->state = SREQ_IO;
    rc =
        chunk_write(r->srv->chunks, q->ino, q->index, q->offset, src, q->length, server_io_done, r);
    if (rc == -EAGAIN) {
        /* Ring or op pool full: retry on the next pass, after reaping. */
        r->state = SREQ_RECV_DONE;
        sreq_queue(r);
    } else if (rc < 0) {
        sreq_finish(r, rc);
    }
}

static void data_submit_read(struct sreq *r)
{
    const struct proto_chunk_io_req *q = &r->body.chunk_io_req;
    int rc;

    r->state = SREQ_IO;
    rc = chunk_read(r->srv->chunks, q->ino, q->index, q->offset, r->iobuf, q->length,
                    server_io_done, r);
    if (rc == -EAGAIN) {
        r->state = SREQ_RECV_DONE;
        sreq_queue(r);
    } else if (rc < 0) {
        sreq_finish(r, rc);
    }
}

/*
 * A chunk-0 write that carries its inode's name (PROTO_CHUNK_SETSIZE): now
 * that the bytes are written, set the record's size to max(size, end) and
 * its mtime, as SETSIZE would, in this pass's metadata transaction. The
 * write succeeded whatever happens here: when the record is gone, replaced
 * or the path bad, the reply just does not say SIZE_SET and the client
 * pushes the size itself at close.
 */
static void data_publish_size(struct sreq *r)
{
    const struct proto_chunk_io_req *q = &r->body.chunk_io_req;
    struct server *srv = r->srv;
    const char *src = r->eager_copy != NULL ? r->eager_copy : r->iobuf;
    char opath[META_ORPHAN_PATH_MAX];
    const char *path = src + q->length;
    size_t len = q->path_len;
    struct meta_attr a;
    int rc;

    if (q->flags & PROTO_CHUNK_SETSIZE_ORPHAN) {
        len = meta_orphan_path(q->ino, opath);
        path = opath;
    } else if (!path_is_normalized(path, len)) {
        srv->stats.bad_requests++;
        return;
    }
    rc = meta_setsize(srv->meta, path, len, q->ino, (uint64_t)q->offset + q->length, time_real_ns(),
                      false, &a);
    if (rc < 0) {
        log_debug("write of inode %016llx: size not published (%d)", (unsigned long long)q->ino,
                  rc);
        return;
    }
    r->rep.chunk_rep.flags = PROTO_CHUNK_REP_SIZE_SET;
    /* Durable at commit (always), never needing a sync (none, tmpfs), or
     * synced only at fsync (fsync: the client's fsync sends FSYNC to every
     * server, this owner included): the client's close has nothing to ask. */
    if (srv->cfg.durability == DURABILITY_ALWAYS)
        srv->meta_sync = true;
    if (srv->cfg.durability != DURABILITY_CLOSE || meta_syncs_skipped(srv->meta))
        r->rep.chunk_rep.flags |= PROTO_CHUNK_REP_DURABLE;
}

void server_op_CHUNK_WRITE(struct sreq *r)
{
    /* Reached only with eager data held in eager_copy (no buffer was free
     * on receipt); the store writes from any memory. */
    if (r->eager_copy == NULL && r->iobuf == NULL) {
        sreq_finish(r, -EIO);
        return;
    }
    data_submit_write(r);
}

void server_stat_head(struct sreq *r)
{
    const proto_attr_t *a = &r->rep.attr_rep.attr;
    int rc;

    /* No buffer free, a full ring, a missing chunk: the client reads it
     * the usual way. */
    r->iobuf = chunk_buf_get(r->srv->chunks);
    if (r->iobuf == NULL) {
        sreq_finish(r, 0);
        return;
    }
    r->state = SREQ_IO;
    rc = chunk_read(r->srv->chunks, a->ino, 0, 0, r->iobuf, a->size, server_io_done, r);
    if (rc < 0)
        sreq_finish(r, 0);
}

void server_op_CHUNK_READ(struct sreq *r)
{
    if (r->iobuf == NULL) {
        r->iobuf = chunk_buf_get(r->srv->chunks);
        if (r->iobuf == NULL) {
            r->state = SREQ_WAIT_BUF;
            list_push_back(&r->srv->wait_buf, &r->link);
            return;
        }
    }
    data_submit_read(r);
}

void server_op_CHUNK_REMOVE(struct sreq *r)
{
    const struct proto_chunk_remove_req *q = &r->body.chunk_remove_req;

    if (q->last < q->first) {
        sreq_finish(r, -EINVAL);
        return;
    }
    sreq_finish(r, chunk_remove(r->srv->chunks, q->ino, q->first, q->last, q->keep_bytes));
}

uint32_t server_spread_flags(struct server *srv, uint64_t ino)
{
    int k;

    if ((uint32_t)(ino >> 32) != srv->tag)
        return 0;
    k = chunk_spread_known(srv->chunks, ino);
    if (k < 0)
        return 0;
    return PROTO_REP_KNOWN | (k > 0 ? PROTO_REP_SPREAD : 0);
}

void server_op_CHUNK_TRUNC(struct sreq *r)
{
    const struct proto_chunk_trunc_req *q = &r->body.chunk_trunc_req;

    if (q->flags & PROTO_CHUNK_TRUNC_SPREAD) {
        sreq_finish(r, chunk_spread_mark(r->srv->chunks, q->ino));
        return;
    }
    r->rep.trunc_rep.flags = server_spread_flags(r->srv, q->ino);
    /* Synchronous: the store's index says which files exist (none: no
     * syscall at all), and unlink(2) on local storage is fast. */
    if (q->flags & PROTO_CHUNK_TRUNC_GONE)
        sreq_finish(r, chunk_remove_inode(r->srv->chunks, q->ino));
    else
        sreq_finish(r, chunk_remove_from(r->srv->chunks, q->ino, q->first, q->keep_bytes));
}

void server_op_FSYNC(struct sreq *r)
{
    int rc;

    r->state = SREQ_IO;
    rc = chunk_fsync(r->srv->chunks, r->body.fsync_req.ino, server_io_done, r);
    if (rc == -EAGAIN) {
        /* the store's op pool is busy: retry next pass, like reads/writes */
        r->state = SREQ_NEW;
        sreq_queue(r);
    } else if (rc < 0) {
        sreq_finish(r, rc);
    }
}

void server_data_continue(struct sreq *r)
{
    const struct proto_chunk_io_req *q = &r->body.chunk_io_req;
    struct server *srv = r->srv;

    if (r->op == PROTO_OP_PUT) {
        server_put_continue(r);
        return;
    }
    if (r->op == PROTO_OP_GET) {
        server_get_continue(r);
        return;
    }
    if (r->state == SREQ_RECV_DONE) {
        if (r->op == PROTO_OP_CHUNK_WRITE)
            data_submit_write(r);
        else
            data_submit_read(r);
        return;
    }
    /* SREQ_IO_DONE */
    switch (r->op) {
    case PROTO_OP_CHUNK_WRITE:
        if (r->io_result >= 0 && (uint32_t)r->io_result != q->length) {
            log_error("short chunk write %d of %u bytes", r->io_result, q->length);
            r->io_result = -EIO;
        }
        if (r->io_result < 0) {
            sreq_finish(r, r->io_result);
            return;
        }
        srv->stats.chunk_writes++;
        r->rep.chunk_rep.length = q->length;
        if (q->flags & PROTO_CHUNK_SETSIZE)
            data_publish_size(r);
        sreq_finish(r, 0);
        return;
    case PROTO_OP_CHUNK_READ:
        if (r->io_result < 0) {
            sreq_finish(r, r->io_result);
            return;
        }
        srv->stats.chunk_reads++;
        r->rep.chunk_rep.length = (uint32_t)r->io_result;
        r->rep_data = r->iobuf;
        r->rep_data_len = (uint32_t)r->io_result;
        sreq_finish(r, 0);
        return;
    case PROTO_OP_STAT:
        /* all of the file or nothing (a hole, a missing chunk: nothing) */
        if (r->io_result >= 0 && (uint64_t)r->io_result == r->rep.attr_rep.attr.size) {
            srv->stats.chunk_reads++;
            r->rep_data = r->iobuf;
            r->rep_data_len = (uint32_t)r->io_result;
        }
        sreq_finish(r, 0);
        return;
    case PROTO_OP_FSYNC:
        if (r->io_result == 0 && srv->cfg.durability != DURABILITY_NONE)
            srv->meta_sync = true;
        sreq_finish(r, r->io_result < 0 ? r->io_result : 0);
        return;
    default:
        sreq_finish(r, -EIO);
        return;
    }
}
