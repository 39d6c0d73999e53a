/*
 * benchfs_job.c - `benchfs job start|stop|run`: BenchFS for the lifetime of
 * one batch job (docs/jobs.md).
 *
 * start: one server per node of the allocation, launched through
 *   - srun (under Slurm: SLURM_JOB_ID set), one task per node, --overlap
 *     so the application's own steps still run;
 *   - mpirun (under PBS, or --launcher mpirun), one rank per node;
 *   - local children (anything else; -n servers on this machine).
 * Every task runs `benchfs job _server`, which creates the node-local data
 * dir DATA/node_<rank>, runs benchfsd in it, forwards SIGTERM, and removes
 * the data dir when the server exits, so no node keeps data after the job.
 * start prepares the registry (fresh cookie, server count), waits until
 * every server is registered (or a launcher died: its log is shown), then
 * runs --stage-in and --mount, records itself in <registry>/job.state and
 * prints the `export BENCHFS_REGISTRY=...` line for the shell.
 *
 * stop: --stage-out, unmount, graceful shutdown of every server through the
 * client API, wait for the launchers (SIGTERM, then SIGKILL after the
 * timeout), check that this node's data dirs are gone, summary line.
 *
 * run: start, the command (its exit status is kept), stop with stage-out
 * whatever the command's exit status; #BFS lines of a --directives file
 * (the job script) are options too. The two-line job script:
 *     #BFS --stage-in=$HOME/input/:/in --stage-out=/out/:$HOME/results
 *     benchfs job run --directives "$0" -- srun ./app
 * The state file and process mechanics are in benchfs_job_proc.c
 * (benchfs_job.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

#include "benchfs.h"
#include "common/timeutil.h"
#include "tools/benchfs_job.h"

#define JOB_MAX_SPECS 32
#define JOB_MAX_ARGS  256

/* Settings that choose the servers' transports: forwarded by mpirun. */
static const char *const job_forwarded_env[] = {"UCX_TLS", "UCX_NET_DEVICES",
                                                "BENCHFS_PEER_FAILURE", NULL};

struct job_opts {
    char registry[PATH_MAX];
    char data_dir[PATH_MAX];
    const char *config, *sets[JOB_MAX_SPECS], *stage_in[JOB_MAX_SPECS], *stage_out[JOB_MAX_SPECS];
    int nsets, nin, nout;
    const char *launcher; /* auto, srun, mpirun, local */
    const char *mount;
    const char *server_bin;
    const char *jobs; /* -j for staging */
    unsigned servers;
    int timeout_ms;
    bool keep_data;
};

static volatile sig_atomic_t job_signal;

static void job_on_signal(int sig)
{
    job_signal = sig;
}

/* The job's id for default names: Slurm, PBS, else this process. */
static const char *job_id(char *buf, size_t len)
{
    const char *id = getenv("SLURM_JOB_ID");

    if (!id || !*id)
        id = getenv("PBS_JOBID");
    if (id && *id)
        return id;
    snprintf(buf, len, "local.%ld", (long)getpid());
    return buf;
}

static int self_exe(char *out, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", out, len - 1);

    if (n <= 0) {
        cli_error("job: cannot find this program (/proc/self/exe): %s", strerror(errno));
        return -1;
    }
    out[n] = '\0';
    return 0;
}

/* --------------------------------------------------------------- options */

static const struct option job_longopts[] = {
    {"registry", required_argument, NULL, 'r'},
    {"data-dir", required_argument, NULL, 'd'},
    {"config", required_argument, NULL, 'c'},
    {"set", required_argument, NULL, 's'},
    {"servers", required_argument, NULL, 'n'},
    {"launcher", required_argument, NULL, 'L'},
    {"stage-in", required_argument, NULL, 'I'},
    {"stage-out", required_argument, NULL, 'O'},
    {"mount", required_argument, NULL, 'M'},
    {"server-bin", required_argument, NULL, 'B'},
    {"jobs", required_argument, NULL, 'j'},
    {"timeout", required_argument, NULL, 'T'},
    {"keep-data", no_argument, NULL, 'K'},
    {"directives", required_argument, NULL, 'D'},
    {"rank", required_argument, NULL, 'R'},
    {"help", no_argument, NULL, 'H'},
    {NULL, 0, NULL, 0},
};

