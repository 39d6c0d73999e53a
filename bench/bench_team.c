/*
 * bench_team.c - forked worker processes with pipe barriers (bench.h).
 *
 * Why processes and pipes: every BenchFS client is one UCX worker, and the
 * benchmarks want P independent clients (as IOR's MPI ranks are). A barrier
 * is one byte up a shared pipe per worker, counted by the coordinator,
 * then one byte down each worker's private pipe. The coordinator timestamps
 * the last arrival and the release, so a phase's time is "release of the
 * barrier before it" to "last arrival at the barrier after it", exactly
 * IOR's barrier-to-barrier timing. Private down pipes matter: with one
 * shared down pipe a fast worker could eat a slower worker's token of the
 * same round.
 *
 * Failure handling: the coordinator polls the up pipe with a short timeout
 * and checks its children; a worker that exited early (crash, error) fails
 * the release and every other worker is killed by pid. Workers that lose
 * the coordinator see EOF on their down pipe and exit.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void team_close(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void team_init_fds(struct bench_team *t)
{
    t->up_rd = t->up_wr = -1;
    for (int i = 0; i < BENCH_MAX_TEAM; i++)
        t->down_rd[i] = t->down_wr[i] = -1;
}

static void team_close_all(struct bench_team *t)
{
    team_close(&t->up_rd);
    team_close(&t->up_wr);
    for (int i = 0; i < BENCH_MAX_TEAM; i++) {
        team_close(&t->down_rd[i]);
        team_close(&t->down_wr[i]);
    }
}

void bench_team_cleanup(struct bench_team *t)
{
    if (t->nprocs > 0)
        bench_team_abort(t);
    if (t->shared != NULL)
        munmap(t->shared, t->shared_len);
    t->shared = NULL;
    if (t->arrive_ns != NULL)
        munmap(t->arrive_ns, BENCH_MAX_TEAM * sizeof(uint64_t));
    t->arrive_ns = NULL;
}

/* In a new worker: keep only its own ends of the pipes. */
static void team_worker_fds(struct bench_team *t, int rank)
{
    team_close(&t->up_rd);
    for (int i = 0; i < t->nprocs; i++) {
        team_close(&t->down_wr[i]);
        if (i != rank)
            team_close(&t->down_rd[i]);
    }
}

