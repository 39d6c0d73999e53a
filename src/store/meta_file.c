/*
 * meta_file.c - file inode operations of the metadata store (meta.h):
 * create, unlink, same-server rename, the two steps of a cross-server
 * rename (inode_put / inode_del), truncate and setsize.
 *
 * A file's record and its child index entry always live together on the
 * file's owner, so every operation here keeps them in step inside the
 * pass's transaction. Each public function is a thin frame
 *     validate -> meta_wbegin -> <op> -> meta_wend
 * and each <op> checks everything it can before its first write: once an
 * op writes, the only way it can fail is an LMDB error, which aborts the
 * transaction (meta.c), so an op never leaves half of its writes behind.
 */
#include "store/meta_priv.h"

#include "common/path.h"
#include "common/timeutil.h"
#include "proto/proto.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define META_REC_LEN(len) (sizeof(struct meta_rec_hdr) + (len))

/* The file at path: 0 and its attributes, -ENOENT, -EISDIR or an error. */
static int meta_file_get(struct meta *m, const char *path, size_t len, uint8_t key[META_KEY_LEN],
                         struct meta_attr *attr)
{
    int rc;

    meta_key(path, len, key);
    rc = meta_rec_get(m, key, path, len, attr);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return -ENOENT;
    return S_ISDIR(attr->mode) ? -EISDIR : 0;
}

/* Remove the record and the child entry of the file at path (key known). */
static int meta_file_drop(struct meta *m, const char *path, size_t len,
                          const uint8_t key[META_KEY_LEN])
{
    uint8_t pkey[META_KEY_LEN];
    const char *name;
    size_t plen;
    int rc;

    rc = path_split(path, len, &plen, &name);
    if (rc != 0)
        return rc;
    rc = meta_rec_del(m, key);
    if (rc != 0)
        return rc;
    meta_key(path, plen, pkey);
    rc = meta_child_del(m, pkey, name, (size_t)(path + len - name));
    if (rc != 0)
        return rc;
    m->files--;
    return 0;
}

/* --- create ------------------------------------------------------------- */

struct meta_create_out {
    struct meta_attr attr;
    uint64_t old_size;
    uint64_t old_ino; /* always 0: O_TRUNC keeps the inode number */
    bool created;
};

static int meta_create_op(struct meta *m, const char *path, size_t len, uint32_t mode, uint32_t uid,
                          uint32_t gid, uint64_t chunk_size, uint32_t flags,
                          struct meta_create_out *out)
{
    uint8_t pkey[META_KEY_LEN], key[META_KEY_LEN];
    struct meta_attr attr, old;
    const char *name;
    size_t name_len;
    uint64_t now = time_real_ns();
    int rc;

    rc = meta_parent_check(m, path, len, pkey, &name, &name_len);
    if (rc != 0)
        return rc;
    meta_key(path, len, key);

    memset(&attr, 0, sizeof(attr));
    /* The number is only peeked here; it is consumed if the insert happens. */
    attr.ino = ((uint64_t)m->node_tag << 32) | m->next_ino;
    attr.chunk_size = chunk_size ? chunk_size : m->default_chunk_size;
    attr.mode = S_IFREG | (mode & 07777);
    attr.nlink = 1;
    attr.uid = uid;
    attr.gid = gid;
    attr.atime_ns = attr.mtime_ns = attr.ctime_ns = now;

    /* The common case, a new file, is one insert-if-absent plus the child
     * entry: the existence check rides on the insert's B-tree descent. */
    rc = meta_rec_put(m, key, path, len, &attr, true, &old);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        if (S_ISDIR(old.mode))
            return (flags & PROTO_CREATE_EXCL) ? -EEXIST : -EISDIR;
        if (flags & PROTO_CREATE_EXCL)
            return -EEXIST;
        out->old_size = old.size;
        out->created = false;
        if (flags & PROTO_CREATE_TRUNC) {
            /* POSIX: O_TRUNC of an existing file updates mtime and ctime
             * even when it was already empty. The file keeps its inode
             * number (descriptors refer to it); the caller frees the data
             * past 0 (docs/semantics.md). */
            old.size = 0;
            old.mtime_ns = old.ctime_ns = now;
            rc = meta_rec_put(m, key, path, len, &old, false, NULL);
            if (rc != 0)
                return rc;
        }
        out->attr = old;
        return 0;
    }
    (void)meta_ino_next(m);
    rc = meta_child_put(m, pkey, name, name_len, key, false);
    if (rc != 0)
        return rc;
    m->files++;
    out->attr = attr;
    out->old_size = 0;
    out->created = true;
    return 0;
}

