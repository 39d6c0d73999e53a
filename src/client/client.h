/*
 * client.h - internals of libbenchfs shared by the files of src/client.
 *
 * One `struct client` per process (the public API has no handle), created by
 * benchfs_connect(). The library starts no threads of its own (docs/design.md#processes)
 * but serves many application threads at once
 * (docs/architecture.md#client-threading):
 *
 *  - The state lock (state.c's client_lock, c->lock) protects everything in
 *    struct client, the descriptors, the servers and the UCX worker. Every
 *    public call holds it from client_enter() to client_leave(), except
 *    while rpc_run*() waits for replies: it drops the lock there, so other
 *    threads' calls (and their requests, on the same endpoints) proceed.
 *  - Hence: after any rpc_run*() (and every function that calls it), what
 *    was read from client state before may be stale; a descriptor in hand
 *    stays valid because fd_get()/fd_alloc() pin it until client_leave();
 *    endpoints are looked up again. Request buffers (data, rbuf) must be
 *    the calling thread's own until the call completes.
 *  - One waiting thread at a time drives the worker (rpc.c); callbacks run
 *    in that thread with the lock held and report to each call's batch
 *    (never error_msg(), which is the running thread's).
 *
 * Files, bottom up: each calls only files of lower layers
 * (docs/architecture.md#client-layers, checked by tests/docs/check_layers.py),
 * and the sections below declare them in this order.
 *   0 error.c     errno and benchfs_last_error()
 *     placement.c where paths and chunks live, pieces, removal plans (pure)
 *     posix.c     POSIX outcomes decided client-side (pure)
 *   1 fd.c        descriptor table, the descriptors a call pinned
 *   2 state.c     the client, its state lock, client_enter / client_leave
 *   3 slot.c      pending-request table, UCX callbacks, reply matching (slot.h)
 *   4 endpoint.c  the servers' endpoints: reconnect, drop, reap
 *   5 rpc.c       send, waiting (progress driver), deadlines, HELLO
 *   6 io.c        chunk reads, writes and removal fanned out over servers
 *     lookup.c    STAT of a path, ENOENT refined to ENOTDIR
 *   7 inode.c     the inodes this client has open (shared size view, orphans),
 *                 closing descriptors
 *     dir.c       mkdir / rmdir / opendir / readdir, directory attributes on every server
 *   8 file.c      open / close / read / write / lseek / fsync / ftruncate / fstat
 *     ns.c        stat / truncate / unlink / rename / access / statvfs
 *     attr.c      chmod / chown / utimens on paths and descriptors
 *     info.c      server information and shutdown
 *     fsck.c      consistency check of the cluster
 *     client.c    options, connect / disconnect
 *   9 embedded.c  benchfs_init / benchfs_finalize (embedded server)
 *     put.c       benchfs_put / benchfs_put_many: whole files, many per request (PUT)
 *     get.c       benchfs_get_many: attributes and small files' bytes, many per request (GET)
 */
#ifndef BENCHFS_CLIENT_CLIENT_H
#define BENCHFS_CLIENT_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "benchfs.h"
#include "client/placement.h"
#include "common/list.h"
#include "common/path.h"
#include "proto/proto.h"

struct net;
struct registry_entry;
struct net_ep;
struct net_msg;
struct ring;
struct rpc_slot;

