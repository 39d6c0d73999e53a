/*
 * put.c - benchfs_put and benchfs_put_many: whole files, each with its
 * bytes, mode and mtime, made at once (docs/semantics.md#put).
 *
 * Files whose bytes and names fit a request to the owner of their name
 * (with the table entry, within the owner's largest transfer; the bytes
 * within one chunk) go as PUTs: one request per owner for up to
 * PUT_BATCH_MAX files or max_xfer bytes, all requests in parallel. The
 * owner writes each file's bytes as chunk 0 of an inode it allocates, then
 * makes the name with the final size, mode and mtime, so nobody sees a
 * file partial (src/server/op_put.c). A larger file is made with the public
 * calls open (O_CREAT | O_EXCL), pwrite, fchmod, futimens and close, and
 * removed again when one of them fails. Costs: one RPC per owner per
 * batch, or the calls' (3 + the pieces of the data) for a large file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/client.h"
#include "client/error.h"

/* Files per request at most: a request is answered when its last write
 * is done, so very long ones would only delay the first answers. */
#define PUT_BATCH_MAX 128u

/* One file of a put_many as it is sent. */
struct put_item {
    size_t file;  /* index in the caller's array */
    size_t owner; /* server owning its name */
    size_t req;   /* its request */
    uint32_t k;   /* its entry in that request's table */
    uint32_t path_len;
    char *path; /* normalized, in the batch's arena */
};

/* One PUT request: a call, its buffer (table, then bytes and paths) and
 * the statuses of the reply. */
struct put_req {
    size_t owner;
    uint8_t *buf;
    size_t len;
    uint32_t count;
    uint8_t *status;
};

/* 0, or -EINVAL for a time BenchFS cannot store (unsigned nanoseconds). */
static int put_mtime_check(const struct timespec *t)
{
    if (t->tv_nsec == UTIME_NOW)
        return 0;
    if (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1000000000L ||
        (uint64_t)t->tv_sec > UINT64_MAX / 1000000000ull - 1)
        return -EINVAL;
    return 0;
}

/*
 * Group the items of one owner into requests: consecutive items while
 * count and bytes allow. Items of every owner are numbered in one pass.
 * Returns the number of requests, *reqs_p filled with their sizes.
 */
static size_t put_plan(struct client *c, struct benchfs_put_file *files, struct put_item *items,
                       size_t nitems, struct put_req **reqs_p)
{
    struct put_req *reqs;
    size_t nreqs = 0;

    reqs = calloc(nitems, sizeof(*reqs)); /* at most one request per item */
    if (reqs == NULL)
        return 0;
    for (size_t s = 0; s < c->nservers; s++) {
        size_t cur = SIZE_MAX;

        for (size_t i = 0; i < nitems; i++) {
            struct put_item *it = &items[i];
            size_t add = PROTO_PUTFILE_ENTRY + files[it->file].len + it->path_len;

            if (it->owner != s)
                continue;
            if (cur == SIZE_MAX || reqs[cur].count == PUT_BATCH_MAX ||
                reqs[cur].len + add > c->place.max_xfer[s]) {
                cur = nreqs++;
                reqs[cur].owner = s;
            }
            it->req = cur;
            it->k = reqs[cur].count++;
            reqs[cur].len += add;
        }
    }
    *reqs_p = reqs;
    return nreqs;
}

/* Fill request buffers and calls: tables first, then bytes and paths in
 * table order (items of one request are in order already). */
static int put_pack(struct client *c, struct benchfs_put_file *files, struct put_item *items,
                    size_t nitems, struct put_req *reqs, struct rpc_call *calls, size_t nreqs)
{
    size_t *off = calloc(nreqs, sizeof(*off));

    if (off == NULL)
        return -ENOMEM;
    for (size_t q = 0; q < nreqs; q++) {
        reqs[q].buf = malloc(reqs[q].len);
        reqs[q].status = malloc(4 * (size_t)reqs[q].count);
        if (reqs[q].buf == NULL || reqs[q].status == NULL) {
            free(off);
            return -ENOMEM;
        }
        off[q] = (size_t)reqs[q].count * PROTO_PUTFILE_ENTRY;
    }
    for (size_t i = 0; i < nitems; i++) {
        const struct put_item *it = &items[i];
        const struct benchfs_put_file *f = &files[it->file];
        struct put_req *q = &reqs[it->req];
        struct proto_putfile pf = {
            .length = (uint32_t)f->len,
            .path_len = it->path_len,
            .mode = (uint32_t)f->mode & 07777,
        };

        if (f->mtime.tv_nsec != UTIME_NOW) {
            pf.flags = PROTO_PUTFILE_MTIME;
            pf.mtime_ns = (uint64_t)f->mtime.tv_sec * 1000000000ull + (uint64_t)f->mtime.tv_nsec;
        }
        proto_putfile_pack(q->buf, it->k, &pf);
        if (f->len > 0)
            memcpy(q->buf + off[it->req], f->data, f->len);
        memcpy(q->buf + off[it->req] + f->len, it->path, it->path_len);
        off[it->req] += f->len + it->path_len;
    }
    free(off);
    for (size_t q = 0; q < nreqs; q++) {
        struct rpc_call *call = &calls[q];

        rpc_call_init(call, PROTO_OP_PUT, reqs[q].owner);
        call->req.put_req.count = reqs[q].count;
        call->req.put_req.uid = c->uid;
        call->req.put_req.gid = c->gid;
        call->req.put_req.chunk_size = c->chunk_size;
        call->data = reqs[q].buf;
        call->data_len = reqs[q].len;
        call->rbuf = reqs[q].status;
        call->rbuf_len = 4 * (size_t)reqs[q].count;
    }
    return 0;
}

