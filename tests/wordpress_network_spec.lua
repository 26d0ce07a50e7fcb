-- wpo.wordpress.network and wpo.wordpress.security: what the tiers declare
-- (subnets per zone from the VPC's block, NAT per zone or shared, the routes
-- of each tier, the S3 endpoint), the security checklist on the groups (only
-- the load balancer is open to the internet, and only on 80/443; each data
-- tier admits only the ECS group; egress narrowed), and both tiers run against
-- tests/fakeaws through the engine: apply, no changes on the next plan, NAT
-- from shared to per zone in place, destroy leaving nothing.
local enginetest = require "enginetest"

describe("wpo.wordpress network and security tiers", function()
  local cidr = require "wpo.cidr"
  local network = require "wpo.wordpress.network"
  local security = require "wpo.wordpress.security"
  local stackmod = require "wpo.stack"
  local value = require "wpo.value"

  local function params(over)
    local p = { name = "acme", region = "eu-west-1", azs = { "eu-west-1a", "eu-west-1b", "eu-west-1c" },
      cidr = "10.20.0.0/16", nat = "per_az", site = { domain = "www.example.com",
        certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc" }, service = {}, tags = { team = "web" } }
    for k, v in pairs(over or {}) do p[k] = v end
    return p
  end

  -- both tiers on a fresh stack; -> stack, net, sg
  local function build(over)
    local p = params(over)
    local s = stackmod.new { name = p.name, region = p.region }
    local net = network.build(s, p, {})
    local sg = security.build(s, p, { net = net })
    return stackmod.finish(s), net, sg, p
  end

  local function of_type(s, type_name)
    local out = {}
    for _, d in ipairs(s.resources) do if d.type_name == type_name then out[#out + 1] = d end end
    return out
  end

  -- "aws.ec2.nat_gateway.nat-a.id" for a reference
  local function ref(v)
    local found
    value.refs(v, function(decl, name) found = decl.address .. "." .. name end)
    return found
  end

  local function decl(s, address)
    local d = s.by_address[address]
    assert.is_table(d, "not declared: " .. address)
    return d
  end

  describe("network", function()
    it("lays out public, private and database subnets per zone, inside the VPC and apart", function()
      local s, net = build()
      assert.are.equal(9, #of_type(s, "aws.ec2.subnet"))
      local seen = {}
      for _, tier in ipairs({ "public", "private", "database" }) do
        assert.are.equal(3, #net.subnets[tier])
        for i, az in ipairs(net.azs) do
          local d = decl(s, "aws.ec2.subnet." .. tier .. "-" .. ("abc"):sub(i, i))
          assert.are.equal(az, d.attrs.availability_zone)
          assert.is_false(d.attrs.map_public_ip_on_launch)
          assert.are.equal("aws.ec2.vpc.main.id", ref(d.attrs.vpc_id))
          assert.is_true(cidr.contains("10.20.0.0/16", d.attrs.cidr_block))
          for _, other in ipairs(seen) do
            assert.is_false(cidr.contains(other, d.attrs.cidr_block) or cidr.contains(d.attrs.cidr_block, other),
              d.attrs.cidr_block .. " overlaps " .. other)
          end
          seen[#seen + 1] = d.attrs.cidr_block
          assert.are.equal(d.attrs.cidr_block, net.subnet_cidrs[tier][az])
        end
      end
      assert.are.same({ "10.20.0.0/18", "10.20.192.0/21", "10.20.224.0/21" },
        { net.subnet_cidrs.private["eu-west-1a"], net.subnet_cidrs.public["eu-west-1a"],
          net.subnet_cidrs.database["eu-west-1a"] })
      local vpc = decl(s, "aws.ec2.vpc.main")
      assert.is_true(vpc.attrs.enable_dns_hostnames)
      assert.are.same({ Name = "acme", team = "web", ["wpo:stack"] = "acme", ["wpo:address"] = "aws.ec2.vpc.main" },
        vpc.attrs.tags)
    end)

    it("keeps existing subnets where they are when a third zone is added", function()
      local _, two = build { azs = { "eu-west-1a", "eu-west-1b" } }
      local _, three = build()
      for _, tier in ipairs({ "public", "private", "database" }) do
        for _, az in ipairs({ "eu-west-1a", "eu-west-1b" }) do
          assert.are.equal(two.subnet_cidrs[tier][az], three.subnet_cidrs[tier][az])
        end
      end
    end)

    it("fits a /20 VPC, and takes a zone count for zone names", function()
      local s, net = build { cidr = "10.30.16.0/20", azs = 2 }
      assert.are.same({ "eu-west-1a", "eu-west-1b" }, net.azs)
      assert.are.same({ "10.30.16.0/22", "10.30.28.0/25", "10.30.30.0/25" }, { net.subnet_cidrs.private["eu-west-1a"],
        net.subnet_cidrs.public["eu-west-1a"], net.subnet_cidrs.database["eu-west-1a"] })
      assert.are.equal(6, #of_type(s, "aws.ec2.subnet"))
    end)

    it("routes public to the internet gateway, each private zone to its own NAT, the database nowhere", function()
      local s, net = build()
      assert.are.equal("aws.ec2.internet_gateway.main.id", ref(decl(s, "aws.ec2.route.public-internet").attrs.gateway_id))
      for _, z in ipairs({ "a", "b", "c" }) do
        local nat = decl(s, "aws.ec2.nat_gateway.nat-" .. z)
        assert.are.equal("aws.ec2.subnet.public-" .. z .. ".id", ref(nat.attrs.subnet_id))
        assert.are.equal("aws.ec2.eip.nat-" .. z .. ".id", ref(nat.attrs.allocation_id))
        assert.are.same({ "aws.ec2.internet_gateway.main" }, nat.depends_on)
        local route = decl(s, "aws.ec2.route.private-" .. z .. "-internet")
        assert.are.equal("0.0.0.0/0", route.attrs.destination_cidr_block)
        assert.are.equal("aws.ec2.nat_gateway.nat-" .. z .. ".id", ref(route.attrs.nat_gateway_id))
        assert.are.equal("aws.ec2.route_table.private-" .. z .. ".id", ref(route.attrs.route_table_id))
        for tier, rtb in pairs({ public = "public", private = "private-" .. z, database = "database" }) do
          local assoc = decl(s, "aws.ec2.route_table_association." .. tier .. "-" .. z)
          assert.are.equal("aws.ec2.route_table." .. rtb .. ".id", ref(assoc.attrs.route_table_id))
          assert.are.equal("aws.ec2.subnet." .. tier .. "-" .. z .. ".id", ref(assoc.attrs.subnet_id))
        end
      end
      for _, r in ipairs(of_type(s, "aws.ec2.route")) do
        assert.are_not.equal("aws.ec2.route_table.database.id", ref(r.attrs.route_table_id))
      end
      local endpoint = decl(s, "aws.ec2.vpc_endpoint.s3")
      assert.are.equal("com.amazonaws.eu-west-1.s3", endpoint.attrs.service_name)
      local tables = {}
      for i, v in ipairs(endpoint.attrs.route_table_ids) do tables[i] = ref(v) end
      assert.are.same({ "aws.ec2.route_table.private-a.id", "aws.ec2.route_table.private-b.id",
        "aws.ec2.route_table.private-c.id" }, tables)
      assert.are.equal(3, #of_type(s, "aws.ec2.eip"))
      assert.are.equal("aws.ec2.nat_gateway.nat-b", stackmod.address_of(net.nat_gateways["eu-west-1b"]))
    end)

    it("shares one NAT gateway, in the first zone, when nat is single", function()
      local s, net = build { nat = "single" }
      assert.are.equal(1, #of_type(s, "aws.ec2.nat_gateway"))
      assert.are.equal(1, #of_type(s, "aws.ec2.eip"))
      for _, z in ipairs({ "a", "b", "c" }) do
        assert.are.equal("aws.ec2.nat_gateway.nat-a.id",
          ref(decl(s, "aws.ec2.route.private-" .. z .. "-internet").attrs.nat_gateway_id))
      end
      assert.are.equal("aws.ec2.nat_gateway.nat-a", stackmod.address_of(net.nat_gateways["eu-west-1c"]))
    end)
  end)

  describe("security", function()
    local function rules_of(s)
      local out = {}
      for _, d in ipairs(of_type(s, "aws.ec2.security_group_rule")) do
        local a = d.attrs
        out[d.name] = { group = ref(a.security_group_id):match("security_group%.([%w-]+)%.id"), type = a.type,
          protocol = a.protocol,
          from = a.from_port, to = a.to_port, v4 = a.cidr_ipv4, v6 = a.cidr_ipv6,
          peer = a.referenced_security_group_id and ref(a.referenced_security_group_id):match("security_group%.([%w-]+)%.id") }
      end
      return out
    end

    it("opens only the load balancer to the internet, on 80 and 443", function()
      local s = build()
      local world = {}
      for name, r in pairs(rules_of(s)) do
        if r.type == "ingress" and (r.v4 == "0.0.0.0/0" or r.v6 == "::/0") then
          assert.are.equal("alb", r.group, name)
          assert.is_true((r.from == 80 and r.to == 80) or (r.from == 443 and r.to == 443), name)
          world[#world + 1] = name
        end
      end
      table.sort(world)
      assert.are.same({ "alb-http-v4", "alb-http-v6", "alb-https-v4", "alb-https-v6" }, world)
      for _, g in ipairs(of_type(s, "aws.ec2.security_group")) do
        assert.is_false(g.attrs.allow_all_egress, g.address)
        assert.are.equal("acme-" .. g.name, g.attrs.name)
      end
    end)

    it("admits each tier only from the tier that needs it, by security group", function()
      local rules = rules_of(build())
      local ingress = {}
      for name, r in pairs(rules) do
        if r.type == "ingress" and r.peer then ingress[#ingress + 1] = string.format("%s<-%s:%d-%d", r.group, r.peer, r.from, r.to) end
        assert.are.equal("tcp", r.protocol, name)
      end
      table.sort(ingress)
      assert.are.same({ "cache<-ecs:6379-6379", "db<-ecs:3306-3306", "ecs<-alb:32768-65535", "efs<-ecs:2049-2049" },
        ingress)
    end)

    it("sends out only what each tier must: nothing at all from the data tiers", function()
      local egress = {}
      for _, r in pairs(rules_of(build())) do
        if r.type == "egress" then
          egress[#egress + 1] = string.format("%s->%s:%d-%d", r.group, r.peer or r.v4 or r.v6, r.from, r.to)
        end
      end
      table.sort(egress)
      assert.are.same({ "alb->ecs:32768-65535", "ecs->0.0.0.0/0:443-443", "ecs->cache:6379-6379", "ecs->db:3306-3306",
        "ecs->efs:2049-2049" }, egress)
    end)

    it("keeps 443 closed without a certificate, and uses the container port in awsvpc mode", function()
      local rules = rules_of(build { site = { domain = "www.example.com" },
        service = { network_mode = "awsvpc", port = 8080 } })
      assert.is_nil(rules["alb-https-v4"])
      assert.is_table(rules["alb-http-v4"])
      assert.are.same({ 8080, 8080 }, { rules["ecs-from-alb"].from, rules["ecs-from-alb"].to })
    end)

    it("needs the network tier", function()
      local s = stackmod.new { name = "x", region = "eu-west-1" }
      assert.has_error(function() security.build(s, params(), {}) end,
        "security.build: deps.net (from wpo.wordpress.network) with the VPC expected")
    end)
  end)

  describe("against fakeaws, through the engine", function()
    local fakeaws = require "fakeaws"
    local aws = require "wpo.aws"
    local apply = require "wpo.apply"
    local plan = require "wpo.plan"
    local retry = require "wpo.aws.retry"
    local f, real_client
    setup(function()
      f = fakeaws.start { region = "eu-west-1" }
      -- the engine makes its clients through wpo.aws.client: point them at fakeaws
      real_client = aws.client
      aws.client = function(service, opts)
        local o = { endpoint = f.url, credentials = { access_key = "test", secret_key = "test" }, rate_limit = false }
        for k, v in pairs(opts or {}) do o[k] = v end
        return real_client(service, o)
      end
      aws.set_wait_scale(0.001)
      retry.reset()
    end)
    teardown(function()
      aws.client = real_client
      aws.set_wait_scale(nil)
      if f then f:stop() end
    end)

    local function run(s, st, destroy, drift)
      local p = plan.make(s, st, { destroy = destroy, drift = drift })
      local r = enginetest.recorder()
      local result = apply.run(p, s, st, { reporter = r, parallelism = 16 })
      if not result.ok then
        local msgs = {}
        for _, e in ipairs(result.failures) do msgs[#msgs + 1] = e.address .. ": " .. tostring(e.err) end
        error(table.concat(msgs, "\n"), 0)
      end
      return p, result
    end

    local function replan(s, st)
      local ok, drift = pcall(plan.refresh, s, st)
      assert(ok, tostring(drift))
      return plan.make(s, st, { drift = drift }), drift
    end

    it("applies, finds no changes, moves from one NAT to one per zone in place, and destroys everything", function()
      local s = build { nat = "single", azs = { "eu-west-1a", "eu-west-1b" } }
      local st = enginetest.memstate()
      local p = run(s, st)
      assert.are.equal(#s.resources, p.summary.add)
      local held = f:state().ec2
      assert.are.equal(6, #require("wpo.text").sorted_keys(held.subnet))
      assert.are.equal(1, #require("wpo.text").sorted_keys(held.natgateway))

      local again, drift = replan(s, st)
      assert.are.same({}, drift)
      assert.is_false(plan.has_changes(again), plan.render(again))

      local s2 = build { nat = "per_az", azs = { "eu-west-1a", "eu-west-1b" } }
      local moved = replan(s2, st)
      assert.are.same({ add = 2, change = 1, destroy = 0, read = 0, forget = 0 }, moved.summary)    -- eip + nat of b; b's route
      assert.are.equal("update", moved.by_id["aws.ec2.route.private-b-internet"].action)
      run(s2, st)
      local routes = f:state().ec2["route-table"][st:get("aws.ec2.route_table.private-b").id].Routes
      local nat_b = st:get("aws.ec2.nat_gateway.nat-b").id
      local found = false
      for _, r in ipairs(routes) do if r.NatGatewayId == nat_b then found = true end end
      assert.is_true(found, "private-b does not route through nat-b")

      run(s2, st, true)
      assert.are.same({}, st:addresses())
      local left = {}
      for kind, objs in pairs(f:state().ec2 or {}) do
        for id, obj in pairs(objs) do
          if not (kind == "natgateway" and obj.State == "deleted") then left[#left + 1] = kind .. " " .. id end
        end
      end
      assert.are.same({}, left)
    end)
  end)
end)
