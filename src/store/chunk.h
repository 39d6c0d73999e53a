/*
 * chunk.h - the chunk store of one server, on io_uring (docs/design.md#storage).
 *
 * Chunk `index` of inode `ino` is the file <dir>/<hh>/<ino as 16 hex>.<index>
 * (index in decimal; hh = low byte of ring_hash() of ino as 8 little-endian
 * bytes, in 2 hex digits), named from numbers only. I/O goes through
 * one io_uring with registered buffers: callers take a buffer from the store
 * (chunk_buf_get), fill or receive into it, and submit reads and writes that
 * complete through callbacks run from chunk_store_reap(). Short reads and
 * writes are continued internally; a read stops at the end of the chunk file
 * (a missing file reads as 0 bytes: a hole). Errors (-ENOSPC, -EIO, ...) are
 * returned as the result, never turned into zeros.
 *
 * Not thread-safe: one loop thread owns the store. open(2)/unlink(2) of chunk
 * files are done synchronously by the loop (fast on local storage); data I/O
 * and fsync are asynchronous.
 *
 * Back-pressure: at most 2 x queue_size requests (the CQ size) are accepted
 * at a time; beyond that chunk_write/read/fsync return -EAGAIN (retry on a
 * later pass). A full submission queue is handled inside: such requests
 * wait in an internal FIFO and get SQEs at the next submit or reap.
 *
 * Callbacks are never called from inside chunk_write/read/fsync, even for
 * results known at once (a hole, nothing to sync, a copy done inline):
 * those run from the next chunk_store_reap, without the ring. A callback may queue new requests; it
 * must not call chunk_store_reap or chunk_store_close.
 */
#ifndef BENCHFS_STORE_CHUNK_H
#define BENCHFS_STORE_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>

struct chunk_store;

struct chunk_opts {
    unsigned queue_size;   /* io_uring SQ entries */
    size_t buffer_size;    /* bytes per registered buffer */
    unsigned buffer_count; /* registered buffers */
    unsigned submit_depth; /* queued SQEs that trigger a submit right away */
    unsigned fd_cache;     /* open chunk fds kept (LRU) */
    bool o_direct;         /* O_DIRECT for 4 KiB-aligned I/O */
};

/* Completion: result = bytes transferred (reads: may be short at chunk EOF)
 * or -errno. Called exactly once per successful submission, from reap. */
typedef void (*chunk_cb_t)(void *arg, int result);

/*
 * Create the store in `dir` (e.g. <data_dir>/chunks; created if missing),
 * set up the ring (queue_size entries, an eventfd for the loop) and register
 * buffer_count buffers of buffer_size bytes (page aligned). On error returns
 * -errno and a message in err.
 */
int chunk_store_open(const char *dir, const struct chunk_opts *opts, struct chunk_store **cs_p,
                     char *err, size_t errlen);

/* Wait for in-flight I/O (their callbacks run from inside this call), close
 * every fd, free buffers, tear down the ring. */
void chunk_store_close(struct chunk_store *cs);

/* eventfd that becomes readable when completions are waiting. */
int chunk_store_eventfd(const struct chunk_store *cs);

/* Reset the eventfd after a poll reported it readable (then reap). */
void chunk_store_clear_eventfd(struct chunk_store *cs);

/* Take / return a registered buffer (NULL when all are in use). Buffers are
 * 4 KiB aligned, so whole-page I/O in them can use O_DIRECT. */
void *chunk_buf_get(struct chunk_store *cs);
void chunk_buf_put(struct chunk_store *cs, void *buf);
size_t chunk_buf_size(const struct chunk_store *cs);

/* Whether the buffers are registered with the ring. Registration can fail
 * (RLIMIT_MEMLOCK without CAP_IPC_LOCK, too many buffers); the store then
 * works with plain reads and writes and *why_p says why (for a log line). */
bool chunk_store_registered(const struct chunk_store *cs, const char **why_p);

