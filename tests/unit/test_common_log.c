/*
 * test_common_log.c - unit tests of common/log.c. stderr is redirected into
 * a pipe drained by a reader thread, so the tests see exactly the bytes the
 * logger writes: the line format, level filtering, the BENCHFS_LOG override
 * and its one warning, truncation, newline folding, errno preservation, and
 * whole lines under concurrent logging from several threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- capturing stderr ---- */

struct capture {
    int fds[2];
    int saved;
    pthread_t reader;
    char *buf;
    size_t len, cap;
};

static void *capture_reader(void *arg)
{
    struct capture *c = arg;

    for (;;) {
        ssize_t n;

        if (c->cap - c->len < 4096) {
            c->cap = c->cap * 2 + 8192;
            c->buf = realloc(c->buf, c->cap);
            if (c->buf == NULL)
                abort();
        }
        n = read(c->fds[0], c->buf + c->len, c->cap - c->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        c->len += (size_t)n;
    }
    c->buf[c->len] = '\0';
    return NULL;
}

static void capture_begin(struct capture *c)
{
    memset(c, 0, sizeof(*c));
    assert_int_equal(pipe(c->fds), 0);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(c->fds[1], STDERR_FILENO) >= 0);
    assert_int_equal(pthread_create(&c->reader, NULL, capture_reader, c), 0);
}

/* Restore stderr and return everything written meanwhile (caller frees). */
static char *capture_end(struct capture *c)
{
    assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
    close(c->saved);
    close(c->fds[1]);
    assert_int_equal(pthread_join(c->reader, NULL), 0);
    close(c->fds[0]);
    return c->buf;
}

