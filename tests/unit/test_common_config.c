/*
 * test_common_config.c - unit tests of common/config.c.
 *
 * Every error class is checked with its exact message, file name and line
 * number; every value type with its accepted and rejected spellings; the
 * --set path with the same checks; and config_print with a round trip
 * (print, parse into fresh defaults, compare byte for byte) over defaults
 * and over a configuration with every field changed, strings full of
 * characters that need escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ERRLEN 512

/* Parse `text` over the defaults as file "t.toml". */
static int parse(struct config *cfg, const char *text, char *err)
{
    config_defaults(cfg);
    return config_parse(cfg, text, strlen(text), "t.toml", err, ERRLEN);
}

static void expect_error(const char *text, const char *msg)
{
    struct config cfg;
    char err[ERRLEN];

    if (parse(&cfg, text, err) != -EINVAL)
        fail_msg("accepted: %s", text);
    assert_string_equal(err, msg);
}

static void expect_ok(const char *text, struct config *cfg)
{
    char err[ERRLEN];

    if (parse(cfg, text, err) != 0)
        fail_msg("rejected: %s\n  error: %s", text, err);
    assert_string_equal(err, "");
}

/* ---- defaults and a complete file ---- */

static void test_defaults(void **state)
{
    struct config cfg;

    (void)state;
    memset(&cfg, 0xff, sizeof(cfg));
    config_defaults(&cfg);
    assert_string_equal(cfg.node_id, "node_0");
    assert_string_equal(cfg.data_dir, "/tmp/benchfs/data");
    assert_string_equal(cfg.registry_dir, "/tmp/benchfs/registry");
    assert_int_equal(cfg.chunk_size, 4194304);
    assert_int_equal(cfg.queue_size, 256);
    assert_int_equal(cfg.buffer_size, 1048576);
    assert_int_equal(cfg.buffer_count, 64);
    assert_int_equal(cfg.submit_depth, 32);
    assert_int_equal(cfg.fd_cache, 256);
    assert_false(cfg.o_direct);
    assert_int_equal(cfg.tls.count, 0);
    assert_int_equal(cfg.expected_servers, 0);
    assert_int_equal(cfg.discovery_timeout_ms, 30000);
    assert_int_equal(cfg.spin_us, 50);
    assert_int_equal(cfg.rpc_timeout_ms, 30000);
    assert_int_equal(cfg.max_inflight, 64);
    assert_int_equal(cfg.max_requests, 1024);
    assert_int_equal(cfg.durability, DURABILITY_FSYNC);
    assert_true(cfg.map_size == INT64_C(4294967296));
    assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
    assert_string_equal(config_durability_name(cfg.durability), "fsync");
    assert_string_equal(config_durability_name(DURABILITY_NONE), "none");
    assert_string_equal(config_durability_name(DURABILITY_CLOSE), "close");
    assert_string_equal(config_durability_name(DURABILITY_ALWAYS), "always");
    assert_string_equal(config_durability_name(4), "?");
    assert_string_equal(config_durability_name(-1), "?");
}

static void test_full_file(void **state)
{
    static const char text[] = "# BenchFS test configuration\n"
                               "\n"
                               "[node]\n"
                               "node_id = \"node_12\"   # trailing comment\n"
                               "data_dir=\"/scratch/data\"\n"
                               "  registry_dir = '/shared/registry'\n"
                               "\n"
                               "[storage]\n"
                               "chunk_size = 0x800000\n"
                               "queue_size = 2_048\n"
                               "buffer_size = 1048576\n"
                               "buffer_count = 128\n"
                               "submit_depth = 64\n"
                               "fd_cache = 1024\n"
                               "o_direct = true\n"
                               "\t# an indented comment\n"
                               "[network]\n"
                               "tls = [\"shm\", \"tcp\", \"self\"]\n"
                               "expected_servers = 4\n"
                               "discovery_timeout_ms = 0\n"
                               "spin_us = +100\n"
                               "[rpc]\n"
                               "timeout_ms = 5000\n"
                               "max_inflight = 16\n"
                               "max_requests = 4096\n"
                               "[metadata]\n"
                               "durability = \"always\"\n"
                               "map_size = 1_099_511_627_776\n"
                               "[log]\n"
                               "level = \"debug\"";
    struct config cfg;

    (void)state;
    expect_ok(text, &cfg);
    assert_string_equal(cfg.node_id, "node_12");
    assert_string_equal(cfg.data_dir, "/scratch/data");
    assert_string_equal(cfg.registry_dir, "/shared/registry");
    assert_int_equal(cfg.chunk_size, 8388608);
    assert_int_equal(cfg.queue_size, 2048);
    assert_int_equal(cfg.buffer_count, 128);
    assert_int_equal(cfg.submit_depth, 64);
    assert_int_equal(cfg.fd_cache, 1024);
    assert_true(cfg.o_direct);
    assert_int_equal(cfg.tls.count, 3);
    assert_string_equal(cfg.tls.items[0], "shm");
    assert_string_equal(cfg.tls.items[1], "tcp");
    assert_string_equal(cfg.tls.items[2], "self");
    assert_int_equal(cfg.expected_servers, 4);
    assert_int_equal(cfg.discovery_timeout_ms, 0);
    assert_int_equal(cfg.spin_us, 100);
    assert_int_equal(cfg.rpc_timeout_ms, 5000);
    assert_int_equal(cfg.max_inflight, 16);
    assert_int_equal(cfg.max_requests, 4096);
    assert_int_equal(cfg.durability, DURABILITY_ALWAYS);
    assert_true(cfg.map_size == INT64_C(1099511627776));
    assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
}

