/*
 * config.h - BenchFS configuration: a TOML subset and one key table.
 *
 * Supported TOML: [tables], key = integer | "string" | true/false |
 * ["array", "of", "strings"], # comments, blank lines. Integers may be
 * decimal, 0x hex, with '_' separators. Anything else -- unknown sections or
 * keys, wrong types, values out of range, duplicate keys, trailing garbage --
 * is an error naming file:line. Keys are declared once in config_keys.def.
 */
#ifndef BENCHFS_COMMON_CONFIG_H
#define BENCHFS_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_STRS_MAX 16
#define CONFIG_STR_MAX  4096

/* Metadata durability (docs/config.md, docs/design.md#durability). Order
 * matters: each mode syncs at least when the one before it does. */
enum config_durability {
    DURABILITY_NONE = 0, /* never sync */
    DURABILITY_FSYNC,    /* sync at fsync (POSIX): the default */
    DURABILITY_CLOSE,    /* sync at fsync and at close */
    DURABILITY_ALWAYS,   /* every commit is synced */
};

/* Allowed values of ENUM keys, in enum order. */
#define CONFIG_ENUM_durability "none", "fsync", "close", "always"
#define CONFIG_ENUM_log_level  "error", "warn", "info", "debug", "trace"

struct config_strs {
    int count;
    char items[CONFIG_STRS_MAX][64];
};

struct config {
    char node_id[64];
    char data_dir[CONFIG_STR_MAX];
    char registry_dir[CONFIG_STR_MAX];
    int64_t chunk_size;
    int64_t queue_size;
    int64_t buffer_size;
    int64_t buffer_count;
    int64_t submit_depth;
    int64_t fd_cache;
    bool o_direct;
    int64_t small_chunk_max;
    struct config_strs tls;
    char interface[64];
    int64_t expected_servers;
    int64_t discovery_timeout_ms;
    int64_t startup_timeout_ms;
    int64_t spin_us;
    int64_t rpc_timeout_ms;
    int64_t max_inflight;
    int64_t max_clients;
    int64_t max_requests;
    int durability; /* enum config_durability */
    int64_t map_size;
    int log_level; /* enum log_level */
};

/* Fill every field with its default from the key table. */
void config_defaults(struct config *cfg);

/*
 * Parse TOML text / a file on top of the current values of `cfg`.
 * On error returns -EINVAL (or -errno for I/O), leaves a message like
 * "benchfs.toml:12: storage.chunk_size: 12 is below the minimum 4096" in
 * err[errlen], and `cfg` may be partly updated (callers discard it).
 */
int config_parse(struct config *cfg, const char *text, size_t len, const char *name, char *err,
                 size_t errlen);
int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

/*
 * Set one key from a command line: "section.key" and its value as text
 * ("4194304", "true", "close", "shm,tcp" for string arrays). Same checks and
 * error messages as the file loader, with "--set" as the location.
 */
int config_set(struct config *cfg, const char *dotted_key, const char *value, char *err,
               size_t errlen);

/* Write the whole configuration as TOML that config_parse accepts. */
void config_print(const struct config *cfg, FILE *out);

/* Write docs/config.md: every key with type, default, range and help. */
void config_print_markdown(FILE *out);

/* Name of an ENUM value ("close"), or "?" */
const char *config_durability_name(int durability);

#endif
