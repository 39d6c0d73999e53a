/*
 * log.h - one-line-per-event logging to stderr.
 *
 * Every line: "<ISO-8601 UTC time with microseconds> <LEVEL> [<node id>] message",
 * e.g. "2026-11-21T10:12:37.123456Z INFO [node_0] listening". Before a node id
 * is set the "[<node id>] " part is left out. The level comes from
 * configuration, and the environment variable
 * BENCHFS_LOG=<error|warn|info|debug|trace> overrides it (like RUST_LOG in the
 * original). The node id prefix is set once the process knows who it is.
 * Logging is thread-safe (one write(2) per line, at most 4096 bytes, so lines
 * stay whole even on a shared pipe). A longer message is cut and ends in
 * "..."; newlines inside a message become spaces. errno is preserved.
 */
#ifndef BENCHFS_COMMON_LOG_H
#define BENCHFS_COMMON_LOG_H

#include <stdbool.h>

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_TRACE,
};

/* Current threshold; lines above it are not formatted at all. Default info. */
extern enum log_level log_threshold;

/*
 * Set the configured level and the node id prefix (may be NULL or ""). If
 * BENCHFS_LOG is set and valid it wins over `level`; if it is set but invalid
 * one warning line is written (whatever the threshold) and `level` is used.
 * An empty BENCHFS_LOG counts as unset. Before log_init the threshold is info.
 */
void log_init(enum log_level level, const char *node_id);

/* Change the node id prefix (copied, truncated to 63 bytes). */
void log_set_node_id(const char *node_id);

/* Parse "error|warn|info|debug|trace" (case-insensitive). 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *level_p);

/* Name of a level ("info", ...). */
const char *log_level_name(enum log_level level);

/* Format and write one line. Use the macros below instead. */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_AT(lvl, ...)                   \
    do {                                   \
        if ((lvl) <= log_threshold)        \
            log_write((lvl), __VA_ARGS__); \
    } while (0)

#define log_error(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_trace(...) LOG_AT(LOG_LEVEL_TRACE, __VA_ARGS__)

#endif
