-- wpo.value: the values of resource attributes as the engine sees them.
--
-- A stack script writes plain Lua values, and lazy ones: a reference to another
-- resource's output (`vpc.id`), a string joined with one (`vpc.id .. "/x"`),
-- or value.compute(fn, ...) over them. Lazy values become dependency edges and
-- are resolved when their resources are known: at plan time from state (or
-- value.UNKNOWN, shown as "(known after apply)"), at apply time from the
-- outputs of the resources just created.
--
--   value.ref(decl, name) -> lazy        (stack.lua makes these; decl is a declaration)
--   value.compute(fn, ...) -> lazy       fn(resolved args...) at resolution time
--   value.secret(v, name) -> lazy        a sensitive variable: resolves to v, sensitive
--   value.format(fmt, ...) -> string | lazy
--   value.is_lazy(v), value.refs(v, fn)  fn(decl, name) for every reference in v
--   value.resolve(v, lookup) -> resolved, sensitive
--        lookup(decl, name) -> value | value.UNKNOWN, sensitive
--   value.UNKNOWN, value.has_unknown(v)
--   value.equal(a, b)                    deep equality (3 == 3.0)
--   value.show(v, sensitive) -> string   one-line display ("(sensitive)", ...)
--   value.normalize_numbers(v) -> v      integer-valued floats as integers (after JSON)
local errors = require "wpo.errors"

local M = {}

local UNKNOWN = setmetatable({}, {
  __name = "wpo.unknown",
  __tostring = function() return "(known after apply)" end,
})
M.UNKNOWN = UNKNOWN

-- A lazy value is an empty table with the Lazy metatable; what it holds is
-- kept here, out of reach of stack code (which may hold lazies): kind "ref"
-- (decl, name) or "fn" (fn, args, secret, concat, run).
local Lazy = {}
local data = setmetatable({}, { __mode = "k" })

local function is_lazy(v) return getmetatable(v) == Lazy end
M.is_lazy = is_lazy

local function describe_lazy(v)
  local d = data[v]
  if d.kind == "ref" then return d.decl.address .. "." .. d.name end
  if d.secret then return "the sensitive variable '" .. d.secret .. "'" end
  return "a computed value"
end

local function misuse(v, what)
  if data[v].secret then
    errors.raise { kind = "StackError", where = errors.where(3),
      message = string.format("%s cannot be %s here: a sensitive value is kept out of sight, so it can be "
        .. "given to attributes and outputs, joined with strings using .., or used in wpo.compute(fn, value)",
        describe_lazy(v), what) }
  end
  errors.raise { kind = "StackError", where = errors.where(3),
    message = string.format("%s is known only after apply: it cannot be %s here; "
      .. "join it with strings using .., or use wpo.compute(fn, value)", describe_lazy(v), what) }
end

Lazy.__index = function(v, key)
  misuse(v, "indexed (." .. tostring(key) .. ")")
end
Lazy.__newindex = function(v) misuse(v, "modified") end
Lazy.__call = function(v) misuse(v, "called") end
Lazy.__tostring = function(v) return "<" .. describe_lazy(v) .. ">" end
Lazy.__name = "wpo.lazy"
Lazy.__len = function(v) misuse(v, "measured with #") end
for _, op in ipairs({ "__add", "__sub", "__mul", "__div", "__mod", "__pow", "__unm", "__idiv",
                      "__lt", "__le" }) do
  Lazy[op] = function(a, b)
    misuse(is_lazy(a) and a or b, "used in arithmetic or comparisons")
  end
end

-- How functions given by stack code run when a lazy value is resolved: set
-- by wpo.stack while a script loads (its sandbox), captured by each lazy.
local runner = nil
function M.set_runner(run)
  local previous = runner
  runner = run
  return previous
end

local function new(fields)
  local v = setmetatable({}, Lazy)
  if fields.kind == "fn" then fields.run = runner end
  data[v] = fields
  return v
end

function M.ref(decl, name)
  return new({ kind = "ref", decl = decl, name = name })
end

-- value.secret(v, name) -> lazy: a sensitive variable's value; whatever is
-- resolved from it is sensitive (hidden in plans, outputs, state show).
local function identity(x) return x end
function M.secret(v, name)
  return new({ kind = "fn", fn = identity, args = table.pack(v), secret = name or "?" })
end

function M.compute(fn, ...)
  if type(fn) ~= "function" then
    errors.raise { kind = "StackError", where = errors.where(3),
      message = "wpo.compute: expected a function, got " .. type(fn) }
  end
  local args = table.pack(...)
  for i = 1, args.n do args[i] = M.plain(args[i], "wpo.compute: argument " .. i, errors.where(3)) end
  return new({ kind = "fn", fn = fn, args = args })
