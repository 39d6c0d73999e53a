/*
 * meta.h - the metadata store of one server, on LMDB (docs/design.md#storage).
 *
 * Holds: directory records (every server has every directory), file inode
 * records (only on the file's owner), and a child index per directory with
 * the entries this server owns (its files, and the subdirectories for which
 * it was told it is the owner), for paged readdir. Paths are normalized
 * (path_is_normalized) opaque keys; they may be up to 4095 bytes, so records
 * are keyed by a 128-bit hash of the path and store the full path to verify.
 *
 * Single writer: the server's loop thread. All changes made during one loop
 * pass share one LMDB write transaction (group commit); meta_flush() commits
 * it. Durability (enum config_durability): none = never sync; close = sync
 * only in meta_flush(sync=true) (fsync/close) and meta_sync(); always = every
 * commit is synced. Reads see uncommitted changes of the current pass.
 *
 * Every function returns 0 or -errno; output arguments are written only on
 * success and every output pointer may be NULL when the caller does not
 * need it. POSIX-style errors: -ENOENT, -EEXIST, -ENOTDIR, -EISDIR,
 * -ENOTEMPTY, -ESTALE (inode number mismatch), -ENOSPC (map full, or the
 * 2^32 inode numbers of this node_tag used up), -EINVAL (path not
 * normalized), -EIO (corrupt record or a 128-bit path hash collision).
 *
 * Map full: a write that does not fit fails alone with -ENOSPC; changes
 * made earlier in the pass are kept (see meta_txn.c). Near the end of the
 * map, ops that grow the store (create, mkdir, inode_put) get -ENOSPC while
 * a reserve is kept so that unlink and rmdir can still free space. If LMDB
 * ever has to drop a pass's transaction anyway, the next meta_flush()
 * returns the error.
 *
 * Attributes: files have S_IFREG | mode, nlink 1, an allocated ino. A
 * directory record has S_IFDIR | mode, nlink 2, size 0, and an ino derived
 * from the hash of its path, so every server reports the same number for a
 * replicated directory; its times are those of the mkdir or of the last
 * meta_setattr (creates in it do not touch it: that would cost a write per
 * create on the hot path).
 */
#ifndef BENCHFS_STORE_META_H
#define BENCHFS_STORE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/proto.h"

struct meta;

/* Attributes of a file or directory. mode includes S_IFREG / S_IFDIR. */
struct meta_attr {
    uint64_t ino;
    uint64_t size;
    uint64_t chunk_size;
    uint32_t mode;
    uint32_t nlink;
    uint32_t uid;
    uint32_t gid;
    uint64_t atime_ns;
    uint64_t mtime_ns;
    uint64_t ctime_ns;
};

/* The attributes as the wire carries them (every reply with an attr). */
void meta_attr_to_wire(const struct meta_attr *a, proto_attr_t *w);

struct meta_opts {
    uint64_t map_size;           /* LMDB map size */
    int durability;              /* enum config_durability */
    uint32_t node_tag;           /* high 32 bits of every inode number allocated here */
    uint64_t default_chunk_size; /* for meta_create(chunk_size 0); 0 = 4 MiB */
};

/*
 * Open (creating if needed) the store in `dir` (e.g. <data_dir>/meta).
 * Creates the root directory "/" on first open. A second process opening the
 * same dir is refused by the server's data dir lock, not here.
 * On error returns -errno and a message in err.
 */
int meta_open(const char *dir, const struct meta_opts *opts, struct meta **meta_p, char *err,
              size_t errlen);

/* Commit pending changes (synced unless durability none) and close. */
void meta_close(struct meta *meta);

/*
 * Readers of a server's store in another process of its host (meta_reader.c,
 * docs/architecture.md#direct-metadata-reads). meta_reader_open: -errno when
 * `dir` holds no store of this format or cannot be opened (permissions, a
 * full reader table). meta_reader_lookup: the committed record of a path:
 * 0, -ENOENT, -EINVAL (not a normalized path), -EIO. One caller at a time
 * per reader. Never open a reader in the process that runs the server of
 * that store (LMDB's file locks are per process).
 */
