/*
 * bench_rpc.c - `benchfs-bench rpc`: the RPC layer without the file system.
 *
 *   benchfs-bench rpc [--registry-dir DIR | --spawn-servers M] [--clients K]
 *                     [--sizes 4k,...,16m] [--duration S] [--json FILE]
 *
 * K forked client processes, each with its own raw client connection
 * (tests/server/rawclient.h: proto + net, HELLO first, exactly one request
 * in flight, busy-polling for the reply) to every one of the M servers in
 * the registry, measure for --duration seconds each:
 *
 *   ping       PING round trips, spread round-robin over the servers:
 *              latency distribution (p50 / p99 / mean) and aggregate ops/s
 *   write S    CHUNK_WRITE of S bytes ("one transfer"); S larger than the
 *              server's max_xfer (storage.buffer_size) is split into
 *              max_xfer pieces sent one after the other, as separate RPCs;
 *              transfer t of client k goes to server (k + t) mod M
 *   read S     CHUNK_READ of the same chunks, same split
 *
 * So bandwidth here is what one outstanding RPC per client achieves: the
 * latency-bound RPC bandwidth. The file API pipelines up to
 * rpc.max_inflight pieces per call; `benchfs-bench ior` measures that.
 * The chunks live under a private inode number per client and are removed
 * (CHUNK_REMOVE) at the end. Rank 0 reads the servers' STATUS counters
 * between phases for server CPU time per phase.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rawclient.h"

#define RPC_SLOTS      8 /* distinct chunks written per client (reads cycle over them) */
#define RPC_TIMEOUT_MS 30000

struct rpc_opts {
    const char *registry, *json, *tsv, *label;
    long clients;
    double duration;
    uint64_t sizes[BENCH_MAX_SIZES];
    int nsizes;
    int nservers;
    char nodes[BENCH_MAX_SERVERS][64];
    uint64_t max_xfer;
    uint64_t ino_base;
};

/* One measured phase of one worker. */
struct rpc_cell {
    uint64_t ops, bytes;
    struct bench_hist h;
};

/* Shared memory: snapshots, then cells[phase][rank], phase 0 = ping,
 * 1 + 2 * size_index = write, 2 + 2 * size_index = read. */
struct rpc_shared {
    int failed;
    char error[256];
    struct bench_srv_snap snap[2 + 2 * BENCH_MAX_SIZES];
    struct rpc_cell cells[];
};

static struct rpc_cell *rpc_cell(struct rpc_shared *sh, const struct rpc_opts *o, int phase,
                                 int rank)
{
    return &sh->cells[phase * o->clients + rank];
}

static void rpc_error(struct rpc_shared *sh, int rank, const char *what, int rc)
{
    fprintf(stderr, "benchfs-bench rpc: client %d: %s: %s\n", rank, what, strerror(-rc));
    if (__sync_bool_compare_and_swap(&sh->failed, 0, 1))
        snprintf(sh->error, sizeof(sh->error), "client %d: %s: %s", rank, what, strerror(-rc));
}

static void rpc_snap(struct rawclient **rc, int n, struct bench_srv_snap *s)
{
    memset(s, 0, sizeof(*s));
    s->ok = 1;
    s->nservers = n;
    for (int i = 0; i < n; i++) {
        union proto_body rep;

        if (rawclient_call(rc[i], PROTO_OP_STATUS, NULL, NULL, 0, &rep, NULL, 0, NULL,
                           RPC_TIMEOUT_MS) != 0) {
            s->ok = 0;
            continue;
        }
        s->cpu_ns += rep.status_rep.cpu_user_ns + rep.status_rep.cpu_sys_ns;
        s->busy_ns += rep.status_rep.busy_ns;
        s->bytes_in += rep.status_rep.bytes_in;
        s->bytes_out += rep.status_rep.bytes_out;
        s->ops += rep.status_rep.ops;
    }
    s->at_ns = bench_now_ns();
}

static int rpc_ping_loop(const struct rpc_opts *o, struct rawclient **rc, int rank,
                         struct rpc_cell *cell)
{
    uint64_t end = bench_now_ns() + (uint64_t)(o->duration * 1e9), i = 0;