static void test_empty_and_partial(void **state)
{
    struct config cfg;

    (void)state;
    expect_ok("", &cfg);
    assert_int_equal(cfg.chunk_size, 4194304);
    expect_ok("\n\n# only comments\n   \n\t\n", &cfg);
    /* Sections without keys, keys left out: defaults stay. */
    expect_ok("[node]\n[storage]\nqueue_size = 16\n[log]\n", &cfg);
    assert_int_equal(cfg.queue_size, 16);
    assert_int_equal(cfg.chunk_size, 4194304);
    assert_string_equal(cfg.node_id, "node_0");
    assert_int_equal(config_parse(&cfg, NULL, 0, "t", NULL, 0), 0);
}

static void test_line_endings_and_bom(void **state)
{
    struct config cfg;

    (void)state;
    expect_ok("[storage]\r\nchunk_size = 8192\r\n# c\r\nqueue_size = 16 # c\r\n\r\n", &cfg);
    assert_int_equal(cfg.chunk_size, 8192);
    assert_int_equal(cfg.queue_size, 16);
    expect_ok("\xef\xbb\xbf[storage]\nchunk_size = 8192\n", &cfg);
    assert_int_equal(cfg.chunk_size, 8192);
    /* Line numbers count CRLF lines too. */
    expect_error("[storage]\r\n\r\nbad = 1\r\n", "t.toml:3: unknown key 'bad' in [storage]");
    expect_error("[storage]\r\nchunk_size = 4096 x\r\n",
                 "t.toml:2: storage.chunk_size: garbage after the value: 'x'");
    /* A lone CR is not a line end. */
    expect_error("[storage]\nchunk_size = 4096\rqueue_size = 8\n",
                 "t.toml:2: storage.chunk_size: garbage after the value: '?queue_size = 8'");
}

/* ---- error classes ---- */

static void test_error_unknown_section(void **state)
{
    (void)state;
    expect_error("[storage]\nchunk_size = 4096\n\n[stroage]\n",
                 "t.toml:4: unknown section [stroage]");
    expect_error("[storage.x]\n", "t.toml:1: unknown section [storage.x]");
    expect_error("[ Storage ]\n", "t.toml:1: unknown section [Storage]");
}

static void test_error_unknown_key(void **state)
{
    (void)state;
    expect_error("# c\n[storage]\nchunk_sz = 1\n", "t.toml:3: unknown key 'chunk_sz' in [storage]");
    expect_error("[node]\nchunk_size = 4096\n", "t.toml:2: unknown key 'chunk_size' in [node]");
    expect_error("[storage]\na.b = 1\n", "t.toml:2: unknown key 'a.b' in [storage]");
    /* Keys are looked up in their own section only. */
    expect_error("[rpc]\nlevel = \"info\"\n", "t.toml:2: unknown key 'level' in [rpc]");
}

static void test_error_key_outside_section(void **state)
{
    (void)state;
    expect_error("\n\nchunk_size = 4096\n", "t.toml:3: key 'chunk_size' outside any section");
    expect_error("storage.chunk_size = 4096\n",
                 "t.toml:1: key 'storage.chunk_size' outside any section");
}

static void test_error_wrong_type(void **state)
{
    (void)state;
    expect_error("[storage]\nchunk_size = \"4M\"\n",
                 "t.toml:2: storage.chunk_size: expected an integer, got a string");
    expect_error("[storage]\nchunk_size = true\n",
                 "t.toml:2: storage.chunk_size: expected an integer, got a boolean");
    expect_error("[storage]\nchunk_size = [1]\n",
                 "t.toml:2: storage.chunk_size: expected an integer, got an array");
    expect_error("[storage]\nchunk_size = {a = 1}\n",
                 "t.toml:2: storage.chunk_size: expected an integer, got an inline table");
    expect_error("[storage]\no_direct = 1\n",
                 "t.toml:2: storage.o_direct: expected true or false, got a number");
    expect_error("[storage]\no_direct = \"true\"\n",
                 "t.toml:2: storage.o_direct: expected true or false, got a string");
    expect_error("[node]\nnode_id = 5\n",
                 "t.toml:2: node.node_id: expected a string, got a number");
    expect_error("[metadata]\ndurability = 1\n",
                 "t.toml:2: metadata.durability: expected a string, got a number");
    expect_error("[network]\ntls = \"tcp\"\n",
                 "t.toml:2: network.tls: expected an array of strings, got a string");
}

