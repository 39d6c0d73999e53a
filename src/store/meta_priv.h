/*
 * meta_priv.h - internals of the metadata store (meta.h), shared by
 * meta.c (environment, transactions, records), meta_dir.c (directories,
 * readdir), meta_file.c (file inode operations), meta_attr.c (attribute
 * changes) and meta_orphan.c (the holders of orphan records). Not for other
 * layers.
 *
 * On-disk layout: one LMDB environment with four named databases.
 *
 *   "rec"    key   = XXH3_128(path) in canonical (big-endian) form, 16 bytes
 *            value = struct meta_rec_hdr || path bytes
 *            One record per file inode owned here and per directory.
 *   "child"  key   = XXH3_128(parent path) || child name (1..255 bytes)
 *            value = struct meta_child_val
 *            The child index: entries this server owns. LMDB's default key
 *            order (memcmp, then shorter first) makes a cursor range scan
 *            over one 16-byte prefix list a directory's names in byte order.
 *   "sys"    small fixed keys: the format version, the inode number
 *            reservation, the file/dir counters, the first inode
 *            counter with spread marks ("spread_from") and the counter end
 *            the last build keeping them reserved ("spread_seen": a larger
 *            reservation means an older build numbered inodes since).
 *   "orphan" key   = inode number, 8 bytes big-endian
 *            value = struct meta_holder_val
 *            The holder of each orphan record (meta_orphan.c): the client
 *            that made it. Added after format 1 without a version bump: a
 *            store written before has this database empty, and its orphan
 *            records simply have no holder.
 *   "small"  key   = inode number, 8 bytes big-endian
 *            value = the bytes of the inode's chunk 0 (at most
 *            META_SMALL_MAX), when the chunk store keeps it here rather
 *            than in a chunk file (meta_small.c). Added like "orphan".
 *
 * Paths can be 4095 bytes but LMDB keys at most 511, hence the hash keys;
 * every record stores its full path so that a read can tell a 128-bit
 * collision (-EIO) from a hit. Values are read with memcpy: LMDB only
 * guarantees 2-byte alignment of data.
 */
#ifndef BENCHFS_STORE_META_PRIV_H
#define BENCHFS_STORE_META_PRIV_H

#include "store/meta.h"

#include "common/path.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define META_KEY_LEN 16

/* Bumped when the layout above changes incompatibly; checked at open. */
#define META_FORMAT_VERSION 1

/* Child index key: parent hash + name (BFS_NAME_MAX bytes at most). */
#define META_CHILD_KEY_MAX (META_KEY_LEN + 255)

/* Record value header; the path follows it directly. */
struct meta_rec_hdr {
    uint32_t version; /* META_FORMAT_VERSION */
    uint32_t path_len;
    struct meta_attr attr;
};

/* Child index value: where the child's record lives, and its type. */
struct meta_child_val {
    uint8_t key[META_KEY_LEN];
    uint8_t is_dir;
};

/* A directory between rmdir_prepare and commit/abort. */
struct meta_removing {
    uint8_t key[META_KEY_LEN];
    unsigned refs; /* prepares not yet committed or aborted */
};

struct meta {
    MDB_env *env;
    MDB_dbi dbi_rec, dbi_child, dbi_sys, dbi_orphan, dbi_small;
    unsigned psize; /* LMDB page size */
    int durability; /* enum config_durability */
    uint32_t node_tag;
    uint64_t default_chunk_size;

    /* Group commit state: the loop pass's transaction (NULL between passes). */
    MDB_txn *txn;
    unsigned txn_ops;    /* operations that wrote, in txn */
    unsigned txn_writes; /* puts and deletes in txn */
    unsigned op_writes;  /* txn_writes when the current op began */
    uint64_t op_pages;   /* page bound of the current op */
    uint64_t txn_pages;  /* upper bound of map pages txn may have taken */
    uint64_t tail_pages; /* pages txn may take past the data, safely */
    uint64_t map_tail;   /* unused pages of the map past the data */
    bool tail_is_disk;   /* tail_pages limited by preallocation */

