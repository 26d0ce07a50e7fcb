-- The security checklist of issue 6, checked on the planned stacks: the
-- declarations are followed through their references (which group a rule
-- belongs to, which subnets a database lands in), not trusted by name.
local h = require "helpers"
local stack = require "wpo.stack"
local value = require "wpo.value"

local STACKS = { "stacks/prod.lua", "stacks/staging.lua", "stacks/customers/acme.lua", "stacks/customers/globex.lua" }
local WORLD = { ["0.0.0.0/0"] = true, ["::/0"] = true }

-- The addresses a value refers to (directly).
local function targets(v)
  local out = {}
  value.refs(v, function(decl) out[#out + 1] = decl.address end)
  return out
end

local function by_type(s, type_name)
  local out = {}
  for _, d in ipairs(s.resources) do
    if d.type.name == type_name then out[#out + 1] = d end
  end
  return out
end

-- Every aws.ec2.subnet reached from a declaration through its subnet-ish attributes
-- (subnet_id(s), db_subnet_group_name, subnet_group_name), across subnet groups.
local function subnets_of(s, d, out)
  out = out or {}
  for name, v in pairs(d.attrs) do
    if name:match("subnet") then
      for _, addr in ipairs(targets(v)) do
        local t = s.by_address[addr]
        if t.type.name == "aws.ec2.subnet" then out[addr] = true else subnets_of(s, t, out) end
      end
    end
  end
  return out
end

-- Security groups named by a declaration's security-group attributes.
local function groups_of(d)
  local out = {}
  for name, v in pairs(d.attrs) do
    if name:match("security_group") then
      for _, addr in ipairs(targets(v)) do out[addr] = true end
    end
  end
  return out
end

-- Subnets whose route table has a route to an internet gateway.
local function public_subnets(s)
  local public_tables = {}
  for _, r in ipairs(by_type(s, "aws.ec2.route")) do
    for _, addr in ipairs(targets(r.attrs.gateway_id)) do
      if s.by_address[addr].type.name == "aws.ec2.internet_gateway" then
        for _, rt in ipairs(targets(r.attrs.route_table_id)) do public_tables[rt] = true end
      end
    end
  end
  local public = {}
  for _, a in ipairs(by_type(s, "aws.ec2.route_table_association")) do
    for _, rt in ipairs(targets(a.attrs.route_table_id)) do
      if public_tables[rt] then
        for _, sn in ipairs(targets(a.attrs.subnet_id)) do public[sn] = true end
      end
    end
  end
  return public
end

local function ingress_rules_of(s, group)
  local out = {}
  for _, r in ipairs(by_type(s, "aws.ec2.security_group_rule")) do
    if r.attrs.type == "ingress" then
      for _, g in ipairs(targets(r.attrs.security_group_id)) do
        if g == group then out[#out + 1] = r end
      end
    end
  end
  return out
end

for _, path in ipairs(STACKS) do
  describe("security checklist of " .. path, function()
    local s
    setup(function() s = stack.load(h.REPO .. "/" .. path) end)

    local function the(type_name)
      local list = by_type(s, type_name)
      assert.is_true(#list > 0, "the stack declares a " .. type_name)
      return list
    end

    it("opens only the load balancer to the internet, on 80 and 443", function()
      local alb_groups = {}
      for _, lb in ipairs(the("aws.elbv2.load_balancer")) do
        for g in pairs(groups_of(lb)) do alb_groups[g] = true end
      end
      local open = 0
      for _, r in ipairs(the("aws.ec2.security_group_rule")) do
        if r.attrs.type == "ingress" and (WORLD[r.attrs.cidr_ipv4 or ""] or WORLD[r.attrs.cidr_ipv6 or ""]) then
          open = open + 1
          for _, g in ipairs(targets(r.attrs.security_group_id)) do
            assert.is_true(alb_groups[g], r.address .. " opens " .. g .. " to the internet")
          end
          assert.is_true((r.attrs.from_port == 80 and r.attrs.to_port == 80)
            or (r.attrs.from_port == 443 and r.attrs.to_port == 443), r.address .. " opens other ports than 80/443")
        end
      end
      assert.is_true(open > 0, "the load balancer is reachable at all")
    end)

    it("keeps instances, databases, caches and file systems out of public subnets", function()
      local public = public_subnets(s)
      assert.is_true(next(public) ~= nil, "the layout has public subnets (for the load balancer)")
      local checked = 0
      for _, t in ipairs({ "aws.autoscaling.group", "aws.rds.cluster", "aws.rds.instance",
                           "aws.elasticache.replication_group", "aws.efs.mount_target" }) do
        for _, d in ipairs(by_type(s, t)) do
          local subnets = subnets_of(s, d)
          assert.is_true(next(subnets) ~= nil, d.address .. " is placed in subnets")
          for sn in pairs(subnets) do
            assert.is_nil(public[sn], d.address .. " is in the public subnet " .. sn)
            checked = checked + 1
          end
        end
      end
      assert.is_true(checked >= 3)
    end)

    it("lets only the web tier reach the database, the cache and the file system", function()
      local ecs_groups = {}
      for _, lt in ipairs(the("aws.ec2.launch_template")) do
        for g in pairs(groups_of(lt)) do ecs_groups[g] = true end
      end
      assert.is_true(next(ecs_groups) ~= nil)
      for _, t in ipairs({ "aws.rds.cluster", "aws.rds.instance", "aws.elasticache.replication_group",
                           "aws.efs.mount_target" }) do
        for _, d in ipairs(by_type(s, t)) do
          local groups = groups_of(d)
          assert.is_true(next(groups) ~= nil, d.address .. " has a security group")
          for g in pairs(groups) do
            local rules = ingress_rules_of(s, g)
            assert.is_true(#rules > 0, g .. " admits its clients")
            for _, r in ipairs(rules) do
              assert.is_nil(r.attrs.cidr_ipv4, r.address .. " admits an address range")
              assert.is_nil(r.attrs.cidr_ipv6, r.address .. " admits an address range")
              for _, peer in ipairs(targets(r.attrs.referenced_security_group_id)) do
                assert.is_true(ecs_groups[peer], r.address .. " admits " .. peer .. ", not the web tier")
              end
            end
          end
        end
      end
    end)

    it("requires IMDSv2 on the instances", function()
      for _, lt in ipairs(the("aws.ec2.launch_template")) do
        assert.are.equal("required", lt.attrs.http_tokens)
      end
    end)

    it("encrypts the data at rest, and Redis in transit", function()
      for _, d in ipairs(by_type(s, "aws.rds.cluster")) do assert.is_true(d.attrs.storage_encrypted) end
      for _, d in ipairs(by_type(s, "aws.rds.instance")) do assert.is_true(d.attrs.storage_encrypted) end
      for _, d in ipairs(the("aws.efs.file_system")) do assert.is_true(d.attrs.encrypted) end
      for _, d in ipairs(the("aws.elasticache.replication_group")) do
        assert.is_true(d.attrs.at_rest_encryption_enabled)
        assert.is_true(d.attrs.transit_encryption_enabled)
      end
      for _, d in ipairs(the("aws.ecr.repository")) do assert.is_not_nil(d.attrs.encryption_type) end
      assert.is_true(#by_type(s, "aws.rds.cluster") + #by_type(s, "aws.rds.instance") > 0, "a database")
    end)

    it("passes secrets to the container by reference, never in its environment", function()
      local secret_names = 0
      for _, td in ipairs(the("aws.ecs.task_definition")) do
        for _, c in ipairs(td.attrs.container_definitions) do
          for _, e in ipairs(c.environment or {}) do
            assert.is_nil(tostring(e.name):upper():match("PASSWORD"), "environment " .. tostring(e.name))
            assert.is_nil(tostring(e.name):upper():match("AUTH"), "environment " .. tostring(e.name))
            for _, addr in ipairs(targets(e.value)) do
              local source = s.by_address[addr].type.name
              assert.is_true(source ~= "aws.secretsmanager.secret" and source ~= "random.password",
                "environment " .. tostring(e.name) .. " takes the value of " .. addr)
            end
          end
          for _, sec in ipairs(c.secrets or {}) do
            secret_names = secret_names + 1
            assert.is_not_nil(sec.valueFrom, "secret " .. tostring(sec.name) .. " has a valueFrom")
          end
        end
      end
      assert.is_true(secret_names >= 2, "the DB password and the Redis token come from secrets")
    end)
  end)
end


-- The options of a site at its own name (CDN, WAF, uploads bucket, backups),
-- on the stacks that take them all.
for _, path in ipairs({ "stacks/prod.lua" }) do
  describe("security checklist of " .. path .. ", at its own name", function()
    local s
    setup(function() s = stack.load(h.REPO .. "/" .. path) end)

    local function the(type_name)
      local list = by_type(s, type_name)
      assert.is_true(#list > 0, "the stack declares a " .. type_name)
      return list
    end

    -- the options of a site at its own name, checked where the stack takes them
    local function one(type_name)
      local list = by_type(s, type_name)
      return #list == 1 and list[1] or nil, #list
    end

    it("keeps the uploads bucket private and TLS-only, readable by its CloudFront only", function()
      for _, b in ipairs(the("aws.s3.bucket")) do
        assert.is_true(b.attrs.block_public_access, b.address)
        local policy
        for _, bp in ipairs(by_type(s, "aws.s3.bucket_policy")) do
          for _, t in ipairs(targets(bp.attrs.bucket)) do if t == b.address then policy = bp end end
        end
        assert.is_truthy(policy, b.address .. " has a policy")
        local tls, readers = false, {}
        for _, st in ipairs(policy.attrs.policy.Statement) do
          local c = st.Condition or {}
          if st.Effect == "Deny" and c.Bool and c.Bool["aws:SecureTransport"] == "false" then tls = true end
          if st.Effect == "Allow" then
            assert.are.same({ Service = "cloudfront.amazonaws.com" }, st.Principal, policy.address)
            readers = targets(c.StringEquals["AWS:SourceArn"])
          end
        end
        assert.is_true(tls, policy.address .. " refuses plain HTTP")
        for _, r in ipairs(readers) do
          assert.are.equal("aws.cloudfront.distribution", s.by_address[r].type.name)
        end
      end
    end)

    it("lets only CloudFront through the load balancer", function()
      local cdn = one("aws.cloudfront.distribution")
      local https
      for _, l in ipairs(the("aws.elbv2.listener")) do if l.attrs.port == 443 then https = l end end
      assert.are.equal("fixed-response", https.attrs.default_action.type)
      assert.are.equal("403", https.attrs.default_action.fixed_response.status_code)
      local rule = one("aws.elbv2.listener_rule")
      assert.are.same({ https.address }, targets(rule.attrs.listener_arn))
      local header = rule.attrs.conditions.http_header
      local sent
      for _, o in ipairs(cdn.attrs.origins) do
        if o.custom_headers and o.custom_headers[header.name] then sent = o.custom_headers[header.name] end
      end
      assert.is_truthy(sent, "CloudFront sends " .. header.name)
      -- the same secret, from one generator, on both sides
      assert.are.same(targets(sent), targets(header.values[1]))
      assert.are.equal("random.password", s.by_address[targets(sent)[1]].type.name)
    end)

    it("attaches the WAF to CloudFront", function()
      local acl = one("aws.wafv2.web_acl")
      local cdn = one("aws.cloudfront.distribution")
      assert.are.equal("CLOUDFRONT", acl.attrs.scope)
      assert.are.same({ acl.address }, targets(cdn.attrs.web_acl_id))
      assert.is_nil(one("aws.wafv2.web_acl_association"))
    end)

    it("validates certificates by DNS before the listener and CloudFront use them", function()
      for _, c in ipairs(the("aws.acm.certificate")) do
        assert.are.equal("DNS", c.attrs.validation_method)
      end
      local users, checked = {}, 0
      for _, l in ipairs(by_type(s, "aws.elbv2.listener")) do users[#users + 1] = l.attrs.certificate_arn end
      for _, d in ipairs(by_type(s, "aws.cloudfront.distribution")) do users[#users + 1] = d.attrs.certificate_arn end
      for _, arn in ipairs(users) do
        for _, t in ipairs(targets(arn)) do
          assert.are.equal("aws.acm.certificate_validation", s.by_address[t].type.name)
          checked = checked + 1
        end
      end
      assert.are.equal(2, checked, "the HTTPS listener's and CloudFront's certificates")
    end)

    it("backs up the database and the file system", function()
      local sel = one("aws.backup.selection")
      local kinds = {}
      for _, r in ipairs(sel.attrs.resources) do
        for _, t in ipairs(targets(r)) do kinds[s.by_address[t].type.name] = true end
      end
      assert.is_true(kinds["aws.rds.cluster"] or kinds["aws.rds.instance"])
      assert.is_true(kinds["aws.efs.file_system"])
    end)
  end)
end
