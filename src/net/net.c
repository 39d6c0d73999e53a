/*
 * net.c - the UCP context, the worker, active-message handlers, sends,
 * rendezvous receives, progress and wakeup (docs/design.md#rpc-over-ucx). Endpoints live in
 * net_ep.c. This file and net_ep.c are the only users of UCX in BenchFS.
 *
 * Every UCX *_nbx call below is checked three ways: NULL (done at once),
 * UCS_PTR_IS_ERR (failed, no callback will come), or a request (in progress:
 * our completion adapter runs later from ucp_worker_progress and frees it).
 * UCX facts this code relies on (checked against the UCX 1.13.1 sources):
 *  - ucp_am_send_nbx keeps a pointer to the user header; it does not copy it
 *    until the protocol packs it (UCP_AM_SEND_FLAG_COPY_HEADER only exists
 *    from 1.14). The header must therefore stay valid until completion.
 *  - In a receive callback for a rendezvous message, UCS_INPROGRESS keeps the
 *    descriptor; UCS_OK drops it (the sender completes with UCS_OK) unless
 *    ucp_am_recv_data_nbx was called on it from the callback, in which case
 *    UCX looks at its own "receive started" flag and the return value must be
 *    UCS_OK or UCS_INPROGRESS, never an error. Calling ucp_am_data_release
 *    on the descriptor inside the callback and then returning UCS_OK would
 *    release it twice, so net_data_drop() from a callback only marks it.
 *  - reply_ep is a UCX-internal endpoint; see the lifetime note in net.h.
 */
#include "net/net_int.h"

#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Smallest AM header the upper layers may send (proto needs 304 bytes). */
#define NET_MIN_AM_HEADER 512

int net_status_to_errno(int ucs_status)
{
    switch ((ucs_status_t)ucs_status) {
    case UCS_OK:
        return 0;
    case UCS_INPROGRESS:
        return -EINPROGRESS;
    case UCS_ERR_NO_MEMORY:
        return -ENOMEM;
    case UCS_ERR_TIMED_OUT:
    case UCS_ERR_ENDPOINT_TIMEOUT:
        return -ETIMEDOUT;
    case UCS_ERR_CANCELED:
        return -ECANCELED;
    case UCS_ERR_UNREACHABLE:
        return -EHOSTUNREACH;
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_NOT_CONNECTED:
        return -ECONNRESET;
    case UCS_ERR_REJECTED:
        return -ECONNREFUSED;
    case UCS_ERR_MESSAGE_TRUNCATED:
        return -EMSGSIZE;
    case UCS_ERR_INVALID_PARAM:
        return -EINVAL;
    case UCS_ERR_UNSUPPORTED:
        return -EOPNOTSUPP;
    case UCS_ERR_NO_RESOURCE:
        return -EAGAIN;
    case UCS_ERR_BUSY:
        return -EBUSY;
    case UCS_ERR_NO_ELEM:
        return -ENOENT;
    case UCS_ERR_NO_DEVICE:
        return -ENODEV;
    default:
        return -EIO;
    }
}

/* ---- context and worker ---------------------------------------------- */

static void net_request_init(void *request)
{
    memset(request, 0, sizeof(struct net_req));
}

static const char *net_env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL ? v : "(unset)";
}

/* Can UCX_TLS select the TCP transport (unset, "all", a "^" exclusion list,
 * or naming tcp)? UCX warns about TCP settings when it cannot. */
static bool net_tls_may_use_tcp(void)
{
    const char *tls = getenv("UCX_TLS");

    return tls == NULL || tls[0] == '\0' || tls[0] == '^' || strstr(tls, "tcp") != NULL ||
           strstr(tls, "all") != NULL;
}

bool net_tl_local(const char *tl, size_t len)
{
    static const char *const local[] = {"self", "sysv", "posix", "cma", "knem", "xpmem"};

    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
        if (strlen(local[i]) == len && memcmp(local[i], tl, len) == 0)
            return true;
    return false;
}

/*
 * UCX_TLS as BenchFS uses it: without cma, unless every endpoint has
 * peer-failure handling (BENCHFS_PEER_FAILURE=1: UCX never picks cma
 * then). Cross-memory attach copies straight from or into the peer's
 * memory; when that fails because the peer died, UCX 1.13 aborts a process
 * whose endpoint has no peer-failure handling (a server killed by a client
 * that dies during a write). posix and sysv only copy through this
 * process's own queues: a dead peer just stops sending. knem and xpmem
 * would be as dangerous; Debian's UCX has neither, and naming a missing
 * transport makes UCX warn, so net_probe_transports only warns about them.
 * The aliases that include cma (shm, sm) become posix,sysv. Writes the list
 * into out and returns true, or false when UCX_TLS can stay as it is.
 */
