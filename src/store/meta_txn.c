/*
 * meta_txn.c - transactions of the metadata store (meta.h): group commit,
 * operations near a full map, and inode number allocation.
 *
 * Group commit. The first operation of a loop pass begins one write
 * transaction; every later operation of the pass, reads included, runs in
 * it, and meta_flush() commits it. Reads use the write transaction rather
 * than a separate read-only one because (a) they must see the pass's
 * uncommitted changes anyway, and (b) the single-writer lock is uncontended
 * (one loop thread), so one begin + one commit per pass costs less than a
 * reader-slot renew/reset per lookup. A pass that only read is aborted, not
 * committed: nothing to write, no sync. A very long pass is committed every
 * META_TXN_MAX_OPS writing ops, which only makes it durable sooner.
 *
 * Map full. LMDB marks a transaction that hit MDB_MAP_FULL as failed and it
 * must be aborted, which would silently drop every earlier change of the
 * pass. So before each writing operation meta_wbegin() checks a
 * conservative bound -- pages the transaction may have taken so far plus
 * this op's worst case plus the commit's own needs -- against the unused
 * pages at the end of the map. If it does not fit, the pass so far is
 * committed and the op runs in a transaction of its own that it commits
 * itself ("isolated"); a MAP_FULL there loses only that op, which reports
 * -ENOSPC. The bound ignores LMDB's free list, so near the end of the map
 * the store merely goes slower. In that state an op that grows the store
 * is refused outright once the tail plus the free list would fall below a
 * reserve: a truly full LMDB cannot even delete (copy-on-write needs pages
 * before it frees any), and unlink/rmdir must keep working to make room.
 *
 * Disk full. With MDB_WRITEMAP, LMDB writes new pages through the map; a
 * page in a hole of the (sparse) data file needs a disk block at that
 * moment, and when the file system has none the process gets SIGBUS --
 * a dead server, because chunk data filled the disk. So the store keeps a
 * window past the data allocated with fallocate(2), and never lets a
 * transaction take more tail pages than are allocated: the room check
 * above counts only allocated pages. The window starts at META_PREALLOC_MIN
 * (an empty server takes 4 MiB of disk, not 32) and doubles, up to
 * META_PREALLOC_MAX, whenever a pass outgrows what is allocated, so busy
 * servers still commit whole passes. When fallocate fails
 * with ENOSPC, growing ops get -ENOSPC while the rest of the window stays
 * for unlink and rmdir, and the window is retried at each pass. (A file
 * system without fallocate falls back to the plain sparse file.)
 *
 * Inode numbers are (node_tag << 32) | counter. The counter is reserved in
 * blocks: the "sys" record holds the end of the reserved range, written in
 * a transaction of its own (and synced unless durability none) *before* any
 * number of the block is handed out. After any crash or restart the counter
 * continues at the end of the last reservation, so a number is never reused
 * even if the transaction that used it was lost -- chunks written under it
 * on other servers can never be mistaken for a new file's data.
 */
#include "store/meta_priv.h"

#include "common/config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

/* Inode counter values reserved per sys write: at 200k creates/s on one
 * server that is one (synced) reservation every ~0.3 s, and a restart skips
 * at most this many of the 2^32 numbers. */
#define META_INO_BLOCK UINT64_C(65536)
#define META_INO_LIMIT (UINT64_C(1) << 32)

/*
 * Worst-case pages one B-tree update can take in a transaction: a path of
 * copy-on-write pages from root to leaf (depth <= 6 here), each possibly
 * split, plus the named-DB root records in the main DB. Real use is far
 * lower because pages touched twice in a transaction are copied once.
 */
#define META_PAGES_PER_UPDATE 16u
/* Commit needs pages of its own: free-list records and the main DB. */
#define META_COMMIT_PAGES 64u

/* A pass longer than this is committed early: it bounds LMDB's dirty page
 * list (MDB_TXN_FULL at 128k pages) and the page estimate above, which
 * must fit in half the preallocation window. */
#define META_TXN_MAX_OPS 256u

/* Bytes kept allocated past the data (see "Disk full"), extended when less
 * than half is left: the window starts at the minimum and doubles when a
 * pass outgrows it (a pass of META_TXN_MAX_OPS fits in half the maximum). */
#define META_PREALLOC_MIN (UINT64_C(4) << 20)
#define META_PREALLOC_MAX (UINT64_C(32) << 20)

const char META_SYS_FORMAT[] = "format";
const char META_SYS_INO[] = "ino_reserved";
const char META_SYS_COUNTS[] = "counts";
const char META_SYS_SPREAD[] = "spread_from";
const char META_SYS_SPREAD_SEEN[] = "spread_seen";

