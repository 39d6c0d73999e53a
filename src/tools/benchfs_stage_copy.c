/*
 * benchfs_stage_copy.c - the workers of `benchfs stage-in/stage-out`: copy
 * one work item (a whole file or one byte range of a split file) or a
 * batch of new small files, the forked worker processes that claim items
 * from shared counters as the planner publishes them, their threads, the
 * pass's shared mapping, and the progress bar the parent draws meanwhile.
 *
 * New small files are gathered per thread (up to STAGE_BATCH_MAX, 1 MiB)
 * and moved together: read with one stage_fs.get (from BenchFS: GETs that
 * bring many files' bytes in their replies), made with one stage_fs.put
 * (on BenchFS: PUTs that make each name only with all of its bytes, mode
 * and mtime). Any other new destination file is created with its final
 * mode (workers run with umask 0), written in place, given its mtime on the
 * open descriptor and closed; if anything fails it is removed again. A
 * file that exists is
 * written under a temporary name next to it (struct stage_file.tmp), given
 * its mode and mtime, and renamed into place only when every byte arrived
 * (and, with --verify, read back with the same checksum), so a destination
 * name never holds a half-written file it did not have before. A failed
 * copy removes its temporary file. Ranges of a split file go into a
 * temporary file the planner created; the planner renames it once every
 * range is done (benchfs_stage.c).
 *
 * Workers are processes: each one is its own BenchFS client, so their RPCs
 * never queue behind each other in one client. A small file costs a few
 * round trips and almost no bytes, so inside a worker several threads
 * (of that one client, whose calls proceed in parallel) each copy one:
 * thread 0 claims the large items (with a buffer of --buffer-size) and,
 * when none is left, small ones; the other threads only small ones, with
 * buffers of at most STAGE_SMALL_MAX. So large files never take more than
 * one buffer of --buffer-size per worker, nor wait behind small files.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "benchfs.h"
#include "tools/benchfs_stage.h"

#define MIB (1024.0 * 1024.0)
/* How often the parent redraws the progress bar. */
#define STAGE_PROGRESS_MS 100

/* Files of at most this many bytes are small: any thread copies them. */
#define STAGE_SMALL_MAX (1u << 20)

/* A thread that finds no item while the walk goes on naps, longer each
 * time up to this (the walk publishes thousands of items a second). */
#define STAGE_NAP_MAX_US 2000

/* One worker process: what its threads share. Its plan is the planner's
 * at the fork: files and items are read from the shared mapping, their
 * counts from the shared counters. */
struct stage_worker {
    const struct stage_plan *p;
    const struct stage_opts *o;
    struct stage_shared *sh;
    struct timespec start; /* of the run (--bwlimit) */
};

/* One thread of a worker, with its own buffer. */
struct stage_thread {
    struct stage_worker *w;
    bool large; /* claims large items first */
    char *buf;
    size_t buflen;
    pthread_t tid;
    /* The batch: new small files, read into buf by one stage_fs.get and
     * made by one stage_fs.put. */
    size_t nbatch, used, limit;
    size_t bidx[STAGE_BATCH_MAX];
    struct stage_get bget[STAGE_BATCH_MAX];
    struct stage_put bput[STAGE_BATCH_MAX];
};

/* "benchfs: stage-in: cannot write '/x': No space left on device", with the
 * library's detail when the BenchFS side failed with a non-obvious error. */
static void stage_report(const struct stage_opts *o, const struct stage_fs *fs, const char *what,
                         const char *path, int err)
{
    const char *detail = fs->remote ? benchfs_last_error() : NULL;

    if (detail && *detail && strcmp(detail, strerror(err)) != 0 && err != ENOENT && err != ENOSPC)
        cli_error("%s: %s '%s': %s (%s)", o->cmd, what, path, strerror(err), detail);
    else
        cli_error("%s: %s '%s': %s", o->cmd, what, path, strerror(err));
}

/* --bwlimit: count n more bytes of all workers, and sleep while they are
 * ahead of the rate since the run's start (so the limit holds however the
 * work spreads over the workers). */
static void bw_throttle(struct stage_worker *w, uint64_t n)
{
    uint64_t bytes = atomic_fetch_add(&w->sh->paced, n) + n;
    double due, now;

    if (w->o->bwlimit == 0)
        return;
    due = (double)bytes / (double)w->o->bwlimit;
    now = cli_elapsed(&w->start);
    if (due > now) {
        double d = due - now;
        struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};

        nanosleep(&ts, NULL);
    }
}

