/*
 * fsck.c - benchfs_fsck(): find (and free) chunk files whose inode exists
 * nowhere in the cluster.
 *
 * Four passes, each paged (CHUNK_LIST / ORPHAN_LIST / INODE_LIST, at most
 * PROTO_LIST_MAX entries a page, one server at a time):
 *   1. every server lists the inodes it holds chunk files of (chunk sets);
 *   2. every server lists its orphan records (files unlinked while open)
 *      with the state of their holders; with BENCHFS_FSCK_REPAIR those of
 *      gone holders are dropped (ORPHAN_FREE: the owner checks the holder
 *      again, and frees its own chunks of the inode);
 *   3. every server lists the file inodes whose records it owns (a dropped
 *      orphan is no longer among them);
 *   4. a chunk set whose inode is in no list is an orphan: reported, and
 *      with BENCHFS_FSCK_REPAIR freed by a CHUNK_TRUNC with
 *      PROTO_CHUNK_TRUNC_GONE to its server -- the chunks of the orphan
 *      records dropped in pass 2 included.
 * Chunks are listed first on purpose: a file's record is made before any of
 * its chunks, so a file created while fsck runs is in pass 3 whenever its
 * chunks were in pass 1. Memory: 8 bytes per file and 32 per chunk set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "benchfs.h"
#include "client/client.h"
#include "client/error.h"
#include "common/ring.h"

struct fsck_set {
    uint64_t ino, chunks, bytes;
    size_t server;
};

struct fsck_run {
    struct client *c;
    unsigned flags;
    benchfs_fsck_orphan_cb ocb;
    void *arg;
    struct benchfs_fsck_report *rep;
    struct fsck_set *sets;
    size_t nsets, capsets;
    uint64_t *inos;
    size_t ninos, capinos;
    uint8_t page[PROTO_LIST_MAX * PROTO_ORPHAN_LIST_ENTRY];
};

static int fsck_grow(void **arr, size_t *cap, size_t need, size_t size)
{
    size_t ncap = *cap ? *cap : 1024;
    void *p;

    if (need <= *cap)
        return 0;
    while (ncap < need)
        ncap *= 2;
    p = realloc(*arr, ncap * size);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/*
 * Page through one server's listing of `op` (CHUNK_LIST or ORPHAN_LIST:
 * entries of entry_size bytes, each starting with its ascending inode
 * number), handing every entry to each(). A page is consumed before the
 * next call reuses it.
 */
static int fsck_pages(struct fsck_run *f, size_t server, unsigned op, size_t entry_size,
                      int (*each)(struct fsck_run *f, size_t server, const uint8_t *p))
{
    struct rpc_call call;
    uint64_t after = 0;
    const uint8_t *p;
    uint32_t i;
    int rc;

    for (;;) {
        rpc_call_init(&call, op, server);
        call.req.chunk_list_req.after = after;
        call.req.chunk_list_req.max = PROTO_LIST_MAX;
        call.rbuf = f->page;
        call.rbuf_len = sizeof(f->page);
        rc = rpc_run_one(f->c, &call);
        if (rc < 0)
            return rc;
        for (i = 0, p = f->page; i < call.rep.list_rep.count; i++, p += entry_size) {
            uint64_t ino = proto_get_u64(p);

            /* Ascending and above the cursor, or the server is broken. */
            if (ino <= after)
                return -EPROTO;
            after = ino;
            rc = each(f, server, p);
            if (rc < 0)
                return rc;
        }
        if (call.rep.list_rep.done || call.rep.list_rep.count == 0)
            return 0;
    }
}

/* Pass 1, one chunk set of a server: append it. */
static int fsck_chunk_set(struct fsck_run *f, size_t server, const uint8_t *p)
{
    struct fsck_set *s;
    int rc = fsck_grow((void **)&f->sets, &f->capsets, f->nsets + 1, sizeof(*f->sets));

    if (rc < 0)
        return rc;
    s = &f->sets[f->nsets++];
    s->ino = proto_get_u64(p);
    s->chunks = proto_get_u64(p + 8);
    s->bytes = proto_get_u64(p + 16);
    s->server = server;
    return 0;
}

