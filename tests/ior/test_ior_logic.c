/*
 * test_ior_logic.c - the BENCHFS IOR backend's call sequences, without IOR.
 *
 * CI cannot build IOR, so this test replays, against a 2-server cluster of
 * real benchfsd processes (tests/harness), exactly the public API calls that
 * ior/aiori-BENCHFS.c makes for IOR and mdtest (docs/ior-notes.md):
 *
 *  1. IOR shared file (`ior -w -r -R -C`, one file): 4 processes, each
 *     connected on its own, all create the same file at once with
 *     IOR_WRONLY|IOR_CREAT|IOR_TRUNC (the backend opens O_WRONLY|O_CREAT,
 *     without O_TRUNC, like IOR's POSIX backend), each
 *     writes its own segmented blocks in 47008-byte transfers, closes;
 *     every process sees the full size (get_file_size: stat) and reads
 *     another rank's blocks (-C) with O_RDONLY. A second round lets 3
 *     ranks create+write before the 4th creates (IOR_TRUNC): IOR has no
 *     barrier between create and write (without -g), so that late create
 *     must not lose their data.
 *  2. IOR file per process (-F): create/write/close, size seen by others,
 *     read the neighbour's file.
 *  3. mdtest: tree directories given with a trailing '/', access/mkdir of
 *     the test dir, per-rank (-u) and shared directories, create with
 *     O_WRONLY|O_CREAT (no O_TRUNC), 3901-byte write, stat, open with flags
 *     0 (plain O_RDONLY) and read back (-X), remove, rename of files and
 *     directories, rmdir.
 *  4. statfs: statvfs("/"), also after the files it was asked about are gone.
 *  5. IOR scripts (-f) initialize/finalize the backend once per test: a
 *     process connects, works, disconnects and connects again.
 *
 * With the argument `existing-file`, only IOR -E's sequence runs: the
 * same rounds over a file that still holds the previous round's data, so
 * every create truncates published data while other ranks already write.
 *
 * The backend's glue (relative names get a leading '/', IOR flags to O_*
 * flags, the xfer loop that insists on the full length) is copied below so
 * the sequences are the backend's own. Exit: 0 pass, 1 fail, 77 skip
 * (benchfsd not built).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchfs.h"
#include "harness.h"

#define NRANKS   4
#define NSERVERS 2
#define XFER     47008u        /* ior hard's transfer and block size */
#define BLOCK    (XFER * 3u)   /* 3 transfers per block */
#define SEGMENTS 5u            /* -s 5: segmented layout */
#define CHUNK    (64u * 1024u) /* small chunks: transfers straddle them */
#define MD_FILES 40            /* mdtest -n per rank */
#define MD_BYTES 3901u         /* mdtest hard -w/-e */

/* IOR's flags (<ior-src>/src/aiori.h), as the backend receives them. */
#define IOR_RDONLY 0x01
#define IOR_WRONLY 0x02
#define IOR_RDWR   0x04
#define IOR_APPEND 0x08
#define IOR_CREAT  0x10
#define IOR_TRUNC  0x20
#define IOR_EXCL   0x40

#define MAX_PHASES 8

struct shared {
    /* One barrier per phase, never reused: a rank killed inside a barrier
     * would make pthread_barrier_destroy wait forever. */
    pthread_barrier_t barrier[MAX_PHASES];
    volatile int written[NRANKS]; /* late O_TRUNC round: ranks that wrote */
};

static struct harness h;
static struct shared *sh;
static int me = -1;    /* rank in a child, -1 in the parent */
static int phase = -1; /* index of the current phase's barrier */

static void fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

static void fail(const char *file, int line, const char *fmt, ...)
{
    int e = errno;
    va_list ap;

    fprintf(stderr, "%s:%d: rank %d: ", file, line, me);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (e != 0)
        fprintf(stderr, " (errno %d %s; last error: %s)", e, strerror(e), benchfs_last_error());
    fputc('\n', stderr);
    fflush(stderr);
    if (me < 0)
        harness_cleanup(&h);
    _exit(1);
}

