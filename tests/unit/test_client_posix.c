/*
 * test_client_posix.c - unit tests of src/client/posix.c: how the client
 * folds per-server answers of replicated directory operations into one
 * POSIX errno, access(2) checks, open(2) checks and struct stat conversion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/posix.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int mkdir_fold(const int *st, size_t n, size_t owner, enum posix_mkdir_action *a)
{
    return posix_mkdir_outcome(st, n, owner, a);
}

static void test_mkdir_outcome(void **state)
{
    enum posix_mkdir_action a;
    const int all_ok[] = {0, 0, 0, 0};
    const int all_exist[] = {-EEXIST, -EEXIST, -EEXIST};
    const int file_on_owner[] = {0, -EEXIST, 0, 0};
    const int owner_won[] = {-EEXIST, 0, -EEXIST};
    const int no_parent[] = {-ENOENT, -ENOENT, -ENOENT};
    const int parent_file[] = {-ENOENT, -ENOTDIR, -ENOENT};
    const int dead[] = {0, -EIO, 0};
    const int partial_enoent[] = {0, -ENOENT, 0};

    (void)state;
    assert_int_equal(mkdir_fold(all_ok, N(all_ok), 2, &a), 0);
    assert_int_equal(a, POSIX_MKDIR_DONE);
    assert_int_equal(mkdir_fold(all_exist, N(all_exist), 0, &a), -EEXIST);
    assert_int_equal(a, POSIX_MKDIR_DONE);
    /* Owner says EEXIST, others created it: check the owner (a file -> roll back). */
    assert_int_equal(mkdir_fold(file_on_owner, N(file_on_owner), 1, &a), -EEXIST);
    assert_int_equal(a, POSIX_MKDIR_CHECK_OWNER);
    /* The owner decides who won a concurrent mkdir. */
    assert_int_equal(mkdir_fold(owner_won, N(owner_won), 1, &a), 0);
    assert_int_equal(a, POSIX_MKDIR_DONE);
    assert_int_equal(mkdir_fold(no_parent, N(no_parent), 0, &a), -ENOENT);
    assert_int_equal(a, POSIX_MKDIR_DONE);
    assert_int_equal(mkdir_fold(parent_file, N(parent_file), 0, &a), -ENOTDIR);
    assert_int_equal(a, POSIX_MKDIR_DONE);
    assert_int_equal(mkdir_fold(dead, N(dead), 0, &a), -EIO);
    assert_int_equal(a, POSIX_MKDIR_ROLLBACK);
    assert_int_equal(mkdir_fold(partial_enoent, N(partial_enoent), 0, &a), -ENOENT);
    assert_int_equal(a, POSIX_MKDIR_ROLLBACK);
}

static void test_rmdir_outcome(void **state)
{
    bool commit;
    const int all_ok[] = {0, 0, 0};
    const int not_empty[] = {0, -ENOTEMPTY, 0};
    const int is_file[] = {-ENOENT, -ENOTDIR, -ENOENT};
    const int missing[] = {-ENOENT, -ENOENT};
    const int leftover[] = {0, -ENOENT, -ENOENT};
    const int mixed[] = {-EBUSY, -ENOTEMPTY, -ENOTDIR, -EIO};
    const int dead[] = {0, -ETIMEDOUT, 0};

    (void)state;
    assert_int_equal(posix_rmdir_outcome(all_ok, N(all_ok), &commit), 0);
    assert_true(commit);
    assert_int_equal(posix_rmdir_outcome(not_empty, N(not_empty), &commit), -ENOTEMPTY);
    assert_false(commit);
    assert_int_equal(posix_rmdir_outcome(is_file, N(is_file), &commit), -ENOTDIR);
    assert_false(commit);
    assert_int_equal(posix_rmdir_outcome(missing, N(missing), &commit), -ENOENT);
    assert_false(commit);
    /* A directory record left on some servers only is cleaned up. */
    assert_int_equal(posix_rmdir_outcome(leftover, N(leftover), &commit), 0);
    assert_true(commit);
    assert_int_equal(posix_rmdir_outcome(mixed, N(mixed), &commit), -ENOTEMPTY);
    assert_false(commit);
    assert_int_equal(posix_rmdir_outcome(dead, N(dead), &commit), -ETIMEDOUT);
    assert_false(commit);
}