int meta_create(struct meta *m, const char *path, size_t len, uint32_t mode, uint32_t uid,
                uint32_t gid, uint64_t chunk_size, uint32_t flags, struct meta_attr *attr_p,
                uint64_t *old_size_p, bool *created_p)
{
    return meta_create_ex(m, path, len, mode, uid, gid, chunk_size, flags, attr_p, old_size_p,
                          created_p, NULL);
}

int meta_create_ex(struct meta *m, const char *path, size_t len, uint32_t mode, uint32_t uid,
                   uint32_t gid, uint64_t chunk_size, uint32_t flags, struct meta_attr *attr_p,
                   uint64_t *old_size_p, bool *created_p, uint64_t *old_ino_p)
{
    struct meta_create_out out;
    int rc;

    memset(&out, 0, sizeof(out)); /* the compiler cannot see wend's result */
    if (!meta_path_ok(path, len))
        return -EINVAL;
    if (meta_is_root(path, len))
        return (flags & PROTO_CREATE_EXCL) ? -EEXIST : -EISDIR;
    /* Before the op: a reservation commits the pass (meta.c). */
    rc = meta_ino_reserve(m);
    if (rc != 0)
        return rc;
    rc = meta_wbegin(m, 2, META_REC_LEN(len), true);
    if (rc != 0)
        return rc;
    rc = meta_wend(m, meta_create_op(m, path, len, mode, uid, gid, chunk_size, flags, &out));
    if (rc != 0)
        return rc;
    if (attr_p != NULL)
        *attr_p = out.attr;
    if (old_size_p != NULL)
        *old_size_p = out.old_size;
    if (created_p != NULL)
        *created_p = out.created;
    if (old_ino_p != NULL)
        *old_ino_p = out.old_ino;
    return 0;
}

/* --- unlink / inode_del ------------------------------------------------- */

/* Remove the file at path if its ino is `ino` (0 = any); `keep`: move its
 * record to the orphan table instead of deleting it. */
static int meta_unlink_op(struct meta *m, const char *path, size_t len, uint64_t ino, bool keep,
                          struct meta_attr *attr)
{
    uint8_t key[META_KEY_LEN];
    int rc;

    rc = meta_file_get(m, path, len, key, attr);
    if (rc != 0)
        return rc;
    if (ino != 0 && attr->ino != ino)
        return -ESTALE;
    rc = meta_file_drop(m, path, len, key);
    if (rc == 0 && keep)
        rc = meta_orphan_put(m, attr);
    return rc;
}

static int meta_unlink_ino(struct meta *m, const char *path, size_t len, uint64_t ino, bool keep,
                           struct meta_attr *attr_p)
{
    struct meta_attr attr;
    int rc;

    if (!meta_path_ok(path, len))
        return -EINVAL;
    if (meta_is_root(path, len))
        return -EISDIR;
    rc = meta_wbegin(m, keep ? 3 : 2, keep ? META_REC_LEN(META_ORPHAN_PATH_MAX) : 0, false);
    if (rc != 0)
        return rc;
    rc = meta_wend(m, meta_unlink_op(m, path, len, ino, keep, &attr));
    if (rc == 0 && attr_p != NULL)
        *attr_p = attr;
    return rc;
}

int meta_unlink(struct meta *m, const char *path, size_t len, struct meta_attr *attr_p)
{
    return meta_unlink_ino(m, path, len, 0, false, attr_p);
}

int meta_unlink_keep(struct meta *m, const char *path, size_t len, bool keep,
                     struct meta_attr *attr_p)
{
    return meta_unlink_ino(m, path, len, 0, keep, attr_p);
}

