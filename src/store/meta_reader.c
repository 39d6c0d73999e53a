/*
 * meta_reader.c - reading a server's metadata store from another process of
 * its host (meta.h; docs/architecture.md#direct-metadata-reads).
 *
 * LMDB lets any number of processes read an environment while one writes:
 * a reader registers in the lock file's reader table and sees the last
 * committed transaction, and the writer never reuses a page a registered
 * reader may still see. The server commits a pass's changes before it
 * sends the replies of that pass, so whatever a reply told any client is
 * committed, and a reader that starts after it sees it.
 *
 * One read transaction per reader, reset after each lookup (so it never
 * holds old pages back) and renewed by the next. Callers serialize the
 * calls on one reader (MDB_NOTLS: the reader slot belongs to the
 * transaction, not to a thread).
 */
#include "store/meta_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct meta_reader {
    MDB_env *env;
    MDB_txn *txn; /* reset between lookups; NULL until the first */
    MDB_dbi dbi_rec, dbi_child, dbi_small;
    bool has_small;  /* a store written before small chunks has none */
    pid_t pid;       /* the process that opened it */
    int cleared;     /* dead readers' slots cleared at open */
    bool hold_stops; /* a terminal can stop this process: hold its stops off */
};

/* Has this process a controlling terminal (which can send it SIGTSTP,
 * SIGTTIN and SIGTTOU)? Opening /dev/tty fails (ENXIO) without one. */
static bool meta_reader_has_ctty(void)
{
    int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int meta_reader_open(const char *dir, struct meta_reader **r_p)
{
    struct meta_reader *r;
    MDB_txn *txn;
    uint32_t format;
    MDB_dbi dbi_sys;
    MDB_val k = {strlen(META_SYS_FORMAT), (void *)META_SYS_FORMAT}, v;
    int rc, fd = -1;

    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->pid = getpid();
    r->hold_stops = meta_reader_has_ctty();
    rc = mdb_env_create(&r->env);
    if (rc != 0) {
        free(r);
        return meta_mdb_err(rc);
    }
    /* Map size 0: the one the writer set. */
    rc = mdb_env_set_maxdbs(r->env, 5);
    if (rc == 0)
        rc = mdb_env_open(r->env, dir, MDB_RDONLY | MDB_NOTLS | MDB_NORDAHEAD, 0600);
    /* LMDB opens the data file without O_CLOEXEC: a program this process
     * execs must not inherit a handle on the server's store. */
    if (rc == 0 && mdb_env_get_fd(r->env, &fd) == 0 && fd >= 0)
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* The slots of readers that died (a client killed in the middle of a
     * lookup holds old pages) are cleared by the next reader to come, in
     * its own process: the server never takes the reader table's lock,
     * which a stopped client could hold. */
    if (rc == 0)
        rc = mdb_reader_check(r->env, &r->cleared);
    if (rc == 0)
        rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        goto err;
    rc = mdb_dbi_open(txn, "rec", 0, &r->dbi_rec);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "child", 0, &r->dbi_child);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "sys", 0, &dbi_sys);
    if (rc == 0) {
        r->has_small = mdb_dbi_open(txn, "small", 0, &r->dbi_small) == 0;
        rc = mdb_get(txn, dbi_sys, &k, &v);
    }
    if (rc == 0 && (v.mv_size != sizeof(format) ||
                    (memcpy(&format, v.mv_data, sizeof(format)), format != META_FORMAT_VERSION)))
        rc = MDB_INCOMPATIBLE;
    if (rc != 0) {
        mdb_txn_abort(txn);
        goto err;
    }
    /* A commit keeps the database handles (a reset would close them); the
     * lookups then renew a transaction of their own. */
    rc = mdb_txn_commit(txn);
    if (rc == 0)
        rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        goto err;
    mdb_txn_reset(txn);
    r->txn = txn;
    *r_p = r;
    return 0;
err:
    mdb_env_close(r->env);
    free(r);
    return meta_mdb_err(rc);
}

/* What a reader does in its transaction: a lookup, a listing or a read
 * of a small chunk. */
struct meta_reader_op {
    const char *path;
    size_t len;
    struct meta_attr *attr; /* a lookup's */
    meta_readdir_cb_t cb;   /* a listing's */
    void *arg;
    uint64_t ino, off; /* a small chunk's (path NULL) */
    void *buf;
    ssize_t got;
};

/* Copy op's range of ino's small chunk: 0, or -ENOENT when there is none
 * (the reader has the database: meta_reader_small). */
static int meta_reader_small_do(MDB_txn *txn, const struct meta_reader *r,
                                struct meta_reader_op *op)
{
    uint8_t key[8];
    MDB_val k = {sizeof(key), key}, v;
    int rc;

