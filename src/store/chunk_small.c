/*
 * chunk_small.c - small chunks: chunk 0 of an inode kept by the server's
 * metadata store instead of a chunk file (chunk.h chunk_store_set_small,
 * docs/architecture.md#small-files).
 *
 * Invariant: chunk 0 of an inode is a small chunk or a chunk file, never
 * both once a pass is committed. A write creates a small chunk only when
 * the inode has no chunk file here at all and the write ends within max;
 * a write past max moves the small chunk into a file (written and then the
 * small chunk removed, in that order, so the bytes always exist somewhere)
 * and the file path takes the write. A chunk file never turns back into a
 * small chunk.
 */
#include "store/chunk_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ring.h"

/* Is chunk 0 of ino a file here? (Only asked when ino has a small chunk
 * and chunk files: a sparse file, or a move a crash interrupted.) */
static bool chunk_small_file0(struct chunk_store *cs, uint64_t ino)
{
    char name[CHUNK_NAME_MAX];
    struct stat st;
    uint64_t top;

    if (!chunk_index_max(&cs->fdc.idx, ino, &top))
        return false;
    ring_chunk_name(name, ino, 0);
    return fstatat(cs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A small chunk beside a chunk 0 file is what a move leaves when the
 * server died (or its commit failed) between writing the file and
 * committing the small chunk's removal: the file is the newer one. */
static void chunk_small_reconcile(struct chunk_store *cs)
{
    uint64_t inos[256], after = 0;
    const void *data;
    size_t n, i, len;

    do {
        n = chunk_index_list(&cs->fdc.idx, after, inos, 256);
        for (i = 0; i < n; i++) {
            if (cs->small.get(cs->small.ctx, inos[i], &data, &len) == 1 &&
                chunk_small_file0(cs, inos[i]))
                (void)cs->small.trunc(cs->small.ctx, inos[i], 0);
        }
        if (n > 0)
            after = inos[n - 1];
    } while (n == 256);
}

void chunk_store_set_small(struct chunk_store *cs, const struct chunk_small_ops *ops)
{
    if (ops->get == NULL || ops->put == NULL || ops->trunc == NULL || ops->list == NULL) {
        memset(&cs->small, 0, sizeof(cs->small));
        return;
    }
    cs->small = *ops;
    chunk_small_reconcile(cs);
}

/* Write ino's small chunk into a new chunk 0 file, then drop it. */
static int chunk_small_move(struct chunk_store *cs, uint64_t ino, const void *data, size_t len)
{
    struct chunk_fd *fde;
    size_t done = 0;
    int rc;

    rc = chunk_fdc_get(&cs->fdc, ino, 0, CHUNK_FD_WRITE, &fde);
    if (rc != 0)
        return rc;
    while (done < len) {
        ssize_t n = pwrite(fde->fd, (const char *)data + done, len - done, (off_t)done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            break;
        }
        done += (size_t)n;
    }
    fde->dirty = true; /* synced by the inode's next fsync */
    chunk_fdc_put(&cs->fdc, fde);
    if (rc == 0)
        rc = cs->small.trunc(cs->small.ctx, ino, 0);
    if (rc != 0) {
        /* the small chunk stays the one copy: no half-written file */
        (void)chunk_fdc_remove(&cs->fdc, ino, 0, 0, 0);
        return rc;
    }
    cs->stats.small_moves++;
    return 0;
}

int chunk_small_rw(struct chunk_store *cs, bool write, uint64_t ino, uint64_t offset, void *buf,
                   size_t len, int *result_p)
{
    const void *data = NULL;
    size_t dlen = 0;
    uint64_t top;
    int rc;

    if (cs->small.get == NULL)
        return 0;
    if (write && chunk_gone_has(&cs->fdc.gone, ino))
        return -ESTALE; /* as the file path refuses it */
    rc = cs->small.get(cs->small.ctx, ino, &data, &dlen);
    if (rc < 0)
        return rc;
    if (rc == 1 && chunk_small_file0(cs, ino)) {
        rc = cs->small.trunc(cs->small.ctx, ino, 0);
        return rc < 0 ? rc : 0; /* the file is the newer copy */
    }
    if (!write) {
        if (rc == 0)
            return 0; /* a chunk file, a hole, or lost */
        *result_p = offset < dlen ? (int)(dlen - offset < len ? dlen - offset : len) : 0;
        memcpy(buf, (const char *)data + (offset < dlen ? offset : dlen), (size_t)*result_p);
        cs->stats.reads++;
        cs->stats.bytes_read += (uint64_t)*result_p;
        cs->stats.small_ops++;
        return 1;
    }
    if (rc == 1 && offset + len > cs->small.max) {
        rc = chunk_small_move(cs, ino, data, dlen);
        return rc < 0 ? rc : 0;
    }
    /* A new small chunk only for an inode without chunk files here, and
     * only while small chunks are on (max 0 still serves existing ones). */
    if (rc == 0 && (offset + len > cs->small.max || chunk_index_max(&cs->fdc.idx, ino, &top)))
        return 0;
    rc = cs->small.put(cs->small.ctx, ino, offset, buf, len);
    if (rc == -ENOSPC) {
        /* The store has no room for it: a chunk file instead, with the
         * bytes it had (looked up again: the failed put may have begun
         * a new transaction). */
        rc = cs->small.get(cs->small.ctx, ino, &data, &dlen);
        if (rc == 1)
            rc = chunk_small_move(cs, ino, data, dlen);
        return rc < 0 ? rc : 0;
    }
    if (rc < 0)
        return rc;
    *result_p = (int)len;
    cs->stats.writes++;
    cs->stats.bytes_written += len;
    cs->stats.small_ops++;
    return 1;
}

int chunk_small_remove(struct chunk_store *cs, uint64_t ino, uint64_t first, uint64_t keep_bytes)
{
    if (cs->small.get == NULL || first != 0)
        return 0;
    return cs->small.trunc(cs->small.ctx, ino, keep_bytes);
}

size_t chunk_small_list(struct chunk_store *cs, uint64_t after, uint64_t *inos, size_t n,
                        size_t max)
{
    uint64_t *small, *out;
    size_t ns, i = 0, j = 0, k = 0;

    if (cs->small.get == NULL || max == 0)
        return n;
    small = malloc(max * sizeof(*small));
    out = malloc(max * sizeof(*out));
    if (small == NULL || out == NULL) {
        free(small);
        free(out);
        return n; /* files only: fsck reports the small ones on a later run */
    }
    ns = cs->small.list(cs->small.ctx, after, small, max);
    while (k < max && (i < n || j < ns)) {
        if (j >= ns || (i < n && inos[i] < small[j])) {
            out[k++] = inos[i++];
        } else if (i >= n || small[j] < inos[i]) {
            out[k++] = small[j++];
        } else {
            out[k++] = inos[i++];
            j++;
        }
    }
    memcpy(inos, out, k * sizeof(*out));
    free(small);
    free(out);
    return k;
}

int chunk_small_usage(struct chunk_store *cs, uint64_t ino, uint64_t *chunks_p, uint64_t *bytes_p)
{
    const void *data;
    size_t len;
    int rc;

    if (cs->small.get == NULL)
        return 0;
    rc = cs->small.get(cs->small.ctx, ino, &data, &len);
    if (rc == 1) {
        *chunks_p += 1;
        *bytes_p += len;
    }
    return rc < 0 ? rc : 0;
}

int chunk_spread_mark(struct chunk_store *cs, uint64_t ino)
{
    if (chunk_gone_has(&cs->fdc.gone, ino))
        return -ESTALE;
    if (cs->small.spread == NULL)
        return 0;
    return cs->small.spread(cs->small.ctx, ino, CHUNK_SPREAD_SET);
}

int chunk_spread_known(struct chunk_store *cs, uint64_t ino)
{
    int rc;

    if (cs->small.spread == NULL)
        return -1;
    rc = cs->small.spread(cs->small.ctx, ino, CHUNK_SPREAD_GET);
    return rc < 0 ? -1 : rc;
}
