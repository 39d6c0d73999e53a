/*
 * test_net_am.c - unit tests of src/net: two `struct net` in one process (a
 * "server" and a "client") exchange active messages over loopback, first
 * with UCX_TLS=tcp,self and then with UCX's default transports (shared
 * memory). Covers eager request/reply on the reply endpoint, 4 MiB
 * rendezvous data received inside the callback, deferred, dropped and into a
 * too small buffer, exact callback counts, endpoint failure when the server
 * goes away (error callback once, sends fail instead of hanging),
 * destroying endpoints from callbacks, and the wakeup fd. UCX_NET_DEVICES=lo
 * keeps any network traffic on loopback.
 *
 * Every wait is a progress loop capped in time (LOOP_CAP_NS); no sleeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/timeutil.h"
#include "net/net.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ucs/type/status.h>

#define LOOP_CAP_NS (20ull * 1000000000ull)
#define NREQ        200
#define EAGER_LEN   1000
#define RNDV_LEN    (4u << 20)
#define SLOTS       (NREQ + 8)

enum transport { TRANSPORT_TCP, TRANSPORT_DEFAULT };
static enum transport current_transport;

/* ---- the test "protocol" ---------------------------------------------- */

struct test_hdr {
    uint32_t seq;
    uint32_t kind;
    uint32_t data_len;
    uint32_t sum;
    uint8_t pad[48];
};

enum { KIND_ECHO = 1, KIND_RNDV = 2 };

static uint8_t pattern(uint32_t seq, size_t i)
{
    return (uint8_t)(seq * 31u + i * 7u + (i >> 12));
}

static uint32_t checksum(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    size_t i;

    for (i = 0; i < n; i++)
        s = s * 33u + p[i];
    return s;
}

/* What the server does with a rendezvous message. */
enum rndv_mode {
    RNDV_RECV_NOW,   /* net_recv_data inside the callback */
    RNDV_KEEP,       /* return 1, receive later */
    RNDV_DROP_NOW,   /* net_data_drop inside the callback */
    RNDV_IGNORE,     /* return 0 without receiving */
    RNDV_DESTROY_EP, /* destroy an endpoint from inside the callback */
};

struct reply_slot {
    struct test_hdr hdr;
    uint8_t data[EAGER_LEN];
    bool busy;
    struct server *srv;
};

struct server {
    struct net *net;
    enum rndv_mode mode;
    unsigned reqs, bad, rndv_msgs;
    struct reply_slot slots[SLOTS];
    unsigned reply_imm, reply_cbs, reply_errs;
    /* rendezvous */
    uint8_t *rbuf;
    void *kept_desc;
    size_t kept_len;
    unsigned recv_imm, recv_cbs;
    int recv_status;
    struct net_ep *victim; /* RNDV_DESTROY_EP */
    net_peer_t last_reply;
    const void *back_addr; /* connect back to this address from the callback */
    size_t back_addr_len;
    struct net_ep *back;
    unsigned back_err_cbs;
    int back_err_status;
};

struct client {
    struct net *net;
    struct net_ep *ep;
    struct test_hdr req_hdr[NREQ];
    uint8_t req_data[NREQ][EAGER_LEN];
    unsigned send_imm, send_cbs, send_errs;
    int last_send_status;
    bool got[NREQ];
    unsigned replies, bad;
    unsigned err_cbs;
    int err_status;
    bool destroy_in_err_cb;
};

/* ---- helpers ---------------------------------------------------------- */

static void set_transport_env(void)
{
    /* Network traffic stays on loopback either way. */
    setenv("UCX_NET_DEVICES", "lo", 1);
    if (current_transport == TRANSPORT_TCP)
        setenv("UCX_TLS", "tcp,self", 1);
    else
        unsetenv("UCX_TLS");
}

static struct net *make_net(bool serialized)
{
    struct net *net = NULL;
    char err[512];
    int rc;

