/*
 * benchfs_xfer.c - data transfer commands of the `benchfs` tool: put (local
 * file -> BenchFS), get (BenchFS -> local file) and cat (BenchFS -> stdout).
 *
 * put and get move data in big sequential chunks (16 MiB by default) so one
 * call fans out over many chunks and servers at once, and overlap the local
 * read or write of one chunk with the BenchFS write or read of the next (two
 * buffers, a helper thread: writing a 1 GiB file costs as much CPU as
 * receiving it). When stderr is a terminal they draw a progress bar with the
 * throughput; -v prints one summary line per file (bytes, seconds, MiB/s) in
 * any case.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchfs.h"
#include "tools/benchfs_cli.h"

#define MIB (1024.0 * 1024.0)

struct xfer_opts {
    bool verbose;
    bool progress; /* draw the bar (stderr is a terminal and not -q) */
    size_t bufsize;
};

/* --------------------------------------------------------------- progress */

struct xfer_progress {
    bool enabled;
    char label[40];
    uint64_t total; /* 0: unknown (a pipe) */
    uint64_t done;
    struct timespec start;
    double last_draw;
};

static void progress_begin(struct xfer_progress *p, bool enabled, const char *verb,
                           const char *name, uint64_t total)
{
    p->enabled = enabled;
    snprintf(p->label, sizeof(p->label), "%s %s", verb, cli_basename(name));
    p->total = total;
    p->done = 0;
    p->last_draw = -1.0;
    clock_gettime(CLOCK_MONOTONIC, &p->start);
}

static void progress_draw(struct xfer_progress *p, bool final)
{
    double t = cli_elapsed(&p->start);
    double rate = t > 0 ? (double)p->done / MIB / t : 0.0;
    char bar[26];

    if (!p->enabled)
        return;
    /* At most ten redraws a second: a terminal is slower than a fast put. */
    if (!final && p->last_draw >= 0 && t - p->last_draw < 0.1)
        return;
    p->last_draw = t;
    if (p->total > 0) {
        int pct = (int)((double)p->done * 100.0 / (double)p->total);
        int fill = (int)((double)p->done * 24.0 / (double)p->total);

        if (pct > 100)
            pct = 100;
        if (fill > 24)
            fill = 24;
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '-', (size_t)(24 - fill));
        bar[24] = '\0';
        fprintf(stderr, "\r%-28.28s [%s] %3d%% %9.1f MiB %8.1f MiB/s ", p->label, bar, pct,
                (double)p->done / MIB, rate);
    } else {
        fprintf(stderr, "\r%-28.28s %9.1f MiB %8.1f MiB/s ", p->label, (double)p->done / MIB, rate);
    }
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Finish the bar (if drawn) and print the -v summary. */
static void progress_end(struct xfer_progress *p, const struct xfer_opts *o, const char *verb,
                         const char *from, const char *to, bool ok)
{
    double t = cli_elapsed(&p->start);

    if (p->enabled && p->last_draw >= 0)
        progress_draw(p, true);
    if (o->verbose && ok)
        fprintf(stderr, "%s '%s' -> '%s': %llu bytes in %.3f s, %.1f MiB/s\n", verb, from, to,
                (unsigned long long)p->done, t, t > 0 ? (double)p->done / MIB / t : 0.0);
}

/* ------------------------------------------------------------- local I/O */

/* Read until `len` bytes or end of file (pipes deliver short reads).
 * Returns the byte count or -errno. */