static void test_access(void **state)
{
    struct proto_attr a;
    uint32_t groups[] = {50, 60};

    (void)state;
    memset(&a, 0, sizeof(a));
    a.mode = S_IFREG | 0640;
    a.uid = 1000;
    a.gid = 60;
    assert_int_equal(posix_access(&a, F_OK, 2000, 2000, NULL, 0), 0);
    assert_int_equal(posix_access(&a, R_OK | W_OK, 1000, 1000, NULL, 0), 0);
    assert_int_equal(posix_access(&a, X_OK, 1000, 1000, NULL, 0), -EACCES);
    /* group via supplementary groups */
    assert_int_equal(posix_access(&a, R_OK, 2000, 2000, groups, 2), 0);
    assert_int_equal(posix_access(&a, W_OK, 2000, 2000, groups, 2), -EACCES);
    /* others */
    assert_int_equal(posix_access(&a, R_OK, 2000, 2000, NULL, 0), -EACCES);
    /* root: R/W always, X only with some x bit or for a directory */
    assert_int_equal(posix_access(&a, R_OK | W_OK, 0, 0, NULL, 0), 0);
    assert_int_equal(posix_access(&a, X_OK, 0, 0, NULL, 0), -EACCES);
    a.mode = S_IFREG | 0601;
    assert_int_equal(posix_access(&a, X_OK, 0, 0, NULL, 0), 0);
    a.mode = S_IFDIR | 0600;
    assert_int_equal(posix_access(&a, X_OK, 0, 0, NULL, 0), 0);
    assert_int_equal(posix_access(&a, 0x40, 1000, 1000, NULL, 0), -EINVAL);
}

static void test_open_check(void **state)
{
    (void)state;
    assert_int_equal(posix_open_check(S_IFREG | 0644, O_RDWR), 0);
    assert_int_equal(posix_open_check(S_IFREG | 0644, O_RDONLY | O_DIRECTORY), -ENOTDIR);
    assert_int_equal(posix_open_check(S_IFDIR | 0755, O_RDONLY), 0);
    assert_int_equal(posix_open_check(S_IFDIR | 0755, O_RDONLY | O_DIRECTORY), 0);
    assert_int_equal(posix_open_check(S_IFDIR | 0755, O_WRONLY), -EISDIR);
    assert_int_equal(posix_open_check(S_IFDIR | 0755, O_RDWR), -EISDIR);
    assert_int_equal(posix_open_check(S_IFDIR | 0755, O_RDONLY | O_TRUNC), -EISDIR);
}

static void test_attr_to_stat(void **state)
{
    struct proto_attr a;
    struct stat st;

    (void)state;
    memset(&a, 0, sizeof(a));
    a.ino = 0x1234567800000009ull;
    a.size = 10;
    a.chunk_size = 1 << 22;
    a.mode = S_IFREG | 0644;
    a.nlink = 1;
    a.uid = 7;
    a.gid = 8;
    a.mtime_ns = 1700000000123456789ull;
    posix_attr_to_stat(&a, 1000, &st);
    assert_int_equal(st.st_ino, a.ino);
    assert_int_equal(st.st_mode, S_IFREG | 0644);
    assert_int_equal(st.st_size, 1000);
    assert_int_equal(st.st_blocks, 2);
    assert_int_equal(st.st_blksize, 1 << 22);
    assert_int_equal(st.st_uid, 7);
    assert_int_equal(st.st_gid, 8);
    assert_int_equal(st.st_mtim.tv_sec, 1700000000);
    assert_int_equal(st.st_mtim.tv_nsec, 123456789);
    a.nlink = 0;
    a.chunk_size = 0;
    posix_attr_to_stat(&a, 0, &st);
    assert_int_equal(st.st_nlink, 1);
    assert_int_equal(st.st_blksize, 4096);
    assert_int_equal(st.st_blocks, 0);
}

