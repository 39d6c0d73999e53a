/*
 * chunk.c - the chunk store of one server (chunk.h): setting it up and
 * tearing it down (the io_uring, its eventfd, the registered buffers, the
 * fd cache and chunk index), buffers, removal and listing entry points,
 * and accessors. The I/O engine -- every operation from submission to its
 * callback -- is chunk_ring.c; chunk files and their fds are chunk_fd.c;
 * the in-memory index of chunk files is chunk_index.c.
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

int chunk_buf_index(const struct chunk_store *cs, const void *buf, size_t len)
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
    list_init(&cs->done);

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

void chunk_store_close(struct chunk_store *cs)
{
    if (cs == NULL)
        return;
    /* Run every outstanding op to its callback before tearing down. */
    chunk_store_drain(cs);
    chunk_fdc_cleanup(&cs->fdc);
    io_uring_queue_exit(&cs->ring);
    close(cs->efd);
    pool_destroy(cs->ops);
    pool_destroy(cs->bufs);
    close(cs->dirfd);
    free(cs);
}

/* --- removal and listing ----------------------------------------------- */

int chunk_remove(struct chunk_store *cs, uint64_t ino, uint64_t first, uint64_t last,
                 uint64_t keep_bytes)
{
    int rc, src;

    if (first > last)
        return -EINVAL;
    src = chunk_small_remove(cs, ino, first, keep_bytes);
    rc = chunk_fdc_remove(&cs->fdc, ino, first, last, keep_bytes);
    return rc != 0 ? rc : src;
}

int chunk_remove_inode(struct chunk_store *cs, uint64_t ino)
{
    /* First the refusal, so nothing can recreate what is removed next. */
    int rc = chunk_gone_add(&cs->fdc.gone, ino);

    if (rc != 0)
        return rc;
    rc = chunk_remove(cs, ino, 0, UINT64_MAX, 0);
    if (cs->small.spread != NULL) {
        int src = cs->small.spread(cs->small.ctx, ino, CHUNK_SPREAD_DEL);

        if (rc == 0)
            rc = src;
    }
    return rc;
}

size_t chunk_store_list(struct chunk_store *cs, uint64_t after, uint64_t *inos, size_t max)
{
    return chunk_small_list(cs, after, inos, chunk_fdc_list(&cs->fdc, after, inos, max), max);
}

int chunk_store_usage(struct chunk_store *cs, uint64_t ino, uint64_t *chunks_p, uint64_t *bytes_p)
{
    uint64_t chunks = 0, bytes = 0;
    int rc = chunk_fdc_usage(&cs->fdc, ino, &chunks, &bytes);

    if (rc == 0)
        rc = chunk_small_usage(cs, ino, &chunks, &bytes);
    if (rc == 0) {
        *chunks_p = chunks;
        *bytes_p = bytes;
    }
    return rc;
}

void chunk_store_set_lost(struct chunk_store *cs, bool lost)
{
    cs->lost = lost;
}

void chunk_store_clear_eventfd(struct chunk_store *cs)
{
    uint64_t count;

    if (read(cs->efd, &count, sizeof(count)) < 0) {
        /* EAGAIN: nothing was signalled */
    }
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