struct meta_reader;
int meta_reader_open(const char *dir, struct meta_reader **r_p);
int meta_reader_lookup(struct meta_reader *r, const char *path, size_t len, struct meta_attr *attr);
/* Close (in a forked child: only free, the environment is the parent's). */
void meta_reader_close(struct meta_reader *r);
/* How many dead readers' slots this reader's open cleared (a reader killed
 * in the middle of a lookup holds old pages until then). */
int meta_reader_cleared(const struct meta_reader *r);
/* Does it hold the terminal's stop signals off during a lookup (the
 * process had a controlling terminal when it opened the reader)? */
bool meta_reader_holds_stops(const struct meta_reader *r);
/* Was the store this reader reads removed (the meta directory replaced)? */
bool meta_reader_stale(const struct meta_reader *r);

/* Commit the current pass's transaction, if any. sync=true forces an fsync
 * of the environment unless durability is none (and only when something
 * was committed since the last sync). Call it once per loop pass: it also
 * ends the pass's read snapshot. Returns the commit's error, or the error
 * of an earlier op of this pass that made LMDB drop the transaction. */
int meta_flush(struct meta *meta, bool sync);

/* meta_flush(meta, true). */
int meta_sync(struct meta *meta);

/* Attributes of a file or directory at path. -ENOENT if neither. */
int meta_lookup(struct meta *meta, const char *path, size_t len, struct meta_attr *attr_p);

/*
 * Create a file (this server is its owner) or open an existing one.
 * flags: PROTO_CREATE_EXCL (-EEXIST if it exists), PROTO_CREATE_TRUNC (set
 * size 0, return the old size). Parent must be a directory here (-ENOENT;
 * -ENOTDIR when it is a file here; -ENOENT while it is being removed); an
 * existing directory at path is -EISDIR (-EEXIST with EXCL).
 * *old_size_p = the size before the call (0 for a new file); *created_p
 * says whether the file was created. An existing file keeps its mode,
 * owner and chunk size. chunk_size 0 = opts.default_chunk_size. New inode
 * numbers are (node_tag << 32) | counter, the counter persisted (never
 * reused, even after a crash: see meta_txn.c); counter 0 is never used.
 */
int meta_create(struct meta *meta, const char *path, size_t len, uint32_t mode, uint32_t uid,
                uint32_t gid, uint64_t chunk_size, uint32_t flags, struct meta_attr *attr_p,
                uint64_t *old_size_p, bool *created_p);

/*
 * meta_create plus *old_ino_p, kept for the wire's create_rep.old_ino: always
 * 0 now, O_TRUNC truncates in place (keeps the inode number).
 */
int meta_create_ex(struct meta *meta, const char *path, size_t len, uint32_t mode, uint32_t uid,
                   uint32_t gid, uint64_t chunk_size, uint32_t flags, struct meta_attr *attr_p,
                   uint64_t *old_size_p, bool *created_p, uint64_t *old_ino_p);

/*
 * Directories. mkdir: parent must exist (-ENOENT), path must not exist as a
 * dir or a file known here (-EEXIST). `owner`: also add the entry to the
 * parent's child index here. -ENOTDIR when the parent is a file here.
 * rmdir_prepare: -ENOENT / -ENOTDIR (a file here) /
 * -ENOTEMPTY (children in this server's index); else marks it removing, so
 * creates and mkdirs under it fail with -ENOENT until commit or abort.
 * Prepares are counted: each needs its own abort, a commit clears them all.
 * rmdir_commit removes the record (and the child entry if present); it also
 * works without prepare (used to roll back a failed mkdir); -ENOTEMPTY if
 * the index is not empty. rmdir_abort of a directory not being removed is
 * a no-op returning 0. Removing "/" is -EBUSY.
 */
int meta_mkdir(struct meta *meta, const char *path, size_t len, uint32_t mode, uint32_t uid,
               uint32_t gid, bool owner);
int meta_rmdir_prepare(struct meta *meta, const char *path, size_t len);
int meta_rmdir_commit(struct meta *meta, const char *path, size_t len);
int meta_rmdir_abort(struct meta *meta, const char *path, size_t len);

