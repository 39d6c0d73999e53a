/*
 * benchfsd.c - the standalone BenchFS server daemon.
 *
 *   benchfsd [-c benchfs.toml] [--node-id ID] [--data-dir DIR]
 *            [--registry DIR] [--set section.key=value]... [--print-config]
 *
 * Flags override the file. Prints a "ready" log line and publishes
 * <registry>/<node_id>.addr when it can serve; SIGINT/SIGTERM stop it
 * gracefully (exit 0).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/daemon_opts.h"
#include "server/server.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: benchfsd [OPTIONS]\n"
            "Run one BenchFS server: serve a data dir and publish it in a registry dir.\n\n"
            "  -c, --config FILE      configuration file (TOML; default: built-in defaults)\n"
            "  -n, --node-id ID       node id (overrides [node] node_id)\n"
            "  -d, --data-dir DIR     data directory (overrides [node] data_dir)\n"
            "  -r, --registry DIR     registry directory (overrides [node] registry_dir)\n"
            "  -s, --set KEY=VALUE    override any key, e.g. --set storage.chunk_size=1048576\n"
            "  -l, --log-level LEVEL  error|warn|info|debug|trace (BENCHFS_LOG overrides)\n"
            "  -p, --print-config     print the effective configuration and exit\n"
            "  -h, --help             this help\n"
            "  -V, --version          version\n\n"
            "Configuration keys: docs/config.md. Transports: UCX_TLS (e.g. tcp,self or "
            "shm,self).\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},   {"node-id", required_argument, NULL, 'n'},
        {"data-dir", required_argument, NULL, 'd'}, {"registry", required_argument, NULL, 'r'},
        {"set", required_argument, NULL, 's'},      {"log-level", required_argument, NULL, 'l'},
        {"print-config", no_argument, NULL, 'p'},   {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *node_id = NULL, *data_dir = NULL, *registry = NULL;
    const char *level = NULL;
    const char *sets[64];
    int nsets = 0, opt, rc;
    bool print = false;
    struct config cfg;
    struct server *srv;
    char err[1024];

    while ((opt = getopt_long(argc, argv, "c:n:d:r:s:l:phV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'n':
            node_id = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'r':
            registry = optarg;
            break;
        case 's':
            if (nsets == 64) {
                fprintf(stderr, "benchfsd: too many --set options\n");
                return 2;
            }
            sets[nsets++] = optarg;
            break;
        case 'l':
            level = optarg;
            break;
        case 'p':
            print = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("benchfsd (BenchFS) 0.1.0\n");
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "benchfsd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (daemon_load_config(&cfg, config_path, true, "benchfsd") < 0)
        return 2;
    for (int i = 0; i < nsets; i++)
        if (daemon_apply_set(&cfg, sets[i], "benchfsd") < 0)
            return 2;
    if (node_id && config_set(&cfg, "node.node_id", node_id, err, sizeof(err)) < 0)
        goto bad_flag;
    if (data_dir && config_set(&cfg, "node.data_dir", data_dir, err, sizeof(err)) < 0)
        goto bad_flag;
    if (registry && config_set(&cfg, "node.registry_dir", registry, err, sizeof(err)) < 0)
        goto bad_flag;
    if (level && config_set(&cfg, "log.level", level, err, sizeof(err)) < 0)
        goto bad_flag;
    if (print) {
        config_print(&cfg, stdout);
        return 0;
    }
    log_init((enum log_level)cfg.log_level, cfg.node_id);
    daemon_block_signals();

    rc = server_create(&cfg, &srv, err, sizeof(err));
    if (rc < 0) {
        log_error("%s", err);
        return 1;
    }
    rc = server_publish(srv, err, sizeof(err));
    if (rc < 0) {
        log_error("%s", err);
        server_destroy(srv);
        return 1;
    }
    rc = server_run(srv, true);
    server_destroy(srv);
    return rc < 0 ? 1 : 0;

bad_flag:
    fprintf(stderr, "benchfsd: %s\n", err);
    return 2;
}
