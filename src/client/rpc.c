/*
 * rpc.c - the client's request engine (docs/design.md#rpc-over-ucx).
 *
 * Pending table: a fixed array of slots. A request id is
 * (slot generation << 32) | slot index; the generation changes every time a
 * slot is reused, so a reply that arrives after its request was given up
 * (timeout, dead server) finds a different generation and is counted and
 * dropped. No pointer ever travels on the wire.
 *
 * A slot lives through these facts, each set by one UCX callback:
 *   decided       the call's status is final (reply, error reply, endpoint
 *                 failure, or deadline); later replies are stale
 *   send_pending  UCX still reads the header buffer / the user's data
 *   recv_pending  a rendezvous receive still writes the user's buffer
 * The call goes back to its caller once it is decided and UCX no longer
 * touches its buffers. If UCX does not let go within a grace period after a
 * failure (it should: failed endpoints cancel their operations) the call is
 * handed back anyway and the slot stays a "zombie" until UCX completes it.
 *
 * Waiting: net_progress until something completes; when idle for spin_ns,
 * arm the worker and poll its event fd up to the nearest deadline. Nothing
 * here busy-loops for longer than the spin budget.
 *
 * Every rpc_run is a batch with its own list of completed calls, so runs can
 * nest: the HELLO that must precede the first request on a (re)connected
 * endpoint (docs/protocol.md) runs as a batch of its own from inside the
 * issue of the request that needs it. A server that answers ENOTCONN has
 * forgotten this client (it restarted unnoticed): the client says HELLO
 * again and sends the refused request once more (refused = not executed).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "client/error.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "net/net.h"
#include "registry/registry.h"

/* Idle time after which a spinning wait yields the core on each pass. */
#define RPC_YIELD_AFTER_NS 10000ull
/* Longest nap when the worker's event fd keeps waking us for nothing. */
#define RPC_NAP_MAX_MS 16
/* Without peer-failure handling: how often a waiting client checks that the
 * local servers it waits for still run. */
#define RPC_PID_CHECK_NS 100000000ull
/* How long a failed call waits for UCX to let go of its buffers. */
#define RPC_GRACE_NS 1000000000ull
/* A thread sleeping on its condvar re-checks at least this often. */
#define RPC_COND_WAIT_NS 1000000000ull

/*
 * One rpc_run, owned by the thread that runs it (on its stack): its
 * completed calls wait in `done` until the run takes them. While the run
 * waits and another thread drives the worker, it sleeps on `cond`.
 */
struct rpc_batch {
    struct list_node done;
    bool data;      /* a chunk transfer was issued: spin longer before sleeping */
    bool hello;     /* a HELLO batch: may use the reserved slots */
    bool want_slot; /* waits for a free slot rather than a completion */
    bool waiting;   /* sleeps on cond (in c->waiters) */
    bool cond_ready;
    struct list_node wait_link;
    pthread_cond_t cond;
    char msg[ERROR_MSG_MAX]; /* first message about one of its calls */
};

struct rpc_slot {
    struct list_node link;  /* in free_slots or its batch's done list */
    struct list_node alive; /* in alive_slots while busy */
    struct client *c;
    struct rpc_call *call; /* NULL once handed back as a zombie */
    struct rpc_batch *batch;
    uint32_t idx;
    uint32_t gen;
    bool busy;
    bool decided;
    bool send_pending;
    bool recv_pending;
    bool in_done;
    size_t server;
    uint16_t op;
    uint64_t deadline_ns; /* reply deadline; after deciding, the end of the grace period */
    void *rdata;          /* READDIR receive buffer until the call is handed back */
    size_t rdata_len;
    uint8_t hdr[PROTO_MSG_MAX];
};

static uint64_t rpc_timeout_ns(const struct client *c)
{
    return (uint64_t)c->rpc_timeout_ms * 1000000ull;
}

int rpc_init(struct client *c, size_t nslots, size_t reserve)
{
    size_t i;

    c->slots = calloc(nslots, sizeof(*c->slots));
    if (c->slots == NULL)
        return -ENOMEM;
    c->nslots = nslots;
    c->nfree_slots = nslots;
    c->slot_reserve = reserve < nslots ? reserve : nslots / 2;
    list_init(&c->free_slots);
    list_init(&c->alive_slots);
    for (i = 0; i < nslots; i++) {
        struct rpc_slot *s = &c->slots[i];

        s->c = c;
        s->idx = (uint32_t)i;
        s->gen = 1;
        list_init(&s->alive);
        list_push_back(&c->free_slots, &s->link);
    }
    return 0;
}

