/*
 * file.c - descriptor calls: open, close, read, write, lseek, fsync,
 * ftruncate, fstat.
 *
 * Descriptors act on the inode they opened (inode.c), whatever happens to
 * its name. Costs, in RPCs: open = 1 (CREATE or STAT on the owner); with
 * O_TRUNC of an existing file, the CHUNK_REMOVEs then 1 ITRUNCATE.
 * A read or write = one per piece, in parallel (O_APPEND: one ISTAT more);
 * none for a read of a file of at most 16 KiB opened O_RDONLY, whose bytes
 * came with the open's lookup (read at open), until this process changes it.
 * close = 0 without writes, else 1 (SETSIZE of the written extent, max
 * semantics), 0 again when the only writes extending the file were small
 * chunk-0 writes that published the size themselves and the owner needs no
 * metadata sync (durability none, or metadata on tmpfs); the last close of a file unlinked while
 * open = 1 RELEASE plus the chunk removals. A file only created and closed costs one RPC.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "client/error.h"
#include "client/pipe_read.h"
#include "client/posix.h"
#include "common/timeutil.h"

/* ---- open ---- */

static int file_create(struct client *c, const char *path, size_t len, int flags, mode_t mode,
                       struct proto_attr *attr_p, bool *created_p)
{
    struct rpc_call call;
    int rc;

    if (len == 1)
        return (flags & O_EXCL) ? -EEXIST : -EISDIR;
    rpc_call_init(&call, PROTO_OP_CREATE, placement_path(&c->place, path, len));
    call.req.create_req.path_len = (uint32_t)len;
    /* O_TRUNC is done by the caller (file_open): data freed, then size set. */
    call.req.create_req.flags = (flags & O_EXCL) ? PROTO_CREATE_EXCL : 0;
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
    *created_p = call.rep.create_rep.created != 0;
    return 0;
}

/*
 * Find (or create) the inode path names, check the open flags against it,
 * and truncate it for O_TRUNC. Like Linux, O_TRUNC truncates even with
 * O_RDONLY; a file this call created is empty already. In place: the inode
 * number stays and this client's other descriptors of it see the new size.
 * A file replaced by another client between the lookup and the truncation
 * is looked up again. An open for reading only of a small file also gets
 * its bytes (*head_p: malloc'd, attr->size bytes), so that reading it costs
 * no second round trip.
 */
static int file_open_inode(struct client *c, const char *path, size_t len, int flags, mode_t mode,
                           struct proto_attr *attr, uint8_t **head_p)
{
    struct client_inode where;
    bool created = false;
    int rc, tries;

    for (tries = 0;; tries++) {
        if (flags & O_CREAT)
            rc = file_create(c, path, len, flags, mode, attr, &created);
        else if ((flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC))
            rc = inode_lookup_head(c, path, len, attr, head_p);
        else
            rc = ns_lookup(c, path, len, attr);
        if (rc < 0)
            return rc;
        rc = posix_open_check(attr->mode, flags);
        if (rc < 0 || !(flags & O_TRUNC) || created || !S_ISREG(attr->mode))
            return rc;
        memset(&where, 0, sizeof(where));
        where.owner = placement_path(&c->place, path, len);
        where.path = (char *)path;
        where.path_len = len;
        rc = inode_truncate_at(c, &where, attr, 0, attr);
        if ((rc != -ENOENT && rc != -ESTALE) || tries == 2)
            return rc;
    }
}

