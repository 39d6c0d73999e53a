/*
 * bfuse_dir.c - directory handles of the FUSE daemon: opendir, readdir,
 * readdirplus, releasedir.
 *
 * A handle reads the whole directory (benchfs_opendir/readdir) when the
 * kernel asks for offset 0 (the first call and every rewinddir) and then
 * serves the kernel's offsets from that snapshot: entry i has offset i + 1,
 * "." and ".." first (the library does not return them). So seekdir and
 * telldir stay valid while entries come and go on the servers.
 *
 * readdirplus hands the kernel a node per entry (one lookup each, counted
 * only when the entry fits the reply). BenchFS entries carry type, mode and
 * size but no owner or times, so their attributes get timeout 0: a stat(2)
 * after `ls` still asks for the real ones. The kernel chooses between the
 * two calls itself (FUSE_CAP_READDIRPLUS_AUTO).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "benchfs.h"
#include "fuse/bfuse_int.h"

struct dir_entry {
    char *name;
    uint64_t ino;
    mode_t mode;
    uint64_t size;
};

struct bfuse_dir {
    enum bfuse_fh_kind kind; /* BFUSE_FH_DIR */
    uint64_t nodeid;
    pthread_mutex_t lock; /* the snapshot (readdir calls of one handle may race) */
    struct dir_entry *ents;
    size_t count;
    bool loaded;
};

/* Drop the snapshot (the handle then reads the directory again). */
static void dir_clear(struct bfuse_dir *d)
{
    for (size_t i = 0; i < d->count; i++)
        free(d->ents[i].name);
    free(d->ents);
    d->ents = NULL;
    d->count = 0;
    d->loaded = false;
}

/* Read the directory into the snapshot. 0 or -errno. */
static int dir_load(struct bfuse *fs, struct bfuse_dir *d)
{
    struct bfuse_path path;
    struct benchfs_dirent *de;
    benchfs_dir_t *dir;
    size_t cap = 0;
    int rc;

    dir_clear(d);
    rc = bfuse_node_path(fs, d->nodeid, &path);
    if (rc < 0)
        return rc;
    dir = benchfs_opendir(path.p);
    if (!dir)
        return -bfuse_errno();
    errno = 0;
    while ((de = benchfs_readdir(dir)) != NULL) {
        struct dir_entry *e;

        if (d->count == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct dir_entry *bigger = realloc(d->ents, ncap * sizeof(*bigger));

            if (!bigger) {
                rc = -ENOMEM;
                goto out_close;
            }
            d->ents = bigger;
            cap = ncap;
        }
        e = &d->ents[d->count];
        e->name = strdup(de->d_name);
        if (!e->name) {
            rc = -ENOMEM;
            goto out_close;
        }
        e->ino = de->d_ino;
        e->mode = de->d_mode;
        if ((e->mode & S_IFMT) == 0)
            e->mode |= de->d_type == DT_DIR ? S_IFDIR : S_IFREG;
        e->size = de->d_size;
        d->count++;
        errno = 0;
    }
    if (errno != 0)
        rc = -bfuse_errno();

out_close:
    benchfs_closedir(dir);
    if (rc < 0)
        dir_clear(d);
    else
        d->loaded = true;
    return rc;
}

/* OPENDIR: a handle with an empty snapshot (filled at the first readdir). */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct bfuse_dir *d = calloc(1, sizeof(*d));

    if (!d) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    d->kind = BFUSE_FH_DIR;
    d->nodeid = ino;
    pthread_mutex_init(&d->lock, NULL);
    fi->fh = (uint64_t)(uintptr_t)d;
    /* Entries are re-read at every offset 0: no kernel readdir cache. */
    fi->cache_readdir = 0;
    fi->keep_cache = 0;
    if (fuse_reply_open(req, fi) != 0) {
        pthread_mutex_destroy(&d->lock);
        free(d);
    }
}

/* Entry `idx` of the listing (0 ".", 1 "..", then the snapshot): name and
 * attributes into st. */
