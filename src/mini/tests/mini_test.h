/*
 * mini_test.h - helpers shared by the BenchFS Mini test programs: checks,
 * private temporary directories, and starting/stopping real benchfsd_mini
 * processes with readiness signalled by their registry file.
 *
 * Every test program tests one behaviour and exits 0 (pass), 1 (fail) or
 * 77 (skip). Tests only signal the pids they started themselves.
 */
#ifndef BENCHFS_MINI_TEST_H
#define BENCHFS_MINI_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#define MT_CHECK(cond)                                                               \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            mt_fail();                                                               \
        }                                                                            \
    } while (0)

#define MT_CHECK_EQ(a, b)                                                                         \
    do {                                                                                          \
        long long a_ = (long long)(a), b_ = (long long)(b);                                       \
        if (a_ != b_) {                                                                           \
            fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, \
                    #a, #b, a_, b_);                                                              \
            mt_fail();                                                                            \
        }                                                                                         \
    } while (0)

/* Clean up (stop started daemons, remove the temp dir) and exit 1. */
void mt_fail(void) __attribute__((noreturn));

/* Clean up and exit 0. */
void mt_pass(void) __attribute__((noreturn));

/*
 * Create a private temporary directory (removed by mt_pass/mt_fail) and set
 * the test environment: UCX_TLS=tcp,self and BENCHFS_MINI_HOST=127.0.0.1
 * unless already set. Returns the directory.
 */
const char *mt_setup(const char *name);

/* Start `daemon` --registry `dir` --rank `rank`; returns its pid. */
pid_t mt_daemon_start(const char *daemon, const char *dir, int rank);

/* Wait until dir/server_<rank>.txt exists (or the daemon died: fail). */
void mt_daemon_wait(const char *dir, int rank, pid_t pid);

/* SIGTERM the daemon and wait for it; returns its exit status (-1 if killed). */
int mt_daemon_stop(pid_t pid);

/* Forget a daemon the test reaped itself (after kill + waitpid). */
void mt_daemon_forget(pid_t pid);

/* Fill / check a deterministic pattern derived from `seed`. */
void mt_fill(void *buf, size_t len, unsigned seed);
int mt_check_fill(const void *buf, size_t len, unsigned seed);

#endif
