/*
 * benchfs.h - the BenchFS client library (libbenchfs).
 *
 * BenchFS is a distributed ad-hoc file system: servers (benchfsd) on the
 * compute nodes of a job publish themselves in a shared registry directory;
 * an application connects with benchfs_connect() and then uses POSIX-shaped
 * calls on absolute paths inside the BenchFS namespace.
 *
 * Conventions (like POSIX):
 *  - Calls return 0 (or a count / a descriptor) on success and -1 with errno
 *    set on failure. benchfs_last_error() gives a human-readable message of
 *    the calling thread's last failure (naming the server when one failed).
 *  - Paths are absolute ("/dir/file"); they are normalized ("//", ".", "..",
 *    trailing "/"). Limits: 4095 bytes per path, 255 per component.
 *  - Descriptors are small non-negative ints, private to the process.
 *  - Consistency is close-to-open (like NFS): data written through a
 *    descriptor is visible to other clients after close() or fsync()
 *    returns; a client always sees its own writes, through any descriptor.
 *  - Descriptors refer to the inode opened, not to its name: after a rename,
 *    an unlink or a new file at the name, they still act on that inode (a
 *    file this client unlinks while open is freed at its last close here).
 *    Descriptors of other clients get ESTALE, never another file's data.
 *    Truncation (O_TRUNC, creat, truncate, ftruncate) keeps the inode and
 *    never loses writes made after it returns. See docs/semantics.md.
 *  - Threads: every call may be made from any thread, and calls of
 *    different threads run in parallel: a thread waiting for a slow server
 *    or a large read does not hold up the others, and their requests share
 *    the connections to the servers. errno and benchfs_last_error() are per
 *    thread. Calls on the same descriptor from several threads are safe
 *    (memory-wise) but, as with POSIX read/write on a shared offset, their
 *    order is not defined; a descriptor closed while another thread uses it
 *    stays valid for that call, which then completes or fails with EBADF.
 *    A benchfs_dir_t must not be used by two threads at once.
 *    benchfs_disconnect() waits for the calls of other threads in progress;
 *    calls made after it fail with ENOTCONN.
 *  - A dead or silent server makes calls that need it fail with EIO or
 *    ETIMEDOUT within the RPC timeout; the next call reconnects.
 */
#ifndef BENCHFS_H
#define BENCHFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCHFS_VERSION_MAJOR 0
#define BENCHFS_VERSION_MINOR 1
#define BENCHFS_VERSION_PATCH 0

/* Options of benchfs_connect(); zero fields take the defaults shown. */
struct benchfs_options {
    /* Servers to wait for: 0 = the registry's cluster file, else every
     * server present once the set is stable. */
    unsigned expected_servers;
    /* How long to wait for the registry to be complete (ms, default 30000). */
    int discovery_timeout_ms;
    /* Chunk size for files this client creates (bytes, default 4 MiB). */
    uint64_t chunk_size;
    /* Deadline of one RPC (ms, default 30000). */
    int rpc_timeout_ms;
    /* RPCs in flight at once for one call (default 64). */
    unsigned max_inflight;
};

/* Fill `opts` with the defaults (also read from BENCHFS_* environment:
 * BENCHFS_EXPECTED_SERVERS, BENCHFS_CHUNK_SIZE, BENCHFS_RPC_TIMEOUT_MS). */
void benchfs_options_init(struct benchfs_options *opts);

/*
 * Connect this process to the cluster registered in `registry_dir` (NULL:
 * $BENCHFS_REGISTRY). Waits for the servers, checks the cluster cookie and
 * contacts every server. Returns 0, or -1 with errno (ENOENT no registry,
 * ETIMEDOUT servers missing, EACCES foreign cookie, ...). Connecting twice
 * is EALREADY. `opts` may be NULL.
 */
int benchfs_connect(const char *registry_dir, const struct benchfs_options *opts);

/* Close every descriptor (pushing sizes), disconnect. 0 or -1. */
int benchfs_disconnect(void);

/*
 * Call in the child right after fork() (from a pthread_atfork child handler
 * or at once): forgets the parent's connection and descriptors without
 * touching them (UCX state is not fork-safe; the child leaks its copy), so
 * the child can benchfs_connect() afresh. The parent is unaffected. 0.
 */
int benchfs_atfork_child(void);

