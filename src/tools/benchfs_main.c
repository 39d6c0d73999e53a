/*
 * benchfs_main.c - entry point of the `benchfs` tool: global options,
 * command dispatch, help, and the helpers every command shares (messages in
 * the manner of coreutils, path operands, human-readable numbers).
 *
 *   benchfs [--registry DIR] [--timeout SEC] COMMAND [ARGS...]
 *
 * The registry defaults to $BENCHFS_REGISTRY. Commands connect lazily
 * (cli_connect) so that `benchfs CMD --help` and usage errors never need a
 * running cluster.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchfs.h"
#include "tools/benchfs_cli.h"

struct cli_command {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
};

static const struct cli_command commands[] = {
    {"ls", cmd_ls, "list directory contents (-l: mode, size, mtime)"},
    {"stat", cmd_stat, "show the attributes of files and directories"},
    {"mkdir", cmd_mkdir, "create directories (-p: with parents)"},
    {"rm", cmd_rm, "remove files (-r: directories too, -f: ignore missing)"},
    {"rmdir", cmd_rmdir, "remove empty directories"},
    {"put", cmd_put, "copy local files into BenchFS"},
    {"get", cmd_get, "copy a BenchFS file to the local file system"},
    {"cat", cmd_cat, "write files to standard output"},
    {"find", cmd_find, "search a directory tree (-name, -size, -newer, -type)"},
    {"df", cmd_df, "show capacity and usage"},
    {"ping", cmd_ping, "ping every server (round-trip time)"},
    {"status", cmd_status, "per-server statistics"},
    {"shutdown", cmd_shutdown, "ask every server to exit gracefully"},
    {"cluster", cmd_cluster, "start, inspect and stop a local cluster of benchfsd"},
    {"mount", cmd_mount, "mount the cluster with FUSE for every program"},
    {"umount", cmd_umount, "unmount a FUSE mount of the cluster"},
    {"fsck", cmd_fsck, "find (--repair: free) orphan chunks and dead clients' orphan records"},
    {"stage-in", cmd_stage_in, "copy local trees into BenchFS (parallel, resumable)"},
    {"stage-out", cmd_stage_out, "copy BenchFS trees to the local file system"},
    {"job", cmd_job, "start/stop BenchFS for a batch job (servers, staging)"},
    {"run", cmd_run, "run an unmodified program with paths under a mount prefix on BenchFS"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: benchfs [--registry DIR] [--timeout SEC] COMMAND [ARGS...]\n"
                 "Command-line client of the BenchFS distributed file system.\n\n"
                 "Options:\n"
                 "  -r, --registry DIR   registry directory of the cluster (default: "
                 "$BENCHFS_REGISTRY)\n"
                 "  -t, --timeout SEC    how long to wait for the servers to be registered\n"
                 "                       (default: the library's, 30 s)\n"
                 "  -h, --help           this help\n"
                 "  -V, --version        version\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nPaths are BenchFS paths (\"/dir/file\"; a relative path starts at the root).\n"
                 "'benchfs COMMAND --help' describes each command. Exit status: 0 success,\n"
                 "1 when any operand failed, 2 for usage errors. See benchfs(1) and "
                 "docs/cli.md.\n");
}

void cli_error(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout); /* keep stdout and stderr in order on a terminal */
    fputs(CLI_PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_print_shell_word(const char *s)
{
    if (s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-+,:@%")] ==
        '\0') {
        fputs(s, stdout);
        return;
    }
    putchar('\'');
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*s);
    }
    putchar('\'');
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs(CLI_PROG ": warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Errors whose strerror says everything; for others (EIO, ETIMEDOUT, ...)
 * the library's message names the server and is worth showing. */
static bool errno_self_explanatory(int err)
{
    switch (err) {
    case ENOENT:
    case EEXIST:
    case ENOTDIR:
    case EISDIR:
    case ENOTEMPTY:
    case ENAMETOOLONG:
    case EACCES:
    case EPERM:
        return true;
    default:
        return false;
    }
}

void cli_op_error(const char *action, const char *path, int err)
{
    const char *detail = benchfs_last_error();
    const char *msg = strerror(err);

    if (!errno_self_explanatory(err) && detail && *detail && strcmp(detail, msg) != 0)
        cli_error("%s '%s': %s (%s)", action, path, msg, detail);
    else
        cli_error("%s '%s': %s", action, path, msg);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs(CLI_PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "\nTry '" CLI_PROG " %s --help' for more information.\n", cmd);
    else
        fprintf(stderr, "\nTry '" CLI_PROG " --help' for more information.\n");
    return CLI_EXIT_USAGE;
}

int cli_try_help(const char *cmd)
{
    fprintf(stderr, "Try '" CLI_PROG " %s --help' for more information.\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_operands_begin(struct cli_ctx *ctx, int argc, char **argv, const char *cmd,
                       const char *usage)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'H') {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        }
        return cli_try_help(cmd);
    }
    if (optind >= argc)
        return cli_usage_error(cmd, "missing operand");
    rc = cli_connect(ctx);
    return rc ? rc : -1;
}

