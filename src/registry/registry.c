/*
 * registry.c - the registry directory on disk (docs/design.md#registry-and-cookie): directory
 * check, cluster cookie, cluster file, publishing and listing .addr files.
 *
 * Writers never let a reader see half a file: .addr and cluster files are
 * written to a dotted temp name, fsync'ed and renamed over the final name;
 * the cookie is written to a temp file and link()ed to its final name, which
 * fails with EEXIST for every creator but the first, so concurrent creators
 * all end up reading the same cookie. Readers skip dot files (temps), and
 * check every .addr file: its format (registry_entry.c), its name, its cookie
 * and, on the same host, whether its server process still exists.
 */
#include "registry/registry_int.h"

#include "common/log.h"
#include "common/ring.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int registry_path(char *out, size_t outlen, const char *dir, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", dir, name);

    return (n < 0 || (size_t)n >= outlen) ? -ENAMETOOLONG : 0;
}

/*
 * The state letter of /proc/<pid>/stat ('R', 'S', 'Z', ...), or 0 when it
 * cannot be read. The command name (field 2) is in parentheses and may hold
 * any byte, ')' included, so the state is found after the LAST ')'.
 */
static char registry_proc_state(pid_t pid)
{
    char path[64], buf[512];
    const char *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0')
        return 0;
    return p[2];
}

/*
 * Is `pid` alive on this host? EPERM means alive but someone else's. A
 * zombie (killed, not yet reaped by its parent) or a dead process ('X') is
 * not alive: it will never serve again, and a restart must not wait for
 * its parent to reap it.
 */
bool registry_pid_alive(int64_t pid)
{
    char state;

    if (pid <= 0 || pid > INT_MAX)
        return false;
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
        return false;
    state = registry_proc_state((pid_t)pid);
    return state != 'Z' && state != 'X' && state != 'x';
}

/* FNV-1a, 64 bits: stable across builds, no dependency. */
static uint64_t registry_fnv(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t registry_host_id(void)
{
    uint64_t h = 0xcbf29ce484222325ull;
    char buf[256];
    ssize_t n;
    int fd;

    /* The boot id tells a host from another with the same name, and a
     * reboot (pids start over) from the same boot. */
    fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof(buf));
        if (n > 0)
            h = registry_fnv(h, buf, (size_t)n);
        close(fd);
    }
    if (gethostname(buf, sizeof(buf) - 1) == 0) {
        buf[sizeof(buf) - 1] = '\0';
        h = registry_fnv(h, buf, strlen(buf) + 1);
    }
    /* Containers of one host share its boot id but not their pids. */
    n = readlink("/proc/self/ns/pid", buf, sizeof(buf));
    if (n > 0)
        h = registry_fnv(h, buf, (size_t)n);
    return h == 0 ? 1 : h;
}

int registry_hostname(char *out, size_t outlen)
{
    if (gethostname(out, outlen) != 0)
        return -errno;
    out[outlen - 1] = '\0';
    return 0;
}

static int registry_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int registry_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = -errno;
    close(fd);
    return rc;
}

/*
 * Read a whole regular file of at most `max` bytes into a malloc'd buffer
 * (NUL-terminated for convenience; the length excludes the NUL).
 */
