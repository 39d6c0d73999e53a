/*
 * aiori-BENCHFSMINI.c - IOR backend "BENCHFSMINI" for BenchFS Mini (seed 001).
 *
 *   mpirun -n 4 ior-benchfs -a BENCHFSMINI --benchfsmini.registry DIR \
 *          --benchfsmini.servers 2 -t 1m -b 4m -s 2 -F -w -r -W
 *
 * Flow (seed 001): at initialize every rank of the test initializes the
 * library; the first `servers` ranks also start a server on the library's
 * background thread and publish server_<rank>.txt; barrier; every rank
 * connects to every server; barrier; then IOR runs. At finalize: barrier,
 * everyone hangs up, barrier, servers stop. Unlike mini_ior, where server
 * ranks only serve, here every rank also does its share of I/O: IOR expects
 * it of every rank of the test, and faking a rank's I/O would be a lie.
 *
 * Mapping onto the two RPCs (whole objects, keyed by path):
 *   - a transfer of `len` bytes at `offset` of file F is the object
 *     "F@<offset>" (split into BENCHFS_MINI_MAX_DATA pieces if larger); reads
 *     must use the offsets and sizes of the writes, as IOR's do;
 *   - all objects of F live on one server: the number at the end of F (IOR's
 *     file-per-process suffix) modulo the server count, else a hash of F;
 *   - the size of F: each writer stores "F@size.<rank>" (8 bytes, LE) at
 *     close; get_file_size/stat/access take the largest of the ranks'
 *     records. remove overwrites the records with empty objects (the
 *     protocol has no delete: the data stays in server memory until the
 *     servers stop, but the file is gone for stat/access/get_file_size);
 *   - directories are implicit: mkdir/rmdir succeed; statfs is not
 *     supported (IOR prints a warning); fsync is a no-op because a WRITE
 *     returns only once the server holds the data.
 * mdtest is not supported (no namespace operations in the protocol).
 *
 * Built without modifying IOR: see ior/CMakeLists.txt and ior/ior_wrap.c.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aiori.h"
#include "ior.h"
#include "utilities.h"

#include "benchfs_mini.h"

typedef struct {
    char *registry; /* --benchfsmini.registry (or $BENCHFS_MINI_REGISTRY) */
    int servers;    /* --benchfsmini.servers: the first N ranks serve */
} bfsmini_options_t;

typedef struct {
    char *path;
    int server;
    uint64_t extent; /* end of the furthest byte this rank wrote */
    int wrote;
} bfsmini_fd_t;

static aiori_xfer_hint_t *hints;
static int init_count; /* initialize/finalize nest (IO500): only the outer pair acts */
static int comm_rank;  /* rank in IOR's test communicator */
static int comm_size;
static int nservers;

static int dry_run(void)
{
    return hints != NULL && hints->dryRun;
}

static option_help *BFSMINI_options(aiori_mod_opt_t **init_backend_options,
                                    aiori_mod_opt_t *init_values)
{
    bfsmini_options_t *o = malloc(sizeof(*o));
    option_help *help;

    if (o == NULL)
        ERR("BENCHFSMINI: out of memory");
    if (init_values != NULL) {
        memcpy(o, init_values, sizeof(*o));
    } else {
        o->registry = NULL;
        o->servers = 1;
    }
    *init_backend_options = (aiori_mod_opt_t *)o;

    option_help h[] = {
        {0, "benchfsmini.registry", "Registry directory shared by all ranks",
         OPTION_OPTIONAL_ARGUMENT, 's', &o->registry},
        {0, "benchfsmini.servers", "Number of ranks (the first ones) that also run a server",
         OPTION_OPTIONAL_ARGUMENT, 'd', &o->servers},
        LAST_OPTION,
    };
    help = malloc(sizeof(h));
    if (help == NULL)
        ERR("BENCHFSMINI: out of memory");
    memcpy(help, h, sizeof(h));
    return help;
}