/* Checksum of `len` bytes of `path` from `off`. 0 or -errno (reported). */
static int hash_range(const struct stage_opts *o, const struct stage_fs *fs, const char *path,
                      uint64_t off, uint64_t len, char *buf, size_t buflen, uint64_t *hash_p)
{
    XXH3_state_t *st = XXH3_createState();
    uint64_t end = off + len;
    int fd, rc = 0;

    if (!st)
        return -ENOMEM;
    XXH3_64bits_reset(st);
    fd = fs->open(path, O_RDONLY, 0);
    if (fd < 0) {
        stage_report(o, fs, "cannot open", path, -fd);
        XXH3_freeState(st);
        return fd;
    }
    while (off < end) {
        size_t want = end - off < buflen ? (size_t)(end - off) : buflen;
        ssize_t n = fs->pread(fd, buf, want, off);

        if (n <= 0) {
            rc = n < 0 ? (int)n : -EIO;
            if (n == 0)
                cli_error("%s: '%s' is shorter than expected (%llu bytes)", o->cmd, path,
                          (unsigned long long)end);
            else
                stage_report(o, fs, "error reading", path, (int)-n);
            break;
        }
        XXH3_64bits_update(st, buf, (size_t)n);
        off += (uint64_t)n;
    }
    fs->close(fd);
    if (rc == 0)
        *hash_p = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return rc;
}

