/*
 * stdio.c - FILE streams on BenchFS (preload.h): fopen/fopen64/fdopen/
 * freopen, and the mkstemp/mkdtemp family.
 *
 * glibc's fopen and the FILE machinery call internal, non-interposable
 * open/read/write, so a BenchFS FILE is built with fopencookie(): its read,
 * write, seek and close callbacks go to the descriptor table, and every
 * other stdio function (fread, fwrite, fgets, fprintf, fseek, ftell,
 * fflush, fclose, getline, ...) works unchanged on top. The FILE's
 * _fileno (a public member of glibc's struct _IO_FILE) is set to the
 * reserved kernel descriptor, so fileno() and the programs that mix
 * fileno()+fstat/posix_fadvise with stdio (sha256sum, ...) see a real,
 * intercepted descriptor. The tradeoff: a program that hands fileno(fp)
 * to a raw syscall reaches /dev/null (docs/preload.md).
 *
 * freopen onto a BenchFS path cannot turn the caller's FILE into a cookie
 * stream: for stdin/stdout/stderr the descriptor becomes BenchFS's and the
 * standard variable is swapped (below), and the new stream is returned;
 * any other FILE fails with ENOTSUP.
 *
 * mkstemp and friends create names with glibc's internal open: they are
 * reimplemented here for BenchFS templates (O_CREAT|O_EXCL retries).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "preload/preload.h"

/* ---- cookie callbacks: the cookie is the kernel descriptor ---- */

/* Cookie bit of a standard stream: its fclose leaves the descriptor open. */
#define PL_CK_STD    PL_FD_MAX
#define PL_CK_FD(ck) ((int)((intptr_t)(ck) & (PL_FD_MAX - 1)))

static ssize_t pl_ck_read(void *ck, char *buf, size_t n)
{
    struct pl_ofd *o = pl_fd_get(PL_CK_FD(ck));

    if (o == NULL)
        return pl_ret(-EBADF);
    return pl_ret(pl_fd_read(o, buf, n));
}

static ssize_t pl_ck_write(void *ck, const char *buf, size_t n)
{
    struct pl_ofd *o = pl_fd_get(PL_CK_FD(ck));

    if (o == NULL)
        return pl_ret(-EBADF);
    return pl_ret(pl_fd_write(o, buf, n));
}

static int pl_ck_seek(void *ck, off64_t *pos, int whence)
{
    struct pl_ofd *o = pl_fd_get(PL_CK_FD(ck));
    off_t r;

    if (o == NULL)
        return (int)pl_ret(-EBADF);
    r = pl_fd_lseek(o, *pos, whence);
    if (r < 0)
        return (int)pl_ret(r);
    *pos = r;
    return 0;
}

static int pl_ck_close(void *ck)
{
    int fd = PL_CK_FD(ck);

    if ((intptr_t)ck & PL_CK_STD)
        return 0;
    if (pl_fd_get(fd) == NULL)
        return (int)pl_ret(-EBADF);
    return (int)pl_ret(pl_fd_close(fd));
}

/* A cookie FILE on fd; std: a standard stream's replacement. */
static FILE *pl_stdio_make(int fd, const char *mode, bool std)
{
    cookie_io_functions_t io = {
        .read = pl_ck_read, .write = pl_ck_write, .seek = pl_ck_seek, .close = pl_ck_close};
    FILE *fp;

    fp = fopencookie((void *)(intptr_t)(fd | (std ? PL_CK_STD : 0)), mode, io);
    if (fp == NULL)
        return NULL;
    fp->_fileno = fd;
    return fp;
}

FILE *pl_stdio_wrap(int fd, const char *mode)
{
    return pl_stdio_make(fd, mode, false);
}

/* ---- standard streams on BenchFS descriptors ---- */

/*
 * `cmd >file` in a shell: dup2(benchfs fd, 1), then the program writes
 * through stdout, whose glibc FILE writes with an internal write(). When
 * 0, 1 or 2 becomes a BenchFS descriptor, stdin/stdout/stderr are pointed
 * at a cookie FILE on it (assigning the variables is allowed by glibc);
 * when the descriptor stops being BenchFS's, the cookie is flushed and the
 * original FILE comes back. A program exec'd with 0/1/2 on BenchFS gets
 * the same from the constructor.
 */
static FILE *pl_std_orig[3];
static FILE *pl_std_cookie[3];

static FILE **pl_std_var(int fd)
{
    return fd == 0 ? &stdin : fd == 1 ? &stdout : &stderr;
}

