-- bench/sandbox_bench.lua: what the stack sandbox costs. The offline plan of
-- stacks/prod.lua (load + plan, no state, no AWS) is timed in this process
-- with the sandbox (budgets, views, copies) and bare (the same environment
-- without them), alternating, and the fastest of each compared; the figure is the
-- sandbox's extra time as a share of the sandboxed plan. Goal: under 5%.
--   wpo lua bench/sandbox_bench.lua        (make bench runs it)
local plan = require "wpo.plan"
local stack = require "wpo.stack"

local ROUNDS = 61
local path = (os.getenv("WPO_REPO") or ".") .. "/stacks/prod.lua"

local function once(bare)
  local t0 = os.clock()
  local s = stack.load(path, { bare = bare })
  -- no state: everything to create, as `wpo plan` on a new stack
  local st = { resources = {}, outputs = {}, generations = {}, serial = 0, lineage = "L-1", exists = false }
  function st.get() return nil end
  function st.addresses() return {} end
  plan.make(s, st, {})
  return (os.clock() - t0) * 1000
end

-- the fastest run of each: what the code costs with the least interference
-- from other processes on a shared machine
local function fastest(xs)
  table.sort(xs)
  return xs[1]
end

for _ = 1, 3 do once(false); once(true) end   -- warm: modules loaded, caches filled
local sandboxed, bare = {}, {}
for i = 1, ROUNDS do
  sandboxed[i] = once(false)
  bare[i] = once(true)
end
local ms, mb = fastest(sandboxed), fastest(bare)

-- the whole command, as a user runs it (its own process: start, load, plan, print)
local wpo = os.getenv("WPO") or "./wpo"
local whole = {}
for i = 1, 21 do
  local p = io.popen(string.format("s=$(date +%%s%%N); %s plan %s >/dev/null 2>&1; e=$(date +%%s%%N); echo $(( (e - s) / 1000 ))",
    wpo, path))
  whole[i] = tonumber(p:read("a")) / 1000
  p:close()
end
local mw = fastest(whole)
local share = (ms - mb) / mw * 100
print(string.format("prod stack load + plan in process (%d rounds, fastest): sandboxed %.2f ms, bare %.2f ms (+%.2f ms, +%.0f%%)",
  ROUNDS, ms, mb, ms - mb, (ms - mb) / mb * 100))
print(string.format("wpo plan stacks/prod.lua: %.1f ms (fastest of 21)", mw))
print(string.format("sandbox cost: %.1f%% of the offline prod plan   goal: < 5%%   %s", share, share < 5 and "ok" or "MISSED"))