    set_transport_env();
    rc = net_create(serialized, &net, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "net_create: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(net);
    return net;
}

/* Progress both nets until *flag becomes true (or the cap). */
typedef bool (*cond_fn)(void *arg);

static bool progress_until(struct net *a, struct net *b, cond_fn cond, void *arg)
{
    uint64_t deadline = time_mono_ns() + LOOP_CAP_NS;
    unsigned long iter = 0;

    while (!cond(arg)) {
        if (a != NULL)
            net_progress(a);
        if (b != NULL)
            net_progress(b);
        if ((++iter & 1023) == 0 && time_mono_ns() > deadline)
            return false;
    }
    return true;
}

/* Progress both nets a fixed number of rounds. */
static void progress_rounds(struct net *a, struct net *b, unsigned rounds)
{
    unsigned i;

    for (i = 0; i < rounds; i++) {
        if (a != NULL)
            net_progress(a);
        if (b != NULL)
            net_progress(b);
    }
}

/* ---- server side ------------------------------------------------------ */

static void reply_done(void *arg, int status)
{
    struct reply_slot *slot = arg;

    slot->srv->reply_cbs++;
    if (status != 0)
        slot->srv->reply_errs++;
    assert_true(slot->busy);
    slot->busy = false;
}

static void server_reply(struct server *srv, net_peer_t reply, const struct test_hdr *h,
                         const void *data, size_t len)
{
    struct reply_slot *slot = NULL;
    unsigned i;
    int rc;

    for (i = 0; i < SLOTS; i++) {
        if (!srv->slots[i].busy) {
            slot = &srv->slots[i];
            break;
        }
    }
    assert_non_null(slot);
    assert_true(len <= sizeof(slot->data));
    slot->busy = true;
    slot->srv = srv;
    slot->hdr = *h;
    if (len != 0)
        memcpy(slot->data, data, len);
    rc = net_send(srv->net, reply, NET_AM_REPLY, &slot->hdr, sizeof(slot->hdr),
                  len != 0 ? slot->data : NULL, len, 0, reply_done, slot);
    assert_true(rc == 0 || rc == 1);
    if (rc == 0) {
        srv->reply_imm++;
        slot->busy = false;
    }
}

static void server_recv_done(void *arg, int status)
{
    struct server *srv = arg;

    srv->recv_cbs++;
    srv->recv_status = status;
}

static void server_back_err(void *arg, struct net_ep *ep, int status)
{
    struct server *srv = arg;

    srv->back_err_cbs++;
    srv->back_err_status = status;
}

static int server_on_request(void *arg, struct net_msg *msg)
{
    struct server *srv = arg;
    struct test_hdr hcopy;
    const struct test_hdr *h = &hcopy;
    int rc;

    srv->reqs++;
    if (msg->hdr_len != sizeof(struct test_hdr) || msg->hdr == NULL) {
        srv->bad++;
        return 0;
    }
    /* UCX gives no alignment guarantee for the header: copy it. */
    memcpy(&hcopy, msg->hdr, sizeof(hcopy));
    if (h->kind == KIND_ECHO) {
        if (msg->rndv || msg->data_len != h->data_len || msg->reply == NULL ||
            (msg->data_len != 0 ? checksum(msg->data, msg->data_len) : 0) != h->sum) {
            srv->bad++;
            return 0;
        }
        srv->last_reply = msg->reply;
        if (srv->back_addr != NULL && srv->back == NULL) {
            rc = net_ep_create(srv->net, srv->back_addr, srv->back_addr_len, "client",
                               server_back_err, srv, &srv->back);
            assert_int_equal(rc, 0);
        }
        server_reply(srv, msg->reply, h, msg->data, msg->data_len);
        return 0;
    }
    if (h->kind != KIND_RNDV || !msg->rndv || msg->data != NULL || msg->desc == NULL ||
        msg->data_len != h->data_len) {
        srv->bad++;
        return 0;
    }
    srv->rndv_msgs++;
    switch (srv->mode) {
    case RNDV_RECV_NOW:
        rc = net_recv_data(srv->net, msg->desc, srv->rbuf, msg->data_len, server_recv_done, srv);
        assert_true(rc == 0 || rc == 1);
        if (rc == 0) {
            srv->recv_imm++;
            srv->recv_status = 0;
        }
        return 0;
    case RNDV_KEEP:
        srv->kept_desc = msg->desc;
        srv->kept_len = msg->data_len;
        return 1;
    case RNDV_DROP_NOW:
        net_data_drop(srv->net, msg->desc);
        return 0;
    case RNDV_DESTROY_EP:
        net_ep_destroy(srv->victim);
        srv->victim = NULL;
        return 0;
    case RNDV_IGNORE:
    default:
        return 0;
    }
}

/* ---- client side ------------------------------------------------------ */

static void client_send_done(void *arg, int status)
{
    struct client *cli = arg;

    cli->send_cbs++;
    cli->last_send_status = status;
    if (status != 0)
        cli->send_errs++;
}

static int client_on_reply(void *arg, struct net_msg *msg)
{
    struct client *cli = arg;
    struct test_hdr hcopy;
    const struct test_hdr *h = &hcopy;

    if (msg->hdr_len != sizeof(*h)) {
        cli->bad++;
        return 0;
    }
    memcpy(&hcopy, msg->hdr, sizeof(hcopy));
    if (h->seq >= NREQ || cli->got[h->seq] || msg->data_len != h->data_len || msg->rndv ||
        (msg->data_len != 0 && memcmp(msg->data, cli->req_data[h->seq], msg->data_len) != 0)) {
        cli->bad++;
        return 0;
    }
    cli->got[h->seq] = true;
    cli->replies++;
    return 0;
}

static void client_err(void *arg, struct net_ep *ep, int status)
{
    struct client *cli = arg;

    cli->err_cbs++;
    cli->err_status = status;
    assert_true(ep == cli->ep);
    assert_true(status < 0);
    assert_int_equal(net_ep_status(ep), status);
    if (cli->destroy_in_err_cb) {
        net_ep_destroy(ep);
        cli->ep = NULL;
    }
}

/* Count a net_send result the way net.h promises. */
static void client_count_send(struct client *cli, int rc)
{
    assert_true(rc == 0 || rc == 1);
    if (rc == 0)
        cli->send_imm++;
}

/* ---- fixture ---------------------------------------------------------- */

struct fixture {
    struct server srv;
    struct client cli;
    uint8_t *rndv_src;
};

static struct fixture *fixture_new(void)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const void *addr;
    size_t addr_len;
    size_t i;

