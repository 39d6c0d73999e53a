/*
 * bfuse_entry.c - name and attribute operations of the FUSE daemon:
 * lookup, forget, getattr, setattr, mkdir, unlink, rmdir, rename, statfs.
 *
 * Cache timeouts (docs/fuse.md "Caching"): a file name is never cached
 * (entry_timeout 0 by default), so every open(2) and stat(2) by path sends
 * a LOOKUP whose fresh attributes replace the kernel's: that is exactly
 * BenchFS's close-to-open consistency. Attributes are then good for
 * attr_timeout (fstat of an open file, permission checks), and directory
 * names for dir_entry_timeout (path walks do not re-check every ancestor).
 *
 * setattr changes what the kernel asks for, in this order: the size (a
 * truncation), the mode, the owner, the times (benchfs_chmod, chown,
 * utimens; FUSE_SET_ATTR_*_NOW as UTIME_NOW), through the open file handle
 * when the kernel names one, else by path; then it replies the new
 * attributes. ctime is the servers' to set.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "benchfs.h"
#include "fuse/bfuse_int.h"

int bfuse_errno(void)
{
    return errno > 0 ? errno : EIO;
}

/* Attributes from the library, completed for the kernel. */
static void attr_fix(struct stat *st)
{
    if (st->st_nlink == 0)
        st->st_nlink = 1;
    if (S_ISDIR(st->st_mode) && st->st_nlink < 2)
        st->st_nlink = 2;
}

int bfuse_entry_make(struct bfuse *fs, const char *path, size_t len, const struct stat *st,
                     struct fuse_entry_param *e)
{
    memset(e, 0, sizeof(*e));
    e->ino = bfuse_node_ref(fs, path, len, st);
    if (e->ino == 0)
        return -ENOMEM;
    e->attr = *st;
    attr_fix(&e->attr);
    e->attr_timeout = fs->set.attr_timeout;
    e->entry_timeout = S_ISDIR(st->st_mode) ? fs->set.dir_entry_timeout : fs->set.entry_timeout;
    return 0;
}

void bfuse_reply_entry(fuse_req_t req, const char *path, size_t len, const struct stat *st)
{
    struct bfuse *fs = bfuse_of(req);
    struct fuse_entry_param e;

    if (bfuse_entry_make(fs, path, len, st, &e) < 0) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    /* Interrupted meanwhile: the kernel did not take the reference. */
    if (fuse_reply_entry(req, &e) != 0)
        bfuse_node_forget(fs, e.ino, 1);
}

/* LOOKUP: the child `name` of `parent`, with fresh attributes. */
static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_path path;
    struct stat st;
    int rc;

    bfuse_wb_wait(bfuse_of(req));
    rc = bfuse_node_child_path(fs, parent, name, &path);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (benchfs_stat(path.p, &st) < 0) {
        /* Not cached: another client may create the name any time. */
        fuse_reply_err(req, bfuse_errno());
        return;
    }
    bfuse_reply_entry(req, path.p, path.len, &st);
}

/* FORGET: the kernel dropped `nlookup` references to a node. */
static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    bfuse_node_forget(bfuse_of(req), ino, nlookup);
    fuse_reply_none(req);
}

/* BATCH_FORGET: several FORGETs at once. */
static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        bfuse_node_forget(bfuse_of(req), forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

/* Attributes of a node: from the open descriptor when the kernel names one
 * (this client's own unpushed writes included), else by path. */
static int attr_get(struct bfuse *fs, fuse_ino_t ino, struct fuse_file_info *fi, struct stat *st)
{
    struct bfuse_path path;
    int fd = bfuse_fh_fd(fi), rc;

    if (fd >= 0 && benchfs_fstat(fd, st) == 0)
        return 0;
    rc = bfuse_node_path(fs, ino, &path);
    if (rc < 0)
        return rc;
    if (benchfs_stat(path.p, st) < 0)
        return -bfuse_errno();
    return 0;
}

/* GETATTR: attributes for stat(2) and the kernel's revalidation. */
static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct bfuse *fs = bfuse_of(req);
    struct stat st;
    int rc;

    bfuse_wb_wait(fs);
    rc = attr_get(fs, ino, fi, &st);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    attr_fix(&st);
    fuse_reply_attr(req, &st, fs->set.attr_timeout);
}