void pl_stdio_bound(int fd)
{
    struct pl_ofd *o = pl_fd_get(fd);
    FILE **var, *fp;
    const char *mode;
    int acc;

    if (fd < 0 || fd > 2 || o == NULL || pl_std_cookie[fd] != NULL || pl_in_vfork_child())
        return;
    var = pl_std_var(fd);
    acc = o->flags & O_ACCMODE;
    mode = acc == O_RDONLY ? "r" : acc == O_WRONLY ? ((o->flags & O_APPEND) ? "a" : "w") : "r+";
    if (fd == 0 && acc == O_WRONLY)
        return;
    fp = pl_stdio_make(fd, mode, true);
    if (fp == NULL)
        return;
    if (fd == 2)
        setvbuf(fp, NULL, _IONBF, 0);
    else if (fd == 1)
        setvbuf(fp, NULL, _IOFBF, 1 << 16);
    pl_std_orig[fd] = *var;
    pl_std_cookie[fd] = fp;
    *var = fp;
    pl_log("std stream %d now on BenchFS", fd);
}

void pl_stdio_unbinding(int fd)
{
    FILE **var;

    if (fd < 0 || fd > 2 || pl_std_cookie[fd] == NULL || pl_in_vfork_child())
        return;
    var = pl_std_var(fd);
    fflush(pl_std_cookie[fd]);
    if (*var == pl_std_cookie[fd])
        *var = pl_std_orig[fd];
    fclose(pl_std_cookie[fd]);
    pl_std_cookie[fd] = NULL;
    pl_std_orig[fd] = NULL;
}

/* fopen mode string -> open flags; -EINVAL when malformed. */
static int pl_mode_flags(const char *mode)
{
    int flags;
    const char *p;

    switch (mode[0]) {
    case 'r':
        flags = O_RDONLY;
        break;
    case 'w':
        flags = O_WRONLY | O_CREAT | O_TRUNC;
        break;
    case 'a':
        flags = O_WRONLY | O_CREAT | O_APPEND;
        break;
    default:
        return -EINVAL;
    }
    for (p = mode + 1; *p != '\0' && *p != ','; p++) {
        if (*p == '+')
            flags = (flags & ~O_ACCMODE) | O_RDWR;
        else if (*p == 'e')
            flags |= O_CLOEXEC;
        else if (*p == 'x')
            flags |= O_EXCL;
    }
    return flags;
}

/* fopen of a BenchFS path. */
static FILE *pl_fopen_bfs(const char *bpath, const char *mode)
{
    int flags = pl_mode_flags(mode), fd;
    FILE *fp;

    if (flags < 0) {
        pl_ret(flags);
        return NULL;
    }
    fd = pl_open_bfs(bpath, flags, 0666);
    pl_log("fopen %s %s -> %d", bpath, mode, fd);
    if (fd < 0) {
        pl_ret(fd);
        return NULL;
    }
    fp = pl_stdio_wrap(fd, mode);
    if (fp == NULL) {
        int e = errno;

        pl_fd_close(fd);
        errno = e;
    }
    return fp;
}

PL_EXPORT FILE *fopen(const char *path, const char *mode)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    int rc;
    PL_REAL(fopen);

    rc = pl_path_resolve(AT_FDCWD, path, bpath, &local);
    if (rc == 0)
        return real_fopen(local, mode);
    if (rc < 0) {
        pl_ret(rc);
        return NULL;
    }
    return pl_fopen_bfs(bpath, mode);
}

PL_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    return fopen(path, mode);
}

PL_EXPORT FILE *fdopen(int fd, const char *mode)
{
    PL_REAL(fdopen);

    if (__builtin_expect(pl_fd_get(fd) == NULL, 1))
        return real_fdopen(fd, mode);
    pl_log("fdopen %d %s", fd, mode);
    return pl_stdio_wrap(fd, mode);
}

PL_EXPORT FILE *freopen(const char *path, const char *mode, FILE *fp)
{
    char bpath[PL_PATH_MAX];
    const char *local;
    int rc, fd, std;
    PL_REAL(freopen);

    rc = pl_path_resolve(AT_FDCWD, path, bpath, &local);
    if (rc == 0)
        return real_freopen(local, mode, fp);
    std = fp == stdin ? 0 : fp == stdout ? 1 : fp == stderr ? 2 : -1;
    if (rc > 0 && std < 0) {
        /* Any other FILE keeps glibc's own file operations. */
        pl_log("freopen %s onto a non-standard stream: ENOTSUP", bpath);
        rc = -ENOTSUP;
    }
    if (rc > 0) {
        /* freopen(path, mode, stdout): the standard stream swap does it
         * (the descriptor becomes BenchFS's, stdout a stream on it). */
        rc = pl_mode_flags(mode);
        if (rc >= 0) {
            fflush(fp);
            fd = pl_open_bfs(bpath, rc, 0666);
            rc = fd;
        }
        if (rc >= 0) {
            rc = dup2(fd, std) < 0 ? -errno : 0;
            pl_fd_close(fd);
        }
        pl_log("freopen %s onto %d -> %d", bpath, std, rc);
        if (rc == 0)
            return *pl_std_var(std);
    }
    pl_ret(rc);
    return NULL;
}

