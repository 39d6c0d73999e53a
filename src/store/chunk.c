/*
 * chunk.c - the chunk store's I/O engine (chunk.h): one io_uring, the
 * registered buffers, and the life of every operation from submission to
 * its callback. Chunk files, their fds and removal are in chunk_fd.c.
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
#include "store/store_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/eventfd.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_DIRECT_ALIGN  4096u
#define CHUNK_SYNC_PARALLEL 8u
#define CHUNK_REAP_BATCH    32u

enum chunk_op_kind {
    CHUNK_OP_WRITE,
    CHUNK_OP_READ,
    CHUNK_OP_NOP,       /* completes with op->result (holes, empty fsync) */
    CHUNK_OP_FSYNC,     /* a request: owns the items, no SQE of its own */
    CHUNK_OP_SYNC_PART, /* one fdatasync of an FSYNC request */
};

struct chunk_op {
    enum chunk_op_kind kind;
    int result;
    chunk_cb_t cb;
    void *arg;
    uint64_t ino, index;
    struct chunk_fd *fde; /* reference held while the op lives */

    /* READ / WRITE */
    char *buf;
    size_t len, done;
    uint64_t offset;
    int buf_index; /* registered buffer holding buf[0..len), or -1 */

    /* FSYNC */
    struct chunk_sync_item *items;
    size_t nitems, next_item;
    unsigned parts; /* SYNC_PART ops in flight */

    /* SYNC_PART */
    struct chunk_op *group;
    size_t item;
    int own_fd; /* fd opened just for this sync, or -1 (then fde) */

    struct list_node wait; /* on waitq while no SQE is free */
};

struct chunk_store {
    struct io_uring ring;
    int efd;
    int dirfd;
    struct chunk_opts opts;
    bool direct_ok;    /* the file system takes O_DIRECT */
    bool mem_fs;       /* tmpfs/ramfs: I/O is a memcpy, done inline */
    bool lost;         /* chunks may be missing that existed: reads of them -ENODATA */
    bool nowait_reads; /* preadv2(RWF_NOWAIT) works here */

    struct pool *bufs;
    size_t buf_stride;
    bool bufs_registered;
    char bufs_note[160]; /* why buffers are not registered */

    struct pool *ops;
    struct chunk_fdcache fdc;
    struct list_node waitq;
    unsigned nwait;
    unsigned inflight; /* accepted requests whose callback has not run */
    unsigned in_ring;  /* SQEs prepared whose CQE has not been reaped */
    bool continued;    /* reap queued continuations */
    struct chunk_stats stats;
};

/* --- buffers ------------------------------------------------------------ */

void *chunk_buf_get(struct chunk_store *cs)
{
    return pool_get(cs->bufs);
}

void chunk_buf_put(struct chunk_store *cs, void *buf)
{
    if (buf != NULL)
        pool_put(cs->bufs, buf);
}

size_t chunk_buf_size(const struct chunk_store *cs)
{
    return cs->opts.buffer_size;
}

bool chunk_store_registered(const struct chunk_store *cs, const char **why_p)
{
    if (why_p != NULL)
        *why_p = cs->bufs_registered ? NULL : cs->bufs_note;
    return cs->bufs_registered;
}

/* Registered buffer that holds all of buf[0..len), or -1. Any pointer into
 * a store buffer works, not only its start (e.g. past a header). */
static int chunk_buf_index(const struct chunk_store *cs, const void *buf, size_t len)
{
    uintptr_t p = (uintptr_t)buf, base = (uintptr_t)pool_base(cs->bufs);
    size_t i, off;

    if (!cs->bufs_registered || p < base || p - base >= pool_bytes(cs->bufs))
        return -1;
    i = (p - base) / cs->buf_stride;
    off = (p - base) % cs->buf_stride;
    if (off + len > cs->opts.buffer_size)
        return -1;
    return (int)i;
}

