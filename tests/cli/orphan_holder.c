/*
 * orphan_holder.c - a client that holds an unlinked open file, for
 * tests/cli/test_orphans.sh.
 *
 *   orphan_holder <registry> <path> <bytes> <seed>
 *
 * Connects (chunk size from BENCHFS_CHUNK_SIZE), creates <path>, writes
 * <bytes> pseudo-random bytes (from <seed>) through one descriptor, unlinks
 * the path while the descriptor stays open (the owner keeps an orphan
 * record, docs/semantics.md), prints "ready" and waits for a line on stdin.
 * The test either SIGKILLs it there (a holder that died) or writes a line:
 * then it reads the whole file back through the descriptor, compares every
 * byte, closes it (the last close releases the orphan), prints "ok" and
 * exits 0. Exit 1 on any failure, with a message.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchfs.h"

static uint8_t byte_at(uint64_t seed, uint64_t off)
{
    uint64_t x = (off / 8 + 1) * 0x9e3779b97f4a7c15ull ^ seed;

    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return (uint8_t)(x >> (8 * (off % 8)));
}

static int fail(const char *what)
{
    fprintf(stderr, "orphan_holder: %s: %s\n", what, benchfs_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    static uint8_t buf[1 << 16];
    uint64_t bytes, seed, off;
    char line[16];
    int fd;

    if (argc != 5) {
        fprintf(stderr, "usage: orphan_holder REGISTRY PATH BYTES SEED\n");
        return 2;
    }
    bytes = strtoull(argv[3], NULL, 10);
    seed = strtoull(argv[4], NULL, 10);
    if (benchfs_connect(argv[1], NULL) < 0)
        return fail("connect");
    fd = benchfs_open(argv[2], O_CREAT | O_EXCL | O_RDWR, 0644);
    if (fd < 0)
        return fail("open");
    for (off = 0; off < bytes;) {
        size_t n = bytes - off < sizeof(buf) ? (size_t)(bytes - off) : sizeof(buf);

        for (size_t i = 0; i < n; i++)
            buf[i] = byte_at(seed, off + i);
        if (benchfs_pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
            return fail("pwrite");
        off += n;
    }
    if (benchfs_unlink(argv[2]) < 0)
        return fail("unlink");
    printf("ready\n");
    fflush(stdout);
    if (fgets(line, sizeof(line), stdin) == NULL) {
        fprintf(stderr, "orphan_holder: stdin closed\n");
        return 1;
    }
    for (off = 0; off < bytes;) {
        size_t n = bytes - off < sizeof(buf) ? (size_t)(bytes - off) : sizeof(buf);

        if (benchfs_pread(fd, buf, n, (off_t)off) != (ssize_t)n)
            return fail("pread");
        for (size_t i = 0; i < n; i++) {
            if (buf[i] != byte_at(seed, off + i)) {
                fprintf(stderr, "orphan_holder: byte %llu differs\n",
                        (unsigned long long)(off + i));
                return 1;
            }
        }
        off += n;
    }
    if (benchfs_close(fd) < 0)
        return fail("close");
    if (benchfs_disconnect() < 0)
        return fail("disconnect");
    printf("ok\n");
    return 0;
}
