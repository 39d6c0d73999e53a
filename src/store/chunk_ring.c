/*
 * chunk_ring.c - the chunk store's I/O engine (chunk.h): the life of every
 * operation on the one io_uring, from submission to its callback. The
 * store itself (ring setup, buffers, accessors) is chunk.c; chunk files,
 * their fds and removal are chunk_fd.c; the index of chunk files is
 * chunk_index.c.
 *
 * Operations. Every accepted request is a `struct chunk_op` from a fixed
 * pool whose size is the completion queue's (2 x queue_size): so the CQ can
 * never overflow, and a full pool is the one back-pressure signal a caller
 * sees (-EAGAIN: retry on a later loop pass). A full *submission* queue is
 * not the caller's problem: the op is queued internally (waitq) and gets an
 * SQE as soon as one is free (at the next submit or reap).
 *
 * Callbacks run only from chunk_store_reap() (and from chunk_store_close()
 * for what is still in flight), never from the call that queued the op:
 * even a read of a missing chunk (a hole) or an fsync with nothing to sync
 * completes through the ring, as a NOP, so the result comes in order with
 * the rest, the eventfd fires, and no second "deferred" path exists.
 *
 * Short transfers are continued from where they stopped: a write until all
 * bytes are written, a read until all bytes are read or a 0-byte read says
 * end of file. -EAGAIN/-EINTR completions are resubmitted; every other
 * error goes to the callback as is.
 *
 * O_DIRECT is used (opts.o_direct) when offset, length and buffer are all
 * 4 KiB aligned, through fds of their own; a continuation that is no longer
 * aligned moves to a buffered fd. A file system that refuses O_DIRECT
 * (EINVAL at open) turns it off for the store.
 *
 * fsync: an fdatasync (IORING_OP_FSYNC, DATASYNC) of each file of the inode
 * that may hold unsynced data (chunk_fd.c keeps track), at most
 * CHUNK_SYNC_PARALLEL at a time per request; the first error is the result.
 */
#include "store/chunk.h"

#include "common/pool.h"
#include "store/chunk_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* --- queueing ----------------------------------------------------------- */

static void chunk_op_prep(struct chunk_store *cs, struct chunk_op *op, struct io_uring_sqe *sqe)
{
    char *p = op->buf + op->done;
    unsigned n = (unsigned)(op->len - op->done);
    uint64_t off = op->offset + op->done;

    switch (op->kind) {
    case CHUNK_OP_WRITE:
        if (op->buf_index >= 0)
            io_uring_prep_write_fixed(sqe, op->fde->fd, p, n, off, op->buf_index);
        else
            io_uring_prep_write(sqe, op->fde->fd, p, n, off);
        break;
    case CHUNK_OP_READ:
        if (op->buf_index >= 0)
            io_uring_prep_read_fixed(sqe, op->fde->fd, p, n, off, op->buf_index);
        else
            io_uring_prep_read(sqe, op->fde->fd, p, n, off);
        break;
    case CHUNK_OP_SYNC_PART:
        io_uring_prep_fsync(sqe, op->own_fd >= 0 ? op->own_fd : op->fde->fd, IORING_FSYNC_DATASYNC);
        break;
    case CHUNK_OP_NOP:
    case CHUNK_OP_FSYNC:
        io_uring_prep_nop(sqe);
        break;
    }
    io_uring_sqe_set_data(sqe, op);
    cs->in_ring++;
}

/* Give op an SQE now, or queue it until one is free. */
static void chunk_op_queue(struct chunk_store *cs, struct chunk_op *op)
{
    struct io_uring_sqe *sqe = NULL;

    if (cs->nwait == 0) { /* keep FIFO order behind ops already waiting */
        sqe = io_uring_get_sqe(&cs->ring);
        if (sqe == NULL) {
            /* SQ full: hand it to the kernel to make room. */
            (void)io_uring_submit(&cs->ring);
            sqe = io_uring_get_sqe(&cs->ring);
        }
    }
    if (sqe == NULL) {
        list_push_back(&cs->waitq, &op->wait);
        cs->nwait++;
        return;
    }
    chunk_op_prep(cs, op, sqe);
}

void chunk_waitq_flush(struct chunk_store *cs)
{
    struct io_uring_sqe *sqe;
    struct list_node *n;

    while (cs->nwait > 0 && (sqe = io_uring_get_sqe(&cs->ring)) != NULL) {
        n = list_pop_front(&cs->waitq);
        cs->nwait--;
        chunk_op_prep(cs, list_entry(n, struct chunk_op, wait), sqe);
    }
}

