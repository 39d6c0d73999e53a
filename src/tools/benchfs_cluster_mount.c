/*
 * benchfs_cluster_mount.c - the FUSE mount of a local cluster:
 * `benchfs cluster start --mount DIR` mounts once the servers are up, and
 * `benchfs cluster stop` unmounts before it stops them (docs/fuse.md).
 *
 * The mount is made by running this very executable as `benchfs mount`
 * (a background daemon); <registry>/cluster.mount records the mount point
 * and the daemon's pid with its start time, so stop waits for exactly that
 * process and never signals a recycled pid.
 *     BENCHFS-CLUSTER-MOUNT 1
 *     /abs/mountpoint
 *     12345 987654321
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "tools/benchfs_cluster.h"

#define MOUNT_FILE  "cluster.mount"
#define MOUNT_PID   "cluster.mount.pid"
#define MOUNT_MAGIC "BENCHFS-CLUSTER-MOUNT 1"

/* Run `benchfs ARGS...` (this executable) and wait. Exit status, or -1. */
static int run_self(char *const argv[])
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    int status;
    pid_t pid;

    if (n <= 0)
        return -1;
    self[n] = '\0';
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execv(self, argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* <registry>/<name> into out (empty when it does not fit). */
static void mount_file_path(const struct cl_cluster *c, const char *name, char *out, size_t len)
{
    /* The registry path fits PATH_MAX with room: registry files live there. */
    if (snprintf(out, len, "%s/%s", c->registry, name) >= (int)len)
        out[0] = '\0';
}

int cluster_mount_start(const struct cl_cluster *c, const char *dir)
{
    char mnt[PATH_MAX], pidf[PATH_MAX], file[PATH_MAX], tmp[PATH_MAX + 8], state;
    unsigned long long start = 0;
    long pid = 0;
    FILE *f;

    if (cluster_dir_abs(dir, mnt) < 0)
        return -1;
    mount_file_path(c, MOUNT_PID, pidf, sizeof(pidf));
    char *argv[] = {"benchfs", "--registry", (char *)c->registry, "mount", mnt, "--pid-file",
                    pidf,      NULL};
    if (run_self(argv) != 0) {
        cli_error("cannot mount the cluster on '%s'", mnt);
        return -1;
    }
    f = fopen(pidf, "r");
    if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 0 ||
        cluster_proc_stat_read((pid_t)pid, &state, &start) < 0) {
        cli_warn("mounted on '%s', but the daemon's pid is unknown", mnt);
        pid = 0;
    }
    if (f)
        fclose(f);
    mount_file_path(c, MOUNT_FILE, file, sizeof(file));
    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n%s\n%ld %llu\n", MOUNT_MAGIC, mnt, pid, start) < 0 ||
        fclose(f) != 0 || rename(tmp, file) != 0) {
        char *umount_argv[] = {"benchfs", "umount", "-z", mnt, NULL};

        cli_error("cannot record the mount in '%s': %s", file, strerror(errno));
        /* Unrecorded, stop could not find it: take it down now. */
        run_self(umount_argv);
        return -1;
    }
    fprintf(stderr, "benchfs: mounted on %s\n", mnt);
    return 0;
}

/* Is the recorded daemon still that process? */
static bool daemon_alive(long pid, unsigned long long start)
{
    unsigned long long now;
    char state;

    if (pid <= 0 || cluster_proc_stat_read((pid_t)pid, &state, &now) < 0)
        return false;
    return now == start && state != 'Z' && state != 'X';
}

int cluster_mount_stop(const struct cl_cluster *c, int timeout_ms)
{
    char file[PATH_MAX], line[PATH_MAX + 2], mnt[PATH_MAX];
    unsigned long long start = 0;
    uint64_t deadline;
    long pid = 0;
    int rc = 0;
    FILE *f;

    mount_file_path(c, MOUNT_FILE, file, sizeof(file));
    f = fopen(file, "r");
    if (!f)
        return 0; /* no mount */
    if (!fgets(line, sizeof(line), f) || strncmp(line, MOUNT_MAGIC, strlen(MOUNT_MAGIC)) != 0 ||
        !fgets(mnt, sizeof(mnt), f) || fscanf(f, "%ld %llu", &pid, &start) != 2) {
        fclose(f);
        cli_error("'%s' is not a mount record; unmount by hand (benchfs umount DIR)", file);
        return -1;
    }
    fclose(f);
    mnt[strcspn(mnt, "\n")] = '\0';
    char *argv[] = {"benchfs", "umount", mnt, NULL};
    if (run_self(argv) != 0) {
        char *lazy[] = {"benchfs", "umount", "-z", mnt, NULL};

        cli_warn("'%s' is busy: detaching it lazily", mnt);
        if (run_self(lazy) != 0)
            rc = -1;
    }
    /* The daemon exits once the kernel ends the session. */
    deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (daemon_alive(pid, start) && time_mono_ns() < deadline)
        cluster_sleep_ms(20);
    if (daemon_alive(pid, start)) {
        cli_warn("mount daemon %ld did not exit: killing it", pid);
        kill((pid_t)pid, SIGKILL);
        rc = -1;
    }
    unlink(file);
    mount_file_path(c, MOUNT_PID, file, sizeof(file));
    unlink(file);
    if (rc == 0)
        fprintf(stderr, "benchfs: unmounted %s\n", mnt);
    return rc;
}
