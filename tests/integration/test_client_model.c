/*
 * test_client_model.c - randomized model test: thousands of random file
 * system operations are applied both to BenchFS (under /m, 3 servers) and to
 * a local temp directory (the model), and must give the same results, the
 * same errno values and the same contents.
 *
 * Paths come from a tiny alphabet and at most 3 levels, so operations
 * collide on purpose: creating under files (ENOTDIR), removing non-empty
 * directories, renaming onto existing names, truncating while extending.
 * Files use 64 KiB chunks so that random writes span chunks and servers.
 *
 * Seedable: BENCHFS_TEST_SEED=<n> (else time-based), BENCHFS_TEST_OPS=<n>
 * (default 3000). The seed is printed at the start and on failure.
 *
 * Documented deviation: renaming a non-empty directory fails with EXDEV in
 * BenchFS; the model then only checks that BenchFS failed and leaves the
 * local tree alone.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client_itest.h"

#define BROOT     "/m"
#define CHUNK     (64 * 1024)
#define MAX_IO    (300 * 1024)
#define MAX_NAMES 256

static uint64_t seed, rng_state;
static unsigned long op_no;
static char op_desc[512];
static char lroot[256];
static unsigned char *wbuf, *lbuf, *bbuf;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned rn(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static void model_fail(const char *what)
{
    fprintf(stderr,
            "MODEL MISMATCH at op %lu (%s): %s\n"
            "  reproduce with BENCHFS_TEST_SEED=%llu\n",
            op_no, op_desc, what, (unsigned long long)seed);
    itest_fail();
}

/* A random relative path "/a", "/a/b", "/a/b/c" over a small alphabet. */
static void rand_rel(char *rel, size_t len)
{
    static const char *const names[] = {"a", "b", "c", "d", "e"};
    unsigned depth = 1 + (rn(10) < 4 ? 0 : rn(10) < 7 ? 1 : 2);
    size_t off = 0;

    for (unsigned i = 0; i < depth; i++)
        off += (size_t)snprintf(rel + off, len - off, "/%s", names[rn(5)]);
}

static void lpath(char *out, size_t len, const char *rel)
{
    snprintf(out, len, "%.255s%.200s", lroot, rel);
}

static void bpath(char *out, size_t len, const char *rel)
{
    snprintf(out, len, "%s%.200s", BROOT, rel);
}

struct res {
    long ret;
    int err;
};

#define CALL(expr)                            \
    ({                                        \
        errno = 0;                            \
        long r_ = (long)(expr);               \
        (struct res){r_, r_ < 0 ? errno : 0}; \
    })

/* Same success/failure and errno; `exact`: same return value too. */
static void same(struct res l, struct res b, bool exact)
{
    char msg[256];

    if ((l.ret < 0) != (b.ret < 0) || l.err != b.err || (exact && l.ret != b.ret)) {
        snprintf(msg, sizeof(msg), "local returned %ld (%s), BenchFS %ld (%s) [%s]", l.ret,
                 l.ret < 0 ? strerror(l.err) : "ok", b.ret, b.ret < 0 ? strerror(b.err) : "ok",
                 benchfs_last_error());
        model_fail(msg);
    }
}

static void fill_random(unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = rnd();

        memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
    }
}

static uint64_t rand_off(void)
{
    switch (rn(4)) {
    case 0:
        return 0;
    case 1:
        return rn(4 * CHUNK);
    case 2:
        return (uint64_t)rn(4) * CHUNK - (rn(2) ? 1 : 0) * rn(100);
    default:
        return rn(1000);
    }
}

static size_t rand_len(void)
{
    return 1 + (rn(4) == 0 ? rn(MAX_IO) : rn(5000));
}

/* ---- operations ---- */

static void op_create(const char *rel)
{
    char lp[512], bp[512];
    int flags = O_CREAT | O_WRONLY | (rn(4) == 0 ? O_EXCL : 0) | (rn(4) == 0 ? O_TRUNC : 0);
    struct res l, b;

    lpath(lp, sizeof(lp), rel);
    bpath(bp, sizeof(bp), rel);
    snprintf(op_desc, sizeof(op_desc), "create %s flags 0x%x", rel, flags);
    l = CALL(open(lp, flags, 0644));
    b = CALL(benchfs_open(bp, flags, 0644));
    same(l, b, false);
    if (l.ret >= 0) {
        close((int)l.ret);
        CHECK(benchfs_close((int)b.ret) == 0);
    }
}

