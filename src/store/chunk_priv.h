/*
 * chunk_priv.h - internals of the chunk store (chunk.h) shared by chunk.c
 * (set-up, buffers, accessors), chunk_ring.c (the I/O engine: operations
 * from submission to callback), chunk_fd.c (chunk files: names, the fd
 * cache, removal, and the record of files that still need a sync) and
 * chunk_index.c (which chunk files exist, and deleted inodes). Not for
 * other layers.
 */
#ifndef BENCHFS_STORE_CHUNK_PRIV_H
#define BENCHFS_STORE_CHUNK_PRIV_H

#include "common/list.h"
#include "common/ring.h"
#include "store/chunk.h"

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Flags of a cached fd; part of the cache key. */
#define CHUNK_FD_WRITE  0x1u /* O_RDWR | O_CREAT, else O_RDONLY */
#define CHUNK_FD_DIRECT 0x2u /* O_DIRECT */

#define CHUNK_NAME_MAX RING_CHUNK_NAME_MAX

/*
 * One open chunk file. Cached entries are in the hash table and on the LRU
 * list; an entry evicted or invalidated while I/O still holds references is
 * an orphan (out of the table and the LRU) and is closed when the last
 * reference goes. Every entry, orphans included, is on its inode's chain.
 */
struct chunk_fd {
    uint64_t ino, index;
    int fd;
    unsigned flags;         /* CHUNK_FD_* */
    unsigned refs;          /* operations using fd */
    bool cached;            /* in the table and on the LRU; else an orphan */
    bool dirty;             /* written since the last fdatasync was issued */
    bool removed;           /* file unlinked: its data needs no sync */
    struct chunk_fd *hnext; /* hash chain */
    struct list_node link;  /* LRU, front = most recent (cached only) */
    struct list_node ilink; /* chain of entries hashed by ino */
};

/* A chunk file that was written and closed (evicted) without a sync. */
struct chunk_unsynced {
    uint64_t ino, index;
    struct chunk_unsynced *next;
};

/* Inodes with chunk files here and the highest index of each (chunk_index.c). */
struct chunk_ient;
struct chunk_index {
    struct chunk_ient **buckets;
    size_t nbuckets, count;
};

/* Inodes known to be deleted (bounded, FIFO): their writes are refused. */
struct chunk_gone_ent;
struct chunk_gone {
    struct chunk_gone_ent **buckets; /* NULL until the first add */
    struct chunk_gone_ent *newest, *oldest;
    size_t count;
};

struct chunk_fdcache {
    int dirfd;              /* the store's directory */
    struct chunk_index idx; /* every chunk file of the directory, by inode */
    struct chunk_gone gone; /* deleted inodes: no new chunk files for them */
    unsigned cap;           /* cached entries kept */
    unsigned ncached, norphans;
    size_t nbuckets;            /* power of two, for both tables */
    struct chunk_fd **buckets;  /* by (ino, index, flags) */
    struct list_node *ibuckets; /* by ino */
    struct list_node lru;

    /* Unsynced set, hashed by ino (so one fsync finds its records). */
    struct chunk_unsynced **ubuckets;
    size_t nubuckets, nunsynced, unsynced_max;
};

/* What one chunk_fsync has to sync: an open entry (ref held), or a file
 * that is not open (fde NULL), opened when its turn comes. */
struct chunk_sync_item {
    struct chunk_fd *fde;
    uint64_t index;
};

/* --- the chunk index (chunk_index.c) ---------------------------------- */

/* Empty index / free everything. init: 0 or -ENOMEM. */
int chunk_index_init(struct chunk_index *ci);
void chunk_index_cleanup(struct chunk_index *ci);
/* Fill the index from the chunk files under dirfd (<hh>/<ino>.<index>);
 * names of any other shape are ignored. 0 or -errno. */
