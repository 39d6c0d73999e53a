/*
 * store_fs.c - host file system helpers of store_fs.h: `mkdir -p` for the
 * metadata and chunk directories under <data_dir>. Only the server's own
 * configured paths reach this file, never user paths (docs/design.md#storage).
 */
#include "store/store_fs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* mkdir one level; an existing directory counts as success. */
static int store_mkdir_one(const char *path, mode_t mode)
{
    struct stat st;

    if (mkdir(path, mode) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    /* EEXIST says nothing about the type: a regular file there is an error. */
    if (stat(path, &st) != 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int store_mkdir_p(const char *path, mode_t mode, char *err, size_t errlen)
{
    char buf[PATH_MAX];
    size_t len = strlen(path), i;
    int rc;

    if (len == 0 || len >= sizeof(buf)) {
        rc = len == 0 ? -EINVAL : -ENAMETOOLONG;
        goto err_msg;
    }
    memcpy(buf, path, len + 1);
    /* Create each prefix ending before a '/', then the whole path. Prefixes
     * that already exist (the usual case: /, /tmp, ...) cost one stat each. */
    for (i = 1; i < len; i++) {
        if (buf[i] != '/' || buf[i - 1] == '/')
            continue;
        buf[i] = '\0';
        rc = store_mkdir_one(buf, mode);
        buf[i] = '/';
        if (rc != 0)
            goto err_msg;
    }
    rc = store_mkdir_one(buf, mode);
    if (rc != 0)
        goto err_msg;
    return 0;

err_msg:
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "cannot create directory %s: %s", path, strerror(-rc));
    return rc;
}