/* One server of the cluster, in ring (natural node id) order. */
struct client_server {
    struct client *c;
    size_t idx;
    char node_id[64];
    char host[256];
    int64_t pid;
    uint64_t host_id; /* registry_host_id() of its host, from its registry file (0: none) */
    int peer_failure; /* its UCX error handling (enum net_pf), from its registry file */
    bool ep_pf;       /* the endpoint below has UCX peer-failure handling */
    void *addr;       /* worker address from its registry file (malloc'd) */
    size_t addr_len;
    struct net_ep *ep;       /* NULL: (re)connect before the next send */
    int ep_error;            /* -errno once the endpoint failed; destroyed at a safe point */
    bool hello_done;         /* HELLO answered on this endpoint (docs/protocol.md) */
    uint64_t ep_gen;         /* counts endpoints created, so a HELLO knows whom it greeted */
    uint64_t pid_waited_gen; /* ep_gen + 1 once a loss on that endpoint waited for the pid */
    /* direct.c: its chunk directory, open here (-1: none), when this client
     * reads and writes its chunk files itself. */
    bool direct;
    bool direct_dead; /* off because its pid was gone (a restart turns it on) */
    int dir_fd;
    uint64_t dir_dev, dir_ino;
    int64_t dir_pid; /* the server process of that directory */
    /* direct.c: its metadata store, read here (NULL: none); used while
     * `direct` holds (docs/architecture.md#direct-metadata-reads). */
    struct meta_reader *meta;
};

/*
 * An inode this client has open (inode.c), shared by all its descriptors.
 * Malloc'd: a reference stays valid across RPC waits.
 */
struct client_inode {
    struct client_inode *prev, *next;
    int refs;      /* descriptors, plus calls in progress (memory) */
    int opens;     /* open descriptors (inode_get .. inode_close) */
    bool orphan;   /* unlinked or renamed over by this client while open */
    bool dirty;    /* written since the last size push (SETSIZE) */
    bool unsynced; /* a write published the size, but close must still sync it */
    bool spread;   /* chunk 0's server knows chunks past chunk 0 may exist (io_spread) */
    size_t owner;  /* server holding its record (or orphan record) */
    char *path;    /* its name as this client knows it (malloc'd) */
    size_t path_len;
    size_t path_cap;        /* bytes allocated at path (a spare keeps its buffer) */
    struct proto_attr attr; /* attr.size = size known from the owner */
    uint64_t extent;        /* end of the furthest byte written since the last push */
    uint64_t wgen;          /* writes completed: a push clears only what it covered */
    char **retired;         /* earlier names: a request of another thread may still
                               send one (its wait is unlocked); freed with the inode */
    uint8_t *head;          /* read at open: all head_len bytes of a small file as
                               its open found them; dropped by any write or resize */
    size_t head_len;
    size_t nretired;
};

/*
 * One open descriptor, allocated on its own and reference counted: the
 * table holds one reference while the descriptor is open, and every public
 * call that got it from fd_get()/fd_alloc() holds one until client_leave().
 */
struct client_fd {
    unsigned refs; /* table + pins; freed at 0 (fd_unref) */
    bool used;     /* still in the table (false once closed) */
    bool is_dir;
    int flags;               /* O_ACCMODE | O_APPEND */
    struct client_inode *ci; /* NULL once closed */
    uint64_t pos;
    struct client_fd *spare_next; /* in client.spare_fds once freed */
};

/*
 * One RPC. The caller fills the request part (rpc_call_init and fields) and
 * keeps `data` and `rbuf` valid until the call completes; rpc.c fills the
 * result part.
 */
struct rpc_call {
    /* request */
    uint16_t op;
    size_t server;
    union proto_body req;
    const void *data; /* data part: path bytes or the user's data, not copied */
    size_t data_len;
    void *rbuf; /* CHUNK_READ: the reply's data lands here (zero-copy for rndv) */
    size_t rbuf_len;
    uint64_t ctx; /* free for the caller */
    bool retried; /* rpc.c: resent once after ENOTCONN */
    /* result */
    int status; /* 0 or -errno */
    union proto_body rep;
    size_t rlen; /* CHUNK_READ: bytes received into rbuf */
    void *rdata; /* READDIR: the reply's data part, malloc'd; the caller frees it */
    size_t rdata_len;
};

/*
 * A source of calls for rpc_run: next() returns the next call to issue (or
 * NULL for "none right now"), done() is called once per issued call when it
 * completed (successfully or not). done() may make next() produce more.
 */
struct rpc_src {
    struct rpc_call *(*next)(struct rpc_src *src);
    void (*done)(struct rpc_src *src, struct rpc_call *call);
};

