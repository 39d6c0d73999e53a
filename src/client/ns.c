/*
 * ns.c - namespace calls on paths: stat, truncate, unlink, rename, access,
 * statvfs, and the helpers other files share (STAT on the owner, ENOENT
 * refinement, size pushes).
 *
 * A file's inode record lives on the owner of its path (one RPC per call);
 * directories are on every server. Servers answer -ENOENT when the parent
 * directory is missing *on that server*, which includes "a component is a
 * file" (files are only known to their owner): ns_refine_enoent walks up the
 * ancestors to give POSIX's ENOTDIR in that case.
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

int ns_stat_raw(struct client *c, const char *path, size_t len, struct proto_attr *attr_p)
{
    struct rpc_call call;
    int rc;

    rpc_call_path(&call, PROTO_OP_STAT, placement_path(&c->place, path, len), path, len);
    rc = rpc_run_one(c, &call);
    if (rc == 0)
        *attr_p = call.rep.attr_rep.attr;
    return rc;
}

int ns_refine_enoent(struct client *c, const char *path, size_t len)
{
    struct proto_attr attr;
    const char *name;
    size_t plen = len, parent_len;
    int rc;

    for (;;) {
        if (path_split(path, plen, &parent_len, &name) < 0 || parent_len <= 1)
            return -ENOENT; /* the root always exists and is a directory */
        plen = parent_len;
        rc = ns_stat_raw(c, path, plen, &attr);
        if (rc == 0)
            return S_ISDIR(attr.mode) ? -ENOENT : -ENOTDIR;
        if (rc != -ENOENT)
            return -ENOENT;
    }
}

int ns_lookup(struct client *c, const char *path, size_t len, struct proto_attr *attr_p)
{
    int rc = ns_stat_raw(c, path, len, attr_p);

    return rc == -ENOENT ? ns_refine_enoent(c, path, len) : rc;
}

int ns_resolve(struct client *c, const char *upath, char *path, struct proto_attr *attr_p)
{
    int len = client_path(upath, path);
    int rc;

    if (len < 0)
        return len;
    rc = ns_lookup(c, path, (size_t)len, attr_p);
    return rc < 0 ? rc : len;
}

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

