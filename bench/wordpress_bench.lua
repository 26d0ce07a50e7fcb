-- bench/wordpress_bench.lua — the whole prod stack (stacks/prod.lua, ~107
-- resources) applied against tests/fakeaws with LATENCY ms per call
-- (transitions settle at once; waits poll at a thousandth of their interval)
-- into an empty account:
-- wall time divided by the critical-path bound, i.e. the longest chain of
-- calls through the same run's dependency graph (each resource's own calls, in
-- sequence, then its dependents') times the latency (method and code shared
-- with compute_bench.lua in bench/critical.lua). Goal: <= 1.15.
--
-- Measured twice: as wpo runs (client-side rate limits on, --parallelism 16),
-- then with the token buckets off, so what the limits cost shows apart.
-- The state is held in memory: nothing is written.
--   wpo lua bench/wordpress_bench.lua [--latency MS] [--parallelism N] [--chain]
local REPO = os.getenv("WPO_REPO") or "."
package.path = REPO .. "/tests/lua/?.lua;" .. REPO .. "/bench/?.lua;" .. package.path

local aws = require "wpo.aws"
local critical = require "critical"
local fakeaws = require "fakeaws"

local LATENCY, PARALLELISM, SHOW_CHAIN = 100, 16, false
for i = 1, #arg do
  if arg[i] == "--latency" then LATENCY = tonumber(arg[i + 1]) end
  if arg[i] == "--parallelism" then PARALLELISM = tonumber(arg[i + 1]) end
  if arg[i] == "--chain" then SHOW_CHAIN = true end
end
local GOAL = 1.15

local f = fakeaws.start { region = "eu-west-1", settle = 0 }
aws.set_wait_scale(0.001)

local function measure(rate_limit)
  f:reset()
  require("wpo.aws.retry").reset()
  local bench = critical.new { url = f.url, region = "eu-west-1", latency = LATENCY, rate_limit = rate_limit,
    parallelism = PARALLELISM }
  local stack = require("wpo.stack").load(REPO .. "/stacks/prod.lua", {})
  local st = critical.memstate()
  f:faults { latency_ms = LATENCY }
  local r = bench:run(stack, st, false)
  print(critical.line("apply", r, GOAL))
  if SHOW_CHAIN then print("    longest chain: " .. table.concat(r.path, " -> ")) end
  f:faults {}
  return r
end

local ok, err = pcall(function()
  print(string.format("stacks/prod.lua against fakeaws, %d ms per call, --parallelism %d:", LATENCY, PARALLELISM))
  print(" as wpo runs (client-side rate limits on):")
  local limited = measure(nil)
  print(" client-side rate limits off:")
  local free = measure(false)
  local cost = limited.wall - free.wall
  if cost > 0.05 * free.wall then
    print(string.format("  note: the client-side rate limits cost the apply %.2fs (%.0f%%)", cost,
      100 * cost / free.wall))
  end
end)
f:faults {}
f:stop()
if not ok then error(err, 0) end
