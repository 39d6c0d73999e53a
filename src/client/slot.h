/*
 * slot.h - the pending table's structures, shared by slot.c (the table and
 * its UCX callbacks) and rpc.c (issuing and waiting). Nothing else includes
 * it: the rest of the client sees rpc_* of client.h.
 */
#ifndef BENCHFS_CLIENT_SLOT_H
#define BENCHFS_CLIENT_SLOT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/client.h"
#include "client/error.h"
#include "common/list.h"
#include "proto/proto.h"

/*
 * One rpc_run, owned by the thread that runs it (on its stack): its
 * completed calls wait in `done` until the run takes them. While the run
 * waits and another thread drives the worker, it sleeps on `cond`.
 */
struct rpc_batch {
    struct list_node done;
    bool data;      /* a chunk transfer was issued: spin longer before sleeping */
    bool hello;     /* a HELLO batch: may use the reserved slots */
    bool want_slot; /* waits for a free slot rather than a completion */
    bool waiting;   /* sleeps on cond (in c->waiters) */
    bool cond_ready;
    /* Bumped by every wake-up of this batch (rpc_batch_wake), which its
     * thread watches without the lock while it spins before sleeping. */
    _Atomic unsigned pokes;
    struct list_node wait_link;
    pthread_cond_t cond;
    char msg[ERROR_MSG_MAX]; /* first message about one of its calls */
};

struct rpc_slot {
    struct list_node link;  /* in free_slots or its batch's done list */
    struct list_node alive; /* in alive_slots while busy */
    struct client *c;
    struct rpc_call *call; /* NULL once handed back as a zombie */
    struct rpc_batch *batch;
    uint32_t idx;
    uint32_t gen;
    bool busy;
    bool decided;
    bool send_pending;
    bool recv_pending;
    bool in_done;
    bool no_cancel; /* its endpoint has no peer-failure handling: UCX cannot end its operations */
    size_t server;
    int64_t server_pid; /* that server's pid when the call was issued */
    uint16_t op;
    uint64_t deadline_ns; /* reply deadline; after deciding, the end of the grace period */
    void *rdata;          /* READDIR receive buffer until the call is handed back */
    size_t rdata_len;
    uint8_t hdr[PROTO_MSG_MAX];
};

/* The reply deadline of a call issued now, in nanoseconds. */
uint64_t rpc_timeout_ns(const struct client *c);
/* Free slots a normal batch must leave for HELLOs. */
size_t rpc_reserve(const struct client *c, const struct rpc_batch *b);
/* Take a free slot (leaving the HELLO reserve to HELLOs); NULL if none. */
struct rpc_slot *rpc_slot_take(struct client *c, const struct rpc_batch *b);
/* Put a slot back on the free list (a new generation) and wake slot waiters. */
void rpc_slot_release(struct client *c, struct rpc_slot *s);
/* Hand the call back to its rpc_run (once) and wake its thread. */
void rpc_slot_hand_back(struct client *c, struct rpc_slot *s);
/* net_send completion of a request (arg = its slot). */
void rpc_send_done(void *arg, int status);
/* Whether UCX may still touch the caller's buffers of a decided call. */
bool rpc_slot_uses_caller(const struct rpc_slot *s);

#endif
