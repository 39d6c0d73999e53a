/*
 * stat.c - the stat family on BenchFS paths and descriptors (preload.h):
 * stat/lstat/fstat/fstatat and their 64-bit names (real functions since
 * glibc 2.33), the older __xstat/__lxstat/__fxstat/__fxstatat wrappers
 * that binaries built against earlier glibc still call, statx, and
 * statfs/statvfs.
 *
 * BenchFS has no symbolic links, so lstat is stat. Results get a fixed
 * st_dev (BenchFS reports 0) so tools comparing (st_dev, st_ino) pairs -
 * find, du, cp, fts - see one consistent file system.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include "benchfs.h"
#include "preload/preload.h"

/* f_type reported by statfs: "BFFS". */
#define PL_STATFS_MAGIC 0x42464653
/* The device number of BenchFS files (an unnamed-device major). */
#define PL_DEV makedev(0, 0xbf5)

void pl_stat_fix(struct stat *st)
{
    if (st->st_dev == 0)
        st->st_dev = PL_DEV;
}

int pl_fd_fstat(struct pl_ofd *o, struct stat *st)
{
    int bfd = pl_ofd_bfd(o);

    if (bfd < 0)
        return bfd;
    if (benchfs_fstat(bfd, st) < 0)
        return -errno;
    pl_stat_fix(st);
    return 0;
}

/* stat of a BenchFS path. */
static int pl_bstat(const char *bpath, struct stat *st)
{
    int rc = pl_connect();

    if (rc < 0)
        return rc;
    if (benchfs_stat(bpath, st) < 0)
        return -errno;
    pl_stat_fix(st);
    return 0;
}

/*
 * The whole stat family lands here: fstatat semantics (AT_EMPTY_PATH on a
 * descriptor, AT_SYMLINK_NOFOLLOW irrelevant on BenchFS). `lstat` picks the
 * libc function for local paths.
 */
static int pl_statat(int dirfd, const char *path, struct stat *st, int flags)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    struct pl_ofd *o;
    int rc;
    PL_REAL(fstatat);

    if (path != NULL && path[0] == '\0' && (flags & AT_EMPTY_PATH)) {
        o = pl_fd_get(dirfd);
        if (o == NULL)
            return real_fstatat(dirfd, path, st, flags);
        return (int)pl_ret(pl_fd_fstat(o, st));
    }
    rc = pl_path_resolve(dirfd, path, bpath, &local);
    if (rc == 0)
        return real_fstatat(local == path ? dirfd : AT_FDCWD, local, st, flags);
    if (rc > 0) {
        rc = pl_bstat(bpath, st);
        pl_log("stat %s -> %d", bpath, rc);
    }
    return (int)pl_ret(rc);
}

PL_EXPORT int stat(const char *path, struct stat *st)
{
    PL_REAL(stat);

    if (__builtin_expect(path == NULL || (path[0] == '/' && path[1] != pl_mount[1]), 1))
        return real_stat(path, st);
    return pl_statat(AT_FDCWD, path, st, 0);
}

PL_EXPORT int lstat(const char *path, struct stat *st)
{
    PL_REAL(lstat);

    if (__builtin_expect(path == NULL || (path[0] == '/' && path[1] != pl_mount[1]), 1))
        return real_lstat(path, st);
    return pl_statat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

PL_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    return pl_statat(dirfd, path, st, flags);
}

PL_EXPORT int fstat(int fd, struct stat *st)
{
    struct pl_ofd *o = pl_fd_get(fd);
    PL_REAL(fstat);

    if (__builtin_expect(o == NULL, 1))
        return real_fstat(fd, st);
    pl_log("fstat %d", fd);
    return (int)pl_ret(pl_fd_fstat(o, st));
}

/* On x86-64 and other LP64 targets struct stat64 is struct stat. */
_Static_assert(sizeof(struct stat64) == sizeof(struct stat), "stat64 layout");

PL_EXPORT int stat64(const char *path, struct stat64 *st)
{
    return stat(path, (struct stat *)st);
}

PL_EXPORT int lstat64(const char *path, struct stat64 *st)
{
    return lstat(path, (struct stat *)st);
}

PL_EXPORT int fstat64(int fd, struct stat64 *st)
{
    return fstat(fd, (struct stat *)st);
}

PL_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
    return pl_statat(dirfd, path, (struct stat *)st, flags);
}

/* glibc < 2.33 entry points (the version argument is ignored on LP64). */
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);

PL_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
    return stat(path, st);
}

PL_EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
    return stat(path, (struct stat *)st);
}

PL_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
    return lstat(path, st);
}

PL_EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
    return lstat(path, (struct stat *)st);
}

PL_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
    return fstat(fd, st);
}

PL_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
    return fstat(fd, (struct stat *)st);
}

PL_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
    return pl_statat(dirfd, path, st, flags);
}

PL_EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
    return pl_statat(dirfd, path, (struct stat *)st, flags);
}

/* ---- statx ---- */

static void pl_ts_to_statx(const struct timespec *ts, struct statx_timestamp *t)
{
    t->tv_sec = ts->tv_sec;
    t->tv_nsec = (uint32_t)ts->tv_nsec;
}

