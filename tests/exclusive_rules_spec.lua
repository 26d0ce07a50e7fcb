-- Security groups own their rules, end to end against tests/fakeaws: a rule
-- added outside wpo (tcp/22 from the world) is drift in the plan, revoked by
-- the next run; the rules wpo manages stay; exclusive_rules = false leaves it.
-- The same for a managed policy attached to a wpo IAM role by hand, and an
-- inline policy put in it (exclusive_policies).
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"

local STACK = [[
local s = wpo.stack { name = "own", region = "eu-west-1" }
local vpc = s:add("aws.ec2.vpc", "main", { cidr_block = "10.62.0.0/16" })
local web = s:add("aws.ec2.security_group", "web", { name = "own-web", vpc_id = vpc.id%s })
s:add("aws.ec2.security_group_rule", "https", { security_group_id = web.id, type = "ingress", from_port = 443,
  to_port = 443, cidr_ipv4 = "0.0.0.0/0" })
return s
]]

describe("security groups own their rules (against fakeaws)", function()
  local fakeaws = require "fakeaws"
  local f, dir

  setup(function() f = fakeaws.start { region = "eu-west-1" } end)
  teardown(function() if f then f:stop() end end)
  before_each(function()
    f:reset()
    dir = h.tmpdir()
  end)
  after_each(function() h.rmrf(dir) end)

  local function wpo(args, status)
    local r = h.sh(h.command_in(dir, args, { WPO_WAIT_SCALE = "0.001", NO_COLOR = "1" }, f.env))
    assert.are.equal(status or 0, r.status, r.stdout .. r.stderr)
    return r
  end

  local function group()
    local st = cjson.decode(fs.read(dir .. "/.wpo/own.state.json"))
    for _, r in ipairs(st.resources) do
      if r.address == "aws.ec2.security_group.web" then return r.id end
    end
  end

  local function rules_of(id)
    local out = {}
    for _, r in pairs(f:state().ec2["security-group-rule"]) do
      if r.GroupId == id then
        out[#out + 1] = (r.IsEgress and "out " or "in ") .. math.tointeger(r.FromPort) .. " " .. tostring(r.CidrIpv4)
      end
    end
    table.sort(out)
    return out
  end

  local function open_ssh(id)
    wpo { "aws", "ec2", "AuthorizeSecurityGroupIngress", cjson.encode({ GroupId = id,
      IpPermissions = { { IpProtocol = "tcp", FromPort = 22, ToPort = 22, IpRanges = { { CidrIp = "0.0.0.0/0" } } } } }) }
  end

  it("shows a rule added outside wpo as drift and revokes it, keeping its own", function()
    h.write(dir .. "/s.lua", STACK:format(""))
    wpo { "run", "s.lua", "--yes" }
    local id = group()
    open_ssh(id)
    assert.are.same({ "in 22 0.0.0.0/0", "in 443 0.0.0.0/0" }, rules_of(id))

    local r = wpo({ "plan", "s.lua", "--detailed-exitcode" }, 2)
    assert.matches("aws.ec2.security_group.web: unmanaged_rules", r.stdout, 1, true)
    assert.matches('unmanaged_rules%["sgr%-%x+"%] = "unmanaged ingress rule tcp/22 from 0%.0%.0%.0/0" %-> null',
      r.stdout)
    assert.matches("Plan: 0 to add, 1 to change, 0 to destroy.", r.stdout, 1, true)

    r = wpo { "run", "s.lua", "--yes" }
    assert.matches("revoking 1 unmanaged ingress rule", r.stdout, 1, true)
    assert.are.same({ "in 443 0.0.0.0/0" }, rules_of(id))
    r = wpo { "plan", "s.lua" }
    assert.matches("No changes", r.stdout)
  end)

  it("leaves other rules alone with exclusive_rules = false", function()
    h.write(dir .. "/s.lua", STACK:format(", exclusive_rules = false"))
    wpo { "run", "s.lua", "--yes" }
    local id = group()
    open_ssh(id)
    local r = wpo { "plan", "s.lua" }
    assert.matches("No changes", r.stdout)
    wpo { "run", "s.lua", "--yes" }
    assert.are.same({ "in 22 0.0.0.0/0", "in 443 0.0.0.0/0" }, rules_of(id))
  end)

  local ROLE = [[
local s = wpo.stack { name = "own", region = "eu-west-1" }
local role = s:add("aws.iam.role", "app", { name = "own-app", assume_role_policy = { Version = "2012-10-17",
  Statement = { { Effect = "Allow", Principal = { Service = "ecs-tasks.amazonaws.com" }, Action = "sts:AssumeRole" } } }%s })
s:add("aws.iam.role_policy_attachment", "logs", { role = role.name,
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" })
s:add("aws.iam.role_policy", "own", { role = role.name, name = "own", policy = { Version = "2012-10-17",
  Statement = { { Effect = "Allow", Action = "s3:GetObject", Resource = "*" } } } })
return s
]]

  local function policies()
    local out = {}
    local a = cjson.decode(wpo({ "aws", "iam", "ListAttachedRolePolicies", '{"RoleName":"own-app"}' }).stdout)
    for _, p in ipairs(a.AttachedPolicies or {}) do out[#out + 1] = p.PolicyArn:match("[^/]+$") end
    local i = cjson.decode(wpo({ "aws", "iam", "ListRolePolicies", '{"RoleName":"own-app"}' }).stdout)
    for _, n in ipairs(i.PolicyNames or {}) do out[#out + 1] = "inline " .. n end
    table.sort(out)
    return out
  end

  local function tamper()
    wpo { "aws", "iam", "AttachRolePolicy", '{"RoleName":"own-app","PolicyArn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}' }
    wpo { "aws", "iam", "PutRolePolicy", cjson.encode({ RoleName = "own-app", PolicyName = "extra",
      PolicyDocument = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' }) }
  end

  it("shows policies attached to a role outside wpo as drift and removes them", function()
    h.write(dir .. "/s.lua", ROLE:format(""))
    wpo { "run", "s.lua", "--yes" }
    tamper()
    assert.are.same({ "AmazonSSMManagedInstanceCore", "ReadOnlyAccess", "inline extra", "inline own" }, policies())
    local r = wpo({ "plan", "s.lua", "--detailed-exitcode" }, 2)
    assert.matches('"unmanaged managed policy arn:aws:iam::aws:policy/ReadOnlyAccess" -> null', r.stdout, 1, true)
    assert.matches('"unmanaged inline policy extra" -> null', r.stdout, 1, true)
    assert.matches("Plan: 0 to add, 1 to change, 0 to destroy.", r.stdout, 1, true)
    wpo { "run", "s.lua", "--yes" }
    assert.are.same({ "AmazonSSMManagedInstanceCore", "inline own" }, policies())
    assert.matches("No changes", wpo({ "plan", "s.lua" }).stdout)
  end)

  it("leaves them with exclusive_policies = false", function()
    h.write(dir .. "/s.lua", ROLE:format(", exclusive_policies = false"))
    wpo { "run", "s.lua", "--yes" }
    tamper()
    assert.matches("No changes", wpo({ "plan", "s.lua" }).stdout)
  end)
end)
