/*
 * get.c - benchfs_get_many: the attributes of many files and the bytes of
 * the small ones, at once (docs/semantics.md#get).
 *
 * The paths go to the owners of their names, up to GET_BATCH_MAX of them
 * or a request's worth per request, every request in parallel. A reply
 * carries each file's attributes and, for a regular file whose bytes are
 * its chunk 0 on the owner, the bytes, as far as the room the caller's
 * buffers give (src/server/op_get.c). A regular file that fits its
 * caller's buffer but whose bytes did not come (renamed, so its chunk lives
 * elsewhere; no room left in the reply) is read with the public calls
 * open, pread and close. Costs: one RPC per owner per batch, plus an open
 * (which brings a small file's bytes: read at open) per file read so.
 * Files whose owners run on this host take no request at all: looked up in
 * the owner's store and read from their chunk file here (get_direct).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/client.h"
#include "client/error.h"
#include "client/posix.h"

/* Paths per request at most: a reply leaves when its last read is done. */
#define GET_BATCH_MAX 128u

/* One file as it is sent. */
struct get_item {
    size_t file; /* index in the caller's array */
    size_t req;
    uint32_t k; /* its place in the request */
    uint32_t path_len;
    size_t owner;
    const char *path; /* normalized, in the batch's arena */
};

/* One GET request: its paths, and the room for its reply. */
struct get_req {
    size_t owner;
    uint32_t count;
    size_t len;  /* request data: lengths, then paths */
    size_t room; /* file bytes the reply may carry */
    uint8_t *buf, *reply;
};

/* Requests for the items: consecutive items of one owner while count and
 * sizes allow. Returns how many, or 0 when out of memory. */
static size_t get_plan(struct client *c, const struct benchfs_get_file *files,
                       struct get_item *items, size_t nitems, struct get_req **reqs_p)
{
    struct get_req *reqs = calloc(nitems, sizeof(*reqs));
    size_t nreqs = 0;

    if (reqs == NULL)
        return 0;
    for (size_t s = 0; s < c->nservers; s++) {
        size_t cur = SIZE_MAX;

        for (size_t i = 0; i < nitems; i++) {
            struct get_item *it = &items[i];
            uint64_t xfer = c->place.max_xfer[s];
            size_t cap = files[it->file].cap;

            if (it->owner != s)
                continue;
            if (cur == SIZE_MAX || reqs[cur].count == GET_BATCH_MAX ||
                reqs[cur].len + 4 + it->path_len > xfer ||
                (reqs[cur].count + 1) * (uint64_t)PROTO_GETFILE_ENTRY > xfer) {
                cur = nreqs++;
                reqs[cur].owner = s;
            }
            it->req = cur;
            it->k = reqs[cur].count++;
            reqs[cur].len += 4 + it->path_len;
            /* room for its bytes, within what one reply may carry */
            reqs[cur].room += cap < xfer ? cap : xfer;
        }
    }
    for (size_t q = 0; q < nreqs; q++) {
        uint64_t table = (uint64_t)reqs[q].count * PROTO_GETFILE_ENTRY;
        uint64_t xfer = c->place.max_xfer[reqs[q].owner];

        if (reqs[q].room > xfer - table)
            reqs[q].room = xfer - table;
    }
    *reqs_p = reqs;
    return nreqs;
}

/* Each file's outcome from its request's reply; *later[i] marks a regular
 * file that fits its buffer but came without its bytes. */
