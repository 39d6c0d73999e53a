/*
 * dir.c - directories on BenchFS (preload.h): opendir/fdopendir/readdir
 * (64)/closedir/rewinddir/dirfd/telldir/seekdir, getdents64, and the cwd
 * calls chdir/fchdir/getcwd.
 *
 * glibc's opendir and readdir use internal, non-interposable open and
 * getdents calls, so a BenchFS directory gets a DIR of our own: a struct
 * pl_dirstate whose first member is the descriptor, where glibc's DIR keeps
 * it too. A DIR pointer is ours when the table entry of that descriptor
 * points back at it; anything else is glibc's and passes through.
 *
 * Streams synthesize "." and ".." first (BenchFS's readdir omits them;
 * ls -a, fts and shells expect them). telldir is the count of entries
 * returned; seekdir restarts the listing and skips that many.
 *
 * chdir into BenchFS changes only the library's virtual cwd (path.c): the
 * kernel's cwd stays where it was, so the mount prefix need not exist.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchfs.h"
#include "preload/preload.h"

struct pl_dirstate {
    int fd;            /* first, as in glibc's DIR: dirfd() reads it */
    benchfs_dir_t *bd; /* open listing, NULL before the first read or after a rewind */
    long pos;          /* entries returned so far (telldir) */
    bool pending;      /* `ent` holds an entry getdents64 could not fit yet */
    unsigned gen;      /* process generation bd belongs to */
    struct dirent64 ent;
};

void pl_dirstate_free(struct pl_dirstate *d)
{
    if (d->bd != NULL && d->gen == pl_gen)
        benchfs_closedir(d->bd);
    free(d);
}

/* Our state behind a DIR pointer, or NULL when it is glibc's. */
static struct pl_dirstate *pl_dir_of(DIR *dirp)
{
    struct pl_dirstate *d = (struct pl_dirstate *)dirp;
    struct pl_ofd *o;

    if (dirp == NULL || pl_nbound == 0)
        return NULL;
    o = pl_fd_get(d->fd);
    return o != NULL && o->dir == d ? d : NULL;
}

/* Fill d->ent with the next entry: 1, 0 at the end, or -errno. */
static int pl_dir_next(struct pl_ofd *o, struct pl_dirstate *d)
{
    struct benchfs_dirent *e;
    int rc;

    if (d->pending) {
        d->pending = false;
        return 1;
    }
    memset(&d->ent, 0, offsetof(struct dirent64, d_name) + 3);
    if (d->pos < 2) {
        d->ent.d_ino = d->pos == 0 ? o->ino : 1;
        d->ent.d_type = DT_DIR;
        strcpy(d->ent.d_name, d->pos == 0 ? "." : "..");
    } else {
        if (d->bd == NULL || d->gen != pl_gen) {
            long skip = d->pos - 2;

            /* First read, or a listing inherited over fork (the parent's
             * handle is not ours to use): list again, skip what was seen. */
            rc = pl_connect();
            if (rc < 0)
                return rc;
            d->bd = benchfs_opendir(o->path);
            if (d->bd == NULL)
                return -errno;
            d->gen = pl_gen;
            while (skip-- > 0 && benchfs_readdir(d->bd) != NULL)
                ;
        }
        errno = 0;
        e = benchfs_readdir(d->bd);
        if (e == NULL)
            return errno != 0 ? -errno : 0;
        d->ent.d_ino = e->d_ino;
        d->ent.d_type = e->d_type;
        snprintf(d->ent.d_name, sizeof(d->ent.d_name), "%s", e->d_name);
    }
    d->pos++;
    d->ent.d_off = d->pos;
    d->ent.d_reclen =
        (unsigned short)((offsetof(struct dirent64, d_name) + strlen(d->ent.d_name) + 1 + 7) &
                         ~(size_t)7);
    return 1;
}

/* Restart the listing of d (rewinddir, seekdir). */
static void pl_dir_rewind(struct pl_dirstate *d)
{
    if (d->bd != NULL && d->gen == pl_gen)
        benchfs_closedir(d->bd);
    d->bd = NULL;
    d->pos = 0;
    d->pending = false;
}

/* The stream state of a BenchFS directory descriptor, created on demand. */
static struct pl_dirstate *pl_dir_attach(int fd, struct pl_ofd *o)
{
    struct pl_dirstate *d;

