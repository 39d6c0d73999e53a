/*
 * chunk_fd.c - chunk files of the chunk store (chunk.h): their names, a
 * bounded LRU cache of open fds, removal, and the set of files that were
 * written and closed without a sync.
 *
 * Names come from numbers only: <hh>/<ino as 16 hex>.<index in decimal>,
 * hh = low byte of ring_hash(ino as 8 little-endian bytes). Every chunk of
 * one inode is in the same subdirectory, so a huge removal can scan one
 * directory instead of trying every index.
 *
 * The cache is keyed by (ino, index, write, direct). Two hash indexes point
 * at every entry: the main one by the full key for lookups, and one by ino
 * alone so that chunk_fsync and chunk_remove find all fds of an inode
 * without walking the cache. Entries in use by I/O hold references; an
 * entry evicted (LRU) or invalidated (removal) while referenced becomes an
 * orphan and is closed by the last chunk_fdc_put.
 *
 * Why the unsynced set: chunk_fsync promises that data written to an inode
 * is durable. fdatasync only covers files that are open, and the LRU may
 * have closed a written chunk long before the client's fsync. So closing a
 * dirty fd records (ino, index), and the next chunk_fsync of ino opens and
 * syncs those files too. The set is bounded; past the bound an evicted
 * dirty fd is fdatasync'ed before it is closed (slow, but never wrong).
 */
#include "store/chunk_priv.h"

#include "common/ring.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Ranges longer than this are removed by scanning the inode's subdir. */
#define CHUNK_REMOVE_SCAN_MIN 4096u

static uint64_t chunk_mix(uint64_t x)
{
    /* splitmix64 finalizer: cheap and spreads consecutive indices. */
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static size_t chunk_fdc_slot(const struct chunk_fdcache *c, uint64_t ino, uint64_t index,
                             unsigned flags)
{
    return chunk_mix(ino ^ chunk_mix(index + flags)) & (c->nbuckets - 1);
}

static size_t chunk_fdc_islot(const struct chunk_fdcache *c, uint64_t ino)
{
    return chunk_mix(ino) & (c->nbuckets - 1);
}

int chunk_fdc_init(struct chunk_fdcache *c, int dirfd, unsigned cap)
{
    size_t i;
    int rc = -ENOMEM;

    memset(c, 0, sizeof(*c));
    c->dirfd = dirfd;
    c->cap = cap ? cap : 1;
    c->nbuckets = 16;
    while (c->nbuckets < 2 * (size_t)c->cap)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL)
        goto err;
    c->ibuckets = malloc(c->nbuckets * sizeof(*c->ibuckets));
    if (c->ibuckets == NULL)
        goto err_free_buckets;
    for (i = 0; i < c->nbuckets; i++)
        list_init(&c->ibuckets[i]);
    c->nubuckets = 64;
    c->ubuckets = calloc(c->nubuckets, sizeof(*c->ubuckets));
    if (c->ubuckets == NULL)
        goto err_free_ibuckets;
    c->unsynced_max = 64 * (size_t)c->cap < 65536 ? 65536 : 64 * (size_t)c->cap;
    list_init(&c->lru);
    rc = chunk_index_init(&c->idx);
    if (rc != 0)
        goto err_free_ubuckets;
    rc = chunk_index_scan(&c->idx, dirfd);
    if (rc != 0)
        goto err_free_index;
    return 0;

err_free_index:
    chunk_index_cleanup(&c->idx);
err_free_ubuckets:
    free(c->ubuckets);
err_free_ibuckets:
    free(c->ibuckets);
err_free_buckets:
    free(c->buckets);
err:
    return rc;
}

/* --- the unsynced set --------------------------------------------------- */