static bool net_tls_local_safe(char *out, size_t len)
{
    static const char drop[] = "cma";
    const char *tls = getenv("UCX_TLS");
    char buf[512], *tok, *save = NULL;
    bool changed = false;
    size_t used = 0;

    if (net_peer_failure_forced() && net_peer_failure_enabled())
        return false;
    if (tls == NULL || tls[0] == '\0')
        return snprintf(out, len, "^%s", drop) < (int)len;
    if (tls[0] == '^')
        return snprintf(out, len, "%s,%s", tls, drop) < (int)len;
    if (snprintf(buf, sizeof(buf), "%s", tls) >= (int)sizeof(buf))
        return false;
    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        const char *add = tok;

        if (strcmp(tok, "all") == 0)
            return snprintf(out, len, "^%s", drop) < (int)len;
        if (strcmp(tok, "shm") == 0 || strcmp(tok, "sm") == 0) {
            add = "posix,sysv";
            changed = true;
        } else if (strcmp(tok, "cma") == 0) {
            changed = true;
            continue;
        }
        used +=
            (size_t)snprintf(out + used, len > used ? len - used : 0, "%s%s", used ? "," : "", add);
        if (used >= len)
            return false;
    }
    return changed && used > 0;
}

/*
 * Which kinds of transports the context has. UCX 1.13 has no query for its
 * resources, so read its own listing of them, one line per resource:
 * "#      resource 3  :  md 2  dev 3  flags -- sysv/memory".
 */
static void net_probe_transports(struct net *net)
{
    char *text = NULL, *line, *save = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (f == NULL)
        return;
    ucp_context_print_info(net->ctx, f);
    if (fclose(f) != 0 || text == NULL) {
        free(text);
        return;
    }
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *tl = strstr(line, " flags ");
        size_t n;

        if (strstr(line, " resource ") == NULL || tl == NULL)
            continue;
        tl += strlen(" flags ");
        tl += strcspn(tl, " "); /* the flag letters */
        tl += strspn(tl, " ");
        n = strcspn(tl, "/ ");
        if ((n == 4 && memcmp(tl, "sysv", 4) == 0) || (n == 5 && memcmp(tl, "posix", 5) == 0)) {
            net->has_shm = true;
        } else if ((n == 4 && memcmp(tl, "knem", 4) == 0) ||
                   (n == 5 && memcmp(tl, "xpmem", 5) == 0)) {
            if (!net_peer_failure_forced() || !net_peer_failure_enabled())
                log_warn("net: UCX transport %.*s in use: a peer that dies during a transfer "
                         "can abort this process (leave it out of UCX_TLS, docs/transports.md)",
                         (int)n, tl);
        } else if (n > 0 && !net_tl_local(tl, n)) {
            net->has_network = true;
            if (n != 3 || memcmp(tl, "tcp", 3) != 0)
                net->has_rdma = true;
        }
    }
    free(text);
}

