/*
 * net.h - the only UCX code in BenchFS (docs/design.md#rpc-over-ucx).
 *
 * One `struct net` = one UCP context + one worker with active messages.
 * Servers create it in UCS_THREAD_MODE_SINGLE; clients in SERIALIZED mode and
 * serialize access themselves. Messages are UCP active messages: an AM header
 * (the proto header + fixed body, <= PROTO_MSG_MAX bytes) and an optional data
 * part (paths, bulk data). Large data parts travel by rendezvous, and the
 * receiver pulls them with net_recv_data() straight into its own buffer.
 *
 * Conventions: every function returns 0 or -errno; UCX status codes become
 * -errno only in net_status_to_errno(). Callbacks are called from
 * net_progress() (never from inside the call that started the operation),
 * with two exceptions: net_ep_destroy() completes the sends still pending on
 * that endpoint (with -ECANCELED or the endpoint's error) from inside, and
 * net_destroy() may do the same for every pending operation. A synchronous
 * net_ep_destroy() also progresses the worker while it waits, so other
 * callbacks may run inside it.
 *
 * From inside any callback you may send, receive rndv data, drop
 * descriptors and destroy endpoints (the close then finishes in a later
 * net_progress); you must not call net_progress() or net_destroy().
 */
#ifndef BENCHFS_NET_NET_H
#define BENCHFS_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct net;
struct net_ep;

/* AM ids used by BenchFS. */
enum net_am_id {
    NET_AM_REQUEST = 1, /* client -> server */
    NET_AM_REPLY = 2,   /* server -> client, on the request's reply endpoint */
};

/* Opaque endpoint handle usable for sending (a ucp_ep_h underneath). */
typedef void *net_peer_t;

/*
 * One received message, valid only during the receive callback.
 *
 * hdr and data have no alignment guarantee (UCX 1.13 puts the header right
 * after the data in its receive buffer): unpack them byte-wise (proto does),
 * never cast them to a struct pointer.
 *
 * `reply` is UCX's internal endpoint for the sender, safe to use during the
 * callback. Keeping it for a later reply is unsafe: UCX 1.13 destroys that
 * endpoint without telling anyone when it notices that the peer failed
 * (ucp_ep_set_failed: "destroy endpoint which is not exposed to a user"),
 * and a send on the kept pointer then crashes (seen in a test: SIGSEGV in
 * ucp_am_send_nbx after the client died). To reply after asynchronous
 * work, connect back with net_ep_create() to the client's worker address
 * (which the client must send): UCX matches that endpoint with the internal
 * one, so net_ep_peer() of it equals `reply`, it now has an error callback,
 * and it stays valid until net_ep_destroy(). Destroying it cuts the
 * client's connection too, so do that only when the client is gone.
 */
struct net_msg {
    const void *hdr; /* AM header bytes */
    size_t hdr_len;
    void *data;       /* eager data, or NULL when rndv (or no data) */
    size_t data_len;  /* length of the data part (eager or rndv) */
    bool rndv;        /* data must be pulled with net_recv_data(desc) */
    void *desc;       /* rendezvous descriptor (rndv only) */
    net_peer_t reply; /* endpoint to reply on (NULL if sender gave none) */
};

/*
 * Receive callback. Return 0 when done with the message. For a rndv message
 * the callback must either call net_recv_data() (or net_data_drop()) now, or
 * return 1 to keep `desc` and call net_recv_data() or net_data_drop() later,
 * exactly once. A rndv message the callback returns 0 for without receiving
 * it is dropped (the sender's send completes successfully, as with
 * net_data_drop). Returning 1 for an eager message has no effect: eager
 * data is never kept; copy it.
 */
typedef int (*net_recv_cb_t)(void *arg, struct net_msg *msg);

/* Send / receive completion: status 0 or -errno. */
typedef void (*net_done_cb_t)(void *arg, int status);

/* Endpoint failure (peer died, connection reset): status is -errno. */
typedef void (*net_ep_err_cb_t)(void *arg, struct net_ep *ep, int status);

/* Map a ucs_status_t to -errno (EIO for unknown codes). */
int net_status_to_errno(int ucs_status);

/*
 * Create the context and worker. `serialized`: worker shared by threads that
 * serialize calls themselves (client). The UCX_* environment (UCX_TLS,
 * UCX_NET_DEVICES, ...) is read here. Fails with -EOPNOTSUPP when the
 * transports cannot carry a 512-byte AM header. On failure -errno and a
 * message in err.
 */