static void test_error_out_of_range(void **state)
{
    (void)state;
    expect_error("[storage]\nchunk_size = 12\n",
                 "t.toml:2: storage.chunk_size: 12 is below the minimum 4096");
    expect_error("[storage]\nchunk_size = 0x80000000\n",
                 "t.toml:2: storage.chunk_size: 2147483648 is above the maximum 1073741824");
    expect_error("[network]\nexpected_servers = -1\n",
                 "t.toml:2: network.expected_servers: -1 is below the minimum 0");
    expect_error("[network]\nexpected_servers = -9223372036854775808\n",
                 "t.toml:2: network.expected_servers: -9223372036854775808 is below the minimum 0");
    expect_error("[metadata]\nmap_size = 9223372036854775807\n",
                 "t.toml:2: metadata.map_size: 9223372036854775807 is above the maximum "
                 "1099511627776");
    expect_error(
        "[metadata]\nmap_size = 9223372036854775808\n",
        "t.toml:2: metadata.map_size: 9223372036854775808 is out of range (64-bit integer)");
    expect_error("[metadata]\nmap_size = -9223372036854775809\n",
                 "t.toml:2: metadata.map_size: -9223372036854775809 is out of range (64-bit "
                 "integer)");
    expect_error(
        "[metadata]\nmap_size = 0x10000000000000000\n",
        "t.toml:2: metadata.map_size: 0x10000000000000000 is out of range (64-bit integer)");
}

static void test_limits_exact(void **state)
{
    struct config cfg;

    (void)state;
    expect_ok("[storage]\nchunk_size = 4096\n", &cfg);
    assert_int_equal(cfg.chunk_size, 4096);
    expect_ok("[storage]\nchunk_size = 1073741824\n", &cfg);
    assert_int_equal(cfg.chunk_size, 1073741824);
    expect_error("[storage]\nchunk_size = 4095\n",
                 "t.toml:2: storage.chunk_size: 4095 is below the minimum 4096");
    expect_error("[storage]\nchunk_size = 1073741825\n",
                 "t.toml:2: storage.chunk_size: 1073741825 is above the maximum 1073741824");
    expect_ok("[network]\nspin_us = 0\nexpected_servers = -0\n", &cfg);
    assert_int_equal(cfg.spin_us, 0);
}

static void test_error_duplicate(void **state)
{
    (void)state;
    expect_error("[storage]\nchunk_size = 4096\nqueue_size = 8\nchunk_size = 8192\n",
                 "t.toml:4: storage.chunk_size: duplicate key (first set on line 2)");
    expect_error("[storage]\nqueue_size = 8\n[node]\n[storage]\n",
                 "t.toml:4: section [storage] appears twice (first on line 1)");
}

static void test_error_garbage_after_value(void **state)
{
    (void)state;
    expect_error("[storage]\nchunk_size = 4096 4096\n",
                 "t.toml:2: storage.chunk_size: garbage after the value: '4096'");
    expect_error("[node]\nnode_id = \"a\" b # c\n",
                 "t.toml:2: node.node_id: garbage after the value: 'b # c'");
    expect_error("[storage]\no_direct = true false\n",
                 "t.toml:2: storage.o_direct: garbage after the value: 'false'");
    expect_error("[network]\ntls = [\"a\"] ]\n",
                 "t.toml:2: network.tls: garbage after the value: ']'");
    expect_error("[storage] x\n", "t.toml:1: garbage after the section header: 'x'");
    /* NUL bytes are garbage too (the length, not a NUL, ends the text). */
    {
        static const char text[] = "[storage]\nchunk_size = 4096\0\n";
        struct config cfg;
        char err[ERRLEN];

        config_defaults(&cfg);
        assert_int_equal(config_parse(&cfg, text, sizeof(text) - 1, "t.toml", err, ERRLEN),
                         -EINVAL);
        assert_string_equal(err, "t.toml:2: storage.chunk_size: garbage after the value: '?'");
    }
}