static int chunk_unsynced_grow(struct chunk_fdcache *c)
{
    size_t n = c->nubuckets * 2, i;
    struct chunk_unsynced **b, *u, *next;

    b = calloc(n, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    for (i = 0; i < c->nubuckets; i++) {
        for (u = c->ubuckets[i]; u != NULL; u = next) {
            next = u->next;
            u->next = b[chunk_mix(u->ino) & (n - 1)];
            b[chunk_mix(u->ino) & (n - 1)] = u;
        }
    }
    free(c->ubuckets);
    c->ubuckets = b;
    c->nubuckets = n;
    return 0;
}

static int chunk_unsynced_add(struct chunk_fdcache *c, uint64_t ino, uint64_t index)
{
    struct chunk_unsynced **head, *u;

    head = &c->ubuckets[chunk_mix(ino) & (c->nubuckets - 1)];
    for (u = *head; u != NULL; u = u->next)
        if (u->ino == ino && u->index == index)
            return 0;
    if (c->nunsynced >= c->unsynced_max)
        return -ENOSPC;
    /* Keep chains short; a failed grow only makes them longer. */
    if (c->nunsynced >= 2 * c->nubuckets && chunk_unsynced_grow(c) == 0)
        head = &c->ubuckets[chunk_mix(ino) & (c->nubuckets - 1)];
    u = malloc(sizeof(*u));
    if (u == NULL)
        return -ENOMEM;
    u->ino = ino;
    u->index = index;
    u->next = *head;
    *head = u;
    c->nunsynced++;
    return 0;
}

/* Remove records of ino with first <= index <= last; with `out`, move them
 * into out[] instead of freeing (out must have room for all). */
static size_t chunk_unsynced_take(struct chunk_fdcache *c, uint64_t ino, uint64_t first,
                                  uint64_t last, struct chunk_sync_item *out)
{
    struct chunk_unsynced **pp, *u;
    size_t n = 0;

    pp = &c->ubuckets[chunk_mix(ino) & (c->nubuckets - 1)];
    while ((u = *pp) != NULL) {
        if (u->ino != ino || u->index < first || u->index > last) {
            pp = &u->next;
            continue;
        }
        *pp = u->next;
        if (out != NULL) {
            out[n].fde = NULL;
            out[n].index = u->index;
        }
        n++;
        c->nunsynced--;
        free(u);
    }
    return n;
}

/* --- entries ------------------------------------------------------------ */

static void chunk_fdc_close(struct chunk_fdcache *c, struct chunk_fd *fde)
{
    /* Data written through fd must stay reachable by a later chunk_fsync. */
    if (fde->dirty && !fde->removed && chunk_unsynced_add(c, fde->ino, fde->index) != 0)
        (void)fdatasync(fde->fd);
    list_remove(&fde->ilink);
    close(fde->fd);
    free(fde);
}

/* Take fde out of the cache (LRU eviction, or its file was removed). */
static void chunk_fdc_evict(struct chunk_fdcache *c, struct chunk_fd *fde, bool removed)
{
    struct chunk_fd **pp;

    pp = &c->buckets[chunk_fdc_slot(c, fde->ino, fde->index, fde->flags)];
    while (*pp != fde)
        pp = &(*pp)->hnext;
    *pp = fde->hnext;
    list_remove(&fde->link);
    fde->cached = false;
    c->ncached--;
    if (removed)
        fde->removed = true;
    if (fde->refs == 0) {
        chunk_fdc_close(c, fde);
        return;
    }
    c->norphans++; /* closed by the last chunk_fdc_put */
}

static struct chunk_fd *chunk_fdc_find(struct chunk_fdcache *c, uint64_t ino, uint64_t index,
                                       unsigned flags)
{
    struct chunk_fd *fde;

    for (fde = c->buckets[chunk_fdc_slot(c, ino, index, flags)]; fde != NULL; fde = fde->hnext)
        if (fde->ino == ino && fde->index == index && fde->flags == flags)
            return fde;
    return NULL;
}

/*
 * Open a chunk file. Only a regular file is one: a symlink, a FIFO or a
 * device planted in the data directory (clients of this host can write
 * there, docs/architecture.md#direct-chunk-io) is -EIO, never followed,
 * waited on or written to (O_NOFOLLOW, O_NONBLOCK, then fstat; O_NONBLOCK
 * is cleared again for io_uring).
 */
static int chunk_fdc_open(struct chunk_fdcache *c, uint64_t ino, uint64_t index, unsigned flags)
{
    char name[CHUNK_NAME_MAX];
    int oflags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, fd;
    struct stat st;

    oflags |= (flags & CHUNK_FD_WRITE) ? O_RDWR | O_CREAT : O_RDONLY;
    if (flags & CHUNK_FD_DIRECT)
        oflags |= O_DIRECT;
    ring_chunk_name(name, ino, index);
    fd = openat(c->dirfd, name, oflags, 0600);
    if (fd < 0 && errno == ENOENT && (flags & CHUNK_FD_WRITE)) {
        /* The first chunk in this subdirectory: make it, then retry. */
        name[2] = '\0';
        if (mkdirat(c->dirfd, name, 0700) != 0 && errno != EEXIST)
            return -errno;
        name[2] = '/';
        fd = openat(c->dirfd, name, oflags, 0600);
    }
    if (fd < 0)
        return errno == ELOOP || errno == ENXIO ? -EIO : -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EIO;
    }
    /* io_uring would answer EAGAIN instead of waiting on an O_NONBLOCK file. */
    if (fcntl(fd, F_SETFL, oflags & ~(O_NONBLOCK | O_CLOEXEC | O_CREAT | O_NOFOLLOW)) != 0) {
        int rc = -errno;

        close(fd);
        return rc;
    }
    return fd;
}

