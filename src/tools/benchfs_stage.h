/*
 * benchfs_stage.h - internals of `benchfs stage-in` / `stage-out` (staging
 * trees between the local or parallel file system and BenchFS).
 *
 *   benchfs_stage.c       options, a pass (start, plan, finish), finishing
 *                         split files and directories, manifest, summary,
 *                         --watch passes
 *   benchfs_stage_plan.c  planning: walk both trees, create the destination
 *                         directories, decide what to copy, publish items
 *   benchfs_stage_fs.c    the two sides behind one small table: the local
 *                         file system (POSIX) and BenchFS (public API)
 *   benchfs_stage_copy.c  the copy of one work item, the worker processes
 *                         and the progress bar
 *
 * A plan is a list of files; each file is one work item, or several byte
 * ranges when it is large ("split"), so that workers share a big file. The
 * plan lives in a shared mapping made before the worker processes fork
 * (each one its own BenchFS client: the library is a per-process
 * singleton); they claim items from counters there while the planner is
 * still adding them, and record each item's result there. Inside a
 * worker, threads keep several small files in flight at once: one takes
 * the large items, the others only small ones, gathered into batches.
 */
#ifndef BENCHFS_TOOLS_BENCHFS_STAGE_H
#define BENCHFS_TOOLS_BENCHFS_STAGE_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tools/benchfs_cli.h"

/* Attributes of one file or directory on either side. */
struct stage_attr {
    bool is_dir;
    bool is_reg;
    uint64_t size;
    mode_t mode; /* permission bits only (07777) */
    int64_t mtime_ns;
};

/* One directory entry of stage_fs.list. */
struct stage_dirent {
    char *name; /* malloc'd */
    bool is_dir;
    bool is_reg;
    bool has_attr; /* size and mode known (BenchFS readdir-plus); mtime never */
    uint64_t size;
    mode_t mode;
};

/* Files one worker thread gathers for one stage_fs.get and .put at most. */
#define STAGE_BATCH_MAX 64

/* One file for stage_fs.put. */
struct stage_put {
    const char *path;
    const void *data;
    size_t len;
    mode_t mode;
    int64_t mtime_ns;
    int result; /* out: 0 or -errno */
};

/* One file for stage_fs.get. */
struct stage_get {
    const char *path;
    void *buf;
    size_t cap;
    ssize_t len;         /* out: bytes read (the whole file), or -1: not read
                            (not smaller than cap, or not a regular file) */
    struct stage_attr a; /* out: its attributes (local side: type and size) */
    int result;          /* out: 0 or -errno */
};

/* One side of a transfer. Every call returns >= 0 or -errno; none prints. */
struct stage_fs {
    const char *name; /* "local" or "benchfs", for messages */
    bool remote;
    int (*open)(const char *path, int flags, mode_t mode); /* a descriptor */
    int (*close)(int fd);
    ssize_t (*pread)(int fd, void *buf, size_t len, uint64_t off);
    ssize_t (*pwrite)(int fd, const void *buf, size_t len, uint64_t off);
    int (*stat)(const char *path, struct stage_attr *a);
    int (*fstat)(int fd, struct stage_attr *a);
    /* 1 when created, 0 when it already was a directory. */
    int (*mkdir)(const char *path, mode_t mode);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    /* Give `path` the mode and mtime of its source (chmod, utimens), once
     * its data is closed: a later publication would stamp a new mtime. */
    int (*set_attr)(const char *path, mode_t mode, int64_t mtime_ns);
    /* The same on a descriptor whose data is all written, before its close
     * (BenchFS publishes the size first, so close stamps nothing later);
     * the mode only when set_mode (a file created with it needs none). */
    int (*fset_attr)(int fd, bool set_mode, mode_t mode, int64_t mtime_ns);
    /* Create files, none of which may exist, whole: bytes, mode, mtime; one
     * that fails is removed again and gets its -errno in `result`. On
     * BenchFS small files travel many to a request, and a name appears
     * only with all of its bytes. */
    void (*put)(struct stage_put *files, size_t n);
    /* Read files whole into their buffers, with their attributes. On
     * BenchFS many travel in one request, their bytes in its reply. */
    void (*get)(struct stage_get *files, size_t n);
    /* Entries of a directory (unsorted); free with stage_dirents_free. */
    int (*list)(const char *path, struct stage_dirent **ents_p, size_t *n_p);
};

