/*
 * dir.c - directories: mkdir, rmdir, opendir / readdir / closedir.
 *
 * Directories are replicated on every server (docs/design.md#namespace-and-placement), so mkdir and
 * rmdir fan out to all servers in parallel: mkdir with a rollback when only
 * some servers could create it, rmdir in two phases (prepare everywhere,
 * then commit or abort); a change of attributes made on one server is
 * copied to all the others. readdir asks every server, page by page, for the
 * entries of the directory that it owns (with type and size), then merges
 * them in name order. posix.c decides the errno from the per-server answers.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/error.h"
#include "client/posix.h"
#include "common/log.h"

#define DIR_PAGE_ENTRIES 1024
#define DIR_PAGE_BYTES   (256u << 10)

/* ---- mkdir / rmdir ---- */

static struct rpc_call *dir_calls_alloc(struct client *c)
{
    return calloc(c->nservers, sizeof(struct rpc_call));
}

/*
 * The same path op to every server i with skip[i] == 0 (skip NULL: all), the
 * owner flagged PROTO_MKDIR_OWNER. Returns the number of calls made, which
 * are calls[0 .. n) (each with its server in call.server).
 */
static size_t dir_fanout(struct client *c, struct rpc_call *calls, unsigned op, const char *path,
                         size_t len, const int *skip)
{
    size_t owner = placement_path(&c->place, path, len), i, n = 0;

    for (i = 0; i < c->nservers; i++) {
        if (skip != NULL && skip[i] != 0)
            continue;
        rpc_call_path(&calls[n], op, i, path, len);
        calls[n].req.path_req.flags = i == owner ? PROTO_MKDIR_OWNER : 0;
        n++;
    }
    rpc_run_calls(c, calls, n);
    return n;
}

