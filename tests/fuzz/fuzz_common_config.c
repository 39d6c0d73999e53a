/*
 * fuzz_common_config.c - libFuzzer target for the configuration loader.
 *
 * The input is a configuration file for config_parse or, when it starts with
 * '!', a "section.key=value" pair for config_set. Beyond "no crash, no
 * sanitizer report", it checks two properties:
 *   - an error message always names its location ("fuzz:<line>: ..." or
 *     "--set: ...");
 *   - whatever was accepted prints (config_print) as TOML that parses back
 *     to exactly the same struct config.
 */
#include "common/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const struct config *cfg)
{
    struct config back;
    char err[512], *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (f == NULL)
        abort();
    config_print(cfg, f);
    if (fclose(f) != 0)
        abort();
    config_defaults(&back);
    if (config_parse(&back, text, len, "printed", err, sizeof(err)) != 0) {
        fprintf(stderr, "printed configuration rejected: %s\n%s", err, text);
        abort();
    }
    if (memcmp(&back, cfg, sizeof(back)) != 0) {
        fprintf(stderr, "round trip changed the configuration:\n%s", text);
        abort();
    }
    free(text);
}

/* "!section.key=value": exercise config_set with arbitrary key and value bytes. */
static void fuzz_set(struct config *cfg, const uint8_t *data, size_t size)
{
    char err[512], *copy = malloc(size + 1), *eq;
    int rc;

    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    eq = strchr(copy, '=');
    if (eq != NULL) {
        *eq = '\0';
        rc = config_set(cfg, copy, eq + 1, err, sizeof(err));
        if (rc != 0 && strncmp(err, "--set: ", 7) != 0)
            abort();
        if (rc == 0)
            check_round_trip(cfg);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    char err[512];
    int rc;

    config_defaults(&cfg);
    if (size > 0 && data[0] == '!') {
        fuzz_set(&cfg, data + 1, size - 1);
        return 0;
    }
    rc = config_parse(&cfg, (const char *)data, size, "fuzz", err, sizeof(err));
    if (rc != 0) {
        if (strncmp(err, "fuzz:", 5) != 0 || strlen(err) >= sizeof(err))
            abort();
        return 0;
    }
    check_round_trip(&cfg);
    return 0;
}
