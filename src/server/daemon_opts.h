/*
 * daemon_opts.h - command-line handling shared by benchfsd and benchfsd_mpi:
 * load the config file, apply --set overrides, set up logging.
 */
#ifndef BENCHFS_SERVER_DAEMON_OPTS_H
#define BENCHFS_SERVER_DAEMON_OPTS_H

#include <stdbool.h>

#include "common/config.h"

/*
 * Load `path` into cfg (defaults first). `required`: a missing file is an
 * error; otherwise a missing file means built-in defaults. Prints a clear
 * error to stderr and returns -errno on failure.
 */
int daemon_load_config(struct config *cfg, const char *path, bool required, const char *prog);

/* Apply one "section.key=value" override; prints the error on failure. */
int daemon_apply_set(struct config *cfg, const char *assignment, const char *prog);

/*
 * Block SIGINT and SIGTERM in the calling thread before any other thread
 * exists (UCX and MPI start helper threads that inherit the mask), so they
 * are delivered only through the loop's signalfd. Call first thing in main.
 */
void daemon_block_signals(void);

#endif
