/*
 * info.c - calls for tools: the number of servers, one server's identity and
 * counters (PING for the round trip + STATUS), and a cluster-wide SHUTDOWN.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/error.h"
#include "common/timeutil.h"

int benchfs_server_count(void)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = (int)c->nservers;
        client_leave(c);
    }
    return (int)error_finish(rc, "server_count", NULL, false);
}

/* Fills info; a server that does not answer is info->status, not a failed call. */
static int info_query(struct client *c, int idx, struct benchfs_server_info *info)
{
    const struct client_server *srv;
    const struct proto_status_rep *r;
    struct rpc_call ping, status;
    uint64_t t0;
    int rc;

    if (info == NULL)
        return -EFAULT;
    if (idx < 0 || (size_t)idx >= c->nservers)
        return -EINVAL;
    srv = &c->servers[idx];
    memset(info, 0, sizeof(*info));

    rpc_call_init(&ping, PROTO_OP_PING, (size_t)idx);
    ping.req.ping_req.client_ns = time_real_ns();
    t0 = time_mono_ns();
    rc = rpc_run_one(c, &ping);
    info->rtt_us = (double)(time_mono_ns() - t0) / 1000.0;
    if (rc == 0) {
        placement_set_max_xfer(&c->place, (size_t)idx, ping.rep.ping_rep.max_xfer);
        rpc_call_init(&status, PROTO_OP_STATUS, (size_t)idx);
        rc = rpc_run_one(c, &status);
    }
    /* After the calls: a reconnect may have refreshed host and pid. */
    snprintf(info->node_id, sizeof(info->node_id), "%s", srv->node_id);
    snprintf(info->host, sizeof(info->host), "%s", srv->host);
    info->pid = srv->pid;
    info->status = rc;
    if (rc < 0) {
        info->rtt_us = 0;
        return 0;
    }
    r = &status.rep.status_rep;
    info->pid = (int64_t)r->pid;
    info->uptime_ns = r->uptime_ns;
    info->ops = r->ops;
    info->bad_requests = r->bad_requests;
    info->bytes_in = r->bytes_in;
    info->bytes_out = r->bytes_out;
    info->chunk_writes = r->chunk_writes;
    info->chunk_reads = r->chunk_reads;
    info->inodes = r->inodes;
    info->dirs = r->dirs;
    info->open_fds = r->open_fds;
    info->cpu_user_ns = r->cpu_user_ns;
    info->cpu_sys_ns = r->cpu_sys_ns;
    info->clients = r->clients;
    info->busy_ns = r->busy_ns;
    return 0;
}

int benchfs_server_info(int idx, struct benchfs_server_info *info)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = info_query(c, idx, info);
        client_leave(c);
    }
    return (int)error_finish(rc, "server_info", NULL, false);
}

static int info_shutdown(struct client *c)
{
    struct rpc_call *calls;
    size_t i;
    int rc;

    calls = calloc(c->nservers, sizeof(*calls));
    if (calls == NULL)
        return -ENOMEM;
    for (i = 0; i < c->nservers; i++)
        rpc_call_init(&calls[i], PROTO_OP_SHUTDOWN, i);
    rc = rpc_run_calls(c, calls, c->nservers);
    free(calls);
    return rc;
}

int benchfs_shutdown_servers(void)
{
    struct client *c;
    int rc = client_enter(&c);

    if (rc == 0) {
        rc = info_shutdown(c);
        client_leave(c);
    }
    return (int)error_finish(rc, "shutdown_servers", NULL, false);
}
