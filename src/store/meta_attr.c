/*
 * meta_attr.c - attribute changes (chmod, chown, utimens) of the metadata
 * store (meta.h): meta_setattr on a file's record, a file's orphan record
 * or a directory's record.
 *
 * A file's record lives on its owner only; a directory's record is on
 * every server, and the client sends the same change to each of them (the
 * first server's resulting times included, with PROTO_SETATTR_CTIME), so
 * every replica reports the same attributes (docs/semantics.md#attributes).
 *
 * Times set here are set exactly, older ones included: meta_setsize, which
 * only ever moves mtime forward, then moves it to the time of the next
 * published write, as POSIX has a write after utimens do.
 */
#include "store/meta_priv.h"

#include "common/timeutil.h"
#include "proto/proto.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define META_REC_LEN(len) (sizeof(struct meta_rec_hdr) + (len))

static int meta_setattr_check(const struct meta_setattr *sa)
{
    if (sa->valid == 0 || (sa->valid & ~PROTO_SETATTR_ALL) != 0)
        return -EINVAL;
    /* A time is either given or the clock's, not both. */
    if ((sa->valid & PROTO_SETATTR_ATIME) && (sa->valid & PROTO_SETATTR_ATIME_NOW))
        return -EINVAL;
    if ((sa->valid & PROTO_SETATTR_MTIME) && (sa->valid & PROTO_SETATTR_MTIME_NOW))
        return -EINVAL;
    /* Permission bits only: the file type is not the caller's to change. */
    if ((sa->valid & PROTO_SETATTR_MODE) && (sa->mode & ~07777u) != 0)
        return -EINVAL;
    return 0;
}

static int meta_setattr_op(struct meta *m, const char *path, size_t len, uint64_t ino,
                           const struct meta_setattr *sa, struct meta_attr *attr)
{
    uint8_t key[META_KEY_LEN];
    struct meta_attr cur;
    uint64_t now = time_real_ns();
    int rc;

    meta_key(path, len, key);
    rc = meta_rec_get(m, key, path, len, &cur);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return -ENOENT;
    if (ino != 0 && cur.ino != ino)
        return -ESTALE;
    *attr = cur;
    if (sa->valid & PROTO_SETATTR_MODE)
        attr->mode = (cur.mode & (uint32_t)S_IFMT) | sa->mode;
    if (sa->valid & PROTO_SETATTR_UID)
        attr->uid = sa->uid;
    if (sa->valid & PROTO_SETATTR_GID)
        attr->gid = sa->gid;
    if (sa->valid & PROTO_SETATTR_ATIME)
        attr->atime_ns = sa->atime_ns;
    else if (sa->valid & PROTO_SETATTR_ATIME_NOW)
        attr->atime_ns = now;
    if (sa->valid & PROTO_SETATTR_MTIME)
        attr->mtime_ns = sa->mtime_ns;
    else if (sa->valid & PROTO_SETATTR_MTIME_NOW)
        attr->mtime_ns = now;
    /* POSIX: every attribute change is a status change. */
    attr->ctime_ns = (sa->valid & PROTO_SETATTR_CTIME) ? sa->ctime_ns : now;
    return meta_rec_put(m, key, path, len, attr, false, NULL);
}

int meta_setattr(struct meta *m, const char *path, size_t len, uint64_t ino,
                 const struct meta_setattr *sa, struct meta_attr *attr_p)
{
    struct meta_attr attr;
    int rc;

    if (!meta_path_ok(path, len) && !meta_orphan_path_ok(path, len))
        return -EINVAL;
    rc = meta_setattr_check(sa);
    if (rc != 0)
        return rc;
    rc = meta_wbegin(m, 1, META_REC_LEN(len), false);
    if (rc != 0)
        return rc;
    rc = meta_wend(m, meta_setattr_op(m, path, len, ino, sa, &attr));
    if (rc == 0 && attr_p != NULL)
        *attr_p = attr;
    return rc;
}

void meta_attr_to_wire(const struct meta_attr *a, proto_attr_t *w)
{
    w->ino = a->ino;
    w->size = a->size;
    w->chunk_size = a->chunk_size;
    w->mode = a->mode;
    w->nlink = a->nlink;
    w->uid = a->uid;
    w->gid = a->gid;
    w->atime_ns = a->atime_ns;
    w->mtime_ns = a->mtime_ns;
    w->ctime_ns = a->ctime_ns;
}
