/*
 * slot.c - the pending table of the client's request engine (rpc.c issues
 * and waits; docs/design.md#rpc-over-ucx).
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
 * Here: the slots, the UCX callbacks that decide them (send and receive
 * completions, replies), handing decided calls back to their batches, and
 * failing every call of one server.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "client/error.h"
#include "client/slot.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "net/net.h"

/* How long a failed call waits for UCX to let go of its buffers. */
#define RPC_GRACE_NS 1000000000ull

uint64_t rpc_timeout_ns(const struct client *c)
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
    atomic_fetch_add_explicit(&b->pokes, 1, memory_order_release);
    if (b->waiting)
        pthread_cond_signal(&b->cond);
    else if (c->driver == b)
        rpc_kick(c);
}

/* Free slots a normal batch must leave for HELLOs. */
size_t rpc_reserve(const struct client *c, const struct rpc_batch *b)
{
    return b->hello ? 0 : c->slot_reserve;
}

void rpc_slot_release(struct client *c, struct rpc_slot *s)
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
void rpc_slot_hand_back(struct client *c, struct rpc_slot *s)
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
bool rpc_slot_uses_caller(const struct rpc_slot *s)
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

void rpc_send_done(void *arg, int status)
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
    case PROTO_OP_ORPHAN_LIST:
    case PROTO_OP_STAT: /* read at open (PROTO_STAT_HEAD) */
    case PROTO_OP_PUT:  /* a status per file */
    case PROTO_OP_GET:  /* attributes and bytes per file */
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
    char name[512];
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
            if (rc == -ETIMEDOUT || rc == -ECONNRESET) /* the endpoint failed */
                rpc_batch_msg(s->batch, "%s",
                              client_server_lost(c, s->server, rc, name, sizeof(name)));
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

void rpc_fail_all(struct client *c, int status, const char *msg)
{
    struct list_node *pos, *tmp;

    list_for_each_safe(pos, tmp, &c->alive_slots)
    {
        struct rpc_slot *s = list_entry(pos, struct rpc_slot, alive);

        if (s->call == NULL)
            continue;
        rpc_batch_msg(s->batch, "%s", msg);
        rpc_slot_decide(c, s, status);
    }
}

void rpc_slots_unpin(struct client *c)
{
    struct list_node *pos, *tmp;

    list_for_each_safe(pos, tmp, &c->alive_slots)
    {
        struct rpc_slot *s = list_entry(pos, struct rpc_slot, alive);

        if (s->recv_pending && s->call != NULL && s->call->status == 0)
            s->call->status = -EIO; /* answered, but its data never came */
        s->send_pending = false;
        s->recv_pending = false;
        rpc_slot_check(c, s); /* hands back or releases: may unlink s */
    }
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

/* Take a free slot (leaving the HELLO reserve to HELLOs); NULL if none. */
struct rpc_slot *rpc_slot_take(struct client *c, const struct rpc_batch *b)
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
