/*
 * test_client_attr.c - attribute changes (docs/semantics.md#attributes):
 * benchfs_chmod, chown, utimens and their descriptor forms against 3 real
 * servers, each result checked in this process (stat and fstat), by
 * another client process, and for directories on every server directly
 * (every replica reports the same attributes).
 *
 *   files       chmod / chown / utimens by path; exact nanoseconds; ctime
 *   omit/now    UTIME_OMIT keeps a time, UTIME_NOW and NULL take the clock
 *   dirs        chmod / utimens / chown of a directory, by path and by a
 *               directory descriptor; a renamed directory keeps them
 *   fd          fchmod / futimens right after unpublished writes: fstat
 *               shows the change at once, the close does not undo the mtime;
 *               the same through utimens(path) of a file this process has open
 *   orphan      fchmod / futimens / fchown of a file unlinked while open
 *   write       a write after utimens moves mtime forward again
 *   errors      ENOENT, ENOTDIR, EINVAL (times), EBADF, ESTALE (the file was
 *               removed by the other client)
 *
 * The other client is a child forked before this process connects, driven
 * through a pipe (UCX is not fork-safe).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client_itest.h"
#include "rawclient.h"

#define OLD_NS  (1500000000ull * 1000000000ull + 123456789ull)
#define OLD2_NS (1400000000ull * 1000000000ull + 42ull)

static int to_child[2], from_child[2];
static pid_t child = -1;

static uint64_t ts_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts_ns(&ts);
}

static struct timespec ns_ts(uint64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000ull),
                             .tv_nsec = (long)(ns % 1000000000ull)};
}

/* ---- the other client ---- */

