/*
 * net_ep.c - endpoints: connect to a peer's worker address with peer-failure
 * handling, report failures, and close with a bounded wait (docs/design.md#rpc-over-ucx).
 *
 * Failure: UCX calls our error handler from ucp_worker_progress. We only
 * record the status and queue the endpoint; net_progress() calls the user's
 * err_cb after ucp_worker_progress has returned, so the user may do anything
 * there, including net_ep_destroy().
 *
 * Closing: a healthy endpoint is closed in FLUSH mode, a failed one in FORCE
 * mode (FLUSH could never finish). Outside callbacks net_ep_destroy waits for
 * the close up to NET_CLOSE_TIMEOUT_NS; from inside a callback it cannot
 * progress the worker (UCX forbids it), so the close finishes in a later
 * net_progress(). A close that does not finish in time (a peer that died
 * without its death being noticed yet) is abandoned: UCX 1.13 can neither
 * cancel a close request (ucp_request_cancel only cancels tag receives) nor
 * close an endpoint twice, so we free the request and let UCX finish it or
 * tear it down in ucp_worker_destroy. UCX never calls the error handler of an
 * endpoint that was closed, so the struct net_ep can be freed right away.
 */
#include "net/net_int.h"

#include "common/log.h"
#include "common/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ucp_err_handler_cb_t: remember the failure, report it from net_progress. */
static void net_ep_err_handler(void *arg, ucp_ep_h uep, ucs_status_t status)
{
    struct net_ep *ep = arg;
    int rc;

    if (ep->status != 0 || ep->closing)
        return;
    rc = net_status_to_errno(status);
    ep->status = rc < 0 ? rc : -EIO;
    log_debug("net: connection to %s failed: %s", ep->name, ucs_status_string(status));
    list_push_back(&ep->net->failed, &ep->failed_node);
}

unsigned net_ep_dispatch_failed(struct net *net)
{
    struct list_node *n;
    unsigned count = 0;

    /* One at a time: the callback may destroy this or any other ep. */
    while ((n = list_pop_front(&net->failed)) != NULL) {
        struct net_ep *ep = list_entry(n, struct net_ep, failed_node);

        count++;
        if (ep->err_cb != NULL)
            ep->err_cb(ep->arg, ep, ep->status);
    }
    return count;
}

/*
 * Peer-failure handling (UCP_ERR_HANDLING_MODE_PEER) lets a dead peer fail
 * its requests at once, but UCX 1.13's shared-memory transports cannot
 * detect peer failure, so with it UCX uses TCP even between processes of one
 * node. BENCHFS_PEER_FAILURE=0 (on clients and servers alike) selects
 * UCP_ERR_HANDLING_MODE_NONE: shared memory becomes usable and a dead peer is
 * then noticed only by RPC deadlines. See docs/transports.md.
 */
bool net_peer_failure_enabled(void)
{
    const char *v = getenv("BENCHFS_PEER_FAILURE");

    return v == NULL || strcmp(v, "0") != 0;
}

bool net_peer_failure_forced(void)
{
    return getenv("BENCHFS_PEER_FAILURE") != NULL;
}

int net_ep_create(struct net *net, const void *addr, size_t addr_len, const char *name,
                  net_ep_err_cb_t err_cb, void *arg, struct net_ep **ep_p)
{
    return net_ep_create_mode(net, addr, addr_len, name, err_cb, arg, net_peer_failure_enabled(),
                              ep_p);
}

int net_ep_create_mode(struct net *net, const void *addr, size_t addr_len, const char *name,
                       net_ep_err_cb_t err_cb, void *arg, bool peer_failure, struct net_ep **ep_p)
{
    ucp_ep_params_t p;
    ucs_status_t status;
    struct net_ep *ep;

    char why[160];
    int rc;

    rc = net_addr_check(addr, addr_len, why, sizeof(why));
    if (rc < 0) {
        log_warn("net: refusing to connect to %s: %s", name != NULL ? name : "peer", why);
        return rc;
    }
    ep = calloc(1, sizeof(*ep));
    if (ep == NULL)
        return -ENOMEM;
    ep->net = net;
    snprintf(ep->name, sizeof(ep->name), "%s", name != NULL ? name : "peer");
    ep->err_cb = err_cb;
    ep->arg = arg;
    list_init(&ep->node);
    list_init(&ep->failed_node);

    memset(&p, 0, sizeof(p));
    p.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
    p.address = addr;
    p.err_mode = UCP_ERR_HANDLING_MODE_NONE;
    if (peer_failure) {
        p.field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLER;
        p.err_mode = UCP_ERR_HANDLING_MODE_PEER;
        p.err_handler.cb = net_ep_err_handler;
        p.err_handler.arg = ep;
    }
    status = ucp_ep_create(net->worker, &p, &ep->ep);
    if (status != UCS_OK) {
        /* Only "unreachable" means the two sides share no transport. */
        log_warn("net: cannot connect to %s: %s%s", ep->name, ucs_status_string(status),
                 status == UCS_ERR_UNREACHABLE
                     ? " (no common UCX transport: compare UCX_TLS and UCX_NET_DEVICES on "
                       "both sides)"
                     : "");
        free(ep);
        return net_status_to_errno(status);
    }
    list_push_back(&net->eps, &ep->node);
    log_debug("net: endpoint to %s created", ep->name);
    *ep_p = ep;
    return 0;
}

net_peer_t net_ep_peer(struct net_ep *ep)
{
    return ep->ep;
}

const char *net_ep_name(const struct net_ep *ep)
{
    return ep->name;
}