#define CHECK(cond)                                              \
    do {                                                         \
        if (!(cond))                                             \
            fail(__FILE__, __LINE__, "CHECK failed: %s", #cond); \
    } while (0)

static void barrier(void)
{
    pthread_barrier_wait(&sh->barrier[phase]);
}

static unsigned char pattern(uint64_t off, unsigned salt)
{
    uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull + salt * 0xBF58476D1CE4E5B9ull;

    return (unsigned char)(x >> 56);
}

/* ---- the backend's glue (ior/aiori-BENCHFS.c) ---------------------------- */

static const char *bfs_path(const char *in, char *buf, size_t len)
{
    if (in[0] == '/')
        return in;
    snprintf(buf, len, "/%s", in);
    return buf;
}

static int bfs_flags(int iorflags)
{
    int flags;

    if (iorflags & IOR_RDWR)
        flags = O_RDWR;
    else if (iorflags & IOR_WRONLY)
        flags = O_WRONLY;
    else
        flags = O_RDONLY; /* IOR_RDONLY, and mdtest's plain 0 */
    if (iorflags & IOR_CREAT)
        flags |= O_CREAT;
    if (iorflags & IOR_TRUNC)
        flags |= O_TRUNC;
    if (iorflags & IOR_EXCL)
        flags |= O_EXCL;
    if (iorflags & IOR_APPEND)
        flags |= O_APPEND;
    return flags;
}

/* create: open-or-create (never truncating), mode 0644; open: mode 0. */
static int bfs_open(const char *name, int iorflags, bool create)
{
    char buf[4200];
    /* The backend's create: open-or-create without truncation (like IOR's
     * POSIX backend; see BENCHFS_create). */
    int fd = benchfs_open(bfs_path(name, buf, sizeof(buf)),
                          bfs_flags(create ? (iorflags | IOR_CREAT) & ~IOR_TRUNC : iorflags),
                          create ? 0644 : 0);

    if (fd < 0)
        fail(__FILE__, __LINE__, "open %s (IOR flags 0x%x, create %d)", name, iorflags, create);
    return fd;
}

/* xfer: exactly len bytes or failure, like IOR requires. */
static void bfs_xfer(bool write, int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = write ? benchfs_pwrite(fd, (char *)buf + done, len - done, (off_t)(off + done))
                          : benchfs_pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

        if (n <= 0)
            fail(__FILE__, __LINE__, "%s of %zu bytes at %llu returned %zd after %zu",
                 write ? "write" : "read", len, (unsigned long long)off, n, done);
        done += (size_t)n;
    }
}

static uint64_t bfs_size(const char *name)
{
    char buf[4200];
    struct stat st;

    CHECK(benchfs_stat(bfs_path(name, buf, sizeof(buf)), &st) == 0);
    return (uint64_t)st.st_size;
}

static void bfs_connect(uint64_t chunk)
{
    struct benchfs_options o;

    benchfs_options_init(&o); /* BENCHFS_REGISTRY is not used: explicit dir */
    if (chunk > 0)
        o.chunk_size = chunk;
    o.discovery_timeout_ms = 20000;
    CHECK(benchfs_connect(h.registry, &o) == 0);
}

/* ---- helpers -------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run fn(rank) in NRANKS forked processes; 0 when all pass. A failing rank
 * may leave the others at a barrier: they are killed (only our children). */
static int run_ranks(const char *what, void (*fn)(int rank))
{
    pid_t pids[NRANKS];
    bool done[NRANKS] = {false};
    uint64_t deadline = now_ms() + 90000;
    int failed = 0, left = NRANKS, status;

    printf("%s ...\n", what);
    fflush(stdout);
    CHECK(++phase < MAX_PHASES);
    {
        pthread_barrierattr_t a;

        pthread_barrierattr_init(&a);
        pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
        pthread_barrier_init(&sh->barrier[phase], &a, NRANKS);
        pthread_barrierattr_destroy(&a);
    }
    memset((void *)sh->written, 0, sizeof(sh->written));
    for (int r = 0; r < NRANKS; r++) {
        pids[r] = fork();
        CHECK(pids[r] >= 0);
        if (pids[r] == 0) {
            me = r;
            alarm(100);
            fn(r);
            _exit(0);
        }
    }
    while (left > 0) {
        bool progress = false;

        for (int r = 0; r < NRANKS; r++) {
            if (done[r] || waitpid(pids[r], &status, WNOHANG) != pids[r])
                continue;
            done[r] = true;
            left--;
            progress = true;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s: rank %d failed (status 0x%x)\n", what, r, status);
                failed++;
            }
        }
        if (left > 0 && (failed > 0 || now_ms() > deadline)) {
            for (int r = 0; r < NRANKS; r++) {
                if (!done[r]) {
                    fprintf(stderr, "%s: stopping rank %d\n", what, r);
                    kill(pids[r], SIGKILL);
                    waitpid(pids[r], &status, 0);
                    done[r] = true;
                    failed++;
                }
            }
            break;
        }
        if (!progress)
            usleep(2000);
    }
    return failed;
}

