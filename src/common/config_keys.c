/*
 * config_keys.c - the key table of the configuration loader, and every path
 * a value takes into struct config.
 *
 * Everything is driven by one table, config_keys[], generated from
 * config_keys.def with X-macros: defaults, the TOML parser (config_toml.c),
 * the --set path below, config_print and config_print_markdown
 * (config_print.c). Adding a key means adding a line to the .def and a field
 * to struct config; static assertions below catch a field of the wrong type,
 * a string default longer than its field, or an integer default outside its
 * range.
 *
 * Values reach struct config only through the config_store_* functions,
 * which the file parser and config_set share: both apply exactly the same
 * checks and produce the same messages ("<where>: <section>.<key>: <what>").
 */
#include "common/config_priv.h"

#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Per type: what an error says it wants, the value kind it needs, its name in the docs. */
const struct config_type_names config_types[] = {
    [CONFIG_INT] = {"an integer", "a number", "integer"},
    [CONFIG_BOOL] = {"true or false", "a boolean", "boolean"},
    [CONFIG_STR] = {"a string", "a string", "string"},
    [CONFIG_ENUM] = {"a string", "a string", "enum"},
    [CONFIG_STRS] = {"an array of strings", "an array", "string array"},
};

#define CONFIG_FIELD_T(field) (((struct config *)0)->field)

/* ENUM keys: the allowed names, from CONFIG_ENUM_<field> in config.h. */
#define CONFIG_VALUES_INT(field)
#define CONFIG_VALUES_BOOL(field)
#define CONFIG_VALUES_STR(field)
#define CONFIG_VALUES_STRS(field)
#define CONFIG_VALUES_ENUM(field) \
    static const char *const config_values_##field[] = {CONFIG_ENUM_##field};
#define CONFIG_KEY(section, key, type, field, def, min, max, help) CONFIG_VALUES_##type(field)
#include "common/config_keys.def"
#undef CONFIG_KEY

