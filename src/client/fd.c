/*
 * fd.c - the descriptor table and what this client knows about file sizes.
 *
 * Descriptors index a growing array; freed slots form a free list so the
 * lowest numbers are not necessarily reused first, but numbers stay small.
 *
 * Sizes are close-to-open consistent (docs/design.md#namespace-and-placement): the owner's inode
 * holds the authoritative size; a descriptor remembers the size it learned
 * at open and the furthest byte it wrote (its extent), and pushes the extent
 * at fsync/close. Until then this client's own view of a file is the maximum
 * over what it learned and what any of its descriptors of that inode wrote.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"

#define FD_TABLE_MIN 64
#define FD_TABLE_MAX (1 << 20)

static int fd_grow(struct client *c)
{
    int n = c->nfds == 0 ? FD_TABLE_MIN : c->nfds * 2, i;
    struct client_fd *fds;

    if (c->nfds >= FD_TABLE_MAX)
        return -EMFILE;
    fds = realloc(c->fds, (size_t)n * sizeof(*fds));
    if (fds == NULL)
        return -ENOMEM;
    memset(fds + c->nfds, 0, (size_t)(n - c->nfds) * sizeof(*fds));
    /* Push new slots so that the lowest new number comes out first. */
    for (i = n - 1; i >= c->nfds; i--) {
        fds[i].next_free = c->free_fd;
        c->free_fd = i;
    }
    c->fds = fds;
    c->nfds = n;
    return 0;
}

int fd_alloc(struct client *c, struct client_fd **fd_p)
{
    struct client_fd *f;
    int fd, rc;

    if (c->free_fd < 0) {
        rc = fd_grow(c);
        if (rc < 0)
            return rc;
    }
    fd = c->free_fd;
    f = &c->fds[fd];
    c->free_fd = f->next_free;
    memset(f, 0, sizeof(*f));
    f->used = true;
    f->next_free = -1;
    *fd_p = f;
    return fd;
}

struct client_fd *fd_get(struct client *c, int fd)
{
    if (fd < 0 || fd >= c->nfds || !c->fds[fd].used)
        return NULL;
    return &c->fds[fd];
}

void fd_release(struct client *c, int fd)
{
    struct client_fd *f = fd_get(c, fd);

    if (f == NULL)
        return;
    free(f->path);
    memset(f, 0, sizeof(*f));
    f->next_free = c->free_fd;
    c->free_fd = fd;
}

uint64_t fd_ino_extent(const struct client *c, uint64_t ino)
{
    uint64_t ext = 0;
    int i;

    for (i = 0; i < c->nfds; i++) {
        const struct client_fd *f = &c->fds[i];

        if (f->used && !f->is_dir && f->attr.ino == ino && f->extent > ext)
            ext = f->extent;
    }
    return ext;
}

uint64_t fd_visible_size(const struct client *c, const struct client_fd *f)
{
    uint64_t ext = fd_ino_extent(c, f->attr.ino);

    return ext > f->attr.size ? ext : f->attr.size;
}

void fd_ino_truncated(struct client *c, uint64_t ino, uint64_t size)
{
    int i;

    for (i = 0; i < c->nfds; i++) {
        struct client_fd *f = &c->fds[i];

        if (!f->used || f->is_dir || f->attr.ino != ino)
            continue;
        f->attr.size = size;
        if (f->extent > size)
            f->extent = size;
    }
}

int fd_ino_renamed(struct client *c, uint64_t ino, const char *path, size_t len)
{
    int i, rc = 0;

    for (i = 0; i < c->nfds; i++) {
        struct client_fd *f = &c->fds[i];
        char *p;

        if (!f->used || f->attr.ino != ino)
            continue;
        p = malloc(len + 1);
        if (p == NULL) {
            rc = -ENOMEM;
            continue;
        }
        memcpy(p, path, len);
        p[len] = '\0';
        free(f->path);
        f->path = p;
        f->path_len = len;
    }
    return rc;
}

int fd_close_all(struct client *c)
{
    int i, rc = 0, r;

    for (i = 0; i < c->nfds; i++) {
        struct client_fd *f = &c->fds[i];

        if (!f->used)
            continue;
        if (f->dirty) {
            r = ns_push_size(c, f, PROTO_SETSIZE_SYNC);
            if (r < 0 && rc == 0)
                rc = r;
        }
        fd_release(c, i);
    }
    return rc;
}
