/*
 * preload.h - internals of libbenchfs_preload.so, the interception library
 * that lets unmodified programs use BenchFS (docs/preload.md).
 *
 * The library interposes libc's entry points (symbol interposition through
 * LD_PRELOAD). Each wrapper first decides, as cheaply as possible, whether
 * the call is BenchFS's: a path under the mount prefix (BENCHFS_MOUNT),
 * relative to a virtual cwd inside it or to a BenchFS directory descriptor,
 * or a descriptor found in the table. Everything else goes straight to the
 * next definition of the symbol (libc), found with dlsym(RTLD_NEXT).
 * BenchFS calls go through the public API (include/benchfs.h) only.
 *
 * Files:
 *   api.c     libbenchfs loaded on first use (dlopen), hidden trampolines
 *   path.c    mount prefix, lexical normalization, virtual cwd, dirfd resolution
 *   fdtab.c   descriptor table: reserved kernel fds -> open BenchFS files,
 *             lazy connect, reopen after fork/exec
 *   posix.c   open/read/write/lseek/close/dup/fcntl/... on descriptors
 *   ns.c      path calls: stat family, statx, access, mkdir, unlink, rename, ...
 *   dir.c     opendir/readdir/... and getdents64, chdir/fchdir/getcwd
 *   stdio.c   fopen/fdopen/freopen through fopencookie, mkstemp family
 *   mmap.c    mmap of BenchFS files as anonymous copies, msync/munmap write-back
 *   proc.c    constructor, fork handlers, exec wrappers (state handed over in
 *             the environment)
 *   log.c     BENCHFS_PRELOAD_LOG
 *
 * Conventions: internal functions return 0 / a count or -errno; the exported
 * wrappers set errno once through pl_ret().
 */
#ifndef BENCHFS_PRELOAD_H
#define BENCHFS_PRELOAD_H

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Exported (interposing) symbols; everything else is hidden. */
#define PL_EXPORT __attribute__((visibility("default")))

/* Longest path handled (BenchFS's own limit is 4095 bytes). */
#define PL_PATH_MAX 4096
/* Kernel descriptor numbers the table covers; reserving above fails EMFILE. */
#define PL_FD_MAX 65536

/*
 * The next definition of a libc function, resolved on first use (wrappers
 * run before this library's constructor: other libraries' constructors open
 * files too). Usage: PL_REAL(open); ... real_open(...).
 */
