/*
 * test_oom.c — out of memory at every allocation. For each snippet below
 * (each exercising C entry points), a fresh state whose allocator refuses
 * its Nth growing allocation and every later one (wpo_sandbox_fail_at) runs
 * the snippet, for N = 1, 2, 3... until a run ends before reaching the Nth.
 * Every run must end (no crash, no unprotected error) with as many file
 * descriptors open as before; built with AddressSanitizer (make check-oom,
 * make check-asan), LeakSanitizer must find nothing unreachable once the
 * state is closed. Each snippet is swept in a child process (its own
 * 127.0.0.1 response server in it): "c-oom: N passed, N failed".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>

#include "sandbox.h"
#include "wpo.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#define MAX_N 20000
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static char dir[64];
static int port;        /* the response server's, in each sweep's process */

/* A server on 127.0.0.1 answering every request with one fixed response
 * (headers, a folded header, a body), until the process ends. */
static void *serve(void *arg)
{
    int ls = (int)(intptr_t)arg;
    static const char response[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Multi: a\r\nX-Multi: b\r\n"
        "X-Folded: one\r\n two\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            continue;
        char buf[4096];
        size_t got = 0;
        ssize_t n;
        while (got < sizeof buf - 1 && (n = read(c, buf + got, sizeof buf - 1 - got)) > 0) {
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        if (write(c, response, sizeof response - 1) < 0)
            perror("test_oom server: write");
        close(c);
    }
    return NULL;
}

static int start_server(void)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 16) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
        perror("test_oom server");
        return -1;
    }
    port = ntohs(a.sin_port);
    pthread_t t;
    if (pthread_create(&t, NULL, serve, (void *)(intptr_t)ls) != 0)
        return -1;
    pthread_detach(t);
    return 0;
}

struct snippet {
    const char *name;
    const char *setup;  /* run without failures; its globals are the snippet's */
    const char *code;   /* run with the Nth allocation refused */
    /* A library leaks here whatever wpo does (see each snippet that sets
     * it): the sweep runs it for crashes and fds, without leak checks. */
    int foreign_leaks;
    /* A worker thread may still hold file descriptors when the state is
     * closed (a cancelled fetch runs to its end): no fd count then. */
    int worker_fds;
};

