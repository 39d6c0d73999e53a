/*
 * test_store_chunk.c - unit tests of the chunk store (src/store/chunk.h):
 * round trips through registered buffers and plain memory, holes and short
 * reads, on-disk names, many concurrent operations, back-pressure, fd cache
 * eviction under I/O, removal and truncation, fsync (including files whose
 * fd was evicted), O_DIRECT, error propagation (never zero-filled), the
 * callbacks-never-inline rule and the eventfd contract, and small chunks
 * (chunk 0 kept by an in-memory stand-in for the metadata store). Each test
 * gets a private temporary directory.
 */
#include "store/chunk.h"
#include "store/chunk_priv.h"

#include "common/ring.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define INO 0x0000be1100000001ull

struct fixture {
    char dir[64];
    struct chunk_opts opts;
    struct chunk_store *cs;
};

/* --- completion bookkeeping --------------------------------------------- */

struct done {
    int calls;
    int result;
};

static bool in_call; /* true while a submitting function runs */
static int total_calls;

static void done_cb(void *arg, int result)
{
    struct done *d = arg;

    /* Callbacks must never run inside the call that queued the op. */
    assert_false(in_call);
    d->calls++;
    d->result = result;
    total_calls++;
}

static int do_write(struct chunk_store *cs, uint64_t ino, uint64_t index, uint64_t off, void *buf,
                    size_t len, struct done *d)
{
    int rc;

    in_call = true;
    rc = chunk_write(cs, ino, index, off, buf, len, done_cb, d);
    in_call = false;
    return rc;
}

static int do_read(struct chunk_store *cs, uint64_t ino, uint64_t index, uint64_t off, void *buf,
                   size_t len, struct done *d)
{
    int rc;

    in_call = true;
    rc = chunk_read(cs, ino, index, off, buf, len, done_cb, d);
    in_call = false;
    return rc;
}

static int do_fsync(struct chunk_store *cs, uint64_t ino, struct done *d)
{
    int rc;

    in_call = true;
    rc = chunk_fsync(cs, ino, done_cb, d);
    in_call = false;
    return rc;
}

/* Drive the store like the server loop: submit, wait on the eventfd (not
 * while completions known at once wait for a reap), reap. */
static void wait_total(struct chunk_store *cs, int target)
{
    struct pollfd pfd = {.fd = chunk_store_eventfd(cs), .events = POLLIN};
    uint64_t deadline = time_mono_ns() + 20000000000ull;

    while (total_calls < target) {
        assert_true(chunk_store_submit(cs) >= 0);
        assert_true(time_mono_ns() < deadline);
        if (poll(&pfd, 1, chunk_store_pending(cs) ? 0 : 100) > 0)
            chunk_store_clear_eventfd(cs);
        (void)chunk_store_reap(cs);
    }
    assert_int_equal(total_calls, target);
}

/* Queue-and-wait helpers returning the callback's result. */
static int write_sync(struct chunk_store *cs, uint64_t ino, uint64_t index, uint64_t off, void *buf,
                      size_t len)
{
    struct done d = {0, 0};
    int target = total_calls + 1;

    assert_int_equal(do_write(cs, ino, index, off, buf, len, &d), 0);
    wait_total(cs, target);
    assert_int_equal(d.calls, 1);
    return d.result;
}

static int read_sync(struct chunk_store *cs, uint64_t ino, uint64_t index, uint64_t off, void *buf,
                     size_t len)
{
    struct done d = {0, 0};
    int target = total_calls + 1;

    assert_int_equal(do_read(cs, ino, index, off, buf, len, &d), 0);
    wait_total(cs, target);
    assert_int_equal(d.calls, 1);
    return d.result;
}

static int fsync_sync(struct chunk_store *cs, uint64_t ino)
{
    struct done d = {0, 0};
    int target = total_calls + 1;

    assert_int_equal(do_fsync(cs, ino, &d), 0);
    assert_int_equal(d.calls, 0);
    wait_total(cs, target);
    assert_int_equal(d.calls, 1);
    return d.result;
}

/* --- files -------------------------------------------------------------- */

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

/* The documented layout, computed independently of the store. */
static void chunk_path_in(const char *dir, uint64_t ino, uint64_t index, char *out, size_t len)
{
    uint8_t le[8];
    int i;

    for (i = 0; i < 8; i++)
        le[i] = (uint8_t)(ino >> (8 * i));
    snprintf(out, len, "%s/%02x/%016" PRIx64 ".%" PRIu64, dir, (unsigned)(ring_hash(le, 8) & 0xff),
             ino, index);
}

static void chunk_path(const struct fixture *f, uint64_t ino, uint64_t index, char *out, size_t len)
{
    chunk_path_in(f->dir, ino, index, out, len);
}

static off_t size_on_disk_in(const char *dir, uint64_t ino, uint64_t index)
{
    char path[256];
    struct stat st;

    chunk_path_in(dir, ino, index, path, sizeof(path));
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static off_t chunk_size_on_disk(const struct fixture *f, uint64_t ino, uint64_t index)
{
    return size_on_disk_in(f->dir, ino, index);
}

static void fill(void *buf, size_t len, unsigned seed)
{
    unsigned char *p = buf;
    size_t i;

    for (i = 0; i < len; i++)
        p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

/* --- fixture ------------------------------------------------------------ */

/* In a forked child: let a crash kill it (the parent checks how it
 * ended) instead of cmocka's handler resuming the test run in the child. */
static void child_default_signals(void)
{
    signal(SIGBUS, SIG_DFL);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
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

static struct chunk_store *open_store(const char *dir, const struct chunk_opts *opts)
{
    struct chunk_store *cs = NULL;
    char err[256] = "";
    int rc;

    rc = chunk_store_open(dir, opts, &cs, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "chunk_store_open: %s\n", err);
    assert_int_equal(rc, 0);
    return cs;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    strcpy(f->dir, "/tmp/benchfs-chunk-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->opts.queue_size = 64;
    f->opts.buffer_size = 65536;
    f->opts.buffer_count = 8;
    f->opts.submit_depth = 8;
    f->opts.fd_cache = 16;
    f->opts.o_direct = false;
    f->cs = open_store(f->dir, &f->opts);
    total_calls = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    chunk_store_close(f->cs);
    rm_rf(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    chunk_store_close(f->cs);
    f->cs = open_store(f->dir, &f->opts);
}

/* --- tests -------------------------------------------------------------- */

static void test_open_layout(void **state)
{
    struct fixture *f = *state;
    struct chunk_opts bad = f->opts;
    struct chunk_store *cs = NULL;
    void *bufs[9];
    char path[128], err[128] = "";
    const char *why = "x";
    struct statvfs sv;
    struct stat st;
    int i;

    /* Subdirectories appear with their first chunk. */
    chunk_path(f, INO, 0, path, sizeof(path));
    *strrchr(path, '/') = '\0';
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(write_sync(f->cs, INO, 0, 0, path, 1), 1);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(chunk_size_on_disk(f, INO, 0), 1);
    total_calls = 0;
    assert_true(chunk_store_eventfd(f->cs) >= 0);
    assert_int_equal(chunk_buf_size(f->cs), 65536);
    /* Tests run as root (CAP_IPC_LOCK): registration works. */
    assert_true(chunk_store_registered(f->cs, &why));
    assert_null(why);
    for (i = 0; i < 8; i++) {
        bufs[i] = chunk_buf_get(f->cs);
        assert_non_null(bufs[i]);
        assert_int_equal((uintptr_t)bufs[i] % 4096, 0);
    }
    assert_null(chunk_buf_get(f->cs));
    for (i = 0; i < 8; i++)
        chunk_buf_put(f->cs, bufs[i]);
    chunk_buf_put(f->cs, NULL);
    assert_non_null(bufs[8] = chunk_buf_get(f->cs));
    chunk_buf_put(f->cs, bufs[8]);
    assert_int_equal(chunk_store_statfs(f->cs, &sv), 0);
    assert_true(sv.f_bsize > 0);
    assert_int_equal(chunk_store_inflight(f->cs), 0);
    assert_int_equal(chunk_store_queued(f->cs), 0);
    assert_int_equal(chunk_store_open_fds(f->cs), 1); /* the chunk written above */
    assert_int_equal(chunk_store_reap(f->cs), 0);

    bad.queue_size = 0;
    assert_int_equal(chunk_store_open(f->dir, &bad, &cs, err, sizeof(err)), -EINVAL);
    assert_null(cs);
    assert_true(strlen(err) > 0);
    /* A missing directory with missing parents is created. */
    snprintf(path, sizeof(path), "%s/x/y/chunks", f->dir);
    cs = open_store(path, &f->opts);
    chunk_store_close(cs);
}

static void test_roundtrip_registered(void **state)
{
    struct fixture *f = *state;
    char *w = chunk_buf_get(f->cs), *r = chunk_buf_get(f->cs);
    struct done d = {0, 0};

    assert_non_null(w);
    assert_non_null(r);
    fill(w, 10000, 1);
    assert_int_equal(do_write(f->cs, INO, 3, 100, w, 10000, &d), 0);
    assert_int_equal(chunk_store_inflight(f->cs), 1);
    assert_int_equal(chunk_store_queued(f->cs), 1); /* below submit_depth */
    assert_int_equal(chunk_store_reap(f->cs), 0);   /* not submitted yet */
    assert_int_equal(d.calls, 0);
    wait_total(f->cs, 1);
    assert_int_equal(d.result, 10000);
    assert_int_equal(chunk_store_inflight(f->cs), 0);
    /* Named from numbers only, at the documented place. */
    assert_int_equal(chunk_size_on_disk(f, INO, 3), 10100);

    memset(r, 0xee, 10000);
    assert_int_equal(read_sync(f->cs, INO, 3, 100, r, 10000), 10000);
    assert_memory_equal(r, w, 10000);
    /* A pointer inside a registered buffer (past a header) works too. */
    assert_int_equal(read_sync(f->cs, INO, 3, 100, r + 1000, 5000), 5000);
    assert_memory_equal(r + 1000, w, 5000);
    chunk_buf_put(f->cs, w);
    chunk_buf_put(f->cs, r);
}

static void test_roundtrip_plain(void **state)
{
    struct fixture *f = *state;
    size_t len = 300000; /* larger than any buffer: plain write/read */
    char *w = malloc(len), *r = malloc(len);

    assert_non_null(w);
    assert_non_null(r);
    fill(w, len, 2);
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, len), (int)len);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, len), (int)len);
    assert_memory_equal(r, w, len);
    /* Overwrite in the middle with unaligned stack memory. */
    {
        char small[333];
        fill(small, sizeof(small), 3);
        assert_int_equal(write_sync(f->cs, INO, 0, 4097, small, sizeof(small)), 333);
        memcpy(w + 4097, small, sizeof(small));
    }
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, len), (int)len);
    assert_memory_equal(r, w, len);
    /* Zero-length requests complete (from reap) and create nothing. */
    assert_int_equal(write_sync(f->cs, INO, 77, 0, w, 0), 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 77), -1);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, 0), 0);
    free(w);
    free(r);
}

