-- wpo version: wpo's version and the libraries it runs with.
local cjson = require "cjson"
local sys = require "wpo.core.sys"
local M = {
  summary = "print the versions of wpo and the libraries it runs with",
  args = {},
  options = { json = { type = "boolean", help = "print as JSON" } },
}

function M.run(opts)
  local v = sys.versions()
  if opts.json then
    io.stdout:write(cjson.encode(v), "\n")
    return 0
  end
  io.stdout:write(string.format("wpo %s\n", v.wpo))
  for _, k in ipairs({ "lua", "curl", "openssl", "expat", "libgit2" }) do
    io.stdout:write(string.format("  %-8s %s\n", k, v[k]))
  end
  return 0
end

return M
