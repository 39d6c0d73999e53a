/*
 * bfuse_session.c - the FUSE daemon's life: options, connection to the
 * cluster, mount, background daemon, signals, the multi-threaded loop and
 * the clean unmount (bfuse.h, docs/fuse.md).
 *
 * Order matters. The background child is forked first, before anything
 * starts threads (UCX's, libfuse's), and connects, mounts and only then
 * tells the waiting parent "ok": `benchfs mount` returns when the mount is
 * usable, or fails with the child's error. SIGTERM/SIGINT/SIGHUP are
 * blocked while the client library starts its threads, so they are only
 * ever delivered to the main thread or a FUSE worker, whose libfuse
 * handlers end the loop; the mount is then removed (lazily, like
 * `fusermount3 -u -z`: a process still inside keeps working until it
 * leaves). A daemon killed with SIGKILL leaves a mount the kernel answers
 * with ENOTCONN until `benchfs umount` removes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchfs.h"
#include "fuse/bfuse.h"
#include "fuse/bfuse_int.h"

#define PROG "benchfs mount"

/* Options the daemon handles itself; every other -o goes to libfuse. */
struct mount_opts {
    struct bfuse_settings set;
    char *fuse_opts; /* malloc'd, comma-separated, may be empty */
};

/* Parse a timeout option value in seconds. 0, or -1 (reported). */
static int parse_seconds(const char *key, const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);

    if (end == v || *end || !(d >= 0) || d > 86400) {
        fprintf(stderr, PROG ": invalid %s '%s' (seconds, 0..86400)\n", key, v);
        return -1;
    }
    *out = d;
    return 0;
}

/* Split `opts` into ours and libfuse's. 0, or -1 (reported). */
static int opts_parse(const char *opts, struct mount_opts *mo)
{
    char *copy, *tok, *save = NULL;
    size_t used = 0, cap;
    int rc = 0;

    mo->set.attr_timeout = 1.0;
    mo->set.entry_timeout = 0.0;
    mo->set.dir_entry_timeout = 1.0;
    mo->set.max_threads = 16;
    mo->set.splice_read = true;
    mo->set.readahead_kb = 4096; /* 4 READs of 1 MiB in flight: docs/fuse.md */
    cap = (opts ? strlen(opts) : 0) + 1;
    mo->fuse_opts = calloc(1, cap);
    copy = strdup(opts ? opts : "");
    if (!mo->fuse_opts || !copy) {
        fprintf(stderr, PROG ": out of memory\n");
        free(copy);
        return -1;
    }
    for (tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        const char *v = eq ? eq + 1 : NULL;
        size_t klen = eq ? (size_t)(eq - tok) : strlen(tok);

#define KEY(k) (klen == strlen(k) && strncmp(tok, k, klen) == 0)
        if (KEY("attr_timeout") && v) {
            rc = parse_seconds("attr_timeout", v, &mo->set.attr_timeout);
        } else if (KEY("entry_timeout") && v) {
            rc = parse_seconds("entry_timeout", v, &mo->set.entry_timeout);
        } else if (KEY("dir_entry_timeout") && v) {
            rc = parse_seconds("dir_entry_timeout", v, &mo->set.dir_entry_timeout);
        } else if (KEY("hard_remove") && !v) {
            mo->set.hard_remove = true;
        } else if (KEY("sync_write") && !v) {
            mo->set.sync_write = true;
        } else if (KEY("no_splice_read") && !v) {
            mo->set.splice_read = false;
        } else if (KEY("strict_setattr") && !v) {
            /* Obsolete: it made the chmod/chown/utimens that were ignored
             * fail; they are real now. Accepted so old scripts still mount. */
        } else if (KEY("readahead_kb") && v) {
            char *end;
            long n = strtol(v, &end, 10);

            if (end == v || *end || n < 0 || n > 65536) {
                fprintf(stderr, PROG ": invalid readahead_kb '%s' (0..65536)\n", v);
                rc = -1;
            }
            mo->set.readahead_kb = (unsigned)n;
        } else if (KEY("max_threads") && v) {
            char *end;
            long n = strtol(v, &end, 10);

            if (end == v || *end || n < 1 || n > 1024) {
                fprintf(stderr, PROG ": invalid max_threads '%s' (1..1024)\n", v);
                rc = -1;
            }
            mo->set.max_threads = (unsigned)n;
        } else if (*tok) {
            used +=
                (size_t)snprintf(mo->fuse_opts + used, cap - used, "%s%s", used ? "," : "", tok);
        }
#undef KEY
    }
    free(copy);
    return rc;
}