static void op_write(const char *rel)
{
    char lp[512], bp[512];
    int flags = O_WRONLY | (rn(3) == 0 ? O_CREAT : 0) | (rn(6) == 0 ? O_APPEND : 0);
    uint64_t off = rand_off();
    size_t len = rand_len();
    struct res l, b, lw, bw;

    lpath(lp, sizeof(lp), rel);
    bpath(bp, sizeof(bp), rel);
    snprintf(op_desc, sizeof(op_desc), "write %s flags 0x%x off %llu len %zu", rel, flags,
             (unsigned long long)off, len);
    l = CALL(open(lp, flags, 0644));
    b = CALL(benchfs_open(bp, flags, 0644));
    same(l, b, false);
    if (l.ret < 0)
        return;
    fill_random(wbuf, len);
    if (flags & O_APPEND) {
        lw = CALL(write((int)l.ret, wbuf, len));
        bw = CALL(benchfs_write((int)b.ret, wbuf, len));
    } else {
        lw = CALL(pwrite((int)l.ret, wbuf, len, (off_t)off));
        bw = CALL(benchfs_pwrite((int)b.ret, wbuf, len, (off_t)off));
    }
    same(lw, bw, true);
    close((int)l.ret);
    CHECK(benchfs_close((int)b.ret) == 0);
}

static void op_read(const char *rel)
{
    char lp[512], bp[512];
    uint64_t off = rand_off();
    size_t len = rand_len();
    struct res l, b, lr, br;

    lpath(lp, sizeof(lp), rel);
    bpath(bp, sizeof(bp), rel);
    snprintf(op_desc, sizeof(op_desc), "read %s off %llu len %zu", rel, (unsigned long long)off,
             len);
    l = CALL(open(lp, O_RDONLY));
    b = CALL(benchfs_open(bp, O_RDONLY, 0));
    same(l, b, false);
    if (l.ret < 0)
        return;
    memset(lbuf, 0xaa, len);
    memset(bbuf, 0x55, len);
    lr = CALL(pread((int)l.ret, lbuf, len, (off_t)off));
    br = CALL(benchfs_pread((int)b.ret, bbuf, len, (off_t)off));
    same(lr, br, true);
    if (lr.ret > 0 && memcmp(lbuf, bbuf, (size_t)lr.ret) != 0)
        model_fail("read returned different bytes");
    close((int)l.ret);
    CHECK(benchfs_close((int)b.ret) == 0);
}

static void op_truncate(const char *rel, bool via_fd)
{
    char lp[512], bp[512];
    off_t size = rn(3) == 0 ? 0 : (off_t)rn(MAX_IO);
    struct res l, b;

    lpath(lp, sizeof(lp), rel);
    bpath(bp, sizeof(bp), rel);
    snprintf(op_desc, sizeof(op_desc), "%s %s %lld", via_fd ? "ftruncate" : "truncate", rel,
             (long long)size);
    if (!via_fd) {
        same(CALL(truncate(lp, size)), CALL(benchfs_truncate(bp, size)), false);
        return;
    }
    l = CALL(open(lp, O_WRONLY));
    b = CALL(benchfs_open(bp, O_WRONLY, 0));
    same(l, b, false);
    if (l.ret < 0)
        return;
    same(CALL(ftruncate((int)l.ret, size)), CALL(benchfs_ftruncate((int)b.ret, size)), false);
    close((int)l.ret);
    CHECK(benchfs_close((int)b.ret) == 0);
}

static void op_simple(const char *rel, int which)
{
    char lp[512], bp[512];

    lpath(lp, sizeof(lp), rel);
    bpath(bp, sizeof(bp), rel);
    switch (which) {
    case 0:
        snprintf(op_desc, sizeof(op_desc), "unlink %s", rel);
        same(CALL(unlink(lp)), CALL(benchfs_unlink(bp)), false);
        break;
    case 1:
        snprintf(op_desc, sizeof(op_desc), "mkdir %s", rel);
        same(CALL(mkdir(lp, 0755)), CALL(benchfs_mkdir(bp, 0755)), false);
        break;
    default:
        snprintf(op_desc, sizeof(op_desc), "rmdir %s", rel);
        same(CALL(rmdir(lp)), CALL(benchfs_rmdir(bp)), false);
        break;
    }
}

static void compare_stat(const char *rel)
{
    char lp[512], bp[512], msg[256];
    struct stat ls, bs;
    struct res l, b;

    lpath(lp, sizeof(lp), rel);
    bpath(bp, sizeof(bp), rel);
    l = CALL(stat(lp, &ls));
    b = CALL(benchfs_stat(bp, &bs));
    same(l, b, false);
    if (l.ret < 0)
        return;
    if ((ls.st_mode & S_IFMT) != (bs.st_mode & S_IFMT) ||
        (ls.st_mode & 07777) != (bs.st_mode & 07777)) {
        snprintf(msg, sizeof(msg), "stat mode local %o BenchFS %o", ls.st_mode, bs.st_mode);
        model_fail(msg);
    }
    if (S_ISREG(ls.st_mode) && ls.st_size != bs.st_size) {
        snprintf(msg, sizeof(msg), "stat size local %lld BenchFS %lld", (long long)ls.st_size,
                 (long long)bs.st_size);
        model_fail(msg);
    }
}

