/*
 * meta_dir.c - directories in the metadata store (meta.h): mkdir, the
 * two-phase rmdir with its in-memory "removing" set, and paged readdir over
 * the child index.
 *
 * Directories live on every server (docs/design.md#namespace-and-placement), so a directory
 * record exists everywhere, while its child index entry ("owner") and the
 * entries of its own index exist only where the owning server put them.
 * rmdir is therefore two-phase across servers: prepare checks this server's
 * part of the directory is empty and blocks new entries; commit removes the
 * record; abort lifts the block. The block lives in memory only: a server
 * that restarts between prepare and commit has simply no pending rmdir, and
 * the coordinator's commit or abort still works (commit needs no prepare).
 */
#include "store/meta_priv.h"

#include "common/path.h"
#include "common/timeutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --- the removing set ----------------------------------------------------
 * A handful of entries at most (one per rmdir in progress), and usually
 * none, so a linear array beats any hash: the common check is n == 0. */

static size_t meta_removing_find(const struct meta *m, const uint8_t key[META_KEY_LEN])
{
    size_t i;

    for (i = 0; i < m->nremoving; i++)
        if (memcmp(m->removing[i].key, key, META_KEY_LEN) == 0)
            return i;
    return SIZE_MAX;
}

bool meta_removing_has(const struct meta *m, const uint8_t key[META_KEY_LEN])
{
    return m->nremoving != 0 && meta_removing_find(m, key) != SIZE_MAX;
}

static int meta_removing_add(struct meta *m, const uint8_t key[META_KEY_LEN])
{
    struct meta_removing *grown;
    size_t i = meta_removing_find(m, key), cap;

    if (i != SIZE_MAX) {
        m->removing[i].refs++;
        return 0;
    }
    if (m->nremoving == m->removing_cap) {
        cap = m->removing_cap ? m->removing_cap * 2 : 8;
        grown = realloc(m->removing, cap * sizeof(*grown));
        if (grown == NULL)
            return -ENOMEM;
        m->removing = grown;
        m->removing_cap = cap;
    }
    memcpy(m->removing[m->nremoving].key, key, META_KEY_LEN);
    m->removing[m->nremoving].refs = 1;
    m->nremoving++;
    return 0;
}

/* Drop one prepare of key (all of them with `all`). */
static void meta_removing_drop(struct meta *m, const uint8_t key[META_KEY_LEN], bool all)
{
    size_t i = meta_removing_find(m, key);

    if (i == SIZE_MAX)
        return;
    if (!all && --m->removing[i].refs > 0)
        return;
    m->removing[i] = m->removing[--m->nremoving];
}

void meta_removing_free(struct meta *m)
{
    free(m->removing);
    m->removing = NULL;
    m->nremoving = m->removing_cap = 0;
}

/* --- helpers ------------------------------------------------------------ */

/* 1 when the directory with key has entries in this server's index. */
static int meta_child_any(struct meta *m, const uint8_t key[META_KEY_LEN])
{
    MDB_cursor *cur;
    MDB_val k = {META_KEY_LEN, (void *)key}, v;
    int rc;

    rc = mdb_cursor_open(m->txn, m->dbi_child, &cur);
    if (rc != 0)
        return meta_mdb_err(rc);
    /* The bare 16-byte prefix sorts before every key that extends it. */
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return meta_mdb_err(rc);
    return k.mv_size > META_KEY_LEN && memcmp(k.mv_data, key, META_KEY_LEN) == 0;
}

/* The directory at path: 0, -ENOENT, -ENOTDIR or an error. */
static int meta_dir_get(struct meta *m, const char *path, size_t len, uint8_t key[META_KEY_LEN],
                        struct meta_attr *attr)
{
    int rc;

    meta_key(path, len, key);
    rc = meta_rec_get(m, key, path, len, attr);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return -ENOENT;
    return S_ISDIR(attr->mode) ? 0 : -ENOTDIR;
}

/* --- mkdir / rmdir ------------------------------------------------------ */

