/*
 * benchfsd_mpi.c - BenchFS servers launched by MPI (seed 004).
 *
 *   mpirun -n N benchfsd_mpi <registry_dir> [config_file]
 *
 * Each rank serves node id node_<rank> from <data_dir>/rank_<rank> and
 * publishes <registry_dir>/node_<rank>.addr. Rank 0 creates the cluster
 * cookie and the cluster file (N servers) before anyone publishes. Start-up
 * results are exchanged with a non-blocking allgather bounded by
 * network.startup_timeout_ms (default 60 s): every rank learns which
 * ranks failed or never answered and exits non-zero naming them. MPI is used
 * only for start-up; the data path is UCX. SIGINT/SIGTERM (what mpirun sends
 * on Ctrl+C) stop every rank gracefully.
 */
#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "registry/registry.h"
#include "server/daemon_opts.h"
#include "server/server.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: mpirun -n <N> benchfsd_mpi <registry_dir> [config_file]\n"
                 "Start one BenchFS server per MPI rank. config_file defaults to benchfs.toml\n"
                 "in the working directory (built-in defaults when absent). Each rank serves\n"
                 "node_<rank> from <data_dir>/rank_<rank>. Ctrl+C stops all ranks.\n");
}

/* Wait for every rank's start-up status; returns 0 when all are up. */
static int mpi_gather_status(int rank, int size, int mine, int timeout_ms, const char *registry)
{
    int *all = malloc(sizeof(int) * (size_t)size);
    uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    MPI_Request req;
    int done = 0, failed = 0;
    char list[4096] = "";
    size_t off = 0;

    if (all == NULL)
        return -ENOMEM;
    MPI_Iallgather(&mine, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD, &req);
    while (!done) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done)
            break;
        if (time_mono_ns() > deadline) {
            /* Someone never reached the exchange: name the ranks whose
             * registry file is missing. */
            for (int i = 0; i < size; i++) {
                char path[PATH_MAX];

                snprintf(path, sizeof(path), "%s/node_%d.addr", registry, i);
                if (access(path, F_OK) < 0 && off < sizeof(list) - 32)
                    off += (size_t)snprintf(list + off, sizeof(list) - off, " node_%d", i);
            }
            log_error("timed out after %.1f s waiting for all %d ranks to register; missing:%s",
                      timeout_ms / 1000.0, size, off ? list : " (unknown)");
            free(all);
            return -ETIMEDOUT;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < size; i++) {
        if (all[i] != 0) {
            failed++;
            if (off < sizeof(list) - 48)
                off += (size_t)snprintf(list + off, sizeof(list) - off, " node_%d (%s)", i,
                                        strerror(-all[i]));
        }
    }
    free(all);
    if (failed > 0) {
        if (rank == 0 || mine != 0)
            log_error("%d of %d ranks could not start; missing:%s", failed, size, list);
        return -EIO;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *registry, *config_path = "benchfs.toml";
    bool config_required = false;
    struct server *srv = NULL;
    struct config cfg;
    char err[1024], node[64], base[CONFIG_STR_MAX], data[CONFIG_STR_MAX + 32];
    int rank = 0, size = 1, rc, mine = 0, provided;

    /* Before MPI and UCX start threads, so SIGINT/SIGTERM reach only the
     * loop's signalfd and every rank shuts down gracefully. */
    daemon_block_signals();
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 2 || argc > 3 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (rank == 0)
            usage(argc < 2 || argc > 3 ? stderr : stdout);
        MPI_Finalize();
        return argc < 2 || argc > 3 ? 2 : 0;
    }
    registry = argv[1];
    if (argc == 3) {
        config_path = argv[2];
        config_required = true;
    }
    snprintf(node, sizeof(node), "node_%d", rank);
    if (daemon_load_config(&cfg, config_path, config_required, "benchfsd_mpi") < 0) {
        MPI_Finalize();
        return 2;
    }
    /* Rank 0 logs at the configured level, the others at warn (seed 004);
     * BENCHFS_LOG overrides both inside log_init. */
    log_init(rank == 0 ? (enum log_level)cfg.log_level
                       : (cfg.log_level < LOG_LEVEL_WARN ? (enum log_level)cfg.log_level
                                                         : LOG_LEVEL_WARN),
             node);
    snprintf(base, sizeof(base), "%s", cfg.data_dir);
    snprintf(data, sizeof(data), "%s/rank_%d", base, rank);
    if (config_set(&cfg, "node.node_id", node, err, sizeof(err)) < 0 ||
        config_set(&cfg, "node.data_dir", data, err, sizeof(err)) < 0 ||
        config_set(&cfg, "node.registry_dir", registry, err, sizeof(err)) < 0) {
        log_error("%s", err);
        mine = -EINVAL;
    }

    /* The registry must exist and be writable (seed 004 troubleshooting). */
    if (mine == 0 && registry_dir_check(registry, err, sizeof(err)) < 0) {
        if (rank == 0)
            log_error("%s", err);
        mine = -ENOENT;
    }
    if (rank == 0 && mine == 0 && registry_reset(registry, (unsigned)size, err, sizeof(err)) < 0) {
        log_error("cannot prepare registry %s: %s", registry, err);
        mine = -EIO;
    }
    /* Nobody publishes before rank 0 has reset the registry. */
    MPI_Bcast(&mine, rank == 0 ? 1 : 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (mine != 0) {
        MPI_Finalize();
        return 1;
    }
    rc = server_create(&cfg, &srv, err, sizeof(err));
    if (rc == 0)
        rc = server_publish(srv, err, sizeof(err));
    if (rc < 0) {
        log_error("rank %d cannot start: %s", rank, err);
        mine = rc;
    }
    rc = mpi_gather_status(rank, size, mine, (int)cfg.startup_timeout_ms, registry);
    if (rc == -ETIMEDOUT) {
        server_destroy(srv);
        MPI_Abort(MPI_COMM_WORLD, 1);
        return 1;
    }
    if (rc < 0) {
        server_destroy(srv);
        MPI_Finalize();
        return 1;
    }
    if (rank == 0)
        log_info("all %d servers registered in %s", size, registry);
    rc = server_run(srv, true);
    server_destroy(srv);
    MPI_Finalize();
    return rc < 0 ? 1 : 0;
}
