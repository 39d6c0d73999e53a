/*
 * mini_net.c - UCX helpers for BenchFS Mini, see mini_net.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream, strsignal, ... */
#endif
#include "mini/mini_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mini/mini_log.h"
#include "mini/mini_time.h"

/* How long a forced close may take before we give up waiting for it. */
#define NET_REAP_NS (5ULL * 1000 * 1000 * 1000)

int mini_status_errno(ucs_status_t status)
{
    switch (status) {
    case UCS_OK:
        return 0;
    case UCS_ERR_NO_MEMORY:
        return -ENOMEM;
    case UCS_ERR_INVALID_PARAM:
    case UCS_ERR_INVALID_ADDR:
        return -EINVAL;
    case UCS_ERR_TIMED_OUT:
        return -ETIMEDOUT;
    case UCS_ERR_ENDPOINT_TIMEOUT:
        /* What UCX 1.13 reports when the peer vanished (reset, process died). */
        return -ECONNRESET;
    case UCS_ERR_UNREACHABLE:
        return -EHOSTUNREACH;
    case UCS_ERR_CONNECTION_RESET:
        return -ECONNRESET;
    case UCS_ERR_REJECTED:
        return -ECONNREFUSED;
    case UCS_ERR_NOT_CONNECTED:
        return -ENOTCONN;
    case UCS_ERR_CANCELED:
        return -ECANCELED;
    case UCS_ERR_UNSUPPORTED:
        return -ENOTSUP;
    case UCS_ERR_NOT_IMPLEMENTED:
        return -ENOSYS;
    case UCS_ERR_BUSY:
        return -EBUSY;
    case UCS_ERR_NO_RESOURCE:
        return -EAGAIN;
    case UCS_ERR_NO_ELEM:
        return -ENOENT;
    case UCS_ERR_NO_DEVICE:
        return -ENODEV;
    case UCS_ERR_MESSAGE_TRUNCATED:
        return -EMSGSIZE;
    case UCS_ERR_BUFFER_TOO_SMALL:
        return -ENOBUFS;
    case UCS_ERR_OUT_OF_RANGE:
        return -ERANGE;
    case UCS_ERR_ALREADY_EXISTS:
        return -EEXIST;
    case UCS_ERR_EXCEEDS_LIMIT:
        return -E2BIG;
    default:
        return -EIO;
    }
}

int mini_worker_create(struct mini_worker *w, const char *name)
{
    ucp_params_t params = {0};
    ucp_worker_params_t wparams = {0};
    ucp_config_t *config;
    ucs_status_t status;

    memset(w, 0, sizeof(*w));
    w->efd = -1;
    status = ucp_config_read(NULL, NULL, &config);
    if (status != UCS_OK)
        return mini_fail(MINI_LOG_ERROR, mini_status_errno(status), "ucp_config_read: %s",
                         ucs_status_string(status));
    params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME;
    params.features = UCP_FEATURE_STREAM | UCP_FEATURE_WAKEUP;
    params.name = name;
    status = ucp_init(&params, config, &w->context);
    ucp_config_release(config);
    if (status != UCS_OK)
        return mini_fail(MINI_LOG_ERROR, mini_status_errno(status), "ucp_init: %s",
                         ucs_status_string(status));

    wparams.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wparams.thread_mode = UCS_THREAD_MODE_SINGLE;
    status = ucp_worker_create(w->context, &wparams, &w->worker);
    if (status != UCS_OK) {
        mini_fail(MINI_LOG_ERROR, 0, "ucp_worker_create: %s", ucs_status_string(status));
        goto err_cleanup_context;
    }
    status = ucp_worker_get_efd(w->worker, &w->efd);
    if (status != UCS_OK) {
        mini_fail(MINI_LOG_ERROR, 0, "ucp_worker_get_efd: %s", ucs_status_string(status));
        goto err_destroy_worker;
    }
    return 0;

err_destroy_worker:
    ucp_worker_destroy(w->worker);
err_cleanup_context:
    ucp_cleanup(w->context);
    memset(w, 0, sizeof(*w));
    w->efd = -1;
    return mini_status_errno(status);
}

void mini_worker_destroy(struct mini_worker *w)
{
    if (w->worker != NULL)
        ucp_worker_destroy(w->worker);
    if (w->context != NULL)
        ucp_cleanup(w->context);
    memset(w, 0, sizeof(*w));
    w->efd = -1;
}

int mini_worker_wait(struct mini_worker *w, int extra_fd, int timeout_ms)
{
    struct pollfd fds[2];
    nfds_t nfds = 1;
    ucs_status_t status;

    if (ucp_worker_progress(w->worker) != 0)
        return 0;
    /* Arm only when idle; BUSY means events arrived meanwhile: progress again. */
    status = ucp_worker_arm(w->worker);
    if (status == UCS_ERR_BUSY)
        return 0;
    fds[0].fd = w->efd;
    fds[0].events = POLLIN;
    if (extra_fd >= 0) {
        fds[1].fd = extra_fd;
        fds[1].events = POLLIN;
        nfds = 2;
    }
    if (status != UCS_OK)
        timeout_ms = 0; /* cannot sleep safely: just spin */
    if (poll(fds, nfds, timeout_ms) > 0 && nfds == 2 && (fds[1].revents & POLLIN))
        return 1;
    return 0;
}

