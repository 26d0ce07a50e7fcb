-- bench/compute_bench.lua — the compute, load-balancer and service tiers
-- (14 resources) applied, then destroyed, against tests/fakeaws with LATENCY
-- ms per call (transitions settle at once, so no wait sleeps): wall time
-- divided by the critical-path bound, i.e. the longest chain of calls
-- through the dependency graph (each resource's own calls, in sequence, then
-- its dependents') times the latency. Goal: <= 1.15.
--   wpo lua bench/compute_bench.lua [--latency MS]
local REPO = os.getenv("WPO_REPO") or "."
package.path = REPO .. "/tests/lua/?.lua;" .. REPO .. "/bench/?.lua;" .. package.path

local aws = require "wpo.aws"
local critical = require "critical"
local fakeaws = require "fakeaws"

local LATENCY = 100
for i = 1, #arg do
  if arg[i] == "--latency" then LATENCY = tonumber(arg[i + 1]) end
end
local GOAL = 1.15

local f = fakeaws.start { settle = 0 }
local function client(service)
  return aws.client(service, { region = "us-east-1", endpoint = f.url, rate_limit = false,
    credentials = { access_key = "test", secret_key = "test" } })
end

-- every call a resource makes, counted per address (contexts get counting clients)
local bench = critical.new { url = f.url, region = "us-east-1", latency = LATENCY, rate_limit = false }

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

local function build(fx)
  local stackmod = require "wpo.stack"
  local p = { name = "bench", region = "us-east-1", azs = { "us-east-1a", "us-east-1b" },
    site = { domain = "www.example.com", certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc" },
    compute = { instance_type = "t3.small", min = 2, max = 4 },
    service = { cpu = 512, memory = 1024, desired = 2, min = 2, max = 6, image = "wordpress:6-apache", port = 80 },
    database = { name = "wordpress", user = "wordpress" } }
  local s = stackmod.new { name = "bench", region = "us-east-1" }
  local deps = {
    net = { vpc_id = fx.vpc, subnet_ids = { public = fx.public, private = fx.private } },
    sg = { ids = { alb = fx.sg_alb, ecs = fx.sg_ecs } },
    identity = { instance_profile_arn = "arn:aws:iam::123456789012:instance-profile/bench",
      execution_role_arn = "arn:aws:iam::123456789012:role/exec", task_role_arn = "arn:aws:iam::123456789012:role/task" },
    db = { endpoint = "db.internal" }, cache = { primary_endpoint = "cache.internal", port = 6379 },
    secrets = { db_password_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbC",
      redis_auth_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cache-DeF" },
    files = { file_system_id = "fs-0123456789abcdef0", access_point_id = "fsap-0123456789abcdef0" },
    ops = { log_group_name = "/wpo/bench/wordpress" },
  }
  deps.lb = require("wpo.wordpress.loadbalancer").build(s, p, deps)
  deps.compute = require("wpo.wordpress.compute").build(s, p, deps)
  require("wpo.wordpress.service").build(s, p, deps)
  return stackmod.finish(s)
end

local function run(stack, st, destroy)
  print(critical.line(destroy and "destroy" or "apply", bench:run(stack, st, destroy), GOAL))
end

local ok, err = pcall(function()
  local stack = build(fixtures())
  f:faults { latency_ms = LATENCY }
  print(string.format("compute, load balancer and service tiers against fakeaws, %d ms per call:", LATENCY))
  local st = critical.memstate()
  run(stack, st, false)
  run(stack, st, true)
end)
f:faults {}
f:stop()
if not ok then error(err, 0) end
