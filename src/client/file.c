/*
 * file.c - descriptor calls: open, close, read, write, lseek, fsync,
 * ftruncate, fstat.
 *
 * Costs, in RPCs: open = 1 (CREATE, STAT or TRUNCATE on the owner), plus
 * one CHUNK_REMOVE per holding server when it truncated data. A read or
 * write = one per piece, in parallel. close = 0 without writes, else 1
 * (SETSIZE of the written extent, max semantics). A file only created and
 * closed costs one RPC in total.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "client/error.h"
#include "client/posix.h"
#include "common/timeutil.h"

/* ---- open ---- */

static int file_create(struct client *c, const char *path, size_t len, int flags, mode_t mode,
                       struct proto_attr *attr_p, uint64_t *old_size_p, uint64_t *old_ino_p,
                       bool *created_p)
{
    struct rpc_call call;
    int rc;

    if (len == 1)
        return (flags & O_EXCL) ? -EEXIST : -EISDIR;
    rpc_call_init(&call, PROTO_OP_CREATE, placement_path(&c->place, path, len));
    call.req.create_req.path_len = (uint32_t)len;
    call.req.create_req.flags =
        ((flags & O_EXCL) ? PROTO_CREATE_EXCL : 0) | ((flags & O_TRUNC) ? PROTO_CREATE_TRUNC : 0);
    call.req.create_req.mode = S_IFREG | ((uint32_t)mode & 07777 & ~(uint32_t)c->umask);
    call.req.create_req.uid = c->uid;
    call.req.create_req.gid = c->gid;
    call.req.create_req.chunk_size = c->chunk_size;
    call.data = path;
    call.data_len = len;
    rc = rpc_run_one(c, &call);
    if (rc == -ENOENT)
        rc = ns_refine_enoent(c, path, len);
    if (rc < 0)
        return rc;
    *attr_p = call.rep.create_rep.attr;
    *old_size_p = call.rep.create_rep.old_size;
    *old_ino_p = call.rep.create_rep.old_ino;
    *created_p = call.rep.create_rep.created != 0;
    return 0;
}

static int file_open(struct client *c, const char *upath, int flags, mode_t mode)
{
    char path[BFS_PATH_MAX];
    struct proto_attr attr;
    struct client_fd *f;
    uint64_t old_size = 0, old_ino = 0, ext;
    bool truncated = false;
    int len, rc, fd;

    len = client_path(upath, path);
    if (len < 0)
        return len;
    if ((flags & O_ACCMODE) == O_ACCMODE)
        return -EINVAL;
    if (flags & O_CREAT) {
        bool created = false;

        rc = file_create(c, path, (size_t)len, flags, mode, &attr, &old_size, &old_ino, &created);
        /* A file this call made has a number never used before: no chunk
         * of it can exist anywhere, nothing to free. */
        truncated = (flags & O_TRUNC) != 0 && !created;
    } else if ((flags & O_TRUNC) && !(flags & O_DIRECTORY)) {
        /* Like Linux, O_TRUNC truncates even with O_RDONLY. */
        rc = ns_truncate_path(c, path, (size_t)len, 0, &attr);
    } else {
        rc = ns_lookup(c, path, (size_t)len, &attr);
    }
    if (rc < 0)
        return rc;
    rc = posix_open_check(attr.mode, flags);
    if (rc < 0)
        return rc;
    if (truncated) {
        /* CREATE with PROTO_CREATE_TRUNC: free what the file held. When it
         * held data the owner gave it a new inode number (old_ino), so only
         * the old number's chunks go and concurrent writers of the new one
         * lose nothing; otherwise only this client's unpublished extent. */
        uint64_t victim = old_ino != 0 ? old_ino : attr.ino;

        ext = fd_ino_extent(c, victim);
        if (old_ino == 0)
            old_size = 0;
        if (ext > old_size)
            old_size = ext;
        fd_ino_truncated(c, victim, 0);
        rc = old_ino != 0 ? io_free_gone(c, victim, attr.chunk_size, SIZE_MAX)
                          : io_free(c, victim, attr.chunk_size, 0, old_size);
        if (rc < 0)
            return rc;
    }

    fd = fd_alloc(c, &f);
    if (fd < 0)
        return fd;
    f->path = malloc((size_t)len + 1);
    if (f->path == NULL) {
        fd_release(c, fd);
        return -ENOMEM;
    }
    memcpy(f->path, path, (size_t)len + 1);
    f->path_len = (size_t)len;
    f->attr = attr;
    f->is_dir = S_ISDIR(attr.mode);
    f->flags = flags & (O_ACCMODE | O_APPEND);
    return fd;
}

