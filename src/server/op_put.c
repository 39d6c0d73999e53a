/*
 * op_put.c - PUT: whole small files, several in one request
 * (docs/protocol.md#put).
 *
 * The request carries each file's bytes, name, mode and mtime. The
 * receiver owns the names; for each file it allocates the inode (so chunk 0
 * is here, placement.h), writes the bytes as chunk 0 and only then inserts
 * the record, with its final size, mode and mtime, in the pass's metadata
 * transaction. So a name appears with all of its bytes or not at all: a
 * file whose write or insert fails (the name taken meanwhile, the parent
 * gone, a full map) loses its chunk again and gets its own error, and a
 * commit that fails removes the chunks of every file of the request
 * (server_put_lost, from server_flush_replies). Only a server that dies
 * between the writes and the commit leaves chunks without records (fsck
 * lists them). A small file staged this way costs a share of one round
 * trip instead of CREATE, CHUNK_WRITE and SETATTR.
 *
 * States: the data is received like a CHUNK_WRITE's (request.c); then
 * put_start (parse, checks, inode numbers), put_submit (the writes; a full
 * ring requeues the request, SREQ_RECV_DONE, to submit the rest next pass)
 * -> SREQ_IO until the last write completed -> put_finish (records, reply).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/path.h"
#include "common/timeutil.h"
#include "server/server_int.h"

/* One file of a PUT. */
struct put_file {
    struct sreq *r;
    struct put_state *ps;
    uint64_t ino; /* 0: none allocated */
    int status;   /* 0 or -errno */
};

/* A PUT in progress: r->op_state. */
struct put_state {
    uint32_t count;
    uint32_t next;    /* first file whose write is not submitted yet */
    uint32_t pending; /* writes submitted and not completed */
    uint64_t chunk_size;
    struct proto_putfile *files; /* into the request's I/O buffer */
    struct put_file *st;
    uint8_t *reply; /* count int32 statuses, sent from here */
};

/* Remove the chunk a file may have (its write may have created it). */
static void put_drop(struct sreq *r, uint32_t k)
{
    struct put_state *ps = r->op_state;

    if (ps->st[k].ino == 0 || ps->files[k].length == 0)
        return;
    if (chunk_remove_inode(r->srv->chunks, ps->st[k].ino) != 0)
        log_warn("put: the chunk of inode %016llx was not removed",
                 (unsigned long long)ps->st[k].ino);
}

static void put_io_done(void *arg, int result)
{
    struct put_file *pf = arg;
    struct put_state *ps = pf->ps;
    uint32_t k = (uint32_t)(pf - ps->st);

    if (result >= 0 && (uint32_t)result != ps->files[k].length) {
        log_error("put: short chunk write %d of %u bytes", result, ps->files[k].length);
        result = -EIO;
    }
    if (result < 0)
        pf->status = result;
    ps->pending--;
    if (ps->pending == 0 && ps->next == ps->count) {
        pf->r->state = SREQ_IO_DONE;
        sreq_queue(pf->r);
    }
}

/* The data is in hand: read the table, check each file, number them. */
static int put_start(struct sreq *r)
{
    const struct proto_put_req *q = &r->body.put_req;
    struct server *srv = r->srv;
    uint64_t chunk_size = q->chunk_size ? q->chunk_size : (uint64_t)srv->cfg.chunk_size;
    const void *data = r->eager_copy != NULL ? r->eager_copy : r->iobuf;
    struct put_state *ps;
    int rc;

    /* As CREATE: every client must compute the same chunk boundaries. */
    if (chunk_size < 4096 || chunk_size > (1ull << 30) || (chunk_size & (chunk_size - 1)))
        return -EINVAL;
    ps = calloc(1, sizeof(*ps) + q->count * (sizeof(*ps->files) + sizeof(*ps->st) + 4));
    if (ps == NULL)
        return -ENOMEM;
    r->op_state = ps;
    ps->count = q->count;
    ps->chunk_size = chunk_size;
    ps->files = (struct proto_putfile *)(ps + 1);
    ps->st = (struct put_file *)(ps->files + q->count);
    ps->reply = (uint8_t *)(ps->st + q->count);
    rc = proto_putfile_parse(data, r->data_len, q->count, ps->files);
    if (rc < 0) {
        srv->stats.bad_requests++;
        return rc;
    }
    for (uint32_t k = 0; k < ps->count; k++) {
        const struct proto_putfile *f = &ps->files[k];
        struct put_file *pf = &ps->st[k];

        pf->r = r;
        pf->ps = ps;
        if (!path_is_normalized(f->path, f->path_len))
            pf->status = -EINVAL;
        else if (f->length > chunk_size)
            pf->status = -EINVAL;
        else if (f->path_len == 1 || meta_lookup(srv->meta, f->path, f->path_len, NULL) == 0)
            pf->status = -EEXIST; /* taken already: nothing to write */
        else
            pf->status = meta_ino_alloc(srv->meta, &pf->ino);
    }
    return 0;
}

