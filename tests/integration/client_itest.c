/*
 * client_itest.c - shared helpers of the client integration tests.
 */
#include "client_itest.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct harness itest_h;
void (*itest_fail_hook)(void);
static bool itest_started;
static bool itest_child;

void itest_fail(void)
{
    if (!itest_child) {
        fflush(stderr);
        if (itest_fail_hook != NULL)
            itest_fail_hook();
        itest_stop();
    }
    _exit(1);
}

void itest_stop(void)
{
    if (itest_child || !itest_started)
        return;
    itest_started = false;
    harness_cleanup(&itest_h);
}

void itest_start(int nservers, const char *const *extra_args)
{
    char bin[512];
    int rc, i;

    harness_bin("benchfsd", bin, sizeof(bin));
    if (access(bin, X_OK) < 0) {
        fprintf(stderr, "skip: %s not built\n", bin);
        exit(ITEST_SKIP);
    }
    rc = harness_init(&itest_h, nservers);
    if (rc < 0) {
        fprintf(stderr, "harness_init: %s\n", strerror(-rc));
        exit(1);
    }
    for (i = 0; extra_args != NULL && extra_args[i] != NULL && i < 8; i++)
        snprintf(itest_h.extra_args[itest_h.nextra++], sizeof(itest_h.extra_args[0]), "%s",
                 extra_args[i]);
    itest_started = true;
    rc = harness_start_all(&itest_h, 20000);
    if (rc < 0) {
        fprintf(stderr, "harness_start_all: %s\n", strerror(-rc));
        itest_fail();
    }
}

void itest_connect(int rpc_timeout_ms)
{
    struct benchfs_options o;

    benchfs_options_init(&o);
    o.discovery_timeout_ms = 20000;
    if (rpc_timeout_ms > 0)
        o.rpc_timeout_ms = rpc_timeout_ms;
    CHECK(benchfs_connect(itest_h.registry, &o) == 0);
}

void itest_connect_chunk(uint64_t chunk_size)
{
    struct benchfs_options o;

    benchfs_options_init(&o);
    o.discovery_timeout_ms = 20000;
    o.chunk_size = chunk_size;
    CHECK(benchfs_connect(itest_h.registry, &o) == 0);
}

uint64_t itest_server_ops(void)
{
    struct benchfs_server_info info;
    uint64_t sum = 0;
    int i, n = benchfs_server_count();

    CHECK(n > 0);
    for (i = 0; i < n; i++) {
        CHECK(benchfs_server_info(i, &info) == 0);
        sum += info.ops;
    }
    return sum;
}

int itest_fork_clients(int n, int (*fn)(int idx, void *arg), void *arg)
{
    uint64_t deadline = itest_now_ms() + 90000;
    pid_t pids[64];
    bool done[64] = {false};
    int i, failed = 0, left, status;

    if (n > 64)
        n = 64;
    fflush(stdout);
    fflush(stderr);
    for (i = 0; i < n; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0) {
            itest_child = true;
            _exit(fn(i, arg) == 0 ? 0 : 1);
        }
    }
    /* A failed child may leave the others waiting at a barrier: kill them. */
    for (left = n; left > 0;) {
        bool progress = false;

        for (i = 0; i < n; i++) {
            if (done[i] || waitpid(pids[i], &status, WNOHANG) != pids[i])
                continue;
            done[i] = true;
            left--;
            progress = true;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "client %d failed (status 0x%x)\n", i, status);
                failed++;
            }
        }
        if (left > 0 && (failed > 0 || itest_now_ms() > deadline)) {
            if (failed == 0)
                fprintf(stderr, "clients did not finish in time\n");
            for (i = 0; i < n; i++) {
                if (!done[i]) {
                    kill(pids[i], SIGKILL);
                    waitpid(pids[i], &status, 0);
                    done[i] = true;
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

pid_t itest_fork_one(int (*fn)(void *arg), void *arg)
{
    pid_t pid;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        itest_child = true;
        _exit(fn(arg) == 0 ? 0 : 1);
    }
    return pid;
}

uint64_t itest_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