int meta_inode_del(struct meta *m, const char *path, size_t len, uint64_t ino,
                   struct meta_attr *attr_p)
{
    return meta_unlink_ino(m, path, len, ino, false, attr_p);
}

/* --- rename ------------------------------------------------------------- */

struct meta_rename_out {
    struct meta_attr moved, replaced;
    bool has_replaced;
};

static int meta_rename_op(struct meta *m, const char *old_path, size_t old_len,
                          const char *new_path, size_t new_len, bool keep,
                          struct meta_rename_out *out)
{
    uint8_t okey[META_KEY_LEN], nkey[META_KEY_LEN], npkey[META_KEY_LEN];
    struct meta_attr attr, existing;
    const char *name;
    size_t name_len;
    int rc;

    rc = meta_file_get(m, old_path, old_len, okey, &attr);
    if (rc != 0)
        return rc;
    out->has_replaced = false;
    if (old_len == new_len && memcmp(old_path, new_path, old_len) == 0) {
        out->moved = attr; /* POSIX: same file, nothing to do */
        return 0;
    }
    if (meta_is_root(new_path, new_len))
        return -EISDIR;
    /* Also covers new under old ("/f" -> "/f/x"): the parent is a file. */
    rc = meta_parent_check(m, new_path, new_len, npkey, &name, &name_len);
    if (rc != 0)
        return rc;
    meta_key(new_path, new_len, nkey);
    rc = meta_rec_get(m, nkey, new_path, new_len, &existing);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        if (S_ISDIR(existing.mode))
            return -EISDIR;
        out->replaced = existing;
        out->has_replaced = true;
        if (keep) {
            rc = meta_orphan_put(m, &existing);
            if (rc != 0)
                return rc;
        }
    }

    rc = meta_file_drop(m, old_path, old_len, okey);
    if (rc != 0)
        return rc;
    attr.ctime_ns = time_real_ns();
    rc = meta_rec_put(m, nkey, new_path, new_len, &attr, false, NULL);
    if (rc != 0)
        return rc;
    rc = meta_child_put(m, npkey, name, name_len, nkey, false);
    if (rc != 0)
        return rc;
    /* drop took one file away; the moved one is back unless it replaced. */
    if (!out->has_replaced)
        m->files++;
    out->moved = attr;
    return 0;
}

int meta_rename(struct meta *m, const char *old_path, size_t old_len, const char *new_path,
                size_t new_len, struct meta_attr *moved_p, struct meta_attr *replaced_p,
                bool *has_replaced_p)
{
    return meta_rename_keep(m, old_path, old_len, new_path, new_len, false, moved_p, replaced_p,
                            has_replaced_p);
}

int meta_rename_keep(struct meta *m, const char *old_path, size_t old_len, const char *new_path,
                     size_t new_len, bool keep, struct meta_attr *moved_p,
                     struct meta_attr *replaced_p, bool *has_replaced_p)
{
    struct meta_rename_out out;
    int rc;

    memset(&out, 0, sizeof(out));
    if (!meta_path_ok(old_path, old_len) || !meta_path_ok(new_path, new_len))
        return -EINVAL;
    if (meta_is_root(old_path, old_len))
        return -EBUSY;
    rc =
        meta_wbegin(m, keep ? 5 : 4,
                    META_REC_LEN(new_len) + (keep ? META_REC_LEN(META_ORPHAN_PATH_MAX) : 0), false);
    if (rc != 0)
        return rc;
    rc = meta_wend(m, meta_rename_op(m, old_path, old_len, new_path, new_len, keep, &out));
    if (rc != 0)
        return rc;
    if (moved_p != NULL)
        *moved_p = out.moved;
    if (replaced_p != NULL && out.has_replaced)
        *replaced_p = out.replaced;
    if (has_replaced_p != NULL)
        *has_replaced_p = out.has_replaced;
    return 0;
}

/* --- inode_put ---------------------------------------------------------- */

