/*
 * benchfs_stage.c - `benchfs stage-in SRC... DEST` (local -> BenchFS) and
 * `benchfs stage-out SRC... DEST` (BenchFS -> local): copy trees between
 * the job's parallel file system and BenchFS (docs/jobs.md).
 *
 * One pass: start, plan while the workers run, finish.
 *  - start (benchfs_stage_copy.c): fork -j worker processes; they connect
 *    and wait for work items.
 *  - plan (this process, benchfs_stage_plan.c): walk every SRC in name
 *    order, create the destination directories, and decide per file: copy,
 *    skip (the destination has the same size and is not older: an earlier,
 *    perhaps interrupted, run staged it), or with --verify compare
 *    checksums. Files larger than --split become several byte-range work
 *    items. Each item is published to the workers as soon as it is made,
 *    so copying starts with the walk.
 *  - finish (this process): rename split files into place, give the
 *    destination directories their modes and mtimes (on either side), write
 *    the manifest, print the summary line. Exit status 1 when any file or
 *    directory failed (each one named), or a worker died.
 *
 * SRC "dir" is staged as DEST/dir, "dir/" as the contents of DEST (like
 * rsync), so a rerun with the same operands resumes instead of nesting.
 *
 * Under mpirun or srun (the rank and size in the environment) every rank
 * plans the same sorted walk and takes every ranks-th file; each rank
 * writes its own manifest (FILE.rank<R>).
 *
 * stage-out --watch SEC repeats the pass every SEC seconds while the
 * application runs (unchanged files cost a stat), until SIGINT/SIGTERM or
 * the --stop-file appears, then makes one final pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchfs.h"
#include "tools/benchfs_stage.h"

#define STAGE_DEFAULT_SPLT (64ull << 20)
/* Small files in flight per worker (docs/jobs.md#speed). */
#define STAGE_DEFAULT_THREADS 8
#define MIB                   (1024.0 * 1024.0)

static volatile sig_atomic_t stage_stop_signal;

static void on_stop_signal(int sig)
{
    stage_stop_signal = sig;
}

/* ------------------------------------------------------------- finishing */

/* Split files: rename into place when every range arrived; else remove. */
static void finish_split(struct stage_plan *p, const struct stage_opts *o)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        struct stage_file *f = &p->files[i];
        struct stage_attr a;
        int rc;

        if (f->nparts <= 1 || f->action != STAGE_COPY)
            continue;
        rc = f->result;
        if (rc == 0) {
            rc = p->dst_fs->stat(f->tmp, &a);
            if (rc == 0 && a.size != f->size) {
                cli_error("%s: '%s' has %llu bytes, expected %llu", o->cmd, f->dst,
                          (unsigned long long)a.size, (unsigned long long)f->size);
                rc = -EIO;
            }
            if (rc == 0 && (rc = p->dst_fs->set_attr(f->tmp, f->mode, f->mtime_ns)) < 0)
                cli_error("%s: cannot set mode and mtime of '%s': %s", o->cmd, f->tmp,
                          strerror(-rc));
            if (rc == 0 && (rc = p->dst_fs->rename(f->tmp, f->dst)) < 0)
                cli_error("%s: cannot rename into place '%s': %s", o->cmd, f->dst, strerror(-rc));
        }
        if (rc < 0) {
            p->dst_fs->unlink(f->tmp);
            f->result = rc;
            f->copied = false;
        }
    }
}

struct finish_dirs_ctx {
    struct stage_plan *p;
    const struct stage_opts *o;
    const size_t *at; /* the directories of one depth */
    _Atomic unsigned failed;
};

static void finish_dir_one(void *arg, size_t i)
{
    struct finish_dirs_ctx *x = arg;
    size_t d = x->at[i];
    int rc;

    rc =
        x->p->dst_fs->set_attr(x->p->dirs[d], x->p->dir_attrs[d].mode, x->p->dir_attrs[d].mtime_ns);
    if (rc < 0) {
        cli_error("%s: cannot set mode and mtime of '%s': %s", x->o->cmd, x->p->dirs[d],
                  strerror(-rc));
        atomic_fetch_add(&x->failed, 1);
    }
}

/* Directories last: creating entries changed their mtimes. Deepest first,
 * so that a mode without write or search permission comes after what is
 * below it; the directories of one depth at once. Returns the failures. */