static void test_holes(void **state)
{
    struct fixture *f = *state;
    char buf[16384], zero[16384];
    struct done d = {0, 0};

    memset(zero, 0, sizeof(zero));
    /* Missing chunk: 0 bytes, from reap, and no file appears. */
    assert_int_equal(do_read(f->cs, INO, 9, 0, buf, sizeof(buf), &d), 0);
    assert_int_equal(d.calls, 0);
    wait_total(f->cs, 1);
    assert_int_equal(d.result, 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 9), -1);

    /* Past the end of a chunk: short, then nothing. */
    fill(buf, 100, 4);
    assert_int_equal(write_sync(f->cs, INO, 9, 0, buf, 100), 100);
    assert_int_equal(read_sync(f->cs, INO, 9, 0, buf, 1000), 100);
    assert_int_equal(read_sync(f->cs, INO, 9, 5000, buf, 1000), 0);
    assert_int_equal(read_sync(f->cs, INO, 9, 50, buf, 1000), 50);

    /* A hole inside a chunk reads as zeros; the read stops at EOF. */
    fill(buf, 100, 5);
    assert_int_equal(write_sync(f->cs, INO, 10, 0, buf, 100), 100);
    assert_int_equal(write_sync(f->cs, INO, 10, 8192, buf, 100), 100);
    memset(buf, 0xaa, sizeof(buf));
    assert_int_equal(read_sync(f->cs, INO, 10, 0, buf, sizeof(buf)), 8292);
    assert_memory_equal(buf + 100, zero, 8092);
}

static void test_many_concurrent(void **state)
{
    struct fixture *f = *state;
    enum { N = 128 }; /* 2 x queue_size: all the store accepts at once */
    static char data[N][4096], back[N][4096];
    static struct done d[N];
    struct done extra = {0, 0};
    int i;

    memset(d, 0, sizeof(d));
    for (i = 0; i < N; i++) {
        fill(data[i], sizeof(data[i]), (unsigned)i);
        assert_int_equal(do_write(f->cs, INO + (uint64_t)(i % 5), (uint64_t)(i / 5), 0, data[i],
                                  sizeof(data[i]), &d[i]),
                         0);
    }
    assert_int_equal(chunk_store_inflight(f->cs), N);
    /* Back-pressure: the next request is refused and never called back. */
    assert_int_equal(do_write(f->cs, INO, 999, 0, data[0], 10, &extra), -EAGAIN);
    assert_int_equal(do_read(f->cs, INO, 0, 0, back[0], 10, &extra), -EAGAIN);
    assert_int_equal(do_fsync(f->cs, INO, &extra), -EAGAIN);
    wait_total(f->cs, N);
    for (i = 0; i < N; i++) {
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].result, 4096);
    }
    assert_int_equal(extra.calls, 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 999), -1);
    assert_true(chunk_store_open_fds(f->cs) <= f->opts.fd_cache);

    memset(d, 0, sizeof(d));
    for (i = 0; i < N; i++)
        assert_int_equal(do_read(f->cs, INO + (uint64_t)(i % 5), (uint64_t)(i / 5), 0, back[i],
                                 sizeof(back[i]), &d[i]),
                         0);
    wait_total(f->cs, 2 * N);
    for (i = 0; i < N; i++) {
        assert_int_equal(d[i].result, 4096);
        assert_memory_equal(back[i], data[i], 4096);
    }
}

static void test_submit_depth(void **state)
{
    struct fixture *f = *state;
    struct done d[8];
    char buf[64];
    int i;

    memset(d, 0, sizeof(d));
    memset(buf, 1, sizeof(buf));
    for (i = 0; i < 7; i++) {
        assert_int_equal(do_write(f->cs, INO, (uint64_t)i, 0, buf, sizeof(buf), &d[i]), 0);
        assert_int_equal(chunk_store_queued(f->cs), (unsigned)i + 1);
    }
    /* The 8th queued SQE (submit_depth) submits all of them at once. */
    assert_int_equal(do_write(f->cs, INO, 7, 0, buf, sizeof(buf), &d[7]), 0);
    assert_int_equal(chunk_store_queued(f->cs), 0);
    assert_int_equal(chunk_store_inflight(f->cs), 8);
    /* Completions arrive without another submit. */
    {
        struct pollfd pfd = {.fd = chunk_store_eventfd(f->cs), .events = POLLIN};
        uint64_t deadline = time_mono_ns() + 10000000000ull;

        while (total_calls < 8) {
            assert_true(time_mono_ns() < deadline);
            (void)poll(&pfd, 1, 100);
            (void)chunk_store_reap(f->cs);
        }
    }
    for (i = 0; i < 8; i++)
        assert_int_equal(d[i].result, (int)sizeof(buf));
}

static void test_fd_cache_eviction_inflight(void **state)
{
    struct fixture *f = *state;
    enum { N = 40 };
    static char data[N][512], back[512];
    struct done d[N];
    int i;

    chunk_store_close(f->cs);
    f->opts.fd_cache = 4;
    f->cs = open_store(f->dir, &f->opts);
    memset(d, 0, sizeof(d));
    /* 40 chunks through a cache of 4, all in flight at once: evicted fds
     * must stay open until their I/O completes. */
    for (i = 0; i < N; i++) {
        fill(data[i], sizeof(data[i]), (unsigned)i + 7);
        assert_int_equal(do_write(f->cs, INO, (uint64_t)i, 0, data[i], sizeof(data[i]), &d[i]), 0);
    }
    assert_true(chunk_store_open_fds(f->cs) > 4);
    wait_total(f->cs, N);
    assert_true(chunk_store_open_fds(f->cs) <= 4);
    for (i = 0; i < N; i++) {
        assert_int_equal(d[i].result, 512);
        assert_int_equal(read_sync(f->cs, INO, (uint64_t)i, 0, back, sizeof(back)), 512);
        assert_memory_equal(back, data[i], 512);
        assert_true(chunk_store_open_fds(f->cs) <= 4);
    }
}

/* Find an inode whose chunks share INO's subdirectory. */
static uint64_t same_subdir_ino(const struct fixture *f)
{
    char a[256], b[256];
    uint64_t ino;

    chunk_path(f, INO, 0, a, sizeof(a));
    for (ino = INO + 1;; ino++) {
        chunk_path(f, ino, 0, b, sizeof(b));
        if (memcmp(a, b, strlen(f->dir) + 4) == 0)
            return ino;
    }
}

static void test_remove(void **state)
{
    struct fixture *f = *state;
    char buf[10000];
    struct done d = {0, 0};
    uint64_t i, other;

    fill(buf, sizeof(buf), 9);
    for (i = 0; i < 10; i++)
        assert_int_equal(write_sync(f->cs, INO, i, 0, buf, sizeof(buf)), (int)sizeof(buf));
    assert_int_equal(chunk_remove(f->cs, INO, 2, 5, 0), 0);
    for (i = 0; i < 10; i++)
        assert_int_equal(chunk_size_on_disk(f, INO, i), i >= 2 && i <= 5 ? -1 : 10000);
    /* Cached fds of removed chunks are gone: a read sees a hole. */
    assert_int_equal(read_sync(f->cs, INO, 3, 0, buf, 100), 0);

    /* keep_bytes truncates `first`, removes the rest. */
    assert_int_equal(chunk_remove(f->cs, INO, 7, 9, 4096), 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 7), 4096);
    assert_int_equal(chunk_size_on_disk(f, INO, 8), -1);
    assert_int_equal(chunk_size_on_disk(f, INO, 9), -1);
    assert_int_equal(read_sync(f->cs, INO, 7, 0, buf, sizeof(buf)), 4096);
    /* ... and never extends a shorter chunk. */
    assert_int_equal(chunk_remove(f->cs, INO, 7, 7, 8000), 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 7), 4096);
    /* Missing chunks are fine; a bad range is not. */
    assert_int_equal(chunk_remove(f->cs, INO, 100, 200, 0), 0);
    assert_int_equal(chunk_remove(f->cs, INO, 100, 200, 10), 0);
    assert_int_equal(chunk_remove(f->cs, INO, 5, 4, 0), -EINVAL);

    /* Removal while a write is in flight: the fd closes when it completes. */
    assert_int_equal(do_write(f->cs, INO, 20, 0, buf, 100, &d), 0);
    assert_int_equal(chunk_remove(f->cs, INO, 20, 20, 0), 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 20), -1);
    wait_total(f->cs, total_calls + 1);
    assert_int_equal(d.result, 100);
    assert_int_equal(chunk_size_on_disk(f, INO, 20), -1);

    /* A huge range scans the subdirectory, leaving other inodes alone. */
    other = same_subdir_ino(f);
    assert_int_equal(write_sync(f->cs, INO, 123456789, 0, buf, 10), 10);
    assert_int_equal(write_sync(f->cs, other, 3, 0, buf, 10), 10);
    assert_int_equal(chunk_remove(f->cs, INO, 1, UINT64_MAX, 0), 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 123456789), -1);
    assert_int_equal(chunk_size_on_disk(f, INO, 6), -1);
    assert_int_equal(chunk_size_on_disk(f, INO, 0), 10000);
    assert_int_equal(chunk_size_on_disk(f, other, 3), 10);
    assert_int_equal(chunk_remove(f->cs, INO, 0, UINT64_MAX, 0), 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 0), -1);
}