int registry_read_file(const char *path, size_t max, char **buf_p, size_t *len_p, char *err,
                       size_t errlen)
{
    struct stat st;
    size_t len = 0;
    char *buf;
    int fd, rc;

    /* O_NONBLOCK: opening a FIFO planted under a registry name must not
     * block; O_NOFOLLOW: a symlink is refused (ELOOP). */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        rc = -errno;
        if (rc == -ELOOP)
            registry_err(err, errlen, "registry %s: is a symbolic link (refused)", path);
        else
            registry_err(err, errlen, "registry %s: cannot open: %s%s", path, strerror(-rc),
                         rc == -EACCES ? " (owned by another user?)" : "");
        return rc == -ELOOP ? -EINVAL : rc;
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        registry_err(err, errlen, "registry %s: cannot stat: %s", path, strerror(-rc));
        goto err_close;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        registry_err(err, errlen, "registry %s: not a regular file (remove it)", path);
        goto err_close;
    }
    if ((uint64_t)st.st_size > max) {
        rc = -EFBIG;
        registry_err(err, errlen, "registry %s: file too large (%jd bytes, at most %zu)", path,
                     (intmax_t)st.st_size, max);
        goto err_close;
    }
    buf = malloc(max + 2);
    if (buf == NULL) {
        rc = -ENOMEM;
        registry_err(err, errlen, "registry %s: out of memory", path);
        goto err_close;
    }
    /* Read up to max + 1 bytes: a file that grew since fstat is caught too. */
    while (len < max + 1) {
        ssize_t n = read(fd, buf + len, max + 1 - len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            registry_err(err, errlen, "registry %s: read error: %s", path, strerror(-rc));
            goto err_free;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        rc = -EFBIG;
        registry_err(err, errlen, "registry %s: file too large (more than %zu bytes)", path, max);
        goto err_free;
    }
    close(fd);
    buf[len] = '\0';
    *buf_p = buf;
    *len_p = len;
    return 0;

err_free:
    free(buf);
err_close:
    close(fd);
    return rc;
}

/*
 * Write `len` bytes to <dir>/<tmp_name>, fsync, chmod 0600, rename to
 * <dir>/<name> and fsync the directory.
 */
int registry_write_atomic(const char *dir, const char *name, const char *buf, size_t len, char *err,
                          size_t errlen)
{
    char tmp[PATH_MAX], final[PATH_MAX], tmp_name[NAME_MAX + 1];
    int fd, rc;

    snprintf(tmp_name, sizeof(tmp_name), ".%s.tmp.%ld", name, (long)getpid());
    if (registry_path(tmp, sizeof(tmp), dir, tmp_name) != 0 ||
        registry_path(final, sizeof(final), dir, name) != 0) {
        registry_err(err, errlen, "registry %s: path too long", dir);
        return -ENAMETOOLONG;
    }
    /* A leftover (or planted: FIFO, symlink) temp is removed first, and
     * O_EXCL makes sure the file written is a new regular file. */
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (fd < 0) {
        rc = -errno;
        registry_err(err, errlen, "Failed to register node address: cannot create %s: %s", tmp,
                     strerror(-rc));
        return rc;
    }
    rc = registry_write_all(fd, buf, len);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (rc == 0 && fchmod(fd, 0600) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc != 0) {
        registry_err(err, errlen, "Failed to register node address: cannot write %s: %s", tmp,
                     strerror(-rc));
        goto err_unlink;
    }
    if (rename(tmp, final) != 0) {
        rc = -errno;
        registry_err(err, errlen, "Failed to register node address: cannot rename %s to %s: %s",
                     tmp, final, strerror(-rc));
        goto err_unlink;
    }
    rc = registry_fsync_dir(dir);
    if (rc != 0) {
        registry_err(err, errlen, "registry %s: cannot fsync the directory: %s", dir,
                     strerror(-rc));
        return rc;
    }
    return 0;

err_unlink:
    unlink(tmp);
    return rc;
}

int registry_dir_check(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    int rc;

    if (dir == NULL || dir[0] == '\0') {
        registry_err(err, errlen,
                     "Registry directory is not set (give a directory on a file "
                     "system all nodes share)");
        return -EINVAL;
    }
    if (stat(dir, &st) != 0) {
        rc = -errno;
        if (rc == -ENOENT) {
            registry_err(err, errlen,
                         "Registry directory does not exist: %s (create it with "
                         "mkdir -p %s on a file system all nodes share)",
                         dir, dir);
        } else {
            registry_err(err, errlen,
                         "Registry directory %s cannot be accessed: %s (check the "
                         "permissions of its parent directories)",
                         dir, strerror(-rc));
        }
        return rc;
    }
    if (!S_ISDIR(st.st_mode)) {
        registry_err(err, errlen,
                     "Registry directory %s is not a directory (point the registry "
                     "at a directory on a file system all nodes share)",
                     dir);
        return -ENOTDIR;
    }
    if (access(dir, R_OK | W_OK | X_OK) != 0) {
        rc = -errno;
        registry_err(err, errlen,
                     "Registry directory %s is not writable: %s (check its "
                     "owner and mode, e.g. ls -ld %s)",
                     dir, strerror(-rc), dir);
        return rc;
    }
    return 0;
}

