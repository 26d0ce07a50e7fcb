-- wpo.aws.typekit's late conditions (DESIGN.md, guarantee 3): every condition
-- of typekit.LATE is sent again while AWS refuses a call for it, and only when
-- the type declares it; other errors are raised at once; the wait ends at the
-- type's timeout; NotFound for an EC2 object made less than
-- resource.VISIBLE_AFTER_CREATE seconds ago (and not deleted since) is waited
-- out; resource.read does not believe "gone" within that window. A fake clock
-- and a scripted client: no real sleeps, nothing sent.
local errors = require "wpo.errors"
local kit = require "wpo.aws.typekit"
local resource = require "wpo.resource"

describe("wpo.aws.typekit late conditions", function()
  local clock, saved_clock, notes, events

  before_each(function()
    saved_clock = resource.clock
    clock = { t = 1000, e = 1700000000, slept = {} }
    resource.clock = {
      now = function() return clock.t end,
      epoch = function() return clock.e end,
      sleep = function(s) clock.slept[#clock.slept + 1] = s; clock.t = clock.t + s; clock.e = clock.e + s end,
    }
    kit.forget()
    events = {}
    kit.on_late = function(e) events[#events + 1] = e end
  end)

  after_each(function()
    resource.clock = saved_clock
    kit.on_late = nil
    kit.forget()
  end)

  -- a context of a type declaring `late`
  local function context(late, prior)
    notes = {}
    local t = { name = "spec.type", late = late }
    return resource.context { address = "spec.type.x", type = t, stack = "s", region = "eu-west-1",
      where = "s.lua:1", prior = prior, logger = function(_, msg) notes[#notes + 1] = msg end }
  end

  local function aws_error(service, op, code, message)
    return errors.new { code = code, message = message, service = service, operation = op, status = 400,
      request_id = "req-" .. code }
  end

  -- a client of `service` whose invoke answers from `script` (a function
  -- (op, params, n) -> result | error table), counting the calls
  local function client(service, script)
    local c = { service = service, calls = {} }
    function c.invoke(self, op, params)
      self.calls[#self.calls + 1] = op
      local out = script(op, params, #self.calls)
      if errors.is(out) then error(out, 0) end
      return out, { request_id = "ok" }
    end
    function c.pcall(self, op, params)
      local ok, out = pcall(self.invoke, self, op, params)
      if ok then return out end
      return nil, out
    end
    return c
  end

  -- refused `times` times with err, then answered {}
  local function refusing(err, times)
    local n = 0
    return function()
      n = n + 1
      if n <= times then return err end
      return { ok = true }
    end
  end

  -- One example per condition of typekit.LATE: AWS's own answer while it lasts.
  local EXAMPLES = {
    iam_instance_profile = { "autoscaling", "CreateAutoScalingGroup", "ValidationError",
      "You must use a valid fully-formed launch template. Value (wordpress-ecs) for parameter iamInstanceProfile.name "
        .. "is invalid. Invalid IAM Instance Profile name", {}, "IAM to propagate the instance profile wordpress-ecs" },
    launch_template_version = { "autoscaling", "UpdateAutoScalingGroup", "ValidationError",
      "You must use a valid fully-formed launch template. Could not find launch template version 2 for the launch "
        .. "template lt-0123456789abcdef0.", {},
      "EC2 to show the launch template lt-0123456789abcdef0 version 2 to Auto Scaling" },
    ecs_service_linked_role = { "ecs", "CreateCapacityProvider", "ClientException",
      "ECS Service Linked Role does not exist. Please create a Service linked role for ECS and try again.", {},
      "IAM to propagate ECS's service-linked role" },
    ecs_service_role = { "ecs", "CreateService", "InvalidParameterException",
      "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role being "
        .. "passed has the proper permissions.", { role = "arn:aws:iam::123456789012:role/ecs-service" },
      "IAM to propagate the role ecs-service" },
    target_group_association = { "ecs", "CreateService", "InvalidParameterException",
      "The target group with targetGroupArn arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/prod-web/"
        .. "0123456789abcdef does not have an associated load balancer.", {},
      "Elastic Load Balancing to associate the target group prod-web with its load balancer" },
    application_autoscaling_role = { "application-autoscaling", "RegisterScalableTarget", "ValidationException",
      "Unable to assume IAM role: arn:aws:iam::123456789012:role/scaler",
      { RoleARN = "arn:aws:iam::123456789012:role/scaler" }, "IAM to propagate the role scaler" },
    rds_monitoring_role = { "rds", "CreateDBInstance", "InvalidParameterValue",
      "IAM role ARN value is invalid or does not include the required permissions for: ENHANCED_MONITORING",
      { MonitoringRoleArn = "arn:aws:iam::123456789012:role/rds-monitoring" },
      "IAM to propagate the monitoring role rds-monitoring" },
    backup_iam_role = { "backup", "CreateBackupSelection", "InvalidParameterValueException",
      "IAM Role arn:aws:iam::123456789012:role/backup cannot be assumed by AWS Backup",
      { BackupPlanId = "p", BackupSelection = { SelectionName = "wp", IamRoleArn = "arn:aws:iam::123456789012:role/backup" } },
      "IAM to propagate the role backup" },
    secret_name_purging = { "secretsmanager", "CreateSecret", "InvalidRequestException",
      "You can't create this secret because a secret with this name is already scheduled for deletion.",
      { Name = "prod/db" }, "Secrets Manager to finish deleting the secret prod/db" },
    waf_entity = { "wafv2", "AssociateWebACL", "WAFUnavailableEntityException",
      "AWS WAF couldn't retrieve the resource that you requested. Retry your request.",
      { ResourceArn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/prod-alb/0123456789abcdef",
        WebACLArn = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/prod/1" },
      "AWS WAF to know the load balancer prod-alb" },
    -- the 7th member: what happened before (this process made the bucket)
    s3_new_bucket = { "s3", "PutBucketTagging", "NoSuchBucket", "The specified bucket does not exist",
      { Bucket = "acme-wpo-state" }, "S3 to show the new bucket acme-wpo-state",
      function(client_of)
        kit.late_call(context(nil))(client_of("s3", function() return {} end), "CreateBucket",
          { Bucket = "acme-wpo-state" })
      end },
  }

  -- what answers DescribeSecret (secret_name_purging asks whether the name is held)
  local function with_describe(script, described)
    return function(op, params, n)
      if op == "DescribeSecret" then
        return described or aws_error("secretsmanager", op, "ResourceNotFoundException",
          "Secrets Manager can't find the specified secret.")
      end
      return script(op, params, n)
    end
  end

  it("has an example for every condition it knows", function()
    for name in pairs(kit.LATE) do
      if name ~= "not_visible_yet" then assert.is_table(EXAMPLES[name], "no example for " .. name) end
    end
  end)

  for name, ex in pairs(EXAMPLES) do
    local service, op, code, message, params, waits, before = table.unpack(ex)

    it(name .. ": sent again with backoff while refused, when the type declares it", function()
      if before then before(client) end
      local err = aws_error(service, op, code, message)
      local c = client(service, with_describe(refusing(err, 3)))
      local out = kit.late_call(context(kit.late { name }))(c, op, params)
      assert.is_true(out.ok)
      local sent = 0
      for _, o in ipairs(c.calls) do if o == op then sent = sent + 1 end end
      assert.are.equal(4, sent)
      assert.are.same({ 0.1, 0.1, 0.1 }, clock.slept)
      assert.are.same({ "waiting for " .. waits .. " (0s)" }, notes)
      assert.are.equal(1, #events)
      assert.are.same({ name, "req-" .. code, 3, true }, { events[1].condition, events[1].request_id,
        events[1].refused, events[1].ok })
    end)

    it(name .. ": raised at once when the type does not declare it", function()
      local err = aws_error(service, op, code, message)
      local c = client(service, with_describe(refusing(err, 1)))
      local ok, got = pcall(kit.late_call(context(nil)), c, op, params)
      assert.is_false(ok)
      assert.are.equal(err, got)
      assert.are.same({}, clock.slept)
    end)
  end

  it("s3_new_bucket: NoSuchBucket for a bucket this process did not make, or deleted since, is raised at once",
    function()
      local ex = EXAMPLES.s3_new_bucket
      local err = aws_error(ex[1], ex[2], ex[3], ex[4])
      local c = client("s3", refusing(err, 1))
      local ok, got = pcall(kit.late_call(context(kit.late { "s3_new_bucket" })), c, ex[2], ex[5])
      assert.is_false(ok)
      assert.are.equal(err, got)
      local s3 = client("s3", function() return {} end)
      kit.late_call(context(nil))(s3, "CreateBucket", ex[5])
      kit.late_call(context(nil))(s3, "DeleteBucket", ex[5])
      ok, got = pcall(kit.late_call(context(kit.late { "s3_new_bucket" })), client("s3", refusing(err, 1)), ex[2], ex[5])
      assert.is_false(ok)
      assert.are.equal(err, got)
      assert.are.same({}, clock.slept)
    end)

  it("sleeps through the context's idle (apply lends the resource's slot meanwhile)", function()
    local ex = EXAMPLES.target_group_association
    local c = client("ecs", refusing(aws_error(ex[1], ex[2], ex[3], ex[4]), 2))
    local ctx = context(kit.late { "target_group_association" })
    local idled = 0
    ctx.idle = function(fn) idled = idled + 1; fn() end
    kit.late_call(ctx)(c, ex[2], ex[5])
    assert.are.equal(2, idled)
    assert.are.equal(2, #clock.slept)
  end)

  it("raises other errors at once, even with the same code", function()
    local err = aws_error("autoscaling", "CreateAutoScalingGroup", "ValidationError",
      "Max bound, 1, must be greater than or equal to min bound, 2")
    local c = client("autoscaling", refusing(err, 5))
    local ok, got = pcall(kit.late_call(context(kit.late { "iam_instance_profile", "launch_template_version" })), c,
      "CreateAutoScalingGroup", {})
    assert.is_false(ok)
    assert.are.equal(err, got)
    assert.are.equal(1, #c.calls)
  end)

  it("gives up at the type's timeout, saying what it waited for", function()
    local ex = EXAMPLES.iam_instance_profile
    local err = aws_error(ex[1], ex[2], ex[3], ex[4])
    local c = client("autoscaling", refusing(err, math.huge))
    local spent = require("wpo.aws").late_spent()
    local ok, got = pcall(kit.late_call(context(kit.late { "iam_instance_profile", timeout = 30 })), c, ex[2], {})
    -- time aws.wait does not count against the timeout of a wait around the call
    assert.is_true(math.abs(require("wpo.aws").late_spent() - spent - 30) < 1e-6)
    assert.is_false(ok)
    assert.are.equal("ValidationError", got.code)
    assert.matches("%(still so after waiting 30s for IAM to propagate the instance profile wordpress%-ecs%)$",
      got.message)
    assert.are.equal(30, clock.t - 1000)
    -- a progress line at the start, then one every NOTE_EVERY seconds at most
    assert.are.equal("waiting for IAM to propagate the instance profile wordpress-ecs (0s)", notes[1])
    assert.is_true(#notes >= 5 and #notes <= 7, #notes .. " lines")
    for _, s in ipairs(clock.slept) do assert.is_true(s <= kit.BACKOFF.max) end
    -- a part of the time waited so far: what is waited past AWS's moment stays small
    local waited = 0
    for i = 1, #clock.slept - 1 do
      assert.are.equal(string.format("%.6f", kit.backoff(waited)), string.format("%.6f", clock.slept[i]))
      waited = waited + clock.slept[i]
    end
    assert.are.equal(0.1, clock.slept[1])
    assert.is_false(events[1].ok)
  end)

  it("a secret whose name another secret in its recovery window holds is not waited for", function()
    local ex = EXAMPLES.secret_name_purging
    local err = aws_error(ex[1], ex[2], ex[3], ex[4])
    local c = client("secretsmanager", with_describe(refusing(err, 1), { ARN = "arn", Name = "prod/db",
      DeletedDate = "2026-01-01T00:00:00Z" }))
    local ok, got = pcall(kit.late_call(context(kit.late { "secret_name_purging" })), c, ex[2], ex[5])
    assert.is_false(ok)
    assert.are.equal(err, got)
  end)

  it("checks declarations", function()
    assert.has_error(function() kit.late { "iam_propagation" } end,
      "typekit.late: unknown condition 'iam_propagation' (known: application_autoscaling_role, backup_iam_role, "
        .. "ecs_service_linked_role, ecs_service_role, iam_instance_profile, launch_template_version, "
        .. "rds_monitoring_role, s3_new_bucket, secret_name_purging, target_group_association, waf_entity)")
    assert.has_error(function() kit.late { "iam_instance_profile", timeot = 3 } end)
    assert.has_error(function() kit.late { timeout = -1 } end)
    assert.are.equal(kit.LATE_TIMEOUT, kit.late({}).timeout)
  end)

  describe("not visible yet", function()
    local VPC = "vpc-0123456789abcdef0"
    local SUBNET = "subnet-0123456789abcdef0"
    local function not_found(op)
      return aws_error("ec2", op, "InvalidVpcID.NotFound", "The vpc ID '" .. VPC .. "' does not exist")
    end

    -- CreateVpc answers VPC; CreateSubnet naming it is refused `times` times
    local function ec2(times)
      return client("ec2", function(op, _, n)
        if op == "CreateVpc" then return { Vpc = { VpcId = VPC, DhcpOptionsId = "dopt-0123abcd" } } end
        if op == "DeleteVpc" then return {} end
        if op == "DescribeVpcs" or (op == "CreateSubnet" and n <= times + 1) then return not_found(op) end
        return { Subnet = { SubnetId = SUBNET, VpcId = VPC } }
      end)
    end

    it("waits out NotFound for an object this process just made, for any type", function()
      local c = ec2(3)
      local call = kit.late_call(context(nil))
      call(c, "CreateVpc", { CidrBlock = "10.0.0.0/16" })
      local out = call(c, "CreateSubnet", { VpcId = VPC, CidrBlock = "10.0.1.0/24" })
      assert.are.equal(SUBNET, out.Subnet.SubnetId)
      assert.are.equal(5, #c.calls)
      assert.are.same({ "waiting for EC2 to show the VPC " .. VPC .. " (0s)" }, notes)
      assert.are.equal("not_visible_yet", events[1].condition)
    end)

    it("takes NotFound as it is for an object it did not make", function()
      local c = ec2(3)
      local ok, got = pcall(kit.late_call(context(nil)), c, "CreateSubnet", { VpcId = VPC })
      assert.is_false(ok)
      assert.are.equal("InvalidVpcID.NotFound", got.code)
      assert.are.equal(1, #c.calls)
    end)

    it("stops waiting once VISIBLE_AFTER_CREATE has passed since the create", function()
      local c = ec2(math.huge)
      local call = kit.late_call(context(nil))
      call(c, "CreateVpc", {})
      clock.e = clock.e + resource.VISIBLE_AFTER_CREATE - 10
      local ok, got = pcall(call, c, "CreateSubnet", { VpcId = VPC })
      assert.is_false(ok)
      assert.matches("still so after waiting 1%ds for EC2 to show the VPC", got.message)
      assert.is_true(clock.t - 1000 >= 10 and clock.t - 1000 <= 10 + kit.BACKOFF.max)
    end)

    it("takes NotFound as it is once the object was deleted", function()
      local c = ec2(math.huge)
      local call = kit.late_call(context(nil))
      call(c, "CreateVpc", {})
      call(c, "DeleteVpc", { VpcId = VPC })
      local ok, got = pcall(call, c, "DescribeVpcs", { VpcIds = { VPC } })
      assert.is_false(ok)
      assert.are.equal("InvalidVpcID.NotFound", got.code)
      assert.are.equal(0, #clock.slept)
    end)

    it("knows the resource's own object was made when its state record says so", function()
      local c = client("ec2", function(op, _, n)
        if n <= 2 then return not_found(op) end
        return { Vpcs = { { VpcId = VPC } } }
      end)
      local fresh = kit.late_call(context(nil, { id = VPC, created = clock.e - 5 }))
      assert.are.equal(VPC, fresh(c, "DescribeVpcs", { VpcIds = { VPC } }).Vpcs[1].VpcId)
      local old = kit.late_call(context(nil, { id = VPC, created = clock.e - resource.VISIBLE_AFTER_CREATE - 1 }))
      c.calls = {}
      local c2 = client("ec2", function(op) return not_found(op) end)
      assert.is_false(pcall(old, c2, "DescribeVpcs", { VpcIds = { VPC } }))
      assert.are.equal(1, #c2.calls)
    end)

    it("takes NotFound as it is for a call taking the resource's own object away (another deletion may have)", function()
      local c = client("ec2", function(op)
        return aws_error("ec2", op, "InvalidAssociationID.NotFound", "The association ID 'rtbassoc-0123456789abcdef0' "
          .. "does not exist")
      end)
      local call = kit.late_call(context(nil, { id = "rtbassoc-0123456789abcdef0", created = clock.e - 5 }))
      assert.is_false(pcall(call, c, "DisassociateRouteTable", { AssociationId = "rtbassoc-0123456789abcdef0" }))
      assert.are.equal(1, #c.calls)
    end)
  end)

  describe("resource.read", function()
    local function flaky_type(misses)
      local n = 0
      return { name = "spec.type", read = function()
        n = n + 1
        if n <= misses then return nil end
        return { id = "x" }
      end, reads = function() return n end }
    end

    it("reads again while the object was made less than VISIBLE_AFTER_CREATE seconds ago", function()
      local t = flaky_type(3)
      local out = resource.read(t, context(nil), "x", { id = "x", created = clock.e - 2 })
      assert.are.same({ id = "x" }, out)
      assert.are.equal(4, t.reads())
      assert.matches("^not found 2s after its create: reading it again", notes[1])
    end)

    it("believes gone once the window has passed, or without a record of the create", function()
      local t = flaky_type(math.huge)
      assert.is_nil(resource.read(t, context(nil), "x", { id = "x", created = clock.e - 100 }))
      local waited = clock.e - (1700000000 - 100)
      assert.is_true(waited >= 120 and waited <= 120 + resource.READ_AGAIN.max, waited)
      local t2 = flaky_type(1)
      assert.is_nil(resource.read(t2, context(nil), "x", { id = "x" }))
      assert.are.equal(1, t2.reads())
    end)
  end)
end)
