/*
 * bfuse_file.c - open files of the FUSE daemon: create, open, read, write,
 * flush, fsync, release. Each FUSE file handle owns one BenchFS descriptor.
 *
 * Data goes through the kernel page cache (no direct_io), so mmap works,
 * shared writable mappings included: their dirty pages come back as WRITE
 * requests on a writable handle of the file. The writeback cache is off:
 * every write(2) reaches BenchFS before it returns (in up to 1 MiB pieces),
 * so a close(2) can publish it.
 *
 * Close-to-open: the kernel sends RELEASE asynchronously, after close(2)
 * returned, but FLUSH synchronously inside close(2). A handle written
 * since its last flush therefore publishes its size in FLUSH
 * (benchfs_fsync: the only public call that pushes it before the last
 * close; NFS also commits at close). Another client opening the file after
 * close(2) returned sees every byte.
 *
 * Page cache at open: kept (FOPEN_KEEP_CACHE) only when the file has the
 * same inode, size and mtime as at this mount's last open and this mount
 * did not write it since; otherwise the kernel drops it, so data another
 * client wrote before its close is never hidden by stale pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "benchfs.h"
#include "fuse/bfuse_int.h"

/* Per worker thread read buffer (BFUSE_IO_MAX), freed when it exits. */
static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;

/* Create the thread-specific key of the read buffers (once). */
static void read_buf_key_make(void)
{
    (void)pthread_key_create(&read_buf_key, free);
}

/* The calling worker's read buffer, allocated at its first read; NULL on ENOMEM. */
static char *read_buf_get(void)
{
    char *buf;

    pthread_once(&read_buf_once, read_buf_key_make);
    buf = pthread_getspecific(read_buf_key);
    if (!buf) {
        buf = malloc(BFUSE_IO_MAX);
        if (buf && pthread_setspecific(read_buf_key, buf) != 0) {
            free(buf);
            buf = NULL;
        }
    }
    return buf;
}

/* The open file behind a file handle of this daemon. */
static struct bfuse_file *file_of(struct fuse_file_info *fi)
{
    return (struct bfuse_file *)(uintptr_t)fi->fh;
}

/* Wrap descriptor fd of node `nodeid` into a handle in fi (with the cache
 * decision). 0, or -ENOMEM (the descriptor is then closed). */
static int file_attach(struct bfuse *fs, uint64_t nodeid, int fd, const struct stat *st,
                       struct fuse_file_info *fi)
{
    struct bfuse_file *f = calloc(1, sizeof(*f));

    if (!f) {
        benchfs_close(fd);
        return -ENOMEM;
    }
    f->kind = BFUSE_FH_FILE;
    f->fd = fd;
    f->nodeid = nodeid;
    fi->fh = (uint64_t)(uintptr_t)f;
    fi->direct_io = 0;
    /* A read-only handle has nothing to publish: no FLUSH round trip at
     * each close(2). */
    fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY ? 1 : 0;
    fi->keep_cache = bfuse_node_cache_check(fs, nodeid, st) ? 1 : 0;
    bfuse_node_open_begin(fs, nodeid);
    return 0;
}

/* Undo file_attach (a reply that could not be delivered). */
static void file_detach(struct bfuse *fs, struct fuse_file_info *fi)
{
    struct bfuse_file *f = file_of(fi);
    struct bfuse_path hidden;

    benchfs_close(f->fd);
    if (bfuse_node_open_end(fs, f->nodeid, &hidden) == 1)
        benchfs_unlink(hidden.p);
    free(f);
}

/* The flags BenchFS takes; O_APPEND is left out because the kernel chooses
 * the offset of every write itself (at its i_size). */
static int open_flags(int flags)
{
    return flags & (O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC);
}

