-- bench/ssm_bench.lua — 1,000 SSM parameters (aws.ssm.parameter, String,
-- independent of each other) applied from no state against tests/fakeaws
-- with no added latency and the client-side rate limiter off, in this
-- process (bench/critical.lua: in-memory state taking apply's per-resource
-- commits, --parallelism 16). What it measures is wpo's own cost per
-- resource: planning, scheduling, the client (signing, the request, the
-- answer) and the commits; fakeaws answers on another core. Goal: < 5 s.
--   wpo lua bench/ssm_bench.lua [N]       (make bench runs it; N: 1000)
local REPO = os.getenv("WPO_REPO") or "."
package.path = REPO .. "/tests/lua/?.lua;" .. REPO .. "/bench/?.lua;" .. package.path

local critical = require "critical"
local fakeaws = require "fakeaws"

local N = math.tointeger(tonumber(arg[1] or "1000")) or 1000
local GOAL_S = 5

local f = fakeaws.start { region = "eu-west-1" }
local bench = critical.new { url = f.url, region = "eu-west-1", latency = 0, rate_limit = false }

local ok, err = pcall(function()
  local stackmod = require "wpo.stack"
  local s = stackmod.new { name = "ssm", region = "eu-west-1" }
  for i = 1, N do
    s:add("aws.ssm.parameter", string.format("p%04d", i),
      { name = string.format("/bench/p%04d", i), insecure_value = "value " .. i })
  end
  local stack = stackmod.finish(s)
  local st = critical.memstate()
  local r = bench:run(stack, st, false)
  assert(r.resources == N, "the plan has " .. r.resources .. " actions, not " .. N)
  print(string.format("apply %d SSM parameters, limiter off: %.2f s (goal < %d s), %d calls, %.2f ms/resource",
    N, r.wall, GOAL_S, r.calls, r.wall * 1000 / N))
  print(r.wall < GOAL_S and "ssm: every goal met" or "ssm: a goal is missed")
end)
f:stop()
if not ok then error(err, 0) end
return 0