/* The index knows every chunk file, across a reopen (rebuilt by a scan):
 * removal from an index frees everything whatever the caller thought the
 * size was, and listing pages through the inodes in order. */
static void test_index_remove_from_and_list(void **state)
{
    struct fixture *f = *state;
    uint64_t inos[4], chunks, bytes;
    char buf[3000], path[256];
    int fd;

    fill(buf, sizeof(buf), 5);
    assert_int_equal(write_sync(f->cs, INO, 0, 0, buf, sizeof(buf)), 3000);
    assert_int_equal(write_sync(f->cs, INO, 7, 0, buf, sizeof(buf)), 3000);
    assert_int_equal(write_sync(f->cs, INO, 900000, 0, buf, 10), 10);
    assert_int_equal(write_sync(f->cs, INO + 1, 2, 0, buf, 100), 100);
    assert_int_equal(write_sync(f->cs, INO + 5, 0, 0, buf, 1), 1);
    /* A stray file of another shape is ignored by the scan. */
    chunk_path(f, INO, 0, path, sizeof(path));
    strcpy(strrchr(path, '/') + 1, "0123456789abcdef.x");
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    reopen(f); /* the index is rebuilt from the directory */
    assert_int_equal(chunk_store_list(f->cs, 0, inos, 4), 3);
    assert_true(inos[0] == INO && inos[1] == INO + 1 && inos[2] == INO + 5);
    assert_int_equal(chunk_store_list(f->cs, INO, inos, 1), 1);
    assert_true(inos[0] == INO + 1);
    assert_int_equal(chunk_store_list(f->cs, INO + 5, inos, 4), 0);
    assert_int_equal(chunk_store_usage(f->cs, INO, &chunks, &bytes), 0);
    assert_int_equal(chunks, 3);
    assert_true(bytes >= 6000);
    assert_int_equal(chunk_store_usage(f->cs, INO + 9, &chunks, &bytes), 0);
    assert_int_equal(chunks, 0);

    /* Cut at byte 1000 of chunk 0: chunks 7 and 900000 go, 0 shrinks. */
    assert_int_equal(chunk_remove_from(f->cs, INO, 0, 1000), 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 0), 1000);
    assert_int_equal(chunk_size_on_disk(f, INO, 7), -1);
    assert_int_equal(chunk_size_on_disk(f, INO, 900000), -1);
    assert_int_equal(chunk_remove_from(f->cs, INO, 0, 0), 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 0), -1);
    assert_int_equal(chunk_store_list(f->cs, 0, inos, 4), 2);
    assert_true(inos[0] == INO + 1);
    /* Nothing of an inode here: nothing to do. */
    assert_int_equal(chunk_remove_from(f->cs, INO + 3, 0, 0), 0);
}

/* A deleted inode's chunks go, and its late writes are refused for good;
 * other inodes and reads are unaffected. */
static void test_remove_inode_refuses_writes(void **state)
{
    struct fixture *f = *state;
    struct done d = {0, 0};
    char buf[100];
    uint64_t inos[2];

    fill(buf, sizeof(buf), 3);
    assert_int_equal(write_sync(f->cs, INO, 4, 0, buf, sizeof(buf)), 100);
    assert_int_equal(write_sync(f->cs, INO + 1, 4, 0, buf, sizeof(buf)), 100);
    assert_int_equal(chunk_remove_inode(f->cs, INO), 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 4), -1);
    assert_int_equal(do_write(f->cs, INO, 5, 0, buf, sizeof(buf), &d), -ESTALE);
    assert_int_equal(chunk_size_on_disk(f, INO, 5), -1);
    assert_int_equal(read_sync(f->cs, INO, 5, 0, buf, sizeof(buf)), 0);
    assert_int_equal(write_sync(f->cs, INO + 1, 5, 0, buf, sizeof(buf)), 100);
    assert_int_equal(chunk_store_list(f->cs, 0, inos, 2), 1);
    assert_true(inos[0] == INO + 1);
}

/* A FIFO or a symlink planted as a chunk file (clients of the host can
 * write the data directory) is an error, never waited on or followed. */
static void test_planted_files(void **state)
{
    struct fixture *f = *state;
    char name[RING_CHUNK_NAME_MAX], path[PATH_MAX], target[PATH_MAX], buf[100];
    struct done d = {0, 0};
    struct stat st;

    fill(buf, sizeof(buf), 5);
    /* Make the subdirectory with a real chunk, then plant next to it. */
    assert_int_equal(write_sync(f->cs, INO, 0, 0, buf, sizeof(buf)), 100);
    ring_chunk_name(name, INO, 1);
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(do_write(f->cs, INO, 1, 0, buf, sizeof(buf), &d), -EIO);
    assert_int_equal(do_read(f->cs, INO, 1, 0, buf, sizeof(buf), &d), -EIO);
    ring_chunk_name(name, INO, 2);
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    snprintf(target, sizeof(target), "%s/outside", f->dir);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(do_write(f->cs, INO, 2, 0, buf, sizeof(buf), &d), -EIO);
    assert_int_equal(do_read(f->cs, INO, 2, 0, buf, sizeof(buf), &d), -EIO);
    assert_int_equal(d.calls, 0);
    assert_int_equal(lstat(target, &st), -1); /* nothing written through it */
    /* The real chunk still works. */
    assert_int_equal(read_sync(f->cs, INO, 0, 0, buf, sizeof(buf)), 100);
}

/* A store that lost chunks reads a missing one as -ENODATA, not a hole. */
static void test_lost_reads_enodata(void **state)
{
    struct fixture *f = *state;
    char buf[100];

    fill(buf, sizeof(buf), 4);
    assert_int_equal(write_sync(f->cs, INO, 1, 0, buf, sizeof(buf)), 100);
    chunk_store_set_lost(f->cs, true);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, buf, sizeof(buf)), -ENODATA);
    assert_int_equal(read_sync(f->cs, INO, 1, 0, buf, sizeof(buf)), 100);
    chunk_store_set_lost(f->cs, false);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, buf, sizeof(buf)), 0);
}

static uint64_t syncs(struct chunk_store *cs)
{
    struct chunk_stats st;

    chunk_store_stats(cs, &st);
    return st.syncs;
}

static void test_fsync(void **state)
{
    struct fixture *f = *state;
    char buf[4096];
    int i;

    /* Nothing written: completes with 0 from reap (checked in fsync_sync). */
    assert_int_equal(fsync_sync(f->cs, INO), 0);
    assert_int_equal(syncs(f->cs), 0);
    fill(buf, sizeof(buf), 11);
    assert_int_equal(write_sync(f->cs, INO, 0, 0, buf, sizeof(buf)), 4096);
    assert_int_equal(write_sync(f->cs, INO, 1, 0, buf, sizeof(buf)), 4096);
    assert_int_equal(read_sync(f->cs, INO, 2, 0, buf, sizeof(buf)), 0);
    assert_int_equal(write_sync(f->cs, INO + 9, 0, 0, buf, sizeof(buf)), 4096);
    assert_int_equal(fsync_sync(f->cs, INO), 0);
    assert_int_equal(syncs(f->cs), 2); /* the two written chunks of INO only */
    /* Clean as far as the store knows, but clients of this host may have
     * written the files directly since: every file held is synced. */
    assert_int_equal(fsync_sync(f->cs, INO), 0);
    assert_int_equal(syncs(f->cs), 4);
    assert_int_equal(write_sync(f->cs, INO, 1, 10, buf, 10), 10);
    assert_int_equal(fsync_sync(f->cs, INO), 0);
    assert_int_equal(syncs(f->cs), 6); /* once each, the open fd not twice */

    /* Written chunks whose fds were evicted are synced too. */
    chunk_store_close(f->cs);
    f->opts.fd_cache = 2;
    f->cs = open_store(f->dir, &f->opts);
    for (i = 0; i < 30; i++)
        assert_int_equal(write_sync(f->cs, INO + 1, (uint64_t)i, 0, buf, sizeof(buf)), 4096);
    assert_true(chunk_store_open_fds(f->cs) <= 2);
    assert_int_equal(fsync_sync(f->cs, INO + 1), 0);
    assert_int_equal(syncs(f->cs), 30); /* 2 open + 28 through private fds */
    assert_int_equal(chunk_store_open_fds(f->cs), 2);
    assert_int_equal(fsync_sync(f->cs, INO + 1), 0);
    assert_int_equal(syncs(f->cs), 60);
    /* After a removal there is nothing left to sync for those chunks. */
    assert_int_equal(write_sync(f->cs, INO + 2, 0, 0, buf, sizeof(buf)), 4096);
    assert_int_equal(write_sync(f->cs, INO + 2, 1, 0, buf, sizeof(buf)), 4096);
    assert_int_equal(write_sync(f->cs, INO + 2, 2, 0, buf, sizeof(buf)), 4096);
    assert_int_equal(chunk_remove(f->cs, INO + 2, 0, 1, 0), 0);
    assert_int_equal(fsync_sync(f->cs, INO + 2), 0);
    assert_int_equal(syncs(f->cs), 61);
}