int net_create(bool serialized, struct net **net_p, char *err, size_t errlen)
{
    ucp_config_t *config;
    ucp_params_t params;
    ucp_worker_params_t wparams;
    char tls[600];
    ucp_worker_attr_t wattr;
    ucs_status_t status;
    struct net *net;
    void *guard;
    unsigned i;
    int rc;

    net = calloc(1, sizeof(*net));
    if (net == NULL) {
        snprintf(err, errlen, "out of memory creating the network context");
        return -ENOMEM;
    }
    list_init(&net->eps);
    list_init(&net->failed);
    list_init(&net->closing);
    for (i = 0; i < NET_AM_ID_MAX; i++)
        net->handlers[i].net = net;

    net_log_capture(serialized);
    /* TCP PUT lets any peer write to a raw address (net_guard.c): move
     * rendezvous data with active messages instead. */
    if (net_tls_may_use_tcp())
        setenv("UCX_TCP_PUT_ENABLE", "n", 0);
    rc = net_scope_apply(err, errlen);
    if (rc < 0)
        goto err_free;

    /* Reads UCX_* from the environment (UCX_TLS, UCX_NET_DEVICES, ...). */
    status = ucp_config_read(NULL, NULL, &config);
    if (status != UCS_OK) {
        rc = net_status_to_errno(status);
        snprintf(err, errlen,
                 "Failed to create UCX context: cannot read UCX configuration: %s "
                 "(check the UCX_* environment variables)",
                 ucs_status_string(status));
        goto err_free;
    }
    if (net_tls_local_safe(tls, sizeof(tls))) {
        status = ucp_config_modify(config, "TLS", tls);
        log_debug("net: transports %s (UCX_TLS=%s): %s", tls, net_env("UCX_TLS"),
                  status == UCS_OK ? "ok" : ucs_status_string(status));
    }

    memset(&params, 0, sizeof(params));
    params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_REQUEST_SIZE |
                        UCP_PARAM_FIELD_REQUEST_INIT | UCP_PARAM_FIELD_MT_WORKERS_SHARED;
    params.features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
    params.request_size = sizeof(struct net_req);
    params.request_init = net_request_init;
    params.mt_workers_shared = 0;
    status = ucp_init(&params, config, &net->ctx);
    ucp_config_release(config);
    if (status != UCS_OK) {
        rc = net_status_to_errno(status);
        snprintf(err, errlen,
                 "Failed to create UCX context: %s (UCX_TLS=%s, UCX_NET_DEVICES=%s; "
                 "check that UCX is installed and these name available transports/devices)",
                 ucs_status_string(status), net_env("UCX_TLS"), net_env("UCX_NET_DEVICES"));
        goto err_free;
    }
    net_probe_transports(net);

    memset(&wparams, 0, sizeof(wparams));
    wparams.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wparams.thread_mode = serialized ? UCS_THREAD_MODE_SERIALIZED : UCS_THREAD_MODE_SINGLE;
    guard = net_guard_before();
    status = ucp_worker_create(net->ctx, &wparams, &net->worker);
    net->nguard = net_guard_after(guard, net->guard_fds, 8);
    if (status != UCS_OK) {
        rc = net_status_to_errno(status);
        snprintf(err, errlen, "failed to create UCX worker: %s", ucs_status_string(status));
        goto err_cleanup_ctx;
    }

    memset(&wattr, 0, sizeof(wattr));
    wattr.field_mask = UCP_WORKER_ATTR_FIELD_ADDRESS | UCP_WORKER_ATTR_FIELD_MAX_AM_HEADER;
    status = ucp_worker_query(net->worker, &wattr);
    if (status != UCS_OK) {
        rc = net_status_to_errno(status);
        snprintf(err, errlen, "failed to query UCX worker: %s", ucs_status_string(status));
        goto err_destroy_worker;
    }
    net->addr = wattr.address;
    net->addr_len = wattr.address_length;
    net->max_am_header = wattr.max_am_header;
    log_debug("net: worker address %zu bytes, max AM header %zu bytes, thread mode %s, "
              "wireup purge filter %s, transports:%s%s",
              net->addr_len, net->max_am_header, serialized ? "serialized" : "single",
              net_purge_filter_active() ? "on" : "off", net->has_shm ? " shared memory" : "",
              net->has_rdma      ? " rdma"
              : net->has_network ? " tcp"
                                 : "");
    if (net->max_am_header < NET_MIN_AM_HEADER) {
        rc = -EOPNOTSUPP;
        snprintf(err, errlen,
                 "UCX transports allow only %zu-byte active message headers, "
                 "BenchFS needs %d (UCX_TLS=%s: choose other transports)",
                 net->max_am_header, NET_MIN_AM_HEADER, net_env("UCX_TLS"));
        goto err_release_addr;
    }

    /* Not fatal: a worker without an event fd can still be polled. */
    status = ucp_worker_get_efd(net->worker, &net->efd);
    if (status != UCS_OK) {
        net->efd = net_status_to_errno(status);
        log_warn("net: UCX worker has no event fd (%s); callers must busy-poll",
                 ucs_status_string(status));
    }

    *net_p = net;
    return 0;

err_release_addr:
    ucp_worker_release_address(net->worker, net->addr);
err_destroy_worker:
    net_guard_forget(net->guard_fds, net->nguard);
    ucp_worker_destroy(net->worker);
err_cleanup_ctx:
    ucp_cleanup(net->ctx);
err_free:
    free(net);
    return rc;
}