int cli_connect(struct cli_ctx *ctx)
{
    struct benchfs_options opts;

    if (ctx->connected)
        return 0;
    if (!ctx->registry) {
        cli_error("no registry directory: use --registry DIR or set BENCHFS_REGISTRY\n"
                  "(a local cluster prints it: benchfs cluster start -n N ...)");
        return CLI_EXIT_USAGE;
    }
    benchfs_options_init(&opts);
    if (ctx->timeout_ms > 0)
        opts.discovery_timeout_ms = ctx->timeout_ms;
    if (benchfs_connect(ctx->registry, &opts) < 0) {
        int err = errno;
        const char *detail = benchfs_last_error();

        cli_error("cannot connect to the cluster in '%s': %s", ctx->registry,
                  detail && *detail ? detail : strerror(err));
        return CLI_EXIT_FAIL;
    }
    ctx->connected = true;
    return 0;
}

int cli_disconnect(struct cli_ctx *ctx)
{
    if (!ctx->connected)
        return 0;
    ctx->connected = false;
    if (benchfs_disconnect() < 0) {
        int err = errno;

        cli_error("disconnect: %s", *benchfs_last_error() ? benchfs_last_error() : strerror(err));
        return CLI_EXIT_FAIL;
    }
    return 0;
}

int cli_path(const char *arg, char out[BFS_PATH_MAX])
{
    char tmp[BFS_PATH_MAX];
    int rc;

    if (arg[0] == '\0') {
        cli_error("invalid path '': No such file or directory");
        return -1;
    }
    if (arg[0] == '/') {
        rc = path_normalize(arg, out, BFS_PATH_MAX);
    } else {
        /* Relative operands start at the root: there is no working dir. */
        if (snprintf(tmp, sizeof(tmp), "/%s", arg) >= (int)sizeof(tmp))
            rc = -ENAMETOOLONG;
        else
            rc = path_normalize(tmp, out, BFS_PATH_MAX);
    }
    if (rc < 0) {
        cli_error("invalid path '%s': %s", arg, strerror(-rc));
        return -1;
    }
    return 0;
}

int cli_path_join(const char *dir, const char *name, char out[BFS_PATH_MAX])
{
    int n;

    if (strcmp(dir, "/") == 0)
        n = snprintf(out, BFS_PATH_MAX, "/%s", name);
    else
        n = snprintf(out, BFS_PATH_MAX, "%s/%s", dir, name);
    return n < 0 || n >= BFS_PATH_MAX ? -ENAMETOOLONG : 0;
}

const char *cli_basename(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash || slash[1] == '\0')
        return path;
    return slash + 1;
}

int cli_last_name(const char *path, char *out, size_t outlen)
{
    size_t end = strlen(path), start;

    while (end > 1 && path[end - 1] == '/')
        end--;
    start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    if (end - start >= outlen || end - start > BFS_NAME_MAX)
        return -ENAMETOOLONG;
    memcpy(out, path + start, end - start);
    out[end - start] = '\0';
    return 0;
}

