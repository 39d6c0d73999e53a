/*
 * embedded.c - benchfs_init / benchfs_finalize: seed 003's "every rank is a
 * client, some ranks also serve" shape. With is_server the process first
 * starts a server on a background thread (server_thread_start returns once
 * it is published), then connects like any client. The server has its own
 * UCX context and thread; the client side is unchanged.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/error.h"

#ifdef BENCHFS_HAVE_SERVER
#include "common/config.h"
#include "registry/registry.h"
#include "server/server.h"

static pthread_mutex_t embedded_lock = PTHREAD_MUTEX_INITIALIZER;
static struct server_thread *embedded_server;

static int embedded_start(const char *node_id, const char *registry_dir, const char *data_dir,
                          const struct benchfs_options *opts)
{
    struct config cfg;
    char err[1024];
    int rc;

    if (embedded_server != NULL) {
        error_msg("an embedded server is already running");
        return -EALREADY;
    }
    if (node_id == NULL || node_id[0] == '\0' || strlen(node_id) >= sizeof(cfg.node_id)) {
        error_msg("an embedded server needs a node id of 1 to %zu bytes", sizeof(cfg.node_id) - 1);
        return -EINVAL;
    }
    if (registry_dir == NULL || registry_dir[0] == '\0')
        registry_dir = getenv("BENCHFS_REGISTRY");
    if (registry_dir == NULL || registry_dir[0] == '\0') {
        error_msg("no registry directory (pass one or set BENCHFS_REGISTRY)");
        return -ENOENT;
    }
    config_defaults(&cfg);
    if (strlen(registry_dir) >= sizeof(cfg.registry_dir) ||
        (data_dir != NULL && strlen(data_dir) >= sizeof(cfg.data_dir)))
        return -ENAMETOOLONG;
    snprintf(cfg.node_id, sizeof(cfg.node_id), "%s", node_id);
    snprintf(cfg.registry_dir, sizeof(cfg.registry_dir), "%s", registry_dir);
    if (data_dir != NULL && data_dir[0] != '\0')
        snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data_dir);
    if (opts != NULL && opts->chunk_size != 0)
        cfg.chunk_size = (int64_t)opts->chunk_size;
    if (opts != NULL && opts->rpc_timeout_ms > 0)
        cfg.rpc_timeout_ms = opts->rpc_timeout_ms;
    rc = server_thread_start(&cfg, &embedded_server, err, sizeof(err));
    if (rc < 0) {
        embedded_server = NULL;
        error_msg("embedded server %s: %s", node_id, err);
    }
    return rc;
}

static void embedded_stop(void)
{
    if (embedded_server != NULL) {
        server_thread_stop(embedded_server);
        embedded_server = NULL;
    }
}
#else
static int embedded_start(const char *node_id, const char *registry_dir, const char *data_dir,
                          const struct benchfs_options *opts)
{
    (void)node_id;
    (void)registry_dir;
    (void)data_dir;
    (void)opts;
    error_msg("this libbenchfs was built without the server");
    return -ENOTSUP;
}

static void embedded_stop(void) {}

static pthread_mutex_t embedded_lock = PTHREAD_MUTEX_INITIALIZER;
#endif

int benchfs_init(const char *node_id, const char *registry_dir, const char *data_dir, int is_server,
                 const struct benchfs_options *opts)
{
    int rc = 0;

    error_begin();
    pthread_mutex_lock(&embedded_lock);
    client_log_quiet(); /* before the server starts: it shares the log */
    if (is_server)
        rc = embedded_start(node_id, registry_dir, data_dir, opts);
    if (rc == 0) {
        rc = client_connect_locked(registry_dir, opts, false);
        if (rc < 0 && is_server)
            embedded_stop();
    }
    pthread_mutex_unlock(&embedded_lock);
    return (int)error_finish(rc, "init", node_id, false);
}

int benchfs_finalize(void)
{
    int rc;

    error_begin();
    pthread_mutex_lock(&embedded_lock);
    rc = client_disconnect_locked();
    /* Without a connection there may still be a server to stop. */
    if (rc == -ENOTCONN)
        rc = 0;
    embedded_stop();
    pthread_mutex_unlock(&embedded_lock);
    return (int)error_finish(rc, "finalize", NULL, false);
}

int benchfs_registry_prepare(const char *registry_dir, unsigned nservers)
{
    char err[512];
    int rc;

    error_begin();
    if (registry_dir == NULL)
        registry_dir = getenv("BENCHFS_REGISTRY");
    if (registry_dir == NULL)
        return (int)error_finish(-EINVAL, "registry_prepare", NULL, false);
    rc = registry_reset(registry_dir, nservers, err, sizeof(err));
    if (rc < 0)
        error_msg("%s", err);
    return (int)error_finish(rc, "registry_prepare", registry_dir, false);
}
