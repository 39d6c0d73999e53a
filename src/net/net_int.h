/*
 * net_int.h - state shared by net.c (context, worker, messages) and
 * net_ep.c (endpoints). Private to src/net: nothing outside includes it.
 *
 * The picture: one `struct net` owns a UCP context and one worker. Endpoints
 * the user creates (`struct net_ep`) sit on `net->eps`; endpoints being closed
 * from inside a callback wait on `net->closing` until net_progress() sees
 * their close request finish. Endpoints whose peer failed wait on
 * `net->failed` until net_progress() calls the user's error callback outside
 * of UCX's own callback context.
 */
#ifndef BENCHFS_NET_NET_INT_H
#define BENCHFS_NET_NET_INT_H

#include "common/list.h"
#include "net/net.h"

#include <ucp/api/ucp.h>

/* AM ids accepted by net_set_handler / net_send: 0 .. NET_AM_ID_MAX-1. */
#define NET_AM_ID_MAX 8

/* How long net_ep_destroy / net_destroy wait for a polite close. */
#define NET_CLOSE_TIMEOUT_NS 1000000000ull

/*
 * Our part of every UCX request (ucp_params.request_size). UCX recycles
 * request memory without clearing it, so `armed` is reset before each
 * ucp_request_free(); request_init zeroes it once when UCX allocates it.
 */
struct net_req {
    net_done_cb_t cb;
    void *arg;
    bool armed;      /* cb/arg are set: the completion may call them */
    bool early_done; /* completed before the nbx call returned (never seen) */
    int early_status;
    size_t bytes; /* for the byte counters */
};

/* Where a rendezvous descriptor (struct net_rndv) is in its life. */
enum net_rndv_state {
    NET_RNDV_FREE = 0, /* on the free list */
    NET_RNDV_IN_CB,    /* handed to the receive callback right now */
    NET_RNDV_KEPT,     /* callback returned 1: user owns it */
    NET_RNDV_RECEIVED, /* net_recv_data() was called from the callback */
    NET_RNDV_DROPPED,  /* net_data_drop() was called from the callback */
};

/*
 * What net_msg.desc points to: UCX's descriptor plus the length it
 * announced, so that net_recv_data() can refuse a buffer that is too small
 * (UCX itself only asserts that, and release builds have no assertions).
 * Wrappers are recycled through a free list; all are freed by net_destroy.
 */
struct net_rndv {
    void *ucx_desc;
    size_t len;
    enum net_rndv_state state;
    struct net_rndv *next_free;
    struct net_rndv *next_all;
};

struct net_handler {
    struct net *net;
    net_recv_cb_t cb;
    void *arg;
};

struct net {
    ucp_context_h ctx;
    ucp_worker_h worker;
    ucp_address_t *addr;
    size_t addr_len;
    size_t max_am_header;
    int efd; /* -errno when the worker has no event fd */
    struct net_handler handlers[NET_AM_ID_MAX];
    struct net_stats stats;
    /* > 0 while UCX or net may be calling user callbacks (see net_ep.c). */
    unsigned cb_depth;
    struct list_node eps;     /* live user endpoints */
    struct list_node failed;  /* eps whose err_cb is still to be called */
    struct list_node closing; /* eps closed from a callback, close pending */
    struct net_rndv *rndv_free;
    struct net_rndv *rndv_all;
    size_t rndv_kept;
    size_t closes_abandoned; /* closes given up on: UCX may retry their sends for ever */
    int guard_fds[8];        /* UCX listening sockets checked by net_guard.c */
    unsigned nguard;
    bool has_shm;     /* the context has a shared-memory AM transport (sysv, posix) */
    bool has_network; /* ... one that reaches other hosts (tcp, ib, ...) */
    bool has_rdma;    /* ... one of those that is not tcp (rc, ud, dc, ...) */
};

struct net_ep {
    struct net *net;
    ucp_ep_h ep;
    char name[64];
    int status;        /* 0 or -errno once failed */
    bool closing;      /* close started: ignore late failure reports */
    bool unanswered;   /* the peer stopped answering: net_destroy does not wait for its close */
    bool peer_failure; /* created with UCP_ERR_HANDLING_MODE_PEER */
    net_ep_err_cb_t err_cb;
    void *arg;
    struct list_node node; /* on net->eps or net->closing */
    struct list_node failed_node;
    void *close_req;
    uint64_t close_deadline_ns;
};

/* Is tl (a UCX transport name: "sysv", "tcp", ...) one that stays on this
 * host (shared memory, cross-memory attach, self)? */
bool net_tl_local(const char *tl, size_t len);

/* net_log.c: route UCX warnings and errors into our log (quiet: at debug
 * level, for clients), unless UCX_LOG_LEVEL is set. Idempotent. */
void net_log_capture(bool quiet);

/* net_scope.c: set UCX_NET_DEVICES from BENCHFS_NET_INTERFACE (auto, all,
 * a name) unless it is set. 0, or -ENODEV with a message. */
int net_scope_apply(char *err, size_t errlen);

/* net_guard.c: remember the TCP listening sockets ucp_worker_create opens
 * (before: snapshot, after: register the new ones) so that connections
 * accepted on them are checked before UCX reads them. */
void *net_guard_before(void);
/* Registers the new listeners, stores up to max of them in fds; returns
 * how many. net_guard_forget() them before the worker closes them (their
 * numbers may be reused for sockets that are not UCX's). */
unsigned net_guard_after(void *before, int *fds, unsigned max);
void net_guard_forget(const int *fds, unsigned n);
/* Is UCX's TCP PUT enabled (UCX_TCP_PUT_ENABLE not n/no/off/0)? */
bool net_guard_put_enabled(void);
/* Connections refused so far (for tests and status). */
unsigned long net_guard_refused(void);

/* net_purge.c: true when this executable's filter of UCX 1.13's TCP
 * pending purge is bound (UCX 1.13, symbol interposed); false in shared
 * libraries and on other UCX versions. */
bool net_purge_filter_active(void);

/* net_ep.c: called by net_progress / net_destroy. */
unsigned net_ep_dispatch_failed(struct net *net);
void net_ep_reap_closing(struct net *net, bool wait);
void net_ep_destroy_all(struct net *net);

#endif
