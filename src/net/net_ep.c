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
 * node. So the mode is chosen per endpoint: none (shared memory) between
 * processes of one host, which notice each other's death by pid, peer
 * failure with other hosts; BENCHFS_PEER_FAILURE=0|1 (on clients and
 * servers alike) forces one mode for every endpoint. See docs/transports.md.
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

enum net_pf net_pf_published(const struct net *net)
{
    if (net_peer_failure_forced())
        return net_peer_failure_enabled() ? NET_PF_PEER : NET_PF_NONE;
    /* With RDMA transports peer failure costs nothing, and without it UCX
     * might move a local peer's bulk data by RDMA, whose failure aborts a
     * process without peer-failure handling (as CMA's would, net.c). */
    if (net->has_rdma)
        return NET_PF_PEER;
    /* UCX refuses peer failure over shared memory, and without it a TCP
     * peer that vanishes can abort this process (docs/transports.md). */
    if (net->has_shm && net->has_network)
        return NET_PF_AUTO;
    return net->has_shm ? NET_PF_NONE : NET_PF_PEER;
}

bool net_pf_choose(const struct net *net, int published, bool same_host)
{
    if (net_peer_failure_forced())
        return net_peer_failure_enabled();
    if (published != NET_PF_AUTO)
        return published != NET_PF_NONE;
    return !(same_host && net->has_shm);
}

int net_ep_create(struct net *net, const void *addr, size_t addr_len, const char *name,
                  net_ep_err_cb_t err_cb, void *arg, struct net_ep **ep_p)
{
    return net_ep_create_mode(net, addr, addr_len, name, err_cb, arg, net_peer_failure_enabled(),
                              ep_p);
}

int net_ep_transports(struct net_ep *ep, char *buf, size_t len)
{
    char *text = NULL, *line, *save = NULL;
    size_t tlen = 0, used = 0;
    bool network = false;
    FILE *f;

    if (len == 0)
        return -EINVAL;
    buf[0] = '\0';
    f = open_memstream(&text, &tlen);
    if (f == NULL)
        return -errno;
    /* One line per lane: "#  lane[0]:  3:sysv/memory.0 md[2]  -> ...". */
    ucp_ep_print_info(ep->ep, f);
    if (fclose(f) != 0 || text == NULL) {
        free(text);
        return -EIO;
    }
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *tl = strstr(line, "lane[");
        size_t n;

        if (tl == NULL || (tl = strstr(tl, "]:")) == NULL)
            continue;
        tl += 2;
        tl += strspn(tl, " ");
        tl += strspn(tl, "0123456789");
        if (*tl == ':')
            tl++;
        n = strcspn(tl, " ");
        if (!net_tl_local(tl, strcspn(tl, "/ ")))
            network = true;
        if (used + n + 2 <= len)
            used += (size_t)snprintf(buf + used, len - used, "%s%.*s", used ? " " : "", (int)n, tl);
    }
    free(text);
    return network ? 1 : 0;
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
    ep->peer_failure = peer_failure;
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
    if (!peer_failure || log_threshold >= LOG_LEVEL_DEBUG) {
        char tls[160];
        int network = net_ep_transports(ep, tls, sizeof(tls));

        log_debug("net: endpoint to %s created (%s, over %s)", ep->name,
                  peer_failure ? "peer failure" : "no error handling", tls);
        /* Chosen for a peer of this host (net_pf_choose), yet UCX found no
         * shared memory to it (another IPC namespace?). */
        if (!peer_failure && network == 1 && !net_peer_failure_forced())
            log_warn("net: the endpoint to %s has no peer-failure handling but runs over %s: if "
                     "that peer vanishes, UCX 1.13 may abort this process; set "
                     "BENCHFS_PEER_FAILURE=1 (docs/transports.md)",
                     ep->name, tls);
    }
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
    /* UCX refuses FORCE without peer-failure handling: such an endpoint is
     * always flushed (over shared memory that finishes at once, even when
     * the peer is dead, unless its queue is full; then it is abandoned). */
    p.flags = ep->status != 0 && ep->peer_failure ? UCP_EP_CLOSE_FLAG_FORCE : 0;

    /* A close completes pending sends with errors: their callbacks run now. */
    net->cb_depth++;
    sp = ucp_ep_close_nbx(ep->ep, &p);
    net->cb_depth--;

    ep->close_req = NULL;
    if (sp == NULL)
        return;
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
            ep->net->closes_abandoned++;
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
     * the sends still pending on it (their callbacks see an error). One
     * without peer-failure handling can only be flushed: not waited for
     * here, as sends to a dead peer may never finish. */
    if (ep->status == 0)
        ep->status = -ECANCELED;
    net_ep_destroy_mode(ep, ep->peer_failure);
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
