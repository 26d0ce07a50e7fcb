-- wpo.stack: loads a stack script and holds what it declares.
--
-- A script runs in a sandbox: the safe standard library, `wpo`, `cidr`, and a
-- `require` that finds the user's own modules under the repository root
-- (`require "stacks.customer"` -> <root>/stacks/customer.lua, root = the
-- nearest directory above the script holding .git, else the script's own);
-- reading or writing any other global raises, naming it with file:line.
--
--   stack.load(path, { vars = { name = "string" }, var_files = { path },
--                      reader = fn(abs_path) -> text | nil, err, code,
--                      root = dir }) -> stack       (raises wpo.errors)
--   stack.new(spec) -> stack          (what wpo.stack{...} calls)
--
-- A stack: name, region, tags, backend, vars, description, azs, path;
-- resources (declarations in order), by_address, outputs, order (declarations,
-- dependencies first), sources (abs path -> text of every user file read).
-- A declaration: address ("<type>.<name>"), type (the resource type), name,
-- attrs (defaults applied; lazy values kept), deps (addresses), lifecycle
-- { prevent_destroy, create_before_destroy, ignore_changes = { names } | "all" },
-- where ("file:line"), index.
--
-- stack:add(type, name, attrs) -> handle; handle.<output or attribute> is a
-- reference (an edge). attrs may hold depends_on = { handle | address } and
-- lifecycle = { ... }. stack:output(name, value, { sensitive }) declares an
-- output; stack:ref(address, name) refers to a resource by its address.
local dag = require "wpo.core.dag"
local errors = require "wpo.errors"
local resource = require "wpo.resource"
local text = require "wpo.text"
local value = require "wpo.value"

local M = {}

local Stack = {}
Stack.__index = Stack
local Handle = {}
local VarSpec = {}
VarSpec.__index = VarSpec

local decl_of = setmetatable({}, { __mode = "k" })   -- handle -> declaration
local loading = nil                                   -- the load in progress

local STACK_KEYS = { "azs", "backend", "description", "name", "region", "tags", "vars" }
local LIFECYCLE_KEYS = { "create_before_destroy", "ignore_changes", "prevent_destroy" }
local VAR_KEYS = { "default", "description", "sensitive", "type" }
local VAR_TYPES = { "any", "boolean", "list", "map", "number", "string" }

-- ---- where the user is ----

-- The file:line of the innermost frame in one of the user's files (the stack
-- script, its modules). Failing that — a resource declared by a library
-- module such as wpo.wordpress, called through a tail call that left no user
-- frame — the innermost line of that library module ("wpo/wordpress/files.lua:57").
-- Outside a load, the first frame outside the stdlib.
local ENGINE_FILES = { ["wpo/stack.lua"] = true, ["wpo/init.lua"] = true, ["wpo/value.lua"] = true,
                       ["wpo/resource.lua"] = true, ["wpo/cidr.lua"] = true }