static int file_open(struct client *c, const char *upath, int flags, mode_t mode)
{
    char path[BFS_PATH_MAX];
    struct proto_attr attr;
    struct client_inode *ci;
    struct client_fd *f;
    uint8_t *head = NULL;
    int len, rc, fd;

    len = client_path(upath, path);
    if (len < 0)
        return len;
    if ((flags & O_ACCMODE) == O_ACCMODE)
        return -EINVAL;
    rc = file_open_inode(c, path, (size_t)len, flags, mode, &attr, &head);
    if (rc < 0) {
        free(head);
        return rc;
    }
    rc = inode_get(c, path, (size_t)len, &attr, &ci);
    if (rc < 0) {
        free(head);
        return rc;
    }
    if (head != NULL) {
        /* unless a write of ours is not published yet: ours is newer */
        if (ci->extent == 0 && !ci->dirty) {
            ci->head = head;
            ci->head_len = (size_t)attr.size;
        } else {
            free(head);
        }
    }
    fd = fd_alloc(c, &f);
    if (fd < 0) {
        ci->opens--;
        inode_put(c, ci);
        return fd;
    }
    f->ci = ci;
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
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = fd_close(c, fd);
        client_leave(c);
    }
    return (int)error_finish(rc, "close", NULL, false);
}

/* ---- read / write ---- */

/* Check a descriptor for reading; 0 or -errno. */
static int file_readable(const struct client_fd *f)
{
    if (f->is_dir)
        return -EISDIR;
    if ((f->flags & O_ACCMODE) == O_WRONLY)
        return -EBADF;
    return 0;
}