/* FUSE_INIT: the kernel's capabilities are known; choose ours. */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct bfuse *fs = userdata;
    unsigned want = FUSE_CAP_ASYNC_READ | FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_READDIRPLUS |
                    FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_AUTO_INVAL_DATA |
                    FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_ASYNC_DIO;

    conn->want |= want & conn->capable;
    /* Write-through: every write reaches BenchFS before write(2) returns,
     * so close(2) can publish it; the kernel keeps trusting the servers'
     * sizes and times (docs/fuse.md "Caching"). */
    conn->want &= ~(unsigned)(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
                              FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
    /* READ replies from a pipe go to /dev/fuse by splice (docs/fuse.md
     * "Reads"); every other reply is written as before. */
    if (fs->set.splice_read)
        conn->want |= FUSE_CAP_SPLICE_WRITE & conn->capable;
    conn->max_write = BFUSE_IO_MAX;
    conn->max_read = BFUSE_READ_MAX;
    conn->max_readahead = BFUSE_IO_MAX;
    conn->max_background = 64;
    conn->congestion_threshold = 48;
    conn->time_gran = 1;
    /* The kernel is ready for requests: a background parent may return. */
    if (fs->ready_fd >= 0) {
        if (write(fs->ready_fd, "ok", 2) != 2) {
            /* The parent is gone: nobody waits for the answer. */
        }
        close(fs->ready_fd);
        fs->ready_fd = -1;
    }
}

/* Every operation of the daemon (filled once, before any thread). */
static const struct fuse_lowlevel_ops *ops_get(void)
{
    static struct fuse_lowlevel_ops ops;

    if (!ops.init) {
        ops.init = op_init;
        bfuse_entry_ops(&ops);
        bfuse_file_ops(&ops);
        bfuse_dir_ops(&ops);
    }
    return &ops;
}

/*
 * The kernel reads ahead at most the mount's bdi read_ahead_kb (128 KiB by
 * default for FUSE), far below the 1 MiB requests the daemon takes: raise
 * it to `kb` when allowed (root). The mount is found in /proc/self/mountinfo
 * (field 3 major:minor, field 5 the mount point), never by a stat that would
 * wait for the not yet running loop. Best effort: silently skipped.
 */
static void readahead_set(const char *mnt_real, unsigned kb)
{
    char line[8192], dev[64], mnt[4096], path[128];
    char found[64] = "";
    FILE *f;

    if (!mnt_real || kb == 0)
        return;
    f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        /* Spaces in mount points are \040 here: sscanf's %s is exact. */
        if (sscanf(line, "%*s %*s %63s %*s %4095s", dev, mnt) == 2 && strcmp(mnt, mnt_real) == 0)
            snprintf(found, sizeof(found), "%s", dev);
    }
    fclose(f);
    if (!found[0] ||
        snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", found) >= (int)sizeof(path))
        return;
    f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "%u\n", kb);
    fclose(f);
}

/* Connect to the cluster with the termination signals blocked, so the
 * library's threads never take them. 0 or -1 (reported). */
