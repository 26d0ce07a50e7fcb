-- wpo.stack: loads a stack script and holds what it declares.
--
-- A script runs in a sandbox (wpo.sandbox): the safe standard library, `wpo`,
-- `cidr`, and a `require` that finds the stack API and the user's own modules
-- under the repository root (`require "stacks.customer"` ->
-- <root>/stacks/customer.lua, root = the nearest directory above the script
-- holding .git, else the script's own); reading or writing any other global
-- raises, naming it with file:line.
--
--   stack.load(path, { vars = { name = "string" }, var_files = { path },
--                      reader = fn(abs_path, max_bytes) -> text | nil, err, code,
--                      root = dir, limits = { sandbox limits },
--                      environ = fn(name) -> value (WPO_VAR_*; os.getenv),
--                      bare = true: no sandbox budgets or views (bench only) })
--     -> stack       (raises wpo.errors)
-- Stack code runs in a wpo.sandbox: what it sees and the budgets it runs
-- under are that module's; it is handed a view of the stack (settings,
-- vars, add/output/ref), and what it hands over is copied as plain data.
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
-- reference (an edge). attrs may hold depends_on = { handle | address },
-- lifecycle = { ... } and provider = name (see stack:provider).
-- wpo.stack{ aws = { profile, region, assume_role = { role_arn, external_id,
-- session_name, duration } } } says how the stack reaches AWS (an account per
-- customer); stack:provider(name, same keys) adds other settings for some
-- resources (a second region); stack.aws_for(s, provider) reads them.
-- stack:output(name, value, { sensitive }) declares an output;
-- stack:ref(address, name) refers to a resource by its address.
local dag = require "wpo.core.dag"
local errors = require "wpo.errors"
local resource = require "wpo.resource"
local sandbox = require "wpo.sandbox"
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

local STACK_KEYS = { "aws", "azs", "backend", "description", "name", "region", "tags", "vars" }
local AWS_KEYS = { "assume_role", "profile", "region" }
local REGION_PATTERN = "^[a-z][a-z]%-[a-z%-]+%-%d+$"
local LIFECYCLE_KEYS = { "create_before_destroy", "ignore_changes", "prevent_destroy" }
local VAR_KEYS = { "default", "description", "sensitive", "type" }
local VAR_TYPES = { "any", "boolean", "list", "map", "number", "string" }

-- ---- where the user is ----

-- The file:line of the innermost frame in one of the user's files (the stack
-- script, its modules). Failing that — a resource declared by a library
-- module such as wpo.wordpress, called through a tail call that left no user
-- frame — the innermost line of that library module ("wpo/wordpress/files.lua:57").
-- Outside a load, the first frame outside the stdlib. Frames above the
-- sandbox that runs the load are never looked at.
local ENGINE_FILES = { ["wpo/stack.lua"] = true, ["wpo/init.lua"] = true, ["wpo/value.lua"] = true,
                       ["wpo/resource.lua"] = true, ["wpo/cidr.lua"] = true, ["wpo/sandbox.lua"] = true }

local core_sandbox = require "wpo.core.sandbox"
local fs = require "wpo.core.fs"
local wpo = require "wpo"
local cidr = require "wpo.cidr"

-- (wpo.core.sandbox.caller walks the frames in C: a declaration asks, and
-- a debug.getinfo table per frame cost more than the rest of declaring)
local STDLIB = sandbox.stdlib_prefix()
local function user_where()
  -- no tail call: level 3 counts this function's frame
  local where
  if loading then
    where = core_sandbox.caller(3, loading.user_sources, STDLIB, ENGINE_FILES, core_sandbox.run)
  else
    where = core_sandbox.caller(3, nil, STDLIB)
  end
  return where
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
  local d = dir
  while true do
    if fs.exists(d .. "/.git") then return d end
    local parent = dirname(d)
    if parent == d or parent == "" or d == "/" then return dir end
    d = parent == "" and "/" or parent
  end
end

-- A source as Lua reads a file: a UTF-8 byte order mark and a first line
-- starting with # (#!/usr/bin/env wpo) are skipped; line numbers stay.
local function strip_preamble(src)
  if src:sub(1, 3) == "\239\187\191" then src = src:sub(4) end
  if src:sub(1, 1) == "#" then src = src:gsub("^[^\n]*", "", 1) end
  return src
