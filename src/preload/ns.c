/*
 * ns.c - namespace calls on BenchFS paths (preload.h): access/faccessat,
 * mkdir(at), rmdir, unlink(at), rename(at)(2), truncate, realpath,
 * readlink, attributes (chmod, chown and the utime family, by path and by
 * descriptor, through benchfs_chmod .. benchfs_futimens), the calls BenchFS
 * cannot keep (links, symlinks, device nodes, extended attributes:
 * ENOTSUP), and EXDEV for a rename or link across the mount boundary.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include "benchfs.h"
#include "preload/preload.h"

/* A BenchFS call on a path, after connecting: -errno style. */
#define PL_BCALL(expr) (pl_connect() < 0 ? pl_connect() : ((expr) < 0 ? -errno : 0))

/* ---- access ---- */

static int pl_accessat(int dirfd, const char *path, int mode, int flags, int which)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    int rc;
    PL_REAL(faccessat);
    PL_REAL(access);
    PL_REAL(euidaccess);

    rc = pl_path_resolve(dirfd, path, bpath, &local);
    if (rc == 0) {
        if (which == 1)
            return real_access(local, mode);
        if (which == 2)
            return real_euidaccess(local, mode);
        return real_faccessat(local == path ? dirfd : AT_FDCWD, local, mode, flags);
    }
    if (rc > 0) {
        rc = PL_BCALL(benchfs_access(bpath, mode));
        pl_log("access %s %d -> %d", bpath, mode, rc);
    }
    return (int)pl_ret(rc);
}

PL_EXPORT int access(const char *path, int mode)
{
    return pl_accessat(AT_FDCWD, path, mode, 0, 1);
}

PL_EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
    return pl_accessat(dirfd, path, mode, flags, 0);
}

PL_EXPORT int euidaccess(const char *path, int mode)
{
    return pl_accessat(AT_FDCWD, path, mode, 0, 2);
}

PL_EXPORT int eaccess(const char *path, int mode)
{
    return pl_accessat(AT_FDCWD, path, mode, 0, 2);
}

/* ---- mkdir / rmdir / unlink ---- */

static int pl_mkdirat(int dirfd, const char *path, mode_t mode)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    int rc;
    PL_REAL(mkdirat);

    rc = pl_path_resolve(dirfd, path, bpath, &local);
    if (rc == 0)
        return real_mkdirat(local == path ? dirfd : AT_FDCWD, local, mode);
    if (rc > 0) {
        rc = PL_BCALL(benchfs_mkdir(bpath, mode));
        pl_log("mkdir %s -> %d", bpath, rc);
    }
    return (int)pl_ret(rc);
}

PL_EXPORT int mkdir(const char *path, mode_t mode)
{
    return pl_mkdirat(AT_FDCWD, path, mode);
}

PL_EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
    return pl_mkdirat(dirfd, path, mode);
}

static int pl_unlinkat(int dirfd, const char *path, int flags)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    int rc;
    PL_REAL(unlinkat);

    rc = pl_path_resolve(dirfd, path, bpath, &local);
    if (rc == 0)
        return real_unlinkat(local == path ? dirfd : AT_FDCWD, local, flags);
    if (rc > 0) {
        if (flags & AT_REMOVEDIR)
            rc = PL_BCALL(benchfs_rmdir(bpath));
        else
            rc = PL_BCALL(benchfs_unlink(bpath));
        pl_log("%s %s -> %d", (flags & AT_REMOVEDIR) ? "rmdir" : "unlink", bpath, rc);
    }
    return (int)pl_ret(rc);
}

PL_EXPORT int unlink(const char *path)
{
    return pl_unlinkat(AT_FDCWD, path, 0);
}

PL_EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
    return pl_unlinkat(dirfd, path, flags);
}

PL_EXPORT int rmdir(const char *path)
{
    return pl_unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}