static const struct snippet snippets[] = {
    { "fs", "fs = require 'wpo.core.fs'",
      "fs.write_atomic(DIR .. '/f.txt', string.rep('x', 5000))\n"
      "assert(#fs.read(DIR .. '/f.txt') == 5000)\n"
      "fs.mkdir_p(DIR .. '/a/b') fs.write_atomic(DIR .. '/journal', '')\n"
      "fs.list(DIR) fs.stat(DIR .. '/f.txt') fs.exists(DIR .. '/f.txt')\n"
      "local lk = assert(fs.lock(DIR .. '/lock', { pid = 1 })) lk:close()\n"
      "local ap = assert(fs.appender(DIR .. '/journal')) ap:append_sync('line\\n') ap:close()\n" },
    { "fs appender:append", "fs = require 'wpo.core.fs' loop = require 'wpo.core.loop' fs.write_atomic(DIR .. '/j2', '')",
      "local ap = assert(fs.appender(DIR .. '/j2')) local id = ap:append('line\\n')\n"
      "for _ = 1, 100 do if #loop.wait(100) > 0 then break end end ap:close()", 0, 1 },
    /* Debian's lua-cjson leaks its encode buffer (strbuf_new) when Lua
     * raises out of memory inside cjson.encode. */
    { "json", "cjson = require 'cjson'",
      "local s = cjson.encode({ a = { 1, 2, 3 }, b = 'text', c = { d = true } })\n"
      "assert(cjson.decode(s).b == 'text')", 1 },
    { "xml", "xml = require 'wpo.core.xml'",
      "local v = assert(xml.decode('<r a=\"1\"><i>one</i><i>two</i><n><m>x</m></n></r>'))" },
    { "sigv4", "sigv4 = require 'wpo.core.sigv4'",
      "local h = sigv4.sign({ method = 'POST', url = 'https://example.amazonaws.com/p/a%20th?b=2&a=1',\n"
      "  region = 'us-east-1', service = 'service', access_key = 'AKIDEXAMPLE',\n"
      "  secret_key = 'secret', time = 1440938160, session_token = 'tok', body = 'x',\n"
      "  headers = { ['X-Amz-Target'] = 'T.Op', ['Content-Type'] = 'text/plain' } })\n"
      "assert(h.Authorization)\n"
      "sigv4.presign({ method = 'GET', url = 'https://example.amazonaws.com/',\n"
      "  region = 'us-east-1', service = 's3', access_key = 'AKIDEXAMPLE',\n"
      "  secret_key = 'secret', time = 1440938160 }, 60)" },
    { "crypto", "crypto = require 'wpo.core.crypto'",
      "crypto.hex(crypto.sha256('abc')) crypto.hmac_sha256('k', 'v') crypto.md5('x')\n"
      "crypto.unbase64(crypto.base64('hello')) crypto.unhex('00ff') crypto.random(16)" },
    { "crypto.sha256_new", "crypto = require 'wpo.core.crypto'",
      "local h = crypto.sha256_new() h:update('abc'):update(string.rep('x', 3000)) h:digest()\n"
      "crypto.sha256_new():close()" },
    { "zlib", "zlib = require 'wpo.core.zlib' big = string.rep('wpo layer ', 20000)",
      "local gz = zlib.gzip(big) assert(zlib.gunzip(gz) == big)\n"
      "zlib.gunzip(gz, 10) zlib.gunzip('garbage') zlib.gunzip(gz:sub(1, -3))" },
    { "zlib.deflater", "zlib = require 'wpo.core.zlib' big = string.rep('wpo layer ', 20000)",
      "local d = zlib.deflater(6) d:write(big) d:write('more') d:finish() d:sizes() d:close()\n"
      "local e <close> = zlib.deflater() e:write(big)\n"
      "local k = zlib.deflater(6, true) k:write(big) k:write(big) k:finish()\n"
      "local u <close> = zlib.deflater(1, true) u:write(big)" },
    { "fs.lstat", "fs = require 'wpo.core.fs' os.execute('ln -sf f.txt ' .. DIR .. '/link.txt')",
      "fs.lstat(DIR .. '/link.txt') fs.lstat(DIR) fs.lstat(DIR .. '/none')" },
    { "pattern", "pattern = require 'wpo.core.pattern'",
      "pattern.find('hello world', 'wor%a') pattern.match('k=v', '(%w+)=(%w+)')\n"
      "pattern.gsub('hello world', '(%w+)', '%1 %1')\n"
      "for w in pattern.gmatch('a b c', '%a') do end" },
    { "dag", "dag = require 'wpo.core.dag'",
      "local g = dag.new() g:add('a') g:add('b', 'B') g:add('c') g:depend('b', 'a') g:depend('c', 'b')\n"
      "g:order() g:closure({ 'c' }, 'deps') g:deps('c') g:dependents('a') g:ids() g:check()\n"
      "assert(g:walk()) local n = g:next() g:done(n) g:status(n) g:counts() g:close()\n"
      "local h = dag.new() h:add('x') h:add('y') h:depend('x', 'y') h:depend('y', 'x') h:check() h:order() h:walk()" },
    { "value", "value = require 'wpo.core.value' show = value.shower({}, {})",
      "show({ b = { 1, 2.5, 'three' }, a = 'x\\ny', [3] = true, c = {} }) show('plain') show(42)\n"
      "value.quote('a\\t\"b\"') show(string.rep('long ', 100))" },
    { "sandbox", "sandbox = require 'wpo.core.sandbox'",
      "sandbox.run({ instructions = 100000, memory = 1000000 }, function() local t = {} for i = 1, 50 do t[i] = {i} end return t end)\n"
      "sandbox.run({}, function() error('x') end)\n"
      "sandbox.pcall(error, 'y') sandbox.xpcall(error, tostring, 'z')" },
    { "http", "http = require 'wpo.core.http' loop = require 'wpo.core.loop'",
      "local id = http.start({ method = 'POST', url = 'http://127.0.0.1:9/x', body = 'payload',\n"
      "  headers = { ['X-A'] = 'b' }, timeout_ms = 2000 })\n"
      "for _ = 1, 100 do if #loop.wait(50) > 0 then break end end" },
    { "http response", "http = require 'wpo.core.http' loop = require 'wpo.core.loop'",
      "local id = http.start({ url = 'http://127.0.0.1:' .. PORT .. '/x', headers = { Accept = 'text/plain' } })\n"
      "local done\n"
      "for _ = 1, 100 do local c = loop.wait(100) if #c > 0 then done = c[1] break end end\n"
      "assert(done and done.ok, done and done.err)" },
    { "git.open", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "git.open(DIR .. '/repo'):close()" },
    { "repo:head", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "r:head()" },
    { "repo:resolve", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "r:resolve('v1') r:resolve('main') r:resolve('HEAD~1')" },
    { "repo:read", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "local h = r:head() r:read(h, 'a.txt') r:read(h, 'd/b.txt') r:read(h, 'nope')\n"
      "r:read(h, 'a.txt', 100) r:read(h, 'a.txt', 1) r:readlink(h, 'a.txt')" },
    { "repo:list", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "local h = r:head() r:list(h, '') r:list(h, 'd')" },
    { "repo:tags", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "r:tags() r:branches()" },
    { "repo:tags_at", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "r:tags_at((r:head()))" },
    { "repo:commit", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "r:commit((r:head()))" },
    { "repo:status", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "r:status() r:status({ untracked = true }) r:file_status('a.txt')" },
    { "repo:is_ancestor", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "local h = r:head() r:is_ancestor(h, h) r:merge_base(h, h)" },
    { "git.blob_id", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "git.blob_id('data') git.realpath(DIR .. '/repo/d') git.redact('https://u:p@example.com/r')" },
    /* libgit2 1.5 leaks pcre2's match frames in git_remote_lookup even with
     * no allocation refused (make check-oom's first, unrefused run shows it). */
    { "repo:remote_url", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "r:remote_url()", 1 },
    { "git.open_start", "git = require 'wpo.core.git' loop = require 'wpo.core.loop' r = git.open(DIR .. '/repo')",
      "local id = git.open_start(DIR .. '/repo')\n"
      "for _ = 1, 200 do if #loop.wait(50) > 0 then break end end" },
    /* libgit2's fetch leaks pcre2 frames as its remote lookup does */
    { "git.fetch", "git = require 'wpo.core.git'",
      "assert(git.fetch('file://' .. DIR .. '/repo', DIR .. '/cache', { username = 'u' }))", 1 },
    { "git.fetch_start", "git = require 'wpo.core.git' loop = require 'wpo.core.loop'",
      "local id = git.fetch_start('file://' .. DIR .. '/repo', DIR .. '/cache2')\n"
      "for _ = 1, 400 do if #loop.wait(50) > 0 then break end end", 1, 1 },
    { NULL, NULL, NULL }
};

