-- bench/eventual_bench.lua — the prod stack (stacks/prod.lua) applied against
-- tests/fakeaws with LATENCY ms per call and AWS's eventual consistency on
-- (--eventual SECONDS: every new EC2 object, IAM change, listener, launch
-- template version, Route 53 change seen late by a seeded random delay of up
-- to that long), into an empty account.
--
-- The bound is the critical path through the run's dependency graph where a
-- resource weighs its calls x the latency (bench/critical.lua) plus the
-- propagation delays fakeaws imposed on it: for each thing it met late, what
-- remained of its delay when fakeaws first answered "not yet" (a client
-- retrying the very moment AWS shows it would wait exactly that; fakeaws logs
-- it, by request id). Calls answered "not yet" are waiting, not work: they are
-- not counted. wall / bound is what wpo's waits (backoff, polling) add on top
-- of what AWS imposed. Goal: <= 1.15. Which object gets which delay depends
-- on the order of the creates, which concurrency varies: the run is repeated
-- (--runs, default 3, seeds SEED, SEED+1, ...) and the worst ratio is the figure.
--   wpo lua bench/eventual_bench.lua [--latency MS] [--eventual SECONDS] [--seed N] [--runs N]
--       [--parallelism N] [--chain]
local REPO = os.getenv("WPO_REPO") or "."
package.path = REPO .. "/tests/lua/?.lua;" .. REPO .. "/bench/?.lua;" .. package.path

local aws = require "wpo.aws"
local kit = require "wpo.aws.typekit"
local critical = require "critical"
local fakeaws = require "fakeaws"

local LATENCY, EVENTUAL, SEED, SHOW_CHAIN, PARALLELISM, RUNS = 100, 3, 18, false, 16, 3
for i = 1, #arg do
  if arg[i] == "--latency" then LATENCY = tonumber(arg[i + 1]) end
  if arg[i] == "--eventual" then EVENTUAL = tonumber(arg[i + 1]) end
  if arg[i] == "--seed" then SEED = tonumber(arg[i + 1]) end
  if arg[i] == "--chain" then SHOW_CHAIN = true end
  if arg[i] == "--parallelism" then PARALLELISM = tonumber(arg[i + 1]) end
  if arg[i] == "--runs" then RUNS = tonumber(arg[i + 1]) end
end
local GOAL = 1.15

local f = fakeaws.start { region = "eu-west-1", settle = 0 }
-- transitions settle at once, polls are short; Route 53's PENDING lasts real
-- seconds, which its wait's (scaled) timeout must allow
aws.set_wait_scale(0.01)

local function measure(seed)
  f:reset()
  f:hosted_zone("example.com")   -- stacks/prod.lua looks its zone up
  require("wpo.aws.typekit").forget()   -- fakeaws forgot what this process made: so does wpo
  f:eventual { seconds = EVENTUAL, seed = seed }
  require("wpo.aws.retry").reset()
  kit.forget()
  local events = {}
  kit.on_late = function(e) events[#events + 1] = e end
  local bench = critical.new { url = f.url, region = "eu-west-1", latency = LATENCY, parallelism = PARALLELISM }
  local stack = require("wpo.stack").load(REPO .. "/stacks/prod.lua", {})
  f:faults { latency_ms = LATENCY }
  local r = bench:run(stack, critical.memstate(), false)
  f:faults {}
  kit.on_late = nil
  local shaped = f:eventual()
  local imposed = critical.imposed(shaped.log, bench.requests, events)
  local seconds, total_imposed, polls = {}, 0, 0
  for _, a in ipairs(r.plan.actions) do
    local i = imposed[a.address] or { seconds = 0, polls = 0 }
    seconds[a.address] = ((r.counts[a.address] or 0) - i.polls) * LATENCY / 1000 + i.seconds
    total_imposed, polls = total_imposed + i.seconds, polls + i.polls
  end
  local bound, path = critical.weighted_path(r.plan, seconds)
  local on_path = 0
  for _, entry in ipairs(path) do
    local address = entry:match("^(%S+)")
    on_path = on_path + ((imposed[address] or {}).seconds or 0)
  end
  local refused = 0
  for _, e in ipairs(events) do refused = refused + e.refused end
  print(string.format(" seed %d:", seed))
  print(string.format("  %d resources, %d calls (%d refused for what AWS had not propagated yet, %d answered "
    .. "PENDING); %d delays drawn", r.resources, r.calls, refused, polls, #shaped.delays))
  print(string.format("  critical path of calls alone %.2fs; with the delays imposed on it (%.2fs of %.2fs in all) "
    .. "%.2fs", r.bound, on_path, total_imposed, bound))
  print(string.format("  wall %.2fs: ratio %.3f (goal <= %.2f)", r.wall, r.wall / bound, GOAL))
  local ratio = r.wall / bound
  if SHOW_CHAIN then
    print("    longest chain: " .. table.concat(path, " -> "))
    local waits = {}
    for _, e in ipairs(events) do
      waits[#waits + 1] = string.format("    %-45s %-26s %5.2fs, %d refused: %s", e.address, e.condition, e.waited,
        e.refused, e.subject)
    end
    table.sort(waits)
    print("    late waits:")
    for _, l in ipairs(waits) do print(l) end
    -- where time went beyond the weights: queued after the last dependency
    -- finished, or longer than its weight
    local rows = {}
    for _, a in ipairs(r.plan.actions) do
      local t = r.times[a.id]
      if t and t.finish then
        local ready = 0
        for _, w in ipairs(a.waits_for) do
          local d = r.times[w]
          if d and d.finish and d.finish > ready then ready = d.finish end
        end
        rows[#rows + 1] = { a.address, (t.start - ready) / 1000, (t.finish - t.start) / 1000 - seconds[a.address],
          t.finish / 1000 }
      end
    end
    table.sort(rows, function(x, y) return x[4] > y[4] end)
    print("    last to finish (finished at, over its weight, queued):")
    for i = 1, math.min(15, #rows) do
      print(string.format("    %-50s %6.2fs %+6.2fs %6.2fs", rows[i][1], rows[i][4], rows[i][3], rows[i][2]))
    end
  end
  return ratio
end

local ok, err = pcall(function()
  print(string.format("stacks/prod.lua against fakeaws, %d ms per call, --eventual %g, --parallelism %d:", LATENCY,
    EVENTUAL, PARALLELISM))
  local worst = 0
  for run = 1, RUNS do worst = math.max(worst, measure(SEED + run - 1)) end
  print(string.format("ratio %.3f, the worst of %d runs (goal <= %.2f)", worst, RUNS, GOAL))
end)
kit.on_late = nil
f:stop()
if not ok then error(err, 0) end
