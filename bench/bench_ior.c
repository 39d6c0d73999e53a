/*
 * bench_ior.c - `benchfs-bench ior`: an IOR-like bandwidth benchmark and the
 * entry of its mdtest mode (bench_mdtest.c).
 *
 *   benchfs-bench ior --mode fpp|shared|mdtest [--procs P] [--transfer T]
 *                     [--block B] [--segments S] [--registry DIR] [--local DIR]
 *                     [--spawn-servers M] [--verify none|stamp|full] [--fsync]
 *                     [--files N] [--data-files N] [--file-size BYTES] [--json FILE]
 *
 * Layout as IOR's: in file-per-process mode rank r writes S segments of B
 * bytes to its own file in T-byte transfers; in shared mode all ranks write
 * one file, segment s of rank r at offset (s * P + r) * B. A write phase
 * and then a read phase, each timed from the release of the barrier before
 * it to the last arrival at the barrier after it (IOR's timing). The same
 * code then runs on the local directory, so BenchFS/local is a ratio in one
 * run on one machine (docs/design.md#performance-targets).
 *
 * Verification: every 4 KiB of every transfer starts with an 8-byte stamp
 * of (file, offset); the read phase checks every stamp (cheap: catches
 * misplaced, stale or missing blocks), --verify full also compares every
 * byte, --verify none checks only the byte counts. The check is part of the
 * timed read phase for both backends alike.
 */
#include "bench_ior.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IOR_STAMP_EVERY 4096u

struct ior_ctx {
    const struct ior_opts *o;
    struct bench_fs *fs;
};

void ior_worker_error(struct ior_shared *sh, int rank, const char *what, const char *msg)
{
    fprintf(stderr, "benchfs-bench ior: rank %d: %s: %s\n", rank, what, msg);
    if (!__sync_bool_compare_and_swap(&sh->failed, 0, 1))
        return;
    /* Clipped to the room there is: stderr above has all of it. */
    if (snprintf(sh->error, sizeof(sh->error), "rank %d: %s: %s", rank, what, msg) < 0)
        sh->error[0] = '\0';
}

static uint64_t ior_stamp(uint64_t file_id, uint64_t off)
{
    return (off * 0x9e3779b97f4a7c15ull) ^ ((file_id + 1) * 0xbf58476d1ce4e5b9ull);
}

