/*
 * clients.c - the clients a server knows, each with an endpoint it owns.
 *
 * UCX's reply endpoint of a message belongs to UCX: when the peer dies, UCX
 * may destroy it, and a reply sent on it later (after storage I/O) would
 * touch freed memory. So a client's first request is HELLO with its worker
 * address; the server creates its own endpoint to it (UCX recognizes the
 * existing connection, so that endpoint is the very handle later messages
 * carry as their reply endpoint). Requests from peers that did not say hello
 * are refused with ENOTCONN. An endpoint is destroyed only after its peer
 * failed and no request in flight still refers to it.
 *
 * The endpoint uses the UCX error handling the client's HELLO names (UCX
 * joins only equal modes; docs/transports.md). Without peer-failure
 * handling nobody reports a client's death; for a client on this host
 * (same host id) its pid is checked every SERVER_CLIENT_CHECK_NS instead,
 * so a killed local client leaves the table as a failed one does.
 *
 * Lookup is per request, so the table is an open-addressing hash on the
 * endpoint handle (no allocation on the hot path).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "registry/registry.h"
#include "server/server_int.h"

/* How often the pids of local clients without peer-failure handling are checked. */
#define SERVER_CLIENT_CHECK_NS 1000000000ull

struct server_client {
    net_peer_t peer;
    struct net_ep *ep;
    struct server *srv;
    unsigned refs;
    bool dead;
    bool peer_failure;  /* its endpoint has UCX peer-failure handling */
    uint64_t watch_pid; /* its pid on this host, checked (srv->clients_watched); 0: not */
    uint64_t last_ns;   /* last HELLO or request (for eviction) */
    /* Who it is (HELLO): the holder of the orphans it makes (orphans.c). */
    uint64_t session, host, pid;
};

static size_t client_hash(net_peer_t peer, size_t mask)
{
    uint64_t x = (uint64_t)(uintptr_t)peer;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & mask;
}

static int clients_grow(struct server *srv)
{
    size_t cap = srv->clients_cap ? srv->clients_cap * 2 : 64;
    struct server_client **slots = calloc(cap, sizeof(*slots));

    if (slots == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < srv->clients_cap; i++) {
        struct server_client *c = srv->clients[i];

        if (c == NULL)
            continue;
        size_t j = client_hash(c->peer, cap - 1);
        while (slots[j] != NULL)
            j = (j + 1) & (cap - 1);
        slots[j] = c;
    }
    free(srv->clients);
    srv->clients = slots;
    srv->clients_cap = cap;
    return 0;
}

struct server_client *server_client_find(struct server *srv, net_peer_t peer)
{
    size_t mask, i;

    if (srv->clients_cap == 0 || peer == NULL)
        return NULL;
    mask = srv->clients_cap - 1;
    for (i = client_hash(peer, mask); srv->clients[i] != NULL; i = (i + 1) & mask)
        if (srv->clients[i]->peer == peer)
            return srv->clients[i];
    return NULL;
}

/* Remove from the table with backward-shift deletion (no tombstones). */
static void clients_remove(struct server *srv, struct server_client *c)
{
    size_t mask = srv->clients_cap - 1, i, j;

    for (i = client_hash(c->peer, mask); srv->clients[i] != c; i = (i + 1) & mask)
        if (srv->clients[i] == NULL)
            return;
    srv->clients[i] = NULL;
    srv->nclients--;
    for (j = (i + 1) & mask; srv->clients[j] != NULL; j = (j + 1) & mask) {
        struct server_client *m = srv->clients[j];
        size_t home = client_hash(m->peer, mask);

        /* move m back if its home is not in (i, j] cyclically */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            srv->clients[i] = m;
            srv->clients[j] = NULL;
            i = j;
        }
    }
}

static void client_unwatch(struct server_client *c)
{
    if (c->watch_pid != 0) {
        c->watch_pid = 0;
        c->srv->clients_watched--;
    }
}

static void client_free(struct server_client *c)
{
    struct server *srv = c->srv;

    client_unwatch(c);
    clients_remove(srv, c);
    /* Not waited for: a flush towards a dead peer without peer-failure
     * handling may never end (net_progress abandons it after a second). */
    net_ep_close(c->ep);
    free(c);
}

/* The client is gone: forget it once no request refers to it any more. */
static void client_gone(struct server_client *c)
{
    c->dead = true;
    /* Its process may have died: the orphans it holds here start their
     * grace (unless another connection of its session lives). */
    server_orphans_client_failed(c->srv, c->session);
    if (c->refs == 0)
        client_free(c);
}

