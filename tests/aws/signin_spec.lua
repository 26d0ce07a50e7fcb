-- How people and CI sign in, end to end against tests/fakeaws: chains of
-- roles, and the ways they go wrong — one line naming the profile, exit 1,
-- and no secret in stdout or stderr, with WPO_LOG=debug too.
-- `/_fake/calls?by=key|arn` proves whose credentials signed.
local h = require "helpers"
local cjson = require "cjson"
local fakeaws = require "fakeaws"

local fs = require "wpo.core.fs"

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
