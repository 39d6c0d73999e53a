/*
 * mini_ior.c - an IOR-like MPI benchmark for BenchFS Mini (seed 001's flow).
 *
 *   mpirun -n 4 mini_ior --registry DIR --servers 2 -t 1m -b 4m -s 2
 *
 * The first --servers ranks start a server on the library's background
 * thread and publish server_<rank>.txt; the other ranks are clients. After a
 * barrier every client connects to every server, then (barrier) writes its
 * own file (file per process: segments x block, in transfers), and
 * (barrier) reads it back and verifies every byte. Client c's file lives on
 * server c % servers; each transfer is one object "<file>@<offset>", the
 * same layout the IOR backend uses. Bandwidth is the total bytes of all
 * clients over the slowest client's phase time. With --external the servers
 * are benchfsd_mini processes started beforehand and every rank is a client.
 *
 * Exit status: 0 if all data verified, 1 otherwise (2: usage).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream, strsignal, ... */
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchfs_mini.h"

struct ior_opts {
    const char *registry;
    const char *prefix;
    int servers;
    int external;
    uint64_t transfer;
    uint64_t block;
    uint64_t segments;
};

static int world_rank, world_size;

static int parse_size(const char *s, uint64_t *v_p)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -EINVAL;
    switch (*end) {
    case 'k':
    case 'K':
        v <<= 10;
        end++;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        end++;
        break;
    default:
        break;
    }
    if (*end != '\0' || v == 0)
        return -EINVAL;
    *v_p = v;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mini_ior --registry DIR [--servers K] [--external] [-t SIZE] [-b SIZE]\n"
               "                [-s N] [-o PREFIX]\n"
               "  --registry DIR  shared registry directory\n"
               "  --servers K     the first K ranks serve (default 1); with --external, K\n"
               "                  benchfsd_mini servers are already running and all ranks are "
               "clients\n"
               "  -t SIZE         transfer size (default 1m, at most 64m)\n"
               "  -b SIZE         block size per segment (default 4m, multiple of -t)\n"
               "  -s N            segments (default 2)\n"
               "  -o PREFIX       file name prefix (default /mini_ior/testfile)\n");
}

