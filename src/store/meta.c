/*
 * meta.c - the metadata store's core (meta.h): the LMDB environment (open,
 * flush, close), keys and the record / child-index primitives that
 * meta_dir.c and meta_file.c build on, lookup and counters. Transactions,
 * group commit, full-map handling and inode numbers are in meta_txn.c.
 *
 * Environment flags. MDB_WRITEMAP: a commit writes the shared mapping in
 * place instead of pwrite()ing every dirty page, the cheapest commit LMDB
 * has, and committed data survives a crash of this process (the page cache
 * holds it); the price, SIGBUS when the disk is full, is handled by
 * preallocation (meta_txn.c, "Disk full"). MDB_NORDAHEAD: keys are hashes,
 * access is random, readahead only wastes page cache. MDB_NOTLS: harmless
 * with one thread.
 */
#include "store/meta_priv.h"

#include "common/config.h"
#include "common/path.h"
#include "common/timeutil.h"
#include "store/store_fs.h"

#include <errno.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

_Static_assert(sizeof(struct meta_rec_hdr) == 72, "record header layout");

#define META_DEFAULT_MAP_SIZE   (UINT64_C(4) << 30) /* config default */
#define META_DEFAULT_CHUNK_SIZE (UINT64_C(4) << 20) /* config default */
#define META_MAX_READERS        1024

void meta_ino_key(uint64_t ino, uint8_t key[8])
{
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(ino >> (56 - 8 * i));
}

uint64_t meta_key_ino(const uint8_t key[8])
{
    uint64_t ino = 0;

    for (int i = 0; i < 8; i++)
        ino = (ino << 8) | key[i];
    return ino;
}

int meta_mdb_err(int rc)
{
    if (rc == 0)
        return 0;
    if (rc > 0)
        return -rc; /* LMDB passes errno values through */
    switch (rc) {
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_PAGE_FULL:
    case MDB_DBS_FULL:
    case MDB_READERS_FULL:
        return -ENOSPC;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_KEYEXIST:
        return -EEXIST;
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return -EINVAL;
    default:
        return -EIO; /* corruption, bad txn, ... */
    }
}

void meta_key(const char *path, size_t len, uint8_t key[META_KEY_LEN])
{
    XXH128_canonical_t c;

    XXH128_canonicalFromHash(&c, XXH3_128bits(path, len));
    memcpy(key, c.digest, META_KEY_LEN);
}

uint64_t meta_dir_ino(const uint8_t key[META_KEY_LEN])
{
    uint64_t ino = 0;
    int i;

    /* Low 64 bits of the path hash (bytes 8..15 of the big-endian form). */
    for (i = 8; i < 16; i++)
        ino = (ino << 8) | key[i];
    return ino == 0 ? 1 : ino;
}

/* --- records ------------------------------------------------------------ */

int meta_rec_decode(const MDB_val *v, const char *path, size_t len, struct meta_attr *attr)
{
    struct meta_rec_hdr hdr;

    if (v->mv_size < sizeof(hdr))
        return -EIO;
    memcpy(&hdr, v->mv_data, sizeof(hdr));
    if (hdr.version != META_FORMAT_VERSION || hdr.path_len != v->mv_size - sizeof(hdr))
        return -EIO;
    /* Another path with the same 128-bit hash: never serve its record. */
    if (path != NULL &&
        (hdr.path_len != len || memcmp((const char *)v->mv_data + sizeof(hdr), path, len) != 0))
        return -EIO;
    if (attr != NULL)
        *attr = hdr.attr;
    return 1;
}

int meta_rec_read(MDB_txn *txn, MDB_dbi dbi_rec, const uint8_t key[META_KEY_LEN], const char *path,
                  size_t len, struct meta_attr *attr, const char **rp_p, size_t *rlen_p)
{
    MDB_val k = {META_KEY_LEN, (void *)key}, v;
    int rc = mdb_get(txn, dbi_rec, &k, &v);

    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return meta_mdb_err(rc);
    rc = meta_rec_decode(&v, path, len, attr);
    if (rc > 0 && rp_p != NULL) {
        *rp_p = (const char *)v.mv_data + sizeof(struct meta_rec_hdr);
        *rlen_p = v.mv_size - sizeof(struct meta_rec_hdr);
    }
    return rc;
}

