/*
 * benchfs_cluster.c - `benchfs cluster start|status|stop`: a local cluster
 * of benchfsd processes on this machine, for demos, tests and single-node
 * jobs.
 *
 * start forks N detached servers (own session, stdin /dev/null, stdout and
 * stderr to <log-dir>/<node_id>.log), node ids node_0..node_{N-1}, data dirs
 * <data-dir>/<node_id>. It writes the registry's cluster file (so clients
 * wait for all N) and <registry>/cluster.pids, then waits until every
 * server has published <registry>/<node_id>.addr with its own pid.
 *
 * The pids file and the process mechanics are in benchfs_cluster_proc.c
 * (benchfs_cluster.h).
 *
 * Uses plain POSIX process control and the registry helpers; file system
 * operations (uptime in status) go through the public API.
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
#include <time.h>
#include <unistd.h>

#include "benchfs.h"
#include "common/timeutil.h"
#include "registry/registry.h"
#include "tools/benchfs_cluster.h"

#define MAX_SETS 64

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

/* ----------------------------------------------------------------- start */

static void start_usage(FILE *out)
{
    fprintf(out,
            "Usage: benchfs cluster start -n N --registry DIR --data-dir DIR [OPTIONS]\n"
            "Start N benchfsd servers on this machine (node_0 .. node_{N-1}), wait until\n"
            "all are registered, and print 'export BENCHFS_REGISTRY=DIR' for the shell.\n\n"
            "  -n, --servers N        number of servers (1..%d)\n"
            "  -r, --registry DIR     registry directory (created; default $BENCHFS_REGISTRY)\n"
            "  -d, --data-dir DIR     data directories DIR/node_i (created)\n"
            "  -c, --config FILE      benchfs.toml passed to every server\n"
            "  -s, --set KEY=VALUE    configuration override passed to every server "
            "(repeatable)\n"
            "  -l, --log-level LEVEL  server log level (error|warn|info|debug|trace)\n"
            "      --log-dir DIR      server logs DIR/node_i.log (default DATA-DIR/logs)\n"
            "      --timeout SEC      how long to wait for the servers (default 30)\n"
            "      --server-bin PATH  benchfsd to run (default: next to benchfs, then PATH)\n"
            "      --mount DIR        then mount the cluster on DIR (FUSE; stop unmounts)\n"
            "      --help             this help\n\n"
            "The servers inherit the environment (UCX_TLS, BENCHFS_LOG, ...). Their pids\n"
            "are kept in DIR/cluster.pids for 'benchfs cluster status' and 'stop'.\n",
            CLUSTER_MAX_SERVERS);
}

/* Wait until every node is registered, one exits, the deadline passes or
 * a signal arrives. Returns 0 when all are ready. */
static int start_wait(struct cl_cluster *c, int timeout_ms)
{
    uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    long pause = 2;

    for (;;) {
        unsigned ready = 0;

        for (unsigned i = 0; i < c->n; i++) {
            struct cl_node *node = &c->nodes[i];
            char log[PATH_MAX + 80];

            if (!node->ready && cluster_node_registered(c, node, NULL))
                node->ready = true;
            ready += node->ready;
            if (waitpid(node->pid, &node->wstatus, WNOHANG) != node->pid)
                continue;
            node->exited = true;
            if (WIFEXITED(node->wstatus))
                cli_error("%s (pid %ld) exited with status %d before the cluster was ready",
                          node->id, (long)node->pid, WEXITSTATUS(node->wstatus));
            else
                cli_error("%s (pid %ld) was killed by signal %d before the cluster was ready",
                          node->id, (long)node->pid, WTERMSIG(node->wstatus));
            cluster_node_log_path(c, node, log, sizeof(log));
            cluster_log_tail(log, 20);
            return -1;
        }
        if (ready == c->n)
            return 0;
        if (interrupted) {
            cli_error("interrupted (signal %d) while waiting for the servers", (int)interrupted);
            return -1;
        }
        if (time_mono_ns() > deadline) {
            cli_error("%u of %u servers not registered in '%s' after %.1f s", c->n - ready, c->n,
                      c->registry, timeout_ms / 1000.0);
            for (unsigned i = 0, shown = 0; i < c->n && shown < 4; i++) {
                char log[PATH_MAX + 80];

                if (c->nodes[i].ready)
                    continue;
                cluster_node_log_path(c, &c->nodes[i], log, sizeof(log));
                cluster_log_tail(log, 20);
                shown++;
            }
            return -1;
        }
        cluster_sleep_ms(pause);
        if (pause < 50)
            pause *= 2;
    }
}

