/*
 * benchfs_cli.h - internals of the `benchfs` command-line tool.
 *
 * The tool is one executable with subcommands, split by concern:
 *   benchfs_main.c     global options, dispatch, help, shared helpers
 *   benchfs_ns.c       ls, stat, mkdir, rm, rmdir (namespace)
 *   benchfs_xfer.c     put, get, cat (data transfer, progress bar)
 *   benchfs_admin.c    df, ping, status, shutdown
 *   benchfs_find.c     find (also IO500's external find script)
 *   benchfs_cluster.c  cluster start / status / stop (local process manager),
 *                      with benchfs_cluster_proc.c (processes, pids file)
 *   benchfs_stage*.c   stage-in / stage-out (benchfs_stage.h)
 *   benchfs_job.c      job start / stop / run (batch jobs, docs/jobs.md)
 *
 * Every file system operation goes through the public API (benchfs.h) only.
 * Conventions follow coreutils: messages "benchfs: cannot stat '/x': No such
 * file or directory" on stderr; a command returns its exit status: 0 success,
 * 1 when any operand failed (the others are still processed), 2 for usage
 * errors. Commands parse their own options (so `benchfs CMD --help` works
 * without a cluster) and connect only once their arguments are valid.
 */
#ifndef BENCHFS_TOOLS_BENCHFS_CLI_H
#define BENCHFS_TOOLS_BENCHFS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "common/path.h"

#define CLI_EXIT_OK      0
#define CLI_EXIT_FAIL    1
#define CLI_EXIT_USAGE   2
#define CLI_PROG         "benchfs"
#define CLI_DEFAULT_XFER (16u << 20) /* put/get chunk: 16 MiB */

/* State shared by every command of one invocation. */
struct cli_ctx {
    const char *registry; /* --registry or $BENCHFS_REGISTRY; NULL when neither */
    int timeout_ms;       /* discovery timeout for benchfs_connect (0: library default) */
    bool connected;
};

/* A subcommand: parses argv (argv[0] is the command name) and returns the
 * exit status. */
typedef int (*cli_cmd_fn)(struct cli_ctx *ctx, int argc, char **argv);

/* ---- benchfs_main.c: helpers every command uses ---- */

/* "benchfs: <message>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print `s` to stdout for a POSIX shell: as is when safe, else single-quoted. */
void cli_print_shell_word(const char *s);

/* "benchfs: warning: <message>\n" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Report a failed operation on `path` with error number `err` (> 0), like
 * coreutils: "benchfs: <action> '<path>': <strerror>". When the library's
 * last error carries more than strerror would (a server name, a timeout),
 * it is appended in parentheses. `action` is e.g. "cannot stat".
 */
void cli_op_error(const char *action, const char *path, int err);

/* The getopt message is printed already: add "Try 'benchfs <cmd> --help'
 * for more information." and return CLI_EXIT_USAGE. */
int cli_try_help(const char *cmd);

/* Print "benchfs: <msg>\nTry 'benchfs <cmd> --help' for more information."
 * and return CLI_EXIT_USAGE. `cmd` may be NULL (top level). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Connect to the cluster of ctx->registry (once per invocation). On failure
 * prints why (no registry configured, servers missing, ...) and returns
 * CLI_EXIT_USAGE when no registry is configured, CLI_EXIT_FAIL otherwise;
 * 0 on success.
 */
int cli_connect(struct cli_ctx *ctx);

/*
 * The start every command taking only --help and one or more operands
 * shares: parse the options (--help prints `usage`), require an operand,
 * connect. Returns -1 to go on with the operands from optind, else the exit
 * code the command returns.
 */
int cli_operands_begin(struct cli_ctx *ctx, int argc, char **argv, const char *cmd,
                       const char *usage);

/* Disconnect if connected; reports a failed disconnect. Returns 0 or
 * CLI_EXIT_FAIL. */
int cli_disconnect(struct cli_ctx *ctx);

/*
 * Turn a command-line operand into a normalized BenchFS path in `out`
 * (BFS_PATH_MAX bytes). Relative operands are taken from the root ("a/b"
 * is "/a/b"). Returns 0, or prints "benchfs: invalid path '...': ..." and
 * returns -1.
 */
