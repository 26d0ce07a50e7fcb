-- wpo types: every resource type, one line each.
local json = require "wpo.json"
local resource = require "wpo.resource"
local typedoc = require "wpo.typedoc"

local M = {
  summary = "list the resource types ('wpo help TYPE' shows one)",
  args = {},
  options = { json = { type = "boolean", help = "machine-readable output" } },
}

function M.run(opts)
  local rows, width = {}, 0
  for _, name in ipairs(resource.known_types()) do
    local t = resource.get(name)
    if t then
      rows[#rows + 1] = { name = name, description = typedoc.summary(t) }
      width = math.max(width, #name)
    end
  end
  if opts.json then
    io.stdout:write(json.encode(json.array(rows)), "\n")
    return 0
  end
  for _, r in ipairs(rows) do io.stdout:write(string.format("%-" .. width .. "s  %s\n", r.name, r.description)) end
  return 0
end

return M
