/*
 * inode.c - the inodes this client has open, and the requests made for them.
 *
 * Descriptors refer to inodes, not names (docs/semantics.md). Every open
 * descriptor holds a reference to one `struct client_inode` per inode
 * number, shared by all descriptors of that inode in this process, so they
 * share one view of its size: the size learned from its owner, the
 * furthest byte any of them wrote (the extent), and whether that extent
 * still has to be pushed (dirty).
 *
 * Requests made for an open inode go to the server that held its record
 * when this client last named it (`owner`), carry its inode number, and the
 * owner checks it: -ESTALE when the name now belongs to another inode. An
 * inode this client unlinked (or renamed over) while open is an orphan on
 * its owner, reached by inode number only, and released at the last close.
 *
 * Inode objects are malloc'd and never move, so a reference stays valid
 * while an RPC waits; descriptors are looked up again after every wait.
 * Freed objects are kept for reuse (up to INODE_SPARES_MAX, with their name
 * buffers), so opening and closing a file costs no malloc.
 *
 * Closing a descriptor (fd_close, fd_close_all) is here too: it takes the
 * descriptor out of fd.c's table, then closes its inode reference.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/error.h"
#include "common/log.h"

struct client_inode *inode_find(struct client *c, uint64_t ino)
{
    struct client_inode *ci;

    for (ci = c->inodes; ci != NULL; ci = ci->next) {
        if (ci->attr.ino == ino)
            return ci;
    }
    return NULL;
}

struct client_inode *inode_by_path(struct client *c, const char *path, size_t len)
{
    struct client_inode *ci;

    for (ci = c->inodes; ci != NULL; ci = ci->next) {
        if (!ci->orphan && S_ISREG(ci->attr.mode) && ci->path_len == len &&
            memcmp(ci->path, path, len) == 0)
            return ci;
    }
    return NULL;
}

/* Set ci's name (and owner, unless it is an orphan). */
static int inode_set_path(struct client *c, struct client_inode *ci, const char *path, size_t len)
{
    char *p, **r;

    if (ci->path != NULL && ci->path_len == len && memcmp(ci->path, path, len) == 0) {
        if (!ci->orphan)
            ci->owner = placement_path(&c->place, path, len);
        return 0;
    }
    p = malloc(len + 1);
    if (p == NULL)
        return -ENOMEM;
    memcpy(p, path, len);
    p[len] = '\0';
    if (ci->path != NULL) {
        /* Another thread's request in flight may still send the old name
         * (its wait is unlocked): keep it until the inode goes. */
        r = realloc(ci->retired, (ci->nretired + 1) * sizeof(*r));
        if (r == NULL) {
            free(p);
            return -ENOMEM;
        }
        ci->retired = r;
        ci->retired[ci->nretired++] = ci->path;
    }
    ci->path = p;
    ci->path_len = len;
    ci->path_cap = len + 1;
    if (!ci->orphan)
        ci->owner = placement_path(&c->place, path, len);
    return 0;
}

/* Freed inode objects kept for reuse, with their name buffers. */
#define INODE_SPARES_MAX 64

/* A zeroed inode named path (from the spares when there is one). */
static struct client_inode *inode_new(struct client *c, const char *path, size_t len)
{
    struct client_inode *ci = c->spare_inodes;
    char *buf = NULL;
    size_t cap = 0;

    if (ci != NULL) {
        c->spare_inodes = ci->next;
        c->nspare_inodes--;
        buf = ci->path;
        cap = ci->path_cap;
        memset(ci, 0, sizeof(*ci));
    } else {
        ci = calloc(1, sizeof(*ci));
        if (ci == NULL)
            return NULL;
    }
    if (cap < len + 1) {
        free(buf);
        cap = len + 1 < 64 ? 64 : len + 1;
        buf = malloc(cap);
        if (buf == NULL) {
            free(ci);
            return NULL;
        }
    }
    memcpy(buf, path, len);
    buf[len] = '\0';
    ci->path = buf;
    ci->path_len = len;
    ci->path_cap = cap;
    return ci;
}

int inode_get(struct client *c, const char *path, size_t len, const struct proto_attr *attr,
              struct client_inode **ci_p)
{
    struct client_inode *ci = inode_find(c, attr->ino);
    int rc;

