-- wpo.aws.credentials: where AWS credentials and the region come from — the
-- standard chain of the AWS SDKs (botocore's order):
--
--   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
--      (skipped when a profile is chosen explicitly: opts.profile, --profile)
--   2. the profile (opts.profile, AWS_PROFILE, AWS_DEFAULT_PROFILE, "default")
--      in the shared files AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials,
--      [name]) and AWS_CONFIG_FILE (~/.aws/config, [profile name] or
--      [default], [sso-session name]), tried in this order:
--      a. role_arn (without web_identity_token_file): STS AssumeRole with the
--         credentials of source_profile — itself any kind of profile, so
--         chains of roles of any depth; a loop is refused naming the profiles —
--         or of credential_source = Environment | Ec2InstanceMetadata |
--         EcsContainer
--      b. web identity: web_identity_token_file + role_arn (+
--         role_session_name), or AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+
--         AWS_ROLE_SESSION_NAME), which win over the profile's unless the
--         profile was chosen explicitly: STS AssumeRoleWithWebIdentity, sent
--         unsigned, the token file read again at every refresh
--      c. IAM Identity Center: sso_account_id + sso_role_name with sso_session
--         (-> [sso-session NAME]: sso_start_url, sso_region) or the legacy
--         sso_start_url + sso_region; the access token `aws sso login` cached
--         in ~/.aws/sso/cache/<sha1 of the session name, or of the start
--         URL>.json, renewed through SSO OIDC CreateToken with its refresh
--         token when it is expired or about to be (written back atomically,
--         mode 0600), traded for the role's credentials by the portal's
--         GetRoleCredentials (both unsigned; AWS_ENDPOINT_URL_SSO and
--         AWS_ENDPOINT_URL_SSO_OIDC honoured). Nothing usable: SSOLoginRequired,
--         "run aws sso login --profile NAME"
--      d. aws_access_key_id + aws_secret_access_key (+ aws_session_token)
--      e. credential_process: the command split as botocore splits it (POSIX
--         shell words, no shell run on them), its standard output the SDKs'
--         JSON (Version 1, AccessKeyId, SecretAccessKey, SessionToken?,
--         Expiration?), never logged; its standard error is the user's
--   3. web identity from the environment (2b) when no profile exists
--   4. ECS container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
--      _FULL_URI (+ AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE])
--   5. EC2 instance metadata, IMDSv2 only (token, then credentials), with
--      short timeouts (AWS_METADATA_SERVICE_TIMEOUT, default 1 s;
--      AWS_EC2_METADATA_SERVICE_ENDPOINT; AWS_EC2_METADATA_DISABLED=true)
--
-- When nothing is found: one NoCredentials error listing what was tried. A
-- source that is configured but fails is one error naming the profile (or
-- environment) and what went wrong, never a secret. Not supported (a clear
-- error): roles that need an MFA code (mfa_serial).
--
-- Expiry, as the SDKs: credentials with less than ADVISORY_REFRESH (15 min)
-- left are renewed in the background (a task of their own; the calls go on
-- signing with the current ones, and a failure is only logged); with less than
-- MANDATORY_REFRESH (10 min) left, callers wait for the renewal. Either way
-- one renewal at a time per provider: concurrent calls share it. Each link of
-- a chain (the source profile's credentials, the SSO access token) is renewed
-- on its own schedule.
--
-- credentials.provider(opts) -> p; p:get() -> creds. creds = { access_key,
--   secret_key, session_token?, expiration? (epoch seconds), source }
-- credentials.shared(opts) -> the provider shared by every client using the
--   same profile (the normal case)
-- credentials.static(creds) -> a provider of fixed credentials
-- credentials.anonymous() -> a provider for requests sent unsigned
-- credentials.resolve(opts) -> creds: the chain walked once, nothing kept
-- credentials.region(opts) -> region | nil, source
-- opts: profile, region, endpoint (the client's override, also used for
--   STS/SSO), getenv (tests), send (transport.send), now() -> epoch seconds,
--   call(service, op, params, region, creds | nil) -> result (an AWS call,
--   unsigned when creds is nil; wpo.aws.client provides it),
--   assume_role(source_creds, params, region) -> AssumeRole result (tests).
local cjson = require "cjson.safe"
local fs = require "wpo.core.fs"
local errors = require "wpo.errors"
local log = require "wpo.log"
local task = require "wpo.task"
local common = require "wpo.aws.protocol.common"
local transport = require "wpo.aws.transport"

local M = {}

M.ADVISORY_REFRESH = 15 * 60    -- seconds before expiry when a background renewal starts
M.MANDATORY_REFRESH = 10 * 60   -- seconds before expiry when callers wait for one
M.RETRY_INTERVAL = 60           -- seconds between background renewal attempts
M.SSO_REFRESH_WINDOW = 15 * 60  -- an SSO access token this close to expiry is renewed
M.IMDS_ENDPOINT = "http://169.254.169.254"
M.IMDS_ENDPOINT_V6 = "http://[fd00:ec2::254]"
M.ECS_HOST = "http://169.254.170.2"

local function env_of(opts)
  local getenv = opts.getenv or os.getenv
  return function(name)
    local v = getenv(name)
    if v == "" then return nil end
    return v
  end
end

local function fail(code, fmt, ...)
  errors.raise { code = code, message = string.format(fmt, ...) }
end

----------------------------------------------------------------- shared files

-- credentials.parse_ini(text) -> { [section] = { key = value } }
-- Comments (# ;) and indented sub-settings (s3 = / max_concurrent_requests =)
-- are skipped; keys are lower-cased as the SDKs read them.
function M.parse_ini(text)
  local sections, current = {}, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    local stripped = line:match("^%s*(.-)%s*$")
    if stripped == "" or stripped:match("^[#;]") then goto next_line end -- comment or blank
    if stripped:match("^%[.*%]$") then
      local name = stripped:match("^%[%s*(.-)%s*%]$")
      current = sections[name] or {}
      sections[name] = current
    elseif current and not line:match("^%s") then
      local k, v = stripped:match("^([^=]-)%s*=%s*(.*)$")
      if k and k ~= "" then
        v = v:gsub("%s+[#;].*$", "")
        current[k:lower()] = v
      end
    end
    ::next_line::
  end
  return sections
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function expand(path, env)
  if path:sub(1, 2) == "~/" then
    local home = env("HOME")
    if home then return home .. path:sub(2) end
  end
  return path
end

-- credentials.files(opts) -> config path, credentials path
function M.files(opts)
  local env = env_of(opts or {})
  local home = env("HOME") or "~"
  local config = expand(env("AWS_CONFIG_FILE") or (home .. "/.aws/config"), env)
  local creds = expand(env("AWS_SHARED_CREDENTIALS_FILE") or (home .. "/.aws/credentials"), env)
  return config, creds
end

-- credentials.config(opts) -> { profiles = { [name] = settings } merged from
-- both files (the credentials file wins a key both set), sso_sessions =
-- { [name] = settings } ([sso-session NAME] of the config file), config_path,
-- credentials_path }
function M.config(opts)
  local config_path, creds_path = M.files(opts)
  local profiles, sso_sessions = {}, {}
  local text = read(config_path)
  if text then
    for section, kv in pairs(M.parse_ini(text)) do
      local name = section == "default" and "default" or section:match("^profile%s+(%S+)$")
      if name then
        profiles[name] = profiles[name] or {}
        for k, v in pairs(kv) do profiles[name][k] = v end
      end
      local session = section:match("^sso%-session%s+(%S+)$")
      if session then sso_sessions[session] = kv end
    end
  end
  text = read(creds_path)
  if text then
    for section, kv in pairs(M.parse_ini(text)) do
      local name = section:match("^(%S+)$")
      if name then
        profiles[name] = profiles[name] or {}
        for k, v in pairs(kv) do profiles[name][k] = v end
      end
    end
  end
  return { profiles = profiles, sso_sessions = sso_sessions, config_path = config_path,
    credentials_path = creds_path }
end

-- credentials.profiles(opts) -> { [name] = settings }, config path, credentials path
function M.profiles(opts)
  local cfg = M.config(opts)
  return cfg.profiles, cfg.config_path, cfg.credentials_path
end

-- credentials.profile_name(opts) -> name, explicit (true when chosen, not
-- defaulted), by_option (true when opts.profile chose it: the environment's
-- credentials then give way to the profile, as `aws --profile` does)
function M.profile_name(opts)
  local env = env_of(opts or {})
  if opts and opts.profile then return opts.profile, true, true end
  local name = env("AWS_PROFILE") or env("AWS_DEFAULT_PROFILE")
  if name then return name, true, false end
  return "default", false, false
end

-- credentials.region(opts) -> region, source | nil
-- opts.region (the stack's), AWS_REGION, AWS_DEFAULT_REGION, the profile's region.
function M.region(opts)
  opts = opts or {}
  if opts.region then return opts.region, "stack" end
  local env = env_of(opts)
  if env("AWS_REGION") then return env("AWS_REGION"), "AWS_REGION" end
  if env("AWS_DEFAULT_REGION") then return env("AWS_DEFAULT_REGION"), "AWS_DEFAULT_REGION" end
  local name = M.profile_name(opts)
  local profiles = M.profiles(opts)
  local p = profiles[name]
  if p and p.region and p.region ~= "" then return p.region, "profile " .. name end
  return nil
end

--------------------------------------------------------------------- sources

local function now_of(opts)
  return opts.now or os.time
end

-- An ISO 8601 time (AWS's, or the AWS CLI's "2024-01-02T03:04:05UTC") -> epoch seconds | nil
local function expiration(v)
  if v == nil then return nil end
  if type(v) == "string" then v = v:gsub("%s*UTC$", "Z") end
  local sec = common.parse_time(v)
  return sec
end

local function iso(epoch)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(epoch))
end

local function from_env(env)
  local ak, sk = env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")
  if not ak and not sk then return nil end
  if not (ak and sk) then
    fail("PartialCredentials", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (only %s is)",
      ak and "AWS_ACCESS_KEY_ID" or "AWS_SECRET_ACCESS_KEY")
  end
  return { access_key = ak, secret_key = sk, session_token = env("AWS_SESSION_TOKEN") or env("AWS_SECURITY_TOKEN"),
    source = "environment" }
end

local function http_json(opts, req, what)
  local send = opts.send or transport.send
  local resp, err, code = send(req)
  if not resp then return nil, string.format("%s: %s (%s)", what, tostring(err), tostring(code)) end
  if resp.status ~= 200 then
    return nil, string.format("%s: HTTP %d", what, resp.status), resp.status
  end
  return resp.body
end

local function creds_from_json(body, source, what)
  local doc = cjson.decode(body or "")
  if type(doc) ~= "table" or type(doc.AccessKeyId) ~= "string" or type(doc.SecretAccessKey) ~= "string" then
    return nil, what .. ": the response holds no credentials"
  end
  if doc.Code and doc.Code ~= "Success" then
    return nil, string.format("%s: %s %s", what, tostring(doc.Code), tostring(doc.Message or ""))
  end
  return { access_key = doc.AccessKeyId, secret_key = doc.SecretAccessKey,
    session_token = type(doc.Token) == "string" and doc.Token or nil,
    expiration = expiration(type(doc.Expiration) == "string" and doc.Expiration or nil), source = source }
end

-- IMDSv2: PUT a session token, then the role name, then its credentials.
local function from_imds(opts, env)
  local mode = (env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") or "IPv4"):lower()
  local base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT") or (mode == "ipv6" and M.IMDS_ENDPOINT_V6 or M.IMDS_ENDPOINT)
  base = base:gsub("/+$", "")
  local timeout_ms = math.floor((tonumber(env("AWS_METADATA_SERVICE_TIMEOUT")) or 1) * 1000)
  local attempts = math.max(1, math.tointeger(tonumber(env("AWS_METADATA_SERVICE_NUM_ATTEMPTS")) or 1) or 1)
  local function req(method, path, headers)
    local body, err
    for _ = 1, attempts do
      body, err = http_json(opts, { method = method, url = base .. path, headers = headers,
        timeout_ms = timeout_ms, connect_timeout_ms = timeout_ms }, "instance metadata " .. base)
      if body then return body end
    end
    return nil, err
  end
  local token, err = req("PUT", "/latest/api/token", { ["x-aws-ec2-metadata-token-ttl-seconds"] = "21600" })
  if not token then return nil, err end
  local auth = { ["x-aws-ec2-metadata-token"] = token }
  local roles
  roles, err = req("GET", "/latest/meta-data/iam/security-credentials/", auth)
  if not roles then return nil, err end
  local role = roles:match("^%s*([^\r\n]+)")
  if not role then return nil, "instance metadata " .. base .. ": the instance has no IAM role" end
  local body
  body, err = req("GET", "/latest/meta-data/iam/security-credentials/" .. role, auth)
  if not body then return nil, err end
  return creds_from_json(body, "EC2 instance metadata (" .. role .. ")", "instance metadata " .. base)
end

local ECS_ALLOWED_HOSTS = {
  ["localhost"] = true, ["[::1]"] = true, ["169.254.170.2"] = true, ["169.254.170.23"] = true,
  ["[fd00:ec2::23]"] = true,
}

local function from_ecs(opts, env)
  local rel, full = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
  local url
  if rel then
    url = M.ECS_HOST .. (rel:sub(1, 1) == "/" and rel or ("/" .. rel))
  else
    local scheme, host = full:match("^(https?)://([^/:]+)")
    if full:match("^http://%[") then scheme, host = "http", full:match("^http://(%[[^%]]+%])") end
    if not scheme then
      fail("InvalidConfiguration", "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL: %s", full)
    end
    if scheme == "http" and not (ECS_ALLOWED_HOSTS[host] or host:match("^127%.%d+%.%d+%.%d+$")) then
      fail("InvalidConfiguration",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https or a loopback/ECS host, not %s", host)
    end
    url = full
  end
  local headers = {}
  local token_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
  if token_file then
    local t = read(token_file)
    if not t then fail("InvalidConfiguration", "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s", token_file) end
    headers.Authorization = t:match("^%s*(.-)%s*$")
  elseif env("AWS_CONTAINER_AUTHORIZATION_TOKEN") then
    headers.Authorization = env("AWS_CONTAINER_AUTHORIZATION_TOKEN")
  end
  local body, err
  for _ = 1, 3 do
    body, err = http_json(opts, { method = "GET", url = url, headers = headers, timeout_ms = 2000,
      connect_timeout_ms = 2000 }, "container credentials " .. url)
    if body then break end
  end
  if not body then return nil, err end
  return creds_from_json(body, "ECS container credentials", "container credentials " .. url)
end

------------------------------------------------------------------ AWS calls

-- An AWS call for a credential source: opts.call (the client's), or a client
-- made here. wpo.aws.client requires this module, so it is required late.
local function aws_call(opts, service, op, params, region, creds)
  if opts.call then return opts.call(service, op, params, region, creds) end
  -- lazy: wpo.aws.client requires this module (a cycle)
  local client = require "wpo.aws.client"
  local c = client.new(service, { region = region, credentials = creds or M.anonymous(), endpoint = opts.endpoint,
    getenv = opts.getenv, transport = opts.send })
  return c:call(op, params)
end

-- Raise err as a CredentialsError "<what>: <err in one line>" (an AWS error
-- names its service, operation, code, status and request).
local function rethrow(what, err)
  if errors.is(err) then
    errors.raise { code = "CredentialsError", message = what .. ": " .. errors.describe(err), cause = err }
  end
  error(err, 0)
end

-- fn(...) -> its result, or its error through rethrow
local function guarded(what, fn, ...)
  local ok, res = pcall(fn, ...)
  if ok then return res end
  rethrow(what, res)
end

local function role_creds(c, source)
  if type(c) ~= "table" or type(c.AccessKeyId) ~= "string" or type(c.SecretAccessKey) ~= "string" then
    fail("CredentialsError", "%s: STS answered without credentials", source)
  end
  return { access_key = c.AccessKeyId, secret_key = c.SecretAccessKey, session_token = c.SessionToken,
    expiration = expiration(c.Expiration), source = source }
end

local function session_name(prof_value, opts)
  return prof_value or ("wpo-" .. math.floor(now_of(opts)()))
end

local function duration(name, prof)
  if not prof.duration_seconds then return nil end
  local d = math.tointeger(tonumber(prof.duration_seconds))
  if not d or d < 900 then
    fail("InvalidConfiguration", "profile %s: duration_seconds must be a whole number of seconds >= 900", name)
  end
  return d
end

-------------------------------------------------------------------- sources
--
-- A source: { name = what it is, for messages and logs, load = function() ->
-- creds }. load fetches afresh (a provider decides when).

local function static_source(creds)
  return { name = creds.source, load = function()
    local copy = {}
    for k, v in pairs(creds) do copy[k] = v end
    return copy
  end }
end

local function assume_source(name, prof, base, opts)
  if prof.mfa_serial then
    fail("NotImplemented", "profile %s: roles that need an MFA code (mfa_serial) are not supported", name)
  end
  local what = "profile " .. name .. " (role " .. prof.role_arn .. ")"
  local params = { RoleArn = prof.role_arn, ExternalId = prof.external_id, DurationSeconds = duration(name, prof) }
  local region = prof.region or opts.region or "us-east-1"
  return { name = what, load = function()
    local source = base:get()
    params.RoleSessionName = session_name(prof.role_session_name, opts)
    local result
    if opts.assume_role then
      result = guarded(what, opts.assume_role, source, params, region)
    else
      result = guarded(what, aws_call, opts, "sts", "AssumeRole", params, region, source)
    end
    return role_creds(result and result.Credentials, what)
  end }
end

-- Web identity: { token_file, role_arn, session_name, region, duration }
local function web_identity_source(what, wi, env, opts)
  return { name = what, load = function()
    local path = expand(wi.token_file, env)
    local text, err = fs.read(path, 1024 * 1024)
    if not text then fail("CredentialsError", "%s: %s", what, tostring(err)) end      -- "cannot read PATH: why"
    local token = text:match("^%s*(.-)%s*$")
    if token == "" then fail("CredentialsError", "%s: the web identity token file %s is empty", what, path) end
    local result = guarded(what, aws_call, opts, "sts", "AssumeRoleWithWebIdentity", {
      RoleArn = wi.role_arn, RoleSessionName = session_name(wi.session_name, opts), WebIdentityToken = token,
      DurationSeconds = wi.duration }, wi.region, nil)
    return role_creds(result and result.Credentials, what)
  end }
end

------------------------------------------------------------ IAM Identity Center

-- credentials.sha1(s) -> hex digest (the AWS CLI names its SSO cache files by it)
function M.sha1(msg)
  local h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
  local bits = #msg * 8
  msg = msg .. "\128" .. string.rep("\0", (55 - #msg) % 64) .. string.pack(">I8", bits)
  local function rol(x, n) return ((x << n) | (x >> (32 - n))) & 0xffffffff end
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do w[i] = string.unpack(">I4", msg, chunk + i * 4) end
    for i = 16, 79 do w[i] = rol(w[i - 3] ~ w[i - 8] ~ w[i - 14] ~ w[i - 16], 1) end
    local a, b, c, d, e = h0, h1, h2, h3, h4
    for i = 0, 79 do
      local f, k
      if i < 20 then f, k = (b & c) | (~b & d), 0x5A827999
      elseif i < 40 then f, k = b ~ c ~ d, 0x6ED9EBA1
      elseif i < 60 then f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
      else f, k = b ~ c ~ d, 0xCA62C1D6 end
      local t = (rol(a, 5) + (f & 0xffffffff) + e + k + w[i]) & 0xffffffff
      a, b, c, d, e = t, a, rol(b, 30), c, d
    end
    h0, h1 = (h0 + a) & 0xffffffff, (h1 + b) & 0xffffffff
    h2, h3, h4 = (h2 + c) & 0xffffffff, (h3 + d) & 0xffffffff, (h4 + e) & 0xffffffff
  end
  return string.format("%08x%08x%08x%08x%08x", h0, h1, h2, h3, h4)
end

-- One renewal of a cached token at a time per cache file, across providers.
local sso_locks = {}

-- The profile's SSO settings: { start_url, region, account_id, role_name,
-- session (sso-session name | nil), cache_path, label }
local function sso_settings(name, prof, cfg, env)
  local settings = {}
  for k, v in pairs(prof) do settings[k] = v end
  local session = prof.sso_session
  if session then
    local s = cfg.sso_sessions[session]
    if not s then
      fail("InvalidConfiguration", "profile %s: sso_session %s has no [sso-session %s] section in %s", name, session,
        session, cfg.config_path)
    end
    for k, v in pairs(s) do
      if settings[k] ~= nil and settings[k] ~= v then
        fail("InvalidConfiguration", "profile %s: %s differs between the profile (%s) and sso-session %s (%s)", name, k,
          settings[k], session, v)
      end
      settings[k] = v
    end
  end
  local missing = {}
  for _, k in ipairs({ "sso_start_url", "sso_region", "sso_account_id", "sso_role_name" }) do
    if not settings[k] then missing[#missing + 1] = k end
  end
  if #missing > 0 then
    fail("InvalidConfiguration", "profile %s uses IAM Identity Center but lacks %s%s", name,
      table.concat(missing, ", "), session and (" (in the profile or sso-session " .. session .. ")") or "")
  end
  local home = env("HOME") or "~"
  return {
    start_url = settings.sso_start_url, region = settings.sso_region, account_id = settings.sso_account_id,
    role_name = settings.sso_role_name, session = session,
    cache_path = home .. "/.aws/sso/cache/" .. M.sha1(session or settings.sso_start_url) .. ".json",
    label = session and ("sso-session " .. session) or settings.sso_start_url,
  }
end

-- The cached access token, renewed through SSO OIDC CreateToken when it is
-- expired or close to it and the cache holds a refresh token and a live
-- client registration -> access token, expiration
local function sso_token(name, sso, opts)
  local login = "run aws sso login --profile " .. name
  local text = read(sso.cache_path)
  if not text then
    fail("SSOLoginRequired", "profile %s: no IAM Identity Center session for %s in %s; %s", name, sso.label,
      sso.cache_path, login)
  end
  local doc = cjson.decode(text)
  if type(doc) ~= "table" or type(doc.accessToken) ~= "string" or not expiration(doc.expiresAt) then
    fail("SSOLoginRequired", "profile %s: the IAM Identity Center cache %s holds no usable token; %s", name,
      sso.cache_path, login)
  end
  local now = now_of(opts)()
  local expires = expiration(doc.expiresAt)
  if expires - now > M.SSO_REFRESH_WINDOW then return doc.accessToken, expires end
  local why
  local registration = expiration(doc.registrationExpiresAt)
  if type(doc.refreshToken) ~= "string" or type(doc.clientId) ~= "string" or type(doc.clientSecret) ~= "string" then
    why = "it holds no refresh token"
  elseif not registration or registration <= now then
    why = "its client registration expired"
  else
    local ok, res = pcall(aws_call, opts, "sso-oidc", "CreateToken", { grantType = "refresh_token",
      clientId = doc.clientId, clientSecret = doc.clientSecret, refreshToken = doc.refreshToken }, sso.region, nil)
    if ok and type(res) == "table" and type(res.accessToken) == "string" and math.type(res.expiresIn) then
      doc.accessToken = res.accessToken
      doc.expiresAt = iso(now + res.expiresIn)
      if type(res.refreshToken) == "string" then doc.refreshToken = res.refreshToken end
      local wok, werr = fs.write_atomic(sso.cache_path, cjson.encode(doc), tonumber("600", 8))
      if not wok then
        log.warn("profile %s: the renewed IAM Identity Center token could not be saved: %s", name, tostring(werr))
      end
      log.debug("profile %s: IAM Identity Center token for %s renewed, expires %s", name, sso.label, doc.expiresAt)
      return doc.accessToken, now + res.expiresIn
    end
    if not ok and not errors.is(res) then error(res, 0) end
    why = "SSO OIDC CreateToken failed: " .. (ok and "no access token in its answer" or errors.describe(res))
  end
  if expires > now then
    log.debug("profile %s: IAM Identity Center token not renewed (%s); using it until %s", name, why, iso(expires))
    return doc.accessToken, expires
  end
  fail("SSOLoginRequired", "profile %s: the IAM Identity Center session (%s) expired at %s and cannot be renewed "
    .. "(%s); %s", name, sso.label, iso(expires), why, login)
end

local function sso_source(name, sso, opts)
  local what = "profile " .. name .. " (IAM Identity Center, role " .. sso.role_name .. " in account "
    .. sso.account_id .. ")"
  return { name = what, load = function()
    local lock = sso_locks[sso.cache_path] or task.semaphore(1)
    sso_locks[sso.cache_path] = lock
    local token = lock:with(sso_token, name, sso, opts)
    if not token then fail("Cancelled", "%s: cancelled while waiting for the SSO token", what) end
    local ok, res = pcall(aws_call, opts, "sso", "GetRoleCredentials", { roleName = sso.role_name,
      accountId = sso.account_id, accessToken = token }, sso.region, nil)
    if not ok then
      if errors.is(res) and res.code == "UnauthorizedException" then
        fail("SSOLoginRequired", "profile %s: IAM Identity Center no longer accepts the session (%s); "
          .. "run aws sso login --profile %s", name, sso.label, name)
      end
      rethrow(what, res)
    end
    local c = type(res) == "table" and res.roleCredentials
    if type(c) ~= "table" or type(c.accessKeyId) ~= "string" or type(c.secretAccessKey) ~= "string" then
      fail("CredentialsError", "%s: GetRoleCredentials answered without credentials", what)
    end
    return { access_key = c.accessKeyId, secret_key = c.secretAccessKey, session_token = c.sessionToken,
      expiration = math.type(c.expiration) and c.expiration // 1000 or nil, source = what }
  end }
end

----------------------------------------------------------- credential_process

-- credentials.split_command(s) -> { word... }: POSIX shell words, as
-- botocore splits credential_process (Python's shlex.split): blanks separate
-- words; '...' is literal; in "..." a backslash escapes only " and \;
-- elsewhere a backslash takes the next character literally. Nothing is
-- expanded ($VAR, ~, globs) and nothing else is special (| ; & # are plain).
function M.split_command(s)
  local words, cur, i, n = {}, nil, 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c:match("%s") then
      if cur then words[#words + 1] = cur; cur = nil end
      i = i + 1
    elseif c == "'" then
      local j = s:find("'", i + 1, true)
      if not j then return nil, "no closing quotation" end
      cur = (cur or "") .. s:sub(i + 1, j - 1)
      i = j + 1
    elseif c == '"' then
      local buf, j = {}, i + 1
      while true do
        local d = s:sub(j, j)
        if d == "" then return nil, "no closing quotation" end
        if d == '"' then break end
        if d == "\\" and (s:sub(j + 1, j + 1) == '"' or s:sub(j + 1, j + 1) == "\\") then
          buf[#buf + 1] = s:sub(j + 1, j + 1)
          j = j + 2
        else
          buf[#buf + 1] = d
          j = j + 1
        end
      end
      cur = (cur or "") .. table.concat(buf)
      i = j + 1
    elseif c == "\\" then
      if i == n then return nil, "no escaped character" end
      cur = (cur or "") .. s:sub(i + 1, i + 1)
      i = i + 2
    else
      cur = (cur or "") .. c
      i = i + 1
    end
  end
  if cur then words[#words + 1] = cur end
  return words
end

local function sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function executable(path)
  local st = fs.stat(path)
  return st and st.type == "file" and (st.mode & tonumber("111", 8)) ~= 0
end

-- The program a command word names: a path, or found on PATH (the one the
-- child runs with: this process's own environment).
local function find_program(word)
  if word:find("/", 1, true) then return executable(word) and word or nil end
  for dir in (os.getenv("PATH") or "/usr/bin:/bin"):gmatch("[^:]+") do
    local p = dir .. "/" .. word
    if executable(p) then return p end
  end
  return nil
end

-- Run argv (no shell interprets the words: each is quoted and exec'd) and
-- capture its standard output; standard input and error stay the user's
-- (helpers prompt there). -> output, exit status | nil, err
local function run_process(argv)
  local quoted = {}
  for i, w in ipairs(argv) do quoted[i] = sh_quote(w) end
  io.stdout:flush()
  local p, err = io.popen("exec " .. table.concat(quoted, " "), "r")
  if not p then return nil, tostring(err) end
  local out = p:read("a") or ""
  local _, how, code = p:close()
  if how == "signal" then return out, "killed by signal " .. tostring(code) end
  return out, code or 0
end

local function process_source(name, command)
  local what = "profile " .. name .. " (credential_process)"
  return { name = what, load = function()
    local argv, serr = M.split_command(command)
    if not argv or #argv == 0 then
      fail("InvalidConfiguration", "%s: cannot split the command: %s", what, serr or "it is empty")
    end
    local program = find_program(argv[1])
    if not program then fail("CredentialsError", "%s: %s: no such executable", what, argv[1]) end
    argv[1] = program
    local out, status = run_process(argv)
    if not out then fail("CredentialsError", "%s: cannot run %s: %s", what, program, status) end
    if status ~= 0 then
      fail("CredentialsError", "%s: %s %s", what, program,
        math.type(status) and ("exited with status " .. status) or status)
    end
    local doc, jerr = cjson.decode(out)
    if type(doc) ~= "table" then
      fail("CredentialsError", "%s: %s printed %d bytes that are not a JSON object%s", what, program, #out,
        jerr and (" (" .. jerr .. ")") or "")
    end
    if doc.Version ~= 1 then
      fail("CredentialsError", "%s: %s printed Version %s; the credential_process format is Version 1", what, program,
        doc.Version == nil and "(none)" or tostring(math.tointeger(doc.Version) or doc.Version):sub(1, 20))
    end
    for _, k in ipairs({ "AccessKeyId", "SecretAccessKey" }) do
      if type(doc[k]) ~= "string" or doc[k] == "" then
        fail("CredentialsError", "%s: %s printed no %s", what, program, k)
      end
    end
    if doc.SessionToken ~= nil and type(doc.SessionToken) ~= "string" then
      fail("CredentialsError", "%s: %s printed a SessionToken that is not a string", what, program)
    end
    local expires
    if doc.Expiration ~= nil then
      expires = type(doc.Expiration) == "string" and expiration(doc.Expiration)
      if not expires then
        fail("CredentialsError", "%s: %s printed an Expiration that is not an ISO 8601 time", what, program)
      end
    end
    return { access_key = doc.AccessKeyId, secret_key = doc.SecretAccessKey, session_token = doc.SessionToken,
      expiration = expires or nil, source = what }
  end }
end

------------------------------------------------------------------- profiles

local function static(prof, name)
  if prof.aws_access_key_id and prof.aws_secret_access_key then
    return { access_key = prof.aws_access_key_id, secret_key = prof.aws_secret_access_key,
      session_token = prof.aws_session_token or prof.aws_security_token, source = "profile " .. name }
  end
  if prof.aws_access_key_id or prof.aws_secret_access_key then
    fail("PartialCredentials", "profile %s sets only one of aws_access_key_id and aws_secret_access_key", name)
  end
  return nil
end

local profile_source

-- The provider of a role's source credentials: source_profile or credential_source.
local function role_base(name, prof, ctx, visited)
  local opts, env = ctx.opts, ctx.env
  if prof.source_profile and prof.credential_source then
    fail("InvalidConfiguration", "profile %s has both source_profile and credential_source", name)
  end
  if prof.source_profile then
    local sp = prof.source_profile
    if not ctx.cfg.profiles[sp] then
      fail("InvalidConfiguration", "profile %s: source_profile %s does not exist", name, sp)
    end
    if sp == name then
      -- a profile may name itself to take its own keys as the role's source
      local c = static(prof, name)
      if not c then
        fail("InvalidConfiguration", "profile %s is its own source_profile but has no aws_access_key_id", name)
      end
      return M.fixed(c)
    end
    for _, v in ipairs(visited) do
      if v == sp then
        local chain = {}
        for i, p in ipairs(visited) do chain[i] = p end
        chain[#chain + 1] = sp
        fail("InvalidConfiguration", "the profiles' source_profile chain loops: %s", table.concat(chain, " -> "))
      end
    end
    local src = profile_source(sp, ctx, visited, false)
    if not src then
      fail("InvalidConfiguration", "profile %s: source_profile %s has no credentials", name, sp)
    end
    return M.from_source(src, opts)
  end
  if prof.credential_source then
    local cs = prof.credential_source
    local getter
    if cs == "Environment" then
      getter = function() return from_env(env) end
    elseif cs == "Ec2InstanceMetadata" then
      getter = function() return from_imds(opts, env) end
    elseif cs == "EcsContainer" then
      getter = function()
        if env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env("AWS_CONTAINER_CREDENTIALS_FULL_URI") then
          return from_ecs(opts, env)
        end
        return nil, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI not set"
      end
    else
      fail("InvalidConfiguration", "profile %s: credential_source %s is not one of Environment, "
        .. "Ec2InstanceMetadata, EcsContainer", name, cs)
    end
    return M.from_source({ name = "credential_source " .. cs, load = function()
      local c, err = getter()
      if not c then
        fail("CredentialsError", "profile %s: no credentials from credential_source %s%s", name, cs,
          err and (": " .. err) or "")
      end
      return c
    end }, opts)
  end
  fail("InvalidConfiguration", "profile %s has role_arn but neither source_profile nor credential_source", name)
end

-- The web identity settings of a profile (and, when env_ok, the environment,
-- whose values win): { token_file, role_arn, session_name, region, duration } | nil
local function web_identity(name, prof, ctx, env_ok)
  local env = ctx.env
  local function setting(key, var)
    if env_ok and env(var) then return env(var), var end
    return prof[key], key
  end
  local token_file, from = setting("web_identity_token_file", "AWS_WEB_IDENTITY_TOKEN_FILE")
  if not token_file then return nil end
  local role_arn = setting("role_arn", "AWS_ROLE_ARN")
  local what = from == "AWS_WEB_IDENTITY_TOKEN_FILE" and "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)"
    or ("profile " .. name .. " (web identity)")
  if not role_arn then
    fail("InvalidConfiguration", "%s: no role to assume: set %s", what,
      from == "AWS_WEB_IDENTITY_TOKEN_FILE" and "AWS_ROLE_ARN" or "role_arn in the profile")
  end
  return { token_file = token_file, role_arn = role_arn,
    session_name = setting("role_session_name", "AWS_ROLE_SESSION_NAME"),
    region = prof.region or ctx.opts.region or "us-east-1", duration = duration(name, prof) }, what
end

-- profile_source(name, ctx, visited, top) -> source | nil (the profile holds
-- no credentials). ctx = { opts, env, cfg, env_web_identity }; top: the
-- profile the user chose (a source profile with keys of its own uses them
-- rather than its role, as botocore does).
profile_source = function(name, ctx, visited, top)
  local prof = ctx.cfg.profiles[name] or {}
  local chain = {}
  for i, v in ipairs(visited) do chain[i] = v end
  chain[#chain + 1] = name
  local keys = static(prof, name)
  if prof.role_arn and not prof.web_identity_token_file and (top or not keys) then
    return assume_source(name, prof, role_base(name, prof, ctx, chain), ctx.opts)
  end
  local wi, what = web_identity(name, prof, ctx, top and ctx.env_web_identity)
  if wi then return web_identity_source(what, wi, ctx.env, ctx.opts) end
  if prof.sso_account_id or prof.sso_role_name or prof.sso_session or prof.sso_start_url then
    return sso_source(name, sso_settings(name, prof, ctx.cfg, ctx.env), ctx.opts)
  end
  if keys then return static_source(keys) end
  if prof.credential_process then return process_source(name, prof.credential_process) end
  return nil
end

-- credentials.source(opts) -> source: where the credentials come from (the
-- chain walked; only the instance metadata service is asked anything).
function M.source(opts)
  opts = opts or {}
  local env = env_of(opts)
  local tried = {}
  local name, explicit, by_option = M.profile_name(opts)
  if not by_option then
    local c = from_env(env)
    if c then return static_source(c) end
    tried[#tried + 1] = "environment (AWS_ACCESS_KEY_ID not set)"
  end

  local cfg = M.config(opts)
  local ctx = { opts = opts, env = env, cfg = cfg, env_web_identity = not by_option }
  if cfg.profiles[name] then
    local src = profile_source(name, ctx, {}, true)
    if src then return src end
    tried[#tried + 1] = string.format("profile %s (no credentials in it)", name)
  elseif explicit then
    fail("ProfileNotFound", "profile %s not found in %s or %s", name, cfg.config_path, cfg.credentials_path)
  else
    tried[#tried + 1] = string.format("profile %s (not in %s or %s)", name, cfg.config_path, cfg.credentials_path)
    local wi, what = web_identity(name, {}, ctx, true)
    if wi then return web_identity_source(what, wi, env, opts) end
  end

  if env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env("AWS_CONTAINER_CREDENTIALS_FULL_URI") then
    return { name = "ECS container credentials", load = function()
      local c, err = from_ecs(opts, env)
      if not c then fail("CredentialsError", "ECS container credentials: %s", err) end
      return c
    end }
  end
  tried[#tried + 1] = "ECS container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI not set)"

  if (env("AWS_EC2_METADATA_DISABLED") or ""):lower() == "true" then
    tried[#tried + 1] = "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"
  else
    local c, err = from_imds(opts, env)
    if c then
      local first = c
      return { name = c.source, load = function()
        if first then
          local got = first
          first = nil
          return got
        end
        local again, ierr = from_imds(opts, env)
        if not again then fail("CredentialsError", "EC2 instance metadata: %s", ierr) end
        return again
      end }
    end
    tried[#tried + 1] = "EC2 instance metadata (" .. tostring(err) .. ")"
  end
  fail("NoCredentials", "no AWS credentials found; tried: %s", table.concat(tried, "; "))
end

-- credentials.resolve(opts) -> creds: walk the chain once and fetch (nothing kept).
function M.resolve(opts)
  return M.source(opts).load()
end

-- credentials.clear_cache(): forget the shared providers (tests)
function M.clear_cache()
  M.reset_shared()
end

------------------------------------------------------------------- providers

local Provider = {}
Provider.__index = Provider

-- credentials.provider(opts) -> p, resolving the chain on first p:get()
function M.provider(opts)
  return setmetatable({ opts = opts or {} }, Provider)
end

-- credentials.from_source(source, opts) -> p over one source
function M.from_source(source, opts)
  return setmetatable({ opts = opts or {}, source = source }, Provider)
end

-- A provider of credentials that never change.
function M.fixed(c)
  return setmetatable({ opts = {}, creds = c, fixed = true }, Provider)
end

-- credentials.static(creds) -> p always returning creds
-- creds: { access_key, secret_key, session_token } (or AWS's AccessKeyId,
-- SecretAccessKey, SessionToken names)
function M.static(creds)
  local c = {
    access_key = creds.access_key or creds.AccessKeyId,
    secret_key = creds.secret_key or creds.SecretAccessKey,
    session_token = creds.session_token or creds.SessionToken,
    expiration = creds.expiration,
    source = creds.source or "given",
  }
  if type(c.access_key) ~= "string" or type(c.secret_key) ~= "string" then
    error("credentials: access_key and secret_key (strings) are required", 3)
  end
  return M.fixed(c)
end

local Anonymous = {
  anonymous = true,
  get = function() return nil end,
  invalidate = function() end,
}

-- credentials.anonymous() -> the provider of clients whose requests go unsigned
function M.anonymous()
  return Anonymous
end

-- "mandatory" | "advisory" | nil: what the credentials in hand call for now.
function Provider:needs(now)
  local c = self.creds
  if not c then return "mandatory" end
  if self.fixed or not c.expiration then return nil end
  local left = c.expiration - now
  if left > M.ADVISORY_REFRESH then return nil end
  if left > M.MANDATORY_REFRESH then
    if self.last_attempt and now - self.last_attempt < M.RETRY_INTERVAL then return nil end
    return "advisory"
  end
  -- short-lived credentials just fetched (a source that gives no longer ones)
  -- serve until the next attempt is due, while they have a minute left
  if left > M.RETRY_INTERVAL and self.loaded_at and now - self.loaded_at < M.RETRY_INTERVAL then return nil end
  return "mandatory"
end

-- Fetch under the lock (one renewal at a time; whoever waited on it takes
-- its result).
function Provider:refresh(kind)
  self.lock = self.lock or task.semaphore(1)
  local acquired, err = self.lock:acquire()
  if not acquired then
    errors.raise { code = "Cancelled", message = "cancelled while waiting for credentials: " .. tostring(err) }
  end
  local ok, res = pcall(function()
    local now = now_of(self.opts)()
    local need = self:needs(now)
    if not need or (kind == "mandatory" and need == "advisory") then return self.creds end
    self.source = self.source or M.source(self.opts)
    self.last_attempt = now
    local c = self.source.load()
    now = now_of(self.opts)()
    if c.expiration and c.expiration <= now then
      fail("CredentialsError", "%s: the credentials it gave expired at %s", self.source.name, iso(c.expiration))
    end
    self.creds, self.loaded_at = c, now
    if c.expiration then
      log.debug("credentials from %s, expiring %s", self.source.name, iso(c.expiration))
    end
    return c
  end)
  self.lock:release()
  if not ok then error(res, 0) end
  return res
end

-- Start a renewal without waiting for it: in a task of its own when called
-- from a task, else here and now; a failure is logged, the current
-- credentials stay in use.
function Provider:refresh_in_background()
  if self.renewing then return end
  self.renewing = true
  local function renew()
    local ok, err = pcall(self.refresh, self, "advisory")
    self.renewing = false
    if not ok then
      log.debug("credentials from %s: renewal failed, will retry: %s", self.source and self.source.name or "?",
        errors.describe(err))
    end
  end
  if task.current() then
    local t = task.spawn(renew)
    t.name = "credentials renewal"
  else
    renew()
  end
end

-- p:get() -> creds
function Provider:get()
  local need = self:needs(now_of(self.opts)())
  if not need then return self.creds end
  if need == "advisory" then
    self:refresh_in_background()
    return self.creds
  end
  return self:refresh("mandatory")
end

-- p:invalidate(): fetch again on next get (e.g. after ExpiredToken)
function Provider:invalidate()
  if not self.fixed then self.creds = nil end
end

local shared = {}

-- credentials.shared(opts) -> the process-wide provider for opts.profile
function M.shared(opts)
  opts = opts or {}
  local name, _, by_option = M.profile_name(opts)
  local key = (by_option and "option:" or "env:") .. name
  local p = shared[key]
  if not p then
    p = M.provider(opts)
    shared[key] = p
  end
  return p
end

function M.reset_shared() shared = {} end

return M
