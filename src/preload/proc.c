/*
 * proc.c - the process life cycle of the interception library (preload.h):
 * symbol lookup, the constructor, fork handlers, and exec.
 *
 * fork: the child shares the parent's kernel descriptors (the reserved
 * ones too) but must not touch the parent's UCX state. The prepare handler
 * records each ofd's position; the child handler bumps pl_gen and tells
 * libbenchfs to forget its connection (benchfs_atfork_child); descriptors
 * reopen by path on first use and seek to the recorded position, and the
 * child connects afresh. Offsets are therefore copied at fork, not shared.
 *
 * exec: the new image loads the library again because LD_PRELOAD stays in
 * the environment (the exec wrappers put LD_PRELOAD, BENCHFS_MOUNT and
 * BENCHFS_REGISTRY back if the program's envp dropped them). The state
 * crosses the exec in two variables the new image's constructor reads and
 * removes: BENCHFS_PRELOAD_FDS (descriptors without FD_CLOEXEC: number,
 * ofd id, flags, position, path) and BENCHFS_PRELOAD_CWD (a virtual cwd).
 * Before exec every BenchFS descriptor is closed in BenchFS (pushing sizes
 * written so far), so the new image's reopen sees the data; a failed exec
 * reopens them lazily. No malloc on this path: Python execs from a vfork
 * child, where the heap is the parent's.
 */
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "benchfs.h"
#include "preload/preload.h"

#define PL_ENV_FDS "BENCHFS_PRELOAD_FDS"
#define PL_ENV_CWD "BENCHFS_PRELOAD_CWD"
/* Largest state handed over an exec (more descriptors are dropped). */
#define PL_ENV_MAX 65536

extern char **environ;

static pid_t pl_pid;
/*
 * Variables an exec keeps even when the program's envp drops them. UCX's
 * memory hooks (UCX_MEM_EVENTS, read when UCX loads, before this library's
 * constructor) patch mmap call sites in every loaded object and would send
 * the program's mmap of a BenchFS descriptor past this library; `benchfs
 * run` turns them off and children keep it off.
 */
#define PL_NKEEP 5
static char *pl_keep_env[PL_NKEEP];
static const char *const pl_keep_names[PL_NKEEP] = {"LD_PRELOAD", "BENCHFS_MOUNT",
                                                    "BENCHFS_REGISTRY", "UCX_MEM_EVENTS",
                                                    "UCX_WARN_UNUSED_ENV_VARS"};

void *pl_dlsym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);

    if (p == NULL) {
        static const char msg[] = "benchfs_preload: libc symbol missing: ";

        /* No stdio here: this may run inside a stdio call. */
        if (write(2, msg, sizeof(msg) - 1) < 0 || write(2, name, strlen(name)) < 0 ||
            write(2, "\n", 1) < 0)
            abort();
        abort();
    }
    return p;
}

bool pl_in_vfork_child(void)
{
    return pl_pid != 0 && getpid() != pl_pid;
}

/* ---- fork ---- */

static void pl_fork_prepare(void)
{
    int fd;

    pthread_mutex_lock(&pl_lock);
    if (pl_nbound == 0)
        return;
    for (fd = 0; fd < PL_FD_MAX; fd++) {
        struct pl_ofd *o = pl_fds[fd];

        if (o != NULL && o->bfd >= 0 && o->gen == pl_gen) {
            off_t pos = benchfs_lseek(o->bfd, 0, SEEK_CUR);

            if (pos >= 0)
                o->pos = pos;
            /* The child reopens by path: let it see the size written. */
            if ((o->flags & O_ACCMODE) != O_RDONLY && !o->is_dir)
                benchfs_fsync(o->bfd);
        }
    }
}

static void pl_fork_parent(void)
{
    pthread_mutex_unlock(&pl_lock);
}

static void pl_fork_child(void)
{
    pl_pid = getpid();
    pl_gen++;
    pl_connect_forget();
    pthread_mutex_unlock(&pl_lock);
}

/* ---- exec ---- */

/* Close every BenchFS descriptor in BenchFS and append the inheritable
 * ones to buf ("fd,id,flags,pos,len:path;"). */
