/*
 * bfuse_file.c - open files of the FUSE daemon: create, open, read, write,
 * flush, fsync, release. Each FUSE file handle owns one BenchFS descriptor.
 *
 * Data goes through the kernel page cache (no direct_io), so mmap works,
 * shared writable mappings included: their dirty pages come back as WRITE
 * requests on a writable handle of the file. The kernel's writeback cache
 * is off (it would keep its own size past close), so each write(2) waits
 * for its WRITE (up to 1 MiB).
 *
 * Write-behind: the daemon replies to a WRITE before it writes the data to
 * BenchFS (from the request's buffer, which stays the worker's until the
 * handler returns), so the program copies its next piece into the page
 * cache while the daemon writes this one. Every other operation of this
 * mount first waits for the writes replied to before it arrived
 * (bfuse_wb_wait: a read, a stat, a flush or fsync, a release, an open, a
 * lookup, a truncation, a rename...), and a write waits for the earlier
 * writes of its node and of its BenchFS inode (one file may have two nodes:
 * renamed by another client, then looked up anew), so they land in order.
 * An error of a write after its reply sticks to the handle: every later
 * write, flush (close(2)) and fsync of it fails with it. Not cleared once
 * reported: a write(2) that spans several requests returns the bytes of
 * those before the failed one, a forked child's exit flushes the handle
 * too, and neither may swallow it. `-o sync_write` turns it off.
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
#include <sys/ioctl.h>
#include <unistd.h>

#include "benchfs.h"
#include "client/pipe_read.h"
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

/* Per worker thread pipe for spliced reads (docs/fuse.md "Reads"). */
struct read_pipe {
    int fd[2];
};
static pthread_key_t read_pipe_key;
static pthread_once_t read_pipe_once = PTHREAD_ONCE_INIT;

static void read_pipe_free(void *arg)
{
    struct read_pipe *p = arg;

    close(p->fd[0]);
    close(p->fd[1]);
    free(p);
}

static void read_pipe_key_make(void)
{
    (void)pthread_key_create(&read_pipe_key, read_pipe_free);
}

/* The calling worker's pipe, made at its first read: non-blocking, with
 * room for BFUSE_IO_MAX bytes, more than a READ asks (BFUSE_READ_MAX; its
 * pages start on page boundaries, except those of a small chunk, which are
 * written). NULL when none can be had: reads go through the buffer. */
static struct read_pipe *read_pipe_get(void)
{
    struct read_pipe *p;

    pthread_once(&read_pipe_once, read_pipe_key_make);
    p = pthread_getspecific(read_pipe_key);
    if (p)
        return p;
    p = malloc(sizeof(*p));
    if (!p)
        return NULL;
    if (pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(p);
        return NULL;
    }
    if (fcntl(p->fd[1], F_SETPIPE_SZ, BFUSE_IO_MAX) < 0) {
        read_pipe_free(p);
        return NULL;
    }
    if (pthread_setspecific(read_pipe_key, p) != 0) {
        read_pipe_free(p);
        return NULL;
    }
    return p;
}

/* Empty the pipe (bytes a failed read or reply left). Without that it
 * cannot serve the next read: closed, a new one comes next time. */
static void read_pipe_empty(struct read_pipe *p, char *buf)
{
    int left = 0;

    for (;;) {
        if (ioctl(p->fd[0], FIONREAD, &left) != 0)
            left = 1; /* unknown: not used again */
        if (left <= 0 ||
            read(p->fd[0], buf, left < (int)BFUSE_IO_MAX ? (size_t)left : BFUSE_IO_MAX) <= 0)
            break;
    }
    if (left > 0) {
        (void)pthread_setspecific(read_pipe_key, NULL);
        read_pipe_free(p);
    }
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
    f->ino = (uint64_t)st->st_ino;
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

    bfuse_wb_wait(fs);
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

    bfuse_wb_wait(fs);
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
    struct read_pipe *pipe;
    ssize_t n;
    int err;

    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    if (size > BFUSE_IO_MAX)
        size = BFUSE_IO_MAX;
    bfuse_wb_wait(bfuse_of(req));
    pipe = bfuse_of(req)->set.splice_read ? read_pipe_get() : NULL;
    if (pipe) {
        n = benchfs_pread_pipe(file_of(fi)->fd, pipe->fd[1], buf, size, off);
        if (n > 0) {
            struct fuse_bufvec bv = FUSE_BUFVEC_INIT((size_t)n);

            bv.buf[0].flags = FUSE_BUF_IS_FD;
            bv.buf[0].fd = pipe->fd[0];
            (void)fuse_reply_data(req, &bv, 0);
            read_pipe_empty(pipe, buf); /* a reply that failed leaves bytes */
            return;
        }
        if (n == 0) {
            fuse_reply_buf(req, NULL, 0);
            return;
        }
        /* Failed: the pipe may hold the pieces before the failure, which
         * must never reach the next read. EAGAIN: read it anew. */
        err = bfuse_errno();
        read_pipe_empty(pipe, buf);
        if (err != EAGAIN) {
            fuse_reply_err(req, err);
            return;
        }
    }
    n = benchfs_pread(file_of(fi)->fd, buf, size, off);
    if (n < 0)
        fuse_reply_err(req, bfuse_errno());
    else
        fuse_reply_buf(req, buf, (size_t)n);
}

/* ---- Write-behind (see the file header) ---- */