static void op_stat(const char *rel)
{
    snprintf(op_desc, sizeof(op_desc), "stat %s", rel);
    compare_stat(rel);
}

struct ent {
    char name[256];
    unsigned char type;
    long long size;
};

static int ent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ent *)a)->name, ((const struct ent *)b)->name);
}

/* Local listing, sorted; -errno on failure. */
static int local_list(const char *lp, struct ent *ents, int max)
{
    DIR *d = opendir(lp);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return -errno;
    while ((de = readdir(d)) != NULL) {
        char p[1024];
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        CHECK(n < max);
        snprintf(ents[n].name, sizeof(ents[n].name), "%s", de->d_name);
        snprintf(p, sizeof(p), "%.500s/%.255s", lp, de->d_name);
        CHECK(lstat(p, &st) == 0);
        ents[n].type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
        ents[n].size = S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
        n++;
    }
    closedir(d);
    qsort(ents, (size_t)n, sizeof(*ents), ent_cmp);
    return n;
}

static int bfs_list(const char *bp, struct ent *ents, int max)
{
    benchfs_dir_t *d = benchfs_opendir(bp);
    struct benchfs_dirent *de;
    int n = 0;

    if (d == NULL)
        return -errno;
    while ((de = benchfs_readdir(d)) != NULL) {
        CHECK(n < max);
        snprintf(ents[n].name, sizeof(ents[n].name), "%s", de->d_name);
        ents[n].type = de->d_type;
        ents[n].size = de->d_type == DT_REG ? (long long)de->d_size : -1;
        n++;
    }
    CHECK(errno == 0);
    CHECK(benchfs_closedir(d) == 0);
    return n;
}

static void compare_dir(const char *rel)
{
    static struct ent le[MAX_NAMES], be[MAX_NAMES];
    char lp[512], bp[512], msg[512];
    int ln, bn;

    lpath(lp, sizeof(lp), rel);
    bpath(bp, sizeof(bp), rel);
    ln = local_list(lp, le, MAX_NAMES);
    bn = bfs_list(bp, be, MAX_NAMES);
    same((struct res){ln < 0 ? -1 : ln, ln < 0 ? -ln : 0},
         (struct res){bn < 0 ? -1 : bn, bn < 0 ? -bn : 0}, true);
    for (int i = 0; i < ln; i++) {
        if (strcmp(le[i].name, be[i].name) != 0 || le[i].type != be[i].type ||
            le[i].size != be[i].size) {
            snprintf(msg, sizeof(msg),
                     "readdir entry %d: local %.60s type %u size %lld, BenchFS "
                     "%.60s type %u size %lld",
                     i, le[i].name, le[i].type, le[i].size, be[i].name, be[i].type, be[i].size);
            model_fail(msg);
        }
    }
}

static void op_readdir(const char *rel)
{
    snprintf(op_desc, sizeof(op_desc), "readdir %s", rel);
    compare_dir(rel);
}

/* Local: a directory with entries? */
static bool local_nonempty_dir(const char *lp)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    bool any = false;

    if (stat(lp, &st) < 0 || !S_ISDIR(st.st_mode))
        return false;
    d = opendir(lp);
    CHECK(d != NULL);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            any = true;
    }
    closedir(d);
    return any;
}

static void op_rename(const char *rel, const char *rel2)
{
    char lp[512], bp[512], lp2[512], bp2[512];
    struct res b;

    lpath(lp, sizeof(lp), rel);
    bpath(bp, sizeof(bp), rel);
    lpath(lp2, sizeof(lp2), rel2);
    bpath(bp2, sizeof(bp2), rel2);
    snprintf(op_desc, sizeof(op_desc), "rename %s %s", rel, rel2);
    if (strcmp(rel, rel2) != 0 && local_nonempty_dir(lp)) {
        /* Deviation: BenchFS refuses (EXDEV or an earlier POSIX error). */
        b = CALL(benchfs_rename(bp, bp2));
        if (b.ret == 0)
            model_fail("renaming a non-empty directory succeeded");
        return;
    }
    same(CALL(rename(lp, lp2)), CALL(benchfs_rename(bp, bp2)), false);
}

/* ---- final comparison of the whole tree ---- */