static int meta_inode_put_op(struct meta *m, const char *path, size_t len,
                             const struct meta_attr *attr, bool noreplace, bool keep,
                             struct meta_rename_out *out)
{
    uint8_t pkey[META_KEY_LEN], key[META_KEY_LEN];
    struct meta_attr existing;
    const char *name;
    size_t name_len;
    bool existed;
    int rc;

    rc = meta_parent_check(m, path, len, pkey, &name, &name_len);
    if (rc != 0)
        return rc;
    meta_key(path, len, key);
    rc = meta_rec_get(m, key, path, len, &existing);
    if (rc < 0)
        return rc;
    existed = rc == 1;
    out->has_replaced = false;
    if (existed) {
        if (S_ISDIR(existing.mode))
            return -EISDIR;
        /* The same inode already there is a retried put, not a replacement:
         * reporting it as replaced would make the caller free the chunks of
         * the very file it is moving. */
        if (existing.ino != attr->ino) {
            if (noreplace)
                return -EEXIST;
            out->replaced = existing;
            out->has_replaced = true;
            if (keep) {
                rc = meta_orphan_put(m, &existing);
                if (rc != 0)
                    return rc;
            }
        }
    }
    rc = meta_rec_put(m, key, path, len, attr, false, NULL);
    if (rc != 0)
        return rc;
    rc = meta_child_put(m, pkey, name, name_len, key, false);
    if (rc != 0)
        return rc;
    if (!existed)
        m->files++;
    out->moved = *attr;
    return 0;
}

int meta_inode_put(struct meta *m, const char *path, size_t len, const struct meta_attr *attr,
                   bool noreplace, struct meta_attr *replaced_p, bool *has_replaced_p)
{
    return meta_inode_put_keep(m, path, len, attr, noreplace, false, replaced_p, has_replaced_p);
}

int meta_inode_put_keep(struct meta *m, const char *path, size_t len, const struct meta_attr *attr,
                        bool noreplace, bool keep, struct meta_attr *replaced_p,
                        bool *has_replaced_p)
{
    struct meta_rename_out out;
    int rc;

    memset(&out, 0, sizeof(out));
    if (!meta_path_ok(path, len))
        return -EINVAL;
    if (meta_is_root(path, len))
        return -EISDIR;
    if (S_ISDIR(attr->mode))
        return -EINVAL; /* directories are replicated, never moved this way */
    rc = meta_wbegin(m, keep ? 3 : 2,
                     META_REC_LEN(len) + (keep ? META_REC_LEN(META_ORPHAN_PATH_MAX) : 0), true);
    if (rc != 0)
        return rc;
    rc = meta_wend(m, meta_inode_put_op(m, path, len, attr, noreplace, keep, &out));
    if (rc != 0)
        return rc;
    if (replaced_p != NULL && out.has_replaced)
        *replaced_p = out.replaced;
    if (has_replaced_p != NULL)
        *has_replaced_p = out.has_replaced;
    return 0;
}

/* --- truncate / setsize ------------------------------------------------- */

struct meta_size_args {
    uint64_t ino; /* 0 = any */
    uint64_t size;
    uint64_t mtime_ns; /* 0 = now */
    bool exact;        /* set size and mtime as given */
};

static int meta_size_op(struct meta *m, const char *path, size_t len,
                        const struct meta_size_args *a, struct meta_attr *attr, uint64_t *old_size)
{
    uint8_t key[META_KEY_LEN];
    struct meta_attr cur;
    uint64_t t = a->mtime_ns ? a->mtime_ns : time_real_ns();
    int rc;

    rc = meta_file_get(m, path, len, key, &cur);
    if (rc == -EISDIR && a->ino != 0)
        return -ESTALE; /* the name now belongs to a directory */
    if (rc != 0)
        return rc;
    if (a->ino != 0 && cur.ino != a->ino)
        return -ESTALE;
    *old_size = cur.size;
    *attr = cur;
    if (a->exact) {
        attr->size = a->size;
        attr->mtime_ns = t;
    } else {
        /* Size and mtime pushes from several clients can arrive in any
         * order: both only grow. */
        if (a->size > attr->size)
            attr->size = a->size;
        if (t > attr->mtime_ns)
            attr->mtime_ns = t;
    }
    if (attr->mtime_ns > attr->ctime_ns)
        attr->ctime_ns = attr->mtime_ns;
    /* A close that changes nothing writes nothing: no page copied. */
    if (memcmp(attr, &cur, sizeof(cur)) == 0)
        return 0;
    return meta_rec_put(m, key, path, len, attr, false, NULL);
}