/* Submit the writes not submitted yet; wait for them, or finish. */
static void put_submit(struct sreq *r)
{
    struct put_state *ps = r->op_state;

    for (; ps->next < ps->count; ps->next++) {
        const struct proto_putfile *f = &ps->files[ps->next];
        struct put_file *pf = &ps->st[ps->next];
        int rc;

        if (pf->status < 0 || f->length == 0)
            continue; /* an empty file has no chunk */
        rc =
            chunk_write(r->srv->chunks, pf->ino, 0, 0, (void *)f->data, f->length, put_io_done, pf);
        if (rc == -EAGAIN) {
            /* Ring or op pool full: the rest on the next pass, after reaping. */
            r->state = SREQ_RECV_DONE;
            sreq_queue(r);
            return;
        }
        if (rc < 0)
            pf->status = rc;
        else
            ps->pending++;
    }
    r->state = SREQ_IO;
    if (ps->pending == 0) {
        r->state = SREQ_IO_DONE;
        sreq_queue(r);
    }
}

/* Every write is done: make the names, answer each file's status. */
static void put_finish(struct sreq *r)
{
    const struct proto_put_req *q = &r->body.put_req;
    struct put_state *ps = r->op_state;
    struct server *srv = r->srv;
    uint64_t now = time_real_ns();

    for (uint32_t k = 0; k < ps->count; k++) {
        const struct proto_putfile *f = &ps->files[k];
        struct put_file *pf = &ps->st[k];
        struct meta_attr a;

        if (pf->status == 0) {
            memset(&a, 0, sizeof(a));
            a.ino = pf->ino;
            a.size = f->length;
            a.chunk_size = ps->chunk_size;
            a.mode = S_IFREG | f->mode;
            a.nlink = 1;
            a.uid = q->uid;
            a.gid = q->gid;
            a.atime_ns = a.ctime_ns = now;
            a.mtime_ns = (f->flags & PROTO_PUTFILE_MTIME) ? f->mtime_ns : now;
            pf->status = meta_inode_put(srv->meta, f->path, f->path_len, &a, true, NULL, NULL);
            if (pf->status == -EISDIR)
                pf->status = -EEXIST;
        }
        if (pf->status < 0)
            put_drop(r, k);
        else if (f->length > 0)
            srv->stats.chunk_writes++;
        proto_put_u32(ps->reply + 4 * (size_t)k, (uint32_t)pf->status);
    }
    if (srv->cfg.durability == DURABILITY_ALWAYS)
        srv->meta_sync = true;
    r->rep.put_rep.count = ps->count;
    r->rep_data = ps->reply;
    r->rep_data_len = 4 * ps->count;
    sreq_finish(r, 0);
}

void server_op_PUT(struct sreq *r)
{
    /* Reached only with eager data held in eager_copy (no buffer was free
     * on receipt), like CHUNK_WRITE. */
    if (r->eager_copy == NULL && r->iobuf == NULL) {
        sreq_finish(r, -EIO);
        return;
    }
    server_put_continue(r);
}

void server_put_continue(struct sreq *r)
{
    int rc;

    if (r->state == SREQ_IO_DONE) {
        put_finish(r);
        return;
    }
    if (r->op_state == NULL) {
        rc = put_start(r);
        if (rc < 0) {
            sreq_finish(r, rc);
            return;
        }
    }
    put_submit(r);
}

void server_put_lost(struct sreq *r)
{
    struct put_state *ps = r->op_state;

    if (ps == NULL)
        return;
    for (uint32_t k = 0; k < ps->count; k++)
        if (ps->st[k].status == 0)
            put_drop(r, k);
}