/* --- transactions ------------------------------------------------------- */

/* Make sure the window past `end` (pages in use) is allocated: a whole
 * window if the disk has it, else as much as it has, down to an eighth. */
uint64_t meta_window_min_pages(const struct meta *m)
{
    return META_PREALLOC_MIN / m->psize;
}

static void meta_prealloc(struct meta *m, uint64_t end)
{
    uint64_t window = m->window_pages, size, target;

    if (m->no_prealloc || (m->alloc_end > end && m->alloc_end - end >= window / 2))
        return;
    for (size = window; size >= window / 8; size /= 2) {
        target = end + size < m->map_pages ? end + size : m->map_pages;
        if (target <= m->alloc_end)
            break;
        if (fallocate(m->fd, 0, (off_t)(m->alloc_end * m->psize),
                      (off_t)((target - m->alloc_end) * m->psize)) == 0) {
            m->alloc_end = target;
            break;
        }
        if (errno != ENOSPC && errno != EDQUOT && errno != EFBIG) {
            if (errno != EINTR)
                m->no_prealloc = true; /* EOPNOTSUPP and the like */
            return;
        }
    }
    /* Less than half a window left (and none to be had): out of disk. */
    m->disk_full = m->alloc_end < end + window / 2 && m->alloc_end < m->map_pages;
}

/*
 * Double the preallocation window (up to the maximum, and at least to twice
 * what an op needs) when a pass outgrew it. True when it grew.
 */
static bool meta_window_grow(struct meta *m, uint64_t need)
{
    uint64_t max = META_PREALLOC_MAX / m->psize, want = m->window_pages * 2;

    if (m->no_prealloc || m->disk_full || !m->tail_is_disk || m->window_pages >= max)
        return false;
    if (want < 2 * (need + META_COMMIT_PAGES))
        want = 2 * (need + META_COMMIT_PAGES);
    m->window_pages = want < max ? want : max;
    return true;
}

/* Allocate the window past the committed data and set the pages the
 * transaction may take (it has written nothing yet). */
static void meta_tail_set(struct meta *m)
{
    MDB_envinfo info;
    uint64_t end, alloc_tail;

    /* Our own commits are the only writers, so the committed end of the
     * data cannot move while this transaction is open. */
    mdb_env_info(m->env, &info);
    end = (uint64_t)info.me_last_pgno + 1;
    meta_prealloc(m, end);
    m->map_tail = m->map_pages > end ? m->map_pages - end : 0;
    m->tail_pages = m->map_tail;
    m->tail_is_disk = false;
    if (!m->no_prealloc) {
        alloc_tail = m->alloc_end > end ? m->alloc_end - end : 0;
        if (alloc_tail < m->map_tail) {
            m->tail_pages = alloc_tail;
            m->tail_is_disk = true;
        }
    }
}

int meta_txn_begin(struct meta *m)
{
    int rc;

    rc = mdb_txn_begin(m->env, NULL, 0, &m->txn);
    if (rc != 0) {
        m->txn = NULL;
        return meta_mdb_err(rc);
    }
    meta_tail_set(m);
    m->txn_ops = 0;
    m->txn_pages = 0;
    m->txn_isolated = false;
    m->txn_failed = false;
    m->txn_writes = 0;
    m->txn_files = m->files;
    m->txn_dirs = m->dirs;
    return 0;
}

int meta_txn_get(struct meta *m, MDB_txn **txn_p)
{
    int rc;

    if (m->txn == NULL) {
        rc = meta_txn_begin(m);
        if (rc != 0)
            return rc;
    }
    *txn_p = m->txn;
    return 0;
}

void meta_txn_abort(struct meta *m)
{
    mdb_txn_abort(m->txn);
    m->txn = NULL;
    m->pcache_valid = false; /* it may name a directory the txn created */
    /* The counters follow the records; the inode counter deliberately does
     * not go back (see the top of this file). */
    m->files = m->txn_files;
    m->dirs = m->txn_dirs;
}

int meta_sys_put(struct meta *m, const char *name, const void *val, size_t len)
{
    MDB_val k = {strlen(name), (void *)name}, v = {len, (void *)val};
    int rc;

    rc = mdb_put(m->txn, m->dbi_sys, &k, &v, 0);
    if (rc != 0) {
        m->txn_failed = true;
        return meta_mdb_err(rc);
    }
    m->txn_writes++;
    return 0;
}

/* Commit m->txn (abort it when it wrote nothing). On failure the
 * transaction is gone and the counters are restored. */
