/*
 * test_store_meta.c - unit tests of the metadata store (src/store/meta.h):
 * every operation and error class, group commit, persistence across a
 * close and across a crash, paged readdir, rename, two-phase rmdir, 4095-
 * byte paths, durability modes, a full map and small chunks (meta_small_*,
 * meta_reader_small). Each test gets a private temporary directory. Prints
 * an informational creates/s line.
 */
#include "store/meta.h"
#include "store/meta_priv.h"

#include "common/config.h"
#include "common/timeutil.h"
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define TAG  0xbe11u
#define P(s) (s), strlen(s)

struct fixture {
    char dir[64];
    struct meta *m;
    struct meta_opts opts;
};

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* In a forked child: let a crash kill it (the parent checks how it
 * ended) instead of cmocka's handler resuming the test run in the child. */
static void child_default_signals(void)
{
    signal(SIGBUS, SIG_DFL);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
}

static struct meta *open_or_fail(const char *dir, const struct meta_opts *opts)
{
    struct meta *m = NULL;
    char err[256] = "";
    int rc;

    rc = meta_open(dir, opts, &m, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "meta_open: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(m);
    return m;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    strcpy(f->dir, "/tmp/benchfs-meta-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->opts.map_size = 64u << 20;
    f->opts.durability = DURABILITY_NONE;
    f->opts.node_tag = TAG;
    f->m = open_or_fail(f->dir, &f->opts);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    meta_close(f->m);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    meta_close(f->m);
    f->m = open_or_fail(f->dir, &f->opts);
}

static void create_ok(struct meta *m, const char *path, struct meta_attr *attr)
{
    bool created = false;

    assert_int_equal(meta_create(m, P(path), 0644, 1, 2, 0, 0, attr, NULL, &created), 0);
    assert_true(created);
}

/* --- readdir helpers ---------------------------------------------------- */

struct page {
    unsigned limit, n;
    char names[1024][256];
    struct meta_attr attrs[1024];
};

static int page_cb(void *arg, const char *name, size_t len, const struct meta_attr *attr)
{
    struct page *pg = arg;

    if (pg->n == pg->limit)
        return 1; /* full: this entry is not consumed */
    assert_true(len < sizeof(pg->names[0]));
    memcpy(pg->names[pg->n], name, len);
    pg->names[pg->n][len] = '\0';
    pg->attrs[pg->n] = *attr;
    pg->n++;
    return 0;
}

/* Every name of dir, in order, through pages of `limit`. Returns count. */
static unsigned list_all(struct meta *m, const char *dir, unsigned limit, char (*out)[256],
                         unsigned max)
{
    char cursor[256] = "";
    unsigned total = 0, i;
    static struct page pg; /* large: not on the stack */
    bool done = false;

    while (!done) {
        memset(&pg, 0, sizeof(pg));
        pg.limit = limit;
        assert_int_equal(meta_readdir(m, P(dir), cursor, strlen(cursor), page_cb, &pg, &done), 0);
        for (i = 0; i < pg.n; i++) {
            assert_true(total < max);
            strcpy(out[total++], pg.names[i]);
        }
        if (!done) {
            assert_int_equal(pg.n, limit);
            strcpy(cursor, pg.names[pg.n - 1]);
        }
    }
    return total;
}

static bool dir_has(struct meta *m, const char *dir, const char *name)
{
    static char names[2048][256];
    unsigned n = list_all(m, dir, 50, names, 2048), i;

    for (i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* --- tests -------------------------------------------------------------- */

static void test_open_root(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a;
    uint64_t files = 9, dirs = 9;

    assert_int_equal(meta_lookup(f->m, P("/"), &a), 0);
    assert_true(S_ISDIR(a.mode));
    assert_int_equal(a.nlink, 2);
    assert_int_equal(a.size, 0);
    assert_int_not_equal(a.ino, 0);
    meta_counts(f->m, &files, &dirs);
    assert_int_equal(files, 0);
    assert_int_equal(dirs, 1);
    assert_int_equal(meta_lookup(f->m, P("/x"), &a), -ENOENT);
    assert_int_equal(meta_lookup(f->m, "", 0, &a), -EINVAL);
    assert_int_equal(meta_lookup(f->m, P("x"), &a), -EINVAL);
    assert_int_equal(meta_flush(f->m, false), 0);
    assert_int_equal(meta_sync(f->m), 0);
}

static void test_open_errors(void **state)
{
    struct fixture *f = *state;
    struct meta_opts bad = f->opts;
    struct meta *m = NULL;
    char err[256] = "", path[128];
    FILE *fp;

    bad.durability = 7;
    assert_int_equal(meta_open(f->dir, &bad, &m, err, sizeof(err)), -EINVAL);
    assert_null(m);
    assert_true(strlen(err) > 0);
    /* A regular file where the directory should be. */
    snprintf(path, sizeof(path), "%s/file", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    err[0] = '\0';
    assert_int_equal(meta_open(path, &f->opts, &m, err, sizeof(err)), -ENOTDIR);
    assert_true(strlen(err) > 0);
    /* A missing directory with missing parents is created. */
    snprintf(path, sizeof(path), "%s/a/b/meta", f->dir);
    m = open_or_fail(path, &f->opts);
    meta_close(m);
}

static void test_create(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a, b;
    uint64_t old = 77, files;
    bool created = true;

    assert_int_equal(meta_create(f->m, P("/a"), 0640 | S_IFDIR, 10, 20, 0, 0, &a, &old, &created),
                     0);
    assert_true(created);
    assert_int_equal(old, 0);
    assert_int_equal(a.ino >> 32, TAG);
    assert_int_not_equal(a.ino & 0xffffffffu, 0);
    assert_int_equal(a.mode, S_IFREG | 0640); /* type bits from the caller ignored */
    assert_int_equal(a.nlink, 1);
    assert_int_equal(a.uid, 10);
    assert_int_equal(a.gid, 20);
    assert_int_equal(a.size, 0);
    assert_int_equal(a.chunk_size, 4u << 20); /* opts default 0 = 4 MiB */
    assert_true(a.mtime_ns > 0 && a.mtime_ns == a.ctime_ns);
    assert_int_equal(meta_lookup(f->m, P("/a"), &b), 0);
    assert_memory_equal(&a, &b, sizeof(a));

    /* Open existing: same inode, not created. */
    assert_int_equal(meta_create(f->m, P("/a"), 0600, 0, 0, 0, 0, &b, &old, &created), 0);
    assert_false(created);
    assert_int_equal(b.ino, a.ino);
    assert_int_equal(b.mode, S_IFREG | 0640);
    assert_int_equal(meta_create(f->m, P("/a"), 0600, 0, 0, 0, PROTO_CREATE_EXCL, &b, NULL, NULL),
                     -EEXIST);

    /* Explicit chunk size; NULL outputs are fine. */
    assert_int_equal(meta_create(f->m, P("/c"), 0600, 0, 0, 1u << 20, 0, NULL, NULL, NULL), 0);
    assert_int_equal(meta_lookup(f->m, P("/c"), &b), 0);
    assert_int_equal(b.chunk_size, 1u << 20);
    assert_true(b.ino > a.ino);

    /* Parent problems. */
    assert_int_equal(meta_create(f->m, P("/nodir/f"), 0600, 0, 0, 0, 0, &b, NULL, NULL), -ENOENT);
    assert_int_equal(meta_create(f->m, P("/a/x"), 0600, 0, 0, 0, 0, &b, NULL, NULL), -ENOTDIR);
    /* Directories. */
    assert_int_equal(meta_create(f->m, P("/"), 0600, 0, 0, 0, 0, &b, NULL, NULL), -EISDIR);
    assert_int_equal(meta_create(f->m, P("/"), 0600, 0, 0, 0, PROTO_CREATE_EXCL, &b, NULL, NULL),
                     -EEXIST);
    assert_int_equal(meta_mkdir(f->m, P("/d"), 0755, 0, 0, true), 0);
    assert_int_equal(meta_create(f->m, P("/d"), 0600, 0, 0, 0, 0, &b, NULL, NULL), -EISDIR);
    assert_int_equal(meta_create(f->m, P("/d"), 0600, 0, 0, 0, PROTO_CREATE_EXCL, &b, NULL, NULL),
                     -EEXIST);
    /* Paths that are not normalized. */
    assert_int_equal(meta_create(f->m, P("/d//x"), 0600, 0, 0, 0, 0, &b, NULL, NULL), -EINVAL);
    assert_int_equal(meta_create(f->m, P("/d/x/"), 0600, 0, 0, 0, 0, &b, NULL, NULL), -EINVAL);
    assert_int_equal(meta_create(f->m, P("/d/.."), 0600, 0, 0, 0, 0, &b, NULL, NULL), -EINVAL);
    assert_int_equal(meta_create(f->m, P("rel"), 0600, 0, 0, 0, 0, &b, NULL, NULL), -EINVAL);

    meta_counts(f->m, &files, NULL);
    assert_int_equal(files, 2);
    assert_true(dir_has(f->m, "/", "a"));
    assert_true(dir_has(f->m, "/", "c"));
}

/* fsck's listing: every file inode exactly once, over pages of any size,
 * directories left out; a page key that is gone is no problem. */
static void test_ino_list_pages(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a;
    uint64_t want[40], got[64], inos[3];
    uint8_t after[16] = {0}, next[16];
    size_t n, total = 0, i, j;
    bool done = false, start = true;
    char path[32];

    assert_int_equal(meta_mkdir(f->m, P("/d"), 0755, 0, 0, true), 0);
    for (i = 0; i < 40; i++) {
        snprintf(path, sizeof(path), "/d/f%zu", i);
        create_ok(f->m, path, &a);
        want[i] = a.ino;
    }
    assert_int_equal(meta_ino_list(f->m, after, true, inos, 0, &n, next, &done), -EINVAL);
    while (!done) {
        assert_int_equal(meta_ino_list(f->m, after, start, inos, 3, &n, next, &done), 0);
        assert_true(n <= 3);
        for (i = 0; i < n; i++)
            got[total++] = inos[i];
        assert_true(total <= 40);
        memcpy(after, next, sizeof(after));
        start = false;
        if (total == 20) /* a file removed mid-listing, not yet listed or not */
            assert_int_equal(meta_unlink(f->m, P("/d/f0"), &a), 0);
    }
    for (i = 0; i < 40; i++) {
        size_t seen = 0;

        for (j = 0; j < total; j++)
            seen += got[j] == want[i];
        assert_true(seen <= 1);
        if (i != 0)
            assert_int_equal(seen, 1);
    }
}

/* The inode counter can be raised (a fresh store replacing a lost one),
 * never lowered, and the raise survives a reopen. */
static void test_ino_floor(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a;
    uint64_t end;

    create_ok(f->m, "/a", &a);
    assert_true((a.ino & 0xffffffffu) < 70000);
    assert_int_equal(meta_ino_floor(f->m, 5), 0); /* below: nothing */
    assert_int_equal(meta_ino_floor(f->m, 1000000), 0);
    assert_int_equal(meta_ino_reserved_end(f->m), 1000000);
    create_ok(f->m, "/b", &a);
    assert_int_equal(a.ino & 0xffffffffu, 1000000);
    end = meta_ino_reserved_end(f->m);
    assert_true(end > 1000000);
    reopen(f);
    assert_int_equal(meta_ino_reserved_end(f->m), end);
    create_ok(f->m, "/c", &a);
    assert_true((a.ino & 0xffffffffu) >= end);
    assert_int_equal(meta_ino_floor(f->m, (UINT64_C(1) << 32) + 1), -ENOSPC);
}

static void test_create_default_chunk_size(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a;

    meta_close(f->m);
    f->opts.default_chunk_size = 65536;
    f->m = open_or_fail(f->dir, &f->opts);
    create_ok(f->m, "/f", &a);
    assert_int_equal(a.chunk_size, 65536);
}

static void test_create_trunc(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a, b;
    uint64_t old = 0;
    bool created = true;

    create_ok(f->m, "/t", &a);
    assert_int_equal(meta_setsize(f->m, P("/t"), a.ino, 100, 5, false, NULL), 0);
    /* Open without TRUNC reports the current size as the old size. */
    assert_int_equal(meta_create(f->m, P("/t"), 0600, 0, 0, 0, 0, &b, &old, &created), 0);
    assert_int_equal(old, 100);
    assert_int_equal(b.size, 100);
    {
        uint64_t old_ino = 1;
        struct meta_attr c;

        /* O_TRUNC truncates in place: same inode number, size 0, the old
         * size returned so the caller frees the data. */
        assert_int_equal(meta_create_ex(f->m, P("/t"), 0600, 0, 0, 0, PROTO_CREATE_TRUNC, &b, &old,
                                        &created, &old_ino),
                         0);
        assert_false(created);
        assert_int_equal(old, 100);
        assert_int_equal(b.size, 0);
        assert_int_equal(old_ino, 0);
        assert_int_equal(b.ino, a.ino);
        assert_true(b.mtime_ns >= a.mtime_ns);
        assert_int_equal(meta_lookup(f->m, P("/t"), &c), 0);
        assert_int_equal(c.size, 0);
        assert_int_equal(c.ino, a.ino);
        /* descriptors of the inode keep working on it */
        assert_int_equal(meta_setsize(f->m, P("/t"), a.ino, 7, 5, false, NULL), 0);
        assert_int_equal(meta_lookup(f->m, P("/t"), &c), 0);
        assert_int_equal(c.size, 7);
    }
    /* TRUNC of a new file just creates it. */
    assert_int_equal(
        meta_create(f->m, P("/t2"), 0600, 0, 0, 0, PROTO_CREATE_TRUNC, &b, &old, &created), 0);
    assert_true(created);
    assert_int_equal(old, 0);
}

static void test_ino_unique(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a;
    uint64_t prev = 0;
    char path[32];
    int i;

    for (i = 0; i < 3000; i++) {
        snprintf(path, sizeof(path), "/f%d", i);
        create_ok(f->m, path, &a);
        assert_true(a.ino > prev);
        assert_int_equal(a.ino >> 32, TAG);
        prev = a.ino;
        if (i % 100 == 0)
            assert_int_equal(meta_flush(f->m, false), 0);
    }
    /* A failed create does not use a number. */
    assert_int_equal(meta_create(f->m, P("/f0"), 0600, 0, 0, 0, PROTO_CREATE_EXCL, &a, NULL, NULL),
                     -EEXIST);
    create_ok(f->m, "/next", &a);
    assert_int_equal(a.ino, prev + 1);
}

static void test_mkdir(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a, b;
    struct meta_opts o2 = f->opts;
    struct meta *m2;
    char dir2[64];
    uint64_t dirs;

    assert_int_equal(meta_mkdir(f->m, P("/d"), 0750 | S_IFREG, 3, 4, true), 0);
    assert_int_equal(meta_lookup(f->m, P("/d"), &a), 0);
    assert_int_equal(a.mode, S_IFDIR | 0750);
    assert_int_equal(a.nlink, 2);
    assert_int_equal(a.size, 0);
    assert_int_equal(a.uid, 3);
    assert_int_equal(a.gid, 4);
    assert_true(dir_has(f->m, "/", "d"));
    assert_int_equal(meta_mkdir(f->m, P("/d"), 0755, 0, 0, true), -EEXIST);
    assert_int_equal(meta_mkdir(f->m, P("/"), 0755, 0, 0, true), -EEXIST);
    create_ok(f->m, "/file", &b);
    assert_int_equal(meta_mkdir(f->m, P("/file"), 0755, 0, 0, false), -EEXIST);
    assert_int_equal(meta_mkdir(f->m, P("/file/sub"), 0755, 0, 0, false), -ENOTDIR);
    assert_int_equal(meta_mkdir(f->m, P("/no/sub"), 0755, 0, 0, false), -ENOENT);
    assert_int_equal(meta_mkdir(f->m, P("/d/"), 0755, 0, 0, false), -EINVAL);

    /* Not the owner: the record exists, the parent's index does not list it. */
    assert_int_equal(meta_mkdir(f->m, P("/d/e"), 0755, 0, 0, false), 0);
    assert_int_equal(meta_lookup(f->m, P("/d/e"), &b), 0);
    assert_true(S_ISDIR(b.mode));
    assert_false(dir_has(f->m, "/d", "e"));
    assert_int_equal(meta_mkdir(f->m, P("/d/e/g"), 0755, 0, 0, true), 0);
    assert_true(dir_has(f->m, "/d/e", "g"));
    meta_counts(f->m, NULL, &dirs);
    assert_int_equal(dirs, 4);

    /* Replicated directories get the same ino on every server. */
    strcpy(dir2, "/tmp/benchfs-meta2-XXXXXX");
    assert_non_null(mkdtemp(dir2));
    o2.node_tag = TAG + 1;
    m2 = open_or_fail(dir2, &o2);
    assert_int_equal(meta_mkdir(m2, P("/d"), 0755, 0, 0, false), 0);
    assert_int_equal(meta_lookup(m2, P("/d"), &b), 0);
    assert_int_equal(b.ino, a.ino);
    meta_close(m2);
    rm_rf(dir2);
}

static void test_rmdir(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a;
    uint64_t dirs, dirs_after;

    assert_int_equal(meta_rmdir_prepare(f->m, P("/none")), -ENOENT);
    assert_int_equal(meta_rmdir_prepare(f->m, P("/")), -EBUSY);
    assert_int_equal(meta_rmdir_commit(f->m, P("/")), -EBUSY);
    assert_int_equal(meta_rmdir_commit(f->m, P("/none")), -ENOENT);
    create_ok(f->m, "/file", &a);
    assert_int_equal(meta_rmdir_prepare(f->m, P("/file")), -ENOTDIR);
    assert_int_equal(meta_rmdir_commit(f->m, P("/file")), -ENOTDIR);

    /* Not empty. */
    assert_int_equal(meta_mkdir(f->m, P("/full"), 0755, 0, 0, true), 0);
    create_ok(f->m, "/full/x", &a);
    assert_int_equal(meta_rmdir_prepare(f->m, P("/full")), -ENOTEMPTY);
    assert_int_equal(meta_rmdir_commit(f->m, P("/full")), -ENOTEMPTY);

    /* Prepare blocks new entries until abort. */
    assert_int_equal(meta_mkdir(f->m, P("/d"), 0755, 0, 0, true), 0);
    assert_int_equal(meta_rmdir_prepare(f->m, P("/d")), 0);
    assert_int_equal(meta_create(f->m, P("/d/f"), 0600, 0, 0, 0, 0, &a, NULL, NULL), -ENOENT);
    assert_int_equal(meta_mkdir(f->m, P("/d/s"), 0755, 0, 0, false), -ENOENT);
    assert_int_equal(meta_rename(f->m, P("/file"), P("/d/file"), NULL, NULL, NULL), -ENOENT);
    assert_int_equal(meta_lookup(f->m, P("/file"), &a), 0);
    assert_int_equal(meta_inode_put(f->m, P("/d/put"), &a, false, NULL, NULL), -ENOENT);
    assert_int_equal(meta_lookup(f->m, P("/d"), &a), 0); /* still there */
    assert_int_equal(meta_rmdir_abort(f->m, P("/d")), 0);
    create_ok(f->m, "/d/f", &a);
    assert_int_equal(meta_unlink(f->m, P("/d/f"), NULL), 0);

    /* Prepares are counted. */
    assert_int_equal(meta_rmdir_prepare(f->m, P("/d")), 0);
    assert_int_equal(meta_rmdir_prepare(f->m, P("/d")), 0);
    assert_int_equal(meta_rmdir_abort(f->m, P("/d")), 0);
    assert_int_equal(meta_create(f->m, P("/d/f"), 0600, 0, 0, 0, 0, &a, NULL, NULL), -ENOENT);
    assert_int_equal(meta_rmdir_abort(f->m, P("/d")), 0);
    assert_int_equal(meta_rmdir_abort(f->m, P("/d")), 0); /* extra abort: no-op */
    create_ok(f->m, "/d/f", &a);
    assert_int_equal(meta_unlink(f->m, P("/d/f"), NULL), 0);

    /* Commit after prepare. */
    meta_counts(f->m, NULL, &dirs);
    assert_int_equal(meta_rmdir_prepare(f->m, P("/d")), 0);
    assert_int_equal(meta_rmdir_commit(f->m, P("/d")), 0);
    assert_int_equal(meta_lookup(f->m, P("/d"), &a), -ENOENT);
    /* Creates in the removed directory fail, even right after creates in
     * it (the store remembers the last parent it checked). */
    assert_int_equal(meta_create(f->m, P("/d/f"), 0600, 0, 0, 0, 0, &a, NULL, NULL), -ENOENT);
    assert_false(dir_has(f->m, "/", "d"));
    meta_counts(f->m, NULL, &dirs_after);
    assert_int_equal(dirs_after, dirs - 1);
    /* The name is free again, and not blocked. */
    assert_int_equal(meta_mkdir(f->m, P("/d"), 0755, 0, 0, true), 0);
    create_ok(f->m, "/d/f", &a);

    /* Commit without prepare rolls back a mkdir. */
    assert_int_equal(meta_mkdir(f->m, P("/r"), 0755, 0, 0, false), 0);
    assert_int_equal(meta_rmdir_commit(f->m, P("/r")), 0);
    assert_int_equal(meta_lookup(f->m, P("/r"), &a), -ENOENT);
    assert_int_equal(meta_rmdir_abort(f->m, P("bad")), -EINVAL);
}

static void test_readdir_paging(void **state)
{
    struct fixture *f = *state;
    static char names[1100][256];
    char expect[1000][8], path[32], longc[256];
    struct meta_attr a;
    static struct page pg; /* large: not on the stack */
    bool done = true;
    unsigned n, i, j;

    assert_int_equal(meta_mkdir(f->m, P("/big"), 0755, 0, 0, true), 0);
    assert_int_equal(meta_mkdir(f->m, P("/big2"), 0755, 0, 0, true), 0);
    /* Insert in a scrambled order; readdir must return byte order. */
    for (i = 0; i < 1000; i++) {
        j = (i * 617) % 1000;
        snprintf(path, sizeof(path), "/big/f%04u", j);
        create_ok(f->m, path, &a);
        assert_int_equal(meta_setsize(f->m, P(path), a.ino, j, 0, false, NULL), 0);
        snprintf(path, sizeof(path), "/big2/g%04u", j);
        if (j < 10)
            create_ok(f->m, path, &a);
    }
    for (i = 0; i < 1000; i++)
        snprintf(expect[i], sizeof(expect[i]), "f%04u", i);

    n = list_all(f->m, "/big", 7, names, 1100);
    assert_int_equal(n, 1000);
    for (i = 0; i < n; i++)
        assert_string_equal(names[i], expect[i]);
    n = list_all(f->m, "/big", 1000, names, 1100); /* exactly one page */
    assert_int_equal(n, 1000);
    n = list_all(f->m, "/big2", 3, names, 1100);
    assert_int_equal(n, 10);
    assert_string_equal(names[0], "g0000");

    /* Attributes come from the records (sizes set after the create). */
    memset(&pg, 0, sizeof(pg));
    pg.limit = 64;
    assert_int_equal(meta_readdir(f->m, P("/big"), P("f0499"), page_cb, &pg, &done), 0);
    assert_false(done);
    assert_int_equal(pg.n, 64);
    assert_string_equal(pg.names[0], "f0500");
    assert_int_equal(pg.attrs[0].size, 500);
    assert_true(S_ISREG(pg.attrs[0].mode));

    /* A cursor that names no entry resumes at the next name. */
    memset(&pg, 0, sizeof(pg));
    pg.limit = 2;
    assert_int_equal(meta_readdir(f->m, P("/big"), P("f0499x"), page_cb, &pg, &done), 0);
    assert_string_equal(pg.names[0], "f0500");
    /* Early stop on the first entry: nothing consumed, not done. */
    memset(&pg, 0, sizeof(pg));
    pg.limit = 0;
    done = true;
    assert_int_equal(meta_readdir(f->m, P("/big"), NULL, 0, page_cb, &pg, &done), 0);
    assert_false(done);
    assert_int_equal(pg.n, 0);
    /* Cursor at the last entry: done, no entries. */
    memset(&pg, 0, sizeof(pg));
    pg.limit = 5;
    assert_int_equal(meta_readdir(f->m, P("/big"), P("f0999"), page_cb, &pg, &done), 0);
    assert_true(done);
    assert_int_equal(pg.n, 0);
    /* A page that ends exactly at the last entry: done (no entry refused). */
    memset(&pg, 0, sizeof(pg));
    pg.limit = 2;
    assert_int_equal(meta_readdir(f->m, P("/big"), P("f0997"), page_cb, &pg, &done), 0);
    assert_true(done);
    assert_int_equal(pg.n, 2);

    /* Directory entries carry the directory record. */
    memset(&pg, 0, sizeof(pg));
    pg.limit = 10;
    assert_int_equal(meta_readdir(f->m, P("/"), NULL, 0, page_cb, &pg, &done), 0);
    assert_true(done);
    assert_int_equal(pg.n, 2);
    assert_string_equal(pg.names[0], "big");
    assert_true(S_ISDIR(pg.attrs[0].mode));

    /* Empty directory, errors. */
    assert_int_equal(meta_mkdir(f->m, P("/empty"), 0755, 0, 0, false), 0);
    memset(&pg, 0, sizeof(pg));
    pg.limit = 10;
    done = false;
    assert_int_equal(meta_readdir(f->m, P("/empty"), NULL, 0, page_cb, &pg, &done), 0);
    assert_true(done);
    assert_int_equal(pg.n, 0);
    assert_int_equal(meta_readdir(f->m, P("/nope"), NULL, 0, page_cb, &pg, &done), -ENOENT);
    assert_int_equal(meta_readdir(f->m, P("/big/f0001"), NULL, 0, page_cb, &pg, &done), -ENOTDIR);
    memset(longc, 'x', sizeof(longc));
    assert_int_equal(meta_readdir(f->m, P("/big"), longc, 256, page_cb, &pg, &done), -EINVAL);
    /* Survives a commit and restart. */
    reopen(f);
    n = list_all(f->m, "/big", 333, names, 1100);
    assert_int_equal(n, 1000);
    assert_string_equal(names[999], "f0999");
}

static void test_unlink(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a, b;
    uint64_t files;

    create_ok(f->m, "/u", &a);
    assert_int_equal(meta_setsize(f->m, P("/u"), 0, 12345, 0, false, NULL), 0);
    assert_int_equal(meta_unlink(f->m, P("/u"), &b), 0);
    assert_int_equal(b.ino, a.ino);
    assert_int_equal(b.size, 12345); /* the caller frees chunks from this */
    assert_int_equal(meta_lookup(f->m, P("/u"), &b), -ENOENT);
    assert_false(dir_has(f->m, "/", "u"));
    assert_int_equal(meta_unlink(f->m, P("/u"), &b), -ENOENT);
    assert_int_equal(meta_mkdir(f->m, P("/d"), 0755, 0, 0, true), 0);
    assert_int_equal(meta_unlink(f->m, P("/d"), &b), -EISDIR);
    assert_int_equal(meta_unlink(f->m, P("/"), &b), -EISDIR);
    assert_int_equal(meta_unlink(f->m, P("/d/"), &b), -EINVAL);
    meta_counts(f->m, &files, NULL);
    assert_int_equal(files, 0);
}

static void test_rename(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a, b, moved, repl;
    bool has = true;
    uint64_t files;

    assert_int_equal(meta_mkdir(f->m, P("/d1"), 0755, 0, 0, true), 0);
    assert_int_equal(meta_mkdir(f->m, P("/d2"), 0755, 0, 0, true), 0);
    create_ok(f->m, "/d1/a", &a);
    assert_int_equal(meta_setsize(f->m, P("/d1/a"), a.ino, 42, 0, false, NULL), 0);

    /* Same directory. */
    assert_int_equal(meta_rename(f->m, P("/d1/a"), P("/d1/b"), &moved, &repl, &has), 0);
    assert_false(has);
    assert_int_equal(moved.ino, a.ino);
    assert_int_equal(moved.size, 42);
    assert_int_equal(meta_lookup(f->m, P("/d1/a"), &b), -ENOENT);
    assert_int_equal(meta_lookup(f->m, P("/d1/b"), &b), 0);
    assert_int_equal(b.ino, a.ino);
    assert_false(dir_has(f->m, "/d1", "a"));
    assert_true(dir_has(f->m, "/d1", "b"));

    /* Across directories: both child indexes change. */
    assert_int_equal(meta_rename(f->m, P("/d1/b"), P("/d2/c"), &moved, NULL, &has), 0);
    assert_false(dir_has(f->m, "/d1", "b"));
    assert_true(dir_has(f->m, "/d2", "c"));

    /* Replace an existing file. */
    create_ok(f->m, "/d1/victim", &b);
    meta_counts(f->m, &files, NULL);
    assert_int_equal(files, 2);
    assert_int_equal(meta_rename(f->m, P("/d2/c"), P("/d1/victim"), &moved, &repl, &has), 0);
    assert_true(has);
    assert_int_equal(repl.ino, b.ino);
    assert_int_equal(moved.ino, a.ino);
    assert_int_equal(meta_lookup(f->m, P("/d1/victim"), &b), 0);
    assert_int_equal(b.ino, a.ino);
    meta_counts(f->m, &files, NULL);
    assert_int_equal(files, 1);
    assert_false(dir_has(f->m, "/d2", "c"));

    /* Onto itself: no-op. */
    assert_int_equal(meta_rename(f->m, P("/d1/victim"), P("/d1/victim"), &moved, &repl, &has), 0);
    assert_false(has);
    assert_int_equal(moved.ino, a.ino);
    assert_int_equal(meta_lookup(f->m, P("/d1/victim"), &b), 0);

    /* Errors. */
    assert_int_equal(meta_rename(f->m, P("/d1/victim"), P("/d2"), NULL, NULL, NULL), -EISDIR);
    assert_int_equal(meta_rename(f->m, P("/d1/victim"), P("/"), NULL, NULL, NULL), -EISDIR);
    assert_int_equal(meta_rename(f->m, P("/missing"), P("/x"), NULL, NULL, NULL), -ENOENT);
    assert_int_equal(meta_rename(f->m, P("/d1/victim"), P("/nod/x"), NULL, NULL, NULL), -ENOENT);
    assert_int_equal(meta_rename(f->m, P("/d1/victim"), P("/d1/victim/x"), NULL, NULL, NULL),
                     -ENOTDIR);
    assert_int_equal(meta_rename(f->m, P("/d1"), P("/d3"), NULL, NULL, NULL), -EISDIR);
    assert_int_equal(meta_rename(f->m, P("/"), P("/d3"), NULL, NULL, NULL), -EBUSY);
    assert_int_equal(meta_rename(f->m, P("/d1/victim"), P("/d1//x"), NULL, NULL, NULL), -EINVAL);
    /* Failed renames changed nothing. */
    assert_int_equal(meta_lookup(f->m, P("/d1/victim"), &b), 0);
    assert_int_equal(b.ino, a.ino);
    meta_counts(f->m, &files, NULL);
    assert_int_equal(files, 1);
}

static void test_inode_put_del(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a, b, repl;
    bool has = true;
    uint64_t files;

    memset(&a, 0, sizeof(a));
    a.ino = 0xabcdef0000000001ull; /* allocated by another server */
    a.mode = S_IFREG | 0600;
    a.nlink = 1;
    a.size = 999;
    a.chunk_size = 1 << 20;
    assert_int_equal(meta_inode_put(f->m, P("/nod/x"), &a, false, &repl, &has), -ENOENT);
    assert_int_equal(meta_mkdir(f->m, P("/d"), 0755, 0, 0, false), 0);
    assert_int_equal(meta_inode_put(f->m, P("/d"), &a, false, &repl, &has), -EISDIR);
    b = a;
    b.mode = S_IFDIR | 0755;
    assert_int_equal(meta_inode_put(f->m, P("/x"), &b, false, &repl, &has), -EINVAL);

    assert_int_equal(meta_inode_put(f->m, P("/x"), &a, false, &repl, &has), 0);
    assert_false(has);
    assert_int_equal(meta_lookup(f->m, P("/x"), &b), 0);
    assert_memory_equal(&a, &b, sizeof(a)); /* stored as given */
    assert_true(dir_has(f->m, "/", "x"));
    meta_counts(f->m, &files, NULL);
    assert_int_equal(files, 1);

    /* A retried put of the same inode replaces nothing. */
    assert_int_equal(meta_inode_put(f->m, P("/x"), &a, true, &repl, &has), 0);
    assert_false(has);

    /* Onto another file. */
    create_ok(f->m, "/y", &b);
    assert_int_equal(meta_inode_put(f->m, P("/y"), &a, true, &repl, &has), -EEXIST);
    assert_int_equal(meta_inode_put(f->m, P("/y"), &a, false, &repl, &has), 0);
    assert_true(has);
    assert_int_equal(repl.ino, b.ino);
    meta_counts(f->m, &files, NULL);
    assert_int_equal(files, 2); /* /x and /y, both holding a */

    /* del. */
    assert_int_equal(meta_inode_del(f->m, P("/x"), a.ino + 1, &b), -ESTALE);
    assert_int_equal(meta_lookup(f->m, P("/x"), &b), 0);
    assert_int_equal(meta_inode_del(f->m, P("/x"), a.ino, &b), 0);
    assert_int_equal(b.size, 999);
    assert_int_equal(meta_lookup(f->m, P("/x"), &b), -ENOENT);
    assert_false(dir_has(f->m, "/", "x"));
    assert_int_equal(meta_inode_del(f->m, P("/x"), a.ino, &b), -ENOENT);
    assert_int_equal(meta_inode_del(f->m, P("/d"), 0, &b), -EISDIR);
    assert_int_equal(meta_inode_del(f->m, P("/y"), 0, &b), 0); /* 0 = any */
    meta_counts(f->m, &files, NULL);
    assert_int_equal(files, 0);
}

/* Unlink / rename-over with keep: the record becomes an orphan reachable by
 * inode number only, invisible to lookups and readdir, until released. */
static void test_orphans(void **state)
{
    struct fixture *f = *state;
    char names[8][256], opath[META_ORPHAN_PATH_MAX];
    struct meta_attr a, b, c, moved, repl;
    uint64_t old = 0, files = 0;
    size_t olen;
    bool has = false;

    create_ok(f->m, "/o", &a);
    assert_int_equal(meta_setsize(f->m, P("/o"), a.ino, 1000, 0, false, NULL), 0);
    assert_int_equal(meta_unlink_keep(f->m, P("/o"), true, &b), 0);
    assert_int_equal(b.ino, a.ino);
    assert_int_equal(b.size, 1000);
    assert_int_equal(meta_lookup(f->m, P("/o"), &c), -ENOENT);
    assert_int_equal(list_all(f->m, "/", 4, names, 8), 0);
    meta_counts(f->m, &files, NULL);
    assert_int_equal(files, 0);

    /* a new file under the old name is another inode */
    create_ok(f->m, "/o", &b);
    assert_true(b.ino != a.ino);
    assert_int_equal(meta_stat_ino(f->m, P("/o"), a.ino, &c), -ESTALE);
    assert_int_equal(meta_truncate_ino(f->m, P("/o"), a.ino, 10, &c, &old), -ESTALE);
    assert_int_equal(meta_lookup(f->m, P("/o"), &c), 0);
    assert_int_equal(c.ino, b.ino);

    /* the orphan works by inode number */
    olen = meta_orphan_path(a.ino, opath);
    assert_true(meta_orphan_path_ok(opath, olen));
    assert_false(meta_orphan_path_ok("orphan:xyz", 10));
    assert_int_equal(meta_stat_ino(f->m, opath, olen, a.ino, &c), 0);
    assert_int_equal(c.size, 1000);
    assert_int_equal(c.nlink, 0);
    assert_int_equal(meta_truncate_ino(f->m, opath, olen, a.ino, 10, &c, &old), 0);
    assert_int_equal(old, 1000);
    assert_int_equal(meta_setsize(f->m, opath, olen, a.ino, 20, 0, false, &c), 0);
    assert_int_equal(c.size, 20);
    assert_int_equal(meta_orphan_release(f->m, a.ino, &c), 0);
    assert_int_equal(c.size, 20);
    assert_int_equal(meta_orphan_release(f->m, a.ino, &c), -ENOENT);
    assert_int_equal(meta_stat_ino(f->m, opath, olen, a.ino, &c), -ENOENT);

    /* a directory now at the name: stale for the old inode, not EISDIR */
    assert_int_equal(meta_unlink(f->m, P("/o"), NULL), 0);
    assert_int_equal(meta_mkdir(f->m, P("/o"), 0755, 0, 0, true), 0);
    assert_int_equal(meta_stat_ino(f->m, P("/o"), b.ino, &c), -ESTALE);
    assert_int_equal(meta_setsize(f->m, P("/o"), b.ino, 5, 0, false, &c), -ESTALE);

    /* rename over a file with keep: the replaced one becomes an orphan */
    create_ok(f->m, "/x", &a);
    create_ok(f->m, "/y", &b);
    assert_int_equal(meta_rename_keep(f->m, P("/x"), P("/y"), true, &moved, &repl, &has), 0);
    assert_true(has);
    assert_int_equal(repl.ino, b.ino);
    olen = meta_orphan_path(b.ino, opath);
    assert_int_equal(meta_stat_ino(f->m, opath, olen, b.ino, &c), 0);
    assert_int_equal(meta_orphan_release(f->m, b.ino, NULL), 0);
    /* the same through a cross-server put */
    create_ok(f->m, "/z", &b);
    assert_int_equal(meta_inode_put_keep(f->m, P("/z"), &a, false, true, &repl, &has), 0);
    assert_true(has);
    assert_int_equal(repl.ino, b.ino);
    assert_int_equal(meta_orphan_release(f->m, b.ino, NULL), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
}

/* meta_orphan_each callback: collect (ino, size, holder) in order. */
struct holder_seen {
    size_t n;
    uint64_t ino[4], size[4];
    struct meta_holder h[4];
};

static int holder_collect(void *arg, const struct meta_attr *attr, const struct meta_holder *h)
{
    struct holder_seen *s = arg;

    if (s->n == 4)
        return -E2BIG;
    s->ino[s->n] = attr->ino;
    s->size[s->n] = attr->size;
    s->h[s->n++] = *h;
    return 0;
}

/* The holder of an orphan record is kept with it, survives a restart, and
 * goes with the record; an orphan without a recorded holder is not listed. */
static void test_orphan_holders(void **state)
{
    struct fixture *f = *state;
    struct meta_holder h1 = {0x1111, 0xaaaa, 41}, h2 = {0x2222, 0xbbbb, 42};
    struct meta_attr a, b, c, x;
    struct holder_seen seen;

    create_ok(f->m, "/a", &a);
    create_ok(f->m, "/b", &b);
    create_ok(f->m, "/c", &c);
    assert_int_equal(meta_setsize(f->m, P("/b"), b.ino, 777, 0, false, NULL), 0);
    /* not an orphan (yet): no holder can be set */
    assert_int_equal(meta_orphan_holder_set(f->m, a.ino, &h1), -ENOENT);
    assert_int_equal(meta_unlink_keep(f->m, P("/a"), true, &x), 0);
    assert_int_equal(meta_unlink_keep(f->m, P("/b"), true, &x), 0);
    assert_int_equal(meta_unlink_keep(f->m, P("/c"), true, &x), 0);
    assert_int_equal(meta_orphan_holder_set(f->m, b.ino, &h2), 0);
    assert_int_equal(meta_orphan_holder_set(f->m, a.ino, &h1), 0);
    assert_int_equal(meta_flush(f->m, true), 0);
    reopen(f);

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(meta_orphan_each(f->m, holder_collect, &seen), 0);
    assert_int_equal(seen.n, 2); /* /c has no holder */
    assert_int_equal(seen.ino[0], a.ino < b.ino ? a.ino : b.ino);
    assert_true(a.ino < b.ino);
    assert_int_equal(seen.h[0].session, 0x1111);
    assert_int_equal(seen.h[0].host, 0xaaaa);
    assert_int_equal(seen.h[0].pid, 41);
    assert_int_equal(seen.ino[1], b.ino);
    assert_int_equal(seen.size[1], 777);
    assert_int_equal(seen.h[1].session, 0x2222);
    assert_int_equal(seen.h[1].pid, 42);

    /* released: the holder goes too */
    assert_int_equal(meta_orphan_release(f->m, a.ino, NULL), 0);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(meta_orphan_each(f->m, holder_collect, &seen), 0);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.ino[0], b.ino);
    /* a callback's non-zero return stops the walk and is returned */
    seen.n = 4;
    assert_int_equal(meta_orphan_each(f->m, holder_collect, &seen), -E2BIG);
    assert_int_equal(meta_orphan_release(f->m, b.ino, NULL), 0);
    assert_int_equal(meta_orphan_release(f->m, c.ino, NULL), 0);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(meta_orphan_each(f->m, holder_collect, &seen), 0);
    assert_int_equal(seen.n, 0);
    assert_int_equal(meta_flush(f->m, false), 0);
}

static void test_truncate_setsize(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a, b;
    uint64_t old = 1;

    create_ok(f->m, "/s", &a);
    assert_int_equal(meta_truncate(f->m, P("/s"), 10, &b, &old), 0);
    assert_int_equal(old, 0);
    assert_int_equal(b.size, 10);
    assert_int_equal(meta_truncate(f->m, P("/s"), 5, &b, &old), 0);
    assert_int_equal(old, 10);
    assert_int_equal(b.size, 5);
    assert_true(b.mtime_ns >= a.mtime_ns);

    /* Max semantics. */
    assert_int_equal(meta_setsize(f->m, P("/s"), a.ino, 3, 0, false, &b), 0);
    assert_int_equal(b.size, 5);
    assert_int_equal(meta_setsize(f->m, P("/s"), a.ino, 100, 0, false, &b), 0);
    assert_int_equal(b.size, 100);
    assert_int_equal(meta_setsize(f->m, P("/s"), 0, 7, 0, true, &b), 0);
    assert_int_equal(b.size, 7);
    assert_int_equal(meta_lookup(f->m, P("/s"), &b), 0);
    assert_int_equal(b.size, 7);

    /* mtime: as given, never backwards unless exact. */
    assert_int_equal(meta_setsize(f->m, P("/s"), a.ino, 7, 4000000000000000000ull, false, &b), 0);
    assert_int_equal(b.mtime_ns, 4000000000000000000ull);
    assert_true(b.ctime_ns >= b.mtime_ns);
    assert_int_equal(meta_setsize(f->m, P("/s"), a.ino, 7, 1000, false, &b), 0);
    assert_int_equal(b.mtime_ns, 4000000000000000000ull);
    assert_int_equal(meta_setsize(f->m, P("/s"), a.ino, 7, 1000, true, &b), 0);
    assert_int_equal(b.mtime_ns, 1000);

    assert_int_equal(meta_setsize(f->m, P("/s"), a.ino + 1, 1, 0, false, &b), -ESTALE);
    assert_int_equal(meta_setsize(f->m, P("/none"), 0, 1, 0, false, &b), -ENOENT);
    assert_int_equal(meta_truncate(f->m, P("/none"), 1, &b, &old), -ENOENT);
    assert_int_equal(meta_mkdir(f->m, P("/d"), 0755, 0, 0, false), 0);
    assert_int_equal(meta_setsize(f->m, P("/d"), 0, 1, 0, false, &b), -EISDIR);
    assert_int_equal(meta_truncate(f->m, P("/d"), 1, &b, &old), -EISDIR);
    assert_int_equal(meta_truncate(f->m, P("/"), 1, &b, &old), -EISDIR);
    reopen(f);
    assert_int_equal(meta_lookup(f->m, P("/s"), &b), 0);
    assert_int_equal(b.size, 7);
    assert_int_equal(b.mtime_ns, 1000);
}

static void test_group_commit(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a;
    uint64_t files, dirs;
    char path[32];
    int i;

    /* One "pass" far longer than one transaction may grow. */
    assert_int_equal(meta_mkdir(f->m, P("/g"), 0755, 0, 0, true), 0);
    for (i = 0; i < 5000; i++) {
        snprintf(path, sizeof(path), "/g/%d", i);
        create_ok(f->m, path, &a);
        assert_int_equal(meta_lookup(f->m, P(path), &a), 0); /* sees its own pass */
    }
    assert_int_equal(meta_unlink(f->m, P("/g/17"), NULL), 0);
    assert_int_equal(meta_flush(f->m, true), 0);
    assert_int_equal(meta_flush(f->m, true), 0); /* nothing pending */
    reopen(f);
    for (i = 0; i < 5000; i++) {
        snprintf(path, sizeof(path), "/g/%d", i);
        assert_int_equal(meta_lookup(f->m, P(path), &a), i == 17 ? -ENOENT : 0);
    }
    meta_counts(f->m, &files, &dirs);
    assert_int_equal(files, 4999);
    assert_int_equal(dirs, 2);
}

static void test_restart_persistence(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a, b;
    uint64_t max_ino = 0, files, dirs;
    char path[32];
    int i;

    assert_int_equal(meta_mkdir(f->m, P("/p"), 0700, 0, 0, true), 0);
    for (i = 0; i < 100; i++) {
        snprintf(path, sizeof(path), "/p/%d", i);
        create_ok(f->m, path, &a);
        max_ino = a.ino;
    }
    assert_int_equal(meta_setsize(f->m, P("/p/5"), 0, 555, 0, false, NULL), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    reopen(f);
    assert_int_equal(meta_lookup(f->m, P("/p/5"), &b), 0);
    assert_int_equal(b.size, 555);
    assert_true(dir_has(f->m, "/p", "99"));
    meta_counts(f->m, &files, &dirs);
    assert_int_equal(files, 100);
    assert_int_equal(dirs, 2);
    create_ok(f->m, "/after", &b);
    assert_true(b.ino > max_ino); /* the counter continues */
}

/* meta_setattr: mode keeps the file type, owner, exact (older) times, NOW,
 * ctime; directories and orphans; the inode check; bad input; an explicit
 * mtime sticks until the next size push moves it forward again. */
static void test_setattr(void **state)
{
    struct fixture *f = *state;
    struct meta_setattr sa;
    struct meta_attr a, b, d;
    char opath[META_ORPHAN_PATH_MAX];
    uint64_t t0 = time_real_ns(), old = 1500000000ull * 1000000000ull + 123;
    size_t olen;

    create_ok(f->m, "/s", &a);
    memset(&sa, 0, sizeof(sa));
    sa.valid = PROTO_SETATTR_MODE | PROTO_SETATTR_UID | PROTO_SETATTR_GID;
    sa.mode = 04640;
    sa.uid = 77;
    sa.gid = 88;
    assert_int_equal(meta_setattr(f->m, P("/s"), 0, &sa, &b), 0);
    assert_int_equal(b.mode, S_IFREG | 04640);
    assert_int_equal(b.uid, 77);
    assert_int_equal(b.gid, 88);
    assert_int_equal(b.ino, a.ino);
    assert_int_equal(b.mtime_ns, a.mtime_ns); /* untouched */
    assert_true(b.ctime_ns >= t0);

    /* times: given exactly (older than now), NOW from the clock */
    sa.valid = PROTO_SETATTR_MTIME | PROTO_SETATTR_ATIME_NOW;
    sa.mtime_ns = old;
    assert_int_equal(meta_setattr(f->m, P("/s"), a.ino, &sa, &b), 0);
    assert_int_equal(b.mtime_ns, old);
    assert_true(b.atime_ns >= t0);
    assert_true(b.ctime_ns >= t0);
    assert_int_equal(meta_lookup(f->m, P("/s"), &d), 0);
    assert_int_equal(d.mtime_ns, old);
    assert_int_equal(d.mode, S_IFREG | 04640);
    /* a size push with an older time leaves it; a write now moves it */
    assert_int_equal(meta_setsize(f->m, P("/s"), a.ino, 0, old - 5, false, &d), 0);
    assert_int_equal(d.mtime_ns, old);
    assert_int_equal(meta_setsize(f->m, P("/s"), a.ino, 10, 0, false, &d), 0);
    assert_true(d.mtime_ns >= t0);

    /* CTIME as given (a directory's replica) */
    sa.valid = PROTO_SETATTR_CTIME;
    sa.ctime_ns = old + 7;
    assert_int_equal(meta_setattr(f->m, P("/s"), 0, &sa, &b), 0);
    assert_int_equal(b.ctime_ns, old + 7);

    /* a directory keeps S_IFDIR */
    assert_int_equal(meta_mkdir(f->m, P("/sd"), 0755, 0, 0, true), 0);
    sa.valid = PROTO_SETATTR_MODE | PROTO_SETATTR_MTIME;
    sa.mode = 0700;
    sa.mtime_ns = old;
    assert_int_equal(meta_setattr(f->m, P("/sd"), 0, &sa, &b), 0);
    assert_int_equal(b.mode, S_IFDIR | 0700);
    assert_int_equal(b.mtime_ns, old);
    assert_int_equal(meta_lookup(f->m, P("/sd"), &d), 0);
    assert_int_equal(d.ino, b.ino);
    assert_int_equal(meta_setattr(f->m, P("/sd"), d.ino, &sa, NULL), 0);
    assert_int_equal(meta_setattr(f->m, P("/"), 0, &sa, &b), 0);
    assert_int_equal(b.mode, S_IFDIR | 0700);

    /* errors */
    assert_int_equal(meta_setattr(f->m, P("/nope"), 0, &sa, NULL), -ENOENT);
    assert_int_equal(meta_setattr(f->m, P("/s"), a.ino + 1, &sa, NULL), -ESTALE);
    assert_int_equal(meta_setattr(f->m, P("/s//"), 0, &sa, NULL), -EINVAL);
    sa.valid = 0;
    assert_int_equal(meta_setattr(f->m, P("/s"), 0, &sa, NULL), -EINVAL);
    sa.valid = 0x100;
    assert_int_equal(meta_setattr(f->m, P("/s"), 0, &sa, NULL), -EINVAL);
    sa.valid = PROTO_SETATTR_MTIME | PROTO_SETATTR_MTIME_NOW;
    assert_int_equal(meta_setattr(f->m, P("/s"), 0, &sa, NULL), -EINVAL);
    sa.valid = PROTO_SETATTR_ATIME | PROTO_SETATTR_ATIME_NOW;
    assert_int_equal(meta_setattr(f->m, P("/s"), 0, &sa, NULL), -EINVAL);
    sa.valid = PROTO_SETATTR_MODE;
    sa.mode = S_IFDIR | 0644;
    assert_int_equal(meta_setattr(f->m, P("/s"), 0, &sa, NULL), -EINVAL);
    assert_int_equal(meta_lookup(f->m, P("/s"), &d), 0);
    assert_int_equal(d.mode, S_IFREG | 04640); /* nothing changed by the failures */

    /* an orphan record, by inode number */
    assert_int_equal(meta_unlink_keep(f->m, P("/s"), true, NULL), 0);
    olen = meta_orphan_path(a.ino, opath);
    sa.mode = 0600;
    assert_int_equal(meta_setattr(f->m, opath, olen, a.ino, &sa, &b), 0);
    assert_int_equal(b.mode, S_IFREG | 0600);
    assert_int_equal(b.nlink, 0);
    assert_int_equal(meta_setattr(f->m, P("/s"), a.ino, &sa, NULL), -ENOENT);

    /* kept across a restart */
    assert_int_equal(meta_flush(f->m, false), 0);
    reopen(f);
    assert_int_equal(meta_lookup(f->m, P("/sd"), &d), 0);
    assert_int_equal(d.mode, S_IFDIR | 0700);
    assert_int_equal(d.mtime_ns, old);
}

/* A crash (no flush, no close) loses the last pass but never reuses an
 * inode number handed out in it. */
static void test_crash_no_ino_reuse(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a;
    uint64_t child_max = 0;
    int pfd[2], status;
    pid_t pid;

    meta_close(f->m);
    f->m = NULL;
    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct meta *m = NULL;
        char err[256];

        child_default_signals();
        if (meta_open(f->dir, &f->opts, &m, err, sizeof(err)) != 0)
            _exit(2);
        if (meta_create(m, P("/kept"), 0600, 0, 0, 0, 0, &a, NULL, NULL) != 0 ||
            meta_flush(m, true) != 0)
            _exit(3);
        if (meta_create(m, P("/lost"), 0600, 0, 0, 0, 0, &a, NULL, NULL) != 0)
            _exit(4);
        if (write(pfd[1], &a.ino, sizeof(a.ino)) != sizeof(a.ino))
            _exit(5);
        _exit(0); /* no flush, no close: the pass is never committed */
    }
    close(pfd[1]);
    assert_int_equal(read(pfd[0], &child_max, sizeof(child_max)), sizeof(child_max));
    close(pfd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    f->m = open_or_fail(f->dir, &f->opts);
    assert_int_equal(meta_lookup(f->m, P("/kept"), &a), 0);
    assert_int_equal(meta_lookup(f->m, P("/lost"), &a), -ENOENT);
    create_ok(f->m, "/new", &a);
    assert_true(a.ino > child_max);
}

static void test_long_paths(void **state)
{
    struct fixture *f = *state;
    char path[4200], name[256], dir[4200];
    struct meta_attr a;
    size_t len = 0;

    memset(name, 'n', 255);
    name[255] = '\0';
    /* /nnn.../nnn... up to 4095 bytes: 15 components of 255 + a tail. */
    path[0] = '\0';
    while (len + 1 + 255 <= 4095 - 20) {
        path[len++] = '/';
        memcpy(path + len, name, 255);
        len += 255;
        path[len] = '\0';
        assert_int_equal(meta_mkdir(f->m, path, len, 0755, 0, 0, true), 0);
    }
    memcpy(dir, path, len + 1);
    path[len++] = '/';
    memset(path + len, 'f', 4095 - len);
    len = 4095;
    path[len] = '\0';
    create_ok(f->m, path, &a);
    assert_int_equal(meta_lookup(f->m, path, len, &a), 0);
    assert_true(S_ISREG(a.mode));
    assert_int_equal(meta_setsize(f->m, path, len, a.ino, 1, 0, false, NULL), 0);
    assert_int_equal(meta_flush(f->m, true), 0);
    reopen(f);
    assert_int_equal(meta_lookup(f->m, path, len, &a), 0);
    assert_int_equal(a.size, 1);
    assert_true(dir_has(f->m, dir, path + strlen(dir) + 1));
    /* One byte longer is not a path. */
    path[len] = 'g';
    assert_int_equal(meta_lookup(f->m, path, len + 1, &a), -EINVAL);
    assert_int_equal(meta_create(f->m, path, len + 1, 0600, 0, 0, 0, 0, &a, NULL, NULL), -EINVAL);
    assert_int_equal(meta_unlink(f->m, path, len, &a), 0);
}

static void test_durability_modes(void **state)
{
    struct fixture *f = *state;
    int modes[] = {DURABILITY_NONE, DURABILITY_FSYNC, DURABILITY_CLOSE, DURABILITY_ALWAYS};
    struct meta_attr a;
    char path[32];
    unsigned i;

    for (i = 0; i < 4; i++) {
        meta_close(f->m);
        f->opts.durability = modes[i];
        f->m = open_or_fail(f->dir, &f->opts);
        snprintf(path, sizeof(path), "/mode%u", i);
        create_ok(f->m, path, &a);
        assert_int_equal(meta_flush(f->m, true), 0);
        create_ok(f->m, "/x", &a);
        assert_int_equal(meta_flush(f->m, false), 0);
        assert_int_equal(meta_unlink(f->m, P("/x"), NULL), 0);
    }
    reopen(f);
    for (i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "/mode%u", i);
        assert_int_equal(meta_lookup(f->m, P(path), &a), 0);
    }
}

static void test_map_full(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a;
    char path[300];
    uint64_t files;
    int i, rc = 0, made = 0;

    meta_close(f->m);
    rm_rf(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    f->opts.map_size = 1u << 20;
    f->m = open_or_fail(f->dir, &f->opts);
    /* All in one pass: a full map must not take the earlier creates along. */
    for (i = 0; i < 100000; i++) {
        snprintf(path, sizeof(path), "/%0200d", i);
        rc = meta_create(f->m, P(path), 0600, 0, 0, 0, 0, &a, NULL, NULL);
        if (rc != 0)
            break;
        made++;
    }
    assert_int_equal(rc, -ENOSPC);
    assert_true(made > 100);
    printf("# map of 1 MiB full after %d creates\n", made);
    for (i = 0; i < made; i++) {
        snprintf(path, sizeof(path), "/%0200d", i);
        assert_int_equal(meta_lookup(f->m, P(path), &a), 0);
    }
    assert_int_equal(meta_flush(f->m, true), 0);
    /* After the commit LMDB may reuse freed pages for a few more; then it
     * is full again, and still serving reads. */
    for (i = made; i < made + 1000; i++) {
        snprintf(path, sizeof(path), "/%0200d", i);
        rc = meta_create(f->m, P(path), 0600, 0, 0, 0, 0, &a, NULL, NULL);
        if (rc != 0)
            break;
    }
    assert_int_equal(rc, -ENOSPC);
    made = i;
    assert_int_equal(meta_flush(f->m, false), 0);
    reopen(f);
    meta_counts(f->m, &files, NULL);
    assert_int_equal(files, (uint64_t)made);
    snprintf(path, sizeof(path), "/%0200d", made - 1);
    assert_int_equal(meta_lookup(f->m, P(path), &a), 0);
    /* Freeing space makes room again. */
    for (i = 0; i < made / 2; i++) {
        snprintf(path, sizeof(path), "/%0200d", i);
        assert_int_equal(meta_unlink(f->m, P(path), NULL), 0);
        assert_int_equal(meta_flush(f->m, false), 0);
    }
    snprintf(path, sizeof(path), "/%0200d", 0);
    assert_int_equal(meta_create(f->m, P(path), 0600, 0, 0, 0, 0, &a, NULL, NULL), 0);
}

/* In a child: mount a tmpfs of `size` on dir in a private mount namespace.
 * 0, or -1 where that is not allowed (the test then skips). */
static int tiny_fs(const char *dir, const char *size)
{
    char opts[64];

    snprintf(opts, sizeof(opts), "size=%s", size);
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", dir, "tmpfs", 0, opts) != 0)
        return -1;
    return 0;
}

/* The file system under the store fills up (chunk data, say): creates get
 * -ENOSPC -- the server must not die of SIGBUS writing the map -- unlinks
 * still work, and creates work again once there is space. */
static int disk_full_child(const char *sub, const struct meta_opts *opts)
{
    struct meta_opts o = *opts;
    static char block[1 << 20];
    char path[200], ballast[300], err[256];
    struct meta_attr a;
    struct meta *m;
    int fd, i, rc = 0, made = 0;

    if (tiny_fs(sub, "48m") != 0)
        return 77;
    o.map_size = 1u << 30; /* far larger than the disk */
    if (meta_open(sub, &o, &m, err, sizeof(err)) != 0)
        return 2;
    if (meta_create(m, P("/first"), 0600, 0, 0, 0, 0, &a, NULL, NULL) != 0 ||
        meta_flush(m, false) != 0)
        return 3;
    /* Fill the rest of the disk. */
    snprintf(ballast, sizeof(ballast), "%s/ballast", sub);
    fd = open(ballast, O_CREAT | O_WRONLY, 0600);
    if (fd < 0)
        return 4;
    while (write(fd, block, sizeof(block)) > 0)
        ;
    for (i = 0; i < 2000000; i++) {
        snprintf(path, sizeof(path), "/%0150d", i);
        rc = meta_create(m, P(path), 0600, 0, 0, 0, 0, &a, NULL, NULL);
        if (rc != 0)
            break;
        made++;
        if (i % 64 == 63 && meta_flush(m, false) != 0)
            return 5;
    }
    if (rc != -ENOSPC || made < 1000 || meta_flush(m, true) != 0)
        return 6;
    for (i = 0; i < made; i += 97) {
        snprintf(path, sizeof(path), "/%0150d", i);
        if (meta_lookup(m, P(path), &a) != 0)
            return 7;
    }
    /* The reserve lets deletes through. */
    for (i = 0; i < 200; i++) {
        snprintf(path, sizeof(path), "/%0150d", i);
        if (meta_unlink(m, P(path), NULL) != 0 || meta_flush(m, false) != 0)
            return 8;
    }
    /* Space comes back: so do creates (from the next pass on). */
    if (ftruncate(fd, 0) != 0)
        return 9;
    close(fd);
    if (meta_create(m, P("/again"), 0600, 0, 0, 0, 0, &a, NULL, NULL) != 0 ||
        meta_flush(m, true) != 0)
        return 10;
    meta_close(m);
    return 0;
}

static void test_disk_full(void **state)
{
    struct fixture *f = *state;
    char sub[128];
    int status;
    pid_t pid;

    snprintf(sub, sizeof(sub), "%s/tiny", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        child_default_signals();
        _exit(disk_full_child(sub, &f->opts));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status)); /* not killed by SIGBUS */
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A record found under a path's key but holding another path (what a
 * 128-bit collision would look like) is never served. */
static void test_collision_detected(void **state)
{
    struct fixture *f = *state;
    uint8_t key[META_KEY_LEN];
    struct meta_attr a;

    create_ok(f->m, "/real", &a);
    meta_key(P("/victim"), key);
    assert_int_equal(meta_wbegin(f->m, 1, 100, true), 0);
    assert_int_equal(meta_wend(f->m, meta_rec_put(f->m, key, P("/real"), &a, false, NULL)), 0);
    assert_int_equal(meta_lookup(f->m, P("/victim"), &a), -EIO);
    assert_int_equal(meta_create(f->m, P("/victim"), 0600, 0, 0, 0, 0, &a, NULL, NULL), -EIO);
    assert_int_equal(meta_lookup(f->m, P("/real"), &a), 0);
}

/* What a reader in another process (as a client of the server's host is)
 * gets for path: meta_reader_lookup's result and attributes. With `leave`
 * the child exits holding its reader, as a killed client would. */
struct reader_answer {
    int open_rc, rc;
    struct meta_attr attr;
    int listed;      /* entries listed (`list`) */
    int cleared;     /* dead readers' slots its open cleared */
    char names[128]; /* their names, each followed by a comma */
};

static int reader_list_cb(void *arg, const char *name, size_t name_len, const struct meta_attr *a)
{
    struct reader_answer *ans = arg;
    size_t used = strlen(ans->names);

    (void)a;
    if (used + name_len + 2 > sizeof(ans->names))
        return 1;
    memcpy(ans->names + used, name, name_len);
    ans->names[used + name_len] = ',';
    ans->names[used + name_len + 1] = '\0';
    ans->listed++;
    return 0;
}

/* Run fn(arg, ans) in a forked child and bring back its answer (size
 * bytes at ans, zeroed first). A reader never opens in the process that
 * writes the store: LMDB's locks are per process. */
static void from_child(void (*fn)(void *arg, void *ans), void *arg, void *ans, size_t size)
{
    int pfd[2], status;
    pid_t pid;

    memset(ans, 0, size);
    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        child_default_signals();
        close(pfd[0]);
        fn(arg, ans);
        _exit(write(pfd[1], ans, size) == (ssize_t)size ? 0 : 1);
    }
    close(pfd[1]);
    assert_int_equal(read(pfd[0], ans, size), (ssize_t)size);
    close(pfd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

struct reader_ask {
    const char *dir, *path;
    bool leave, list;
};

static void reader_child(void *arg, void *out)
{
    const struct reader_ask *q = arg;
    struct reader_answer *ans = out;
    struct meta_reader *r = NULL;

    ans->open_rc = meta_reader_open(q->dir, &r);
    if (ans->open_rc == 0) {
        ans->cleared = meta_reader_cleared(r);
        ans->rc = q->list ? meta_reader_readdir(r, q->path, strlen(q->path), reader_list_cb, ans)
                          : meta_reader_lookup(r, q->path, strlen(q->path), &ans->attr);
        if (!q->leave)
            meta_reader_close(r);
    }
}

static struct reader_answer read_from_child_ex(const char *dir, const char *path, bool leave,
                                               bool list)
{
    struct reader_ask q = {dir, path, leave, list};
    struct reader_answer ans;

    from_child(reader_child, &q, &ans, sizeof(ans));
    assert_int_equal(ans.open_rc, 0);
    return ans;
}

static struct reader_answer read_from_child(const char *dir, const char *path, bool leave)
{
    return read_from_child_ex(dir, path, leave, false);
}

static void test_reader(void **state)
{
    struct fixture *f = *state;
    struct reader_answer ans;
    uint8_t key[META_KEY_LEN];
    struct meta_attr a, d;
    char other[sizeof(f->dir) + 8];

    create_ok(f->m, "/a", &a);
    assert_int_equal(meta_mkdir(f->m, P("/d"), 0750, 3, 4, true), 0);
    /* Not committed yet: not seen (the server replies after its commit). */
    assert_int_equal(read_from_child(f->dir, "/a", false).rc, -ENOENT);
    assert_int_equal(meta_flush(f->m, false), 0);
    ans = read_from_child(f->dir, "/a", false);
    assert_int_equal(ans.rc, 0);
    assert_memory_equal(&ans.attr, &a, sizeof(a));
    ans = read_from_child(f->dir, "/d", false);
    assert_int_equal(meta_lookup(f->m, P("/d"), &d), 0);
    assert_int_equal(ans.rc, 0);
    assert_memory_equal(&ans.attr, &d, sizeof(d));
    assert_int_equal(read_from_child(f->dir, "/nope", false).rc, -ENOENT);
    /* Listings: the entries of one snapshot, as meta_readdir gives them. */
    create_ok(f->m, "/d/x", &d);
    create_ok(f->m, "/d/y", &d);
    assert_int_equal(meta_mkdir(f->m, P("/d/z"), 0755, 0, 0, true), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    ans = read_from_child_ex(f->dir, "/d", false, true);
    assert_int_equal(ans.rc, 0);
    assert_int_equal(ans.listed, 3);
    assert_true(strstr(ans.names, "x,") != NULL && strstr(ans.names, "y,") != NULL &&
                strstr(ans.names, "z,") != NULL);
    assert_int_equal(read_from_child_ex(f->dir, "/a", false, true).rc, -ENOTDIR);
    assert_int_equal(read_from_child_ex(f->dir, "/none", false, true).rc, -ENOENT);
    assert_int_equal(read_from_child_ex(f->dir, "/d/", false, true).rc, -EINVAL);
    assert_int_equal(read_from_child(f->dir, "a", false).rc, -EINVAL);
    assert_int_equal(read_from_child(f->dir, "/d/", false).rc, -EINVAL);
    /* Another path's record under this one's key is never served. */
    meta_key(P("/victim"), key);
    assert_int_equal(meta_wbegin(f->m, 1, 100, true), 0);
    assert_int_equal(meta_wend(f->m, meta_rec_put(f->m, key, P("/a"), &a, false, NULL)), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    assert_int_equal(read_from_child(f->dir, "/victim", false).rc, -EIO);
    assert_int_equal(meta_unlink(f->m, P("/a"), NULL), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    assert_int_equal(read_from_child(f->dir, "/a", false).rc, -ENOENT);
    /* The slot of a reader that died holding it is cleared by the next
     * reader's open; none else. */
    assert_int_equal(read_from_child(f->dir, "/d", false).cleared, 0);
    assert_int_equal(read_from_child(f->dir, "/d", true).rc, 0);
    assert_int_equal(read_from_child(f->dir, "/d", false).cleared, 1);
    assert_int_equal(read_from_child(f->dir, "/d", false).cleared, 0);
    /* No store there: an error, not an empty store made by the reader. */
    snprintf(other, sizeof(other), "%s/none", f->dir);
    {
        struct meta_reader *r = NULL;

        assert_true(meta_reader_open(other, &r) < 0);
        assert_null(r);
    }
}

/* --- small chunks (meta_small_*) ---------------------------------------- */

/* ino's small chunk is exactly want[0..len) (len 0: there is none). */
static void small_is(struct meta *m, uint64_t ino, const void *want, size_t len)
{
    const void *data = NULL;
    size_t got = 0;

    if (len == 0) {
        assert_int_equal(meta_small_get(m, ino, &data, &got), 0);
        return;
    }
    assert_int_equal(meta_small_get(m, ino, &data, &got), 1);
    assert_int_equal(got, len);
    assert_memory_equal(data, want, len);
}

static void small_fill(unsigned char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(seed * 97 + i * 13 + (i >> 8) + 1);
}

/* Puts at any offset (zeros in a gap), overwrites keeping the tail, cuts
 * (never growing), the size limit, and all of it across a commit and a
 * reopen. */
/* Whether SIGTSTP is blocked inside a reader's transaction, seen from a
 * listing's callback (which runs in it), with and without a controlling
 * terminal. */
struct stop_answer {
    int open_rc, rc, holds, blocked_inside, blocked_after;
    int setsid_rc, pty_rc; /* the child's own setup */
};

static int stop_list_cb(void *arg, const char *name, size_t name_len, const struct meta_attr *a)
{
    struct stop_answer *ans = arg;
    sigset_t cur;

    (void)name;
    (void)name_len;
    (void)a;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    ans->blocked_inside = sigismember(&cur, SIGTSTP);
    return 0;
}

static void stop_list(const char *dir, struct stop_answer *ans)
{
    struct meta_reader *r = NULL;
    sigset_t cur;

    ans->open_rc = meta_reader_open(dir, &r);
    if (ans->open_rc != 0)
        return;
    ans->holds = meta_reader_holds_stops(r);
    ans->blocked_inside = -1;
    ans->rc = meta_reader_readdir(r, "/", 1, stop_list_cb, ans);
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    ans->blocked_after = sigismember(&cur, SIGTSTP);
    meta_reader_close(r);
}

/* A new session has no controlling terminal. */
static void stop_child_no_tty(void *arg, void *out)
{
    struct stop_answer *ans = out;

    ans->setsid_rc = setsid() < 0 ? -errno : 0;
    stop_list(arg, ans);
}

/* A session leader that opens a terminal (a pseudo-terminal here) without
 * O_NOCTTY makes it its controlling terminal. */
static void stop_child_tty(void *arg, void *out)
{
    struct stop_answer *ans = out;
    int master, slave;

    signal(SIGHUP, SIG_IGN);
    ans->setsid_rc = setsid() < 0 ? -errno : 0;
    master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
        ans->pty_rc = -errno;
        return;
    }
    slave = open(ptsname(master), O_RDWR);
    if (slave < 0) {
        ans->pty_rc = -errno;
        return;
    }
    stop_list(arg, ans);
    /* Left open: closing the master would hang the terminal up and
     * SIGHUP this process before it reports. */
}

/* A listing went through, SIGTSTP blocked inside it exactly when the
 * reader holds stops, and the caller's mask is back afterwards. */
static void check_stop_answer(const struct stop_answer *ans, bool holds)
{
    assert_int_equal(ans->open_rc, 0);
    assert_int_equal(ans->rc, 0);
    assert_int_equal(ans->holds, holds);
    assert_int_equal(ans->blocked_inside, holds);
    assert_int_equal(ans->blocked_after, 0);
}

static void test_reader_stop_signals(void **state)
{
    struct fixture *f = *state;
    struct stop_answer ans;
    struct meta_attr a;

    create_ok(f->m, "/a", &a);
    assert_int_equal(meta_flush(f->m, false), 0);
    /* No terminal (a batch job): no mask changes around the lookup. */
    from_child(stop_child_no_tty, f->dir, &ans, sizeof(ans));
    assert_int_equal(ans.setsid_rc, 0);
    check_stop_answer(&ans, false);
    /* A terminal: Ctrl-Z is held off inside the transaction. */
    from_child(stop_child_tty, f->dir, &ans, sizeof(ans));
    assert_int_equal(ans.setsid_rc, 0);
    if (ans.pty_rc == -ENOENT || ans.pty_rc == -ENODEV) {
        skip(); /* no pseudo-terminals on this machine */
        return;
    }
    assert_int_equal(ans.pty_rc, 0);
    check_stop_answer(&ans, true);
}

static void test_small_put_get_trunc(void **state)
{
    struct fixture *f = *state;
    static unsigned char big[META_SMALL_MAX + 1], want[META_SMALL_MAX];
    const uint64_t ino = 0x0000be1100000042ull;
    const void *data;
    size_t len;

    small_fill(big, sizeof(big), 1);
    small_is(f->m, ino, NULL, 0);
    assert_int_equal(meta_small_put(f->m, ino, 0, "hello", 5), 0);
    small_is(f->m, ino, "hello", 5);
    /* a gap of zeros */
    assert_int_equal(meta_small_put(f->m, ino, 10, "xy", 2), 0);
    small_is(f->m, ino, "hello\0\0\0\0\0xy", 12);
    /* the middle, keeping the tail */
    assert_int_equal(meta_small_put(f->m, ino, 2, "ZZ", 2), 0);
    small_is(f->m, ino, "heZZo\0\0\0\0\0xy", 12);
    /* across the end */
    assert_int_equal(meta_small_put(f->m, ino, 11, "abc", 3), 0);
    small_is(f->m, ino, "heZZo\0\0\0\0\0xabc", 14);
    /* a new one at an offset */
    memset(want, 0, 103);
    memcpy(want + 100, "abc", 3);
    assert_int_equal(meta_small_put(f->m, ino + 1, 100, "abc", 3), 0);
    small_is(f->m, ino + 1, want, 103);

    /* Cuts: shorter, longer (nothing), to 0 (gone), of nothing (fine). */
    assert_int_equal(meta_small_trunc(f->m, ino, 7), 0);
    small_is(f->m, ino, "heZZo\0\0", 7);
    assert_int_equal(meta_small_trunc(f->m, ino, 7), 0);
    assert_int_equal(meta_small_trunc(f->m, ino, 100), 0);
    small_is(f->m, ino, "heZZo\0\0", 7);
    assert_int_equal(meta_small_trunc(f->m, ino, 1), 0);
    small_is(f->m, ino, "h", 1);
    assert_int_equal(meta_small_trunc(f->m, ino, 0), 0);
    small_is(f->m, ino, NULL, 0);
    assert_int_equal(meta_small_trunc(f->m, ino, 0), 0);
    assert_int_equal(meta_small_trunc(f->m, ino + 99, 5), 0);
    small_is(f->m, ino + 99, NULL, 0);
    /* after a cut, a put past the end fills zeros, not the old bytes */
    assert_int_equal(meta_small_put(f->m, ino, 0, "abcdefgh", 8), 0);
    assert_int_equal(meta_small_trunc(f->m, ino, 2), 0);
    assert_int_equal(meta_small_put(f->m, ino, 6, "Q", 1), 0);
    small_is(f->m, ino, "ab\0\0\0\0Q", 7);

    /* The limit, exactly; and past it, nothing changes. */
    assert_int_equal(meta_small_put(f->m, ino + 2, 0, big, META_SMALL_MAX), 0);
    small_is(f->m, ino + 2, big, META_SMALL_MAX);
    assert_int_equal(meta_small_put(f->m, ino + 3, 0, big, META_SMALL_MAX + 1), -EINVAL);
    assert_int_equal(meta_small_put(f->m, ino + 3, META_SMALL_MAX, "a", 1), -EINVAL);
    assert_int_equal(meta_small_put(f->m, ino + 3, META_SMALL_MAX - 1, "ab", 2), -EINVAL);
    assert_int_equal(meta_small_put(f->m, ino + 3, UINT64_MAX, "a", 1), -EINVAL);
    assert_int_equal(meta_small_put(f->m, ino + 2, 1, big, META_SMALL_MAX), -EINVAL);
    assert_int_equal(meta_small_put(f->m, ino + 3, 0, "a", 0), -EINVAL);
    assert_int_equal(meta_small_put(f->m, 0, 0, "a", 1), -EINVAL);
    small_is(f->m, ino + 3, NULL, 0);
    small_is(f->m, ino + 2, big, META_SMALL_MAX);
    assert_int_equal(meta_small_put(f->m, ino + 3, META_SMALL_MAX - 1, "a", 1), 0);
    assert_int_equal(meta_small_get(f->m, ino + 3, &data, &len), 1);
    assert_int_equal(len, META_SMALL_MAX);
    assert_int_equal(((const char *)data)[META_SMALL_MAX - 1], 'a');
    assert_int_equal(((const char *)data)[0], 0);

    /* Committed, a large value is rewritten from its committed pages:
     * the middle of it, keeping both ends. */
    assert_int_equal(meta_flush(f->m, false), 0);
    memcpy(want, big, META_SMALL_MAX);
    memcpy(want + 30000, "middle", 6);
    assert_int_equal(meta_small_put(f->m, ino + 2, 30000, "middle", 6), 0);
    small_is(f->m, ino + 2, want, META_SMALL_MAX);
    assert_int_equal(meta_small_trunc(f->m, ino + 2, 40000), 0);
    small_is(f->m, ino + 2, want, 40000);
    assert_int_equal(meta_flush(f->m, false), 0);

    /* Across a close and a reopen. */
    reopen(f);
    small_is(f->m, ino, "ab\0\0\0\0Q", 7);
    memset(want, 0, 103);
    memcpy(want + 100, "abc", 3);
    small_is(f->m, ino + 1, want, 103);
    memcpy(want, big, META_SMALL_MAX);
    memcpy(want + 30000, "middle", 6);
    small_is(f->m, ino + 2, want, 40000);
    assert_int_equal(meta_small_get(f->m, ino + 3, &data, &len), 1);
    assert_int_equal(len, META_SMALL_MAX);
    small_is(f->m, ino + 99, NULL, 0);
}

/* Small chunks are in the pass's transaction like everything else: a
 * reader never sees them before the commit, meta_close commits them; and
 * they are not files: the counts do not see them. */
static void test_small_in_pass(void **state)
{
    struct fixture *f = *state;
    uint64_t files = 1, dirs = 1, files0, dirs0;

    meta_counts(f->m, &files0, &dirs0);
    assert_int_equal(meta_small_put(f->m, 7, 0, "old", 3), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    assert_int_equal(meta_small_put(f->m, 7, 0, "new", 3), 0);
    assert_int_equal(meta_small_put(f->m, 8, 0, "x", 1), 0);
    assert_int_equal(meta_small_trunc(f->m, 7, 2), 0);
    small_is(f->m, 7, "ne", 2);
    meta_counts(f->m, &files, &dirs);
    assert_int_equal(files, files0);
    assert_int_equal(dirs, dirs0);
    reopen(f); /* meta_close commits the pass */
    small_is(f->m, 7, "ne", 2);
    small_is(f->m, 8, "x", 1);
    meta_counts(f->m, &files, &dirs);
    assert_int_equal(files, files0);
    assert_int_equal(dirs, dirs0);
}

/* Listing: ascending inode numbers (all 8 bytes of them), paged. */
static void test_small_list(void **state)
{
    struct fixture *f = *state;
    const uint64_t sorted[] = {1,
                               0xff,
                               0x100,
                               0x0000be1100000001ull,
                               0x0000be1200000000ull,
                               0x0100000000000000ull,
                               UINT64_MAX - 1,
                               UINT64_MAX};
    const uint64_t order[] = {0x0100000000000000ull, 0x100, UINT64_MAX,     1,
                              0x0000be1200000000ull, 0xff,  UINT64_MAX - 1, 0x0000be1100000001ull};
    const size_t n = sizeof(sorted) / sizeof(sorted[0]);
    uint64_t inos[16], after;
    size_t got, k, max;

    assert_int_equal(meta_small_list(f->m, 0, inos, 16), 0);
    for (k = 0; k < n; k++)
        assert_int_equal(meta_small_put(f->m, order[k], 0, "v", 1), 0);
    assert_int_equal(meta_small_list(f->m, 0, inos, 16), n);
    assert_memory_equal(inos, sorted, sizeof(sorted));
    assert_int_equal(meta_small_list(f->m, 0, inos, 0), 0);
    assert_int_equal(meta_small_list(f->m, UINT64_MAX, inos, 16), 0);
    assert_int_equal(meta_small_list(f->m, UINT64_MAX - 1, inos, 16), 1);
    assert_true(inos[0] == UINT64_MAX);
    assert_int_equal(meta_small_list(f->m, 0xff, inos, 2), 2);
    assert_true(inos[0] == 0x100 && inos[1] == 0x0000be1100000001ull);
    assert_int_equal(meta_small_list(f->m, 0x101, inos, 1), 1);
    assert_true(inos[0] == 0x0000be1100000001ull);
    for (max = 1; max <= n + 1; max++) {
        after = 0;
        got = 0;
        do {
            k = meta_small_list(f->m, after, inos, max);
            assert_true(k <= max && got + k <= n);
            assert_memory_equal(inos, sorted + got, k * sizeof(*inos));
            got += k;
            if (k > 0)
                after = inos[k - 1];
        } while (k == max);
        assert_int_equal(got, n);
    }
    /* A removed one is not listed; committed and reopened, the same. */
    assert_int_equal(meta_small_trunc(f->m, 0x100, 0), 0);
    assert_int_equal(meta_small_trunc(f->m, 0xff, 1), 0); /* no change */
    assert_int_equal(meta_flush(f->m, false), 0);
    reopen(f);
    assert_int_equal(meta_small_list(f->m, 0, inos, 16), n - 1);
    assert_true(inos[0] == 1 && inos[1] == 0xff && inos[2] == 0x0000be1100000001ull);
}

/* New small chunks only while the map is less than half full: then -ENOSPC
 * (the chunk store makes a file instead), losing nothing of the pass, while
 * existing ones still change and records still have the other half. */
static void test_small_map_half(void **state)
{
    struct fixture *f = *state;
    static unsigned char val[4000];
    struct meta_attr a;
    char path[300];
    uint64_t n, *all;
    int i, rc = 0, made = 0, files = 0;

    meta_close(f->m);
    rm_rf(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    f->opts.map_size = 1u << 20;
    f->m = open_or_fail(f->dir, &f->opts);
    small_fill(val, sizeof(val), 3);
    for (n = 1; n < 100000; n++) {
        rc = meta_small_put(f->m, n, 0, val, sizeof(val));
        if (rc != 0)
            break;
        made++;
        if (n % 8 == 0)
            assert_int_equal(meta_flush(f->m, false), 0);
    }
    assert_int_equal(rc, -ENOSPC);
    printf("# 1 MiB map: %d small chunks of 4000 bytes\n", made);
    /* each takes a page at least: no more than half of 256 */
    assert_true(made > 16 && made <= 128);
    small_is(f->m, n, NULL, 0);
    /* the refusal failed nothing: the pass commits, the last one is there */
    assert_int_equal(meta_flush(f->m, false), 0);
    small_is(f->m, n - 1, val, sizeof(val));
    /* existing ones still change */
    assert_int_equal(meta_small_put(f->m, 1, 0, "x", 1), 0);
    assert_int_equal(meta_small_trunc(f->m, 2, 10), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    /* records still have room */
    for (i = 0; i < 100000; i++) {
        snprintf(path, sizeof(path), "/%0200d", i);
        rc = meta_create(f->m, P(path), 0600, 0, 0, 0, 0, &a, NULL, NULL);
        if (rc != 0)
            break;
        files++;
        if (i % 64 == 63)
            assert_int_equal(meta_flush(f->m, false), 0);
    }
    assert_int_equal(rc, -ENOSPC);
    assert_true(files > 100);
    assert_int_equal(meta_flush(f->m, false), 0);
    /* full: deletes still work, of either kind */
    snprintf(path, sizeof(path), "/%0200d", 0);
    assert_int_equal(meta_unlink(f->m, P(path), NULL), 0);
    assert_int_equal(meta_small_trunc(f->m, 3, 0), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    reopen(f);
    small_is(f->m, 3, NULL, 0);
    small_is(f->m, 2, val, 10);
    small_is(f->m, (uint64_t)made, val, sizeof(val));
    val[0] = 'x';
    small_is(f->m, 1, val, sizeof(val));
    all = calloc((size_t)made + 1, sizeof(*all));
    assert_non_null(all);
    assert_int_equal(meta_small_list(f->m, 0, all, (size_t)made + 1), (size_t)made - 1);
    /* emptied again, the store makes small chunks again: its file never
     * shrinks, but the pages freed are counted as room */
    for (i = 0; i < (int)made - 1; i++)
        assert_int_equal(meta_small_trunc(f->m, all[i], 0), 0);
    for (i = 1; i < files; i++) {
        snprintf(path, sizeof(path), "/%0200d", i);
        assert_int_equal(meta_unlink(f->m, P(path), NULL), 0);
        if (i % 64 == 0)
            assert_int_equal(meta_flush(f->m, false), 0);
    }
    assert_int_equal(meta_flush(f->m, false), 0);
    reopen(f);
    assert_int_equal(meta_small_put(f->m, 99999999, 0, val, sizeof(val)), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    small_is(f->m, 99999999, val, sizeof(val));
    free(all);
}

/* Spread marks (docs/semantics.md#where-chunks-are): an inode numbered
 * here after a mark was set reads as marked, one never marked as not, and
 * inodes this build did not number (before it first ran, or by an older
 * build that ran on the store since) count as marked. */
static void test_spread_marks(void **state)
{
    struct fixture *f = *state;
    struct meta_attr a, b, c;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint64_t end;
    MDB_val k = {strlen("ino_reserved"), (void *)"ino_reserved"}, v;

    create_ok(f->m, "/a", &a);
    create_ok(f->m, "/b", &b);
    assert_int_equal(meta_spread(f->m, a.ino, META_SPREAD_GET), 0);
    assert_int_equal(meta_spread(f->m, a.ino, META_SPREAD_SET), 0);
    assert_int_equal(meta_spread(f->m, a.ino, META_SPREAD_GET), 1);
    assert_int_equal(meta_spread(f->m, b.ino, META_SPREAD_GET), 0);
    assert_int_equal(meta_spread(f->m, 0, META_SPREAD_GET), -EINVAL);
    /* listed with the small chunks, once */
    {
        uint64_t inos[4];

        assert_int_equal(meta_small_put(f->m, a.ino, 0, "x", 1), 0);
        assert_int_equal(meta_small_list(f->m, 0, inos, 4), 1);
        assert_int_equal(inos[0], a.ino);
    }
    assert_int_equal(meta_flush(f->m, false), 0);
    reopen(f);
    assert_int_equal(meta_spread(f->m, a.ino, META_SPREAD_GET), 1);
    assert_int_equal(meta_spread(f->m, b.ino, META_SPREAD_GET), 0);
    assert_int_equal(meta_spread(f->m, a.ino, META_SPREAD_DEL), 0);
    assert_int_equal(meta_spread(f->m, a.ino, META_SPREAD_GET), 0);
    meta_close(f->m);

    /* An older build runs on the store: it reserves more numbers (and
     * keeps no marks). */
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_set_mapsize(env, f->opts.map_size), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "sys", 0, &dbi), 0);
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    memcpy(&end, v.mv_data, sizeof(end));
    end += 5000;
    v.mv_data = &end;
    v.mv_size = sizeof(end);
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    f->m = open_or_fail(f->dir, &f->opts);
    /* numbered by the older build: marked, whatever the table says */
    assert_int_equal(meta_spread(f->m, ((uint64_t)TAG << 32) | (end - 1), META_SPREAD_GET), 1);
    assert_int_equal(meta_spread(f->m, b.ino, META_SPREAD_GET), 1);
    /* numbered now: known */
    create_ok(f->m, "/c", &c);
    assert_true((c.ino & 0xffffffffull) >= end);
    assert_int_equal(meta_spread(f->m, c.ino, META_SPREAD_GET), 0);
    reopen(f);
    assert_int_equal(meta_spread(f->m, c.ino, META_SPREAD_GET), 0);
}

/* What a reader in another process gets from meta_reader_small (a reader
 * never opens in the process that writes the store: LMDB's locks are per
 * process). */
struct small_answer {
    int open_rc;
    ssize_t rc;
    unsigned char buf[256];
};

struct small_ask {
    const char *dir;
    uint64_t ino, off;
    size_t len;
};

static void small_child(void *arg, void *out)
{
    const struct small_ask *q = arg;
    struct small_answer *ans = out;
    struct meta_reader *r = NULL;

    memset(ans->buf, 0xee, sizeof(ans->buf));
    ans->open_rc = meta_reader_open(q->dir, &r);
    if (ans->open_rc == 0) {
        ans->rc = meta_reader_small(r, q->ino, q->off, ans->buf, q->len);
        meta_reader_close(r);
    }
}

static struct small_answer small_from_child(const char *dir, uint64_t ino, uint64_t off, size_t len)
{
    struct small_ask q = {dir, ino, off, len};
    struct small_answer ans;

    assert_true(len <= sizeof(ans.buf));
    from_child(small_child, &q, &ans, sizeof(ans));
    assert_int_equal(ans.open_rc, 0);
    return ans;
}

static void test_small_reader(void **state)
{
    struct fixture *f = *state;
    static unsigned char big[META_SMALL_MAX];
    struct small_answer ans;
    const uint64_t ino = 0x0000be1100000009ull;

    small_fill(big, sizeof(big), 2);
    assert_int_equal(small_from_child(f->dir, ino, 0, 10).rc, -ENOENT);
    assert_int_equal(meta_small_put(f->m, ino, 0, "abcdef", 6), 0);
    /* Not committed: not there for a reader. */
    assert_int_equal(small_from_child(f->dir, ino, 0, 10).rc, -ENOENT);
    assert_int_equal(meta_flush(f->m, false), 0);
    ans = small_from_child(f->dir, ino, 0, 256);
    assert_int_equal(ans.rc, 6);
    assert_memory_equal(ans.buf, "abcdef", 6);
    assert_int_equal(ans.buf[6], 0xee); /* nothing past what it copied */
    ans = small_from_child(f->dir, ino, 2, 3);
    assert_int_equal(ans.rc, 3);
    assert_memory_equal(ans.buf, "cde", 3);
    assert_int_equal(ans.buf[3], 0xee);
    ans = small_from_child(f->dir, ino, 4, 100);
    assert_int_equal(ans.rc, 2);
    assert_memory_equal(ans.buf, "ef", 2);
    assert_int_equal(small_from_child(f->dir, ino, 6, 10).rc, 0);
    assert_int_equal(small_from_child(f->dir, ino, 7, 10).rc, 0);
    assert_int_equal(small_from_child(f->dir, ino, 1000, 10).rc, 0);
    assert_int_equal(small_from_child(f->dir, ino, UINT64_MAX, 10).rc, 0);
    assert_int_equal(small_from_child(f->dir, ino, 0, 0).rc, 0);
    assert_int_equal(small_from_child(f->dir, ino + 1, 0, 10).rc, -ENOENT);

    /* A gap reads as zeros; the latest commit is what a reader sees. */
    assert_int_equal(meta_small_put(f->m, ino, 20, "zz", 2), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    ans = small_from_child(f->dir, ino, 0, 30);
    assert_int_equal(ans.rc, 22);
    assert_memory_equal(ans.buf, "abcdef\0\0\0\0\0\0\0\0\0\0\0\0\0\0zz", 22);

    /* A large value, read at its end. */
    assert_int_equal(meta_small_put(f->m, ino + 1, 0, big, sizeof(big)), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    ans = small_from_child(f->dir, ino + 1, META_SMALL_MAX - 10, 256);
    assert_int_equal(ans.rc, 10);
    assert_memory_equal(ans.buf, big + META_SMALL_MAX - 10, 10);
    ans = small_from_child(f->dir, ino + 1, 30000, 256);
    assert_int_equal(ans.rc, 256);
    assert_memory_equal(ans.buf, big + 30000, 256);

    /* Cut and removed. */
    assert_int_equal(meta_small_trunc(f->m, ino, 3), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    ans = small_from_child(f->dir, ino, 0, 30);
    assert_int_equal(ans.rc, 3);
    assert_memory_equal(ans.buf, "abc", 3);
    assert_int_equal(meta_small_trunc(f->m, ino, 0), 0);
    assert_int_equal(meta_flush(f->m, false), 0);
    assert_int_equal(small_from_child(f->dir, ino, 0, 30).rc, -ENOENT);
    assert_int_equal(small_from_child(f->dir, ino + 1, 0, 1).rc, 1);
}

/* Creates per second in a fresh store under `base`, flushing every
 * per_pass creates like the server's loop does. */
static double create_rate(struct fixture *f, const char *base, int durability, int n, int per_pass)
{
    struct meta_opts o = f->opts;
    struct meta_attr a;
    struct meta *m;
    char dir[128], path[64];
    uint64_t t0, t1;
    int i;

    snprintf(dir, sizeof(dir), "%s/benchfs-rate-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        return 0;
    o.durability = durability;
    o.map_size = 1u << 30;
    m = open_or_fail(dir, &o);
    assert_int_equal(meta_mkdir(m, P("/rate"), 0755, 0, 0, true), 0);
    t0 = time_mono_ns();
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/rate/file.mdtest.%d.%d", i % 16, i);
        assert_int_equal(meta_create(m, P(path), 0644, 0, 0, 0, 0, &a, NULL, NULL), 0);
        if (i % per_pass == per_pass - 1)
            assert_int_equal(meta_flush(m, false), 0);
    }
    assert_int_equal(meta_flush(m, false), 0);
    t1 = time_mono_ns();
    meta_close(m);
    rm_rf(dir);
    return n / ((double)(t1 - t0) / 1e9);
}

static void test_create_rate(void **state)
{
    struct fixture *f = *state;
    const char *bases[] = {"/tmp", "/dev/shm"};
    struct stat st;
    unsigned i;

    for (i = 0; i < 2; i++) {
        if (stat(bases[i], &st) != 0 || access(bases[i], W_OK) != 0)
            continue;
        printf("# meta creates/s in %s (200k creates, flush every 64): none %.0f, close %.0f\n",
               bases[i], create_rate(f, bases[i], DURABILITY_NONE, 200000, 64),
               create_rate(f, bases[i], DURABILITY_CLOSE, 200000, 64));
    }
}

/* Metadata on tmpfs never syncs (memory protects nothing); on disk it does. */
static void test_tmpfs_skips_syncs(void **state)
{
    struct meta_opts opts = {.map_size = 64 << 20, .durability = DURABILITY_CLOSE, .node_tag = 7};
    char shm[] = "/dev/shm/benchfs-meta-XXXXXX", disk[] = "/var/tmp/benchfs-meta-XXXXXX";
    char cmd[128];
    struct meta *m;

    (void)state;
    if (mkdtemp(shm) == NULL || mkdtemp(disk) == NULL)
        skip();
    m = open_or_fail(shm, &opts);
    assert_true(meta_syncs_skipped(m));
    assert_int_equal(meta_mkdir(m, "/d", 2, 0755, 0, 0, true), 0);
    assert_int_equal(meta_flush(m, true), 0);
    meta_close(m);
    m = open_or_fail(disk, &opts);
    assert_false(meta_syncs_skipped(m));
    meta_close(m);
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", shm, disk);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_root, setup, teardown),
        cmocka_unit_test(test_tmpfs_skips_syncs),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_default_chunk_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_trunc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ino_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rmdir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readdir_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inode_put_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_setsize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_no_ino_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durability_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collision_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_rate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_holders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ino_list_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ino_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setattr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_stop_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_put_get_trunc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_in_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_map_half, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spread_marks, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
