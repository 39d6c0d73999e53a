/*
 * benchfs_cluster_proc.c - the mechanics of the local cluster manager
 * (benchfs_cluster.h): /proc process checks, spawning detached servers,
 * local directories and log tails, the cluster.pids file, and stopping
 * servers with SIGTERM (then SIGKILL). Plain POSIX plus the registry
 * helpers; no file system operation goes through here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "tools/benchfs_cluster.h"

/* ------------------------------------------------------------- processes */

/* State and start time of `pid` from /proc. 0, or -ENOENT when there is
 * no such process. */
int cluster_proc_stat_read(pid_t pid, char *state_p, unsigned long long *start_p)
{
    char path[64], buf[1024], *p;
    unsigned long long start = 0;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ENOENT;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -ENOENT;
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold spaces and ')', so parse from
     * the last ')'. The state is field 3, the start time field 22. */
    p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -ENOENT;
    p += 2;
    *state_p = *p;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (!p || sscanf(p, "%llu", &start) != 1)
        return -ENOENT;
    *start_p = start;
    return 0;
}

/* Is the server of `node` still running? A zombie (exited, not yet
 * reaped by its new parent) and a recycled pid both count as gone. */
bool cluster_node_alive(const struct cl_node *node)
{
    unsigned long long start;
    char state;

    if (node->pid <= 0 || cluster_proc_stat_read(node->pid, &state, &start) < 0)
        return false;
    if (node->start != 0 && start != node->start)
        return false;
    return state != 'Z' && state != 'X' && state != 'x';
}

void cluster_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Find benchfsd: next to this executable, then in PATH. */
int cluster_find_server_bin(char *out, size_t outlen)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    const char *path_env;

    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');

        if (slash) {
            *slash = '\0';
            if (snprintf(out, outlen, "%s/benchfsd", self) < (int)outlen && access(out, X_OK) == 0)
                return 0;
        }
    }
    path_env = getenv("PATH");
    while (path_env && *path_env) {
        const char *colon = strchr(path_env, ':');
        size_t len = colon ? (size_t)(colon - path_env) : strlen(path_env);

        if (len > 0 && snprintf(out, outlen, "%.*s/benchfsd", (int)len, path_env) < (int)outlen &&
            access(out, X_OK) == 0)
            return 0;
        path_env = colon ? colon + 1 : NULL;
    }
    cli_error("cannot find benchfsd next to %s or in PATH (use --server-bin)",
              n > 0 ? self : "this program");
    return -1;
}

/*
 * In a child before exec, for servers that all run on this host: with
 * UCX_TLS unset they get shared memory only, so they open no TCP port for
 * other hosts to reach (docs/security.md). Such a server publishes
 * peer_failure=0 and the clients of this host follow (docs/transports.md).
 */
static void cluster_local_transport(void)
{
    if (getenv("UCX_TLS") == NULL)
        setenv("UCX_TLS", "shm,self", 1);
}

/*
 * Fork and exec one detached server: own session, stdin from /dev/null,
 * stdout and stderr appended to log_path. An exec failure comes back
 * through a close-on-exec pipe, so it is reported here, not in a log.
 * Returns 0 and the pid, or -errno.
 */
int cluster_node_spawn(const char *bin, char *const argv[], const char *log_path, bool one_host,
                       pid_t *pid_p)
{
    int pfd[2], child_err = 0;
    ssize_t n;
    pid_t pid;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -errno;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        int err = errno;

        close(pfd[0]);
        close(pfd[1]);
        return -err;
    }
    if (pid == 0) {
        int nullfd, logfd, err;

        close(pfd[0]);
        setsid(); /* no controlling terminal: ^C in the shell does not reach it */
        nullfd = open("/dev/null", O_RDONLY);
        logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        if (nullfd < 0 || logfd < 0 || dup2(nullfd, STDIN_FILENO) < 0 ||
            dup2(logfd, STDOUT_FILENO) < 0 || dup2(logfd, STDERR_FILENO) < 0)
            goto child_fail;
        /* Whatever else this process inherited stays out of the daemon. */
        if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
            for (int fd = 3; fd < 1024; fd++)
                if (fd != pfd[1])
                    close(fd);
        if (one_host)
            cluster_local_transport();
        execv(bin, argv);
    child_fail:
        err = errno;
        if (write(pfd[1], &err, sizeof(err)) < 0) {
            /* nothing more to tell */
        }
        _exit(127);
    }
    close(pfd[1]);
    do {
        n = read(pfd[0], &child_err, sizeof(child_err));
    } while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n == (ssize_t)sizeof(child_err)) {
        waitpid(pid, NULL, 0);
        return -(child_err ? child_err : EIO);
    }
    *pid_p = pid;
    return 0;
}

