-- wpo.state: a stack's state — what wpo created, as last seen — over a
-- backend chosen by the stack's `backend = { type = ... }`: wpo.state.local
-- (the default; its file documents the backend interface) or wpo.state.s3
-- (S3 object + DynamoDB or S3 lock). Either may be encrypted at rest
-- (wpo.state.crypt: backend.encrypt / backend.kms_key_id).
--
--   state.open(stack, { path = --state, lock = true, operation = "plan",
--                       command = "wpo plan s.lua", lineage = expected,
--                       lock_timeout = seconds (wait for a held lock),
--                       migrating = true (wpo state migrate: a moved marker
--                       reads as no state; skip the local-state guard),
--                       restoring = true (wpo state restore: a deleted S3
--                       object with versions left reads as no state),
--                       before_lock = fn(st) (called before locking: wpo.workflow
--                       catches SIGINT from there) }) -> st
--   state.backend(stack, { path }) -> backend    (no lock, nothing read)
--   st:get(address) -> record | nil      st:set(address, record)
--   st:remove(address)                   st:addresses() -> sorted addresses
--   st:save({ keep_serial })             serial + 1 (or kept: a migration's
--                                        copy); atomic; after every resource;
--                                        saves are serialised, and where a
--                                        write yields (S3, KMS) each runs as
--                                        its own task, so cancelling the task
--                                        that asked never cancels the write
--   st:check_lock()                      renew a remote lock now; raises if lost
--   st:adopt(text, what)                 replace the content with a state text
--                                        (the serial stays the higher one)
--   st:text() -> plaintext JSON          st:mark_moved(to)  (migration)
--   st:close()                           waits for writes, releases the lock,
--                                        runs st.on_close (idempotent)
--   st:record_rollout(entry)             appends to the rollout history
--   st.lineage, st.serial, st.exists, st.outputs, st.generations, st.keyring,
--   st.backend, st.moved (the marker's { to, at, serial, lineage } if any),
--   st.source (what is deployed), st.history
--   state.BACKENDS                       type -> module
--
-- The JSON document:
--   { "format_version": 1, "lineage": "<uuid>", "serial": n, "stack": "name",
--     "wpo_version": "0.1.0",
--     "resources": [ { "address", "type", "id", "inputs": {...}, "outputs": {...},
--                      "deps": [addresses], "where": "file:line",
--                      "prevent_destroy": bool, "create_before_destroy": bool,
--                      "deposed": [ { "id", "inputs", "outputs" } ]?,
--                      "tainted": "the error of the create that left this
--                                  object behind (the next apply replaces it)"?,
--                      "sensitive": [ attribute names whose values came from
--                                     sensitive ones ]? } ],
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
local crypt = require "wpo.state.crypt"
local errors = require "wpo.errors"
local check_options = require("wpo.options").check
local value = require "wpo.value"

local M = {}

-- The backend registry: a stack's backend.type -> the module implementing it.
M.BACKENDS = { ["local"] = "wpo.state.local", s3 = "wpo.state.s3" }
-- Backend keys wpo.state handles itself (encryption), for every backend.
local COMMON_KEYS = { encrypt = true, kms_key_id = true }
M.FORMAT_VERSION = 1

local State = {}
State.__index = State

local function refuse(st, fmt, ...)
  errors.raise { code = "StateError", message = st.backend:describe() .. ": " .. string.format(fmt, ...)
    .. "; refusing to touch it" }
end

local function backend_for(stack, opts)
  local config = {}
  for k, v in pairs(stack.backend or { type = "local" }) do
    if not COMMON_KEYS[k] then config[k] = v end
  end
  local btype = config.type or "local"
  if opts.path then
    btype = "local"
    config = { type = "local", path = opts.path }
  end
  local mod = M.BACKENDS[btype]
  if not mod then
    local names = require("wpo.text").sorted_keys(M.BACKENDS)
    errors.raise { code = "StateError", where = stack.where, message = string.format(
      "unknown state backend type '%s' (valid: %s)", tostring(btype), table.concat(names, ", ")) }
  end
  return require(mod).new(config, stack)
end

local function decode(st, text, what)
  local doc, err = cjson.decode(text)
  if type(doc) ~= "table" then
    refuse(st, "%s is corrupt or truncated (%s)", what, err or "not a JSON object")
  end
  if doc.wpo_state_moved ~= nil then return doc end
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

-- Fill st from a decoded state document.
local function fill(st, doc)
  st.exists = true
  st.lineage = doc.lineage
  st.serial = math.tointeger(doc.serial)
  st.outputs = type(doc.outputs) == "table" and value.normalize_numbers(doc.outputs) or {}
  st.generations = type(doc.generations) == "table" and value.normalize_numbers(doc.generations) or {}
  st.source = type(doc.source) == "table" and value.normalize_numbers(doc.source) or nil
  st.history = type(doc.history) == "table" and value.normalize_numbers(doc.history) or {}
  st.resources = {}
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
end

local function moved_message(m)
  return string.format("the state moved to %s on %s (serial %s, by wpo state migrate): set the stack's backend "
    .. "to that location", tostring(m.to), tostring(m.at), tostring(math.tointeger(m.serial) or m.serial))
end

-- Take the lock, waiting up to opts.lock_timeout seconds for a held one.
local function acquire(st, opts)
  local sys = require "wpo.core.sys"
  local info = { pid = sys.pid(), host = sys.hostname(), user = sys.user(), version = sys.versions().wpo,
    command = opts.command or "wpo", operation = opts.operation or "unknown",
    since = os.date("!%Y-%m-%dT%H:%M:%SZ") }
  local loop = require "wpo.core.loop"
  local deadline = opts.lock_timeout and loop.now() + opts.lock_timeout * 1000
  local told = false
  while true do
    local ok, err = st.backend:lock(info)
    if ok then
      if told then io.stderr:write("wpo: got the state lock\n") end
      return
    end
    local left = deadline and deadline - loop.now()
    if not left or left <= 0 then
      errors.raise { code = "StateLocked", message = "the state is locked: " .. tostring(err)
        .. (told and string.format(" (waited %ss)", tostring(opts.lock_timeout)) or "") }
    end
    if not told then
      io.stderr:write(string.format("wpo: waiting up to %ss for the state lock: %s\n", tostring(opts.lock_timeout),
        tostring(err)))
      told = true
    end
    require("wpo.task").sleep(math.max(1, math.min(1000, math.floor(left))))
  end
end

-- state.backend(stack, { path }) -> the stack's backend, without locking or
-- reading anything (wpo unlock, wpo state versions).
function M.backend(stack, opts)
  return backend_for(stack, check_options("state.backend", opts, { path = true }))
end

function M.open(stack, opts)
  opts = check_options("state.open", opts, { path = true, lock = true, operation = true, command = true,
    lineage = true, lock_timeout = true, migrating = true, restoring = true, before_lock = true })
  local st = setmetatable({ stack_name = stack.name, stack_path = stack.path, resources = {}, outputs = {},
    generations = {}, serial = 0, exists = false, history = {}, version = 0, saved_version = 0, writers = {} }, State)
  st.backend = backend_for(stack, opts)
  st.keyring = crypt.keyring(stack.backend, stack)
  st.keyring:check()
  st.save_lock = require("wpo.task").semaphore(1)
  st.backend.restoring = opts.restoring
  local ok, err = pcall(function()
    if opts.lock ~= false then
      if opts.before_lock then opts.before_lock(st) end
      acquire(st, opts)
    end
    local stored = st.backend:load()
    if not stored then
      if st.backend.remote_lock and not opts.migrating and stack.path then
        local lpath = require("wpo.state.local").default_path(stack)
        local ltext = require("wpo.core.fs").read(lpath)
        local ldoc = ltext and (crypt.is_encrypted(ltext) and {} or cjson.decode(ltext))
        if ltext and not (type(ldoc) == "table" and ldoc.wpo_state_moved) then
          refuse(st, "there is no state here, but a local state exists at %s (planning from nothing would create "
            .. "everything again): move it here with 'wpo state migrate %s --to %s'", lpath,
            require("wpo.stack").display(stack.path or "STACK"), (stack.backend or {}).type or "s3")
        end
      end
      if opts.lineage then refuse(st, "there is no state, but the plan was made against lineage %s", opts.lineage) end
      if st.backend:load_backup() then
        refuse(st, "the state is missing but its backup is there (planning from nothing would create everything "
          .. "again): restore the backup, or remove it to start afresh")
      end
      return
    end
    local rok, text = pcall(st.keyring.open, st.keyring, stored, "the state " .. st.backend:describe())
    if not rok and opts.restoring then
      -- restoring over a state that cannot be read (e.g. its key is lost)
      io.stderr:write("wpo: ", tostring(text), "; restoring over it\n")
      st.serial = st.backend.stored_serial or 0
      return
    elseif not rok then
      error(text, 0)
    end
    local doc = decode(st, text, "the state file")
    if doc.wpo_state_moved ~= nil then
      local m = type(doc.wpo_state_moved) == "table" and doc.wpo_state_moved or {}
      if opts.migrating then
        st.moved = m
        return
      end
      refuse(st, "%s", moved_message(m))
    end
    st.stored_plaintext = not crypt.is_encrypted(stored) and text or nil
    if doc.stack ~= stack.name then
      refuse(st, "this is the state of stack '%s', not '%s'", tostring(doc.stack), stack.name)
    end
    local backup = st.backend:load_backup()
    if backup then
      local bok, btext = pcall(st.keyring.open, st.keyring, backup, "the state's backup")
      local bdoc = bok and cjson.decode(btext)
      if type(bdoc) == "table" and type(bdoc.lineage) == "string" and bdoc.lineage ~= doc.lineage then
        refuse(st, "its lineage %s differs from its backup's (%s): it was replaced by another state", doc.lineage,
          bdoc.lineage)
      end
    end
    if opts.lineage and opts.lineage ~= doc.lineage then
      refuse(st, "its lineage is %s, not %s", doc.lineage, opts.lineage)
    end
    fill(st, doc)
  end)
  if not ok then
    st:close()
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

-- The plaintext JSON of the state as it is (its current serial).
function State:text() return self:encode(self.serial) end

-- Replace the content with a state text (plaintext or encrypted): wpo state
-- restore, and the verification of a migration.
function State:adopt(text, what)
  local plain = self.keyring:open(text, what)
  local doc = decode(self, plain, what)
  if doc.wpo_state_moved ~= nil then refuse(self, "%s is not a state: %s", what, moved_message(doc.wpo_state_moved)) end
  if doc.stack ~= self.stack_name then
    refuse(self, "%s is the state of stack '%s', not '%s'", what, tostring(doc.stack), self.stack_name)
  end
  local serial = self.serial
  fill(self, doc)
  self.serial = math.max(serial, self.serial)   -- the next save moves past both
end

-- A state wpo could not write (the stored one changed under it) is kept
-- beside the stack, so that nothing is lost either way.
local function rescue(self, text, serial, err)
  local fs = require "wpo.core.fs"
  local dir = (self.stack_path and self.stack_path:match("^(.*)/[^/]*$") or ".") .. "/.wpo"
  local path = string.format("%s/%s.unsaved-serial-%d.state.json", dir, self.stack_name, serial)
  if fs.mkdir_p(dir, "0700") and fs.write_atomic(path, text, "0600") then
    err.message = err.message .. "; wpo's own version (serial " .. serial .. ") is kept in " .. path
  end
end

local function write_now(self, opts)
  local lost = self.backend.lock_lost and self.backend:lock_lost()
  if lost then errors.raise { code = "StateError", message = lost .. "; refusing to write the state" } end
  local version = self.version
  local serial = opts.keep_serial and self.serial or self.serial + 1
  local text = self.keyring:seal(self:encode(serial))
  local backup
  if self.reseal_backup then backup = self.keyring:seal(self.reseal_backup) end
  local ok, err = pcall(self.backend.save, self.backend, text,
    { serial = serial, lineage = self.lineage, stack = self.stack_name, backup = backup })
  if not ok then
    if errors.is(err) and err.code == "StateConflict" then
      err.code = "StateError"
      rescue(self, text, serial, err)
    end
    error(err, 0)
  end
  self.reseal_backup = nil
  self.serial = serial
  self.saved_version = math.max(self.saved_version, version)
  self.exists = true
end

function State:save(opts)
  opts = check_options("st:save", opts, { keep_serial = true })
  if not self.lineage then self.lineage = require("wpo.core.crypto").uuid() end
  self.version = self.version + 1
  if self.stored_plaintext and self.keyring:write_scheme() then
    -- encryption newly on: the backup this write keeps (the state as read) is sealed too
    self.reseal_backup = self.reseal_backup or self.stored_plaintext
  end
  self.stored_plaintext = nil
  local task = require "wpo.task"
  local scheme = self.keyring:write_scheme()
  if not self.backend.async and not (scheme and scheme.source == "kms") then
    return write_now(self, opts)            -- nothing in it yields: saves cannot interleave
  end
  local want = self.version
  local writer = task.spawn(function()
    return pcall(self.save_lock.with, self.save_lock, function()
      if self.saved_version >= want and not opts.keep_serial then return end
      write_now(self, opts)
    end)
  end)
  writer.name = "state save"
  self.writers[writer] = true
  local joined, ok, err = task.join(writer)
  if joined == nil then return end      -- the caller was cancelled; the write goes on
  self.writers[writer] = nil
  if not ok then error(err, 0) end
end

-- Write a marker saying where the state went (wpo state migrate).
function State:mark_moved(to)
  local marker = cjson.encode({ wpo_state_moved = { to = to, at = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    serial = self.serial, lineage = self.lineage, stack = self.stack_name } })
  self.backend:save(marker, { serial = self.serial, lineage = self.lineage, stack = self.stack_name })
end

function State:check_lock()
  if not self.backend.check_lock then return true end
  local ok, err = self.backend:check_lock()
  if not ok then errors.raise { code = "StateLocked", message = tostring(err) } end
  return true
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
  local task = require "wpo.task"
  for w in pairs(self.writers) do
    self.writers[w] = nil
    local joined, ok, err = task.join(w)
    if joined and not ok then io.stderr:write("wpo: ", tostring(err), "\n") end
  end
  self.backend:unlock()
  local hooks = self.on_close
  self.on_close = nil
  for _, fn in ipairs(hooks or {}) do fn() end
end
State.__close = State.close

return M
