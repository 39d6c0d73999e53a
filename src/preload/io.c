/*
 * io.c - data calls on descriptors (preload.h): read/write and their
 * positioned and vectored forms, lseek (incl. SEEK_DATA/SEEK_HOLE), fsync,
 * fdatasync, ftruncate, fallocate, posix_fadvise, and the kernel copy calls
 * (copy_file_range, sendfile) emulated with reads and writes when either
 * side is BenchFS.
 *
 * Every wrapper starts with one table lookup; a local descriptor goes to
 * libc at once. BenchFS descriptors share one benchfs descriptor per ofd,
 * so dup'd descriptors share the offset as POSIX wants.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

#include "benchfs.h"
#include "preload/preload.h"

ssize_t pl_fd_read(struct pl_ofd *o, void *buf, size_t n)
{
    int bfd = pl_ofd_bfd(o);

    if (bfd < 0)
        return bfd;
    return pl_bfs(benchfs_read(bfd, buf, n));
}

ssize_t pl_fd_write(struct pl_ofd *o, const void *buf, size_t n)
{
    int bfd = pl_ofd_bfd(o);

    if (bfd < 0)
        return bfd;
    return pl_bfs(benchfs_write(bfd, buf, n));
}

off_t pl_fd_lseek(struct pl_ofd *o, off_t off, int whence)
{
    struct stat st;
    int bfd = pl_ofd_bfd(o);

    if (bfd < 0)
        return bfd;
    if (whence == SEEK_DATA || whence == SEEK_HOLE) {
        /* No holes are tracked: data everywhere up to the size. */
        if (benchfs_fstat(bfd, &st) < 0)
            return -errno;
        if (off < 0 || off >= st.st_size)
            return -ENXIO;
        return pl_bfs(benchfs_lseek(bfd, whence == SEEK_DATA ? off : st.st_size, SEEK_SET));
    }
    return pl_bfs(benchfs_lseek(bfd, off, whence));
}

static ssize_t pl_fd_pread(struct pl_ofd *o, void *buf, size_t n, off_t off)
{
    int bfd = pl_ofd_bfd(o);

    if (bfd < 0)
        return bfd;
    return pl_bfs(benchfs_pread(bfd, buf, n, off));
}

static ssize_t pl_fd_pwrite(struct pl_ofd *o, const void *buf, size_t n, off_t off)
{
    int bfd = pl_ofd_bfd(o);

    if (bfd < 0)
        return bfd;
    return pl_bfs(benchfs_pwrite(bfd, buf, n, off));
}

/* Shorthand: the ofd of fd, or pass the call to libc. */
#define PL_FD_OR_REAL(fd, call)         \
    struct pl_ofd *o = pl_fd_get(fd);   \
    if (__builtin_expect(o == NULL, 1)) \
        return call;

PL_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    PL_REAL(read);
    PL_FD_OR_REAL(fd, real_read(fd, buf, n));
    pl_log("read %d %zu", fd, n);
    return pl_ret(pl_fd_read(o, buf, n));
}

PL_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    PL_REAL(write);
    PL_FD_OR_REAL(fd, real_write(fd, buf, n));
    pl_log("write %d %zu", fd, n);
    return pl_ret(pl_fd_write(o, buf, n));
}

PL_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    PL_REAL(pread);
    PL_FD_OR_REAL(fd, real_pread(fd, buf, n, off));
    pl_log("pread %d %zu @%lld", fd, n, (long long)off);
    return pl_ret(pl_fd_pread(o, buf, n, off));
}

PL_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
    PL_REAL(pread64);
    PL_FD_OR_REAL(fd, real_pread64(fd, buf, n, off));
    pl_log("pread %d %zu @%lld", fd, n, (long long)off);
    return pl_ret(pl_fd_pread(o, buf, n, off));
}

PL_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    PL_REAL(pwrite);
    PL_FD_OR_REAL(fd, real_pwrite(fd, buf, n, off));
    pl_log("pwrite %d %zu @%lld", fd, n, (long long)off);
    return pl_ret(pl_fd_pwrite(o, buf, n, off));
}

PL_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    PL_REAL(pwrite64);
    PL_FD_OR_REAL(fd, real_pwrite64(fd, buf, n, off));
    pl_log("pwrite %d %zu @%lld", fd, n, (long long)off);
    return pl_ret(pl_fd_pwrite(o, buf, n, off));
}

