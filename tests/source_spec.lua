-- wpo.source: stack arguments (paths and git URLs), the clone cache, fetch,
-- offline use and failures. No network: file:// URLs, and a local HTTP
-- server on 127.0.0.1 that refuses every request with 401.
local h = require "helpers"
local gr = require "gitrepo"
local core = require "wpo.core.git"
local source = require "wpo.source"

-- Runs Lua code in a wpo subprocess with env; returns the result of h.wpo.
local function run_lua(code, env, cwd)
  local dir = h.tmpdir()
  h.write(dir .. "/t.lua", code)
  local cmd = h.quote(core.realpath(h.WPO)) .. " lua " .. h.quote(dir .. "/t.lua")
  if cwd then cmd = "cd " .. h.quote(cwd) .. " && " .. cmd end
  local r = h.sh("sh -c " .. h.quote(cmd), { env = env })
  h.rmrf(dir)
  return r
end

-- A script that opens ARG with OPTS, evaluates the stack and prints
-- "version cidr describe" or "ERR <the error as wpo prints it>".
local OPEN_AND_EVALUATE = [[
local source = require "wpo.source"
local arg_, ref, offline = ...
local src, err = source.open(arg_, { ref = ref ~= "" and ref or nil, offline = offline == "offline" })
if not src then print("ERR " .. tostring(err)) return 0 end
local env = setmetatable({}, { __index = _G })
env.require = src:require_function(env)
local stack = assert(src:load_stack(env))()
print(stack.version .. " " .. stack.cidr .. " " .. src:describe())
return 0
]]

local function open_in_subprocess(arg, ref, offline, env, cwd)
  local script = OPEN_AND_EVALUATE:gsub("local arg_, ref, offline = %.%.%.",
    string.format("local arg_, ref, offline = %q, %q, %q", arg, ref or "", offline and "offline" or ""))
  return run_lua(script, env, cwd)
end

describe("wpo.source parse", function()
  it("reads a local path as a local stack", function()
    assert.are.same({ kind = "local", path = "stacks/prod.lua" }, source.parse("stacks/prod.lua"))
  end)

  it("splits a git+https URL into repository, path inside it and ref", function()
    local s = assert(source.parse("git+https://git.example.com/org/infra.git//stacks/prod.lua?ref=v1.4.0"))
    assert.are.equal("git", s.kind)
    assert.are.equal("https://git.example.com/org/infra.git", s.url)
    assert.are.equal("stacks/prod.lua", s.path)
    assert.are.equal("v1.4.0", s.ref)
  end)

  it("reads git+ssh and git+file URLs, without a ref", function()
    local ssh = assert(source.parse("git+ssh://git@git.example.com/org/infra.git//stacks/customers/acme.lua"))
    assert.are.same({ "ssh://git@git.example.com/org/infra.git", "stacks/customers/acme.lua" }, { ssh.url, ssh.path })
    assert.is_nil(ssh.ref)
    local file = assert(source.parse("git+file:///srv/git/infra.git//stacks/prod.lua?ref=main"))
    assert.are.same({ "file:///srv/git/infra.git", "stacks/prod.lua", "main" }, { file.url, file.path, file.ref })
  end)

  it("takes a password out of the URL as the token and redacts it", function()
    local s = assert(source.parse("git+https://deploy:s3cret@git.example.com/org/infra.git//prod.lua"))
    assert.are.equal("https://deploy@git.example.com/org/infra.git", s.url)
    assert.are.equal("s3cret", s.token)
    assert.are.equal("deploy", s.username)
    assert.is_nil(s.display:find("s3cret", 1, true))
    assert.matches("deploy:%*%*%*@", s.display)
  end)

  it("refuses URLs without a stack path, with unknown parameters or schemes, in one line", function()
    local cases = {
      { "git+https://host/org/infra.git", "no stack path; put //PATH after the repository" },
      { "git+https://host/org/infra.git//prod.lua?branch=x", "unknown parameter 'branch' %(valid: ref%)" },
      { "git+ftp://host/infra.git//prod.lua", "unsupported scheme git%+ftp" },
      { "https://host/org/infra.git//prod.lua", "is not a stack URL wpo reads" },
      { "git+https://host/infra.git//../etc/prod.lua", "must be relative to the repository root" },
      { "git+https://host/infra.git//prod.lua?ref=", "ref= needs a value" },
    }
    for _, c in ipairs(cases) do
      local s, err = source.parse(c[1])
      assert.is_nil(s, c[1])
      assert.matches(c[2], tostring(err))
      assert.is_nil(tostring(err):find("\n"))
    end
  end)

  it("names the cache directory after the URL, readable and unique, without credentials", function()
    local a = source.cache_dir("https://git.example.com/org/infra.git")
    local b = source.cache_dir("https://git.example.com/org_infra.git")
    local c = source.cache_dir("https://deploy@git.example.com/org/infra.git")
    assert.matches("/git/git%.example%.com_org_infra%.git%-%x+$", a)
    assert.are_not.equal(a, b)
    assert.are.equal(a, c)
  end)
end)