    /* WRITEMAP preallocation (meta_txn.c): pages [0, alloc_end) of the
     * data file have disk blocks, so writes through the map cannot fault. */
    int fd;
    uint64_t map_pages;
    uint64_t alloc_end;
    uint64_t window_pages;        /* kept allocated past the data: grows with demand */
    bool disk_full;               /* the last fallocate failed with ENOSPC */
    bool no_prealloc;             /* the file system has no fallocate */
    bool txn_isolated;            /* one op per txn: committed by the op itself */
    bool txn_failed;              /* a write failed: txn must be aborted */
    uint64_t txn_files, txn_dirs; /* counters when txn began (for abort) */
    int lost;                     /* error of an aborted pass, reported by meta_flush */
    bool unsynced;                /* commits since the last env sync */
    bool syncs_skipped;           /* on tmpfs/ramfs: durability became none */

    /* Inode numbers: low 32 bits come from [next_ino, ino_reserved). */
    uint64_t next_ino;
    uint64_t ino_reserved;
    uint64_t spread_from; /* inodes with a lower counter have no spread mark */

    uint64_t files, dirs; /* current counts (this txn included) */

    char *small_buf;    /* META_SMALL_MAX bytes: a small value being rewritten */
    bool small_changed; /* small chunks or spread marks written since meta_flush */

    struct meta_removing *removing;
    size_t nremoving, removing_cap;

    /* The last directory meta_parent_check found: creates come in runs in
     * one directory (mdtest, untar), and this saves one B-tree descent of
     * three. Valid until a directory is removed or a txn is aborted. */
    bool pcache_valid;
    size_t pcache_len;
    uint8_t pcache_key[META_KEY_LEN];
    char *pcache_path; /* BFS_PATH_MAX bytes */
};

/* --- meta.c: keys and records ------------------------------------------ */

/* Key of an inode number in "small" and "orphan": 8 bytes big-endian,
 * so that keys sort as the numbers do; and back. */
void meta_ino_key(uint64_t ino, uint8_t key[8]);
uint64_t meta_key_ino(const uint8_t key[8]);

/* 16-byte record key of a path. */
void meta_key(const char *path, size_t len, uint8_t key[META_KEY_LEN]);

/* Directory inode number: derived from the path hash, so every server
 * (directories are replicated) reports the same number. Never 0. */
uint64_t meta_dir_ino(const uint8_t key[META_KEY_LEN]);

/* LMDB return code -> -errno (MDB_MAP_FULL -> -ENOSPC, corruption -> -EIO). */
int meta_mdb_err(int rc);

/* Decode a record value; checks its path against path[0..len) when path
 * is not NULL (another path with the same hash is never served). Returns 1
 * or -EIO. */
int meta_rec_decode(const MDB_val *v, const char *path, size_t len, struct meta_attr *attr);

/* The record at key in any transaction (the server's, or a reader's:
 * meta_reader.c): 1 (attr and, when rp_p, its stored path filled), 0
 * absent, or -errno. path NULL: not checked (the caller checks). */
int meta_rec_read(MDB_txn *txn, MDB_dbi dbi_rec, const uint8_t key[META_KEY_LEN], const char *path,
                  size_t len, struct meta_attr *attr, const char **rp_p, size_t *rlen_p);

/*
 * Read the record at key. Returns 1 and fills attr (if not NULL) when it
 * exists and its path is path[0..len), 0 when there is no record, -EIO on a
 * hash collision or a malformed record, other -errno on LMDB errors.
 */
int meta_rec_get(struct meta *m, const uint8_t key[META_KEY_LEN], const char *path, size_t len,
                 struct meta_attr *attr);

/* Like meta_rec_get without the path check: hands out the stored path
 * (valid until the next write) for callers that verify it themselves. */
int meta_rec_get_raw(struct meta *m, const uint8_t key[META_KEY_LEN], const char **path_p,
                     size_t *len_p, struct meta_attr *attr);

/*
 * Write the record (insert or overwrite). With `noreplace`, an existing
 * record is left alone and the call returns 1 (its attributes in *old_p when
 * its path matches, else -EIO). Returns 0 when written.
 */
int meta_rec_put(struct meta *m, const uint8_t key[META_KEY_LEN], const char *path, size_t len,
                 const struct meta_attr *attr, bool noreplace, struct meta_attr *old_p);
int meta_rec_del(struct meta *m, const uint8_t key[META_KEY_LEN]);
/* Delete key k of database dbi in the pass's transaction; absent is 0. */
int meta_del(struct meta *m, MDB_dbi dbi, MDB_val *k);

/* Child index entry of `name` under the parent with key pkey. del of a
 * missing entry is 0. */
int meta_child_put(struct meta *m, const uint8_t pkey[META_KEY_LEN], const char *name,
                   size_t name_len, const uint8_t ckey[META_KEY_LEN], bool is_dir);
