-- wpo refresh STACK: read every resource and record what is actually there.
local workflow = require "wpo.workflow"

local M = {
  summary = "read every resource and update the state with what is there",
  args = { "STACK" },
  options = workflow.options({
    parallelism = workflow.PLAN_OPTIONS.parallelism,
    target = workflow.PLAN_OPTIONS.target,
  }, workflow.STACK_OPTIONS),
}

function M.run(opts, args)
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local plan = require "wpo.plan"
  local stack = workflow.load(opts, args[1])
  local st <close> = workflow.open_state(stack, opts, "refresh")
  if not st.exists then
    io.stdout:write("Nothing to refresh: stack " .. stack.name .. " has no state yet.\n")
    return 0
  end
  local addresses
  if opts.target and #opts.target > 0 then
    addresses = {}
    for _, a in ipairs(opts.target) do
      if not st:get(a) then workflow.usage("--target %s: not in the state", a) end
      addresses[#addresses + 1] = a
    end
  end
  local n = addresses and #addresses or #st:addresses()
  local drift = plan.refresh(stack, st,
    { parallelism = opts.parallelism, addresses = addresses })
  st:save()
  for _, d in ipairs(drift) do
    if d.gone then
      io.stdout:write(d.address, ": no longer exists (removed from the state)\n")
    else
      io.stdout:write(d.address, ": changed outside wpo: ", table.concat(d.changed, ", "), "\n")
    end
  end
  io.stdout:write(string.format("Refreshed %d resources: %d changed outside wpo.\n", n, #drift))
  return 0
end

return M
