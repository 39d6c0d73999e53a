/*
 * meta_orphan.c - the holders of orphan records (meta.h).
 *
 * An orphan record (meta_file.c) keeps the inode of a file that its client
 * unlinked or replaced while it had it open. Its holder is that client; when
 * the holder dies before its last close, nobody else will ever release the
 * record, so the server (src/server/orphans.c) and `benchfs fsck` need to
 * know who it was. The holder lives in a database of its own ("orphan",
 * keyed by inode number, meta_priv.h) rather than in the record: the record
 * format stays what it was, a store written before holders existed opens
 * as it is, and listing the orphans walks this small table instead of every
 * record of the store.
 */
#include "store/meta_priv.h"

#include <errno.h>
#include <string.h>

/* The orphan record of ino: 1 and its attributes, 0 when none, or -errno. */
static int meta_orphan_rec(struct meta *m, uint64_t ino, struct meta_attr *attr)
{
    char path[META_ORPHAN_PATH_MAX];
    uint8_t key[META_KEY_LEN];
    size_t len = meta_orphan_path(ino, path);

    meta_key(path, len, key);
    return meta_rec_get(m, key, path, len, attr);
}

static int meta_orphan_holder_op(struct meta *m, uint64_t ino, const struct meta_holder *holder)
{
    struct meta_holder_val val;
    struct meta_attr attr;
    uint8_t key[8];
    MDB_val k = {sizeof(key), key}, v = {sizeof(val), &val};
    int rc;

    rc = meta_orphan_rec(m, ino, &attr);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return -ENOENT;
    memset(&val, 0, sizeof(val));
    val.version = META_FORMAT_VERSION;
    val.holder = *holder;
    meta_ino_key(ino, key);
    rc = mdb_put(m->txn, m->dbi_orphan, &k, &v, 0);
    if (rc != 0) {
        m->txn_failed = true;
        return meta_mdb_err(rc);
    }
    m->txn_writes++;
    return 0;
}

int meta_orphan_holder_set(struct meta *m, uint64_t ino, const struct meta_holder *holder)
{
    int rc;

    if (ino == 0 || holder == NULL)
        return -EINVAL;
    rc = meta_wbegin(m, 1, sizeof(struct meta_holder_val), false);
    if (rc != 0)
        return rc;
    return meta_wend(m, meta_orphan_holder_op(m, ino, holder));
}

int meta_orphan_holder_del(struct meta *m, uint64_t ino)
{
    uint8_t key[8];
    MDB_val k = {sizeof(key), key};

    meta_ino_key(ino, key);
    return meta_del(m, m->dbi_orphan, &k);
}

int meta_orphan_each(struct meta *m, meta_orphan_cb_t cb, void *arg)
{
    struct meta_holder_val val;
    struct meta_attr attr;
    MDB_cursor *cur;
    MDB_txn *txn;
    MDB_val k, v;
    int rc, mrc;

    rc = meta_txn_get(m, &txn);
    if (rc != 0)
        return rc;
    mrc = mdb_cursor_open(txn, m->dbi_orphan, &cur);
    if (mrc != 0)
        return meta_mdb_err(mrc);
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t ino;

        if (k.mv_size != 8 || v.mv_size != sizeof(val)) {
            rc = -EIO;
            break;
        }
        memcpy(&val, v.mv_data, sizeof(val));
        if (val.version != META_FORMAT_VERSION) {
            rc = -EIO;
            break;
        }
        ino = meta_key_ino(k.mv_data);
        /* The record and its holder are written and deleted in one
         * transaction; a holder without a record would be a bug, and is
         * skipped rather than reported as an orphan of nothing. */
        rc = meta_orphan_rec(m, ino, &attr);
        if (rc < 0)
            break;
        rc = rc == 1 ? cb(arg, &attr, &val.holder) : 0;
        if (rc != 0)
            break;
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = meta_mdb_err(mrc);
    mdb_cursor_close(cur);
    return rc;
}
