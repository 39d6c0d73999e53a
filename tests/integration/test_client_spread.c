/*
 * test_client_spread.c - data placement over real servers: a 256 MiB file
 * written with 4 MiB chunks spreads its chunks over all 4 servers (measured
 * by each server's chunk_writes counter through benchfs_server_info), reads
 * back intact, and an unlink frees its space again.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_itest.h"

#define NSERVERS 4
#define FILE_MB  256
#define XFER     (8u << 20)

int main(void)
{
    struct benchfs_server_info before[NSERVERS], after[NSERVERS];
    unsigned char *buf = malloc(XFER);
    uint64_t off, t0, t1, total = (uint64_t)FILE_MB << 20;
    struct stat st;
    int fd, i;

    CHECK(buf != NULL);
    itest_start(NSERVERS, NULL);
    itest_connect(0);
    CHECK(benchfs_server_count() == NSERVERS);
    for (i = 0; i < NSERVERS; i++)
        CHECK(benchfs_server_info(i, &before[i]) == 0 && before[i].status == 0);

    t0 = itest_now_ms();
    fd = benchfs_open("/spread", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0);
    for (off = 0; off < total; off += XFER) {
        for (size_t k = 0; k < XFER; k += 4096)
            memset(buf + k, (int)((off + k) >> 12) & 0xff, 4096);
        CHECK(benchfs_write(fd, buf, XFER) == (ssize_t)XFER);
    }
    CHECK(benchfs_close(fd) == 0);
    t1 = itest_now_ms();

    for (i = 0; i < NSERVERS; i++) {
        uint64_t w;

        CHECK(benchfs_server_info(i, &after[i]) == 0 && after[i].status == 0);
        w = after[i].chunk_writes - before[i].chunk_writes;
        printf("%s: %llu chunk writes, %llu bytes in\n", after[i].node_id, (unsigned long long)w,
               (unsigned long long)(after[i].bytes_in - before[i].bytes_in));
        CHECK(w > 0);
    }

    CHECK(benchfs_stat("/spread", &st) == 0 && (uint64_t)st.st_size == total);
    fd = benchfs_open("/spread", O_RDONLY, 0);
    CHECK(fd >= 0);
    for (off = 0; off < total; off += XFER) {
        CHECK(benchfs_read(fd, buf, XFER) == (ssize_t)XFER);
        for (size_t k = 0; k < XFER; k += 4096)
            CHECK(buf[k] == (((off + k) >> 12) & 0xff) && buf[k + 4095] == buf[k]);
    }
    CHECK(benchfs_read(fd, buf, XFER) == 0);
    CHECK(benchfs_close(fd) == 0);
    printf("256 MiB: written in %llu ms, read and verified in %llu ms\n",
           (unsigned long long)(t1 - t0), (unsigned long long)(itest_now_ms() - t1));
    CHECK(benchfs_unlink("/spread") == 0);
    CHECK(benchfs_disconnect() == 0);
    itest_stop();
    free(buf);
    return 0;
}
