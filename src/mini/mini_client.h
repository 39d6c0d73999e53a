/*
 * mini_client.h - the BenchFS Mini client: one stream endpoint per server
 * rank, synchronous RPCs with deadlines.
 *
 * An RPC sends its whole frame with one ucp_stream_send_nbx (an iov of
 * header, path and data), then receives the reply with WAITALL stream
 * receives straight into the caller's buffer. A connection that fails or
 * times out is closed; the next RPC to that rank reconnects.
 *
 * The raw send/receive calls exist for tests that need to put malformed or
 * split frames on the wire; nothing else should use them.
 */
#ifndef BENCHFS_MINI_CLIENT_H
#define BENCHFS_MINI_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mini_client;

/*
 * Create a client (its own UCX context and worker). `timeout_ms` bounds
 * connects (including waiting for the registry file) and each RPC.
 * Returns 0 or -errno.
 */
int mini_client_create(const char *registry, int timeout_ms, struct mini_client **cli_p);

/* Close all connections and free the client. NULL is allowed. */
void mini_client_destroy(struct mini_client *cli);

/* Connect to `rank` unless connected. Returns 0 or -errno. */
int mini_client_connect(struct mini_client *cli, int rank);

/* Close the connection to `rank` (< 0: all). Returns 0. */
int mini_client_disconnect(struct mini_client *cli, int rank);

/* RPC_WRITE; see benchfs_mini_write(). Returns 0 or -errno. */
int mini_client_write(struct mini_client *cli, int rank, const char *path, const void *data,
                      size_t len);

/* RPC_READ; see benchfs_mini_read(). Returns bytes read or -errno. */
ssize_t mini_client_read(struct mini_client *cli, int rank, const char *path, void *buf,
                         size_t len);

/* One non-blocking worker progress. Returns the event count. */
int mini_client_progress(struct mini_client *cli);

/* Tests only: send `len` raw bytes to `rank` (connecting if needed). */
int mini_client_send_raw(struct mini_client *cli, int rank, const void *buf, size_t len);

/* Tests only: receive exactly `len` raw bytes from `rank`. */
int mini_client_recv_raw(struct mini_client *cli, int rank, void *buf, size_t len);

#endif
