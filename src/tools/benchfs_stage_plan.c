/*
 * benchfs_stage_plan.c - the planner of `benchfs stage-in/stage-out`: walk
 * every source in name order, create the destination directories, decide
 * per file (copy, skip, or with --verify compare checksums; files larger
 * than --split become byte-range items) and publish each work item to the
 * workers as soon as it is made (benchfs_stage_copy.c runs them).
 *
 * The entries of one directory are stat'ed, the destinations of its
 * subdirectories created and (from BenchFS) their listings fetched all at
 * once: in parallel on BenchFS, whose calls each wait for a round trip;
 * then they are taken in name order, so every MPI rank numbers the files
 * the same way. In a directory this pass created nothing exists yet: no
 * stat of the destination; BenchFS listings bring sizes and modes
 * (readdir-plus), so a new destination needs no stat of the source either.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "benchfs.h"
#include "tools/benchfs_stage.h"

char *stage_path_cat(const char *dir, const char *name)
{
    char *s = NULL;

    if (asprintf(&s, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name) < 0)
        return NULL;
    return s;
}

/* Our own names: temporary files and manifests are never staged. */
static bool stage_own_name(const char *name)
{
    return strncmp(name, STAGE_TMP_PREFIX, strlen(STAGE_TMP_PREFIX)) == 0 ||
           strncmp(name, STAGE_MANIFEST, strlen(STAGE_MANIFEST)) == 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct stage_dirent *)a)->name, ((const struct stage_dirent *)b)->name);
}

/* A work item, published to the workers at once. -1 when the pass has
 * room for no more (reported). */
static int plan_push_item(struct stage_plan *p, const struct stage_cmd *c, uint32_t file,
                          uint64_t off, uint64_t len)
{
    if (p->nitems == STAGE_MAX_ITEMS) {
        cli_error("%s: more than %u work items in one pass", c->o.cmd, STAGE_MAX_ITEMS);
        return -1;
    }
    p->items[p->nitems] = (struct stage_item){.file = file, .off = off, .len = len};
    stage_publish(p, p->nitems++);
    return 0;
}

static int plan_push_dir(struct stage_plan *p, const char *dst, const struct stage_attr *a)
{
    if (p->ndirs == p->cap_dirs) {
        size_t ncap = p->cap_dirs ? p->cap_dirs * 2 : 64;
        char **d = realloc(p->dirs, ncap * sizeof(*d));
        struct stage_attr *at;

        if (!d)
            return -ENOMEM;
        p->dirs = d;
        at = realloc(p->dir_attrs, ncap * sizeof(*at));
        if (!at)
            return -ENOMEM;
        p->dir_attrs = at;
        p->cap_dirs = ncap;
    }
    p->dirs[p->ndirs] = strdup(dst);
    if (!p->dirs[p->ndirs])
        return -ENOMEM;
    p->dir_attrs[p->ndirs++] = *a;
    return 0;
}

/* The shared mapping has no room for more paths (reported): -1. */
static int plan_full(const struct stage_cmd *c)
{
    cli_error("%s: the paths of one pass take more than %llu bytes", c->o.cmd,
              (unsigned long long)STAGE_MAX_STRINGS);
    return -1;
}

