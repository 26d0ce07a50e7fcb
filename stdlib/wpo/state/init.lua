-- wpo.state: a stack's state — what wpo created, as last seen — over a
-- backend (wpo.state.local by default; see that file for the interface).
--
--   state.open(stack, { path = --state, lock = true, operation = "plan",
--                       command = "wpo plan s.lua", lineage = expected }) -> st
--   st:get(address) -> record | nil      st:set(address, record)
--   st:remove(address)                   st:addresses() -> sorted addresses
--   st:save()                            serial + 1; atomic; after every resource
--   st:close()                           releases the lock (idempotent)
--   st:record_rollout(entry)             appends to the rollout history
--   st.lineage, st.serial, st.exists, st.outputs, st.generations,
--   st.source (what is deployed), st.history
--
-- The JSON document:
--   { "format_version": 1, "lineage": "<uuid>", "serial": n, "stack": "name",
--     "wpo_version": "0.1.0",
--     "resources": [ { "address", "type", "id", "inputs": {...}, "outputs": {...},
--                      "deps": [addresses], "where": "file:line",
--                      "prevent_destroy": bool, "create_before_destroy": bool,
--                      "deposed": [ { "id", "inputs", "outputs" } ]? } ],
--     "outputs": { "name": { "value": v, "sensitive": bool } },
--     "generations": { "address": number of creates so far },
--     "source": provenance of what is deployed (wpo.git: repo, ref, commit,
--               short, dirty, time, user, path)?,
--     "history": [ the last HISTORY_MAX rollouts: provenance fields +
--                  operation, result, added, changed, destroyed ]? }
-- A corrupt or truncated file, an unknown format version, another stack's
-- state, a lineage other than the expected one (or than the backup's), or a
-- missing state whose backup is still there is refused before anything is
-- touched.
local cjson = require "cjson.safe"
local errors = require "wpo.errors"
local value = require "wpo.value"

local M = {}

local function check_options(fname, opts, valid)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(fname .. ": options must be a table", 3) end
  for k in pairs(opts) do
    if not valid[k] then
      local names = {}
      for n in pairs(valid) do names[#names + 1] = n end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (valid: %s)", fname, tostring(k), table.concat(names, ", ")), 3)
    end
  end
  return opts
end
M.FORMAT_VERSION = 1

local State = {}
State.__index = State

local function refuse(st, fmt, ...)
  errors.raise { code = "StateError", message = st.backend:describe() .. ": " .. string.format(fmt, ...)
    .. "; refusing to touch it" }
end

local function backend_for(stack, opts)
  local config = {}
  for k, v in pairs(stack.backend or { type = "local" }) do config[k] = v end
  local btype = config.type or "local"
  if opts.path then
    btype = "local"
    config = { type = "local", path = opts.path }
  end
  local mod = "wpo.state." .. btype
  if not btype:match("^[%w_]+$") or not (package.preload[mod] or package.searchpath(mod, package.path)) then
    errors.raise { code = "StateError", where = stack.where,
      message = string.format("the state backend '%s' is not available in this wpo (available: local)", btype) }
  end
  return require(mod).new(config, stack)
end

local function decode(st, text, what)
  local doc, err = cjson.decode(text)
  if type(doc) ~= "table" then
    refuse(st, "%s is corrupt or truncated (%s)", what, err or "not a JSON object")
  end
  if doc.format_version ~= M.FORMAT_VERSION then
    refuse(st, "%s has format version %s; this wpo reads version %d", what,
      tostring(value.normalize_numbers(doc.format_version)),
      M.FORMAT_VERSION)
  end
  if type(doc.resources) ~= "table" or type(doc.lineage) ~= "string" or math.type(value.normalize_numbers(doc.serial)) ~= "integer" then
    refuse(st, "%s is corrupt (missing lineage, serial or resources)", what)
  end
  return doc
end

function M.open(stack, opts)
  opts = check_options("state.open", opts,
    { path = true, lock = true, operation = true, command = true, lineage = true })
  local st = setmetatable({ stack_name = stack.name, resources = {}, outputs = {}, generations = {},
    serial = 0, exists = false, history = {} }, State)
  st.backend = backend_for(stack, opts)
  if opts.lock ~= false then
    local sys = require "wpo.core.sys"
    local ok, err = st.backend:lock({ pid = sys.pid(), host = sys.hostname(), user = sys.user(),
      command = opts.command or "wpo", operation = opts.operation or "unknown",
      since = os.date("!%Y-%m-%dT%H:%M:%SZ") })
    if not ok then errors.raise { code = "StateLocked", message = "the state is locked: " .. err } end
  end
  local ok, err = pcall(function()
    local text = st.backend:load()
    if not text then
      if opts.lineage then refuse(st, "there is no state, but the plan was made against lineage %s", opts.lineage) end
      if st.backend:load_backup() then
        refuse(st, "the state is missing but its backup is there (planning from nothing would create everything "
          .. "again): restore the backup, or remove it to start afresh")
      end
      return
    end
    local doc = decode(st, text, "the state file")
    if doc.stack ~= stack.name then
      refuse(st, "this is the state of stack '%s', not '%s'", tostring(doc.stack), stack.name)
    end
    local backup = st.backend:load_backup()
    if backup then
      local bdoc = cjson.decode(backup)
      if type(bdoc) == "table" and type(bdoc.lineage) == "string" and bdoc.lineage ~= doc.lineage then
        refuse(st, "its lineage %s differs from its backup's (%s): it was replaced by another state", doc.lineage,
          bdoc.lineage)
      end
    end
    if opts.lineage and opts.lineage ~= doc.lineage then
      refuse(st, "its lineage is %s, not %s", doc.lineage, opts.lineage)
    end
    st.exists = true
    st.lineage = doc.lineage
    st.serial = math.tointeger(doc.serial)
    st.outputs = type(doc.outputs) == "table" and value.normalize_numbers(doc.outputs) or {}
    st.generations = type(doc.generations) == "table" and value.normalize_numbers(doc.generations) or {}
    st.source = type(doc.source) == "table" and value.normalize_numbers(doc.source) or nil
    st.history = type(doc.history) == "table" and value.normalize_numbers(doc.history) or {}
    for i, r in ipairs(doc.resources) do
      if type(r) ~= "table" or type(r.address) ~= "string" or type(r.type) ~= "string" then
        refuse(st, "resource #%d in the state file is malformed", i)
      end
      r.inputs = value.normalize_numbers(type(r.inputs) == "table" and r.inputs or {})
      r.outputs = value.normalize_numbers(type(r.outputs) == "table" and r.outputs or {})
      r.deps = type(r.deps) == "table" and r.deps or {}
      if type(r.deposed) == "table" then
        for _, dep in ipairs(r.deposed) do
          dep.inputs = value.normalize_numbers(dep.inputs or {})
          dep.outputs = value.normalize_numbers(dep.outputs or {})
        end
        if #r.deposed == 0 then r.deposed = nil end
      else
        r.deposed = nil
      end
      local address = r.address
      r.address = nil
      st.resources[address] = r
    end
  end)
  if not ok then
    st.backend:unlock()
    error(err, 0)
  end
  return st
end

function State:get(address) return self.resources[address] end

function State:set(address, record)
  assert(type(record.type) == "string", "state record needs a type")
  self.resources[address] = record
end

function State:remove(address) self.resources[address] = nil end

function State:addresses()
  local list = {}
  for a in pairs(self.resources) do list[#list + 1] = a end
  table.sort(list)
  return list
end

-- The JSON text of the state as it is now (with the next serial).
function State:encode(serial)
  local list = {}
  for _, address in ipairs(self:addresses()) do
    local r = self.resources[address]
    local out = { address = address }
    for k, v in pairs(r) do out[k] = v end
    list[#list + 1] = out
  end
  local doc = {
    format_version = M.FORMAT_VERSION, lineage = self.lineage, serial = serial, stack = self.stack_name,
    wpo_version = require("wpo.core.sys").versions().wpo,
    resources = list, outputs = self.outputs, generations = self.generations,
    source = self.source, history = self.history and self.history[1] and self.history or nil,
  }
  local text, err = cjson.encode(doc)
  if not text then errors.raise { code = "StateError", message = "cannot encode the state: " .. tostring(err) } end
  return text
end

function State:save()
  if not self.lineage then self.lineage = require("wpo.core.crypto").uuid() end
  local text = self:encode(self.serial + 1)
  self.backend:save(text)
  self.serial = self.serial + 1
  self.exists = true
end

M.HISTORY_MAX = 100

-- st:record_rollout(entry): append to the history (the oldest entries beyond
-- HISTORY_MAX go); the caller saves.
function State:record_rollout(entry)
  self.history = self.history or {}
  self.history[#self.history + 1] = entry
  while #self.history > M.HISTORY_MAX do table.remove(self.history, 1) end
end

function State:describe() return self.backend:describe() end

function State:close()
  self.backend:unlock()
end
State.__close = State.close

return M