void net_destroy(struct net *net)
{
    struct net_rndv *rd;

    if (net == NULL)
        return;
    if (net->cb_depth > 0) {
        /* UCX would free the worker under its own feet: leak it instead. */
        log_error("net: net_destroy called from a callback; not destroying");
        return;
    }

    net_ep_destroy_all(net);
    if (net->rndv_kept > 0)
        log_warn("net: %zu rendezvous descriptors were kept and never received or dropped",
                 net->rndv_kept);

    /*
     * ucp_worker_destroy purges requests still queued on its endpoints with
     * UCS_ERR_CANCELED: their callbacks may run from in here (net.h says so)
     * and need `net`, which is freed only below.
     */
    net_guard_forget(net->guard_fds, net->nguard);
    net->cb_depth++;
    ucp_worker_release_address(net->worker, net->addr);
    ucp_worker_destroy(net->worker);
    net->cb_depth--;
    ucp_cleanup(net->ctx);

    while ((rd = net->rndv_all) != NULL) {
        net->rndv_all = rd->next_all;
        free(rd);
    }
    free(net);
}

int net_address(struct net *net, const void **addr_p, size_t *len_p)
{
    *addr_p = net->addr;
    *len_p = net->addr_len;
    return 0;
}

size_t net_max_am_header(const struct net *net)
{
    return net->max_am_header;
}

/* ---- receiving -------------------------------------------------------- */

static struct net_rndv *net_rndv_get(struct net *net)
{
    struct net_rndv *rd = net->rndv_free;

    if (rd != NULL) {
        net->rndv_free = rd->next_free;
        return rd;
    }
    rd = calloc(1, sizeof(*rd));
    if (rd == NULL)
        return NULL;
    rd->next_all = net->rndv_all;
    net->rndv_all = rd;
    return rd;
}

static void net_rndv_put(struct net *net, struct net_rndv *rd)
{
    rd->ucx_desc = NULL;
    rd->len = 0;
    rd->state = NET_RNDV_FREE;
    rd->next_free = net->rndv_free;
    net->rndv_free = rd;
}

/* The rendezvous half of net_am_recv: see the rules in the file comment. */
static ucs_status_t net_am_recv_rndv(struct net_handler *h, struct net_msg *msg, void *data,
                                     size_t length)
{
    struct net *net = h->net;
    struct net_rndv *rd;
    int ret;

    rd = net_rndv_get(net);
    if (rd == NULL) {
        /* An error status drops the data and fails the sender's send. */
        log_error("net: out of memory for a rendezvous descriptor (%zu bytes dropped)", length);
        return UCS_ERR_NO_MEMORY;
    }
    rd->ucx_desc = data;
    rd->len = length;
    rd->state = NET_RNDV_IN_CB;
    msg->rndv = true;
    msg->desc = rd;

    ret = h->cb(h->arg, msg);

    switch (rd->state) {
    case NET_RNDV_RECEIVED:
        /* UCX knows a receive was started; it must not see an error here. */
        net_rndv_put(net, rd);
        return UCS_OK;
    case NET_RNDV_DROPPED:
        net_rndv_put(net, rd);
        return UCS_OK;
    case NET_RNDV_IN_CB:
        if (ret == 1) {
            rd->state = NET_RNDV_KEPT;
            net->rndv_kept++;
            return UCS_INPROGRESS;
        }
        log_debug("net: rendezvous data of %zu bytes neither received nor kept; dropped", length);
        net_rndv_put(net, rd);
        return UCS_OK;
    default:
        log_error("net: rendezvous descriptor in bad state %d after callback", (int)rd->state);
        net_rndv_put(net, rd);
        return UCS_OK;
    }
}