int registry_cookie_read(const char *dir, uint8_t cookie[REGISTRY_COOKIE_LEN], char *err,
                         size_t errlen)
{
    char path[PATH_MAX];
    char *buf;
    size_t len;
    int rc;

    if (registry_path(path, sizeof(path), dir, REGISTRY_COOKIE_FILE) != 0) {
        registry_err(err, errlen, "registry %s: path too long", dir);
        return -ENAMETOOLONG;
    }
    rc = registry_read_file(path, REGISTRY_SMALL_MAX, &buf, &len, err, errlen);
    if (rc != 0)
        return rc;
    if (len != 2 * REGISTRY_COOKIE_LEN + 1 || buf[len - 1] != '\n' ||
        registry_hex_decode(buf, 2 * REGISTRY_COOKIE_LEN, cookie, REGISTRY_COOKIE_LEN) != 0) {
        registry_err(err, errlen,
                     "registry %s:1: bad cookie (expected %d hex digits and a "
                     "newline; remove the file if it is left over from an earlier run)",
                     path, 2 * REGISTRY_COOKIE_LEN);
        rc = -EINVAL;
    }
    free(buf);
    return rc;
}

static int registry_random(void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int registry_cookie_get_or_create(const char *dir, uint8_t cookie[REGISTRY_COOKIE_LEN], char *err,
                                  size_t errlen)
{
    uint8_t mine[REGISTRY_COOKIE_LEN], tag[4];
    char text[2 * REGISTRY_COOKIE_LEN + 2], tag_hex[9];
    char tmp[PATH_MAX], final[PATH_MAX], tmp_name[NAME_MAX + 1];
    int fd, rc;

    rc = registry_cookie_read(dir, cookie, err, errlen);
    if (rc != -ENOENT)
        return rc;

    rc = registry_random(mine, sizeof(mine));
    if (rc == 0)
        rc = registry_random(tag, sizeof(tag));
    if (rc != 0) {
        registry_err(err, errlen, "registry: getrandom failed: %s", strerror(-rc));
        return rc;
    }
    registry_hex_encode(mine, sizeof(mine), text);
    text[2 * REGISTRY_COOKIE_LEN] = '\n';
    text[2 * REGISTRY_COOKIE_LEN + 1] = '\0';
    registry_hex_encode(tag, sizeof(tag), tag_hex);
    /* pid + random tag: unique even across hosts sharing the directory. */
    snprintf(tmp_name, sizeof(tmp_name), "." REGISTRY_COOKIE_FILE ".tmp.%ld.%s", (long)getpid(),
             tag_hex);
    if (registry_path(tmp, sizeof(tmp), dir, tmp_name) != 0 ||
        registry_path(final, sizeof(final), dir, REGISTRY_COOKIE_FILE) != 0) {
        registry_err(err, errlen, "registry %s: path too long", dir);
        return -ENAMETOOLONG;
    }

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = -errno;
        registry_err(err, errlen, "registry: cannot create %s: %s", tmp, strerror(-rc));
        return rc;
    }
    rc = registry_write_all(fd, text, 2 * REGISTRY_COOKIE_LEN + 1);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (rc == 0 && fchmod(fd, 0600) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc != 0) {
        registry_err(err, errlen, "registry: cannot write %s: %s", tmp, strerror(-rc));
        goto out_unlink;
    }
    /*
     * link() publishes the complete file under the final name, or fails with
     * EEXIST when another creator won the race; either way the file that is
     * there now is the cluster's cookie.
     */
    if (link(tmp, final) != 0 && errno != EEXIST) {
        rc = -errno;
        registry_err(err, errlen,
                     "registry: cannot create %s: link: %s (the registry's file "
                     "system must support hard links)",
                     final, strerror(-rc));
        goto out_unlink;
    }
    unlink(tmp);
    rc = registry_fsync_dir(dir);
    if (rc != 0) {
        registry_err(err, errlen, "registry %s: cannot fsync the directory: %s", dir,
                     strerror(-rc));
        return rc;
    }
    return registry_cookie_read(dir, cookie, err, errlen);

out_unlink:
    unlink(tmp);
    return rc;
}