int chunk_fdc_open_private(struct chunk_fdcache *c, uint64_t ino, uint64_t index)
{
    return chunk_fdc_open(c, ino, index, 0);
}

static void chunk_fdc_use(struct chunk_fdcache *c, struct chunk_fd *fde)
{
    fde->refs++;
    list_remove(&fde->link);
    list_push_front(&c->lru, &fde->link);
}

int chunk_fdc_get(struct chunk_fdcache *c, uint64_t ino, uint64_t index, unsigned flags,
                  struct chunk_fd **fde_p)
{
    struct chunk_fd *fde;
    size_t slot;
    int fd;

    fde = chunk_fdc_find(c, ino, index, flags);
    /* A reader can share a writer's O_RDWR fd instead of opening another. */
    if (fde == NULL && !(flags & CHUNK_FD_WRITE))
        fde = chunk_fdc_find(c, ino, index, flags | CHUNK_FD_WRITE);
    if (fde != NULL) {
        chunk_fdc_use(c, fde);
        *fde_p = fde;
        return 0;
    }

    /* A deleted inode's late writes must not create files nobody frees
     * (its fds were all dropped by the removal, so this is the only way). */
    if ((flags & CHUNK_FD_WRITE) && chunk_gone_has(&c->gone, ino))
        return -ESTALE;
    fd = chunk_fdc_open(c, ino, index, flags);
    if (fd < 0)
        return fd;
    fde = calloc(1, sizeof(*fde));
    /* A write fd may have created the file: the index must know it before
     * any removal can look for it. */
    if (fde == NULL || ((flags & CHUNK_FD_WRITE) && chunk_index_note(&c->idx, ino, index) != 0)) {
        free(fde);
        close(fd);
        return -ENOMEM;
    }
    if (c->ncached >= c->cap)
        chunk_fdc_evict(c, list_entry(c->lru.prev, struct chunk_fd, link), false);
    fde->ino = ino;
    fde->index = index;
    fde->fd = fd;
    fde->flags = flags;
    fde->refs = 1;
    fde->cached = true;
    slot = chunk_fdc_slot(c, ino, index, flags);
    fde->hnext = c->buckets[slot];
    c->buckets[slot] = fde;
    list_push_front(&c->lru, &fde->link);
    list_push_back(&c->ibuckets[chunk_fdc_islot(c, ino)], &fde->ilink);
    c->ncached++;
    *fde_p = fde;
    return 0;
}

