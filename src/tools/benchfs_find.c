/*
 * benchfs_find.c - `benchfs find`: walk BenchFS directory trees with
 * opendir/readdir and print the entries that match every test given (like
 * find's implicit -a): -name PATTERN, -type f|d, -size [+-]N[cwbkMG],
 * -newer FILE, -mindepth/-maxdepth N.
 *
 * It doubles as IO500's external find script (docs/ior-notes.md, "IO500
 * phases"): IO500 runs `<script> <datadir> -newer <resdir>/timestampfile
 * -size 3901c -name "*01*"` and reads the last line of its output,
 * "MATCHED <hits>/<total>", where total is the number of entries examined
 * (IO500 divides it by the runtime for the phase's rate). With --io500 or
 * BENCHFS_FIND_IO500=1 only that line is printed.
 *
 * The readdir-plus entries carry type and size, so the cheap tests run
 * first and only entries that pass them cost a stat (for -newer).
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "benchfs.h"
#include "tools/benchfs_cli.h"

enum size_cmp { SIZE_EQ, SIZE_GT, SIZE_LT };

struct find_expr {
    const char *name; /* -name pattern, NULL: any */
    char type;        /* 'f', 'd' or 0 */
    bool has_size;    /* -size */
    enum size_cmp size_cmp;
    uint64_t size_n;    /* in units of size_unit */
    uint64_t size_unit; /* 1 for 'c', 512 by default, ... */
    bool has_newer;     /* -newer */
    struct timespec newer;
    long mindepth, maxdepth; /* maxdepth < 0: unlimited */
};

struct find_state {
    const struct find_expr *e;
    bool io500; /* print only MATCHED <hits>/<total> */
    const char *prefix;
    uint64_t hits, total;
    int status;
};

static void find_usage(FILE *out)
{
    fprintf(out,
            "Usage: benchfs find [--io500] [--prefix P] DIR... [TEST]...\n"
            "Walk each BenchFS directory DIR and print every entry (DIR included) that\n"
            "passes all the TESTs.\n\n"
            "Tests:\n"
            "  -name PATTERN        the last component matches the shell PATTERN (fnmatch)\n"
            "  -type f|d            regular file or directory\n"
            "  -size [+-]N[cwbkMG]  size in units (c: bytes, w: 2, b: 512 (default), k, M,\n"
            "                       G), rounded up; +N more than N, -N less than N\n"
            "  -newer FILE          modified after FILE: a BenchFS path when it exists there,\n"
            "                       else a local file; 'local:PATH' / 'benchfs:PATH' force "
            "one\n"
            "  -mindepth N, -maxdepth N   only entries at least / at most N levels below DIR\n"
            "  -print               accepted (printing is the default)\n\n"
            "Options:\n"
            "  --io500              print only 'MATCHED <hits>/<total>' (total: entries\n"
            "                       examined), as IO500's external find script; also when\n"
            "                       BENCHFS_FIND_IO500=1\n"
            "  --prefix P           DIR operands start with the mount prefix P: strip it, and\n"
            "                       print paths with it\n"
            "  --help               this help\n\n"
            "IO500: [find] external-script = a script running 'benchfs find --io500 \"$@\"'.\n");
}

/* Parse -size's argument. 0 or -EINVAL. */
static int parse_size_test(const char *arg, struct find_expr *e)
{
    const char *p = arg;
    char *end;
    unsigned long long n;

    e->size_cmp = SIZE_EQ;
    if (*p == '+' || *p == '-') {
        e->size_cmp = *p == '+' ? SIZE_GT : SIZE_LT;
        p++;
    }
    if (*p < '0' || *p > '9')
        return -EINVAL;
    errno = 0;
    n = strtoull(p, &end, 10);
    if (errno)
        return -EINVAL;
    switch (*end) {
    case 'c':
        e->size_unit = 1;
        break;
    case 'w':
        e->size_unit = 2;
        break;
    case '\0':
    case 'b':
        e->size_unit = 512;
        break;
    case 'k':
        e->size_unit = 1024;
        break;
    case 'M':
        e->size_unit = 1024 * 1024;
        break;
    case 'G':
        e->size_unit = 1024 * 1024 * 1024;
        break;
    default:
        return -EINVAL;
    }
    if (*end && end[1])
        return -EINVAL;
    e->size_n = n;
    e->has_size = true;
    return 0;
}