/* _FORTIFY_SOURCE forms: the buffer size was checked by the compiler. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen);

PL_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    PL_REAL(__read_chk);
    PL_FD_OR_REAL(fd, real___read_chk(fd, buf, n, buflen));
    if (n > buflen)
        abort();
    return pl_ret(pl_fd_read(o, buf, n));
}

PL_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
    PL_REAL(__pread_chk);
    PL_FD_OR_REAL(fd, real___pread_chk(fd, buf, n, off, buflen));
    if (n > buflen)
        abort();
    return pl_ret(pl_fd_pread(o, buf, n, off));
}

PL_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen)
{
    PL_REAL(__pread64_chk);
    PL_FD_OR_REAL(fd, real___pread64_chk(fd, buf, n, off, buflen));
    if (n > buflen)
        abort();
    return pl_ret(pl_fd_pread(o, buf, n, off));
}

/*
 * Vectored I/O: element by element at consecutive offsets (off < 0: the
 * file position). Stops at the first short transfer; an error after some
 * bytes moved returns the bytes, as the kernel does.
 */
static ssize_t pl_vec(struct pl_ofd *o, const struct iovec *iov, int cnt, off_t off, bool wr)
{
    ssize_t total = 0, n;
    int i;

    if (cnt < 0 || cnt > IOV_MAX)
        return -EINVAL;
    for (i = 0; i < cnt; i++) {
        if (iov[i].iov_len == 0)
            continue;
        if (off < 0)
            n = wr ? pl_fd_write(o, iov[i].iov_base, iov[i].iov_len)
                   : pl_fd_read(o, iov[i].iov_base, iov[i].iov_len);
        else
            n = wr ? pl_fd_pwrite(o, iov[i].iov_base, iov[i].iov_len, off + total)
                   : pl_fd_pread(o, iov[i].iov_base, iov[i].iov_len, off + total);
        if (n < 0)
            return total > 0 ? total : n;
        total += n;
        if ((size_t)n < iov[i].iov_len)
            break;
    }
    return total;
}

PL_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    PL_REAL(readv);
    PL_FD_OR_REAL(fd, real_readv(fd, iov, cnt));
    pl_log("readv %d x%d", fd, cnt);
    return pl_ret(pl_vec(o, iov, cnt, -1, false));
}

PL_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    PL_REAL(writev);
    PL_FD_OR_REAL(fd, real_writev(fd, iov, cnt));
    pl_log("writev %d x%d", fd, cnt);
    return pl_ret(pl_vec(o, iov, cnt, -1, true));
}

PL_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
    PL_REAL(preadv);
    PL_FD_OR_REAL(fd, real_preadv(fd, iov, cnt, off));
    return pl_ret(off < 0 ? -EINVAL : pl_vec(o, iov, cnt, off, false));
}

PL_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    PL_REAL(preadv64);
    PL_FD_OR_REAL(fd, real_preadv64(fd, iov, cnt, off));
    return pl_ret(off < 0 ? -EINVAL : pl_vec(o, iov, cnt, off, false));
}

PL_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    PL_REAL(pwritev);
    PL_FD_OR_REAL(fd, real_pwritev(fd, iov, cnt, off));
    return pl_ret(off < 0 ? -EINVAL : pl_vec(o, iov, cnt, off, true));
}

PL_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    PL_REAL(pwritev64);
    PL_FD_OR_REAL(fd, real_pwritev64(fd, iov, cnt, off));
    return pl_ret(off < 0 ? -EINVAL : pl_vec(o, iov, cnt, off, true));
}

/* preadv2/pwritev2: offset -1 means the file position; flags are hints. */
PL_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    PL_REAL(preadv2);
    PL_FD_OR_REAL(fd, real_preadv2(fd, iov, cnt, off, flags));
    return pl_ret(off < -1 ? -EINVAL : pl_vec(o, iov, cnt, off, false));
}

PL_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    PL_REAL(pwritev2);
    PL_FD_OR_REAL(fd, real_pwritev2(fd, iov, cnt, off, flags));
    return pl_ret(off < -1 ? -EINVAL : pl_vec(o, iov, cnt, off, true));
}

