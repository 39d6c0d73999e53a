/*
 * test_client_publish.c - a small write to chunk 0 publishes the file's
 * size on its owner (PROTO_CHUNK_SETSIZE, docs/protocol.md), so that
 * open(O_CREAT) + write + close costs CREATE + CHUNK_WRITE and no SETSIZE
 * when the owner needs no metadata sync, and still ends with the right size
 * in every case the shortcut does not cover or must not break:
 *
 *   - request counts per file, read from the servers' STATUS counters:
 *     2 with metadata on tmpfs, 2 with metadata on disk (durability fsync,
 *     the default: close syncs nothing), 3 on disk with durability close
 *     (close syncs), 2 on disk with durability none, 3 for a write outside
 *     chunk 0 (SETSIZE at close);
 *   - truncation after a published write (ftruncate down, then write
 *     again: the size never comes back), O_APPEND, a file renamed before
 *     its write (chunk 0 no longer on the owner), a file unlinked while
 *     open (orphan record, by inode number);
 *   - read at open (PROTO_STAT_HEAD): open(O_RDONLY) + read + close of a
 *     file of at most 16 KiB is 1 request, of a larger one 2; a write or a
 *     truncation by this process after the open is seen by the reader.
 *
 * 3 servers, 64 KiB chunks; the disk phases use /var/tmp when it is not
 * tmpfs (skipped otherwise).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "client_itest.h"

#define CHUNK       (64 * 1024)
#define SMALL       3901
#define TMPFS_MAGIC 0x01021994

/* Requests made by fn(), not counting the counting. */
static uint64_t ops_of(void (*fn)(const char *), const char *path)
{
    uint64_t a, b, c;

    a = itest_server_ops();
    b = itest_server_ops();
    fn(path);
    c = itest_server_ops();
    /* b - a is what one itest_server_ops() costs */
    return c - b - (b - a);
}

static void fill(unsigned char *buf, size_t len, unsigned salt)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = itest_pattern(i, salt);
}

/* The file at path is exactly len bytes: want[0..len). */
static void expect_bytes(const char *path, const unsigned char *want, size_t len)
{
    unsigned char *got = malloc(len + 16);
    struct stat st;
    int fd;

    CHECK(got != NULL);
    CHECK(benchfs_stat(path, &st) == 0);
    CHECK((size_t)st.st_size == len);
    fd = benchfs_open(path, O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK(benchfs_pread(fd, got, len + 16, 0) == (ssize_t)len);
    CHECK(memcmp(got, want, len) == 0);
    CHECK(benchfs_close(fd) == 0);
    free(got);
}

static unsigned char data[2 * CHUNK];

static void small_file(const char *path)
{
    int fd = benchfs_open(path, O_CREAT | O_WRONLY | O_EXCL, 0644);

    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, data, SMALL) == SMALL);
    CHECK(benchfs_close(fd) == 0);
}

static void chunk1_file(const char *path)
{
    int fd = benchfs_open(path, O_CREAT | O_WRONLY | O_EXCL, 0644);

    CHECK(fd >= 0);
    CHECK(benchfs_pwrite(fd, data + CHUNK, SMALL, CHUNK) == SMALL);
    CHECK(benchfs_close(fd) == 0);
}

/* Request counts: 2 per small file when `no_sync`, else 3; chunk 1: 3. */
static void test_counts(bool no_sync, const char *tag)
{
    char path[64];
    unsigned char *want = calloc(1, CHUNK + SMALL);
    int i;

    CHECK(want != NULL);
    for (i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "/%s-small-%d", tag, i);
        CHECK(ops_of(small_file, path) == (no_sync ? 2 : 3));
        expect_bytes(path, data, SMALL);
    }
    snprintf(path, sizeof(path), "/%s-chunk1", tag);
    /* CREATE, the mark at chunk 0's server that chunks past it exist
     * (docs/semantics.md#where-chunks-are), the write, SETSIZE at close */
    CHECK(ops_of(chunk1_file, path) == 4);
    memcpy(want + CHUNK, data + CHUNK, SMALL);
    expect_bytes(path, want, CHUNK + SMALL);
    free(want);
}

