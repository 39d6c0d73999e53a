/*
 * placement.c - chunk and metadata placement, piece splitting and chunk
 * removal plans (placement.h). Everything here is a pure function of the
 * ring and its arguments.
 */
#include "client/placement.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/ring.h"
#include "proto/proto.h"

/* A piece's offset + length must stay within the 32-bit chunk offset space. */
#define PLACEMENT_XFER_MAX ((uint64_t)PROTO_DATA_MAX)

static int placement_tag_cmp(const void *a, const void *b)
{
    const struct placement_tag *x = a, *y = b;

    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    return x->server < y->server ? -1 : (x->server > y->server);
}

int placement_init(struct placement *p, const struct ring *ring, uint64_t default_xfer,
                   size_t *dup_a_p, size_t *dup_b_p)
{
    size_t n = ring_size(ring), i;

    memset(p, 0, sizeof(*p));
    p->tags = calloc(n, sizeof(*p->tags));
    p->max_xfer = calloc(n, sizeof(*p->max_xfer));
    if (p->tags == NULL || p->max_xfer == NULL)
        goto err_free;
    p->ring = ring;
    p->nservers = n;
    for (i = 0; i < n; i++) {
        p->tags[i].tag = ring_node_tag(ring_node_id(ring, i));
        p->tags[i].server = (uint32_t)i;
        p->max_xfer[i] = 1;
        placement_set_max_xfer(p, i, default_xfer);
    }
    qsort(p->tags, n, sizeof(*p->tags), placement_tag_cmp);
    /* Inode numbers name their allocating server by tag: tags must be unique. */
    for (i = 1; i < n; i++) {
        if (p->tags[i].tag == p->tags[i - 1].tag) {
            if (dup_a_p != NULL)
                *dup_a_p = p->tags[i - 1].server;
            if (dup_b_p != NULL)
                *dup_b_p = p->tags[i].server;
            placement_cleanup(p);
            return -EEXIST;
        }
    }
    return 0;

err_free:
    free(p->tags);
    free(p->max_xfer);
    memset(p, 0, sizeof(*p));
    return -ENOMEM;
}

void placement_cleanup(struct placement *p)
{
    free(p->tags);
    free(p->max_xfer);
    memset(p, 0, sizeof(*p));
}

void placement_set_max_xfer(struct placement *p, size_t idx, uint64_t max_xfer)
{
    if (idx >= p->nservers || max_xfer == 0)
        return;
    if (max_xfer > PLACEMENT_XFER_MAX)
        max_xfer = PLACEMENT_XFER_MAX;
    p->max_xfer[idx] = max_xfer;
}

int placement_tag_server(const struct placement *p, uint32_t tag)
{
    size_t lo = 0, hi = p->nservers;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (p->tags[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < p->nservers && p->tags[lo].tag == tag)
        return (int)p->tags[lo].server;
    return -ENOENT;
}

size_t placement_path(const struct placement *p, const char *path, size_t len)
{
    return ring_owner(p->ring, path, len);
}

size_t placement_chunk(const struct placement *p, uint64_t ino, uint64_t index)
{
    if (index == 0) {
        int s = placement_tag_server(p, (uint32_t)(ino >> 32));

        /* An inode of a server that is not in this cluster: fall back to the ring. */
        if (s >= 0)
            return (size_t)s;
    }
    return ring_owner_chunk(p->ring, ino, index);
}

void placement_piece(const struct placement *p, uint64_t ino, uint64_t cs, uint64_t off,
                     uint64_t end, struct piece *piece_p)
{
    uint64_t index = off / cs, in = off % cs, len = end - off;
    size_t server = placement_chunk(p, ino, index);
    uint64_t xfer = p->max_xfer[server];

    if (len > cs - in)
        len = cs - in;
    if (len > xfer)
        len = xfer;
    piece_p->server = server;
    piece_p->index = index;
    piece_p->offset = (uint32_t)in;
    piece_p->length = (uint32_t)len;
    piece_p->file_off = off;
}

uint64_t placement_piece_count(const struct placement *p, uint64_t ino, uint64_t cs, uint64_t off,
                               uint64_t len)
{
    uint64_t end = off + len, count = 0;
    struct piece pc;

    while (off < end) {
        placement_piece(p, ino, cs, off, end, &pc);
        off += pc.length;
        count++;
    }
    return count;
}

int placement_remove_plan(const struct placement *p, uint64_t ino, uint64_t cs, uint64_t new_size,
                          uint64_t old_size, struct remove_range *ranges, size_t *count_p)
{
    uint64_t k, keep, last, first_full, i;
    size_t n = p->nservers, s, count = 0;
    size_t holder_k;

    if (cs == 0)
        return -EINVAL;
    if (old_size <= new_size) {
        *count_p = 0;
        return 0;
    }
    k = new_size / cs;
    keep = new_size % cs;
    last = (old_size - 1) / cs;
    /* Chunks from first_full on go entirely; chunk k is only cut when keep > 0. */
    first_full = keep > 0 ? k + 1 : k;
    holder_k = placement_chunk(p, ino, k);

    for (s = 0; s < n; s++) {
        ranges[s].server = s;
        ranges[s].first = UINT64_MAX;
        ranges[s].last = 0;
        ranges[s].keep = 0;
    }
    if (keep > 0) {
        ranges[holder_k].first = k;
        ranges[holder_k].last = k;
        ranges[holder_k].keep = keep;
    }

    if (last >= first_full && last - first_full >= PLACEMENT_PLAN_EXACT_MAX) {
        /* Huge sparse range: everyone gets all of it and skips what it lacks. */
        for (s = 0; s < n; s++) {
            if (ranges[s].keep == 0)
                ranges[s].first = first_full;
            ranges[s].last = last;
        }
    } else {
        /* old_size - 1 < UINT64_MAX, so last + 1 cannot wrap. */
        for (i = first_full; i <= last; i++) {
            s = placement_chunk(p, ino, i);
            if (ranges[s].first == UINT64_MAX)
                ranges[s].first = i;
            ranges[s].last = i;
        }
    }

    for (s = 0; s < n; s++) {
        if (ranges[s].first == UINT64_MAX)
            continue;
        ranges[count++] = ranges[s];
    }
    *count_p = count;
    return 0;
}
