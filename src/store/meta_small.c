/*
 * meta_small.c - small chunks in the metadata store (meta.h;
 * docs/architecture.md#small-files).
 *
 * Chunk 0 of a file that never grew past a few KiB is kept here, in the
 * "small" database keyed by inode number, rather than in a chunk file of
 * its own: a file create, an unlink and an open per small file cost more
 * than the bytes (docs/performance.md). The chunk store decides what goes
 * here (src/store/chunk_small.c); this file only keeps the bytes, in the
 * pass's transaction like every other change, so they are committed before
 * any reply that announced them. Readers in other processes of the host
 * read them with meta_reader_small (meta_reader.c). The same database
 * holds the inode's spread mark (meta_spread) under a 9-byte key.
 */
#include "store/meta_priv.h"

#include <errno.h>
#include <string.h>

int meta_small_get(struct meta *m, uint64_t ino, const void **data_p, size_t *len_p)
{
    uint8_t key[8];
    MDB_val k = {sizeof(key), key}, v;
    MDB_txn *txn;
    int rc;

    rc = meta_txn_get(m, &txn);
    if (rc != 0)
        return rc;
    meta_ino_key(ino, key);
    rc = mdb_get(txn, m->dbi_small, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return meta_mdb_err(rc);
    if (v.mv_size > META_SMALL_MAX)
        return -EIO;
    *data_p = v.mv_data;
    *len_p = v.mv_size;
    return 1;
}

/* Write the value of ino: old[0..old_len) with buf[0..len) at off over it,
 * zeros in between. Inside an op. */
static int meta_small_write(struct meta *m, uint64_t ino, const void *old, size_t old_len,
                            uint64_t off, const void *buf, size_t len)
{
    uint8_t key[8];
    size_t end = (size_t)off + len, new_len = end > old_len ? end : old_len;
    MDB_val k = {sizeof(key), key}, v = {new_len, NULL};
    int rc;

    /* The old value lives in the map, and the put may move or reuse its
     * pages: copy it out first. */
    if (old_len > 0 && old != m->small_buf)
        memcpy(m->small_buf, old, old_len);
    meta_ino_key(ino, key);
    rc = mdb_put(m->txn, m->dbi_small, &k, &v, MDB_RESERVE);
    if (rc != 0) {
        m->txn_failed = true;
        return meta_mdb_err(rc);
    }
    m->txn_writes++;
    m->small_changed = true;
    if (old_len > 0)
        memcpy(v.mv_data, m->small_buf, old_len < off ? old_len : (size_t)off);
    if (off > old_len)
        memset((char *)v.mv_data + old_len, 0, (size_t)off - old_len);
    memcpy((char *)v.mv_data + off, buf, len);
    if (end < old_len)
        memcpy((char *)v.mv_data + end, m->small_buf + end, old_len - end);
    return 0;
}

int meta_small_put(struct meta *m, uint64_t ino, uint64_t off, const void *buf, size_t len)
{
    const void *old = NULL;
    size_t old_len = 0;
    int rc;

    if (ino == 0 || len == 0 || off > META_SMALL_MAX || len > META_SMALL_MAX - off)
        return -EINVAL;
    rc = meta_wbegin(m, 1, (size_t)off + len, true);
    if (rc != 0)
        return rc;
    rc = meta_small_get(m, ino, &old, &old_len);
    /* New small chunks only while the map is less than half full: the rest
     * is for records (a file's bytes can go to a chunk file instead). */
    if (rc == 0 && m->map_tail < m->map_pages / 2 && meta_free_pages(m) < m->map_pages / 2)
        rc = -ENOSPC;
    if (rc >= 0)
        rc = meta_small_write(m, ino, old, rc == 1 ? old_len : 0, off, buf, len);
    return meta_wend(m, rc);
}

int meta_small_trunc(struct meta *m, uint64_t ino, uint64_t len)
{
    const void *old = NULL;
    size_t old_len = 0;
    uint8_t key[8];
    MDB_val k = {sizeof(key), key};
    int rc;

    /* Every truncation and removal asks: only a cut opens a write. */
    rc = meta_small_get(m, ino, &old, &old_len);
    if (rc <= 0 || len >= old_len)
        return rc < 0 ? rc : 0;
    rc = meta_wbegin(m, 1, len < META_SMALL_MAX ? (size_t)len : META_SMALL_MAX, false);
    if (rc != 0)
        return rc;
    /* looked up again: the op may have begun a new transaction */
    rc = meta_small_get(m, ino, &old, &old_len);
    if (rc == 1 && len == 0) {
        meta_ino_key(ino, key);
        rc = meta_del(m, m->dbi_small, &k);
        m->small_changed = true;
    } else if (rc == 1 && len < old_len) {
        /* Rewrite the first len bytes as the whole value. */
        memcpy(m->small_buf, old, (size_t)len);
        rc = meta_small_write(m, ino, m->small_buf, 0, 0, m->small_buf, (size_t)len);
    } else if (rc >= 0) {
        rc = 0; /* nothing here, or nothing to cut */
    }
    return meta_wend(m, rc);
}

/* The spread mark of ino: its small key and one byte more, so that it
 * sorts right after the chunk's bytes and a listing finds both together. */
#define META_SPREAD_SUFFIX 's'

int meta_spread(struct meta *m, uint64_t ino, int op)
{
    uint8_t key[9];
    MDB_val k = {sizeof(key), key}, v = {0, NULL};
    MDB_txn *txn;
    int rc;

    if (ino == 0)
        return -EINVAL;
    meta_ino_key(ino, key);
    key[8] = META_SPREAD_SUFFIX;
    if (op == META_SPREAD_GET) {
        /* numbered here before marks were kept: may be anywhere */
        if ((ino >> 32) == m->node_tag && (ino & 0xffffffffull) < m->spread_from)
            return 1;
        rc = meta_txn_get(m, &txn);
        if (rc != 0)
            return rc;
        rc = mdb_get(txn, m->dbi_small, &k, &v);
        return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : meta_mdb_err(rc);
    }
    if (op == META_SPREAD_DEL) {
        /* Every removal asks: most inodes have no mark here. */
        rc = meta_txn_get(m, &txn);
        if (rc != 0)
            return rc;
        rc = mdb_get(txn, m->dbi_small, &k, &v);
        if (rc != 0)
            return rc == MDB_NOTFOUND ? 0 : meta_mdb_err(rc);
    }
    rc = meta_wbegin(m, 1, 0, op == META_SPREAD_SET);
    if (rc != 0)
        return rc;
    if (op == META_SPREAD_DEL) {
        rc = meta_del(m, m->dbi_small, &k);
    } else {
        v.mv_size = 0;
        v.mv_data = NULL;
        rc = mdb_put(m->txn, m->dbi_small, &k, &v, 0);
        if (rc != 0) {
            m->txn_failed = true;
            rc = meta_mdb_err(rc);
        } else {
            m->txn_writes++;
        }
    }
    m->small_changed = true;
    return meta_wend(m, rc);
}

size_t meta_small_list(struct meta *m, uint64_t after, uint64_t *inos, size_t max)
{
    uint8_t key[8];
    MDB_val k = {sizeof(key), key}, v;
    MDB_cursor *cur;
    MDB_txn *txn;
    size_t n = 0;
    int rc;

    if (max == 0 || after == UINT64_MAX || meta_txn_get(m, &txn) != 0 ||
        mdb_cursor_open(txn, m->dbi_small, &cur) != 0)
        return 0;
    meta_ino_key(after + 1, key);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t ino;

        if (k.mv_size != 8 && k.mv_size != 9)
            continue;
        ino = meta_key_ino(k.mv_data);
        if (n == 0 || inos[n - 1] != ino) /* bytes and mark: one entry */
            inos[n++] = ino;
    }
    mdb_cursor_close(cur);
    return n;
}