/* Check a descriptor for writing; 0 or -errno. */
static int file_writable(const struct client_fd *f)
{
    if (f->is_dir || (f->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    return 0;
}

/* Read through inode ci (referenced by the caller) into buf, or with
 * pipe_fd >= 0 into that pipe, buf being the scratch buffer of
 * io_read_pipe. */
static ssize_t file_pread(struct client *c, struct client_inode *ci, void *buf, size_t count,
                          uint64_t off, int pipe_fd)
{
    uint64_t size, n;
    int rc;

    if (count == 0)
        return 0;
    if (buf == NULL)
        return -EFAULT;
    if (count > SSIZE_MAX)
        count = SSIZE_MAX;
    size = inode_size(ci);
    if (off >= size)
        return 0;
    n = size - off < count ? size - off : count;
    if (ci->head != NULL && off + n <= ci->head_len) {
        /* read at open */
        if (pipe_fd >= 0) {
            rc = io_pipe_put(pipe_fd, ci->head + off, n);
            return rc < 0 ? rc : (ssize_t)n;
        }
        memcpy(buf, ci->head + off, n);
        return (ssize_t)n;
    }
    rc = pipe_fd >= 0 ? io_read_pipe(c, &ci->attr, pipe_fd, buf, off, n)
                      : io_read(c, &ci->attr, buf, off, n);
    if (rc < 0)
        return rc;
    return (ssize_t)n;
}

/* Write through inode ci (referenced by the caller). */
static ssize_t file_pwrite(struct client *c, struct client_inode *ci, const void *buf, size_t count,
                           uint64_t off)
{
    uint32_t pub = 0;
    int rc;

    if (count == 0)
        return 0;
    if (buf == NULL)
        return -EFAULT;
    if (count > SSIZE_MAX)
        count = SSIZE_MAX;
    if (off > (uint64_t)INT64_MAX - count)
        return -EFBIG;
    inode_drop_head(ci);
    /* Past chunk 0: chunk 0's server first records that there are more
     * (docs/semantics.md#where-chunks-are). A size past chunk 0 says it
     * does already: whoever wrote or truncated there told it first. */
    if (!ci->spread && ci->attr.size > ci->attr.chunk_size)
        ci->spread = true;
    if ((off + count - 1) / ci->attr.chunk_size > 0) {
        rc = inode_spread(c, ci, ci->attr.ino);
        if (rc < 0)
            return rc;
    }
    /* A write past the size the owner knows may publish it on the way
     * (chunk 0 lives on the owner): then close has nothing to push. */
    if (off + count > ci->attr.size) {
        rc = io_write_publish(c, ci, buf, off, count, &pub);
    } else {
        struct proto_attr attr = ci->attr;

        rc = io_write(c, &attr, buf, off, count);
    }
    if (rc < 0)
        return rc;
    if (off + count > ci->extent)
        ci->extent = off + count;
    if (pub & PROTO_CHUNK_REP_SIZE_SET) {
        /* The owner stamped its clock; ours is close enough for fstat. */
        if (off + count > ci->attr.size)
            ci->attr.size = off + count;
        ci->attr.mtime_ns = ci->attr.ctime_ns = time_real_ns();
        if (!(pub & PROTO_CHUNK_REP_DURABLE))
            ci->unsynced = true;
    } else {
        /* mtime: the owner stamps it when the size is pushed (SETSIZE mtime 0). */
        ci->dirty = true;
    }
    ci->wgen++;
    return (ssize_t)count;
}

/* O_APPEND: the end of the file as its owner knows it, or as we wrote it. */
static int file_append_offset(struct client *c, struct client_inode *ci, uint64_t *off_p)
{
    struct proto_attr attr;
    uint64_t size;
    int rc;

    rc = inode_stat(c, ci, &attr);
    if (rc < 0 && rc != -ESTALE)
        return rc;
    size = inode_size(ci);
    if (rc == 0 && attr.size > size)
        size = attr.size;
    *off_p = size;
    return 0;
}

/*
 * read/write/pread/pwrite on descriptor fd: `off` < 0 uses (and advances)
 * the descriptor's position. The inode stays referenced during the RPCs;
 * the descriptor is looked up again after them (it may have been closed).
 */
static ssize_t file_rw(struct client *c, int fd, void *rbuf, const void *wbuf, size_t count,
                       int64_t off, int pipe_fd)
{
    struct client_fd *f = fd_get(c, fd);
    struct client_inode *ci;
    bool use_pos = off < 0, append;
    uint64_t at;
    ssize_t rc;

    if (f == NULL)
        return -EBADF;
    rc = wbuf != NULL ? file_writable(f) : file_readable(f);
    if (rc < 0)
        return rc;
    ci = f->ci;
    ci->refs++;
    at = use_pos ? f->pos : (uint64_t)off;
    append = wbuf != NULL && use_pos && (f->flags & O_APPEND) && count > 0;
    if (append)
        rc = file_append_offset(c, ci, &at);
    if (rc == 0)
        rc = wbuf != NULL ? file_pwrite(c, ci, wbuf, count, at)
                          : file_pread(c, ci, rbuf, count, at, pipe_fd);
    if (rc > 0 && use_pos) {
        f = fd_get(c, fd);
        if (f != NULL && f->ci == ci)
            f->pos = at + (uint64_t)rc;
    }
    inode_put(c, ci);
    return rc;
}

ssize_t benchfs_read(int fd, void *buf, size_t count)
{
    struct client *c;
    ssize_t rc = client_enter(&c);

    if (rc == 0) {
        rc = file_rw(c, fd, buf, NULL, count, -1, -1);
        client_leave(c);
    }
    return (ssize_t)error_finish(rc, "read", NULL, false);
}

/* pread at an explicit offset into buf, or into pipe_fd (buf = scratch). */
static ssize_t file_pread_at(int fd, void *buf, size_t count, off_t offset, int pipe_fd)
{
    struct client *c;
    ssize_t rc = client_enter(&c);

    if (rc == 0) {
        if (offset < 0)
            rc = fd_get(c, fd) == NULL ? -EBADF : -EINVAL;
        else
            rc = file_rw(c, fd, buf, NULL, count, offset, pipe_fd);
        client_leave(c);
    }
    return rc;
}

ssize_t benchfs_pread(int fd, void *buf, size_t count, off_t offset)
{
    return (ssize_t)error_finish(file_pread_at(fd, buf, count, offset, -1), "pread", NULL, false);
}

ssize_t benchfs_pread_pipe(int fd, int pipe_wr, void *scratch, size_t count, off_t offset)
{
    ssize_t rc = file_pread_at(fd, scratch, count, offset, pipe_wr);

    /* Part of the range in the pipe: the caller starts again without it. */
    if (rc == -EPIPE)
        rc = -EAGAIN;
    return (ssize_t)error_finish(rc, "pread", NULL, false);
}

ssize_t benchfs_write(int fd, const void *buf, size_t count)
{
    struct client *c;
    ssize_t rc = client_enter(&c);

    if (rc == 0) {
        rc = file_rw(c, fd, NULL, buf, count, -1, -1);
        client_leave(c);
    }
    return (ssize_t)error_finish(rc, "write", NULL, false);
}

ssize_t benchfs_pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    struct client *c;
    ssize_t rc = client_enter(&c);

    if (rc == 0) {
        if (offset < 0)
            rc = fd_get(c, fd) == NULL ? -EBADF : -EINVAL;
        else
            rc = file_rw(c, fd, NULL, buf, count, offset, -1);
        client_leave(c);
    }
    return (ssize_t)error_finish(rc, "pwrite", NULL, false);
}

/* ---- lseek / fstat ---- */

static off_t file_lseek(struct client_fd *f, off_t offset, int whence)
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
        base = f->is_dir ? 0 : (int64_t)inode_size(f->ci);
        break;
    default:
        return -EINVAL;
    }
    if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
        return offset > 0 ? -EOVERFLOW : -EINVAL;
    f->pos = (uint64_t)(base + offset);
    return (off_t)f->pos;
}