/* A published size does not survive a later truncation by the same client. */
static void test_truncate(void)
{
    unsigned char want[SMALL];
    int fd = benchfs_open("/trunc", O_CREAT | O_RDWR, 0644);

    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, data, SMALL) == SMALL);
    CHECK(benchfs_ftruncate(fd, 100) == 0);
    CHECK(benchfs_close(fd) == 0);
    expect_bytes("/trunc", data, 100);

    fd = benchfs_open("/trunc", O_RDWR | O_TRUNC, 0);
    CHECK(fd >= 0);
    CHECK(benchfs_pwrite(fd, data, SMALL, 0) == SMALL);
    CHECK(benchfs_ftruncate(fd, 0) == 0);
    CHECK(benchfs_pwrite(fd, data + 5, 10, 5) == 10);
    CHECK(benchfs_close(fd) == 0);
    memset(want, 0, sizeof(want));
    memcpy(want + 5, data + 5, 10);
    expect_bytes("/trunc", want, 15);
}

/* O_APPEND descriptors append after published sizes. */
static void test_append(void)
{
    int fd = benchfs_open("/append", O_CREAT | O_WRONLY | O_APPEND, 0644);
    int fd2;

    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, data, 1000) == 1000);
    fd2 = benchfs_open("/append", O_WRONLY | O_APPEND, 0);
    CHECK(fd2 >= 0);
    CHECK(benchfs_write(fd2, data + 1000, 1000) == 1000);
    CHECK(benchfs_write(fd, data + 2000, SMALL - 2000) == SMALL - 2000);
    CHECK(benchfs_close(fd2) == 0);
    CHECK(benchfs_close(fd) == 0);
    expect_bytes("/append", data, SMALL);
}

/* Renamed before its write: chunk 0 may no longer be on the owner. */
static void test_renamed(void)
{
    char from[32], to[32];
    int i, fd;

    for (i = 0; i < 8; i++) {
        snprintf(from, sizeof(from), "/ren-a%d", i);
        snprintf(to, sizeof(to), "/ren-b%d", i);
        fd = benchfs_open(from, O_CREAT | O_WRONLY, 0644);
        CHECK(fd >= 0);
        CHECK(benchfs_rename(from, to) == 0);
        CHECK(benchfs_write(fd, data, SMALL) == SMALL);
        CHECK(benchfs_close(fd) == 0);
        expect_bytes(to, data, SMALL);
    }
}

/* Unlinked while open: the write publishes into the orphan record. */
static void test_orphan(void)
{
    unsigned char got[SMALL];
    struct stat st;
    int fd = benchfs_open("/orphan", O_CREAT | O_RDWR, 0644);

    CHECK(fd >= 0);
    CHECK(benchfs_unlink("/orphan") == 0);
    CHECK(benchfs_write(fd, data, SMALL) == SMALL);
    CHECK(benchfs_fstat(fd, &st) == 0);
    CHECK(st.st_size == SMALL);
    CHECK(benchfs_pread(fd, got, sizeof(got), 0) == SMALL);
    CHECK(memcmp(got, data, SMALL) == 0);
    CHECK(benchfs_close(fd) == 0);
    CHECK_ERR(benchfs_open("/orphan", O_RDONLY, 0), ENOENT);
}

static void read_small(const char *path)
{
    unsigned char got[SMALL + 16];
    int fd = benchfs_open(path, O_RDONLY, 0);

    CHECK(fd >= 0);
    CHECK(benchfs_read(fd, got, sizeof(got)) == SMALL);
    CHECK(memcmp(got, data, SMALL) == 0);
    CHECK(benchfs_read(fd, got, sizeof(got)) == 0);
    CHECK(benchfs_close(fd) == 0);
}

