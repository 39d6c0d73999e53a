/*
 * op_meta.c - handlers of file metadata ops: STAT, CREATE, UNLINK, RENAME,
 * INODE_PUT, INODE_DEL, TRUNCATE, SETSIZE, and the by-inode ops of open
 * descriptors: ISTAT, ITRUNCATE, RELEASE (docs/semantics.md); SETATTR
 * (chmod, chown, utimens) of files, orphans and directories.
 *
 * Each runs to completion in one step against the metadata store (LMDB, in
 * memory-mapped pages) and queues its reply; the reply leaves after the
 * pass's transaction commits. Paths were validated (normalized) on receipt.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "server/server_int.h"

static void attr_from_wire(const proto_attr_t *w, struct meta_attr *a)
{
    a->ino = w->ino;
    a->size = w->size;
    a->chunk_size = w->chunk_size;
    a->mode = w->mode;
    a->nlink = w->nlink;
    a->uid = w->uid;
    a->gid = w->gid;
    a->atime_ns = w->atime_ns;
    a->mtime_ns = w->mtime_ns;
    a->ctime_ns = w->ctime_ns;
}

void server_op_STAT(struct sreq *r)
{
    struct meta_attr a;
    int rc = meta_lookup(r->srv->meta, r->data, r->data_len, &a);

    if (rc == 0)
        meta_attr_to_wire(&a, &r->rep.attr_rep.attr);
    /* An open for reading of a small file: its bytes come with the reply
     * when chunk 0 is here (it is, unless the file was renamed). */
    if (rc == 0 && (r->body.path_req.flags & PROTO_STAT_HEAD) && S_ISREG(a.mode) && a.size > 0 &&
        a.size <= PROTO_STAT_HEAD_MAX && a.size <= a.chunk_size) {
        server_stat_head(r);
        return;
    }
    sreq_finish(r, rc);
}

void server_op_CREATE(struct sreq *r)
{
    const struct proto_create_req *q = &r->body.create_req;
    struct server *srv = r->srv;
    struct meta_attr a;
    uint64_t old_size = 0, old_ino = 0;
    uint64_t chunk_size = q->chunk_size ? q->chunk_size : (uint64_t)srv->cfg.chunk_size;
    bool created = false;
    int rc;

    /* A chunk size must be a power of two within the configured limits, so
     * every client computes the same chunk boundaries. */
    if (chunk_size < 4096 || chunk_size > (1ull << 30) || (chunk_size & (chunk_size - 1))) {
        sreq_finish(r, -EINVAL);
        return;
    }
    rc = meta_create_ex(srv->meta, r->data, r->data_len, q->mode, q->uid, q->gid, chunk_size,
                        q->flags, &a, &old_size, &created, &old_ino);
    if (rc == 0) {
        meta_attr_to_wire(&a, &r->rep.create_rep.attr);
        r->rep.create_rep.old_size = old_size;
        r->rep.create_rep.old_ino = old_ino;
        r->rep.create_rep.created = created;
        if (srv->cfg.durability == DURABILITY_ALWAYS)
            srv->meta_sync = true;
    }
    sreq_finish(r, rc);
}

void server_op_UNLINK(struct sreq *r)
{
    struct meta_attr a;
    bool keep = (r->body.path_req.flags & PROTO_UNLINK_KEEP) != 0;
    int rc = meta_unlink_keep(r->srv->meta, r->data, r->data_len, keep, &a);

    if (rc == 0)
        meta_attr_to_wire(&a, &r->rep.attr_rep.attr);
    if (rc == 0 && keep)
        server_orphan_made(r, a.ino);
    /* The client asks the owner to free its own chunks of the file right
     * here, saving itself a CHUNK_TRUNC to this server (io_free_gone).
     * The name is gone either way: a failure is logged, not returned. */
    if (rc == 0 && (r->body.path_req.flags & PROTO_UNLINK_FREE) && S_ISREG(a.mode)) {
        /* Holding chunk 0, this server knows whether others hold any. */
        r->rep.attr_rep.flags = server_spread_flags(r->srv, a.ino);
        if (chunk_remove_inode(r->srv->chunks, a.ino) != 0) {
            log_warn("unlink: chunks of inode %016llx not freed here", (unsigned long long)a.ino);
            r->rep.attr_rep.flags = 0;
        }
    }
    sreq_finish(r, rc);
}

