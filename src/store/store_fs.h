/*
 * store_fs.h - small host file system helpers shared by the metadata store
 * (meta*.c) and the chunk store (chunk*.c). Internal to src/store.
 */
#ifndef BENCHFS_STORE_STORE_FS_H
#define BENCHFS_STORE_STORE_FS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Create directory `path` and any missing parents with `mode` (like
 * mkdir -p). An existing directory is fine; an existing non-directory is
 * -ENOTDIR. Returns 0 or -errno; on error a message naming the path is left
 * in err[errlen] (err may be NULL).
 */
int store_mkdir_p(const char *path, mode_t mode, char *err, size_t errlen);

#endif
