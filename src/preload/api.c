/*
 * api.c - libbenchfs, loaded on first use (preload.h).
 *
 * The interception library does not link libbenchfs.so: it would load UCX
 * (and run its constructors) in every process of a job, costing every exec
 * of every local-only program milliseconds, and UCX would install its
 * memory hooks before this library could turn them off. Instead the first
 * BenchFS call (pl_connect) dlopen()s libbenchfs.so.0 and resolves the
 * public functions used here; the benchfs_* definitions below are hidden
 * trampolines, so a program that links libbenchfs itself is not affected
 * (dlopen then returns that same library).
 *
 * Where libbenchfs.so.0 is looked for: $BENCHFS_CLIENT_LIB, beside this
 * library (installed layout), the build tree it was built in, then the
 * loader's search path.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchfs.h"
#include "preload/preload.h"

#ifndef PL_BUILD_LIBDIR
#define PL_BUILD_LIBDIR ""
#endif
#define PL_CLIENT_SONAME "libbenchfs.so.0"

/* One pointer per public function used, filled by pl_api_load. */
#define PL_API_LIST(X)                                                                  \
    X(int, benchfs_connect, (const char *a, const struct benchfs_options *b), (a, b))   \
    X(const char *, benchfs_last_error, (void), ())                                     \
    X(int, benchfs_atfork_child, (void), ())                                            \
    X(int, benchfs_open, (const char *a, int b, mode_t c), (a, b, c))                   \
    X(int, benchfs_close, (int a), (a))                                                 \
    X(ssize_t, benchfs_read, (int a, void *b, size_t c), (a, b, c))                     \
    X(ssize_t, benchfs_write, (int a, const void *b, size_t c), (a, b, c))              \
    X(ssize_t, benchfs_pread, (int a, void *b, size_t c, off_t d), (a, b, c, d))        \
    X(ssize_t, benchfs_pwrite, (int a, const void *b, size_t c, off_t d), (a, b, c, d)) \
    X(off_t, benchfs_lseek, (int a, off_t b, int c), (a, b, c))                         \
    X(int, benchfs_fsync, (int a), (a))                                                 \
    X(int, benchfs_ftruncate, (int a, off_t b), (a, b))                                 \
    X(int, benchfs_fstat, (int a, struct stat *b), (a, b))                              \
    X(int, benchfs_stat, (const char *a, struct stat *b), (a, b))                       \
    X(int, benchfs_truncate, (const char *a, off_t b), (a, b))                          \
    X(int, benchfs_unlink, (const char *a), (a))                                        \
    X(int, benchfs_mkdir, (const char *a, mode_t b), (a, b))                            \
    X(int, benchfs_rmdir, (const char *a), (a))                                         \
    X(int, benchfs_rename, (const char *a, const char *b), (a, b))                      \
    X(int, benchfs_access, (const char *a, int b), (a, b))                              \
    X(int, benchfs_chmod, (const char *a, mode_t b), (a, b))                            \
    X(int, benchfs_fchmod, (int a, mode_t b), (a, b))                                   \
    X(int, benchfs_chown, (const char *a, uid_t b, gid_t c), (a, b, c))                 \
    X(int, benchfs_fchown, (int a, uid_t b, gid_t c), (a, b, c))                        \
    X(int, benchfs_utimens, (const char *a, const struct timespec b[2]), (a, b))        \
    X(int, benchfs_futimens, (int a, const struct timespec b[2]), (a, b))               \
    X(int, benchfs_statvfs, (const char *a, struct statvfs *b), (a, b))                 \
    X(benchfs_dir_t *, benchfs_opendir, (const char *a), (a))                           \
    X(struct benchfs_dirent *, benchfs_readdir, (benchfs_dir_t * a), (a))               \
    X(int, benchfs_closedir, (benchfs_dir_t * a), (a))

#define PL_API_PTR(ret, name, params, args) static ret(*p_##name) params;
PL_API_LIST(PL_API_PTR)

/* Hidden trampolines: callers use the public names. Only reached after a
 * successful pl_api_load (every path goes through pl_connect first). */
#define PL_API_FN(ret, name, params, args) \
    ret name params                        \
    {                                      \
        pl_in_lib++;                       \
        ret r_ = p_##name args;            \
        pl_in_lib--;                       \
        return r_;                         \
    }
PL_API_LIST(PL_API_FN)

static void *pl_api_handle;
static char pl_api_error[512];

/* dlopen the first candidate that loads. */
static void *pl_api_open(void)
{
    const char *env = getenv("BENCHFS_CLIENT_LIB");
    char here[PATH_MAX], cand[PATH_MAX + 32], *slash;
    Dl_info info;
    void *h;

    if (env != NULL && env[0] != '\0')
        return dlopen(env, RTLD_NOW | RTLD_LOCAL);
    if (dladdr((void *)pl_api_open, &info) != 0 && info.dli_fname != NULL) {
        snprintf(here, sizeof(here), "%s", info.dli_fname);
        slash = strrchr(here, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(cand, sizeof(cand), "%s/" PL_CLIENT_SONAME, here);
            h = dlopen(cand, RTLD_NOW | RTLD_LOCAL);
            if (h != NULL)
                return h;
        }
    }
    if (PL_BUILD_LIBDIR[0] != '\0') {
        h = dlopen(PL_BUILD_LIBDIR "/" PL_CLIENT_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (h != NULL)
            return h;
    }
    return dlopen(PL_CLIENT_SONAME, RTLD_NOW | RTLD_LOCAL);
}

int pl_api_load(void)
{
    void *h;

    if (__atomic_load_n(&pl_api_handle, __ATOMIC_ACQUIRE) != NULL)
        return 0;
    /* Read by UCX when it loads, just below (docs/preload.md, mmap). */
    setenv("UCX_MEM_EVENTS", "n", 0);
    /* Keep the program's own fault handlers (libc.c). */
    setenv("UCX_ERROR_SIGNALS", "", 0);
    h = pl_api_open();
    if (h == NULL) {
        snprintf(pl_api_error, sizeof(pl_api_error), "cannot load " PL_CLIENT_SONAME ": %s",
                 dlerror());
        pl_log("%s", pl_api_error);
        return -ELIBACC;
    }
#define PL_API_SYM(ret, name, params, args)                                             \
    p_##name = (ret(*) params)dlsym(h, #name);                                          \
    if (p_##name == NULL) {                                                             \
        snprintf(pl_api_error, sizeof(pl_api_error), PL_CLIENT_SONAME " lacks " #name); \
        pl_log("%s", pl_api_error);                                                     \
        return -ELIBBAD;                                                                \
    }
    PL_API_LIST(PL_API_SYM)
    __atomic_store_n(&pl_api_handle, h, __ATOMIC_RELEASE);
    return 0;
}