/* cli_path without the message: 0 or -errno. */
static int quiet_path(const char *arg, char out[BFS_PATH_MAX])
{
    char tmp[BFS_PATH_MAX];

    if (arg[0] == '/')
        return path_normalize(arg, out, BFS_PATH_MAX) < 0 ? -EINVAL : 0;
    if (snprintf(tmp, sizeof(tmp), "/%s", arg) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    return path_normalize(tmp, out, BFS_PATH_MAX) < 0 ? -EINVAL : 0;
}

/* Resolve -newer FILE to its mtime. Returns 0, or reports and returns -1. */
static int resolve_newer(const char *file, struct timespec *ts)
{
    char path[BFS_PATH_MAX];
    struct stat st;
    int rc;

    if (strncmp(file, "local:", 6) == 0) {
        file += 6;
        goto local;
    }
    if (strncmp(file, "benchfs:", 8) == 0) {
        if (cli_path(file + 8, path) < 0)
            return -1;
        if (benchfs_stat(path, &st) < 0) {
            cli_op_error("cannot stat", path, errno);
            return -1;
        }
        *ts = st.st_mtim;
        return 0;
    }
    /* IO500 passes a local timestamp file: try BenchFS first, then the
     * local file system when BenchFS has no such path (or the name cannot
     * be a BenchFS path at all). */
    if (quiet_path(file, path) == 0) {
        if (benchfs_stat(path, &st) == 0) {
            *ts = st.st_mtim;
            return 0;
        }
        rc = errno;
        if (rc != ENOENT && rc != ENOTDIR && rc != EINVAL && rc != ENAMETOOLONG) {
            cli_op_error("cannot stat", path, rc);
            return -1;
        }
    }
local:
    if (stat(file, &st) < 0) {
        cli_error("cannot stat '%s': %s (neither in BenchFS nor local)", file, strerror(errno));
        return -1;
    }
    *ts = st.st_mtim;
    return 0;
}

static bool size_matches(const struct find_expr *e, uint64_t size)
{
    /* find rounds the size up to whole units: -size 1k matches 1..1024. */
    uint64_t units = e->size_unit == 1 ? size : (size + e->size_unit - 1) / e->size_unit;

    switch (e->size_cmp) {
    case SIZE_GT:
        return units > e->size_n;
    case SIZE_LT:
        return units < e->size_n;
    default:
        return units == e->size_n;
    }
}

/*
 * Evaluate the tests on one entry. `st` holds what is known (type bits of
 * st_mode and st_size from readdir-plus, or a full stat); `have_times`
 * says whether st's times are valid, else -newer costs a stat.
 */
static bool entry_matches(struct find_state *fs, const char *path, const char *name,
                          struct stat *st, bool have_times, long depth)
{
    const struct find_expr *e = fs->e;

    if (depth < e->mindepth)
        return false;
    if (e->type == 'f' && !S_ISREG(st->st_mode))
        return false;
    if (e->type == 'd' && !S_ISDIR(st->st_mode))
        return false;
    if (e->name && fnmatch(e->name, name, 0) != 0)
        return false;
    if (e->has_size && !size_matches(e, (uint64_t)st->st_size))
        return false;
    if (e->has_newer) {
        if (!have_times && benchfs_stat(path, st) < 0) {
            if (errno != ENOENT) { /* ENOENT: removed meanwhile, not a match */
                cli_op_error("cannot stat", path, errno);
                fs->status = CLI_EXIT_FAIL;
            }
            return false;
        }
        if (st->st_mtim.tv_sec < e->newer.tv_sec ||
            (st->st_mtim.tv_sec == e->newer.tv_sec && st->st_mtim.tv_nsec <= e->newer.tv_nsec))
            return false;
    }
    return true;
}

static void entry_print(struct find_state *fs, const char *path)
{
    fs->hits++;
    if (fs->io500)
        return;
    if (fs->prefix)
        fputs(fs->prefix, stdout);
    /* With a prefix, the root is the prefix itself. */
    if (!(fs->prefix && strcmp(path, "/") == 0))
        fputs(path, stdout);
    putchar('\n');
}

/* A stack of directories still to walk. */
struct dir_item {
    char *path;
    long depth;
};

struct dir_stack {
    struct dir_item *items;
    size_t n, cap;
};

static int stack_push(struct dir_stack *s, const char *path, long depth)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct dir_item *items = realloc(s->items, cap * sizeof(*items));

        if (!items)
            return -ENOMEM;
        s->items = items;
        s->cap = cap;
    }
    s->items[s->n].path = strdup(path);
    if (!s->items[s->n].path)
        return -ENOMEM;
    s->items[s->n].depth = depth;
    s->n++;
    return 0;
}