/*
 * Child index of directory `path`, in name order, starting after `cursor`
 * (cursor_len 0 = from the start). Calls cb for each entry until cb returns
 * non-zero (stop, e.g. page full: that entry is NOT consumed) or entries run
 * out; *done_p = true when every entry was delivered. For files, attr is the
 * inode's; for dirs, the directory record's. -ENOENT / -ENOTDIR for path,
 * -EINVAL for a cursor longer than a name. `name` points into the store and
 * is valid only during the call; cb must not call other meta functions.
 * Stopping is not an error: the call returns 0 with *done_p = false.
 */
typedef int (*meta_readdir_cb_t)(void *arg, const char *name, size_t name_len,
                                 const struct meta_attr *attr);
int meta_readdir(struct meta *meta, const char *path, size_t len, const char *cursor,
                 size_t cursor_len, meta_readdir_cb_t cb, void *arg, bool *done_p);
/* A reader's (meta_reader_open): every entry of directory path, in one
 * transaction (a snapshot), to cb as meta_readdir gives them. 0: all; 1: cb
 * stopped it; -ENOENT / -ENOTDIR / -EINVAL / -EIO. */
int meta_reader_readdir(struct meta_reader *r, const char *path, size_t len, meta_readdir_cb_t cb,
                        void *arg);

/* Remove a file; returns its attributes (to free chunks). -EISDIR for dirs,
 * -ENOENT when there is no file here. */
int meta_unlink(struct meta *meta, const char *path, size_t len, struct meta_attr *attr_p);

/*
 * Rename a file when this server owns both names. -ENOENT (old missing or new
 * parent missing), -EISDIR (new is a directory), -ENOTDIR. If new existed it
 * is replaced and returned in replaced_p with *has_replaced_p = true.
 * Renaming a file onto itself is a no-op returning its attributes.
 * Directories are not renamed here: old naming a directory is -EISDIR
 * (-EBUSY for "/"). The moved file keeps its ino; its ctime is set to now.
 */
int meta_rename(struct meta *meta, const char *old_path, size_t old_len, const char *new_path,
                size_t new_len, struct meta_attr *moved_p, struct meta_attr *replaced_p,
                bool *has_replaced_p);

/* Cross-server rename steps. put: insert attr at path (parent must exist;
 * -EISDIR onto a dir; with noreplace -EEXIST), returning a replaced inode;
 * attr must not be a directory (-EINVAL); it is stored as given.
 * del: remove path if its inode number is ino (-ESTALE otherwise; ino 0
 * skips the check); -ENOENT / -EISDIR as unlink. */
int meta_inode_put(struct meta *meta, const char *path, size_t len, const struct meta_attr *attr,
                   bool noreplace, struct meta_attr *replaced_p, bool *has_replaced_p);
int meta_inode_del(struct meta *meta, const char *path, size_t len, uint64_t ino,
                   struct meta_attr *attr_p);

/* Set the size exactly (truncate); returns new attributes and the old size.
 * mtime and ctime become now. -EISDIR for a directory. */
int meta_truncate(struct meta *meta, const char *path, size_t len, uint64_t size,
                  struct meta_attr *attr_p, uint64_t *old_size_p);

/* size = max(size, new) (or exactly, with exact); mtime updated. ino 0 skips
 * the inode check. -ESTALE when path now names another inode.
 * mtime: mtime_ns (0 = now); without `exact` it never moves backwards, so
 * size pushes from several clients may arrive in any order. ctime follows
 * mtime. Nothing is written when nothing changes. -EISDIR for a dir. */
int meta_setsize(struct meta *meta, const char *path, size_t len, uint64_t ino, uint64_t size,
                 uint64_t mtime_ns, bool exact, struct meta_attr *attr_p);

/*
 * Keeping the data of open files (docs/semantics.md). keep: instead of
 * deleting the unlinked (or replaced) file's record, move it to the orphan
 * table, keyed by its inode number: no name, not in readdir, reachable by
 * inode only until meta_orphan_release.
 */