static void job_help(void)
{
    printf("Usage: benchfs job start [OPTIONS]     (prints 'export BENCHFS_REGISTRY=...')\n"
           "       benchfs job stop  [--registry DIR] [--stage-out SRC:DEST]... [--timeout SEC]\n"
           "       benchfs job run   [OPTIONS] [--directives SCRIPT] -- COMMAND [ARGS...]\n"
           "BenchFS for one batch job: one server per node (srun under Slurm, mpirun under\n"
           "PBS, local processes otherwise), staging in and out, clean shutdown.\n\n"
           "  -r, --registry DIR      registry on a shared file system (default\n"
           "                          ./benchfs-job.<jobid>; stop: $BENCHFS_REGISTRY)\n"
           "  -d, --data-dir DIR      node-local data, DIR/node_<rank> (default\n"
           "                          ${TMPDIR:-/tmp}/benchfs.<jobid>); removed at the end\n"
           "  -c, --config FILE       benchfs.toml for the servers; -s, --set KEY=VALUE\n"
           "  -n, --servers N         servers (default: the allocation's nodes; local: 1)\n"
           "      --launcher L        auto (default), srun, mpirun or local\n"
           "      --stage-in SRC:DEST  benchfs stage-in SRC DEST after start (repeatable)\n"
           "      --stage-out SRC:DEST benchfs stage-out SRC DEST before stop (repeatable)\n"
           "  -j, --jobs N            staging workers (default 4)\n"
           "      --mount DIR         also 'benchfs mount DIR' (when this build has it)\n"
           "      --timeout SEC       wait for the servers / for them to stop (default 60)\n"
           "      --keep-data         keep the data dirs (debugging)\n"
           "      --directives FILE   (run) options from the '#BFS ...' lines of FILE\n"
           "      --help              this help\n\n"
           "'run' stages out and stops even when COMMAND fails, and exits with COMMAND's\n"
           "status (or 1 when only the staging or the stop failed). See docs/jobs.md.\n");
}

/* Parse job options; `allow` lists the option letters this subcommand
 * takes. Returns 0, -1 after --help, or a usage exit code. */
static int job_parse(const char *cmd, int argc, char **argv, const char *allow, struct job_opts *o)
{
    char *end;
    int opt;

    while ((opt = getopt_long(argc, argv, "+r:d:c:s:n:j:", job_longopts, NULL)) != -1) {
        if (opt != 'H' && opt != '?' && !strchr(allow, opt))
            return cli_usage_error(cmd, "option '%s' is not for '%s'", argv[optind - 1], cmd);
        switch (opt) {
        case 'r':
            snprintf(o->registry, sizeof(o->registry), "%s", optarg);
            break;
        case 'd':
            snprintf(o->data_dir, sizeof(o->data_dir), "%s", optarg);
            break;
        case 'c':
            o->config = optarg;
            break;
        case 's':
        case 'I':
        case 'O': {
            const char **list = opt == 's' ? o->sets : opt == 'I' ? o->stage_in : o->stage_out;
            int *n = opt == 's' ? &o->nsets : opt == 'I' ? &o->nin : &o->nout;

            if (*n == JOB_MAX_SPECS)
                return cli_usage_error(cmd, "too many '%s' options", argv[optind - 1]);
            if (opt != 's' && !strchr(optarg, ':'))
                return cli_usage_error(cmd, "'%s' is not SRC:DEST", optarg);
            list[(*n)++] = optarg;
            break;
        }
        case 'n': {
            long v = strtol(optarg, &end, 10);

            if (end == optarg || *end || v < 1 || v > CLUSTER_MAX_SERVERS)
                return cli_usage_error(cmd, "invalid number of servers '%s'", optarg);
            o->servers = (unsigned)v;
            break;
        }
        case 'L':
            if (strcmp(optarg, "auto") && strcmp(optarg, "srun") && strcmp(optarg, "mpirun") &&
                strcmp(optarg, "local"))
                return cli_usage_error(cmd, "invalid launcher '%s' (auto, srun, mpirun, local)",
                                       optarg);
            o->launcher = optarg;
            break;
        case 'M':
            o->mount = optarg;
            break;
        case 'B':
            o->server_bin = optarg;
            break;
        case 'j':
            o->jobs = optarg;
            break;
        case 'T': {
            double sec = strtod(optarg, &end);

            if (end == optarg || *end || !(sec > 0) || sec > 86400)
                return cli_usage_error(cmd, "invalid timeout '%s'", optarg);
            o->timeout_ms = (int)(sec * 1000.0);
            break;
        }
        case 'K':
            o->keep_data = true;
            break;
        case 'D':
        case 'R':
            break; /* handled by the caller (run, _server) */
        case 'H':
            job_help();
            return -1;
        default:
            return cli_try_help("job");
        }
    }
    return 0;
}

