/*
 * bench.h - shared pieces of benchfs-bench, the BenchFS benchmark program.
 *
 *   benchfs-bench small   seed 002: a server / client pair, small-file latency
 *   benchfs-bench rpc     RPC level: ping latency/IOPS, chunk write/read bandwidth
 *   benchfs-bench ior     IOR-like fpp / shared-file bandwidth and an mdtest mode,
 *                         BenchFS and a local directory in the same run
 *   benchfs-bench calib   what a process wakeup / a shared-memory round trip costs
 *
 * Every subcommand prints human-readable tables and, with --json FILE, the
 * same numbers for machines; ior and rpc also append TSV lines (--tsv), which
 * bench/run_all.sh aggregates. This header holds what the subcommands
 * share: clocks, size parsing and formatting, latency statistics, a tiny
 * JSON writer, a team of forked worker processes with pipe barriers, the
 * file system backends and server CPU snapshots.
 *
 * The file system is used through the public API (benchfs.h) only; the RPC
 * benchmark uses the raw test client (tests/server/rawclient.h) and the
 * small server mode the server library (src/server/server.h).
 */
#ifndef BENCHFS_BENCH_BENCH_H
#define BENCHFS_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#define BENCH_MAX_PROCS   64  /* ior, rpc */
#define BENCH_MAX_TEAM    512 /* forked workers of any subcommand (scale) */
#define BENCH_MAX_SIZES   32
#define BENCH_MAX_SERVERS 16

/* ---- clocks ------------------------------------------------------------ */

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- sizes and units (bench_util.c) ------------------------------------ */

/*
 * Parse "4096", "4k", "4KiB", "1m", "16MiB", "1g" (binary multiples) into
 * *v_p. Returns 0 or -EINVAL (nothing written).
 */
int bench_parse_size(const char *s, uint64_t *v_p);

/* Parse a comma list of sizes ("4k,64k,1m") into v[max]. 0 or -EINVAL. */
int bench_parse_size_list(const char *s, uint64_t *v, int max, int *n_p);

/* Parse a positive integer / a non-negative number of seconds. 0 or -EINVAL. */
int bench_parse_long(const char *s, long min, long max, long *v_p);
int bench_parse_seconds(const char *s, double *v_p);

/* "4 KiB", "1 MiB", "47008 B": exact binary units when possible. */
const char *bench_fmt_size(uint64_t v, char *buf, size_t len);
/* A duration with a sensible unit: "850 ns", "12.3 us", "4.56 ms", "1.23 s". */
const char *bench_fmt_ns(double ns, char *buf, size_t len);

/* Transport label of this process's environment: "shm", "tcp" or "default". */
const char *bench_transport_label(void);
/* 1-minute load average from /proc/loadavg (-1 when unknown). */
double bench_loadavg(void);
/* Local time as "2026-11-21 10:30:00 UTC" (for reports). */
const char *bench_timestamp(char *buf, size_t len);

/* ---- latency statistics (bench_stats.c) -------------------------------- */

/* Exact samples (small runs: everything is kept and sorted). */
struct bench_samples {
    uint64_t *ns;
    size_t n, cap;
};

struct bench_summary {
    uint64_t count;
    double total_ns, mean_ns, min_ns, max_ns, p50_ns, p99_ns;
};

/* Allocate room for cap samples. 0 or -ENOMEM. */
int bench_samples_init(struct bench_samples *s, size_t cap);
/* Add one sample (dropped silently when full). */
void bench_samples_add(struct bench_samples *s, uint64_t ns);
/* Sort the samples and fill *out (count 0 when empty). */
void bench_samples_summarize(struct bench_samples *s, struct bench_summary *out);
void bench_samples_cleanup(struct bench_samples *s);

/*
 * Log-linear latency histogram: 64 sub-buckets per power of two (error
 * < 1.6 %), plain data so that forked workers can fill one each in shared
 * memory and the coordinator merges them.
 */
#define BENCH_HIST_SUB     64
#define BENCH_HIST_BUCKETS (BENCH_HIST_SUB * 40)
struct bench_hist {
    uint64_t count;
    double sum_ns;
    uint64_t min_ns, max_ns;
    uint32_t b[BENCH_HIST_BUCKETS];
};

void bench_hist_reset(struct bench_hist *h);
void bench_hist_add(struct bench_hist *h, uint64_t ns);
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* Value at quantile q (0..1), e.g. 0.5 / 0.99. 0 for an empty histogram. */
double bench_hist_quantile(const struct bench_hist *h, double q);
/* Summary as from exact samples; total_ns = sum of samples. */
void bench_hist_summarize(const struct bench_hist *h, struct bench_summary *out);

