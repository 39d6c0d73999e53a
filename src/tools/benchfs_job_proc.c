/*
 * benchfs_job_proc.c - the mechanics behind `benchfs job` (benchfs_job.h):
 * the job.state file, launcher processes (waiting, SIGTERM then SIGKILL),
 * removing node-local data dirs, the task's rank, PBS host counting, and
 * running `benchfs mount` for --mount. Plain POSIX plus the process helpers
 * of the cluster manager (benchfs_cluster_proc.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "tools/benchfs_job.h"

/* `name` found in PATH, into out. 0 or -1 (reported). */
int job_which(const char *name, char *out, size_t len)
{
    const char *p = getenv("PATH");

    while (p && *p) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);

        if (n > 0 && snprintf(out, len, "%.*s/%s", (int)n, p, name) < (int)len &&
            access(out, X_OK) == 0)
            return 0;
        p = colon ? colon + 1 : NULL;
    }
    cli_error("job: cannot find '%s' in PATH", name);
    return -1;
}

int job_state_path(const char *registry, char *out, size_t len)
{
    return snprintf(out, len, "%s/" JOB_STATE_FILE, registry) >= (int)len ? -ENAMETOOLONG : 0;
}

int job_state_write(const char *registry, const struct job_state *s)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    FILE *f;

    job_state_path(registry, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f) {
        cli_error("job: cannot write '%s': %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, JOB_STATE_MAGIC "\nlauncher=%s\nservers=%u\ndata_dir=%s\nmount=%s\n", s->launcher,
            s->servers, s->data_dir, s->mount);
    for (unsigned i = 0; i < s->nprocs; i++)
        fprintf(f, "%s %ld %llu\n", s->has_mount_proc && i == s->nprocs - 1 ? "mount_pid" : "pid",
                (long)s->procs[i].pid, s->procs[i].start);
    if (fclose(f) != 0 || rename(tmp, path) < 0) {
        cli_error("job: cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int job_state_read(const char *registry, struct job_state *s)
{
    char path[PATH_MAX + 32], line[PATH_MAX + 64];
    FILE *f;

    memset(s, 0, sizeof(*s));
    job_state_path(registry, path, sizeof(path));
    f = fopen(path, "r");
    if (!f)
        return -errno;
    if (!fgets(line, sizeof(line), f) || strcmp(line, JOB_STATE_MAGIC "\n") != 0) {
        fclose(f);
        cli_error("job: '%s' is not a job state file", path);
        return -EINVAL;
    }
    while (fgets(line, sizeof(line), f)) {
        long pid;
        unsigned long long start;

        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "launcher=", 9) == 0)
            snprintf(s->launcher, sizeof(s->launcher), "%.15s", line + 9);
        else if (strncmp(line, "servers=", 8) == 0)
            s->servers = (unsigned)strtoul(line + 8, NULL, 10);
        else if (strncmp(line, "data_dir=", 9) == 0)
            snprintf(s->data_dir, sizeof(s->data_dir), "%.4000s", line + 9);
        else if (strncmp(line, "mount=", 6) == 0)
            snprintf(s->mount, sizeof(s->mount), "%.4000s", line + 6);
        else if (s->nprocs < JOB_MAX_LOCAL + 1 &&
                 (sscanf(line, "pid %ld %llu", &pid, &start) == 2 ||
                  sscanf(line, "mount_pid %ld %llu", &pid, &start) == 2)) {
            s->has_mount_proc = strncmp(line, "mount_pid", 9) == 0;
            s->procs[s->nprocs].pid = (pid_t)pid;
            s->procs[s->nprocs++].start = start;
        }
    }
    fclose(f);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf of a directory this tool created (never "/"). 0 or -errno. */
int job_rm_tree(const char *dir)
{
    if (strlen(dir) < 2)
        return -EINVAL;
    if (nftw(dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* Rank of this task: --rank, else from srun, mpirun or a PMI launcher. */
long job_task_rank(const char *opt)
{
    static const char *const vars[] = {"SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK",
                                       "PMIX_RANK"};
    const char *v = opt;

    for (size_t i = 0; !v && i < sizeof(vars) / sizeof(vars[0]); i++)
        v = getenv(vars[i]);
    return v ? strtol(v, NULL, 10) : 0;
}

/* Unique host names of $PBS_NODEFILE (its count), 0 when unset. */
unsigned job_pbs_nodes(void)
{
    const char *path = getenv("PBS_NODEFILE");
    char line[256], prev[256] = "";
    unsigned n = 0;
    FILE *f;

    if (!path || !(f = fopen(path, "r")))
        return 0;
    /* PBS lists a host once per slot, grouped. */
    while (fgets(line, sizeof(line), f))
        if (strcmp(line, prev) != 0) {
            n++;
            snprintf(prev, sizeof(prev), "%s", line);
        }
    fclose(f);
    return n;
}

/* Count the servers registered so far (node_<i>.addr for i < n). */
unsigned job_registered(const char *registry, unsigned n)
{
    char path[PATH_MAX + 40];
    unsigned k = 0;

    for (unsigned i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/node_%u.addr", registry, i);
        k += access(path, F_OK) == 0;
    }
    return k;
}

/* `benchfs mount DIR` in the background when this build has it; waits until
 * DIR is a mount point. 0 or -1 (reported). */
int job_mount(const char *self, const char *registry, const char *dir, struct job_state *s,
              int timeout_ms)
{
    char log[PATH_MAX + 40], *args[8];
    struct stat st, parent;
    char pdir[PATH_MAX + 4];
    uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    struct cl_node *m = &s->procs[s->nprocs];
    int rc, ws;
    pid_t pid;
    char state;

    /* Is there a mount command? `benchfs mount --help` exits 0 then. */
    pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);

        dup2(nul, 1);
        dup2(nul, 2);
        execl(self, self, "mount", "--help", (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        cli_error("job: --mount: this benchfs has no working 'mount' command");
        return -1;
    }
    if (cluster_mkdir_p(dir) < 0)
        return -1;
    snprintf(log, sizeof(log), "%s/mount.log", registry);
    args[0] = (char *)self;
    args[1] = "--registry";
    args[2] = (char *)registry;
    args[3] = "mount";
    args[4] = (char *)dir;
    args[5] = NULL;
    rc = cluster_node_spawn(self, args, log, false, &m->pid);
    if (rc < 0) {
        cli_error("job: cannot run 'benchfs mount': %s", strerror(-rc));
        return -1;
    }
    if (cluster_proc_stat_read(m->pid, &state, &m->start) < 0)
        m->start = 0;
    s->nprocs++;
    s->has_mount_proc = true;
    snprintf(s->mount, sizeof(s->mount), "%s", dir);
    snprintf(pdir, sizeof(pdir), "%s/..", dir);
    while (time_mono_ns() < deadline) {
        if (stat(dir, &st) == 0 && stat(pdir, &parent) == 0 && st.st_dev != parent.st_dev)
            return 0;
        /* A mount command that daemonizes exits 0 after mounting. */
        if (waitpid(m->pid, &ws, WNOHANG) == m->pid && (!WIFEXITED(ws) || WEXITSTATUS(ws))) {
            cli_error("job: 'benchfs mount %s' failed; its log:", dir);
            cluster_log_tail(log, 10);
            return -1;
        }
        cluster_sleep_ms(20);
    }
    cli_error("job: '%s' was not mounted after %.0f s", dir, timeout_ms / 1000.0);
    return -1;
}

/* SIGTERM the recorded processes still alive, wait, then SIGKILL. Returns
 * true when SIGKILL was needed. */
bool job_stop_procs(struct job_state *s, int timeout_ms, bool children)
{
    uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    bool termed = false, killed = false;

    for (;;) {
        unsigned alive = 0;

        for (unsigned i = 0; i < s->nprocs; i++) {
            int ws;

            if (children && s->procs[i].pid > 0 &&
                waitpid(s->procs[i].pid, &ws, WNOHANG) == s->procs[i].pid)
                s->procs[i].exited = true;
            if (!s->procs[i].exited && cluster_node_alive(&s->procs[i]))
                alive++;
            else
                s->procs[i].exited = true;
        }
        if (alive == 0)
            return killed;
        if (!termed || (time_mono_ns() > deadline && !killed)) {
            int sig = termed ? SIGKILL : SIGTERM;

            if (sig == SIGKILL)
                cli_warn("job: %u process%s did not stop in %.0f s: SIGKILL", alive,
                         alive == 1 ? "" : "es", timeout_ms / 1000.0);
            for (unsigned i = 0; i < s->nprocs; i++)
                if (!s->procs[i].exited)
                    kill(s->procs[i].pid, sig);
            killed = termed;
            termed = true;
            deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
        } else if (killed && time_mono_ns() > deadline) {
            return true;
        }
        cluster_sleep_ms(20);
    }
}

/* Wait for recorded processes to exit by themselves. true when all did. */
bool job_wait_procs(struct job_state *s, int timeout_ms)
{
    uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;

    while (time_mono_ns() < deadline) {
        unsigned alive = 0;

        for (unsigned i = 0; i < s->nprocs; i++) {
            int ws;

            if (s->procs[i].pid > 0 && waitpid(s->procs[i].pid, &ws, WNOHANG) == s->procs[i].pid)
                s->procs[i].exited = true;
            alive += !s->procs[i].exited && cluster_node_alive(&s->procs[i]);
        }
        if (alive == 0)
            return true;
        cluster_sleep_ms(20);
    }
    return false;
}