/* Base contents of every transfer (before stamping): xorshift bytes. */
static void ior_fill_base(uint8_t *buf, size_t len)
{
    uint64_t x = 0x2545f4914f6cdd1dull;

    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

static void ior_stamp_buf(uint8_t *buf, size_t len, uint64_t file_id, uint64_t off)
{
    for (size_t p = 0; p + 8 <= len; p += IOR_STAMP_EVERY) {
        uint64_t v = ior_stamp(file_id, off + p);

        memcpy(buf + p, &v, 8);
    }
}

/* 0, or the buffer offset of the first bad byte + 1. */
static size_t ior_check_buf(const struct ior_opts *o, const uint8_t *got, uint8_t *expect,
                            size_t len, uint64_t file_id, uint64_t off)
{
    if (o->verify == IOR_VERIFY_FULL) {
        ior_stamp_buf(expect, len, file_id, off);
        if (memcmp(got, expect, len) == 0)
            return 0;
        for (size_t i = 0; i < len; i++)
            if (got[i] != expect[i])
                return i + 1;
    }
    for (size_t p = 0; p + 8 <= len; p += IOR_STAMP_EVERY) {
        uint64_t v;

        memcpy(&v, got + p, 8);
        if (v != ior_stamp(file_id, off + p))
            return p + 1;
    }
    return 0;
}

/* File, id and offset of transfer i of segment s of this rank. */
static void ior_place(const struct ior_opts *o, int rank, long s, uint64_t i, char *path,
                      size_t len, uint64_t *file_id_p, uint64_t *off_p)
{
    if (o->mode == IOR_FPP) {
        snprintf(path, len, "%s/f.%d", o->run_name, rank);
        *file_id_p = (uint64_t)rank;
        *off_p = (uint64_t)s * o->block + i * o->transfer;
    } else {
        snprintf(path, len, "%s/shared", o->run_name);
        *file_id_p = 0xffff;
        *off_p = ((uint64_t)s * (uint64_t)o->procs + (uint64_t)rank) * o->block + i * o->transfer;
    }
}

/* One phase of one rank: every transfer written or read back. */
static int ior_phase(const struct ior_opts *o, struct bench_fs *fs, struct ior_shared *sh, int rank,
                     bool write, uint8_t *buf, uint8_t *expect)
{
    uint64_t per_block = o->block / o->transfer, file_id, off;
    char path[512];
    int fd, rc;

    ior_place(o, rank, 0, 0, path, sizeof(path), &file_id, &off);
    fd = bench_fs_open(fs, path, write ? O_WRONLY | O_CREAT : O_RDONLY, 0644);
    if (fd < 0) {
        ior_worker_error(sh, rank, path, bench_fs_error(fs, fd));
        return fd;
    }
    for (long s = 0; s < o->segments; s++) {
        for (uint64_t i = 0; i < per_block; i++) {
            ssize_t n;

            ior_place(o, rank, s, i, path, sizeof(path), &file_id, &off);
            if (write) {
                if (o->verify != IOR_VERIFY_NONE)
                    ior_stamp_buf(buf, o->transfer, file_id, off);
                n = bench_fs_pwrite(fs, fd, buf, o->transfer, (off_t)off);
            } else {
                n = bench_fs_pread(fs, fd, buf, o->transfer, (off_t)off);
            }
            if (n != (ssize_t)o->transfer) {
                char msg[300];

                snprintf(msg, sizeof(msg), "%s at offset %llu: %s", write ? "write" : "read",
                         (unsigned long long)off,
                         n < 0 ? bench_fs_error(fs, (int)n) : "short transfer");
                ior_worker_error(sh, rank, path, msg);
                bench_fs_close(fs, fd);
                return n < 0 ? (int)n : -EIO;
            }
            if (!write && o->verify != IOR_VERIFY_NONE) {
                size_t bad = ior_check_buf(o, buf, expect, o->transfer, file_id, off);

                if (bad != 0) {
                    char msg[128];

                    snprintf(msg, sizeof(msg), "data verification failed at file offset %llu",
                             (unsigned long long)(off + bad - 1));
                    ior_worker_error(sh, rank, path, msg);
                    bench_fs_close(fs, fd);
                    return -EILSEQ;
                }
            }
        }
    }
    if (write && o->fsync) {
        rc = bench_fs_fsync(fs, fd);
        if (rc < 0) {
            ior_worker_error(sh, rank, "fsync", bench_fs_error(fs, rc));
            bench_fs_close(fs, fd);
            return rc;
        }
    }
    rc = bench_fs_close(fs, fd);
    if (rc < 0)
        ior_worker_error(sh, rank, "close", bench_fs_error(fs, rc));
    return rc;
}

/*
 * A worker: connect; rank 0 sets up and snapshots; B0 (write starts);
 * write; B1 (write ends); snapshot; B2 (read starts); read; B3 (read
 * ends); snapshot; cleanup; B4; rank 0 removes the run directory.
 */
static int ior_worker(struct bench_team *t, int rank, void *arg)
{
    struct ior_ctx *ctx = arg;
    const struct ior_opts *o = ctx->o;
    struct bench_fs *fs = ctx->fs;
    struct ior_shared *sh = t->shared;
    uint8_t *buf = malloc(o->transfer), *expect = malloc(o->transfer);
    bool bfs = fs->kind == BENCH_FS_BENCHFS;
    char path[512];
    uint64_t id, off;
    int rc;

    if (buf == NULL || expect == NULL) {
        ior_worker_error(sh, rank, "malloc", strerror(ENOMEM));
        return 1;
    }
    ior_fill_base(buf, o->transfer);
    memcpy(expect, buf, o->transfer);
    rc = bench_fs_connect(fs, o->registry, o->expected_servers, o->timeout_ms);
    if (rc < 0) {
        ior_worker_error(sh, rank, "connect", bench_fs_error(fs, rc));
        return 1;
    }
    if (rank == 0) {
        rc = bench_fs_mkdir(fs, o->run_name);
        if (rc < 0) {
            ior_worker_error(sh, rank, o->run_name, bench_fs_error(fs, rc));
            return 1;
        }
        if (bfs)
            bench_snap_benchfs(&sh->snap[0]);
    }
    if (bench_team_barrier(t) < 0)
        return 1;
    if (ior_phase(o, fs, sh, rank, true, buf, expect) < 0)
        return 1;
    if (bench_team_barrier(t) < 0)
        return 1;
    if (rank == 0 && bfs)
        bench_snap_benchfs(&sh->snap[1]);
    if (bench_team_barrier(t) < 0)
        return 1;
    if (ior_phase(o, fs, sh, rank, false, buf, expect) < 0)
        return 1;
    if (bench_team_barrier(t) < 0)
        return 1;
    if (rank == 0 && bfs)
        bench_snap_benchfs(&sh->snap[2]);
    ior_place(o, rank, 0, 0, path, sizeof(path), &id, &off);
    if (o->mode == IOR_FPP || rank == 0)
        bench_fs_unlink(fs, path);
    if (bench_team_barrier(t) < 0)
        return 1;
    if (rank == 0)
        bench_fs_rmdir(fs, o->run_name);
    bench_fs_disconnect(fs);
    free(buf);
    free(expect);
    return 0;
}

void ior_result_fill(struct ior_result *res, const struct ior_shared *sh, const uint64_t *start,
                     const uint64_t *end, bool bandwidth)
{
    for (int i = 0; i < res->nphases; i++) {
        double s = (double)(end[i] - start[i]) / 1e9;

        res->seconds[i] = s;
        res->rate[i] =
            bandwidth ? (double)res->amount[i] / (1 << 20) / s : (double)res->amount[i] / s;
        res->srv_cpu_s[i] = bench_snap_cpu_s(&sh->snap[i], &sh->snap[i + 1]);
        res->srv_ops[i] = sh->snap[i].ok && sh->snap[i + 1].ok
                              ? (double)(sh->snap[i + 1].ops - sh->snap[i].ops)
                              : NAN;
    }
    res->nservers = sh->snap[0].nservers;
}

/* One backend: a team, 5 barriers, rates. */
static int ior_run(const struct ior_opts *o, struct bench_fs *fs, struct ior_result *res)
{
    struct ior_ctx ctx = {.o = o, .fs = fs};
    struct bench_team t;
    uint64_t arrive[5], release[5], start[2], end[2];
    uint64_t total = o->block * (uint64_t)o->segments * (uint64_t)o->procs;
    int rc;

    res->nphases = 2;
    res->phase_name[0] = "write";
    res->phase_name[1] = "read";
    res->amount[0] = res->amount[1] = total;
    rc = bench_team_start(&t, (int)o->procs, sizeof(struct ior_shared), ior_worker, &ctx);
    if (rc < 0) {
        snprintf(res->error, sizeof(res->error), "cannot start workers: %s", strerror(-rc));
        return rc;
    }
    for (int b = 0; b < 5 && rc == 0; b++)
        rc = bench_team_release(&t, &arrive[b], &release[b]);
    if (rc == 0)
        rc = bench_team_finish(&t);
    if (rc == 0) {
        start[0] = release[0];
        end[0] = arrive[1];
        start[1] = release[2];
        end[1] = arrive[3];
        ior_result_fill(res, t.shared, start, end, true);
    }
    if (rc < 0) {
        const struct ior_shared *sh = t.shared;

        snprintf(res->error, sizeof(res->error), "%s",
                 sh != NULL && sh->failed ? sh->error : "a worker failed");
    }
    bench_team_cleanup(&t);
    return rc;
}

/* ---- report ------------------------------------------------------------ */

static void ior_print(const struct ior_opts *o, const struct ior_result *res, int nres)
{
    const char *unit = o->mode == IOR_MDTEST ? "ops/s" : "MiB/s";
    const struct ior_result *b = &res[0], *l = &res[1], *ref = b->ran ? b : l;

    printf("  %-8s", "backend");
    for (int i = 0; i < ref->nphases; i++)
        printf(" %14s", ref->phase_name[i]);
    printf("   (%s)\n", unit);
    for (int r = 0; r < nres; r++) {
        if (!res[r].ran)
            continue;
        printf("  %-8s", r == 0 ? "benchfs" : "local");
        if (!res[r].ok) {
            printf(" FAILED: %s\n", res[r].error);
            continue;
        }
        for (int i = 0; i < res[r].nphases; i++)
            printf(" %14.1f", res[r].rate[i]);
        printf("\n");
    }
    if (b->ran && b->ok && l->ran && l->ok) {
        printf("  %-8s", "ratio");
        for (int i = 0; i < b->nphases; i++)
            printf(" %13.2fx", b->rate[i] / l->rate[i]);
        printf("   (benchfs / local)\n");
    }
    if (b->ran && b->ok) {
        printf("  %-8s", "srv CPU");
        for (int i = 0; i < b->nphases; i++) {
            double per = o->mode == IOR_MDTEST
                             ? b->srv_cpu_s[i] / ((double)b->amount[i] / 1000.0)
                             : b->srv_cpu_s[i] / ((double)b->amount[i] / (1 << 30));

            printf(" %14.4f", per);
        }
        printf("   (server CPU s per %s, %d server(s))\n",
               o->mode == IOR_MDTEST ? "1000 ops" : "GiB", b->nservers);
    }
    for (int r = 0; o->mode == IOR_MDTEST && r < nres; r++) {
        if (!res[r].ran || !res[r].ok)
            continue;
        printf("  %-8s", r == 0 ? "b steps" : "l steps");
        for (int i = 0; i < res[r].nphases; i++) {
            char cell[48];
            const double *u = res[r].step_us[i];

            if (u[IOR_STEP_DATA] > 0 || u[IOR_STEP_CLOSE] > 0)
                snprintf(cell, sizeof(cell), "%.1f+%.1f+%.1f", u[0], u[1], u[2]);
            else
                snprintf(cell, sizeof(cell), "%.1f", u[0]);
            printf(" %14s", cell);
        }
        printf("   (us per file: open+data+close, or the one call; %s)\n",
               r == 0 ? "benchfs" : "local");
    }
}

static void ior_json(const struct ior_opts *o, const struct ior_result *res, int nres)
{
    static const char *mode_names[] = {"fpp", "shared", "mdtest"};
    struct bench_json j;

    if (bench_json_open(&j, o->json) < 0) {
        fprintf(stderr, "benchfs-bench ior: cannot write %s: %s\n", o->json, strerror(errno));
        return;
    }
    bench_json_obj_begin(&j, NULL);
    bench_json_header(&j, o->mode == IOR_MDTEST ? "mdtest" : "ior");
    bench_json_str(&j, "label", o->label ? o->label : "");
    bench_json_str(&j, "mode", mode_names[o->mode]);
    bench_json_int(&j, "procs", o->procs);
    if (o->mode == IOR_MDTEST) {
        bench_json_int(&j, "files_per_proc", o->files);
        bench_json_int(&j, "data_files_per_proc", o->data_files ? o->data_files : o->files);
        bench_json_int(&j, "file_size", (int64_t)o->file_size);
    } else {
        bench_json_int(&j, "transfer", (int64_t)o->transfer);
        bench_json_int(&j, "block", (int64_t)o->block);
        bench_json_int(&j, "segments", o->segments);
        bench_json_bool(&j, "fsync", o->fsync);
    }
    bench_json_str(&j, "local_dir", o->local ? o->local : "");
    bench_json_arr_begin(&j, "results");
    for (int r = 0; r < nres; r++) {
        if (!res[r].ran)
            continue;
        bench_json_obj_begin(&j, NULL);
        bench_json_str(&j, "backend", r == 0 ? "benchfs" : "local");
        bench_json_bool(&j, "ok", res[r].ok);
        bench_json_str(&j, "error", res[r].error);
        if (r == 0)
            bench_json_int(&j, "servers", res[r].nservers);
        for (int i = 0; res[r].ok && i < res[r].nphases; i++) {
            bench_json_obj_begin(&j, res[r].phase_name[i]);
            bench_json_num(&j, "seconds", res[r].seconds[i]);
            bench_json_num(&j, o->mode == IOR_MDTEST ? "ops_per_s" : "mib_per_s", res[r].rate[i]);
            bench_json_int(&j, o->mode == IOR_MDTEST ? "ops" : "bytes", (int64_t)res[r].amount[i]);
            bench_json_num(&j, "server_cpu_s", res[r].srv_cpu_s[i]);
            bench_json_obj_end(&j);
        }
        bench_json_obj_end(&j);
    }
    bench_json_arr_end(&j);
    if (res[0].ran && res[0].ok && res[1].ran && res[1].ok) {
        bench_json_obj_begin(&j, "ratio");
        for (int i = 0; i < res[0].nphases; i++)
            bench_json_num(&j, res[0].phase_name[i], res[0].rate[i] / res[1].rate[i]);
        bench_json_obj_end(&j);
    }
    bench_json_obj_end(&j);
    if (bench_json_close(&j) < 0)
        fprintf(stderr, "benchfs-bench ior: error writing %s\n", o->json);
}

static void ior_tsv(const struct ior_opts *o, const struct ior_result *res, int nres)
{
    static const char *bench_names[] = {"ior-fpp", "ior-shared", "mdtest"};
    bool md = o->mode == IOR_MDTEST;
    struct bench_tsv t;
    char m[64];

    if (bench_tsv_open(&t, o->tsv, bench_names[o->mode], o->label) < 0) {
        fprintf(stderr, "benchfs-bench ior: cannot append to %s: %s\n", o->tsv, strerror(errno));
        return;
    }
    for (int r = 0; r < nres; r++) {
        const char *be = r == 0 ? "benchfs" : "local";

        if (!res[r].ran)
            continue;
        bench_tsv_put(&t, be, "ok", res[r].ok);
        for (int i = 0; res[r].ok && i < res[r].nphases; i++) {
            snprintf(m, sizeof(m), "%s_%s", res[r].phase_name[i], md ? "ops_s" : "mib_s");
            bench_tsv_put(&t, be, m, res[r].rate[i]);
            snprintf(m, sizeof(m), "%s_srv_cpu_s_per_%s", res[r].phase_name[i], md ? "kop" : "gib");
            bench_tsv_put(&t, be, m,
                          md ? res[r].srv_cpu_s[i] / ((double)res[r].amount[i] / 1000.0)
                             : res[r].srv_cpu_s[i] / ((double)res[r].amount[i] / (1 << 30)));
            /* Requests per file (mdtest) or per transfer (ior), STATUS
             * snapshots included (a few per phase). */
            for (int k = 0; md && k < 3; k++) {
                static const char *steps[3] = {"open", "data", "close"};

                if (res[r].step_us[i][k] <= 0)
                    continue;
                snprintf(m, sizeof(m), "%s_%s_us", res[r].phase_name[i], steps[k]);
                bench_tsv_put(&t, be, m, res[r].step_us[i][k]);
            }
            snprintf(m, sizeof(m), "%s_rpcs_per_op", res[r].phase_name[i]);
            bench_tsv_put(&t, be, m,
                          res[r].srv_ops[i] /
                              (md ? (double)res[r].amount[i]
                                  : (double)res[r].amount[i] / (double)o->transfer));
        }
    }
    if (res[0].ran && res[0].ok && res[1].ran && res[1].ok) {
        for (int i = 0; i < res[0].nphases; i++)
            bench_tsv_put(&t, "ratio", res[0].phase_name[i], res[0].rate[i] / res[1].rate[i]);
    }
    bench_tsv_close(&t);
}

/* ---- command line ----------------------------------------------------------- */

static void ior_usage(FILE *out)
{
    fprintf(out,
            "Usage: benchfs-bench ior --mode fpp|shared|mdtest [OPTIONS]\n"
            "IOR-like bandwidth (fpp, shared) or metadata rates (mdtest) of BenchFS and of a\n"
            "local directory, measured in the same run; prints both and benchfs/local.\n\n"
            "  -m, --mode MODE          fpp (file per process), shared (one file), mdtest\n"
            "  -p, --procs P            worker processes, each its own client (1)\n"
            "  -t, --transfer SIZE      bytes per I/O call (1m)\n"
            "  -b, --block SIZE         bytes per process per segment, multiple of transfer (64m)\n"
            "  -s, --segments N         segments (1)\n"
            "  -r, --registry DIR       BenchFS registry (default $BENCHFS_REGISTRY; none: skip)\n"
            "      --registry-dir DIR   same\n"
            "  -l, --local DIR          also run on this local directory (plain POSIX)\n"
            "      --spawn-servers M    start M benchfsd (harness, temp dir under $TMPDIR)\n"
            "      --set KEY=VALUE      configuration for spawned servers (repeatable)\n"
            "      --expected-servers N servers to wait for (default: the cluster file)\n"
            "      --timeout SEC        discovery timeout (30)\n"
            "      --verify MODE        none, stamp (8 bytes per 4 KiB, default) or full\n"
            "      --fsync              fsync each file after writing\n"
            "  -F, --files N            mdtest: files per process (1000)\n"
            "      --data-files N       mdtest: files per process in create-data (--files)\n"
            "      --file-size SIZE     mdtest: size of the data files (3901)\n"
            "  -j, --json FILE          write results as JSON\n"
            "      --tsv FILE           append results as TSV lines (bench/run_all.sh)\n"
            "      --label TEXT         free text stored in the JSON / TSV\n"
            "  -h, --help               this help\n");
}

static int ior_parse_mode(const char *s, struct ior_opts *o)
{
    if (strcmp(s, "fpp") == 0)
        o->mode = IOR_FPP;
    else if (strcmp(s, "shared") == 0)
        o->mode = IOR_SHARED;
    else if (strcmp(s, "mdtest") == 0)
        o->mode = IOR_MDTEST;
    else
        return -EINVAL;
    return 0;
}

static int ior_parse_verify(const char *s, struct ior_opts *o)
{
    if (strcmp(s, "none") == 0)
        o->verify = IOR_VERIFY_NONE;
    else if (strcmp(s, "stamp") == 0)
        o->verify = IOR_VERIFY_STAMP;
    else if (strcmp(s, "full") == 0)
        o->verify = IOR_VERIFY_FULL;
    else
        return -EINVAL;
    return 0;
}

static int ior_bad(const char *what, const char *val)
{
    fprintf(stderr, "benchfs-bench ior: invalid %s '%s'\n", what, val);
    ior_usage(stderr);
    return 2;
}

int bench_ior_main(int argc, char **argv)
{
    enum {
        OPT_SPAWN = 256,
        OPT_SET,
        OPT_EXPECT,
        OPT_TIMEOUT,
        OPT_VERIFY,
        OPT_FSYNC,
        OPT_FSIZE,
        OPT_LABEL,
        OPT_TSV,
        OPT_DFILES
    };
    static const struct option lo[] = {
        {"mode", required_argument, NULL, 'm'},
        {"procs", required_argument, NULL, 'p'},
        {"transfer", required_argument, NULL, 't'},
        {"block", required_argument, NULL, 'b'},
        {"segments", required_argument, NULL, 's'},
        {"registry", required_argument, NULL, 'r'},
        {"registry-dir", required_argument, NULL, 'r'},
        {"local", required_argument, NULL, 'l'},
        {"spawn-servers", required_argument, NULL, OPT_SPAWN},
        {"set", required_argument, NULL, OPT_SET},
        {"expected-servers", required_argument, NULL, OPT_EXPECT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"verify", required_argument, NULL, OPT_VERIFY},
        {"fsync", no_argument, NULL, OPT_FSYNC},
        {"files", required_argument, NULL, 'F'},
        {"file-size", required_argument, NULL, OPT_FSIZE},
        {"json", required_argument, NULL, 'j'},
        {"label", required_argument, NULL, OPT_LABEL},
        {"tsv", required_argument, NULL, OPT_TSV},
        {"data-files", required_argument, NULL, OPT_DFILES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ior_opts o = {.transfer = 1 << 20,
                         .block = 64 << 20,
                         .segments = 1,
                         .procs = 1,
                         .timeout_ms = 30000,
                         .verify = IOR_VERIFY_STAMP,
                         .files = 1000,
                         .file_size = 3901};
    struct ior_result res[2];
    struct bench_spawn *sp = NULL;
    const char *sets[16];
    char registry[512], ts[64], sz[3][32];
    long spawn = 0, v;
    int nsets = 0, opt, failed = 0;
    bool have_mode = false;
    struct bench_fs fs;

    o.registry = getenv("BENCHFS_REGISTRY");
    while ((opt = getopt_long(argc, argv, "m:p:t:b:s:r:l:F:j:h", lo, NULL)) != -1) {
        switch (opt) {
        case 'm':
            if (ior_parse_mode(optarg, &o) < 0)
                return ior_bad("mode", optarg);
            have_mode = true;
            break;
        case 'p':
            if (bench_parse_long(optarg, 1, BENCH_MAX_PROCS, &o.procs) < 0)
                return ior_bad("process count", optarg);
            break;
        case 't':
            if (bench_parse_size(optarg, &o.transfer) < 0 || o.transfer < 8 ||
                o.transfer > (1u << 30))
                return ior_bad("transfer size", optarg);
            break;
        case 'b':
            if (bench_parse_size(optarg, &o.block) < 0 || o.block == 0)
                return ior_bad("block size", optarg);
            break;
        case 's':
            if (bench_parse_long(optarg, 1, 100000000, &o.segments) < 0)
                return ior_bad("segment count", optarg);
            break;
        case 'r':
            o.registry = optarg;
            break;
        case 'l':
            o.local = optarg;
            break;
        case OPT_SPAWN:
            if (bench_parse_long(optarg, 1, BENCH_MAX_SERVERS, &spawn) < 0)
                return ior_bad("server count", optarg);
            break;
        case OPT_SET:
            if (nsets == 16)
                return ior_bad("--set (too many)", optarg);
            sets[nsets++] = optarg;
            break;
        case OPT_EXPECT:
            if (bench_parse_long(optarg, 0, 65536, &v) < 0)
                return ior_bad("server count", optarg);
            o.expected_servers = (unsigned)v;
            break;
        case OPT_TIMEOUT:
            if (bench_parse_long(optarg, 1, 3600, &v) < 0)
                return ior_bad("timeout", optarg);
            o.timeout_ms = (int)v * 1000;
            break;
        case OPT_VERIFY:
            if (ior_parse_verify(optarg, &o) < 0)
                return ior_bad("verify mode", optarg);
            break;
        case OPT_FSYNC:
            o.fsync = true;
            break;
        case 'F':
            if (bench_parse_long(optarg, 1, 100000000, &o.files) < 0)
                return ior_bad("file count", optarg);
            break;
        case OPT_FSIZE:
            if (bench_parse_size(optarg, &o.file_size) < 0 || o.file_size > (64u << 20))
                return ior_bad("file size", optarg);
            break;
        case 'j':
            o.json = optarg;
            break;
        case OPT_LABEL:
            o.label = optarg;
            break;
        case OPT_TSV:
            o.tsv = optarg;
            break;
        case OPT_DFILES:
            if (bench_parse_long(optarg, 1, 100000000, &o.data_files) < 0)
                return ior_bad("file count", optarg);
            break;
        case 'h':
            ior_usage(stdout);
            return 0;
        default:
            ior_usage(stderr);
            return 2;
        }
    }
    if (!have_mode || optind < argc) {
        fprintf(stderr, "benchfs-bench ior: %s\n",
                have_mode ? "unexpected argument" : "--mode is required");
        ior_usage(stderr);
        return 2;
    }
    if (o.mode != IOR_MDTEST && o.block % o.transfer != 0) {
        fprintf(stderr, "benchfs-bench ior: block (%llu) must be a multiple of transfer (%llu)\n",
                (unsigned long long)o.block, (unsigned long long)o.transfer);
        return 2;
    }
    if (spawn > 0) {
        if (bench_spawn_start((int)spawn, sets, nsets, registry, sizeof(registry), &sp) < 0)
            return 1;
        o.registry = registry;
    }
    if (o.registry == NULL && o.local == NULL) {
        fprintf(stderr, "benchfs-bench ior: nothing to measure: give --registry (or "
                        "$BENCHFS_REGISTRY, --spawn-servers) and/or --local\n");
        return 2;
    }
    snprintf(o.run_name, sizeof(o.run_name), "ior.%d", (int)getpid());

    printf("=== benchfs-bench ior: %s ===\n", o.mode == IOR_FPP      ? "file per process"
                                              : o.mode == IOR_SHARED ? "shared file"
                                                                     : "mdtest");
    printf("  %s, load %.2f, transport %s, %ld process(es)\n", bench_timestamp(ts, sizeof(ts)),
           bench_loadavg(), bench_transport_label(), o.procs);
    if (o.mode == IOR_MDTEST)
        printf("  %ld files per process and phase (%ld in create-data), data files of %llu "
               "bytes\n",
               o.files, o.data_files ? o.data_files : o.files, (unsigned long long)o.file_size);
    else
        printf("  transfer %s, block %s, segments %ld: %s per process, verify %s%s\n",
               bench_fmt_size(o.transfer, sz[0], sizeof(sz[0])),
               bench_fmt_size(o.block, sz[1], sizeof(sz[1])), o.segments,
               bench_fmt_size(o.block * (uint64_t)o.segments, sz[2], sizeof(sz[2])),
               o.verify == IOR_VERIFY_NONE    ? "none"
               : o.verify == IOR_VERIFY_STAMP ? "stamp"
                                              : "full",
               o.fsync ? ", fsync" : "");
    printf("  benchfs: %s\n  local:   %s\n", o.registry ? o.registry : "(not measured)",
           o.local ? o.local : "(not measured)");
    fflush(stdout);

    memset(res, 0, sizeof(res));
    for (int r = 0; r < 2; r++) {
        const char *what = r == 0 ? o.registry : o.local;
        int rc;

        if (what == NULL)
            continue;
        bench_fs_init(&fs, r == 0 ? BENCH_FS_BENCHFS : BENCH_FS_LOCAL, o.local);
        res[r].ran = true;
        rc = o.mode == IOR_MDTEST ? mdtest_run(&o, &fs, &res[r]) : ior_run(&o, &fs, &res[r]);
        res[r].ok = rc == 0;
        if (rc < 0) {
            failed++;
            fprintf(stderr, "benchfs-bench ior: %s run failed: %s\n", fs.name, res[r].error);
        }
    }
    ior_print(&o, res, 2);
    ior_json(&o, res, 2);
    ior_tsv(&o, res, 2);
    bench_spawn_stop(sp);
    return failed ? 1 : 0;
}
