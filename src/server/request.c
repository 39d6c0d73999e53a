/*
 * request.c - request lifecycle: from the UCX receive callback to the reply.
 *
 * The receive callback is a thin adapter: it validates the message harshly
 * (header, cookie, body, lengths, paths), copies the variable part, and
 * queues a struct sreq. Malformed messages get an error reply when they carry
 * enough of a header to be answered and are dropped otherwise; either way
 * the server goes on. The loop steps queued requests; replies of metadata
 * ops are held until the pass's metadata transaction commits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "server/server_int.h"

static const server_op_fn server_ops[PROTO_OP_COUNT] = {
#define SERVER_OP_ENTRY(name, req, rep) [PROTO_OP_##name] = server_op_##name,
    PROTO_OPS(SERVER_OP_ENTRY)
#undef SERVER_OP_ENTRY
};

int server_request_init(struct server *srv)
{
    list_init(&srv->ready);
    list_init(&srv->wait_buf);
    list_init(&srv->replies);
    list_init(&srv->in_ucx);
    list_init(&srv->zombies);
    return pool_create(sizeof(struct sreq), (size_t)srv->cfg.max_requests, 0, &srv->req_pool);
}

void server_request_cleanup(struct server *srv)
{
    struct list_node *n;

    /* After net_destroy: no completion can reach a zombie any more. */
    while ((n = list_pop_front(&srv->zombies)) != NULL) {
        struct sreq *r = list_entry(n, struct sreq, link);

        if (r->heap)
            free(r);
    }
    if (srv->req_pool != NULL)
        pool_destroy(srv->req_pool);
    srv->req_pool = NULL;
}

static struct sreq *sreq_alloc(struct server *srv)
{
    struct sreq *r = pool_get(srv->req_pool);
    bool heap = false;

    if (r == NULL) {
        /* Never lose a request: fall back to the heap, and count it so an
         * operator sees that max_requests is too small. */
        r = malloc(sizeof(*r));
        if (r == NULL)
            return NULL;
        heap = true;
        srv->stats.pool_overflow++;
    }
    memset(r, 0, offsetof(struct sreq, rep_msg));
    list_init(&r->link);
    r->srv = srv;
    r->heap = heap;
    r->state = SREQ_NEW;
    srv->inflight++;
    return r;
}

static void sreq_free(struct sreq *r)
{
    struct server *srv = r->srv;
    bool had_buf = r->iobuf != NULL;

    list_remove(&r->link);
    if (r->iobuf != NULL)
        chunk_buf_put(srv->chunks, r->iobuf);
    if (r->rndv_desc != NULL)
        net_data_drop(srv->net, r->rndv_desc);
    free(r->eager_copy);
    free(r->op_state);
    if (r->client != NULL)
        server_client_put(r->client);
    srv->inflight--;
    if (r->heap)
        free(r);
    else
        pool_put(srv->req_pool, r);
    if (had_buf)
        server_buffers_released(srv);
}

const char *sreq_path(const struct sreq *r)
{
    return r->data;
}

void sreq_queue(struct sreq *r)
{
    list_remove(&r->link);
    list_push_back(&r->srv->ready, &r->link);
}

static void server_error_sent(void *arg, int status)
{
    free(arg);
}

/* Reply to a message that never became a request (bad input). */
static void server_reply_error(struct server *srv, net_peer_t peer, const struct proto_hdr *req,
                               int status)
{
    struct proto_hdr h = *req;
    uint8_t *msg;
    int rc;

    if (peer == NULL)
        return;
    msg = malloc(PROTO_HDR_SIZE); /* lives until the send completes */
    if (msg == NULL)
        return;
    h.magic = PROTO_MAGIC;
    h.version = PROTO_VERSION;
    h.flags = PROTO_FLAG_REPLY;
    h.status = status;
    h.body_len = 0;
    h.data_len = 0;
    memset(h.cookie, 0, sizeof(h.cookie));
    proto_hdr_pack(&h, msg);
    rc = net_send(srv->net, peer, NET_AM_REPLY, msg, PROTO_HDR_SIZE, NULL, 0, 0, server_error_sent,
                  msg);
    if (rc != 1)
        free(msg);
    if (rc < 0)
        log_debug("error reply to req %llu failed: %d", (unsigned long long)req->req_id, rc);
}