static int chunk_bufs_setup(struct chunk_store *cs, char *err, size_t errlen)
{
    size_t count = cs->opts.buffer_count, i;
    struct iovec *iov;
    char *base;
    int rc;

    rc = pool_create(cs->opts.buffer_size, count, CHUNK_DIRECT_ALIGN, &cs->bufs);
    if (rc != 0) {
        snprintf(err, errlen, "cannot allocate %zu buffers of %zu bytes", count,
                 cs->opts.buffer_size);
        return rc;
    }
    cs->buf_stride = pool_bytes(cs->bufs) / count;
    iov = calloc(count, sizeof(*iov));
    if (iov == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    base = pool_base(cs->bufs);
    for (i = 0; i < count; i++) {
        iov[i].iov_base = base + i * cs->buf_stride;
        iov[i].iov_len = cs->opts.buffer_size;
    }
    /* Registration pins the pages and is charged to RLIMIT_MEMLOCK for
     * processes without CAP_IPC_LOCK. Unregistered buffers still work (plain
     * read/write), only a little slower, so failure is a note, not an error. */
    rc = io_uring_register_buffers(&cs->ring, iov, (unsigned)count);
    free(iov);
    cs->bufs_registered = rc == 0;
    if (rc != 0)
        snprintf(cs->bufs_note, sizeof(cs->bufs_note),
                 "io_uring buffer registration failed (%s)%s; using unregistered buffers",
                 strerror(-rc), rc == -ENOMEM ? ": raise RLIMIT_MEMLOCK (ulimit -l)" : "");
    return 0;
}

/* --- open / close ------------------------------------------------------- */

int chunk_store_open(const char *dir, const struct chunk_opts *opts, struct chunk_store **cs_p,
                     char *err, size_t errlen)
{
    struct io_uring_params params;
    struct chunk_store *cs;
    int rc;

    if (opts->queue_size == 0 || opts->buffer_size == 0 || opts->buffer_count == 0 ||
        opts->buffer_size > INT_MAX) {
        snprintf(err, errlen, "bad chunk store options");
        return -EINVAL;
    }
    rc = store_mkdir_p(dir, 0700, err, errlen);
    if (rc != 0)
        return rc;
    cs = calloc(1, sizeof(*cs));
    if (cs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    cs->opts = *opts;
    if (cs->opts.submit_depth == 0)
        cs->opts.submit_depth = 1;
    cs->direct_ok = opts->o_direct;
    list_init(&cs->waitq);

    cs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cs->dirfd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", dir, strerror(-rc));
        goto err_free;
    }
    {
        /* tmpfs and ramfs support no RWF_NOWAIT, so io_uring hands every
         * request on them to a worker thread: a thread switch and a wakeup
         * for what is only a memory copy. There the loop copies inline. */
        struct statfs sfs;

        cs->mem_fs = fstatfs(cs->dirfd, &sfs) == 0 &&
                     (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
        cs->nowait_reads = true;
    }
    /* The 256 <hh> subdirectories are made by the first write into each
     * (chunk_fd.c): 256 mkdirs at every start cost more than they save. */

    memset(&params, 0, sizeof(params));
    params.flags = IORING_SETUP_CLAMP;
    rc = io_uring_queue_init_params(opts->queue_size, &cs->ring, &params);
    if (rc != 0) {
        snprintf(err, errlen, "io_uring_queue_init(%u): %s", opts->queue_size, strerror(-rc));
        goto err_close_dir;
    }
    cs->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (cs->efd < 0) {
        rc = -errno;
        snprintf(err, errlen, "eventfd: %s", strerror(-rc));
        goto err_exit_ring;
    }
    rc = io_uring_register_eventfd(&cs->ring, cs->efd);
    if (rc != 0) {
        snprintf(err, errlen, "io_uring_register_eventfd: %s", strerror(-rc));
        goto err_close_efd;
    }
    rc = chunk_bufs_setup(cs, err, errlen);
    if (rc != 0)
        goto err_free_bufs;
    /* As many ops as CQ entries: completions can never overflow the CQ. */
    rc = pool_create(sizeof(struct chunk_op), cs->ring.cq.ring_entries, 0, &cs->ops);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory");
        goto err_free_bufs;
    }
    rc = chunk_fdc_init(&cs->fdc, cs->dirfd, opts->fd_cache);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory");
        goto err_free_ops;
    }
    *cs_p = cs;
    return 0;

err_free_ops:
    pool_destroy(cs->ops);
err_free_bufs:
    /* io_uring_queue_exit drops any registration. */
    pool_destroy(cs->bufs);
err_close_efd:
    close(cs->efd);
err_exit_ring:
    io_uring_queue_exit(&cs->ring);
err_close_dir:
    close(cs->dirfd);
err_free:
    free(cs);
    return rc;
}

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