static void get_results(struct client *c, struct benchfs_get_file *files,
                        const struct get_item *items, size_t nitems, const struct get_req *reqs,
                        const struct rpc_call *calls, bool *later)
{
    struct proto_getfile *pf = NULL;
    size_t cur = SIZE_MAX;
    int prc = 0;

    for (size_t i = 0; i < nitems; i++) {
        const struct get_item *it = &items[i];
        const struct rpc_call *call = &calls[it->req];
        struct benchfs_get_file *f = &files[it->file];
        int rc = call->status;

        if (it->req != cur) {
            /* items of one request are consecutive */
            free(pf);
            cur = it->req;
            pf = malloc(reqs[cur].count * sizeof(*pf));
            prc = pf == NULL ? -ENOMEM : -EPROTO;
            if (pf != NULL && call->status == 0 && call->rep.get_rep.count == reqs[cur].count)
                prc =
                    proto_getfile_parse(reqs[cur].reply, (uint32_t)call->rlen, reqs[cur].count, pf);
        }
        if (rc == 0)
            rc = prc;
        if (rc == 0)
            rc = error_from_wire(pf[it->k].status);
        if (rc == -ENOENT)
            rc = ns_refine_enoent(c, it->path, it->path_len);
        f->error = -rc;
        f->len = -1;
        if (rc < 0)
            continue;
        posix_attr_to_stat(&pf[it->k].attr, pf[it->k].attr.size, &f->st);
        if (!S_ISREG(f->st.st_mode) || (uint64_t)f->st.st_size > f->cap)
            continue;
        if (pf[it->k].data_len == f->st.st_size && f->st.st_size > 0) {
            memcpy(f->buf, reqs[cur].reply + pf[it->k].data_off, pf[it->k].data_len);
            f->len = (ssize_t)pf[it->k].data_len;
        } else if (f->st.st_size == 0) {
            f->len = 0;
        } else {
            later[it->file] = true;
        }
    }
    free(pf);
}

/*
 * A file whose owner runs on this host: looked up in the owner's store and
 * its bytes read from chunk 0's file here, without a request
 * (docs/architecture.md#direct-metadata-reads). Returns false when that is
 * not possible (a GET then asks the owner); else the outcome is in f, or
 * *later is set: a file that fits but whose chunk 0 is not a whole local
 * file (holes, lost data, a remote chunk) is read with open and pread.
 */
static bool get_direct(struct client *c, struct benchfs_get_file *f, const char *path, size_t len,
                       size_t owner, bool *later)
{
    struct proto_attr attr;
    size_t s0;
    int rc = direct_stat(c, owner, path, len, &attr);

    if (rc == -EAGAIN)
        return false;
    if (rc == -ENOENT)
        rc = ns_refine_enoent(c, path, len);
    if (rc < 0) {
        f->error = -rc;
        return true;
    }
    posix_attr_to_stat(&attr, attr.size, &f->st);
    if (!S_ISREG(f->st.st_mode) || attr.size > f->cap)
        return true;
    if (attr.size == 0) {
        f->len = 0;
        return true;
    }
    s0 = placement_chunk(&c->place, attr.ino, 0);
    if (attr.size <= attr.chunk_size && direct_usable(c, s0) &&
        direct_rw(c, s0, attr.ino, 0, 0, f->buf, NULL, attr.size, false, -1) ==
            (ssize_t)attr.size) {
        f->len = (ssize_t)attr.size;
        return true;
    }
    *later = true;
    return true;
}

/* Look the files up (and read the small ones) with GETs. 0 or -ENOMEM
 * before anything was sent; each file's outcome in it. */
