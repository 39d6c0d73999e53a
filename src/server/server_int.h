/*
 * server_int.h - internals shared by the server's files (not installed).
 *
 * A request is an explicit state machine (struct sreq, docs/design.md#event-loop): the UCX
 * receive callback only validates the message, copies what it must and queues
 * the request; the loop then steps it. Metadata ops finish in one step and
 * their replies wait for the end of the loop pass, when the pass's LMDB
 * transaction is committed (group commit). Data ops move through buffer,
 * receive, storage and send states, each completion queueing the request
 * again.
 */
#ifndef BENCHFS_SERVER_SERVER_INT_H
#define BENCHFS_SERVER_SERVER_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/list.h"
#include "common/path.h"
#include "common/pool.h"
#include "net/net.h"
#include "proto/proto.h"
#include "server/server.h"
#include "store/chunk.h"
#include "store/meta.h"

enum sreq_state {
    SREQ_NEW,       /* validated, waiting for its first step */
    SREQ_WAIT_BUF,  /* needs an I/O buffer, none free */
    SREQ_RECV,      /* rendezvous data being received into the buffer */
    SREQ_RECV_DONE, /* data in the buffer, storage I/O not yet started */
    SREQ_IO,        /* storage I/O in flight */
    SREQ_IO_DONE,   /* storage I/O finished: r->result */
    SREQ_REPLY,     /* reply ready, sent after the pass's metadata commit */
    SREQ_SEND,      /* reply being sent (buffer still in use) */
    SREQ_ZOMBIE,    /* given up in RECV or SEND (its client died unreported):
                       buffer and client let go, freed if UCX ever completes it */
};

/* Inline room for a request's variable part: two maximal paths. */
#define SREQ_DATA_INLINE (2 * BFS_PATH_MAX)

struct server;
struct server_client;

struct sreq {
    struct list_node link; /* on one of the server's queues */
    struct server *srv;
    enum sreq_state state;
    bool heap; /* allocated outside the pool (pool exhausted) */
    unsigned op;
    struct proto_hdr hdr;
    union proto_body body;
    net_peer_t reply_ep;
    struct server_client *client; /* holds a reference while in flight */
    uint64_t start_ns;

    /* Variable part: paths are copied inline; chunk data lives in iobuf. */
    uint32_t data_len;
    void *rndv_desc;  /* kept rendezvous descriptor (WAIT_BUF) */
    void *eager_copy; /* eager write data held while waiting for a buffer */
    void *iobuf;      /* registered I/O buffer from the chunk store */
    int io_result;    /* result of the last storage I/O */
    void *op_state;   /* an op's own allocation (PUT's files), freed with it */

    /* Reply. */
    int status; /* 0 or -errno */
    union proto_body rep;
    const void *rep_data;
    uint32_t rep_data_len;
    uint8_t rep_msg[PROTO_MSG_MAX];

    char data[SREQ_DATA_INLINE];
};

struct server_stats {
    uint64_t ops;
    uint64_t bad_requests;
    uint64_t chunk_writes;
    uint64_t chunk_reads;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t pool_overflow;
    /* Time of the loop's passes that did some work (a request, a reply, a
     * completion), from the clock read before the pass to the one after:
     * busy_ns / uptime is how saturated this server was. Idle spinning,
     * yielding and sleeping are not counted. */
    uint64_t busy_ns;
};

struct server {
    struct config cfg;
    struct net *net;
    struct meta *meta;
    struct chunk_store *chunks;
    char meta_dir[CONFIG_STR_MAX + 16];
    char chunk_dir[CONFIG_STR_MAX + 16];
    int lock_fd;
    uint8_t cookie[PROTO_COOKIE_LEN];
    uint64_t data_id;        /* identity of the data directory (data_id.c) */
    uint64_t ino_end_saved;  /* inode counter end recorded in the registry */
    uint64_t ino_end_failed; /* an end whose recording failed (logged once) */
    uint32_t tag;
    char host[256];
    bool published;
    bool embedded;

