-- wpo apply PLANFILE: carry out a plan saved by 'wpo plan --out FILE', exactly.
local errors = require "wpo.errors"
local value = require "wpo.value"
local workflow = require "wpo.workflow"
local cjson = require "cjson"

local M = {
  summary = "apply a plan saved with 'wpo plan --out FILE'",
  args = { "PLANFILE" },
  options = {
    parallelism = workflow.PLAN_OPTIONS.parallelism,
    json = workflow.PLAN_OPTIONS.json,
  },
  help = "The stack is evaluated from the sources saved in the plan, against the state as refreshed\n"
    .. "when planning, from any directory (the plan records absolute paths). Refuses a plan file whose\n"
    .. "content does not match its digest, and a plan whose state changed since (its lineage or serial\n"
    .. "moved) or whose changes the saved stack no longer gives.",
}

function M.run(opts, args)
  -- lazy: `wpo help` loads every command module; the engine loads when the command runs
  local plan = require "wpo.plan"
  local doc = workflow.load_plan(args[1])
  local stack = workflow.stack_of_plan(doc)
  local st <close> = workflow.open_state(stack, {}, "apply", { path = doc.state_path, lineage = doc.lineage })
  if st.lineage ~= doc.lineage or st.serial ~= doc.serial then
    errors.raise { code = "StalePlan", message = string.format(
      "the state changed since this plan was made (lineage %s serial %s, now lineage %s serial %s): make a new plan",
      tostring(doc.lineage), tostring(doc.serial), tostring(st.lineage), tostring(st.serial)) }
  end
  st.resources = workflow.plan_records(doc)
  local p = plan.make(stack, st, { targets = doc.targets, destroy = doc.destroy })
  local now = value.normalize_numbers(cjson.decode(cjson.encode(plan.json(p).resource_changes)))
  if not value.equal(workflow.plan_changes(now), workflow.plan_changes(doc.changes)) then
    errors.raise { code = "StalePlan",
      message = "the saved plan no longer matches what its stack and state give: make a new plan" }
  end
  if not opts.json then io.stdout:write(plan.render(p, { color = workflow.color() }), "\n") end
  return workflow.apply(p, stack, st, opts)
end

return M
