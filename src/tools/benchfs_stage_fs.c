/*
 * benchfs_stage_fs.c - the two sides of a staging transfer behind one table
 * (struct stage_fs, benchfs_stage.h): the local file system through POSIX
 * calls and BenchFS through the public client API. The copy code is the
 * same in both directions; only the table differs.
 *
 * Every function returns >= 0 or -errno and prints nothing: the caller
 * names the file in its message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "benchfs.h"
#include "tools/benchfs_stage.h"

void stage_dirents_free(struct stage_dirent *ents, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
}

/* Append one entry to a growing array. 0 or -ENOMEM. */
static int dirents_push(struct stage_dirent **ents, size_t *n, size_t *cap, const char *name,
                        bool is_dir, bool is_reg)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct stage_dirent *p = realloc(*ents, ncap * sizeof(*p));

        if (!p)
            return -ENOMEM;
        *ents = p;
        *cap = ncap;
    }
    (*ents)[*n].name = strdup(name);
    if (!(*ents)[*n].name)
        return -ENOMEM;
    (*ents)[*n].is_dir = is_dir;
    (*ents)[*n].is_reg = is_reg;
    (*ents)[*n].has_attr = false;
    (*n)++;
    return 0;
}

static void attr_from_stat(const struct stat *st, struct stage_attr *a)
{
    a->is_dir = S_ISDIR(st->st_mode);
    a->is_reg = S_ISREG(st->st_mode);
    a->size = (uint64_t)st->st_size;
    a->mode = st->st_mode & 07777;
    a->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* ------------------------------------------------------------------ local */

static int local_open(const char *path, int flags, mode_t mode)
{
    int fd = open(path, flags | O_CLOEXEC, mode);

    if (fd < 0)
        return -errno;
    if ((flags & O_ACCMODE) == O_RDONLY)
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return fd;
}

static int local_close(int fd)
{
    return close(fd) < 0 ? -errno : 0;
}

static ssize_t local_pread(int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n;

    do {
        n = pread(fd, buf, len, (off_t)off);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static ssize_t local_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n;

    do {
        n = pwrite(fd, buf, len, (off_t)off);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

/* lstat: a symbolic link is neither a file nor a directory (not staged). */
static int local_stat(const char *path, struct stage_attr *a)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return -errno;
    attr_from_stat(&st, a);
    return 0;
}

static int local_fstat(int fd, struct stage_attr *a)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return -errno;
    attr_from_stat(&st, a);
    return 0;
}

static int local_mkdir(const char *path, mode_t mode)
{
    struct stat st;

    if (mkdir(path, mode | 0700) == 0)
        return 1;
    if (errno == EEXIST && stat(path, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    return -errno;
}

static int local_rename(const char *from, const char *to)
{
    return rename(from, to) < 0 ? -errno : 0;
}

static int local_unlink(const char *path)
{
    return unlink(path) < 0 ? -errno : 0;
}

static int local_set_attr(const char *path, mode_t mode, int64_t mtime_ns)
{
    struct timespec ts[2] = {
        {.tv_sec = 0, .tv_nsec = UTIME_OMIT},
        {.tv_sec = mtime_ns / 1000000000, .tv_nsec = mtime_ns % 1000000000},
    };

    if (chmod(path, mode) < 0)
        return -errno;
    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    return 0;
}

static int local_fset_attr(int fd, bool set_mode, mode_t mode, int64_t mtime_ns)
{
    struct timespec ts[2] = {
        {.tv_sec = 0, .tv_nsec = UTIME_OMIT},
        {.tv_sec = mtime_ns / 1000000000, .tv_nsec = mtime_ns % 1000000000},
    };

    if (set_mode && fchmod(fd, mode) < 0)
        return -errno;
    if (futimens(fd, ts) < 0)
        return -errno;
    return 0;
}

static int local_put(const char *path, const void *buf, size_t len, mode_t mode, int64_t mtime_ns)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode), rc = 0;
    size_t off = 0;

    if (fd < 0)
        return -errno;
    while (off < len && rc == 0) {
        ssize_t n = local_pwrite(fd, (const char *)buf + off, len - off, off);

        rc = n < 0 ? (int)n : n == 0 ? -EIO : 0;
        off += n > 0 ? (size_t)n : 0;
    }
    if (rc == 0)
        rc = local_fset_attr(fd, false, mode, mtime_ns);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        unlink(path);
    return rc;
}

/* Open, a read of up to cap bytes, close: a file that fills the room may
 * be larger than it (not read). A read of a regular file comes back short
 * only at its end, so one read is enough. No fstat: the planner's lstat
 * gave the attributes; only type and size are filled in. */
static void local_get_one(struct stage_get *f)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    f->len = -1;
    f->result = 0;
    if (fd < 0) {
        f->result = -errno;
        return;
    }
    n = local_pread(fd, f->buf, f->cap, 0);
    if (n < 0) {
        f->result = (int)n;
    } else if ((size_t)n < f->cap) {
        f->len = n;
        f->a = (struct stage_attr){.is_reg = true, .size = (uint64_t)n};
    }
    close(fd);
}

static void local_get_many(struct stage_get *files, size_t n)
{
    for (size_t i = 0; i < n; i++)
        local_get_one(&files[i]);
}

static void local_put_many(struct stage_put *files, size_t n)
{
    for (size_t i = 0; i < n; i++)
        files[i].result =
            local_put(files[i].path, files[i].data, files[i].len, files[i].mode, files[i].mtime_ns);
}

static int local_list(const char *path, struct stage_dirent **ents_p, size_t *n_p)
{
    struct stage_dirent *ents = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d = opendir(path);
    int rc = 0;

    if (!d)
        return -errno;
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (!de) {
            rc = -errno;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        /* d_type may be unknown (some file systems): the planner stats. */
        rc = dirents_push(&ents, &n, &cap, de->d_name, de->d_type == DT_DIR, de->d_type == DT_REG);
        if (rc < 0)
            break;
    }
    closedir(d);
    if (rc < 0) {
        stage_dirents_free(ents, n);
        return rc;
    }
    *ents_p = ents;
    *n_p = n;
    return 0;
}

const struct stage_fs stage_fs_local = {
    .name = "local",
    .remote = false,
    .open = local_open,
    .close = local_close,
    .pread = local_pread,
    .pwrite = local_pwrite,
    .stat = local_stat,
    .fstat = local_fstat,
    .mkdir = local_mkdir,
    .rename = local_rename,
    .unlink = local_unlink,
    .set_attr = local_set_attr,
    .fset_attr = local_fset_attr,
    .put = local_put_many,
    .get = local_get_many,
    .list = local_list,
};

/* ---------------------------------------------------------------- benchfs */

static int bfs_open(const char *path, int flags, mode_t mode)
{
    int fd = benchfs_open(path, flags, mode);

    return fd < 0 ? -errno : fd;
}

static int bfs_close(int fd)
{
    return benchfs_close(fd) < 0 ? -errno : 0;
}

static ssize_t bfs_pread(int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n = benchfs_pread(fd, buf, len, (off_t)off);

    return n < 0 ? -errno : n;
}

static ssize_t bfs_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n = benchfs_pwrite(fd, buf, len, (off_t)off);

    return n < 0 ? -errno : n;
}