static void test_dirent_type(void **state)
{
    (void)state;
    assert_int_equal(posix_dirent_type(S_IFDIR | 0755), DT_DIR);
    assert_int_equal(posix_dirent_type(S_IFREG | 0644), DT_REG);
    assert_int_equal(posix_dirent_type(0644), DT_UNKNOWN);
}

static void test_path_within(void **state)
{
    (void)state;
    assert_true(posix_path_within("/a/b", 4, "/a", 2));
    assert_true(posix_path_within("/a", 2, "/a", 2));
    assert_false(posix_path_within("/ab", 3, "/a", 2));
    assert_false(posix_path_within("/a", 2, "/a/b", 4));
    assert_true(posix_path_within("/x", 2, "/", 1));
}

static void test_utimens_fields(void **state)
{
    struct timespec ts[2];
    uint32_t v = 0;
    uint64_t at = 1, mt = 1;

    (void)state;
    assert_int_equal(posix_utimens_fields(NULL, &v, &at, &mt), 0);
    assert_int_equal(v, PROTO_SETATTR_ATIME_NOW | PROTO_SETATTR_MTIME_NOW);
    ts[0] = (struct timespec){.tv_sec = 5, .tv_nsec = UTIME_OMIT};
    ts[1] = (struct timespec){.tv_sec = 1500000000, .tv_nsec = 999999999};
    assert_int_equal(posix_utimens_fields(ts, &v, &at, &mt), 0);
    assert_int_equal(v, PROTO_SETATTR_MTIME);
    assert_true(mt == 1500000000999999999ull);
    ts[0] = (struct timespec){.tv_sec = 0, .tv_nsec = UTIME_NOW};
    ts[1] = (struct timespec){.tv_sec = 0, .tv_nsec = UTIME_OMIT};
    assert_int_equal(posix_utimens_fields(ts, &v, &at, &mt), 0);
    assert_int_equal(v, PROTO_SETATTR_ATIME_NOW);
    ts[0] = (struct timespec){.tv_sec = 0, .tv_nsec = 0};
    assert_int_equal(posix_utimens_fields(ts, &v, &at, &mt), 0);
    assert_int_equal(v, PROTO_SETATTR_ATIME);
    assert_true(at == 0);
    ts[0].tv_nsec = UTIME_OMIT;
    assert_int_equal(posix_utimens_fields(ts, &v, &at, &mt), 0);
    assert_int_equal(v, 0);
    /* out of range: nothing written */
    v = 7;
    ts[1] = (struct timespec){.tv_sec = 1, .tv_nsec = 1000000000};
    assert_int_equal(posix_utimens_fields(ts, &v, &at, &mt), -EINVAL);
    assert_int_equal(v, 7);
    ts[1].tv_nsec = -1;
    assert_int_equal(posix_utimens_fields(ts, &v, &at, &mt), -EINVAL);
    ts[1] = (struct timespec){.tv_sec = -1, .tv_nsec = 0};
    assert_int_equal(posix_utimens_fields(ts, &v, &at, &mt), -EINVAL);
    ts[1] = (struct timespec){.tv_sec = 18446744073, .tv_nsec = 0};
    assert_int_equal(posix_utimens_fields(ts, &v, &at, &mt), -EINVAL);
    ts[1] = (struct timespec){.tv_sec = 18446744072, .tv_nsec = 999999999};
    assert_int_equal(posix_utimens_fields(ts, &v, &at, &mt), 0);
    assert_int_equal(v, PROTO_SETATTR_MTIME);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdir_outcome), cmocka_unit_test(test_rmdir_outcome),
        cmocka_unit_test(test_access),        cmocka_unit_test(test_open_check),
        cmocka_unit_test(test_attr_to_stat),  cmocka_unit_test(test_dirent_type),
        cmocka_unit_test(test_path_within),   cmocka_unit_test(test_utimens_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