void cli_human_size(uint64_t bytes, char *buf, size_t len)
{
    static const char units[] = "KMGTPE";
    double v = (double)bytes;
    int u = -1;

    if (bytes < 1024) {
        snprintf(buf, len, "%llu", (unsigned long long)bytes);
        return;
    }
    /* Scale while the value would print as 1024 or more. */
    while (v >= 1023.95 && u < 5) {
        v /= 1024.0;
        u++;
    }
    if (v < 9.95)
        snprintf(buf, len, "%.1f%c", v, units[u]);
    else
        snprintf(buf, len, "%.0f%c", v, units[u]);
}

void cli_mode_string(mode_t mode, char buf[11])
{
    static const char rwx[] = "rwxrwxrwx";

    buf[0] = S_ISDIR(mode) ? 'd' : S_ISREG(mode) ? '-' : S_ISLNK(mode) ? 'l' : '?';
    for (int i = 0; i < 9; i++)
        buf[1 + i] = (mode & (1u << (8 - i))) ? rwx[i] : '-';
    if (mode & S_ISUID)
        buf[3] = (mode & S_IXUSR) ? 's' : 'S';
    if (mode & S_ISGID)
        buf[6] = (mode & S_IXGRP) ? 's' : 'S';
    if (mode & S_ISVTX)
        buf[9] = (mode & S_IXOTH) ? 't' : 'T';
    buf[10] = '\0';
}

void cli_duration(uint64_t ns, char *buf, size_t len)
{
    uint64_t s = ns / 1000000000ull;

    if (s < 60)
        snprintf(buf, len, "%.1fs", (double)ns / 1e9);
    else if (s < 3600)
        snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else if (s < 86400)
        snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s % 3600 / 60));
    else
        snprintf(buf, len, "%llud%02lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s % 86400 / 3600));
}

double cli_elapsed(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int cli_parse_size(const char *s, uint64_t *out_p)
{
    unsigned long long v;
    unsigned shift = 0;
    char *end;

    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    default:
        return -EINVAL;
    }
    if (shift && end[1] != '\0')
        return -EINVAL;
    if (shift && v > (UINT64_MAX >> shift))
        return -EINVAL;
    *out_p = (uint64_t)v << shift;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"registry", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cli_ctx ctx = {0};
    const char *env = getenv("BENCHFS_REGISTRY");
    int opt, rc;

    if (env && *env)
        ctx.registry = env;
    /* '+': stop at the command name; its options are its own. */
    while ((opt = getopt_long(argc, argv, "+r:t:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            ctx.registry = optarg;
            break;
        case 't': {
            char *end;
            double sec = strtod(optarg, &end);

            if (end == optarg || *end || !(sec > 0) || sec > 86400)
                return cli_usage_error(NULL, "invalid timeout '%s' (seconds)", optarg);
            ctx.timeout_ms = (int)(sec * 1000.0 + 0.5);
            if (ctx.timeout_ms == 0)
                ctx.timeout_ms = 1;
            break;
        }
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        case 'V':
            printf("benchfs (BenchFS) %s\n", benchfs_version());
            return CLI_EXIT_OK;
        default:
            fprintf(stderr, "Try '" CLI_PROG " --help' for more information.\n");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error(NULL, "missing command");

    const char *name = argv[optind];
    int sub_argc = argc - optind;
    char prog[64];
    char **sub_argv = argv + optind;

    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(name, commands[i].name) != 0)
            continue;
        /* optind = 0 makes glibc's getopt start afresh on the command's own
         * argv (whose argv[0] is the command name). */
        optind = 0;
        /* getopt's own messages then read "benchfs ls: invalid option". */
        snprintf(prog, sizeof(prog), CLI_PROG " %s", name);
        sub_argv[0] = prog;
        rc = commands[i].fn(&ctx, sub_argc, sub_argv);
        if (cli_disconnect(&ctx) != 0 && rc == CLI_EXIT_OK)
            rc = CLI_EXIT_FAIL;
        /* A failed write to stdout (full disk, closed pipe) is a failure. */
        if (fflush(stdout) != 0 || ferror(stdout)) {
            if (errno != EPIPE)
                cli_error("write error: %s", strerror(errno));
            if (rc == CLI_EXIT_OK)
                rc = CLI_EXIT_FAIL;
        }
        return rc;
    }
    return cli_usage_error(NULL, "unknown command '%s'", name);
}
