/*
 * bench_stats.c - latency statistics for benchfs-bench (bench.h).
 *
 * Two forms: exact samples, sorted once at the end (the small benchmark's
 * hundreds of iterations), and a log-linear histogram for runs of millions
 * of operations spread over forked processes (rpc ping), where each worker
 * fills its own histogram in shared memory and the coordinator merges them.
 *
 * Percentiles use the nearest-rank definition: p50 of 100 samples is the
 * 50th smallest.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int bench_samples_init(struct bench_samples *s, size_t cap)
{
    s->ns = calloc(cap ? cap : 1, sizeof(*s->ns));
    if (s->ns == NULL)
        return -ENOMEM;
    s->n = 0;
    s->cap = cap;
    return 0;
}

void bench_samples_add(struct bench_samples *s, uint64_t ns)
{
    if (s->n < s->cap)
        s->ns[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least q of the samples <= it. */
static size_t rank_index(size_t n, double q)
{
    double r = ceil(q * (double)n);

    if (r < 1)
        r = 1;
    if (r > (double)n)
        r = (double)n;
    return (size_t)r - 1;
}

void bench_samples_summarize(struct bench_samples *s, struct bench_summary *out)
{
    double sum = 0;

    memset(out, 0, sizeof(*out));
    if (s->n == 0)
        return;
    qsort(s->ns, s->n, sizeof(*s->ns), cmp_u64);
    for (size_t i = 0; i < s->n; i++)
        sum += (double)s->ns[i];
    out->count = s->n;
    out->total_ns = sum;
    out->mean_ns = sum / (double)s->n;
    out->min_ns = (double)s->ns[0];
    out->max_ns = (double)s->ns[s->n - 1];
    out->p50_ns = (double)s->ns[rank_index(s->n, 0.50)];
    out->p99_ns = (double)s->ns[rank_index(s->n, 0.99)];
}

void bench_samples_cleanup(struct bench_samples *s)
{
    free(s->ns);
    s->ns = NULL;
    s->n = s->cap = 0;
}

/* ---- histogram ----------------------------------------------------------- */

/*
 * Bucket of a value: values below BENCH_HIST_SUB map to themselves; above,
 * the power of two selects a group of BENCH_HIST_SUB buckets and the next 6
 * bits below the leading one select the bucket inside it.
 */
static unsigned hist_bucket(uint64_t v)
{
    unsigned msb, group, sub;

    if (v < BENCH_HIST_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
    group = msb - 5;                          /* 1.. */
    sub = (unsigned)(v >> (msb - 6)) & (BENCH_HIST_SUB - 1);
    if (group >= BENCH_HIST_BUCKETS / BENCH_HIST_SUB)
        return BENCH_HIST_BUCKETS - 1;
    return group * BENCH_HIST_SUB + sub;
}

/* Midpoint of a bucket's value range. */
static double hist_value(unsigned b)
{
    unsigned group = b / BENCH_HIST_SUB, sub = b % BENCH_HIST_SUB;
    double lo, width;

    if (group == 0)
        return (double)b;
    width = ldexp(1.0, (int)group - 1); /* 2^(msb-6) with msb = group + 5 */
    lo = ldexp(1.0, (int)group + 5) + (double)sub * width;
    return lo + width / 2;
}

void bench_hist_reset(struct bench_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min_ns = UINT64_MAX;
}

void bench_hist_add(struct bench_hist *h, uint64_t ns)
{
    h->count++;
    h->sum_ns += (double)ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
    h->b[hist_bucket(ns)]++;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
    if (src->count == 0)
        return;
    dst->count += src->count;
    dst->sum_ns += src->sum_ns;
    if (src->min_ns < dst->min_ns)
        dst->min_ns = src->min_ns;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
}

double bench_hist_quantile(const struct bench_hist *h, double q)
{
    uint64_t want, seen = 0;
    double v;

    if (h->count == 0)
        return 0;
    want = (uint64_t)ceil(q * (double)h->count);
    if (want < 1)
        want = 1;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            v = hist_value(i);
            /* never report outside the observed range */
            if (v < (double)h->min_ns)
                v = (double)h->min_ns;
            if (v > (double)h->max_ns)
                v = (double)h->max_ns;
            return v;
        }
    }
    return (double)h->max_ns;
}

void bench_hist_summarize(const struct bench_hist *h, struct bench_summary *out)
{
    memset(out, 0, sizeof(*out));
    if (h->count == 0)
        return;
    out->count = h->count;
    out->total_ns = h->sum_ns;
    out->mean_ns = h->sum_ns / (double)h->count;
    out->min_ns = (double)h->min_ns;
    out->max_ns = (double)h->max_ns;
    out->p50_ns = bench_hist_quantile(h, 0.50);
    out->p99_ns = bench_hist_quantile(h, 0.99);
}
