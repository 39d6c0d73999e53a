/*
 * rawclient.c - minimal synchronous RPC client on proto + net (rawclient.h).
 * One request at a time; replies are matched by request id and anything else
 * is counted and ignored.
 */
#include "rawclient.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/net.h"

struct rawclient {
    struct net *net;
    struct net_ep *ep;
    uint32_t hello_flags; /* PROTO_HELLO_PEER_FAILURE when ep has it */
    uint8_t cookie[PROTO_COOKIE_LEN];
    uint64_t next_id;
    /* the one outstanding call */
    uint64_t want_id;
    bool done;
    bool recv_pending;
    int status;
    unsigned op;
    union proto_body *rep;
    void *rdata;
    size_t rdata_cap;
    size_t *rdata_len;
    uint64_t stray;
    uint8_t msg[PROTO_MSG_MAX];
    uint8_t async_msgs[256][PROTO_MSG_MAX]; /* headers of send_only requests */
    unsigned async_next;
};

static uint64_t raw_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void raw_recv_done(void *arg, int status)
{
    struct rawclient *c = arg;

    if (status < 0)
        c->status = status;
    c->recv_pending = false;
    c->done = true;
}

static int raw_on_reply(void *arg, struct net_msg *msg)
{
    struct rawclient *c = arg;
    struct proto_hdr h;
    int rc;

    rc = proto_hdr_unpack(msg->hdr, msg->hdr_len, &h);
    /* an error reply to an unknown op still names the request */
    if (rc == -EOPNOTSUPP && h.status < 0)
        rc = 0;
    if (rc < 0 || !(h.flags & PROTO_FLAG_REPLY) || h.req_id != c->want_id || c->done) {
        c->stray++;
        if (msg->rndv)
            net_data_drop(c->net, msg->desc);
        return 0;
    }
    c->status = h.status;
    if (h.status == 0 && c->rep != NULL)
        proto_body_unpack(h.op, true, (const uint8_t *)msg->hdr + PROTO_HDR_SIZE, h.body_len,
                          c->rep);
    if (c->rdata_len != NULL)
        *c->rdata_len = msg->data_len;
    if (msg->data_len > 0 && c->rdata != NULL && msg->data_len <= c->rdata_cap) {
        if (msg->rndv) {
            c->recv_pending = true;
            rc = net_recv_data(c->net, msg->desc, c->rdata, msg->data_len, raw_recv_done, c);
            if (rc == 0)
                raw_recv_done(c, 0);
            else if (rc < 0)
                raw_recv_done(c, rc);
            return 0;
        }
        memcpy(c->rdata, msg->data, msg->data_len);
    } else if (msg->rndv) {
        net_data_drop(c->net, msg->desc);
    }
    c->done = true;
    return 0;
}

int rawclient_connect(const char *registry_dir, const char *node_id, struct rawclient **c_p)
{
    return rawclient_connect_opts(registry_dir, node_id, true, c_p);
}

int rawclient_connect_opts(const char *registry_dir, const char *node_id, bool hello,
                           struct rawclient **c_p)
{
    struct registry_entry e;
    struct rawclient *c;
    char path[4200], err[512];
    bool pf;
    int rc;

    snprintf(path, sizeof(path), "%s/%s.addr", registry_dir, node_id);
    rc = registry_entry_read(path, &e, err, sizeof(err));
    if (rc < 0)
        return rc;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        registry_entry_cleanup(&e);
        return -ENOMEM;
    }
    memcpy(c->cookie, e.cookie, sizeof(c->cookie));
    c->next_id = 1;
    rc = net_create(false, &c->net, err, sizeof(err));
    if (rc < 0)
        goto err_free;
    rc = net_set_handler(c->net, NET_AM_REPLY, raw_on_reply, c);
    if (rc < 0)
        goto err_net;
    /* The error handling the library would choose (UCX joins only equal
     * modes; the server's endpoint back follows the HELLO's flag). */
    pf = net_pf_choose(c->net, e.peer_failure, e.host_id == registry_host_id());
    c->hello_flags = pf ? PROTO_HELLO_PEER_FAILURE : 0;
    rc = net_ep_create_mode(c->net, e.addr, e.addr_len, node_id, NULL, NULL, pf, &c->ep);
    if (rc < 0)
        goto err_net;
    registry_entry_cleanup(&e);
    if (hello) {
        /* HELLO: the server connects back to our worker (docs/protocol.md). */
        union proto_body hb;
        const void *addr;
        size_t addr_len;

        rc = net_address(c->net, &addr, &addr_len);
        if (rc == 0) {
            memset(&hb, 0, sizeof(hb));
            hb.hello_req.addr_len = (uint32_t)addr_len;
            hb.hello_req.flags = c->hello_flags;
            rc = rawclient_call(c, PROTO_OP_HELLO, &hb, addr, addr_len, NULL, NULL, 0, NULL, 10000);
        }
        if (rc < 0) {
            rawclient_close(c);
            return rc;
        }
    }
    *c_p = c;
    return 0;