/*
 * Queue a write of len bytes from buf (a chunk_buf_get buffer or any memory)
 * at byte `offset` of the chunk, creating the chunk file. Returns 0 (cb will
 * be called with len or -errno) or -errno (cb never called): -EAGAIN (too
 * many requests in flight), -EINVAL (len > INT_MAX, NULL buf or cb),
 * -EFBIG, or the error of opening the chunk file. buf must stay valid until
 * the callback. len 0 completes with 0 and creates nothing.
 */
int chunk_write(struct chunk_store *cs, uint64_t ino, uint64_t index, uint64_t offset, void *buf,
                size_t len, chunk_cb_t cb, void *arg);

/* Queue a read; result = bytes present (0 for a missing chunk, short at the
 * chunk's end of file). Errors as chunk_write. */
int chunk_read(struct chunk_store *cs, uint64_t ino, uint64_t index, uint64_t offset, void *buf,
               size_t len, chunk_cb_t cb, void *arg);

/*
 * Queue an fdatasync of every chunk file of ino written since its last sync
 * (result 0 or the first -errno). That includes files whose fd the cache
 * has closed since they were written: the store remembers them. Nothing to
 * sync completes with 0 (from reap, like everything else).
 */
int chunk_fsync(struct chunk_store *cs, uint64_t ino, chunk_cb_t cb, void *arg);

/*
 * Synchronously remove chunks first..last of ino that exist here; chunk
 * `first` is truncated to keep_bytes instead when keep_bytes > 0. Missing
 * chunks are fine. Cached fds are dropped (deferred while I/O is in flight).
 * Truncation never extends a shorter chunk. Returns 0, -EINVAL (first >
 * last) or the first unlink/truncate error (the rest is still attempted).
 * Cost: one unlink(2) per index, or one scan of the inode's subdirectory
 * for ranges of 4096 indices or more.
 */
int chunk_remove(struct chunk_store *cs, uint64_t ino, uint64_t first, uint64_t last,
                 uint64_t keep_bytes);

/*
 * Remove every chunk of ino with index >= first that exists here (chunk
 * `first` cut to keep_bytes instead when keep_bytes > 0), whatever size the
 * inode had: the store knows its chunk files (an in-memory index built at
 * open from the directory). Same result and errors as chunk_remove.
 */
static inline int chunk_remove_from(struct chunk_store *cs, uint64_t ino, uint64_t first,
                                    uint64_t keep_bytes)
{
    return chunk_remove(cs, ino, first, UINT64_MAX, keep_bytes);
}

/*
 * ino is deleted for good (inode numbers are never reused): remove every
 * chunk of it here and refuse, with -ESTALE, any later write that would
 * create one (a killed writer's requests may still be on their way). The
 * refusal is remembered for the last 65536 deleted inodes. 0 or -errno.
 */
int chunk_remove_inode(struct chunk_store *cs, uint64_t ino);

/* Up to max inode numbers greater than `after` that have chunk files here,
 * ascending, into inos; returns how many (fewer than max: the last page). */
size_t chunk_store_list(struct chunk_store *cs, uint64_t after, uint64_t *inos, size_t max);

/* Chunk files of ino here and the bytes they occupy on disk. 0 or -errno. */
int chunk_store_usage(struct chunk_store *cs, uint64_t ino, uint64_t *chunks_p, uint64_t *bytes_p);

/*
 * Declare that chunks may be missing here that once existed (this data
 * directory replaced one the cluster knew): from now on a read of a missing
 * chunk completes with -ENODATA instead of 0 bytes, so the client, which
 * knows the file size, can tell lost data from a hole.
 */
void chunk_store_set_lost(struct chunk_store *cs, bool lost);

/*
 * Small chunks (docs/architecture.md#small-files): chunk 0 of an inode that
 * has no chunk file here, as long as it holds at most `max` bytes, is kept
 * by `ops` (the server's metadata store) instead of in a file of its own:
 * no file to create, open, sync separately or unlink per small file. A
 * write that takes it past `max` moves it into a chunk file first; a chunk
 * 0 that is a file stays one. Reads, truncation, removal, listing and
 * usage see both kinds alike. Set once, before any I/O (it also drops a
 * small chunk that a crash left beside a chunk 0 file: the file is the
 * newer copy); without it every chunk is a file. max 0 makes no new small
 * chunks, but existing ones are still read, cut and removed, and move into
 * a file at their next write. ops: get = 1 with the bytes (valid until the
 * next put or trunc), 0 when none, or -errno; put writes len bytes at off
 * (zero-filled gap); trunc cuts to len (0 removes); list as
 * chunk_store_list.
 */
