/*
 * attr.c - attribute changes: chmod, chown and utimens on paths and on
 * descriptors (benchfs_chmod .. benchfs_futimens, docs/semantics.md#attributes).
 *
 * A change is one SETATTR to the server holding the record: a file's owner
 * (the owner of its path, or for a descriptor the server that held its
 * record when this client last named it, with the inode number checked and
 * the orphan record of a file unlinked while open). A directory's record is
 * on every server: the first server's answer (its new times included) is
 * then copied to all the others (dir_setattr, dir_attr_copy: with
 * PROTO_SETATTR_CTIME),
 * so that every replica reports the same attributes, as mkdir fans out.
 * Costs: 1 RPC for a file, 1 + (servers - 1) in parallel for a directory.
 *
 * Setting an explicit mtime on a file this process wrote and has not
 * published yet publishes the size first (durably, as close would): the
 * owner stamps the time of a publication over older ones, so a push left
 * for close would undo the utimens (cp -p and rsync write, then set times on
 * the descriptor or the name before the last close). The attributes of an
 * open inode are updated in place, so fstat right after shows the change.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "client/client.h"
#include "client/error.h"
#include "client/posix.h"

/* An inode this process has open takes the new attributes (not the size:
 * its own view of that is newer). */
static void attr_cache(struct client *c, const struct proto_attr *a)
{
    struct client_inode *ci = inode_find(c, a->ino);

    if (ci == NULL)
        return;
    ci->attr.mode = a->mode;
    ci->attr.uid = a->uid;
    ci->attr.gid = a->gid;
    ci->attr.atime_ns = a->atime_ns;
    ci->attr.mtime_ns = a->mtime_ns;
    ci->attr.ctime_ns = a->ctime_ns;
}

/* Before an explicit mtime: publish what this process wrote to ci (see the
 * file comment). ci is referenced by the caller. */
static int attr_flush(struct client *c, struct client_inode *ci, const struct proto_setattr_req *q)
{
    if (!(q->valid & PROTO_SETATTR_MTIME) || !S_ISREG(ci->attr.mode) ||
        !(ci->dirty || ci->unsynced))
        return 0;
    return inode_push_size(c, ci, PROTO_SETSIZE_SYNC);
}

static int attr_path(struct client *c, const char *upath, const struct proto_setattr_req *q)
{
    char path[BFS_PATH_MAX];
    struct client_inode *ci;
    struct proto_attr attr;
    int len, rc;

    len = client_path(upath, path);
    if (len < 0)
        return len;
    /* Nothing to change (both times UTIME_OMIT, chown -1 -1): it must exist. */
    if (q->valid == 0)
        return ns_lookup(c, path, (size_t)len, &attr);
    ci = inode_by_path(c, path, (size_t)len);
    if (ci != NULL) {
        ci->refs++;
        rc = attr_flush(c, ci, q);
        inode_put(c, ci);
        if (rc < 0)
            return rc;
    }
    rc = dir_setattr(c, placement_path(&c->place, path, (size_t)len), path, (size_t)len, 0, false,
                     q, &attr);
    if (rc == -ENOENT)
        rc = ns_refine_enoent(c, path, (size_t)len);
    if (rc < 0)
        return rc;
    attr_cache(c, &attr);
    return 0;
}

/* The inode descriptor fd has open: by inode number, whatever its name now. */
static int attr_fd(struct client *c, int fd, const struct proto_setattr_req *q)
{
    struct client_fd *f = fd_get(c, fd);
    struct client_inode *ci;
    struct proto_attr attr;
    int rc;

    if (f == NULL)
        return -EBADF;
    if (q->valid == 0)
        return 0;
    ci = f->ci;
    ci->refs++;
    rc = attr_flush(c, ci, q);
    if (rc == 0)
        rc = dir_setattr(c, ci->owner, ci->path, ci->path_len, ci->attr.ino, ci->orphan, q, &attr);
    if (rc == -ENOENT || rc == -ESTALE) {
        error_msg("inode %llx was removed or replaced by another client",
                  (unsigned long long)ci->attr.ino);
        rc = -ESTALE;
    }
    if (rc == 0)
        attr_cache(c, &attr);
    inode_put(c, ci);
    return rc;
}

/* One public call: on path upath (by_path) or on descriptor fd; early: an
 * error found in the arguments (0: none). */
static int attr_call(const char *what, bool by_path, const char *upath, int fd,
                     const struct proto_setattr_req *q, int early)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        if (early < 0)
            rc = early;
        else if (by_path)
            rc = attr_path(c, upath, q);
        else
            rc = attr_fd(c, fd, q);
        client_leave(c);
    }
    return (int)error_finish(rc, what, by_path ? upath : NULL, false);
}

static void attr_mode(struct proto_setattr_req *q, mode_t mode)
{
    memset(q, 0, sizeof(*q));
    q->valid = PROTO_SETATTR_MODE;
    q->mode = (uint32_t)mode & 07777; /* like Linux: other bits are ignored */
}

static void attr_owner(struct proto_setattr_req *q, uid_t uid, gid_t gid)
{
    memset(q, 0, sizeof(*q));
    if (uid != (uid_t)-1) {
        q->valid |= PROTO_SETATTR_UID;
        q->uid = (uint32_t)uid;
    }
    if (gid != (gid_t)-1) {
        q->valid |= PROTO_SETATTR_GID;
        q->gid = (uint32_t)gid;
    }
}

static int attr_times(struct proto_setattr_req *q, const struct timespec times[2])
{
    memset(q, 0, sizeof(*q));
    return posix_utimens_fields(times, &q->valid, &q->atime_ns, &q->mtime_ns);
}

int benchfs_chmod(const char *path, mode_t mode)
{
    struct proto_setattr_req q;

    attr_mode(&q, mode);
    return attr_call("chmod", true, path, -1, &q, 0);
}

int benchfs_fchmod(int fd, mode_t mode)
{
    struct proto_setattr_req q;

    attr_mode(&q, mode);
    return attr_call("fchmod", false, NULL, fd, &q, 0);
}

int benchfs_chown(const char *path, uid_t owner, gid_t group)
{
    struct proto_setattr_req q;

    attr_owner(&q, owner, group);
    return attr_call("chown", true, path, -1, &q, 0);
}

int benchfs_fchown(int fd, uid_t owner, gid_t group)
{
    struct proto_setattr_req q;

    attr_owner(&q, owner, group);
    return attr_call("fchown", false, NULL, fd, &q, 0);
}

int benchfs_utimens(const char *path, const struct timespec times[2])
{
    struct proto_setattr_req q;
    int early = attr_times(&q, times);

    return attr_call("utimens", true, path, -1, &q, early);
}

int benchfs_futimens(int fd, const struct timespec times[2])
{
    struct proto_setattr_req q;
    int early = attr_times(&q, times);

    return attr_call("futimens", false, NULL, fd, &q, early);
}
