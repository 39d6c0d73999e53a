/*
 * harness.h - start and stop real benchfsd processes for multi-process tests.
 *
 * A cluster lives in a private temp directory (mkdtemp under $TMPDIR or
 * /tmp): <tmp>/registry, <tmp>/data/<node_id>, <tmp>/logs/<node_id>.log.
 * Servers are started with fork+exec of the benchfsd binary (path from
 * $BENCHFS_BIN_DIR, else the build dir compiled in), readiness is the
 * registry file (never a fixed sleep), and stopping signals only the pids
 * the harness started. Transport: the caller's environment (UCX_TLS).
 */
#ifndef BENCHFS_TESTS_HARNESS_H
#define BENCHFS_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HARNESS_MAX_SERVERS 16

struct harness_server {
    char node_id[64];
    char data_dir[512];
    char log_path[512];
    pid_t pid; /* 0 when not running */
};

struct harness {
    char root[256];
    char registry[320];
    int nservers;
    struct harness_server servers[HARNESS_MAX_SERVERS];
    char extra_args[8][128]; /* extra benchfsd args, e.g. "--set=rpc.timeout_ms=500" */
    int nextra;
};

/* Create the temp tree; does not start servers. 0 or -errno. */
int harness_init(struct harness *h, int nservers);

/* Start server i (node id node_<i>) and wait up to timeout_ms for its
 * registry file. 0, or -errno with the log tail printed to stderr. */
int harness_start_server(struct harness *h, int i, int timeout_ms);

/* Start all servers and write the cluster file. */
int harness_start_all(struct harness *h, int timeout_ms);

/* Send `sig` to server i and wait for it to exit (SIGKILL after
 * timeout_ms). Returns its exit status as from waitpid, or -errno. */
int harness_stop_server(struct harness *h, int i, int sig, int timeout_ms);

/* Stop every running server with SIGTERM, then remove the temp tree unless
 * $BENCHFS_KEEP_TEST_DIRS is set. */
void harness_cleanup(struct harness *h);

/* Path of a binary in the build tree (benchfsd, benchfs, ...). */
const char *harness_bin(const char *name, char *buf, size_t len);

#endif
