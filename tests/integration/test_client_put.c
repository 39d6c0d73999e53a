/*
 * test_client_put.c - benchfs_put, benchfs_put_many and benchfs_get_many
 * (docs/semantics.md#put, #get) against 3 real servers:
 *
 *   many    300 files of 0..5000 bytes in one call (several requests per
 *           server): bytes, size, the mode as given (the umask does not
 *           apply), the exact mtime, or the server's clock for UTIME_NOW;
 *           read back by a second client process
 *   errors  files that fail on their own (EEXIST: a file, a directory,
 *           twice in one call; ENOENT; ENOTDIR; EINVAL mtimes; EFAULT)
 *           beside files that are made, in one call; errno is the first
 *           failure's; benchfs_put's errors
 *   large   files larger than one request (made by open, pwrite, fchmod,
 *           futimens, close) next to small ones: bytes, mode, mtime
 *   get     the 300 files read back at once (buffers of their size, and
 *           one byte short: not read), a directory, a missing path, one
 *           below a file, renamed files (their bytes stay with the server
 *           that made them: read the usual way), an empty buffer; once
 *           from the servers' stores and chunk files (no request), once
 *           with BENCHFS_DIRECT=0 through GET requests
 *   fsck    afterwards no chunk without its file, none of the failed
 *           files' bytes left
 *
 * The second client is forked before this process connects (UCX is not
 * fork-safe) and waits on a pipe until the files exist.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client_itest.h"

#define NMANY   300
#define OLD_SEC 1500000000
#define BIG     (3u << 20) /* more than a request (storage.buffer_size, 1 MiB) */

static int go[2];

static size_t many_len(int i)
{
    return (size_t)(i * 17) % 5001;
}

static mode_t many_mode(int i)
{
    static const mode_t modes[] = {0644, 0600, 0755, 0666, 0400, 0777, 0};

    return modes[i % 7];
}

/* The bytes, size, mode and mtime of /many/f<i> (0 when all match). */
static int check_many(int i)
{
    static unsigned char buf[5001];
    char path[64];
    struct stat st;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/many/f%d", i);
    if (benchfs_stat(path, &st) < 0 || (size_t)st.st_size != many_len(i) ||
        st.st_mode != (S_IFREG | many_mode(i)))
        return 1;
    if (i % 2 == 0 && (st.st_mtim.tv_sec != OLD_SEC + i || st.st_mtim.tv_nsec != i * 1000 + 7))
        return 1;
    if (i % 2 == 1 && st.st_mtim.tv_sec < time(NULL) - 600)
        return 1; /* UTIME_NOW: the server's clock */
    fd = benchfs_open(path, O_RDONLY, 0);
    if (fd < 0)
        return 1;
    n = benchfs_pread(fd, buf, sizeof(buf), 0);
    benchfs_close(fd);
    if (n != (ssize_t)many_len(i))
        return 1;
    for (size_t k = 0; k < (size_t)n; k++)
        if (buf[k] != itest_pattern(k, (unsigned)i))
            return 1;
    return 0;
}

/* The second client: waits for the go, then checks every file. */
static int reader(void *arg)
{
    char c;

    (void)arg;
    close(go[1]);
    if (read(go[0], &c, 1) != 1)
        return 1;
    if (benchfs_connect(itest_h.registry, NULL) < 0)
        return 1;
    for (int i = 0; i < NMANY; i++)
        if (check_many(i) != 0) {
            fprintf(stderr, "reader: /many/f%d differs\n", i);
            return 1;
        }
    return benchfs_disconnect() == 0 ? 0 : 1;
}

static void test_many(void)
{
    struct benchfs_put_file *files = calloc(NMANY, sizeof(*files));
    unsigned char *data = malloc((size_t)NMANY * 5001);
    char(*paths)[64] = malloc((size_t)NMANY * 64);

    CHECK(files != NULL && data != NULL && paths != NULL);
    CHECK(benchfs_mkdir("/many", 0755) == 0);
    for (int i = 0; i < NMANY; i++) {
        unsigned char *d = data + (size_t)i * 5001;

        for (size_t k = 0; k < many_len(i); k++)
            d[k] = itest_pattern(k, (unsigned)i);
        snprintf(paths[i], 64, "/many/f%d", i);
        files[i] = (struct benchfs_put_file){
            .path = paths[i],
            .data = d,
            .len = many_len(i),
            .mode = many_mode(i),
            .mtime = i % 2 == 0 ? (struct timespec){OLD_SEC + i, i * 1000 + 7}
                                : (struct timespec){0, UTIME_NOW},
            .error = -1,
        };
    }
    CHECK(benchfs_put_many(files, NMANY) == 0);
    for (int i = 0; i < NMANY; i++) {
        CHECK(files[i].error == 0);
        CHECK(check_many(i) == 0);
    }
    /* nothing made twice: a second call finds every name taken */
    CHECK_ERR(benchfs_put_many(files, NMANY), EEXIST);
    for (int i = 0; i < NMANY; i++)
        CHECK(files[i].error == EEXIST);
    free(files);
    free(data);
    free(paths);
}