/* Where the error was raised: the innermost Lua line and the C function
 * called from it (read from the stack only: no allocation). */
static char raised_at[256];

static int locate(lua_State *L)
{
    lua_Debug ar;
    const char *cfn = "?";
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sln", &ar))
            continue;
        if (ar.currentline > 0) {
            snprintf(raised_at, sizeof raised_at, "line %d, in %s", ar.currentline, cfn);
            break;
        }
        if (ar.name)
            cfn = ar.name;
    }
    return 1;
}

static int run_lua(lua_State *L, const char *code, const char *name, long fail_at, int *failed_alloc)
{
    if (luaL_loadbuffer(L, code, strlen(code), name) != LUA_OK) {
        fprintf(stderr, "  %s: does not load: %s\n", name, lua_tostring(L, -1));
        return -1;
    }
    raised_at[0] = '\0';    /* a memory error runs no message handler */
    lua_pushcfunction(L, locate);
    lua_insert(L, -2);
    wpo_sandbox_fail_at(L, fail_at);
    int status = lua_pcall(L, 0, 0, -2);
    long seen = wpo_sandbox_fail_at(L, 0);
    *failed_alloc = fail_at > 0 && seen >= fail_at;
    if (status != LUA_OK && (!*failed_alloc || getenv("WPO_OOM_VERBOSE")))
        fprintf(stderr, "  %s (allocation %ld refused): %s%s%s\n", name, fail_at,
                lua_tostring(L, -1), raised_at[0] ? ", " : "", raised_at);
    return status;
}