static int cluster_start(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"servers", required_argument, NULL, 'n'},
        {"registry", required_argument, NULL, 'r'},
        {"data-dir", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-dir", required_argument, NULL, 'L'},
        {"timeout", required_argument, NULL, 'T'},
        {"server-bin", required_argument, NULL, 'B'},
        {"mount", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    const char *registry = NULL, *data_dir = NULL, *config = NULL, *log_dir = NULL;
    const char *level = NULL, *bin_opt = NULL, *sets[MAX_SETS], *mount_dir = NULL;
    char bin[PATH_MAX], config_abs[PATH_MAX], err[1024];
    struct cl_cluster c = {0};
    struct sigaction sa = {0}, old_int, old_term;
    int timeout_ms = ctx->timeout_ms > 0 ? ctx->timeout_ms : CLUSTER_WAIT_MS;
    int nsets = 0, opt, rc, status = CLI_EXIT_FAIL;
    long servers = 0;
    char *end;

    while ((opt = getopt_long(argc, argv, "n:r:d:c:s:l:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            servers = strtol(optarg, &end, 10);
            if (end == optarg || *end || servers < 1 || servers > CLUSTER_MAX_SERVERS)
                return cli_usage_error("cluster start", "invalid number of servers '%s'", optarg);
            break;
        case 'r':
            registry = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 's':
            if (nsets == MAX_SETS)
                return cli_usage_error("cluster start", "too many --set options");
            sets[nsets++] = optarg;
            break;
        case 'l':
            level = optarg;
            break;
        case 'M':
            mount_dir = optarg;
            break;
        case 'L':
            log_dir = optarg;
            break;
        case 'T': {
            double sec = strtod(optarg, &end);

            if (end == optarg || *end || !(sec > 0) || sec > 86400)
                return cli_usage_error("cluster start", "invalid timeout '%s'", optarg);
            timeout_ms = (int)(sec * 1000.0);
            break;
        }
        case 'B':
            bin_opt = optarg;
            break;
        case 'H':
            start_usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_try_help("cluster start");
        }
    }
    if (optind < argc)
        return cli_usage_error("cluster start", "extra operand '%s'", argv[optind]);
    if (servers == 0)
        return cli_usage_error("cluster start", "missing -n N (number of servers)");
    if (!data_dir)
        return cli_usage_error("cluster start", "missing --data-dir DIR");
    rc = cluster_registry(ctx, registry, "cluster start", &c);
    if (rc)
        return rc;

    /* Directories, absolute: the servers and the printed export need them
     * independent of this shell's working directory. */
    if (cluster_dir_abs(c.registry, c.registry) < 0 || cluster_dir_abs(data_dir, c.data_dir) < 0)
        return CLI_EXIT_FAIL;
    if (log_dir) {
        if (cluster_dir_abs(log_dir, c.log_dir) < 0)
            return CLI_EXIT_FAIL;
    } else {
        char tmp[PATH_MAX + 8];

        snprintf(tmp, sizeof(tmp), "%s/logs", c.data_dir);
        if (cluster_dir_abs(tmp, c.log_dir) < 0)
            return CLI_EXIT_FAIL;
    }
    if (config) {
        if (!realpath(config, config_abs)) {
            cli_error("cannot read configuration '%s': %s", config, strerror(errno));
            return CLI_EXIT_FAIL;
        }
        config = config_abs;
    }
    if (bin_opt) {
        if (access(bin_opt, X_OK) < 0) {
            cli_error("cannot execute '%s': %s", bin_opt, strerror(errno));
            return CLI_EXIT_FAIL;
        }
        snprintf(bin, sizeof(bin), "%s", bin_opt);
    } else if (cluster_find_server_bin(bin, sizeof(bin)) < 0) {
        return CLI_EXIT_FAIL;
    }
    if (registry_dir_check(c.registry, err, sizeof(err)) < 0) {
        cli_error("%s", err);
        return CLI_EXIT_FAIL;
    }

    /* Refuse to start over a running cluster of the same registry. */
    struct cl_cluster old = {0};
    memcpy(old.registry, c.registry, sizeof(old.registry));
    rc = cluster_pids_read(&old);
    if (rc == -EINVAL)
        return CLI_EXIT_FAIL;
    if (rc == 0) {
        for (unsigned i = 0; i < old.n; i++) {
            if (cluster_node_alive(&old.nodes[i])) {
                cli_error("a cluster is already running from '%s' (%s, pid %ld); stop it with "
                          "'benchfs cluster stop --registry %s'",
                          c.registry, old.nodes[i].id, (long)old.nodes[i].pid, c.registry);
                free(old.nodes);
                return CLI_EXIT_FAIL;
            }
        }
        cli_warn("replacing the stale %s/" CLUSTER_PIDS_FILE " (none of its servers is running)",
                 c.registry);
        free(old.nodes);
    }

    if (cluster_registry_clean(c.registry) < 0)
        return CLI_EXIT_FAIL;

    c.n = (unsigned)servers;
    c.nodes = calloc(c.n, sizeof(*c.nodes));
    if (!c.nodes) {
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    if (registry_cluster_write(c.registry, c.n, err, sizeof(err)) < 0) {
        cli_error("%s", err);
        goto free_nodes;
    }

    /* Interrupting a start stops what it started. */
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0; i < c.n; i++) {
        struct cl_node *node = &c.nodes[i];
        char node_dir[PATH_MAX + 80], log[PATH_MAX + 80], *args[16 + 2 * MAX_SETS];
        int a = 0;
        char state;

        snprintf(node->id, sizeof(node->id), "node_%u", i);
        snprintf(node_dir, sizeof(node_dir), "%s/%s", c.data_dir, node->id);
        cluster_node_log_path(&c, node, log, sizeof(log));
        if (cluster_mkdir_p(node_dir) < 0)
            goto stop;
        args[a++] = bin;
        args[a++] = "--node-id";
        args[a++] = node->id;
        args[a++] = "--data-dir";
        args[a++] = node_dir;
        args[a++] = "--registry";
        args[a++] = c.registry;
        if (config) {
            args[a++] = "--config";
            args[a++] = (char *)config;
        }
        if (level) {
            args[a++] = "--log-level";
            args[a++] = (char *)level;
        }
        for (int k = 0; k < nsets; k++) {
            args[a++] = "--set";
            args[a++] = (char *)sets[k];
        }
        args[a] = NULL;
        rc = cluster_node_spawn(bin, args, log, true, &node->pid);
        if (rc < 0) {
            cli_error("cannot start %s (%s): %s", node->id, bin, strerror(-rc));
            goto stop;
        }
        /* The start time pins this pid to this process for stop/status.
         * (A child that already died is a zombie with /proc still there.) */
        if (cluster_proc_stat_read(node->pid, &state, &node->start) < 0)
            node->start = 0;
    }
    /* Recorded before waiting: an interrupted start can still be stopped. */
    if (cluster_pids_write(&c) < 0)
        goto stop;
    if (start_wait(&c, timeout_ms) < 0)
        goto stop;
    if (mount_dir && cluster_mount_start(&c, mount_dir) < 0)
        goto stop;

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    fprintf(stderr,
            "benchfs: started %u server%s in %.2f s (registry %s, data %s/node_*, logs "
            "%s/node_*.log)\n",
            c.n, c.n == 1 ? "" : "s", cli_elapsed(&t0), c.registry, c.data_dir, c.log_dir);
    fputs("export BENCHFS_REGISTRY=", stdout);
    cli_print_shell_word(c.registry);
    putchar('\n');
    free(c.nodes);
    return CLI_EXIT_OK;

stop:
    /* Stop only what this call started (nodes with pid 0 never ran). */
    fprintf(stderr, "benchfs: stopping the servers started so far\n");
    for (unsigned i = 0; i < c.n; i++)
        if (c.nodes[i].pid <= 0)
            c.nodes[i].exited = true;
    cluster_stop_nodes(&c, 10000, true);
    cluster_pids_remove(&c);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
free_nodes:
    free(c.nodes);
    return status;
}

/* ---------------------------------------------------------- status/stop */

/* The registry of a running cluster and its recorded servers (status, stop):
 * 0, or the exit code after saying why. */
static int cluster_open(struct cli_ctx *ctx, const char *registry, const char *cmd,
                        struct cl_cluster *c)
{
    int rc = cluster_registry(ctx, registry, cmd, c);

    if (rc)
        return rc;
    rc = cluster_pids_read(c);
    if (rc == -ENOENT) {
        cli_error("no cluster started from '%s' (no %s there)", c->registry, CLUSTER_PIDS_FILE);
        return CLI_EXIT_FAIL;
    }
    if (rc == 0)
        cluster_adopt_restarted(c);
    return rc < 0 ? CLI_EXIT_FAIL : 0;
}

static int cluster_status(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"registry", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    const char *registry = NULL;
    struct cl_cluster c = {0};
    uint64_t *uptime;
    bool all_up = true, api = false;
    int opt, rc, status = CLI_EXIT_OK;

    while ((opt = getopt_long(argc, argv, "r:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            registry = optarg;
            break;
        case 'H':
            printf("Usage: benchfs cluster status [--registry DIR]\n"
                   "For each server started by 'benchfs cluster start': pid, whether the\n"
                   "process runs, whether its registry file is present, uptime (asked from\n"
                   "the server when the cluster answers) and log file. Exit status 1 unless\n"
                   "every server runs and is registered.\n");
            return CLI_EXIT_OK;
        default:
            return cli_try_help("cluster status");
        }
    }
    if (optind < argc)
        return cli_usage_error("cluster status", "extra operand '%s'", argv[optind]);
    rc = cluster_open(ctx, registry, "cluster status", &c);
    if (rc)
        return rc;
    uptime = calloc(c.n ? c.n : 1, sizeof(*uptime));
    bool *alive = calloc(c.n ? c.n : 1, sizeof(*alive));
    bool *reg = calloc(c.n ? c.n : 1, sizeof(*reg));
    bool *answered = calloc(c.n ? c.n : 1, sizeof(*answered));
    if (!uptime || !alive || !reg || !answered) {
        cli_error("out of memory");
        status = CLI_EXIT_FAIL;
        goto out;
    }
    for (unsigned i = 0; i < c.n; i++) {
        uint64_t started = 0;

        alive[i] = cluster_node_alive(&c.nodes[i]);
        reg[i] = cluster_node_registered(&c, &c.nodes[i], &started);
        if (reg[i] && started)
            uptime[i] = time_real_ns() > started ? time_real_ns() - started : 0;
        all_up = all_up && alive[i] && reg[i];
    }
    /* Ask the servers themselves only when all are there: otherwise the
     * connect would wait for the missing ones. */
    if (all_up && c.n > 0) {
        struct cli_ctx sub = *ctx;

        sub.registry = c.registry;
        if (sub.timeout_ms <= 0)
            sub.timeout_ms = 5000;
        if (cli_connect(&sub) == 0) {
            int n = benchfs_server_count();

            api = true;
            for (int k = 0; k < n; k++) {
                struct benchfs_server_info info = {0};

                if (benchfs_server_info(k, &info) < 0 || info.status < 0)
                    continue;
                for (unsigned i = 0; i < c.n; i++)
                    if (strcmp(info.node_id, c.nodes[i].id) == 0) {
                        answered[i] = true;
                        uptime[i] = info.uptime_ns;
                    }
            }
            cli_disconnect(&sub);
        } else {
            api = true; /* asked, and nobody answered */
        }
    }
    printf("registry %s, data %s, %u server%s\n", c.registry, c.data_dir, c.n, c.n == 1 ? "" : "s");
    printf("%-10s %8s  %-8s %-10s %-8s %9s  %s\n", "NODE", "PID", "PROCESS", "REGISTERED",
           "ANSWERS", "UPTIME", "LOG");
    for (unsigned i = 0; i < c.n; i++) {
        char up[32] = "-", log[PATH_MAX + 80];

        if (uptime[i] && (reg[i] || answered[i]))
            cli_duration(uptime[i], up, sizeof(up));
        cluster_node_log_path(&c, &c.nodes[i], log, sizeof(log));
        printf("%-10s %8ld  %-8s %-10s %-8s %9s  %s\n", c.nodes[i].id, (long)c.nodes[i].pid,
               alive[i] ? "running" : "gone", reg[i] ? "yes" : "no",
               !api          ? "-"
               : answered[i] ? "yes"
                             : "no",
               up, log);
        if (!alive[i] || !reg[i] || (api && !answered[i]))
            status = CLI_EXIT_FAIL;
    }
out:
    free(answered);
    free(reg);
    free(alive);
    free(uptime);
    free(c.nodes);
    return status;
}

static int cluster_stop(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"registry", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    const char *registry = NULL;
    struct cl_cluster c = {0};
    int timeout_ms = ctx->timeout_ms > 0 ? ctx->timeout_ms : CLUSTER_WAIT_MS;
    unsigned running = 0, refused = 0;
    int opt, rc, status;
    char *end;

    while ((opt = getopt_long(argc, argv, "r:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            registry = optarg;
            break;
        case 'T': {
            double sec = strtod(optarg, &end);

            if (end == optarg || *end || !(sec > 0) || sec > 86400)
                return cli_usage_error("cluster stop", "invalid timeout '%s'", optarg);
            timeout_ms = (int)(sec * 1000.0);
            break;
        }
        case 'H':
            printf("Usage: benchfs cluster stop [--registry DIR] [--timeout SEC]\n"
                   "Stop the servers started by 'benchfs cluster start': SIGTERM, wait up to\n"
                   "SEC seconds (default 30) for them to exit, then SIGKILL with a warning.\n"
                   "Checks that their registry files are gone and removes cluster.pids and\n"
                   "the cluster file. Only the recorded processes are signalled.\n");
            return CLI_EXIT_OK;
        default:
            return cli_try_help("cluster stop");
        }
    }
    if (optind < argc)
        return cli_usage_error("cluster stop", "extra operand '%s'", argv[optind]);
    rc = cluster_open(ctx, registry, "cluster stop", &c);
    if (rc)
        return rc;
    for (unsigned i = 0; i < c.n; i++)
        running += cluster_node_alive(&c.nodes[i]);
    /* Unmount first: the daemon still needs the servers to finish. */
    rc = cluster_mount_stop(&c, timeout_ms);
    status = cluster_stop_nodes(&c, timeout_ms, false);
    if (rc < 0)
        status = CLI_EXIT_FAIL;
    for (unsigned i = 0; i < c.n; i++)
        refused += c.nodes[i].unstoppable;
    if (refused > 0) {
        /* Keep cluster.pids: the servers still run, their owner can stop them. */
        fprintf(stderr, "benchfs: stopped %u of %u running server%s (%u could not be signalled)\n",
                running - refused, running, running == 1 ? "" : "s", refused);
    } else {
        cluster_pids_remove(&c);
        fprintf(stderr, "benchfs: stopped %u server%s (%u already gone)\n", running,
                running == 1 ? "" : "s", c.n - running);
    }
    free(c.nodes);
    return status;
}

int cmd_cluster(struct cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("cluster", "missing subcommand (start, status or stop)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("Usage: benchfs cluster start -n N --registry DIR --data-dir DIR [OPTIONS]\n"
               "       benchfs cluster status [--registry DIR]\n"
               "       benchfs cluster stop [--registry DIR] [--timeout SEC]\n"
               "Manage a cluster of benchfsd processes on this machine.\n"
               "'benchfs cluster SUBCOMMAND --help' describes each.\n");
        return CLI_EXIT_OK;
    }
    /* The subcommand's own argv starts at its name, shown by getopt as
     * "benchfs cluster start: invalid option". */
    const char *sub = argv[1];
    char prog[64];

    snprintf(prog, sizeof(prog), CLI_PROG " cluster %.20s", sub);
    argv[1] = prog;
    optind = 0;
    if (strcmp(sub, "start") == 0)
        return cluster_start(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "status") == 0)
        return cluster_status(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "stop") == 0)
        return cluster_stop(ctx, argc - 1, argv + 1);
    return cli_usage_error("cluster", "unknown subcommand '%s' (start, status or stop)", sub);
}
