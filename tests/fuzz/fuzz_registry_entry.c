/*
 * fuzz_registry_entry.c - libFuzzer target for the registry's .addr parser.
 *
 * The input bytes are a registry file's contents (any bytes, NULs
 * included) and go through registry_entry_parse. Checked properties:
 *   - it never crashes, leaks or reads outside the input (sanitizers);
 *   - it fails with -EINVAL or -EFBIG and a message naming the file, or
 *   - it succeeds with an entry whose every field is in range, and
 *     formatting that entry and parsing the text again gives the same
 *     entry (the parser and the writer agree).
 */
#include "registry/registry.h"
#include "registry/registry_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

static void check_entry(const struct registry_entry *e)
{
    CHECK(registry_node_id_valid(e->node_id));
    CHECK(e->pid > 0 && e->pid <= INT32_MAX);
    CHECK(e->max_xfer > 0);
    CHECK(e->started_ns > 0);
    CHECK(e->host[0] != '\0' && strlen(e->host) < sizeof(e->host));
    CHECK(e->addr != NULL && e->addr_len > 0 && e->addr_len <= REGISTRY_ADDR_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct registry_entry e, again;
    char err[512];
    size_t len;
    char *text;
    int rc;

    err[0] = '\0';
    rc = registry_entry_parse("fuzz.addr", (const char *)data, size, &e, err, sizeof(err));
    if (rc != 0) {
        CHECK(rc == -EINVAL || rc == -EFBIG || rc == -ENOMEM);
        CHECK(strncmp(err, "registry fuzz.addr", 18) == 0);
        return 0;
    }
    check_entry(&e);

    text = registry_entry_format(&e, &len);
    CHECK(text != NULL);
    CHECK(strlen(text) == len);
    rc = registry_entry_parse("again.addr", text, len, &again, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    CHECK(strcmp(again.node_id, e.node_id) == 0);
    CHECK(memcmp(again.cookie, e.cookie, REGISTRY_COOKIE_LEN) == 0);
    CHECK(again.pid == e.pid && again.max_xfer == e.max_xfer && again.started_ns == e.started_ns);
    CHECK(strcmp(again.host, e.host) == 0);
    CHECK(again.host_id == e.host_id && again.peer_failure == e.peer_failure);
    CHECK(again.addr_len == e.addr_len && memcmp(again.addr, e.addr, e.addr_len) == 0);
    /* The canonical text is at most as long as any accepted input. */
    CHECK(len <= size);

    free(text);
    registry_entry_cleanup(&again);
    registry_entry_cleanup(&e);
    return 0;
}
