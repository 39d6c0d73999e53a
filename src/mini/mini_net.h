/*
 * mini_net.h - the UCX plumbing BenchFS Mini's server and client share: a
 * context + worker pair with a wakeup fd, blocking waits with deadlines for
 * non-blocking UCX requests, endpoint creation/closing, and the single
 * conversion from ucs_status_t to -errno.
 *
 * Only mini_net.c, mini_server.c and mini_client.c include UCX headers; the
 * public API and the tools see plain ints.
 */
#ifndef BENCHFS_MINI_NET_H
#define BENCHFS_MINI_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ucp/api/ucp.h>

/* A UCX context with one worker, used by exactly one thread at a time. */
struct mini_worker {
    ucp_context_h context;
    ucp_worker_h worker;
    int efd; /* the worker's wakeup fd */
};

/* Create a context (STREAM + WAKEUP features) and a single-threaded worker. */
int mini_worker_create(struct mini_worker *w, const char *name);

/* Destroy the worker and the context. Endpoints must be closed already. */
void mini_worker_destroy(struct mini_worker *w);

/*
 * Progress the worker; if nothing happened, arm it and sleep in poll() until
 * the worker fd or `extra_fd` (-1 = none) is readable or `timeout_ms`
 * (-1 = forever) passes. Returns 1 if `extra_fd` became readable, else 0.
 */
int mini_worker_wait(struct mini_worker *w, int extra_fd, int timeout_ms);

/* Convert a UCX status to 0 or a negative errno (the only place that does). */
int mini_status_errno(ucs_status_t status);

/* Completion record of one UCX request, filled by the callbacks below. */
struct mini_op {
    int done;
    ucs_status_t status;
    size_t length; /* received bytes, for stream receives */
};

/* Fill `param` so that the request's completion is recorded in `op`. */
void mini_op_param_send(struct mini_op *op, ucp_request_param_t *param);
void mini_op_param_recv(struct mini_op *op, ucp_request_param_t *param);

/*
 * Wait until the request `sp` (as returned by a *_nbx call whose param came
 * from mini_op_param_*) completes or `deadline_ns` passes.
 * Returns 0 or -errno. If the deadline passed first, it returns -ETIMEDOUT
 * with op->done still 0 and the request pending: the caller must then
 * force-close its endpoint and call mini_op_reap(). Otherwise (op->done set)
 * the request has been released. Test op->done, not the return value: a
 * request can also complete with a UCX timeout status (-ETIMEDOUT too).
 */
int mini_op_wait(struct mini_worker *w, ucs_status_ptr_t sp, struct mini_op *op,
                 uint64_t deadline_ns);

/* After a force close: progress until `sp` completes, then release it. */
void mini_op_reap(struct mini_worker *w, ucs_status_ptr_t sp, struct mini_op *op);

/*
 * Close an endpoint without flushing (UCP_EP_CLOSE_FLAG_FORCE): outstanding
 * requests on it complete with an error, the peer sees a reset. Waits (a
 * bounded time) for the close to complete. Returns 0 or -errno; the endpoint
 * must not be used afterwards either way.
 */
int mini_ep_close(struct mini_worker *w, ucp_ep_h ep);

/* "a.b.c.d:port" of a socket address, into `buf`. */
void mini_sockaddr_str(const struct sockaddr *sa, char *buf, size_t size);

/*
 * Log an endpoint at info level: local and remote socket addresses, then
 * ucp_ep_print_info() (lanes, transports, devices), one log line per line.
 * `what` prefixes every line (e.g. "connect server 0").
 */
void mini_ep_log(ucp_ep_h ep, const char *what);

#endif