static lua_State *state_for(const struct snippet *s)
{
    char err[256];
    lua_State *L = wpo_state_new("wpo", err, sizeof err);
    if (!L) {
        fprintf(stderr, "  %s: %s\n", s->name, err);
        return NULL;
    }
    lua_pushstring(L, dir);
    lua_setglobal(L, "DIR");
    lua_pushinteger(L, port);
    lua_setglobal(L, "PORT");
    int failed;
    if (run_lua(L, s->setup, s->name, 0, &failed) != LUA_OK) {
        wpo_state_close(L);
        return NULL;
    }
    return L;
}

/* Open file descriptors of this process. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Sweep one snippet: 0 when every N ended cleanly. */
static int sweep(const struct snippet *s)
{
    lua_State *L = state_for(s);
    int failed;
    int status = L ? run_lua(L, s->code, s->name, 0, &failed) : -1;
    if (L)
        wpo_state_close(L);
    if (status != LUA_OK) {
        fprintf(stderr, "  %s: fails without any allocation refused\n", s->name);
        return 1;
    }
#ifdef HAVE_LSAN
    if (!s->foreign_leaks && __lsan_do_recoverable_leak_check()) {
        fprintf(stderr, "  %s: leak with no allocation refused\n", s->name);
        return 1;
    }
#endif
    int fds = count_fds();
    for (long n = 1; n <= MAX_N; n++) {
        L = state_for(s);
        if (!L)
            return 1;
        status = run_lua(L, s->code, s->name, n, &failed);
        wpo_state_close(L);
        int now = count_fds();
        if (now != fds && !s->worker_fds) {
            fprintf(stderr, "  %s: %d file descriptors open instead of %d with allocation %ld refused\n",
                    s->name, now, fds, n);
            return 1;
        }
#ifdef HAVE_LSAN
        if (!s->foreign_leaks && __lsan_do_recoverable_leak_check()) {
            fprintf(stderr, "  %s: leak with allocation %ld refused\n", s->name, n);
            return 1;
        }
#endif
        if (!failed) {
            if (status != LUA_OK)
                return 1;
            printf("  %s: %ld runs, out of memory from each allocation on\n", s->name, n - 1);
            return 0;
        }
    }
    fprintf(stderr, "  %s: still allocating after %d runs\n", s->name, MAX_N);
    return 1;
}

static int make_repo(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "set -e; cd %s && mkdir repo && cd repo && git init -q -b main . && "
             "git -c user.name=t -c user.email=t@example.com commit -q --allow-empty -m root && "
             "echo hello > a.txt && mkdir d && echo x > d/b.txt && git add a.txt d && "
             "git -c user.name=t -c user.email=t@example.com commit -q -m one && git tag v1 && "
             "git tag -a -m annotated v1a && git remote add origin https://u:p@example.com/r && "
             "echo changed > a.txt && echo new > c.txt",
             dir);
    return system(cmd);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/wpo-oom-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (make_repo() != 0) {
        fprintf(stderr, "test_oom: cannot make the test repository with git\n");
        return 1;
    }
    int passed = 0, failed = 0;
    for (const struct snippet *s = snippets; s->name; s++) {
        /* each sweep in a child process: a leak or a crash is that snippet's */
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            int rc = start_server() == 0 && sweep(s) == 0 ? 0 : 1;
            fflush(NULL);
            _exit(rc);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
            status = -1;
        if (WIFSIGNALED(status))
            fprintf(stderr, "  %s: killed by signal %d\n", s->name, WTERMSIG(status));
        if (status == 0) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAILED oom: %s\n", s->name);
        }
    }
    printf("c-oom: %d passed, %d failed\n", passed, failed);
    int rc = failed ? 1 : 0;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_oom: cannot remove %s\n", dir);
    return rc;
}
