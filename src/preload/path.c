/*
 * path.c - which paths are BenchFS's (preload.h).
 *
 * The test every path-taking wrapper runs first: an absolute path is
 * BenchFS's when it equals the mount prefix or continues it with '/'; a
 * relative one when the cwd is virtual (chdir into BenchFS moved only the
 * library's idea of the cwd: the mount prefix need not exist locally) or
 * when it is relative to a BenchFS directory descriptor. Resolution is
 * lexical ("." and ".." removed textually), which is exact inside BenchFS
 * because BenchFS has no symbolic links.
 *
 * The common case (an absolute local path) costs one compare against the
 * cached prefix; a relative path with a local cwd costs one flag test.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preload/preload.h"

char pl_mount[PL_PATH_MAX];
size_t pl_mount_len;
volatile int pl_cwd_virtual;

static pthread_mutex_t pl_cwd_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Local directories above the mount ("/" for "/benchfs") opened by the
 * program: walking a path component by component with openat(dirfd,
 * "benchfs", O_PATH) - rsync's safe chdir does - enters BenchFS from them.
 */
static char *pl_anc[PL_FD_MAX];
static int pl_nanc;
static char pl_cwd[PL_PATH_MAX]; /* BenchFS path of the virtual cwd */

void pl_path_init(void)
{
    const char *m = getenv("BENCHFS_MOUNT");
    size_t n;

    if (m == NULL || m[0] == '\0')
        m = "/benchfs";
    n = strlen(m);
    while (n > 1 && m[n - 1] == '/')
        n--;
    /* A relative or root prefix would capture the whole system: inactive. */
    if (m[0] != '/' || n <= 1 || n >= sizeof(pl_mount)) {
        pl_mount_len = 0;
        return;
    }
    memcpy(pl_mount, m, n);
    pl_mount[n] = '\0';
    pl_mount_len = n;
}

/*
 * Normalize the absolute path `in` into `out` (cap bytes): collapse "//",
 * drop ".", resolve ".." textually. -ENAMETOOLONG when it does not fit.
 */
static int pl_normalize(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = in;

    while (*p != '\0') {
        const char *s;
        size_t len;

        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        s = p;
        while (*p != '\0' && *p != '/')
            p++;
        len = (size_t)(p - s);
        if (len == 1 && s[0] == '.')
            continue;
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            continue;
        }
        if (o + 1 + len + 1 > cap)
            return -ENAMETOOLONG;
        out[o++] = '/';
        memcpy(out + o, s, len);
        o += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return 0;
}

/* Is the normalized absolute path `p` under the mount? */
static inline bool pl_under_mount(const char *p)
{
    return strncmp(p, pl_mount, pl_mount_len) == 0 &&
           (p[pl_mount_len] == '/' || p[pl_mount_len] == '\0');
}

/* Turn a normalized absolute local spelling into the BenchFS path. */
static void pl_strip_mount(char *p)
{
    size_t n = strlen(p);

    if (n == pl_mount_len) {
        p[0] = '/';
        p[1] = '\0';
        return;
    }
    memmove(p, p + pl_mount_len, n - pl_mount_len + 1);
}

/* Join base (a BenchFS path) and rel into the full local spelling, normalized. */
static int pl_join(const char *base, const char *rel, char *out)
{
    char tmp[2 * PL_PATH_MAX + 2];
    int n;

    n = snprintf(tmp, sizeof(tmp), "%s%s/%s", pl_mount, strcmp(base, "/") == 0 ? "" : base, rel);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    return pl_normalize(tmp, out, PL_PATH_MAX);
}

/* Classify the normalized full path in out: BenchFS (1) or local (0). */
static int pl_classify(char *out, const char *path, const char **local_p)
{
    if (pl_under_mount(out)) {
        pl_strip_mount(out);
        return 1;
    }
    if (local_p != NULL)
        *local_p = path != NULL ? path : out;
    return 0;
}

