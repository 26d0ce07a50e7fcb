-- wpo.aws.credentials: each source of the chain, their precedence, assumed
-- roles cached until expiry, the region, and IMDSv2 / ECS against a local
-- stub server (tests/servers/credstub.py).
local h = require "helpers"
local awstest = require "awstest"

local credentials = require "wpo.aws.credentials"
local errors = require "wpo.errors"

local function raised(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.is_true(errors.is(err), "expected a wpo.errors error, got " .. tostring(err))
  return err
end

-- An environment with shared files in a temp dir; IMDS disabled unless given.
local function make_env(files, env)
  local dir = h.tmpdir()
  local e = { HOME = dir, AWS_EC2_METADATA_DISABLED = "true" }
  for name, text in pairs(files or {}) do
    os.execute("mkdir -p " .. h.quote(dir .. "/.aws"))
    h.write(dir .. "/.aws/" .. name, text)
  end
  for k, v in pairs(env or {}) do e[k] = v end
  return dir, awstest.env(e)
end

describe("wpo.aws.credentials chain", function()
  local dirs = {}
  after_each(function()
    for _, d in ipairs(dirs) do h.rmrf(d) end
    dirs = {}
    credentials.clear_cache()
  end)
  local function env_with(files, env)
    local dir, getenv = make_env(files, env)
    dirs[#dirs + 1] = dir
    return getenv, dir
  end

  it("takes the environment first, even with a profile configured", function()
    local getenv = env_with({ credentials = "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n" },
      { AWS_ACCESS_KEY_ID = "ENVKEY", AWS_SECRET_ACCESS_KEY = "envsecret", AWS_SESSION_TOKEN = "envtoken" })
    local c = credentials.resolve { getenv = getenv }
    assert.are.same({ "ENVKEY", "envsecret", "envtoken", "environment" },
      { c.access_key, c.secret_key, c.session_token, c.source })
  end)

  it("refuses half of the environment pair", function()
    local getenv = env_with({}, { AWS_ACCESS_KEY_ID = "ENVKEY" })
    local err = raised(function() credentials.resolve { getenv = getenv } end)
    assert.are.equal("PartialCredentials", err.code)
  end)

  it("reads the default profile from ~/.aws/credentials", function()
    local getenv = env_with { credentials = "# comment\n[default]\naws_access_key_id = FILEKEY\n"
      .. "aws_secret_access_key = filesecret ; trailing comment\n" }
    local c = credentials.resolve { getenv = getenv }
    assert.are.same({ "FILEKEY", "filesecret", "profile default" }, { c.access_key, c.secret_key, c.source })
  end)

  it("selects AWS_PROFILE: [profile x] in config, [x] in credentials (which wins)", function()
    local getenv = env_with({
      config = "[default]\nregion = us-east-1\n[profile dev]\nregion = eu-west-3\naws_access_key_id = CFGKEY\n"
        .. "aws_secret_access_key = cfgsecret\n",
      credentials = "[dev]\naws_access_key_id = CREDKEY\n",
    }, { AWS_PROFILE = "dev" })
    local c = credentials.resolve { getenv = getenv }
    assert.are.same({ "CREDKEY", "cfgsecret", "profile dev" }, { c.access_key, c.secret_key, c.source })
    assert.are.equal("eu-west-3", (credentials.region { getenv = getenv }))
  end)

  it("honours AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE", function()
    local dir = h.tmpdir()
    dirs[#dirs + 1] = dir
    h.write(dir .. "/creds", "[ci]\naws_access_key_id = CIKEY\naws_secret_access_key = cisecret\n")
    h.write(dir .. "/conf", "[profile ci]\nregion = ap-south-1\n")
    local getenv = awstest.env { HOME = "/nonexistent", AWS_SHARED_CREDENTIALS_FILE = dir .. "/creds",
      AWS_CONFIG_FILE = dir .. "/conf", AWS_PROFILE = "ci", AWS_EC2_METADATA_DISABLED = "true" }
    assert.are.equal("CIKEY", credentials.resolve({ getenv = getenv }).access_key)
    assert.are.equal("ap-south-1", (credentials.region { getenv = getenv }))
  end)

  it("fails clearly when the chosen profile does not exist", function()
    local getenv = env_with({ credentials = "[default]\naws_access_key_id = K\naws_secret_access_key = S\n" },
      { AWS_PROFILE = "prod" })
    local err = raised(function() credentials.resolve { getenv = getenv } end)
    assert.are.equal("ProfileNotFound", err.code)
    assert.matches("profile prod not found", err.message)
  end)

  it("assumes role_arn with the source_profile's credentials, kept by a provider until near expiry", function()
    local getenv = env_with({
      config = "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\nsource_profile = base\n"
        .. "role_session_name = wpo-ci\nexternal_id = ext-1\nregion = eu-west-1\n",
      credentials = "[base]\naws_access_key_id = BASEKEY\naws_secret_access_key = basesecret\n",
    }, { AWS_PROFILE = "deploy" })
    local now = 1700000000
    local calls = {}
    local opts = { getenv = getenv, now = function() return now end,
      assume_role = function(source, params, region)
        calls[#calls + 1] = { source = source, params = params, region = region }
        return { Credentials = { AccessKeyId = "ASIAROLE" .. #calls, SecretAccessKey = "rolesecret",
          SessionToken = "roletoken", Expiration = "2023-11-14T23:13:20Z" } }   -- 1700003600: now + 1 h
      end }
    local p = credentials.provider(opts)
    local c = p:get()
    assert.are.equal("ASIAROLE1", c.access_key)
    assert.are.equal("roletoken", c.session_token)
    assert.are.equal(1700003600, c.expiration)
    assert.are.equal("BASEKEY", calls[1].source.access_key)
    assert.are.same({ RoleArn = "arn:aws:iam::123456789012:role/deploy", RoleSessionName = "wpo-ci",
      ExternalId = "ext-1" }, calls[1].params)
    assert.are.equal("eu-west-1", calls[1].region)
    assert.are.equal("ASIAROLE1", p:get().access_key)
    assert.are.equal(1, #calls)
    now = now + 3600 - 200          -- within the mandatory window
    assert.are.equal("ASIAROLE2", p:get().access_key)
    assert.are.equal(2, #calls)
    assert.are.equal("ASIAROLE3", credentials.resolve(opts).access_key)   -- resolve keeps nothing
  end)

  it("detects a source_profile loop", function()
    local getenv = env_with({ config = "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
      .. "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n" }, { AWS_PROFILE = "a" })
    local err = raised(function() credentials.resolve { getenv = getenv, assume_role = function() end } end)
    assert.matches("loops: a %-> b %-> a", err.message)
  end)

  it("says so when a role needs an MFA code", function()
    local getenv = env_with({ config = "[profile p]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
      .. "mfa_serial = arn:aws:iam::1:mfa/me\n[profile b]\naws_access_key_id = K\naws_secret_access_key = S\n" },
      { AWS_PROFILE = "p" })
    local err = raised(function() credentials.resolve { getenv = getenv, assume_role = function() end } end)
    assert.are.equal("NotImplemented", err.code)
    assert.matches("profile p: roles that need an MFA code", err.message, 1, true)
  end)

  it("lists everything it tried when nothing is found", function()
    local getenv, dir = env_with()
    local err = raised(function() credentials.resolve { getenv = getenv } end)
    assert.are.equal("NoCredentials", err.code)
    assert.matches("environment %(AWS_ACCESS_KEY_ID not set%)", err.message)
    assert.matches("profile default %(not in " .. dir:gsub("%p", "%%%0") .. "/%.aws/config", err.message)
    assert.matches("ECS container credentials", err.message)
    assert.matches("EC2 instance metadata %(disabled by AWS_EC2_METADATA_DISABLED%)", err.message)
    assert.are.equal(1, #tostring(err):gsub("[^\n]", "") + 1)
  end)

  it("resolves the region: stack, AWS_REGION, AWS_DEFAULT_REGION, profile", function()
    local getenv = env_with({ config = "[default]\nregion = sa-east-1\n" },
      { AWS_REGION = "eu-north-1", AWS_DEFAULT_REGION = "eu-central-1" })
    assert.are.same({ "ap-east-1", "stack" }, { credentials.region { getenv = getenv, region = "ap-east-1" } })
    assert.are.same({ "eu-north-1", "AWS_REGION" }, { credentials.region { getenv = getenv } })
    local g2 = env_with({ config = "[default]\nregion = sa-east-1\n" }, { AWS_DEFAULT_REGION = "eu-central-1" })
    assert.are.same({ "eu-central-1", "AWS_DEFAULT_REGION" }, { credentials.region { getenv = g2 } })
    local g3 = env_with({ config = "[default]\nregion = sa-east-1\n" })
    assert.are.equal("sa-east-1", (credentials.region { getenv = g3 }))
    assert.is_nil(credentials.region { getenv = env_with() })
  end)

  it("keeps a provider's credentials until they near expiry", function()
    local getenv = env_with({}, { AWS_ACCESS_KEY_ID = "K1", AWS_SECRET_ACCESS_KEY = "S" })
    local p = credentials.provider { getenv = getenv }
    local first = p:get()
    assert.are.equal(first, p:get())
    p:invalidate()
    assert.are_not.equal(first, p:get())
  end)
end)

describe("wpo.aws.credentials from IMDSv2 and ECS (local stub server)", function()

  local stub
  setup(function()
    local proc = assert(io.popen("exec /usr/bin/python3 " .. h.quote(h.REPO .. "/tests/servers/credstub.py")
      .. " --ecs-token 'Bearer ecs-secret' 2>/dev/null", "r"))
    local port, pid = (proc:read("l") or ""):match("^PORT=(%d+) PID=(%d+)")
    assert(port, "credstub did not start")
    stub = { proc = proc, pid = pid, url = "http://127.0.0.1:" .. port }
  end)
  teardown(function()
    if stub then
      os.execute("kill " .. stub.pid .. " 2>/dev/null")
      stub.proc:close()
    end
  end)

  local function stub_calls()
    -- wpo's own HTTP client: a fresh machine has no curl command.
    local task, http = require "wpo.task", require "wpo.core.http"
    local resp = assert(task.await(http.start { method = "GET", url = stub.url .. "/_stub/calls" }))
    return require("cjson").decode(resp.body)
  end

  it("gets a session token, the role, then its credentials (IMDSv2)", function()
    local before = #stub_calls()
    local getenv = awstest.env { HOME = "/nonexistent", AWS_EC2_METADATA_SERVICE_ENDPOINT = stub.url }
    local c = credentials.resolve { getenv = getenv }
    assert.are.same({ "IMDSAKID", "IMDS-secret", "IMDS-session-token" }, { c.access_key, c.secret_key, c.session_token })
    assert.matches("EC2 instance metadata %(wpo%-test%-role%)", c.source)
    assert.is_true(c.expiration > os.time() + 3600)
    local calls = stub_calls()
    assert.are.equal(before + 3, #calls)
    assert.are.equal("PUT", calls[before + 1].method)
    assert.are.equal("21600", calls[before + 1].headers["x-aws-ec2-metadata-token-ttl-seconds"])
    assert.are.equal("imds-session-token-0123456789", calls[before + 2].headers["x-aws-ec2-metadata-token"])
  end)

  it("resolves once for many tasks asking at the same time", function()
    local task = require "wpo.task"
    local before = #stub_calls()
    local getenv = awstest.env { HOME = "/nonexistent", AWS_EC2_METADATA_SERVICE_ENDPOINT = stub.url }
    local p = credentials.provider { getenv = getenv }
    local got = {}
    for i = 1, 8 do task.spawn(function() got[i] = p:get() end) end
    task.run()
    for i = 1, 8 do assert.are.equal(got[1], got[i]) end
    assert.are.equal("IMDSAKID", got[1].access_key)
    assert.are.equal(before + 3, #stub_calls())
  end)

  it("takes ECS container credentials (full URI + authorization token) before IMDS", function()
    local getenv = awstest.env { HOME = "/nonexistent", AWS_EC2_METADATA_SERVICE_ENDPOINT = stub.url,
      AWS_CONTAINER_CREDENTIALS_FULL_URI = stub.url .. "/ecs/credentials",
      AWS_CONTAINER_AUTHORIZATION_TOKEN = "Bearer ecs-secret" }
    local c = credentials.resolve { getenv = getenv }
    assert.are.same({ "ECSAKID", "ECS-session-token", "ECS container credentials" },
      { c.access_key, c.session_token, c.source })
  end)

  it("fails on an ECS endpoint that refuses, naming it, without falling back to IMDS", function()
    local getenv = awstest.env { HOME = "/nonexistent", AWS_EC2_METADATA_SERVICE_ENDPOINT = stub.url,
      AWS_CONTAINER_CREDENTIALS_FULL_URI = stub.url .. "/ecs/credentials",
      AWS_CONTAINER_AUTHORIZATION_TOKEN = "Bearer wrong" }
    local err = raised(function() credentials.resolve { getenv = getenv } end)
    assert.are.equal("CredentialsError", err.code)
    assert.matches("HTTP 401", err.message)
  end)

  it("refuses a plain-http container URI that is not local", function()
    local getenv = awstest.env { HOME = "/nonexistent", AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://10.1.2.3/creds" }
    local err = raised(function() credentials.resolve { getenv = getenv } end)
    assert.matches("must use https or a loopback", err.message)
  end)

  it("reports an unreachable metadata service in the list of what was tried, quickly", function()
    local port_proc = io.popen([[/usr/bin/python3 -c 'import socket; s = socket.socket(); ]]
      .. [[s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])']])
    local closed = port_proc:read("l")
    port_proc:close()
    local getenv = awstest.env { HOME = "/nonexistent", AWS_EC2_METADATA_SERVICE_ENDPOINT = "http://127.0.0.1:" .. closed }
    local started = os.time()
    local err = raised(function() credentials.resolve { getenv = getenv } end)
    assert.are.equal("NoCredentials", err.code)
    assert.matches("EC2 instance metadata %(instance metadata http://127%.0%.0%.1:%d+:", err.message)
    assert.is_true(os.time() - started <= 5)
  end)

  it("the environment still wins over ECS and IMDS", function()
    local getenv = awstest.env { HOME = "/nonexistent", AWS_EC2_METADATA_SERVICE_ENDPOINT = stub.url,
      AWS_CONTAINER_CREDENTIALS_FULL_URI = stub.url .. "/ecs/credentials",
      AWS_ACCESS_KEY_ID = "ENVKEY", AWS_SECRET_ACCESS_KEY = "S" }
    assert.are.equal("ENVKEY", credentials.resolve({ getenv = getenv }).access_key)
  end)
end)

describe("wpo.aws.credentials profiles: chains, web identity, IAM Identity Center settings", function()
  local dirs = {}
  after_each(function()
    for _, d in ipairs(dirs) do h.rmrf(d) end
    dirs = {}
  end)
  local function env_with(files, env)
    local dir, getenv = make_env(files, env)
    dirs[#dirs + 1] = dir
    return getenv, dir
  end
  -- an assume_role that hands out ASIA<role> keys and records who signed for what
  local function sts_recorder()
    local calls = {}
    return calls, function(source, params)
      local role = params.RoleArn:match("role/(.*)$")
      calls[#calls + 1] = { signer = source.access_key, role = role }
      return { Credentials = { AccessKeyId = "ASIA" .. role:upper(), SecretAccessKey = role .. "-secret",
        SessionToken = role .. "-token", Expiration = "2999-01-01T00:00:00Z" } }
    end
  end

  it("an explicitly chosen profile wins over the environment's keys; AWS_PROFILE does not", function()
    local getenv = env_with({ credentials = "[prod]\naws_access_key_id = PRODKEY\naws_secret_access_key = s\n" },
      { AWS_ACCESS_KEY_ID = "ENVKEY", AWS_SECRET_ACCESS_KEY = "e", AWS_PROFILE = "prod" })
    assert.are.equal("ENVKEY", credentials.resolve({ getenv = getenv }).access_key)
    assert.are.equal("PRODKEY", credentials.resolve({ getenv = getenv, profile = "prod" }).access_key)
  end)

  it("follows source_profile through roles of any depth, each link signed by the one before", function()
    local calls, assume_role = sts_recorder()
    local getenv = env_with({
      config = "[profile customer]\nrole_arn = arn:aws:iam::222233334444:role/customer\nsource_profile = deploy\n"
        .. "[profile deploy]\nrole_arn = arn:aws:iam::111122223333:role/deploy\nsource_profile = ops\n"
        .. "[profile ops]\nrole_arn = arn:aws:iam::111122223333:role/ops\nsource_profile = base\n",
      credentials = "[base]\naws_access_key_id = BASEKEY\naws_secret_access_key = b\n",
    }, { AWS_PROFILE = "customer" })
    local c = credentials.resolve { getenv = getenv, assume_role = assume_role }
    assert.are.equal("ASIACUSTOMER", c.access_key)
    assert.are.same({ { signer = "BASEKEY", role = "ops" }, { signer = "ASIAOPS", role = "deploy" },
      { signer = "ASIADEPLOY", role = "customer" } }, calls)
    assert.matches("profile customer (role arn:aws:iam::222233334444:role/customer)", c.source, 1, true)
  end)

  it("a source profile's own keys win over its role_arn (the SDKs' rule), unlike the chosen profile's", function()
    local calls, assume_role = sts_recorder()
    local getenv = env_with({ config = "[profile top]\nrole_arn = arn:aws:iam::1:role/top\nsource_profile = mid\n"
      .. "[profile mid]\nrole_arn = arn:aws:iam::1:role/mid\nsource_profile = top\n"
      .. "aws_access_key_id = MIDKEY\naws_secret_access_key = m\n" }, { AWS_PROFILE = "top" })
    assert.are.equal("ASIATOP", credentials.resolve({ getenv = getenv, assume_role = assume_role }).access_key)
    assert.are.same({ { signer = "MIDKEY", role = "top" } }, calls)
  end)

  it("refuses a source_profile loop of three, naming every profile in it", function()
    local getenv = env_with({ config = "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
      .. "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = c\n"
      .. "[profile c]\nrole_arn = arn:aws:iam::1:role/c\nsource_profile = a\n" }, { AWS_PROFILE = "b" })
    local err = raised(function() credentials.resolve { getenv = getenv, assume_role = function() end } end)
    assert.are.equal("InvalidConfiguration", err.code)
    assert.matches("source_profile chain loops: b -> c -> a -> b", err.message, 1, true)
  end)

  it("refuses a role with both source_profile and credential_source, or neither", function()
    local getenv = env_with({ config = "[profile r]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = r\n"
      .. "credential_source = Environment\naws_access_key_id = K\naws_secret_access_key = S\n"
      .. "[profile n]\nrole_arn = arn:aws:iam::1:role/n\n" })
    local err = raised(function() credentials.resolve { getenv = getenv, profile = "r" } end)
    assert.matches("profile r has both source_profile and credential_source", err.message, 1, true)
    err = raised(function() credentials.resolve { getenv = getenv, profile = "n" } end)
    assert.matches("profile n has role_arn but neither source_profile nor credential_source", err.message, 1, true)
  end)

  it("takes web identity from the environment over the profile's settings, unless the profile was chosen", function()
    local getenv, dir = env_with({ config = "[profile ci]\nweb_identity_token_file = /nonexistent/profile-token\n"
      .. "role_arn = arn:aws:iam::1:role/from-profile\n" },
      { AWS_PROFILE = "ci", AWS_WEB_IDENTITY_TOKEN_FILE = "/nonexistent/env-token",
        AWS_ROLE_ARN = "arn:aws:iam::1:role/from-env" })
    local err = raised(function() credentials.resolve { getenv = getenv } end)
    assert.are.equal("CredentialsError", err.code)
    assert.matches("^web identity %(AWS_WEB_IDENTITY_TOKEN_FILE%): cannot read /nonexistent/env%-token", err.message)
    assert.matches("/nonexistent/env-token", err.message, 1, true)
    err = raised(function() credentials.resolve { getenv = getenv, profile = "ci" } end)
    assert.matches("^profile ci %(web identity%): cannot read /nonexistent/profile%-token", err.message)
    assert.matches("/nonexistent/profile-token", err.message, 1, true)
    assert.truthy(dir)
  end)

  it("sends AssumeRoleWithWebIdentity unsigned with the token file's content, read again each time", function()
    local getenv, dir = env_with({}, { AWS_WEB_IDENTITY_TOKEN_FILE = "~/token", AWS_ROLE_ARN = "arn:aws:iam::1:role/ci",
      AWS_ROLE_SESSION_NAME = "gha-42" })
    local seen = {}
    local call = function(service, op, params, region, creds)
      seen[#seen + 1] = { service = service, op = op, token = params.WebIdentityToken, session = params.RoleSessionName,
        region = region, signed = creds ~= nil }
      return { Credentials = { AccessKeyId = "ASIAWEB" .. #seen, SecretAccessKey = "x", SessionToken = "y",
        Expiration = "2999-01-01T00:00:00Z" } }
    end
    h.write(dir .. "/token", "first-token\n")
    assert.are.equal("ASIAWEB1", credentials.resolve({ getenv = getenv, call = call, region = "eu-west-1" }).access_key)
    h.write(dir .. "/token", "second-token")
    assert.are.equal("ASIAWEB2", credentials.resolve({ getenv = getenv, call = call, region = "eu-west-1" }).access_key)
    assert.are.same({ service = "sts", op = "AssumeRoleWithWebIdentity", token = "first-token", session = "gha-42",
      region = "eu-west-1", signed = false }, seen[1])
    assert.are.equal("second-token", seen[2].token)
  end)

  it("requires a role with a web identity token file", function()
    local getenv = env_with({}, { AWS_WEB_IDENTITY_TOKEN_FILE = "/tmp/t" })
    local err = raised(function() credentials.resolve { getenv = getenv } end)
    assert.are.equal("InvalidConfiguration", err.code)
    assert.matches("web identity (AWS_WEB_IDENTITY_TOKEN_FILE): no role to assume: set AWS_ROLE_ARN", err.message,
      1, true)
  end)

  it("checks IAM Identity Center settings: missing keys, a missing sso-session, values that disagree", function()
    local getenv = env_with({ config = "[profile a]\nsso_session = corp\nsso_account_id = 111122223333\n"
      .. "[profile b]\nsso_session = nowhere\nsso_account_id = 1\nsso_role_name = R\n"
      .. "[profile c]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = R\nsso_region = us-east-1\n"
      .. "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n" })
    local err = raised(function() credentials.resolve { getenv = getenv, profile = "a" } end)
    assert.matches("profile a uses IAM Identity Center but lacks sso_role_name (in the profile or sso-session corp)",
      err.message, 1, true)
    err = raised(function() credentials.resolve { getenv = getenv, profile = "b" } end)
    assert.matches("profile b: sso_session nowhere has no [sso-session nowhere] section", err.message, 1, true)
    err = raised(function() credentials.resolve { getenv = getenv, profile = "c" } end)
    assert.matches("profile c: sso_region differs between the profile (us-east-1) and sso-session corp (eu-west-1)",
      err.message, 1, true)
  end)

  it("asks the portal at portal.sso.<sso_region> unsigned, the token in x-amz-sso_bearer_token", function()
    local getenv, dir = env_with({ config = "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\n"
      .. "sso_role_name = Admin\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
      .. "sso_region = ap-southeast-2\n" }, { AWS_PROFILE = "dev" })
    os.execute("mkdir -p " .. h.quote(dir .. "/.aws/sso/cache"))
    h.write(dir .. "/.aws/sso/cache/" .. credentials.sha1("corp") .. ".json", require("cjson").encode {
      accessToken = "cached-access-token", expiresAt = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + 3600) })
    local send, reqs = awstest.transport(function()
      return awstest.response(200, '{"roleCredentials":{"accessKeyId":"ASIASSO","secretAccessKey":"s",'
        .. '"sessionToken":"t","expiration":' .. (os.time() + 3600) * 1000 .. '}}')
    end)
    local c = credentials.resolve { getenv = getenv, send = send }
    assert.are.equal("ASIASSO", c.access_key)
    assert.are.equal(1, #reqs)
    assert.are.equal("https://portal.sso.ap-southeast-2.amazonaws.com/federation/credentials?"
      .. "account_id=111122223333&role_name=Admin", reqs[1].url)
    assert.are.equal("cached-access-token", reqs[1].headers["x-amz-sso_bearer_token"])
    assert.is_nil(reqs[1].headers.Authorization)
    -- expired, with a refresh token: SSO OIDC at oidc.<sso_region> first
    h.write(dir .. "/.aws/sso/cache/" .. credentials.sha1("corp") .. ".json", require("cjson").encode {
      accessToken = "old", expiresAt = "2020-01-01T00:00:00Z", refreshToken = "rt", clientId = "cid",
      clientSecret = "cs", registrationExpiresAt = "2999-01-01T00:00:00Z" })
    local send2, reqs2 = awstest.transport(function(req)
      if req.url:match("/token$") then
        return awstest.response(200, '{"accessToken":"new","expiresIn":3600,"tokenType":"Bearer"}')
      end
      return awstest.response(200, '{"roleCredentials":{"accessKeyId":"ASIASSO2","secretAccessKey":"s",'
        .. '"sessionToken":"t","expiration":' .. (os.time() + 3600) * 1000 .. '}}')
    end)
    assert.are.equal("ASIASSO2", credentials.resolve({ getenv = getenv, send = send2 }).access_key)
    assert.are.equal("https://oidc.ap-southeast-2.amazonaws.com/token", reqs2[1].url)
    assert.are.same({ clientId = "cid", clientSecret = "cs", grantType = "refresh_token", refreshToken = "rt" },
      require("cjson").decode(reqs2[1].body))
    assert.is_nil(reqs2[1].headers.Authorization)
    assert.are.equal("new", reqs2[2].headers["x-amz-sso_bearer_token"])
  end)

  it("names the SSO cache file by the sha1 of the session name, or of the start URL", function()
    assert.are.equal("a9993e364706816aba3e25717850c26c9cd0d89d", credentials.sha1("abc"))
    assert.are.equal("da39a3ee5e6b4b0d3255bfef95601890afd80709", credentials.sha1(""))
    local inputs = { "my-sso", "https://acme.awsapps.com/start", string.rep("x", 55), string.rep("y", 56),
      string.rep("z", 64), string.rep("\xff", 200) }
    local py = io.popen("/usr/bin/python3 -c 'import hashlib, sys\nfor line in sys.stdin.buffer.read().split(b\"\\0\"):"
      .. " print(hashlib.sha1(line).hexdigest())' < " .. h.quote((function()
        local dir = h.tmpdir()
        dirs[#dirs + 1] = dir
        h.write(dir .. "/in", table.concat(inputs, "\0"))
        return dir .. "/in"
      end)()))
    for _, s in ipairs(inputs) do assert.are.equal(py:read("l"), credentials.sha1(s)) end
    py:close()
  end)
end)

describe("wpo.aws.credentials.split_command, as botocore splits credential_process", function()
  it("splits as Python's shlex.split does (which botocore uses), case for case", function()
    local cases = {
      "/opt/bin/vault-creds --role deploy",
      "  spaced   out\targs  ",
      [['single quoted' "double quoted" mixed'q'"d"end]],
      [[esc\ aped back\\slash \"quote]],
      [["in \"double\" \\ and \$ \n" 'in \single']],
      [[a#b c|d e;f $HOME ~/x *]],
      [['' "" x]],
      [[aws-vault exec "my profile" --json]],
    }
    local dir = h.tmpdir()
    h.write(dir .. "/in", table.concat(cases, "\0"))
    local py = io.popen("/usr/bin/python3 -c 'import json, shlex, sys\nfor c in sys.stdin.read().split(\"\\0\"):"
      .. " print(json.dumps(shlex.split(c)))' < " .. h.quote(dir .. "/in"))
    for _, c in ipairs(cases) do
      local want = require("cjson").decode(py:read("l"))
      assert.are.same(want, (credentials.split_command(c)), c)
    end
    py:close()
    h.rmrf(dir)
  end)

  it("refuses an unclosed quote and a trailing backslash", function()
    assert.are.same({ nil, "no closing quotation" }, { credentials.split_command([[a 'b]]) })
    assert.are.same({ nil, "no closing quotation" }, { credentials.split_command([[a "b]]) })
    assert.are.same({ nil, "no escaped character" }, { credentials.split_command([[a b\]]) })
  end)
end)

describe("wpo.aws.credentials providers: renewal before expiry", function()
  local task = require "wpo.task"
  local now
  -- a source counting its loads; each gives credentials lasting `life` seconds
  local function counting(life, fail_on)
    local src = { loads = 0 }
    src.name = "test source"
    src.load = function()
      src.loads = src.loads + 1
      task.sleep(5)                 -- a round trip: other tasks run meanwhile
      if fail_on and fail_on[src.loads] then error(errors.new { code = "CredentialsError", message = "down" }, 0) end
      return { access_key = "KEY" .. src.loads, secret_key = "s", expiration = now + life, source = "test source" }
    end
    return src
  end
  before_each(function() now = 1700000000 end)
  local function provider(src) return credentials.from_source(src, { now = function() return now end }) end

  it("renews in the background once less than 15 minutes remain, signing with the current ones meanwhile", function()
    local src = counting(3600)
    local p = provider(src)
    local got = {}
    task.spawn(function() got[1] = p:get().access_key end)
    task.run()
    now = now + 3600 - 800                 -- 13 min 20 s left: advisory
    task.spawn(function()
      got[2] = p:get().access_key          -- not waiting for the renewal
      got[3] = p:get().access_key
    end)
    task.run()
    assert.are.same({ "KEY1", "KEY1", "KEY1" }, got)
    assert.are.equal(2, src.loads)
    assert.are.equal("KEY2", p:get().access_key)
    assert.are.equal(2, src.loads)
  end)

  it("waits once less than 10 minutes remain, and concurrent callers share one renewal", function()
    local src = counting(3600)
    local p = provider(src)
    p:get()
    now = now + 3600 - 300
    local got = {}
    for i = 1, 8 do task.spawn(function() got[i] = p:get().access_key end) end
    task.run()
    for i = 1, 8 do assert.are.equal("KEY2", got[i]) end
    assert.are.equal(2, src.loads)
  end)

  it("keeps the current credentials when a background renewal fails, and tries again a minute later", function()
    local src = counting(3600, { [2] = true })
    local p = provider(src)
    p:get()
    now = now + 3600 - 800
    task.spawn(function() assert.are.equal("KEY1", p:get().access_key) end)
    task.run()
    assert.are.equal(2, src.loads)
    now = now + 30
    task.spawn(function() assert.are.equal("KEY1", p:get().access_key) end)
    task.run()
    assert.are.equal(2, src.loads)          -- not again within the minute
    now = now + 31
    task.spawn(function() p:get() end)
    task.run()
    assert.are.equal(3, src.loads)
    assert.are.equal("KEY3", p:get().access_key)
  end)

  it("raises when a renewal the caller must wait for fails", function()
    local src = counting(3600, { [2] = true })
    local p = provider(src)
    p:get()
    now = now + 3600 - 100
    local err = raised(function() p:get() end)
    assert.are.equal("down", err.message)
  end)

  it("refuses credentials that have already expired, naming the source", function()
    local p = provider(counting(-60))
    local err = raised(function() p:get() end)
    assert.matches("^test source: the credentials it gave expired at %d%d%d%d%-", err.message)
  end)

  it("uses short-lived credentials for a minute instead of fetching on every call", function()
    local src = counting(300)                -- 5 minutes: inside the mandatory window from the start
    local p = provider(src)
    assert.are.equal("KEY1", p:get().access_key)
    now = now + 59
    assert.are.equal("KEY1", p:get().access_key)
    now = now + 2
    assert.are.equal("KEY2", p:get().access_key)
    assert.are.equal(2, src.loads)
  end)
end)
