/*
 * bench_threads.c - `benchfs-bench threads`: file creates per second from
 * N threads of one process sharing one libbenchfs connection, for each N
 * of a list (default 1 and 4), side by side. Shows that calls of different
 * threads run in parallel (docs/architecture.md#client-threading): with the
 * old process-wide lock the rate could not grow with threads.
 *
 *   benchfs-bench threads [--registry-dir DIR | --spawn-servers M]
 *                         [--threads 1,4] [--duration SEC] [--set K=V]...
 *
 * Every thread creates files in a directory of its own (open O_CREAT|
 * O_EXCL|O_WRONLY + close, like mdtest's create phase) until the duration
 * is over; the rate counts every thread's creates. The files are removed
 * afterwards (not timed). A first round, not reported, does the same with
 * the largest thread count: every reported round then finds a store that
 * has seen removals. A fresh store is faster (LMDB reuses the pages that
 * removals free, oldest first, and those are cold: docs/performance.md,
 * section 15), so without it the first round alone ran on a fresh store
 * and every later one looked slower. Each line also gives how busy the
 * servers were (STATUS busy_ns over the measurement): near 100 %, the
 * servers and not the client's threads set the rate, and more threads
 * cannot raise it.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchfs.h"

#define THREADS_MAX 64

struct threads_run {
    int nthreads;
    int round;
    uint64_t end_ns;
    atomic_int failed;
    pthread_barrier_t start, done;
    long counts[THREADS_MAX];
};

struct threads_arg {
    struct threads_run *run;
    int idx;
};

static void *threads_worker(void *p)
{
    struct threads_arg *a = p;
    struct threads_run *r = a->run;
    char dir[64], path[128];
    long n = 0;
    int fd;

    snprintf(dir, sizeof(dir), "/bench-threads-%d-%d", r->round, a->idx);
    if (benchfs_mkdir(dir, 0755) < 0) {
        fprintf(stderr, "threads: mkdir %s: %s\n", dir, benchfs_last_error());
        atomic_fetch_add(&r->failed, 1);
    }
    pthread_barrier_wait(&r->start);
    while (atomic_load(&r->failed) == 0 && bench_now_ns() < r->end_ns) {
        snprintf(path, sizeof(path), "%s/f%ld", dir, n);
        fd = benchfs_open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0 || benchfs_close(fd) < 0) {
            fprintf(stderr, "threads: create %s: %s\n", path, benchfs_last_error());
            atomic_fetch_add(&r->failed, 1);
            break;
        }
        n++;
    }
    r->counts[a->idx] = n;
    pthread_barrier_wait(&r->done);
    /* Clean up (not timed, nor in the servers' busy time). */
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/f%ld", dir, i);
        benchfs_unlink(path);
    }
    benchfs_rmdir(dir);
    return NULL;
}

/* One measurement with n threads: creates per second, or a negative value;
 * *busy: the servers' busy share meanwhile (NaN if unknown). */