int chunk_store_submit(struct chunk_store *cs)
{
    int rc, total = 0;

    for (;;) {
        chunk_waitq_flush(cs);
        if (io_uring_sq_ready(&cs->ring) == 0)
            return total;
        rc = io_uring_submit(&cs->ring);
        /* Transient (e.g. the kernel is short of memory or has overflowed
         * completions to deliver first): the SQEs stay queued for later. */
        if (rc == -EAGAIN || rc == -EBUSY || rc == -EINTR)
            return total;
        if (rc < 0)
            return rc;
        total += rc;
        if (cs->nwait == 0 || rc == 0)
            return total;
    }
}

static void chunk_maybe_submit(struct chunk_store *cs)
{
    if (io_uring_sq_ready(&cs->ring) + cs->nwait >= cs->opts.submit_depth)
        (void)chunk_store_submit(cs);
}

static struct chunk_op *chunk_op_new(struct chunk_store *cs, enum chunk_op_kind kind, chunk_cb_t cb,
                                     void *arg)
{
    struct chunk_op *op = pool_get(cs->ops);

    if (op == NULL)
        return NULL;
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->cb = cb;
    op->arg = arg;
    op->buf_index = -1;
    op->own_fd = -1;
    list_init(&op->wait);
    return op;
}

static unsigned chunk_op_finish(struct chunk_store *cs, struct chunk_op *op, int result);

/* Complete op with `result` and no I/O: its callback runs from the next
 * reap, without the ring (no SQE, no system call, no eventfd wakeup). */
static void chunk_op_nop(struct chunk_store *cs, struct chunk_op *op, int result)
{
    op->kind = CHUNK_OP_NOP;
    op->result = result;
    list_push_back(&cs->done, &op->wait);
    cs->ndone++;
}

/* Run the callbacks of ops completed without the ring, in order; those
 * the callbacks complete meanwhile wait for the next reap. */
static unsigned chunk_done_process(struct chunk_store *cs)
{
    struct list_node batch, *n;
    unsigned calls = 0;

    if (cs->ndone == 0)
        return 0;
    list_take_all(&batch, &cs->done);
    cs->ndone = 0;
    while ((n = list_pop_front(&batch)) != NULL) {
        struct chunk_op *op = list_entry(n, struct chunk_op, wait);

        calls += chunk_op_finish(cs, op, op->result);
    }
    return calls;
}

/* --- requests ----------------------------------------------------------- */

/*
 * Complete op without the io_uring worker when that cannot block the loop:
 * on tmpfs/ramfs every copy (the data only moves between memory), elsewhere
 * a read the page cache can serve whole (preadv2 RWF_NOWAIT). The result is
 * delivered through the ring as a no-op completion, so callbacks still run
 * only from reap, in order. Returns false to take the io_uring path (with
 * op->done advanced past what was already read).
 */
