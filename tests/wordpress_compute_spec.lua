-- wpo.wordpress.compute, .loadbalancer and .service: what the tiers declare
-- (IMDSv2 and the cluster join, protected instances in the private subnets,
-- the capacity provider and its strategy, the ALB in the public subnets with
-- HTTP redirected to HTTPS, the WordPress task definition with its secrets
-- through valueFrom and wp-content on EFS, the service and its autoscaling,
-- an ECR tag checked at plan time), a plan with no AWS at all, and the three
-- tiers run through the engine against tests/fakeaws: apply, no changes,
-- an in-place change, and a destroy that empties the Auto Scaling group of
-- its scale-in-protected instances with no manual step.
local h = require "helpers"

describe("wpo.wordpress compute, loadbalancer and service tiers", function()
  local stackmod = require "wpo.stack"
  local value = require "wpo.value"
  local compute = require "wpo.wordpress.compute"
  local loadbalancer = require "wpo.wordpress.loadbalancer"
  local service = require "wpo.wordpress.service"

  local CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
  local DB_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/db-AbCdEf"
  local REDIS_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/cache-GhIjKl"

  local function params(over)
    local p = { name = "acme", region = "eu-west-1", azs = { "eu-west-1a", "eu-west-1b" },
      site = { domain = "www.example.com", certificate_arn = CERT },
      compute = { instance_type = "m6i.large", min = 2, max = 10 },
      service = { cpu = 512, memory = 1024, desired = 2, min = 2, max = 20, image = "wordpress:6-apache", port = 80 },
      database = { name = "wordpress", user = "wordpress" }, logs = { retention_days = 30 } }
    for k, v in pairs(over or {}) do p[k] = v end
    return p
  end

  local function deps()
    return {
      net = { vpc_id = "vpc-0123456789abcdef0", subnet_ids = {
        public = { "subnet-0a00000000000000a", "subnet-0b00000000000000b" },
        private = { "subnet-0c00000000000000c", "subnet-0d00000000000000d" } } },
      sg = { ids = { alb = "sg-0a00000000000000a", ecs = "sg-0e00000000000000e" } },
      identity = { instance_profile_arn = "arn:aws:iam::123456789012:instance-profile/acme-ecs",
        execution_role_arn = "arn:aws:iam::123456789012:role/acme-exec",
        task_role_arn = "arn:aws:iam::123456789012:role/acme-task" },
      db = { endpoint = "acme-db.cluster-abc.eu-west-1.rds.amazonaws.com", name = "wordpress", user = "wordpress" },
      cache = { primary_endpoint = "master.acme-cache.abc.euw1.cache.amazonaws.com", port = 6379 },
      secrets = { db_password_arn = DB_SECRET, redis_auth_arn = REDIS_SECRET },
      files = { file_system_id = "fs-0123456789abcdef0", access_point_id = "fsap-0123456789abcdef0" },
      ops = { log_group_name = "/wpo/acme/wordpress" },
      registry = { repository_name = "acme/wordpress",
        repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/wordpress" },
    }
  end

  local function build(over, extra)
    local p = params(over)
    local d = deps()
    for k, v in pairs(extra or {}) do d[k] = v end
    local s = stackmod.new { name = p.name, region = p.region }
    d.lb = loadbalancer.build(s, p, d)
    d.compute = compute.build(s, p, d)
    local svc = service.build(s, p, d)
    return stackmod.finish(s), d, svc, p
  end

  local function decl(s, address)
    local d = s.by_address[address]
    assert.is_table(d, "not declared: " .. address)
    return d
  end

  local function ref(v)
    local found
    value.refs(v, function(dcl, name) found = dcl.address .. "." .. name end)
    return found
  end

  describe("compute", function()
    it("runs IMDSv2-only instances from the ECS-optimised AMI that join the cluster, protected in private subnets", function()
      local s, d = build()
      local lt = decl(s, "aws.ec2.launch_template.ecs").attrs
      assert.are.equal("resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id", lt.image_id)
      assert.are.equal("required", lt.http_tokens)
      assert.are.equal(1, lt.http_put_response_hop_limit)
      assert.is_true(lt.root_volume_encrypted)
      assert.are.equal("aws.ecs.cluster.main.name", ref(lt.ecs_cluster))
      assert.are.equal(d.identity.instance_profile_arn, lt.instance_profile)
      assert.are.same({ "sg-0e00000000000000e" }, lt.security_group_ids)
      local asg = decl(s, "aws.autoscaling.group.ecs").attrs
      assert.are.same(d.net.subnet_ids.private, asg.subnet_ids)
      assert.is_true(asg.protect_from_scale_in)
      assert.are.same({ 2, 10 }, { asg.min_size, asg.max_size })
      assert.are.equal("aws.ec2.launch_template.ecs.id", ref(asg.launch_template_id))
      assert.is_true(decl(s, "aws.ecs.cluster.main").attrs.container_insights)
      local cp = decl(s, "aws.ecs.capacity_provider.ecs").attrs
      assert.are.equal("acme-ec2", cp.name)
      assert.is_true(cp.managed_scaling and cp.managed_termination_protection)
      assert.are.equal("aws.autoscaling.group.ecs.arn", ref(cp.auto_scaling_group_arn))
      local ccp = decl(s, "aws.ecs.cluster_capacity_providers.main").attrs
      assert.are.equal("aws.ecs.capacity_provider.ecs.name", ref(ccp.capacity_providers))
      assert.are.equal(1, #ccp.default_strategy)
      assert.are.equal("wp-ecs-ec2", compute.capacity_provider_name("ecs"), "a provider's name may not begin with ecs")
    end)
  end)

  describe("loadbalancer", function()
    it("puts an ALB in the public subnets, redirects HTTP to HTTPS and serves HTTPS with the certificate", function()
      local s, d = build()
      local alb = decl(s, "aws.elbv2.load_balancer.web").attrs
      assert.are.same(d.net.subnet_ids.public, alb.subnet_ids)
      assert.are.same({ "sg-0a00000000000000a" }, alb.security_group_ids)
      assert.is_false(alb.internal)
      assert.is_true(alb.drop_invalid_header_fields)
      local tg = decl(s, "aws.elbv2.target_group.web").attrs
      assert.are.equal("instance", tg.target_type)
      assert.are.equal("200-399", tg.matcher)
      local http = decl(s, "aws.elbv2.listener.http").attrs
      assert.are.equal("redirect", http.default_action.type)
      assert.are.same({ protocol = "HTTPS", port = "443", status_code = "HTTP_301" }, http.default_action.redirect)
      local https = decl(s, "aws.elbv2.listener.https").attrs
      assert.are.equal(CERT, https.certificate_arn)
      assert.are.equal("HTTPS", https.protocol)
      assert.are.equal("aws.elbv2.target_group.web.arn", ref(https.default_action.target_group_arn))
      assert.is_true(d.lb.https)
    end)

    it("forwards HTTP to the target group when there is no certificate, and opens no 443", function()
      local s, d = build({ site = { domain = "www.example.com" } })
      assert.is_nil(s.by_address["aws.elbv2.listener.https"])
      local http = decl(s, "aws.elbv2.listener.http").attrs
      assert.are.equal("forward", http.default_action.type)
      assert.is_false(d.lb.https)
    end)
  end)

  describe("service", function()
    it("passes the DB password and Redis AUTH through secrets/valueFrom, never the environment", function()
      local s = build()
      local td = decl(s, "aws.ecs.task_definition.wordpress").attrs
      local c = td.container_definitions[1]
      assert.are.equal("wordpress:6-apache", c.image)
      local env, secret = {}, {}
      for _, e in ipairs(c.environment) do env[e.name] = e.value end
      for _, e in ipairs(c.secrets) do secret[e.name] = e.valueFrom end
      assert.are.same({ WORDPRESS_DB_PASSWORD = DB_SECRET, WP_REDIS_PASSWORD = REDIS_SECRET }, secret)
      assert.are.equal("acme-db.cluster-abc.eu-west-1.rds.amazonaws.com", env.WORDPRESS_DB_HOST)
      assert.are.equal("wordpress", env.WORDPRESS_DB_NAME)
      for name, v in pairs(env) do
        assert.is_nil(name:upper():find("PASSWORD", 1, true), name)
        assert.is_nil(tostring(v):find("secretsmanager", 1, true), name)
      end
      assert.matches("getenv('WP_REDIS_PASSWORD')", env.WORDPRESS_CONFIG_EXTRA, 1, true)
    end)

    it("mounts wp-content from the EFS access point with transit encryption and IAM, logs to the ops log group", function()
      local s = build()
      local td = decl(s, "aws.ecs.task_definition.wordpress")
      local c = td.attrs.container_definitions[1]
      assert.are.same({ { sourceVolume = "wp-content", containerPath = "/var/www/html/wp-content", readOnly = false } },
        c.mountPoints)
      local efs = td.attrs.volumes[1].efsVolumeConfiguration
      assert.are.same({ fileSystemId = "fs-0123456789abcdef0", transitEncryption = "ENABLED",
        authorizationConfig = { accessPointId = "fsap-0123456789abcdef0", iam = "ENABLED" } }, efs)
      assert.are.equal("awslogs", c.logConfiguration.logDriver)
      assert.are.equal("/wpo/acme/wordpress", c.logConfiguration.options["awslogs-group"])
      assert.are.equal(0, c.portMappings[1].hostPort)
      assert.are.equal("bridge", td.attrs.network_mode)
      assert.are.equal("CMD-SHELL", c.healthCheck.command[1])
      assert.is_true(td.lifecycle.create_before_destroy)
    end)

    it("runs the service on the capacity provider behind the target group, with a circuit breaker and autoscaling", function()
      local s = build()
      local d = decl(s, "aws.ecs.service.wordpress")
      assert.are.equal("aws.ecs.task_definition.wordpress.arn", ref(d.attrs.task_definition))
      assert.are.equal("aws.ecs.capacity_provider.ecs.name", ref(d.attrs.capacity_provider_strategy))
      assert.are.equal("aws.elbv2.target_group.web.arn", ref(d.attrs.load_balancers[1].target_group_arn))
      assert.is_true(d.attrs.deployment_circuit_breaker and d.attrs.deployment_rollback)
      assert.are.same({ type = "spread", field = "attribute:ecs.availability-zone" }, d.attrs.placement_strategy[1])
      assert.are.same({ "desired_count" }, d.lifecycle.ignore_changes)
      local deps_of = {}
      for _, a in ipairs(d.deps) do deps_of[a] = true end
      assert.is_true(deps_of["aws.ecs.cluster_capacity_providers.main"], "waits for the capacity provider")
      assert.is_true(deps_of["aws.elbv2.listener.https"] and deps_of["aws.elbv2.listener.http"],
        "waits until the target group is behind the ALB")
      local target = decl(s, "aws.applicationautoscaling.target.wordpress").attrs
      assert.are.same({ 2, 20 }, { target.min_capacity, target.max_capacity })
      local cpu = decl(s, "aws.applicationautoscaling.policy.wordpress-cpu").attrs.target_tracking
      assert.are.equal("ECSServiceAverageCPUUtilization", cpu.predefined_metric_type)
      local req = decl(s, "aws.applicationautoscaling.policy.wordpress-requests").attrs.target_tracking
      assert.are.equal("ALBRequestCountPerTarget", req.predefined_metric_type)
      assert.is_true(value.is_lazy(req.resource_label))
    end)

    it("points the container at <repository url>:<tag> with service.ecr_tag, and names the image to check", function()
      local s = build({ service = { cpu = 512, memory = 1024, desired = 2, min = 2, max = 20,
        image = "wordpress:6-apache", ecr_tag = "v1.4.0", port = 80 } })
      local td = decl(s, "aws.ecs.task_definition.wordpress").attrs
      assert.are.equal("123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/wordpress:v1.4.0",
        td.container_definitions[1].image)
      assert.are.same({ { container = "wordpress", repository = "acme/wordpress", tag = "v1.4.0" } }, td.ecr_images)
    end)

    it("names the dependency a composition forgot", function()
      local ok, err = pcall(build, nil, { files = {} })
      assert.is_false(ok)
      assert.matches("deps.files.file_system_id is missing", tostring(err), 1, true)
    end)
  end)

  -- ---- through the engine ----

  local function script(dir, fx, extra)
    local src = [[
local fx = FX
local s = wpo.stack { name = "acme", region = "us-east-1", vars = { max = 4, cert = "" } }
local p = {
  name = "acme", region = "us-east-1", azs = { "us-east-1a", "us-east-1b" },
  site = { domain = "www.example.com", certificate_arn = s.vars.cert ~= "" and s.vars.cert or nil },
  compute = { instance_type = "t3.small", min = 2, max = s.vars.max },
  service = { cpu = 512, memory = 1024, desired = 2, min = 2, max = 6, image = "wordpress:6-apache", port = 80 EXTRA },
  database = { name = "wordpress", user = "wordpress" },
}
local net = { vpc_id = fx.vpc, subnet_ids = { public = fx.public, private = fx.private } }
local sg = { ids = { alb = fx.sg_alb, ecs = fx.sg_ecs } }
local identity = { instance_profile_arn = "arn:aws:iam::123456789012:instance-profile/acme-ecs",
  execution_role_arn = "arn:aws:iam::123456789012:role/acme-exec",
  task_role_arn = "arn:aws:iam::123456789012:role/acme-task" }
local lb = require("wpo.wordpress.loadbalancer").build(s, p, { net = net, sg = sg })
local compute = require("wpo.wordpress.compute").build(s, p, { net = net, sg = sg, identity = identity })
require("wpo.wordpress.service").build(s, p, { net = net, sg = sg, identity = identity, lb = lb, compute = compute,
  db = { endpoint = "acme-db.cluster-abc.us-east-1.rds.amazonaws.com" },
  cache = { primary_endpoint = "master.acme-cache.abc.use1.cache.amazonaws.com", port = 6379 },
  secrets = { db_password_arn = "]] .. DB_SECRET .. [[", redis_auth_arn = "]] .. REDIS_SECRET .. [[" },
  files = { file_system_id = "fs-0123456789abcdef0", access_point_id = "fsap-0123456789abcdef0" },
  ops = { log_group_name = "/wpo/acme/wordpress" },
  registry = { repository_name = "acme/wordpress", repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/wordpress" } })
s:output("url", lb.url)
return s
]]
    local function list(t)
      local q = {}
      for i, x in ipairs(t) do q[i] = string.format("%q", x) end
      return "{ " .. table.concat(q, ", ") .. " }"
    end
    local fxsrc = string.format("{ vpc = %q, public = %s, private = %s, sg_alb = %q, sg_ecs = %q }", fx.vpc,
      list(fx.public), list(fx.private), fx.sg_alb, fx.sg_ecs)
    src = src:gsub("FX", function() return fxsrc end):gsub(" EXTRA", function() return extra or "" end)
    h.write(dir .. "/stack.lua", src)
    return dir .. "/stack.lua"
  end

  it("plans the three tiers with no AWS account and no state, and nothing is called", function()
    local dir = h.tmpdir()
    local path = script(dir, { vpc = "vpc-0123456789abcdef0", public = { "subnet-0a00000000000000a",
      "subnet-0b00000000000000b" }, private = { "subnet-0c00000000000000c", "subnet-0d00000000000000d" },
      sg_alb = "sg-0a00000000000000a", sg_ecs = "sg-0e00000000000000e" })
    local r = h.wpo({ "plan", path }, { env = { AWS_ENDPOINT_URL = "http://127.0.0.1:9", AWS_ACCESS_KEY_ID = "",
      AWS_SECRET_ACCESS_KEY = "", AWS_PROFILE = "", AWS_CONFIG_FILE = "/nonexistent",
      AWS_SHARED_CREDENTIALS_FILE = "/nonexistent", AWS_EC2_METADATA_DISABLED = "true" } })
    h.rmrf(dir)
    assert.are.equal(0, r.status, r.stderr)
    assert.matches("Plan: 13 to add, 0 to change, 0 to destroy.", r.stdout, 1, true)
    assert.matches("+ aws.ecs.service.wordpress", r.stdout, 1, true)
  end)

  describe("against fakeaws", function()
    local fakeaws = require "fakeaws"
    local aws = require "wpo.aws"
    local f, dir

    local function client(svc)
      return aws.client(svc, { region = "us-east-1", endpoint = f.url,
        credentials = { access_key = "test", secret_key = "test" } })
    end

    local function env()
      local e = {}
      for k, v in pairs(f.env) do e[k] = v end
      e.WPO_WAIT_SCALE = "0.001"
      return e
    end

    local function wpo(args)
      return h.wpo(args, { env = env() })
    end

    local function fixtures()
      local ec2 = client("ec2")
      local fx = { vpc = ec2:call("CreateVpc", { CidrBlock = "10.0.0.0/16" }).Vpc.VpcId, public = {}, private = {} }
      for i, az in ipairs({ "us-east-1a", "us-east-1b" }) do
        fx.public[i] = ec2:call("CreateSubnet", { VpcId = fx.vpc, CidrBlock = "10.0." .. i .. ".0/24",
          AvailabilityZone = az }).Subnet.SubnetId
        fx.private[i] = ec2:call("CreateSubnet", { VpcId = fx.vpc, CidrBlock = "10.0." .. (10 + i) .. ".0/24",
          AvailabilityZone = az }).Subnet.SubnetId
      end
      fx.sg_alb = ec2:call("CreateSecurityGroup", { VpcId = fx.vpc, GroupName = "alb", Description = "alb" }).GroupId
      fx.sg_ecs = ec2:call("CreateSecurityGroup", { VpcId = fx.vpc, GroupName = "ecs", Description = "ecs" }).GroupId
      return fx
    end

    setup(function() f = fakeaws.start { settle = 1 } end)
    teardown(function() if f then f:stop() end end)
    before_each(function()
      f:reset()
      dir = h.tmpdir()
    end)
    after_each(function() h.rmrf(dir) end)

    -- what is still live in fakeaws of what these tiers make (terminal states — a terminated
    -- instance, an INACTIVE cluster, service, provider or revision — are what AWS keeps showing)
    local function live()
      local st, out = f:state(), {}
      local function add(what) out[#out + 1] = what end
      for id, i in pairs((st.ec2 or {}).instance or {}) do
        if i.State.Name ~= "terminated" then add("instance " .. id .. " " .. i.State.Name) end
      end
      for id in pairs((st.ec2 or {})["launch-template"] or {}) do add("launch template " .. id) end
      for kind, objs in pairs(st.ecs or {}) do
        for id, o in pairs(objs) do
          if o.status ~= "INACTIVE" then add("ecs " .. kind .. " " .. id .. " " .. tostring(o.status)) end
        end
      end
      for _, svc in ipairs({ "autoscaling", "elbv2", "application-autoscaling" }) do
        for kind, objs in pairs(st[svc] or {}) do
          for id in pairs(objs) do add(svc .. " " .. kind .. " " .. id) end
        end
      end
      table.sort(out)
      return out
    end

    it("applies, plans no changes, changes the group in place, and destroys protected instances with no manual step", function()
      local path = script(dir, fixtures())
      local cert = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
      local r = wpo({ "run", "--yes", "--var", "cert=" .. cert, path })
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.matches("Apply complete: 14 added", r.stdout, 1, true)
      -- the instances: protected from scale-in, registered with the cluster, IMDSv2 only
      local group = client("autoscaling"):call("DescribeAutoScalingGroups", { AutoScalingGroupNames = { "acme-ecs" } })
        .AutoScalingGroups[1]
      assert.are.equal(2, #group.Instances)
      for _, i in ipairs(group.Instances) do assert.is_true(i.ProtectedFromScaleIn) end
      local cluster = client("ecs"):call("DescribeClusters", { clusters = { "acme" } }).clusters[1]
      assert.are.equal(2, cluster.registeredContainerInstancesCount)
      assert.are.same({ "acme-ec2" }, cluster.capacityProviders)
      for _, i in pairs(f:state().ec2.instance) do assert.are.equal("required", i.MetadataOptions.HttpTokens) end
      local svc = client("ecs"):call("DescribeServices", { cluster = "acme", services = { "acme-wordpress" } }).services[1]
      assert.are.equal(2, svc.runningCount)
      local td = client("ecs"):call("DescribeTaskDefinition", { taskDefinition = svc.taskDefinition }).taskDefinition
      for _, e in ipairs(td.containerDefinitions[1].environment) do
        assert.is_nil(e.name:find("PASSWORD", 1, true))
      end
      assert.are.equal(2, #td.containerDefinitions[1].secrets)
      local alb = client("elbv2"):call("DescribeLoadBalancers", { Names = { "acme-alb" } }).LoadBalancers[1]
      local ports = {}
      for _, li in ipairs(client("elbv2"):call("DescribeListeners", { LoadBalancerArn = alb.LoadBalancerArn }).Listeners) do
        ports[li.Port] = li.DefaultActions[1].Type
      end
      assert.are.same({ [80] = "redirect", [443] = "forward" }, ports)
      assert.are.equal(2, #client("application-autoscaling"):call("DescribeScalingPolicies",
        { ServiceNamespace = "ecs" }).ScalingPolicies)

      r = wpo({ "plan", "--var", "cert=" .. cert, path })
      assert.are.equal(0, r.status, r.stderr)
      assert.matches("No changes", r.stdout, 1, true)

      r = wpo({ "plan", "--var", "cert=" .. cert, "--var", "max=6", path })
      assert.matches("~ aws.autoscaling.group.ecs", r.stdout, 1, true)
      assert.matches("Plan: 0 to add, 1 to change, 0 to destroy.", r.stdout, 1, true)
      r = wpo({ "run", "--yes", "--var", "cert=" .. cert, "--var", "max=6", path })
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.are.equal(6, client("autoscaling"):call("DescribeAutoScalingGroups",
        { AutoScalingGroupNames = { "acme-ecs" } }).AutoScalingGroups[1].MaxSize)

      r = wpo({ "destroy", "--yes", "--var", "cert=" .. cert, "--var", "max=6", path })
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.matches("Destroy complete! Resources: 14 destroyed.", r.stdout, 1, true)
      assert.matches("removed scale-in protection from 2 instances", r.stdout, 1, true)
      assert.are.same({}, live())
    end)

    it("checks service.ecr_tag at plan time: a missing repository or tag refuses the plan, reading only", function()
      local ecr = client("ecr")
      local fx = fixtures()
      local path = script(dir, fx, ', ecr_tag = "v2"')
      local r = wpo({ "plan", path })
      assert.are.equal(1, r.status, r.stdout .. r.stderr)
      assert.matches("aws.ecs.task_definition.wordpress: ImageNotFound:", r.stderr, 1, true)
      assert.matches("no ECR repository acme/wordpress yet", r.stderr, 1, true)
      assert.matches("stack.lua:%d+: ", r.stderr)
      ecr:call("CreateRepository", { repositoryName = "acme/wordpress" })
      ecr:call("PutImage", { repositoryName = "acme/wordpress", imageTag = "v1",
        imageManifest = '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}' })
      local before = f:calls()
      r = wpo({ "plan", path })
      assert.are.equal(1, r.status, r.stdout .. r.stderr)
      assert.matches("container wordpress: the image 123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/wordpress:v2 "
        .. "does not exist (tag v2 not found in the ECR repository acme/wordpress)", r.stderr, 1, true)
      local made = {}
      for op, n in pairs(f:calls()) do
        if n > (before[op] or 0) then made[op] = n - (before[op] or 0) end
      end
      assert.is_true((made["ecr.DescribeImages"] or 0) >= 1)
      for op in pairs(made) do
        local name = op:match("%.(.*)$")
        assert.is_truthy(name:match("^Describe") or name:match("^List") or name:match("^Get"), op .. " while planning")
      end
      local ok_path = script(dir, fx, ', ecr_tag = "v1"')
      r = wpo({ "run", "--yes", ok_path })
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      local svc = client("ecs"):call("DescribeServices", { cluster = "acme", services = { "acme-wordpress" } }).services[1]
      local td = client("ecs"):call("DescribeTaskDefinition", { taskDefinition = svc.taskDefinition }).taskDefinition
      assert.are.equal("123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/wordpress:v1", td.containerDefinitions[1].image)
      assert.are.equal(0, wpo({ "destroy", "--yes", ok_path }).status)
    end)

    it("replaces the task definition and moves the service to it when the image changes", function()
      local fx = fixtures()
      local path = script(dir, fx)
      assert.are.equal(0, wpo({ "run", "--yes", path }).status)
      local path2 = script(dir, fx, ', image = "wordpress:6.5-apache"')
      local r = wpo({ "run", "--yes", path2 })
      assert.are.equal(0, r.status, r.stdout .. r.stderr)
      assert.matches("-/+ aws.ecs.task_definition.wordpress", r.stdout, 1, true)
      assert.matches("~ aws.ecs.service.wordpress", r.stdout, 1, true)
      local svc = client("ecs"):call("DescribeServices", { cluster = "acme", services = { "acme-wordpress" } }).services[1]
      assert.matches(":task%-definition/acme%-wordpress:2$", svc.taskDefinition)
      local old = client("ecs"):call("DescribeTaskDefinition", { taskDefinition = "acme-wordpress:1" }).taskDefinition
      assert.are.equal("INACTIVE", old.status)
      assert.are.equal(0, wpo({ "destroy", "--yes", path2 }).status)
      assert.are.same({}, live())
    end)
  end)
end)