int meta_rec_get(struct meta *m, const uint8_t key[META_KEY_LEN], const char *path, size_t len,
                 struct meta_attr *attr)
{
    return meta_rec_read(m->txn, m->dbi_rec, key, path, len, attr, NULL, NULL);
}

int meta_rec_get_raw(struct meta *m, const uint8_t key[META_KEY_LEN], const char **path_p,
                     size_t *len_p, struct meta_attr *attr)
{
    return meta_rec_read(m->txn, m->dbi_rec, key, NULL, 0, attr, path_p, len_p);
}

int meta_rec_put(struct meta *m, const uint8_t key[META_KEY_LEN], const char *path, size_t len,
                 const struct meta_attr *attr, bool noreplace, struct meta_attr *old_p)
{
    MDB_val k = {META_KEY_LEN, (void *)key}, v = {sizeof(struct meta_rec_hdr) + len, NULL};
    struct meta_rec_hdr hdr;
    int rc;

    /* MDB_RESERVE: LMDB makes room in the (write-mapped) page and we fill it
     * in place, saving a copy of up to 4 KiB of path through a buffer. */
    rc = mdb_put(m->txn, m->dbi_rec, &k, &v, MDB_RESERVE | (noreplace ? MDB_NOOVERWRITE : 0));
    if (rc == MDB_KEYEXIST) {
        /* v now points at the existing value: the caller gets it for free,
         * without a separate lookup before the insert. */
        rc = meta_rec_decode(&v, path, len, old_p);
        return rc < 0 ? rc : 1;
    }
    if (rc != 0) {
        m->txn_failed = true;
        return meta_mdb_err(rc);
    }
    memset(&hdr, 0, sizeof(hdr));
    hdr.version = META_FORMAT_VERSION;
    hdr.path_len = (uint32_t)len;
    hdr.attr = *attr;
    memcpy(v.mv_data, &hdr, sizeof(hdr));
    memcpy((char *)v.mv_data + sizeof(hdr), path, len);
    m->txn_writes++;
    return 0;
}

int meta_del(struct meta *m, MDB_dbi dbi, MDB_val *k)
{
    int rc;

    rc = mdb_del(m->txn, dbi, k, NULL);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0) {
        m->txn_failed = true;
        return meta_mdb_err(rc);
    }
    m->txn_writes++;
    return 0;
}

int meta_rec_del(struct meta *m, const uint8_t key[META_KEY_LEN])
{
    MDB_val k = {META_KEY_LEN, (void *)key};

    return meta_del(m, m->dbi_rec, &k);
}

static size_t meta_child_key(uint8_t *buf, const uint8_t pkey[META_KEY_LEN], const char *name,
                             size_t name_len)
{
    memcpy(buf, pkey, META_KEY_LEN);
    memcpy(buf + META_KEY_LEN, name, name_len);
    return META_KEY_LEN + name_len;
}

int meta_child_put(struct meta *m, const uint8_t pkey[META_KEY_LEN], const char *name,
                   size_t name_len, const uint8_t ckey[META_KEY_LEN], bool is_dir)
{
    uint8_t kbuf[META_CHILD_KEY_MAX];
    struct meta_child_val cv;
    MDB_val k, v = {sizeof(cv), &cv};
    int rc;

    if (name_len == 0 || name_len > BFS_NAME_MAX)
        return -EINVAL;
    k.mv_data = kbuf;
    k.mv_size = meta_child_key(kbuf, pkey, name, name_len);
    memcpy(cv.key, ckey, META_KEY_LEN);
    cv.is_dir = is_dir;
    rc = mdb_put(m->txn, m->dbi_child, &k, &v, 0);
    if (rc != 0) {
        m->txn_failed = true;
        return meta_mdb_err(rc);
    }
    m->txn_writes++;
    return 0;
}

int meta_child_del(struct meta *m, const uint8_t pkey[META_KEY_LEN], const char *name,
                   size_t name_len)
{
    uint8_t kbuf[META_CHILD_KEY_MAX];
    MDB_val k;

    if (name_len == 0 || name_len > BFS_NAME_MAX)
        return -EINVAL;
    k.mv_data = kbuf;
    k.mv_size = meta_child_key(kbuf, pkey, name, name_len);
    return meta_del(m, m->dbi_child, &k);
}