void rpc_cleanup(struct client *c)
{
    size_t i;

    if (c->slots != NULL) {
        for (i = 0; i < c->nslots; i++)
            free(c->slots[i].rdata);
    }
    free(c->slots);
    c->slots = NULL;
    c->nslots = 0;
}

/*
 * From a receive callback: ignore the message. Returning 0 without receiving
 * a rendezvous data part drops it (net.h), and the sender's send completes.
 */
static int rpc_drop_msg(struct client *c, struct net_msg *msg)
{
    (void)c;
    (void)msg;
    return 0;
}

void rpc_kick(struct client *c)
{
    uint64_t one = 1;

    if (c->driver_polling && write(c->kick_fd, &one, sizeof(one)) < 0)
        log_debug("client: cannot wake the progress driver: %s", strerror(errno));
}

/* Wake the thread of batch b: from its condvar, or from poll() if it drives. */
static void rpc_batch_wake(struct client *c, struct rpc_batch *b)
{
    if (b->waiting)
        pthread_cond_signal(&b->cond);
    else if (c->driver == b)
        rpc_kick(c);
}

/* Free slots a normal batch must leave for HELLOs. */
static size_t rpc_reserve(const struct client *c, const struct rpc_batch *b)
{
    return b->hello ? 0 : c->slot_reserve;
}

static void rpc_slot_release(struct client *c, struct rpc_slot *s)
{
    struct list_node *pos, *tmp;

    list_remove(&s->alive);
    free(s->rdata);
    s->rdata = NULL;
    s->rdata_len = 0;
    s->busy = false;
    s->call = NULL;
    s->gen++;
    if (s->gen == 0)
        s->gen = 1;
    list_push_front(&c->free_slots, &s->link);
    c->nfree_slots++;
    if (c->slot_waiters == 0)
        return;
    list_for_each_safe(pos, tmp, &c->waiters)
    {
        struct rpc_batch *b = list_entry(pos, struct rpc_batch, wait_link);

        if (b->want_slot)
            pthread_cond_signal(&b->cond);
    }
}