static double threads_measure(int n, int round, double seconds, double *busy)
{
    struct threads_arg args[THREADS_MAX];
    pthread_t th[THREADS_MAX];
    struct threads_run r;
    struct bench_srv_snap s0, s1;
    uint64_t t0, t1;
    long total = 0;
    int i;

    memset(&r, 0, sizeof(r));
    r.nthreads = n;
    r.round = round;
    if (pthread_barrier_init(&r.start, NULL, (unsigned)n + 1) != 0)
        return -1;
    if (pthread_barrier_init(&r.done, NULL, (unsigned)n + 1) != 0) {
        pthread_barrier_destroy(&r.start);
        return -1;
    }
    r.end_ns = ~0ull;
    for (i = 0; i < n; i++) {
        args[i].run = &r;
        args[i].idx = i;
        if (pthread_create(&th[i], NULL, threads_worker, &args[i]) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            exit(1);
        }
    }
    bench_snap_benchfs(&s0);
    t0 = bench_now_ns();
    r.end_ns = t0 + (uint64_t)(seconds * 1e9);
    pthread_barrier_wait(&r.start);
    t0 = bench_now_ns();
    pthread_barrier_wait(&r.done);
    bench_snap_benchfs(&s1);
    *busy = bench_snap_busy(&s0, &s1);
    for (i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    t1 = r.end_ns > t0 ? r.end_ns : t0;
    pthread_barrier_destroy(&r.start);
    pthread_barrier_destroy(&r.done);
    if (atomic_load(&r.failed) != 0)
        return -1;
    for (i = 0; i < n; i++)
        total += r.counts[i];
    return (double)total / ((double)(t1 - t0) / 1e9);
}

static void threads_usage(FILE *f)
{
    fprintf(f, "Usage: benchfs-bench threads [--registry-dir DIR | --spawn-servers M] [OPTIONS]\n"
               "File creates per second from N threads of one process sharing one\n"
               "libbenchfs connection, for each N of a list.\n\n"
               "  -r, --registry-dir DIR  registry of running servers (default $BENCHFS_REGISTRY)\n"
               "      --spawn-servers M   start M benchfsd for this run (temp dir under $TMPDIR)\n"
               "      --set KEY=VALUE     configuration for spawned servers (repeatable)\n"
               "  -t, --threads LIST      thread counts (1,4)\n"
               "  -d, --duration SEC      seconds per measurement (2)\n"
               "  -h, --help              this help\n");
}

int bench_threads_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"registry-dir", required_argument, NULL, 'r'},
        {"spawn-servers", required_argument, NULL, 'S'},
        {"set", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *registry_opt = NULL, *sets[32];
    char registry[4096];
    struct bench_spawn *sp = NULL;
    uint64_t counts[16] = {1, 4};
    double seconds = 2, rate[16], base = 0, busy;
    long spawn = 0;
    int nsets = 0, ncounts = 2, opt, i, warm, rc = 0;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "r:t:d:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            registry_opt = optarg;
            break;
        case 'S':
            if (bench_parse_long(optarg, 1, BENCH_MAX_SERVERS, &spawn) < 0)
                return 2;
            break;
        case 's':
            if (nsets >= 32) {
                fprintf(stderr, "threads: too many --set\n");
                return 2;
            }
            sets[nsets++] = optarg;
            break;
        case 't':
            if (bench_parse_size_list(optarg, counts, 16, &ncounts) < 0)
                return 2;
            break;
        case 'd':
            if (bench_parse_seconds(optarg, &seconds) < 0)
                return 2;
            break;
        case 'h':
            threads_usage(stdout);
            return 0;
        default:
            threads_usage(stderr);
            return 2;
        }
    }
    for (i = 0; i < ncounts; i++) {
        if (counts[i] < 1 || counts[i] > THREADS_MAX) {
            fprintf(stderr, "threads: thread counts are 1..%d\n", THREADS_MAX);
            return 2;
        }
    }
    if (registry_opt == NULL)
        registry_opt = getenv("BENCHFS_REGISTRY");
    if (optind < argc || (registry_opt == NULL && spawn == 0)) {
        threads_usage(stderr);
        return 2;
    }
    if (spawn > 0) {
        if (bench_spawn_start((int)spawn, sets, nsets, registry, sizeof(registry), &sp) < 0)
            return 1;
    } else {
        snprintf(registry, sizeof(registry), "%s", registry_opt);
    }
    if (benchfs_connect(registry, NULL) < 0) {
        fprintf(stderr, "threads: %s\n", benchfs_last_error());
        bench_spawn_stop(sp);
        return 1;
    }
    printf("threads: %d servers, transport %s, %.1f s per measurement, load %.2f\n",
           benchfs_server_count(), bench_transport_label(), seconds, bench_loadavg());
    for (i = 0, warm = 1; i < ncounts; i++)
        warm = counts[i] > (uint64_t)warm ? (int)counts[i] : warm;
    if (threads_measure(warm, ncounts, seconds, &busy) < 0) {
        benchfs_disconnect();
        bench_spawn_stop(sp);
        return 1;
    }
    for (i = 0; i < ncounts; i++) {
        rate[i] = threads_measure((int)counts[i], i, seconds, &busy);
        if (rate[i] < 0) {
            rc = 1;
            break;
        }
        if (i == 0)
            base = rate[i];
        printf("  %2d thread%s  %10.0f creates/s  %.2fx   servers busy %3.0f %%\n", (int)counts[i],
               counts[i] == 1 ? " " : "s", rate[i], base > 0 ? rate[i] / base : 0, busy * 100);
    }
    benchfs_disconnect();
    bench_spawn_stop(sp);
    return rc;
}
