/*
 * benchfs_mount.c - `benchfs mount` and `benchfs umount`: the FUSE mount of
 * a cluster (docs/fuse.md). The daemon itself is src/fuse (bfuse.h); this
 * file parses the command lines and removes mounts with fusermount3.
 *
 *   benchfs mount MOUNTPOINT [-f] [-d] [--registry DIR] [-o OPTIONS]
 *                 [--pid-file FILE] [--log FILE]
 *   benchfs umount [-z] MOUNTPOINT
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/benchfs_cli.h"
#ifdef BENCHFS_HAVE_FUSE
#include "fuse/bfuse.h"
#endif

static const char mount_usage[] =
    "Usage: benchfs mount MOUNTPOINT [-f] [--registry DIR] [-o OPTIONS]\n"
    "Mount the cluster of the registry on MOUNTPOINT with FUSE, so that every\n"
    "program can use it. Returns once the mount is usable; the daemon runs until\n"
    "'benchfs umount MOUNTPOINT' (or fusermount3 -u) or SIGTERM.\n\n"
    "  -f, --foreground       stay in the foreground, messages on stderr\n"
    "  -d, --debug            trace every FUSE request (implies -f)\n"
    "  -r, --registry DIR     registry directory (default: benchfs --registry or\n"
    "                         $BENCHFS_REGISTRY)\n"
    "  -o OPTIONS             comma-separated mount options (repeatable):\n"
    "                           attr_timeout=SEC       attribute cache (default 1)\n"
    "                           entry_timeout=SEC      file name cache (default 0)\n"
    "                           dir_entry_timeout=SEC  directory name cache (default 1)\n"
    "                           hard_remove            unlink open files at once\n"
    "                           max_threads=N          FUSE worker threads (default 16)\n"
    "                           sync_write             no write-behind: write(2) waits for\n"
    "                                                  BenchFS and reports its own error\n"
    "                           no_splice_read         reads through a buffer, not spliced\n"
    "                           readahead_kb=N         kernel read-ahead (default 4096, root)\n"
    "                         and libfuse's: allow_other, allow_root, ro, auto_unmount...\n"
    "      --pid-file FILE    write the daemon's pid to FILE (removed at unmount)\n"
    "      --log FILE         the background daemon's messages (default: discarded)\n"
    "      --help             this help\n\n"
    "allow_other for a normal user needs 'user_allow_other' in /etc/fuse.conf.\n"
    "See docs/fuse.md for the caching, permission and unlink semantics.\n";

static const char umount_usage[] =
    "Usage: benchfs umount [-z] MOUNTPOINT...\n"
    "Unmount BenchFS FUSE mounts (also one whose daemon died: ENOTCONN).\n\n"
    "  -z, --lazy   detach now even when busy (processes inside keep working)\n"
    "      --help   this help\n";

/* Append "-o" values: "a,b" + "c" = "a,b,c". 0 or -ENOMEM. */
static int opts_append(char **all, const char *more)
{
    size_t old = *all ? strlen(*all) : 0;
    char *n = realloc(*all, old + strlen(more) + 2);

    if (!n)
        return -ENOMEM;
    if (old)
        n[old++] = ',';
    strcpy(n + old, more);
    *all = n;
    return 0;
}

int cmd_mount(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"foreground", no_argument, NULL, 'f'},
        {"debug", no_argument, NULL, 'd'},
        {"registry", required_argument, NULL, 'r'},
        {"pid-file", required_argument, NULL, 'P'},
        {"log", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    const char *registry = ctx->registry, *pid_file = NULL, *log_file = NULL;
    bool foreground = false, debug = false;
    char *options = NULL;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "fdr:o:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            foreground = true;
            break;
        case 'd':
            debug = true;
            break;
        case 'r':
            registry = optarg;
            break;
        case 'o':
            if (opts_append(&options, optarg) < 0) {
                cli_error("out of memory");
                free(options);
                return CLI_EXIT_FAIL;
            }
            break;
        case 'P':
            pid_file = optarg;
            break;
        case 'L':
            log_file = optarg;
            break;
        case 'H':
            fputs(mount_usage, stdout);
            free(options);
            return CLI_EXIT_OK;
        default:
            free(options);
            return cli_try_help("mount");
        }
    }
    if (optind != argc - 1) {
        free(options);
        return cli_usage_error("mount",
                               optind >= argc ? "missing mount point" : "extra operand '%s'",
                               argv[optind + (optind < argc ? 1 : 0)]);
    }
    if (!registry) {
        free(options);
        return cli_usage_error("mount", "no registry directory: use --registry DIR or set "
                                        "BENCHFS_REGISTRY");
    }
#ifdef BENCHFS_HAVE_FUSE
    struct bfuse_config cfg = {
        .mountpoint = argv[optind],
        .registry = registry,
        .discovery_timeout_ms = ctx->timeout_ms,
        .foreground = foreground,
        .debug = debug,
        .options = options,
        .pid_file = pid_file,
        .log_file = log_file,
    };

    fflush(stdout);
    rc = bfuse_run(&cfg);
#else
    (void)foreground;
    (void)debug;
    (void)pid_file;
    (void)log_file;
    cli_error("this benchfs was built without libfuse3 (install libfuse3-dev and rebuild)");
    rc = CLI_EXIT_FAIL;
#endif
    free(options);
    return rc;
}

/* Run fusermount3 -u [-z] -q MNT. Returns its exit status, or -1 when it
 * could not be run. */
static int fusermount_unmount(const char *mnt, bool lazy)
{
    char *argv[6];
    int n = 0, status;
    pid_t pid;

    argv[n++] = "fusermount3";
    argv[n++] = "-u";
    if (lazy)
        argv[n++] = "-z";
    argv[n++] = (char *)mnt;
    argv[n] = NULL;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (!WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status) == 127 ? -1 : WEXITSTATUS(status);
}

int cmd_umount(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"lazy", no_argument, NULL, 'z'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    bool lazy = false;
    int opt, rc = CLI_EXIT_OK;

    while ((opt = getopt_long(argc, argv, "z", longopts, NULL)) != -1) {
        if (opt == 'z') {
            lazy = true;
        } else if (opt == 'H') {
            fputs(umount_usage, stdout);
            return CLI_EXIT_OK;
        } else {
            return cli_try_help("umount");
        }
    }
    if (optind >= argc)
        return cli_usage_error("umount", "missing mount point");
    for (; optind < argc; optind++) {
        const char *mnt = argv[optind];
        int st = fusermount_unmount(mnt, lazy);

        /* Without fusermount3, root can still unmount directly. */
        if (st < 0 && geteuid() == 0)
            st = umount2(mnt, lazy ? MNT_DETACH : 0) == 0 ? 0 : 1;
        if (st != 0) {
            cli_error("cannot unmount '%s'%s", mnt,
                      st < 0 ? ": fusermount3 not found (Debian package fuse3)" : "");
            rc = CLI_EXIT_FAIL;
        }
    }
    return rc;
}
