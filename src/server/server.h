/*
 * server.h - a BenchFS server as a library: what benchfsd, benchfsd_mpi and
 * the client's embedded-server mode (benchfs_init with is_server) start.
 *
 * A server owns one data dir (locked: a second server on it is refused), one
 * chunk store, one metadata store and one UCX worker, all driven by a single
 * thread running server_run(). It publishes <registry>/<node_id>.addr once it
 * can serve and removes it when it stops.
 */
#ifndef BENCHFS_SERVER_SERVER_H
#define BENCHFS_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

struct server;

/*
 * Open the data dir (lock, stores), create the UCX worker and install the
 * handlers. Does not publish yet. On failure -errno and a message in err.
 */
int server_create(const struct config *cfg, struct server **srv_p, char *err, size_t errlen);

/* Publish the registry file (creating the cluster cookie if needed). */
int server_publish(struct server *srv, char *err, size_t errlen);

/*
 * Run the event loop until server_stop() or an authenticated SHUTDOWN
 * request, then stop accepting, drain in-flight requests, sync metadata and
 * unpublish. `handle_signals`: also stop on SIGINT/SIGTERM (blocks them in
 * the calling thread and reads them from a signalfd). Returns 0 or -errno.
 */
int server_run(struct server *srv, bool handle_signals);

/* Ask a running loop to stop; safe from any thread or a signal handler. */
void server_stop(struct server *srv);

/* Free everything (after server_run returned, or instead of it). */
void server_destroy(struct server *srv);

/* The node id served. */
const char *server_node_id(const struct server *srv);

/*
 * Embedded mode: create + publish + run on a new thread. Returns once the
 * server is published (ready) or failed. server_thread_stop() stops it,
 * joins the thread and frees everything.
 */
struct server_thread;
int server_thread_start(const struct config *cfg, struct server_thread **t_p, char *err,
                        size_t errlen);
void server_thread_stop(struct server_thread *t);

#endif