/* Write all of buf at off. 0 or -errno. */
static int write_full(const struct stage_fs *fs, int fd, const char *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = fs->pwrite(fd, buf, len, off);

        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO; /* no progress: never spin */
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/*
 * Copy one item with thread t's buffer. Returns STAGE_ST_DONE, STAGE_ST_EQUAL
 * (a STAGE_CHECK file whose checksums match) or -errno after reporting it.
 */
static int copy_item(struct stage_thread *t, size_t idx)
{
    struct stage_worker *w = t->w;
    const struct stage_plan *p = w->p;
    const struct stage_opts *o = w->o;
    struct stage_shared *sh = w->sh;
    const struct stage_item *it = &p->items[idx];
    const struct stage_file *f = &p->files[it->file];
    const struct stage_fs *sfs = p->src_fs, *dfs = p->dst_fs;
    bool whole = f->nparts == 1;
    XXH3_state_t *xs = NULL;
    uint64_t off = it->off, end = it->off + it->len, h_src = 0, h_dst = 0;
    int64_t mtime = f->mtime_ns;
    const char *out = f->tmp;
    char *buf = t->buf;
    int sfd, dfd = -1, rc = 0;

    if (f->action == STAGE_CHECK) {
        rc = hash_range(o, sfs, f->src, 0, f->size, buf, t->buflen, &h_src);
        if (rc < 0)
            return rc;
        if (hash_range(o, dfs, f->dst, 0, f->size, buf, t->buflen, &h_dst) == 0 && h_src == h_dst) {
            sh->hash[idx] = h_src;
            return STAGE_ST_EQUAL;
        }
        if (o->verbose)
            fprintf(stderr, "%s: '%s' differs (checksum): copying again\n", o->cmd, f->dst);
    }
    if (o->verify) {
        xs = XXH3_createState();
        if (!xs)
            return -ENOMEM;
        XXH3_64bits_reset(xs);
    }
    sfd = sfs->open(f->src, O_RDONLY, 0);
    if (sfd < 0) {
        stage_report(o, sfs, "cannot open", f->src, -sfd);
        rc = sfd;
        goto free_hash;
    }
    if (f->mtime_unknown) {
        /* Planned from a directory listing: the open file has it all. */
        struct stage_attr a;

        rc = sfs->fstat(sfd, &a);
        if (rc < 0) {
            stage_report(o, sfs, "cannot stat", f->src, -rc);
            goto close_src;
        }
        mtime = a.mtime_ns;
        sh->mtime[idx] = mtime;
        if (whole)
            end = a.size;
    }
    /* A new destination is written in place (removed again on failure),
     * created with its final mode; an existing one is replaced by a rename
     * only once the copy is whole. */
    out = whole && f->direct ? f->dst : f->tmp;
    dfd = whole ? dfs->open(out, O_WRONLY | O_CREAT | (f->direct ? O_EXCL : O_TRUNC), f->mode)
                : dfs->open(out, O_WRONLY, 0);
    if (dfd < 0) {
        stage_report(o, dfs, "cannot create", out, -dfd);
        rc = dfd;
        goto close_src;
    }
    while (off < end) {
        size_t want = end - off < t->buflen ? (size_t)(end - off) : t->buflen;
        ssize_t n = sfs->pread(sfd, buf, want, off);

        if (n < 0) {
            stage_report(o, sfs, "error reading", f->src, (int)-n);
            rc = (int)n;
            break;
        }
        if (n == 0) {
            cli_error("%s: '%s' shrank while it was staged (%llu of %llu bytes)", o->cmd, f->src,
                      (unsigned long long)off, (unsigned long long)end);
            rc = -EIO;
            break;
        }
        rc = write_full(dfs, dfd, buf, (size_t)n, off);
        if (rc < 0) {
            stage_report(o, dfs, "cannot write", f->dst, -rc);
            break;
        }
        if (xs)
            XXH3_64bits_update(xs, buf, (size_t)n);
        off += (uint64_t)n;
        atomic_fetch_add(&sh->bytes, (uint64_t)n);
        bw_throttle(w, (uint64_t)n);
    }
    /* Mode (unless created with it) and mtime while the file is open: on
     * BenchFS this publishes the size, so the close stamps nothing later. */
    if (whole && rc == 0) {
        rc = dfs->fset_attr(dfd, !f->direct, f->mode, mtime);
        if (rc < 0)
            stage_report(o, dfs, "cannot set mode and mtime of", out, -rc);
    }
    /* close publishes the size on BenchFS when nothing did: its failure
     * loses the data. */
    {
        int crc = dfs->close(dfd);

        if (crc < 0 && rc == 0) {
            stage_report(o, dfs, "cannot close", f->dst, -crc);
            rc = crc;
        }
    }
    if (rc == 0 && xs) {
        h_src = XXH3_64bits_digest(xs);
        rc = hash_range(o, dfs, out, it->off, end - it->off, buf, t->buflen, &h_dst);
        if (rc == 0 && h_src != h_dst) {
            cli_error("%s: checksum mismatch on '%s' (bytes %llu..%llu): source %016llx, copy "
                      "%016llx",
                      o->cmd, f->dst, (unsigned long long)it->off, (unsigned long long)end,
                      (unsigned long long)h_src, (unsigned long long)h_dst);
            rc = -EIO;
        }
        sh->hash[idx] = h_src;
    }
    if (whole && rc == 0 && !f->direct) {
        rc = dfs->rename(f->tmp, f->dst);
        if (rc < 0)
            stage_report(o, dfs, "cannot rename into place", f->dst, -rc);
    }
    if (whole && rc < 0 && dfd >= 0)
        dfs->unlink(out); /* nothing half-written stays behind */
close_src:
    sfs->close(sfd);
free_hash:
    if (xs)
        XXH3_freeState(xs);
    if (rc == 0 && o->verbose && whole)
        fprintf(stderr, "%s: '%s' -> '%s' (%llu bytes)\n", o->cmd, f->src, f->dst,
                (unsigned long long)f->size);
    return rc < 0 ? rc : STAGE_ST_DONE;
}

/* Record the outcome of item idx (STAGE_ST_* or -errno). */
static void item_done(struct stage_worker *w, size_t idx, int st)
{
    atomic_store(&w->sh->status[idx], st);
    atomic_fetch_add(&w->sh->done, 1);
}

/*
 * Read the sources of t's batch (one stage_fs.get), make the new files
 * (one stage_fs.put) and record their results. A source that no longer
 * fits its room is copied on its own afterwards.
 */
static void batch_flush(struct stage_thread *t)
{
    struct stage_worker *w = t->w;
    const struct stage_opts *o = w->o;
    const struct stage_plan *p = w->p;
    const struct stage_fs *dfs = p->dst_fs;
    uint64_t h_src[STAGE_BATCH_MAX], h_dst, bytes = 0;
    size_t put_idx[STAGE_BATCH_MAX], later[STAGE_BATCH_MAX], nput = 0, nlater = 0;
    size_t n = t->nbatch;

    if (n == 0)
        return;
    t->nbatch = t->used = 0;
    p->src_fs->get(t->bget, n);
    for (size_t k = 0; k < n; k++) {
        const struct stage_get *g = &t->bget[k];
        size_t idx = t->bidx[k];
        const struct stage_file *f = &p->files[p->items[idx].file];
        int64_t mtime = f->mtime_ns;
        size_t len = f->size;

        if (g->result < 0) {
            stage_report(o, p->src_fs, "cannot read", f->src, -g->result);
            item_done(w, idx, g->result);
            continue;
        }
        if (g->len < 0) {
            later[nlater++] = idx; /* grew past its room, or no regular file now */
            continue;
        }
        if (f->mtime_unknown) {
            /* Planned from a directory listing: the file as read has it all. */
            len = (size_t)g->len;
            mtime = g->a.mtime_ns;
            w->sh->mtime[idx] = mtime;
        } else if ((size_t)g->len < len) {
            cli_error("%s: '%s' shrank while it was staged (%zd of %zu bytes)", o->cmd, f->src,
                      g->len, len);
            item_done(w, idx, -EIO);
            continue;
        }
        put_idx[nput] = idx;
        t->bput[nput++] = (struct stage_put){
            .path = f->dst, .data = g->buf, .len = len, .mode = f->mode, .mtime_ns = mtime};
        bytes += len;
    }
    if (o->verify)
        for (size_t k = 0; k < nput; k++)
            h_src[k] = XXH3_64bits(t->bput[k].data, t->bput[k].len);
    /* --bwlimit before the files are made (the worker's items stay
     * claimed meanwhile: interrupted ones are named). */
    bw_throttle(w, bytes);
    if (nput > 0)
        dfs->put(t->bput, nput);
    bytes = 0;
    for (size_t k = 0; k < nput; k++) {
        const struct stage_put *bp = &t->bput[k];
        size_t idx = put_idx[k];
        int rc = bp->result;

        if (rc < 0)
            cli_error("%s: cannot create '%s': %s", o->cmd, bp->path, strerror(-rc));
        else
            bytes += bp->len;
        /* --verify: read back (into the buffer, whose bytes are no longer
         * needed) and compare; a copy that differs goes. */
        if (rc == 0 && o->verify) {
            w->sh->hash[idx] = h_src[k];
            rc = hash_range(o, dfs, bp->path, 0, bp->len, t->buf, t->buflen, &h_dst);
            if (rc == 0 && h_dst != h_src[k]) {
                cli_error("%s: checksum mismatch on '%s': source %016llx, copy %016llx", o->cmd,
                          bp->path, (unsigned long long)h_src[k], (unsigned long long)h_dst);
                rc = -EIO;
            }
            if (rc < 0)
                dfs->unlink(bp->path);
        }
        if (rc == 0 && o->verbose)
            fprintf(stderr, "%s: '%s' -> '%s' (%zu bytes)\n", o->cmd,
                    p->files[p->items[idx].file].src, bp->path, bp->len);
        item_done(w, idx, rc < 0 ? rc : STAGE_ST_DONE);
    }
    atomic_fetch_add(&w->sh->bytes, bytes);
    for (size_t k = 0; k < nlater; k++)
        item_done(w, later[k], copy_item(t, later[k]));
}

/* Files of a batch that starts now: a share of the small files published
 * and not claimed yet, so that a few files still spread over the threads
 * of every worker while a long list goes in large batches;
 * 1..STAGE_BATCH_MAX. */
static size_t batch_limit(const struct stage_worker *w)
{
    uint64_t published = atomic_load(&w->sh->nsmall), claimed = atomic_load(&w->sh->next_small);
    /* (more may have been published and claimed between the two loads) */
    size_t n = claimed < published
                   ? (size_t)((published - claimed) / ((uint64_t)w->o->jobs * w->o->threads))
                   : 0;

    return n < 1 ? 1 : n > STAGE_BATCH_MAX ? STAGE_BATCH_MAX : n;
}

/*
 * Take item idx into t's batch when it is a new file that fits (its result
 * comes with the batch's flush): true, or false when it is to be copied on
 * its own.
 */
static bool batch_add(struct stage_thread *t, size_t idx)
{
    struct stage_worker *w = t->w;
    const struct stage_file *f = &w->p->files[w->p->items[idx].file];
    size_t cap = t->buflen < STAGE_SMALL_MAX ? t->buflen : STAGE_SMALL_MAX;

    /* A file takes its size and one byte of room: one that fills it grew
     * (stage_fs.get reads no more than the room). */
    if (f->nparts != 1 || !f->direct || f->action != STAGE_COPY || f->size >= cap)
        return false;
    if (t->nbatch == 0)
        t->limit = batch_limit(w);
    if (t->nbatch >= t->limit || t->used + f->size + 1 > cap) {
        batch_flush(t);
        t->limit = batch_limit(w);
    }
    t->bidx[t->nbatch] = idx;
    t->bget[t->nbatch++] =
        (struct stage_get){.path = f->src, .buf = t->buf + t->used, .cap = (size_t)f->size + 1};
    t->used += (size_t)f->size + 1;
    return true;
}

/* The next published item of one list, or false when none is now. */
static bool claim_from(_Atomic uint64_t *next, _Atomic uint64_t *published, const uint32_t *list,
                       size_t *idx_p)
{
    uint64_t i = atomic_load(next);

    while (i < atomic_load_explicit(published, memory_order_acquire))
        if (atomic_compare_exchange_weak(next, &i, i + 1)) {
            *idx_p = list[i];
            return true;
        }
    return false;
}

/* The next item for thread t, a large one first when it takes them: 1, 0
 * when none is published now (the walk goes on), -1 when none is left. */
static int thread_claim(struct stage_thread *t, size_t *idx_p)
{
    struct stage_shared *sh = t->w->sh;
    bool planned = atomic_load_explicit(&sh->planned, memory_order_acquire);

    if (t->large && claim_from(&sh->next_large, &sh->nlarge, sh->large, idx_p))
        return 1;
    if (claim_from(&sh->next_small, &sh->nsmall, sh->small, idx_p))
        return 1;
    /* read before the lists: nothing was published after it was set */
    return planned ? -1 : 0;
}

static void *thread_main(void *arg)
{
    struct stage_thread *t = arg;
    struct stage_shared *sh = t->w->sh;
    long nap_us = 50;
    size_t i;
    int r;

    while ((r = thread_claim(t, &i)) >= 0) {
        if (r == 0) {
            /* Nothing published yet: what is gathered goes now, then nap. */
            struct timespec ts = {0, nap_us * 1000};

            batch_flush(t);
            nanosleep(&ts, NULL);
            if (nap_us < STAGE_NAP_MAX_US)
                nap_us *= 2;
            continue;
        }
        nap_us = 50;
        atomic_store(&sh->status[i], STAGE_ST_CLAIMED);
        if (batch_add(t, i))
            continue;
        batch_flush(t); /* its buffer is needed now */
        item_done(t->w, i, copy_item(t, i));
    }
    batch_flush(t);
    return NULL;
}

/*
 * One worker process: connect, run its threads until no item is left.
 * Thread 0 is this one; a thread that cannot be started is left out (0 takes
 * every kind of item, so all of them still get done).
 */
static int worker_main(struct cli_ctx *ctx, struct stage_worker *w)
{
    const struct stage_opts *o = w->o;
    size_t small_buf = o->bufsize < STAGE_SMALL_MAX ? o->bufsize : STAGE_SMALL_MAX;
    unsigned n = o->threads, started = 0;
    struct stage_thread *thr;
    char *buf0 = NULL;
    int rc;

    /* Files are created with their sources' modes, exactly. */
    umask(0);
    if (w->p->src_fs->remote || w->p->dst_fs->remote) {
        rc = cli_connect(ctx);
        if (rc)
            return rc;
    }
    thr = calloc(n, sizeof(*thr));
    if (!thr || posix_memalign((void **)&buf0, 4096, o->bufsize) != 0) {
        cli_error("%s: cannot allocate a %zu-byte buffer", o->cmd, o->bufsize);
        free(thr);
        return CLI_EXIT_FAIL;
    }
    thr[0] = (struct stage_thread){.w = w, .large = true, .buf = buf0, .buflen = o->bufsize};
    for (unsigned k = 1; k < n; k++) {
        thr[k] = (struct stage_thread){.w = w, .buflen = small_buf};
        if (posix_memalign((void **)&thr[k].buf, 4096, small_buf) != 0)
            break;
        if (pthread_create(&thr[k].tid, NULL, thread_main, &thr[k]) != 0) {
            free(thr[k].buf);
            break;
        }
        started++;
    }
    thread_main(&thr[0]);
    for (unsigned k = 1; k <= started; k++) {
        pthread_join(thr[k].tid, NULL);
        free(thr[k].buf);
    }
    free(thr[0].buf);
    free(thr);
    return cli_disconnect(ctx);
}

/* The parent's bar: items and bytes from the shared counters. */
static void progress_draw(const struct stage_opts *o, const struct stage_plan *p,
                          struct stage_shared *sh, const struct timespec *start, bool final)
{
    uint64_t bytes = atomic_load(&sh->bytes), done = atomic_load(&sh->done);
    double t = cli_elapsed(start), frac;
    char bar[25];
    int fill;

    frac = p->bytes_total ? (double)bytes / (double)p->bytes_total
                          : (p->nitems ? (double)done / (double)p->nitems : 1.0);
    if (frac > 1.0)
        frac = 1.0;
    fill = (int)(frac * 24.0);
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '-', (size_t)(24 - fill));
    bar[24] = '\0';
    fprintf(stderr, "\r%s [%s] %3d%% %llu/%zu items %9.1f MiB %8.1f MiB/s ", o->cmd, bar,
            (int)(frac * 100.0), (unsigned long long)done, p->nitems, (double)bytes / MIB,
            t > 0 ? (double)bytes / MIB / t : 0.0);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

int stage_shared_create(struct stage_plan *p, const struct stage_opts *o)
{
    /* The counters on the first page, then the regions one after the
     * other (sizes multiples of 8: each stays aligned). */
    const size_t n = STAGE_MAX_ITEMS;
    const size_t o_status = 4096, o_hash = o_status + n * sizeof(int32_t);
    const size_t o_mtime = o_hash + n * sizeof(uint64_t), o_large = o_mtime + n * sizeof(int64_t);
    const size_t o_small = o_large + n * sizeof(uint32_t);
    const size_t o_items = o_small + n * sizeof(uint32_t);
    const size_t o_files = o_items + n * sizeof(struct stage_item);
    const size_t o_strings = o_files + n * sizeof(struct stage_file);
    const size_t len = o_strings + STAGE_MAX_STRINGS;
    struct stage_shared *sh;
    char *map;

    _Static_assert(sizeof(struct stage_shared) <= 4096, "the counters' page");
    map =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) {
        int err = errno;

        cli_error("%s: cannot map %zu bytes of shared memory: %s", o->cmd, len, strerror(err));
        return -err;
    }
    sh = (struct stage_shared *)map;
    sh->map_len = len;
    sh->status = (_Atomic int32_t *)(map + o_status);
    sh->hash = (uint64_t *)(map + o_hash);
    sh->mtime = (int64_t *)(map + o_mtime);
    sh->large = (uint32_t *)(map + o_large);
    sh->small = (uint32_t *)(map + o_small);
    sh->items = (struct stage_item *)(map + o_items);
    sh->files = (struct stage_file *)(map + o_files);
    sh->strings = map + o_strings;
    p->sh = sh;
    p->files = sh->files;
    p->items = sh->items;
    p->small_max = o->bufsize < STAGE_SMALL_MAX ? o->bufsize : STAGE_SMALL_MAX;
    return 0;
}