PL_EXPORT int remove(const char *path)
{
    char bpath[PL_PATH_MAX];
    struct stat st;
    int rc;
    PL_REAL(remove);

    rc = pl_path_resolve(AT_FDCWD, path, bpath, NULL);
    if (rc == 0)
        return real_remove(path);
    if (rc < 0)
        return (int)pl_ret(rc);
    rc = PL_BCALL(benchfs_stat(bpath, &st));
    if (rc < 0)
        return (int)pl_ret(rc);
    return pl_unlinkat(AT_FDCWD, path, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
}

/* ---- rename ---- */

static int pl_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                        unsigned flags)
{
    char bold[PL_PATH_MAX], bnew[PL_PATH_MAX];
    const char *lold, *lnew;
    struct stat st;
    int ro, rn, rc;
    PL_REAL(renameat2);
    PL_REAL(renameat);

    ro = pl_path_resolve(olddirfd, oldpath, bold, &lold);
    if (ro < 0)
        return (int)pl_ret(ro);
    rn = pl_path_resolve(newdirfd, newpath, bnew, &lnew);
    if (rn < 0)
        return (int)pl_ret(rn);
    if (ro == 0 && rn == 0) {
        int od = lold == oldpath ? olddirfd : AT_FDCWD, nd = lnew == newpath ? newdirfd : AT_FDCWD;

        if (flags == 0)
            return real_renameat(od, lold, nd, lnew);
        return real_renameat2(od, lold, nd, lnew, flags);
    }
    if (ro != rn) {
        pl_log("rename across the mount boundary: EXDEV");
        return (int)pl_ret(-EXDEV); /* mv copies and unlinks */
    }
    if (flags & ~RENAME_NOREPLACE) {
        pl_log("rename flags %#x: EINVAL", flags);
        return (int)pl_ret(-EINVAL);
    }
    rc = pl_connect();
    if (rc == 0 && (flags & RENAME_NOREPLACE)) {
        /* Checked, then renamed: not atomic against another client. */
        if (benchfs_stat(bnew, &st) == 0)
            rc = -EEXIST;
        else if (errno != ENOENT)
            rc = -errno;
    }
    if (rc == 0 && benchfs_rename(bold, bnew) < 0)
        rc = -errno;
    pl_log("rename %s %s -> %d", bold, bnew, rc);
    return (int)pl_ret(rc);
}

PL_EXPORT int rename(const char *oldpath, const char *newpath)
{
    return pl_renameat2(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

PL_EXPORT int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    return pl_renameat2(olddirfd, oldpath, newdirfd, newpath, 0);
}

PL_EXPORT int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
                        unsigned int flags)
{
    return pl_renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

/* ---- truncate ---- */

PL_EXPORT int truncate(const char *path, off_t len)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    int rc;
    PL_REAL(truncate);

    rc = pl_path_resolve(AT_FDCWD, path, bpath, &local);
    if (rc == 0)
        return real_truncate(local, len);
    if (rc > 0) {
        rc = PL_BCALL(benchfs_truncate(bpath, len));
        pl_log("truncate %s %lld -> %d", bpath, (long long)len, rc);
    }
    return (int)pl_ret(rc);
}

PL_EXPORT int truncate64(const char *path, off64_t len)
{
    return truncate(path, (off_t)len);
}

/* ---- attributes: chmod, chown, utimes ---- */

/* One attribute change, for the BenchFS call that makes it. */
enum pl_attr_kind { PL_ATTR_MODE, PL_ATTR_OWNER, PL_ATTR_TIMES };
struct pl_attr_req {
    enum pl_attr_kind kind;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    const struct timespec *times; /* NULL: both now */
};