void server_op_RENAME(struct sreq *r)
{
    const struct proto_rename_req *q = &r->body.rename_req;
    struct meta_attr moved, replaced;
    bool has_replaced = false;
    int rc;

    rc = meta_rename_keep(r->srv->meta, r->data, q->path_len, r->data + q->path_len, q->path2_len,
                          (q->flags & PROTO_RENAME_KEEP) != 0, &moved, &replaced, &has_replaced);
    if (rc == 0) {
        meta_attr_to_wire(&moved, &r->rep.rename_rep.moved);
        if (has_replaced)
            meta_attr_to_wire(&replaced, &r->rep.rename_rep.replaced);
        r->rep.rename_rep.has_replaced = has_replaced;
        if (has_replaced && (q->flags & PROTO_RENAME_KEEP))
            server_orphan_made(r, replaced.ino);
    }
    sreq_finish(r, rc);
}

void server_op_INODE_PUT(struct sreq *r)
{
    const struct proto_inode_put_req *q = &r->body.inode_put_req;
    struct meta_attr a, replaced;
    bool has_replaced = false;
    int rc;

    attr_from_wire(&q->attr, &a);
    if (!S_ISREG(a.mode) || a.ino == 0) {
        sreq_finish(r, -EINVAL);
        return;
    }
    rc = meta_inode_put_keep(r->srv->meta, r->data, r->data_len, &a,
                             (q->flags & PROTO_PUT_NOREPLACE) != 0,
                             (q->flags & PROTO_PUT_KEEP) != 0, &replaced, &has_replaced);
    if (rc == 0) {
        r->rep.rename_rep.moved = q->attr;
        if (has_replaced)
            meta_attr_to_wire(&replaced, &r->rep.rename_rep.replaced);
        r->rep.rename_rep.has_replaced = has_replaced;
        if (has_replaced && (q->flags & PROTO_PUT_KEEP))
            server_orphan_made(r, replaced.ino);
    }
    sreq_finish(r, rc);
}

void server_op_INODE_DEL(struct sreq *r)
{
    struct meta_attr a;
    int rc = meta_inode_del(r->srv->meta, r->data, r->data_len, r->body.inode_del_req.ino, &a);

    if (rc == 0)
        meta_attr_to_wire(&a, &r->rep.attr_rep.attr);
    sreq_finish(r, rc);
}

void server_op_TRUNCATE(struct sreq *r)
{
    struct meta_attr a;
    uint64_t old_size = 0;
    int rc;

    if (r->body.truncate_req.size > (uint64_t)INT64_MAX) {
        sreq_finish(r, -EFBIG);
        return;
    }
    rc =
        meta_truncate(r->srv->meta, r->data, r->data_len, r->body.truncate_req.size, &a, &old_size);
    if (rc == 0) {
        meta_attr_to_wire(&a, &r->rep.truncate_rep.attr);
        r->rep.truncate_rep.old_size = old_size;
    }
    sreq_finish(r, rc);
}

void server_op_SETSIZE(struct sreq *r)
{
    const struct proto_setsize_req *q = &r->body.setsize_req;
    struct server *srv = r->srv;
    struct meta_attr a;
    uint64_t mtime = q->mtime_ns ? q->mtime_ns : time_real_ns();
    int rc;

    if (q->size > (uint64_t)INT64_MAX) {
        sreq_finish(r, -EFBIG);
        return;
    }
    if (q->flags & PROTO_SETSIZE_ORPHAN) {
        char opath[META_ORPHAN_PATH_MAX];
        size_t olen = meta_orphan_path(q->ino, opath);

        rc = q->ino == 0 ? -EINVAL
                         : meta_setsize(srv->meta, opath, olen, q->ino, q->size, mtime,
                                        (q->flags & PROTO_SETSIZE_EXACT) != 0, &a);
    } else {
        rc = meta_setsize(srv->meta, r->data, r->data_len, q->ino, q->size, mtime,
                          (q->flags & PROTO_SETSIZE_EXACT) != 0, &a);
    }
    if (rc == 0) {
        meta_attr_to_wire(&a, &r->rep.attr_rep.attr);
        /* close/fsync: make it durable before the reply (durability close;
         * with fsync the FSYNC that follows a client's fsync syncs). */
        if ((q->flags & PROTO_SETSIZE_SYNC) && srv->cfg.durability >= DURABILITY_CLOSE)
            srv->meta_sync = true;
    }
    sreq_finish(r, rc);
}

