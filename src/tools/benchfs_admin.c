/*
 * benchfs_admin.c - administrative commands of the `benchfs` tool: df
 * (capacity), ping (round trip per server), status (per-server counters)
 * and shutdown (graceful stop of every server).
 *
 * ping and status ask each server through benchfs_server_info(); a server
 * that does not answer is shown as such and makes the exit status 1.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "benchfs.h"
#include "tools/benchfs_cli.h"

/* ------------------------------------------------------------------ table */

/* A small text table: columns sized to their widest cell, numbers right-
 * aligned (every column but the first `left` ones). */
#define TABLE_CELL 272 /* fits a host name (255) */

struct table {
    int ncols;
    int left;
    size_t nrows, cap;
    char (*cells)[TABLE_CELL]; /* nrows * ncols; row 0 is the header */
};

static int table_init(struct table *t, int ncols, int left, size_t rows_hint)
{
    t->ncols = ncols;
    t->left = left;
    t->nrows = 0;
    t->cap = rows_hint + 1;
    t->cells = calloc(t->cap * (size_t)ncols, TABLE_CELL);
    if (!t->cells) {
        cli_error("out of memory");
        return -1;
    }
    return 0;
}

/* The next row's cells (ncols of them), or NULL when full. */
static char (*table_row(struct table *t))[TABLE_CELL]
{
    if (t->nrows == t->cap)
        return NULL;
    return &t->cells[t->nrows++ * (size_t)t->ncols];
}

static void table_print(const struct table *t)
{
    int width[32] = {0};

    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols && c < 32; c++) {
            int w = (int)strlen(t->cells[r * (size_t)t->ncols + (size_t)c]);

            if (w > width[c])
                width[c] = w;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols && c < 32; c++) {
            const char *cell = t->cells[r * (size_t)t->ncols + (size_t)c];
            bool last = c == t->ncols - 1;

            if (c < t->left && last)
                fputs(cell, stdout);
            else if (c < t->left)
                printf("%-*s", width[c], cell);
            else
                printf("%*s", width[c], cell);
            if (!last)
                fputs("  ", stdout);
        }
        putchar('\n');
    }
}

static void table_cleanup(struct table *t)
{
    free(t->cells);
    t->cells = NULL;
}

/* --------------------------------------------------------------------- df */

