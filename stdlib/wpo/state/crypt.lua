-- wpo.state.crypt: encryption at rest of a stack's state (either backend).
--
--   crypt.keyring(config, stack, { getenv = fn, kms = client }) -> kr
--        config: the stack's backend table (encrypt, kms_key_id, region)
--   crypt.is_encrypted(text) -> boolean
--   crypt.parse_key(base64) -> key32 | nil, err     (WPO_STATE_KEY's format)
--   kr:check()                 raises now when the configuration cannot work
--                              (encrypt = true without a valid WPO_STATE_KEY)
--   kr:open(text, what) -> plaintext, header | nil  (header nil: not encrypted)
--   kr:seal(plaintext) -> text                      encrypted as decided below
--   kr:prepare()               get the KMS data key writes will need, now
--   kr:write_scheme() -> nil | { source = "env" | "kms", key }
--   kr:record_header() -> nil | header, key         how the state's journal
--                              (wpo.state.journal) seals its records now: the
--                              header fields (scheme, key_source, key_id,
--                              stack, data_key) and the key they name
--   kr:key_for(header, what) -> key                 the key a header names
--                              (raises as open does when there is none)
--   crypt.seal_record(key, plaintext, aad) -> base64 of iv .. ciphertext .. tag
--   crypt.open_record(key, base64, aad) -> plaintext | nil, err
--   kr:describe() -> string                         how new writes are stored
--   kr.mode                    "config" (default); "rekey": as config, with a
--                              fresh KMS data key; "decrypt": write in the clear
--
-- The scheme: AES-256-GCM (wpo.core.crypto, OpenSSL) with a random 96-bit IV
-- per write. The key is either WPO_STATE_KEY (base64 of 32 random bytes,
-- `openssl rand -base64 32`) or a KMS data key: GenerateDataKey (AES_256)
-- once per process, its encrypted copy stored beside the ciphertext,
-- Decrypt on load; the encryption context binds it to the stack
-- ({ ["wpo:stack"] = name }). An encrypted state is one JSON object:
--
--   {"wpo_encrypted_state":1,"scheme":"AES-256-GCM","key_source":"env"|"kms",
--    "key_id":"sha256:<16 hex>"|"<KMS key ARN>","stack":"<name>",
--    "data_key":"<base64 KMS ciphertext blob>" (kms only),
--    "ciphertext":"<base64 of iv .. ciphertext .. tag>"}
--
-- Every header field is authenticated (GCM additional data), so a changed
-- byte anywhere — header or ciphertext — or a wrong key fails with a clear
-- error and nothing is written. The key id of WPO_STATE_KEY is a truncated
-- SHA-256 of the key: it tells a wrong key from a damaged file without
-- revealing anything about the key.
--
-- Which writes are encrypted: with kms_key_id, a KMS data key; with
-- encrypt = true, WPO_STATE_KEY; otherwise a state that was encrypted when
-- read stays encrypted the same way (never silently written in the clear;
-- `wpo state rekey --decrypt` does that on purpose). An unencrypted state is
-- read as it is, and written encrypted from the moment encryption is on.
-- Reading also accepts WPO_STATE_KEY_OLD (a key being rotated out).
local cjson = require "cjson.safe"
local crypto = require "wpo.core.crypto"
local errors = require "wpo.errors"

local M = {}

local SCHEME = "AES-256-GCM"
local MAGIC = '{"wpo_encrypted_state":1,'
local HEADER_FIELDS = { "scheme", "key_source", "key_id", "stack", "data_key" }

local Keyring = {}
Keyring.__index = Keyring

local function fail(fmt, ...)
  errors.raise { code = "StateEncryptionError", message = string.format(fmt, ...) }
end

function M.is_encrypted(text)
  return type(text) == "string" and text:sub(1, #MAGIC) == MAGIC
end

function M.parse_key(b64)
  local key = crypto.unbase64((b64:gsub("%s+", "")))
  if not key then return nil, "it is not valid base64" end
  if #key ~= 32 then
    return nil, string.format("it decodes to %d bytes, not 32", #key)
  end
  return key
end

local function key_id(key)
  return "sha256:" .. crypto.hex(crypto.sha256("wpo-state-key\0" .. key)):sub(1, 16)
end

-- The additional authenticated data: every header field, in a fixed order.
local function aad(h)
  local lines = { "wpo-encrypted-state-1" }
  for _, k in ipairs(HEADER_FIELDS) do lines[#lines + 1] = k .. "=" .. tostring(h[k] or "") end
  return table.concat(lines, "\n")
end

local function encode(h, blob)
  local parts = { MAGIC:sub(1, -2) }
  for _, k in ipairs(HEADER_FIELDS) do
    if h[k] ~= nil then parts[#parts + 1] = cjson.encode(k) .. ":" .. cjson.encode(h[k]) end
  end
  parts[#parts + 1] = '"ciphertext":' .. cjson.encode(crypto.base64(blob))
  return table.concat(parts, ",") .. "}\n"
end

local function kms_region(config, stack)
  local arn_region = type(config.kms_key_id) == "string" and config.kms_key_id:match("^arn:aws[%w-]*:kms:([%w-]+):")
  return arn_region or config.region or stack.region
end

function M.keyring(config, stack, opts)
  config, opts = config or {}, opts or {}
  if config.encrypt ~= nil and type(config.encrypt) ~= "boolean" then
    errors.raise { code = "StateError", where = stack.where, message = "backend.encrypt is true or false" }
  end
  if config.kms_key_id ~= nil and (type(config.kms_key_id) ~= "string" or config.kms_key_id == "") then
    errors.raise { code = "StateError", where = stack.where, message = "backend.kms_key_id is a KMS key id, ARN or alias" }
  end
  if config.encrypt == false and config.kms_key_id then
    errors.raise { code = "StateError", where = stack.where,
      message = "backend: kms_key_id encrypts the state, which contradicts encrypt = false" }
  end
  return setmetatable({
    config = config, stack_name = stack.name, region = kms_region(config, stack),
    getenv = opts.getenv or os.getenv, kms_client = opts.kms, data_keys = {}, mode = "config",
  }, Keyring)
end

-- WPO_STATE_KEY (or another variable) as a key, or nil when unset.
function Keyring:env_key(name)
  local v = self.getenv(name)
  if v == nil or v == "" then return nil end
  local key, err = M.parse_key(v)
  if not key then
    fail("%s must be the base64 of 32 random bytes (make one with: openssl rand -base64 32), but %s", name, err)
  end
  return key
end

function Keyring:check()
  if self.config.encrypt == true and not self.config.kms_key_id then
    if not self:env_key("WPO_STATE_KEY") then
      fail("the stack's backend says encrypt = true, but WPO_STATE_KEY is not set "
        .. "(the base64 of 32 random bytes: openssl rand -base64 32; or set backend.kms_key_id)")
    end
  end
end

function Keyring:kms()
  if not self.kms_client then
    -- lazy: the AWS client, credentials and models load only when AWS is called (the offline plan starts fast)
    self.kms_client = require("wpo.aws").client("kms", { region = self.region })
  end
  return self.kms_client
end

local function context(self) return { ["wpo:stack"] = self.stack_name } end

-- How new writes are encrypted: nil (not), { source = "env" } or { source = "kms", key = id }.
function Keyring:write_scheme()
  if self.mode == "decrypt" then return nil end
  if self.config.kms_key_id then return { source = "kms", key = self.config.kms_key_id } end
  if self.config.encrypt == true then return { source = "env" } end
  if self.read_header then
    local h = self.read_header
    if h.key_source == "kms" then return { source = "kms", key = h.key_id } end
    return { source = "env" }
  end
  return nil
end

function Keyring:describe()
  local s = self:write_scheme()
  if not s then return "not encrypted" end
  if s.source == "kms" then return SCHEME .. " with a KMS data key of " .. s.key end
  local key = self:env_key("WPO_STATE_KEY")
  return SCHEME .. " with WPO_STATE_KEY" .. (key and (" (key " .. key_id(key) .. ")") or "")
end

-- The key a header (of the state, or of its journal) names: WPO_STATE_KEY or
-- WPO_STATE_KEY_OLD by key id, or its KMS data key decrypted (once per
-- process). Raises when none is available.
function Keyring:key_for(h, what)
  local key
  if h.key_source == "env" then
    local candidates = {}
    for _, name in ipairs({ "WPO_STATE_KEY", "WPO_STATE_KEY_OLD" }) do
      local k = self:env_key(name)
      if k then candidates[#candidates + 1] = { name = name, key = k, id = key_id(k) } end
    end
    if #candidates == 0 then
      fail("%s is encrypted (%s, key %s) and WPO_STATE_KEY is not set", what, SCHEME, tostring(h.key_id))
    end
    for _, c in ipairs(candidates) do
      if c.id == h.key_id then key = c.key end
    end
    if not key then
      local have = {}
      for _, c in ipairs(candidates) do have[#have + 1] = c.name .. " is key " .. c.id end
      fail("%s is encrypted with key %s, but %s: wrong key (refusing to use it; "
        .. "to rotate keys put the old one in WPO_STATE_KEY_OLD and run wpo state rekey)",
        what, tostring(h.key_id), table.concat(have, ", "))
    end
  elseif h.key_source == "kms" then
    if type(h.data_key) ~= "string" then fail("%s: its encryption header has no data key", what) end
    key = self.data_keys[h.data_key]
    if not key and not self.kms_client then
      -- the KMS key's own region, when the header names it by ARN
      self.region = (type(h.key_id) == "string" and h.key_id:match("^arn:aws[%w-]*:kms:([%w-]+):")) or self.region
    end
    if not key then
      local wrapped = crypto.unbase64(h.data_key)
      if not wrapped then fail("%s: its data key is not valid base64 (the file was damaged)", what) end
      local ok, out = pcall(function()
        return self:kms():call("Decrypt", { CiphertextBlob = wrapped, EncryptionContext = context(self) })
      end)
      if not ok then
        local msg = errors.is(out) and ((out.code and (out.code .. ": ") or "") .. tostring(out.message)) or tostring(out)
        fail("%s is encrypted with a data key of %s, which KMS would not decrypt (%s)", what, tostring(h.key_id), msg)
      end
      key = out.Plaintext
      if type(key) ~= "string" or #key ~= 32 then fail("KMS returned a data key that is not 32 bytes") end
      self.data_keys[h.data_key] = key
    end
  else
    fail("%s is encrypted with an unknown key source '%s'", what, tostring(h.key_source))
  end
  return key
end

function Keyring:open(text, what)
  what = what or "the state"
  if not M.is_encrypted(text) then return text, nil end
  local h = cjson.decode(text)
  if type(h) ~= "table" or type(h.ciphertext) ~= "string" then
    fail("%s is encrypted but its envelope is damaged (not a complete JSON object): refusing to use it", what)
  end
  if h.scheme ~= SCHEME then
    fail("%s is encrypted with scheme %s; this wpo knows %s", what, tostring(h.scheme), SCHEME)
  end
  for _, k in ipairs(HEADER_FIELDS) do
    if h[k] ~= nil and type(h[k]) ~= "string" then fail("%s: its encryption header is damaged (%s)", what, k) end
  end
  local blob = crypto.unbase64(h.ciphertext)
  if not blob then fail("%s: its ciphertext is not valid base64 (the file was damaged)", what) end
  local key = self:key_for(h, what)
  local plain, err = crypto.aes_gcm_decrypt(key, blob, aad(h))
  if not plain then
    fail("%s failed authentication (%s, key %s): it was modified or damaged since wpo wrote it, or was written "
      .. "with another key; refusing to use it (%s)", what, SCHEME, tostring(h.key_id), tostring(err))
  end
  h.ciphertext = nil
  self.read_header = self.read_header or h
  return plain, h
end

local function same_kms_key(configured, arn)
  return configured == arn or (type(arn) == "string" and arn:sub(-#configured - 1) == "/" .. configured)
end

-- The data key new writes use (KMS): the one the state was read with when it
-- belongs to the same KMS key (unless rekeying), else one GenerateDataKey per
-- process and key.
function Keyring:kms_data_key(kms_key)
  local cached = self.generated
  if cached and cached.requested == kms_key then return cached end
  local rh = self.read_header
  if self.mode == "config" and rh and rh.key_source == "kms" and same_kms_key(kms_key, rh.key_id)
      and self.data_keys[rh.data_key] then
    return { requested = kms_key, key = self.data_keys[rh.data_key], wrapped = rh.data_key, key_id = rh.key_id }
  end
  local ok, out = pcall(function()
    return self:kms():call("GenerateDataKey", { KeyId = kms_key, KeySpec = "AES_256",
      EncryptionContext = context(self) })
  end)
  if not ok then
    local msg = errors.is(out) and ((out.code and (out.code .. ": ") or "") .. tostring(out.message)) or tostring(out)
    fail("cannot get a data key from KMS key %s to encrypt the state (%s): nothing was written", kms_key, msg)
  end
  if type(out.Plaintext) ~= "string" or #out.Plaintext ~= 32 or type(out.CiphertextBlob) ~= "string" then
    fail("KMS GenerateDataKey returned no usable 32-byte data key: nothing was written")
  end
  local wrapped = crypto.base64(out.CiphertextBlob)
  self.data_keys[wrapped] = out.Plaintext
  self.generated = { requested = kms_key, key = out.Plaintext, wrapped = wrapped, key_id = out.KeyId or kms_key }
  return self.generated
end

-- Get what writing needs (a KMS data key) before anything is changed, so a
-- KMS failure stops wpo before it creates a resource it could not record.
function Keyring:prepare()
  local s = self:write_scheme()
  if s and s.source == "kms" then self:kms_data_key(s.key) end
  if s and s.source == "env" and not self:env_key("WPO_STATE_KEY") then
    fail("the state is written encrypted with WPO_STATE_KEY, which is not set: nothing was changed")
  end
end

-- The header and key that what is written now is sealed with (a snapshot
-- by seal, the journal's records): nil when writes are not encrypted.
function Keyring:record_header()
  local s = self:write_scheme()
  if not s then return nil end
  local h = { scheme = SCHEME, key_source = s.source, stack = self.stack_name }
  local key
  if s.source == "env" then
    key = self:env_key("WPO_STATE_KEY")
    if not key then
      fail("the state is to be written encrypted with WPO_STATE_KEY, which is not set: nothing was written")
    end
    h.key_id = key_id(key)
  else
    local dk = self:kms_data_key(s.key)
    key, h.key_id, h.data_key = dk.key, dk.key_id, dk.wrapped
  end
  return h, key
end

-- Whether a header read from a file (the journal's) is one this module
-- wrote: the scheme it knows, string fields.
function M.check_header(h, what)
  if type(h) ~= "table" or h.scheme ~= SCHEME then
    fail("%s is encrypted with scheme %s; this wpo knows %s", what, tostring(type(h) == "table" and h.scheme), SCHEME)
  end
  for _, k in ipairs(HEADER_FIELDS) do
    if h[k] ~= nil and type(h[k]) ~= "string" then fail("%s: its encryption header is damaged (%s)", what, k) end
  end
end

function M.seal_record(key, plaintext, aad_text)
  return crypto.base64(crypto.aes_gcm_encrypt(key, plaintext, aad_text))
end

function M.open_record(key, b64, aad_text)
  local blob = crypto.unbase64(b64)
  if not blob then return nil, "not valid base64" end
  return crypto.aes_gcm_decrypt(key, blob, aad_text)
end

function Keyring:seal(plaintext)
  local h, key = self:record_header()
  if not h then return plaintext end
  return encode(h, crypto.aes_gcm_encrypt(key, plaintext, aad(h)))
end

return M
