/*
 * fd.c - the descriptor table.
 *
 * Descriptors index a growing array; freed slots form a free list so the
 * lowest numbers are not necessarily reused first, but numbers stay small.
 * A descriptor holds its position, its access mode and a reference to the
 * inode it opened (inode.c), which carries everything about the file:
 * sizes follow close-to-open consistency (docs/semantics.md), the extent is
 * pushed to the owner at fsync/close.
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

struct client_inode *fd_release(struct client *c, int fd)
{
    struct client_fd *f = fd_get(c, fd);
    struct client_inode *ci;

    if (f == NULL)
        return NULL;
    ci = f->ci;
    memset(f, 0, sizeof(*f));
    f->next_free = c->free_fd;
    c->free_fd = fd;
    return ci;
}

int fd_close(struct client *c, int fd)
{
    struct client_inode *ci;

    if (fd_get(c, fd) == NULL)
        return -EBADF;
    /* Like close(2): the descriptor is gone even when the push fails. */
    ci = fd_release(c, fd);
    return ci == NULL ? 0 : inode_close(c, ci);
}

int fd_close_all(struct client *c)
{
    int i, rc = 0, r;

    for (i = 0; i < c->nfds; i++) {
        if (!c->fds[i].used)
            continue;
        r = fd_close(c, i);
        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc;
}