void stage_shared_destroy(struct stage_plan *p)
{
    if (p->sh != NULL)
        munmap(p->sh, p->sh->map_len);
    p->sh = NULL;
    p->files = NULL;
    p->items = NULL;
}

char *stage_strdup(struct stage_plan *p, const char *s)
{
    size_t len = strlen(s) + 1;
    char *d;

    if (p->strings_used + len > STAGE_MAX_STRINGS)
        return NULL;
    d = p->sh->strings + p->strings_used;
    memcpy(d, s, len);
    p->strings_used += len;
    return d;
}

void stage_publish(struct stage_plan *p, size_t i)
{
    struct stage_shared *sh = p->sh;
    const struct stage_item *it = &p->items[i];

    /* Ranges and files over small_max for thread 0 of each worker, small
     * ones for every thread; the number first, then the count (release). */
    if (p->files[it->file].nparts > 1 || it->len > p->small_max) {
        uint64_t n = atomic_load_explicit(&sh->nlarge, memory_order_relaxed);

        sh->large[n] = (uint32_t)i;
        atomic_store_explicit(&sh->nlarge, n + 1, memory_order_release);
    } else {
        uint64_t n = atomic_load_explicit(&sh->nsmall, memory_order_relaxed);

        sh->small[n] = (uint32_t)i;
        atomic_store_explicit(&sh->nsmall, n + 1, memory_order_release);
    }
}

