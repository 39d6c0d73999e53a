/*
 * mmap.c - memory maps of BenchFS files (preload.h).
 *
 * A BenchFS file has no page cache to map. mmap of a BenchFS descriptor
 * therefore returns an anonymous mapping filled with the file's bytes
 * (pread at the offset; beyond the end: zeros):
 *  - MAP_PRIVATE, any protection: exact (a private copy is what the
 *    program asked for); git's pack and index reads, numpy.load(mmap_mode=r).
 *  - MAP_SHARED with PROT_WRITE: the mapping is recorded and written back
 *    to the file (up to the file's size) by msync() and munmap(). Other
 *    processes see the data after that, not at each store; two processes
 *    mapping one file shared do not see each other's stores.
 * Mappings keep a reference on the ofd, so a close() after mmap, as POSIX
 * allows, does not lose the write-back; at exit (no munmap) proc.c writes
 * every such mapping back.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "benchfs.h"
#include "preload/preload.h"

#define PL_MAPS_MAX 256

struct pl_map {
    char *addr;
    size_t len;
    off_t off;
    struct pl_ofd *ofd;
};

static struct pl_map pl_maps[PL_MAPS_MAX];
static int pl_nmaps;
static pthread_mutex_t pl_map_lock = PTHREAD_MUTEX_INITIALIZER;

/* Copy [off, off+len) of the file into addr; the tail past EOF stays zero. */
static int pl_map_fill(struct pl_ofd *o, char *addr, size_t len, off_t off)
{
    size_t done = 0;
    ssize_t n;
    int bfd = pl_ofd_bfd(o);

    if (bfd < 0)
        return bfd;
    while (done < len) {
        n = benchfs_pread(bfd, addr + done, len - done, off + (off_t)done);
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return 0;
}

/* Write a shared writable mapping back, clipped to the file size. */
static int pl_map_flush(struct pl_map *m)
{
    struct stat st;
    size_t len = m->len;
    int bfd = pl_ofd_bfd(m->ofd);

    if (bfd < 0)
        return bfd;
    if (benchfs_fstat(bfd, &st) < 0)
        return -errno;
    if (m->off >= st.st_size)
        return 0;
    if ((off_t)len > st.st_size - m->off)
        len = (size_t)(st.st_size - m->off);
    if (benchfs_pwrite(bfd, m->addr, len, m->off) != (ssize_t)len)
        return -EIO;
    return 0;
}

/* mmap of a BenchFS descriptor. */
static void *pl_mmap_bfs(struct pl_ofd *o, void *addr, size_t len, int prot, int flags, off_t off)
{
    char *p;
    int rc;
    bool shared_write = (flags & MAP_SHARED) && (prot & PROT_WRITE);
    PL_REAL(mmap);
    PL_REAL(munmap);

    if (o->is_dir)
        return (void *)(intptr_t)pl_ret(-ENODEV);
    if (shared_write && (o->flags & O_ACCMODE) != O_RDWR)
        return (void *)(intptr_t)pl_ret(-EACCES);
    p = real_mmap(addr, len, PROT_READ | PROT_WRITE,
                  (flags & ~(MAP_SHARED | MAP_SHARED_VALIDATE)) | MAP_PRIVATE | MAP_ANONYMOUS, -1,
                  0);
    if (p == MAP_FAILED)
        return MAP_FAILED;
    rc = pl_map_fill(o, p, len, off);
    if (rc == 0 && !(prot & PROT_WRITE) && mprotect(p, len, prot) < 0)
        rc = -errno;
    if (rc == 0 && shared_write) {
        pthread_mutex_lock(&pl_map_lock);
        if (pl_nmaps == PL_MAPS_MAX) {
            rc = -ENOMEM;
        } else {
            pl_maps[pl_nmaps++] = (struct pl_map){p, len, off, o};
            pthread_mutex_lock(&pl_lock);
            o->refs++;
            pthread_mutex_unlock(&pl_lock);
        }
        pthread_mutex_unlock(&pl_map_lock);
    }
    if (rc < 0) {
        real_munmap(p, len);
        return (void *)(intptr_t)pl_ret(rc);
    }
    return p;
}

/* Both names land here directly: UCX's memory hooks may patch the GOT
 * entry of mmap in every loaded object, this library's included. */
static void *pl_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    struct pl_ofd *o;
    PL_REAL(mmap);

    if (__builtin_expect((flags & MAP_ANONYMOUS) || (o = pl_fd_get(fd)) == NULL, 1))
        return real_mmap(addr, len, prot, flags, fd, off);
    pl_log("mmap %d len %zu prot %d flags %#x @%lld", fd, len, prot, (unsigned)flags,
           (long long)off);
    return pl_mmap_bfs(o, addr, len, prot, flags, off);
}

PL_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return pl_mmap(addr, len, prot, flags, fd, off);
}

PL_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    return pl_mmap(addr, len, prot, flags, fd, (off_t)off);
}

/* The recorded mapping containing addr, or -1. Under pl_map_lock. */
static int pl_map_find(const void *addr)
{
    int i;

    for (i = 0; i < pl_nmaps; i++)
        if ((const char *)addr >= pl_maps[i].addr &&
            (const char *)addr < pl_maps[i].addr + pl_maps[i].len)
            return i;
    return -1;
}

PL_EXPORT int msync(void *addr, size_t len, int flags)
{
    int i, rc = 0;
    PL_REAL(msync);

    if (__builtin_expect(__atomic_load_n(&pl_nmaps, __ATOMIC_RELAXED) == 0, 1))
        return real_msync(addr, len, flags);
    pthread_mutex_lock(&pl_map_lock);
    i = pl_map_find(addr);
    if (i >= 0) {
        rc = pl_map_flush(&pl_maps[i]);
        pl_log("msync %p -> %d", addr, rc);
    }
    pthread_mutex_unlock(&pl_map_lock);
    if (i < 0)
        return real_msync(addr, len, flags);
    return (int)pl_ret(rc);
}

PL_EXPORT int munmap(void *addr, size_t len)
{
    struct pl_map m;
    int i, rc = 0;
    PL_REAL(munmap);

    if (__builtin_expect(__atomic_load_n(&pl_nmaps, __ATOMIC_RELAXED) == 0, 1))
        return real_munmap(addr, len);
    pthread_mutex_lock(&pl_map_lock);
    i = pl_map_find(addr);
    if (i >= 0) {
        m = pl_maps[i];
        pl_maps[i] = pl_maps[--pl_nmaps];
        /* A partial unmap writes the whole mapping back and forgets it. */
        rc = pl_map_flush(&m);
        pl_log("munmap %p write-back -> %d", addr, rc);
        pthread_mutex_lock(&pl_lock);
        pl_ofd_put(m.ofd);
        pthread_mutex_unlock(&pl_lock);
    }
    pthread_mutex_unlock(&pl_map_lock);
    if (real_munmap(addr, len) < 0)
        return -1;
    return (int)pl_ret(rc);
}

void pl_maps_flush_all(void)
{
    int i;

    if (__atomic_load_n(&pl_nmaps, __ATOMIC_RELAXED) == 0)
        return;
    pthread_mutex_lock(&pl_map_lock);
    for (i = 0; i < pl_nmaps; i++)
        pl_map_flush(&pl_maps[i]);
    pthread_mutex_unlock(&pl_map_lock);
}