/* q on BenchFS path bpath, or on BenchFS descriptor bfd (bpath NULL). */
static int pl_attr_do(const struct pl_attr_req *q, const char *bpath, int bfd)
{
    int rc = pl_connect();

    if (rc < 0)
        return rc;
    switch (q->kind) {
    case PL_ATTR_MODE:
        rc = bpath ? benchfs_chmod(bpath, q->mode) : benchfs_fchmod(bfd, q->mode);
        break;
    case PL_ATTR_OWNER:
        rc = bpath ? benchfs_chown(bpath, q->uid, q->gid) : benchfs_fchown(bfd, q->uid, q->gid);
        break;
    default:
        rc = bpath ? benchfs_utimens(bpath, q->times) : benchfs_futimens(bfd, q->times);
        break;
    }
    return rc < 0 ? -errno : 0;
}

/*
 * Apply q to (dirfd, path), or to descriptor dirfd when path is NULL (or ""
 * with AT_EMPTY_PATH). A file descriptor acts on its inode (an unlinked
 * open file too); a directory descriptor has only its path. Returns 1 when
 * the target is local (*local_p: the path to give libc), else 0 or -errno.
 * AT_SYMLINK_NOFOLLOW changes nothing: BenchFS has no links.
 */
static int pl_attr(int dirfd, const char *path, int flags, const char *what,
                   const struct pl_attr_req *q, const char **local_p)
{
    char bpath[PL_PATH_MAX];
    struct pl_ofd *o;
    int rc;

    if (path == NULL || (path[0] == '\0' && (flags & AT_EMPTY_PATH))) {
        o = pl_fd_get(dirfd);
        if (o == NULL)
            return 1;
        if (o->is_dir) {
            snprintf(bpath, sizeof(bpath), "%s", o->path);
            rc = pl_attr_do(q, bpath, -1);
        } else {
            rc = pl_ofd_bfd(o);
            if (rc >= 0)
                rc = pl_attr_do(q, NULL, rc);
        }
        pl_log("%s %d -> %d", what, dirfd, rc);
        return rc;
    }
    rc = pl_path_resolve(dirfd, path, bpath, local_p);
    if (rc <= 0)
        return rc == 0 ? 1 : rc;
    rc = pl_attr_do(q, bpath, -1);
    pl_log("%s %s -> %d", what, bpath, rc);
    return rc;
}

/* Shorthand: BenchFS target -> 0 or -1/errno; local -> the libc call. */
#define PL_ATTR(dirfd, path, flags, what, q, realcall)                    \
    do {                                                                  \
        const char *local = (path);                                       \
        int rc_ = pl_attr((dirfd), (path), (flags), (what), (q), &local); \
        if (rc_ == 1)                                                     \
            return (realcall);                                            \
        return (int)pl_ret(rc_);                                          \
    } while (0)

#define PL_LDIR(dirfd, path) (local == (path) ? (dirfd) : AT_FDCWD)

/* timeval pairs (utimes, futimes, lutimes) as timespecs; NULL stays NULL.
 * A tv_usec out of range becomes a tv_nsec out of range: EINVAL, as the
 * kernel answers. */
static const struct timespec *pl_tv_to_ts(const struct timeval *tv, struct timespec ts[2])
{
    if (tv == NULL)
        return NULL;
    for (int i = 0; i < 2; i++) {
        ts[i].tv_sec = tv[i].tv_sec;
        ts[i].tv_nsec = tv[i].tv_usec >= 0 && tv[i].tv_usec < 1000000 ? tv[i].tv_usec * 1000 : -1;
    }
    return ts;
}

#define PL_MODE_REQ(m)                    \
    {                                     \
        .kind = PL_ATTR_MODE, .mode = (m) \
    }
#define PL_OWNER_REQ(u, g)                            \
    {                                                 \
        .kind = PL_ATTR_OWNER, .uid = (u), .gid = (g) \
    }
#define PL_TIMES_REQ(t)                     \
    {                                       \
        .kind = PL_ATTR_TIMES, .times = (t) \
    }

PL_EXPORT int chmod(const char *path, mode_t mode)
{
    struct pl_attr_req q = PL_MODE_REQ(mode);
    PL_REAL(chmod);
    PL_ATTR(AT_FDCWD, path, 0, "chmod", &q, real_chmod(local, mode));
}