    for (;;) {
        union proto_body req, rep;
        uint64_t t0 = bench_now_ns();
        int r;

        if (t0 >= end)
            break;
        memset(&req, 0, sizeof(req));
        req.ping_req.client_ns = t0;
        r = rawclient_call(rc[(rank + i++) % (uint64_t)o->nservers], PROTO_OP_PING, &req, NULL, 0,
                           &rep, NULL, 0, NULL, RPC_TIMEOUT_MS);
        if (r != 0)
            return r < 0 ? r : -EIO;
        bench_hist_add(&cell->h, bench_now_ns() - t0);
        cell->ops++;
    }
    return 0;
}

/* One transfer of `size` bytes to/from slot t: max_xfer pieces in turn. */
static int rpc_transfer(const struct rpc_opts *o, struct rawclient **rc, int rank, uint64_t t,
                        bool write, uint8_t *buf, uint64_t size)
{
    struct rawclient *c = rc[(rank + t) % (uint64_t)o->nservers];

    for (uint64_t off = 0; off < size; off += o->max_xfer) {
        uint32_t len = (uint32_t)(size - off < o->max_xfer ? size - off : o->max_xfer);
        union proto_body req, rep;
        size_t got = 0;
        int r;

        memset(&req, 0, sizeof(req));
        req.chunk_io_req.ino = o->ino_base + (uint64_t)rank;
        req.chunk_io_req.index = t % RPC_SLOTS;
        req.chunk_io_req.offset = (uint32_t)off;
        req.chunk_io_req.length = len;
        if (write)
            r = rawclient_call(c, PROTO_OP_CHUNK_WRITE, &req, buf + off, len, &rep, NULL, 0, NULL,
                               RPC_TIMEOUT_MS);
        else
            r = rawclient_call(c, PROTO_OP_CHUNK_READ, &req, NULL, 0, &rep, buf + off, len, &got,
                               RPC_TIMEOUT_MS);
        if (r != 0)
            return r < 0 ? r : -EIO;
        if (write ? rep.chunk_rep.length != len : got != len)
            return -EIO;
    }
    return 0;
}

static int rpc_bw_loop(const struct rpc_opts *o, struct rawclient **rc, int rank, bool write,
                       uint8_t *buf, uint64_t size, uint64_t *written, struct rpc_cell *cell)
{
    uint64_t end = bench_now_ns() + (uint64_t)(o->duration * 1e9), t = 0;

    /* At least one transfer; reads only visit slots the write phase filled. */
    do {
        uint64_t slot = write ? t : t % *written, t0 = bench_now_ns();
        int r = rpc_transfer(o, rc, rank, slot, write, buf, size);

        if (r < 0)
            return r;
        bench_hist_add(&cell->h, bench_now_ns() - t0);
        cell->ops++;
        cell->bytes += size;
        t++;
    } while (bench_now_ns() < end);
    if (write)
        *written = t < RPC_SLOTS ? t : RPC_SLOTS;
    return 0;
}

