/*
 * config.c - the configuration loader of config.h.
 *
 * Everything is driven by one table, config_keys[], generated from
 * config_keys.def with X-macros: defaults, the TOML parser, the --set path,
 * config_print (TOML) and config_print_markdown (docs/config.md). Adding a key
 * means adding a line to the .def and a field to struct config; static
 * assertions below catch a field of the wrong type, a string default longer
 * than its field, or an integer default outside its range.
 *
 * The parser is a cursor over the whole text rather than a line splitter, so
 * string arrays may span lines. It stops at the first error and reports it as
 * "<file>:<line>: <section>.<key>: <what>", naming the line where the
 * offending byte is. Values reach struct config only through the
 * config_store_* functions, which the --set path shares: both apply exactly
 * the same checks.
 *
 * The TOML subset: [section] headers; bare keys; basic strings "..." with the
 * TOML escapes (\b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX), literal strings
 * '...'; integers (decimal, 0x hex, '_' between digits, sign on decimals
 * only, no leading zeros, as in TOML); true/false; arrays of strings with an
 * optional trailing comma; '#' comments; LF or CRLF line ends; an optional
 * UTF-8 BOM. Anything else is an error.
 */
#include "common/config.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1024 * 1024) /* a configuration file is small; refuse a runaway one */
#define CONFIG_SHOW_MAX 40            /* bytes of user input quoted in an error message */

enum config_type {
    CONFIG_INT,
    CONFIG_BOOL,
    CONFIG_STR,
    CONFIG_ENUM,
    CONFIG_STRS,
};

/* Per type: what an error says it wants, the value kind it needs, its name in the docs. */
static const struct {
    const char *wants, *kind, *doc;
} config_types[] = {
    [CONFIG_INT] = {"an integer", "a number", "integer"},
    [CONFIG_BOOL] = {"true or false", "a boolean", "boolean"},
    [CONFIG_STR] = {"a string", "a string", "string"},
    [CONFIG_ENUM] = {"a string", "a string", "enum"},
    [CONFIG_STRS] = {"an array of strings", "an array", "string array"},
};

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

static const struct config_key config_keys[] = {
#include "common/config_keys.def"
};
#undef CONFIG_KEY

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */

/* Where a value came from: "<name>:<line>" in a file, "--set" (line 0) for config_set. */
struct config_ctx {
    const char *name;
    unsigned line;
    char *err;
    size_t errlen;
};

/*
 * Write "<name>[:<line>]: [<section>.<key>: ]<message>" to ctx->err and
 * return -EINVAL, so that callers can `return config_fail(...)`.
 */
__attribute__((format(printf, 3, 4))) static int
config_fail(const struct config_ctx *ctx, const struct config_key *k, const char *fmt, ...)
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
static const char *config_show(char *buf, const char *s, size_t len)
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

static bool config_span_eq(const char *s, size_t len, const char *z)
{
    return strlen(z) == len && memcmp(s, z, len) == 0;
}

/* Index of the first key of section s[0..len), or -1. It stands for the section. */
static int config_find_section(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < CONFIG_NKEYS; i++) {
        if (config_span_eq(s, len, config_keys[i].section))
            return (int)i;
    }
    return -1;
}

/* Index of key s[0..len) of the section whose first key is `section`, or -1. */
static int config_find_key(int section, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < CONFIG_NKEYS; i++) {
        if (strcmp(config_keys[i].section, config_keys[section].section) == 0 &&
            config_span_eq(s, len, config_keys[i].name))
            return (int)i;
    }
    return -1;
}

static void *config_field(struct config *cfg, const struct config_key *k)
{
    return (char *)cfg + k->offset;
}

static const void *config_field_const(const struct config *cfg, const struct config_key *k)
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

static int config_store_int(const struct config_ctx *ctx, const struct config_key *k,
                            struct config *cfg, int64_t v)
{
    if (v < k->min)
        return config_fail(ctx, k, "%" PRId64 " is below the minimum %" PRId64, v, k->min);
    if (v > k->max)
        return config_fail(ctx, k, "%" PRId64 " is above the maximum %" PRId64, v, k->max);
    *(int64_t *)config_field(cfg, k) = v;
    return 0;
}