static void test_error_unterminated_string(void **state)
{
    (void)state;
    expect_error("[node]\nnode_id = \"abc\n", "t.toml:2: node.node_id: unterminated string");
    expect_error("[node]\n\nnode_id = \"abc", "t.toml:3: node.node_id: unterminated string");
    expect_error("[node]\nnode_id = 'abc\r\n", "t.toml:2: node.node_id: unterminated string");
    expect_error("[node]\nnode_id = \"abc\\", "t.toml:2: node.node_id: unterminated string");
    expect_error("[node]\nnode_id = \"abc\\\n\"", "t.toml:2: node.node_id: unterminated string");
}

static void test_error_syntax(void **state)
{
    (void)state;
    expect_error("[[storage]]\n", "t.toml:1: arrays of tables ([[...]]) are not supported");
    expect_error("[storage\n", "t.toml:1: invalid section header");
    expect_error("[]\n", "t.toml:1: invalid section header");
    expect_error("[storage]\n= 5\n", "t.toml:2: expected a key or a [section]");
    expect_error("[storage]\n\"chunk_size\" = 5\n", "t.toml:2: expected a key or a [section]");
    expect_error("[storage]\nchunk_size 4096\n", "t.toml:2: expected '=' after key 'chunk_size'");
    expect_error("[storage]\nchunk_size\n", "t.toml:2: expected '=' after key 'chunk_size'");
    expect_error("[storage]\nchunk_size =\n", "t.toml:2: storage.chunk_size: missing value");
    expect_error("[storage]\nchunk_size = # none\n", "t.toml:2: storage.chunk_size: missing value");
    expect_error("[storage]\nchunk_size = ", "t.toml:2: storage.chunk_size: missing value");
}

static void test_integers(void **state)
{
    static const struct {
        const char *text;
        int64_t value;
    } good[] = {
        {"8192", 8192},  {"+8192", 8192},      {"0x2000", 8192},     {"0x2_000", 8192},
        {"8_192", 8192}, {"0xABCDE", 0xabcde}, {"0xabcde", 0xabcde}, {"1_000_000", 1000000},
    };
    static const char *const bad[] = {"4M",   "1.5",     "1e3",  "007",   "0x",  "1__000",
                                      "1_",   "-0x1000", "0X10", "+",     "-",   "0b1000000000000",
                                      "0o17", "0x_1000", "12-3", "8192a", "0x1G"};
    char text[128], msg[256];
    struct config cfg;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "[storage]\nchunk_size = %s\n", good[i].text);
        expect_ok(text, &cfg);
        assert_int_equal(cfg.chunk_size, good[i].value);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[storage]\nchunk_size = %s\n", bad[i]);
        snprintf(msg, sizeof(msg), "t.toml:2: storage.chunk_size: invalid integer '%s'", bad[i]);
        expect_error(text, msg);
    }
    expect_error("[storage]\nchunk_size = _1\n",
                 "t.toml:2: storage.chunk_size: invalid value '_1'");
    expect_error("[storage]\nchunk_size = inf\n",
                 "t.toml:2: storage.chunk_size: invalid value 'inf'");
}

static void test_booleans(void **state)
{
    struct config cfg;

    (void)state;
    expect_ok("[storage]\no_direct = true\n", &cfg);
    assert_true(cfg.o_direct);
    expect_ok("[storage]\no_direct = false # off\n", &cfg);
    assert_false(cfg.o_direct);
    expect_error("[storage]\no_direct = yes\n", "t.toml:2: storage.o_direct: invalid value 'yes'");
    expect_error("[storage]\no_direct = True\n",
                 "t.toml:2: storage.o_direct: invalid value 'True'");
    expect_error("[storage]\no_direct = trueish\n",
                 "t.toml:2: storage.o_direct: invalid value 'trueish'");
}