struct client {
    char registry[BFS_PATH_MAX];
    uint8_t cookie[PROTO_COOKIE_LEN];
    char hostname[256];
    /* Who this client is for the servers (HELLO): the holder of the orphan
     * records it makes. session is random per connection (so a fork child,
     * which connects anew, has its own); host_id is registry_host_id(). */
    uint64_t session;
    uint64_t host_id;
    uint64_t pid;
    /* For endpoints without UCX peer-failure handling (shared memory), rpc.c
     * watches the registry pids of this host's servers while it waits. */
    bool watch_pids;
    uint64_t next_pid_check_ns;
    struct net *net;
    struct ring *ring;
    struct placement place;
    struct client_server *servers;
    size_t nservers;
    /* direct.c: BENCHFS_DIRECT allows it; servers it is on; directory fds
     * replaced while a call may still use them (closed with the client). */
    bool direct_on;
    size_t ndirect;
    uint64_t direct_check_ns; /* next check of direct servers' pids */
    int *direct_retired;
    size_t ndirect_retired;
    /* direct.c: chunk files kept open between pieces (DIRECT_FDS). */
    struct direct_fd {
        int fd;     /* -1: free */
        int dir_fd; /* the directory it was opened below */
        size_t server;
        uint64_t ino, index;
        bool writable;        /* opened O_RDWR (else O_RDONLY) */
        uint64_t dev, st_ino; /* what fd was when opened ... */
        int64_t btime_sec;    /* ... and its birth time (0/0: not known) */
        uint32_t btime_nsec;
        unsigned users;   /* calls doing I/O on it (lock dropped) */
        bool dead;        /* to close when the last user leaves */
        uint64_t used_ns; /* last use */
    } direct_fds[4];
    int direct_fd_floor; /* kept ones go at or above this number (0: none kept) */

    /* options */
    uint64_t chunk_size;
    int rpc_timeout_ms;
    unsigned max_inflight;
    uint64_t spin_ns;      /* busy-poll budget before sleeping (BENCHFS_SPIN_US) */
    uint64_t data_spin_ns; /* the same with chunk transfers in flight (BENCHFS_DATA_SPIN_US) */
    uint32_t uid, gid;
    mode_t umask;

    /* rpc.c */
    struct rpc_slot *slots;
    size_t nslots;
    struct list_node free_slots;  /* ready for reuse */
    struct list_node alive_slots; /* busy or zombie: UCX may still use them */
    bool need_reap;               /* some server's endpoint failed */
    uint64_t now_ns;              /* monotonic clock, refreshed while waiting */
    unsigned wait_pass;           /* progress passes, for clock reads */
    uint64_t stale_replies, bad_replies;

    /* inode.c */
    struct client_inode *inodes;
    struct client_inode *spare_inodes; /* freed, kept for reuse (via next) */
    unsigned nspare_inodes;

    /* fd.c */
    struct client_fd **fds; /* NULL: free number */
    int *fd_next_free;
    int nfds;
    int free_fd;
    struct client_fd *spare_fds; /* freed, kept for reuse (via spare_next) */
    unsigned nspare_fds;

    /* threading (state.c, rpc.c; see the header comment) */
    pthread_mutex_t *lock;    /* the state lock (state.c's client_lock) */
    unsigned active;          /* public calls inside client_enter/leave */
    bool closing;             /* benchfs_disconnect waits for active == 1 */
    pthread_cond_t idle;      /* signalled when active drops while closing */
    struct rpc_batch *driver; /* the batch whose thread drives the worker */
    bool driver_polling;      /* the driver sleeps in poll(), unlocked */
    int kick_fd;              /* eventfd that wakes a polling driver */
    struct list_node waiters; /* batches sleeping on their condvar */
    /* Bumped whenever the driver role falls free: threads spinning before
     * they sleep (rpc_wait_spin) watch it without the lock. */
    _Atomic unsigned driver_gen;
    size_t nfree_slots;    /* length of free_slots */
    size_t slot_reserve;   /* free slots kept for HELLO */
    unsigned slot_waiters; /* waiters that want a free slot */
};