int cmd_df(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"human-readable", no_argument, NULL, 'h'},
        {"inodes", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    bool human = false, inodes = false;
    struct statvfs sv;
    char(*row)[TABLE_CELL];
    struct table t;
    uint64_t total, avail, used;
    int opt, rc, servers;

    while ((opt = getopt_long(argc, argv, "hi", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            human = true;
            break;
        case 'i':
            inodes = true;
            break;
        case 'H':
            printf("Usage: benchfs df [-h] [-i]\n"
                   "Show the capacity of the file system (the sum over its servers).\n\n"
                   "  -h, --human-readable   sizes like 1.5G instead of 1K-blocks\n"
                   "  -i, --inodes           inode counts instead of blocks\n"
                   "      --help             this help\n");
            return CLI_EXIT_OK;
        default:
            return cli_try_help("df");
        }
    }
    if (optind < argc)
        return cli_usage_error("df", "extra operand '%s'", argv[optind]);
    rc = cli_connect(ctx);
    if (rc)
        return rc;
    if (benchfs_statvfs("/", &sv) < 0) {
        cli_op_error("cannot read file system information for", "/", errno);
        return CLI_EXIT_FAIL;
    }
    servers = benchfs_server_count();
    if (inodes) {
        total = sv.f_files;
        avail = sv.f_favail;
        used = sv.f_files >= sv.f_ffree ? sv.f_files - sv.f_ffree : 0;
    } else {
        uint64_t frsize = sv.f_frsize ? sv.f_frsize : sv.f_bsize;

        total = (uint64_t)sv.f_blocks * frsize;
        avail = (uint64_t)sv.f_bavail * frsize;
        used = sv.f_blocks >= sv.f_bfree ? (uint64_t)(sv.f_blocks - sv.f_bfree) * frsize : 0;
    }
    if (table_init(&t, 6, 1, 1) < 0)
        return CLI_EXIT_FAIL;
    row = table_row(&t);
    snprintf(row[0], TABLE_CELL, "Filesystem");
    snprintf(row[1], TABLE_CELL, "%s", inodes ? "Inodes" : human ? "Size" : "1K-blocks");
    snprintf(row[2], TABLE_CELL, "%s", inodes ? "IUsed" : "Used");
    snprintf(row[3], TABLE_CELL, "%s", inodes ? "IFree" : human ? "Avail" : "Available");
    snprintf(row[4], TABLE_CELL, "%s", inodes ? "IUse%" : "Use%");
    snprintf(row[5], TABLE_CELL, "Servers");
    row = table_row(&t);
    snprintf(row[0], TABLE_CELL, "benchfs");
    uint64_t vals[3] = {total, used, avail};
    for (int i = 0; i < 3; i++) {
        if (inodes)
            snprintf(row[1 + i], TABLE_CELL, "%llu", (unsigned long long)vals[i]);
        else if (human)
            cli_human_size(vals[i], row[1 + i], TABLE_CELL);
        else /* 1K-blocks, rounded up like df */
            snprintf(row[1 + i], TABLE_CELL, "%llu", (unsigned long long)((vals[i] + 1023) / 1024));
    }
    /* Use% as df computes it: used / (used + avail), rounded up. */
    if (used + avail == 0)
        snprintf(row[4], TABLE_CELL, "-");
    else
        snprintf(row[4], TABLE_CELL, "%llu%%",
                 (unsigned long long)((used * 100 + used + avail - 1) / (used + avail)));
    snprintf(row[5], TABLE_CELL, "%d", servers);
    table_print(&t);
    table_cleanup(&t);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------- ping */

/* Query server idx; on failure print why and return -1. */
static int server_query(int idx, struct benchfs_server_info *info)
{
    memset(info, 0, sizeof(*info));
    if (benchfs_server_info(idx, info) < 0) {
        int err = errno;
        const char *detail = benchfs_last_error();

        if (info->node_id[0])
            cli_error("%s: no answer: %s", info->node_id, *detail ? detail : strerror(err));
        else
            cli_error("server %d: no answer: %s", idx, *detail ? detail : strerror(err));
        return -1;
    }
    if (info->status < 0) {
        cli_error("%s: no answer: %s", info->node_id[0] ? info->node_id : "server",
                  strerror(-info->status));
        return -1;
    }
    return 0;
}

/* Connect and learn how many servers there are: 0 or the exit code. */
static int admin_connect_count(struct cli_ctx *ctx, int *n_p)
{
    int rc = cli_connect(ctx);

    if (rc)
        return rc;
    *n_p = benchfs_server_count();
    if (*n_p < 0) {
        cli_error("cannot count servers: %s", benchfs_last_error());
        return CLI_EXIT_FAIL;
    }
    return 0;
}

int cmd_ping(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    char(*row)[TABLE_CELL];
    struct table t;
    long count = 1;
    int opt, rc, n, status = CLI_EXIT_OK;

    while ((opt = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': {
            char *end;

            count = strtol(optarg, &end, 10);
            if (end == optarg || *end || count < 1 || count > 1000000)
                return cli_usage_error("ping", "invalid count '%s'", optarg);
            break;
        }
        case 'H':
            printf("Usage: benchfs ping [-c COUNT]\n"
                   "Ping every server: node id, host, pid and round-trip time in "
                   "microseconds.\n\n"
                   "  -c, --count COUNT   pings per server; prints min/avg/max (default 1)\n"
                   "      --help          this help\n");
            return CLI_EXIT_OK;
        default:
            return cli_try_help("ping");
        }
    }
    if (optind < argc)
        return cli_usage_error("ping", "extra operand '%s'", argv[optind]);
    rc = admin_connect_count(ctx, &n);
    if (rc)
        return rc;
    if (table_init(&t, 4, 2, (size_t)n) < 0)
        return CLI_EXIT_FAIL;
    row = table_row(&t);
    snprintf(row[0], TABLE_CELL, "NODE");
    snprintf(row[1], TABLE_CELL, "HOST");
    snprintf(row[2], TABLE_CELL, "PID");
    snprintf(row[3], TABLE_CELL, "%s", count > 1 ? "RTT_US(min/avg/max)" : "RTT_US");
    for (int i = 0; i < n; i++) {
        struct benchfs_server_info info;
        double min = 0, max = 0, sum = 0;
        long ok = 0;

        for (long k = 0; k < count; k++) {
            if (server_query(i, &info) < 0)
                break;
            if (ok == 0 || info.rtt_us < min)
                min = info.rtt_us;
            if (ok == 0 || info.rtt_us > max)
                max = info.rtt_us;
            sum += info.rtt_us;
            ok++;
        }
        row = table_row(&t);
        snprintf(row[0], TABLE_CELL, "%s", info.node_id[0] ? info.node_id : "?");
        snprintf(row[1], TABLE_CELL, "%s", info.host[0] ? info.host : "-");
        snprintf(row[2], TABLE_CELL, "%lld", (long long)info.pid);
        if (ok < count) {
            snprintf(row[3], TABLE_CELL, "no answer");
            status = CLI_EXIT_FAIL;
        } else if (count > 1) {
            snprintf(row[3], TABLE_CELL, "%.1f/%.1f/%.1f", min, sum / (double)ok, max);
        } else {
            snprintf(row[3], TABLE_CELL, "%.1f", min);
        }
    }
    table_print(&t);
    table_cleanup(&t);
    return status;
}

/* ----------------------------------------------------------------- status */

static void fmt_count(char *cell, uint64_t v)
{
    snprintf(cell, TABLE_CELL, "%llu", (unsigned long long)v);
}

static void fmt_bytes(char *cell, uint64_t v, bool raw)
{
    if (raw)
        fmt_count(cell, v);
    else
        cli_human_size(v, cell, TABLE_CELL);
}

int cmd_status(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"raw", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    static const char *const headers[] = {
        "NODE",    "HOST",    "PID", "UPTIME",       "OPS",  "BAD",    "BYTES_IN", "BYTES_OUT",
        "CHUNK_W", "CHUNK_R", "FDS", "CPU(usr+sys)", "BUSY", "INODES", "DIRS",     "CLIENTS",
    };
    const int ncols = (int)(sizeof(headers) / sizeof(headers[0]));
    char(*row)[TABLE_CELL];
    struct table t;
    bool raw = false;
    int opt, rc, n, status = CLI_EXIT_OK;

    while ((opt = getopt_long(argc, argv, "r", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            raw = true;
            break;
        case 'H':
            printf("Usage: benchfs status [--raw]\n"
                   "One line per server: node id, host, pid, uptime, requests served (OPS)\n"
                   "and rejected (BAD), bytes received and sent, chunk writes and reads, open\n"
                   "chunk files, CPU time (user+system), time its loop spent working (BUSY:\n"
                   "idle spinning and sleeping not counted; with UPTIME, how saturated it\n"
                   "was), inodes and directories it holds, client processes connected.\n\n"
                   "  -r, --raw   exact numbers (bytes, nanoseconds) instead of 1.5G, 3m05s\n"
                   "      --help  this help\n");
            return CLI_EXIT_OK;
        default:
            return cli_try_help("status");
        }
    }
    if (optind < argc)
        return cli_usage_error("status", "extra operand '%s'", argv[optind]);
    rc = admin_connect_count(ctx, &n);
    if (rc)
        return rc;
    if (table_init(&t, ncols, 2, (size_t)n) < 0)
        return CLI_EXIT_FAIL;
    row = table_row(&t);
    for (int c = 0; c < ncols; c++)
        snprintf(row[c], TABLE_CELL, "%s", headers[c]);
    for (int i = 0; i < n; i++) {
        struct benchfs_server_info s;

        row = table_row(&t);
        if (server_query(i, &s) < 0) {
            snprintf(row[0], TABLE_CELL, "%s", s.node_id[0] ? s.node_id : "?");
            snprintf(row[1], TABLE_CELL, "%s", s.host[0] ? s.host : "-");
            for (int c = 2; c < ncols; c++)
                snprintf(row[c], TABLE_CELL, "-");
            status = CLI_EXIT_FAIL;
            continue;
        }
        snprintf(row[0], TABLE_CELL, "%s", s.node_id);
        snprintf(row[1], TABLE_CELL, "%s", s.host);
        snprintf(row[2], TABLE_CELL, "%lld", (long long)s.pid);
        if (raw) {
            fmt_count(row[3], s.uptime_ns);
            snprintf(row[11], TABLE_CELL, "%llu+%llu", (unsigned long long)s.cpu_user_ns,
                     (unsigned long long)s.cpu_sys_ns);
            fmt_count(row[12], s.busy_ns);
        } else {
            cli_duration(s.uptime_ns, row[3], TABLE_CELL);
            snprintf(row[11], TABLE_CELL, "%.2fs+%.2fs", (double)s.cpu_user_ns / 1e9,
                     (double)s.cpu_sys_ns / 1e9);
            snprintf(row[12], TABLE_CELL, "%.2fs", (double)s.busy_ns / 1e9);
        }
        fmt_count(row[4], s.ops);
        fmt_count(row[5], s.bad_requests);
        fmt_bytes(row[6], s.bytes_in, raw);
        fmt_bytes(row[7], s.bytes_out, raw);
        fmt_count(row[8], s.chunk_writes);
        fmt_count(row[9], s.chunk_reads);
        fmt_count(row[10], s.open_fds);
        fmt_count(row[13], s.inodes);
        fmt_count(row[14], s.dirs);
        fmt_count(row[15], s.clients);
    }
    table_print(&t);
    table_cleanup(&t);
    return status;
}

/* --------------------------------------------------------------- shutdown */

/* Number of published <node_id>.addr files in dir (temp files start with
 * '.'), or -errno. */
static int registry_addr_count(const char *dir)
{
    struct dirent *de;
    DIR *d = opendir(dir);
    int n = 0;

    if (!d)
        return -errno;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (de->d_name[0] != '.' && len > 5 && strcmp(de->d_name + len - 5, ".addr") == 0)
            n++;
    }
    closedir(d);
    return n;
}

int cmd_shutdown(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"wait", no_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    bool wait = false;
    int opt, rc, n, left;

    while ((opt = getopt_long(argc, argv, "w", longopts, NULL)) != -1) {
        switch (opt) {
        case 'w':
            wait = true;
            break;
        case 'H':
            printf("Usage: benchfs shutdown [--wait]\n"
                   "Ask every server to exit gracefully (they remove their registry files).\n"
                   "Processes started by 'benchfs cluster start' are better stopped with\n"
                   "'benchfs cluster stop', which also waits for them.\n\n"
                   "  -w, --wait   wait until every server has left the registry\n"
                   "      --help   this help\n");
            return CLI_EXIT_OK;
        default:
            return cli_try_help("shutdown");
        }
    }
    if (optind < argc)
        return cli_usage_error("shutdown", "extra operand '%s'", argv[optind]);
    rc = cli_connect(ctx);
    if (rc)
        return rc;
    n = benchfs_server_count();
    if (benchfs_shutdown_servers() < 0) {
        cli_error("shutdown failed: %s", benchfs_last_error());
        return CLI_EXIT_FAIL;
    }
    /* The servers are going away: a failed disconnect says nothing new. */
    benchfs_disconnect();
    ctx->connected = false;
    printf("shutdown requested for %d server%s\n", n, n == 1 ? "" : "s");
    if (!wait)
        return CLI_EXIT_OK;

    struct timespec start, pause = {0, 10 * 1000 * 1000};
    double limit = ctx->timeout_ms > 0 ? ctx->timeout_ms / 1000.0 : 30.0;

    clock_gettime(CLOCK_MONOTONIC, &start);
    while ((left = registry_addr_count(ctx->registry)) > 0) {
        if (cli_elapsed(&start) > limit) {
            cli_error("%d server%s still registered in '%s' after %.0f s", left,
                      left == 1 ? " is" : "s are", ctx->registry, limit);
            return CLI_EXIT_FAIL;
        }
        nanosleep(&pause, NULL);
    }
    if (left < 0) {
        cli_error("cannot read registry '%s': %s", ctx->registry, strerror(-left));
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}
