/*
 * endpoint.c - the servers' UCX endpoints: created at connect, (re)created
 * on demand, given up on failure (client.h).
 *
 * An endpoint that fails (peer died, connection reset, or a request timed
 * out) is destroyed at the next safe point; the next call that needs that
 * server re-reads its registry file and connects again. Other servers are
 * not affected, except when a same-host server without peer-failure
 * handling died: then the whole worker is recreated (client_server_died).
 * Giving an endpoint up fails its calls in flight (slot.c); the HELLO a
 * new endpoint needs first is rpc.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/error.h"
#include "common/log.h"
#include "net/net.h"
#include "registry/registry.h"

static void client_ep_error(void *arg, struct net_ep *ep, int status)
{
    struct client_server *srv = arg;
    struct client *c = srv->c;
    char name[384];

    char msg[512];

    if (srv->ep != ep || srv->ep_error != 0)
        return; /* an endpoint we already gave up on */
    srv->ep_error = status < 0 ? status : -EIO;
    c->need_reap = true;
    client_server_name(c, srv->idx, name, sizeof(name));
    /* Only the calls that needed this server explain their failure with it
     * (in their own threads: slot.c hands the message to each call's batch). */
    client_server_lost(c, srv->idx, srv->ep_error, msg, sizeof(msg));
    rpc_fail_server(c, srv->idx, -EIO, msg);
    log_debug("client: %s", msg);
}

void client_reap(struct client *c)
{
    size_t i;

    c->need_reap = false;
    for (i = 0; i < c->nservers; i++) {
        struct client_server *srv = &c->servers[i];
        struct net_ep *ep = srv->ep;

        if (ep == NULL || srv->ep_error == 0)
            continue;
        srv->ep = NULL;
        srv->hello_done = false;
        net_ep_close(ep);
        rpc_kick(c); /* the close may have progressed the worker: the driver re-arms */
    }
}

void client_server_drop(struct client *c, size_t idx, int status, const char *msg)
{
    struct client_server *srv = &c->servers[idx];
    struct net_ep *ep = srv->ep;
    bool stuck = rpc_server_holds_buffers(c, idx);

    rpc_fail_server(c, idx, status, msg);
    srv->ep = NULL;
    srv->ep_error = 0;
    srv->hello_done = false;
    if (ep == NULL)
        return;
    /* Normally a flushing close, not an abort: a server that was only
     * stopped (SIGSTOP) then forgets this client cleanly before it says
     * HELLO again (an abort has left it refusing the next requests). But
     * when UCX still reads or writes a caller's buffer for this server (a
     * rendezvous write the server never pulled), only an abort ends that
     * now; otherwise the call would fail after a second, grace, period.
     * Either way the close finishes in the driver's progress: waiting for
     * it here would hold the state lock for up to a second. */
    if (stuck)
        net_ep_abort(ep);
    else
        net_ep_close_unanswered(ep); /* a sick peer: net_destroy does not wait for it */
    rpc_kick(c);
}

void client_server_died(struct client *c, size_t idx, const char *msg)
{
    struct net *old = c->net, *fresh;
    char err[512];
    size_t i;
    int rc;

    rc = net_create(true, &fresh, err, sizeof(err));
    if (rc == 0) {
        rc = net_set_handler(fresh, NET_AM_REPLY, rpc_on_reply, c);
        if (rc < 0) {
            snprintf(err, sizeof(err), "reply handler: %s", strerror(-rc));
            net_destroy(fresh);
        }
    }
    if (rc < 0) {
        log_warn("client: cannot recreate the UCX worker after a local server died (%s); "
                 "only that server's connection is dropped",
                 err);
        client_server_drop(c, idx, -EIO, msg);
        return;
    }
    rpc_fail_all(c, -EIO, msg);
    for (i = 0; i < c->nservers; i++) {
        struct client_server *srv = &c->servers[i];
        struct net_ep *ep = srv->ep;

        srv->ep = NULL;
        srv->ep_error = 0;
        srv->hello_done = false;
        /* Not waited for: the worker goes anyway, and a flush toward the
         * dead server (or past a blocked queue) would take a second. */
        if (ep != NULL)
            net_ep_close_unanswered(ep);
    }
    c->net = fresh;
    /* Purges what the old worker still had: callbacks run from in here. */
    net_destroy(old);
    rpc_slots_unpin(c);
    rpc_kick(c);
    log_debug("client: %s; UCX worker recreated (its shared-memory queue may be blocked)", msg);
}

