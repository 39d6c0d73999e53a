/*
 * pipe_read.h - a read that leaves the bytes in a pipe, for the FUSE daemon
 * (src/fuse/bfuse_file.c): not part of the public API (benchfs.h).
 *
 * The daemon answers a READ by writing the bytes to /dev/fuse. Read into a
 * buffer first, every byte is copied twice in the daemon (chunk file ->
 * buffer -> the kernel's page cache); spliced into a pipe, the chunk
 * file's pages are only referenced there, and the kernel copies them once
 * into the page cache when the pipe is spliced to /dev/fuse
 * (docs/fuse.md "Reads").
 */
#ifndef BENCHFS_CLIENT_PIPE_READ_H
#define BENCHFS_CLIENT_PIPE_READ_H

#include <sys/types.h>

/*
 * pread(fd, ..., count, offset) of a BenchFS descriptor, with the bytes put
 * into the write end pipe_wr (non-blocking, empty, with room for count
 * bytes) instead of a buffer: pieces in chunk files of servers on this host
 * are spliced, the others read into scratch (count bytes) and written
 * there. Returns the bytes now in the pipe (0 at the end of the file), or
 * -1 with errno. After a failure the pipe may hold the pieces before it:
 * the caller empties it in every case; errno EAGAIN then means "use
 * benchfs_pread for this range", any other errno is the read's error.
 */
ssize_t benchfs_pread_pipe(int fd, int pipe_wr, void *scratch, size_t count, off_t offset);

#endif