describe("wpo.source with repositories", function()
  local dir, origin, cache

  setup(function()
    dir = gr.fixture()
    origin = h.tmpdir()
    gr.git(origin, "clone -q --bare " .. h.quote(dir) .. " infra.git")
    cache = h.tmpdir()
  end)

  teardown(function()
    h.rmrf(dir)
    h.rmrf(origin)
    h.rmrf(cache)
  end)

  it("opens a local stack in the working tree, or at --ref from the object database", function()
    gr.edit(dir)
    local wt = open_in_subprocess("stacks/prod.lua", nil, false, nil, dir)
    local at = open_in_subprocess("stacks/prod.lua", "v1.0.0", false, nil, dir)
    local bad = open_in_subprocess("stacks/prod.lua", "v9.9.9", false, nil, dir)
    gr.git(dir, "checkout -q -- .")
    assert.are.equal(0, wt.status, wt.stderr)
    assert.matches("^edited 10%.9%.0%.0/16 main %(%x+, dirty%)\n$", wt.stdout)
    assert.matches("^1%.0%.0 10%.0%.0%.0/16 v1%.0%.0 %(%x+%)\n$", at.stdout)
    assert.matches("^ERR UnknownRef: .*nearest tags: v1%.1%.0, v1%.0%.0%)\n$", bad.stdout)
  end)

  it("refuses --ref outside git and a stack absent at the ref", function()
    local plain = h.tmpdir()
    h.write(plain .. "/s.lua", "return {}\n")
    local r = open_in_subprocess(plain .. "/s.lua", "v1.0.0", false)
    h.rmrf(plain)
    assert.matches("^ERR NotInGit: %-%-ref v1%.0%.0: .*s%.lua is not inside a git repository\n$", r.stdout)
    gr.write(dir, "stacks/new.lua", "return {}\n")
    local absent = open_in_subprocess("stacks/new.lua", "v1.0.0", false, nil, dir)
    os.remove(dir .. "/stacks/new.lua")
    assert.matches("^ERR StackNotFound: stacks/new%.lua does not exist at v1%.0%.0 %(%x+%)\n$", absent.stdout)
  end)

  it("clones into the cache through a file:// URL, then fetch picks up a new tag", function()
    local url = "file://" .. origin .. "/infra.git"
    local target = cache .. "/direct/infra"
    local first = assert(core.fetch(url, target))
    assert.is_true(first.cloned)
    assert.are.equal("refs/heads/main", first.head)
    local repo = assert(core.open(target, { search = false }))
    assert.are.same({ "v1.0.0", "v1.1.0" }, repo:tags())
    assert.is_nil(repo:workdir())
    assert.are.equal(gr.rev(dir, "main"), (repo:resolve("HEAD")))
    repo:close()
    -- no temporary directory is left beside the clone
    local listing = h.sh("ls -A " .. h.quote(cache .. "/direct")).stdout
    assert.are.equal("infra\ninfra.lock\n", listing)

    gr.git(origin .. "/infra.git", "tag v1.2.0 main")
    local second = assert(core.fetch(url, target))
    assert.is_false(second.cloned)
    repo = assert(core.open(target, { search = false }))
    assert.are.same({ "v1.0.0", "v1.1.0", "v1.2.0" }, repo:tags())
    repo:close()
    gr.git(origin .. "/infra.git", "tag -d v1.2.0")
    assert(core.fetch(url, target))
    repo = assert(core.open(target, { search = false }))
    assert.are.same({ "v1.0.0", "v1.1.0" }, repo:tags(), "a tag deleted upstream is pruned")
    repo:close()
  end)

  it("opens a git+file stack through WPO_CACHE_DIR, then offline from the cache", function()
    local env = { WPO_CACHE_DIR = cache .. "/wpo" }
    local arg = "git+file://" .. origin .. "/infra.git//stacks/prod.lua"
    local head = open_in_subprocess(arg, nil, false, env)
    assert.are.equal(0, head.status, head.stderr)
    assert.matches("^1%.1%.0 10%.1%.0%.0/16 main %(%x+%)\n$", head.stdout)
    local at = open_in_subprocess(arg .. "?ref=v1.0.0", nil, false, env)
    assert.matches("^1%.0%.0 10%.0%.0%.0/16 v1%.0%.0 %(%x+%)\n$", at.stdout)
    local ls = h.sh("ls " .. h.quote(cache .. "/wpo/git")).stdout
    assert.matches("^infra%.git%-%x+\ninfra%.git%-%x+%.lock\n$", (ls:gsub("[^\n]*_", "")))

    -- offline: the origin is gone, the cache still serves
    h.sh("mv " .. h.quote(origin .. "/infra.git") .. " " .. h.quote(origin .. "/moved.git"))
    local offline = open_in_subprocess(arg, "v1.0.0", true, env)
    local online = open_in_subprocess(arg, "v1.0.0", false, env)
    h.sh("mv " .. h.quote(origin .. "/moved.git") .. " " .. h.quote(origin .. "/infra.git"))
    assert.matches("^1%.0%.0 10%.0%.0%.0/16 v1%.0%.0 %(%x+%)\n$", offline.stdout)
    assert.matches("^ERR GitFetchFailed: cannot fetch file://.*/infra%.git: ", online.stdout)
    assert.are.equal(1, select(2, online.stdout:gsub("\n", "")), "one line")

    local conflict = open_in_subprocess(arg .. "?ref=v1.0.0", "v1.1.0", true, env)
    assert.matches("^ERR ConflictingRef: .* names ref v1%.0%.0 but %-%-ref says v1%.1%.0", conflict.stdout)
  end)

  it("fails clearly offline when the cache is empty", function()
    local env = { WPO_CACHE_DIR = cache .. "/empty" }
    local r = open_in_subprocess("git+file://" .. origin .. "/infra.git//stacks/prod.lua", nil, true, env)
    assert.matches("^ERR OfflineCacheMissing: %-%-offline: no cached clone of file://.*/infra%.git %(looked in .*/empty/git/.*%); "
      .. "run once without %-%-offline\n$", r.stdout)
  end)

  it("fails in one line naming the URL for a repository that does not exist", function()
    local r = open_in_subprocess("git+file:///nonexistent/wpo-test.git//prod.lua", nil, false,
      { WPO_CACHE_DIR = cache .. "/bad" })
    assert.matches("^ERR GitFetchFailed: cannot fetch file:///nonexistent/wpo%-test%.git: [^\n]+\n$", r.stdout)
    assert.are.equal("", h.sh("ls -A " .. h.quote(cache .. "/bad/git") .. " | grep -v lock$").stdout,
      "a failed clone leaves nothing behind")
  end)
end)