/* Header fields we can trust enough to answer: magic, version, req id. */
static bool server_hdr_answerable(const struct net_msg *msg, struct proto_hdr *h)
{
    const uint8_t *p = msg->hdr;

    if (msg->hdr_len < PROTO_HDR_SIZE)
        return false;
    if (proto_get_u32(p) != PROTO_MAGIC || proto_get_u16(p + 4) != PROTO_VERSION)
        return false;
    memset(h, 0, sizeof(*h));
    h->op = proto_get_u16(p + 6);
    h->req_id = proto_get_u64(p + 16);
    return true;
}

/* Ops whose data part is bulk data (then, for some, a path) or many paths,
 * received into an I/O buffer, not a path copied inline. */
static bool sreq_bulk(unsigned op)
{
    return op == PROTO_OP_CHUNK_WRITE || op == PROTO_OP_PUT || op == PROTO_OP_GET;
}

/* Check every path in the variable part is normalized. */
static int server_check_paths(struct sreq *r)
{
    uint32_t n1 = 0, n2 = 0;

    switch (r->op) {
    case PROTO_OP_RENAME:
        n1 = r->body.rename_req.path_len;
        n2 = r->body.rename_req.path2_len;
        break;
    case PROTO_OP_READDIR:
        n1 = r->body.readdir_req.path_len;
        n2 = r->body.readdir_req.cursor_len;
        if (n2 > 0 && (memchr(r->data + n1, '/', n2) || memchr(r->data + n1, '\0', n2)))
            return -EINVAL;
        n2 = 0; /* cursor is a name, not a path */
        break;
    case PROTO_OP_HELLO:
    case PROTO_OP_CHUNK_WRITE:
    case PROTO_OP_PUT: /* its paths follow the bytes: checked by op_put.c */
    case PROTO_OP_GET: /* many paths: checked by op_get.c */
    case PROTO_OP_CHUNK_READ:
    case PROTO_OP_CHUNK_REMOVE:
    case PROTO_OP_CHUNK_TRUNC:
    case PROTO_OP_CHUNK_LIST:
    case PROTO_OP_INODE_LIST:
    case PROTO_OP_ORPHAN_LIST:
    case PROTO_OP_ORPHAN_FREE:
    case PROTO_OP_FSYNC:
    case PROTO_OP_PING:
    case PROTO_OP_STATUS:
    case PROTO_OP_STATFS:
    case PROTO_OP_SHUTDOWN:
        return 0;
    default:
        n1 = r->data_len;
        break;
    }
    if (!path_is_normalized(r->data, n1))
        return -EINVAL;
    if (n2 > 0 && !path_is_normalized(r->data + n1, n2))
        return -EINVAL;
    return 0;
}

/*
 * Take the variable part of the message into the request. Returns 0, 1 when
 * a rendezvous write must wait for a free buffer (descriptor kept), or -errno.
 */
static int server_take_data(struct sreq *r, struct net_msg *msg)
{
    struct server *srv = r->srv;

    r->data_len = (uint32_t)msg->data_len;
    if (!sreq_bulk(r->op)) {
        /* Paths: small, copied inline and NUL-terminated for logs. */
        if (msg->rndv || msg->data_len >= SREQ_DATA_INLINE)
            return -EPROTO;
        if (msg->data_len > 0)
            memcpy(r->data, msg->data, msg->data_len);
        r->data[msg->data_len] = '\0';
        return 0;
    }
    r->data[0] = '\0';
    if (msg->rndv) {
        r->rndv_desc = msg->desc;
        return 1;
    }
    r->iobuf = chunk_buf_get(srv->chunks);
    if (r->iobuf != NULL) {
        memcpy(r->iobuf, msg->data, msg->data_len);
        r->state = SREQ_RECV_DONE;
        return 0;
    }
    /* Eager data is only valid during the callback: hold a copy until a
     * registered buffer frees up. */
    r->eager_copy = malloc(msg->data_len);
    if (r->eager_copy == NULL)
        return -ENOMEM;
    memcpy(r->eager_copy, msg->data, msg->data_len);
    return 0;
}

/* UCX finally completed what a zombie waited for. */
static void sreq_zombie_free(struct sreq *r)
{
    struct server *srv = r->srv;

    list_remove(&r->link);
    if (r->heap)
        free(r);
    else
        pool_put(srv->req_pool, r);
}

