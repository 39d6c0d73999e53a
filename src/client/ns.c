/*
 * ns.c - namespace calls on paths: stat, truncate, unlink, rename, access,
 * statvfs, and truncation by path (ns_truncate_path). Looking paths up is
 * lookup.c's; renaming a directory goes through dir.c.
 *
 * Unlink and rename over a file this client has open send the KEEP flag:
 * the owner keeps the record as an orphan, which the descriptors keep using
 * until their last close (inode.c, docs/semantics.md).
 *
 * A file's inode record lives on the owner of its path (one RPC per call);
 * directories are on every server.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "client/error.h"
#include "client/posix.h"
#include "common/log.h"
#include "common/timeutil.h"

#define NS_MAX_GROUPS 64

/*
 * Whether the parent of path is a directory: 0, or what a POSIX path walk
 * to it reports (-ENOENT, -ENOTDIR). "/" and its children have a parent.
 */
static int ns_parent_status(struct client *c, const char *path, size_t len)
{
    struct proto_attr attr;
    const char *name;
    size_t parent_len;
    int rc;

    if (path_split(path, len, &parent_len, &name) < 0 || parent_len <= 1)
        return 0;
    rc = ns_stat_raw(c, path, parent_len, &attr);
    if (rc == 0)
        return S_ISDIR(attr.mode) ? 0 : -ENOTDIR;
    if (rc == -ENOENT)
        return ns_refine_enoent(c, path, parent_len);
    return rc;
}

/* ---- stat ---- */

static int ns_stat(struct client *c, const char *upath, struct stat *st)
{
    char path[BFS_PATH_MAX];
    struct proto_attr attr;
    uint64_t size;
    int len;

    if (st == NULL)
        return -EFAULT;
    len = ns_resolve(c, upath, path, &attr);
    if (len < 0)
        return len;
    size = attr.size;
    if (S_ISREG(attr.mode)) {
        /* A file this process has open: what its descriptors wrote counts. */
        const struct client_inode *ci = inode_find(c, attr.ino);

        if (ci != NULL && ci->extent > size)
            size = ci->extent;
    }
    posix_attr_to_stat(&attr, size, st);
    return 0;
}

int benchfs_stat(const char *path, struct stat *st)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = ns_stat(c, path, st);
        client_leave(c);
    }
    return (int)error_finish(rc, "stat", path, false);
}

/* ---- truncate ---- */

int ns_truncate_path(struct client *c, const char *path, size_t len, uint64_t size,
                     struct proto_attr *attr_p)
{
    struct client_inode where;
    struct proto_attr attr;
    int rc, tries;

    if (len == 1)
        return -EISDIR;
    memset(&where, 0, sizeof(where));
    where.owner = placement_path(&c->place, path, len);
    where.path = (char *)path;
    where.path_len = len;
    /* Replaced between the lookup and the size change: look again. */
    for (tries = 0;; tries++) {
        rc = ns_lookup(c, path, len, &attr);
        if (rc < 0)
            return rc;
        if (S_ISDIR(attr.mode))
            return -EISDIR;
        rc = inode_truncate_at(c, &where, &attr, size, attr_p);
        if (rc == -ENOENT)
            rc = ns_refine_enoent(c, path, len);
        if (rc != -ESTALE || tries == 2)
            return rc;
    }
}

int benchfs_truncate(const char *upath, off_t length)
{
    char path[BFS_PATH_MAX];
    struct client *c;
    int rc = client_enter(&c), len;

    if (rc == 0) {
        len = client_path(upath, path);
        if (len < 0)
            rc = len;
        else if (length < 0)
            rc = -EINVAL;
        else
            rc = ns_truncate_path(c, path, (size_t)len, (uint64_t)length, NULL);
        client_leave(c);
    }
    return (int)error_finish(rc, "truncate", upath, false);
}

/* ---- unlink ---- */

/*
 * The name of `attr` was removed by an UNLINK, RENAME or INODE_PUT on server
 * `owner` (keep: with the KEEP flag, so its record became an orphan there).
 * An inode this client has open stays readable and writable through its
 * descriptors and is released at their last close; any other is freed now.
 */
