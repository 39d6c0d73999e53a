/*
 * bench_mdtest.c - the metadata mode of `benchfs-bench ior` (bench_ior.h),
 * shaped like mdtest with one directory per process (mdtest -u):
 *
 *   create       N empty files per process: open(O_CREAT|O_EXCL|O_WRONLY) + close
 *   stat         stat of each
 *   remove       unlink of each
 *   create-data  --data-files files (default N) of --file-size bytes (3901,
 *                IO500's mdtest-hard): open(O_CREAT|O_EXCL|O_WRONLY) + write + close
 *   read-data    the same files: open(O_RDONLY) + read + close, content checked
 *                (mdtest-hard's read phase)
 *
 * Each phase is timed barrier to barrier over all processes; rates are the
 * total operations (files) of the phase per second. The data files are
 * removed afterwards, untimed. Rank 0 snapshots the servers' CPU counters
 * between phases (BenchFS only).
 */
#include "bench_ior.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#define MD_PHASES   5
#define MD_BARRIERS 12

struct md_ctx {
    const struct ior_opts *o;
    struct bench_fs *fs;
};

enum md_phase { MD_CREATE, MD_STAT, MD_REMOVE, MD_CREATE_DATA, MD_READ_DATA };

static const char *md_phase_names[MD_PHASES] = {"create", "stat", "remove", "create-data",
                                                "read-data"};

static bool md_is_data(enum md_phase ph)
{
    return ph == MD_CREATE_DATA || ph == MD_READ_DATA;
}

/* mdtest-hard read of one file: open + read of the whole file + close,
 * checked; the time of each step is added to step[IOR_STEP_*]. */