int bench_team_start(struct bench_team *t, int nprocs, size_t shared_len, bench_worker_fn fn,
                     void *arg)
{
    int fds[2], rc;
    pid_t coordinator;

    if (nprocs < 1 || nprocs > BENCH_MAX_TEAM)
        return -EINVAL;
    memset(t, 0, sizeof(*t));
    team_init_fds(t);
    t->nprocs = nprocs;
    t->rank = -1;
    t->timeout_ms = 600000;
    t->shared_len = shared_len ? shared_len : 1;
    t->shared =
        mmap(NULL, t->shared_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (t->shared == MAP_FAILED) {
        rc = -errno;
        t->shared = NULL;
        return rc;
    }
    t->arrive_ns = mmap(NULL, BENCH_MAX_TEAM * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (t->arrive_ns == MAP_FAILED) {
        t->arrive_ns = NULL;
        goto err_errno;
    }
    if (pipe2(fds, O_CLOEXEC) < 0)
        goto err_errno;
    t->up_rd = fds[0];
    t->up_wr = fds[1];
    for (int i = 0; i < nprocs; i++) {
        if (pipe2(fds, O_CLOEXEC) < 0)
            goto err_errno;
        t->down_rd[i] = fds[0];
        t->down_wr[i] = fds[1];
    }
    /* Buffered output would be printed once per process otherwise. */
    fflush(NULL);
    coordinator = getpid();
    for (int i = 0; i < nprocs; i++) {
        pid_t pid = fork();

        if (pid < 0)
            goto err_errno;
        if (pid == 0) {
            /* A coordinator killed by a timeout must not leave workers. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != coordinator)
                _exit(1);
            team_worker_fds(t, i);
            t->rank = i;
            rc = fn(t, i, arg);
            fflush(NULL);
            _exit(rc == 0 ? 0 : 1);
        }
        t->pids[i] = pid;
    }
    /* The coordinator reads up and writes down only. */
    team_close(&t->up_wr);
    for (int i = 0; i < nprocs; i++)
        team_close(&t->down_rd[i]);
    return 0;

err_errno:
    rc = -errno;
    bench_team_cleanup(t);
    return rc;
}

int bench_team_barrier(struct bench_team *t)
{
    char c = 'a';
    ssize_t n;

    t->arrive_ns[t->rank] = bench_now_ns();
    do {
        n = write(t->up_wr, &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        return -EPIPE;
    do {
        n = read(t->down_rd[t->rank], &c, 1);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -EPIPE;
}

/* Has any worker exited? Reaped workers get pid 0. */
static bool team_lost_worker(struct bench_team *t)
{
    for (int i = 0; i < t->nprocs; i++) {
        int status;

        if (t->pids[i] > 0 && waitpid(t->pids[i], &status, WNOHANG) == t->pids[i]) {
            fprintf(stderr, "benchfs-bench: worker %d (pid %d) exited early (%s %d)\n", i,
                    (int)t->pids[i], WIFSIGNALED(status) ? "signal" : "status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            t->pids[i] = 0;
            return true;
        }
    }
    return false;
}

int bench_team_release(struct bench_team *t, uint64_t *arrived_ns_p, uint64_t *released_ns_p)
{
    uint64_t start = bench_now_ns(), arrived, released;
    int got = 0;
    char buf[BENCH_MAX_TEAM];

    while (got < t->nprocs) {
        struct pollfd p = {.fd = t->up_rd, .events = POLLIN};
        int r = poll(&p, 1, 100);

        if (r < 0 && errno != EINTR)
            goto fail;
        if (r > 0) {
            ssize_t n = read(t->up_rd, buf, (size_t)(t->nprocs - got));

            if (n > 0)
                got += (int)n;
            else if (n == 0 || errno != EINTR)
                goto fail; /* every worker is gone */
            continue;
        }
        if (team_lost_worker(t))
            goto fail;
        if (bench_now_ns() - start > (uint64_t)t->timeout_ms * 1000000ull) {
            fprintf(stderr, "benchfs-bench: workers did not reach a barrier in %d s\n",
                    t->timeout_ms / 1000);
            bench_team_abort(t);
            return -ETIMEDOUT;
        }
    }
    /* The last arrival as the workers stamped it (the pipe read above
     * guarantees the stamps are visible); the release stamp comes before
     * the first token, so no worker's work can precede it. */
    arrived = 0;
    for (int i = 0; i < t->nprocs; i++)
        if (t->arrive_ns[i] > arrived)
            arrived = t->arrive_ns[i];
    released = bench_now_ns();
    for (int i = 0; i < t->nprocs; i++) {
        char c = 'g';

        if (write(t->down_wr[i], &c, 1) != 1)
            goto fail;
    }
    if (arrived_ns_p != NULL)
        *arrived_ns_p = arrived;
    if (released_ns_p != NULL)
        *released_ns_p = released;
    return 0;

fail:
    bench_team_abort(t);
    return -ECHILD;
}

int bench_team_finish(struct bench_team *t)
{
    int failed = 0;

    /* Closing the down pipes frees any worker stuck at a barrier. */
    for (int i = 0; i < t->nprocs; i++)
        team_close(&t->down_wr[i]);
    for (int i = 0; i < t->nprocs; i++) {
        int status;

        if (t->pids[i] <= 0)
            continue;
        if (waitpid(t->pids[i], &status, 0) == t->pids[i] &&
            !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            fprintf(stderr, "benchfs-bench: worker %d failed (%s %d)\n", i,
                    WIFSIGNALED(status) ? "signal" : "status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            failed++;
        }
        t->pids[i] = 0;
    }
    team_close_all(t);
    return failed == 0 ? 0 : -ECHILD;
}

void bench_team_abort(struct bench_team *t)
{
    for (int i = 0; i < t->nprocs; i++)
        if (t->pids[i] > 0)
            kill(t->pids[i], SIGKILL);
    for (int i = 0; i < t->nprocs; i++) {
        if (t->pids[i] > 0)
            waitpid(t->pids[i], NULL, 0);
        t->pids[i] = 0;
    }
    team_close_all(t);
}

double bench_snap_cpu_s(const struct bench_srv_snap *a, const struct bench_srv_snap *b)
{
    if (!a->ok || !b->ok || b->cpu_ns < a->cpu_ns)
        return (double)NAN;
    return (double)(b->cpu_ns - a->cpu_ns) / 1e9;
}

double bench_snap_busy(const struct bench_srv_snap *a, const struct bench_srv_snap *b)
{
    if (!a->ok || !b->ok || b->busy_ns < a->busy_ns || b->at_ns <= a->at_ns || a->nservers < 1)
        return (double)NAN;
    return (double)(b->busy_ns - a->busy_ns) / ((double)(b->at_ns - a->at_ns) * a->nservers);
}

/* ---- calibration: what waking another process costs here ---------------- */

/*
 * `benchfs-bench calib`: round trips between two processes (a) through a
 * pair of pipes, blocking (every message is a sleep and a wakeup), on any
 * CPU and with both pinned to CPU 0, and (b) by spinning on a shared cache
 * line. (a) is the price of every RPC whose waiter went to sleep; (b) is
 * the floor of any shared-memory transport. Both explain BenchFS numbers
 * on a given machine (docs/performance.md).
 */
#define CALIB_PIPE_N 20000
#define CALIB_SPIN_N 200000

static double calib_pipe(int cpu)
{
    int a[2], b[2];
    char c = 'x';
    uint64_t t0, t1;
    pid_t pid;

    if (pipe(a) < 0 || pipe(b) < 0)
        return NAN;
    if (cpu >= 0) {
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof(set), &set); /* inherited by the child */
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        for (int i = 0; i < CALIB_PIPE_N; i++)
            if (read(a[0], &c, 1) != 1 || write(b[1], &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    t0 = bench_now_ns();
    for (int i = 0; pid > 0 && i < CALIB_PIPE_N; i++)
        if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
            break;
    t1 = bench_now_ns();
    if (pid > 0)
        waitpid(pid, NULL, 0);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    if (cpu >= 0) {
        cpu_set_t all;

        CPU_ZERO(&all);
        for (int i = 0; i < CPU_SETSIZE; i++)
            CPU_SET(i, &all);
        sched_setaffinity(0, sizeof(all), &all);
    }
    return pid > 0 ? (double)(t1 - t0) / CALIB_PIPE_N : NAN;
}

static double calib_spin(void)
{
    volatile uint64_t *flag =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    uint64_t t0, t1;
    pid_t pid;

    if (flag == MAP_FAILED)
        return NAN;
    *flag = 0;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        /* odd values are the parent's pings, even the child's pongs */
        for (uint64_t i = 0; i < CALIB_SPIN_N; i++) {
            while (*flag != 2 * i + 1)
                __builtin_ia32_pause();
            *flag = 2 * i + 2;
        }
        _exit(0);
    }
    t0 = bench_now_ns();
    for (uint64_t i = 0; pid > 0 && i < CALIB_SPIN_N; i++) {
        *flag = 2 * i + 1;
        while (*flag != 2 * i + 2)
            __builtin_ia32_pause();
    }
    t1 = bench_now_ns();
    if (pid > 0)
        waitpid(pid, NULL, 0);
    munmap((void *)flag, 4096);
    return pid > 0 ? (double)(t1 - t0) / CALIB_SPIN_N : NAN;
}

int bench_calib_main(int argc, char **argv)
{
    const char *tsv_path = NULL, *label = "calib";
    double any, same, spin;
    struct bench_tsv tsv;
    char a[32], b[32], c[32];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tsv") == 0 && i + 1 < argc) {
            tsv_path = argv[++i];
        } else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc) {
            label = argv[++i];
        } else {
            fprintf(stderr, "Usage: benchfs-bench calib [--tsv FILE] [--label TEXT]\n"
                            "Round trips between two processes: blocking pipes (a sleep\n"
                            "and a wakeup per message) and spinning on shared memory.\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    any = calib_pipe(-1);
    same = calib_pipe(0);
    spin = calib_spin();
    printf("pipe round trip (sleep + wakeup each way), any CPU: %s\n",
           bench_fmt_ns(any, a, sizeof(a)));
    printf("pipe round trip, both processes on CPU 0:           %s\n",
           bench_fmt_ns(same, b, sizeof(b)));
    printf("shared-memory spin round trip (two CPUs):           %s\n",
           bench_fmt_ns(spin, c, sizeof(c)));
    if (bench_tsv_open(&tsv, tsv_path, "calib", label) == 0) {
        bench_tsv_put(&tsv, "host", "pipe_rtt_us", any / 1e3);
        bench_tsv_put(&tsv, "host", "pipe_rtt_1cpu_us", same / 1e3);
        bench_tsv_put(&tsv, "host", "spin_rtt_us", spin / 1e3);
        bench_tsv_close(&tsv);
    }
    return 0;
}