static void test_errors(void)
{
    struct benchfs_put_file f[] = {
        {.path = "/err/ok1", .data = "one", .len = 3, .mode = 0640},
        {.path = "/err/taken", .data = "x", .len = 1, .mode = 0644},
        {.path = "/err/dir", .data = "x", .len = 1, .mode = 0644},
        {.path = "/err/none/f", .data = "x", .len = 1, .mode = 0644},
        {.path = "/err/taken/f", .data = "x", .len = 1, .mode = 0644},
        {.path = "/err/ok1", .data = "two", .len = 3, .mode = 0644},
        {.path = "/err/time", .data = "x", .len = 1, .mode = 0644, .mtime = {-1, 0}},
        {.path = "/err/nsec", .data = "x", .len = 1, .mode = 0644, .mtime = {1, 1000000000}},
        {.path = "/err/null", .data = NULL, .len = 1, .mode = 0644},
        {.path = "/err/ok2", .data = NULL, .len = 0, .mode = 0600},
    };
    const int want[] = {0, EEXIST, EEXIST, ENOENT, ENOTDIR, EEXIST, EINVAL, EINVAL, EFAULT, 0};
    size_t n = sizeof(f) / sizeof(f[0]);
    struct timespec t = {OLD_SEC, 5};
    char buf[8];
    struct stat st;
    int fd;

    CHECK(benchfs_mkdir("/err", 0755) == 0);
    CHECK(benchfs_mkdir("/err/dir", 0755) == 0);
    fd = benchfs_open("/err/taken", O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0 && benchfs_close(fd) == 0);
    CHECK_ERR(benchfs_put_many(f, n), EEXIST);
    for (size_t i = 0; i < n; i++)
        if (f[i].error != want[i]) {
            fprintf(stderr, "%s: error %d, expected %d\n", f[i].path, f[i].error, want[i]);
            CHECK(0);
        }
    /* the first of the two /err/ok1 was made, with its bytes */
    fd = benchfs_open("/err/ok1", O_RDONLY, 0);
    CHECK(fd >= 0 && benchfs_pread(fd, buf, sizeof(buf), 0) == 3);
    CHECK(memcmp(buf, "one", 3) == 0 && benchfs_close(fd) == 0);
    CHECK(benchfs_stat("/err/ok2", &st) == 0 && st.st_size == 0 && st.st_mode == (S_IFREG | 0600));
    CHECK(benchfs_stat("/err/taken", &st) == 0 && st.st_size == 0);
    CHECK_ERR(benchfs_stat("/err/time", &st), ENOENT);
    /* benchfs_put: the same contract for one file */
    CHECK(benchfs_put("/err/one", "abc", 3, 0604, &t) == 0);
    CHECK(benchfs_stat("/err/one", &st) == 0 && st.st_size == 3 && st.st_mode == (S_IFREG | 0604));
    CHECK(st.st_mtim.tv_sec == OLD_SEC && st.st_mtim.tv_nsec == 5);
    CHECK_ERR(benchfs_put("/err/one", "abc", 3, 0644, NULL), EEXIST);
    CHECK_ERR(benchfs_put("/", "abc", 3, 0644, NULL), EEXIST);
    CHECK_ERR(benchfs_put("/err/none/x", "abc", 3, 0644, NULL), ENOENT);
    CHECK_ERR(benchfs_put("", "abc", 3, 0644, NULL), ENOENT);
    CHECK(benchfs_put_many(f, 0) == 0);
}

static void test_large(void)
{
    unsigned char *big = malloc(BIG), *back = malloc(BIG);
    struct benchfs_put_file f[3];
    struct stat st;
    int fd;

    CHECK(big != NULL && back != NULL);
    for (size_t k = 0; k < BIG; k++)
        big[k] = itest_pattern(k, 99);
    CHECK(benchfs_mkdir("/large", 0755) == 0);
    f[0] = (struct benchfs_put_file){
        .path = "/large/big", .data = big, .len = BIG, .mode = 0666, .mtime = {OLD_SEC, 11}};
    f[1] = (struct benchfs_put_file){
        .path = "/large/small", .data = "s", .len = 1, .mode = 0600, .mtime = {OLD_SEC, 12}};
    f[2] = (struct benchfs_put_file){
        .path = "/large/none/big", .data = big, .len = BIG, .mode = 0600, .mtime = {OLD_SEC, 13}};
    CHECK_ERR(benchfs_put_many(f, 3), ENOENT);
    CHECK(f[0].error == 0 && f[1].error == 0 && f[2].error == ENOENT);
    CHECK(benchfs_stat("/large/big", &st) == 0 && st.st_size == BIG);
    CHECK(st.st_mode == (S_IFREG | 0666) && st.st_mtim.tv_sec == OLD_SEC &&
          st.st_mtim.tv_nsec == 11);
    fd = benchfs_open("/large/big", O_RDONLY, 0);
    CHECK(fd >= 0 && benchfs_pread(fd, back, BIG, 0) == (ssize_t)BIG && benchfs_close(fd) == 0);
    CHECK(memcmp(big, back, BIG) == 0);
    CHECK(benchfs_stat("/large/small", &st) == 0 && st.st_mtim.tv_nsec == 12);
    free(big);
    free(back);
}