static const char *registry_of(const bfsmini_options_t *o)
{
    return o->registry != NULL ? o->registry : getenv("BENCHFS_MINI_REGISTRY");
}

static int BFSMINI_check_params(aiori_mod_opt_t *options)
{
    bfsmini_options_t *o = (bfsmini_options_t *)options;
    int world;

    if (registry_of(o) == NULL) {
        fprintf(out_logfile, "BENCHFSMINI: --benchfsmini.registry (or BENCHFS_MINI_REGISTRY) "
                             "is required\n");
        return 1;
    }
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (o->servers < 1 || o->servers > world) {
        fprintf(out_logfile, "BENCHFSMINI: --benchfsmini.servers=%d must be in 1..%d\n", o->servers,
                world);
        return 1;
    }
    return 0;
}

static void BFSMINI_xfer_hints(aiori_xfer_hint_t *params)
{
    hints = params;
}

/* Our own copy of the run's ranks: IO500 initializes before IOR sets
 * testComm and finalizes after IOR freed it. */
static MPI_Comm mini_comm = MPI_COMM_NULL;

static void BFSMINI_initialize(aiori_mod_opt_t *options)
{
    bfsmini_options_t *o = (bfsmini_options_t *)options;
    const char *registry = registry_of(o);
    int is_server;

    if (init_count++ > 0 || dry_run())
        return;
    if (registry == NULL)
        ERR("BENCHFSMINI: no registry directory (--benchfsmini.registry)");
    MPI_Comm_dup(testComm != MPI_COMM_NULL ? testComm : MPI_COMM_WORLD, &mini_comm);
    MPI_Comm_rank(mini_comm, &comm_rank);
    MPI_Comm_size(mini_comm, &comm_size);
    nservers = o->servers;
    if (nservers < 1 || nservers > comm_size)
        ERRF("BENCHFSMINI: %d server ranks requested, the test has %d ranks", nservers, comm_size);
    is_server = comm_rank < nservers;

    if (benchfs_mini_init_rank(registry, is_server, comm_rank) != 0)
        ERRF("BENCHFSMINI: init on rank %d: %s", comm_rank, benchfs_mini_errmsg());
    if (is_server && benchfs_mini_start_server() != 0)
        ERRF("BENCHFSMINI: server on rank %d: %s", comm_rank, benchfs_mini_errmsg());
    MPI_Barrier(mini_comm); /* every server is listening and registered */
    for (int s = 0; s < nservers; s++) {
        if (benchfs_mini_connect(s) != 0)
            ERRF("BENCHFSMINI: rank %d cannot connect to server %d: %s", comm_rank, s,
                 benchfs_mini_errmsg());
    }
    MPI_Barrier(mini_comm); /* every rank is connected to every server */
}

static void BFSMINI_finalize(aiori_mod_opt_t *options)
{
    if (init_count == 0 || --init_count > 0 || dry_run())
        return;
    MPI_Barrier(mini_comm); /* all I/O done */
    benchfs_mini_disconnect(-1);
    MPI_Barrier(mini_comm); /* nobody talks to a server any more */
    benchfs_mini_finalize();
    MPI_Comm_free(&mini_comm);
}

/* All objects of a file live on one server (see the file comment). */
static int server_of(const char *path)
{
    size_t n = strlen(path), i = n;
    uint64_t h = 0xcbf29ce484222325ULL;

    while (i > 0 && path[i - 1] >= '0' && path[i - 1] <= '9')
        i--;
    if (i < n && n - i <= 9)
        return (int)(strtoul(path + i, NULL, 10) % (unsigned long)nservers);
    for (i = 0; i < n; i++) {
        h ^= (uint8_t)path[i];
        h *= 0x100000001b3ULL;
    }
    return (int)(h % (uint64_t)nservers);
}

