/*
 * io.c - file data over the servers: reads and writes split into pieces
 * (placement_piece) and issued in parallel, at most max_inflight at once,
 * and the removal of chunks after unlink or truncation (every server is
 * asked, since only the servers know which chunks they hold).
 *
 * Writes send the user's buffer as the data part of each CHUNK_WRITE (no
 * copy; UCX uses rendezvous for large pieces). Read replies land straight in
 * the user's buffer (eager: one memcpy; rendezvous: zero-copy). A read reply
 * shorter than the piece is a hole inside the file: the rest reads as zeros.
 * A server whose data directory was replaced answers -ENODATA for a chunk it
 * does not have: below the file's size that is lost data and the read fails
 * with EIO naming the server
 * (docs/architecture.md#data-integrity-every-chunk-freed-lost-data-an-error). First error wins; the
 * pieces already in flight are drained, no new ones are issued.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "client/error.h"
#include "common/ring.h"

/* Calls on the stack for small transfers; larger ones allocate. */
#define IO_STACK_CALLS 8
/* Largest write piece that carries its size to the owner (the piece and
 * the path are copied into one message); larger pieces only when they start
 * the file, the one-write small file (a write stream into chunk 0 would copy
 * every piece to save one SETSIZE at close). */
#define IO_PUBLISH_MAX (64u << 10)
#define IO_PUBLISH_ANY (8u << 10)
/* A direct write to a chunk file that does not exist yet sends this much
 * in an RPC first: the server creates the file (direct.c). */
#define IO_DIRECT_SEED 4096u

struct io_src {
    struct rpc_src src;
    struct client *c;
    const struct proto_attr *attr;
    uint64_t ino, cs, size;
    uint8_t *rbuf;                  /* read destination, buf[0] = file offset base */
    const uint8_t *wbuf;            /* write source */
    const struct client_inode *pub; /* publish the size with the last piece */
    uint8_t *pub_buf;               /* that piece's data, then the path */
    uint32_t pub_flags;             /* the owner's reply flags */
    uint64_t base, off, end;
    int first_err;
    struct rpc_call **free_calls;
    size_t nfree;
};

int io_check_chunk_size(uint64_t cs)
{
    if (cs == 0 || cs > UINT32_MAX) {
        error_msg("file has an unusable chunk size %llu", (unsigned long long)cs);
        return -EIO;
    }
    return 0;
}

/* Is pc the piece of this write that publishes the size (io_publish)? */
static bool io_publishes(const struct io_src *io, const struct piece *pc)
{
    const struct client_inode *ci = io->pub;
    uint64_t len = pc->length;

    if (ci == NULL || pc->file_off + len != io->end || pc->index != 0 || pc->server != ci->owner)
        return false;
    if (ci->orphan)
        return true;
    if (len > IO_PUBLISH_MAX || (len > IO_PUBLISH_ANY && pc->offset != 0))
        return false;
    return len + ci->path_len <= io->c->place.max_xfer[pc->server];
}

/*
 * The last piece of a write to chunk 0 on the inode's owner: ask the owner
 * to set the size too. A named inode's path follows the data (one copy of a
 * small piece); an orphan's record is found by inode number alone.
 */
static void io_publish(struct io_src *io, struct rpc_call *call, const struct piece *pc)
{
    const struct client_inode *ci = io->pub;
    uint64_t len = pc->length;

    if (!io_publishes(io, pc))
        return;
    if (ci->orphan) {
        call->req.chunk_io_req.flags = PROTO_CHUNK_SETSIZE | PROTO_CHUNK_SETSIZE_ORPHAN;
        return;
    }
    io->pub_buf = malloc(len + ci->path_len);
    if (io->pub_buf == NULL)
        return; /* not published: the size is pushed at close */
    memcpy(io->pub_buf, call->data, len);
    memcpy(io->pub_buf + len, ci->path, ci->path_len);
    call->req.chunk_io_req.flags = PROTO_CHUNK_SETSIZE;
    call->req.chunk_io_req.path_len = (uint32_t)ci->path_len;
    call->data = io->pub_buf;
    call->data_len = len + ci->path_len;
}

