/*
 * benchfs_ns.c - namespace commands of the `benchfs` tool: ls, stat, mkdir,
 * rm, rmdir. Each behaves like its coreutils namesake on BenchFS paths:
 * every operand is processed even after one fails, and the exit status is 1
 * when any failed.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <ctype.h>

#include "benchfs.h"
#include "tools/benchfs_cli.h"

/* ---------------------------------------------------------------- helpers */

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cli_entry *)a)->name, ((const struct cli_entry *)b)->name);
}

void cli_dir_free(struct cli_entry *entries, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(entries[i].name);
    free(entries);
}

int cli_dir_list(const char *path, struct cli_entry **entries_p, size_t *count_p)
{
    struct cli_entry *entries = NULL, *grown;
    size_t count = 0, cap = 0;
    struct benchfs_dirent *de;
    benchfs_dir_t *dir;
    int err = 0;

    dir = benchfs_opendir(path);
    if (!dir)
        return -errno;
    for (;;) {
        errno = 0;
        de = benchfs_readdir(dir);
        if (!de) {
            err = errno;
            break;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            grown = realloc(entries, cap * sizeof(*entries));
            if (!grown) {
                err = ENOMEM;
                break;
            }
            entries = grown;
        }
        entries[count].name = strdup(de->d_name);
        if (!entries[count].name) {
            err = ENOMEM;
            break;
        }
        entries[count].type = de->d_type;
        entries[count].size = de->d_size;
        entries[count].mode = de->d_mode;
        count++;
    }
    benchfs_closedir(dir);
    if (err) {
        cli_dir_free(entries, count);
        return -err;
    }
    if (count > 1)
        qsort(entries, count, sizeof(*entries), entry_cmp);
    *entries_p = entries;
    *count_p = count;
    return 0;
}

static mode_t current_umask(void)
{
    mode_t m = umask(0);

    umask(m);
    return m;
}