static void sreq_recv_done(void *arg, int status)
{
    struct sreq *r = arg;

    if (r->state == SREQ_ZOMBIE) {
        sreq_zombie_free(r);
        return;
    }
    if (status < 0) {
        log_warn("receiving %u bytes of %s failed: %d", r->data_len, proto_op_name(r->op), status);
        sreq_finish(r, status);
        return;
    }
    r->state = SREQ_RECV_DONE;
    sreq_queue(r);
}

/* Start the rendezvous receive of a request that now has its buffer. */
static void sreq_start_recv(struct sreq *r, void *desc)
{
    int rc;

    r->state = SREQ_RECV;
    rc = net_recv_data(r->srv->net, desc, r->iobuf, r->data_len, sreq_recv_done, r);
    if (rc == 0)
        sreq_recv_done(r, 0);
    else if (rc < 0)
        sreq_finish(r, rc);
    else
        list_push_back(&r->srv->in_ucx, &r->link);
}

int server_on_request(void *arg, struct net_msg *msg)
{
    struct server *srv = arg;
    struct server_client *client;
    struct proto_hdr h;
    struct sreq *r;
    int rc;

    rc = proto_hdr_unpack(msg->hdr, msg->hdr_len, &h);
    if (rc < 0 || (h.flags & PROTO_FLAG_REPLY) || h.data_len != msg->data_len) {
        struct proto_hdr eh;

        srv->stats.bad_requests++;
        if (server_hdr_answerable(msg, &eh)) {
            log_debug("malformed %s request %llu: %d", proto_op_name(eh.op),
                      (unsigned long long)eh.req_id, rc < 0 ? rc : -EPROTO);
            server_reply_error(srv, msg->reply, &eh, rc == -EOPNOTSUPP ? rc : -EPROTO);
        } else {
            log_debug("dropped a message without a valid BenchFS header (%zu bytes)", msg->hdr_len);
        }
        if (msg->rndv)
            net_data_drop(srv->net, msg->desc);
        return 0;
    }
    if (memcmp(h.cookie, srv->cookie, PROTO_COOKIE_LEN) != 0) {
        srv->stats.bad_requests++;
        log_warn("refused %s request: wrong cluster cookie", proto_op_name(h.op));
        server_reply_error(srv, msg->reply, &h, -EACCES);
        goto drop;
    }
    if (msg->reply == NULL) {
        srv->stats.bad_requests++;
        goto drop;
    }
    if (srv->stopping) {
        server_reply_error(srv, msg->reply, &h, -ESHUTDOWN);
        goto drop;
    }
    client = server_client_find(srv, msg->reply);
    if (client == NULL && h.op != PROTO_OP_HELLO) {
        /* Only endpoints we own survive a dying peer: say HELLO first. */
        srv->stats.bad_requests++;
        server_reply_error(srv, msg->reply, &h, -ENOTCONN);
        goto drop;
    }
    r = sreq_alloc(srv);
    if (r == NULL) {
        server_reply_error(srv, msg->reply, &h, -ENOMEM);
        goto drop;
    }
    r->hdr = h;
    r->op = h.op;
    r->reply_ep = msg->reply;
    if (client != NULL) {
        r->client = client;
        server_client_get(client);
        server_client_touch(client);
    }
    r->start_ns = time_mono_ns();
    rc = proto_body_unpack(h.op, false, (const uint8_t *)msg->hdr + PROTO_HDR_SIZE, h.body_len,
                           &r->body);
    if (rc == 0)
        rc = proto_req_check(h.op, &r->body, h.data_len, (uint32_t)chunk_buf_size(srv->chunks));
    if (rc < 0) {
        srv->stats.bad_requests++;
        if (msg->rndv)
            net_data_drop(srv->net, msg->desc);
        sreq_finish(r, rc);
        return 0;
    }
    srv->stats.ops++;
    srv->stats.bytes_in += msg->data_len;
    if (sreq_bulk(r->op) && msg->rndv) {
        r->iobuf = chunk_buf_get(srv->chunks);
        if (r->iobuf != NULL) {
            /* Zero-copy: pull the data straight into the registered buffer. */
            r->data_len = (uint32_t)msg->data_len;
            r->data[0] = '\0';
            sreq_start_recv(r, msg->desc);
            return 0;
        }
    }
    rc = server_take_data(r, msg);
    if (rc == 1) {
        /* rendezvous data waits in UCX until a buffer frees up */
        r->state = SREQ_WAIT_BUF;
        list_push_back(&srv->wait_buf, &r->link);
        return 1;
    }
    if (rc < 0) {
        srv->stats.bad_requests++;
        if (msg->rndv)
            net_data_drop(srv->net, msg->desc);
        sreq_finish(r, rc);
        return 0;
    }
    rc = server_check_paths(r);
    if (rc < 0) {
        srv->stats.bad_requests++;
        sreq_finish(r, rc);
        return 0;
    }
    sreq_queue(r);
    return 0;

drop:
    if (msg->rndv)
        net_data_drop(srv->net, msg->desc);
    return 0;
}