    /* Loop. */
    int epfd;
    int wakefd;         /* eventfd: server_stop() from another thread */
    int sigfd;          /* signalfd when handling SIGINT/SIGTERM, else -1 */
    unsigned busy_arms; /* idle passes in a row UCX refused to arm (loop.c) */
    atomic_bool stop_requested;
    bool stopping;
    uint64_t start_ns;

    /* Requests. */
    struct pool *req_pool;
    unsigned inflight;         /* requests alive (any state) */
    struct list_node ready;    /* to be stepped this pass */
    struct list_node wait_buf; /* waiting for an I/O buffer */
    struct list_node replies;  /* replies held until the metadata commit */
    struct list_node in_ucx;   /* in RECV or SEND: waiting for UCX */
    struct list_node zombies;  /* SREQ_ZOMBIE */
    bool meta_sync;            /* the commit of this pass must be synced */

    /* Clients that said HELLO (clients.c), by endpoint handle. */
    struct server_client **clients;
    size_t clients_cap;
    size_t nclients;
    size_t clients_watched;   /* local clients without peer failure: pids checked */
    uint64_t clients_next_ns; /* next check of their pids */

    /* Orphan records held here and their holders (orphans.c). */
    struct server_orphan *orphans; /* sorted by inode number */
    size_t norphans, orphans_cap;
    uint64_t host_id;         /* registry_host_id() of this host */
    uint64_t orphans_next_ns; /* next check of holders (0: none needed) */

    struct server_stats stats;
};

/* clients.c */
struct server_client *server_client_find(struct server *srv, net_peer_t peer);
/* A HELLO from `reply` with the client's worker address: the known client,
 * or a new one with an endpoint back to it of the UCX error handling the
 * client uses (peer_failure); -errno (-EOPNOTSUPP: UCX refused the mode).
 * A new client on this host (host id) without peer-failure handling is
 * watched: when its pid is gone it is dropped (server_clients_tick). */
int server_client_hello(struct server *srv, net_peer_t reply, const void *addr, size_t len,
                        bool peer_failure, uint64_t host, uint64_t pid, struct server_client **c_p);
net_peer_t server_client_peer(const struct server_client *c);
bool server_client_dead(const struct server_client *c);
void server_client_get(struct server_client *c);
void server_client_put(struct server_client *c);
void server_clients_cleanup(struct server *srv);
/* Note activity of a client (eviction picks the least recently active). */
void server_client_touch(struct server_client *c);
/* Give up on every client: close without flushing, so replies still being
 * sent fail and their requests are freed (shutdown after a drain timeout). */
void server_clients_abort(struct server *srv);
/* Record the identity a HELLO gave (session, host id, pid; 0 = not said). */
void server_client_identify(struct server_client *c, uint64_t session, uint64_t host, uint64_t pid);
/* Every loop pass: when a check is due, drop the watched clients whose
 * process is gone (as if their endpoint had failed). timeout_ms: how long
 * the loop may sleep before the next check (-1: none watched). */
void server_clients_tick(struct server *srv);
int server_clients_timeout_ms(const struct server *srv);
/* The client as the holder of an orphan record it makes. */
void server_client_holder(const struct server_client *c, struct meta_holder *h);
/* Clients known and not gone (said HELLO; STATUS). */
size_t server_clients_connected(const struct server *srv);
/* Is a client of this session connected (said HELLO, endpoint not failed)? */
bool server_session_connected(const struct server *srv, uint64_t session);

/* orphans.c: orphan records held here and the liveness of their holders.
 * load: read them from the store at start (0 or -errno with err). made:
 * request r made ino's record an orphan (its client is the holder).
 * released: the holder released it (RELEASE). state: PROTO_HOLDER_* of
 * ino's holder (unknown when ino is no orphan here), *holder_p filled.
 * reclaim: drop ino's orphan record and free its chunks here (refusing
 * their late writes), *bytes_p = the bytes they held; 0 or -errno
 * (-ENOENT: no such orphan). client_failed:
 * the endpoint of a client of this session failed. tick: called every loop
 * pass, checks holders when a check is due and reclaims the gone ones.
 * timeout_ms: how long the loop may sleep before the next check (-1: no
 * check pending). */
