/*
 * test_client_direct.c - direct chunk I/O (docs/architecture.md#direct-chunk-io):
 * a client on the servers' host reads and writes their chunk files itself.
 *
 *   - bytes go without requests: overwriting and reading back a 1 MiB file
 *     whose chunk files exist costs no request at all (servers' STATUS
 *     counters), and the chunk files hold exactly the bytes written;
 *   - a new file's chunks are created through the servers (one small RPC
 *     write each), holes and short chunk files read as zeros, and fsync
 *     succeeds;
 *   - a registry file whose chunk directory has other st_dev/st_ino than
 *     the directory found there (another directory of that name), and
 *     BENCHFS_DIRECT=0, turn it off: the same overwrite is all RPCs; any
 *     other value than 0 or 1 fails the connect;
 *   - a small file's bytes are no chunk file, read with no request; past
 *     4096 bytes they move into one, cut to nothing they leave none, and a
 *     restart keeps them;
 *   - chunk files the library keeps open between pieces: high numbers; a
 *     program that puts its own files under them never gets our bytes and
 *     never has them closed; none left after the file's last close or in
 *     a forked child;
 *   - after a server is killed, a read through a descriptor opened before
 *     gets the right bytes (from its data directory, until the client's
 *     pid check notices) or EIO, never anything else; restarted in the same
 *     data directory, it is reached directly again.
 *
 * 2 servers, 64 KiB chunks.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_itest.h"

#define CHUNK (64 * 1024)
#define BIG   (16 * CHUNK)

static unsigned char data[BIG], back[BIG + 64];

/* Requests made between two calls of itest_server_ops, not counting the counting. */
static uint64_t ops_since(uint64_t before, uint64_t cost)
{
    return itest_server_ops() - before - cost;
}

static uint64_t ops_cost(void)
{
    uint64_t a = itest_server_ops();

    return itest_server_ops() - a;
}

/* Bytes in all chunk files of both servers (a directory walk by hand). */
static uint64_t chunk_bytes(void)
{
    char cmd[2 * 4096 + 128];
    unsigned long long total = 0;
    FILE *p;

    snprintf(cmd, sizeof(cmd), "find '%s/chunks' '%s/chunks' -type f -printf '%%s\\n'",
             itest_h.servers[0].data_dir, itest_h.servers[1].data_dir);
    p = popen(cmd, "r");
    CHECK(p != NULL);
    for (unsigned long long v; fscanf(p, "%llu", &v) == 1;)
        total += v;
    CHECK(pclose(p) == 0);
    return total;
}

/* Overwrite all of path with data in 4 pwrites; the requests it took. */
static uint64_t overwrite(const char *path)
{
    uint64_t cost = ops_cost(), before;
    int fd = benchfs_open(path, O_WRONLY, 0);

    CHECK(fd >= 0);
    before = itest_server_ops();
    for (int i = 0; i < 4; i++)
        CHECK(benchfs_pwrite(fd, data + i * (BIG / 4), BIG / 4, i * (BIG / 4)) == BIG / 4);
    before = ops_since(before, cost);
    CHECK(benchfs_close(fd) == 0);
    return before;
}

/* Read all of path back and compare; the requests the pread took. */
static uint64_t read_back(const char *path)
{
    uint64_t cost = ops_cost(), before;
    int fd = benchfs_open(path, O_RDONLY, 0);

    CHECK(fd >= 0);
    memset(back, 0xee, sizeof(back));
    before = itest_server_ops();
    CHECK(benchfs_pread(fd, back, sizeof(back), 0) == BIG);
    before = ops_since(before, cost);
    CHECK(memcmp(back, data, BIG) == 0);
    CHECK(benchfs_close(fd) == 0);
    return before;
}

