/*
 * rpc.c - the client's request engine (docs/design.md#rpc-over-ucx).
 *
 * Issuing calls and waiting for them, and HELLO; the pending table is
 * slot.c, the endpoints are endpoint.c (both below this file).
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "client/error.h"
#include "client/slot.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "net/net.h"
#include "registry/registry.h"

/* Longest nap when the worker's event fd keeps waking us for nothing. */
#define RPC_NAP_MAX_MS 16
/* Without peer-failure handling: how often a waiting client checks that the
 * local servers it waits for still run. */
#define RPC_PID_CHECK_NS 100000000ull
/* A thread sleeping on its condvar re-checks at least this often. */
#define RPC_COND_WAIT_NS 1000000000ull

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
    s->server_pid = c->servers[call->server].pid;
    s->no_cancel = !c->servers[call->server].ep_pf;
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
 * Over shared memory (no peer-failure handling) UCX cannot cancel what it
 * still does with a decided call's buffers: a stopped server of this host
 * would, once it runs again, have UCX read or write them after the call
 * returned (a rendezvous send waits for the server's go-ahead). Such a call
 * goes back to its caller only when UCX is done with it or that server's
 * process is gone; until then the caller waits, as long as the server is
 * stopped. (From a dead process nothing can come once its messages have
 * been progressed, which the grace period allows for.)
 */
static bool rpc_slot_held(const struct client *c, const struct rpc_slot *s)
{
    return s->no_cancel && rpc_slot_uses_caller(s) && client_server_local(c, s->server) &&
           registry_pid_alive(s->server_pid);
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
                if (!s->in_done && rpc_slot_held(c, s)) {
                    s->deadline_ns = now + RPC_PID_CHECK_NS;
                    continue;
                }
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
 * recreate the worker (client_server_died: the dead server may have left
 * our shared-memory queue blocked); the next call re-reads its registry
 * file.
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

        if (srv->ep == NULL || srv->pid <= 0 || srv->ep_pf || !client_server_local(c, i) ||
            registry_pid_alive(srv->pid))
            continue;
        client_server_lost(c, i, -EIO, msg, sizeof(msg));
        client_server_died(c, i, msg);
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

/*
 * Not the driver, and not waiting for a slot: before sleeping on the
 * condvar, spin up to the spin budget with the lock dropped, yielding the
 * core on every turn, until the driver wakes this batch or leaves its role.
 * True when one of those happened (the caller looks again), false when the
 * budget ran out (the caller sleeps). A sleep costs the driver a futex wake
 * and the sleeper a context switch on the way back: with 4 threads on 2
 * cores that was half of the client's time (docs/performance.md section
 * 16); a yield to a thread that is runnable anyway costs far less.
 */
static bool rpc_wait_spin(struct client *c, struct rpc_batch *b)
{
    unsigned pokes = atomic_load_explicit(&b->pokes, memory_order_acquire);
    unsigned gen = atomic_load_explicit(&c->driver_gen, memory_order_acquire);
    uint64_t end;
    bool changed = false;

    if (c->spin_ns == 0 || b->want_slot)
        return false;
    client_lock_drop(c);
    end = time_mono_ns() + c->spin_ns;
    for (unsigned i = 1;; i++) {
        sched_yield();
        if (atomic_load_explicit(&b->pokes, memory_order_acquire) != pokes ||
            atomic_load_explicit(&c->driver_gen, memory_order_acquire) != gen) {
            changed = true;
            break;
        }
        if (i % 8 == 0 && time_mono_ns() >= end)
            break;
    }
    client_lock_take(c);
    return changed;
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
    bool woke = false, idle, spun = false;
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
            /* Spin once per wait (a spin that saw nothing leads to the
             * condvar), and again after each change it saw. Either way look
             * again under the lock first: a wake-up of this batch or the
             * driver leaving between the spin's last look and its
             * client_lock_take signals nobody (this thread is not in
             * c->waiters yet), and sleeping through it cost a whole
             * RPC_COND_WAIT_NS (found by review: 1 s stalls with threads
             * meeting at a barrier). */
            if (!spun) {
                spun = !rpc_wait_spin(c, b);
                continue;
            }
            rpc_wait_sleep(c, b);
            spun = false;
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
        /* Spin before sleeping, longer with chunk transfers in flight,
         * yielding the core on each idle pass from the start: a server or
         * another client sharing it runs at once instead of waiting for
         * this time slice to end (a yield with nobody else to run costs one
         * system call; a pure spin of 10 us first halved co-located create
         * rates, docs/performance.md section 13). No spin after a wakeup
         * that brought nothing. */
        if (empty_wakes == 0 && c->now_ns - idle_since < (b->data ? c->data_spin_ns : c->spin_ns)) {
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
    /* Nobody drives now: hand the role to the first waiter. Also when this
     * thread was not the driver: it may be the waiter a leaving driver woke,
     * which returns here without driving because its own call completed
     * meanwhile; the others would sleep until RPC_COND_WAIT_NS. */
    if (c->driver == b) {
        c->driver = NULL;
        atomic_fetch_add_explicit(&c->driver_gen, 1, memory_order_release);
    }
    if (c->driver == NULL && !list_empty(&c->waiters))
        pthread_cond_signal(&list_entry(c->waiters.next, struct rpc_batch, wait_link)->cond);
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
            if (call->status == 0) {
                /* Answered, but its data never came (the server died
                 * during the transfer, unreported without peer failure). */
                call->status = -EIO;
                if (b->msg[0] == '\0')
                    client_server_lost(c, s->server, -EIO, b->msg, sizeof(b->msg));
            }
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
    atomic_init(&b.pokes, 0);
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

/* ---- HELLO (docs/protocol.md): the first message on every endpoint ---- */

/* The HELLO of server idx: data = this client's worker address. */
static int client_hello_init(struct client *c, size_t idx, struct rpc_call *call)
{
    const void *addr;
    size_t len;
    int rc;

    rc = net_address(c->net, &addr, &len);
    if (rc < 0)
        return rc;
    if (len == 0 || len > PROTO_HELLO_ADDR_MAX) {
        error_msg("this client's UCX worker address (%zu bytes) does not fit a HELLO", len);
        return -EMSGSIZE;
    }
    rpc_call_init(call, PROTO_OP_HELLO, idx);
    call->req.hello_req.addr_len = (uint32_t)len;
    call->req.hello_req.session = c->session;
    call->req.hello_req.host_id = c->host_id;
    call->req.hello_req.pid = c->pid;
    call->req.hello_req.flags = c->servers[idx].ep_pf ? PROTO_HELLO_PEER_FAILURE : 0;
    call->ctx = c->servers[idx].ep_gen; /* the endpoint this HELLO greets */
    call->data = addr;
    call->data_len = len;
    return 0;
}

/* After a HELLO completed: remember it, or explain why it failed. */
static int client_hello_done(struct client *c, size_t idx, const struct rpc_call *call)
{
    char name[384];

    if (call->status == 0) {
        /* Another thread may have replaced the endpoint while this HELLO
         * waited: only the endpoint it greeted counts as greeted. */
        if (c->servers[idx].ep_gen == call->ctx)
            c->servers[idx].hello_done = true;
        placement_set_max_xfer(&c->place, idx, call->rep.ping_rep.max_xfer);
        return 0;
    }
    if (call->status == -EACCES)
        error_msg("%s refused this client's cluster cookie (registry %s)",
                  client_server_name(c, idx, name, sizeof(name)), c->registry);
    else
        error_msg("%s did not accept HELLO: %s", client_server_name(c, idx, name, sizeof(name)),
                  strerror(-call->status));
    return call->status;
}

int client_server_hello(struct client *c, size_t idx)
{
    struct rpc_call call;
    int rc;

    rc = client_hello_init(c, idx, &call);
    if (rc < 0)
        return rc;
    rpc_run_one(c, &call);
    return client_hello_done(c, idx, &call);
}

/* HELLO to every server in parallel: checks the cookie and learns max_xfer. */
int client_hello_all(struct client *c)
{
    struct rpc_call *calls;
    size_t i;
    int rc = 0, r;

    calls = calloc(c->nservers, sizeof(*calls));
    if (calls == NULL)
        return -ENOMEM;
    for (i = 0; i < c->nservers && rc == 0; i++)
        rc = client_hello_init(c, i, &calls[i]);
    if (rc < 0) {
        free(calls);
        return rc;
    }
    rpc_run_calls(c, calls, c->nservers);
    for (i = 0; i < c->nservers && calls[i].op == PROTO_OP_HELLO; i++) {
        r = client_hello_done(c, i, &calls[i]);
        /* A foreign cookie is the most telling failure: report that one. */
        if (r < 0 && (rc == 0 || r == -EACCES))
            rc = r;
    }
    free(calls);
    return rc;
}