static void pl_exec_save(char *buf, size_t cap)
{
    size_t used = strlen(buf);
    bool vforked = pl_in_vfork_child();
    int fd, n;
    PL_REAL(fcntl);

    if (pl_nbound == 0)
        return;
    if (!vforked)
        pthread_mutex_lock(&pl_lock);
    for (fd = 0; fd < PL_FD_MAX; fd++) {
        struct pl_ofd *o = pl_fds[fd];
        int fdfl;

        if (o == NULL)
            continue;
        if (o->bfd >= 0 && o->gen == pl_gen) {
            off_t pos = benchfs_lseek(o->bfd, 0, SEEK_CUR);

            if (pos >= 0)
                o->pos = pos;
            if (!vforked) {
                benchfs_close(o->bfd);
                o->bfd = -1;
            }
        }
        fdfl = real_fcntl(fd, F_GETFD);
        if (fdfl < 0 || (fdfl & FD_CLOEXEC))
            continue;
        n = snprintf(buf + used, cap - used, "%d,%lx,%d,%lld,%zu:%s;", fd,
                     (unsigned long)(uintptr_t)o, o->flags | (o->is_dir ? O_DIRECTORY : 0),
                     (long long)o->pos, strlen(o->path), o->path);
        if (n < 0 || (size_t)n >= cap - used) {
            buf[used] = '\0';
            break;
        }
        used += (size_t)n;
    }
    if (!vforked)
        pthread_mutex_unlock(&pl_lock);
}

/* Is `entry` ("NAME=value") the variable `name`? */
static bool pl_env_is(const char *entry, const char *name)
{
    size_t n = strlen(name);

    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/*
 * The environment for an exec: envp without our handover variables, plus
 * the kept variables it lacks, plus the fresh handover. out has room for
 * count(envp) + PL_NKEEP + 3 pointers; fds/cwd are the caller's buffers.
 */
static void pl_exec_env(char *const envp[], char **out, char *fds, char *cwd)
{
    bool have[PL_NKEEP] = {false};
    size_t n = 0, i, k;
    char b[PL_PATH_MAX];

    for (i = 0; envp != NULL && envp[i] != NULL; i++) {
        if (pl_env_is(envp[i], PL_ENV_FDS) || pl_env_is(envp[i], PL_ENV_CWD))
            continue;
        for (k = 0; k < PL_NKEEP; k++)
            if (pl_env_is(envp[i], pl_keep_names[k]))
                have[k] = true;
        out[n++] = envp[i];
    }
    for (k = 0; k < PL_NKEEP; k++)
        if (!have[k] && pl_keep_env[k] != NULL)
            out[n++] = pl_keep_env[k];
    snprintf(fds, PL_ENV_MAX, "%s=", PL_ENV_FDS);
    pl_exec_save(fds, PL_ENV_MAX);
    if (fds[strlen(PL_ENV_FDS) + 1] != '\0')
        out[n++] = fds;
    if (pl_cwd_get(b, sizeof(b))) {
        snprintf(cwd, PL_PATH_MAX + 32, "%s=%s", PL_ENV_CWD, b);
        out[n++] = cwd;
    }
    out[n] = NULL;
}

static size_t pl_env_count(char *const envp[])
{
    size_t n = 0;

    while (envp != NULL && envp[n] != NULL)
        n++;
    return n;
}

/* Declare the buffers and build `nenv` from envp (a macro: VLAs stay in
 * the caller's frame, which lives until the exec). */
#define PL_EXEC_ENV(envp)                                      \
    char pl_fds_buf[PL_ENV_MAX], pl_cwd_buf[PL_PATH_MAX + 32]; \
    char *nenv[pl_env_count(envp) + PL_NKEEP + 3];             \
    pl_exec_env((envp), nenv, pl_fds_buf, pl_cwd_buf)

/* A program file on BenchFS cannot be executed (no kernel file). */
static int pl_exec_refuse(const char *path)
{
    char b[PL_PATH_MAX];
    int rc = pl_path_resolve(AT_FDCWD, path, b, NULL);

    if (rc > 0) {
        pl_log("exec %s: ENOTSUP", b);
        return -ENOTSUP;
    }
    return 0;
}

PL_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    int rc = pl_exec_refuse(path);
    PL_REAL(execve);

    if (rc < 0)
        return (int)pl_ret(rc);
    PL_EXEC_ENV(envp);
    return real_execve(path, argv, nenv);
}

