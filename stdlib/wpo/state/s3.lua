-- wpo.state.s3: the S3 state backend. The state is one object
-- (s3://bucket/key) read and written with wpo's own AWS client; the lock is
-- a DynamoDB item (lock_table) or, for teams without DynamoDB, an S3 object
-- beside the state (<key>.lock, created with If-None-Match: *). Both locks
-- carry a lease renewed by a heartbeat (wpo.state.lease).
--
--   backend = { type = "s3", bucket = "acme-wpo-state", key = "prod",
--               region = "eu-west-1",        -- default: the stack's, then AWS_REGION
--               lock_table = "wpo-locks",    -- DynamoDB, partition key LockID (string)
--               lock_lease = 60,             -- seconds; renewed every lease/3
--               kms_key_id = "...", encrypt = true }   -- see wpo.state.crypt
--
-- The backend interface is wpo.state.local's; this one adds:
--   b:save(text, { serial, lineage, stack, backup })   (backup: ignored —
--        bucket versioning keeps the previous versions)
--   b:check_lock() -> true | nil, err     renew the lease now (before applying)
--   b:lock_lost() -> message | nil        b:holder() -> lock record | nil
--   b:force_unlock(id) -> record          wpo unlock
--   b:versions(limit) -> { { version_id, last_modified, size, latest,
--        delete_marker, serial, lineage } }   (needs bucket versioning)
--   b:load_version(version_id) -> text
--   b.async = true      saves yield (wpo.state serialises them)
--   b.stored_serial     the serial in the loaded object's metadata (restore
--                       over a state that cannot be decrypted any more)
--   b.remote_lock = true   the lock must be released (the OS will not)
--
-- Every write is conditional on the object wpo last read or wrote: If-Match
-- with its ETag (If-None-Match: * when there was none). The ETag names the
-- exact bytes, hence the exact lineage and serial, so a writer that ignored
-- the lock, or a holder that lost it, can never be overwritten silently: the
-- write is refused, and the error says which serial and lineage the object
-- holds now (from its x-amz-meta-wpo-serial / -lineage metadata). Each write
-- sends Content-MD5 and asks for server-side encryption (AES256).
local cjson = require "cjson.safe"
local crypto = require "wpo.core.crypto"
local errors = require "wpo.errors"
local lease = require "wpo.state.lease"
local log = require "wpo.log"
local textlib = require "wpo.text"
local stackmod = require "wpo.stack"

local M = {}

M.KEYS = { "bucket", "encrypt", "key", "kms_key_id", "lock_lease", "lock_table", "region", "type" }

local Backend = {}
Backend.__index = Backend

local function state_error(fmt, ...)
  errors.raise { code = "StateError", message = string.format(fmt, ...) }
end

local function aws_message(err)
  if errors.is(err) then
    return (err.code and err.code ~= "error" and (err.code .. ": ") or "") .. tostring(err.message)
  end
  return tostring(err)
end

local function code_of(err) return errors.is(err) and err.code or nil end

local function check_config(config, stack)
  local valid = {}
  for _, k in ipairs(M.KEYS) do valid[k] = true end
  for k in pairs(config) do
    if not valid[k] then
      local near = textlib.closest(tostring(k), M.KEYS)
      errors.raise { code = "StateError", where = stack.where, message = string.format(
        "the s3 state backend: unknown key '%s'%s (valid: %s)", tostring(k),
        near and (" (did you mean '" .. near .. "'?)") or "", table.concat(M.KEYS, ", ")) }
    end
  end
  local function need(name)
    if type(config[name]) ~= "string" or config[name] == "" then
      errors.raise { code = "StateError", where = stack.where,
        message = string.format("the s3 state backend needs %s (a string)", name) }
    end
  end
  need("bucket")
  need("key")
  if config.key:sub(1, 1) == "/" or config.key:sub(-1) == "/" then
    errors.raise { code = "StateError", where = stack.where,
      message = "the s3 state backend: key is an object key like \"prod\" or \"wpo/prod.state\", not " .. config.key }
  end
  for _, name in ipairs({ "region", "lock_table" }) do
    if config[name] ~= nil and (type(config[name]) ~= "string" or config[name] == "") then
      errors.raise { code = "StateError", where = stack.where,
        message = string.format("the s3 state backend: %s is a string", name) }
    end
  end
  if config.lock_lease ~= nil and (math.type(config.lock_lease) ~= "integer" or config.lock_lease < 2) then
    errors.raise { code = "StateError", where = stack.where,
      message = "the s3 state backend: lock_lease is a whole number of seconds, at least 2" }
  end
