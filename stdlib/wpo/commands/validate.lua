-- wpo validate STACK: load and check a stack with no state and no AWS.
local workflow = require "wpo.workflow"
local json = require "wpo.json"
local plan = require "wpo.plan"

local M = {
  summary = "check a stack script: schema, references, cycles (no state, no AWS)",
  args = { "STACK" },
  options = workflow.options({
    json = { type = "boolean", help = "machine-readable output" },
  }, {
    var = workflow.STACK_OPTIONS.var, var_file = workflow.STACK_OPTIONS.var_file,
    ref = workflow.STACK_OPTIONS.ref, offline = workflow.STACK_OPTIONS.offline,
    script_budget = workflow.STACK_OPTIONS.script_budget, script_memory = workflow.STACK_OPTIONS.script_memory,
    max_value_size = workflow.STACK_OPTIONS.max_value_size,
  }),
  help = "Runs the script in its sandbox and checks every declaration against its type (attribute names,\n"
    .. "types, required ones, choices), every reference, and the dependency graph for cycles, then\n"
    .. "plans it against an empty state so that every value known before apply is checked. It reads no\n"
    .. "state, takes no lock and calls no AWS API. Exit 0 when valid; 1 with the first error, naming its\n"
    .. "file:line.",
}

function M.run(opts, args)
  local stack = workflow.load(opts, args[1])
  plan.make(stack, workflow.memory_state({}), { checks = false })
  local n = #stack.resources
  if opts.json then
    io.stdout:write(json.encode({ valid = true, stack = stack.name, resources = n,
      outputs = #stack.outputs }), "\n")
  else
    io.stdout:write(string.format("Stack %s is valid: %d %s, %d %s.\n", stack.name, n,
      n == 1 and "resource" or "resources", #stack.outputs, #stack.outputs == 1 and "output" or "outputs"))
  end
  return 0
end

return M
