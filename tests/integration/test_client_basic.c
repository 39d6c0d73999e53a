/*
 * test_client_basic.c - the public API against 3 real servers: files
 * (create, read, write, holes, append, truncate, multi-chunk data), the
 * namespace (stat, unlink, rename on one owner and across owners, access,
 * statvfs), directories (mkdir, rmdir, readdir, POSIX errors), descriptors,
 * and the tool calls (server_info, server_count).
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_itest.h"

#define KiB 1024
#define MiB (1024 * 1024)

static void fill(unsigned char *buf, size_t len, uint64_t off, unsigned salt)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = itest_pattern(off + i, salt);
}

static void check_pattern(const unsigned char *buf, size_t len, uint64_t off, unsigned salt)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != itest_pattern(off + i, salt)) {
            fprintf(stderr, "byte %llu: got %u want %u\n", (unsigned long long)(off + i), buf[i],
                    itest_pattern(off + i, salt));
            CHECK(0);
        }
    }
}

static void test_small_file(void)
{
    char buf[64];
    struct stat st;
    int fd;

    fd = benchfs_open("/small", O_CREAT | O_RDWR | O_EXCL, 0644);
    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, "hello world", 11) == 11);
    /* The writer sees its own size before close. */
    CHECK(benchfs_fstat(fd, &st) == 0);
    CHECK(st.st_size == 11);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 0777) == 0644);
    CHECK(benchfs_stat("/small", &st) == 0 && st.st_size == 11);
    CHECK(benchfs_lseek(fd, 0, SEEK_SET) == 0);
    memset(buf, 0, sizeof(buf));
    CHECK(benchfs_read(fd, buf, sizeof(buf)) == 11);
    CHECK(memcmp(buf, "hello world", 11) == 0);
    CHECK(benchfs_read(fd, buf, sizeof(buf)) == 0);
    CHECK(benchfs_lseek(fd, -5, SEEK_END) == 6);
    CHECK(benchfs_read(fd, buf, 5) == 5 && memcmp(buf, "world", 5) == 0);
    CHECK_ERR(benchfs_lseek(fd, -100, SEEK_CUR), EINVAL);
    CHECK_ERR(benchfs_lseek(fd, 0, 42), EINVAL);
    CHECK(benchfs_close(fd) == 0);
    CHECK_ERR(benchfs_close(fd), EBADF);

    /* After close, another open sees the size. */
    CHECK(benchfs_stat("/small", &st) == 0 && st.st_size == 11);
    CHECK_ERR(benchfs_open("/small", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
    fd = benchfs_open("/small", O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK_ERR(benchfs_write(fd, "x", 1), EBADF);
    CHECK(benchfs_pread(fd, buf, 3, 6) == 3 && memcmp(buf, "wor", 3) == 0);
    CHECK(benchfs_close(fd) == 0);

    /* O_TRUNC frees the data. */
    fd = benchfs_open("/small", O_WRONLY | O_TRUNC, 0);
    CHECK(fd >= 0);
    CHECK(benchfs_fstat(fd, &st) == 0 && st.st_size == 0);
    CHECK(benchfs_close(fd) == 0);
    CHECK(benchfs_stat("/small", &st) == 0 && st.st_size == 0);

    /* creat + O_APPEND */
    fd = benchfs_creat("/append", 0600);
    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, "abc", 3) == 3);
    CHECK(benchfs_close(fd) == 0);
    fd = benchfs_open("/append", O_WRONLY | O_APPEND, 0);
    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, "def", 3) == 3);
    CHECK(benchfs_write(fd, "gh", 2) == 2);
    CHECK(benchfs_close(fd) == 0);
    fd = benchfs_open("/append", O_RDONLY, 0);
    CHECK(benchfs_read(fd, buf, sizeof(buf)) == 8 && memcmp(buf, "abcdefgh", 8) == 0);
    CHECK(benchfs_read(fd, NULL, 0) == 0);
    CHECK(benchfs_close(fd) == 0);
}