static int rpc_worker(struct bench_team *t, int rank, void *arg)
{
    const struct rpc_opts *o = arg;
    struct rpc_shared *sh = t->shared;
    struct rawclient *rc[BENCH_MAX_SERVERS] = {0};
    uint64_t maxsize = 0, written = 0;
    uint8_t *buf;
    int r = 0, ret = 1, snap = 0;

    for (int i = 0; i < o->nsizes; i++)
        if (o->sizes[i] > maxsize)
            maxsize = o->sizes[i];
    buf = malloc(maxsize ? maxsize : 1);
    if (buf == NULL)
        return 1;
    memset(buf, 0x5a, maxsize);
    for (int i = 0; i < o->nservers; i++) {
        r = rawclient_connect(o->registry, o->nodes[i], &rc[i]);
        if (r < 0) {
            rpc_error(sh, rank, "connect", r);
            goto out;
        }
    }
    if (rank == 0)
        rpc_snap(rc, o->nservers, &sh->snap[snap]);
    snap++;
    if (bench_team_barrier(t) < 0)
        goto out;
    bench_hist_reset(&rpc_cell(sh, o, 0, rank)->h);
    r = rpc_ping_loop(o, rc, rank, rpc_cell(sh, o, 0, rank));
    if (r < 0) {
        rpc_error(sh, rank, "ping", r);
        goto out;
    }
    if (bench_team_barrier(t) < 0)
        goto out;
    if (rank == 0)
        rpc_snap(rc, o->nservers, &sh->snap[snap]);
    snap++;
    for (int i = 0; i < o->nsizes; i++) {
        for (int w = 1; w >= 0; w--) {
            struct rpc_cell *cell = rpc_cell(sh, o, 1 + 2 * i + (w ? 0 : 1), rank);

            bench_hist_reset(&cell->h);
            if (bench_team_barrier(t) < 0)
                goto out;
            r = rpc_bw_loop(o, rc, rank, w, buf, o->sizes[i], &written, cell);
            if (r < 0) {
                rpc_error(sh, rank, w ? "chunk write" : "chunk read", r);
                goto out;
            }
            if (bench_team_barrier(t) < 0)
                goto out;
            if (rank == 0)
                rpc_snap(rc, o->nservers, &sh->snap[snap]);
            snap++;
        }
    }
    for (int i = 0; i < o->nservers; i++) {
        union proto_body req;

        memset(&req, 0, sizeof(req));
        req.chunk_remove_req.ino = o->ino_base + (uint64_t)rank;
        req.chunk_remove_req.first = 0;
        req.chunk_remove_req.last = RPC_SLOTS - 1;
        rawclient_call(rc[i], PROTO_OP_CHUNK_REMOVE, &req, NULL, 0, NULL, NULL, 0, NULL,
                       RPC_TIMEOUT_MS);
    }
    ret = bench_team_barrier(t) < 0;
out:
    for (int i = 0; i < o->nservers; i++)
        rawclient_close(rc[i]);
    free(buf);
    return ret;
}

/* ---- report -------------------------------------------------------------- */

struct rpc_phase_res {
    double seconds, ops_s, mib_s, cpu_s;
    uint64_t bytes, ops;
    struct bench_summary lat;
};

static void rpc_collect(const struct rpc_opts *o, struct rpc_shared *sh, int phase, uint64_t start,
                        uint64_t end, struct rpc_phase_res *p)
{
    struct bench_hist *h = malloc(sizeof(*h));

    memset(p, 0, sizeof(*p));
    p->seconds = (double)(end - start) / 1e9;
    if (h != NULL)
        bench_hist_reset(h);
    for (int k = 0; k < o->clients; k++) {
        struct rpc_cell *c = rpc_cell(sh, o, phase, k);

        p->ops += c->ops;
        p->bytes += c->bytes;
        if (h != NULL)
            bench_hist_merge(h, &c->h);
    }
    if (h != NULL)
        bench_hist_summarize(h, &p->lat);
    free(h);
    p->ops_s = (double)p->ops / p->seconds;
    p->mib_s = (double)p->bytes / (1 << 20) / p->seconds;
    p->cpu_s = bench_snap_cpu_s(&sh->snap[phase], &sh->snap[phase + 1]);
}

static void rpc_json_phase(struct bench_json *j, const char *key, const struct rpc_phase_res *p)
{
    bench_json_obj_begin(j, key);
    bench_json_num(j, "seconds", p->seconds);
    bench_json_int(j, "ops", (int64_t)p->ops);
    bench_json_num(j, "ops_per_s", p->ops_s);
    bench_json_num(j, "mib_per_s", p->mib_s);
    bench_json_num(j, "server_cpu_s", p->cpu_s);
    bench_json_summary(j, "latency", &p->lat);
    bench_json_obj_end(j);
}

