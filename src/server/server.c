/*
 * server.c - a server's resources: data dir lock, stores, UCX worker,
 * registry publication, and the embedded-server thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/ring.h"
#include "common/timeutil.h"
#include "registry/registry.h"
#include "server/server_int.h"

/* mkdir -p; 0 or -errno. */
static int server_mkdirs(const char *path)
{
    char buf[CONFIG_STR_MAX + 32];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        buf[i] = path[i];
    }
    return 0;
}

/* Take <data_dir>/benchfsd.lock so two servers never share a data dir. */
static int server_lock_data_dir(struct server *srv, char *err, size_t errlen)
{
    char path[CONFIG_STR_MAX + 32];
    char pid[32];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/benchfsd.lock", srv->cfg.data_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -errno;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;

        n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        /* A server killed a moment ago can show as a zombie while its other
         * threads still exit and hold the lock: wait for them (bounded). */
        for (int i = 0; i < 400 && e == EWOULDBLOCK && pid[0] && !registry_pid_alive(atoll(pid));
             i++) {
            usleep(5000);
            if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                goto locked;
            e = errno;
        }
        snprintf(err, errlen, "data dir %s is in use by another server (pid %s)", srv->cfg.data_dir,
                 pid[0] ? pid : "?");
        close(fd);
        return e == EWOULDBLOCK ? -EBUSY : -e;
    }
locked:
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        log_warn("cannot record pid in %s: %s", path, strerror(errno));
    srv->lock_fd = fd;
    return 0;
}

/* UCX_TLS from [network] tls unless the environment already chose. */
static void server_apply_tls(const struct config *cfg)
{
    char tls[CONFIG_STRS_MAX * 65] = "";

    if (cfg->tls.count == 0 || getenv("UCX_TLS") != NULL)
        return;
    for (int i = 0; i < cfg->tls.count; i++) {
        if (i > 0)
            strcat(tls, ",");
        strcat(tls, cfg->tls.items[i]);
    }
    setenv("UCX_TLS", tls, 0);
}

/* BENCHFS_NET_INTERFACE from [network] interface unless the environment
 * already chose (net_create limits UCX's TCP listening to it). */
static void server_apply_interface(const struct config *cfg)
{
    if (cfg->interface[0] != '\0')
        setenv("BENCHFS_NET_INTERFACE", cfg->interface, 0);
}

