-- wpo.rollout.local: the local executor of wpo.rollout: every stack runs in
-- this process (concurrently, on the event loop), each with its own state
-- and lock.
--
--   local ex = require("wpo.rollout.local").new { offline, allow_rollback, parallelism }
--
-- plan: the stack loaded at the ref, its state opened and locked (the lock
-- is kept until the stack is applied or released), refused when rolling
-- back without allow_rollback, planned with the AWS read-only guard on.
-- apply: the lock checked again (a remote one may have been lost while the
-- stack waited for its wave), the plan applied, the rollout recorded in the
-- stack's state.
local errors = require "wpo.errors"
local text = require "wpo.text"
local workflow = require "wpo.workflow"

local M = {}

M.OPTIONS = { offline = true, allow_rollback = true, parallelism = true }

-- A reporter that keeps nothing: the rollout prints its own lines.
local silent = setmetatable({}, { __index = function() return function() end end })

-- The executor's result for a finished apply (wpo.apply's result).
local function apply_result(result, provenance)
  local c = result.counts
  local counts = { add = c.added, change = c.changed, destroy = c.destroyed, read = c.looked_up, forget = c.forgotten }
  if result.ok then return { ok = true, counts = counts, to = provenance } end
  local f = result.failures[1]
  local err = f and errors.new { code = errors.is(f.err) and f.err.code or nil, where = f.where,
    address = f.address, message = errors.is(f.err) and f.err.message or tostring(f.err) }
    or (result.interrupted and "interrupted" or "failed")
  return { ok = false, err = err, counts = counts }
end

-- local.new(o) -> executor (see wpo.rollout)
function M.new(o)
  o = o or {}
  for k in pairs(o) do
    if not M.OPTIONS[k] then
      error(string.format("rollout.local.new: unknown option '%s' (valid: %s)", tostring(k),
        table.concat(text.sorted_keys(M.OPTIONS), ", ")), 2)
    end
  end
  -- looked up at the call: tests/lua/fakecore.lua reloads wpo.apply against its fake core
  local apply = require "wpo.apply"
  local ex = { name = "local" }
  function ex.plan(target)
    local stack = workflow.load({ ref = target.ref, offline = o.offline }, target.path)
    local st = workflow.open_state(stack, {}, "rollout")
    local ok, p = pcall(function()
      workflow.check_rollback(stack, st, { allow_rollback = o.allow_rollback })
      return workflow.make_plan(stack, st, { parallelism = o.parallelism }, false)
    end)
    if not ok then
      st:close()
      return { ok = false, err = p }
    end
    return { ok = true, counts = p.summary, from = st.source, to = stack.provenance,
             planned = { stack = stack, st = st, plan = p } }
  end
  function ex.apply(_, p)
    local ok, result = pcall(function()
      -- as wpo run: a remote lock may have been lost while the rollout waited
      -- for its wave; a KMS data key is fetched before anything changes
      if p.st.check_lock then p.st:check_lock() end
      if p.st.keyring then p.st.keyring:prepare() end
      local result = apply.run(p.plan, p.stack, p.st, { parallelism = o.parallelism, reporter = silent })
      workflow.record_rollout(p.plan, p.stack, p.st, result)
      return result
    end)
    p.st:close()
    if not ok then return { ok = false, err = result } end
    return apply_result(result, p.stack.provenance)
  end
  function ex.release(planned)
    if planned and planned.st then planned.st:close() end
  end
  return ex
end

return M