int pl_path_resolve(int dirfd, const char *path, char *out, const char **local_p)
{
    struct pl_ofd *o;
    char base[PL_PATH_MAX];
    int rc;

    if (local_p != NULL)
        *local_p = path;
    if (pl_mount_len == 0 || path == NULL || pl_connecting)
        return 0;
    if (path[0] == '/') {
        /* Fast reject: most paths differ from the prefix in a few bytes. */
        if (path[1] != pl_mount[1] || strncmp(path, pl_mount, pl_mount_len) != 0)
            return 0;
        if (path[pl_mount_len] != '/' && path[pl_mount_len] != '\0')
            return 0;
        rc = pl_normalize(path, out, PL_PATH_MAX);
        if (rc < 0)
            return rc;
        /* "/benchfs/../x" leaves the mount: local, spelled normalized. */
        return pl_classify(out, NULL, local_p);
    }
    if (path[0] == '\0')
        return 0; /* ENOENT or AT_EMPTY_PATH: the caller decides */
    if (dirfd == AT_FDCWD) {
        if (!pl_cwd_virtual)
            return 0;
        if (!pl_cwd_get(base, sizeof(base)))
            return 0;
    } else {
        o = pl_fd_get(dirfd);
        if (o == NULL && pl_nanc > 0 && (unsigned)dirfd < PL_FD_MAX && pl_anc[dirfd] != NULL) {
            char tmp[2 * PL_PATH_MAX + 2];

            snprintf(tmp, sizeof(tmp), "%s/%s", pl_anc[dirfd], path);
            rc = pl_normalize(tmp, out, PL_PATH_MAX);
            if (rc < 0)
                return rc;
            if (!pl_under_mount(out))
                return 0;
            pl_strip_mount(out);
            return 1;
        }
        if (o == NULL)
            return 0;
        if (!o->is_dir)
            return -ENOTDIR;
        snprintf(base, sizeof(base), "%s", o->path);
    }
    rc = pl_join(base, path, out);
    if (rc < 0)
        return rc;
    return pl_classify(out, NULL, local_p);
}

void pl_path_full(const char *bpath, char *out, size_t len)
{
    if (strcmp(bpath, "/") == 0)
        snprintf(out, len, "%s", pl_mount);
    else
        snprintf(out, len, "%s%s", pl_mount, bpath);
}

int pl_cwd_set(const char *bpath)
{
    if (strlen(bpath) >= sizeof(pl_cwd))
        return -ENAMETOOLONG;
    pthread_mutex_lock(&pl_cwd_lock);
    snprintf(pl_cwd, sizeof(pl_cwd), "%s", bpath);
    pl_cwd_virtual = 1;
    pthread_mutex_unlock(&pl_cwd_lock);
    return 0;
}

void pl_cwd_clear(void)
{
    pthread_mutex_lock(&pl_cwd_lock);
    pl_cwd_virtual = 0;
    pl_cwd[0] = '\0';
    pthread_mutex_unlock(&pl_cwd_lock);
}

bool pl_cwd_get(char *out, size_t len)
{
    bool on;

    pthread_mutex_lock(&pl_cwd_lock);
    on = pl_cwd_virtual != 0;
    if (on)
        snprintf(out, len, "%s", pl_cwd);
    pthread_mutex_unlock(&pl_cwd_lock);
    return on;
}

void pl_anc_note(int fd, const char *path)
{
    char norm[PL_PATH_MAX];
    size_t n;

    if (pl_mount_len == 0 || fd < 0 || fd >= PL_FD_MAX || path == NULL || path[0] != '/' ||
        pl_normalize(path, norm, sizeof(norm)) < 0)
        return;
    n = strlen(norm);
    /* A proper ancestor: "/" or a prefix of the mount ending at a '/'. */
    if (!(n == 1 || (n < pl_mount_len && strncmp(pl_mount, norm, n) == 0 && pl_mount[n] == '/')))
        return;
    free(pl_anc[fd]);
    pl_anc[fd] = strdup(norm);
    if (pl_anc[fd] != NULL)
        __atomic_add_fetch(&pl_nanc, 1, __ATOMIC_RELAXED);
}

void pl_anc_forget(int fd)
{
    if (pl_nanc == 0 || fd < 0 || fd >= PL_FD_MAX || pl_anc[fd] == NULL)
        return;
    free(pl_anc[fd]);
    pl_anc[fd] = NULL;
    __atomic_sub_fetch(&pl_nanc, 1, __ATOMIC_RELAXED);
}
