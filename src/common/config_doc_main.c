/*
 * config_doc_main.c - benchfs-config-doc: prints the configuration reference
 * (Markdown, generated from config_keys.def) to stdout. docs/config.md is its
 * output; the build target `config-doc` rewrites that file and the test
 * unit.common.config_doc_current fails when it is out of date.
 */
#include "common/config.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fputs("usage: benchfs-config-doc > docs/config.md\n", stderr);
        return 2;
    }
    config_print_markdown(stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("benchfs-config-doc: stdout");
        return 1;
    }
    return 0;
}
