/*
 * op_dir.c - handlers of directory ops: MKDIR, RMDIR_PREPARE/COMMIT/ABORT
 * and paged READDIR.
 *
 * Directories are replicated on every server; the client fans mkdir and the
 * two-phase rmdir out to all of them. Each server's child index holds only
 * the entries it owns, so a readdir page from one server never repeats an
 * entry of another.
 */
#include <errno.h>
#include <string.h>

#include "server/server_int.h"

void server_op_MKDIR(struct sreq *r)
{
    const struct proto_mkdir_req *q = &r->body.mkdir_req;
    int rc = meta_mkdir(r->srv->meta, r->data, r->data_len, q->mode, q->uid, q->gid,
                        (q->flags & PROTO_MKDIR_OWNER) != 0);

    if (rc == 0 && r->srv->cfg.durability == DURABILITY_ALWAYS)
        r->srv->meta_sync = true;
    sreq_finish(r, rc);
}

void server_op_RMDIR_PREPARE(struct sreq *r)
{
    sreq_finish(r, meta_rmdir_prepare(r->srv->meta, r->data, r->data_len));
}

void server_op_RMDIR_COMMIT(struct sreq *r)
{
    sreq_finish(r, meta_rmdir_commit(r->srv->meta, r->data, r->data_len));
}

void server_op_RMDIR_ABORT(struct sreq *r)
{
    sreq_finish(r, meta_rmdir_abort(r->srv->meta, r->data, r->data_len));
}

struct readdir_page {
    uint8_t *buf;
    size_t cap;
    size_t off;
    uint32_t count;
    uint32_t max;
};

static int readdir_add(void *arg, const char *name, size_t name_len, const struct meta_attr *a)
{
    struct readdir_page *pg = arg;

    if (pg->count >= pg->max)
        return 1;
    if (proto_dirent_pack(pg->buf, pg->cap, &pg->off, a->ino, a->size, a->mode, name, name_len) < 0)
        return 1; /* page full: this entry starts the next page */
    pg->count++;
    return 0;
}

void server_op_READDIR(struct sreq *r)
{
    const struct proto_readdir_req *q = &r->body.readdir_req;
    struct readdir_page pg;
    bool done = false;
    int rc;

    /* The page is built in a registered buffer and sent from there. */
    if (r->iobuf == NULL) {
        r->iobuf = chunk_buf_get(r->srv->chunks);
        if (r->iobuf == NULL) {
            r->state = SREQ_WAIT_BUF;
            list_push_back(&r->srv->wait_buf, &r->link);
            return;
        }
    }
    pg.buf = r->iobuf;
    pg.cap = chunk_buf_size(r->srv->chunks);
    if (pg.cap > q->max_bytes)
        pg.cap = q->max_bytes;
    pg.off = 0;
    pg.count = 0;
    pg.max = q->max_entries;
    rc = meta_readdir(r->srv->meta, r->data, q->path_len, r->data + q->path_len, q->cursor_len,
                      readdir_add, &pg, &done);
    if (rc == 0) {
        r->rep.readdir_rep.count = pg.count;
        r->rep.readdir_rep.done = done;
        r->rep_data = r->iobuf;
        r->rep_data_len = (uint32_t)pg.off;
    }
    sreq_finish(r, rc);
}
