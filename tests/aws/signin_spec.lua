-- How people and CI sign in, end to end against tests/fakeaws: credential_process,
-- web identity (environment and profile), IAM Identity Center (sso-session and
-- the legacy form, an expired token renewed through SSO OIDC), chains of roles,
-- credentials renewed while calls run; and every way each goes wrong — one line
-- naming the profile or source, exit 1, and no secret in stdout or stderr, with
-- WPO_LOG=debug too. `/_fake/calls?by=key|arn` proves whose credentials signed.
local h = require "helpers"
local cjson = require "cjson"
local fakeaws = require "fakeaws"
local awstest = require "awstest"

local aws = require "wpo.aws"
local credentials = require "wpo.aws.credentials"
local fs = require "wpo.core.fs"
local task = require "wpo.task"

local ACCOUNT = "123456789012"

describe("signing in (against fakeaws)", function()
  local f, dir
  setup(function() f = fakeaws.start() end)
  teardown(function() if f then f:stop() end end)
  before_each(function()
    f:reset()
    dir = h.tmpdir()
    assert(fs.mkdir_p(dir .. "/.aws/sso/cache"))
  end)
  after_each(function() h.rmrf(dir) end)

  -- wpo's environment: fakeaws's endpoint, no keys, the shared files in dir
  local function env(extra)
    local e = {}
    for k, v in pairs(f.env) do e[k] = v end
    e.HOME = dir
    e.AWS_ACCESS_KEY_ID, e.AWS_SECRET_ACCESS_KEY = "", ""
    e.AWS_PROFILE, e.AWS_DEFAULT_PROFILE = "", ""
    e.AWS_CONFIG_FILE = dir .. "/.aws/config"
    e.AWS_SHARED_CREDENTIALS_FILE = dir .. "/.aws/credentials"
    for k, v in pairs(extra or {}) do e[k] = v end
    return e
  end
  local function config(text) h.write(dir .. "/.aws/config", text) end
  local function shared_credentials(text) h.write(dir .. "/.aws/credentials", text) end

  -- wpo aws [args] sts GetCallerIdentity
  local function whoami(args, extra)
    local argv = { "aws" }
    for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
    argv[#argv + 1] = "sts"
    argv[#argv + 1] = "GetCallerIdentity"
    return h.wpo(argv, { env = env(extra) })
  end
  local function arn_of(r)
    assert.are.equal(0, r.status, r.stderr)
    return cjson.decode(r.stdout).Arn
  end

  -- nothing fakeaws handed out, nor any of `also`, appears in r's output
  local function no_secrets(r, also)
    local out = r.stdout .. r.stderr
    local secrets = f:secrets()
    for _, s in ipairs(also or {}) do secrets[#secrets + 1] = s end
    for _, s in ipairs(secrets) do
      assert.is_nil(out:find(s, 1, true), "a secret was printed: " .. s:sub(1, 6) .. "...")
    end
  end

  -- the same, and with WPO_LOG=debug (whose log must be there) -> the debug run
  local function quiet_in_debug(args, extra, also)
    local e = {}
    for k, v in pairs(extra or {}) do e[k] = v end
    e.WPO_LOG = "debug"
    local d = whoami(args, e)
    assert.matches("wpo%[debug%] aws sts GetCallerIdentity", d.stderr)
    no_secrets(d, also)
    return d
  end

  -- a failure: exit 1, one line on stderr matching pattern (plain text), no
  -- secret printed, with and without WPO_LOG=debug -> the line
  local function fails(args, extra, text, also)
    local r = whoami(args, extra)
    assert.are.equal(1, r.status, r.stdout .. r.stderr)
    local lines = {}
    for l in r.stderr:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(1, #lines, r.stderr)
    assert.matches(text, lines[1], 1, true)
    no_secrets(r, also)
    local d = quiet_in_debug(args, extra, also)
    assert.are.equal(1, d.status)
    return lines[1]
  end

  -- an SSO login as `aws sso login` leaves it: the cache file named by the
  -- sha1 of the session name (or of the start URL) -> the cached document
  local function sso_login(cache_name, doc)
    local login = f:post("/_fake/sso/login", doc)
    local path = dir .. "/.aws/sso/cache/" .. credentials.sha1(cache_name) .. ".json"
    assert(fs.write_atomic(path, cjson.encode(login)))
    return login, path
  end
  local SSO_CONFIG = "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Admin\n"
    .. "region = eu-west-1\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
    .. "sso_region = eu-west-1\n"

  ------------------------------------------------------------ credential_process

  describe("credential_process", function()
    -- a helper at a path with a space (run without a shell: the words are botocore's)
    local function helper(body)
      h.write(dir .. "/my vault", "#!/bin/sh\n" .. body)
      os.execute("chmod 700 " .. h.quote(dir .. "/my vault"))
      config("[profile vault]\ncredential_process = \"" .. dir .. "/my vault\" --file " .. dir .. "/creds.json\n")
    end
    local PRINT = '[ "$1" = --file ] || exit 9\necho run >> "$(dirname "$2")/runs"\ncat "$2"\n'

    it("signs with what the helper prints (temporary or permanent keys)", function()
      helper(PRINT)
      local issued = f:post("/_fake/credentials", { name = "vault-user", lifetime = 3600 })
      h.write(dir .. "/creds.json", cjson.encode(issued))
      assert.are.equal("arn:aws:iam::" .. ACCOUNT .. ":user/vault-user", arn_of(whoami { "--profile", "vault" }))
      assert.are.same({ ["sts.GetCallerIdentity"] = 1 }, f:signers()[issued.AccessKeyId])
      quiet_in_debug({ "--profile", "vault" })
      local permanent = f:post("/_fake/credentials", { name = "long-lived", permanent = true })
      h.write(dir .. "/creds.json", cjson.encode(permanent))
      assert.are.equal("arn:aws:iam::" .. ACCOUNT .. ":user/long-lived",
        arn_of(whoami({}, { AWS_PROFILE = "vault" })))
      no_secrets(quiet_in_debug({}, { AWS_PROFILE = "vault" }), { permanent.SecretAccessKey })
    end)

    it("fails on a helper that exits non-zero, without printing what it wrote", function()
      local issued = f:post("/_fake/credentials", { name = "vault-user" })
      h.write(dir .. "/creds.json", cjson.encode(issued))
      helper('cat "$2"\nexit 3\n')
      local line = fails({ "--profile", "vault" }, nil, "profile vault (credential_process): ")
      assert.matches("my vault exited with status 3", line, 1, true)
    end)

    it("fails on a helper that prints something other than JSON", function()
      helper('echo "AKIAEXAMPLESECRET is not json"\n')
      fails({ "--profile", "vault" }, nil, "profile vault (credential_process): ", { "AKIAEXAMPLESECRET" })
      helper('echo \'{"Version": 2, "AccessKeyId": "AKIAV2SECRET", "SecretAccessKey": "V2SECRETKEY"}\'\n')
      fails({ "--profile", "vault" }, nil, "printed Version 2; the credential_process format is Version 1",
        { "AKIAV2SECRET", "V2SECRETKEY" })
    end)

    it("fails on a helper that prints expired credentials", function()
      helper(PRINT)
      h.write(dir .. "/creds.json", cjson.encode(f:post("/_fake/credentials", { name = "stale", lifetime = -60 })))
      fails({ "--profile", "vault" }, nil, "profile vault (credential_process): the credentials it gave expired at ")
    end)

    it("runs the helper again when its credentials near expiry, not before", function()
      helper(PRINT)
      local offset = 0
      local first = f:post("/_fake/credentials", { name = "first", lifetime = 1800 })
      h.write(dir .. "/creds.json", cjson.encode(first))
      local p = credentials.provider { profile = "vault", getenv = awstest.env(env()),
        now = function() return os.time() + offset end }
      local sts = aws.client("sts", { region = "us-east-1", credentials = p, getenv = awstest.env(env()) })
      local function runs() return select(2, h.slurp(dir .. "/runs"):gsub("run", "")) end
      sts:call("GetCallerIdentity", {})
      f:advance(600)
      offset = offset + 600                           -- 20 min left: kept
      sts:call("GetCallerIdentity", {})
      assert.are.equal(1, runs())
      f:advance(400)
      offset = offset + 400                           -- 13 min 20 s left: renewed
      local second = f:post("/_fake/credentials", { name = "second", lifetime = 3600 })
      h.write(dir .. "/creds.json", cjson.encode(second))
      sts:call("GetCallerIdentity", {})
      assert.are.equal("arn:aws:iam::" .. ACCOUNT .. ":user/second", sts:call("GetCallerIdentity", {}).Arn)
      assert.are.equal(2, runs())
      local by_arn = f:signers("arn")
      assert.are.equal(2, by_arn["arn:aws:iam::" .. ACCOUNT .. ":user/first"]["sts.GetCallerIdentity"])
      assert.are.equal(2, by_arn["arn:aws:iam::" .. ACCOUNT .. ":user/second"]["sts.GetCallerIdentity"])
    end)
  end)

  ---------------------------------------------------------------- web identity

  describe("web identity", function()
    local ROLE = "arn:aws:iam::" .. ACCOUNT .. ":role/ci"
    local function token(doc)
      local t = f:post("/_fake/sts/web-identity-token", doc or { subject = "repo:acme/infra:ref:refs/heads/main" })
      return t.token
    end

    it("from the environment (GitHub Actions, EKS): AssumeRoleWithWebIdentity unsigned, then the role signs", function()
      h.write(dir .. "/token", token())
      local e = { AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/token", AWS_ROLE_ARN = ROLE, AWS_ROLE_SESSION_NAME = "gha-7" }
      assert.are.equal("arn:aws:sts::" .. ACCOUNT .. ":assumed-role/ci/gha-7", arn_of(whoami({}, e)))
      local by_arn = f:signers("arn")
      assert.are.same({ ["sts.AssumeRoleWithWebIdentity"] = 1 }, by_arn.unsigned)
      assert.are.same({ ["sts.GetCallerIdentity"] = 1 }, by_arn["arn:aws:sts::" .. ACCOUNT .. ":assumed-role/ci/gha-7"])
      quiet_in_debug({}, e)
    end)

    it("from a profile's web_identity_token_file and role_arn", function()
      h.write(dir .. "/token", token())
      config("[profile ci]\nweb_identity_token_file = " .. dir .. "/token\nrole_arn = " .. ROLE
        .. "\nrole_session_name = from-profile\n")
      assert.are.equal("arn:aws:sts::" .. ACCOUNT .. ":assumed-role/ci/from-profile",
        arn_of(whoami { "--profile", "ci" }))
    end)

    it("renews during a run, reading the token file again, never failing a call; callers share renewals", function()
      h.write(dir .. "/token", token { subject = "ci", lifetime = 1800 })
      local offset = 0
      local e = env { AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/token", AWS_ROLE_ARN = ROLE,
        AWS_ROLE_SESSION_NAME = "run" }
      local p = credentials.provider { getenv = awstest.env(e), now = function() return os.time() + offset end }
      local ec2 = aws.client("ec2", { region = "us-east-1", credentials = p, getenv = awstest.env(e) })
      local failures = {}
      local function calls(n)
        for _ = 1, n do
          task.spawn(function()
            local ok, err = ec2:pcall("DescribeVpcs", {})
            if not ok then failures[#failures + 1] = tostring(err) end
          end)
        end
        task.run()
      end
      calls(6)
      local first
      for k in pairs(f:signers("key")) do if k ~= "unsigned" then first = k end end
      -- 50 minutes on: the role's credentials have 10 min 40 s left, the first token has expired
      f:advance(2960)
      offset = offset + 2960
      h.write(dir .. "/token", token { subject = "ci", lifetime = 3600 })
      calls(6)                                   -- renewed in the background while these sign
      calls(6)
      -- 20 more minutes: the first credentials have expired; the renewed ones serve
      f:advance(1200)
      offset = offset + 1200
      calls(6)
      assert.are.same({}, failures)
      local detail = f:calls(true)
      assert.are.same({ count = 2, ok = 2, errors = {} }, detail["sts.AssumeRoleWithWebIdentity"])
      assert.are.same({ count = 24, ok = 24, errors = {} }, detail["ec2.DescribeVpcs"])
      local keys = f:signers("key")
      local second
      for k in pairs(keys) do if k ~= "unsigned" and k ~= first then second = k end end
      assert.is_string(second)
      assert.is_true(keys[first]["ec2.DescribeVpcs"] >= 6)
      assert.is_true(keys[second]["ec2.DescribeVpcs"] >= 12)
      -- 10 minutes before the renewed ones expire, callers wait, sharing one renewal
      f:advance(1900)
      offset = offset + 1900
      h.write(dir .. "/token", token { subject = "ci", lifetime = 3600 })
      calls(8)
      assert.are.same({}, failures)
      assert.are.equal(3, f:calls(true)["sts.AssumeRoleWithWebIdentity"].ok)
    end)

    it("fails on a missing token file, naming the variable and the path", function()
      local line = fails({}, { AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/absent", AWS_ROLE_ARN = ROLE },
        "web identity (AWS_WEB_IDENTITY_TOKEN_FILE): cannot read ")
      assert.matches(dir .. "/absent", line, 1, true)
    end)

    it("fails on a token the identity provider no longer vouches for", function()
      local t = token { subject = "ci", lifetime = 60 }
      h.write(dir .. "/token", t)
      f:advance(61)
      fails({}, { AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/token", AWS_ROLE_ARN = ROLE },
        "web identity (AWS_WEB_IDENTITY_TOKEN_FILE): sts AssumeRoleWithWebIdentity: ExpiredTokenException", { t })
    end)
  end)

  --------------------------------------------------------- IAM Identity Center

  describe("IAM Identity Center", function()
    it("trades the cached token of an sso-session for the role's credentials", function()
      local login = sso_login("corp", { user = "alice", region = "eu-west-1",
        start_url = "https://corp.awsapps.com/start" })
      config(SSO_CONFIG)
      local arn = arn_of(whoami { "--profile", "dev" })
      assert.matches("^arn:aws:sts::111122223333:assumed%-role/AWSReservedSSO_Admin_%x+/alice$", arn)
      assert.are.same({ ["sso.GetRoleCredentials"] = 1 }, f:signers("arn").unsigned)
      assert.are.same({ ["sts.GetCallerIdentity"] = 1 }, f:signers("arn")[arn])
      quiet_in_debug({ "--profile", "dev" }, nil, { login.accessToken })
    end)

    it("reads the legacy form's token from the cache named by the start URL (its UTC-suffixed time too)", function()
      local login, path = sso_login("https://legacy.awsapps.com/start", { user = "bob", refresh = false })
      login.expiresAt = os.date("!%Y-%m-%dT%H:%M:%SUTC", os.time() + 3600)      -- as older AWS CLIs wrote it
      h.write(path, cjson.encode(login))
      config("[profile old]\nsso_start_url = https://legacy.awsapps.com/start\nsso_region = us-east-1\n"
        .. "sso_account_id = 444455556666\nsso_role_name = ReadOnly\n")
      assert.matches("^arn:aws:sts::444455556666:assumed%-role/AWSReservedSSO_ReadOnly_%x+/bob$",
        arn_of(whoami({}, { AWS_PROFILE = "old" })))
    end)

    it("renews an expired access token with the cached refresh token and writes it back (mode 0600)", function()
      local login, path = sso_login("corp", { user = "alice", lifetime = -60,
        start_url = "https://corp.awsapps.com/start" })
      config(SSO_CONFIG)
      -- with the debug log on: neither the old nor the new tokens, nor the client secret, show
      local d = quiet_in_debug({ "--profile", "dev" }, nil, { login.accessToken, login.refreshToken,
        login.clientSecret })
      assert.matches("AWSReservedSSO_Admin", arn_of(d))
      assert.matches("aws sso%-oidc CreateToken params", d.stderr)
      assert.are.same({ ["sso-oidc.CreateToken"] = 1, ["sso.GetRoleCredentials"] = 1 }, f:signers().unsigned)
      local cached = cjson.decode(h.slurp(path))
      assert.are_not.equal(login.accessToken, cached.accessToken)
      assert.are_not.equal(login.refreshToken, cached.refreshToken)
      assert.are.equal(login.clientId, cached.clientId)
      assert.are.equal("https://corp.awsapps.com/start", cached.startUrl)
      assert.is_true(aws.time(cached.expiresAt) > os.time() + 3000)
      assert.are.equal(tonumber("600", 8), fs.stat(path).mode)
      -- the renewed token serves the next run as it is
      assert.matches("AWSReservedSSO_Admin", arn_of(whoami { "--profile", "dev" }))
      assert.are.equal(1, f:signers().unsigned["sso-oidc.CreateToken"])
    end)

    it("sends the portal and OIDC calls where AWS_ENDPOINT_URL_SSO and _SSO_OIDC say", function()
      sso_login("corp", { user = "alice", lifetime = -60 })
      config(SSO_CONFIG)
      local nowhere = "http://127.0.0.1:9"          -- discard: nothing listens
      local r = whoami({ "--profile", "dev" }, { AWS_ENDPOINT_URL = nowhere, AWS_ENDPOINT_URL_SSO = f.url,
        AWS_ENDPOINT_URL_SSO_OIDC = f.url, AWS_ENDPOINT_URL_STS = f.url, AWS_MAX_ATTEMPTS = "1" })
      assert.matches("AWSReservedSSO_Admin", arn_of(r))
    end)

    it("says to run aws sso login when the token has expired and there is no refresh token", function()
      local login = sso_login("corp", { user = "alice", lifetime = -60, refresh = false })
      config(SSO_CONFIG)
      local line = fails({ "--profile", "dev" }, nil,
        "profile dev: the IAM Identity Center session (sso-session corp) expired at ", { login.accessToken })
      assert.matches("(it holds no refresh token); run aws sso login --profile dev", line, 1, true)
      assert.is_nil(f:calls()["sso.GetRoleCredentials"])
    end)

    it("says to run aws sso login when there is no cached session, or the portal refuses it", function()
      config(SSO_CONFIG)
      fails({ "--profile", "dev" }, nil, "profile dev: no IAM Identity Center session for sso-session corp")
      local login = sso_login("corp", { user = "alice" })
      local doc = cjson.decode(h.slurp(dir .. "/.aws/sso/cache/" .. credentials.sha1("corp") .. ".json"))
      doc.accessToken = "aoa-revoked-token"
      h.write(dir .. "/.aws/sso/cache/" .. credentials.sha1("corp") .. ".json", cjson.encode(doc))
      fails({ "--profile", "dev" }, nil, "profile dev: IAM Identity Center no longer accepts the session "
        .. "(sso-session corp); run aws sso login --profile dev", { "aoa-revoked-token", login.accessToken })
    end)
  end)

  ---------------------------------------------------------------------- chains

  describe("chains of roles", function()
    it("keys -> role -> role: each link signs for the next", function()
      shared_credentials("[base]\naws_access_key_id = test\naws_secret_access_key = test\n")
      config("[profile deploy]\nrole_arn = arn:aws:iam::111122223333:role/deploy\nsource_profile = base\n"
        .. "role_session_name = dd\n[profile customer]\nrole_arn = arn:aws:iam::222233334444:role/customer\n"
        .. "source_profile = deploy\nrole_session_name = cc\n")
      assert.are.equal("arn:aws:sts::222233334444:assumed-role/customer/cc",
        arn_of(whoami({}, { AWS_PROFILE = "customer" })))
      local by_arn = f:signers("arn")
      assert.are.same({ ["sts.AssumeRole"] = 1 }, by_arn["arn:aws:iam::" .. ACCOUNT .. ":user/fakeaws"])
      assert.are.same({ ["sts.AssumeRole"] = 1 }, by_arn["arn:aws:sts::111122223333:assumed-role/deploy/dd"])
      assert.are.same({ ["sts.GetCallerIdentity"] = 1 }, by_arn["arn:aws:sts::222233334444:assumed-role/customer/cc"])
      quiet_in_debug({}, { AWS_PROFILE = "customer" })
    end)

    it("SSO -> role -> role: each link signs for the next", function()
      sso_login("corp", { user = "alice" })
      config(SSO_CONFIG .. "[profile deploy]\nrole_arn = arn:aws:iam::111122223333:role/deploy\nsource_profile = dev\n"
        .. "role_session_name = deploy-session\n"
        .. "[profile customer]\nrole_arn = arn:aws:iam::222233334444:role/customer\nsource_profile = deploy\n"
        .. "role_session_name = customer-session\n")
      assert.are.equal("arn:aws:sts::222233334444:assumed-role/customer/customer-session",
        arn_of(whoami { "--profile", "customer" }))
      local by_arn = f:signers("arn")
      local sso_arn
      for arn in pairs(by_arn) do if arn:match("AWSReservedSSO_Admin") then sso_arn = arn end end
      assert.are.same({ ["sts.AssumeRole"] = 1 }, by_arn[sso_arn])
      assert.are.same({ ["sts.AssumeRole"] = 1 },
        by_arn["arn:aws:sts::111122223333:assumed-role/deploy/deploy-session"])
      assert.are.same({ ["sts.GetCallerIdentity"] = 1 },
        by_arn["arn:aws:sts::222233334444:assumed-role/customer/customer-session"])
      quiet_in_debug({ "--profile", "customer" })
    end)

    it("fails on a role that cannot be assumed, naming the profile and the role", function()
      -- once IAM roles exist in fakeaws, only they can be assumed
      local r = h.wpo({ "aws", "iam", "CreateRole", cjson.encode { RoleName = "deploy",
        AssumeRolePolicyDocument = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
          .. '"Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}' } },
        { env = f.env })
      assert.are.equal(0, r.status, r.stderr)
      shared_credentials("[base]\naws_access_key_id = test\naws_secret_access_key = test\n")
      config("[profile nope]\nrole_arn = arn:aws:iam::" .. ACCOUNT .. ":role/missing\nsource_profile = base\n")
      fails({ "--profile", "nope" }, nil, "profile nope (role arn:aws:iam::" .. ACCOUNT .. ":role/missing): "
        .. "sts AssumeRole: AccessDenied: User: arn:aws:iam::" .. ACCOUNT .. ":user/fakeaws is not authorized")
    end)

    it("refuses a source_profile cycle, naming the profiles", function()
      config("[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
        .. "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n")
      fails({ "--profile", "a" }, nil, "the profiles' source_profile chain loops: a -> b -> a")
      assert.are.same({}, f:calls())
    end)
  end)
end)