static void config_store_bool(const struct config_key *k, struct config *cfg, bool v)
{
    *(bool *)config_field(cfg, k) = v;
}

static int config_store_str(const struct config_ctx *ctx, const struct config_key *k,
                            struct config *cfg, const char *s, size_t len)
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

static int config_store_enum(const struct config_ctx *ctx, const struct config_key *k,
                             struct config *cfg, const char *s, size_t len)
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
static int config_strs_add(const struct config_ctx *ctx, const struct config_key *k,
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

static bool config_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int config_hex_value(char c)
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
static int config_set_int_token(const struct config_ctx *ctx, const struct config_key *k,
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
/* The TOML parser                                                        */

struct config_parser {
    struct config *cfg;
    struct config_ctx ctx; /* ctx.line is the current line */
    const char *p, *end;
    int section;                         /* first key of the current section, -1 before any */
    unsigned key_line[CONFIG_NKEYS];     /* line where each key was set, 0 = not yet */
    unsigned section_line[CONFIG_NKEYS]; /* by section (first key index): header line */
};

static bool config_is_bare(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || config_is_digit(c) || c == '_' ||
           c == '-';
}

static int config_peek(const struct config_parser *ps)
{
    return ps->p < ps->end ? (unsigned char)*ps->p : -1;
}

static bool config_at_eol(const struct config_parser *ps)
{
    return ps->p == ps->end || *ps->p == '\n' ||
           (*ps->p == '\r' && ps->end - ps->p > 1 && ps->p[1] == '\n');
}

static void config_skip_ws(struct config_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
        ps->p++;
}

/* Skip a '#' comment up to (not including) the end of the line. */
static void config_skip_comment(struct config_parser *ps)
{
    if (config_peek(ps) != '#')
        return;
    while (!config_at_eol(ps))
        ps->p++;
}

/* Consume the line end the cursor is at (config_at_eol must be true). */
static void config_next_line(struct config_parser *ps)
{
    if (ps->p == ps->end)
        return;
    if (*ps->p == '\r')
        ps->p++;
    ps->p++;
    ps->ctx.line++;
}

/* After a header or value: only blanks and a comment may follow on the line. */
static int config_expect_eol(struct config_parser *ps, const struct config_key *k, const char *what)
{
    char show[CONFIG_SHOW_MAX + 4];
    const char *start;

    config_skip_ws(ps);
    config_skip_comment(ps);
    if (config_at_eol(ps)) {
        config_next_line(ps);
        return 0;
    }
    start = ps->p;
    while (!config_at_eol(ps))
        ps->p++;
    return config_fail(&ps->ctx, k, "garbage after the %s: '%s'", what,
                       config_show(show, start, (size_t)(ps->p - start)));
}

/* Inside an array: skip blanks, comments and line ends. */
static void config_skip_space_lines(struct config_parser *ps)
{
    for (;;) {
        config_skip_ws(ps);
        config_skip_comment(ps);
        if (ps->p == ps->end || !config_at_eol(ps))
            return;
        config_next_line(ps);
    }
}

/* The one-letter escapes of TOML basic strings and the bytes they stand for. */
static const char config_esc_names[] = "btnfr\"\\";
static const char config_esc_bytes[] = "\b\t\n\f\r\"\\";

/* Append one decoded byte; counts bytes beyond `cap` without storing them. */
static void config_put(char *buf, size_t cap, size_t *n, char c)
{
    if (*n < cap)
        buf[*n] = c;
    (*n)++;
}

/* Decode a \u or \U escape of `digits` hex digits at ps->p into UTF-8. */
static int config_parse_unicode(struct config_parser *ps, const struct config_key *k, int digits,
                                char *buf, size_t cap, size_t *n)
{
    static const unsigned char utf8_lead[] = {0, 0x00, 0xc0, 0xe0, 0xf0};
    uint32_t cp = 0;
    int i, nbytes;

    for (i = 0; i < digits; i++) {
        int d = ps->p < ps->end ? config_hex_value(*ps->p) : -1;

        if (d < 0)
            return config_fail(&ps->ctx, k, "\\%c needs %d hex digits", digits == 4 ? 'u' : 'U',
                               digits);
        cp = cp << 4 | (uint32_t)d;
        ps->p++;
    }
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return config_fail(&ps->ctx, k, "\\%c%0*" PRIX32 " is not an allowed character",
                           digits == 4 ? 'u' : 'U', digits, cp);
    /* UTF-8: the lead byte carries the length, then 6 bits per continuation byte. */
    nbytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    config_put(buf, cap, n, (char)(utf8_lead[nbytes] | cp >> (6 * (nbytes - 1))));
    for (i = nbytes - 2; i >= 0; i--)
        config_put(buf, cap, n, (char)(0x80 | ((cp >> (6 * i)) & 0x3f)));
    return 0;
}

/* Decode the escape after a backslash (ps->p is past the '\\'). */
static int config_parse_escape(struct config_parser *ps, const struct config_key *k, char *buf,
                               size_t cap, size_t *n)
{
    char show[CONFIG_SHOW_MAX + 4];
    const char *esc;
    char c;

    if (ps->p == ps->end || *ps->p == '\n')
        return config_fail(&ps->ctx, k, "unterminated string");
    c = *ps->p++;
    if (c == 'u' || c == 'U')
        return config_parse_unicode(ps, k, c == 'u' ? 4 : 8, buf, cap, n);
    esc = c != '\0' ? strchr(config_esc_names, c) : NULL;
    if (esc == NULL)
        return config_fail(&ps->ctx, k, "invalid escape '\\%s' in string",
                           config_show(show, &c, 1));
    config_put(buf, cap, n, config_esc_bytes[esc - config_esc_names]);
    return 0;
}

/*
 * Parse the string starting at ps->p ('"' or '\''). Up to `cap` decoded
 * bytes go to buf; *len_p is the full decoded length (possibly > cap).
 */
static int config_parse_string(struct config_parser *ps, const struct config_key *k, char *buf,
                               size_t cap, size_t *len_p)
{
    char quote = *ps->p++;
    size_t n = 0;
    int rc;

    if (ps->end - ps->p >= 2 && ps->p[0] == quote && ps->p[1] == quote)
        return config_fail(&ps->ctx, k, "multi-line strings are not supported");
    for (;;) {
        unsigned char c;

        if (ps->p == ps->end || *ps->p == '\n' ||
            (*ps->p == '\r' && ps->end - ps->p > 1 && ps->p[1] == '\n'))
            return config_fail(&ps->ctx, k, "unterminated string");
        c = (unsigned char)*ps->p++;
        if (c == (unsigned char)quote)
            break;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return config_fail(&ps->ctx, k, "control character 0x%02x in string (use an escape)",
                               c);
        if (c == '\\' && quote == '"') {
            rc = config_parse_escape(ps, k, buf, cap, &n);
            if (rc != 0)
                return rc;
            continue;
        }
        config_put(buf, cap, &n, (char)c);
    }
    *len_p = n;
    return 0;
}

/* What kind of TOML value starts at the cursor, for "expected X, got Y". */
static const char *config_value_kind(const struct config_parser *ps)
{
    const char *q;
    int c = config_peek(ps);

    if (c == '"' || c == '\'')
        return "a string";
    if (c == '[')
        return "an array";
    if (c == '{')
        return "an inline table";
    if (c == '+' || c == '-' || config_is_digit((char)c))
        return "a number";
    for (q = ps->p; q < ps->end && config_is_bare(*q); q++)
        ;
    if (config_span_eq(ps->p, (size_t)(q - ps->p), "true") ||
        config_span_eq(ps->p, (size_t)(q - ps->p), "false"))
        return "a boolean";
    return NULL;
}

/* A number token: what may belong to an integer or a float, up to a delimiter. */
static size_t config_number_len(const struct config_parser *ps)
{
    const char *q = ps->p;

    while (q < ps->end && (config_is_bare(*q) || *q == '+' || *q == '.'))
        q++;
    return (size_t)(q - ps->p);
}

static int config_parse_strs(struct config_parser *ps, const struct config_key *k)
{
    struct config_strs strs;
    char item[sizeof(strs.items[0])];
    size_t len;
    int c, rc;

    memset(&strs, 0, sizeof(strs));
    ps->p++; /* '[' */
    for (;;) {
        config_skip_space_lines(ps);
        c = config_peek(ps);
        if (c == ']')
            break;
        if (c == -1)
            return config_fail(&ps->ctx, k, "unterminated array");
        if (c != '"' && c != '\'')
            return config_fail(&ps->ctx, k, "expected a string in the array");
        rc = config_parse_string(ps, k, item, sizeof(item), &len);
        if (rc != 0)
            return rc;
        /* A cut item (len > sizeof(item)) still fails the length check in config_strs_add. */
        rc = config_strs_add(&ps->ctx, k, &strs, item, len < sizeof(item) ? len : sizeof(item));
        if (rc != 0)
            return rc;
        config_skip_space_lines(ps);
        c = config_peek(ps);
        if (c == ',') {
            ps->p++;
            continue; /* a ']' after the comma is the allowed trailing comma */
        }
        if (c == ']')
            break;
        if (c == -1)
            return config_fail(&ps->ctx, k, "unterminated array");
        return config_fail(&ps->ctx, k, "expected ',' or ']' in the array");
    }
    ps->p++; /* ']' */
    *(struct config_strs *)config_field(ps->cfg, k) = strs;
    return 0;
}

/* Parse the value of key k at the cursor and store it. */
static int config_parse_value(struct config_parser *ps, const struct config_key *k)
{
    char show[CONFIG_SHOW_MAX + 4];
    char buf[CONFIG_STR_MAX];
    const char *kind = config_value_kind(ps);
    size_t len;
    int rc;

    if (kind == NULL) {
        const char *q = ps->p;

        while (q < ps->end && *q != '\n' && *q != '#' && *q != ' ' && *q != '\t' && *q != '\r')
            q++;
        if (q == ps->p)
            return config_fail(&ps->ctx, k, "missing value");
        config_show(show, ps->p, (size_t)(q - ps->p));
        if (k->type == CONFIG_STR || k->type == CONFIG_ENUM)
            return config_fail(&ps->ctx, k, "invalid value '%s' (strings need quotes)", show);
        return config_fail(&ps->ctx, k, "invalid value '%s'", show);
    }
    if (strcmp(kind, config_types[k->type].kind) != 0)
        return config_fail(&ps->ctx, k, "expected %s, got %s", config_types[k->type].wants, kind);

    switch (k->type) {
    case CONFIG_INT:
        len = config_number_len(ps);
        rc = config_set_int_token(&ps->ctx, k, ps->cfg, ps->p, len);
        ps->p += len;
        return rc;
    case CONFIG_BOOL:
        config_store_bool(k, ps->cfg, *ps->p == 't');
        ps->p += *ps->p == 't' ? 4 : 5;
        return 0;
    case CONFIG_STR:
    case CONFIG_ENUM:
        rc = config_parse_string(ps, k, buf, sizeof(buf), &len);
        if (rc != 0)
            return rc;
        if (k->type == CONFIG_ENUM)
            return config_store_enum(&ps->ctx, k, ps->cfg, buf,
                                     len < sizeof(buf) ? len : sizeof(buf));
        /* Longer than the buffer means longer than any field: same message as the store. */
        if (len > sizeof(buf))
            return config_fail(&ps->ctx, k, "%zu bytes is longer than the maximum %" PRId64, len,
                               k->max);
        return config_store_str(&ps->ctx, k, ps->cfg, buf, len);
    case CONFIG_STRS:
        return config_parse_strs(ps, k);
    }
    return -EINVAL;
}

/* "[section]" at the cursor. */
static int config_parse_header(struct config_parser *ps)
{
    char show[CONFIG_SHOW_MAX + 4];
    const char *name;
    size_t len;
    int section;

    ps->p++; /* '[' */
    if (config_peek(ps) == '[')
        return config_fail(&ps->ctx, NULL, "arrays of tables ([[...]]) are not supported");
    config_skip_ws(ps);
    name = ps->p;
    while (ps->p < ps->end && (config_is_bare(*ps->p) || *ps->p == '.'))
        ps->p++;
    len = (size_t)(ps->p - name);
    config_skip_ws(ps);
    if (len == 0 || config_peek(ps) != ']')
        return config_fail(&ps->ctx, NULL, "invalid section header");
    ps->p++;
    section = config_find_section(name, len);
    if (section < 0)
        return config_fail(&ps->ctx, NULL, "unknown section [%s]", config_show(show, name, len));
    if (ps->section_line[section] != 0)
        return config_fail(&ps->ctx, NULL, "section [%s] appears twice (first on line %u)",
                           config_keys[section].section, ps->section_line[section]);
    ps->section_line[section] = ps->ctx.line;
    ps->section = section;
    return config_expect_eol(ps, NULL, "section header");
}

/* "key = value" at the cursor. */
static int config_parse_pair(struct config_parser *ps)
{
    char show[CONFIG_SHOW_MAX + 4];
    const struct config_key *k;
    const char *name = ps->p;
    size_t len;
    int idx, rc;

    while (ps->p < ps->end && (config_is_bare(*ps->p) || *ps->p == '.'))
        ps->p++;
    len = (size_t)(ps->p - name);
    config_show(show, name, len);
    config_skip_ws(ps);
    if (config_peek(ps) != '=')
        return config_fail(&ps->ctx, NULL, "expected '=' after key '%s'", show);
    ps->p++;
    if (ps->section < 0)
        return config_fail(&ps->ctx, NULL, "key '%s' outside any section", show);
    idx = config_find_key(ps->section, name, len);
    if (idx < 0)
        return config_fail(&ps->ctx, NULL, "unknown key '%s' in [%s]", show,
                           config_keys[ps->section].section);
    k = &config_keys[idx];
    if (ps->key_line[idx] != 0)
        return config_fail(&ps->ctx, k, "duplicate key (first set on line %u)", ps->key_line[idx]);
    ps->key_line[idx] = ps->ctx.line;

    config_skip_ws(ps);
    rc = config_parse_value(ps, k);
    if (rc != 0)
        return rc;
    return config_expect_eol(ps, k, "value");
}

int config_parse(struct config *cfg, const char *text, size_t len, const char *name, char *err,
                 size_t errlen)
{
    struct config_parser ps;
    int rc;

    memset(&ps, 0, sizeof(ps));
    ps.cfg = cfg;
    ps.ctx.name = name != NULL ? name : "<config>";
    ps.ctx.line = 1;
    ps.ctx.err = err;
    ps.ctx.errlen = errlen;
    ps.p = text != NULL ? text : "";
    ps.end = ps.p + (text != NULL ? len : 0);
    ps.section = -1;
    if (err != NULL && errlen > 0)
        err[0] = '\0';

    if (ps.end - ps.p >= 3 && memcmp(ps.p, "\xef\xbb\xbf", 3) == 0)
        ps.p += 3; /* UTF-8 byte order mark */

    while (ps.p < ps.end) {
        int c;

        config_skip_ws(&ps);
        config_skip_comment(&ps);
        if (config_at_eol(&ps)) {
            config_next_line(&ps);
            continue;
        }
        c = config_peek(&ps);
        if (c == '[')
            rc = config_parse_header(&ps);
        else if (config_is_bare((char)c))
            rc = config_parse_pair(&ps);
        else
            rc = config_fail(&ps.ctx, NULL, "expected a key or a [section]");
        if (rc != 0)
            return rc;
    }
    return 0;
}

int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    struct config_ctx ctx = {path, 0, err, errlen};
    size_t len = 0, cap = 4096;
    char *buf, *grown;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        config_fail(&ctx, NULL, "cannot open: %s", strerror(-rc));
        return rc;
    }
    buf = malloc(cap);
    if (buf == NULL) {
        rc = -ENOMEM;
        config_fail(&ctx, NULL, "out of memory");
        goto out_close;
    }
    for (;;) {
        ssize_t n;

        if (len == cap) {
            /* The buffer ends one byte past the limit: filling it proves the file too large. */
            size_t want = cap * 2 < CONFIG_FILE_MAX + 1 ? cap * 2 : CONFIG_FILE_MAX + 1;

            if (cap > CONFIG_FILE_MAX) {
                rc = -EFBIG;
                config_fail(&ctx, NULL, "too large (the limit is %d bytes)", CONFIG_FILE_MAX);
                goto out_free;
            }
            grown = realloc(buf, want);
            if (grown == NULL) {
                rc = -ENOMEM;
                config_fail(&ctx, NULL, "out of memory");
                goto out_free;
            }
            buf = grown;
            cap = want;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            config_fail(&ctx, NULL, "read error: %s", strerror(-rc));
            goto out_free;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    rc = config_parse(cfg, buf, len, path, err, errlen);

    /* Reached on success and failure alike. */
out_free:
    free(buf);
out_close:
    close(fd);
    return rc;
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

/* ---------------------------------------------------------------------- */
/* Output                                                                 */

const char *config_durability_name(int durability)
{
    if (durability < 0 || (size_t)durability >= sizeof(config_values_durability) / sizeof(char *))
        return "?";
    return config_values_durability[durability];
}

/* A TOML basic string that config_parse reads back as exactly s[0..len). */
static void config_print_string(FILE *out, const char *s, size_t len)
{
    size_t i;

    fputc('"', out);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c != 0 && c != '\b' && c != '\f' ? strchr(config_esc_bytes, c) : NULL;

        /* \b and \f are read but printed as \u escapes, like every other control byte. */
        if (esc != NULL)
            fprintf(out, "\\%c", config_esc_names[esc - config_esc_bytes]);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\u%04X", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void config_print_value(const struct config *cfg, const struct config_key *k, FILE *out)
{
    const void *field = config_field_const(cfg, k);
    const struct config_strs *strs;
    int i, idx;

    switch (k->type) {
    case CONFIG_INT:
        fprintf(out, "%" PRId64, *(const int64_t *)field);
        break;
    case CONFIG_BOOL:
        fputs(*(const bool *)field ? "true" : "false", out);
        break;
    case CONFIG_STR:
        config_print_string(out, field, strnlen(field, k->size));
        break;
    case CONFIG_ENUM:
        idx = *(const int *)field;
        /* An out-of-range value prints as "?", which config_parse then rejects loudly. */
        if (idx >= 0 && (size_t)idx < k->nvalues)
            config_print_string(out, k->values[idx], strlen(k->values[idx]));
        else
            config_print_string(out, "?", 1);
        break;
    case CONFIG_STRS:
        strs = field;
        fputc('[', out);
        for (i = 0; i < strs->count && i < CONFIG_STRS_MAX; i++) {
            if (i > 0)
                fputs(", ", out);
            config_print_string(out, strs->items[i],
                                strnlen(strs->items[i], sizeof(strs->items[i])));
        }
        fputc(']', out);
        break;
    }
}

/* True when key i is the first key of its section (sections print once, in table order). */
static bool config_section_first(size_t i)
{
    return config_find_section(config_keys[i].section, strlen(config_keys[i].section)) == (int)i;
}

void config_print(const struct config *cfg, FILE *out)
{
    size_t s, i;

    fputs("# BenchFS configuration (TOML). Every key is listed with its current value.\n", out);
    for (s = 0; s < CONFIG_NKEYS; s++) {
        if (!config_section_first(s))
            continue;
        fprintf(out, "\n[%s]\n", config_keys[s].section);
        for (i = s; i < CONFIG_NKEYS; i++) {
            const struct config_key *k = &config_keys[i];

            if (strcmp(k->section, config_keys[s].section) != 0)
                continue;
            fprintf(out, "# %s\n%s = ", k->help, k->name);
            config_print_value(cfg, k, out);
            fputc('\n', out);
        }
    }
}

/* Markdown table cell text: '|' would end the cell, "<id>" would be taken for HTML. */
static void config_md_text(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|')
            fputs("\\|", out);
        else if (*s == '<' || *s == '>' || *s == '&')
            fputs(*s == '<' ? "&lt;" : *s == '>' ? "&gt;" : "&amp;", out);
        else
            fputc(*s, out);
    }
}

static void config_md_range(const struct config_key *k, FILE *out)
{
    size_t i;

    switch (k->type) {
    case CONFIG_INT:
        fprintf(out, "%" PRId64 " to %" PRId64, k->min, k->max);
        break;
    case CONFIG_BOOL:
        fputs("`true`, `false`", out);
        break;
    case CONFIG_STR:
        fprintf(out, "%" PRId64 " to %" PRId64 " bytes", k->min, k->max);
        break;
    case CONFIG_ENUM:
        for (i = 0; i < k->nvalues; i++)
            fprintf(out, "%s`\"%s\"`", i > 0 ? ", " : "", k->values[i]);
        break;
    case CONFIG_STRS:
        fprintf(out, "up to %d strings of 1 to %zu bytes, without `,`", CONFIG_STRS_MAX,
                sizeof(((struct config_strs *)0)->items[0]) - 1);
        break;
    }
}

void config_print_markdown(FILE *out)
{
    struct config defaults;
    size_t s, i;

    config_defaults(&defaults);
    fputs("# BenchFS configuration reference\n"
          "\n"
          "<!-- Generated by benchfs-config-doc from src/common/config_keys.def; do not edit.\n"
          "     Regenerate with: cmake --build <build dir> --target config-doc -->\n"
          "\n"
          "BenchFS reads one TOML file (`benchfs.toml`) with the sections below. The loader\n"
          "accepts a strict subset of TOML: `[section]` headers, `key = value` lines, integers\n"
          "(decimal, `0x` hex, `_` between digits), `true`/`false`, quoted strings with the TOML\n"
          "escapes, arrays of strings (may span lines, trailing comma allowed), `#` comments,\n"
          "LF or CRLF line ends. Unknown sections or keys, values of the wrong type or out of\n"
          "range, duplicate keys and anything after a value are errors that name the file, the\n"
          "line and the key, e.g.\n"
          "\n"
          "    benchfs.toml:12: storage.chunk_size: 12 is below the minimum 4096\n"
          "\n"
          "Command-line overrides use the same `section.key` names and checks (`--set` in\n"
          "messages; string arrays as comma-separated text such as `shm,tcp`). The environment\n"
          "variable `BENCHFS_LOG` overrides `log.level`. A missing key keeps its default.\n",
          out);

    for (s = 0; s < CONFIG_NKEYS; s++) {
        if (!config_section_first(s))
            continue;
        fprintf(out, "\n## [%s]\n\n", config_keys[s].section);
        fputs("| Key | Type | Default | Allowed values | Description |\n"
              "|-----|------|---------|----------------|-------------|\n",
              out);
        for (i = s; i < CONFIG_NKEYS; i++) {
            const struct config_key *k = &config_keys[i];

            if (strcmp(k->section, config_keys[s].section) != 0)
                continue;
            fprintf(out, "| `%s` | %s | `", k->name, config_types[k->type].doc);
            config_print_value(&defaults, k, out);
            fputs("` | ", out);
            config_md_range(k, out);
            fputs(" | ", out);
            config_md_text(out, k->help);
            fputs(" |\n", out);
        }
    }
}
