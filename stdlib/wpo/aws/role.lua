-- wpo.aws.role: the credentials of a role that a stack or one of its
-- providers names (wpo.stack{ aws = { assume_role = { ... } } }), assumed
-- with the credentials the client would have used otherwise.
--
--   role.provider(source, spec, assume) -> p (p:get(), p:invalidate())
--     source  a credentials provider (wpo.aws.credentials): p:get() -> creds
--     spec    { role_arn, external_id?, session_name?, duration? (seconds) }
--     assume(source_creds, params) -> the AssumeRole result (wpo.aws.client
--             sends it through STS in the client's region)
--   role.check(spec) -> nil | message      what wpo.stack validates
--
-- One provider per source and role: every client of a stack shares one
-- AssumeRole, renewed before it expires as wpo.aws.credentials renews any
-- source; tasks asking while it is renewed wait for that one answer.
local errors = require "wpo.errors"
local common = require "wpo.aws.protocol.common"
local credentials = require "wpo.aws.credentials"

local M = {}

local SPEC_KEYS = { duration = true, external_id = true, role_arn = true, session_name = true }
M.SPEC_KEYS = { "duration", "external_id", "role_arn", "session_name" }

function M.check(spec)
  if type(spec) ~= "table" then return "assume_role is a table like { role_arn = \"arn:aws:iam::123456789012:role/deploy\" }" end
  for k in pairs(spec) do
    if not SPEC_KEYS[k] then
      return "assume_role: unknown key '" .. tostring(k) .. "' (valid: " .. table.concat(M.SPEC_KEYS, ", ") .. ")"
    end
  end
  if type(spec.role_arn) ~= "string" or not spec.role_arn:match("^arn:aws[%w-]*:iam::%d%d%d%d%d%d%d%d%d%d%d%d:role/.+$") then
    return "assume_role.role_arn must be a role ARN like arn:aws:iam::123456789012:role/deploy"
  end
  if spec.external_id ~= nil and (type(spec.external_id) ~= "string" or not spec.external_id:match("^[%w+=,.@:/-]+$")
      or #spec.external_id < 2 or #spec.external_id > 1224) then
    return "assume_role.external_id must be 2 to 1224 letters, digits or +=,.@:/-"
  end
  if spec.session_name ~= nil and (type(spec.session_name) ~= "string" or not spec.session_name:match("^[%w+=,.@-]+$")
      or #spec.session_name < 2 or #spec.session_name > 64) then
    return "assume_role.session_name must be 2 to 64 letters, digits or +=,.@-"
  end
  if spec.duration ~= nil and (math.type(spec.duration) ~= "integer" or spec.duration < 900 or spec.duration > 43200) then
    return "assume_role.duration must be a whole number of seconds from 900 to 43200"
  end
  return nil
end

-- The role's credentials from the source's (one AssumeRole).
local function assume_with(source, spec, assume)
  local creds = source:get()
  local params = { RoleArn = spec.role_arn, RoleSessionName = spec.session_name or ("wpo-" .. os.time()) }
  if spec.external_id then params.ExternalId = spec.external_id end
  if spec.duration then params.DurationSeconds = spec.duration end
  local ok, result = pcall(assume, creds, params)
  if not ok then
    local why = errors.is(result) and errors.describe(result) or tostring(result)
    errors.raise { code = "AssumeRoleFailed", message = string.format("cannot assume the role %s with the "
      .. "credentials of %s: %s", spec.role_arn, tostring(creds and creds.source or "the default chain"), why) }
  end
  local c = result and result.Credentials
  if type(c) ~= "table" or not c.AccessKeyId or not c.SecretAccessKey then
    errors.raise { code = "InvalidResponse", message = "sts AssumeRole answered without Credentials for " .. spec.role_arn }
  end
  return { access_key = c.AccessKeyId, secret_key = c.SecretAccessKey, session_token = c.SessionToken,
    expiration = c.Expiration and common.parse_time(c.Expiration) or nil, source = "role " .. spec.role_arn }
end

local providers = setmetatable({}, { __mode = "k" })   -- source -> { key -> provider }

function M.provider(source, spec, assume)
  local key = table.concat({ spec.role_arn, spec.external_id or "", spec.session_name or "",
    tostring(spec.duration or "") }, "\0")
  providers[source] = providers[source] or {}
  local p = providers[source][key]
  if not p then
    -- renewed as every other source is (wpo.aws.credentials: in the background
    -- before it expires, callers waiting only when it must be)
    p = credentials.from_source({ name = "role " .. spec.role_arn,
      load = function() return assume_with(source, spec, assume) end })
    providers[source][key] = p
  end
  return p
end

return M