static struct rpc_call *io_next(struct rpc_src *src)
{
    struct io_src *io = (struct io_src *)src;
    struct rpc_call *call;
    struct piece pc;
    bool write = io->wbuf != NULL;

    if (io->first_err != 0 || io->off >= io->end || io->nfree == 0)
        return NULL;
    placement_piece(&io->c->place, io->ino, io->cs, io->off, io->end, &pc);
    call = io->free_calls[--io->nfree];
    rpc_call_init(call, write ? PROTO_OP_CHUNK_WRITE : PROTO_OP_CHUNK_READ, pc.server);
    call->req.chunk_io_req.ino = io->ino;
    call->req.chunk_io_req.index = pc.index;
    call->req.chunk_io_req.offset = pc.offset;
    call->req.chunk_io_req.length = pc.length;
    call->ctx = pc.file_off;
    if (write) {
        call->data = io->wbuf + (pc.file_off - io->base);
        call->data_len = pc.length;
        io_publish(io, call, &pc);
    } else {
        call->rbuf = io->rbuf + (pc.file_off - io->base);
        call->rbuf_len = pc.length;
    }
    io->off += pc.length;
    return call;
}

static void io_done(struct rpc_src *src, struct rpc_call *call)
{
    struct io_src *io = (struct io_src *)src;
    uint32_t want = call->req.chunk_io_req.length;
    int st = call->status;

    if (call->op == PROTO_OP_CHUNK_READ) {
        /* A chunk never written is a hole, whether the server says so or not. */
        if (st == -ENOENT) {
            st = 0;
            call->rlen = 0;
        }
        /* -ENODATA: the chunk is missing on a server that lost chunks (its
         * data directory was replaced). Inside the file that is lost data:
         * an error, never zeros. Past the recorded size it is a hole. */
        if (st == -ENODATA) {
            if (call->ctx < io->size) {
                error_msg("chunk %llu of inode %016llx is missing on server %s, whose data "
                          "directory was replaced: data lost",
                          (unsigned long long)call->req.chunk_io_req.index,
                          (unsigned long long)io->ino, ring_node_id(io->c->ring, call->server));
                st = -EIO;
            } else {
                st = 0;
                call->rlen = 0;
            }
        }
        if (st == 0 && call->rlen < want)
            memset((uint8_t *)call->rbuf + call->rlen, 0, want - call->rlen);
    } else if (st == 0 && call->rep.chunk_rep.length != want) {
        error_msg("short chunk write (%u of %u bytes)", call->rep.chunk_rep.length, want);
        st = -EIO;
    } else if (st == 0 && (call->req.chunk_io_req.flags & PROTO_CHUNK_SETSIZE)) {
        io->pub_flags = call->rep.chunk_rep.flags;
    }
    if ((st == -ENOSPC || st == -EDQUOT) && io->first_err == 0) {
        char name[384];

        error_msg("%s: %s in its data directory",
                  client_server_name(io->c, call->server, name, sizeof(name)), strerror(-st));
    }
    if (st < 0 && io->first_err == 0)
        io->first_err = st;
    io->free_calls[io->nfree++] = call;
}

static int io_run(struct client *c, const struct proto_attr *attr, uint8_t *rbuf,
                  const uint8_t *wbuf, uint64_t off, uint64_t len, const struct client_inode *pub,
                  uint32_t *pub_flags_p, bool rpc_only);

/*
 * Do the pieces from io->off on that can go straight to a chunk file of a
 * server on this host (direct.c), in order, until one cannot; the rest
 * then goes through RPCs. A write whose chunk file does not exist yet sends
 * its first IO_DIRECT_SEED bytes in an RPC (the server creates and indexes
 * the file) and goes on directly. The piece that publishes the size is
 * left to its RPC.
 */
