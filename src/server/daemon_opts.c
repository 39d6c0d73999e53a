/*
 * daemon_opts.c - configuration loading shared by the server daemons.
 */
#include "server/daemon_opts.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int daemon_load_config(struct config *cfg, const char *path, bool required, const char *prog)
{
    char err[1024];
    int rc;

    config_defaults(cfg);
    if (path == NULL)
        return 0;
    if (!required && access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    rc = config_load_file(cfg, path, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", prog, err);
    return rc;
}

int daemon_apply_set(struct config *cfg, const char *assignment, const char *prog)
{
    char key[128];
    const char *eq = strchr(assignment, '=');
    char err[1024];
    int rc;

    if (eq == NULL || (size_t)(eq - assignment) >= sizeof(key) || eq == assignment) {
        fprintf(stderr, "%s: --set expects section.key=value, got '%s'\n", prog, assignment);
        return -EINVAL;
    }
    memcpy(key, assignment, (size_t)(eq - assignment));
    key[eq - assignment] = '\0';
    rc = config_set(cfg, key, eq + 1, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", prog, err);
    return rc;
}

void daemon_block_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}
