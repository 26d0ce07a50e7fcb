-- wpo import STACK ADDRESS ID: take an existing object under wpo's management.
local errors = require "wpo.errors"
local resource = require "wpo.resource"
local stackmod = require "wpo.stack"
local value = require "wpo.value"
local workflow = require "wpo.workflow"
local text = require "wpo.text"

local M = {
  summary = "record an existing object in the state under a declared address",
  args = { "STACK", "ADDRESS", "ID" },
  options = workflow.options({}, workflow.STACK_OPTIONS),
  help = "ADDRESS must be declared in the stack script. The object is read (nothing is changed);\n"
    .. "the next plan shows how it differs from the script.",
}

function M.run(opts, args)
  local stack = workflow.load(opts, args[1])
  local address, id = args[2], args[3]
  local decl = stack.by_address[address]
  if not decl then
    local near = text.closest(address, text.sorted_keys(stack.by_address))
    errors.raise { code = "ImportError", message = string.format("%s is not declared in %s: declare it first%s",
      -- lazy: `wpo help` loads every command module; the engine loads when the command runs
      address, require("wpo.stack").display(stack.path), near and (" (did you mean " .. near .. "?)") or "") }
  end
  local st <close> = workflow.open_state(stack, opts, "import")
  if st:get(address) then
    errors.raise { code = "ImportError", address = address, where = decl.where,
      message = "already in the state (id " .. tostring(st:get(address).id) .. ")" }
  end
  local t = decl.type
  local prior = { type = t.name, id = id, inputs = {}, outputs = {}, deps = {} }
  local region, aws = stackmod.aws_for(stack, decl.provider)
  local ctx = resource.context { address = address, type = t, stack = stack.name, region = region, aws_settings = aws,
    where = decl.where, prior = prior, lineage = st.lineage, read_only = true, state_view = resource.state_view(st) }
  local observed
  if t.import then observed = t.import(ctx, id) else observed = t.read(ctx, id, prior) end
  if observed == nil then
    errors.raise { code = "ImportError", address = address, where = decl.where,
      message = "no " .. t.name .. " with id " .. id .. " exists" }
  end
  observed = value.normalize_numbers(observed)
  local inputs, outputs = {}, {}
  for k, v in pairs(observed) do
    if t.attributes[k] then inputs[k] = v end
    if t.outputs[k] then outputs[k] = v end
  end
  outputs.id = observed.id or id
  st:set(address, { type = t.name, id = outputs.id, inputs = inputs, outputs = outputs, deps = decl.deps,
    where = decl.where, prevent_destroy = decl.lifecycle.prevent_destroy or nil,
    create_before_destroy = decl.lifecycle.create_before_destroy or nil, provider = decl.provider })
  st.generations[address] = (st.generations[address] or 0) + 1
  st:save()
  io.stdout:write(string.format("Imported %s (id %s) into the state of stack %s.\n", address, tostring(outputs.id),
    stack.name))
  return 0
end

return M