/* Add one regular file: decide copy/skip/check, make its work items. */
static int plan_file(struct stage_plan *p, const struct stage_cmd *c, const char *src,
                     const char *dst, const char *rel, const struct stage_attr *sa, bool fresh)
{
    struct stage_attr da;
    struct stage_file *f;
    const char *slash = strrchr(dst, '/');
    char tmpname[PATH_MAX + 64];
    uint64_t nparts = 1;
    int rc;

    if (p->nfiles == STAGE_MAX_ITEMS) {
        cli_error("%s: more than %u files in one pass", c->o.cmd, STAGE_MAX_ITEMS);
        return -1;
    }
    f = &p->files[p->nfiles];
    memset(f, 0, sizeof(*f));
    f->src = stage_strdup(p, src);
    f->dst = stage_strdup(p, dst);
    f->rel = stage_strdup(p, rel);
    if (!f->src || !f->dst || !f->rel)
        return plan_full(c);
    f->size = sa->size;
    f->mode = sa->mode;
    f->mtime_ns = sa->mtime_ns;
    f->mtime_unknown = sa->mtime_ns == INT64_MIN;
    p->nfiles++;

    /* In a directory this pass created, nothing exists yet: no stat. */
    rc = fresh ? -ENOENT : p->dst_fs->stat(dst, &da);
    f->direct = rc == -ENOENT;
    if (rc == 0 && da.is_dir) {
        cli_error("%s: cannot overwrite directory '%s' with file '%s'", c->o.cmd, dst, src);
        f->action = STAGE_FAILED;
        f->result = -EISDIR;
        p->errors++;
        return 0;
    }
    if (rc == 0 && da.is_reg && da.size == sa->size && da.mtime_ns >= sa->mtime_ns) {
        f->action = c->o.verify ? STAGE_CHECK : STAGE_SKIP;
        if (f->action == STAGE_SKIP)
            return 0;
    }
    if (f->action == STAGE_COPY && c->o.jobs > 1 && sa->size > c->o.split)
        nparts = (sa->size + c->o.split - 1) / c->o.split;
    f->first_item = (uint32_t)p->nitems;
    f->nparts = (uint32_t)nparts;
    /* A file written in place needs no temporary name. The name: fixed
     * length (any name fits), stable across runs (a rerun overwrites what
     * an interrupted one left). */
    f->tmp = f->dst;
    if (!f->direct || nparts > 1) {
        snprintf(tmpname, sizeof(tmpname), "%.*s/" STAGE_TMP_PREFIX "%016llx", (int)(slash - dst),
                 dst, (unsigned long long)XXH3_64bits(slash + 1, strlen(slash + 1)));
        f->tmp = stage_strdup(p, tmpname);
        if (!f->tmp)
            return plan_full(c);
    }
    if (nparts > 1) {
        /* The ranges' common temporary file, created before the workers. */
        int fd = p->dst_fs->open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC,
                                 p->dst_fs->remote ? f->mode : (f->mode | 0600));

        if (fd < 0) {
            cli_error("%s: cannot create '%s': %s", c->o.cmd, f->tmp, strerror(-fd));
            f->action = STAGE_FAILED;
            f->result = fd;
            p->errors++;
            return 0;
        }
        p->dst_fs->close(fd);
    }
    for (uint64_t k = 0; k < nparts; k++) {
        uint64_t off = k * c->o.split;
        uint64_t len =
            nparts == 1 ? sa->size : (sa->size - off < c->o.split ? sa->size - off : c->o.split);

        rc = plan_push_item(p, c, (uint32_t)(p->nfiles - 1), off, len);
        if (rc < 0)
            return rc;
    }
    if (f->action == STAGE_COPY)
        p->bytes_total += sa->size;
    return 0;
}

struct stage_par {
    void (*fn)(void *arg, size_t i);
    void *arg;
    size_t n;
    _Atomic size_t next;
};

static void *stage_par_main(void *arg)
{
    struct stage_par *par = arg;
    size_t i;

    while ((i = atomic_fetch_add(&par->next, 1)) < par->n)
        par->fn(par->arg, i);
    return NULL;
}