static void object_key(char *key, size_t size, const char *path, const char *what, uint64_t v)
{
    int n = snprintf(key, size, "%s@%s%" PRIu64, path, what, v);

    if (n < 0 || (size_t)n >= size)
        ERRF("BENCHFSMINI: path too long: %s", path);
}

/* Largest size record of `path`; returns -ENOENT if no rank has one. */
static int64_t size_of(const char *path)
{
    char key[BENCHFS_MINI_MAX_PATH + 1];
    int server = server_of(path);
    int64_t size = -ENOENT;

    for (int r = 0; r < comm_size; r++) {
        uint8_t b[8];
        uint64_t v = 0;
        object_key(key, sizeof(key), path, "size.", (uint64_t)r);
        ssize_t n = benchfs_mini_read(key, b, sizeof(b), server);
        if (n == -ENOENT || n == 0)
            continue; /* never written, or removed */
        if (n != (ssize_t)sizeof(b))
            ERRF("BENCHFSMINI: size record %s: %s", key,
                 n < 0 ? benchfs_mini_errmsg() : "bad length");
        for (int i = 7; i >= 0; i--)
            v = v << 8 | b[i];
        if ((int64_t)v > size)
            size = (int64_t)v;
    }
    return size;
}

static void store_size(const char *path, uint64_t size)
{
    char key[BENCHFS_MINI_MAX_PATH + 1];
    uint8_t b[8];

    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(size >> (8 * i));
    object_key(key, sizeof(key), path, "size.", (uint64_t)comm_rank);
    if (benchfs_mini_write(key, b, sizeof(b), server_of(path)) != 0)
        ERRF("BENCHFSMINI: storing the size of %s: %s", path, benchfs_mini_errmsg());
}

static aiori_fd_t *fd_create(const char *path, int flags)
{
    bfsmini_fd_t *fd = calloc(1, sizeof(*fd));

    if (fd == NULL || (fd->path = strdup(path)) == NULL)
        ERR("BENCHFSMINI: out of memory");
    fd->server = dry_run() ? 0 : server_of(path);
    /* Reopened for writing without truncation: keep growing the old size. */
    if (!dry_run() && !(flags & IOR_TRUNC) && (flags & (IOR_WRONLY | IOR_RDWR))) {
        int64_t size = size_of(path);
        fd->extent = size > 0 ? (uint64_t)size : 0;
    }
    return (aiori_fd_t *)fd;
}

static aiori_fd_t *BFSMINI_create(char *path, int flags, aiori_mod_opt_t *options)
{
    return fd_create(path, flags | IOR_CREAT);
}

static aiori_fd_t *BFSMINI_open(char *path, int flags, aiori_mod_opt_t *options)
{
    return fd_create(path, flags);
}

static IOR_offset_t BFSMINI_xfer(int access, aiori_fd_t *file, IOR_size_t *buffer, IOR_offset_t len,
                                 IOR_offset_t offset, aiori_mod_opt_t *options)
{
    bfsmini_fd_t *fd = (bfsmini_fd_t *)file;
    char key[BENCHFS_MINI_MAX_PATH + 1];
    uint8_t *p = (uint8_t *)buffer;
    IOR_offset_t done = 0;

    if (dry_run())
        return len;
    while (done < len) {
        size_t piece = (size_t)(len - done);
        if (piece > BENCHFS_MINI_MAX_DATA)
            piece = BENCHFS_MINI_MAX_DATA;
        object_key(key, sizeof(key), fd->path, "", (uint64_t)(offset + done));
        if (access == WRITE) {
            if (benchfs_mini_write(key, p + done, piece, fd->server) != 0) {
                WARNF("BENCHFSMINI: write %s: %s", key, benchfs_mini_errmsg());
                return -1;
            }
        } else {
            ssize_t n = benchfs_mini_read(key, p + done, piece, fd->server);
            if (n != (ssize_t)piece) {
                WARNF("BENCHFSMINI: read %s: %s", key,
                      n < 0 ? benchfs_mini_errmsg() : "object shorter than the transfer");
                return -1;
            }
        }
        done += (IOR_offset_t)piece;
    }
    if (access == WRITE) {
        fd->wrote = 1;
        if ((uint64_t)(offset + len) > fd->extent)
            fd->extent = (uint64_t)(offset + len);
    }
    return len;
}