int chunk_index_scan(struct chunk_index *ci, int dirfd);
/* A chunk file (ino, index) exists now: 0 or -ENOMEM. */
int chunk_index_note(struct chunk_index *ci, uint64_t ino, uint64_t index);
/* Highest chunk index of ino that may exist here; false when none does. */
bool chunk_index_max(struct chunk_index *ci, uint64_t ino, uint64_t *max_p);
/* Every chunk of ino from `first` on is gone (chunk `first` itself stays
 * when keep_first): lower the bound, or forget ino. */
void chunk_index_cut(struct chunk_index *ci, uint64_t ino, uint64_t first, bool keep_first);
/* Up to max inode numbers greater than `after`, ascending, into inos.
 * Returns how many. */
size_t chunk_index_list(struct chunk_index *ci, uint64_t after, uint64_t *inos, size_t max);
/* Inodes in the index. */
size_t chunk_index_count(const struct chunk_index *ci);

/* Remember that ino is deleted (0 or -ENOMEM); is it?; free the set. */
int chunk_gone_add(struct chunk_gone *g, uint64_t ino);
bool chunk_gone_has(struct chunk_gone *g, uint64_t ino);
void chunk_gone_cleanup(struct chunk_gone *g);

/* Set up / tear down. init also builds the chunk index from dirfd's files.
 * cleanup closes every fd (no references may remain). */
int chunk_fdc_init(struct chunk_fdcache *c, int dirfd, unsigned cap);
void chunk_fdc_cleanup(struct chunk_fdcache *c);

/*
 * An fd for chunk (ino, index) with a reference taken. flags: CHUNK_FD_WRITE
 * opens (creating) for writing; without it an existing write fd of the same
 * O_DIRECT kind is reused, else the file is opened read-only, and a missing
 * file is -ENOENT. Other open(2) errors as -errno.
 */
int chunk_fdc_get(struct chunk_fdcache *c, uint64_t ino, uint64_t index, unsigned flags,
                  struct chunk_fd **fde_p);
void chunk_fdc_put(struct chunk_fdcache *c, struct chunk_fd *fde);

/*
 * Everything of ino that may hold unsynced data: dirty open entries (a
 * reference taken, dirty cleared) and unsynced records (taken out of the
 * set). *items_p is malloc'ed (NULL when *n_p is 0). 0 or -ENOMEM.
 */
int chunk_fdc_sync_list(struct chunk_fdcache *c, uint64_t ino, struct chunk_sync_item **items_p,
                        size_t *n_p);
/* A sync of this item failed: make the next chunk_fsync try it again. */
void chunk_fdc_sync_failed(struct chunk_fdcache *c, uint64_t ino, const struct chunk_sync_item *it);

/* Open chunk (ino, index) read-only outside the cache: fd or -errno. */
int chunk_fdc_open_private(struct chunk_fdcache *c, uint64_t ino, uint64_t index);

/* Unlink chunks first..last (truncate `first` to keep_bytes when > 0) and
 * forget their fds and records. 0 or the first error. A write fd for an
 * inode in c->gone is refused with -ESTALE (chunk_fdc_get). */
int chunk_fdc_remove(struct chunk_fdcache *c, uint64_t ino, uint64_t first, uint64_t last,
                     uint64_t keep_bytes);

/* Inode numbers with chunks here (chunk_index_list). */
size_t chunk_fdc_list(struct chunk_fdcache *c, uint64_t after, uint64_t *inos, size_t max);
/* Chunk files of ino here and the bytes they occupy (st_blocks). 0 or -errno. */
int chunk_fdc_usage(struct chunk_fdcache *c, uint64_t ino, uint64_t *chunks_p, uint64_t *bytes_p);

/* Relative path "hh/<ino>.<index>" of a chunk; hh from a hash of ino. */

/* Open fds: cached entries plus orphans. */
unsigned chunk_fdc_open_count(const struct chunk_fdcache *c);

/* --- the store and its operations (chunk.c, chunk_ring.c) -------------- */

#define CHUNK_DIRECT_ALIGN  4096u
#define CHUNK_SYNC_PARALLEL 8u
#define CHUNK_REAP_BATCH    32u

