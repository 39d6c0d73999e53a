/*
 * path.h - BenchFS path rules (DESIGN.md §6).
 *
 * Every path the client sends is normalized here: absolute, no "//", no "."
 * or ".." components (".." never climbs above "/"), no trailing "/" except for
 * the root itself. Limits: the normalized path is at most BFS_PATH_MAX - 1
 * bytes, every component at most BFS_NAME_MAX bytes. Servers accept only
 * normalized paths (path_is_normalized) and treat them as opaque keys: no user
 * path ever reaches a host file system path.
 */
#ifndef BENCHFS_COMMON_PATH_H
#define BENCHFS_COMMON_PATH_H

#include <stdbool.h>
#include <stddef.h>

#define BFS_PATH_MAX 4096 /* bytes including the terminating NUL */
#define BFS_NAME_MAX 255  /* bytes of one component */

/*
 * Normalize `in` into `out` (capacity `outlen`, NUL-terminated).
 * Returns the length of the result, -EINVAL for a relative or empty path or an
 * embedded control character is NOT rejected (any byte but NUL and '/' is a
 * legal name byte), -ENAMETOOLONG when a component exceeds BFS_NAME_MAX or the
 * result does not fit in min(outlen, BFS_PATH_MAX). `out` is written only on
 * success.
 */
int path_normalize(const char *in, char *out, size_t outlen);

/* True when `p[0..len)` is already in normal form and within the limits. */
bool path_is_normalized(const char *p, size_t len);

/*
 * Split a normalized path into its parent length and its last component.
 * For "/a/b" the parent is "/a" (len 2) and the name "b"; for "/a" the parent
 * is "/" (len 1). For "/" returns -EINVAL (the root has no parent).
 */
int path_split(const char *p, size_t len, size_t *parent_len_p, const char **name_p);

#endif