end

local function concat_parts(...)
  local parts = table.pack(...)
  for i = 1, parts.n do
    local p = parts[i]
    if type(p) ~= "string" and type(p) ~= "number" then
      errors.raise { kind = "StackError",
        message = string.format("cannot join a %s with a string", type(p)) }
    end
  end
  return table.concat(parts, "", 1, parts.n)
end

Lazy.__concat = function(a, b)
  for _, side in ipairs({ a, b }) do
    local t = type(side)
    if not is_lazy(side) and t ~= "string" and t ~= "number" then
      errors.raise { kind = "StackError", where = errors.where(3),
        message = "cannot join a " .. t .. " with a value known only after apply" }
    end
  end
  return new({ kind = "fn", fn = concat_parts, args = table.pack(a, b), concat = true })
end

-- value.plain(v, what, where, address?, name?) -> a deep copy of v that is
-- plain data, and whether it holds a lazy value (raises a ValueError at where
-- naming what (what .. " " .. name) and the path inside v): strings up to
-- value.max_string bytes, finite numbers, booleans, tables of them (string or
-- number keys, no metatable, no cycle, at most MAX_DEPTH levels), and lazies.
-- What stack code hands the engine goes through it, so the engine never holds
-- a function, a coroutine, or a table whose metamethods run stack code.
local MAX_DEPTH = 64
M.MAX_DEPTH = MAX_DEPTH
M.max_string = 1024 * 1024

