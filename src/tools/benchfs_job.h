/*
 * benchfs_job.h - internals of `benchfs job` (docs/jobs.md), split by
 * concern:
 *   benchfs_job.c       options, start, stop, run, the `_server` wrapper
 *   benchfs_job_proc.c  the job.state file, launcher processes (wait, stop),
 *                       node-local cleanup, PBS host counting, --mount
 *
 * <registry>/job.state records a started job, so `job stop` (another
 * process, later in the batch script) finds what to stop:
 *     BENCHFS-JOB 1
 *     launcher=srun
 *     servers=4
 *     data_dir=/local/benchfs.1234
 *     mount=
 *     pid <pid> <start time, /proc/<pid>/stat field 22>
 *     mount_pid <pid> <start time>
 * Each pid is checked against its start time before it is signalled, like
 * cluster.pids (benchfs_cluster.h).
 */
#ifndef BENCHFS_TOOLS_BENCHFS_JOB_H
#define BENCHFS_TOOLS_BENCHFS_JOB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "tools/benchfs_cluster.h"

#define JOB_STATE_FILE  "job.state"
#define JOB_STATE_MAGIC "BENCHFS-JOB 1"
#define JOB_MAX_LOCAL   64 /* local servers of one job */

struct job_state {
    char launcher[16]; /* srun, mpirun or local */
    unsigned servers;
    char data_dir[PATH_MAX];
    char mount[PATH_MAX];
    struct cl_node procs[JOB_MAX_LOCAL + 1]; /* launchers, then the mount process */
    unsigned nprocs;
    bool has_mount_proc;
};

/* `name` found in PATH, into out. 0 or -1 (reported). */
int job_which(const char *name, char *out, size_t len);

/* <registry>/job.state: write atomically (0 or -1, reported); read (0,
 * -ENOENT when there is none, -EINVAL reported). */
int job_state_path(const char *registry, char *out, size_t len);
int job_state_write(const char *registry, const struct job_state *s);
int job_state_read(const char *registry, struct job_state *s);

/* rm -rf of a directory this tool created (never "/"). 0 or -errno. */
int job_rm_tree(const char *dir);

/* Rank of this task: `opt` (--rank), else from srun, mpirun or PMI; 0. */
long job_task_rank(const char *opt);

/* Distinct hosts of $PBS_NODEFILE; 0 when unset or unreadable. */
unsigned job_pbs_nodes(void);

/* How many of node_0 .. node_{n-1} have their .addr in the registry. */
unsigned job_registered(const char *registry, unsigned n);

/* Run `self mount DIR` in the background (when this build has a working
 * `mount` command), record it in s, wait until DIR is a mount point. 0 or
 * -1 (reported). */
int job_mount(const char *self, const char *registry, const char *dir, struct job_state *s,
              int timeout_ms);

/* SIGTERM the recorded processes still alive, wait up to timeout_ms, then
 * SIGKILL (warned). `children`: they are ours to reap. Returns true when
 * SIGKILL was needed. */
bool job_stop_procs(struct job_state *s, int timeout_ms, bool children);

/* Wait up to timeout_ms for the recorded processes to exit on their own.
 * true when all did. */
bool job_wait_procs(struct job_state *s, int timeout_ms);

#endif