int meta_child_del(struct meta *m, const uint8_t pkey[META_KEY_LEN], const char *name,
                   size_t name_len);

/* The path without its last component must be a live directory here:
 * -ENOENT when missing or being removed, -ENOTDIR when a file. On success
 * fills the parent key and the name (pointing into path). path != "/". */
int meta_parent_check(struct meta *m, const char *path, size_t len, uint8_t pkey[META_KEY_LEN],
                      const char **name_p, size_t *name_len_p);

/* Keys of the "sys" database. */
extern const char META_SYS_FORMAT[], META_SYS_INO[], META_SYS_COUNTS[], META_SYS_SPREAD[],
    META_SYS_SPREAD_SEEN[];

/* --- meta_txn.c: transactions ------------------------------------------- */

/* Begin m->txn (no transaction may be open). 0 or -errno. */
/* The smallest preallocation window, in pages (meta_txn.c). */
uint64_t meta_window_min_pages(const struct meta *m);

int meta_txn_begin(struct meta *m);
/* Pages LMDB can still hand out (the map's unused tail and its free list;
 * an estimate, O(1)). Needs m->txn. */
uint64_t meta_free_pages(struct meta *m);
/* Commit m->txn if it wrote anything, else abort it (cheaper). On failure
 * the transaction is gone and the counters are back at its start. */
int meta_txn_commit(struct meta *m);
/* Abort m->txn and restore the counters (never the inode counter). */
void meta_txn_abort(struct meta *m);
/* Put a "sys" record in m->txn. 0 or -errno (the txn is then failed). */
int meta_sys_put(struct meta *m, const char *name, const void *val, size_t len);

/* The current transaction for reading, begun lazily. 0 or -errno. */
int meta_txn_get(struct meta *m, MDB_txn **txn_p);

/*
 * Bracket every operation that may write. begin makes sure a transaction
 * is open with room for `ops` B-tree updates of values up to `val_len`
 * bytes (committing the pass early, or isolating the op in a transaction of
 * its own, when the map is nearly full: see meta_txn.c). An op that `grows` the
 * store is refused with -ENOSPC when it would eat into the reserve kept for
 * the ops that free space. end takes the op's result, commits an isolated
 * or full transaction, aborts a failed one, and returns the op's result (or
 * the commit's error).
 */
int meta_wbegin(struct meta *m, unsigned ops, size_t val_len, bool grows);
int meta_wend(struct meta *m, int rc);

/* Take one inode number (ensure with meta_ino_reserve first). */
uint64_t meta_ino_next(struct meta *m);
/* Make sure an inode number is available, committing a new reservation
 * block if needed (call before the op's meta_wbegin). 0 or -ENOSPC/-errno. */
int meta_ino_reserve(struct meta *m);

/* Is path the root? */
static inline bool meta_is_root(const char *path, size_t len)
{
    return len == 1 && path[0] == '/';
}

/* Every entry point checks its paths: a key that is not a normalized path
 * could never be reached through normal paths and would only leak space.
 * One pass over the bytes, negligible next to a B-tree descent. */
static inline bool meta_path_ok(const char *path, size_t len)
{
    return path_is_normalized(path, len);
}

/* meta_dir.c: meta_readdir's scan in a given transaction and databases
 * (the server's, or a reader's: meta_reader.c). path checked by the caller. */
int meta_readdir_txn(MDB_txn *txn, MDB_dbi dbi_rec, MDB_dbi dbi_child, const char *path, size_t len,
                     const char *cursor, size_t cursor_len, meta_readdir_cb_t cb, void *arg,
                     bool *done_p);

/* meta_file.c: write attr's record under its orphan key (inside an op). */
int meta_orphan_put(struct meta *m, const struct meta_attr *attr);

/* --- meta_orphan.c: holders of orphan records ------------------------- */

/* Value of an "orphan" entry. */
struct meta_holder_val {
    uint32_t version; /* META_FORMAT_VERSION */
    uint32_t reserved;
    struct meta_holder holder;
};

/* Delete ino's holder entry (inside an op); a missing one is 0. */
int meta_orphan_holder_del(struct meta *m, uint64_t ino);

/* --- meta_dir.c: the set of directories being removed ------------------ */

bool meta_removing_has(const struct meta *m, const uint8_t key[META_KEY_LEN]);
void meta_removing_free(struct meta *m);

#endif
