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
 * it holds, which removal and fsync rely on, stays complete, and its
 * refusal of writes to deleted inodes still applies). A piece whose chunk
 * file does not exist goes through an RPC (a write there creates the file;
 * a read there is a hole, or lost data on a replaced data directory);
 * every other piece is a pread or pwrite here. Each piece opens the file
 * by name and closes it again, and checks after the transfer that the file
 * is still linked: a chunk removed meanwhile (a truncation or an unlink by
 * another client) is redone through an RPC, never lost in an unlinked file.
 *
 * Enabled per server when it published its chunk directory (registry
 * `chunks=`), runs on this host (same host id) and the directory opened
 * here has the published st_dev / st_ino (not some other directory of that
 * name: a container, another mount). BENCHFS_DIRECT=0 turns it off. A file
 * that cannot be opened here (permissions, a symlink, not a regular file)
 * turns it off for that server (the RPC path works). Every 100 ms the
 * pids of those servers are checked: a dead server's directory is not used
 * until the client has reconnected to its successor (which re-reads the
 * registry and sets it up again).
 *
 * Durability: the server's FSYNC syncs every chunk file of the inode it
 * holds, whoever wrote it (src/store/chunk_fd.c), so fsync needs nothing
 * here.
 *
 * Metadata reads (docs/architecture.md#direct-metadata-reads): with the
 * chunk directory, the server's metadata store beside it is opened
 * read-only (src/store/meta_reader.c), and a STAT of a path that server
 * owns is answered from it (direct_stat): the server commits before it
 * replies, so the store holds whatever any reply announced.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/client.h"
#include "client/error.h"
#include "common/log.h"
#include "common/ring.h"
#include "common/timeutil.h"
#include "registry/registry.h"
#ifdef BENCHFS_HAVE_SERVER
#include "store/meta.h"
#endif

/* How often the pids of direct servers are checked while direct I/O runs
 * (as often as a waiting RPC checks them, rpc.c). */
#define DIRECT_PID_CHECK_NS 100000000ull

/* Chunk files kept open between pieces (below, direct_rw). */
#define DIRECT_SWEEP_ALL  SIZE_MAX
#define DIRECT_SWEEP_IDLE (SIZE_MAX - 1)
static void direct_fds_sweep(struct client *c, size_t idx, uint64_t now);

int direct_wanted(bool *on_p)
{
    const char *env = getenv("BENCHFS_DIRECT");

    *on_p = true;
    if (env == NULL || env[0] == '\0' || strcmp(env, "1") == 0)
        return 0;
    if (strcmp(env, "0") == 0) {
        *on_p = false;
        return 0;
    }
    error_msg("BENCHFS_DIRECT: '%.32s' is not 0 or 1", env);
    return -EINVAL;
}

static void direct_off(struct client *c, size_t idx)
{
    struct client_server *srv = &c->servers[idx];

    if (srv->direct) {
        srv->direct = false;
        c->ndirect--;
    }
}

/* Close server idx's metadata reader (used only with the lock held). */
static void direct_meta_close(struct client *c, size_t idx)
{
#ifdef BENCHFS_HAVE_SERVER
    meta_reader_close(c->servers[idx].meta);
#endif
    c->servers[idx].meta = NULL;
}

/*
 * Open the metadata store of the server whose chunk directory dir_fd is:
 * its sibling `meta` (server.c makes both in the data directory), reached
 * through this descriptor so that it is that directory's sibling, not a
 * path's. Never for a server in this very process (benchfs_init's embedded
 * server): LMDB's file locks belong to the process, and a second
 * environment's close would drop the server's.
 */
static void direct_meta_open(struct client *c, size_t idx, int dir_fd, int64_t pid)
{
#ifdef BENCHFS_HAVE_SERVER
    struct client_server *srv = &c->servers[idx];
    char path[64];
    int rc;

    if (pid == (int64_t)getpid())
        return;
    snprintf(path, sizeof(path), "/proc/self/fd/%d/../meta", dir_fd);
    rc = meta_reader_open(path, &srv->meta);
    if (rc < 0) {
        srv->meta = NULL;
        log_debug("client: direct metadata reads from %s off: %s", srv->node_id, strerror(-rc));
        return;
    }
    log_debug("client: direct metadata reads from %s (%d dead readers' slots cleared)",
              srv->node_id, meta_reader_cleared(srv->meta));
#else
    (void)c;
    (void)idx;
    (void)dir_fd;
    (void)pid;
#endif
}

/* The same chunk directory under a restarted server: its store may have
 * been made anew (a meta directory wiped alone): then read the new one. */
static void direct_meta_reopen(struct client *c, size_t idx, int64_t pid)
{
#ifdef BENCHFS_HAVE_SERVER
    struct client_server *srv = &c->servers[idx];

    if (srv->meta != NULL && !meta_reader_stale(srv->meta))
        return;
    direct_meta_close(c, idx);
    direct_meta_open(c, idx, srv->dir_fd, pid);
#else
    (void)c;
    (void)idx;
    (void)pid;
#endif
}

/* A directory descriptor another thread may be using (its call dropped the
 * lock around openat): keep it open until the client goes. */
static void direct_retire(struct client *c, size_t idx)
{
    struct client_server *srv = &c->servers[idx];
    int *grown;

    direct_off(c, idx);
    direct_meta_close(c, idx);
    direct_fds_sweep(c, idx, 0);
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

    direct_fds_sweep(c, DIRECT_SWEEP_ALL, 0);
    for (i = 0; i < c->nservers; i++) {
        direct_off(c, i);
        direct_meta_close(c, i);
        if (c->servers[i].dir_fd >= 0)
            close(c->servers[i].dir_fd);
        c->servers[i].dir_fd = -1;
    }
    for (i = 0; i < c->ndirect_retired; i++)
        close(c->direct_retired[i]);
    free(c->direct_retired);
    c->direct_retired = NULL;
    c->ndirect_retired = 0;
}

void direct_setup(struct client *c, size_t idx, const struct registry_entry *e)
{
    struct client_server *srv = &c->servers[idx];
    bool eligible =
        c->direct_on && e->chunks[0] == '/' && e->host_id != 0 && client_server_local(c, idx);
    struct stat st;
    int fd;

    /* The same directory as before (a reconnect) of a server still of
     * this host: as it was, except that one turned off because its process
     * died is on again for its successor. Off for a file it could not use
     * stays off. (A directory removed and made anew may get the old inode
     * number: ours must still be linked.) */
    if (eligible && srv->dir_fd >= 0 && e->chunks_dev == srv->dir_dev &&
        e->chunks_ino == srv->dir_ino && fstat(srv->dir_fd, &st) == 0 && st.st_nlink > 0) {
        srv->dir_pid = e->pid;
        direct_meta_reopen(c, idx, e->pid);
        if (srv->direct_dead && !srv->direct) {
            srv->direct_dead = false;
            srv->direct = true;
            c->ndirect++;
            log_debug("client: direct chunk I/O to %s again (pid %lld)", srv->node_id,
                      (long long)e->pid);
        }
        return;
    }
    direct_retire(c, idx);
    if (!eligible)
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
    srv->dir_pid = e->pid;
    srv->direct = true;
    srv->direct_dead = false;
    c->ndirect++;
    log_debug("client: direct chunk I/O to %s in %s", srv->node_id, e->chunks);
    direct_meta_open(c, idx, fd, e->pid);
}

bool direct_usable(struct client *c, size_t idx)
{
    const struct client_server *srv = &c->servers[idx];
    uint64_t now;

    if (!srv->direct || srv->ep_error != 0)
        return false;
    /* A server that died may be replaced by one in another directory. */
    now = time_mono_ns();
    if (now >= c->direct_check_ns) {
        c->direct_check_ns = now + DIRECT_PID_CHECK_NS;
        direct_fds_sweep(c, DIRECT_SWEEP_IDLE, now);
        for (size_t i = 0; i < c->nservers; i++) {
            if (c->servers[i].direct && !registry_pid_alive(c->servers[i].dir_pid)) {
                log_debug("client: direct I/O to %s off: its pid %lld is gone",
                          c->servers[i].node_id, (long long)c->servers[i].dir_pid);
                direct_off(c, i);
                c->servers[i].direct_dead = true;
            }
        }
    }
    return srv->direct;
}

/* Open a chunk file below dir_fd: no symlink anywhere on the way, nothing
 * outside the directory, never blocking (a FIFO). fd or -errno. */
static int direct_open(int dir_fd, const char *name, bool write)
{
    struct open_how how;
    long fd;

    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)((write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    fd = syscall(SYS_openat2, dir_fd, name, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

/* --- chunk files kept open ------------------------------------------------
 *
 * Opening and closing a chunk file around every piece is three of a
 * piece's five system calls (openat2, fstat, pread/pwrite, fstat, close):
 * for 47008-byte pieces a third of their time. So the last few chunk files
 * used stay open, at descriptor numbers high in the process's range (from
 * c->direct_fd_floor up), where a program that relies on open() returning
 * the lowest free number does not meet them.
 *
 * A kept descriptor lives in the program's table, so the program may close
 * its number (a closefrom loop, dup2 onto it) and open something else
 * there. Hence:
 *   - every use checks first that the number is still the file it was
 *     (st_dev, st_ino) and still linked (nlink 0: removed by a truncation
 *     or unlink, the piece goes through an RPC as before); a number that
 *     is something else now is forgotten, never written, never closed;
 *   - every close checks the same first, so the library never closes a
 *     number it does not own;
 *   - all calls on a kept number are raw system calls: under the
 *     interception library a number the program reused for a BenchFS file
 *     must not lead back into the client (which holds its lock here).
 * What stays: a program thread that closes and reuses a kept number
 * between the check and the transfer (microseconds) gets the piece in its
 * file; such a program closes the client's network descriptors as well.
 *
 * Entries go when their inode is released by this client (its last
 * descriptor closed) or freed (unlink, truncation), when their server's
 * directory goes, when unused for DIRECT_FD_IDLE_NS (checked on the next
 * call), in a forked child (pthread_atfork) and when an open fails for
 * want of descriptors. So a removed chunk's space is held only while this
 * client has the file open, as a local file's would be. Entries are taken
 * and released with the client lock held; the I/O runs without it, counted
 * in `users` so that nobody closes the descriptor meanwhile.
 */
#define DIRECT_FDS        (sizeof(((struct client *)0)->direct_fds) / sizeof(struct direct_fd))
#define DIRECT_FD_IDLE_NS 1000000000ull

int direct_fd_floor(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 64)
        return 0;
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / 2 > 512 ? 512 : (int)(rl.rlim_cur / 2);
}

/* What a descriptor is: statx by number, a raw system call. */
struct direct_id {
    uint64_t dev, ino;
    int64_t btime_sec;
    uint32_t btime_nsec;
    uint32_t mode, nlink;
};

static int direct_sys_id(int fd, struct direct_id *id)
{
    struct statx stx;

    if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH,
                STATX_TYPE | STATX_INO | STATX_NLINK | STATX_BTIME, &stx) != 0)
        return -1;
    id->dev = ((uint64_t)stx.stx_dev_major << 32) | stx.stx_dev_minor;
    id->ino = stx.stx_ino;
    id->mode = stx.stx_mode;
    id->nlink = stx.stx_nlink;
    /* A birth time tells a file from a later one that got its inode
     * number; file systems without one report none. */
    id->btime_sec = (stx.stx_mask & STATX_BTIME) ? stx.stx_btime.tv_sec : 0;
    id->btime_nsec = (stx.stx_mask & STATX_BTIME) ? stx.stx_btime.tv_nsec : 0;
    return 0;
}

static void direct_sys_close(int fd)
{
    (void)syscall(SYS_close, fd);
}

/* Is id the regular file e kept? */
static bool direct_id_is(const struct direct_fd *e, const struct direct_id *id)
{
    return S_ISREG(id->mode) && id->dev == e->dev && id->ino == e->st_ino &&
           id->btime_sec == e->btime_sec && id->btime_nsec == e->btime_nsec;
}

/* Is fd still the file e kept there? */
static bool direct_fd_ours(const struct direct_fd *e, int fd)
{
    struct direct_id id;

    return direct_sys_id(fd, &id) == 0 && direct_id_is(e, &id);
}

static void direct_fd_drop(struct direct_fd *e, bool close_it)
{
    if (e->users > 0) {
        e->dead = e->dead || close_it;
        return;
    }
    if (close_it && direct_fd_ours(e, e->fd))
        direct_sys_close(e->fd);
    e->fd = -1;
    e->dead = false;
}

void direct_forget(struct client *c, uint64_t ino)
{
    for (size_t k = 0; k < DIRECT_FDS; k++) {
        if (c->direct_fds[k].fd >= 0 && c->direct_fds[k].ino == ino)
            direct_fd_drop(&c->direct_fds[k], true);
    }
}

/* Close the kept chunk files of server idx (DIRECT_SWEEP_ALL: of every
 * server; DIRECT_SWEEP_IDLE: of none), and with now != 0 the idle ones. */
static void direct_fds_sweep(struct client *c, size_t idx, uint64_t now)
{
    for (size_t k = 0; k < DIRECT_FDS; k++) {
        struct direct_fd *e = &c->direct_fds[k];

        if (e->fd >= 0 && (idx == DIRECT_SWEEP_ALL || e->server == idx ||
                           (now != 0 && now - e->used_ns >= DIRECT_FD_IDLE_NS)))
            direct_fd_drop(e, true);
    }
}

void direct_fork_child(struct client *c)
{
    if (c == NULL)
        return;
    /* Threads that were using entries do not exist in the child. */
    for (size_t k = 0; k < DIRECT_FDS; k++)
        c->direct_fds[k].users = 0;
    direct_fds_sweep(c, DIRECT_SWEEP_ALL, 0);
}

/* A forked child gets the parent's kept descriptors: close them there,
 * whether or not the program calls benchfs_atfork_child (which does the
 * same; whichever runs first leaves nothing to the other). */
static void direct_atfork_child(void)
{
    direct_fork_child(client_global);
}

static void direct_atfork_register(void)
{
    (void)pthread_atfork(NULL, NULL, direct_atfork_child);
}

static struct direct_fd *direct_fd_find(struct client *c, size_t idx, int dir_fd, uint64_t ino,
                                        uint64_t index)
{
    for (size_t k = 0; k < DIRECT_FDS; k++) {
        struct direct_fd *e = &c->direct_fds[k];

        if (e->fd >= 0 && !e->dead && e->server == idx && e->dir_fd == dir_fd && e->ino == ino &&
            e->index == index)
            return e;
    }
    return NULL;
}

/* Keep fd (just opened and used, lowest free number) for later pieces
 * under a number at or above the floor, in place of an entry of the same
 * chunk (a read-only one, now that a write came) or else the entry least
 * recently used. fd is closed in every case. */
static void direct_fd_keep(struct client *c, size_t idx, int dir_fd, uint64_t ino, uint64_t index,
                           int fd, bool writable, const struct direct_id *id, uint64_t now)
{
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    struct direct_fd *e = direct_fd_find(c, idx, dir_fd, ino, index);
    long high;

    if (e != NULL && e->users > 0) {
        direct_sys_close(fd); /* the one kept is in use by another thread */
        return;
    }
    for (size_t k = 0; k < DIRECT_FDS && e == NULL && c->direct_fd_floor > 0; k++) {
        struct direct_fd *x = &c->direct_fds[k];

        if (x->users > 0)
            continue;
        if (x->fd < 0) {
            e = x;
            break;
        }
        if (e == NULL || x->used_ns < e->used_ns)
            e = x;
    }
    high = e == NULL ? -1 : syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, c->direct_fd_floor);
    direct_sys_close(fd);
    if (high < 0)
        return;
    pthread_once(&atfork_once, direct_atfork_register);
    if (e->fd >= 0)
        direct_fd_drop(e, true);
    e->fd = (int)high;
    e->dir_fd = dir_fd;
    e->server = idx;
    e->ino = ino;
    e->index = index;
    e->writable = writable;
    e->dev = id->dev;
    e->st_ino = id->ino;
    e->btime_sec = id->btime_sec;
    e->btime_nsec = id->btime_nsec;
    e->used_ns = now;
}