    if (ci != NULL) {
        /* Opened again by its name: what the owner says now is newer. */
        if (!ci->orphan) {
            rc = inode_set_path(c, ci, path, len);
            if (rc < 0)
                return rc;
        }
        ci->attr = *attr;
        inode_drop_head(ci);
        ci->refs++;
        ci->opens++;
        *ci_p = ci;
        return 0;
    }
    ci = inode_new(c, path, len);
    if (ci == NULL)
        return -ENOMEM;
    ci->owner = placement_path(&c->place, path, len);
    ci->attr = *attr;
    ci->refs = 1;
    ci->opens = 1;
    ci->next = c->inodes;
    if (c->inodes != NULL)
        c->inodes->prev = ci;
    c->inodes = ci;
    *ci_p = ci;
    return 0;
}

void inode_drop_head(struct client_inode *ci)
{
    free(ci->head);
    ci->head = NULL;
    ci->head_len = 0;
}

int inode_lookup_head(struct client *c, const char *path, size_t len, struct proto_attr *attr_p,
                      uint8_t **head_p)
{
    size_t server = placement_path(&c->place, path, len);
    struct rpc_call call;
    uint8_t *buf;
    int rc;

    *head_p = NULL;
    /* Owner on this host: its store is read here, and the bytes are read
     * from chunk 0 when the file is (direct.c). */
    if (direct_meta_usable(c, server))
        return ns_lookup(c, path, len, attr_p);
    buf = malloc(PROTO_STAT_HEAD_MAX);
    if (buf == NULL)
        return ns_lookup(c, path, len, attr_p);
    rpc_call_path(&call, PROTO_OP_STAT, server, path, len);
    call.req.path_req.flags = PROTO_STAT_HEAD;
    call.rbuf = buf;
    call.rbuf_len = PROTO_STAT_HEAD_MAX;
    rc = rpc_run_one(c, &call);
    if (rc == -ENOENT)
        rc = ns_refine_enoent(c, path, len);
    if (rc < 0 || call.rlen == 0) {
        free(buf);
    } else {
        *head_p = buf; /* proto_rep_check: rlen == attr.size */
    }
    if (rc == 0)
        *attr_p = call.rep.attr_rep.attr;
    return rc;
}

void inode_put(struct client *c, struct client_inode *ci)
{
    if (--ci->refs > 0)
        return;
    direct_forget(c, ci->attr.ino); /* no descriptor of it left here */
    if (ci->prev != NULL)
        ci->prev->next = ci->next;
    else
        c->inodes = ci->next;
    if (ci->next != NULL)
        ci->next->prev = ci->prev;
    while (ci->nretired > 0)
        free(ci->retired[--ci->nretired]);
    free(ci->retired);
    free(ci->head);
    if (c->nspare_inodes >= INODE_SPARES_MAX) {
        free(ci->path);
        free(ci);
        return;
    }
    /* inode_new reuses the object and its name buffer (path, path_cap). */
    ci->next = c->spare_inodes;
    c->spare_inodes = ci;
    c->nspare_inodes++;
}

void inode_spares_free(struct client *c)
{
    struct client_inode *ci;

    while ((ci = c->spare_inodes) != NULL) {
        c->spare_inodes = ci->next;
        free(ci->path);
        free(ci);
    }
    c->nspare_inodes = 0;
}

uint64_t inode_size(const struct client_inode *ci)
{
    return ci->extent > ci->attr.size ? ci->extent : ci->attr.size;
}

void inode_truncated(struct client_inode *ci, uint64_t size)
{
    inode_drop_head(ci);
    ci->attr.size = size;
    if (ci->extent > size)
        ci->extent = size;
}

int inode_renamed(struct client *c, uint64_t ino, const char *path, size_t len)
{
    struct client_inode *ci = inode_find(c, ino);

    return ci == NULL ? 0 : inode_set_path(c, ci, path, len);
}

