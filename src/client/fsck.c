/*
 * fsck.c - benchfs_fsck(): find (and free) chunk files whose inode exists
 * nowhere in the cluster.
 *
 * Three passes, each paged (CHUNK_LIST / INODE_LIST, at most PROTO_LIST_MAX
 * entries a page, one server at a time):
 *   1. every server lists the inodes it holds chunk files of (chunk sets);
 *   2. every server lists the file inodes whose records it owns;
 *   3. a chunk set whose inode is in no list is an orphan: reported, and
 *      with BENCHFS_FSCK_REPAIR freed by a CHUNK_TRUNC with
 *      PROTO_CHUNK_TRUNC_GONE to its server.
 * Chunks are listed first on purpose: a file's record is made before any of
 * its chunks, so a file created while fsck runs is in pass 2 whenever its
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
    struct fsck_set *sets;
    size_t nsets, capsets;
    uint64_t *inos;
    size_t ninos, capinos;
    uint8_t page[PROTO_LIST_MAX * PROTO_CHUNK_LIST_ENTRY];
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

/* Pass 1 on one server: append its chunk sets. */
static int fsck_list_chunks(struct fsck_run *f, size_t server)
{
    struct rpc_call call;
    uint64_t after = 0;
    const uint8_t *p;
    uint32_t i;
    int rc;

    for (;;) {
        rpc_call_init(&call, PROTO_OP_CHUNK_LIST, server);
        call.req.chunk_list_req.after = after;
        call.req.chunk_list_req.max = PROTO_LIST_MAX;
        call.rbuf = f->page;
        call.rbuf_len = sizeof(f->page);
        rc = rpc_run_one(f->c, &call);
        if (rc < 0)
            return rc;
        rc = fsck_grow((void **)&f->sets, &f->capsets, f->nsets + call.rep.list_rep.count,
                       sizeof(*f->sets));
        if (rc < 0)
            return rc;
        for (i = 0, p = f->page; i < call.rep.list_rep.count; i++, p += PROTO_CHUNK_LIST_ENTRY) {
            struct fsck_set *s = &f->sets[f->nsets++];

            s->ino = proto_get_u64(p);
            s->chunks = proto_get_u64(p + 8);
            s->bytes = proto_get_u64(p + 16);
            s->server = server;
            /* Ascending and above the cursor, or the server is broken. */
            if (s->ino <= after)
                return -EPROTO;
            after = s->ino;
        }
        if (call.rep.list_rep.done || call.rep.list_rep.count == 0)
            return 0;
    }
}

/* Pass 2 on one server: append its file inode numbers. */
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

static int fsck_run(struct client *c, unsigned flags, benchfs_fsck_cb cb, void *arg,
                    struct benchfs_fsck_report *rep)
{
    struct fsck_run *f;
    size_t i;
    int rc = 0, r;

    if (rep == NULL || (flags & ~BENCHFS_FSCK_REPAIR) != 0)
        return -EINVAL;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    f->c = c;
    memset(rep, 0, sizeof(*rep));
    rep->servers = c->nservers;

    /* A server that cannot list its chunks hides nothing from the others;
     * one that cannot list its inodes would make all of its files look
     * like orphans: then nothing may be repaired. */
    for (i = 0; i < c->nservers; i++) {
        r = fsck_list_chunks(f, i);
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

int benchfs_fsck(unsigned flags, benchfs_fsck_cb cb, void *arg, struct benchfs_fsck_report *report)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = fsck_run(c, flags, cb, arg, report);
        client_leave(c);
    }
    return (int)error_finish(rc, "fsck", NULL, false);
}