static void pl_stat_to_statx(const struct stat *st, struct statx *sx)
{
    memset(sx, 0, sizeof(*sx));
    sx->stx_mask = STATX_BASIC_STATS;
    sx->stx_blksize = (uint32_t)st->st_blksize;
    sx->stx_nlink = (uint32_t)st->st_nlink;
    sx->stx_uid = st->st_uid;
    sx->stx_gid = st->st_gid;
    sx->stx_mode = (uint16_t)st->st_mode;
    sx->stx_ino = st->st_ino;
    sx->stx_size = (uint64_t)st->st_size;
    sx->stx_blocks = (uint64_t)st->st_blocks;
    pl_ts_to_statx(&st->st_atim, &sx->stx_atime);
    pl_ts_to_statx(&st->st_mtim, &sx->stx_mtime);
    pl_ts_to_statx(&st->st_ctim, &sx->stx_ctime);
    sx->stx_dev_major = major(st->st_dev);
    sx->stx_dev_minor = minor(st->st_dev);
}

PL_EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *sx)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    struct pl_ofd *o;
    struct stat st;
    int rc;
    PL_REAL(statx);

    if (path != NULL && path[0] == '\0' && (flags & AT_EMPTY_PATH)) {
        o = pl_fd_get(dirfd);
        if (o == NULL)
            return real_statx(dirfd, path, flags, mask, sx);
        rc = pl_fd_fstat(o, &st);
    } else {
        rc = pl_path_resolve(dirfd, path, bpath, &local);
        if (rc == 0)
            return real_statx(local == path ? dirfd : AT_FDCWD, local, flags, mask, sx);
        if (rc > 0) {
            rc = pl_bstat(bpath, &st);
            pl_log("statx %s -> %d", bpath, rc);
        }
    }
    if (rc == 0)
        pl_stat_to_statx(&st, sx);
    return (int)pl_ret(rc);
}

/* ---- statfs / statvfs ---- */

/* statvfs of BenchFS path bpath. */
static int pl_bstatvfs(const char *bpath, struct statvfs *sv)
{
    int rc = pl_connect();

    if (rc < 0)
        return rc;
    if (benchfs_statvfs(bpath, sv) < 0)
        return -errno;
    return 0;
}

static void pl_statvfs_to_statfs(const struct statvfs *sv, struct statfs *sf)
{
    memset(sf, 0, sizeof(*sf));
    sf->f_type = PL_STATFS_MAGIC;
    sf->f_bsize = (__fsword_t)sv->f_bsize;
    sf->f_frsize = (__fsword_t)sv->f_frsize;
    sf->f_blocks = sv->f_blocks;
    sf->f_bfree = sv->f_bfree;
    sf->f_bavail = sv->f_bavail;
    sf->f_files = sv->f_files;
    sf->f_ffree = sv->f_ffree;
    sf->f_namelen = (__fsword_t)sv->f_namemax;
}

/* Path or descriptor form: BenchFS path into bpath (1), local (0), -errno. */
static int pl_vfs_target(int fd, const char *path, char *bpath, const char **local_p)
{
    struct pl_ofd *o;

    if (path == NULL) {
        o = pl_fd_get(fd);
        if (o == NULL)
            return 0;
        snprintf(bpath, PL_PATH_MAX, "%s", o->path);
        return 1;
    }
    return pl_path_resolve(AT_FDCWD, path, bpath, local_p);
}

/* Every statfs/statvfs form: path, or fd when path is NULL. */
static int pl_statvfs_any(int fd, const char *path, struct statvfs *sv, struct statfs *sf)
{
    char bpath[PL_PATH_MAX];
    const char *local = path;
    struct statvfs tmp;
    int rc;
    PL_REAL(statvfs);
    PL_REAL(fstatvfs);
    PL_REAL(statfs);
    PL_REAL(fstatfs);

    rc = pl_vfs_target(fd, path, bpath, &local);
    if (rc == 0) {
        if (sv != NULL)
            return path != NULL ? real_statvfs(local, sv) : real_fstatvfs(fd, sv);
        return path != NULL ? real_statfs(local, sf) : real_fstatfs(fd, sf);
    }
    if (rc > 0)
        rc = pl_bstatvfs(bpath, &tmp);
    if (rc == 0) {
        if (sv != NULL)
            *sv = tmp;
        else
            pl_statvfs_to_statfs(&tmp, sf);
    }
    return (int)pl_ret(rc);
}

PL_EXPORT int statvfs(const char *path, struct statvfs *sv)
{
    return pl_statvfs_any(-1, path, sv, NULL);
}

PL_EXPORT int statvfs64(const char *path, struct statvfs64 *sv)
{
    return pl_statvfs_any(-1, path, (struct statvfs *)sv, NULL);
}

PL_EXPORT int fstatvfs(int fd, struct statvfs *sv)
{
    return pl_statvfs_any(fd, NULL, sv, NULL);
}

PL_EXPORT int fstatvfs64(int fd, struct statvfs64 *sv)
{
    return pl_statvfs_any(fd, NULL, (struct statvfs *)sv, NULL);
}

PL_EXPORT int statfs(const char *path, struct statfs *sf)
{
    return pl_statvfs_any(-1, path, NULL, sf);
}

PL_EXPORT int statfs64(const char *path, struct statfs64 *sf)
{
    return pl_statvfs_any(-1, path, NULL, (struct statfs *)sf);
}

PL_EXPORT int fstatfs(int fd, struct statfs *sf)
{
    return pl_statvfs_any(fd, NULL, NULL, sf);
}

PL_EXPORT int fstatfs64(int fd, struct statfs64 *sf)
{
    return pl_statvfs_any(fd, NULL, NULL, (struct statfs *)sf);
}