void chunk_fdc_put(struct chunk_fdcache *c, struct chunk_fd *fde)
{
    if (--fde->refs > 0 || fde->cached)
        return;
    c->norphans--;
    chunk_fdc_close(c, fde);
}

unsigned chunk_fdc_open_count(const struct chunk_fdcache *c)
{
    return c->ncached + c->norphans;
}

void chunk_fdc_cleanup(struct chunk_fdcache *c)
{
    struct chunk_unsynced *u, *next;
    struct chunk_fd *fde;
    size_t i;

    while (!list_empty(&c->lru)) {
        fde = list_entry(c->lru.next, struct chunk_fd, link);
        fde->refs = 0; /* no I/O is left when the store closes */
        chunk_fdc_evict(c, fde, false);
    }
    for (i = 0; i < c->nubuckets; i++) {
        for (u = c->ubuckets[i]; u != NULL; u = next) {
            next = u->next;
            free(u);
        }
    }
    free(c->ubuckets);
    free(c->ibuckets);
    free(c->buckets);
    chunk_index_cleanup(&c->idx);
    chunk_gone_cleanup(&c->gone);
    memset(c, 0, sizeof(*c));
}

/* --- sync lists --------------------------------------------------------- */

static int chunk_fdc_scan(struct chunk_fdcache *c, uint64_t ino, uint64_t first, uint64_t last,
                          int (*fn)(void *arg, int dirfd, const char *name, uint64_t index),
                          void *arg);

/* The indices of a sync list being built (chunk_fdc_sync_list): the first
 * nfde items are open fds, the rest indices. */
struct chunk_sync_build {
    struct chunk_sync_item *items;
    size_t n, cap, nfde;
};

/* Append an item (fde NULL: opened by index). 0 or -ENOMEM. */
static int chunk_sync_push(struct chunk_sync_build *b, struct chunk_fd *fde, uint64_t index)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        struct chunk_sync_item *grown = realloc(b->items, cap * sizeof(*grown));

        if (grown == NULL)
            return -ENOMEM;
        b->items = grown;
        b->cap = cap;
    }
    b->items[b->n].fde = fde;
    b->items[b->n].index = index;
    b->n++;
    return 0;
}

/* A chunk file found by index or by the scan (chunk_fdc_scan's callback):
 * listed unless one of the open fds listed first syncs it already. */
static int chunk_sync_add(void *arg, int dirfd, const char *name, uint64_t index)
{
    struct chunk_sync_build *b = arg;

    (void)dirfd;
    (void)name;
    for (size_t i = 0; i < b->nfde; i++) {
        if (b->items[i].index == index)
            return 0;
    }
    return chunk_sync_push(b, NULL, index);
}