/* An ino_req call for ci: its owner, its name or its orphan record. */
static void inode_call(struct rpc_call *call, unsigned op, const struct client_inode *ci)
{
    rpc_call_init(call, op, ci->owner);
    call->req.ino_req.path_len = (uint32_t)ci->path_len;
    call->req.ino_req.flags = ci->orphan ? PROTO_INO_ORPHAN : 0;
    call->req.ino_req.ino = ci->attr.ino;
    call->data = ci->path;
    call->data_len = ci->path_len;
}

int inode_push_size(struct client *c, struct client_inode *ci, uint32_t flags)
{
    struct rpc_call call;
    uint64_t wgen = ci->wgen;
    int rc;

    rpc_call_init(&call, PROTO_OP_SETSIZE, ci->owner);
    call.req.setsize_req.path_len = (uint32_t)ci->path_len;
    call.req.setsize_req.flags = flags | (ci->orphan ? PROTO_SETSIZE_ORPHAN : 0);
    call.req.setsize_req.ino = ci->attr.ino;
    call.req.setsize_req.size = ci->extent;
    call.req.setsize_req.mtime_ns = 0; /* the owner's clock: now */
    call.data = ci->path;
    call.data_len = ci->path_len;
    rc = rpc_run_one(c, &call);
    if (rc == 0) {
        /* Published: the owner's size (max semantics) covers the extent, so
         * a later truncation by another client shows in stat(path). */
        ci->attr.size = call.rep.attr_rep.attr.size;
        ci->attr.mtime_ns = call.rep.attr_rep.attr.mtime_ns;
        ci->attr.ctime_ns = call.rep.attr_rep.attr.ctime_ns;
    } else if (rc == -ENOENT || rc == -ESTALE) {
        /* Removed or replaced by another client: nobody to tell. */
        log_debug("client: size of inode %llx not pushed (%d)", (unsigned long long)ci->attr.ino,
                  rc);
        rc = 0;
    }
    if (rc == 0 && (flags & PROTO_SETSIZE_SYNC))
        ci->unsynced = false;
    /* Writes of other threads that completed while this push waited
     * (unlocked) are not covered by it: they stay for the next push. */
    if (rc == 0 && ci->wgen == wgen) {
        ci->extent = 0;
        ci->dirty = false;
    }
    return rc;
}

/* ENOENT for an inode we hold: another client removed its name. */
static int inode_gone(const struct client_inode *ci, int rc)
{
    if (rc == -ENOENT || rc == -ESTALE) {
        error_msg("inode %llx was removed or replaced by another client",
                  (unsigned long long)ci->attr.ino);
        return -ESTALE;
    }
    return rc;
}

int inode_stat(struct client *c, struct client_inode *ci, struct proto_attr *attr_p)
{
    struct rpc_call call;
    int rc;

    inode_call(&call, PROTO_OP_ISTAT, ci);
    rc = rpc_run_one(c, &call);
    if (rc < 0)
        return inode_gone(ci, rc);
    *attr_p = call.rep.attr_rep.attr;
    return 0;
}

int inode_spread(struct client *c, struct client_inode *ci, uint64_t ino)
{
    int rc;

    if (ci != NULL && ci->spread)
        return 0;
    rc = io_spread(c, ino);
    if (rc == 0 && ci != NULL)
        ci->spread = true;
    return rc;
}

int inode_truncate_at(struct client *c, const struct client_inode *where,
                      const struct proto_attr *attr, uint64_t size, struct proto_attr *attr_p)
{
    struct client_inode *ci = inode_find(c, attr->ino);
    struct rpc_call call;
    uint64_t freed = attr->size;
    int rc;

    /* Free first, then set the size: once the owner reports the new size,
     * no removal of this call is still in flight, so a write that another
     * descriptor or client makes after seeing it is never lost. Bytes this
     * client wrote but did not push yet are data too. */
    if (ci != NULL && ci->extent > freed)
        freed = ci->extent;
    rc = io_free(c, attr->ino, attr->chunk_size, size, freed);
    if (rc < 0)
        return rc;
    /* A size past chunk 0 tells every opener that chunk 0's server knows
     * of chunks past it (file_pwrite): make it so first. */
    if (size > attr->chunk_size) {
        rc = inode_spread(c, ci, attr->ino);
        if (rc < 0)
            return rc;
    }
    inode_call(&call, PROTO_OP_ITRUNCATE, where);
    call.req.ino_req.ino = attr->ino;
    call.req.ino_req.size = size;
    rc = rpc_run_one(c, &call);
    if (rc < 0)
        return rc;
    /* Published by others meanwhile beyond what we freed: free that too. */
    if (call.rep.truncate_rep.old_size > freed) {
        rc = io_free(c, attr->ino, attr->chunk_size, size, call.rep.truncate_rep.old_size);
        if (rc < 0)
            return rc;
    }
    ci = inode_find(c, attr->ino);
    if (ci != NULL) {
        inode_truncated(ci, size);
        ci->attr.mtime_ns = call.rep.truncate_rep.attr.mtime_ns;
        ci->attr.ctime_ns = call.rep.truncate_rep.attr.ctime_ns;
    }
    if (attr_p != NULL)
        *attr_p = call.rep.truncate_rep.attr;
    return 0;
}