int registry_entry_read(const char *path, struct registry_entry *entry_p, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    int rc;

    rc = registry_read_file(path, REGISTRY_FILE_MAX, &buf, &len, err, errlen);
    if (rc != 0)
        return rc;
    rc = registry_entry_parse(path, buf, len, entry_p, err, errlen);
    free(buf);
    return rc;
}

int registry_publish(const char *dir, const struct registry_entry *entry, char *err, size_t errlen)
{
    char path[PATH_MAX], name[REGISTRY_NODE_ID_MAX + sizeof(REGISTRY_SUFFIX)];
    char host[256], old_err[512];
    struct registry_entry old;
    size_t len;
    char *text;
    int rc;

    rc = registry_entry_check(entry, err, errlen);
    if (rc != 0)
        return rc;
    snprintf(name, sizeof(name), "%s" REGISTRY_SUFFIX, entry->node_id);
    if (registry_path(path, sizeof(path), dir, name) != 0) {
        registry_err(err, errlen, "registry %s: path too long", dir);
        return -ENAMETOOLONG;
    }
    if (registry_hostname(host, sizeof(host)) != 0)
        host[0] = '\0';

    /* Someone else's file under our name: refuse if alive, else replace. */
    rc = registry_entry_read(path, &old, old_err, sizeof(old_err));
    if (rc == 0) {
        bool same_host = strcmp(old.host, host) == 0;

        if (same_host && old.pid != (int64_t)getpid() && registry_pid_alive(old.pid)) {
            registry_err(err, errlen,
                         "Failed to register node address: node id %s is already "
                         "served by pid %" PRId64 " on this host (%s); stop that server or "
                         "choose another node id",
                         entry->node_id, old.pid, path);
            registry_entry_cleanup(&old);
            return -EEXIST;
        }
        if (!same_host)
            log_warn("registry: replacing %s (written by pid %" PRId64 " on host %s, which "
                     "cannot be checked from here)",
                     path, old.pid, old.host);
        else if (old.pid != (int64_t)getpid())
            log_warn("registry: replacing stale %s (pid %" PRId64 " is not running)", path,
                     old.pid);
        registry_entry_cleanup(&old);
    } else if (rc != -ENOENT) {
        log_warn("registry: replacing unreadable file: %s", old_err);
    }

    text = registry_entry_format(entry, &len);
    if (text == NULL) {
        registry_err(err, errlen, "registry: out of memory formatting %s", path);
        return -ENOMEM;
    }
    rc = registry_write_atomic(dir, name, text, len, err, errlen);
    free(text);
    return rc;
}

int registry_unpublish(const char *dir, const char *node_id)
{
    char path[PATH_MAX], name[REGISTRY_NODE_ID_MAX + sizeof(REGISTRY_SUFFIX)];
    char host[256], err[512];
    struct registry_entry e;
    bool ours;
    int rc;

    if (!registry_node_id_valid(node_id))
        return -EINVAL;
    snprintf(name, sizeof(name), "%s" REGISTRY_SUFFIX, node_id);
    if (registry_path(path, sizeof(path), dir, name) != 0)
        return -ENAMETOOLONG;
    rc = registry_entry_read(path, &e, err, sizeof(err));
    if (rc != 0)
        return rc;
    if (registry_hostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    ours = e.pid == (int64_t)getpid() && strcmp(e.host, host) == 0;
    registry_entry_cleanup(&e);
    if (!ours)
        return -EPERM;
    if (unlink(path) != 0)
        return -errno;
    registry_fsync_dir(dir);
    return 0;
}

int registry_reset(const char *dir, unsigned servers, char *err, size_t errlen)
{
    uint8_t cookie[REGISTRY_COOKIE_LEN];
    char path[PATH_MAX];
    struct dirent *de;
    DIR *d;
    int rc;

    rc = registry_dir_check(dir, err, errlen);
    if (rc < 0)
        return rc;
    d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "cannot list registry directory %s: %s", dir, strerror(errno));
        return -errno;
    }
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);

        if (n > 5 && strcmp(de->d_name + n - 5, ".addr") == 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
        }
    }
    closedir(d);
    snprintf(path, sizeof(path), "%s/cookie", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/cluster", dir);
    unlink(path);
    rc = registry_cookie_get_or_create(dir, cookie, err, errlen);
    if (rc == 0 && servers > 0)
        rc = registry_cluster_write(dir, servers, err, errlen);
    return rc;
}