/* ucp_am_recv_callback_t: fills a net_msg and calls the user's callback. */
static ucs_status_t net_am_recv(void *arg, const void *header, size_t header_length, void *data,
                                size_t length, const ucp_am_recv_param_t *param)
{
    struct net_handler *h = arg;
    struct net *net = h->net;
    struct net_msg msg;
    int ret;

    memset(&msg, 0, sizeof(msg));
    msg.hdr = header_length != 0 ? header : NULL;
    msg.hdr_len = header_length;
    msg.data_len = length;
    if (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP)
        msg.reply = param->reply_ep;

    net->stats.msgs_in++;
    net->stats.bytes_in += header_length + length;

    if (h->cb == NULL) {
        /* A handler cleared while messages were in flight. */
        log_debug("net: message for AM id without handler dropped");
        return UCS_OK;
    }

    if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
        net->stats.rndv_in++;
        return net_am_recv_rndv(h, &msg, data, length);
    }

    msg.data = length != 0 ? data : NULL;
    ret = h->cb(h->arg, &msg);
    if (ret == 1)
        log_debug("net: receive callback tried to keep eager data; ignored");
    /* Eager data (also with UCP_AM_RECV_ATTR_FLAG_DATA) is released by UCX. */
    return UCS_OK;
}

int net_set_handler(struct net *net, unsigned am_id, net_recv_cb_t cb, void *arg)
{
    ucp_am_handler_param_t p;
    ucs_status_t status;

    if (am_id >= NET_AM_ID_MAX)
        return -EINVAL;
    net->handlers[am_id].cb = cb;
    net->handlers[am_id].arg = arg;

    memset(&p, 0, sizeof(p));
    p.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                   UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG;
    p.id = am_id;
    p.flags = UCP_AM_FLAG_WHOLE_MSG;
    p.cb = cb != NULL ? net_am_recv : NULL;
    p.arg = &net->handlers[am_id];
    status = ucp_worker_set_am_recv_handler(net->worker, &p);
    if (status != UCS_OK) {
        log_error("net: cannot set handler for AM id %u: %s", am_id, ucs_status_string(status));
        net->handlers[am_id].cb = NULL;
        return net_status_to_errno(status);
    }
    return 0;
}

/* ---- completions ------------------------------------------------------ */

/*
 * Common end of a send or receive request: count it, free the request, then
 * call the user. The request is freed first so the user's callback may start
 * new operations freely.
 */
static void net_req_complete(struct net *net, void *request, ucs_status_t status, bool is_send)
{
    struct net_req *r = request;
    int rc = status == UCS_OK ? 0 : net_status_to_errno(status);
    net_done_cb_t cb;
    void *arg;

    if (!r->armed) {
        /* Completed inside the *_nbx call, before we filled in cb/arg. */
        r->early_done = true;
        r->early_status = rc;
        return;
    }
    cb = r->cb;
    arg = r->arg;
    if (is_send) {
        if (rc == 0) {
            net->stats.bytes_out += r->bytes;
        } else {
            net->stats.send_errors++;
        }
    }
    r->armed = false;
    r->cb = NULL;
    r->arg = NULL;
    ucp_request_free(request);

    net->cb_depth++;
    if (cb != NULL)
        cb(arg, rc);
    net->cb_depth--;
}

static void net_send_done(void *request, ucs_status_t status, void *user_data)
{
    net_req_complete(user_data, request, status, true);
}

static void net_recv_done(void *request, ucs_status_t status, size_t length, void *user_data)
{
    net_req_complete(user_data, request, status, false);
}

/*
 * Turn an *_nbx result into our 0 / 1 / -errno convention; for a request,
 * arm it with the user's callback.
 */
static int net_req_start(struct net *net, ucs_status_ptr_t sp, net_done_cb_t cb, void *arg,
                         size_t bytes)
{
    struct net_req *r;
    int rc;

    if (sp == NULL)
        return 0;
    if (UCS_PTR_IS_ERR(sp))
        return net_status_to_errno(UCS_PTR_STATUS(sp));

    r = sp;
    if (r->early_done) {
        rc = r->early_status;
        r->early_done = false;
        ucp_request_free(sp);
        return rc;
    }
    r->cb = cb;
    r->arg = arg;
    r->bytes = bytes;
    r->armed = true;
    return 1;
}

/* ---- sending ---------------------------------------------------------- */