static int meta_mkdir_op(struct meta *m, const char *path, size_t len, uint32_t mode, uint32_t uid,
                         uint32_t gid, bool owner)
{
    uint8_t pkey[META_KEY_LEN], key[META_KEY_LEN];
    struct meta_attr attr;
    const char *name;
    size_t name_len;
    int rc;

    rc = meta_parent_check(m, path, len, pkey, &name, &name_len);
    if (rc != 0)
        return rc;
    meta_key(path, len, key);
    memset(&attr, 0, sizeof(attr));
    attr.ino = meta_dir_ino(key);
    attr.mode = S_IFDIR | (mode & 07777);
    attr.nlink = 2;
    attr.uid = uid;
    attr.gid = gid;
    attr.atime_ns = attr.mtime_ns = attr.ctime_ns = time_real_ns();
    /* Insert-if-absent does the existence check and the insert in one
     * B-tree descent; a file or a directory already there is EEXIST. */
    rc = meta_rec_put(m, key, path, len, &attr, true, NULL);
    if (rc != 0)
        return rc == 1 ? -EEXIST : rc;
    if (owner) {
        rc = meta_child_put(m, pkey, name, name_len, key, true);
        if (rc != 0)
            return rc;
    }
    m->dirs++;
    return 0;
}

int meta_mkdir(struct meta *m, const char *path, size_t len, uint32_t mode, uint32_t uid,
               uint32_t gid, bool owner)
{
    int rc;

    if (!meta_path_ok(path, len))
        return -EINVAL;
    if (meta_is_root(path, len))
        return -EEXIST;
    rc = meta_wbegin(m, owner ? 2 : 1, sizeof(struct meta_rec_hdr) + len, true);
    if (rc != 0)
        return rc;
    return meta_wend(m, meta_mkdir_op(m, path, len, mode, uid, gid, owner));
}

int meta_rmdir_prepare(struct meta *m, const char *path, size_t len)
{
    uint8_t key[META_KEY_LEN];
    struct meta_attr attr;
    MDB_txn *txn;
    int rc;

    if (!meta_path_ok(path, len))
        return -EINVAL;
    if (meta_is_root(path, len))
        return -EBUSY;
    rc = meta_txn_get(m, &txn);
    if (rc != 0)
        return rc;
    rc = meta_dir_get(m, path, len, key, &attr);
    if (rc != 0)
        return rc;
    rc = meta_child_any(m, key);
    if (rc != 0)
        return rc < 0 ? rc : -ENOTEMPTY;
    return meta_removing_add(m, key);
}

static int meta_rmdir_op(struct meta *m, const char *path, size_t len)
{
    uint8_t key[META_KEY_LEN], pkey[META_KEY_LEN];
    struct meta_attr attr;
    const char *name;
    size_t plen;
    int rc;

    rc = path_split(path, len, &plen, &name);
    if (rc != 0)
        return rc;
    rc = meta_dir_get(m, path, len, key, &attr);
    if (rc == -ENOENT)
        meta_removing_drop(m, key, true); /* nothing left to protect */
    if (rc != 0)
        return rc;
    rc = meta_child_any(m, key);
    if (rc != 0)
        return rc < 0 ? rc : -ENOTEMPTY;
    rc = meta_rec_del(m, key);
    if (rc != 0)
        return rc;
    meta_key(path, plen, pkey);
    rc = meta_child_del(m, pkey, name, (size_t)(path + len - name));
    if (rc != 0)
        return rc;
    meta_removing_drop(m, key, true);
    m->pcache_valid = false; /* it might be this directory */
    m->dirs--;
    return 0;
}

int meta_rmdir_commit(struct meta *m, const char *path, size_t len)
{
    int rc;

    if (!meta_path_ok(path, len))
        return -EINVAL;
    if (meta_is_root(path, len))
        return -EBUSY;
    rc = meta_wbegin(m, 2, 0, false);
    if (rc != 0)
        return rc;
    return meta_wend(m, meta_rmdir_op(m, path, len));
}

int meta_rmdir_abort(struct meta *m, const char *path, size_t len)
{
    uint8_t key[META_KEY_LEN];

    if (!meta_path_ok(path, len))
        return -EINVAL;
    meta_key(path, len, key);
    meta_removing_drop(m, key, false);
    return 0;
}

/* --- readdir ------------------------------------------------------------ */

