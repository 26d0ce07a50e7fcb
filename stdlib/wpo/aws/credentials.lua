-- wpo.aws.credentials: where AWS credentials and the region come from — the
-- standard chain of the AWS SDKs:
--
--   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
--   2. the profile (opts.profile, AWS_PROFILE, AWS_DEFAULT_PROFILE, "default")
--      in the shared files AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials,
--      [name]) and AWS_CONFIG_FILE (~/.aws/config, [profile name] or
--      [default]); a profile with role_arn assumes the role through STS with
--      the credentials of its source_profile (or credential_source =
--      Environment | Ec2InstanceMetadata | EcsContainer), cached until expiry
--   3. ECS container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
--      _FULL_URI (+ AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE])
--   4. EC2 instance metadata, IMDSv2 only (token, then credentials), with
--      short timeouts (AWS_METADATA_SERVICE_TIMEOUT, default 1 s;
--      AWS_EC2_METADATA_SERVICE_ENDPOINT; AWS_EC2_METADATA_DISABLED=true)
--
-- When nothing is found: one NoCredentials error listing what was tried.
-- Not supported (a clear error when configured): credential_process, SSO,
-- web identity, MFA-protected roles.
--
-- credentials.provider(opts) -> p; p:get() -> creds (cached; refreshed when
--   less than 5 minutes remain). creds = { access_key, secret_key,
--   session_token?, expiration? (epoch seconds), source }
-- credentials.shared(opts) -> the provider shared by every client using the
--   same profile (the normal case)
-- credentials.region(opts) -> region | nil, source
-- opts: profile, region, getenv (tests), send (transport.send), now (epoch
--   seconds), assume_role(source_creds, params, region) -> AssumeRole result
--   (wpo.aws.client provides it).
local cjson = require "cjson.safe"
local errors = require "wpo.errors"
local task = require "wpo.task"
local common = require "wpo.aws.protocol.common"
local transport = require "wpo.aws.transport"

local M = {}

M.REFRESH_MARGIN = 300          -- seconds before expiry when credentials are renewed
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
    if stripped == "" or stripped:match("^[#;]") then
      -- comment or blank
    elseif stripped:match("^%[.*%]$") then
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

-- credentials.profiles(opts) -> { [name] = settings } merged from both files
-- (the credentials file wins a key both set), config path, credentials path
function M.profiles(opts)
  local config_path, creds_path = M.files(opts)
  local profiles = {}
  local text = read(config_path)
  if text then
    for section, kv in pairs(M.parse_ini(text)) do
      local name = section == "default" and "default" or section:match("^profile%s+(%S+)$")
      if name then
        profiles[name] = profiles[name] or {}
        for k, v in pairs(kv) do profiles[name][k] = v end
      end
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
  return profiles, config_path, creds_path
end

-- credentials.profile_name(opts) -> name, explicit (true when chosen, not defaulted)
function M.profile_name(opts)
  local env = env_of(opts or {})
  local name = opts and opts.profile or env("AWS_PROFILE") or env("AWS_DEFAULT_PROFILE")
  if name then return name, true end
  return "default", false
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

local function expiration(v)
  if v == nil then return nil end
  local sec = common.parse_time(v)
  return sec
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

------------------------------------------------------------------ assume role

local role_cache = {}

-- credentials.clear_cache(): forget assumed-role credentials (tests)
function M.clear_cache() role_cache = {} end

local function assume(name, prof, source, opts)
  if not opts.assume_role then
    fail("InvalidConfiguration", "profile %s assumes a role, but no STS client is available", name)
  end
  if prof.mfa_serial then
    fail("NotImplemented", "profile %s: roles that need an MFA code (mfa_serial) are not supported", name)
  end
  local session = prof.role_session_name or ("wpo-" .. now_of(opts)())
  local key = table.concat({ prof.role_arn, prof.role_session_name or "", prof.external_id or "",
    source.access_key }, "|")
  local cached = role_cache[key]
  if cached and (not cached.expiration or cached.expiration - now_of(opts)() > M.REFRESH_MARGIN) then
    return cached
  end
  local params = { RoleArn = prof.role_arn, RoleSessionName = session }
  if prof.external_id then params.ExternalId = prof.external_id end
  if prof.duration_seconds then params.DurationSeconds = math.tointeger(tonumber(prof.duration_seconds)) end
  local region = prof.region or opts.region or "us-east-1"
  local result = opts.assume_role(source, params, region)
  local c = result and result.Credentials
  if not c then fail("CredentialsError", "AssumeRole %s returned no credentials", prof.role_arn) end
  local creds = { access_key = c.AccessKeyId, secret_key = c.SecretAccessKey, session_token = c.SessionToken,
    expiration = expiration(c.Expiration), source = "profile " .. name .. " (role " .. prof.role_arn .. ")" }
  role_cache[key] = creds
  return creds
end

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

local from_profile