ssize_t direct_rw(struct client *c, size_t idx, uint64_t ino, uint64_t index, uint64_t off,
                  void *rbuf, const void *wbuf, size_t len, bool keep, int pipe_fd)
{
    char name[RING_CHUNK_NAME_MAX];
    int dir_fd = c->servers[idx].dir_fd;
    bool write = wbuf != NULL;
    struct direct_fd *e, kept;
    size_t done = 0;
    struct direct_id id;
    int fd, err = 0;
    bool gone = false, odd = false, stale = false;
    uint64_t now;

#ifdef BENCHFS_HAVE_SERVER
    /* A small chunk lives in the server's metadata store, not in a file
     * (docs/architecture.md#small-files): read it from there. Looked up
     * before the file: a small chunk only ever becomes a file, and the
     * store's snapshot is at least as new as any reply this client has. */
    if (index == 0 && wbuf == NULL && c->servers[idx].meta != NULL) {
        char probe;
        ssize_t n;

        /* Into a pipe: only whether it is there (nothing copied); a small
         * chunk is then read into memory by the caller. */
        n = pipe_fd >= 0 ? meta_reader_small(c->servers[idx].meta, ino, 0, &probe, 0)
                         : meta_reader_small(c->servers[idx].meta, ino, off, rbuf, len);
        if (n != -ENOENT)
            return n < 0 || pipe_fd >= 0 ? -EAGAIN : n; /* unreadable store: by RPC */
    }
#endif
    now = time_mono_ns();
    e = direct_fd_find(c, idx, dir_fd, ino, index);
    if (e != NULL && write && !e->writable)
        e = NULL; /* a read-only one: this write opens the file anew */
    if (e != NULL) {
        e->users++;
        kept = *e; /* read without the lock below: what it was now */
    }
    ring_chunk_name(name, ino, index);
    /* The file is ours alone for the call: no lock around it (dir_fd stays
     * open until the client goes, direct_retire). */
    client_lock_drop(c);
    if (e != NULL) {
        fd = kept.fd;
        /* Still the file it was? Else the number is not ours any more. */
        if (direct_sys_id(fd, &id) < 0 || !direct_id_is(&kept, &id)) {
            stale = true;
            fd = direct_open(dir_fd, name, write);
        }
    } else {
        fd = direct_open(dir_fd, name, write);
    }
    if (fd < 0) {
        err = -fd;
    } else if ((e == NULL || stale) && (direct_sys_id(fd, &id) < 0 || !S_ISREG(id.mode))) {
        odd = true; /* never a byte to a device planted in the directory */
    } else if (id.nlink == 0) {
        gone = true; /* a kept file removed since its last use */
    } else {
        while (done < len) {
            loff_t at = (loff_t)(off + done);
            ssize_t n =
                write ? syscall(SYS_pwrite64, fd, (const char *)wbuf + done, len - done, (off_t)at)
                : pipe_fd < 0
                    ? syscall(SYS_pread64, fd, (char *)rbuf + done, len - done, (off_t)at)
                    : syscall(SYS_splice, fd, &at, pipe_fd, NULL, len - done, SPLICE_F_NONBLOCK);

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
        /* Removed while we used it (a truncation or unlink elsewhere):
         * what we wrote is in no file, what we read may be stale. Redo it
         * through an RPC. */
        gone = err == 0 && direct_sys_id(fd, &id) == 0 && id.nlink == 0;
    }
    client_lock_take(c);
    if (e != NULL) {
        e->users--;
        e->used_ns = now;
        if (stale)
            direct_fd_drop(e, false); /* not ours: never close it */
        else if (gone || e->dead)
            direct_fd_drop(e, true);
    }
    if (fd >= 0 && (e == NULL || stale)) {
        if (keep && !gone && !odd && err == 0 && c->servers[idx].dir_fd == dir_fd)
            direct_fd_keep(c, idx, dir_fd, ino, index, fd, write, &id, now);
        else
            direct_sys_close(fd);
    }
    /* Out of descriptors: give back the kept ones (this piece by RPC). */
    if (fd < 0 && (err == EMFILE || err == ENFILE))
        direct_fds_sweep(c, DIRECT_SWEEP_ALL, 0);
    if (fd < 0 && err == ENOENT)
        return -ENOENT;
    if (fd < 0 &&
        (err == EMFILE || err == ENFILE || err == ENOMEM || err == EAGAIN || err == EINTR))
        return -EAGAIN; /* this piece by RPC; try again next time */
    if (fd < 0 || odd) {
        /* Not a file we may use (permissions, a symlink, not regular, no
         * openat2): RPCs from now on, unless the directory changed
         * meanwhile (another thread reconnected). */
        log_debug("client: direct I/O to %s off: %s", c->servers[idx].node_id,
                  odd ? "not a regular file" : strerror(err));
        if (c->servers[idx].dir_fd == dir_fd)
            direct_off(c, idx);
        return -EAGAIN;
    }
    /* Into a pipe: what is in it cannot be taken back. A file removed
     * before anything went in is a piece to read the usual way. */
    if (pipe_fd >= 0 && (gone || err != 0))
        return done > 0 ? -EPIPE : gone ? -ENOENT : -EAGAIN;
    if (gone)
        return -ENOENT;
    if (err != 0) {
        char sname[384];

        error_msg("%s: %s in its data directory (chunk %llu of inode %016llx, written directly)",
                  client_server_name(c, idx, sname, sizeof(sname)), strerror(err),
                  (unsigned long long)index, (unsigned long long)ino);
        return -err;
    }
    return (ssize_t)done;
}

bool direct_meta_usable(struct client *c, size_t idx)
{
    return c->servers[idx].meta != NULL && direct_usable(c, idx);
}

int direct_stat(struct client *c, size_t idx, const char *path, size_t len, struct proto_attr *attr)
{
#ifdef BENCHFS_HAVE_SERVER
    struct meta_attr a;
    int rc;

    if (!direct_meta_usable(c, idx))
        return -EAGAIN;
    rc = meta_reader_lookup(c->servers[idx].meta, path, len, &a);
    if (rc == -ENOENT)
        return rc;
    if (rc < 0) {
        log_debug("client: direct metadata read of %.*s from %s failed: %s", (int)len, path,
                  c->servers[idx].node_id, strerror(-rc));
        return -EAGAIN;
    }
    meta_attr_to_wire(&a, attr);
    return 0;
#else
    (void)c;
    (void)idx;
    (void)path;
    (void)len;
    (void)attr;
    return -EAGAIN;
#endif
}

#ifdef BENCHFS_HAVE_SERVER
struct direct_dir_arg {
    int (*add)(void *arg, const struct proto_dirent *e);
    void *arg;
    size_t given; /* entries handed to add */
};

static int direct_dir_entry(void *arg, const char *name, size_t name_len, const struct meta_attr *a)
{
    struct direct_dir_arg *da = arg;
    struct proto_dirent e = {.ino = a->ino,
                             .size = a->size,
                             .mode = a->mode,
                             .name_len = (uint16_t)name_len,
                             .name = name};

    da->given++;
    return da->add(da->arg, &e);
}
#endif

int direct_readdir(struct client *c, size_t idx, const char *path, size_t len,
                   int (*add)(void *arg, const struct proto_dirent *e), void *arg)
{
#ifdef BENCHFS_HAVE_SERVER
    struct direct_dir_arg da = {.add = add, .arg = arg};
    int rc;

    if (!direct_meta_usable(c, idx))
        return -EAGAIN;
    rc = meta_reader_readdir(c->servers[idx].meta, path, len, direct_dir_entry, &da);
    /* Failed part-way: the entries given stay given, so no READDIR may
     * repeat them; the listing fails. */
    if (rc >= 0 || rc == -ENOENT || rc == -ENOTDIR || da.given > 0)
        return rc < 0 ? rc : 0;
    log_debug("client: direct listing of %.*s from %s failed: %s", (int)len, path,
              c->servers[idx].node_id, strerror(-rc));
    return -EAGAIN;
#else
    (void)c;
    (void)idx;
    (void)path;
    (void)len;
    (void)add;
    (void)arg;
    return -EAGAIN;
#endif
}