/* Is a write older than `ticket` in flight: of the file of w (node id or
 * inode number), or of any file when w is NULL? */
static bool wb_older_pending(const struct bfuse_wb *wb, const struct bfuse_pending *w,
                             uint64_t ticket)
{
    for (const struct bfuse_pending *p = wb->head; p; p = p->next)
        if (p->ticket < ticket && (w == NULL || p->nodeid == w->nodeid || p->ino == w->ino))
            return true;
    return false;
}

/* Wait for the writes in flight older than now: of w's file, or all. */
static void wb_wait_for(struct bfuse *fs, const struct bfuse_pending *w)
{
    struct bfuse_wb *wb = &fs->wb;
    uint64_t ticket;

    /* A write counts itself before its reply; a request that arrived after
     * that reply sees the count (the reply and this request's read of
     * /dev/fuse are system calls in between). */
    if (__atomic_load_n(&wb->npending, __ATOMIC_ACQUIRE) == 0)
        return;
    pthread_mutex_lock(&wb->lock);
    ticket = wb->next_ticket; /* only those before now: no starving */
    while (wb_older_pending(wb, w, ticket))
        pthread_cond_wait(&wb->done, &wb->lock);
    pthread_mutex_unlock(&wb->lock);
}

void bfuse_wb_wait(struct bfuse *fs)
{
    wb_wait_for(fs, NULL);
}

/* Count write p (its nodeid and ino set) as in flight, before its reply. */
static void wb_begin(struct bfuse *fs, struct bfuse_pending *p)
{
    struct bfuse_wb *wb = &fs->wb;

    pthread_mutex_lock(&wb->lock);
    p->ticket = wb->next_ticket++;
    p->next = wb->head;
    wb->head = p;
    __atomic_add_fetch(&wb->npending, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&wb->lock);
}

/* Write p reached BenchFS (or failed): wake whoever waits for it. */
static void wb_end(struct bfuse *fs, struct bfuse_pending *p)
{
    struct bfuse_wb *wb = &fs->wb;
    struct bfuse_pending **pp;

    pthread_mutex_lock(&wb->lock);
    for (pp = &wb->head; *pp != p; pp = &(*pp)->next)
        ;
    *pp = p->next;
    __atomic_sub_fetch(&wb->npending, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&wb->done);
    pthread_mutex_unlock(&wb->lock);
}

/* The first write-behind error of handle f, 0 if none (it stays). */
static int wb_error(struct bfuse_file *f)
{
    return __atomic_load_n(&f->werr, __ATOMIC_ACQUIRE);
}

/* WRITE: to BenchFS, after the reply unless -o sync_write; marks the
 * handle dirty. */
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_file *f = file_of(fi);
    struct bfuse_pending p;
    ssize_t n;
    int err;

    /* Earlier writes of this file first: overlapping ones land in order. */
    p.nodeid = f->nodeid;
    p.ino = f->ino;
    wb_wait_for(fs, &p);
    err = wb_error(f);
    if (err != 0) {
        fuse_reply_err(req, err);
        return;
    }
    /* The first write since a flush: this mount's cached pages no longer
     * tell whether the file is unchanged at the next open. */
    if (__atomic_exchange_n(&f->dirty, 1, __ATOMIC_ACQ_REL) == 0)
        bfuse_node_cache_drop(fs, f->nodeid);
    if (fs->set.sync_write) {
        n = benchfs_pwrite(f->fd, buf, size, off);
        if (n < 0)
            fuse_reply_err(req, bfuse_errno());
        else
            fuse_reply_write(req, (size_t)n);
        return;
    }
    wb_begin(fs, &p);
    fuse_reply_write(req, size);
    n = benchfs_pwrite(f->fd, buf, size, off);
    err = n < 0 ? bfuse_errno() : (size_t)n < size ? EIO : 0;
    if (err != 0) {
        int none = 0;

        __atomic_compare_exchange_n(&f->werr, &none, err, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE);
    }
    wb_end(fs, &p);
}

/* close(2) of one descriptor of the handle: publish what was written. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct bfuse_file *f = file_of(fi);
    int err;

    bfuse_wb_wait(bfuse_of(req));
    err = wb_error(f);
    if (__atomic_exchange_n(&f->dirty, 0, __ATOMIC_ACQ_REL) != 0 && benchfs_fsync(f->fd) < 0) {
        if (err == 0)
            err = bfuse_errno();
        __atomic_store_n(&f->dirty, 1, __ATOMIC_RELEASE);
    }
    fuse_reply_err(req, err);
}

/* FSYNC: push the size and sync the chunks on every server. */
static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct bfuse_file *f = file_of(fi);
    int was, err;

    bfuse_wb_wait(bfuse_of(req));
    err = wb_error(f);
    was = __atomic_exchange_n(&f->dirty, 0, __ATOMIC_ACQ_REL);
    if (benchfs_fsync(f->fd) < 0) {
        if (err == 0)
            err = bfuse_errno();
        if (was)
            __atomic_store_n(&f->dirty, 1, __ATOMIC_RELEASE);
    }
    fuse_reply_err(req, err);
}

/* The last reference to the handle is gone (after every flush, and after
 * the writeback of shared mappings that used it). */
static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_file *f = file_of(fi);
    struct bfuse_path hidden;
    int err;

    bfuse_wb_wait(fs);
    err = wb_error(f);
    if (benchfs_close(f->fd) < 0 && err == 0)
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
