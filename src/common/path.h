/*
 * path.h - BenchFS path rules (docs/design.md#namespace-and-placement).
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
 * Normalize the NUL-terminated path `in` into `out` (capacity `outlen` bytes,
 * result NUL-terminated).
 * Returns the length of the result (without the NUL) on success, or
 *   -EINVAL        when `in` is NULL, empty or relative (does not start with '/');
 *   -ENAMETOOLONG  when any component of `in` exceeds BFS_NAME_MAX bytes (even
 *                  one that a later ".." removes), or the result plus its NUL
 *                  does not fit in min(outlen, BFS_PATH_MAX) bytes.
 * Control characters are NOT rejected: any byte but NUL and '/' is a legal
 * name byte. The input itself may be longer than BFS_PATH_MAX (e.g. "/a/../"
 * repeated); only the result is limited. `out` is written only on success.
 */
int path_normalize(const char *in, char *out, size_t outlen);

/*
 * True when `p[0..len)` is already in normal form and within the limits (no
 * NUL byte inside, len < BFS_PATH_MAX). Then path_normalize returns it as is.
 */
bool path_is_normalized(const char *p, size_t len);

/*
 * Split a normalized path into its parent length and its last component.
 * For "/a/b" the parent is "/a" (len 2) and the name "b"; for "/a" the parent
 * is "/" (len 1). `*name_p` points into `p` and runs to p + len. Returns 0, or
 * -EINVAL for "/" (the root has no parent) and for a path that is not
 * normalized (path_is_normalized). Outputs are written only on success.
 */
int path_split(const char *p, size_t len, size_t *parent_len_p, const char **name_p);

#endif