/* ------------------------------------------------------------ the server */

/*
 * `benchfs job _server`: one node's server. Runs benchfsd as a child (so a
 * SIGTERM from srun/mpirun reaches it and the data dir can be removed once
 * it exited), exits with its status.
 */
static int job_server(int argc, char **argv)
{
    struct job_opts o = {0};
    const char *rank_opt = NULL;
    char node[32], dir[PATH_MAX + 40], bin[PATH_MAX];
    char *args[16 + 2 * JOB_MAX_SPECS];
    struct sigaction sa = {0};
    int a = 0, ws = 0, rc;
    pid_t pid;

    for (int i = 1; i < argc - 1; i++)
        if (strcmp(argv[i], "--rank") == 0)
            rank_opt = argv[i + 1];
    rc = job_parse("job _server", argc, argv, "rdcsBRK", &o);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (!*o.registry || !*o.data_dir)
        return cli_usage_error("job", "_server needs --registry and --data-dir");
    if (o.server_bin)
        snprintf(bin, sizeof(bin), "%s", o.server_bin);
    else if (cluster_find_server_bin(bin, sizeof(bin)) < 0)
        return CLI_EXIT_FAIL;
    snprintf(node, sizeof(node), "node_%ld", job_task_rank(rank_opt));
    snprintf(dir, sizeof(dir), "%s/%s", o.data_dir, node);
    if (cluster_mkdir_p(dir) < 0)
        return CLI_EXIT_FAIL;
    args[a++] = bin;
    args[a++] = "--node-id";
    args[a++] = node;
    args[a++] = "--data-dir";
    args[a++] = dir;
    args[a++] = "--registry";
    args[a++] = o.registry;
    if (o.config) {
        args[a++] = "--config";
        args[a++] = (char *)o.config;
    }
    for (int k = 0; k < o.nsets; k++) {
        args[a++] = "--set";
        args[a++] = (char *)o.sets[k];
    }
    args[a] = NULL;
    sa.sa_handler = job_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        cli_error("job: cannot fork: %s", strerror(errno));
        return CLI_EXIT_FAIL;
    }
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execv(bin, args);
        fprintf(stderr, "benchfs: job: cannot execute '%s': %s\n", bin, strerror(errno));
        _exit(127);
    }
    for (;;) {
        pid_t r = waitpid(pid, &ws, 0);

        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            break;
        if (job_signal) {
            kill(pid, SIGTERM); /* the server drains and exits */
            job_signal = 0;
        }
    }
    if (!o.keep_data) {
        rc = job_rm_tree(dir);
        if (rc < 0)
            cli_error("job: %s: cannot remove '%s': %s", node, dir, strerror(-rc));
        rmdir(o.data_dir); /* the parent too, when no other server uses it */
    }
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    return 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
}

/* ----------------------------------------------------------------- start */

/* Run a command of this tool in-process (stage-in/out) on the job's
 * registry. Returns its exit status. */