extern const struct stage_fs stage_fs_local;
extern const struct stage_fs stage_fs_benchfs;

void stage_dirents_free(struct stage_dirent *ents, size_t n);

/* Options of one stage-in / stage-out run. */
struct stage_opts {
    const char *cmd;  /* "stage-in" or "stage-out" */
    unsigned jobs;    /* worker processes */
    unsigned threads; /* per worker: small files in flight at once */
    bool verify;      /* checksums (xxh3) of source and destination */
    bool progress;    /* draw the bar (stderr is a terminal, no -q) */
    bool verbose;     /* one line per file */
    size_t bufsize;
    uint64_t split;       /* files larger than this are split into ranges */
    uint64_t bwlimit;     /* bytes/s over all workers, 0 = none */
    unsigned rank, ranks; /* MPI-parallel: this rank's share of the files */
};

/* Names of our own: a manifest and temporary files are never staged. */
#define STAGE_MANIFEST   ".benchfs-manifest"
#define STAGE_TMP_PREFIX ".bfs-stage."

/* One command: its options, operands and destination. */
struct stage_cmd {
    struct stage_opts o;
    bool in;              /* stage-in: local -> BenchFS */
    const char *manifest; /* --manifest (a local file), NULL: DEST/.benchfs-manifest */
    bool no_manifest;
    double watch_sec; /* stage-out --watch */
    const char *stop_file;
    char **srcs;
    int nsrcs;
    char dest[PATH_MAX > BFS_PATH_MAX ? PATH_MAX : BFS_PATH_MAX];
};

enum stage_action {
    STAGE_COPY = 0,   /* copy to a temp name, then rename */
    STAGE_CHECK = 1,  /* looks equal (size, mtime): with --verify compare checksums */
    STAGE_SKIP = 2,   /* equal: nothing to do */
    STAGE_FAILED = 3, /* planning failed (reported) */
};

struct stage_file {
    char *src, *dst, *rel; /* in the shared mapping; rel: path below the destination root */
    char *tmp;             /* temporary name; dst itself for a file written in place */
    uint64_t size;
    mode_t mode;
    int64_t mtime_ns;
    uint32_t first_item, nparts;
    enum stage_action action;
    bool direct;        /* no destination yet: written in place, removed on failure */
    bool mtime_unknown; /* take the mtime from the source as read (readdir has none) */
    int result;         /* after the run: 0, or -errno */
    uint64_t hash;
    bool copied;
};

struct stage_item {
    uint32_t file;
    uint64_t off, len;
};

/* Item states in shared memory. */
#define STAGE_ST_PENDING 0
#define STAGE_ST_CLAIMED 1
#define STAGE_ST_DONE    2 /* copied */
#define STAGE_ST_EQUAL   3 /* STAGE_CHECK found equal checksums: nothing copied */

/* Work items of one pass at most, and bytes of their paths: the pass's
 * shared mapping has room for them (virtual memory: a pass uses what its
 * plan needs). */
#define STAGE_MAX_ITEMS   (1u << 24)
#define STAGE_MAX_STRINGS (4ull << 30)

/*
 * What the workers share with the planner: one MAP_SHARED mapping made
 * before they fork, so at the same address in every process. The planner
 * writes files, items and their paths into it and publishes each item (its
 * number in large[] or small[], then the count), so the workers copy while
 * the walk goes on; they write the results.
 */