static void ns_name_gone(struct client *c, size_t owner, const struct proto_attr *attr, bool keep,
                         const char *path, size_t len, size_t done_server, uint32_t known)
{
    struct client_inode *ci;
    int rc;

    if (!S_ISREG(attr->mode))
        return;
    ci = inode_find(c, attr->ino);
    if (ci != NULL && keep && !ci->orphan) {
        ci->orphan = true;
        ci->owner = owner;
        return;
    }
    if (keep) {
        /* The name held another inode than the one we have open. */
        rc = inode_release_now(c, owner, attr, path, len);
    } else {
        /* Every chunk on every server, whatever size was recorded. */
        rc = io_free_gone(c, attr->ino, attr->chunk_size, done_server, known);
    }
    /* The name is gone: a failure to free chunks is logged, not returned. */
    if (rc < 0)
        log_debug("client: chunks of inode %llx not freed (%d)", (unsigned long long)attr->ino, rc);
}

static int ns_unlink(struct client *c, const char *upath)
{
    char path[BFS_PATH_MAX];
    struct rpc_call call;
    size_t owner;
    bool keep;
    int len, rc;

    len = client_path(upath, path);
    if (len < 0)
        return len;
    if (len == 1)
        return -EISDIR;
    owner = placement_path(&c->place, path, (size_t)len);
    keep = inode_by_path(c, path, (size_t)len) != NULL;
    rpc_call_path(&call, PROTO_OP_UNLINK, owner, path, (size_t)len);
    /* An open file becomes an orphan; otherwise the owner frees its own
     * chunks with the name, saving a CHUNK_TRUNC to itself (io_free_gone). */
    call.req.path_req.flags = keep ? PROTO_UNLINK_KEEP : PROTO_UNLINK_FREE;
    rc = rpc_run_one(c, &call);
    if (rc == -ENOENT)
        rc = ns_refine_enoent(c, path, (size_t)len);
    if (rc < 0)
        return rc;
    ns_name_gone(c, owner, &call.rep.attr_rep.attr, keep, path, (size_t)len, owner,
                 call.rep.attr_rep.flags);
    return 0;
}

int benchfs_unlink(const char *path)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = ns_unlink(c, path);
        client_leave(c);
    }
    return (int)error_finish(rc, "unlink", path, false);
}

/* ---- rename ---- */

static int ns_rename_file(struct client *c, const char *op, size_t olen, const char *np,
                          size_t nlen, const struct proto_attr *attr)
{
    size_t so = placement_path(&c->place, op, olen), sn = placement_path(&c->place, np, nlen);
    char both[2 * BFS_PATH_MAX];
    struct rpc_call call, del;
    struct proto_rename_rep rep;
    bool keep = inode_by_path(c, np, nlen) != NULL;
    int rc;

    if (so == sn) {
        memcpy(both, op, olen);
        memcpy(both + olen, np, nlen);
        rpc_call_init(&call, PROTO_OP_RENAME, so);
        call.req.rename_req.path_len = (uint32_t)olen;
        call.req.rename_req.path2_len = (uint32_t)nlen;
        call.req.rename_req.flags = keep ? PROTO_RENAME_KEEP : 0;
        call.data = both;
        call.data_len = olen + nlen;
        rc = rpc_run_one(c, &call);
        if (rc == -ENOENT)
            rc = ns_refine_enoent(c, np, nlen);
        if (rc < 0)
            return rc;
        rep = call.rep.rename_rep;
    } else {
        /* Two owners: insert under the new name, then drop the old one. */
        rpc_call_init(&call, PROTO_OP_INODE_PUT, sn);
        call.req.inode_put_req.path_len = (uint32_t)nlen;
        call.req.inode_put_req.flags = keep ? PROTO_PUT_KEEP : 0;
        call.req.inode_put_req.attr = *attr;
        call.data = np;
        call.data_len = nlen;
        rc = rpc_run_one(c, &call);
        if (rc == -ENOENT)
            rc = ns_refine_enoent(c, np, nlen);
        if (rc < 0)
            return rc;
        rep = call.rep.rename_rep;
        rpc_call_init(&del, PROTO_OP_INODE_DEL, so);
        del.req.inode_del_req.path_len = (uint32_t)olen;
        del.req.inode_del_req.ino = attr->ino;
        del.data = op;
        del.data_len = olen;
        rc = rpc_run_one(c, &del);
        /* Gone or replaced meanwhile: our new name holds the inode, which is the rename. */
        if (rc < 0 && rc != -ENOENT && rc != -ESTALE)
            return rc;
        rep.moved = *attr;
    }
    if (rep.has_replaced && rep.replaced.ino != attr->ino)
        ns_name_gone(c, sn, &rep.replaced, keep, np, nlen, SIZE_MAX, 0);
    inode_renamed(c, attr->ino, np, nlen);
    return 0;
}