/* Twice: looked up and read here from the servers' stores and chunk files
 * (all servers run on this host), then with BENCHFS_DIRECT=0 through GET
 * requests. `rename` the first time only. */
static void test_get(bool rename)
{
    size_t n = NMANY + 4;
    struct benchfs_get_file *g = calloc(n, sizeof(*g));
    unsigned char *data = malloc((size_t)NMANY * 5001);
    char(*paths)[64] = malloc((size_t)NMANY * 64);
    char small[8];
    uint64_t ops, cost;

    CHECK(g != NULL && data != NULL && paths != NULL);
    /* Ten renamed files: the new names' owners differ from the servers
     * holding their bytes for some of them (all ten on their own server
     * would be a chance of 3^-10). */
    if (rename)
        CHECK(benchfs_mkdir("/moved", 0755) == 0);
    for (int i = 2; rename && i < NMANY; i += 30) {
        char from[64], to[64];

        snprintf(from, sizeof(from), "/many/f%d", i);
        snprintf(to, sizeof(to), "/moved/f%d", i);
        CHECK(benchfs_rename(from, to) == 0);
    }
    for (int i = 0; i < NMANY; i++) {
        size_t short_by = i % 10 == 9 && many_len(i) > 0 ? 1 : 0;

        snprintf(paths[i], 64, i % 30 == 2 ? "/moved/f%d" : "/many/f%d", i);
        g[i] = (struct benchfs_get_file){
            .path = paths[i], .buf = data + (size_t)i * 5001, .cap = many_len(i) - short_by};
    }
    g[NMANY] = (struct benchfs_get_file){.path = "/many", .buf = small, .cap = sizeof(small)};
    g[NMANY + 1] = (struct benchfs_get_file){.path = "/many/none", .buf = small, .cap = 8};
    g[NMANY + 2] = (struct benchfs_get_file){.path = "/err/one/x", .buf = small, .cap = 8};
    g[NMANY + 3] = (struct benchfs_get_file){.path = "/err/one", .buf = NULL, .cap = 0};
    ops = itest_server_ops();
    cost = itest_server_ops() - ops; /* the counting's own requests */
    ops = itest_server_ops();
    CHECK_ERR(benchfs_get_many(g, n), ENOENT);
    ops = itest_server_ops() - ops - cost;
    printf("get of %zu paths: %llu requests (%s)\n", n, (unsigned long long)ops,
           rename ? "direct" : "BENCHFS_DIRECT=0");
    CHECK(rename ? ops == 0 : ops >= 3);
    for (int i = 0; i < NMANY; i++) {
        const unsigned char *d = g[i].buf;

        CHECK(g[i].error == 0);
        CHECK(g[i].st.st_size == (off_t)many_len(i) && g[i].st.st_mode == (S_IFREG | many_mode(i)));
        if (i % 2 == 0)
            CHECK(g[i].st.st_mtim.tv_sec == OLD_SEC + i && g[i].st.st_mtim.tv_nsec == i * 1000 + 7);
        if (g[i].cap < many_len(i)) {
            CHECK(g[i].len == -1);
            continue;
        }
        CHECK(g[i].len == (ssize_t)many_len(i));
        for (size_t k = 0; k < many_len(i); k++)
            CHECK(d[k] == itest_pattern(k, (unsigned)i));
    }
    CHECK(g[NMANY].error == 0 && S_ISDIR(g[NMANY].st.st_mode) && g[NMANY].len == -1);
    CHECK(g[NMANY + 1].error == ENOENT && g[NMANY + 1].len == -1);
    CHECK(g[NMANY + 2].error == ENOTDIR);
    CHECK(g[NMANY + 3].error == 0 && g[NMANY + 3].st.st_size == 3 && g[NMANY + 3].len == -1);
    CHECK(benchfs_get_many(g, 0) == 0);
    free(g);
    free(data);
    free(paths);
}

int main(void)
{
    struct benchfs_fsck_report r;
    pid_t pid;
    int ws;

    umask(077); /* must not change the modes given */
    itest_start(3, NULL);
    CHECK(pipe(go) == 0);
    pid = itest_fork_one(reader, NULL);
    close(go[0]);
    itest_connect(0);
    test_many();
    CHECK(write(go[1], "g", 1) == 1);
    close(go[1]);
    test_errors();
    test_large();
    CHECK(waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    test_get(true); /* renames one of the files the reader checked */
    CHECK(benchfs_disconnect() == 0);
    CHECK(setenv("BENCHFS_DIRECT", "0", 1) == 0);
    itest_connect(0);
    test_get(false);
    CHECK(benchfs_fsck(0, NULL, NULL, &r) == 0);
    CHECK(r.orphan_sets == 0 && r.orphan_chunks == 0 && r.errors == 0);
    CHECK(benchfs_disconnect() == 0);
    itest_stop();
    printf("ok\n");
    return 0;
}