/* Child: one command per line, one reply line ("ok ..." or "err ERRNO"). */
static int other_client(void *arg)
{
    char line[512], reply[256];
    struct stat st;
    FILE *in;

    (void)arg;
    close(to_child[1]);
    close(from_child[0]);
    in = fdopen(to_child[0], "r");
    itest_connect(0);
    while (in != NULL && fgets(line, sizeof(line), in) != NULL) {
        char cmd[16], a[256];
        unsigned mode = 0;
        int n = sscanf(line, "%15s %255s %o", cmd, a, &mode), rc = -1;

        reply[0] = '\0';
        if (n >= 2 && strcmp(cmd, "stat") == 0) {
            rc = benchfs_stat(a, &st);
            if (rc == 0)
                snprintf(reply, sizeof(reply), "ok %o %u %u %llu %llu %llu\n", (unsigned)st.st_mode,
                         (unsigned)st.st_uid, (unsigned)st.st_gid,
                         (unsigned long long)ts_ns(&st.st_atim),
                         (unsigned long long)ts_ns(&st.st_mtim),
                         (unsigned long long)ts_ns(&st.st_ctim));
        } else if (n == 3 && strcmp(cmd, "chmod") == 0) {
            rc = benchfs_chmod(a, (mode_t)mode);
        } else if (n >= 2 && strcmp(cmd, "unlink") == 0) {
            rc = benchfs_unlink(a);
        }
        if (rc < 0)
            snprintf(reply, sizeof(reply), "err %d\n", errno);
        else if (reply[0] == '\0')
            snprintf(reply, sizeof(reply), "ok\n");
        if (write(from_child[1], reply, strlen(reply)) < 0)
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

/* Send one command, read the reply line into buf; CHECK it starts "ok". */
static void other(const char *cmd, char *buf, size_t len)
{
    size_t got = 0;
    ssize_t n;

    CHECK(write(to_child[1], cmd, strlen(cmd)) == (ssize_t)strlen(cmd));
    CHECK(write(to_child[1], "\n", 1) == 1);
    while (got + 1 < len) {
        n = read(from_child[0], buf + got, 1);
        CHECK(n == 1);
        if (buf[got++] == '\n')
            break;
    }
    buf[got] = '\0';
    if (strncmp(buf, "ok", 2) != 0) {
        fprintf(stderr, "other client failed: %s -> %s", cmd, buf);
        CHECK(0);
    }
}

struct seen {
    unsigned mode, uid, gid;
    unsigned long long atime, mtime, ctime;
};

/* The attributes the other client sees at path. */
static struct seen other_stat(const char *path)
{
    char cmd[300], buf[256];
    struct seen s;

    snprintf(cmd, sizeof(cmd), "stat %s", path);
    other(cmd, buf, sizeof(buf));
    CHECK(sscanf(buf, "ok %o %u %u %llu %llu %llu", &s.mode, &s.uid, &s.gid, &s.atime, &s.mtime,
                 &s.ctime) == 6);
    return s;
}

/* The other client sees exactly what this one's stat says. */
static void other_agrees(const char *path)
{
    struct seen s = other_stat(path);
    struct stat st;

    CHECK(benchfs_stat(path, &st) == 0);
    CHECK(s.mode == (unsigned)st.st_mode);
    CHECK(s.uid == (unsigned)st.st_uid && s.gid == (unsigned)st.st_gid);
    CHECK(s.atime == ts_ns(&st.st_atim));
    CHECK(s.mtime == ts_ns(&st.st_mtim));
    CHECK(s.ctime == ts_ns(&st.st_ctim));
}

static void stop_other(void)
{
    int status;

    close(to_child[1]);
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    child = -1;
}

static void make_file(const char *path, const char *text)
{
    int fd = benchfs_open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);

    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    CHECK(benchfs_close(fd) == 0);
}

/* ---- the cases ---- */

static void test_files(void)
{
    struct timespec ts[2] = {ns_ts(OLD2_NS), ns_ts(OLD_NS)};
    struct stat st, before;
    struct seen s;
    uint64_t t0;

    make_file("/f", "hello");
    CHECK(benchfs_stat("/f", &before) == 0);
    t0 = now_ns();
    CHECK(benchfs_chmod("/f", 0640) == 0);
    CHECK(benchfs_stat("/f", &st) == 0);
    CHECK(st.st_mode == (S_IFREG | 0640));
    CHECK(ts_ns(&st.st_mtim) == ts_ns(&before.st_mtim)); /* chmod leaves mtime */
    CHECK(ts_ns(&st.st_ctim) >= t0 - 1000000000ull);     /* servers' clock = ours */
    CHECK(st.st_size == 5 && st.st_ino == before.st_ino);
    s = other_stat("/f");
    CHECK(s.mode == (S_IFREG | 0640));
    /* file-type bits in mode are ignored, as Linux does */
    CHECK(benchfs_chmod("/f", S_IFDIR | 04751) == 0);
    CHECK(benchfs_stat("/f", &st) == 0 && st.st_mode == (S_IFREG | 04751));

    CHECK(benchfs_chown("/f", 1234, 5678) == 0);
    CHECK(benchfs_stat("/f", &st) == 0 && st.st_uid == 1234 && st.st_gid == 5678);
    CHECK(benchfs_chown("/f", (uid_t)-1, 99) == 0);
    CHECK(benchfs_stat("/f", &st) == 0 && st.st_uid == 1234 && st.st_gid == 99);
    CHECK(benchfs_chown("/f", 4321, (gid_t)-1) == 0);
    CHECK(benchfs_stat("/f", &st) == 0 && st.st_uid == 4321 && st.st_gid == 99);
    CHECK(benchfs_chown("/f", (uid_t)-1, (gid_t)-1) == 0);

    /* exact nanoseconds, older than now */
    CHECK(benchfs_utimens("/f", ts) == 0);
    CHECK(benchfs_stat("/f", &st) == 0);
    CHECK(ts_ns(&st.st_atim) == OLD2_NS);
    CHECK(ts_ns(&st.st_mtim) == OLD_NS);
    CHECK(ts_ns(&st.st_ctim) >= t0 - 1000000000ull);
    other_agrees("/f");
}

static void test_omit_now(void)
{
    struct timespec ts[2] = {ns_ts(OLD2_NS), ns_ts(OLD_NS)};
    struct stat st, before;
    uint64_t t0, t1;

    make_file("/t", "x");
    CHECK(benchfs_utimens("/t", ts) == 0);
    /* OMIT the atime, NOW the mtime */
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_nsec = UTIME_NOW;
    t0 = now_ns();
    CHECK(benchfs_utimens("/t", ts) == 0);
    t1 = now_ns();
    CHECK(benchfs_stat("/t", &st) == 0);
    CHECK(ts_ns(&st.st_atim) == OLD2_NS);
    CHECK(ts_ns(&st.st_mtim) + 1000000000ull >= t0 && ts_ns(&st.st_mtim) <= t1 + 1000000000ull);
    /* NOW the atime, OMIT the mtime */
    ts[0] = (struct timespec){.tv_sec = 0, .tv_nsec = UTIME_NOW};
    ts[1] = ns_ts(OLD_NS);
    CHECK(benchfs_utimens("/t", ts) == 0);
    ts[1].tv_nsec = UTIME_OMIT;
    CHECK(benchfs_utimens("/t", ts) == 0);
    CHECK(benchfs_stat("/t", &st) == 0);
    CHECK(ts_ns(&st.st_mtim) == OLD_NS);
    CHECK(ts_ns(&st.st_atim) + 1000000000ull >= t0);
    /* both OMIT: nothing changes, not even ctime */
    CHECK(benchfs_stat("/t", &before) == 0);
    ts[0].tv_nsec = UTIME_OMIT;
    CHECK(benchfs_utimens("/t", ts) == 0);
    CHECK(benchfs_stat("/t", &st) == 0);
    CHECK(ts_ns(&st.st_ctim) == ts_ns(&before.st_ctim));
    CHECK(ts_ns(&st.st_atim) == ts_ns(&before.st_atim));
    /* NULL: both now */
    t0 = now_ns();
    CHECK(benchfs_utimens("/t", NULL) == 0);
    CHECK(benchfs_stat("/t", &st) == 0);
    CHECK(ts_ns(&st.st_mtim) + 1000000000ull >= t0);
    CHECK(ts_ns(&st.st_atim) + 1000000000ull >= t0);
    CHECK(st.st_atim.tv_sec == st.st_mtim.tv_sec || st.st_atim.tv_sec + 1 == st.st_mtim.tv_sec);
    other_agrees("/t");
}

static void test_dirs(void)
{
    struct timespec ts[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, ns_ts(OLD_NS)};
    struct seen s;
    struct stat st;
    int dfd;

    CHECK(benchfs_mkdir("/d", 0755) == 0);
    CHECK(benchfs_mkdir("/d/sub", 0755) == 0);
    make_file("/d/sub/in", "data");
    CHECK(benchfs_chmod("/d", 0700) == 0);
    CHECK(benchfs_utimens("/d", ts) == 0);
    CHECK(benchfs_chown("/d", 11, 22) == 0);
    CHECK(benchfs_stat("/d", &st) == 0);
    CHECK(st.st_mode == (S_IFDIR | 0700) && st.st_uid == 11 && st.st_gid == 22);
    CHECK(ts_ns(&st.st_mtim) == OLD_NS);
    s = other_stat("/d");
    CHECK(s.mode == (S_IFDIR | 0700) && s.mtime == OLD_NS);
    other_agrees("/d");
    /* the directory still works as one: lookups, creates, listing */
    make_file("/d/new", "n");
    CHECK(benchfs_stat("/d/sub/in", &st) == 0 && st.st_size == 4);

    /* a directory descriptor */
    dfd = benchfs_open("/d/sub", O_RDONLY | O_DIRECTORY, 0);
    CHECK(dfd >= 0);
    CHECK(benchfs_fchmod(dfd, 0751) == 0);
    CHECK(benchfs_futimens(dfd, ts) == 0);
    CHECK(benchfs_fchown(dfd, 33, (gid_t)-1) == 0);
    CHECK(benchfs_fstat(dfd, &st) == 0);
    CHECK(st.st_mode == (S_IFDIR | 0751) && st.st_uid == 33 && ts_ns(&st.st_mtim) == OLD_NS);
    CHECK(benchfs_close(dfd) == 0);
    s = other_stat("/d/sub");
    CHECK(s.mode == (S_IFDIR | 0751) && s.uid == 33 && s.mtime == OLD_NS);
    other_agrees("/d/sub");

    /* rename of an (empty) directory keeps them */
    CHECK(benchfs_mkdir("/e", 0755) == 0);
    CHECK(benchfs_chmod("/e", 0701) == 0 && benchfs_chown("/e", 5, 6) == 0);
    CHECK(benchfs_utimens("/e", ts) == 0);
    CHECK(benchfs_rename("/e", "/e2") == 0);
    CHECK(benchfs_stat("/e2", &st) == 0);
    CHECK(st.st_mode == (S_IFDIR | 0701) && st.st_uid == 5 && st.st_gid == 6);
    CHECK(ts_ns(&st.st_mtim) == OLD_NS);
    other_agrees("/e2");
}

/* fchmod/futimens right after writes that are not published yet. */
static void test_fd(void)
{
    struct timespec ts[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, ns_ts(OLD_NS)};
    char big[100000];
    struct stat st;
    int fd;

    memset(big, 'b', sizeof(big));
    fd = benchfs_open("/w", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, big, sizeof(big)) == (ssize_t)sizeof(big));
    CHECK(benchfs_fchmod(fd, 0600) == 0);
    CHECK(benchfs_futimens(fd, ts) == 0);
    CHECK(benchfs_fstat(fd, &st) == 0);
    CHECK(st.st_mode == (S_IFREG | 0600) && ts_ns(&st.st_mtim) == OLD_NS);
    CHECK(st.st_size == (off_t)sizeof(big));
    CHECK(benchfs_close(fd) == 0);
    CHECK(benchfs_stat("/w", &st) == 0);
    CHECK(ts_ns(&st.st_mtim) == OLD_NS && st.st_size == (off_t)sizeof(big));
    other_agrees("/w");

    /* utimens by name of a file this process has open and wrote */
    fd = benchfs_open("/w2", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, big, 10) == 10);
    CHECK(benchfs_pwrite(fd, big, sizeof(big), 1 << 20) == (ssize_t)sizeof(big));
    CHECK(benchfs_utimens("/w2", ts) == 0);
    CHECK(benchfs_fstat(fd, &st) == 0 && ts_ns(&st.st_mtim) == OLD_NS);
    CHECK(benchfs_close(fd) == 0);
    CHECK(benchfs_stat("/w2", &st) == 0);
    CHECK(ts_ns(&st.st_mtim) == OLD_NS && st.st_size == (1 << 20) + (off_t)sizeof(big));
    other_agrees("/w2");

    /* read-only descriptor: fchmod works, as POSIX */
    fd = benchfs_open("/w2", O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK(benchfs_fchmod(fd, 0444) == 0);
    CHECK(benchfs_close(fd) == 0);
    CHECK(benchfs_stat("/w2", &st) == 0 && st.st_mode == (S_IFREG | 0444));
}