int stage_start(struct cli_ctx *ctx, struct stage_plan *p, const struct stage_opts *o,
                struct stage_run *run)
{
    struct stage_worker wk = {.p = p, .o = o, .sh = p->sh};
    int gone[2];

    memset(run, 0, sizeof(*run));
    run->gone = -1;
    run->pids = calloc(o->jobs, sizeof(*run->pids));
    if (!run->pids) {
        cli_error("%s: out of memory", o->cmd);
        return -ENOMEM;
    }
    if (pipe2(gone, O_CLOEXEC) < 0) {
        int err = errno;

        cli_error("%s: cannot create a pipe: %s", o->cmd, strerror(err));
        free(run->pids);
        run->pids = NULL;
        return -err;
    }
    clock_gettime(CLOCK_MONOTONIC, &run->start);
    wk.start = run->start;
    fflush(stdout);
    fflush(stderr);
    for (unsigned w = 0; w < o->jobs; w++) {
        pid_t pid = fork();

        if (pid < 0) {
            cli_error("%s: cannot start worker %u: %s", o->cmd, w, strerror(errno));
            break;
        }
        if (pid == 0) {
            int rc;

            close(gone[0]);
            rc = worker_main(ctx, &wk);
            fflush(stderr);
            _exit(rc);
        }
        run->pids[run->nworkers++] = pid;
    }
    /* Every worker holds the pipe's write end: the read end reports the
     * end of file as soon as the last one is gone, however it ended. */
    close(gone[1]);
    run->gone = gone[0];
    if (run->nworkers == 0) {
        close(run->gone);
        free(run->pids);
        run->pids = NULL;
        return -ECHILD;
    }
    return 0;
}

