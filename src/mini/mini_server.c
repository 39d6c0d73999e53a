/*
 * mini_server.c - BenchFS Mini server: listener, connections, serving loop.
 * See mini_server.h for the structure of the loop.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream, strsignal, ... */
#endif
#include "mini/mini_server.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mini/mini_frame.h"
#include "mini/mini_log.h"
#include "mini/mini_net.h"
#include "mini/mini_registry.h"
#include "mini/mini_store.h"
#include "mini/mini_time.h"

/* Endpoints taken from ucp_stream_worker_poll per call. */
#define SERVER_POLL_EPS 16
/* Bound on waiting for replies to drain at shutdown. */
#define SERVER_DRAIN_NS (2ULL * 1000 * 1000 * 1000)

struct server_conn {
    struct server_conn *next;
    struct mini_server *srv;
    ucp_ep_h ep; /* NULL once closed */
    uint64_t id;
    char peer[80];
    struct mini_req_decoder dec;
    uint64_t frame_start_ns; /* when the first byte of the current frame came */
    double frame_start_wall;
    unsigned sends_pending; /* replies posted and not yet completed */
    int broken;             /* error seen: close and free it */
};

/* One reply in flight; the iov must live until the send completes. */
struct server_reply {
    struct server_conn *conn;
    struct mini_obj *obj; /* READ: the object the data comes from (a reference) */
    uint8_t head[MINI_REPLY_READ_HDR_SIZE];
    ucp_dt_iov_t iov[2];
};

struct mini_server {
    char registry[PATH_MAX];
    int rank;
    char host[MINI_REGISTRY_HOST_MAX + 1];
    uint16_t port;
    int published;
    struct mini_worker w;
    ucp_listener_h listener;
    struct mini_store *store;
    struct server_conn *conns;
    uint64_t next_conn_id;
    int stop_fd;
    atomic_int stop;
    pthread_t thread;
    int running;
    uint64_t rpcs;
};

static void server_conn_break(struct server_conn *conn, ucs_status_t status, const char *why)
{
    if (conn->broken)
        return;
    conn->broken = 1;
    mini_log_info("connection %llu from %s closed: %s (%s)", (unsigned long long)conn->id,
                  conn->peer, why, ucs_status_string(status));
}

static void server_on_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    server_conn_break(arg, status, "endpoint error");
}

static void server_on_conn_request(ucp_conn_request_h request, void *arg)
{
    struct mini_server *srv = arg;
    ucp_conn_request_attr_t attr = {.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR};
    ucp_ep_params_t params = {0};
    struct server_conn *conn;
    char what[64];
    ucs_status_t status;

    conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        mini_log_error("out of memory accepting a connection: rejecting it");
        ucp_listener_reject(srv->listener, request);
        return;
    }
    conn->srv = srv;
    conn->id = ++srv->next_conn_id;
    snprintf(conn->peer, sizeof(conn->peer), "?");
    if (ucp_conn_request_query(request, &attr) == UCS_OK)
        mini_sockaddr_str((struct sockaddr *)&attr.client_address, conn->peer, sizeof(conn->peer));

    params.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                        UCP_EP_PARAM_FIELD_ERR_HANDLER | UCP_EP_PARAM_FIELD_USER_DATA;
    params.conn_request = request;
    params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    params.err_handler.cb = server_on_ep_error;
    params.err_handler.arg = conn;
    /* ucp_stream_worker_poll hands this back for endpoints with data. */
    params.user_data = conn;
    status = ucp_ep_create(srv->w.worker, &params, &conn->ep);
    if (status != UCS_OK) {
        mini_log_error("accepting connection from %s: ucp_ep_create: %s", conn->peer,
                       ucs_status_string(status));
        free(conn);
        return;
    }
    mini_req_decoder_init(&conn->dec);
    conn->next = srv->conns;
    srv->conns = conn;
    mini_log_info("accepted connection %llu from %s", (unsigned long long)conn->id, conn->peer);
    snprintf(what, sizeof(what), "accept conn %llu", (unsigned long long)conn->id);
    mini_ep_log(conn->ep, what);
}

