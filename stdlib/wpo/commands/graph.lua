-- wpo graph STACK: the dependency graph as Graphviz DOT (or SVG through dot).
local errors = require "wpo.errors"
local workflow = require "wpo.workflow"
local fs = require "wpo.core.fs"

local M = {
  summary = "print the stack's dependency graph as DOT (--svg FILE renders it with Graphviz)",
  args = { "STACK" },
  options = workflow.options({
    svg = { type = "string", metavar = "FILE", help = "write an SVG (needs Graphviz's dot)" },
  }, { var = workflow.STACK_OPTIONS.var, var_file = workflow.STACK_OPTIONS.var_file }),
}

local function q(s) return '"' .. s:gsub('[\\"]', "\\%0") .. '"' end

function M.dot(stack)
  local lines = { "digraph " .. q(stack.name) .. " {", "  rankdir = \"RL\";",
    "  node [shape = box, fontname = \"monospace\"];" }
  for _, d in ipairs(stack.resources) do
    local label = q(d.address):sub(1, -2) .. "\\n" .. q(tostring(d.where)):sub(2)
    lines[#lines + 1] = string.format("  %s [label = %s];", q(d.address), label)
  end
  for _, d in ipairs(stack.resources) do
    for _, dep in ipairs(d.deps) do lines[#lines + 1] = string.format("  %s -> %s;", q(d.address), q(dep)) end
  end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n") .. "\n"
end

local function find_dot()
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    if fs.exists(dir .. "/dot") then return dir .. "/dot" end
  end
  return nil
end

function M.run(opts, args)
  local stack = workflow.load(opts, args[1])
  local dot = M.dot(stack)
  if not opts.svg then
    io.stdout:write(dot)
    return 0
  end
  local exe = find_dot()
  if not exe then
    errors.raise { code = "GraphvizMissing", message = "--svg needs Graphviz's dot, which is not installed "
      .. "(Debian: apt-get install graphviz); without --svg, wpo graph prints DOT for any viewer" }
  end
  local tmp = opts.svg .. ".dot"
  local ok, err = fs.write_atomic(tmp, dot, "0644")
  if not ok then errors.raise { code = "GraphError", message = err } end
  local function sh(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  local _, _, status = os.execute(sh(exe) .. " -Tsvg -o " .. sh(opts.svg) .. " " .. sh(tmp))
  fs.remove(tmp)
  if status ~= 0 then
    errors.raise { code = "GraphError", message = "dot failed (exit " .. tostring(status) .. ") writing " .. opts.svg }
  end
  io.stdout:write("Wrote ", opts.svg, "\n")
  return 0
end

return M