int dir_mkdir(struct client *c, const char *path, size_t len, uint32_t mode)
{
    size_t owner = placement_path(&c->place, path, len), i;
    enum posix_mkdir_action action;
    struct proto_attr attr;
    struct rpc_call *calls;
    int *st, rc;

    if (len == 1)
        return -EEXIST;
    calls = dir_calls_alloc(c);
    st = calloc(c->nservers, sizeof(*st));
    if (calls == NULL || st == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (i = 0; i < c->nservers; i++) {
        rpc_call_init(&calls[i], PROTO_OP_MKDIR, i);
        calls[i].req.mkdir_req.path_len = (uint32_t)len;
        calls[i].req.mkdir_req.flags = i == owner ? PROTO_MKDIR_OWNER : 0;
        calls[i].req.mkdir_req.mode = S_IFDIR | (mode & 07777);
        calls[i].req.mkdir_req.uid = c->uid;
        calls[i].req.mkdir_req.gid = c->gid;
        calls[i].data = path;
        calls[i].data_len = len;
    }
    rpc_run_calls(c, calls, c->nservers);
    for (i = 0; i < c->nservers; i++)
        st[i] = calls[i].status;
    rc = posix_mkdir_outcome(st, c->nservers, owner, &action);
    if (action == POSIX_MKDIR_CHECK_OWNER) {
        /* A concurrent mkdir made it: keep it. A file of that name: undo ours. */
        if (ns_stat_raw(c, path, len, &attr) == 0 && S_ISDIR(attr.mode))
            action = POSIX_MKDIR_DONE;
        else
            action = POSIX_MKDIR_ROLLBACK;
    }
    if (action == POSIX_MKDIR_ROLLBACK) {
        /* Roll back where it succeeded: RMDIR_COMMIT works without a prepare. */
        for (i = 0; i < c->nservers; i++)
            st[i] = st[i] == 0 ? 0 : 1;
        dir_fanout(c, calls, PROTO_OP_RMDIR_COMMIT, path, len, st);
        log_debug("client: mkdir %.*s rolled back (%d)", (int)len, path, rc);
    }
    if (rc == -ENOENT)
        rc = ns_refine_enoent(c, path, len);
out:
    free(calls);
    free(st);
    return rc;
}

int dir_rmdir(struct client *c, const char *path, size_t len)
{
    struct rpc_call *calls;
    bool commit;
    int *st = NULL, rc;
    size_t i, n;

    if (len == 1)
        return -EBUSY;
    calls = dir_calls_alloc(c);
    st = calloc(c->nservers, sizeof(*st));
    if (calls == NULL || st == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    n = dir_fanout(c, calls, PROTO_OP_RMDIR_PREPARE, path, len, NULL);
    for (i = 0; i < n; i++)
        st[calls[i].server] = calls[i].status;
    rc = posix_rmdir_outcome(st, c->nservers, &commit);
    for (i = 0; i < c->nservers; i++)
        st[i] = st[i] == 0 ? 0 : 1;
    if (commit) {
        n = dir_fanout(c, calls, PROTO_OP_RMDIR_COMMIT, path, len, st);
        for (i = 0; rc == 0 && i < n; i++) {
            if (calls[i].status < 0 && calls[i].status != -ENOENT)
                rc = calls[i].status;
        }
    } else {
        dir_fanout(c, calls, PROTO_OP_RMDIR_ABORT, path, len, st);
        if (rc == -ENOENT)
            rc = ns_refine_enoent(c, path, len);
    }
out:
    free(calls);
    free(st);
    return rc;
}

int dir_attr_copy(struct client *c, const char *path, size_t len, size_t done,
                  const struct proto_attr *a)
{
    struct rpc_call *calls;
    size_t i, n = 0;
    int rc;

    if (c->nservers < 2)
        return 0;
    calls = dir_calls_alloc(c);
    if (calls == NULL)
        return -ENOMEM;
    for (i = 0; i < c->nservers; i++) {
        struct proto_setattr_req *r;

        if (i == done)
            continue;
        rpc_call_init(&calls[n], PROTO_OP_SETATTR, i);
        r = &calls[n].req.setattr_req;
        r->path_len = (uint32_t)len;
        r->ino = a->ino;
        /* All of them, not only the ones the caller changed: replicas made
         * by one mkdir differ in their times (each server's clock). */
        r->valid = PROTO_SETATTR_MODE | PROTO_SETATTR_UID | PROTO_SETATTR_GID |
                   PROTO_SETATTR_ATIME | PROTO_SETATTR_MTIME | PROTO_SETATTR_CTIME;
        r->mode = a->mode & 07777;
        r->uid = a->uid;
        r->gid = a->gid;
        r->atime_ns = a->atime_ns;
        r->mtime_ns = a->mtime_ns;
        r->ctime_ns = a->ctime_ns;
        calls[n].data = path;
        calls[n].data_len = len;
        n++;
    }
    rc = rpc_run_calls(c, calls, n);
    free(calls);
    return rc;
}

int dir_setattr(struct client *c, size_t where, const char *path, size_t len, uint64_t ino,
                bool orphan, const struct proto_setattr_req *q, struct proto_attr *attr_p)
{
    struct rpc_call call;
    int rc;

    rpc_call_init(&call, PROTO_OP_SETATTR, where);
    call.req.setattr_req = *q;
    call.req.setattr_req.path_len = (uint32_t)len;
    call.req.setattr_req.flags = orphan ? PROTO_INO_ORPHAN : 0;
    call.req.setattr_req.ino = ino;
    call.data = path;
    call.data_len = len;
    rc = rpc_run_one(c, &call);
    if (rc < 0)
        return rc;
    if (S_ISDIR(call.rep.attr_rep.attr.mode)) {
        rc = dir_attr_copy(c, path, len, where, &call.rep.attr_rep.attr);
        if (rc < 0)
            return rc;
    }
    *attr_p = call.rep.attr_rep.attr;
    return 0;
}

int benchfs_mkdir(const char *upath, mode_t mode)
{
    char path[BFS_PATH_MAX];
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = client_path(upath, path);
        if (rc >= 0)
            rc = dir_mkdir(c, path, (size_t)rc, (uint32_t)(mode & ~c->umask));
        client_leave(c);
    }
    return (int)error_finish(rc, "mkdir", upath, false);
}

int benchfs_rmdir(const char *upath)
{
    char path[BFS_PATH_MAX];
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = client_path(upath, path);
        if (rc >= 0)
            rc = dir_rmdir(c, path, (size_t)rc);
        client_leave(c);
    }
    return (int)error_finish(rc, "rmdir", upath, false);
}

/* ---- readdir ---- */

struct dir_entry {
    uint64_t ino;
    uint64_t size;
    uint32_t mode;
    size_t name_off;
    const char *name; /* set once the name arena stops moving */
};

struct benchfs_dir {
    struct dir_entry *ents;
    size_t n, cap;
    char *names;
    size_t names_len, names_cap;
    size_t next;
    struct benchfs_dirent cur;
};

