/*
 * op_fsck.c - handlers of the listing ops that `benchfs fsck` uses:
 * CHUNK_LIST (which inodes have chunk files here, and how much),
 * INODE_LIST (which file inodes this server owns), ORPHAN_LIST (its orphan
 * records and the state of their holders) and ORPHAN_FREE (free the orphan
 * record of a holder that is gone, orphans.c).
 *
 * Both answer one bounded page (at most PROTO_LIST_MAX entries, and never
 * more than a registered buffer holds) from a cursor the client passes back,
 * so a listing of any size costs the loop one short step per page. The
 * reply's data is built in a registered buffer, like a chunk read; a request
 * that finds none free waits for one in the server's wait_buf queue.
 * Removal of what fsck finds goes through CHUNK_TRUNC (op_data.c).
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "server/server_int.h"

/* Take a reply buffer, or park the request until one is free. */
static bool fsck_buf(struct sreq *r)
{
    if (r->iobuf == NULL)
        r->iobuf = chunk_buf_get(r->srv->chunks);
    if (r->iobuf != NULL)
        return true;
    r->state = SREQ_WAIT_BUF;
    list_push_back(&r->srv->wait_buf, &r->link);
    return false;
}

/* Entries of `size` bytes that fit the reply buffer, at most `max`. */
static size_t fsck_page_max(const struct sreq *r, uint32_t max, size_t size)
{
    size_t fit = chunk_buf_size(r->srv->chunks) / size;

    return fit < max ? fit : max;
}

void server_op_CHUNK_LIST(struct sreq *r)
{
    const struct proto_chunk_list_req *q = &r->body.chunk_list_req;
    uint64_t inos[PROTO_LIST_MAX], chunks, bytes;
    size_t max, n, i;
    uint8_t *p;
    int rc;

    if (!fsck_buf(r))
        return;
    max = fsck_page_max(r, q->max, PROTO_CHUNK_LIST_ENTRY);
    n = chunk_store_list(r->srv->chunks, q->after, inos, max);
    p = r->iobuf;
    for (i = 0; i < n; i++, p += PROTO_CHUNK_LIST_ENTRY) {
        rc = chunk_store_usage(r->srv->chunks, inos[i], &chunks, &bytes);
        if (rc < 0) {
            log_warn("fsck: cannot stat the chunks of inode %016llx: %d",
                     (unsigned long long)inos[i], rc);
            sreq_finish(r, rc);
            return;
        }
        proto_put_u64(p, inos[i]);
        proto_put_u64(p + 8, chunks);
        proto_put_u64(p + 16, bytes);
    }
    r->rep.list_rep.count = (uint32_t)n;
    r->rep.list_rep.done = n < max;
    r->rep_data = r->iobuf;
    r->rep_data_len = (uint32_t)(n * PROTO_CHUNK_LIST_ENTRY);
    sreq_finish(r, 0);
}

void server_op_INODE_LIST(struct sreq *r)
{
    const struct proto_inode_list_req *q = &r->body.inode_list_req;
    struct proto_inode_list_rep *rep = &r->rep.inode_list_rep;
    uint64_t inos[PROTO_LIST_MAX];
    uint8_t after[16], next[16];
    size_t max, n, i;
    bool done;
    int rc;

    if (!fsck_buf(r))
        return;
    /* The record key travels as two big-endian halves. */
    for (i = 0; i < 8; i++) {
        after[i] = (uint8_t)(q->after_hi >> (56 - 8 * i));
        after[8 + i] = (uint8_t)(q->after_lo >> (56 - 8 * i));
    }
    memcpy(next, after, sizeof(next));
    max = fsck_page_max(r, q->max, 8);
    rc = meta_ino_list(r->srv->meta, after, (q->flags & PROTO_INODE_LIST_START) != 0, inos, max, &n,
                       next, &done);
    if (rc < 0) {
        sreq_finish(r, rc);
        return;
    }
    for (i = 0; i < n; i++)
        proto_put_u64((uint8_t *)r->iobuf + 8 * i, inos[i]);
    rep->next_hi = rep->next_lo = 0;
    for (i = 0; i < 8; i++) {
        rep->next_hi = (rep->next_hi << 8) | next[i];
        rep->next_lo = (rep->next_lo << 8) | next[8 + i];
    }
    rep->count = (uint32_t)n;
    rep->done = done;
    r->rep_data = r->iobuf;
    r->rep_data_len = (uint32_t)(n * 8);
    sreq_finish(r, 0);
}

void server_op_ORPHAN_LIST(struct sreq *r)
{
    const struct proto_chunk_list_req *q = &r->body.chunk_list_req;
    uint64_t inos[PROTO_LIST_MAX];
    struct meta_holder h;
    struct meta_attr a;
    size_t max, n, i, out = 0;
    uint8_t *p;

    if (!fsck_buf(r))
        return;
    max = fsck_page_max(r, q->max, PROTO_ORPHAN_LIST_ENTRY);
    n = server_orphans_page(r->srv, q->after, inos, max);
    p = r->iobuf;
    for (i = 0; i < n; i++) {
        char opath[META_ORPHAN_PATH_MAX];
        size_t olen = meta_orphan_path(inos[i], opath);
        unsigned state = server_orphan_state(r->srv, inos[i], &h);

        if (meta_stat_ino(r->srv->meta, opath, olen, inos[i], &a) != 0)
            continue; /* released in this very pass */
        proto_put_u64(p, inos[i]);
        proto_put_u64(p + 8, a.size);
        proto_put_u64(p + 16, h.session);
        proto_put_u64(p + 24, h.pid);
        proto_put_u64(p + 32, h.host);
        proto_put_u64(p + 40, state);
        p += PROTO_ORPHAN_LIST_ENTRY;
        out++;
    }
    r->rep.list_rep.count = (uint32_t)out;
    r->rep.list_rep.done = n < max;
    r->rep_data = r->iobuf;
    r->rep_data_len = (uint32_t)(out * PROTO_ORPHAN_LIST_ENTRY);
    sreq_finish(r, 0);
}

void server_op_ORPHAN_FREE(struct sreq *r)
{
    uint64_t ino = r->body.ino_req.ino, bytes = 0;
    struct meta_attr a;
    unsigned state = server_orphan_state(r->srv, ino, NULL);
    bool unknown_ok = (r->body.ino_req.flags & PROTO_ORPHAN_FREE_UNKNOWN) != 0;
    int rc;

    /* A live holder's orphan is never touched, and neither is one whose
     * holder cannot be checked from here, unless the operator says that
     * no such holder runs any more. */
    if (state == PROTO_HOLDER_LIVE || (state == PROTO_HOLDER_UNKNOWN && !unknown_ok)) {
        char opath[META_ORPHAN_PATH_MAX];
        size_t olen = meta_orphan_path(ino, opath);

        rc = meta_stat_ino(r->srv->meta, opath, olen, ino, NULL);
        sreq_finish(r, rc == 0 ? -EBUSY : rc);
        return;
    }
    rc = server_orphan_reclaim(r->srv, ino, &a, &bytes);
    if (rc == 0) {
        log_info("fsck: orphan inode %016llx freed: its holder is %s (%llu bytes of chunks here)",
                 (unsigned long long)ino, state == PROTO_HOLDER_GONE ? "gone" : "unknown",
                 (unsigned long long)bytes);
        r->rep.attr_rep.attr.ino = a.ino;
        r->rep.attr_rep.attr.size = a.size;
        r->rep.attr_rep.attr.chunk_size = a.chunk_size;
        r->rep.attr_rep.attr.mode = a.mode;
    }
    sreq_finish(r, rc);
}