static void test_no_requests(void)
{
    uint64_t n;
    int fd;

    fd = benchfs_open("/big", O_CREAT | O_EXCL | O_WRONLY, 0644);
    CHECK(fd >= 0);
    CHECK(benchfs_close(fd) == 0);
    /* A new file: each chunk file is made by an RPC, the rest is direct. */
    n = overwrite("/big");
    printf("new file: %llu requests for 16 chunks\n", (unsigned long long)n);
    CHECK(n >= 16 && n <= 20);
    CHECK(chunk_bytes() == BIG);
    n = overwrite("/big");
    printf("overwrite: %llu requests\n", (unsigned long long)n);
    CHECK(n == 0);
    n = read_back("/big");
    printf("read: %llu requests\n", (unsigned long long)n);
    CHECK(n == 0);
}

static void test_holes(void)
{
    static const unsigned char a[100] = {1}, b[100] = {2};
    unsigned char want[5 * CHUNK + 100];
    int fd = benchfs_open("/holes", O_CREAT | O_EXCL | O_RDWR, 0644);

    CHECK(fd >= 0);
    memset(want, 0, sizeof(want));
    memcpy(want, a, sizeof(a));
    memcpy(want + 5 * CHUNK, b, sizeof(b));
    CHECK(benchfs_pwrite(fd, a, sizeof(a), 0) == sizeof(a));
    CHECK(benchfs_pwrite(fd, b, sizeof(b), 5 * CHUNK) == sizeof(b));
    /* Rewrite inside the short chunk 0: its file exists now. */
    CHECK(benchfs_pwrite(fd, a, 50, 0) == 50);
    CHECK(benchfs_fsync(fd) == 0);
    memset(back, 0xee, sizeof(back));
    CHECK(benchfs_pread(fd, back, sizeof(want) + 10, 0) == sizeof(want));
    CHECK(memcmp(back, want, sizeof(want)) == 0);
    /* A read that starts in a missing chunk. */
    CHECK(benchfs_pread(fd, back, 2 * CHUNK, 2 * CHUNK) == 2 * CHUNK);
    CHECK(memcmp(back, want + 2 * CHUNK, 2 * CHUNK) == 0);
    CHECK(benchfs_close(fd) == 0);
}

/* Write path whole (O_TRUNC) or append to it; the requests it took. */
static uint64_t put_small(const char *path, size_t len, int flags)
{
    uint64_t cost = ops_cost(), before = itest_server_ops();
    int fd = benchfs_open(path, O_CREAT | O_WRONLY | flags, 0644);

    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, data, len) == (ssize_t)len);
    CHECK(benchfs_close(fd) == 0);
    return ops_since(before, cost);
}

/* Read path, expecting want[0..len); the requests the read took. */
static uint64_t get_small(const char *path, const unsigned char *want, size_t len)
{
    uint64_t cost = ops_cost(), before;
    int fd = benchfs_open(path, O_RDONLY, 0);

    CHECK(fd >= 0);
    memset(back, 0xee, sizeof(back));
    before = itest_server_ops();
    CHECK(benchfs_pread(fd, back, len + 64, 0) == (ssize_t)len);
    before = ops_since(before, cost);
    CHECK(memcmp(back, want, len) == 0);
    CHECK(benchfs_close(fd) == 0);
    return before;
}

/* Small files (docs/architecture.md#small-files): their bytes are no chunk
 * file, and a read on their servers' host takes no request. */