void stage_wait(struct stage_run *run, struct stage_plan *p, const struct stage_opts *o)
{
    struct stage_shared *sh = p->sh;
    size_t unstarted = 0;
    bool drawn = false;

    atomic_store_explicit(&sh->planned, 1, memory_order_release);
    for (;;) {
        struct pollfd pfd = {.fd = run->gone, .events = POLLIN};
        int r = poll(&pfd, 1, o->progress ? STAGE_PROGRESS_MS : -1);

        if (r > 0 || (r < 0 && errno != EINTR))
            break;
        if (o->progress) {
            progress_draw(o, p, sh, &run->start, false);
            drawn = true;
        }
    }
    close(run->gone);
    for (unsigned w = 0; w < run->nworkers; w++) {
        int ws;

        while (waitpid(run->pids[w], &ws, 0) < 0 && errno == EINTR)
            ;
        /* An error of the run even when it held no file at the time. */
        if (WIFSIGNALED(ws) || WEXITSTATUS(ws) != 0)
            p->errors++;
        if (WIFSIGNALED(ws))
            cli_error("%s: worker %u (pid %ld) was killed by signal %d", o->cmd, w,
                      (long)run->pids[w], WTERMSIG(ws));
        else if (WEXITSTATUS(ws) != 0)
            cli_error("%s: worker %u (pid %ld) failed (exit status %d)", o->cmd, w,
                      (long)run->pids[w], WEXITSTATUS(ws));
    }
    free(run->pids);
    run->pids = NULL;
    if (drawn)
        progress_draw(o, p, sh, &run->start, true);

    /* Results: a claimed item whose worker died was interrupted; a pending
     * one was never started (every worker gone). */
    for (size_t i = 0; i < p->nitems; i++) {
        struct stage_file *f = &p->files[p->items[i].file];
        int st = atomic_load(&sh->status[i]);
        int res = st == STAGE_ST_PENDING ? -ECANCELED : st == STAGE_ST_CLAIMED ? -EINTR : st;

        if (res < 0) {
            /* Name every interrupted file, but not 10,000 never started. */
            if (res == -EINTR && f->result == 0)
                cli_error("%s: '%s' was not staged (its worker died)", o->cmd, f->src);
            if (res == -ECANCELED && f->result == 0 && ++unstarted <= 10)
                cli_error("%s: '%s' was not staged (no worker left)", o->cmd, f->src);
            if (f->result == 0)
                f->result = res;
            continue;
        }
        if (res == STAGE_ST_DONE)
            f->copied = true;
        if (f->mtime_unknown && sh->mtime[i])
            f->mtime_ns = sh->mtime[i];
        if (f->nparts == 1)
            f->hash = sh->hash[i];
    }
    if (unstarted > 10)
        cli_error("%s: ... and %zu more files not staged (no worker left)", o->cmd, unstarted - 10);
}
