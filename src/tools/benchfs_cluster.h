/*
 * benchfs_cluster.h - the local cluster manager behind `benchfs cluster`
 * (benchfs_cluster.c: the start/status/stop commands; benchfs_cluster_proc.c:
 * processes, log files and the pids file).
 *
 * A cluster started by `benchfs cluster start` is described by
 * <registry>/cluster.pids, which records each server's pid and its start
 * time from /proc/<pid>/stat, so status and stop never mistake a recycled
 * pid for a server (and never signal a process the tool did not start):
 *     BENCHFS-CLUSTER-PIDS 1
 *     data_dir=/abs/data
 *     log_dir=/abs/data/logs
 *     node node_0 12345 987654321
 */
#ifndef BENCHFS_TOOLS_BENCHFS_CLUSTER_H
#define BENCHFS_TOOLS_BENCHFS_CLUSTER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "registry/registry.h"
#include "tools/benchfs_cli.h"

#define CLUSTER_PIDS_FILE   "cluster.pids"
#define CLUSTER_PIDS_MAGIC  "BENCHFS-CLUSTER-PIDS 1"
#define CLUSTER_FILE        "cluster" /* the registry's server count (registry.h) */
#define CLUSTER_MAX_SERVERS 4096
#define CLUSTER_WAIT_MS     30000 /* default for start and stop */

struct cl_node {
    char id[REGISTRY_NODE_ID_MAX + 1];
    pid_t pid;
    unsigned long long start; /* /proc/<pid>/stat field 22, clock ticks */
    bool ready;               /* published its .addr (start) */
    bool exited;              /* reaped (start) or gone (stop) */
    int wstatus;              /* wait status when reaped by start */
    bool unstoppable;         /* stop: could not be signalled (EPERM) */
};

struct cl_cluster {
    char registry[PATH_MAX]; /* absolute after start */
    char data_dir[PATH_MAX];
    char log_dir[PATH_MAX];
    unsigned n;
    struct cl_node *nodes; /* malloc'd, n of them */
};

/* State and start time of `pid` from /proc/<pid>/stat. 0, or -ENOENT when
 * there is no such process. */
int cluster_proc_stat_read(pid_t pid, char *state_p, unsigned long long *start_p);

/* Is the server of `node` still running? A zombie (exited, not yet reaped
 * by its new parent) and a recycled pid (other start time) count as gone. */
bool cluster_node_alive(const struct cl_node *node);

/* For every recorded server that is gone, adopt the live local pid its
 * registry file names (a server restarted by hand), with a warning. */
void cluster_adopt_restarted(struct cl_cluster *c);

void cluster_sleep_ms(long ms);

/* Find benchfsd next to this executable (/proc/self/exe), then in PATH.
 * 0 with the path in out, or -1 (reported). */
int cluster_find_server_bin(char *out, size_t outlen);

/*
 * Fork and exec `bin` with argv as a detached server: own session, stdin
 * /dev/null, stdout and stderr to log_path (truncated), no other inherited
 * descriptors. `one_host`: it runs servers of this host only, which get
 * shared-memory transports only when UCX_TLS is unset. An exec failure is
 * reported back through a close-on-exec pipe. Returns 0 and the child's
 * pid, or -errno (nothing left running).
 */
int cluster_node_spawn(const char *bin, char *const argv[], const char *log_path, bool one_host,
                       pid_t *pid_p);

/* Local mkdir -p. 0 or -errno (reported). */
int cluster_mkdir_p(const char *dir);

/* mkdir -p `dir`, then its canonical absolute path into out (PATH_MAX).
 * 0 or -errno (reported). */
int cluster_dir_abs(const char *dir, char *out);

/* Print the last `lines` lines of a log file to stderr, indented. */
void cluster_log_tail(const char *path, int lines);

/* <log_dir>/<id>.log and <registry>/<id>.addr. */
void cluster_node_log_path(const struct cl_cluster *c, const struct cl_node *node, char *out,
                           size_t outlen);
void cluster_node_addr_path(const struct cl_cluster *c, const struct cl_node *node, char *out,
                            size_t outlen);

/* Is <registry>/<id>.addr present, valid, and naming this node's pid?
 * started_ns_p (may be NULL) receives the server's start time. */
bool cluster_node_registered(const struct cl_cluster *c, const struct cl_node *node,
                             uint64_t *started_ns_p);

/* Write <registry>/cluster.pids atomically. 0 or -1 (reported). */
int cluster_pids_write(const struct cl_cluster *c);

/* Read <registry>/cluster.pids into c (c->registry set by the caller; on
 * success the caller frees c->nodes). Returns 0, -ENOENT when there is none
 * (not reported), or -EINVAL (reported). */
int cluster_pids_read(struct cl_cluster *c);

/* Remove <registry>/cluster.pids and the registry's cluster file. */
void cluster_pids_remove(const struct cl_cluster *c);

/* The registry of a cluster subcommand: `opt` (its --registry), else the
 * global one. 0, or prints a usage error and returns CLI_EXIT_USAGE. */
int cluster_registry(struct cli_ctx *ctx, const char *opt, const char *cmd, struct cl_cluster *c);

/*
 * Before a start: every <node_id>.addr in the registry must be stale (this
 * host, process gone); those are removed with a warning. A live, foreign
 * or corrupt one is reported and makes this return -1; else 0.
 */
int cluster_registry_clean(const char *registry);

/*
 * Stop every server of c that is still running: SIGTERM, wait up to
 * timeout_ms, then SIGKILL (with a warning) and 5 s more. `our_children`:
 * the servers are this process's children (a failed start) and are reaped.
 * Then checks that the registry files are gone, removing stale ones.
 * Returns 0 when every server exited gracefully and cleaned up, else
 * CLI_EXIT_FAIL (reported).
 */
int cluster_stop_nodes(struct cl_cluster *c, int timeout_ms, bool our_children);

/* benchfs_cluster_mount.c: mount the started cluster on `dir` with
 * `benchfs mount` and record it in <registry>/cluster.mount (0, or -1
 * reported); unmount what is recorded and wait up to timeout_ms for the
 * daemon to exit (0 also when nothing is mounted, -1 reported). */
int cluster_mount_start(const struct cl_cluster *c, const char *dir);
int cluster_mount_stop(const struct cl_cluster *c, int timeout_ms);

#endif