int meta_txn_commit(struct meta *m)
{
    uint64_t counts[2];
    int rc;

    if (m->txn == NULL)
        return 0;
    if (m->txn_failed || m->txn_writes == 0) {
        meta_txn_abort(m);
        return m->txn_failed ? -EIO : 0;
    }
    if (m->files != m->txn_files || m->dirs != m->txn_dirs) {
        counts[0] = m->files;
        counts[1] = m->dirs;
        rc = meta_sys_put(m, META_SYS_COUNTS, counts, sizeof(counts));
        if (rc != 0) {
            meta_txn_abort(m);
            return rc;
        }
    }
    rc = mdb_txn_commit(m->txn);
    m->txn = NULL;
    if (rc != 0) {
        m->pcache_valid = false;
        /* mdb_txn_commit frees the transaction on failure too. */
        m->files = m->txn_files;
        m->dirs = m->txn_dirs;
        return meta_mdb_err(rc);
    }
    if (m->durability != DURABILITY_ALWAYS)
        m->unsynced = true;
    return 0;
}

/* Pages of one value of len bytes when it goes to overflow pages. */
static uint64_t meta_value_pages(const struct meta *m, size_t len)
{
    /* LMDB stores values above about psize/2 on their own overflow pages. */
    return len > m->psize / 2 - 64 ? (len + m->psize - 1) / m->psize + 1 : 0;
}

/* Does a transaction that may take `need` more pages still fit for sure? */
static bool meta_room(const struct meta *m, uint64_t need)
{
    uint64_t total = m->txn_pages + need;

    /* The commit writes the freed page numbers (8 bytes each) too. */
    total += META_COMMIT_PAGES + total * 8 / m->psize + 1;
    return total <= m->tail_pages;
}

/* Pages LMDB can still hand out: the unused tail of the map plus the pages
 * on its free list. O(1): from the page counts of every B-tree. Counts
 * free pages that the newest snapshot still pins, so it is an estimate;
 * the reserve absorbs the difference. */
uint64_t meta_free_pages(struct meta *m)
{
    MDB_dbi dbis[7] = {0 /* free list */, 1 /* main */,  m->dbi_rec,  m->dbi_child,
                       m->dbi_sys,        m->dbi_orphan, m->dbi_small};
    uint64_t used = 2; /* the two meta pages */
    MDB_envinfo info;
    MDB_stat st;
    unsigned i;

    for (i = 0; i < 7; i++) {
        if (mdb_stat(m->txn, dbis[i], &st) != 0)
            return m->map_tail;
        used += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    }
    mdb_env_info(m->env, &info);
    return m->map_tail + (info.me_last_pgno + 1 > used ? info.me_last_pgno + 1 - used : 0);
}

/* Pages kept for unlink and rmdir: with a map (or disk) that is truly full
 * LMDB cannot even delete (copy-on-write needs new pages first). A quarter
 * of the preallocation window at most, so it fits in what is left of it. */
static uint64_t meta_reserve_pages(const struct meta *m)
{
    uint64_t r = m->map_pages / 128, cap = m->window_pages / 4;

    if (r < 32)
        r = 32;
    return r < cap ? r : cap;
}

/* Pages an op must find in the tail: out of disk, growing ops leave the
 * reserve to the others. */
static uint64_t meta_need(const struct meta *m, uint64_t need, bool grows)
{
    return m->disk_full && grows ? need + meta_reserve_pages(m) : need;
}

int meta_wbegin(struct meta *m, unsigned ops, size_t val_len, bool grows)
{
    uint64_t need = (uint64_t)ops * (META_PAGES_PER_UPDATE + meta_value_pages(m, val_len));
    int rc;

    if (m->txn == NULL) {
        rc = meta_txn_begin(m);
        if (rc != 0)
            return rc;
    }
    if (!meta_room(m, meta_need(m, need, grows))) {
        bool grew = meta_window_grow(m, need);

        /* Keep what the pass did safe before trying anything risky. */
        if (m->txn_writes > 0) {
            rc = meta_txn_commit(m);
            if (rc != 0) {
                m->lost = rc;
                return rc;
            }
            rc = meta_txn_begin(m);
            if (rc != 0)
                return rc;
        } else if (grew) {
            meta_tail_set(m); /* nothing written yet: allocate the larger window */
        }
        if (!meta_room(m, meta_need(m, need, grows))) {
            /* The fresh txn has no writes yet, so refusing here leaves it
             * as an ordinary pass transaction. Out of disk: never let LMDB
             * write past the allocated pages. */
            if (m->tail_is_disk)
                return -ENOSPC;
            /* Near the end of the map: LMDB's free list may still have
             * room; try the op alone, keeping the reserve for deletes. */
            if (grows && meta_free_pages(m) < need + meta_reserve_pages(m))
                return -ENOSPC;
            m->txn_isolated = true;
        }
    }
    m->op_pages = need;
    m->op_writes = m->txn_writes;
    return 0;
}