struct stage_shared {
    _Atomic uint64_t next_large, next_small; /* next of each list to claim */
    _Atomic uint64_t nlarge, nsmall;         /* published items in each list */
    _Atomic int planned;                     /* every item is published */
    _Atomic uint64_t bytes;                  /* bytes copied so far */
    _Atomic uint64_t done;                   /* items finished */
    _Atomic uint64_t paced;                  /* bytes counted against --bwlimit */
    _Atomic int32_t *status;                 /* per item: STAGE_ST_*, or -errno */
    uint64_t *hash;                          /* per item: checksum of the range (--verify) */
    int64_t *mtime;          /* per item: the source's mtime when the plan had none */
    uint32_t *large, *small; /* items: ranges and files over small_max, the rest */
    struct stage_file *files;
    struct stage_item *items;
    char *strings;
    size_t map_len;
};

struct stage_plan {
    const struct stage_fs *src_fs, *dst_fs;
    struct stage_shared *sh;
    struct stage_file *files; /* sh->files, written by the planner only */
    size_t nfiles;
    struct stage_item *items; /* sh->items */
    size_t nitems;
    size_t strings_used;
    uint64_t small_max; /* whole files up to this size are small items */
    char **dirs;        /* destination directories, for the final mode/mtime pass */
    struct stage_attr *dir_attrs;
    size_t ndirs, cap_dirs;
    uint64_t bytes_total; /* bytes of the items to copy */
    unsigned errors;      /* planning errors, workers that died (reported) */
};

/* ---- benchfs_stage_plan.c ---- */

/* "dir/name" (one slash), malloc'd; NULL when out of memory. */
char *stage_path_cat(const char *dir, const char *name);

/* Threads of the planner for BenchFS calls (stat, mkdir, listings,
 * attributes). */
#define STAGE_PAR_THREADS 8

/*
 * Run fn(arg, i) for every i < n, on up to STAGE_PAR_THREADS threads (this
 * one included) when `wide`: for calls into BenchFS, which each wait for a
 * round trip and go on in parallel from several threads of one client.
 * Local calls do not wait: they run here, one after the other.
 */
void stage_parallel(size_t n, bool wide, void (*fn)(void *arg, size_t i), void *arg);

/*
 * Walk the sources of c into the plan p (its shared mapping made, the
 * workers started, this process connected), publishing each item. 0; -1
 * when the pass cannot run (reported); -ENOMEM. Other failures are
 * reported and counted in p->errors.
 */
int stage_plan_build(struct stage_plan *p, const struct stage_cmd *c);

/* The plan's directories and its shared mapping. */
void stage_plan_free(struct stage_plan *p);

/* ---- benchfs_stage_copy.c ---- */

/* The pass's shared mapping, and its end. 0 or -errno (reported). */
int stage_shared_create(struct stage_plan *p, const struct stage_opts *opts);
void stage_shared_destroy(struct stage_plan *p);

/* A copy of s in the shared mapping, or NULL when it is full. */
char *stage_strdup(struct stage_plan *p, const char *s);

/* Make item i (written in full) visible to the workers. */
void stage_publish(struct stage_plan *p, size_t i);

/* The workers of one pass. */
struct stage_run {
    pid_t *pids;
    unsigned nworkers;
    int gone; /* read end of a pipe every worker holds open */
    struct timespec start;
};

/*
 * Fork opts->jobs worker processes before the planning (each one connects
 * to BenchFS through `ctx` when a side is BenchFS; the caller must be
 * disconnected: UCX is not fork-safe): they connect, then claim items as
 * they are published, until every item is published and claimed. 0 or
 * -errno (reported) when none could be started.
 */
int stage_start(struct cli_ctx *ctx, struct stage_plan *plan, const struct stage_opts *opts,
                struct stage_run *run);

/*
 * Every item is published: wait for the workers, then fill files[].result,
 * copied, hash (and mtime) from the shared results. A failed item is not an
 * error here (it is reported and in its result); a worker that died is
 * counted in plan->errors.
 */
void stage_wait(struct stage_run *run, struct stage_plan *plan, const struct stage_opts *opts);

#endif
