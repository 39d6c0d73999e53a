/*
 * config_toml.c - the TOML-subset parser of the configuration loader
 * (config_parse, config_load_file in config.h).
 *
 * The parser is a cursor over the whole text rather than a line splitter, so
 * string arrays may span lines. It stops at the first error and reports it as
 * "<file>:<line>: <section>.<key>: <what>", naming the line where the
 * offending byte is. Keys are looked up in the table of config_keys.c, and
 * values are stored through its checked config_store_* functions, which the
 * --set path shares.
 *
 * The TOML subset: [section] headers; bare keys; basic strings "..." with the
 * TOML escapes (\b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX), literal strings
 * '...'; integers (decimal, 0x hex, '_' between digits, sign on decimals
 * only, no leading zeros, as in TOML); true/false; arrays of strings with an
 * optional trailing comma; '#' comments; LF or CRLF line ends; an optional
 * UTF-8 BOM. Anything else is an error.
 */
#include "common/config_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1024 * 1024) /* a configuration file is small; refuse a runaway one */

/* The cursor and what it has seen so far. */
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
const char config_esc_names[] = "btnfr\"\\";
const char config_esc_bytes[] = "\b\t\n\f\r\"\\";

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
