/*
 * bench_util.c - parsing and formatting for benchfs-bench (bench.h): sizes
 * with binary suffixes, durations with sensible units, the environment
 * labels every report carries (transport, load, date), and the streaming
 * JSON writer the subcommands use for --json.
 */
#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bench_parse_size(const char *s, uint64_t *v_p)
{
    char *end;
    unsigned long long v;
    uint64_t mult = 1;

    if (s == NULL || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -EINVAL;
    switch (tolower((unsigned char)*end)) {
    case '\0':
        break;
    case 'k':
        mult = 1ull << 10;
        break;
    case 'm':
        mult = 1ull << 20;
        break;
    case 'g':
        mult = 1ull << 30;
        break;
    case 'b':
        break;
    default:
        return -EINVAL;
    }
    if (*end != '\0') {
        /* accept "k", "kb", "kib", "b" */
        const char *rest = end + 1;

        if (tolower((unsigned char)*end) != 'b') {
            if (tolower((unsigned char)*rest) == 'i')
                rest++;
            if (tolower((unsigned char)*rest) == 'b')
                rest++;
        }
        if (*rest != '\0')
            return -EINVAL;
    }
    if (v > UINT64_MAX / mult)
        return -EINVAL;
    *v_p = v * mult;
    return 0;
}

int bench_parse_size_list(const char *s, uint64_t *v, int max, int *n_p)
{
    char buf[1024], *save = NULL, *tok;
    int n = 0;

    if (s == NULL || strlen(s) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, s);
    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (n == max || bench_parse_size(tok, &v[n]) < 0 || v[n] == 0)
            return -EINVAL;
        n++;
    }
    if (n == 0)
        return -EINVAL;
    *n_p = n;
    return 0;
}

int bench_parse_long(const char *s, long min, long max, long *v_p)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return -EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *v_p = v;
    return 0;
}

int bench_parse_seconds(const char *s, double *v_p)
{
    char *end;
    double v;

    if (s == NULL || *s == '\0')
        return -EINVAL;
    v = strtod(s, &end);
    if (*end != '\0' || !(v >= 0) || v > 86400)
        return -EINVAL;
    *v_p = v;
    return 0;
}

const char *bench_fmt_size(uint64_t v, char *buf, size_t len)
{
    if (v >= (1ull << 30) && v % (1ull << 30) == 0)
        snprintf(buf, len, "%llu GiB", (unsigned long long)(v >> 30));
    else if (v >= (1ull << 20) && v % (1ull << 20) == 0)
        snprintf(buf, len, "%llu MiB", (unsigned long long)(v >> 20));
    else if (v >= (1ull << 10) && v % (1ull << 10) == 0)
        snprintf(buf, len, "%llu KiB", (unsigned long long)(v >> 10));
    else
        snprintf(buf, len, "%llu B", (unsigned long long)v);
    return buf;
}

