/*
 * client.c - connecting to a cluster and disconnecting, and the options
 * (client.h). The top of the client's layers (docs/architecture.md#client-layers):
 * it builds what every lower file works on.
 *
 * Connect (docs/design.md#registry-and-cookie): read the cluster cookie, wait until the registry
 * lists the expected servers, create a SERIALIZED UCX worker, one endpoint
 * per server (endpoint.c), the ring over the node ids, the tag table of the
 * placement, and HELLO every server in parallel (rpc.c): that checks the
 * cookie (a foreign one is refused with EACCES) and learns each server's
 * largest transfer.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client.h"
#include "client/error.h"
#include "common/log.h"
#include "common/ring.h"
#include "common/timeutil.h"
#include "net/net.h"
#include "registry/registry.h"

#define CLIENT_DEFAULT_CHUNK        (4ull << 20)
#define CLIENT_DEFAULT_TIMEOUT_MS   30000
#define CLIENT_DEFAULT_DISCOVERY    30000
#define CLIENT_DEFAULT_INFLIGHT     64
#define CLIENT_MAX_INFLIGHT         4096
#define CLIENT_DEFAULT_XFER         (1ull << 20)
#define CLIENT_DEFAULT_SPIN_US      50
#define CLIENT_DEFAULT_DATA_SPIN_US 500

static bool client_connecting; /* a connect waits (unlocked) for its HELLOs */

/* ---- options ---- */

/*
 * Parse a decimal (or 0x hex) number with an optional binary suffix K, M, G
 * (also KiB, MB, ...); false when invalid or too large. Hand-written so that
 * errno stays untouched (error.c is the one place that sets it).
 */
static bool client_parse_size(const char *s, unsigned long long *v_p)
{
    unsigned long long v = 0, mul = 1, base = 10;
    const char *p = s;
    int digits = 0;

    if (s == NULL)
        return false;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    for (;; p++, digits++) {
        unsigned d;

        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            break;
        if (v > (~0ull - d) / base)
            return false;
        v = v * base + d;
    }
    if (digits == 0)
        return false;
    switch (*p) {
    case 'k':
    case 'K':
        mul = 1ull << 10;
        p++;
        break;
    case 'm':
    case 'M':
        mul = 1ull << 20;
        p++;
        break;
    case 'g':
    case 'G':
        mul = 1ull << 30;
        p++;
        break;
    default:
        break;
    }
    if (mul > 1 && p[0] == 'i' && p[1] == 'B')
        p += 2;
    else if (mul > 1 && p[0] == 'B')
        p++;
    if (*p != '\0' || (v != 0 && mul > ~0ull / v))
        return false;
    *v_p = v * mul;
    return true;
}

static unsigned long long client_env(const char *name, unsigned long long def)
{
    unsigned long long v;

    return client_parse_size(getenv(name), &v) ? v : def;
}

void benchfs_options_init(struct benchfs_options *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->expected_servers = (unsigned)client_env("BENCHFS_EXPECTED_SERVERS", 0);
    opts->discovery_timeout_ms =
        (int)client_env("BENCHFS_DISCOVERY_TIMEOUT_MS", CLIENT_DEFAULT_DISCOVERY);
    opts->chunk_size = client_env("BENCHFS_CHUNK_SIZE", CLIENT_DEFAULT_CHUNK);
    opts->rpc_timeout_ms = (int)client_env("BENCHFS_RPC_TIMEOUT_MS", CLIENT_DEFAULT_TIMEOUT_MS);
    opts->max_inflight = (unsigned)client_env("BENCHFS_MAX_INFLIGHT", CLIENT_DEFAULT_INFLIGHT);
}

/*
 * Every BENCHFS_* number the client reads, with its largest value: a set but
 * unreadable one is an error like a bad configuration file, never silently
 * replaced by the default.
 */
static int client_env_check(void)
{
    static const struct {
        const char *name;
        unsigned long long max;
        const char *example;
    } vars[] = {
        {"BENCHFS_EXPECTED_SERVERS", 65536, "4"},
        {"BENCHFS_DISCOVERY_TIMEOUT_MS", 3600000, "30000"},
        {"BENCHFS_CHUNK_SIZE", 1ull << 30, "4194304 or 4M"},
        {"BENCHFS_RPC_TIMEOUT_MS", 3600000, "30000"},
        {"BENCHFS_MAX_INFLIGHT", CLIENT_MAX_INFLIGHT, "64"},
        {"BENCHFS_SPIN_US", 1000000, "50"},
        {"BENCHFS_DATA_SPIN_US", 1000000, "200"},
    };
    unsigned long long v;

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *s = getenv(vars[i].name);

        if (s == NULL || s[0] == '\0')
            continue;
        if (!client_parse_size(s, &v)) {
            error_msg("environment variable %s='%s' is not a number (e.g. %s=%s)", vars[i].name, s,
                      vars[i].name, vars[i].example);
            return -EINVAL;
        }
        if (v > vars[i].max) {
            error_msg("environment variable %s=%s is above the maximum %llu", vars[i].name, s,
                      vars[i].max);
            return -EINVAL;
        }
    }
    return 0;
}

