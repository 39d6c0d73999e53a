/*
 * test_registry.c - unit test of the registry files: atomic publish (no
 * temporary left behind), lookup, parsing of good and corrupt contents,
 * unpublish, and the bounded wait for a file that never appears.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mini/mini_registry.h"
#include "mini/mini_time.h"
#include "mini_test.h"

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    MT_CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static void check_parse(const char *text, int ok, const char *host, unsigned port)
{
    char h[MINI_REGISTRY_HOST_MAX + 1];
    uint16_t p = 0;
    int ret = mini_registry_parse(text, strlen(text), h, sizeof(h), &p);

    if (!ok) {
        if (ret != -EINVAL)
            fprintf(stderr, "parse('%s') accepted\n", text);
        MT_CHECK_EQ(ret, -EINVAL);
        return;
    }
    if (ret != 0)
        fprintf(stderr, "parse('%s') rejected\n", text);
    MT_CHECK_EQ(ret, 0);
    MT_CHECK(strcmp(h, host) == 0);
    MT_CHECK_EQ(p, port);
}

int main(void)
{
    const char *dir = mt_setup("mini_registry");
    char host[MINI_REGISTRY_HOST_MAX + 1], path[512];
    uint16_t port;
    uint64_t t0;
    int fd;

    check_parse("server1:1234\n", 1, "server1", 1234);
    check_parse("127.0.0.1:65535", 1, "127.0.0.1", 65535);
    check_parse("[::1]:80\n\n", 1, "::1", 80);
    check_parse("h:1", 1, "h", 1);
    check_parse("", 0, NULL, 0);
    check_parse("nohost", 0, NULL, 0);
    check_parse(":80", 0, NULL, 0);
    check_parse("h:", 0, NULL, 0);
    check_parse("h:0", 0, NULL, 0);
    check_parse("h:65536", 0, NULL, 0);
    check_parse("h:123456", 0, NULL, 0);
    check_parse("h:12a", 0, NULL, 0);
    check_parse("h h:12", 0, NULL, 0);
    check_parse("h:-1", 0, NULL, 0);

    MT_CHECK_EQ(mini_registry_publish(dir, 3, "node-a", 4242), 0);
    MT_CHECK_EQ(count_entries(dir), 1); /* no temporary file left */
    MT_CHECK_EQ(mini_registry_lookup(dir, 3, 0, host, sizeof(host), &port), 0);
    MT_CHECK(strcmp(host, "node-a") == 0);
    MT_CHECK_EQ(port, 4242);
    /* Republishing replaces the contents atomically. */
    MT_CHECK_EQ(mini_registry_publish(dir, 3, "node-b", 7), 0);
    MT_CHECK_EQ(mini_registry_lookup(dir, 3, 0, host, sizeof(host), &port), 0);
    MT_CHECK(strcmp(host, "node-b") == 0 && port == 7);
    MT_CHECK_EQ(mini_registry_publish(dir, 4, "", 7), -EINVAL);
    MT_CHECK_EQ(mini_registry_publish(dir, 4, "a\nb", 7), -EINVAL);

    /* A corrupt file is an error, not a wait. */
    snprintf(path, sizeof(path), "%s/server_5.txt", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    MT_CHECK(fd >= 0);
    MT_CHECK_EQ(write(fd, "garbage", 7), 7);
    close(fd);
    MT_CHECK_EQ(mini_registry_lookup(dir, 5, 0, host, sizeof(host), &port), -EINVAL);

    /* A missing file: -ETIMEDOUT after the deadline, not before. */
    t0 = mini_now_ns();
    MT_CHECK_EQ(mini_registry_lookup(dir, 9, t0 + 50 * 1000000ULL, host, sizeof(host), &port),
                -ETIMEDOUT);
    MT_CHECK(mini_now_ns() - t0 >= 50 * 1000000ULL);

    MT_CHECK_EQ(mini_registry_unpublish(dir, 3), 0);
    MT_CHECK_EQ(mini_registry_unpublish(dir, 3), -ENOENT);
    MT_CHECK_EQ(mini_registry_lookup(dir, 3, 0, host, sizeof(host), &port), -ETIMEDOUT);
    mt_pass();
}
