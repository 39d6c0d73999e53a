/*
 * error.c - errno and the thread-local last-error message (error.h).
 *
 * errno is assigned in exactly one function, error_finish(). Messages are
 * thread-local: benchfs_last_error() of a thread describes that thread's
 * last failed call, whatever other threads do.
 */
#include "client/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "benchfs.h"

static __thread char error_pending[ERROR_MSG_MAX];
static __thread bool error_pending_set;
/* "<what> <path>: <detail>": room for all three at their longest. */
#define ERROR_LAST_MAX (64 + 4096 + ERROR_MSG_MAX + 8)
static __thread char error_last[ERROR_LAST_MAX];

void error_begin(void)
{
    error_pending_set = false;
    error_pending[0] = '\0';
}

void error_msg(const char *fmt, ...)
{
    va_list ap;

    if (error_pending_set)
        return;
    va_start(ap, fmt);
    vsnprintf(error_pending, sizeof(error_pending), fmt, ap);
    va_end(ap);
    error_pending_set = true;
}

bool error_msg_pending(void)
{
    return error_pending_set;
}

long error_finish(long rc, const char *what, const char *path, bool zero_errno)
{
    const char *detail;
    int e;

    if (rc >= 0) {
        if (zero_errno)
            errno = 0;
        return rc;
    }
    e = rc < -4095 ? EIO : (int)-rc;
    detail = error_pending_set ? error_pending : strerror(e);
    if (path != NULL)
        snprintf(error_last, sizeof(error_last), "%.63s %.4095s: %.1023s", what, path, detail);
    else
        snprintf(error_last, sizeof(error_last), "%.63s: %.1023s", what, detail);
    error_pending_set = false;
    errno = e;
    return -1;
}

int error_from_wire(int status)
{
    if (status >= 0)
        return 0;
    if (status < -4095)
        return -EIO;
    return status;
}

const char *benchfs_last_error(void)
{
    return error_last;
}