/* Is the stored path rp[0..rlen) exactly dir + "/" + name? This is what a
 * child entry promises; anything else is a hash collision or corruption. */
static bool meta_child_path_ok(const char *rp, size_t rlen, const char *dir, size_t dlen,
                               const char *name, size_t nlen)
{
    size_t plen = meta_is_root(dir, dlen) ? 0 : dlen;

    return rlen == plen + 1 + nlen && memcmp(rp, dir, plen) == 0 && rp[plen] == '/' &&
           memcmp(rp + plen + 1, name, nlen) == 0;
}

int meta_readdir_txn(MDB_txn *txn, MDB_dbi dbi_rec, MDB_dbi dbi_child, const char *path, size_t len,
                     const char *cursor, size_t cursor_len, meta_readdir_cb_t cb, void *arg,
                     bool *done_p)
{
    uint8_t key[META_KEY_LEN], kbuf[META_CHILD_KEY_MAX];
    struct meta_child_val cv;
    struct meta_attr attr;
    MDB_cursor *cur;
    MDB_val k, v;
    const char *name, *rp;
    size_t name_len, rlen;
    bool done = false;
    int rc;

    /* The directory itself: -ENOENT, -ENOTDIR, as meta_dir_get. */
    meta_key(path, len, key);
    rc = meta_rec_read(txn, dbi_rec, key, path, len, &attr, NULL, NULL);
    if (rc <= 0)
        return rc < 0 ? rc : -ENOENT;
    if (!S_ISDIR(attr.mode))
        return -ENOTDIR;
    rc = mdb_cursor_open(txn, dbi_child, &cur);
    if (rc != 0)
        return meta_mdb_err(rc);

    /* Position at the first key >= prefix || cursor; skip the cursor's own
     * entry if it still exists (it was delivered on the previous page). */
    memcpy(kbuf, key, META_KEY_LEN);
    if (cursor_len > 0)
        memcpy(kbuf + META_KEY_LEN, cursor, cursor_len);
    k.mv_data = kbuf;
    k.mv_size = META_KEY_LEN + cursor_len;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && cursor_len > 0 && k.mv_size == META_KEY_LEN + cursor_len &&
        memcmp(k.mv_data, kbuf, k.mv_size) == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);

    for (;;) {
        if (rc != 0 && rc != MDB_NOTFOUND) {
            rc = meta_mdb_err(rc);
            break;
        }
        if (rc == MDB_NOTFOUND || k.mv_size <= META_KEY_LEN ||
            memcmp(k.mv_data, key, META_KEY_LEN) != 0) {
            done = true; /* past the end, or past this directory's range */
            rc = 0;
            break;
        }
        if (v.mv_size != sizeof(cv)) {
            rc = -EIO;
            break;
        }
        memcpy(&cv, v.mv_data, sizeof(cv));
        name = (const char *)k.mv_data + META_KEY_LEN;
        name_len = k.mv_size - META_KEY_LEN;
        /* Attributes come from the record: sizes change through setsize,
         * and the index is not rewritten for that. */
        rc = meta_rec_read(txn, dbi_rec, cv.key, NULL, 0, &attr, &rp, &rlen);
        if (rc == 0 || (rc > 0 && !meta_child_path_ok(rp, rlen, path, len, name, name_len)))
            rc = -EIO; /* dangling entry or collision */
        if (rc < 0)
            break;
        if (cb(arg, name, name_len, &attr) != 0) {
            rc = 0; /* stop; this entry is not consumed */
            break;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc == 0 && done_p != NULL)
        *done_p = done;
    return rc;
}

int meta_readdir(struct meta *m, const char *path, size_t len, const char *cursor,
                 size_t cursor_len, meta_readdir_cb_t cb, void *arg, bool *done_p)
{
    MDB_txn *txn;
    int rc;

    if (!meta_path_ok(path, len) || cursor_len > BFS_NAME_MAX || (cursor_len > 0 && cursor == NULL))
        return -EINVAL;
    rc = meta_txn_get(m, &txn);
    if (rc != 0)
        return rc;
    return meta_readdir_txn(txn, m->dbi_rec, m->dbi_child, path, len, cursor, cursor_len, cb, arg,
                            done_p);
}
