/*
 * fd.c - the descriptor table.
 *
 * Descriptors index a growing array of pointers; freed numbers form a free
 * list so the lowest numbers are not necessarily reused first, but numbers
 * stay small. Each `struct client_fd` is allocated on its own (freed ones
 * are kept for reuse, up to FD_SPARES_MAX) and counted:
 * the table holds one reference, and fd_get() pins another for the calling
 * public call until client_leave() (docs/architecture.md#client-threading).
 * A close by another thread while this one waits unlocked for a reply only
 * takes the descriptor out of the table; its memory stays valid until the
 * last pin is dropped.
 *
 * The pins of the current public call are this thread's (fd_pins):
 * client_leave() drops them with fd_unpin_all(). Nothing here makes a
 * request; closing a descriptor, which pushes its inode's size, is
 * inode.c's fd_close.
 *
 * A descriptor holds its position, its access mode and a reference to the
 * inode it opened (inode.c), which carries everything about the file:
 * sizes follow close-to-open consistency (docs/semantics.md), the extent is
 * pushed to the owner at fsync/close. Calls that use the inode across an
 * RPC wait take their own inode reference, so a close meanwhile never frees
 * it under them.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/error.h"

#define FD_TABLE_MIN 64
#define FD_TABLE_MAX (1 << 20)
/* Freed descriptor objects kept for reuse: an open+close costs no malloc. */
#define FD_SPARES_MAX 64

/* Descriptors pinned by this thread's current public call (fd_pin). */
static __thread struct client_fd *fd_pins[CLIENT_MAX_PINS];
static __thread unsigned fd_npins;

/*
 * Pin descriptor f for the current public call (one more reference, dropped
 * by client_leave). 0, or -ENOMEM past CLIENT_MAX_PINS pins in one call.
 */
static int fd_pin(struct client_fd *f)
{
    if (fd_npins >= CLIENT_MAX_PINS) {
        error_msg("too many descriptors in one call");
        return -ENOMEM;
    }
    f->refs++;
    fd_pins[fd_npins++] = f;
    return 0;
}

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
    f = c->spare_fds;
    if (f != NULL) {
        c->spare_fds = f->spare_next;
        c->nspare_fds--;
        memset(f, 0, sizeof(*f));
    } else {
        f = calloc(1, sizeof(*f));
        if (f == NULL)
            return -ENOMEM;
    }
    fd = c->free_fd;
    c->free_fd = c->fd_next_free[fd];
    f->used = true;
    f->refs = 1; /* the table's */
    c->fds[fd] = f;
    /* The caller uses it until client_leave, like a descriptor from fd_get. */
    if (fd_pin(f) < 0) {
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
    if (fd_pin(f) < 0)
        return NULL;
    return f;
}

void fd_unref(struct client *c, struct client_fd *f)
{
    if (--f->refs > 0)
        return;
    if (c->nspare_fds >= FD_SPARES_MAX) {
        free(f);
        return;
    }
    f->spare_next = c->spare_fds;
    c->spare_fds = f;
    c->nspare_fds++;
}

void fd_spares_free(struct client *c)
{
    struct client_fd *f;

    while ((f = c->spare_fds) != NULL) {
        c->spare_fds = f->spare_next;
        free(f);
    }
    c->nspare_fds = 0;
}

struct client_inode *fd_release(struct client *c, int fd)
{
    struct client_inode *ci;
    struct client_fd *f;

    if (fd < 0 || fd >= c->nfds || c->fds[fd] == NULL)
        return NULL;
    f = c->fds[fd];
    c->fds[fd] = NULL;
    c->fd_next_free[fd] = c->free_fd;
    c->free_fd = fd;
    f->used = false;
    /* The inode reference goes to the caller; pinned holders of f only
     * compare the pointer, which no longer names an open inode. */
    ci = f->ci;
    f->ci = NULL;
    fd_unref(c, f);
    return ci;
}

void fd_unpin_all(struct client *c)
{
    while (fd_npins > 0)
        fd_unref(c, fd_pins[--fd_npins]);
}
