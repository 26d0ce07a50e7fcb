/*
 * test_fs.c — atomic writes survive a writer that dies at any step (fault
 * injection and real SIGKILL), files are created 0600, and the lock is
 * exclusive across processes and names its holder.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"
#include "test.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/wpo-test-fs-XXXXXX");
    if (!mkdtemp(dir))
        abort();
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

static int count_entries(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p && fscanf(p, "%d", &n) != 1)
        n = -1;
    if (p)
        pclose(p);
    return n;
}

static void test_write_creates_0600_and_replaces(void)
{
    setup();
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/state.json", dir);
    CHECK(wpo_fs_write_atomic(path, "one", 3, 0600, err, sizeof err) == 0);
    CHECK(wpo_fs_write_atomic(path, "second", 6, 0600, err, sizeof err) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
    size_t len;
    char *got = slurp(path, &len);
    CHECK(got && len == 6 && memcmp(got, "second", 6) == 0);
    free(got);
    CHECK(count_entries() == 1);          /* no temp file left behind */
    teardown();
}

static void test_write_to_missing_dir_fails_cleanly(void)
{
    char err[256];
    CHECK(wpo_fs_write_atomic("/nonexistent-wpo-dir/x", "a", 1, 0600, err, sizeof err) == -1);
    CHECK(strstr(err, "No such file or directory") != NULL);
}

/* A child writes "new" over "old" and dies at `step`: the file holds all of
 * the old content or all of the new. */
static void crash_at(const char *step, const char *want)
{
    setup();
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/state.json", dir);
    CHECK(wpo_fs_write_atomic(path, "old content", 11, 0600, err, sizeof err) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("WPO_FS_FAULT", step, 1);
        wpo_fs_write_atomic(path, "new content, longer", 19, 0600, err, sizeof err);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == WPO_FS_FAULT_EXIT);
    size_t len;
    char *got = slurp(path, &len);
    CHECK(got && len == strlen(want) && memcmp(got, want, len) == 0);
    if (!got || len != strlen(want) || memcmp(got, want, len) != 0)
        fprintf(stderr, "  at %s: got '%.*s'\n", step, got ? (int)len : 0, got ? got : "");
    free(got);
    teardown();
}

static void test_crash_at_each_step(void)
{
    crash_at("after-temp-write", "old content");
    crash_at("after-fsync", "old content");
    crash_at("before-rename", "old content");
    crash_at("after-rename", "new content, longer");
}

/* A child rewrites a 256 KiB file in a loop, alternating two contents, and
 * reports each completed write through a pipe; it is SIGKILLed mid-loop.
 * Whatever moment it died at, the file is one content whole. */
static void test_sigkill_never_leaves_a_mix(void)
{
    setup();
    enum { SIZE = 256 * 1024 };
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/state.json", dir);
    char *a = malloc(SIZE), *b = malloc(SIZE);
    memset(a, 'a', SIZE);
    memset(b, 'b', SIZE);
    CHECK(wpo_fs_write_atomic(path, a, SIZE, 0600, err, sizeof err) == 0);
    for (int round = 0; round < 5; round++) {
        int fds[2];
        if (pipe(fds) != 0)
            abort();
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            for (unsigned i = 0;; i++) {
                wpo_fs_write_atomic(path, i % 2 ? a : b, SIZE, 0600, err, sizeof err);
                if (write(fds[1], "w", 1) != 1)
                    _exit(1);
            }
        }
        close(fds[1]);
        char c;
        for (int k = 0; k < 3 + round; k++)
            if (read(fds[0], &c, 1) != 1)
                break;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(fds[0]);
        size_t len;
        char *got = slurp(path, &len);
        CHECK(got && len == SIZE);
        if (got && len == SIZE)
            CHECK(memcmp(got, a, SIZE) == 0 || memcmp(got, b, SIZE) == 0);
        free(got);
    }
    free(a);
    free(b);
    teardown();
}

static void test_lock_is_exclusive_and_names_holder(void)
{
    setup();
    char path[300], err[256], holder[512];
    snprintf(path, sizeof path, "%s/stack.lock", dir);
    int ready[2], release[2];
    if (pipe(ready) != 0 || pipe(release) != 0)
        abort();
    pid_t pid = fork();
    if (pid == 0) {
        int fd;
        char h[64], c;
        if (wpo_fs_lock(path, "pid=4242\ncommand=holder\n", &fd, h, sizeof h, err, sizeof err) != 0)
            _exit(1);
        if (write(ready[1], "r", 1) != 1 || read(release[0], &c, 1) != 1)
            _exit(2);
        wpo_fs_unlock(fd);
        _exit(0);
    }
    char c;
    CHECK(read(ready[0], &c, 1) == 1);
    int fd;
    CHECK(wpo_fs_lock(path, "pid=1\n", &fd, holder, sizeof holder, err, sizeof err) == 1);
    CHECK(strstr(holder, "pid=4242") != NULL && strstr(holder, "command=holder") != NULL);
    CHECK(write(release[1], "x", 1) == 1);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(wpo_fs_lock(path, "pid=1\n", &fd, holder, sizeof holder, err, sizeof err) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
    wpo_fs_unlock(fd);
    teardown();
}

int main(void)
{
    static const struct test_case cases[] = {
        TEST(test_write_creates_0600_and_replaces),
        TEST(test_write_to_missing_dir_fails_cleanly),
        TEST(test_crash_at_each_step),
        TEST(test_sigkill_never_leaves_a_mix),
        TEST(test_lock_is_exclusive_and_names_holder),
        {NULL, NULL}
    };
    return test_run("fs", cases);
}