struct chunk_small_ops {
    void *ctx;
    size_t max;
    int (*get)(void *ctx, uint64_t ino, const void **data_p, size_t *len_p);
    int (*put)(void *ctx, uint64_t ino, uint64_t off, const void *buf, size_t len);
    int (*trunc)(void *ctx, uint64_t ino, uint64_t len);
    size_t (*list)(void *ctx, uint64_t after, uint64_t *inos, size_t max);
    /* The inode's spread mark (chunk_spread_*): op CHUNK_SPREAD_*; GET
     * returns 1 or 0. Optional (NULL: every inode counts as spread). */
    int (*spread)(void *ctx, uint64_t ino, int op);
};
void chunk_store_set_small(struct chunk_store *cs, const struct chunk_small_ops *ops);

/*
 * Where an inode's chunks are (docs/semantics.md#where-chunks-are): the
 * server holding chunk 0 keeps a mark for an inode whose chunks past
 * chunk 0 may exist (a client sets it before writing any), so that
 * freeing an inode that never had one asks nobody else. mark: -ESTALE
 * for a deleted inode (its writes are refused anyway). known: 1 marked,
 * 0 not (only chunk 0 here), -1 unknown (no marks kept). chunk_remove_inode
 * drops the mark.
 */
#define CHUNK_SPREAD_GET 0
#define CHUNK_SPREAD_SET 1
#define CHUNK_SPREAD_DEL 2
int chunk_spread_mark(struct chunk_store *cs, uint64_t ino);
int chunk_spread_known(struct chunk_store *cs, uint64_t ino);

/* Submit queued SQEs (one io_uring_submit, another if ops were waiting for
 * room). Returns SQEs submitted or -errno; a transient refusal (-EAGAIN,
 * -EBUSY) returns 0 and leaves them queued for the next call. */
int chunk_store_submit(struct chunk_store *cs);

/* Run callbacks of completed I/O without blocking; returns how many. Reads
 * (drains) the eventfd first: one read(2) per call. Continuations of short
 * or retried I/O are submitted before it returns. */
unsigned chunk_store_reap(struct chunk_store *cs);

/* Completions known without I/O (holes, inline copies, small chunks)
 * whose callbacks wait for the next chunk_store_reap: the loop must not
 * sleep while there are any (nothing will wake it for them). */
bool chunk_store_pending(const struct chunk_store *cs);

/* Requests accepted whose callback has not run yet / SQEs queued and not
 * yet submitted (including requests waiting for a free SQE). */
unsigned chunk_store_inflight(const struct chunk_store *cs);
unsigned chunk_store_queued(const struct chunk_store *cs);

/* Counters since open, for metrics and tests. */
struct chunk_stats {
    uint64_t reads, writes; /* requests completed (with any result) */
    uint64_t bytes_read, bytes_written;
    uint64_t syncs;       /* fdatasyncs completed */
    uint64_t continued;   /* resubmissions: short transfers, -EAGAIN */
    uint64_t errors;      /* requests completed with an error */
    uint64_t inline_ops;  /* reads/writes copied by the loop itself (tmpfs, cached reads) */
    uint64_t small_ops;   /* reads/writes of small chunks (chunk_store_set_small) */
    uint64_t small_moves; /* small chunks moved into a file by a write past max */
};
void chunk_store_stats(const struct chunk_store *cs, struct chunk_stats *st_p);

/* statvfs of the store's file system; number of open chunk fds. */
int chunk_store_statfs(struct chunk_store *cs, struct statvfs *st_p);
unsigned chunk_store_open_fds(const struct chunk_store *cs);

#endif