/* ---- 1. IOR, one shared file ------------------------------------------------ */

#define SHARED_FILE "/ior_hard/file"
#define SHARED_SIZE ((uint64_t)BLOCK * NRANKS * SEGMENTS)

/* IOR's segmented layout: segment s, block of rank r. */
static uint64_t block_off(unsigned seg, int rank)
{
    return ((uint64_t)seg * NRANKS + (uint64_t)rank) * BLOCK;
}

static void write_blocks(int fd, int rank, unsigned salt)
{
    unsigned char *buf = malloc(XFER);

    CHECK(buf != NULL);
    for (unsigned s = 0; s < SEGMENTS; s++) {
        for (uint64_t t = 0; t < BLOCK; t += XFER) {
            uint64_t off = block_off(s, rank) + t;

            for (unsigned i = 0; i < XFER; i++)
                buf[i] = pattern(off + i, salt);
            bfs_xfer(true, fd, buf, XFER, off);
        }
    }
    free(buf);
}

static void check_blocks(int fd, int rank, unsigned salt)
{
    unsigned char *buf = malloc(XFER);

    CHECK(buf != NULL);
    for (unsigned s = 0; s < SEGMENTS; s++) {
        for (uint64_t t = 0; t < BLOCK; t += XFER) {
            uint64_t off = block_off(s, rank) + t;

            memset(buf, 0, XFER);
            bfs_xfer(false, fd, buf, XFER, off);
            for (unsigned i = 0; i < XFER; i++) {
                if (buf[i] != pattern(off + i, salt)) {
                    errno = 0; /* a data error, not a failed call */
                    fail(__FILE__, __LINE__,
                         "rank %d's data at %llu: byte 0x%02x, expected 0x%02x (salt %u)", rank,
                         (unsigned long long)(off + i), buf[i], pattern(off + i, salt), salt);
                }
            }
        }
    }
    free(buf);
}

/* Read phase with -C: every rank reads its neighbour's blocks; the size
 * (get_file_size) must be the full size for every rank. */
static void shared_read_check(int rank, unsigned salt)
{
    int fd;

    CHECK(bfs_size(SHARED_FILE) == SHARED_SIZE);
    fd = bfs_open(SHARED_FILE, IOR_RDONLY, false);
    check_blocks(fd, (rank + 1) % NRANKS, salt);
    check_blocks(fd, rank, salt); /* -R of its own, too */
    CHECK(benchfs_close(fd) == 0);
}

/* IOR's RemoveFile for a shared file: rank 0 removes it if present. */
static void shared_remove(int rank)
{
    char buf[64];

    if (rank == 0 && benchfs_access(bfs_path(SHARED_FILE, buf, sizeof(buf)), F_OK) == 0)
        CHECK(benchfs_unlink(SHARED_FILE) == 0);
}

/* Every rank creates at once, writes, closes; then the -C read check. */
static void shared_round(int rank, unsigned salt)
{
    int fd;

    barrier();
    fd = bfs_open(SHARED_FILE, IOR_WRONLY | IOR_CREAT | IOR_TRUNC, true);
    write_blocks(fd, rank, salt);
    CHECK(benchfs_close(fd) == 0);
    barrier();
    shared_read_check(rank, salt);
    barrier();
}

/* IOR has no barrier between create and write (without -g): ranks 1..3
 * create and write before rank 0's create with O_TRUNC arrives; their data,
 * not yet published by a close, must survive it. */
