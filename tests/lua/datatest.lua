-- Shared by the data-tier specs (rds, elasticache, efs, the wordpress data
-- tiers): a fakeaws server, a network and secrets made in it directly (the
-- network types are another part's), wpo run in a directory against it, the
-- state it saved.
--
--   local dt = require "datatest"
--   local env = dt.start { settle = 1 }       -- env.f (fakeaws), env.dir (a temp dir)
--   local net = env:network()                 -- { vpc, subnets = { a, b, c }, sg, sg2, other_vpc_sg }
--   local arn = env:secret("db", "value")     -- a Secrets Manager secret, its ARN
--   env:write("s.lua", text); local r = env:wpo{ "run", "s.lua", "--yes" }
--   env:state() -> the saved state document; env:resources() -> { [address] = record }
--   env:client("rds") -> a wpo.aws client pointed at fakeaws
--   env:objects("rds", "db-cluster") -> { [id] = object } held by fakeaws
--   env:reset() (fakeaws reset, fresh directory), env:stop()
--   env:made_long_ago() -> the state's records say their objects were made an
--     hour ago, so a read that finds one gone (deleted out of band) is believed
--     at once instead of being read again for resource.VISIBLE_AFTER_CREATE
--     (120 real seconds: AWS's delays are not scaled by WPO_WAIT_SCALE)
local cjson = require "cjson"
local fakeaws = require "fakeaws"
local h = require "helpers"

local M = {}

local Env = {}
Env.__index = Env

local WPO = h.WPO:find("/", 1, true) and require("wpo.stack").absolute(h.WPO) or h.WPO

function M.start(opts)
  local env = setmetatable({ f = fakeaws.start(opts), dir = h.tmpdir(), clients = {} }, Env)
  return env
end

function Env:reset()
  self.f:reset()
  h.rmrf(self.dir)
  self.dir = h.tmpdir()
  self.clients = {}
end

function Env:stop()
  if self.f then self.f:stop() end
  if self.dir then h.rmrf(self.dir) end
  self.f, self.dir = nil, nil
end

function Env:client(service)
  if not self.clients[service] then
    self.clients[service] = require("wpo.aws").client(service, { region = self.f.region, endpoint = self.f.url,
      credentials = { access_key = "test", secret_key = "test" } })
  end
  return self.clients[service]
end

-- A VPC with a subnet in each of three zones, two security groups, and a
-- group in another VPC.
function Env:network()
  local ec2 = self:client("ec2")
  local region = self.f.region
  local vpc = ec2:call("CreateVpc", { CidrBlock = "10.20.0.0/16" }).Vpc.VpcId
  local other = ec2:call("CreateVpc", { CidrBlock = "10.30.0.0/16" }).Vpc.VpcId
  local subnets = {}
  for i, z in ipairs({ "a", "b", "c" }) do
    subnets[i] = ec2:call("CreateSubnet", { VpcId = vpc, CidrBlock = "10.20." .. i .. ".0/24",
      AvailabilityZone = region .. z }).Subnet.SubnetId
  end
  local sg = ec2:call("CreateSecurityGroup", { VpcId = vpc, GroupName = "data", Description = "data" }).GroupId
  local sg2 = ec2:call("CreateSecurityGroup", { VpcId = vpc, GroupName = "data2", Description = "data2" }).GroupId
  local foreign = ec2:call("CreateSecurityGroup", { VpcId = other, GroupName = "x", Description = "x" }).GroupId
  return { vpc = vpc, subnets = subnets, sg = sg, sg2 = sg2, other_vpc_sg = foreign,
    azs = { region .. "a", region .. "b", region .. "c" } }
end

function Env:secret(name, value)
  return self:client("secretsmanager"):call("CreateSecret", { Name = name, SecretString = value }).ARN
end

function Env:write(name, text)
  h.write(self.dir .. "/" .. name, text)
end

-- env:wpo(args, extra_env) -> { status, stdout, stderr }, run in env.dir
function Env:wpo(args, extra)
  local parts = { "cd " .. h.quote(self.dir) .. " && env" }
  local vars = { WPO_WAIT_SCALE = "0.001" }
  for k, v in pairs(self.f.env) do vars[k] = v end
  for k, v in pairs(extra or {}) do vars[k] = v end
  for k, v in pairs(vars) do parts[#parts + 1] = h.quote(k .. "=" .. v) end
  parts[#parts + 1] = h.quote(WPO)
  for _, a in ipairs(args) do parts[#parts + 1] = h.quote(a) end
  return h.sh(table.concat(parts, " "))
end

function Env:state_text(stack)
  return h.slurp(self.dir .. "/.wpo/" .. (stack or "t") .. ".state.json")
end

function Env:state(stack)
  local text = self:state_text(stack)
  return text ~= "" and cjson.decode(text) or nil
end

function Env:made_long_ago(stack)
  local doc = self:state(stack)
  assert(doc, "datatest: made_long_ago: no state yet")
  for _, rec in ipairs(doc.resources or {}) do
    if tonumber(rec.created) then rec.created = rec.created - 3600 end
  end
  h.write(self.dir .. "/.wpo/" .. (stack or "t") .. ".state.json", cjson.encode(doc))
end

function Env:resources(stack)
  local out = {}
  for _, r in ipairs((self:state(stack) or {}).resources or {}) do out[r.address] = r end
  return out
end

-- env:objects("rds", "db-cluster") -> { id = object } held by fakeaws ({} when none)
function Env:objects(service, kind)
  local st = self.f:state()
  return (st[service] or {})[kind] or {}
end

-- how many successful calls of "service.Operation" fakeaws has seen
function Env:ok_calls(name)
  local d = self.f:calls(true)[name]
  return d and d.ok or 0
end

-- "a", "b" -> Lua source for a list of strings
function M.lua_list(list)
  local parts = {}
  for i, v in ipairs(list) do parts[i] = string.format("%q", v) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

return M
