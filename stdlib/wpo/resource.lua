-- wpo.resource: the resource-type registry and schemas.
--
-- A type is one file returning resource.define "<name>" { ... }:
--
--   attributes = { name = { type = "string"|"number"|"integer"|"boolean"|"list"|
--                    "map"|"tags"|"cidr"|"object"|"any",
--                  required, default, force_new, sensitive, computed,
--                  of = element type (list/map), fields = { ... } (object),
--                  choices = { ... }, description } },
--   outputs    = { "id", "arn" } or { id = {}, password = { sensitive = true } }
--                ("id" is always an output),
--   find(ctx, want) -> candidates    how the object a create made is found
--                                     again without its answer: by its wpo:address
--                                     tag, its name, its client token or
--                                     idempotency key, its content — a list of
--                                     observed objects (each with id, and tags
--                                     when it has them) this resource made; it
--                                     raises when the name it wants is taken by
--                                     an object this resource did not make
--   found_by = "its wpo:address tag"  (with find) how, in words, for messages
--   create(ctx, want, found) -> observed   want: every attribute, defaults
--                                     applied, references resolved; tags include
--                                     wpo:stack and wpo:address. found: what find
--                                     returned (adopt it: bring it to want), or
--                                     nil (make it)
--   read(ctx, id, prior) -> observed | nil when the object is gone |
--                                     resource.deleting(id) ({ id = id,
--                                     deleting = true }) while it is on its way
--                                     out (AWS still deleting it: a delete was
--                                     in flight when wpo stopped): kept in the
--                                     state, tainted, so destroy waits for it
--                                     and a plan replaces it. Never nil for an
--                                     object still being deleted: destroy would
--                                     drop it and leave it behind, and what it
--                                     holds (subnets, addresses) would time out
--   update(ctx, id, old, new, changed) -> observed | nil   (absent: changes replace)
--   delete(ctx, id, prior)            an object already gone is not an error
--   import(ctx, id) -> observed       (absent: read is used)
--   iam = { read, create, update, delete = { "ec2:CreateVpc", ... },
--           scoped = { ... }, resources = fn }   the IAM actions each phase
--                                     calls (wpo.iam; `wpo iam-policy`)
--   unique_name = "name"              (optional) the string attribute AWS keeps
--                                     unique (a group's name in its VPC, a
--                                     role's name): a create_before_destroy
--                                     replace makes the new object with a
--                                     suffix ("<name>-<8 hex>"), recorded in the
--                                     state as name_suffix, while the old one
--                                     still holds the name
--   late = typekit.late { ... }       (AWS types) the conditions AWS resolves late
--                                     that this type's calls meet: every call it
--                                     makes through ctx:aws() is sent again while
--                                     AWS refuses it for one of them (wpo.aws.typekit)
--   lookup = true                     (optional) the type finds an object made
--                                     outside the stack: its create looks it up,
--                                     its delete only forgets it; plans say
--                                     "will be looked up" / "will be forgotten"
--   check(ctx, after, action)         (optional) called while planning each
--                                     create, update and replace, under the AWS
--                                     read-only guard, with the attributes
--                                     resolved as far as known (value.UNKNOWN
--                                     where not yet); it raises to refuse the
--                                     plan (e.g. an image tag that does not exist)
--   derive(ctx, after, prior)         (optional) called while planning each
--                                     declared resource, before it is compared
--                                     with its record (under the AWS read-only
--                                     guard; ctx.offline when the plan may not
--                                     read anything, ctx.source the stack's
--                                     wpo.git source): it sets computed
--                                     attributes of after from what the script
--                                     gives and what it may read — what the
--                                     object would be (an image's layer
--                                     digests and its digest), so that the
--                                     plan compares them (value.UNKNOWN where
--                                     it cannot tell); raise to refuse the plan.
--                                     The apply hands create and update the
--                                     values it derived (known ones), to make
--                                     exactly what the plan showed or refuse
--
-- "observed" is one flat table of what the type knows: outputs (id is
-- required after create) and any attribute values it can read back (those are
-- compared with the script's to detect drift; attributes it leaves out keep
-- their last applied value). Errors are raised (wpo.errors or AWS errors).
--
-- Exactly once: apply never calls create directly but resource.create, which
-- looks first (find), then creates; when the outcome of a create is unknown
-- (an AWS error with outcome = "unknown": the answer was lost after AWS may
-- have done the work, and the client did not send it again), it looks again
-- — a few times, AWS being eventually consistent — adopts what it finds, and
-- only then creates again. A create that fails for good after making its
-- object raises an error carrying left = the object find sees, which apply
-- records in the state as tainted. resource.update re-runs an update whose
-- outcome is unknown (updates converge: they are safe to run twice).
--
-- Not visible yet: AWS shows a new object a little after making it. apply
-- records when it made each object (record.created, epoch seconds), and
-- resource.read, which refresh calls, does not take "gone" (read -> nil) for
-- an answer within VISIBLE_AFTER_CREATE seconds of that: it reads again with
-- backoff until the window has passed.
--
-- Type names map to modules: "aws.ec2.vpc" -> wpo.aws.ec2.vpc
-- (stdlib/wpo/aws/ec2/vpc.lua), "random.password" -> wpo.random.password,
-- "wpo.null" -> wpo.null; they load on first use.
local errors = require "wpo.errors"
local text = require "wpo.text"
local value = require "wpo.value"
local fs = require "wpo.core.fs"
local cidr = require "wpo.cidr"

local M = {}

M.TAG_STACK = "wpo:stack"
M.TAG_ADDRESS = "wpo:address"

-- what read returns for an object AWS is still deleting (see read above)
function M.deleting(id)
  return { id = id, deleting = true }
end

local registry = {}

local VALUE_TYPES = { "any", "boolean", "cidr", "integer", "list", "map", "number", "object", "string", "tags" }
local ATTR_KEYS = { "choices", "computed", "default", "description", "fields", "force_new", "of", "required",
                    "sensitive", "type" }
local TYPE_KEYS = { "attributes", "check", "create", "delete", "derive", "description", "find", "found_by", "iam",
                    "import", "late", "lookup", "outputs", "read", "unique_name", "update" }
local IAM_KEYS = { "create", "delete", "read", "resources", "scoped", "update" }
local OUTPUT_KEYS = { "description", "sensitive" }

local function set_of(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end
local VALUE_TYPE_SET, ATTR_KEY_SET = set_of(VALUE_TYPES), set_of(ATTR_KEYS)
local TYPE_KEY_SET, OUTPUT_KEY_SET = set_of(TYPE_KEYS), set_of(OUTPUT_KEYS)
local IAM_KEY_SET = set_of(IAM_KEYS)

local function bad_key(what, key, valid)
  local near = text.closest(tostring(key), valid)
  return string.format("%s: unknown key '%s'%s (valid: %s)", what, tostring(key),
    near and (" (did you mean '" .. near .. "'?)") or "", table.concat(valid, ", "))
end

-- The subject of a message about an attribute's spec: made only for a
-- message.
local function attr_subject(tname, path) return "resource.define " .. tname .. ": attribute " .. path end

-- An attribute's spec, normalised in place (type "any" by default, of =
-- "string" -> of = { type = "string" }); with checked, refused (an error
-- at the definition's line) when malformed. path is only for messages.
local function attr_spec(tname, path, spec, checked)
  if checked then
    if type(spec) ~= "table" then error(attr_subject(tname, path) .. ": expected a table", 4) end
    for k in pairs(spec) do
      if not ATTR_KEY_SET[k] then error(bad_key(attr_subject(tname, path), k, ATTR_KEYS), 4) end
    end
  end
  local t = spec.type or "any"
  if checked and not VALUE_TYPE_SET[t] then
    error(bad_key(attr_subject(tname, path) .. ": type", t, VALUE_TYPES):gsub("unknown key", "unknown type"), 4)
  end
  spec.type = t
  if spec.of ~= nil then
    if checked and t ~= "list" and t ~= "map" then
      error(attr_subject(tname, path) .. ": 'of' is for list and map attributes", 4)
    end
    if type(spec.of) == "string" then spec.of = { type = spec.of } end
    attr_spec(tname, checked and path .. "[]", spec.of, checked)
  end
  if spec.fields ~= nil then
    if checked and t ~= "object" then error(attr_subject(tname, path) .. ": 'fields' is for object attributes", 4) end
    for name, f in pairs(spec.fields) do attr_spec(tname, checked and path .. "." .. name, f, checked) end
  end
end

-- The IAM actions a type calls (see wpo.iam): lists of "prefix:Action" by
-- phase, scoped actions and a resources function.
local function check_iam(name, iam)
  if iam == nil then return end
  local what = "resource.define " .. name .. ": iam"
  if type(iam) ~= "table" then error(what .. " must be a table", 4) end
  for k, v in pairs(iam) do
    if not IAM_KEY_SET[k] then error(bad_key(what, k, IAM_KEYS), 4) end
    if k == "resources" then
      if type(v) ~= "function" then error(what .. ".resources must be a function", 4) end
    else
      if type(v) ~= "table" then error(what .. "." .. k .. " must be a list of actions", 4) end
      for _, a in ipairs(v) do
        if type(a) ~= "string" or not a:match("^[a-z0-9-]+:[A-Z][A-Za-z0-9]*$") then
          error(string.format("%s.%s: '%s' is not an IAM action like \"ec2:CreateVpc\" (no wildcards)",
            what, k, tostring(a)), 4)
        end
      end
    end
  end
end

-- What resource.define refuses in a type's spec, outside its attributes
-- (errors at the definition's line).
local function check_spec(name, spec)
  for k in pairs(spec) do
    if not TYPE_KEY_SET[k] then error(bad_key("resource.define " .. name, k, TYPE_KEYS), 3) end
  end
  for _, fn in ipairs({ "create", "read", "delete" }) do
    if type(spec[fn]) ~= "function" then
      error(string.format("resource.define %s: %s must be a function", name, fn), 3)
    end
  end
  for _, fn in ipairs({ "update", "import", "check", "find", "derive" }) do
    if spec[fn] ~= nil and type(spec[fn]) ~= "function" then
      error(string.format("resource.define %s: %s must be a function", name, fn), 3)
    end
  end
  if spec.lookup ~= nil and type(spec.lookup) ~= "boolean" then
    error(string.format("resource.define %s: lookup is true or false", name), 3)
  end
  if (spec.find == nil) ~= (spec.found_by == nil) or (spec.found_by ~= nil and type(spec.found_by) ~= "string") then
    error(string.format("resource.define %s: find and found_by (a phrase: \"its wpo:address tag\") go together",
      name), 3)
  end
  check_iam(name, spec.iam)
  for aname, aspec in pairs(spec.attributes or {}) do
    if type(aname) ~= "string" or not aname:match("^[%a_][%w_]*$") then
      error("resource.define " .. name .. ": bad attribute name " .. tostring(aname), 3)
    end
    if type(aspec) ~= "table" then error(attr_subject(name, aname) .. ": expected a table", 3) end
  end
  for k, v in pairs(spec.outputs or {}) do
    local oname, ospec = k, v
    if math.type(k) == "integer" then oname, ospec = v, {} end
    if type(oname) ~= "string" or type(ospec) ~= "table" then
      error("resource.define " .. name .. ": outputs is a list of names or a map of name -> { sensitive = }", 3)
    end
    for ok in pairs(ospec) do
      if not OUTPUT_KEY_SET[ok] then error(bad_key("resource.define " .. name .. ": output " .. oname, ok, OUTPUT_KEYS), 3) end
    end
  end
end

-- The library's own types, when it runs from the copy built into the binary
-- (package.wpo_types, set only then, names the types its modules define):
-- those definitions are not checked again at every start (about 3 ms for
-- the 58 of them). The test suite checks each one, defined from the very
-- Lua files the binary is built from (WPO_STDLIB; tests/resource_spec.lua
-- loads every type); any other definition is checked.
local BUILT_IN = {}
for _, n in ipairs(package.wpo_types or {}) do BUILT_IN[n] = true end

-- A type's name: dotted lower-case words (aws.ec2.vpc)
local TYPE_NAME = "^[a-z][a-z0-9_]*%.[a-z0-9_.]*[a-z0-9_]$"

-- resource.define(name)(spec) -> type
function M.define(name)
  if type(name) ~= "string" or not name:match(TYPE_NAME) then
    error("resource.define: a type name is dotted lower-case words like 'aws.ec2.vpc', not " .. tostring(name), 2)
  end
  return function(spec)
    if type(spec) ~= "table" then error("resource.define " .. name .. ": expected a table", 2) end
    local checked = not BUILT_IN[name]
    if checked then check_spec(name, spec) end
    local t = {
      name = name, description = spec.description,
      attributes = {}, attribute_names = {}, outputs = {}, output_names = {},
      create = spec.create, read = spec.read, update = spec.update, delete = spec.delete,
      import = spec.import, check = spec.check, find = spec.find, found_by = spec.found_by, derive = spec.derive,
      iam = spec.iam,
      unique_name = spec.unique_name,
      late = spec.late,
      lookup = spec.lookup == true,
    }
    for aname, aspec in pairs(spec.attributes or {}) do
      if checked then
        -- a copy: the caller's table is left as it was given
        local copy = {}
        for k, v in pairs(aspec) do copy[k] = v end
        aspec = copy
      end
      attr_spec(name, aname, aspec, checked)     -- the library's own: normalised in place
      t.attributes[aname] = aspec
      t.attribute_names[#t.attribute_names + 1] = aname
    end
    table.sort(t.attribute_names)
    -- what desired adds to every declaration (the defaults, the required)
    -- and what a plan hides
    t.defaulted, t.required_names, t.sensitive_names = {}, {}, {}
    for _, aname in ipairs(t.attribute_names) do
      local a = t.attributes[aname]
      if a.default ~= nil then
        -- the type's own value, checked here once: never blamed on a declaration
        local err = M.check(a, a.default)
        if err then error(attr_subject(name, aname) .. ": default: " .. err, 2) end
        t.defaulted[#t.defaulted + 1] = aname
      end
      if a.required then t.required_names[#t.required_names + 1] = aname end
      if a.sensitive then t.sensitive_names[#t.sensitive_names + 1] = aname end
    end
    for k, v in pairs(spec.outputs or {}) do
      if math.type(k) == "integer" then t.outputs[v] = {} else t.outputs[k] = v end
    end
    t.outputs.id = t.outputs.id or {}
    for oname in pairs(t.outputs) do t.output_names[#t.output_names + 1] = oname end
    table.sort(t.output_names)
    t.taggable = t.attributes.tags ~= nil and t.attributes.tags.type == "tags"
    if checked and t.unique_name ~= nil
        and not (t.attributes[t.unique_name] and t.attributes[t.unique_name].type == "string") then
      error(string.format("resource.define %s: unique_name names a string attribute, not %s", name,
        tostring(t.unique_name)), 2)
    end
    registry[name] = t
    return t
  end
end

function M.module_name(name)
  if name:match("^wpo%.") then return name end
  return "wpo." .. name
end

-- Every type name a module under the stdlib defines (for suggestions).
function M.known_types()
  local names, seen = {}, {}
  for n in pairs(registry) do names[#names + 1] = n; seen[n] = true end
  if package.wpo_types then             -- the library built into the binary says which it defines
    for _, n in ipairs(package.wpo_types) do
      if not seen[n] and n:match(TYPE_NAME) then seen[n] = true; names[#names + 1] = n end
    end
    table.sort(names)
    return names
  end
  local root = package.wpo_stdlib
  if not root then return names end
  local function scan(dir, depth)
    if depth > 4 then return end
    for _, entry in ipairs(fs.list(dir) or {}) do
      local path = dir .. "/" .. entry
      if entry:match("%.lua$") then
        local src = fs.read(path)
        for n in (src or ""):gmatch('resource%.define%s*%(?%s*"([%w_.]+)"') do
          if not seen[n] and n:match(TYPE_NAME) then seen[n] = true; names[#names + 1] = n end
        end
      elseif not entry:find(".", 1, true) and (fs.stat(path) or {}).type == "directory" then
        scan(path, depth + 1)
      end
    end
  end
  scan(root .. "/wpo", 0)
  table.sort(names)
  return names
end

-- resource.get(name) -> type | nil, message
function M.get(name)
  if registry[name] then return registry[name] end
  if type(name) ~= "string" or not name:match(TYPE_NAME) then
    return nil, "not a resource type name: " .. tostring(name)
  end
  local mod = M.module_name(name)
  if not package.preload[mod] and not package.searchpath(mod, package.path) then
    local near = text.closest(name, M.known_types())
    return nil, string.format("unknown resource type '%s'%s", name, near and (" (did you mean " .. near .. "?)") or "")
  end
  -- the module is named at run time
  local t = require(mod)
  if registry[name] ~= t then
    return nil, string.format("module %s does not define the resource type '%s'", mod, name)
  end
  return t
end

local function describe(v)
  local t = type(v)
  if t == "string" then return "string " .. value.quote(v) end
  if t == "table" then return value.is_array(v) and "a list" or "a table" end
  return t .. " " .. tostring(v)
end

-- What is wrong with a CIDR block's text, or nil.
local function cidr_problem(v)
  local p, err = cidr.parse(v)
  if not p then return "expected a CIDR block like 10.0.0.0/16: " .. err end
  local canon = cidr.canonical(v)
  local cp = cidr.parse(canon)
  for i = 1, #p.bytes do
    if p.bytes[i] ~= cp.bytes[i] then
      return string.format("%s has host bits set (did you mean %s?)", v, canon)
    end
  end
  return nil
end
-- CIDR text -> its problem, or false (a stack's blocks are checked again at
-- every reference to them)
local cidr_problems = {}

-- an object attribute's fields -> their names, sorted (made once per spec)
local field_names = setmetatable({}, { __mode = "k" })

-- resource.check(spec, v) -> nil | message: does v fit the attribute spec?
-- Lazy values and unknowns fit anything (they are checked once resolved).
local function check(spec, v)
  if type(v) == "table" and (v == value.UNKNOWN or value.is_lazy(v)) then return nil end
  local t = spec.type
  if t == "any" then
    if type(v) == "function" or type(v) == "userdata" or type(v) == "thread" then
      return "expected plain data, got a " .. type(v)
    end
  elseif t == "string" then
    if type(v) ~= "string" then return "expected a string, got " .. describe(v) end
  elseif t == "number" then
    if type(v) ~= "number" then return "expected a number, got " .. describe(v) end
  elseif t == "integer" then
    if not math.tointeger(v) then return "expected an integer, got " .. describe(v) end
  elseif t == "boolean" then
    if type(v) ~= "boolean" then return "expected true or false, got " .. describe(v) end
  elseif t == "cidr" then
    if type(v) ~= "string" then return "expected a CIDR block like 10.0.0.0/16, got " .. describe(v) end
    local err = cidr_problems[v]
    if err == nil then
      err = cidr_problem(v) or false
      cidr_problems[v] = err
    end
    if err then return err end
  elseif t == "list" then
    if type(v) ~= "table" or not value.is_array(v) then return "expected a list, got " .. describe(v) end
    if spec.of then
      for i, e in ipairs(v) do
        local err = check(spec.of, e)
        if err then return string.format("[%d]: %s", i, err) end
      end
    end
  elseif t == "map" or t == "tags" then
    if type(v) ~= "table" or (next(v) ~= nil and value.is_array(v)) then
      return "expected a map of names to values, got " .. describe(v)
    end
    for k, e in pairs(v) do
      if type(k) ~= "string" then return "keys must be strings, got " .. describe(k) end
      local err
      if t == "tags" then
        if not value.is_lazy(e) and type(e) ~= "string" then err = "tag values are strings, got " .. describe(e) end
      elseif spec.of then
        err = check(spec.of, e)
      end
      if err then return string.format("[%s]: %s", value.quote(k), err) end
    end
  elseif t == "object" then
    if type(v) ~= "table" or (next(v) ~= nil and value.is_array(v)) then
      return "expected a table of fields, got " .. describe(v)
    end
    local fields = spec.fields or {}
    local names = field_names[fields]
    if not names then
      names = text.sorted_keys(fields)
      field_names[fields] = names
    end
    for k, e in pairs(v) do
      local f = fields[k]
      if not f then
        local near = text.closest(tostring(k), names)
        return string.format("unknown field '%s'%s (valid: %s)", tostring(k),
          near and (" (did you mean '" .. near .. "'?)") or "", table.concat(names, ", "))
      end
      local err = check(f, e)
      if err then return "." .. k .. ": " .. err end
    end
    for _, k in ipairs(names) do
      if fields[k].required and v[k] == nil then return "." .. k .. ": required field missing" end
    end
  end
  if spec.choices and v ~= nil then
    for _, c in ipairs(spec.choices) do if c == v then return nil end end
    local shown = {}
    for _, c in ipairs(spec.choices) do shown[#shown + 1] = value.show(c) end
    return "expected one of " .. table.concat(shown, ", ") .. ", got " .. value.show(v)
  end
  return nil
end
M.check = check

-- of two (attribute, message) pairs, the one whose attribute comes first by name
local function earlier(name, msg, other, other_msg)
  if name == nil or other < name then return other, other_msg end
  return name, msg
end

-- resource.desired(t, attrs) -> attributes with defaults | nil, attribute, message
-- attrs are the script's (possibly lazy) values, meta keys already removed.
function M.desired(t, attrs)
  -- of what is wrong (an unknown attribute, a bad value, a required one
  -- missing), the first by name is the one named, so a declaration always
  -- gets the same message
  local specs, out, first, first_err = t.attributes, {}, nil, nil
  local unknown
  for k, v in pairs(attrs) do
    local spec = specs[k]
    if not spec then
      if unknown == nil or tostring(k) < tostring(unknown) then unknown = k end
    else
      local err = check(spec, v)
      if err then first, first_err = earlier(first, first_err, k, "attribute " .. k .. ": " .. err) end
      out[k] = v
    end
  end
  if unknown ~= nil then
    local near = text.closest(tostring(unknown), t.attribute_names)
    local valid = #t.attribute_names > 0 and table.concat(t.attribute_names, ", ") or "none"
    return nil, unknown, string.format("unknown attribute '%s'%s (valid: %s)", tostring(unknown),
      near and (" (did you mean '" .. near .. "'?)") or "", valid)
  end
  for _, name in ipairs(t.defaulted) do   -- checked when the type was defined
    if out[name] == nil then out[name] = value.copy(specs[name].default) end
  end
  for _, name in ipairs(t.required_names) do
    if out[name] == nil then
      first, first_err = earlier(first, first_err, name, "missing required attribute '" .. name .. "'")
    end
  end
  if first then return nil, first, first_err end
  return out
end

-- The tags a taggable resource gets: the stack's, the script's, then wpo's own.
function M.tags(stack_name, address, stack_tags, own)
  local function merge(user)
    local out = {}
    for k, v in pairs(stack_tags or {}) do out[k] = v end
    for k, v in pairs(user or {}) do out[k] = v end
    out[M.TAG_STACK] = stack_name
    out[M.TAG_ADDRESS] = address
    return out
  end
  if value.is_lazy(own) then return value.compute(merge, own) end
  return merge(own)
end

-- ---- the context a type's functions receive ----

local Context = {}
Context.__index = Context

-- resource.context{ address, type, stack, region, aws_settings, where, lineage, generation, log, prior,
--                   read_only, idle, read_cache, source, root, offline }
-- source, root: the stack's wpo.git source (its working tree, or the commit
-- of --ref) and its root directory, for types that read the stack's files
-- (oci.image's layers); offline: a plan that may read nothing (validate, show).
-- read_cache: the run's wpo.aws.readcache (the refresh's read-only clients
-- fill it, the apply's take from it)
-- aws_settings: { profile, assume_role } of the resource's provider (wpo.stack's aws_for).
-- idle(fn): runs fn, a wait for AWS, lending the resource's --parallelism slot
-- meanwhile (apply gives it; absent, fn just runs).
-- read_only: the context of a plan (refresh, check, import): every client it
-- gives refuses any write before it is sent.
function M.context(fields)
  local ctx = setmetatable({}, Context)
  for k, v in pairs(fields) do ctx[k] = v end
  ctx.type_name = fields.type and fields.type.name
  ctx.tags = { [M.TAG_STACK] = fields.stack, [M.TAG_ADDRESS] = fields.address }
  return ctx
end

-- ctx:records(type_name) -> { { address, id } }: the records of that type in
-- this stack's state (a read-only copy; empty where the context was given no
-- state_view). A security group uses it to tell its rules from the ones no
-- declared rule manages.
function Context:records(type_name)
  if not self.state_view then return {} end
  return self.state_view(type_name)
end

-- resource.state_view(st) -> the state_view a context takes: a copy of the
-- addresses and ids of a type's records, nothing that could change them
function M.state_view(st)
  return function(type_name)
    local out = {}
    for _, address in ipairs(st:addresses()) do
      local r = st:get(address)
      if r and r.type == type_name then out[#out + 1] = { address = address, id = r.id } end
    end
    return out
  end
end

-- ctx:log(fmt, ...): a progress note about this resource
function Context:log(fmt, ...)
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  if self.logger then self.logger(self, msg) end
end

-- ctx:fail(code, fmt, ...): raise an error about this resource
function Context:fail(code, fmt, ...)
  errors.raise { code = code, message = string.format(fmt, ...), address = self.address, where = self.where }
end

-- ctx:aws(service, opts?) -> an AWS client for the stack's region (cached),
-- whose calls AWS refuses for a condition it resolves late are sent again
-- (wpo.aws.typekit's late_call: the type's `late` declaration)
function Context:aws(service, opts)
  self.clients = self.clients or {}
  local key = service .. (opts and opts.region or "")
  if not self.clients[key] then
    local o = { region = self.region }
    local settings = self.aws_settings
    if settings then o.profile, o.assume_role = settings.profile, settings.assume_role end
    for k, v in pairs(opts or {}) do o[k] = v end
    if self.read_only then o.read_only = true end
    -- lazy: wpo.aws.typekit requires this module (a cycle)
    if o.late == nil then o.late = require("wpo.aws.typekit").late_call(self) end
    if self.read_cache and o.read_cache == nil then
      local role = settings and settings.assume_role
      o.read_cache = self.read_cache:scope(tostring(o.profile or "") .. "\0"
        .. tostring(role and (role.role_arn or role.arn) or ""))
    end
    self.clients[key] = require("wpo.aws").client(service, o)   -- wpo.aws requires this module
  end
  return self.clients[key]
end

-- ctx:client_token() -> a deterministic idempotency token for this resource's
-- next create: the same across a crash and a re-run, new after each create.
-- A new state has no lineage until its first save, so the stack and region
-- are in the seed too: two stacks declaring the same address never share a
-- token (AWS would hand one stack the other's object).
function Context:client_token()
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  local crypto = require "wpo.core.crypto"
  local seed = table.concat({ self.lineage or "", self.stack or "", self.region or "", self.address,
    tostring(self.generation or 1) }, "\0")
  return crypto.hex(crypto.sha256(seed)):sub(1, 64)
end

-- resource.name_suffix(ctx) -> "1a2b3c4d": the suffix a create_before_destroy
-- replace gives a unique name; the same across a crash and a re-run (it comes
-- from the create's client token), so the object it made is found again.
function M.name_suffix(ctx)
  return ctx:client_token():sub(1, 8)
end

-- resource.base_name(value, suffix) -> the name without "-<suffix>"
function M.base_name(v, suffix)
  if type(v) ~= "string" or not suffix then return v end
  local tail = "-" .. suffix
  if v:sub(-#tail) == tail then return v:sub(1, -#tail - 1) end
  return v
end

-- ctx:adopt(find) -> observed | nil
-- find(tag_key, tag_value) -> list of observed objects carrying that tag (or
-- found by another key). An object already made for this resource's address
-- (by a run that died before saving state, or whose answer was lost) is
-- adopted instead of making a duplicate. Objects tagged by another stack are
-- ignored, and so are the objects the state already holds for this address
-- (the one a create_before_destroy replaces, and its deposed ones); more than
-- one candidate is an error naming them.
function Context:adopt(find)
  local found = find(M.TAG_ADDRESS, self.address) or {}
  local prior = self.prior or {}
  local held = {}
  if prior.id ~= nil then held[tostring(prior.id)] = true end
  for _, old in ipairs(prior.deposed or {}) do held[tostring(old.id)] = true end
  local mine = {}
  for _, obj in ipairs(found) do
    local tags = obj.tags
    if (not tags or tags[M.TAG_STACK] == nil or tags[M.TAG_STACK] == self.stack) and not held[tostring(obj.id)] then
      mine[#mine + 1] = obj
    end
  end
  if #mine == 0 then return nil end
  if #mine > 1 then
    local ids = {}
    for _, o in ipairs(mine) do ids[#ids + 1] = tostring(o.id) end
    self:fail("AdoptConflict", "%d objects carry the tag %s=%s (%s): delete the extra ones, then run again",
      #mine, M.TAG_ADDRESS, self.address, table.concat(ids, ", "))
  end
  local by = self.type and self.type.found_by
  if by then
    self:log("adopting %s, found by %s", tostring(mine[1].id), by)
  else
    self:log("adopting %s, already tagged %s=%s", tostring(mine[1].id), M.TAG_ADDRESS, self.address)
  end
  return mine[1]
end

-- ---- exactly once: creates and updates whose answer was lost ----

-- How many times resource.create and resource.update run a type's function
-- whose outcome was unknown, and the pauses (seconds, scaled by
-- WPO_WAIT_SCALE) before looking again when a look found nothing: AWS lists
-- a new object a little after making it.
M.ATTEMPTS = 3
M.LOOK_AGAIN = { 2, 5 }

-- resource.outcome_unknown(err) -> boolean: may AWS have done what the
-- failed call asked? (a write whose answer was lost: wpo.aws marks it)
function M.outcome_unknown(err)
  return type(err) == "table" and err.outcome == "unknown"
end

-- Go on after an unknown outcome? Not once the attempts are spent, nor in a
-- task being cancelled (a second interrupt: its requests are cut short).
local function again(err, attempt)
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  return M.outcome_unknown(err) and attempt < M.ATTEMPTS and not require("wpo.task").cancelled()
end

-- ---- not visible yet ----

-- How long after its create an object AWS says is not there is taken to be
-- not visible yet rather than gone (seconds).
M.VISIBLE_AFTER_CREATE = 120

-- The clock of waits for what AWS shows late, in real seconds (AWS's delays
-- are real: WPO_WAIT_SCALE does not shorten them); tests replace it.
M.clock = {
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  now = function() return require("wpo.core.loop").now() / 1000 end,   -- monotonic
  epoch = os.time,
  sleep = function(seconds)
    local ms = math.floor(seconds * 1000 + 0.5)
    -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
    if ms > 0 then require("wpo.task").sleep(ms) end
  end,
}
-- the pause before reading again, `waited` seconds into the wait: 15% of
-- it, from 0.1 s to 4 s (what is waited past AWS's moment stays small)
M.READ_AGAIN = { first = 0.1, fraction = 0.15, max = 4 }

-- resource.read(t, ctx, id, prior) -> observed | nil: the type's read; nil
-- (gone) is believed only once VISIBLE_AFTER_CREATE seconds have passed since
-- prior.created (before that the object may not be visible yet: read again)
function M.read(t, ctx, id, prior)
  local observed = t.read(ctx, id, prior)
  local made = prior and tonumber(prior.created)
  if observed ~= nil or not made then return observed end
  local clock, read_again, since = M.clock, M.READ_AGAIN, nil
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  while clock.epoch() - made < M.VISIBLE_AFTER_CREATE and not require("wpo.task").cancelled() do
    local now = clock.now()
    if not since then
      since = now
      ctx:log("not found %ds after its create: reading it again until AWS shows it", clock.epoch() - made)
    end
    local pause = math.min(math.max(read_again.first, (now - since) * read_again.fraction), read_again.max)
    if ctx.idle then ctx.idle(function() clock.sleep(pause) end) else clock.sleep(pause) end
    observed = t.read(ctx, id, prior)
    if observed ~= nil then return observed end
  end
  return nil
end

-- resource.pause(seconds): the wait between looks (tests replace it)
function M.pause(seconds)
  local scale = tonumber(os.getenv("WPO_WAIT_SCALE") or "")
  if not scale or scale <= 0 then scale = 1 end
  local ms = math.floor(seconds * scale * 1000 + 0.5)
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  if ms > 0 then require("wpo.task").sleep(ms) end
end

local function what_failed(err)
  if type(err) ~= "table" then return tostring(err) end
  local op = err.service and err.operation and (err.service .. " " .. err.operation .. ": ") or ""
  return op .. tostring(err.code or "error")
end

local function look(t, ctx, want)
  return ctx:adopt(function() return t.find(ctx, want) end)
end

-- After a create failed for good: is its object there all the same? The
-- error then carries it (err.left), for the state to hold it as tainted.
local function left_behind(t, ctx, want, err)
  if type(err) ~= "table" or err.code == "AdoptConflict" then return end
  local quiet = setmetatable({ logger = false }, { __index = ctx })
  local ok, found = pcall(look, t, quiet, want)
  if ok and found and found.id ~= nil then err.left = found end
end

-- resource.create(t, ctx, want) -> observed: the type's create, exactly once
-- (see "Exactly once" above). A type without find is created directly.
function M.create(t, ctx, want)
  if not t.find then return t.create(ctx, want) end
  local found = look(t, ctx, want)
  local attempt = 1
  while true do
    local ok, observed = pcall(t.create, ctx, want, found)
    if ok then return observed end
    local err = observed
    if not again(err, attempt) then
      left_behind(t, ctx, want, err)
      error(err, 0)
    end
    attempt = attempt + 1
    ctx:log("the answer to %s was lost (AWS may have done it): looking for the object by %s before going on",
      what_failed(err), t.found_by)
    found = look(t, ctx, want)
    for _, seconds in ipairs(M.LOOK_AGAIN) do
      if found then break end
      M.pause(seconds)
      found = look(t, ctx, want)
    end
    if not found then ctx:log("not found: it was not made; creating it (attempt %d of %d)", attempt, M.ATTEMPTS) end
  end
end

-- resource.update(t, ctx, id, old, new, changed) -> observed: the type's
-- update, run again (at most ATTEMPTS times) while its outcome is unknown.
function M.update(t, ctx, id, old, new, changed)
  local attempt = 1
  while true do
    local ok, observed = pcall(t.update, ctx, id, old, new, changed)
    if ok then return observed end
    if not again(observed, attempt) then error(observed, 0) end
    attempt = attempt + 1
    ctx:log("the answer to %s was lost (AWS may have done it): running the update again (attempt %d of %d)",
      what_failed(observed), attempt, M.ATTEMPTS)
    M.pause(M.LOOK_AGAIN[1])
  end
end

return M