static void rpc_report(const struct rpc_opts *o, const struct rpc_phase_res *ping,
                       const struct rpc_phase_res *wr, const struct rpc_phase_res *rd)
{
    char a[32], b[32], c[32], d[32], sz[32];
    struct bench_json j;

    printf("  ping round trip: p50 %s  p99 %s  mean %s  min %s\n",
           bench_fmt_ns(ping->lat.p50_ns, a, sizeof(a)),
           bench_fmt_ns(ping->lat.p99_ns, b, sizeof(b)),
           bench_fmt_ns(ping->lat.mean_ns, c, sizeof(c)),
           bench_fmt_ns(ping->lat.min_ns, d, sizeof(d)));
    printf("  ping rate:       %.0f ops/s (%ld client(s), %llu pings, server CPU %.3f s)\n\n",
           ping->ops_s, o->clients, (unsigned long long)ping->ops, ping->cpu_s);
    if (o->nsizes > 0)
        printf("  %-9s %12s %11s %12s %11s %16s\n", "size", "write MiB/s", "write p50",
               "read MiB/s", "read p50", "srv CPU s/GiB w/r");
    for (int i = 0; i < o->nsizes; i++) {
        printf("  %-9s %12.1f %11s %12.1f %11s %8.3f/%-7.3f\n",
               bench_fmt_size(o->sizes[i], sz, sizeof(sz)), wr[i].mib_s,
               bench_fmt_ns(wr[i].lat.p50_ns, a, sizeof(a)), rd[i].mib_s,
               bench_fmt_ns(rd[i].lat.p50_ns, b, sizeof(b)),
               wr[i].cpu_s / ((double)wr[i].bytes / (1 << 30)),
               rd[i].cpu_s / ((double)rd[i].bytes / (1 << 30)));
    }
    if (bench_json_open(&j, o->json) < 0) {
        fprintf(stderr, "benchfs-bench rpc: cannot write %s: %s\n", o->json, strerror(errno));
        return;
    }
    bench_json_obj_begin(&j, NULL);
    bench_json_header(&j, "rpc");
    bench_json_int(&j, "servers", o->nservers);
    bench_json_int(&j, "clients", o->clients);
    bench_json_int(&j, "max_xfer", (int64_t)o->max_xfer);
    bench_json_num(&j, "duration_s", o->duration);
    bench_json_str(&j, "method", "rawclient, one RPC in flight per client, pieces <= max_xfer");
    rpc_json_phase(&j, "ping", ping);
    bench_json_arr_begin(&j, "chunks");
    for (int i = 0; i < o->nsizes; i++) {
        bench_json_obj_begin(&j, NULL);
        bench_json_int(&j, "size", (int64_t)o->sizes[i]);
        rpc_json_phase(&j, "write", &wr[i]);
        rpc_json_phase(&j, "read", &rd[i]);
        bench_json_obj_end(&j);
    }
    bench_json_arr_end(&j);
    bench_json_obj_end(&j);
    if (bench_json_close(&j) < 0)
        fprintf(stderr, "benchfs-bench rpc: error writing %s\n", o->json);
}

static void rpc_tsv(const struct rpc_opts *o, const struct rpc_phase_res *ping,
                    const struct rpc_phase_res *wr, const struct rpc_phase_res *rd)
{
    struct bench_tsv t;
    char m[64];

    if (bench_tsv_open(&t, o->tsv, "rpc", o->label) < 0) {
        fprintf(stderr, "benchfs-bench rpc: cannot append to %s: %s\n", o->tsv, strerror(errno));
        return;
    }
    bench_tsv_put(&t, "benchfs", "ping_p50_us", ping->lat.p50_ns / 1e3);
    bench_tsv_put(&t, "benchfs", "ping_p99_us", ping->lat.p99_ns / 1e3);
    bench_tsv_put(&t, "benchfs", "ping_mean_us", ping->lat.mean_ns / 1e3);
    bench_tsv_put(&t, "benchfs", "ping_min_us", ping->lat.min_ns / 1e3);
    bench_tsv_put(&t, "benchfs", "ping_ops_s", ping->ops_s);
    bench_tsv_put(&t, "benchfs", "ping_srv_cpu_us_per_op", ping->cpu_s * 1e6 / (double)ping->ops);
    for (int i = 0; i < o->nsizes; i++) {
        for (int w = 0; w < 2; w++) {
            const struct rpc_phase_res *p = w == 0 ? &wr[i] : &rd[i];
            const char *op = w == 0 ? "write" : "read";

            snprintf(m, sizeof(m), "%s_%llu_mib_s", op, (unsigned long long)o->sizes[i]);
            bench_tsv_put(&t, "benchfs", m, p->mib_s);
            snprintf(m, sizeof(m), "%s_%llu_p50_us", op, (unsigned long long)o->sizes[i]);
            bench_tsv_put(&t, "benchfs", m, p->lat.p50_ns / 1e3);
            snprintf(m, sizeof(m), "%s_%llu_srv_cpu_s_per_gib", op,
                     (unsigned long long)o->sizes[i]);
            bench_tsv_put(&t, "benchfs", m, p->cpu_s / ((double)p->bytes / (1 << 30)));
        }
    }
    bench_tsv_close(&t);
}

