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
--   st:save({ keep_serial })             the whole state as a new snapshot:
--                                        serial + 1 (or kept: a migration's
--                                        copy); atomic; its journal goes;
--                                        saves are serialised, and where a
--                                        write yields (S3, KMS) each runs as
--                                        its own task, so cancelling the task
--                                        that asked never cancels the write
--   st:commit(addresses, { outputs })    make what the state now holds for
--                                        these addresses (a record, or its
--                                        absence), and the outputs when asked,
--                                        durable: one journal record each,
--                                        returning once they are on disk (a
--                                        whole save where the backend keeps
--                                        no journal: S3)
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
-- missing state whose backup (or journal) is still there is refused before
-- anything is touched.
--
-- The journal (wpo.state.journal, the local backend's <state>.journal):
-- apply commits each resource as a record appended to it, never rewriting
-- the snapshot. Commits that come while a write is on its way form the
-- next group, written with one append and one fdatasync on the appender's
-- thread (or, when no other task is ready and no request in flight, right
-- there: handing over to a thread and back costs more than the flush); a group is written only after the one before it is durable, and
-- each committer returns (so its dependents may start) only once its group
-- is. Reading merges the journal into the snapshot (serial = the snapshot's
-- + the groups replayed). A full save — at the end of every apply (wpo.workflow
-- saves after recording the rollout), any other command's save, and a
-- commit that finds the journal larger than max(the snapshot,
-- JOURNAL_MIN_BYTES) — writes the merged state as the snapshot (the previous
-- snapshot becomes the backup) and then removes the journal; a journal whose
-- base serial is below the snapshot's (a save killed between the two) is
-- obsolete and ignored. A process that finds a journal on opening the state
-- compacts it before it commits anything, so a journal is only ever appended
-- to by the process that started it.
local cjson = require "cjson.safe"
local crypt = require "wpo.state.crypt"
local errors = require "wpo.errors"
local journal = require "wpo.state.journal"
local check_options = require("wpo.options").check
local value = require "wpo.value"
local textlib = require "wpo.text"
local fs = require "wpo.core.fs"
local sys = require "wpo.core.sys"
local localstate = require "wpo.state.local"
local stackmod = require "wpo.stack"

local M = {}

-- A journal is compacted into the snapshot once it holds more bytes than
-- the snapshot and than this.
M.JOURNAL_MIN_BYTES = 64 * 1024

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
    local names = textlib.sorted_keys(M.BACKENDS)
    errors.raise { code = "StateError", where = stack.where, message = string.format(
      "unknown state backend type '%s' (valid: %s)", tostring(btype), table.concat(names, ", ")) }
  end
  -- the module is named at run time
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

-- A resource record as read (snapshot or journal): numbers normalised,
-- missing tables made empty, its address taken out.
local function normalize_record(r)
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
  r.address = nil
  return r
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
    local address = r.address
    st.resources[address] = normalize_record(r)
  end
end

-- The resource object of the state document (and of a journal record).
local function resource_doc(address, r)
  local out = { address = address }
  for k, v in pairs(r) do out[k] = v end
  return out
end

-- Apply a journal (text) to st as filled from its snapshot. quiet: say
-- nothing about a torn last record (a reader without the lock may see one
-- being written).
local function replay(st, text, stored_encrypted, quiet)
  local path = st.backend:journal_path()
  local j = journal.parse(text, st.keyring, "the state journal " .. path)
  local h = j.header
  st.journal_found = true
  if h.stack ~= st.stack_name then
    refuse(st, "its journal %s is the journal of stack '%s', not '%s'", path, tostring(h.stack), st.stack_name)
  end
  if h.lineage ~= st.lineage then
    refuse(st, "its journal %s belongs to lineage %s, not the state's %s (the state was replaced; move the journal "
      .. "away to use the state as it is)", path, h.lineage, tostring(st.lineage))
  end
  if h.base_serial < st.serial then return end      -- obsolete: a save that holds it was cut short before removing it
  if h.base_serial > st.serial then
    refuse(st, "its journal %s continues serial %d, but the state is at serial %d (was the state file replaced by "
      .. "an older copy? move the journal away to use the state as it is)", path, h.base_serial, st.serial)
  end
  if stored_encrypted and not j.encrypted and j.groups[1] then
    refuse(st, "the state is encrypted but its journal %s is not (refusing changes no key vouches for)", path)
  end
  for _, g in ipairs(j.groups) do
    for i, c in ipairs(g.changes) do
      if type(c) ~= "table" then refuse(st, "change %d of journal group %d is malformed", i, g.seq) end
      if type(c.set) == "string" then
        local r = c.resource
        if type(r) ~= "table" or type(r.type) ~= "string" then
          refuse(st, "change %d of journal group %d is malformed (its resource)", i, g.seq)
        end
        st.resources[c.set] = normalize_record(r)
        local generation = math.type(c.generation) and math.tointeger(c.generation)
        if generation then st.generations[c.set] = generation end
      elseif type(c.remove) == "string" then
        st.resources[c.remove] = nil
      elseif type(c.outputs) == "table" then
        st.outputs = value.normalize_numbers(c.outputs)
      else
        refuse(st, "change %d of journal group %d is of no known kind", i, g.seq)
      end
    end
    st.serial = h.base_serial + g.seq
  end
  if j.torn > 0 and not quiet then
    io.stderr:write(string.format("wpo: %s ends with a record cut short (%d bytes, from a run killed while writing "
      .. "it, before anything relied on it): ignored\n", path, j.torn))
  end
end

local function moved_message(m)
  return string.format("the state moved to %s on %s (serial %s, by wpo state migrate): set the stack's backend "
    .. "to that location", tostring(m.to), tostring(m.at), tostring(math.tointeger(m.serial) or m.serial))
end

-- Take the lock, waiting up to opts.lock_timeout seconds for a held one.
local function acquire(st, opts)
  local info = { pid = sys.pid(), host = sys.hostname(), user = sys.user(), version = sys.VERSION,
    command = opts.command or "wpo", operation = opts.operation or "unknown",
    since = os.date("!%Y-%m-%dT%H:%M:%SZ") }
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
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
    -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
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
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  st.save_lock = require("wpo.task").semaphore(1)
  st.backend.restoring = opts.restoring
  local ok, err = pcall(function()
    if opts.lock ~= false then
      if opts.before_lock then opts.before_lock(st) end
      acquire(st, opts)
    end
    -- the journal before the snapshot: a save that lands between the two
    -- reads makes the journal obsolete (its base serial below the
    -- snapshot's), never the other way round
    local jtext = st.backend.load_journal and st.backend:load_journal()
    local stored = st.backend:load()
    st.snapshot_bytes = stored and #stored or 0
    if not stored then
      if st.backend.remote_lock and not opts.migrating and stack.path then
        local lpath = localstate.default_path(stack)
        local ltext = fs.read(lpath)
        local ldoc = ltext and (crypt.is_encrypted(ltext) and {} or cjson.decode(ltext))
        if ltext and not (type(ldoc) == "table" and ldoc.wpo_state_moved) then
          refuse(st, "there is no state here, but a local state exists at %s (planning from nothing would create "
            .. "everything again): move it here with 'wpo state migrate %s --to %s'", lpath,
            stackmod.display(stack.path or "STACK"), (stack.backend or {}).type or "s3")
        end
      end
      if opts.lineage then refuse(st, "there is no state, but the plan was made against lineage %s", opts.lineage) end
      if jtext then
        refuse(st, "the state is missing but its journal %s is there (planning from nothing would create everything "
          .. "again): restore the state, or remove the journal to start afresh", st.backend:journal_path())
      end
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
    if jtext then replay(st, jtext, crypt.is_encrypted(stored), opts.lock == false) end
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
    list[#list + 1] = resource_doc(address, self.resources[address])
  end
  local doc = {
    format_version = M.FORMAT_VERSION, lineage = self.lineage, serial = serial, stack = self.stack_name,
    wpo_version = sys.VERSION,
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
  self.snapshot_bytes = #text
  -- the snapshot holds everything the journal did: it goes
  if self.jappender then self.jappender:close() end
  self.jappender, self.jw, self.jseq, self.jbytes, self.jbroken, self.journal_found = nil, nil, 0, 0, nil, nil
  if self.backend.remove_journal then self.backend:remove_journal() end
end

-- Wait for the journal's groups on their way to disk.
local function settle_journal(self)
  local last = self.jlast
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  if last and last.status ~= "done" and last.status ~= "failed" then require("wpo.task").join(last) end
end

-- Whether commits go to a journal: a backend that keeps one, a snapshot to
-- journal against, and no journal that failed.
local function journaling(self)
  return self.backend.begin_journal ~= nil and self.exists and self.lineage ~= nil and not self.moved
end

-- Write group g: one line appended and fdatasync'ed; or, when the journal
-- found on opening is still there, one that failed, or one that outgrew the
-- snapshot, a whole save (which holds g's changes as well).
local function write_group(self, g)
  if self.jbroken or (not self.jw and self.journal_found)
      or (self.jw and self.jbytes > math.max(self.snapshot_bytes or 0, M.JOURNAL_MIN_BYTES)) then
    return write_now(self, {})
  end
  if not self.jw then
    local w = journal.start({ stack = self.stack_name, lineage = self.lineage, base_serial = self.serial }, self.keyring)
    self.jappender = self.backend:begin_journal(w.header)
    self.jw, self.jbase, self.jseq, self.jbytes = w, self.serial, 0, #w.header
  end
  local seq = self.jseq + 1
  local line = self.jw:line(seq, "[" .. table.concat(g.parts, ",") .. "]")
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  local task = require "wpo.task"
  local n, err
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  if self.jappender.append_sync and task.idle() and require("wpo.core.loop").outstanding("transfer") == 0 then
    -- nothing else could run meanwhile (no task ready, no request in flight):
    -- flush here rather than hand over to the appender's thread and back
    n, err = self.jappender:append_sync(line)
  else
    n, err = task.await(self.jappender:append(line))
  end
  if not n then
    self.jbroken = true           -- its tail is unknown now: the next commit saves whole
    errors.raise { code = "StateError", message = "cannot commit to the state journal: " .. tostring(err) }
  end
  self.jseq, self.jbytes = seq, self.jbytes + #line
  self.serial = self.jbase + seq
end

-- The task that writes group g, once the group before it (prev) is durable;
-- until it starts, commits join g.
local function flush_group(self, g, prev)
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  if prev then require("wpo.task").join(prev) end
  if self.jopen == g then self.jopen = nil end
  return pcall(write_group, self, g)
end

function State:save(opts)
  opts = check_options("st:save", opts, { keep_serial = true })
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  if not self.lineage then self.lineage = require("wpo.core.crypto").uuid() end
  settle_journal(self)
  self.version = self.version + 1
  if self.stored_plaintext and self.keyring:write_scheme() then
    -- encryption newly on: the backup this write keeps (the state as read) is sealed too
    self.reseal_backup = self.reseal_backup or self.stored_plaintext
  end
  self.stored_plaintext = nil
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
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

function State:commit(addresses, opts)
  opts = check_options("st:commit", opts, { outputs = true })
  if type(addresses) == "string" then addresses = { addresses } end
  if not journaling(self) then return self:save() end
  local parts = {}
  for _, address in ipairs(addresses) do
    local r = self.resources[address]
    local text, err
    if r then
      text, err = cjson.encode({ set = address, resource = resource_doc(address, r),
        generation = self.generations[address] })
    else
      text, err = cjson.encode({ remove = address })
    end
    if not text then errors.raise { code = "StateError", message = "cannot encode " .. address .. ": " .. tostring(err) } end
    parts[#parts + 1] = text
  end
  if opts.outputs then parts[#parts + 1] = assert(cjson.encode({ outputs = self.outputs })) end
  if not parts[1] then return end
  self.version = self.version + 1
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  local task = require "wpo.task"
  local g = self.jopen
  if not g then
    g = { parts = {} }
    self.jopen = g
    g.task = task.spawn(flush_group, self, g, self.jlast)
    g.task.name = "state journal"
    self.jlast = g.task
    self.writers[g.task] = true
  end
  for _, p in ipairs(parts) do g.parts[#g.parts + 1] = p end
  local joined, ok, err = task.join(g.task)
  if joined == nil then return end      -- the caller was cancelled; the write goes on
  self.writers[g.task] = nil
  if joined == false then error(ok, 0) end
  if not ok then error(err, 0) end
end

-- Write a marker saying where the state went (wpo state migrate).
function State:mark_moved(to)
  local marker = cjson.encode({ wpo_state_moved = { to = to, at = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    serial = self.serial, lineage = self.lineage, stack = self.stack_name } })
  settle_journal(self)
  self.backend:save(marker, { serial = self.serial, lineage = self.lineage, stack = self.stack_name })
  if self.jappender then self.jappender:close() end
  self.jappender, self.jw = nil, nil
  if self.backend.remove_journal then self.backend:remove_journal() end
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
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  local task = require "wpo.task"
  for w in pairs(self.writers) do
    self.writers[w] = nil
    local joined, ok, err = task.join(w)
    if joined and not ok then io.stderr:write("wpo: ", tostring(err), "\n") end
  end
  if self.jappender then self.jappender:close() end
  self.jappender, self.jw = nil, nil
  self.backend:unlock()
  local hooks = self.on_close
  self.on_close = nil
  for _, fn in ipairs(hooks or {}) do fn() end
end
State.__close = State.close

return M
