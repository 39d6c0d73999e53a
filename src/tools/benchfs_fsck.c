/*
 * benchfs_fsck.c - `benchfs fsck [--repair | --repair-unknown] [--quiet]`: find chunk files
 * whose inode exists nowhere in the cluster (left by writers or clients
 * that died, or by a lost metadata server), report them with a summary of
 * the bytes they hold, and with --repair free them. The work is the
 * library's benchfs_fsck() (src/client/fsck.c); this prints it.
 *
 * Orphan records (files unlinked while open) are listed with the state of
 * their holder; --repair drops those whose holder is gone.
 *
 * Exit status: 0 when the cluster is clean or everything found was freed,
 * 1 when orphans remain (report only: orphan chunks, or orphan records of
 * gone holders) or something failed, 2 for usage. Records of live or
 * unknown holders are reported and do not change the status.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "benchfs.h"
#include "tools/benchfs_cli.h"

static void fsck_print(void *arg, const char *node_id, uint64_t ino, uint64_t chunks,
                       uint64_t bytes, int repaired)
{
    char size[32];

    if (*(const bool *)arg)
        return;
    cli_human_size(bytes, size, sizeof(size));
    printf("orphan: inode %016" PRIx64 " on %s: %" PRIu64 " chunk%s, %s%s\n", ino, node_id, chunks,
           chunks == 1 ? "" : "s", size, repaired ? " (freed)" : "");
}

static void fsck_print_record(void *arg, const struct benchfs_fsck_orphan *o)
{
    static const char *const states[] = {"?", "live", "gone", "unknown"};
    char size[32];

    if (*(const bool *)arg)
        return;
    cli_human_size(o->size, size, sizeof(size));
    if (o->session == 0) {
        printf("orphan record: inode %016" PRIx64 " on %s, size %s: holder unknown (none "
               "recorded)%s\n",
               o->ino, o->node_id, size, o->freed ? " (freed)" : "");
        return;
    }
    printf("orphan record: inode %016" PRIx64 " on %s, size %s: holder pid %" PRIu64
           " (%s, session %016" PRIx64 ") %s%s\n",
           o->ino, o->node_id, size, o->pid, o->same_host ? "this host" : "another host",
           o->session, states[o->holder >= 1 && o->holder <= 3 ? o->holder : 0],
           o->freed ? " (freed)" : "");
}

int cmd_fsck(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"repair", no_argument, NULL, 'r'},
        {"repair-unknown", no_argument, NULL, 'u'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    struct benchfs_fsck_report rep;
    char orphan[32], freed[32], total[32];
    bool repair = false, unknown = false, quiet = false;
    unsigned flags;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            repair = true;
            break;
        case 'u':
            repair = unknown = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'H':
            printf("Usage: benchfs fsck [--repair | --repair-unknown] [--quiet]\n"
                   "Find chunk files whose inode exists nowhere in the cluster (left by\n"
                   "writers or clients that died, or by a lost metadata server) and print\n"
                   "them with a summary of the space they hold. Also list the orphan\n"
                   "records of files unlinked while open, with the state of the client\n"
                   "holding each (live, gone, unknown). Run --repair on a quiet cluster\n"
                   "(no renames in flight).\n\n"
                   "      --repair   free the orphan chunks, and the orphan records (and\n"
                   "                 data) of holders that are gone\n"
                   "      --repair-unknown  --repair, and also the orphan records whose\n"
                   "                 holder cannot be checked (another host, not connected):\n"
                   "                 only when no client that may hold one still runs\n"
                   "  -q, --quiet    only the summary\n"
                   "      --help     this help\n\n"
                   "Exit status: 0 clean (or all freed), 1 orphans left or an error.\n");
            return CLI_EXIT_OK;
        default:
            return cli_try_help("fsck");
        }
    }
    if (optind < argc)
        return cli_usage_error("fsck", "extra operand '%s'", argv[optind]);
    rc = cli_connect(ctx);
    if (rc)
        return rc;
    flags = (repair ? BENCHFS_FSCK_REPAIR : 0) | (unknown ? BENCHFS_FSCK_REPAIR_UNKNOWN : 0);
    if (benchfs_fsck_ex(flags, fsck_print, fsck_print_record, &quiet, &rep) < 0) {
        cli_error("fsck failed: %s", benchfs_last_error());
        return CLI_EXIT_FAIL;
    }
    cli_human_size(rep.orphan_bytes, orphan, sizeof(orphan));
    cli_human_size(rep.freed_bytes, freed, sizeof(freed));
    cli_human_size(rep.bytes, total, sizeof(total));
    printf("%" PRIu64 " servers, %" PRIu64 " files, %" PRIu64 " chunk files (%s); orphans: %" PRIu64
           " chunk sets, %" PRIu64 " chunk files, %s (%" PRIu64 " bytes); freed %s (%" PRIu64
           " bytes); %" PRIu64 " error(s)\n",
           rep.servers, rep.files, rep.chunks, total, rep.orphan_sets, rep.orphan_chunks, orphan,
           rep.orphan_bytes, freed, rep.freed_bytes, rep.errors);
    printf("orphan records: %" PRIu64 " (%" PRIu64 " live, %" PRIu64 " gone, %" PRIu64
           " unknown); freed %" PRIu64 "\n",
           rep.orphan_records, rep.orphan_records_live, rep.orphan_records_gone,
           rep.orphan_records_unknown, rep.orphan_records_freed);
    /* With --repair a gone holder's record is freed, found live again
     * (EBUSY) or counted as an error. */
    if (rep.errors > 0 || rep.orphan_bytes > rep.freed_bytes || (rep.orphan_sets > 0 && !repair) ||
        (rep.orphan_records_gone > 0 && !repair))
        return CLI_EXIT_FAIL;
    return CLI_EXIT_OK;
}
