/*
 * posix.c - opening, closing and duplicating descriptors (preload.h):
 * the open family, close, dup/dup2/dup3, fcntl, ioctl and flock.
 *
 * Open of a BenchFS path: benchfs_open() with the flags BenchFS knows, then
 * a reserved kernel descriptor bound to the new ofd (fdtab.c). dup* go to
 * the kernel first (so the numbers, FD_CLOEXEC and the "newfd was open"
 * cases are the kernel's) and then mirror the binding in the table.
 *
 * Locks (fcntl F_SETLK/F_SETLKW/F_OFD_*, flock, lockf) on BenchFS files are
 * granted at once and never conflict: BenchFS has no lock service, and the
 * programs that lock (HDF5, sqlite-style tools) lock to protect against
 * concurrent writers they do not have in a job's scratch space. F_GETLK
 * answers F_UNLCK. docs/preload.md states this.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "benchfs.h"
#include "preload/preload.h"

/* O_TMPFILE includes O_DIRECTORY; test the whole mask. */
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif

int pl_open_bfs(const char *bpath, int flags, mode_t mode)
{
    struct pl_ofd *o;
    struct stat st;
    int rc, bfd, fd;

    if ((flags & O_TMPFILE) == O_TMPFILE)
        return -EOPNOTSUPP; /* callers (Python's tempfile) fall back */
    rc = pl_connect();
    if (rc < 0)
        return rc;
    bfd = benchfs_open(
        bpath, flags & (O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY), mode);
    if (bfd < 0)
        return -errno;
    if (benchfs_fstat(bfd, &st) < 0) {
        rc = -errno;
        goto err_bfd;
    }
    fd = pl_reserve((flags & O_CLOEXEC) != 0);
    if (fd < 0) {
        rc = fd;
        goto err_bfd;
    }
    o = pl_ofd_new(bpath, flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC), S_ISDIR(st.st_mode),
                   bfd);
    if (o == NULL) {
        rc = -ENOMEM;
        goto err_fd;
    }
    o->ino = (uint64_t)st.st_ino;
    pl_fd_bind(fd, o);
    return fd;

err_fd : {
    PL_REAL(close);
    real_close(fd);
}
err_bfd:
    benchfs_close(bfd);
    return rc;
}

/* The open family's common body: resolve, then BenchFS or libc. */
static int pl_openat_any(int dirfd, const char *path, int flags, mode_t mode, bool at)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    int rc;
    PL_REAL(openat);

    rc = pl_path_resolve(dirfd, path, bpath, &local);
    if (rc == 0) {
        rc = real_openat(at && local == path ? dirfd : AT_FDCWD, local, flags, mode);
        if (rc >= 0 && local[0] == '/' && (flags & (O_DIRECTORY | O_PATH)))
            pl_anc_note(rc, local);
        return rc;
    }
    if (rc > 0) {
        rc = pl_open_bfs(bpath, flags, mode);
        pl_log("open %s flags=%#x mode=%#o -> %d", bpath, (unsigned)flags, (unsigned)mode, rc);
    }
    return (int)pl_ret(rc);
}

/* mode is present only when O_CREAT or O_TMPFILE is set. */
#define PL_OPEN_MODE(flags, last)          \
    mode_t mode = 0;                       \
    if ((flags) & (O_CREAT | O_TMPFILE)) { \
        va_list ap;                        \
        va_start(ap, last);                \
        mode = (mode_t)va_arg(ap, int);    \
        va_end(ap);                        \
    }

PL_EXPORT int open(const char *path, int flags, ...)
{
    PL_OPEN_MODE(flags, flags);
    return pl_openat_any(AT_FDCWD, path, flags, mode, false);
}

PL_EXPORT int open64(const char *path, int flags, ...)
{
    PL_OPEN_MODE(flags, flags);
    return pl_openat_any(AT_FDCWD, path, flags, mode, false);
}

PL_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    PL_OPEN_MODE(flags, flags);
    return pl_openat_any(dirfd, path, flags, mode, true);
}

PL_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    PL_OPEN_MODE(flags, flags);
    return pl_openat_any(dirfd, path, flags, mode, true);
}

/* _FORTIFY_SOURCE entry points (open without a mode argument). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

PL_EXPORT int __open_2(const char *path, int flags)
{
    return pl_openat_any(AT_FDCWD, path, flags, 0, false);
}

PL_EXPORT int __open64_2(const char *path, int flags)
{
    return pl_openat_any(AT_FDCWD, path, flags, 0, false);
}

PL_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    return pl_openat_any(dirfd, path, flags, 0, true);
}

PL_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    return pl_openat_any(dirfd, path, flags, 0, true);
}

PL_EXPORT int creat(const char *path, mode_t mode)
{
    return pl_openat_any(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, false);
}

PL_EXPORT int creat64(const char *path, mode_t mode)
{
    return pl_openat_any(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, false);
}

/* ---- close / dup ---- */

int pl_fd_close(int fd)
{
    PL_REAL(close);

    pl_log("close %d", fd);
    if (!pl_in_vfork_child())
        pl_fd_unbind(fd);
    return real_close(fd) < 0 ? -errno : 0;
}

PL_EXPORT int close(int fd)
{
    PL_REAL(close);

    pl_anc_forget(fd);
    pl_tmpl_forget(fd, fd);
    if (__builtin_expect(pl_fd_get(fd) == NULL, 1))
        return real_close(fd);
    return (int)pl_ret(pl_fd_close(fd));
}

