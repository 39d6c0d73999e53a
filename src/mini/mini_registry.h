/*
 * mini_registry.h - service discovery of BenchFS Mini: one text file per
 * server, <dir>/server_<rank>.txt, holding "<host>:<port>\n".
 *
 * Files are published atomically (write a temporary file in the same
 * directory, fsync, rename, fsync the directory), so a reader sees either no
 * file or a complete one: its existence is the server's readiness signal.
 */
#ifndef BENCHFS_MINI_REGISTRY_H
#define BENCHFS_MINI_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

/* Longest host name accepted in a registry file. */
#define MINI_REGISTRY_HOST_MAX 255

/* Build "<dir>/server_<rank>.txt". Returns 0 or -ENAMETOOLONG. */
int mini_registry_file(const char *dir, int rank, char *buf, size_t size);

/* Publish host:port for `rank` atomically. Returns 0 or -errno. */
int mini_registry_publish(const char *dir, int rank, const char *host, uint16_t port);

/* Remove the file of `rank`. Returns 0, or -errno (-ENOENT if absent). */
int mini_registry_unpublish(const char *dir, int rank);

/*
 * Parse the contents of a registry file ("host:port", optional trailing
 * whitespace; the last ':' separates, so "[::1]:80" style hosts keep their
 * brackets stripped). `host` gets at least MINI_REGISTRY_HOST_MAX + 1 bytes.
 * Returns 0 or -EINVAL.
 */
int mini_registry_parse(const char *text, size_t len, char *host, size_t host_size,
                        uint16_t *port_p);

/*
 * Read and parse the file of `rank`, waiting for it to appear until
 * `deadline_ns` (CLOCK_MONOTONIC; 0 = do not wait). Returns 0, -ETIMEDOUT
 * (never appeared), or -errno / -EINVAL for an unreadable or corrupt file.
 */
int mini_registry_lookup(const char *dir, int rank, uint64_t deadline_ns, char *host,
                         size_t host_size, uint16_t *port_p);

#endif
