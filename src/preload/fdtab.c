/*
 * fdtab.c - the descriptor table (preload.h).
 *
 * Every BenchFS file the program opens gets a real kernel descriptor: a
 * reserved copy of /dev/null (O_CLOEXEC when the program asked for it). The
 * kernel thereby hands out unique numbers, so select()/poll() on it, closing
 * unrelated descriptors, dup2 onto it and fd passing cannot collide with
 * the program's other files, and FD_CLOEXEC is kept by the kernel itself.
 * pl_fds[fd] points at the open file description (struct pl_ofd), shared by
 * dup'd descriptors as in the kernel: they share the BenchFS descriptor and
 * therefore its offset.
 *
 * The BenchFS descriptor of an ofd belongs to one process generation: after
 * fork (and in an exec'd image) the ofd keeps its path, flags and position
 * and pl_ofd_bfd() reopens it on first use (proc.c explains the handover).
 * The client connects lazily on the first BenchFS call (pl_connect).
 *
 * Lookups (pl_fd_get) take no lock: one array load, so descriptor calls on
 * local files pay almost nothing. Changes take pl_lock.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "benchfs.h"
#include "preload/preload.h"

struct pl_ofd *pl_fds[PL_FD_MAX];
unsigned pl_gen = 1;
int pl_nbound;
pthread_mutex_t pl_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The client's own descriptors (UCX sockets, epoll and event fds) are kept
 * at or above this number: programs pick low numbers explicitly (a shell's
 * `exec 7>file` is dup2(fd, 7)) and would close the client's descriptors
 * under it. Connecting first fills every free number below the floor.
 */
#define PL_FD_FLOOR 256

static pthread_mutex_t pl_connect_lock = PTHREAD_MUTEX_INITIALIZER;
__thread int pl_connecting;

/* Occupy the free descriptor numbers below PL_FD_FLOOR; returns how many
 * (their numbers in held[]). */
static int pl_floor_fill(int *held)
{
    int n = 0, fd, floor = PL_FD_FLOOR;
    struct rlimit rl;
    PL_REAL(open);
    PL_REAL(close);

    /* Leave most of a small descriptor limit to the client itself. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 4 < (rlim_t)floor)
        floor = (int)(rl.rlim_cur / 4);
    while (n < floor) {
        fd = real_open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        if (fd >= floor) {
            real_close(fd);
            break;
        }
        held[n++] = fd;
    }
    return n;
}

static void pl_floor_release(const int *held, int n)
{
    PL_REAL(close);

    while (n-- > 0)
        real_close(held[n]);
}
static unsigned pl_connected_gen; /* generation that connected, 0: none */

int pl_connect(void)
{
    int rc = 0;

    if (__atomic_load_n(&pl_connected_gen, __ATOMIC_ACQUIRE) == pl_gen)
        return 0;
    /* Not pl_lock: connecting opens registry files through our own
     * wrappers, which must not wait for a lock held here. */
    pthread_mutex_lock(&pl_connect_lock);
    if (pl_connected_gen != pl_gen) {
        int held[PL_FD_FLOOR], nheld = pl_floor_fill(held), crc;

        /* UCX's own descriptors, opened while loading, go above the floor too. */
        pl_connecting = 1;
        crc = pl_api_load();
        if (crc == 0)
            crc = benchfs_connect(NULL, NULL) < 0 ? -errno : 0;
        pl_connecting = 0;
        pl_floor_release(held, nheld);
        if (crc < 0 && crc != -EALREADY) {
            rc = crc;
            pl_log("connect: %s", crc == -ELIBACC || crc == -ELIBBAD ? "libbenchfs not loaded"
                                                                     : benchfs_last_error());
            /* Connection failures are reported as EIO to the program, with
             * the reason in the log (ENOENT would read as "no such file"). */
            if (rc == -ENOENT)
                rc = -EIO;
        } else {
            __atomic_store_n(&pl_connected_gen, pl_gen, __ATOMIC_RELEASE);
            pl_log("connected (%s)", getenv("BENCHFS_REGISTRY") ? getenv("BENCHFS_REGISTRY") : "");
        }
    }
    pthread_mutex_unlock(&pl_connect_lock);
    return rc;
}

/* Forget the connection (fork child): the next call connects afresh. */
void pl_connect_forget(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

    pl_connect_lock = fresh;
    if (pl_connected_gen != 0)
        benchfs_atfork_child();
    pl_connected_gen = 0;
}

/*
 * The template: one /dev/null descriptor kept at the top of the program's
 * descriptor range. A reservation is then one fcntl(F_DUPFD) of it (0.4 µs
 * with its close, measured) instead of an open of /dev/null (2 µs: a path
 * walk), per BenchFS open. The number belongs to the program as soon as it
 * closes or replaces it (close, dup2/dup3, close_range, closefrom call
 * pl_tmpl_forget), and a template that is gone (EBADF) is made again.
 */
static int pl_tmpl_fd = -1;
static pthread_mutex_t pl_tmpl_lock = PTHREAD_MUTEX_INITIALIZER;

static int pl_tmpl_get(void)
{
    int t = __atomic_load_n(&pl_tmpl_fd, __ATOMIC_ACQUIRE);
    struct rlimit rl;
    int fd, top = 1023;
    PL_REAL(open);
    PL_REAL(close);
    PL_REAL(fcntl);

    if (t >= 0)
        return t;
    pthread_mutex_lock(&pl_tmpl_lock);
    t = pl_tmpl_fd;
    if (t < 0) {
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 64)
            top = rl.rlim_cur - 1 > 65535 ? 65535 : (int)(rl.rlim_cur - 1);
        fd = real_open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            /* Exactly the top number, or no template (never a low one). */
            t = real_fcntl(fd, F_DUPFD_CLOEXEC, top);
            if (t >= 0 && t != top) {
                real_close(t);
                t = -1;
            }
            real_close(fd);
        }
        if (t >= 0)
            __atomic_store_n(&pl_tmpl_fd, t, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&pl_tmpl_lock);
    return t;
}