static void op_send_cb(void *request, ucs_status_t status, void *user_data)
{
    struct mini_op *op = user_data;

    op->status = status;
    op->done = 1;
}

static void op_recv_cb(void *request, ucs_status_t status, size_t length, void *user_data)
{
    struct mini_op *op = user_data;

    op->status = status;
    op->length = length;
    op->done = 1;
}

void mini_op_param_send(struct mini_op *op, ucp_request_param_t *param)
{
    memset(op, 0, sizeof(*op));
    memset(param, 0, sizeof(*param));
    param->op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param->cb.send = op_send_cb;
    param->user_data = op;
}

void mini_op_param_recv(struct mini_op *op, ucp_request_param_t *param)
{
    memset(op, 0, sizeof(*op));
    memset(param, 0, sizeof(*param));
    param->op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param->cb.recv_stream = op_recv_cb;
    param->user_data = op;
}

int mini_op_wait(struct mini_worker *w, ucs_status_ptr_t sp, struct mini_op *op,
                 uint64_t deadline_ns)
{
    if (sp == NULL) {
        op->done = 1;
        op->status = UCS_OK;
        return 0;
    }
    if (UCS_PTR_IS_ERR(sp)) {
        op->done = 1;
        op->status = UCS_PTR_STATUS(sp);
        return mini_status_errno(op->status);
    }
    while (!op->done) {
        int ms = mini_ms_until(deadline_ns);
        if (ms == 0 && mini_now_ns() >= deadline_ns) {
            /* Give it one last chance before declaring a timeout. */
            ucp_worker_progress(w->worker);
            if (op->done)
                break;
            return -ETIMEDOUT;
        }
        mini_worker_wait(w, -1, ms);
    }
    ucp_request_free(sp);
    return mini_status_errno(op->status);
}

void mini_op_reap(struct mini_worker *w, ucs_status_ptr_t sp, struct mini_op *op)
{
    uint64_t deadline = mini_now_ns() + NET_REAP_NS;

    if (sp == NULL || UCS_PTR_IS_ERR(sp))
        return;
    if (!op->done)
        ucp_request_cancel(w->worker, sp);
    while (!op->done && mini_now_ns() < deadline)
        mini_worker_wait(w, -1, 10);
    if (!op->done) {
        /* Freeing a live request would corrupt UCX; leaking it is the lesser evil. */
        mini_log_warn("UCX request %p did not complete after its endpoint was closed", sp);
        return;
    }
    ucp_request_free(sp);
}

int mini_ep_close(struct mini_worker *w, ucp_ep_h ep)
{
    ucp_request_param_t param;
    struct mini_op op;
    ucs_status_ptr_t sp;
    int ret;

    /*
     * Always a forced close: callers only close when no reply is expected
     * (every RPC waits for its reply) or when the connection is broken, and a
     * graceful close would wait for an unreachable peer to answer.
     */
    mini_op_param_send(&op, &param);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_EP_CLOSE_FLAG_FORCE;
    sp = ucp_ep_close_nbx(ep, &param);
    ret = mini_op_wait(w, sp, &op, mini_now_ns() + NET_REAP_NS);
    if (!op.done)
        mini_log_warn("closing endpoint %p did not complete; leaving it to UCX", (void *)ep);
    return ret;
}

void mini_sockaddr_str(const struct sockaddr *sa, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
        snprintf(buf, size, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(buf, size, "[%s]:%u", ip, port);
    } else {
        snprintf(buf, size, "(family %d)", sa->sa_family);
    }
}

void mini_ep_log(ucp_ep_h ep, const char *what)
{
    ucp_ep_attr_t attr = {0};
    char local[80] = "?", remote[80] = "?";
    char *text = NULL;
    size_t size = 0;
    FILE *f;

    if (!mini_log_enabled(MINI_LOG_INFO))
        return;
    attr.field_mask = UCP_EP_ATTR_FIELD_LOCAL_SOCKADDR | UCP_EP_ATTR_FIELD_REMOTE_SOCKADDR;
    if (ucp_ep_query(ep, &attr) == UCS_OK) {
        mini_sockaddr_str((struct sockaddr *)&attr.local_sockaddr, local, sizeof(local));
        mini_sockaddr_str((struct sockaddr *)&attr.remote_sockaddr, remote, sizeof(remote));
    }
    mini_log_info("%s: endpoint %p local %s remote %s", what, (void *)ep, local, remote);

    /* ucp_ep_print_info writes to a FILE: capture it and log line by line. */
    f = open_memstream(&text, &size);
    if (f == NULL)
        return;
    ucp_ep_print_info(ep, f);
    if (fclose(f) != 0 || text == NULL) {
        free(text);
        return;
    }
    for (char *line = text, *nl; *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (*line != '\0')
            mini_log_info("%s: %s", what, line);
        if (nl == NULL)
            break;
    }
    free(text);
}