/* ---- JSON output (bench_json.c) ---------------------------------------- */

/*
 * A streaming writer: objects and arrays nest, keys are given for members of
 * objects (NULL inside arrays). A writer opened with a NULL path ignores
 * every call, so callers need no "if (json)" around each line.
 */
#define BENCH_JSON_DEPTH 16
struct bench_json {
    FILE *f;
    int depth;
    bool first[BENCH_JSON_DEPTH];
};

/* Open `path` for writing ("-" = stdout, NULL = disabled). 0 or -errno. */
int bench_json_open(struct bench_json *j, const char *path);
void bench_json_obj_begin(struct bench_json *j, const char *key);
void bench_json_obj_end(struct bench_json *j);
void bench_json_arr_begin(struct bench_json *j, const char *key);
void bench_json_arr_end(struct bench_json *j);
void bench_json_str(struct bench_json *j, const char *key, const char *val);
/* Numbers; NaN and infinities are written as null. */
void bench_json_num(struct bench_json *j, const char *key, double val);
void bench_json_int(struct bench_json *j, const char *key, int64_t val);
void bench_json_bool(struct bench_json *j, const char *key, bool val);
void bench_json_summary(struct bench_json *j, const char *key, const struct bench_summary *s);
/* Write the common header members: benchmark name, date, host, load, transport. */
void bench_json_header(struct bench_json *j, const char *benchmark);
/* Finish and close. 0 or -EIO when anything failed to be written. */
int bench_json_close(struct bench_json *j);

/*
 * TSV records for bench/run_all.sh (which needs only awk to aggregate):
 * one line per number, appended to the file:
 *   label <TAB> benchmark <TAB> transport <TAB> backend <TAB> metric <TAB> value
 * A writer opened with a NULL path ignores every call.
 */
struct bench_tsv {
    FILE *f;
    char label[128], bench[32];
};
int bench_tsv_open(struct bench_tsv *t, const char *path, const char *bench, const char *label);
void bench_tsv_put(struct bench_tsv *t, const char *backend, const char *metric, double value);
void bench_tsv_close(struct bench_tsv *t);

/* ---- a team of forked workers (bench_team.c) --------------------------- */

/*
 * The coordinator (the calling process) forks `nprocs` workers that run
 * fn(team, rank, arg) and exit with 0 on success. Workers meet at barriers:
 * bench_team_barrier() in every worker pairs with one
 * bench_team_release() in the coordinator, which returns when all workers
 * have arrived and gives the time of the last arrival (as each worker
 * stamped it, so a descheduled coordinator does not stretch a phase) and
 * of the release (stamped before any worker can go on). A worker that dies makes the coordinator's
 * next release fail (the other workers are killed by pid), so nothing hangs.
 *
 * UCX is not fork-safe: the coordinator must not connect before it forks;
 * every worker connects on its own.
 */
struct bench_team {
    int nprocs;
    int rank; /* -1 in the coordinator */
    pid_t pids[BENCH_MAX_TEAM];
    int up_rd, up_wr;            /* workers -> coordinator, one byte per arrival */
    int down_rd[BENCH_MAX_TEAM]; /* coordinator -> worker i */
    int down_wr[BENCH_MAX_TEAM];
    void *shared; /* MAP_SHARED memory of shared_len bytes, zeroed */
    size_t shared_len;
    uint64_t *arrive_ns; /* shared: each worker's last barrier arrival time */
    int timeout_ms;      /* per barrier, in the coordinator (default 600 s) */
};

typedef int (*bench_worker_fn)(struct bench_team *t, int rank, void *arg);

/* Fork the workers. 0 or -errno (then nothing is left running). */
int bench_team_start(struct bench_team *t, int nprocs, size_t shared_len, bench_worker_fn fn,
                     void *arg);
/* Worker: wait for every worker and the coordinator. 0 or -EPIPE. */
int bench_team_barrier(struct bench_team *t);
/*
 * Coordinator: wait until all workers arrived (time of the last arrival in
 * *arrived_ns_p), then release them (time after the release in
 * *released_ns_p). Either pointer may be NULL. 0, or -ECHILD / -ETIMEDOUT
 * after killing the workers.
 */
int bench_team_release(struct bench_team *t, uint64_t *arrived_ns_p, uint64_t *released_ns_p);
/* Coordinator: wait for the workers to exit. 0 when all exited 0. The
 * shared memory stays readable until bench_team_cleanup(). */