PL_EXPORT int fchmod(int fd, mode_t mode)
{
    struct pl_attr_req q = PL_MODE_REQ(mode);
    PL_REAL(fchmod);
    PL_ATTR(fd, NULL, 0, "fchmod", &q, real_fchmod(fd, mode));
}

PL_EXPORT int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
    struct pl_attr_req q = PL_MODE_REQ(mode);
    PL_REAL(fchmodat);
    PL_ATTR(dirfd, path, flags, "fchmodat", &q,
            real_fchmodat(PL_LDIR(dirfd, path), local, mode, flags));
}

PL_EXPORT int chown(const char *path, uid_t uid, gid_t gid)
{
    struct pl_attr_req q = PL_OWNER_REQ(uid, gid);
    PL_REAL(chown);
    PL_ATTR(AT_FDCWD, path, 0, "chown", &q, real_chown(local, uid, gid));
}

PL_EXPORT int lchown(const char *path, uid_t uid, gid_t gid)
{
    struct pl_attr_req q = PL_OWNER_REQ(uid, gid);
    PL_REAL(lchown);
    PL_ATTR(AT_FDCWD, path, 0, "lchown", &q, real_lchown(local, uid, gid));
}

PL_EXPORT int fchown(int fd, uid_t uid, gid_t gid)
{
    struct pl_attr_req q = PL_OWNER_REQ(uid, gid);
    PL_REAL(fchown);
    PL_ATTR(fd, NULL, 0, "fchown", &q, real_fchown(fd, uid, gid));
}

PL_EXPORT int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
    struct pl_attr_req q = PL_OWNER_REQ(uid, gid);
    PL_REAL(fchownat);
    PL_ATTR(dirfd, path, flags, "fchownat", &q,
            real_fchownat(PL_LDIR(dirfd, path), local, uid, gid, flags));
}

PL_EXPORT int utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
    struct pl_attr_req q = PL_TIMES_REQ(times);
    PL_REAL(utimensat);
    /* utimensat(fd, NULL, ...) is futimens. */
    PL_ATTR(dirfd, path, flags, "utimensat", &q,
            real_utimensat(path == NULL ? dirfd : PL_LDIR(dirfd, path), local, times, flags));
}

PL_EXPORT int futimens(int fd, const struct timespec times[2])
{
    struct pl_attr_req q = PL_TIMES_REQ(times);
    PL_REAL(futimens);
    PL_ATTR(fd, NULL, 0, "futimens", &q, real_futimens(fd, times));
}

PL_EXPORT int utimes(const char *path, const struct timeval times[2])
{
    struct timespec ts[2];
    struct pl_attr_req q = PL_TIMES_REQ(pl_tv_to_ts(times, ts));
    PL_REAL(utimes);
    PL_ATTR(AT_FDCWD, path, 0, "utimes", &q, real_utimes(local, times));
}

PL_EXPORT int lutimes(const char *path, const struct timeval times[2])
{
    struct timespec ts[2];
    struct pl_attr_req q = PL_TIMES_REQ(pl_tv_to_ts(times, ts));
    PL_REAL(lutimes);
    PL_ATTR(AT_FDCWD, path, 0, "lutimes", &q, real_lutimes(local, times));
}

PL_EXPORT int futimes(int fd, const struct timeval times[2])
{
    struct timespec ts[2];
    struct pl_attr_req q = PL_TIMES_REQ(pl_tv_to_ts(times, ts));
    PL_REAL(futimes);
    PL_ATTR(fd, NULL, 0, "futimes", &q, real_futimes(fd, times));
}

PL_EXPORT int utime(const char *path, const struct utimbuf *times)
{
    struct timespec ts[2];
    struct pl_attr_req q = PL_TIMES_REQ(NULL);
    PL_REAL(utime);

    if (times != NULL) {
        ts[0] = (struct timespec){.tv_sec = times->actime, .tv_nsec = 0};
        ts[1] = (struct timespec){.tv_sec = times->modtime, .tv_nsec = 0};
        q.times = ts;
    }
    PL_ATTR(AT_FDCWD, path, 0, "utime", &q, real_utime(local, times));
}

