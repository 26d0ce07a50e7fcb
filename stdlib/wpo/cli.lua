-- wpo.cli: the command line. main.c calls cli.main(argv) and exits with what
-- it returns.
--
-- Each command is a module wpo.commands.<name> returning a table:
--   summary  one line for `wpo help`
--   args     positional names: "STACK" required, "[ID]" optional, "ARGS..." the rest
--   options  { name = { type = "boolean"|"string"|"integer", default, repeatable,
--              metavar, help } }  (`--detailed-exitcode` is opts.detailed_exitcode)
--   passthrough  true: everything after the first positional is the command's own
--   help     longer text for `wpo help NAME` (optional)
--   run(opts, args) -> exit status (0 success, 1 failure, 2 usage, 130/143 interrupted
--            by SIGINT/SIGTERM, or as documented)
-- Commands raise wpo.errors for user-facing failures; cli prints them as one line.
local errors = require "wpo.errors"
local text = require "wpo.text"

local M = {}

M.EXIT_OK, M.EXIT_FAILED, M.EXIT_USAGE = 0, 1, 2
-- Interrupted by a signal, as shells report one: 128 + its number.
M.EXIT_SIGNAL = { SIGINT = 130, SIGTERM = 143 }

-- cli.signal_status(signal) -> the exit status of a run that signal interrupted
function M.signal_status(signal)
  return M.EXIT_SIGNAL[signal] or M.EXIT_SIGNAL.SIGINT
end

-- The order `wpo help` lists them in. A name whose module is absent is not offered.
M.COMMANDS = {
  "plan", "run", "apply", "destroy", "validate", "show", "refresh", "import", "output", "state", "graph",
  "history", "rollout", "unlock", "types", "iam-policy", "aws", "lua", "completion", "version", "help",
}

local function load_command(name)
  if type(name) ~= "string" or not name:match("^[a-z][a-z0-9-]*$") then return nil end
  local modname = "wpo.commands." .. name:gsub("-", "_")
  if not package.preload[modname] and not package.searchpath(modname, package.path) then
    return nil
  end
  -- the module is named at run time
  return require(modname)
end
M.load_command = load_command