int meta_wend(struct meta *m, int rc)
{
    bool wrote, earlier;
    int crc;

    if (m->txn == NULL)
        return rc;
    wrote = m->txn_writes != m->op_writes;
    earlier = m->txn_ops > 0;
    if (m->txn_failed) {
        /* LMDB requires the abort; it takes the pass's earlier ops along. */
        meta_txn_abort(m);
        if (earlier)
            m->lost = -EIO;
        return rc != 0 ? rc : -EIO;
    }
    if (wrote) {
        m->txn_ops++;
        m->txn_pages += m->op_pages;
    }
    if (m->txn_isolated || m->txn_ops >= META_TXN_MAX_OPS) {
        crc = meta_txn_commit(m);
        if (crc != 0) {
            if (m->txn_ops > 1 && !m->txn_isolated)
                m->lost = crc;
            return crc;
        }
    }
    return rc;
}

/* --- inode numbers ------------------------------------------------------ */

uint64_t meta_ino_next(struct meta *m)
{
    return ((uint64_t)m->node_tag << 32) | m->next_ino++;
}

/* Store the inode counter's end in its own transaction, synced when the
 * durability mode syncs at all: it must be durable before any number below
 * it reaches a client. The caller committed the pass's transaction. */
static int meta_ino_store(struct meta *m, uint64_t end)
{
    int rc = meta_txn_begin(m);

    if (rc != 0)
        return rc;
    rc = meta_sys_put(m, META_SYS_INO, &end, sizeof(end));
    /* Numbered by a build that keeps spread marks up to here (meta.c). */
    if (rc == 0)
        rc = meta_sys_put(m, META_SYS_SPREAD_SEEN, &end, sizeof(end));
    if (rc != 0) {
        meta_txn_abort(m);
        return rc;
    }
    rc = meta_txn_commit(m);
    if (rc != 0)
        return rc;
    if (m->durability == DURABILITY_FSYNC || m->durability == DURABILITY_CLOSE) {
        rc = mdb_env_sync(m->env, 1);
        if (rc != 0)
            return meta_mdb_err(rc);
        m->unsynced = false;
    }
    return 0;
}

int meta_ino_reserve(struct meta *m)
{
    uint64_t end;
    int rc;

    if (m->next_ino < m->ino_reserved)
        return 0;
    if (m->next_ino >= META_INO_LIMIT)
        return -ENOSPC; /* 2^32 files created on this server: see meta.h */
    end = m->next_ino + META_INO_BLOCK;
    if (end > META_INO_LIMIT)
        end = META_INO_LIMIT;
    /* The reservation must be durable on its own, before any number of the
     * block can reach a client: commit the pass, then a txn just for it. */
    rc = meta_txn_commit(m);
    if (rc != 0) {
        m->lost = rc;
        return rc;
    }
    rc = meta_ino_store(m, end);
    if (rc != 0)
        return rc;
    m->ino_reserved = end;
    return 0;
}

uint64_t meta_ino_reserved_end(const struct meta *m)
{
    return m->ino_reserved;
}

int meta_ino_alloc(struct meta *m, uint64_t *ino_p)
{
    int rc = meta_ino_reserve(m);

    if (rc != 0)
        return rc;
    *ino_p = meta_ino_next(m);
    return 0;
}

int meta_ino_floor(struct meta *m, uint64_t floor)
{
    int rc;

    if (floor <= m->next_ino)
        return 0;
    if (floor > META_INO_LIMIT)
        return -ENOSPC;
    /* Durable before any number at or above floor is handed out. */
    rc = meta_txn_commit(m);
    if (rc != 0)
        return rc;
    /* Numbers below floor were another store's (a data directory made
     * anew): their spread marks are not here, so they count as spread. */
    if (m->spread_from < floor) {
        rc = meta_txn_begin(m);
        if (rc == 0) {
            rc = meta_sys_put(m, META_SYS_SPREAD, &floor, sizeof(floor));
            rc = rc == 0 ? meta_txn_commit(m) : (meta_txn_abort(m), rc);
        }
        if (rc != 0)
            return rc;
        m->spread_from = floor;
    }
    rc = meta_ino_store(m, floor);
    if (rc != 0)
        return rc;
    m->next_ino = m->ino_reserved = floor;
    return 0;
}