int meta_unlink_keep(struct meta *meta, const char *path, size_t len, bool keep,
                     struct meta_attr *attr_p);
int meta_rename_keep(struct meta *meta, const char *old_path, size_t old_len, const char *new_path,
                     size_t new_len, bool keep, struct meta_attr *moved_p,
                     struct meta_attr *replaced_p, bool *has_replaced_p);
int meta_inode_put_keep(struct meta *meta, const char *path, size_t len,
                        const struct meta_attr *attr, bool noreplace, bool keep,
                        struct meta_attr *replaced_p, bool *has_replaced_p);

/* The key path of inode ino's orphan record ("orphan:" + 16 hex digits,
 * NUL-terminated); returns its length. meta_stat_ino, meta_truncate_ino and
 * meta_setsize accept it in place of a normalized path. */
#define META_ORPHAN_PREFIX   "orphan:"
#define META_ORPHAN_PATH_MAX (sizeof(META_ORPHAN_PREFIX) + 16)
size_t meta_orphan_path(uint64_t ino, char buf[META_ORPHAN_PATH_MAX]);
bool meta_orphan_path_ok(const char *path, size_t len);

/* The file at path (or an orphan path) if its inode number is ino (0 =
 * any): -ESTALE when the name now belongs to another inode or a directory. */
int meta_stat_ino(struct meta *meta, const char *path, size_t len, uint64_t ino,
                  struct meta_attr *attr_p);
/* meta_truncate with the same inode check. */
int meta_truncate_ino(struct meta *meta, const char *path, size_t len, uint64_t ino, uint64_t size,
                      struct meta_attr *attr_p, uint64_t *old_size_p);
/*
 * Attribute changes (meta_attr.c): chmod, chown, utimens of the file or
 * directory at path, or of an orphan record (its key path). valid holds
 * PROTO_SETATTR_* bits: MODE (permission bits, the file type stays), UID,
 * GID, ATIME / MTIME (the given ns, older than now too) or ATIME_NOW /
 * MTIME_NOW (this server's clock), CTIME (ctime_ns as given; else ctime
 * becomes now, as on every change). ino 0 takes whatever path names, else
 * the record must be that inode (-ESTALE). -EINVAL for an empty or unknown
 * mask, both a time and its NOW, mode bits outside 07777, a bad path;
 * -ENOENT when there is no record. Returns the new attributes.
 */
struct meta_setattr {
    uint32_t valid;
    uint32_t mode;
    uint32_t uid;
    uint32_t gid;
    uint64_t atime_ns;
    uint64_t mtime_ns;
    uint64_t ctime_ns;
};
int meta_setattr(struct meta *meta, const char *path, size_t len, uint64_t ino,
                 const struct meta_setattr *sa, struct meta_attr *attr_p);

/*
 * Small chunks (meta_small.c): the bytes of chunk 0 of inode ino, kept in
 * the store instead of a chunk file (the chunk store decides, chunk.h).
 * At most META_SMALL_MAX bytes. get: 1 with a pointer into the store
 * (valid until the next write), 0 when there is none, or -errno. put:
 * write buf[0..len) at off (zeros between the old end and off), growing
 * the value; -EINVAL past META_SMALL_MAX, -ENOSPC near a full map. trunc:
 * cut to len bytes (0 removes it); nothing there is 0. list: up to max
 * inode numbers above `after` that have one, ascending. reader_small: a
 * reader's (meta_reader_open) copy of up to len bytes from off: the bytes
 * copied (0 at or past the end), -ENOENT when ino has none here, -errno.
 */
#define META_SMALL_MAX 65536u
int meta_small_get(struct meta *meta, uint64_t ino, const void **data_p, size_t *len_p);
int meta_small_put(struct meta *meta, uint64_t ino, uint64_t off, const void *buf, size_t len);
int meta_small_trunc(struct meta *meta, uint64_t ino, uint64_t len);
size_t meta_small_list(struct meta *meta, uint64_t after, uint64_t *inos, size_t max);
ssize_t meta_reader_small(struct meta_reader *r, uint64_t ino, uint64_t off, void *buf, size_t len);
/*
 * The spread mark of inode ino, kept by chunk 0's server: chunks past chunk
 * 0 may exist on other servers (docs/semantics.md#where-chunks-are). op
 * META_SPREAD_GET: 1 marked, 0 not; SET / DEL: 0. -errno on failure. Listed
 * by meta_small_list with the small chunks (an inode once).
 */