/* Threads about to take the state lock (client_enter, client_lock_take):
 * a progress driver spinning with the lock lets them in. */
extern _Atomic unsigned client_lock_wanted;

/* ---- state.c ---- */

/* The state lock (c->lock) and the connected client (NULL: none): client.c
 * sets them at connect and disconnect, holding the lock. */
extern pthread_mutex_t client_lock;
extern struct client *client_global;

/*
 * Start a public call: take the state lock and check that the library is
 * connected (-ENOTCONN). On 0 the caller may use *c_p until client_leave(),
 * holding the state lock except inside rpc_run (which drops it while it
 * waits). client_leave() drops the descriptors this call pinned and the lock.
 */
int client_enter(struct client **c_p);
void client_leave(struct client *c);

/* Take / drop the state lock (a thread about to take it is counted, so that
 * a progress driver spinning with it lets it in). */
void client_lock_take(struct client *c);
void client_lock_drop(struct client *c);

/* Normalize a user path into out[BFS_PATH_MAX]; length or -errno. */
int client_path(const char *in, char *out);

/* "server node_2 (host pid 123)" for messages. */
const char *client_server_name(const struct client *c, size_t idx, char *buf, size_t len);
/* Does server idx run on this host, where its pid can be checked? By the
 * host id its registry file gives, else by host name. */
bool client_server_local(const struct client *c, size_t idx);

/* "server X died: connection lost" (a local server whose pid is gone) or
 * "connection to server X lost ..." for a connection UCX reports failed
 * with `status`; written to buf, which is returned. A local server's pid
 * still alive is given up to 20 ms to go, once per endpoint (a killed
 * process resets its connections before it has exited). */
const char *client_server_lost(struct client *c, size_t idx, int status, char *buf, size_t len);

/* ---- fd.c ---- */

/* Descriptors one public call may pin (fd_get, fd_alloc). */
#define CLIENT_MAX_PINS 8

/* New descriptor (zeroed, used, pinned). Returns the fd number or -ENOMEM / -EMFILE. */
int fd_alloc(struct client *c, struct client_fd **fd_p);
/* The open descriptor `fd`, pinned until client_leave, or NULL. */
struct client_fd *fd_get(struct client *c, int fd);
/* Free a descriptor's slot; returns the inode reference it held (or NULL). */
struct client_inode *fd_release(struct client *c, int fd);
/* Drop one reference; the last one frees the descriptor. */
void fd_unref(struct client *c, struct client_fd *f);
/* Drop the pins of this thread's current public call (client_leave). */
void fd_unpin_all(struct client *c);
/* Free the descriptor objects kept for reuse (client_destroy). */
void fd_spares_free(struct client *c);

/* ---- slot.c ---- */

/*
 * Slots for nslots requests in flight, `reserve` of them kept for HELLOs
 * (which other calls may wait on); rpc_cleanup frees them (after net_destroy).
 */
int rpc_init(struct client *c, size_t nslots, size_t reserve);
void rpc_cleanup(struct client *c);

/* Reply handler for NET_AM_REPLY (arg = the client). */
int rpc_on_reply(void *arg, struct net_msg *msg);

/*
 * Fail every undecided call in flight to server idx with status; each
 * call's thread gets `msg` (may be NULL) as its error message. Returns how
 * many calls failed.
 */
size_t rpc_fail_server(struct client *c, size_t idx, int status, const char *msg);

/* True when UCX may still use a caller's buffer of a call to server idx. */
bool rpc_server_holds_buffers(const struct client *c, size_t idx);

/*
 * Before the UCX worker is destroyed (client_net_reset): every call in
 * flight, to any server, gets `msg` as its error message and the undecided
 * ones fail with status. After it: rpc_slots_unpin ends what UCX had in
 * progress (no completion will come), failing answered calls whose data
 * never came with EIO.
 */
void rpc_fail_all(struct client *c, int status, const char *msg);
void rpc_slots_unpin(struct client *c);