static int connect_cluster(const struct bfuse_config *cfg)
{
    struct benchfs_options opts;
    sigset_t block, old;
    mode_t mask;
    int rc;

    benchfs_options_init(&opts);
    if (cfg->discovery_timeout_ms > 0)
        opts.discovery_timeout_ms = cfg->discovery_timeout_ms;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    /* The kernel applied the caller's umask to every mode already. */
    mask = umask(0);
    rc = benchfs_connect(cfg->registry, &opts);
    umask(mask);
    if (rc < 0) {
        const char *detail = benchfs_last_error();

        fprintf(stderr, PROG ": cannot connect to the cluster in '%s': %s\n", cfg->registry,
                detail && *detail ? detail : strerror(errno));
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc < 0 ? -1 : 0;
}

/* Write the daemon's pid to `path`. 0, or -1 (reported). */
static int pid_file_write(const char *path)
{
    FILE *f = fopen(path, "w");

    if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
        fprintf(stderr, PROG ": cannot write pid file '%s': %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    return 0;
}

/* Background daemon: detach stdio (to the log file or /dev/null) so the
 * caller's pipes close when `benchfs mount` exits. */
static int stdio_detach(const char *log_file)
{
    int in = open("/dev/null", O_RDONLY);
    int out = log_file ? open(log_file, O_WRONLY | O_CREAT | O_APPEND, 0644)
                       : open("/dev/null", O_WRONLY);

    if (in < 0 || out < 0) {
        fprintf(stderr, PROG ": cannot open '%s': %s\n", log_file ? log_file : "/dev/null",
                strerror(errno));
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        return -1;
    }
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    close(in);
    close(out);
    return 0;
}

/*
 * Connect, mount and serve. ready_fd >= 0 (background): op_init writes
 * "ok" there once the kernel has initialized the mount. Returns the exit
 * status.
 */
static int serve(const struct bfuse_config *cfg, struct mount_opts *mo, int ready_fd)
{
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    struct fuse_loop_config *loop;
    struct fuse_session *se;
    struct bfuse fs;
    char *pid_path = NULL, *mnt_real = NULL;
    int rc = 1;

    memset(&fs, 0, sizeof(fs));
    fs.set = mo->set;
    fs.uid = getuid();
    fs.ready_fd = ready_fd;
    fs.gid = getgid();
    fs.wb.lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    fs.wb.done = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
    if (bfuse_nodes_init(&fs) < 0) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    /* Absolute, so the daemon still finds it after chdir("/"). */
    if (cfg->pid_file) {
        char cwd[BFUSE_PATH_MAX];

        if (cfg->pid_file[0] != '/' && getcwd(cwd, sizeof(cwd)) &&
            asprintf(&pid_path, "%s/%s", cwd, cfg->pid_file) < 0)
            pid_path = NULL;
        else if (cfg->pid_file[0] == '/')
            pid_path = strdup(cfg->pid_file);
        if (!pid_path) {
            fprintf(stderr, PROG ": cannot use pid file '%s'\n", cfg->pid_file);
            goto out_nodes;
        }
    }
    if (connect_cluster(cfg) < 0)
        goto out_nodes;
    if (fuse_opt_add_arg(&args, "benchfs") != 0 || fuse_opt_add_arg(&args, "-o") != 0 ||
        fuse_opt_add_arg(
            &args, "fsname=benchfs,subtype=benchfs,default_permissions," BFUSE_READ_MAX_OPT) != 0 ||
        (mo->fuse_opts[0] &&
         (fuse_opt_add_arg(&args, "-o") != 0 || fuse_opt_add_arg(&args, mo->fuse_opts) != 0)) ||
        (cfg->debug && fuse_opt_add_arg(&args, "-d") != 0)) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out_disconnect;
    }
    se = fuse_session_new(&args, ops_get(), sizeof(struct fuse_lowlevel_ops), &fs);
    if (!se) {
        fprintf(stderr, PROG ": invalid mount options (see above)\n");
        rc = 2;
        goto out_disconnect;
    }
    fs.se = se;
    if (fuse_set_signal_handlers(se) != 0)
        goto out_session;
    mnt_real = realpath(cfg->mountpoint, NULL); /* before the mount hides it */
    if (fuse_session_mount(se, cfg->mountpoint) != 0) {
        fprintf(stderr, PROG ": cannot mount on '%s' (see above)\n", cfg->mountpoint);
        goto out_signals;
    }
    readahead_set(mnt_real, mo->set.readahead_kb);
    if (pid_path && pid_file_write(pid_path) < 0)
        goto out_unmount;
    if (ready_fd >= 0) {
        if (stdio_detach(cfg->log_file) < 0)
            goto out_unmount;
        if (chdir("/") != 0) {
            /* "/" always exists; nothing depends on it but tidiness. */
        }
    }
    loop = fuse_loop_cfg_create();
    if (!loop) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out_unmount;
    }
    fuse_loop_cfg_set_clone_fd(loop, 1);
    fuse_loop_cfg_set_max_threads(loop, mo->set.max_threads);
    fuse_loop_cfg_set_idle_threads(loop, mo->set.max_threads < 8 ? mo->set.max_threads : 8);
    rc = fuse_session_loop_mt(se, loop) < 0 ? 1 : 0;
    fuse_loop_cfg_destroy(loop);

out_unmount:
    fuse_session_unmount(se);
    if (pid_path)
        unlink(pid_path);
out_signals:
    fuse_remove_signal_handlers(se);
out_session:
    fuse_session_destroy(se);
out_disconnect:
    fuse_opt_free_args(&args);
    benchfs_disconnect();
out_nodes:
    free(mnt_real);
    free(pid_path);
    bfuse_nodes_destroy(&fs);
    return rc;
}