PL_EXPORT int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

PL_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    PL_REAL(execvpe);
    PL_EXEC_ENV(envp);
    return real_execvpe(file, argv, nenv);
}

PL_EXPORT int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, environ);
}

PL_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    PL_REAL(fexecve);

    if (pl_fd_get(fd) != NULL)
        return (int)pl_ret(-ENOTSUP);
    PL_EXEC_ENV(envp);
    return real_fexecve(fd, argv, nenv);
}

/* Count the variadic arguments of execl* up to the NULL. */
#define PL_COUNT_ARGS(first, n)                       \
    do {                                              \
        va_list ap_;                                  \
        va_start(ap_, first);                         \
        for (n = 1; va_arg(ap_, char *) != NULL; n++) \
            ;                                         \
        va_end(ap_);                                  \
    } while (0)

PL_EXPORT int execl(const char *path, const char *arg, ...)
{
    size_t n, i;
    va_list ap;

    PL_COUNT_ARGS(arg, n);
    char *argv[n + 1];
    va_start(ap, arg);
    argv[0] = (char *)arg;
    for (i = 1; i <= n; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    return execve(path, argv, environ);
}

PL_EXPORT int execlp(const char *file, const char *arg, ...)
{
    size_t n, i;
    va_list ap;

    PL_COUNT_ARGS(arg, n);
    char *argv[n + 1];
    va_start(ap, arg);
    argv[0] = (char *)arg;
    for (i = 1; i <= n; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    return execvpe(file, argv, environ);
}

PL_EXPORT int execle(const char *path, const char *arg, ...)
{
    size_t n, i;
    va_list ap;
    char **envp;

    PL_COUNT_ARGS(arg, n);
    char *argv[n + 1];
    va_start(ap, arg);
    argv[0] = (char *)arg;
    for (i = 1; i <= n; i++)
        argv[i] = va_arg(ap, char *);
    envp = va_arg(ap, char **);
    va_end(ap);
    return execve(path, argv, envp);
}

PL_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    PL_REAL(posix_spawn);
    PL_EXEC_ENV(envp);
    return real_posix_spawn(pid, path, fa, attr, argv, nenv);
}

PL_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    PL_REAL(posix_spawnp);
    PL_EXEC_ENV(envp);
    return real_posix_spawnp(pid, file, fa, attr, argv, nenv);
}

/* close_range/closefrom: forget the BenchFS descriptors in the range. */
PL_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    unsigned fd;
    PL_REAL(close_range);

    if (!(flags & CLOSE_RANGE_CLOEXEC))
        pl_tmpl_forget((int)(first > INT_MAX ? INT_MAX : first),
                       (int)(last > INT_MAX ? INT_MAX : last));
    if (pl_nbound > 0 && !(flags & CLOSE_RANGE_CLOEXEC) && !pl_in_vfork_child())
        for (fd = first; fd <= last && fd < PL_FD_MAX; fd++)
            if (pl_fds[fd] != NULL)
                pl_fd_unbind((int)fd);
    return real_close_range(first, last, flags);
}

PL_EXPORT void closefrom(int lowfd)
{
    int fd;
    PL_REAL(closefrom);

    pl_tmpl_forget(lowfd, INT_MAX);
    if (pl_nbound > 0 && lowfd >= 0 && !pl_in_vfork_child())
        for (fd = lowfd; fd < PL_FD_MAX; fd++)
            if (pl_fds[fd] != NULL)
                pl_fd_unbind(fd);
    real_closefrom(lowfd);
}

/* ---- the new image ---- */