int benchfs_open(const char *path, int flags, mode_t mode)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = file_open(c, path, flags, mode);
        client_leave(c);
    }
    return (int)error_finish(rc, "open", path, false);
}

int benchfs_creat(const char *path, mode_t mode)
{
    return benchfs_open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* ---- close ---- */

int benchfs_close(int fd)
{
    struct client_fd *f;
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        f = fd_get(c, fd);
        if (f == NULL) {
            rc = -EBADF;
        } else {
            if (f->dirty)
                rc = ns_push_size(c, f, PROTO_SETSIZE_SYNC);
            /* Like close(2): the descriptor is gone even when the push failed. */
            fd_release(c, fd);
        }
        client_leave(c);
    }
    return (int)error_finish(rc, "close", NULL, false);
}

/* ---- read / write ---- */

static ssize_t file_pread(struct client *c, struct client_fd *f, void *buf, size_t count,
                          uint64_t off)
{
    uint64_t size, n;
    int rc;

    if (f->is_dir)
        return -EISDIR;
    if ((f->flags & O_ACCMODE) == O_WRONLY)
        return -EBADF;
    if (count == 0)
        return 0;
    if (buf == NULL)
        return -EFAULT;
    if (count > SSIZE_MAX)
        count = SSIZE_MAX;
    size = fd_visible_size(c, f);
    if (off >= size)
        return 0;
    n = size - off < count ? size - off : count;
    rc = io_read(c, &f->attr, buf, off, n);
    if (rc < 0)
        return rc;
    return (ssize_t)n;
}

static ssize_t file_pwrite(struct client *c, struct client_fd *f, const void *buf, size_t count,
                           uint64_t off)
{
    int rc;

    if (f->is_dir || (f->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (count == 0)
        return 0;
    if (buf == NULL)
        return -EFAULT;
    if (count > SSIZE_MAX)
        count = SSIZE_MAX;
    if (off > (uint64_t)INT64_MAX - count)
        return -EFBIG;
    rc = io_write(c, &f->attr, buf, off, count);
    if (rc < 0)
        return rc;
    if (off + count > f->extent)
        f->extent = off + count;
    /* mtime: the owner stamps it when the size is pushed (SETSIZE mtime 0). */
    f->dirty = true;
    return (ssize_t)count;
}

/* O_APPEND: the end of the file as the owner knows it, or as we wrote it. */
static int file_append_offset(struct client *c, struct client_fd *f, uint64_t *off_p)
{
    struct proto_attr attr;
    uint64_t size = fd_visible_size(c, f);
    int rc;

    rc = ns_stat_raw(c, f->path, f->path_len, &attr);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (rc == 0 && attr.ino == f->attr.ino && attr.size > size)
        size = attr.size;
    *off_p = size;
    return 0;
}

ssize_t benchfs_read(int fd, void *buf, size_t count)
{
    struct client_fd *f;
    struct client *c;
    ssize_t rc = client_enter(&c);

    if (rc == 0) {
        f = fd_get(c, fd);
        if (f == NULL) {
            rc = -EBADF;
        } else {
            rc = file_pread(c, f, buf, count, f->pos);
            if (rc > 0)
                f->pos += (uint64_t)rc;
        }
        client_leave(c);
    }
    return (ssize_t)error_finish(rc, "read", NULL, false);
}

ssize_t benchfs_pread(int fd, void *buf, size_t count, off_t offset)
{
    struct client_fd *f;
    struct client *c;
    ssize_t rc = client_enter(&c);

    if (rc == 0) {
        f = fd_get(c, fd);
        if (f == NULL)
            rc = -EBADF;
        else if (offset < 0)
            rc = -EINVAL;
        else
            rc = file_pread(c, f, buf, count, (uint64_t)offset);
        client_leave(c);
    }
    return (ssize_t)error_finish(rc, "pread", NULL, false);
}

ssize_t benchfs_write(int fd, const void *buf, size_t count)
{
    struct client_fd *f;
    struct client *c;
    uint64_t off;
    ssize_t rc = client_enter(&c);

    if (rc == 0) {
        f = fd_get(c, fd);
        if (f == NULL) {
            rc = -EBADF;
        } else {
            off = f->pos;
            rc = 0;
            if ((f->flags & O_APPEND) && count > 0 && !f->is_dir &&
                (f->flags & O_ACCMODE) != O_RDONLY)
                rc = file_append_offset(c, f, &off);
            if (rc == 0)
                rc = file_pwrite(c, f, buf, count, off);
            if (rc > 0)
                f->pos = off + (uint64_t)rc;
        }
        client_leave(c);
    }
    return (ssize_t)error_finish(rc, "write", NULL, false);
}

ssize_t benchfs_pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    struct client_fd *f;
    struct client *c;
    ssize_t rc = client_enter(&c);

    if (rc == 0) {
        f = fd_get(c, fd);
        if (f == NULL)
            rc = -EBADF;
        else if (offset < 0)
            rc = -EINVAL;
        else
            rc = file_pwrite(c, f, buf, count, (uint64_t)offset);
        client_leave(c);
    }
    return (ssize_t)error_finish(rc, "pwrite", NULL, false);
}

/* ---- lseek / fstat ---- */

static off_t file_lseek(struct client *c, struct client_fd *f, off_t offset, int whence)
{
    int64_t base;

    switch (whence) {
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)f->pos;
        break;
    case SEEK_END:
        base = f->is_dir ? 0 : (int64_t)fd_visible_size(c, f);
        break;
    default:
        return -EINVAL;
    }
    if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
        return offset > 0 ? -EOVERFLOW : -EINVAL;
    f->pos = (uint64_t)(base + offset);
    return (off_t)f->pos;
}

