/*
 * chunk_index.c - which inodes have chunk files on this server, in memory.
 *
 * Why: removal and truncation must free every chunk a server holds for an
 * inode, whatever size the owner recorded (a writer that died never pushed
 * its size; a client may know an old one). The file names alone would
 * answer it, but only by a directory scan per removal. So the store keeps,
 * per inode that has chunk files here, the highest chunk index it ever
 * created (an upper bound: indices below it may be holes), rebuilt at open
 * by one scan of the chunk directory and kept current by the fd cache
 * (a write that creates a file notes it; a removal cuts it).
 *
 * Cost: one hash lookup when a write opens a chunk fd (not per write: fds
 * are cached), one small allocation per inode with chunks here, ~32 bytes
 * of memory per such inode. A removal on a server that holds nothing of
 * the inode is a lookup and no syscall.
 *
 * The same file keeps the bounded set of inodes known to be deleted, whose
 * late writes are refused (chunk_gone_*, below).
 *
 * Listing (for fsck) pages through the inodes in ascending order from a
 * cursor; each page is one pass over the table (fsck is rare).
 */
#include "store/chunk_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct chunk_ient {
    uint64_t ino;
    uint64_t max_index;
    struct chunk_ient *next;
};

static size_t chunk_index_slot(const struct chunk_index *ci, uint64_t ino)
{
    uint64_t x = ino;

    /* splitmix64 finalizer: inode numbers of one owner are consecutive. */
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return (size_t)x & (ci->nbuckets - 1);
}

int chunk_index_init(struct chunk_index *ci)
{
    memset(ci, 0, sizeof(*ci));
    ci->nbuckets = 1024;
    ci->buckets = calloc(ci->nbuckets, sizeof(*ci->buckets));
    return ci->buckets == NULL ? -ENOMEM : 0;
}

void chunk_index_cleanup(struct chunk_index *ci)
{
    struct chunk_ient *e, *next;
    size_t i;

    for (i = 0; i < ci->nbuckets; i++) {
        for (e = ci->buckets[i]; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(ci->buckets);
    memset(ci, 0, sizeof(*ci));
}

static struct chunk_ient **chunk_index_find(struct chunk_index *ci, uint64_t ino)
{
    struct chunk_ient **pp = &ci->buckets[chunk_index_slot(ci, ino)];

    while (*pp != NULL && (*pp)->ino != ino)
        pp = &(*pp)->next;
    return pp;
}

/* Double the table when it averages more than one entry per bucket. A
 * failed grow is harmless: the table just stays denser. */
static void chunk_index_grow(struct chunk_index *ci)
{
    struct chunk_ient **old = ci->buckets, *e, *next;
    size_t oldn = ci->nbuckets, i, slot;

    ci->buckets = calloc(2 * oldn, sizeof(*ci->buckets));
    if (ci->buckets == NULL) {
        ci->buckets = old;
        return;
    }
    ci->nbuckets = 2 * oldn;
    for (i = 0; i < oldn; i++) {
        for (e = old[i]; e != NULL; e = next) {
            next = e->next;
            slot = chunk_index_slot(ci, e->ino);
            e->next = ci->buckets[slot];
            ci->buckets[slot] = e;
        }
    }
    free(old);
}

int chunk_index_note(struct chunk_index *ci, uint64_t ino, uint64_t index)
{
    struct chunk_ient **pp = chunk_index_find(ci, ino), *e = *pp;

    if (e != NULL) {
        if (index > e->max_index)
            e->max_index = index;
        return 0;
    }
    e = malloc(sizeof(*e));
    if (e == NULL)
        return -ENOMEM;
    e->ino = ino;
    e->max_index = index;
    e->next = NULL;
    *pp = e;
    if (++ci->count > ci->nbuckets)
        chunk_index_grow(ci);
    return 0;
}

bool chunk_index_max(struct chunk_index *ci, uint64_t ino, uint64_t *max_p)
{
    struct chunk_ient *e = *chunk_index_find(ci, ino);

    if (e == NULL)
        return false;
    *max_p = e->max_index;
    return true;
}

void chunk_index_cut(struct chunk_index *ci, uint64_t ino, uint64_t first, bool keep_first)
{
    struct chunk_ient **pp = chunk_index_find(ci, ino), *e = *pp;

    if (e == NULL || e->max_index < first)
        return;
    if (keep_first) {
        e->max_index = first;
        return;
    }
    if (first > 0) {
        e->max_index = first - 1;
        return;
    }
    *pp = e->next;
    free(e);
    ci->count--;
}

size_t chunk_index_list(struct chunk_index *ci, uint64_t after, uint64_t *inos, size_t max)
{
    struct chunk_ient *e;
    size_t n = 0, i, j;

    if (max == 0)
        return 0;
    /* Keep the `max` smallest inos above `after`, sorted (insertion). */
    for (i = 0; i < ci->nbuckets; i++) {
        for (e = ci->buckets[i]; e != NULL; e = e->next) {
            if (e->ino <= after || (n == max && e->ino >= inos[n - 1]))
                continue;
            j = n < max ? n++ : n - 1;
            while (j > 0 && inos[j - 1] > e->ino) {
                inos[j] = inos[j - 1];
                j--;
            }
            inos[j] = e->ino;
        }
    }
    return n;
}

/* Parse "<16 hex>.<decimal>" (a chunk file name); false for anything else. */
static bool chunk_index_parse(const char *name, uint64_t *ino_p, uint64_t *index_p)
{
    uint64_t ino = 0, index = 0;
    int i;

    for (i = 0; i < 16; i++) {
        char ch = name[i];
        unsigned d;

        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else
            return false;
        ino = (ino << 4) | d;
    }
    if (name[16] != '.' || name[17] == '\0')
        return false;
    for (i = 17; name[i] != '\0'; i++) {
        if (name[i] < '0' || name[i] > '9' || index > (UINT64_MAX - 9) / 10)
            return false;
        index = index * 10 + (uint64_t)(name[i] - '0');
    }
    *ino_p = ino;
    *index_p = index;
    return true;
}

int chunk_index_scan(struct chunk_index *ci, int dirfd)
{
    char sub[3];
    struct dirent *de;
    uint64_t ino, index;
    unsigned h;
    DIR *dir;
    int fd, rc = 0;

    for (h = 0; h < 256 && rc == 0; h++) {
        snprintf(sub, sizeof(sub), "%02x", h);
        fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT)
                continue;
            return -errno;
        }
        dir = fdopendir(fd);
        if (dir == NULL) {
            rc = -errno;
            close(fd);
            return rc;
        }
        while ((de = readdir(dir)) != NULL) {
            if (!chunk_index_parse(de->d_name, &ino, &index))
                continue; /* ".", "..", temp files of nobody */
            rc = chunk_index_note(ci, ino, index);
            if (rc != 0)
                break;
        }
        closedir(dir);
    }
    return rc;
}