/* The fd layer's bookkeeping of unsynced files, seen directly. */
static void test_fdcache_sync_list(void **state)
{
    struct fixture *f = *state;
    struct chunk_fdcache c;
    struct chunk_sync_item *items;
    struct chunk_fd *fde;
    size_t n, i, open_items = 0;
    int dirfd;

    dirfd = open(f->dir, O_RDONLY | O_DIRECTORY);
    assert_true(dirfd >= 0);
    assert_int_equal(chunk_fdc_init(&c, dirfd, 2), 0);
    for (i = 0; i < 5; i++) {
        assert_int_equal(chunk_fdc_get(&c, INO, i, CHUNK_FD_WRITE, &fde), 0);
        fde->dirty = true; /* as a completed write would */
        chunk_fdc_put(&c, fde);
    }
    assert_int_equal(chunk_fdc_open_count(&c), 2);
    assert_int_equal(chunk_fdc_get(&c, INO, 77, 0, &fde), -ENOENT); /* reads never create */
    assert_int_equal(chunk_fdc_sync_list(&c, INO, &items, &n), 0);
    assert_int_equal(n, 5); /* 2 open + 3 evicted */
    for (i = 0; i < n; i++) {
        if (items[i].fde != NULL) {
            open_items++;
            chunk_fdc_put(&c, items[i].fde);
        }
    }
    assert_int_equal(open_items, 2);
    free(items);
    /* Nothing dirty any more, but every file held is listed again (clients
     * may write them directly), each once, by index only. */
    assert_int_equal(chunk_fdc_sync_list(&c, INO, &items, &n), 0);
    assert_int_equal(n, 5);
    for (i = 0; i < n; i++) {
        assert_null(items[i].fde);
        assert_int_equal(items[i].index, i);
    }
    free(items);
    /* Nothing of another inode. */
    assert_int_equal(chunk_fdc_sync_list(&c, INO + 1, &items, &n), 0);
    assert_int_equal(n, 0);
    assert_null(items);
    chunk_fdc_cleanup(&c);
    close(dirfd);
}

static void test_errors_reported(void **state)
{
    struct fixture *f = *state;
    char path[256], buf[256], *p;
    struct done d = {0, 0};

    memset(buf, 1, sizeof(buf));
    /* Bad arguments: -errno now, no callback ever. */
    assert_int_equal(do_write(f->cs, INO, 0, 0, NULL, 10, &d), -EINVAL);
    assert_int_equal(chunk_write(f->cs, INO, 0, 0, buf, 10, NULL, NULL), -EINVAL);
    assert_int_equal(chunk_fsync(f->cs, INO, NULL, NULL), -EINVAL);
    assert_int_equal(do_write(f->cs, INO, 0, 0, buf, (size_t)INT_MAX + 1, &d), -EINVAL);
    assert_int_equal(do_write(f->cs, INO, 0, UINT64_MAX - 5, buf, 10, &d), -EFBIG);

    /* The chunk's name is a directory: open for write fails at once. */
    chunk_path(f, INO, 5, path, sizeof(path));
    p = strrchr(path, '/');
    *p = '\0';
    assert_int_equal(mkdir(path, 0700), 0);
    *p = '/';
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(do_write(f->cs, INO, 5, 0, buf, 10, &d), -EISDIR);
    /* A read could open it (O_RDONLY works on a directory), but only a
     * regular file is a chunk: -EIO at once, never zeros. */
    assert_int_equal(do_read(f->cs, INO, 5, 0, buf, 10, &d), -EIO);
    assert_int_equal(d.calls, 0);

    /* The inode's subdirectory replaced by a file: -ENOTDIR. */
    chunk_path(f, INO + 3, 0, path, sizeof(path));
    p = strrchr(path, '/');
    *p = '\0';
    rm_rf(path);
    assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
    assert_int_equal(do_write(f->cs, INO + 3, 0, 0, buf, 10, &d), -ENOTDIR);
    assert_int_equal(do_read(f->cs, INO + 3, 0, 0, buf, 10, &d), -ENOTDIR);
    assert_int_equal(total_calls, 0); /* every error above came at once */
}

/* A write that hits the file size limit: short write continued, then the
 * error (-EFBIG, like -ENOSPC would be) reaches the callback. In a child
 * with its own store: the limit is per process. */
static void test_short_write_then_error(void **state)
{
    struct fixture *f = *state;
    char sub[128];
    int status;
    pid_t pid;

    snprintf(sub, sizeof(sub), "%s/fsize", f->dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit lim;
        struct chunk_store *cs;
        char buf[8192];

        child_default_signals();
        signal(SIGXFSZ, SIG_IGN);
        cs = open_store(sub, &f->opts);
        getrlimit(RLIMIT_FSIZE, &lim);
        lim.rlim_cur = 1 << 20;
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
            _exit(77);
        memset(buf, 7, sizeof(buf));
        /* 4096 bytes fit below the limit, the rest does not. */
        if (write_sync(cs, INO, 0, (1 << 20) - 4096, buf, sizeof(buf)) != -EFBIG)
            _exit(1);
        {
            struct chunk_stats st;

            chunk_store_stats(cs, &st);
            /* Either the kernel wrote the fitting part first (a short write
             * we continued) or it refused at once; either way no zeros. */
            _exit(st.errors == 1 && st.writes == 1 ? 0 : 5);
        }
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(size_on_disk_in(sub, INO, 0), 1 << 20); /* the short part landed */
}

/* A full file system: the write's -ENOSPC reaches the callback (after any
 * part that fit), never a silent success; reads of what fit still work. */
static void test_enospc(void **state)
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
        size_t len = 4 << 20;
        struct chunk_store *cs;
        struct chunk_stats st;
        char *w = malloc(len), *r = malloc(len);
        int res;

        child_default_signals();
        if (tiny_fs(sub, "1m") != 0)
            _exit(77);
        if (w == NULL || r == NULL)
            _exit(2);
        fill(w, len, 15);
        cs = open_store(sub, &f->opts);
        res = write_sync(cs, INO, 0, 0, w, len);
        chunk_store_stats(cs, &st);
        if (res != -ENOSPC || st.errors != 1)
            _exit(3);
        /* Whatever landed reads back intact. */
        res = read_sync(cs, INO, 0, 0, r, len);
        if (res < 0 || res >= (int)len || memcmp(w, r, (size_t)res) != 0)
            _exit(4);
        chunk_store_close(cs);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_eventfd_signals_completion(void **state)
{
    struct fixture *f = *state;
    struct pollfd pfd = {.fd = chunk_store_eventfd(f->cs), .events = POLLIN};
    uint64_t deadline = time_mono_ns() + 10000000000ull;
    struct done d = {0, 0};
    char buf[100];
    uint64_t v;

    memset(buf, 3, sizeof(buf));
    assert_int_equal(poll(&pfd, 1, 0), 0); /* idle: not readable */
    assert_int_equal(do_write(f->cs, INO, 0, 0, buf, sizeof(buf), &d), 0);
    assert_true(chunk_store_submit(f->cs) >= 1);
    /* The completion makes the eventfd readable ... */
    while (poll(&pfd, 1, 100) == 0)
        assert_true(time_mono_ns() < deadline);
    assert_int_equal(d.calls, 0);
    /* ... the loop clears it after its poll, then reaps ... */
    chunk_store_clear_eventfd(f->cs);
    assert_int_equal(poll(&pfd, 1, 0), 0);
    assert_true(read(pfd.fd, &v, sizeof(v)) < 0 && errno == EAGAIN);
    assert_int_equal(chunk_store_reap(f->cs), 1);
    assert_int_equal(d.calls, 1);
    /* ... and a reap with nothing completed does nothing. */
    assert_int_equal(chunk_store_reap(f->cs), 0);
    assert_int_equal(d.calls, 1);
}

static void test_o_direct(void **state)
{
    struct fixture *f = *state;
    char *w, *r;

    chunk_store_close(f->cs);
    f->opts.o_direct = true;
    f->cs = open_store(f->dir, &f->opts);
    w = chunk_buf_get(f->cs);
    r = chunk_buf_get(f->cs);
    fill(w, 65536, 12);
    /* Aligned: O_DIRECT fd; unaligned: a buffered fd of its own. */
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 8192), 8192);
    assert_int_equal(chunk_store_open_fds(f->cs), 1);
    assert_int_equal(write_sync(f->cs, INO, 0, 8192, w + 8192, 100), 100);
    assert_int_equal(chunk_store_open_fds(f->cs), 2);
    /* An aligned read past the end: short at EOF (8292), continued on the
     * buffered fd because the remainder is not aligned any more. */
    memset(r, 0, 65536);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, 12288), 8292);
    assert_memory_equal(r, w, 8292);
    assert_int_equal(read_sync(f->cs, INO, 0, 4096, r, 4096), 4096);
    assert_memory_equal(r, w + 4096, 4096);
    assert_int_equal(fsync_sync(f->cs, INO), 0);
    chunk_buf_put(f->cs, w);
    chunk_buf_put(f->cs, r);
}

