/*
 * test_client_inode.c - named regression tests of issue 11, "descriptors
 * refer to inodes, not names" (docs/semantics.md), against 3 real servers
 * with 64 KiB chunks:
 *
 *   R1  all descriptors of a file in one process share one view of its size
 *   R2  O_CREAT|O_TRUNC (creat) does not detach other descriptors
 *   R3  unlink of an open file: its data stays readable and writable through
 *       the descriptor, and is freed at the last close (chunk bytes on the
 *       servers return to where they were); mkdir of the old name meanwhile
 *   R4  a descriptor whose name was unlinked and recreated never touches the
 *       new file
 *   rename over an open file (one owner and two owners), and the same done
 *   by ANOTHER client (unlink + new file, rename over, rename away): the
 *   descriptor gets ESTALE, never another file's data, never cuts the file.
 *
 * The other client is a child forked before this process connects, driven
 * through a pipe (UCX is not fork-safe).
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client_itest.h"

#define CHUNK (64 * 1024)

static int to_child[2], from_child[2];
static pid_t child = -1;

static void fill(unsigned char *buf, size_t len, unsigned salt)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = itest_pattern(i, salt);
}

/* Write len pattern bytes (salt) to a new file at path. */
static void make_file(const char *path, size_t len, unsigned salt)
{
    unsigned char *buf = malloc(len + 1);
    int fd;

    CHECK(buf != NULL);
    fill(buf, len, salt);
    fd = benchfs_open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(benchfs_pwrite(fd, buf, len, 0) == (ssize_t)len);
    CHECK(benchfs_close(fd) == 0);
    free(buf);
}

/* The file at path holds exactly len pattern bytes of salt. */
static void expect_file(const char *path, size_t len, unsigned salt)
{
    unsigned char *buf = malloc(len + 16), *want = malloc(len + 1);
    struct stat st;
    int fd;

    CHECK(buf != NULL && want != NULL);
    CHECK(benchfs_stat(path, &st) == 0);
    CHECK(st.st_size == (off_t)len);
    fd = benchfs_open(path, O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK(benchfs_pread(fd, buf, len + 16, 0) == (ssize_t)len);
    fill(want, len, salt);
    CHECK(memcmp(buf, want, len) == 0);
    CHECK(benchfs_close(fd) == 0);
    free(buf);
    free(want);
}

/* ---- chunk bytes held by the servers (outside their metadata) ---- */

static unsigned long long walk_bytes;

static int walk_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_F && strstr(path, "/meta") == NULL)
        walk_bytes += (unsigned long long)st->st_size;
    return 0;
}

static unsigned long long chunk_bytes(void)
{
    walk_bytes = 0;
    for (int i = 0; i < itest_h.nservers; i++)
        CHECK(nftw(itest_h.servers[i].data_dir, walk_cb, 16, FTW_PHYS) == 0);
    return walk_bytes;
}

/* ---- the other client ---- */

/* Child: one command per line from the parent, "ok"/"err" back. */
static int other_client(void *arg)
{
    char line[256];
    FILE *in;

    (void)arg;
    close(to_child[1]);
    close(from_child[0]);
    in = fdopen(to_child[0], "r");
    itest_connect(0);
    while (in != NULL && fgets(line, sizeof(line), in) != NULL) {
        char cmd[16], a[128], b[128];
        int n = sscanf(line, "%15s %127s %127s", cmd, a, b), rc = -1;

        if (n >= 2 && strcmp(cmd, "unlink") == 0) {
            rc = benchfs_unlink(a);
        } else if (n == 3 && strcmp(cmd, "rename") == 0) {
            rc = benchfs_rename(a, b);
        } else if (n >= 2 && strcmp(cmd, "make") == 0) {
            make_file(a, 1000, 9);
            rc = 0;
        }
        if (write(from_child[1], rc == 0 ? "ok\n" : "err\n", rc == 0 ? 3 : 4) < 0)
            break;
    }
    benchfs_disconnect();
    return 0;
}