#define META_SPREAD_GET 0
#define META_SPREAD_SET 1
#define META_SPREAD_DEL 2
int meta_spread(struct meta *meta, uint64_t ino, int op);
/* Were small chunks or spread marks written since the last meta_flush
 * (which clears it)? Their bytes then depend on that flush's commit. */
bool meta_small_changed(const struct meta *meta);

/* Drop inode ino's orphan record (and its holder), returning it (to free
 * its chunks). -ENOENT when there is none. */
int meta_orphan_release(struct meta *meta, uint64_t ino, struct meta_attr *attr_p);

/*
 * The holder of an orphan record: the client process that made it, the only
 * one whose descriptors still use it (docs/semantics.md). session: random
 * per client connection; host: registry_host_id() of its host; pid: its
 * process id there. All 0 = unknown (a client that did not say, or a record
 * made before holders were kept).
 */
struct meta_holder {
    uint64_t session;
    uint64_t host;
    uint64_t pid;
};

/* Remember the holder of ino's orphan record (made in this pass or
 * before): durable with the pass. -ENOENT when ino has no orphan record. */
int meta_orphan_holder_set(struct meta *meta, uint64_t ino, const struct meta_holder *holder);

/*
 * Every orphan record held here, in inode order: cb(arg, attr, holder) with
 * the record's attributes and its holder (all 0 when none is recorded).
 * Stops early when cb returns non-zero, and returns that value; else 0 or
 * -errno. cb must not call other meta functions.
 */
typedef int (*meta_orphan_cb_t)(void *arg, const struct meta_attr *attr,
                                const struct meta_holder *holder);
int meta_orphan_each(struct meta *meta, meta_orphan_cb_t cb, void *arg);

/*
 * One page of the inode numbers of the files held here (for fsck): up to
 * max of them into inos (*n_p), in the order of their records' keys, from
 * the start (start true) or after the record key `after` (the `next` of the
 * previous page). next: the key to continue after (valid when *n_p > 0 or
 * records were skipped; pass it back as is). *done_p: no records follow.
 * A page of directories only can be empty and not done. 0, -EINVAL (max
 * 0), -EIO (a corrupt record) or an LMDB error.
 */
int meta_ino_list(struct meta *meta, const uint8_t after[16], bool start, uint64_t *inos,
                  size_t max, size_t *n_p, uint8_t next[16], bool *done_p);

/*
 * Inode counter (low 32 bits of the numbers made here): the end of the
 * range reserved so far -- no number at or above it was ever handed out.
 * meta_ino_floor raises the counter to at least floor, durably, e.g. when
 * a fresh store replaces one whose numbers may still name chunks elsewhere
 * (the server remembers the end in the registry: server/data_id.c). 0,
 * -ENOSPC (floor beyond 2^32) or an LMDB error.
 */
uint64_t meta_ino_reserved_end(const struct meta *meta);
/* A new inode number, for a record made later with meta_inode_put (a
 * file whose data is written before its name: PUT). A number that ends up
 * unused is simply skipped. 0, -ENOSPC or an LMDB error (see meta_create). */
int meta_ino_alloc(struct meta *meta, uint64_t *ino_p);
int meta_ino_floor(struct meta *meta, uint64_t floor);

/* Counts of file inodes and directories ("/" included) held here,
 * including the current pass's uncommitted changes. */
void meta_counts(struct meta *meta, uint64_t *files_p, uint64_t *dirs_p);

/* True when the store is on tmpfs/ramfs and therefore never syncs (a sync
 * of memory protects nothing); the configured durability is then moot. */
bool meta_syncs_skipped(const struct meta *meta);

#endif