PL_EXPORT off_t lseek(int fd, off_t off, int whence)
{
    PL_REAL(lseek);
    PL_FD_OR_REAL(fd, real_lseek(fd, off, whence));
    pl_log("lseek %d %lld %d", fd, (long long)off, whence);
    return pl_ret(pl_fd_lseek(o, off, whence));
}

PL_EXPORT off64_t lseek64(int fd, off64_t off, int whence)
{
    PL_REAL(lseek64);
    PL_FD_OR_REAL(fd, real_lseek64(fd, off, whence));
    pl_log("lseek %d %lld %d", fd, (long long)off, whence);
    return pl_ret(pl_fd_lseek(o, off, whence));
}

/* fsync of a BenchFS descriptor (directories: nothing to push). */
static int pl_fd_fsync(struct pl_ofd *o)
{
    int bfd;

    if (o->is_dir)
        return 0;
    bfd = pl_ofd_bfd(o);
    if (bfd < 0)
        return bfd;
    return (int)pl_bfs(benchfs_fsync(bfd));
}

PL_EXPORT int fsync(int fd)
{
    PL_REAL(fsync);
    PL_FD_OR_REAL(fd, real_fsync(fd));
    pl_log("fsync %d", fd);
    return (int)pl_ret(pl_fd_fsync(o));
}

PL_EXPORT int fdatasync(int fd)
{
    PL_REAL(fdatasync);
    PL_FD_OR_REAL(fd, real_fdatasync(fd));
    pl_log("fdatasync %d", fd);
    return (int)pl_ret(pl_fd_fsync(o));
}

/* ftruncate of a BenchFS descriptor. */
static int pl_fd_ftruncate(struct pl_ofd *o, off_t len)
{
    int bfd = pl_ofd_bfd(o);

    if (bfd < 0)
        return bfd;
    return (int)pl_bfs(benchfs_ftruncate(bfd, len));
}

PL_EXPORT int ftruncate(int fd, off_t len)
{
    PL_REAL(ftruncate);
    PL_FD_OR_REAL(fd, real_ftruncate(fd, len));
    pl_log("ftruncate %d %lld", fd, (long long)len);
    return (int)pl_ret(pl_fd_ftruncate(o, len));
}

PL_EXPORT int ftruncate64(int fd, off64_t len)
{
    PL_REAL(ftruncate64);
    PL_FD_OR_REAL(fd, real_ftruncate64(fd, len));
    pl_log("ftruncate %d %lld", fd, (long long)len);
    return (int)pl_ret(pl_fd_ftruncate(o, len));
}

/* Allocation: extend the size (mode 0), accept KEEP_SIZE, refuse the rest. */
static int pl_fd_allocate(struct pl_ofd *o, int mode, off_t off, off_t len)
{
    struct stat st;
    int bfd;

    if (off < 0 || len <= 0)
        return -EINVAL;
    if (mode & ~FALLOC_FL_KEEP_SIZE)
        return -EOPNOTSUPP;
    bfd = pl_ofd_bfd(o);
    if (bfd < 0)
        return bfd;
    if (mode & FALLOC_FL_KEEP_SIZE)
        return 0;
    if (benchfs_fstat(bfd, &st) < 0)
        return -errno;
    if (off + len <= st.st_size)
        return 0;
    return (int)pl_bfs(benchfs_ftruncate(bfd, off + len));
}

PL_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
    PL_REAL(fallocate);
    PL_FD_OR_REAL(fd, real_fallocate(fd, mode, off, len));
    return (int)pl_ret(pl_fd_allocate(o, mode, off, len));
}

PL_EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    PL_REAL(fallocate64);
    PL_FD_OR_REAL(fd, real_fallocate64(fd, mode, off, len));
    return (int)pl_ret(pl_fd_allocate(o, mode, off, len));
}

/* posix_fallocate returns the error number instead of setting errno. */
PL_EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
    PL_REAL(posix_fallocate);
    PL_FD_OR_REAL(fd, real_posix_fallocate(fd, off, len));
    return -pl_fd_allocate(o, 0, off, len);
}

PL_EXPORT int posix_fallocate64(int fd, off64_t off, off64_t len)
{
    PL_REAL(posix_fallocate64);
    PL_FD_OR_REAL(fd, real_posix_fallocate64(fd, off, len));
    return -pl_fd_allocate(o, 0, off, len);
}

