/*
 * mini_server.h - the BenchFS Mini server: a UCX listener, one stream
 * endpoint per client, an in-memory store, and a loop that runs on its own
 * thread.
 *
 * The loop: progress the worker, ask it which endpoints have stream data
 * (ucp_stream_worker_poll), feed each endpoint's bytes into its frame
 * decoder, serve every completed frame (store put/get) and post the reply,
 * reap broken connections, and sleep on the worker's wakeup fd when idle.
 * Replies are sent asynchronously; a READ reply holds a reference on the
 * object it sends from.
 *
 * Lifecycle: mini_server_create() (listener up, registry file published) ->
 * mini_server_start() (thread) -> mini_server_destroy() (registry file
 * removed, thread stopped and joined, endpoints closed, memory freed). The
 * creating thread must not touch the server between start and destroy.
 */
#ifndef BENCHFS_MINI_SERVER_H
#define BENCHFS_MINI_SERVER_H

#include <stdint.h>

struct mini_server;

/*
 * Create the UCX context/worker, listen on 0.0.0.0 with a kernel-chosen
 * port, and publish "<host>:<port>" as <registry>/server_<rank>.txt.
 * Returns 0 or -errno (message logged); nothing is left behind on error.
 */
int mini_server_create(const char *registry, int rank, const char *host,
                       struct mini_server **srv_p);

/* Start the serving thread (signals are blocked in it). Returns 0 or -errno. */
int mini_server_start(struct mini_server *srv);

/* The listening port. */
uint16_t mini_server_port(const struct mini_server *srv);

/* Unpublish, stop, and free everything. NULL is allowed. */
void mini_server_destroy(struct mini_server *srv);

#endif