/* A file unlinked while open: the descriptor changes its orphan record. */
static void test_orphan(void)
{
    struct timespec ts[2] = {ns_ts(OLD2_NS), ns_ts(OLD_NS)};
    char buf[16];
    struct stat st;
    int fd;

    fd = benchfs_open("/o", O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, "orphan", 6) == 6);
    CHECK(benchfs_unlink("/o") == 0);
    make_file("/o", "new file"); /* another inode at the old name: untouched */
    CHECK(benchfs_fchmod(fd, 0604) == 0);
    CHECK(benchfs_futimens(fd, ts) == 0);
    CHECK(benchfs_fchown(fd, 7, 8) == 0);
    CHECK(benchfs_fstat(fd, &st) == 0);
    CHECK(st.st_mode == (S_IFREG | 0604) && st.st_uid == 7 && st.st_gid == 8);
    CHECK(ts_ns(&st.st_mtim) == OLD_NS && ts_ns(&st.st_atim) == OLD2_NS);
    CHECK(st.st_nlink == 0 && st.st_size == 6);
    CHECK(benchfs_pread(fd, buf, sizeof(buf), 0) == 6 && memcmp(buf, "orphan", 6) == 0);
    CHECK(benchfs_close(fd) == 0);
    CHECK(benchfs_stat("/o", &st) == 0);
    CHECK(st.st_mode == (S_IFREG | 0644) && st.st_size == 8 && ts_ns(&st.st_mtim) != OLD_NS);
}

