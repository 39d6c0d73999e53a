/*
 * orphans.c - the orphan records this server owns and whether their holders
 * still live (docs/semantics.md#unlink-and-rename-over-an-open-file).
 *
 * A client that unlinks (or renames over) a file it has open makes the
 * file's record an orphan on its owner; it frees the orphan at its last
 * close (RELEASE). The orphan's holder -- that client's session id, host id
 * and pid, from its HELLO -- is stored with it (meta_orphan_holder_set), and
 * this file keeps the orphans in memory, sorted by inode number, to answer
 * "is the holder alive?":
 *
 *   live     a client with the holder's session is connected here, or the
 *            holder runs on this host (same host id) and its pid is alive;
 *   gone     on this host and its pid is gone (or a zombie), or on another
 *            host and its last endpoint here failed SERVER_ORPHAN_GRACE_NS
 *            ago without the session coming back;
 *   unknown  on another host and not connected (e.g. after this server
 *            restarted), or no holder recorded.
 *
 * Same-host holders are checked with kill(pid, 0) and /proc/<pid>/stat,
 * once per SERVER_ORPHAN_CHECK_NS, and only while such orphans exist (or a
 * remote holder's grace runs): the loop's sleep gets a timeout then, and no
 * timeout otherwise, so an idle server without them still uses no CPU. A
 * gone holder's orphan is reclaimed here: record dropped, this server's
 * chunks freed (and their late writes refused). The inode's chunks on other
 * servers then belong to no inode; `benchfs fsck --repair` frees them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "registry/registry.h"
#include "server/server_int.h"

/* How often same-host holders are checked while they hold orphans. */
#define SERVER_ORPHAN_CHECK_NS 1000000000ull
/* How long a remote holder whose endpoint failed may take to come back
 * (a client that timed out on a slow server closes its endpoint and says
 * HELLO again on its next call). */
#define SERVER_ORPHAN_GRACE_NS (10ull * 1000000000ull)

struct server_orphan {
    uint64_t ino;
    struct meta_holder holder;
    uint64_t failed_ns; /* the holder's last endpoint here failed then (0: not) */
};