static int count_lines(const char *s)
{
    int n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* True when `line` (without its '\n') matches the extended regex `re`. */
static bool line_matches(const char *line, size_t len, const char *re)
{
    char *copy = strndup(line, len);
    regex_t rx;
    int rc;

    assert_non_null(copy);
    assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    rc = regexec(&rx, copy, 0, NULL, 0);
    regfree(&rx);
    free(copy);
    return rc == 0;
}

#define TIME_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z "

/* Each test starts from no BENCHFS_LOG and the info threshold. */
static int setup(void **state)
{
    (void)state;
    unsetenv("BENCHFS_LOG");
    log_init(LOG_LEVEL_INFO, NULL);
    return 0;
}

/* ---- tests ---- */

static void test_format(void **state)
{
    struct capture c;
    struct tm tm;
    char *out;
    time_t now = time(NULL), logged;

    (void)state;
    log_init(LOG_LEVEL_INFO, "node_0");
    capture_begin(&c);
    log_info("hello %d", 42);
    out = capture_end(&c);
    assert_int_equal(count_lines(out), 1);
    assert_true(line_matches(out, strlen(out) - 1, TIME_RE "INFO \\[node_0\\] hello 42$"));

    /* The time is UTC and now. */
    memset(&tm, 0, sizeof(tm));
    assert_int_equal(sscanf(out, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    logged = timegm(&tm);
    assert_true(logged >= now - 1 && logged <= now + 5);
    free(out);
}

static void test_no_node_id(void **state)
{
    struct capture c;
    char *out;

    (void)state;
    capture_begin(&c);
    log_warn("plain");
    log_set_node_id("");
    log_error("still plain");
    out = capture_end(&c);
    assert_int_equal(count_lines(out), 2);
    assert_true(line_matches(out, strchr(out, '\n') - out, TIME_RE "WARN plain$"));
    assert_non_null(strstr(out, "Z ERROR still plain\n"));
    free(out);
}

static int side_effects;

static int touch(void)
{
    return ++side_effects;
}

static void test_threshold(void **state)
{
    struct capture c;
    char *out;

    (void)state;
    log_init(LOG_LEVEL_WARN, "n");
    side_effects = 0;
    capture_begin(&c);
    log_error("e %d", touch());
    log_warn("w %d", touch());
    log_info("i %d", touch());  /* filtered: arguments not even evaluated */
    log_debug("d %d", touch()); /* filtered */
    log_trace("t %d", touch()); /* filtered */
    out = capture_end(&c);
    assert_int_equal(side_effects, 2);
    assert_int_equal(count_lines(out), 2);
    assert_non_null(strstr(out, " ERROR [n] e 1\n"));
    assert_non_null(strstr(out, " WARN [n] w 2\n"));

    free(out);

    log_init(LOG_LEVEL_TRACE, "n");
    capture_begin(&c);
    log_trace("t");
    log_debug("d");
    out = capture_end(&c);
    assert_non_null(strstr(out, " TRACE [n] t\n"));
    assert_non_null(strstr(out, " DEBUG [n] d\n"));
    free(out);
}

static void test_env_override(void **state)
{
    struct capture c;
    char *out;

    (void)state;
    setenv("BENCHFS_LOG", "debug", 1);
    capture_begin(&c);
    log_init(LOG_LEVEL_ERROR, "n");
    out = capture_end(&c);
    assert_int_equal(log_threshold, LOG_LEVEL_DEBUG);
    assert_string_equal(out, ""); /* a valid value is silent */
    free(out);

    setenv("BENCHFS_LOG", "TRACE", 1); /* case-insensitive */
    log_init(LOG_LEVEL_INFO, "n");
    assert_int_equal(log_threshold, LOG_LEVEL_TRACE);

    setenv("BENCHFS_LOG", "error", 1);
    log_init(LOG_LEVEL_TRACE, "n");
    assert_int_equal(log_threshold, LOG_LEVEL_ERROR);

    setenv("BENCHFS_LOG", "", 1); /* empty counts as unset */
    capture_begin(&c);
    log_init(LOG_LEVEL_WARN, "n");
    out = capture_end(&c);
    assert_int_equal(log_threshold, LOG_LEVEL_WARN);
    assert_string_equal(out, "");
    free(out);
    unsetenv("BENCHFS_LOG");
}

static void test_env_invalid_warns_once(void **state)
{
    struct capture c;
    char *out;

    (void)state;
    setenv("BENCHFS_LOG", "verbose", 1);
    capture_begin(&c);
    /* Configured "error": the warning must still get through. */
    log_init(LOG_LEVEL_ERROR, "node_3");
    log_warn("not shown");
    out = capture_end(&c);
    assert_int_equal(log_threshold, LOG_LEVEL_ERROR);
    assert_int_equal(count_lines(out), 1);
    assert_true(line_matches(out, strlen(out) - 1,
                             TIME_RE "WARN \\[node_3\\] BENCHFS_LOG='verbose' is not a log level "
                                     "\\(error, warn, info, debug, trace\\); using 'error'$"));
    free(out);
    unsetenv("BENCHFS_LOG");
}

static void test_parse_and_names(void **state)
{
    static const char *const names[] = {"error", "warn", "info", "debug", "trace"};
    enum log_level level = LOG_LEVEL_INFO;
    int i;

    (void)state;
    for (i = 0; i < 5; i++) {
        assert_int_equal(log_level_parse(names[i], &level), 0);
        assert_int_equal(level, i);
        assert_string_equal(log_level_name((enum log_level)i), names[i]);
    }
    assert_int_equal(log_level_parse("Warn", &level), 0);
    assert_int_equal(level, LOG_LEVEL_WARN);
    level = LOG_LEVEL_INFO;
    assert_int_equal(log_level_parse("warning", &level), -EINVAL);
    assert_int_equal(log_level_parse("", &level), -EINVAL);
    assert_int_equal(log_level_parse(NULL, &level), -EINVAL);
    assert_int_equal(level, LOG_LEVEL_INFO); /* untouched on failure */
    assert_string_equal(log_level_name((enum log_level)17), "?");
}

static void test_one_line_per_event(void **state)
{
    struct capture c;
    char *out;

    (void)state;
    log_init(LOG_LEVEL_INFO, "n");
    capture_begin(&c);
    log_info("trailing newline\n");
    log_info("two\nlines\r\nhere");
    out = capture_end(&c);
    assert_int_equal(count_lines(out), 2);
    assert_non_null(strstr(out, "INFO [n] trailing newline\n"));
    assert_non_null(strstr(out, "INFO [n] two lines  here\n"));
    free(out);
}

static void test_truncation(void **state)
{
    struct capture c;
    char *big = malloc(10001), *out;
    size_t len;

    (void)state;
    assert_non_null(big);
    memset(big, 'x', 10000);
    big[10000] = '\0';
    log_init(LOG_LEVEL_INFO, "n");
    capture_begin(&c);
    log_info("%s", big);
    out = capture_end(&c);
    len = strlen(out);
    assert_int_equal(count_lines(out), 1);
    assert_int_equal(len, 4096); /* PIPE_BUF: atomic on a pipe */
    assert_memory_equal(out + len - 4, "...\n", 4);
    assert_int_equal(out[len - 5], 'x');
    free(out);
    free(big);
}

static void test_errno_preserved(void **state)
{
    struct capture c;
    char *out;

    (void)state;
    capture_begin(&c);
    errno = ENOENT;
    log_error("open: %m");
    assert_int_equal(errno, ENOENT);
    errno = EAGAIN;
    log_debug("filtered");
    assert_int_equal(errno, EAGAIN);
    out = capture_end(&c);
    assert_non_null(strstr(out, "open: No such file or directory\n"));
    free(out);
}

static void test_node_id_truncated(void **state)
{
    char id[100], want[80];
    struct capture c;
    char *out;

    (void)state;
    memset(id, 'k', 99);
    id[99] = '\0';
    log_init(LOG_LEVEL_INFO, id);
    capture_begin(&c);
    log_info("m");
    out = capture_end(&c);
    memset(want, 0, sizeof(want));
    want[0] = '[';
    memset(want + 1, 'k', 63);
    strcat(want, "] m\n");
    assert_non_null(strstr(out, want));
    free(out);
}

#define THREADS          8
#define LINES_PER_THREAD 1000

static void *log_thread(void *arg)
{
    int t = (int)(intptr_t)arg, i;

    for (i = 0; i < LINES_PER_THREAD; i++)
        log_info("thread %d line %d "
                 "padpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpad"
                 "padpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpadpad end",
                 t, i);
    return NULL;
}

/* Lines from concurrent threads are never interleaved or lost. */
static void test_threads(void **state)
{
    int seen[THREADS] = {0}, t, lines = 0;
    pthread_t threads[THREADS];
    struct capture c;
    char *out, *line, *nl;

    (void)state;
    log_init(LOG_LEVEL_INFO, "node_mt");
    capture_begin(&c);
    for (t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, log_thread, (void *)(intptr_t)t), 0);
    for (t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    out = capture_end(&c);

    for (line = out; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        int tt, i;
        const char *msg = strstr(line, " INFO [node_mt] thread ");

        assert_non_null(msg);
        assert_true(msg < nl);
        assert_int_equal(sscanf(msg, " INFO [node_mt] thread %d line %d", &tt, &i), 2);
        assert_true(tt >= 0 && tt < THREADS);
        /* Each thread's lines arrive whole and in its own order. */
        assert_int_equal(i, seen[tt]);
        seen[tt]++;
        assert_memory_equal(nl - 4, " end", 4);
        lines++;
    }
    assert_int_equal(*line, '\0');
    assert_int_equal(lines, THREADS * LINES_PER_THREAD);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_format, setup),
        cmocka_unit_test_setup(test_no_node_id, setup),
        cmocka_unit_test_setup(test_threshold, setup),
        cmocka_unit_test_setup(test_env_override, setup),
        cmocka_unit_test_setup(test_env_invalid_warns_once, setup),
        cmocka_unit_test_setup(test_parse_and_names, setup),
        cmocka_unit_test_setup(test_one_line_per_event, setup),
        cmocka_unit_test_setup(test_truncation, setup),
        cmocka_unit_test_setup(test_errno_preserved, setup),
        cmocka_unit_test_setup(test_node_id_truncated, setup),
        cmocka_unit_test_setup(test_threads, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