/*
 * The record an ino_req names: the path the client knows (checked against
 * ino by the store) or, with PROTO_INO_ORPHAN, ino's orphan record.
 */
static void ino_req_path(const struct sreq *r, char opath[META_ORPHAN_PATH_MAX],
                         const char **path_p, size_t *len_p)
{
    const struct proto_ino_req *q = &r->body.ino_req;

    if (q->flags & PROTO_INO_ORPHAN) {
        *len_p = meta_orphan_path(q->ino, opath);
        *path_p = opath;
    } else {
        *path_p = r->data;
        *len_p = r->data_len;
    }
}

void server_op_ISTAT(struct sreq *r)
{
    char opath[META_ORPHAN_PATH_MAX];
    const char *path;
    size_t len;
    struct meta_attr a;
    int rc;

    ino_req_path(r, opath, &path, &len);
    rc = meta_stat_ino(r->srv->meta, path, len, r->body.ino_req.ino, &a);
    if (rc == 0)
        meta_attr_to_wire(&a, &r->rep.attr_rep.attr);
    sreq_finish(r, rc);
}

void server_op_ITRUNCATE(struct sreq *r)
{
    char opath[META_ORPHAN_PATH_MAX];
    const char *path;
    size_t len;
    struct meta_attr a;
    uint64_t old_size = 0;
    int rc;

    if (r->body.ino_req.size > (uint64_t)INT64_MAX) {
        sreq_finish(r, -EFBIG);
        return;
    }
    ino_req_path(r, opath, &path, &len);
    rc = meta_truncate_ino(r->srv->meta, path, len, r->body.ino_req.ino, r->body.ino_req.size, &a,
                           &old_size);
    if (rc == 0) {
        meta_attr_to_wire(&a, &r->rep.truncate_rep.attr);
        r->rep.truncate_rep.old_size = old_size;
    }
    sreq_finish(r, rc);
}

void server_op_RELEASE(struct sreq *r)
{
    struct meta_attr a;
    int rc = meta_orphan_release(r->srv->meta, r->body.ino_req.ino, &a);

    if (rc == 0) {
        meta_attr_to_wire(&a, &r->rep.attr_rep.attr);
        server_orphan_released(r->srv, r->body.ino_req.ino);
    }
    sreq_finish(r, rc);
}

void server_op_SETATTR(struct sreq *r)
{
    const struct proto_setattr_req *q = &r->body.setattr_req;
    struct meta_setattr sa = {.valid = q->valid,
                              .mode = q->mode,
                              .uid = q->uid,
                              .gid = q->gid,
                              .atime_ns = q->atime_ns,
                              .mtime_ns = q->mtime_ns,
                              .ctime_ns = q->ctime_ns};
    char opath[META_ORPHAN_PATH_MAX];
    const char *path = r->data;
    size_t len = r->data_len;
    struct meta_attr a;
    int rc;

    /* As an ino_req: the orphan record of ino instead of the path. */
    if (q->flags & PROTO_INO_ORPHAN) {
        len = meta_orphan_path(q->ino, opath);
        path = opath;
    }
    rc = meta_setattr(r->srv->meta, path, len, q->ino, &sa, &a);
    if (rc == 0) {
        meta_attr_to_wire(&a, &r->rep.attr_rep.attr);
        if (r->srv->cfg.durability == DURABILITY_ALWAYS)
            r->srv->meta_sync = true;
    }
    sreq_finish(r, rc);
}
