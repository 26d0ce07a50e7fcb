-- wpo destroy STACK: destroy everything the stack's state holds, dependents first.
local workflow = require "wpo.workflow"

local M = {
  summary = "destroy every resource of a stack (dependents first)",
  args = { "STACK" },
  options = workflow.options({
    yes = { type = "boolean", help = "destroy without asking" },
  }, workflow.STACK_OPTIONS, workflow.PLAN_OPTIONS),
  help = "Refuses when a resource has lifecycle.prevent_destroy, in the script or recorded in the state.\n"
    .. "--target destroys that resource and everything that depends on it.",
}

function M.run(opts, args)
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local plan = require "wpo.plan"
  local stack = workflow.load(opts, args[1])
  local st <close> = workflow.open_state(stack, opts, "destroy")
  local p = workflow.make_plan(stack, st, opts, true)
  workflow.show_plan(p, opts, "plan")
  if plan.has_changes(p)
      and not workflow.confirm(opts, "\nDestroy every resource above in stack " .. stack.name .. "?") then
    io.stdout:write("Destroy cancelled.\n")
    return 1
  end
  if not opts.json then io.stdout:write("\n") end
  return workflow.apply(p, stack, st, opts)
end

return M