/* CREATE: open with O_CREAT and hand the kernel the new entry and handle. */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct bfuse *fs = bfuse_of(req);
    struct fuse_entry_param e;
    struct bfuse_path path;
    struct stat st;
    int fd, rc;

    rc = bfuse_node_child_path(fs, parent, name, &path);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fd = benchfs_open(path.p, open_flags(fi->flags) | O_CREAT, mode & 07777);
    if (fd < 0) {
        fuse_reply_err(req, bfuse_errno());
        return;
    }
    if (benchfs_fstat(fd, &st) < 0) {
        rc = bfuse_errno();
        benchfs_close(fd);
        fuse_reply_err(req, rc);
        return;
    }
    rc = bfuse_entry_make(fs, path.p, path.len, &st, &e);
    if (rc < 0) {
        benchfs_close(fd);
        fuse_reply_err(req, -rc);
        return;
    }
    rc = file_attach(fs, e.ino, fd, &st, fi);
    if (rc < 0) {
        bfuse_node_forget(fs, e.ino, 1);
        fuse_reply_err(req, -rc);
        return;
    }
    if (fuse_reply_create(req, &e, fi) != 0) {
        file_detach(fs, fi);
        bfuse_node_forget(fs, e.ino, 1);
    }
}

/* OPEN: a BenchFS descriptor for the handle, with the page-cache decision. */
static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_path path;
    struct stat st;
    int fd, rc;

    rc = bfuse_node_path(fs, ino, &path);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fd = benchfs_open(path.p, open_flags(fi->flags) & ~(O_CREAT | O_EXCL), 0);
    if (fd < 0) {
        fuse_reply_err(req, bfuse_errno());
        return;
    }
    if (benchfs_fstat(fd, &st) < 0) {
        rc = bfuse_errno();
        benchfs_close(fd);
        fuse_reply_err(req, rc);
        return;
    }
    if (fi->flags & O_TRUNC)
        bfuse_node_cache_drop(fs, ino);
    rc = file_attach(fs, ino, fd, &st, fi);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (fuse_reply_open(req, fi) != 0)
        file_detach(fs, fi);
}

/* READ: up to 1 MiB at `off` into the worker's buffer, then the reply. */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    char *buf = read_buf_get();
    ssize_t n;

    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    if (size > BFUSE_IO_MAX)
        size = BFUSE_IO_MAX;
    n = benchfs_pread(file_of(fi)->fd, buf, size, off);
    if (n < 0)
        fuse_reply_err(req, bfuse_errno());
    else
        fuse_reply_buf(req, buf, (size_t)n);
}

/* WRITE: straight to BenchFS (no writeback cache); marks the handle dirty. */
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct bfuse_file *f = file_of(fi);
    ssize_t n = benchfs_pwrite(f->fd, buf, size, off);

    if (n < 0) {
        fuse_reply_err(req, bfuse_errno());
        return;
    }
    /* The first write since a flush: this mount's cached pages no longer
     * tell whether the file is unchanged at the next open. */
    if (__atomic_exchange_n(&f->dirty, 1, __ATOMIC_ACQ_REL) == 0)
        bfuse_node_cache_drop(bfuse_of(req), f->nodeid);
    fuse_reply_write(req, (size_t)n);
}

/* close(2) of one descriptor of the handle: publish what was written. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct bfuse_file *f = file_of(fi);
    int err = 0;

    if (__atomic_exchange_n(&f->dirty, 0, __ATOMIC_ACQ_REL) != 0 && benchfs_fsync(f->fd) < 0) {
        err = bfuse_errno();
        __atomic_store_n(&f->dirty, 1, __ATOMIC_RELEASE);
    }
    fuse_reply_err(req, err);
}

/* FSYNC: push the size and sync the chunks on every server. */
static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct bfuse_file *f = file_of(fi);
    int was = __atomic_exchange_n(&f->dirty, 0, __ATOMIC_ACQ_REL);

    if (benchfs_fsync(f->fd) < 0) {
        int err = bfuse_errno();

        if (was)
            __atomic_store_n(&f->dirty, 1, __ATOMIC_RELEASE);
        fuse_reply_err(req, err);
        return;
    }
    fuse_reply_err(req, 0);
}

/* The last reference to the handle is gone (after every flush, and after
 * the writeback of shared mappings that used it). */
static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_file *f = file_of(fi);
    struct bfuse_path hidden;
    int err = 0;

    if (benchfs_close(f->fd) < 0)
        err = bfuse_errno();
    if (bfuse_node_open_end(fs, f->nodeid, &hidden) == 1)
        benchfs_unlink(hidden.p);
    free(f);
    fuse_reply_err(req, err);
}

void bfuse_file_ops(struct fuse_lowlevel_ops *ops)
{
    ops->create = op_create;
    ops->open = op_open;
    ops->read = op_read;
    ops->write = op_write;
    ops->flush = op_flush;
    ops->fsync = op_fsync;
    ops->release = op_release;
}
