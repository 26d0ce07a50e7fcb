-- bench/state_s3_bench.lua: `wpo run` of 300 independent wpo.null resources
-- (20 ms each, --parallelism 16) with the state in S3 (tests/fakeaws on
-- 127.0.0.1, DynamoDB lock), in the clear and encrypted (WPO_STATE_KEY),
-- beside the same run with the local backend. The state is saved after every
-- resource; concurrent saves are serialised and coalesced, so S3 sees at most
-- one PutObject per resource (goal), usually far fewer.
-- Prints wall time and PutObject count beside the goals.
--   wpo lua bench/state_s3_bench.lua        (make bench runs it)
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../tests/lua/?.lua;" .. package.path
local wpo = os.getenv("WPO") or (here .. "/../wpo")
if wpo:sub(1, 1) ~= "/" then wpo = (os.getenv("PWD") or ".") .. "/" .. wpo end

local fakeaws = require "fakeaws"
local aws = require "wpo.aws"
local crypto = require "wpo.core.crypto"
local loop = require "wpo.core.loop"

local N = 300

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok, _, status = p:close()
  return out, ok and 0 or status
end

local dir = sh("mktemp -d"):gsub("%s+$", "")
assert(dir:match("^/tmp/"), "mktemp failed")
local f = fakeaws.start()

local function client(service)
  return aws.client(service, { region = f.region, endpoint = f.url,
    credentials = { access_key = "test", secret_key = "test" } })
end

local function prepare()
  f:reset()
  client("s3"):call("CreateBucket", { Bucket = "wpo-bench" })
  local ddb = client("dynamodb")
  ddb:call("CreateTable", { TableName = "locks", BillingMode = "PAY_PER_REQUEST",
    KeySchema = { { AttributeName = "LockID", KeyType = "HASH" } },
    AttributeDefinitions = { { AttributeName = "LockID", AttributeType = "S" } } })
  aws.wait(function() return ddb:call("DescribeTable", { TableName = "locks" }).Table.TableStatus == "ACTIVE" end,
    { what = "the lock table", timeout = 10, interval = 0.01 })
end

local function write_stack(sdir, backend)
  os.execute("rm -rf " .. q(sdir) .. " && mkdir -p " .. q(sdir))
  local lines = { string.format('local s = wpo.stack { name = "bench"%s }', backend and (", backend = " .. backend) or "") }
  for i = 1, N do
    lines[#lines + 1] = string.format('s:add("wpo.null", "n%d", { create_delay_ms = 20, value = "%d" })', i, i)
  end
  lines[#lines + 1] = "return s"
  local out = assert(io.open(sdir .. "/stack.lua", "w"))
  out:write(table.concat(lines, "\n"), "\n")
  out:close()
end

local function run(label, backend, extra_env)
  local sdir = dir .. "/" .. label:gsub("%W", "_")
  prepare()
  write_stack(sdir, backend)
  local env = {}
  for k, v in pairs(f.env) do env[#env + 1] = q(k .. "=" .. v) end
  for k, v in pairs(extra_env or {}) do env[#env + 1] = q(k .. "=" .. v) end
  local t0 = loop.now()
  local out, status = sh(string.format("cd %s && env %s %s run stack.lua --yes --parallelism 16 2>&1", q(sdir),
    table.concat(env, " "), q(wpo)))
  local secs = (loop.now() - t0) / 1000
  assert(status == 0, label .. " failed: " .. out)
  assert(out:match("Apply complete: " .. N .. " added"), label .. ": " .. out)
  return secs, f:calls()["s3.PutObject"] or 0
end

local S3 = '{ type = "s3", bucket = "wpo-bench", key = "bench", lock_table = "locks"%s }'
local local_secs = run("local", nil)
print(string.format("run, %d resources, local state:              %6.2f s", N, local_secs))
for _, case in ipairs({ { "S3", "" }, { "S3, encrypted", ", encrypt = true" } }) do
  local secs, puts = run(case[1], string.format(S3, case[2]), { WPO_STATE_KEY = crypto.base64(crypto.random(32)) })
  print(string.format("run, %d resources, %-16s state: %6.2f s (%.1fx local)   PutObject %4d (goal <= %d)",
    N, case[1], secs, secs / local_secs, puts, N + 1))
end
f:stop()
os.execute("rm -rf " .. q(dir))