int server_orphans_load(struct server *srv, char *err, size_t errlen);
void server_orphans_cleanup(struct server *srv);
void server_orphan_made(struct sreq *r, uint64_t ino);
void server_orphan_released(struct server *srv, uint64_t ino);
unsigned server_orphan_state(struct server *srv, uint64_t ino, struct meta_holder *holder_p);
int server_orphan_reclaim(struct server *srv, uint64_t ino, struct meta_attr *attr_p,
                          uint64_t *bytes_p);
/* Up to max inode numbers of orphans here above `after`, ascending. */
size_t server_orphans_page(const struct server *srv, uint64_t after, uint64_t *inos, size_t max);
void server_orphans_client_failed(struct server *srv, uint64_t session);
void server_orphans_tick(struct server *srv);
int server_orphans_timeout_ms(const struct server *srv);

/* request.c */
int server_request_init(struct server *srv);
void server_request_cleanup(struct server *srv);
int server_on_request(void *arg, struct net_msg *msg);
void sreq_queue(struct sreq *r);              /* append to the ready queue */
void sreq_step(struct sreq *r);               /* advance one state */
void sreq_finish(struct sreq *r, int status); /* queue the reply (status -errno or 0) */
void server_flush_replies(struct server *srv);
void server_requests_abort(struct server *srv); /* drop requests waiting for buffers */
/* Give up the requests of client c (gone, its death unreported by UCX)
 * that wait for UCX to receive their data or send their reply: their
 * buffers are free again. Only once nothing of c can still arrive (its
 * process is gone and its messages were progressed). Returns how many. */
size_t server_requests_reclaim(struct server *srv, struct server_client *c);
void server_buffers_released(struct server *srv); /* wake WAIT_BUF requests */
const char *sreq_path(const struct sreq *r);

/* Handler of an op's first step. Returns after finishing the request
 * (sreq_finish) or after starting asynchronous work. */
typedef void (*server_op_fn)(struct sreq *r);
#define SERVER_OP_DECL(name, req, rep) void server_op_##name(struct sreq *r);
PROTO_OPS(SERVER_OP_DECL)
#undef SERVER_OP_DECL

/* op_data.c: continue a data op after its receive or storage I/O (a PUT
 * goes on in op_put.c, a GET in op_get.c); server_io_done is the chunk store callback that
 * records an I/O's result and queues its request (SREQ_IO_DONE). */
void server_data_continue(struct sreq *r);
void server_io_done(void *arg, int result);
/* op_data.c: PROTO_REP_KNOWN | SPREAD for freeing ino's chunks when this
 * server holds its chunk 0 (its number has this server's tag), read before
 * they go; 0 otherwise (the client then asks everybody). */
uint32_t server_spread_flags(struct server *srv, uint64_t ino);
/* op_put.c: a PUT after its receive or its chunk writes; lost: the pass's
 * commit failed, so the files it made have no records: remove their data. */
void server_put_continue(struct sreq *r);
void server_put_lost(struct sreq *r);
/* op_get.c: a GET after its receive or its chunk reads. */
void server_get_continue(struct sreq *r);
/* STAT with PROTO_STAT_HEAD of a small file: read chunk 0 into the reply
 * (op_data.c); the reply goes without data when that cannot be done. */
void server_stat_head(struct sreq *r);

/* loop.c */
void server_wake(struct server *srv);

/* data_id.c: load (or create) <data_dir>/data_id, compare it with the
 * registry's memory of this node (<registry>/<node>.data, same cookie) and
 * update that memory. A directory that replaced another is marked lost for
 * good and the chunk store reads its missing chunks as -ENODATA. Needs
 * srv->cookie. 0, or -errno with a message in err. */
int server_data_id_check(struct server *srv, char *err, size_t errlen);
/* Record a moved inode counter end in the registry's memory (once per
 * reservation block); called before a pass's replies leave. */
void server_data_id_sync(struct server *srv);

#endif