static int bfs_stat(const char *path, struct stage_attr *a)
{
    struct stat st;

    if (benchfs_stat(path, &st) < 0)
        return -errno;
    attr_from_stat(&st, a);
    return 0;
}

static int bfs_fstat(int fd, struct stage_attr *a)
{
    struct stat st;

    if (benchfs_fstat(fd, &st) < 0)
        return -errno;
    attr_from_stat(&st, a);
    return 0;
}

static int bfs_mkdir(const char *path, mode_t mode)
{
    struct stat st;

    if (benchfs_mkdir(path, mode | 0700) == 0)
        return 1;
    if (errno == EEXIST && benchfs_stat(path, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    return -errno;
}

static int bfs_rename(const char *from, const char *to)
{
    return benchfs_rename(from, to) < 0 ? -errno : 0;
}

static int bfs_unlink(const char *path)
{
    return benchfs_unlink(path) < 0 ? -errno : 0;
}

/* As local_set_attr: after the data is closed (published), so that the
 * mtime set here is the last one; the atime is left as it is. A source
 * mtime before 1970 is EINVAL (BenchFS stores unsigned nanoseconds). */
static int bfs_set_attr(const char *path, mode_t mode, int64_t mtime_ns)
{
    struct timespec ts[2] = {
        {.tv_sec = 0, .tv_nsec = UTIME_OMIT},
        {.tv_sec = mtime_ns / 1000000000, .tv_nsec = mtime_ns % 1000000000},
    };

    if (mtime_ns < 0)
        return -EINVAL;
    if (benchfs_chmod(path, mode) < 0)
        return -errno;
    if (benchfs_utimens(path, ts) < 0)
        return -errno;
    return 0;
}

/* Before the close: futimens publishes what was written but not yet
 * published (attr.c), so the close that follows stamps no later mtime. */
static int bfs_fset_attr(int fd, bool set_mode, mode_t mode, int64_t mtime_ns)
{
    struct timespec ts[2] = {
        {.tv_sec = 0, .tv_nsec = UTIME_OMIT},
        {.tv_sec = mtime_ns / 1000000000, .tv_nsec = mtime_ns % 1000000000},
    };

    if (mtime_ns < 0)
        return -EINVAL;
    if (set_mode && benchfs_fchmod(fd, mode) < 0)
        return -errno;
    if (benchfs_futimens(fd, ts) < 0)
        return -errno;
    return 0;
}

/* benchfs_put_many in slices of a fixed array (no allocation per call). */
static void bfs_put_many(struct stage_put *files, size_t n)
{
    struct benchfs_put_file pf[STAGE_BATCH_MAX];

    for (size_t base = 0; base < n; base += STAGE_BATCH_MAX) {
        size_t m = n - base < STAGE_BATCH_MAX ? n - base : STAGE_BATCH_MAX;

        for (size_t i = 0; i < m; i++) {
            const struct stage_put *f = &files[base + i];

            pf[i] = (struct benchfs_put_file){
                .path = f->path,
                .data = f->data,
                .len = f->len,
                .mode = f->mode,
                .mtime = {f->mtime_ns / 1000000000, f->mtime_ns % 1000000000},
            };
        }
        (void)benchfs_put_many(pf, m); /* each file has its error */
        for (size_t i = 0; i < m; i++)
            files[base + i].result = -pf[i].error;
    }
}

/* benchfs_get_many in slices of a fixed array. */
static void bfs_get_many(struct stage_get *files, size_t n)
{
    struct benchfs_get_file gf[STAGE_BATCH_MAX];

    for (size_t base = 0; base < n; base += STAGE_BATCH_MAX) {
        size_t m = n - base < STAGE_BATCH_MAX ? n - base : STAGE_BATCH_MAX;

        for (size_t i = 0; i < m; i++)
            gf[i] = (struct benchfs_get_file){.path = files[base + i].path,
                                              .buf = files[base + i].buf,
                                              .cap = files[base + i].cap};
        (void)benchfs_get_many(gf, m); /* each file has its outcome */
        for (size_t i = 0; i < m; i++) {
            struct stage_get *f = &files[base + i];

            f->result = -gf[i].error;
            f->len = gf[i].len;
            if (f->result == 0)
                attr_from_stat(&gf[i].st, &f->a);
        }
    }
}

static int bfs_list(const char *path, struct stage_dirent **ents_p, size_t *n_p)
{
    struct stage_dirent *ents = NULL;
    size_t n = 0, cap = 0;
    struct benchfs_dirent *de;
    benchfs_dir_t *d = benchfs_opendir(path);
    int rc = 0;

    if (!d)
        return -errno;
    for (;;) {
        errno = 0;
        de = benchfs_readdir(d);
        if (!de) {
            rc = -errno;
            break;
        }
        rc = dirents_push(&ents, &n, &cap, de->d_name, de->d_type == DT_DIR, de->d_type == DT_REG);
        if (rc < 0)
            break;
        ents[n - 1].has_attr = true;
        ents[n - 1].size = de->d_size;
        ents[n - 1].mode = de->d_mode & 07777;
    }
    benchfs_closedir(d);
    if (rc < 0) {
        stage_dirents_free(ents, n);
        return rc;
    }
    *ents_p = ents;
    *n_p = n;
    return 0;
}

const struct stage_fs stage_fs_benchfs = {
    .name = "benchfs",
    .remote = true,
    .open = bfs_open,
    .close = bfs_close,
    .pread = bfs_pread,
    .pwrite = bfs_pwrite,
    .stat = bfs_stat,
    .fstat = bfs_fstat,
    .mkdir = bfs_mkdir,
    .rename = bfs_rename,
    .unlink = bfs_unlink,
    .set_attr = bfs_set_attr,
    .fset_attr = bfs_fset_attr,
    .put = bfs_put_many,
    .get = bfs_get_many,
    .list = bfs_list,
};
