-- wpo output STACK [NAME]: the stack's outputs, as last applied.
local json = require "wpo.json"
local errors = require "wpo.errors"
local value = require "wpo.value"
local workflow = require "wpo.workflow"
local text = require "wpo.text"

local M = {
  summary = "print a stack's outputs (secrets hidden unless --show-sensitive)",
  args = { "STACK", "[NAME]" },
  options = workflow.options({
    json = { type = "boolean", help = "print as JSON" },
    show_sensitive = { type = "boolean", help = "print sensitive values too (the one named, or all)" },
  }, workflow.STACK_OPTIONS),
  help = "  wpo output STACK                         every output, secrets as (sensitive)\n"
    .. "  wpo output STACK NAME                    one output's value (a secret is refused)\n"
    .. "  wpo output STACK NAME --show-sensitive   one output's value, secret or not",
}

function M.run(opts, args)
  local stack = workflow.load(opts, args[1])
  local st <close> = workflow.open_state(stack, opts, "output", { lock = false })
  local reveal = opts.show_sensitive
  local names = text.sorted_keys(st.outputs)
  if args[2] then
    local o = st.outputs[args[2]]
    if not o then
      local near = text.closest(args[2], names)
      errors.raise { code = "OutputError", message = string.format("no output '%s'%s", args[2],
        near and (" (did you mean '" .. near .. "'?)") or "") }
    end
    if o.sensitive and not reveal then
      errors.raise { code = "OutputError",
        message = string.format("output '%s' is sensitive: add --show-sensitive to print it", args[2]) }
    end
    if opts.json then io.stdout:write(json.encode(o.value), "\n")
    elseif type(o.value) == "string" then io.stdout:write(o.value, "\n")
    else io.stdout:write(value.show(o.value), "\n") end
    return 0
  end
  if opts.json then
    local doc = {}
    for _, n in ipairs(names) do
      local o = st.outputs[n]
      -- a secret is left out unless revealed; "sensitive" says it is there
      doc[n] = { sensitive = o.sensitive or false }
      if not o.sensitive or reveal then doc[n].value = o.value end
    end
    io.stdout:write(json.encode(doc), "\n")
    return 0
  end
  for _, n in ipairs(names) do
    local o = st.outputs[n]
    io.stdout:write(n, " = ", value.show(o.value, o.sensitive and not reveal), "\n")
  end
  return 0
end

return M