    pthread_mutex_lock(&pl_lock);
    d = o->dir;
    if (d == NULL) {
        d = calloc(1, sizeof(*d));
        if (d != NULL) {
            d->fd = fd;
            o->dir = d;
        }
    }
    pthread_mutex_unlock(&pl_lock);
    return d;
}

PL_EXPORT DIR *fdopendir(int fd)
{
    struct pl_ofd *o = pl_fd_get(fd);
    struct pl_dirstate *d;
    PL_REAL(fdopendir);

    if (__builtin_expect(o == NULL, 1))
        return real_fdopendir(fd);
    pl_log("fdopendir %d (%s)", fd, o->path);
    if (!o->is_dir) {
        errno = ENOTDIR;
        return NULL;
    }
    d = pl_dir_attach(fd, o);
    if (d == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    d->fd = fd;
    return (DIR *)d;
}

PL_EXPORT DIR *opendir(const char *path)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    DIR *dp;
    int rc, fd;
    PL_REAL(opendir);

    rc = pl_path_resolve(AT_FDCWD, path, bpath, &local);
    if (rc == 0)
        return real_opendir(local);
    if (rc < 0) {
        pl_ret(rc);
        return NULL;
    }
    fd = pl_open_bfs(bpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    pl_log("opendir %s -> %d", bpath, fd);
    if (fd < 0) {
        pl_ret(fd);
        return NULL;
    }
    dp = fdopendir(fd);
    if (dp == NULL) {
        int e = errno;

        pl_fd_close(fd);
        errno = e;
    }
    return dp;
}

PL_EXPORT struct dirent64 *readdir64(DIR *dirp)
{
    struct pl_dirstate *d = pl_dir_of(dirp);
    struct pl_ofd *o;
    int rc;
    PL_REAL(readdir64);

    if (__builtin_expect(d == NULL, 1))
        return real_readdir64(dirp);
    o = pl_fd_get(d->fd);
    rc = pl_dir_next(o, d);
    if (rc <= 0) {
        if (rc < 0)
            pl_ret(rc);
        return NULL; /* end: errno untouched */
    }
    return &d->ent;
}

/* On LP64 struct dirent and struct dirent64 have one layout. */
_Static_assert(sizeof(struct dirent) == sizeof(struct dirent64), "dirent layout");

PL_EXPORT struct dirent *readdir(DIR *dirp)
{
    PL_REAL(readdir);

    if (__builtin_expect(pl_dir_of(dirp) == NULL, 1))
        return real_readdir(dirp);
    return (struct dirent *)readdir64(dirp);
}

PL_EXPORT int closedir(DIR *dirp)
{
    struct pl_dirstate *d = pl_dir_of(dirp);
    struct pl_ofd *o;
    PL_REAL(closedir);

    if (__builtin_expect(d == NULL, 1))
        return real_closedir(dirp);
    o = pl_fd_get(d->fd);
    pthread_mutex_lock(&pl_lock);
    if (o != NULL && o->dir == d)
        o->dir = NULL;
    pthread_mutex_unlock(&pl_lock);
    pl_log("closedir %d", d->fd);
    int fd = d->fd;
    pl_dirstate_free(d);
    return (int)pl_ret(pl_fd_close(fd));
}

PL_EXPORT void rewinddir(DIR *dirp)
{
    struct pl_dirstate *d = pl_dir_of(dirp);
    PL_REAL(rewinddir);

    if (__builtin_expect(d == NULL, 1)) {
        real_rewinddir(dirp);
        return;
    }
    pl_dir_rewind(d);
}

PL_EXPORT int dirfd(DIR *dirp)
{
    struct pl_dirstate *d = pl_dir_of(dirp);
    PL_REAL(dirfd);

    return d == NULL ? real_dirfd(dirp) : d->fd;
}

PL_EXPORT long telldir(DIR *dirp)
{
    struct pl_dirstate *d = pl_dir_of(dirp);
    PL_REAL(telldir);

    if (__builtin_expect(d == NULL, 1))
        return real_telldir(dirp);
    return d->pending ? d->pos - 1 : d->pos;
}

PL_EXPORT void seekdir(DIR *dirp, long pos)
{
    struct pl_dirstate *d = pl_dir_of(dirp);
    struct pl_ofd *o;
    PL_REAL(seekdir);

    if (__builtin_expect(d == NULL, 1)) {
        real_seekdir(dirp, pos);
        return;
    }
    o = pl_fd_get(d->fd);
    pl_dir_rewind(d);
    while (d->pos < pos && pl_dir_next(o, d) > 0)
        ;
}

/* getdents64 on a BenchFS directory descriptor: as many entries as fit. */
static ssize_t pl_getdents(int fd, struct pl_ofd *o, void *buf, size_t len)
{
    struct pl_dirstate *d;
    size_t used = 0;
    int rc;

    if (!o->is_dir)
        return -ENOTDIR;
    d = pl_dir_attach(fd, o);
    if (d == NULL)
        return -ENOMEM;
    for (;;) {
        rc = pl_dir_next(o, d);
        if (rc < 0)
            return used > 0 ? (ssize_t)used : rc;
        if (rc == 0)
            break;
        if (used + d->ent.d_reclen > len) {
            d->pending = true;
            if (used == 0)
                return -EINVAL;
            break;
        }
        memcpy((char *)buf + used, &d->ent, d->ent.d_reclen);
        used += d->ent.d_reclen;
    }
    return (ssize_t)used;
}

PL_EXPORT ssize_t getdents64(int fd, void *buf, size_t len)
{
    struct pl_ofd *o = pl_fd_get(fd);
    PL_REAL(getdents64);

    if (__builtin_expect(o == NULL, 1))
        return real_getdents64(fd, buf, len);
    pl_log("getdents64 %d", fd);
    return pl_ret(pl_getdents(fd, o, buf, len));
}

/* ---- cwd ---- */

PL_EXPORT int chdir(const char *path)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    struct stat st;
    int rc;
    PL_REAL(chdir);

    rc = pl_path_resolve(AT_FDCWD, path, bpath, &local);
    if (rc == 0) {
        rc = real_chdir(local);
        if (rc == 0 && pl_cwd_virtual)
            pl_cwd_clear();
        return rc;
    }
    if (rc > 0) {
        rc = pl_connect();
        if (rc == 0 && benchfs_stat(bpath, &st) < 0)
            rc = -errno;
        if (rc == 0 && !S_ISDIR(st.st_mode))
            rc = -ENOTDIR;
        if (rc == 0)
            rc = pl_cwd_set(bpath);
        pl_log("chdir %s -> %d", bpath, rc);
    }
    return (int)pl_ret(rc);
}