static void shared_round_late_trunc(int rank, unsigned salt)
{
    int fd;

    barrier();
    memset((void *)sh->written, 0, sizeof(sh->written));
    barrier();
    if (rank != 0) {
        fd = bfs_open(SHARED_FILE, IOR_WRONLY | IOR_CREAT | IOR_TRUNC, true);
        write_blocks(fd, rank, salt);
        sh->written[rank] = 1;
        barrier(); /* A: ranks 1..3 wrote (file still open) */
        barrier(); /* B: rank 0 created with O_TRUNC */
        CHECK(benchfs_close(fd) == 0);
    } else {
        barrier(); /* A */
        for (int r = 1; r < NRANKS; r++)
            CHECK(sh->written[r] == 1);
        fd = bfs_open(SHARED_FILE, IOR_WRONLY | IOR_CREAT | IOR_TRUNC, true);
        barrier(); /* B */
        write_blocks(fd, rank, salt);
        CHECK(benchfs_close(fd) == 0);
    }
    barrier();
    shared_read_check(rank, salt);
    barrier();
}

/* IOR's default: RemoveFile, then the write phase on a fresh file. */
static void ior_shared(int rank)
{
    bfs_connect(CHUNK);
    shared_remove(rank);
    shared_round(rank, 1);
    shared_remove(rank);
    shared_round_late_trunc(rank, 2);
    shared_remove(rank);
    CHECK(benchfs_disconnect() == 0);
}

/* IOR -E (use the existing file, no RemoveFile): every create truncates a
 * file that holds published data from the round before. */
static void ior_shared_existing(int rank)
{
    bfs_connect(CHUNK);
    shared_remove(rank);
    shared_round(rank, 1);
    shared_round(rank, 2);
    shared_round_late_trunc(rank, 3);
    shared_round(rank, 4);
    shared_remove(rank);
    CHECK(benchfs_disconnect() == 0);
}

/* ---- 2. IOR, file per process ------------------------------------------------ */

static void fpp_name(char *buf, size_t len, int rank)
{
    /* IOR's -F name: testFile.<rank, 8 digits>; relative, like ior -o testFile. */
    snprintf(buf, len, "ior_easy/file.%08d", rank);
}

static void ior_fpp(int rank)
{
    char name[128], other[128];
    unsigned char *buf = malloc(BLOCK);
    uint64_t total = 0;
    int fd;

    CHECK(buf != NULL);
    bfs_connect(0); /* the server's default chunk size */
    fpp_name(name, sizeof(name), rank);
    /* RemoveFile for -F: every rank removes its own if present. */
    {
        char p[200];

        if (benchfs_access(bfs_path(name, p, sizeof(p)), F_OK) == 0)
            CHECK(benchfs_unlink(bfs_path(name, p, sizeof(p))) == 0);
    }
    barrier();
    fd = bfs_open(name, IOR_WRONLY | IOR_CREAT | IOR_TRUNC, true);
    for (uint64_t off = 0; off < BLOCK; off += XFER) {
        for (unsigned i = 0; i < XFER; i++)
            buf[i] = pattern(off + i, 10u + (unsigned)rank);
        bfs_xfer(true, fd, buf, XFER, off);
    }
    CHECK(benchfs_close(fd) == 0);
    barrier();
    /* get_file_size of each file: IOR sums them for -F. */
    for (int r = 0; r < NRANKS; r++) {
        fpp_name(other, sizeof(other), r);
        total += bfs_size(other);
    }
    CHECK(total == (uint64_t)BLOCK * NRANKS);
    /* -C: read the neighbour's file, one transfer per call. */
    fpp_name(other, sizeof(other), (rank + 1) % NRANKS);
    fd = bfs_open(other, IOR_RDONLY, false);
    bfs_xfer(false, fd, buf, BLOCK, 0);
    for (unsigned i = 0; i < BLOCK; i++)
        CHECK(buf[i] == pattern(i, 10u + (unsigned)((rank + 1) % NRANKS)));
    CHECK(benchfs_close(fd) == 0);
    barrier();
    {
        char p[200];

        CHECK(benchfs_unlink(bfs_path(name, p, sizeof(p))) == 0);
    }
    free(buf);
    CHECK(benchfs_disconnect() == 0);
}

/* ---- 3. mdtest ----------------------------------------------------------------- */

#define MD_DIRMODE (S_IRWXU | S_IRWXG | S_IROTH | S_IXOTH)

static void md_write_file(const char *path, int idx)
{
    unsigned char buf[MD_BYTES];
    int fd = bfs_open(path, IOR_WRONLY | IOR_CREAT, true); /* no O_TRUNC */

    for (unsigned i = 0; i < MD_BYTES; i++)
        buf[i] = pattern(i, 100u + (unsigned)idx);
    bfs_xfer(true, fd, buf, MD_BYTES, 0);
    CHECK(benchfs_close(fd) == 0);
}