int inode_truncate(struct client *c, struct client_inode *ci, uint64_t size)
{
    struct proto_attr attr = ci->attr, now;
    int rc;

    /* A named inode may have been renamed or removed by another client:
     * check before freeing anything, so that a stale descriptor fails
     * without cutting the data of a file that lives on under another name. */
    if (!ci->orphan) {
        rc = inode_stat(c, ci, &now);
        if (rc < 0)
            return rc;
        attr.size = now.size;
    }
    if (inode_size(ci) > attr.size)
        attr.size = inode_size(ci);
    rc = inode_truncate_at(c, ci, &attr, size, NULL);
    return rc < 0 ? inode_gone(ci, rc) : 0;
}

/* Last close of an orphan: drop its record on the owner and free its data. */
static int inode_release(struct client *c, struct client_inode *ci)
{
    struct rpc_call call;
    uint64_t size = inode_size(ci);
    int rc;

    inode_call(&call, PROTO_OP_RELEASE, ci);
    call.req.ino_req.flags = PROTO_INO_ORPHAN;
    rc = rpc_run_one(c, &call);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    if (rc == 0 && call.rep.attr_rep.attr.size > size)
        size = call.rep.attr_rep.attr.size;
    /* Gone for good: every chunk on every server, and late writes refused. */
    (void)size;
    rc = io_free_gone(c, ci->attr.ino, ci->attr.chunk_size, SIZE_MAX, 0);
    if (rc < 0)
        log_debug("client: chunks of released inode %llx not freed (%d)",
                  (unsigned long long)ci->attr.ino, rc);
    return 0;
}

int inode_release_now(struct client *c, size_t owner, const struct proto_attr *attr,
                      const char *path, size_t len)
{
    struct client_inode tmp;

    memset(&tmp, 0, sizeof(tmp));
    tmp.attr = *attr;
    tmp.owner = owner;
    tmp.orphan = true;
    tmp.path = (char *)path;
    tmp.path_len = len;
    return inode_release(c, &tmp);
}

int inode_close(struct client *c, struct client_inode *ci)
{
    int rc = 0;

    if (S_ISREG(ci->attr.mode)) {
        /* The last descriptor; calls of other threads still in progress
         * hold references (refs) but no longer an open descriptor. */
        if (ci->orphan && ci->opens == 1)
            rc = inode_release(c, ci);
        else if (ci->dirty || ci->unsynced)
            rc = inode_push_size(c, ci, PROTO_SETSIZE_SYNC);
    }
    ci->opens--;
    inode_put(c, ci);
    return rc;
}

/* ---- closing descriptors (fd.c holds the table, this file their inodes) ---- */

int fd_close(struct client *c, int fd)
{
    struct client_inode *ci;

    if (fd < 0 || fd >= c->nfds || c->fds[fd] == NULL)
        return -EBADF;
    /* Like close(2): the descriptor is gone even when the push fails. */
    ci = fd_release(c, fd);
    return ci == NULL ? 0 : inode_close(c, ci);
}

int fd_close_all(struct client *c)
{
    int i, rc = 0, r;

    for (i = 0; i < c->nfds; i++) {
        if (c->fds[i] == NULL)
            continue;
        r = fd_close(c, i);
        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc;
}