/* ---- links, special files: not in BenchFS ---- */

/* -ENOTSUP for BenchFS paths, EXDEV across the boundary, 0 when local. */
static int pl_refuse2(int d1, const char *p1, int d2, const char *p2, const char *what)
{
    char b[PL_PATH_MAX];
    int r1 = p1 != NULL ? pl_path_resolve(d1, p1, b, NULL) : 0;
    int r2 = pl_path_resolve(d2, p2, b, NULL);

    if (r1 < 0)
        return r1;
    if (r2 < 0)
        return r2;
    if (r1 == 0 && r2 == 0)
        return 0;
    pl_log("%s: %s", what, r1 != r2 && p1 != NULL ? "EXDEV" : "ENOTSUP");
    return r1 != r2 && p1 != NULL ? -EXDEV : -ENOTSUP;
}

PL_EXPORT int link(const char *oldpath, const char *newpath)
{
    int rc = pl_refuse2(AT_FDCWD, oldpath, AT_FDCWD, newpath, "link");
    PL_REAL(link);

    return rc == 0 ? real_link(oldpath, newpath) : (int)pl_ret(rc);
}

PL_EXPORT int linkat(int d1, const char *oldpath, int d2, const char *newpath, int flags)
{
    int rc = pl_refuse2(d1, oldpath, d2, newpath, "linkat");
    PL_REAL(linkat);

    return rc == 0 ? real_linkat(d1, oldpath, d2, newpath, flags) : (int)pl_ret(rc);
}

PL_EXPORT int symlink(const char *target, const char *linkpath)
{
    int rc = pl_refuse2(AT_FDCWD, NULL, AT_FDCWD, linkpath, "symlink");
    PL_REAL(symlink);

    return rc == 0 ? real_symlink(target, linkpath) : (int)pl_ret(rc);
}

PL_EXPORT int symlinkat(const char *target, int dirfd, const char *linkpath)
{
    int rc = pl_refuse2(AT_FDCWD, NULL, dirfd, linkpath, "symlinkat");
    PL_REAL(symlinkat);

    return rc == 0 ? real_symlinkat(target, dirfd, linkpath) : (int)pl_ret(rc);
}

PL_EXPORT int mknod(const char *path, mode_t mode, dev_t dev)
{
    int rc = pl_refuse2(AT_FDCWD, NULL, AT_FDCWD, path, "mknod");
    PL_REAL(mknod);

    return rc == 0 ? real_mknod(path, mode, dev) : (int)pl_ret(rc);
}

PL_EXPORT int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
    int rc = pl_refuse2(AT_FDCWD, NULL, dirfd, path, "mknodat");
    PL_REAL(mknodat);

    return rc == 0 ? real_mknodat(dirfd, path, mode, dev) : (int)pl_ret(rc);
}

PL_EXPORT int mkfifo(const char *path, mode_t mode)
{
    int rc = pl_refuse2(AT_FDCWD, NULL, AT_FDCWD, path, "mkfifo");
    PL_REAL(mkfifo);

    return rc == 0 ? real_mkfifo(path, mode) : (int)pl_ret(rc);
}

/* readlink: no BenchFS file is a link (EINVAL), or ENOENT. */
static ssize_t pl_readlinkat(int dirfd, const char *path, char *buf, size_t len)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    struct stat st;
    int rc;
    PL_REAL(readlinkat);

    rc = pl_path_resolve(dirfd, path, bpath, &local);
    if (rc == 0)
        return real_readlinkat(local == path ? dirfd : AT_FDCWD, local, buf, len);
    if (rc > 0) {
        rc = PL_BCALL(benchfs_stat(bpath, &st));
        if (rc == 0)
            rc = -EINVAL;
    }
    return pl_ret(rc);
}