    assert_non_null(f);
    f->srv.net = make_net(false);
    f->cli.net = make_net(true);
    assert_int_equal(net_set_handler(f->srv.net, NET_AM_REQUEST, server_on_request, &f->srv), 0);
    assert_int_equal(net_set_handler(f->cli.net, NET_AM_REPLY, client_on_reply, &f->cli), 0);
    assert_int_equal(net_address(f->srv.net, &addr, &addr_len), 0);
    assert_true(addr_len > 0);
    assert_int_equal(
        net_ep_create(f->cli.net, addr, addr_len, "server", client_err, &f->cli, &f->cli.ep), 0);
    assert_string_equal(net_ep_name(f->cli.ep), "server");
    assert_int_equal(net_ep_status(f->cli.ep), 0);

    f->srv.rbuf = malloc(RNDV_LEN);
    f->rndv_src = malloc(RNDV_LEN);
    assert_non_null(f->srv.rbuf);
    assert_non_null(f->rndv_src);
    for (i = 0; i < RNDV_LEN; i++)
        f->rndv_src[i] = pattern(7, i);
    return f;
}

/*
 * In a real cluster the peer progresses its own worker while we close; here
 * both workers live in this process, so a helper thread stands in for the
 * server while the client's endpoint closes (the server net is touched by
 * that thread only, between pthread_create and pthread_join).
 */
struct progress_thread {
    struct net *net;
    atomic_bool stop;
};

static void *progress_thread_main(void *arg)
{
    struct progress_thread *pt = arg;
    uint64_t deadline = time_mono_ns() + LOOP_CAP_NS;

    while (!atomic_load(&pt->stop) && time_mono_ns() < deadline)
        net_progress(pt->net);
    return NULL;
}

static void close_client_ep(struct fixture *f)
{
    struct progress_thread pt;
    pthread_t tid;

    if (f->cli.ep == NULL)
        return;
    if (f->srv.net == NULL) {
        net_ep_destroy(f->cli.ep);
        f->cli.ep = NULL;
        return;
    }
    pt.net = f->srv.net;
    atomic_init(&pt.stop, false);
    assert_int_equal(pthread_create(&tid, NULL, progress_thread_main, &pt), 0);
    net_ep_destroy(f->cli.ep);
    f->cli.ep = NULL;
    atomic_store(&pt.stop, true);
    assert_int_equal(pthread_join(tid, NULL), 0);
}