static void test_strings(void **state)
{
    struct config cfg;

    (void)state;
    expect_ok("[node]\nnode_id = \"a\\tb\\n\\\"q\\\"\\\\ \\b\\f\\r\"\n", &cfg);
    assert_string_equal(cfg.node_id, "a\tb\n\"q\"\\ \b\f\r");
    expect_ok("[node]\nnode_id = \"caf\\u00e9 \\U0001F600 \\u20AC\"\n", &cfg);
    assert_string_equal(cfg.node_id, "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac");
    expect_ok("[node]\nnode_id = 'C:\\dir\\\"x'\n", &cfg); /* literal: no escapes */
    assert_string_equal(cfg.node_id, "C:\\dir\\\"x");
    expect_ok("[node]\nnode_id = \"tab\there # not a comment\"\n", &cfg);
    assert_string_equal(cfg.node_id, "tab\there # not a comment");
    expect_ok("[node]\nnode_id = \"\xc3\xa9t\xc3\xa9\"\n", &cfg); /* raw UTF-8 */
    assert_string_equal(cfg.node_id, "\xc3\xa9t\xc3\xa9");

    expect_error("[node]\nnode_id = \"a\\qb\"\n",
                 "t.toml:2: node.node_id: invalid escape '\\q' in string");
    expect_error("[node]\nnode_id = \"\\u12\"\n", "t.toml:2: node.node_id: \\u needs 4 hex digits");
    expect_error("[node]\nnode_id = \"\\U0001F6\"\n",
                 "t.toml:2: node.node_id: \\U needs 8 hex digits");
    expect_error("[node]\nnode_id = \"a\\u0000b\"\n",
                 "t.toml:2: node.node_id: \\u0000 is not an allowed character");
    expect_error("[node]\nnode_id = \"\\uD800\"\n",
                 "t.toml:2: node.node_id: \\uD800 is not an allowed character");
    expect_error("[node]\nnode_id = \"\\U00110000\"\n",
                 "t.toml:2: node.node_id: \\U00110000 is not an allowed character");
    expect_error("[node]\nnode_id = \"a\x01z\"\n",
                 "t.toml:2: node.node_id: control character 0x01 in string (use an escape)");
    expect_error("[node]\nnode_id = \"\"\"x\"\"\"\n",
                 "t.toml:2: node.node_id: multi-line strings are not supported");
    expect_error("[node]\nnode_id = '''x'''\n",
                 "t.toml:2: node.node_id: multi-line strings are not supported");
}

/* A string of `len` copies of 'd' as a TOML line "key = "ddd..."". */
static char *long_value(const char *section_key, size_t len)
{
    size_t n = strlen(section_key) + len + 32;
    char *text = malloc(n), *p;

    assert_non_null(text);
    p = text + snprintf(text, n, "%s = \"", section_key);
    memset(p, 'd', len);
    strcpy(p + len, "\"\n");
    return text;
}

static void test_string_lengths(void **state)
{
    struct config cfg;
    char *text;

    (void)state;
    text = long_value("[node]\nnode_id", 63);
    expect_ok(text, &cfg);
    assert_int_equal(strlen(cfg.node_id), 63);
    free(text);
    text = long_value("[node]\nnode_id", 64);
    expect_error(text, "t.toml:2: node.node_id: 64 bytes is longer than the maximum 63");
    free(text);
    expect_error("[node]\nnode_id = \"\"\n", "t.toml:2: node.node_id: must not be empty");

    text = long_value("[node]\ndata_dir", 4000);
    expect_ok(text, &cfg);
    assert_int_equal(strlen(cfg.data_dir), 4000);
    free(text);
    text = long_value("[node]\ndata_dir", 4001);
    expect_error(text, "t.toml:2: node.data_dir: 4001 bytes is longer than the maximum 4000");
    free(text);
    text = long_value("[node]\ndata_dir", 100000); /* longer than any buffer */
    expect_error(text, "t.toml:2: node.data_dir: 100000 bytes is longer than the maximum 4000");
    free(text);
}

static void test_enums(void **state)
{
    struct config cfg;

    (void)state;
    expect_ok("[metadata]\ndurability = \"none\"\n[log]\nlevel = \"trace\"\n", &cfg);
    assert_int_equal(cfg.durability, DURABILITY_NONE);
    assert_int_equal(cfg.log_level, LOG_LEVEL_TRACE);
    expect_ok("[metadata]\ndurability = 'always'\n", &cfg);
    assert_int_equal(cfg.durability, DURABILITY_ALWAYS);
    expect_error(
        "[metadata]\ndurability = \"sometimes\"\n",
        "t.toml:2: metadata.durability: 'sometimes' is not one of: none, fsync, close, always");
    expect_error(
        "[metadata]\ndurability = \"Close\"\n",
        "t.toml:2: metadata.durability: 'Close' is not one of: none, fsync, close, always");
    expect_error("[log]\nlevel = \"verbose\"\n",
                 "t.toml:2: log.level: 'verbose' is not one of: error, warn, info, debug, trace");
    expect_error("[metadata]\ndurability = close\n",
                 "t.toml:2: metadata.durability: invalid value 'close' (strings need quotes)");
}

