-- bench/destroy_bench.lua — destroying the whole prod stack (stacks/prod.lua,
-- with protect = false: deletion protection and prevent_destroy off) against
-- tests/fakeaws with --settle 1 (every transition shows once in a describe
-- before it completes) and LATENCY ms per call, with real poll
-- intervals (aws.wait's scale back to WPO_WAIT_SCALE: run it unset). The
-- stack is first applied with waits scaled down (not measured).
--
-- Figure: wall time of the destroy (its refresh included, as wpo destroy
-- runs it) divided by its critical-path bound: the longest chain of calls
-- through the destroy's dependency graph (bench/critical.lua: each
-- resource's calls in sequence, after its dependencies'; plus the most
-- calls one resource's refresh read made) x the latency. The calls are the
-- ones this run made (answers from the run's read cache are not counted:
-- they reach no AWS); they include the one describe per wait that shows the
-- transitional state — what fakeaws --settle 1 imposes — and any further
-- polls of this run (which only lengthen the bound). fakeaws imposes no other
-- time. Goal: <= 1.5.
--
-- Run twice: without the read cache (each object described again by the
-- delete path after the refresh) and with it (wpo as it runs); prints the
-- read calls fakeaws answered during each destroy.
--   wpo lua bench/destroy_bench.lua [--latency MS] [--chain]
local REPO = os.getenv("WPO_REPO") or "."
package.path = REPO .. "/tests/lua/?.lua;" .. REPO .. "/bench/?.lua;" .. package.path

local aws = require "wpo.aws"
local client = require "wpo.aws.client"
local critical = require "critical"
local fakeaws = require "fakeaws"

local LATENCY, SHOW_CHAIN = 100, false
for i = 1, #arg do
  if arg[i] == "--latency" then LATENCY = tonumber(arg[i + 1]) end
  if arg[i] == "--chain" then SHOW_CHAIN = true end
end
local GOAL = 1.5
local HAS_CACHE = pcall(require, "wpo.aws.readcache")

local f = fakeaws.start { region = "eu-west-1", settle = 1 }

-- stacks/prod.lua with protect = false, in a file of its own
local STACK = os.tmpname() .. ".lua"
do
  local src = assert(io.open(REPO .. "/stacks/prod.lua")):read("a")
  local text, n = src:gsub("protect%s*=%s*true", "protect = false")
  assert(n == 1, "bench/destroy_bench.lua: stacks/prod.lua no longer says protect = true")
  local out = assert(io.open(STACK, "w"))
  out:write(text)
  out:close()
end

-- read calls fakeaws answered ({ "svc.Op" = n } -> reads, all)
local function reads(counts)
  local r, all = 0, 0
  for name, n in pairs(counts) do
    local service, op = name:match("^([^.]+)%.(.+)$")
    all = all + n
    if service and client.is_read(service, op) then r = r + n end
  end
  return r, all
end

local function destroy(label, cached)
  f:reset()
  f:hosted_zone("example.com")   -- stacks/prod.lua looks its zone up
  require("wpo.aws.typekit").forget()   -- fakeaws forgot what this process made: so does wpo
  require("wpo.aws.retry").reset()
  local bench = critical.new { url = f.url, region = "eu-west-1", latency = LATENCY }
  local stack = require("wpo.stack").load(STACK, {})
  local st = critical.memstate()
  aws.set_wait_scale(0.001)
  bench:run(stack, st, false)
  aws.set_wait_scale(nil)
  -- `wpo destroy` is a process of its own: its rate limiter starts with full
  -- buckets, not with what the setup's apply left in this one
  require("wpo.aws.retry").reset()
  local before = f:calls()
  f:faults { latency_ms = LATENCY }
  local r = bench:run(stack, st, true, cached and "cached" or true)
  f:faults {}
  local after = f:calls()
  local diff = {}
  for k, n in pairs(after) do diff[k] = n - (before[k] or 0) end
  local nreads, nall = reads(diff)
  print(string.format(" %s:", label))
  print(critical.line("destroy", r, GOAL))
  print(string.format("           %d calls reached fakeaws, %d of them reads; the refresh took %.2fs "
    .. "(its longest read: %d calls)", nall, nreads, r.refresh_wall, r.refresh_chain))
  local rc = cached and require("wpo.aws.readcache").of(st)
  if rc then
    print(string.format("           read cache: %d answers kept by the refresh, %d taken, %d dropped by a write, "
      .. "%d too old", rc.stats.stored, rc.stats.taken, rc.stats.dropped, rc.stats.stale))
  end
  if SHOW_CHAIN then
    print("    longest chain: " .. table.concat(r.path, " -> "))
    print("    most time lost:")
    for _, l in ipairs(critical.slack(r, 15)) do print(l) end
  end
  return r, nreads
end

local ok, err = pcall(function()
  print(string.format("stacks/prod.lua destroyed against fakeaws --settle 1, %d ms per call, real poll intervals:",
    LATENCY))
  local _, reads_before = destroy("without the read cache", false)
  if not HAS_CACHE then
    print("this stdlib has no wpo.aws.readcache: the destroy with it is not measured")
    return
  end
  local r, reads_after = destroy("with the run's read cache (as wpo runs)", true)
  print(string.format("destroy: %.1f s, bound %.1f s, ratio %.2f (goal <= %.1f); read calls %d before dedup, "
    .. "%d after", r.wall, r.bound, r.ratio, GOAL, reads_before, reads_after))
end)
aws.set_wait_scale(nil)
f:faults {}
f:stop()
os.remove(STACK)
os.remove((STACK:gsub("%.lua$", "")))
if not ok then error(err, 0) end