/* Read one directory: test every entry, and push its subdirectories. */
static void walk_dir(struct find_state *fs, struct dir_stack *stack, const char *dir, long depth)
{
    char path[BFS_PATH_MAX];
    struct benchfs_dirent *de;
    size_t first_sub = stack->n;
    benchfs_dir_t *d;

    d = benchfs_opendir(dir);
    if (!d) {
        cli_op_error("cannot open directory", dir, errno);
        fs->status = CLI_EXIT_FAIL;
        return;
    }
    for (;;) {
        struct stat st = {0};

        errno = 0;
        de = benchfs_readdir(d);
        if (!de) {
            if (errno) {
                cli_op_error("cannot read directory", dir, errno);
                fs->status = CLI_EXIT_FAIL;
            }
            break;
        }
        fs->total++;
        if (cli_path_join(dir, de->d_name, path) < 0) {
            cli_error("'%s/%s': %s", dir, de->d_name, strerror(ENAMETOOLONG));
            fs->status = CLI_EXIT_FAIL;
            continue;
        }
        st.st_mode = de->d_type == DT_DIR ? S_IFDIR : S_IFREG;
        st.st_size = (off_t)de->d_size;
        if (entry_matches(fs, path, de->d_name, &st, false, depth + 1))
            entry_print(fs, path);
        if (de->d_type == DT_DIR && (fs->e->maxdepth < 0 || depth + 1 < fs->e->maxdepth) &&
            stack_push(stack, path, depth + 1) < 0) {
            cli_error("out of memory");
            fs->status = CLI_EXIT_FAIL;
        }
    }
    benchfs_closedir(d);
    /* Reverse this directory's subdirectories so they are walked in
     * readdir order (the stack pops the last one first). */
    for (size_t i = first_sub, j = stack->n; i + 1 < j; i++, j--) {
        struct dir_item tmp = stack->items[i];

        stack->items[i] = stack->items[j - 1];
        stack->items[j - 1] = tmp;
    }
}

static void walk(struct find_state *fs, const char *start)
{
    struct dir_stack stack = {0};
    struct stat st;

    if (benchfs_stat(start, &st) < 0) {
        cli_op_error("cannot access", start, errno);
        fs->status = CLI_EXIT_FAIL;
        return;
    }
    fs->total++;
    if (entry_matches(fs, start, cli_basename(start), &st, true, 0))
        entry_print(fs, start);
    if (!S_ISDIR(st.st_mode) || fs->e->maxdepth == 0)
        return;
    if (stack_push(&stack, start, 0) < 0) {
        cli_error("out of memory");
        fs->status = CLI_EXIT_FAIL;
        return;
    }
    while (stack.n > 0) {
        struct dir_item item = stack.items[--stack.n];

        walk_dir(fs, &stack, item.path, item.depth);
        free(item.path);
    }
    free(stack.items);
}

static int parse_depth(const char *pred, const char *arg, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < 0)
        return cli_usage_error("find", "%s: invalid depth '%s'", pred, arg);
    *out = v;
    return 0;
}