describe("wpo.core.git authentication", function()
  local server, port, pid, logfile, dir

  -- A loopback HTTP server refusing every request with 401; it logs one
  -- line per request so the test can count them.
  local SERVER = [[
import http.server, os, sys
log = open(sys.argv[1], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write("%s %s\n" % (self.path, "auth" if self.headers.get("Authorization") else "-"))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="wpo-test"')
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_POST = do_GET
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("PORT=%d PID=%d" % (s.server_address[1], os.getpid()), flush=True)
s.serve_forever()
]]

  setup(function()
    dir = h.tmpdir()
    h.write(dir .. "/server.py", SERVER)
    logfile = dir .. "/requests.log"
    server = io.popen("exec /usr/bin/python3 " .. h.quote(dir .. "/server.py") .. " " .. h.quote(logfile))
    local line = server:read("l")
    port, pid = line:match("^PORT=(%d+) PID=(%d+)$")
    assert(port, "server did not start: " .. tostring(line))
  end)

  teardown(function()
    os.execute("kill " .. pid)
    server:close()
    h.rmrf(dir)
  end)

  local function requests()
    local n = 0
    for _ in h.slurp(logfile):gmatch("[^\n]+") do n = n + 1 end
    return n
  end

  it("names the URL and that nothing was tried when no credentials exist", function()
    local url = "http://127.0.0.1:" .. port .. "/org/infra.git"
    local ok, err, code = core.fetch(url, dir .. "/cache-none", { ssh_agent = false })
    assert.is_nil(ok)
    assert.are.equal("auth", code)
    assert.are.equal("authentication required by " .. url ..
      " and no credentials to offer (tried: nothing; set WPO_GIT_TOKEN to an access token)", err)
  end)

  it("tries a bad token once, says so, and never sends the secret back in the message", function()
    local before = requests()
    local url = "http://127.0.0.1:" .. port .. "/org/infra.git"
    local ok, err, code = core.fetch(url, dir .. "/cache-token",
      { token = "not-a-valid-token", token_from = "WPO_GIT_TOKEN" })
    assert.is_nil(ok)
    assert.are.equal("auth", code)
    assert.are.equal("authentication failed for " .. url ..
      " (tried: token from WPO_GIT_TOKEN as 'x-access-token')", err)
    assert.is_nil(err:find("not-a-valid-token", 1, true))
    local sent = requests() - before
    assert.is_true(sent >= 2 and sent <= 4, "requests sent: " .. sent)
    assert.matches("auth\n$", h.slurp(logfile))
  end)

  it("redacts a password given in the URL from the failure", function()
    local url = "http://deploy:hunter2@127.0.0.1:" .. port .. "/org/infra.git"
    local _, err = core.fetch(url, dir .. "/cache-url", { token = "hunter2", token_from = "the URL", username = "deploy" })
    assert.is_nil(err:find("hunter2", 1, true))
    assert.matches("authentication failed for http://deploy:%*%*%*@127%.0%.0%.1:%d+/org/infra%.git "
      .. "%(tried: token from the URL as 'deploy'%)", err)
  end)
end)

describe("wpo.core.git fetch on a worker thread", function()
  local dir, origin

  setup(function()
    dir = h.tmpdir()
    local work = gr.fixture()
    origin = dir .. "/origin.git"
    gr.git(dir, "clone -q --bare " .. h.quote(work) .. " origin.git")
    h.rmrf(work)
  end)

  teardown(function() h.rmrf(dir) end)

  it("completes through the loop with the clone, and fails as a completion", function()
    local task = require "wpo.task"
    local value = assert(task.await(core.fetch_start("file://" .. origin, dir .. "/cache/a")))
    assert.is_true(value.cloned)
    assert.are.equal("refs/heads/main", value.head)
    assert.are.equal(dir .. "/cache/a", value.dir)
    local none, err, code = task.await(core.fetch_start("file:///nonexistent/wpo-test.git", dir .. "/cache/b"))
    assert.is_nil(none)
    assert.matches("^cannot fetch file:///nonexistent/wpo%-test%.git: ", err)
    assert.are.equal("string", type(code))
  end)

  it("keeps the loop running while a fetch waits on the network, and cancels it", function()
    local loop = require "wpo.core.loop"
    local task = require "wpo.task"
    -- a server that accepts connections and never answers
    h.write(dir .. "/mute.py", [[
import os, socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print("PORT=%d PID=%d" % (s.getsockname()[1], os.getpid()), flush=True)
held = []
while True:
    held.append(s.accept())
]])
    local server = io.popen("exec /usr/bin/python3 " .. h.quote(dir .. "/mute.py"))
    local port, pid = server:read("l"):match("^PORT=(%d+) PID=(%d+)$")
    local id = assert(core.fetch_start("http://127.0.0.1:" .. port .. "/org/infra.git", dir .. "/cache/mute"))
    local ticked = false
    task.spawn(function() task.sleep(20); ticked = true end)
    task.run()
    local still_pending = loop.outstanding(id)
    assert.is_true(loop.cancel(id))
    local none, _, code = task.await(id)
    os.execute("kill " .. pid)
    server:close()
    assert.is_true(ticked)
    assert.is_true(still_pending)
    assert.is_nil(none)
    assert.are.equal("cancelled", code)
  end)

  it("fetches a repository once per process for stacks opened together", function()
    local task = require "wpo.task"
    local calls, real = 0, core.fetch_start
    core.fetch_start = function(...) calls = calls + 1; return real(...) end
    local spec = assert(source.parse("git+file://" .. origin .. "//stacks/prod.lua"))
    local results = {}
    local cache_dir = source.cache_dir
    source.cache_dir = function() return dir .. "/cache/once" end
    for i = 1, 3 do
      task.spawn(function() results[i] = source.fetch(spec) end)
    end
    task.run()
    source.cache_dir = cache_dir
    core.fetch_start = real
    assert.are.equal(1, calls)
    assert.are.same({ dir .. "/cache/once", dir .. "/cache/once", dir .. "/cache/once" }, results)
  end)
end)