/* Each file's status from its request's reply. */
static void put_results(struct client *c, struct benchfs_put_file *files,
                        const struct put_item *items, size_t nitems, const struct put_req *reqs,
                        const struct rpc_call *calls)
{
    for (size_t i = 0; i < nitems; i++) {
        const struct put_item *it = &items[i];
        const struct rpc_call *call = &calls[it->req];
        int rc = call->status;

        if (rc == 0 && (call->rep.put_rep.count != reqs[it->req].count ||
                        call->rlen != 4 * (size_t)reqs[it->req].count))
            rc = -EPROTO;
        if (rc == 0)
            rc = error_from_wire((int32_t)proto_get_u32(reqs[it->req].status + 4 * (size_t)it->k));
        if (rc == -ENOENT)
            rc = ns_refine_enoent(c, it->path, it->path_len);
        files[it->file].error = -rc;
    }
}

/*
 * The files that fit a request, as PUTs; *large[i] marks those that do not
 * (left to put_calls). Every other file gets its error. 0, or -ENOMEM
 * before anything was sent.
 */
static int put_batch(struct client *c, struct benchfs_put_file *files, size_t n, bool *large)
{
    char npath[BFS_PATH_MAX];
    struct put_item *items = malloc(n * sizeof(*items));
    struct put_req *reqs = NULL;
    struct rpc_call *calls = NULL;
    size_t nitems = 0, nreqs = 0, arena_len = 0, used = 0;
    char *arena;
    int rc = -ENOMEM;

    for (size_t i = 0; i < n; i++)
        arena_len += (files[i].path ? strlen(files[i].path) : 0) + 2;
    arena = malloc(arena_len);
    if (items == NULL || arena == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct benchfs_put_file *f = &files[i];
        size_t owner;
        int len;

        f->error = 0;
        large[i] = false;
        len = f->data == NULL && f->len > 0 ? -EFAULT : put_mtime_check(&f->mtime);
        if (len == 0)
            len = client_path(f->path, npath);
        if (len < 0) {
            f->error = -len;
            continue;
        }
        owner = placement_path(&c->place, npath, (size_t)len);
        if (f->len > c->chunk_size ||
            PROTO_PUTFILE_ENTRY + f->len + (size_t)len > c->place.max_xfer[owner]) {
            large[i] = true;
            continue;
        }
        items[nitems] = (struct put_item){
            .file = i, .owner = owner, .path_len = (uint32_t)len, .path = arena + used};
        memcpy(arena + used, npath, (size_t)len);
        used += (size_t)len;
        nitems++;
    }
    rc = 0;
    if (nitems == 0)
        goto out;
    rc = -ENOMEM;
    nreqs = put_plan(c, files, items, nitems, &reqs);
    calls = calloc(nreqs ? nreqs : 1, sizeof(*calls));
    if (nreqs == 0 || calls == NULL)
        goto out;
    rc = put_pack(c, files, items, nitems, reqs, calls, nreqs);
    if (rc < 0)
        goto out;
    (void)rpc_run_calls(c, calls, nreqs); /* each call has its own status */
    put_results(c, files, items, nitems, reqs, calls);
out:
    for (size_t q = 0; q < nreqs; q++) {
        free(reqs[q].buf);
        free(reqs[q].status);
    }
    free(calls);
    free(reqs);
    free(arena);
    free(items);
    return rc;
}

/* A file too large for one request, through the public calls (each sets
 * errno and the last error itself). Returns 0 or an errno value. */
static int put_calls(const struct benchfs_put_file *f)
{
    struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, f->mtime};
    size_t off = 0;
    int fd, err = 0;

    fd = benchfs_open(f->path, O_WRONLY | O_CREAT | O_EXCL, f->mode);
    if (fd < 0)
        return errno;
    while (off < f->len && err == 0) {
        ssize_t w = benchfs_pwrite(fd, (const char *)f->data + off, f->len - off, (off_t)off);

        if (w <= 0)
            err = w < 0 ? errno : EIO;
        else
            off += (size_t)w;
    }
    /* The mode as given (open applied the umask), then the mtime: the
     * close has nothing left to publish after futimens. */
    if (err == 0 && (benchfs_fchmod(fd, f->mode) < 0 || benchfs_futimens(fd, ts) < 0))
        err = errno;
    if (benchfs_close(fd) < 0 && err == 0)
        err = errno;
    if (err != 0)
        benchfs_unlink(f->path);
    return err;
}

int benchfs_put_many(struct benchfs_put_file *files, size_t n)
{
    struct client *c;
    bool *large;
    size_t first = n;
    int rc;

    if (n == 0)
        return 0;
    large = calloc(n, sizeof(*large));
    rc = client_enter(&c);

    if (rc == 0) {
        rc = large == NULL ? -ENOMEM : put_batch(c, files, n, large);
        client_leave(c);
    }
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            files[i].error = -rc;
        free(large);
        return (int)error_finish(rc, "put", NULL, false);
    }
    for (size_t i = 0; i < n; i++) {
        if (large[i])
            files[i].error = put_calls(&files[i]);
        if (files[i].error != 0 && first == n)
            first = i;
    }
    free(large);
    if (first == n)
        return 0;
    return (int)error_finish(-files[first].error, "put", files[first].path, false);
}

int benchfs_put(const char *path, const void *data, size_t len, mode_t mode,
                const struct timespec *mtime)
{
    struct benchfs_put_file f = {
        .path = path, .data = data, .len = len, .mode = mode, .mtime = {.tv_nsec = UTIME_NOW}};

    if (mtime != NULL)
        f.mtime = *mtime;
    return benchfs_put_many(&f, 1);
}