static void file_fstat(struct client *c, const struct client_fd *f, struct stat *st)
{
    struct proto_attr a = f->attr;

    /* Written and not pushed yet: modified "now", as far as we can tell. */
    if (f->dirty)
        a.mtime_ns = a.ctime_ns = time_real_ns();
    posix_attr_to_stat(&a, f->is_dir ? a.size : fd_visible_size(c, f), st);
}

off_t benchfs_lseek(int fd, off_t offset, int whence)
{
    struct client_fd *f;
    struct client *c;
    off_t rc = client_enter(&c);

    if (rc == 0) {
        f = fd_get(c, fd);
        rc = f == NULL ? -EBADF : file_lseek(c, f, offset, whence);
        client_leave(c);
    }
    return (off_t)error_finish(rc, "lseek", NULL, false);
}

int benchfs_fstat(int fd, struct stat *st)
{
    struct client_fd *f;
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        f = fd_get(c, fd);
        if (f == NULL)
            rc = -EBADF;
        else if (st == NULL)
            rc = -EFAULT;
        else
            file_fstat(c, f, st);
        client_leave(c);
    }
    return (int)error_finish(rc, "fstat", NULL, false);
}

/* ---- fsync / ftruncate ---- */

static int file_fsync(struct client *c, struct client_fd *f)
{
    struct rpc_call *calls;
    size_t i;
    int rc = 0;

    if (f->is_dir)
        return 0;
    if (f->dirty) {
        rc = ns_push_size(c, f, PROTO_SETSIZE_SYNC);
        if (rc < 0)
            return rc;
    }
    calls = calloc(c->nservers, sizeof(*calls));
    if (calls == NULL)
        return -ENOMEM;
    for (i = 0; i < c->nservers; i++) {
        rpc_call_init(&calls[i], PROTO_OP_FSYNC, i);
        calls[i].req.fsync_req.ino = f->attr.ino;
    }
    rpc_run_calls(c, calls, c->nservers);
    for (i = 0; i < c->nservers; i++) {
        /* A server without chunks of this inode has nothing to sync. */
        if (calls[i].status < 0 && calls[i].status != -ENOENT && rc == 0)
            rc = calls[i].status;
    }
    free(calls);
    return rc;
}

int benchfs_fsync(int fd)
{
    struct client_fd *f;
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        f = fd_get(c, fd);
        rc = f == NULL ? -EBADF : file_fsync(c, f);
        client_leave(c);
    }
    return (int)error_finish(rc, "fsync", NULL, false);
}

static int file_ftruncate(struct client *c, struct client_fd *f, off_t length)
{
    if (f->is_dir || (f->flags & O_ACCMODE) == O_RDONLY || length < 0)
        return -EINVAL;
    return ns_truncate_path(c, f->path, f->path_len, (uint64_t)length, NULL);
}

int benchfs_ftruncate(int fd, off_t length)
{
    struct client_fd *f;
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        f = fd_get(c, fd);
        rc = f == NULL ? -EBADF : file_ftruncate(c, f, length);
        client_leave(c);
    }
    return (int)error_finish(rc, "ftruncate", NULL, false);
}
