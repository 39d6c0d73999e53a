/*
 * aiori-BENCHFS.c - the BENCHFS backend for IOR and mdtest.
 *
 * Built only against an IOR tree (ior/CMakeLists.txt, -DBENCHFS_IOR_DIR) and
 * registered by ior_wrap.c without modifying IOR. It uses the public BenchFS
 * API only (include/benchfs.h).
 *
 * Options (names unique across IOR):
 *   --benchfs.registry=DIR     registry directory (default $BENCHFS_REGISTRY)
 *   --benchfs.chunk-size=N     chunk size of files created (default 4 MiB)
 *   --benchfs.servers=K        the first K ranks also run an embedded server
 *                              (seed 003's "rank 0 serves"): one mpirun runs a
 *                              whole test without a separate server launch
 *   --benchfs.data-dir=DIR     data dir of embedded servers (rank_<r> below it)
 *
 * IOR facts respected (docs/ior-notes.md): initialize/finalize nest in
 * IO500, so they are reference-counted; every callback is a no-op under
 * dryRun; xfer returns exactly the requested length or aborts with BenchFS's
 * own message; paths may be relative or end in '/'; mdtest opens with flags 0.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mpi.h>

#include "aiori.h"
#include "benchfs.h"
#include "utilities.h"

struct benchfs_ior_opts {
    char *registry;
    char *data_dir;
    int chunk_size;
    int servers;
};

struct benchfs_ior_fd {
    int fd;
};

static aiori_xfer_hint_t *bfs_hints;
static int bfs_refcount;
static int bfs_embedded; /* this rank runs an embedded server */
/* The ranks of this run, duplicated at the outermost initialize: IO500
 * initializes before IOR has set testComm (MPI_COMM_NULL then) and
 * finalizes after IOR freed it. */
static MPI_Comm bfs_comm = MPI_COMM_NULL;

#define BFS_DRY() (bfs_hints != NULL && bfs_hints->dryRun)

/* IOR hands out relative names ("testFile") and dirs ending in '/'. */
static const char *bfs_path(const char *in, char *buf, size_t len)
{
    if (in[0] == '/')
        return in;
    snprintf(buf, len, "/%s", in);
    return buf;
}

static option_help *BENCHFS_options(aiori_mod_opt_t **init_backend_options,
                                    aiori_mod_opt_t *init_values)
{
    struct benchfs_ior_opts *o = malloc(sizeof(*o));

    if (o == NULL)
        ERR("out of memory");
    /* get_options is called several times: always a fresh copy. */
    if (init_values != NULL) {
        memcpy(o, init_values, sizeof(*o));
    } else {
        const char *env = getenv("BENCHFS_REGISTRY");

        o->registry = env ? strdup(env) : NULL;
        o->data_dir = strdup("/tmp/benchfs-ior-data");
        o->chunk_size = 0;
        o->servers = 0;
    }
    *init_backend_options = (aiori_mod_opt_t *)o;

    option_help h[] = {
        {0, "benchfs.registry", "Registry directory of the BenchFS cluster ($BENCHFS_REGISTRY)",
         OPTION_OPTIONAL_ARGUMENT, 's', &o->registry},
        {0, "benchfs.chunk-size", "Chunk size in bytes of created files (0 = server default)",
         OPTION_OPTIONAL_ARGUMENT, 'd', &o->chunk_size},
        {0, "benchfs.servers", "The first K ranks also run an embedded BenchFS server",
         OPTION_OPTIONAL_ARGUMENT, 'd', &o->servers},
        {0, "benchfs.data-dir", "Data directory of embedded servers (rank_<r> below it)",
         OPTION_OPTIONAL_ARGUMENT, 's', &o->data_dir},
        LAST_OPTION,
    };
    option_help *help = malloc(sizeof(h));

    if (help == NULL)
        ERR("out of memory");
    memcpy(help, h, sizeof(h));
    return help;
}

static int BENCHFS_check_params(aiori_mod_opt_t *options)
{
    struct benchfs_ior_opts *o = (struct benchfs_ior_opts *)options;

    if (o->registry == NULL || o->registry[0] == '\0') {
        fprintf(stderr, "BENCHFS: no registry: set --benchfs.registry or BENCHFS_REGISTRY\n");
        return 1;
    }
    if (o->servers < 0 || o->chunk_size < 0) {
        fprintf(stderr, "BENCHFS: --benchfs.servers and --benchfs.chunk-size must be >= 0\n");
        return 1;
    }
    return 0;
}

static void BENCHFS_xfer_hints(aiori_xfer_hint_t *params)
{
    bfs_hints = params;
}

