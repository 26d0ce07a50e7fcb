-- Per-stack AWS settings and providers: wpo.stack{ aws = { profile, region,
-- assume_role } } and stack:provider(name, ...) decide which account and
-- region each resource lives in (fakeaws puts the signing region and the
-- assumed role's account in the ARNs it makes, which proves both).
local h = require "helpers"
local fakeaws = require "fakeaws"
local cjson = require "cjson"
local stack = require "wpo.stack"

local STACK = [[
local s = wpo.stack { name = "p", region = "eu-west-1",
  aws = { assume_role = { role_arn = "arn:aws:iam::222222222222:role/deployer", session_name = "wpo-test" } } }
local edge = s:provider("edge", { region = "us-east-1",
  assume_role = { role_arn = "arn:aws:iam::333333333333:role/edge", external_id = "acme-ext" } })
s:add("aws.ssm.parameter", "home", { name = "/p/home", value = "eu" })
s:add("aws.ssm.parameter", "edge", { name = "/p/edge", value = "us", provider = PROVIDER })
return s
]]

describe("stack AWS settings and providers", function()
  local f, dir
  setup(function() f = fakeaws.start { region = "eu-west-1" } end)
  teardown(function() if f then f:stop() end end)
  before_each(function()
    f:reset()
    dir = h.tmpdir()
  end)
  after_each(function() h.rmrf(dir) end)

  local function write(provider)
    h.write(dir .. "/s.lua", (STACK:gsub("PROVIDER", provider)))
  end
  local function arns()
    local st = cjson.decode(h.slurp(dir .. "/.wpo/p.state.json"))
    local out = {}
    for _, r in ipairs(st.resources) do out[r.address] = r.outputs.arn end
    return out
  end

  it("creates each resource in its provider's region and account, and plans no change after", function()
    write("edge")
    local r = h.wpo({ "run", dir .. "/s.lua", "--yes" }, { env = f.env })
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.same({
      ["aws.ssm.parameter.home"] = "arn:aws:ssm:eu-west-1:222222222222:parameter/p/home",
      ["aws.ssm.parameter.edge"] = "arn:aws:ssm:us-east-1:333333333333:parameter/p/edge",
    }, arns())
    assert.are.equal(2, f:calls()["sts.AssumeRole"], "one AssumeRole per role, shared by the run's clients")
    local again = h.wpo({ "plan", dir .. "/s.lua", "--detailed-exitcode" }, { env = f.env })
    assert.are.equal(0, again.status, again.stdout .. again.stderr)
    local d = h.wpo({ "destroy", dir .. "/s.lua", "--yes" }, { env = f.env })
    assert.are.equal(0, d.status, d.stdout .. d.stderr)
    assert.are.same({}, (f:state().ssm or {}).parameter or {})
  end)

  it("replaces a resource whose provider changes, saying why", function()
    write("edge")
    assert.are.equal(0, h.wpo({ "run", dir .. "/s.lua", "--yes" }, { env = f.env }).status)
    write("nil")
    local p = h.wpo({ "plan", dir .. "/s.lua" }, { env = f.env })
    assert.are.equal(0, p.status, p.stderr)
    assert.matches("its provider changed from edge to the stack's", p.stdout)
    assert.are.equal(0, h.wpo({ "run", dir .. "/s.lua", "--yes" }, { env = f.env }).status)
    assert.are.equal("arn:aws:ssm:eu-west-1:222222222222:parameter/p/edge", arns()["aws.ssm.parameter.edge"])
  end)

  it("names the role that cannot be assumed, and prints no secret", function()
    -- once IAM roles exist in fakeaws, only those may be assumed
    local iam = require("wpo.aws").client("iam", { region = "us-east-1", endpoint = f.url, rate_limit = false,
      credentials = { access_key = "test", secret_key = "test" } })
    iam:call("CreateRole", { RoleName = "other", AssumeRolePolicyDocument = cjson.encode({ Version = "2012-10-17",
      Statement = { { Effect = "Allow", Principal = { AWS = "*" }, Action = "sts:AssumeRole" } } }) })
    write("edge")
    h.wpo({ "plan", dir .. "/s.lua" }, { env = f.env })
    h.write(dir .. "/s2.lua", [[
local s = wpo.stack { name = "q", region = "eu-west-1",
  aws = { assume_role = { role_arn = "arn:aws:iam::222222222222:role/deployer" } } }
s:add("aws.ssm.parameter", "home", { name = "/q/home", value = "eu" })
return s
]])
    local r = h.wpo({ "run", dir .. "/s2.lua", "--yes" }, { env = f.env })
    assert.are.equal(1, r.status)
    assert.matches("AssumeRoleFailed: cannot assume the role arn:aws:iam::222222222222:role/deployer", r.stderr)
    assert.matches("AccessDenied", r.stderr)
    assert.not_matches("test", (r.stderr:gsub("wpo%-test", "")):gsub("/tmp/[%w.]+", ""), 1, true)
  end)

  describe("checks", function()
    local function load_error(src)
      h.write(dir .. "/s.lua", src)
      local ok, err = pcall(stack.load, dir .. "/s.lua")
      assert.is_false(ok)
      return tostring(err)
    end

    it("names what is wrong in the settings, at the line", function()
      assert.matches("s%.lua:1: wpo%.stack: aws: unknown key 'profil' %(did you mean 'profile'%?%)",
        load_error('return wpo.stack { name = "t", aws = { profil = "x" } }\n'))
      assert.matches("s%.lua:1: wpo%.stack: aws%.assume_role%.role_arn must be a role ARN",
        load_error('return wpo.stack { name = "t", aws = { assume_role = { role_arn = "deployer" } } }\n'))
      assert.matches("s%.lua:1: wpo%.stack: aws%.assume_role%.duration must be a whole number of seconds from 900",
        load_error('return wpo.stack { name = "t", aws = { assume_role = { role_arn = '
          .. '"arn:aws:iam::123456789012:role/d", duration = 60 } } }\n'))
      assert.matches("s%.lua:1: wpo%.stack: region %(eu%-west%-1%) and aws%.region %(us%-east%-1%) differ",
        load_error('return wpo.stack { name = "t", region = "eu-west-1", aws = { region = "us-east-1" } }\n'))
      assert.matches("s%.lua:3: duplicate provider 'edge' %(first declared at .*s%.lua:2%)",
        load_error('local s = wpo.stack { name = "t" }\ns:provider("edge", {})\ns:provider("edge", {})\nreturn s\n'))
      assert.matches("s%.lua:3: wpo%.null%.a: no provider 'edg' is declared %(did you mean 'edge'%?%) %(providers: edge%)",
        load_error('local s = wpo.stack { name = "t" }\ns:provider("edge", { region = "us-east-1" })\n'
          .. 's:add("wpo.null", "a", { provider = "edg" })\nreturn s\n'))
    end)

    it("passes wordpress.stack's aws to the stack", function()
      h.write(dir .. "/s.lua", [[
return require("wpo.wordpress").stack { name = "acme", region = "eu-west-1", cidr = "10.21.0.0/16",
  site = { domain = "acme.example.com" }, aws = { profile = "acme-prod" } }
]])
      local s = stack.load(dir .. "/s.lua")
      assert.are.equal("acme-prod", s.aws.profile)
      assert.are.equal("eu-west-1", stack.aws_for(s, nil))
    end)
  end)
end)
