/*
 * bench_scale.c - `benchfs-bench scale`: a connection storm on one machine.
 *
 *   benchfs-bench scale --registry DIR --clients K [--expected-servers M]
 *                       [--pids FILE] [--json FILE] [--tsv FILE --label TEXT]
 *
 * K forked client processes are released at once; each connects to the
 * cluster (benchfs_connect, which today reads every server's .addr file and
 * connects and says HELLO to every server), then creates, stats and removes
 * one file of its own, and waits until every client is done. While all K
 * clients are still connected, the coordinator reads each server's VmRSS and
 * its open sockets from /proc (pids from FILE, default <registry>/cluster.pids,
 * "node <id> <pid>" lines) and one client's VmRSS, and compares them with the
 * same figures taken before the clients started. It reports: how many clients
 * succeeded, the time from the release until the last successful client was
 * connected (and the p50 of their connect times), when failed clients gave
 * up, the time until the last
 * client finished its three operations, server RSS per connected client, and
 * sockets per server. bench/scale.sh starts the servers and calls this.
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "benchfs.h"

#define SCALE_MAX_SERVERS 1024

struct scale_opts {
    const char *registry;
    const char *pids_file;
    const char *json, *tsv, *label;
    long clients;
    unsigned expected_servers;
    int timeout_ms;
};

/* Shared between the coordinator and the clients. */
struct scale_shared {
    uint64_t t0;                           /* release of the storm */
    uint64_t connected_ns[BENCH_MAX_TEAM]; /* since t0 */
    uint64_t done_ns[BENCH_MAX_TEAM];      /* since t0 */
    uint64_t failed_ns[BENCH_MAX_TEAM];    /* since t0, when a client gave up */
    int ok[BENCH_MAX_TEAM];
    int failed;
    char error[256];
};

/* Process figures the coordinator reads from /proc. */
struct scale_proc {
    long rss_kib;
    long sockets;
};

static void scale_error(struct scale_shared *sh, int rank, const char *what, int err)
{
    sh->failed_ns[rank] = bench_now_ns() - sh->t0;
    if (!__sync_lock_test_and_set(&sh->failed, 1))
        snprintf(sh->error, sizeof(sh->error), "client %d: %s: %s", rank, what, strerror(err));
    fprintf(stderr, "benchfs-bench scale: client %d: %s: %s\n", rank, what, strerror(err));
}

/* One client: connect, create + stat + remove one file, wait, disconnect. */
static int scale_worker(struct bench_team *t, int rank, void *arg)
{
    const struct scale_opts *o = arg;
    struct scale_shared *sh = t->shared;
    struct benchfs_options bo;
    char path[128];
    struct stat st;
    int fd, rc = 1;

    benchfs_options_init(&bo);
    bo.expected_servers = o->expected_servers;
    bo.discovery_timeout_ms = o->timeout_ms;
    if (bench_team_barrier(t) < 0) /* B0: the storm starts */
        return 1;
    if (benchfs_connect(o->registry, &bo) < 0) {
        scale_error(sh, rank, "connect", errno);
        /* Still meet B1 and B2, so that the others' figures are taken. */
        if (bench_team_barrier(t) == 0)
            bench_team_barrier(t);
        return 1;
    }
    sh->connected_ns[rank] = bench_now_ns() - sh->t0;
    snprintf(path, sizeof(path), "/scale.%d.%d", (int)getppid(), rank);
    fd = benchfs_open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) {
        scale_error(sh, rank, "create", errno);
    } else if (benchfs_close(fd) < 0) {
        scale_error(sh, rank, "close", errno);
    } else if (benchfs_stat(path, &st) < 0) {
        scale_error(sh, rank, "stat", errno);
    } else if (!S_ISREG(st.st_mode) || st.st_size != 0) {
        scale_error(sh, rank, "stat", EILSEQ);
    } else if (benchfs_unlink(path) < 0) {
        scale_error(sh, rank, "remove", errno);
    } else {
        sh->done_ns[rank] = bench_now_ns() - sh->t0;
        sh->ok[rank] = 1;
        rc = 0;
    }
    /* B1: everyone done; the coordinator measures while all are connected. */
    if (bench_team_barrier(t) < 0)
        rc = 1;
    /* B2: then everyone disconnects. */
    else if (bench_team_barrier(t) < 0)
        rc = 1;
    benchfs_disconnect();
    return rc;
}