static int server_epoll_add(struct server *srv, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

    return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* --- small chunks: the chunk store keeps them in the metadata store ----- */

static int server_small_get(void *ctx, uint64_t ino, const void **data_p, size_t *len_p)
{
    struct server *srv = ctx;

    return meta_small_get(srv->meta, ino, data_p, len_p);
}

static int server_small_put(void *ctx, uint64_t ino, uint64_t off, const void *buf, size_t len)
{
    struct server *srv = ctx;

    return meta_small_put(srv->meta, ino, off, buf, len);
}

static int server_small_trunc(void *ctx, uint64_t ino, uint64_t len)
{
    struct server *srv = ctx;

    return meta_small_trunc(srv->meta, ino, len);
}

static size_t server_small_list(void *ctx, uint64_t after, uint64_t *inos, size_t max)
{
    struct server *srv = ctx;

    return meta_small_list(srv->meta, after, inos, max);
}

static int server_small_spread(void *ctx, uint64_t ino, int op)
{
    struct server *srv = ctx;

    return meta_spread(srv->meta, ino,
                       op == CHUNK_SPREAD_GET   ? META_SPREAD_GET
                       : op == CHUNK_SPREAD_SET ? META_SPREAD_SET
                                                : META_SPREAD_DEL);
}

static void server_small_setup(struct server *srv)
{
    struct chunk_small_ops ops = {
        .ctx = srv,
        .max = (size_t)srv->cfg.small_chunk_max,
        .get = server_small_get,
        .put = server_small_put,
        .trunc = server_small_trunc,
        .list = server_small_list,
        .spread = server_small_spread,
    };

    chunk_store_set_small(srv->chunks, &ops);
    /* what it reconciled is committed before any client reads the store */
    if (meta_flush(srv->meta, false) < 0)
        log_warn("metadata commit after the small chunk check failed");
}

int server_create(const struct config *cfg, struct server **srv_p, char *err, size_t errlen)
{
    struct meta_opts mo;
    struct chunk_opts co;
    struct server *srv;
    int rc;

    if (!registry_node_id_valid(cfg->node_id)) {
        snprintf(err, errlen, "invalid node id '%s' (1-63 of A-Z a-z 0-9 . _ -)", cfg->node_id);
        return -EINVAL;
    }
    rc = registry_dir_check(cfg->registry_dir, err, errlen);
    if (rc < 0)
        return rc;
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    srv->cfg = *cfg;
    srv->lock_fd = srv->epfd = srv->wakefd = srv->sigfd = -1;
    srv->tag = ring_node_tag(cfg->node_id);
    srv->start_ns = time_mono_ns();
    atomic_init(&srv->stop_requested, false);
    if (gethostname(srv->host, sizeof(srv->host) - 1) < 0)
        snprintf(srv->host, sizeof(srv->host), "localhost");

    rc = server_mkdirs(cfg->data_dir);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create data dir %s: %s", cfg->data_dir, strerror(-rc));
        goto err_free;
    }
    if (access(cfg->data_dir, W_OK) < 0) {
        rc = -errno;
        snprintf(err, errlen, "data dir %s is not writable: %s", cfg->data_dir, strerror(errno));
        goto err_free;
    }
    rc = server_lock_data_dir(srv, err, errlen);
    if (rc < 0)
        goto err_free;

    snprintf(srv->meta_dir, sizeof(srv->meta_dir), "%s/meta", cfg->data_dir);
    memset(&mo, 0, sizeof(mo));
    mo.default_chunk_size = (uint64_t)cfg->chunk_size;
    mo.map_size = (uint64_t)cfg->map_size;
    mo.durability = cfg->durability;
    mo.node_tag = srv->tag;
    rc = meta_open(srv->meta_dir, &mo, &srv->meta, err, errlen);
    if (rc < 0)
        goto err_unlock;
    if (meta_syncs_skipped(srv->meta) && cfg->durability != DURABILITY_NONE)
        log_info("metadata in %s is on tmpfs: durability '%s' needs no syncs there, none are made",
                 srv->meta_dir, config_durability_name(cfg->durability));

    snprintf(srv->chunk_dir, sizeof(srv->chunk_dir), "%s/chunks", cfg->data_dir);
    memset(&co, 0, sizeof(co));
    co.queue_size = (unsigned)cfg->queue_size;
    co.buffer_size = (size_t)cfg->buffer_size;
    co.buffer_count = (unsigned)cfg->buffer_count;
    co.submit_depth = (unsigned)cfg->submit_depth;
    co.fd_cache = (unsigned)cfg->fd_cache;
    co.o_direct = cfg->o_direct;
    rc = chunk_store_open(srv->chunk_dir, &co, &srv->chunks, err, errlen);
    if (rc < 0)
        goto err_meta;
    server_small_setup(srv);
    rc = server_orphans_load(srv, err, errlen);
    if (rc < 0)
        goto err_chunks;

    server_apply_tls(cfg);
    server_apply_interface(cfg);
    rc = net_create(false, &srv->net, err, errlen);
    if (rc < 0)
        goto err_chunks;
    rc = server_request_init(srv);
    if (rc < 0) {
        snprintf(err, errlen, "cannot allocate %lld request slots", (long long)cfg->max_requests);
        goto err_net;
    }
    rc = net_set_handler(srv->net, NET_AM_REQUEST, server_on_request, srv);
    if (rc < 0) {
        snprintf(err, errlen, "cannot install the request handler: %s", strerror(-rc));
        goto err_req;
    }

    srv->epfd = epoll_create1(EPOLL_CLOEXEC);
    srv->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->epfd < 0 || srv->wakefd < 0) {
        rc = -errno;
        snprintf(err, errlen, "epoll/eventfd: %s", strerror(errno));
        goto err_fds;
    }
    if ((rc = server_epoll_add(srv, net_efd(srv->net))) < 0 ||
        (rc = server_epoll_add(srv, chunk_store_eventfd(srv->chunks))) < 0 ||
        (rc = server_epoll_add(srv, srv->wakefd)) < 0) {
        snprintf(err, errlen, "epoll_ctl: %s", strerror(-rc));
        goto err_fds;
    }
    *srv_p = srv;
    return 0;

err_fds:
    if (srv->epfd >= 0)
        close(srv->epfd);
    if (srv->wakefd >= 0)
        close(srv->wakefd);
err_req:
    server_request_cleanup(srv);
err_net:
    net_destroy(srv->net);
err_chunks:
    server_orphans_cleanup(srv);
    chunk_store_close(srv->chunks);
err_meta:
    meta_close(srv->meta);
err_unlock:
    close(srv->lock_fd);
err_free:
    free(srv);
    return rc;
}

/*
 * Publish the chunk directory (absolute, with its st_dev / st_ino) so that
 * clients on this host can read and write chunk files directly
 * (docs/architecture.md#direct-chunk-io). Not published when the path
 * cannot be resolved or is not one a registry line can carry (too long,
 * control characters): those clients then use RPCs.
 */
static void server_publish_chunks(const struct server *srv, struct registry_entry *e)
{
    char *abs = realpath(srv->chunk_dir, NULL);
    struct stat st;

    if (abs != NULL && registry_chunks_valid(abs, strlen(abs)) && stat(abs, &st) == 0) {
        snprintf(e->chunks, sizeof(e->chunks), "%s", abs);
        e->chunks_dev = (uint64_t)st.st_dev;
        e->chunks_ino = (uint64_t)st.st_ino;
    } else {
        log_warn("chunk directory %s not published (clients on this host use RPCs for data)",
                 srv->chunk_dir);
    }
    free(abs);
}