static void fixture_free(struct fixture *f)
{
    close_client_ep(f);
    if (f->cli.net != NULL)
        net_destroy(f->cli.net);
    if (f->srv.net != NULL)
        net_destroy(f->srv.net);
    free(f->srv.rbuf);
    free(f->rndv_src);
    free(f);
}

static bool all_replies(void *arg)
{
    struct fixture *f = arg;

    return f->cli.replies + f->cli.bad >= NREQ && f->cli.send_imm + f->cli.send_cbs >= NREQ &&
           f->srv.reply_imm + f->srv.reply_cbs >= NREQ;
}

static bool all_replies_one(void *arg)
{
    struct fixture *f = arg;

    return f->cli.replies >= 1;
}

static bool all_replies_two(void *arg)
{
    struct fixture *f = arg;

    return f->cli.replies >= 2;
}

/* Send one echo request with sequence number seq. */
static void send_echo(struct fixture *f, uint32_t seq, size_t len)
{
    struct client *cli = &f->cli;
    struct test_hdr *h = &cli->req_hdr[seq];
    size_t i;
    int rc;

    for (i = 0; i < len; i++)
        cli->req_data[seq][i] = pattern(seq, i);
    memset(h, 0, sizeof(*h));
    h->seq = seq;
    h->kind = KIND_ECHO;
    h->data_len = (uint32_t)len;
    h->sum = checksum(cli->req_data[seq], len);
    rc = net_send(cli->net, net_ep_peer(cli->ep), NET_AM_REQUEST, h, sizeof(*h),
                  len != 0 ? cli->req_data[seq] : NULL, len, NET_SEND_REPLY, client_send_done, cli);
    client_count_send(cli, rc);
}

/* ---- tests ------------------------------------------------------------ */

static void test_status_to_errno(void **state)
{
    assert_int_equal(net_status_to_errno(UCS_OK), 0);
    assert_int_equal(net_status_to_errno(UCS_ERR_NO_MEMORY), -ENOMEM);
    assert_int_equal(net_status_to_errno(UCS_ERR_TIMED_OUT), -ETIMEDOUT);
    assert_int_equal(net_status_to_errno(UCS_ERR_ENDPOINT_TIMEOUT), -ETIMEDOUT);
    assert_int_equal(net_status_to_errno(UCS_ERR_CANCELED), -ECANCELED);
    assert_int_equal(net_status_to_errno(UCS_ERR_UNREACHABLE), -EHOSTUNREACH);
    assert_int_equal(net_status_to_errno(UCS_ERR_CONNECTION_RESET), -ECONNRESET);
    assert_int_equal(net_status_to_errno(UCS_ERR_NOT_CONNECTED), -ECONNRESET);
    assert_int_equal(net_status_to_errno(UCS_ERR_MESSAGE_TRUNCATED), -EMSGSIZE);
    assert_int_equal(net_status_to_errno(UCS_ERR_INVALID_PARAM), -EINVAL);
    assert_int_equal(net_status_to_errno(UCS_ERR_UNSUPPORTED), -EOPNOTSUPP);
    assert_int_equal(net_status_to_errno(UCS_ERR_NO_RESOURCE), -EAGAIN);
    assert_int_equal(net_status_to_errno(UCS_ERR_BUSY), -EBUSY);
    assert_int_equal(net_status_to_errno(UCS_ERR_NO_ELEM), -ENOENT);
    assert_int_equal(net_status_to_errno(UCS_ERR_IO_ERROR), -EIO);
    assert_int_equal(net_status_to_errno(-12345), -EIO);
}

