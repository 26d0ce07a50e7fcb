-- wpo state list|show|rm|mv STACK ...: look at and edit a stack's state.
local errors = require "wpo.errors"
local resource = require "wpo.resource"
local value = require "wpo.value"
local workflow = require "wpo.workflow"

local M = {
  summary = "list, show, forget (rm) or rename (mv) resources in a stack's state",
  args = { "SUBCOMMAND", "STACK", "ARGS..." },
  options = workflow.options({}, workflow.STACK_OPTIONS),
  help = "  wpo state list STACK               every address in the state\n"
    .. "  wpo state show STACK ADDRESS       one resource (secrets hidden)\n"
    .. "  wpo state rm STACK ADDRESS...      forget resources (nothing is destroyed)\n"
    .. "  wpo state mv STACK FROM TO         rename a resource (same type)",
}

local SUB = { list = true, show = true, rm = true, mv = true }

local function need(args, n, usage)
  if #args ~= n then workflow.usage("usage: wpo state %s", usage) end
end

local function show(st, address)
  local r = st:get(address)
  if not r then errors.raise { code = "StateError", message = address .. " is not in the state" } end
  local t = resource.get(r.type)
  local lines = {
    address, "  type    " .. r.type, "  id      " .. value.show(r.id), "  where   " .. tostring(r.where),
    "  deps    " .. (#r.deps > 0 and table.concat(r.deps, ", ") or "(none)"),
  }
  if r.prevent_destroy then lines[#lines + 1] = "  lifecycle.prevent_destroy = true" end
  for _, section in ipairs({ "inputs", "outputs" }) do
    local names = require("wpo.text").sorted_keys(r[section])
    if #names > 0 then lines[#lines + 1] = "  " .. section .. ":" end
    for _, k in ipairs(names) do
      local spec = t and (section == "inputs" and t.attributes[k] or t.outputs[k])
      lines[#lines + 1] = string.format("    %s = %s", k, value.show(r[section][k], spec and spec.sensitive))
    end
  end
  for _, old in ipairs(r.deposed or {}) do lines[#lines + 1] = "  deposed object " .. value.show(old.id) end
  io.stdout:write(table.concat(lines, "\n"), "\n")
end

function M.run(opts, args)
  local sub = args[1]
  if not SUB[sub] then
    local near = require("wpo.text").closest(sub, { "list", "show", "rm", "mv" })
    workflow.usage("unknown state subcommand '%s'%s (list, show, rm, mv)", sub,
      near and (" (did you mean '" .. near .. "'?)") or "")
  end
  local rest = { table.unpack(args, 3) }
  local stack = workflow.load(opts, args[2])
  local writes = sub == "rm" or sub == "mv"
  local st <close> = workflow.open_state(stack, opts, "state " .. sub, { lock = writes })
  if sub == "list" then
    need(rest, 0, "list STACK")
    for _, a in ipairs(st:addresses()) do
      io.stdout:write(a, "\n")
      for i in ipairs(st:get(a).deposed or {}) do io.stdout:write(a, " (deposed ", i, ")\n") end
    end
  elseif sub == "show" then
    need(rest, 1, "show STACK ADDRESS")
    show(st, rest[1])
  elseif sub == "rm" then
    if #rest == 0 then workflow.usage("usage: wpo state rm STACK ADDRESS...") end
    for _, a in ipairs(rest) do
      if not st:get(a) then errors.raise { code = "StateError", message = a .. " is not in the state" } end
    end
    for _, a in ipairs(rest) do st:remove(a) end
    st:save()
    for _, a in ipairs(rest) do io.stdout:write("Removed ", a, " from the state (the object itself is untouched).\n") end
  else
    need(rest, 2, "mv STACK FROM TO")
    local from, to = rest[1], rest[2]
    local r = st:get(from)
    if not r then errors.raise { code = "StateError", message = from .. " is not in the state" } end
    if st:get(to) then errors.raise { code = "StateError", message = to .. " is already in the state" } end
    local name = to:sub(#r.type + 2)
    if to:sub(1, #r.type + 1) ~= r.type .. "." or not name:match("^[%w_][%w_%-]*$") then
      errors.raise { code = "StateError", message = string.format(
        "%s is a %s: the new address must be %s.<name>", from, r.type, r.type) }
    end
    st:remove(from)
    st:set(to, r)
    st.generations[to], st.generations[from] = st.generations[from], nil
    st:save()
    io.stdout:write(string.format("Moved %s to %s.\n", from, to))
  end
  return 0
end

return M
