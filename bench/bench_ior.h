/*
 * bench_ior.h - the IOR-like subcommand's options and results, shared by
 * bench_ior.c (command line, fpp / shared-file bandwidth, report) and
 * bench_mdtest.c (metadata rates).
 *
 * One run measures each selected backend in turn -- BenchFS (registry) and
 * the local directory (--local) -- with a fresh team of P worker processes
 * per backend, and reports both and their ratio.
 */
#ifndef BENCHFS_BENCH_IOR_H
#define BENCHFS_BENCH_IOR_H

#include "bench.h"

enum ior_mode { IOR_FPP, IOR_SHARED, IOR_MDTEST };
enum ior_verify { IOR_VERIFY_NONE, IOR_VERIFY_STAMP, IOR_VERIFY_FULL };

struct ior_opts {
    enum ior_mode mode;
    uint64_t transfer, block;
    long segments, procs;
    const char *registry; /* NULL: no BenchFS run */
    const char *local;    /* NULL: no local run */
    const char *json;
    const char *tsv;
    const char *label;
    unsigned expected_servers;
    int timeout_ms; /* discovery */
    enum ior_verify verify;
    bool fsync;
    long files;         /* mdtest: files per process and phase */
    long data_files;    /* mdtest: files per process in create-data (0: files) */
    uint64_t file_size; /* mdtest: size of the data files (3901) */
    char run_name[64];  /* top directory of this run: ior.<pid> */
};

/* Phases whose rates are reported. */
#define IOR_MAX_PHASES 5

struct ior_result {
    bool ran, ok;
    char error[256];
    int nphases;
    const char *phase_name[IOR_MAX_PHASES];
    double seconds[IOR_MAX_PHASES];
    double rate[IOR_MAX_PHASES];      /* MiB/s (bandwidth) or ops/s (mdtest) */
    uint64_t amount[IOR_MAX_PHASES];  /* bytes or operations */
    double srv_cpu_s[IOR_MAX_PHASES]; /* NaN when unknown (local) */
    double srv_ops[IOR_MAX_PHASES];   /* requests the servers handled; NaN when unknown */
    /* mdtest: mean microseconds per file spent in each step of a phase
     * (IOR_STEP_*: open or the one call, write/read, close); 0: no such step */
    double step_us[IOR_MAX_PHASES][3];
    int nservers;
};

/*
 * Memory shared between a run's coordinator and its workers: the first
 * worker error and rank 0's server snapshots (one before the first phase
 * and one after each phase).
 */
struct ior_shared {
    int failed;
    char error[256];
    struct bench_srv_snap snap[IOR_MAX_PHASES + 1];
    uint64_t step_ns[IOR_MAX_PHASES][3]; /* mdtest: summed over workers */
};

/* Steps of one mdtest operation, timed separately (where the time goes). */
enum { IOR_STEP_OPEN, IOR_STEP_DATA, IOR_STEP_CLOSE };

/* Record a worker's error in shared memory (first one wins) and stderr. */
void ior_worker_error(struct ior_shared *sh, int rank, const char *what, const char *msg);

/* Run the metadata phases against one backend (bench_mdtest.c). */
int mdtest_run(const struct ior_opts *o, struct bench_fs *fs, struct ior_result *res);

/* Fill phase rates and server CPU from barrier times and snapshots. The
 * barrier after phase i's start is start[i], its end end[i]. */
void ior_result_fill(struct ior_result *res, const struct ior_shared *sh, const uint64_t *start,
                     const uint64_t *end, bool bandwidth);

#endif