static unsigned finish_dirs(struct stage_plan *p, const struct stage_opts *o)
{
    struct finish_dirs_ctx x = {.p = p, .o = o};
    size_t *at = malloc((p->ndirs ? p->ndirs : 1) * sizeof(*at));
    unsigned *depth = malloc((p->ndirs ? p->ndirs : 1) * sizeof(*depth)), max = 0;

    if (!at || !depth) {
        free(at);
        free(depth);
        cli_error("%s: out of memory", o->cmd);
        return 1;
    }
    for (size_t i = 0; i < p->ndirs; i++) {
        depth[i] = 0;
        for (const char *q = p->dirs[i]; *q; q++)
            depth[i] += *q == '/';
        if (depth[i] > max)
            max = depth[i];
    }
    x.at = at;
    for (unsigned d = max + 1; d-- > 0;) {
        size_t n = 0;

        for (size_t i = 0; i < p->ndirs; i++)
            if (depth[i] == d && p->dir_attrs[i].mode != 0)
                at[n++] = i;
        stage_parallel(n, p->dst_fs->remote, finish_dir_one, &x);
    }
    free(at);
    free(depth);
    return atomic_load(&x.failed);
}

/* Escape a path for one manifest line: \\, \n, \t and control bytes. */
static void manifest_path(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;

        if (ch == '\\')
            fputs("\\\\", out);
        else if (ch == '\n')
            fputs("\\n", out);
        else if (ch == '\t')
            fputs("\\t", out);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(out, "\\x%02x", ch);
        else
            fputc(ch, out);
    }
}

/*
 * The manifest: a header, then one line per file of this run
 *   <state> <size> <mode> <mtime_ns> <xxh3|-> <path below DEST>
 * state copied, unchanged or FAILED. Written under a temporary name and
 * renamed (on the destination side, or a local --manifest file).
 */
static int manifest_write(const struct stage_plan *p, const struct stage_cmd *c)
{
    const struct stage_fs *fs = c->manifest ? &stage_fs_local : p->dst_fs;
    char *text = NULL, *path = NULL, *tmp = NULL;
    size_t len = 0;
    FILE *out;
    int fd, rc = 0;

    if (c->no_manifest)
        return 0;
    out = open_memstream(&text, &len);
    if (!out)
        return -ENOMEM;
    fprintf(out, "# benchfs %s manifest 1\n# destination ", c->o.cmd);
    manifest_path(out, c->dest);
    fputc('\n', out);
    for (int i = 0; i < c->nsrcs; i++) {
        fputs("# source ", out);
        manifest_path(out, c->srcs[i]);
        fputc('\n', out);
    }
    fputs("# state size mode mtime_ns xxh3 path\n", out);
    for (size_t i = 0; i < p->nfiles; i++) {
        const struct stage_file *f = &p->files[i];
        const char *state = f->result < 0 ? "FAILED" : f->copied ? "copied" : "unchanged";

        fprintf(out, "%s %llu %04o %lld ", state, (unsigned long long)f->size, (unsigned)f->mode,
                (long long)f->mtime_ns);
        if (f->hash && f->nparts <= 1)
            fprintf(out, "%016llx ", (unsigned long long)f->hash);
        else
            fputs("- ", out);
        manifest_path(out, f->rel);
        fputc('\n', out);
    }
    if (fclose(out) != 0) {
        free(text);
        return -ENOMEM;
    }
    if (c->manifest) {
        if (c->o.ranks > 1 ? asprintf(&path, "%s.rank%u", c->manifest, c->o.rank) < 0
                           : !(path = strdup(c->manifest)))
            path = NULL;
    } else {
        char name[64];

        if (c->o.ranks > 1)
            snprintf(name, sizeof(name), STAGE_MANIFEST ".rank%u", c->o.rank);
        else
            snprintf(name, sizeof(name), STAGE_MANIFEST);
        path = stage_path_cat(c->dest, name);
    }
    if (!path || asprintf(&tmp, "%s.tmp", path) < 0) {
        free(path);
        free(text);
        return -ENOMEM;
    }
    fd = fs->open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rc = fd;
    } else {
        size_t off = 0;

        while (off < len && rc == 0) {
            ssize_t n = fs->pwrite(fd, text + off, len - off, off);

            rc = n < 0 ? (int)n : n == 0 ? -EIO : 0;
            off += n > 0 ? (size_t)n : 0;
        }
        int crc = fs->close(fd);
        if (rc == 0)
            rc = crc;
        if (rc == 0)
            rc = fs->rename(tmp, path);
        if (rc < 0)
            fs->unlink(tmp);
    }
    if (rc < 0)
        cli_error("%s: cannot write the manifest '%s': %s", c->o.cmd, path, strerror(-rc));
    free(tmp);
    free(path);
    free(text);
    return rc;
}