static void md_read_file(const char *path, int idx)
{
    unsigned char buf[MD_BYTES];
    int fd = bfs_open(path, 0, false); /* mdtest: open(item, O_RDONLY == 0) */

    memset(buf, 0, sizeof(buf));
    bfs_xfer(false, fd, buf, MD_BYTES, 0);
    for (unsigned i = 0; i < MD_BYTES; i++) {
        if (buf[i] != pattern(i, 100u + (unsigned)idx)) {
            errno = 0; /* a data error, not a failed call */
            fail(__FILE__, __LINE__, "verification error in %s at %u", path, i);
        }
    }
    CHECK(benchfs_close(fd) == 0);
}

/* mdtest on `dir` (ends in '/'): create, stat, read (-X), rename, remove. */
static void md_items(const char *dir, int rank)
{
    char path[512], to[512];
    struct stat st;

    for (int i = 0; i < MD_FILES; i++) {
        snprintf(path, sizeof(path), "%sfile.mdtest.%d.%d", dir, rank, i);
        md_write_file(path, rank * 1000 + i);
    }
    barrier();
    for (int i = 0; i < MD_FILES; i++) {
        snprintf(path, sizeof(path), "%sfile.mdtest.%d.%d", dir, rank, i);
        CHECK(benchfs_stat(path, &st) == 0);
        CHECK(S_ISREG(st.st_mode) && (uint64_t)st.st_size == MD_BYTES);
    }
    barrier();
    for (int i = 0; i < MD_FILES; i++) {
        snprintf(path, sizeof(path), "%sfile.mdtest.%d.%d", dir, rank, i);
        md_read_file(path, rank * 1000 + i);
    }
    /* rename (mdtest -U, the backend's rename): a file to a new name. */
    snprintf(path, sizeof(path), "%sfile.mdtest.%d.0", dir, rank);
    snprintf(to, sizeof(to), "%sfile.renamed.%d", dir, rank);
    CHECK(benchfs_rename(path, to) == 0);
    CHECK(benchfs_stat(path, &st) == -1 && errno == ENOENT);
    md_read_file(to, rank * 1000);
    CHECK(benchfs_rename(to, path) == 0);
    barrier();
    for (int i = 0; i < MD_FILES; i++) {
        snprintf(path, sizeof(path), "%sfile.mdtest.%d.%d", dir, rank, i);
        CHECK(benchfs_unlink(path) == 0);
        CHECK(benchfs_access(path, F_OK) == -1 && errno == ENOENT);
    }
}

