/*
 * ring.c - the consistent-hash ring of ring.h (docs/design.md#namespace-and-placement).
 *
 * Construction: the node ids are sorted in natural order, which fixes each
 * server's index. Server s places `vnodes` points on the 64-bit circle at
 *     XXH64(le32(v), 4, seed = ring_hash(id_s))      for v = 0 .. vnodes-1,
 * i.e. the vnode number hashed under a per-server seed. The points are sorted
 * with an LSD radix sort (8 passes of 8 bits): at 64 servers x 2048 vnodes it
 * is several times faster than qsort and, being stable, keeps points with the
 * same hash in (server index, vnode) order. Of equal points only the first is
 * kept, so the rare 64-bit collision resolves to the server that sorts first,
 * whatever order the ids were passed in.
 *
 * Lookup: a key belongs to the first point whose hash is >= the key's hash,
 * wrapping to point 0 past the end; a lower-bound binary search over the
 * sorted hash array. Hashes and owners live in two arrays so the search
 * touches only the 8-byte hashes. The search starts from a bucket index:
 * the top `bucket_bits` bits of a hash select the range of points that
 * share them (about one point per bucket), so a lookup reads one or two
 * hashes instead of the 11 (one server) to 17 (64 servers) cache lines a
 * search over the whole array touches; a client makes one or more per call.
 *
 * RING_HASH_SEED is part of the on-disk and on-wire contract: every client
 * and server of a cluster must place keys identically, and inode numbers
 * carry ring_node_tag() in their high bits. Never change it.
 */
#include "common/ring.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define RING_HASH_SEED  UINT64_C(0x42656e6368465331) /* "BenchFS1" */
#define RING_MAX_VNODES 65536u
/* At most 2^16 buckets (256 KiB of index) whatever the number of points. */
#define RING_BUCKET_BITS_MAX 16u

struct ring {
    size_t n;         /* servers */
    char **ids;       /* node ids in natural order, pointing into id_blob */
    char *id_blob;    /* the NUL-terminated ids, back to back */
    size_t npoints;   /* points on the circle after dropping collisions */
    uint64_t *hashes; /* sorted ascending */
    uint32_t *owners; /* owners[i] = server index of hashes[i] */
    unsigned bucket_bits;
    uint32_t *buckets; /* 2^bucket_bits + 1: first point of each top-bits value, then npoints */
};

struct ring_point {
    uint64_t hash;
    uint32_t owner;
};

uint64_t ring_hash(const void *data, size_t len)
{
    return XXH64(data, len, RING_HASH_SEED);
}

uint32_t ring_node_tag(const char *node_id)
{
    return (uint32_t)ring_hash(node_id, strlen(node_id));
}

static bool ring_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Natural order: digit runs compare by numeric value (leading zeros skipped,
 * then the longer run is the larger number, then digit by digit, so runs of
 * any length work), everything else byte by byte, a prefix sorts first. Ids
 * that differ only in leading zeros ("n01", "n1") are equal numerically and
 * fall back to strcmp, so 0 means identical and the order is total.
 */