PL_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *fp)
{
    return freopen(path, mode, fp);
}

/* ---- temporary names ---- */

/* Replace the 6 X's before `suffixlen` bytes with random letters. */
static int pl_tmpl_fill(char *tmpl, int suffixlen)
{
    static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t len = strlen(tmpl), i;
    unsigned char rnd[6];
    char *x;

    if (suffixlen < 0 || len < 6 + (size_t)suffixlen)
        return -EINVAL;
    x = tmpl + len - suffixlen - 6;
    if (memcmp(x, "XXXXXX", 6) != 0)
        return -EINVAL;
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -EIO;
    for (i = 0; i < 6; i++)
        x[i] = set[rnd[i] % (sizeof(set) - 1)];
    return 0;
}

/* mkostemps on BenchFS: -1 with errno, or a descriptor. */
static int pl_mkstemp_bfs(char *tmpl, int suffixlen, int flags)
{
    char bpath[PL_PATH_MAX], keep[PL_PATH_MAX];
    int tries, rc;

    snprintf(keep, sizeof(keep), "%s", tmpl);
    for (tries = 0; tries < 100; tries++) {
        memcpy(tmpl, keep, strlen(keep) + 1);
        rc = pl_tmpl_fill(tmpl, suffixlen);
        if (rc < 0)
            break;
        rc = pl_path_resolve(AT_FDCWD, tmpl, bpath, NULL);
        if (rc <= 0) {
            rc = rc < 0 ? rc : -EXDEV;
            break;
        }
        rc = pl_open_bfs(bpath, O_RDWR | O_CREAT | O_EXCL | (flags & ~O_ACCMODE), 0600);
        pl_log("mkstemp %s -> %d", bpath, rc);
        if (rc != -EEXIST)
            break;
    }
    if (rc < 0)
        memcpy(tmpl, keep, strlen(keep) + 1);
    return (int)pl_ret(rc);
}

/* Is the template BenchFS's? */
static bool pl_tmpl_bfs(const char *tmpl)
{
    char bpath[PL_PATH_MAX];

    return pl_path_resolve(AT_FDCWD, tmpl, bpath, NULL) > 0;
}

PL_EXPORT int mkstemp(char *tmpl)
{
    PL_REAL(mkstemp);
    return pl_tmpl_bfs(tmpl) ? pl_mkstemp_bfs(tmpl, 0, 0) : real_mkstemp(tmpl);
}

PL_EXPORT int mkstemp64(char *tmpl)
{
    PL_REAL(mkstemp64);
    return pl_tmpl_bfs(tmpl) ? pl_mkstemp_bfs(tmpl, 0, 0) : real_mkstemp64(tmpl);
}

PL_EXPORT int mkostemp(char *tmpl, int flags)
{
    PL_REAL(mkostemp);
    return pl_tmpl_bfs(tmpl) ? pl_mkstemp_bfs(tmpl, 0, flags) : real_mkostemp(tmpl, flags);
}

PL_EXPORT int mkostemp64(char *tmpl, int flags)
{
    PL_REAL(mkostemp64);
    return pl_tmpl_bfs(tmpl) ? pl_mkstemp_bfs(tmpl, 0, flags) : real_mkostemp64(tmpl, flags);
}

PL_EXPORT int mkstemps(char *tmpl, int suffixlen)
{
    PL_REAL(mkstemps);
    return pl_tmpl_bfs(tmpl) ? pl_mkstemp_bfs(tmpl, suffixlen, 0) : real_mkstemps(tmpl, suffixlen);
}

PL_EXPORT int mkostemps(char *tmpl, int suffixlen, int flags)
{
    PL_REAL(mkostemps);
    return pl_tmpl_bfs(tmpl) ? pl_mkstemp_bfs(tmpl, suffixlen, flags)
                             : real_mkostemps(tmpl, suffixlen, flags);
}

PL_EXPORT char *mkdtemp(char *tmpl)
{
    char keep[PL_PATH_MAX];
    int tries, rc = -EEXIST;
    PL_REAL(mkdtemp);

    if (!pl_tmpl_bfs(tmpl))
        return real_mkdtemp(tmpl);
    snprintf(keep, sizeof(keep), "%s", tmpl);
    for (tries = 0; tries < 100 && rc == -EEXIST; tries++) {
        memcpy(tmpl, keep, strlen(keep) + 1);
        rc = pl_tmpl_fill(tmpl, 0);
        if (rc == 0)
            rc = mkdir(tmpl, 0700) < 0 ? -errno : 0;
    }
    if (rc < 0) {
        memcpy(tmpl, keep, strlen(keep) + 1);
        pl_ret(rc);
        return NULL;
    }
    return tmpl;
}
