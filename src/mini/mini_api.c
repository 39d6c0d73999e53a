/*
 * mini_api.c - the public C API of libbenchfs_mini (include/benchfs_mini.h):
 * process-wide state, argument checks, and the one place errno is set.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream, strsignal, ... */
#endif
#include "benchfs_mini.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mini/mini_client.h"
#include "mini/mini_log.h"
#include "mini/mini_registry.h"
#include "mini/mini_server.h"

#define API_DEFAULT_TIMEOUT_MS 30000

static struct {
    int initialized;
    int rank;
    int timeout_ms;
    char registry[PATH_MAX];
    struct mini_server *server; /* non-NULL after a server init */
    struct mini_client *client; /* created on first use */
} api;

/* Every public function returns through here: errno mirrors the result. */
static int api_ret(int ret)
{
    if (ret < 0)
        errno = -ret;
    return ret;
}

static ssize_t api_ret_ssize(ssize_t ret)
{
    if (ret < 0)
        errno = (int)-ret;
    return ret;
}

static int env_int(const char *name, int fallback)
{
    const char *s = getenv(name);
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return fallback;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > INT_MAX)
        return fallback;
    return (int)v;
}

/* The rank an MPI launcher gave this process, or 0. */
static int env_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                       "SLURM_PROCID"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        int r = env_int(vars[i], -1);
        if (r >= 0)
            return r;
    }
    return 0;
}

static int api_host(char *host, size_t size)
{
    const char *env = getenv("BENCHFS_MINI_HOST");

    if (env != NULL && *env != '\0') {
        if (strlen(env) >= size)
            return -ENAMETOOLONG;
        strcpy(host, env);
        return 0;
    }
    if (gethostname(host, size) != 0)
        return -errno;
    host[size - 1] = '\0';
    return 0;
}

int benchfs_mini_init_rank(const char *registry_dir, int is_server, int rank)
{
    char host[MINI_REGISTRY_HOST_MAX + 1], tag[16];
    struct stat st;
    int ret;

    mini_clear_error();
    if (api.initialized)
        return api_ret(mini_fail(MINI_LOG_ERROR, -EALREADY, "benchfs_mini_init: already done"));
    if (registry_dir == NULL || *registry_dir == '\0')
        return api_ret(mini_fail(MINI_LOG_ERROR, -EINVAL, "benchfs_mini_init: no registry dir"));
    if (strlen(registry_dir) >= sizeof(api.registry))
        return api_ret(
            mini_fail(MINI_LOG_ERROR, -ENAMETOOLONG, "benchfs_mini_init: registry path too long"));
    if (rank < 0 || rank > BENCHFS_MINI_MAX_RANK)
        return api_ret(
            mini_fail(MINI_LOG_ERROR, -EINVAL, "benchfs_mini_init: invalid rank %d", rank));
    if (stat(registry_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return api_ret(mini_fail(MINI_LOG_ERROR, -ENOTDIR,
                                 "benchfs_mini_init: registry %s is not a directory",
                                 registry_dir));

    strcpy(api.registry, registry_dir);
    api.rank = rank;
    snprintf(tag, sizeof(tag), "r%d", rank);
    mini_log_set_tag(tag); /* log lines of the calling thread say "[r<rank> <pid>]" */
    api.timeout_ms = env_int("BENCHFS_MINI_TIMEOUT_MS", API_DEFAULT_TIMEOUT_MS);
    if (is_server) {
        ret = api_host(host, sizeof(host));
        if (ret != 0)
            return api_ret(
                mini_fail(MINI_LOG_ERROR, ret, "benchfs_mini_init: host name: %s", strerror(-ret)));
        ret = mini_server_create(api.registry, rank, host, &api.server);
        if (ret != 0)
            return api_ret(ret);
    }
    api.initialized = 1;
    return 0;
}

int benchfs_mini_init(const char *registry_dir, int is_server)
{
    return benchfs_mini_init_rank(registry_dir, is_server, env_rank());
}

int benchfs_mini_start_server(void)
{
    mini_clear_error();
    if (!api.initialized || api.server == NULL)
        return api_ret(mini_fail(MINI_LOG_ERROR, -EINVAL,
                                 "benchfs_mini_start_server: not initialized as a server"));
    return api_ret(mini_server_start(api.server));
}

int benchfs_mini_server_port(void)
{
    if (!api.initialized || api.server == NULL)
        return api_ret(-EINVAL);
    return mini_server_port(api.server);
}

/* The client, created on first use. */
static int api_client(struct mini_client **cli_p)
{
    int ret;

    if (!api.initialized)
        return mini_fail(MINI_LOG_ERROR, -EINVAL, "benchfs_mini: not initialized");
    if (api.client == NULL) {
        ret = mini_client_create(api.registry, api.timeout_ms, &api.client);
        if (ret != 0)
            return ret;
    }
    *cli_p = api.client;
    return 0;
}

int benchfs_mini_connect(int server_rank)
{
    struct mini_client *cli = NULL;
    int ret;

    mini_clear_error();
    ret = api_client(&cli);
    if (ret == 0)
        ret = mini_client_connect(cli, server_rank);
    return api_ret(ret);
}

int benchfs_mini_disconnect(int server_rank)
{
    mini_clear_error();
    if (!api.initialized)
        return api_ret(mini_fail(MINI_LOG_ERROR, -EINVAL, "benchfs_mini: not initialized"));
    if (api.client == NULL)
        return 0;
    return api_ret(mini_client_disconnect(api.client, server_rank));
}

int benchfs_mini_write(const char *path, const void *data, size_t len, int server_rank)
{
    struct mini_client *cli = NULL;
    int ret;

    mini_clear_error();
    ret = api_client(&cli);
    if (ret == 0)
        ret = mini_client_write(cli, server_rank, path, data, len);
    return api_ret(ret);
}

ssize_t benchfs_mini_read(const char *path, void *buf, size_t len, int server_rank)
{
    struct mini_client *cli = NULL;
    ssize_t ret;

    mini_clear_error();
    ret = api_client(&cli);
    if (ret == 0)
        ret = mini_client_read(cli, server_rank, path, buf, len);
    return api_ret_ssize(ret);
}

int benchfs_mini_progress(void)
{
    if (!api.initialized)
        return api_ret(mini_fail(MINI_LOG_ERROR, -EINVAL, "benchfs_mini: not initialized"));
    if (api.client == NULL)
        return 0;
    return mini_client_progress(api.client);
}

int benchfs_mini_finalize(void)
{
    mini_clear_error();
    if (!api.initialized)
        return 0;
    /* Clients first: our own connections may point at our own server. */
    mini_client_destroy(api.client);
    mini_server_destroy(api.server);
    memset(&api, 0, sizeof(api));
    return 0;
}

const char *benchfs_mini_errmsg(void)
{
    return mini_last_error();
}