static int meta_size_set(struct meta *m, const char *path, size_t len,
                         const struct meta_size_args *a, struct meta_attr *attr_p,
                         uint64_t *old_size_p)
{
    struct meta_attr attr;
    uint64_t old_size = 0;
    int rc;

    if (!meta_path_ok(path, len) && !meta_orphan_path_ok(path, len))
        return -EINVAL;
    if (meta_is_root(path, len))
        return -EISDIR;
    rc = meta_wbegin(m, 1, META_REC_LEN(len), false);
    if (rc != 0)
        return rc;
    rc = meta_wend(m, meta_size_op(m, path, len, a, &attr, &old_size));
    if (rc != 0)
        return rc;
    if (attr_p != NULL)
        *attr_p = attr;
    if (old_size_p != NULL)
        *old_size_p = old_size;
    return 0;
}

int meta_truncate(struct meta *m, const char *path, size_t len, uint64_t size,
                  struct meta_attr *attr_p, uint64_t *old_size_p)
{
    return meta_truncate_ino(m, path, len, 0, size, attr_p, old_size_p);
}

int meta_truncate_ino(struct meta *m, const char *path, size_t len, uint64_t ino, uint64_t size,
                      struct meta_attr *attr_p, uint64_t *old_size_p)
{
    struct meta_size_args a = {.ino = ino, .size = size, .mtime_ns = 0, .exact = true};

    return meta_size_set(m, path, len, &a, attr_p, old_size_p);
}

int meta_setsize(struct meta *m, const char *path, size_t len, uint64_t ino, uint64_t size,
                 uint64_t mtime_ns, bool exact, struct meta_attr *attr_p)
{
    struct meta_size_args a = {.ino = ino, .size = size, .mtime_ns = mtime_ns, .exact = exact};

    return meta_size_set(m, path, len, &a, attr_p, NULL);
}

/* --- orphans ------------------------------------------------------------ */

/*
 * An orphan is the record of a file that was unlinked (or renamed over)
 * while a client still had it open. It lives in the record table under the
 * key of "orphan:<ino as 16 hex digits>", a name no normalized path can
 * have, with no child entry: invisible to lookups and readdir, reachable
 * by inode number only, until the client releases it at its last close
 * (or `benchfs fsck` finds it after that client died).
 */

size_t meta_orphan_path(uint64_t ino, char buf[META_ORPHAN_PATH_MAX])
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    memcpy(buf, META_ORPHAN_PREFIX, sizeof(META_ORPHAN_PREFIX) - 1);
    for (i = 0; i < 16; i++)
        buf[sizeof(META_ORPHAN_PREFIX) - 1 + i] = hex[(ino >> (60 - 4 * i)) & 0xf];
    buf[META_ORPHAN_PATH_MAX - 1] = '\0';
    return META_ORPHAN_PATH_MAX - 1;
}

bool meta_orphan_path_ok(const char *path, size_t len)
{
    size_t i, plen = sizeof(META_ORPHAN_PREFIX) - 1;

    if (len != META_ORPHAN_PATH_MAX - 1 || memcmp(path, META_ORPHAN_PREFIX, plen) != 0)
        return false;
    for (i = plen; i < len; i++) {
        if (!((path[i] >= '0' && path[i] <= '9') || (path[i] >= 'a' && path[i] <= 'f')))
            return false;
    }
    return true;
}

int meta_orphan_put(struct meta *m, const struct meta_attr *attr)
{
    char path[META_ORPHAN_PATH_MAX];
    uint8_t key[META_KEY_LEN];
    size_t len = meta_orphan_path(attr->ino, path);
    struct meta_attr a = *attr;

    a.nlink = 0;
    meta_key(path, len, key);
    return meta_rec_put(m, key, path, len, &a, false, NULL);
}

