/*
 * mini_registry.c - see mini_registry.h.
 */
#include "mini/mini_registry.h"
#include "mini/mini_time.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How often a waiting lookup looks for the file again. */
#define REGISTRY_POLL_NS (5 * 1000 * 1000)

int mini_registry_file(const char *dir, int rank, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/server_%d.txt", dir, rank);

    return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ret = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0 && errno != EINVAL)
        ret = -errno;
    close(fd);
    return ret;
}

int mini_registry_publish(const char *dir, int rank, const char *host, uint16_t port)
{
    char path[4096], tmp[4096 + 32], line[MINI_REGISTRY_HOST_MAX + 16];
    int fd, ret, n;

    if (host == NULL || *host == '\0' || strlen(host) > MINI_REGISTRY_HOST_MAX ||
        strchr(host, '\n') != NULL)
        return -EINVAL;
    ret = mini_registry_file(dir, rank, path, sizeof(path));
    if (ret != 0)
        return ret;
    n = snprintf(tmp, sizeof(tmp), "%s/.server_%d.txt.%d.tmp", dir, rank, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    n = snprintf(line, sizeof(line), "%s:%u\n", host, (unsigned)port);

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    ret = write_all(fd, line, (size_t)n);
    if (ret != 0)
        goto err_unlink;
    if (fsync(fd) != 0) {
        ret = -errno;
        goto err_unlink;
    }
    if (close(fd) != 0) {
        fd = -1;
        ret = -errno;
        goto err_unlink;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        ret = -errno;
        goto err_unlink;
    }
    /* Make the rename itself durable; a failure here is not fatal. */
    (void)fsync_dir(dir);
    return 0;

err_unlink:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return ret;
}

int mini_registry_unpublish(const char *dir, int rank)
{
    char path[4096];
    int ret = mini_registry_file(dir, rank, path, sizeof(path));

    if (ret != 0)
        return ret;
    return unlink(path) == 0 ? 0 : -errno;
}

int mini_registry_parse(const char *text, size_t len, char *host, size_t host_size,
                        uint16_t *port_p)
{
    const char *colon = NULL;
    const char *h = text;
    size_t hlen;
    unsigned long port = 0;
    size_t i;

    /* Trailing whitespace (the newline) is allowed, nothing else is. */
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    for (i = 0; i < len; i++) {
        if (text[i] == '\0' || isspace((unsigned char)text[i]))
            return -EINVAL;
        if (text[i] == ':')
            colon = text + i;
    }
    if (colon == NULL)
        return -EINVAL;
    hlen = (size_t)(colon - text);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen > MINI_REGISTRY_HOST_MAX || hlen >= host_size)
        return -EINVAL;
    /* The port: 1..65535, decimal digits only. */
    if (colon + 1 == text + len || (size_t)(text + len - colon - 1) > 5)
        return -EINVAL;
    for (const char *p = colon + 1; p < text + len; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port == 0 || port > 65535)
        return -EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port_p = (uint16_t)port;
    return 0;
}

/* Read a whole small file. Returns its length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t n = 0;

    if (fd < 0)
        return -errno;
    while (n < size) {
        ssize_t r = read(fd, buf + n, size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = -errno;
            close(fd);
            return err;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    return (ssize_t)n;
}

int mini_registry_lookup(const char *dir, int rank, uint64_t deadline_ns, char *host,
                         size_t host_size, uint16_t *port_p)
{
    char path[4096], text[MINI_REGISTRY_HOST_MAX + 16];
    ssize_t n;
    int ret = mini_registry_file(dir, rank, path, sizeof(path));

    if (ret != 0)
        return ret;
    for (;;) {
        n = read_small(path, text, sizeof(text));
        if (n != -ENOENT)
            break;
        if (mini_now_ns() >= deadline_ns)
            return -ETIMEDOUT;
        /* Files appear by rename, so polling sees either nothing or all. */
        struct timespec ts = {0, REGISTRY_POLL_NS};
        nanosleep(&ts, NULL);
    }
    if (n < 0)
        return (int)n;
    if ((size_t)n == sizeof(text))
        return -EINVAL;
    return mini_registry_parse(text, (size_t)n, host, host_size, port_p);
}
