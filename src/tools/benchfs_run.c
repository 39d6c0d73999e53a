/*
 * benchfs_run.c - `benchfs run [--mount DIR] [--registry DIR] -- PROG ARGS`:
 * run an unmodified program with the interception library
 * (libbenchfs_preload.so, docs/preload.md) so that paths under DIR go to
 * BenchFS.
 *
 * It only prepares the environment and execs the program: LD_PRELOAD gets
 * the library (in front of what was there), BENCHFS_MOUNT the mount prefix,
 * BENCHFS_REGISTRY the registry. The library is found next to this binary
 * (../lib or the configured library directory), or at $BENCHFS_PRELOAD_LIB.
 * The program's children inherit all of it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/benchfs_cli.h"

#define RUN_LIB_NAME "libbenchfs_preload.so"
#ifndef BENCHFS_INSTALL_LIBDIR
#define BENCHFS_INSTALL_LIBDIR "lib"
#endif

static void run_usage(void)
{
    printf("Usage: benchfs run [--mount DIR] [--registry DIR] [--] PROG [ARGS...]\n"
           "Run PROG unmodified with paths under DIR (default /benchfs) on BenchFS,\n"
           "through the interception library " RUN_LIB_NAME ".\n"
           "  -m, --mount DIR     mount prefix (need not exist locally)\n"
           "  -r, --registry DIR  registry directory (default $BENCHFS_REGISTRY)\n"
           "Environment: BENCHFS_PRELOAD_LIB (library path), BENCHFS_PRELOAD_LOG=debug.\n");
}

/* Find the library: $BENCHFS_PRELOAD_LIB, then beside this executable. */
static int run_find_lib(char *out, size_t len)
{
    static const char *const rel[] = {"../lib/", "../" BENCHFS_INSTALL_LIBDIR "/"};
    const char *env = getenv("BENCHFS_PRELOAD_LIB");
    char exe[PATH_MAX], *slash;
    ssize_t n;
    size_t i;

    if (env != NULL && env[0] != '\0') {
        if (access(env, R_OK) != 0) {
            cli_error("BENCHFS_PRELOAD_LIB=%s: %s", env, strerror(errno));
            return -1;
        }
        snprintf(out, len, "%s", env);
        return 0;
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0) {
        cli_error("cannot find my own executable: %s", strerror(errno));
        return -1;
    }
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash != NULL)
        slash[1] = '\0';
    for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        char cand[PATH_MAX + 64];

        snprintf(cand, sizeof(cand), "%s%s%s", exe, rel[i], RUN_LIB_NAME);
        if (access(cand, R_OK) == 0 && realpath(cand, out) != NULL) {
            (void)len;
            return 0;
        }
    }
    cli_error("cannot find " RUN_LIB_NAME " beside %s (set BENCHFS_PRELOAD_LIB)", exe);
    return -1;
}

int cmd_run(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"mount", required_argument, NULL, 'm'},
        {"registry", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *mount = "/benchfs", *registry = ctx->registry, *old;
    char lib[PATH_MAX], *preload;
    size_t n;
    int opt;

    /* '+': options end at the program name. */
    while ((opt = getopt_long(argc, argv, "+m:r:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            mount = optarg;
            break;
        case 'r':
            registry = optarg;
            break;
        case 'h':
            run_usage();
            return CLI_EXIT_OK;
        default:
            return cli_try_help("run");
        }
    }
    if (optind >= argc)
        return cli_usage_error("run", "missing program");
    if (mount[0] != '/' || strcmp(mount, "/") == 0)
        return cli_usage_error("run", "mount prefix '%s' must be an absolute path below /", mount);
    if (registry == NULL || registry[0] == '\0')
        return cli_usage_error("run", "no registry (use --registry or set BENCHFS_REGISTRY)");
    if (access(registry, F_OK) != 0) {
        cli_error("registry '%s': %s", registry, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    if (run_find_lib(lib, sizeof(lib)) < 0)
        return CLI_EXIT_FAIL;
    old = getenv("LD_PRELOAD");
    n = strlen(lib) + (old != NULL ? strlen(old) + 1 : 0) + 1;
    preload = malloc(n);
    if (preload == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    snprintf(preload, n, "%s%s%s", lib, old != NULL && old[0] ? ":" : "", old != NULL ? old : "");
    if (setenv("LD_PRELOAD", preload, 1) != 0 || setenv("BENCHFS_MOUNT", mount, 1) != 0 ||
        setenv("BENCHFS_REGISTRY", registry, 1) != 0 ||
        /* UCX's memory hooks would route mmap past the library (docs/preload.md). */
        setenv("UCX_MEM_EVENTS", "n", 0) != 0 || setenv("UCX_WARN_UNUSED_ENV_VARS", "n", 0) != 0) {
        cli_error("setenv: %s", strerror(errno));
        free(preload);
        return CLI_EXIT_FAIL;
    }
    free(preload);
    fflush(stdout);
    execvp(argv[optind], argv + optind);
    cli_error("cannot run '%s': %s", argv[optind], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