/* Wake the progress driver if it sleeps in poll() (after a non-driver thread
 * progressed the worker, e.g. by closing an endpoint). Locked. */
void rpc_kick(struct client *c);

/* ---- endpoint.c ---- */

/* Create server idx's endpoint from its registry entry (at connect). */
int client_server_connect(struct client *c, size_t idx);

/* Whether the endpoint to server idx uses UCX peer-failure handling: as
 * BENCHFS_PEER_FAILURE says if set, else as the server published, which
 * may be "none on its own host" (net_pf_choose). */
bool client_server_peer_failure(const struct client *c, size_t idx);

/*
 * The endpoint of server idx, reconnecting (re-reading its registry file)
 * when the previous one failed. -EIO with a message when it cannot be had.
 */
int client_server_ep(struct client *c, size_t idx, struct net_ep **ep_p);

/* Destroy the endpoints that failed (outside of UCX callbacks). */
void client_reap(struct client *c);

/*
 * Give up on server idx's endpoint (timeout, send failure): fail its calls
 * in flight with `status` (and `msg`, may be NULL, as their error message)
 * and abort the endpoint; the next use reconnects.
 */
void client_server_drop(struct client *c, size_t idx, int status, const char *msg);

/*
 * Server idx, on this host and without peer-failure handling, died (`msg`
 * says so). It may have died in the middle of a message into this client's
 * shared-memory receive queue, which UCX then never reads past: every other
 * server's replies would stop for good. So every call in flight fails with
 * EIO and `msg`, and the UCX worker is recreated; later calls connect again
 * (the servers drop the old worker's connections at its HELLO). Falls back
 * to client_server_drop when a new worker cannot be had. Driver only, not
 * from a UCX callback.
 */
void client_server_died(struct client *c, size_t idx, const char *msg);

/* ---- rpc.c ---- */

/* Reset a call to an empty request of `op` for server `server`. */
void rpc_call_init(struct rpc_call *call, unsigned op, size_t server);

/* A path_req op (STAT, UNLINK, RMDIR_*) on path[0..len). */
void rpc_call_path(struct rpc_call *call, unsigned op, size_t server, const char *path, size_t len);

/*
 * Issue calls from `src`, at most max_inflight at once, topping up as
 * replies arrive, until next() has nothing more and all issued calls are
 * done. Never returns while UCX still uses a call's buffers (bounded by a
 * grace period after a failure). Returns 0; statuses are in the calls.
 */
int rpc_run(struct client *c, struct rpc_src *src);

/* Run an array of calls in parallel; returns the first failed status or 0. */
int rpc_run_calls(struct client *c, struct rpc_call *calls, size_t n);

/* Run one call; returns its status. */
int rpc_run_one(struct client *c, struct rpc_call *call);

/*
 * Say HELLO to server idx on its current endpoint (a nested rpc batch): the
 * server then owns an endpoint back to this client. Sets hello_done and
 * learns max_xfer. 0 or -errno (-EACCES: the server refused our cookie).
 */
int client_server_hello(struct client *c, size_t idx);

/* HELLO every server in parallel (connect): checks the cookie, learns max_xfer. */
int client_hello_all(struct client *c);

/* ---- io.c ---- */

/* Read [off, off+len) of a file into buf, zero-filling holes. 0 or -errno;
 * a chunk below attr->size lost by a server whose data directory was
 * replaced is -EIO, with a message naming the server. */
int io_read(struct client *c, const struct proto_attr *attr, void *buf, uint64_t off, uint64_t len);
/*
 * The same into the pipe pipe_fd (non-blocking, room for len): pieces in
 * chunk files of this host are spliced (no copy), the runs of others read
 * into scratch (len bytes) and written. 0 (len bytes in the pipe), -EAGAIN
 * (no server on this host: nothing to splice, use io_read), -EPIPE (the
 * pipe holds part of it: empty it and use io_read), or -errno.
 */
int io_read_pipe(struct client *c, const struct proto_attr *attr, int pipe_fd, void *scratch,
                 uint64_t off, uint64_t len);