end

-- ctx.reader with the source size limit: text | raises
local function read_source(ctx, abs, what, where)
  local src, err, code = ctx.reader(abs, ctx.limits.source_bytes)
  if src and #src > ctx.limits.source_bytes then
    src, err, code = nil, display(abs) .. ": larger than " .. ctx.limits.source_bytes .. " bytes", "EFBIG"
  end
  if src then return strip_preamble(src) end
  if code == "EFBIG" then
    raise(where, nil, "cannot read %s: %s (stack sources are at most %d bytes)", what, tostring(err),
      ctx.limits.source_bytes)
  end
  return nil, err, code
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
  return setmetatable({ type = t, default = value.plain(spec.default, "wpo.var: default", where), description = spec.description,
    sensitive = spec.sensitive, where = where }, VarSpec)
end

local function coerce(name, spec, raw, from)
  if spec.type == "string" or spec.type == "any" then return raw end
  if spec.type == "number" then
    local n = tonumber(raw)
    if n and n == n and n ~= math.huge and n ~= -math.huge then return math.tointeger(n) or n end
  elseif spec.type == "boolean" then
    if raw == "true" then return true end
    if raw == "false" then return false end
  else
    raise(from, nil, "variable '%s' is a %s: set it in a --var-file, not with %s", name, spec.type,
      from:match("^WPO_VAR_") and "an environment variable" or "--var")
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
  local src, err = read_source(ctx, abs, "the variables file", display(abs))
  if not src then raise(nil, nil, "cannot read the variables file: %s", err) end
  ctx.sources[abs] = src
  local env = setmetatable({}, { __index = function(_, k)
    raise(errors.where(2), nil, "unknown global '%s' (a variables file returns a table of values)", tostring(k))
  end })
  local chunk, lerr = load(src, "@" .. display(abs), "t", env)
  if not chunk then error(lua_error("SyntaxError", lerr), 0) end
  local result = chunk()
  if type(result) ~= "table" or getmetatable(result) ~= nil then
    raise(display(abs), nil, "a variables file must return a table of name = value, not a %s", type(result))
  end
  return value.plain(result, "variables", display(abs)), display(abs)
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
  -- as Terraform's TF_VAR_: read by wpo for the declared names only (stack
  -- code itself reads no environment)
  local environ = ctx.environ or os.getenv
  ctx.env_vars = {}
  for _, name in ipairs(names) do
    local raw = environ("WPO_VAR_" .. name)
    if raw ~= nil then
      ctx.env_vars[name] = raw
      vals[name] = coerce(name, specs[name], raw, "WPO_VAR_" .. name)
    end
  end
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

-- AWS settings (wpo.stack's aws, a provider's): { profile, region,
-- assume_role } checked; unknown keys are errors.
local function check_aws(where, what, t)
  if t == nil then return {} end
  if type(t) ~= "table" then raise(where, nil, "%s must be a table like { profile = \"acme\" }", what) end
  local valid = set_of(AWS_KEYS)
  for k in pairs(t) do
    if not valid[k] then unknown_key(where, what, k, AWS_KEYS) end
  end
  if t.profile ~= nil and (type(t.profile) ~= "string" or not t.profile:match("^[%w_.@+-]+$")) then
    raise(where, nil, "%s.profile must be a profile name from ~/.aws/config, got %s", what, value.show(t.profile))
  end
  if t.region ~= nil and (type(t.region) ~= "string" or not t.region:match(REGION_PATTERN)) then
    raise(where, nil, "%s.region must be an AWS region such as eu-west-1, got %s", what, value.show(t.region))
  end
  if t.assume_role ~= nil then
    -- lazy: the AWS client, credentials and models load only when AWS is called (the offline plan starts fast)
    local err = require("wpo.aws.role").check(t.assume_role)
    if err then raise(where, nil, "%s.%s", what, err) end
  end
  return { profile = t.profile, region = t.region, assume_role = t.assume_role }
end