/* ---------------------------------------------------------- local files */

/* mkdir -p on the local file system. 0 or -errno (reported). */
int cluster_mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(tmp)) {
        cli_error("invalid directory '%s'", dir);
        return -EINVAL;
    }
    memcpy(tmp, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];

        tmp[i] = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST) {
            int err = errno;

            cli_error("cannot create directory '%s': %s", tmp, strerror(err));
            return -err;
        }
        tmp[i] = saved;
    }
    return 0;
}

/* mkdir -p, then the absolute canonical path into out (PATH_MAX). */
int cluster_dir_abs(const char *dir, char *out)
{
    int rc = cluster_mkdir_p(dir);

    if (rc < 0)
        return rc;
    if (!realpath(dir, out)) {
        rc = -errno;
        cli_error("cannot resolve '%s': %s", dir, strerror(-rc));
        return rc;
    }
    return 0;
}

/* Print the last `lines` lines of a log file, indented. */
void cluster_log_tail(const char *path, int lines)
{
    char buf[8192];
    ssize_t n;
    off_t size;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, "  (cannot open %s: %s)\n", path, strerror(errno));
        return;
    }
    size = lseek(fd, 0, SEEK_END);
    if (size < 0)
        size = 0;
    n = pread(fd, buf, sizeof(buf) - 1,
              size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0);
    close(fd);
    if (n <= 0) {
        fprintf(stderr, "  (%s is empty)\n", path);
        return;
    }
    buf[n] = '\0';
    if (buf[n - 1] == '\n')
        buf[--n] = '\0';
    char *p = buf + n;
    int seen = 0;

    while (p > buf) {
        if (p[-1] == '\n' && ++seen == lines)
            break;
        p--;
    }
    fprintf(stderr, "  --- last lines of %s ---\n", path);
    while (*p) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        fprintf(stderr, "  | %.*s\n", (int)len, p);
        p += len + (nl ? 1 : 0);
    }
}

void cluster_node_log_path(const struct cl_cluster *c, const struct cl_node *node, char *out,
                           size_t outlen)
{
    snprintf(out, outlen, "%s/%s.log", c->log_dir, node->id);
}

void cluster_node_addr_path(const struct cl_cluster *c, const struct cl_node *node, char *out,
                            size_t outlen)
{
    snprintf(out, outlen, "%s/%s.addr", c->registry, node->id);
}

/* Does <registry>/<id>.addr exist and name this node's pid? started_ns_p
 * (optional) receives the server's start time. */
bool cluster_node_registered(const struct cl_cluster *c, const struct cl_node *node,
                             uint64_t *started_ns_p)
{
    struct registry_entry e;
    char path[PATH_MAX + 80], err[256];
    bool ours;

    cluster_node_addr_path(c, node, path, sizeof(path));
    if (registry_entry_read(path, &e, err, sizeof(err)) < 0)
        return false;
    ours = e.pid == (int64_t)node->pid;
    if (ours && started_ns_p)
        *started_ns_p = e.started_ns;
    registry_entry_cleanup(&e);
    return ours;
}

void cluster_adopt_restarted(struct cl_cluster *c)
{
    char host[256], path[PATH_MAX + 80], err[256], state;
    struct registry_entry e;
    unsigned long long start;

    if (gethostname(host, sizeof(host) - 1) != 0)
        return;
    host[sizeof(host) - 1] = '\0';
    for (unsigned i = 0; i < c->n; i++) {
        struct cl_node *node = &c->nodes[i];

        if (cluster_node_alive(node))
            continue;
        cluster_node_addr_path(c, node, path, sizeof(path));
        if (registry_entry_read(path, &e, err, sizeof(err)) < 0)
            continue;
        if (strcmp(e.host, host) == 0 && e.pid != (int64_t)node->pid && registry_pid_alive(e.pid) &&
            cluster_proc_stat_read((pid_t)e.pid, &state, &start) == 0) {
            cli_warn("%s: recorded pid %ld is gone; %s names pid %lld, restarted by hand: using "
                     "that one",
                     node->id, (long)node->pid, path, (long long)e.pid);
            node->pid = (pid_t)e.pid;
            node->start = start;
        }
        registry_entry_cleanup(&e);
    }
}

/* ------------------------------------------------------------ pids file */

/* Copy a string that must fit. 0 or -ENAMETOOLONG (dst untouched). */
static int copy_str(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);

    if (n >= len)
        return -ENAMETOOLONG;
    memcpy(dst, src, n + 1);
    return 0;
}

