/*
 * net_purge.c - keep UCX 1.13 from aborting when a TCP peer goes away while
 * its connection is still being wired up (docs/security.md#what-remains-ucx-113).
 *
 * The bug (UCX 1.13.1, checked against its sources): a peer connects to our
 * worker and sends a wireup REQUEST. UCP answers with a REPLY on a new
 * endpoint whose TCP lane is first handed to the peer (a CONN_REQ on the
 * peer's socket, or a fresh connect) and can send only after the peer's
 * CONN_ACK, so the REPLY waits in the lane's pending queue. If the peer exits
 * or is killed in that window (one round trip), the lane fails: TCP
 * reconnects, is refused, and ucp_ep_set_failed() purges the lane's pending
 * queue with ucp_ep_err_pending_purge(). For a wireup message that ends in
 * ucp_request_send_state_ff(), which asserts that only EP_REMOVED, EP_CHECK
 * or ACK can be there and aborts the process ("ucp_request.c:684 ... got REP
 * message"; Debian builds UCX with assertions). Upstream removed the wrong
 * assertion in 1.14 (commit 9ccaf31, "UCP/CORE: Remove assertion for
 * checking WIREUP_MSGs when purging"); the code after it only frees the
 * message. Any process that can reach the listening port can trigger this,
 * before BenchFS sees a message.
 *
 * The containment: an executable that links this file defines
 * uct_tcp_ep_pending_purge, the TCP transport's pending-purge operation.
 * libuct's operation table refers to the symbol through a relocation, so the
 * dynamic linker binds the table to this definition (like net_guard.c's
 * recv). It calls UCX's own function (dlsym RTLD_NEXT) and, on UCX 1.13
 * only, filters what that hands to ucp_ep_err_pending_purge: a wireup
 * message (its pending function is ucp_wireup_msg_progress) is given to that
 * function instead. The endpoint has failed, its lanes already point to
 * UCX's failed-endpoint stub, so the send fails at once and
 * ucp_wireup_msg_progress frees the message and its request: what 1.14 does,
 * through UCX's own code, without knowing UCX's private structures. Every
 * other request, and every other purge callback (lane reconfiguration,
 * discards), passes through untouched. On other UCX versions the filter is
 * off and the function is a plain pass-through.
 *
 * ucp_ep_err_pending_purge also runs, with live lanes, when a worker is
 * destroyed or an endpoint is closed with FORCE during its wireup; there the
 * wireup message is sent if the lane can, or dropped (a few hundred bytes
 * leaked) if it cannot, instead of aborting.
 *
 * Shared libraries (libbenchfs.so, the interception library) keep the symbol
 * local (version script), so an application's UCX is never touched.
 */
#include "net/net_int.h"

#include "common/log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <uct/api/uct.h>

typedef void (*net_purge_fn_t)(uct_ep_h ep, uct_pending_purge_callback_t cb, void *arg);

/* What the filter needs from UCX, looked up once. */
static struct {
    pthread_once_t once;
    net_purge_fn_t real;                  /* libuct's uct_tcp_ep_pending_purge */
    uct_pending_purge_callback_t err_cb;  /* ucp_ep_err_pending_purge */
    uct_pending_callback_t wireup_msg_cb; /* ucp_wireup_msg_progress */
    bool filter;                          /* UCX 1.13 and both found */
} purge = {.once = PTHREAD_ONCE_INIT};

static void net_purge_init(void)
{
    unsigned major = 0, minor = 0, release = 0;

    purge.real = (net_purge_fn_t)dlsym(RTLD_NEXT, "uct_tcp_ep_pending_purge");
    purge.err_cb = (uct_pending_purge_callback_t)dlsym(RTLD_DEFAULT, "ucp_ep_err_pending_purge");
    purge.wireup_msg_cb = (uct_pending_callback_t)dlsym(RTLD_DEFAULT, "ucp_wireup_msg_progress");
    ucp_get_version(&major, &minor, &release);
    purge.filter = major == 1 && minor == 13 && purge.err_cb != NULL && purge.wireup_msg_cb != NULL;
}

struct net_purge_arg {
    uct_pending_purge_callback_t cb;
    void *arg;
};

static void net_purge_one(uct_pending_req_t *req, void *arg)
{
    struct net_purge_arg *pa = arg;

    if (req->func == purge.wireup_msg_cb) {
        /* Failed lane: the send fails and UCX frees the message (see above). */
        log_debug("net: purging a wireup message of a failed connection (UCX 1.13 workaround)");
        (void)req->func(req);
        return;
    }
    pa->cb(req, pa->arg);
}

/* Interposes libuct's function of the same name (called through its
 * iface operation table): see the top of this file. */
void uct_tcp_ep_pending_purge(uct_ep_h ep, uct_pending_purge_callback_t cb, void *arg);

void uct_tcp_ep_pending_purge(uct_ep_h ep, uct_pending_purge_callback_t cb, void *arg)
{
    struct net_purge_arg pa = {cb, arg};

    pthread_once(&purge.once, net_purge_init);
    if (purge.real == NULL)
        return; /* cannot happen: only libuct's table calls us */
    if (!purge.filter || cb != purge.err_cb) {
        purge.real(ep, cb, arg);
        return;
    }
    purge.real(ep, net_purge_one, &pa);
}

bool net_purge_filter_active(void)
{
    pthread_once(&purge.once, net_purge_init);
    return purge.filter && purge.real != NULL &&
           dlsym(RTLD_DEFAULT, "uct_tcp_ep_pending_purge") == (void *)uct_tcp_ep_pending_purge;
}
