/*
 * bench_fs.c - the two file system backends of the IOR-like benchmark
 * (bench.h): BenchFS through its public API and a local directory through
 * plain POSIX calls, behind one set of functions so that the measured code
 * is the same for both. Also the server CPU snapshot taken through
 * benchfs_server_info().
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "benchfs.h"

void bench_fs_init(struct bench_fs *fs, enum bench_fs_kind kind, const char *root)
{
    memset(fs, 0, sizeof(*fs));
    fs->kind = kind;
    fs->name = kind == BENCH_FS_BENCHFS ? "benchfs" : "local";
    if (kind == BENCH_FS_LOCAL && root != NULL)
        snprintf(fs->root, sizeof(fs->root), "%s", root);
}

int bench_fs_connect(struct bench_fs *fs, const char *registry, unsigned expected_servers,
                     int timeout_ms)
{
    struct benchfs_options o;

    if (fs->kind == BENCH_FS_LOCAL)
        return 0;
    benchfs_options_init(&o);
    if (expected_servers > 0)
        o.expected_servers = expected_servers;
    if (timeout_ms > 0)
        o.discovery_timeout_ms = timeout_ms;
    if (benchfs_connect(registry, &o) < 0)
        return -errno;
    fs->connected = true;
    return 0;
}

void bench_fs_disconnect(struct bench_fs *fs)
{
    if (fs->kind == BENCH_FS_BENCHFS && fs->connected)
        benchfs_disconnect();
    fs->connected = false;
}

/* The backend's path of a relative name. */
static const char *fs_path(const struct bench_fs *fs, const char *rel, char *buf, size_t len)
{
    if (fs->kind == BENCH_FS_BENCHFS)
        snprintf(buf, len, "/%s", rel);
    else
        snprintf(buf, len, "%s/%s", fs->root, rel);
    return buf;
}

/* -1/errno of either API to -errno. */
static int fs_ret(long r)
{
    return r < 0 ? -(errno ? errno : EIO) : (int)r;
}

int bench_fs_open(struct bench_fs *fs, const char *rel, int flags, mode_t mode)
{
    char p[2048];

    fs_path(fs, rel, p, sizeof(p));
    errno = 0;
    if (fs->kind == BENCH_FS_BENCHFS)
        return fs_ret(benchfs_open(p, flags, mode));
    return fs_ret(open(p, flags | O_CLOEXEC, mode));
}

int bench_fs_close(struct bench_fs *fs, int fd)
{
    errno = 0;
    if (fs->kind == BENCH_FS_BENCHFS)
        return fs_ret(benchfs_close(fd));
    return fs_ret(close(fd));
}

ssize_t bench_fs_pwrite(struct bench_fs *fs, int fd, const void *buf, size_t n, off_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r;

        errno = 0;
        if (fs->kind == BENCH_FS_BENCHFS)
            r = benchfs_pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
        else
            r = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? fs_ret(r) : -EIO;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

ssize_t bench_fs_pread(struct bench_fs *fs, int fd, void *buf, size_t n, off_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r;

        errno = 0;
        if (fs->kind == BENCH_FS_BENCHFS)
            r = benchfs_pread(fd, (char *)buf + done, n - done, off + (off_t)done);
        else
            r = pread(fd, (char *)buf + done, n - done, off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return fs_ret(r);
        if (r == 0)
            break; /* end of file: the caller checks the count */
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int bench_fs_fsync(struct bench_fs *fs, int fd)
{
    errno = 0;
    if (fs->kind == BENCH_FS_BENCHFS)
        return fs_ret(benchfs_fsync(fd));
    return fs_ret(fsync(fd));
}

int bench_fs_stat(struct bench_fs *fs, const char *rel, struct stat *st)
{
    char p[2048];

    fs_path(fs, rel, p, sizeof(p));
    errno = 0;
    if (fs->kind == BENCH_FS_BENCHFS)
        return fs_ret(benchfs_stat(p, st));
    return fs_ret(stat(p, st));
}

int bench_fs_unlink(struct bench_fs *fs, const char *rel)
{
    char p[2048];

    fs_path(fs, rel, p, sizeof(p));
    errno = 0;
    if (fs->kind == BENCH_FS_BENCHFS)
        return fs_ret(benchfs_unlink(p));
    return fs_ret(unlink(p));
}

int bench_fs_mkdir(struct bench_fs *fs, const char *rel)
{
    char p[2048];
    int rc;

    fs_path(fs, rel, p, sizeof(p));
    errno = 0;
    if (fs->kind == BENCH_FS_BENCHFS)
        rc = fs_ret(benchfs_mkdir(p, 0755));
    else
        rc = fs_ret(mkdir(p, 0755));
    return rc == -EEXIST ? 0 : rc;
}

int bench_fs_rmdir(struct bench_fs *fs, const char *rel)
{
    char p[2048];

    fs_path(fs, rel, p, sizeof(p));
    errno = 0;
    if (fs->kind == BENCH_FS_BENCHFS)
        return fs_ret(benchfs_rmdir(p));
    return fs_ret(rmdir(p));
}

const char *bench_fs_error(const struct bench_fs *fs, int err)
{
    if (fs->kind == BENCH_FS_BENCHFS && benchfs_last_error()[0] != '\0')
        return benchfs_last_error();
    return strerror(err < 0 ? -err : err);
}

void bench_snap_benchfs(struct bench_srv_snap *s)
{
    int n = benchfs_server_count();

    memset(s, 0, sizeof(*s));
    if (n <= 0)
        return;
    s->ok = 1;
    s->nservers = n;
    for (int i = 0; i < n; i++) {
        struct benchfs_server_info info;

        if (benchfs_server_info(i, &info) < 0 || info.status < 0) {
            s->ok = 0;
            continue;
        }
        s->cpu_ns += info.cpu_user_ns + info.cpu_sys_ns;
        s->busy_ns += info.busy_ns;
        s->bytes_in += info.bytes_in;
        s->bytes_out += info.bytes_out;
        s->ops += info.ops;
    }
    s->at_ns = bench_now_ns();
}