int server_publish(struct server *srv, char *err, size_t errlen)
{
    struct registry_entry e;
    const void *addr;
    size_t addr_len;
    int rc;

    rc = registry_cookie_get_or_create(srv->cfg.registry_dir, srv->cookie, err, errlen);
    if (rc < 0)
        return rc;
    /* Before anyone can reach us: is this the data directory the cluster
     * knew for this node? (A replaced one reads lost chunks as EIO.) */
    rc = server_data_id_check(srv, err, errlen);
    if (rc < 0)
        return rc;
    rc = net_address(srv->net, &addr, &addr_len);
    if (rc < 0) {
        snprintf(err, errlen, "cannot get the UCX worker address: %s", strerror(-rc));
        return rc;
    }
    memset(&e, 0, sizeof(e));
    snprintf(e.node_id, sizeof(e.node_id), "%s", srv->cfg.node_id);
    memcpy(e.cookie, srv->cookie, sizeof(e.cookie));
    e.pid = getpid();
    snprintf(e.host, sizeof(e.host), "%s", srv->host);
    e.max_xfer = chunk_buf_size(srv->chunks);
    e.started_ns = time_real_ns();
    e.host_id = srv->host_id;
    e.peer_failure = net_pf_published(srv->net);
    server_publish_chunks(srv, &e);
    e.addr = (void *)addr;
    e.addr_len = addr_len;
    rc = registry_publish(srv->cfg.registry_dir, &e, err, errlen);
    if (rc < 0)
        return rc;
    srv->published = true;
    log_info("ready: node %s pid %ld host %s data %s registry %s (%s/%s.addr)", srv->cfg.node_id,
             (long)getpid(), srv->host, srv->cfg.data_dir, srv->cfg.registry_dir,
             srv->cfg.registry_dir, srv->cfg.node_id);
    return 0;
}

const char *server_node_id(const struct server *srv)
{
    return srv->cfg.node_id;
}

void server_destroy(struct server *srv)
{
    if (srv == NULL)
        return;
    if (srv->published)
        registry_unpublish(srv->cfg.registry_dir, srv->cfg.node_id);
    if (srv->epfd >= 0)
        close(srv->epfd);
    if (srv->wakefd >= 0)
        close(srv->wakefd);
    if (srv->sigfd >= 0)
        close(srv->sigfd);
    /* Storage first: closing it runs the callbacks of I/O still in flight,
     * which touch their requests; clients and net before the request pool
     * for the same reason with sends. */
    chunk_store_close(srv->chunks);
    server_clients_cleanup(srv);
    net_destroy(srv->net);
    server_request_cleanup(srv);
    server_orphans_cleanup(srv);
    meta_close(srv->meta);
    if (srv->lock_fd >= 0)
        close(srv->lock_fd);
    free(srv);
}

/* Embedded server: the whole server lives on its own thread, which creates
 * the UCX worker so the worker's single-thread mode holds. */
struct server_thread {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct config cfg;
    struct server *srv;
    bool started;
    int rc;
    char err[512];
};

static void *server_thread_main(void *arg)
{
    struct server_thread *t = arg;
    struct server *srv = NULL;
    int rc;

    rc = server_create(&t->cfg, &srv, t->err, sizeof(t->err));
    if (rc == 0) {
        srv->embedded = true;
        rc = server_publish(srv, t->err, sizeof(t->err));
    }
    pthread_mutex_lock(&t->lock);
    t->rc = rc;
    t->srv = rc == 0 ? srv : NULL;
    t->started = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    if (rc < 0) {
        server_destroy(srv);
        return NULL;
    }
    rc = server_run(srv, false);
    if (rc < 0)
        log_error("embedded server stopped: %s", strerror(-rc));
    return NULL;
}

int server_thread_start(const struct config *cfg, struct server_thread **t_p, char *err,
                        size_t errlen)
{
    struct server_thread *t = calloc(1, sizeof(*t));
    int rc;

    if (t == NULL)
        return -ENOMEM;
    t->cfg = *cfg;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    rc = pthread_create(&t->thread, NULL, server_thread_main, t);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the server thread: %s", strerror(rc));
        free(t);
        return -rc;
    }
    pthread_mutex_lock(&t->lock);
    while (!t->started)
        pthread_cond_wait(&t->cond, &t->lock);
    pthread_mutex_unlock(&t->lock);
    if (t->rc < 0) {
        rc = t->rc;
        snprintf(err, errlen, "%s", t->err);
        pthread_join(t->thread, NULL);
        free(t);
        return rc;
    }
    *t_p = t;
    return 0;
}

void server_thread_stop(struct server_thread *t)
{
    if (t == NULL)
        return;
    server_stop(t->srv);
    pthread_join(t->thread, NULL);
    server_destroy(t->srv);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    free(t);
}