/* Record the first message about one of b's calls; its thread reports it. */
static void rpc_batch_msg(struct rpc_batch *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rpc_batch_msg(struct rpc_batch *b, const char *fmt, ...)
{
    va_list ap;

    if (b->msg[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(b->msg, sizeof(b->msg), fmt, ap);
    va_end(ap);
}

/* Hand the call back to its rpc_run (once) and wake its thread. */
static void rpc_slot_hand_back(struct client *c, struct rpc_slot *s)
{
    if (s->in_done || s->call == NULL)
        return;
    s->in_done = true;
    list_push_back(&s->batch->done, &s->link);
    rpc_batch_wake(c, s->batch);
}

/*
 * Whether UCX may still touch the caller's buffers of a decided call. A
 * HELLO's send does not: its buffers are the slot's header and the worker
 * address, which outlive the call. That matters when a server stopped
 * before our connection to it was set up: the HELLO's send stays pending
 * until the server runs again, and waiting for it would make the call
 * fail only after a second, grace, period.
 */
static bool rpc_slot_uses_caller(const struct rpc_slot *s)
{
    return s->recv_pending || (s->send_pending && s->op != PROTO_OP_HELLO);
}

/* After any event: a decided slot without UCX activity is complete. */
static void rpc_slot_check(struct client *c, struct rpc_slot *s)
{
    if (!s->busy || !s->decided)
        return;
    if (s->call == NULL) {
        /* a zombie whose UCX operations finally ended */
        if (!s->send_pending && !s->recv_pending)
            rpc_slot_release(c, s);
        return;
    }
    if (!rpc_slot_uses_caller(s))
        rpc_slot_hand_back(c, s); /* becomes a zombie if UCX still sends */
}

static void rpc_slot_decide(struct client *c, struct rpc_slot *s, int status)
{
    if (s->decided)
        return;
    s->decided = true;
    if (s->call != NULL)
        s->call->status = status;
    /* Grace period for UCX to let go of the buffers (read the clock only
     * then). Aborting the endpoint ends them at once where UCX can (peer
     * failure handling on); where it cannot (shared memory without it) a
     * stopped peer never lets go, and a longer grace would only make the
     * call fail after a second timeout. */
    if (rpc_slot_uses_caller(s))
        s->deadline_ns = time_mono_ns() + RPC_GRACE_NS;
    rpc_slot_check(c, s);
}

static void rpc_send_done(void *arg, int status)
{
    struct rpc_slot *s = arg;
    struct client *c = s->c;
    char name[512];

    s->send_pending = false;
    if (status < 0 && !s->decided) {
        if (s->call != NULL && (status == -ETIMEDOUT || status == -ECONNRESET))
            rpc_batch_msg(s->batch, "%s",
                          client_server_lost(c, s->server, status, name, sizeof(name)));
        else if (s->call != NULL)
            rpc_batch_msg(s->batch, "%s: sending %s failed: %s",
                          client_server_name(c, s->server, name, sizeof(name)),
                          proto_op_name(s->op), strerror(-status));
        rpc_slot_decide(c, s, -EIO);
        return;
    }
    rpc_slot_check(c, s);
}

static void rpc_recv_done(void *arg, int status)
{
    struct rpc_slot *s = arg;
    struct client *c = s->c;
    char name[512];

    s->recv_pending = false;
    if (status < 0 && s->call != NULL && (status == -ETIMEDOUT || status == -ECONNRESET))
        rpc_batch_msg(s->batch, "%s", client_server_lost(c, s->server, status, name, sizeof(name)));
    if (status < 0 && s->call != NULL) {
        rpc_batch_msg(s->batch, "%s: receiving %s data failed: %s",
                      client_server_name(c, s->server, name, sizeof(name)), proto_op_name(s->op),
                      strerror(-status));
        if (s->call->status == 0)
            s->call->status = -EIO;
    }
    rpc_slot_check(c, s);
}

static struct rpc_slot *rpc_slot_lookup(struct client *c, uint64_t req_id)
{
    uint32_t idx = (uint32_t)req_id, gen = (uint32_t)(req_id >> 32);
    struct rpc_slot *s;

    if (idx >= c->nslots)
        return NULL;
    s = &c->slots[idx];
    if (!s->busy || s->gen != gen || s->decided || s->call == NULL)
        return NULL;
    return s;
}

/* Start receiving a data part into buf: eager copy or rendezvous pull. */
static int rpc_take_data(struct client *c, struct rpc_slot *s, struct net_msg *msg, void *buf,
                         size_t len)
{
    int rc;

    if (len == 0)
        return 0;
    if (!msg->rndv) {
        memcpy(buf, msg->data, len);
        return 0;
    }
    s->recv_pending = true;
    rc = net_recv_data(c->net, msg->desc, buf, len, rpc_recv_done, s);
    if (rc != 1)
        s->recv_pending = false;
    return rc < 0 ? rc : 0;
}

/* The body of a successful reply: per-op data handling. Returns 0 / -errno. */
static int rpc_reply_data(struct client *c, struct rpc_slot *s, struct net_msg *msg)
{
    struct rpc_call *call = s->call;
    size_t len = msg->data_len;
    int rc;

    switch (call->op) {
    case PROTO_OP_CHUNK_READ:
    case PROTO_OP_CHUNK_LIST:
    case PROTO_OP_INODE_LIST:
        if (len > call->rbuf_len)
            return -EPROTO;
        call->rlen = len;
        return rpc_take_data(c, s, msg, call->rbuf, len);
    case PROTO_OP_READDIR:
        if (len == 0)
            return 0;
        s->rdata = malloc(len);
        if (s->rdata == NULL)
            return -ENOMEM;
        s->rdata_len = len;
        rc = rpc_take_data(c, s, msg, s->rdata, len);
        return rc;
    default:
        return 0;
    }
}

int rpc_on_reply(void *arg, struct net_msg *msg)
{
    struct client *c = arg;
    struct proto_hdr h;
    struct rpc_slot *s;
    struct rpc_call *call;
    char name[384];
    int rc;

    rc = proto_hdr_unpack(msg->hdr, msg->hdr_len, &h);
    if (rc < 0 || !(h.flags & PROTO_FLAG_REPLY)) {
        c->bad_replies++;
        log_debug("client: dropping a malformed reply (%d)", rc);
        return rpc_drop_msg(c, msg);
    }
    s = rpc_slot_lookup(c, h.req_id);
    if (s == NULL || s->op != h.op) {
        c->stale_replies++;
        log_debug("client: dropping a stale %s reply (id %llx)", proto_op_name(h.op),
                  (unsigned long long)h.req_id);
        return rpc_drop_msg(c, msg);
    }
    call = s->call;
    if (h.status < 0) {
        rpc_slot_decide(c, s, error_from_wire(h.status));
        return rpc_drop_msg(c, msg);
    }
    rc = h.status > 0 ? -EPROTO : 0;
    if (rc == 0)
        rc = proto_body_unpack(h.op, true, (const uint8_t *)msg->hdr + PROTO_HDR_SIZE, h.body_len,
                               &call->rep);
    if (rc == 0)
        rc = proto_rep_check(h.op, &call->rep, h.data_len);
    if (rc == 0 && msg->data_len != h.data_len)
        rc = -EPROTO;
    if (rc == 0) {
        rc = rpc_reply_data(c, s, msg);
        if (rc == 0) {
            rpc_slot_decide(c, s, 0);
            return 0;
        }
        if (rc != -EPROTO) {
            /* net_recv_data failed: it released the descriptor already. */
            rpc_batch_msg(s->batch, "%s: receiving %s data failed: %s",
                          client_server_name(c, s->server, name, sizeof(name)), proto_op_name(h.op),
                          strerror(-rc));
            rpc_slot_decide(c, s, rc == -ENOMEM ? -ENOMEM : -EIO);
            return 0; /* a rndv part not taken (ENOMEM) is dropped */
        }
    }
    c->bad_replies++;
    rpc_batch_msg(s->batch, "%s sent a malformed %s reply",
                  client_server_name(c, s->server, name, sizeof(name)), proto_op_name(h.op));
    rpc_slot_decide(c, s, -EPROTO);
    return rpc_drop_msg(c, msg);
}

size_t rpc_fail_server(struct client *c, size_t idx, int status, const char *msg)
{
    struct list_node *pos, *tmp;
    size_t n = 0;

    list_for_each_safe(pos, tmp, &c->alive_slots)
    {
        struct rpc_slot *s = list_entry(pos, struct rpc_slot, alive);

        if (s->server == idx && !s->decided && s->call != NULL) {
            if (msg != NULL)
                rpc_batch_msg(s->batch, "%s", msg);
            rpc_slot_decide(c, s, status);
            n++;
        }
    }
    return n;
}

bool rpc_server_holds_buffers(const struct client *c, size_t idx)
{
    const struct list_node *pos;

    for (pos = c->alive_slots.next; pos != &c->alive_slots; pos = pos->next) {
        const struct rpc_slot *s = list_entry(pos, struct rpc_slot, alive);

        if (s->server == idx && s->call != NULL && rpc_slot_uses_caller(s))
            return true;
    }
    return false;
}

void rpc_call_init(struct rpc_call *call, unsigned op, size_t server)
{
    memset(call, 0, sizeof(*call));
    call->op = (uint16_t)op;
    call->server = server;
}

void rpc_call_path(struct rpc_call *call, unsigned op, size_t server, const char *path, size_t len)
{
    rpc_call_init(call, op, server);
    call->req.path_req.path_len = (uint32_t)len;
    call->data = path;
    call->data_len = len;
}

/* Take a free slot (leaving the HELLO reserve to HELLOs); NULL if none. */
static struct rpc_slot *rpc_slot_take(struct client *c, const struct rpc_batch *b)
{
    struct list_node *node;

    if (c->nfree_slots <= rpc_reserve(c, b))
        return NULL;
    node = list_pop_front(&c->free_slots);
    if (node == NULL)
        return NULL;
    c->nfree_slots--;
    return list_entry(node, struct rpc_slot, link);
}

/* Give back a slot that was taken but never carried a request. */
static void rpc_slot_untake(struct client *c, struct rpc_slot *s)
{
    list_init(&s->alive); /* not alive: rpc_slot_release's removal is a no-op */
    s->busy = false;
    rpc_slot_release(c, s);
}

/*
 * Send one call. On failure the call is not in flight and nothing is
 * pending. The slot is taken first (rpc_run checked that one is free): a
 * nested HELLO below may wait, and other threads may take slots meanwhile.
 */
static int rpc_issue(struct client *c, struct rpc_call *call, struct rpc_batch *batch)
{
    struct proto_hdr h;
    struct rpc_slot *s;
    struct net_ep *ep;
    char name[384], msg[512];
    int n, rc;

    call->status = 0;
    call->rlen = 0;
    call->rdata = NULL;
    call->rdata_len = 0;
    if (call->server >= c->nservers || call->data_len > PROTO_DATA_MAX)
        return -EINVAL;
    if (call->op == PROTO_OP_CHUNK_WRITE || call->op == PROTO_OP_CHUNK_READ)
        batch->data = true;
    s = rpc_slot_take(c, batch);
    if (s == NULL) {
        error_msg("too many requests in flight (%zu)", c->nslots);
        return -ENOBUFS;
    }
    rc = client_server_ep(c, call->server, &ep);
    if (rc == 0 && call->op != PROTO_OP_HELLO && !c->servers[call->server].hello_done) {
        /* A nested batch: this endpoint's first message must be HELLO. It
         * waits unlocked, so the endpoint is looked up again after it. */
        rc = client_server_hello(c, call->server);
        if (rc == 0)
            rc = client_server_ep(c, call->server, &ep);
    }
    if (rc < 0) {
        rpc_slot_untake(c, s);
        return rc;
    }

    memset(&h, 0, sizeof(h));
    h.op = call->op;
    h.req_id = ((uint64_t)s->gen << 32) | s->idx;
    h.data_len = (uint32_t)call->data_len;
    memcpy(h.cookie, c->cookie, PROTO_COOKIE_LEN);
    n = proto_msg_pack(&h, &call->req, s->hdr, sizeof(s->hdr));
    if (n < 0) {
        rpc_slot_untake(c, s);
        return n;
    }

    s->busy = true;
    s->decided = false;
    s->send_pending = false;
    s->recv_pending = false;
    s->in_done = false;
    s->call = call;
    s->batch = batch;
    s->server = call->server;
    s->op = call->op;
    s->deadline_ns = c->now_ns + rpc_timeout_ns(c);
    list_push_back(&c->alive_slots, &s->alive);

    rc = net_send(c->net, net_ep_peer(ep), NET_AM_REQUEST, s->hdr, (size_t)n, call->data,
                  call->data_len, NET_SEND_REPLY, rpc_send_done, s);
    if (rc < 0) {
        s->call = NULL;
        s->decided = true;
        rpc_slot_release(c, s);
        if (rc == -ETIMEDOUT || rc == -ECONNRESET) /* the endpoint failed */
            client_server_lost(c, call->server, rc, msg, sizeof(msg));
        else
            snprintf(msg, sizeof(msg), "%s: cannot send %s: %s",
                     client_server_name(c, call->server, name, sizeof(name)),
                     proto_op_name(call->op), strerror(-rc));
        error_msg("%s", msg);
        /* The endpoint is probably broken: reconnect on the next use. */
        client_server_drop(c, call->server, -EIO, msg);
        return -EIO;
    }
    s->send_pending = rc == 1;
    if (rc == 1)
        rpc_kick(c); /* a send in progress needs the driver's progress */
    return 0;
}

/*
 * Deadlines. A call without an answer by its deadline fails with ETIMEDOUT,
 * and so does everything else in flight to that server: its endpoint is
 * aborted (cancelling UCX operations on our buffers) and re-created by the
 * next call that needs the server. A decided call whose UCX operations did
 * not end within the grace period is handed back as a zombie. Run by the
 * progress driver for every thread's calls; each failed call's thread gets
 * the message.
 */
static void rpc_expire(struct client *c, uint64_t now)
{
    struct list_node *pos, *tmp;
    char name[384], msg[512];
    bool again = true;

    while (again) {
        again = false;
        list_for_each_safe(pos, tmp, &c->alive_slots)
        {
            struct rpc_slot *s = list_entry(pos, struct rpc_slot, alive);
            size_t server = s->server;

            if (s->call == NULL || now < s->deadline_ns)
                continue;
            if (s->decided) {
                if (!s->in_done)
                    log_debug("client: %s still busy in UCX after its grace period",
                              proto_op_name(s->op));
                rpc_slot_hand_back(c, s);
                continue;
            }
            /* Every call in flight to that server fails with this message:
             * name the server, not this call's op. */
            snprintf(msg, sizeof(msg), "%s did not answer within %d ms",
                     client_server_name(c, server, name, sizeof(name)), c->rpc_timeout_ms);
            log_debug("client: %s", msg);
            client_server_drop(c, server, -ETIMEDOUT, msg);
            again = true; /* dropping the endpoint may have progressed the worker */
            break;
        }
    }
}

/*
 * Without UCX peer-failure handling (shared memory) nobody reports a dead
 * server: every RPC_PID_CHECK_NS, fail the calls of each server on this
 * host whose registry pid is gone (or a zombie) with EIO naming it, and
 * drop its endpoint; the next call re-reads its registry file.
 */
static void rpc_check_pids(struct client *c, uint64_t now)
{
    char msg[512];
    size_t i;

    if (!c->watch_pids || now < c->next_pid_check_ns)
        return;
    c->next_pid_check_ns = now + RPC_PID_CHECK_NS;
    for (i = 0; i < c->nservers; i++) {
        const struct client_server *srv = &c->servers[i];

        if (srv->ep == NULL || srv->pid <= 0 || client_server_peer_failure(c, i) ||
            strcmp(srv->host, c->hostname) != 0 || registry_pid_alive(srv->pid))
            continue;
        client_server_lost(c, i, -EIO, msg, sizeof(msg));
        log_debug("client: %s", msg);
        client_server_drop(c, i, -EIO, msg);
    }
}

/* Milliseconds until the nearest deadline (at least 1, at most 1000). */
static int rpc_poll_timeout(struct client *c, uint64_t now)
{
    struct list_node *pos, *tmp;
    uint64_t next = now + 1000000000ull;

    list_for_each_safe(pos, tmp, &c->alive_slots)
    {
        struct rpc_slot *s = list_entry(pos, struct rpc_slot, alive);

        if (s->call != NULL && s->deadline_ns < next)
            next = s->deadline_ns;
    }
    if (c->watch_pids && next > c->next_pid_check_ns)
        next = c->next_pid_check_ns;
    if (next <= now)
        return 1;
    return (int)((next - now + 999999) / 1000000);
}

/* Progress passes between two clock reads (the clock can cost a microsecond). */
#define RPC_CLOCK_EVERY 32

/* True when rpc_wait may return to batch b's run. */
static bool rpc_ready(const struct client *c, const struct rpc_batch *b)
{
    return !list_empty(&b->done) || (b->want_slot && c->nfree_slots > rpc_reserve(c, b));
}

/*
 * Not the driver: sleep on the batch's condvar until the driver hands back
 * one of its calls, a slot frees up, or the driver role is free (woken by
 * the leaving driver). Re-checks once a second whatever happens.
 */
static void rpc_wait_sleep(struct client *c, struct rpc_batch *b)
{
    pthread_condattr_t attr;
    struct timespec ts;
    uint64_t until;

    if (!b->cond_ready) {
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&b->cond, &attr);
        pthread_condattr_destroy(&attr);
        b->cond_ready = true;
    }
    until = time_mono_ns() + RPC_COND_WAIT_NS;
    ts.tv_sec = (time_t)(until / 1000000000ull);
    ts.tv_nsec = (long)(until % 1000000000ull);
    b->waiting = true;
    list_push_back(&c->waiters, &b->wait_link);
    if (b->want_slot)
        c->slot_waiters++;
    pthread_cond_timedwait(&b->cond, c->lock, &ts);
    if (b->want_slot)
        c->slot_waiters--;
    list_remove(&b->wait_link);
    b->waiting = false;
}

/*
 * The driver sleeps: the worker is armed, so poll its event fd (and the
 * kick eventfd other threads use to wake it) up to the nearest deadline,
 * with the state lock dropped. `nap_ms` > 0: the event fd kept waking us
 * with nothing to do (seen with a peer that stopped mid-connection), so
 * leave it out and just nap. Returns true when the event fd was readable.
 */
static bool rpc_wait_poll(struct client *c, int timeout, int nap_ms)
{
    struct pollfd pfd[2];
    uint64_t junk;
    nfds_t n = 0;
    int efd = net_efd(c->net);

    pfd[n].fd = c->kick_fd;
    pfd[n].events = POLLIN;
    pfd[n++].revents = 0;
    if (nap_ms > 0 && nap_ms < timeout)
        timeout = nap_ms;
    if (nap_ms == 0 && efd >= 0) {
        pfd[n].fd = efd;
        pfd[n].events = POLLIN;
        pfd[n++].revents = 0;
    } else if (nap_ms == 0 && timeout > 1) {
        timeout = 1; /* no wakeup support: nap briefly instead of spinning */
    }
    c->driver_polling = true;
    client_lock_drop(c);
    poll(pfd, n, timeout);
    client_lock_take(c);
    c->driver_polling = false;
    /* Calls issued right after a long sleep must not get stale deadlines. */
    c->now_ns = time_mono_ns();
    if (pfd[0].revents & POLLIN) {
        if (read(c->kick_fd, &junk, sizeof(junk)) < 0)
            junk = 0;
    }
    return n > 1 && (pfd[1].revents & POLLIN) != 0;
}

/* Let a thread that waits for the state lock in (the driver keeps it while spinning). */
static void rpc_wait_yield(struct client *c)
{
    client_lock_drop(c);
    sched_yield();
    client_lock_take(c);
}

/*
 * Wait (state lock held on entry and exit, dropped inside) until at least
 * one call of batch b is complete, or b wants a slot and one is free.
 *
 * One thread at a time is the progress driver (c->driver): it calls
 * net_progress for everybody, its callbacks hand other threads' calls back
 * to their batches and wake them, and it expires every thread's deadlines.
 * The others sleep on their batch's condvar. A driver whose own batch is
 * ready gives the role up and wakes the first waiter, which takes it over.
 *
 * The driver spins first (a wakeup costs tens of microseconds on virtual
 * machines, more than most replies take), then arms the worker and sleeps
 * on its event fd up to the nearest deadline. The clock is read every
 * RPC_CLOCK_EVERY passes, busy or idle, so c->now_ns (used for new
 * deadlines) is never more than a few microseconds old.
 */
static void rpc_wait(struct client *c, struct rpc_batch *b)
{
    uint64_t idle_since = 0;
    unsigned empty_wakes = 0; /* event fd wakeups after which nothing happened */
    bool woke = false, idle;
    int rc, timeout, nap_ms;

    for (;;) {
        if (c->need_reap)
            client_reap(c);
        if (rpc_ready(c, b))
            break;
        if (c->driver == NULL) {
            c->driver = b;
            idle_since = 0;
        }
        if (c->driver != b) {
            rpc_wait_sleep(c, b);
            continue;
        }
        idle = net_progress(c->net) == 0;
        if (rpc_ready(c, b))
            break;
        if (!idle) {
            idle_since = 0;
            empty_wakes = 0;
        } else if (woke) {
            empty_wakes++;
        }
        woke = false;
        if (atomic_load_explicit(&client_lock_wanted, memory_order_relaxed) > 0)
            rpc_wait_yield(c);
        /* Counted across calls: a run of quick completions still reads the clock. */
        if (++c->wait_pass % RPC_CLOCK_EVERY != 0)
            continue;
        c->now_ns = time_mono_ns();
        rpc_expire(c, c->now_ns);
        rpc_check_pids(c, c->now_ns);
        if (!idle || rpc_ready(c, b) || c->need_reap)
            continue;
        if (idle_since == 0)
            idle_since = c->now_ns;
        /* Spin before sleeping, longer with chunk transfers in flight. After
         * a short pure spin, yield the core on each pass: a server or another
         * client sharing it runs instead of waiting for this time slice to
         * end. No spin after a wakeup that brought nothing. */
        if (empty_wakes == 0 && c->now_ns - idle_since < (b->data ? c->data_spin_ns : c->spin_ns)) {
            if (c->now_ns - idle_since >= RPC_YIELD_AFTER_NS)
                rpc_wait_yield(c);
            continue;
        }
        rc = net_arm(c->net);
        if (rc == -EAGAIN) {
            woke = true; /* "events pending" that progress then does not see count too */
            if (empty_wakes < 2)
                continue;
        }
        timeout = rpc_poll_timeout(c, c->now_ns);
        nap_ms = 0;
        if (empty_wakes >= 2) {
            nap_ms = 1 << (empty_wakes - 2 < 4 ? empty_wakes - 2 : 4);
            if (nap_ms > RPC_NAP_MAX_MS)
                nap_ms = RPC_NAP_MAX_MS;
        }
        woke = rpc_wait_poll(c, timeout, nap_ms) || nap_ms > 0;
        idle_since = 0;
        c->wait_pass = RPC_CLOCK_EVERY - 1; /* read the clock right after waking */
    }
    if (c->driver == b) {
        c->driver = NULL;
        if (!list_empty(&c->waiters))
            pthread_cond_signal(&list_entry(c->waiters.next, struct rpc_batch, wait_link)->cond);
    }
}

/*
 * A call refused with ENOTCONN was not executed: the server does not know
 * this client any more. Say HELLO again and resend it, once. Returns true
 * when the call is in flight again.
 */
static bool rpc_retry_unknown(struct client *c, struct rpc_call *call, struct rpc_batch *b)
{
    char name[384];
    int rc;

    if (call->status != -ENOTCONN || call->op == PROTO_OP_HELLO)
        return false;
    if (!call->retried) {
        call->retried = true;
        c->servers[call->server].hello_done = false;
        rc = rpc_issue(c, call, b);
        if (rc == 0)
            return true;
        call->status = rc;
        return false;
    }
    error_msg("%s keeps refusing this client (ENOTCONN)",
              client_server_name(c, call->server, name, sizeof(name)));
    call->status = -EIO;
    return false;
}

/* Take the completed calls of batch b; returns how many. */
static unsigned rpc_take_done(struct client *c, struct rpc_src *src, struct rpc_batch *b)
{
    struct list_node *node;
    struct rpc_call *call;
    unsigned n = 0;

    while ((node = list_pop_front(&b->done)) != NULL) {
        struct rpc_slot *s = list_entry(node, struct rpc_slot, link);

        call = s->call;
        s->in_done = false;
        if (s->rdata != NULL && !s->recv_pending) {
            call->rdata = s->rdata;
            call->rdata_len = s->rdata_len;
            s->rdata = NULL;
            s->rdata_len = 0;
        }
        if (s->send_pending || s->recv_pending) {
            s->call = NULL; /* zombie: released when UCX completes */
            if (call->status == 0)
                call->status = -EIO;
        } else {
            rpc_slot_release(c, s);
        }
        if (rpc_retry_unknown(c, call, b))
            continue;
        n++;
        src->done(src, call);
    }
    return n;
}

static int rpc_run_batch(struct client *c, struct rpc_src *src, bool hello)
{
    unsigned inflight = 0, max = c->max_inflight;
    struct rpc_call *call;
    struct rpc_batch b;
    int rc;

    list_init(&b.done);
    list_init(&b.wait_link);
    b.data = false;
    b.hello = hello;
    b.want_slot = false;
    b.waiting = false;
    b.cond_ready = false;
    b.msg[0] = '\0';
    c->now_ns = time_mono_ns(); /* deadlines of this batch's first calls */
    if (max == 0)
        max = 1;
    for (;;) {
        /* Top up, leaving slots to threads that wait for one. */
        while (inflight < max && (inflight == 0 || c->slot_waiters == 0)) {
            if (c->nfree_slots <= rpc_reserve(c, &b)) {
                if (inflight > 0)
                    break;
                b.want_slot = true; /* nothing of ours will free one: wait */
                rpc_wait(c, &b);
                b.want_slot = false;
                continue;
            }
            call = src->next(src);
            if (call == NULL)
                break;
            call->retried = false;
            rc = rpc_issue(c, call, &b);
            if (rc < 0) {
                call->status = rc;
                src->done(src, call);
                continue;
            }
            inflight++;
        }
        if (inflight == 0)
            break;
        rpc_wait(c, &b);
        inflight -= rpc_take_done(c, src, &b);
    }
    if (b.cond_ready)
        pthread_cond_destroy(&b.cond);
    /* Messages recorded by whichever thread ran the callbacks: ours now. */
    if (b.msg[0] != '\0')
        error_msg("%s", b.msg);
    return 0;
}

int rpc_run(struct client *c, struct rpc_src *src)
{
    return rpc_run_batch(c, src, false);
}

struct rpc_array_src {
    struct rpc_src src;
    struct rpc_call *calls;
    size_t n, next;
    int first_err;
};

static struct rpc_call *rpc_array_next(struct rpc_src *src)
{
    struct rpc_array_src *a = (struct rpc_array_src *)src;

    return a->next < a->n ? &a->calls[a->next++] : NULL;
}

static void rpc_array_done(struct rpc_src *src, struct rpc_call *call)
{
    struct rpc_array_src *a = (struct rpc_array_src *)src;

    if (call->status < 0 && a->first_err == 0)
        a->first_err = call->status;
}

int rpc_run_calls(struct client *c, struct rpc_call *calls, size_t n)
{
    struct rpc_array_src a = {
        .src = {.next = rpc_array_next, .done = rpc_array_done},
        .calls = calls,
        .n = n,
    };

    rpc_run_batch(c, &a.src, n > 0 && calls[0].op == PROTO_OP_HELLO);
    return a.first_err;
}

int rpc_run_one(struct client *c, struct rpc_call *call)
{
    rpc_run_calls(c, call, 1);
    return call->status;
}