/* The parent of a background daemon: wait for "ok" or the child's end. */
static int wait_ready(pid_t child, int fd)
{
    char buf[2];
    ssize_t n;
    int status = 0;

    do {
        n = read(fd, buf, sizeof(buf));
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n == 2 && memcmp(buf, "ok", 2) == 0)
        return 0;
    /* The child printed why on our stderr (or in its log, when it failed
     * after detaching); its status is ours. */
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    fprintf(stderr, PROG ": the daemon exited before the mount was ready\n");
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        return WEXITSTATUS(status);
    return 1;
}

/* The mount point must be a directory we can reach (a dead FUSE mount
 * answers ENOTCONN: say what to do). 0 or -1 (reported). */
static int mountpoint_check(const char *mnt)
{
    struct stat st;

    if (stat(mnt, &st) < 0) {
        if (errno == ENOTCONN)
            fprintf(stderr,
                    PROG ": '%s' is a mount whose daemon is gone: run 'benchfs umount %s' "
                         "first\n",
                    mnt, mnt);
        else
            fprintf(stderr, PROG ": cannot access '%s': %s\n", mnt, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, PROG ": '%s' is not a directory\n", mnt);
        return -1;
    }
    return 0;
}

int bfuse_run(const struct bfuse_config *cfg)
{
    struct mount_opts mo;
    int pipefd[2], rc;
    pid_t pid;

    memset(&mo, 0, sizeof(mo));
    if (opts_parse(cfg->options, &mo) < 0) {
        free(mo.fuse_opts);
        return 2;
    }
    if (mountpoint_check(cfg->mountpoint) < 0) {
        free(mo.fuse_opts);
        return 1;
    }
    if (cfg->foreground || cfg->debug) {
        rc = serve(cfg, &mo, -1);
        free(mo.fuse_opts);
        return rc;
    }
    fflush(NULL);
    if (pipe2(pipefd, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        fprintf(stderr, PROG ": cannot start the daemon: %s\n", strerror(errno));
        free(mo.fuse_opts);
        return 1;
    }
    if (pid > 0) {
        close(pipefd[1]);
        free(mo.fuse_opts);
        return wait_ready(pid, pipefd[0]);
    }
    close(pipefd[0]);
    setsid();
    rc = serve(cfg, &mo, pipefd[1]);
    free(mo.fuse_opts);
    _exit(rc);
}