static void test_echo(void **state)
{
    struct fixture *f = fixture_new();
    struct net_stats st;
    uint32_t seq;

    for (seq = 0; seq < NREQ; seq++)
        send_echo(f, seq, seq % 3 == 0 ? 0 : (seq * 37) % EAGER_LEN + 1);
    assert_true(progress_until(f->srv.net, f->cli.net, all_replies, f));
    /* Let any stray duplicate completion show up. */
    progress_rounds(f->srv.net, f->cli.net, 200);

    assert_int_equal(f->srv.reqs, NREQ);
    assert_int_equal(f->srv.bad, 0);
    assert_int_equal(f->cli.bad, 0);
    assert_int_equal(f->cli.replies, NREQ);
    assert_int_equal(f->cli.send_imm + f->cli.send_cbs, NREQ);
    assert_int_equal(f->cli.send_errs, 0);
    assert_int_equal(f->srv.reply_imm + f->srv.reply_cbs, NREQ);
    assert_int_equal(f->srv.reply_errs, 0);

    net_get_stats(f->cli.net, &st);
    assert_int_equal(st.msgs_out, NREQ);
    assert_int_equal(st.msgs_in, NREQ);
    assert_int_equal(st.send_errors, 0);
    assert_int_equal(st.rndv_in, 0);
    net_get_stats(f->srv.net, &st);
    assert_int_equal(st.msgs_in, NREQ);
    assert_int_equal(st.msgs_out, NREQ);
    assert_true(st.bytes_in >= NREQ * sizeof(struct test_hdr));
    fixture_free(f);
}

static void test_bad_args(void **state)
{
    struct fixture *f = fixture_new();
    size_t big = net_max_am_header(f->cli.net) + 1;
    uint8_t *hdr = calloc(1, big);
    net_peer_t peer = net_ep_peer(f->cli.ep);

    assert_non_null(hdr);
    assert_true(net_max_am_header(f->cli.net) >= 512);
    assert_int_equal(net_send(f->cli.net, peer, NET_AM_REQUEST, hdr, big, NULL, 0, 0, NULL, NULL),
                     -EMSGSIZE);
    assert_int_equal(net_send(f->cli.net, NULL, NET_AM_REQUEST, hdr, 8, NULL, 0, 0, NULL, NULL),
                     -EINVAL);
    assert_int_equal(net_send(f->cli.net, peer, 99, hdr, 8, NULL, 0, 0, NULL, NULL), -EINVAL);
    assert_int_equal(net_send(f->cli.net, peer, NET_AM_REQUEST, hdr, 8, NULL, 0, 0x80, NULL, NULL),
                     -EINVAL);
    assert_int_equal(net_set_handler(f->cli.net, 99, client_on_reply, NULL), -EINVAL);
    assert_int_equal(net_recv_data(f->cli.net, NULL, hdr, 8, NULL, NULL), -EINVAL);
    free(hdr);
    fixture_free(f);
}

/* Start one 4 MiB rendezvous send from the client. */
static void send_rndv(struct fixture *f)
{
    struct test_hdr *h = &f->cli.req_hdr[0];
    int rc;

    memset(h, 0, sizeof(*h));
    h->kind = KIND_RNDV;
    h->data_len = RNDV_LEN;
    rc = net_send(f->cli.net, net_ep_peer(f->cli.ep), NET_AM_REQUEST, h, sizeof(*h), f->rndv_src,
                  RNDV_LEN, NET_SEND_REPLY, client_send_done, &f->cli);
    /* A 4 MiB rendezvous cannot complete before the receiver acts. */
    assert_int_equal(rc, 1);
}

static bool client_send_finished(void *arg)
{
    struct fixture *f = arg;

    return f->cli.send_cbs + f->cli.send_imm >= 1;
}

static bool rndv_received(void *arg)
{
    struct fixture *f = arg;

    return f->srv.recv_imm + f->srv.recv_cbs >= 1 && client_send_finished(f);
}

static bool rndv_arrived(void *arg)
{
    struct fixture *f = arg;

    return f->srv.rndv_msgs >= 1;
}

static void test_rndv_in_callback(void **state)
{
    struct fixture *f = fixture_new();
    struct net_stats st;

    f->srv.mode = RNDV_RECV_NOW;
    memset(f->srv.rbuf, 0, RNDV_LEN);
    send_rndv(f);
    assert_true(progress_until(f->srv.net, f->cli.net, rndv_received, f));
    progress_rounds(f->srv.net, f->cli.net, 200);

    assert_int_equal(f->srv.bad, 0);
    assert_int_equal(f->srv.rndv_msgs, 1);
    assert_int_equal(f->srv.recv_imm + f->srv.recv_cbs, 1);
    assert_int_equal(f->srv.recv_status, 0);
    assert_int_equal(f->cli.send_cbs, 1);
    assert_int_equal(f->cli.last_send_status, 0);
    assert_memory_equal(f->srv.rbuf, f->rndv_src, RNDV_LEN);
    net_get_stats(f->srv.net, &st);
    assert_int_equal(st.rndv_in, 1);
    assert_true(st.bytes_in >= RNDV_LEN);
    fixture_free(f);
}