/* An empty directory moves by mkdir(new) (with the old one's mode, owner
 * and times) + rmdir(old); a non-empty one is EXDEV. */
static int ns_rename_dir(struct client *c, const char *op, size_t olen, const char *np, size_t nlen,
                         const struct proto_attr *attr)
{
    struct proto_attr nattr;
    int rc;

    rc = dir_has_entries(c, op, olen);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        error_msg("renaming a non-empty directory is not supported (copy it instead)");
        return -EXDEV;
    }
    rc = ns_stat_raw(c, np, nlen, &nattr);
    if (rc == 0) {
        if (!S_ISDIR(nattr.mode))
            return -ENOTDIR;
        rc = dir_has_entries(c, np, nlen);
        if (rc < 0)
            return rc;
        if (rc > 0)
            return -ENOTEMPTY;
        rc = dir_rmdir(c, np, nlen);
        if (rc < 0)
            return rc;
    } else if (rc != -ENOENT) {
        return rc;
    }
    rc = dir_mkdir(c, np, nlen, attr->mode & 07777);
    if (rc == 0) {
        /* As rename keeps them: mode (no umask), owner, times. */
        struct proto_setattr_req q;
        struct proto_attr a;

        memset(&q, 0, sizeof(q));
        q.valid = PROTO_SETATTR_MODE | PROTO_SETATTR_UID | PROTO_SETATTR_GID | PROTO_SETATTR_ATIME |
                  PROTO_SETATTR_MTIME;
        q.mode = attr->mode & 07777;
        q.uid = attr->uid;
        q.gid = attr->gid;
        q.atime_ns = attr->atime_ns;
        q.mtime_ns = attr->mtime_ns;
        rc = dir_setattr(c, placement_path(&c->place, np, nlen), np, nlen, 0, false, &q, &a);
        if (rc == 0 && !S_ISDIR(a.mode))
            rc = -ENOTDIR;
        if (rc < 0)
            dir_rmdir(c, np, nlen);
    }
    if (rc < 0)
        return rc;
    rc = dir_rmdir(c, op, olen);
    if (rc < 0) {
        /* Keep one name, not two: undo the new directory. */
        dir_rmdir(c, np, nlen);
        return rc;
    }
    inode_renamed(c, attr->ino, np, nlen);
    return 0;
}

static int ns_rename(struct client *c, const char *uold, const char *unew)
{
    char op[BFS_PATH_MAX], np[BFS_PATH_MAX];
    struct proto_attr attr;
    int olen, nlen, rc;

    olen = client_path(uold, op);
    if (olen < 0)
        return olen;
    nlen = client_path(unew, np);
    if (nlen < 0)
        return nlen;
    if (olen == 1 || nlen == 1)
        return -EBUSY;
    rc = ns_stat_raw(c, op, (size_t)olen, &attr);
    if (rc == -ENOENT) {
        /* Like Linux: both parents are resolved before old itself. */
        rc = ns_parent_status(c, op, (size_t)olen);
        if (rc == 0)
            rc = ns_parent_status(c, np, (size_t)nlen);
        return rc < 0 ? rc : -ENOENT;
    }
    if (rc < 0)
        return rc;
    if (olen == nlen && memcmp(op, np, (size_t)olen) == 0)
        return 0;
    /* Linux: a target that is an ancestor of the source is "not empty". */
    if (posix_path_within(op, (size_t)olen, np, (size_t)nlen))
        return -ENOTEMPTY;
    if (S_ISDIR(attr.mode)) {
        /* Directory renames are rare: check in Linux's order, one RPC more. */
        rc = ns_parent_status(c, np, (size_t)nlen);
        if (rc < 0)
            return rc;
        if (posix_path_within(np, (size_t)nlen, op, (size_t)olen))
            return -EINVAL;
        return ns_rename_dir(c, op, (size_t)olen, np, (size_t)nlen, &attr);
    }
    return ns_rename_file(c, op, (size_t)olen, np, (size_t)nlen, &attr);
}