int net_send(struct net *net, net_peer_t peer, unsigned am_id, const void *hdr, size_t hdr_len,
             const void *data, size_t data_len, unsigned flags, net_done_cb_t cb, void *arg)
{
    ucp_request_param_t p;
    ucs_status_ptr_t sp;
    int rc;

    if (peer == NULL || am_id >= NET_AM_ID_MAX || (hdr == NULL && hdr_len != 0) ||
        (data == NULL && data_len != 0) || (flags & ~NET_SEND_REPLY) != 0)
        return -EINVAL;
    if (hdr_len > net->max_am_header)
        return -EMSGSIZE;

    memset(&p, 0, sizeof(p));
    p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                     UCP_OP_ATTR_FIELD_DATATYPE | UCP_OP_ATTR_FIELD_FLAGS;
    p.cb.send = net_send_done;
    p.user_data = net;
    p.datatype = ucp_dt_make_contig(1);
    p.flags = (flags & NET_SEND_REPLY) ? UCP_AM_SEND_FLAG_REPLY : 0;

    sp = ucp_am_send_nbx((ucp_ep_h)peer, am_id, hdr, hdr_len, data, data_len, &p);
    rc = net_req_start(net, sp, cb, arg, hdr_len + data_len);
    if (rc >= 0)
        net->stats.msgs_out++;
    if (rc == 0)
        net->stats.bytes_out += hdr_len + data_len;
    else if (rc < 0)
        net->stats.send_errors++;
    return rc;
}

int net_recv_data(struct net *net, void *desc, void *buf, size_t len, net_done_cb_t cb, void *arg)
{
    struct net_rndv *rd = desc;
    ucp_request_param_t p;
    ucs_status_ptr_t sp;
    bool in_cb;
    void *ucx_desc;

    if (rd == NULL || (rd->state != NET_RNDV_IN_CB && rd->state != NET_RNDV_KEPT)) {
        log_error("net: net_recv_data on a descriptor that is not live");
        return -EINVAL;
    }
    in_cb = rd->state == NET_RNDV_IN_CB;
    if (len < rd->len || (buf == NULL && rd->len != 0)) {
        log_error("net: receive buffer of %zu bytes for %zu bytes of rendezvous data", len,
                  rd->len);
        net_data_drop(net, desc);
        return -EMSGSIZE;
    }
    ucx_desc = rd->ucx_desc;

    /* UCX owns the descriptor from here on, whatever the outcome. */
    if (in_cb) {
        rd->state = NET_RNDV_RECEIVED; /* net_am_recv_rndv recycles rd */
    } else {
        net->rndv_kept--;
        net_rndv_put(net, rd);
    }

    memset(&p, 0, sizeof(p));
    p.op_attr_mask =
        UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_DATATYPE;
    p.cb.recv_am = net_recv_done;
    p.user_data = net;
    p.datatype = ucp_dt_make_contig(1);
    sp = ucp_am_recv_data_nbx(net->worker, ucx_desc, buf, len, &p);
    return net_req_start(net, sp, cb, arg, len);
}

void net_data_drop(struct net *net, void *desc)
{
    struct net_rndv *rd = desc;

    if (rd == NULL)
        return;
    switch (rd->state) {
    case NET_RNDV_IN_CB:
        /* Returning UCS_OK from the AM callback makes UCX drop it. */
        rd->state = NET_RNDV_DROPPED;
        break;
    case NET_RNDV_KEPT:
        /* Sends the sender its acknowledgement (its send completes OK). */
        ucp_am_data_release(net->worker, rd->ucx_desc);
        net->rndv_kept--;
        net_rndv_put(net, rd);
        break;
    default:
        log_error("net: net_data_drop on a descriptor that is not live");
        break;
    }
}

/* ---- progress and wakeup ---------------------------------------------- */

unsigned net_progress(struct net *net)
{
    unsigned n;

    if (net->cb_depth > 0) {
        /* UCX forbids ucp_worker_progress from its own callbacks. */
        log_error("net: net_progress called from a callback; ignored");
        return 0;
    }
    net->cb_depth++;
    n = ucp_worker_progress(net->worker);
    n += net_ep_dispatch_failed(net);
    net->cb_depth--;
    net_ep_reap_closing(net, false);
    return n;
}

int net_efd(struct net *net)
{
    return net->efd;
}

int net_arm(struct net *net)
{
    ucs_status_t status;

    if (net->efd < 0)
        return net->efd;
    /* A failed ep waits for its err_cb in net_progress: not idle yet. */
    if (!list_empty(&net->failed))
        return -EAGAIN;
    status = ucp_worker_arm(net->worker);
    if (status == UCS_OK)
        return 0;
    if (status == UCS_ERR_BUSY)
        return -EAGAIN;
    return net_status_to_errno(status);
}

size_t net_closes_abandoned(const struct net *net)
{
    return net->closes_abandoned;
}

void net_get_stats(const struct net *net, struct net_stats *st_p)
{
    *st_p = net->stats;
}