/* What an operation of the engine is (chunk_ring.c). */
enum chunk_op_kind {
    CHUNK_OP_WRITE,
    CHUNK_OP_READ,
    CHUNK_OP_NOP,       /* completes with op->result (holes, empty fsync) */
    CHUNK_OP_FSYNC,     /* a request: owns the items, no SQE of its own */
    CHUNK_OP_SYNC_PART, /* one fdatasync of an FSYNC request */
};

/* One accepted request (or part of one), from the store's fixed pool. */
struct chunk_op {
    enum chunk_op_kind kind;
    int result;
    chunk_cb_t cb;
    void *arg;
    uint64_t ino, index;
    struct chunk_fd *fde; /* reference held while the op lives */

    /* READ / WRITE */
    char *buf;
    size_t len, done;
    uint64_t offset;
    int buf_index; /* registered buffer holding buf[0..len), or -1 */

    /* FSYNC */
    struct chunk_sync_item *items;
    size_t nitems, next_item;
    unsigned parts; /* SYNC_PART ops in flight */

    /* SYNC_PART */
    struct chunk_op *group;
    size_t item;
    int own_fd; /* fd opened just for this sync, or -1 (then fde) */

    struct list_node wait; /* on waitq while no SQE is free */
};

/* The store: one per server, owned by its loop thread. */
struct chunk_store {
    struct io_uring ring;
    int efd;
    int dirfd;
    struct chunk_opts opts;
    bool direct_ok;    /* the file system takes O_DIRECT */
    bool mem_fs;       /* tmpfs/ramfs: I/O is a memcpy, done inline */
    bool lost;         /* chunks may be missing that existed: reads of them -ENODATA */
    bool nowait_reads; /* preadv2(RWF_NOWAIT) works here */

    struct pool *bufs;
    size_t buf_stride;
    bool bufs_registered;
    char bufs_note[160]; /* why buffers are not registered */

    struct pool *ops;
    struct chunk_fdcache fdc;
    struct list_node waitq;
    unsigned nwait;
    struct list_node done; /* ops completed without the ring (chunk_op_nop) */
    unsigned ndone;
    unsigned inflight; /* accepted requests whose callback has not run */
    unsigned in_ring;  /* SQEs prepared whose CQE has not been reaped */
    bool continued;    /* reap queued continuations */
    struct chunk_stats stats;
    struct chunk_small_ops small; /* max 0: no small chunks */
};

/* Registered buffer that holds all of buf[0..len), or -1. Any pointer into
 * a store buffer works, not only its start (e.g. past a header). */
int chunk_buf_index(const struct chunk_store *cs, const void *buf, size_t len);
/* Give waiting ops the SQEs that are free now (chunk_ring.c). */
void chunk_waitq_flush(struct chunk_store *cs);
/* Run the callbacks of every completion in the ring; returns how many. */
unsigned chunk_cqes_process(struct chunk_store *cs);
/* Run every outstanding op to its callback (waiting for the ring). */
void chunk_store_drain(struct chunk_store *cs);

/* --- small chunks (chunk_small.c) -------------------------------------- */

/* A read or write of chunk 0 of ino: 1 when the small chunk served it
 * (*result_p = bytes), 0 when the chunk file path takes it, -errno when it
 * fails (a small chunk moved into a file first returns 0). */
int chunk_small_rw(struct chunk_store *cs, bool write, uint64_t ino, uint64_t offset, void *buf,
                   size_t len, int *result_p);
/* chunk_remove's part for a small chunk (first 0: cut to keep_bytes). */
int chunk_small_remove(struct chunk_store *cs, uint64_t ino, uint64_t first, uint64_t keep_bytes);
/* Merge the inodes with small chunks into a listing of chunk files:
 * inos[0..n) ascending, up to max; returns the new count. */
size_t chunk_small_list(struct chunk_store *cs, uint64_t after, uint64_t *inos, size_t n,
                        size_t max);
/* Add ino's small chunk to a usage count. 0 or -errno. */
int chunk_small_usage(struct chunk_store *cs, uint64_t ino, uint64_t *chunks_p, uint64_t *bytes_p);

#endif