static void test_string_arrays(void **state)
{
    struct config cfg;
    char text[2048];
    int i, n;

    (void)state;
    expect_ok("[network]\ntls = []\n", &cfg);
    assert_int_equal(cfg.tls.count, 0);
    expect_ok("[network]\ntls = [ \"shm\" , 'tcp', ]\n", &cfg);
    assert_int_equal(cfg.tls.count, 2);
    assert_string_equal(cfg.tls.items[1], "tcp");
    expect_ok("[network]\n"
              "tls = [\n"
              "  \"shm\",  # shared memory\n"
              "\r\n"
              "  \"tcp\"   # fallback\n"
              "]\n"
              "spin_us = 7\n",
              &cfg);
    assert_int_equal(cfg.tls.count, 2);
    assert_int_equal(cfg.spin_us, 7);

    expect_error("[network]\ntls = [1]\n", "t.toml:2: network.tls: expected a string in the array");
    expect_error("[network]\ntls = [\"a\" \"b\"]\n",
                 "t.toml:2: network.tls: expected ',' or ']' in the array");
    expect_error("[network]\ntls = [\"a\",,]\n",
                 "t.toml:2: network.tls: expected a string in the array");
    expect_error("[network]\ntls = [\n\"a\",\n", "t.toml:4: network.tls: unterminated array");
    expect_error("[network]\ntls = [\n\"a\"\n", "t.toml:4: network.tls: unterminated array");
    expect_error("[network]\ntls = [\n\"a\",\n  \"b\" x\n]\n",
                 "t.toml:4: network.tls: expected ',' or ']' in the array");
    expect_error("[network]\ntls = [\"\"]\n", "t.toml:2: network.tls: empty item");
    expect_error("[network]\ntls = [\"a,b\"]\n",
                 "t.toml:2: network.tls: item 'a,b' contains a NUL or ','");
    expect_error("[network]\ntls = [\"0123456789012345678901234567890123456789012345678901234567890"
                 "123\"]\n",
                 "t.toml:2: network.tls: item '0123456789012345678901234567890123456789...' is "
                 "longer than 63 bytes");
    expect_error("[network]\ntls = [\"\\q\"]\n",
                 "t.toml:2: network.tls: invalid escape '\\q' in string");

    /* 16 items fit, 17 do not. */
    n = snprintf(text, sizeof(text), "[network]\ntls = [");
    for (i = 0; i < 16; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "\"t%d\", ", i);
    snprintf(text + n, sizeof(text) - (size_t)n, "]\n");
    expect_ok(text, &cfg);
    assert_int_equal(cfg.tls.count, 16);
    assert_string_equal(cfg.tls.items[15], "t15");
    snprintf(text + n, sizeof(text) - (size_t)n, "\"t16\"]\n");
    expect_error(text, "t.toml:2: network.tls: more than 16 items");
}

static void test_error_buffer(void **state)
{
    struct config cfg;
    char small[12];

    (void)state;
    config_defaults(&cfg);
    assert_int_equal(config_parse(&cfg, "[x]", 3, "t.toml", NULL, 0), -EINVAL);
    assert_int_equal(config_parse(&cfg, "[x]", 3, "t.toml", small, 0), -EINVAL);
    memset(small, 'z', sizeof(small));
    assert_int_equal(config_parse(&cfg, "[x]", 3, "t.toml", small, sizeof(small)), -EINVAL);
    assert_string_equal(small, "t.toml:1: u"); /* cut, terminated */
    assert_int_equal(config_parse(&cfg, "[x]", 3, NULL, small, sizeof(small)), -EINVAL);
    assert_string_equal(small, "<config>:1:");
}

/* ---- --set ---- */

static void expect_set_error(const char *key, const char *value, const char *msg)
{
    struct config cfg;
    char err[ERRLEN];

    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, key, value, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, msg);
}

static void test_set(void **state)
{
    struct config cfg;
    char err[ERRLEN];

    (void)state;
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "storage.chunk_size", "8388608", err, sizeof(err)), 0);
    assert_int_equal(cfg.chunk_size, 8388608);
    assert_int_equal(config_set(&cfg, "storage.chunk_size", "0x1000", err, sizeof(err)), 0);
    assert_int_equal(cfg.chunk_size, 4096);
    assert_int_equal(config_set(&cfg, "storage.chunk_size", "4_194_304", err, sizeof(err)), 0);
    assert_int_equal(cfg.chunk_size, 4194304);
    assert_int_equal(config_set(&cfg, "storage.o_direct", "true", err, sizeof(err)), 0);
    assert_true(cfg.o_direct);
    assert_int_equal(config_set(&cfg, "storage.o_direct", "false", err, sizeof(err)), 0);
    assert_false(cfg.o_direct);
    assert_int_equal(config_set(&cfg, "node.node_id", "node_7", err, sizeof(err)), 0);
    assert_string_equal(cfg.node_id, "node_7");
    assert_int_equal(config_set(&cfg, "metadata.durability", "always", err, sizeof(err)), 0);
    assert_int_equal(cfg.durability, DURABILITY_ALWAYS);
    assert_int_equal(config_set(&cfg, "log.level", "warn", err, sizeof(err)), 0);
    assert_int_equal(cfg.log_level, LOG_LEVEL_WARN);
    assert_int_equal(config_set(&cfg, "network.tls", "shm, tcp ,self", err, sizeof(err)), 0);
    assert_int_equal(cfg.tls.count, 3);
    assert_string_equal(cfg.tls.items[0], "shm");
    assert_string_equal(cfg.tls.items[1], "tcp");
    assert_string_equal(cfg.tls.items[2], "self");
    assert_int_equal(config_set(&cfg, "network.tls", "", err, sizeof(err)), 0);
    assert_int_equal(cfg.tls.count, 0);
    assert_string_equal(err, "");
}