int meta_parent_check(struct meta *m, const char *path, size_t len, uint8_t pkey[META_KEY_LEN],
                      const char **name_p, size_t *name_len_p)
{
    struct meta_attr pattr;
    const char *name;
    size_t plen;
    int rc;

    /* path_split also rejects paths that are not normalized. */
    rc = path_split(path, len, &plen, &name);
    if (rc != 0)
        return rc;
    if (m->pcache_valid && plen == m->pcache_len && memcmp(path, m->pcache_path, plen) == 0) {
        memcpy(pkey, m->pcache_key, META_KEY_LEN);
        if (meta_removing_has(m, pkey))
            return -ENOENT;
        *name_p = name;
        *name_len_p = (size_t)(path + len - name);
        return 0;
    }
    meta_key(path, plen, pkey);
    rc = meta_rec_get(m, pkey, path, plen, &pattr);
    if (rc < 0)
        return rc;
    if (rc == 0 || meta_removing_has(m, pkey))
        return -ENOENT;
    if (!S_ISDIR(pattr.mode))
        return -ENOTDIR;
    memcpy(m->pcache_path, path, plen);
    memcpy(m->pcache_key, pkey, META_KEY_LEN);
    m->pcache_len = plen;
    m->pcache_valid = true;
    *name_p = name;
    *name_len_p = (size_t)(path + len - name);
    return 0;
}

/* --- open / close ------------------------------------------------------- */

static int meta_sys_get(struct meta *m, const char *name, void *val, size_t len, bool *found_p)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc;

    rc = mdb_get(m->txn, m->dbi_sys, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *found_p = false;
        return 0;
    }
    if (rc != 0)
        return meta_mdb_err(rc);
    if (v.mv_size != len)
        return -EIO;
    memcpy(val, v.mv_data, len);
    *found_p = true;
    return 0;
}

/* Open the named DBs, check or write the format, load the counters and
 * make sure "/" exists. Runs in one transaction of its own. */
static int meta_load(struct meta *m, char *err, size_t errlen)
{
    static const char root[] = "/";
    uint32_t format = META_FORMAT_VERSION;
    uint64_t counts[2], now;
    uint8_t key[META_KEY_LEN];
    struct meta_attr attr;
    bool found = false;
    int rc;

    rc = meta_txn_begin(m);
    if (rc != 0)
        goto err_msg;
    rc = meta_mdb_err(mdb_dbi_open(m->txn, "rec", MDB_CREATE, &m->dbi_rec));
    if (rc == 0)
        rc = meta_mdb_err(mdb_dbi_open(m->txn, "child", MDB_CREATE, &m->dbi_child));
    if (rc == 0)
        rc = meta_mdb_err(mdb_dbi_open(m->txn, "sys", MDB_CREATE, &m->dbi_sys));
    /* Made by the first open of this build: a store written before has no
     * holders (its orphans are reported with an unknown holder). */
    if (rc == 0)
        rc = meta_mdb_err(mdb_dbi_open(m->txn, "orphan", MDB_CREATE, &m->dbi_orphan));
    if (rc == 0)
        rc = meta_mdb_err(mdb_dbi_open(m->txn, "small", MDB_CREATE, &m->dbi_small));
    if (rc != 0)
        goto err_abort;

    rc = meta_sys_get(m, META_SYS_FORMAT, &format, sizeof(format), &found);
    if (rc != 0)
        goto err_abort;
    if (!found) {
        rc = meta_sys_put(m, META_SYS_FORMAT, &format, sizeof(format));
        if (rc != 0)
            goto err_abort;
    } else if (format != META_FORMAT_VERSION) {
        snprintf(err, errlen, "metadata format %u, this build reads %u", format,
                 META_FORMAT_VERSION);
        rc = -EINVAL;
        goto err_abort_quiet;
    }

    /* Continue after the last reservation: numbers below it may have been
     * handed out by a pass that was never committed. */
    rc = meta_sys_get(m, META_SYS_INO, &m->ino_reserved, sizeof(m->ino_reserved), &found);
    if (rc != 0)
        goto err_abort;
    if (!found)
        m->ino_reserved = 1; /* counter 0 is never used: ino 0 means "any" */
    m->next_ino = m->ino_reserved;

    /* Spread marks exist for inodes numbered from here on: the first open
     * by a build that keeps them records where they start (older inodes
     * count as spread: their chunks may be anywhere). */
    rc = meta_sys_get(m, META_SYS_SPREAD, &m->spread_from, sizeof(m->spread_from), &found);
    if (rc == 0 && found) {
        /* The counter end this build last reserved: an older build that ran
         * since numbered inodes past it without marks. */
        uint64_t seen = 0;

        rc = meta_sys_get(m, META_SYS_SPREAD_SEEN, &seen, sizeof(seen), &found);
        if (rc == 0 && (!found || seen < m->ino_reserved))
            found = false;
    }
    if (rc == 0 && !found) {
        if (m->spread_from < m->ino_reserved)
            m->spread_from = m->ino_reserved;
        rc = meta_sys_put(m, META_SYS_SPREAD, &m->spread_from, sizeof(m->spread_from));
        if (rc == 0)
            rc = meta_sys_put(m, META_SYS_SPREAD_SEEN, &m->ino_reserved, sizeof(m->ino_reserved));
    }
    if (rc != 0)
        goto err_abort;

    rc = meta_sys_get(m, META_SYS_COUNTS, counts, sizeof(counts), &found);
    if (rc != 0)
        goto err_abort;
    m->files = found ? counts[0] : 0;
    m->dirs = found ? counts[1] : 0;
    m->txn_files = m->files;
    m->txn_dirs = m->dirs;

    meta_key(root, 1, key);
    rc = meta_rec_get(m, key, root, 1, NULL);
    if (rc < 0)
        goto err_abort;
    if (rc == 0) {
        now = time_real_ns();
        memset(&attr, 0, sizeof(attr));
        attr.ino = meta_dir_ino(key);
        attr.mode = S_IFDIR | 0755;
        attr.nlink = 2;
        attr.atime_ns = attr.mtime_ns = attr.ctime_ns = now;
        rc = meta_rec_put(m, key, root, 1, &attr, false, NULL);
        if (rc != 0)
            goto err_abort;
        m->dirs++;
    }
    /* Commit even when nothing changed: the DB handles opened in this
     * transaction survive only a commit (an abort closes them). */
    m->txn_writes++;
    rc = meta_txn_commit(m);
    if (rc != 0)
        goto err_msg;
    return 0;

err_abort:
    snprintf(err, errlen, "cannot initialize metadata store: %s", strerror(-rc));
err_abort_quiet:
    meta_txn_abort(m);
    return rc;
err_msg:
    snprintf(err, errlen, "cannot initialize metadata store: %s", strerror(-rc));
    return rc;
}