void server_buffers_released(struct server *srv)
{
    struct list_node *n;

    while (!list_empty(&srv->wait_buf)) {
        struct sreq *r = list_entry(srv->wait_buf.next, struct sreq, link);
        void *buf;

        if (r->client != NULL && server_client_dead(r->client)) {
            /* Nobody to answer: its data is dropped, not received. */
            sreq_free(r);
            continue;
        }
        buf = chunk_buf_get(srv->chunks);
        if (buf == NULL)
            return;
        n = list_pop_front(&srv->wait_buf);
        r = list_entry(n, struct sreq, link);
        r->iobuf = buf;
        if (r->rndv_desc != NULL) {
            void *desc = r->rndv_desc;

            r->rndv_desc = NULL;
            sreq_start_recv(r, desc);
        } else {
            r->state = SREQ_NEW;
            sreq_queue(r);
        }
    }
}

void server_requests_abort(struct server *srv)
{
    struct list_node *n;

    /* Their rendezvous data is dropped and nobody is answered. */
    while ((n = list_pop_front(&srv->wait_buf)) != NULL)
        sreq_free(list_entry(n, struct sreq, link));
}

size_t server_requests_reclaim(struct server *srv, struct server_client *c)
{
    struct list_node *pos, *tmp;
    bool had_buf = false;
    size_t n = 0;

    /* Those still waiting for a buffer would only start such a transfer. */
    list_for_each_safe(pos, tmp, &srv->wait_buf)
    {
        struct sreq *r = list_entry(pos, struct sreq, link);

        if (r->client == c) {
            sreq_free(r); /* may free c: compared, never read, from here on */
            n++;
        }
    }
    /* Without peer-failure handling UCX never ends these: no data or
     * acknowledgement can come from a dead process. Nor does UCX touch
     * their buffers again (its shared-memory transports only copy what
     * arrives in this process's queue, which the loop has drained), so the
     * buffers go back to the store and the op's state (a GET's reply) is
     * freed; the structs wait for a completion that will not come (or, at
     * net_destroy, may), and sreq_zombie_free frees only them. */
    list_for_each_safe(pos, tmp, &srv->in_ucx)
    {
        struct sreq *r = list_entry(pos, struct sreq, link);

        if (r->client != c)
            continue;
        list_remove(&r->link);
        if (r->iobuf != NULL) {
            chunk_buf_put(srv->chunks, r->iobuf);
            r->iobuf = NULL;
            had_buf = true;
        }
        free(r->eager_copy);
        r->eager_copy = NULL;
        free(r->op_state);
        r->op_state = NULL;
        r->client = NULL;
        r->state = SREQ_ZOMBIE;
        list_push_back(&srv->zombies, &r->link);
        srv->inflight--;
        n++;
        server_client_put(c); /* may free c: compared, never read, from here on */
    }
    if (had_buf)
        server_buffers_released(srv);
    return n;
}

void sreq_step(struct sreq *r)
{
    list_remove(&r->link);
    switch (r->state) {
    case SREQ_NEW:
        server_ops[r->op](r);
        break;
    case SREQ_RECV_DONE:
    case SREQ_IO_DONE:
        server_data_continue(r);
        break;
    default:
        log_error("request %llu stepped in state %d", (unsigned long long)r->hdr.req_id, r->state);
        sreq_finish(r, -EIO);
        break;
    }
}

