-- tools/typedocs.lua DIR: write the resource-type reference into DIR (one
-- page per type and README.md, the index), from the type definitions.
-- Run by `make docs` as `wpo lua tools/typedocs.lua docs/types`.
local fs = require "wpo.core.fs"
local resource = require "wpo.resource"
local typedoc = require "wpo.typedoc"

local dir = arg and arg[1]
if not dir then
  io.stderr:write("usage: wpo lua tools/typedocs.lua DIR\n")
  os.exit(2)
end

local types = {}
for _, name in ipairs(resource.known_types()) do
  local t, err = resource.get(name)
  if not t then
    io.stderr:write("tools/typedocs.lua: ", err, "\n")
    os.exit(1)
  end
  types[#types + 1] = t
end

local function write(path, text)
  local ok, err = fs.write_atomic(path, text, "0644")
  if not ok then
    io.stderr:write("tools/typedocs.lua: cannot write ", path, ": ", tostring(err), "\n")
    os.exit(1)
  end
end

for _, t in ipairs(types) do write(dir .. "/" .. t.name .. ".md", typedoc.markdown(t)) end
write(dir .. "/README.md", typedoc.index(types))
io.stdout:write(string.format("%d resource types written to %s\n", #types, dir))