static void test_close_runs_callbacks(void **state)
{
    struct fixture *f = *state;
    static char buf[20][1000];
    struct done d[20];
    int i;

    memset(d, 0, sizeof(d));
    for (i = 0; i < 20; i++)
        assert_int_equal(do_write(f->cs, INO, (uint64_t)i, 0, buf[i], sizeof(buf[i]), &d[i]), 0);
    assert_int_equal(total_calls, 0);
    chunk_store_close(f->cs); /* some never submitted: close does it */
    f->cs = NULL;
    for (i = 0; i < 20; i++) {
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].result, 1000);
    }
    f->cs = open_store(f->dir, &f->opts);
    assert_int_equal(chunk_size_on_disk(f, INO, 19), 1000);
}

static void test_persist_reopen(void **state)
{
    struct fixture *f = *state;
    char w[5000], r[5000];

    fill(w, sizeof(w), 13);
    assert_int_equal(write_sync(f->cs, INO, 42, 0, w, sizeof(w)), 5000);
    reopen(f);
    assert_int_equal(read_sync(f->cs, INO, 42, 0, r, sizeof(r)), 5000);
    assert_memory_equal(r, w, sizeof(w));
}

/* Without CAP_IPC_LOCK and with a tiny RLIMIT_MEMLOCK, registration fails;
 * the store says why and still works. In a child that becomes an
 * unprivileged user (no capabilities at all), with a store of its own. */
static void test_unregistered_fallback(void **state)
{
    struct fixture *f = *state;
    char sub[128];
    int status;
    pid_t pid;

    snprintf(sub, sizeof(sub), "%s/nobody", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(chown(sub, 65534, 65534), 0);
    assert_int_equal(chmod(f->dir, 0711), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit lim = {.rlim_cur = 64 << 10, .rlim_max = 64 << 10};
        struct chunk_opts o = f->opts;
        struct chunk_store *cs;
        const char *why = NULL;
        char err[256], *w, *r;
        int rc;

        child_default_signals();
        if (setrlimit(RLIMIT_MEMLOCK, &lim) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(77);
        o.buffer_size = 1 << 20;
        rc = chunk_store_open(sub, &o, &cs, err, sizeof(err));
        if (rc == -EPERM) /* io_uring disabled for unprivileged users here */
            _exit(77);
        if (rc != 0)
            _exit(2);
        if (chunk_store_registered(cs, &why) || why == NULL || strstr(why, "regist") == NULL)
            _exit(3);
        w = chunk_buf_get(cs);
        r = chunk_buf_get(cs);
        fill(w, 100000, 14);
        if (write_sync(cs, INO, 0, 0, w, 100000) != 100000 ||
            read_sync(cs, INO, 0, 0, r, 100000) != 100000 || memcmp(w, r, 100000) != 0)
            _exit(4);
        chunk_buf_put(cs, w);
        chunk_buf_put(cs, r);
        chunk_store_close(cs);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(size_on_disk_in(sub, INO, 0), 100000);
}

/* On tmpfs the loop copies inline (no io_uring worker): same results, same
 * callback discipline, holes and short reads included. */
static void test_tmpfs_inline(void **state)
{
    struct chunk_opts opts = {.queue_size = 32,
                              .buffer_size = 65536,
                              .buffer_count = 4,
                              .submit_depth = 8,
                              .fd_cache = 8};
    char dir[] = "/dev/shm/benchfs-chunk-XXXXXX", cmd[128];
    struct chunk_store *cs;
    struct chunk_stats st;
    char w[5000], r[6000];

    (void)state;
    if (mkdtemp(dir) == NULL)
        skip(); /* no /dev/shm here */
    cs = open_store(dir, &opts);
    for (size_t i = 0; i < sizeof(w); i++)
        w[i] = (char)(i * 31 + 7);
    assert_int_equal(write_sync(cs, 9, 1, 100, w, sizeof(w)), (int)sizeof(w));
    memset(r, 0, sizeof(r));
    /* short at the end of the chunk file: 100 + 5000 bytes exist */
    assert_int_equal(read_sync(cs, 9, 1, 100, r, sizeof(r)), (int)sizeof(w));
    assert_memory_equal(r, w, sizeof(w));
    assert_int_equal(read_sync(cs, 9, 2, 0, r, 10), 0); /* missing chunk: hole */
    chunk_store_stats(cs, &st);
    assert_true(st.inline_ops >= 2);
    assert_int_equal(st.writes, 1);
    assert_int_equal(st.reads, 1); /* the hole is a no-op, not a read */
    assert_int_equal(st.bytes_written, sizeof(w));
    chunk_store_close(cs);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* --- small chunks (chunk_store_set_small) ------------------------------- */

/* An in-memory stand-in for the metadata store's small chunks: a few
 * entries keyed by inode number. It checks the store's side of the
 * contract: never a put past max, and it poisons bytes it drops, so a
 * caller that used a pointer from get after a put or trunc would see it. */
#define SMALL_MAX     4096u
#define SMALL_ENTRIES 16

struct small_ent {
    bool used;
    uint64_t ino;
    size_t len;
    unsigned char data[SMALL_MAX];
};

struct fake_small {
    struct small_ent e[SMALL_ENTRIES];
    size_t max;
    bool full;     /* a put that would create an entry: -ENOSPC */
    bool full_all; /* every put: -ENOSPC */
    int trunc_err; /* trunc fails with this (0: works) */
    int puts, truncs, lists;
};

static struct small_ent *fake_find(struct fake_small *fs, uint64_t ino)
{
    for (int i = 0; i < SMALL_ENTRIES; i++)
        if (fs->e[i].used && fs->e[i].ino == ino)
            return &fs->e[i];
    return NULL;
}

static int fake_get(void *ctx, uint64_t ino, const void **data_p, size_t *len_p)
{
    struct small_ent *e = fake_find(ctx, ino);

    if (e == NULL)
        return 0;
    *data_p = e->data;
    *len_p = e->len;
    return 1;
}

static int fake_put(void *ctx, uint64_t ino, uint64_t off, const void *buf, size_t len)
{
    struct fake_small *fs = ctx;
    struct small_ent *e = fake_find(fs, ino);
    int i;

    fs->puts++;
    /* The store never asks for more than max (nor for nothing). */
    assert_true(len > 0);
    assert_true(off + len <= fs->max);
    if (fs->full_all)
        return -ENOSPC;
    if (e == NULL) {
        if (fs->full)
            return -ENOSPC;
        for (i = 0; i < SMALL_ENTRIES && fs->e[i].used; i++)
            ;
        assert_true(i < SMALL_ENTRIES);
        e = &fs->e[i];
        memset(e, 0, sizeof(*e));
        e->used = true;
        e->ino = ino;
    }
    if (off > e->len)
        memset(e->data + e->len, 0, (size_t)off - e->len);
    memcpy(e->data + off, buf, len);
    if (off + len > e->len)
        e->len = (size_t)(off + len);
    return 0;
}

static int fake_trunc(void *ctx, uint64_t ino, uint64_t len)
{
    struct fake_small *fs = ctx;
    struct small_ent *e = fake_find(fs, ino);

    fs->truncs++;
    if (fs->trunc_err != 0)
        return fs->trunc_err;
    if (e == NULL || len >= e->len)
        return 0;
    memset(e->data + len, 0xdd, e->len - (size_t)len); /* poison */
    e->len = (size_t)len;
    if (len == 0)
        e->used = false;
    return 0;
}

static size_t fake_list(void *ctx, uint64_t after, uint64_t *inos, size_t max)
{
    struct fake_small *fs = ctx;
    uint64_t last = after;
    size_t n = 0;

    fs->lists++;
    /* Ascending without sorting: the smallest above the last one, again. */
    while (n < max) {
        struct small_ent *best = NULL;

        for (int i = 0; i < SMALL_ENTRIES; i++)
            if (fs->e[i].used && fs->e[i].ino > last && (best == NULL || fs->e[i].ino < best->ino))
                best = &fs->e[i];
        if (best == NULL)
            break;
        inos[n++] = last = best->ino;
    }
    return n;
}

static struct fake_small fake;

/* Put an entry in the fake directly (what a store holds before the chunk
 * store is told about it). */
static void small_seed(uint64_t ino, const void *data, size_t len)
{
    int i;

    for (i = 0; i < SMALL_ENTRIES && fake.e[i].used; i++)
        ;
    assert_true(i < SMALL_ENTRIES && len <= SMALL_MAX);
    fake.e[i].used = true;
    fake.e[i].ino = ino;
    fake.e[i].len = len;
    memcpy(fake.e[i].data, data, len);
}

/* Hand the fake, with what it holds, to f's chunk store. */
static struct fake_small *small_set(struct fixture *f, size_t max)
{
    struct chunk_small_ops ops = {
        .ctx = &fake,
        .max = max,
        .get = fake_get,
        .put = fake_put,
        .trunc = fake_trunc,
        .list = fake_list,
    };

    fake.max = max;
    chunk_store_set_small(f->cs, &ops);
    return &fake;
}

/* An empty fake, handed to f's chunk store. */
static struct fake_small *small_install(struct fixture *f, size_t max)
{
    memset(&fake, 0, sizeof(fake));
    return small_set(f, max);
}

/* Regular files under dir (chunk files: the store keeps nothing else). */
static int nfiles;

static int count_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F && S_ISREG(st->st_mode))
        nfiles++;
    return 0;
}

static int count_files(const char *dir)
{
    nfiles = 0;
    assert_int_equal(nftw(dir, count_entry, 16, FTW_PHYS), 0);
    return nfiles;
}

static struct chunk_stats stats_of(struct chunk_store *cs)
{
    struct chunk_stats st;

    chunk_store_stats(cs, &st);
    return st;
}

/* A write of chunk 0 that ends within max makes no file: the small chunk
 * holds it, reads come back exactly (short at its end, zeros in a gap),
 * usage counts it, and the ends of the range are exact. */
static void test_small_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct fake_small *fs = small_install(f, SMALL_MAX);
    unsigned char w[SMALL_MAX], r[SMALL_MAX + 100], want[SMALL_MAX];
    struct small_ent *e;
    uint64_t chunks = 99, bytes = 99;
    struct chunk_stats st;

    fill(w, sizeof(w), 21);
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 100), 100);
    assert_int_equal(count_files(f->dir), 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 0), -1);
    e = fake_find(fs, INO);
    assert_non_null(e);
    assert_int_equal(e->len, 100);
    assert_memory_equal(e->data, w, 100);
    assert_int_equal(chunk_store_usage(f->cs, INO, &chunks, &bytes), 0);
    assert_int_equal(chunks, 1);
    assert_int_equal(bytes, 100);

    /* Reads: whole (short: 100 bytes exist), inside, at and past the end. */
    memset(r, 0xee, sizeof(r));
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 100);
    assert_memory_equal(r, w, 100);
    assert_int_equal(r[100], 0xee); /* nothing past what it returned */
    assert_int_equal(read_sync(f->cs, INO, 0, 40, r, 10), 10);
    assert_memory_equal(r, w + 40, 10);
    assert_int_equal(read_sync(f->cs, INO, 0, 95, r, 10), 5);
    assert_memory_equal(r, w + 95, 5);
    assert_int_equal(read_sync(f->cs, INO, 0, 100, r, 10), 0);
    assert_int_equal(read_sync(f->cs, INO, 0, 3000, r, 10), 0);
    assert_int_equal(read_sync(f->cs, INO, 0, 1u << 20, r, 10), 0);

    /* A gap reads as zeros; an overwrite in the middle keeps the tail. */
    assert_int_equal(write_sync(f->cs, INO, 0, 1000, w + 1000, 50), 50);
    assert_int_equal(write_sync(f->cs, INO, 0, 10, w + 500, 5), 5);
    memset(want, 0, sizeof(want));
    memcpy(want, w, 100);
    memcpy(want + 10, w + 500, 5);
    memcpy(want + 1000, w + 1000, 50);
    memset(r, 0xee, sizeof(r));
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 1050);
    assert_memory_equal(r, want, 1050);

    /* Ending exactly at max is still small. */
    assert_int_equal(write_sync(f->cs, INO, 0, SMALL_MAX - 96, w, 96), 96);
    memcpy(want + SMALL_MAX - 96, w, 96);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), (int)SMALL_MAX);
    assert_memory_equal(r, want, SMALL_MAX);
    assert_int_equal(count_files(f->dir), 0);
    assert_int_equal(chunk_store_usage(f->cs, INO, &chunks, &bytes), 0);
    assert_int_equal(chunks, 1);
    assert_int_equal(bytes, SMALL_MAX);

    /* Chunk 1 and other inodes are not small chunks: holes. */
    assert_int_equal(read_sync(f->cs, INO, 1, 0, r, 10), 0);
    assert_int_equal(read_sync(f->cs, INO + 1, 0, 0, r, 10), 0);
    assert_null(fake_find(fs, INO + 1));
    assert_int_equal(chunk_store_usage(f->cs, INO + 1, &chunks, &bytes), 0);
    assert_int_equal(chunks, 0);
    assert_int_equal(bytes, 0);

    /* Counted like other requests, and as small ops. */
    st = stats_of(f->cs);
    assert_int_equal(st.writes, 4);
    assert_int_equal(st.bytes_written, 100 + 50 + 5 + 96);
    assert_int_equal(st.reads, 8); /* the two holes are no reads */
    assert_int_equal(st.bytes_read, 100 + 10 + 5 + 1050 + SMALL_MAX);
    assert_int_equal(st.small_ops, 4 + 8);
    assert_int_equal(st.small_moves, 0);
    assert_int_equal(fs->truncs, 0);

    /* A fsync has no file to sync and completes. */
    assert_int_equal(fsync_sync(f->cs, INO), 0);
}