/* One time of a SETATTR as utimensat wants it. */
static struct timespec setattr_time(int to_set, int given, int now, const struct timespec *ts)
{
    if (to_set & now)
        return (struct timespec){.tv_sec = 0, .tv_nsec = UTIME_NOW};
    if (to_set & given)
        return *ts;
    return (struct timespec){.tv_sec = 0, .tv_nsec = UTIME_OMIT};
}

/* The changes of a SETATTR on the handle's descriptor fd, else on path. 0
 * or -errno. */
static int setattr_apply(int fd, const char *path, const struct stat *attr, int to_set)
{
    struct timespec ts[2];
    int rc = 0;

    if (to_set & FUSE_SET_ATTR_SIZE)
        rc = fd >= 0 ? benchfs_ftruncate(fd, attr->st_size) : benchfs_truncate(path, attr->st_size);
    if (rc == 0 && (to_set & FUSE_SET_ATTR_MODE)) {
        mode_t mode = attr->st_mode & 07777;

        rc = fd >= 0 ? benchfs_fchmod(fd, mode) : benchfs_chmod(path, mode);
    }
    if (rc == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
        uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
        gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

        rc = fd >= 0 ? benchfs_fchown(fd, uid, gid) : benchfs_chown(path, uid, gid);
    }
    if (rc == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME |
                              FUSE_SET_ATTR_MTIME_NOW))) {
        ts[0] = setattr_time(to_set, FUSE_SET_ATTR_ATIME, FUSE_SET_ATTR_ATIME_NOW, &attr->st_atim);
        ts[1] = setattr_time(to_set, FUSE_SET_ATTR_MTIME, FUSE_SET_ATTR_MTIME_NOW, &attr->st_mtim);
        rc = fd >= 0 ? benchfs_futimens(fd, ts) : benchfs_utimens(path, ts);
    }
    return rc < 0 ? -bfuse_errno() : 0;
}

/* SETATTR: truncate, chmod, chown, utimens (see the file header). */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_path path;
    struct stat st;
    int fd = bfuse_fh_fd(fi), rc = 0;

    bfuse_wb_wait(bfuse_of(req));
    if (fd < 0)
        rc = bfuse_node_path(fs, ino, &path);
    if (rc == 0)
        rc = setattr_apply(fd, fd < 0 ? path.p : NULL, attr, to_set);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (to_set & FUSE_SET_ATTR_SIZE)
        bfuse_node_cache_drop(fs, ino);
    rc = attr_get(fs, ino, fi, &st);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    attr_fix(&st);
    fuse_reply_attr(req, &st, fs->set.attr_timeout);
}

/* MKDIR: create on every server, then the entry with its attributes. */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_path path;
    struct stat st;
    int rc;

    bfuse_wb_wait(bfuse_of(req));
    rc = bfuse_node_child_path(fs, parent, name, &path);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (benchfs_mkdir(path.p, mode) < 0 || benchfs_stat(path.p, &st) < 0) {
        fuse_reply_err(req, bfuse_errno());
        return;
    }
    bfuse_reply_entry(req, path.p, path.len, &st);
}

/*
 * Make `path` go away for rename-over or unlink. A regular file this mount
 * has open is renamed to a hidden name instead (removed at its last
 * release), so its open descriptors keep their data. Returns 0 (nothing
 * hidden), 1 (hidden), or -errno.
 */
static int hide_if_open(struct bfuse *fs, const struct bfuse_path *path)
{
    struct bfuse_path hidden;

    if (bfuse_node_hide_prepare(fs, path->p, path->len, &hidden) != 1)
        return 0;
    if (benchfs_rename(path->p, hidden.p) < 0)
        return -bfuse_errno();
    if (bfuse_node_hide_done(fs, path->p, path->len, &hidden) == 1)
        benchfs_unlink(hidden.p); /* closed meanwhile */
    return 1;
}

/* UNLINK: remove the name (hiding it instead while this mount has it open). */
static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_path path;
    int rc;

    bfuse_wb_wait(bfuse_of(req));
    rc = bfuse_node_child_path(fs, parent, name, &path);
    if (rc == 0)
        rc = hide_if_open(fs, &path);
    if (rc == 0) {
        rc = benchfs_unlink(path.p) < 0 ? -bfuse_errno() : 0;
        if (rc == 0)
            bfuse_node_unlinked(fs, path.p, path.len);
    }
    fuse_reply_err(req, rc < 0 ? -rc : 0);
}

