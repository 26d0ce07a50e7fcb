-- bench/wordpress_bench.lua — the whole prod stack (stacks/prod.lua, ~107
-- resources) applied against tests/fakeaws with LATENCY ms per call
-- (transitions settle at once; waits poll at a thousandth of their interval)
-- into an empty account:
-- wall time divided by the critical-path bound, i.e. the longest chain of
-- calls through the same run's dependency graph (each resource's own calls, in
-- sequence, then its dependents') times the latency (method and code shared
-- with compute_bench.lua in bench/critical.lua). Goal: <= 1.15.
--
-- Measured three times: as wpo runs (client-side rate limits on,
-- --parallelism 16: the figure), then without the token buckets, then also
-- with --parallelism 64 (the scheduler alone), so what the limits and the
-- parallelism cost shows apart. --chain prints the longest chain and the
-- resources that lost the most time (queued, or slower than their calls).
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

-- CPU seconds used so far by a process (utime + stime of /proc/PID/stat)
local function cpu_of(pid)
  local fh = io.open("/proc/" .. math.tointeger(pid) .. "/stat")
  if not fh then return 0 end
  local line = fh:read("l")
  fh:close()
  local fields = {}
  for x in line:gsub("^.*%) ", ""):gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

local function measure(label, rate_limit, parallelism)
  f:reset()
  f:hosted_zone("example.com")   -- stacks/prod.lua looks its zone up
  require("wpo.aws.typekit").forget()   -- fakeaws forgot what this process made: so does wpo
  require("wpo.aws.retry").reset()
  local bench = critical.new { url = f.url, region = "eu-west-1", latency = LATENCY, rate_limit = rate_limit,
    parallelism = parallelism }
  local stack = require("wpo.stack").load(REPO .. "/stacks/prod.lua", {})
  local st = critical.memstate()
  f:faults { latency_ms = LATENCY }
  local server0, client0 = cpu_of(f.pid), os.clock()
  local r = bench:run(stack, st, false)
  print(string.format(" %s (client-side rate limits %s, --parallelism %d):", label,
    rate_limit == false and "off" or "on", parallelism))
  print(critical.line("apply", r, GOAL))
  print(string.format("           CPU during it: fakeaws %.2fs, wpo %.2fs", cpu_of(f.pid) - server0,
    os.clock() - client0))
  if SHOW_CHAIN then
    print("    longest chain: " .. table.concat(r.path, " -> "))
    print("    most time lost:")
    for _, l in ipairs(critical.slack(r, 15)) do print(l) end
  end
  f:faults {}
  return r
end

local ok, err = pcall(function()
  print(string.format("stacks/prod.lua against fakeaws, %d ms per call:", LATENCY))
  local as_run = measure("as wpo runs", nil, PARALLELISM)
  local free = measure("without the token buckets", false, PARALLELISM)
  local wide = measure("the scheduler alone", false, 64)
  print(string.format("ratio %.3f as wpo runs (goal <= %.2f); %.3f for the scheduler alone", as_run.ratio, GOAL,
    wide.ratio))
  -- what keeps the default run from its bound
  local limits, width = as_run.wall - free.wall, free.wall - wide.wall
  if limits > 0.05 * as_run.bound then
    print(string.format("  the client-side rate limits (token buckets, e.g. EC2 100 then 20/s) cost %.2fs", limits))
  end
  if width > 0.05 * as_run.bound then
    print(string.format("  --parallelism %d costs %.2fs against 64 (more than %d resources are ready at once)",
      PARALLELISM, width, PARALLELISM))
  end
end)
f:faults {}
f:stop()
if not ok then error(err, 0) end