static void BENCHFS_initialize(aiori_mod_opt_t *options)
{
    struct benchfs_ior_opts *o = (struct benchfs_ior_opts *)options;
    struct benchfs_options bo;
    int me = 0, rc;

    if (bfs_refcount++ > 0 || BFS_DRY())
        return;
    MPI_Comm_dup(testComm != MPI_COMM_NULL ? testComm : MPI_COMM_WORLD, &bfs_comm);
    MPI_Comm_rank(bfs_comm, &me);
    benchfs_options_init(&bo);
    if (o->chunk_size > 0)
        bo.chunk_size = (uint64_t)o->chunk_size;
    if (o->servers > 0) {
        char node[64], data[4200];

        bo.expected_servers = (unsigned)o->servers;
        rc = 0;
        if (me == 0) {
            mkdir(o->registry, 0700);
            rc = benchfs_registry_prepare(o->registry, (unsigned)o->servers);
        }
        MPI_Bcast(&rc, 1, MPI_INT, 0, bfs_comm);
        if (rc < 0)
            ERRF("BENCHFS: cannot prepare registry %s: %s", o->registry,
                 me == 0 ? benchfs_last_error() : "see rank 0");
        bfs_embedded = me < o->servers;
        snprintf(node, sizeof(node), "node_%d", me);
        snprintf(data, sizeof(data), "%s/rank_%d", o->data_dir, me);
        rc = benchfs_init(node, o->registry, data, bfs_embedded, &bo);
    } else {
        rc = benchfs_connect(o->registry, &bo);
    }
    if (rc < 0)
        ERRF("BENCHFS: cannot connect to %s: %s", o->registry, benchfs_last_error());
}

static void BENCHFS_finalize(aiori_mod_opt_t *options)
{
    if (bfs_refcount == 0 || --bfs_refcount > 0 || BFS_DRY())
        return;
    if (bfs_embedded) {
        /* Embedded servers must outlive every client of this run. */
        MPI_Barrier(bfs_comm);
        benchfs_finalize();
    } else if (((struct benchfs_ior_opts *)options)->servers > 0) {
        benchfs_disconnect();
        MPI_Barrier(bfs_comm);
    } else {
        benchfs_disconnect();
    }
    MPI_Comm_free(&bfs_comm);
}

static int bfs_flags(int iorflags)
{
    int flags = 0;

    if (iorflags & IOR_RDWR)
        flags = O_RDWR;
    else if (iorflags & IOR_WRONLY)
        flags = O_WRONLY;
    else
        flags = O_RDONLY; /* IOR_RDONLY, and mdtest's plain 0 */
    if (iorflags & IOR_CREAT)
        flags |= O_CREAT;
    if (iorflags & IOR_TRUNC)
        flags |= O_TRUNC;
    if (iorflags & IOR_EXCL)
        flags |= O_EXCL;
    if (iorflags & IOR_APPEND)
        flags |= O_APPEND;
    return flags;
}

static aiori_fd_t *bfs_open(char *name, int iorflags, mode_t mode)
{
    struct benchfs_ior_fd *f;
    char buf[4200];
    int fd;

    if (BFS_DRY())
        return (aiori_fd_t *)calloc(1, sizeof(struct benchfs_ior_fd));
    fd = benchfs_open(bfs_path(name, buf, sizeof(buf)), bfs_flags(iorflags), mode);
    if (fd < 0)
        ERRF("BENCHFS: cannot open %s: %s", name, benchfs_last_error());
    f = malloc(sizeof(*f));
    if (f == NULL)
        ERR("out of memory");
    f->fd = fd;
    return (aiori_fd_t *)f;
}

static aiori_fd_t *BENCHFS_create(char *name, int iorflags, aiori_mod_opt_t *options)
{
    /* Shared-file runs: every rank creates the same file at once and writes
     * without a barrier. Like IOR's POSIX backend, create is open-or-create
     * WITHOUT truncation: BenchFS truncates in place with POSIX semantics
     * (docs/semantics.md), so one rank's late O_TRUNC would remove the data
     * other ranks already wrote. */
    return bfs_open(name, (iorflags | IOR_CREAT) & ~IOR_TRUNC, 0644);
}

static aiori_fd_t *BENCHFS_open(char *name, int iorflags, aiori_mod_opt_t *options)
{
    return bfs_open(name, iorflags, 0);
}

static IOR_offset_t BENCHFS_xfer(int access, aiori_fd_t *file, IOR_size_t *buffer,
                                 IOR_offset_t length, IOR_offset_t offset, aiori_mod_opt_t *options)
{
    struct benchfs_ior_fd *f = (struct benchfs_ior_fd *)file;
    char *p = (char *)buffer;
    IOR_offset_t done = 0;

    if (BFS_DRY())
        return length;
    while (done < length) {
        ssize_t n;

        if (access == WRITE)
            n = benchfs_pwrite(f->fd, p + done, (size_t)(length - done), offset + done);
        else
            n = benchfs_pread(f->fd, p + done, (size_t)(length - done), offset + done);
        if (n < 0)
            ERRF("BENCHFS: %s of %lld bytes at %lld failed: %s", access == WRITE ? "write" : "read",
                 (long long)length, (long long)offset, benchfs_last_error());
        if (n == 0)
            ERRF("BENCHFS: read of %lld bytes at %lld hit the end of the file after %lld",
                 (long long)length, (long long)offset, (long long)done);
        done += n;
    }
    return done;
}

