-- wpo.state.lease: a lock with a lease, kept in a shared store (a DynamoDB
-- item or an S3 object; wpo.state.s3 provides both stores).
--
--   lease.new(store, { lease = seconds (60), clock = fn -> epoch seconds,
--                      what = "s3://bucket/key" }) -> lock
--   lock:acquire(info) -> true | nil, message, holder
--        one attempt: takes the lock when free, or over a stale one; a live
--        lock fails at once (wpo.state waits and retries for --lock-timeout)
--   lock:start_heartbeat()     renew the lease every lease/3 seconds on the
--                              event loop (a wpo.task) while the holder works
--   lock:renew() -> true | nil, err      lock:check() (renew now; err if lost)
--   lock:release() -> true | nil, err    never raises
--   lock:holder() -> record | nil        who holds it now (a read)
--   lock:force_release(id) -> record     wpo unlock: only the lock with that ID
--   lock.record, lock.lost (why the lock was lost), lock.took_over (the stale
--   record it replaced)
--   lease.describe(record, now) -> "alice@host (pid 42, running ...) ..."
--
-- A record: { ID (uuid), Lease (a fresh token at every renewal), Expires
-- (epoch seconds, the holder's clock), LeaseSeconds, Info = { ID, Operation,
-- Who, Host, Pid, Version, Created, Command, Path } }.
--
-- A store: store:get() -> record, token | nil; store:create(record) -> token
-- | nil (someone holds it); store:replace(record, token) -> token | nil (the
-- stored record is no longer the one `token` names); store:delete(record) ->
-- true | nil (absent, or not this record's ID). Other failures raise.
-- store.operations: the AWS writes it makes (allowed while planning).
--
-- Staleness: a record whose Expires lies more than half a lease (at most 30
-- s, for clock differences between machines) in the past belongs to a
-- holder that stopped renewing — crashed, killed, or cut off. Taking it over
-- is conditional on the very lease token that was seen, so a holder that
-- renews at the last moment keeps its lock, and two takers cannot both win.
-- A holder whose renewal finds another ID has lost the lock: lock.lost says
-- so and wpo.state refuses to write from then on.
local cjson = require "cjson.safe"
local errors = require "wpo.errors"
local log = require "wpo.log"

local M = {}

M.DEFAULT_LEASE = 60

local Lock = {}
Lock.__index = Lock

local function grace(lease_seconds)
  return math.min(30, math.ceil((lease_seconds or M.DEFAULT_LEASE) / 2))
end

function M.is_stale(record, now)
  if math.type(record.Expires) ~= "integer" then return false end   -- no lease: never stale
  return now > record.Expires + grace(record.LeaseSeconds)
end

local function ago(seconds)
  seconds = math.floor(seconds)
  if seconds < 120 then return seconds .. "s" end
  if seconds < 7200 then return math.floor(seconds / 60) .. "m" end
  return math.floor(seconds / 3600) .. "h"
end

function M.describe(record, now)
  local i = type(record.Info) == "table" and record.Info or {}
  local parts = { tostring(i.Who or "someone") }
  local detail = {}
  if i.Pid then detail[#detail + 1] = "pid " .. tostring(math.tointeger(i.Pid) or i.Pid) end
  if i.Command then detail[#detail + 1] = "running '" .. tostring(i.Command) .. "'"
  elseif i.Operation then detail[#detail + 1] = "operation " .. tostring(i.Operation) end
  if i.Version then detail[#detail + 1] = "wpo " .. tostring(i.Version) end
  if #detail > 0 then parts[#parts + 1] = "(" .. table.concat(detail, ", ") .. ")" end
  if i.Created then parts[#parts + 1] = "since " .. tostring(i.Created) end
  local text = table.concat(parts, " ") .. "; lock ID " .. tostring(record.ID)
  if math.type(record.Expires) == "integer" and now then
    local renewed = now - (record.Expires - (record.LeaseSeconds or 0))
    if M.is_stale(record, now) then
      text = text .. string.format("; its lease expired %s ago (stale: it is taken over)", ago(now - record.Expires))
    elseif now > record.Expires then
      text = text .. string.format("; its lease expired %s ago (taken over %s from now if not renewed)",
        ago(now - record.Expires), ago(record.Expires + grace(record.LeaseSeconds) - now + 1))
    else
      text = text .. string.format("; lease renewed %s ago, expires in %s", ago(math.max(0, renewed)),
        ago(record.Expires - now))
    end
  elseif now then
    text = text .. "; it has no lease (remove it by hand with wpo unlock if its holder is gone)"
  end
  return text
end

function M.new(store, opts)
  opts = opts or {}
  local lease = opts.lease or M.DEFAULT_LEASE
  assert(math.type(lease) == "integer" and lease >= 2, "lease.new: lease is a whole number of seconds >= 2")
  return setmetatable({ store = store, lease = lease, clock = opts.clock or os.time,
    what = opts.what or "the state" }, Lock)
end

function Lock:new_record(info)
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  local crypto = require "wpo.core.crypto"
  local id = self.record and self.record.ID or crypto.uuid()
  local now = self.clock()
  local i = {
    ID = id, Operation = info.operation, Who = (info.user or "?") .. "@" .. (info.host or "?"), Host = info.host,
    Pid = info.pid, Version = info.version, Created = info.since or os.date("!%Y-%m-%dT%H:%M:%SZ", now),
    Command = info.command, Path = info.path,
  }
  return { ID = id, Lease = crypto.hex(crypto.random(8)), Expires = now + self.lease, LeaseSeconds = self.lease,
    Info = i }
end

function Lock:acquire(info)
  self.info = info
  for _ = 1, 5 do
    local rec = self:new_record(info)
    local token = self.store:create(rec)
    if token then
      self.record, self.token, self.lost = rec, token, nil
      return true
    end
    local cur, cur_token = self.store:get()
    if cur and cur.ID == rec.ID then
      -- our create landed though its answer was lost (a retry was refused)
      self.record, self.token, self.lost = cur, cur_token, nil
      return true
    end
    if cur then
      local now = self.clock()
      if not M.is_stale(cur, now) then
        return nil, self.what .. " is locked by " .. M.describe(cur, now), cur
      end
      token = self.store:replace(rec, cur_token)
      if token then
        self.record, self.token, self.lost, self.took_over = rec, token, nil, cur
        log.warn("took over the state lock of %s: %s", self.what, M.describe(cur, now))
        return true
      end
    end
    -- released, renewed or taken meanwhile: look again
  end
  return nil, self.what .. ": the lock kept changing hands; try again"
end

function Lock:renew(again)
  if not self.record then return nil, "not locked" end
  if self.lost then return nil, self.lost end
  local rec = {}
  for k, v in pairs(self.record) do rec[k] = v end
  local fresh = self:new_record(self.info or {})
  rec.Lease, rec.Expires = fresh.Lease, fresh.Expires
  local ok, token = pcall(self.store.replace, self.store, rec, self.token)
  if not ok then
    return nil, "cannot renew the lease: " .. tostring(token)
  end
  if not token then
    -- A renewal whose answer was lost may have landed: look before giving up.
    local okg, cur, cur_token = pcall(self.store.get, self.store)
    if not okg then return nil, "cannot renew the lease: " .. tostring(cur) end
    if cur and cur.ID == self.record.ID then
      self.record, self.token = cur, cur_token
      if again then return nil, "cannot renew the lease: its record keeps changing" end
      return self:renew(true)
    end
    self.lost = string.format("wpo lost the state lock of %s (ID %s): %s", self.what, self.record.ID,
      cur and ("it is now held by " .. M.describe(cur, self.clock())) or "it was removed (wpo unlock?)")
    log.warn("%s", self.lost)
    return nil, self.lost
  end
  self.record, self.token = rec, token
  return true
end

function Lock:check()
  if self.lost then return nil, self.lost end
  return self:renew()
end

function Lock:start_heartbeat()
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  local task = require "wpo.task"
  if self.heartbeat then return end
  local interval = math.max(500, math.floor(self.lease * 1000 / 3))
  self.heartbeat = task.spawn(function()
    while true do
      if not task.sleep(interval) then return end
      local ok, err = self:renew()
      if not ok then
        if self.lost then return end
        log.warn("%s: %s (retrying in %ds)", self.what, tostring(err), interval // 1000)
      end
    end
  end)
  self.heartbeat.name = "state lock heartbeat"
end

function Lock:stop_heartbeat()
  -- looked up at the call: tests/lua/fakecore.lua swaps the core (and reloads wpo.task) under loaded modules
  local task = require "wpo.task"
  local hb = self.heartbeat
  self.heartbeat = nil
  if hb and task.cancel(hb) and not task.current() then task.join(hb) end
end

function Lock:release()
  self:stop_heartbeat()
  local rec = self.record
  if not rec then return true end
  self.record = nil
  if self.lost then return nil, self.lost end
  local ok, res = pcall(self.store.delete, self.store, rec)
  if not ok then
    return nil, string.format("could not release the state lock of %s (ID %s): %s", self.what, rec.ID,
      errors.is(res) and tostring(res) or tostring(res))
  end
  if not res then
    return nil, string.format("the state lock of %s (ID %s) was no longer wpo's to release", self.what, rec.ID)
  end
  return true
end

function Lock:holder()
  return (self.store:get())
end

function Lock:force_release(id)
  local cur = self.store:get()
  if not cur then
    errors.raise { code = "NotLocked", message = self.what .. " is not locked" }
  end
  if cur.ID ~= id then
    errors.raise { code = "WrongLockID", message = string.format(
      "%s is locked under ID %s, not %s: refusing to remove it (holder: %s)", self.what, tostring(cur.ID), id,
      M.describe(cur, self.clock())) }
  end
  if not self.store:delete(cur) then
    errors.raise { code = "WrongLockID", message = self.what .. ": the lock changed while removing it; look again" }
  end
  return cur
end

-- The JSON of Info, and back (stores keep Info as a JSON string).
function M.encode_info(info) return cjson.encode(info) end
function M.decode_info(s)
  local t = type(s) == "string" and cjson.decode(s)
  return type(t) == "table" and t or {}
end

return M
