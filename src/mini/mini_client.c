/*
 * mini_client.c - BenchFS Mini client, see mini_client.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream, strsignal, ... */
#endif
#include "mini/mini_client.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mini/mini_frame.h"
#include "mini/mini_log.h"
#include "mini/mini_net.h"
#include "mini/mini_registry.h"
#include "mini/mini_time.h"

struct client_conn {
    ucp_ep_h ep;
    int rank;
    int failed; /* set by the error handler */
    ucs_status_t error;
    char host[MINI_REGISTRY_HOST_MAX + 1];
    uint16_t port;
};

struct mini_client {
    char registry[PATH_MAX];
    uint64_t timeout_ns;
    struct mini_worker w;
    struct client_conn **conns; /* indexed by rank */
    size_t nconns;
};

int mini_client_create(const char *registry, int timeout_ms, struct mini_client **cli_p)
{
    struct mini_client *cli;
    int ret;

    if (strlen(registry) >= sizeof(cli->registry))
        return mini_fail(MINI_LOG_ERROR, -ENAMETOOLONG, "registry path too long");
    cli = calloc(1, sizeof(*cli));
    if (cli == NULL)
        return mini_fail(MINI_LOG_ERROR, -ENOMEM, "out of memory creating the client");
    strcpy(cli->registry, registry);
    cli->timeout_ns = (uint64_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000000ULL;
    ret = mini_worker_create(&cli->w, "benchfs_mini_client");
    if (ret != 0) {
        free(cli);
        return ret;
    }
    *cli_p = cli;
    return 0;
}

static void client_on_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    struct client_conn *conn = arg;

    conn->failed = 1;
    conn->error = status;
    mini_log_warn("connection to server %d (%s:%u) failed: %s", conn->rank, conn->host,
                  (unsigned)conn->port, ucs_status_string(status));
}

/* Close and forget the connection to `rank`. */
static void client_drop(struct mini_client *cli, int rank)
{
    struct client_conn *conn;

    if (rank < 0 || (size_t)rank >= cli->nconns || cli->conns[rank] == NULL)
        return;
    conn = cli->conns[rank];
    cli->conns[rank] = NULL;
    if (conn->ep != NULL)
        mini_ep_close(&cli->w, conn->ep);
    free(conn);
}

void mini_client_destroy(struct mini_client *cli)
{
    if (cli == NULL)
        return;
    for (size_t i = 0; i < cli->nconns; i++)
        client_drop(cli, (int)i);
    free(cli->conns);
    mini_worker_destroy(&cli->w);
    free(cli);
}

static int client_slot(struct mini_client *cli, int rank)
{
    size_t n = cli->nconns;
    struct client_conn **conns;

    if ((size_t)rank < n)
        return 0;
    while (n <= (size_t)rank)
        n = n == 0 ? 8 : n * 2;
    conns = realloc(cli->conns, n * sizeof(*conns));
    if (conns == NULL)
        return -ENOMEM;
    memset(conns + cli->nconns, 0, (n - cli->nconns) * sizeof(*conns));
    cli->conns = conns;
    cli->nconns = n;
    return 0;
}

static int client_resolve(const char *host, uint16_t port, struct sockaddr_in *addr_p)
{
    struct addrinfo hints = {0}, *res;
    int rc;

    hints.ai_family = AF_INET; /* servers listen on 0.0.0.0 */
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0)
        return mini_fail(MINI_LOG_ERROR, -EHOSTUNREACH, "cannot resolve host %s: %s", host,
                         gai_strerror(rc));
    memcpy(addr_p, res->ai_addr, sizeof(*addr_p));
    addr_p->sin_port = htons(port);
    freeaddrinfo(res);
    return 0;
}

