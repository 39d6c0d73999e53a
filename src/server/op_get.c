/*
 * op_get.c - GET: the attributes of several files and the bytes of the
 * small ones, in one request (docs/protocol.md#get).
 *
 * PUT's counterpart for reading: a client staging files out asks the owner
 * of many names at once instead of one lookup per file. For each path the
 * reply carries the record's status and attributes, and for a
 * regular file whose chunk 0 is all of it and is here (the inode was
 * allocated here: placement.h), as many of those bytes as the client made
 * room for. A read that brings fewer bytes than the size (a hole, a chunk
 * gone, an error) leaves that file without bytes: the client reads it the
 * usual way. The reads of a request go out at once; the reply leaves from
 * the state's buffer when the last one is done.
 *
 * States: the paths are received like a CHUNK_WRITE's data (request.c);
 * get_start (lookups, room), get_submit (a full ring requeues the request,
 * SREQ_RECV_DONE) -> SREQ_IO until the last read -> get_finish.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/path.h"
#include "server/server_int.h"

/* One file of a GET: its read's callback argument. */
struct get_file {
    struct get_state *gs;
    uint64_t ino; /* 0: no bytes to read */
};

/* A GET in progress: r->op_state. */
struct get_state {
    struct sreq *r;
    uint32_t count;
    uint32_t next;    /* first file whose read is not submitted yet */
    uint32_t pending; /* reads submitted and not completed */
    uint32_t len;     /* reply data: the table, then the bytes */
    struct proto_getfile *files;
    struct get_file *st;
    uint8_t *reply; /* after the files: the state's own block */
};

static void get_io_done(void *arg, int result)
{
    struct get_file *gf = arg;
    struct get_state *gs = gf->gs;
    struct proto_getfile *f = &gs->files[gf - gs->st];

    if (result < 0 || (uint64_t)result != f->attr.size)
        f->data_len = 0; /* the client reads it itself */
    else
        gs->r->srv->stats.chunk_reads++;
    gs->pending--;
    if (gs->pending == 0 && gs->next == gs->count) {
        gs->r->state = SREQ_IO_DONE;
        sreq_queue(gs->r);
    }
}

/* The paths are in hand: look each one up, make room for the bytes. */
static int get_start(struct sreq *r)
{
    const struct proto_get_req *q = &r->body.get_req;
    struct server *srv = r->srv;
    const uint8_t *data = r->eager_copy != NULL ? r->eager_copy : r->iobuf;
    uint64_t table = (uint64_t)q->count * PROTO_GETFILE_ENTRY, room, used = 0, off;
    struct get_state *gs;
    size_t base;

    room = (uint64_t)chunk_buf_size(srv->chunks) > table ? chunk_buf_size(srv->chunks) - table : 0;
    if (room > q->max_bytes)
        room = q->max_bytes;
    gs = calloc(1, sizeof(*gs) + q->count * (sizeof(*gs->files) + sizeof(*gs->st)));
    if (gs == NULL)
        return -ENOMEM;
    r->op_state = gs;
    gs->r = r;
    gs->count = q->count;
    gs->files = (struct proto_getfile *)(gs + 1);
    gs->st = (struct get_file *)(gs->files + q->count);
    off = (uint64_t)q->count * 4;
    for (uint32_t k = 0; k < q->count; k++) {
        uint32_t plen = proto_get_u32(data + 4 * (size_t)k);
        struct proto_getfile *f = &gs->files[k];
        const char *path = (const char *)data + off;
        struct meta_attr a;

        if (plen == 0 || plen >= BFS_PATH_MAX || off + plen > r->data_len) {
            srv->stats.bad_requests++;
            return -EPROTO;
        }
        off += plen;
        if (!path_is_normalized(path, plen)) {
            f->status = -EINVAL;
            continue;
        }
        f->status = meta_lookup(srv->meta, path, plen, &a);
        if (f->status < 0)
            continue;
        meta_attr_to_wire(&a, &f->attr);
        if (S_ISREG(a.mode) && a.size > 0 && a.size <= a.chunk_size &&
            (uint32_t)(a.ino >> 32) == srv->tag && used + a.size <= room) {
            f->data_len = (uint32_t)a.size;
            f->data_off = (uint32_t)(table + used);
            gs->st[k].ino = a.ino;
            used += a.size;
        }
    }
    if (off != r->data_len) {
        srv->stats.bad_requests++;
        return -EPROTO;
    }
    /* The reply goes at the end of the state (freed with the request). */
    base = sizeof(*gs) + q->count * (sizeof(*gs->files) + sizeof(*gs->st));
    gs = realloc(gs, base + table + used);
    if (gs == NULL)
        return -ENOMEM; /* the old block is still r->op_state */
    r->op_state = gs;
    gs->files = (struct proto_getfile *)(gs + 1);
    gs->st = (struct get_file *)(gs->files + q->count);
    gs->reply = (uint8_t *)gs + base;
    gs->len = (uint32_t)(table + used);
    for (uint32_t k = 0; k < q->count; k++)
        gs->st[k].gs = gs;
    return 0;
}

/* Submit the reads not submitted yet; wait for them, or finish. */
static void get_submit(struct sreq *r)
{
    struct get_state *gs = r->op_state;

    for (; gs->next < gs->count; gs->next++) {
        struct proto_getfile *f = &gs->files[gs->next];
        struct get_file *gf = &gs->st[gs->next];
        int rc;

        if (gf->ino == 0)
            continue;
        rc = chunk_read(r->srv->chunks, gf->ino, 0, 0, gs->reply + f->data_off, f->data_len,
                        get_io_done, gf);
        if (rc == -EAGAIN) {
            /* Ring or op pool full: the rest on the next pass, after reaping. */
            r->state = SREQ_RECV_DONE;
            sreq_queue(r);
            return;
        }
        if (rc < 0)
            f->data_len = 0;
        else
            gs->pending++;
    }
    r->state = SREQ_IO;
    if (gs->pending == 0) {
        r->state = SREQ_IO_DONE;
        sreq_queue(r);
    }
}

static void get_finish(struct sreq *r)
{
    struct get_state *gs = r->op_state;

    for (uint32_t k = 0; k < gs->count; k++)
        proto_getfile_pack(gs->reply, k, &gs->files[k]);
    r->rep.get_rep.count = gs->count;
    r->rep_data = gs->reply;
    r->rep_data_len = gs->len;
    sreq_finish(r, 0);
}

void server_op_GET(struct sreq *r)
{
    /* Reached only with eager data held in eager_copy (no buffer was free
     * on receipt), like CHUNK_WRITE. */
    if (r->eager_copy == NULL && r->iobuf == NULL) {
        sreq_finish(r, -EIO);
        return;
    }
    server_get_continue(r);
}

void server_get_continue(struct sreq *r)
{
    int rc;

    if (r->state == SREQ_IO_DONE) {
        get_finish(r);
        return;
    }
    if (r->op_state == NULL) {
        rc = get_start(r);
        if (rc < 0) {
            sreq_finish(r, rc);
            return;
        }
    }
    get_submit(r);
}
