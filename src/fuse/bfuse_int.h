/*
 * bfuse_int.h - internals of the BenchFS FUSE daemon (docs/fuse.md).
 *
 * Files, one concept each:
 *   bfuse_node.c     the nodeid table: FUSE node ids <-> BenchFS paths,
 *                    lookup counts, rename of subtrees, forget
 *   bfuse_entry.c    name and attribute operations: lookup, getattr,
 *                    setattr, mkdir, unlink, rmdir, rename, statfs, forget
 *   bfuse_file.c     open files: create, open, read, write, flush, fsync,
 *                    release (a BenchFS descriptor per FUSE file handle)
 *   bfuse_dir.c      directory handles: opendir, readdir, readdirplus
 *   bfuse_session.c  options, mount, daemon, signals, the threaded loop
 *
 * BenchFS's API is path based; the kernel speaks node ids. Each node the
 * kernel knows (lookup count > 0) has an entry with its current path, so
 * every operation turns (node id, name) into a path and calls benchfs_*.
 * The table is guarded by one mutex held only for table updates, never
 * across a BenchFS call; paths are copied out first.
 */
#ifndef BENCHFS_FUSE_BFUSE_INT_H
#define BENCHFS_FUSE_BFUSE_INT_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#define BFUSE_PATH_MAX 4096
#define BFUSE_IO_MAX   (1u << 20) /* max_write, and the largest buffer */
/* max_read: a READ reply is spliced through a pipe of libfuse's that holds
 * the reply plus two pages, and a pipe cannot grow past pipe-max-size (1 MiB
 * by default) without CAP_SYS_RESOURCE; past that libfuse copies the reply
 * through fresh memory (docs/fuse.md "Reads"). */
#define BFUSE_READ_MAX     (BFUSE_IO_MAX - (16u << 10))
#define BFUSE_READ_MAX_OPT "max_read=1032192"
_Static_assert(BFUSE_READ_MAX == 1032192, "BFUSE_READ_MAX_OPT");
#define BFUSE_HIDDEN ".benchfs_hidden_"

/* Per-mount settings (from -o; docs/fuse.md "Options"). */
struct bfuse_settings {
    double attr_timeout;      /* attributes, files and directories */
    double entry_timeout;     /* names of files (0: every open revalidates) */
    double dir_entry_timeout; /* names of directories */
    bool hard_remove;         /* unlink open files at once (no hiding) */
    unsigned max_threads;
    unsigned readahead_kb; /* the mount's read_ahead_kb, 0: kernel default */
    bool sync_write;       /* no write-behind: a write(2) waits for BenchFS */
    bool splice_read;      /* READ replies spliced from the chunk files */
};

/* A WRITE replied to but not yet in BenchFS (bfuse_file.c "Write-behind"). */
struct bfuse_pending {
    uint64_t ticket;
    uint64_t nodeid;
    uint64_t ino;
    struct bfuse_pending *next;
};

/* The daemon's writes in flight after their reply. */
struct bfuse_wb {
    pthread_mutex_t lock;
    pthread_cond_t done;
    uint64_t next_ticket;
    struct bfuse_pending *head;
    unsigned npending; /* also read without the lock (atomic) */
};

/* One node the kernel knows. */
struct bfuse_node {
    uint64_t nodeid;
    char *path; /* current BenchFS path (malloc'd) */
    size_t path_len;
    uint64_t nlookup; /* the kernel's references */
    unsigned nopen;   /* open file handles on this node */
    mode_t type;      /* S_IFREG or S_IFDIR */
    bool linked;      /* still reachable under `path` in the path index */
    bool hidden;      /* renamed to a hidden name while open (unlinked) */
    /* Page-cache validity: what the file looked like at its last open. */
    bool cache_valid;
    uint64_t cache_ino;
    off_t cache_size;
    struct timespec cache_mtime;
    struct bfuse_node *id_next; /* hash chains */
    struct bfuse_node *path_next;
};

/* The daemon's state, the session's userdata. */
struct bfuse {
    struct bfuse_settings set;
    struct fuse_session *se;
    pthread_mutex_t lock; /* the node table */
    struct bfuse_node **by_id;
    struct bfuse_node **by_path;
    size_t nbuckets;
    size_t nnodes;
    uint64_t next_id;
    uint64_t hidden_seq;
    uint32_t mount_id; /* random, in this mount's hidden names */
    int ready_fd;      /* background: tell the parent at FUSE_INIT, then -1 */
    uid_t uid;         /* the daemon's, for attributes the API does not report */
    gid_t gid;
    struct bfuse_wb wb;
};

/* What fi->fh points to: an open file (bfuse_file.c) or a directory
 * handle (bfuse_dir.c); both begin with their kind. */
enum bfuse_fh_kind { BFUSE_FH_FILE = 1, BFUSE_FH_DIR = 2 };

struct bfuse_file {
    enum bfuse_fh_kind kind;
    int fd;          /* BenchFS descriptor */
    uint64_t nodeid; /* for open-file accounting and the page cache */
    uint64_t ino;    /* BenchFS inode number at open (write order) */
    int dirty;       /* written since the last flush/fsync (atomic) */
    int werr;        /* first error of a write-behind, 0; sticky (atomic) */
};