static void io_direct(struct io_src *io)
{
    struct client *c = io->c;
    bool write = io->wbuf != NULL;

    while (io->first_err == 0 && io->off < io->end) {
        struct piece pc;
        ssize_t n;

        placement_piece(&c->place, io->ino, io->cs, io->off, io->end, &pc);
        if (!direct_usable(c, pc.server) || (write && io_publishes(io, &pc)))
            return;
        if (write) {
            const uint8_t *src = io->wbuf + (pc.file_off - io->base);

            n = direct_rw(c, pc.server, io->ino, pc.index, pc.offset, NULL, src, pc.length, true,
                          -1);
            if (n == -ENOENT) {
                /* Into chunk 0, one byte past the servers' default small
                 * chunk limit: a chunk file, which the next piece finds,
                 * rather than a small chunk (docs/architecture.md#small-files). */
                uint32_t want = pc.index == 0 ? IO_DIRECT_SEED + 1 : IO_DIRECT_SEED;
                uint32_t seed = pc.length < want ? pc.length : want;
                int rc = io_run(c, io->attr, NULL, src, pc.file_off, seed, NULL, NULL, true);

                if (rc < 0) {
                    io->first_err = rc;
                    return;
                }
                io->off += seed;
                continue;
            }
        } else {
            uint8_t *dst = io->rbuf + (pc.file_off - io->base);

            n = direct_rw(c, pc.server, io->ino, pc.index, pc.offset, dst, NULL, pc.length, true,
                          -1);
            /* Short: the chunk file ends there, a hole up to the piece's end. */
            if (n >= 0 && (size_t)n < pc.length)
                memset(dst + n, 0, pc.length - (size_t)n);
        }
        if (n == -ENOENT || n == -EAGAIN)
            return;
        if (n < 0) {
            io->first_err = (int)n;
            return;
        }
        io->off += pc.length;
    }
}

static int io_run(struct client *c, const struct proto_attr *attr, uint8_t *rbuf,
                  const uint8_t *wbuf, uint64_t off, uint64_t len, const struct client_inode *pub,
                  uint32_t *pub_flags_p, bool rpc_only)
{
    struct rpc_call stack_calls[IO_STACK_CALLS], *calls = stack_calls;
    struct rpc_call *stack_free[IO_STACK_CALLS], **free_calls = stack_free;
    struct io_src io;
    uint64_t pieces;
    size_t ncalls, i;
    int rc;

    if (len == 0)
        return 0;
    rc = io_check_chunk_size(attr->chunk_size);
    if (rc < 0)
        return rc;
    if (off > UINT64_MAX - len)
        return -EFBIG;
    pieces = placement_piece_count(&c->place, attr->ino, attr->chunk_size, off, len);
    ncalls = pieces < c->max_inflight ? (size_t)pieces : c->max_inflight;
    if (ncalls > IO_STACK_CALLS) {
        calls = malloc(ncalls * sizeof(*calls));
        free_calls = malloc(ncalls * sizeof(*free_calls));
        if (calls == NULL || free_calls == NULL) {
            free(calls);
            free(free_calls);
            return -ENOMEM;
        }
    }
    for (i = 0; i < ncalls; i++)
        free_calls[i] = &calls[i];

    memset(&io, 0, sizeof(io));
    io.src.next = io_next;
    io.src.done = io_done;
    io.c = c;
    io.attr = attr;
    io.ino = attr->ino;
    io.cs = attr->chunk_size;
    io.size = attr->size;
    io.rbuf = rbuf;
    io.wbuf = wbuf;
    io.base = off;
    io.off = off;
    io.end = off + len;
    io.free_calls = free_calls;
    io.nfree = ncalls;
    io.pub = pub;
    if (c->ndirect > 0 && !rpc_only)
        io_direct(&io);
    if (io.first_err == 0 && io.off < io.end)
        rpc_run(c, &io.src);
    free(io.pub_buf);
    if (pub_flags_p != NULL)
        *pub_flags_p = io.first_err == 0 ? io.pub_flags : 0;

    if (calls != stack_calls) {
        free(calls);
        free(free_calls);
    }
    return io.first_err;
}