int ring_node_id_cmp(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a;
    const unsigned char *q = (const unsigned char *)b;
    int c;

    while (*p != '\0' && *q != '\0') {
        if (ring_is_digit(*p) && ring_is_digit(*q)) {
            const unsigned char *ps, *qs;
            size_t plen, qlen;

            while (*p == '0')
                p++;
            while (*q == '0')
                q++;
            for (ps = p; ring_is_digit(*p); p++)
                ;
            for (qs = q; ring_is_digit(*q); q++)
                ;
            plen = (size_t)(p - ps);
            qlen = (size_t)(q - qs);
            if (plen != qlen)
                return plen < qlen ? -1 : 1;
            c = memcmp(ps, qs, plen);
            if (c != 0)
                return c < 0 ? -1 : 1;
            continue;
        }
        /*
         * A digit against a non-digit compares as bytes; since '0'..'9' are
         * contiguous, every number sorts consistently against that byte.
         */
        if (*p != *q)
            return *p < *q ? -1 : 1;
        p++;
        q++;
    }
    if (*p != *q)
        return *p == '\0' ? -1 : 1;
    c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

static int ring_id_qsort_cmp(const void *a, const void *b)
{
    return ring_node_id_cmp(*(const char *const *)a, *(const char *const *)b);
}

/* Stable LSD radix sort of pts[0..n) by hash; tmp has room for n points. */
static void ring_radix_sort(struct ring_point *pts, struct ring_point *tmp, size_t n)
{
    size_t counts[8][256];
    unsigned pass, d;
    size_t i;

    memset(counts, 0, sizeof(counts));
    for (i = 0; i < n; i++) {
        for (pass = 0; pass < 8; pass++)
            counts[pass][(pts[i].hash >> (8 * pass)) & 0xff]++;
    }
    for (pass = 0; pass < 8; pass++) {
        size_t sum = 0;
        struct ring_point *swap;

        for (d = 0; d < 256; d++) {
            size_t c = counts[pass][d];

            counts[pass][d] = sum;
            sum += c;
        }
        for (i = 0; i < n; i++)
            tmp[counts[pass][(pts[i].hash >> (8 * pass)) & 0xff]++] = pts[i];
        swap = pts;
        pts = tmp;
        tmp = swap;
    }
    /* An even number of passes leaves the result back in the caller's `pts`. */
}

/* Copy the ids, sorted naturally, into ring->ids / ring->id_blob. */
static int ring_copy_ids(struct ring *ring, const char *const *node_ids, size_t n)
{
    size_t i, total = 0, off = 0;

    for (i = 0; i < n; i++) {
        if (node_ids[i] == NULL || node_ids[i][0] == '\0')
            return -EINVAL;
        total += strlen(node_ids[i]) + 1;
    }
    ring->ids = malloc(n * sizeof(*ring->ids));
    if (ring->ids == NULL)
        return -ENOMEM;
    ring->id_blob = malloc(total);
    if (ring->id_blob == NULL)
        return -ENOMEM; /* ring_destroy frees ring->ids */
    for (i = 0; i < n; i++) {
        size_t len = strlen(node_ids[i]) + 1;

        memcpy(ring->id_blob + off, node_ids[i], len);
        ring->ids[i] = ring->id_blob + off;
        off += len;
    }
    qsort(ring->ids, n, sizeof(*ring->ids), ring_id_qsort_cmp);
    for (i = 1; i < n; i++) {
        if (ring_node_id_cmp(ring->ids[i - 1], ring->ids[i]) == 0)
            return -EINVAL;
    }
    return 0;
}

/* The bucket a hash falls in: its top bucket_bits bits (no shift by 64). */
static inline size_t ring_bucket_of(const struct ring *ring, uint64_t h)
{
    return (size_t)(h >> (63u - ring->bucket_bits) >> 1);
}

/* buckets[b] = the first point whose hash is in bucket b or later. */
static int ring_index_buckets(struct ring *ring)
{
    size_t nb, b, i = 0;

    if (ring->npoints > UINT32_MAX)
        return -ENOMEM;
    ring->bucket_bits = 0;
    while (ring->bucket_bits < RING_BUCKET_BITS_MAX &&
           ((size_t)2 << ring->bucket_bits) <= ring->npoints)
        ring->bucket_bits++;
    nb = (size_t)1 << ring->bucket_bits;
    ring->buckets = malloc((nb + 1) * sizeof(*ring->buckets));
    if (ring->buckets == NULL)
        return -ENOMEM;
    for (b = 0; b < nb; b++) {
        while (i < ring->npoints && ring_bucket_of(ring, ring->hashes[i]) < b)
            i++;
        ring->buckets[b] = (uint32_t)i;
    }
    ring->buckets[nb] = (uint32_t)ring->npoints;
    return 0;
}

/* Place, sort and deduplicate the points of every server. */
static int ring_place_points(struct ring *ring, unsigned vnodes)
{
    struct ring_point *pts, *tmp;
    size_t total = ring->n * vnodes, i, j, k;
    int rc = -ENOMEM;

    pts = malloc(total * sizeof(*pts));
    if (pts == NULL)
        return -ENOMEM;
    tmp = malloc(total * sizeof(*tmp));
    if (tmp == NULL)
        goto out_free_pts;
    /* On failure below, ring_destroy (called by ring_create) frees these two. */
    ring->hashes = malloc(total * sizeof(*ring->hashes));
    if (ring->hashes == NULL)
        goto out_free_tmp;
    ring->owners = malloc(total * sizeof(*ring->owners));
    if (ring->owners == NULL)
        goto out_free_tmp;

    for (i = 0, k = 0; i < ring->n; i++) {
        uint64_t seed = ring_hash(ring->ids[i], strlen(ring->ids[i]));

        for (j = 0; j < vnodes; j++, k++) {
            unsigned char le[4] = {(unsigned char)j, (unsigned char)(j >> 8),
                                   (unsigned char)(j >> 16), (unsigned char)(j >> 24)};

            pts[k].hash = XXH64(le, sizeof(le), seed);
            pts[k].owner = (uint32_t)i;
        }
    }
    ring_radix_sort(pts, tmp, total);

    ring->npoints = 0;
    for (k = 0; k < total; k++) {
        if (ring->npoints > 0 && ring->hashes[ring->npoints - 1] == pts[k].hash)
            continue; /* collision: the earlier (lower server index) point wins */
        ring->hashes[ring->npoints] = pts[k].hash;
        ring->owners[ring->npoints] = pts[k].owner;
        ring->npoints++;
    }
    rc = ring_index_buckets(ring);

    /* The scratch arrays go on success and failure alike. */
out_free_tmp:
    free(tmp);
out_free_pts:
    free(pts);
    return rc;
}

int ring_create(const char *const *node_ids, size_t n, unsigned vnodes, struct ring **ring_p)
{
    struct ring *ring;
    int rc;

    if (vnodes == 0)
        vnodes = RING_DEFAULT_VNODES;
    if (node_ids == NULL || n == 0 || n > INT_MAX || vnodes > RING_MAX_VNODES)
        return -EINVAL;
    if (n > SIZE_MAX / vnodes / sizeof(struct ring_point))
        return -ENOMEM;

    ring = calloc(1, sizeof(*ring));
    if (ring == NULL)
        return -ENOMEM;
    ring->n = n;
    rc = ring_copy_ids(ring, node_ids, n);
    if (rc != 0)
        goto err_destroy;
    rc = ring_place_points(ring, vnodes);
    if (rc != 0)
        goto err_destroy;
    *ring_p = ring;
    return 0;

err_destroy:
    ring_destroy(ring);
    return rc;
}

void ring_destroy(struct ring *ring)
{
    if (ring == NULL)
        return;
    free(ring->buckets);
    free(ring->owners);
    free(ring->hashes);
    free(ring->id_blob);
    free(ring->ids);
    free(ring);
}

size_t ring_size(const struct ring *ring)
{
    return ring->n;
}

const char *ring_node_id(const struct ring *ring, size_t idx)
{
    return idx < ring->n ? ring->ids[idx] : NULL;
}

/* Server owning a 64-bit hash: the first point at or after it, wrapping.
 * Points of earlier buckets are below h and those of later ones above, so
 * the answer is in h's bucket or is the first point after it. */
size_t ring_owner_hash(const struct ring *ring, uint64_t h)
{
    size_t b = ring_bucket_of(ring, h);
    size_t lo = ring->buckets[b], hi = ring->buckets[b + 1];

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ring->hashes[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return ring->owners[lo == ring->npoints ? 0 : lo];
}

size_t ring_points(const struct ring *ring, const uint64_t **hashes, const uint32_t **owners)
{
    *hashes = ring->hashes;
    *owners = ring->owners;
    return ring->npoints;
}

size_t ring_owner(const struct ring *ring, const void *key, size_t len)
{
    return ring_owner_hash(ring, ring_hash(key, len));
}

size_t ring_owner_path(const struct ring *ring, const char *path)
{
    return ring_owner(ring, path, strlen(path));
}

size_t ring_owner_chunk(const struct ring *ring, uint64_t ino, uint64_t index)
{
    unsigned char key[16];
    int i;

    /* Little-endian whatever the host, so every node computes the same key. */
    for (i = 0; i < 8; i++) {
        key[i] = (unsigned char)(ino >> (8 * i));
        key[8 + i] = (unsigned char)(index >> (8 * i));
    }
    return ring_owner(ring, key, sizeof(key));
}

int ring_find(const struct ring *ring, const char *node_id)
{
    size_t lo = 0, hi = ring->n;

    if (node_id == NULL)
        return -ENOENT;
    /* ring_node_id_cmp is a total order consistent with strcmp() == 0. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ring_node_id_cmp(ring->ids[mid], node_id);

        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENOENT;
}

void ring_chunk_name(char buf[RING_CHUNK_NAME_MAX], uint64_t ino, uint64_t index)
{
    uint8_t le[8];
    int i;

    for (i = 0; i < 8; i++)
        le[i] = (uint8_t)(ino >> (8 * i));
    snprintf(buf, RING_CHUNK_NAME_MAX, "%02x/%016" PRIx64 ".%" PRIu64,
             (unsigned)(uint8_t)ring_hash(le, sizeof(le)), ino, index);
}