-- Where wpo.stack{...} was called when no frame of the script is left (the
-- usual `return wpo.stack { ... }` is a tail call): its line in the script.
local function stack_call_line()
  if not loading then return nil end
  local src = loading.sources[loading.abs] or ""
  local n = 0
  for line in (src .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:match("wpo%.stack%s*[{(]") and not line:match("^%s*%-%-") then return display(loading.abs) .. ":" .. n end
  end
  return display(loading.abs)
end

function M.new(spec)
  local where = user_where() or stack_call_line()
  if type(spec) ~= "table" or getmetatable(spec) ~= nil then
    raise(where, nil, "wpo.stack: expected a table like { name = \"prod\" }")
  end
  local tags_lazy = false   -- whether a stack tag's value is known only at apply
  do -- plain data, but for the variable declarations (wpo.var)
    local copy = {}
    for k, v in next, spec do
      if k == "vars" and type(v) == "table" and getmetatable(v) == nil then
        local vars = {}
        for vk, vv in next, v do
          vars[vk] = getmetatable(vv) == VarSpec and vv or value.plain(vv, "wpo.stack: vars." .. tostring(vk), where)
        end
        copy[k] = vars
      else
        local has_lazy
        copy[k], has_lazy = value.plain(v, "wpo.stack: " .. tostring(k), where)
        if k == "tags" then tags_lazy = has_lazy end
      end
    end
    spec = copy
  end
  local valid = set_of(STACK_KEYS)
  for k in pairs(spec) do
    if not valid[k] then unknown_key(where, "wpo.stack", k, STACK_KEYS) end
  end
  if type(spec.name) ~= "string" or not spec.name:match("^[%a][%w_-]*$") then
    raise(where, nil, "wpo.stack: name must be letters, digits, - and _ (starting with a letter), got %s",
      value.show(spec.name))
  end
  if spec.region ~= nil and type(spec.region) ~= "string" then raise(where, nil, "wpo.stack: region must be a string") end
  local aws = check_aws(where, "wpo.stack: aws", spec.aws)
  local region = spec.region
  if aws.region then
    if region and region ~= aws.region then
      raise(where, nil, "wpo.stack: region (%s) and aws.region (%s) differ: give one", region, aws.region)
    end
    region = aws.region
  end
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
    name = spec.name, region = region, aws = { profile = aws.profile, assume_role = aws.assume_role }, providers = {},
    tags = spec.tags or {}, tags_lazy = tags_lazy, backend = spec.backend or { type = "local" },
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
  if attrs ~= nil and (type(attrs) ~= "table" or getmetatable(attrs) ~= nil) then
    raise(where, address, "attributes must be a plain table, got %s", value.is_lazy(attrs) and "a reference" or type(attrs))
  end
  -- lazy: the attributes holding a reference or a computed value; the
  -- others are plain data, checked once, here (resource.desired)
  local plain, meta, lazy = {}, {}, {}
  for k, v in next, attrs or {} do
    if k == "depends_on" then
      meta[k] = v
    elseif k == "provider" then
      if type(v) ~= "string" then raise(where, address, "provider is the name stack:provider gave, got %s", type(v)) end
      meta[k] = v
    elseif k == "lifecycle" then
      meta[k] = value.plain(v, "lifecycle", where, address)
    else
      if type(k) ~= "string" then raise(where, address, "attribute names are strings, got a %s", type(k)) end
      local v_plain, has_lazy = value.plain(v, "attribute", where, address, k)
      plain[k] = v_plain
      if has_lazy then lazy[k] = true end
    end
  end
  local desired, _, err = resource.desired(t, plain)
  if not desired then raise(where, address, "%s", err) end
  if t.taggable then
    desired.tags = resource.tags(self.name, address, self.tags, desired.tags)
    if self.tags_lazy then lazy.tags = true end
  end

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
    address = address, type = t, type_name = type_name, name = name, attrs = desired, lazy = lazy,
    lifecycle = lifecycle, depends_on = depends_on, where = where, index = #self.resources + 1,
    provider = meta.provider,
  }
  self.resources[#self.resources + 1] = decl
  self.by_address[address] = decl
  local h = handle_for(decl)
  decl.handle = h
  return h
end

-- stack:provider(name, { region, profile, assume_role }) -> name: other AWS
-- settings for the resources that say provider = name (a second region, or
-- another account); what it leaves out is the stack's.
function Stack:provider(name, settings)
  local where = user_where()
  if getmetatable(self) ~= Stack then raise(where, nil, "call provider with a colon: stack:provider(name, settings)") end
  if type(name) ~= "string" or not name:match("^[%a][%w_-]*$") then
    raise(where, nil, "stack:provider: a name is letters, digits, - and _, got %s", value.show(name))
  end
  if self.providers[name] then
    raise(where, nil, "duplicate provider '%s' (first declared at %s)", name, self.providers[name].where)
  end
  local aws = check_aws(where, "provider " .. name, settings or {})
  self.providers[name] = { region = aws.region or self.region, profile = aws.profile or self.aws.profile,
    assume_role = aws.assume_role or self.aws.assume_role, where = where }
  return name
end

-- stack.aws_for(s, provider) -> region, { profile, assume_role }: where a
-- resource of that provider (nil: the stack's own settings) lives
function M.aws_for(s, provider)
  if provider == nil then return s.region, s.aws end
  local p = s.providers and s.providers[provider]
  if not p then
    errors.raise { kind = "StackError", where = s.where,
      message = "the stack declares no provider '" .. tostring(provider) .. "' (a resource in the state uses it: "
        .. "keep the provider until that resource is destroyed)" }
  end
  return p.region, { profile = p.profile, assume_role = p.assume_role }
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
  v = value.plain(v, "output " .. name, where)
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
    if d.provider and not (s.providers and s.providers[d.provider]) then
      local names = {}
      for n in pairs(s.providers or {}) do names[#names + 1] = n end
      table.sort(names)
      local near = text.closest(d.provider, names)
      raise(d.where, d.address, "no provider '%s' is declared%s (providers: %s)", d.provider,
        near and (" (did you mean '" .. near .. "'?)") or "", #names > 0 and table.concat(names, ", ") or "none")
    end
  end
  for _, d in ipairs(s.resources) do
    local seen, deps = {}, {}
    local function add(target)
      if not seen[target] then
        seen[target] = true
        deps[#deps + 1] = target
      end
    end
    -- only an attribute holding a lazy value can hold a reference
    for attr in pairs(d.lazy) do
      value.refs(d.attrs[attr], function(ref_decl, name)
        check_ref(s, d.where, d.address, ref_decl.address, name)
        add(ref_decl.address)
      end)
    end
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

-- The stack's view: what stack code may read of a stack (its settings and
-- variables) and do with it (add, output, ref); the engine's fields stay out
-- of reach.
local VIEW_FIELDS = { name = true, region = true, azs = true, tags = true, description = true,
                      backend = true, vars = true, aws = true }
local VIEW_METHODS = { add = true, output = true, provider = true, ref = true }

sandbox.register_view(Stack, function(s, sb)
  local methods = {}
  for name in pairs(VIEW_METHODS) do
    methods[name] = function(view, ...)
      return sb:results(Stack[name](sb:unexpose(view), sb:unexpose_all(...)))
    end
  end
  local vars = setmetatable({}, {
    __index = function(_, k) return s.vars[k] end,   -- an unknown variable raises
    __newindex = function(_, k)
      raise(user_where(), nil, "cannot set variable '%s': variables come from --var, --var-file and WPO_VAR_%s",
        tostring(k), tostring(k))
    end,
    __pairs = function()
      local k
      return function()
        local v
        k, v = next(s.vars, k)
        return k, v
      end
    end,
    __metatable = false,
  })
  return setmetatable({}, {
    __index = function(_, k)
      if methods[k] then return methods[k] end
      if k == "vars" then return vars end
      if VIEW_FIELDS[k] then return sb:expose(s[k]) end
      raise(user_where(), nil, "a stack has no field '%s' (fields: azs, backend, description, name, region, "
        .. "tags, vars, aws; methods: add, output, provider, ref)", tostring(k))
    end,
    __newindex = function(_, k)
      raise(user_where(), nil, "cannot set '%s' on a stack: give settings to wpo.stack{...}", tostring(k))
    end,
    __tostring = function() return tostring(s) end,
    __metatable = false,
  })
end)

-- The sandbox for one load, with the stack's own require: modules from the
-- stack's repository (or the commit, with --ref), and the stack API.
local function make_sandbox(ctx)
  local sb
  local function require_fn(name)
    if type(name) ~= "string" then raise(user_where(), nil, "require: expected a module name") end
    local cached = ctx.loaded[name]
    if cached == ctx.LOADING then raise(user_where(), nil, "module '%s' requires itself (a require loop)", name) end
    if cached ~= nil then return cached end
    if name == "wpo" or name:sub(1, 4) == "wpo." then
      -- the wpo namespace is the library's: a file in the user's repository
      -- never shadows it, and only the stack API is offered
      if not sandbox.is_api(name) then
        raise(user_where(), nil, "module '%s' is not available to stack code (the stack API: %s)", name,
          sandbox.API_TEXT)
      end
      -- the module is named at run time
      local m = sb:expose(require(name))
      ctx.loaded[name] = m
      return m
    end
    if not name:match("^[%w_%-]+[%w_%.%-]*$") or name:find("..", 1, true) then
      raise(user_where(), nil, "require: bad module name '%s'", name)
    end
    local rel = name:gsub("%.", "/")
    local tried = {}
    for _, candidate in ipairs({ ctx.root .. "/" .. rel .. ".lua", ctx.root .. "/" .. rel .. "/init.lua" }) do
      local src, rerr, code = read_source(ctx, candidate, "module " .. name, user_where())
      if src then
        ctx.sources[candidate] = src
        local chunkname = "@" .. display(candidate)
        ctx.user_sources[chunkname] = true
        local chunk, err = load(src, chunkname, "t", sb.env)
        if not chunk then error(lua_error("SyntaxError", err), 0) end
        ctx.loaded[name] = ctx.LOADING
        local result = chunk(name, candidate)
        if result == nil then result = true end
        ctx.loaded[name] = result
        return result
      end
      if code ~= "ENOENT" and code ~= "ENOTDIR" and code ~= "EISDIR" then
        raise(user_where(), nil, "cannot read module %s: %s", name, tostring(rerr))
      end
      tried[#tried + 1] = display(candidate)
    end
    raise(user_where(), nil, "module '%s' not found (looked for %s; stack code requires the stack API "
      .. "(%s) and the stack repository's own modules, never host Lua modules)", name, table.concat(tried, ", "),
      sandbox.API_TEXT)
  end
  sb = sandbox.new(ctx.limits, require_fn, { wpo = wpo, cidr = cidr }, ctx.bare)
  return sb
end

local function default_reader(path, max)
  return fs.read(path, max)
end

local LOAD_OPTIONS = { "bare", "environ", "limits", "reader", "root", "var_files", "vars" }

function M.load(path, opts)
  opts = opts or {}
  local valid = set_of(LOAD_OPTIONS)
  for k in pairs(opts) do
    if not valid[k] then
      error("stack.load: unknown option '" .. tostring(k) .. "' (valid: " .. table.concat(LOAD_OPTIONS, ", ") .. ")", 2)
    end
  end
  if type(path) ~= "string" then error("stack.load: expected a path", 2) end
  if loading then error("stack.load: a load is already in progress", 2) end
  local abs = absolute(path)
  local limits = {}
  for k, v in pairs(sandbox.DEFAULTS) do limits[k] = v end
  for k, v in pairs(opts.limits or {}) do limits[k] = v end
  local ctx = {
    abs = abs, reader = opts.reader or default_reader, cli_vars = opts.vars or {}, var_files = opts.var_files or {},
    root = opts.root and absolute(opts.root) or find_root(dirname(abs)), loaded = {}, LOADING = {},
    user_sources = {}, sources = {}, limits = limits, environ = opts.environ, bare = opts.bare,
  }
  local src, err = read_source(ctx, abs, "the stack script", display(abs))
  if not src then errors.raise { kind = "StackError", message = "cannot read the stack script: " .. tostring(err) } end
  ctx.sources[abs] = src
  local chunkname = "@" .. display(abs)
  ctx.user_sources[chunkname] = true
  local sb = make_sandbox(ctx)
  sb.script = display(abs)
  local chunk, lerr = load(src, chunkname, "t", sb.env)
  if not chunk then error(lua_error("SyntaxError", lerr), 0) end
  ctx.sandbox = sb
  loading = ctx
  local previous_runner = value.set_runner(function(fn, ...) return sb:run(fn, ...) end)
  local previous_max = value.max_string
  value.max_string = limits.value_bytes
  local ok, result = pcall(sb.run, sb, chunk)
  value.set_runner(previous_runner)
  loading = nil
  if not ok then
    value.max_string = previous_max
    error(result, 0)
  end
  result = sb:unexpose(result)
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
  s.env_vars = ctx.env_vars or {}
  s.limits = limits
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
