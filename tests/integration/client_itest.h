/*
 * client_itest.h - helpers shared by the client integration tests: start a
 * cluster of real benchfsd processes with the harness, connect, fork client
 * processes, and CHECK() that reports errno and benchfs_last_error().
 *
 * Conventions (like liburing's tests): exit 0 pass, 1 fail, 77 skip (no
 * benchfsd built). A failed CHECK in the parent stops the servers and
 * removes the temp tree; in a forked child it only exits 1.
 */
#ifndef BENCHFS_TESTS_CLIENT_ITEST_H
#define BENCHFS_TESTS_CLIENT_ITEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "benchfs.h"
#include "harness.h"

#define ITEST_SKIP 77

extern struct harness itest_h;

/* Abort the test: cleanup in the parent, exit(1). */
void itest_fail(void) __attribute__((noreturn));

/* Extra cleanup run by itest_fail in the parent (e.g. a local model tree). */
extern void (*itest_fail_hook)(void);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            int e_ = errno;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s (errno %d %s; last error: %s)\n", __FILE__, \
                    __LINE__, #cond, e_, strerror(e_), benchfs_last_error());                    \
            itest_fail();                                                                        \
        }                                                                                        \
    } while (0)

/* A call expected to fail with errno `err`. */
#define CHECK_ERR(call, err)                                                                     \
    do {                                                                                         \
        errno = 0;                                                                               \
        long r_ = (long)(call);                                                                  \
        if (r_ != -1 || errno != (err)) {                                                        \
            int e_ = errno;                                                                      \
            fprintf(stderr, "%s:%d: %s returned %ld errno %d (%s), expected -1 errno %d (%s)\n", \
                    __FILE__, __LINE__, #call, r_, e_, strerror(e_), (err), strerror(err));      \
            itest_fail();                                                                        \
        }                                                                                        \
    } while (0)

/*
 * Start n servers (extra benchfsd args may be NULL-terminated list or NULL)
 * and write the cluster file. Exits 77 when benchfsd is not built, 1 when a
 * server does not come up.
 */
void itest_start(int nservers, const char *const *extra_args);

/* Stop the servers and remove the tree (parent only). */
void itest_stop(void);

/* Connect with default options plus the given rpc timeout (0: default). */
void itest_connect(int rpc_timeout_ms);

/* Connect with default options but chunk size chunk_size for new files. */
void itest_connect_chunk(uint64_t chunk_size);

/* Requests all servers counted so far (STATUS counters; this call's own
 * requests included). */
uint64_t itest_server_ops(void);

/*
 * Fork n children running fn(i, arg) (each connects itself); wait for all;
 * returns the number of children that failed. Call before the parent
 * connects (UCX is not fork-safe).
 */
int itest_fork_clients(int n, int (*fn)(int idx, void *arg), void *arg);

/*
 * Fork one child running fn(arg) (it connects itself) and return its pid
 * without waiting: a client that runs beside this one. Call before the
 * parent connects; the parent waits for it itself.
 */
pid_t itest_fork_one(int (*fn)(void *arg), void *arg);

/* Milliseconds since an arbitrary start (monotonic). */
uint64_t itest_now_ms(void);

/* Deterministic pattern byte of a file offset and a salt. */
static inline unsigned char itest_pattern(uint64_t off, unsigned salt)
{
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull + salt * 0xbf58476d1ce4e5b9ull;

    x ^= x >> 29;
    return (unsigned char)(x ^ (x >> 8));
}

#endif
