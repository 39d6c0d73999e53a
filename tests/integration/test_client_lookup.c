/*
 * test_client_lookup.c - direct metadata reads
 * (docs/architecture.md#direct-metadata-reads): a client on the servers'
 * host answers a path's STAT from the owner's metadata store itself.
 *
 *   - stats of files and directories owned by either server, ENOENT and
 *     ENOTDIR, open + read of a small file and listings of a directory
 *     (names, types and sizes) cost no request (servers' STATUS counters),
 *     with the attributes the servers hold;
 *   - every change this client made is seen at once: a write published at
 *     close, chmod, utimens, rename, unlink, mkdir and rmdir;
 *   - so is every change another process made: a forked client changes
 *     files and exits; the parent's next stats see the changes, and its
 *     readers still work after the child's went away;
 *   - BENCHFS_DIRECT=0: every stat is a request;
 *   - a stopped (SIGSTOP) server's committed records are still read; a
 *     killed one's are not used past the client's pid check (EIO, never
 *     stale attributes for long); restarted on an empty data directory,
 *     or with only its metadata store wiped, its old files are gone
 *     (ENOENT), not served from the old store;
 *   - the descriptors on the stores are close-on-exec.
 *
 * 2 servers.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client_itest.h"
#include "common/ring.h"

/* Requests made between two calls of itest_server_ops, not counting the
 * counting itself. */
static uint64_t ops_cost;
static uint64_t ops_since(uint64_t before)
{
    return itest_server_ops() - before - ops_cost;
}

/* A path under prefix whose record lives on server `want`. */
static void path_on(size_t want, const char *prefix, char *out, size_t len)
{
    static const char *ids[2] = {"node_0", "node_1"};
    static int seq;
    struct ring *ring;

    CHECK(ring_create(ids, 2, 0, &ring) == 0);
    for (;; seq++) {
        snprintf(out, len, "%s%d", prefix, seq);
        if (ring_owner_path(ring, out) == want)
            break;
    }
    seq++;
    ring_destroy(ring);
}

static void write_file(const char *path, size_t len, unsigned salt)
{
    unsigned char buf[8192];
    int fd = benchfs_open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

    CHECK(fd >= 0 && len <= sizeof(buf));
    for (size_t i = 0; i < len; i++)
        buf[i] = itest_pattern(i, salt);
    CHECK(benchfs_write(fd, buf, len) == (ssize_t)len);
    CHECK(benchfs_close(fd) == 0);
}

static void check_size(const char *path, off_t size)
{
    struct stat st;

    CHECK(benchfs_stat(path, &st) == 0);
    CHECK(S_ISREG(st.st_mode) && st.st_size == size);
}

static char file[2][64], dir[2][64];

static void test_no_requests(void)
{
    unsigned char buf[8192];
    struct stat st;
    char sub[160];
    uint64_t before, n;
    int fd;

    for (int s = 0; s < 2; s++) {
        path_on((size_t)s, "/f", file[s], sizeof(file[s]));
        path_on((size_t)s, "/d", dir[s], sizeof(dir[s]));
        write_file(file[s], 3901, (unsigned)s);
        CHECK(benchfs_mkdir(dir[s], 0750) == 0);
    }
    before = itest_server_ops();
    for (int s = 0; s < 2; s++) {
        check_size(file[s], 3901);
        CHECK(benchfs_stat(dir[s], &st) == 0 && S_ISDIR(st.st_mode));
        CHECK((st.st_mode & 07777) == 0750);
        snprintf(sub, sizeof(sub), "%s/missing", dir[s]);
        CHECK_ERR(benchfs_stat(sub, &st), ENOENT);
        snprintf(sub, sizeof(sub), "%s/below", file[s]);
        CHECK_ERR(benchfs_stat(sub, &st), ENOTDIR);
        /* Open for reading: the lookup and the bytes, both here. */
        fd = benchfs_open(file[s], O_RDONLY, 0);
        CHECK(fd >= 0);
        CHECK(benchfs_read(fd, buf, sizeof(buf)) == 3901);
        for (size_t i = 0; i < 3901; i++)
            CHECK(buf[i] == itest_pattern(i, (unsigned)s));
        CHECK(benchfs_close(fd) == 0);
    }
    n = ops_since(before);
    printf("stats, misses and small reads on both servers: %llu requests\n", (unsigned long long)n);
    CHECK(n == 0);
}

/* The names in directory path, sorted, joined by commas. */
static int name_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void list_names(const char *path, char *out, size_t len)
{
    static char names[64][64];
    struct benchfs_dirent *de;
    benchfs_dir_t *d = benchfs_opendir(path);
    size_t n = 0, used = 0;

    CHECK(d != NULL);
    while ((de = benchfs_readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        CHECK(n < 64);
        CHECK(strlen(de->d_name) < 64);
        memcpy(names[n++], de->d_name, strlen(de->d_name) + 1);
    }
    CHECK(benchfs_closedir(d) == 0);
    qsort(names, n, sizeof(names[0]), name_cmp);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "," : "", names[i]);
}

