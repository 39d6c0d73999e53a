/*
 * posix.h - POSIX answers the client decides itself, as pure functions of
 * what the servers replied (tests/unit/test_client_posix.c).
 *
 * Directories are replicated on every server, so mkdir, rmdir and readdir
 * fan out, and their per-server statuses must be folded into the one errno
 * POSIX would give. Permission checks (access), open-mode checks and the
 * conversion of wire attributes to struct stat live here too.
 */
#ifndef BENCHFS_CLIENT_POSIX_H
#define BENCHFS_CLIENT_POSIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "proto/proto.h"

enum posix_mkdir_action {
    POSIX_MKDIR_DONE,        /* nothing more to do */
    POSIX_MKDIR_ROLLBACK,    /* undo (RMDIR_COMMIT) on the servers that succeeded */
    POSIX_MKDIR_CHECK_OWNER, /* STAT on the owner: a file there -> roll back */
};

/*
 * Fold the MKDIR statuses of all n servers (owner = index of the server
 * owning the entry). All 0 -> 0. Any error other than EEXIST/ENOENT wins
 * (a dead server), then ENOENT (parent missing), rolling back partial
 * successes. Only 0 and EEXIST: all EEXIST -> EEXIST; the owner said 0 -> 0
 * (other servers had the record from a concurrent mkdir); the owner said
 * EEXIST but others succeeded -> EEXIST after CHECK_OWNER (a concurrent
 * mkdir keeps its directory; a file of that name makes us roll back).
 */
int posix_mkdir_outcome(const int *st, size_t n, size_t owner, enum posix_mkdir_action *action_p);

/*
 * Fold the RMDIR_PREPARE statuses. *commit_p = true: commit on the servers
 * that said 0 (all of them, or some when the others do not have the
 * directory at all: a record left behind is cleaned up). Else abort on those
 * that said 0 and return, by priority, ENOTEMPTY > ENOTDIR > EBUSY > any
 * other error > ENOENT.
 */
int posix_rmdir_outcome(const int *st, size_t n, bool *commit_p);

/*
 * access(2) against attributes: mode F_OK or a mix of R_OK W_OK X_OK
 * (others -EINVAL). root passes R and W always, X when any x bit is set or
 * for a directory. groups: the caller's supplementary groups.
 */
int posix_access(const struct proto_attr *a, int mode, uint32_t uid, uint32_t gid,
                 const uint32_t *groups, size_t ngroups);

/* Checks of open(2) flags against an existing object: EISDIR, ENOTDIR. */
int posix_open_check(uint32_t mode, int flags);

/* struct stat from wire attributes, with the size this client sees. */
void posix_attr_to_stat(const struct proto_attr *a, uint64_t size, struct stat *st);

/*
 * utimensat's times[2] (atime, mtime; NULL: both now) as SETATTR fields:
 * UTIME_NOW sets the PROTO_SETATTR_*_NOW bit, UTIME_OMIT nothing, any other
 * the PROTO_SETATTR_ATIME / MTIME bit and the time in ns since the epoch.
 * -EINVAL for a tv_nsec outside 0..999999999 that is neither, and for a
 * time the wire cannot hold (before 1970, or past the year 2554).
 */
int posix_utimens_fields(const struct timespec *times, uint32_t *valid_p, uint64_t *atime_p,
                         uint64_t *mtime_p);

/* DT_DIR / DT_REG / DT_UNKNOWN from a mode. */
unsigned char posix_dirent_type(uint32_t mode);

/* True when path b equals a or lies below it (both normalized). */
bool posix_path_within(const char *b, size_t blen, const char *a, size_t alen);

#endif
