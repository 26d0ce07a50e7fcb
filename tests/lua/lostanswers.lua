-- tests/lua/lostanswers.lua — the lost-answer matrix (issue 12): for a write
-- operation the staging WordPress stack's apply sends, fakeaws carries it out
-- and loses its answer, on every attempt (drop_rate 1 on that operation alone;
-- drop_as "close": the connection closes mid-answer, "error": a 500 instead,
-- "garbled": the body cut in half). Then the apply must exit 0 with exactly
-- the objects a clean run makes (no duplicate, none missing), a re-plan must
-- show no changes, and destroy must leave nothing.
--
--   local m = lostanswers.new(f, stack?, unprotect?)  -- f: fakeaws.start { region = "eu-west-1" };
--        stack: a path under stacks/ (default M.STACK); unprotect: turn its
--        `protect  = true` (and stacks/customer.lua's) off in the copy, so that
--        destroy may run
--   local base = m:baseline()           -- a clean run: base.ops (the write operations
--                                       -- it sent, sorted), base.counts ("service kind" -> n)
--   local r = m:case("ec2.CreateVpc", "close")
--        -> { op, mode, apply, replan, destroy (exit statuses), duplicates, missing,
--             orphans (numbers), detail (text), ok }
--   lostanswers.line(r) -> one line about a case
--   lostanswers.totals(results) -> { cases, duplicates, missing, orphans, failed } and its line
--   m:close()                           -- removes the copy of stacks/
--
-- The stack runs from a copy of the repository's stacks/ in a temporary root,
-- through the wpo binary (helpers.WPO), with WPO_WAIT_SCALE=0.01.
local h = require "helpers"

local M = {}

M.STACK = "stacks/staging.lua"
M.MODES = { "close", "error", "garbled" }

-- Is an object in /_fake/state alive? Deleted objects AWS keeps a while
-- (terminated instances, deleted NAT gateways, INACTIVE ECS objects, Route 53
-- changes) are not; the final DB snapshots are kept on purpose.
local function live(service, kind, obj)
  if service == "route53" and kind == "change" then return false end
  if service == "rds" and kind:match("snapshot") then return false end
  if service == "ec2" and kind == "instance" then
    return not ((obj.State or {}).Name or ""):match("^terminat")
  end
  if service == "ec2" and kind == "natgateway" then return obj.State ~= "deleted" and obj.State ~= "deleting" end
  if service == "ecs" then return obj.status ~= "INACTIVE" end
  return true
end

-- "service kind" -> how many live objects
local function counts(held)
  local out = {}
  for service, kinds in pairs(held) do
    if type(kinds) == "table" then
      for kind, objs in pairs(kinds) do
        if type(objs) == "table" then
          for _, o in pairs(objs) do
            if type(o) == "table" and live(service, kind, o) then
              local k = service .. " " .. kind
              out[k] = (out[k] or 0) + 1
            end
          end
        end
      end
    end
  end
  return out
end
M.counts = counts

local Matrix = {}
Matrix.__index = Matrix

function M.new(f, stack, unprotect)
  local root = h.tmpdir()
  local repo = require("wpo.stack").absolute(h.REPO)
  assert(os.execute("cp -r " .. h.quote(repo .. "/stacks") .. " " .. h.quote(root .. "/stacks")))
  if unprotect then
    for _, file in ipairs({ stack or M.STACK, "stacks/customer.lua" }) do
      assert(os.execute("sed -i 's/protect  = true/protect  = false/' " .. h.quote(root .. "/" .. file)))
    end
  end
  assert(os.execute("mkdir -p " .. h.quote(root .. "/.git")))
  local wpo = h.WPO:find("/", 1, true) and require("wpo.stack").absolute(h.WPO) or h.WPO
  return setmetatable({ f = f, root = root, binary = wpo, stack = stack or M.STACK }, Matrix)
end

function Matrix:wpo(args)
  local e = { WPO_WAIT_SCALE = "0.01", NO_COLOR = "1" }
  for k, v in pairs(self.f.env) do e[k] = v end
  local parts = { "cd " .. h.quote(self.root) .. " && env" }
  for k, v in pairs(e) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
  parts[#parts + 1] = h.quote(self.binary)
  for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
  return h.sh(table.concat(parts, " "))
end

function Matrix:fresh()
  self.f:reset()
  assert(os.execute("rm -rf " .. h.quote(self.root .. "/" .. self.stack:gsub("[^/]*$", "") .. ".wpo")))
end

function Matrix:baseline()
  self:fresh()
  local r = self:wpo { "run", self.stack, "--yes" }
  assert(r.status == 0, "the clean run failed: " .. r.stdout .. r.stderr)
  local is_read = require("wpo.aws.client").is_read
  local ops = {}
  for name in pairs(self.f:calls()) do
    local service, op = name:match("^([%w-]+)%.(%w+)$")
    if service and not is_read(service, op) then ops[#ops + 1] = name end
  end
  table.sort(ops)
  local base = { ops = ops, counts = counts(self.f:state()) }
  r = self:wpo { "destroy", self.stack, "--yes" }
  assert(r.status == 0, "the clean destroy failed: " .. r.stdout .. r.stderr)
  self.base = base
  return base
end

-- the last lines of a command's output, for a failed case
local function tail(r)
  local text = (r.stdout or "") .. (r.stderr or "")
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return table.concat(lines, "\n", math.max(1, #lines - 8))
end

function Matrix:case(op, mode)
  assert(self.base, "lostanswers: run m:baseline() first")
  self:fresh()
  self.f:faults { drop_rate = 1, drop_as = mode, operations = { op } }
  local run = self:wpo { "run", self.stack, "--yes" }
  local dropped = (self.f:calls(true)[op] or {}).count or 0
  local made = counts(self.f:state())
  self.f:faults {}
  local plan = self:wpo { "plan", self.stack, "--detailed-exitcode" }
  local destroy = self:wpo { "destroy", self.stack, "--yes" }
  local left = counts(self.f:state())
  local r = { op = op, mode = mode, apply = run.status, replan = plan.status, destroy = destroy.status,
    duplicates = 0, missing = 0, orphans = 0, dropped = dropped }
  local diffs = {}
  local kinds = {}
  for k in pairs(self.base.counts) do kinds[k] = true end
  for k in pairs(made) do kinds[k] = true end
  for k in pairs(kinds) do
    local want, have = self.base.counts[k] or 0, made[k] or 0
    if have > want then r.duplicates = r.duplicates + have - want end
    if have < want then r.missing = r.missing + want - have end
    if have ~= want then diffs[#diffs + 1] = string.format("%s %d (a clean run: %d)", k, have, want) end
  end
  local orphans = {}
  for k, n in pairs(left) do
    r.orphans = r.orphans + n
    orphans[#orphans + 1] = k .. " " .. n
  end
  table.sort(diffs)
  table.sort(orphans)
  r.ok = r.apply == 0 and r.replan == 0 and r.destroy == 0 and r.duplicates == 0 and r.missing == 0
    and r.orphans == 0 and dropped > 0
  if not r.ok then
    local parts = {}
    if dropped == 0 then parts[#parts + 1] = "the operation was not called" end
    if #diffs > 0 then parts[#parts + 1] = "after the apply: " .. table.concat(diffs, ", ") end
    if #orphans > 0 then parts[#parts + 1] = "left by destroy: " .. table.concat(orphans, ", ") end
    if r.apply ~= 0 then parts[#parts + 1] = "apply:\n" .. tail(run) end
    if r.replan ~= 0 then parts[#parts + 1] = "re-plan:\n" .. tail(plan) end
    if r.destroy ~= 0 then parts[#parts + 1] = "destroy:\n" .. tail(destroy) end
    r.detail = table.concat(parts, "\n")
  end
  return r
end

function Matrix:close()
  h.rmrf(self.root)
end

function M.line(r)
  return string.format("%-45s %-8s apply %d, re-plan %d, destroy %d; %d duplicates, %d missing, %d orphans%s",
    r.op, r.mode, r.apply, r.replan, r.destroy, r.duplicates, r.missing, r.orphans, r.ok and "" or "  FAILED")
end

function M.totals(results)
  local t = { cases = #results, duplicates = 0, missing = 0, orphans = 0, failed = 0 }
  for _, r in ipairs(results) do
    t.duplicates = t.duplicates + r.duplicates
    t.missing = t.missing + r.missing
    t.orphans = t.orphans + r.orphans
    if not r.ok then t.failed = t.failed + 1 end
  end
  t.line = string.format("lost-answer matrix: %d cases: %d duplicates, %d orphans, %d missing, %d failed",
    t.cases, t.duplicates, t.orphans, t.missing, t.failed)
  return t
end

return M