/*
 * Seed 003's shape: initialize as `node_id`, and when is_server != 0 first
 * start an embedded server on a background thread of this process, serving
 * `data_dir` and publishing itself in `registry_dir`. Then connect as a
 * client (waiting for `expected_servers` from the options or the cluster
 * file). benchfs_finalize() disconnects and stops the embedded server.
 */
int benchfs_init(const char *node_id, const char *registry_dir, const char *data_dir, int is_server,
                 const struct benchfs_options *opts);
int benchfs_finalize(void);

/*
 * Prepare `registry_dir` for a new cluster of `nservers` servers, before any
 * of them starts: removes registry files of an earlier run, creates a fresh
 * cluster cookie and records nservers for clients. Call it from exactly one
 * process (e.g. MPI rank 0, then a barrier, then benchfs_init on every
 * rank). 0 or -1 with errno.
 */
int benchfs_registry_prepare(const char *registry_dir, unsigned nservers);

/* Message of the calling thread's last failed call ("" if none). */
const char *benchfs_last_error(void);

/* Library version string ("0.1.0"). */
const char *benchfs_version(void);

/* Files. flags: O_RDONLY O_WRONLY O_RDWR O_CREAT O_EXCL O_TRUNC O_APPEND
 * O_DIRECTORY (others are ignored). Returns a descriptor or -1. O_TRUNC
 * truncates in place (other descriptors keep the file). ftruncate and
 * O_APPEND writes fail with ESTALE when another client removed or replaced
 * the file. */
int benchfs_open(const char *path, int flags, mode_t mode);
int benchfs_creat(const char *path, mode_t mode);
int benchfs_close(int fd);

ssize_t benchfs_read(int fd, void *buf, size_t count);
ssize_t benchfs_write(int fd, const void *buf, size_t count);
ssize_t benchfs_pread(int fd, void *buf, size_t count, off_t offset);
ssize_t benchfs_pwrite(int fd, const void *buf, size_t count, off_t offset);
off_t benchfs_lseek(int fd, off_t offset, int whence);
int benchfs_fsync(int fd);
int benchfs_ftruncate(int fd, off_t length);
int benchfs_fstat(int fd, struct stat *st);

/*
 * Create the regular file `path`, which must not exist, holding the `len`
 * bytes at `data`, with the permission bits of `mode` (07777, as given: the
 * umask does not apply) and the modification time `*mtime` (NULL: now; the
 * atime and ctime are now). A file whose bytes and name fit one request to
 * the owner of its name (at most the servers' storage.buffer_size, and one
 * chunk) is made by that request and appears whole or not at all: the
 * owner writes the bytes before it makes the name. A larger one is
 * created, written, given its mode and mtime and closed, and removed again
 * if a step fails; others may see it partial meanwhile. 0, or -1 with
 * errno: EEXIST (path exists, also as a directory), ENOENT / ENOTDIR (its
 * parent), EINVAL (an mtime before 1970 or past 2554, tv_nsec out of
 * range), EFAULT (data NULL with len > 0). docs/semantics.md#put.
 */
int benchfs_put(const char *path, const void *data, size_t len, mode_t mode,
                const struct timespec *mtime);

/* One file of benchfs_put_many: the arguments of a benchfs_put (mtime
 * tv_nsec UTIME_NOW: now), and its outcome. */
struct benchfs_put_file {
    const char *path;
    const void *data;
    size_t len;
    mode_t mode;
    struct timespec mtime;
    int error; /* out: 0, or the errno value benchfs_put would give */
};

/*
 * benchfs_put for n files at once: those that fit a request travel
 * together, one request per server for many of them, all servers in
 * parallel (a file costs a fraction of a round trip). Each file succeeds
 * or fails on its own (`error`). 0 when all were made, else -1 with errno
 * of the first that failed.
 */
int benchfs_put_many(struct benchfs_put_file *files, size_t n);

/* One file of benchfs_get_many: a path and a buffer for its bytes, and
 * what was found. */
struct benchfs_get_file {
    const char *path;
    void *buf;      /* room for its bytes */
    size_t cap;     /* bytes of room */
    struct stat st; /* out: its attributes, as benchfs_stat gives them */
    ssize_t len;    /* out: bytes read into buf (all of the file), or -1 when
                       nothing was read: not a regular file, larger than cap */
    int error;      /* out: 0, or the errno value of its lookup or read */
};