int ns_push_size(struct client *c, struct client_fd *f, uint32_t flags)
{
    struct rpc_call call;
    int rc;

    rpc_call_init(&call, PROTO_OP_SETSIZE, placement_path(&c->place, f->path, f->path_len));
    call.req.setsize_req.path_len = (uint32_t)f->path_len;
    call.req.setsize_req.flags = flags;
    call.req.setsize_req.ino = f->attr.ino;
    call.req.setsize_req.size = f->extent;
    call.req.setsize_req.mtime_ns = 0; /* the owner's clock: now */
    call.data = f->path;
    call.data_len = f->path_len;
    rc = rpc_run_one(c, &call);
    if (rc == 0) {
        if (call.rep.attr_rep.attr.size > f->attr.size)
            f->attr.size = call.rep.attr_rep.attr.size;
        f->attr.mtime_ns = call.rep.attr_rep.attr.mtime_ns;
        f->attr.ctime_ns = call.rep.attr_rep.attr.ctime_ns;
    } else if (rc == -ENOENT || rc == -ESTALE) {
        /* Removed or replaced meanwhile: there is nobody to tell. */
        log_debug("client: size of %s not pushed (%d)", f->path, rc);
        rc = 0;
    }
    if (rc == 0)
        f->dirty = false;
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
        uint64_t ext = fd_ino_extent(c, attr.ino);

        if (ext > size)
            size = ext;
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

/* TRUNCATE on the owner, then free what lies beyond the new size. */
int ns_truncate_path(struct client *c, const char *path, size_t len, uint64_t size,
                     struct proto_attr *attr_p)
{
    struct rpc_call call;
    struct proto_attr attr;
    uint64_t old, ext;
    int rc;

    if (len == 1)
        return -EISDIR;
    rpc_call_init(&call, PROTO_OP_TRUNCATE, placement_path(&c->place, path, len));
    call.req.truncate_req.path_len = (uint32_t)len;
    call.req.truncate_req.size = size;
    call.data = path;
    call.data_len = len;
    rc = rpc_run_one(c, &call);
    if (rc == -ENOENT)
        rc = ns_refine_enoent(c, path, len);
    if (rc < 0)
        return rc;
    attr = call.rep.truncate_rep.attr;
    /* Bytes this client wrote but did not push yet are data too. */
    old = call.rep.truncate_rep.old_size;
    ext = fd_ino_extent(c, attr.ino);
    if (ext > old)
        old = ext;
    fd_ino_truncated(c, attr.ino, size);
    if (attr_p != NULL)
        *attr_p = attr;
    return io_free(c, attr.ino, attr.chunk_size, size, old);
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

static int ns_unlink(struct client *c, const char *upath)
{
    char path[BFS_PATH_MAX];
    struct rpc_call call;
    struct proto_attr attr;
    uint64_t size, ext;
    int len, rc;

    len = client_path(upath, path);
    if (len < 0)
        return len;
    if (len == 1)
        return -EISDIR;
    rpc_call_path(&call, PROTO_OP_UNLINK, placement_path(&c->place, path, (size_t)len), path,
                  (size_t)len);
    rc = rpc_run_one(c, &call);
    if (rc == -ENOENT)
        rc = ns_refine_enoent(c, path, (size_t)len);
    if (rc < 0)
        return rc;
    attr = call.rep.attr_rep.attr;
    size = attr.size;
    ext = fd_ino_extent(c, attr.ino);
    if (ext > size)
        size = ext;
    /* The name is gone: a failure to free chunks is logged, not returned. */
    rc = io_free(c, attr.ino, attr.chunk_size, 0, size);
    if (rc < 0)
        log_debug("client: unlink %s: chunks of inode %llx not freed (%d)", path,
                  (unsigned long long)attr.ino, rc);
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

/* Free the data of a file that a rename replaced. */
static void ns_free_replaced(struct client *c, const struct proto_attr *moved,
                             const struct proto_attr *replaced)
{
    uint64_t size = replaced->size, ext;
    int rc;

    if (replaced->ino == moved->ino || !S_ISREG(replaced->mode))
        return;
    ext = fd_ino_extent(c, replaced->ino);
    if (ext > size)
        size = ext;
    rc = io_free(c, replaced->ino, replaced->chunk_size, 0, size);
    if (rc < 0)
        log_debug("client: rename: chunks of replaced inode %llx not freed (%d)",
                  (unsigned long long)replaced->ino, rc);
}

static int ns_rename_file(struct client *c, const char *op, size_t olen, const char *np,
                          size_t nlen, const struct proto_attr *attr)
{
    size_t so = placement_path(&c->place, op, olen), sn = placement_path(&c->place, np, nlen);
    char both[2 * BFS_PATH_MAX];
    struct rpc_call call, del;
    struct proto_rename_rep rep;
    int rc;

    if (so == sn) {
        memcpy(both, op, olen);
        memcpy(both + olen, np, nlen);
        rpc_call_init(&call, PROTO_OP_RENAME, so);
        call.req.rename_req.path_len = (uint32_t)olen;
        call.req.rename_req.path2_len = (uint32_t)nlen;
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
    if (rep.has_replaced)
        ns_free_replaced(c, attr, &rep.replaced);
    fd_ino_renamed(c, attr->ino, np, nlen);
    return 0;
}

/* An empty directory moves by mkdir(new) + rmdir(old); a non-empty one is EXDEV. */
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
    if (rc < 0)
        return rc;
    rc = dir_rmdir(c, op, olen);
    if (rc < 0) {
        /* Keep one name, not two: undo the new directory. */
        dir_rmdir(c, np, nlen);
        return rc;
    }
    fd_ino_renamed(c, attr->ino, np, nlen);
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