void stage_parallel(size_t n, bool wide, void (*fn)(void *arg, size_t i), void *arg)
{
    struct stage_par par = {.fn = fn, .arg = arg, .n = n};
    pthread_t tid[STAGE_PAR_THREADS - 1];
    size_t started = 0;

    for (size_t k = 0; wide && k + 1 < STAGE_PAR_THREADS && k + 1 < n; k++) {
        if (pthread_create(&tid[k], NULL, stage_par_main, &par) != 0)
            break; /* fewer threads: this one still does everything left */
        started++;
    }
    stage_par_main(&par);
    for (size_t k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
}

/* One entry of a directory being planned. */
struct plan_ent {
    char *s, *d, *r; /* source, destination, below the destination root */
    struct stage_attr a;
    int st; /* stat: 0, -errno, PLAN_SKIP, or PLAN_LISTED (a from readdir-plus) */
    int mk; /* a directory's mkdir: 1 created, 0 was there, -errno */
    /* A subdirectory of a BenchFS source: its listing, fetched beside its
     * siblings' (lrc: 0 or -errno); handed to its plan_dir. */
    struct stage_dirent *ents;
    size_t nents;
    int lrc;
};
#define PLAN_SKIP   1 /* our own file, or a destination path too long */
#define PLAN_LISTED 2

struct plan_dir_ctx {
    struct stage_plan *p;
    const struct stage_dirent *ents;
    struct plan_ent *pe;
    const size_t *at; /* the entries of this step */
    bool fresh;
};

static void plan_stat_one(void *arg, size_t j)
{
    struct plan_dir_ctx *x = arg;
    struct plan_ent *e = &x->pe[x->at[j]];
    const struct stage_dirent *de = &x->ents[x->at[j]];

    if (x->fresh && de->has_attr && de->is_reg) {
        /* New destination, attributes from readdir-plus: the mtime comes
         * with the file's bytes in the worker (one RPC less). */
        e->a = (struct stage_attr){
            .is_reg = true, .size = de->size, .mode = de->mode, .mtime_ns = INT64_MIN};
        e->st = PLAN_LISTED;
        return;
    }
    e->st = x->p->src_fs->stat(e->s, &e->a);
}

static void plan_mkdir_one(void *arg, size_t j)
{
    struct plan_dir_ctx *x = arg;
    struct plan_ent *e = &x->pe[x->at[j]];

    e->mk = x->p->dst_fs->mkdir(e->d, e->a.mode);
}

static void plan_list_one(void *arg, size_t j)
{
    struct plan_dir_ctx *x = arg;
    struct plan_ent *e = &x->pe[x->at[j]];

    e->lrc = x->p->src_fs->list(e->s, &e->ents, &e->nents);
}

/*
 * Walk the source directory `src` into destination directory `dst`, which
 * `mk` says was created (1), was there (0) or could not be made (-errno).
 * `ordinal` numbers the regular files of the whole walk, so MPI ranks share
 * them out. The entries are stat'ed, the destinations of the
 * subdirectories made and (from BenchFS) their listings fetched, all at
 * once (in parallel on BenchFS), then taken in name order. `pre`: this
 * directory's listing fetched so by the caller (taken over), or NULL.
 * Returns 0 or -ENOMEM; other failures are reported and counted in
 * p->errors.
 */
static int plan_dir(struct stage_plan *p, const struct stage_cmd *c, const char *src,
                    const char *dst, const char *rel, const struct stage_attr *sa,
                    uint64_t *ordinal, bool fresh, int mk, struct plan_ent *pre)
{
    struct stage_dirent *ents = NULL;
    struct plan_ent *pe = NULL;
    struct plan_dir_ctx x;
    size_t n = 0, m;
    size_t *at;
    int rc = 0;

    if (pre != NULL) {
        ents = pre->ents;
        n = pre->nents;
        rc = pre->lrc;
        pre->ents = NULL;
        pre->nents = 0;
    }
    if (mk < 0) {
        cli_error("%s: cannot create directory '%s': %s", c->o.cmd, dst, strerror(-mk));
        p->errors++;
        stage_dirents_free(ents, n);
        return 0;
    }
    fresh = fresh || mk == 1;
    if (plan_push_dir(p, dst, sa) < 0) {
        stage_dirents_free(ents, n);
        return -ENOMEM;
    }
    if (pre == NULL)
        rc = p->src_fs->list(src, &ents, &n);
    if (rc < 0) {
        cli_error("%s: cannot read directory '%s': %s", c->o.cmd, src, strerror(-rc));
        p->errors++;
        return 0;
    }
    if (n > 1)
        qsort(ents, n, sizeof(*ents), entry_cmp);
    pe = calloc(n ? n : 1, sizeof(*pe));
    at = malloc((n ? n : 1) * sizeof(*at));
    if (!pe || !at) {
        free(pe);
        free(at);
        stage_dirents_free(ents, n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        pe[i].s = stage_path_cat(src, ents[i].name);
        pe[i].d = stage_path_cat(dst, ents[i].name);
        pe[i].r = *rel ? stage_path_cat(rel, ents[i].name) : strdup(ents[i].name);
        if (!pe[i].s || !pe[i].d || !pe[i].r)
            rc = -ENOMEM;
        else if (stage_own_name(ents[i].name)) /* a temporary file or manifest of ours */
            pe[i].st = PLAN_SKIP;
        else if (p->dst_fs->remote && strlen(pe[i].d) >= BFS_PATH_MAX)
            pe[i].st = PLAN_SKIP;
    }
    x = (struct plan_dir_ctx){.p = p, .ents = ents, .pe = pe, .at = at, .fresh = fresh};
    if (rc == 0) {
        for (size_t i = m = 0; i < n; i++)
            if (pe[i].st != PLAN_SKIP)
                at[m++] = i;
        stage_parallel(m, p->src_fs->remote, plan_stat_one, &x);
        for (size_t i = m = 0; i < n; i++)
            if (pe[i].st == 0 && pe[i].a.is_dir)
                at[m++] = i;
        stage_parallel(m, p->dst_fs->remote, plan_mkdir_one, &x);
        if (p->src_fs->remote)
            stage_parallel(m, true, plan_list_one, &x);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct plan_ent *e = &pe[i];

        if (e->st == PLAN_SKIP) {
            if (!stage_own_name(ents[i].name)) {
                cli_error("%s: cannot stage '%s': destination path too long", c->o.cmd, e->s);
                p->errors++;
            }
        } else if (e->st < 0) {
            cli_error("%s: cannot stat '%s': %s", c->o.cmd, e->s, strerror(-e->st));
            p->errors++;
        } else if (e->a.is_dir) {
            rc = plan_dir(p, c, e->s, e->d, e->r, &e->a, ordinal, fresh, e->mk,
                          p->src_fs->remote ? e : NULL);
        } else if (!e->a.is_reg) {
            cli_warn("%s: skipping '%s': not a regular file or directory", c->o.cmd, e->s);
        } else if ((*ordinal)++ % c->o.ranks == c->o.rank) {
            rc = plan_file(p, c, e->s, e->d, e->r, &e->a, fresh);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(pe[i].s);
        free(pe[i].d);
        free(pe[i].r);
        stage_dirents_free(pe[i].ents, pe[i].nents); /* not handed over (an error) */
    }
    free(pe);
    free(at);
    stage_dirents_free(ents, n);
    return rc;
}

int stage_plan_build(struct stage_plan *p, const struct stage_cmd *c)
{
    uint64_t ordinal = 0;
    bool fresh = false;
    int rc;

    /* DEST itself (mkdir -p on the destination side). */
    for (char *s = strchr(c->dest + 1, '/');; s = strchr(s + 1, '/')) {
        char save = s ? *s : '\0';

        if (s)
            *s = '\0';
        rc = p->dst_fs->mkdir(c->dest, 0755);
        if (s)
            *s = save;
        if (rc < 0) {
            cli_error("%s: cannot create directory '%s': %s", c->o.cmd, c->dest, strerror(-rc));
            return -1;
        }
        if (!s) {
            fresh = rc == 1; /* DEST is new: so is everything below */
            break;
        }
    }
    for (int i = 0; i < c->nsrcs; i++) {
        char src[PATH_MAX], name[BFS_NAME_MAX + 1];
        const char *arg = c->srcs[i];
        struct stage_attr a;
        bool contents = arg[strlen(arg) - 1] == '/';
        char *dst;

        if (p->src_fs->remote) {
            if (cli_path(arg, src) < 0) {
                p->errors++;
                continue;
            }
        } else {
            snprintf(src, sizeof(src), "%s", arg);
        }
        rc = p->src_fs->stat(src, &a);
        if (rc < 0) {
            cli_error("%s: cannot stat '%s': %s", c->o.cmd, arg, strerror(-rc));
            p->errors++;
            continue;
        }
        if (cli_last_name(src, name, sizeof(name)) < 0) {
            cli_error("%s: cannot stage '%s': %s", c->o.cmd, arg, strerror(ENAMETOOLONG));
            p->errors++;
            continue;
        }
        if (a.is_dir && contents) {
            a.mode = 0; /* DEST keeps its own mode */
            rc = plan_dir(p, c, src, c->dest, "", &a, &ordinal, fresh, 0, NULL);
        } else if (a.is_dir || a.is_reg) {
            dst = stage_path_cat(c->dest, name);
            if (!dst)
                return -ENOMEM;
            if (a.is_dir)
                rc = plan_dir(p, c, src, dst, name, &a, &ordinal, fresh,
                              p->dst_fs->mkdir(dst, a.mode), NULL);
            else if (ordinal++ % c->o.ranks == c->o.rank)
                rc = plan_file(p, c, src, dst, name, &a, fresh);
            free(dst);
        } else {
            cli_warn("%s: skipping '%s': not a regular file or directory", c->o.cmd, arg);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

void stage_plan_free(struct stage_plan *p)
{
    for (size_t i = 0; i < p->ndirs; i++)
        free(p->dirs[i]);
    free(p->dirs);
    free(p->dir_attrs);
    stage_shared_destroy(p);
    memset(p, 0, sizeof(*p));
}