int net_ep_status(const struct net_ep *ep)
{
    return ep->status;
}

/* Start the close. Leaves ep->close_req set when it is still in progress. */
static void net_ep_close_start(struct net_ep *ep)
{
    struct net *net = ep->net;
    ucp_request_param_t p;
    ucs_status_ptr_t sp;

    ep->closing = true;
    memset(&p, 0, sizeof(p));
    p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    p.flags = ep->status != 0 ? UCP_EP_CLOSE_FLAG_FORCE : 0;

    /* A close completes pending sends with errors: their callbacks run now. */
    net->cb_depth++;
    sp = ucp_ep_close_nbx(ep->ep, &p);
    net->cb_depth--;

    ep->close_req = NULL;
    if (sp == NULL)
        return;
    if (UCS_PTR_IS_ERR(sp) && (p.flags & UCP_EP_CLOSE_FLAG_FORCE) &&
        UCS_PTR_STATUS(sp) == UCS_ERR_INVALID_PARAM && net->cb_depth > 0) {
        /* UCX refuses FORCE without peer-failure handling. From a callback
         * a flushing close costs nothing (net_progress finishes or abandons
         * it), and it releases UCX's endpoint. */
        p.flags = 0;
        net->cb_depth++;
        sp = ucp_ep_close_nbx(ep->ep, &p);
        net->cb_depth--;
        if (sp == NULL)
            return;
    }
    if (UCS_PTR_IS_ERR(sp)) {
        log_debug("net: closing %s: %s", ep->name, ucs_status_string(UCS_PTR_STATUS(sp)));
        return;
    }
    ep->close_req = sp;
    ep->close_deadline_ns = time_mono_ns() + NET_CLOSE_TIMEOUT_NS;
}

/* If ep's close is over (or overdue), free everything and return true. */
static bool net_ep_close_try_finish(struct net_ep *ep)
{
    ucs_status_t status;

    if (ep->close_req != NULL) {
        status = ucp_request_check_status(ep->close_req);
        if (status == UCS_INPROGRESS) {
            if (time_mono_ns() < ep->close_deadline_ns)
                return false;
            if (ep->unanswered)
                log_debug("net: close of %s (not answering) abandoned", ep->name);
            else
                log_warn("net: closing the connection to %s did not finish within %.1f s; "
                         "abandoned",
                         ep->name, NET_CLOSE_TIMEOUT_NS / 1e9);
        } else if (status != UCS_OK) {
            log_debug("net: closing %s: %s", ep->name, ucs_status_string(status));
        }
        /* An unfinished request is released by UCX when it completes. */
        ucp_request_free(ep->close_req);
        ep->close_req = NULL;
    }
    list_remove(&ep->node);
    log_debug("net: endpoint to %s closed", ep->name);
    free(ep);
    return true;
}

/* Start closing ep; finish now (wait = true, outside callbacks) or in net_progress. */
static void net_ep_destroy_mode(struct net_ep *ep, bool wait)
{
    struct net *net;

    if (ep == NULL)
        return;
    net = ep->net;
    list_remove(&ep->node);
    list_remove(&ep->failed_node); /* its err_cb will not be called any more */
    net_ep_close_start(ep);

    if (ep->close_req != NULL && (net->cb_depth > 0 || !wait)) {
        /* Cannot progress from here: net_progress finishes it. */
        list_push_back(&net->closing, &ep->node);
        return;
    }
    while (!net_ep_close_try_finish(ep)) {
        net->cb_depth++;
        ucp_worker_progress(net->worker);
        net->cb_depth--;
    }
}

void net_ep_destroy(struct net_ep *ep)
{
    net_ep_destroy_mode(ep, true);
}

void net_ep_close(struct net_ep *ep)
{
    net_ep_destroy_mode(ep, false);
}

void net_ep_close_unanswered(struct net_ep *ep)
{
    if (ep == NULL)
        return;
    ep->unanswered = true;
    net_ep_destroy_mode(ep, false);
}

void net_ep_abort(struct net_ep *ep)
{
    if (ep == NULL)
        return;
    /* A failed endpoint is closed with UCP_EP_CLOSE_FLAG_FORCE, which ends
     * the sends still pending on it (their callbacks see an error). */
    if (ep->status == 0)
        ep->status = -ECANCELED;
    net_ep_destroy(ep);
}

void net_ep_reap_closing(struct net *net, bool wait)
{
    struct list_node *n, *tmp;

    if (wait) {
        /* Closes to peers that stopped answering would only finish (or
         * time out) after a busy second: abandon them now. */
        list_for_each_safe(n, tmp, &net->closing)
        {
            struct net_ep *ep = list_entry(n, struct net_ep, node);

            if (ep->unanswered)
                ep->close_deadline_ns = 0;
        }
    }
    for (;;) {
        list_for_each_safe(n, tmp, &net->closing)
        {
            net_ep_close_try_finish(list_entry(n, struct net_ep, node));
        }
        if (!wait || list_empty(&net->closing))
            return;
        net->cb_depth++;
        ucp_worker_progress(net->worker);
        net->cb_depth--;
    }
}

void net_ep_destroy_all(struct net *net)
{
    struct list_node *n;

    /* A failed ep that is destroyed here never gets its err_cb. */
    while ((n = list_pop_front(&net->eps)) != NULL) {
        struct net_ep *ep = list_entry(n, struct net_ep, node);

        log_warn("net: endpoint to %s still open at net_destroy; closing it", ep->name);
        net_ep_destroy(ep);
    }
    net_ep_reap_closing(net, true);
}