int registry_cluster_write(const char *dir, unsigned servers, char *err, size_t errlen)
{
    char text[64];
    int n;

    if (servers == 0 || servers > REGISTRY_SERVERS_MAX) {
        registry_err(err, errlen, "registry: bad server count %u (expected 1..%u)", servers,
                     REGISTRY_SERVERS_MAX);
        return -EINVAL;
    }
    n = snprintf(text, sizeof(text), REGISTRY_CLUSTER_MAGIC " 1\nservers=%u\n", servers);
    return registry_write_atomic(dir, REGISTRY_CLUSTER_FILE, text, (size_t)n, err, errlen);
}

int registry_cluster_read(const char *dir, unsigned *servers_p, char *err, size_t errlen)
{
    static const char head[] = REGISTRY_CLUSTER_MAGIC " 1\nservers=";
    char path[PATH_MAX];
    uint64_t n = 0;
    size_t len;
    char *buf;
    int rc;

    if (registry_path(path, sizeof(path), dir, REGISTRY_CLUSTER_FILE) != 0) {
        registry_err(err, errlen, "registry %s: path too long", dir);
        return -ENAMETOOLONG;
    }
    rc = registry_read_file(path, REGISTRY_SMALL_MAX, &buf, &len, err, errlen);
    if (rc != 0)
        return rc;
    if (len < sizeof(head) || memcmp(buf, head, sizeof(head) - 1) != 0) {
        registry_err(err, errlen,
                     "registry %s:1: not a BenchFS cluster file (expected '" REGISTRY_CLUSTER_MAGIC
                     " 1' and servers=N)",
                     path);
        rc = -EINVAL;
    } else if (buf[len - 1] != '\n' ||
               registry_parse_u64(buf + sizeof(head) - 1, len - sizeof(head), &n) != 0 || n == 0 ||
               n > REGISTRY_SERVERS_MAX) {
        registry_err(err, errlen,
                     "registry %s:2: bad servers (expected servers=N, N from 1 to "
                     "%u, and a newline)",
                     path, REGISTRY_SERVERS_MAX);
        rc = -EINVAL;
    } else {
        *servers_p = (unsigned)n;
    }
    free(buf);
    return rc;
}

static int registry_entry_cmp(const void *a, const void *b)
{
    const struct registry_entry *x = a, *y = b;

    return ring_node_id_cmp(x->node_id, y->node_id);
}

/* Is d_name "<valid node id>.addr"? Copies the node id out. */
static bool registry_addr_name(const char *d_name, char node_id[REGISTRY_NODE_ID_MAX + 1])
{
    size_t n = strlen(d_name), s = sizeof(REGISTRY_SUFFIX) - 1;

    if (d_name[0] == '.' || n <= s || strcmp(d_name + n - s, REGISTRY_SUFFIX) != 0)
        return false;
    if (n - s > REGISTRY_NODE_ID_MAX)
        return false;
    memcpy(node_id, d_name, n - s);
    node_id[n - s] = '\0';
    return registry_node_id_valid(node_id);
}

