/*
 * put.c - benchfs_put: create a whole file, its bytes, mode and mtime at
 * once (docs/semantics.md#put).
 *
 * A file that fits one request to the owner of its name (bytes and name
 * within the owner's largest transfer, the bytes within one chunk) is one
 * PUT: the owner writes the bytes as chunk 0 of an inode it allocates,
 * then makes the name with the final size, mode and mtime, so nobody sees
 * the file partial (src/server/op_put.c). A larger file is made with the
 * public calls open (O_CREAT | O_EXCL), pwrite, fchmod, futimens and
 * close, and removed again when one of them fails. Costs: 1 RPC, or the
 * calls' (3 + the pieces of the data).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/client.h"
#include "client/error.h"

/* One PUT; 1 when the file does not fit one request. */
static int put_request(struct client *c, const char *path, size_t len, const void *data, size_t n,
                       mode_t mode, const struct timespec *mtime)
{
    size_t owner = placement_path(&c->place, path, len);
    struct rpc_call call;
    char *buf;
    int rc;

    if (n > c->chunk_size || n + len > c->place.max_xfer[owner])
        return 1;
    /* Bytes then name, in one buffer of this call (rpc rule 2). */
    buf = malloc(n + len);
    if (buf == NULL)
        return -ENOMEM;
    if (n > 0)
        memcpy(buf, data, n);
    memcpy(buf + n, path, len);
    rpc_call_init(&call, PROTO_OP_PUT, owner);
    call.req.put_req.path_len = (uint32_t)len;
    call.req.put_req.length = (uint32_t)n;
    call.req.put_req.mode = (uint32_t)mode & 07777;
    call.req.put_req.uid = c->uid;
    call.req.put_req.gid = c->gid;
    call.req.put_req.chunk_size = c->chunk_size;
    if (mtime != NULL) {
        call.req.put_req.flags = PROTO_PUT_MTIME;
        call.req.put_req.mtime_ns =
            (uint64_t)mtime->tv_sec * 1000000000ull + (uint64_t)mtime->tv_nsec;
    }
    call.data = buf;
    call.data_len = n + len;
    rc = rpc_run_one(c, &call);
    free(buf);
    if (rc == -ENOENT)
        rc = ns_refine_enoent(c, path, len);
    return rc;
}

/* A file too large for one request, through the public calls (each sets
 * errno and the last error itself). */
static int put_calls(const char *path, const void *data, size_t n, mode_t mode,
                     const struct timespec *mtime)
{
    struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_NOW}};
    size_t off = 0;
    int fd, err = 0;

    if (mtime != NULL)
        ts[1] = *mtime;
    fd = benchfs_open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return -1;
    while (off < n && err == 0) {
        ssize_t w = benchfs_pwrite(fd, (const char *)data + off, n - off, (off_t)off);

        if (w <= 0)
            err = w < 0 ? errno : EIO;
        else
            off += (size_t)w;
    }
    /* The mode as given (open applied the umask), the mtime last but for
     * the close, which has nothing left to publish after futimens. */
    if (err == 0 && (benchfs_fchmod(fd, mode) < 0 || benchfs_futimens(fd, ts) < 0))
        err = errno;
    if (benchfs_close(fd) < 0 && err == 0)
        err = errno;
    if (err != 0) {
        benchfs_unlink(path);
        errno = err;
        return -1;
    }
    return 0;
}

int benchfs_put(const char *path, const void *data, size_t len, mode_t mode,
                const struct timespec *mtime)
{
    char npath[BFS_PATH_MAX];
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        if (data == NULL && len > 0)
            rc = -EFAULT;
        else if (mtime != NULL &&
                 (mtime->tv_sec < 0 || mtime->tv_nsec < 0 || mtime->tv_nsec >= 1000000000L ||
                  (uint64_t)mtime->tv_sec > UINT64_MAX / 1000000000ull - 1))
            rc = -EINVAL; /* BenchFS stores unsigned nanoseconds */
        else if ((rc = client_path(path, npath)) >= 0)
            rc = put_request(c, npath, (size_t)rc, data, len, mode, mtime);
        client_leave(c);
    }
    if (rc == 1)
        return put_calls(path, data, len, mode, mtime);
    return (int)error_finish(rc, "put", path, false);
}