/* Write n bytes of buf (zeros when buf is NULL) into the pipe. 0 or -EPIPE
 * (no room: the caller empties the pipe). */
int io_pipe_put(int pipe_fd, const uint8_t *buf, size_t n);
/* Write buf to [off, off+len). 0 or -errno (first error wins). */
int io_write(struct client *c, const struct proto_attr *attr, const void *buf, uint64_t off,
             uint64_t len);
/* The same for a write through open inode ci that ends in chunk 0 on ci's
 * owner: that piece also asks the owner to publish the size (off + len) in
 * its record (PROTO_CHUNK_SETSIZE). *rep_flags_p: the owner's answer,
 * PROTO_CHUNK_REP_* (0 when nothing was published). */
int io_write_publish(struct client *c, const struct client_inode *ci, const void *buf, uint64_t off,
                     uint64_t len, uint32_t *rep_flags_p);
/* Free the data of ino from byte new_size on (chunk size cs). Nothing when
 * old_size <= new_size (nothing known to free: other clients' unpublished
 * writes stay); otherwise every chunk from new_size on, on every server
 * that may hold one, whatever the file's size was: a CHUNK_TRUNC to chunk
 * 0's server, and when it says chunks past chunk 0 may exist, one to every
 * other server, in parallel (old_size only decides whether). 0 or -errno. */
int io_free(struct client *c, uint64_t ino, uint64_t cs, uint64_t new_size, uint64_t old_size);
/* ino is deleted for good (unlinked and closed, replaced by a rename, or
 * given up by O_TRUNC for a new number): free all its chunks on every server
 * that may hold one but done_server (one that already did, e.g. the owner
 * that served an UNLINK with PROTO_UNLINK_FREE, whose answer is `known`,
 * PROTO_REP_*; SIZE_MAX and 0: none), and make them refuse writes to it
 * still on their way from a writer that died. 0 or -errno. */
int io_free_gone(struct client *c, uint64_t ino, uint64_t cs, size_t done_server, uint32_t known);
/* Tell chunk 0's server of ino that chunks past chunk 0 may exist now
 * (before the first is written). 0 or -errno (-ESTALE: ino is deleted). */
int io_spread(struct client *c, uint64_t ino);
/* Check a chunk size from the wire: -EIO with a message when unusable. */
int io_check_chunk_size(uint64_t cs);

/* ---- direct.c (docs/architecture.md#direct-chunk-io, #direct-metadata-reads) ---- */

/* BENCHFS_DIRECT: unset or 1 on, 0 off; anything else -EINVAL (message). */
int direct_wanted(bool *on_p);
/* Turn direct chunk I/O to server idx on or off from its registry entry
 * (on only for a server of this host whose published chunk directory is
 * the one this client can open). */
void direct_setup(struct client *c, size_t idx, const struct registry_entry *e);
/* Close every directory (client teardown). */
void direct_close_all(struct client *c);
/* Close the chunk files of ino kept open (its data was freed, or this
 * client released the inode). */
void direct_forget(struct client *c, uint64_t ino);
/* A forked child's copy of the client: close the kept chunk files
 * (benchfs_atfork_child, and a pthread_atfork handler for programs that
 * do not call it). */
void direct_fork_child(struct client *c);
/* Lowest number for kept chunk files: half the descriptor limit, at most
 * 512; 0 (keep none) under a limit below 64. */
int direct_fd_floor(void);
/* Can a piece for server idx be done directly now? (Checks the pids of
 * direct servers every 100 ms and turns dead ones off.) */