    meta_ino_key(op->ino, key);
    rc = mdb_get(txn, r->dbi_small, &k, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? -ENOENT : meta_mdb_err(rc);
    if (v.mv_size > META_SMALL_MAX)
        return -EIO;
    op->got = 0;
    if (op->off < v.mv_size) {
        op->got = (ssize_t)(v.mv_size - op->off < op->len ? v.mv_size - op->off : op->len);
        memcpy(op->buf, (const char *)v.mv_data + op->off, (size_t)op->got);
    }
    return 0;
}

static int meta_reader_do(MDB_txn *txn, const struct meta_reader *r, struct meta_reader_op *op)
{
    uint8_t key[META_KEY_LEN];
    bool done = false;
    int rc;

    if (op->path == NULL)
        return meta_reader_small_do(txn, r, op);
    if (op->cb != NULL) {
        rc = meta_readdir_txn(txn, r->dbi_rec, r->dbi_child, op->path, op->len, NULL, 0, op->cb,
                              op->arg, &done);
        return rc == 0 && !done ? 1 : rc;
    }
    meta_key(op->path, op->len, key);
    rc = meta_rec_read(txn, r->dbi_rec, key, op->path, op->len, op->attr, NULL, NULL);
    return rc > 0 ? 0 : rc == 0 ? -ENOENT : rc;
}

/* Run op in a transaction renewed for it (the latest commit), reset after. */
static int meta_reader_run(struct meta_reader *r, struct meta_reader_op *op)
{
    int rc;

    if (op->path != NULL && !meta_path_ok(op->path, op->len))
        return -EINVAL;
    rc = mdb_txn_renew(r->txn);
    if (rc == MDB_MAP_RESIZED) {
        /* The writer grew the map: adopt its size and try once more. */
        rc = mdb_env_set_mapsize(r->env, 0);
        if (rc == 0)
            rc = mdb_txn_renew(r->txn);
    }
    if (rc != 0)
        return meta_mdb_err(rc);
    rc = meta_reader_do(r->txn, r, op);
    mdb_txn_reset(r->txn);
    return rc;
}

/* Signals that stop a process which can be held off: a process stopped
 * (Ctrl-Z) inside a transaction would hold the pages of its snapshot for
 * as long as it stays stopped, and the store would grow with every change
 * meanwhile. Only a process with a controlling terminal gets them from a
 * terminal; the two mask changes cost more than the lookup itself (about
 * 0.4 us each), so a process without one (a batch job's) skips them.
 * SIGSTOP cannot be held off (docs/architecture.md). */
static int meta_reader_run_held(struct meta_reader *r, struct meta_reader_op *op)
{
    sigset_t stops, old;
    int rc;

    if (!r->hold_stops)
        return meta_reader_run(r, op);
    sigemptyset(&stops);
    sigaddset(&stops, SIGTSTP);
    sigaddset(&stops, SIGTTIN);
    sigaddset(&stops, SIGTTOU);
    pthread_sigmask(SIG_BLOCK, &stops, &old);
    rc = meta_reader_run(r, op);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int meta_reader_lookup(struct meta_reader *r, const char *path, size_t len, struct meta_attr *attr)
{
    struct meta_reader_op op = {.path = path, .len = len, .attr = attr};

    return meta_reader_run_held(r, &op);
}

int meta_reader_readdir(struct meta_reader *r, const char *path, size_t len, meta_readdir_cb_t cb,
                        void *arg)
{
    struct meta_reader_op op = {.path = path, .len = len, .cb = cb, .arg = arg};

    return meta_reader_run_held(r, &op);
}

ssize_t meta_reader_small(struct meta_reader *r, uint64_t ino, uint64_t off, void *buf, size_t len)
{
    struct meta_reader_op op = {.ino = ino, .off = off, .buf = buf, .len = len};
    int rc;

    if (!r->has_small)
        return -ENOENT;
    rc = meta_reader_run_held(r, &op);
    return rc < 0 ? rc : op.got;
}

bool meta_reader_holds_stops(const struct meta_reader *r)
{
    return r->hold_stops;
}

int meta_reader_cleared(const struct meta_reader *r)
{
    return r->cleared;
}

bool meta_reader_stale(const struct meta_reader *r)
{
    struct stat st;
    int fd = -1;

    /* The store this reader maps was removed (a data directory whose meta
     * directory was wiped and made anew under a restarted server). */
    return mdb_env_get_fd(r->env, &fd) != 0 || fd < 0 || fstat(fd, &st) != 0 || st.st_nlink == 0;
}

void meta_reader_close(struct meta_reader *r)
{
    if (r == NULL)
        return;
    /* In a forked child the environment is the parent's: closing it would
     * clear the parent's reader slots (LMDB marks them by the opener's pid)
     * and its file locks. Leave it alone there. */
    if (r->pid == getpid()) {
        mdb_txn_abort(r->txn);
        mdb_env_close(r->env);
    }
    free(r);
}