int chunk_fdc_sync_list(struct chunk_fdcache *c, uint64_t ino, struct chunk_sync_item **items_p,
                        size_t *n_p)
{
    struct list_node *head = &c->ibuckets[chunk_fdc_islot(c, ino)], *pos, *tmp;
    struct chunk_sync_build b = {0};
    struct chunk_fd *fde;
    uint64_t max, i;
    int rc = 0;

    *items_p = NULL;
    *n_p = 0;
    /* Every chunk file of ino held here, not only those this server wrote:
     * clients of this host write chunk files directly
     * (docs/architecture.md#direct-chunk-io). The files it wrote through
     * fds still open are synced through those fds; the rest are opened by
     * index (holes: ENOENT, skipped), or found by a scan of the inode's
     * subdirectory when the index range is large. */
    list_for_each_safe(pos, tmp, head)
    {
        fde = list_entry(pos, struct chunk_fd, ilink);
        if (fde->ino != ino || !fde->dirty || fde->removed)
            continue;
        rc = chunk_sync_push(&b, fde, fde->index);
        if (rc != 0)
            break;
        /* Cleared now: a write completing after this fsync was issued sets
         * it again, so the next fsync covers that write. */
        fde->dirty = false;
        fde->refs++;
        b.nfde = b.n;
    }
    if (rc == 0 && chunk_index_max(&c->idx, ino, &max)) {
        if (max >= CHUNK_REMOVE_SCAN_MIN) {
            rc = chunk_fdc_scan(c, ino, 0, max, chunk_sync_add, &b);
        } else {
            for (i = 0; i <= max && rc == 0; i++)
                rc = chunk_sync_add(&b, -1, NULL, i);
        }
    }
    if (rc != 0) {
        for (i = 0; i < b.n; i++) {
            if (b.items[i].fde != NULL) {
                b.items[i].fde->dirty = true;
                chunk_fdc_put(c, b.items[i].fde);
            }
        }
        free(b.items);
        return rc;
    }
    /* Files closed unsynced are among those listed now. */
    (void)chunk_unsynced_take(c, ino, 0, UINT64_MAX, NULL);
    *items_p = b.items;
    *n_p = b.n;
    return 0;
}

void chunk_fdc_sync_failed(struct chunk_fdcache *c, uint64_t ino, const struct chunk_sync_item *it)
{
    if (it->fde != NULL)
        it->fde->dirty = true;
    else
        (void)chunk_unsynced_add(c, ino, it->index);
}

/* --- removal ------------------------------------------------------------ */

