/*
 * bench_main.c - benchfs-bench: the BenchFS benchmark program. Dispatches
 * to the subcommands (bench.h); each prints tables and, with --json, the
 * same numbers for bench/run_all.sh. See docs/performance.md.
 */
#include "bench.h"

#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: benchfs-bench COMMAND [OPTIONS]\n"
                 "Benchmarks of the BenchFS distributed file system.\n\n"
                 "Commands:\n"
                 "  small   two-node small-file benchmark (seed 002): --mode server | client\n"
                 "  rpc     RPC level: ping latency / rate, chunk write / read bandwidth\n"
                 "  ior     IOR-like bandwidth (fpp, shared) and mdtest mode, BenchFS vs local\n"
                 "  scale   connection storm: K clients connect + create/stat/remove at once\n"
                 "  calib   what a process wakeup and a shared-memory round trip cost here\n"
                 "  threads creates/s from N threads of one process (one connection)\n\n"
                 "'benchfs-bench COMMAND --help' describes each. Transports come from the\n"
                 "environment: UCX_TLS=tcp,self, or BENCHFS_PEER_FAILURE=0 UCX_TLS=shm,self for\n"
                 "shared memory (servers and clients alike). See docs/performance.md.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    /* Subcommands parse argv[1..]: getopt sees the command as argv[0]. */
    if (strcmp(argv[1], "small") == 0)
        return bench_small_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "rpc") == 0)
        return bench_rpc_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "ior") == 0)
        return bench_ior_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "scale") == 0)
        return bench_scale_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "calib") == 0)
        return bench_calib_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "threads") == 0)
        return bench_threads_main(argc - 1, argv + 1);
    fprintf(stderr, "benchfs-bench: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