static ssize_t local_read_full(int fd, char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static int local_write_full(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int remote_pwrite_full(int fd, const char *buf, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = benchfs_pwrite(fd, buf, len, off);

        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO; /* no progress: never spin */
        buf += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

static char *xfer_buffer(size_t size)
{
    void *p = NULL;

    /* Page-aligned, so the library and the transport may use it directly. */
    if (posix_memalign(&p, 4096, size) != 0) {
        cli_error("cannot allocate a %zu-byte transfer buffer", size);
        return NULL;
    }
    return p;
}

/* ------------------------------------------------------------- pipeline */

/*
 * Two buffers between two threads, so that the local side of a transfer
 * (read(2) of the source for put, write(2) of the destination for get)
 * overlaps the BenchFS side: while one buffer is written, the other one
 * fills. A helper thread does the BenchFS calls; the calling thread does
 * the local I/O, which may block for good (a pipe, a terminal) as it always
 * could. The helper only ever waits for the pipe or for a BenchFS call
 * (bounded by the RPC timeout), so it can always be joined. The producer
 * fills a slot and passes it on (len 0: end of data), the consumer empties
 * it and hands it back; either side may stop the other after a failure,
 * which it reports itself (the library's error detail is per thread).
 */
struct xfer_pipe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf[2];
    size_t len[2];
    bool full[2];
    unsigned prod, cons; /* next slot of each side */
    bool stopped;        /* one side failed: the other gives up */
    size_t bufsize;
    int rfd;            /* the helper's BenchFS descriptor */
    const char *rpath;  /* and its path, for messages */
    bool remote_failed; /* the helper's BenchFS call failed (reported) */
    pthread_t helper;
};

/* Next slot to fill, or NULL once the pipe stopped. */
static char *pipe_fill_begin(struct xfer_pipe *p)
{
    char *b = NULL;

    pthread_mutex_lock(&p->mu);
    while (p->full[p->prod] && !p->stopped)
        pthread_cond_wait(&p->cv, &p->mu);
    if (!p->stopped)
        b = p->buf[p->prod];
    pthread_mutex_unlock(&p->mu);
    return b;
}

/* The slot pipe_fill_begin gave holds len bytes (0: end of data). */
static void pipe_fill_end(struct xfer_pipe *p, size_t len)
{
    pthread_mutex_lock(&p->mu);
    p->len[p->prod] = len;
    p->full[p->prod] = true;
    p->prod ^= 1u;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Next full slot and its length (0: end of data), or NULL once stopped. */
static char *pipe_drain_begin(struct xfer_pipe *p, size_t *len_p)
{
    char *b = NULL;

    pthread_mutex_lock(&p->mu);
    while (!p->full[p->cons] && !p->stopped)
        pthread_cond_wait(&p->cv, &p->mu);
    if (!p->stopped) {
        b = p->buf[p->cons];
        *len_p = p->len[p->cons];
    }
    pthread_mutex_unlock(&p->mu);
    return b;
}

/* The slot pipe_drain_begin gave is free again. */
static void pipe_drain_end(struct xfer_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->full[p->cons] = false;
    p->cons ^= 1u;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void pipe_stop(struct xfer_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->stopped = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* put's helper: write what the pipe brings into BenchFS, from offset 0. */
static void *pipe_remote_writer(void *arg)
{
    struct xfer_pipe *p = arg;
    off_t off = 0;
    size_t len;
    char *b;

    while ((b = pipe_drain_begin(p, &len)) != NULL && len > 0) {
        int rc = remote_pwrite_full(p->rfd, b, len, off);

        if (rc < 0) {
            cli_op_error("error writing", p->rpath, -rc);
            p->remote_failed = true;
            pipe_stop(p);
            break;
        }
        pipe_drain_end(p);
        off += (off_t)len;
    }
    return NULL;
}

/* get's helper: read the BenchFS file into the pipe until its end. */
static void *pipe_remote_reader(void *arg)
{
    struct xfer_pipe *p = arg;
    off_t off = 0;
    char *b;

    while ((b = pipe_fill_begin(p)) != NULL) {
        ssize_t n = benchfs_pread(p->rfd, b, p->bufsize, off);

        if (n < 0) {
            cli_op_error("error reading", p->rpath, errno);
            p->remote_failed = true;
            pipe_stop(p);
            break;
        }
        pipe_fill_end(p, (size_t)n);
        if (n == 0)
            break;
        off += n;
    }
    return NULL;
}

/* Set up the two buffers and start the helper on BenchFS descriptor rfd
 * of path rpath. 0 or -1 (reported). */
static int pipe_start(struct xfer_pipe *p, int rfd, const char *rpath, size_t bufsize,
                      void *(*helper)(void *))
{
    int rc;

    memset(p, 0, sizeof(*p));
    p->rfd = rfd;
    p->rpath = rpath;
    p->bufsize = bufsize;
    p->buf[0] = xfer_buffer(bufsize);
    p->buf[1] = p->buf[0] != NULL ? xfer_buffer(bufsize) : NULL;
    if (p->buf[1] == NULL) {
        free(p->buf[0]);
        return -1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    rc = pthread_create(&p->helper, NULL, helper, p);
    if (rc != 0) {
        cli_error("cannot start a thread: %s", strerror(rc));
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p->buf[0]);
        free(p->buf[1]);
        return -1;
    }
    return 0;
}

/* Wait for the helper and free everything; false when its BenchFS side failed. */
static bool pipe_finish(struct xfer_pipe *p)
{
    pthread_join(p->helper, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->buf[0]);
    free(p->buf[1]);
    return !p->remote_failed;
}

static int xfer_parse(const char *cmd, int argc, char **argv, struct xfer_opts *o,
                      void (*help)(void))
{
    static const struct option longopts[] = {
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"buffer-size", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false;
    uint64_t size;
    int opt;

    o->verbose = false;
    o->bufsize = CLI_DEFAULT_XFER;
    while ((opt = getopt_long(argc, argv, "vqb:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'v':
            o->verbose = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'b':
            if (cli_parse_size(optarg, &size) < 0 || size < 4096 || size > (1ull << 30))
                return cli_usage_error(cmd, "invalid buffer size '%s' (4K .. 1G)", optarg);
            o->bufsize = (size_t)size;
            break;
        case 'H':
            help();
            return -1;
        default:
            return cli_try_help(cmd);
        }
    }
    o->progress = !quiet && isatty(STDERR_FILENO);
    return 0;
}

/* -------------------------------------------------------------------- put */

static void put_help(void)
{
    printf("Usage: benchfs put [-v] [-q] [-b SIZE] LOCAL REMOTE\n"
           "  or:  benchfs put [-v] [-q] [-b SIZE] LOCAL... REMOTE_DIR\n"
           "Copy local files into BenchFS. LOCAL '-' is standard input. When REMOTE is a\n"
           "directory, the file keeps its name inside it. Existing files are replaced.\n\n"
           "  -v, --verbose            print bytes, time and MiB/s of each file\n"
           "  -q, --quiet              no progress bar (drawn only when stderr is a "
           "terminal)\n"
           "  -b, --buffer-size SIZE   bytes per write call (default 16M)\n"
           "      --help               this help\n");
}

static int put_one(const char *local, const char *remote, const struct xfer_opts *o)
{
    bool is_stdin = strcmp(local, "-") == 0;
    struct xfer_progress prog;
    struct xfer_pipe pipe;
    char *buf;
    mode_t mode = 0666, mask;
    uint64_t total = 0;
    struct stat st;
    off_t off = 0;
    int lfd, rfd, status = CLI_EXIT_OK;

    lfd = is_stdin ? STDIN_FILENO : open(local, O_RDONLY | O_CLOEXEC);
    if (lfd < 0) {
        cli_error("cannot open '%s' for reading: %s", local, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    if (fstat(lfd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            cli_error("cannot put '%s': Is a directory", local);
            goto close_local;
        }
        if (S_ISREG(st.st_mode)) {
            total = (uint64_t)st.st_size;
            mode = st.st_mode & 0777;
            posix_fadvise(lfd, 0, 0, POSIX_FADV_SEQUENTIAL);
        }
    }
    mask = umask(0);
    umask(mask);
    rfd = benchfs_open(remote, O_WRONLY | O_CREAT | O_TRUNC, mode & ~mask);
    if (rfd < 0) {
        cli_op_error("cannot create regular file", remote, errno);
        goto close_local;
    }
    if (pipe_start(&pipe, rfd, remote, o->bufsize, pipe_remote_writer) < 0) {
        benchfs_close(rfd);
        goto close_local;
    }
    progress_begin(&prog, o->progress, "put", local, total);
    /* The helper writes the previous buffer into BenchFS while this one is read. */
    while ((buf = pipe_fill_begin(&pipe)) != NULL) {
        ssize_t n = local_read_full(lfd, buf, o->bufsize);

        if (n < 0) {
            cli_error("error reading '%s': %s", local, strerror((int)-n));
            status = CLI_EXIT_FAIL;
            pipe_stop(&pipe);
            break;
        }
        pipe_fill_end(&pipe, (size_t)n);
        if (n == 0)
            break;
        off += n;
        prog.done = (uint64_t)off;
        progress_draw(&prog, false);
    }
    if (!pipe_finish(&pipe))
        status = CLI_EXIT_FAIL;
    /* close publishes the size: its failure means the data is not safe. */
    if (benchfs_close(rfd) < 0 && status == CLI_EXIT_OK) {
        cli_op_error("error closing", remote, errno);
        status = CLI_EXIT_FAIL;
    }
    progress_end(&prog, o, "put", local, remote, status == CLI_EXIT_OK);
    if (!is_stdin)
        close(lfd);
    return status;

close_local:
    if (!is_stdin)
        close(lfd);
    return CLI_EXIT_FAIL;
}

int cmd_put(struct cli_ctx *ctx, int argc, char **argv)
{
    char dest[BFS_PATH_MAX], target[BFS_PATH_MAX], name[BFS_NAME_MAX + 1];
    struct xfer_opts o = {0};
    bool dest_is_dir = false;
    struct stat st;
    int rc, nsrc, status = CLI_EXIT_OK;

    rc = xfer_parse("put", argc, argv, &o, put_help);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (argc - optind == 0)
        return cli_usage_error("put", "missing file operands");
    if (argc - optind == 1)
        return cli_usage_error("put", "missing destination operand after '%s'", argv[optind]);
    nsrc = argc - optind - 1;
    rc = cli_connect(ctx);
    if (rc)
        return rc;
    if (cli_path(argv[argc - 1], dest) < 0)
        return CLI_EXIT_FAIL;
    if (benchfs_stat(dest, &st) == 0 && S_ISDIR(st.st_mode))
        dest_is_dir = true;
    /* Several sources, or "dir/", promise a directory (like cp). */
    if (!dest_is_dir && (nsrc > 1 || argv[argc - 1][strlen(argv[argc - 1]) - 1] == '/')) {
        cli_error("target '%s' is not a directory", argv[argc - 1]);
        return CLI_EXIT_FAIL;
    }
    for (int i = optind; i < argc - 1; i++) {
        const char *local = argv[i];

        if (dest_is_dir) {
            if (strcmp(local, "-") == 0) {
                cli_error("cannot put standard input into directory '%s': name a file", dest);
                status = CLI_EXIT_FAIL;
                continue;
            }
            if (cli_last_name(local, name, sizeof(name)) < 0 ||
                cli_path_join(dest, name, target) < 0) {
                cli_error("cannot put '%s': %s", local, strerror(ENAMETOOLONG));
                status = CLI_EXIT_FAIL;
                continue;
            }
        } else {
            snprintf(target, sizeof(target), "%s", dest);
        }
        if (put_one(local, target, &o) != CLI_EXIT_OK)
            status = CLI_EXIT_FAIL;
    }
    return status;
}

/* -------------------------------------------------------------------- get */

static void get_help(void)
{
    printf("Usage: benchfs get [-v] [-q] [-b SIZE] REMOTE LOCAL\n"
           "Copy the BenchFS file REMOTE to LOCAL ('-' is standard output). When LOCAL\n"
           "is a directory, the file keeps its name inside it.\n\n"
           "  -v, --verbose            print bytes, time and MiB/s\n"
           "  -q, --quiet              no progress bar (drawn only when stderr is a "
           "terminal)\n"
           "  -b, --buffer-size SIZE   bytes per read call (default 16M)\n"
           "      --help               this help\n");
}

int cmd_get(struct cli_ctx *ctx, int argc, char **argv)
{
    char remote[BFS_PATH_MAX], *local_path = NULL;
    const char *local;
    struct xfer_progress prog;
    struct xfer_opts o = {0};
    struct xfer_pipe pipe;
    struct stat st, lst;
    bool is_stdout;
    off_t off = 0;
    int rc, rfd, lfd, status = CLI_EXIT_OK;
    size_t n;
    char *buf;

    rc = xfer_parse("get", argc, argv, &o, get_help);
    if (rc)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (argc - optind < 2)
        return cli_usage_error("get", "missing operand");
    if (argc - optind > 2)
        return cli_usage_error("get", "extra operand '%s'", argv[optind + 2]);
    local = argv[optind + 1];
    is_stdout = strcmp(local, "-") == 0;
    rc = cli_connect(ctx);
    if (rc)
        return rc;
    if (cli_path(argv[optind], remote) < 0)
        return CLI_EXIT_FAIL;
    rfd = benchfs_open(remote, O_RDONLY, 0);
    if (rfd < 0) {
        cli_op_error("cannot open", remote, errno);
        return CLI_EXIT_FAIL;
    }
    if (benchfs_fstat(rfd, &st) < 0) {
        cli_op_error("cannot stat", remote, errno);
        goto err_close_remote;
    }
    if (S_ISDIR(st.st_mode)) {
        cli_error("cannot get '%s': Is a directory", remote);
        goto err_close_remote;
    }
    if (!is_stdout && stat(local, &lst) == 0 && S_ISDIR(lst.st_mode)) {
        if (asprintf(&local_path, "%s/%s", local, cli_basename(remote)) < 0) {
            local_path = NULL;
            cli_error("out of memory");
            goto err_close_remote;
        }
        local = local_path;
    }
    lfd = is_stdout ? STDOUT_FILENO
                    : open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777);
    if (lfd < 0) {
        cli_error("cannot create regular file '%s': %s", local, strerror(errno));
        goto err_close_remote;
    }
    if (pipe_start(&pipe, rfd, remote, o.bufsize, pipe_remote_reader) < 0)
        goto err_close_local;
    progress_begin(&prog, o.progress, "get", remote, (uint64_t)st.st_size);
    /* The helper reads the next buffer from BenchFS while this one is written. */
    while ((buf = pipe_drain_begin(&pipe, &n)) != NULL && n > 0) {
        rc = local_write_full(lfd, buf, n);
        if (rc < 0) {
            cli_error("error writing '%s': %s", local, strerror(-rc));
            status = CLI_EXIT_FAIL;
            pipe_stop(&pipe);
            break;
        }
        pipe_drain_end(&pipe);
        off += (off_t)n;
        prog.done = (uint64_t)off;
        progress_draw(&prog, false);
    }
    if (!pipe_finish(&pipe))
        status = CLI_EXIT_FAIL;
    if (!is_stdout && close(lfd) < 0 && status == CLI_EXIT_OK) {
        cli_error("error closing '%s': %s", local, strerror(errno));
        status = CLI_EXIT_FAIL;
    }
    benchfs_close(rfd);
    progress_end(&prog, &o, "get", remote, local, status == CLI_EXIT_OK);
    free(local_path);
    return status;

err_close_local:
    if (!is_stdout)
        close(lfd);
err_close_remote:
    benchfs_close(rfd);
    free(local_path);
    return CLI_EXIT_FAIL;
}

/* -------------------------------------------------------------------- cat */

int cmd_cat(struct cli_ctx *ctx, int argc, char **argv)
{
    const size_t bufsize = 4u << 20;
    int rc, status = CLI_EXIT_OK;
    char *buf;

    rc = cli_operands_begin(ctx, argc, argv, "cat",
                            "Usage: benchfs cat PATH...\n"
                            "Write the contents of each BenchFS file PATH to standard output.\n");
    if (rc >= 0)
        return rc;
    buf = xfer_buffer(bufsize);
    if (!buf)
        return CLI_EXIT_FAIL;
    fflush(stdout); /* the data goes straight to fd 1 */
    for (int i = optind; i < argc; i++) {
        char path[BFS_PATH_MAX];
        int fd;

        if (cli_path(argv[i], path) < 0) {
            status = CLI_EXIT_FAIL;
            continue;
        }
        fd = benchfs_open(path, O_RDONLY, 0);
        if (fd < 0) {
            cli_op_error("cannot open", path, errno);
            status = CLI_EXIT_FAIL;
            continue;
        }
        for (;;) {
            ssize_t n = benchfs_read(fd, buf, bufsize);

            if (n < 0) {
                cli_op_error("error reading", path, errno);
                status = CLI_EXIT_FAIL;
                break;
            }
            if (n == 0)
                break;
            rc = local_write_full(STDOUT_FILENO, buf, (size_t)n);
            if (rc < 0) {
                cli_error("write error: %s", strerror(-rc));
                benchfs_close(fd);
                free(buf);
                return CLI_EXIT_FAIL;
            }
        }
        benchfs_close(fd);
    }
    free(buf);
    return status;
}