/* Listings: every server's part read here; what changed is seen. */
static void test_listing(void)
{
    char got[4096], path[128];
    uint64_t before, n;
    struct benchfs_dirent *de;
    benchfs_dir_t *d;

    CHECK(benchfs_mkdir("/ls", 0755) == 0);
    for (int i = 0; i < 20; i++) {
        snprintf(path, sizeof(path), "/ls/f%02d", i);
        write_file(path, (size_t)i, 1);
    }
    CHECK(benchfs_mkdir("/ls/sub", 0755) == 0);
    before = itest_server_ops();
    list_names("/ls", got, sizeof(got));
    n = ops_since(before);
    printf("listing of 21 entries over 2 servers: %llu requests\n", (unsigned long long)n);
    CHECK(n == 0);
    CHECK(strcmp(got, "f00,f01,f02,f03,f04,f05,f06,f07,f08,f09,f10,f11,f12,f13,f14,f15,f16,"
                      "f17,f18,f19,sub") == 0);
    /* Sizes and types come with the entries (readdirplus). */
    d = benchfs_opendir("/ls");
    CHECK(d != NULL);
    while ((de = benchfs_readdir(d)) != NULL) {
        if (de->d_name[0] == 'f')
            CHECK(de->d_type == DT_REG && de->d_size == (uint64_t)atoi(de->d_name + 1));
        else if (strcmp(de->d_name, "sub") == 0)
            CHECK(de->d_type == DT_DIR);
    }
    CHECK(benchfs_closedir(d) == 0);
    CHECK(benchfs_unlink("/ls/f03") == 0);
    CHECK(benchfs_rename("/ls/f04", "/ls/g04") == 0);
    list_names("/ls", got, sizeof(got));
    CHECK(strcmp(got, "f00,f01,f02,f05,f06,f07,f08,f09,f10,f11,f12,f13,f14,f15,f16,f17,f18,"
                      "f19,g04,sub") == 0);
    CHECK(benchfs_opendir("/ls/f00") == NULL && errno == ENOTDIR);
    CHECK(benchfs_opendir("/ls/none") == NULL && errno == ENOENT);
    CHECK_ERR(benchfs_rmdir("/ls"), ENOTEMPTY);
    CHECK(benchfs_rmdir("/ls/sub") == 0);
}

/* Changes of this client: each seen by the next stat. */
static void test_own_changes(void)
{
    struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 5},
                             {.tv_sec = 1234567890, .tv_nsec = 7}};
    struct stat st;
    char to[64];

    for (int s = 0; s < 2; s++) {
        write_file(file[s], 5000, 9);
        check_size(file[s], 5000);
        CHECK(benchfs_chmod(file[s], 0600) == 0);
        CHECK(benchfs_stat(file[s], &st) == 0 && (st.st_mode & 07777) == 0600);
        CHECK(benchfs_utimens(file[s], ts) == 0);
        CHECK(benchfs_stat(file[s], &st) == 0 && st.st_mtim.tv_sec == 1234567890 &&
              st.st_mtim.tv_nsec == 7);
        /* Renamed to a name the other server owns, and back. */
        path_on((size_t)(1 - s), "/moved", to, sizeof(to));
        CHECK(benchfs_rename(file[s], to) == 0);
        CHECK_ERR(benchfs_stat(file[s], &st), ENOENT);
        check_size(to, 5000);
        CHECK(benchfs_rename(to, file[s]) == 0);
        CHECK_ERR(benchfs_stat(to, &st), ENOENT);
        check_size(file[s], 5000);
        CHECK(benchfs_rmdir(dir[s]) == 0);
        CHECK_ERR(benchfs_stat(dir[s], &st), ENOENT);
        CHECK(benchfs_mkdir(dir[s], 0700) == 0);
        CHECK(benchfs_stat(dir[s], &st) == 0 && (st.st_mode & 07777) == 0700);
    }
}

/* A forked client: grows file[0], removes file[1], makes dir[0]/new. */
static int other_process(void *arg)
{
    char path[128];

    (void)arg;
    itest_connect(0);
    write_file(file[0], 7000, 3);
    CHECK(benchfs_unlink(file[1]) == 0);
    snprintf(path, sizeof(path), "%s/new", dir[0]);
    write_file(path, 10, 4);
    CHECK(benchfs_disconnect() == 0);
    return 0;
}

static void test_other_process(void)
{
    char path[128];
    struct stat st;
    int status;
    pid_t pid;

    pid = itest_fork_one(other_process, NULL);
    CHECK(pid > 0);
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    itest_connect(0);
    check_size(file[0], 7000);
    CHECK_ERR(benchfs_stat(file[1], &st), ENOENT);
    snprintf(path, sizeof(path), "%s/new", dir[0]);
    check_size(path, 10);
    write_file(file[1], 100, 5);
    check_size(file[1], 100);
}

