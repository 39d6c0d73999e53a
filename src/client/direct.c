/*
 * direct.c - direct chunk I/O: a client reads and writes the chunk files of
 * a server on its own host itself, with pread/pwrite on the files, instead
 * of sending the bytes through the server
 * (docs/architecture.md#direct-chunk-io).
 *
 * Why: on one host every byte of a CHUNK_WRITE is copied four times (into
 * the shared-memory queue, out of it, into the page cache; cross-memory
 * attach is off because UCX 1.13 aborts a process whose CMA peer dies,
 * net.c). A pwrite on the chunk file is one copy, as for a local file.
 *
 * The server keeps its authority: metadata (sizes, names) still goes
 * through it, and only it creates chunk files (so its index of the chunks
 * it holds, which removal relies on, stays complete, and its refusal of
 * writes to deleted inodes still applies). A piece whose chunk file does
 * not exist goes through an RPC (a write there creates the file; a read
 * there is a hole, or lost data on a replaced data directory); every
 * other piece is a pread or pwrite here. Each piece opens the file by name
 * and closes it again: no descriptor outlives the call, so a removal or a
 * truncation by anyone is seen exactly as by the server.
 *
 * Enabled per server when it published its chunk directory (registry
 * `chunks=`), runs on this host (same host id) and the directory opened
 * here has the published st_dev / st_ino (not some other directory of that
 * name: a container, another mount). BENCHFS_DIRECT=0 turns it off. A
 * permission error turns it off for that server (the RPC path works).
 *
 * Durability: the server syncs what it wrote at FSYNC; direct writes are
 * synced by the client's fsync (direct_fsync), which fdatasyncs every chunk
 * file of the file's range on such servers (none on tmpfs or ramfs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "client/client.h"
#include "client/error.h"
#include "common/log.h"
#include "common/ring.h"
#include "registry/registry.h"

/* Chunks past which an fsync syncs whole file systems instead of files. */
#define DIRECT_FSYNC_SCAN_MAX 65536

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

bool direct_wanted(void)
{
    const char *env = getenv("BENCHFS_DIRECT");

    return env == NULL || strcmp(env, "0") != 0;
}

void direct_close(struct client *c, size_t idx)
{
    struct client_server *srv = &c->servers[idx];

    if (srv->direct) {
        srv->direct = false;
        c->ndirect--;
    }
    if (srv->dir_fd >= 0)
        close(srv->dir_fd);
    srv->dir_fd = -1;
}

/* A directory descriptor another thread may be using (its call dropped the
 * lock around openat): keep it open until the client goes. */
static void direct_retire(struct client *c, size_t idx)
{
    struct client_server *srv = &c->servers[idx];
    int *grown;

    if (srv->direct) {
        srv->direct = false;
        c->ndirect--;
    }
    if (srv->dir_fd < 0)
        return;
    grown = realloc(c->direct_retired, (c->ndirect_retired + 1) * sizeof(*grown));
    if (grown == NULL)
        return; /* leak the descriptor rather than close it under a user */
    c->direct_retired = grown;
    c->direct_retired[c->ndirect_retired++] = srv->dir_fd;
    srv->dir_fd = -1;
}

void direct_close_all(struct client *c)
{
    size_t i;

    for (i = 0; i < c->nservers; i++)
        direct_close(c, i);
    for (i = 0; i < c->ndirect_retired; i++)
        close(c->direct_retired[i]);
    free(c->direct_retired);
    c->direct_retired = NULL;
    c->ndirect_retired = 0;
}

void direct_setup(struct client *c, size_t idx, const struct registry_entry *e)
{
    struct client_server *srv = &c->servers[idx];
    struct statfs sfs;
    struct stat st;
    int fd;

    /* The same directory as before (a reconnect): nothing changes. */
    if (srv->dir_fd >= 0 && srv->direct && e->chunks_dev == srv->dir_dev &&
        e->chunks_ino == srv->dir_ino)
        return;
    direct_retire(c, idx);
    if (!c->direct_on || e->chunks[0] != '/' || e->host_id == 0 || !client_server_local(c, idx))
        return;
    fd = open(e->chunks, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        log_debug("client: direct I/O to %s off: cannot open %s: %s", srv->node_id, e->chunks,
                  strerror(errno));
        return;
    }
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_dev != e->chunks_dev ||
        (uint64_t)st.st_ino != e->chunks_ino) {
        log_debug("client: direct I/O to %s off: %s is not the server's chunk directory",
                  srv->node_id, e->chunks);
        close(fd);
        return;
    }
    srv->dir_fd = fd;
    srv->dir_dev = e->chunks_dev;
    srv->dir_ino = e->chunks_ino;
    srv->direct = true;
    srv->direct_sync =
        !(fstatfs(fd, &sfs) == 0 && (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC));
    c->ndirect++;
    log_debug("client: direct chunk I/O to %s in %s", srv->node_id, e->chunks);
}