int cluster_pids_write(const struct cl_cluster *c)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 48];
    FILE *f;

    snprintf(path, sizeof(path), "%s/" CLUSTER_PIDS_FILE, c->registry);
    snprintf(tmp, sizeof(tmp), "%s/." CLUSTER_PIDS_FILE ".tmp.%ld", c->registry, (long)getpid());
    f = fopen(tmp, "we");
    if (!f) {
        cli_error("cannot create '%s': %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, CLUSTER_PIDS_MAGIC "\ndata_dir=%s\nlog_dir=%s\n", c->data_dir, c->log_dir);
    for (unsigned i = 0; i < c->n; i++)
        fprintf(f, "node %s %ld %llu\n", c->nodes[i].id, (long)c->nodes[i].pid, c->nodes[i].start);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
        cli_error("cannot write '%s': %s", tmp, strerror(errno));
        fclose(f);
        unlink(tmp);
        return -1;
    }
    fclose(f);
    if (rename(tmp, path) < 0) {
        cli_error("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Read <registry>/cluster.pids into c (c->registry set by the caller).
 * Returns 0, -ENOENT when there is none (not reported), or -EINVAL
 * (reported). */
int cluster_pids_read(struct cl_cluster *c)
{
    char path[PATH_MAX + 32], line[PATH_MAX + 64];
    struct cl_node *nodes = NULL;
    unsigned n = 0, cap = 0;
    int lineno = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/" CLUSTER_PIDS_FILE, c->registry);
    f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return -ENOENT;
        cli_error("cannot open '%s': %s", path, strerror(errno));
        return -EINVAL;
    }
    c->data_dir[0] = c->log_dir[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        char id[REGISTRY_NODE_ID_MAX + 2];
        long pid;
        unsigned long long start;

        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (lineno == 1) {
            if (strcmp(line, CLUSTER_PIDS_MAGIC) != 0)
                goto bad;
        } else if (strncmp(line, "data_dir=", 9) == 0) {
            if (copy_str(c->data_dir, sizeof(c->data_dir), line + 9) < 0)
                goto bad;
        } else if (strncmp(line, "log_dir=", 8) == 0) {
            if (copy_str(c->log_dir, sizeof(c->log_dir), line + 8) < 0)
                goto bad;
        } else if (sscanf(line, "node %64s %ld %llu", id, &pid, &start) == 3 &&
                   registry_node_id_valid(id) && pid > 0 && n < CLUSTER_MAX_SERVERS) {
            if (n == cap) {
                struct cl_node *grown;

                cap = cap ? cap * 2 : 16;
                grown = realloc(nodes, cap * sizeof(*nodes));
                if (!grown)
                    goto bad;
                nodes = grown;
            }
            memset(&nodes[n], 0, sizeof(nodes[n]));
            copy_str(nodes[n].id, sizeof(nodes[n].id), id); /* valid: <= 63 bytes */
            nodes[n].pid = (pid_t)pid;
            nodes[n].start = start;
            n++;
        } else if (line[0] != '\0') {
            goto bad;
        }
    }
    fclose(f);
    if (lineno == 0)
        goto bad_closed;
    c->nodes = nodes;
    c->n = n;
    return 0;

bad:
    fclose(f);
bad_closed:
    free(nodes);
    cli_error("'%s' is corrupt (line %d)", path, lineno);
    return -EINVAL;
}

void cluster_pids_remove(const struct cl_cluster *c)
{
    char path[PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s/" CLUSTER_PIDS_FILE, c->registry);
    unlink(path);
    snprintf(path, sizeof(path), "%s/" CLUSTER_FILE, c->registry);
    unlink(path);
}

/* Resolve the registry of a cluster subcommand into c->registry. */
int cluster_registry(struct cli_ctx *ctx, const char *opt, const char *cmd, struct cl_cluster *c)
{
    const char *dir = opt ? opt : ctx->registry;

    if (!dir)
        return cli_usage_error(cmd, "no registry directory: use --registry DIR or set "
                                    "BENCHFS_REGISTRY");
    if (snprintf(c->registry, sizeof(c->registry), "%s", dir) >= (int)sizeof(c->registry))
        return cli_usage_error(cmd, "registry path too long");
    return 0;
}

/* ------------------------------------------------------------------ stop */

/*
 * Stop every server of c that is still running: SIGTERM, wait up to
 * timeout_ms, then SIGKILL (with a warning). Verifies that the registry
 * files are gone (removing stale ones). Returns 0 when all exited
 * gracefully and cleaned up, CLI_EXIT_FAIL otherwise.
 */
int cluster_stop_nodes(struct cl_cluster *c, int timeout_ms, bool our_children)
{
    bool *killed = calloc(c->n ? c->n : 1, sizeof(*killed));
    uint64_t deadline;
    unsigned left;
    long pause = 2;
    int status = CLI_EXIT_OK;

    if (!killed) {
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    for (unsigned i = 0; i < c->n; i++) {
        struct cl_node *node = &c->nodes[i];

        node->exited = node->exited || !cluster_node_alive(node);
        if (!node->exited && kill(node->pid, SIGTERM) < 0 && errno != ESRCH) {
            cli_error("cannot signal %s (pid %ld): %s%s", node->id, (long)node->pid,
                      strerror(errno), errno == EPERM ? " (started by another user?)" : "");
            /* Not ours to stop: do not wait for it, do not count it. */
            node->exited = true;
            node->unstoppable = true;
            status = CLI_EXIT_FAIL;
        }
    }
    /* Two rounds: after SIGTERM wait timeout_ms, after SIGKILL 5 s more. */
    for (int round = 0; round < 2; round++) {
        deadline = time_mono_ns() + (uint64_t)(round == 0 ? timeout_ms : 5000) * 1000000ull;
        for (;;) {
            left = 0;
            for (unsigned i = 0; i < c->n; i++) {
                struct cl_node *node = &c->nodes[i];

                if (node->exited)
                    continue;
                /* Reap our own children (a failed start); others are
                 * reaped by their new parent, so a zombie counts as gone. */
                if (our_children && waitpid(node->pid, &node->wstatus, WNOHANG) == node->pid)
                    node->exited = true;
                else if (!cluster_node_alive(node))
                    node->exited = true;
                else
                    left++;
            }
            if (left == 0 || time_mono_ns() > deadline)
                break;
            cluster_sleep_ms(pause);
            if (pause < 50)
                pause *= 2;
        }
        if (left == 0)
            break;
        for (unsigned i = 0; i < c->n && round == 0; i++) {
            struct cl_node *node = &c->nodes[i];

            if (node->exited)
                continue;
            cli_warn("%s (pid %ld) did not stop within %.1f s; sending SIGKILL", node->id,
                     (long)node->pid, timeout_ms / 1000.0);
            kill(node->pid, SIGKILL);
            killed[i] = true;
            status = CLI_EXIT_FAIL;
        }
    }
    if (left > 0) {
        cli_error("%u server%s still running after SIGKILL", left, left == 1 ? " is" : "s are");
        status = CLI_EXIT_FAIL;
    }
    /* A graceful exit removes the .addr file; a killed server leaves it. */
    for (unsigned i = 0; i < c->n; i++) {
        struct cl_node *node = &c->nodes[i];
        char path[PATH_MAX + 80];

        if (!node->exited || node->unstoppable || !cluster_node_registered(c, node, NULL))
            continue;
        cluster_node_addr_path(c, node, path, sizeof(path));
        if (!killed[i]) {
            cli_warn("%s (pid %ld) exited but left %s; removing it", node->id, (long)node->pid,
                     path);
            status = CLI_EXIT_FAIL;
        }
        unlink(path);
    }
    free(killed);
    return status;
}

int cluster_registry_clean(const char *registry)
{
    char host[256], path[PATH_MAX + 300], err[512];
    struct dirent *de;
    int status = 0;
    DIR *d;

    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    d = opendir(registry);
    if (!d) {
        cli_error("cannot read registry '%s': %s", registry, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        struct registry_entry e;
        unsigned long long start;
        char state;

        /* Published files only; temp files start with '.'. */
        if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".addr") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", registry, de->d_name);
        if (registry_entry_read(path, &e, err, sizeof(err)) < 0) {
            cli_error("%s (remove it, or use another registry)", err);
            status = -1;
            continue;
        }
        if (strcmp(e.host, host) != 0) {
            cli_error("'%s' belongs to a server on host %s: this registry is in use", path, e.host);
            status = -1;
        } else if (cluster_proc_stat_read((pid_t)e.pid, &state, &start) == 0 && state != 'Z' &&
                   state != 'X') {
            cli_error("'%s' belongs to running server %s (pid %lld): this registry is in use", path,
                      e.node_id, (long long)e.pid);
            status = -1;
        } else {
            cli_warn("removing stale '%s' (pid %lld is gone)", path, (long long)e.pid);
            unlink(path);
        }
        registry_entry_cleanup(&e);
    }
    closedir(d);
    return status;
}