/* Compile-time checks of each key against its field. */
#define CONFIG_CHECK_INT(field, def, min, max)                                \
    _Static_assert(_Generic(CONFIG_FIELD_T(field), int64_t : 1, default : 0), \
                   #field " is int64_t");                                     \
    _Static_assert((min) <= (def) && (def) <= (max), #field ": default within range");
#define CONFIG_CHECK_BOOL(field, def, min, max)                                                \
    _Static_assert(_Generic(CONFIG_FIELD_T(field), bool : 1, default : 0), #field " is bool"); \
    _Static_assert((def) == 0 || (def) == 1, #field ": default is 0 or 1");
#define CONFIG_CHECK_STR(field, def, min, max)                                            \
    _Static_assert(sizeof(CONFIG_FIELD_T(field)) > (max), #field ": max fits the field"); \
    _Static_assert((min) <= sizeof(def) - 1 && sizeof(def) - 1 <= (max), #field ": default fits");
#define CONFIG_CHECK_ENUM(field, def, min, max) \
    _Static_assert(_Generic(CONFIG_FIELD_T(field), int : 1, default : 0), #field " is int");
#define CONFIG_CHECK_STRS(field, def, min, max)                                          \
    _Static_assert(_Generic(CONFIG_FIELD_T(field), struct config_strs : 1, default : 0), \
                   #field " is struct config_strs");
#define CONFIG_KEY(section, key, type, field, def, min, max, help) \
    CONFIG_CHECK_##type(field, def, min, max)
#include "common/config_keys.def"
#undef CONFIG_KEY

/* The two ENUM keys mirror C enums; their name lists must follow them. */
_Static_assert(sizeof(config_values_durability) / sizeof(char *) == DURABILITY_ALWAYS + 1,
               "CONFIG_ENUM_durability matches enum config_durability");
_Static_assert(sizeof(config_values_log_level) / sizeof(char *) == LOG_LEVEL_TRACE + 1,
               "CONFIG_ENUM_log_level matches enum log_level");

/* Initializers in struct config_key order. */
#define CONFIG_OFF(f) offsetof(struct config, f), sizeof(CONFIG_FIELD_T(f))
#define CONFIG_DESC_INT(s, k, f, def, min, max, help) \
    {#s, #k, CONFIG_INT, CONFIG_OFF(f), def, NULL, min, max, NULL, 0, help},
#define CONFIG_DESC_BOOL(s, k, f, def, min, max, help) \
    {#s, #k, CONFIG_BOOL, CONFIG_OFF(f), def, NULL, 0, 1, NULL, 0, help},
#define CONFIG_DESC_STR(s, k, f, def, min, max, help) \
    {#s, #k, CONFIG_STR, CONFIG_OFF(f), 0, def, min, max, NULL, 0, help},
#define CONFIG_VALS(f) config_values_##f, sizeof(config_values_##f) / sizeof(char *)
#define CONFIG_DESC_ENUM(s, k, f, def, min, max, help) \
    {#s, #k, CONFIG_ENUM, CONFIG_OFF(f), 0, def, 0, 0, CONFIG_VALS(f), help},
#define CONFIG_DESC_STRS(s, k, f, def, min, max, help) \
    {#s, #k, CONFIG_STRS, CONFIG_OFF(f), 0, def, 0, 0, NULL, 0, help},
#define CONFIG_KEY(section, key, type, field, def, min, max, help) \
    CONFIG_DESC_##type(section, key, field, def, min, max, help)

/* Unsized here: a row count other than CONFIG_NKEYS conflicts with the declaration. */
const struct config_key config_keys[] = {
#include "common/config_keys.def"
};
#undef CONFIG_KEY

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */

/*
 * Write "<name>[:<line>]: [<section>.<key>: ]<message>" to ctx->err and
 * return -EINVAL, so that callers can `return config_fail(...)`.
 */
int config_fail(const struct config_ctx *ctx, const struct config_key *k, const char *fmt, ...)
{
    size_t n = 0;
    va_list ap;
    int m;

    if (ctx->err == NULL || ctx->errlen == 0)
        return -EINVAL;
    if (ctx->line > 0)
        m = snprintf(ctx->err, ctx->errlen, "%s:%u: ", ctx->name, ctx->line);
    else
        m = snprintf(ctx->err, ctx->errlen, "%s: ", ctx->name);
    if (m > 0)
        n = (size_t)m;
    if (k != NULL && n < ctx->errlen) {
        m = snprintf(ctx->err + n, ctx->errlen - n, "%s.%s: ", k->section, k->name);
        if (m > 0)
            n += (size_t)m;
    }
    if (n < ctx->errlen) {
        va_start(ap, fmt);
        vsnprintf(ctx->err + n, ctx->errlen - n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/*
 * Printable excerpt of user input for a message: at most CONFIG_SHOW_MAX
 * bytes, control bytes shown as '?', "..." when cut. `buf` must have room for
 * CONFIG_SHOW_MAX + 4 bytes.
 */
const char *config_show(char *buf, const char *s, size_t len)
{
    size_t i, n = len < CONFIG_SHOW_MAX ? len : CONFIG_SHOW_MAX;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* ---------------------------------------------------------------------- */
/* Table lookups                                                          */

bool config_span_eq(const char *s, size_t len, const char *z)
{
    return strlen(z) == len && memcmp(s, z, len) == 0;
}

/* Index of the first key of section s[0..len), or -1. It stands for the section. */
int config_find_section(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < CONFIG_NKEYS; i++) {
        if (config_span_eq(s, len, config_keys[i].section))
            return (int)i;
    }
    return -1;
}

/* Index of key s[0..len) of the section whose first key is `section`, or -1. */
int config_find_key(int section, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < CONFIG_NKEYS; i++) {
        if (strcmp(config_keys[i].section, config_keys[section].section) == 0 &&
            config_span_eq(s, len, config_keys[i].name))
            return (int)i;
    }
    return -1;
}

void *config_field(struct config *cfg, const struct config_key *k)
{
    return (char *)cfg + k->offset;
}

const void *config_field_const(const struct config *cfg, const struct config_key *k)
{
    return (const char *)cfg + k->offset;
}

/* Index of name s[0..len) among the values of ENUM key k, or -1. */
static int config_enum_index(const struct config_key *k, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < k->nvalues; i++) {
        if (config_span_eq(s, len, k->values[i]))
            return (int)i;
    }
    return -1;
}

/* ---------------------------------------------------------------------- */
/* Checked stores, shared by the file parser and config_set                */

int config_store_int(const struct config_ctx *ctx, const struct config_key *k, struct config *cfg,
                     int64_t v)
{
    if (v < k->min)
        return config_fail(ctx, k, "%" PRId64 " is below the minimum %" PRId64, v, k->min);
    if (v > k->max)
        return config_fail(ctx, k, "%" PRId64 " is above the maximum %" PRId64, v, k->max);
    *(int64_t *)config_field(cfg, k) = v;
    return 0;
}

void config_store_bool(const struct config_key *k, struct config *cfg, bool v)
{
    *(bool *)config_field(cfg, k) = v;
}

int config_store_str(const struct config_ctx *ctx, const struct config_key *k, struct config *cfg,
                     const char *s, size_t len)
{
    char *field = config_field(cfg, k);

    if (memchr(s, '\0', len) != NULL)
        return config_fail(ctx, k, "a NUL character is not allowed");
    if (len < (size_t)k->min) {
        if (k->min == 1)
            return config_fail(ctx, k, "must not be empty");
        return config_fail(ctx, k, "%zu bytes is shorter than the minimum %" PRId64, len, k->min);
    }
    if (len > (size_t)k->max)
        return config_fail(ctx, k, "%zu bytes is longer than the maximum %" PRId64, len, k->max);
    /* Zero the whole field so that equal configurations compare equal byte for byte. */
    memset(field, 0, k->size);
    memcpy(field, s, len);
    return 0;
}

int config_store_enum(const struct config_ctx *ctx, const struct config_key *k, struct config *cfg,
                      const char *s, size_t len)
{
    char show[CONFIG_SHOW_MAX + 4], allowed[256];
    size_t i, n = 0;
    int idx = config_enum_index(k, s, len);

    if (idx >= 0) {
        *(int *)config_field(cfg, k) = idx;
        return 0;
    }
    allowed[0] = '\0';
    for (i = 0; i < k->nvalues && n < sizeof(allowed); i++) {
        int m = snprintf(allowed + n, sizeof(allowed) - n, "%s%s", i > 0 ? ", " : "", k->values[i]);

        if (m > 0)
            n += (size_t)m;
    }
    return config_fail(ctx, k, "'%s' is not one of: %s", config_show(show, s, len), allowed);
}

/* Check one item of a STRS value and append it to `strs`. */
int config_strs_add(const struct config_ctx *ctx, const struct config_key *k,
                    struct config_strs *strs, const char *s, size_t len)
{
    char show[CONFIG_SHOW_MAX + 4];

    if (strs->count == CONFIG_STRS_MAX)
        return config_fail(ctx, k, "more than %d items", CONFIG_STRS_MAX);
    if (len == 0)
        return config_fail(ctx, k, "empty item");
    if (len >= sizeof(strs->items[0]))
        return config_fail(ctx, k, "item '%s' is longer than %zu bytes", config_show(show, s, len),
                           sizeof(strs->items[0]) - 1);
    if (memchr(s, '\0', len) != NULL || memchr(s, ',', len) != NULL)
        return config_fail(ctx, k, "item '%s' contains a NUL or ','", config_show(show, s, len));
    memset(strs->items[strs->count], 0, sizeof(strs->items[0]));
    memcpy(strs->items[strs->count], s, len);
    strs->count++;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Integers                                                               */

bool config_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int config_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Convert the whole token s[0..len) to an integer with TOML's rules.
 * 0, -EINVAL when it is not an integer, -ERANGE when it does not fit int64_t.
 */
static int config_int_convert(const char *s, size_t len, int64_t *v_p)
{
    const char *p = s, *end = s + len;
    unsigned base = 10;
    uint64_t v = 0, limit;
    bool neg = false, prev_digit = false;

    if (p < end && (*p == '+' || *p == '-')) {
        neg = *p == '-';
        p++;
    }
    if (end - p > 2 && p[0] == '0' && p[1] == 'x') {
        if (p != s)
            return -EINVAL; /* TOML: no sign on hex */
        base = 16;
        p += 2;
    } else if (end - p > 1 && p[0] == '0') {
        return -EINVAL; /* TOML: no leading zeros */
    }
    if (p == end)
        return -EINVAL;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; p < end; p++) {
        int d;

        if (*p == '_') {
            /* An underscore must sit between two digits. */
            if (!prev_digit || p + 1 == end || p[1] == '_')
                return -EINVAL;
            prev_digit = false;
            continue;
        }
        d = base == 16 ? config_hex_value(*p) : (config_is_digit(*p) ? *p - '0' : -1);
        if (d < 0)
            return -EINVAL;
        if (v > (limit - (uint64_t)d) / base)
            return -ERANGE;
        v = v * base + (uint64_t)d;
        prev_digit = true;
    }
    if (!prev_digit)
        return -EINVAL;
    /* -2^63 has no positive int64_t counterpart; negate in unsigned arithmetic. */
    *v_p = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Convert and store an INT value from the token s[0..len). */
int config_set_int_token(const struct config_ctx *ctx, const struct config_key *k,
                         struct config *cfg, const char *s, size_t len)
{
    char show[CONFIG_SHOW_MAX + 4];
    int64_t v;
    int rc = config_int_convert(s, len, &v);

    if (rc == -ERANGE)
        return config_fail(ctx, k, "%s is out of range (64-bit integer)",
                           config_show(show, s, len));
    if (rc != 0)
        return config_fail(ctx, k, "invalid integer '%s'", config_show(show, s, len));
    return config_store_int(ctx, k, cfg, v);
}

/* ---------------------------------------------------------------------- */
/* Defaults and command-line overrides                                    */

void config_defaults(struct config *cfg)
{
    size_t i;

    memset(cfg, 0, sizeof(*cfg));
    for (i = 0; i < CONFIG_NKEYS; i++) {
        const struct config_key *k = &config_keys[i];
        int idx;

        switch (k->type) {
        case CONFIG_INT:
            *(int64_t *)config_field(cfg, k) = k->def_int;
            break;
        case CONFIG_BOOL:
            *(bool *)config_field(cfg, k) = k->def_int != 0;
            break;
        case CONFIG_STR:
            memcpy(config_field(cfg, k), k->def_str, strlen(k->def_str));
            break;
        case CONFIG_ENUM:
            /* A default that is not an allowed name is a bug in the .def; the unit test checks. */
            idx = config_enum_index(k, k->def_str, strlen(k->def_str));
            *(int *)config_field(cfg, k) = idx >= 0 ? idx : 0;
            break;
        case CONFIG_STRS:
            break; /* always empty by default */
        }
    }
}

static int config_set_strs(const struct config_ctx *ctx, const struct config_key *k,
                           struct config *cfg, const char *value)
{
    struct config_strs strs;
    const char *p = value;
    int rc;

    memset(&strs, 0, sizeof(strs));
    while (*p == ' ' || *p == '\t')
        p++;
    /* "" is the empty list; otherwise comma-separated items, blanks around them trimmed. */
    while (*p != '\0') {
        const char *start, *stop;

        while (*p == ' ' || *p == '\t')
            p++;
        start = p;
        while (*p != '\0' && *p != ',')
            p++;
        stop = p;
        while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        rc = config_strs_add(ctx, k, &strs, start, (size_t)(stop - start));
        if (rc != 0)
            return rc;
        if (*p == ',' && *++p == '\0')
            return config_fail(ctx, k, "empty item");
    }
    *(struct config_strs *)config_field(cfg, k) = strs;
    return 0;
}

int config_set(struct config *cfg, const char *dotted_key, const char *value, char *err,
               size_t errlen)
{
    struct config_ctx ctx = {"--set", 0, err, errlen};
    char show[CONFIG_SHOW_MAX + 4];
    const struct config_key *k;
    const char *dot;
    int section, idx;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (dotted_key == NULL || value == NULL)
        return config_fail(&ctx, NULL, "missing key or value");
    dot = strchr(dotted_key, '.');
    if (dot == NULL)
        return config_fail(&ctx, NULL, "expected section.key, got '%s'",
                           config_show(show, dotted_key, strlen(dotted_key)));
    section = config_find_section(dotted_key, (size_t)(dot - dotted_key));
    if (section < 0)
        return config_fail(&ctx, NULL, "unknown section [%s]",
                           config_show(show, dotted_key, (size_t)(dot - dotted_key)));
    idx = config_find_key(section, dot + 1, strlen(dot + 1));
    if (idx < 0)
        return config_fail(&ctx, NULL, "unknown key '%s' in [%s]",
                           config_show(show, dot + 1, strlen(dot + 1)),
                           config_keys[section].section);
    k = &config_keys[idx];

    switch (k->type) {
    case CONFIG_INT:
        return config_set_int_token(&ctx, k, cfg, value, strlen(value));
    case CONFIG_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
            config_store_bool(k, cfg, value[0] == 't');
            return 0;
        }
        return config_fail(&ctx, k, "expected true or false, got '%s'",
                           config_show(show, value, strlen(value)));
    case CONFIG_STR:
        return config_store_str(&ctx, k, cfg, value, strlen(value));
    case CONFIG_ENUM:
        return config_store_enum(&ctx, k, cfg, value, strlen(value));
    case CONFIG_STRS:
        return config_set_strs(&ctx, k, cfg, value);
    }
    return -EINVAL;
}

/* Name of a durability value (config.h), from the ENUM key's value list. */
const char *config_durability_name(int durability)
{
    if (durability < 0 || (size_t)durability >= sizeof(config_values_durability) / sizeof(char *))
        return "?";
    return config_values_durability[durability];
}