static void test_rndv_deferred(void **state)
{
    struct fixture *f = fixture_new();
    int rc;

    f->srv.mode = RNDV_KEEP;
    memset(f->srv.rbuf, 0, RNDV_LEN);
    send_rndv(f);
    assert_true(progress_until(f->srv.net, f->cli.net, rndv_arrived, f));
    assert_non_null(f->srv.kept_desc);
    assert_int_equal(f->srv.kept_len, RNDV_LEN);

    /* While the server keeps the descriptor, the sender cannot finish. */
    progress_rounds(f->srv.net, f->cli.net, 500);
    assert_int_equal(f->cli.send_cbs, 0);

    rc = net_recv_data(f->srv.net, f->srv.kept_desc, f->srv.rbuf, RNDV_LEN, server_recv_done,
                       &f->srv);
    assert_true(rc == 0 || rc == 1);
    if (rc == 0)
        f->srv.recv_imm++;
    f->srv.kept_desc = NULL;
    assert_true(progress_until(f->srv.net, f->cli.net, rndv_received, f));
    progress_rounds(f->srv.net, f->cli.net, 200);

    assert_int_equal(f->srv.recv_imm + f->srv.recv_cbs, 1);
    assert_int_equal(f->srv.recv_status, 0);
    assert_int_equal(f->cli.send_cbs, 1);
    assert_int_equal(f->cli.last_send_status, 0);
    assert_memory_equal(f->srv.rbuf, f->rndv_src, RNDV_LEN);
    fixture_free(f);
}

/* Kept, then too small a buffer: -EMSGSIZE, descriptor released. */
static void test_rndv_short_buffer(void **state)
{
    struct fixture *f = fixture_new();

    f->srv.mode = RNDV_KEEP;
    send_rndv(f);
    assert_true(progress_until(f->srv.net, f->cli.net, rndv_arrived, f));
    assert_int_equal(net_recv_data(f->srv.net, f->srv.kept_desc, f->srv.rbuf, RNDV_LEN - 1,
                                   server_recv_done, &f->srv),
                     -EMSGSIZE);
    /* The descriptor is gone: a second use is refused, not a crash. */
    f->srv.kept_desc = NULL;
    assert_true(progress_until(f->srv.net, f->cli.net, client_send_finished, f));
    progress_rounds(f->srv.net, f->cli.net, 200);
    assert_int_equal(f->cli.send_cbs, 1);
    assert_int_equal(f->srv.recv_cbs, 0);
    fixture_free(f);
}

/* Kept then dropped, dropped in the callback, and ignored: sender completes. */
static void test_rndv_drop(void **state)
{
    enum rndv_mode modes[] = {RNDV_KEEP, RNDV_DROP_NOW, RNDV_IGNORE};
    unsigned i;

    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        struct fixture *f = fixture_new();

        f->srv.mode = modes[i];
        send_rndv(f);
        assert_true(progress_until(f->srv.net, f->cli.net, rndv_arrived, f));
        if (modes[i] == RNDV_KEEP) {
            assert_non_null(f->srv.kept_desc);
            net_data_drop(f->srv.net, f->srv.kept_desc);
            f->srv.kept_desc = NULL;
        }
        assert_true(progress_until(f->srv.net, f->cli.net, client_send_finished, f));
        progress_rounds(f->srv.net, f->cli.net, 200);
        assert_int_equal(f->cli.send_cbs, 1);
        assert_int_equal(f->cli.last_send_status, 0);
        assert_int_equal(f->srv.recv_cbs + f->srv.recv_imm, 0);
        assert_int_equal(f->srv.bad, 0);
        fixture_free(f);
    }
}

static bool err_reported(void *arg)
{
    struct fixture *f = arg;

    return f->cli.err_cbs >= 1;
}