/* One whole pass. Returns the number of failed files (and planning
 * errors), or -1 when the pass could not run at all. */
static int stage_pass(struct cli_ctx *ctx, struct stage_cmd *c, bool summary)
{
    struct stage_plan p = {0};
    struct stage_run run;
    struct timespec t0;
    uint64_t bytes = 0;
    unsigned copied = 0, unchanged = 0, failed;
    char rankstr[48] = "";
    double t;
    int rc;

    p.src_fs = c->in ? &stage_fs_local : &stage_fs_benchfs;
    p.dst_fs = c->in ? &stage_fs_benchfs : &stage_fs_local;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (stage_shared_create(&p, &c->o) < 0)
        return -1;
    /* The workers first, forked while this process is disconnected (UCX is
     * not fork-safe): they connect while it connects and walks the
     * sources, and copy each item as soon as the walk publishes it. */
    if (cli_disconnect(ctx) != 0 || stage_start(ctx, &p, &c->o, &run) < 0) {
        stage_plan_free(&p);
        return -1;
    }
    rc = cli_connect(ctx) != 0 ? -1 : stage_plan_build(&p, c);
    stage_wait(&run, &p, &c->o);
    if (rc < 0) {
        if (rc != -1)
            cli_error("%s: out of memory", c->o.cmd);
        stage_plan_free(&p);
        return -1;
    }
    finish_split(&p, &c->o);
    /* A worker that died mid-copy may leave a partial new file: remove
     * what there is (a file a PUT made is whole, but it was reported as
     * not staged: a rerun copies it again). */
    for (size_t i = 0; i < p.nfiles; i++) {
        struct stage_file *f = &p.files[i];

        if (f->result == -EINTR && f->direct && f->nparts == 1 && p.dst_fs->unlink(f->dst) == 0)
            cli_error("%s: removed the interrupted copy '%s'", c->o.cmd, f->dst);
    }
    failed = p.errors;
    for (size_t i = 0; i < p.nfiles; i++) {
        const struct stage_file *f = &p.files[i];

        if (f->result < 0) {
            failed += f->action != STAGE_FAILED; /* planning failures are counted */
        } else if (f->copied) {
            copied++;
            bytes += f->size;
        } else {
            unchanged++;
        }
    }
    if (manifest_write(&p, c) < 0)
        failed++;
    failed += finish_dirs(&p, &c->o);
    t = cli_elapsed(&t0);
    if (c->o.ranks > 1)
        snprintf(rankstr, sizeof(rankstr), " (rank %u of %u)", c->o.rank, c->o.ranks);
    if (summary || failed)
        fprintf(stderr,
                "benchfs: %s%s: %u files copied, %u unchanged, %.1f MiB in %.2f s, %.1f MiB/s, "
                "%u error%s\n",
                c->o.cmd, rankstr, copied, unchanged, (double)bytes / MIB, t,
                t > 0 ? (double)bytes / MIB / t : 0.0, failed, failed == 1 ? "" : "s");
    stage_plan_free(&p);
    return (int)failed;
}

/* ------------------------------------------------------------- the command */