static void server_reply_done(void *request, ucs_status_t status, void *user_data)
{
    struct server_reply *reply = user_data;

    if (status != UCS_OK)
        server_conn_break(reply->conn, status, "reply not delivered");
    reply->conn->sends_pending--;
    mini_obj_unref(reply->obj);
    free(reply);
    ucp_request_free(request);
}

/*
 * Post the reply to a frame: status only, or (READ) status + length + the
 * first `n` bytes of `obj`. Takes over the reference on `obj`.
 */
static void server_send_reply(struct server_conn *conn, uint16_t id, int32_t status,
                              struct mini_obj *obj, size_t n)
{
    struct server_reply *reply = malloc(sizeof(*reply));
    ucp_request_param_t param = {0};
    ucs_status_ptr_t sp;
    size_t iovcnt = 1;

    if (reply == NULL) {
        /* Skipping a reply would desynchronize the client: drop the connection. */
        mini_obj_unref(obj);
        server_conn_break(conn, UCS_ERR_NO_MEMORY, "no memory for a reply");
        return;
    }
    reply->conn = conn;
    reply->obj = obj;
    if (id == MINI_RPC_READ) {
        mini_reply_read_hdr_pack(status, (uint32_t)n, reply->head);
        reply->iov[0].length = MINI_REPLY_READ_HDR_SIZE;
    } else {
        mini_reply_status_pack(status, reply->head);
        reply->iov[0].length = MINI_REPLY_STATUS_SIZE;
    }
    reply->iov[0].buffer = reply->head;
    if (n > 0) {
        reply->iov[1].buffer = obj->data;
        reply->iov[1].length = n;
        iovcnt = 2;
    }
    param.op_attr_mask =
        UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_DATATYPE;
    param.cb.send = server_reply_done;
    param.user_data = reply;
    param.datatype = ucp_dt_make_iov();
    sp = ucp_stream_send_nbx(conn->ep, reply->iov, iovcnt, &param);
    if (sp == NULL) {
        /* Completed in place: the callback is not called. */
        mini_obj_unref(obj);
        free(reply);
        return;
    }
    if (UCS_PTR_IS_ERR(sp)) {
        server_conn_break(conn, UCS_PTR_STATUS(sp), "reply send failed");
        mini_obj_unref(obj);
        free(reply);
        return;
    }
    conn->sends_pending++;
}

/* Serve one decoded frame and post its reply. */
static void server_serve(struct server_conn *conn, struct mini_req *req)
{
    struct mini_server *srv = conn->srv;
    struct mini_obj *obj = NULL;
    int32_t status = req->status;
    size_t n = 0;

    if (status == 0 && req->id == MINI_RPC_WRITE) {
        n = req->len;
        if (mini_store_put(srv->store, req->path, req->data, req->len) != 0) {
            free(req->data);
            status = -ENOMEM;
        }
        req->data = NULL;
    } else if (status == 0 && req->id == MINI_RPC_READ) {
        obj = mini_store_get(srv->store, req->path);
        if (obj == NULL)
            status = -ENOENT;
        else
            n = obj->len < req->len ? obj->len : req->len;
    }
    srv->rpcs++;
    if (mini_log_enabled(MINI_LOG_DEBUG)) {
        mini_log_debug("rpc %s id=%u conn=%llu path=%s size=%zu status=%d start=%.6f end=%.6f "
                       "us=%llu",
                       mini_rpc_name(req->id), (unsigned)req->id, (unsigned long long)conn->id,
                       req->path, n, (int)status, conn->frame_start_wall, mini_wall_s(),
                       (unsigned long long)((mini_now_ns() - conn->frame_start_ns) / 1000));
    }
    server_send_reply(conn, req->id, status, obj, status == 0 && obj != NULL ? n : 0);
}