/* A write after utimens moves mtime forward again (POSIX). */
static void test_write_after(void)
{
    struct timespec ts[2] = {ns_ts(OLD2_NS), ns_ts(OLD_NS)};
    struct stat st;
    uint64_t t0;
    int fd;

    make_file("/m", "abc");
    CHECK(benchfs_utimens("/m", ts) == 0);
    t0 = now_ns();
    fd = benchfs_open("/m", O_WRONLY | O_APPEND, 0);
    CHECK(fd >= 0);
    CHECK(benchfs_write(fd, "def", 3) == 3);
    CHECK(benchfs_close(fd) == 0);
    CHECK(benchfs_stat("/m", &st) == 0);
    CHECK(st.st_size == 6);
    CHECK(ts_ns(&st.st_mtim) + 1000000000ull >= t0);
    CHECK(ts_ns(&st.st_atim) == OLD2_NS);
    /* and a truncation does too */
    CHECK(benchfs_utimens("/m", ts) == 0);
    CHECK(benchfs_truncate("/m", 2) == 0);
    CHECK(benchfs_stat("/m", &st) == 0 && ts_ns(&st.st_mtim) + 1000000000ull >= t0);
}

static void test_errors(void)
{
    struct timespec ts[2] = {{.tv_sec = 1, .tv_nsec = 0}, {.tv_sec = 1, .tv_nsec = 1000000000}};
    struct stat st;
    int fd;

    CHECK_ERR(benchfs_chmod("/nope", 0600), ENOENT);
    CHECK_ERR(benchfs_chown("/nope/x", 1, 1), ENOENT);
    CHECK_ERR(benchfs_utimens("/nope", NULL), ENOENT);
    CHECK_ERR(benchfs_chown("/nope", (uid_t)-1, (gid_t)-1), ENOENT);
    CHECK_ERR(benchfs_chmod("/f/x", 0600), ENOTDIR);
    CHECK_ERR(benchfs_chmod("", 0600), ENOENT);
    CHECK_ERR(benchfs_chmod("relative", 0600), EINVAL);
    CHECK_ERR(benchfs_utimens("/f", ts), EINVAL);
    ts[1].tv_nsec = -1;
    CHECK_ERR(benchfs_utimens("/f", ts), EINVAL);
    ts[1] = (struct timespec){.tv_sec = -5, .tv_nsec = 0};
    CHECK_ERR(benchfs_utimens("/f", ts), EINVAL);
    CHECK_ERR(benchfs_futimens(12345, NULL), EBADF);
    CHECK_ERR(benchfs_fchmod(-1, 0600), EBADF);
    CHECK_ERR(benchfs_fchown(999, 1, 1), EBADF);
    /* nothing changed by the failures */
    CHECK(benchfs_stat("/f", &st) == 0 && ts_ns(&st.st_mtim) == OLD_NS);

    /* the other client removes the file: our descriptor is stale */
    make_file("/gone", "g");
    fd = benchfs_open("/gone", O_RDONLY, 0);
    CHECK(fd >= 0);
    {
        char buf[64];

        other("unlink /gone", buf, sizeof(buf));
    }
    CHECK_ERR(benchfs_fchmod(fd, 0600), ESTALE);
    CHECK_ERR(benchfs_futimens(fd, NULL), ESTALE);
    CHECK(benchfs_close(fd) == 0);

    /* a change by the other client is seen here */
    {
        char buf[64];

        other("chmod /f 0606", buf, sizeof(buf));
    }
    CHECK(benchfs_stat("/f", &st) == 0 && st.st_mode == (S_IFREG | 0606));
}