int meta_stat_ino(struct meta *m, const char *path, size_t len, uint64_t ino,
                  struct meta_attr *attr_p)
{
    uint8_t key[META_KEY_LEN];
    struct meta_attr attr;
    MDB_txn *txn;
    int rc;

    if (!meta_path_ok(path, len) && !meta_orphan_path_ok(path, len))
        return -EINVAL;
    rc = meta_txn_get(m, &txn);
    if (rc != 0)
        return rc;
    rc = meta_file_get(m, path, len, key, &attr);
    if (rc == -EISDIR)
        return -ESTALE;
    if (rc != 0)
        return rc;
    if (ino != 0 && attr.ino != ino)
        return -ESTALE;
    if (attr_p != NULL)
        *attr_p = attr;
    return 0;
}

/* Delete the orphan record at its key path, returning its attributes. */
static int meta_orphan_release_op(struct meta *m, const char *path, size_t len,
                                  struct meta_attr *attr)
{
    uint8_t key[META_KEY_LEN];
    int rc;

    rc = meta_file_get(m, path, len, key, attr);
    if (rc != 0)
        return rc;
    rc = meta_rec_del(m, key);
    if (rc == 0)
        rc = meta_orphan_holder_del(m, attr->ino);
    return rc;
}

int meta_orphan_release(struct meta *m, uint64_t ino, struct meta_attr *attr_p)
{
    char path[META_ORPHAN_PATH_MAX];
    size_t len = meta_orphan_path(ino, path);
    struct meta_attr attr;
    int rc;

    rc = meta_wbegin(m, 2, 0, false);
    if (rc != 0)
        return rc;
    rc = meta_wend(m, meta_orphan_release_op(m, path, len, &attr));
    if (rc == 0 && attr_p != NULL)
        *attr_p = attr;
    return rc;
}

/* --- listing (fsck) ------------------------------------------------------ */

int meta_ino_list(struct meta *m, const uint8_t after[16], bool start, uint64_t *inos, size_t max,
                  size_t *n_p, uint8_t next[16], bool *done_p)
{
    struct meta_rec_hdr hdr;
    MDB_cursor *cur;
    MDB_val k, v;
    MDB_txn *txn;
    size_t n = 0, visits = 0;
    bool done = false;
    int rc;

    if (max == 0)
        return -EINVAL;
    rc = meta_txn_get(m, &txn);
    if (rc != 0)
        return rc;
    rc = mdb_cursor_open(txn, m->dbi_rec, &cur);
    if (rc != 0)
        return meta_mdb_err(rc);
    /* Records are ordered by key (the path hash): the cursor is the last key
     * returned, so pages go on where the previous one stopped even while
     * files come and go. */
    k.mv_data = (void *)after;
    k.mv_size = META_KEY_LEN;
    rc = mdb_cursor_get(cur, &k, &v, start ? MDB_FIRST : MDB_SET_RANGE);
    if (rc == 0 && !start && memcmp(k.mv_data, after, META_KEY_LEN) == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    /* Directories take no slot: bound the records one page may visit. */
    while (n < max && visits++ < 16 * max) {
        if (rc == MDB_NOTFOUND) {
            done = true;
            rc = 0;
            break;
        }
        if (rc != 0) {
            rc = meta_mdb_err(rc);
            break;
        }
        if (k.mv_size != META_KEY_LEN || v.mv_size < sizeof(hdr)) {
            rc = -EIO;
            break;
        }
        memcpy(&hdr, v.mv_data, sizeof(hdr));
        if (hdr.version != META_FORMAT_VERSION) {
            rc = -EIO;
            break;
        }
        if (S_ISREG(hdr.attr.mode))
            inos[n++] = hdr.attr.ino;
        memcpy(next, k.mv_data, META_KEY_LEN);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND) {
        done = true;
        rc = 0;
    }
    mdb_cursor_close(cur);
    if (rc != 0)
        return rc;
    *n_p = n;
    *done_p = done;
    return 0;
}
