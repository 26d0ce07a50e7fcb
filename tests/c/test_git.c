/*
 * test_git.c — the Lua-free half of wpo.core.git: URL redaction and
 * wpo_git_fetch_run (clone, fetch, failures, cancellation, credential
 * bookkeeping), against repositories built with the git CLI in /tmp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "git.h"
#include "gitapi.h"
#include "test.h"

static char tmp[256];

static int sh(const char *fmt, const char *arg)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, arg, arg, arg);
    return system(cmd);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_redact(void)
{
    char out[256];
    wpo_git_redact_url("https://user:secret@host/org/x.git", out, sizeof out);
    CHECK_STR(out, "https://user:***@host/org/x.git");
    wpo_git_redact_url("https://user@host/org/x.git", out, sizeof out);
    CHECK_STR(out, "https://user@host/org/x.git");
    wpo_git_redact_url("https://host/path@v1:x", out, sizeof out);
    CHECK_STR(out, "https://host/path@v1:x");
    wpo_git_redact_url("file:///srv/git/x.git", out, sizeof out);
    CHECK_STR(out, "file:///srv/git/x.git");
    wpo_git_redact_url("https://a:b@host", out, 12);
    CHECK(strlen(out) == 11 && strstr(out, "b@") == NULL);
}

static void test_fetch_clone_and_update(void)
{
    char url[512], dir[512];
    snprintf(url, sizeof url, "file://%s/origin.git", tmp);
    snprintf(dir, sizeof dir, "%s/cache/a/b/clone", tmp);
    struct wpo_git_fetch *f = wpo_git_fetch_new(url, dir);
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(wpo_git_fetch_run(f) == 0);
    CHECK(f->cloned == 1);
    CHECK_STR(f->head, "refs/heads/main");
    CHECK(f->code == NULL);
    CHECK(exists(dir));
    char path[600];
    snprintf(path, sizeof path, "%s/refs/tags/v1", dir);
    CHECK(exists(path));

    CHECK(sh("cd %s/origin.git && git tag v2 main", tmp) == 0);
    CHECK(wpo_git_fetch_run(f) == 0);
    CHECK(f->cloned == 0);
    snprintf(path, sizeof path, "%s/refs/tags/v2", dir);
    CHECK(exists(path));
    wpo_git_fetch_free(f);
}

static void test_fetch_failures(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cache/missing", tmp);
    struct wpo_git_fetch *f = wpo_git_fetch_new("file:///nonexistent/wpo-c-test.git", dir);
    CHECK(wpo_git_fetch_run(f) == -1);
    CHECK(f->code != NULL);
    CHECK(strstr(f->err, "cannot fetch file:///nonexistent/wpo-c-test.git: ") == f->err);
    CHECK(strchr(f->err, '\n') == NULL);
    CHECK(!exists(dir));
    char leftover[600];
    snprintf(leftover, sizeof leftover, "%s.tmp-%ld", dir, (long)getpid());
    CHECK(!exists(leftover));
    wpo_git_fetch_free(f);

    /* The cache's parent is a file: an I/O error, not a crash. */
    char file[512], below[600];
    snprintf(file, sizeof file, "%s/plainfile", tmp);
    FILE *fp = fopen(file, "w");
    if (fp)
        fclose(fp);
    snprintf(below, sizeof below, "%s/sub/clone", file);
    f = wpo_git_fetch_new("file:///nonexistent/x.git", below);
    CHECK(wpo_git_fetch_run(f) == -1);
    CHECK(f->code && strcmp(f->code, "io") == 0);
    CHECK(strstr(f->err, "cannot create") != NULL);
    wpo_git_fetch_free(f);

    /* An existing directory that is not a repository. */
    char junk[512];
    snprintf(junk, sizeof junk, "%s/cache/junk", tmp);
    mkdir(junk, 0700);
    f = wpo_git_fetch_new("file:///nonexistent/x.git", junk);
    CHECK(wpo_git_fetch_run(f) == -1);
    CHECK(f->code && strcmp(f->code, "io") == 0);
    CHECK(strstr(f->err, "is not a usable git cache") != NULL);
    wpo_git_fetch_free(f);
}

static void test_fetch_cancelled(void)
{
    char url[512], dir[512];
    snprintf(url, sizeof url, "file://%s/origin.git", tmp);
    snprintf(dir, sizeof dir, "%s/cache/cancelled", tmp);
    struct wpo_git_fetch *f = wpo_git_fetch_new(url, dir);
    atomic_store(&f->cancelled, 1);
    CHECK(wpo_git_fetch_run(f) == -1);
    CHECK(f->code && strcmp(f->code, "cancelled") == 0);
    CHECK(!exists(dir));
    wpo_git_fetch_free(f);
}

static void test_secrets_are_owned(void)
{
    struct wpo_git_fetch *f = wpo_git_fetch_new("https://host/x.git", "/nonexistent/dir");
    f->token = strdup("token-value");
    f->ssh_passphrase = strdup("passphrase");
    f->token_from = strdup("WPO_GIT_TOKEN");
    wpo_git_fetch_free(f);   /* ASan checks the frees */
    wpo_git_fetch_free(NULL);
    CHECK(1);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/wpo-test-git-XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("GIT_AUTHOR_NAME", "wpo test", 1);
    setenv("GIT_AUTHOR_EMAIL", "test@example.invalid", 1);
    setenv("GIT_COMMITTER_NAME", "wpo test", 1);
    setenv("GIT_COMMITTER_EMAIL", "test@example.invalid", 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
    if (sh("cd %s && git init -q -b main work && cd work && echo one > f && git add f && "
           "git commit -q -m one && git tag v1 && cd .. && git clone -q --bare work origin.git", tmp) != 0) {
        fprintf(stderr, "cannot build the test repository\n");
        return 1;
    }
    char err[256];
    if (wpo_git_load(err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    static const struct test_case cases[] = {
        TEST(test_redact),
        TEST(test_fetch_clone_and_update),
        TEST(test_fetch_failures),
        TEST(test_fetch_cancelled),
        TEST(test_secrets_are_owned),
        {NULL, NULL}
    };
    int rc = test_run("git", cases);
    sh("rm -rf %s", tmp);
    return rc;
}