static void test_big_file_and_holes(void)
{
    size_t len = 9 * MiB + 12345;
    unsigned char *w = malloc(len), *r = malloc(len);
    struct stat st;
    int fd;

    CHECK(w != NULL && r != NULL);
    fill(w, len, 0, 7);
    fd = benchfs_open("/big", O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(fd >= 0);
    /* Three chunks of 4 MiB and pieces of the servers' max_xfer, in one call. */
    CHECK(benchfs_pwrite(fd, w, len, 0) == (ssize_t)len);
    memset(r, 0, len);
    CHECK(benchfs_pread(fd, r, len, 0) == (ssize_t)len);
    check_pattern(r, len, 0, 7);
    /* Unaligned piece crossing a chunk boundary. */
    CHECK(benchfs_pread(fd, r, 300000, 4 * MiB - 150000) == 300000);
    check_pattern(r, 300000, 4 * MiB - 150000, 7);
    /* Reads stop at the end of file. */
    CHECK(benchfs_pread(fd, r, 1000, len - 10) == 10);
    CHECK(benchfs_pread(fd, r, 1000, len + 10) == 0);

    /* A hole: write far beyond the end; the gap reads as zeros. */
    CHECK(benchfs_pwrite(fd, "Z", 1, 20 * MiB) == 1);
    CHECK(benchfs_fstat(fd, &st) == 0 && st.st_size == 20 * MiB + 1);
    CHECK(benchfs_pread(fd, r, 2 * MiB, 12 * MiB) == 2 * MiB);
    for (size_t i = 0; i < 2 * MiB; i++)
        CHECK(r[i] == 0);
    CHECK(benchfs_pread(fd, r, 2, 20 * MiB - 1) == 2 && r[0] == 0 && r[1] == 'Z');
    CHECK(benchfs_fsync(fd) == 0);
    CHECK(benchfs_stat("/big", &st) == 0 && st.st_size == 20 * MiB + 1);

    /* ftruncate down inside a chunk, then up again: the cut part is zeros. */
    CHECK(benchfs_ftruncate(fd, 5 * MiB + 3) == 0);
    CHECK(benchfs_fstat(fd, &st) == 0 && st.st_size == 5 * MiB + 3);
    CHECK(benchfs_ftruncate(fd, 6 * MiB) == 0);
    CHECK(benchfs_pread(fd, r, 6 * MiB, 0) == 6 * MiB);
    check_pattern(r, 5 * MiB + 3, 0, 7);
    for (size_t i = 5 * MiB + 3; i < 6 * MiB; i++)
        CHECK(r[i] == 0);
    CHECK(benchfs_close(fd) == 0);
    CHECK(benchfs_truncate("/big", 10) == 0);
    CHECK(benchfs_stat("/big", &st) == 0 && st.st_size == 10);
    CHECK_ERR(benchfs_truncate("/big", -1), EINVAL);
    CHECK(benchfs_unlink("/big") == 0);
    CHECK_ERR(benchfs_stat("/big", &st), ENOENT);
    free(w);
    free(r);
}

static int count_entries(const char *path, const char *want, unsigned char *type_p)
{
    benchfs_dir_t *d = benchfs_opendir(path);
    struct benchfs_dirent *e;
    char last[256] = "";
    int n = 0;

    CHECK(d != NULL);
    while ((e = benchfs_readdir(d)) != NULL) {
        CHECK(strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0);
        CHECK(strcmp(last, e->d_name) < 0); /* sorted, no duplicates */
        snprintf(last, sizeof(last), "%s", e->d_name);
        if (want != NULL && strcmp(e->d_name, want) == 0 && type_p != NULL)
            *type_p = e->d_type;
        n++;
    }
    CHECK(errno == 0);
    CHECK(benchfs_closedir(d) == 0);
    return n;
}

static void test_dirs(void)
{
    struct stat st;
    unsigned char type = 0;
    int fd, i;
    char path[64];

    CHECK(benchfs_mkdir("/d", 0755) == 0);
    CHECK_ERR(benchfs_mkdir("/d", 0755), EEXIST);
    CHECK_ERR(benchfs_mkdir("/", 0755), EEXIST);
    CHECK_ERR(benchfs_mkdir("/nope/x", 0755), ENOENT);
    CHECK(benchfs_stat("/d", &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(benchfs_mkdir("/d/sub", 0700) == 0);
    for (i = 0; i < 50; i++) {
        snprintf(path, sizeof(path), "/d/f%02d", i);
        fd = benchfs_open(path, O_CREAT | O_WRONLY, 0644);
        CHECK(fd >= 0);
        CHECK(benchfs_write(fd, path, (size_t)i) == i);
        CHECK(benchfs_close(fd) == 0);
    }
    CHECK(count_entries("/d", "sub", &type) == 51);
    CHECK(type == DT_DIR);
    CHECK(count_entries("/d", "f07", &type) == 51 && type == DT_REG);
    CHECK_ERR(benchfs_rmdir("/d"), ENOTEMPTY);
    CHECK_ERR(benchfs_rmdir("/d/f01"), ENOTDIR);
    CHECK_ERR(benchfs_rmdir("/d/none"), ENOENT);
    CHECK_ERR(benchfs_rmdir("/"), EBUSY);
    CHECK_ERR(benchfs_unlink("/d"), EISDIR);
    CHECK(benchfs_opendir("/d/f01") == NULL && errno == ENOTDIR);
    CHECK(benchfs_opendir("/d/zz") == NULL && errno == ENOENT);

    /* POSIX errors through a file used as a directory. */
    CHECK_ERR(benchfs_open("/d/f01/x", O_CREAT | O_WRONLY, 0644), ENOTDIR);
    CHECK_ERR(benchfs_mkdir("/d/f01/x", 0755), ENOTDIR);
    CHECK_ERR(benchfs_stat("/d/f01/x", &st), ENOTDIR);
    CHECK_ERR(benchfs_open("/d/nodir/x", O_CREAT | O_WRONLY, 0644), ENOENT);
    /* Directories: EISDIR for writing, fstat-able read-only. */
    CHECK_ERR(benchfs_open("/d", O_WRONLY, 0), EISDIR);
    CHECK_ERR(benchfs_open("/d", O_CREAT | O_RDWR, 0644), EISDIR);
    CHECK_ERR(benchfs_open("/d/f01", O_RDONLY | O_DIRECTORY, 0), ENOTDIR);
    fd = benchfs_open("/d", O_RDONLY | O_DIRECTORY, 0);
    CHECK(fd >= 0);
    CHECK(benchfs_fstat(fd, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(benchfs_close(fd) == 0);

    for (i = 0; i < 50; i++) {
        snprintf(path, sizeof(path), "/d/f%02d", i);
        CHECK(benchfs_unlink(path) == 0);
    }
    CHECK(benchfs_rmdir("/d/sub") == 0);
    CHECK(count_entries("/d", NULL, NULL) == 0);
    CHECK(benchfs_rmdir("/d") == 0);
    CHECK_ERR(benchfs_stat("/d", &st), ENOENT);
    /* A name that is a file cannot become a directory (rolled back everywhere). */
    fd = benchfs_open("/fileonly", O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0 && benchfs_close(fd) == 0);
    CHECK_ERR(benchfs_mkdir("/fileonly", 0755), EEXIST);
    CHECK(benchfs_stat("/fileonly", &st) == 0 && S_ISREG(st.st_mode));
    CHECK(benchfs_unlink("/fileonly") == 0);
    CHECK(benchfs_mkdir("/fileonly", 0755) == 0);
    CHECK(benchfs_rmdir("/fileonly") == 0);
}

static void test_rename(void)
{
    char name[64], buf[32];
    struct stat st;
    int fd, i, renamed = 0;

    CHECK(benchfs_mkdir("/r", 0755) == 0);
    /* Many names so both same-owner and cross-owner renames happen. */
    for (i = 0; i < 40; i++) {
        char from[64];

        snprintf(from, sizeof(from), "/r/a%d", i);
        snprintf(name, sizeof(name), "/r/b%d", i);
        fd = benchfs_open(from, O_CREAT | O_WRONLY, 0644);
        CHECK(fd >= 0);
        CHECK(benchfs_write(fd, from, strlen(from)) == (ssize_t)strlen(from));
        CHECK(benchfs_close(fd) == 0);
        CHECK(benchfs_rename(from, name) == 0);
        CHECK_ERR(benchfs_stat(from, &st), ENOENT);
        fd = benchfs_open(name, O_RDONLY, 0);
        CHECK(fd >= 0);
        memset(buf, 0, sizeof(buf));
        CHECK(benchfs_read(fd, buf, sizeof(buf)) == (ssize_t)strlen(from));
        CHECK(strcmp(buf, from) == 0);
        CHECK(benchfs_close(fd) == 0);
        renamed++;
    }
    /* Replace an existing file: the old content is gone. */
    CHECK(benchfs_rename("/r/b1", "/r/b2") == 0);
    fd = benchfs_open("/r/b2", O_RDONLY, 0);
    memset(buf, 0, sizeof(buf));
    CHECK(benchfs_read(fd, buf, sizeof(buf)) == 5 && strcmp(buf, "/r/a1") == 0);
    CHECK(benchfs_close(fd) == 0);
    CHECK(benchfs_rename("/r/b2", "/r/b2") == 0);
    CHECK_ERR(benchfs_rename("/r/none", "/r/x"), ENOENT);
    CHECK_ERR(benchfs_rename("/r/b3", "/r/nodir/x"), ENOENT);
    CHECK_ERR(benchfs_rename("/r/b3", "/r"), ENOTEMPTY); /* Linux: target is an ancestor */
    CHECK(benchfs_mkdir("/r/dd", 0755) == 0);
    CHECK_ERR(benchfs_rename("/r/b3", "/r/dd"), EISDIR);
    CHECK(benchfs_rmdir("/r/dd") == 0);
    /* Directories: empty ones move, into themselves is EINVAL, non-empty EXDEV. */
    CHECK(benchfs_mkdir("/r/e", 0755) == 0);
    CHECK(benchfs_rename("/r/e", "/r/e2") == 0);
    CHECK(benchfs_stat("/r/e2", &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_ERR(benchfs_rename("/r/e2", "/r/e2/in"), EINVAL);
    CHECK_ERR(benchfs_rename("/r/e2", "/r/b3"), ENOTDIR);
    CHECK_ERR(benchfs_rename("/r", "/r2"), EXDEV);
    /* An open descriptor follows its file. */
    fd = benchfs_open("/r/b3", O_WRONLY, 0);
    CHECK(fd >= 0);
    CHECK(benchfs_rename("/r/b3", "/r/moved") == 0);
    CHECK(benchfs_pwrite(fd, "0123456789ABCDEF", 16, 0) == 16);
    CHECK(benchfs_close(fd) == 0);
    CHECK(benchfs_stat("/r/moved", &st) == 0 && st.st_size == 16);
    CHECK(renamed == 40);
}

static void test_misc(void)
{
    struct benchfs_server_info info;
    struct statvfs vfs;
    int i, n;

    CHECK(benchfs_access("/", F_OK) == 0);
    CHECK(benchfs_access("/", R_OK | X_OK) == 0);
    CHECK_ERR(benchfs_access("/missing", F_OK), ENOENT);
    CHECK_ERR(benchfs_access("/", 0x100), EINVAL);
    CHECK(benchfs_statvfs("/", &vfs) == 0);
    CHECK(vfs.f_bsize > 0 && vfs.f_blocks > 0 && vfs.f_namemax == 255);
    CHECK_ERR(benchfs_stat("relative", NULL), EFAULT);
    CHECK_ERR(benchfs_open("relative", O_RDONLY, 0), EINVAL);
    CHECK_ERR(benchfs_open("", O_RDONLY, 0), ENOENT);
    CHECK_ERR(benchfs_read(12345, NULL, 0), EBADF);
    n = benchfs_server_count();
    CHECK(n == 3);
    for (i = 0; i < n; i++) {
        CHECK(benchfs_server_info(i, &info) == 0);
        CHECK(info.status == 0);
        CHECK(info.pid > 0 && info.rtt_us > 0);
        printf("%s %s pid %lld rtt %.1f us ops %llu chunk_writes %llu\n", info.node_id, info.host,
               (long long)info.pid, info.rtt_us, (unsigned long long)info.ops,
               (unsigned long long)info.chunk_writes);
    }
    CHECK_ERR(benchfs_server_info(n, &info), EINVAL);
    CHECK_ERR(benchfs_connect(itest_h.registry, NULL), EALREADY);
}

/* Threads share the connection: calls are serialized, errors stay per thread. */
static void *thread_main(void *arg)
{
    int t = (int)(intptr_t)arg, i, fd;
    char path[64], buf[64], back[64];
    struct stat st;

    for (i = 0; i < 50; i++) {
        snprintf(path, sizeof(path), "/t%d_%d", t, i);
        snprintf(buf, sizeof(buf), "thread %d file %d", t, i);
        fd = benchfs_open(path, O_CREAT | O_RDWR | O_EXCL, 0644);
        CHECK(fd >= 0);
        CHECK(benchfs_write(fd, buf, strlen(buf)) == (ssize_t)strlen(buf));
        CHECK(benchfs_pread(fd, back, sizeof(back), 0) == (ssize_t)strlen(buf));
        CHECK(memcmp(back, buf, strlen(buf)) == 0);
        CHECK(benchfs_close(fd) == 0);
        /* This thread's failure message names this thread's path. */
        snprintf(path, sizeof(path), "/missing_t%d_%d", t, i);
        CHECK_ERR(benchfs_stat(path, &st), ENOENT);
        CHECK(strstr(benchfs_last_error(), path) != NULL);
        snprintf(path, sizeof(path), "/t%d_%d", t, i);
        CHECK(benchfs_unlink(path) == 0);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[4];
    int i;

    for (i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, thread_main, (void *)(intptr_t)i) == 0);
    for (i = 0; i < 4; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
}

int main(void)
{
    umask(022);
    itest_start(3, NULL);
    itest_connect(0);
    test_small_file();
    test_big_file_and_holes();
    test_dirs();
    test_rename();
    test_misc();
    test_threads();
    CHECK(benchfs_disconnect() == 0);
    itest_stop();
    printf("ok\n");
    return 0;
}