/* An inode that has a chunk file here takes the file path for a new chunk
 * 0, even a small one; a small chunk that exists stays the one chunk 0 when
 * other chunks become files. */
static void test_small_not_with_files(void **state)
{
    struct fixture *f = *state;
    struct fake_small *fs = small_install(f, SMALL_MAX);
    unsigned char w[200], r[300];
    uint64_t chunks, bytes;

    fill(w, sizeof(w), 22);
    assert_int_equal(write_sync(f->cs, INO, 1, 0, w, 100), 100);
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 100), 100);
    assert_int_equal(chunk_size_on_disk(f, INO, 0), 100);
    assert_null(fake_find(fs, INO));
    assert_int_equal(fs->puts, 0);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 100);
    assert_memory_equal(r, w, 100);
    assert_int_equal(stats_of(f->cs).small_ops, 0);

    /* Small first, then a file for chunk 1: chunk 0 stays small. */
    assert_int_equal(write_sync(f->cs, INO + 1, 0, 0, w, 50), 50);
    assert_int_equal(write_sync(f->cs, INO + 1, 1, 0, w, 100), 100);
    assert_int_equal(chunk_size_on_disk(f, INO + 1, 1), 100);
    assert_int_equal(write_sync(f->cs, INO + 1, 0, 50, w + 50, 150), 150);
    assert_int_equal(chunk_size_on_disk(f, INO + 1, 0), -1);
    assert_non_null(fake_find(fs, INO + 1));
    assert_int_equal(fake_find(fs, INO + 1)->len, 200);
    assert_int_equal(read_sync(f->cs, INO + 1, 0, 0, r, sizeof(r)), 200);
    assert_memory_equal(r, w, 200);
    /* Usage: both kinds. */
    assert_int_equal(chunk_store_usage(f->cs, INO + 1, &chunks, &bytes), 0);
    assert_int_equal(chunks, 2);
    assert_true(bytes >= 200 + 100);

    /* A write past max for an inode without a small chunk: just a file. */
    assert_int_equal(write_sync(f->cs, INO + 2, 0, 0, w, 10), 10);
    assert_non_null(fake_find(fs, INO + 2));
    assert_int_equal(chunk_remove_inode(f->cs, INO + 2), 0);
    assert_int_equal(write_sync(f->cs, INO + 3, 0, SMALL_MAX, w, 10), 10);
    assert_int_equal(chunk_size_on_disk(f, INO + 3, 0), SMALL_MAX + 10);
    assert_null(fake_find(fs, INO + 3));
    assert_int_equal(stats_of(f->cs).small_moves, 0);
}

/* A write that ends past max moves the small chunk into a file (its bytes
 * first, then the write), and the inode's chunk 0 stays a file. */
static void test_small_move_to_file(void **state)
{
    struct fixture *f = *state;
    struct fake_small *fs = small_install(f, SMALL_MAX);
    unsigned char w[8192], r[8192], want[8192];
    char path[256];
    uint64_t inos[4], chunks, bytes;
    struct chunk_stats st;
    ssize_t n;
    int fd;

    fill(w, sizeof(w), 23);
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 1000), 1000);
    assert_int_equal(write_sync(f->cs, INO, 0, 3000, w + 3000, 2000), 2000);
    st = stats_of(f->cs);
    assert_int_equal(st.small_moves, 1);
    assert_null(fake_find(fs, INO));
    memset(want, 0, sizeof(want));
    memcpy(want, w, 1000);
    memcpy(want + 3000, w + 3000, 2000);
    /* The file itself holds old bytes, zeros, new bytes. */
    assert_int_equal(chunk_size_on_disk(f, INO, 0), 5000);
    chunk_path(f, INO, 0, path, sizeof(path));
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    n = pread(fd, r, sizeof(r), 0);
    close(fd);
    assert_int_equal(n, 5000);
    assert_memory_equal(r, want, 5000);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 5000);
    assert_memory_equal(r, want, 5000);

    /* Later writes, small ones too, stay in the file. */
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w + 7000, 10), 10);
    memcpy(want, w + 7000, 10);
    assert_null(fake_find(fs, INO));
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 5000);
    assert_memory_equal(r, want, 5000);
    /* Cut below max: still a file, never small again. */
    assert_int_equal(chunk_remove(f->cs, INO, 0, UINT64_MAX, 100), 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 0), 100);
    assert_int_equal(write_sync(f->cs, INO, 0, 100, w, 10), 10);
    assert_int_equal(chunk_size_on_disk(f, INO, 0), 110);
    assert_null(fake_find(fs, INO));
    st = stats_of(f->cs);
    assert_int_equal(st.small_moves, 1);
    assert_int_equal(st.small_ops, 1); /* the first write only */
    assert_int_equal(chunk_store_usage(f->cs, INO, &chunks, &bytes), 0);
    assert_int_equal(chunks, 1);
    assert_int_equal(chunk_store_list(f->cs, 0, inos, 4), 1);
    assert_true(inos[0] == INO);

    /* A write wholly past max moves too. */
    assert_int_equal(write_sync(f->cs, INO + 1, 0, 0, w, 300), 300);
    assert_int_equal(write_sync(f->cs, INO + 1, 0, 6000, w, 10), 10);
    assert_null(fake_find(fs, INO + 1));
    assert_int_equal(chunk_size_on_disk(f, INO + 1, 0), 6010);
    assert_int_equal(read_sync(f->cs, INO + 1, 0, 0, r, sizeof(r)), 6010);
    assert_memory_equal(r, w, 300);
    assert_memory_equal(r + 6000, w, 10);
    for (n = 300; n < 6000; n++)
        assert_int_equal(r[n], 0);
    assert_int_equal(stats_of(f->cs).small_moves, 2);
}

