/*
 * test_client_diff.c - seeded randomized differential test of descriptors:
 * the same random sequence of operations runs on BenchFS (public API, 3
 * servers, 64 KiB chunks) and on a local temp directory with the real
 * POSIX calls, and every return value, errno and byte read must agree.
 *
 * The sequences aim at what issue 11 found: several descriptors per file
 * (6 slots over 4 names), unlink / rename over / truncate of open files,
 * O_TRUNC / O_APPEND / O_EXCL opens, writes and holes across small chunks,
 * names that become directories. A mismatch is minimized (delta debugging
 * over the operation list, each trial on a fresh directory) and the minimal
 * sequence is printed with the seed.
 *
 * Environment (or argv[1] = one seed to replay):
 *   BENCHFS_DIFF_SEED=<n>      replay only this seed
 *   BENCHFS_DIFF_SEEDS=<n>     seeds to run (default 400), from BENCHFS_DIFF_FIRST
 *   BENCHFS_DIFF_FIRST=<n>     first seed (default 1; `make fuzz` uses the time)
 *   BENCHFS_DIFF_OPS=<n>       operations per seed (default 100)
 *   BENCHFS_DIFF_SECONDS=<n>   stop starting seeds after this long (0 = no limit)
 *
 * Not compared, by design (docs/semantics.md): times, st_ino, st_blocks,
 * directory sizes; pwrite on an O_APPEND descriptor (Linux appends, POSIX
 * and BenchFS write at the offset) is skipped on both sides.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_itest.h"

#define CHUNK   (64 * 1024)
#define NNAMES  4
#define NSLOTS  6
#define MAX_LEN (CHUNK + 8192)
#define MAX_OFF (3 * CHUNK + 5000)
#define MAX_OPS 4096

enum op_kind {
    OP_OPEN,
    OP_CLOSE,
    OP_PWRITE,
    OP_WRITE,
    OP_PREAD,
    OP_READ,
    OP_LSEEK,
    OP_FTRUNCATE,
    OP_FSTAT,
    OP_FSYNC,
    OP_STAT,
    OP_TRUNCATE,
    OP_UNLINK,
    OP_RENAME,
    OP_MKDIR,
    OP_RMDIR,
    OP_READ_FILE,
    OP_KINDS
};

static const char *const op_names[OP_KINDS] = {
    "open",  "close", "pwrite",   "write",  "pread",  "read",  "lseek", "ftruncate", "fstat",
    "fsync", "stat",  "truncate", "unlink", "rename", "mkdir", "rmdir", "read_file"};

struct op {
    enum op_kind kind;
    int slot, name, name2, flags, whence;
    uint64_t off, len;
    unsigned salt;
};

struct slot {
    int lfd, bfd; /* -1: closed */
    bool is_dir, append;
};

static char lbase[256];
static unsigned run_no;
static unsigned char *wbuf, *lbuf, *bbuf;
static char mismatch[1024];

static uint64_t rng;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