/* Coordinator: the team, its barriers, and the report. */
static int rpc_run(struct rpc_opts *o)
{
    int nbar = 2 + 4 * o->nsizes + 1, nphase = 1 + 2 * o->nsizes, rc;
    uint64_t *arrive = calloc((size_t)nbar, 8), *release = calloc((size_t)nbar, 8);
    struct rpc_phase_res ping, wr[BENCH_MAX_SIZES], rd[BENCH_MAX_SIZES];
    struct bench_team t;
    size_t shlen =
        sizeof(struct rpc_shared) + (size_t)nphase * (size_t)o->clients * sizeof(struct rpc_cell);

    if (arrive == NULL || release == NULL) {
        free(arrive);
        free(release);
        return -ENOMEM;
    }
    o->ino_base = 0xbe00000000000000ull | ((uint64_t)getpid() << 8);
    rc = bench_team_start(&t, (int)o->clients, shlen, rpc_worker, o);
    if (rc < 0) {
        fprintf(stderr, "benchfs-bench rpc: cannot start clients: %s\n", strerror(-rc));
        goto out;
    }
    for (int b = 0; b < nbar && rc == 0; b++)
        rc = bench_team_release(&t, &arrive[b], &release[b]);
    if (rc == 0)
        rc = bench_team_finish(&t);
    if (rc < 0) {
        struct rpc_shared *sh = t.shared;

        fprintf(stderr, "benchfs-bench rpc: FAILED: %s\n",
                sh != NULL && sh->failed ? sh->error : "a client failed");
    } else {
        /* b0 starts ping, b1 ends it; size i: write b(2+4i)..b(3+4i),
         * read b(4+4i)..b(5+4i); the last barrier follows the cleanup. */
        rpc_collect(o, t.shared, 0, release[0], arrive[1], &ping);
        for (int i = 0; i < o->nsizes; i++) {
            rpc_collect(o, t.shared, 1 + 2 * i, release[2 + 4 * i], arrive[3 + 4 * i], &wr[i]);
            rpc_collect(o, t.shared, 2 + 2 * i, release[4 + 4 * i], arrive[5 + 4 * i], &rd[i]);
        }
        rpc_report(o, &ping, wr, rd);
        rpc_tsv(o, &ping, wr, rd);
    }
    bench_team_cleanup(&t);
out:
    free(arrive);
    free(release);
    return rc;
}

/* ---- command line -------------------------------------------------------- */

static void rpc_usage(FILE *out)
{
    fprintf(out,
            "Usage: benchfs-bench rpc [--registry-dir DIR | --spawn-servers M] [OPTIONS]\n"
            "RPC-level benchmark with the raw client: ping latency and rate, chunk write and\n"
            "read bandwidth, against every server in the registry.\n\n"
            "  -r, --registry-dir DIR  registry of running servers (default $BENCHFS_REGISTRY)\n"
            "      --spawn-servers M   start M benchfsd for this run (temp dir under $TMPDIR)\n"
            "      --set KEY=VALUE     configuration for spawned servers (repeatable)\n"
            "  -c, --clients K         client processes (1)\n"
            "  -s, --sizes LIST        chunk transfer sizes (4k,16k,64k,256k,1m,4m,16m; none:\n"
            "                          ping only)\n"
            "  -d, --duration SEC      seconds per measurement (1)\n"
            "  -j, --json FILE         write results as JSON\n"
            "      --tsv FILE          append results as TSV lines (bench/run_all.sh)\n"
            "      --label TEXT        label of the TSV lines\n"
            "  -h, --help              this help\n");
}