int io_read(struct client *c, const struct proto_attr *attr, void *buf, uint64_t off, uint64_t len)
{
    return io_run(c, attr, buf, NULL, off, len, NULL, NULL, false);
}

int io_pipe_put(int pipe_fd, const uint8_t *buf, size_t n)
{
    static const uint8_t zeros[4096];

    while (n > 0) {
        size_t want = buf != NULL ? n : n < sizeof(zeros) ? n : sizeof(zeros);
        ssize_t w = write(pipe_fd, buf != NULL ? buf : zeros, want);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -EPIPE;
        n -= (size_t)w;
        if (buf != NULL)
            buf += w;
    }
    return 0;
}

/* Pieces [*mem_p, to) go through memory: read them (in parallel, as
 * io_read does) into scratch and write them into the pipe. */
static int io_pipe_mem(struct client *c, const struct proto_attr *attr, int pipe_fd,
                       uint8_t *scratch, uint64_t *mem_p, uint64_t to)
{
    uint64_t from = *mem_p;
    int rc;

    if (from == to)
        return 0;
    *mem_p = to;
    rc = io_run(c, attr, scratch, NULL, from, to - from, NULL, NULL, false);
    return rc < 0 ? rc : io_pipe_put(pipe_fd, scratch, to - from);
}

int io_read_pipe(struct client *c, const struct proto_attr *attr, int pipe_fd, void *scratch,
                 uint64_t off, uint64_t len)
{
    uint64_t at = off, end = off + len, mem = off;
    int rc = io_check_chunk_size(attr->chunk_size);

    if (rc < 0)
        return rc;
    if (off > UINT64_MAX - len)
        return -EFBIG;
    /* No chunk file here: a pipe would only add a copy. */
    if (c->ndirect == 0)
        return -EAGAIN;
    while (at < end) {
        struct piece pc;
        ssize_t n = -EAGAIN;

        placement_piece(&c->place, attr->ino, attr->chunk_size, at, end, &pc);
        if (direct_usable(c, pc.server)) {
            /* The pieces before it first, in order. */
            rc = io_pipe_mem(c, attr, pipe_fd, scratch, &mem, at);
            if (rc < 0)
                return rc;
            n = direct_rw(c, pc.server, attr->ino, pc.index, pc.offset, NULL, NULL, pc.length, true,
                          pipe_fd);
        }
        if (n >= 0) {
            /* Short: the chunk file ends there, a hole up to the piece's end. */
            rc = io_pipe_put(pipe_fd, NULL, pc.length - (size_t)n);
            if (rc < 0)
                return rc;
            mem = at + pc.length;
        } else if (n != -EAGAIN && n != -ENOENT) {
            return (int)n;
        }
        /* Else not a file here, or none (a hole, lost data, a small chunk):
         * through memory, the usual way, which tells them apart. */
        at += pc.length;
    }
    return io_pipe_mem(c, attr, pipe_fd, scratch, &mem, end);
}

int io_write(struct client *c, const struct proto_attr *attr, const void *buf, uint64_t off,
             uint64_t len)
{
    return io_run(c, attr, NULL, buf, off, len, NULL, NULL, false);
}

int io_write_publish(struct client *c, const struct client_inode *ci, const void *buf, uint64_t off,
                     uint64_t len, uint32_t *rep_flags_p)
{
    struct proto_attr attr = ci->attr;

    *rep_flags_p = 0;
    return io_run(c, &attr, NULL, buf, off, len, ci, rep_flags_p, false);
}

/* The CHUNK_TRUNC of ino (chunk size cs) from new_size on, with flags. */
static void io_trunc_call(struct rpc_call *call, size_t server, uint64_t ino, uint64_t cs,
                          uint64_t new_size, uint32_t flags)
{
    rpc_call_init(call, PROTO_OP_CHUNK_TRUNC, server);
    call->req.chunk_trunc_req.ino = ino;
    call->req.chunk_trunc_req.first = new_size / cs;
    call->req.chunk_trunc_req.keep_bytes = new_size % cs;
    call->req.chunk_trunc_req.flags = flags;
}

