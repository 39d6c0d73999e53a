/*
 * test_preload.c - call coverage of libbenchfs_preload.so (docs/preload.md).
 *
 *   benchfs run --mount /benchfs -- test_preload /benchfs/DIR
 *
 * An ordinary program (linked normally, no BenchFS code) run under the
 * interception library against real servers: every intercepted call's
 * results and errnos on paths under DIR, dup/fcntl semantics, relative
 * paths after chdir, openat with a directory descriptor, directories,
 * stdio, mmap, select() on a reserved descriptor, a fork child reading an
 * inherited descriptor and an exec'd child (this program again, with
 * "--child FD") reading one. Exit 0 pass, 1 fail, 77 skip.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <termios.h>
#include <unistd.h>
#include <utime.h>

static int failures;

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "FAIL %s:%d: %s (errno %d %s)\n", __FILE__, __LINE__, #cond, errno, \
                    strerror(errno));                                                           \
            failures++;                                                                         \
        }                                                                                       \
    } while (0)
/* The call fails with exactly this errno. */
#define CHECK_ERR(call, e)                                                                 \
    do {                                                                                   \
        errno = 0;                                                                         \
        long r_ = (long)(call);                                                            \
        if (r_ != -1 || errno != (e)) {                                                    \
            fprintf(stderr, "FAIL %s:%d: %s = %ld errno %d, want -1 errno %d\n", __FILE__, \
                    __LINE__, #call, r_, errno, (e));                                      \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static char base[1024];

static const char *P(const char *fmt, ...)
{
    static char bufs[8][1600];
    static int i;
    char rel[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(rel, sizeof(rel), fmt, ap);
    va_end(ap);
    i = (i + 1) % 8;
    snprintf(bufs[i], sizeof(bufs[i]), "%s/%s", base, rel);
    return bufs[i];
}

/* A deterministic pattern. */
static void fill(char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (char)((i * 31 + seed) & 0xff);
}

static void test_files(void)
{
    char w[100000], r[100000], a[10], b[10];
    struct iovec iov[2];
    struct stat st;
    int fd, fd2;

    fill(w, sizeof(w), 1);
    fd = open(P("f"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, w, sizeof(w)) == (ssize_t)sizeof(w));
    CHECK(lseek(fd, 0, SEEK_CUR) == (off_t)sizeof(w));
    CHECK(pread(fd, r, 1000, 500) == 1000 && memcmp(r, w + 500, 1000) == 0);
    CHECK(pwrite(fd, "XYZ", 3, 10) == 3);
    memcpy(w + 10, "XYZ", 3);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(read(fd, r, sizeof(r)) == (ssize_t)sizeof(r) && memcmp(r, w, sizeof(w)) == 0);
    CHECK(read(fd, r, 10) == 0);
    CHECK(lseek(fd, -5, SEEK_END) == (off_t)sizeof(w) - 5);
    CHECK(lseek(fd, 7, SEEK_DATA) == 7);
    CHECK(lseek(fd, 7, SEEK_HOLE) == (off_t)sizeof(w));
    CHECK_ERR(lseek(fd, sizeof(w) + 1, SEEK_DATA), ENXIO);
    CHECK_ERR(lseek(fd, -1, SEEK_SET), EINVAL);
    /* vectored */
    iov[0] = (struct iovec){a, sizeof(a)};
    iov[1] = (struct iovec){b, sizeof(b)};
    CHECK(preadv(fd, iov, 2, 100) == 20 && memcmp(a, w + 100, 10) == 0 &&
          memcmp(b, w + 110, 10) == 0);
    CHECK(pwritev(fd, iov, 2, 0) == 20);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(readv(fd, iov, 2) == 20 && memcmp(a, w + 100, 10) == 0);
    CHECK(writev(fd, iov, 2) == 20);
    CHECK(fstat(fd, &st) == 0 && st.st_size == (off_t)sizeof(w) && S_ISREG(st.st_mode));
    CHECK(st.st_dev != 0);
    CHECK(fsync(fd) == 0 && fdatasync(fd) == 0);
    CHECK(ftruncate(fd, 5000) == 0 && fstat(fd, &st) == 0 && st.st_size == 5000);
    CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL) == 0);
    CHECK(posix_fallocate(fd, 0, 6000) == 0 && fstat(fd, &st) == 0 && st.st_size == 6000);
    /* dup family shares the offset; fcntl */
    fd2 = dup(fd);
    CHECK(fd2 >= 0 && fd2 != fd);
    CHECK(lseek(fd, 123, SEEK_SET) == 123 && lseek(fd2, 0, SEEK_CUR) == 123);
    CHECK(dup2(fd, 40) == 40 && lseek(40, 0, SEEK_CUR) == 123);
    CHECK(dup3(fd, 41, O_CLOEXEC) == 41 && (fcntl(41, F_GETFD) & FD_CLOEXEC));
    CHECK(fcntl(fd, F_DUPFD, 50) >= 50);
    CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
    CHECK(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    CHECK(fcntl(fd, F_SETLK, &fl) == 0);
    CHECK(fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type == F_UNLCK);
    CHECK(close(40) == 0 && close(41) == 0 && close(fd2) == 0);
    CHECK(lseek(fd, 0, SEEK_CUR) == 123); /* still open */
    /* not a terminal, no reflink */
    struct termios tio;
    CHECK_ERR(ioctl(fd, TCGETS, &tio), ENOTTY);
    CHECK(!isatty(fd));
    /* select() on the reserved kernel descriptor: a regular file is ready */
    fd_set rs;
    struct timeval tv = {0, 0};
    FD_ZERO(&rs);
    FD_SET(fd, &rs);
    CHECK(select(fd + 1, &rs, NULL, NULL, &tv) == 1 && FD_ISSET(fd, &rs));
    CHECK(close(fd) == 0);
    CHECK_ERR(close(fd), EBADF);
    CHECK_ERR(read(fd, r, 1), EBADF);
    /* errnos on paths */
    CHECK_ERR(open(P("nope"), O_RDONLY), ENOENT);
    CHECK_ERR(open(P("f"), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
    CHECK_ERR(open(P("f/x"), O_RDONLY), ENOTDIR);
    CHECK_ERR(open(base, O_WRONLY), EISDIR);
    CHECK_ERR(open(P("f"), O_RDONLY | O_DIRECTORY), ENOTDIR);
    CHECK_ERR(open(base, O_RDWR | O_TMPFILE, 0600), EOPNOTSUPP);
    /* write-only descriptor cannot be read */
    fd = creat(P("c"), 0600);
    CHECK(fd >= 0 && write(fd, "abc", 3) == 3);
    CHECK_ERR(read(fd, r, 3), EBADF);
    CHECK(close(fd) == 0);
    fd = open(P("c"), O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "def", 3) == 3 && close(fd) == 0);
    CHECK(stat(P("c"), &st) == 0 && st.st_size == 6);
    CHECK(truncate(P("c"), 2) == 0 && lstat(P("c"), &st) == 0 && st.st_size == 2);
}

static void test_namespace(void)
{
    struct statx sx;
    struct statvfs sv;
    struct statfs sf;
    struct stat st;
    char buf[64];
    int dfd, fd;

    CHECK(mkdir(P("d"), 0755) == 0);
    CHECK_ERR(mkdir(P("d"), 0755), EEXIST);
    CHECK_ERR(mkdir(P("nope/d"), 0755), ENOENT);
    CHECK(stat(P("d"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(access(P("d"), F_OK) == 0 && access(P("d"), W_OK) == 0);
    CHECK_ERR(access(P("nope"), F_OK), ENOENT);
    CHECK(faccessat(AT_FDCWD, P("d"), R_OK, 0) == 0);
    /* openat with a BenchFS directory descriptor */
    dfd = open(P("d"), O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    fd = openat(dfd, "in", O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0 && write(fd, "inside", 6) == 6 && close(fd) == 0);
    CHECK(fstatat(dfd, "in", &st, 0) == 0 && st.st_size == 6);
    CHECK(fstatat(dfd, "", &st, AT_EMPTY_PATH) == 0 && S_ISDIR(st.st_mode));
    CHECK(statx(dfd, "in", 0, STATX_BASIC_STATS, &sx) == 0 && sx.stx_size == 6 &&
          S_ISREG(sx.stx_mode));
    CHECK(mkdirat(dfd, "sub", 0755) == 0);
    CHECK_ERR(unlinkat(dfd, "sub", 0), EISDIR);
    CHECK(unlinkat(dfd, "sub", AT_REMOVEDIR) == 0);
    CHECK(renameat(dfd, "in", dfd, "in2") == 0);
    CHECK(renameat2(dfd, "in2", AT_FDCWD, P("c"), RENAME_NOREPLACE) == -1 && errno == EEXIST);
    CHECK_ERR(openat(fd = open(P("f"), O_RDONLY), "x", O_RDONLY), ENOTDIR);
    close(fd);
    CHECK_ERR(rmdir(P("d")), ENOTEMPTY);
    CHECK(close(dfd) == 0);
    /* rename across the mount boundary: EXDEV, nothing falls through */
    CHECK_ERR(rename(P("c"), "/tmp/benchfs-preload-test-never"), EXDEV);
    CHECK(rename(P("c"), P("c2")) == 0);
    CHECK_ERR(stat(P("c"), &st), ENOENT);
    CHECK(unlink(P("c2")) == 0);
    CHECK_ERR(unlink(P("c2")), ENOENT);
    /* unsupported: links */
    CHECK_ERR(link(P("f"), P("hard")), ENOTSUP);
    CHECK_ERR(symlink("f", P("sym")), ENOTSUP);
    CHECK_ERR(readlink(P("f"), buf, sizeof(buf)), EINVAL);
    CHECK(statvfs(P("f"), &sv) == 0 && sv.f_blocks > 0);
    CHECK(statfs(base, &sf) == 0 && sf.f_type == 0x42464653);
    CHECK(realpath(P("d/../f"), buf) != NULL && strcmp(buf, P("f")) == 0);
}

/* chmod, chown and the utime family keep what they set (test_attrs). */
static int mode_of(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static long long mtime_of(const char *path, long *nsec_p)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return -1;
    if (nsec_p != NULL)
        *nsec_p = st.st_mtim.tv_nsec;
    return (long long)st.st_mtim.tv_sec;
}

static void test_attrs(void)
{
    struct timespec ts[2] = {{1400000000, 5}, {1500000000, 7}};
    struct timeval tv[2] = {{1300000000, 1}, {1310000000, 2}};
    struct utimbuf ub = {.actime = 1200000000, .modtime = 1210000000};
    const char *volatile nopath = NULL;
    struct stat st;
    long ns = 0;
    int fd, dfd;

    fd = open(P("at"), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, "attrs", 5) == 5 && close(fd) == 0);
    CHECK(chmod(P("at"), 0600) == 0 && mode_of(P("at")) == 0600);
    CHECK(utimensat(AT_FDCWD, P("at"), ts, 0) == 0);
    CHECK(stat(P("at"), &st) == 0 && st.st_mtim.tv_sec == 1500000000 && st.st_mtim.tv_nsec == 7 &&
          st.st_atim.tv_sec == 1400000000 && st.st_atim.tv_nsec == 5);
    CHECK(utimes(P("at"), tv) == 0 && mtime_of(P("at"), &ns) == 1310000000 && ns == 2000);
    CHECK(lutimes(P("at"), tv) == 0 && mtime_of(P("at"), NULL) == 1310000000);
    CHECK(utime(P("at"), &ub) == 0 && mtime_of(P("at"), &ns) == 1210000000 && ns == 0);
    CHECK(stat(P("at"), &st) == 0 && st.st_atim.tv_sec == 1200000000);
    CHECK(utime(P("at"), NULL) == 0 && mtime_of(P("at"), NULL) > 1600000000);
    CHECK(chown(P("at"), getuid(), getgid()) == 0 && lchown(P("at"), -1, -1) == 0);
    CHECK(fchownat(AT_FDCWD, P("at"), -1, getgid(), AT_SYMLINK_NOFOLLOW) == 0);
    CHECK(stat(P("at"), &st) == 0 && st.st_uid == getuid() && st.st_gid == getgid());
    /* relative to a BenchFS directory descriptor */
    dfd = open(base, O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    CHECK(fchmodat(dfd, "at", 0640, 0) == 0 && mode_of(P("at")) == 0640);
    CHECK(utimensat(dfd, "at", ts, AT_SYMLINK_NOFOLLOW) == 0 &&
          mtime_of(P("at"), NULL) == 1500000000);
    /* descriptors: a file, written and not closed yet; then a directory */
    fd = open(P("at"), O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "more", 4) == 4);
    CHECK(fchmod(fd, 0604) == 0 && futimens(fd, ts) == 0);
    CHECK(fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0604 && st.st_mtim.tv_sec == 1500000000);
    CHECK(futimes(fd, tv) == 0 && fchown(fd, -1, -1) == 0);
    CHECK(utimensat(fd, nopath, ts, 0) == 0); /* futimens spelled as utimensat */
    CHECK(close(fd) == 0);
    CHECK(stat(P("at"), &st) == 0 && st.st_size == 9 && st.st_mtim.tv_sec == 1500000000);
    CHECK(fchmodat(dfd, "", 0705, AT_EMPTY_PATH) == 0 && mode_of(base) == 0705);
    CHECK(fchmod(dfd, 0750) == 0 && mode_of(base) == 0750);
    CHECK(futimens(dfd, ts) == 0 && mtime_of(base, NULL) == 1500000000);
    CHECK(chmod(base, 0755) == 0 && mode_of(base) == 0755);
    CHECK(close(dfd) == 0);
    /* errors */
    CHECK_ERR(chmod(P("nope"), 0600), ENOENT);
    CHECK_ERR(chown(P("nope/x"), 0, 0), ENOENT);
    CHECK_ERR(utimes(P("at/x"), NULL), ENOTDIR);
    ts[1].tv_nsec = 1000000000;
    CHECK_ERR(utimensat(AT_FDCWD, P("at"), ts, 0), EINVAL);
    tv[1].tv_usec = -1;
    CHECK_ERR(utimes(P("at"), tv), EINVAL);
    CHECK(mtime_of(P("at"), NULL) == 1500000000);
    CHECK(unlink(P("at")) == 0);
}

static void test_cwd_and_dirs(void)
{
    char cwd[1200], want[1200];
    struct dirent *de;
    struct stat st;
    int n = 0, dots = 0, fd, dfd;
    long pos = -1;
    DIR *d;

    CHECK(chdir(P("d")) == 0);
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, P("d")) == 0);
    fd = open("rel", O_CREAT | O_WRONLY, 0644); /* relative after chdir */
    CHECK(fd >= 0 && close(fd) == 0);
    CHECK(stat("../d/rel", &st) == 0 && stat(P("d/rel"), &st) == 0);
    CHECK(mkdir("e", 0755) == 0 && chdir("e") == 0 && chdir("..") == 0);
    snprintf(want, sizeof(want), "%s", P("d"));
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, want) == 0);
    CHECK_ERR(chdir("nope"), ENOENT);
    CHECK_ERR(chdir("rel"), ENOTDIR);
    d = opendir(".");
    CHECK(d != NULL);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            dots++;
        else
            n++;
    }
    CHECK(dots == 2 && n == 3); /* in2, rel, e */
    rewinddir(d);
    CHECK(readdir(d) != NULL && (pos = telldir(d)) == 1);
    readdir(d);
    seekdir(d, pos);
    de = readdir(d);
    CHECK(de != NULL && strcmp(de->d_name, "..") == 0);
    CHECK(dirfd(d) >= 0);
    CHECK(closedir(d) == 0);
    /* fdopendir + getdents64 on a descriptor */
    dfd = open(".", O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    {
        char buf[4096];
        ssize_t k = getdents64(dfd, buf, sizeof(buf));
        CHECK(k > 0);
    }
    CHECK(fchdir(dfd) == 0);
    CHECK(close(dfd) == 0);
    CHECK(chdir("/") == 0 && getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, "/") == 0);
    CHECK(opendir(P("nope")) == NULL && errno == ENOENT);
}

static void test_stdio(void)
{
    char line[128];
    FILE *fp;
    int fd;

    fp = fopen(P("s.txt"), "w");
    CHECK(fp != NULL);
    if (fp == NULL)
        return;
    CHECK(fileno(fp) >= 0);
    fprintf(fp, "alpha %d\n", 1);
    fputs("beta\n", fp);
    CHECK(fwrite("gamma\n", 1, 6, fp) == 6);
    CHECK(ftell(fp) == 19);
    CHECK(fclose(fp) == 0);
    fp = fopen(P("s.txt"), "r");
    CHECK(fp != NULL && fgets(line, sizeof(line), fp) != NULL && strcmp(line, "alpha 1\n") == 0);
    CHECK(fseek(fp, -6, SEEK_END) == 0 && fgets(line, sizeof(line), fp) != NULL &&
          strcmp(line, "gamma\n") == 0);
    CHECK(fgets(line, sizeof(line), fp) == NULL && feof(fp));
    CHECK(fclose(fp) == 0);
    fp = fopen(P("s.txt"), "a");
    CHECK(fp != NULL && fputs("delta\n", fp) >= 0 && fclose(fp) == 0);
    fd = open(P("s.txt"), O_RDONLY);
    fp = fdopen(fd, "r");
    CHECK(fp != NULL && fileno(fp) == fd);
    int lines = 0;
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
        lines++;
    CHECK(lines == 4);
    CHECK(fp != NULL && fclose(fp) == 0);
    CHECK(fopen(P("nope/x"), "w") == NULL && errno == ENOENT);
    /* freopen onto stdout, then the descriptor restored by dup2 */
    int saved = dup(1);
    fflush(stdout);
    CHECK(saved >= 0 && freopen(P("fr.txt"), "w", stdout) != NULL);
    printf("via freopen %d\n", 42);
    fflush(stdout);
    CHECK(dup2(saved, 1) == 1 && close(saved) == 0);
    fp = fopen(P("fr.txt"), "r");
    CHECK(fp != NULL && fgets(line, sizeof(line), fp) != NULL &&
          strcmp(line, "via freopen 42\n") == 0);
    if (fp != NULL)
        fclose(fp);
    CHECK(freopen(P("fr.txt"), "r", fp = fopen("/dev/null", "r")) == NULL && errno == ENOTSUP);
    if (fp != NULL)
        fclose(fp);
    char tmpl[1200];
    snprintf(tmpl, sizeof(tmpl), "%s", P("tmpXXXXXX"));
    fd = mkstemp(tmpl);
    CHECK(fd >= 0 && strncmp(tmpl, base, strlen(base)) == 0 && write(fd, "t", 1) == 1);
    CHECK(close(fd) == 0 && unlink(tmpl) == 0);
}

static void test_copy_and_mmap(void)
{
    char w[8192], r[8192];
    struct stat st;
    int in, out;
    off_t off = 0;
    char *m;

    fill(w, sizeof(w), 7);
    in = open(P("src"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(in >= 0 && write(in, w, sizeof(w)) == (ssize_t)sizeof(w));
    out = open(P("dst"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(sendfile(out, in, &off, 4096) == 4096 && off == 4096);
    loff_t io = 4096;
    CHECK(copy_file_range(in, &io, out, NULL, 4096, 0) == 4096);
    CHECK(pread(out, r, sizeof(r), 0) == (ssize_t)sizeof(r) && memcmp(r, w, sizeof(w)) == 0);
    /* private read-only map is a copy of the file */
    m = mmap(NULL, sizeof(w), PROT_READ, MAP_PRIVATE, in, 0);
    CHECK(m != MAP_FAILED && memcmp(m, w, sizeof(w)) == 0);
    if (m != MAP_FAILED)
        munmap(m, sizeof(w));
    /* shared writable map: written back by msync/munmap, even after close */
    m = mmap(NULL, sizeof(w), PROT_READ | PROT_WRITE, MAP_SHARED, out, 0);
    CHECK(m != MAP_FAILED);
    CHECK(close(out) == 0);
    if (m != MAP_FAILED) {
        memcpy(m + 100, "MAPPED", 6);
        CHECK(msync(m, sizeof(w), MS_SYNC) == 0);
        memcpy(m + 200, "AGAIN", 5);
        CHECK(munmap(m, sizeof(w)) == 0);
    }
    out = open(P("dst"), O_RDONLY);
    CHECK(pread(out, r, 20, 100) == 20 && memcmp(r, "MAPPED", 6) == 0);
    CHECK(pread(out, r, 5, 200) == 5 && memcmp(r, "AGAIN", 5) == 0);
    CHECK(fstat(out, &st) == 0 && st.st_size == (off_t)sizeof(w));
    close(out);
    close(in);
}

/* fork: the child reads an inherited descriptor (at the parent's offset). */
static void test_fork_exec(const char *self)
{
    int fd, status;
    pid_t pid;
    char fdarg[16];

    fd = open(P("forked"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, "0123456789", 10) == 10 && lseek(fd, 4, SEEK_SET) == 4);
    pid = fork();
    if (pid == 0) {
        char b[6] = {0};
        int ok = read(fd, b, 6) == 6 && memcmp(b, "456789", 6) == 0;
        int ok2 = write(open(P("fromchild"), O_CREAT | O_WRONLY, 0644), "child", 5) == 5;
        _exit(ok && ok2 ? 0 : 1);
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
    struct stat st;
    CHECK(stat(P("fromchild"), &st) == 0 && st.st_size == 5); /* _exit pushed the size */
    /* exec: the new image gets the descriptor back through the environment */
    CHECK(lseek(fd, 2, SEEK_SET) == 2);
    snprintf(fdarg, sizeof(fdarg), "%d", fd);
    pid = fork();
    if (pid == 0) {
        execl(self, self, "--child", fdarg, (char *)NULL);
        _exit(3);
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
    close(fd);
}

/* The exec'd child: fd is BenchFS's at offset 2, and the cwd came along. */
static int child_main(int fd)
{
    char b[8] = {0};
    struct stat st;

    if (read(fd, b, 8) != 8 || memcmp(b, "23456789", 8) != 0) {
        fprintf(stderr, "FAIL child read '%.8s' (%s)\n", b, strerror(errno));
        return 1;
    }
    if (fstat(fd, &st) != 0 || st.st_size != 10) {
        fprintf(stderr, "FAIL child fstat\n");
        return 1;
    }
    return 0;
}

/*
 * Reserved descriptors are copies of a template kept at the top of the
 * descriptor range (src/preload/fdtab.c). A program that takes that number
 * (dup2 of a pipe onto it) owns it: later reservations must not copy the
 * program's pipe, or its reader would never see end of file.
 */
static void test_fd_template(void)
{
    struct rlimit rl;
    int p[2], fd, top = 1023;
    char c;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 64)
        top = rl.rlim_cur - 1 > 65535 ? 65535 : (int)(rl.rlim_cur - 1);
    fd = open(P("tmpl-a"), O_CREAT | O_RDWR, 0644);
    CHECK(fd >= 0);
    CHECK(close(fd) == 0);
    CHECK(pipe(p) == 0);
    CHECK(dup2(p[1], top) == top);
    fd = open(P("tmpl-b"), O_CREAT | O_RDWR, 0644);
    CHECK(fd >= 0 && fd != top);
    CHECK(close(p[1]) == 0 && close(top) == 0);
    CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
    CHECK(read(p[0], &c, 1) == 0);
    CHECK(write(fd, "x", 1) == 1);
    CHECK(close(fd) == 0 && close(p[0]) == 0);
    fd = open(P("tmpl-b"), O_RDONLY);
    CHECK(fd >= 0 && read(fd, &c, 1) == 1 && c == 'x');
    CHECK(close(fd) == 0);
}

/*
 * The first BenchFS call loads libbenchfs and UCX. It must leave the
 * program's libc state alone: a strtok loop around it (IO500 creates its
 * directories so) goes on where it was, and the program's fault handlers
 * stay (UCX would install its own). Creates base.
 */
static int test_first_call(void)
{
    char list[] = "a/b/c";
    const char *want[] = {"a", "b", "c"};
    struct sigaction sa;
    char *tok = strtok(list, "/");
    int n = 0;

    while (tok != NULL) {
        if (n == 0 && mkdir(base, 0755) != 0) {
            fprintf(stderr, "FAIL mkdir %s: %s\n", base, strerror(errno));
            return 1;
        }
        CHECK(n < 3 && strcmp(tok, want[n]) == 0);
        n++;
        tok = strtok(NULL, "/");
    }
    CHECK(n == 3);
    CHECK(sigaction(SIGSEGV, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--child") == 0)
        return child_main(atoi(argv[2]));
    if (argc != 2 || argv[1][0] != '/') {
        fprintf(stderr, "usage: %s /MOUNT/DIR (under benchfs run)\n", argv[0]);
        return 2;
    }
    if (getenv("BENCHFS_MOUNT") == NULL) {
        fprintf(stderr, "SKIP: not run under the interception library\n");
        return 77;
    }
    snprintf(base, sizeof(base), "%s", argv[1]);
    if (test_first_call() != 0)
        return 1;
    test_files();
    test_fd_template();
    test_namespace();
    test_attrs();
    test_cwd_and_dirs();
    test_stdio();
    test_copy_and_mmap();
    test_fork_exec("/proc/self/exe");
    if (failures == 0)
        printf("test_preload: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