int bench_rpc_main(int argc, char **argv)
{
    enum { OPT_SPAWN = 256, OPT_SET, OPT_TSV, OPT_LABEL };
    static const struct option lo[] = {
        {"registry-dir", required_argument, NULL, 'r'},
        {"registry", required_argument, NULL, 'r'},
        {"spawn-servers", required_argument, NULL, OPT_SPAWN},
        {"set", required_argument, NULL, OPT_SET},
        {"clients", required_argument, NULL, 'c'},
        {"sizes", required_argument, NULL, 's'},
        {"duration", required_argument, NULL, 'd'},
        {"json", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"tsv", required_argument, NULL, OPT_TSV},
        {"label", required_argument, NULL, OPT_LABEL},
        {NULL, 0, NULL, 0},
    };
    static struct rpc_opts o;
    struct registry_entry *ents = NULL;
    struct bench_spawn *sp = NULL;
    const char *sets[16];
    char registry[512], err[512], ts[64], sz[32];
    size_t n = 0;
    long spawn = 0;
    int nsets = 0, opt, rc;

    memset(&o, 0, sizeof(o));
    o.clients = 1;
    o.duration = 1.0;
    bench_parse_size_list("4k,16k,64k,256k,1m,4m,16m", o.sizes, BENCH_MAX_SIZES, &o.nsizes);
    o.registry = getenv("BENCHFS_REGISTRY");
    while ((opt = getopt_long(argc, argv, "r:c:s:d:j:h", lo, NULL)) != -1) {
        const char *bad = NULL;

        switch (opt) {
        case 'r':
            o.registry = optarg;
            break;
        case OPT_SPAWN:
            if (bench_parse_long(optarg, 1, BENCH_MAX_SERVERS, &spawn) < 0)
                bad = "server count";
            break;
        case OPT_SET:
            if (nsets == 16)
                bad = "--set (too many)";
            else
                sets[nsets++] = optarg;
            break;
        case 'c':
            if (bench_parse_long(optarg, 1, BENCH_MAX_PROCS, &o.clients) < 0)
                bad = "client count";
            break;
        case 's':
            if (strcmp(optarg, "none") == 0)
                o.nsizes = 0; /* ping only */
            else if (bench_parse_size_list(optarg, o.sizes, BENCH_MAX_SIZES, &o.nsizes) < 0)
                bad = "size list";
            break;
        case 'd':
            if (bench_parse_seconds(optarg, &o.duration) < 0 || o.duration <= 0)
                bad = "duration";
            break;
        case 'j':
            o.json = optarg;
            break;
        case OPT_TSV:
            o.tsv = optarg;
            break;
        case OPT_LABEL:
            o.label = optarg;
            break;
        case 'h':
            rpc_usage(stdout);
            return 0;
        default:
            rpc_usage(stderr);
            return 2;
        }
        if (bad != NULL) {
            fprintf(stderr, "benchfs-bench rpc: invalid %s '%s'\n", bad, optarg);
            return 2;
        }
    }
    if (optind < argc || (o.registry == NULL && spawn == 0)) {
        fprintf(stderr, "benchfs-bench rpc: give --registry-dir (or $BENCHFS_REGISTRY) or "
                        "--spawn-servers\n");
        rpc_usage(stderr);
        return 2;
    }
    if (spawn > 0) {
        if (bench_spawn_start((int)spawn, sets, nsets, registry, sizeof(registry), &sp) < 0)
            return 1;
        o.registry = registry;
    }
    rc = registry_wait(o.registry, 0, 30000, &ents, &n, err, sizeof(err));
    if (rc < 0 || n == 0 || n > BENCH_MAX_SERVERS) {
        fprintf(stderr, "benchfs-bench rpc: %s\n", rc < 0 ? err : "no (or too many) servers");
        bench_spawn_stop(sp);
        return 1;
    }
    o.nservers = (int)n;
    o.max_xfer = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        snprintf(o.nodes[i], sizeof(o.nodes[i]), "%s", ents[i].node_id);
        if (ents[i].max_xfer < o.max_xfer)
            o.max_xfer = ents[i].max_xfer;
    }
    registry_entries_free(ents, n);
    if (o.max_xfer == 0 || o.max_xfer > UINT32_MAX)
        o.max_xfer = 1 << 20;

    printf("=== benchfs-bench rpc ===\n");
    printf("  %s, load %.2f, transport %s, %d server(s), %ld client process(es)\n",
           bench_timestamp(ts, sizeof(ts)), bench_loadavg(), bench_transport_label(), o.nservers,
           o.clients);
    printf("  raw client, one RPC in flight per client, max_xfer %s, %.1f s per measurement\n",
           bench_fmt_size(o.max_xfer, sz, sizeof(sz)), o.duration);
    fflush(stdout);
    rc = rpc_run(&o);
    bench_spawn_stop(sp);
    return rc < 0 ? 1 : 0;
}