static int chunk_fdc_unlink(struct chunk_fdcache *c, uint64_t ino, uint64_t index)
{
    char name[CHUNK_NAME_MAX];

    ring_chunk_name(name, ino, index);
    if (unlinkat(c->dirfd, name, 0) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* Shrink chunk (ino, index) to keep bytes if it is longer. */
static int chunk_fdc_truncate(struct chunk_fdcache *c, uint64_t ino, uint64_t index, uint64_t keep)
{
    char name[CHUNK_NAME_MAX];
    struct stat st;
    int fd, rc = 0;

    ring_chunk_name(name, ino, index);
    fd = openat(c->dirfd, name, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno; /* a hole stays a hole */
    /* Never extend: a short chunk already reads as zeros past its end. */
    if (fstat(fd, &st) != 0)
        rc = -errno;
    else if ((uint64_t)st.st_size > keep && ftruncate(fd, (off_t)keep) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Call fn for every chunk file of ino with an index in [first, last]
 * found in its subdirectory (one readdir of it). Stops at fn's first
 * error; 0 or -errno. */
static int chunk_fdc_scan(struct chunk_fdcache *c, uint64_t ino, uint64_t first, uint64_t last,
                          int (*fn)(void *arg, int dirfd, const char *name, uint64_t index),
                          void *arg)
{
    char name[CHUNK_NAME_MAX], prefix[24], *end;
    struct dirent *de;
    unsigned long long index;
    size_t plen;
    DIR *dir;
    int fd, rc = 0;

    ring_chunk_name(name, ino, 0);
    name[2] = '\0';
    fd = openat(c->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    dir = fdopendir(fd);
    if (dir == NULL) {
        rc = -errno;
        close(fd);
        return rc;
    }
    plen = (size_t)snprintf(prefix, sizeof(prefix), "%016" PRIx64 ".", ino);
    while (rc == 0 && (de = readdir(dir)) != NULL) {
        if (strncmp(de->d_name, prefix, plen) != 0 || de->d_name[plen] < '0' ||
            de->d_name[plen] > '9')
            continue;
        errno = 0;
        index = strtoull(de->d_name + plen, &end, 10);
        if (errno != 0 || *end != '\0' || index < first || index > last)
            continue;
        rc = fn(arg, fd, de->d_name, index);
    }
    closedir(dir);
    return rc;
}

/* Unlink one chunk file found by the scan; the first error is kept but the
 * scan goes on (*(int *)arg). */
static int chunk_fdc_unlink_one(void *arg, int dirfd, const char *name, uint64_t index)
{
    int *rc = arg;

    (void)index;
    if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT && *rc == 0)
        *rc = -errno;
    return 0;
}

/* Unlink every chunk of ino in [first, last] found in its subdirectory. */
static int chunk_fdc_unlink_scan(struct chunk_fdcache *c, uint64_t ino, uint64_t first,
                                 uint64_t last)
{
    int first_err = 0, rc = chunk_fdc_scan(c, ino, first, last, chunk_fdc_unlink_one, &first_err);

    return rc != 0 ? rc : first_err;
}

int chunk_fdc_remove(struct chunk_fdcache *c, uint64_t ino, uint64_t first, uint64_t last,
                     uint64_t keep_bytes)
{
    struct list_node *head = &c->ibuckets[chunk_fdc_islot(c, ino)], *pos, *tmp;
    struct chunk_fd *fde;
    uint64_t start = first, max, i;
    bool to_end;
    int rc = 0, r;

    if (first > last)
        return -EINVAL;
    /* The index knows every chunk file here: nothing of ino, nothing to do;
     * else nothing lies past its highest index. */
    if (!chunk_index_max(&c->idx, ino, &max) || max < first)
        return 0;
    to_end = last >= max;
    if (to_end)
        last = max;
    if (keep_bytes > 0) {
        /* `first` survives, shorter: its cached fds stay valid. */
        rc = chunk_fdc_truncate(c, ino, first, keep_bytes);
        if (first == last)
            goto out;
        start = first + 1;
    }
    list_for_each_safe(pos, tmp, head)
    {
        fde = list_entry(pos, struct chunk_fd, ilink);
        if (fde->ino != ino || fde->index < start || fde->index > last)
            continue;
        if (fde->cached)
            chunk_fdc_evict(c, fde, true);
        else
            fde->removed = true; /* an orphan: closed by its last put */
    }
    (void)chunk_unsynced_take(c, ino, start, last, NULL);

    if (last - start >= CHUNK_REMOVE_SCAN_MIN) {
        r = chunk_fdc_unlink_scan(c, ino, start, last);
        if (rc == 0)
            rc = r;
        goto out;
    }
    for (i = start;; i++) {
        r = chunk_fdc_unlink(c, ino, i);
        if (r != 0 && rc == 0)
            rc = r;
        if (i == last)
            break;
    }
out:
    /* Forget what is gone only when all of it is (a failed unlink may
     * have left a file the next removal must still find). */
    if (rc == 0 && to_end)
        chunk_index_cut(&c->idx, ino, first, keep_bytes > 0);
    return rc;
}

size_t chunk_fdc_list(struct chunk_fdcache *c, uint64_t after, uint64_t *inos, size_t max)
{
    return chunk_index_list(&c->idx, after, inos, max);
}

int chunk_fdc_usage(struct chunk_fdcache *c, uint64_t ino, uint64_t *chunks_p, uint64_t *bytes_p)
{
    char name[CHUNK_NAME_MAX];
    struct stat st;
    uint64_t max, i, chunks = 0, bytes = 0;

    if (!chunk_index_max(&c->idx, ino, &max)) {
        *chunks_p = *bytes_p = 0;
        return 0;
    }
    /* fsck only: one fstatat per possible index (bounded by the index). */
    for (i = 0;; i++) {
        ring_chunk_name(name, ino, i);
        if (fstatat(c->dirfd, name, &st, 0) == 0) {
            chunks++;
            bytes += (uint64_t)st.st_blocks * 512;
        } else if (errno != ENOENT) {
            return -errno;
        }
        if (i == max)
            break;
    }
    *chunks_p = chunks;
    *bytes_p = bytes;
    return 0;
}
