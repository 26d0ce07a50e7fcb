-- wpo.sandbox: what stack code may see, and the budgets it runs under.
--
-- Stack code (a stack script, the modules it requires from its repository,
-- a variables file, and the functions it hands to wpo.compute) is untrusted:
-- it sees an environment built here from an allowlist, and runs through
-- sandbox:run, under wpo.core.sandbox's instruction and memory budgets.
--
--   sandbox.new(limits?, require_fn?, globals?, bare?) -> sb
--     bare: no budgets and no views, the same environment otherwise: only
--     for bench/sandbox_bench.lua, which measures what the sandbox costs
--     (stack.load's bare option; nothing a stack or the CLI can set)
--     limits: { instructions, memory, value_bytes, source_bytes } (M.DEFAULTS)
--     require_fn(name): the stack's require (stack.lua's)
--     globals: { name = engine value } offered (exposed) as globals
--   sb.env                     the globals of stack code
--   sb:run(fn, ...) -> results  (raises a wpo error: where is the user's file:line)
--   sb:expose(v), sb:unexpose(v)   engine value <-> what stack code holds
--   sandbox.API                the modules stack code may require from wpo
--
-- What it sees: the safe base functions (pcall/xpcall/coroutine.resume that
-- cannot swallow a spent budget; setmetatable refusing __gc; getmetatable
-- showing only metatables stack code set itself); its own copies of string
-- (no dump; budgeted pattern functions), table, math (no randomseed), utf8,
-- coroutine; os.time/date/clock; print (to stderr); wpo and cidr; and
-- read-only views of the stack API modules. Not: io, os.getenv/execute/exit,
-- debug, load/dofile/loadfile, package, collectgarbage, string.dump, any
-- other wpo module, or any module on package.path/cpath.
--
-- While stack code runs, the shared string metatable's __index is a table
-- of those string functions out of stack code's reach (so "s:find(p)" is
-- budgeted too), and nothing
-- stack code can reach belongs to the engine: engine objects it holds are
-- opaque handles or read-only views.
local core = require "wpo.core.sandbox"
local pattern = require "wpo.core.pattern"
local errors = require "wpo.errors"

local M = {}

-- Loading a library module is the library's work, not stack code's, even
-- when stack code's first use of a type loads it inside a sandbox run: the
-- global require (the library's, never stack code's) runs it unmetered, so
-- a stack's count never depends on which modules an earlier stack loaded.
-- A module already loaded is the table lookup it always was.
do
  local raw_require, loaded = require, package.loaded
  require = function(name)   -- luacheck: ignore 121
    local m = loaded[name]
    if m ~= nil then return m end
    return core.unmetered(raw_require, name)
  end
end

M.API = { "wpo", "wpo.cidr", "wpo.wordpress" }
-- and the WordPress tiers, for layouts of one's own
M.TIERS = { "backup", "cache", "compute", "database", "dns", "edge", "files", "identity", "loadbalancer", "media",
            "network", "observability", "registry", "secrets", "security", "service" }
