/*
 * benchfsd_mini.c - standalone BenchFS Mini server.
 *
 *   benchfsd_mini --registry DIR [--rank N]
 *
 * Serves until SIGINT or SIGTERM, then removes DIR/server_<N>.txt and exits 0.
 * N defaults to the MPI rank when started by mpirun/srun, else 0. Uses the
 * public API only: the server runs on the library's thread while the main
 * thread waits for a signal.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchfs_mini.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: benchfsd_mini --registry DIR [--rank N]\n"
               "  --registry DIR  shared directory where server_<N>.txt is published\n"
               "  --rank N        server rank (default: the MPI rank, else 0)\n"
               "Environment: BENCHFS_LOG=debug, BENCHFS_MINI_HOST, UCX_TLS, ...\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"registry", required_argument, NULL, 'r'},
        {"rank", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *registry = NULL;
    long rank = -1;
    sigset_t set;
    char *end;
    int c, sig, ret;

    while ((c = getopt_long(argc, argv, "r:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            registry = optarg;
            break;
        case 'n':
            errno = 0;
            rank = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || rank < 0 || rank > BENCHFS_MINI_MAX_RANK) {
                fprintf(stderr, "benchfsd_mini: invalid rank '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (registry == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }

    /* Block the stop signals before any thread exists; sigwait() takes them. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);

    ret =
        rank >= 0 ? benchfs_mini_init_rank(registry, 1, (int)rank) : benchfs_mini_init(registry, 1);
    if (ret != 0) {
        fprintf(stderr, "benchfsd_mini: init failed: %s\n", benchfs_mini_errmsg());
        return 1;
    }
    ret = benchfs_mini_start_server();
    if (ret != 0) {
        fprintf(stderr, "benchfsd_mini: cannot start: %s\n", benchfs_mini_errmsg());
        benchfs_mini_finalize();
        return 1;
    }
    if (sigwait(&set, &sig) != 0)
        sig = 0;
    fprintf(stderr, "benchfsd_mini: %s, shutting down\n", sig ? strsignal(sig) : "sigwait failed");
    benchfs_mini_finalize();
    return 0;
}