/* RMDIR: remove an empty directory. */
static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_path path;
    int rc;

    bfuse_wb_wait(bfuse_of(req));
    rc = bfuse_node_child_path(fs, parent, name, &path);
    if (rc == 0) {
        rc = benchfs_rmdir(path.p) < 0 ? -bfuse_errno() : 0;
        if (rc == 0)
            bfuse_node_unlinked(fs, path.p, path.len);
    }
    fuse_reply_err(req, -rc);
}

/* RENAME: the BenchFS rename, then the node table follows (subtrees too). */
static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_path from, to, hidden;
    struct stat st;
    int rc;

    bfuse_wb_wait(bfuse_of(req));
    if (flags & ~RENAME_NOREPLACE) {
        fuse_reply_err(req, EINVAL); /* RENAME_EXCHANGE, RENAME_WHITEOUT */
        return;
    }
    rc = bfuse_node_child_path(fs, parent, name, &from);
    if (rc == 0)
        rc = bfuse_node_child_path(fs, newparent, newname, &to);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (flags & RENAME_NOREPLACE) {
        /* Not atomic against other clients (the API has no such rename). */
        if (benchfs_stat(to.p, &st) == 0) {
            fuse_reply_err(req, EEXIST);
            return;
        }
    } else if (bfuse_node_hide_prepare(fs, to.p, to.len, &hidden) == 1 &&
               benchfs_stat(from.p, &st) == 0 && S_ISREG(st.st_mode)) {
        /* A file over a file this mount has open: keep the open one's data
         * (the table says it is open; no RPC for the common rename). */
        if (benchfs_rename(to.p, hidden.p) < 0) {
            fuse_reply_err(req, bfuse_errno());
            return;
        }
        if (bfuse_node_hide_done(fs, to.p, to.len, &hidden) == 1)
            benchfs_unlink(hidden.p); /* closed meanwhile */
    }
    if (benchfs_rename(from.p, to.p) < 0) {
        fuse_reply_err(req, bfuse_errno());
        return;
    }
    bfuse_node_renamed(fs, from.p, from.len, to.p, to.len);
    fuse_reply_err(req, 0);
}

/* The cluster's capacity, as `df` on the mount shows it. */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct statvfs sv;

    bfuse_wb_wait(bfuse_of(req));
    if (benchfs_statvfs("/", &sv) < 0) {
        fuse_reply_err(req, bfuse_errno());
        return;
    }
    if (sv.f_namemax == 0 || sv.f_namemax > 255)
        sv.f_namemax = 255;
    fuse_reply_statfs(req, &sv);
}

/* BenchFS has regular files and directories only: like vfat, refuse the
 * other kinds with EPERM (a clearer message than ENOSYS). */
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    fuse_reply_err(req, EPERM);
}

/* LINK: no hard links in BenchFS. */
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    fuse_reply_err(req, EPERM);
}

/* MKNOD: regular files only (created and closed); other kinds are EPERM. */
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_path path;
    struct stat st;
    int fd, rc;

    bfuse_wb_wait(bfuse_of(req));
    if (!S_ISREG(mode)) {
        fuse_reply_err(req, EPERM);
        return;
    }
    rc = bfuse_node_child_path(fs, parent, name, &path);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fd = benchfs_open(path.p, O_CREAT | O_EXCL | O_WRONLY, mode & 07777);
    if (fd < 0) {
        fuse_reply_err(req, bfuse_errno());
        return;
    }
    rc = benchfs_fstat(fd, &st);
    if (benchfs_close(fd) < 0 || rc < 0) {
        fuse_reply_err(req, bfuse_errno());
        return;
    }
    bfuse_reply_entry(req, path.p, path.len, &st);
}

void bfuse_entry_ops(struct fuse_lowlevel_ops *ops)
{
    ops->lookup = op_lookup;
    ops->forget = op_forget;
    ops->forget_multi = op_forget_multi;
    ops->getattr = op_getattr;
    ops->setattr = op_setattr;
    ops->mkdir = op_mkdir;
    ops->unlink = op_unlink;
    ops->rmdir = op_rmdir;
    ops->rename = op_rename;
    ops->statfs = op_statfs;
    ops->symlink = op_symlink;
    ops->link = op_link;
    ops->mknod = op_mknod;
}