static int dir_add(struct benchfs_dir *d, const struct proto_dirent *e)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        struct dir_entry *ents = realloc(d->ents, cap * sizeof(*ents));

        if (ents == NULL)
            return -ENOMEM;
        d->ents = ents;
        d->cap = cap;
    }
    if (d->names_cap - d->names_len < (size_t)e->name_len + 1) {
        size_t cap = d->names_cap ? d->names_cap * 2 : 8192;
        char *names;

        while (cap - d->names_len < (size_t)e->name_len + 1)
            cap *= 2;
        names = realloc(d->names, cap);
        if (names == NULL)
            return -ENOMEM;
        d->names = names;
        d->names_cap = cap;
    }
    d->ents[d->n].ino = e->ino;
    d->ents[d->n].size = e->size;
    d->ents[d->n].mode = e->mode;
    d->ents[d->n].name_off = d->names_len;
    memcpy(d->names + d->names_len, e->name, e->name_len);
    d->names[d->names_len + e->name_len] = '\0';
    d->names_len += (size_t)e->name_len + 1;
    d->n++;
    return 0;
}

/* Paged READDIR on every server: one page in flight per server. */
struct dir_server_state {
    char *buf; /* path || cursor */
    uint32_t cursor_len;
    bool busy, done;
};

struct dir_src {
    struct rpc_src src;
    struct client *c;
    const char *path;
    size_t len;
    struct dir_server_state *srv;
    struct rpc_call *calls;
    struct benchfs_dir *d; /* NULL: only count entries */
    uint32_t max_entries, max_bytes;
    bool one_page;
    uint64_t count;
    int first_err;
};

static struct rpc_call *dir_next(struct rpc_src *src)
{
    struct dir_src *ds = (struct dir_src *)src;
    struct rpc_call *call;
    size_t i;

    for (i = 0; i < ds->c->nservers; i++) {
        struct dir_server_state *s = &ds->srv[i];

        if (s->busy || s->done)
            continue;
        if (ds->first_err != 0 || (ds->d == NULL && ds->count > 0)) {
            s->done = true;
            continue;
        }
        call = &ds->calls[i];
        rpc_call_init(call, PROTO_OP_READDIR, i);
        call->req.readdir_req.path_len = (uint32_t)ds->len;
        call->req.readdir_req.cursor_len = s->cursor_len;
        call->req.readdir_req.max_entries = ds->max_entries;
        call->req.readdir_req.max_bytes = ds->max_bytes;
        call->data = s->buf;
        call->data_len = ds->len + s->cursor_len;
        s->busy = true;
        return call;
    }
    return NULL;
}

static int dir_page(struct dir_src *ds, struct dir_server_state *s, struct rpc_call *call)
{
    struct proto_dirent e;
    size_t off = 0;
    uint32_t got = 0;
    int rc;

    while ((rc = proto_dirent_next(call->rdata, call->rdata_len, &off, &e)) == 1) {
        got++;
        if (ds->d != NULL) {
            rc = dir_add(ds->d, &e);
            if (rc < 0)
                return rc;
        }
        ds->count++;
        memcpy(s->buf + ds->len, e.name, e.name_len);
        s->cursor_len = e.name_len;
    }
    if (rc < 0 || got != call->rep.readdir_rep.count) {
        error_msg("malformed READDIR reply from server #%zu", call->server);
        return -EPROTO;
    }
    /* An empty page that claims more would loop forever: take it as the end. */
    if (call->rep.readdir_rep.done || got == 0 || ds->one_page)
        s->done = true;
    return 0;
}

static void dir_done(struct rpc_src *src, struct rpc_call *call)
{
    struct dir_src *ds = (struct dir_src *)src;
    struct dir_server_state *s = &ds->srv[call->server];
    int rc = call->status;

    s->busy = false;
    if (rc == 0)
        rc = dir_page(ds, s, call);
    if (rc < 0) {
        s->done = true;
        if (ds->first_err == 0)
            ds->first_err = rc;
    }
    free(call->rdata);
    call->rdata = NULL;
}

/* An entry read from a store of this host (direct_readdir). */
static int dir_direct_add(void *arg, const struct proto_dirent *e)
{
    struct dir_src *ds = arg;

    if (ds->d != NULL) {
        int rc = dir_add(ds->d, e);

        if (rc < 0) {
            ds->first_err = rc;
            return 1;
        }
    }
    ds->count++;
    return ds->d == NULL; /* counting: one is enough */
}

