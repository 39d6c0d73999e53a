/*
 * rawclient.h - a minimal synchronous RPC client built directly on proto and
 * net, for server tests and the RPC benchmark. It can also send arbitrary
 * (malformed) bytes to check the server's input validation.
 */
#ifndef BENCHFS_TESTS_RAWCLIENT_H
#define BENCHFS_TESTS_RAWCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"
#include "registry/registry.h"

struct rawclient;

/* Connect to the server registered as node_id in registry_dir. */
int rawclient_connect(const char *registry_dir, const char *node_id, struct rawclient **c_p);
/* The same; without HELLO when !hello (the server then knows only UCX's
 * connection: send HELLO yourself, e.g. with a hostile address). */
int rawclient_connect_opts(const char *registry_dir, const char *node_id, bool hello,
                           struct rawclient **c_p);
void rawclient_close(struct rawclient *c);
/* The flags a HELLO of this client must carry (its endpoint's error handling). */
uint32_t rawclient_hello_flags(const struct rawclient *c);
/* This client's own UCX worker address. */
void rawclient_address(struct rawclient *c, const void **addr_p, size_t *len_p);

/*
 * Call op with a request body and data; wait up to timeout_ms. Returns the
 * reply status (0 or -errno from the server), or -ETIMEDOUT. The reply body
 * is unpacked into rep (if non-NULL); reply data (up to rdata_cap bytes) is
 * copied into rdata and its length stored in *rdata_len.
 */
int rawclient_call(struct rawclient *c, unsigned op, const union proto_body *req, const void *data,
                   size_t data_len, union proto_body *rep, void *rdata, size_t rdata_cap,
                   size_t *rdata_len, int timeout_ms);

/* Convenience: a path op (STAT, UNLINK, RMDIR_*) with flags. */
int rawclient_path_op(struct rawclient *c, unsigned op, const char *path, uint32_t flags,
                      union proto_body *rep);

/*
 * Send raw AM header bytes (and data) as a request, then wait for a reply
 * with req_id `expect_id` up to timeout_ms. Returns the reply's status, or
 * -ETIMEDOUT when no reply came (a dropped message).
 */
int rawclient_send_raw(struct rawclient *c, const void *hdr, size_t hdr_len, const void *data,
                       size_t data_len, uint64_t expect_id, int timeout_ms);

/*
 * Send a request without waiting for it (its reply is ignored unless
 * rawclient_wait asks for its id). Up to 256 may be outstanding. Returns 0,
 * 1 (send in progress) or -errno; *id_p gets the request id.
 */
int rawclient_send_only(struct rawclient *c, unsigned op, const union proto_body *req,
                        const void *data, size_t data_len, uint64_t *id_p);

/* Wait up to timeout_ms for the reply to request `id`: its status. */
int rawclient_wait(struct rawclient *c, uint64_t id, int timeout_ms);

/* The cluster cookie and a fresh request id, for hand-built headers. */
const uint8_t *rawclient_cookie(const struct rawclient *c);
uint64_t rawclient_next_id(struct rawclient *c);

#endif