int meta_open(const char *dir, const struct meta_opts *opts, struct meta **meta_p, char *err,
              size_t errlen)
{
    unsigned flags = MDB_WRITEMAP | MDB_NOTLS | MDB_NORDAHEAD;
    struct meta *m;
    MDB_envinfo info;
    MDB_stat st;
    int rc;

    if (opts->durability < DURABILITY_NONE || opts->durability > DURABILITY_ALWAYS) {
        snprintf(err, errlen, "bad durability %d", opts->durability);
        return -EINVAL;
    }
    rc = store_mkdir_p(dir, 0700, err, errlen);
    if (rc != 0)
        return rc;
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    m->pcache_path = malloc(BFS_PATH_MAX);
    m->small_buf = malloc(META_SMALL_MAX);
    if (m->pcache_path == NULL || m->small_buf == NULL) {
        snprintf(err, errlen, "out of memory");
        free(m->pcache_path);
        free(m->small_buf);
        free(m);
        return -ENOMEM;
    }
    m->durability = opts->durability;
    {
        /* On tmpfs/ramfs the metadata lives in RAM: a sync protects against
         * nothing (power loss takes it all, a crashed process loses nothing
         * of what was committed), and msync of the whole map costs tens of
         * microseconds per close. Run as durability none there. */
        struct statfs sfs;

        if (m->durability != DURABILITY_NONE && statfs(dir, &sfs) == 0 &&
            (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC)) {
            m->durability = DURABILITY_NONE;
            m->syncs_skipped = true;
        }
    }
    m->node_tag = opts->node_tag;
    m->default_chunk_size =
        opts->default_chunk_size ? opts->default_chunk_size : META_DEFAULT_CHUNK_SIZE;

    /*
     * With MDB_WRITEMAP syncing is msync(MS_SYNC), per durability:
     *   none    never sync (MAPASYNC also makes any sync asynchronous);
     *   fsync,
     *   close   no sync at commit, mdb_env_sync(force) in meta_flush(sync)
     *           (the server asks for it at fsync, and with close at close);
     *   always  LMDB syncs every commit.
     */
    if (m->durability == DURABILITY_NONE)
        flags |= MDB_NOSYNC | MDB_NOMETASYNC | MDB_MAPASYNC;
    else if (m->durability == DURABILITY_FSYNC || m->durability == DURABILITY_CLOSE)
        flags |= MDB_NOSYNC;

    rc = mdb_env_create(&m->env);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create LMDB environment: %s", mdb_strerror(rc));
        rc = meta_mdb_err(rc);
        goto err_free;
    }
    rc = mdb_env_set_mapsize(m->env, opts->map_size ? opts->map_size : META_DEFAULT_MAP_SIZE);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(m->env, 5);
    /* Client processes of this host read the store too (meta_reader.c):
     * one slot each (a lock file of 64 KiB). */
    if (rc == 0)
        rc = mdb_env_set_maxreaders(m->env, META_MAX_READERS);
    if (rc == 0)
        rc = mdb_env_open(m->env, dir, flags, 0600);
    if (rc == 0)
        rc = mdb_env_stat(m->env, &st);
    if (rc == 0)
        rc = mdb_env_info(m->env, &info);
    if (rc == 0)
        rc = mdb_env_get_fd(m->env, &m->fd);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open LMDB environment in %s: %s", dir, mdb_strerror(rc));
        rc = meta_mdb_err(rc);
        goto err_close; /* mdb_env_close is required even after a failed open */
    }
    m->psize = st.ms_psize;
    m->map_pages = (uint64_t)info.me_mapsize / m->psize;
    /* Pages written so far have blocks; the window past them comes with
     * the first transaction (meta_txn.c). */
    m->alloc_end = (uint64_t)info.me_last_pgno + 1;
    m->window_pages = meta_window_min_pages(m);

    rc = meta_load(m, err, errlen);
    if (rc != 0)
        goto err_close;
    *meta_p = m;
    return 0;