const char *bench_fmt_ns(double ns, char *buf, size_t len)
{
    if (!(ns == ns))
        snprintf(buf, len, "n/a");
    else if (ns < 1e3)
        snprintf(buf, len, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, len, "%.1f us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, len, "%.2f ms", ns / 1e6);
    else
        snprintf(buf, len, "%.2f s", ns / 1e9);
    return buf;
}

const char *bench_transport_label(void)
{
    const char *tls = getenv("UCX_TLS");

    if (tls == NULL || *tls == '\0')
        return "default";
    if (strstr(tls, "tcp") != NULL)
        return "tcp";
    if (strstr(tls, "shm") != NULL || strstr(tls, "posix") != NULL || strstr(tls, "sysv") != NULL)
        return "shm";
    return "other";
}

double bench_loadavg(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l = -1;

    if (f == NULL)
        return -1;
    if (fscanf(f, "%lf", &l) != 1)
        l = -1;
    fclose(f);
    return l;
}

const char *bench_timestamp(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

/* ---- JSON ------------------------------------------------------------------- */

int bench_json_open(struct bench_json *j, const char *path)
{
    memset(j, 0, sizeof(*j));
    if (path == NULL)
        return 0;
    if (strcmp(path, "-") == 0) {
        j->f = stdout;
    } else {
        j->f = fopen(path, "w");
        if (j->f == NULL)
            return -errno;
    }
    j->first[0] = true;
    return 0;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* Separator, indentation and key of the next member. */
static void json_member(struct bench_json *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = false;
    if (j->depth > 0) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    if (key != NULL) {
        json_string(j->f, key);
        fputs(": ", j->f);
    }
}

static void json_open(struct bench_json *j, const char *key, char c)
{
    if (j->f == NULL)
        return;
    json_member(j, key);
    fputc(c, j->f);
    if (j->depth + 1 < BENCH_JSON_DEPTH)
        j->depth++;
    j->first[j->depth] = true;
}

static void json_close(struct bench_json *j, char c)
{
    if (j->f == NULL)
        return;
    if (j->depth > 0)
        j->depth--;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
    fputc(c, j->f);
}

void bench_json_obj_begin(struct bench_json *j, const char *key)
{
    json_open(j, key, '{');
}

void bench_json_obj_end(struct bench_json *j)
{
    json_close(j, '}');
}

void bench_json_arr_begin(struct bench_json *j, const char *key)
{
    json_open(j, key, '[');
}

void bench_json_arr_end(struct bench_json *j)
{
    json_close(j, ']');
}

void bench_json_str(struct bench_json *j, const char *key, const char *val)
{
    if (j->f == NULL)
        return;
    json_member(j, key);
    json_string(j->f, val);
}

void bench_json_num(struct bench_json *j, const char *key, double val)
{
    if (j->f == NULL)
        return;
    json_member(j, key);
    if (isfinite(val))
        fprintf(j->f, "%.6g", val);
    else
        fputs("null", j->f);
}

void bench_json_int(struct bench_json *j, const char *key, int64_t val)
{
    if (j->f == NULL)
        return;
    json_member(j, key);
    fprintf(j->f, "%lld", (long long)val);
}

void bench_json_bool(struct bench_json *j, const char *key, bool val)
{
    if (j->f == NULL)
        return;
    json_member(j, key);
    fputs(val ? "true" : "false", j->f);
}

void bench_json_summary(struct bench_json *j, const char *key, const struct bench_summary *s)
{
    bench_json_obj_begin(j, key);
    bench_json_int(j, "count", (int64_t)s->count);
    bench_json_num(j, "total_us", s->total_ns / 1e3);
    bench_json_num(j, "mean_us", s->mean_ns / 1e3);
    bench_json_num(j, "min_us", s->min_ns / 1e3);
    bench_json_num(j, "max_us", s->max_ns / 1e3);
    bench_json_num(j, "p50_us", s->p50_ns / 1e3);
    bench_json_num(j, "p99_us", s->p99_ns / 1e3);
    bench_json_obj_end(j);
}

void bench_json_header(struct bench_json *j, const char *benchmark)
{
    char host[256] = "", ts[64];

    gethostname(host, sizeof(host) - 1);
    bench_json_str(j, "benchmark", benchmark);
    bench_json_str(j, "date", bench_timestamp(ts, sizeof(ts)));
    bench_json_str(j, "host", host);
    bench_json_num(j, "load1", bench_loadavg());
    bench_json_int(j, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
    bench_json_str(j, "transport", bench_transport_label());
    bench_json_str(j, "ucx_tls", getenv("UCX_TLS") ? getenv("UCX_TLS") : "");
}

int bench_json_close(struct bench_json *j)
{
    int rc = 0;

    if (j->f == NULL)
        return 0;
    fputc('\n', j->f);
    if (ferror(j->f))
        rc = -EIO;
    if (j->f != stdout) {
        if (fclose(j->f) != 0)
            rc = -EIO;
    } else {
        fflush(stdout);
    }
    j->f = NULL;
    return rc;
}

/* ---- TSV ------------------------------------------------------------------- */

int bench_tsv_open(struct bench_tsv *t, const char *path, const char *bench, const char *label)
{
    memset(t, 0, sizeof(*t));
    if (path == NULL)
        return 0;
    t->f = fopen(path, "a");
    if (t->f == NULL)
        return -errno;
    snprintf(t->bench, sizeof(t->bench), "%s", bench);
    snprintf(t->label, sizeof(t->label), "%s", label && *label ? label : "-");
    /* labels and names must not break the columns */
    for (char *p = t->label; *p != '\0'; p++)
        if (*p == '\t' || *p == '\n')
            *p = ' ';
    return 0;
}

void bench_tsv_put(struct bench_tsv *t, const char *backend, const char *metric, double value)
{
    if (t->f == NULL || !isfinite(value))
        return;
    fprintf(t->f, "%s\t%s\t%s\t%s\t%s\t%.6g\n", t->label, t->bench, bench_transport_label(),
            backend, metric, value);
}

void bench_tsv_close(struct bench_tsv *t)
{
    if (t->f != NULL)
        fclose(t->f);
    t->f = NULL;
}