static bool chunk_try_inline(struct chunk_store *cs, struct chunk_op *op)
{
    int fd = op->fde->fd;
    int result;
    ssize_t n;

    if (op->fde->flags & CHUNK_FD_DIRECT)
        return false;
    if (cs->mem_fs) {
        for (;;) {
            if (op->done >= op->len) {
                result = (int)op->done;
                break;
            }
            if (op->kind == CHUNK_OP_WRITE)
                n = pwrite(fd, op->buf + op->done, op->len - op->done,
                           (off_t)(op->offset + op->done));
            else
                n = pread(fd, op->buf + op->done, op->len - op->done,
                          (off_t)(op->offset + op->done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                result = -errno;
                break;
            }
            if (n == 0) { /* end of file; a write that makes no progress is broken */
                result = op->kind == CHUNK_OP_READ ? (int)op->done : -EIO;
                break;
            }
            if (op->kind == CHUNK_OP_WRITE)
                op->fde->dirty = true;
            op->done += (size_t)n;
        }
    } else if (op->kind == CHUNK_OP_READ && cs->nowait_reads) {
        struct iovec iov = {.iov_base = op->buf, .iov_len = op->len};

        n = preadv2(fd, &iov, 1, (off_t)op->offset, RWF_NOWAIT);
        if (n < 0) {
            if (errno == EOPNOTSUPP)
                cs->nowait_reads = false;
            return false; /* EAGAIN: not cached; io_uring reads it */
        }
        if ((size_t)n < op->len) {
            /* end of file or partly cached: io_uring continues and tells */
            op->done = (size_t)n;
            return false;
        }
        result = (int)n;
    } else {
        return false;
    }
    /* counted here: the no-op completion no longer says what it was */
    if (op->kind == CHUNK_OP_READ) {
        cs->stats.reads++;
        cs->stats.bytes_read += op->done > 0 ? op->done : (size_t)(result > 0 ? result : 0);
    } else {
        cs->stats.writes++;
        cs->stats.bytes_written += op->done;
    }
    cs->stats.inline_ops++;
    chunk_op_nop(cs, op, result);
    return true;
}

static bool chunk_aligned(uint64_t offset, size_t len, const void *buf)
{
    return ((offset | len | (uintptr_t)buf) & (CHUNK_DIRECT_ALIGN - 1)) == 0;
}

/* An fd for op's chunk, O_DIRECT when asked and possible. */
static int chunk_op_fd(struct chunk_store *cs, uint64_t ino, uint64_t index, unsigned flags,
                       bool direct, struct chunk_fd **fde_p)
{
    int rc;

    if (direct && cs->direct_ok) {
        rc = chunk_fdc_get(&cs->fdc, ino, index, flags | CHUNK_FD_DIRECT, fde_p);
        if (rc != -EINVAL)
            return rc;
        cs->direct_ok = false; /* this file system does not do O_DIRECT */
    }
    return chunk_fdc_get(&cs->fdc, ino, index, flags, fde_p);
}

static int chunk_rw(struct chunk_store *cs, enum chunk_op_kind kind, uint64_t ino, uint64_t index,
                    uint64_t offset, void *buf, size_t len, chunk_cb_t cb, void *arg)
{
    unsigned flags = kind == CHUNK_OP_WRITE ? CHUNK_FD_WRITE : 0;
    struct chunk_op *op;
    int rc;

    /* The result is an int; offsets must stay within off_t. */
    if (cb == NULL || (buf == NULL && len > 0) || len > INT_MAX)
        return -EINVAL;
    if (offset > (uint64_t)INT64_MAX - len)
        return -EFBIG;
    op = chunk_op_new(cs, kind, cb, arg);
    if (op == NULL)
        return -EAGAIN;
    cs->inflight++;
    if (len == 0) {
        chunk_op_nop(cs, op, 0);
        goto out;
    }
    if (index == 0 && cs->small.get != NULL) {
        int result = 0;

        rc = chunk_small_rw(cs, kind == CHUNK_OP_WRITE, ino, offset, buf, len, &result);
        if (rc < 0) {
            cs->inflight--;
            pool_put(cs->ops, op);
            return rc;
        }
        if (rc == 1) {
            chunk_op_nop(cs, op, result);
            goto out;
        }
    }
    rc = chunk_op_fd(cs, ino, index, flags, chunk_aligned(offset, len, buf), &op->fde);
    if (rc == -ENOENT && kind == CHUNK_OP_READ) {
        /* A missing chunk is a hole, unless this directory lost chunks. */
        chunk_op_nop(cs, op, cs->lost ? -ENODATA : 0);
        goto out;
    }
    if (rc != 0) {
        cs->inflight--;
        pool_put(cs->ops, op);
        return rc;
    }
    op->ino = ino;
    op->index = index;
    op->buf = buf;
    op->len = len;
    op->offset = offset;
    op->buf_index = chunk_buf_index(cs, buf, len);
    if (!chunk_try_inline(cs, op))
        chunk_op_queue(cs, op);
out:
    chunk_maybe_submit(cs);
    return 0;
}

int chunk_write(struct chunk_store *cs, uint64_t ino, uint64_t index, uint64_t offset, void *buf,
                size_t len, chunk_cb_t cb, void *arg)
{
    return chunk_rw(cs, CHUNK_OP_WRITE, ino, index, offset, buf, len, cb, arg);
}

int chunk_read(struct chunk_store *cs, uint64_t ino, uint64_t index, uint64_t offset, void *buf,
               size_t len, chunk_cb_t cb, void *arg)
{
    return chunk_rw(cs, CHUNK_OP_READ, ino, index, offset, buf, len, cb, arg);
}

/* Point part at the next item of its request that can be synced. Returns
 * false when none is left. Items that cannot be opened fail the request
 * (a vanished file is fine: removed data needs no sync). */
static bool chunk_sync_next(struct chunk_store *cs, struct chunk_op *grp, struct chunk_op *part)
{
    struct chunk_sync_item *it;
    int fd;

    while (grp->next_item < grp->nitems) {
        part->item = grp->next_item++;
        it = &grp->items[part->item];
        part->fde = it->fde; /* the item's reference becomes the part's */
        part->own_fd = -1;
        if (it->fde != NULL)
            return true;
        fd = chunk_fdc_open_private(&cs->fdc, grp->ino, it->index);
        if (fd >= 0) {
            part->own_fd = fd;
            return true;
        }
        if (fd != -ENOENT) {
            if (grp->result == 0)
                grp->result = fd;
            chunk_fdc_sync_failed(&cs->fdc, grp->ino, it);
        }
    }
    return false;
}

int chunk_fsync(struct chunk_store *cs, uint64_t ino, chunk_cb_t cb, void *arg)
{
    struct chunk_op *grp, *part;
    int rc;

    if (cb == NULL)
        return -EINVAL;
    /* The request and at least one part, checked before anything changes. */
    if (pool_available(cs->ops) < 2)
        return -EAGAIN;
    grp = chunk_op_new(cs, CHUNK_OP_FSYNC, cb, arg);
    rc = chunk_fdc_sync_list(&cs->fdc, ino, &grp->items, &grp->nitems);
    if (rc != 0) {
        pool_put(cs->ops, grp);
        return rc;
    }
    grp->ino = ino;
    cs->inflight++;
    while (grp->parts < CHUNK_SYNC_PARALLEL &&
           (part = chunk_op_new(cs, CHUNK_OP_SYNC_PART, NULL, NULL)) != NULL) {
        part->group = grp;
        if (!chunk_sync_next(cs, grp, part)) {
            pool_put(cs->ops, part);
            break;
        }
        grp->parts++;
        chunk_op_queue(cs, part);
    }
    if (grp->parts == 0) {
        /* Nothing open, nothing to sync (or nothing could be opened). */
        free(grp->items);
        grp->items = NULL;
        chunk_op_nop(cs, grp, grp->result);
    }
    chunk_maybe_submit(cs);
    return 0;
}

/* --- completions -------------------------------------------------------- */

/* Release op and run its callback. Returns 1 (callbacks run). */
static unsigned chunk_op_finish(struct chunk_store *cs, struct chunk_op *op, int result)
{
    chunk_cb_t cb = op->cb;
    void *arg = op->arg;

    if (op->kind == CHUNK_OP_READ) {
        cs->stats.reads++;
        cs->stats.bytes_read += op->done;
    } else if (op->kind == CHUNK_OP_WRITE) {
        cs->stats.writes++;
        cs->stats.bytes_written += op->done;
    }
    cs->stats.errors += result < 0;
    if (op->fde != NULL)
        chunk_fdc_put(&cs->fdc, op->fde);
    pool_put(cs->ops, op);
    cs->inflight--;
    /* Last: the callback may queue new work into the slot just freed. */
    cb(arg, result);
    return 1;
}

static void chunk_op_requeue(struct chunk_store *cs, struct chunk_op *op)
{
    chunk_op_queue(cs, op);
    cs->continued = true;
    cs->stats.continued++;
}

static unsigned chunk_rw_done(struct chunk_store *cs, struct chunk_op *op, int res)
{
    struct chunk_fd *fde;
    int rc;

    if (res == -EAGAIN || res == -EINTR) {
        chunk_op_requeue(cs, op);
        return 0;
    }
    if (res < 0)
        return chunk_op_finish(cs, op, res);
    if (res == 0) /* end of file; a write that makes no progress is broken */
        return chunk_op_finish(cs, op, op->kind == CHUNK_OP_READ ? (int)op->done : -EIO);
    if (op->kind == CHUNK_OP_WRITE)
        op->fde->dirty = true; /* set on completion: see chunk_fdc_sync_list */
    op->done += (size_t)res;
    if (op->done >= op->len)
        return chunk_op_finish(cs, op, (int)op->done);

    /* Short transfer: continue, on a buffered fd if O_DIRECT no longer fits. */
    if ((op->fde->flags & CHUNK_FD_DIRECT) &&
        !chunk_aligned(op->offset + op->done, op->len - op->done, op->buf + op->done)) {
        rc = chunk_fdc_get(&cs->fdc, op->ino, op->index, op->fde->flags & ~CHUNK_FD_DIRECT, &fde);
        if (rc != 0) /* e.g. removed meanwhile: a read ends here */
            return chunk_op_finish(cs, op, rc == -ENOENT ? (int)op->done : rc);
        chunk_fdc_put(&cs->fdc, op->fde);
        op->fde = fde;
    }
    chunk_op_requeue(cs, op);
    return 0;
}

static unsigned chunk_sync_part_done(struct chunk_store *cs, struct chunk_op *part, int res)
{
    struct chunk_op *grp = part->group;

    if (res == -EAGAIN || res == -EINTR) {
        chunk_op_requeue(cs, part);
        return 0;
    }
    if (res < 0) {
        if (grp->result == 0)
            grp->result = res;
        chunk_fdc_sync_failed(&cs->fdc, grp->ino, &grp->items[part->item]);
    }
    cs->stats.syncs++;
    if (part->own_fd >= 0)
        close(part->own_fd);
    else
        chunk_fdc_put(&cs->fdc, part->fde);
    part->fde = NULL;
    if (chunk_sync_next(cs, grp, part)) {
        chunk_op_queue(cs, part); /* the request's next file */
        cs->continued = true;
        return 0;
    }
    pool_put(cs->ops, part);
    if (--grp->parts > 0)
        return 0;
    free(grp->items);
    grp->items = NULL;
    return chunk_op_finish(cs, grp, grp->result);
}

static unsigned chunk_op_done(struct chunk_store *cs, struct chunk_op *op, int res)
{
    switch (op->kind) {
    case CHUNK_OP_WRITE:
    case CHUNK_OP_READ:
        return chunk_rw_done(cs, op, res);
    case CHUNK_OP_SYNC_PART:
        return chunk_sync_part_done(cs, op, res);
    case CHUNK_OP_NOP:
    case CHUNK_OP_FSYNC:
        break;
    }
    return chunk_op_finish(cs, op, op->result);
}

/* Process every CQE there is; returns callbacks run. */
unsigned chunk_cqes_process(struct chunk_store *cs)
{
    struct io_uring_cqe *cqes[CHUNK_REAP_BATCH];
    struct {
        struct chunk_op *op;
        int res;
    } done[CHUNK_REAP_BATCH];
    unsigned n, i, calls = 0;

    cs->continued = false;
    while ((n = io_uring_peek_batch_cqe(&cs->ring, cqes, CHUNK_REAP_BATCH)) > 0) {
        /* Copy and release the CQEs before any callback runs: a callback
         * may submit, and must find the CQ consistent. */
        for (i = 0; i < n; i++) {
            done[i].op = io_uring_cqe_get_data(cqes[i]);
            done[i].res = cqes[i]->res;
        }
        io_uring_cq_advance(&cs->ring, n);
        cs->in_ring -= n;
        for (i = 0; i < n; i++)
            calls += chunk_op_done(cs, done[i].op, done[i].res);
    }
    /* Continuations are ours: send them now instead of a pass later. */
    if (cs->continued)
        (void)chunk_store_submit(cs);
    return calls;
}

unsigned chunk_store_reap(struct chunk_store *cs)
{
    /* Only the completion ring is looked at here, in user space: no syscall
     * per loop pass. The eventfd is drained by chunk_store_clear_eventfd()
     * when the loop's poll reports it; a completion posted while the loop
     * is awake leaves it readable, so the next sleep returns at once and no
     * completion can wait for an unrelated wakeup. */
    unsigned calls = chunk_done_process(cs);

    if (io_uring_cq_ready(&cs->ring) == 0 && !cs->continued)
        return calls;
    return calls + chunk_cqes_process(cs);
}

bool chunk_store_pending(const struct chunk_store *cs)
{
    return cs->ndone > 0;
}

void chunk_store_drain(struct chunk_store *cs)
{
    int rc;

    while (cs->in_ring > 0 || cs->nwait > 0 || cs->ndone > 0) {
        (void)chunk_done_process(cs);
        chunk_waitq_flush(cs);
        if (cs->in_ring == 0 && cs->nwait == 0)
            continue;
        if (io_uring_cq_ready(&cs->ring) == 0) {
            rc = io_uring_submit_and_wait(&cs->ring, 1);
            if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
                break; /* the ring is broken: nothing more will complete */
        }
        (void)chunk_cqes_process(cs);
    }
}