/* Restart server s, killed before, after removing its data directory's
 * `sub` ("" the whole of it); wait until this client reaches it. Then
 * file[s] is gone, and made anew with `size` bytes it is read here again. */
static void restart_wiped(int s, const char *sub, size_t size)
{
    struct stat st;
    uint64_t before;
    char cmd[1200], addr[4200];
    struct benchfs_server_info info;
    int tries = 0;

    snprintf(addr, sizeof(addr), "%s/%s.addr", itest_h.registry, itest_h.servers[s].node_id);
    CHECK(unlink(addr) == 0); /* the killed server's stale file */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s%s'", itest_h.servers[s].data_dir, sub);
    CHECK(system(cmd) == 0);
    CHECK(harness_start_server(&itest_h, s, 20000) == 0);
    while (benchfs_server_info(s, &info) != 0 || info.status != 0)
        CHECK(++tries < 20);
    CHECK_ERR(benchfs_stat(file[s], &st), ENOENT);
    write_file(file[s], size, (unsigned)size);
    before = itest_server_ops();
    check_size(file[s], (off_t)size);
    CHECK(ops_since(before) == 0);
}

/* Every descriptor of this process on a metadata store is close-on-exec,
 * and there is one. */
static void check_stores_cloexec(void)
{
    char link[300], target[4200];
    struct dirent *de;
    DIR *d = opendir("/proc/self/fd");
    int found = 0;

    CHECK(d != NULL);
    while ((de = readdir(d)) != NULL) {
        ssize_t n;
        size_t len;

        if (de->d_name[0] == '.')
            continue;
        snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
        n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        len = (size_t)n;
        if (len > 4 && strcmp(target + len - 4, ".mdb") == 0) {
            CHECK((fcntl(atoi(de->d_name), F_GETFD) & FD_CLOEXEC) != 0);
            found++;
        }
    }
    closedir(d);
    printf("store descriptors, all close-on-exec: %d\n", found);
    CHECK(found > 0);
}

int main(void)
{
    struct stat st;
    uint64_t before, t0;
    int n;

    CHECK(unsetenv("BENCHFS_DIRECT") == 0);
    itest_start(2, NULL);
    itest_connect(0);
    before = itest_server_ops();
    ops_cost = itest_server_ops() - before;

    test_no_requests();
    test_listing();
    test_own_changes();
    /* UCX is not fork-safe: the child runs while this client is away. */
    CHECK(benchfs_disconnect() == 0);
    test_other_process();
    CHECK(benchfs_disconnect() == 0);

    /* Through the servers when asked. */
    CHECK(setenv("BENCHFS_DIRECT", "0", 1) == 0);
    itest_connect(0);
    before = itest_server_ops();
    for (n = 0; n < 10; n++)
        check_size(file[n % 2], n % 2 ? 100 : 7000);
    t0 = ops_since(before);
    printf("BENCHFS_DIRECT=0: 10 stats took %llu requests\n", (unsigned long long)t0);
    CHECK(t0 >= 10);
    CHECK(benchfs_disconnect() == 0);
    CHECK(unsetenv("BENCHFS_DIRECT") == 0);

    /* A stopped server's committed records are still read here. */
    itest_connect(0);
    CHECK(kill(itest_h.servers[1].pid, SIGSTOP) == 0);
    check_size(file[1], 100);
    check_size(file[0], 7000);
    CHECK(kill(itest_h.servers[1].pid, SIGCONT) == 0);

    /* A killed one's are used until the client's pid check (once a
     * second) at most, then never: the stat goes to the server and fails. */
    CHECK(harness_stop_server(&itest_h, 1, SIGKILL, 5000) >= 0);
    t0 = itest_now_ms();
    n = 0;
    for (;;) {
        int rc = benchfs_stat(file[1], &st);

        if (rc != 0) {
            CHECK(errno == EIO || errno == ETIMEDOUT || errno == ECONNREFUSED);
            break;
        }
        CHECK(st.st_size == 100);
        n++;
        CHECK(itest_now_ms() - t0 < 5000);
    }
    printf("after the kill: %d stats from its store, then '%s' after %llu ms\n", n,
           benchfs_last_error(), (unsigned long long)(itest_now_ms() - t0));
    check_size(file[0], 7000);

    /* Restarted on an empty data directory: a new store, read anew. */
    restart_wiped(1, "", 33);
    /* Only its metadata store wiped (the chunk directory the same): the
     * old store is not read for the new one. */
    CHECK(harness_stop_server(&itest_h, 1, SIGKILL, 5000) >= 0);
    restart_wiped(1, "/meta", 44);
    /* A program this one execs inherits no handle on a store. */
    check_stores_cloexec();
    CHECK(benchfs_disconnect() == 0);
    itest_stop();
    printf("ok\n");
    return 0;
}