static void file_fstat(const struct client_fd *f, struct stat *st)
{
    const struct client_inode *ci = f->ci;
    struct proto_attr a = ci->attr;

    /* Written and not pushed yet: modified "now", as far as we can tell. */
    if (ci->dirty)
        a.mtime_ns = a.ctime_ns = time_real_ns();
    posix_attr_to_stat(&a, f->is_dir ? a.size : inode_size(ci), st);
    /* Unlinked while open (by this client): no name left. */
    if (ci->orphan)
        st->st_nlink = 0;
}

off_t benchfs_lseek(int fd, off_t offset, int whence)
{
    struct client_fd *f;
    struct client *c;
    off_t rc = client_enter(&c);

    if (rc == 0) {
        f = fd_get(c, fd);
        rc = f == NULL ? -EBADF : file_lseek(f, offset, whence);
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
            file_fstat(f, st);
        client_leave(c);
    }
    return (int)error_finish(rc, "fstat", NULL, false);
}

/* ---- fsync / ftruncate ---- */

/* Publish ci's size durably, then sync its chunks on every server. */
static int file_fsync(struct client *c, struct client_inode *ci)
{
    struct rpc_call *calls;
    size_t i;
    int rc = 0;

    if (S_ISDIR(ci->attr.mode))
        return 0;
    if (ci->dirty || ci->unsynced) {
        rc = inode_push_size(c, ci, PROTO_SETSIZE_SYNC);
        if (rc < 0)
            return rc;
    }
    calls = calloc(c->nservers, sizeof(*calls));
    if (calls == NULL)
        return -ENOMEM;
    for (i = 0; i < c->nservers; i++) {
        rpc_call_init(&calls[i], PROTO_OP_FSYNC, i);
        calls[i].req.fsync_req.ino = ci->attr.ino;
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

/* fsync / ftruncate of descriptor fd, holding its inode during the RPCs. */
static int file_inode_op(struct client *c, int fd, bool truncate, off_t length)
{
    struct client_fd *f = fd_get(c, fd);
    struct client_inode *ci;
    int rc;

    if (f == NULL)
        return -EBADF;
    if (truncate && (f->is_dir || (f->flags & O_ACCMODE) == O_RDONLY || length < 0))
        return -EINVAL;
    ci = f->ci;
    ci->refs++;
    rc = truncate ? inode_truncate(c, ci, (uint64_t)length) : file_fsync(c, ci);
    inode_put(c, ci);
    return rc;
}

int benchfs_fsync(int fd)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = file_inode_op(c, fd, false, 0);
        client_leave(c);
    }
    return (int)error_finish(rc, "fsync", NULL, false);
}

int benchfs_ftruncate(int fd, off_t length)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = file_inode_op(c, fd, true, length);
        client_leave(c);
    }
    return (int)error_finish(rc, "ftruncate", NULL, false);
}
