-- wpo.rollout: roll a fleet of stacks to one ref, in waves.
--
-- rollout.run(opts) -> report, exit status
--   1. plans every stack at the ref (at most max_parallel at once);
--      dry_run stops there (one line per stack with its counts);
--   2. applies in waves: the canary (the first `canary` stacks), then the
--      waves (cumulative shares of the fleet, "10%,50%,100%", or counts),
--      at most max_parallel stacks at once, each with its own state and lock;
--   3. at the first failure, starts no new stack (in-flight ones finish) and
--      no later wave; keep_going runs everything it can instead;
--   4. writes the rollout record after every stack, so resume (the record
--      given back as opts.resume) runs only what is not done.
-- A live line per stack as it starts and ends goes to opts.log; the report
-- is the final table: stack, from → to, result, changes, duration.
--
-- opts = {
--   ref = "v1.4.0", stacks = { "stacks/customers/acme.lua", ... },
--   executor = { plan = fn(target) -> result, apply = fn(target, planned) -> result,
--                release = fn(planned)? (called once per planned stack at the end),
--                interrupt = fn(count) -> message | nil (on each SIGINT while
--                applying; the message replaces the default one) },
--   canary = 1, waves = "10%,50%,100%" (or parsed), max_parallel = 4,
--   keep_going = false, dry_run = false,
--   record = fn(record) (persist the record; called after every change),
--   resume = record (a record written by an earlier run),
--   log = fn(line) (live progress), now = fn() -> seconds (monotonic),
--   confirm = fn(record) -> boolean (asked after planning, before applying),
--   interrupt = true: SIGINT stops starting stacks (running ones finish),
-- }
-- A target is { path, ref, memo, save }: memo is a table kept in the
-- rollout record with the stack (the executor's own notes, e.g. the task it
-- started, there again when the rollout is resumed), save() writes the
-- record now. An executor result is { ok = boolean, err = message (not ok),
--   counts = { add = n, change = n, destroy = n, read = n, forget = n } (a plan's summary),
--   from = provenance | nil, to = provenance, planned = what apply and
--   release are given, details = { lines } (shown under a failure, e.g. the
--   end of a log) }.
-- The local executor is wpo.rollout.local, the ECS one wpo.rollout.ecs.
-- Stacks run as wpo.task tasks; the executor may yield (await) inside.
local errors = require "wpo.errors"
local gitmod = require "wpo.git"
local plan = require "wpo.plan"
local task = require "wpo.task"
local text = require "wpo.text"

local M = {}

M.RECORD_VERSION = 1

local function fail(fmt, ...)
  return nil, errors.new { code = "BadRollout", message = string.format(fmt, ...) }
end

-- rollout.parse_waves("10%,50%,100%") -> { {percent = 10}, ..., {count = 3} } | nil, err
function M.parse_waves(s)
  if type(s) == "table" then return s end
  assert(type(s) == "string", "rollout.parse_waves: a string like 10%,50%,100%")
  local out = {}
  for item in (s .. ","):gmatch("([^,]*),") do
    item = item:match("^%s*(.-)%s*$")
    local pct = item:match("^(%d+)%%$")
    if pct then
      pct = tonumber(pct)
      if pct < 1 or pct > 100 then return fail("--waves: %s is not between 1%% and 100%%", item) end
      out[#out + 1] = { percent = pct }
    elseif item:match("^%d+$") and tonumber(item) > 0 then
      out[#out + 1] = { count = tonumber(item) }
    else
      return fail("--waves: '%s' is neither a share (10%%) nor a count (3); e.g. --waves 10%%,50%%,100%%", item)
    end
  end
  if #out == 0 then return fail("--waves: no wave given; e.g. --waves 10%%,50%%,100%%") end
  return out
end

-- rollout.plan_waves(n, canary, waves) -> { { label, first, last }... }
-- Indexes into the (ordered) fleet of n stacks. Shares and counts are
-- cumulative and include the canary; a wave that would add nothing is
-- dropped; what the last wave leaves out forms a final wave.
function M.plan_waves(n, canary, waves)
  local out, done = {}, 0
  canary = math.min(canary or 1, n)
  if canary > 0 then
    out[1] = { label = "canary", first = 1, last = canary }
    done = canary
  end
  for _, w in ipairs(waves) do
    local target = w.percent and math.ceil(n * w.percent / 100) or math.min(n, w.count)
    if target > done then
      out[#out + 1] = { label = w.percent and (w.percent .. "%") or tostring(w.count), first = done + 1, last = target }
      done = target
    end
  end
  if done < n then out[#out + 1] = { label = "rest", first = done + 1, last = n } end
  return out
end

local function count_changes(counts)
  return counts and plan.count_changes(counts) or 0
end
M.count_changes = count_changes

local function counts_text(counts)
  counts = counts or {}
  return string.format("+%d ~%d -%d", counts.add or 0, counts.change or 0, counts.destroy or 0)
end
M.counts_text = counts_text

local function message_of(err)
  if err == nil then return "failed" end
  return (tostring(err):gsub("\n.*", ""))
end

-- Runs fn(entry) for every entry, at most max at once, as tasks; returns
-- when all have finished. should_start() is asked before each start.
local function run_parallel(entries, max, fn, should_start)
  local sem = task.semaphore(max)
  local tasks = {}
  for _, entry in ipairs(entries) do
    tasks[#tasks + 1] = task.spawn(function()
      sem:acquire()
      local ok, err = pcall(function()
        if should_start and not should_start(entry) then return end
        fn(entry)
      end)
      sem:release()
      if not ok then error(err, 0) end
    end)
  end
  for _, t in ipairs(tasks) do task.join(t) end
end

local function new_record(opts, stacks, waves)
  local record = {
    version = M.RECORD_VERSION, ref = opts.ref, canary = opts.canary, waves = opts.waves_text,
    max_parallel = opts.max_parallel, keep_going = opts.keep_going or false,
    started = os.time(), stacks = {},
  }
  for i, w in ipairs(waves) do
    for k = w.first, w.last do
      record.stacks[k] = { path = stacks[k], wave = i, wave_label = w.label, status = "pending" }
    end
  end
  return record
end

local OPTION_KEYS = {
  ref = true, stacks = true, executor = true, canary = true, waves = true, max_parallel = true,
  keep_going = true, dry_run = true, record = true, resume = true, log = true, now = true,
  confirm = true, interrupt = true,
}

-- ---- rollout.run, in stages: a Rollout holds what they share ----
local Rollout = {}
Rollout.__index = Rollout

local function check_run_options(opts)
  for k in pairs(opts) do
    if not OPTION_KEYS[k] then
      local valid = text.sorted_keys(OPTION_KEYS)
      error(string.format("rollout.run: unknown option '%s' (valid: %s)", tostring(k), table.concat(valid, ", ")), 3)
    end
  end
  assert(opts.executor and opts.executor.plan and opts.executor.apply, "rollout.run: executor with plan and apply")
end

-- The record to run: the resumed one, or a new one over the stacks in
-- waves. -> record, max_parallel | nil, err
local function open_record(opts)
  local max_parallel = opts.max_parallel or 4
  if opts.resume then
    local record = opts.resume
    if record.version ~= M.RECORD_VERSION then
      return nil, errors.new { code = "BadRollout", message = "the rollout record has version " ..
        tostring(record.version) .. "; this wpo reads version " .. M.RECORD_VERSION }
    end
    record.resumed = (record.resumed or 0) + 1
    max_parallel = opts.max_parallel or math.tointeger(record.max_parallel) or max_parallel
    record.max_parallel = max_parallel
    return record, max_parallel
  end
  local stacks = opts.stacks or {}
  if #stacks == 0 then return fail("no stacks to roll out") end
  local waves, err = M.parse_waves(opts.waves or "10%,50%,100%")
  if not waves then return nil, err end
  opts.waves_text = type(opts.waves) == "string" and opts.waves or "10%,50%,100%"
  opts.max_parallel = max_parallel
  return new_record(opts, stacks, M.plan_waves(#stacks, opts.canary or 1, waves)), max_parallel
end

-- What the executor is handed for stack s
function Rollout:target(s)
  s.memo = s.memo or {}
  local record, persist = self.record, self.persist
  return { path = s.path, ref = record.ref, memo = s.memo, save = function() persist(record) end }
end

-- 1. Plan every stack still to do, max_parallel at once. -> plans failed
function Rollout:plan_all()
  run_parallel(self.todo, self.max_parallel, function(s)
    local t0 = self.now()
    local ok, result = pcall(self.executor.plan, self:target(s))
    if not ok then result = { ok = false, err = result } end
    self.planned[s] = result
    s.plan_seconds = self.now() - t0
    if result.ok then
      s.from = result.from and gitmod.describe(result.from) or "(new)"
      s.to = result.to and gitmod.describe(result.to) or self.record.ref
      s.counts = result.counts
    else
      s.status, s.error = "failed", "plan: " .. message_of(result.err)
    end
  end)
  local failed = 0
  for _, s in ipairs(self.todo) do if s.status == "failed" then failed = failed + 1 end end
  return failed
end

-- Let the executor drop what it holds for each plan
function Rollout:release_all()
  if self.executor.release then
    for _, result in pairs(self.planned) do pcall(self.executor.release, result.planned) end
  end
end

-- Each stack's plan, or why it failed, logged
function Rollout:log_plans(failed_only)
  for _, s in ipairs(self.todo) do
    if s.status == "failed" then
      self.log(string.format("%s: %s", s.path, s.error))
    elseif not failed_only then
      self.log(string.format("%s: %s → %s: %s", s.path, s.from, s.to, counts_text(s.counts)))
    end
  end
end

-- SIGINT/SIGTERM: start no new stack; the executor may say more
function Rollout:watch_interrupts()
  self.prev_handler = task.on_interrupt(function(n)
    self.interrupted = true
    if not self.stop then self.stop = "interrupted" end
    local message = self.executor.interrupt and self.executor.interrupt(n)
    self.log(message or (n == 1 and "Interrupt: starting no new stack; waiting for the running ones to finish"
      or "Interrupt: still waiting for the running stacks to finish"))
  end)
end

-- Apply one planned stack, recording how it went
function Rollout:apply_one(s)
  local log = self.log
  s.status = "running"
  log(string.format("  %s: applying %s → %s", s.path, s.from, s.to))
  local t0 = self.now()
  local ok, result = pcall(self.executor.apply, self:target(s), self.planned[s].planned)
  if not ok then result = { ok = false, err = result } end
  s.seconds = self.now() - t0
  if result.ok then
    s.status = "done"
    s.counts = result.counts or s.counts
    if result.to then s.to = gitmod.describe(result.to) end
    log(string.format("  %s: done (%d change(s), %s)", s.path, count_changes(s.counts), text.duration(s.seconds)))
  else
    s.status, s.error = "failed", message_of(result.err)
    self.failures = self.failures + 1
    if not self.keep_going and not self.stop then self.stop = s.path .. " failed" end
    log(string.format("  %s: FAILED: %s", s.path, s.error))
    for _, line in ipairs(result.details or {}) do log("    " .. line) end
  end
  self.record.updated = os.time()
  self.persist(self.record)
end

-- 2. Apply wave by wave, stopping at a failure unless keep_going
function Rollout:apply_waves()
  local waves = {}
  for _, s in ipairs(self.todo) do
    if s.status == "pending" then
      waves[s.wave] = waves[s.wave] or { label = s.wave_label, stacks = {} }
      table.insert(waves[s.wave].stacks, s)
    end
  end
  local order = text.sorted_keys(waves)
  table.sort(order)
  for n, index in ipairs(order) do
    local wave = waves[index]
    if self.interrupted or (self.stop and not self.keep_going) then break end
    self.log(string.format("wave %d/%d (%s): %d stack(s)", n, #order, wave.label, #wave.stacks))
    run_parallel(wave.stacks, self.max_parallel, function(s) self:apply_one(s) end,
      function() return not self.interrupted and (self.keep_going or not self.stop) end)
  end
end

-- rollout.run(opts) -> report, exit (see the header). report = { record,
-- rows = { {stack, from, to, result, changes, duration}... }, stopped = reason | nil }
function M.run(opts)
  check_run_options(opts)
  local record, max_parallel = open_record(opts)
  if not record then return nil, max_parallel end
  local keep_going = opts.keep_going
  if keep_going == nil then keep_going = record.keep_going end
  local r = setmetatable({ record = record, max_parallel = max_parallel, keep_going = keep_going,
    executor = opts.executor, persist = opts.record or function() end,
    log = opts.log or function(line) io.stderr:write(line, "\n") end,
    -- (wpo.core.loop looked up at each call: tests swap it, tests/lua/fakecore.lua)
    now = opts.now or function() return require("wpo.core.loop").now() / 1000 end,
    todo = {}, planned = {}, failures = 0 }, Rollout)
  for _, s in ipairs(record.stacks) do
    if s.status ~= "done" then
      s.status, s.error = "pending", nil
      r.todo[#r.todo + 1] = s
    end
  end
  r.persist(record)

  local plan_failed = r:plan_all()
  if opts.dry_run then
    r:log_plans(false)
    for _, s in ipairs(r.todo) do if s.status ~= "failed" then s.status = "pending" end end
    r:release_all()
    return M.report(record, plan_failed > 0 and "dry run; some plans failed" or "dry run"), plan_failed > 0 and 1 or 0
  end
  r.persist(record)
  if plan_failed > 0 and not keep_going then
    r:log_plans(true)
    r:release_all()
    return M.report(record, string.format("%d plan(s) failed; nothing applied", plan_failed)), 1
  end
  for _, s in ipairs(r.todo) do
    if s.status ~= "failed" then
      r.log(string.format("%s: %s → %s: %s", s.path, s.from, s.to, counts_text(s.counts)))
    end
  end
  if opts.confirm and not opts.confirm(record) then
    r:release_all()
    return M.report(record, "cancelled; nothing applied"), 1
  end

  if opts.interrupt then r:watch_interrupts() end
  r.failures = plan_failed
  r:apply_waves()
  if opts.interrupt then task.on_interrupt(r.prev_handler) end
  r:release_all()
  local reason = r.stop and (r.stop .. "; later stacks not started (--resume continues)") or nil
  local unfinished = false
  for _, s in ipairs(record.stacks) do if s.status ~= "done" then unfinished = true end end
  return M.report(record, reason), (r.failures > 0 or unfinished) and 1 or 0
end

-- rollout.report(record, stopped) -> { record, rows, stopped }
function M.report(record, stopped)
  local rows = {}
  for _, s in ipairs(record.stacks) do
    local result = s.status
    if s.status == "pending" and stopped and not stopped:match("^dry run") then result = "not started" end
    rows[#rows + 1] = {
      stack = s.path, from = s.from or "", to = s.to or record.ref, result = result,
      error = s.error, changes = s.counts and math.tointeger(count_changes(s.counts)) or nil,
      duration = s.seconds and text.duration(s.seconds) or "",
    }
  end
  return { record = record, rows = rows, stopped = stopped }
end

-- rollout.render(report) -> the final table as text
function M.render(report)
  local header = { "STACK", "FROM", "TO", "RESULT", "CHANGES", "DURATION" }
  local lines = { header }
  for _, r in ipairs(report.rows) do
    lines[#lines + 1] = { r.stack, r.from, r.to, r.result .. (r.error and (": " .. r.error) or ""),
      r.changes and tostring(r.changes) or "-", r.duration ~= "" and r.duration or "-" }
  end
  local widths = {}
  for _, row in ipairs(lines) do
    for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, utf8.len(cell) or #cell) end
  end
  local out = {}
  for _, row in ipairs(lines) do
    local cells = {}
    for i, cell in ipairs(row) do
      cells[i] = i == #row and cell or (cell .. string.rep(" ", widths[i] - (utf8.len(cell) or #cell)))
    end
    out[#out + 1] = table.concat(cells, "  "):gsub("%s+$", "")
  end
  if report.stopped then out[#out + 1] = "stopped: " .. report.stopped end
  return table.concat(out, "\n") .. "\n"
end

return M