static int get_batch(struct client *c, struct benchfs_get_file *files, size_t n, bool *later)
{
    char npath[BFS_PATH_MAX];
    struct get_item *items = malloc(n * sizeof(*items));
    struct get_req *reqs = NULL;
    struct rpc_call *calls = NULL;
    size_t nitems = 0, nreqs = 0, arena_len = 0, used = 0, *off = NULL, owner;
    char *arena;
    int rc = -ENOMEM;

    for (size_t i = 0; i < n; i++)
        arena_len += (files[i].path ? strlen(files[i].path) : 0) + 2;
    arena = malloc(arena_len);
    if (items == NULL || arena == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct benchfs_get_file *f = &files[i];
        int len = f->buf == NULL && f->cap > 0 ? -EFAULT : client_path(f->path, npath);

        later[i] = false;
        f->len = -1;
        f->error = 0;
        if (len < 0) {
            f->error = -len;
            continue;
        }
        owner = placement_path(&c->place, npath, (size_t)len);
        if (get_direct(c, f, npath, (size_t)len, owner, &later[i]))
            continue;
        memcpy(arena + used, npath, (size_t)len);
        items[nitems++] = (struct get_item){
            .file = i,
            .path_len = (uint32_t)len,
            .owner = owner,
            .path = arena + used,
        };
        used += (size_t)len;
    }
    rc = 0;
    if (nitems == 0)
        goto out;
    rc = -ENOMEM;
    nreqs = get_plan(c, files, items, nitems, &reqs);
    calls = calloc(nreqs ? nreqs : 1, sizeof(*calls));
    off = calloc(nreqs ? nreqs : 1, sizeof(*off));
    if (nreqs == 0 || calls == NULL || off == NULL)
        goto out;
    for (size_t q = 0; q < nreqs; q++) {
        size_t rlen = reqs[q].count * (size_t)PROTO_GETFILE_ENTRY + reqs[q].room;

        reqs[q].buf = malloc(reqs[q].len);
        reqs[q].reply = malloc(rlen);
        if (reqs[q].buf == NULL || reqs[q].reply == NULL)
            goto out;
        off[q] = (size_t)reqs[q].count * 4;
        rpc_call_init(&calls[q], PROTO_OP_GET, reqs[q].owner);
        calls[q].req.get_req.count = reqs[q].count;
        calls[q].req.get_req.max_bytes = (uint32_t)reqs[q].room;
        calls[q].data = reqs[q].buf;
        calls[q].data_len = reqs[q].len;
        calls[q].rbuf = reqs[q].reply;
        calls[q].rbuf_len = rlen;
    }
    for (size_t i = 0; i < nitems; i++) {
        const struct get_item *it = &items[i];
        struct get_req *q = &reqs[it->req];

        proto_put_u32(q->buf + 4 * (size_t)it->k, it->path_len);
        memcpy(q->buf + off[it->req], it->path, it->path_len);
        off[it->req] += it->path_len;
    }
    (void)rpc_run_calls(c, calls, nreqs); /* each call has its own status */
    get_results(c, files, items, nitems, reqs, calls, later);
    rc = 0;
out:
    for (size_t q = 0; q < nreqs; q++) {
        free(reqs[q].buf);
        free(reqs[q].reply);
    }
    free(off);
    free(calls);
    free(reqs);
    free(arena);
    free(items);
    return rc;
}

/* A file whose bytes did not come with the reply, through the public
 * calls (each sets errno and the last error itself). */
static void get_calls(struct benchfs_get_file *f)
{
    int fd = benchfs_open(f->path, O_RDONLY, 0);
    size_t got = 0;

    if (fd < 0) {
        f->error = errno;
        return;
    }
    /* the file as this open sees it */
    if (benchfs_fstat(fd, &f->st) < 0) {
        f->error = errno;
    } else if ((uint64_t)f->st.st_size <= f->cap) {
        while (got < (size_t)f->st.st_size) {
            ssize_t r =
                benchfs_pread(fd, (char *)f->buf + got, (size_t)f->st.st_size - got, (off_t)got);

            if (r <= 0) {
                f->error = r < 0 ? errno : EIO;
                break;
            }
            got += (size_t)r;
        }
        if (f->error == 0)
            f->len = (ssize_t)got;
    }
    benchfs_close(fd);
}

int benchfs_get_many(struct benchfs_get_file *files, size_t n)
{
    struct client *c;
    bool *later;
    size_t first = n;
    int rc;

    if (n == 0)
        return 0;
    later = calloc(n, sizeof(*later));
    rc = client_enter(&c);
    if (rc == 0) {
        rc = later == NULL ? -ENOMEM : get_batch(c, files, n, later);
        client_leave(c);
    }
    if (rc < 0) {
        for (size_t i = 0; i < n; i++) {
            files[i].error = -rc;
            files[i].len = -1;
        }
        free(later);
        return (int)error_finish(rc, "get", NULL, false);
    }
    for (size_t i = 0; i < n; i++) {
        if (later[i])
            get_calls(&files[i]);
        if (files[i].error != 0 && first == n)
            first = i;
    }
    free(later);
    if (first == n)
        return 0;
    return (int)error_finish(-files[first].error, "get", files[first].path, false);
}