/* Pass 2, one orphan record: count it, free it if its holder is gone. */
static int fsck_orphan(struct fsck_run *f, size_t server, const uint8_t *p)
{
    struct benchfs_fsck_report *rep = f->rep;
    struct benchfs_fsck_orphan o;
    struct rpc_call call;
    uint64_t state = proto_get_u64(p + 40);

    memset(&o, 0, sizeof(o));
    o.node_id = ring_node_id(f->c->ring, server);
    o.ino = proto_get_u64(p);
    o.size = proto_get_u64(p + 8);
    o.session = proto_get_u64(p + 16);
    o.pid = proto_get_u64(p + 24);
    o.same_host = proto_get_u64(p + 32) == f->c->host_id;
    o.holder = state == PROTO_HOLDER_LIVE   ? BENCHFS_HOLDER_LIVE
               : state == PROTO_HOLDER_GONE ? BENCHFS_HOLDER_GONE
                                            : BENCHFS_HOLDER_UNKNOWN;
    rep->orphan_records++;
    if ((f->flags & BENCHFS_FSCK_REPAIR) &&
        (o.holder == BENCHFS_HOLDER_GONE ||
         (o.holder == BENCHFS_HOLDER_UNKNOWN && (f->flags & BENCHFS_FSCK_REPAIR_UNKNOWN)))) {
        /* The owner checks the holder again: one that came back since the
         * listing is refused (EBUSY) and stays. */
        rpc_call_init(&call, PROTO_OP_ORPHAN_FREE, server);
        call.req.ino_req.ino = o.ino;
        if (f->flags & BENCHFS_FSCK_REPAIR_UNKNOWN)
            call.req.ino_req.flags = PROTO_ORPHAN_FREE_UNKNOWN;
        if (rpc_run_one(f->c, &call) == 0) {
            o.freed = 1;
            rep->orphan_records_freed++;
        } else if (call.status == -ENOENT) {
            /* released meanwhile: nothing left to free */
        } else if (call.status == -EBUSY) {
            o.holder = BENCHFS_HOLDER_LIVE;
        } else {
            error_msg("fsck: cannot free orphan record %016llx on server %s: %s",
                      (unsigned long long)o.ino, o.node_id, strerror(-call.status));
            rep->errors++;
        }
    }
    if (o.holder == BENCHFS_HOLDER_LIVE)
        rep->orphan_records_live++;
    else if (o.holder == BENCHFS_HOLDER_GONE)
        rep->orphan_records_gone++;
    else
        rep->orphan_records_unknown++;
    if (f->ocb != NULL)
        f->ocb(f->arg, &o);
    return 0;
}

/* Pass 3 on one server: append its file inode numbers. */
static int fsck_list_inodes(struct fsck_run *f, size_t server)
{
    struct rpc_call call;
    uint64_t hi = 0, lo = 0;
    uint32_t flags = PROTO_INODE_LIST_START, i;
    int rc;

    for (;;) {
        rpc_call_init(&call, PROTO_OP_INODE_LIST, server);
        call.req.inode_list_req.after_hi = hi;
        call.req.inode_list_req.after_lo = lo;
        call.req.inode_list_req.max = PROTO_LIST_MAX;
        call.req.inode_list_req.flags = flags;
        call.rbuf = f->page;
        call.rbuf_len = sizeof(f->page);
        rc = rpc_run_one(f->c, &call);
        if (rc < 0)
            return rc;
        rc = fsck_grow((void **)&f->inos, &f->capinos, f->ninos + call.rep.inode_list_rep.count,
                       sizeof(*f->inos));
        if (rc < 0)
            return rc;
        for (i = 0; i < call.rep.inode_list_rep.count; i++)
            f->inos[f->ninos++] = proto_get_u64(f->page + 8 * i);
        if (call.rep.inode_list_rep.done)
            return 0;
        /* The key must move on, or a broken server would loop us forever. */
        if (!(flags & PROTO_INODE_LIST_START) && call.rep.inode_list_rep.next_hi == hi &&
            call.rep.inode_list_rep.next_lo == lo)
            return -EPROTO;
        hi = call.rep.inode_list_rep.next_hi;
        lo = call.rep.inode_list_rep.next_lo;
        flags = 0;
    }
}