static void start_other(void)
{
    CHECK(pipe(to_child) == 0 && pipe(from_child) == 0);
    child = itest_fork_one(other_client, NULL);
    close(to_child[0]);
    close(from_child[1]);
}

/* Ask the other client to do `cmd`; it must succeed. */
static void other(const char *cmd)
{
    char reply[8] = "";
    ssize_t n;

    CHECK(write(to_child[1], cmd, strlen(cmd)) == (ssize_t)strlen(cmd));
    CHECK(write(to_child[1], "\n", 1) == 1);
    n = read(from_child[0], reply, sizeof(reply) - 1);
    CHECK(n > 0);
    if (strncmp(reply, "ok", 2) != 0) {
        fprintf(stderr, "other client failed: %s\n", cmd);
        CHECK(0);
    }
}

static void stop_other(void)
{
    int status;

    close(to_child[1]);
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    child = -1;
}

/* ---- the regressions ---- */

/* R1: fd2 writes and closes; fd1 (opened before) sees the size and data. */
static void test_r1_shared_size(void)
{
    unsigned char buf[100], want[38];
    struct stat st;
    int fd1, fd2;

    fd1 = benchfs_open("/r1", O_RDWR | O_CREAT, 0644);
    fd2 = benchfs_open("/r1", O_WRONLY, 0);
    CHECK(fd1 >= 0 && fd2 >= 0);
    fill(want, sizeof(want), 1);
    CHECK(benchfs_write(fd2, want, sizeof(want)) == (ssize_t)sizeof(want));
    /* before any close too: one process, one view */
    CHECK(benchfs_fstat(fd1, &st) == 0 && st.st_size == 38);
    CHECK(benchfs_close(fd2) == 0);
    CHECK(benchfs_stat("/r1", &st) == 0 && st.st_size == 38);
    CHECK(benchfs_fstat(fd1, &st) == 0 && st.st_size == 38);
    CHECK(benchfs_pread(fd1, buf, sizeof(buf), 0) == 38);
    CHECK(memcmp(buf, want, 38) == 0);
    CHECK(benchfs_lseek(fd1, 0, SEEK_END) == 38);
    CHECK(benchfs_close(fd1) == 0);
    CHECK(benchfs_unlink("/r1") == 0);
}