void sreq_finish(struct sreq *r, int status)
{
    r->status = status;
    r->state = SREQ_REPLY;
    list_remove(&r->link);
    list_push_back(&r->srv->replies, &r->link);
    if (status < 0 && status != -ENOENT && status != -EEXIST)
        log_debug("%s %s -> %d", proto_op_name(r->op), r->op == PROTO_OP_CHUNK_WRITE ? "" : r->data,
                  status);
}

static void sreq_send_done(void *arg, int status)
{
    struct sreq *r = arg;

    if (r->state == SREQ_ZOMBIE) {
        sreq_zombie_free(r);
        return;
    }
    if (status < 0)
        log_debug("reply to request %llu failed: %d", (unsigned long long)r->hdr.req_id, status);
    sreq_free(r);
}

static void sreq_send_reply(struct sreq *r)
{
    struct server *srv = r->srv;
    struct proto_hdr h = r->hdr;
    int len, rc;

    h.flags = PROTO_FLAG_REPLY;
    h.status = r->status;
    memset(h.cookie, 0, sizeof(h.cookie));
    if (r->status < 0) {
        r->rep_data = NULL;
        r->rep_data_len = 0;
    }
    h.data_len = r->rep_data_len;
    if (r->client == NULL || server_client_dead(r->client)) {
        /* A HELLO that failed has no client endpoint: answer it on UCX's
         * reply endpoint, still valid in the pass the message arrived. */
        if (r->client == NULL && r->op == PROTO_OP_HELLO && r->status < 0)
            server_reply_error(srv, r->reply_ep, &r->hdr, r->status);
        sreq_free(r); /* nobody (else) to answer */
        return;
    }
    len = proto_msg_pack(&h, &r->rep, r->rep_msg, sizeof(r->rep_msg));
    if (len < 0) {
        log_error("cannot pack %s reply: %d", proto_op_name(r->op), len);
        sreq_free(r);
        return;
    }
    srv->stats.bytes_out += r->rep_data_len;
    r->state = SREQ_SEND;
    rc = net_send(srv->net, server_client_peer(r->client), NET_AM_REPLY, r->rep_msg, (size_t)len,
                  r->rep_data, r->rep_data_len, 0, sreq_send_done, r);
    if (rc != 1) {
        if (rc < 0)
            log_debug("reply to request %llu failed: %d", (unsigned long long)r->hdr.req_id, rc);
        sreq_free(r);
        return;
    }
    list_push_back(&srv->in_ucx, &r->link);
}

void server_flush_replies(struct server *srv)
{
    struct list_node *n;
    bool small_lost;
    int rc;

    /* A new inode number range is remembered outside the data directory
     * before any number of it reaches a client (data_id.c). */
    server_data_id_sync(srv);
    if (list_empty(&srv->replies))
        return;
    /* Group commit: one metadata transaction for everything this pass did,
     * committed before any of its replies leaves. */
    /* Small chunks live in that transaction: data ops fail with it. */
    small_lost = meta_small_changed(srv->meta);
    rc = meta_flush(srv->meta, srv->meta_sync);
    srv->meta_sync = false;
    if (rc < 0)
        log_error("metadata commit failed: %d", rc);
    small_lost = small_lost && rc < 0;
    while ((n = list_pop_front(&srv->replies)) != NULL) {
        struct sreq *r = list_entry(n, struct sreq, link);

        /* a PUT whose records are lost: their bytes go too (whole or nothing) */
        if (rc < 0 && r->op == PROTO_OP_PUT && r->status == 0)
            server_put_lost(r);

        /* data ops did their work whatever happened to the metadata,
         * unless they changed small chunks */
        if (rc < 0 && r->status == 0 && r->op != PROTO_OP_CHUNK_READ && r->op != PROTO_OP_GET &&
            ((r->op != PROTO_OP_CHUNK_WRITE && r->op != PROTO_OP_CHUNK_REMOVE &&
              r->op != PROTO_OP_CHUNK_TRUNC) ||
             small_lost))
            r->status = rc;
        /* a write's data is there, but the size it published is not */
        if (rc < 0 && r->op == PROTO_OP_CHUNK_WRITE)
            r->rep.chunk_rep.flags = 0;
        sreq_send_reply(r);
    }
}
