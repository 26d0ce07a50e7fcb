-- wpo output STACK [NAME]: the stack's outputs, as last applied.
local cjson = require "cjson"
local errors = require "wpo.errors"
local value = require "wpo.value"
local workflow = require "wpo.workflow"
local text = require "wpo.text"

local M = {
  summary = "print a stack's outputs (secrets hidden unless asked for by name)",
  args = { "STACK", "[NAME]" },
  options = workflow.options({
    json = { type = "boolean", help = "print as JSON" },
    show_sensitive = { type = "string", repeatable = true, metavar = "NAME", help = "reveal this sensitive output" },
  }, workflow.STACK_OPTIONS),
}

function M.run(opts, args)
  local stack = workflow.load(opts, args[1])
  local st <close> = workflow.open_state(stack, opts, "output", { lock = false })
  local reveal = {}
  for _, n in ipairs(opts.show_sensitive) do
    if not st.outputs[n] then errors.raise { code = "OutputError", message = "--show-sensitive " .. n .. ": no such output" } end
    reveal[n] = true
  end
  local names = text.sorted_keys(st.outputs)
  if args[2] then
    local o = st.outputs[args[2]]
    if not o then
      local near = text.closest(args[2], names)
      errors.raise { code = "OutputError", message = string.format("no output '%s'%s", args[2],
        near and (" (did you mean '" .. near .. "'?)") or "") }
    end
    if o.sensitive and not reveal[args[2]] then
      errors.raise { code = "OutputError",
        message = string.format("output '%s' is sensitive: pass --show-sensitive %s to print it", args[2], args[2]) }
    end
    if opts.json then io.stdout:write(cjson.encode({ value = o.value }):match('^{"value":(.*)}$'), "\n")
    elseif type(o.value) == "string" then io.stdout:write(o.value, "\n")
    else io.stdout:write(value.show(o.value), "\n") end
    return 0
  end
  if opts.json then
    local doc = {}
    for _, n in ipairs(names) do
      local o = st.outputs[n]
      doc[n] = { value = (o.sensitive and not reveal[n]) and "(sensitive)" or o.value, sensitive = o.sensitive or false }
    end
    io.stdout:write(cjson.encode(doc), "\n")
    return 0
  end
  for _, n in ipairs(names) do
    local o = st.outputs[n]
    io.stdout:write(n, " = ", value.show(o.value, o.sensitive and not reveal[n]), "\n")
  end
  return 0
end

return M
