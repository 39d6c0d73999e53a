/*
 * bfuse.h - the BenchFS FUSE daemon as a library for the `benchfs mount`
 * command (src/tools/benchfs_mount.c); docs/fuse.md describes its use.
 *
 * The daemon is a libfuse3 low-level file system whose every operation goes
 * through the public client API (benchfs.h). It runs in the calling process
 * (foreground) or in a forked child (background); either way the caller
 * learns whether the mount is up before bfuse_run returns in the parent.
 */
#ifndef BENCHFS_FUSE_BFUSE_H
#define BENCHFS_FUSE_BFUSE_H

#include <stdbool.h>

/* What `benchfs mount` parsed from its command line. */
struct bfuse_config {
    const char *mountpoint;   /* existing directory */
    const char *registry;     /* registry directory of the cluster */
    int discovery_timeout_ms; /* 0: the library's default */
    bool foreground;          /* -f: stay attached, log to stderr */
    bool debug;               /* -d: libfuse request trace (implies foreground) */
    const char *options;      /* comma-separated -o options (NULL: none) */
    const char *pid_file;     /* daemon's pid written here once mounted (NULL: none) */
    const char *log_file;     /* background daemon's stderr (NULL: /dev/null) */
};

/*
 * Mount the cluster at cfg->mountpoint and serve it until unmounted or sent
 * SIGTERM/SIGINT/SIGHUP (which unmount). In the background mode, forks: the
 * parent returns 0 once the child has mounted (so the mount is usable when
 * the command returns) or 1 after printing the child's error; the child
 * never returns. In the foreground mode returns when the mount is gone.
 * Errors are printed to stderr ("benchfs mount: ..."). Returns an exit
 * status: 0 ok, 1 failure, 2 bad options.
 */
int bfuse_run(const struct bfuse_config *cfg);

#endif
