/*
 * error.h - errors of the public API: the one place that sets errno, and the
 * calling thread's message for benchfs_last_error().
 *
 * Inside the library every function returns 0 / a count or -errno. Code that
 * detects a failure worth explaining (a server that did not answer, a
 * malformed reply, a registry problem) records a message with error_msg();
 * the first message of a call wins, later ones are dropped. The public entry
 * point hands its result to error_finish(), which turns -errno into
 * errno + -1 and makes the message the thread's last error.
 */
#ifndef BENCHFS_CLIENT_ERROR_H
#define BENCHFS_CLIENT_ERROR_H

#include <stdbool.h>

#define ERROR_MSG_MAX 1024

/* Start a public call: forget any message pending from an earlier call. */
void error_begin(void);

/* Record the reason of this call's failure (first one wins). */
void error_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when this call already recorded a message. */
bool error_msg_pending(void);

/*
 * Finish a public call. rc >= 0: returned unchanged (errno is set to 0 only
 * when zero_errno, for calls whose NULL/0 result needs it). rc < 0: errno =
 * -rc, the thread's last error becomes "<what> <path>: <message>" (the
 * strerror text without a recorded message), returns -1. `path` may be NULL.
 */
long error_finish(long rc, const char *what, const char *path, bool zero_errno);

/* Clamp a status received from the wire to a valid -errno (-EIO otherwise). */
int error_from_wire(int status);

#endif