for _, tier in ipairs(M.TIERS) do M.API[#M.API + 1] = "wpo.wordpress." .. tier end
M.API_TEXT = "wpo, wpo.cidr, wpo.wordpress and its tiers (wpo.wordpress." .. table.concat(M.TIERS, ", .") .. ")"
M.DEFAULTS = {
  instructions = 500000000,      -- a few seconds of work (the prod stack takes under 1M); --script-budget
  memory = 512 * 1024 * 1024,    -- --script-memory
  value_bytes = 1024 * 1024,     -- the largest string in one value; --max-value-size
  source_bytes = 4 * 1024 * 1024, -- the largest stack source file
}

local SAFE_GLOBALS = { "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen", "rawset",
                       "select", "tonumber", "tostring", "type", "_VERSION" }

-- The string library stack code sees, shared: the string metatable's
-- __index while stack code runs (stack code cannot reach this table: its
-- `string` is a copy, and getmetatable("") shows it nothing).
local SAFE_STRING = {}
for k, v in pairs(string) do
  if k ~= "dump" then SAFE_STRING[k] = v end
end
for _, k in ipairs({ "find", "match", "gmatch", "gsub" }) do SAFE_STRING[k] = pattern[k] end

-- What Lua has and stack code does not, and why: a refusal names it.
local REFUSED = {
  io = "files are not stack inputs", debug = "it reaches the engine", load = "code is loaded only by require",
  loadfile = "code is loaded only by require", dofile = "code is loaded only by require",
  package = "modules are loaded only by require", collectgarbage = "memory is the engine's",
  ["os.getenv"] = "inputs come from --var, --var-file and WPO_VAR_<name>", ["os.execute"] = "it runs programs",
  ["os.exit"] = "the engine exits", ["os.remove"] = "it changes files", ["os.rename"] = "it changes files",
  ["os.tmpname"] = "it makes files", ["os.setlocale"] = "it changes the engine", ["string.dump"] = "bytecode is not loaded",
  ["math.randomseed"] = "the engine's random numbers are not stack code's",
}
M.REFUSED = REFUSED

local function refused(name)
  errors.raise { kind = "StackError", where = errors.where(3),
    message = string.format("%s is not available to stack code (%s)", name, REFUSED[name]) }
end

-- A library table whose missing names raise: the refused ones say why.
local function guarded(lib, t)
  return setmetatable(t, { __index = function(_, k)
    local name = lib .. "." .. tostring(k)
    if REFUSED[name] then refused(name) end
    errors.raise { kind = "StackError", where = errors.where(2), message = "unknown field " .. name }
  end })
end

local function copy_of(t, except)
  local out = {}
  for k, v in pairs(t) do
    if not (except and except[k]) then out[k] = v end
  end
  return out
end

local Sandbox = {}
Sandbox.__index = Sandbox

-- "@<stdlib>/": how the chunknames of the library's own files begin
local function stdlib_prefix()
  return package.wpo_stdlib and ("@" .. package.wpo_stdlib .. "/") or nil
end
M.stdlib_prefix = stdlib_prefix

-- Budget errors and whatever else stack code raised, as one wpo error.
local function budget_error(err, where)
  local what
  if err.budget == "memory" then
    what = string.format("the script exceeded its memory budget (%d MiB; --script-memory raises it)",
      err.limit // (1024 * 1024))
  else
    what = string.format("the script exceeded its instruction budget (%d instructions; --script-budget raises it)",
      err.limit)
  end
  return errors.new { kind = "BudgetExceeded", where = where, message = what }
end

-- An error from stack code, rebuilt from its text: a wpo error the code
-- caught and changed (its exit status, say) is not trusted as it is.
local function as_error(e, where)
  if errors.is(e) then
    local clean = {}
    for _, k in ipairs({ "kind", "code", "message", "where", "address" }) do
      local v = rawget(e, k)
      if type(v) == "string" then clean[k] = v end
    end
    clean.message = clean.message or "error"
    clean.where = clean.where or where
    return errors.new(clean)
  end
  if type(e) == "string" then
    local at, rest = e:match("^([^\n]-:%d+): (.*)$")
    return errors.new { kind = "StackError", where = at or where, message = rest or e }
  end
  local what = e == nil and "error() with no message"
    or ("an error value that is a " .. type(e) .. ", not a message")
  return errors.new { kind = "StackError", where = where, message = "the script raised " .. what }
end

-- Where stack code was: a file:line of the user's, or (a tail call such as
-- `return wordpress.stack{...}` leaves no frame of the script) the script
-- and the library line it was in.
local function user_place(self, where)
  local prefix = stdlib_prefix()
  if where and prefix and where:sub(1, #prefix - 1) == prefix:sub(2) then
    return (self.script or "the stack script") .. " (in " .. where:sub(#prefix) .. ")"
  end
  return where or self.script
end

-- sb:run(fn, ...) -> fn's results; raises a wpo error naming the user's file:line.
function Sandbox:run(fn, ...)
  if self.bare then
    local r = table.pack(xpcall(fn, function(e) return e end, ...))
    if r[1] then return table.unpack(r, 2, r.n) end
    error(as_error(r[2], self.script), 0)
  end
  local smt = debug.getmetatable("")
  local previous = smt.__index
  smt.__index = SAFE_STRING
  local r = table.pack(core.run(self.budget, fn, ...))
  smt.__index = previous
  if r[1] then return table.unpack(r, 2, r.n) end
  local err, where = r[2], user_place(self, r[3])
  if type(err) == "table" and not errors.is(err) and err.budget then
    error(budget_error(err, where), 0)
  end
  error(as_error(err, where), 0)
end

-- ---- views of engine values ----

-- sb:expose(v): what stack code gets for an engine value it reaches through
-- a module: a read-only view of a table (module tables are shared by every
-- stack of a process), a stack object's view (registered by stack.lua
-- through M.register_view), functions wrapped so that their arguments and
-- results cross back and forth. References and resource handles are opaque
-- already and cross as they are.
function Sandbox:expose(v)
  if self.bare then return v end
  local t = type(v)
  if t == "function" then
    local cached = self.views[v]
    if cached then return cached end
    local wrapped = function(...)
      return self:results(v(self:unexpose_all(...)))
    end
    self.views[v] = wrapped
    self.real[wrapped] = v
    return wrapped
  end
  if t ~= "table" then return v end
  local cached = self.views[v]
  if cached then return cached end
  local mt = getmetatable(v)
  local view
  if mt ~= nil then
    local make = M.view_makers[mt]
    if not make then return v end   -- an opaque engine value (a reference, a handle)
    view = make(v, self)
  else
    view = setmetatable({}, {
      __index = function(_, k) return self:expose(v[k]) end,
      __newindex = function(_, k)
        errors.raise { kind = "StackError", where = errors.where(2),
          message = "cannot change the wpo library ('" .. tostring(k) .. "' is read-only)" }
      end,
      __pairs = function()
        local k
        return function()
          local x
          k, x = next(v, k)
          if k ~= nil then return k, self:expose(x) end
        end
      end,
      __len = function() return #v end,
      __metatable = false,
    })
  end
  self.views[v] = view
  self.real[view] = v
  return view
end

-- What a function of the stack API returns, as stack code gets it: plain
-- tables copied (the caller owns them, and the engine keeps no alias into
-- what stack code may change), the rest exposed.
function Sandbox:result(v, seen)
  if self.bare then return v end
  if type(v) ~= "table" or getmetatable(v) ~= nil then return self:expose(v) end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local out = {}
  seen[v] = out
  for k, x in next, v do out[k] = self:result(x, seen) end
  return out
end

local function map(self, f, n, ...)
  if n == 0 then return end
  local first = ...
  return f(self, first), map(self, f, n - 1, select(2, ...))
end

function Sandbox:results(...) return map(self, Sandbox.result, select("#", ...), ...) end

function Sandbox:unexpose(v)
  local real = self.real[v]
  if real ~= nil then return real end
  return v
end

function Sandbox:unexpose_all(...) return map(self, Sandbox.unexpose, select("#", ...), ...) end

-- Metatables of engine objects with a view of their own: mt -> make(object, sb).
M.view_makers = {}
function M.register_view(mt, make) M.view_makers[mt] = make end

-- ---- the environment ----

local function build_env(self, require_fn, globals)
  local env = {}
  for k, v in pairs(globals or {}) do env[k] = self:expose(v) end
  for _, k in ipairs(SAFE_GLOBALS) do env[k] = _G[k] end
  env.pcall, env.xpcall = core.pcall, core.xpcall
  local own_mts = setmetatable({}, { __mode = "k" })   -- metatables stack code set
  env.setmetatable = function(t, mt)
    if type(t) ~= "table" then
      errors.raise { kind = "StackError", where = errors.where(2),
        message = "setmetatable: expected a table, got " .. type(t) }
    end
    local current = getmetatable(t)
    if current ~= nil and not own_mts[current] then
      errors.raise { kind = "StackError", where = errors.where(2),
        message = "setmetatable: cannot change the metatable of a wpo value" }
    end
    if mt ~= nil then
      if type(mt) ~= "table" then
        errors.raise { kind = "StackError", where = errors.where(2),
          message = "setmetatable: a metatable is a table or nil, not a " .. type(mt) }
      end
      if rawget(mt, "__gc") ~= nil then
        errors.raise { kind = "StackError", where = errors.where(2),
          message = "setmetatable: __gc finalisers are not allowed in stack code" }
      end
      own_mts[mt] = true
    end
    return setmetatable(t, mt)
  end
  env.getmetatable = function(v)
    local mt = getmetatable(v)
    if mt == nil or own_mts[mt] then return mt end
    return nil
  end
  env.string = guarded("string", copy_of(SAFE_STRING))
  env.table = guarded("table", copy_of(table))
  env.math = guarded("math", copy_of(math, { randomseed = true }))
  env.utf8 = guarded("utf8", copy_of(utf8))
  env.coroutine = guarded("coroutine", copy_of(coroutine))
  env.coroutine.resume = core.resume
  env.os = guarded("os", { time = os.time, date = os.date, clock = os.clock })
  env.print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    io.stderr:write(table.concat(parts, "\t", 1, parts.n), "\n")
  end
  env.require = require_fn
  env._G = env
  return setmetatable(env, {
    __index = function(_, k)
      if REFUSED[k] then refused(k) end
      errors.raise { kind = "StackError", where = errors.where(2), message = "unknown global '" .. tostring(k) .. "'" }
    end,
    __newindex = function(_, k)
      errors.raise { kind = "StackError", where = errors.where(2),
        message = "assignment to undeclared global '" .. tostring(k) .. "' (declare it local)" }
    end,
    __metatable = false,
  })
end

local function check_limits(limits)
  local out = {}
  for k, v in pairs(M.DEFAULTS) do out[k] = v end
  for k, v in pairs(limits or {}) do
    if M.DEFAULTS[k] == nil then error("sandbox.new: unknown limit '" .. tostring(k) .. "'", 3) end
    if math.type(v) ~= "integer" or v <= 0 then error("sandbox.new: " .. k .. " must be a positive integer", 3) end
    out[k] = v
  end
  return out
end

function M.new(limits, require_fn, globals, bare)
  local self = setmetatable({
    bare = bare == true,
    views = setmetatable({}, { __mode = "k" }),   -- engine value -> its view
    real = setmetatable({}, { __mode = "k" }),    -- view -> engine value
  }, Sandbox)
  self.limits = check_limits(limits)
  self.budget = { instructions = self.limits.instructions, memory = self.limits.memory, skip = stdlib_prefix() }
  self.env = build_env(self, require_fn, globals)
  return self
end

-- Whether stack code may require this wpo module.
M.API_SET = {}
for _, name in ipairs(M.API) do M.API_SET[name] = true end
function M.is_api(name) return M.API_SET[name] == true end

return M
