-- AWS as it really behaves (issue 18), end to end through the wpo binary
-- against tests/fakeaws with its eventual-consistency model on, one behaviour
-- at a time and every delay fixed (1 s), so that each is certainly met:
-- each run succeeds only because wpo waits that condition out, and says what
-- it waits for. Remove a type's `late` declaration (or the not-visible-yet
-- rule of wpo.aws.typekit) and its case fails with AWS's error.
local cjson = require "cjson"
local fs = require "wpo.core.fs"
local h = require "helpers"

local DELAY = 1

local TRUST = [['{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},]]
  .. [["Action":"sts:AssumeRole"}]}']]

local HEAD = [[
local s = wpo.stack { name = "ev", region = "eu-west-1" }
local vpc = s:add("aws.ec2.vpc", "main", { cidr_block = "10.44.0.0/16" })
local a = s:add("aws.ec2.subnet", "a", { vpc_id = vpc.id, cidr_block = "10.44.1.0/24", availability_zone = "eu-west-1a" })
local b = s:add("aws.ec2.subnet", "b", { vpc_id = vpc.id, cidr_block = "10.44.2.0/24", availability_zone = "eu-west-1b" })
local sg = s:add("aws.ec2.security_group", "web", { name = "ev-web", vpc_id = vpc.id })
]]

local STACKS = {
  network = HEAD .. [[
s:add("aws.ec2.security_group_rule", "https", { security_group_id = sg.id, type = "ingress", from_port = 443,
  to_port = 443, cidr_ipv4 = "0.0.0.0/0" })
local rt = s:add("aws.ec2.route_table", "private", { vpc_id = vpc.id })
s:add("aws.ec2.route_table_association", "a", { subnet_id = a.id, route_table_id = rt.id })
return s
]],
  compute = HEAD .. [[
local role = s:add("aws.iam.role", "ecs-instance", { name = "ev-ecs-instance", assume_role_policy = ]] .. TRUST .. [[ })
local profile = s:add("aws.iam.instance_profile", "ecs-instance", { name = "ev-ecs-instance", role = role.name })
local lt = s:add("aws.ec2.launch_template", "ecs", { name = "ev-ecs", instance_type = "t3.small",
  instance_profile = profile.name, security_group_ids = { sg.id } })
s:add("aws.autoscaling.group", "ecs", { name = "ev-ecs", launch_template_id = lt.id, subnet_ids = { a.id, b.id },
  min_size = 0, max_size = 1 })
return s
]],
  service = HEAD .. [[
local alb = s:add("aws.elbv2.load_balancer", "web", { name = "ev-alb", subnet_ids = { a.id, b.id },
  security_group_ids = { sg.id } })
local tg = s:add("aws.elbv2.target_group", "web", { name = "ev-web", port = 80, vpc_id = vpc.id })
local http = s:add("aws.elbv2.listener", "http", { load_balancer_arn = alb.arn, port = 80,
  default_action = { type = "forward", target_group_arn = tg.arn } })
local cluster = s:add("aws.ecs.cluster", "main", { name = "ev" })
local td = s:add("aws.ecs.task_definition", "web", { family = "ev-web", container_definitions = { {
  name = "web", image = "wordpress:6-apache", essential = true, memoryReservation = 256,
  portMappings = { { containerPort = 80, hostPort = 0, protocol = "tcp" } } } } })
s:add("aws.ecs.service", "web", { name = "ev-web", cluster = cluster.name, task_definition = td.arn,
  desired_count = 0, launch_type = "EC2",
  load_balancers = { { target_group_arn = tg.arn, container_name = "web", container_port = 80 } },
  depends_on = { http } })
return s
]],
  dns = [[
local s = wpo.stack { name = "ev", region = "eu-west-1" }
local vpc = s:add("aws.ec2.vpc", "main", { cidr_block = "10.44.0.0/16" })
local zone = s:add("aws.route53.zone", "internal", { name = "ev.internal", vpc_id = vpc.id, force_destroy = true,
  wait_insync = true })
s:add("aws.route53.record", "db", { zone_id = zone.zone_id, name = "db.ev.internal", type = "CNAME", ttl = 60,
  records = { "db.example.com" }, wait_insync = true })
return s
]],
  bucket = [[
local s = wpo.stack { name = "ev", region = "eu-west-1" }
local b = s:add("aws.s3.bucket", "media", { bucket = "ev-media", versioning = true })
s:add("aws.s3.bucket_policy", "media", { bucket = b.id, policy = { Version = "2012-10-17", Statement = {
  { Effect = "Deny", Principal = "*", Action = "s3:*", Resource = "arn:aws:s3:::ev-media/*",
    Condition = { Bool = { ["aws:SecureTransport"] = "false" } } } } } })
return s
]],
  secret = function(window)
    return string.format([[
local s = wpo.stack { name = "ev", region = "eu-west-1" }
s:add("aws.secretsmanager.secret", "db", { name = "ev/db", recovery_window_days = %d })
return s
]], window)
  end,
}

describe("AWS's late conditions, end to end", function()
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
    return h.sh(h.command_in(dir, args, { WPO_WAIT_SCALE = "0.01", NO_COLOR = "1" }, f.env))
  end

  local function ok(r)
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    return r
  end

  -- only `behaviour` on, every delay exactly DELAY
  local function late(behaviour)
    f:eventual { seconds = DELAY, fixed = true, behaviours = { behaviour } }
  end

  -- the answers fakeaws shaped for `behaviour`, by operation
  local function shaped(behaviour)
    local out = {}
    for _, e in ipairs(f:eventual().log) do
      if e.behaviour == behaviour then out[e.operation] = (out[e.operation] or 0) + 1 end
    end
    return out
  end

  local function no_changes()
    local r = wpo { "plan", "s.lua", "--detailed-exitcode" }
    assert.are.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("No changes", r.stdout, 1, true)
  end

  local function count(service, kind, pred)
    local n = 0
    for _, o in pairs(((f:state()[service] or {})[kind]) or {}) do
      if not pred or pred(o) then n = n + 1 end
    end
    return n
  end

  it("EC2: new objects not found yet are waited for; the state records when each was made", function()
    h.write(dir .. "/s.lua", STACKS.network)
    late("ec2-visibility")
    local r = ok(wpo { "run", "s.lua", "--yes" })
    for _, line in ipairs({ "aws.ec2.vpc.main: waiting for EC2 to show the VPC vpc%-%x+ %(0s%)",
        "aws.ec2.subnet.a: waiting for EC2 to show the subnet subnet%-%x+ %(0s%)",
        "aws.ec2.security_group_rule.https: waiting for EC2 to show the security group rule sgr%-%x+ %(0s%)" }) do
      assert.matches(line, r.stdout)
    end
    local met = shaped("ec2-visibility")
    for _, op in ipairs({ "ec2.DescribeVpcs", "ec2.DescribeSubnets", "ec2.DescribeSecurityGroupRules" }) do
      assert.is_truthy(met[op], op .. " " .. cjson.encode(met))
    end
    -- the state says when each object was made
    local doc = cjson.decode((assert(fs.read(dir .. "/.wpo/ev.state.json"))))
    for _, rec in ipairs(doc.resources) do assert.is_number(rec.created, rec.address) end
    no_changes()
    ok(wpo { "destroy", "s.lua", "--yes" })
    assert.are.equal(0, count("ec2", "vpc"))
    assert.are.equal(0, count("ec2", "subnet"))
  end)

  it("Auto Scaling: a new instance profile is waited for until IAM has propagated it", function()
    h.write(dir .. "/s.lua", STACKS.compute)
    late("iam-propagation")
    local r = ok(wpo { "run", "s.lua", "--yes" })
    assert.matches("aws.autoscaling.group.ecs: waiting for IAM to propagate the instance profile ev-ecs-instance (0s)",
      r.stdout, 1, true)
    assert.is_truthy(shaped("iam-propagation")["autoscaling.CreateAutoScalingGroup"])
    assert.are.equal(1, count("autoscaling", "group"))
    no_changes()
  end)

  it("Auto Scaling: a new launch template version is waited for", function()
    h.write(dir .. "/s.lua", STACKS.compute)
    late("launch-template")
    local r = ok(wpo { "run", "s.lua", "--yes" })
    assert.matches("aws.autoscaling.group.ecs: waiting for EC2 to show the launch template lt%-%x+ to Auto Scaling",
      r.stdout)
    assert.is_truthy(shaped("launch-template")["autoscaling.CreateAutoScalingGroup"])
    assert.are.equal(1, count("autoscaling", "group"))
  end)

  it("ECS: a target group's new listener and ECS's new service-linked role are waited for", function()
    h.write(dir .. "/s.lua", STACKS.service)
    late("target-group")
    local r = ok(wpo { "run", "s.lua", "--yes" })
    assert.matches("aws.ecs.service.web: waiting for Elastic Load Balancing to associate the target group ev-web "
      .. "with its load balancer (0s)", r.stdout, 1, true)
    assert.is_truthy(shaped("target-group")["ecs.CreateService"])
    ok(wpo { "destroy", "s.lua", "--yes" })
    -- a fresh account: the service-linked role made with the first cluster
    f:reset()
    h.rmrf(dir .. "/.wpo")
    late("iam-propagation")
    r = ok(wpo { "run", "s.lua", "--yes" })
    assert.matches("aws.ecs.service.web: waiting for IAM to propagate ECS's service-linked role (0s)", r.stdout, 1,
      true)
    assert.are.equal(1, count("ecs", "service", function(o) return o.status == "ACTIVE" end))
  end)

  it("Route 53: a record is done when its change is INSYNC, not while PENDING", function()
    h.write(dir .. "/s.lua", STACKS.dns)
    late("route53-change")
    ok(wpo { "run", "s.lua", "--yes" })
    local changes = f:eventual().changes
    assert.is_truthy(next(changes))
    for id, c in pairs(changes) do assert.is_true(c.seen_insync, id) end
    assert.is_truthy(shaped("route53-change")["route53.GetChange"])
  end)

  it("S3: a new bucket's configuration calls are sent again until S3 shows it", function()
    h.write(dir .. "/s.lua", STACKS.bucket)
    late("s3-bucket")
    local r = ok(wpo { "run", "s.lua", "--yes" })
    assert.matches("aws.s3.bucket.media: waiting for S3 to show the new bucket ev-media (0s)", r.stdout, 1, true)
    assert.is_truthy(shaped("s3-bucket")["s3.PutBucketTagging"])
    assert.are.equal(1, count("s3", "bucket"))
    assert.are.equal("Enabled", f:state().s3.bucket["ev-media"].Versioning)
    no_changes()
    ok(wpo { "destroy", "s.lua", "--yes" })
    assert.are.equal(0, count("s3", "bucket"))
  end)

  it("Secrets Manager: a stack destroyed and created again waits for its force-deleted secret's name", function()
    h.write(dir .. "/s.lua", STACKS.secret(0))
    late("secret-purge")
    ok(wpo { "run", "s.lua", "--yes" })
    ok(wpo { "destroy", "s.lua", "--yes" })
    assert.are.equal(0, count("secretsmanager", "secret"))
    local r = ok(wpo { "run", "s.lua", "--yes" })
    assert.matches("waiting for Secrets Manager to finish deleting the secret ev/db (0s)", r.stdout, 1, true)
    assert.are.equal(1, count("secretsmanager", "secret", function(o) return o.DeletedDate == nil end))
  end)

  it("Secrets Manager: one in its recovery window is restored and adopted when it is this resource's", function()
    h.write(dir .. "/s.lua", STACKS.secret(7))
    ok(wpo { "run", "s.lua", "--yes" })
    local arn = next(f:state().secretsmanager.secret)
    ok(wpo { "destroy", "s.lua", "--yes" })
    assert.is_string(f:state().secretsmanager.secret[arn].DeletedDate)
    local r = ok(wpo { "run", "s.lua", "--yes" })
    assert.matches("restoring secret ev/db", r.stdout, 1, true)
    assert.are.same({ arn }, (function()
      local l = {}
      for k in pairs(f:state().secretsmanager.secret) do l[#l + 1] = k end
      return l
    end)())
    assert.is_nil(f:state().secretsmanager.secret[arn].DeletedDate)
    no_changes()
  end)
end)
