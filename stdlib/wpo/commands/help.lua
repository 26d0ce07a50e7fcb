-- wpo help [COMMAND]: the list of commands, or one command's usage and options.
local M = {
  summary = "show the commands, or one command's usage and options",
  args = { "[COMMAND]" },
}

function M.overview()
  local cli = require "wpo.cli"
  local lines = {
    "wpo — orchestrate AWS with Lua stack scripts",
    "",
    "usage: wpo COMMAND [ARGS...] [options]",
    "",
    "commands:",
  }
  for _, name in ipairs(cli.available()) do
    lines[#lines + 1] = string.format("  %-10s %s", name, cli.load_command(name).summary or "")
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "'wpo help COMMAND' shows a command's options. Exit status: 0 success, 1 failure, 2 usage error."
  return table.concat(lines, "\n") .. "\n"
end

function M.command_help(name, spec)
  local cli = require "wpo.cli"
  local text = require "wpo.text"
  local lines = { cli.usage(name, spec), "", spec.summary or "" }
  if spec.help then lines[#lines + 1] = "" ; lines[#lines + 1] = spec.help end
  local options = spec.options or {}
  if next(options) then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "options:"
    for _, key in ipairs(text.sorted_keys(options)) do
      local opt = options[key]
      local flag = "--" .. key:gsub("_", "-")
      if (opt.type or "string") ~= "boolean" then flag = flag .. " " .. (opt.metavar or (opt.type or "string"):upper()) end
      local help = opt.help or ""
      if opt.default ~= nil and opt.type ~= "boolean" then help = help .. string.format(" (default %s)", tostring(opt.default)) end
      if opt.repeatable then help = help .. " (repeatable)" end
      lines[#lines + 1] = string.format("  %-28s %s", flag, help)
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

function M.run(_, args)
  local cli = require "wpo.cli"
  if not args[1] then
    io.stdout:write(M.overview())
    return 0
  end
  local spec = cli.load_command(args[1])
  if not spec then
    cli.usage_error("no such command '%s' ('wpo help' lists them)", args[1])
  end
  io.stdout:write(M.command_help(args[1], spec))
  return 0
end

return M