/*
 * The server goes away: the client's endpoint reports the failure once,
 * and sends fail with -errno instead of hanging.
 */
static void run_peer_failure(bool destroy_in_err_cb)
{
    struct fixture *f;
    uint64_t deadline;
    int rc = 0;

    f = fixture_new();
    f->cli.destroy_in_err_cb = destroy_in_err_cb;
    send_echo(f, 0, 100);
    assert_true(progress_until(f->srv.net, f->cli.net, all_replies_one, f));

    net_destroy(f->srv.net);
    f->srv.net = NULL;

    /* Keep sending until the failure is seen; each send must finish. */
    deadline = time_mono_ns() + LOOP_CAP_NS;
    while (f->cli.err_cbs == 0 && time_mono_ns() < deadline) {
        unsigned before = f->cli.send_imm + f->cli.send_cbs;

        rc = net_send(f->cli.net, net_ep_peer(f->cli.ep), NET_AM_REQUEST, &f->cli.req_hdr[0],
                      sizeof(struct test_hdr), NULL, 0, 0, client_send_done, &f->cli);
        if (rc < 0)
            break;
        if (rc == 0)
            f->cli.send_imm++;
        while (f->cli.send_imm + f->cli.send_cbs == before && f->cli.err_cbs == 0 &&
               time_mono_ns() < deadline)
            net_progress(f->cli.net);
    }
    assert_true(progress_until(f->cli.net, NULL, err_reported, f));
    progress_rounds(f->cli.net, NULL, 200);
    assert_int_equal(f->cli.err_cbs, 1);
    assert_true(f->cli.err_status < 0);

    if (!destroy_in_err_cb) {
        assert_true(net_ep_status(f->cli.ep) < 0);
        /* After the failure every send fails, at once or by callback. */
        rc = net_send(f->cli.net, net_ep_peer(f->cli.ep), NET_AM_REQUEST, &f->cli.req_hdr[0],
                      sizeof(struct test_hdr), NULL, 0, 0, client_send_done, &f->cli);
        if (rc == 1) {
            unsigned cbs = f->cli.send_cbs;
            uint64_t d2 = time_mono_ns() + LOOP_CAP_NS;

            while (f->cli.send_cbs == cbs && time_mono_ns() < d2)
                net_progress(f->cli.net);
            assert_int_equal(f->cli.send_cbs, cbs + 1);
            assert_true(f->cli.last_send_status < 0);
        } else {
            assert_true(rc < 0);
        }
    } else {
        assert_null(f->cli.ep);
    }
    fixture_free(f);
}

static void test_peer_failure(void **state)
{
    run_peer_failure(false);
}

static void test_peer_failure_destroy_in_cb(void **state)
{
    run_peer_failure(true);
}

/*
 * Destroying an endpoint from inside a receive callback is deferred. The
 * victim goes to a third worker: an endpoint from the server back to the
 * client would be the very UCX endpoint the client's messages arrive on
 * (UCX matches the two), and closing it would cut the client off.
 */
static void test_destroy_ep_in_callback(void **state)
{
    struct fixture *f = fixture_new();
    struct net *other = make_net(false);
    const void *addr;
    size_t addr_len;

    assert_int_equal(net_address(other, &addr, &addr_len), 0);
    assert_int_equal(net_ep_create(f->srv.net, addr, addr_len, "other", NULL, NULL, &f->srv.victim),
                     0);
    f->srv.mode = RNDV_DESTROY_EP;
    send_rndv(f);
    assert_true(progress_until(f->srv.net, f->cli.net, client_send_finished, f));
    progress_rounds(f->srv.net, f->cli.net, 200);
    assert_null(f->srv.victim);
    assert_int_equal(f->cli.send_cbs, 1);
    /* Let the deferred close finish with `other` answering. */
    progress_rounds(f->srv.net, other, 2000);
    /* The client's endpoint still works. */
    send_echo(f, 0, 10);
    assert_true(progress_until(f->srv.net, f->cli.net, all_replies_one, f));
    assert_int_equal(f->cli.bad, 0);
    net_destroy(other);
    fixture_free(f);
}

static bool back_err_reported(void *arg)
{
    struct fixture *f = arg;

    return f->srv.back_err_cbs >= 1;
}