int mini_client_connect(struct mini_client *cli, int rank)
{
    uint64_t deadline = mini_now_ns() + cli->timeout_ns;
    ucp_ep_params_t params = {0};
    ucp_request_param_t param;
    struct client_conn *conn;
    struct sockaddr_in addr;
    struct mini_op op;
    ucs_status_t status;
    ucs_status_ptr_t sp;
    char what[64];
    int ret;

    if (rank < 0 || rank > BENCHFS_MINI_MAX_RANK)
        return mini_fail(MINI_LOG_ERROR, -EINVAL, "invalid server rank %d", rank);
    if (client_slot(cli, rank) != 0)
        return mini_fail(MINI_LOG_ERROR, -ENOMEM, "out of memory");
    if (cli->conns[rank] != NULL) {
        if (!cli->conns[rank]->failed)
            return 0;
        client_drop(cli, rank);
    }
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return mini_fail(MINI_LOG_ERROR, -ENOMEM, "out of memory");
    conn->rank = rank;

    ret = mini_registry_lookup(cli->registry, rank, deadline, conn->host, sizeof(conn->host),
                               &conn->port);
    if (ret == -ETIMEDOUT) {
        mini_fail(MINI_LOG_ERROR, ret, "server %d: %s/server_%d.txt did not appear within %llu ms",
                  rank, cli->registry, rank, (unsigned long long)(cli->timeout_ns / 1000000));
        goto err_free;
    }
    if (ret != 0) {
        mini_fail(MINI_LOG_ERROR, ret, "server %d: bad registry file %s/server_%d.txt: %s", rank,
                  cli->registry, rank, strerror(-ret));
        goto err_free;
    }
    ret = client_resolve(conn->host, conn->port, &addr);
    if (ret != 0)
        goto err_free;

    params.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR |
                        UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
    params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
    params.sockaddr.addr = (const struct sockaddr *)&addr;
    params.sockaddr.addrlen = sizeof(addr);
    params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    params.err_handler.cb = client_on_ep_error;
    params.err_handler.arg = conn;
    status = ucp_ep_create(cli->w.worker, &params, &conn->ep);
    if (status != UCS_OK) {
        ret = mini_fail(MINI_LOG_ERROR, mini_status_errno(status),
                        "server %d: ucp_ep_create to %s:%u: %s", rank, conn->host,
                        (unsigned)conn->port, ucs_status_string(status));
        conn->ep = NULL;
        goto err_free;
    }

    /* The endpoint connects in the background; a flush completes once it is up. */
    mini_op_param_send(&op, &param);
    sp = ucp_ep_flush_nbx(conn->ep, &param);
    ret = mini_op_wait(&cli->w, sp, &op, deadline);
    if (ret == 0 && conn->failed)
        ret = mini_status_errno(conn->error);
    if (ret != 0) {
        mini_fail(MINI_LOG_ERROR, ret, "server %d: connecting to %s:%u: %s", rank, conn->host,
                  (unsigned)conn->port, strerror(-ret));
        mini_ep_close(&cli->w, conn->ep);
        if (!op.done)
            mini_op_reap(&cli->w, sp, &op);
        goto err_free;
    }
    cli->conns[rank] = conn;
    mini_log_info("connected to server %d at %s:%u", rank, conn->host, (unsigned)conn->port);
    snprintf(what, sizeof(what), "connect server %d", rank);
    mini_ep_log(conn->ep, what);
    return 0;

err_free:
    free(conn);
    return ret;
}

int mini_client_disconnect(struct mini_client *cli, int rank)
{
    if (rank >= 0) {
        client_drop(cli, rank);
        return 0;
    }
    for (size_t i = 0; i < cli->nconns; i++)
        client_drop(cli, (int)i);
    return 0;
}

/*
 * Wait for a request on `conn`. On a timeout the endpoint is closed (the
 * stream would be out of step anyway) and the request reaped.
 */
static int client_wait(struct mini_client *cli, struct client_conn *conn, ucs_status_ptr_t sp,
                       struct mini_op *op, uint64_t deadline)
{
    int ret = mini_op_wait(&cli->w, sp, op, deadline);

    if (!op->done) {
        mini_ep_close(&cli->w, conn->ep);
        conn->ep = NULL;
        mini_op_reap(&cli->w, sp, op);
    }
    if (ret == 0 && conn->failed)
        ret = mini_status_errno(conn->error);
    return ret;
}

static int client_send(struct mini_client *cli, struct client_conn *conn, const ucp_dt_iov_t *iov,
                       size_t iovcnt, uint64_t deadline)
{
    ucp_request_param_t param;
    struct mini_op op;
    ucs_status_ptr_t sp;

    mini_op_param_send(&op, &param);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_DATATYPE;
    param.datatype = ucp_dt_make_iov();
    sp = ucp_stream_send_nbx(conn->ep, iov, iovcnt, &param);
    return client_wait(cli, conn, sp, &op, deadline);
}

/* Receive exactly `len` bytes (len > 0). */
static int client_recv(struct mini_client *cli, struct client_conn *conn, void *buf, size_t len,
                       uint64_t deadline)
{
    ucp_request_param_t param;
    struct mini_op op;
    ucs_status_ptr_t sp;
    size_t got = 0;
    int ret;

    mini_op_param_recv(&op, &param);
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_STREAM_RECV_FLAG_WAITALL;
    sp = ucp_stream_recv_nbx(conn->ep, buf, len, &got, &param);
    ret = client_wait(cli, conn, sp, &op, deadline);
    if (ret != 0)
        return ret;
    if (sp != NULL)
        got = op.length;
    return got == len ? 0 : -EPROTO;
}

/*
 * One RPC. Returns the server's status (0 or -errno), a local/transport
 * -errno, or for READ the number of bytes received. Transport and protocol
 * errors drop the connection.
 */
