/*
 * benchfs_mini.h - public API of libbenchfs_mini, the minimal stream-RPC
 * variant of BenchFS (seed 001).
 *
 * BenchFS Mini exists to debug UCX stream connections with as little code as
 * possible: a server keeps whole objects in memory, keyed by path, and clients
 * write or read them with two RPCs over the UCX *stream* API. It shares no
 * code with the main system.
 *
 * Discovery: a server listens on 0.0.0.0 with a kernel-chosen port and
 * publishes "<host>:<port>" atomically in <registry_dir>/server_<rank>.txt.
 * <host> is gethostname(), or $BENCHFS_MINI_HOST when set (tests use
 * 127.0.0.1; the namespace cluster relies on per-namespace host names).
 *
 * Wire format (every integer little-endian, fixed width, no padding):
 *
 *   request  = id:u16  path_len:u32  len:u32  path[path_len]  payload
 *              id 1 = RPC_WRITE: payload is the len data bytes
 *              id 2 = RPC_READ:  no payload; len is the reader's buffer size
 *              any other id: no payload (the frame ends after the path)
 *   reply    = status:i32                                    (WRITE, other ids)
 *              status:i32  data_len:u32  data[data_len]      (READ, always)
 *
 * status is 0 or a negative errno. A READ reply carries min(object size, len)
 * bytes, and data_len 0 when status < 0. A server answers every frame,
 * in order, after consuming it completely, and keeps the connection open
 * after a malformed frame:
 *   unknown id                     -> -ENOSYS
 *   path_len == 0 (missing path)   -> -EINVAL
 *   path_len > BENCHFS_MINI_MAX_PATH, or a NUL byte inside the path
 *                                  -> -ENAMETOOLONG / -EINVAL
 *   len > BENCHFS_MINI_MAX_DATA    -> -EMSGSIZE (a WRITE payload is discarded)
 *   READ of a path never written   -> -ENOENT
 *
 * Threading: every function must be called from one application thread (the
 * same one each time). A server started by benchfs_mini_start_server() runs
 * on its own background thread with its own UCX context, so a process may be
 * a server and a client at once (an MPI rank that serves and runs I/O).
 *
 * Errors: functions return 0 (or a byte count) on success and a negative
 * errno on failure; they then also set errno to the positive value and keep a
 * one-line explanation, available from benchfs_mini_errmsg(). No function
 * aborts the process.
 *
 * Environment: BENCHFS_LOG=error|warn|info|debug|trace (default info; debug
 * prints one line per RPC), BENCHFS_MINI_HOST (advertised host name),
 * BENCHFS_MINI_TIMEOUT_MS (deadline of connects, registry waits and RPCs,
 * default 30000). UCX is configured through its own variables (UCX_TLS, ...).
 */
#ifndef BENCHFS_MINI_H
#define BENCHFS_MINI_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* RPC ids on the wire (2 bytes). */
#define BENCHFS_MINI_RPC_WRITE 1
#define BENCHFS_MINI_RPC_READ  2

/* Longest path accepted, in bytes, without a terminating NUL. */
#define BENCHFS_MINI_MAX_PATH 4096

/* Largest object a single WRITE may carry and a single READ may ask for. */
#define BENCHFS_MINI_MAX_DATA (64u * 1024u * 1024u)

/* Largest server rank a client may name. */
#define BENCHFS_MINI_MAX_RANK 65535

/*
 * Initialize the library. `registry_dir` must exist; it is copied. When
 * `is_server` is non-zero this also creates the UCX listener (0.0.0.0, port
 * chosen by the kernel) and publishes server_<rank>.txt, where rank is taken
 * from the environment of the MPI launcher (OMPI_COMM_WORLD_RANK, PMIX_RANK,
 * PMI_RANK, SLURM_PROCID) and is 0 without one. The server does not serve
 * until benchfs_mini_start_server().
 * Returns 0, -EALREADY if already initialized, or another -errno; on error
 * nothing is left behind.
 */
int benchfs_mini_init(const char *registry_dir, int is_server);

/* Same as benchfs_mini_init() with an explicit server rank (>= 0). */
int benchfs_mini_init_rank(const char *registry_dir, int is_server, int rank);

/*
 * Start serving on a background thread. Only valid after an init with
 * is_server set. Returns 0, -EINVAL (not a server), -EALREADY, or -errno.
 */
int benchfs_mini_start_server(void);

/*
 * Connect to server `server_rank`: wait (up to the timeout) for its registry
 * file, resolve the host, create the endpoint and wait until it is
 * established. Endpoint details are logged at info level. Connecting to an
 * already connected rank is a no-op returning 0. Write and read connect on
 * demand, so calling this is optional.
 */
int benchfs_mini_connect(int server_rank);

/*
 * Close the connection to `server_rank` (a negative rank closes all of them).
 * Returns 0 (also when there was no connection) or -errno.
 */
int benchfs_mini_disconnect(int server_rank);

/*
 * Store `len` bytes at `path` on server `server_rank`, replacing any previous
 * object. `path` is a NUL-terminated string of 1..BENCHFS_MINI_MAX_PATH
 * bytes; len <= BENCHFS_MINI_MAX_DATA (data may be NULL when len is 0).
 * Returns 0 once the server has stored the object, or -errno (the server's
 * status, or a local/connection error). After a connection error or timeout
 * the connection is dropped and the next call reconnects.
 */
int benchfs_mini_write(const char *path, const void *data, size_t len, int server_rank);

/*
 * Read the object at `path` from server `server_rank` into `buf` (capacity
 * `len` <= BENCHFS_MINI_MAX_DATA). Returns the number of bytes copied, which
 * is min(object size, len), or -errno (-ENOENT if the path was never
 * written).
 */
ssize_t benchfs_mini_read(const char *path, void *buf, size_t len, int server_rank);

/*
 * Drive the client's UCX worker once without blocking. Useful while the
 * application waits for something else. Returns the number of events
 * progressed (>= 0), or -EINVAL before init.
 */
int benchfs_mini_progress(void);

/*
 * Close every connection, stop the server thread (if any), remove this
 * server's registry file and release everything. Safe to call when not
 * initialized (returns 0). After it, benchfs_mini_init may be called again.
 */
int benchfs_mini_finalize(void);

/*
 * The explanation of the last failure of a call made by this thread, or ""
 * when there was none. The string stays valid until the next failing call.
 */
const char *benchfs_mini_errmsg(void);

/* Port of this process' listener after a server init, or -EINVAL. */
int benchfs_mini_server_port(void);

#ifdef __cplusplus
}
#endif

#endif
