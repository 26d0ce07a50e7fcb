-- wpo help [COMMAND | TYPE]: the list of commands, one command's usage and
-- options, or one resource type's attributes and outputs.
local text = require "wpo.text"
local cli = require "wpo.cli"
local resource = require "wpo.resource"
local typedoc = require "wpo.typedoc"

local M = {
  summary = "show the commands, one command's usage and options, or a resource type",
  args = { "[COMMAND|TYPE]" },
}

function M.overview()
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
  lines[#lines + 1] = "'wpo help COMMAND' shows a command's options; 'wpo types' lists the resource types and"
  lines[#lines + 1] = "'wpo help TYPE' shows one. Exit status: 0 success, 1 failure, 2 usage error."
  return table.concat(lines, "\n") .. "\n"
end

function M.command_help(name, spec)
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
  if not args[1] then
    io.stdout:write(M.overview())
    return 0
  end
  if args[1]:find(".", 1, true) then
    local t, err = resource.get(args[1])
    if not t then cli.usage_error("%s ('wpo types' lists them)", err) end
    io.stdout:write(typedoc.text(t))
    return 0
  end
  local spec = cli.load_command(args[1])
  if not spec then
    local near = text.closest(args[1], cli.available())
    cli.usage_error("no such command '%s'%s ('wpo help' lists them)", args[1],
      near and (" (did you mean " .. near .. "?)") or "")
  end
  io.stdout:write(M.command_help(args[1], spec))
  return 0
end

return M