/* After the kernel made newfd a copy of oldfd: mirror it in the table. */
static int pl_dup_mirror(int oldfd, int newfd)
{
    struct pl_ofd *o = pl_fd_get(oldfd);

    if (newfd < 0)
        return newfd;
    if (newfd == oldfd)
        return newfd;
    if (o != NULL) {
        if (newfd >= PL_FD_MAX) {
            PL_REAL(close);
            real_close(newfd);
            errno = EMFILE;
            return -1;
        }
        pl_fd_bind(newfd, o);
        pl_log("dup %d -> %d (%s)", oldfd, newfd, o->path);
    } else if (pl_fd_get(newfd) != NULL) {
        pl_fd_unbind(newfd); /* a local file replaced a BenchFS one */
    }
    return newfd;
}

PL_EXPORT int dup(int oldfd)
{
    PL_REAL(dup);

    return pl_dup_mirror(oldfd, real_dup(oldfd));
}

PL_EXPORT int dup2(int oldfd, int newfd)
{
    PL_REAL(dup2);

    pl_tmpl_forget(newfd, newfd);
    if (__builtin_expect(pl_nbound == 0, 1))
        return real_dup2(oldfd, newfd);
    return pl_dup_mirror(oldfd, real_dup2(oldfd, newfd));
}

PL_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    PL_REAL(dup3);

    pl_tmpl_forget(newfd, newfd);
    if (__builtin_expect(pl_nbound == 0, 1))
        return real_dup3(oldfd, newfd, flags);
    return pl_dup_mirror(oldfd, real_dup3(oldfd, newfd, flags));
}

/* ---- fcntl ---- */

/* fcntl on a BenchFS descriptor; arg as passed. */
static int pl_fcntl_bfs(int fd, struct pl_ofd *o, int cmd, void *arg)
{
    PL_REAL(fcntl);

    switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
    case F_GETFD:
    case F_SETFD:
        /* The kernel keeps numbers and FD_CLOEXEC of the reserved fd. */
        if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
            return pl_dup_mirror(fd, real_fcntl(fd, cmd, arg));
        return real_fcntl(fd, cmd, arg);
    case F_GETFL:
        return o->flags & ~O_DIRECTORY;
    case F_SETFL: {
        int want = (int)(intptr_t)arg;
        int settable = O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;

        /* The append mode is fixed in the BenchFS descriptor. */
        if ((want & O_APPEND) != (o->flags & O_APPEND)) {
            pl_log("fcntl %d F_SETFL O_APPEND change: ENOTSUP", fd);
            return (int)pl_ret(-ENOTSUP);
        }
        o->flags = (o->flags & ~settable) | (want & settable);
        return 0;
    }
    case F_GETLK:
    case F_OFD_GETLK: {
        struct flock *fl = arg;

        fl->l_type = F_UNLCK;
        return 0;
    }
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_SETLK:
    case F_OFD_SETLKW:
        return 0; /* granted, never conflicting (header comment) */
    case F_GETOWN:
    case F_SETOWN:
    case F_GETSIG:
    case F_SETSIG:
    case F_NOTIFY:
    case F_SETLEASE:
    case F_GETLEASE:
    case F_ADD_SEALS:
    case F_GET_SEALS:
    case F_SETPIPE_SZ:
    case F_GETPIPE_SZ:
    default:
        pl_log("fcntl %d cmd %d: ENOTSUP", fd, cmd);
        return (int)pl_ret(cmd == F_GETPIPE_SZ || cmd == F_SETPIPE_SZ ? -EBADF : -ENOTSUP);
    }
}

PL_EXPORT int fcntl(int fd, int cmd, ...)
{
    struct pl_ofd *o;
    va_list ap;
    void *arg;
    PL_REAL(fcntl);

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    o = pl_fd_get(fd);
    if (__builtin_expect(o == NULL, 1)) {
        int rc = real_fcntl(fd, cmd, arg);

        /* A local fd duplicated onto a number BenchFS had: impossible (the
         * number was in use), so only the BenchFS case mirrors. */
        return rc;
    }
    pl_log("fcntl %d cmd %d", fd, cmd);
    return pl_fcntl_bfs(fd, o, cmd, arg);
}

PL_EXPORT int fcntl64(int fd, int cmd, ...)
{
    struct pl_ofd *o;
    va_list ap;
    void *arg;
    PL_REAL(fcntl);

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    o = pl_fd_get(fd);
    if (__builtin_expect(o == NULL, 1))
        return real_fcntl(fd, cmd, arg);
    return pl_fcntl_bfs(fd, o, cmd, arg);
}

/* ---- ioctl, locks ---- */

PL_EXPORT int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    void *arg;
    PL_REAL(ioctl);

    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (__builtin_expect(pl_fd_get(fd) == NULL, 1))
        return real_ioctl(fd, request, arg);
    /* Not a terminal (isatty, Python's TCGETS), no FICLONE/FIEMAP: the
     * callers fall back to plain reads and writes. */
    pl_log("ioctl %d %#lx: ENOTTY", fd, request);
    return (int)pl_ret(-ENOTTY);
}

PL_EXPORT int flock(int fd, int op)
{
    PL_REAL(flock);

    if (__builtin_expect(pl_fd_get(fd) == NULL, 1))
        return real_flock(fd, op);
    pl_log("flock %d %d: granted", fd, op);
    return 0;
}

PL_EXPORT int lockf(int fd, int cmd, off_t len)
{
    PL_REAL(lockf);

    if (__builtin_expect(pl_fd_get(fd) == NULL, 1))
        return real_lockf(fd, cmd, len);
    return 0;
}

PL_EXPORT int lockf64(int fd, int cmd, off64_t len)
{
    PL_REAL(lockf64);

    if (__builtin_expect(pl_fd_get(fd) == NULL, 1))
        return real_lockf64(fd, cmd, len);
    return 0;
}
