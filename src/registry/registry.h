/*
 * registry.h - discovery through a shared registry directory (docs/design.md#registry-and-cookie).
 *
 * Files in the registry directory:
 *   cookie            the cluster's random 128-bit cookie, 32 hex chars, 0600
 *   cluster           "BENCHFS-CLUSTER 1\nservers=N\n" (benchfsd_mpi rank 0)
 *   <node_id>.addr    one per ready server, text, 0600, written atomically
 *                     (temp file, fsync, rename):
 *       BENCHFS-REGISTRY 1
 *       node_id=node_0
 *       cookie=<32 hex>
 *       pid=1234
 *       host=cn001
 *       max_xfer=1048576
 *       started_ns=<CLOCK_REALTIME ns>
 *       host_id=<16 hex>       (optional: registry_host_id() of its host)
 *       peer_failure=0|1|auto  (optional, 1 when absent: the UCX error handling
 *                               of endpoints to it, net_pf_published())
 *       addr=<UCX worker address in hex>
 * Every reader validates every field; a corrupt, foreign (wrong cookie) or
 * stale (same host, process gone) file is an error naming the file.
 */
#ifndef BENCHFS_REGISTRY_REGISTRY_H
#define BENCHFS_REGISTRY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REGISTRY_COOKIE_LEN  16
#define REGISTRY_NODE_ID_MAX 63
#define REGISTRY_ADDR_MAX    65536
/* Longest chunk directory path a registry file publishes. */
#define REGISTRY_CHUNKS_MAX 1024
/* Largest .addr file a reader accepts (the hex address plus the rest). */
#define REGISTRY_FILE_MAX (REGISTRY_ADDR_MAX * 2 + 4096)

/* peer_failure=auto: net.h's NET_PF_AUTO (the registry does not use net). */
#define REGISTRY_PEER_FAILURE_AUTO 2

struct registry_entry {
    char node_id[REGISTRY_NODE_ID_MAX + 1];
    uint8_t cookie[REGISTRY_COOKIE_LEN];
    int64_t pid;
    char host[256];
    uint64_t max_xfer;
    uint64_t started_ns;
    uint64_t host_id; /* registry_host_id() of its host; 0: not published */
    int peer_failure; /* its endpoints' UCX error handling: enum net_pf (0, 1, 2 auto) */
    /* Its chunk directory, for clients on the same host that read and write
     * chunk files directly (docs/architecture.md#direct-chunk-io): an
     * absolute path ("" = not published) and the st_dev / st_ino it had. */
    char chunks[REGISTRY_CHUNKS_MAX + 1];
    uint64_t chunks_dev, chunks_ino;
    void *addr; /* malloc'd worker address */
    size_t addr_len;
};

/* A chunk directory path a registry file can carry (`chunks=`): absolute,
 * 1..REGISTRY_CHUNKS_MAX bytes, no control characters (one line). */
bool registry_chunks_valid(const char *path, size_t len);

/* Is pid alive on this host: it exists (kill(pid, 0) succeeds or fails
 * with EPERM) and is not a zombie (state from /proc/<pid>/stat)? */
bool registry_pid_alive(int64_t pid);

/* Identity of this host as far as process ids go: a 64-bit hash of the
 * kernel's boot id (/proc/sys/kernel/random/boot_id), the host name and the
 * pid namespace (/proc/self/ns/pid). Two processes with equal ids can check
 * each other's pids with registry_pid_alive; never 0. */
uint64_t registry_host_id(void);

/* Valid node id: 1..63 bytes of [A-Za-z0-9._-], not starting with '.'. */
bool registry_node_id_valid(const char *node_id);

/*
 * Check that dir exists, is a directory, and is writable. On failure -errno
 * (-ENOENT, -ENOTDIR, -EACCES, ...) and a message like "Registry directory
 * does not exist: /x (create it with mkdir -p /x on a file system all nodes
 * share)".
 */
int registry_dir_check(const char *dir, char *err, size_t errlen);

/* Read the cluster cookie, or create it (random, 0600, race-free with
 * concurrent creators: all of them return the same cookie) when missing.
 * Needs a file system with hard links (link() publishes the cookie). */
int registry_cookie_get_or_create(const char *dir, uint8_t cookie[REGISTRY_COOKIE_LEN], char *err,
                                  size_t errlen);