err_close:
    mdb_env_close(m->env);
err_free:
    free(m->pcache_path);
    free(m->small_buf);
    free(m);
    return rc;
}

bool meta_small_changed(const struct meta *m)
{
    return m->small_changed;
}

int meta_flush(struct meta *m, bool sync)
{
    int rc = 0, src;

    m->small_changed = false;
    if (m->txn != NULL)
        rc = meta_txn_commit(m);
    if (m->lost != 0) {
        /* An earlier op of this pass made LMDB drop the whole transaction. */
        if (rc == 0)
            rc = m->lost;
        m->lost = 0;
    }
    /* Nothing committed since the last sync means nothing to sync: a pass
     * of closes costs one msync at most, and none when idle. */
    if (sync && m->durability != DURABILITY_NONE && m->unsynced) {
        src = mdb_env_sync(m->env, 1);
        if (src != 0 && rc == 0)
            rc = meta_mdb_err(src);
        if (src == 0)
            m->unsynced = false;
    }
    return rc;
}

int meta_sync(struct meta *m)
{
    return meta_flush(m, true);
}

void meta_close(struct meta *m)
{
    if (m == NULL)
        return;
    (void)meta_flush(m, true);
    mdb_env_close(m->env);
    meta_removing_free(m);
    free(m->pcache_path);
    free(m->small_buf);
    free(m);
}

/* --- queries ------------------------------------------------------------ */

int meta_lookup(struct meta *m, const char *path, size_t len, struct meta_attr *attr_p)
{
    uint8_t key[META_KEY_LEN];
    struct meta_attr attr;
    MDB_txn *txn;
    int rc;

    if (!meta_path_ok(path, len))
        return -EINVAL;
    rc = meta_txn_get(m, &txn);
    if (rc != 0)
        return rc;
    meta_key(path, len, key);
    rc = meta_rec_get(m, key, path, len, &attr);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return -ENOENT;
    if (attr_p != NULL)
        *attr_p = attr;
    return 0;
}

void meta_counts(struct meta *m, uint64_t *files_p, uint64_t *dirs_p)
{
    if (files_p != NULL)
        *files_p = m->files;
    if (dirs_p != NULL)
        *dirs_p = m->dirs;
}

bool meta_syncs_skipped(const struct meta *m)
{
    return m->syncs_skipped;
}