static int md_read_one(const struct ior_opts *o, struct bench_fs *fs, const char *path,
                       const char *data, char *buf, uint64_t *step)
{
    uint64_t t0 = bench_now_ns(), t1, t2;
    ssize_t n;
    int fd, rc;

    fd = bench_fs_open(fs, path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    t1 = bench_now_ns();
    n = bench_fs_pread(fs, fd, buf, o->file_size, 0);
    t2 = bench_now_ns();
    rc = bench_fs_close(fs, fd);
    step[IOR_STEP_OPEN] += t1 - t0;
    step[IOR_STEP_DATA] += t2 - t1;
    step[IOR_STEP_CLOSE] += bench_now_ns() - t2;
    if (n < 0)
        return (int)n;
    if ((uint64_t)n != o->file_size || memcmp(buf, data, o->file_size) != 0)
        return -EILSEQ;
    return rc;
}

static long md_data_files(const struct ior_opts *o)
{
    return o->data_files > 0 ? o->data_files : o->files;
}

static void md_path(const struct ior_opts *o, int rank, char kind, long i, char *buf, size_t len)
{
    if (i < 0)
        snprintf(buf, len, "%s/r%d", o->run_name, rank);
    else
        snprintf(buf, len, "%s/r%d/%c.%ld", o->run_name, rank, kind, i);
}

static int md_fail(struct ior_shared *sh, struct bench_fs *fs, int rank, const char *path, int rc)
{
    ior_worker_error(sh, rank, path, bench_fs_error(fs, rc));
    return rc;
}

/* One timed phase of one rank. */
static int md_phase(const struct ior_opts *o, struct bench_fs *fs, struct ior_shared *sh, int rank,
                    enum md_phase ph, const char *data, char *buf)
{
    long count = md_is_data(ph) ? md_data_files(o) : o->files;
    uint64_t step[3] = {0, 0, 0}, t0, t1;
    char path[512];
    struct stat st;
    int fd, rc;

    for (long i = 0; i < count; i++) {
        md_path(o, rank, md_is_data(ph) ? 'd' : 'e', i, path, sizeof(path));
        t0 = bench_now_ns();
        switch (ph) {
        case MD_READ_DATA:
            rc = md_read_one(o, fs, path, data, buf, step);
            if (rc < 0)
                return md_fail(sh, fs, rank, path, rc);
            break;
        case MD_CREATE:
        case MD_CREATE_DATA:
            fd = bench_fs_open(fs, path, O_CREAT | O_EXCL | O_WRONLY, 0644);
            if (fd < 0)
                return md_fail(sh, fs, rank, path, fd);
            t1 = bench_now_ns();
            step[IOR_STEP_OPEN] += t1 - t0;
            if (ph == MD_CREATE_DATA) {
                ssize_t n = bench_fs_pwrite(fs, fd, data, o->file_size, 0);

                if (n != (ssize_t)o->file_size) {
                    bench_fs_close(fs, fd);
                    return md_fail(sh, fs, rank, path, n < 0 ? (int)n : -EIO);
                }
                step[IOR_STEP_DATA] += bench_now_ns() - t1;
                t1 = bench_now_ns();
            }
            rc = bench_fs_close(fs, fd);
            if (rc < 0)
                return md_fail(sh, fs, rank, path, rc);
            step[IOR_STEP_CLOSE] += bench_now_ns() - t1;
            break;
        case MD_STAT:
            rc = bench_fs_stat(fs, path, &st);
            if (rc < 0)
                return md_fail(sh, fs, rank, path, rc);
            if (!S_ISREG(st.st_mode) || st.st_size != 0)
                return md_fail(sh, fs, rank, path, -EILSEQ);
            break;
        case MD_REMOVE:
            rc = bench_fs_unlink(fs, path);
            if (rc < 0)
                return md_fail(sh, fs, rank, path, rc);
            break;
        }
        if (ph == MD_STAT || ph == MD_REMOVE)
            step[IOR_STEP_OPEN] += bench_now_ns() - t0;
    }
    for (int k = 0; k < 3; k++)
        __sync_fetch_and_add(&sh->step_ns[ph][k], step[k]);
    return 0;
}

/* Untimed: remove the data files and this rank's directory. */
static void md_cleanup(const struct ior_opts *o, struct bench_fs *fs, int rank)
{
    char path[512];

    for (long i = 0; i < md_data_files(o); i++) {
        md_path(o, rank, 'd', i, path, sizeof(path));
        bench_fs_unlink(fs, path);
    }
    md_path(o, rank, 0, -1, path, sizeof(path));
    bench_fs_rmdir(fs, path);
}

/*
 * Barriers: B0 after rank 0 made the run directory; B1 releases create,
 * B2 ends it; then stat B3..B4, remove B5..B6, create-data B7..B8,
 * read-data B9..B10; B11 after the cleanup. Rank 0 snapshots the servers before B1 and after each
 * phase's end barrier (while the others wait at the next one).
 */
static int md_worker(struct bench_team *t, int rank, void *arg)
{
    struct md_ctx *ctx = arg;
    const struct ior_opts *o = ctx->o;
    struct bench_fs *fs = ctx->fs;
    struct ior_shared *sh = t->shared;
    bool bfs = fs->kind == BENCH_FS_BENCHFS;
    char path[512], *data, *buf;
    int rc = 1;

    data = malloc(o->file_size ? o->file_size : 1);
    buf = malloc(o->file_size ? o->file_size : 1);
    if (data == NULL || buf == NULL)
        goto out;
    for (uint64_t i = 0; i < o->file_size; i++)
        data[i] = (char)('a' + (i * 7 + (uint64_t)rank) % 26);
    int err = bench_fs_connect(fs, o->registry, o->expected_servers, o->timeout_ms);
    if (err < 0) {
        ior_worker_error(sh, rank, "connect", bench_fs_error(fs, err));
        goto out;
    }
    if (rank == 0 && (err = bench_fs_mkdir(fs, o->run_name)) < 0) {
        md_fail(sh, fs, rank, o->run_name, err);
        goto out_disconnect;
    }
    if (bench_team_barrier(t) < 0)
        goto out_disconnect;
    md_path(o, rank, 0, -1, path, sizeof(path));
    if ((err = bench_fs_mkdir(fs, path)) < 0) {
        md_fail(sh, fs, rank, path, err);
        goto out_disconnect;
    }
    if (rank == 0 && bfs)
        bench_snap_benchfs(&sh->snap[0]);
    for (int ph = 0; ph < MD_PHASES; ph++) {
        if (bench_team_barrier(t) < 0)
            goto out_disconnect;
        if (md_phase(o, fs, sh, rank, (enum md_phase)ph, data, buf) < 0)
            goto out_disconnect;
        if (bench_team_barrier(t) < 0)
            goto out_disconnect;
        if (rank == 0 && bfs)
            bench_snap_benchfs(&sh->snap[ph + 1]);
    }
    md_cleanup(o, fs, rank);
    if (bench_team_barrier(t) < 0)
        goto out_disconnect;
    if (rank == 0)
        bench_fs_rmdir(fs, o->run_name);
    rc = 0;
out_disconnect:
    bench_fs_disconnect(fs);
out:
    free(data);
    free(buf);
    return rc;
}

int mdtest_run(const struct ior_opts *o, struct bench_fs *fs, struct ior_result *res)
{
    struct md_ctx ctx = {.o = o, .fs = fs};
    struct bench_team t;
    uint64_t arrive[MD_BARRIERS], release[MD_BARRIERS], start[MD_PHASES], end[MD_PHASES];
    int rc;

    res->nphases = MD_PHASES;
    for (int i = 0; i < MD_PHASES; i++) {
        res->phase_name[i] = md_phase_names[i];
        res->amount[i] = (uint64_t)(md_is_data((enum md_phase)i) ? md_data_files(o) : o->files) *
                         (uint64_t)o->procs;
    }
    rc = bench_team_start(&t, (int)o->procs, sizeof(struct ior_shared), md_worker, &ctx);
    if (rc < 0) {
        snprintf(res->error, sizeof(res->error), "cannot start workers: %s", strerror(-rc));
        return rc;
    }
    for (int b = 0; b < MD_BARRIERS && rc == 0; b++)
        rc = bench_team_release(&t, &arrive[b], &release[b]);
    if (rc == 0)
        rc = bench_team_finish(&t);
    if (rc == 0) {
        for (int i = 0; i < MD_PHASES; i++) {
            start[i] = release[1 + 2 * i];
            end[i] = arrive[2 + 2 * i];
        }
        ior_result_fill(res, t.shared, start, end, false);
        for (int i = 0; i < MD_PHASES; i++)
            for (int k = 0; k < 3; k++)
                res->step_us[i][k] = (double)((const struct ior_shared *)t.shared)->step_ns[i][k] /
                                     1e3 / (double)res->amount[i];
    } else {
        const struct ior_shared *sh = t.shared;

        snprintf(res->error, sizeof(res->error), "%s",
                 sh != NULL && sh->failed ? sh->error : "a worker failed");
    }
    bench_team_cleanup(&t);
    return rc;
}