static void chunk_waitq_flush(struct chunk_store *cs)
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

/* Queue op as a completion with `result` and no I/O. */
static void chunk_op_nop(struct chunk_store *cs, struct chunk_op *op, int result)
{
    op->kind = CHUNK_OP_NOP;
    op->result = result;
    chunk_op_queue(cs, op);
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
    op->kind = CHUNK_OP_NOP;
    op->result = result;
    chunk_op_queue(cs, op);
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

int chunk_remove(struct chunk_store *cs, uint64_t ino, uint64_t first, uint64_t last,
                 uint64_t keep_bytes)
{
    return chunk_fdc_remove(&cs->fdc, ino, first, last, keep_bytes);
}

int chunk_remove_inode(struct chunk_store *cs, uint64_t ino)
{
    /* First the refusal, so nothing can recreate what is removed next. */
    int rc = chunk_gone_add(&cs->fdc.gone, ino);

    if (rc != 0)
        return rc;
    return chunk_remove(cs, ino, 0, UINT64_MAX, 0);
}

size_t chunk_store_list(struct chunk_store *cs, uint64_t after, uint64_t *inos, size_t max)
{
    return chunk_fdc_list(&cs->fdc, after, inos, max);
}

int chunk_store_usage(struct chunk_store *cs, uint64_t ino, uint64_t *chunks_p, uint64_t *bytes_p)
{
    return chunk_fdc_usage(&cs->fdc, ino, chunks_p, bytes_p);
}

void chunk_store_set_lost(struct chunk_store *cs, bool lost)
{
    cs->lost = lost;
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
static unsigned chunk_cqes_process(struct chunk_store *cs)
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
    if (io_uring_cq_ready(&cs->ring) == 0 && !cs->continued)
        return 0;
    return chunk_cqes_process(cs);
}

void chunk_store_clear_eventfd(struct chunk_store *cs)
{
    uint64_t count;

    if (read(cs->efd, &count, sizeof(count)) < 0) {
        /* EAGAIN: nothing was signalled */
    }
}

void chunk_store_close(struct chunk_store *cs)
{
    int rc;

    if (cs == NULL)
        return;
    /* Run every outstanding op to its callback before tearing down. */
    while (cs->in_ring > 0 || cs->nwait > 0) {
        chunk_waitq_flush(cs);
        if (io_uring_cq_ready(&cs->ring) == 0) {
            rc = io_uring_submit_and_wait(&cs->ring, 1);
            if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
                break; /* the ring is broken: nothing more will complete */
        }
        (void)chunk_cqes_process(cs);
    }
    chunk_fdc_cleanup(&cs->fdc);
    io_uring_queue_exit(&cs->ring);
    close(cs->efd);
    pool_destroy(cs->ops);
    pool_destroy(cs->bufs);
    close(cs->dirfd);
    free(cs);
}

/* --- accessors ---------------------------------------------------------- */

int chunk_store_eventfd(const struct chunk_store *cs)
{
    return cs->efd;
}

unsigned chunk_store_inflight(const struct chunk_store *cs)
{
    return cs->inflight;
}

unsigned chunk_store_queued(const struct chunk_store *cs)
{
    return io_uring_sq_ready(&cs->ring) + cs->nwait;
}

int chunk_store_statfs(struct chunk_store *cs, struct statvfs *st_p)
{
    return fstatvfs(cs->dirfd, st_p) == 0 ? 0 : -errno;
}

void chunk_store_stats(const struct chunk_store *cs, struct chunk_stats *st_p)
{
    *st_p = cs->stats;
}

unsigned chunk_store_open_fds(const struct chunk_store *cs)
{
    return chunk_fdc_open_count(&cs->fdc);
}
