/*
 * state.c - the one client of the process and its state lock: the public
 * call's bracket (client_enter / client_leave), the lock the request engine
 * drops while it waits, and the names of paths and servers that every layer
 * above uses in its messages (client.h; docs/architecture.md#client-threading).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/client.h"
#include "client/error.h"
#include "registry/registry.h"

pthread_mutex_t client_lock = PTHREAD_MUTEX_INITIALIZER;
struct client *client_global;
_Atomic unsigned client_lock_wanted;

void client_lock_take(struct client *c)
{
    atomic_fetch_add_explicit(&client_lock_wanted, 1, memory_order_relaxed);
    pthread_mutex_lock(c->lock);
    atomic_fetch_sub_explicit(&client_lock_wanted, 1, memory_order_relaxed);
}

void client_lock_drop(struct client *c)
{
    pthread_mutex_unlock(c->lock);
}

int client_enter(struct client **c_p)
{
    struct client *c;

    error_begin();
    atomic_fetch_add_explicit(&client_lock_wanted, 1, memory_order_relaxed);
    pthread_mutex_lock(&client_lock);
    atomic_fetch_sub_explicit(&client_lock_wanted, 1, memory_order_relaxed);
    c = client_global;
    if (c == NULL) {
        pthread_mutex_unlock(&client_lock);
        error_msg("not connected (call benchfs_connect first)");
        return -ENOTCONN;
    }
    c->active++;
    *c_p = c;
    return 0;
}

void client_leave(struct client *c)
{
    fd_unpin_all(c);
    c->active--;
    if (c->closing && c->active == 1)
        pthread_cond_signal(&c->idle);
    pthread_mutex_unlock(&client_lock);
}

int client_path(const char *in, char *out)
{
    if (in != NULL && in[0] == '\0')
        return -ENOENT; /* POSIX: an empty path names nothing */
    return path_normalize(in, out, BFS_PATH_MAX);
}

bool client_server_local(const struct client *c, size_t idx)
{
    const struct client_server *srv = &c->servers[idx];

    if (srv->host_id != 0)
        return srv->host_id == c->host_id;
    return strcmp(srv->host, c->hostname) == 0;
}

const char *client_server_name(const struct client *c, size_t idx, char *buf, size_t len)
{
    const struct client_server *s;

    if (idx >= c->nservers) {
        snprintf(buf, len, "server #%zu", idx);
        return buf;
    }
    s = &c->servers[idx];
    snprintf(buf, len, "server %s (%s pid %lld)", s->node_id, s->host, (long long)s->pid);
    return buf;
}

/*
 * Has local server idx's process gone? The kernel closes a killed process's
 * sockets before the process has exited, so UCX can report the reset while
 * its pid still runs: wait for it a little, once per endpoint, so that a
 * burst of failing calls costs one wait. Called on error paths only.
 */
static bool server_pid_gone(struct client *c, size_t idx)
{
    struct client_server *srv = &c->servers[idx];
    const struct timespec ms = {.tv_nsec = 1000000};

    if (!client_server_local(c, idx) || srv->pid <= 0)
        return false;
    for (int waited = 0; registry_pid_alive(srv->pid); waited++) {
        if (waited == 20 || srv->pid_waited_gen == srv->ep_gen + 1) {
            srv->pid_waited_gen = srv->ep_gen + 1;
            return false;
        }
        nanosleep(&ms, NULL);
    }
    return true;
}

const char *client_server_lost(struct client *c, size_t idx, int status, char *buf, size_t len)
{
    char name[384];

    client_server_name(c, idx, name, sizeof(name));
    /* UCX reports a peer whose process died as a timeout: say what it is. */
    if (server_pid_gone(c, idx))
        snprintf(buf, len, "%s died: connection lost", name);
    else if (status == -ETIMEDOUT || status == -ECONNRESET)
        snprintf(buf, len, "connection to %s lost (the server died or its host is unreachable)",
                 name);
    else
        snprintf(buf, len, "connection to %s lost: %s", name, strerror(-status));
    return buf;
}