static int job_run_tool(struct cli_ctx *ctx, cli_cmd_fn fn, const char *name, const char *spec,
                        const char *jobs)
{
    char *copy = strdup(spec), *colon, prog[64];
    char *argv[8];
    int argc = 0, rc;

    if (!copy)
        return CLI_EXIT_FAIL;
    /* SRC:DEST split at the last ':' (BenchFS paths rarely hold one). */
    colon = strrchr(copy, ':');
    *colon = '\0';
    snprintf(prog, sizeof(prog), CLI_PROG " %s", name);
    argv[argc++] = prog;
    if (jobs) {
        argv[argc++] = "-j";
        argv[argc++] = (char *)jobs;
    }
    argv[argc++] = copy;
    argv[argc++] = colon + 1;
    argv[argc] = NULL;
    optind = 0;
    rc = fn(ctx, argc, argv);
    cli_disconnect(ctx);
    free(copy);
    return rc;
}

/*
 * Start the job's servers (and staging, mount). On success the registry is
 * in o->registry (absolute) and 0 is returned; on failure whatever started
 * is stopped again and an exit code is returned.
 */
static int job_start_servers(struct cli_ctx *ctx, struct job_opts *o)
{
    char self[PATH_MAX], bin[PATH_MAX], idbuf[32], log[PATH_MAX + 40], rank[16];
    char config_abs[PATH_MAX], launcher_bin[PATH_MAX];
    const char *launcher = o->launcher ? o->launcher : "auto";
    char *args[JOB_MAX_ARGS];
    struct job_state s = {0};
    uint64_t deadline;
    struct timespec t0;
    int a = 0, rc, base;
    char nbuf[16];

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (self_exe(self, sizeof(self)) < 0)
        return CLI_EXIT_FAIL;
    if (strcmp(launcher, "auto") == 0) {
        const char *slurm = getenv("SLURM_JOB_ID");

        if (slurm && *slurm)
            launcher = "srun";
        else if (getenv("PBS_NODEFILE"))
            launcher = "mpirun";
        else
            launcher = "local";
    }
    if (o->servers == 0) {
        const char *nn = getenv("SLURM_JOB_NUM_NODES");

        if (strcmp(launcher, "srun") == 0 && nn)
            o->servers = (unsigned)strtoul(nn, NULL, 10);
        else if (strcmp(launcher, "mpirun") == 0)
            o->servers = job_pbs_nodes();
        if (o->servers == 0)
            o->servers = 1;
    }
    if (strcmp(launcher, "local") == 0 && o->servers > JOB_MAX_LOCAL)
        return cli_usage_error("job start", "at most %d local servers", JOB_MAX_LOCAL);
    if (!*o->registry)
        snprintf(o->registry, sizeof(o->registry), "benchfs-job.%s", job_id(idbuf, sizeof(idbuf)));
    if (!*o->data_dir) {
        const char *tmp = getenv("TMPDIR");

        snprintf(o->data_dir, sizeof(o->data_dir), "%s/benchfs.%s", tmp && *tmp ? tmp : "/tmp",
                 job_id(idbuf, sizeof(idbuf)));
    }
    if (cluster_dir_abs(o->registry, o->registry) < 0)
        return CLI_EXIT_FAIL;
    if (o->data_dir[0] != '/') {
        char cwd[PATH_MAX], tmp[PATH_MAX];

        if (!getcwd(cwd, sizeof(cwd)) ||
            snprintf(tmp, sizeof(tmp), "%s/%s", cwd, o->data_dir) >= (int)sizeof(tmp))
            return cli_usage_error("job start", "data dir path too long");
        memcpy(o->data_dir, tmp, sizeof(tmp));
    }
    if (o->config) {
        if (!realpath(o->config, config_abs)) {
            cli_error("job: cannot read configuration '%s': %s", o->config, strerror(errno));
            return CLI_EXIT_FAIL;
        }
        o->config = config_abs;
    }
    if (o->server_bin)
        snprintf(bin, sizeof(bin), "%s", o->server_bin);
    else if (cluster_find_server_bin(bin, sizeof(bin)) < 0)
        return CLI_EXIT_FAIL;
    if (job_state_read(o->registry, &s) == 0) {
        for (unsigned i = 0; i < s.nprocs; i++)
            if (cluster_node_alive(&s.procs[i])) {
                cli_error("job: a job is already running from '%s' (pid %ld); 'benchfs job stop "
                          "--registry %s' first",
                          o->registry, (long)s.procs[i].pid, o->registry);
                return CLI_EXIT_FAIL;
            }
        memset(&s, 0, sizeof(s));
    }
    if (benchfs_registry_prepare(o->registry, o->servers) < 0) {
        cli_error("job: cannot prepare the registry '%s': %s", o->registry, benchfs_last_error());
        return CLI_EXIT_FAIL;
    }

    /* The launcher's command line, then `benchfs job _server ...`. */
    snprintf(nbuf, sizeof(nbuf), "%u", o->servers);
    if (strcmp(launcher, "srun") == 0) {
        static char nodes[32], ntasks[32];

        snprintf(nodes, sizeof(nodes), "--nodes=%u", o->servers);
        snprintf(ntasks, sizeof(ntasks), "--ntasks=%u", o->servers);
        args[a++] = "srun";
        args[a++] = "--overlap";
        args[a++] = nodes;
        args[a++] = ntasks;
        args[a++] = "--ntasks-per-node=1";
        args[a++] = "--kill-on-bad-exit=0";
        args[a++] = "--job-name=benchfsd";
    } else if (strcmp(launcher, "mpirun") == 0) {
        args[a++] = "mpirun";
        args[a++] = "-n";
        args[a++] = nbuf;
        args[a++] = "--map-by";
        args[a++] = "ppr:1:node";
        if (getenv("PBS_NODEFILE")) {
            args[a++] = "--hostfile";
            args[a++] = getenv("PBS_NODEFILE");
        }
        /* Open MPI passes the environment only to ranks of this node: the
         * transport choice must reach the servers of the other nodes too
         * (docs/jobs.md; srun passes it all). */
        for (const char *const *v = job_forwarded_env; *v != NULL; v++) {
            if (getenv(*v) != NULL) {
                args[a++] = "-x";
                args[a++] = (char *)*v;
            }
        }
    }
    base = a;
    if (base && job_which(args[0], launcher_bin, sizeof(launcher_bin)) < 0)
        return CLI_EXIT_FAIL;
    args[a++] = self;
    args[a++] = "job";
    args[a++] = "_server";
    args[a++] = "--registry";
    args[a++] = o->registry;
    args[a++] = "--data-dir";
    args[a++] = o->data_dir;
    args[a++] = "--server-bin";
    args[a++] = bin;
    if (o->config) {
        args[a++] = "--config";
        args[a++] = (char *)o->config;
    }
    for (int k = 0; k < o->nsets; k++) {
        args[a++] = "--set";
        args[a++] = (char *)o->sets[k];
    }
    if (o->keep_data)
        args[a++] = "--keep-data";
    snprintf(s.launcher, sizeof(s.launcher), "%s", launcher);
    snprintf(s.data_dir, sizeof(s.data_dir), "%s", o->data_dir);
    s.servers = o->servers;
    /* Local: one _server per server, told its rank; else one launcher. */
    for (unsigned i = 0; i < (strcmp(launcher, "local") == 0 ? o->servers : 1u); i++) {
        struct cl_node *p = &s.procs[s.nprocs];
        char state;
        int la = a;

        if (strcmp(launcher, "local") == 0) {
            snprintf(rank, sizeof(rank), "%u", i);
            args[la++] = "--rank";
            args[la++] = rank;
        }
        args[la] = NULL;
        snprintf(log, sizeof(log), "%s/job-%s%s%s.log", o->registry, launcher,
                 strcmp(launcher, "local") == 0 ? "-" : "",
                 strcmp(launcher, "local") == 0 ? rank : "");
        rc = cluster_node_spawn(base ? launcher_bin : self, args, log, base == 0, &p->pid);
        if (rc < 0) {
            cli_error("job: cannot run %s: %s", base ? launcher_bin : self, strerror(-rc));
            job_stop_procs(&s, 10000, true);
            return CLI_EXIT_FAIL;
        }
        if (cluster_proc_stat_read(p->pid, &state, &p->start) < 0)
            p->start = 0;
        s.nprocs++;
    }
    if (job_state_write(o->registry, &s) < 0) {
        job_stop_procs(&s, 10000, true);
        return CLI_EXIT_FAIL;
    }

    /* Every server registered, or a launcher gone, or the deadline. */
    deadline = time_mono_ns() + (uint64_t)(o->timeout_ms ? o->timeout_ms : 60000) * 1000000ull;
    for (;;) {
        unsigned ready = job_registered(o->registry, o->servers);
        bool gone = false;

        if (ready == o->servers)
            break;
        for (unsigned i = 0; i < s.nprocs; i++) {
            int ws;

            if (waitpid(s.procs[i].pid, &ws, WNOHANG) == s.procs[i].pid) {
                s.procs[i].exited = true;
                gone = true;
            }
        }
        if (gone || time_mono_ns() > deadline) {
            cli_error("job: %u of %u servers registered in '%s'%s", ready, o->servers, o->registry,
                      gone ? "; the launcher exited, its log:" : " before the timeout");
            snprintf(log, sizeof(log), "%s/job-%s%s.log", o->registry, launcher,
                     strcmp(launcher, "local") == 0 ? "-0" : "");
            cluster_log_tail(log, 20);
            job_stop_procs(&s, 10000, true);
            unlink(log);
            return CLI_EXIT_FAIL;
        }
        cluster_sleep_ms(20);
    }
    fprintf(stderr, "benchfs: job: %u server%s up in %.2f s (%s, registry %s, data %s/node_*)\n",
            o->servers, o->servers == 1 ? "" : "s", cli_elapsed(&t0), launcher, o->registry,
            o->data_dir);
    ctx->registry = o->registry;
    if (o->mount) {
        if (job_mount(self, o->registry, o->mount, &s, o->timeout_ms ? o->timeout_ms : 60000) < 0)
            return CLI_EXIT_FAIL; /* the servers run: job stop cleans up */
        job_state_write(o->registry, &s);
    }
    rc = CLI_EXIT_OK;
    for (int i = 0; i < o->nin; i++)
        if (job_run_tool(ctx, cmd_stage_in, "stage-in", o->stage_in[i], o->jobs) != CLI_EXIT_OK)
            rc = CLI_EXIT_FAIL;
    return rc;
}