int benchfs_rename(const char *oldpath, const char *newpath)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = ns_rename(c, oldpath, newpath);
        client_leave(c);
    }
    return (int)error_finish(rc, "rename", oldpath, false);
}

/* ---- access ---- */

static int ns_access(struct client *c, const char *upath, int mode)
{
    char path[BFS_PATH_MAX];
    struct proto_attr attr;
    gid_t groups[NS_MAX_GROUPS];
    uint32_t g32[NS_MAX_GROUPS];
    int len, ng, i;

    if (mode & ~(R_OK | W_OK | X_OK))
        return -EINVAL;
    len = ns_resolve(c, upath, path, &attr);
    if (len < 0)
        return len;
    ng = getgroups(NS_MAX_GROUPS, groups);
    if (ng < 0)
        ng = 0;
    for (i = 0; i < ng; i++)
        g32[i] = (uint32_t)groups[i];
    return posix_access(&attr, mode, (uint32_t)getuid(), (uint32_t)getgid(), g32, (size_t)ng);
}

int benchfs_access(const char *path, int mode)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = ns_access(c, path, mode);
        client_leave(c);
    }
    return (int)error_finish(rc, "access", path, false);
}

/* ---- statvfs ---- */

static int ns_statvfs(struct client *c, const char *upath, struct statvfs *st)
{
    char path[BFS_PATH_MAX];
    struct proto_attr attr;
    struct rpc_call *calls;
    unsigned long long bytes = 0, bfree = 0, bavail = 0, files = 0, ffree = 0, bsize = 0;
    size_t i;
    int len, rc;

    if (st == NULL)
        return -EFAULT;
    len = ns_resolve(c, upath, path, &attr);
    if (len < 0)
        return len;
    calls = calloc(c->nservers, sizeof(*calls));
    if (calls == NULL)
        return -ENOMEM;
    for (i = 0; i < c->nservers; i++)
        rpc_call_init(&calls[i], PROTO_OP_STATFS, i);
    rc = rpc_run_calls(c, calls, c->nservers);
    for (i = 0; rc == 0 && i < c->nservers; i++) {
        const struct proto_statfs_rep *r = &calls[i].rep.statfs_rep;
        unsigned long long b = r->bsize ? r->bsize : 4096;
        bool seen = false;

        /* Servers sharing one file system count it once. */
        for (size_t j = 0; j < i && r->fs_id != 0; j++)
            seen |= calls[j].rep.statfs_rep.fs_id == r->fs_id;
        if (seen)
            continue;

        if (bsize == 0)
            bsize = b;
        /* Servers may use different block sizes: add bytes, divide once. */
        bytes += r->blocks * b;
        bfree += r->bfree * b;
        bavail += r->bavail * b;
        files += r->files;
        ffree += r->ffree;
    }
    free(calls);
    if (rc < 0)
        return rc;
    memset(st, 0, sizeof(*st));
    st->f_bsize = bsize;
    st->f_frsize = bsize;
    st->f_blocks = bytes / bsize;
    st->f_bfree = bfree / bsize;
    st->f_bavail = bavail / bsize;
    st->f_files = files;
    st->f_ffree = ffree;
    st->f_favail = ffree;
    st->f_fsid = 0x42465331; /* "BFS1" */
    st->f_namemax = BFS_NAME_MAX;
    return 0;
}

int benchfs_statvfs(const char *path, struct statvfs *st)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = ns_statvfs(c, path, st);
        client_leave(c);
    }
    return (int)error_finish(rc, "statvfs", path, false);
}
