/*
 * registry_int.h - helpers shared by the registry's files, private to
 * src/registry: registry_entry.c (pure parsing and formatting, fuzzed),
 * registry.c (file I/O: cookie, cluster file, publish, list) and
 * registry_wait.c (waiting for the server set to be complete).
 */
#ifndef BENCHFS_REGISTRY_REGISTRY_INT_H
#define BENCHFS_REGISTRY_REGISTRY_INT_H

#include "registry/registry.h"

#define REGISTRY_MAGIC         "BENCHFS-REGISTRY"
#define REGISTRY_VERSION       1
#define REGISTRY_CLUSTER_MAGIC "BENCHFS-CLUSTER"
#define REGISTRY_SUFFIX        ".addr"
#define REGISTRY_COOKIE_FILE   "cookie"
#define REGISTRY_CLUSTER_FILE  "cluster"
#define REGISTRY_SMALL_MAX     4096         /* cookie and cluster files */
#define REGISTRY_MAX_XFER_MAX  (1ull << 40) /* 1 TiB */
#define REGISTRY_SERVERS_MAX   (1u << 20)

/* snprintf into err (when err != NULL and errlen > 0). */
void registry_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "<dir>/<name>" into out; -ENAMETOOLONG when it does not fit. */
int registry_path(char *out, size_t outlen, const char *dir, const char *name);

/* Decimal digits only (no sign, no spaces, 1..20 digits), no overflow. */
int registry_parse_u64(const char *s, size_t len, uint64_t *v_p);

/* Host names in files: 1..255 bytes of printable ASCII without spaces. */
bool registry_host_valid(const char *s, size_t len);

/* gethostname(), always NUL-terminated. 0 or -errno. */
int registry_hostname(char *out, size_t outlen);

/*
 * Read a regular file of at most `max` bytes into a malloc'd buffer (with a
 * NUL after the last byte; *len_p excludes it). -errno with a message.
 */
int registry_read_file(const char *path, size_t max, char **buf_p, size_t *len_p, char *err,
                       size_t errlen);

/*
 * Write buf to <dir>/.<name>.tmp.<pid>, fsync, chmod 0600, rename to
 * <dir>/<name>, fsync the directory. -errno with a message.
 */
int registry_write_atomic(const char *dir, const char *name, const char *buf, size_t len, char *err,
                          size_t errlen);

/* Check an entry before publishing it. -EINVAL with a message. */
int registry_entry_check(const struct registry_entry *e, char *err, size_t errlen);

/* Format an entry as file text; malloc'd and NUL-terminated, NULL on ENOMEM. */
char *registry_entry_format(const struct registry_entry *e, size_t *len_p);

#endif
