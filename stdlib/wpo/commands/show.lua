-- wpo show PLANFILE | STACK: a saved plan as it will be applied, or a
-- stack's state as last recorded.
local workflow = require "wpo.workflow"
local json = require "wpo.json"
local plan = require "wpo.plan"
local value = require "wpo.value"

local M = {
  summary = "show a saved plan, or a stack's state",
  args = { "PLANFILE|STACK" },
  options = workflow.options({
    json = { type = "boolean", help = "machine-readable output (Terraform's plan or state shape; secrets left out)" },
  }, workflow.STACK_OPTIONS),
  help = "A PLANFILE (from 'wpo plan --out FILE') is shown as 'wpo apply FILE' would carry it out: the stack\n"
    .. "from the sources saved in it, against the state refreshed when planning; nothing is read from AWS\n"
    .. "and no lock is taken. A STACK (a .lua script) shows its state: every resource with its attributes,\n"
    .. "then the outputs, secrets as (sensitive).",
}

local function show_plan(opts, path)
  local doc = workflow.load_plan(path)
  local stack = workflow.stack_of_plan(doc)
  local st = workflow.memory_state(workflow.plan_records(doc), { lineage = doc.lineage, serial = doc.serial,
    outputs = doc.outputs })
  local p = plan.make(stack, st, { targets = doc.targets, destroy = doc.destroy, checks = false })
  if opts.json then
    io.stdout:write(json.encode(plan.json(p)), "\n")
  else
    io.stdout:write(plan.render(p, { color = workflow.color() }))
  end
  return 0
end

local function show_state(opts, path)
  local stack = workflow.load(opts, path)
  local st <close> = workflow.open_state(stack, opts, "show", { lock = false })
  local records = {}
  for _, a in ipairs(st:addresses()) do records[#records + 1] = { address = a, record = st:get(a) } end
  local doc = plan.state_json(records, st.outputs)
  if opts.json then
    io.stdout:write(json.encode(doc), "\n")
    return 0
  end
  if #records == 0 then
    io.stdout:write("The state of stack ", stack.name, " is empty.\n")
    return 0
  end
  for i, r in ipairs(doc.values.root_module.resources) do
    if i > 1 then io.stdout:write("\n") end
    io.stdout:write("# ", r.address, ":\n")
    local names = {}
    for k in pairs(r.values) do names[#names + 1] = k end
    for k in pairs(r.sensitive_values) do names[#names + 1] = k end
    table.sort(names)
    local w = 0
    for _, k in ipairs(names) do w = math.max(w, #k) end
    for _, k in ipairs(names) do
      io.stdout:write(string.format("    %-" .. w .. "s = %s\n", k,
        r.sensitive_values[k] and "(sensitive)" or value.show(r.values[k])))
    end
  end
  workflow.print_outputs(st)
  return 0
end

function M.run(opts, args)
  if args[1]:match("%.lua$") or args[1]:match("^git%+") then return show_state(opts, args[1]) end
  return show_plan(opts, args[1])
end

return M