from_profile = function(name, profiles, opts, env, visited)
  local prof = profiles[name]
  visited[#visited + 1] = name
  for i = 1, #visited - 1 do
    if visited[i] == name then
      fail("InvalidConfiguration", "the profiles' source_profile chain loops: %s", table.concat(visited, " -> "))
    end
  end
  if prof.role_arn then
    local source
    if prof.source_profile then
      local sp = profiles[prof.source_profile]
      if not sp then
        fail("InvalidConfiguration", "profile %s: source_profile %s does not exist", name, prof.source_profile)
      end
      if prof.source_profile == name then
        source = static(prof, name)
      else
        source = from_profile(prof.source_profile, profiles, opts, env, visited)
      end
      if not source then
        fail("InvalidConfiguration", "profile %s: source_profile %s has no credentials", name, prof.source_profile)
      end
    elseif prof.credential_source then
      local cs, err = prof.credential_source, nil
      if cs == "Environment" then source = from_env(env)
      elseif cs == "Ec2InstanceMetadata" then source, err = from_imds(opts, env)
      elseif cs == "EcsContainer" then
        if env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env("AWS_CONTAINER_CREDENTIALS_FULL_URI") then
          source, err = from_ecs(opts, env)
        end
      else
        fail("InvalidConfiguration", "profile %s: credential_source %s is not one of Environment, "
          .. "Ec2InstanceMetadata, EcsContainer", name, cs)
      end
      if not source then
        fail("CredentialsError", "profile %s: no credentials from credential_source %s%s", name, cs,
          err and (": " .. err) or "")
      end
    else
      fail("InvalidConfiguration", "profile %s has role_arn but neither source_profile nor credential_source", name)
    end
    return assume(name, prof, source, opts)
  end
  if prof.web_identity_token_file then
    fail("NotImplemented", "profile %s: web identity credentials (web_identity_token_file) are not supported", name)
  end
  if prof.credential_process then
    fail("NotImplemented", "profile %s: credential_process is not supported", name)
  end
  if prof.sso_start_url or prof.sso_session then
    fail("NotImplemented", "profile %s: AWS SSO profiles are not supported; export credentials "
      .. "(aws configure export-credentials) instead", name)
  end
  return static(prof, name)
end

-- credentials.resolve(opts) -> creds: walk the chain once (no caching).
function M.resolve(opts)
  opts = opts or {}
  local env = env_of(opts)
  local tried = {}
  local c = from_env(env)
  if c then return c end
  tried[#tried + 1] = "environment (AWS_ACCESS_KEY_ID not set)"

  local name, explicit = M.profile_name(opts)
  local profiles, config_path, creds_path = M.profiles(opts)
  if profiles[name] then
    c = from_profile(name, profiles, opts, env, {})
    if c then return c end
    tried[#tried + 1] = string.format("profile %s (no credentials in it)", name)
  elseif explicit then
    fail("ProfileNotFound", "profile %s not found in %s or %s", name, config_path, creds_path)
  else
    tried[#tried + 1] = string.format("profile %s (not in %s or %s)", name, config_path, creds_path)
  end

  if env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env("AWS_CONTAINER_CREDENTIALS_FULL_URI") then
    local err
    c, err = from_ecs(opts, env)
    if c then return c end
    fail("CredentialsError", "ECS container credentials: %s", err)
  end
  tried[#tried + 1] = "ECS container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI not set)"

  if (env("AWS_EC2_METADATA_DISABLED") or ""):lower() == "true" then
    tried[#tried + 1] = "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"
  else
    local err
    c, err = from_imds(opts, env)
    if c then return c end
    tried[#tried + 1] = "EC2 instance metadata (" .. tostring(err) .. ")"
  end
  fail("NoCredentials", "no AWS credentials found; tried: %s", table.concat(tried, "; "))
end

------------------------------------------------------------------- providers

local Provider = {}
Provider.__index = Provider

-- credentials.provider(opts) -> p, resolving on first p:get()
function M.provider(opts)
  return setmetatable({ opts = opts or {} }, Provider)
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
  return setmetatable({ opts = {}, creds = c, fixed = true }, Provider)
end

function Provider:fresh()
  local c = self.creds
  return c and (self.fixed or not c.expiration or c.expiration - now_of(self.opts)() > M.REFRESH_MARGIN)
end

-- p:get() -> creds. Tasks asking while another resolves wait for its answer
-- (one metadata or STS round trip for all of them).
function Provider:get()
  if self:fresh() then return self.creds end
  self.lock = self.lock or task.semaphore(1)
  local acquired, err = self.lock:acquire()
  if not acquired then
    errors.raise { code = "Cancelled", message = "cancelled while waiting for credentials: " .. tostring(err) }
  end
  local ok, res = pcall(function()
    if self:fresh() then return self.creds end
    self.creds = M.resolve(self.opts)
    return self.creds
  end)
  self.lock:release()
  if not ok then error(res, 0) end
  return res
end

-- p:invalidate(): resolve again on next get (e.g. after ExpiredToken)
function Provider:invalidate()
  if not self.fixed then self.creds = nil end
end

local shared = {}

-- credentials.shared(opts) -> the process-wide provider for opts.profile
function M.shared(opts)
  opts = opts or {}
  local name = M.profile_name(opts)
  local p = shared[name]
  if not p then
    p = M.provider(opts)
    shared[name] = p
  end
  return p
end

function M.reset_shared() shared = {} end

return M