/* Advice is a hint: accepted and ignored on BenchFS files. */
PL_EXPORT int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
    PL_REAL(posix_fadvise);
    PL_FD_OR_REAL(fd, real_posix_fadvise(fd, off, len, advice));
    return 0;
}

PL_EXPORT int posix_fadvise64(int fd, off64_t off, off64_t len, int advice)
{
    PL_REAL(posix_fadvise64);
    PL_FD_OR_REAL(fd, real_posix_fadvise64(fd, off, len, advice));
    return 0;
}

/* ---- copies between descriptors ---- */

/* One side of an emulated copy: read or write at *off_p, or the position. */
static ssize_t pl_side_io(int fd, void *buf, size_t n, off64_t *off_p, bool wr)
{
    struct pl_ofd *o = pl_fd_get(fd);
    ssize_t r;
    PL_REAL(read);
    PL_REAL(write);
    PL_REAL(pread64);
    PL_REAL(pwrite64);

    if (o != NULL) {
        if (off_p != NULL)
            r = wr ? pl_fd_pwrite(o, buf, n, *off_p) : pl_fd_pread(o, buf, n, *off_p);
        else
            r = wr ? pl_fd_write(o, buf, n) : pl_fd_read(o, buf, n);
    } else {
        if (off_p != NULL)
            r = wr ? real_pwrite64(fd, buf, n, *off_p) : real_pread64(fd, buf, n, *off_p);
        else
            r = wr ? real_write(fd, buf, n) : real_read(fd, buf, n);
        if (r < 0)
            r = -errno;
    }
    if (r > 0 && off_p != NULL)
        *off_p += r;
    return r;
}

/* copy_file_range/sendfile emulated through a bounce buffer. */
static ssize_t pl_copy(int in, off64_t *in_off, int out, off64_t *out_off, size_t len)
{
    size_t chunk = len < (1u << 20) ? len : (1u << 20);
    ssize_t total = 0, r, w;
    char *buf;

    if (len == 0)
        return 0;
    buf = malloc(chunk);
    if (buf == NULL)
        return -ENOMEM;
    while ((size_t)total < len) {
        size_t want = len - (size_t)total < chunk ? len - (size_t)total : chunk;

        r = pl_side_io(in, buf, want, in_off, false);
        if (r <= 0) {
            if (r < 0 && total == 0)
                total = r;
            break;
        }
        w = pl_side_io(out, buf, (size_t)r, out_off, true);
        if (w < 0) {
            if (total == 0)
                total = w;
            break;
        }
        total += w;
        if (w < r)
            break;
    }
    free(buf);
    return total;
}

PL_EXPORT ssize_t copy_file_range(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                                  unsigned int flags)
{
    PL_REAL(copy_file_range);

    if (__builtin_expect(pl_fd_get(in) == NULL && pl_fd_get(out) == NULL, 1))
        return real_copy_file_range(in, in_off, out, out_off, len, flags);
    pl_log("copy_file_range %d -> %d %zu", in, out, len);
    if (flags != 0)
        return pl_ret(-EINVAL);
    return pl_ret(pl_copy(in, in_off, out, out_off, len));
}

PL_EXPORT ssize_t sendfile(int out, int in, off_t *in_off, size_t len)
{
    off64_t off;
    ssize_t rc;
    PL_REAL(sendfile);

    if (__builtin_expect(pl_fd_get(in) == NULL && pl_fd_get(out) == NULL, 1))
        return real_sendfile(out, in, in_off, len);
    pl_log("sendfile %d -> %d %zu", in, out, len);
    if (in_off == NULL)
        return pl_ret(pl_copy(in, NULL, out, NULL, len));
    off = *in_off;
    rc = pl_copy(in, &off, out, NULL, len);
    if (rc >= 0)
        *in_off = (off_t)off;
    return pl_ret(rc);
}

PL_EXPORT ssize_t sendfile64(int out, int in, off64_t *in_off, size_t len)
{
    PL_REAL(sendfile64);

    if (__builtin_expect(pl_fd_get(in) == NULL && pl_fd_get(out) == NULL, 1))
        return real_sendfile64(out, in, in_off, len);
    return pl_ret(pl_copy(in, in_off, out, NULL, len));
}