static void client_failed(void *arg, struct net_ep *ep, int status)
{
    log_debug("client endpoint %s closed: %d", net_ep_name(ep), status);
    client_gone(arg);
}

/*
 * The table is full: drop the least recently active client that has no
 * request in progress. Without peer-failure handling (shared memory) a
 * departed client is never reported, so this is what bounds the table; a
 * live client that is dropped gets ENOTCONN on its next request and says
 * HELLO again. Returns false when every client is busy.
 */
static bool clients_evict_one(struct server *srv)
{
    struct server_client *victim = NULL;

    for (size_t i = 0; i < srv->clients_cap; i++) {
        struct server_client *c = srv->clients[i];

        if (c != NULL && c->refs == 0 && (victim == NULL || c->last_ns < victim->last_ns))
            victim = c;
    }
    if (victim == NULL)
        return false;
    log_debug("dropping the least recently active client (%zu clients, limit %lld)", srv->nclients,
              (long long)srv->cfg.max_clients);
    client_unwatch(victim);
    clients_remove(srv, victim);
    net_ep_abort(victim->ep);
    free(victim);
    return true;
}

void server_client_touch(struct server_client *c)
{
    c->last_ns = time_mono_ns();
}

int server_client_hello(struct server *srv, net_peer_t reply, const void *addr, size_t len,
                        bool peer_failure, uint64_t host, uint64_t pid, struct server_client **c_p)
{
    struct server_client *c = server_client_find(srv, reply);
    struct net_ep *ep;
    int rc;

    if (c != NULL && !c->dead) {
        *c_p = c;
        return 0;
    }
    if (srv->nclients >= (size_t)srv->cfg.max_clients && !clients_evict_one(srv)) {
        log_warn("refused a client: %zu clients, all busy (rpc.max_clients)", srv->nclients);
        return -EUSERS;
    }
    if ((srv->nclients + 1) * 2 > srv->clients_cap && (rc = clients_grow(srv)) < 0)
        return rc;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    rc = net_ep_create_mode(srv->net, addr, len, "client", client_failed, c, peer_failure, &ep);
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->ep = ep;
    c->srv = srv;
    c->peer_failure = peer_failure;
    c->peer = net_ep_peer(ep);
    c->last_ns = time_mono_ns();
    if (c->peer != reply)
        log_warn("client endpoint differs from the message's reply endpoint");
    {
        size_t mask = srv->clients_cap - 1, i = client_hash(c->peer, mask);

        while (srv->clients[i] != NULL)
            i = (i + 1) & mask;
        srv->clients[i] = c;
        srv->nclients++;
    }
    if (!peer_failure && host == srv->host_id && pid != 0) {
        c->watch_pid = pid;
        if (srv->clients_watched++ == 0)
            srv->clients_next_ns = time_mono_ns() + SERVER_CLIENT_CHECK_NS;
    }
    *c_p = c;
    return 0;
}

net_peer_t server_client_peer(const struct server_client *c)
{
    return c->peer;
}

bool server_client_dead(const struct server_client *c)
{
    return c->dead;
}

/*
 * A local client without peer-failure handling that says HELLO from a new
 * worker has left its old one: it recreates its worker when a server of
 * its host died, since the dead process may have left the shared-memory
 * queue it received on blocked for good (docs/transports.md). Replies
 * still owed to the old worker can never be delivered, so its entries go
 * as a dead process's do (their requests are given up a check later).
 */
static void clients_supersede(struct server_client *c)
{
    struct server *srv = c->srv;
    struct server_client *old[16];
    size_t n = 0;

    if (c->watch_pid == 0)
        return;
    /* Collect first: freeing a client reshuffles the table. */
    for (size_t i = 0; i < srv->clients_cap && n < sizeof(old) / sizeof(old[0]); i++) {
        struct server_client *o = srv->clients[i];

        if (o != NULL && o != c && !o->dead && o->watch_pid == c->watch_pid &&
            o->session == c->session)
            old[n++] = o;
    }
    for (size_t i = 0; i < n; i++) {
        log_info("client pid %llu (this host) connected from a new worker: its old connection "
                 "is dropped",
                 (unsigned long long)c->watch_pid);
        client_gone(old[i]); /* never c: the HELLO being answered holds it */
    }
}

void server_client_identify(struct server_client *c, uint64_t session, uint64_t host, uint64_t pid)
{
    c->session = session;
    c->host = host;
    c->pid = pid;
    clients_supersede(c);
}

