/*
 * op_admin.c - handlers of cluster-level ops: PING, STATUS, STATFS and the
 * authenticated SHUTDOWN (the cookie check on receipt is the authentication).
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "server/server_int.h"

void server_op_PING(struct sreq *r)
{
    r->rep.ping_rep.server_ns = time_real_ns();
    r->rep.ping_rep.max_xfer = chunk_buf_size(r->srv->chunks);
    sreq_finish(r, 0);
}

void server_op_HELLO(struct sreq *r)
{
    bool peer_failure = (r->body.hello_req.flags & PROTO_HELLO_PEER_FAILURE) != 0;
    struct server_client *c;
    int rc;

    /* The endpoint back uses the client's UCX error handling, unless
     * BENCHFS_PEER_FAILURE fixes ours (docs/transports.md). */
    if (net_peer_failure_forced() && peer_failure != net_peer_failure_enabled())
        rc = -EOPNOTSUPP;
    else
        rc = server_client_hello(r->srv, r->reply_ep, r->data, r->data_len, peer_failure,
                                 r->body.hello_req.host_id, r->body.hello_req.pid, &c);
    if (rc == -EOPNOTSUPP) {
        /* The modes differ (or UCX refused ours). UCX's reply endpoint is
         * unusable then -- answering on it crashes UCX 1.13 -- so the
         * client gets no answer. */
        log_warn("cannot connect back to a client %s UCX peer-failure handling (this server: "
                 "BENCHFS_PEER_FAILURE=%s); not answering it",
                 peer_failure ? "with" : "without",
                 !net_peer_failure_forced()   ? "unset"
                 : net_peer_failure_enabled() ? "1"
                                              : "0");
        r->reply_ep = NULL;
        sreq_finish(r, rc);
        return;
    }
    if (rc < 0) {
        log_warn("cannot connect back to a client: %s", strerror(-rc));
        sreq_finish(r, rc);
        return;
    }
    if (r->client == NULL) {
        r->client = c;
        server_client_get(c);
    }
    server_client_identify(c, r->body.hello_req.session, r->body.hello_req.host_id,
                           r->body.hello_req.pid);
    server_op_PING(r);
}

static uint64_t tv_ns(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
}

void server_op_STATUS(struct sreq *r)
{
    struct server *srv = r->srv;
    struct proto_status_rep *s = &r->rep.status_rep;
    struct rusage ru;
    uint64_t files = 0, dirs = 0;

    /* An embedded server shares its process with the application: count
     * only the loop thread there. */
    if (getrusage(srv->embedded ? RUSAGE_THREAD : RUSAGE_SELF, &ru) == 0) {
        s->cpu_user_ns = tv_ns(ru.ru_utime);
        s->cpu_sys_ns = tv_ns(ru.ru_stime);
    }
    meta_counts(srv->meta, &files, &dirs);
    s->uptime_ns = time_mono_ns() - srv->start_ns;
    s->pid = (uint64_t)getpid();
    s->ops = srv->stats.ops;
    s->bad_requests = srv->stats.bad_requests;
    s->bytes_in = srv->stats.bytes_in;
    s->bytes_out = srv->stats.bytes_out;
    s->chunk_writes = srv->stats.chunk_writes;
    s->chunk_reads = srv->stats.chunk_reads;
    s->inodes = files;
    s->dirs = dirs;
    s->open_fds = chunk_store_open_fds(srv->chunks);
    s->inflight = srv->inflight;
    s->clients = server_clients_connected(srv);
    s->busy_ns = srv->stats.busy_ns;
    sreq_finish(r, 0);
}

/* FNV-1a over bytes, continuing from h. */
static uint32_t fs_id_mix(uint32_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

/* Identity of the file system holding the chunks: host, device and fsid
 * (never 0, which means "unknown" to clients). */
static uint32_t server_fs_id(struct server *srv, const struct statvfs *st)
{
    struct stat sb;
    uint32_t h = 2166136261u;
    unsigned long fsid = st->f_fsid;

    h = fs_id_mix(h, srv->host, strlen(srv->host));
    if (stat(srv->chunk_dir, &sb) == 0)
        h = fs_id_mix(h, &sb.st_dev, sizeof(sb.st_dev));
    h = fs_id_mix(h, &fsid, sizeof(fsid));
    return h != 0 ? h : 1;
}

void server_op_STATFS(struct sreq *r)
{
    struct proto_statfs_rep *s = &r->rep.statfs_rep;
    struct statvfs st;
    int rc = chunk_store_statfs(r->srv->chunks, &st);

    if (rc == 0) {
        s->bsize = st.f_frsize ? st.f_frsize : st.f_bsize;
        s->blocks = st.f_blocks;
        s->bfree = st.f_bfree;
        s->bavail = st.f_bavail;
        s->files = st.f_files;
        s->ffree = st.f_ffree;
        s->namemax = BFS_NAME_MAX;
        s->fs_id = server_fs_id(r->srv, &st);
    }
    sreq_finish(r, rc);
}

void server_op_SHUTDOWN(struct sreq *r)
{
    log_info("shutdown requested by a client");
    atomic_store(&r->srv->stop_requested, true);
    sreq_finish(r, 0);
}