static ssize_t client_rpc(struct mini_client *cli, int rank, uint16_t id, const char *path,
                          const void *data, void *buf, size_t len)
{
    uint64_t start_ns = mini_now_ns(), deadline = start_ns + cli->timeout_ns;
    double start_wall = mini_wall_s();
    struct mini_req_hdr hdr;
    uint8_t head[MINI_REPLY_READ_HDR_SIZE], wire_hdr[MINI_REQ_HDR_SIZE];
    ucp_dt_iov_t iov[3];
    struct client_conn *conn;
    size_t path_len, iovcnt = 2;
    uint32_t data_len = 0;
    int32_t status;
    ssize_t ret;

    if (path == NULL || (path_len = strlen(path)) == 0)
        return mini_fail(MINI_LOG_ERROR, -EINVAL, "%s: empty path", mini_rpc_name(id));
    if (path_len > MINI_MAX_PATH)
        return mini_fail(MINI_LOG_ERROR, -ENAMETOOLONG, "%s: path longer than %d bytes",
                         mini_rpc_name(id), MINI_MAX_PATH);
    if (len > MINI_MAX_DATA)
        return mini_fail(MINI_LOG_ERROR, -EMSGSIZE, "%s %s: %zu bytes exceeds the limit of %u",
                         mini_rpc_name(id), path, len, (unsigned)MINI_MAX_DATA);
    if ((id == MINI_RPC_WRITE && data == NULL && len > 0) ||
        (id == MINI_RPC_READ && buf == NULL && len > 0))
        return mini_fail(MINI_LOG_ERROR, -EFAULT, "%s %s: NULL buffer", mini_rpc_name(id), path);
    ret = mini_client_connect(cli, rank);
    if (ret != 0)
        return ret;
    conn = cli->conns[rank];

    hdr.id = id;
    hdr.path_len = (uint32_t)path_len;
    hdr.len = (uint32_t)len;
    mini_req_hdr_pack(&hdr, wire_hdr);
    iov[0].buffer = wire_hdr;
    iov[0].length = sizeof(wire_hdr);
    iov[1].buffer = (void *)path;
    iov[1].length = path_len;
    if (id == MINI_RPC_WRITE && len > 0) {
        iov[2].buffer = (void *)data;
        iov[2].length = len;
        iovcnt = 3;
    }
    ret = client_send(cli, conn, iov, iovcnt, deadline);
    if (ret != 0)
        goto err_transport;

    if (id == MINI_RPC_WRITE) {
        ret = client_recv(cli, conn, head, MINI_REPLY_STATUS_SIZE, deadline);
        if (ret != 0)
            goto err_transport;
        status = mini_reply_status_unpack(head);
        if (mini_reply_status_check(status) != 0) {
            ret = -EPROTO;
            goto err_transport;
        }
        ret = status;
    } else {
        ret = client_recv(cli, conn, head, MINI_REPLY_READ_HDR_SIZE, deadline);
        if (ret != 0)
            goto err_transport;
        status = mini_reply_status_unpack(head);
        data_len = mini_get_u32(head + 4);
        if (mini_reply_read_check(status, data_len, len) != 0) {
            ret = -EPROTO;
            goto err_transport;
        }
        if (data_len > 0) {
            ret = client_recv(cli, conn, buf, data_len, deadline);
            if (ret != 0)
                goto err_transport;
        }
        ret = status < 0 ? status : (ssize_t)data_len;
    }

    mini_log_debug("rpc %s server=%d path=%s size=%zu status=%d start=%.6f end=%.6f us=%llu",
                   mini_rpc_name(id), rank, path, id == MINI_RPC_WRITE ? len : (size_t)data_len,
                   (int)(ret < 0 ? ret : 0), start_wall, mini_wall_s(),
                   (unsigned long long)((mini_now_ns() - start_ns) / 1000));
    if (ret < 0)
        return mini_fail(MINI_LOG_DEBUG, (int)ret, "server %d: %s %s: %s", rank, mini_rpc_name(id),
                         path, strerror((int)-ret));
    return ret;

err_transport:
    mini_fail(MINI_LOG_ERROR, (int)ret, "server %d (%s:%u): %s %s: %s%s", rank, conn->host,
              (unsigned)conn->port, mini_rpc_name(id), path,
              ret == -EPROTO ? "protocol violation by the server" : strerror((int)-ret),
              "; connection dropped");
    client_drop(cli, rank);
    return ret;
}

int mini_client_write(struct mini_client *cli, int rank, const char *path, const void *data,
                      size_t len)
{
    return (int)client_rpc(cli, rank, MINI_RPC_WRITE, path, data, NULL, len);
}

ssize_t mini_client_read(struct mini_client *cli, int rank, const char *path, void *buf, size_t len)
{
    return client_rpc(cli, rank, MINI_RPC_READ, path, NULL, buf, len);
}

int mini_client_progress(struct mini_client *cli)
{
    return (int)ucp_worker_progress(cli->w.worker);
}

int mini_client_send_raw(struct mini_client *cli, int rank, const void *buf, size_t len)
{
    ucp_dt_iov_t iov = {.buffer = (void *)buf, .length = len};
    int ret = mini_client_connect(cli, rank);

    if (ret != 0)
        return ret;
    ret = client_send(cli, cli->conns[rank], &iov, 1, mini_now_ns() + cli->timeout_ns);
    if (ret != 0)
        client_drop(cli, rank);
    return ret;
}

int mini_client_recv_raw(struct mini_client *cli, int rank, void *buf, size_t len)
{
    int ret = mini_client_connect(cli, rank);

    if (ret != 0)
        return ret;
    ret = client_recv(cli, cli->conns[rank], buf, len, mini_now_ns() + cli->timeout_ns);
    if (ret != 0)
        client_drop(cli, rank);
    return ret;
}
