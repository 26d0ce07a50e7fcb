-- wpo run STACK: plan, show, confirm, apply.
local workflow = require "wpo.workflow"

local M = {
  summary = "plan, show the plan, ask, and apply it",
  args = { "STACK" },
  options = workflow.options({
    yes = { type = "boolean", help = "apply without asking" },
  }, workflow.STACK_OPTIONS, workflow.PLAN_OPTIONS, workflow.ROLLBACK_OPTIONS),
  help = "Asks for confirmation on a terminal; without a terminal it refuses unless --yes is given.\n"
    .. "With --json (which needs --yes) it prints the plan, then one JSON event per line.\n"
    .. "--ref REF rolls the stack to REF as committed; moving to a commit older than the deployed one\n"
    .. "needs --allow-rollback. Each run is recorded in the state's rollout history ('wpo history').",
}

function M.run(opts, args)
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local plan = require "wpo.plan"
  local stack = workflow.load(opts, args[1])
  local st <close> = workflow.open_state(stack, opts, "run")
  workflow.check_rollback(stack, st, opts)
  local p = workflow.make_plan(stack, st, opts, false)
  workflow.show_plan(p, opts, "plan")
  if plan.has_changes(p) then
    if not workflow.confirm(opts, "\nApply these changes to stack " .. stack.name .. "?") then
      io.stdout:write("Apply cancelled.\n")
      return 1
    end
    if not opts.json then io.stdout:write("\n") end
  end
  return workflow.apply(p, stack, st, opts)
end

return M
