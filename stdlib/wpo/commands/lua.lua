-- wpo lua FILE [ARGS...]: run a Lua file with every wpo module available,
-- as the standalone interpreter would (global `arg`, ... = ARGS).
local errors = require "wpo.errors"

local M = {
  summary = "run a Lua file with the wpo modules available (tests use it)",
  args = { "FILE", "ARGS..." },
  passthrough = true,
}

function M.run(_, args)
  local file = args[1]
  local chunk, err = loadfile(file)
  if not chunk then errors.raise { code = "LoadError", message = err } end
  local script_args = { [0] = file, table.unpack(args, 2) }
  _G.arg = script_args
  local results = table.pack(chunk(table.unpack(args, 2)))
  local status = results[1]
  if math.type(status) == "integer" then return status end
  return 0
end

return M
