/*
 * posix.c - pure POSIX decisions of the client (posix.h).
 */
#include "client/posix.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int posix_mkdir_outcome(const int *st, size_t n, size_t owner, enum posix_mkdir_action *action_p)
{
    size_t i, ok = 0, exist = 0, noent = 0;
    int other = 0;

    for (i = 0; i < n; i++) {
        if (st[i] == 0)
            ok++;
        else if (st[i] == -EEXIST)
            exist++;
        else if (st[i] == -ENOENT)
            noent++;
        else if (other == 0)
            other = st[i];
    }
    *action_p = POSIX_MKDIR_DONE;
    if (ok == n)
        return 0;
    if (other != 0 || noent > 0) {
        if (ok > 0)
            *action_p = POSIX_MKDIR_ROLLBACK;
        return other != 0 ? other : -ENOENT;
    }
    /* Only successes and EEXIST from here on. */
    if (ok == 0)
        return -EEXIST;
    if (owner < n && st[owner] == 0)
        return 0;
    *action_p = POSIX_MKDIR_CHECK_OWNER;
    return -EEXIST;
}

/* Rank of an error for rmdir: higher wins. */
static int posix_rmdir_rank(int st)
{
    switch (st) {
    case -ENOTEMPTY:
        return 5;
    case -ENOTDIR:
        return 4;
    case -EBUSY:
        return 3;
    case -ENOENT:
        return 1;
    default:
        return 2;
    }
}

int posix_rmdir_outcome(const int *st, size_t n, bool *commit_p)
{
    size_t i, ok = 0, noent = 0;
    int worst = 0;

    for (i = 0; i < n; i++) {
        if (st[i] == 0) {
            ok++;
            continue;
        }
        if (st[i] == -ENOENT)
            noent++;
        if (worst == 0 || posix_rmdir_rank(st[i]) > posix_rmdir_rank(worst))
            worst = st[i];
    }
    *commit_p = ok > 0 && ok + noent == n;
    if (*commit_p)
        return 0;
    return worst;
}

static bool posix_in_groups(uint32_t gid, uint32_t my_gid, const uint32_t *groups, size_t n)
{
    size_t i;

    if (gid == my_gid)
        return true;
    for (i = 0; i < n; i++) {
        if (groups[i] == gid)
            return true;
    }
    return false;
}

int posix_access(const struct proto_attr *a, int mode, uint32_t uid, uint32_t gid,
                 const uint32_t *groups, size_t ngroups)
{
    unsigned bits, need = 0;

    if (mode & ~(R_OK | W_OK | X_OK))
        return -EINVAL;
    if (mode == F_OK)
        return 0;
    if (uid == 0) {
        if ((mode & X_OK) && !(a->mode & 0111) && !S_ISDIR(a->mode))
            return -EACCES;
        return 0;
    }
    if (uid == a->uid)
        bits = (a->mode >> 6) & 7;
    else if (posix_in_groups(a->gid, gid, groups, ngroups))
        bits = (a->mode >> 3) & 7;
    else
        bits = a->mode & 7;
    if (mode & R_OK)
        need |= 4;
    if (mode & W_OK)
        need |= 2;
    if (mode & X_OK)
        need |= 1;
    return (bits & need) == need ? 0 : -EACCES;
}

int posix_open_check(uint32_t mode, int flags)
{
    if (S_ISDIR(mode)) {
        /* Linux: O_TRUNC asks for write access too. */
        if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
            return -EISDIR;
        return 0;
    }
    if (flags & O_DIRECTORY)
        return -ENOTDIR;
    return 0;
}

static void posix_ns_to_ts(uint64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000ull);
    ts->tv_nsec = (long)(ns % 1000000000ull);
}

void posix_attr_to_stat(const struct proto_attr *a, uint64_t size, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = (ino_t)a->ino;
    st->st_mode = (mode_t)a->mode;
    st->st_nlink = (nlink_t)(a->nlink > 0 ? a->nlink : 1);
    st->st_uid = (uid_t)a->uid;
    st->st_gid = (gid_t)a->gid;
    st->st_size = (off_t)size;
    st->st_blksize =
        (blksize_t)(a->chunk_size > 0 && a->chunk_size <= (1u << 30) ? a->chunk_size : 4096);
    st->st_blocks = (blkcnt_t)((size + 511) / 512);
    posix_ns_to_ts(a->atime_ns, &st->st_atim);
    posix_ns_to_ts(a->mtime_ns, &st->st_mtim);
    posix_ns_to_ts(a->ctime_ns, &st->st_ctim);
}

/* One time of utimensat: 0 and its bits, or -EINVAL. */
static int posix_utimens_one(const struct timespec *ts, uint32_t given, uint32_t now,
                             uint32_t *valid, uint64_t *ns_p)
{
    if (ts->tv_nsec == UTIME_OMIT)
        return 0;
    if (ts->tv_nsec == UTIME_NOW) {
        *valid |= now;
        return 0;
    }
    if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L || ts->tv_sec < 0 ||
        (uint64_t)ts->tv_sec > (UINT64_MAX - 999999999u) / 1000000000u)
        return -EINVAL;
    *valid |= given;
    *ns_p = (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
    return 0;
}

int posix_utimens_fields(const struct timespec *times, uint32_t *valid_p, uint64_t *atime_p,
                         uint64_t *mtime_p)
{
    uint32_t valid = 0;
    uint64_t at = 0, mt = 0;
    int rc;

    if (times == NULL) {
        valid = PROTO_SETATTR_ATIME_NOW | PROTO_SETATTR_MTIME_NOW;
    } else {
        rc =
            posix_utimens_one(&times[0], PROTO_SETATTR_ATIME, PROTO_SETATTR_ATIME_NOW, &valid, &at);
        if (rc == 0)
            rc = posix_utimens_one(&times[1], PROTO_SETATTR_MTIME, PROTO_SETATTR_MTIME_NOW, &valid,
                                   &mt);
        if (rc < 0)
            return rc;
    }
    *valid_p = valid;
    *atime_p = at;
    *mtime_p = mt;
    return 0;
}

unsigned char posix_dirent_type(uint32_t mode)
{
    if (S_ISDIR(mode))
        return DT_DIR;
    if (S_ISREG(mode))
        return DT_REG;
    return DT_UNKNOWN;
}

bool posix_path_within(const char *b, size_t blen, const char *a, size_t alen)
{
    if (alen == 1 && a[0] == '/')
        return true;
    if (blen < alen || memcmp(a, b, alen) != 0)
        return false;
    return blen == alen || b[alen] == '/';
}