/* Feed everything the endpoint has received into its decoder. */
static void server_drain(struct server_conn *conn)
{
    while (!conn->broken) {
        size_t len = 0, off = 0;
        ucs_status_ptr_t sp = ucp_stream_recv_data_nb(conn->ep, &len);

        if (sp == NULL)
            return;
        if (UCS_PTR_IS_ERR(sp)) {
            server_conn_break(conn, UCS_PTR_STATUS(sp), "receive failed");
            return;
        }
        while (off < len && !conn->broken) {
            struct mini_req req;
            int done;

            if (conn->dec.state == MINI_DEC_HDR && conn->dec.hdr_fill == 0) {
                conn->frame_start_ns = mini_now_ns();
                conn->frame_start_wall = mini_wall_s();
            }
            off += mini_req_decoder_feed(&conn->dec, (const uint8_t *)sp + off, len - off, &req,
                                         &done);
            if (done)
                server_serve(conn, &req);
        }
        ucp_stream_data_release(conn->ep, sp);
    }
}

static int server_poll_streams(struct mini_server *srv)
{
    ucp_stream_poll_ep_t eps[SERVER_POLL_EPS];
    int work = 0;
    ssize_t n;

    do {
        n = ucp_stream_worker_poll(srv->w.worker, eps, SERVER_POLL_EPS, 0);
        for (ssize_t i = 0; i < n; i++) {
            server_drain(eps[i].user_data);
            work = 1;
        }
    } while (n == SERVER_POLL_EPS);
    return work;
}

/* Close broken connections, and free them once no reply references them. */
static void server_reap(struct mini_server *srv)
{
    struct server_conn **link = &srv->conns;

    while (*link != NULL) {
        struct server_conn *conn = *link;

        if (conn->broken && conn->ep != NULL) {
            ucp_ep_h ep = conn->ep;
            conn->ep = NULL;
            /* Nested progress: callbacks may add connections at the list head. */
            mini_ep_close(&srv->w, ep);
        }
        if (conn->ep == NULL && conn->sends_pending == 0) {
            /* Re-find the link: new connections may have been pushed in front. */
            link = &srv->conns;
            while (*link != conn)
                link = &(*link)->next;
            *link = conn->next;
            mini_req_decoder_cleanup(&conn->dec);
            free(conn);
            continue;
        }
        link = &conn->next;
    }
}

static void *server_main(void *arg)
{
    struct mini_server *srv = arg;
    char tag[32];

    snprintf(tag, sizeof(tag), "srv%d", srv->rank);
    mini_log_set_tag(tag);
    mini_log_info("serving on port %u", (unsigned)srv->port);
    while (!atomic_load(&srv->stop)) {
        int work = ucp_worker_progress(srv->w.worker) != 0;

        work |= server_poll_streams(srv);
        server_reap(srv);
        if (work)
            continue;
        if (mini_worker_wait(&srv->w, srv->stop_fd, -1) == 1)
            break;
    }
    mini_log_info("stopping after %llu rpcs, %zu objects, %llu bytes",
                  (unsigned long long)srv->rpcs, mini_store_count(srv->store),
                  (unsigned long long)mini_store_bytes(srv->store));
    return NULL;
}

static int server_listen(struct mini_server *srv)
{
    struct sockaddr_in addr = {0};
    ucp_listener_params_t params = {0};
    ucp_listener_attr_t attr = {0};
    ucs_status_t status;

    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(0);
    params.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
    params.sockaddr.addr = (const struct sockaddr *)&addr;
    params.sockaddr.addrlen = sizeof(addr);
    params.conn_handler.cb = server_on_conn_request;
    params.conn_handler.arg = srv;
    status = ucp_listener_create(srv->w.worker, &params, &srv->listener);
    if (status != UCS_OK)
        return mini_fail(MINI_LOG_ERROR, mini_status_errno(status), "ucp_listener_create: %s",
                         ucs_status_string(status));

    attr.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
    status = ucp_listener_query(srv->listener, &attr);
    if (status != UCS_OK) {
        ucp_listener_destroy(srv->listener);
        srv->listener = NULL;
        return mini_fail(MINI_LOG_ERROR, mini_status_errno(status), "ucp_listener_query: %s",
                         ucs_status_string(status));
    }
    srv->port = ntohs(((struct sockaddr_in *)&attr.sockaddr)->sin_port);
    return 0;
}