/* Every server holds the same record of a directory (checked after this
 * process disconnected: a raw client of each server). */
static void check_replicas(const char *path)
{
    proto_attr_t first;

    memset(&first, 0, sizeof(first));
    for (int i = 0; i < itest_h.nservers; i++) {
        struct rawclient *rc = NULL;
        union proto_body rep;

        CHECK(rawclient_connect(itest_h.registry, itest_h.servers[i].node_id, &rc) == 0);
        CHECK(rawclient_path_op(rc, PROTO_OP_STAT, path, 0, &rep) == 0);
        rawclient_close(rc);
        if (i == 0) {
            first = rep.attr_rep.attr;
            continue;
        }
        if (memcmp(&first, &rep.attr_rep.attr, sizeof(first)) != 0) {
            fprintf(stderr,
                    "%s: server %s has mode %o mtime %llu ctime %llu, server %s %o %llu %llu\n",
                    path, itest_h.servers[i].node_id, (unsigned)rep.attr_rep.attr.mode,
                    (unsigned long long)rep.attr_rep.attr.mtime_ns,
                    (unsigned long long)rep.attr_rep.attr.ctime_ns, itest_h.servers[0].node_id,
                    (unsigned)first.mode, (unsigned long long)first.mtime_ns,
                    (unsigned long long)first.ctime_ns);
            CHECK(0);
        }
    }
    CHECK(first.mtime_ns == OLD_NS);
}

int main(void)
{
    umask(022);
    itest_start(3, NULL);
    start_other();
    itest_connect(0);
    test_files();
    test_omit_now();
    test_dirs();
    test_fd();
    test_orphan();
    test_write_after();
    test_errors();
    stop_other();
    CHECK(benchfs_disconnect() == 0);
    check_replicas("/d");
    check_replicas("/d/sub");
    check_replicas("/e2");
    itest_stop();
    printf("ok\n");
    return 0;
}
