/*
 * fd.c - the descriptor table and what this client knows about file sizes.
 *
 * Descriptors index a growing array of pointers; freed numbers form a free
 * list so the lowest numbers are not necessarily reused first, but numbers
 * stay small. Each `struct client_fd` is allocated on its own and counted:
 * the table holds one reference, and fd_get() pins another for the calling
 * public call until client_leave() (client.h, "Client threading"). A close
 * by another thread while this one waits unlocked for a reply only takes the
 * descriptor out of the table; the memory (and its path) stays valid until
 * the last pin is dropped.
 *
 * Sizes follow close-to-open consistency (DESIGN.md §6): the owner's inode
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
    struct client_fd **fds;
    int *next;

    if (c->nfds >= FD_TABLE_MAX)
        return -EMFILE;
    fds = realloc(c->fds, (size_t)n * sizeof(*fds));
    if (fds == NULL)
        return -ENOMEM;
    c->fds = fds;
    next = realloc(c->fd_next_free, (size_t)n * sizeof(*next));
    if (next == NULL)
        return -ENOMEM; /* the larger fds array is kept; nfds is unchanged */
    c->fd_next_free = next;
    memset(fds + c->nfds, 0, (size_t)(n - c->nfds) * sizeof(*fds));
    /* Push new slots so that the lowest new number comes out first. */
    for (i = n - 1; i >= c->nfds; i--) {
        next[i] = c->free_fd;
        c->free_fd = i;
    }
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
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    fd = c->free_fd;
    c->free_fd = c->fd_next_free[fd];
    f->used = true;
    f->refs = 1; /* the table's */
    c->fds[fd] = f;
    /* The caller uses it until client_leave, like a descriptor from fd_get. */
    if (client_pin(f) < 0) {
        fd_release(c, fd);
        return -ENOMEM;
    }
    *fd_p = f;
    return fd;
}

struct client_fd *fd_get(struct client *c, int fd)
{
    struct client_fd *f;

    if (fd < 0 || fd >= c->nfds || c->fds[fd] == NULL)
        return NULL;
    f = c->fds[fd];
    if (client_pin(f) < 0)
        return NULL;
    return f;
}

void fd_unref(struct client_fd *f)
{
    size_t i;

    if (--f->refs > 0)
        return;
    for (i = 0; i < f->nretired; i++)
        free(f->retired[i]);
    free(f->retired);
    free(f->path);
    free(f);
}

void fd_release(struct client *c, int fd)
{
    struct client_fd *f;

    if (fd < 0 || fd >= c->nfds || c->fds[fd] == NULL)
        return;
    f = c->fds[fd];
    c->fds[fd] = NULL;
    c->fd_next_free[fd] = c->free_fd;
    c->free_fd = fd;
    f->used = false;
    fd_unref(f);
}

uint64_t fd_ino_extent(const struct client *c, uint64_t ino)
{
    uint64_t ext = 0;
    int i;

    for (i = 0; i < c->nfds; i++) {
        const struct client_fd *f = c->fds[i];

        if (f != NULL && !f->is_dir && f->attr.ino == ino && f->extent > ext)
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
        struct client_fd *f = c->fds[i];

        if (f == NULL || f->is_dir || f->attr.ino != ino)
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
        struct client_fd *f = c->fds[i];
        char *p, **r;

        if (f == NULL || f->attr.ino != ino)
            continue;
        p = malloc(len + 1);
        r = realloc(f->retired, (f->nretired + 1) * sizeof(*r));
        if (r != NULL)
            f->retired = r;
        if (p == NULL || r == NULL) {
            free(p);
            rc = -ENOMEM;
            continue;
        }
        memcpy(p, path, len);
        p[len] = '\0';
        /* Another thread's request in flight may still send the old path
         * (its wait is unlocked): free it with the descriptor. */
        f->retired[f->nretired++] = f->path;
        f->path = p;
        f->path_len = len;
    }
    return rc;
}

int fd_close_all(struct client *c)
{
    int i, rc = 0, r;

    for (i = 0; i < c->nfds; i++) {
        struct client_fd *f = c->fds[i];

        if (f == NULL)
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
