/*
 * test_registry_files.c - unit tests of src/registry on a private temporary
 * directory per test: publish/read round trip, atomic publication (temps are
 * invisible to readers), mode 0600, strict parsing (each corruption gives an
 * error naming file:line), stale and foreign files, natural ordering,
 * waiting (servers appearing from a forked child, timeouts naming what is
 * missing), concurrent cookie creation by 8 processes, and unpublish.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "registry/registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ADDR_LEN 300

static const uint8_t test_cookie[REGISTRY_COOKIE_LEN] = {1, 2,  3,  4,  5,  6,  7,  8,
                                                         9, 10, 11, 12, 13, 14, 15, 16};

/* ---- helpers ---------------------------------------------------------- */

static int setup_dir(void **state)
{
    char *dir = strdup("/tmp/benchfs-registry-test-XXXXXX");

    if (dir == NULL || mkdtemp(dir) == NULL)
        return -1;
    *state = dir;
    return 0;
}

static int teardown_dir(void **state)
{
    char *dir = *state;
    char path[PATH_MAX];
    struct dirent *d;
    DIR *dp = opendir(dir);

    if (dp != NULL) {
        while ((d = readdir(dp)) != NULL) {
            if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
            if (unlink(path) != 0)
                rmdir(path);
        }
        closedir(dp);
    }
    rmdir(dir);
    free(dir);
    return 0;
}

