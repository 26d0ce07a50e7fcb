-- bench/compute_bench.lua — the compute, load-balancer and service tiers
-- (14 resources) applied, then destroyed, against tests/fakeaws with LATENCY
-- ms per call (transitions settle at once, so no wait sleeps): wall time
-- divided by the critical-path bound, i.e. the longest chain of calls
-- through the dependency graph (each resource's own calls, in sequence, then
-- its dependents') times the latency. Goal: <= 1.15.
--   wpo lua bench/compute_bench.lua [--latency MS]
local REPO = os.getenv("WPO_REPO") or "."
package.path = REPO .. "/tests/lua/?.lua;" .. package.path

local aws = require "wpo.aws"
local loop = require "wpo.core.loop"
local resource = require "wpo.resource"
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
local calls = {}
local Context = getmetatable(resource.context { address = "x", stack = "s" })
Context.aws = function(self, service)
  self.clients = self.clients or {}
  if not self.clients[service] then
    local c = client(service)
    local address = self.address
    self.clients[service] = setmetatable({}, { __index = function(_, k)
      local fn = c[k]
      if type(fn) ~= "function" then return fn end
      return function(_, ...)
        if k == "call" or k == "pcall" or k == "invoke" then calls[address] = (calls[address] or 0) + 1 end
        if k == "collect" or k == "paginate" then calls[address] = (calls[address] or 0) + 1 end
        return fn(c, ...)
      end
    end })
  end
  return self.clients[service]
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

local function memstate()
  local st = { resources = {}, outputs = {}, generations = {}, serial = 0, lineage = "bench", exists = true }
  function st:get(a) return self.resources[a] end
  function st:set(a, r) self.resources[a] = r end
  function st:remove(a) self.resources[a] = nil end
  function st:addresses()
    local l = {}
    for a in pairs(self.resources) do l[#l + 1] = a end
    table.sort(l)
    return l
  end
  function st:save() self.serial = self.serial + 1 end
  return st
end

local silent = setmetatable({}, { __index = function() return function() end end })

-- the longest chain of calls through the plan's graph
local function critical_path(p)
  local memo = {}
  local function longest(id)
    if memo[id] then return memo[id] end
    local a = p.by_id[id]
    local best = 0
    for _, w in ipairs(a.waits_for) do
      if p.by_id[w] then best = math.max(best, longest(w)) end
    end
    memo[id] = best + (calls[a.address] or 0)
    return memo[id]
  end
  local n = 0
  for _, a in ipairs(p.actions) do n = math.max(n, longest(a.id)) end
  return n
end

local function run(stack, st, destroy)
  local plan, apply = require "wpo.plan", require "wpo.apply"
  local p = plan.make(stack, st, { destroy = destroy })
  for k in pairs(calls) do calls[k] = nil end
  local t0 = loop.now()
  local r = apply.run(p, stack, st, { parallelism = 16, reporter = silent })
  local wall = (loop.now() - t0) / 1000
  assert(r.ok, "apply failed: " .. tostring(r.failures[1] and r.failures[1].err))
  local total = 0
  for _, n in pairs(calls) do total = total + n end
  local chain = critical_path(p)
  local bound = chain * LATENCY / 1000
  print(string.format("  %-8s %2d resources, %3d calls, longest chain %2d calls: wall %.2fs, bound %.2fs, "
    .. "ratio %.3f (goal <= %.2f)", destroy and "destroy" or "apply", #p.actions, total, chain, wall, bound,
    wall / bound, GOAL))
end

local ok, err = pcall(function()
  local stack = build(fixtures())
  f:faults { latency_ms = LATENCY }
  print(string.format("compute, load balancer and service tiers against fakeaws, %d ms per call:", LATENCY))
  local st = memstate()
  run(stack, st, false)
  run(stack, st, true)
end)
f:faults {}
f:stop()
if not ok then error(err, 0) end
