-- tests/lua/fakeaws.lua — a fakeaws server (tests/fakeaws/server.py) for a spec.
--
--   local fakeaws = require "fakeaws"
--   local f = fakeaws.start { region = "eu-west-1" }   -- options below, all optional
--   h.wpo({ "plan", "stack.lua" }, { env = f.env })    -- run wpo against it
--   f:state()    -> every object held, by service and kind ({ ec2 = { vpc = { ["vpc-0a.."] = {...} } } })
--   f:calls()    -> { ["ec2.CreateVpc"] = 1, ... };  f:calls(true) -> { [op] = { count, ok, errors } }
--   f:signers(by?) -> { [access key | "unsigned"] = { ["sts.GetCallerIdentity"] = 1, ... } }: who signed what
--                   (by = "arn": keyed by the ARN of the signer's identity)
--   f:advance(s) -> move the server's clock s seconds forward (tokens and temporary credentials expire by it)
--   f:secrets()  -> every secret the server handed out (to assert none was printed)
--   f:post(path, tbl) -> a control call with a JSON body: f:post("/_fake/sso/login", { user = "alice" })
--   f:faults { throttle_rate = 1, operations = { "ec2.CreateVpc" } }  -> the settings now in force
--   f:eventual { seconds = 3, seed = 1 }  -> eventual consistency now in force (forgets the delays drawn);
--   f:eventual() -> the settings, every delay drawn and every answer a delay shaped
--   f:hosted_zone(name) -> id: a public zone made before wpo (as its owner would have)
--   f:reset()    -- forget objects, calls, faults and temporary credentials
--   f:stop()     -- kill the server (by its pid) and wait for it; idempotent, also run by __gc/__close
--
-- Fields: f.port, f.url ("http://127.0.0.1:PORT"), f.pid, f.region, f.env.
-- f.env is the whole environment wpo needs: AWS_ENDPOINT_URL, access key `test` /
-- secret `test`, AWS_REGION (and AWS_DEFAULT_REGION), and no leakage from the
-- caller's AWS setup: AWS_PROFILE/AWS_DEFAULT_PROFILE name the `default` profile
-- of a private config file (which exists, so SDKs do not fail looking for it),
-- session tokens, instance and container credentials, web identity are blanked
-- (an empty value means unset).
--
-- Start options: region (default "us-east-1"), settle (describes a transitional
-- state lasts, default 1), page_size (most items per page, default 5),
-- access_key, secret_key, account, verbose (server log in f.log_path),
-- enforce_iam (hold fakeaws IAM users' keys to their policies), eventual
-- (seconds: each new object or change is seen late by up to that long, see
-- tests/fakeaws/fakeaws/eventual.py) and eventual_seed.
--
-- The control calls go through tests/fakeaws/ctl.py (wpo has no HTTP client
-- usable from here yet). The server is started with --exit-with-parent, so a
-- spec that dies without stopping it leaves nothing running.
local cjson = require "cjson"

local M = {}

local PYTHON = "/usr/bin/python3"
local OPTIONS = { "region", "settle", "page_size", "access_key", "secret_key", "account", "verbose", "enforce_iam",
  "eventual", "eventual_seed" }

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- the directory holding tests/fakeaws, found from this file's own path
local function tests_dir()
  local src = debug.getinfo(1, "S").source
  local dir = src:match("^@(.*)/lua/[^/]*$")
  return dir or "tests"
end

local function tmpdir()
  local p = assert(io.popen("mktemp -d"))
  local dir = p:read("l")
  p:close()
  assert(dir and dir:match("^/tmp/"), "mktemp -d failed")
  return dir
end

local Fake = {}
Fake.__index = Fake

-- fakeaws.start(opts?) -> f
function M.start(opts)
  opts = opts or {}
  assert(type(opts) == "table", "fakeaws.start: options must be a table")
  for k in pairs(opts) do
    local known = false
    for _, o in ipairs(OPTIONS) do known = known or o == k end
    if not known then
      error(string.format("fakeaws.start: unknown option '%s' (valid: %s)", tostring(k),
        table.concat(OPTIONS, ", ")), 2)
    end
  end
  local region = opts.region or "us-east-1"
  local access_key, secret_key = opts.access_key or "test", opts.secret_key or "test"
  local dir = tmpdir()
  local log = dir .. "/server.log"
  local args = { PYTHON, tests_dir() .. "/fakeaws/server.py", "--port", "0", "--exit-with-parent",
    "--access-key", access_key, "--secret-key", secret_key }
  if opts.settle then args[#args + 1] = "--settle"; args[#args + 1] = tostring(opts.settle) end
  if opts.page_size then args[#args + 1] = "--page-size"; args[#args + 1] = tostring(opts.page_size) end
  if opts.account then args[#args + 1] = "--account"; args[#args + 1] = tostring(opts.account) end
  if opts.verbose then args[#args + 1] = "--verbose" end
  if opts.enforce_iam then args[#args + 1] = "--enforce-iam" end
  if opts.eventual then args[#args + 1] = "--eventual"; args[#args + 1] = tostring(opts.eventual) end
  if opts.eventual_seed then args[#args + 1] = "--eventual-seed"; args[#args + 1] = tostring(opts.eventual_seed) end
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = quote(a) end
  local pipe = assert(io.popen("exec " .. table.concat(quoted, " ") .. " 2>>" .. quote(log), "r"))
  local port = (pipe:read("l") or ""):match("^PORT=(%d+)$")
  local pid = (pipe:read("l") or ""):match("^PID=(%d+)$")
  if not port or not pid then
    pipe:close()
    local why = slurp(log)
    os.execute("rm -rf " .. quote(dir))
    error("fakeaws did not start: " .. (why ~= "" and why or "no PORT= line"), 2)
  end
  local config = dir .. "/aws-config"
  write(config, "[default]\nregion = " .. region .. "\n")
  local url = "http://127.0.0.1:" .. port
  local f = setmetatable({
    port = tonumber(port),
    pid = tonumber(pid),
    url = url,
    region = region,
    dir = dir,
    log_path = log,
    env = {
      AWS_ENDPOINT_URL = url,
      AWS_ACCESS_KEY_ID = access_key,
      AWS_SECRET_ACCESS_KEY = secret_key,
      AWS_SESSION_TOKEN = "",
      AWS_SECURITY_TOKEN = "",
      AWS_REGION = region,
      AWS_DEFAULT_REGION = region,
      AWS_PROFILE = "default",
      AWS_DEFAULT_PROFILE = "default",
      AWS_CONFIG_FILE = config,
      AWS_SHARED_CREDENTIALS_FILE = config,
      AWS_EC2_METADATA_DISABLED = "true",
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = "",
      AWS_CONTAINER_CREDENTIALS_FULL_URI = "",
      AWS_CONTAINER_AUTHORIZATION_TOKEN = "",
      AWS_ROLE_ARN = "",
      AWS_WEB_IDENTITY_TOKEN_FILE = "",
    },
    _pipe = pipe,
  }, Fake)
  return f
end

-- f:_control(method, path, body?) -> decoded JSON answer (raises on failure)
function Fake:_control(method, path, body)
  assert(self._pipe, "fakeaws: the server was stopped")
  local err = self.dir .. "/ctl.err"
  local cmd = table.concat({ quote(PYTHON), quote(tests_dir() .. "/fakeaws/ctl.py"), tostring(self.port),
    quote(method), quote(path), body and quote(body) or "" }, " ") .. " 2>" .. quote(err)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok = p:close()
  if not ok then
    error("fakeaws " .. method .. " " .. path .. ": " .. slurp(err):gsub("%s+$", ""), 3)
  end
  return cjson.decode(out)
end

-- f:state() -> { service = { kind = { id = object } } }
function Fake:state()
  return self:_control("GET", "/_fake/state")
end

-- f:calls(detail?) -> { ["service.Operation"] = count } (detail: { count, ok, errors })
function Fake:calls(detail)
  return self:_control("GET", "/_fake/calls" .. (detail and "?detail=1" or ""))
end

-- f:signers(by?) -> { [access key (or by = "arn": the signer's ARN) | "unsigned"] = { ["service.Operation"] = count } }
function Fake:signers(by)
  return self:_control("GET", "/_fake/calls?by=" .. (by or "key"))
end

-- f:secrets() -> { secret... }: every secret the server handed out
function Fake:secrets()
  return self:_control("GET", "/_fake/secrets").secrets
end

-- f:advance(seconds) -> { now, offset }: the server's clock moved forward
function Fake:advance(seconds)
  return self:_control("POST", "/_fake/clock", cjson.encode { advance = seconds })
end

-- f:post(path, tbl) -> the decoded answer of POST path with tbl as JSON
function Fake:post(path, tbl)
  return self:_control("POST", path, (tbl == nil or next(tbl) == nil) and "{}" or cjson.encode(tbl))
end

-- f:hosted_zone(name) -> id: a public hosted zone made before wpo runs, as
-- its owner would have (stacks/prod.lua looks example.com up)
function Fake:hosted_zone(name)
  local r53 = require("wpo.aws").client("route53", { region = self.region, endpoint = self.url, rate_limit = false,
    credentials = { access_key = self.env.AWS_ACCESS_KEY_ID, secret_key = self.env.AWS_SECRET_ACCESS_KEY } })
  local out = r53:call("CreateHostedZone", { Name = name, CallerReference = "before-wpo-" .. name })
  return (out.HostedZone.Id:gsub("^/hostedzone/", ""))
end

-- f:reset()
function Fake:reset()
  self:_control("POST", "/_fake/reset")
end

-- f:faults(tbl) -> the fault settings now in force (see tests/fakeaws/fakeaws/faults.py)
function Fake:faults(tbl)
  assert(type(tbl) == "table", "fakeaws: faults must be a table")
  local doc = next(tbl) == nil and "{}" or cjson.encode(tbl)
  return self:_control("POST", "/_fake/faults", doc)
end

-- f:eventual(tbl?) -> with tbl ({ seconds, seed, fixed }): replace the
-- eventual-consistency settings; either way the settings, the delays drawn
-- and the answers they shaped (see tests/fakeaws/fakeaws/eventual.py)
function Fake:eventual(tbl)
  if tbl == nil then return self:_control("GET", "/_fake/eventual") end
  assert(type(tbl) == "table", "fakeaws: eventual settings must be a table")
  return self:_control("POST", "/_fake/eventual", next(tbl) == nil and "{}" or cjson.encode(tbl))
end

-- f:log() -> what the server wrote on stderr (with verbose = true, every request)
function Fake:log()
  return slurp(self.log_path)
end

-- f:stop(): kill the server by its pid, wait for it, remove its files
function Fake:stop()
  local pipe = self._pipe
  if not pipe then return end
  self._pipe = nil
  os.execute("kill " .. math.tointeger(self.pid) .. " 2>/dev/null")
  pipe:close()
  os.execute("rm -rf " .. quote(self.dir))
end

Fake.__gc = Fake.stop
Fake.__close = Fake.stop

function Fake:__tostring()
  return "fakeaws(" .. self.url .. (self._pipe and "" or ", stopped") .. ")"
end

return M