bool direct_usable(struct client *c, size_t idx);
/*
 * pread (rbuf) or pwrite (wbuf) of len bytes at off of chunk `index` of ino
 * on server idx, with the state lock dropped around the system calls.
 * Returns the bytes transferred (a read stops at the chunk file's end),
 * -ENOENT when the chunk file does not exist or was removed during the
 * transfer (redo it through an RPC), -EAGAIN when the file cannot be used
 * here (use an RPC; direct I/O to that server is off from now on), or
 * -errno of the transfer (message set). keep: the caller holds ino's
 * inode, whose last release lets the file go (direct_forget); else the
 * file is not kept open.
 *
 * pipe_fd >= 0 (rbuf and wbuf NULL): a read that splices the file's pages
 * into that pipe (non-blocking, room for len) instead of copying them.
 * Then -EAGAIN also stands for any failure before a byte went into the
 * pipe (read the piece into memory instead), and -EPIPE for one after
 * (bytes are in the pipe, maybe of a file removed meanwhile: empty the
 * pipe and read the whole range into memory).
 */
ssize_t direct_rw(struct client *c, size_t idx, uint64_t ino, uint64_t index, uint64_t off,
                  void *rbuf, const void *wbuf, size_t len, bool keep, int pipe_fd);
/* Can a STAT of a path owned by server idx be answered here, from its
 * store (direct_stat)? */
bool direct_meta_usable(struct client *c, size_t idx);
/*
 * The committed attributes of path from server idx's store, read here: 0,
 * -ENOENT (no record: the server would answer the same), or -EAGAIN: ask
 * the server (no reader, the server is gone, or the record is unreadable
 * here; the server's answer carries its message).
 */
int direct_stat(struct client *c, size_t idx, const char *path, size_t len,
                struct proto_attr *attr);
/*
 * The entries of directory path in server idx's store, read here in one
 * snapshot, each to add (which returns nonzero to stop): 0, -ENOENT /
 * -ENOTDIR (as the server's READDIR), -EAGAIN before any entry was given
 * (ask the server), or -errno of a failure after some were (the listing
 * fails: a READDIR would give them again).
 */
int direct_readdir(struct client *c, size_t idx, const char *path, size_t len,
                   int (*add)(void *arg, const struct proto_dirent *e), void *arg);

/* ---- inode.c ---- */

/* The open inode `ino`, or NULL. */
struct client_inode *inode_find(struct client *c, uint64_t ino);
/* The open, named regular file whose name is path, or NULL. */
struct client_inode *inode_by_path(struct client *c, const char *path, size_t len);
/* A reference to inode attr->ino opened by the name path (created when new;
 * an existing one takes the name and the owner's fresh attributes). */
int inode_get(struct client *c, const char *path, size_t len, const struct proto_attr *attr,
              struct client_inode **ci_p);
/* Drop a reference (no RPC); frees the object at the last one. */
void inode_put(struct client *c, struct client_inode *ci);
/* Free the inode objects kept for reuse (client_destroy). */
void inode_spares_free(struct client *c);
/* Size as this client sees it: max(known, extent). */
uint64_t inode_size(const struct client_inode *ci);
/* The inode was truncated to size: known size and extent follow. */
void inode_truncated(struct client_inode *ci, uint64_t size);
/* This client renamed inode ino to path: its name and owner follow. */
int inode_renamed(struct client *c, uint64_t ino, const char *path, size_t len);
/* Forget the bytes read at open (a write or a size change makes them old). */
void inode_drop_head(struct client_inode *ci);
/* Look path up on its owner asking for the bytes of a small file too: on
 * success *head_p is NULL or a malloc'd copy of all attr_p->size bytes. */
int inode_lookup_head(struct client *c, const char *path, size_t len, struct proto_attr *attr_p,
                      uint8_t **head_p);
/* SETSIZE of the extent on the owner (flags PROTO_SETSIZE_*). */
int inode_push_size(struct client *c, struct client_inode *ci, uint32_t flags);
/* ISTAT: the owner's attributes of this very inode (-ESTALE when gone). */
int inode_stat(struct client *c, struct client_inode *ci, struct proto_attr *attr_p);
/* ITRUNCATE this very inode and free its data past size (-ESTALE when gone). */
int inode_truncate(struct client *c, struct client_inode *ci, uint64_t size);
/* io_spread once per open inode ci (NULL: every time). 0 or -errno. */
int inode_spread(struct client *c, struct client_inode *ci, uint64_t ino);
/*
 * Truncate inode attr->ino (attr->size: its size as the caller knows it) to
 * size: free its data past size, then ITRUNCATE it on where->owner under
 * where's name or orphan record (checked against the inode number), then
 * free what was published meanwhile. attr_p (may be NULL): new attributes.
 */