/* Zero fields of the caller's options take the defaults (and environment). */
static int client_options_resolve(const struct benchfs_options *in, struct benchfs_options *out)
{
    struct benchfs_options def;
    int rc;

    rc = client_env_check();
    if (rc < 0)
        return rc;
    benchfs_options_init(&def);
    *out = def;
    if (in != NULL) {
        if (in->expected_servers != 0)
            out->expected_servers = in->expected_servers;
        if (in->discovery_timeout_ms != 0)
            out->discovery_timeout_ms = in->discovery_timeout_ms;
        if (in->chunk_size != 0)
            out->chunk_size = in->chunk_size;
        if (in->rpc_timeout_ms != 0)
            out->rpc_timeout_ms = in->rpc_timeout_ms;
        if (in->max_inflight != 0)
            out->max_inflight = in->max_inflight;
    }
    /* Servers accept powers of two only, so all clients cut chunks alike. */
    if (out->chunk_size < 4096 || out->chunk_size > (1ull << 30) ||
        (out->chunk_size & (out->chunk_size - 1)) != 0) {
        error_msg("chunk size %llu is not a power of two in 4 KiB .. 1 GiB",
                  (unsigned long long)out->chunk_size);
        return -EINVAL;
    }
    if (out->rpc_timeout_ms <= 0 || out->discovery_timeout_ms < 0) {
        error_msg("timeouts must be positive");
        return -EINVAL;
    }
    if (out->max_inflight == 0 || out->max_inflight > CLIENT_MAX_INFLIGHT) {
        error_msg("max_inflight %u is outside 1 .. %u", out->max_inflight, CLIENT_MAX_INFLIGHT);
        return -EINVAL;
    }
    return 0;
}

/* The process umask without changing it (no umask() race with other threads). */
/* A random, non-zero session id: the servers tell this connection's
 * orphans from those of every other client process by it. */
static uint64_t client_session_id(void)
{
    uint64_t s = 0;

    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
        s = time_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&s;
    return s == 0 ? 1 : s;
}

static mode_t client_read_umask(void)
{
    char line[256];
    mode_t m = 022;
    FILE *f = fopen("/proc/self/status", "r");
    bool found = false;

    if (f != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            unsigned v;

            if (sscanf(line, "Umask: %o", &v) == 1) {
                m = (mode_t)v;
                found = true;
                break;
            }
        }
        fclose(f);
    }
    if (!found) {
        m = umask(022);
        umask(m);
    }
    return m & 0777;
}

/* ---- connect / disconnect ---- */

static void client_destroy(struct client *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->nservers; i++) {
        struct net_ep *ep = c->servers[i].ep;

        c->servers[i].ep = NULL;
        /* A server that never answered our HELLO (stopped, unreachable)
         * would hold a flushing close for a second: abort that one. */
        if (ep != NULL && c->servers[i].hello_done)
            net_ep_destroy(ep);
        else if (ep != NULL)
            net_ep_abort(ep);
    }
    if (c->net != NULL)
        net_destroy(c->net);
    rpc_cleanup(c);
    direct_close_all(c);
    for (i = 0; i < c->nservers; i++)
        free(c->servers[i].addr);
    free(c->servers);
    placement_cleanup(&c->place);
    ring_destroy(c->ring);
    for (i = 0; c->fds != NULL && i < (size_t)c->nfds; i++) {
        if (c->fds[i] != NULL)
            fd_unref(c, c->fds[i]);
    }
    fd_spares_free(c);
    inode_spares_free(c);
    free(c->fds);
    free(c->fd_next_free);
    if (c->kick_fd >= 0)
        close(c->kick_fd);
    pthread_cond_destroy(&c->idle);
    free(c);
}