static void format_mtime(const struct stat *st, char *buf, size_t len)
{
    struct tm tm;
    time_t t = st->st_mtim.tv_sec;

    if (!localtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(buf, len, "?");
}

/* --------------------------------------------------------------------- ls */

struct ls_row {
    char mode[11];
    char size[32];
    char mtime[32];
    const char *name;
};

struct ls_opts {
    bool longfmt;
    bool human;
    bool quote; /* stdout is a terminal: quote names like GNU ls */
};

/* A byte ls shows inside '...' as is (control bytes and DEL are not). */
static bool ls_printable(unsigned char c)
{
    return c >= 0x20 && c != 0x7f;
}

/* Does `name` need quoting (GNU ls's shell-escape style: anything beyond
 * letters, digits and %+,-./:=@_^)? */
static bool ls_needs_quotes(const char *name)
{
    if (name[0] == '\0')
        return true;
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
        if (!(isalnum(*p) || strchr("%+,-./:=@_^", *p) != NULL || *p >= 0x80))
            return true;
    return false;
}

/*
 * Print a name as GNU ls does on a terminal (quoting style shell-escape):
 * plain names as they are; others in single quotes ('it'\''s'), with
 * control bytes as $'\n', $'\t' or $'\ooo' outside the quotes, so that a
 * name can neither fake lines of output nor move the cursor. Piped output
 * stays literal, as with GNU ls.
 */
static void ls_print_name(const char *name, bool quote)
{
    const unsigned char *p = (const unsigned char *)name;
    bool open = false;

    if (!quote || !ls_needs_quotes(name)) {
        fputs(name, stdout);
        return;
    }
    for (; *p != '\0'; p++) {
        if (ls_printable(*p)) {
            if (!open) {
                putchar('\'');
                open = true;
            }
            if (*p == '\'')
                fputs("'\\''", stdout);
            else
                putchar(*p);
            continue;
        }
        if (open) {
            putchar('\'');
            open = false;
        }
        switch (*p) {
        case '\n':
            fputs("$'\\n'", stdout);
            break;
        case '\t':
            fputs("$'\\t'", stdout);
            break;
        case '\r':
            fputs("$'\\r'", stdout);
            break;
        default:
            printf("$'\\%03o'", *p);
            break;
        }
    }
    if (open)
        putchar('\'');
}

static void ls_row_fill(struct ls_row *row, const struct ls_opts *o, const char *name,
                        const struct stat *st)
{
    row->name = name;
    cli_mode_string(st->st_mode, row->mode);
    if (o->human)
        cli_human_size((uint64_t)st->st_size, row->size, sizeof(row->size));
    else
        snprintf(row->size, sizeof(row->size), "%lld", (long long)st->st_size);
    format_mtime(st, row->mtime, sizeof(row->mtime));
}

static void ls_rows_print(const struct ls_row *rows, size_t n, const struct ls_opts *o)
{
    int width = 1;

    if (!o->longfmt) {
        for (size_t i = 0; i < n; i++) {
            ls_print_name(rows[i].name, o->quote);
            putchar('\n');
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int w = (int)strlen(rows[i].size);

        if (w > width)
            width = w;
    }
    for (size_t i = 0; i < n; i++) {
        printf("%s %*s %s ", rows[i].mode, width, rows[i].size, rows[i].mtime);
        ls_print_name(rows[i].name, o->quote);
        putchar('\n');
    }
}

/* List one directory. Returns 0 or CLI_EXIT_FAIL (reported). */
static int ls_dir(const char *path, const struct ls_opts *o)
{
    struct cli_entry *entries;
    struct ls_row *rows;
    size_t count;
    int rc, status = CLI_EXIT_OK;

    rc = cli_dir_list(path, &entries, &count);
    if (rc < 0) {
        cli_op_error("cannot open directory", path, -rc);
        return CLI_EXIT_FAIL;
    }
    rows = calloc(count ? count : 1, sizeof(*rows));
    if (!rows) {
        cli_dir_free(entries, count);
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    for (size_t i = 0; i < count; i++) {
        struct stat st = {0};
        char child[BFS_PATH_MAX];

        /* The directory entry carries type, mode and size; -l also needs the
         * mtime, which only stat has. */
        st.st_mode = entries[i].mode;
        if ((st.st_mode & S_IFMT) == 0)
            st.st_mode |= entries[i].type == DT_DIR ? S_IFDIR : S_IFREG;
        st.st_size = (off_t)entries[i].size;
        if (o->longfmt && cli_path_join(path, entries[i].name, child) == 0 &&
            benchfs_stat(child, &st) < 0 && errno != ENOENT) {
            cli_op_error("cannot access", child, errno);
            status = CLI_EXIT_FAIL;
        }
        ls_row_fill(&rows[i], o, entries[i].name, &st);
    }
    ls_rows_print(rows, count, o);
    free(rows);
    cli_dir_free(entries, count);
    return status;
}

struct ls_operand {
    char path[BFS_PATH_MAX];
    struct stat st;
};

static int ls_operand_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ls_operand *)a)->path, ((const struct ls_operand *)b)->path);
}

static void ls_usage(FILE *out)
{
    fprintf(out, "Usage: benchfs ls [-l] [-h] [-d] [PATH]...\n"
                 "List the entries of each directory PATH (default /) sorted by name, or PATH\n"
                 "itself when it is a file.\n\n"
                 "  -l, --long             mode, size, modification time, name\n"
                 "  -h, --human-readable   sizes like 1.5M with -l\n"
                 "  -d, --directory        list directories themselves, not their contents\n"
                 "  -N, --literal          print names raw (the default when not a terminal)\n"
                 "  -b, --escape           quote names with special characters as GNU ls\n"
                 "                         does on a terminal: 'a b', 'x'$'\\n''y' (the default\n"
                 "                         on a terminal)\n"
                 "      --help             this help\n");
}