int cli_path(const char *arg, char out[BFS_PATH_MAX]);

/* Join a normalized directory path and a name into out (BFS_PATH_MAX).
 * Returns 0 or -ENAMETOOLONG. */
int cli_path_join(const char *dir, const char *name, char out[BFS_PATH_MAX]);

/* Last component of a path ("/" for the root); points into `path`. */
const char *cli_basename(const char *path);

/* Last component of a local path, ignoring trailing slashes ("a/b/" is
 * "b"), copied to out. Returns 0, or -ENAMETOOLONG when it does not fit
 * outlen or a BenchFS name. */
int cli_last_name(const char *path, char *out, size_t outlen);

/* Human-readable size like `df -h`: "512", "4.0K", "1.5M", "23G". */
void cli_human_size(uint64_t bytes, char *buf, size_t len);

/* "-rw-r--r--" / "drwxr-xr-x" (11 bytes with the NUL). */
void cli_mode_string(mode_t mode, char buf[11]);

/* A duration in ns as "12.3s", "4m05s", "2h03m", "3d04h". */
void cli_duration(uint64_t ns, char *buf, size_t len);

/* Seconds since `start` (CLOCK_MONOTONIC) as a double. */
double cli_elapsed(const struct timespec *start);

/* Parse a non-negative decimal integer with an optional K/M/G/T (binary)
 * suffix. Returns 0 or -EINVAL. */
int cli_parse_size(const char *s, uint64_t *out_p);

/* One directory entry as cli_dir_list returns it. */
struct cli_entry {
    char *name;         /* malloc'd */
    unsigned char type; /* DT_REG, DT_DIR */
    uint64_t size;
    mode_t mode;
};

/*
 * Read every entry of the BenchFS directory `path` (opendir/readdir/closedir)
 * into a malloc'd array sorted by name (strcmp). Returns 0, or -errno (the
 * library's last error still describes it). On success the caller frees the
 * array with cli_dir_free.
 */
int cli_dir_list(const char *path, struct cli_entry **entries_p, size_t *count_p);
void cli_dir_free(struct cli_entry *entries, size_t count);

/* ---- commands ---- */
int cmd_ls(struct cli_ctx *ctx, int argc, char **argv);
int cmd_stat(struct cli_ctx *ctx, int argc, char **argv);
int cmd_mkdir(struct cli_ctx *ctx, int argc, char **argv);
int cmd_rm(struct cli_ctx *ctx, int argc, char **argv);
int cmd_rmdir(struct cli_ctx *ctx, int argc, char **argv);
int cmd_put(struct cli_ctx *ctx, int argc, char **argv);
int cmd_get(struct cli_ctx *ctx, int argc, char **argv);
int cmd_cat(struct cli_ctx *ctx, int argc, char **argv);
int cmd_df(struct cli_ctx *ctx, int argc, char **argv);
int cmd_ping(struct cli_ctx *ctx, int argc, char **argv);
int cmd_status(struct cli_ctx *ctx, int argc, char **argv);
int cmd_shutdown(struct cli_ctx *ctx, int argc, char **argv);
int cmd_find(struct cli_ctx *ctx, int argc, char **argv);
/* benchfs_run.c */
int cmd_run(struct cli_ctx *ctx, int argc, char **argv);
int cmd_cluster(struct cli_ctx *ctx, int argc, char **argv);
int cmd_mount(struct cli_ctx *ctx, int argc, char **argv); /* benchfs_mount.c */
int cmd_umount(struct cli_ctx *ctx, int argc, char **argv);
int cmd_fsck(struct cli_ctx *ctx, int argc, char **argv);
int cmd_stage_in(struct cli_ctx *ctx, int argc, char **argv);  /* benchfs_stage.c */
int cmd_stage_out(struct cli_ctx *ctx, int argc, char **argv); /* benchfs_stage.c */
int cmd_job(struct cli_ctx *ctx, int argc, char **argv);       /* benchfs_job.c */

#endif
