-- What a run starts, seen from the system calls it makes (strace): libgit2
-- only when a repository is opened — never for `wpo version` or a stack
-- outside git, once for a stack in a git work tree — the CA certificates
-- (which libgit2's TLS backend would read as it starts) only for a fetch
-- over HTTPS, and of the work tree only the files the stack loaded looked
-- at; libcurl (and what it pulls in) only to send a request or report its
-- version, with a one-line error when it cannot be loaded; libgit2 the same
-- way (dlopen), mapped by the worker thread that opens the repository;
-- libcrypto only to hash, sign or encrypt.
local h = require "helpers"

local WPO = h.WPO:find("/", 1, true) and require("wpo.stack").absolute(h.WPO) or h.WPO
local STACK = 'local s = wpo.stack { name = "t" }\ns:add("wpo.null", "a", {})\nreturn s\n'

-- What a command did to files, from strace -f: the main thread's id (the
-- process's, the one of the execve), and every call that named a path:
-- { pid, call = "openat" | "newfstatat" | ..., path, failed }. An openat
-- another thread interrupts ends "<unfinished ...>": its result is on a
-- later line, and it counts as done.
local function trace(dir, args)
  local parts = { "cd " .. h.quote(dir) .. " && strace -f -qq -e trace=execve,openat,newfstatat,stat,lstat,statx "
    .. "-o trace", h.quote(WPO) }
  for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
  local r = h.sh(table.concat(parts, " "))
  assert.are.equal(0, r.status, r.stdout .. r.stderr)
  local main, calls = nil, {}
  for line in io.lines(dir .. "/trace") do
    local pid, call, path = line:match('^(%d+) +([%w_]+)%([^"]*"([^"]*)"')
    if call == "execve" then
      main = main or pid
    elseif call then
      calls[#calls + 1] = { pid = pid, call = call, path = path, failed = line:match("= %-1 ") ~= nil }
    end
  end
  return main, calls
end

-- The calls (those of kind `call` when given) on a path matching one of
-- the patterns that did not fail.
local function on(calls, call, ...)
  local out = {}
  for _, c in ipairs(calls) do
    if not c.failed and (call == nil or c.call == call) then
      for _, pattern in ipairs({ ... }) do
        if c.path:match(pattern) then out[#out + 1] = c break end
      end
    end
  end
  return out
end

local CA = { "ca%-certificates%.crt$", "^/etc/ssl/certs/?$" }
local LIBGIT2, LIBCURL = "libgit2[^/]*%.so[.%d]*$", "libcurl[^/]*%.so[.%d]*$"

describe("starting wpo", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() h.rmrf(dir) end)

  local function have_strace()
    local r = h.sh("strace -V")
    assert(r.status == 0, "strace is not installed (make check installs it): " .. r.stderr)
    return true
  end

  it("reads no CA certificate to open a repository, and of the work tree only what the stack loaded", function()
    if not have_strace() then return end
    h.write(dir .. "/s.lua", STACK)
    assert.are.equal(0, #on(select(2, trace(dir, { "version" })), nil, table.unpack(CA)))
    assert.are.equal(0, #on(select(2, trace(dir, { "plan", "s.lua" })), nil, table.unpack(CA)))   -- not in git
    local r = h.sh("cd " .. h.quote(dir) .. " && git init -q && git add s.lua && git -c user.name=t "
      .. "-c user.email=t@t commit -qm one")
    assert.are.equal(0, r.status, r.stderr)
    for i = 1, 30 do h.write(string.format("%s/f%02d.txt", dir, i), "x\n") end
    h.sh("cd " .. h.quote(dir) .. " && git add . && git -c user.name=t -c user.email=t@t commit -qm two")
    local _, calls = trace(dir, { "plan", "s.lua" })
    -- libgit2 looks where the bundle is as it starts; wpo has it read nothing
    assert.are.equal(0, #on(calls, "openat", table.unpack(CA)))
    -- dirty or not is asked of the files the stack loaded, never of the
    -- whole work tree: no other tracked file is looked at
    assert.are.equal(0, #on(calls, nil, "/f%d%d%.txt$"))
    assert.is_true(#on(calls, nil, "/s%.lua$") >= 1)
  end)

  local function curl_loads(args) return #on(select(2, trace(dir, args)), "openat", LIBCURL) end

  local REQUEST = [[
    local http, loop = require "wpo.core.http", require "wpo.core.loop"
    local ok, err = pcall(http.start, { url = "http://127.0.0.1:9/x" })
    if not ok then io.stderr:write(err, "\n") os.exit(3) end
    local done = loop.wait()
    print(done[1].ok and "answered" or done[1].code)
  ]]

  it("loads libcurl only to send a request or print its version", function()
    if not have_strace() then return end
    h.write(dir .. "/s.lua", STACK)
    h.write(dir .. "/request.lua", REQUEST)
    assert.are.equal(0, curl_loads({ "plan", "s.lua" }))
    assert.are.equal(0, curl_loads({ "validate", "s.lua" }))
    assert.is_true(curl_loads({ "version" }) >= 1)
    assert.is_true(curl_loads({ "lua", "request.lua" }) >= 1)
    local r = h.wpo_in(dir, { "lua", "request.lua" })
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("connect\n", r.stdout)      -- nothing listens on port 9
  end)

  it("says in one line that libcurl is missing, and plans without it", function()
    local missing = { WPO_LIBCURL = dir .. "/no/libcurl.so.4" }
    h.write(dir .. "/s.lua", STACK)
    h.write(dir .. "/request.lua", REQUEST)
    local r = h.wpo_in(dir, { "lua", "request.lua" }, missing)
    assert.are.equal(3, r.status, r.stdout .. r.stderr)
    assert.matches("^http%.start: cannot load libcurl %(needed for HTTP requests%): [^\n]*no/libcurl%.so%.4: "
      .. "cannot open shared object file[^\n]*\n$", r.stderr)
    r = h.wpo_in(dir, { "version" }, missing)
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("\n  curl +unavailable: cannot load libcurl %(needed for HTTP requests%): [^\n]*\n", r.stdout)
    r = h.wpo_in(dir, { "plan", "s.lua" }, missing)
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("Plan: 1 to add", r.stdout)
  end)

  it("is linked against neither libgit2, libcurl nor libcrypto (each is opened with dlopen), Lua built in", function()
    local r = h.sh("ldd " .. h.quote(WPO))
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("libexpat", r.stdout)
    assert.is_nil(r.stdout:match("libcrypto"), r.stdout)
    assert.is_nil(r.stdout:match("liblua"), r.stdout)
    assert.is_nil(r.stdout:match("libgit2"), r.stdout)
    assert.is_nil(r.stdout:match("libcurl"), r.stdout)
  end)

  local HASH = [[
    local ok, digest = pcall(require("wpo.core.crypto").sha256, "x")
    if not ok then io.stderr:write(tostring(digest), "\n") os.exit(3) end
    print(#digest)
  ]]

  it("loads libcrypto only to hash, sign or encrypt, and says in one line when it cannot", function()
    if not have_strace() then return end
    h.write(dir .. "/s.lua", STACK)
    h.write(dir .. "/hash.lua", HASH)
    local LIBCRYPTO = "libcrypto[^/]*%.so[.%d]*$"
    assert.are.equal(0, #on(select(2, trace(dir, { "plan", "s.lua" })), "openat", LIBCRYPTO))   -- not in git
    assert.is_true(#on(select(2, trace(dir, { "lua", "hash.lua" })), "openat", LIBCRYPTO) >= 1)
    local r = h.wpo_in(dir, { "lua", "hash.lua" })
    assert.are.equal(0, r.status, r.stderr)
    assert.are.equal("32\n", r.stdout)

    local missing = { WPO_LIBCRYPTO = dir .. "/no/libcrypto.so.3" }
    r = h.wpo_in(dir, { "lua", "hash.lua" }, missing)
    assert.are.equal(3, r.status, r.stdout .. r.stderr)
    assert.matches("^CryptoUnavailable: crypto%.sha256: cannot load libcrypto %(needed for hashing, signing and encryption%): "
      .. "[^\n]*no/libcrypto%.so%.3: cannot open shared object file[^\n]*\n$", r.stderr)
    r = h.wpo_in(dir, { "version" }, missing)
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("\n  openssl +unavailable: cannot load libcrypto %(needed for hashing, signing and encryption%): "
      .. "[^\n]*\n", r.stdout)
    r = h.wpo_in(dir, { "version" }, { WPO_LIBCRYPTO = "libz.so.1" })
    assert.matches("\n  openssl +unavailable: cannot load libcrypto [^\n]*: libz%.so%.1 has no OpenSSL_version "
      .. "%(wpo was built for OpenSSL %d+%)\n", r.stdout)
    r = h.wpo_in(dir, { "plan", "s.lua" }, missing)
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("Plan: 1 to add", r.stdout)
    -- a plan file carries a digest: the command fails in one line, no internal error
    r = h.wpo_in(dir, { "plan", "--out", "p.json", "s.lua" }, missing)
    assert.are.equal(1, r.status, r.stderr)
    assert.matches("^wpo: CryptoUnavailable: crypto%.sha256: cannot load libcrypto %(needed for hashing, signing "
      .. "and encryption%): [^\n]*no/libcrypto%.so%.3: cannot open shared object file[^\n]*\n$", r.stderr)
  end)

  -- s.lua committed a minute after it was written: the index proves it clean
  -- (a file as new as the index would be read again, by libgit2)
  local function commit_stack()
    h.write(dir .. "/s.lua", STACK)
    local r = h.sh("cd " .. h.quote(dir) .. " && touch -d '-1 minute' s.lua && git init -q && git add s.lua "
      .. "&& git -c user.name=t -c user.email=t@t commit -qm one")
    assert.are.equal(0, r.status, r.stderr)
  end
  -- a setting only libgit2 reads (url rewriting): the repository is libgit2's to open
  local function rewrite_urls()
    local r = h.sh("git -C " .. h.quote(dir) .. " config url.https://mirror.invalid/.insteadOf https://x.invalid/")
    assert.are.equal(0, r.status, r.stderr)
  end

  it("maps libgit2 only for a repository wpo does not read itself, on the open's worker thread", function()
    if not have_strace() then return end
    h.write(dir .. "/s.lua", STACK)
    local _, calls = trace(dir, { "plan", "s.lua" })     -- not in git
    assert.are.equal(0, #on(calls, "openat", LIBGIT2))
    _, calls = trace(dir, { "validate", "s.lua" })
    assert.are.equal(0, #on(calls, "openat", LIBGIT2))
    commit_stack()
    _, calls = trace(dir, { "plan", "s.lua" })         -- a plain repository: read without it
    assert.are.equal(0, #on(calls, "openat", LIBGIT2))
    rewrite_urls()
    local main
    main, calls = trace(dir, { "plan", "s.lua" })
    local loads = on(calls, "openat", LIBGIT2)
    assert.are.equal(1, #loads)
    assert.is_truthy(main)
    assert.are_not.equal(main, loads[1].pid, "libgit2 was loaded on the main thread")
  end)

  it("says in one line that libgit2 is missing, and fails a plan that needs it", function()
    local missing = { WPO_LIBGIT2 = dir .. "/no/libgit2.so" }
    local ONE_LINE = "^wpo: s%.lua: GitUnavailable: cannot load libgit2 %(needed for git%): [^\n]*no/libgit2%.so: "
      .. "cannot open shared object file[^\n]*\n$"
    h.write(dir .. "/s.lua", STACK)
    local r = h.wpo_in(dir, { "plan", "s.lua" }, missing)          -- not in git: no need of it
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("Plan: 1 to add", r.stdout)
    r = h.wpo_in(dir, { "version" }, missing)
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("\n  libgit2 +unavailable: cannot load libgit2 %(needed for git%): [^\n]*\n", r.stdout)
    -- a library that is not libgit2 (nor libcurl): the first function it lacks
    r = h.wpo_in(dir, { "version" }, { WPO_LIBGIT2 = "libz.so.1", WPO_LIBCURL = "libz.so.1" })
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("\n  libgit2 +unavailable: cannot load libgit2 %(needed for git%): libz%.so%.1 has no "
      .. "git_libgit2_init %(wpo was built for libgit2 [%d.]+%)\n", r.stdout)
    assert.matches("\n  curl +unavailable: cannot load libcurl %(needed for HTTP requests%): libz%.so%.1 has no "
      .. "curl_global_init %(wpo needs libcurl 7%.80 or later%)\n", r.stdout)
    commit_stack()
    r = h.wpo_in(dir, { "plan", "s.lua" }, missing)                -- a plain work tree: read without it
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("Plan: 1 to add", r.stdout)
    h.write(dir .. "/s.lua", STACK .. "-- edited\n")
    r = h.wpo_in(dir, { "plan", "s.lua" }, missing)                -- an edit: libgit2 says how it differs
    assert.are_not.equal(0, r.status, r.stdout)
    assert.matches(ONE_LINE, r.stderr)
    r = h.sh("git -C " .. h.quote(dir) .. " checkout -q s.lua")
    assert.are.equal(0, r.status, r.stderr)
    rewrite_urls()
    r = h.wpo_in(dir, { "plan", "s.lua" }, missing)                -- opened on a worker
    assert.are_not.equal(0, r.status, r.stdout)
    assert.matches(ONE_LINE, r.stderr)
    r = h.wpo_in(dir, { "plan", "--ref", "HEAD", "s.lua" }, missing)   -- at a ref: opened on the main thread
    assert.are_not.equal(0, r.status, r.stdout)
    assert.matches(ONE_LINE, r.stderr)
  end)
end)

-- libgit2's TLS, given the CA bundle wpo names only before a fetch, still
-- verifies: against the system CAs it refuses a server they
-- did not sign; given that server's CA (SSL_CERT_FILE) it gets past the
-- handshake (the echo server on 127.0.0.1 is no git server: the fetch then
-- fails on HTTP).
describe("a fetch over HTTPS", function()
  local launch = dofile(h.REPO .. "/tests/servers/launch.lua")
  local dir, cert, server

  lazy_setup(function()
    dir = h.tmpdir()
    -- named localhost: mbedTLS (libgit2's TLS) matches host names, not IP addresses
    local key = dir .. "/key.pem"
    cert = dir .. "/cert.pem"
    local r = h.sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      .. "-subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout " .. h.quote(key)
      .. " -out " .. h.quote(cert))
    assert.are.equal(0, r.status, r.stderr)
    server = launch.echo { tls = { cert, key } }
  end)

  lazy_teardown(function()
    if server then server:stop() end
    if dir then h.rmrf(dir) end
  end)

  local function fetch(env)
    local script = dir .. "/fetch.lua"
    h.write(script, [[
      local git = require "wpo.core.git"
      local ok, err, code = git.fetch(arg[1], arg[2])
      print(ok and "fetched" or code)
      io.stderr:write(tostring(err), "\n")
    ]])
    local url = "https://localhost:" .. server.port .. "/org/infra.git"
    local r = h.wpo({ "lua", script, url, dir .. "/clone-" .. tostring(env.SSL_CERT_FILE ~= "") }, { env = env })
    assert.are.equal(0, r.status, r.stderr)
    return r.stdout:gsub("\n$", ""), r.stderr
  end

  it("verifies the server against the CA bundle wpo configures", function()
    local refused, why = fetch { SSL_CERT_FILE = "" }
    assert.are.equal("certificate", refused, why)
    local past, err = fetch { SSL_CERT_FILE = cert }
    assert.are_not.equal("certificate", past, err)
    assert.are_not.equal("fetched", past, err)
  end)
end)
