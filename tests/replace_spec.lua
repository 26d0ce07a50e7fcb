-- Replacement as Terraform does it, end to end against tests/fakeaws: a NAT
-- gateway lives in a subnet whose cidr_block changes, so both are replaced
-- (the route through the NAT gateway is updated to the new one). The NAT gateway is
-- deleted before the subnet and made again after the new one: the subnet's
-- delete never meets the gateway's network interface (no DependencyViolation,
-- no wait), and nothing is left over.
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"

local STACK = [[
local s = wpo.stack { name = "rep", region = "eu-west-1" }
local vpc = s:add("aws.ec2.vpc", "main", { cidr_block = "10.60.0.0/16" })
local igw = s:add("aws.ec2.internet_gateway", "main", { vpc_id = vpc.id })
local public = s:add("aws.ec2.subnet", "public", { vpc_id = vpc.id, cidr_block = "%s",
  availability_zone = "eu-west-1a" })
local eip = s:add("aws.ec2.eip", "nat", {})
local nat = s:add("aws.ec2.nat_gateway", "nat", { subnet_id = public.id, allocation_id = eip.id, depends_on = { igw } })
local private = s:add("aws.ec2.route_table", "private", { vpc_id = vpc.id })
s:add("aws.ec2.route", "private-out", { route_table_id = private.id, destination_cidr_block = "0.0.0.0/0",
  nat_gateway_id = nat.id })
return s
]]

describe("replacement, destroy before create (against fakeaws)", function()
  local fakeaws = require "fakeaws"
  local f, dir

  setup(function() f = fakeaws.start { region = "eu-west-1" } end)
  teardown(function() if f then f:stop() end end)
  before_each(function()
    f:reset()
    dir = h.tmpdir()
  end)
  after_each(function() h.rmrf(dir) end)

  local function wpo(args)
    local r = h.sh(h.command_in(dir, args, { WPO_WAIT_SCALE = "0.001", NO_COLOR = "1" }, f.env))
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    return r
  end

  local function record(address)
    local st = cjson.decode(fs.read(dir .. "/.wpo/rep.state.json"))
    for _, r in ipairs(st.resources) do
      if r.address == address then return r end
    end
  end

  it("deletes the NAT gateway before its subnet and makes it again after the new one", function()
    h.write(dir .. "/s.lua", STACK:format("10.60.1.0/24"))
    wpo { "run", "s.lua", "--yes" }
    local old_subnet, old_nat = record("aws.ec2.subnet.public").id, record("aws.ec2.nat_gateway.nat").id

    h.write(dir .. "/s.lua", STACK:format("10.60.9.0/24"))
    local r = wpo { "plan", "s.lua" }
    assert.matches("%-/%+ aws%.ec2%.subnet%.public .* will be replaced %(cidr_block forces replacement%)", r.stdout)
    assert.matches("%-/%+ aws%.ec2%.nat_gateway%.nat .* will be replaced", r.stdout)
    assert.matches("Plan: 2 to add, 1 to change, 2 to destroy%.", r.stdout)
    assert.is_nil(r.stdout:find("(destroy)", 1, true))

    local before = f:calls(true)
    r = wpo { "run", "s.lua", "--yes" }
    assert.matches("Apply complete: 2 added, 1 changed, 2 destroyed%.", r.stdout)
    -- the order of completions: dependents' old objects first, new ones after
    local at = {}
    local n = 0
    for line in r.stdout:gmatch("[^\n]+") do
      local id, verb = line:match("^(.-): (%a+) in ")
      if id then
        n = n + 1
        at[id .. " " .. verb] = n
      end
    end
    local function before_(a, b)
      assert.is_number(at[a], a .. " in\n" .. r.stdout)
      assert.is_number(at[b], b .. " in\n" .. r.stdout)
      assert.is_true(at[a] < at[b], a .. " before " .. b .. " in\n" .. r.stdout)
    end
    before_("aws.ec2.nat_gateway.nat (destroy) destroyed", "aws.ec2.subnet.public (destroy) destroyed")
    before_("aws.ec2.subnet.public (destroy) destroyed", "aws.ec2.subnet.public replaced")
    before_("aws.ec2.subnet.public replaced", "aws.ec2.nat_gateway.nat replaced")
    before_("aws.ec2.nat_gateway.nat replaced", "aws.ec2.route.private-out updated")
    -- no DependencyViolation, no wait for a network interface
    local after = f:calls(true)
    local delete = after["ec2.DeleteSubnet"]
    local was = before["ec2.DeleteSubnet"] or { count = 0, ok = 0 }
    assert.are.equal(1, delete.count - was.count)
    assert.are.equal(1, delete.ok - was.ok)
    assert.is_nil(r.stdout:find("still destroying", 1, true))
    assert.is_nil(r.stdout:find("network interface", 1, true))

    local held = f:state().ec2
    local subnet, nat = record("aws.ec2.subnet.public").id, record("aws.ec2.nat_gateway.nat").id
    assert.are_not.equal(old_subnet, subnet)
    assert.are_not.equal(old_nat, nat)
    assert.is_nil(held.subnet[old_subnet])
    assert.are.equal("10.60.9.0/24", held.subnet[subnet].CidrBlock)
    assert.are.equal(subnet, held.natgateway[nat].SubnetId)
    assert.are.equal("deleted", held.natgateway[old_nat].State)
    local live = 0
    for _, g in pairs(held.natgateway) do if g.State ~= "deleted" then live = live + 1 end end
    assert.are.equal(1, live)
    r = wpo { "plan", "s.lua" }
    assert.matches("No changes", r.stdout)
  end)

  it("creates before destroying a group whose name must stay unique, with a suffix kept in the state", function()
    local src = [[
local s = wpo.stack { name = "rep", region = "eu-west-1" }
local vpc = s:add("aws.ec2.vpc", "main", { cidr_block = "10.61.0.0/16" })
local web = s:add("aws.ec2.security_group", "web", { name = "rep-web", vpc_id = vpc.id, description = "%s",
  lifecycle = { create_before_destroy = true } })
s:add("aws.ec2.security_group_rule", "https", { security_group_id = web.id, type = "ingress", from_port = 443,
  to_port = 443, cidr_ipv4 = "0.0.0.0/0" })
return s
]]
    h.write(dir .. "/s.lua", src:format("one"))
    wpo { "run", "s.lua", "--yes" }
    local old = record("aws.ec2.security_group.web").id
    h.write(dir .. "/s.lua", src:format("two"))
    local r = wpo { "run", "s.lua", "--yes" }
    assert.matches("will be replaced %(description forces replacement%), creating the new one first", r.stdout)
    local web = record("aws.ec2.security_group.web")
    assert.are_not.equal(old, web.id)
    assert.matches("^%x%x%x%x%x%x%x%x$", web.name_suffix)
    assert.are.equal("rep-web", web.inputs.name)
    local groups = f:state().ec2["security-group"]
    assert.is_nil(groups[old])
    assert.are.equal("rep-web-" .. web.name_suffix, groups[web.id].GroupName)
    assert.are.equal("two", groups[web.id].Description)
    assert.are.equal(web.id, f:state().ec2["security-group-rule"][record("aws.ec2.security_group_rule.https").id].GroupId)
    r = wpo { "plan", "s.lua" }
    assert.matches("No changes", r.stdout)
  end)
end)
