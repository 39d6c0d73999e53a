/*
 * config_priv.h - what the three parts of the configuration loader share.
 *
 * The loader of config.h is split by concept:
 *   config_keys.c   the key table (generated from config_keys.def), lookups,
 *                   error messages, the checked stores every value passes
 *                   through, defaults and command-line overrides (config_set);
 *   config_toml.c   the TOML-subset parser (config_parse, config_load_file);
 *   config_print.c  output: TOML (config_print) and Markdown (docs/config.md).
 * The parser and config_set reach struct config only through the
 * config_store_* functions, so a value gets exactly the same checks and the
 * same message whether it came from a file or from the command line.
 *
 * Nothing outside src/common/config_*.c includes this header.
 */
#ifndef BENCHFS_COMMON_CONFIG_PRIV_H
#define BENCHFS_COMMON_CONFIG_PRIV_H

#include "common/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_SHOW_MAX 40 /* bytes of user input quoted in an error message */

enum config_type {
    CONFIG_INT,
    CONFIG_BOOL,
    CONFIG_STR,
    CONFIG_ENUM,
    CONFIG_STRS,
};

/* One row of the key table: a key of config_keys.def with its field in struct config. */
struct config_key {
    const char *section;
    const char *name;
    enum config_type type;
    size_t offset;             /* of the field in struct config */
    size_t size;               /* of the field */
    int64_t def_int;           /* INT and BOOL default */
    const char *def_str;       /* STR and ENUM default */
    int64_t min, max;          /* INT: value range; STR: length range */
    const char *const *values; /* ENUM: allowed names, in enum order */
    size_t nvalues;
    const char *help;
};

/* Per type: what an error says it wants, the value kind it needs, its name in the docs. */
struct config_type_names {
    const char *wants, *kind, *doc;
};

/* The number of keys, as a constant expression (the parser sizes arrays by it). */
enum {
#define CONFIG_KEY(section, key, type, field, def, min, max, help) CONFIG_KEYIDX_##section##_##key,
#include "common/config_keys.def"
#undef CONFIG_KEY
    CONFIG_NKEYS
};

/* The key table, in config_keys.def order (config_keys.c). */
extern const struct config_key config_keys[CONFIG_NKEYS];
/* Indexed by enum config_type (config_keys.c). */
extern const struct config_type_names config_types[];

/* The one-letter escapes of TOML basic strings and the bytes they stand for (config_toml.c). */
extern const char config_esc_names[];
extern const char config_esc_bytes[];

/* Where a value came from: "<name>:<line>" in a file, "--set" (line 0) for config_set. */
struct config_ctx {
    const char *name;
    unsigned line;
    char *err;
    size_t errlen;
};

/*
 * Write "<name>[:<line>]: [<section>.<key>: ]<message>" to ctx->err and
 * return -EINVAL, so that callers can `return config_fail(...)`. k may be NULL.
 */
__attribute__((format(printf, 3, 4))) int
config_fail(const struct config_ctx *ctx, const struct config_key *k, const char *fmt, ...);

/*
 * Printable excerpt of user input for a message: at most CONFIG_SHOW_MAX
 * bytes, control bytes shown as '?', "..." when cut. `buf` must have room for
 * CONFIG_SHOW_MAX + 4 bytes. Returns buf.
 */
const char *config_show(char *buf, const char *s, size_t len);

/* True when s[0..len) equals the C string z. */
bool config_span_eq(const char *s, size_t len, const char *z);

/* Index of the first key of section s[0..len), or -1. It stands for the section. */
int config_find_section(const char *s, size_t len);

/* Index of key s[0..len) of the section whose first key is `section`, or -1. */
int config_find_key(int section, const char *s, size_t len);

/* The field of key k inside cfg. */
void *config_field(struct config *cfg, const struct config_key *k);
const void *config_field_const(const struct config *cfg, const struct config_key *k);

/* True for '0'..'9'. */
bool config_is_digit(char c);

/* Value of a hex digit, or -1. */
int config_hex_value(char c);

/*
 * Checked stores: each validates a value for key k (range, length, allowed
 * names, item rules), writes it to cfg only when valid, and otherwise returns
 * config_fail()'s -EINVAL with the message in ctx->err.
 */
int config_store_int(const struct config_ctx *ctx, const struct config_key *k, struct config *cfg,
                     int64_t v);
void config_store_bool(const struct config_key *k, struct config *cfg, bool v);
int config_store_str(const struct config_ctx *ctx, const struct config_key *k, struct config *cfg,
                     const char *s, size_t len);
int config_store_enum(const struct config_ctx *ctx, const struct config_key *k, struct config *cfg,
                      const char *s, size_t len);

/* Check one item of a STRS value and append it to `strs` (not yet to cfg). */
int config_strs_add(const struct config_ctx *ctx, const struct config_key *k,
                    struct config_strs *strs, const char *s, size_t len);

/* Convert the token s[0..len) with TOML's integer rules and store it as INT key k. */
int config_set_int_token(const struct config_ctx *ctx, const struct config_key *k,
                         struct config *cfg, const char *s, size_t len);

#endif