static void test_small_files(void)
{
    static unsigned char twice[6000];
    uint64_t base = chunk_bytes(), n;

    n = put_small("/small", 3000, O_EXCL);
    printf("small file: %llu requests to create and write\n", (unsigned long long)n);
    CHECK(n <= 2);
    CHECK(chunk_bytes() == base);
    n = get_small("/small", data, 3000);
    printf("small file: %llu requests to read\n", (unsigned long long)n);
    CHECK(n == 0);
    /* Past 4096 bytes its first chunk becomes a chunk file. */
    memcpy(twice, data, 3000);
    memcpy(twice + 3000, data, 3000);
    put_small("/small", 3000, O_APPEND);
    CHECK(chunk_bytes() == base + 6000);
    CHECK(get_small("/small", twice, 6000) == 0);
    /* Cut to nothing and written again: small again, no file left. */
    put_small("/small", 100, O_TRUNC);
    CHECK(chunk_bytes() == base);
    CHECK(get_small("/small", data, 100) == 0);
    /* Through the servers, the same bytes. */
    CHECK(setenv("BENCHFS_DIRECT", "0", 1) == 0);
    CHECK(benchfs_disconnect() == 0);
    itest_connect_chunk(CHUNK);
    (void)get_small("/small", data, 100); /* the bytes came with the open (read at open) */
    CHECK(unsetenv("BENCHFS_DIRECT") == 0);
    CHECK(benchfs_disconnect() == 0);
    itest_connect_chunk(CHUNK);
    /* Removing a file whose chunks never went past chunk 0 asks only its
     * owner (docs/semantics.md#where-chunks-are); one that did frees its
     * chunks on every server. */
    put_small("/gone", 3000, O_EXCL);
    {
        uint64_t cost = ops_cost(), before = itest_server_ops();

        CHECK(benchfs_unlink("/gone") == 0);
        n = ops_since(before, cost);
        printf("unlink of a small file: %llu requests\n", (unsigned long long)n);
        CHECK(n == 1);
    }
    put_small("/wide", 3 * CHUNK, O_EXCL);
    CHECK(chunk_bytes() == base + 3 * CHUNK);
    {
        uint64_t cost = ops_cost(), before = itest_server_ops();

        CHECK(benchfs_unlink("/wide") == 0);
        n = ops_since(before, cost);
        printf("unlink of a 3-chunk file: %llu requests\n", (unsigned long long)n);
        CHECK(n >= 2);
    }
    CHECK(chunk_bytes() == base);
    /* Kept for the restarts below. */
    put_small("/keep", 2000, O_EXCL);
}

/* The descriptors of this process that are chunk files (numbers in fds,
 * up to max); how many. */
static int chunk_fds(int *fds, int max)
{
    char link[4096], fdpath[64];
    struct dirent *de;
    int n = 0;
    DIR *d = opendir("/proc/self/fd");

    CHECK(d != NULL);
    while ((de = readdir(d)) != NULL) {
        int fd = atoi(de->d_name);
        ssize_t len;

        snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
        len = readlink(fdpath, link, sizeof(link) - 1);
        if (len <= 0 || fd == dirfd(d))
            continue;
        link[len] = '\0';
        /* below .../chunks/, not the directory itself */
        if (strstr(link, "/chunks/") == NULL || strstr(link, "/chunks/") == link + len - 8)
            continue;
        if (n < max)
            fds[n] = fd;
        n++;
    }
    closedir(d);
    return n;
}

/* A program's fork handler that resets the client in the child, as
 * benchfs.h tells programs that fork to; registered before the client
 * connects (so it runs before the library's own), active when set. */
static volatile int reset_in_child;

static void child_resets_client(void)
{
    if (reset_in_child)
        benchfs_atfork_child();
}

/* Chunk files the library keeps open between pieces. They sit at high
 * numbers; a program that closes their numbers and opens its own files
 * there never gets a byte of ours (and the library never closes its
 * files); they go with the file's last close and in a forked child. */