function M.available()
  local names = {}
  for _, name in ipairs(M.COMMANDS) do
    if load_command(name) then names[#names + 1] = name end
  end
  return names
end

local function option_names(spec)
  local names = {}
  for name in pairs(spec.options or {}) do names[#names + 1] = "--" .. name:gsub("_", "-") end
  table.sort(names)
  return names
end

function M.usage(name, spec)
  local parts = { "wpo", name }
  for _, a in ipairs(spec.args or {}) do parts[#parts + 1] = a end
  if next(spec.options or {}) then parts[#parts + 1] = "[options]" end
  return "usage: " .. table.concat(parts, " ")
end

local UsageError = {}
UsageError.__index = UsageError
UsageError.__tostring = function(e) return e.message end

local function usage_error(fmt, ...)
  error(setmetatable({ message = string.format(fmt, ...) }, UsageError), 0)
end

local function convert(name, opt, value)
  local t = opt.type or "string"
  if t == "boolean" then
    if value == nil or value == "true" then return true end
    if value == "false" then return false end
    usage_error("option --%s takes true or false, not '%s'", name, value)
  elseif t == "integer" then
    local n = math.tointeger(tonumber(value))
    if not n then usage_error("option --%s needs a whole number, not '%s'", name, tostring(value)) end
    if opt.min and n < opt.min then usage_error("option --%s must be at least %d, not %d", name, opt.min, n) end
    return n
  end
  if value == nil then usage_error("option --%s needs a value", name) end
  if opt.choices then
    for _, c in ipairs(opt.choices) do if c == value then return value end end
    usage_error("option --%s must be one of %s, not '%s'", name, table.concat(opt.choices, ", "), value)
  end
  return value
end

-- cli.parse(spec, argv, first) -> opts, args   (raises a usage error)
function M.parse(spec, argv, first)
  local options = spec.options or {}
  local opts, args = {}, {}
  local i, only_args = first or 1, false
  while i <= #argv do
    local a = argv[i]
    if only_args or a == "-" or a:sub(1, 1) ~= "-" then
      args[#args + 1] = a
      if spec.passthrough then only_args = true end
    elseif a == "--" then
      only_args = true
    elseif a == "-h" or a == "--help" then
      opts.help = true
    elseif a == "--no-color" and not options.no_color then
      M.no_color = true              -- every command: as NO_COLOR=1
    else
      local name, value = a:match("^%-%-([%w][%w-]*)=(.*)$")
      if not name then name = a:match("^%-%-([%w][%w-]*)$") end
      if not name then usage_error("unknown option '%s'", a) end
      local key = name:gsub("-", "_")
      local opt = options[key]
      local negated = false
      if not opt and key:sub(1, 3) == "no_" and options[key:sub(4)]
          and options[key:sub(4)].type == "boolean" and value == nil then
        key, opt, negated = key:sub(4), options[key:sub(4)], true
      end
      if not opt then
        local valid = option_names(spec)
        local near = text.closest("--" .. name, valid)
        usage_error("unknown option --%s%s", name,
          near and (" (did you mean " .. near .. "?)")
            or (#valid > 0 and (" (valid: " .. table.concat(valid, ", ") .. ")") or " (this command takes none)"))
      end
      if opt.type == "boolean" and value == nil and not negated
          and (argv[i + 1] == "true" or argv[i + 1] == "false") then
        i = i + 1                    -- --refresh false, as --refresh=false
        value = argv[i]
      elseif (opt.type or "string") ~= "boolean" and value == nil then
        i = i + 1
        value = argv[i]
        if value == nil then usage_error("option --%s needs a value%s", name,
          opt.metavar and (" (" .. opt.metavar .. ")") or "") end
      end
      local v = convert(name, opt, value)
      if negated then v = false end
      if opt.repeatable then
        opts[key] = opts[key] or {}
        table.insert(opts[key], v)
      else
        opts[key] = v
      end
    end
    i = i + 1
  end
  if opts.help then return opts, args end
  for key, opt in pairs(options) do
    if opts[key] == nil then
      if opt.repeatable then opts[key] = {}
      elseif opt.default ~= nil then opts[key] = opt.default end
    end
  end
  local required, max = 0, 0
  for _, a in ipairs(spec.args or {}) do
    if a:sub(-3) == "..." then max = math.huge
    else
      max = max + 1
      if a:sub(1, 1) ~= "[" then required = required + 1 end
    end
  end
  if #args < required then
    usage_error("missing argument %s", spec.args[#args + 1])
  elseif #args > max then
    usage_error("unexpected argument '%s'", args[max + 1])
  end
  return opts, args
end

function M.usage_error(fmt, ...) usage_error(fmt, ...) end

local function print_error(msg)
  io.stderr:write("wpo: ", msg, "\n")
end

local function debug_enabled()
  return os.getenv("WPO_LOG") == "debug"
end

-- cli.main(argv) -> exit status
function M.main(argv)
  local name = argv[1]
  if name == nil then
    -- lazy: the help command's module loads only to print usage
    io.stderr:write(require("wpo.commands.help").overview())
    return M.EXIT_USAGE
  end
  if name == "-h" or name == "--help" then name = "help" end
  if name == "--version" or name == "-V" then name = "version" end
  local spec = load_command(name)
  if not spec then
    local near = text.closest(name, M.available())
    print_error(string.format("unknown command '%s'%s", name,
      near and string.format(" (did you mean '%s'?)", near) or ""))
    io.stderr:write("usage: wpo COMMAND [ARGS...]; 'wpo help' lists the commands\n")
    return M.EXIT_USAGE
  end

  local ok, status = xpcall(function()
    local opts, args = M.parse(spec, argv, 2)
    if opts.help then
      -- lazy: the help command's module loads only to print usage
      io.stdout:write(require("wpo.commands.help").command_help(name, spec))
      return M.EXIT_OK
    end
    return spec.run(opts, args)
  end, function(e)
    if getmetatable(e) == UsageError or errors.is(e) then return e end
    return setmetatable({ internal = true, message = tostring(e),
      traceback = debug.traceback(tostring(e), 2) }, UsageError)
  end)
  if ok then
    return math.tointeger(status) or (status == false and M.EXIT_FAILED or M.EXIT_OK)
  end
  local e = status
  if getmetatable(e) == UsageError and not e.internal then
    print_error(e.message)
    io.stderr:write(M.usage(name, spec), "\n")
    return M.EXIT_USAGE
  elseif errors.is(e) then
    print_error(tostring(e))
    return e.exit or M.EXIT_FAILED
  end
  print_error("internal error: " .. (debug_enabled() and e.traceback or
    (e.message .. " (WPO_LOG=debug shows the traceback)")))
  return M.EXIT_FAILED
end

return M
