/*
 * net.h - the only UCX code in BenchFS (DESIGN.md §4).
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
 * net_progress() (never from inside the call that started the operation).
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

/* One received message, valid only during the receive callback. */
struct net_msg {
    const void *hdr;   /* AM header bytes */
    size_t hdr_len;
    void *data;        /* eager data, or NULL when rndv (or no data) */
    size_t data_len;   /* length of the data part (eager or rndv) */
    bool rndv;         /* data must be pulled with net_recv_data(desc) */
    void *desc;        /* rendezvous descriptor (rndv only) */
    net_peer_t reply;  /* endpoint to reply on (NULL if sender gave none) */
};

/*
 * Receive callback. Return 0 when done with the message. For a rndv message
 * the callback must either call net_recv_data() now, or return 1 to keep
 * `desc` and call net_recv_data() or net_data_drop() later.
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
 * serialize calls themselves (client). On failure -errno and a message in err.
 */
int net_create(bool serialized, struct net **net_p, char *err, size_t errlen);
void net_destroy(struct net *net);

/* Install the receive callback for an AM id (before traffic arrives). */
int net_set_handler(struct net *net, unsigned am_id, net_recv_cb_t cb, void *arg);

/* The worker's address blob (owned by net, valid until net_destroy). */
int net_address(struct net *net, const void **addr_p, size_t *len_p);

/*
 * Connect to a peer's worker address with peer-failure error handling:
 * on failure err_cb(arg) is called once from net_progress and every send on
 * the ep fails afterwards. `name` is used in log lines (copied).
 */
int net_ep_create(struct net *net, const void *addr, size_t addr_len, const char *name,
                  net_ep_err_cb_t err_cb, void *arg, struct net_ep **ep_p);

/* Close an endpoint (flushes politely, bounded wait) and free it. */
void net_ep_destroy(struct net_ep *ep);

net_peer_t net_ep_peer(struct net_ep *ep);
const char *net_ep_name(const struct net_ep *ep);
/* 0 while usable, else the -errno it failed with. */
int net_ep_status(const struct net_ep *ep);

#define NET_SEND_REPLY 0x1u /* ask the receiver to get a reply endpoint */

/*
 * Send an active message: header (hdr_len bytes, copied by UCX before this
 * returns or kept by the caller until completion -- callers keep it) and
 * data (must stay valid until completion). Returns 0 when already complete
 * (cb NOT called), 1 when in progress (cb will be called), -errno on failure
 * (cb not called).
 */
int net_send(struct net *net, net_peer_t peer, unsigned am_id, const void *hdr, size_t hdr_len,
             const void *data, size_t data_len, unsigned flags, net_done_cb_t cb, void *arg);

/*
 * Pull a rendezvous data part into buf (len = msg->data_len). Same return
 * convention as net_send. After a failure the descriptor is released.
 */
int net_recv_data(struct net *net, void *desc, void *buf, size_t len, net_done_cb_t cb, void *arg);

/* Release a kept rendezvous descriptor without receiving it. */
void net_data_drop(struct net *net, void *desc);

/* Progress the worker once; returns the number of events processed. */
unsigned net_progress(struct net *net);

/* File descriptor to poll for events (after net_arm succeeded). */
int net_efd(struct net *net);

/* Arm the efd before sleeping: 0 = armed, -EAGAIN = events pending, progress again. */
int net_arm(struct net *net);

/* Counters for status output. */
struct net_stats {
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, rndv_in, send_errors;
};
void net_get_stats(const struct net *net, struct net_stats *st_p);

#endif