#define PL_REAL(name)                             \
    static __typeof__(&name) real_##name;         \
    if (__builtin_expect(real_##name == NULL, 0)) \
    real_##name = (__typeof__(&name))pl_dlsym(#name)

/* dlsym(RTLD_NEXT, name); aborts with a message when libc lacks it. */
void *pl_dlsym(const char *name);

/* Set errno from a -errno result: returns rc, or -1 with errno set. */
static inline long pl_ret(long rc)
{
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    return rc;
}

/* ---- log.c ---- */

extern int pl_log_on;
/* Log one intercepted call to stderr when BENCHFS_PRELOAD_LOG=debug. */
void pl_log_write(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define pl_log(...)                         \
    do {                                    \
        if (__builtin_expect(pl_log_on, 0)) \
            pl_log_write(__VA_ARGS__);      \
    } while (0)
/* Read BENCHFS_PRELOAD_LOG. */
void pl_log_init(void);

/* ---- path.c ---- */

/* Mount prefix without trailing '/', and its length (0: library inactive). */
extern char pl_mount[PL_PATH_MAX];
extern size_t pl_mount_len;

/* Set the mount prefix from BENCHFS_MOUNT (default "/benchfs"). */
void pl_path_init(void);

/*
 * Resolve (dirfd, path) as the kernel would, lexically:
 *   1  the path is BenchFS's: `out` holds its BenchFS path ("/a/b")
 *   0  the path is local: *local_p is what to pass to libc (`path` itself,
 *      or `out` holding an absolute path when it was relative to a virtual
 *      cwd inside BenchFS)
 *  <0  -errno (ENAMETOOLONG; ENOTDIR when dirfd is a BenchFS file)
 * `local_p` may be NULL when the caller only needs the BenchFS case.
 */
int pl_path_resolve(int dirfd, const char *path, char *out, const char **local_p);

/* fd was opened on local absolute path `path`: remember it when it is an
 * ancestor of the mount (openat(fd, "benchfs", ...) then enters BenchFS). */
void pl_anc_note(int fd, const char *path);
/* fd is closing: forget it. */
void pl_anc_forget(int fd);

/* Full local spelling of a BenchFS path (mount + path) into out. */
void pl_path_full(const char *bpath, char *out, size_t len);

/* Virtual cwd (a BenchFS path) or NULL when the cwd is local. Under the cwd lock. */
int pl_cwd_set(const char *bpath);
void pl_cwd_clear(void);
/* Copy the virtual cwd's BenchFS path into out; false when the cwd is local. */
bool pl_cwd_get(char *out, size_t len);
extern volatile int pl_cwd_virtual;

/* ---- api.c ---- */

/* Load libbenchfs.so.0 and resolve the benchfs_* functions (first BenchFS
 * call, under the connect lock). 0 or -errno. */
int pl_api_load(void);

/* ---- fdtab.c ---- */

/* One open file description: shared by dup'd kernel descriptors. */
struct pl_dirstate;
struct pl_ofd {
    int refs;                /* kernel descriptors and mappings referring to it */
    int bfd;                 /* BenchFS descriptor, -1 when not open in this process */
    unsigned gen;            /* process generation bfd belongs to (see pl_gen) */
    int flags;               /* open flags: access mode, O_APPEND, O_NONBLOCK, ... */
    bool is_dir;             /* a directory: no BenchFS descriptor, only the path */
    uint64_t ino;            /* directory inode (for "." entries) */
    int64_t pos;             /* position to restore when reopened after fork/exec */
    char *path;              /* BenchFS path, malloc'd */
    struct pl_dirstate *dir; /* getdents64 stream of a directory, or NULL */
};

extern struct pl_ofd *pl_fds[PL_FD_MAX];
/* Bumped in the child after fork: descriptors of older generations reopen. */
extern unsigned pl_gen;
/* Guards the table and the ofds' bfd/dir fields. */
extern pthread_mutex_t pl_lock;

/* The ofd behind kernel descriptor fd, or NULL (the pass-through test). */
static inline struct pl_ofd *pl_fd_get(int fd)
{
    if ((unsigned)fd >= PL_FD_MAX)
        return NULL;
    return __atomic_load_n(&pl_fds[fd], __ATOMIC_ACQUIRE);
}

/* Nonzero while this thread loads libbenchfs and connects: every path is
 * local then (UCX reads "ucx.conf" relative to the cwd while loading, and
 * the cwd may be a virtual one inside BenchFS). */
extern __thread int pl_connecting;
/* Depth of libbenchfs calls on this thread (api.c's trampolines): libc
 * state used on BenchFS's behalf is kept apart from the program's (libc.c). */
extern __thread int pl_in_lib;
/* Connect to the cluster once per process (BENCHFS_REGISTRY). 0 or -errno. */
int pl_connect(void);
/* Reserve a kernel descriptor (cloexec as asked). fd or -errno. */
int pl_reserve(bool cloexec);
/* The program closed or replaced descriptors first..last: if the template
 * pl_reserve copies is among them, it is the program's now (fdtab.c). */
void pl_tmpl_forget(int first, int last);
/* Create an ofd for BenchFS path `bpath`; refs = 0. NULL on ENOMEM. */
struct pl_ofd *pl_ofd_new(const char *bpath, int flags, bool is_dir, int bfd);
/* Bind kernel descriptor fd to ofd (refs++), replacing any earlier binding. */
void pl_fd_bind(int fd, struct pl_ofd *o);
/* Unbind fd (refs--, closing the BenchFS file at 0). Does not close fd. */
void pl_fd_unbind(int fd);
/* Drop one reference of o (closing it at 0). Under pl_lock. */
void pl_ofd_put(struct pl_ofd *o);
/* The BenchFS descriptor of o, (re)opening it in this process if needed. */
int pl_ofd_bfd(struct pl_ofd *o);
/* Map a -1/errno benchfs_* result to -errno. */
static inline long pl_bfs(long rc)
{
    return rc < 0 ? -(long)errno : rc;
}
/* Count of bound descriptors (0: every fd call passes through at once). */
extern int pl_nbound;

/* ---- dir.c ---- */

/* Release a directory stream state (closedir, last close). */
void pl_dirstate_free(struct pl_dirstate *d);

/* ---- posix.c ---- */

/* Open BenchFS path bpath: returns a reserved kernel fd or -errno. */
int pl_open_bfs(const char *bpath, int flags, mode_t mode);
/* read/write/lseek/close on a kernel fd bound to BenchFS (-errno style). */
ssize_t pl_fd_read(struct pl_ofd *o, void *buf, size_t n);
ssize_t pl_fd_write(struct pl_ofd *o, const void *buf, size_t n);
off_t pl_fd_lseek(struct pl_ofd *o, off_t off, int whence);
int pl_fd_close(int fd);
int pl_fd_fstat(struct pl_ofd *o, struct stat *st);
/* Fill in what BenchFS leaves empty (st_dev) so tools can compare files. */
void pl_stat_fix(struct stat *st);

/* ---- stdio.c ---- */

/* A FILE reading and writing kernel fd `fd` (bound to BenchFS). */
struct _IO_FILE;
struct _IO_FILE *pl_stdio_wrap(int fd, const char *mode);
/* fd (0, 1 or 2) was just bound to BenchFS: point stdin/stdout/stderr at it. */
void pl_stdio_bound(int fd);
/* fd is about to stop being BenchFS's: flush and restore the stream. */
void pl_stdio_unbinding(int fd);

/* ---- mmap.c ---- */

/* Write every shared writable mapping back (exit: munmap never comes). */
void pl_maps_flush_all(void);

/* ---- proc.c ---- */

/* One-time setup (log, mount, fork handlers, inherited state). */
void pl_init(void);
/* True in a vfork()ed child (shares our memory: the table must not change). */
bool pl_in_vfork_child(void);
/* Forget the connection in a fork child (fdtab.c). */
void pl_connect_forget(void);

#endif