void pl_tmpl_forget(int first, int last)
{
    int t = __atomic_load_n(&pl_tmpl_fd, __ATOMIC_ACQUIRE);

    /* A vfork child shares our memory but not our descriptor table. */
    if (t >= first && t <= last && !pl_in_vfork_child())
        __atomic_compare_exchange_n(&pl_tmpl_fd, &t, -1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

int pl_reserve(bool cloexec)
{
    int fd = -1, t = pl_tmpl_get();
    PL_REAL(open);
    PL_REAL(close);
    PL_REAL(fcntl);

    if (t >= 0) {
        fd = real_fcntl(t, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
        if (fd < 0 && errno == EBADF)
            pl_tmpl_forget(t, t);
    }
    if (fd < 0)
        fd = real_open("/dev/null", O_RDWR | (cloexec ? O_CLOEXEC : 0));
    if (fd < 0)
        return -errno;
    if (fd >= PL_FD_MAX) {
        real_close(fd);
        return -EMFILE;
    }
    return fd;
}

struct pl_ofd *pl_ofd_new(const char *bpath, int flags, bool is_dir, int bfd)
{
    struct pl_ofd *o = calloc(1, sizeof(*o));

    if (o == NULL)
        return NULL;
    o->path = strdup(bpath);
    if (o->path == NULL) {
        free(o);
        return NULL;
    }
    o->flags = flags;
    o->is_dir = is_dir;
    o->bfd = bfd;
    o->gen = pl_gen;
    return o;
}

void pl_ofd_put(struct pl_ofd *o)
{
    if (--o->refs > 0)
        return;
    if (o->bfd >= 0 && o->gen == pl_gen)
        benchfs_close(o->bfd);
    if (o->dir != NULL)
        pl_dirstate_free(o->dir);
    free(o->path);
    free(o);
}

void pl_fd_bind(int fd, struct pl_ofd *o)
{
    struct pl_ofd *old;

    pthread_mutex_lock(&pl_lock);
    old = pl_fds[fd];
    o->refs++;
    __atomic_store_n(&pl_fds[fd], o, __ATOMIC_RELEASE);
    if (old != NULL)
        pl_ofd_put(old);
    else
        pl_nbound++;
    pthread_mutex_unlock(&pl_lock);
    if (fd <= 2)
        pl_stdio_bound(fd);
}

void pl_fd_unbind(int fd)
{
    struct pl_ofd *old;

    if ((unsigned)fd >= PL_FD_MAX)
        return;
    if (fd <= 2)
        pl_stdio_unbinding(fd);
    pthread_mutex_lock(&pl_lock);
    old = pl_fds[fd];
    __atomic_store_n(&pl_fds[fd], NULL, __ATOMIC_RELEASE);
    if (old != NULL) {
        pl_nbound--;
        pl_ofd_put(old);
    }
    pthread_mutex_unlock(&pl_lock);
}

int pl_ofd_bfd(struct pl_ofd *o)
{
    int rc, bfd;

    if (__builtin_expect(o->bfd >= 0 && o->gen == pl_gen, 1))
        return o->bfd;
    if (o->is_dir)
        return -EISDIR;
    rc = pl_connect();
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&pl_lock);
    if (o->bfd >= 0 && o->gen == pl_gen) {
        rc = o->bfd;
        goto out;
    }
    /* Reopen what an earlier generation had open: never create or truncate
     * again. A file unlinked meanwhile cannot be reopened (ENOENT). */
    bfd = benchfs_open(o->path, o->flags & (O_ACCMODE | O_APPEND), 0);
    if (bfd < 0) {
        rc = -errno;
        pl_log("reopen %s: %s", o->path, benchfs_last_error());
        goto out;
    }
    if (o->pos > 0 && benchfs_lseek(bfd, o->pos, SEEK_SET) < 0) {
        rc = -errno;
        benchfs_close(bfd);
        goto out;
    }
    pl_log("reopen %s at %lld", o->path, (long long)o->pos);
    o->bfd = bfd;
    o->gen = pl_gen;
    rc = bfd;
out:
    pthread_mutex_unlock(&pl_lock);
    return rc;
}