/* Build the server table in ring order from the registry entries. */
static int client_servers_build(struct client *c, struct registry_entry *entries, size_t n)
{
    const char **ids;
    size_t i, j, dup_a = 0, dup_b = 0;
    int rc;

    ids = calloc(n, sizeof(*ids));
    if (ids == NULL)
        return -ENOMEM;
    for (i = 0; i < n; i++)
        ids[i] = entries[i].node_id;
    rc = ring_create(ids, n, 0, &c->ring);
    free(ids);
    if (rc < 0) {
        error_msg("cannot build the ring of %zu servers: %s", n, strerror(-rc));
        return rc;
    }
    c->servers = calloc(n, sizeof(*c->servers));
    if (c->servers == NULL)
        return -ENOMEM;
    for (i = 0; i < n; i++)
        c->servers[i].dir_fd = -1;
    c->nservers = n;
    rc = placement_init(&c->place, c->ring, CLIENT_DEFAULT_XFER, &dup_a, &dup_b);
    if (rc == -EEXIST) {
        error_msg("servers %s and %s have the same placement tag: rename one of them",
                  ring_node_id(c->ring, dup_a), ring_node_id(c->ring, dup_b));
        return -EINVAL;
    }
    if (rc < 0)
        return rc;
    for (i = 0; i < n; i++) {
        struct client_server *srv = &c->servers[i];
        const char *id = ring_node_id(c->ring, i);

        for (j = 0; j < n && strcmp(entries[j].node_id, id) != 0; j++)
            ;
        if (j == n)
            return -EINVAL;
        srv->c = c;
        srv->idx = i;
        snprintf(srv->node_id, sizeof(srv->node_id), "%s", id);
        snprintf(srv->host, sizeof(srv->host), "%s", entries[j].host);
        srv->pid = entries[j].pid;
        srv->host_id = entries[j].host_id;
        srv->peer_failure = entries[j].peer_failure;
        srv->addr = entries[j].addr;
        srv->addr_len = entries[j].addr_len;
        entries[j].addr = NULL;
        placement_set_max_xfer(&c->place, i, entries[j].max_xfer);
        direct_setup(c, i, &entries[j]);
    }
    return 0;
}

void client_log_quiet(void)
{
    const char *env = getenv("BENCHFS_LOG");

    /* A library prints nothing unless asked (BENCHFS_LOG=debug, ...). */
    if (env != NULL && env[0] != '\0')
        log_init(LOG_LEVEL_ERROR, "client");
    else
        log_threshold = LOG_LEVEL_ERROR;
}

static int client_connect(const char *dir, const struct benchfs_options *in, bool quiet_log,
                          struct client **c_p)
{
    struct registry_entry *entries = NULL;
    struct benchfs_options o;
    struct stat dst;
    struct client *c;
    size_t n = 0, i;
    char err[1024];
    int rc;