/*
 * Look n files up and read those that are regular files fitting their
 * buffers, at once: the paths go to the owners of their names, many to a
 * request, all servers in parallel, and a small file's bytes come back in
 * the same reply (a file costs a fraction of a round trip instead of an
 * open). A file is read whole, as it was at that moment (as open then read
 * would see it). 0 when every file was looked up (and read, where it fits),
 * else -1 with errno of the first that failed. docs/semantics.md#get.
 */
int benchfs_get_many(struct benchfs_get_file *files, size_t n);

/* Namespace. */
int benchfs_stat(const char *path, struct stat *st);
int benchfs_truncate(const char *path, off_t length);
int benchfs_unlink(const char *path);
int benchfs_mkdir(const char *path, mode_t mode);
int benchfs_rmdir(const char *path);
int benchfs_rename(const char *oldpath, const char *newpath);
int benchfs_access(const char *path, int mode);
int benchfs_statvfs(const char *path, struct statvfs *st);

/*
 * Attributes (docs/semantics.md#attributes), on a path or on the inode a
 * descriptor has open (which works after a rename or an unlink by this
 * process too; ESTALE when another client removed or replaced it). They
 * act on files and directories alike, and the change is seen by every
 * client's stat and fstat once the call returned. ctime becomes the time
 * of the change. BenchFS enforces no permissions: any caller may change
 * any mode or owner (benchfs_access answers from the mode bits; a FUSE
 * mount lets the kernel check them).
 *
 * chmod: the permission bits of mode (07777; other bits are ignored).
 * chown: owner or group (uid_t)-1 / (gid_t)-1 is left as it is.
 * utimens: times[0] is the atime, times[1] the mtime, as utimensat(2):
 * tv_nsec UTIME_NOW takes the server's clock, UTIME_OMIT leaves the time
 * as it is, times NULL sets both to now. EINVAL for a tv_nsec out of range,
 * or a time before 1970 or past 2554 (BenchFS stores unsigned nanoseconds).
 * An explicit mtime stays until the file is written again: the next
 * published write (close, fsync) stamps its own time, as a write after
 * utimens does on POSIX. Writes of this process not yet published are
 * published first, so a futimens before close (cp -p) sticks.
 */
int benchfs_chmod(const char *path, mode_t mode);
int benchfs_fchmod(int fd, mode_t mode);
int benchfs_chown(const char *path, uid_t owner, gid_t group);
int benchfs_fchown(int fd, uid_t owner, gid_t group);
int benchfs_utimens(const char *path, const struct timespec times[2]);
int benchfs_futimens(int fd, const struct timespec times[2]);

/* Directories. Entries come with type and size (readdir-plus). "." and ".."
 * are not returned. */
typedef struct benchfs_dir benchfs_dir_t;
struct benchfs_dirent {
    uint64_t d_ino;
    unsigned char d_type; /* DT_REG or DT_DIR */
    uint64_t d_size;
    mode_t d_mode;
    char d_name[256];
};
benchfs_dir_t *benchfs_opendir(const char *path);
/* Next entry (valid until the next call), or NULL at the end (errno 0) or
 * on error (errno set). */
struct benchfs_dirent *benchfs_readdir(benchfs_dir_t *dir);
int benchfs_closedir(benchfs_dir_t *dir);

/* Per-server information for tools (benchfs status / ping). */
struct benchfs_server_info {
    char node_id[64];
    char host[256];
    int64_t pid;
    double rtt_us; /* one ping round trip */
    uint64_t uptime_ns;
    uint64_t ops;
    uint64_t bad_requests;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t chunk_writes;
    uint64_t chunk_reads;
    uint64_t inodes;
    uint64_t dirs;
    uint64_t open_fds;
    uint64_t cpu_user_ns;
    uint64_t cpu_sys_ns;
    int status;       /* 0, or -errno when this server did not answer */
    uint64_t clients; /* client processes connected to it (this one included) */
    /* Time its loop spent in passes that did work (not idle spinning or
     * sleeping): the busy share of a period is the difference of two
     * readings over the period's length. */
    uint64_t busy_ns;
};
/* Number of servers, or -1. */
int benchfs_server_count(void);
/* Ping and query server `idx` (0 .. count-1, natural node id order). */
int benchfs_server_info(int idx, struct benchfs_server_info *info);
/* Ask every server to shut down gracefully (authenticated by the cookie). */
int benchfs_shutdown_servers(void);