/* Rebuild the descriptors an exec handed over. */
static void pl_inherit_fds(const char *s)
{
    struct {
        unsigned long id;
        struct pl_ofd *o;
    } seen[64];
    int nseen = 0;
    PL_REAL(fstat);

    while (*s != '\0') {
        int fd, flags, i;
        unsigned long id;
        long long pos;
        size_t len;
        int used = 0;
        char path[PL_PATH_MAX];
        struct pl_ofd *o = NULL;
        struct stat st;

        if (sscanf(s, "%d,%lx,%d,%lld,%zu:%n", &fd, &id, &flags, &pos, &len, &used) < 5 ||
            used == 0 || len >= sizeof(path) || strlen(s + used) < len)
            return;
        memcpy(path, s + used, len);
        path[len] = '\0';
        s += used + len;
        if (*s == ';')
            s++;
        /* Still our reserved /dev/null? Otherwise the program reused it. */
        if (fd < 0 || fd >= PL_FD_MAX || real_fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
            st.st_rdev != makedev(1, 3))
            continue;
        for (i = 0; i < nseen; i++)
            if (seen[i].id == id)
                o = seen[i].o;
        if (o == NULL) {
            o = pl_ofd_new(path, flags & ~O_DIRECTORY, (flags & O_DIRECTORY) != 0, -1);
            if (o == NULL)
                return;
            o->pos = pos;
            o->gen = 0;
            if (nseen < 64)
                seen[nseen++] = (typeof(seen[0])){id, o};
        }
        pl_fd_bind(fd, o);
        pl_log("inherited fd %d: %s at %lld", fd, path, pos);
    }
}

/* Keep "NAME=value" of a variable to restore it at exec. */
static void pl_keep(int k)
{
    const char *v = getenv(pl_keep_names[k]);
    size_t n;

    if (v == NULL)
        return;
    n = strlen(pl_keep_names[k]) + strlen(v) + 2;
    pl_keep_env[k] = malloc(n);
    if (pl_keep_env[k] != NULL)
        snprintf(pl_keep_env[k], n, "%s=%s", pl_keep_names[k], v);
}

__attribute__((constructor)) void pl_init(void)
{
    const char *v;
    int k;

    pl_pid = getpid();
    pl_log_init();
    pl_path_init();
    for (k = 0; k < PL_NKEEP; k++)
        pl_keep(k);
    pthread_atfork(pl_fork_prepare, pl_fork_parent, pl_fork_child);
    v = getenv(PL_ENV_CWD);
    if (v != NULL && v[0] == '/')
        pl_cwd_set(v);
    v = getenv(PL_ENV_FDS);
    if (v != NULL)
        pl_inherit_fds(v);
    unsetenv(PL_ENV_FDS);
    unsetenv(PL_ENV_CWD);
    pl_log("loaded: mount %s", pl_mount_len > 0 ? pl_mount : "(none)");
}

/* ---- exit ---- */

/*
 * Close every BenchFS descriptor in BenchFS so the sizes written reach the
 * owners: at exit (a library destructor runs before glibc's final stdio
 * flush, so streams are flushed here first) and at _exit.
 */
static void pl_close_all(void)
{
    int fd;

    if (pl_in_vfork_child())
        return;
    pl_maps_flush_all();
    if (pl_nbound == 0)
        return;
    fflush(NULL);
    pthread_mutex_lock(&pl_lock);
    for (fd = 0; fd < PL_FD_MAX; fd++) {
        struct pl_ofd *o = pl_fds[fd];

        if (o != NULL && o->bfd >= 0 && o->gen == pl_gen) {
            off_t pos = benchfs_lseek(o->bfd, 0, SEEK_CUR);

            if (pos >= 0)
                o->pos = pos;
            benchfs_close(o->bfd);
            o->bfd = -1;
        }
    }
    pthread_mutex_unlock(&pl_lock);
}

__attribute__((destructor)) static void pl_fini(void)
{
    pl_close_all();
}

PL_EXPORT void _exit(int status)
{
    PL_REAL(_exit);

    pl_close_all();
    real__exit(status);
    __builtin_unreachable();
}

PL_EXPORT void _Exit(int status)
{
    _exit(status);
}