/* Index of the first orphan with an inode number >= ino. */
static size_t orphans_lower(const struct server *srv, uint64_t ino)
{
    size_t lo = 0, hi = srv->norphans;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (srv->orphans[mid].ino < ino)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool orphan_same_host(const struct server *srv, const struct server_orphan *o)
{
    return o->holder.host != 0 && o->holder.host == srv->host_id && o->holder.pid != 0;
}

/* Does o need the periodic check? */
static bool orphan_watched(const struct server *srv, const struct server_orphan *o)
{
    return orphan_same_host(srv, o) || o->failed_ns != 0;
}

static void orphans_arm(struct server *srv)
{
    if (srv->orphans_next_ns == 0)
        srv->orphans_next_ns = time_mono_ns() + SERVER_ORPHAN_CHECK_NS;
}

static int orphans_insert(struct server *srv, uint64_t ino, const struct meta_holder *h)
{
    size_t i = orphans_lower(srv, ino);
    struct server_orphan *o;

    if (i < srv->norphans && srv->orphans[i].ino == ino) {
        srv->orphans[i].holder = *h;
        srv->orphans[i].failed_ns = 0;
        return 0;
    }
    if (srv->norphans == srv->orphans_cap) {
        size_t cap = srv->orphans_cap ? srv->orphans_cap * 2 : 16;
        struct server_orphan *p = realloc(srv->orphans, cap * sizeof(*p));

        if (p == NULL)
            return -ENOMEM;
        srv->orphans = p;
        srv->orphans_cap = cap;
    }
    memmove(&srv->orphans[i + 1], &srv->orphans[i], (srv->norphans - i) * sizeof(*o));
    o = &srv->orphans[i];
    o->ino = ino;
    o->holder = *h;
    o->failed_ns = 0;
    srv->norphans++;
    if (orphan_watched(srv, o))
        orphans_arm(srv);
    return 0;
}

static void orphans_remove(struct server *srv, uint64_t ino)
{
    size_t i = orphans_lower(srv, ino);

    if (i >= srv->norphans || srv->orphans[i].ino != ino)
        return;
    memmove(&srv->orphans[i], &srv->orphans[i + 1],
            (srv->norphans - i - 1) * sizeof(struct server_orphan));
    srv->norphans--;
}

static int orphans_load_one(void *arg, const struct meta_attr *attr, const struct meta_holder *h)
{
    return orphans_insert(arg, attr->ino, h);
}

int server_orphans_load(struct server *srv, char *err, size_t errlen)
{
    int rc;

    srv->host_id = registry_host_id();
    rc = meta_orphan_each(srv->meta, orphans_load_one, srv);
    if (rc < 0) {
        snprintf(err, errlen, "cannot list the orphan records of %s: %s", srv->meta_dir,
                 strerror(-rc));
        return rc;
    }
    if (srv->norphans > 0)
        log_info("%zu orphan record(s) of unlinked open files; their holders are checked",
                 srv->norphans);
    return 0;
}

void server_orphans_cleanup(struct server *srv)
{
    free(srv->orphans);
    srv->orphans = NULL;
    srv->norphans = srv->orphans_cap = 0;
}

void server_orphan_made(struct sreq *r, uint64_t ino)
{
    struct server *srv = r->srv;
    struct meta_holder h = {0, 0, 0};
    int rc;

    if (r->client != NULL)
        server_client_holder(r->client, &h);
    rc = meta_orphan_holder_set(srv->meta, ino, &h);
    if (rc < 0)
        log_warn("orphan inode %016llx: its holder not recorded (%s): it stays until its "
                 "client closes it",
                 (unsigned long long)ino, strerror(-rc));
    else if (orphans_insert(srv, ino, &h) < 0)
        log_warn("orphan inode %016llx: out of memory: its holder is not checked",
                 (unsigned long long)ino);
}

void server_orphan_released(struct server *srv, uint64_t ino)
{
    orphans_remove(srv, ino);
}

unsigned server_orphan_state(struct server *srv, uint64_t ino, struct meta_holder *holder_p)
{
    size_t i = orphans_lower(srv, ino);
    struct server_orphan *o;

    if (i >= srv->norphans || srv->orphans[i].ino != ino) {
        if (holder_p != NULL)
            memset(holder_p, 0, sizeof(*holder_p));
        return PROTO_HOLDER_UNKNOWN;
    }
    o = &srv->orphans[i];
    if (holder_p != NULL)
        *holder_p = o->holder;
    /* On this host the pid decides: a connection proves nothing without
     * peer-failure reports (shared memory), and a restarted server has
     * none yet. */
    if (orphan_same_host(srv, o))
        return registry_pid_alive((int64_t)o->holder.pid) ? PROTO_HOLDER_LIVE : PROTO_HOLDER_GONE;
    if (o->holder.session == 0)
        return PROTO_HOLDER_UNKNOWN;
    if (server_session_connected(srv, o->holder.session)) {
        o->failed_ns = 0;
        return PROTO_HOLDER_LIVE;
    }
    if (o->failed_ns != 0 && time_mono_ns() - o->failed_ns >= SERVER_ORPHAN_GRACE_NS)
        return PROTO_HOLDER_GONE;
    return PROTO_HOLDER_UNKNOWN;
}

int server_orphan_reclaim(struct server *srv, uint64_t ino, struct meta_attr *attr_p,
                          uint64_t *bytes_p)
{
    uint64_t chunks = 0, bytes = 0;
    struct meta_attr a;
    int rc;

    rc = meta_orphan_release(srv->meta, ino, &a);
    if (rc < 0)
        return rc;
    orphans_remove(srv, ino);
    if (chunk_store_usage(srv->chunks, ino, &chunks, &bytes) < 0)
        bytes = 0;
    /* Late writes of the dead holder must not recreate chunks: gone. */
    if (chunk_remove_inode(srv->chunks, ino) != 0) {
        log_warn("orphan inode %016llx: chunks not freed here", (unsigned long long)ino);
        bytes = 0;
    }
    if (attr_p != NULL)
        *attr_p = a;
    if (bytes_p != NULL)
        *bytes_p = bytes;
    return 0;
}

size_t server_orphans_page(const struct server *srv, uint64_t after, uint64_t *inos, size_t max)
{
    size_t i = after == UINT64_MAX ? srv->norphans : orphans_lower(srv, after + 1), n = 0;

    while (i < srv->norphans && n < max)
        inos[n++] = srv->orphans[i++].ino;
    return n;
}

void server_orphans_client_failed(struct server *srv, uint64_t session)
{
    uint64_t now = time_mono_ns();
    bool any = false;

    if (session == 0 || srv->norphans == 0 || server_session_connected(srv, session))
        return;
    for (size_t i = 0; i < srv->norphans; i++) {
        struct server_orphan *o = &srv->orphans[i];

        if (o->holder.session == session && o->failed_ns == 0 && !orphan_same_host(srv, o)) {
            o->failed_ns = now;
            any = true;
        }
    }
    if (any)
        orphans_arm(srv);
}

void server_orphans_tick(struct server *srv)
{
    uint64_t now;
    bool watch = false, freed = false;
    size_t i = 0;
    int rc;

    if (srv->orphans_next_ns == 0)
        return;
    now = time_mono_ns();
    if (now < srv->orphans_next_ns)
        return;
    srv->orphans_next_ns = 0;
    while (i < srv->norphans) {
        struct server_orphan *o = &srv->orphans[i];
        uint64_t ino = o->ino, pid = o->holder.pid, bytes = 0;

        if (!orphan_watched(srv, o)) {
            i++;
            continue;
        }
        if (server_orphan_state(srv, ino, NULL) != PROTO_HOLDER_GONE) {
            if (orphan_watched(srv, o))
                watch = true;
            i++;
            continue;
        }
        rc = server_orphan_reclaim(srv, ino, NULL, &bytes);
        if (rc == 0) {
            log_info("orphan inode %016llx freed: its holder (pid %llu) is gone; %llu bytes of "
                     "chunks freed here, those on other servers are left to `benchfs fsck "
                     "--repair`",
                     (unsigned long long)ino, (unsigned long long)pid, (unsigned long long)bytes);
            freed = true;
            continue; /* the entry at i is the next one now */
        }
        log_warn("orphan inode %016llx of a gone holder not freed: %s", (unsigned long long)ino,
                 strerror(-rc));
        if (rc == -ENOENT) {
            orphans_remove(srv, ino);
        } else {
            watch = true; /* try again at the next check */
            i++;
        }
    }
    /* No reply carries this pass's commit: make it now. */
    if (freed && (rc = meta_flush(srv->meta, false)) < 0)
        log_error("metadata commit failed: %d", rc);
    if (watch)
        srv->orphans_next_ns = now + SERVER_ORPHAN_CHECK_NS;
}

int server_orphans_timeout_ms(const struct server *srv)
{
    uint64_t now;

    if (srv->orphans_next_ns == 0)
        return -1;
    now = time_mono_ns();
    if (now >= srv->orphans_next_ns)
        return 0;
    return (int)((srv->orphans_next_ns - now) / 1000000ull) + 1;
}