/* R2: O_CREAT|O_TRUNC (and creat, and ftruncate) keep other descriptors. */
static void test_r2_trunc_keeps_fds(void)
{
    unsigned char buf[2000], want[45];
    struct stat st;
    int fd1, fd2, i;

    fill(want, sizeof(want), 2);
    for (i = 0; i < 3; i++) {
        make_file("/r2", 1000, 3);
        fd1 = benchfs_open("/r2", O_WRONLY, 0);
        CHECK(fd1 >= 0);
        if (i == 0)
            fd2 = benchfs_open("/r2", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        else if (i == 1)
            fd2 = benchfs_creat("/r2", 0644);
        else
            fd2 = benchfs_open("/r2", O_WRONLY | O_TRUNC, 0);
        CHECK(fd2 >= 0);
        CHECK(benchfs_fstat(fd1, &st) == 0 && st.st_size == 0);
        CHECK(benchfs_pwrite(fd1, want, sizeof(want), 0) == (ssize_t)sizeof(want));
        CHECK(benchfs_close(fd1) == 0);
        CHECK(benchfs_close(fd2) == 0);
        expect_file("/r2", sizeof(want), 2);
    }
    /* truncate down then extend: the hole reads zeros, never old bytes */
    make_file("/r2", 3 * CHUNK, 4);
    fd1 = benchfs_open("/r2", O_RDWR, 0);
    CHECK(fd1 >= 0);
    CHECK(benchfs_ftruncate(fd1, 10) == 0);
    CHECK(benchfs_ftruncate(fd1, 2 * CHUNK + 100) == 0);
    CHECK(benchfs_pread(fd1, buf, sizeof(buf), CHUNK - 1000) == (ssize_t)sizeof(buf));
    for (i = 0; i < (int)sizeof(buf); i++)
        CHECK(buf[i] == 0);
    CHECK(benchfs_pread(fd1, buf, 10, 0) == 10);
    fill(want, 10, 4);
    CHECK(memcmp(buf, want, 10) == 0);
    CHECK(benchfs_close(fd1) == 0);
    CHECK(benchfs_stat("/r2", &st) == 0 && st.st_size == 2 * CHUNK + 100);
    CHECK(benchfs_unlink("/r2") == 0);
}

/* R3: unlink of an open file keeps its data for the descriptor. */
static void test_r3_unlink_open(void)
{
    unsigned long long before;
    unsigned char *data = malloc(3 * CHUNK), *buf = malloc(3 * CHUNK);
    struct stat st;
    struct benchfs_dirent *de;
    benchfs_dir_t *d;
    int fd, fd2;

    CHECK(data != NULL && buf != NULL);
    CHECK(benchfs_mkdir("/r3", 0755) == 0);
    before = chunk_bytes();
    fill(data, 3 * CHUNK, 5);
    fd = benchfs_open("/r3/f", O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0);
    CHECK(benchfs_pwrite(fd, data, 3 * CHUNK, 0) == 3 * CHUNK);
    fd2 = benchfs_open("/r3/f", O_RDONLY, 0);
    CHECK(fd2 >= 0);
    CHECK(benchfs_unlink("/r3/f") == 0);
    CHECK_ERR(benchfs_stat("/r3/f", &st), ENOENT);
    d = benchfs_opendir("/r3");
    CHECK(d != NULL);
    while ((de = benchfs_readdir(d)) != NULL)
        CHECK(strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0);
    CHECK(benchfs_closedir(d) == 0);
    CHECK(benchfs_pread(fd, buf, 3 * CHUNK, 0) == 3 * CHUNK);
    CHECK(memcmp(buf, data, 3 * CHUNK) == 0);
    CHECK(benchfs_fstat(fd, &st) == 0 && st.st_size == 3 * CHUNK && st.st_nlink == 0);
    /* the old name becomes a directory: the descriptor does not care */
    CHECK(benchfs_mkdir("/r3/f", 0755) == 0);
    CHECK(benchfs_ftruncate(fd, 10) == 0);
    CHECK(benchfs_fstat(fd2, &st) == 0 && st.st_size == 10);
    CHECK(benchfs_pwrite(fd, data, 100, CHUNK) == 100);
    CHECK(benchfs_fsync(fd) == 0);
    CHECK(benchfs_close(fd) == 0);
    CHECK(benchfs_pread(fd2, buf, 3 * CHUNK, 0) == CHUNK + 100);
    CHECK(memcmp(buf, data, 10) == 0);
    for (int i = 10; i < CHUNK; i++)
        CHECK(buf[i] == 0);
    CHECK(memcmp(buf + CHUNK, data, 100) == 0);
    CHECK(benchfs_close(fd2) == 0);
    /* last close: the data is gone from the servers */
    CHECK(chunk_bytes() == before);
    CHECK(benchfs_stat("/r3/f", &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(benchfs_rmdir("/r3/f") == 0);
    CHECK(benchfs_rmdir("/r3") == 0);
    free(data);
    free(buf);
}

/* R4: ftruncate through a descriptor whose name was unlinked and reused. */
static void test_r4_reused_name(void)
{
    struct stat st;
    int fd1;

    fd1 = benchfs_open("/r4", O_RDWR | O_CREAT, 0644);
    CHECK(fd1 >= 0);
    CHECK(benchfs_unlink("/r4") == 0);
    make_file("/r4", 1000, 6);
    CHECK(benchfs_ftruncate(fd1, 10) == 0);
    CHECK(benchfs_fstat(fd1, &st) == 0 && st.st_size == 10);
    CHECK(benchfs_pwrite(fd1, "x", 1, 0) == 1);
    CHECK(benchfs_fsync(fd1) == 0);
    CHECK(benchfs_close(fd1) == 0);
    expect_file("/r4", 1000, 6);
    CHECK(benchfs_unlink("/r4") == 0);
}

/* Rename over open files, with names on one owner and on two. */
static void test_rename_over_open(void)
{
    unsigned char buf[1200];
    char a[32], b[32];
    struct stat st;
    int fd, i;

    for (i = 0; i < 6; i++) {
        snprintf(a, sizeof(a), "/ra%d", i);
        snprintf(b, sizeof(b), "/rb%d", i * 7);
        make_file(a, 1100, 7);
        make_file(b, 1000, 8);
        fd = benchfs_open(b, O_RDWR, 0);
        CHECK(fd >= 0);
        CHECK(benchfs_rename(a, b) == 0);
        expect_file(b, 1100, 7);
        CHECK(benchfs_pread(fd, buf, sizeof(buf), 0) == 1000);
        CHECK(benchfs_ftruncate(fd, 500) == 0);
        CHECK(benchfs_fstat(fd, &st) == 0 && st.st_size == 500);
        CHECK(benchfs_close(fd) == 0);
        expect_file(b, 1100, 7);
        /* and the open file moved: its descriptor follows it */
        fd = benchfs_open(b, O_RDWR, 0);
        CHECK(fd >= 0);
        CHECK(benchfs_rename(b, a) == 0);
        CHECK(benchfs_ftruncate(fd, 100) == 0);
        CHECK(benchfs_close(fd) == 0);
        expect_file(a, 100, 7);
        CHECK(benchfs_unlink(a) == 0);
    }
}

/* Another client removes or replaces our open file: safe errors only. */
static void test_other_client(void)
{
    struct stat st;
    int fd;

    make_file("/oc", 1000, 10);
    fd = benchfs_open("/oc", O_RDWR, 0);
    CHECK(fd >= 0);
    other("unlink /oc");
    other("make /oc");
    /* the name now holds another inode: never touch it */
    CHECK_ERR(benchfs_ftruncate(fd, 10), ESTALE);
    /* its data is gone and the servers refuse to bring it back */
    CHECK_ERR(benchfs_pwrite(fd, "zz", 2, 0), ESTALE);
    CHECK(benchfs_close(fd) == 0);
    expect_file("/oc", 1000, 9);

    /* renamed over by the other client */
    make_file("/oc2", 50, 11);
    fd = benchfs_open("/oc2", O_RDWR | O_APPEND, 0);
    CHECK(fd >= 0);
    other("rename /oc /oc2");
    CHECK_ERR(benchfs_ftruncate(fd, 1), ESTALE);
    CHECK(benchfs_fstat(fd, &st) == 0 && st.st_size == 50);
    CHECK_ERR(benchfs_write(fd, "ab", 2), ESTALE);
    CHECK(benchfs_close(fd) == 0);
    expect_file("/oc2", 1000, 9);

    /* renamed away by the other client: the file lives on, uncut */
    fd = benchfs_open("/oc2", O_RDWR, 0);
    CHECK(fd >= 0);
    other("rename /oc2 /oc3");
    CHECK_ERR(benchfs_ftruncate(fd, 1), ESTALE);
    CHECK(benchfs_close(fd) == 0);
    expect_file("/oc3", 1000, 9);
    CHECK(benchfs_unlink("/oc3") == 0);
}

int main(void)
{
    struct benchfs_options o;

    umask(022);
    itest_start(3, NULL);
    start_other();
    benchfs_options_init(&o);
    o.discovery_timeout_ms = 20000;
    o.chunk_size = CHUNK;
    CHECK(benchfs_connect(itest_h.registry, &o) == 0);
    test_r1_shared_size();
    test_r2_trunc_keeps_fds();
    test_r3_unlink_open();
    test_r4_reused_name();
    test_rename_over_open();
    test_other_client();
    stop_other();
    CHECK(benchfs_disconnect() == 0);
    itest_stop();
    printf("ok\n");
    return 0;
}