local function key_path(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return "." .. k end
  if math.type(k) == "integer" then return "[" .. k .. "]" end
  return "[" .. (type(k) == "string" and string.format("%q", #k > 40 and k:sub(1, 40) .. "..." or k) or tostring(k)) .. "]"
end

-- what makes a string or a number (of type t) no value, or nil
local function scalar_problem(x, t)
  if t == "string" then
    if #x > M.max_string then
      return string.format("a string of %d bytes is over the limit of %d for one value (--max-value-size)",
        #x, M.max_string)
    end
  elseif x ~= x then
    return "NaN is not a value"
  elseif x == math.huge or x == -math.huge then
    return "infinity is not a value"
  end
  return nil
end

-- plain's walk: the copy of x (at depth, under keys[1..depth]); w = { what,
-- where, address, name, keys, open } for a message (made once per walked
-- value, not per table), and w.lazy set when a lazy was met
local function plain_fail(w, depth, msg)
  local parts = {}
  for i = 1, depth do parts[i] = key_path(w.keys[i]) end
  local subject = (w.what or "value") .. (w.name and (" " .. w.name) or "") .. table.concat(parts)
  errors.raise { kind = "ValueError", where = w.where, address = w.address, message = subject .. ": " .. msg }
end

local function plain_walk(w, x, depth)
  local t = type(x)
  if t == "string" or t == "number" then
    local problem = scalar_problem(x, t)
    if problem then plain_fail(w, depth, problem) end
    return x
  elseif t == "boolean" or t == "nil" then
    return x
  elseif t == "table" then
    local mt = getmetatable(x)
    if x == UNKNOWN or mt == Lazy then
      w.lazy = true
      return x
    end
    if mt ~= nil then
      if type(mt) == "table" and rawget(mt, "__name") == "wpo.resource" then
        plain_fail(w, depth, "a resource is not a value: give one of its outputs (like vpc.id)")
      end
      plain_fail(w, depth, "a table with a metatable is not a value (give plain tables)")
    end
    local open = w.open
    if open[x] then plain_fail(w, depth, "a cyclic value (a table that contains itself)") end
    if depth >= MAX_DEPTH then plain_fail(w, depth, "nested deeper than " .. MAX_DEPTH .. " levels") end
    open[x] = true
    local out, keys = {}, w.keys
    for k, e in next, x do
      local kt = type(k)
      if kt ~= "string" and (kt ~= "number" or k ~= k or k == math.huge or k == -math.huge) then
        plain_fail(w, depth, "a key that is a " .. (kt == "number" and "NaN or infinity" or kt)
          .. " (keys are strings or numbers)")
      end
      keys[depth + 1] = k
      out[k] = plain_walk(w, e, depth + 1)
    end
    open[x] = nil
    return out
  end
  plain_fail(w, depth, "a " .. (t == "thread" and "coroutine" or t)
    .. " is not a value (values are strings, numbers, booleans and tables of them)")
end

function M.plain(v, what, where, address, name)
  -- most values are a string, a number, a boolean or a lazy: no walk
  local vt = type(v)
  if vt == "string" or vt == "number" then
    if not scalar_problem(v, vt) then return v, false end
  elseif vt == "boolean" or vt == "nil" then
    return v, false
  elseif vt == "table" and (is_lazy(v) or v == UNKNOWN) then
    return v, true
  end
  local w = { what = what, where = where, address = address, name = name, keys = {}, open = {}, lazy = false }
  local out = plain_walk(w, v, 0)
  return out, w.lazy
end

local function contains_lazy(v, seen)
  if is_lazy(v) then return true end
  if type(v) ~= "table" then return false end
  seen = seen or {}
  if seen[v] then return false end
  seen[v] = true
  for k, x in pairs(v) do
    if contains_lazy(x, seen) or contains_lazy(k, seen) then return true end
  end
  return false
end
M.contains_lazy = contains_lazy

function M.format(fmt, ...)
  local args = table.pack(...)
  for i = 1, args.n do args[i] = M.plain(args[i], "wpo.format: argument " .. i, errors.where(3)) end
  for i = 1, args.n do
    if contains_lazy(args[i]) then
      return new({ kind = "fn", fn = function(...) return string.format(fmt, ...) end, args = args })
    end
  end
  return string.format(fmt, ...)
end

-- value.refs(v, fn): fn(decl, name) for every reference inside v
local function refs(v, fn)
  if type(v) ~= "table" then return end
  if getmetatable(v) == Lazy then
    local d = data[v]
    if d.kind == "ref" then fn(d.decl, d.name) return end
    for i = 1, d.args.n do refs(d.args[i], fn) end
    return
  end
  for _, x in pairs(v) do refs(x, fn) end
end
M.refs = refs

local function has_unknown(v)
  if type(v) ~= "table" then return false end
  if v == UNKNOWN then return true end
  if getmetatable(v) ~= Lazy then
    for _, x in pairs(v) do if has_unknown(x) then return true end end
  end
  return false
end
M.has_unknown = has_unknown

-- value.resolve(v, lookup) -> resolved value (lazies replaced), sensitive
function M.resolve(v, lookup)
  if type(v) ~= "table" then return v, false end
  local sensitive = false
  local function walk(x)
    if type(x) ~= "table" then return x end
    if getmetatable(x) == Lazy then
      local d = data[x]
      if d.kind == "ref" then
        local r, s = lookup(d.decl, d.name)
        if s then sensitive = true end
        return r
      end
      if d.secret then sensitive = true end
      local args, unknown = {}, false
      for i = 1, d.args.n do
        args[i] = walk(d.args[i])
        if has_unknown(args[i]) then unknown = true end
      end
      if unknown then return UNKNOWN end
      local ok, r
      if d.run then
        ok, r = pcall(d.run, d.fn, table.unpack(args, 1, d.args.n))
        if ok then ok, r = pcall(M.plain, r, "the value wpo.compute computed") end
      else
        ok, r = pcall(d.fn, table.unpack(args, 1, d.args.n))
      end
      if not ok then
        if errors.is(r) then error(r, 0) end
        errors.raise { code = "ValueError", message = "computing a value failed: " .. tostring(r) }
      end
      return walk(r)
    end
    if type(x) == "table" and x ~= UNKNOWN then
      local out = {}
      for k, e in pairs(x) do out[k] = walk(e) end
      return out
    end
    return x
  end
  local r = walk(v)
  return r, sensitive
end

local function equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" or a == UNKNOWN or b == UNKNOWN then return false end
  for k, x in pairs(a) do
    if not equal(x, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
M.equal = equal

local function normalize_numbers(v)
  if type(v) == "number" then return math.tointeger(v) or v end
  if type(v) == "table" then
    for k, x in pairs(v) do
      if type(x) == "number" or type(x) == "table" then v[k] = normalize_numbers(x) end
    end
  end
  return v
end
M.normalize_numbers = normalize_numbers

-- Deep copy of plain data.
local function copy(v)
  if type(v) ~= "table" or v == UNKNOWN or is_lazy(v) then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end
M.copy = copy

-- keys exactly 1..n: n keys in all, none of 1..n missing (a border #t of a
-- table with holes is not enough)
local function is_array(t)
  local n = #t
  if n == 0 then return next(t) == nil end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  if count ~= n then return false end
  for i = 1, n do
    if rawget(t, i) == nil then return false end
  end
  return true
end
M.is_array = is_array

-- show and quote are engine/value.c's (wpo.core.value documents them): a
-- plan shows every attribute of every resource it creates
local core = require "wpo.core.value"
M.quote = core.quote
M.show = core.shower(UNKNOWN, Lazy)

-- value.mask(v, sensitive) -> a copy fit for JSON output: unknown -> "(known after apply)",
-- sensitive -> "(sensitive)"
function M.mask(v, sensitive)
  if sensitive then return "(sensitive)" end
  if v == UNKNOWN or is_lazy(v) then return "(known after apply)" end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = M.mask(x) end
  return out
end

return M