PL_EXPORT ssize_t readlink(const char *path, char *buf, size_t len)
{
    return pl_readlinkat(AT_FDCWD, path, buf, len);
}

PL_EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t len)
{
    return pl_readlinkat(dirfd, path, buf, len);
}

/* realpath: lexical inside BenchFS (no links), existence checked. */
PL_EXPORT char *realpath(const char *path, char *resolved)
{
    char bpath[PL_PATH_MAX], full[PL_PATH_MAX];
    const char *local;
    struct stat st;
    int rc;
    PL_REAL(realpath);

    rc = pl_path_resolve(AT_FDCWD, path, bpath, &local);
    if (rc == 0)
        return real_realpath(local, resolved);
    if (rc > 0)
        rc = PL_BCALL(benchfs_stat(bpath, &st));
    if (rc < 0) {
        pl_ret(rc);
        return NULL;
    }
    pl_path_full(bpath, full, sizeof(full));
    if (resolved == NULL)
        return strdup(full);
    snprintf(resolved, PATH_MAX, "%s", full);
    return resolved;
}

PL_EXPORT char *canonicalize_file_name(const char *path)
{
    return realpath(path, NULL);
}

/* ---- extended attributes: none on BenchFS ---- */

/* Path form: ENOTSUP on BenchFS, else 0 = call libc. */
static int pl_xattr_path(const char *path)
{
    char b[PL_PATH_MAX];
    int rc = pl_path_resolve(AT_FDCWD, path, b, NULL);

    return rc > 0 ? -ENOTSUP : rc;
}

#define PL_XATTR_P(path, realcall)     \
    do {                               \
        int rc_ = pl_xattr_path(path); \
        if (rc_ == 0)                  \
            return (realcall);         \
        return pl_ret(rc_);            \
    } while (0)
#define PL_XATTR_F(fd, realcall)   \
    do {                           \
        if (pl_fd_get(fd) == NULL) \
            return (realcall);     \
        return pl_ret(-ENOTSUP);   \
    } while (0)

PL_EXPORT ssize_t getxattr(const char *path, const char *name, void *v, size_t n)
{
    PL_REAL(getxattr);
    PL_XATTR_P(path, real_getxattr(path, name, v, n));
}

PL_EXPORT ssize_t lgetxattr(const char *path, const char *name, void *v, size_t n)
{
    PL_REAL(lgetxattr);
    PL_XATTR_P(path, real_lgetxattr(path, name, v, n));
}

PL_EXPORT ssize_t fgetxattr(int fd, const char *name, void *v, size_t n)
{
    PL_REAL(fgetxattr);
    PL_XATTR_F(fd, real_fgetxattr(fd, name, v, n));
}

PL_EXPORT ssize_t listxattr(const char *path, char *list, size_t n)
{
    PL_REAL(listxattr);
    PL_XATTR_P(path, real_listxattr(path, list, n));
}

PL_EXPORT ssize_t llistxattr(const char *path, char *list, size_t n)
{
    PL_REAL(llistxattr);
    PL_XATTR_P(path, real_llistxattr(path, list, n));
}

PL_EXPORT ssize_t flistxattr(int fd, char *list, size_t n)
{
    PL_REAL(flistxattr);
    PL_XATTR_F(fd, real_flistxattr(fd, list, n));
}

PL_EXPORT int setxattr(const char *path, const char *name, const void *v, size_t n, int flags)
{
    PL_REAL(setxattr);
    PL_XATTR_P(path, real_setxattr(path, name, v, n, flags));
}

PL_EXPORT int lsetxattr(const char *path, const char *name, const void *v, size_t n, int flags)
{
    PL_REAL(lsetxattr);
    PL_XATTR_P(path, real_lsetxattr(path, name, v, n, flags));
}

PL_EXPORT int fsetxattr(int fd, const char *name, const void *v, size_t n, int flags)
{
    PL_REAL(fsetxattr);
    PL_XATTR_F(fd, real_fsetxattr(fd, name, v, n, flags));
}