/* When dropping the small chunk fails after the move, the file goes again:
 * the bytes are in exactly one place, and the write fails. */
static void test_small_move_fails(void **state)
{
    struct fixture *f = *state;
    struct fake_small *fs = small_install(f, SMALL_MAX);
    unsigned char w[6000], r[6000];
    struct done d = {0, 0};

    fill(w, sizeof(w), 24);
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 500), 500);
    fs->trunc_err = -EIO;
    assert_int_equal(do_write(f->cs, INO, 0, 0, w, sizeof(w), &d), -EIO);
    assert_int_equal(d.calls, 0);
    assert_int_equal(chunk_size_on_disk(f, INO, 0), -1);
    assert_int_equal(count_files(f->dir), 0);
    assert_non_null(fake_find(fs, INO));
    assert_int_equal(stats_of(f->cs).small_moves, 0);
    fs->trunc_err = 0;
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 500);
    assert_memory_equal(r, w, 500);
    /* and it works once the store does */
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, sizeof(w)), (int)sizeof(w));
    assert_null(fake_find(fs, INO));
    assert_int_equal(chunk_size_on_disk(f, INO, 0), (off_t)sizeof(w));
    assert_int_equal(total_calls, 3);
}

/* Truncation cuts the small chunk, a cut at 0 removes it, a range from a
 * later chunk leaves it; a deleted inode's goes and its writes are refused. */
static void test_small_remove(void **state)
{
    struct fixture *f = *state;
    struct fake_small *fs = small_install(f, SMALL_MAX);
    unsigned char w[1000], r[1000];
    struct done d = {0, 0};
    uint64_t inos[4], chunks, bytes;

    fill(w, sizeof(w), 25);
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 1000), 1000);
    assert_int_equal(chunk_remove(f->cs, INO, 1, UINT64_MAX, 0), 0);
    assert_int_equal(chunk_remove(f->cs, INO, 1, 5, 10), 0);
    assert_int_equal(fake_find(fs, INO)->len, 1000);
    assert_int_equal(chunk_remove(f->cs, INO, 0, UINT64_MAX, 300), 0);
    assert_int_equal(fake_find(fs, INO)->len, 300);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 300);
    assert_memory_equal(r, w, 300);
    /* never extended */
    assert_int_equal(chunk_remove_from(f->cs, INO, 0, 5000), 0);
    assert_int_equal(fake_find(fs, INO)->len, 300);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 300);
    assert_int_equal(chunk_remove(f->cs, INO, 5, 4, 0), -EINVAL);
    assert_int_equal(fake_find(fs, INO)->len, 300);
    assert_int_equal(chunk_remove(f->cs, INO, 0, 0, 0), 0);
    assert_null(fake_find(fs, INO));
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 0);
    assert_int_equal(chunk_store_usage(f->cs, INO, &chunks, &bytes), 0);
    assert_int_equal(chunks, 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(chunk_store_list(f->cs, 0, inos, 4), 0);
    /* A removed small chunk can come back (the inode is not deleted). */
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 10), 10);
    assert_int_equal(fake_find(fs, INO)->len, 10);
    assert_int_equal(count_files(f->dir), 0);

    /* Deleting the inode removes the small chunk and refuses writes, small
     * or large; reads see nothing; other inodes are fine. */
    assert_int_equal(write_sync(f->cs, INO + 1, 0, 0, w, 20), 20);
    assert_int_equal(chunk_remove_inode(f->cs, INO), 0);
    assert_null(fake_find(fs, INO));
    assert_int_equal(do_write(f->cs, INO, 0, 0, w, 10, &d), -ESTALE);
    assert_int_equal(do_write(f->cs, INO, 0, 0, w, sizeof(w), &d), -ESTALE);
    assert_int_equal(do_write(f->cs, INO, 0, SMALL_MAX, w, 10, &d), -ESTALE);
    assert_int_equal(d.calls, 0);
    assert_null(fake_find(fs, INO));
    assert_int_equal(count_files(f->dir), 0);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 0);
    assert_int_equal(fake_find(fs, INO + 1)->len, 20);
    assert_int_equal(write_sync(f->cs, INO + 1, 0, 20, w, 20), 20);
    assert_int_equal(chunk_store_list(f->cs, 0, inos, 4), 1);
    assert_true(inos[0] == INO + 1);
}

/* Listing merges the inodes with small chunks into those with chunk files:
 * ascending, each once, at most max, paged by `after`. */
static void test_small_list(void **state)
{
    struct fixture *f = *state;
    struct fake_small *fs = small_install(f, SMALL_MAX);
    uint64_t inos[16], all[] = {INO + 1, INO + 2, INO + 4, INO + 6, INO + 7, INO + 9};
    uint64_t after;
    unsigned char w[10];
    size_t n, got, i, max;

    fill(w, sizeof(w), 26);
    /* small only: 2, 6, 9; files only: 1, 7; both: 4 */
    assert_int_equal(write_sync(f->cs, INO + 9, 0, 0, w, 10), 10);
    assert_int_equal(write_sync(f->cs, INO + 2, 0, 0, w, 10), 10);
    assert_int_equal(write_sync(f->cs, INO + 6, 0, 0, w, 10), 10);
    assert_int_equal(write_sync(f->cs, INO + 4, 0, 0, w, 10), 10);
    assert_int_equal(write_sync(f->cs, INO + 4, 3, 0, w, 10), 10);
    assert_int_equal(write_sync(f->cs, INO + 1, 1, 0, w, 10), 10);
    assert_int_equal(write_sync(f->cs, INO + 7, 0, SMALL_MAX, w, 10), 10);
    assert_non_null(fake_find(fs, INO + 4));
    assert_null(fake_find(fs, INO + 7));

    assert_int_equal(chunk_store_list(f->cs, 0, inos, 16), 6);
    assert_memory_equal(inos, all, sizeof(all));
    assert_int_equal(chunk_store_list(f->cs, INO + 4, inos, 16), 3);
    assert_memory_equal(inos, all + 3, 3 * sizeof(*inos));
    assert_int_equal(chunk_store_list(f->cs, INO + 9, inos, 16), 0);
    assert_int_equal(chunk_store_list(f->cs, 0, inos, 0), 0);

    /* Every page size pages through the same sequence. */
    for (max = 1; max <= 7; max++) {
        after = 0;
        got = 0;
        do {
            memset(inos, 0, sizeof(inos));
            n = chunk_store_list(f->cs, after, inos, max);
            assert_true(n <= max);
            for (i = 0; i < n; i++) {
                assert_true(got + i < 6);
                assert_true(inos[i] == all[got + i]);
            }
            assert_true(inos[n] == 0); /* nothing written past the count */
            got += n;
            if (n > 0)
                after = inos[n - 1];
        } while (n == max);
        assert_int_equal(got, 6);
    }

    /* Removing the small chunk of 4 leaves its files listed; of 2, it goes. */
    assert_int_equal(chunk_remove(f->cs, INO + 4, 0, 0, 0), 0);
    assert_int_equal(chunk_remove(f->cs, INO + 2, 0, 0, 0), 0);
    assert_int_equal(chunk_store_list(f->cs, 0, inos, 16), 5);
    assert_true(inos[0] == INO + 1 && inos[1] == INO + 4 && inos[2] == INO + 6 &&
                inos[3] == INO + 7 && inos[4] == INO + 9);
    assert_true(fs->lists > 0);
}

/* A store too full for a new small chunk makes it a file; existing small
 * chunks still change in place. */
static void test_small_full_store(void **state)
{
    struct fixture *f = *state;
    struct fake_small *fs = small_install(f, SMALL_MAX);
    unsigned char w[100], r[200];

    fill(w, sizeof(w), 27);
    assert_int_equal(write_sync(f->cs, INO + 1, 0, 0, w, 50), 50);
    fs->full = true;
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 100), 100);
    assert_null(fake_find(fs, INO));
    assert_int_equal(chunk_size_on_disk(f, INO, 0), 100);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 100);
    assert_memory_equal(r, w, 100);
    /* Once a file, always a file, room or not. */
    fs->full = false;
    assert_int_equal(write_sync(f->cs, INO, 0, 100, w, 10), 10);
    assert_null(fake_find(fs, INO));
    assert_int_equal(chunk_size_on_disk(f, INO, 0), 110);
    /* An existing small chunk grows in place. */
    fs->full = true;
    assert_int_equal(write_sync(f->cs, INO + 1, 0, 50, w + 50, 50), 50);
    assert_int_equal(fake_find(fs, INO + 1)->len, 100);
    assert_int_equal(chunk_size_on_disk(f, INO + 1, 0), -1);
    assert_int_equal(read_sync(f->cs, INO + 1, 0, 0, r, sizeof(r)), 100);
    assert_memory_equal(r, w, 100);
    assert_int_equal(stats_of(f->cs).small_moves, 0);
    /* A store that cannot even change an existing one: it moves into a
     * file with its bytes, and the write goes there. */
    fs->full_all = true;
    assert_int_equal(write_sync(f->cs, INO + 1, 0, 10, w, 5), 5);
    assert_null(fake_find(fs, INO + 1));
    assert_int_equal(chunk_size_on_disk(f, INO + 1, 0), 100);
    assert_int_equal(stats_of(f->cs).small_moves, 1);
    memset(r, 0, sizeof(r));
    assert_int_equal(read_sync(f->cs, INO + 1, 0, 0, r, sizeof(r)), 100);
    assert_memory_equal(r, w, 10);
    assert_memory_equal(r + 10, w, 5);
    assert_memory_equal(r + 15, w + 15, 85);
    /* ... and a new one is a file at once, nothing moved. */
    assert_int_equal(write_sync(f->cs, INO + 2, 0, 0, w, 30), 30);
    assert_int_equal(chunk_size_on_disk(f, INO + 2, 0), 30);
    assert_int_equal(stats_of(f->cs).small_moves, 1);
}

