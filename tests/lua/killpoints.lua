-- tests/lua/killpoints.lua — kill -9 at a chosen moment of an apply or a
-- destroy of a stack (default the staging WordPress stack) against fakeaws,
-- then one recovery run; and the same stack under throttling and 5xx, and
-- with its disk full mid-apply (issue 12's chaos suite).
--
--   local k = killpoints.new(f, stack?)   -- f: fakeaws.start { region = "eu-west-1" }
--   local base = k:baseline()             -- a clean apply and destroy: base.apply_calls,
--                                         -- base.destroy_calls (how many AWS calls each made)
--   k:kill_apply(n)   -> case   kill -9 once fakeaws has seen n calls of the apply,
--                               then `wpo run` once (the recovery run): exit 0, the
--                               objects of a clean run (no duplicate, none missing),
--                               a re-plan with no changes, a destroy leaving nothing
--   k:kill_destroy(n, op?) -> case   a clean apply, then kill -9 once the destroy made n
--                               calls (of op, when given), then `wpo destroy` once:
--                               exit 0, nothing left
--   k:faults(settings) -> case  apply, re-plan and destroy under fakeaws faults
--                               (e.g. { throttle_rate = 0.2, error_rate = 0.05 }),
--                               each repeated until it exits 0 (case.runs: how many)
--   k:full_disk(n)    -> case   the apply's nth state write and every later one fail
--                               with ENOSPC (WPO_FS_FAULT=enospc:n): exit non-zero, the
--                               state on disk whole (valid JSON, the same lineage), then
--                               one recovery run converges as above
--   case = { name, ok, recovery_runs (1 when one run sufficed), duplicates, missing,
--            orphans, detail }
--   killpoints.line(case), killpoints.totals(cases) -> { ..., line }
--
-- A kill lands at a moment fakeaws can observe: the process is killed as soon
-- as GET /_fake/calls shows n calls (it is polled while wpo runs), so the kill
-- falls between calls, inside waits, or while a state write is in flight.
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"
local lostanswers = require "lostanswers"

local M = {}

local Kill = {}
Kill.__index = Kill

function M.new(f, stack)
  local m = lostanswers.new(f, stack)
  return setmetatable({ f = f, m = m, stack = m.stack, root = m.root }, Kill)
end

function Kill:close() self.m:close() end

local function total(calls)
  local n = 0
  for _, c in pairs(calls) do n = n + c end
  return n
end

function Kill:calls() return total(self.f:calls()) end

function Kill:wpo(args, env)
  if not env then return self.m:wpo(args) end
  local e = { WPO_WAIT_SCALE = "0.01", NO_COLOR = "1" }
  for k, v in pairs(self.f.env) do e[k] = v end
  for k, v in pairs(env) do e[k] = v end
  local parts = { "cd " .. h.quote(self.root) .. " && env" }
  for k, v in pairs(e) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
  parts[#parts + 1] = h.quote(self.m.binary)
  for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
  return h.sh(table.concat(parts, " "))
end

function Kill:state_path()
  local name = self.stack:match("([^/]+)%.lua$")
  return self.root .. "/" .. self.stack:gsub("[^/]*$", "") .. ".wpo/" .. name .. ".state.json"
end

-- `wpo ARGS` in the background; its pid
function Kill:start(args)
  local e = { WPO_WAIT_SCALE = "0.01", NO_COLOR = "1" }
  for k, v in pairs(self.f.env) do e[k] = v end
  local parts = { "cd " .. h.quote(self.root) .. " && exec env" }
  for k, v in pairs(e) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
  parts[#parts + 1] = h.quote(self.m.binary)
  for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
  local cmd = "(" .. table.concat(parts, " ") .. ") > " .. h.quote(self.root .. "/killed.out") .. " 2>&1 & echo $!"
  local p = io.popen("sh -c " .. h.quote(cmd))
  local pid = tonumber(p:read("l"))
  p:close()
  return pid
end

local function alive(pid)
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

-- kill -9 pid once fakeaws has seen `until_calls` calls (or, given an
-- operation name such as "ec2.DeleteNatGateway", that many calls of it), or
-- the process ended
function Kill:kill_at(pid, until_calls, op)
  while alive(pid) do
    local seen = op and (self.f:calls()[op] or 0) or self:calls()
    if seen >= until_calls then
      os.execute("kill -9 " .. pid .. " 2>/dev/null")
      while alive(pid) do end
      return true
    end
  end
  return false
end

function Kill:baseline()
  self.m:fresh()
  local r = self:wpo { "run", self.stack, "--yes" }
  assert(r.status == 0, "the clean run failed: " .. r.stdout .. r.stderr)
  local apply_calls = self:calls()
  self.counts = lostanswers.counts(self.f:state())
  r = self:wpo { "destroy", self.stack, "--yes" }
  assert(r.status == 0, "the clean destroy failed: " .. r.stdout .. r.stderr)
  self.base = { apply_calls = apply_calls, destroy_calls = self:calls() - apply_calls, counts = self.counts }
  return self.base
end

-- the last lines of a failed run's output (KILLPOINTS_TAIL lines, default 20;
-- 0: all of it)
local TAIL = tonumber(os.getenv("KILLPOINTS_TAIL") or "") or 20

local function tail(r)
  local lines = {}
  for line in ((r.stdout or "") .. (r.stderr or "")):gmatch("[^\n]+") do lines[#lines + 1] = line end
  return table.concat(lines, "\n", TAIL > 0 and math.max(1, #lines - TAIL + 1) or 1)
end

-- compare what exists with a clean run's
function Kill:compare(c)
  local made = lostanswers.counts(self.f:state())
  local kinds, diffs = {}, {}
  for k in pairs(self.base.counts) do kinds[k] = true end
  for k in pairs(made) do kinds[k] = true end
  for k in pairs(kinds) do
    local want, have = self.base.counts[k] or 0, made[k] or 0
    if have > want then c.duplicates = c.duplicates + have - want end
    if have < want then c.missing = c.missing + want - have end
    if have ~= want then diffs[#diffs + 1] = string.format("%s %d (a clean run: %d)", k, have, want) end
  end
  table.sort(diffs)
  if #diffs > 0 then c.notes[#c.notes + 1] = "after recovery: " .. table.concat(diffs, ", ") end
end

function Kill:leftovers(c)
  local left = lostanswers.counts(self.f:state())
  local out = {}
  for k, n in pairs(left) do
    c.orphans = c.orphans + n
    out[#out + 1] = k .. " " .. n
  end
  table.sort(out)
  if #out > 0 then c.notes[#c.notes + 1] = "left by destroy: " .. table.concat(out, ", ") end
end

-- run args until exit 0, at most `max` times: how many it took (nil: never)
function Kill:until_ok(c, args, max, env)
  local r
  for i = 1, max do
    r = self:wpo(args, env)
    if r.status == 0 then return i end
    if i == 1 then c.notes[#c.notes + 1] = table.concat(args, " ", 1, 1) .. " (recovery run " .. i .. "):\n" .. tail(r) end
  end
  c.notes[#c.notes + 1] = table.concat(args, " ", 1, 1) .. " never converged:\n" .. tail(r)
  return nil
end

local function new_case(name)
  return { name = name, duplicates = 0, missing = 0, orphans = 0, notes = {}, recovery_runs = 0 }
end

local function finish(c)
  c.ok = c.recovery_runs == 1 and c.duplicates == 0 and c.missing == 0 and c.orphans == 0 and not c.broken
  if not c.ok then c.detail = table.concat(c.notes, "\n") end
  return c
end

function Kill:after_apply_recovery(c)
  local runs = self:until_ok(c, { "run", self.stack, "--yes" }, 3)
  c.recovery_runs = runs or 99
  if not runs then return finish(c) end
  self:compare(c)
  local plan = self:wpo { "plan", self.stack, "--detailed-exitcode" }
  if plan.status ~= 0 then
    c.broken = true
    c.notes[#c.notes + 1] = "re-plan after recovery:\n" .. tail(plan)
  end
  if not self:until_ok(c, { "destroy", self.stack, "--yes" }, 1) then c.broken = true end
  self:leftovers(c)
  return finish(c)
end

function Kill:kill_apply(n)
  local c = new_case(string.format("apply killed at call %d", n))
  self.m:fresh()
  local pid = self:start { "run", self.stack, "--yes" }
  c.killed = self:kill_at(pid, n)
  return self:after_apply_recovery(c)
end

function Kill:kill_destroy(n, op)
  local c = new_case(op and string.format("destroy killed at %s call %d", op, n)
    or string.format("destroy killed at call %d", n))
  self.m:fresh()
  local r = self:wpo { "run", self.stack, "--yes" }
  if r.status ~= 0 then
    c.broken, c.notes[1] = true, "the apply before the destroy failed:\n" .. tail(r)
    return finish(c)
  end
  local start = self:calls()
  local pid = self:start { "destroy", self.stack, "--yes" }
  if op then
    c.killed = self:kill_at(pid, (self.f:calls()[op] or 0) + n, op)
  else
    c.killed = self:kill_at(pid, start + n)
  end
  local runs = self:until_ok(c, { "destroy", self.stack, "--yes" }, 3)
  c.recovery_runs = runs or 99
  self:leftovers(c)
  return finish(c)
end

function Kill:faults(settings)
  local c = new_case(string.format("throttle %d%% + 5xx %d%%", math.floor((settings.throttle_rate or 0) * 100 + 0.5),
    math.floor((settings.error_rate or 0) * 100 + 0.5)))
  self.m:fresh()
  self.f:faults(settings)
  local runs = self:until_ok(c, { "run", self.stack, "--yes" }, 5)
  c.apply_runs = runs
  local plan_ok = runs and self:until_ok(c, { "plan", self.stack, "--detailed-exitcode" }, 3)
  self.f:faults {}
  if runs then self:compare(c) end
  self.f:faults(settings)
  c.destroy_runs = self:until_ok(c, { "destroy", self.stack, "--yes" }, 5)
  self.f:faults {}
  self:leftovers(c)
  c.recovery_runs = (runs and plan_ok and c.destroy_runs) and 1 or 99
  c.name = c.name .. string.format(": apply in %s run(s), destroy in %s", tostring(runs), tostring(c.destroy_runs))
  return finish(c)
end

function Kill:full_disk(n)
  local c = new_case(string.format("disk full from state write %d", n))
  self.m:fresh()
  local r = self:wpo({ "run", self.stack, "--yes" }, { WPO_FS_FAULT = "enospc:" .. n })
  if r.status == 0 then
    c.broken, c.notes[1] = true, "the apply succeeded on a full disk"
  elseif not (r.stdout .. r.stderr):find("No space left on device", 1, true) then
    c.broken, c.notes[1] = true, "the failure does not say the disk is full:\n" .. tail(r)
  end
  local text = fs.read(self:state_path())
  if text then
    local ok, doc = pcall(cjson.decode, text)
    if not ok or type(doc) ~= "table" or not doc.lineage then
      c.broken = true
      c.notes[#c.notes + 1] = "the state on disk is not whole after the failed run"
    end
  end
  local dir = self:state_path():gsub("[^/]*$", "")
  local p = io.popen("ls -a " .. h.quote(dir) .. " 2>/dev/null")
  for name in p:lines() do
    if name:find("%.tmp%-") then
      c.broken = true
      c.notes[#c.notes + 1] = "a temporary state file stayed: " .. name
    end
  end
  p:close()
  return self:after_apply_recovery(c)
end

function M.line(c)
  return string.format("%-58s recovery runs %d; %d duplicates, %d missing, %d orphans%s", c.name,
    c.recovery_runs, c.duplicates, c.missing, c.orphans, c.ok and "" or "  FAILED")
end

function M.totals(cases)
  local t = { cases = #cases, duplicates = 0, missing = 0, orphans = 0, more_runs = 0, failed = 0 }
  for _, c in ipairs(cases) do
    t.duplicates = t.duplicates + c.duplicates
    t.missing = t.missing + c.missing
    t.orphans = t.orphans + c.orphans
    if c.recovery_runs ~= 1 then t.more_runs = t.more_runs + 1 end
    if not c.ok then t.failed = t.failed + 1 end
  end
  t.line = string.format("%d cases: %d duplicates, %d orphans, %d missing, %d needing more than one recovery run, "
    .. "%d failed", t.cases, t.duplicates, t.orphans, t.missing, t.more_runs, t.failed)
  return t
end

return M
