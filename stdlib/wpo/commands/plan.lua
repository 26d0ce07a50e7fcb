-- wpo plan STACK: what would change, without changing anything.
local workflow = require "wpo.workflow"

local M = {
  summary = "show what would change (reads only; changes nothing)",
  args = { "STACK" },
  options = workflow.options({
    detailed_exitcode = { type = "boolean", help = "exit 0 with no changes, 2 with changes, 1 on error" },
    out = { type = "string", metavar = "FILE", help = "save the plan for 'wpo apply FILE'" },
    destroy = { type = "boolean", help = "plan destroying everything (as wpo destroy would)" },
  }, workflow.STACK_OPTIONS, workflow.PLAN_OPTIONS, workflow.ROLLBACK_OPTIONS),
  help = "Refreshes the state (reads every resource), compares it with the stack script and prints\n"
    .. "the actions: + create, ~ update in place, -/+ replace, - destroy. While planning, AWS refuses\n"
    .. "every operation that is not a read. The header names the stack's git ref and commit, and those\n"
    .. "deployed; --ref REF plans the stack as committed at REF.",
}

function M.run(opts, args)
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local plan = require "wpo.plan"
  local stack = workflow.load(opts, args[1])
  local st <close> = workflow.open_state(stack, opts, "plan")
  local p = workflow.make_plan(stack, st, opts, opts.destroy)
  workflow.show_plan(p, opts)
  if opts.out then
    if not opts.destroy then workflow.check_rollback(stack, st, opts) end
    workflow.save_plan(opts.out, p, stack, st, opts, opts.destroy)
    local msg = string.format("Saved the plan to %s: 'wpo apply %s' carries it out.\n", opts.out, opts.out)
    if opts.json then io.stderr:write(msg) else io.stdout:write("\n", msg) end
  end
  if opts.detailed_exitcode and plan.has_changes(p) then return 2 end
  return 0
end

return M