static void read_big(const char *path)
{
    static unsigned char got[CHUNK];
    int fd = benchfs_open(path, O_RDONLY, 0);

    CHECK(fd >= 0);
    CHECK(benchfs_read(fd, got, sizeof(got)) == 20000);
    CHECK(memcmp(got, data, 20000) == 0);
    CHECK(benchfs_close(fd) == 0);
}

/* Read at open: a small file costs one request; what this process writes
 * or cuts afterwards is seen at once; a renamed file reads right. */
static void test_read_at_open(void)
{
    unsigned char got[SMALL];
    int fd, fd2;

    small_file("/rao");
    CHECK(ops_of(read_small, "/rao") == 1);
    fd = benchfs_open("/rao-big", O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, data, 20000) == 20000);
    CHECK(benchfs_close(fd) == 0);
    CHECK(ops_of(read_big, "/rao-big") == 2);

    fd = benchfs_open("/rao", O_RDONLY, 0);
    CHECK(fd >= 0);
    fd2 = benchfs_open("/rao", O_WRONLY, 0);
    CHECK(fd2 >= 0);
    CHECK(benchfs_pwrite(fd2, data + 1, 100, 50) == 100);
    CHECK(benchfs_pread(fd, got, SMALL, 0) == SMALL);
    CHECK(memcmp(got, data, 50) == 0 && memcmp(got + 50, data + 1, 100) == 0);
    CHECK(benchfs_close(fd2) == 0);
    CHECK(benchfs_close(fd) == 0);

    fd = benchfs_open("/rao", O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK(benchfs_truncate("/rao", 10) == 0);
    CHECK(benchfs_pread(fd, got, SMALL, 0) == 10);
    CHECK(benchfs_close(fd) == 0);

    for (int i = 0; i < 8; i++) {
        char from[32], to[32];

        snprintf(from, sizeof(from), "/rao-a%d", i);
        snprintf(to, sizeof(to), "/rao-b%d", i);
        small_file(from);
        CHECK(benchfs_rename(from, to) == 0);
        read_small(to);
    }
}

static bool on_tmpfs(const char *dir)
{
    struct statfs sf;

    return statfs(dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

/* A second cluster with its data (and metadata) in dir. */
static void restart_in(const char *dir, const char *const *extra)
{
    CHECK(benchfs_disconnect() == 0);
    itest_stop();
    CHECK(setenv("TMPDIR", dir, 1) == 0);
    itest_start(3, extra);
    itest_connect_chunk(CHUNK);
}

int main(void)
{
    static const char *const none[] = {"--set", "metadata.durability=none", NULL};
    static const char *const close_sync[] = {"--set", "metadata.durability=close", NULL};
    const char *tmp = getenv("TMPDIR");

    umask(022);
    fill(data, sizeof(data), 7);
    /* Requests per operation are counted: every byte goes through RPCs
     * (direct chunk I/O would read and write them without any). */
    CHECK(setenv("BENCHFS_DIRECT", "0", 1) == 0);
    itest_start(3, NULL);
    itest_connect_chunk(CHUNK);
    test_counts(on_tmpfs(itest_h.servers[0].data_dir), "a");
    test_truncate();
    test_append();
    test_renamed();
    test_orphan();
    test_read_at_open();
    if (!on_tmpfs("/var/tmp") && access("/var/tmp", W_OK) == 0) {
        restart_in("/var/tmp", NULL);
        test_counts(true, "disk");
        test_truncate();
        restart_in("/var/tmp", close_sync);
        test_counts(false, "close");
        test_truncate();
        restart_in("/var/tmp", none);
        test_counts(true, "none");
        CHECK(setenv("TMPDIR", tmp != NULL ? tmp : "/tmp", 1) == 0);
    } else {
        printf("disk phases skipped: /var/tmp is tmpfs or not writable\n");
    }
    CHECK(benchfs_disconnect() == 0);
    itest_stop();
    printf("ok\n");
    return 0;
}