/* Run the paged listing of path; entries into d, or only count (one page each). */
static int dir_list(struct client *c, const char *path, size_t len, struct benchfs_dir *d,
                    uint64_t *count_p)
{
    struct dir_src ds;
    size_t i;
    int rc = 0;

    memset(&ds, 0, sizeof(ds));
    ds.src.next = dir_next;
    ds.src.done = dir_done;
    ds.c = c;
    ds.path = path;
    ds.len = len;
    ds.d = d;
    ds.one_page = d == NULL;
    ds.max_entries = d == NULL ? 1 : DIR_PAGE_ENTRIES;
    ds.max_bytes = d == NULL ? PROTO_DIRENT_FIXED + BFS_NAME_MAX : DIR_PAGE_BYTES;
    ds.srv = calloc(c->nservers, sizeof(*ds.srv));
    ds.calls = calloc(c->nservers, sizeof(*ds.calls));
    if (ds.srv == NULL || ds.calls == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (i = 0; i < c->nservers; i++) {
        ds.srv[i].buf = malloc(len + BFS_NAME_MAX + 1);
        if (ds.srv[i].buf == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        memcpy(ds.srv[i].buf, path, len);
    }
    /* Servers of this host: their stores are listed here, each in one
     * snapshot (docs/architecture.md#direct-metadata-reads). */
    for (i = 0; i < c->nservers && ds.first_err == 0; i++) {
        rc = direct_readdir(c, i, path, len, dir_direct_add, &ds);
        if (rc == -EAGAIN)
            continue;
        ds.srv[i].done = true;
        if (rc < 0 && ds.first_err == 0)
            ds.first_err = rc;
    }
    rc = 0;
    rpc_run(c, &ds.src);
    rc = ds.first_err;
    if (rc == 0 && count_p != NULL)
        *count_p = ds.count;
out:
    if (ds.srv != NULL) {
        for (i = 0; i < c->nservers; i++)
            free(ds.srv[i].buf);
    }
    free(ds.srv);
    free(ds.calls);
    return rc;
}

int dir_has_entries(struct client *c, const char *path, size_t len)
{
    uint64_t count = 0;
    int rc = dir_list(c, path, len, NULL, &count);

    if (rc < 0)
        return rc;
    return count > 0;
}

static int dir_ent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dir_entry *)a)->name, ((const struct dir_entry *)b)->name);
}

static void dir_free(struct benchfs_dir *d)
{
    if (d == NULL)
        return;
    free(d->ents);
    free(d->names);
    free(d);
}

static int dir_open(struct client *c, const char *upath, struct benchfs_dir **d_p)
{
    char path[BFS_PATH_MAX];
    struct proto_attr attr;
    struct benchfs_dir *d;
    size_t i, n;
    int len, rc;

    len = ns_resolve(c, upath, path, &attr);
    if (len < 0)
        return len;
    if (!S_ISDIR(attr.mode))
        return -ENOTDIR;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return -ENOMEM;
    rc = dir_list(c, path, (size_t)len, d, NULL);
    if (rc < 0) {
        dir_free(d);
        return rc;
    }
    for (i = 0; i < d->n; i++)
        d->ents[i].name = d->names + d->ents[i].name_off;
    if (d->n > 1)
        qsort(d->ents, d->n, sizeof(*d->ents), dir_ent_cmp);
    /* Every entry has one owner; drop duplicates should a record exist twice. */
    for (i = 0, n = 0; i < d->n; i++) {
        if (n > 0 && strcmp(d->ents[n - 1].name, d->ents[i].name) == 0)
            continue;
        d->ents[n++] = d->ents[i];
    }
    d->n = n;
    *d_p = d;
    return 0;
}

benchfs_dir_t *benchfs_opendir(const char *path)
{
    struct benchfs_dir *d = NULL;
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = dir_open(c, path, &d);
        client_leave(c);
    }
    if (error_finish(rc, "opendir", path, false) < 0)
        return NULL;
    return d;
}

struct benchfs_dirent *benchfs_readdir(benchfs_dir_t *d)
{
    const struct dir_entry *e;
    size_t nlen;

    error_begin();
    if (d == NULL) {
        error_finish(-EBADF, "readdir", NULL, false);
        return NULL;
    }
    if (d->next >= d->n) {
        error_finish(0, "readdir", NULL, true); /* the end: NULL with errno 0 */
        return NULL;
    }
    e = &d->ents[d->next++];
    memset(&d->cur, 0, sizeof(d->cur));
    d->cur.d_ino = e->ino;
    d->cur.d_type = posix_dirent_type(e->mode);
    d->cur.d_size = e->size;
    d->cur.d_mode = (mode_t)e->mode;
    nlen = strlen(e->name);
    if (nlen >= sizeof(d->cur.d_name))
        nlen = sizeof(d->cur.d_name) - 1;
    memcpy(d->cur.d_name, e->name, nlen);
    return &d->cur;
}

int benchfs_closedir(benchfs_dir_t *d)
{
    error_begin();
    if (d == NULL)
        return (int)error_finish(-EBADF, "closedir", NULL, false);
    dir_free(d);
    return 0;
}