static void test_kept_descriptors(void)
{
    char tmpl[] = "/tmp/benchfs-direct-XXXXXX";
    int mine = mkstemp(tmpl), fds[16], n, fd, status;
    struct stat st;
    pid_t pid;

    CHECK(mine >= 0);
    fd = benchfs_open("/big", O_RDWR, 0);
    CHECK(fd >= 0);
    /* Read first (files kept read-only), then write the same chunks. */
    CHECK(benchfs_pread(fd, back, BIG, 0) == BIG);
    CHECK(chunk_fds(fds, 16) >= 1);
    for (int i = 0; i < 4; i++)
        CHECK(benchfs_pwrite(fd, data + i * (BIG / 4), BIG / 4, i * (BIG / 4)) == BIG / 4);
    n = chunk_fds(fds, 16);
    printf("chunk files kept open: %d\n", n);
    CHECK(n >= 1 && n <= 4);
    for (int k = 0; k < n && k < 16; k++)
        CHECK(fds[k] >= 32); /* not where a program's next open() lands */
    /* A forked child closes its copies at once, also when a fork handler
     * of the program's resets the client first. */
    for (int round = 0; round < 2; round++) {
        reset_in_child = round;
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            _exit(chunk_fds(fds, 16) == 0 ? 0 : 1);
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* The program's own file under every kept number. */
    for (int k = 0; k < n && k < 16; k++)
        CHECK(dup2(mine, fds[k]) == fds[k]);
    for (int i = 0; i < 4; i++)
        CHECK(benchfs_pwrite(fd, data + i * (BIG / 4), BIG / 4, i * (BIG / 4)) == BIG / 4);
    memset(back, 0xee, sizeof(back));
    CHECK(benchfs_pread(fd, back, BIG, 0) == BIG);
    CHECK(memcmp(back, data, BIG) == 0);
    CHECK(benchfs_close(fd) == 0);
    /* The library closed none of the program's numbers, wrote none. */
    for (int k = 0; k < n && k < 16; k++) {
        CHECK(fcntl(fds[k], F_GETFD) >= 0);
        CHECK(fstat(fds[k], &st) == 0 && st.st_size == 0);
        close(fds[k]);
    }
    CHECK(fstat(mine, &st) == 0 && st.st_size == 0);
    /* The file's last close let go of its chunk files. */
    CHECK(read_back("/big") == 0);
    CHECK(chunk_fds(fds, 16) == 0);
    /* benchfs_get_many holds no file open: it keeps none. */
    {
        struct benchfs_get_file g = {.path = "/big", .buf = back, .cap = sizeof(back)};
        char small[3000];
        int sfd = benchfs_open("/mid", O_CREAT | O_TRUNC | O_WRONLY, 0644);

        memset(small, 'm', sizeof(small));
        CHECK(sfd >= 0 && benchfs_pwrite(sfd, small, sizeof(small), 5000) == sizeof(small));
        CHECK(benchfs_close(sfd) == 0);
        g.path = "/mid";
        CHECK(benchfs_get_many(&g, 1) == 0 && g.error == 0 && g.len == 8000);
        CHECK(memcmp((char *)back + 5000, small, sizeof(small)) == 0);
        CHECK(chunk_fds(fds, 16) == 0);
        CHECK(benchfs_unlink("/mid") == 0);
    }
    close(mine);
    unlink(tmpl);
}

/* Replace the st_ino of every registry file's chunk directory by 1. */
static void fake_chunk_dirs(void)
{
    for (int i = 0; i < 2; i++) {
        char path[4200], tmp[4210], *text, *at;
        FILE *f;
        long len;

        snprintf(path, sizeof(path), "%s/%s.addr", itest_h.registry, itest_h.servers[i].node_id);
        f = fopen(path, "r");
        CHECK(f != NULL);
        CHECK(fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0);
        text = malloc((size_t)len + 1);
        CHECK(text != NULL && fread(text, 1, (size_t)len, f) == (size_t)len);
        fclose(f);
        text[len] = '\0';
        at = strstr(text, "\nchunks=");
        CHECK(at != NULL);
        /* chunks=<16 hex dev>:<16 hex ino>:<path> */
        memcpy(at + 8 + 17, "0000000000000001", 16);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        f = fopen(tmp, "w");
        CHECK(f != NULL && fwrite(text, 1, (size_t)len, f) == (size_t)len);
        CHECK(fclose(f) == 0 && rename(tmp, path) == 0);
        free(text);
    }
}

int main(void)
{
    uint64_t n;
    int fd;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = itest_pattern(i, 5);
    CHECK(unsetenv("BENCHFS_DIRECT") == 0);
    CHECK(pthread_atfork(NULL, NULL, child_resets_client) == 0);
    itest_start(2, NULL);
    itest_connect_chunk(CHUNK);
    test_no_requests();
    test_holes();
    test_small_files();
    test_kept_descriptors();

    /* Off by the environment. */
    CHECK(benchfs_disconnect() == 0);
    CHECK(setenv("BENCHFS_DIRECT", "0", 1) == 0);
    itest_connect_chunk(CHUNK);
    n = overwrite("/big");
    printf("BENCHFS_DIRECT=0: overwrite took %llu requests\n", (unsigned long long)n);
    CHECK(n >= 16);
    CHECK(read_back("/big") >= 16);
    CHECK(benchfs_disconnect() == 0);
    /* A value that is neither 0 nor 1 is an error, not a guess. */
    {
        struct benchfs_options o;

        CHECK(setenv("BENCHFS_DIRECT", "no", 1) == 0);
        benchfs_options_init(&o);
        o.discovery_timeout_ms = 20000;
        CHECK_ERR(benchfs_connect(itest_h.registry, &o), EINVAL);
        CHECK(strstr(benchfs_last_error(), "BENCHFS_DIRECT") != NULL);
    }
    CHECK(unsetenv("BENCHFS_DIRECT") == 0);

    /* Off for a directory that is not the published one. */
    fake_chunk_dirs();
    itest_connect_chunk(CHUNK);
    n = overwrite("/big");
    printf("other chunk directory: overwrite took %llu requests\n", (unsigned long long)n);
    CHECK(n >= 16);
    CHECK(benchfs_disconnect() == 0);

    /* A server restarted publishes its directory again: direct once more.
     * Then kill it: what it held is still read through an open descriptor. */
    for (int i = 0; i < 2; i++) {
        CHECK(harness_stop_server(&itest_h, i, SIGTERM, 10000) >= 0);
        CHECK(harness_start_server(&itest_h, i, 20000) == 0);
    }
    itest_connect_chunk(CHUNK);
    CHECK(overwrite("/big") == 0);
    /* A small file's bytes were committed: a restart keeps them. */
    CHECK(get_small("/keep", data, 2000) == 0);
    CHECK(benchfs_unlink("/small") == 0);
    fd = benchfs_open("/big", O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK(harness_stop_server(&itest_h, 1, SIGKILL, 5000) >= 0);
    /* Read directly until the client notices (its once-a-second pid check
     * of direct servers), then EIO: never other bytes. */
    {
        uint64_t t0 = itest_now_ms();
        int direct_reads = 0;

        for (;;) {
            memset(back, 0xee, sizeof(back));
            n = (uint64_t)benchfs_pread(fd, back, BIG, 0);
            if ((ssize_t)n == -1) {
                CHECK(errno == EIO);
                break;
            }
            CHECK(n == BIG && memcmp(back, data, BIG) == 0);
            direct_reads++;
            CHECK(itest_now_ms() - t0 < 10000);
        }
        printf("after the kill: %d direct reads with all bytes, then EIO after %llu ms\n",
               direct_reads, (unsigned long long)(itest_now_ms() - t0));
    }
    benchfs_close(fd);

    /* Restarted in the same data directory: once the client has noticed
     * (pid check or a failed request) and reconnected, direct again. */
    {
        struct benchfs_server_info info;
        char addr[4200];
        int tries = 0;

        snprintf(addr, sizeof(addr), "%s/%s.addr", itest_h.registry, itest_h.servers[1].node_id);
        CHECK(unlink(addr) == 0); /* the killed server's stale file */
        CHECK(harness_start_server(&itest_h, 1, 20000) == 0);
        while (benchfs_server_info(1, &info) != 0 || info.status != 0)
            CHECK(++tries < 20);
        n = overwrite("/big");
        n = overwrite("/big");
        printf("after the restart: overwrite took %llu requests\n", (unsigned long long)n);
        CHECK(n == 0);
        CHECK(read_back("/big") == 0);
    }
    benchfs_disconnect();
    itest_stop();
    printf("ok\n");
    return 0;
}