static void stage_help(bool in)
{
    printf("Usage: benchfs %s [OPTIONS] SRC... DEST\n", in ? "stage-in" : "stage-out");
    if (in)
        printf("Copy local files and trees SRC into the BenchFS directory DEST.\n");
    else
        printf("Copy BenchFS files and trees SRC into the local directory DEST.\n");
    printf("'dir' becomes DEST/dir, 'dir/' copies the contents of dir into DEST. DEST is\n"
           "created. Files the destination already has (same size, not older) are skipped,\n"
           "so an interrupted run is resumed by running it again.\n\n"
           "  -j, --jobs N          worker processes (default 4)\n"
           "      --threads N       small files in flight per worker (default %d)\n"
           "      --verify          compare xxh3 checksums of every copy; with it, files that\n"
           "                        look unchanged are compared by checksum too\n"
           "      --split SIZE      files larger than SIZE are split into SIZE ranges shared\n"
           "                        by the workers (default 64M)\n"
           "  -b, --buffer-size SIZE  bytes per read/write call (default 16M)\n"
           "      --bwlimit RATE    at most RATE bytes/s (K/M/G suffixes)\n"
           "      --manifest FILE   write the manifest to the local FILE (default: "
           "DEST/" STAGE_MANIFEST ")\n"
           "      --no-manifest     write none\n",
           STAGE_DEFAULT_THREADS);
    if (!in)
        printf("      --watch SEC       stage out every SEC seconds while the application runs,\n"
               "                        until SIGINT/SIGTERM or --stop-file, then once more\n"
               "      --stop-file FILE  end --watch when FILE exists\n");
    printf("      --rank R --ranks N  take every N-th file from the R-th (set from mpirun/srun)\n"
           "  -v, --verbose         one line per file\n"
           "  -q, --quiet           no progress bar (drawn only when stderr is a terminal)\n"
           "      --help            this help\n\n"
           "The last line on stderr is the summary: files, MiB, MiB/s, errors. Exit status\n"
           "1 when any file failed (each is named). See docs/jobs.md.\n");
}

/* Rank and size from mpirun (Open MPI), a PMI launcher, or a srun step. */
static void stage_detect_ranks(struct stage_opts *o)
{
    static const char *const pairs[][2] = {
        {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
        {"PMI_RANK", "PMI_SIZE"},
        {"SLURM_PROCID", "SLURM_STEP_NUM_TASKS"},
    };

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        const char *r = getenv(pairs[i][0]), *n = getenv(pairs[i][1]);
        long rank, size;

        /* A batch script has SLURM_PROCID but is no step: srun sets the id. */
        if (i == 2 && !getenv("SLURM_STEP_ID"))
            continue;
        if (!r || !n)
            continue;
        rank = strtol(r, NULL, 10);
        size = strtol(n, NULL, 10);
        if (size > 1 && rank >= 0 && rank < size) {
            o->rank = (unsigned)rank;
            o->ranks = (unsigned)size;
            return;
        }
    }
}

static int stage_parse_num(const char *cmd, const char *arg, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (end == arg || *end || v < lo || v > hi)
        return cli_usage_error(cmd, "invalid number '%s' (%ld..%ld)", arg, lo, hi);
    *out = v;
    return 0;
}