int cmd_find(struct cli_ctx *ctx, int argc, char **argv)
{
    struct find_expr e = {.mindepth = 0, .maxdepth = -1};
    struct find_state fs = {.e = &e};
    const char *env = getenv("BENCHFS_FIND_IO500");
    const char *newer_file = NULL;
    const char **dirs;
    size_t prefix_len = 0;
    int ndirs = 0, rc;

    fs.io500 = env && strcmp(env, "1") == 0;
    dirs = calloc((size_t)argc, sizeof(*dirs));
    if (!dirs) {
        cli_error("out of memory");
        return CLI_EXIT_FAIL;
    }
    /* find's syntax, not getopt's: tests are single-dash words with one
     * argument; operands and tests may come in any order (IO500 puts its
     * extra arguments before the data dir). */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-help") == 0) {
            find_usage(stdout);
            free(dirs);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--io500") == 0) {
            fs.io500 = true;
        } else if (strcmp(a, "-print") == 0) {
            /* the default action */
        } else if (a[0] != '-' || strcmp(a, "-") == 0) {
            dirs[ndirs++] = a;
        } else if (!val) {
            free(dirs);
            if (strcmp(a, "--prefix") && strcmp(a, "-name") && strcmp(a, "-type") &&
                strcmp(a, "-size") && strcmp(a, "-newer") && strcmp(a, "-maxdepth") &&
                strcmp(a, "-mindepth"))
                return cli_usage_error("find", "unknown predicate '%s'", a);
            return cli_usage_error("find", "missing argument to '%s'", a);
        } else if (strcmp(a, "--prefix") == 0) {
            fs.prefix = val;
            prefix_len = strlen(val);
            while (prefix_len > 0 && val[prefix_len - 1] == '/')
                prefix_len--;
            i++;
        } else if (strcmp(a, "-name") == 0) {
            e.name = val;
            i++;
        } else if (strcmp(a, "-type") == 0) {
            if (strcmp(val, "f") && strcmp(val, "d")) {
                free(dirs);
                return cli_usage_error("find", "-type: unsupported type '%s' (f or d)", val);
            }
            e.type = val[0];
            i++;
        } else if (strcmp(a, "-size") == 0) {
            if (parse_size_test(val, &e) < 0) {
                free(dirs);
                return cli_usage_error("find", "invalid argument '%s' to -size", val);
            }
            i++;
        } else if (strcmp(a, "-newer") == 0) {
            newer_file = val;
            e.has_newer = true;
            i++;
        } else if (strcmp(a, "-maxdepth") == 0 || strcmp(a, "-mindepth") == 0) {
            rc = parse_depth(a, val, a[2] == 'a' ? &e.maxdepth : &e.mindepth);
            if (rc) {
                free(dirs);
                return rc;
            }
            i++;
        } else {
            free(dirs);
            return cli_usage_error("find", "unknown predicate '%s'", a);
        }
    }
    if (ndirs == 0) {
        free(dirs);
        return cli_usage_error("find", "missing starting directory");
    }
    rc = cli_connect(ctx);
    if (rc) {
        free(dirs);
        return rc;
    }
    if (newer_file && resolve_newer(newer_file, &e.newer) < 0) {
        free(dirs);
        return CLI_EXIT_FAIL;
    }
    if (fs.prefix)
        fs.prefix = strndup(fs.prefix, prefix_len);
    for (int i = 0; i < ndirs; i++) {
        const char *arg = dirs[i];
        char start[BFS_PATH_MAX];

        /* Strip the mount prefix ("/mnt/benchfs/x" is "/x"). */
        if (fs.prefix && strncmp(arg, fs.prefix, prefix_len) == 0 &&
            (arg[prefix_len] == '/' || arg[prefix_len] == '\0'))
            arg = arg[prefix_len] ? arg + prefix_len : "/";
        if (cli_path(arg, start) < 0) {
            fs.status = CLI_EXIT_FAIL;
            continue;
        }
        walk(&fs, start);
    }
    if (fs.io500)
        printf("MATCHED %llu/%llu\n", (unsigned long long)fs.hits, (unsigned long long)fs.total);
    free((char *)fs.prefix);
    free(dirs);
    return fs.status;
}