    rc = client_options_resolve(in, &o);
    if (rc < 0)
        return rc;
    if (dir == NULL || dir[0] == '\0')
        dir = getenv("BENCHFS_REGISTRY");
    if (dir == NULL || dir[0] == '\0') {
        error_msg("no registry directory (pass one or set BENCHFS_REGISTRY)");
        return -ENOENT;
    }
    if (strlen(dir) >= BFS_PATH_MAX) {
        error_msg("registry directory path too long");
        return -ENAMETOOLONG;
    }
    /* A missing directory is a mistake, not a cluster still starting. */
    if (stat(dir, &dst) < 0) {
        rc = -errno;
        error_msg("registry directory %s: %s", dir, strerror(-rc));
        return rc;
    }
    if (!S_ISDIR(dst.st_mode)) {
        error_msg("registry %s is not a directory", dir);
        return -ENOTDIR;
    }
    if (quiet_log)
        client_log_quiet();

    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    snprintf(c->registry, sizeof(c->registry), "%s", dir);
    c->chunk_size = o.chunk_size;
    c->rpc_timeout_ms = o.rpc_timeout_ms;
    c->max_inflight = o.max_inflight;
    c->spin_ns = client_env("BENCHFS_SPIN_US", CLIENT_DEFAULT_SPIN_US) * 1000ull;
    c->data_spin_ns = client_env("BENCHFS_DATA_SPIN_US", CLIENT_DEFAULT_DATA_SPIN_US) * 1000ull;
    if (c->data_spin_ns < c->spin_ns)
        c->data_spin_ns = c->spin_ns;
    c->uid = (uint32_t)geteuid();
    c->gid = (uint32_t)getegid();
    c->umask = client_read_umask();
    c->free_fd = -1;
    c->lock = &client_lock;
    c->kick_fd = -1;
    list_init(&c->waiters);
    pthread_cond_init(&c->idle, NULL);
    c->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->kick_fd < 0) {
        rc = -errno;
        error_msg("eventfd: %s", strerror(-rc));
        goto err_client;
    }
    if (gethostname(c->hostname, sizeof(c->hostname) - 1) < 0)
        c->hostname[0] = '\0';
    c->session = client_session_id();
    c->host_id = registry_host_id();
    c->pid = (uint64_t)getpid();
    for (size_t k = 0; k < sizeof(c->direct_fds) / sizeof(c->direct_fds[0]); k++)
        c->direct_fds[k].fd = -1;
    c->direct_fd_floor = direct_fd_floor();
    rc = direct_wanted(&c->direct_on);
    if (rc < 0)
        goto err_client;

    /* Servers first: the first of them creates the cookie (a job may start
     * its clients before its servers). */
    rc = registry_wait(dir, o.expected_servers, o.discovery_timeout_ms, &entries, &n, err,
                       sizeof(err));
    if (rc < 0) {
        error_msg("%s", err);
        goto err_client;
    }
    rc = registry_cookie_read(dir, c->cookie, err, sizeof(err));
    if (rc < 0) {
        error_msg("%s", err);
        goto err_entries;
    }
    for (i = 0; i < n; i++) {
        if (memcmp(entries[i].cookie, c->cookie, PROTO_COOKIE_LEN) != 0) {
            error_msg("%s/%s.addr belongs to another cluster", dir, entries[i].node_id);
            rc = -EACCES;
            goto err_entries;
        }
    }
    rc = net_create(true, &c->net, err, sizeof(err));
    if (rc < 0) {
        error_msg("%s", err);
        goto err_entries;
    }
    rc = net_set_handler(c->net, NET_AM_REPLY, rpc_on_reply, c);
    if (rc < 0)
        goto err_entries;
    rc = client_servers_build(c, entries, n);
    if (rc < 0)
        goto err_entries;
    registry_entries_free(entries, n);
    entries = NULL;

    /* Room for several threads' batches; HELLOs keep a reserve of their own. */
    rc = rpc_init(c, 2 * (size_t)c->max_inflight + 4 * c->nservers + 64, 2 * c->nservers + 32);
    if (rc < 0)
        goto err_client;
    for (i = 0; i < c->nservers; i++) {
        rc = client_server_connect(c, i);
        if (rc < 0)
            goto err_client;
    }
    rc = client_hello_all(c);
    if (rc < 0)
        goto err_client;
    log_debug("client: connected to %zu servers in %s", c->nservers, dir);
    *c_p = c;
    return 0;

err_entries:
    registry_entries_free(entries, n);
err_client:
    client_destroy(c);
    return rc;
}

int client_connect_locked(const char *dir, const struct benchfs_options *opts, bool quiet_log)
{
    struct client *c = NULL;
    int rc;

    pthread_mutex_lock(&client_lock);
    if (client_global != NULL || client_connecting) {
        error_msg("already connected");
        rc = -EALREADY;
    } else {
        client_connecting = true;
        rc = client_connect(dir, opts, quiet_log, &c);
        client_connecting = false;
        if (rc == 0)
            client_global = c;
    }
    pthread_mutex_unlock(&client_lock);
    return rc;
}

int benchfs_connect(const char *registry_dir, const struct benchfs_options *opts)
{
    int rc;

    error_begin();
    rc = client_connect_locked(registry_dir, opts, true);
    return (int)error_finish(rc, "connect", registry_dir, false);
}

int client_disconnect_locked(void)
{
    struct client *c;
    int rc;

    rc = client_enter(&c);
    if (rc < 0)
        return rc;
    /* New calls now fail with ENOTCONN; calls of other threads still
     * inside the library (waiting unlocked for replies) finish first. */
    client_global = NULL;
    c->closing = true;
    while (c->active > 1)
        pthread_cond_wait(&c->idle, &client_lock);
    rc = fd_close_all(c);
    fd_unpin_all(c);
    client_destroy(c);
    pthread_mutex_unlock(&client_lock);
    return rc;
}

int benchfs_disconnect(void)
{
    return (int)error_finish(client_disconnect_locked(), "disconnect", NULL, false);
}

int benchfs_atfork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

    /* Another thread of the parent may have held the lock at fork: the
     * child's copy is reset, not unlocked. The parent's client stays
     * allocated in the child on purpose: freeing it would close endpoints
     * and sockets the parent still uses. The child's own connection gets a
     * session id of its own (client_session_id): orphan records the parent
     * made stay the parent's, and end with the parent. */
    client_lock = fresh;
    direct_fork_child(client_global); /* the parent's kept chunk files */
    client_global = NULL;
    return 0;
}

const char *benchfs_version(void)
{
    return "0.1.0";
}
