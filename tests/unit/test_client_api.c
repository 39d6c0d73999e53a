/*
 * test_client_api.c - the public API without servers: options from the
 * environment, errno and benchfs_last_error() conventions, calls before
 * connecting, connect failures that need no server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchfs.h"

static void test_version(void **state)
{
    char want[32];

    (void)state;
    snprintf(want, sizeof(want), "%d.%d.%d", BENCHFS_VERSION_MAJOR, BENCHFS_VERSION_MINOR,
             BENCHFS_VERSION_PATCH);
    assert_string_equal(benchfs_version(), want);
}

static void test_options_env(void **state)
{
    struct benchfs_options o;

    (void)state;
    unsetenv("BENCHFS_EXPECTED_SERVERS");
    unsetenv("BENCHFS_CHUNK_SIZE");
    unsetenv("BENCHFS_RPC_TIMEOUT_MS");
    benchfs_options_init(&o);
    assert_int_equal(o.expected_servers, 0);
    assert_int_equal(o.chunk_size, 4u << 20);
    assert_int_equal(o.rpc_timeout_ms, 30000);
    assert_int_equal(o.discovery_timeout_ms, 30000);
    assert_int_equal(o.max_inflight, 64);

    setenv("BENCHFS_EXPECTED_SERVERS", "3", 1);
    setenv("BENCHFS_CHUNK_SIZE", "1M", 1);
    setenv("BENCHFS_RPC_TIMEOUT_MS", "1500", 1);
    benchfs_options_init(&o);
    assert_int_equal(o.expected_servers, 3);
    assert_int_equal(o.chunk_size, 1u << 20);
    assert_int_equal(o.rpc_timeout_ms, 1500);

    /* Garbage falls back to the default. */
    setenv("BENCHFS_CHUNK_SIZE", "12abc", 1);
    benchfs_options_init(&o);
    assert_int_equal(o.chunk_size, 4u << 20);
    setenv("BENCHFS_CHUNK_SIZE", "64KiB", 1);
    benchfs_options_init(&o);
    assert_int_equal(o.chunk_size, 64u << 10);
    setenv("BENCHFS_CHUNK_SIZE", "0x100000", 1);
    benchfs_options_init(&o);
    assert_int_equal(o.chunk_size, 1u << 20);
    setenv("BENCHFS_CHUNK_SIZE", "99999999999999999999999", 1); /* overflow */
    benchfs_options_init(&o);
    assert_int_equal(o.chunk_size, 4u << 20);
    unsetenv("BENCHFS_EXPECTED_SERVERS");
    unsetenv("BENCHFS_CHUNK_SIZE");
    unsetenv("BENCHFS_RPC_TIMEOUT_MS");
}

static void test_not_connected(void **state)
{
    struct stat st;
    char buf[8];

    (void)state;
    errno = 0;
    assert_int_equal(benchfs_open("/x", O_RDONLY, 0), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_non_null(strstr(benchfs_last_error(), "not connected"));
    assert_non_null(strstr(benchfs_last_error(), "open /x"));
    assert_int_equal(benchfs_stat("/", &st), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(benchfs_read(3, buf, sizeof(buf)), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_int_equal(benchfs_server_count(), -1);
    assert_int_equal(benchfs_disconnect(), -1);
    assert_int_equal(errno, ENOTCONN);
    assert_null(benchfs_opendir("/"));
    assert_int_equal(errno, ENOTCONN);

    /* A success leaves the last error of the thread alone. */
    errno = 0;
    assert_string_equal(benchfs_version(), "0.1.0");
    assert_non_null(strstr(benchfs_last_error(), "not connected"));
}

static void test_dir_handle_errors(void **state)
{
    (void)state;
    assert_null(benchfs_readdir(NULL));
    assert_int_equal(errno, EBADF);
    assert_int_equal(benchfs_closedir(NULL), -1);
    assert_int_equal(errno, EBADF);
}

static void test_connect_failures(void **state)
{
    char dir[] = "/tmp/benchfs-api-XXXXXX";
    struct benchfs_options o;

    (void)state;
    unsetenv("BENCHFS_REGISTRY");
    assert_int_equal(benchfs_connect(NULL, NULL), -1);
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(benchfs_last_error(), "BENCHFS_REGISTRY"));

    /* No such directory: at once. */
    assert_int_equal(benchfs_connect("/nonexistent/benchfs/registry", NULL), -1);
    assert_int_equal(errno, ENOENT);

    /* A directory where no server ever shows up: waits, then ETIMEDOUT. */
    assert_non_null(mkdtemp(dir));
    benchfs_options_init(&o);
    o.discovery_timeout_ms = 200;
    assert_int_equal(benchfs_connect(dir, &o), -1);
    assert_int_equal(errno, ETIMEDOUT);

    /* Options are checked before anything else. */
    benchfs_options_init(&o);
    o.chunk_size = 5000; /* not a power of two */
    assert_int_equal(benchfs_connect(dir, &o), -1);
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(benchfs_last_error(), "power of two"));
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),          cmocka_unit_test(test_options_env),
        cmocka_unit_test(test_not_connected),    cmocka_unit_test(test_dir_handle_errors),
        cmocka_unit_test(test_connect_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
