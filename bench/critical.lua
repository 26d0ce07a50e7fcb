-- bench/critical.lua — what the apply benchmarks share (compute_bench.lua,
-- wordpress_bench.lua): apply a stack in this process against tests/fakeaws,
-- count the calls each resource makes, and compare the wall time with the
-- critical-path bound: the longest chain through the plan's dependency graph
-- of (calls a resource makes, in sequence) x the latency fakeaws adds to each.
-- Not a benchmark itself (bench/run runs *_bench.lua only).
--
--   local critical = require "critical"
--   local b = critical.new { url = f.url, region = "eu-west-1", latency = 100, rate_limit = false }
--   local st = critical.memstate()
--   local r = b:run(stack, st, false)   -- { wall, bound, chain, calls, resources, ratio, path }
--   print(critical.line("apply", r, 1.15))
local aws = require "wpo.aws"
local loop = require "wpo.core.loop"
local resource = require "wpo.resource"

local M = {}

local OPTIONS = { url = true, region = true, latency = true, rate_limit = true, parallelism = true }

local Bench = {}
Bench.__index = Bench

local COUNTED = { call = true, pcall = true, invoke = true, collect = true, paginate = true }

-- critical.new(opts) -> bench; installs counting clients on every resource
-- context (one per process: the last bench made counts). The clients wait for
-- what AWS resolves late as wpo's do (wpo.aws.typekit's late_call); each call
-- that reaches AWS is counted once, whatever the late waits inside it, and
-- its request id kept (bench.requests[address]) for critical.imposed.
-- opts: url (fakeaws), region, latency (ms per call), rate_limit (false turns
-- the client-side token buckets off; default: on, as wpo runs), parallelism (16).
function M.new(opts)
  for k in pairs(opts) do
    if not OPTIONS[k] then error("critical.new: unknown option '" .. tostring(k) .. "'", 2) end
  end
  local self = setmetatable({ opts = opts, calls = {}, requests = {} }, Bench)
  local calls, requests = self.calls, self.requests
  local kit = require "wpo.aws.typekit"
  local Context = getmetatable(resource.context { address = "x", stack = "s" })
  Context.aws = function(ctx, service, copts)
    ctx.clients = ctx.clients or {}
    local key = service .. (copts and copts.region or "")
    if not ctx.clients[key] then
      local o = { region = copts and copts.region or ctx.region or opts.region, endpoint = opts.url,
        credentials = { access_key = "test", secret_key = "test" } }
      if opts.rate_limit == false then o.rate_limit = false end
      o.late = kit.late_call(ctx)
      -- a plan's refresh reads with read-only clients; the run's read cache
      -- (wpo.aws.readcache, when the stdlib has one) is filled by those and
      -- taken from by the apply's
      if ctx.read_only then o.read_only = true end
      if ctx.read_cache then o.read_cache = ctx.read_cache end
      local c = aws.client(service, o)
      local address = ctx.address
      local function noted(ok, out, meta, ...)
        -- an answer from the run's read cache reached no AWS: not counted
        if not (ok and type(meta) == "table" and meta.cached) then calls[address] = (calls[address] or 0) + 1 end
        if ok and type(meta) == "table" and meta.request_id then
          local l = requests[address] or {}
          requests[address] = l
          l[#l + 1] = meta.request_id
        end
        if not ok then error(out, 0) end
        return out, meta, ...
      end
      ctx.clients[key] = setmetatable({}, { __index = function(_, k)
        local fn = c[k]
        if type(fn) ~= "function" then return fn end
        return function(_, ...)
          if k == "call" then return noted(pcall(fn, c, ...)) end
          if k == "pcall" then
            local out, meta = fn(c, ...)
            if not (out ~= nil and type(meta) == "table" and meta.cached) then
              calls[address] = (calls[address] or 0) + 1
            end
            return out, meta
          end
          if COUNTED[k] then calls[address] = (calls[address] or 0) + 1 end
          return fn(c, ...)
        end
      end })
    end
    return ctx.clients[key]
  end
  return self
end

-- critical.memstate() -> a state held in memory (nothing written anywhere)
function M.memstate()
  local st = { resources = {}, outputs = {}, generations = {}, serial = 0, lineage = "bench", exists = true }
  function st:get(a) return self.resources[a] end
  function st:set(a, r) self.resources[a] = r end
  function st:remove(a) self.resources[a] = nil end
  function st:addresses()
    local l = {}
    for a in pairs(self.resources) do l[#l + 1] = a end
    table.sort(l)
    return l
  end
  function st:save() self.serial = self.serial + 1 end
  function st:commit() self:save() end     -- what apply commits after each resource (a journal entry)
  return st
end

M.silent = setmetatable({}, { __index = function() return function() end end })

-- The longest chain of weight[address] through the plan's graph: each
-- action's own weight after the heaviest chain among the actions it waits
-- for. -> length, the addresses along it, each labelled by label(weight)
local function heaviest(p, weight, label)
  local memo, via = {}, {}
  local function longest(id)
    if memo[id] then return memo[id] end
    local a = p.by_id[id]
    local best = 0
    for _, w in ipairs(a.waits_for) do
      if p.by_id[w] then
        local n = longest(w)
        if n > best then best, via[id] = n, w end
      end
    end
    memo[id] = best + (weight[a.address] or 0)
    return memo[id]
  end
  local n, last = 0, nil
  for _, a in ipairs(p.actions) do
    local l = longest(a.id)
    if l > n then n, last = l, a.id end
  end
  local chain = {}
  while last do
    local address = p.by_id[last].address
    table.insert(chain, 1, address .. " (" .. label(weight[address] or 0) .. ")")
    last = via[last]
  end
  return n, chain
end

-- critical.path(p, calls) -> length (calls), the addresses along it
function M.path(p, calls)
  return heaviest(p, calls, tostring)
end

-- critical.weighted_path(p, seconds) -> length (seconds), the addresses along it
function M.weighted_path(p, seconds)
  return heaviest(p, seconds, function(v) return string.format("%.2fs", v) end)
end

-- critical.imposed(log, requests, late_events) -> { [address] = { seconds, polls } }
-- What fakeaws's eventual consistency imposed on each resource: for each
-- subject a resource met late (a refusal, a Route 53 change PENDING), the
-- time that remained of its delay at the first answer it shaped (an ideal
-- client, retrying the moment AWS shows it, waits exactly that); polls =
-- the resource's counted calls that were answered PENDING (waiting, not work).
-- log: fakeaws's eventual log; requests: bench.requests; late_events: the
-- typekit.on_late events (their request_id is the first refused call's).
function M.imposed(log, requests, late_events)
  local owner = {}
  for address, ids in pairs(requests) do
    for _, id in ipairs(ids) do owner[id] = address end
  end
  for _, e in ipairs(late_events) do
    if e.request_id then owner[e.request_id] = e.address end
  end
  local most, polls = {}, {}
  for _, e in ipairs(log) do
    local address = owner[e.request_id]
    if address then
      most[address] = most[address] or {}
      local cur = most[address][e.subject]
      if not cur or e.remaining > cur then most[address][e.subject] = e.remaining end
      if e.answer == "PENDING" then polls[address] = (polls[address] or 0) + 1 end
    end
  end
  local out = {}
  for address, subjects in pairs(most) do
    local sum = 0
    for _, r in pairs(subjects) do sum = sum + r end
    out[address] = { seconds = sum, polls = polls[address] or 0 }
  end
  return out
end

-- bench:run(stack, st, destroy, refresh?) -> { wall, bound, chain, calls, resources, ratio, path, plan,
-- refresh_chain }; with refresh, the plan refreshes the state first (as wpo
-- run/destroy do; its time is in wall, and the most calls one resource's
-- read made is added to the chain: the reads run side by side), and the run
-- gets a read cache when the stdlib has one (wpo.aws.readcache)
function Bench:run(stack, st, destroy, refresh)
  local plan, apply = require "wpo.plan", require "wpo.apply"
  for k in pairs(self.calls) do self.calls[k] = nil end
  for k in pairs(self.requests) do self.requests[k] = nil end
  local t_refresh = loop.now()
  local drift, refresh_chain = {}, 0
  if refresh then
    if refresh == "cached" then require("wpo.aws.readcache").start(st) end
    drift = plan.refresh(stack, st, { parallelism = self.opts.parallelism or 16 })
    for k, n in pairs(self.calls) do
      if n > refresh_chain then refresh_chain = n end
      self.calls[k] = nil
    end
  end
  local p = plan.make(stack, st, { destroy = destroy, drift = drift })
  local t0 = loop.now()
  local refresh_wall = (t0 - t_refresh) / 1000
  -- when each action started and finished (ms since t0), for critical.slack
  local times = {}
  local reporter = setmetatable({
    start = function(_, a) times[a.id] = { start = loop.now() - t0 } end,
    finish = function(_, a) times[a.id].finish = loop.now() - t0 end,
  }, { __index = M.silent })
  local r = apply.run(p, stack, st, { parallelism = self.opts.parallelism or 16, reporter = reporter })
  local wall = (loop.now() - (refresh and t_refresh or t0)) / 1000
  if not r.ok then
    local f = r.failures and r.failures[1]
    error("apply failed: " .. tostring(f and (f.address or "") .. ": " .. tostring(f.err)), 0)
  end
  local total = 0
  for _, n in pairs(self.calls) do total = total + n end
  local chain, path = M.path(p, self.calls)
  chain = chain + refresh_chain
  local bound = chain * self.opts.latency / 1000
  return { wall = wall, bound = bound, chain = chain, calls = total, resources = #p.actions,
    refresh_chain = refresh_chain, refresh_wall = refresh_wall, ratio = wall / bound, path = path, plan = p, times = times,
    latency = self.opts.latency,
    counts = (function() local c = {} for k, v in pairs(self.calls) do c[k] = v end return c end)() }
end

-- critical.slack(r, n) -> lines: the n actions that lost the most time,
-- either waiting to start after their last dependency finished (queued:
-- the parallelism limit) or running longer than their calls x the latency
-- (overhead: client, scheduler, waits)
function M.slack(r, n)
  local rows = {}
  for _, a in ipairs(r.plan.actions) do
    local t = r.times[a.id]
    if t and t.finish then
      local ready = 0
      for _, w in ipairs(a.waits_for) do
        local d = r.times[w]
        if d and d.finish and d.finish > ready then ready = d.finish end
      end
      local own = (r.counts[a.address] or 0) * r.latency
      rows[#rows + 1] = { address = a.address, queued = t.start - ready, over = (t.finish - t.start) - own,
        calls = r.counts[a.address] or 0, took = t.finish - t.start }
    end
  end
  table.sort(rows, function(x, y) return x.queued + x.over > y.queued + y.over end)
  local out = {}
  for i = 1, math.min(n, #rows) do
    local x = rows[i]
    out[i] = string.format("    %-50s %2d calls in %5.0f ms: %5.0f ms over, %5.0f ms queued", x.address, x.calls,
      x.took, x.over, x.queued)
  end
  return out
end

-- critical.line(label, r, goal) -> one line of figures
function M.line(label, r, goal)
  return string.format("  %-8s %3d resources, %4d calls, longest chain %3d calls: wall %.2fs, bound %.2fs, "
    .. "ratio %.3f (goal <= %.2f)", label, r.resources, r.calls, r.chain, r.wall, r.bound, r.ratio, goal)
end

return M