end

-- ---- the lock stores ----

local function dynamodb_store(b, table_name, lock_id)
  local store = {}
  local function client() return b:client("dynamodb") end
  local function item(rec)
    return {
      LockID = { S = lock_id }, ID = { S = rec.ID }, Lease = { S = rec.Lease },
      Expires = { N = tostring(rec.Expires) }, LeaseSeconds = { N = tostring(rec.LeaseSeconds) },
      Info = { S = lease.encode_info(rec.Info) },
    }
  end
  local function parse(it)
    local function s(name) return type(it[name]) == "table" and it[name].S or nil end
    local function n(name)
      return type(it[name]) == "table" and math.tointeger(tonumber(it[name].N or "")) or nil
    end
    local info = lease.decode_info(s("Info"))
    return { ID = s("ID") or info.ID, Lease = s("Lease"), Expires = n("Expires"), LeaseSeconds = n("LeaseSeconds"),
      Info = info }
  end
  local function call(op, params)
    local ok, out = pcall(client().call, client(), op, params)
    if ok then return out end
    local code = code_of(out)
    if code == "ConditionalCheckFailedException" then return nil end
    if code == "ResourceNotFoundException" then
      state_error("the DynamoDB lock table %s does not exist (create it with a string partition key LockID): %s",
        table_name, aws_message(out))
    end
    state_error("the state lock (DynamoDB table %s): %s", table_name, aws_message(out))
  end
  function store.get()
    local out = call("GetItem", { TableName = table_name, Key = { LockID = { S = lock_id } }, ConsistentRead = true })
    if not out or not out.Item then return nil end
    local rec = parse(out.Item)
    return rec, rec.Lease
  end
  function store.create(_, rec)
    return call("PutItem", { TableName = table_name, Item = item(rec),
      ConditionExpression = "attribute_not_exists(LockID)" }) and rec.Lease or nil
  end
  function store.replace(_, rec, token)
    return call("PutItem", { TableName = table_name, Item = item(rec), ConditionExpression = "Lease = :lease",
      ExpressionAttributeValues = { [":lease"] = { S = token } } }) and rec.Lease or nil
  end
  function store.delete(_, rec)
    return call("DeleteItem", { TableName = table_name, Key = { LockID = { S = lock_id } },
      ConditionExpression = "ID = :id", ExpressionAttributeValues = { [":id"] = { S = rec.ID } } }) and true or nil
  end
  return store
end

local function s3_object_store(b, key)
  local store = {}
  local function call(op, params, conflict_codes)
    params.Bucket, params.Key = b.bucket, key
    local ok, out = pcall(b:client("s3").call, b:client("s3"), op, params)
    if ok then return out end
    if conflict_codes[code_of(out) or ""] then return nil end
    state_error("the state lock (s3://%s/%s): %s", b.bucket, key, aws_message(out))
  end
  local function put(rec, cond)
    local body = cjson.encode({ ID = rec.ID, Lease = rec.Lease, Expires = rec.Expires,
      LeaseSeconds = rec.LeaseSeconds, Info = rec.Info })
    local params = { Body = body, ContentMD5 = crypto.base64(crypto.md5(body)), ServerSideEncryption = "AES256",
      ContentType = "application/json" }
    for k, v in pairs(cond) do params[k] = v end
    local out = call("PutObject", params, { PreconditionFailed = true, ConditionalRequestConflict = true,
      NoSuchKey = true })
    return out and out.ETag or nil
  end
  function store.get()
    local out = call("GetObject", {}, { NoSuchKey = true })
    if not out then return nil end
    local rec = cjson.decode(out.Body or "")
    if type(rec) ~= "table" then
      return { ID = "(unreadable lock object)", Info = {} }, out.ETag
    end
    rec.Expires, rec.LeaseSeconds = math.tointeger(rec.Expires), math.tointeger(rec.LeaseSeconds)
    rec.Info = type(rec.Info) == "table" and rec.Info or {}
    return rec, out.ETag
  end
  function store.create(_, rec) return put(rec, { IfNoneMatch = "*" }) end
  function store.replace(_, rec, token) return put(rec, { IfMatch = token }) end
  function store.delete(_, rec)
    -- S3's DeleteObject takes no condition here: read, compare the ID, delete.
    -- A taker can only replace a stale lease, and the holder deleting it is
    -- alive and renewing, so the window between the two is not a real one.
    local cur = store.get()
    if not cur or cur.ID ~= rec.ID then return nil end
    call("DeleteObject", {}, {})
    return true
  end
  return store