static void test_set_errors(void **state)
{
    (void)state;
    expect_set_error("chunk_size", "1", "--set: expected section.key, got 'chunk_size'");
    expect_set_error("stor.chunk_size", "1", "--set: unknown section [stor]");
    expect_set_error("storage.nope", "1", "--set: unknown key 'nope' in [storage]");
    expect_set_error("storage.", "1", "--set: unknown key '' in [storage]");
    expect_set_error("storage.chunk_size", "12",
                     "--set: storage.chunk_size: 12 is below the minimum 4096");
    expect_set_error("storage.chunk_size", "4M", "--set: storage.chunk_size: invalid integer '4M'");
    expect_set_error("storage.chunk_size", " 4096",
                     "--set: storage.chunk_size: invalid integer ' 4096'");
    expect_set_error("storage.chunk_size", "", "--set: storage.chunk_size: invalid integer ''");
    expect_set_error("storage.o_direct", "yes",
                     "--set: storage.o_direct: expected true or false, got 'yes'");
    expect_set_error(
        "metadata.durability", "bogus",
        "--set: metadata.durability: 'bogus' is not one of: none, fsync, close, always");
    expect_set_error("node.node_id", "", "--set: node.node_id: must not be empty");
    expect_set_error("network.tls", "a,,b", "--set: network.tls: empty item");
    expect_set_error("network.tls", "a,", "--set: network.tls: empty item");
    expect_set_error("network.tls", ",a", "--set: network.tls: empty item");
    expect_set_error("network.tls", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
                     "--set: network.tls: more than 16 items");
    expect_set_error("node.node_id", NULL, "--set: missing key or value");
}

/* ---- printing ---- */

/* config_print into a malloc'd string (caller frees). */
static char *print_to_string(const struct config *cfg, size_t *len_p)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    config_print(cfg, f);
    assert_int_equal(fclose(f), 0);
    *len_p = len;
    return buf;
}

static void check_round_trip(const struct config *cfg)
{
    struct config back;
    char err[ERRLEN];
    size_t len, i;
    char *text = print_to_string(cfg, &len);

    /* Valid TOML text: no raw control bytes but newlines. */
    for (i = 0; i < len; i++)
        assert_true(text[i] == '\n' || (unsigned char)text[i] >= 0x20);
    config_defaults(&back);
    if (config_parse(&back, text, len, "printed", err, sizeof(err)) != 0)
        fail_msg("%s\n%s", err, text);
    assert_memory_equal(&back, cfg, sizeof(back));
    free(text);
}

static void test_round_trip_defaults(void **state)
{
    struct config cfg;
    size_t len;
    char *text;

    (void)state;
    config_defaults(&cfg);
    check_round_trip(&cfg);
    text = print_to_string(&cfg, &len);
    assert_non_null(strstr(text, "\n[storage]\n"));
    assert_non_null(strstr(text, "\nchunk_size = 4194304\n"));
    assert_non_null(strstr(text, "\ntls = []\n"));
    assert_non_null(strstr(text, "\ndurability = \"fsync\"\n"));
    assert_non_null(strstr(text, "\no_direct = false\n"));
    free(text);
}

static void test_round_trip_everything_changed(void **state)
{
    static const char weird[] = "n\"o\\d\te\n\r\x01\x1f\x7f\b\f \xc3\xa9#[x]='y'";
    struct config cfg;
    char err[ERRLEN];
    int i;

    (void)state;
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "node.node_id", weird, err, sizeof(err)), 0);
    memset(cfg.data_dir, 'D', 4000);
    cfg.data_dir[0] = '/';
    assert_int_equal(config_set(&cfg, "node.registry_dir", "/reg \"quoted\" dir", err, sizeof(err)),
                     0);
    assert_int_equal(config_set(&cfg, "storage.chunk_size", "1073741824", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "storage.queue_size", "8", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "storage.buffer_size", "4096", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "storage.buffer_count", "65536", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "storage.submit_depth", "1", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "storage.fd_cache", "65536", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "storage.o_direct", "true", err, sizeof(err)), 0);
    for (i = 0; i < CONFIG_STRS_MAX; i++) {
        snprintf(cfg.tls.items[i], sizeof(cfg.tls.items[i]), "t\"%d\\ \x02", i);
        cfg.tls.count++;
    }
    assert_int_equal(config_set(&cfg, "network.expected_servers", "65536", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "network.discovery_timeout_ms", "0", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "network.spin_us", "1000000", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "rpc.timeout_ms", "1", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "rpc.max_inflight", "4096", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "rpc.max_requests", "16", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "metadata.durability", "none", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "metadata.map_size", "1099511627776", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "log.level", "trace", err, sizeof(err)), 0);
    check_round_trip(&cfg);
}