/* VmRSS (KiB) and the number of socket descriptors of a process. */
static int scale_proc_read(pid_t pid, struct scale_proc *p)
{
    char path[64], line[256], link[64];
    struct dirent *de;
    FILE *f;
    DIR *d;

    p->rss_kib = -1;
    p->sockets = 0;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            p->rss_kib = strtol(line + 6, NULL, 10);
    fclose(f);
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (d == NULL)
        return -errno;
    while ((de = readdir(d)) != NULL) {
        ssize_t n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);

        if (n > 0) {
            link[n] = '\0';
            p->sockets += strncmp(link, "socket:", 7) == 0;
        }
    }
    closedir(d);
    return 0;
}

/* Server pids from a cluster.pids file ("node <id> <pid>"). */
static int scale_read_pids(const char *file, pid_t *pids, int max)
{
    char line[512], kind[32], id[256];
    long pid;
    int n = 0;
    FILE *f = fopen(file, "r");

    if (f == NULL)
        return -errno;
    while (n < max && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "%31s %255s %ld", kind, id, &pid) == 3 && strcmp(kind, "node") == 0)
            pids[n++] = (pid_t)pid;
    fclose(f);
    return n;
}

/* Sum of the servers' figures; -1 RSS when one could not be read. */
static void scale_servers(const pid_t *pids, int n, struct scale_proc *per, struct scale_proc *sum)
{
    sum->rss_kib = 0;
    sum->sockets = 0;
    for (int i = 0; i < n; i++) {
        if (scale_proc_read(pids[i], &per[i]) < 0 || per[i].rss_kib < 0) {
            sum->rss_kib = -1;
            continue;
        }
        if (sum->rss_kib >= 0)
            sum->rss_kib += per[i].rss_kib;
        sum->sockets += per[i].sockets;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void scale_usage(FILE *f)
{
    fprintf(f, "Usage: benchfs-bench scale --registry DIR --clients K [OPTIONS]\n"
               "K client processes connect at once, create + stat + remove one file each;\n"
               "reports connect times, server RSS per connected client, sockets per server.\n\n"
               "  -r, --registry DIR       BenchFS registry (default $BENCHFS_REGISTRY)\n"
               "  -c, --clients K          client processes (1..512, default 256)\n"
               "      --expected-servers M servers to wait for (default: the cluster file)\n"
               "      --pids FILE          server pids (default <registry>/cluster.pids)\n"
               "      --timeout SEC        discovery timeout (60)\n"
               "  -j, --json FILE          write results as JSON\n"
               "      --tsv FILE           append results as TSV lines\n"
               "      --label TEXT         free text stored in the JSON / TSV\n"
               "  -h, --help               this help\n");
}

static int scale_args(int argc, char **argv, struct scale_opts *o)
{
    static const struct option lo[] = {{"registry", required_argument, NULL, 'r'},
                                       {"clients", required_argument, NULL, 'c'},
                                       {"expected-servers", required_argument, NULL, 'E'},
                                       {"pids", required_argument, NULL, 'P'},
                                       {"timeout", required_argument, NULL, 'T'},
                                       {"json", required_argument, NULL, 'j'},
                                       {"tsv", required_argument, NULL, 'V'},
                                       {"label", required_argument, NULL, 'L'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    long v;
    double s;
    int opt;

    memset(o, 0, sizeof(*o));
    o->registry = getenv("BENCHFS_REGISTRY");
    o->clients = 256;
    o->timeout_ms = 60000;
    o->label = "";
    while ((opt = getopt_long(argc, argv, "r:c:j:h", lo, NULL)) != -1) {
        switch (opt) {
        case 'r':
            o->registry = optarg;
            break;
        case 'c':
            if (bench_parse_long(optarg, 1, BENCH_MAX_TEAM, &o->clients) < 0) {
                fprintf(stderr, "benchfs-bench scale: bad --clients '%s' (1..%d)\n", optarg,
                        BENCH_MAX_TEAM);
                return -EINVAL;
            }
            break;
        case 'E':
            if (bench_parse_long(optarg, 1, SCALE_MAX_SERVERS, &v) < 0) {
                fprintf(stderr, "benchfs-bench scale: bad --expected-servers '%s'\n", optarg);
                return -EINVAL;
            }
            o->expected_servers = (unsigned)v;
            break;
        case 'P':
            o->pids_file = optarg;
            break;
        case 'T':
            if (bench_parse_seconds(optarg, &s) < 0 || s <= 0) {
                fprintf(stderr, "benchfs-bench scale: bad --timeout '%s'\n", optarg);
                return -EINVAL;
            }
            o->timeout_ms = (int)(s * 1000);
            break;
        case 'j':
            o->json = optarg;
            break;
        case 'V':
            o->tsv = optarg;
            break;
        case 'L':
            o->label = optarg;
            break;
        case 'h':
            scale_usage(stdout);
            return 1;
        default:
            scale_usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "benchfs-bench scale: unexpected argument '%s'\n", argv[optind]);
        return -EINVAL;
    }
    if (o->registry == NULL || o->registry[0] == '\0') {
        fprintf(stderr, "benchfs-bench scale: give --registry (or $BENCHFS_REGISTRY)\n");
        return -EINVAL;
    }
    return 0;
}

/* The figures of one run. */
struct scale_result {
    int nservers, ok;
    struct scale_proc idle, busy, client;
    double connect_all_s, connect_p50_s, done_all_s, first_fail_s, last_fail_s;
};

static void scale_report(const struct scale_opts *o, const struct scale_result *r)
{
    double rss_per_client =
        r->idle.rss_kib >= 0 && r->busy.rss_kib >= 0 && r->nservers > 0
            ? (double)(r->busy.rss_kib - r->idle.rss_kib) / r->nservers / (double)o->clients
            : NAN;
    double socks = r->nservers > 0 ? (double)(r->busy.sockets - r->idle.sockets) / r->nservers : 0;
    struct bench_json j;
    struct bench_tsv t;

    printf("clients: %d of %ld succeeded (connect + create + stat + remove)\n", r->ok, o->clients);
    printf("servers: %d\n", r->nservers);
    printf("time until every client was connected: %.3f s (per client: p50 %.3f s)\n",
           r->connect_all_s, r->connect_p50_s);
    printf("time until every client was done:      %.3f s\n", r->done_all_s);
    if (r->ok < o->clients)
        printf("failed clients gave up between %.3f s and %.3f s\n", r->first_fail_s,
               r->last_fail_s);
    printf("server RSS: idle %.1f MiB each, with %ld clients %.1f MiB each; %.1f KiB per "
           "connected client\n",
           r->nservers ? r->idle.rss_kib / 1024.0 / r->nservers : 0, o->clients,
           r->nservers ? r->busy.rss_kib / 1024.0 / r->nservers : 0, rss_per_client);
    printf("sockets per server: idle %.1f, with clients %.1f (+%.1f)\n",
           r->nservers ? (double)r->idle.sockets / r->nservers : 0,
           r->nservers ? (double)r->busy.sockets / r->nservers : 0, socks);
    printf("one client: RSS %.1f MiB, %ld sockets\n", r->client.rss_kib / 1024.0,
           r->client.sockets);
    if (o->tsv != NULL && bench_tsv_open(&t, o->tsv, "scale", o->label) == 0) {
        bench_tsv_put(&t, "benchfs", "clients", (double)o->clients);
        bench_tsv_put(&t, "benchfs", "clients_ok", r->ok);
        bench_tsv_put(&t, "benchfs", "servers", r->nservers);
        bench_tsv_put(&t, "benchfs", "connect_all_s", r->connect_all_s);
        bench_tsv_put(&t, "benchfs", "connect_p50_s", r->connect_p50_s);
        bench_tsv_put(&t, "benchfs", "done_all_s", r->done_all_s);
        if (r->ok < o->clients) {
            bench_tsv_put(&t, "benchfs", "first_fail_s", r->first_fail_s);
            bench_tsv_put(&t, "benchfs", "last_fail_s", r->last_fail_s);
        }
        bench_tsv_put(&t, "benchfs", "server_idle_rss_kib",
                      r->nservers ? (double)r->idle.rss_kib / r->nservers : NAN);
        bench_tsv_put(&t, "benchfs", "server_rss_kib",
                      r->nservers ? (double)r->busy.rss_kib / r->nservers : NAN);
        bench_tsv_put(&t, "benchfs", "server_rss_kib_per_client", rss_per_client);
        bench_tsv_put(&t, "benchfs", "server_sockets_per_client_set", socks);
        bench_tsv_put(&t, "benchfs", "client_rss_kib", (double)r->client.rss_kib);
        bench_tsv_put(&t, "benchfs", "client_sockets", (double)r->client.sockets);
        bench_tsv_close(&t);
    }
    if (o->json != NULL && bench_json_open(&j, o->json) == 0) {
        bench_json_header(&j, "scale");
        bench_json_str(&j, "label", o->label);
        bench_json_int(&j, "clients", o->clients);
        bench_json_int(&j, "clients_ok", r->ok);
        bench_json_int(&j, "servers", r->nservers);
        bench_json_num(&j, "connect_all_s", r->connect_all_s);
        bench_json_num(&j, "connect_p50_s", r->connect_p50_s);
        bench_json_num(&j, "done_all_s", r->done_all_s);
        bench_json_num(&j, "server_idle_rss_kib",
                       r->nservers ? (double)r->idle.rss_kib / r->nservers : NAN);
        bench_json_num(&j, "server_rss_kib",
                       r->nservers ? (double)r->busy.rss_kib / r->nservers : NAN);
        bench_json_num(&j, "server_rss_kib_per_client", rss_per_client);
        bench_json_num(&j, "server_sockets_added", socks);
        bench_json_int(&j, "client_rss_kib", r->client.rss_kib);
        bench_json_int(&j, "client_sockets", r->client.sockets);
        bench_json_close(&j);
    }
}

int bench_scale_main(int argc, char **argv)
{
    static pid_t pids[SCALE_MAX_SERVERS];
    static struct scale_proc per[SCALE_MAX_SERVERS];
    static uint64_t sorted[BENCH_MAX_TEAM];
    struct scale_opts o;
    struct scale_result r;
    struct scale_shared *sh;
    struct bench_team t;
    char pf[4096];
    int rc, n;

    rc = scale_args(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    memset(&r, 0, sizeof(r));
    if (o.pids_file == NULL) {
        snprintf(pf, sizeof(pf), "%s/cluster.pids", o.registry);
        o.pids_file = pf;
    }
    n = scale_read_pids(o.pids_file, pids, SCALE_MAX_SERVERS);
    if (n <= 0) {
        fprintf(stderr, "benchfs-bench scale: no server pids in %s\n", o.pids_file);
        return 1;
    }
    r.nservers = n;
    scale_servers(pids, n, per, &r.idle);
    rc = bench_team_start(&t, (int)o.clients, sizeof(struct scale_shared), scale_worker, &o);
    if (rc < 0) {
        fprintf(stderr, "benchfs-bench scale: cannot start %ld clients: %s\n", o.clients,
                strerror(-rc));
        return 1;
    }
    sh = t.shared;
    sh->t0 = bench_now_ns();
    /* B0 releases everyone; t0 is stamped before any client can run. */
    rc = bench_team_release(&t, NULL, NULL);
    if (rc == 0)
        rc = bench_team_release(&t, NULL, NULL); /* B1: all done, all connected */
    if (rc == 0) {
        int c = 0;

        while (c < o.clients - 1 && !sh->ok[c])
            c++; /* a client that is connected, if any */
        scale_servers(pids, n, per, &r.busy);
        scale_proc_read(t.pids[c], &r.client);
        rc = bench_team_release(&t, NULL, NULL); /* B2 */
    }
    if (rc == 0)
        rc = bench_team_finish(&t);
    for (int i = 0; i < o.clients; i++) {
        double f = sh->failed_ns[i] / 1e9;

        if (!sh->ok[i]) {
            if (f > 0 && (r.first_fail_s == 0 || f < r.first_fail_s))
                r.first_fail_s = f;
            if (f > r.last_fail_s)
                r.last_fail_s = f;
            continue;
        }
        sorted[r.ok++] = sh->connected_ns[i];
        if (sh->connected_ns[i] / 1e9 > r.connect_all_s)
            r.connect_all_s = sh->connected_ns[i] / 1e9;
        if (sh->done_ns[i] / 1e9 > r.done_all_s)
            r.done_all_s = sh->done_ns[i] / 1e9;
    }
    qsort(sorted, (size_t)r.ok, sizeof(sorted[0]), cmp_u64);
    r.connect_p50_s = r.ok > 0 ? sorted[r.ok / 2] / 1e9 : NAN;
    if (sh->failed)
        fprintf(stderr, "benchfs-bench scale: first error: %s\n", sh->error);
    scale_report(&o, &r);
    bench_team_cleanup(&t);
    return rc == 0 && r.ok == o.clients ? 0 : 1;
}