static void BENCHFS_fsync(aiori_fd_t *file, aiori_mod_opt_t *options)
{
    if (BFS_DRY())
        return;
    if (benchfs_fsync(((struct benchfs_ior_fd *)file)->fd) < 0)
        ERRF("BENCHFS: fsync failed: %s", benchfs_last_error());
}

static void BENCHFS_sync(aiori_mod_opt_t *options)
{
    /* Nothing is buffered in the client beyond an open file's size, which
     * close and fsync push; after mdtest closed its files all is durable. */
}

static void BENCHFS_close(aiori_fd_t *file, aiori_mod_opt_t *options)
{
    struct benchfs_ior_fd *f = (struct benchfs_ior_fd *)file;

    if (!BFS_DRY() && benchfs_close(f->fd) < 0)
        ERRF("BENCHFS: close failed: %s", benchfs_last_error());
    free(f);
}

static void BENCHFS_remove(char *name, aiori_mod_opt_t *options)
{
    char buf[4200];

    if (BFS_DRY())
        return;
    if (benchfs_unlink(bfs_path(name, buf, sizeof(buf))) < 0)
        ERRF("BENCHFS: cannot remove %s: %s", name, benchfs_last_error());
}

static char *BENCHFS_version(void)
{
    static char v[64];

    snprintf(v, sizeof(v), "BenchFS %s", benchfs_version());
    return v;
}

static IOR_offset_t BENCHFS_get_file_size(aiori_mod_opt_t *options, char *name)
{
    struct stat st;
    char buf[4200];

    if (BFS_DRY())
        return 0;
    if (benchfs_stat(bfs_path(name, buf, sizeof(buf)), &st) < 0)
        ERRF("BENCHFS: cannot stat %s: %s", name, benchfs_last_error());
    return st.st_size;
}

static int BENCHFS_statfs(const char *path, ior_aiori_statfs_t *s, aiori_mod_opt_t *options)
{
    struct statvfs st;

    if (BFS_DRY())
        return 0;
    /* Capacity is the same for every path of a BenchFS namespace, and IOR
     * asks about its test file after removing it: ask about the root. */
    (void)path;
    if (benchfs_statvfs("/", &st) < 0)
        return -1;
    s->f_bsize = st.f_frsize;
    s->f_blocks = st.f_blocks;
    s->f_bfree = st.f_bfree;
    s->f_bavail = st.f_bavail;
    s->f_files = st.f_files;
    s->f_ffree = st.f_ffree;
    return 0;
}

static int BENCHFS_mkdir(const char *path, mode_t mode, aiori_mod_opt_t *options)
{
    char buf[4200];

    return BFS_DRY() ? 0 : benchfs_mkdir(bfs_path(path, buf, sizeof(buf)), mode);
}

static int BENCHFS_rmdir(const char *path, aiori_mod_opt_t *options)
{
    char buf[4200];

    return BFS_DRY() ? 0 : benchfs_rmdir(bfs_path(path, buf, sizeof(buf)));
}

static int BENCHFS_access(const char *path, int mode, aiori_mod_opt_t *options)
{
    char buf[4200];

    return BFS_DRY() ? 0 : benchfs_access(bfs_path(path, buf, sizeof(buf)), mode);
}

static int BENCHFS_stat(const char *path, struct stat *st, aiori_mod_opt_t *options)
{
    char buf[4200];

    return BFS_DRY() ? 0 : benchfs_stat(bfs_path(path, buf, sizeof(buf)), st);
}

static int BENCHFS_rename(const char *from, const char *to, aiori_mod_opt_t *options)
{
    char b1[4200], b2[4200];

    if (BFS_DRY())
        return 0;
    return benchfs_rename(bfs_path(from, b1, sizeof(b1)), bfs_path(to, b2, sizeof(b2)));
}

ior_aiori_t benchfs_aiori = {
    .name = "BENCHFS",
    .name_legacy = NULL,
    .create = BENCHFS_create,
    .open = BENCHFS_open,
    .xfer_hints = BENCHFS_xfer_hints,
    .xfer = BENCHFS_xfer,
    .close = BENCHFS_close,
    .remove = BENCHFS_remove,
    .get_version = BENCHFS_version,
    .fsync = BENCHFS_fsync,
    .get_file_size = BENCHFS_get_file_size,
    .statfs = BENCHFS_statfs,
    .mkdir = BENCHFS_mkdir,
    .rmdir = BENCHFS_rmdir,
    .access = BENCHFS_access,
    .stat = BENCHFS_stat,
    .initialize = BENCHFS_initialize,
    .finalize = BENCHFS_finalize,
    .rename = BENCHFS_rename,
    .get_options = BENCHFS_options,
    .check_params = BENCHFS_check_params,
    .sync = BENCHFS_sync,
    .enable_mdtest = true,
};