int net_create(bool serialized, struct net **net_p, char *err, size_t errlen);
/* Close remaining endpoints (with a warning), let UCX cancel pending
 * operations (their callbacks may run from in here with an error) and free
 * everything. Not from a callback (refused with an error log). */
void net_destroy(struct net *net);

/* Install the receive callback for an AM id (before traffic arrives).
 * am_id < 8; cb NULL removes the handler. */
int net_set_handler(struct net *net, unsigned am_id, net_recv_cb_t cb, void *arg);

/* The worker's address blob (owned by net, valid until net_destroy). */
int net_address(struct net *net, const void **addr_p, size_t *len_p);

/* Largest AM header net_send accepts on this worker (>= 512). */
size_t net_max_am_header(const struct net *net);

/* Largest worker address net_addr_check accepts. */
#define NET_ADDR_MAX 65536

/*
 * Check that addr[0..len) is a worker address UCX 1.13 can unpack without
 * reading past its end or aborting (known version, every length inside the
 * buffer, no trailing bytes): 0, or -EINVAL with the reason in why. Pure
 * (no UCX call), so it is fuzzed. net_ep_create() calls it first.
 */
int net_addr_check(const void *addr, size_t len, char *why, size_t whylen);

/*
 * UCX error handling of endpoints (docs/transports.md). UCX 1.13 joins two
 * endpoints only when both sides use the same mode, and cannot detect peer
 * failure over shared memory: with peer failure two processes of one node
 * talk TCP. A server publishes one of these in its registry file; each
 * client picks the mode of its endpoint from it (net_pf_choose) and tells
 * the server in its HELLO.
 */
enum net_pf {
    NET_PF_NONE = 0, /* no error handling: shared memory; deaths noticed otherwise */
    NET_PF_PEER = 1, /* UCP_ERR_HANDLING_MODE_PEER: a dead peer fails its requests */
    NET_PF_AUTO = 2, /* per endpoint: none with peers on this host, peer failure else */
};

/* What a server publishes: BENCHFS_PEER_FAILURE when set; else NET_PF_PEER
 * with RDMA transports (InfiniBand: peer failure is free there), NET_PF_AUTO
 * with shared memory and TCP, NET_PF_NONE with shared memory only,
 * NET_PF_PEER with TCP only. */
enum net_pf net_pf_published(const struct net *net);

/* The mode of an endpoint to a server that published `published`
 * (true: peer failure): BENCHFS_PEER_FAILURE when set; else the published
 * mode, and for NET_PF_AUTO none exactly when the server runs on this host
 * (`same_host`: it can watch our pid and we its) and this context has
 * shared memory. */
bool net_pf_choose(const struct net *net, int published, bool same_host);

/*
 * Connect to a peer's worker address, with peer-failure error handling
 * unless BENCHFS_PEER_FAILURE=0 (net_ep_create_mode chooses):
 * on failure err_cb(arg, ep, -errno) is called once from net_progress (after
 * UCX's own callback has returned, so it may destroy the ep) and every send
 * on the ep fails afterwards. Not called once net_ep_destroy() was called.
 * May be called from a receive callback (tested: connecting back to a
 * client from its first request). `name` is used in log lines (copied, cut
 * at 63 bytes). UCX does not take the address length, so the address is
 * first checked with net_addr_check(): -EINVAL (nothing passed to UCX) for
 * a malformed one. A server should still connect back only after the
 * cookie check: a well-formed address may name any process.
 */
int net_ep_create(struct net *net, const void *addr, size_t addr_len, const char *name,
                  net_ep_err_cb_t err_cb, void *arg, struct net_ep **ep_p);

/*
 * net_ep_create with the error handling given (true: peer failure, false:
 * none, and err_cb is never called). UCX refuses an endpoint whose two
 * sides differ (-EOPNOTSUPP).
 */
int net_ep_create_mode(struct net *net, const void *addr, size_t addr_len, const char *name,
                       net_ep_err_cb_t err_cb, void *arg, bool peer_failure, struct net_ep **ep_p);

/* The UCX transports ep uses, one per lane ("sysv/memory.0 cma/memory.0"),
 * into buf (cut to len). Returns 1 when one of them leaves the host (tcp,
 * ib, ...), 0 when none does, -errno on failure. */
