-- The aws.ec2.* network resource types against tests/fakeaws, called as the
-- engine calls them: create (and reading back exactly what was asked, so a
-- plan after a run shows no changes), update in place, adopting an object a
-- crashed run left behind, import, delete (twice: gone is fine), read after an
-- out-of-band deletion (nil: the plan re-creates it), and destroy's waits:
-- subnets and groups wait for network interfaces to go, addresses for their
-- NAT gateway, internet gateways detach first.

describe("aws.ec2 resource types", function()
  local aws = require "wpo.aws"
  local errors = require "wpo.errors"
  local resource = require "wpo.resource"
  local retry = require "wpo.aws.retry"
  local task = require "wpo.task"
  local typeflow = require "typeflow"
  local value = require "wpo.value"

  local suite = typeflow.suite { region = "eu-west-1", stack = "spec" }
  local f, ec2, logs
  setup(function() ec2 = suite:client("ec2") end)
  teardown(function() aws.set_wait_scale(nil) end)
  before_each(function()
    f = suite.f
    retry.reset()
    aws.set_wait_scale(0.001)
    logs = {}
  end)
  after_each(function() aws.set_wait_scale(nil) end)

  -- a context as apply makes it, with the client pointed at fakeaws
  local function ctx_for(type_name, name, generation, read_only)
    local t = assert(resource.get(type_name))
    local c = resource.context { address = type_name .. "." .. name, type = t, stack = "spec", region = "eu-west-1",
      where = "spec.lua:1", lineage = "L-spec", generation = generation or 1, read_only = read_only,
      logger = function(_, msg) logs[#logs + 1] = msg end }
    -- as ctx:aws makes them, pointed at fakeaws
    c.clients = { ec2 = read_only and aws.client("ec2", { region = "eu-west-1", endpoint = f.url, rate_limit = false,
      credentials = { access_key = "test", secret_key = "test" }, read_only = true }) or ec2 }
    return c, t
  end

  -- the attributes apply hands to create: defaults, and the wpo tags
  local function desired(c, t, attrs)
    local w, _, err = resource.desired(t, attrs)
    assert(w, err)
    if t.taggable then w.tags = resource.tags("spec", c.address, {}, w.tags) end
    return w
  end

  -- what a plan compares: every attribute asked for reads back the same
  local function assert_reads_back(t, want, observed)
    for _, name in ipairs(t.attribute_names) do
      if want[name] ~= nil then
        assert.is_true(value.equal(want[name], observed[name]),
          string.format("%s.%s: asked %s, read %s", t.name, name, value.show(want[name]), value.show(observed[name])))
      end
    end
  end

  local function make(type_name, name, attrs)
    local c, t = ctx_for(type_name, name)
    local w = desired(c, t, attrs)
    local o = resource.create(t, c, w)
    assert.is_string(o.id)
    assert_reads_back(t, w, o)
    return o, c, t, w
  end

  local function raised(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error")
    assert.is_true(errors.is(err), "not a wpo error: " .. tostring(err))
    return err
  end

  local function held(kind)
    local n = 0
    for _ in pairs(((f:state().ec2 or {})[kind]) or {}) do n = n + 1 end
    return n
  end

  local function errors_of(op)
    local d = f:calls(true)["ec2." .. op]
    return d and d.errors or {}
  end

  local function vpc(name, cidr)
    return make("aws.ec2.vpc", name or "main", { cidr_block = cidr or "10.0.0.0/16" })
  end

  local function subnet(vpc_id, name, cidr, az)
    return (make("aws.ec2.subnet", name, { vpc_id = vpc_id, cidr_block = cidr, availability_zone = az or "eu-west-1a" }))
  end

  local function tags_of(list)
    local out = {}
    for _, tag in ipairs(list or {}) do out[tag.Key] = tag.Value end
    return out
  end

  -- run fns as concurrent tasks; each must succeed
  local function concurrently(...)
    local tasks = {}
    for i, fn in ipairs({ ... }) do tasks[i] = task.spawn(fn) end
    for _, t in ipairs(tasks) do
      local ok, err = task.join(t)
      assert(ok, tostring(err))
    end
  end

  -- a task that waits until a type's progress note mentions `text`
  local function once_logged(text, fn)
    return function()
      local function seen()
        for _, m in ipairs(logs) do if m:find(text, 1, true) then return true end end
      end
      while not seen() do task.sleep(2) end
      fn()
    end
  end

  describe("aws.ec2.vpc", function()
    it("creates a VPC with DNS support and hostnames on, tagged, and reads back what was asked", function()
      local o = make("aws.ec2.vpc", "main", { cidr_block = "10.1.0.0/16", tags = { env = "prod" } })
      assert.matches("^vpc%-%x+$", o.id)
      assert.are.equal("arn:aws:ec2:eu-west-1:123456789012:vpc/" .. o.id, o.arn)
      assert.matches("^sg%-%x+$", o.default_security_group_id)
      assert.matches("^rtb%-%x+$", o.main_route_table_id)
      assert.is_true(o.enable_dns_hostnames)
      local held_vpc = f:state().ec2.vpc[o.id]
      assert.are.equal("available", held_vpc.State)
      assert.are.same({ env = "prod", ["wpo:stack"] = "spec", ["wpo:address"] = "aws.ec2.vpc.main" }, tags_of(held_vpc.Tags))
      local hostnames = ec2:call("DescribeVpcAttribute", { VpcId = o.id, Attribute = "enableDnsHostnames" })
      assert.is_true(hostnames.EnableDnsHostnames.Value)
    end)

    it("updates DNS settings and tags in place", function()
      local o, c, t, w = make("aws.ec2.vpc", "main", { cidr_block = "10.1.0.0/16", tags = { env = "prod" } })
      local new = desired(c, t, { cidr_block = "10.1.0.0/16", enable_dns_hostnames = false, enable_dns_support = false,
        tags = { team = "web" } })
      local u = t.update(c, o.id, w, new, { "enable_dns_hostnames", "enable_dns_support", "tags" })
      assert.are.equal(o.id, u.id)
      assert_reads_back(t, new, u)
      assert.is_false(ec2:call("DescribeVpcAttribute", { VpcId = o.id, Attribute = "enableDnsSupport" }).EnableDnsSupport.Value)
      assert.is_nil(u.tags.env)
    end)

    it("adopts the VPC a crashed run created instead of making a second one", function()
      local o = vpc()
      local again = make("aws.ec2.vpc", "main", { cidr_block = "10.0.0.0/16" })
      assert.are.equal(o.id, again.id)
      assert.are.equal(1, held("vpc"))
      assert.matches("adopting " .. o.id, table.concat(logs, "\n"), 1, true)
      assert.are.equal(1, f:calls()["ec2.CreateVpc"])
    end)

    it("imports, deletes (twice), and reads nil once gone", function()
      local o, c, t = vpc()
      local imported = t.import(c, o.id)
      assert.are.equal("10.0.0.0/16", imported.cidr_block)
      assert.are.equal("spec", imported.tags["wpo:stack"])
      t.delete(c, o.id, { inputs = {} })
      t.delete(c, o.id, { inputs = {} })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
      assert.is_nil(f:state().ec2)
    end)

    it("reads nil after an out-of-band deletion", function()
      local o, c, t = vpc()
      ec2:call("DeleteVpc", { VpcId = o.id })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
    end)
  end)

  describe("aws.ec2.subnet", function()
    it("creates a private subnet in its zone, updates map_public_ip_on_launch in place, imports", function()
      local v = vpc()
      local o, c, t, w = make("aws.ec2.subnet", "a", { vpc_id = v.id, cidr_block = "10.0.1.0/24",
        availability_zone = "eu-west-1b" })
      assert.are.equal("euw1-az2", o.availability_zone_id)
      assert.is_false(o.map_public_ip_on_launch)
      local new = desired(c, t, { vpc_id = v.id, cidr_block = "10.0.1.0/24", availability_zone = "eu-west-1b",
        map_public_ip_on_launch = true })
      assert.is_true(t.update(c, o.id, w, new, { "map_public_ip_on_launch" }).map_public_ip_on_launch)
      local imported = t.import(c, o.id)
      assert.are.same({ v.id, "10.0.1.0/24", true }, { imported.vpc_id, imported.cidr_block, imported.map_public_ip_on_launch })
      ec2:call("DeleteSubnet", { SubnetId = o.id })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
      t.delete(c, o.id, { inputs = {} })
    end)

    it("adopts the subnet a crashed run created", function()
      local v = vpc()
      local first = subnet(v.id, "a", "10.0.1.0/24")
      local again = subnet(v.id, "a", "10.0.1.0/24")
      assert.are.equal(first.id, again.id)
      assert.are.equal(1, held("subnet"))
    end)

    it("waits for the network interfaces in it to go before it is deleted", function()
      local v = vpc()
      local o, c, t = make("aws.ec2.subnet", "a", { vpc_id = v.id, cidr_block = "10.0.1.0/24" })
      local eni = ec2:call("CreateNetworkInterface", { SubnetId = o.id, Description = "left by a service" })
        .NetworkInterface.NetworkInterfaceId
      concurrently(function() t.delete(c, o.id, { inputs = {} }) end,
        once_logged("network interfaces still there: " .. eni .. " (left by a service)", function()
          ec2:call("DeleteNetworkInterface", { NetworkInterfaceId = eni })
        end))
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
      assert.is_true((errors_of("DeleteSubnet").DependencyViolation or 0) >= 1)
    end)

    it("fails after its delete timeout naming the interfaces that stayed", function()
      local v = vpc()
      local o, c, t = make("aws.ec2.subnet", "a", { vpc_id = v.id, cidr_block = "10.0.1.0/24" })
      local eni = ec2:call("CreateNetworkInterface", { SubnetId = o.id }).NetworkInterface.NetworkInterfaceId
      aws.set_wait_scale(0.0005)
      local err = raised(function() t.delete(c, o.id, { inputs = {} }) end)
      assert.are.equal("DeleteTimeout", err.code)
      assert.are.equal("aws.ec2.subnet.a", err.address)
      assert.matches("waiting for aws%.ec2%.subnet%.a to be deleted", err.message)
      assert.matches(eni, err.message, 1, true)
      assert.matches("DependencyViolation", err.message, 1, true)
      assert.are.equal(1, held("subnet"))
    end)
  end)

  describe("aws.ec2.internet_gateway", function()
    it("attaches to its VPC, moves to another in place, and detaches before it is deleted", function()
      local a = vpc("a", "10.0.0.0/16")
      local b = vpc("b", "10.1.0.0/16")
      local o, c, t, w = make("aws.ec2.internet_gateway", "main", { vpc_id = a.id })
      assert.are.equal(a.id, f:state().ec2["internet-gateway"][o.id].Attachments[1].VpcId)
      local new = desired(c, t, { vpc_id = b.id })
      assert.are.equal(b.id, t.update(c, o.id, w, new, { "vpc_id" }).vpc_id)
      ec2:call("DetachInternetGateway", { InternetGatewayId = o.id, VpcId = b.id })
      assert.are.equal("", t.read(c, o.id, { inputs = {} }).vpc_id)     -- drift: detached
      ec2:call("AttachInternetGateway", { InternetGatewayId = o.id, VpcId = b.id })
      assert.are.equal(b.id, t.import(c, o.id).vpc_id)
      t.delete(c, o.id, { inputs = {} })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
      assert.are.equal(3, f:calls()["ec2.DetachInternetGateway"])   -- the move, ours, the delete's
      t.delete(c, o.id, { inputs = {} })
    end)

    it("adopts the gateway a crashed run created and attaches it", function()
      local v = vpc()
      local first = make("aws.ec2.internet_gateway", "main", {})
      assert.are.equal("", first.vpc_id)
      local again = make("aws.ec2.internet_gateway", "main", { vpc_id = v.id })
      assert.are.equal(first.id, again.id)
      assert.are.equal(1, held("internet-gateway"))
      ec2:call("DetachInternetGateway", { InternetGatewayId = first.id, VpcId = v.id })
      ec2:call("DeleteInternetGateway", { InternetGatewayId = first.id })
      local c, t = ctx_for("aws.ec2.internet_gateway", "main")
      assert.is_nil(t.read(c, first.id, { inputs = {} }))       -- deleted out of band
    end)

    it("waits for the NAT gateways of the VPC to go before detaching", function()
      local v = vpc()
      local igw, igw_ctx, igw_t = make("aws.ec2.internet_gateway", "main", { vpc_id = v.id })
      local s = subnet(v.id, "public", "10.0.0.0/24")
      local eip = make("aws.ec2.eip", "nat", {})
      local nat, nat_ctx, nat_t = make("aws.ec2.nat_gateway", "a", { subnet_id = s.id, allocation_id = eip.id })
      concurrently(function() igw_t.delete(igw_ctx, igw.id, { inputs = {} }) end,
        once_logged("to detach from " .. v.id, function() nat_t.delete(nat_ctx, nat.id, { inputs = {} }) end))
      assert.is_nil(igw_t.read(igw_ctx, igw.id, { inputs = {} }))
      assert.is_true((errors_of("DetachInternetGateway").DependencyViolation or 0) >= 1)
    end)
  end)

  describe("aws.ec2.eip and aws.ec2.nat_gateway", function()
    local function public_subnet()
      local v = vpc()
      make("aws.ec2.internet_gateway", "main", { vpc_id = v.id })
      return subnet(v.id, "public", "10.0.0.0/24"), v
    end

    it("allocates an address, updates its tags, imports it, releases it", function()
      local o, c, t, w = make("aws.ec2.eip", "nat-a", { tags = { Name = "nat-a" } })
      assert.matches("^eipalloc%-%x+$", o.id)
      assert.matches("^%d+%.%d+%.%d+%.%d+$", o.public_ip)
      local new = desired(c, t, { tags = { Name = "nat-1" } })
      assert.are.equal("nat-1", t.update(c, o.id, w, new, { "tags" }).tags.Name)
      assert.are.equal(o.public_ip, t.import(c, o.id).public_ip)
      assert.are.equal(o.id, make("aws.ec2.eip", "nat-a", { tags = { Name = "nat-1" } }).id)   -- adopted
      ec2:call("ReleaseAddress", { AllocationId = o.id })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))            -- released out of band
      t.delete(c, o.id, { inputs = {} })
      t.delete(c, o.id, { inputs = {} })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
    end)

    it("creates a NAT gateway, waiting until it is available, with the address's public IP", function()
      local s = public_subnet()
      local eip = make("aws.ec2.eip", "nat-a", {})
      local o, c, t = make("aws.ec2.nat_gateway", "a", { subnet_id = s.id, allocation_id = eip.id,
        tags = { Name = "nat-a" } })
      assert.matches("^nat%-%x+$", o.id)
      assert.are.equal(eip.public_ip, o.public_ip)
      assert.matches("^eni%-%x+$", o.network_interface_id)
      assert.are.equal("available", f:state().ec2.natgateway[o.id].State)
      local create = f:calls(true)["ec2.CreateNatGateway"]
      assert.are.equal(1, create.ok)
      assert.are.equal(o.id, make("aws.ec2.nat_gateway", "a", { subnet_id = s.id, allocation_id = eip.id,
        tags = { Name = "nat-a" } }).id)
      assert.are.equal(1, f:calls()["ec2.CreateNatGateway"])
      assert.are.equal(o.private_ip, t.import(c, o.id).private_ip)
    end)

    it("fails clearly without an address, or without an internet gateway in the VPC", function()
      local v = vpc()
      local s = subnet(v.id, "public", "10.0.0.0/24")
      local c, t = ctx_for("aws.ec2.nat_gateway", "a")
      local err = raised(function() resource.create(t, c, desired(c, t, { subnet_id = s.id })) end)
      assert.are.equal("InvalidNatGateway", err.code)
      local eip = make("aws.ec2.eip", "nat-a", {})
      err = raised(function() resource.create(t, c, desired(c, t, { subnet_id = s.id, allocation_id = eip.id })) end)
      assert.are.equal("Gateway.NotAttached", err.code)
    end)

    it("deletes the NAT gateway before releasing its address: the release waits until it is deleted", function()
      local s = public_subnet()
      local eip, eip_ctx, eip_t = make("aws.ec2.eip", "nat-a", {})
      local nat, nat_ctx, nat_t = make("aws.ec2.nat_gateway", "a", { subnet_id = s.id, allocation_id = eip.id })
      concurrently(function() eip_t.delete(eip_ctx, eip.id, { inputs = {} }) end,
        once_logged("to be released", function() nat_t.delete(nat_ctx, nat.id, { inputs = {} }) end))
      assert.is_nil(eip_t.read(eip_ctx, eip.id, { inputs = {} }))
      assert.is_nil(nat_t.read(nat_ctx, nat.id, { inputs = {} }))
      assert.are.equal("deleted", f:state().ec2.natgateway[nat.id].State)
      assert.is_true((errors_of("ReleaseAddress")["InvalidIPAddress.InUse"] or 0) >= 1)
    end)

    it("reads a NAT gateway deleted out of band as deleting, then, once deleted, as gone", function()
      local s = public_subnet()
      local eip = make("aws.ec2.eip", "nat-a", {})
      local nat, c, t = make("aws.ec2.nat_gateway", "a", { subnet_id = s.id, allocation_id = eip.id })
      ec2:call("DeleteNatGateway", { NatGatewayId = nat.id })
      assert.are.same({ id = nat.id, deleting = true }, t.read(c, nat.id, { inputs = {} }))
      t.delete(c, nat.id, { inputs = {} })   -- waits for it, without asking again
      assert.is_nil(t.read(c, nat.id, { inputs = {} }))
      assert.are.equal(1, f:calls()["ec2.DeleteNatGateway"])
    end)
  end)

  describe("aws.ec2.route_table, aws.ec2.route and aws.ec2.route_table_association", function()
    local function network()
      local v = vpc()
      local igw = make("aws.ec2.internet_gateway", "main", { vpc_id = v.id })
      local rtb = make("aws.ec2.route_table", "public", { vpc_id = v.id, tags = { Name = "public" } })
      return v, igw, rtb
    end

    it("creates, retags, imports and deletes a route table; reads nil once deleted out of band", function()
      local v = vpc()
      local o, c, t, w = make("aws.ec2.route_table", "public", { vpc_id = v.id, tags = { Name = "public" } })
      assert.matches("^rtb%-%x+$", o.id)
      assert.are_not.equal(v.main_route_table_id, o.id)
      local new = desired(c, t, { vpc_id = v.id, tags = { Name = "edge" } })
      assert.are.equal("edge", t.update(c, o.id, w, new, { "tags" }).tags.Name)
      assert.are.equal(v.id, t.import(c, o.id).vpc_id)
      assert.are.equal(o.id, make("aws.ec2.route_table", "public", { vpc_id = v.id, tags = { Name = "edge" } }).id)
      ec2:call("DeleteRouteTable", { RouteTableId = o.id })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
      t.delete(c, o.id, { inputs = {} })
    end)

    it("routes the world to an internet gateway, then to a NAT gateway in place; shows blackholes", function()
      local v, igw, rtb = network()
      local o, c, t, w = make("aws.ec2.route", "public-internet", { route_table_id = rtb.id,
        destination_cidr_block = "0.0.0.0/0", gateway_id = igw.id })
      assert.are.equal(rtb.id .. "_0.0.0.0/0", o.id)
      assert.are.same({ "active", "CreateRoute", "" }, { o.state, o.origin, o.nat_gateway_id })
      local s = subnet(v.id, "public", "10.0.0.0/24")
      local eip = make("aws.ec2.eip", "nat", {})
      local nat = make("aws.ec2.nat_gateway", "a", { subnet_id = s.id, allocation_id = eip.id })
      local new = desired(c, t, { route_table_id = rtb.id, destination_cidr_block = "0.0.0.0/0", nat_gateway_id = nat.id })
      local u = t.update(c, o.id, w, new, { "gateway_id", "nat_gateway_id" })
      assert.are.same({ o.id, nat.id, "" }, { u.id, u.nat_gateway_id, u.gateway_id })
      ec2:call("DeleteNatGateway", { NatGatewayId = nat.id })
      assert.are.equal("blackhole", t.read(c, o.id, { inputs = {} }).state)
      assert.are.equal(nat.id, t.import(c, o.id).nat_gateway_id)
      ec2:call("DeleteRoute", { RouteTableId = rtb.id, DestinationCidrBlock = "0.0.0.0/0" })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))            -- deleted out of band
      ec2:call("CreateRoute", { RouteTableId = rtb.id, DestinationCidrBlock = "0.0.0.0/0", GatewayId = igw.id })
      t.delete(c, o.id, { inputs = new })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
      t.delete(c, o.id, { inputs = new })
    end)

    it("adopts the same route a crashed run made; refuses one with another target, naming it", function()
      local v, igw, rtb = network()
      ec2:call("CreateRoute", { RouteTableId = rtb.id, DestinationCidrBlock = "0.0.0.0/0", GatewayId = igw.id })
      local o = make("aws.ec2.route", "public-internet", { route_table_id = rtb.id,
        destination_cidr_block = "0.0.0.0/0", gateway_id = igw.id })
      assert.are.equal(igw.id, o.gateway_id)
      local other = ec2:call("CreateNetworkInterface", { SubnetId = subnet(v.id, "a", "10.0.1.0/24").id })
        .NetworkInterface.NetworkInterfaceId
      ec2:call("CreateRoute", { RouteTableId = rtb.id, DestinationCidrBlock = "10.9.0.0/16", NetworkInterfaceId = other })
      local c, t = ctx_for("aws.ec2.route", "peer")
      local err = raised(function()
        resource.create(t, c, desired(c, t, { route_table_id = rtb.id, destination_cidr_block = "10.9.0.0/16", gateway_id = igw.id }))
      end)
      assert.are.equal("RouteAlreadyExists", err.code)
      assert.matches("network_interface_id = " .. other, err.message, 1, true)
      assert.matches("wpo import STACK aws.ec2.route.peer " .. rtb.id .. "_10.9.0.0/16", err.message, 1, true)
    end)

    it("associates a subnet, moves it to another table in place, adopts, and disassociates", function()
      local v, _, rtb = network()
      local s = subnet(v.id, "a", "10.0.1.0/24")
      local other = make("aws.ec2.route_table", "private", { vpc_id = v.id })
      local o, c, t, w = make("aws.ec2.route_table_association", "a", { subnet_id = s.id, route_table_id = rtb.id })
      assert.matches("^rtbassoc%-%x+$", o.id)
      assert.are.equal(o.id, make("aws.ec2.route_table_association", "a", { subnet_id = s.id, route_table_id = rtb.id }).id)
      local err = raised(function()
        make("aws.ec2.route_table_association", "b", { subnet_id = s.id, route_table_id = other.id })
      end)
      assert.are.equal("Resource.AlreadyAssociated", err.code)
      assert.matches(o.id, err.message, 1, true)
      local new = desired(c, t, { subnet_id = s.id, route_table_id = other.id })
      local u = t.update(c, o.id, w, new, { "route_table_id" })
      assert.are_not.equal(o.id, u.id)
      assert.are.equal(other.id, u.route_table_id)
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
      assert.are.equal(s.id, t.import(c, u.id).subnet_id)
      ec2:call("DisassociateRouteTable", { AssociationId = u.id })
      assert.is_nil(t.read(c, u.id, { inputs = {} }))            -- removed out of band
      -- a table whose association is still going: its delete waits
      local again = make("aws.ec2.route_table_association", "a", { subnet_id = s.id, route_table_id = rtb.id })
      local rc, rt = ctx_for("aws.ec2.route_table", "public")
      concurrently(function() rt.delete(rc, rtb.id, { inputs = {} }) end,
        once_logged("to be deleted (its associations to go)", function() t.delete(c, again.id, { inputs = {} }) end))
      assert.is_nil(rt.read(rc, rtb.id, { inputs = {} }))
    end)
  end)

  describe("aws.ec2.security_group and aws.ec2.security_group_rule", function()
    it("creates a group without AWS's allow-all egress; allow_all_egress puts it back in place", function()
      local v = vpc()
      local o, c, t, w = make("aws.ec2.security_group", "db", { name = "spec-db", vpc_id = v.id,
        description = "database: 3306 from the app" })
      assert.is_false(o.allow_all_egress)
      local g = ec2:call("DescribeSecurityGroups", { GroupIds = { o.id } }).SecurityGroups[1]
      assert.are.same({}, g.IpPermissionsEgress or {})
      local new = desired(c, t, { name = "spec-db", vpc_id = v.id, description = "database: 3306 from the app",
        allow_all_egress = true, tags = { tier = "db" } })
      local u = t.update(c, o.id, w, new, { "allow_all_egress", "tags" })
      assert.is_true(u.allow_all_egress)
      assert.are.equal("db", u.tags.tier)
      assert.are.equal("spec-db", t.import(c, o.id).name)
      assert.are.equal(o.id, make("aws.ec2.security_group", "db", { name = "spec-db", vpc_id = v.id,
        description = "database: 3306 from the app" }).id)
      ec2:call("DeleteSecurityGroup", { GroupId = o.id })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
      t.delete(c, o.id, { inputs = {} })
    end)

    it("admits one group from another, by source group, in place description changes keep the rule", function()
      local v = vpc()
      local app = make("aws.ec2.security_group", "app", { name = "spec-app", vpc_id = v.id })
      local db = make("aws.ec2.security_group", "db", { name = "spec-db", vpc_id = v.id })
      local attrs = { security_group_id = db.id, type = "ingress", from_port = 3306, to_port = 3306,
        referenced_security_group_id = app.id, description = "MySQL from the app" }
      local o, c, t, w = make("aws.ec2.security_group_rule", "db-from-app", attrs)
      assert.matches("^sgr%-%x+$", o.id)
      local rule = ec2:call("DescribeSecurityGroupRules", { SecurityGroupRuleIds = { o.id } }).SecurityGroupRules[1]
      assert.are.same({ false, "tcp", 3306, app.id }, { rule.IsEgress, rule.IpProtocol, rule.FromPort,
        rule.ReferencedGroupInfo.GroupId })
      assert.are.equal("aws.ec2.security_group_rule.db-from-app", tags_of(rule.Tags)["wpo:address"])
      attrs.description = "MySQL from the web tier"
      local new = desired(c, t, attrs)
      local u = t.update(c, o.id, w, new, { "description" })
      assert.are.equal(o.id, u.id)
      assert.are.equal("MySQL from the web tier", u.description)
      local egress = make("aws.ec2.security_group_rule", "app-to-db", { security_group_id = app.id, type = "egress",
        from_port = 3306, to_port = 3306, referenced_security_group_id = db.id })
      assert.is_true(ec2:call("DescribeSecurityGroupRules", { SecurityGroupRuleIds = { egress.id } })
        .SecurityGroupRules[1].IsEgress)
      assert.are.equal(app.id, t.import(c, o.id).referenced_security_group_id)
      assert.are.equal(o.id, make("aws.ec2.security_group_rule", "db-from-app", attrs).id)     -- adopted
      ec2:call("RevokeSecurityGroupIngress", { GroupId = db.id, SecurityGroupRuleIds = { o.id } })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))            -- revoked out of band
    end)

    it("opens ports to the world by IPv4 and IPv6 blocks, and to all protocols", function()
      local v = vpc()
      local alb = make("aws.ec2.security_group", "alb", { name = "spec-alb", vpc_id = v.id })
      local v4 = make("aws.ec2.security_group_rule", "https-v4", { security_group_id = alb.id, type = "ingress",
        from_port = 443, to_port = 443, cidr_ipv4 = "0.0.0.0/0" })
      local v6 = make("aws.ec2.security_group_rule", "https-v6", { security_group_id = alb.id, type = "ingress",
        from_port = 443, to_port = 443, cidr_ipv6 = "::/0" })
      local all = make("aws.ec2.security_group_rule", "out", { security_group_id = alb.id, type = "egress",
        protocol = "-1", cidr_ipv4 = "10.0.0.0/16" })
      assert.are.same({ "0.0.0.0/0", "::/0", -1 }, { v4.cidr_ipv4, v6.cidr_ipv6, all.from_port })
    end)

    it("refuses a rule already there without its tag, naming it; and a rule without a peer", function()
      local v = vpc()
      local db = make("aws.ec2.security_group", "db", { name = "spec-db", vpc_id = v.id })
      local id = ec2:call("AuthorizeSecurityGroupIngress", { GroupId = db.id, IpPermissions = { { IpProtocol = "tcp",
        FromPort = 3306, ToPort = 3306, IpRanges = { { CidrIp = "10.0.0.0/16" } } } } }).SecurityGroupRules[1].SecurityGroupRuleId
      local c, t = ctx_for("aws.ec2.security_group_rule", "db-from-vpc")
      local err = raised(function()
        resource.create(t, c, desired(c, t, { security_group_id = db.id, type = "ingress", from_port = 3306, to_port = 3306,
          cidr_ipv4 = "10.0.0.0/16" }))
      end)
      assert.are.equal("InvalidPermission.Duplicate", err.code)
      assert.matches(id, err.message, 1, true)
      err = raised(function()
        resource.create(t, c, desired(c, t, { security_group_id = db.id, type = "ingress", from_port = 1, to_port = 1 }))
      end)
      assert.are.equal("InvalidRule", err.code)
    end)

    it("deletes a group once the network interfaces carrying it and the rules naming it are gone", function()
      local v = vpc()
      local s = subnet(v.id, "a", "10.0.1.0/24")
      local app, app_ctx, app_t = make("aws.ec2.security_group", "app", { name = "spec-app", vpc_id = v.id })
      local db = make("aws.ec2.security_group", "db", { name = "spec-db", vpc_id = v.id })
      local rule, rule_ctx, rule_t, rule_w = make("aws.ec2.security_group_rule", "db-from-app", {
        security_group_id = db.id, type = "ingress", from_port = 3306, to_port = 3306,
        referenced_security_group_id = app.id })
      local eni = ec2:call("CreateNetworkInterface", { SubnetId = s.id, Groups = { app.id }, Description = "task" })
        .NetworkInterface.NetworkInterfaceId
      concurrently(function() app_t.delete(app_ctx, app.id, { inputs = {} }) end,
        once_logged("network interfaces still there: " .. eni, function()
          ec2:call("DeleteNetworkInterface", { NetworkInterfaceId = eni })
          rule_t.delete(rule_ctx, rule.id, { inputs = rule_w })
        end))
      assert.is_nil(app_t.read(app_ctx, app.id, { inputs = {} }))
    end)
  end)

  describe("aws.ec2.vpc_endpoint", function()
    it("makes an S3 gateway endpoint on route tables, changes its tables and policy in place, waits for it to go", function()
      local v = vpc()
      local a = make("aws.ec2.route_table", "private-a", { vpc_id = v.id })
      local b = make("aws.ec2.route_table", "private-b", { vpc_id = v.id })
      local o, c, t, w = make("aws.ec2.vpc_endpoint", "s3", { vpc_id = v.id,
        service_name = "com.amazonaws.eu-west-1.s3", route_table_ids = { b.id, a.id } })
      assert.matches("^vpce%-%x+$", o.id)
      assert.matches("^pl%-%x+$", o.prefix_list_id)
      assert.are.same({ b.id, a.id }, o.route_table_ids)
      local routes = ec2:call("DescribeRouteTables", { RouteTableIds = { a.id } }).RouteTables[1].Routes
      assert.are.equal(o.id, routes[2].GatewayId)
      assert.are.equal(o.prefix_list_id, routes[2].DestinationPrefixListId)
      local policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", '
        .. '"Action": "s3:GetObject", "Resource": "*"}]}'
      local new = desired(c, t, { vpc_id = v.id, service_name = "com.amazonaws.eu-west-1.s3",
        route_table_ids = { a.id }, policy = policy })
      local u = t.update(c, o.id, w, new, { "route_table_ids", "policy" })
      assert_reads_back(t, new, u)
      assert.are.equal(1, #ec2:call("DescribeRouteTables", { RouteTableIds = { b.id } }).RouteTables[1].Routes)
      assert.are.equal(o.id, make("aws.ec2.vpc_endpoint", "s3", { vpc_id = v.id,
        service_name = "com.amazonaws.eu-west-1.s3", route_table_ids = { a.id }, policy = policy }).id)
      assert.are.equal("Gateway", t.import(c, o.id).vpc_endpoint_type)
      t.delete(c, o.id, { inputs = {} })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
      assert.is_nil((f:state().ec2 or {})["vpc-endpoint"])
      t.delete(c, o.id, { inputs = {} })
    end)

    it("reads an endpoint deleted out of band as deleting, then as gone", function()
      local v = vpc()
      local o, c, t = make("aws.ec2.vpc_endpoint", "s3", { vpc_id = v.id, service_name = "com.amazonaws.eu-west-1.s3" })
      ec2:call("DeleteVpcEndpoints", { VpcEndpointIds = { o.id } })
      assert.are.same({ id = o.id, deleting = true }, t.read(c, o.id, { inputs = {} }))
      t.delete(c, o.id, { inputs = {} })
      assert.is_nil(t.read(c, o.id, { inputs = {} }))
    end)
  end)

  it("never writes through a plan's read-only context: a read stays a read", function()
    local v = vpc()
    local c, t = ctx_for("aws.ec2.vpc", "main", nil, true)
    local before = f:calls()
    local ok, o = pcall(t.read, c, v.id, { inputs = {} })
    local err = ok and nil or o
    local c2, t2 = ctx_for("aws.ec2.vpc", "other", nil, true)
    local ok2, err2 = pcall(t2.create, c2, desired(c2, t2, { cidr_block = "10.5.0.0/16" }))
    assert.is_true(ok, tostring(err))
    assert.are.equal(v.id, o.id)
    assert.is_false(ok2)
    assert.are.equal("ReadOnlyViolation", err2.code)
    for op, n in pairs(f:calls()) do
      if n ~= (before[op] or 0) then assert.matches("^ec2%.Describe", op) end
    end
  end)
end)