end

-- ---- the backend ----

function M.new(config, stack, opts)
  opts = opts or {}
  check_config(config, stack)
  local b = setmetatable({
    bucket = config.bucket, key = config.key, region = config.region or stack.region,
    stack_path = stack.path, clients = {}, client_opts = opts.client_opts or {},
    async = true, remote_lock = true,
  }, Backend)
  b.url = "s3://" .. b.bucket .. "/" .. b.key
  local store
  if config.lock_table then
    store = dynamodb_store(b, config.lock_table, b.bucket .. "/" .. b.key)
    b.lock_where = "DynamoDB table " .. config.lock_table
  else
    store = s3_object_store(b, b.key .. ".lock")
    b.lock_where = "s3://" .. b.bucket .. "/" .. b.key .. ".lock"
  end
  b.lease = lease.new(store, { lease = config.lock_lease or lease.DEFAULT_LEASE, clock = opts.clock, what = b.url })
  return b
end

function Backend:client(service)
  local c = self.clients[service]
  if not c then
    local o = {}
    for k, v in pairs(self.client_opts) do o[k] = v end
    o.region = o.region or self.region
    -- lazy: the AWS client, credentials and models load only when AWS is called (the offline plan starts fast)
    c = require("wpo.aws").client(service, o)
    self.clients[service] = c
  end
  return c
end

function Backend:describe() return self.url end

local function unlock_hint(self, id)
  local display = self.stack_path and stackmod.display(self.stack_path) or "STACK"
  return string.format("wait for it with --lock-timeout DURATION (e.g. 5m), or if that process is gone: "
    .. "wpo unlock %s %s", display, tostring(id))
end

function Backend:lock(info)
  info.path = self.bucket .. "/" .. self.key
  local ok, err, holder = self.lease:acquire(info)
  if not ok then
    if holder then err = err .. "; " .. unlock_hint(self, holder.ID) end
    return nil, err, holder
  end
  self.lease:start_heartbeat()
  return true
end

function Backend:unlock()
  local id = self.lease.record and self.lease.record.ID
  local lost = self.lease.lost
  local ok, err = self.lease:release()
  if not ok and not lost then          -- a lost lock was reported when it was found lost
    local hint = id and string.format(" (if it remains: wpo unlock %s %s)",
      self.stack_path and stackmod.display(self.stack_path) or "STACK", id) or ""
    io.stderr:write("wpo: warning: ", err, hint, "\n")
  end
end

function Backend:check_lock() return self.lease:check() end
function Backend:lock_lost() return self.lease.lost end
function Backend:holder() return self.lease:holder() end
function Backend:force_unlock(id) return self.lease:force_release(id) end

local function s3call(self, op, params)
  params.Bucket = self.bucket
  params.Key = params.Key or self.key
  local s3 = self:client("s3")
  return pcall(s3.call, s3, op, params)
end

