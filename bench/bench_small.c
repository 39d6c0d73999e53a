/*
 * bench_small.c - `benchfs-bench small`: the two-node small-file benchmark
 * of seed 002, as a program.
 *
 *   benchfs-bench small --mode server --registry-dir DIR --data-dir DIR [--set K=V]...
 *   benchfs-bench small --mode client --registry-dir DIR [--timeout SEC]
 *                       [--iterations N] [--warmup N] [--sizes 1k,4k,16k] [--json FILE]
 *
 * The server runs in this process (src/server/server.h) as node id
 * "server", so it publishes DIR/server.addr; the registry directory is
 * created when missing. The client waits for that file, connects with the
 * public API and measures, per iteration:
 *
 *   metadata create   open(O_CREAT|O_EXCL|O_WRONLY) + close of a new file
 *   small write (N)   open(O_CREAT|O_WRONLY|O_TRUNC) + write N bytes + close
 *   small read (N)    open(O_RDONLY) + read N bytes + close (content checked)
 *
 * Works the same on one machine and across two hosts (the registry
 * directory then has to be shared, e.g. NFS; UCX picks TCP or RDMA).
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "benchfs.h"
#include "common/config.h"
#include "common/log.h"
#include "registry/registry.h"
#include "server/server.h"

#define SMALL_NODE_ID "server"

struct small_opts {
    const char *mode, *registry, *data_dir, *json;
    const char *sets[32];
    int nsets;
    long iterations, warmup, timeout_s;
    uint64_t sizes[BENCH_MAX_SIZES];
    int nsizes;
};

/* ---- server ---------------------------------------------------------------- */