int cmd_ls(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"long", no_argument, NULL, 'l'},
        {"human-readable", no_argument, NULL, 'h'},
        {"directory", no_argument, NULL, 'd'},
        {"literal", no_argument, NULL, 'N'},
        {"escape", no_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    struct ls_opts o = {0};
    struct ls_operand *ops;
    struct ls_row *rows;
    size_t nops, nfiles = 0, ndirs = 0;
    bool dironly = false;
    int opt, rc, status = CLI_EXIT_OK;
    char *root[] = {"/"};
    char **operands;

    o.quote = isatty(STDOUT_FILENO);
    while ((opt = getopt_long(argc, argv, "lhdNb", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            o.longfmt = true;
            break;
        case 'N':
            o.quote = false;
            break;
        case 'b':
            o.quote = true;
            break;
        case 'h':
            o.human = true;
            break;
        case 'd':
            dironly = true;
            break;
        case 'H':
            ls_usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_try_help("ls");
        }
    }
    operands = optind < argc ? argv + optind : root;
    nops = optind < argc ? (size_t)(argc - optind) : 1;
    rc = cli_connect(ctx);
    if (rc)
        return rc;

    ops = calloc(nops, sizeof(*ops));
    rows = calloc(nops, sizeof(*rows));
    if (!ops || !rows) {
        free(ops);
        free(rows);
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    /* Like ls: files first (as one sorted listing), then each directory. */
    for (size_t i = 0; i < nops; i++) {
        struct ls_operand *op = &ops[nfiles + ndirs];

        if (cli_path(operands[i], op->path) < 0) {
            status = CLI_EXIT_FAIL;
            continue;
        }
        if (benchfs_stat(op->path, &op->st) < 0) {
            cli_op_error("cannot access", op->path, errno);
            status = CLI_EXIT_FAIL;
            continue;
        }
        if (S_ISDIR(op->st.st_mode) && !dironly)
            ndirs++;
        else
            nfiles++;
    }
    /* Partition: files to the front, directories after, each sorted. */
    size_t f = 0;
    for (size_t i = 0; i < nfiles + ndirs; i++) {
        if (!S_ISDIR(ops[i].st.st_mode) || dironly) {
            struct ls_operand tmp = ops[f];

            ops[f++] = ops[i];
            ops[i] = tmp;
        }
    }
    qsort(ops, nfiles, sizeof(*ops), ls_operand_cmp);
    qsort(ops + nfiles, ndirs, sizeof(*ops), ls_operand_cmp);
    for (size_t i = 0; i < nfiles; i++)
        ls_row_fill(&rows[i], &o, ops[i].path, &ops[i].st);
    ls_rows_print(rows, nfiles, &o);
    for (size_t i = nfiles; i < nfiles + ndirs; i++) {
        if (nops > 1) {
            if (i > 0)
                putchar('\n');
            ls_print_name(ops[i].path, o.quote);
            fputs(":\n", stdout);
        }
        if (ls_dir(ops[i].path, &o) != CLI_EXIT_OK)
            status = CLI_EXIT_FAIL;
    }
    free(rows);
    free(ops);
    return status;
}

/* ------------------------------------------------------------------- stat */

static void stat_time(const char *label, const struct timespec *ts)
{
    char buf[64], zone[16];
    struct tm tm;
    time_t t = ts->tv_sec;

    if (!localtime_r(&t, &tm)) {
        printf("%s: ?\n", label);
        return;
    }
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    strftime(zone, sizeof(zone), "%z", &tm);
    printf("%s: %s.%09ld %s\n", label, buf, (long)ts->tv_nsec, zone);
}

static void stat_print(const char *path, const struct stat *st)
{
    char mode[11];
    const char *kind = S_ISDIR(st->st_mode)    ? "directory"
                       : !S_ISREG(st->st_mode) ? "unknown"
                       : st->st_size == 0      ? "regular empty file"
                                               : "regular file";

    cli_mode_string(st->st_mode, mode);
    printf("  File: %s\n", path);
    printf("  Size: %-15lld Blocks: %-10lld IO Block: %-6ld %s\n", (long long)st->st_size,
           (long long)st->st_blocks, (long)st->st_blksize, kind);
    printf(" Inode: %-15llu Links: %lu\n", (unsigned long long)st->st_ino,
           (unsigned long)st->st_nlink);
    printf("Access: (%04o/%s)  Uid: (%5u)   Gid: (%5u)\n", (unsigned)(st->st_mode & 07777), mode,
           (unsigned)st->st_uid, (unsigned)st->st_gid);
    stat_time("Access", &st->st_atim);
    stat_time("Modify", &st->st_mtim);
    stat_time("Change", &st->st_ctim);
}

int cmd_stat(struct cli_ctx *ctx, int argc, char **argv)
{
    int rc, status = CLI_EXIT_OK;

    rc = cli_operands_begin(ctx, argc, argv, "stat",
                            "Usage: benchfs stat PATH...\n"
                            "Show size, blocks, inode, links, mode and times of each PATH.\n");
    if (rc >= 0)
        return rc;
    for (int i = optind; i < argc; i++) {
        char path[BFS_PATH_MAX];
        struct stat st;

        if (cli_path(argv[i], path) < 0) {
            status = CLI_EXIT_FAIL;
            continue;
        }
        if (benchfs_stat(path, &st) < 0) {
            cli_op_error("cannot stat", path, errno);
            status = CLI_EXIT_FAIL;
            continue;
        }
        stat_print(path, &st);
    }
    return status;
}

/* ------------------------------------------------------------------ mkdir */

/* mkdir -p: create every missing ancestor, then the path itself; an
 * existing directory is fine. Returns 0 or CLI_EXIT_FAIL (reported). */
static int mkdir_parents(const char *path, mode_t mode, mode_t parent_mode)
{
    char prefix[BFS_PATH_MAX];
    size_t len = strlen(path);
    struct stat st;
    int err;

    for (size_t i = 1; i < len; i++) {
        if (path[i] != '/')
            continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        /* EEXIST: already there (if it is a file, the next level fails
         * with ENOTDIR and says so). */
        if (benchfs_mkdir(prefix, parent_mode) < 0 && errno != EEXIST) {
            cli_op_error("cannot create directory", prefix, errno);
            return CLI_EXIT_FAIL;
        }
    }
    if (benchfs_mkdir(path, mode) == 0)
        return 0;
    err = errno;
    if (err == EEXIST && benchfs_stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    cli_op_error("cannot create directory", path, err);
    return CLI_EXIT_FAIL;
}

int cmd_mkdir(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"parents", no_argument, NULL, 'p'},
        {"mode", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    mode_t mask = current_umask();
    mode_t mode = 0777 & ~mask;
    bool parents = false;
    int opt, rc, status = CLI_EXIT_OK;

    while ((opt = getopt_long(argc, argv, "pm:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            parents = true;
            break;
        case 'm': {
            char *end;
            unsigned long m = strtoul(optarg, &end, 8);

            if (end == optarg || *end || m > 07777)
                return cli_usage_error("mkdir", "invalid mode '%s' (octal, e.g. 755)", optarg);
            mode = (mode_t)m;
            break;
        }
        case 'H':
            printf("Usage: benchfs mkdir [-p] [-m MODE] PATH...\n"
                   "Create each directory PATH.\n\n"
                   "  -p, --parents     create missing parents; no error if PATH exists\n"
                   "  -m, --mode MODE   octal mode of the new directories (default 0777 & "
                   "~umask)\n"
                   "      --help        this help\n");
            return CLI_EXIT_OK;
        default:
            return cli_try_help("mkdir");
        }
    }
    if (optind >= argc)
        return cli_usage_error("mkdir", "missing operand");
    rc = cli_connect(ctx);
    if (rc)
        return rc;
    for (int i = optind; i < argc; i++) {
        char path[BFS_PATH_MAX];

        if (cli_path(argv[i], path) < 0) {
            status = CLI_EXIT_FAIL;
            continue;
        }
        if (parents) {
            /* Parents must stay usable by their creator (like coreutils). */
            if (mkdir_parents(path, mode, (0777 & ~mask) | S_IWUSR | S_IXUSR) != 0)
                status = CLI_EXIT_FAIL;
        } else if (benchfs_mkdir(path, mode) < 0) {
            cli_op_error("cannot create directory", path, errno);
            status = CLI_EXIT_FAIL;
        }
    }
    return status;
}

/* --------------------------------------------------------------------- rm */

/* Remove the tree under `path` and then `path`. Entries are read in full
 * before anything is removed, so removal never disturbs the directory
 * pages being read. Returns 0 or CLI_EXIT_FAIL (reported). */
static int rm_tree(const char *path)
{
    struct cli_entry *entries;
    size_t count;
    int rc, status = 0;
    char *child;

    rc = cli_dir_list(path, &entries, &count);
    if (rc < 0) {
        cli_op_error("cannot open directory", path, -rc);
        return CLI_EXIT_FAIL;
    }
    child = malloc(BFS_PATH_MAX); /* one per level: deep trees stay off the stack */
    if (!child) {
        cli_dir_free(entries, count);
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    for (size_t i = 0; i < count; i++) {
        if (cli_path_join(path, entries[i].name, child) < 0) {
            cli_error("cannot remove '%s/%s': %s", path, entries[i].name, strerror(ENAMETOOLONG));
            status = CLI_EXIT_FAIL;
            continue;
        }
        if (entries[i].type == DT_DIR) {
            if (rm_tree(child) != 0)
                status = CLI_EXIT_FAIL;
        } else if (benchfs_unlink(child) < 0) {
            int err = errno;

            if (err == EISDIR) {
                if (rm_tree(child) != 0)
                    status = CLI_EXIT_FAIL;
            } else if (err != ENOENT) { /* ENOENT: someone else removed it */
                cli_op_error("cannot remove", child, err);
                status = CLI_EXIT_FAIL;
            }
        }
    }
    free(child);
    cli_dir_free(entries, count);
    if (status == 0 && benchfs_rmdir(path) < 0 && errno != ENOENT) {
        cli_op_error("cannot remove", path, errno);
        status = CLI_EXIT_FAIL;
    }
    return status;
}

struct rm_opts {
    bool recursive;
    bool force;
    bool dirs;
};

static int rm_one(const char *arg, const struct rm_opts *o)
{
    char path[BFS_PATH_MAX];
    struct stat st;

    if (cli_path(arg, path) < 0)
        return CLI_EXIT_FAIL;
    if (benchfs_stat(path, &st) < 0) {
        if (errno == ENOENT && o->force)
            return 0;
        cli_op_error("cannot remove", path, errno);
        return CLI_EXIT_FAIL;
    }
    if (S_ISDIR(st.st_mode)) {
        if (o->recursive) {
            if (strcmp(path, "/") == 0) {
                cli_error("it is dangerous to operate recursively on '/'");
                return CLI_EXIT_FAIL;
            }
            return rm_tree(path);
        }
        if (!o->dirs) {
            cli_error("cannot remove '%s': Is a directory", path);
            return CLI_EXIT_FAIL;
        }
        if (benchfs_rmdir(path) < 0) {
            cli_op_error("cannot remove", path, errno);
            return CLI_EXIT_FAIL;
        }
        return 0;
    }
    if (benchfs_unlink(path) < 0 && !(errno == ENOENT && o->force)) {
        cli_op_error("cannot remove", path, errno);
        return CLI_EXIT_FAIL;
    }
    return 0;
}

int cmd_rm(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"recursive", no_argument, NULL, 'r'},
        {"force", no_argument, NULL, 'f'},
        {"dir", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    struct rm_opts o = {0};
    int opt, rc, status = CLI_EXIT_OK;

    while ((opt = getopt_long(argc, argv, "rRfd", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r':
        case 'R':
            o.recursive = true;
            break;
        case 'f':
            o.force = true;
            break;
        case 'd':
            o.dirs = true;
            break;
        case 'H':
            printf("Usage: benchfs rm [-r] [-f] [-d] PATH...\n"
                   "Remove each file PATH.\n\n"
                   "  -r, -R, --recursive   remove directories and their contents\n"
                   "  -f, --force           ignore missing paths; no error without operands\n"
                   "  -d, --dir             remove empty directories\n"
                   "      --help            this help\n");
            return CLI_EXIT_OK;
        default:
            return cli_try_help("rm");
        }
    }
    if (optind >= argc)
        return o.force ? CLI_EXIT_OK : cli_usage_error("rm", "missing operand");
    rc = cli_connect(ctx);
    if (rc)
        return rc;
    for (int i = optind; i < argc; i++)
        if (rm_one(argv[i], &o) != 0)
            status = CLI_EXIT_FAIL;
    return status;
}

/* ------------------------------------------------------------------ rmdir */

int cmd_rmdir(struct cli_ctx *ctx, int argc, char **argv)
{
    int rc, status = CLI_EXIT_OK;

    rc = cli_operands_begin(ctx, argc, argv, "rmdir",
                            "Usage: benchfs rmdir PATH...\n"
                            "Remove each directory PATH, which must be empty.\n");
    if (rc >= 0)
        return rc;
    for (int i = optind; i < argc; i++) {
        char path[BFS_PATH_MAX];

        if (cli_path(argv[i], path) < 0) {
            status = CLI_EXIT_FAIL;
            continue;
        }
        if (benchfs_rmdir(path) < 0) {
            cli_op_error("failed to remove", path, errno);
            status = CLI_EXIT_FAIL;
        }
    }
    return status;
}