/* Read the cookie; -ENOENT when there is none yet, -EINVAL if corrupt. */
int registry_cookie_read(const char *dir, uint8_t cookie[REGISTRY_COOKIE_LEN], char *err,
                         size_t errlen);

/* Publish <dir>/<node_id>.addr atomically (temp file .<node_id>.addr.tmp.<pid>,
 * fsync, chmod 0600, rename, fsync of dir). -EEXIST (with message) when a
 * live server (same host, pid alive, not us) already holds this node id; a
 * stale or unreadable file, or one from another host (which cannot be
 * checked), is replaced with a warning. -EINVAL for an invalid entry. */
int registry_publish(const char *dir, const struct registry_entry *entry, char *err, size_t errlen);
/* Remove <dir>/<node_id>.addr if it is ours (pid and host match): 0, or
 * -ENOENT (no file), -EPERM (someone else's), -EINVAL (unreadable). */
int registry_unpublish(const char *dir, const char *node_id);

/* Write (atomically) / read the cluster file (expected number of servers,
 * 1..2^20). read: -ENOENT when there is none, -EINVAL if corrupt. */
int registry_cluster_write(const char *dir, unsigned servers, char *err, size_t errlen);

/*
 * Prepare dir for a new cluster of `servers` servers before any of them
 * publishes: remove every .addr file, the cookie and the cluster file left by
 * an earlier run, create a fresh cookie, and write the cluster file (when
 * servers > 0). Only the one process that launches the cluster calls it
 * (benchfsd_mpi rank 0, an IOR run's rank 0).
 */
int registry_reset(const char *dir, unsigned servers, char *err, size_t errlen);
int registry_cluster_read(const char *dir, unsigned *servers_p, char *err, size_t errlen);

/*
 * Parse one .addr file: 0, or -errno with "registry <path>:<line>: ..." in
 * err (-EINVAL corrupt, -EFBIG larger than REGISTRY_FILE_MAX, -ENOENT, ...).
 * On success *entry_p owns a malloc'd addr: registry_entry_cleanup() it.
 */
int registry_entry_read(const char *path, struct registry_entry *entry_p, char *err, size_t errlen);

/*
 * The parser behind registry_entry_read, on bytes in memory (any bytes: no
 * NUL terminator needed). `name` is used in messages. Same results.
 */
int registry_entry_parse(const char *name, const char *buf, size_t len,
                         struct registry_entry *entry_p, char *err, size_t errlen);
void registry_entry_cleanup(struct registry_entry *entry);

/*
 * List every <node_id>.addr in dir (sorted in natural node id order), each
 * validated and checked against the cluster cookie. Dot files (temps) and
 * names not ending in .addr are ignored. Errors (with a message naming the
 * file): -EINVAL corrupt file or node_id not matching the file name, -EACCES
 * foreign cookie, -ESRCH stale (same host, pid gone), -ENOENT .addr files
 * but no cookie. No files (and maybe no cookie yet): 0 with *count_p = 0 and
 * *entries_p = NULL. Free the array with registry_entries_free().
 */
int registry_list(const char *dir, struct registry_entry **entries_p, size_t *count_p, char *err,
                  size_t errlen);
void registry_entries_free(struct registry_entry *entries, size_t count);

/*
 * Wait until the registry is complete: `expected` servers (0 = the number in
 * the cluster file, or, without one, whatever is there once at least one
 * entry exists and the set has been stable for 200 ms), polling with backoff
 * (1 ms doubling to 50 ms) up to timeout_ms (0: look once; < 0: -EINVAL).
 * When the cluster file gives the count, the set must be node_0..node_{N-1}.
 * On timeout -ETIMEDOUT with a message listing what was found and what is
 * missing, e.g. "timed out after 30.0 s waiting for servers in /r: found 3
 * of 4 (node_0 node_1 node_3); missing: node_2". Stale/foreign files are
 * waited out (a restarting server replaces its file) and reported at the
 * timeout; corrupt files and more servers than expected fail at once.
 */
int registry_wait(const char *dir, unsigned expected, int timeout_ms,
                  struct registry_entry **entries_p, size_t *count_p, char *err, size_t errlen);

/* Hex helpers (lowercase). decode: -EINVAL on bad input. */
void registry_hex_encode(const void *data, size_t len, char *out);
int registry_hex_decode(const char *hex, size_t hex_len, void *out, size_t out_len);

#endif