static int fsck_ino_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Free one orphan chunk set on its server. */
static int fsck_free(struct fsck_run *f, const struct fsck_set *s)
{
    struct rpc_call call;

    rpc_call_init(&call, PROTO_OP_CHUNK_TRUNC, s->server);
    call.req.chunk_trunc_req.ino = s->ino;
    call.req.chunk_trunc_req.flags = PROTO_CHUNK_TRUNC_GONE;
    return rpc_run_one(f->c, &call);
}

static int fsck_run(struct client *c, unsigned flags, benchfs_fsck_cb cb,
                    benchfs_fsck_orphan_cb ocb, void *arg, struct benchfs_fsck_report *rep)
{
    struct fsck_run *f;
    size_t i;
    int rc = 0, r;

    if (rep == NULL || (flags & ~(BENCHFS_FSCK_REPAIR | BENCHFS_FSCK_REPAIR_UNKNOWN)) != 0 ||
        ((flags & BENCHFS_FSCK_REPAIR_UNKNOWN) && !(flags & BENCHFS_FSCK_REPAIR)))
        return -EINVAL;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    f->c = c;
    f->flags = flags;
    f->ocb = ocb;
    f->arg = arg;
    f->rep = rep;
    memset(rep, 0, sizeof(*rep));
    rep->servers = c->nservers;

    /* A server that cannot list its chunks hides nothing from the others;
     * one that cannot list its inodes would make all of its files look
     * like orphans: then nothing may be repaired. */
    for (i = 0; i < c->nservers; i++) {
        r = fsck_pages(f, i, PROTO_OP_CHUNK_LIST, PROTO_CHUNK_LIST_ENTRY, fsck_chunk_set);
        if (r == -ENOMEM) {
            rc = r;
            goto out;
        }
        if (r < 0) {
            error_msg("fsck: cannot list the chunks of server %s: %s", ring_node_id(c->ring, i),
                      strerror(-r));
            rep->errors++;
        }
    }
    /* A server that cannot list its orphans keeps them as they are. */
    for (i = 0; i < c->nservers; i++) {
        r = fsck_pages(f, i, PROTO_OP_ORPHAN_LIST, PROTO_ORPHAN_LIST_ENTRY, fsck_orphan);
        if (r < 0) {
            error_msg("fsck: cannot list the orphan records of server %s: %s",
                      ring_node_id(c->ring, i), strerror(-r));
            rep->errors++;
        }
    }
    for (i = 0; i < c->nservers; i++) {
        r = fsck_list_inodes(f, i);
        if (r < 0) {
            error_msg("fsck: cannot list the inodes of server %s: %s", ring_node_id(c->ring, i),
                      strerror(-r));
            rc = r == -ENOMEM ? r : -EIO;
            goto out;
        }
    }
    rep->files = f->ninos;
    if (f->ninos > 0)
        qsort(f->inos, f->ninos, sizeof(*f->inos), fsck_ino_cmp);

    for (i = 0; i < f->nsets; i++) {
        const struct fsck_set *s = &f->sets[i];
        int repaired = 0;

        rep->chunk_sets++;
        rep->chunks += s->chunks;
        rep->bytes += s->bytes;
        if (f->ninos > 0 && bsearch(&s->ino, f->inos, f->ninos, sizeof(*f->inos), fsck_ino_cmp))
            continue;
        rep->orphan_sets++;
        rep->orphan_chunks += s->chunks;
        rep->orphan_bytes += s->bytes;
        if (flags & BENCHFS_FSCK_REPAIR) {
            r = fsck_free(f, s);
            if (r == 0) {
                rep->freed_bytes += s->bytes;
                repaired = 1;
            } else {
                rep->errors++;
            }
        }
        if (cb != NULL)
            cb(arg, ring_node_id(c->ring, s->server), s->ino, s->chunks, s->bytes, repaired);
    }
out:
    free(f->sets);
    free(f->inos);
    free(f);
    return rc;
}

int benchfs_fsck_ex(unsigned flags, benchfs_fsck_cb cb, benchfs_fsck_orphan_cb ocb, void *arg,
                    struct benchfs_fsck_report *report)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = fsck_run(c, flags, cb, ocb, arg, report);
        client_leave(c);
    }
    return (int)error_finish(rc, "fsck", NULL, false);
}

int benchfs_fsck(unsigned flags, benchfs_fsck_cb cb, void *arg, struct benchfs_fsck_report *report)
{
    return benchfs_fsck_ex(flags, cb, NULL, arg, report);
}