static int stage_main(struct cli_ctx *ctx, int argc, char **argv, bool in)
{
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 'T'},
        {"verify", no_argument, NULL, 'V'},
        {"split", required_argument, NULL, 'S'},
        {"buffer-size", required_argument, NULL, 'b'},
        {"bwlimit", required_argument, NULL, 'W'},
        {"manifest", required_argument, NULL, 'm'},
        {"no-manifest", no_argument, NULL, 'N'},
        {"watch", required_argument, NULL, 'w'},
        {"stop-file", required_argument, NULL, 'F'},
        {"rank", required_argument, NULL, 'R'},
        {"ranks", required_argument, NULL, 'Z'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = in ? "stage-in" : "stage-out";
    struct stage_cmd c = {0};
    struct sigaction sa = {0};
    long rank = -1, ranks = -1, v = 0;
    bool quiet = false;
    uint64_t size;
    int opt, rc;

    c.in = in;
    c.o.cmd = cmd;
    c.o.jobs = 4;
    c.o.threads = STAGE_DEFAULT_THREADS;
    c.o.bufsize = CLI_DEFAULT_XFER;
    c.o.split = STAGE_DEFAULT_SPLT;
    c.o.ranks = 1;
    while ((opt = getopt_long(argc, argv, "j:b:vq", longopts, NULL)) != -1) {
        switch (opt) {
        case 'j':
            if ((rc = stage_parse_num(cmd, optarg, 1, 256, &v)) != 0)
                return rc;
            c.o.jobs = (unsigned)v;
            break;
        case 'T':
            if ((rc = stage_parse_num(cmd, optarg, 1, 256, &v)) != 0)
                return rc;
            c.o.threads = (unsigned)v;
            break;
        case 'V':
            c.o.verify = true;
            break;
        case 'S':
            if (cli_parse_size(optarg, &size) < 0 || size < 4096)
                return cli_usage_error(cmd, "invalid split size '%s' (at least 4K)", optarg);
            c.o.split = size;
            break;
        case 'b':
            if (cli_parse_size(optarg, &size) < 0 || size < 4096 || size > (1ull << 30))
                return cli_usage_error(cmd, "invalid buffer size '%s' (4K .. 1G)", optarg);
            c.o.bufsize = (size_t)size;
            break;
        case 'W':
            if (cli_parse_size(optarg, &size) < 0 || size == 0)
                return cli_usage_error(cmd, "invalid rate '%s' (bytes/s)", optarg);
            c.o.bwlimit = size;
            break;
        case 'm':
            c.manifest = optarg;
            break;
        case 'N':
            c.no_manifest = true;
            break;
        case 'w': {
            char *end;

            c.watch_sec = strtod(optarg, &end);
            if (in || end == optarg || *end || !(c.watch_sec > 0) || c.watch_sec > 86400)
                return cli_usage_error(cmd,
                                       in ? "--watch is for stage-out"
                                          : "invalid --watch interval '%s' (seconds)",
                                       optarg);
            break;
        }
        case 'F':
            c.stop_file = optarg;
            break;
        case 'R':
            if ((rc = stage_parse_num(cmd, optarg, 0, 1 << 20, &rank)) != 0)
                return rc;
            break;
        case 'Z':
            if ((rc = stage_parse_num(cmd, optarg, 1, 1 << 20, &ranks)) != 0)
                return rc;
            break;
        case 'v':
            c.o.verbose = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'H':
            stage_help(in);
            return CLI_EXIT_OK;
        default:
            return cli_try_help(cmd);
        }
    }
    if (argc - optind < 2)
        return cli_usage_error(cmd, argc - optind == 0 ? "missing operands"
                                                       : "missing destination operand");
    if ((rank < 0) != (ranks < 0) || (ranks > 0 && rank >= ranks))
        return cli_usage_error(cmd, "--rank R and --ranks N go together, with R < N");
    if (c.stop_file && c.watch_sec == 0)
        return cli_usage_error(cmd, "--stop-file needs --watch");
    if (ranks > 0) {
        c.o.rank = (unsigned)rank;
        c.o.ranks = (unsigned)ranks;
    } else {
        stage_detect_ranks(&c.o);
    }
    c.o.progress = !quiet && c.o.rank == 0 && isatty(STDERR_FILENO);
    c.srcs = argv + optind;
    c.nsrcs = argc - optind - 1;
    if (in) {
        if (cli_path(argv[argc - 1], c.dest) < 0)
            return CLI_EXIT_USAGE;
    } else {
        size_t l = strlen(argv[argc - 1]);

        if (l >= sizeof(c.dest))
            return cli_usage_error(cmd, "destination too long");
        memcpy(c.dest, argv[argc - 1], l + 1);
        while (l > 1 && c.dest[l - 1] == '/')
            c.dest[--l] = '\0';
    }
    if (c.watch_sec == 0)
        return stage_pass(ctx, &c, true) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;

    /* --watch: passes until a signal or the stop file, then the last one. */
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (;;) {
        struct timespec t0;
        struct stat st;

        if (stage_pass(ctx, &c, c.o.verbose) < 0)
            return CLI_EXIT_FAIL;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (!stage_stop_signal && !(c.stop_file && stat(c.stop_file, &st) == 0) &&
               cli_elapsed(&t0) < c.watch_sec) {
            struct timespec ts = {0, 100 * 1000000L};

            nanosleep(&ts, NULL);
        }
        if (stage_stop_signal || (c.stop_file && stat(c.stop_file, &st) == 0))
            break;
    }
    if (c.o.verbose)
        fprintf(stderr, "benchfs: %s: watch ended (%s): final pass\n", cmd,
                stage_stop_signal ? "signal" : "stop file");
    return stage_pass(ctx, &c, true) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cmd_stage_in(struct cli_ctx *ctx, int argc, char **argv)
{
    return stage_main(ctx, argc, argv, true);
}

int cmd_stage_out(struct cli_ctx *ctx, int argc, char **argv)
{
    return stage_main(ctx, argc, argv, false);
}