bool direct_usable(const struct client *c, size_t idx)
{
    const struct client_server *srv = &c->servers[idx];

    return srv->direct && srv->ep_error == 0;
}

/* A permission (or similar) refusal: this server's files are not ours to
 * open; use RPCs from now on. */
static void direct_refused(struct client *c, size_t idx, int err)
{
    struct client_server *srv = &c->servers[idx];

    log_debug("client: direct I/O to %s off: %s", srv->node_id, strerror(err));
    if (srv->direct) {
        srv->direct = false;
        c->ndirect--;
    }
}

ssize_t direct_rw(struct client *c, size_t idx, uint64_t ino, uint64_t index, uint64_t off,
                  void *rbuf, const void *wbuf, size_t len)
{
    char name[RING_CHUNK_NAME_MAX];
    int dir_fd = c->servers[idx].dir_fd;
    size_t done = 0;
    int fd, err = 0;

    ring_chunk_name(name, ino, index);
    /* The file is ours alone for the call: no lock around it (dir_fd stays
     * open until the client goes, direct_retire). */
    client_lock_drop(c);
    fd = openat(dir_fd, name, (wbuf != NULL ? O_WRONLY : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        err = errno;
    } else {
        while (done < len) {
            ssize_t n = wbuf != NULL
                            ? pwrite(fd, (const char *)wbuf + done, len - done, (off_t)(off + done))
                            : pread(fd, (char *)rbuf + done, len - done, (off_t)(off + done));

            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                err = errno;
                break;
            }
            if (n == 0)
                break; /* read: the end of the chunk file */
            done += (size_t)n;
        }
        close(fd);
    }
    client_lock_take(c);
    if (fd < 0) {
        if (err == ENOENT)
            return -ENOENT;
        if (err == EACCES || err == EPERM || err == ELOOP || err == ENOTDIR)
            direct_refused(c, idx, err);
        return -EAGAIN; /* use an RPC */
    }
    if (err != 0) {
        char sname[384];

        error_msg("%s: %s in its data directory (chunk %llu of inode %016llx, written directly)",
                  client_server_name(c, idx, sname, sizeof(sname)), strerror(err),
                  (unsigned long long)index, (unsigned long long)ino);
        return -err;
    }
    return (ssize_t)done;
}

int direct_fsync(struct client *c, uint64_t ino, uint64_t cs, uint64_t size)
{
    char name[RING_CHUNK_NAME_MAX];
    uint64_t index, last;
    int rc = 0;

    if (c->ndirect == 0 || cs == 0)
        return 0;
    last = size == 0 ? 0 : (size - 1) / cs;
    if (last >= DIRECT_FSYNC_SCAN_MAX) {
        /* A huge (sparse) range: sync the servers' whole file systems. */
        for (size_t i = 0; i < c->nservers; i++) {
            if (c->servers[i].direct && c->servers[i].direct_sync &&
                syncfs(c->servers[i].dir_fd) < 0 && rc == 0) {
                rc = -errno;
                error_msg("syncfs of the data directory of server %s failed: %s",
                          c->servers[i].node_id, strerror(-rc));
            }
        }
        return rc;
    }
    for (index = 0; index <= last; index++) {
        size_t idx = placement_chunk(&c->place, ino, index);
        struct client_server *srv = &c->servers[idx];
        int fd;

        if (!srv->direct || !srv->direct_sync)
            continue;
        ring_chunk_name(name, ino, index);
        fd = openat(srv->dir_fd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue; /* never written (or not ours to open): the server's FSYNC covers it */
        if (fdatasync(fd) < 0 && rc == 0) {
            char sname[384];

            rc = -errno;
            error_msg("%s: syncing chunk %llu of inode %016llx failed: %s",
                      client_server_name(c, idx, sname, sizeof(sname)), (unsigned long long)index,
                      (unsigned long long)ino, strerror(-rc));
        }
        close(fd);
    }
    return rc;
}