static void compare_file_data(const char *rel, long long size)
{
    char lp[512], bp[512];
    int lfd, bfd;
    long long off = 0;

    lpath(lp, sizeof(lp), rel);
    bpath(bp, sizeof(bp), rel);
    lfd = open(lp, O_RDONLY);
    bfd = benchfs_open(bp, O_RDONLY, 0);
    CHECK(lfd >= 0 && bfd >= 0);
    while (off < size) {
        size_t n = size - off > MAX_IO ? MAX_IO : (size_t)(size - off);

        CHECK(pread(lfd, lbuf, n, off) == (ssize_t)n);
        CHECK(benchfs_pread(bfd, bbuf, n, off) == (ssize_t)n);
        if (memcmp(lbuf, bbuf, n) != 0)
            model_fail("final contents differ");
        off += (long long)n;
    }
    CHECK(benchfs_pread(bfd, bbuf, 10, size) == 0);
    close(lfd);
    CHECK(benchfs_close(bfd) == 0);
}

static void compare_tree(const char *rel, int *files_p, int *dirs_p)
{
    static struct ent ents[8][MAX_NAMES];
    static int depth;
    struct ent *le = ents[depth];
    char lp[512], child[512];
    int n, i;

    snprintf(op_desc, sizeof(op_desc), "final check of %s", rel[0] ? rel : "/");
    compare_dir(rel);
    lpath(lp, sizeof(lp), rel);
    n = local_list(lp, le, MAX_NAMES);
    CHECK(n >= 0 && depth < 7);
    for (i = 0; i < n; i++) {
        snprintf(child, sizeof(child), "%.200s/%.255s", rel, le[i].name);
        snprintf(op_desc, sizeof(op_desc), "final check of %.400s", child);
        compare_stat(child);
        if (le[i].type == DT_DIR) {
            (*dirs_p)++;
            depth++;
            compare_tree(child, files_p, dirs_p);
            depth--;
        } else {
            (*files_p)++;
            compare_file_data(child, le[i].size);
        }
    }
}

/* The local model tree goes away with the test unless kept for debugging. */
static void remove_lroot(void)
{
    char cmd[300];

    if (lroot[0] == '\0' || getenv("BENCHFS_KEEP_TEST_DIRS") != NULL) {
        if (lroot[0] != '\0')
            fprintf(stderr, "kept the model tree %s\n", lroot);
        return;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", lroot);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", lroot);
}

int main(void)
{
    const char *env_seed = getenv("BENCHFS_TEST_SEED"), *env_ops = getenv("BENCHFS_TEST_OPS");
    unsigned long nops = env_ops ? strtoul(env_ops, NULL, 0) : 3000;
    const char *tmp = getenv("TMPDIR");
    struct benchfs_options o;
    char rel[64], rel2[64];
    int files = 0, dirs = 0;
    uint64_t t0;

    seed =
        env_seed ? strtoull(env_seed, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    rng_state = seed ? seed : 1;
    printf("model test: seed %llu, %lu operations (BENCHFS_TEST_SEED=%llu to repeat)\n",
           (unsigned long long)seed, nops, (unsigned long long)seed);
    fflush(stdout);
    umask(022);
    wbuf = malloc(MAX_IO);
    lbuf = malloc(MAX_IO);
    bbuf = malloc(MAX_IO);
    CHECK(wbuf && lbuf && bbuf);

    itest_start(3, NULL);
    snprintf(lroot, sizeof(lroot), "%s/model-XXXXXX", tmp ? tmp : "/tmp");
    CHECK(mkdtemp(lroot) != NULL);
    itest_fail_hook = remove_lroot;
    benchfs_options_init(&o);
    o.chunk_size = CHUNK;
    o.discovery_timeout_ms = 20000;
    CHECK(benchfs_connect(itest_h.registry, &o) == 0);
    CHECK(benchfs_mkdir(BROOT, 0755) == 0);

    t0 = itest_now_ms();
    for (op_no = 0; op_no < nops; op_no++) {
        unsigned r = rn(100);

        rand_rel(rel, sizeof(rel));
        if (r < 14)
            op_create(rel);
        else if (r < 34)
            op_write(rel);
        else if (r < 46)
            op_read(rel);
        else if (r < 52)
            op_truncate(rel, false);
        else if (r < 56)
            op_truncate(rel, true);
        else if (r < 63)
            op_simple(rel, 0); /* unlink */
        else if (r < 73)
            op_simple(rel, 1); /* mkdir */
        else if (r < 79)
            op_simple(rel, 2); /* rmdir */
        else if (r < 87) {
            rand_rel(rel2, sizeof(rel2));
            op_rename(rel, rel2);
        } else if (r < 94)
            op_stat(rel);
        else
            op_readdir(rn(4) == 0 ? "" : rel);
    }
    compare_tree("", &files, &dirs);
    printf("model test: %lu operations in %llu ms; final tree %d files, %d dirs: identical\n", nops,
           (unsigned long long)(itest_now_ms() - t0), files, dirs);
    CHECK(benchfs_disconnect() == 0);
    itest_stop();
    remove_lroot();
    return 0;
}