int bench_team_finish(struct bench_team *t);
/* Coordinator: kill (SIGKILL, by pid) and reap the workers still running. */
void bench_team_abort(struct bench_team *t);
/* Coordinator: abort what still runs and unmap the shared memory. */
void bench_team_cleanup(struct bench_team *t);

/* ---- file system backends (bench_fs.c) ---------------------------------- */

/*
 * The same I/O code runs against BenchFS (public API) and a local
 * directory (plain POSIX on the same storage). Paths given to these calls
 * are relative ("ior.123/f.0"); the backend prefixes its root ("/" inside
 * BenchFS, the --local directory otherwise). Calls return >= 0 or -errno.
 */
enum bench_fs_kind { BENCH_FS_BENCHFS, BENCH_FS_LOCAL };
struct bench_fs {
    enum bench_fs_kind kind;
    const char *name; /* "benchfs" / "local" */
    char root[1024];
    bool connected;
};

/* Set up a backend (no connection yet). root: the local directory. */
void bench_fs_init(struct bench_fs *fs, enum bench_fs_kind kind, const char *root);
/* BenchFS: connect to the registry (NULL: $BENCHFS_REGISTRY). Local: no-op. */
int bench_fs_connect(struct bench_fs *fs, const char *registry, unsigned expected_servers,
                     int timeout_ms);
void bench_fs_disconnect(struct bench_fs *fs);
int bench_fs_open(struct bench_fs *fs, const char *rel, int flags, mode_t mode);
int bench_fs_close(struct bench_fs *fs, int fd);
/* Whole transfers: loop over short writes / reads. Bytes moved or -errno. */
ssize_t bench_fs_pwrite(struct bench_fs *fs, int fd, const void *buf, size_t n, off_t off);
ssize_t bench_fs_pread(struct bench_fs *fs, int fd, void *buf, size_t n, off_t off);
int bench_fs_fsync(struct bench_fs *fs, int fd);
int bench_fs_stat(struct bench_fs *fs, const char *rel, struct stat *st);
int bench_fs_unlink(struct bench_fs *fs, const char *rel);
int bench_fs_mkdir(struct bench_fs *fs, const char *rel);
int bench_fs_rmdir(struct bench_fs *fs, const char *rel);
/* Explanation of the last failure (benchfs_last_error() or strerror). */
const char *bench_fs_error(const struct bench_fs *fs, int err);

/* ---- server CPU snapshots ------------------------------------------------ */

/* Sum over all servers of their STATUS counters at one moment. */
struct bench_srv_snap {
    int ok; /* 1 when every server answered */
    int nservers;
    uint64_t cpu_ns;  /* user + system */
    uint64_t busy_ns; /* the loops' working passes (STATUS busy_ns) */
    uint64_t at_ns;   /* when the snapshot was taken (bench_now_ns) */
    uint64_t bytes_in, bytes_out, ops;
};

/* Snapshot through the file API (the calling process must be connected;
 * bench_fs.c). */
void bench_snap_benchfs(struct bench_srv_snap *s);
/* CPU seconds between two snapshots (NaN when either is not ok). */
double bench_snap_cpu_s(const struct bench_srv_snap *a, const struct bench_srv_snap *b);
/* Share of the time between two snapshots the average server spent in
 * working passes, 0..1 (NaN when either is not ok): near 1, the servers
 * were the bottleneck. */
double bench_snap_busy(const struct bench_srv_snap *a, const struct bench_srv_snap *b);

/* ---- subcommands --------------------------------------------------------- */

int bench_small_main(int argc, char **argv);
int bench_rpc_main(int argc, char **argv);
int bench_ior_main(int argc, char **argv);
/* Connection storm: K clients at once against a running cluster (bench_scale.c). */
int bench_scale_main(int argc, char **argv);
/* Process wakeup / spin round trips of this machine (bench_team.c). */
int bench_calib_main(int argc, char **argv);
int bench_threads_main(int argc, char **argv);

/* ---- spawning servers (bench_spawn.c) ------------------------------------ */

struct bench_spawn;
/*
 * Start `nservers` benchfsd processes with the test harness (private temp
 * dir under $TMPDIR; transport from the environment), `sets` passed as
 * --set options. Writes the registry path to registry (cap len).
 */
int bench_spawn_start(int nservers, const char *const *sets, int nsets, char *registry, size_t len,
                      struct bench_spawn **sp_p);
/* Stop every server (by pid) and remove the temp dir. NULL is fine. */
void bench_spawn_stop(struct bench_spawn *sp);

#endif