/* The BenchFS descriptor of an open file handle, or -1 (none, or a
 * directory handle). */
static inline int bfuse_fh_fd(const struct fuse_file_info *fi)
{
    const struct bfuse_file *f;

    if (!fi || fi->fh == 0)
        return -1;
    f = (const struct bfuse_file *)(uintptr_t)fi->fh;
    return f->kind == BFUSE_FH_FILE ? f->fd : -1;
}

/* A path copied out of the table, to use without the lock. */
struct bfuse_path {
    char p[BFUSE_PATH_MAX];
    size_t len;
};

/* ---- bfuse_node.c ---- */

/* Create the table with the root (node id 1, path "/"). 0 or -ENOMEM. */
int bfuse_nodes_init(struct bfuse *fs);
void bfuse_nodes_destroy(struct bfuse *fs);

/* Path of `nodeid` into out. 0, or -ESTALE for an unknown node. */
int bfuse_node_path(struct bfuse *fs, uint64_t nodeid, struct bfuse_path *out);

/* Path of the child `name` of `parent` into out. 0, -ESTALE, or
 * -ENAMETOOLONG. */
int bfuse_node_child_path(struct bfuse *fs, uint64_t parent, const char *name,
                          struct bfuse_path *out);

/*
 * The kernel is about to learn `path` with attributes st: find its node (a
 * node whose file type differs is replaced: the name now holds another
 * file) or create one, and count one lookup. Returns the node id, or 0 on
 * ENOMEM.
 */
uint64_t bfuse_node_ref(struct bfuse *fs, const char *path, size_t len, const struct stat *st);

/* Drop n lookups of nodeid; the node is freed when none remain and no file
 * is open on it. */
void bfuse_node_forget(struct bfuse *fs, uint64_t nodeid, uint64_t n);

/* `path` was removed: its node (if any) leaves the path index. */
void bfuse_node_unlinked(struct bfuse *fs, const char *path, size_t len);

/* `from` was renamed to `to`: the node at `to` (if any) leaves the index,
 * the node at `from` and every node below it take the new prefix. */
void bfuse_node_renamed(struct bfuse *fs, const char *from, size_t flen, const char *to,
                        size_t tlen);

/* Open-file accounting (see bfuse_file.c). bfuse_node_open_begin counts an
 * open handle; bfuse_node_open_end uncounts it and, when it was the last of
 * a hidden node, copies the hidden path into out and returns 1 (the caller
 * removes it), else 0. */
void bfuse_node_open_begin(struct bfuse *fs, uint64_t nodeid);
int bfuse_node_open_end(struct bfuse *fs, uint64_t nodeid, struct bfuse_path *out);

/*
 * Unlinking `path`: when its node has open handles (and hard_remove is
 * off), choose a hidden name in the same directory, into hidden, and
 * return 1; the caller renames to it and calls bfuse_node_hide_done. Else 0.
 */
int bfuse_node_hide_prepare(struct bfuse *fs, const char *path, size_t len,
                            struct bfuse_path *hidden);
/* Returns 1 when no handle of the file is open any more (its last release
 * came meanwhile): the caller removes the hidden name itself. */
int bfuse_node_hide_done(struct bfuse *fs, const char *path, size_t len,
                         const struct bfuse_path *hidden);

/* Decide the page-cache policy of an open of nodeid whose file is now st:
 * returns true (keep the cache) when the file is unchanged since the last
 * open; records st for the next one. */
bool bfuse_node_cache_check(struct bfuse *fs, uint64_t nodeid, const struct stat *st);

/* This mount wrote the file: its cached pages are no reference any more
 * for a later open. */
void bfuse_node_cache_drop(struct bfuse *fs, uint64_t nodeid);

/* ---- bfuse_entry.c / bfuse_file.c / bfuse_dir.c ---- */

/*
 * Wait until every WRITE this daemon replied to before the call has reached
 * BenchFS. Each operation that reads or changes files calls it first
 * (bfuse_file.c "Write-behind").
 */
void bfuse_wb_wait(struct bfuse *fs);

/* Fill `ops` with every operation the daemon implements. */
void bfuse_ops_fill(struct fuse_lowlevel_ops *ops);

void bfuse_entry_ops(struct fuse_lowlevel_ops *ops);
void bfuse_file_ops(struct fuse_lowlevel_ops *ops);
void bfuse_dir_ops(struct fuse_lowlevel_ops *ops);

/* The daemon of a request. */
static inline struct bfuse *bfuse_of(fuse_req_t req)
{
    return (struct bfuse *)fuse_req_userdata(req);
}

/* errno of the last failed benchfs_* call, as a positive value for
 * fuse_reply_err (never 0). */
int bfuse_errno(void);

/*
 * Reply to a request that makes the kernel learn `path` (lookup, mkdir,
 * create without a file): count the lookup, fill e with timeouts by file
 * type, reply. When the reply cannot be delivered the lookup is undone.
 */
void bfuse_reply_entry(fuse_req_t req, const char *path, size_t len, const struct stat *st);

/* The entry (node id, attributes, timeouts) for `path`; counts a lookup.
 * 0 or -ENOMEM. */
int bfuse_entry_make(struct bfuse *fs, const char *path, size_t len, const struct stat *st,
                     struct fuse_entry_param *e);

#endif