/* Validate one parsed entry against its file name, the cookie and liveness. */
static int registry_entry_verify(const char *path, const char *file_node_id,
                                 const struct registry_entry *e, const uint8_t *cookie,
                                 const char *host, char *err, size_t errlen)
{
    if (strcmp(e->node_id, file_node_id) != 0) {
        registry_err(err, errlen,
                     "registry %s: node_id=%s does not match the file name "
                     "(expected %s)",
                     path, e->node_id, file_node_id);
        return -EINVAL;
    }
    if (memcmp(e->cookie, cookie, REGISTRY_COOKIE_LEN) != 0) {
        registry_err(err, errlen,
                     "registry file %s belongs to another cluster (cookie differs) "
                     "— left over from an earlier run? remove it",
                     path);
        return -EACCES;
    }
    if (strcmp(e->host, host) == 0 && !registry_pid_alive(e->pid)) {
        registry_err(err, errlen,
                     "stale registry file %s: server pid %" PRId64 " is not "
                     "running on this host",
                     path, e->pid);
        return -ESRCH;
    }
    return 0;
}

int registry_list(const char *dir, struct registry_entry **entries_p, size_t *count_p, char *err,
                  size_t errlen)
{
    uint8_t cookie[REGISTRY_COOKIE_LEN];
    struct registry_entry *v = NULL;
    size_t n = 0, cap = 0;
    char host[256], path[PATH_MAX], node_id[REGISTRY_NODE_ID_MAX + 1];
    bool have_cookie;
    struct dirent *d;
    DIR *dp;
    int rc;

    rc = registry_cookie_read(dir, cookie, err, errlen);
    if (rc != 0 && rc != -ENOENT)
        return rc;
    have_cookie = rc == 0;
    if (registry_hostname(host, sizeof(host)) != 0)
        host[0] = '\0';

    dp = opendir(dir);
    if (dp == NULL) {
        rc = -errno;
        registry_err(err, errlen, "registry %s: cannot list: %s", dir, strerror(-rc));
        return rc;
    }
    for (;;) {
        struct registry_entry e;

        errno = 0;
        d = readdir(dp);
        if (d == NULL) {
            if (errno != 0) {
                rc = -errno;
                registry_err(err, errlen, "registry %s: cannot list: %s", dir, strerror(-rc));
                goto err_free;
            }
            break;
        }
        /* Dot files (temps, . and ..) and other names are not entries. */
        if (!registry_addr_name(d->d_name, node_id))
            continue;
        if (!have_cookie) {
            registry_err(err, errlen,
                         "registry %s: server file %s exists but the cookie file "
                         "does not (left over from an earlier run? remove it)",
                         dir, d->d_name);
            rc = -ENOENT;
            goto err_free;
        }
        if (registry_path(path, sizeof(path), dir, d->d_name) != 0) {
            registry_err(err, errlen, "registry %s: path too long", dir);
            rc = -ENAMETOOLONG;
            goto err_free;
        }
        rc = registry_entry_read(path, &e, err, errlen);
        if (rc == -ENOENT)
            continue; /* unpublished between readdir and open */
        if (rc != 0)
            goto err_free;
        rc = registry_entry_verify(path, node_id, &e, cookie, host, err, errlen);
        if (rc != 0) {
            registry_entry_cleanup(&e);
            goto err_free;
        }
        if (n == cap) {
            size_t ncap = cap != 0 ? 2 * cap : 16;
            struct registry_entry *nv = realloc(v, ncap * sizeof(*nv));

            if (nv == NULL) {
                registry_entry_cleanup(&e);
                registry_err(err, errlen, "registry %s: out of memory", dir);
                rc = -ENOMEM;
                goto err_free;
            }
            v = nv;
            cap = ncap;
        }
        v[n++] = e;
    }
    closedir(dp);
    if (n > 1)
        qsort(v, n, sizeof(*v), registry_entry_cmp);
    if (n == 0) {
        free(v);
        v = NULL;
    }
    *entries_p = v;
    *count_p = n;
    return 0;

err_free:
    closedir(dp);
    registry_entries_free(v, n);
    return rc;
}