static int io_trunc_status(struct client *c, uint64_t ino, const struct rpc_call *call)
{
    /* Chunks that were never written are not an error. */
    if (call->status >= 0 || call->status == -ENOENT)
        return 0;
    error_msg("freeing the chunks of inode %016llx on server %s failed: %s",
              (unsigned long long)ino, ring_node_id(c->ring, call->server),
              strerror(-call->status));
    return call->status;
}

/*
 * Free ino's chunks from new_size on (flags: a CHUNK_TRUNC's) on the
 * servers that may hold any, but `skip` (SIZE_MAX: none), which did
 * already and told `known` (PROTO_REP_*, 0 when it did not know). Chunk 0's
 * server goes first unless it was `skip`: its answer says whether any other
 * server can hold a chunk (docs/semantics.md#where-chunks-are); only then
 * do all the others get one CHUNK_TRUNC each, in parallel.
 */
static int io_trunc_all(struct client *c, uint64_t ino, uint64_t cs, uint64_t new_size,
                        uint32_t flags, size_t skip, uint32_t known)
{
    struct rpc_call stack_calls[4], *calls = stack_calls;
    size_t i, n = 0, s0;
    int rc, src = 0;

    rc = io_check_chunk_size(cs);
    if (rc < 0)
        return rc;
    direct_forget(c, ino); /* its files go: hold none of them open */
    s0 = placement_chunk(&c->place, ino, 0);
    if (s0 != skip) {
        struct rpc_call call;

        io_trunc_call(&call, s0, ino, cs, new_size, flags);
        (void)rpc_run_one(c, &call);
        src = io_trunc_status(c, ino, &call);
        known = call.status == 0 ? call.rep.trunc_rep.flags : 0;
    }
    if ((known & PROTO_REP_KNOWN) && !(known & PROTO_REP_SPREAD))
        return src; /* nobody else holds any */
    if (c->nservers > sizeof(stack_calls) / sizeof(stack_calls[0])) {
        calls = calloc(c->nservers, sizeof(*calls));
        if (calls == NULL)
            return -ENOMEM;
    }
    for (i = 0; i < c->nservers; i++) {
        if (i != skip && i != s0)
            io_trunc_call(&calls[n++], i, ino, cs, new_size, flags);
    }
    rpc_run_calls(c, calls, n);
    rc = src;
    for (i = 0; i < n; i++) {
        int one = io_trunc_status(c, ino, &calls[i]);

        if (rc == 0)
            rc = one;
    }
    if (calls != stack_calls)
        free(calls);
    return rc;
}

int io_spread(struct client *c, uint64_t ino)
{
    struct rpc_call call;

    io_trunc_call(&call, placement_chunk(&c->place, ino, 0), ino, 1, 0, PROTO_CHUNK_TRUNC_SPREAD);
    return rpc_run_one(c, &call);
}

int io_free(struct client *c, uint64_t ino, uint64_t cs, uint64_t new_size, uint64_t old_size)
{
    /* Nothing known to free: free nothing. An O_TRUNC of a file whose size
     * is 0 must not wipe what other clients wrote and have not published
     * yet (IOR's shared file: every rank opens with O_TRUNC). When there is
     * something to free, old_size is only a hint: a writer that died before
     * pushing its size left chunks past any recorded size, so every server
     * drops whatever it holds from new_size on (its index makes "nothing"
     * cheap). */
    if (old_size <= new_size)
        return 0;
    return io_trunc_all(c, ino, cs, new_size, 0, SIZE_MAX, 0);
}

int io_free_gone(struct client *c, uint64_t ino, uint64_t cs, size_t done_server, uint32_t known)
{
    return io_trunc_all(c, ino, cs, 0, PROTO_CHUNK_TRUNC_GONE, done_server, known);
}