/*
 * Consistency check of the cluster's data (benchfs fsck): every chunk set
 * (the chunk files one server holds for one inode) whose inode no server
 * holds a record of is an orphan -- left by a writer or a client that died
 * before it could free it, or by a lost metadata server. With
 * BENCHFS_FSCK_REPAIR orphans are freed (and their late writes refused).
 * The chunk sets are listed before the inodes, so a file created meanwhile
 * is never taken for an orphan; run --repair on a quiet cluster all the
 * same (a cross-server rename in flight could hide an inode from one pass).
 * cb (may be NULL) is called once per orphan found. Returns 0 (the report
 * filled in) or -1 with errno; a page that fails on one server counts in
 * report->errors and the rest goes on.
 *
 * Orphan records -- files unlinked (or renamed over) while their client
 * had them open -- are checked too (docs/semantics.md): each has a holder,
 * the client process that made it, whose state its owner reports
 * (BENCHFS_HOLDER_*). With BENCHFS_FSCK_REPAIR a record whose holder is
 * gone is dropped, and its chunks on every server are then freed as chunk
 * sets without an inode in the same run (counted in freed_bytes). A live
 * holder's record is never touched, nor one whose holder cannot be checked.
 */
#define BENCHFS_FSCK_REPAIR 0x1u
/* With BENCHFS_FSCK_REPAIR: also drop orphan records whose holder is
 * unknown (on another host and not connected, e.g. after its owner
 * restarted, or not recorded). Only when no client that may hold one still
 * runs: such a client's descriptors of the unlinked file then see ESTALE. */
#define BENCHFS_FSCK_REPAIR_UNKNOWN 0x2u
struct benchfs_fsck_report {
    uint64_t servers;       /* servers checked */
    uint64_t files;         /* file inodes found on their owners (orphan records included) */
    uint64_t chunk_sets;    /* (server, inode) pairs holding chunk files */
    uint64_t chunks;        /* chunk files in them */
    uint64_t bytes;         /* bytes they occupy on disk */
    uint64_t orphan_sets;   /* chunk sets whose inode exists nowhere */
    uint64_t orphan_chunks; /* chunk files in them */
    uint64_t orphan_bytes;  /* bytes they occupy */
    uint64_t freed_bytes;   /* bytes freed by BENCHFS_FSCK_REPAIR */
    uint64_t errors;        /* listings or removals that failed */
    /* Orphan records (unlinked open files), by the state of their holder. */
    uint64_t orphan_records;         /* all of them */
    uint64_t orphan_records_live;    /* holder connected or its process running */
    uint64_t orphan_records_gone;    /* holder's process gone: reclaimable */
    uint64_t orphan_records_unknown; /* holder cannot be checked (other host, not connected) */
    uint64_t orphan_records_freed;   /* dropped by BENCHFS_FSCK_REPAIR */
};
typedef void (*benchfs_fsck_cb)(void *arg, const char *node_id, uint64_t ino, uint64_t chunks,
                                uint64_t bytes, int repaired);
int benchfs_fsck(unsigned flags, benchfs_fsck_cb cb, void *arg, struct benchfs_fsck_report *report);

/* The state of an orphan record's holder, as its owner sees it. */
#define BENCHFS_HOLDER_LIVE    1 /* connected to the owner, or running on its host */
#define BENCHFS_HOLDER_GONE    2 /* its process is gone (or a zombie) */
#define BENCHFS_HOLDER_UNKNOWN 3 /* on another host and not connected, or not recorded */
struct benchfs_fsck_orphan {
    const char *node_id; /* the owner holding the record */
    uint64_t ino;
    uint64_t size;    /* the file's recorded size */
    uint64_t session; /* the holder's session id (0: none recorded) */
    uint64_t pid;     /* the holder's process id on its host */
    int same_host;    /* the holder ran on the host of this fsck */
    int holder;       /* BENCHFS_HOLDER_* */
    int freed;        /* dropped by this run */
};
typedef void (*benchfs_fsck_orphan_cb)(void *arg, const struct benchfs_fsck_orphan *orphan);
/* benchfs_fsck, with ocb (may be NULL) called once per orphan record. */
int benchfs_fsck_ex(unsigned flags, benchfs_fsck_cb cb, benchfs_fsck_orphan_cb ocb, void *arg,
                    struct benchfs_fsck_report *report);

#ifdef __cplusplus
}
#endif
#endif