-- The versions of the object, newest first (ListObjectVersions lists by key).
local function list_versions(self)
  local s3 = self:client("s3")
  local out = {}
  local ok, err = pcall(function()
    for page in s3:paginate("ListObjectVersions", { Bucket = self.bucket, Prefix = self.key }) do
      for _, v in ipairs(page.Versions or {}) do
        if v.Key == self.key then
          out[#out + 1] = { version_id = v.VersionId, last_modified = v.LastModified, size = v.Size,
            latest = v.IsLatest, etag = v.ETag, order = #out }
        end
      end
      for _, v in ipairs(page.DeleteMarkers or {}) do
        if v.Key == self.key then
          out[#out + 1] = { version_id = v.VersionId, last_modified = v.LastModified, latest = v.IsLatest,
            delete_marker = true, order = #out }
        end
      end
    end
  end)
  if not ok then return nil, err end
  -- newest first: S3 lists each key's versions newest first, delete markers apart
  table.sort(out, function(a, b)
    if a.latest ~= b.latest then return a.latest == true end
    if a.last_modified ~= b.last_modified then return tostring(a.last_modified) > tostring(b.last_modified) end
    if (a.delete_marker or false) ~= (b.delete_marker or false) then return b.delete_marker == true end
    return a.order < b.order
  end)
  return out
end

function Backend:load()
  local ok, out = s3call(self, "GetObject", {})
  if ok then
    self.etag = out.ETag
    self.stored_serial = math.tointeger(tonumber((out.Metadata or {})["wpo-serial"] or ""))
    return out.Body or ""
  end
  local code = code_of(out)
  if code == "NoSuchKey" then
    self.etag = nil
    local versions = list_versions(self)
    local kept = 0
    for _, v in ipairs(versions or {}) do if not v.delete_marker then kept = kept + 1 end end
    if kept > 0 and not self.restoring then
      state_error("%s was deleted, but %d earlier version%s remain: 'wpo state versions' lists them and "
        .. "'wpo state restore STACK VERSION' brings one back (planning from nothing would create everything "
        .. "again); refusing to touch it", self.url, kept, kept == 1 and "" or "s")
    end
    return nil
  elseif code == "NoSuchBucket" then
    state_error("the state bucket %s does not exist: create it (with versioning) first", self.bucket)
  end
  state_error("cannot read the state %s: %s", self.url, aws_message(out))
end

function Backend:load_backup() return nil end

function Backend:save(text, meta)
  meta = meta or {}
  if self.lease.lost then state_error("%s; refusing to write the state", self.lease.lost) end
  local params = {
    Body = text, ContentMD5 = crypto.base64(crypto.md5(text)), ServerSideEncryption = "AES256",
    ContentType = "application/json",
    Metadata = { ["wpo-serial"] = meta.serial and tostring(meta.serial) or nil, ["wpo-lineage"] = meta.lineage,
      ["wpo-stack"] = meta.stack },
  }
  if self.etag then params.IfMatch = self.etag else params.IfNoneMatch = "*" end
  local ok, out = s3call(self, "PutObject", params)
  if ok then
    self.etag = out.ETag
    log.debug("state: wrote %s (serial %s, %d bytes, ETag %s)", self.url, tostring(meta.serial), #text,
      tostring(out.ETag))
    return
  end
  local code = code_of(out)
  if code == "PreconditionFailed" or code == "ConditionalRequestConflict" or code == "NoSuchKey" then
    local hok, head = s3call(self, "HeadObject", {})
    local now
    if hok then
      local m = head.Metadata or {}
      now = string.format("it now holds serial %s of lineage %s, written %s", tostring(m["wpo-serial"] or "?"),
        tostring(m["wpo-lineage"] or "?"), tostring(head.LastModified or "?"))
    elseif code_of(head) == "NotFound" or code_of(head) == "NoSuchKey" or code_of(head) == "404" then
      now = "it was deleted"
    else
      now = "it cannot be read back: " .. aws_message(head)
    end
    errors.raise { code = "StateConflict", message = string.format(
      "refusing to overwrite %s: it changed since wpo read it (%s; wpo was writing serial %s of lineage %s). "
      .. "Another writer ignored the lock, or the lock was lost; nothing was overwritten",
      self.url, now, tostring(meta.serial or "?"), tostring(meta.lineage or "?")) }
  end
  state_error("cannot save the state to %s: %s", self.url, aws_message(out))
end

function Backend:versions(limit)
  local ok, out = pcall(function()
    return self:client("s3"):call("GetBucketVersioning", { Bucket = self.bucket })
  end)
  if not ok then state_error("cannot read the versioning of bucket %s: %s", self.bucket, aws_message(out)) end
  if out.Status ~= "Enabled" then
    state_error("bucket versioning is %s on %s, so S3 keeps no earlier states: enable it (wpo aws s3 "
      .. "PutBucketVersioning '{\"Bucket\":\"%s\",\"VersioningConfiguration\":{\"Status\":\"Enabled\"}}')",
      out.Status and ("'" .. out.Status .. "'") or "off", self.bucket, self.bucket)
  end
  local list, err = list_versions(self)
  if not list then state_error("cannot list the versions of %s: %s", self.url, aws_message(err)) end
  for i, v in ipairs(list) do
    if i > (limit or 20) then break end
    if not v.delete_marker then
      local hok, head = s3call(self, "HeadObject", { VersionId = v.version_id })
      if hok then
        local m = head.Metadata or {}
        v.serial, v.lineage = math.tointeger(tonumber(m["wpo-serial"] or "")), m["wpo-lineage"]
      end
    end
  end
  return list
end

function Backend:load_version(version_id)
  local ok, out = s3call(self, "GetObject", { VersionId = version_id })
  if ok then return out.Body or "" end
  local code = code_of(out)
  if code == "NoSuchVersion" or code == "NoSuchKey" or code == "InvalidArgument" then
    state_error("%s has no version %s ('wpo state versions' lists them)", self.url, version_id)
  elseif code == "MethodNotAllowed" then
    state_error("version %s of %s is a delete marker, not a state", version_id, self.url)
  end
  state_error("cannot read version %s of %s: %s", version_id, self.url, aws_message(out))
end

return M