local function user_where()
  local stdlib = package.wpo_stdlib and ("@" .. package.wpo_stdlib .. "/") or nil
  local fallback, library
  for level = 3, 60 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.currentline and info.currentline > 0 then
      if loading and loading.user_sources[info.source] then
        return info.source:sub(2) .. ":" .. info.currentline
      end
      local in_stdlib = stdlib and info.source:sub(1, #stdlib) == stdlib
      if in_stdlib and loading and not library then
        local rel = info.source:sub(#stdlib + 1)
        if not ENGINE_FILES[rel] then library = rel .. ":" .. info.currentline end
      end
      if not fallback and info.source:sub(1, 1) == "@" and not in_stdlib then
        fallback = info.source:sub(2) .. ":" .. info.currentline
      end
    end
  end
  return library or fallback
end
M.user_where = user_where

local function raise(where, address, fmt, ...)
  errors.raise { kind = "StackError", where = where, address = address,
    message = select("#", ...) > 0 and string.format(fmt, ...) or fmt }
end

-- A Lua message "file:line: text" as a wpo error with where = file:line.
local function lua_error(kind, msg)
  local where, rest = tostring(msg):match("^([^\n]-:%d+): (.*)$")
  return errors.new { kind = kind, where = where, message = rest or tostring(msg) }
end

local function unknown_key(where, what, key, valid)
  local near = text.closest(tostring(key), valid)
  raise(where, nil, "%s: unknown key '%s'%s (valid: %s)", what, tostring(key),
    near and (" (did you mean '" .. near .. "'?)") or "", table.concat(valid, ", "))
end

local function set_of(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end

-- ---- paths ----

local function normalize(path)
  local abs = path:sub(1, 1) == "/"
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then
      if #parts > 0 and parts[#parts] ~= ".." then parts[#parts] = nil
      elseif not abs then parts[#parts + 1] = ".." end
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  local s = table.concat(parts, "/")
  if abs then return "/" .. s end
  return s == "" and "." or s
end

local function cwd()
  return os.getenv("PWD") or "."
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return normalize(path) end
  return normalize(cwd() .. "/" .. path)
end
M.absolute = absolute

local function display(abs)
  local here = normalize(cwd())
  if here ~= "/" and abs:sub(1, #here + 1) == here .. "/" then return abs:sub(#here + 2) end
  return abs
end
M.display = display

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end
M.dirname = dirname

local function find_root(dir)
  local fs = require "wpo.core.fs"
  local d = dir
  while true do
    if fs.exists(d .. "/.git") then return d end
    local parent = dirname(d)
    if parent == d or parent == "" or d == "/" then return dir end
    d = parent == "" and "/" or parent
  end
end

-- ---- variables ----

-- wpo.var{ type, default, description, sensitive } -> a variable declaration
function M.var(spec)
  local where = user_where()
  if type(spec) ~= "table" then raise(where, nil, "wpo.var: expected a table") end
  local valid = set_of(VAR_KEYS)
  for k in pairs(spec) do
    if not valid[k] then unknown_key(where, "wpo.var", k, VAR_KEYS) end
  end
  local t = spec.type
  if t == nil and spec.default ~= nil then
    t = type(spec.default)
    if t == "table" then t = value.is_array(spec.default) and "list" or "map" end
  end
  t = t or "string"
  if not set_of(VAR_TYPES)[t] then unknown_key(where, "wpo.var type", t, VAR_TYPES) end
  return setmetatable({ type = t, default = spec.default, description = spec.description,
    sensitive = spec.sensitive, where = where }, VarSpec)
end

local function coerce(name, spec, raw, from)
  if spec.type == "string" or spec.type == "any" then return raw end
  if spec.type == "number" then
    local n = tonumber(raw)
    if n then return math.tointeger(n) or n end
  elseif spec.type == "boolean" then
    if raw == "true" then return true end
    if raw == "false" then return false end
  else
    raise(from, nil, "variable '%s' is a %s: set it in a --var-file, not with --var", name, spec.type)
  end
  raise(from, nil, "variable '%s' is a %s, not '%s'", name, spec.type, raw)
end

local function check_var_type(name, spec, v, from)
  local ok = spec.type == "any"
    or (spec.type == "list" and type(v) == "table")
    or (spec.type == "map" and type(v) == "table")
    or type(v) == spec.type
  if not ok then
    raise(from, nil, "variable '%s' is a %s, got a %s", name, spec.type, type(v))
  end
end

local function load_var_file(ctx, path)
  local abs = absolute(path)
  local src, err = ctx.reader(abs)
  if not src then raise(nil, nil, "cannot read the variables file: %s", err) end
  ctx.sources[abs] = src
  local env = setmetatable({}, { __index = function(_, k)
    raise(errors.where(2), nil, "unknown global '%s' (a variables file returns a table of values)", tostring(k))
  end })
  local chunk, lerr = load(src, "@" .. display(abs), "t", env)
  if not chunk then raise(nil, nil, "%s", lerr) end
  local ok, result = pcall(chunk)
  if not ok then
    if errors.is(result) then error(result, 0) end
    raise(nil, nil, "%s", tostring(result))
  end
  if type(result) ~= "table" then
    raise(display(abs), nil, "a variables file must return a table of name = value, not a %s", type(result))
  end
  return result, display(abs)
end

local function resolve_vars(decls, where)
  local ctx = loading or { cli_vars = {}, var_files = {} }
  local specs, names = {}, {}
  for name, d in pairs(decls or {}) do
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
      raise(where, nil, "bad variable name %s", tostring(name))
    end
    if getmetatable(d) == VarSpec then
      specs[name] = d
    else
      local t = type(d)
      if t == "table" then t = value.is_array(d) and "list" or "map" end
      if t ~= "string" and t ~= "number" and t ~= "boolean" and t ~= "list" and t ~= "map" then
        raise(where, nil, "variable '%s': a default is a string, number, boolean or table, not a %s", name, t)
      end
      specs[name] = { type = t, default = d }
    end
    names[#names + 1] = name
  end
  table.sort(names)
  local function unknown(name, from)
    local near = text.closest(name, names)
    raise(from, nil, "the stack declares no variable '%s'%s (variables: %s)", name,
      near and (" (did you mean '" .. near .. "'?)") or "", #names > 0 and table.concat(names, ", ") or "none")
  end
  local vals = {}
  for name, spec in pairs(specs) do vals[name] = value.copy(spec.default) end
  for _, path in ipairs(ctx.var_files or {}) do
    local tbl, from = load_var_file(ctx, path)
    for name, v in pairs(tbl) do
      if not specs[name] then unknown(tostring(name), from) end
      check_var_type(name, specs[name], v, from)
      vals[name] = v
    end
  end
  for name, raw in pairs(ctx.cli_vars or {}) do
    if not specs[name] then unknown(name, "--var " .. name) end
    vals[name] = coerce(name, specs[name], raw, "--var " .. name)
  end
  for _, name in ipairs(names) do
    if vals[name] == nil then
      raise(specs[name].where or where, nil, "variable '%s' has no default: pass --var %s=VALUE", name, name)
    end
    -- a sensitive variable's value stays hidden wherever it flows
    if specs[name].sensitive then vals[name] = value.secret(vals[name], name) end
  end
  return setmetatable(vals, { __index = function(_, k)
    local near = text.closest(tostring(k), names)
    raise(user_where(), nil, "no variable '%s' is declared%s (variables: %s)", tostring(k),
      near and (" (did you mean '" .. near .. "'?)") or "", #names > 0 and table.concat(names, ", ") or "none")
  end })
end

-- ---- the stack object ----

function M.new(spec)
  local where = user_where()
  if type(spec) ~= "table" then raise(where, nil, "wpo.stack: expected a table like { name = \"prod\" }") end
  local valid = set_of(STACK_KEYS)
  for k in pairs(spec) do
    if not valid[k] then unknown_key(where, "wpo.stack", k, STACK_KEYS) end
  end
  if type(spec.name) ~= "string" or not spec.name:match("^[%a][%w_-]*$") then
    raise(where, nil, "wpo.stack: name must be letters, digits, - and _ (starting with a letter), got %s",
      value.show(spec.name))
  end
  if spec.region ~= nil and type(spec.region) ~= "string" then raise(where, nil, "wpo.stack: region must be a string") end
  local tag_err = spec.tags ~= nil and resource.check({ type = "tags" }, spec.tags)
  if tag_err then raise(where, nil, "wpo.stack: tags: %s", tag_err) end
  if spec.backend ~= nil and (type(spec.backend) ~= "table" or type(spec.backend.type) ~= "string") then
    raise(where, nil, "wpo.stack: backend must be a table like { type = \"local\" }")
  end
  local az_err = spec.azs ~= nil and resource.check({ type = "list", of = { type = "string" } }, spec.azs)
  if az_err then raise(where, nil, "wpo.stack: azs: %s", az_err) end
  if loading and loading.stack then
    raise(where, nil, "a script declares one stack; '%s' is already declared at %s", loading.stack.name,
      loading.stack.where)
  end
  local s = setmetatable({
    name = spec.name, region = spec.region, tags = spec.tags or {}, backend = spec.backend or { type = "local" },
    description = spec.description, azs = spec.azs, where = where,
    vars = resolve_vars(spec.vars, where),
    resources = {}, by_address = {}, outputs = {}, output_by_name = {}, pending_refs = {},
    path = loading and loading.abs, sources = loading and loading.sources or {},
  }, Stack)
  if loading then loading.stack = s end
  return s
end

local NAME_PATTERN = "^[%w_][%w_%-]*$"

local function handle_for(decl)
  local h = setmetatable({}, Handle)
  decl_of[h] = decl
  return h
end

local function as_address(where, address, what, v)
  if type(v) == "string" then return v end
  local d = decl_of[v]
  if d then return d.address end
  raise(where, address, "%s: expected a resource (what stack:add returned) or an address, got %s", what, type(v))
end

function Stack:add(type_name, name, attrs)
  local where = user_where()
  if getmetatable(self) ~= Stack then raise(where, nil, "call add with a colon: stack:add(type, name, attrs)") end
  if type(type_name) ~= "string" then raise(where, nil, "stack:add: the first argument is a resource type like \"aws.ec2.vpc\"") end
  local t, terr = resource.get(type_name)
  if not t then raise(where, nil, "%s", terr) end
  if type(name) ~= "string" or not name:match(NAME_PATTERN) then
    raise(where, nil, "stack:add %s: a name is letters, digits, - and _, got %s", type_name, value.show(name))
  end
  local address = type_name .. "." .. name
  local first = self.by_address[address]
  if first then raise(where, address, "duplicate address (first declared at %s)", first.where) end
  if attrs ~= nil and (type(attrs) ~= "table" or value.is_lazy(attrs)) then
    raise(where, address, "attributes must be a table, got %s", type(attrs))
  end
  local plain, meta = {}, {}
  for k, v in pairs(attrs or {}) do
    if k == "depends_on" or k == "lifecycle" then meta[k] = v else plain[k] = v end
  end
  local desired, _, err = resource.desired(t, plain)
  if not desired then raise(where, address, "%s", err) end
  if t.taggable then desired.tags = resource.tags(self.name, address, self.tags, desired.tags) end

  local lifecycle = { prevent_destroy = false, create_before_destroy = false }
  if meta.lifecycle ~= nil then
    if type(meta.lifecycle) ~= "table" then raise(where, address, "lifecycle must be a table") end
    local valid = set_of(LIFECYCLE_KEYS)
    for k, v in pairs(meta.lifecycle) do
      if not valid[k] then unknown_key(where, address .. ": lifecycle", k, LIFECYCLE_KEYS) end
      lifecycle[k] = v
    end
    for _, k in ipairs({ "prevent_destroy", "create_before_destroy" }) do
      if type(lifecycle[k]) ~= "boolean" then raise(where, address, "lifecycle.%s must be true or false", k) end
    end
    local ic = lifecycle.ignore_changes
    if ic ~= nil and ic ~= "all" then
      if type(ic) ~= "table" then raise(where, address, "lifecycle.ignore_changes is a list of attribute names or \"all\"") end
      for _, n in ipairs(ic) do
        if not t.attributes[n] then
          local near = text.closest(tostring(n), t.attribute_names)
          raise(where, address, "lifecycle.ignore_changes: unknown attribute '%s'%s", tostring(n),
            near and (" (did you mean '" .. near .. "'?)") or "")
        end
      end
    end
  end
  local depends_on = {}
  if meta.depends_on ~= nil then
    if type(meta.depends_on) ~= "table" or decl_of[meta.depends_on] then
      raise(where, address, "depends_on is a list of resources")
    end
    for _, d in ipairs(meta.depends_on) do
      depends_on[#depends_on + 1] = as_address(where, address, "depends_on", d)
    end
  end
  local decl = {
    address = address, type = t, type_name = type_name, name = name, attrs = desired,
    lifecycle = lifecycle, depends_on = depends_on, where = where, index = #self.resources + 1,
  }
  self.resources[#self.resources + 1] = decl
  self.by_address[address] = decl
  local h = handle_for(decl)
  decl.handle = h
  return h
end

function Stack:ref(address, name)
  local where = user_where()
  if type(address) ~= "string" or type(name) ~= "string" then
    raise(where, nil, "stack:ref(address, output): both are strings")
  end
  local placeholder = { address = address, where = where, placeholder = true }
  self.pending_refs[#self.pending_refs + 1] = { address = address, name = name, where = where }
  return value.ref(placeholder, name)
end

function Stack:output(name, v, opts)
  local where = user_where()
  if type(name) ~= "string" or not name:match("^[%a_][%w_-]*$") then
    raise(where, nil, "stack:output: bad output name %s", value.show(name))
  end
  if self.output_by_name[name] then
    raise(where, nil, "duplicate output '%s' (first declared at %s)", name, self.output_by_name[name].where)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "sensitive" and k ~= "description" then unknown_key(where, "stack:output", k, { "description", "sensitive" }) end
  end
  if decl_of[v] then raise(where, nil, "output '%s': give an attribute of the resource (like vpc.id), not the resource", name) end
  local o = { name = name, value = v, sensitive = opts.sensitive == true, where = where }
  self.outputs[#self.outputs + 1] = o
  self.output_by_name[name] = o
end

function Stack:__tostring()
  return string.format("stack %s (%d resources)", self.name, #self.resources)
end

-- ---- handles: references to a resource's outputs and attributes ----

Handle.__index = function(h, key)
  local d = decl_of[h]
  if type(key) == "string" and (d.type.outputs[key] or d.type.attributes[key]) then
    return value.ref(d, key)
  end
  local names = {}
  for _, n in ipairs(d.type.output_names) do names[#names + 1] = n end
  for _, n in ipairs(d.type.attribute_names) do names[#names + 1] = n end
  local near = text.closest(tostring(key), names)
  raise(user_where(), nil, "%s has no output or attribute '%s'%s (outputs: %s)", d.address, tostring(key),
    near and (" (did you mean '" .. near .. "'?)") or "", table.concat(d.type.output_names, ", "))
end
Handle.__newindex = function(h, key)
  raise(user_where(), decl_of[h].address, "cannot set '%s' here: attributes are given to stack:add", tostring(key))
end
Handle.__tostring = function(h) return "resource " .. decl_of[h].address end
Handle.__name = "wpo.resource"

function M.address_of(h)
  local d = decl_of[h]
  if not d then raise(user_where(), nil, "wpo.address: expected a resource, got %s", type(h)) end
  return d.address
end

-- ---- finishing a load: references, dependencies, cycles ----

local function check_ref(s, where, address, target, name)
  local d = s.by_address[target]
  if not d then
    local addrs = {}
    for _, r in ipairs(s.resources) do addrs[#addrs + 1] = r.address end
    local near = text.closest(target, addrs)
    raise(where, address, "reference to undeclared resource %s%s", target,
      near and (" (did you mean " .. near .. "?)") or "")
  end
  if name and not d.type.outputs[name] and not d.type.attributes[name] then
    local near = text.closest(name, d.type.output_names)
    raise(where, address, "%s has no output '%s'%s (outputs: %s)", target, name,
      near and (" (did you mean '" .. near .. "'?)") or "", table.concat(d.type.output_names, ", "))
  end
  return d
end

function M.finish(s)
  for _, r in ipairs(s.pending_refs) do check_ref(s, r.where, nil, r.address, r.name) end
  for _, d in ipairs(s.resources) do
    local seen, deps = {}, {}
    local function add(target)
      if not seen[target] then
        seen[target] = true
        deps[#deps + 1] = target
      end
    end
    value.refs(d.attrs, function(ref_decl, name)
      check_ref(s, d.where, d.address, ref_decl.address, name)
      add(ref_decl.address)
    end)
    for _, target in ipairs(d.depends_on) do
      check_ref(s, d.where, d.address, target)
      add(target)
    end
    table.sort(deps, function(a, b) return s.by_address[a].index < s.by_address[b].index end)
    d.deps = deps
  end
  for _, o in ipairs(s.outputs) do
    value.refs(o.value, function(ref_decl, name) check_ref(s, o.where, "output " .. o.name, ref_decl.address, name) end)
  end
  local g <close> = dag.new()
  for _, d in ipairs(s.resources) do g:add(d.address, d.address .. " (" .. tostring(d.where) .. ")") end
  for _, d in ipairs(s.resources) do
    for _, dep in ipairs(d.deps) do g:depend(d.address, dep) end
  end
  local order, err, cycle = g:order()
  if not order then
    errors.raise { kind = "CycleError", where = s.by_address[cycle[1]].where, message = err }
  end
  s.order = {}
  for i, a in ipairs(order) do s.order[i] = s.by_address[a] end
  return s
end

-- ---- loading a script ----

-- package.path without its relative templates ("./?.lua").
local function library_path()
  local parts = {}
  for template in package.path:gmatch("[^;]+") do
    if template:sub(1, 1) == "/" then parts[#parts + 1] = template end
  end
  return table.concat(parts, ";")
end

local SAFE_GLOBALS = { "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget", "rawlen",
                       "select", "setmetatable", "getmetatable", "tonumber", "tostring", "type", "xpcall",
                       "_VERSION" }
local SAFE_LIBS = { "string", "table", "math", "utf8", "coroutine" }

local function make_env(ctx)
  local env = {}
  for _, k in ipairs(SAFE_GLOBALS) do env[k] = _G[k] end
  for _, lib in ipairs(SAFE_LIBS) do
    local copy = {}
    for k, v in pairs(_G[lib]) do copy[k] = v end
    env[lib] = copy
  end
  env.os = { time = os.time, date = os.date, clock = os.clock, getenv = os.getenv }
  env.print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    io.stderr:write(table.concat(parts, "\t", 1, parts.n), "\n")
  end
  env.wpo = require "wpo"
  env.cidr = require "wpo.cidr"
  env.require = function(name)
    if type(name) ~= "string" then raise(errors.where(2), nil, "require: expected a module name") end
    local cached = ctx.loaded[name]
    if cached == ctx.LOADING then raise(errors.where(2), nil, "module '%s' requires itself (a require loop)", name) end
    if cached ~= nil then return cached end
    local rel = name:gsub("%.", "/")
    local tried = {}
    -- The wpo namespace is the library's: a file in the user's repository never
    -- shadows it (and in a checkout, <root>/wpo is the binary, not a directory).
    local candidates = {}
    if name ~= "wpo" and name:sub(1, 4) ~= "wpo." then
      candidates = { ctx.root .. "/" .. rel .. ".lua", ctx.root .. "/" .. rel .. "/init.lua" }
    end
    for _, candidate in ipairs(candidates) do
      local src, rerr, code = ctx.reader(candidate)
      if src then
        ctx.sources[candidate] = src
        local chunkname = "@" .. display(candidate)
        ctx.user_sources[chunkname] = true
        local chunk, err = load(src, chunkname, "t", env)
        if not chunk then error(lua_error("SyntaxError", err), 0) end
        ctx.loaded[name] = ctx.LOADING
        local result = chunk(name, candidate)
        if result == nil then result = true end
        ctx.loaded[name] = result
        return result
      end
      if code ~= "ENOENT" and code ~= "ENOTDIR" then
        raise(errors.where(2), nil, "cannot read module %s: %s", name, tostring(rerr))
      end
      tried[#tried + 1] = display(candidate)
    end
    -- wpo's library (and Lua libraries at absolute paths); never a path relative to
    -- the current directory, which would read files the source (a git ref) lacks.
    if package.preload[name] or package.searchpath(name, library_path()) then return require(name) end
    raise(errors.where(2), nil, "module '%s' not found (looked %sin the wpo library)", name,
      #tried > 0 and ("for " .. table.concat(tried, ", ") .. " and ") or "")
  end
  env._G = env
  return setmetatable(env, {
    __index = function(_, k)
      raise(errors.where(2), nil, "unknown global '%s'", tostring(k))
    end,
    __newindex = function(_, k)
      raise(errors.where(2), nil, "assignment to undeclared global '%s' (declare it local)", tostring(k))
    end,
  })
end

local function default_reader(path)
  return require("wpo.core.fs").read(path)
end

-- Turn whatever a script raised into a one-line wpo error.
local function as_error(e)
  if errors.is(e) then return e end
  if type(e) == "string" then return lua_error("StackError", e) end
  return errors.new { kind = "StackError", message = "the script raised a " .. type(e) .. " value" }
end

function M.load(path, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "vars" and k ~= "var_files" and k ~= "reader" and k ~= "root" then
      error("stack.load: unknown option '" .. tostring(k) .. "' (valid: reader, root, var_files, vars)", 2)
    end
  end
  if type(path) ~= "string" then error("stack.load: expected a path", 2) end
  if loading then error("stack.load: a load is already in progress", 2) end
  local abs = absolute(path)
  local ctx = {
    abs = abs, reader = opts.reader or default_reader, cli_vars = opts.vars or {}, var_files = opts.var_files or {},
    root = opts.root and absolute(opts.root) or find_root(dirname(abs)), loaded = {}, LOADING = {},
    user_sources = {}, sources = {},
  }
  local src, err = ctx.reader(abs)
  if not src then errors.raise { kind = "StackError", message = "cannot read the stack script: " .. tostring(err) } end
  ctx.sources[abs] = src
  local chunkname = "@" .. display(abs)
  ctx.user_sources[chunkname] = true
  local chunk, lerr = load(src, chunkname, "t", make_env(ctx))
  if not chunk then error(lua_error("SyntaxError", lerr), 0) end
  loading = ctx
  local ok, result = xpcall(chunk, as_error)
  loading = nil
  if not ok then error(result, 0) end
  local s = ctx.stack
  if result ~= nil and getmetatable(result) ~= Stack then
    errors.raise { kind = "StackError", where = display(abs),
      message = "a stack script returns its stack (what wpo.stack{...} made), not a " .. type(result) }
  end
  s = result or s
  if not s then
    errors.raise { kind = "StackError", where = display(abs), message = "the script declares no stack (wpo.stack{ name = ... })" }
  end
  s.path = abs
  s.root = ctx.root
  s.sources = ctx.sources
  s.cli_vars = ctx.cli_vars
  s.var_files = {}
  for i, f in ipairs(ctx.var_files) do s.var_files[i] = absolute(f) end
  return M.finish(s)
end

-- stack.user_files() -> { { path = "stacks/prod.lua", source = text }, ... }: the
-- user's files read by the load in progress, the stack script first; nil
-- outside a load. For modules that must point at the user's line when no
-- frame is left to ask (a `return module.stack{...}` is a tail call).
function M.user_files()
  if not loading then return nil end
  local files = { { path = display(loading.abs), source = loading.sources[loading.abs] } }
  for abs, src in pairs(loading.sources) do
    if abs ~= loading.abs then files[#files + 1] = { path = display(abs), source = src } end
  end
  table.sort(files, function(a, b)
    if (a.path == files[1].path) ~= (b.path == files[1].path) then return a.path == files[1].path end
    return a.path < b.path
  end)
  return files
end

M.Stack = Stack
return M