PL_EXPORT int fchdir(int fd)
{
    struct pl_ofd *o = pl_fd_get(fd);
    int rc;
    PL_REAL(fchdir);

    if (__builtin_expect(o == NULL, 1)) {
        rc = real_fchdir(fd);
        if (rc == 0 && pl_cwd_virtual)
            pl_cwd_clear();
        return rc;
    }
    pl_log("fchdir %d (%s)", fd, o->path);
    if (!o->is_dir)
        return (int)pl_ret(-ENOTDIR);
    return (int)pl_ret(pl_cwd_set(o->path));
}

PL_EXPORT char *getcwd(char *buf, size_t size)
{
    char bpath[PL_PATH_MAX], full[PL_PATH_MAX];
    size_t n;
    PL_REAL(getcwd);

    if (__builtin_expect(!pl_cwd_virtual, 1) || !pl_cwd_get(bpath, sizeof(bpath)))
        return real_getcwd(buf, size);
    pl_path_full(bpath, full, sizeof(full));
    n = strlen(full) + 1;
    if (buf == NULL) {
        buf = malloc(size > n ? size : n);
        if (buf == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        size = size > n ? size : n;
    }
    if (size < n) {
        errno = ERANGE;
        return NULL;
    }
    memcpy(buf, full, n);
    return buf;
}

char *__getcwd_chk(char *buf, size_t size, size_t buflen);

PL_EXPORT char *__getcwd_chk(char *buf, size_t size, size_t buflen)
{
    if (size > buflen)
        abort();
    return getcwd(buf, size);
}

PL_EXPORT char *get_current_dir_name(void)
{
    PL_REAL(get_current_dir_name);

    if (!pl_cwd_virtual)
        return real_get_current_dir_name();
    return getcwd(NULL, 0);
}