static const char *dir_entry_at(struct bfuse *fs, struct bfuse_dir *d, size_t idx, struct stat *st)
{
    struct dir_entry *e;

    memset(st, 0, sizeof(*st));
    if (idx < 2) {
        st->st_mode = S_IFDIR | 0755;
        st->st_ino = 1;
        return idx == 0 ? "." : "..";
    }
    e = &d->ents[idx - 2];
    st->st_ino = (ino_t)e->ino;
    st->st_mode = e->mode;
    st->st_size = (off_t)e->size;
    st->st_nlink = S_ISDIR(e->mode) ? 2 : 1;
    st->st_uid = fs->uid;
    st->st_gid = fs->gid;
    st->st_blksize = 4096;
    st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
    return e->name;
}

/* READDIR / READDIRPLUS from offset `off`: as many entries as fit `size`. */
static void dir_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, bool plus)
{
    struct bfuse *fs = bfuse_of(req);
    struct bfuse_dir *d = (struct bfuse_dir *)(uintptr_t)fi->fh;
    struct bfuse_path dpath;
    uint64_t *refs = NULL; /* node ids this reply counted a lookup for */
    size_t nrefs = 0;
    char *buf;
    size_t used = 0;
    int rc = 0;

    buf = malloc(size);
    /* At most one entry per 24 bytes of reply (the smallest dirent). */
    if (plus)
        refs = malloc((size / 24 + 1) * sizeof(*refs));
    if (!buf || (plus && !refs)) {
        free(buf);
        free(refs);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    pthread_mutex_lock(&d->lock);
    if (off == 0 || !d->loaded)
        rc = dir_load(fs, d);
    if (rc == 0 && plus)
        rc = bfuse_node_path(fs, d->nodeid, &dpath);
    for (size_t idx = (size_t)off; rc == 0 && idx < d->count + 2; idx++) {
        struct stat st;
        const char *name = dir_entry_at(fs, d, idx, &st);
        size_t need;

        if (!plus) {
            need = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)idx + 1);
            if (need > size - used)
                break;
            used += need;
            continue;
        }
        struct fuse_entry_param e;

        memset(&e, 0, sizeof(e));
        need = fuse_add_direntry_plus(req, NULL, 0, name, &e, 0);
        if (need > size - used)
            break;
        if (idx >= 2) {
            struct bfuse_path cpath = dpath;
            size_t nlen = strlen(name);

            if (cpath.len + 1 + nlen >= sizeof(cpath.p))
                continue;
            if (cpath.len > 1)
                cpath.p[cpath.len++] = '/';
            memcpy(cpath.p + cpath.len, name, nlen + 1);
            cpath.len += nlen;
            if (bfuse_entry_make(fs, cpath.p, cpath.len, &st, &e) < 0)
                break;
            refs[nrefs++] = e.ino;
            e.attr_timeout = 0; /* no owner and times in a BenchFS entry */
        } else {
            e.attr = st; /* "." and "..": node id 0, the kernel skips them */
        }
        used += fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)idx + 1);
    }
    pthread_mutex_unlock(&d->lock);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
    } else if (fuse_reply_buf(req, buf, used) != 0) {
        /* Not delivered (interrupted): the kernel took no reference. */
        for (size_t i = 0; i < nrefs; i++)
            bfuse_node_forget(fs, refs[i], 1);
    }
    free(refs);
    free(buf);
}

/* READDIR: names, types and inode numbers. */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    bfuse_wb_wait(bfuse_of(req));
    dir_read(req, size, off, fi, false);
}

/* READDIRPLUS: entries with a node and attributes each. */
static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    bfuse_wb_wait(bfuse_of(req));
    dir_read(req, size, off, fi, true);
}

/* RELEASEDIR: free the handle and its snapshot. */
static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct bfuse_dir *d = (struct bfuse_dir *)(uintptr_t)fi->fh;

    dir_clear(d);
    pthread_mutex_destroy(&d->lock);
    free(d);
    fuse_reply_err(req, 0);
}

/* fsync(2) of a directory: BenchFS directories are durable per call. */
static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    fuse_reply_err(req, 0);
}

void bfuse_dir_ops(struct fuse_lowlevel_ops *ops)
{
    ops->opendir = op_opendir;
    ops->readdir = op_readdir;
    ops->readdirplus = op_readdirplus;
    ops->releasedir = op_releasedir;
    ops->fsyncdir = op_fsyncdir;
}
