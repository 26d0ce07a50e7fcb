-- aws.wafv2.web_acl and aws.wafv2.web_acl_association against fakeaws:
-- create, read (drift), update, import, delete; a lost create answer, a stale
-- lock token, CLOUDFRONT outside us-east-1, and a load balancer AWS WAF does
-- not know yet.

describe("aws.wafv2 types against fakeaws", function()
  local resource = require "wpo.resource"
  local typeflow = require "typeflow"

  local suite = typeflow.suite { region = "eu-west-1", stack = "prod" }
  local f, flow, waf
  before_each(function()
    f, flow = suite.f, suite.flow
    waf = suite:client("wafv2")
  end)
  local raised = typeflow.raised

  local GROUPS = { { name = "AWSManagedRulesCommonRuleSet" }, { name = "AWSManagedRulesKnownBadInputsRuleSet" },
    { name = "AWSManagedRulesWordPressRuleSet", override = "count" } }

  local function acl_of(rec)
    return waf:call("GetWebACL", { Name = rec.inputs.name, Scope = rec.inputs.scope, Id = rec.id })
  end

  local function objects()
    local out = {}
    for arn, acl in pairs((f:state().wafv2 or {})["web-acl"] or {}) do out[#out + 1] = { arn = arn, acl = acl } end
    return out
  end

  -- every later wafv2 GetWebACL this flow's resources make is followed, `times`
  -- times, by a change made by someone else (a new lock token)
  local function interleave(times)
    local base = flow.ctx
    flow.ctx = function(self, ...)
      local ctx = base(self, ...)
      local c = ctx:aws("wafv2")
      local call = c.call
      c.call = function(cl, op, p)
        local out, meta = call(cl, op, p)
        if op == "GetWebACL" and times > 0 then
          times = times - 1
          local now = waf:call("GetWebACL", p)
          waf:call("UpdateWebACL", { Name = p.Name, Scope = p.Scope, Id = p.Id, LockToken = now.LockToken,
            DefaultAction = now.WebACL.DefaultAction, Rules = now.WebACL.Rules,
            VisibilityConfig = now.WebACL.VisibilityConfig })
        end
        return out, meta
      end
      return ctx
    end
  end

  describe("aws.wafv2.web_acl", function()
    it("creates a REGIONAL web ACL: managed groups in order, then the rate limit; tagged; no drift", function()
      local rec = flow:create("aws.wafv2.web_acl", "wp", { name = "prod-wp", managed_rule_groups = GROUPS,
        rate_limit = { limit = 2000 }, tags = { team = "web" } })
      assert.matches("^arn:aws:wafv2:eu%-west%-1:123456789012:regional/webacl/prod%-wp/", rec.outputs.arn)
      assert.are.equal(rec.id, rec.outputs.id)
      local got = acl_of(rec).WebACL
      assert.are.same({ Allow = {} }, got.DefaultAction)
      local rules = {}
      for _, r in ipairs(got.Rules) do rules[r.Priority + 1] = r end
      assert.are.equal("AWSManagedRulesCommonRuleSet", rules[1].Statement.ManagedRuleGroupStatement.Name)
      assert.are.same({ None = {} }, rules[1].OverrideAction)
      assert.are.same({ Count = {} }, rules[3].OverrideAction)
      assert.are.equal(2000, rules[4].Statement.RateBasedStatement.Limit)
      assert.are.equal("IP", rules[4].Statement.RateBasedStatement.AggregateKeyType)
      assert.are.same({ Block = {} }, rules[4].Action)
      assert.are.same({ SampledRequestsEnabled = true, CloudWatchMetricsEnabled = true, MetricName = "prod-wp" },
        got.VisibilityConfig)
      assert.are.equal("prod-wp-rate-limit", rules[4].VisibilityConfig.MetricName)
      local tags = waf:call("ListTagsForResource", { ResourceARN = rec.outputs.arn }).TagInfoForResource.TagList
      local map = {}
      for _, t in ipairs(tags) do map[t.Key] = t.Value end
      assert.are.equal("aws.wafv2.web_acl.wp", map["wpo:address"])
      assert.are.equal("web", map.team)
      assert.are.same({}, flow:drift(rec))
    end)

    it("updates rules, default action and tags in place; sees changes made outside wpo", function()
      local rec = flow:create("aws.wafv2.web_acl", "wp", { name = "prod-wp", managed_rule_groups = GROUPS })
      rec = flow:update(rec, { name = "prod-wp", default_action = "block",
        managed_rule_groups = { { name = "AWSManagedRulesSQLiRuleSet" }, GROUPS[1] },
        rate_limit = { limit = 500, action = "count" }, metric_name = "wpmetric", tags = { a = "1" } })
      local got = acl_of(rec).WebACL
      assert.are.same({ Block = {} }, got.DefaultAction)
      assert.are.equal(3, #got.Rules)
      assert.are.equal("wpmetric", got.VisibilityConfig.MetricName)
      assert.are.same({}, flow:drift(rec))
      -- out of band: the groups swapped, the rate rule gone, allow again
      local now = acl_of(rec)
      local r1, r2 = now.WebACL.Rules[1], now.WebACL.Rules[2]
      r1.Priority, r2.Priority = r2.Priority, r1.Priority
      waf:call("UpdateWebACL", { Name = "prod-wp", Scope = "REGIONAL", Id = rec.id, LockToken = now.LockToken,
        DefaultAction = { Allow = {} }, Rules = { r1, r2 }, VisibilityConfig = now.WebACL.VisibilityConfig })
      local drifted, seen = flow:drift(rec)
      assert.are.same({ "default_action", "managed_rule_groups", "rate_limit" }, drifted)
      -- the plan's update: from what AWS has back to what the script says
      local want = rec.inputs
      rec.inputs = seen
      rec = flow:update(rec, want)
      assert.are.equal(3, #acl_of(rec).WebACL.Rules)
      assert.are.same({}, flow:drift(rec))
    end)

    it("sends an update again once when its lock token went stale, and says so when it stays stale", function()
      local rec = flow:create("aws.wafv2.web_acl", "wp", { name = "prod-wp" })
      interleave(1)
      rec = flow:update(rec, { name = "prod-wp", default_action = "block" })
      assert.are.same({ Block = {} }, acl_of(rec).WebACL.DefaultAction)
      assert.is_truthy(table.concat(flow.logs, "\n"):find("stale lock token", 1, true))
      assert.are.equal(1, (f:calls(true)["wafv2.UpdateWebACL"] or {}).errors.WAFOptimisticLockException)
      interleave(2)
      local err = raised(function() flow:update(rec, { name = "prod-wp", default_action = "allow" }) end)
      assert.are.equal("WAFOptimisticLockException", err.code)
      -- a delete reads the token afresh too
      interleave(1)
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
    end)

    it("finds the web ACL its lost create made instead of making another", function()
      f:faults { drop_rate = 1, operations = { "wafv2.CreateWebACL" } }
      local rec = flow:create("aws.wafv2.web_acl", "wp", { name = "prod-wp", managed_rule_groups = GROUPS })
      f:faults {}
      assert.are.equal(1, #objects())
      assert.are.equal(objects()[1].arn, rec.outputs.arn)
      assert.are.same({}, flow:drift(rec))
      -- a name taken by another resource's web ACL is refused, not adopted
      assert.are.equal("AlreadyExists", raised(function()
        flow:create("aws.wafv2.web_acl", "other", { name = "prod-wp" }) end).code)
    end)

    it("imports by id, ARN or id/name/scope, and deletes twice", function()
      local rec = flow:create("aws.wafv2.web_acl", "wp", { name = "prod-wp", managed_rule_groups = GROUPS,
        rate_limit = { limit = 100 } })
      local by_arn = flow:import("aws.wafv2.web_acl", "wp", rec.outputs.arn)
      assert.are.equal(rec.id, by_arn.id)
      assert.are.same({ name = "AWSManagedRulesWordPressRuleSet", vendor = "AWS", override = "count" },
        by_arn.inputs.managed_rule_groups[3])
      assert.are.same({ limit = 100, action = "block" }, by_arn.inputs.rate_limit)
      local by_triple = flow:import("aws.wafv2.web_acl", "wp", rec.id .. "/prod-wp/REGIONAL")
      assert.are.equal(rec.outputs.arn, by_triple.outputs.arn)
      assert.are.equal(rec.outputs.arn, flow:import("aws.wafv2.web_acl", "wp", rec.id).outputs.arn)
      assert.are.equal("InvalidParameterValue", raised(function()
        flow:import("aws.wafv2.web_acl", "wp", "prod-wp") end).code)
      flow:delete(rec)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
      -- with nothing but its id (no state inputs): found by listing
      local bare = flow:create("aws.wafv2.web_acl", "bare", { name = "bare" })
      local t = resource.get("aws.wafv2.web_acl")
      assert.are.equal("bare", t.read(flow:ctx("aws.wafv2.web_acl", "bare"), bare.id, nil).name)
      t.delete(flow:ctx("aws.wafv2.web_acl", "bare"), bare.id, nil)
      assert.are.equal(0, #objects())
      t.delete(flow:ctx("aws.wafv2.web_acl", "bare"), bare.id, nil)
    end)

    it("refuses CLOUDFRONT outside us-east-1, at plan time and at create, and makes it in us-east-1", function()
      local t = resource.get("aws.wafv2.web_acl")
      local err = raised(function()
        t.check(flow:ctx("aws.wafv2.web_acl", "edge"), { name = "edge", scope = "CLOUDFRONT" })
      end)
      assert.matches("CLOUDFRONT is made in us%-east%-1, not eu%-west%-1", err.message)
      assert.matches("CLOUDFRONT", raised(function()
        flow:create("aws.wafv2.web_acl", "edge", { name = "edge", scope = "CLOUDFRONT" }) end).message)
      assert.are.equal(0, f:calls()["wafv2.CreateWebACL"] or 0)
      local east = typeflow.new(f, { stack = "prod", region = "us-east-1" })
      local rec = east:create("aws.wafv2.web_acl", "edge", { name = "edge", scope = "CLOUDFRONT",
        managed_rule_groups = { GROUPS[1] } })
      assert.matches("^arn:aws:wafv2:us%-east%-1:123456789012:global/webacl/edge/", rec.outputs.arn)
      assert.are.same({}, east:drift(rec))
      east:delete(rec)
      assert.is_nil(east:read(rec))
    end)

    it("refuses a rate limit out of range and a group named twice", function()
      local function fails(attrs)
        return raised(function() flow:create("aws.wafv2.web_acl", "wp", attrs) end).message
      end
      assert.matches("from 100 to 2000000000", fails { name = "x", rate_limit = { limit = 99 } })
      assert.matches("names AWSManagedRulesCommonRuleSet twice", fails { name = "x",
        managed_rule_groups = { GROUPS[1], GROUPS[1] } })
      assert.are.equal(0, f:calls()["wafv2.CreateWebACL"] or 0)
      local _, attr = resource.desired(resource.get("aws.wafv2.web_acl"), { name = "x", default_action = "deny" })
      assert.are.equal("default_action", attr)
    end)
  end)

  describe("aws.wafv2.web_acl_association", function()
    after_each(function() f:eventual { seconds = 0 } end)
    local function load_balancer(name)
      local ec2 = suite:client("ec2")
      local vpc = ec2:call("CreateVpc", { CidrBlock = "10.1.0.0/16" }).Vpc.VpcId
      local subnets = {}
      for i, z in ipairs({ "a", "b" }) do
        subnets[i] = ec2:call("CreateSubnet", { VpcId = vpc, CidrBlock = "10.1." .. i .. ".0/24",
          AvailabilityZone = "eu-west-1" .. z }).Subnet.SubnetId
      end
      return suite:client("elbv2"):call("CreateLoadBalancer", { Name = name or "prod-alb",
        Subnets = subnets }).LoadBalancers[1].LoadBalancerArn
    end

    it("associates the web ACL with the load balancer, reads it, imports it, and takes it away", function()
      local lb = load_balancer()
      local acl = flow:create("aws.wafv2.web_acl", "wp", { name = "prod-wp", managed_rule_groups = GROUPS })
      local rec = flow:create("aws.wafv2.web_acl_association", "alb", { resource_arn = lb,
        web_acl_arn = acl.outputs.arn })
      assert.are.equal(lb, rec.id)
      assert.are.equal(acl.outputs.arn, waf:call("GetWebACLForResource", { ResourceArn = lb }).WebACL.ARN)
      assert.are.same({}, flow:drift(rec))
      local imported = flow:import("aws.wafv2.web_acl_association", "alb", lb)
      assert.are.equal(acl.outputs.arn, imported.inputs.web_acl_arn)
      -- the web ACL cannot go while it protects the load balancer
      assert.are.equal("ResourceInUse", raised(function() flow:delete(acl) end).code)
      flow:delete(rec)
      assert.is_nil(waf:call("GetWebACLForResource", { ResourceArn = lb }).WebACL)
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
      flow:delete(acl)
    end)

    it("adopts an association already in place with its web ACL, and refuses one held by another", function()
      local lb = load_balancer()
      local acl = flow:create("aws.wafv2.web_acl", "wp", { name = "prod-wp" })
      local other = flow:create("aws.wafv2.web_acl", "other", { name = "other" })
      waf:call("AssociateWebACL", { WebACLArn = acl.outputs.arn, ResourceArn = lb })
      flow:create("aws.wafv2.web_acl_association", "alb", { resource_arn = lb, web_acl_arn = acl.outputs.arn })
      assert.are.equal(1, f:calls()["wafv2.AssociateWebACL"])
      local err = raised(function()
        flow:create("aws.wafv2.web_acl_association", "alb2", { resource_arn = lb, web_acl_arn = other.outputs.arn })
      end)
      assert.are.equal("AlreadyExists", err.code)
      assert.matches("already protected by the web ACL", err.message)
    end)

    it("waits while AWS WAF does not know a new load balancer yet (WAFUnavailableEntityException)", function()
      f:eventual { seconds = 0.4, fixed = true, behaviours = { "waf-entity" } }
      flow.late = true
      local lb = load_balancer()
      local acl = flow:create("aws.wafv2.web_acl", "wp", { name = "prod-wp" })
      local rec = flow:create("aws.wafv2.web_acl_association", "alb", { resource_arn = lb,
        web_acl_arn = acl.outputs.arn })
      f:eventual { seconds = 0 }
      assert.are.equal(lb, rec.id)
      assert.is_true((f:calls(true)["wafv2.GetWebACLForResource"].errors or {}).WAFUnavailableEntityException >= 1)
      assert.is_truthy(table.concat(flow.logs, "\n"):find("waiting for AWS WAF to know the load balancer prod-alb",
        1, true))
    end)

    it("reads nil once the load balancer is gone", function()
      local lb = load_balancer()
      local acl = flow:create("aws.wafv2.web_acl", "wp", { name = "prod-wp" })
      local rec = flow:create("aws.wafv2.web_acl_association", "alb", { resource_arn = lb,
        web_acl_arn = acl.outputs.arn })
      suite:client("elbv2"):call("DeleteLoadBalancer", { LoadBalancerArn = lb })
      assert.is_nil(flow:read(rec))
      flow:delete(rec)
      flow:delete(acl)
    end)
  end)
end)

describe("aws.wafv2 and aws.elbv2.listener_rule through wpo run", function()
  local typeflow = require "typeflow"
  local env
  setup(function() env = typeflow.start { settle = 1 } end)
  teardown(function() if env then env:stop() end end)

  local SECRET = "cf-only-2b9e41f7a0"

  -- an ALB whose listener answers 403 unless the secret header is there; a
  -- web ACL protecting it; and a CLOUDFRONT web ACL in us-east-1
  local function stack(net, default_action)
    return table.concat({
      'local s = wpo.stack { name = "t", region = "' .. env.f.region .. '" }',
      'local edge = s:provider("edge", { region = "us-east-1" })',
      'local alb = s:add("aws.elbv2.load_balancer", "web", { name = "wp-alb", subnet_ids = '
        .. typeflow.lua_list { net.subnets[1], net.subnets[2] } .. ', security_group_ids = { "' .. net.sg .. '" } })',
      'local tg = s:add("aws.elbv2.target_group", "web", { name = "wp-web", port = 80, vpc_id = "' .. net.vpc .. '" })',
      'local http = s:add("aws.elbv2.listener", "http", { load_balancer_arn = alb.arn, port = 80,',
      '  default_action = { type = "fixed-response", fixed_response = { status_code = "403" } } })',
      's:add("aws.elbv2.listener_rule", "origin", { listener_arn = http.arn, priority = 1,',
      '  conditions = { http_header = { name = "X-Origin-Verify", values = { "' .. SECRET .. '" } } },',
      '  action = { type = "forward", target_group_arn = tg.arn } })',
      'local acl = s:add("aws.wafv2.web_acl", "regional", { name = "wp", default_action = "' .. default_action .. '",',
      '  managed_rule_groups = { { name = "AWSManagedRulesCommonRuleSet" }, { name = "AWSManagedRulesWordPressRuleSet" } },',
      '  rate_limit = { limit = 1000 } })',
      's:add("aws.wafv2.web_acl_association", "alb", { resource_arn = alb.arn, web_acl_arn = acl.arn })',
      's:add("aws.wafv2.web_acl", "edge", { name = "wp-edge", scope = "CLOUDFRONT", provider = edge,',
      '  managed_rule_groups = { { name = "AWSManagedRulesKnownBadInputsRuleSet", override = "count" } } })',
      'return s', '' }, "\n")
  end

  it("applies, shows no changes, changes the web ACL in place, and destroys; the secret never printed", function()
    local net = env:network()
    env:write("s.lua", stack(net, "allow"))
    local out = {}
    local function run(args)
      local r = env:wpo(args)
      out[#out + 1] = r.stdout .. r.stderr
      return r
    end
    local r = run { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    local res = env:resources()
    assert.matches(":global/webacl/wp%-edge/", res["aws.wafv2.web_acl.edge"].outputs.arn)
    assert.are.equal(res["aws.elbv2.load_balancer.web"].outputs.arn, res["aws.wafv2.web_acl_association.alb"].id)
    r = run { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    env:write("s.lua", stack(net, "block"))
    r = run { "plan", "s.lua" }
    assert.matches("~ aws.wafv2.web_acl.regional", r.stdout, 1, true)
    assert.matches("default_action%s+= \"allow\" %-> \"block\"", r.stdout)
    r = run { "run", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    r = run { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    r = run { "show", "s.lua" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    r = run { "destroy", "s.lua", "--yes" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.are.same({}, env:objects("wafv2", "web-acl"))
    assert.are.same({}, env:objects("elbv2", "rule"))
    assert.are.same({}, env:objects("elbv2", "load-balancer"))
    assert.is_nil(table.concat(out, "\n"):find(SECRET, 1, true))
  end)
end)