static void test_markdown(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    assert_non_null(f);
    config_print_markdown(f);
    assert_int_equal(fclose(f), 0);
    assert_non_null(strstr(buf, "\n## [storage]\n"));
    assert_non_null(strstr(buf, "\n| `chunk_size` | integer | `4194304` | 4096 to 1073741824 | "));
    assert_non_null(strstr(buf, "\n| `node_id` | string | `\"node_0\"` | 1 to 63 bytes | "));
    assert_non_null(strstr(buf, "| `o_direct` | boolean | `false` | `true`, `false` | "));
    assert_non_null(strstr(buf, "| `durability` | enum | `\"fsync\"` | `\"none\"`, `\"fsync\"`, "
                                "`\"close\"`, `\"always\"` | "));
    assert_non_null(strstr(buf, "| `tls` | string array | `[]` | up to 16 strings of 1 to 63 "
                                "bytes, without `,` | "));
    /* "<node_id>.addr" in a help text must not turn into an HTML tag. */
    assert_non_null(strstr(buf, "&lt;node_id&gt;.addr"));
    assert_null(strstr(buf, "<node_id>"));
    free(buf);
}

/* ---- files ---- */

static void test_load_file(void **state)
{
    char path[] = "/tmp/benchfs-test-config-XXXXXX", err[ERRLEN], msg[ERRLEN + 64];
    static const char good[] = "[storage]\nchunk_size = 8192\n";
    static const char bad[] = "[storage]\nchunk_size = 12\n";
    struct config cfg;
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, good, sizeof(good) - 1), (ssize_t)sizeof(good) - 1);
    config_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), 0);
    assert_int_equal(cfg.chunk_size, 8192);

    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, bad, sizeof(bad) - 1, 0), (ssize_t)sizeof(bad) - 1);
    assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), -EINVAL);
    snprintf(msg, sizeof(msg), "%s:2: storage.chunk_size: 12 is below the minimum 4096", path);
    assert_string_equal(err, msg);
    close(fd);
    unlink(path);

    assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), -ENOENT);
    snprintf(msg, sizeof(msg), "%s: cannot open: No such file or directory", path);
    assert_string_equal(err, msg);

    assert_int_equal(config_load_file(&cfg, "/tmp", err, sizeof(err)), -EISDIR);
    assert_string_equal(err, "/tmp: read error: Is a directory");
}

static void test_load_large_file(void **state)
{
    char path[] = "/tmp/benchfs-test-config-XXXXXX", err[ERRLEN];
    struct config cfg;
    char *text;
    size_t len = 3 * 1024 * 1024;
    int fd;

    (void)state;
    /*
     * Over 4 KiB (buffer growth) and exactly at the 1 MiB limit: fine; one
     * byte more: -EFBIG.
     */
    text = malloc(len);
    assert_non_null(text);
    memset(text, '\n', len);
    memcpy(text + 100000, "[storage]\nchunk_size = 8192\n", 28);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, 200000), 200000);
    config_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), 0);
    assert_int_equal(cfg.chunk_size, 8192);
    assert_int_equal(pwrite(fd, text, 1048576, 0), 1048576);
    cfg.chunk_size = 0;
    assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), 0);
    assert_int_equal(cfg.chunk_size, 8192);
    assert_int_equal(pwrite(fd, text, 1048577, 0), 1048577);
    assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), -EFBIG);
    assert_non_null(strstr(err, ": too large (the limit is 1048576 bytes)"));
    close(fd);
    unlink(path);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_empty_and_partial),
        cmocka_unit_test(test_line_endings_and_bom),
        cmocka_unit_test(test_error_unknown_section),
        cmocka_unit_test(test_error_unknown_key),
        cmocka_unit_test(test_error_key_outside_section),
        cmocka_unit_test(test_error_wrong_type),
        cmocka_unit_test(test_error_out_of_range),
        cmocka_unit_test(test_limits_exact),
        cmocka_unit_test(test_error_duplicate),
        cmocka_unit_test(test_error_garbage_after_value),
        cmocka_unit_test(test_error_unterminated_string),
        cmocka_unit_test(test_error_syntax),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_string_lengths),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_string_arrays),
        cmocka_unit_test(test_error_buffer),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_round_trip_defaults),
        cmocka_unit_test(test_round_trip_everything_changed),
        cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_large_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