int mini_server_create(const char *registry, int rank, const char *host, struct mini_server **srv_p)
{
    struct mini_server *srv;
    char file[PATH_MAX + 32];
    int ret;

    if (strlen(registry) >= sizeof(srv->registry) || strlen(host) > MINI_REGISTRY_HOST_MAX)
        return mini_fail(MINI_LOG_ERROR, -ENAMETOOLONG, "registry dir or host name too long");
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return mini_fail(MINI_LOG_ERROR, -ENOMEM, "out of memory creating the server");
    strcpy(srv->registry, registry);
    strcpy(srv->host, host);
    srv->rank = rank;
    srv->stop_fd = -1;
    atomic_init(&srv->stop, 0);

    ret = mini_store_create(&srv->store);
    if (ret != 0) {
        mini_fail(MINI_LOG_ERROR, ret, "out of memory creating the store");
        goto err_free;
    }
    srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv->stop_fd < 0) {
        ret = mini_fail(MINI_LOG_ERROR, -errno, "eventfd: %s", strerror(errno));
        goto err_destroy_store;
    }
    ret = mini_worker_create(&srv->w, "benchfs_mini_server");
    if (ret != 0)
        goto err_close_fd;
    ret = server_listen(srv);
    if (ret != 0)
        goto err_destroy_worker;
    ret = mini_registry_publish(registry, rank, host, srv->port);
    if (ret != 0) {
        mini_fail(MINI_LOG_ERROR, ret, "publishing server_%d.txt in %s: %s", rank, registry,
                  strerror(-ret));
        goto err_destroy_listener;
    }
    srv->published = 1;
    mini_registry_file(registry, rank, file, sizeof(file));
    mini_log_info("rank %d listening on 0.0.0.0:%u, registered %s:%u in %s", rank,
                  (unsigned)srv->port, host, (unsigned)srv->port, file);
    *srv_p = srv;
    return 0;

err_destroy_listener:
    ucp_listener_destroy(srv->listener);
err_destroy_worker:
    mini_worker_destroy(&srv->w);
err_close_fd:
    close(srv->stop_fd);
err_destroy_store:
    mini_store_destroy(srv->store);
err_free:
    free(srv);
    return ret;
}

int mini_server_start(struct mini_server *srv)
{
    sigset_t all, old;
    int ret;

    if (srv->running)
        return mini_fail(MINI_LOG_ERROR, -EALREADY, "the server is already running");
    /* The thread inherits a full signal mask: signals belong to the application. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    ret = pthread_create(&srv->thread, NULL, server_main, srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ret != 0)
        return mini_fail(MINI_LOG_ERROR, -ret, "pthread_create: %s", strerror(ret));
    srv->running = 1;
    return 0;
}

uint16_t mini_server_port(const struct mini_server *srv)
{
    return srv->port;
}

void mini_server_destroy(struct mini_server *srv)
{
    uint64_t one = 1, deadline;

    if (srv == NULL)
        return;
    /* Stop advertising first, so no new client picks this server up. */
    if (srv->published)
        mini_registry_unpublish(srv->registry, srv->rank);
    if (srv->running) {
        atomic_store(&srv->stop, 1);
        if (write(srv->stop_fd, &one, sizeof(one)) < 0)
            mini_log_warn("waking the server thread: %s", strerror(errno));
        pthread_join(srv->thread, NULL);
        srv->running = 0;
    }
    /* From here on this thread owns the worker again. */
    for (struct server_conn *c = srv->conns; c != NULL; c = c->next) {
        if (c->ep != NULL) {
            ucp_ep_h ep = c->ep;
            c->ep = NULL;
            c->broken = 1;
            mini_ep_close(&srv->w, ep);
        }
    }
    deadline = mini_now_ns() + SERVER_DRAIN_NS;
    for (;;) {
        unsigned pending = 0;
        for (struct server_conn *c = srv->conns; c != NULL; c = c->next)
            pending += c->sends_pending;
        if (pending == 0 || mini_now_ns() >= deadline)
            break;
        mini_worker_wait(&srv->w, -1, 10);
    }
    while (srv->conns != NULL) {
        struct server_conn *c = srv->conns;
        srv->conns = c->next;
        mini_req_decoder_cleanup(&c->dec);
        free(c);
    }
    ucp_listener_destroy(srv->listener);
    mini_worker_destroy(&srv->w);
    close(srv->stop_fd);
    mini_store_destroy(srv->store);
    free(srv);
}