int inode_truncate_at(struct client *c, const struct client_inode *where,
                      const struct proto_attr *attr, uint64_t size, struct proto_attr *attr_p);
/* Release an orphan this client does not have open (KEEP raced): drop it on
 * `owner` and free its data. */
int inode_release_now(struct client *c, size_t owner, const struct proto_attr *attr,
                      const char *path, size_t len);
/* Drop a descriptor's reference: push the size, or release an orphan at the
 * last one. The reference is gone even when this fails. */
int inode_close(struct client *c, struct client_inode *ci);
/* close(fd): release it and close its inode reference. 0, -EBADF or -errno. */
int fd_close(struct client *c, int fd);
/* Close every descriptor (pushing sizes); first error or 0. */
int fd_close_all(struct client *c);

/* ---- lookup.c ---- */

/* STAT on the owner of path. */
int ns_stat_raw(struct client *c, const char *path, size_t len, struct proto_attr *attr_p);
/*
 * Turn -ENOENT for `path` into the POSIX answer: -ENOTDIR when the nearest
 * existing ancestor is a file, else -ENOENT.
 */
int ns_refine_enoent(struct client *c, const char *path, size_t len);

/* STAT a normalized path, with ENOENT refined as above. */
int ns_lookup(struct client *c, const char *path, size_t len, struct proto_attr *attr_p);

/* Normalize a user path into path (BFS_PATH_MAX bytes) and look it up.
 * Returns the normalized length or -errno. */
int ns_resolve(struct client *c, const char *upath, char *path, struct proto_attr *attr_p);

/* ---- dir.c ---- */

/* mkdir / rmdir / emptiness on normalized paths (used by rename). */
int dir_mkdir(struct client *c, const char *path, size_t len, uint32_t mode);
int dir_rmdir(struct client *c, const char *path, size_t len);
/* 1 when the directory has entries on any server, 0 when empty. */
int dir_has_entries(struct client *c, const char *path, size_t len);
/*
 * Directory attributes a (mode, owner, atime, mtime, ctime), just set on
 * server `done` (SIZE_MAX: none), onto the directory's record on every
 * other server, so that all replicas report the same. 0 or the first error.
 */
int dir_attr_copy(struct client *c, const char *path, size_t len, size_t done,
                  const struct proto_attr *a);
/*
 * SETATTR q (valid, values) on server `where` for the record of path (ino
 * 0: whatever it names, else that inode or -ESTALE; orphan: ino's orphan
 * record), then, when it is a directory, copied to every other server.
 * *attr_p: the new attributes.
 */
int dir_setattr(struct client *c, size_t where, const char *path, size_t len, uint64_t ino,
                bool orphan, const struct proto_setattr_req *q, struct proto_attr *attr_p);

/* ---- ns.c ---- */

/*
 * Truncate the file at path (normalized) to `size` (inode_truncate_at: data
 * freed first, then the size set on the owner) and update this client's
 * descriptors. attr_p (may be NULL): the new attributes.
 */
int ns_truncate_path(struct client *c, const char *path, size_t len, uint64_t size,
                     struct proto_attr *attr_p);

/* ---- client.c ---- */

/*
 * Connect / disconnect holding the global lock (benchfs_connect, benchfs_init).
 * quiet_log: silence the library's log unless BENCHFS_LOG is set (benchfs_init
 * does that itself, before its embedded server starts).
 */
int client_connect_locked(const char *dir, const struct benchfs_options *opts, bool quiet_log);

/* Log errors only, unless BENCHFS_LOG asks for more: a library does not print. */
void client_log_quiet(void);
int client_disconnect_locked(void);

#endif