static void write_file(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[PATH_MAX];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_cookie(const char *dir, const uint8_t *cookie)
{
    char text[2 * REGISTRY_COOKIE_LEN + 2];

    registry_hex_encode(cookie, REGISTRY_COOKIE_LEN, text);
    strcat(text, "\n");
    write_file(dir, "cookie", text, strlen(text));
}

static void make_entry(struct registry_entry *e, const char *node_id, int64_t pid)
{
    size_t i;

    memset(e, 0, sizeof(*e));
    snprintf(e->node_id, sizeof(e->node_id), "%s", node_id);
    memcpy(e->cookie, test_cookie, REGISTRY_COOKIE_LEN);
    e->pid = pid;
    assert_int_equal(gethostname(e->host, sizeof(e->host) - 1), 0);
    e->max_xfer = 1048576;
    e->started_ns = 1700000000000000000ull;
    e->addr_len = ADDR_LEN;
    e->addr = malloc(ADDR_LEN);
    assert_non_null(e->addr);
    for (i = 0; i < ADDR_LEN; i++)
        ((uint8_t *)e->addr)[i] = (uint8_t)(i * 13 + 5);
}

static void publish(const char *dir, const char *node_id, int64_t pid)
{
    struct registry_entry e;
    char err[512];
    int rc;

    make_entry(&e, node_id, pid);
    rc = registry_publish(dir, &e, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "publish: %s\n", err);
    assert_int_equal(rc, 0);
    registry_entry_cleanup(&e);
}

/* Count directory entries other than . and .. */
static unsigned count_files(const char *dir)
{
    struct dirent *d;
    DIR *dp = opendir(dir);
    unsigned n = 0;

    assert_non_null(dp);
    while ((d = readdir(dp)) != NULL) {
        if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
            n++;
    }
    closedir(dp);
    return n;
}

/* A pid that certainly is not running: a reaped child's. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    int st;

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return pid;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL) {
        fprintf(stderr, "expected \"%s\" in \"%s\"\n", needle, haystack);
        fail();
    }
}

/* ---- tests ------------------------------------------------------------ */

static void test_hex_and_node_ids(void **state)
{
    uint8_t in[5] = {0x00, 0x7f, 0x80, 0xab, 0xff}, out[5];
    char hex[11];

    registry_hex_encode(in, sizeof(in), hex);
    assert_string_equal(hex, "007f80abff");
    assert_int_equal(registry_hex_decode(hex, 10, out, sizeof(out)), 0);
    assert_memory_equal(in, out, sizeof(in));
    assert_int_equal(registry_hex_decode("007F80ABFF", 10, out, sizeof(out)), 0);
    assert_int_equal(registry_hex_decode("007f80abf", 9, out, sizeof(out)), -EINVAL);
    assert_int_equal(registry_hex_decode("007f80abfg", 10, out, sizeof(out)), -EINVAL);

    assert_true(registry_node_id_valid("node_0"));
    assert_true(registry_node_id_valid("server"));
    assert_true(registry_node_id_valid("a.b-c_D9"));
    assert_false(registry_node_id_valid(""));
    assert_false(registry_node_id_valid(NULL));
    assert_false(registry_node_id_valid(".hidden"));
    assert_false(registry_node_id_valid("node 0"));
    assert_false(registry_node_id_valid("a/b"));
    assert_true(
        registry_node_id_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_false(
        registry_node_id_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_dir_check(void **state)
{
    const char *dir = *state;
    char err[512], path[PATH_MAX];

    assert_int_equal(registry_dir_check(dir, err, sizeof(err)), 0);

    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(registry_dir_check(path, err, sizeof(err)), -ENOENT);
    assert_contains(err, "Registry directory does not exist");
    assert_contains(err, path);
    assert_contains(err, "mkdir -p");

    write_file(dir, "plain", "x", 1);
    snprintf(path, sizeof(path), "%s/plain", dir);
    assert_int_equal(registry_dir_check(path, err, sizeof(err)), -ENOTDIR);
    assert_contains(err, "not a directory");
    assert_contains(err, path);

    assert_int_equal(registry_dir_check("", err, sizeof(err)), -EINVAL);

    /* root may write anywhere: the permission case only means something for others */
    if (geteuid() != 0) {
        snprintf(path, sizeof(path), "%s/ro", dir);
        assert_int_equal(mkdir(path, 0500), 0);
        assert_int_equal(registry_dir_check(path, err, sizeof(err)), -EACCES);
        assert_contains(err, "not writable");
        chmod(path, 0700);
    }
}

static void test_publish_read_roundtrip(void **state)
{
    const char *dir = *state;
    struct registry_entry e, r;
    uint8_t cookie[REGISTRY_COOKIE_LEN];
    char err[512], path[PATH_MAX];
    struct stat st;

    assert_int_equal(registry_cookie_read(dir, cookie, err, sizeof(err)), -ENOENT);
    assert_int_equal(registry_cookie_get_or_create(dir, cookie, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/cookie", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 33);

    make_entry(&e, "node_0", getpid());
    memcpy(e.cookie, cookie, sizeof(cookie));
    assert_int_equal(registry_publish(dir, &e, err, sizeof(err)), 0);

    snprintf(path, sizeof(path), "%s/node_0.addr", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Only the cookie and the entry: no temp file left behind. */
    assert_int_equal(count_files(dir), 2);

    assert_int_equal(registry_entry_read(path, &r, err, sizeof(err)), 0);
    assert_string_equal(r.node_id, "node_0");
    assert_memory_equal(r.cookie, cookie, REGISTRY_COOKIE_LEN);
    assert_int_equal(r.pid, getpid());
    assert_string_equal(r.host, e.host);
    assert_int_equal(r.max_xfer, e.max_xfer);
    assert_int_equal(r.started_ns, e.started_ns);
    assert_int_equal(r.addr_len, e.addr_len);
    assert_memory_equal(r.addr, e.addr, e.addr_len);
    /* A host id of 0 and an empty chunk directory are left out. */
    assert_int_equal(r.host_id, 0);
    assert_string_equal(r.chunks, "");
    assert_int_equal(r.peer_failure, 0);
    registry_entry_cleanup(&r);

    /* Publishing again (same pid) replaces the file quietly. */
    e.max_xfer = 4096;
    e.host_id = 0x0123456789abcdefull;
    e.peer_failure = REGISTRY_PEER_FAILURE_AUTO;
    snprintf(e.chunks, sizeof(e.chunks), "/data/a b:c/chunks");
    e.chunks_dev = 0x801;
    e.chunks_ino = 0xfedcba9876543210ull;
    assert_int_equal(registry_publish(dir, &e, err, sizeof(err)), 0);
    assert_int_equal(registry_entry_read(path, &r, err, sizeof(err)), 0);
    assert_string_equal(r.chunks, "/data/a b:c/chunks");
    assert_int_equal(r.chunks_dev, 0x801);
    assert_int_equal(r.chunks_ino, 0xfedcba9876543210ull);
    assert_int_equal(r.max_xfer, 4096);
    assert_int_equal(r.host_id, 0x0123456789abcdefull);
    assert_int_equal(r.peer_failure, REGISTRY_PEER_FAILURE_AUTO);
    registry_entry_cleanup(&r);
    e.peer_failure = 1;
    assert_int_equal(registry_publish(dir, &e, err, sizeof(err)), 0);
    assert_int_equal(registry_entry_read(path, &r, err, sizeof(err)), 0);
    assert_int_equal(r.peer_failure, 1);
    registry_entry_cleanup(&r);
    registry_entry_cleanup(&e);

    /* A second get_or_create returns the same cookie. */
    {
        uint8_t again[REGISTRY_COOKIE_LEN];

        assert_int_equal(registry_cookie_get_or_create(dir, again, err, sizeof(err)), 0);
        assert_memory_equal(again, cookie, sizeof(cookie));
    }
}

/* Temps, dot files and other names are invisible to readers. */
static void test_list_ignores_temps(void **state)
{
    const char *dir = *state;
    struct registry_entry *v;
    size_t n;
    char err[512];

    write_cookie(dir, test_cookie);
    publish(dir, "node_0", getpid());
    write_file(dir, ".node_1.addr.tmp.12345", "BENCHFS-REGISTRY 1\nnode_id=no", 29);
    write_file(dir, ".hidden.addr", "junk", 4);
    write_file(dir, "node_2.addr~", "junk", 4);
    write_file(dir, "notes.txt", "junk", 4);
    write_file(dir, "cluster.bak", "junk", 4);
    assert_int_equal(registry_list(dir, &v, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].node_id, "node_0");
    registry_entries_free(v, n);
}

static void test_list_empty(void **state)
{
    const char *dir = *state;
    struct registry_entry *v = (void *)1;
    size_t n = 99;
    char err[512];

    /* No cookie and no servers yet: nothing, not an error. */
    assert_int_equal(registry_list(dir, &v, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    assert_null(v);

    /* A server file without a cookie is. */
    publish(dir, "node_0", getpid());
    assert_int_equal(registry_list(dir, &v, &n, err, sizeof(err)), -ENOENT);
    assert_contains(err, "cookie");
}

struct corrupt_case {
    const char *text;
    const char *where; /* "node_0.addr:<line>:" */
    const char *what;
};

static void test_corrupt_files(void **state)
{
    const char *dir = *state;
    static const char good_tail[] = "max_xfer=1048576\nstarted_ns=1700000000000000000\naddr=0a0b\n";
    static const char C[] = "cookie=0102030405060708090a0b0c0d0e0f10\n";
    static const struct corrupt_case cases[] = {
        {"", ":1:", "empty file"},
        {"HELLO 1\n", ":1:", "not a BenchFS registry file"},
        {"BENCHFS-REGISTRY 2\n", ":1:", "unsupported format version '2'"},
        {"BENCHFS-REGISTRY 1 \n", ":1:", "unsupported format version"},
        {"BENCHFS-REGISTRY 1\nnode_id=node_0", ":2:", "no newline"},
        {"BENCHFS-REGISTRY 1\nnode_id=node_0\ncookie=0102\n",
         ":3:", "bad cookie (expected 32 hex digits)"},
        {"BENCHFS-REGISTRY 1\nnode_id=node_0\ncookie=0102030405060708090a0b0c0d0e0fzz\n",
         ":3:", "bad cookie"},
        {"BENCHFS-REGISTRY 1\nnode_id=node_0\nnode_id=node_0\n",
         ":3:", "duplicate key node_id (first on line 2)"},
        {"BENCHFS-REGISTRY 1\ncolor=blue\n", ":2:", "unknown key 'color'"},
        {"BENCHFS-REGISTRY 1\njust some text\n", ":2:", "expected key=value"},
        {"BENCHFS-REGISTRY 1\n\n", ":2:", "expected key=value"},
        {"BENCHFS-REGISTRY 1\nnode_id=.x\n", ":2:", "bad node_id"},
        {"BENCHFS-REGISTRY 1\nnode_id=\n", ":2:", "bad node_id"},
        {"BENCHFS-REGISTRY 1\nnode_id=a b\n", ":2:", "bad node_id"},
        {"BENCHFS-REGISTRY 1\npid=0\n", ":2:", "bad pid"},
        {"BENCHFS-REGISTRY 1\npid=-5\n", ":2:", "bad pid"},
        {"BENCHFS-REGISTRY 1\npid=+5\n", ":2:", "bad pid"},
        {"BENCHFS-REGISTRY 1\npid=99999999999\n", ":2:", "bad pid"},
        {"BENCHFS-REGISTRY 1\npid=12 \n", ":2:", "bad pid"},
        {"BENCHFS-REGISTRY 1\nhost=\n", ":2:", "bad host"},
        {"BENCHFS-REGISTRY 1\nhost=a b\n", ":2:", "bad host"},
        {"BENCHFS-REGISTRY 1\nmax_xfer=0\n", ":2:", "bad max_xfer"},
        {"BENCHFS-REGISTRY 1\nmax_xfer=1099511627777\n", ":2:", "bad max_xfer"},
        {"BENCHFS-REGISTRY 1\nstarted_ns=99999999999999999999999\n", ":2:", "bad started_ns"},
        {"BENCHFS-REGISTRY 1\nstarted_ns=18446744073709551616\n", ":2:", "bad started_ns"},
        {"BENCHFS-REGISTRY 1\naddr=abc\n", ":2:", "bad addr"},
        {"BENCHFS-REGISTRY 1\naddr=\n", ":2:", "bad addr"},
        {"BENCHFS-REGISTRY 1\naddr=0g\n", ":2:", "bad addr"},
        {"BENCHFS-REGISTRY 1\npeer_failure=2\n", ":2:", "bad peer_failure (expected 0, 1 or auto)"},
        {"BENCHFS-REGISTRY 1\npeer_failure=autox\n", ":2:", "bad peer_failure"},
        {"BENCHFS-REGISTRY 1\nhost_id=12\n", ":2:", "bad host_id (expected 16 hex digits)"},
        {"BENCHFS-REGISTRY 1\nhost_id=0123456789abcdeg\n", ":2:", "bad host_id"},
        {"BENCHFS-REGISTRY 1\nchunks=/x\n", ":2:", "bad chunks (expected <16 hex st_dev>"},
        {"BENCHFS-REGISTRY 1\nchunks=0000000000000801:0000000000000002:rel/x\n",
         ":2:", "bad chunks"},
        {"BENCHFS-REGISTRY 1\nchunks=000000000000080g:0000000000000002:/x\n", ":2:", "bad chunks"},
        {"BENCHFS-REGISTRY 1\nchunks=0000000000000801-0000000000000002:/x\n", ":2:", "bad chunks"},
        {"BENCHFS-REGISTRY 1\nchunks=0000000000000801:0000000000000002:\n", ":2:", "bad chunks"},
        {"BENCHFS-REGISTRY 1\nchunks=0000000000000801:0000000000000002:/a\tb\n",
         ":2:", "bad chunks"},
        {"BENCHFS-REGISTRY 1\nnode_id=node_0\n", ":3:", "missing key cookie"},
    };
    char err[512], path[PATH_MAX], name[64];
    struct registry_entry e;
    size_t i;

    snprintf(path, sizeof(path), "%s/node_0.addr", dir);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_file(dir, "node_0.addr", cases[i].text, strlen(cases[i].text));
        memset(err, 0, sizeof(err));
        assert_int_equal(registry_entry_read(path, &e, err, sizeof(err)), -EINVAL);
        snprintf(name, sizeof(name), "node_0.addr%s", cases[i].where);
        assert_contains(err, path);
        assert_contains(err, name);
        assert_contains(err, cases[i].what);
    }

    /* A complete file missing only addr; a NUL byte; a file too large. */
    {
        char text[512];
        char *big;

        snprintf(text, sizeof(text),
                 "BENCHFS-REGISTRY 1\nnode_id=node_0\n%spid=1\nhost=h\nmax_xfer=1\n"
                 "started_ns=1\n",
                 C);
        write_file(dir, "node_0.addr", text, strlen(text));
        assert_int_equal(registry_entry_read(path, &e, err, sizeof(err)), -EINVAL);
        assert_contains(err, "node_0.addr:8: missing key addr");

        snprintf(text, sizeof(text), "BENCHFS-REGISTRY 1\nnode_id=node_0\n%spid=1\nhost=h\n%s", C,
                 good_tail);
        assert_int_equal(registry_entry_parse("mem", text, strlen(text), &e, err, sizeof(err)), 0);
        assert_int_equal(e.addr_len, 2);
        registry_entry_cleanup(&e);
        text[40] = '\0';
        assert_int_equal(
            registry_entry_parse("mem", text, strlen(text) + 100, &e, err, sizeof(err)), -EINVAL);
        assert_contains(err, "mem:3: NUL byte");

        big = malloc(REGISTRY_FILE_MAX + 2);
        assert_non_null(big);
        memset(big, 'a', REGISTRY_FILE_MAX + 1);
        write_file(dir, "node_0.addr", big, REGISTRY_FILE_MAX + 1);
        assert_int_equal(registry_entry_read(path, &e, err, sizeof(err)), -EFBIG);
        assert_contains(err, "node_0.addr");
        assert_contains(err, "too large");
        free(big);
    }

    /* registry_list reports a corrupt file the same way. */
    {
        struct registry_entry *v;
        size_t n;

        write_cookie(dir, test_cookie);
        write_file(dir, "node_0.addr", cases[5].text, strlen(cases[5].text));
        assert_int_equal(registry_list(dir, &v, &n, err, sizeof(err)), -EINVAL);
        assert_contains(err, "node_0.addr:3: bad cookie (expected 32 hex digits)");
    }
}

static void test_node_id_must_match_name(void **state)
{
    const char *dir = *state;
    struct registry_entry *v;
    char err[512], src[PATH_MAX], dst[PATH_MAX];
    size_t n;

    write_cookie(dir, test_cookie);
    publish(dir, "node_5", getpid());
    snprintf(src, sizeof(src), "%s/node_5.addr", dir);
    snprintf(dst, sizeof(dst), "%s/node_6.addr", dir);
    assert_int_equal(rename(src, dst), 0);
    assert_int_equal(registry_list(dir, &v, &n, err, sizeof(err)), -EINVAL);
    assert_contains(err, "node_6.addr");
    assert_contains(err, "does not match the file name");
}

static void test_stale_pid(void **state)
{
    const char *dir = *state;
    struct registry_entry *v, e;
    char err[512], expect[PATH_MAX + 128];
    pid_t dead = dead_pid();
    size_t n;

    write_cookie(dir, test_cookie);
    publish(dir, "node_0", dead);
    assert_int_equal(registry_list(dir, &v, &n, err, sizeof(err)), -ESRCH);
    snprintf(expect, sizeof(expect),
             "stale registry file %s/node_0.addr: server pid %d is not running on this host", dir,
             (int)dead);
    assert_string_equal(err, expect);

    /* A new server with that node id replaces the stale file. */
    publish(dir, "node_0", getpid());
    assert_int_equal(registry_list(dir, &v, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].pid, getpid());
    registry_entries_free(v, n);

    /* A live server (our parent) holds node_1: publishing it is refused. */
    publish(dir, "node_1", getppid());
    make_entry(&e, "node_1", getpid());
    assert_int_equal(registry_publish(dir, &e, err, sizeof(err)), -EEXIST);
    assert_contains(err, "node_1");
    assert_contains(err, "already served");
    registry_entry_cleanup(&e);
}

static void test_foreign_cookie(void **state)
{
    const char *dir = *state;
    uint8_t other[REGISTRY_COOKIE_LEN];
    struct registry_entry *v;
    char err[512], expect[PATH_MAX + 160];
    size_t n;

    memset(other, 0xee, sizeof(other));
    write_cookie(dir, other);
    publish(dir, "node_3", getpid());
    assert_int_equal(registry_list(dir, &v, &n, err, sizeof(err)), -EACCES);
    snprintf(expect, sizeof(expect),
             "registry file %s/node_3.addr belongs to another cluster (cookie differs) — left "
             "over from an earlier run? remove it",
             dir);
    assert_string_equal(err, expect);

    /* A corrupt cookie file is an error naming it. */
    write_file(dir, "cookie", "xyz\n", 4);
    assert_int_equal(registry_cookie_read(dir, other, err, sizeof(err)), -EINVAL);
    assert_contains(err, "cookie:1: bad cookie");
    assert_int_equal(registry_cookie_get_or_create(dir, other, err, sizeof(err)), -EINVAL);
}

static void test_natural_order(void **state)
{
    const char *dir = *state;
    static const char *const ids[] = {"node_10", "node_2", "node_1", "node_0", "node_9", "server"};
    static const char *const sorted[] = {"node_0", "node_1",  "node_2",
                                         "node_9", "node_10", "server"};
    struct registry_entry *v;
    char err[512];
    size_t i, n;

    write_cookie(dir, test_cookie);
    for (i = 0; i < 6; i++)
        publish(dir, ids[i], getpid());
    assert_int_equal(registry_list(dir, &v, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 6);
    for (i = 0; i < n; i++)
        assert_string_equal(v[i].node_id, sorted[i]);
    registry_entries_free(v, n);
}

static void test_cluster_file(void **state)
{
    const char *dir = *state;
    unsigned servers = 0;
    char err[512];

    assert_int_equal(registry_cluster_read(dir, &servers, err, sizeof(err)), -ENOENT);
    assert_int_equal(registry_cluster_write(dir, 4, err, sizeof(err)), 0);
    assert_int_equal(registry_cluster_read(dir, &servers, err, sizeof(err)), 0);
    assert_int_equal(servers, 4);
    assert_int_equal(count_files(dir), 1);
    assert_int_equal(registry_cluster_write(dir, 0, err, sizeof(err)), -EINVAL);

    write_file(dir, "cluster", "BENCHFS-CLUSTER 1\nservers=x\n", 28);
    assert_int_equal(registry_cluster_read(dir, &servers, err, sizeof(err)), -EINVAL);
    assert_contains(err, "cluster:2: bad servers");
    write_file(dir, "cluster", "something else\n", 15);
    assert_int_equal(registry_cluster_read(dir, &servers, err, sizeof(err)), -EINVAL);
    assert_contains(err, "cluster:1:");
}

static void test_unpublish(void **state)
{
    const char *dir = *state;
    char path[PATH_MAX];
    struct stat st;

    write_cookie(dir, test_cookie);
    publish(dir, "node_0", getpid());
    publish(dir, "node_1", getppid());

    assert_int_equal(registry_unpublish(dir, "node_1"), -EPERM);
    snprintf(path, sizeof(path), "%s/node_1.addr", dir);
    assert_int_equal(stat(path, &st), 0);

    assert_int_equal(registry_unpublish(dir, "node_0"), 0);
    snprintf(path, sizeof(path), "%s/node_0.addr", dir);
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(registry_unpublish(dir, "node_0"), -ENOENT);
    assert_int_equal(registry_unpublish(dir, "../x"), -EINVAL);
    /* The cookie and the other server's file are untouched. */
    assert_int_equal(count_files(dir), 2);
}

/* ---- waiting ---------------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};

    nanosleep(&ts, NULL);
}

/*
 * Fork a "cluster" that publishes node_0..node_{n-1} one by one, `gap_ms`
 * apart, then stays alive until the parent closes *release_fd.
 */
static pid_t fork_servers(const char *dir, unsigned n, unsigned gap_ms, int *release_fd)
{
    int fds[2];
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[32], c;
        unsigned i;

        close(fds[1]);
        for (i = 0; i < n; i++) {
            struct registry_entry e;
            char err[512];

            sleep_ms(gap_ms);
            snprintf(id, sizeof(id), "node_%u", i);
            make_entry(&e, id, getpid());
            if (registry_publish(dir, &e, err, sizeof(err)) != 0)
                _exit(2);
            registry_entry_cleanup(&e);
        }
        /* Stay alive (a live server) until the parent is done. */
        while (read(fds[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(fds[0]);
    *release_fd = fds[1];
    return pid;
}

static void reap(pid_t pid, int release_fd)
{
    int st;

    close(release_fd);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_wait_for_forked_servers(void **state)
{
    const char *dir = *state;
    struct registry_entry *v;
    char err[512];
    size_t n, i;
    int release;
    pid_t pid;

    write_cookie(dir, test_cookie);
    pid = fork_servers(dir, 4, 30, &release);
    assert_int_equal(registry_wait(dir, 4, 20000, &v, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 4);
    for (i = 0; i < n; i++)
        assert_int_equal(v[i].pid, pid);
    assert_string_equal(v[3].node_id, "node_3");
    registry_entries_free(v, n);
    reap(pid, release);
}

static void test_wait_cluster_file(void **state)
{
    const char *dir = *state;
    struct registry_entry *v;
    char err[512];
    size_t n;
    int release;
    pid_t pid;

    write_cookie(dir, test_cookie);
    assert_int_equal(registry_cluster_write(dir, 3, err, sizeof(err)), 0);
    pid = fork_servers(dir, 3, 20, &release);
    assert_int_equal(registry_wait(dir, 0, 20000, &v, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    registry_entries_free(v, n);
    reap(pid, release);
}

/* expected == 0 and no cluster file: done once the set is stable. */
static void test_wait_stable_set(void **state)
{
    const char *dir = *state;
    struct registry_entry *v;
    char err[512];
    size_t n;

    write_cookie(dir, test_cookie);
    publish(dir, "server", getpid());
    assert_int_equal(registry_wait(dir, 0, 20000, &v, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].node_id, "server");
    registry_entries_free(v, n);
}

static void test_wait_timeout_names_missing(void **state)
{
    const char *dir = *state;
    struct registry_entry *v;
    char err[1024], expect[PATH_MAX + 200];

    write_cookie(dir, test_cookie);
    publish(dir, "node_0", getpid());
    publish(dir, "node_1", getpid());
    publish(dir, "node_3", getpid());

    /* Count known, names unknown: counts only. */
    assert_int_equal(registry_wait(dir, 4, 200, &v, &(size_t){0}, err, sizeof(err)), -ETIMEDOUT);
    snprintf(expect, sizeof(expect),
             "timed out after 0.2 s waiting for servers in %s: found 3 of 4 (node_0 node_1 "
             "node_3)",
             dir);
    assert_string_equal(err, expect);

    /* The cluster file names node_0..node_3: the missing one is named. */
    assert_int_equal(registry_cluster_write(dir, 4, err, sizeof(err)), 0);
    assert_int_equal(registry_wait(dir, 0, 300, &v, &(size_t){0}, err, sizeof(err)), -ETIMEDOUT);
    snprintf(expect, sizeof(expect),
             "timed out after 0.3 s waiting for servers in %s: found 3 of 4 (node_0 node_1 "
             "node_3); missing: node_2",
             dir);
    assert_string_equal(err, expect);

    /* A server that is not one of node_0..node_3 fails at once. */
    publish(dir, "node_7", getpid());
    assert_int_equal(registry_wait(dir, 0, 20000, &v, &(size_t){0}, err, sizeof(err)), -EINVAL);
    assert_contains(err, "node_7.addr is not one of node_0..node_3");
}

static void test_wait_timeout_empty(void **state)
{
    const char *dir = *state;
    struct registry_entry *v;
    char err[1024];

    assert_int_equal(registry_wait(dir, 0, 50, &v, &(size_t){0}, err, sizeof(err)), -ETIMEDOUT);
    assert_contains(err, "found none");
    assert_int_equal(registry_wait(dir, 0, -1, &v, &(size_t){0}, err, sizeof(err)), -EINVAL);
}

/* A stale file is waited out, and named if it is still there at the end. */
static void test_wait_stale_reported(void **state)
{
    const char *dir = *state;
    struct registry_entry *v;
    char err[1024];

    write_cookie(dir, test_cookie);
    publish(dir, "node_0", dead_pid());
    assert_int_equal(registry_wait(dir, 1, 100, &v, &(size_t){0}, err, sizeof(err)), -ETIMEDOUT);
    assert_contains(err, "timed out after 0.1 s");
    assert_contains(err, "stale registry file");
}

/* A stale file fails discovery after a short grace, not the whole timeout. */
static void test_wait_stale_fails_fast(void **state)
{
    const char *dir = *state;
    struct registry_entry *v;
    struct timespec t0, t1;
    char err[1024];
    double secs;

    write_cookie(dir, test_cookie);
    publish(dir, "node_0", dead_pid());
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(registry_wait(dir, 1, 30000, &v, &(size_t){0}, err, sizeof(err)), -ESRCH);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs < 5.0);
    assert_contains(err, "stale registry file");
    assert_contains(err, "is not running on this host");
}

/* A zombie (killed, not reaped yet) is not a live server. */
static void test_zombie_not_alive(void **state)
{
    const char *dir = *state;
    struct registry_entry e;
    char err[512], path[PATH_MAX], buf[64];
    pid_t pid = fork();
    int st;

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    /* Wait until it is a zombie, without reaping it. */
    assert_int_equal(waitid(P_PID, (id_t)pid, &(siginfo_t){0}, WEXITED | WNOWAIT), 0);
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    {
        FILE *f = fopen(path, "r");

        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof(buf), f));
        fclose(f);
        assert_non_null(strstr(buf, ") Z "));
    }
    assert_false(registry_pid_alive(pid));
    assert_true(registry_pid_alive(getpid()));

    write_cookie(dir, test_cookie);
    publish(dir, "node_0", pid);
    make_entry(&e, "node_0", getpid());
    assert_int_equal(registry_publish(dir, &e, err, sizeof(err)), 0);
    registry_entry_cleanup(&e);
    assert_int_equal(waitpid(pid, &st, 0), pid);
}

/* A FIFO (or a symlink) under a registry name is refused at once. */
static void test_fifo_and_symlink_refused(void **state)
{
    const char *dir = *state;
    struct registry_entry *v, e;
    char err[1024], path[PATH_MAX];

    write_cookie(dir, test_cookie);
    snprintf(path, sizeof(path), "%s/node_0.addr", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(registry_entry_read(path, &e, err, sizeof(err)), -EINVAL);
    assert_contains(err, "not a regular file");
    assert_int_equal(registry_wait(dir, 1, 30000, &v, &(size_t){0}, err, sizeof(err)), -EINVAL);
    assert_contains(err, "not a regular file");
    /* A server publishing under that node id replaces it. */
    make_entry(&e, "node_0", getpid());
    assert_int_equal(registry_publish(dir, &e, err, sizeof(err)), 0);
    registry_entry_cleanup(&e);
    unlink(path);

    assert_int_equal(symlink("/dev/zero", path), 0);
    assert_int_equal(registry_entry_read(path, &e, err, sizeof(err)), -EINVAL);
    assert_contains(err, "symbolic link");
    unlink(path);
}

/* ---- concurrent cookie creation --------------------------------------- */

#define CREATORS 8

static void test_cookie_concurrent(void **state)
{
    const char *dir = *state;
    unsigned round;

    for (round = 0; round < 10; round++) {
        int go[2], res[2];
        pid_t pids[CREATORS];
        char results[CREATORS][33], path[PATH_MAX];
        uint8_t file_cookie[REGISTRY_COOKIE_LEN];
        char file_hex[33], err[512];
        unsigned i;

        snprintf(path, sizeof(path), "%s/cookie", dir);
        unlink(path);
        assert_int_equal(pipe(go), 0);
        assert_int_equal(pipe(res), 0);
        for (i = 0; i < CREATORS; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                uint8_t c[REGISTRY_COOKIE_LEN];
                char line[34], b;

                close(go[1]);
                close(res[0]);
                /* All start together when the parent closes the pipe. */
                while (read(go[0], &b, 1) < 0 && errno == EINTR)
                    ;
                if (registry_cookie_get_or_create(dir, c, err, sizeof(err)) != 0)
                    _exit(2);
                registry_hex_encode(c, sizeof(c), line);
                line[32] = '\n';
                /* 33 bytes < PIPE_BUF: the write is atomic. */
                if (write(res[1], line, 33) != 33)
                    _exit(3);
                _exit(0);
            }
        }
        close(go[0]);
        close(res[1]);
        close(go[1]);
        for (i = 0; i < CREATORS; i++) {
            size_t got = 0;

            while (got < 33) {
                ssize_t r = read(res[0], results[i] + got, 33 - got);

                assert_true(r > 0);
                got += (size_t)r;
            }
            results[i][32] = '\0';
        }
        close(res[0]);
        for (i = 0; i < CREATORS; i++) {
            int st;

            assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
            assert_true(WIFEXITED(st));
            assert_int_equal(WEXITSTATUS(st), 0);
        }
        assert_int_equal(registry_cookie_read(dir, file_cookie, err, sizeof(err)), 0);
        registry_hex_encode(file_cookie, sizeof(file_cookie), file_hex);
        for (i = 0; i < CREATORS; i++)
            assert_string_equal(results[i], file_hex);
        /* No temp file left behind. */
        assert_int_equal(count_files(dir), 1);
    }
}

/* registry_reset: everything of an earlier run goes, a fresh cookie and the
 * cluster file come; other files stay. */
static void test_reset(void **state)
{
    const char *dir = *state;
    uint8_t before[REGISTRY_COOKIE_LEN], after[REGISTRY_COOKIE_LEN];
    char err[512], path[PATH_MAX];
    unsigned n = 0;

    assert_int_equal(registry_cookie_get_or_create(dir, before, err, sizeof(err)), 0);
    write_file(dir, "node_0.addr", "junk", 4);
    write_file(dir, "server.addr", "junk", 4);
    write_file(dir, "notes.txt", "keep", 4);
    assert_int_equal(registry_cluster_write(dir, 9, err, sizeof(err)), 0);

    assert_int_equal(registry_reset(dir, 3, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/node_0.addr", dir);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/server.addr", dir);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(registry_cookie_read(dir, after, err, sizeof(err)), 0);
    assert_memory_not_equal(before, after, REGISTRY_COOKIE_LEN);
    assert_int_equal(registry_cluster_read(dir, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);

    /* a missing registry is an error with a message, nothing created */
    assert_int_equal(registry_reset("/nonexistent/benchfs-registry", 2, err, sizeof(err)) < 0, 1);
    assert_non_null(strstr(err, "does not exist"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown_dir)
    const struct CMUnitTest tests[] = {
        T(test_hex_and_node_ids),
        T(test_dir_check),
        T(test_publish_read_roundtrip),
        T(test_list_ignores_temps),
        T(test_list_empty),
        T(test_corrupt_files),
        T(test_node_id_must_match_name),
        T(test_stale_pid),
        T(test_foreign_cookie),
        T(test_natural_order),
        T(test_cluster_file),
        T(test_unpublish),
        T(test_wait_for_forked_servers),
        T(test_wait_cluster_file),
        T(test_wait_stable_set),
        T(test_wait_timeout_names_missing),
        T(test_wait_timeout_empty),
        T(test_wait_stale_reported),
        T(test_wait_stale_fails_fast),
        T(test_zombie_not_alive),
        T(test_fifo_and_symlink_refused),
        T(test_cookie_concurrent),
        T(test_reset),
    };
#undef T

    return cmocka_run_group_tests_name("registry_files", tests, NULL, NULL);
}
