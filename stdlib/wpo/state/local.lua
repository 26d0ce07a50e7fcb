-- wpo.state.local: the local state backend: one JSON file beside the stack
-- (.wpo/<stack>.state.json, or the path given), a .backup of the previous
-- version, and an flock'ed .lock file naming the holder.
--
-- The backend interface (every backend, e.g. a future wpo.state.s3, provides it):
--   backend.new(config, stack) -> b     config: the stack's backend table plus
--                                       `path` (--state); stack: name, path
--   b:describe() -> string              where the state lives, for messages
--   b:lock(info) -> true | nil, err, holder   info: pid, host, user, command,
--                                       operation, since; fails at once if held;
--                                       raises wpo.errors when the state's place
--                                       cannot be written (nothing holds it)
--   b:unlock()                          idempotent
--   b:load() -> text | nil              nil when there is no state yet; raises
--                                       wpo.errors on a read failure
--   b:load_backup() -> text | nil       the previous version, when kept
--   b:save(text, meta)                  durable and atomic; the previous version
--                                       (or meta.backup when given: an encrypted
--                                       copy of it) becomes the backup; raises on
--                                       failure or when the stored state changed
--                                       behind it. meta: serial, lineage, stack.
-- Optional, a journal (this backend; wpo.state.journal is its format):
--   b:journal_path() -> path            where it lives (for messages)
--   b:load_journal() -> text | nil      nil when there is none
--   b:begin_journal(header) -> appender a new journal holding the header line,
--                                       replacing any other (atomically); the
--                                       appender (wpo.core.fs) appends and
--                                       fdatasyncs off the event loop
--   b:remove_journal()                  after a snapshot that holds it
-- A backend without them (wpo.state.s3) gets every commit as a whole save.
-- Optional (wpo.state.s3 has them): b.async (saves yield), b.remote_lock
-- (the lock outlives the process unless released),
-- b:check_lock(), b:lock_lost(), b:force_unlock(id), b:versions(),
-- b:load_version(id).
-- The backend table's encrypt and kms_key_id keys are wpo.state's own
-- (wpo.state.crypt); a backend never sees them.
--
-- This backend, once it holds the lock, removes the temporary copies of the
-- state, its backup and its journal (".<name>.tmp-<pid>-<n>", which may hold secrets) that
-- a writer killed mid-write left, when that writer's process is gone. A
-- directory it cannot write in (read-only file system, no permission) is
-- refused before anything else: "cannot write the state in DIR: read-only
-- file system".
local errors = require "wpo.errors"
local fs = require "wpo.core.fs"

local M = {}
local Backend = {}
Backend.__index = Backend

local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end

-- Where a stack's state lives by default: .wpo/<stack>.state.json beside it.
function M.default_path(stack)
  return dirname(stack.path) .. "/.wpo/" .. stack.name .. ".state.json"
end

function M.new(config, stack)
  for k in pairs(config) do
    if k ~= "type" and k ~= "path" then
      errors.raise { code = "StateError", where = stack.where, message = "the local state backend: unknown key '"
        .. tostring(k) .. "' (valid: encrypt, kms_key_id, path, type)" }
    end
  end
  local path = config.path or M.default_path(stack)
  local lock_path = path:gsub("%.state%.json$", "") .. ".lock"
  return setmetatable({ path = path, backup = path .. ".backup", journal = path .. ".journal", lock_path = lock_path },
    Backend)
end

function Backend:describe()
  return self.path
end

local REASONS = { EROFS = "read-only file system", EACCES = "permission denied", EPERM = "operation not permitted" }

-- Raise: the directory of the state cannot be written (why: fs's message and code).
local function unwritable(dir, err, code)
  errors.raise { code = "StateError", message = string.format("cannot write the state in %s: %s", dir,
    REASONS[code] or tostring(err)) }
end

function Backend:lock(info)
  local dir = dirname(self.path)
  local ok, err, code = fs.mkdir_p(dir, "0700")
  if not ok then unwritable(dir, err, code) end
  ok, err, code = fs.writable(dir)
  if not ok then unwritable(dir, err, code) end
  local lock, lerr, holder = fs.lock(self.lock_path, info)
  if not lock then
    if type(holder) ~= "table" then unwritable(dir, lerr, holder) end   -- an error (its code), not a holder
    return nil, lerr, holder
  end
  self.held = lock
  self:remove_stale_temps()
  return true
end

-- The temp copies a killed writer left of the state and its backup, now
-- that no other wpo can be writing them (their process gone, the lock ours).
function Backend:remove_stale_temps()
  for _, path in ipairs({ self.path, self.backup, self.journal }) do
    local removed, err = fs.remove_stale_temps(path)
    if not removed then
      io.stderr:write("wpo: ", tostring(err), "\n")
    elseif #removed > 0 then
      io.stderr:write(string.format("wpo: removed %d temporary cop%s of %s left by a writer that was killed: %s\n",
        #removed, #removed == 1 and "y" or "ies", path, table.concat(removed, ", ")))
    end
  end
end

function Backend:unlock()
  if self.held then self.held:close() end
  self.held = nil
end

local function read(path)
  local text, err, code = fs.read(path)
  if text then return text end
  if code == "ENOENT" then return nil end
  errors.raise { code = "StateError", message = "cannot read the state: " .. err }
end

function Backend:load()
  local text = read(self.path)
  self.on_disk = text and fs.stat(self.path) or nil
  self.last_text = text
  return text
end

function Backend:load_backup()
  return read(self.backup)
end

local function same_file(a, b)
  return a and b and a.ino == b.ino and a.size == b.size and a.mtime == b.mtime
end

function Backend:save(text, meta)
  local now = fs.stat(self.path)
  if (now or self.on_disk) and not same_file(now, self.on_disk) then
    errors.raise { code = "StateError", message = string.format(
      "%s changed on disk while wpo held its lock (something else wrote it): refusing to overwrite it", self.path) }
  end
  local ok, err = fs.mkdir_p(dirname(self.path), "0700")
  if not ok then errors.raise { code = "StateError", message = "cannot save the state: " .. err } end
  local backup = meta and meta.backup or self.last_text
  if backup then
    ok, err = fs.write_atomic(self.backup, backup, "0600")
    if not ok then errors.raise { code = "StateError", message = "cannot save the state backup: " .. err } end
  end
  ok, err = fs.write_atomic(self.path, text, "0600")
  if not ok then errors.raise { code = "StateError", message = "cannot save the state: " .. err } end
  self.on_disk = fs.stat(self.path)
  self.last_text = text
end

function Backend:journal_path() return self.journal end

function Backend:load_journal()
  return read(self.journal)
end

function Backend:begin_journal(header)
  local ok, err = fs.write_atomic(self.journal, header, "0600")
  if not ok then errors.raise { code = "StateError", message = "cannot start the state journal: " .. err } end
  local appender, aerr = fs.appender(self.journal)
  if not appender then errors.raise { code = "StateError", message = "cannot open the state journal: " .. aerr } end
  return appender
end

function Backend:remove_journal()
  local ok, err, code = fs.remove(self.journal)
  if not ok and code ~= "ENOENT" then
    errors.raise { code = "StateError", message = "cannot remove the state journal: " .. err }
  end
end

return M