static void BFSMINI_fsync(aiori_fd_t *fd, aiori_mod_opt_t *options)
{
    /* Nothing to do: every WRITE has been acknowledged by its server. */
}

static void BFSMINI_close(aiori_fd_t *file, aiori_mod_opt_t *options)
{
    bfsmini_fd_t *fd = (bfsmini_fd_t *)file;

    if (!dry_run() && fd->wrote)
        store_size(fd->path, fd->extent);
    free(fd->path);
    free(fd);
}

static void BFSMINI_remove(char *path, aiori_mod_opt_t *options)
{
    char key[BENCHFS_MINI_MAX_PATH + 1];

    if (dry_run())
        return;
    for (int r = 0; r < comm_size; r++) {
        object_key(key, sizeof(key), path, "size.", (uint64_t)r);
        if (benchfs_mini_write(key, NULL, 0, server_of(path)) != 0)
            ERRF("BENCHFSMINI: remove %s: %s", path, benchfs_mini_errmsg());
    }
}

static IOR_offset_t BFSMINI_get_file_size(aiori_mod_opt_t *options, char *path)
{
    int64_t size;

    if (dry_run())
        return 0;
    size = size_of(path);
    return size < 0 ? 0 : (IOR_offset_t)size;
}

static int BFSMINI_stat(const char *path, struct stat *buf, aiori_mod_opt_t *options)
{
    int64_t size;

    if (dry_run())
        return 0;
    size = size_of(path);
    if (size < 0) {
        errno = ENOENT;
        return -1;
    }
    memset(buf, 0, sizeof(*buf));
    buf->st_mode = S_IFREG | 0644;
    buf->st_nlink = 1;
    buf->st_size = (off_t)size;
    buf->st_blksize = 1 << 20;
    buf->st_blocks = (blkcnt_t)((size + 511) / 512);
    return 0;
}

static int BFSMINI_access(const char *path, int mode, aiori_mod_opt_t *options)
{
    if (dry_run())
        return 0;
    if (size_of(path) < 0) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

static int BFSMINI_mkdir(const char *path, mode_t mode, aiori_mod_opt_t *options)
{
    return 0; /* directories are implicit in a flat object store */
}

static int BFSMINI_rmdir(const char *path, aiori_mod_opt_t *options)
{
    return 0;
}

static int BFSMINI_statfs(const char *path, ior_aiori_statfs_t *stat_buf, aiori_mod_opt_t *options)
{
    errno = ENOSYS; /* the protocol cannot ask a server for its capacity */
    return -1;
}

static char *BFSMINI_get_version(void)
{
    return "benchfs_mini";
}

ior_aiori_t benchfsmini_aiori = {
    .name = "BENCHFSMINI",
    .name_legacy = NULL,
    .create = BFSMINI_create,
    .open = BFSMINI_open,
    .xfer_hints = BFSMINI_xfer_hints,
    .xfer = BFSMINI_xfer,
    .close = BFSMINI_close,
    .remove = BFSMINI_remove,
    .get_version = BFSMINI_get_version,
    .fsync = BFSMINI_fsync,
    .get_file_size = BFSMINI_get_file_size,
    .statfs = BFSMINI_statfs,
    .mkdir = BFSMINI_mkdir,
    .rmdir = BFSMINI_rmdir,
    .access = BFSMINI_access,
    .stat = BFSMINI_stat,
    .initialize = BFSMINI_initialize,
    .finalize = BFSMINI_finalize,
    .get_options = BFSMINI_options,
    .check_params = BFSMINI_check_params,
    .enable_mdtest = false,
};