/*
 * What net.h tells servers that reply late: an endpoint created back to the
 * client's worker address is the reply endpoint, and once the client dies
 * it reports the failure and fails sends instead of dangling.
 */
static void test_connect_back_is_reply_ep(void **state)
{
    struct fixture *f = fixture_new();
    int rc;

    /* The server connects back from inside its receive callback. */
    assert_int_equal(net_address(f->cli.net, &f->srv.back_addr, &f->srv.back_addr_len), 0);
    send_echo(f, 0, 10);
    assert_true(progress_until(f->srv.net, f->cli.net, all_replies_one, f));
    assert_non_null(f->srv.last_reply);
    assert_non_null(f->srv.back);
    assert_ptr_equal(net_ep_peer(f->srv.back), f->srv.last_reply);

    /* Replies on it work. */
    send_echo(f, 1, 10);
    assert_true(progress_until(f->srv.net, f->cli.net, all_replies_two, f));
    assert_int_equal(f->cli.bad, 0);

    /* The client goes away without closing politely. */
    f->srv.back_addr = NULL;
    close_client_ep(f);
    net_destroy(f->cli.net);
    f->cli.net = NULL;
    assert_true(progress_until(f->srv.net, NULL, back_err_reported, f));
    assert_int_equal(f->srv.back_err_cbs, 1);
    assert_true(net_ep_status(f->srv.back) < 0);
    /* The kept reply endpoint is still safe: sends fail, no crash. */
    rc = net_send(f->srv.net, f->srv.last_reply, NET_AM_REPLY, &f->srv.slots[0].hdr,
                  sizeof(struct test_hdr), NULL, 0, 0, NULL, NULL);
    assert_true(rc < 0);
    net_ep_destroy(f->srv.back);
    f->srv.back = NULL;
    fixture_free(f);
}

static bool server_has_request(void *arg)
{
    struct fixture *f = arg;

    return f->srv.reqs >= 2;
}

/* net_arm / net_efd: arm when idle, the fd wakes up on a message. */
static void test_arm_efd(void **state)
{
    struct fixture *f = fixture_new();
    struct pollfd pfd;
    unsigned i;
    int rc = -EAGAIN, n;

    send_echo(f, 0, 10);
    assert_true(progress_until(f->srv.net, f->cli.net, all_replies_one, f));

    assert_true(net_efd(f->srv.net) >= 0);
    assert_true(net_efd(f->cli.net) >= 0);
    for (i = 0; i < 100000 && rc == -EAGAIN; i++) {
        while (net_progress(f->srv.net) != 0)
            ;
        rc = net_arm(f->srv.net);
    }
    assert_int_equal(rc, 0);

    /* Client sends; the server sleeps in poll() until it arrives. */
    send_echo(f, 1, 10);
    for (i = 0; i < 1000 && f->cli.send_imm + f->cli.send_cbs < 2; i++)
        net_progress(f->cli.net);
    pfd.fd = net_efd(f->srv.net);
    pfd.events = POLLIN;
    pfd.revents = 0;
    n = poll(&pfd, 1, 10000);
    assert_int_equal(n, 1);
    assert_true(pfd.revents & POLLIN);
    assert_true(progress_until(f->srv.net, f->cli.net, server_has_request, f));
    fixture_free(f);
}

/* ---- main ------------------------------------------------------------- */

static int setup_tcp(void **state)
{
    current_transport = TRANSPORT_TCP;
    return 0;
}

static int setup_default(void **state)
{
    current_transport = TRANSPORT_DEFAULT;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_to_errno),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_rndv_in_callback),
        cmocka_unit_test(test_rndv_deferred),
        cmocka_unit_test(test_rndv_short_buffer),
        cmocka_unit_test(test_rndv_drop),
        cmocka_unit_test(test_peer_failure),
        cmocka_unit_test(test_peer_failure_destroy_in_cb),
        cmocka_unit_test(test_destroy_ep_in_callback),
        cmocka_unit_test(test_connect_back_is_reply_ep),
        cmocka_unit_test(test_arm_efd),
    };
    int failed = 0;

    failed += cmocka_run_group_tests_name("net_am tcp,self", tests, setup_tcp, NULL);
    failed += cmocka_run_group_tests_name("net_am default transports", tests, setup_default, NULL);
    return failed != 0;
}