static unsigned rn(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* Offsets cluster around chunk boundaries and small values. */
static uint64_t rand_off(void)
{
    switch (rn(4)) {
    case 0:
        return rn(2000);
    case 1:
        return (uint64_t)CHUNK * (1 + rn(3)) - rn(3000) + rn(3000);
    default:
        return rn(MAX_OFF);
    }
}

static uint64_t rand_len(void)
{
    return rn(3) == 0 ? rn(100) : rn(MAX_LEN);
}

static void gen(uint64_t seed, struct op *ops, size_t n)
{
    static const int acc[] = {O_RDONLY, O_WRONLY, O_RDWR, O_RDWR};

    rng = seed * 0x9e3779b97f4a7c15ull + 0x1234567;
    if (rng == 0)
        rng = 1;
    for (size_t i = 0; i < n; i++) {
        struct op *o = &ops[i];
        unsigned r = rn(100);

        memset(o, 0, sizeof(*o));
        o->slot = (int)rn(NSLOTS);
        o->name = (int)rn(NNAMES);
        o->name2 = (int)rn(NNAMES);
        o->off = rand_off();
        o->len = rand_len();
        o->salt = (unsigned)rnd();
        if (r < 16) {
            o->kind = OP_OPEN;
            o->flags = acc[rn(4)];
            if (rn(3) != 0)
                o->flags |= O_CREAT;
            if (rn(5) == 0)
                o->flags |= O_TRUNC;
            if (rn(8) == 0)
                o->flags |= O_EXCL;
            if (rn(5) == 0)
                o->flags |= O_APPEND;
        } else if (r < 24) {
            o->kind = OP_CLOSE;
        } else if (r < 38) {
            o->kind = OP_PWRITE;
        } else if (r < 44) {
            o->kind = OP_WRITE;
        } else if (r < 54) {
            o->kind = OP_PREAD;
        } else if (r < 57) {
            o->kind = OP_READ;
        } else if (r < 60) {
            o->kind = OP_LSEEK;
            o->whence = (int)rn(3);
            o->off = rn(3) == 0 ? rn(100) : rand_off();
        } else if (r < 65) {
            o->kind = OP_FTRUNCATE;
        } else if (r < 69) {
            o->kind = OP_FSTAT;
        } else if (r < 71) {
            o->kind = OP_FSYNC;
        } else if (r < 75) {
            o->kind = OP_STAT;
        } else if (r < 78) {
            o->kind = OP_TRUNCATE;
        } else if (r < 85) {
            o->kind = OP_UNLINK;
        } else if (r < 91) {
            o->kind = OP_RENAME;
        } else if (r < 93) {
            o->kind = OP_MKDIR;
        } else if (r < 95) {
            o->kind = OP_RMDIR;
        } else {
            o->kind = OP_READ_FILE;
        }
    }
}

static void op_print(FILE *out, size_t i, const struct op *o)
{
    fprintf(out, "  #%zu %s slot=%d name=f%d", i, op_names[o->kind], o->slot, o->name);
    switch (o->kind) {
    case OP_OPEN:
        fprintf(out, " flags=%s%s%s%s%s",
                (o->flags & O_ACCMODE) == O_RDONLY   ? "O_RDONLY"
                : (o->flags & O_ACCMODE) == O_WRONLY ? "O_WRONLY"
                                                     : "O_RDWR",
                o->flags & O_CREAT ? "|O_CREAT" : "", o->flags & O_TRUNC ? "|O_TRUNC" : "",
                o->flags & O_EXCL ? "|O_EXCL" : "", o->flags & O_APPEND ? "|O_APPEND" : "");
        break;
    case OP_RENAME:
        fprintf(out, " to=f%d", o->name2);
        break;
    case OP_LSEEK:
        fprintf(out, " off=%llu whence=%d", (unsigned long long)o->off, o->whence);
        break;
    default:
        fprintf(out, " off=%llu len=%llu", (unsigned long long)o->off, (unsigned long long)o->len);
        break;
    }
    fprintf(out, "\n");
}

/* ---- one run ---- */

struct run {
    char lroot[320], broot[64];
    struct slot slots[NSLOTS];
};

static void names(const struct run *r, int name, char *lp, char *bp)
{
    snprintf(lp, 400, "%s/f%d", r->lroot, name);
    snprintf(bp, 100, "%s/f%d", r->broot, name);
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

/* Same outcome; exact: same return value too. Records the mismatch. */
static bool same(const char *what, struct res l, struct res b, bool exact)
{
    if ((l.ret < 0) == (b.ret < 0) && l.err == b.err && (!exact || l.ret == b.ret))
        return true;
    snprintf(mismatch, sizeof(mismatch), "%s: local %ld (%s), BenchFS %ld (%s) [%s]", what, l.ret,
             l.ret < 0 ? strerror(l.err) : "ok", b.ret, b.ret < 0 ? strerror(b.err) : "ok",
             benchfs_last_error());
    return false;
}

static bool same_data(const char *what, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (lbuf[i] != bbuf[i]) {
            snprintf(mismatch, sizeof(mismatch), "%s: byte %zu differs: local %u, BenchFS %u", what,
                     i, lbuf[i], bbuf[i]);
            return false;
        }
    }
    return true;
}

static bool same_stat(const char *what, const struct stat *l, const struct stat *b)
{
    if ((l->st_mode & S_IFMT) != (b->st_mode & S_IFMT) ||
        (S_ISREG(l->st_mode) &&
         (l->st_size != b->st_size || (l->st_nlink == 0) != (b->st_nlink == 0)))) {
        snprintf(mismatch, sizeof(mismatch),
                 "%s: local mode %o size %lld nlink %lu, BenchFS mode %o size %lld nlink %lu", what,
                 l->st_mode, (long long)l->st_size, (unsigned long)l->st_nlink, b->st_mode,
                 (long long)b->st_size, (unsigned long)b->st_nlink);
        return false;
    }
    return true;
}

static void fill(unsigned salt, size_t len)
{
    for (size_t i = 0; i < len; i++)
        wbuf[i] = itest_pattern(i, salt);
}

static void slot_close(struct slot *s)
{
    if (s->lfd >= 0) {
        close(s->lfd);
        benchfs_close(s->bfd);
    }
    s->lfd = s->bfd = -1;
}

/* Whole-file read of name on both sides. */
static bool read_file(const struct run *r, int name)
{
    char lp[400], bp[100];
    struct res l, b;
    int lfd, bfd;

    names(r, name, lp, bp);
    lfd = open(lp, O_RDONLY);
    bfd = benchfs_open(bp, O_RDONLY, 0);
    if ((lfd < 0) != (bfd < 0)) {
        snprintf(mismatch, sizeof(mismatch), "read_file open: local %d, BenchFS %d [%s]", lfd, bfd,
                 benchfs_last_error());
        if (lfd >= 0)
            close(lfd);
        if (bfd >= 0)
            benchfs_close(bfd);
        return false;
    }
    if (lfd < 0)
        return true;
    l = CALL(pread(lfd, lbuf, MAX_OFF + MAX_LEN, 0));
    b = CALL(benchfs_pread(bfd, bbuf, MAX_OFF + MAX_LEN, 0));
    close(lfd);
    benchfs_close(bfd);
    return same("read_file", l, b, true) && same_data("read_file", l.ret > 0 ? (size_t)l.ret : 0);
}

/* One operation on both sides; false on a mismatch. */
static bool step(struct run *r, const struct op *o)
{
    struct slot *s = &r->slots[o->slot];
    char lp[400], bp[100], lp2[400], bp2[100];
    struct stat lst, bst;
    struct res l, b;
    bool open_slot = s->lfd >= 0;

    names(r, o->name, lp, bp);
    names(r, o->name2, lp2, bp2);
    switch (o->kind) {
    case OP_OPEN:
        slot_close(s);
        l = CALL(open(lp, o->flags, 0644));
        b = CALL(benchfs_open(bp, o->flags, 0644));
        if (l.ret >= 0)
            s->lfd = (int)l.ret;
        if (b.ret >= 0)
            s->bfd = (int)b.ret;
        if (!same("open", l, b, false))
            return false;
        if (s->lfd >= 0) {
            fstat(s->lfd, &lst);
            s->is_dir = S_ISDIR(lst.st_mode);
            s->append = (o->flags & O_APPEND) != 0;
        }
        return true;
    case OP_STAT:
        l = CALL(stat(lp, &lst));
        b = CALL(benchfs_stat(bp, &bst));
        return same("stat", l, b, true) && (l.ret < 0 || same_stat("stat", &lst, &bst));
    case OP_TRUNCATE:
        l = CALL(truncate(lp, (off_t)o->off));
        b = CALL(benchfs_truncate(bp, (off_t)o->off));
        return same("truncate", l, b, true);
    case OP_UNLINK:
        l = CALL(unlink(lp));
        b = CALL(benchfs_unlink(bp));
        return same("unlink", l, b, true);
    case OP_RENAME:
        l = CALL(rename(lp, lp2));
        b = CALL(benchfs_rename(bp, bp2));
        return same("rename", l, b, true);
    case OP_MKDIR:
        l = CALL(mkdir(lp, 0755));
        b = CALL(benchfs_mkdir(bp, 0755));
        return same("mkdir", l, b, true);
    case OP_RMDIR:
        l = CALL(rmdir(lp));
        b = CALL(benchfs_rmdir(bp));
        return same("rmdir", l, b, true);
    case OP_READ_FILE:
        return read_file(r, o->name);
    default:
        break;
    }
    /* Descriptor operations: skipped on both sides when the slot is closed. */
    if (!open_slot)
        return true;
    switch (o->kind) {
    case OP_CLOSE:
        l = CALL(close(s->lfd));
        b = CALL(benchfs_close(s->bfd));
        s->lfd = s->bfd = -1;
        return same("close", l, b, true);
    case OP_PWRITE:
        if (s->append)
            return true; /* Linux appends; POSIX (and BenchFS) write at off */
        fill(o->salt, o->len);
        l = CALL(pwrite(s->lfd, wbuf, o->len, (off_t)o->off));
        b = CALL(benchfs_pwrite(s->bfd, wbuf, o->len, (off_t)o->off));
        return same("pwrite", l, b, true);
    case OP_WRITE:
        fill(o->salt, o->len);
        l = CALL(write(s->lfd, wbuf, o->len));
        b = CALL(benchfs_write(s->bfd, wbuf, o->len));
        return same("write", l, b, true);
    case OP_PREAD:
        l = CALL(pread(s->lfd, lbuf, o->len, (off_t)o->off));
        b = CALL(benchfs_pread(s->bfd, bbuf, o->len, (off_t)o->off));
        return same("pread", l, b, true) && same_data("pread", l.ret > 0 ? (size_t)l.ret : 0);
    case OP_READ:
        l = CALL(read(s->lfd, lbuf, o->len));
        b = CALL(benchfs_read(s->bfd, bbuf, o->len));
        return same("read", l, b, true) && same_data("read", l.ret > 0 ? (size_t)l.ret : 0);
    case OP_LSEEK:
        if (s->is_dir)
            return true; /* directory offsets are opaque cookies locally */
        l = CALL(lseek(s->lfd, (off_t)o->off, o->whence));
        b = CALL(benchfs_lseek(s->bfd, (off_t)o->off, o->whence));
        return same("lseek", l, b, true);
    case OP_FTRUNCATE:
        l = CALL(ftruncate(s->lfd, (off_t)o->off));
        b = CALL(benchfs_ftruncate(s->bfd, (off_t)o->off));
        return same("ftruncate", l, b, true);
    case OP_FSTAT:
        l = CALL(fstat(s->lfd, &lst));
        b = CALL(benchfs_fstat(s->bfd, &bst));
        return same("fstat", l, b, true) && (l.ret < 0 || same_stat("fstat", &lst, &bst));
    case OP_FSYNC:
        l = CALL(fsync(s->lfd));
        b = CALL(benchfs_fsync(s->bfd));
        return same("fsync", l, b, true);
    default:
        return true;
    }
}

/* Remove what a run left, on both sides. */
static void run_cleanup(struct run *r)
{
    char lp[400], bp[100];

    for (int i = 0; i < NSLOTS; i++)
        slot_close(&r->slots[i]);
    for (int i = 0; i < NNAMES; i++) {
        names(r, i, lp, bp);
        if (unlink(lp) < 0)
            rmdir(lp);
        if (benchfs_unlink(bp) < 0)
            benchfs_rmdir(bp);
    }
    CHECK(rmdir(r->lroot) == 0);
    CHECK(benchfs_rmdir(r->broot) == 0);
}

/*
 * Run ops[0..n) (those with keep[i], or all when keep is NULL) on a fresh
 * directory pair. Returns the index of the first mismatching op, or -1.
 */
static long run(const struct op *ops, size_t n, const bool *keep)
{
    struct run r;
    long bad = -1;

    memset(&r, 0, sizeof(r));
    run_no++;
    snprintf(r.lroot, sizeof(r.lroot), "%s/r%u", lbase, run_no);
    snprintf(r.broot, sizeof(r.broot), "/r%u", run_no);
    for (int i = 0; i < NSLOTS; i++)
        r.slots[i].lfd = r.slots[i].bfd = -1;
    CHECK(mkdir(r.lroot, 0755) == 0);
    CHECK(benchfs_mkdir(r.broot, 0755) == 0);
    for (size_t i = 0; i < n && bad < 0; i++) {
        if (keep != NULL && !keep[i])
            continue;
        if (!step(&r, &ops[i]))
            bad = (long)i;
    }
    /* Final contents of every name, after every descriptor closed. */
    for (int i = 0; i < NSLOTS && bad < 0; i++) {
        struct slot *s = &r.slots[i];

        if (s->lfd >= 0) {
            struct res l = CALL(close(s->lfd)), b = CALL(benchfs_close(s->bfd));

            s->lfd = s->bfd = -1;
            if (!same("final close", l, b, true))
                bad = (long)n;
        }
    }
    for (int i = 0; i < NNAMES && bad < 0; i++) {
        if (!read_file(&r, i))
            bad = (long)n;
    }
    run_cleanup(&r);
    return bad;
}

/* Delta debugging (ddmin) over the ops kept in keep[0..n). */
static void minimize(const struct op *ops, size_t n, bool *keep)
{
    size_t chunk = n / 2;
    bool *trial = malloc(n);

    CHECK(trial != NULL);
    while (chunk >= 1) {
        bool reduced = false;

        for (size_t start = 0; start < n; start += chunk) {
            size_t kept = 0;

            memcpy(trial, keep, n);
            for (size_t i = start; i < start + chunk && i < n; i++) {
                if (trial[i]) {
                    trial[i] = false;
                    kept++;
                }
            }
            if (kept == 0)
                continue;
            if (run(ops, n, trial) >= 0) {
                memcpy(keep, trial, n);
                reduced = true;
            }
        }
        if (!reduced)
            chunk /= 2;
    }
    free(trial);
}

static void report(uint64_t seed, const struct op *ops, size_t n, long bad)
{
    bool *keep = malloc(n);
    char first[1024];

    CHECK(keep != NULL);
    snprintf(first, sizeof(first), "%s", mismatch);
    fprintf(stderr, "DIFF MISMATCH seed %llu at op %ld: %s\n", (unsigned long long)seed, bad,
            first);
    n = (size_t)bad < n ? (size_t)bad + 1 : n;
    memset(keep, 1, n);
    minimize(ops, n, keep);
    run(ops, n, keep);
    fprintf(stderr, "minimal sequence (replay: BENCHFS_DIFF_SEED=%llu), fails with: %s\n",
            (unsigned long long)seed, mismatch);
    for (size_t i = 0; i < n; i++) {
        if (keep[i])
            op_print(stderr, i, &ops[i]);
    }
    free(keep);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? strtoull(v, NULL, 0) : def;
}

static void remove_lbase(void)
{
    char cmd[400];

    if (lbase[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", lbase);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", lbase);
    }
}

int main(int argc, char **argv)
{
    struct benchfs_options o;
    uint64_t first = env_u64("BENCHFS_DIFF_FIRST", 1), seeds = env_u64("BENCHFS_DIFF_SEEDS", 400);
    uint64_t nops = env_u64("BENCHFS_DIFF_OPS", 100), secs = env_u64("BENCHFS_DIFF_SECONDS", 0);
    uint64_t start, s;
    const char *tmp = getenv("TMPDIR");
    struct op *ops;
    int failed = 0;

    if (argc > 1 || getenv("BENCHFS_DIFF_SEED") != NULL) {
        first = argc > 1 ? strtoull(argv[1], NULL, 0) : env_u64("BENCHFS_DIFF_SEED", 1);
        seeds = 1;
    }
    if (nops == 0 || nops > MAX_OPS)
        nops = 100;
    umask(022);
    snprintf(lbase, sizeof(lbase), "%s/bfs-diff-XXXXXX", tmp != NULL ? tmp : "/tmp");
    CHECK(mkdtemp(lbase) != NULL);
    itest_fail_hook = remove_lbase;
    wbuf = malloc(MAX_LEN);
    lbuf = malloc(MAX_OFF + MAX_LEN);
    bbuf = malloc(MAX_OFF + MAX_LEN);
    ops = calloc(nops, sizeof(*ops));
    CHECK(wbuf != NULL && lbuf != NULL && bbuf != NULL && ops != NULL);

    itest_start(3, NULL);
    benchfs_options_init(&o);
    o.discovery_timeout_ms = 20000;
    o.chunk_size = CHUNK;
    CHECK(benchfs_connect(itest_h.registry, &o) == 0);
    printf("seeds %llu..%llu, %llu ops each\n", (unsigned long long)first,
           (unsigned long long)(first + seeds - 1), (unsigned long long)nops);
    start = itest_now_ms();
    for (s = first; s < first + seeds; s++) {
        long bad;

        if (secs > 0 && itest_now_ms() - start > secs * 1000)
            break;
        gen(s, ops, nops);
        bad = run(ops, nops, NULL);
        if (bad >= 0) {
            report(s, ops, nops, bad);
            failed++;
            break;
        }
    }
    printf("%llu seeds run, %d failed\n", (unsigned long long)(s - first), failed);
    CHECK(benchfs_disconnect() == 0);
    itest_stop();
    remove_lbase();
    free(ops);
    free(wbuf);
    free(lbuf);
    free(bbuf);
    return failed == 0 ? 0 : 1;
}