static int parse_args(int argc, char **argv, struct ior_opts *o)
{
    static const struct option opts[] = {
        {"registry", required_argument, NULL, 'R'},
        {"servers", required_argument, NULL, 'S'},
        {"external", no_argument, NULL, 'E'},
        {"transfer", required_argument, NULL, 't'},
        {"block", required_argument, NULL, 'b'},
        {"segments", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    o->prefix = "/mini_ior/testfile";
    o->servers = 1;
    o->transfer = 1 << 20;
    o->block = 4 << 20;
    o->segments = 2;
    while ((c = getopt_long(argc, argv, "t:b:s:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'R':
            o->registry = optarg;
            break;
        case 'S':
            o->servers = atoi(optarg);
            break;
        case 'E':
            o->external = 1;
            break;
        case 't':
            if (parse_size(optarg, &o->transfer) != 0)
                return -EINVAL;
            break;
        case 'b':
            if (parse_size(optarg, &o->block) != 0)
                return -EINVAL;
            break;
        case 's':
            if (parse_size(optarg, &o->segments) != 0)
                return -EINVAL;
            break;
        case 'o':
            o->prefix = optarg;
            break;
        case 'h':
            if (world_rank == 0)
                usage(stdout);
            return 1;
        default:
            return -EINVAL;
        }
    }
    if (o->registry == NULL || optind != argc || o->servers < 1 ||
        o->transfer > BENCHFS_MINI_MAX_DATA || o->block % o->transfer != 0)
        return -EINVAL;
    if (!o->external && o->servers >= world_size) {
        if (world_rank == 0)
            fprintf(stderr, "mini_ior: %d ranks cannot hold %d servers and a client\n", world_size,
                    o->servers);
        return -EINVAL;
    }
    return 0;
}

/* The expected contents of a transfer: 64-bit words unique per client/offset. */
static void pattern_fill(uint64_t *buf, size_t len, int client, uint64_t offset)
{
    for (size_t i = 0; i < len / 8; i++)
        buf[i] = ((uint64_t)(client + 1) << 48) ^ (offset + i * 8) ^ 0x5deece66dULL;
}

static uint64_t pattern_check(const uint64_t *buf, size_t len, int client, uint64_t offset)
{
    uint64_t bad = 0;

    for (size_t i = 0; i < len / 8; i++)
        bad += buf[i] != (((uint64_t)(client + 1) << 48) ^ (offset + i * 8) ^ 0x5deece66dULL);
    return bad;
}

/* One phase (write or read) of one client. Returns the number of errors. */
static uint64_t run_phase(const struct ior_opts *o, int client, int server, int writing,
                          uint64_t *buf)
{
    char path[BENCHFS_MINI_MAX_PATH + 1];
    uint64_t errors = 0;

    for (uint64_t seg = 0; seg < o->segments; seg++) {
        for (uint64_t x = 0; x < o->block / o->transfer; x++) {
            uint64_t offset = seg * o->block + x * o->transfer;
            ssize_t n;

            snprintf(path, sizeof(path), "%s.%08d@%" PRIu64, o->prefix, client, offset);
            if (writing) {
                pattern_fill(buf, o->transfer, client, offset);
                n = benchfs_mini_write(path, buf, o->transfer, server);
                if (n != 0) {
                    fprintf(stderr, "mini_ior[%d]: write %s: %s\n", world_rank, path,
                            benchfs_mini_errmsg());
                    errors++;
                }
                continue;
            }
            memset(buf, 0, o->transfer);
            n = benchfs_mini_read(path, buf, o->transfer, server);
            if (n != (ssize_t)o->transfer) {
                fprintf(stderr, "mini_ior[%d]: read %s: %s\n", world_rank, path,
                        n < 0 ? benchfs_mini_errmsg() : "short read");
                errors++;
                continue;
            }
            uint64_t bad = pattern_check(buf, o->transfer, client, offset);
            if (bad != 0) {
                fprintf(stderr, "mini_ior[%d]: %s: %" PRIu64 " corrupt words\n", world_rank, path,
                        bad);
                errors++;
            }
        }
    }
    return errors;
}

int main(int argc, char **argv)
{
    struct ior_opts o = {0};
    int provided, is_server, is_client, client = -1, nclients = 0, ret;
    uint64_t errors[2] = {0, 0}, all_errors[2] = {0, 0};
    double times[2] = {0, 0};
    MPI_Comm clients;
    uint64_t *buf = NULL;

    /* A server rank runs a library thread that never calls MPI. */
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    ret = parse_args(argc, argv, &o);
    if (ret != 0) {
        if (ret < 0 && world_rank == 0)
            usage(stderr);
        MPI_Finalize();
        return ret < 0 ? 2 : 0;
    }
    is_server = !o.external && world_rank < o.servers;
    is_client = !is_server;

    /* 1. Servers listen and publish their registry files. */
    ret = benchfs_mini_init_rank(o.registry, is_server, world_rank);
    if (ret == 0 && is_server)
        ret = benchfs_mini_start_server();
    if (ret != 0) {
        fprintf(stderr, "mini_ior[%d]: %s\n", world_rank, benchfs_mini_errmsg());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    /* 2. Every client connects to every server. */
    MPI_Comm_split(MPI_COMM_WORLD, is_client, world_rank, &clients);
    if (is_client) {
        MPI_Comm_rank(clients, &client);
        MPI_Comm_size(clients, &nclients);
        for (int s = 0; s < o.servers; s++) {
            if (benchfs_mini_connect(s) != 0) {
                fprintf(stderr, "mini_ior[%d]: connect to server %d: %s\n", world_rank, s,
                        benchfs_mini_errmsg());
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
        }
        buf = aligned_alloc(64, o.transfer);
        if (buf == NULL) {
            fprintf(stderr, "mini_ior[%d]: out of memory\n", world_rank);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);

    /* 3. Write, then read back and verify; clients only. */
    if (is_client) {
        for (int phase = 0; phase < 2; phase++) {
            double t0, dt;

            MPI_Barrier(clients);
            t0 = MPI_Wtime();
            errors[phase] = run_phase(&o, client, client % o.servers, phase == 0, buf);
            dt = MPI_Wtime() - t0;
            MPI_Reduce(&dt, &times[phase], 1, MPI_DOUBLE, MPI_MAX, 0, clients);
        }
        MPI_Reduce(errors, all_errors, 2, MPI_UINT64_T, MPI_SUM, 0, clients);
        if (client == 0) {
            double total = (double)o.segments * (double)o.block * nclients;
            printf("mini_ior: %d clients, %d servers%s, transfer %" PRIu64 " block %" PRIu64
                   " segments %" PRIu64 ", file per process\n",
                   nclients, o.servers, o.external ? " (external)" : "", o.transfer, o.block,
                   o.segments);
            printf("%-6s %12s %10s %10s %8s\n", "access", "bw(MiB/s)", "MiB", "time(s)", "errors");
            for (int p = 0; p < 2; p++)
                printf("%-6s %12.2f %10.2f %10.4f %8" PRIu64 "\n", p == 0 ? "write" : "read",
                       times[p] > 0 ? total / (1 << 20) / times[p] : 0.0, total / (1 << 20),
                       times[p], all_errors[p]);
            printf("mini_ior: data verification %s\n",
                   all_errors[0] + all_errors[1] == 0 ? "PASSED" : "FAILED");
            fflush(stdout);
        }
    }
    free(buf);
    /* Client 0 is world rank `first client`: share the verdict with every rank. */
    MPI_Bcast(all_errors, 2, MPI_UINT64_T, o.external ? 0 : o.servers, MPI_COMM_WORLD);

    /* 4. Clients hang up before servers stop, so nobody sees a reset mid-RPC. */
    MPI_Barrier(MPI_COMM_WORLD);
    benchfs_mini_disconnect(-1);
    MPI_Barrier(MPI_COMM_WORLD);
    benchfs_mini_finalize();
    MPI_Comm_free(&clients);
    MPI_Finalize();
    return all_errors[0] + all_errors[1] == 0 ? 0 : 1;
}