/* mkdir -p with 0755 (the registry must be readable by clients). */
static int small_mkdirs(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static void small_print_address(const char *registry)
{
    struct registry_entry e;
    char path[4200], err[256], hex[41];

    snprintf(path, sizeof(path), "%s/%s.addr", registry, SMALL_NODE_ID);
    if (registry_entry_read(path, &e, err, sizeof(err)) < 0)
        return;
    registry_hex_encode(e.addr, e.addr_len < 20 ? e.addr_len : 20, hex);
    printf("Server address: WorkerAddress(%s..., %zu bytes; host %s, pid %lld)\n", hex, e.addr_len,
           e.host, (long long)e.pid);
    registry_entry_cleanup(&e);
}

static int small_server(const struct small_opts *o)
{
    struct config cfg;
    struct server *srv;
    sigset_t set;
    char err[1024];
    int rc;

    /* Before any thread exists (UCX starts some in server_create): signals
     * then reach only the server loop's signalfd. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    printf("Starting BenchFS server...\n\n");
    printf("  Data directory:     %s\n", o->data_dir);
    printf("  Registry directory: %s\n\n", o->registry);
    printf("Setting up server node...\n");
    fflush(stdout);

    config_defaults(&cfg);
    if (config_set(&cfg, "node.node_id", SMALL_NODE_ID, err, sizeof(err)) < 0 ||
        config_set(&cfg, "node.data_dir", o->data_dir, err, sizeof(err)) < 0 ||
        config_set(&cfg, "node.registry_dir", o->registry, err, sizeof(err)) < 0)
        goto bad_config;
    for (int i = 0; i < o->nsets; i++) {
        char key[128];
        const char *eq = strchr(o->sets[i], '=');

        if (eq == NULL || (size_t)(eq - o->sets[i]) >= sizeof(key)) {
            snprintf(err, sizeof(err), "--set %s: expected KEY=VALUE", o->sets[i]);
            goto bad_config;
        }
        memcpy(key, o->sets[i], (size_t)(eq - o->sets[i]));
        key[eq - o->sets[i]] = '\0';
        if (config_set(&cfg, key, eq + 1, err, sizeof(err)) < 0)
            goto bad_config;
    }
    log_init((enum log_level)cfg.log_level, cfg.node_id);
    rc = small_mkdirs(o->registry);
    if (rc < 0) {
        fprintf(stderr, "Error: cannot create registry directory %s: %s\n", o->registry,
                strerror(-rc));
        return 1;
    }
    rc = server_create(&cfg, &srv, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "Error: Failed to set up the server: %s\n", err);
        return 1;
    }
    rc = server_publish(srv, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "Error: Failed to register the server address: %s\n", err);
        server_destroy(srv);
        return 1;
    }
    printf("Server worker address registered to %s\n", o->registry);
    small_print_address(o->registry);
    printf("\nRegistering RPC handlers...\n");
    printf("Server is ready and listening for requests.\n");
    printf("Press Ctrl+C to stop the server.\n");
    fflush(stdout);
    rc = server_run(srv, true);
    server_destroy(srv);
    printf("\nServer stopped%s.\n", rc < 0 ? " with an error" : "");
    return rc < 0 ? 1 : 0;

bad_config:
    fprintf(stderr, "Error: %s\n", err);
    return 2;
}

/* ---- client: connecting ------------------------------------------------------ */

static void small_troubleshoot(const char *registry)
{
    fprintf(stderr,
            "\nPossible causes:\n"
            "  - the server is not running: start it first (benchfs-bench small --mode server)\n"
            "  - the two sides use different registry directories: give the same path\n"
            "  - the registry directory is not accessible here: check the (NFS) mount\n"
            "  - timeout: check that the server printed 'Server worker address registered to "
            "...'\n"
            "Debugging: ls -la %s (expect %s.addr); BENCHFS_LOG=debug and UCX_LOG_LEVEL=info "
            "on both sides.\n",
            registry, SMALL_NODE_ID);
}

/*
 * Wait for <registry>/server.addr. A missing directory is waited for too
 * (the server creates it); a directory we may not read fails at once.
 */
static int small_wait_server(const char *registry, long timeout_s)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_s * 1000000000ull;
    char path[4200];
    bool dir_seen = false;

    snprintf(path, sizeof(path), "%s/%s.addr", registry, SMALL_NODE_ID);
    for (;;) {
        struct stat st;

        if (stat(registry, &st) == 0) {
            dir_seen = true;
            if (!S_ISDIR(st.st_mode)) {
                fprintf(stderr, "Error: registry path %s is not a directory\n", registry);
                return -ENOTDIR;
            }
            if (access(registry, R_OK | X_OK) < 0) {
                fprintf(stderr, "Error: cannot access registry directory %s: %s\n", registry,
                        strerror(errno));
                return -EACCES;
            }
            if (access(path, F_OK) == 0)
                return 0;
        } else if (errno != ENOENT) {
            fprintf(stderr, "Error: cannot access registry directory %s: %s\n", registry,
                    strerror(errno));
            return -errno;
        }
        if (bench_now_ns() > deadline)
            break;
        usleep(50000);
    }
    if (!dir_seen)
        fprintf(stderr,
                "Error: Failed to connect to server: registry directory %s does not exist "
                "(waited %ld seconds)\n",
                registry, timeout_s);
    else
        fprintf(stderr,
                "Error: Failed to connect to server: no server registered in %s within %ld "
                "seconds (%s.addr missing)\n",
                registry, timeout_s, SMALL_NODE_ID);
    return -ETIMEDOUT;
}

/* ---- client: measuring ------------------------------------------------------- */

struct small_result {
    char name[64];
    uint64_t size; /* 0 for metadata */
    struct bench_summary s;
};

static void small_fill(uint8_t *buf, uint64_t size, long i)
{
    for (uint64_t k = 0; k < size; k++)
        buf[k] = (uint8_t)(k * 31 + (uint64_t)i * 7 + size);
}

/* One iteration; kind 0 create, 1 write, 2 read. 0 or -1 (message printed). */
static int small_op(int kind, const char *path, uint8_t *buf, uint8_t *chk, uint64_t size, long i)
{
    int flags = kind == 0   ? O_CREAT | O_EXCL | O_WRONLY
                : kind == 1 ? O_CREAT | O_WRONLY | O_TRUNC
                            : O_RDONLY;
    int fd = benchfs_open(path, flags, 0644);
    ssize_t n = 0;

    if (fd < 0)
        goto fail;
    if (kind == 1)
        n = benchfs_write(fd, buf, size);
    else if (kind == 2)
        n = benchfs_read(fd, chk, size);
    if (n < 0) {
        benchfs_close(fd);
        goto fail;
    }
    if (benchfs_close(fd) < 0)
        goto fail;
    if (kind != 0 && (uint64_t)n != size) {
        fprintf(stderr, "Error: %s: short %s (%zd of %llu bytes)\n", path,
                kind == 1 ? "write" : "read", n, (unsigned long long)size);
        return -1;
    }
    if (kind == 2) {
        small_fill(buf, size, i);
        if (memcmp(buf, chk, size) != 0) {
            fprintf(stderr, "Error: %s: data read back differs from data written\n", path);
            return -1;
        }
    }
    return 0;

fail:
    fprintf(stderr, "Error: %s: %s\n", path, benchfs_last_error());
    return -1;
}

/* Warmup then measured iterations of one benchmark. */
static int small_bench(const struct small_opts *o, const char *dir, int kind, uint64_t size,
                       struct small_result *r)
{
    static const char *prefix[] = {"create", "file", "file"};
    struct bench_samples smp;
    uint8_t *buf = malloc(size ? size : 1), *chk = malloc(size ? size : 1);
    char path[512];
    int rc = -1;

    if (buf == NULL || chk == NULL || bench_samples_init(&smp, (size_t)o->iterations) < 0) {
        free(buf);
        free(chk);
        fprintf(stderr, "Error: out of memory\n");
        return -1;
    }
    for (long i = -o->warmup; i < o->iterations; i++) {
        uint64_t t0;

        snprintf(path, sizeof(path), "%s/%s%s.%llu.%ld", dir, prefix[kind], i < 0 ? "-warm" : "",
                 (unsigned long long)size, i < 0 ? -i : i);
        if (kind == 1)
            small_fill(buf, size, i);
        t0 = bench_now_ns();
        if (small_op(kind, path, buf, chk, size, i) < 0)
            goto out;
        if (i >= 0)
            bench_samples_add(&smp, bench_now_ns() - t0);
    }
    bench_samples_summarize(&smp, &r->s);
    r->size = size;
    rc = 0;
out:
    bench_samples_cleanup(&smp);
    free(buf);
    free(chk);
    return rc;
}

static void small_cleanup(const struct small_opts *o, const char *dir)
{
    char path[512];

    for (long i = -o->warmup; i < o->iterations; i++) {
        snprintf(path, sizeof(path), "%s/create%s.0.%ld", dir, i < 0 ? "-warm" : "",
                 i < 0 ? -i : i);
        benchfs_unlink(path);
        for (int k = 0; k < o->nsizes; k++) {
            snprintf(path, sizeof(path), "%s/file%s.%llu.%ld", dir, i < 0 ? "-warm" : "",
                     (unsigned long long)o->sizes[k], i < 0 ? -i : i);
            benchfs_unlink(path);
        }
    }
    benchfs_rmdir(dir);
}

static void small_print(const struct small_result *r)
{
    char a[32], b[32], c[32], d[32], e[32], f[32];
    double secs = r->s.total_ns / 1e9, ops = secs > 0 ? (double)r->s.count / secs : 0;

    printf("  %s\n", r->name);
    printf("    Iterations: %llu\n", (unsigned long long)r->s.count);
    printf("    Total:      %s\n", bench_fmt_ns(r->s.total_ns, a, sizeof(a)));
    printf("    Average:    %s\n", bench_fmt_ns(r->s.mean_ns, b, sizeof(b)));
    printf("    Min:        %s\n", bench_fmt_ns(r->s.min_ns, c, sizeof(c)));
    printf("    Max:        %s\n", bench_fmt_ns(r->s.max_ns, d, sizeof(d)));
    printf("    p50:        %s\n", bench_fmt_ns(r->s.p50_ns, e, sizeof(e)));
    printf("    p99:        %s\n", bench_fmt_ns(r->s.p99_ns, f, sizeof(f)));
    if (r->size > 0)
        printf("    Throughput: %.2f ops/sec (%.2f MiB/s)\n\n", ops,
               ops * (double)r->size / (1 << 20));
    else
        printf("    Throughput: %.2f ops/sec\n\n", ops);
}

static void small_json(const struct small_opts *o, const struct small_result *res, int n)
{
    struct bench_json j;

    if (bench_json_open(&j, o->json) < 0) {
        fprintf(stderr, "Error: cannot write %s: %s\n", o->json, strerror(errno));
        return;
    }
    bench_json_obj_begin(&j, NULL);
    bench_json_header(&j, "small");
    bench_json_str(&j, "registry", o->registry);
    bench_json_int(&j, "iterations", o->iterations);
    bench_json_int(&j, "warmup", o->warmup);
    bench_json_arr_begin(&j, "results");
    for (int i = 0; i < n; i++) {
        double ops = res[i].s.total_ns > 0 ? (double)res[i].s.count / (res[i].s.total_ns / 1e9) : 0;

        bench_json_obj_begin(&j, NULL);
        bench_json_str(&j, "name", res[i].name);
        bench_json_int(&j, "size", (int64_t)res[i].size);
        bench_json_summary(&j, "latency", &res[i].s);
        bench_json_num(&j, "ops_per_s", ops);
        bench_json_num(&j, "mib_per_s", ops * (double)res[i].size / (1 << 20));
        bench_json_obj_end(&j);
    }
    bench_json_arr_end(&j);
    bench_json_obj_end(&j);
    if (bench_json_close(&j) < 0)
        fprintf(stderr, "Error: writing %s failed\n", o->json);
}

static int small_client(const struct small_opts *o)
{
    struct small_result res[1 + 2 * BENCH_MAX_SIZES];
    struct benchfs_options bo;
    char dir[300], host[128] = "host";
    uint64_t t0;
    int n = 0, rc = 1;

    printf("Starting BenchFS client...\n\n");
    printf("  Registry directory: %s\n\n", o->registry);
    printf("Setting up client node...\n");
    printf("Waiting for server to register (timeout: %ld seconds)...\n", o->timeout_s);
    fflush(stdout);
    t0 = bench_now_ns();
    if (small_wait_server(o->registry, o->timeout_s) < 0) {
        small_troubleshoot(o->registry);
        return 1;
    }
    benchfs_options_init(&bo);
    bo.expected_servers = 1;
    bo.discovery_timeout_ms = (int)(o->timeout_s * 1000 - (long)((bench_now_ns() - t0) / 1000000));
    if (bo.discovery_timeout_ms < 1000)
        bo.discovery_timeout_ms = 1000;
    if (benchfs_connect(o->registry, &bo) < 0) {
        fprintf(stderr, "Error: Failed to connect to server: %s\n", benchfs_last_error());
        small_troubleshoot(o->registry);
        return 1;
    }
    printf("Successfully connected to server\n\n");
    printf("=== BenchFS 2-Node Benchmark (Distributed Mode) ===\n\n");
    printf("Configuration:\n  Iterations: %ld\n  Warmup:     %ld\n  File sizes: [", o->iterations,
           o->warmup);
    for (int i = 0; i < o->nsizes; i++)
        printf("%s%llu", i ? ", " : "", (unsigned long long)o->sizes[i]);
    printf("] bytes\n  Transport:  %s (UCX_TLS=%s)\n\n", bench_transport_label(),
           getenv("UCX_TLS") ? getenv("UCX_TLS") : "");

    gethostname(host, sizeof(host) - 1);
    snprintf(dir, sizeof(dir), "/small.%s.%d", host, (int)getpid());
    if (benchfs_mkdir(dir, 0755) < 0) {
        fprintf(stderr, "Error: mkdir %s: %s\n", dir, benchfs_last_error());
        goto out;
    }
    printf("Running metadata create benchmark...\n");
    fflush(stdout);
    snprintf(res[n].name, sizeof(res[n].name), "Metadata Create (file creation)");
    if (small_bench(o, dir, 0, 0, &res[n]) < 0)
        goto out_clean;
    n++;
    for (int kind = 1; kind <= 2; kind++) {
        for (int i = 0; i < o->nsizes; i++) {
            printf("Running small %s benchmark (%llu bytes)...\n", kind == 1 ? "write" : "read",
                   (unsigned long long)o->sizes[i]);
            fflush(stdout);
            snprintf(res[n].name, sizeof(res[n].name), "Small %s (%llu bytes)",
                     kind == 1 ? "Write" : "Read", (unsigned long long)o->sizes[i]);
            if (small_bench(o, dir, kind, o->sizes[i], &res[n]) < 0)
                goto out_clean;
            n++;
        }
    }
    printf("\n=== Benchmark Results ===\n\n");
    for (int i = 0; i < n; i++)
        small_print(&res[i]);
    small_json(o, res, n);
    rc = 0;
out_clean:
    small_cleanup(o, dir);
out:
    benchfs_disconnect();
    return rc;
}

/* ---- command line -------------------------------------------------------------- */

static void small_usage(FILE *out)
{
    fprintf(out,
            "Usage: benchfs-bench small --mode server --registry-dir DIR --data-dir DIR\n"
            "       benchfs-bench small --mode client --registry-dir DIR [OPTIONS]\n"
            "Two-node small-file benchmark (seed 002): a server publishes DIR/server.addr in a\n"
            "shared registry directory; a client on this or another host measures metadata\n"
            "create and small writes / reads.\n\n"
            "  --mode server|client   what to run\n"
            "  --registry-dir DIR     registry shared by both sides (created by the server)\n"
            "  --data-dir DIR         server: where chunks and metadata are stored\n"
            "  --set KEY=VALUE        server: configuration override (repeatable)\n"
            "  --timeout SEC          client: wait this long for the server (30)\n"
            "  --iterations N         client: measured iterations per benchmark (100)\n"
            "  --warmup N             client: unmeasured iterations before (10)\n"
            "  --sizes LIST           client: file sizes (1k,4k,16k)\n"
            "  --json FILE            client: also write the results as JSON\n");
}

int bench_small_main(int argc, char **argv)
{
    enum {
        OPT_MODE = 256,
        OPT_REG,
        OPT_DATA,
        OPT_SET,
        OPT_TIMEOUT,
        OPT_ITER,
        OPT_WARM,
        OPT_SIZES,
        OPT_JSON
    };
    static const struct option lo[] = {
        {"mode", required_argument, NULL, OPT_MODE},
        {"registry-dir", required_argument, NULL, OPT_REG},
        {"registry", required_argument, NULL, OPT_REG},
        {"data-dir", required_argument, NULL, OPT_DATA},
        {"set", required_argument, NULL, OPT_SET},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"iterations", required_argument, NULL, OPT_ITER},
        {"warmup", required_argument, NULL, OPT_WARM},
        {"sizes", required_argument, NULL, OPT_SIZES},
        {"json", required_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct small_opts o = {.iterations = 100,
                           .warmup = 10,
                           .timeout_s = 30,
                           .sizes = {1024, 4096, 16384},
                           .nsizes = 3};
    int opt;

    while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        const char *bad = NULL;

        switch (opt) {
        case OPT_MODE:
            o.mode = optarg;
            break;
        case OPT_REG:
            o.registry = optarg;
            break;
        case OPT_DATA:
            o.data_dir = optarg;
            break;
        case OPT_SET:
            if (o.nsets == 32)
                bad = "--set (too many)";
            else
                o.sets[o.nsets++] = optarg;
            break;
        case OPT_TIMEOUT:
            if (bench_parse_long(optarg, 1, 86400, &o.timeout_s) < 0)
                bad = "--timeout";
            break;
        case OPT_ITER:
            if (bench_parse_long(optarg, 1, 10000000, &o.iterations) < 0)
                bad = "--iterations";
            break;
        case OPT_WARM:
            if (bench_parse_long(optarg, 0, 10000000, &o.warmup) < 0)
                bad = "--warmup";
            break;
        case OPT_SIZES:
            if (bench_parse_size_list(optarg, o.sizes, BENCH_MAX_SIZES, &o.nsizes) < 0)
                bad = "--sizes";
            break;
        case OPT_JSON:
            o.json = optarg;
            break;
        case 'h':
            small_usage(stdout);
            return 0;
        default:
            small_usage(stderr);
            return 2;
        }
        if (bad != NULL) {
            fprintf(stderr, "benchfs-bench small: invalid %s '%s'\n", bad, optarg);
            return 2;
        }
    }
    if (o.mode == NULL || o.registry == NULL || optind < argc) {
        fprintf(stderr, "benchfs-bench small: --mode and --registry-dir are required\n");
        small_usage(stderr);
        return 2;
    }
    if (strcmp(o.mode, "server") == 0) {
        if (o.data_dir == NULL) {
            fprintf(stderr, "benchfs-bench small: --mode server needs --data-dir\n");
            return 2;
        }
        return small_server(&o);
    }
    if (strcmp(o.mode, "client") == 0)
        return small_client(&o);
    fprintf(stderr, "benchfs-bench small: --mode must be server or client\n");
    return 2;
}