/* Re-read server idx's registry file before reconnecting (it may have restarted). */
static int client_server_reread(struct client *c, size_t idx)
{
    struct client_server *srv = &c->servers[idx];
    struct registry_entry e;
    char path[BFS_PATH_MAX + 80], err[512], name[384];
    int rc;

    snprintf(path, sizeof(path), "%s/%s.addr", c->registry, srv->node_id);
    memset(&e, 0, sizeof(e));
    rc = registry_entry_read(path, &e, err, sizeof(err));
    if (rc < 0) {
        error_msg("%s is not available: %s", client_server_name(c, idx, name, sizeof(name)), err);
        return -EIO;
    }
    if (memcmp(e.cookie, c->cookie, PROTO_COOKIE_LEN) != 0 || strcmp(e.node_id, srv->node_id)) {
        registry_entry_cleanup(&e);
        error_msg("%s: %s now belongs to another cluster",
                  client_server_name(c, idx, name, sizeof(name)), path);
        return -EIO;
    }
    snprintf(srv->host, sizeof(srv->host), "%s", e.host);
    srv->pid = e.pid;
    srv->host_id = e.host_id;
    srv->peer_failure = e.peer_failure;
    /* A stale file of a dead (or zombie) process on this host: fail fast,
     * not after a timeout. */
    if (client_server_local(c, idx) && !registry_pid_alive(e.pid)) {
        registry_entry_cleanup(&e);
        error_msg("%s is not running (stale registry file %s)",
                  client_server_name(c, idx, name, sizeof(name)), path);
        return -EIO;
    }
    free(srv->addr);
    srv->addr = e.addr;
    srv->addr_len = e.addr_len;
    e.addr = NULL;
    placement_set_max_xfer(&c->place, idx, e.max_xfer);
    direct_setup(c, idx, &e);
    registry_entry_cleanup(&e);
    return 0;
}

bool client_server_peer_failure(const struct client *c, size_t idx)
{
    return net_pf_choose(c->net, c->servers[idx].peer_failure, client_server_local(c, idx));
}

int client_server_connect(struct client *c, size_t idx)
{
    struct client_server *srv = &c->servers[idx];
    bool pf = client_server_peer_failure(c, idx);
    char name[384];
    int rc;

    /* UCX cannot join endpoints of different error handling modes: a
     * server that takes only the other one could not connect back and
     * would never answer the HELLO. */
    if (net_peer_failure_forced() && srv->peer_failure != NET_PF_AUTO &&
        pf != (srv->peer_failure != NET_PF_NONE)) {
        error_msg("%s takes only endpoints %s UCX peer-failure handling (peer_failure=%d in its "
                  "registry file), this client forces them %s (BENCHFS_PEER_FAILURE=%d in its "
                  "environment): UCX cannot connect the two; unset BENCHFS_PEER_FAILURE here",
                  client_server_name(c, idx, name, sizeof(name)),
                  srv->peer_failure != NET_PF_NONE ? "with" : "without", srv->peer_failure,
                  pf ? "with" : "without", pf ? 1 : 0);
        return -EPROTO;
    }
    rc = net_ep_create_mode(c->net, srv->addr, srv->addr_len, srv->node_id, client_ep_error, srv,
                            pf, &srv->ep);
    if (rc < 0) {
        srv->ep = NULL;
        error_msg("cannot connect to %s: %s", client_server_name(c, idx, name, sizeof(name)),
                  strerror(-rc));
        return -EIO;
    }
    /* Nobody reports the death of a server on this endpoint: rpc.c
     * watches its pid (and a remote one runs into RPC deadlines). */
    srv->ep_pf = pf;
    if (!pf)
        c->watch_pids = true;
    srv->ep_error = 0;
    srv->hello_done = false;
    srv->ep_gen++;
    return 0;
}

int client_server_ep(struct client *c, size_t idx, struct net_ep **ep_p)
{
    struct client_server *srv = &c->servers[idx];
    int rc;

    if (srv->ep != NULL && srv->ep_error == 0 && net_ep_status(srv->ep) == 0) {
        *ep_p = srv->ep;
        return 0;
    }
    if (srv->ep != NULL)
        client_server_drop(c, idx, -EIO, NULL);
    rc = client_server_reread(c, idx);
    if (rc == 0)
        rc = client_server_connect(c, idx);
    if (rc < 0)
        return rc;
    log_debug("client: reconnected to %s", srv->node_id);
    *ep_p = srv->ep;
    return 0;
}