/* True when c is still in the client table. */
static bool client_listed(const struct server *srv, const struct server_client *c)
{
    for (size_t i = 0; i < srv->clients_cap; i++) {
        if (srv->clients[i] == c)
            return true;
    }
    return false;
}

void server_clients_tick(struct server *srv)
{
    struct server_client *due[16];
    size_t n = 0;
    uint64_t now;

    if (srv->clients_watched == 0)
        return;
    now = time_mono_ns();
    if (now < srv->clients_next_ns)
        return;
    /* Collect first: freeing a client reshuffles the table. */
    for (size_t i = 0; i < srv->clients_cap && n < sizeof(due) / sizeof(due[0]); i++) {
        struct server_client *c = srv->clients[i];

        if (c != NULL && c->watch_pid != 0 &&
            (c->dead || !registry_pid_alive((int64_t)c->watch_pid)))
            due[n++] = c;
    }
    for (size_t i = 0; i < n; i++) {
        struct server_client *c = due[i];
        uint64_t pid;

        /* Giving up an earlier one's requests can free other clients of
         * the batch (their last reference): only those still in the table
         * are there. Nothing is allocated in this loop, so an address
         * found there is the same client. */
        if (!client_listed(srv, c))
            continue;
        pid = c->watch_pid;

        if (c->dead) {
            /* Gone since an earlier check: whatever it sent has arrived
             * by now, so what still waits for it never ends. */
            size_t k = server_requests_reclaim(srv, c); /* may free c */

            /* Killed in the middle of sending, it may have left this
             * server's shared-memory queue blocked (docs/transports.md). */
            if (k > 0)
                log_warn("client pid %llu (this host, gone): %zu request(s) it left in transfer "
                         "given up; should this host's clients now time out, a message it was "
                         "writing blocks this server's shared-memory queue: restart the server",
                         (unsigned long long)pid, k);
            continue;
        }
        log_info("client pid %llu (this host) is gone: its connection is dropped",
                 (unsigned long long)pid);
        client_gone(c); /* freed unless requests refer to it: then reclaimed later */
    }
    /* A full batch: look again at once for more. */
    srv->clients_next_ns = n == sizeof(due) / sizeof(due[0]) ? now : now + SERVER_CLIENT_CHECK_NS;
}

int server_clients_timeout_ms(const struct server *srv)
{
    uint64_t now;

    if (srv->clients_watched == 0)
        return -1;
    now = time_mono_ns();
    if (now >= srv->clients_next_ns)
        return 0;
    return (int)((srv->clients_next_ns - now) / 1000000ull) + 1;
}

void server_client_holder(const struct server_client *c, struct meta_holder *h)
{
    h->session = c->session;
    h->host = c->host;
    h->pid = c->pid;
}

size_t server_clients_connected(const struct server *srv)
{
    size_t n = 0;

    for (size_t i = 0; i < srv->clients_cap; i++)
        n += srv->clients[i] != NULL && !srv->clients[i]->dead;
    return n;
}

bool server_session_connected(const struct server *srv, uint64_t session)
{
    /* Only while orphans of remote holders are checked or listed: a scan
     * of the table is fine for that. */
    for (size_t i = 0; i < srv->clients_cap; i++) {
        const struct server_client *c = srv->clients[i];

        if (c != NULL && !c->dead && c->session == session)
            return true;
    }
    return false;
}

void server_client_get(struct server_client *c)
{
    c->refs++;
}

void server_client_put(struct server_client *c)
{
    if (--c->refs == 0 && c->dead)
        client_free(c);
}

void server_clients_abort(struct server *srv)
{
    struct server_client **all;
    size_t n = 0;

    if (srv->nclients == 0)
        return;
    /* Collect first: aborting runs send callbacks that may free clients and
     * reshuffle the table. */
    all = malloc(srv->nclients * sizeof(*all));
    if (all == NULL)
        return;
    for (size_t i = 0; i < srv->clients_cap; i++)
        if (srv->clients[i] != NULL)
            all[n++] = srv->clients[i];
    for (size_t i = 0; i < n; i++) {
        struct net_ep *ep = all[i]->ep;

        all[i]->dead = true;
        client_unwatch(all[i]);
        all[i]->ep = NULL; /* client_free must not close it a second time */
        net_ep_abort(ep);
    }
    free(all);
}

void server_clients_cleanup(struct server *srv)
{
    for (size_t i = 0; i < srv->clients_cap; i++) {
        struct server_client *c = srv->clients[i];

        if (c != NULL) {
            net_ep_destroy(c->ep);
            free(c);
        }
    }
    free(srv->clients);
    srv->clients = NULL;
    srv->clients_cap = srv->nclients = 0;
}