size_t chunk_index_count(const struct chunk_index *ci)
{
    return ci->count;
}

/* --- inodes that are gone --------------------------------------------- */

/*
 * Why: a writer killed mid-transfer leaves requests in flight (in socket
 * buffers, in UCX queues) that can reach this server *after* the file was
 * removed, and would create chunk files nobody will ever free. Inode numbers
 * are never reused, so once an inode is known to be deleted its writes can
 * be refused for good. The set is bounded (oldest forgotten first): stray
 * writes arrive within moments of the removal, and fsck catches the rest.
 */
struct chunk_gone_ent {
    uint64_t ino;
    struct chunk_gone_ent *next;  /* hash chain */
    struct chunk_gone_ent *older; /* FIFO, newest first... oldest last */
    struct chunk_gone_ent *newer;
};

#define CHUNK_GONE_MAX     65536u
#define CHUNK_GONE_BUCKETS 16384u

static size_t chunk_gone_slot(uint64_t ino)
{
    uint64_t x = ino * UINT64_C(0x9e3779b97f4a7c15);

    return (size_t)(x >> 50) & (CHUNK_GONE_BUCKETS - 1);
}

static struct chunk_gone_ent **chunk_gone_find(struct chunk_gone *g, uint64_t ino)
{
    struct chunk_gone_ent **pp = &g->buckets[chunk_gone_slot(ino)];

    while (*pp != NULL && (*pp)->ino != ino)
        pp = &(*pp)->next;
    return pp;
}

void chunk_gone_cleanup(struct chunk_gone *g)
{
    struct chunk_gone_ent *e, *older;

    for (e = g->newest; e != NULL; e = older) {
        older = e->older;
        free(e);
    }
    free(g->buckets);
    memset(g, 0, sizeof(*g));
}

bool chunk_gone_has(struct chunk_gone *g, uint64_t ino)
{
    return g->buckets != NULL && *chunk_gone_find(g, ino) != NULL;
}

int chunk_gone_add(struct chunk_gone *g, uint64_t ino)
{
    struct chunk_gone_ent *e;

    if (g->buckets == NULL) {
        /* Made on first use: servers that never see a removal pay nothing. */
        g->buckets = calloc(CHUNK_GONE_BUCKETS, sizeof(*g->buckets));
        if (g->buckets == NULL)
            return -ENOMEM;
    }
    if (*chunk_gone_find(g, ino) != NULL)
        return 0;
    if (g->count >= CHUNK_GONE_MAX) {
        /* Recycle the oldest entry. */
        e = g->oldest;
        *chunk_gone_find(g, e->ino) = e->next;
        g->oldest = e->newer;
        g->oldest->older = NULL;
        g->count--;
    } else {
        e = malloc(sizeof(*e));
        if (e == NULL)
            return -ENOMEM;
    }
    e->ino = ino;
    e->next = g->buckets[chunk_gone_slot(ino)];
    g->buckets[chunk_gone_slot(ino)] = e;
    e->newer = NULL;
    e->older = g->newest;
    if (g->newest != NULL)
        g->newest->newer = e;
    g->newest = e;
    if (g->oldest == NULL)
        g->oldest = e;
    g->count++;
    return 0;
}
