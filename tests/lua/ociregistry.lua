-- tests/lua/ociregistry.lua — Debian's docker-registry (distribution 2.8) on a
-- free 127.0.0.1 port with a temporary storage directory, for a spec or a bench.
--
--   local ociregistry = require "ociregistry"
--   local r = ociregistry.start { auth = "basic", username = "AWS", password = "pw" }
--   r.host ("127.0.0.1:PORT"), r.port, r.dir, r.log_path
--   r:stop()            -- kill it (by its pid) and remove the directory; idempotent, also __close/__gc
--   r:requests(pattern?) -> the access-log lines ("HEAD /v2/a/blobs/sha256:.."), those matching pattern
--   r:token_stats()     -> { tokens = n, scopes = {...} } (auth = "token")
--
-- auth: nil (anonymous), "basic" (htpasswd with a bcrypt $2b$ hash made by
-- Python's crypt, i.e. libxcrypt), or "token" (a bearer-token service,
-- tests/servers/oci_token.py, whose certificate the registry trusts; username
-- and password are what it takes as Basic credentials). Both processes run
-- under setpriv --pdeathsig, so a spec that dies leaves nothing running.
local http = require "wpo.core.http"
local task = require "wpo.task"
local cjson = require "cjson"

local M = {}

local PY = "/usr/bin/python3"
local REGISTRY = "/usr/bin/docker-registry"

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_line(cmd)
  local p = assert(io.popen(cmd))
  local line = p:read("l")
  p:close()
  return line
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function tests_dir()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*)/lua/[^/]*$") or "tests"
end

local function free_port()
  return tonumber(read_line(PY .. [[ -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); ]] ..
    [[print(s.getsockname()[1])']]))
end

local Registry = {}
Registry.__index = Registry

function Registry:stop()
  if self.proc then
    os.execute("kill " .. self.pid .. " 2>/dev/null")
    self.proc:close()
    self.proc = nil
  end
  if self.token_proc then
    os.execute("kill " .. self.token_pid .. " 2>/dev/null")
    self.token_proc:close()
    self.token_proc = nil
  end
  if self.dir then
    os.execute("rm -rf " .. quote(self.dir))
    self.dir = nil
  end
end
Registry.__close = Registry.stop
Registry.__gc = Registry.stop

function Registry:requests(pattern)
  local out = {}
  local f = io.open(self.log_path, "rb")
  if not f then return out end
  for line in f:lines() do
    local req = line:match('"(%u+ /v2/%S*) HTTP/1%.1"')
    if req and (not pattern or req:match(pattern)) then out[#out + 1] = req end
  end
  f:close()
  return out
end

function Registry:token_stats()
  local r = assert(task.await(http.start { url = self.token_url .. "/count" }))
  return cjson.decode(r.body)
end

-- wait until the registry answers /v2/ (or its process is gone)
local function wait_ready(r)
  for _ = 1, 500 do
    local resp = task.await(http.start { url = "http://" .. r.host .. "/v2/", connect_timeout_ms = 1000 })
    if resp then return true end
    if not os.execute("kill -0 " .. r.pid .. " 2>/dev/null") then break end
    task.sleep(20)
  end
  local f = io.open(r.log_path, "rb")
  local log = f and f:read("a") or ""
  if f then f:close() end
  r:stop()
  error("docker-registry did not start: " .. log, 3)
end

function M.start(opts)
  opts = opts or {}
  for k in pairs(opts) do
    assert(k == "auth" or k == "username" or k == "password", "ociregistry.start: unknown option " .. tostring(k))
  end
  local dir = read_line("mktemp -d")
  assert(dir and dir:match("^/tmp/"), "mktemp -d failed")
  local port = free_port()
  local r = setmetatable({ dir = dir, port = port, host = "127.0.0.1:" .. port, log_path = dir .. "/registry.log" },
    Registry)
  local auth = ""
  if opts.auth == "basic" then
    local hash = read_line(PY .. " -W ignore -c " .. quote("import crypt, sys; print(crypt.crypt(sys.argv[1], " ..
      "crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))") .. " " .. quote(opts.password))
    assert(hash and hash:match("^%$2b%$"), "python3's crypt made no bcrypt hash")
    write(dir .. "/htpasswd", opts.username .. ":" .. hash .. "\n")
    auth = "auth:\n  htpasswd:\n    realm: wpo-test\n    path: " .. dir .. "/htpasswd\n"
  elseif opts.auth == "token" then
    local proc = assert(io.popen("exec setpriv --pdeathsig TERM " .. PY .. " " ..
      quote(tests_dir() .. "/servers/oci_token.py") .. " " .. quote(dir) .. " " .. quote(opts.username) .. " " ..
      quote(opts.password) .. " 2>>" .. quote(dir .. "/token.log")))
    local tport, tpid = (proc:read("l") or ""):match("^PORT=(%d+) PID=(%d+)")
    if not tport then
      proc:close()
      error("the token service did not start", 2)
    end
    r.token_proc, r.token_pid, r.token_url = proc, tonumber(tpid), "http://127.0.0.1:" .. tport
    auth = "auth:\n  token:\n    realm: " .. r.token_url .. "/token\n    service: wpo-test-registry\n" ..
      "    issuer: wpo-test-token\n    rootcertbundle: " .. dir .. "/token.crt\n"
  elseif opts.auth ~= nil then
    error("ociregistry.start: auth is nil, \"basic\" or \"token\"", 2)
  end
  write(dir .. "/config.yml", "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\n" ..
    "storage:\n  filesystem:\n    rootdirectory: " .. dir .. "/data\n  delete:\n    enabled: true\n" ..
    "http:\n  addr: 127.0.0.1:" .. port .. "\n" .. auth)
  local proc = assert(io.popen("echo $$; exec setpriv --pdeathsig TERM " .. REGISTRY .. " serve " ..
    quote(dir .. "/config.yml") .. " >>" .. quote(r.log_path) .. " 2>&1"))
  r.proc = proc
  r.pid = tonumber(proc:read("l"))
  wait_ready(r)
  return r
end

return M