/* A store that lost chunks: a missing chunk 0 is -ENODATA, a small one
 * reads its bytes. */
static void test_small_lost(void **state)
{
    struct fixture *f = *state;
    unsigned char w[100], r[100];

    (void)small_install(f, SMALL_MAX);
    fill(w, sizeof(w), 28);
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 60), 60);
    chunk_store_set_lost(f->cs, true);
    assert_int_equal(read_sync(f->cs, INO + 1, 0, 0, r, sizeof(r)), -ENODATA);
    assert_int_equal(read_sync(f->cs, INO, 1, 0, r, sizeof(r)), -ENODATA);
    memset(r, 0, sizeof(r));
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 60);
    assert_memory_equal(r, w, 60);
    /* past its end: a short read of what it holds, not lost data */
    assert_int_equal(read_sync(f->cs, INO, 0, 60, r, sizeof(r)), 0);
}

/* Without complete ops there are no small chunks at all: every chunk 0 is
 * a file, and what the ops' store holds is never asked for. */
static void test_small_off(void **state)
{
    struct fixture *f = *state;
    struct chunk_small_ops ops = {
        .ctx = &fake, .max = SMALL_MAX, .get = fake_get, .put = fake_put, .trunc = fake_trunc};
    unsigned char w[10], r[10];
    uint64_t inos[4], chunks, bytes;

    memset(&fake, 0, sizeof(fake));
    fake.max = SMALL_MAX;
    small_seed(INO + 5, "seeded", 6);
    fill(w, sizeof(w), 29);
    chunk_store_set_small(f->cs, &ops); /* no list */
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 10), 10);
    assert_int_equal(chunk_size_on_disk(f, INO, 0), 10);
    assert_int_equal(read_sync(f->cs, INO + 5, 0, 0, r, sizeof(r)), 0);
    assert_int_equal(chunk_remove_inode(f->cs, INO + 5), 0);
    assert_int_equal(chunk_store_usage(f->cs, INO + 5, &chunks, &bytes), 0);
    assert_int_equal(chunks, 0);
    assert_int_equal(chunk_store_list(f->cs, 0, inos, 4), 1);
    assert_true(inos[0] == INO);
    assert_int_equal(fake.puts + fake.truncs + fake.lists, 0);
    assert_int_equal(fake_find(&fake, INO + 5)->len, 6);
    assert_int_equal(stats_of(f->cs).small_ops, 0);
}

/* max 0: no new small chunks, but the ones there are still read, cut,
 * listed, measured and removed, and move into a file at their next write,
 * however small. */
static void test_small_max0(void **state)
{
    struct fixture *f = *state;
    unsigned char w[100], r[200];
    uint64_t inos[4], chunks, bytes;

    fill(w, sizeof(w), 30);
    memset(&fake, 0, sizeof(fake));
    small_seed(INO + 1, w, 100);
    small_seed(INO + 2, w, 50);
    small_seed(INO + 3, w, 80);
    (void)small_set(f, 0);
    /* new: a file */
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 10), 10);
    assert_int_equal(chunk_size_on_disk(f, INO, 0), 10);
    assert_null(fake_find(&fake, INO));
    /* existing: read, measured, listed */
    assert_int_equal(read_sync(f->cs, INO + 1, 0, 0, r, sizeof(r)), 100);
    assert_memory_equal(r, w, 100);
    assert_int_equal(chunk_store_usage(f->cs, INO + 1, &chunks, &bytes), 0);
    assert_int_equal(chunks, 1);
    assert_int_equal(bytes, 100);
    assert_int_equal(chunk_store_list(f->cs, 0, inos, 4), 4);
    assert_true(inos[0] == INO && inos[1] == INO + 1 && inos[2] == INO + 2 && inos[3] == INO + 3);
    /* cut and removed */
    assert_int_equal(chunk_remove_from(f->cs, INO + 2, 0, 20), 0);
    assert_int_equal(fake_find(&fake, INO + 2)->len, 20);
    assert_int_equal(chunk_remove_inode(f->cs, INO + 3), 0);
    assert_null(fake_find(&fake, INO + 3));
    /* written: moved, with its bytes, and the write lands in the file */
    assert_int_equal(write_sync(f->cs, INO + 1, 0, 0, w + 50, 1), 1);
    assert_null(fake_find(&fake, INO + 1));
    assert_int_equal(chunk_size_on_disk(f, INO + 1, 0), 100);
    assert_int_equal(read_sync(f->cs, INO + 1, 0, 0, r, sizeof(r)), 100);
    assert_int_equal(r[0], w[50]);
    assert_memory_equal(r + 1, w + 1, 99);
    assert_int_equal(stats_of(f->cs).small_moves, 1);
    assert_int_equal(fake.puts, 0);
}

/* Plant chunk 0 of ino as a file holding data, behind the store's back
 * (what a crash between a move's file and its commit leaves). */
static void plant_chunk0(const struct fixture *f, uint64_t ino, const void *data, size_t len)
{
    char path[256];
    int fd;

    chunk_path(f, ino, 0, path, sizeof(path));
    fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* A small chunk beside a chunk 0 file (a move a crash cut short): the file
 * is the newer copy, and the small chunk goes, when the ops are set and
 * when such a chunk is first used. Small chunks of inodes whose other
 * chunks are files are left alone. */
static void test_small_reconcile(void **state)
{
    struct fixture *f = *state;
    unsigned char w[300], r[300], old[300];
    uint64_t inos[8], chunks, bytes;

    fill(w, sizeof(w), 31);
    fill(old, sizeof(old), 32);
    /* Files first, the store not told yet: INO has chunk 0 and 1 files,
     * INO + 1 only chunk 2, INO + 2 none. */
    assert_int_equal(write_sync(f->cs, INO, 0, 0, w, 200), 200);
    assert_int_equal(write_sync(f->cs, INO, 1, 0, w, 10), 10);
    assert_int_equal(write_sync(f->cs, INO + 1, 2, 0, w, 10), 10);
    memset(&fake, 0, sizeof(fake));
    small_seed(INO, old, 100);
    small_seed(INO + 1, w, 30);
    small_seed(INO + 2, w, 40);
    (void)small_set(f, SMALL_MAX);
    assert_null(fake_find(&fake, INO));
    assert_int_equal(fake_find(&fake, INO + 1)->len, 30);
    assert_int_equal(fake_find(&fake, INO + 2)->len, 40);
    assert_int_equal(read_sync(f->cs, INO, 0, 0, r, sizeof(r)), 200);
    assert_memory_equal(r, w, 200);
    assert_int_equal(chunk_store_usage(f->cs, INO, &chunks, &bytes), 0);
    assert_int_equal(chunks, 2);

    /* Found at first use: a read takes the file ... */
    plant_chunk0(f, INO + 1, w + 100, 150);
    assert_int_equal(read_sync(f->cs, INO + 1, 0, 0, r, sizeof(r)), 150);
    assert_memory_equal(r, w + 100, 150);
    assert_null(fake_find(&fake, INO + 1));
    /* ... and so does a write that would have fitted the small chunk. */
    assert_int_equal(write_sync(f->cs, INO + 3, 0, 0, old, 60), 60);
    assert_int_equal(write_sync(f->cs, INO + 3, 5, 0, w, 10), 10);
    assert_non_null(fake_find(&fake, INO + 3));
    plant_chunk0(f, INO + 3, w, 250);
    assert_int_equal(write_sync(f->cs, INO + 3, 0, 0, w + 200, 5), 5);
    assert_null(fake_find(&fake, INO + 3));
    assert_int_equal(chunk_size_on_disk(f, INO + 3, 0), 250);
    assert_int_equal(read_sync(f->cs, INO + 3, 0, 0, r, sizeof(r)), 250);
    assert_memory_equal(r, w + 200, 5);
    assert_memory_equal(r + 5, w + 5, 245);
    assert_int_equal(stats_of(f->cs).small_moves, 0);

    /* A small chunk beside other chunks' files only is still the chunk 0. */
    assert_int_equal(read_sync(f->cs, INO + 2, 0, 0, r, sizeof(r)), 40);
    assert_int_equal(write_sync(f->cs, INO + 2, 7, 0, w, 10), 10);
    assert_int_equal(read_sync(f->cs, INO + 2, 0, 0, r, sizeof(r)), 40);
    assert_memory_equal(r, w, 40);
    assert_int_equal(fake_find(&fake, INO + 2)->len, 40);
    assert_int_equal(chunk_store_list(f->cs, 0, inos, 8), 4);
    assert_true(inos[0] == INO && inos[1] == INO + 1 && inos[2] == INO + 2 && inos[3] == INO + 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_layout, setup, teardown),
        cmocka_unit_test(test_tmpfs_inline),
        cmocka_unit_test_setup_teardown(test_roundtrip_registered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_holes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_cache_eviction_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_remove_from_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_inode_refuses_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_reads_enodata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fdcache_sync_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_write_then_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eventfd_signals_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_o_direct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_planted_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_runs_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persist_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unregistered_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_not_with_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_move_to_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_move_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_full_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_max0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_reconcile, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