static void mdtest(int rank)
{
    const char *testdir = "/mdtest/"; /* -d with a trailing '/' */
    const char *shared = "/mdtest/test-dir.0-0/mdtest_tree.0/";
    char mine[256], moved[256];
    struct stat st;

    bfs_connect(0);
    /* Rank 0 creates the test dir and the tree if missing (access, mkdir). */
    if (rank == 0) {
        if (benchfs_access(testdir, F_OK) != 0)
            CHECK(benchfs_mkdir(testdir, MD_DIRMODE) == 0);
        CHECK(benchfs_mkdir("/mdtest/test-dir.0-0/", MD_DIRMODE) == 0);
        CHECK(benchfs_mkdir(shared, MD_DIRMODE) == 0);
    }
    barrier();
    CHECK(benchfs_access(shared, F_OK) == 0);
    CHECK(benchfs_stat(shared, &st) == 0 && S_ISDIR(st.st_mode));
    /* -u: a directory per rank, path with a trailing '/'. */
    snprintf(mine, sizeof(mine), "/mdtest/test-dir.0-0/mdtest_tree.%d.0/", rank);
    CHECK(benchfs_mkdir(mine, MD_DIRMODE) == 0);
    CHECK(benchfs_mkdir(mine, MD_DIRMODE) == -1 && errno == EEXIST);
    md_items(mine, rank);   /* mdtest easy: own directory */
    md_items(shared, rank); /* mdtest hard: one shared directory */
    /* Directory rename (mdtest -U renames directories), trailing '/'s. */
    snprintf(moved, sizeof(moved), "/mdtest/test-dir.0-0/moved.%d/", rank);
    CHECK(benchfs_rename(mine, moved) == 0);
    CHECK(benchfs_access(mine, F_OK) == -1 && errno == ENOENT);
    CHECK(benchfs_stat(moved, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(benchfs_rmdir(moved) == 0);
    barrier();
    if (rank == 0) {
        CHECK(benchfs_rmdir(shared) == 0);
        CHECK(benchfs_rmdir("/mdtest/test-dir.0-0/") == 0);
        CHECK(benchfs_rmdir(testdir) == 0);
        CHECK(benchfs_access(testdir, F_OK) == -1 && errno == ENOENT);
    }
    CHECK(benchfs_disconnect() == 0);
}

/* ---- 4. statfs, 5. reconnect ---------------------------------------------------- */

static void statfs_and_reconnect(int rank)
{
    struct statvfs sv;
    char name[64];
    int fd;

    for (int round = 0; round < 2; round++) {
        bfs_connect(0);
        /* statfs: the backend always asks about "/" (IOR may ask about a
         * test file it already removed). */
        CHECK(benchfs_statvfs("/", &sv) == 0);
        CHECK(sv.f_frsize > 0 && sv.f_blocks > 0 && sv.f_bavail <= sv.f_blocks);
        CHECK(sv.f_bfree <= sv.f_blocks && sv.f_ffree <= sv.f_files);
        if (rank == 0 && round == 0)
            printf("  statvfs(\"/\"): frsize %lu blocks %llu bavail %llu files %llu ffree %llu\n",
                   (unsigned long)sv.f_frsize, (unsigned long long)sv.f_blocks,
                   (unsigned long long)sv.f_bavail, (unsigned long long)sv.f_files,
                   (unsigned long long)sv.f_ffree);
        /* A file that no longer exists: "/" still answers. */
        snprintf(name, sizeof(name), "/statfs.%d.%d", rank, round);
        fd = bfs_open(name, IOR_WRONLY | IOR_CREAT | IOR_TRUNC, true);
        CHECK(benchfs_close(fd) == 0);
        CHECK(benchfs_unlink(name) == 0);
        CHECK(benchfs_statvfs("/", &sv) == 0);
        barrier();
        CHECK(benchfs_disconnect() == 0);
        barrier();
    }
}

int main(int argc, char **argv)
{
    bool existing = argc > 1 && strcmp(argv[1], "existing-file") == 0;
    char bin[512];
    int failed = 0, rc;

    if (argc > 1 && !existing) {
        fprintf(stderr, "usage: %s [existing-file]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    harness_bin("benchfsd", bin, sizeof(bin));
    if (access(bin, X_OK) < 0) {
        fprintf(stderr, "skip: %s not built\n", bin);
        return 77;
    }
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    rc = harness_init(&h, NSERVERS);
    if (rc < 0) {
        fprintf(stderr, "harness_init: %s\n", strerror(-rc));
        return 1;
    }
    rc = harness_start_all(&h, 20000);
    if (rc < 0) {
        fprintf(stderr, "harness_start_all: %s\n", strerror(-rc));
        harness_cleanup(&h);
        return 1;
    }
    /* The directories IOR expects to exist (benchfs mkdir -p in a real run).
     * Created by a child: UCX is not fork-safe, the parent never connects
     * before forking. */
    {
        pid_t p = fork();
        int status;

        CHECK(p >= 0);
        if (p == 0) {
            me = 0;
            bfs_connect(0);
            CHECK(benchfs_mkdir("/ior_hard", 0755) == 0);
            CHECK(benchfs_mkdir("/ior_easy/", 0755) == 0); /* trailing '/' */
            CHECK(benchfs_disconnect() == 0);
            _exit(0);
        }
        CHECK(waitpid(p, &status, 0) == p);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    if (existing) {
        failed += run_ranks("ior -E: shared file created with O_TRUNC over published data",
                            ior_shared_existing);
    } else {
        failed += run_ranks("1. ior shared file: concurrent O_CREAT|O_TRUNC, -C, late O_TRUNC",
                            ior_shared);
        failed += run_ranks("2. ior file per process, sizes, -C", ior_fpp);
        failed += run_ranks("3. mdtest tree: mkdir/create/stat/read/rename/remove/rmdir", mdtest);
        failed +=
            run_ranks("4-5. statvfs(\"/\"), connect/disconnect/connect", statfs_and_reconnect);
    }
    harness_cleanup(&h);
    printf("%s\n", failed ? "FAIL" : "PASS");
    return failed ? 1 : 0;
}
