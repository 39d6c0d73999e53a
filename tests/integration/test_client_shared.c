/*
 * test_client_shared.c - 8 client processes (each connects on its own) on
 * one shared file, IOR-style: all open it (O_CREAT; the first also
 * O_TRUNC), each writes its own unaligned region in 47008-byte transfers,
 * closes (close-to-open: the size is pushed), and after a barrier every
 * client reopens the file and verifies all of it, including the size.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client_itest.h"

#define NCLIENTS 8
#define XFER     47008
#define NXFER    45 /* region = 2,115,360 bytes: not chunk aligned */
#define REGION   ((uint64_t)XFER * NXFER)
#define CHUNK    (1u << 20)

static pthread_barrier_t *barrier;

static int client(int idx, void *arg)
{
    struct benchfs_options o;
    unsigned char *buf = malloc(REGION * NCLIENTS);
    uint64_t base = (uint64_t)idx * REGION, off;
    struct stat st;
    int fd;

    (void)arg;
    CHECK(buf != NULL);
    benchfs_options_init(&o);
    o.chunk_size = CHUNK;
    o.discovery_timeout_ms = 20000;
    CHECK(benchfs_connect(itest_h.registry, &o) == 0);

    fd = benchfs_open("/shared", O_CREAT | O_RDWR | (idx == 0 ? O_TRUNC : 0), 0644);
    CHECK(fd >= 0);
    pthread_barrier_wait(barrier);
    for (off = 0; off < REGION; off += XFER) {
        for (size_t i = 0; i < XFER; i++)
            buf[i] = itest_pattern(base + off + i, 3);
        CHECK(benchfs_pwrite(fd, buf, XFER, (off_t)(base + off)) == XFER);
    }
    /* Our own writes are visible to us before close. */
    CHECK(benchfs_fstat(fd, &st) == 0 && (uint64_t)st.st_size >= base + REGION);
    CHECK(benchfs_close(fd) == 0);
    pthread_barrier_wait(barrier);

    fd = benchfs_open("/shared", O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK(benchfs_fstat(fd, &st) == 0);
    CHECK((uint64_t)st.st_size == REGION * NCLIENTS);
    memset(buf, 0, REGION * NCLIENTS);
    CHECK(benchfs_pread(fd, buf, REGION * NCLIENTS, 0) == (ssize_t)(REGION * NCLIENTS));
    for (off = 0; off < REGION * NCLIENTS; off++) {
        if (buf[off] != itest_pattern(off, 3)) {
            fprintf(stderr, "client %d: byte %llu wrong\n", idx, (unsigned long long)off);
            CHECK(0);
        }
    }
    CHECK(benchfs_close(fd) == 0);
    CHECK(benchfs_disconnect() == 0);
    free(buf);
    return 0;
}

int main(void)
{
    pthread_barrierattr_t attr;
    uint64_t t0;
    int failed;

    barrier =
        mmap(NULL, sizeof(*barrier), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(barrier != MAP_FAILED);
    pthread_barrierattr_init(&attr);
    pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    CHECK(pthread_barrier_init(barrier, &attr, NCLIENTS) == 0);

    itest_start(3, NULL);
    t0 = itest_now_ms();
    failed = itest_fork_clients(NCLIENTS, client, NULL);
    CHECK(failed == 0);
    printf("shared file: %d clients x %llu bytes written and verified by all in %llu ms\n",
           NCLIENTS, (unsigned long long)REGION, (unsigned long long)(itest_now_ms() - t0));
    itest_stop();
    return 0;
}