err_net:
    net_destroy(c->net);
err_free:
    registry_entry_cleanup(&e);
    free(c);
    return rc;
}

void rawclient_close(struct rawclient *c)
{
    if (c == NULL)
        return;
    net_ep_destroy(c->ep);
    net_destroy(c->net);
    free(c);
}

uint32_t rawclient_hello_flags(const struct rawclient *c)
{
    return c->hello_flags;
}

void rawclient_address(struct rawclient *c, const void **addr_p, size_t *len_p)
{
    net_address(c->net, addr_p, len_p);
}

const uint8_t *rawclient_cookie(const struct rawclient *c)
{
    return c->cookie;
}

uint64_t rawclient_next_id(struct rawclient *c)
{
    return c->next_id++;
}

static int raw_wait(struct rawclient *c, int timeout_ms)
{
    uint64_t deadline = raw_now_ms() + (uint64_t)timeout_ms;

    while (!c->done || c->recv_pending) {
        net_progress(c->net);
        if (net_ep_status(c->ep) < 0 && !c->done)
            return net_ep_status(c->ep);
        if (raw_now_ms() > deadline) {
            if (c->recv_pending)
                continue; /* never leave while UCX writes into the buffer */
            return -ETIMEDOUT;
        }
    }
    return c->status;
}

int rawclient_send_raw(struct rawclient *c, const void *hdr, size_t hdr_len, const void *data,
                       size_t data_len, uint64_t expect_id, int timeout_ms)
{
    int rc;

    c->want_id = expect_id;
    c->done = false;
    c->recv_pending = false;
    c->status = 0;
    c->rep = NULL;
    c->rdata = NULL;
    c->rdata_len = NULL;
    rc = net_send(c->net, net_ep_peer(c->ep), NET_AM_REQUEST, hdr, hdr_len, data, data_len,
                  NET_SEND_REPLY, NULL, NULL);
    if (rc < 0)
        return rc;
    return raw_wait(c, timeout_ms);
}

int rawclient_call(struct rawclient *c, unsigned op, const union proto_body *req, const void *data,
                   size_t data_len, union proto_body *rep, void *rdata, size_t rdata_cap,
                   size_t *rdata_len, int timeout_ms)
{
    struct proto_hdr h;
    union proto_body empty;
    int len, rc;

    memset(&h, 0, sizeof(h));
    memset(&empty, 0, sizeof(empty));
    h.op = (uint16_t)op;
    h.req_id = rawclient_next_id(c);
    h.data_len = (uint32_t)data_len;
    memcpy(h.cookie, c->cookie, sizeof(h.cookie));
    len = proto_msg_pack(&h, req ? req : &empty, c->msg, sizeof(c->msg));
    if (len < 0)
        return len;
    c->want_id = h.req_id;
    c->done = false;
    c->recv_pending = false;
    c->status = 0;
    c->op = op;
    c->rep = rep;
    c->rdata = rdata;
    c->rdata_cap = rdata_cap;
    c->rdata_len = rdata_len;
    rc = net_send(c->net, net_ep_peer(c->ep), NET_AM_REQUEST, c->msg, (size_t)len, data, data_len,
                  NET_SEND_REPLY, NULL, NULL);
    if (rc < 0)
        return rc;
    return raw_wait(c, timeout_ms);
}

int rawclient_path_op(struct rawclient *c, unsigned op, const char *path, uint32_t flags,
                      union proto_body *rep)
{
    union proto_body b;

    memset(&b, 0, sizeof(b));
    b.path_req.path_len = (uint32_t)strlen(path);
    b.path_req.flags = flags;
    return rawclient_call(c, op, &b, path, strlen(path), rep, NULL, 0, NULL, 10000);
}

int rawclient_send_only(struct rawclient *c, unsigned op, const union proto_body *req,
                        const void *data, size_t data_len, uint64_t *id_p)
{
    uint8_t *m = c->async_msgs[c->async_next++ % 256];
    struct proto_hdr h;
    int len;

    memset(&h, 0, sizeof(h));
    h.op = (uint16_t)op;
    h.req_id = rawclient_next_id(c);
    h.data_len = (uint32_t)data_len;
    memcpy(h.cookie, c->cookie, sizeof(h.cookie));
    len = proto_msg_pack(&h, req, m, PROTO_MSG_MAX);
    if (len < 0)
        return len;
    if (id_p != NULL)
        *id_p = h.req_id;
    return net_send(c->net, net_ep_peer(c->ep), NET_AM_REQUEST, m, (size_t)len, data, data_len,
                    NET_SEND_REPLY, NULL, NULL);
}

int rawclient_wait(struct rawclient *c, uint64_t id, int timeout_ms)
{
    c->want_id = id;
    c->done = false;
    c->recv_pending = false;
    c->status = 0;
    c->rep = NULL;
    c->rdata = NULL;
    c->rdata_len = NULL;
    return raw_wait(c, timeout_ms);
}