/* ------------------------------------------------------------------ stop */

static int job_stop_all(struct cli_ctx *ctx, struct job_opts *o)
{
    struct job_state s;
    char path[PATH_MAX + 40];
    int timeout_ms = o->timeout_ms ? o->timeout_ms : 60000;
    unsigned stage_errors = 0, left = 0;
    bool graceful, asked, killed = false;
    int rc;

    if (!*o->registry) {
        if (!ctx->registry)
            return cli_usage_error("job stop", "no registry: --registry DIR or BENCHFS_REGISTRY");
        snprintf(o->registry, sizeof(o->registry), "%s", ctx->registry);
    }
    rc = job_state_read(o->registry, &s);
    if (rc < 0) {
        if (rc == -ENOENT)
            cli_error("job: no job started from '%s' (no " JOB_STATE_FILE ")", o->registry);
        return CLI_EXIT_FAIL;
    }
    ctx->registry = o->registry;
    /* Stage-out first: the servers still hold the data. */
    for (int i = 0; i < o->nout; i++)
        if (job_run_tool(ctx, cmd_stage_out, "stage-out", o->stage_out[i], o->jobs) != CLI_EXIT_OK)
            stage_errors++;
    if (s.mount[0]) {
        pid_t pid = fork();

        if (pid == 0) {
            execlp("fusermount3", "fusermount3", "-u", s.mount, (char *)NULL);
            _exit(127);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    /* Graceful: every server drains, syncs and exits; the launchers
     * follow and the _server wrappers remove the data dirs. */
    {
        bool any = false;

        for (unsigned i = 0; i < s.nprocs; i++)
            any = any || cluster_node_alive(&s.procs[i]);
        /* A dead server must not hold the stop for the default 30 s. */
        if (ctx->timeout_ms <= 0)
            ctx->timeout_ms = 10000;
        asked = !any;
        if (any && cli_connect(ctx) == 0) {
            if (benchfs_shutdown_servers() < 0)
                cli_warn("job: shutdown: %s", benchfs_last_error());
            else
                asked = true;
            cli_disconnect(ctx);
        }
    }
    /* Not asked (a server is gone, the client cannot connect): SIGTERM
     * the launchers at once; srun/mpirun and _server pass it on and each
     * remaining server still drains and exits. */
    graceful = asked && job_wait_procs(&s, timeout_ms);
    if (!graceful)
        killed = job_stop_procs(&s, asked ? 10000 : timeout_ms, false);
    /* This node's data dirs must be gone (all of them for local jobs). */
    if (!o->keep_data) {
        for (unsigned i = 0; i < s.servers; i++) {
            struct stat st;

            snprintf(path, sizeof(path), "%s/node_%u", s.data_dir, i);
            if (lstat(path, &st) == 0) {
                left++;
                cli_warn("job: removing the leftover data dir '%s'", path);
                job_rm_tree(path);
            }
        }
        rmdir(s.data_dir);
    }
    job_state_path(o->registry, path, sizeof(path));
    unlink(path);
    snprintf(path, sizeof(path), "%s/cluster", o->registry);
    unlink(path);
    fprintf(stderr, "benchfs: job: stopped %u server%s (%s)%s, data dirs %s, stage-out %s\n",
            s.servers, s.servers == 1 ? "" : "s",
            graceful ? "graceful"
            : killed ? "had to be killed"
                     : "stopped by SIGTERM",
            s.mount[0] ? ", unmounted" : "", o->keep_data ? "kept" : "removed",
            o->nout == 0   ? "not asked"
            : stage_errors ? "FAILED"
                           : "ok");
    return graceful && stage_errors == 0 && left == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* ------------------------------------------------------------------- run */

/* Append the words of every "#BFS ..." line of `file` to argv. */
static int job_directives(const char *file, char **argv, int *argc, int max, wordexp_t *we,
                          bool *have_we)
{
    char line[4096];
    FILE *f = fopen(file, "r");

    if (!f) {
        cli_error("job: cannot read directives from '%s': %s", file, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        int rc;

        if (strncmp(line, "#BFS", 4) != 0 || (line[4] != ' ' && line[4] != '\t'))
            continue;
        line[strcspn(line, "\n")] = '\0';
        /* $VAR expansion and quoting like the shell, but no commands. */
        rc = wordexp(line + 5, we, WRDE_NOCMD | (*have_we ? WRDE_APPEND : 0));
        if (rc != 0) {
            cli_error("job: cannot parse directive '%s' in '%s'", line, file);
            fclose(f);
            return -1;
        }
        *have_we = true;
    }
    fclose(f);
    for (size_t i = 0; *have_we && i < we->we_wordc; i++) {
        if (*argc >= max - 1) {
            cli_error("job: too many directives in '%s'", file);
            return -1;
        }
        argv[(*argc)++] = we->we_wordv[i];
    }
    return 0;
}

static int job_run(struct cli_ctx *ctx, int argc, char **argv)
{
    char *all[JOB_MAX_ARGS];
    struct job_opts o = {0};
    struct sigaction sa = {0};
    wordexp_t we;
    bool have_we = false;
    int n = 0, cmd_at, rc, ws = 0, status;
    pid_t pid;

    if (argc >= JOB_MAX_ARGS / 2)
        return cli_usage_error("job run", "too many arguments (at most %d)", JOB_MAX_ARGS / 2);
    /* argv with the directives' words inserted after the program name. */
    all[n++] = argv[0];
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strncmp(argv[i], "--directives", 12) == 0) {
            const char *file = argv[i][12] == '=' ? argv[i] + 13 : i + 1 < argc ? argv[i + 1] : "";

            if (job_directives(file, all, &n, JOB_MAX_ARGS - argc, &we, &have_we) < 0)
                goto fail;
        }
    for (int i = 1; i < argc; i++)
        all[n++] = argv[i];
    all[n] = NULL;
    rc = job_parse("job run", n, all, "rdcsnLIOMBjTKD", &o);
    if (rc) {
        status = rc < 0 ? CLI_EXIT_OK : rc;
        goto out;
    }
    cmd_at = optind;
    if (cmd_at >= n) {
        status = cli_usage_error("job run", "missing COMMAND (after --)");
        goto out;
    }
    status = job_start_servers(ctx, &o);
    if (status != CLI_EXIT_OK && job_state_read(o.registry, &(struct job_state){0}) < 0)
        goto out; /* nothing runs */
    if (status == CLI_EXIT_OK) {
        setenv("BENCHFS_REGISTRY", o.registry, 1);
        sa.sa_handler = job_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            execvp(all[cmd_at], all + cmd_at);
            fprintf(stderr, "benchfs: job run: cannot execute '%s': %s\n", all[cmd_at],
                    strerror(errno));
            _exit(127);
        }
        if (pid < 0) {
            cli_error("job: cannot fork: %s", strerror(errno));
            status = CLI_EXIT_FAIL;
        } else {
            for (;;) {
                pid_t r = waitpid(pid, &ws, 0);

                if (r == pid || (r < 0 && errno != EINTR))
                    break;
                if (job_signal) {
                    /* Time limit or scancel: the command ends, staging runs. */
                    kill(pid, job_signal);
                    job_signal = 0;
                }
            }
            status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
            if (status)
                cli_error("job run: '%s' failed (exit status %d): staging out anyway", all[cmd_at],
                          status);
        }
    }
    rc = job_stop_all(ctx, &o);
    if (status == CLI_EXIT_OK)
        status = rc;
out:
    if (have_we)
        wordfree(&we);
    return status;
fail:
    status = CLI_EXIT_FAIL;
    goto out;
}

/* ------------------------------------------------------------ dispatch */

int cmd_job(struct cli_ctx *ctx, int argc, char **argv)
{
    struct job_opts o = {0};
    const char *sub;
    char prog[64];
    int rc;

    if (argc < 2)
        return cli_usage_error("job", "missing subcommand (start, stop or run)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        job_help();
        return CLI_EXIT_OK;
    }
    sub = argv[1];
    snprintf(prog, sizeof(prog), CLI_PROG " job %.20s", sub);
    argv[1] = prog;
    optind = 0;
    if (strcmp(sub, "_server") == 0)
        return job_server(argc - 1, argv + 1);
    if (strcmp(sub, "run") == 0)
        return job_run(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "start") == 0) {
        rc = job_parse("job start", argc - 1, argv + 1, "rdcsnLIMBjTK", &o);
        if (rc)
            return rc < 0 ? CLI_EXIT_OK : rc;
        if (optind < argc - 1)
            return cli_usage_error("job start", "extra operand '%s'", argv[optind + 1]);
        rc = job_start_servers(ctx, &o);
        /* The servers may run even when staging failed: print the export
         * so the script's `job stop` finds them. */
        if (rc == CLI_EXIT_OK || job_state_read(o.registry, &(struct job_state){0}) == 0) {
            fputs("export BENCHFS_REGISTRY=", stdout);
            cli_print_shell_word(o.registry);
            putchar('\n');
        }
        return rc;
    }
    if (strcmp(sub, "stop") == 0) {
        rc = job_parse("job stop", argc - 1, argv + 1, "rOjTK", &o);
        if (rc)
            return rc < 0 ? CLI_EXIT_OK : rc;
        if (optind < argc - 1)
            return cli_usage_error("job stop", "extra operand '%s'", argv[optind + 1]);
        return job_stop_all(ctx, &o);
    }
    return cli_usage_error("job", "unknown subcommand '%s' (start, stop or run)", sub);
}
