/*
 * bench_store.c - micro benchmark of the metadata store (src/store/meta.h):
 * creates, lookups and unlinks per second in a fresh store, flushing every
 * `per_pass` operations the way the server's loop does once per pass, then
 * creates and unlinks once more in the store that has seen the removals
 * ("again": LMDB reuses the freed pages oldest first, and they are cold,
 * docs/performance.md section 15). Prints numbers; asserts nothing.
 *
 *   bench_store [-n ops] [-p per_pass] [-d durability] [-s sync_every] [dir...]
 *
 * Each dir (default /tmp and /dev/shm) gets a private temporary store that
 * is removed afterwards. -d none|close|always (default: none and close);
 * -s N makes every Nth flush a syncing one (like a close in mode close).
 */
#include "common/config.h"
#include "common/timeutil.h"
#include "store/meta.h"

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bench_opts {
    long n;
    long per_pass;
    long sync_every; /* 0 = never sync */
};

static int bench_rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static double bench_rate(long n, uint64_t t0)
{
    return (double)n / ((double)(time_mono_ns() - t0) / 1e9);
}

/* One flush per pass; every sync_every-th pass syncs. */
static int bench_pass_end(struct meta *m, const struct bench_opts *o, long i)
{
    long pass = i / o->per_pass;

    if (i % o->per_pass != o->per_pass - 1)
        return 0;
    return meta_flush(m, o->sync_every > 0 && pass % o->sync_every == 0);
}

/* Create (or, with `remove`, unlink) /d/<prefix>.mdtest.0.<i> for every i:
 * ops per second; *rc: 0 or the first error (nothing runs once it is set). */
static double bench_files(struct meta *m, const struct bench_opts *o, const char *prefix,
                          bool remove, int *rc)
{
    struct meta_attr a;
    char path[128];
    uint64_t t0 = time_mono_ns();

    for (long i = 0; i < o->n && *rc == 0; i++) {
        int len = snprintf(path, sizeof(path), "/d/%s.mdtest.0.%ld", prefix, i);

        if (remove)
            *rc = meta_unlink(m, path, (size_t)len, &a);
        else
            *rc = meta_create(m, path, (size_t)len, 0644, 0, 0, 0, 0, &a, NULL, NULL);
        if (*rc == 0)
            *rc = bench_pass_end(m, o, i);
    }
    if (*rc == 0)
        *rc = meta_flush(m, true);
    return bench_rate(o->n, t0);
}

static int bench_one(const char *base, int durability, const struct bench_opts *o)
{
    struct meta_opts mo = {.map_size = 8ull << 30, .durability = durability, .node_tag = 1};
    struct meta_attr a;
    struct meta *m;
    char dir[4200], path[128], err[256];
    double create, lookup, unlink_, create2, unlink2;
    uint64_t t0;
    long i;
    int rc;

    snprintf(dir, sizeof(dir), "%s/bench-store-XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "%s: %s\n", base, strerror(errno));
        return -errno;
    }
    rc = meta_open(dir, &mo, &m, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "meta_open: %s\n", err);
        goto out_rm;
    }
    rc = meta_mkdir(m, "/d", 2, 0755, 0, 0, true);
    if (rc != 0)
        goto out_close;

    /* mdtest-like names, all in one directory. */
    create = bench_files(m, o, "file", false, &rc);

    t0 = time_mono_ns();
    for (i = 0; i < o->n && rc == 0; i++) {
        int len = snprintf(path, sizeof(path), "/d/file.mdtest.0.%ld", (i * 7919) % o->n);

        rc = meta_lookup(m, path, (size_t)len, &a);
        if (rc == 0)
            rc = bench_pass_end(m, o, i);
    }
    lookup = bench_rate(o->n, t0);

    unlink_ = bench_files(m, o, "file", true, &rc);
    create2 = bench_files(m, o, "again", false, &rc);
    unlink2 = bench_files(m, o, "again", true, &rc);

    if (rc == 0)
        printf("%-10s %-7s n=%ld per_pass=%ld sync_every=%ld: create %.0f/s  lookup %.0f/s  "
               "unlink %.0f/s  again: create %.0f/s  unlink %.0f/s\n",
               base, config_durability_name(durability), o->n, o->per_pass, o->sync_every, create,
               lookup, unlink_, create2, unlink2);
    else
        fprintf(stderr, "%s: %s\n", base, strerror(-rc));
out_close:
    meta_close(m);
out_rm:
    nftw(dir, bench_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

static int bench_durability(const char *s)
{
    if (strcmp(s, "none") == 0)
        return DURABILITY_NONE;
    if (strcmp(s, "close") == 0)
        return DURABILITY_CLOSE;
    if (strcmp(s, "always") == 0)
        return DURABILITY_ALWAYS;
    return -1;
}

int main(int argc, char **argv)
{
    struct bench_opts o = {.n = 500000, .per_pass = 64, .sync_every = 0};
    const char *defaults[] = {"/tmp", "/dev/shm"};
    int durabilities[3] = {DURABILITY_NONE, DURABILITY_CLOSE}, nd = 2, c, i, j, rc = 0;

    while ((c = getopt(argc, argv, "n:p:d:s:")) != -1) {
        switch (c) {
        case 'n':
            o.n = atol(optarg);
            break;
        case 'p':
            o.per_pass = atol(optarg);
            break;
        case 's':
            o.sync_every = atol(optarg);
            break;
        case 'd':
            durabilities[0] = bench_durability(optarg);
            nd = 1;
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-n ops] [-p per_pass] [-d none|close|always] [-s sync_every] "
                    "[dir...]\n",
                    argv[0]);
            return 2;
        }
    }
    if (o.n <= 0 || o.per_pass <= 0 || o.sync_every < 0 || durabilities[0] < 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    for (i = 0; i < nd; i++) {
        if (optind < argc) {
            for (j = optind; j < argc; j++)
                rc |= bench_one(argv[j], durabilities[i], &o);
        } else {
            for (j = 0; j < 2; j++)
                if (access(defaults[j], W_OK) == 0)
                    rc |= bench_one(defaults[j], durabilities[i], &o);
        }
    }
    return rc != 0;
}