int net_ep_transports(struct net_ep *ep, char *buf, size_t len);

/*
 * Close an endpoint and free it: FLUSH mode while healthy, FORCE once
 * failed. Outside callbacks it waits up to 1 s for the close, then abandons
 * it (UCX finishes or reclaims it in net_destroy); from inside a callback it
 * returns at once and net_progress finishes the close. Either way `ep` is
 * invalid on return. Sends still pending on it may complete from inside
 * (with an error once the endpoint has failed).
 */
void net_ep_destroy(struct net_ep *ep);

/*
 * Like net_ep_destroy, but never waits: the close (FLUSH while healthy)
 * finishes in a later net_progress, or is abandoned after the same 1 s.
 * For callers that must not stall (a client whose other threads wait).
 * `ep` is invalid on return.
 */
void net_ep_close(struct net_ep *ep);

/* Close without flushing: sends still pending on ep complete with an error
 * (their callbacks run before this returns or from net_progress), then free
 * it. For giving up on a peer that stopped answering. An endpoint without
 * peer-failure handling cannot be closed that way (UCX): it is flushed
 * without waiting, as net_ep_close does. */
void net_ep_abort(struct net_ep *ep);

/*
 * Like net_ep_close, for a peer that stopped answering (a timeout): the
 * flushing close keeps the peer's view clean if it ever runs again, but
 * net_destroy abandons it at once instead of spinning for the close timeout.
 */
void net_ep_close_unanswered(struct net_ep *ep);

/* False when BENCHFS_PEER_FAILURE=0 (every endpoint without UCX error
 * handling, even to other hosts, whose death is then noticed only by RPC
 * deadlines). */
bool net_peer_failure_enabled(void);

/* True when BENCHFS_PEER_FAILURE is set: it decides for every endpoint. */
bool net_peer_failure_forced(void);

net_peer_t net_ep_peer(struct net_ep *ep);
const char *net_ep_name(const struct net_ep *ep);
/* 0 while usable, else the -errno it failed with. */
int net_ep_status(const struct net_ep *ep);

#define NET_SEND_REPLY 0x1u /* ask the receiver to get a reply endpoint */

/*
 * Send an active message: header (hdr_len <= net_max_am_header bytes) and
 * data. Returns 0 when already complete (cb NOT called), 1 when in progress
 * (cb will be called exactly once), -errno on failure (cb not called;
 * -EMSGSIZE for a too large header, -EINVAL for bad arguments).
 *
 * Both hdr and data must stay valid and unchanged until completion (return
 * 0 or -errno, or cb called): UCX 1.13 keeps a pointer to the header and
 * packs it only when the protocol sends it (eager fragments, the rendezvous
 * RTS); copying it up front arrived only in UCX 1.14
 * (UCP_AM_SEND_FLAG_COPY_HEADER).
 */
int net_send(struct net *net, net_peer_t peer, unsigned am_id, const void *hdr, size_t hdr_len,
             const void *data, size_t data_len, unsigned flags, net_done_cb_t cb, void *arg);

/*
 * Pull a rendezvous data part into buf, len >= msg->data_len (else
 * -EMSGSIZE). Same return convention as net_send. `desc` is consumed by the
 * call whatever the result: after a failure the descriptor is released.
 * -EINVAL for a descriptor that is not live (already received or dropped).
 */
int net_recv_data(struct net *net, void *desc, void *buf, size_t len, net_done_cb_t cb, void *arg);

/* Release a rendezvous descriptor without receiving it (from the receive
 * callback, or later for a kept one). The sender's send completes OK. */
void net_data_drop(struct net *net, void *desc);

/* Progress the worker once; returns the number of events processed
 * (0 when idle: then net_arm() and poll net_efd()). */
unsigned net_progress(struct net *net);

/* File descriptor to poll (POLLIN) for events after net_arm() returned 0;
 * -errno when the transports have none. Owned by net: do not close it. */
int net_efd(struct net *net);

/* Arm the efd before sleeping: 0 = armed, -EAGAIN = events pending, progress again. */
int net_arm(struct net *net);

/* How many endpoint closes were given up on (a peer that never took what
 * was sent: UCX may keep retrying those sends, and refusing net_arm). */
size_t net_closes_abandoned(const struct net *net);

/* Counters for status output. */
struct net_stats {
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, rndv_in, send_errors;
};
void net_get_stats(const struct net *net, struct net_stats *st_p);

#endif
