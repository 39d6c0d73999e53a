/*
 * test_roundtrip.c - a plain process (no MPI) uses the public API against a
 * real benchfsd_mini: connect to rank 0, write and read objects of many
 * sizes, overwrite, short buffers, missing paths, argument errors, a rank
 * that never registers, and finalize + init again.
 *
 *   test_roundtrip <path to benchfsd_mini>
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchfs_mini.h"
#include "mini_test.h"

int main(int argc, char **argv)
{
    static const size_t sizes[] = {0, 1, 7, 8185, 8186, 65536, 1 << 20, (8 << 20) + 3};
    const char *dir;
    char path[64], longpath[BENCHFS_MINI_MAX_PATH + 2];
    size_t max = (8 << 20) + 3;
    uint8_t *wbuf, *rbuf;
    pid_t pid;

    MT_CHECK(argc == 2);
    dir = mt_setup("mini_roundtrip");
    setenv("BENCHFS_MINI_TIMEOUT_MS", "5000", 1);
    pid = mt_daemon_start(argv[1], dir, 0);
    mt_daemon_wait(dir, 0, pid);

    wbuf = malloc(max);
    rbuf = malloc(max + 16);
    MT_CHECK(wbuf != NULL && rbuf != NULL);

    MT_CHECK_EQ(benchfs_mini_write("/x", "a", 1, 0), -EINVAL); /* before init */
    MT_CHECK(strlen(benchfs_mini_errmsg()) > 0);
    MT_CHECK_EQ(benchfs_mini_init(dir, 0), 0);
    MT_CHECK_EQ(benchfs_mini_init(dir, 0), -EALREADY);
    MT_CHECK_EQ(benchfs_mini_start_server(), -EINVAL); /* not a server */
    MT_CHECK_EQ(benchfs_mini_connect(0), 0);
    MT_CHECK_EQ(benchfs_mini_connect(0), 0); /* already connected */

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        snprintf(path, sizeof(path), "/rt/obj-%zu", sizes[i]);
        mt_fill(wbuf, sizes[i], (unsigned)i);
        MT_CHECK_EQ(benchfs_mini_write(path, wbuf, sizes[i], 0), 0);
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        snprintf(path, sizeof(path), "/rt/obj-%zu", sizes[i]);
        memset(rbuf, 0xee, max + 16);
        /* A larger buffer gets exactly the object. */
        MT_CHECK_EQ(benchfs_mini_read(path, rbuf, sizes[i] + 16, 0), sizes[i]);
        MT_CHECK(mt_check_fill(rbuf, sizes[i], (unsigned)i));
        MT_CHECK_EQ(rbuf[sizes[i]], 0xee);
    }

    /* A smaller buffer gets a prefix, and nothing past it is written. */
    mt_fill(wbuf, 1000, 42);
    MT_CHECK_EQ(benchfs_mini_write("/rt/prefix", wbuf, 1000, 0), 0);
    memset(rbuf, 0xee, 1000);
    MT_CHECK_EQ(benchfs_mini_read("/rt/prefix", rbuf, 100, 0), 100);
    MT_CHECK(mt_check_fill(rbuf, 100, 42));
    MT_CHECK_EQ(rbuf[100], 0xee);

    /* Overwrite replaces the whole object. */
    MT_CHECK_EQ(benchfs_mini_write("/rt/prefix", "short", 5, 0), 0);
    MT_CHECK_EQ(benchfs_mini_read("/rt/prefix", rbuf, 1000, 0), 5);
    MT_CHECK(memcmp(rbuf, "short", 5) == 0);

    /* Errors from the server and from local checks. */
    MT_CHECK_EQ(benchfs_mini_read("/rt/never-written", rbuf, 10, 0), -ENOENT);
    MT_CHECK_EQ(errno, ENOENT);
    MT_CHECK(strstr(benchfs_mini_errmsg(), "never-written") != NULL);
    MT_CHECK_EQ(benchfs_mini_write("", "a", 1, 0), -EINVAL);
    memset(longpath, 'l', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    MT_CHECK_EQ(benchfs_mini_write(longpath, "a", 1, 0), -ENAMETOOLONG);
    longpath[BENCHFS_MINI_MAX_PATH] = '\0'; /* exactly the maximum is fine */
    MT_CHECK_EQ(benchfs_mini_write(longpath, "a", 1, 0), 0);
    MT_CHECK_EQ(benchfs_mini_read(longpath, rbuf, 10, 0), 1);
    MT_CHECK_EQ(benchfs_mini_write("/big", wbuf, (size_t)BENCHFS_MINI_MAX_DATA + 1, 0), -EMSGSIZE);
    MT_CHECK_EQ(benchfs_mini_write("/x", NULL, 4, 0), -EFAULT);
    MT_CHECK_EQ(benchfs_mini_connect(-1), -EINVAL);

    /* The connection survived every error above. */
    MT_CHECK_EQ(benchfs_mini_read("/rt/obj-7", rbuf, 7, 0), 7);
    MT_CHECK(benchfs_mini_progress() >= 0);

    /* A rank that never registers times out with a clear message. */
    setenv("BENCHFS_MINI_TIMEOUT_MS", "200", 1);
    MT_CHECK_EQ(benchfs_mini_finalize(), 0);
    MT_CHECK_EQ(benchfs_mini_init(dir, 0), 0);
    MT_CHECK_EQ(benchfs_mini_connect(7), -ETIMEDOUT);
    MT_CHECK(strstr(benchfs_mini_errmsg(), "server_7.txt") != NULL);

    /* After finalize + init the data is still on the server. */
    MT_CHECK_EQ(benchfs_mini_read("/rt/obj-65536", rbuf, 65536, 0), 65536);
    MT_CHECK(mt_check_fill(rbuf, 65536, 5));
    MT_CHECK_EQ(benchfs_mini_disconnect(0), 0);
    /* Write reconnects on demand. */
    MT_CHECK_EQ(benchfs_mini_write("/rt/after", "z", 1, 0), 0);
    MT_CHECK_EQ(benchfs_mini_finalize(), 0);
    MT_CHECK_EQ(benchfs_mini_finalize(), 0);

    MT_CHECK_EQ(mt_daemon_stop(pid), 0);
    free(wbuf);
    free(rbuf);
    mt_pass();
}
